/* test_parser_json.c: rsvp_json_parse against the golden cases in tests/unit/parser_cases/NN_*.txt
 * (adding a case is adding lines, see the README at the top of each file), plus the properties a
 * table cannot show: parser reuse, limits at their edge, and no state leaking between messages.
 * Case file format (jq.test style), cases separated by blank lines:
 *   # comment
 *   %mode strict|reference    (for the rest of the file; reference by default, as the service)
 *   %limits max_message_bytes=N max_string_bytes=N max_tokens=N   (for the rest of the file)
 *   <input line>              taken literally; or  %raw <text>  with \xHH \n \t \r \\ escapes
 *   <expected line>           strict: canonical dump (tests/unit/rsvp_dump.h) of the Rsvp, or a reason;
 *                             reference: "<reason> <key>" (reason "ok" when counted normally), the key
 *                             as rsvp_dump_key writes it, or "<reason>" alone for a dead letter only.
 *                             tests/differential/ writes such lines from the reference job itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "services/parser/rsvp_json.h"
#include "tests/unit/rsvp_dump.h"

#define CASES_GLOB "tests/unit/parser_cases/*.txt"

/* unescape_raw: the text of a %raw line into out (bytes, may hold NUL). */
static void unescape_raw(const char *s, buf *out)
{
    buf_reset(out);
    for (; *s; s++) {
        if (*s != '\\' || !s[1]) {
            buf_putc(out, *s);
            continue;
        }
        s++;
        if (*s == 'x' && json_hex((unsigned char)s[1]) >= 0 && json_hex((unsigned char)s[2]) >= 0) {
            buf_putc(out, (char)(json_hex((unsigned char)s[1]) * 16 + json_hex((unsigned char)s[2])));
            s += 2;
        } else if (*s == 'n') {
            buf_putc(out, '\n');
        } else if (*s == 't') {
            buf_putc(out, '\t');
        } else if (*s == 'r') {
            buf_putc(out, '\r');
        } else {
            buf_putc(out, *s);
        }
    }
}

static void parse_limits(const char *s, rsvp_json_limits *l)
{
    rsvp_json_mode mode = l->mode;
    *l = rsvp_json_limits_default();
    l->mode = mode;
    char name[64];
    unsigned long long v;
    int n;
    while (sscanf(s, " %63[a-z_]=%llu%n", name, &v, &n) == 2) {
        if (!strcmp(name, "max_message_bytes"))
            l->max_message_bytes = (size_t)v;
        else if (!strcmp(name, "max_string_bytes"))
            l->max_string_bytes = (size_t)v;
        else if (!strcmp(name, "max_tokens"))
            l->max_tokens = (unsigned)v;
        else
            fail_msg("unknown limit %s", name);
        s += n;
    }
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* run_file: every case of one file; returns the number of failures (each printed). */
static int run_file(const char *path, int *ncases)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    rsvp_json_limits lim = rsvp_json_limits_default();
    rsvp_json *p = NULL;
    assert_int_equal(rsvp_json_new(&p, &lim), 0);
    buf input = {0}, got = {0};
    char *line = NULL, *expected = NULL;
    size_t cap = 0, ecap = 0;
    int failures = 0, lineno = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        chomp(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (!strncmp(line, "%limits", 7) || !strncmp(line, "%mode", 5)) {
            if (line[1] == 'l')
                parse_limits(line + 7, &lim);
            else if (rsvp_json_mode_parse(line + 6, &lim.mode) != 0)
                fail_msg("%s:%d: bad %%mode", path, lineno);
            rsvp_json_free(p);
            assert_int_equal(rsvp_json_new(&p, &lim), 0);
            continue;
        }
        int case_line = lineno;
        if (!strncmp(line, "%raw", 4))
            unescape_raw(line[4] == ' ' ? line + 5 : line + 4, &input);
        else {
            buf_reset(&input);
            buf_append(&input, line, strlen(line));
        }
        if (getline(&expected, &ecap, f) < 0)
            fail_msg("%s:%d: input without an expected line", path, case_line);
        lineno++;
        chomp(expected);

        Rsvp__V1__Rsvp *x = NULL;
        rsvp_json_reason r = rsvp_json_parse(p, input.data ? input.data : "", input.len, &x);
        buf_reset(&got);
        if (lim.mode == RSVP_JSON_REFERENCE) {
            buf_puts(&got, rsvp_json_reason_str(r));
            if (x) {
                buf_putc(&got, ' ');
                assert_int_equal(rsvp_dump_key(&got, x), 0);
            }
        } else if (r == RSVP_JSON_OK) {
            assert_int_equal(rsvp_dump(&got, x), 0);
        } else {
            buf_puts(&got, rsvp_json_reason_str(r));
        }
        (*ncases)++;
        if (strcmp(got.data, expected) != 0) {
            failures++;
            fprintf(stderr, "%s:%d: FAIL\n  input:    %s\n  expected: %s\n  got:      %s\n", path, case_line,
                    line, expected, got.data);
        }
    }
    free(line);
    free(expected);
    buf_free(&input);
    buf_free(&got);
    rsvp_json_free(p);
    fclose(f);
    return failures;
}

static void test_golden_cases(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob(CASES_GLOB, 0, NULL, &g), 0);
    int failures = 0, ncases = 0;
    for (size_t i = 0; i < g.gl_pathc; i++)
        failures += run_file(g.gl_pathv[i], &ncases);
    fprintf(stderr, "golden cases: %d files, %d cases, %d failures\n", (int)g.gl_pathc, ncases, failures);
    globfree(&g);
    assert_true(ncases > 50);
    assert_int_equal(failures, 0);
}

