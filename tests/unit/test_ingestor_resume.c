/* test_ingestor_resume.c: the boundary dedup logic. Simulates a source that replays a fixed
 * timeline from since_mtime (inclusive) and an ingestor that disconnects or rolls back at every
 * possible point: what it produces must equal the timeline exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "services/ingestor/resume.h"

typedef struct msg {
    int64_t id, mtime;
} msg;

static void test_empty_state_takes_everything(void **state)
{
    (void)state;
    resume *r;
    assert_int_equal(resume_new(&r), 0);
    assert_int_equal(resume_mtime(r), -1);
    assert_int_equal(resume_check(r, 1, 0), RESUME_NEW);
    assert_int_equal(resume_boundary_count(r), 0);
    resume_free(r);
    resume_free(NULL);
}

static void test_set_semantics_after_reconnect(void **state)
{
    (void)state;
    resume *r;
    assert_int_equal(resume_new(&r), 0);
    assert_int_equal(resume_note(r, 10, 100), 0);
    assert_int_equal(resume_note(r, 11, 101), 0);
    assert_int_equal(resume_note(r, 12, 101), 0);
    assert_int_equal(resume_mtime(r), 101);
    assert_int_equal(resume_boundary_count(r), 2);
    resume_reconnect(r);
    assert_int_equal(resume_check(r, 10, 100), RESUME_OLDER);
    assert_int_equal(resume_check(r, 11, 101), RESUME_BOUNDARY);
    resume_skip(r, 11, 101);
    assert_int_equal(resume_check(r, 12, 101), RESUME_BOUNDARY);
    resume_skip(r, 12, 101);
    assert_int_equal(resume_check(r, 13, 101), RESUME_NEW); /* same ms, not produced yet */
    assert_int_equal(resume_check(r, 11, 102), RESUME_NEW); /* same id, later mtime */
    assert_int_equal(resume_note(r, 11, 102), 0);
    assert_int_equal(resume_mtime(r), 102);
    assert_int_equal(resume_boundary_count(r), 1);
    resume_free(r);
}

static void test_same_id_twice_in_one_ms_counts_twice(void **state)
{
    (void)state;
    resume *r;
    assert_int_equal(resume_new(&r), 0);
    /* first connection produced only the first of two (7, 500) lines */
    assert_int_equal(resume_check(r, 7, 500), RESUME_NEW);
    assert_int_equal(resume_note(r, 7, 500), 0);
    resume_reconnect(r);
    assert_int_equal(resume_check(r, 7, 500), RESUME_BOUNDARY); /* the replayed first */
    resume_skip(r, 7, 500);
    assert_int_equal(resume_check(r, 7, 500), RESUME_NEW); /* the second one is new */
    assert_int_equal(resume_note(r, 7, 500), 0);
    assert_int_equal(resume_boundary_count(r), 2);
    resume_reconnect(r);
    assert_int_equal(resume_check(r, 7, 500), RESUME_BOUNDARY);
    resume_skip(r, 7, 500);
    assert_int_equal(resume_check(r, 7, 500), RESUME_BOUNDARY);
    resume_skip(r, 7, 500);
    assert_int_equal(resume_check(r, 7, 500), RESUME_NEW); /* a third would be new */
    resume_free(r);
}

static void test_note_folds_unordered_tail(void **state)
{
    (void)state;
    resume *r;
    assert_int_equal(resume_new(&r), 0);
    const msg tail[] = {{1, 5}, {2, 9}, {3, 7}, {4, 9}, {5, 2}, {4, 9}};
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        assert_int_equal(resume_note(r, tail[i].id, tail[i].mtime), 0);
    assert_int_equal(resume_mtime(r), 9);
    assert_int_equal(resume_boundary_count(r), 3);
    resume_reconnect(r);
    assert_int_equal(resume_check(r, 2, 9), RESUME_BOUNDARY);
    assert_int_equal(resume_check(r, 3, 9), RESUME_NEW);
    resume_free(r);
}

static void test_copy_snapshot_and_rollback(void **state)
{
    (void)state;
    resume *cur, *committed;
    assert_int_equal(resume_new(&cur), 0);
    assert_int_equal(resume_new(&committed), 0);
    assert_int_equal(resume_note(cur, 1, 10), 0);
    assert_int_equal(resume_copy(committed, cur), 0);
    for (int64_t id = 100; id < 5000; id++) /* grows the table past the shrink size */
        assert_int_equal(resume_note(cur, id, 11), 0);
    assert_int_equal(resume_boundary_count(cur), 4900);
    assert_int_equal(resume_copy(cur, committed), 0); /* abort: roll back */
    assert_int_equal(resume_mtime(cur), 10);
    assert_int_equal(resume_boundary_count(cur), 1);
    resume_reconnect(cur);
    assert_int_equal(resume_check(cur, 1, 10), RESUME_BOUNDARY);
    assert_int_equal(resume_check(cur, 100, 11), RESUME_NEW);
    resume_clear(cur);
    assert_int_equal(resume_mtime(cur), -1);
    resume_free(cur);
    resume_free(committed);
}

