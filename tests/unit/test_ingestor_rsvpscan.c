/* test_ingestor_rsvpscan.c: the rsvp_id/mtime scanner. Table-driven: each case is a line and what
 * the scanner must say; real recorded lines must all scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "services/ingestor/rsvpscan.h"

typedef struct scan_case {
    const char *line;
    int ok;
    int64_t id, mtime;
} scan_case;

static const scan_case CASES[] = {
    {"{\"rsvp_id\":1658877353,\"mtime\":1489925471668}", 1, 1658877353, 1489925471668},
    {"  { \"mtime\" : 5 , \"rsvp_id\" : 7 }  ", 1, 7, 5},
    {"{\"rsvp_id\":\"123\",\"mtime\":\"456\"}", 1, 123, 456}, /* numeric strings */
    {"{\"venue\":{\"rsvp_id\":1,\"mtime\":2},\"rsvp_id\":3,\"mtime\":4}", 1, 3, 4}, /* nested keys ignored */
    {"{\"s\":\"\\\"rsvp_id\\\":9\",\"rsvp_id\":3,\"mtime\":4}", 1, 3, 4}, /* key text inside a string */
    {"{\"rsvp_id\":3,\"mtime\":4,\"rsvp_id\":5}", 1, 3, 4}, /* first occurrence wins */
    {"{\"a\":[1,2.5e3,-0.1,true,false,null,{\"b\":[]}],\"rsvp_id\":0,\"mtime\":0}", 1, 0, 0},
    {"{\"n\":\"caf\xc3\xa9 \\u00e9 \xf0\x9f\x98\x80\",\"rsvp_id\":1,\"mtime\":2}", 1, 1, 2}, /* UTF-8 */
    {"{\"rsvp_id\":9223372036854775807,\"mtime\":1}", 1, INT64_MAX, 1},
    /* invalid: missing keys, garbage, truncation, bad UTF-8, bad numbers */
    {"{\"rsvp_id\":1}", 0, 0, 0},
    {"{\"mtime\":1}", 0, 0, 0},
    {"{}", 0, 0, 0},
    {"this is not json", 0, 0, 0},
    {"[{\"rsvp_id\":1,\"mtime\":2}]", 0, 0, 0},
    {"{\"rsvp_id\":1,\"mtime\":2", 0, 0, 0},                   /* truncated */
    {"{\"rsvp_id\":1,\"mtime\":2,\"event\":{\"a\":", 0, 0, 0}, /* truncated after the keys */
    {"{\"rsvp_id\":1,\"mtime\":2} x", 0, 0, 0},                /* trailing garbage */
    {"{\"rsvp_id\":1,\"mtime\":2,}", 0, 0, 0},                 /* trailing comma */
    {"{\"n\":\"\xff\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0},   /* invalid byte */
    {"{\"n\":\"\xc0\xaf\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0}, /* overlong */
    {"{\"n\":\"\xed\xa0\x80\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0}, /* surrogate */
    {"{\"n\":\"\xe2\x82\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0}, /* cut sequence */
    {"{\"n\":\"a\tb\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0},   /* raw control char */
    {"{\"n\":\"\\x\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0},    /* bad escape */
    {"{\"rsvp_id\":-1,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":1.5,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":1e3,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":01,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":\"\",\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":\"12a\",\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":null,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":9223372036854775808,\"mtime\":1}", 0, 0, 0}, /* overflow */
    {"{\"rsvp_id\":1,\"mtime\":2,\"x\":tru}", 0, 0, 0},
    {"", 0, 0, 0},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const scan_case *c = &CASES[i];
        int64_t id = -7, mt = -7;
        int rc = rsvpscan_line(c->line, strlen(c->line), &id, &mt);
        if (c->ok != (rc == 0))
            fail_msg("case %zu: %s: want %s", i, c->line, c->ok ? "ok" : "invalid");
        if (c->ok) {
            assert_int_equal(id, c->id);
            assert_int_equal(mt, c->mtime);
        } else {
            assert_int_equal(rc, ERR_INVALID);
            assert_int_equal(id, -7); /* outputs untouched */
        }
    }
}

static void test_nesting_limit(void **state)
{
    (void)state;
    char line[1024];
    size_t n = 0;
    n += (size_t)snprintf(line + n, sizeof line - n, "{\"rsvp_id\":1,\"mtime\":2,\"d\":");
    for (int i = 0; i < 100; i++)
        line[n++] = '[';
    for (int i = 0; i < 100; i++)
        line[n++] = ']';
    line[n++] = '}';
    int64_t id, mt;
    assert_int_equal(rsvpscan_line(line, n, &id, &mt), ERR_INVALID);
}

static void test_every_recorded_line_scans(void **state)
{
    (void)state;
    FILE *f = fopen("../shared/data/meetup-rsvps-recorded.ndjson", "rb");
    if (!f)
        f = fopen("/work/shared/data/meetup-rsvps-recorded.ndjson", "rb");
    if (!f)
        skip();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int count = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        int64_t id, mt;
        if (rsvpscan_line(line, (size_t)n, &id, &mt) != 0)
            fail_msg("recorded line %d does not scan", count + 1);
        assert_true(id > 0 && mt > 1000000000000LL);
        /* A cut anywhere inside the line is never valid. */
        for (ssize_t cut = 1; cut < n; cut += 97)
            assert_int_equal(rsvpscan_line(line, (size_t)cut, &id, &mt), ERR_INVALID);
        count++;
    }
    free(line);
    fclose(f);
    assert_int_equal(count, 2865);
}

static void test_format_id(void **state)
{
    (void)state;
    char out[24];
    assert_int_equal(rsvpscan_format_id(0, out), 1);
    assert_string_equal(out, "0");
    assert_int_equal(rsvpscan_format_id(1658877353, out), 10);
    assert_string_equal(out, "1658877353");
    assert_int_equal(rsvpscan_format_id(INT64_MAX, out), 19);
    assert_string_equal(out, "9223372036854775807");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_every_recorded_line_scans),
        cmocka_unit_test(test_format_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
