/* test_replay_timeline.c: unit tests of tools/replay/timeline.c: the mtime(i) formulas, pacing
 * (due time, live index), the since_mtime search on every source, the stable sort of a file played
 * once, a file played in its own order (unsorted, lines without an mtime), and --loop's rewritten
 * laps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "tools/replay/timeline.h"

/* A temporary NDJSON file with the given text; the caller unlinks and frees the path. */
static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/test_replay_timeline_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static timeline *make(timeline_kind kind, const char *path, double rate, int64_t per_ms, int64_t start,
                      int64_t count)
{
    timeline_cfg cfg = {.kind = kind,
                        .path = path,
                        .seed = 1,
                        .rate = rate,
                        .per_ms = per_ms,
                        .start_ms = start,
                        .count = count};
    timeline *t = NULL;
    char err[256];
    assert_int_equal(timeline_new(&t, &cfg, err, sizeof err), 0);
    return t;
}

static void test_formula_unpaced_shares_milliseconds(void **state)
{
    (void)state;
    for (int64_t i = 0; i < 10; i++)
        assert_int_equal(timeline_formula_mtime(1000, 0, 10, i), 1000);
    assert_int_equal(timeline_formula_mtime(1000, 0, 10, 10), 1001);
    assert_int_equal(timeline_formula_mtime(1000, 0, 10, 12345), 2234);
    assert_int_equal(timeline_formula_mtime(1000, 0, 1, 7), 1007);
}

static void test_formula_paced(void **state)
{
    (void)state;
    assert_int_equal(timeline_formula_mtime(0, 1000, 10, 7), 7);
    assert_int_equal(timeline_formula_mtime(0, 3, 10, 1), 333);
    assert_int_equal(timeline_formula_mtime(0, 3, 10, 2), 666);
    assert_int_equal(timeline_formula_mtime(0, 3, 10, 3), 1000);
    assert_int_equal(timeline_formula_mtime(5, 2.5, 10, 1), 405);
    assert_int_equal(timeline_formula_mtime(0, 4000, 10, 3), 0); /* 0.75 ms floors to 0 */
}

static void test_due_and_live_index(void **state)
{
    (void)state;
    assert_int_equal(timeline_due_ns(1000, 5), 5000000);
    assert_int_equal(timeline_due_ns(3, 1), 333333333);
    assert_int_equal(timeline_live_index(1000, 0), 0);
    assert_int_equal(timeline_live_index(1000, 5000000), 5);
    assert_int_equal(timeline_live_index(1000, 5000001), 6);
    assert_int_equal(timeline_live_index(3, 1000000000), 3);
    assert_int_equal(timeline_live_index(0.5, 2500000000LL), 2);
}

static void test_find_unbounded_synthetic(void **state)
{
    (void)state;
    timeline *t = make(TIMELINE_SYNTHETIC, NULL, 0, 10, 1000, -1);
    assert_true(timeline_count(t) == TIMELINE_UNBOUNDED);
    assert_int_equal(timeline_find(t, 0), 0);
    assert_int_equal(timeline_find(t, 1000), 0);
    assert_int_equal(timeline_find(t, 1001), 10);
    assert_int_equal(timeline_find(t, 1000 + 123456), 1234560);
    /* the boundary: every message before the answer is older, the answer is not */
    int64_t i = timeline_find(t, 5000000);
    assert_true(timeline_mtime(t, i) >= 5000000 && timeline_mtime(t, i - 1) < 5000000);
    timeline_free(t);
}

static void test_find_paced_and_bounded(void **state)
{
    (void)state;
    timeline *t = make(TIMELINE_SYNTHETIC, NULL, 3, 10, 0, 100);
    assert_int_equal(timeline_count(t), 100);
    assert_int_equal(timeline_find(t, 334), 2); /* mtime(1) = 333, mtime(2) = 666 */
    assert_int_equal(timeline_find(t, 666), 2);
    assert_int_equal(timeline_find(t, 1000000), 100); /* past the end: nothing to send */
    timeline_free(t);
}

static void test_file_once_stable_sort_and_bytes(void **state)
{
    (void)state;
    char *path = write_tmp("{\"id\":\"a\",\"mtime\":30}\n"
                           "{\"id\":\"b\", \"mtime\" : 10}\n"
                           "\n"
                           "{\"id\":\"c\",\"mtime\":20,\"x\":{\"mtime\":1}}\n"
                           "{\"id\":\"d\",\"mtime\":10}\n"
                           "{\"id\":\"e\",\"mtime\":20}"); /* no final newline */
    timeline *t = make(TIMELINE_FILE_ONCE, path, 0, 10, 0, -1);
    assert_int_equal(timeline_count(t), 5);
    buf b = {0};
    for (int64_t i = 0; i < 5; i++)
        assert_int_equal(timeline_render(t, i, &b), 0);
    assert_string_equal(b.data, "{\"id\":\"b\", \"mtime\" : 10}\n"
                                "{\"id\":\"d\",\"mtime\":10}\n"
                                "{\"id\":\"c\",\"mtime\":20,\"x\":{\"mtime\":1}}\n"
                                "{\"id\":\"e\",\"mtime\":20}\n"
                                "{\"id\":\"a\",\"mtime\":30}\n");
    assert_int_equal(timeline_find(t, 10), 0);
    assert_int_equal(timeline_find(t, 11), 2);
    assert_int_equal(timeline_find(t, 20), 2);
    assert_int_equal(timeline_find(t, 30), 4);
    assert_int_equal(timeline_find(t, 31), 5);
    assert_int_equal(timeline_render(t, 5, &b), ERR_RANGE);
    timeline_free(t);
    t = make(TIMELINE_FILE_ONCE, path, 0, 10, 0, 2); /* --count shortens it */
    assert_int_equal(timeline_count(t), 2);
    timeline_free(t);
    buf_free(&b);
    unlink(path);
    free(path);
}

