/* test_parser_fastpath.c: rsvp_json_parse (single-pass tokenizer first) against
 * rsvp_json_parse_twopass (strict: jsmn + validation pass; reference: sparkjson.h's step-by-step
 * reading) on the recorded RSVPs, every golden-case input and seeded mutations of them, in both
 * modes: the same reason, and whenever there is a message, byte-identical protobuf no longer than
 * rsvp_json_packed_bound() promises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/parser/rsvp_json.h"
#include "tests/unit/testdata.h"

#define CASES_GLOB "tests/unit/parser_cases/*.txt"
#define MUTATIONS  24 /* per input and limit set */
#define INPUT_MAX  70000

typedef struct pair {
    rsvp_json *fast, *ref;
    uint64_t compared, ok;
} pair;

/* Bytes that change how a string, number or container is read. */
static const unsigned char interesting[] = {'"',  '\\', ']',  '}',  '[',  '{',  ',',  ':',  'u',  ' ',
                                            '\n', '0',  '-',  'e',  '.',  't',  'n',  0x00, 0x01, 0x1f,
                                            0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe0, 0xed, 0xf0, 0xf4, 0xff};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* compare: parse data with both paths; fail the test with the input if they disagree. */
static void compare(pair *pp, const char *data, size_t len)
{
    static uint8_t a[INPUT_MAX + 4096], b[INPUT_MAX + 4096];
    Rsvp__V1__Rsvp *x = NULL, *y = NULL;
    rsvp_json_reason r1 = rsvp_json_parse(pp->fast, data, len, &x);
    rsvp_json_reason r2 = rsvp_json_parse_twopass(pp->ref, data, len, &y);
    pp->compared++;
    if (r1 != r2)
        fail_msg("reason %s (fast) vs %s (two-pass) for: %.*s", rsvp_json_reason_str(r1),
                 rsvp_json_reason_str(r2), (int)(len < 300 ? len : 300), data);
    if (!x != !y)
        fail_msg("a message from one path only (reason %s) for: %.*s", rsvp_json_reason_str(r1),
                 (int)(len < 300 ? len : 300), data);
    if (!x)
        return;
    pp->ok += r1 == RSVP_JSON_OK;
    /* the service sets ingest_time_ms; -1 is its longest encoding (a 10-byte varint) */
    x->has_ingest_time_ms = y->has_ingest_time_ms = 1;
    x->ingest_time_ms = y->ingest_time_ms = -1;
    size_t n1 = rsvp__v1__rsvp__get_packed_size(x), n2 = rsvp__v1__rsvp__get_packed_size(y);
    assert_true(n1 <= sizeof a && n2 <= sizeof b);
    assert_int_equal(rsvp__v1__rsvp__pack(x, a), n1);
    assert_int_equal(rsvp__v1__rsvp__pack(y, b), n2);
    if (n1 != n2 || memcmp(a, b, n1))
        fail_msg("packed output differs for: %.*s", (int)(len < 300 ? len : 300), data);
    if (n1 > rsvp_json_packed_bound(pp->fast))
        fail_msg("packed %zu bytes, over the bound %zu, for: %.*s", n1, rsvp_json_packed_bound(pp->fast),
                 (int)(len < 300 ? len : 300), data);
}

/* compare_mutations: the input itself, then MUTATIONS seeded single edits of it (replace, insert
 * or delete one byte, or truncate). */
static void compare_mutations(pair *pp, const char *in, size_t len, uint64_t *seed)
{
    static char m[INPUT_MAX + 2];
    if (len > INPUT_MAX)
        return;
    compare(pp, in, len);
    for (int k = 0; k < MUTATIONS && len > 0; k++) {
        uint64_t r = rng_next(seed);
        size_t at = (size_t)(r >> 8) % len, n = len;
        unsigned char c = interesting[(r >> 40) % sizeof interesting];
        memcpy(m, in, len);
        switch (r & 3) {
        case 0: m[at] = (char)c; break;
        case 1:
            memmove(m + at + 1, m + at, len - at);
            m[at] = (char)c;
            n = len + 1;
            break;
        case 2:
            memmove(m + at, m + at + 1, len - at - 1);
            n = len - 1;
            break;
        default: n = at; break;
        }
        compare(pp, m, n);
    }
}

/* for_each_input: every recorded line and every golden-case input line. */
static void for_each_input(pair *pp, uint64_t *seed)
{
    static char line[INPUT_MAX + 2];
    char path[1024];
    FILE *f = fopen(testdata_path(path, sizeof path, TESTDATA_RECORDED), "rb");
    if (!f)
        fail_msg("cannot open %s (set RSVP_DATA_DIR)", path);
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\n");
        compare_mutations(pp, line, n, seed);
    }
    fclose(f);
    glob_t g;
    assert_int_equal(glob(CASES_GLOB, 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        f = fopen(g.gl_pathv[i], "rb");
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
            size_t n = strcspn(line, "\n");
            if (n > 0 && line[0] != '#' && line[0] != '%')
                compare_mutations(pp, line, n, seed);
        }
        fclose(f);
    }
    globfree(&g);
}

