/* test_parser_recorded.c: every recorded RSVP (tests/data) parses in both modes, survives protobuf
 * pack -> unpack with the same field values, equals (strict mode) Python's independent reading of the
 * same JSON, and the 12-column aggregate over all of them reproduces the reference Spark job's counts
 * exactly: from the typed fields (strict) and from Rsvp.key (reference mode). The last checks are
 * tests/unit/parser_recorded_check.py's, on files written under build/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "services/parser/rsvp_json.h"
#include "tests/unit/rsvp_dump.h"
#include "tests/unit/testdata.h"

#define RECORDED_LINES 2865

static char g_out_path[2][1024]; /* strict, reference */

static void round_trips(rsvp_json_mode mode)
{
    char path[1200];
    testdata_path(path, sizeof path, TESTDATA_RECORDED);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (set RSVP_DATA_DIR)", path);
    FILE *out = fopen(g_out_path[mode], "w");
    if (!out)
        fail_msg("cannot write %s", g_out_path[mode]);
    rsvp_json_limits lim = rsvp_json_limits_default();
    lim.mode = mode;
    rsvp_json *p = NULL;
    assert_int_equal(rsvp_json_new(&p, &lim), 0);
    buf direct = {0}, round = {0};
    unsigned char *packed = malloc(1 << 17);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int count = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        count++;
        Rsvp__V1__Rsvp *x = NULL;
        rsvp_json_reason r = rsvp_json_parse(p, line, (size_t)n, &x);
        if (r != RSVP_JSON_OK)
            fail_msg("line %d: %s", count, rsvp_json_reason_str(r));
        assert_int_equal(rsvp_json_slow_path(p), 0); /* recorded data is plain JSON: the fast path */
        buf_reset(&direct);
        buf_reset(&round);
        assert_int_equal(rsvp_dump(&direct, x), 0);
        size_t len = rsvp__v1__rsvp__get_packed_size(x);
        assert_true(len <= (1 << 17));
        assert_int_equal(rsvp__v1__rsvp__pack(x, packed), len);
        Rsvp__V1__Rsvp *u = rsvp__v1__rsvp__unpack(NULL, len, packed);
        assert_non_null(u);
        assert_int_equal(rsvp_dump(&round, u), 0);
        rsvp__v1__rsvp__free_unpacked(u, NULL);
        if (strcmp(direct.data, round.data) != 0)
            fail_msg("line %d: round trip differs\n  parsed:   %s\n  unpacked: %s", count, direct.data,
                     round.data);
        fprintf(out, "%s\n", round.data);
    }
    assert_int_equal(count, RECORDED_LINES);
    free(line);
    free(packed);
    buf_free(&direct);
    buf_free(&round);
    rsvp_json_free(p);
    fclose(f);
    assert_int_equal(fclose(out), 0);
}

static void test_every_recorded_message_round_trips(void **state)
{
    (void)state;
    round_trips(RSVP_JSON_STRICT);
    round_trips(RSVP_JSON_REFERENCE);
}

static void test_matches_python_and_reference_counts(void **state)
{
    (void)state;
    char rec[1200], ref[1200], cmd[5000];
    testdata_path(rec, sizeof rec, TESTDATA_RECORDED);
    testdata_path(ref, sizeof ref, TESTDATA_REFERENCE);
    snprintf(cmd, sizeof cmd, "python3 tests/unit/parser_recorded_check.py '%s' '%s' '%s' '%s'",
             g_out_path[RSVP_JSON_STRICT], g_out_path[RSVP_JSON_REFERENCE], rec, ref);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    (void)argc;
    /* the output goes beside the test binary, under the build directory */
    char self[1024];
    snprintf(self, sizeof self, "%s", argv[0]);
    const char *dir = dirname(self);
    snprintf(g_out_path[RSVP_JSON_STRICT], sizeof g_out_path[0], "%s/parser-recorded-strict.jsonl", dir);
    snprintf(g_out_path[RSVP_JSON_REFERENCE], sizeof g_out_path[0], "%s/parser-recorded-reference.jsonl",
             dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_recorded_message_round_trips),
        cmocka_unit_test(test_matches_python_and_reference_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