/* A deterministic timeline with many lines per ms and repeated ids inside one ms. */
static size_t make_timeline(msg *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        t[i].mtime = 1000 + (int64_t)(i / 7);
        t[i].id = (int64_t)(i % 5 == 3 ? i - 2 : i); /* some ids repeat two lines later */
    }
    return n;
}

/* first_index: the source's answer to since_mtime (inclusive). */
static size_t first_index(const msg *t, size_t n, int64_t since)
{
    size_t i = 0;
    while (since >= 0 && i < n && t[i].mtime < since)
        i++;
    return i;
}

static void test_disconnect_anywhere_is_exactly_once(void **state)
{
    (void)state;
    enum { N = 120 };
    msg t[N];
    make_timeline(t, N);
    /* Every disconnect point pair (a, b): the connection breaks after a lines, then after b. */
    for (size_t a = 0; a <= N; a += 1) {
        for (size_t b = 1; b <= N; b += 13) {
            resume *r;
            assert_int_equal(resume_new(&r), 0);
            int produced[N];
            memset(produced, 0, sizeof produced);
            size_t limits[3] = {a, b, N * 2};
            size_t pos = 0; /* index into the timeline the source would send next */
            for (int conn = 0; conn < 3; conn++) {
                resume_reconnect(r);
                pos = first_index(t, N, resume_mtime(r));
                for (size_t k = 0; k < limits[conn] && pos < N; k++, pos++) {
                    int v = resume_check(r, t[pos].id, t[pos].mtime);
                    if (v == RESUME_NEW) {
                        produced[pos]++;
                        assert_int_equal(resume_note(r, t[pos].id, t[pos].mtime), 0);
                    } else if (v == RESUME_BOUNDARY) {
                        resume_skip(r, t[pos].id, t[pos].mtime);
                    }
                }
            }
            for (size_t i = 0; i < N; i++)
                if (produced[i] != 1)
                    fail_msg("a=%zu b=%zu: line %zu produced %d times", a, b, i, produced[i]);
            resume_free(r);
        }
    }
}

static void test_rollback_anywhere_is_exactly_once(void **state)
{
    (void)state;
    enum { N = 90 };
    msg t[N];
    make_timeline(t, N);
    /* Commit after c lines, then produce x more which are aborted, reconnect from committed. */
    for (size_t c = 0; c <= N; c++) {
        for (size_t x = 0; x <= 20; x += 3) {
            resume *cur, *committed;
            assert_int_equal(resume_new(&cur), 0);
            assert_int_equal(resume_new(&committed), 0);
            int kept[N];
            memset(kept, 0, sizeof kept);
            size_t pos = 0;
            for (; pos < c; pos++) {
                assert_int_equal(resume_check(cur, t[pos].id, t[pos].mtime), RESUME_NEW);
                assert_int_equal(resume_note(cur, t[pos].id, t[pos].mtime), 0);
                kept[pos]++;
            }
            assert_int_equal(resume_copy(committed, cur), 0);
            for (size_t k = 0; k < x && pos < N; k++, pos++)
                assert_int_equal(resume_note(cur, t[pos].id, t[pos].mtime), 0); /* aborted */
            assert_int_equal(resume_copy(cur, committed), 0);
            resume_reconnect(cur);
            for (pos = first_index(t, N, resume_mtime(cur)); pos < N; pos++) {
                int v = resume_check(cur, t[pos].id, t[pos].mtime);
                if (v == RESUME_NEW) {
                    kept[pos]++;
                    assert_int_equal(resume_note(cur, t[pos].id, t[pos].mtime), 0);
                } else if (v == RESUME_BOUNDARY) {
                    resume_skip(cur, t[pos].id, t[pos].mtime);
                }
            }
            for (size_t i = 0; i < N; i++)
                if (kept[i] != 1)
                    fail_msg("c=%zu x=%zu: line %zu kept %d times", c, x, i, kept[i]);
            resume_free(cur);
            resume_free(committed);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_state_takes_everything),
        cmocka_unit_test(test_set_semantics_after_reconnect),
        cmocka_unit_test(test_same_id_twice_in_one_ms_counts_twice),
        cmocka_unit_test(test_note_folds_unordered_tail),
        cmocka_unit_test(test_copy_snapshot_and_rollback),
        cmocka_unit_test(test_disconnect_anywhere_is_exactly_once),
        cmocka_unit_test(test_rollback_anywhere_is_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