static void run_with(const rsvp_json_limits *lim, uint64_t seed)
{
    pair pp = {0};
    assert_int_equal(rsvp_json_new(&pp.fast, lim), 0);
    assert_int_equal(rsvp_json_new(&pp.ref, lim), 0);
    for_each_input(&pp, &seed);
    print_message("compared %llu inputs, %llu valid\n", (unsigned long long)pp.compared,
                  (unsigned long long)pp.ok);
    assert_true(pp.ok > 2000); /* the recorded RSVPs themselves at least */
    rsvp_json_free(pp.fast);
    rsvp_json_free(pp.ref);
}

static rsvp_json_limits limits_in(rsvp_json_mode mode)
{
    rsvp_json_limits lim = rsvp_json_limits_default();
    lim.mode = mode;
    return lim;
}

static void test_same_result_default_limits(void **state)
{
    (void)state;
    rsvp_json_limits strict = limits_in(RSVP_JSON_STRICT), reference = limits_in(RSVP_JSON_REFERENCE);
    run_with(&strict, 0x9e3779b97f4a7c15ull);
    run_with(&reference, 0x9e3779b97f4a7c15ull);
}

/* Small limits: the token, string and depth limits are hit by real messages, so both paths must
 * give up at the same place. */
static void small_limits(rsvp_json_mode mode)
{
    rsvp_json_limits lim = limits_in(mode);
    lim.max_tokens = 120;
    lim.max_string_bytes = 24;
    lim.max_message_bytes = 1400;
    pair pp = {0};
    assert_int_equal(rsvp_json_new(&pp.fast, &lim), 0);
    assert_int_equal(rsvp_json_new(&pp.ref, &lim), 0);
    uint64_t seed = 0x2545f4914f6cdd1dull;
    for_each_input(&pp, &seed);
    print_message("compared %llu inputs, %llu valid\n", (unsigned long long)pp.compared,
                  (unsigned long long)pp.ok);
    assert_true(pp.ok > 0 && pp.ok < pp.compared);
    rsvp_json_free(pp.fast);
    rsvp_json_free(pp.ref);
}

static void test_same_result_small_limits(void **state)
{
    (void)state;
    small_limits(RSVP_JSON_STRICT);
    small_limits(RSVP_JSON_REFERENCE);
}

/* A valid message right at max_tokens and one token over, at every nesting level. */
static void test_token_limit_edge(void **state)
{
    (void)state;
    const char *msg = "{\"rsvp_id\":1,\"mtime\":2,\"response\":\"yes\",\"event\":{\"event_id\":"
                      "\"e\"},\"x\":[[1,2],{\"a\":[3]}]}";
    for (unsigned max = 10; max <= 49; max++) {
        rsvp_json_limits lim = limits_in(max < 30 ? RSVP_JSON_STRICT : RSVP_JSON_REFERENCE);
        lim.max_tokens = max < 30 ? max : max - 20;
        pair pp = {0};
        assert_int_equal(rsvp_json_new(&pp.fast, &lim), 0);
        assert_int_equal(rsvp_json_new(&pp.ref, &lim), 0);
        compare(&pp, msg, strlen(msg));
        rsvp_json_free(pp.fast);
        rsvp_json_free(pp.ref);
    }
}

/* A Kafka message without payload reaches the parser as (NULL, 0). */
static void test_null_payload(void **state)
{
    (void)state;
    for (int mode = RSVP_JSON_REFERENCE; mode <= RSVP_JSON_STRICT; mode++) {
        rsvp_json_limits lim = limits_in((rsvp_json_mode)mode);
        pair pp = {0};
        assert_int_equal(rsvp_json_new(&pp.fast, &lim), 0);
        assert_int_equal(rsvp_json_new(&pp.ref, &lim), 0);
        Rsvp__V1__Rsvp *x = NULL;
        assert_int_equal(rsvp_json_parse(pp.fast, NULL, 0, &x), RSVP_JSON_NOT_JSON);
        /* the reference counts an empty message under a key of NULLs */
        assert_true(mode == RSVP_JSON_STRICT ? x == NULL : x != NULL && x->key != NULL);
        compare(&pp, "", 0);
        rsvp_json_free(pp.fast);
        rsvp_json_free(pp.ref);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_result_default_limits),
        cmocka_unit_test(test_same_result_small_limits),
        cmocka_unit_test(test_token_limit_edge),
        cmocka_unit_test(test_null_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