/* new_parser: a parser in the given mode with default limits */
static rsvp_json *new_parser(rsvp_json_mode mode)
{
    rsvp_json_limits lim = rsvp_json_limits_default();
    lim.mode = mode;
    rsvp_json *p = NULL;
    assert_int_equal(rsvp_json_new(&p, &lim), 0);
    return p;
}

static const char GOOD[] =
    "{\"rsvp_id\":1,\"mtime\":2,\"response\":\"yes\",\"event\":{\"event_id\":\"e\"},"
    "\"venue\":{\"lat\":1.5,\"lon\":2.5},\"group\":{\"group_topics\":[{\"urlkey\":\"a\"}]},"
    "\"member\":{\"other_services\":{\"twitter\":{\"identifier\":\"@x\"}}}}";
static const char BARE[] = "{\"rsvp_id\":3,\"mtime\":4,\"response\":\"no\",\"event\":{\"event_id\":\"f\"}}";

/* A message must not inherit anything from the one before it on the same parser. */
static void test_no_state_leaks_between_messages(void **state)
{
    (void)state;
    rsvp_json *p = new_parser(RSVP_JSON_STRICT);
    Rsvp__V1__Rsvp *x = NULL;
    assert_int_equal(rsvp_json_parse(p, GOOD, strlen(GOOD), &x), RSVP_JSON_OK);
    assert_non_null(x->venue);
    assert_int_equal(x->group->n_group_topics, 1);
    assert_int_equal(x->member->n_other_services, 1);
    assert_int_equal(rsvp_json_parse(p, "{", 1, &x), RSVP_JSON_NOT_JSON);
    assert_int_equal(rsvp_json_parse(p, BARE, strlen(BARE), &x), RSVP_JSON_OK);
    assert_null(x->venue);
    assert_null(x->group);
    assert_null(x->member);
    assert_false(x->has_guests);
    assert_int_equal(x->rsvp_id, 3);
    assert_string_equal(x->event->event_id, "f");
    assert_int_equal(x->response, RSVP__V1__RESPONSE__RESPONSE_NO);
    rsvp_json_free(p);
}

/* The input need not be NUL-terminated: the parser never reads past len. */
static void test_reads_only_len_bytes(void **state)
{
    (void)state;
    rsvp_json *p = new_parser(RSVP_JSON_STRICT);
    size_t n = strlen(BARE);
    char *exact = malloc(n); /* ASan catches a read past the end */
    memcpy(exact, BARE, n);
    Rsvp__V1__Rsvp *x = NULL;
    assert_int_equal(rsvp_json_parse(p, exact, n, &x), RSVP_JSON_OK);
    assert_int_equal(rsvp_json_parse(p, exact, n - 1, &x), RSVP_JSON_NOT_JSON);
    free(exact);
    rsvp_json_free(p);
}

/* Message size limit at its edge, on a message padded with whitespace. */
static void test_message_limit_edge(void **state)
{
    (void)state;
    rsvp_json_limits lim = rsvp_json_limits_default();
    lim.mode = RSVP_JSON_STRICT;
    lim.max_message_bytes = 200;
    rsvp_json *p = NULL;
    assert_int_equal(rsvp_json_new(&p, &lim), 0);
    char msg[201];
    memset(msg, ' ', sizeof msg);
    memcpy(msg, BARE, strlen(BARE));
    Rsvp__V1__Rsvp *x = NULL;
    assert_int_equal(rsvp_json_parse(p, msg, 200, &x), RSVP_JSON_OK);
    assert_int_equal(rsvp_json_parse(p, msg, 201, &x), RSVP_JSON_TOO_LARGE);
    rsvp_json_free(p);
}

/* Every byte of a maximal message may be a decoded string: the arena must hold them all. */
static void test_arena_holds_a_message_of_strings(void **state)
{
    (void)state;
    rsvp_json_limits lim = rsvp_json_limits_default();
    lim.mode = RSVP_JSON_STRICT;
    lim.max_message_bytes = 4096;
    lim.max_string_bytes = 4096;
    rsvp_json *p = NULL;
    assert_int_equal(rsvp_json_new(&p, &lim), 0);
    buf b = {0};
    buf_puts(&b, "{\"rsvp_id\":\"1\",\"mtime\":\"2\",\"response\":\"yes\","
                 "\"event\":{\"event_id\":\"e\",\"event_name\":\"");
    while (b.len < 4096 - 64)
        buf_puts(&b, "\\u00e9x");
    buf_puts(&b, "\"},\"group\":{\"group_topics\":[{\"urlkey\":1,\"topic_name\":2}]}}");
    assert_true(b.len <= 4096);
    Rsvp__V1__Rsvp *x = NULL;
    assert_int_equal(rsvp_json_parse(p, b.data, b.len, &x), RSVP_JSON_OK);
    assert_string_equal(x->group->group_topics[0]->topic_name, "2");
    buf_free(&b);
    rsvp_json_free(p);
}

static void test_bad_limits_rejected(void **state)
{
    (void)state;
    rsvp_json *p = NULL;
    rsvp_json_limits lim = rsvp_json_limits_default();
    lim.max_tokens = 0;
    assert_int_equal(rsvp_json_new(&p, &lim), -2 /* ERR_INVALID */);
    rsvp_json_free(NULL);
    assert_string_equal(rsvp_json_reason_str(RSVP_JSON_REASON_COUNT), "unknown");
    assert_string_equal(rsvp_json_reason_str(RSVP_JSON_BAD_RESPONSE), "bad_response");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases),
        cmocka_unit_test(test_no_state_leaks_between_messages),
        cmocka_unit_test(test_reads_only_len_bytes),
        cmocka_unit_test(test_message_limit_edge),
        cmocka_unit_test(test_arena_holds_a_message_of_strings),
        cmocka_unit_test(test_bad_limits_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