static void test_file_loop_rewrites_laps(void **state)
{
    (void)state;
    char *path = write_tmp("{\"rsvp_id\":7,\"mtime\":99,\"n\":0}\n"
                           "{\"n\":1,\"mtime\":98,\"rsvp_id\": 8}\n");
    timeline *t = make(TIMELINE_FILE_LOOP, path, 0, 1, 5000, -1);
    buf b = {0};
    assert_int_equal(timeline_render(t, 0, &b), 0);
    assert_int_equal(timeline_render(t, 3, &b), 0);
    assert_string_equal(b.data, "{\"rsvp_id\":7,\"mtime\":5000,\"n\":0}\n"
                                "{\"n\":1,\"mtime\":5003,\"rsvp_id\": 10000000008}\n");
    assert_int_equal(timeline_find(t, 5003), 3);
    timeline_free(t);
    buf_free(&b);
    unlink(path);
    free(path);
}

/* --file-order: the file's order kept; since_mtime sends every line with mtime >= since in that
 * order; a line without an integer mtime counts with its predecessor's. */
static void test_file_order_unsorted_since(void **state)
{
    (void)state;
    char *path = write_tmp("not json at all\n"
                           "{\"id\":\"a\",\"mtime\":20}\n"
                           "{\"id\":\"b\",\"mtime\":10}\n"
                           "{\"id\":\"c\",\"mtime\":1.5e1}\n"
                           "{\"id\":\"d\",\"mtime\":30}\n"
                           "{\"id\":\"e\",\"mtime\":4102444800000}\n"
                           "{\"id\":\"f\",\"mtime\":25}\n");
    timeline_cfg cfg = {.kind = TIMELINE_FILE_ONCE, .path = path, .per_ms = 10, .count = -1, .file_order = 1};
    timeline *t = NULL;
    char err[256];
    assert_int_equal(timeline_new(&t, &cfg, err, sizeof err), 0);
    assert_int_equal(timeline_count(t), 7);
    assert_false(timeline_sorted(t));
    const int64_t want[] = {20, 20, 10, 10, 30, 4102444800000, 25};
    for (int64_t i = 0; i < 7; i++)
        assert_int_equal(timeline_mtime(t, i), want[i]);
    assert_int_equal(timeline_find(t, 21), 4);
    assert_int_equal(timeline_next(t, 5, 21), 5);
    assert_int_equal(timeline_next(t, 6, 26), 7);
    assert_int_equal(timeline_next(t, 2, 15), 4);
    buf b = {0};
    assert_int_equal(timeline_render(t, 0, &b), 0);
    assert_int_equal(timeline_render(t, 3, &b), 0);
    assert_string_equal(b.data, "not json at all\n{\"id\":\"c\",\"mtime\":1.5e1}\n");
    timeline_free(t);
    buf_free(&b);
    cfg.kind = TIMELINE_FILE_LOOP; /* file order is for a file played once */
    assert_int_equal(timeline_new(&t, &cfg, err, sizeof err), ERR_INVALID);
    unlink(path);
    free(path);
    /* a file already in mtime order stays a sorted timeline */
    path = write_tmp("{\"mtime\":1}\n{\"mtime\":1}\n{\"mtime\":3}\n");
    cfg.kind = TIMELINE_FILE_ONCE;
    cfg.path = path;
    assert_int_equal(timeline_new(&t, &cfg, err, sizeof err), 0);
    assert_true(timeline_sorted(t));
    assert_int_equal(timeline_find(t, 2), 2);
    timeline_free(t);
    unlink(path);
    free(path);
}

static void test_file_errors(void **state)
{
    (void)state;
    char *path = write_tmp("{\"rsvp_id\":7,\"mtime\":1}\n{\"rsvp_id\":8}\n");
    timeline_cfg cfg = {.kind = TIMELINE_FILE_ONCE, .path = path, .per_ms = 10, .count = -1};
    timeline *t = NULL;
    char err[256];
    assert_int_equal(timeline_new(&t, &cfg, err, sizeof err), ERR_INVALID);
    assert_non_null(strstr(err, ":2:"));
    assert_null(t);
    cfg.path = "/nonexistent/rsvps.ndjson";
    assert_int_equal(timeline_new(&t, &cfg, err, sizeof err), ERR_IO);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formula_unpaced_shares_milliseconds),
        cmocka_unit_test(test_formula_paced),
        cmocka_unit_test(test_due_and_live_index),
        cmocka_unit_test(test_find_unbounded_synthetic),
        cmocka_unit_test(test_find_paced_and_bounded),
        cmocka_unit_test(test_file_once_stable_sort_and_bytes),
        cmocka_unit_test(test_file_loop_rewrites_laps),
        cmocka_unit_test(test_file_order_unsorted_since),
        cmocka_unit_test(test_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
