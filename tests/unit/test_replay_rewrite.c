/* test_replay_rewrite.c: unit tests of tools/replay/rewrite.c, the top-level rsvp_id/mtime
 * splicer behind --loop: whitespace, nesting, look-alike keys inside strings, key order, and the
 * reading rules it shares with the ingestor (last duplicate wins, escaped keys, numeric strings). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "tools/replay/rewrite.h"

/* Rewrite line with (id, mtime) and compare with want. */
static void expect_rewrite(const char *line, int64_t id, int64_t mtime, const char *want)
{
    rewrite_spans sp;
    buf out = {0};
    assert_int_equal(rewrite_scan(line, strlen(line), &sp), 0);
    assert_true(sp.has_id && sp.has_mtime);
    assert_int_equal(rewrite_apply(&out, line, strlen(line), &sp, id, mtime), 0);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    buf_free(&out);
}

static void test_rewrite_plain_line(void **state)
{
    (void)state;
    expect_rewrite("{\"a\":1,\"rsvp_id\":1658877353,\"mtime\":1489925471668,\"z\":\"x\"}", 10001658877353, 42,
                   "{\"a\":1,\"rsvp_id\":10001658877353,\"mtime\":42,\"z\":\"x\"}");
}

static void test_rewrite_tolerates_whitespace(void **state)
{
    (void)state;
    expect_rewrite("{ \"rsvp_id\" :  123 , \"mtime\":\t7 }", 9, 1700000000000,
                   "{ \"rsvp_id\" :  9 , \"mtime\":\t1700000000000 }");
}

static void test_rewrite_sorted_keys_order(void **state)
{
    (void)state; /* re-serialised lines carry mtime before rsvp_id */
    expect_rewrite("{\"mtime\":5,\"response\":\"yes\",\"rsvp_id\":77}", 78, 6,
                   "{\"mtime\":6,\"response\":\"yes\",\"rsvp_id\":78}");
}

static void test_rewrite_ignores_nested_and_quoted_keys(void **state)
{
    (void)state;
    const char *line = "{\"venue\":{\"mtime\":1,\"rsvp_id\":2},\"event_name\":\"\\\"mtime\\\":3 "
                       "\\\\\",\"list\":[{\"mtime\":4}],\"rsvp_id\":5,\"mtime\":6}";
    rewrite_spans sp;
    assert_int_equal(rewrite_scan(line, strlen(line), &sp), 0);
    assert_int_equal(sp.rsvp_id, 5);
    assert_int_equal(sp.mtime, 6);
    expect_rewrite(line, 50, 60,
                   "{\"venue\":{\"mtime\":1,\"rsvp_id\":2},\"event_name\":\"\\\"mtime\\\":3 "
                   "\\\\\",\"list\":[{\"mtime\":4}],\"rsvp_id\":50,\"mtime\":60}");
}

static void test_rewrite_missing_and_invalid(void **state)
{
    (void)state;
    rewrite_spans sp;
    buf out = {0};
    const char *no_id = "{\"mtime\":5}";
    assert_int_equal(rewrite_scan(no_id, strlen(no_id), &sp), 0);
    assert_true(sp.has_mtime);
    assert_false(sp.has_id);
    assert_int_equal(rewrite_apply(&out, no_id, strlen(no_id), &sp, 1, 2), ERR_INVALID);
    assert_int_equal(out.len, 0);
    assert_int_equal(rewrite_scan("[1,2]", 5, &sp), ERR_INVALID);
    assert_int_equal(rewrite_scan("{\"mtime\":5", 11, &sp), ERR_INVALID);         /* truncated */
    assert_int_equal(rewrite_scan("{\"mtime\":5} x", 14, &sp), ERR_INVALID);      /* trailing junk */
    assert_int_equal(rewrite_scan("{\"mtime\":\"\xff\"}", 13, &sp), ERR_INVALID); /* bad UTF-8 */
    /* present but not an integer: not found, never mangled */
    assert_int_equal(rewrite_scan("{\"mtime\":1.5}", 13, &sp), 0);
    assert_false(sp.has_mtime);
    assert_int_equal(rewrite_scan("{\"mtime\":99999999999999999999}", 30, &sp), 0);
    assert_false(sp.has_mtime);
    assert_int_equal(rewrite_scan("{\"mtime\":\"05\"}", 14, &sp), 0);
    assert_false(sp.has_mtime);
    buf_free(&out);
}

/* The ingestor's reading rules: the last of duplicated keys, keys compared unescaped, an integer in a
 * string (rewritten as a string). */
static void test_rewrite_reads_as_the_ingestor(void **state)
{
    (void)state;
    expect_rewrite("{\"rsvp_id\":1,\"mtime\":2,\"rsvp_id\":3}", 30, 20,
                   "{\"rsvp_id\":1,\"mtime\":20,\"rsvp_id\":30}");
    expect_rewrite("{\"rsvp\\u005fid\":1,\"mtime\":\"2\"}", 10, 20,
                   "{\"rsvp\\u005fid\":10,\"mtime\":\"20\"}");
    rewrite_spans sp;
    const char *line = "{\"rsvp_id\":\"\\u0034\",\"mtime\":7}";
    assert_int_equal(rewrite_scan(line, strlen(line), &sp), 0);
    assert_true(sp.has_id && sp.id_quoted);
    assert_int_equal(sp.rsvp_id, 4);
}

static void test_rewrite_negative_values(void **state)
{
    (void)state;
    expect_rewrite("{\"rsvp_id\":-3,\"mtime\":0}", -30, -1, "{\"rsvp_id\":-30,\"mtime\":-1}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewrite_plain_line),
        cmocka_unit_test(test_rewrite_tolerates_whitespace),
        cmocka_unit_test(test_rewrite_sorted_keys_order),
        cmocka_unit_test(test_rewrite_ignores_nested_and_quoted_keys),
        cmocka_unit_test(test_rewrite_missing_and_invalid),
        cmocka_unit_test(test_rewrite_negative_values),
        cmocka_unit_test(test_rewrite_reads_as_the_ingestor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
