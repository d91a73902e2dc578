/* test_ingestor_resume.c: the resume point and duplicate filter. A simulated source sends a fixed
 * timeline (lines with rsvp_id and mtime, and unreadable lines) from since_mtime on, as rsvp-replay
 * does: every line whose mtime is >= since, in timeline order, an unreadable line counting with the
 * mtime of the line before it. A simulated ingestor disconnects, commits and rolls back at every
 * possible point: what it produces must equal the timeline exactly once, for sorted and unsorted
 * timelines, with the memory bound hit or not, with lines beyond the clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/ingestor/resume.h"

#define NOW    1700000000000LL /* the simulated wall clock */
#define HOUR   3600000LL
#define NO_END ((size_t)-1)

typedef struct msg {
    int64_t id, mtime; /* mtime: as the ingestor reads it (unreadable: -1) */
    int64_t smtime;    /* as the source reads it: an unreadable line has its predecessor's */
    int unreadable;
    uint64_t hash;
} msg;

static resume_limits limits(int64_t window, size_t max_lines, size_t max_held)
{
    resume_limits l = {
        .window_ms = window, .max_future_ms = HOUR, .max_lines = max_lines, .max_held = max_held};
    return l;
}

static resume *new_state(const resume_limits *l)
{
    resume *r = NULL;
    assert_int_equal(resume_new(&r, l), 0);
    return r;
}

static uint64_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* make_timeline: n lines, per_ms sharing a millisecond, each moved back by up to `disorder` ms,
 * every `unreadable_every`-th unreadable (distinct bytes), some (id, mtime) twice in a row. */
static void make_timeline(msg *t, size_t n, int per_ms, int64_t disorder, int unreadable_every, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        msg *m = &t[i];
        memset(m, 0, sizeof(*m));
        m->mtime = NOW - 100000 + (int64_t)(i / (size_t)per_ms);
        if (disorder)
            m->mtime -= (int64_t)(rnd(&s) % (uint64_t)(disorder + 1));
        m->id = 5000 + (int64_t)i;
        if (i && !t[i - 1].unreadable && rnd(&s) % 7 == 0) { /* the same line sent twice */
            m->id = t[i - 1].id;
            m->mtime = t[i - 1].mtime;
        }
        m->smtime = m->mtime;
        if (unreadable_every && i % (size_t)unreadable_every == (size_t)unreadable_every - 1) {
            m->unreadable = 1;
            m->hash = resume_line_hash((const char *)&i, sizeof i);
            m->mtime = -1;
            m->smtime = i ? t[i - 1].smtime : 0;
        }
    }
}

/* The simulated ingestor: produced[i] counts the committed productions of line i, txn[] the
 * lines of the open transaction. */
typedef struct sim {
    const msg *t;
    size_t n;
    resume *r;
    int *produced;
    size_t *txn;
    size_t ntxn;
    uint64_t drops[4];
} sim;

static void sim_init(sim *s, const msg *t, size_t n, const resume_limits *l)
{
    memset(s, 0, sizeof(*s));
    s->t = t;
    s->n = n;
    s->r = new_state(l);
    s->produced = calloc(n, sizeof(*s->produced));
    s->txn = calloc(n, sizeof(*s->txn));
    assert_non_null(s->produced);
    assert_non_null(s->txn);
}

static void sim_free(sim *s)
{
    resume_free(s->r);
    free(s->produced);
    free(s->txn);
}

static void sim_commit(sim *s)
{
    assert_int_equal(resume_commit(s->r), 0);
    for (size_t k = 0; k < s->ntxn; k++)
        s->produced[s->txn[k]]++;
    s->ntxn = 0;
}

static void sim_abort(sim *s)
{
    assert_int_equal(resume_rollback(s->r), 0);
    s->ntxn = 0;
}

/* sim_line: the ingestor receives line i. */
static void sim_line(sim *s, size_t i)
{
    const msg *m = &s->t[i];
    int v =
        m->unreadable ? resume_classify_unreadable(s->r, m->hash) : resume_classify(s->r, m->id, m->mtime);
    if (v != RESUME_NEW) {
        s->drops[v]++;
        return;
    }
    s->txn[s->ntxn++] = i;
    int rc = m->unreadable ? resume_note_unreadable(s->r, m->hash) : resume_note(s->r, m->id, m->mtime, NOW);
    assert_true(rc >= 0);
}

/* sim_connect: one connection delivering at most `limit` lines (NO_END: all), committing after
 * every `commit_every` lines produced (0: never). Returns the lines delivered. */
static size_t sim_connect(sim *s, size_t limit, size_t commit_every)
{
    assert_int_equal(resume_reconnect(s->r), 0);
    int64_t since = resume_since(s->r);
    size_t delivered = 0;
    for (size_t i = 0; i < s->n && delivered < limit; i++) {
        if (since >= 0 && s->t[i].smtime < since)
            continue;
        delivered++;
        sim_line(s, i);
        if (commit_every && s->ntxn >= commit_every)
            sim_commit(s);
    }
    return delivered;
}

static void assert_exactly_once(const sim *s, const char *what)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->produced[i] != 1)
            fail_msg("%s: line %zu (id %lld mtime %lld%s) produced %d times", what, i, (long long)s->t[i].id,
                     (long long)s->t[i].mtime, s->t[i].unreadable ? ", unreadable" : "", s->produced[i]);
}

static void test_empty_state_takes_everything(void **state)
{
    (void)state;
    resume_limits l = limits(0, 100, 10);
    resume *r = new_state(&l);
    assert_int_equal(resume_mtime(r), -1);
    assert_int_equal(resume_since(r), -1);
    assert_int_equal(resume_classify(r, 1, 0), RESUME_NEW);
    assert_int_equal(resume_classify_unreadable(r, 42), RESUME_NEW);
    resume_free(r);
    resume_free(NULL);
    resume *bad = NULL;
    l.max_lines = 0;
    assert_int_equal(resume_new(&bad, &l), -2 /* ERR_INVALID */);
    assert_null(bad);
}

/* L is the second-highest mtime: one line alone never moves it. */
static void test_resume_point_needs_two_lines(void **state)
{
    (void)state;
    resume_limits l = limits(0, 100, 10);
    resume *r = new_state(&l);
    assert_int_equal(resume_note(r, 10, 100, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_mtime(r), -1);
    assert_int_equal(resume_note(r, 11, 101, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_mtime(r), 100);
    assert_int_equal(resume_note(r, 12, 101, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_mtime(r), 101);
    assert_int_equal(resume_since(r), 101);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify(r, 10, 100), RESUME_OLDER);
    assert_int_equal(resume_classify(r, 11, 101), RESUME_DUPLICATE);
    assert_int_equal(resume_classify(r, 12, 101), RESUME_DUPLICATE);
    assert_int_equal(resume_classify(r, 12, 101), RESUME_NEW); /* a second (12, 101): new */
    assert_int_equal(resume_classify(r, 13, 101), RESUME_NEW); /* same ms, not produced yet */
    /* a line newer than L arrived: older ones on this connection are new (unsorted stream) */
    assert_int_equal(resume_classify(r, 11, 102), RESUME_NEW);
    assert_int_equal(resume_classify(r, 9, 50), RESUME_NEW);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify(r, 9, 50), RESUME_OLDER);
    resume_free(r);
}

/* The far-future line: it is produced, remembered (so not produced again when the source
 * sends it again) and never becomes the resume point. */
static void test_line_beyond_the_clock_never_moves_the_resume_point(void **state)
{
    (void)state;
    resume_limits l = limits(0, 100, 10);
    resume *r = new_state(&l);
    assert_int_equal(resume_note(r, 1, NOW - 10, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_note(r, 2, NOW - 9, NOW), RESUME_REMEMBERED);
    const int64_t far = NOW + 100 * 365 * 24 * HOUR;
    assert_int_equal(resume_note(r, 3, far, NOW), RESUME_HELD);
    assert_int_equal(resume_note(r, 4, far + 1, NOW), RESUME_HELD); /* two of them: still held */
    assert_int_equal(resume_mtime(r), NOW - 10);
    assert_int_equal(resume_note(r, 5, NOW - 8, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_mtime(r), NOW - 9);
    resume_info in;
    resume_get_info(r, &in);
    assert_int_equal(in.held, 2);
    assert_int_equal(in.highest_mtime, NOW - 8);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify(r, 3, far), RESUME_DUPLICATE);
    assert_int_equal(resume_classify(r, 3, far), RESUME_NEW);
    assert_int_equal(resume_classify(r, 4, far + 1), RESUME_DUPLICATE);
    /* beyond max_held: remembered by number; a reconnect drops that many of the unknown ones */
    resume_limits one = limits(0, 100, 1);
    resume *h = new_state(&one);
    assert_int_equal(resume_note(h, 3, far, NOW), RESUME_HELD);
    assert_int_equal(resume_note(h, 4, far + 1, NOW), RESUME_OVERFLOW);
    resume_get_info(h, &in);
    assert_int_equal(in.held_over, 1);
    assert_int_equal(resume_reconnect(h), 0);
    assert_int_equal(resume_classify(h, 4, far + 1), RESUME_COUNTED);
    assert_int_equal(resume_classify(h, 5, far + 2), RESUME_NEW);
    assert_int_equal(resume_classify(h, 3, far), RESUME_DUPLICATE);
    resume_free(h);
    resume_free(r);
}

/* One outlier below the clock (a backfill with one line years ahead): it stays the top line and
 * L follows the stream; the next lines, below it, keep L moving. */
static void test_one_outlier_stays_above_the_resume_point(void **state)
{
    (void)state;
    resume_limits l = limits(0, 100, 10);
    resume *r = new_state(&l);
    const int64_t old = NOW - 10 * 365 * 24 * HOUR;
    assert_int_equal(resume_note(r, 1, old, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_note(r, 2, NOW - 5, NOW), RESUME_REMEMBERED); /* the outlier */
    for (int64_t k = 1; k <= 50; k++)
        assert_int_equal(resume_note(r, 10 + k, old + k, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_mtime(r), old + 50);
    resume_info in;
    resume_get_info(r, &in);
    assert_int_equal(in.top_mtime, NOW - 5);
    assert_int_equal(in.top_id, 2);
    assert_int_equal(in.below_top, 50);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify(r, 2, NOW - 5), RESUME_DUPLICATE);
    assert_int_equal(resume_classify(r, 99, old + 50), RESUME_NEW);
    resume_free(r);
}

static void test_unreadable_lines_are_remembered_until_passed(void **state)
{
    (void)state;
    resume_limits l = limits(0, 100, 10);
    resume *r = new_state(&l);
    uint64_t a = resume_line_hash("{\"rsvp_id\":null}", 16), b = resume_line_hash("not json", 8);
    assert_true(a != b);
    assert_int_equal(resume_note(r, 1, 100, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_note(r, 2, 100, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_note_unreadable(r, a), RESUME_REMEMBERED);
    assert_int_equal(resume_note_unreadable(r, b), RESUME_REMEMBERED);
    assert_int_equal(resume_note_unreadable(r, b), RESUME_REMEMBERED);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify_unreadable(r, a), RESUME_DUPLICATE);
    assert_int_equal(resume_classify_unreadable(r, a), RESUME_NEW);
    assert_int_equal(resume_classify_unreadable(r, b), RESUME_DUPLICATE);
    assert_int_equal(resume_classify_unreadable(r, b), RESUME_DUPLICATE);
    assert_int_equal(resume_classify_unreadable(r, b), RESUME_NEW);
    /* the next readable line bounds them (101): remembered while L <= 101 */
    assert_int_equal(resume_note(r, 3, 101, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_note(r, 4, 101, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify_unreadable(r, a), RESUME_DUPLICATE);
    assert_int_equal(resume_note(r, 5, 102, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_note(r, 6, 102, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify_unreadable(r, a), RESUME_NEW);
    resume_info in;
    resume_get_info(r, &in);
    assert_int_equal(in.lines, 2); /* the two lines at 102 */
    resume_free(r);
}

/* The set is built from a topic's tail in any order: the same L and the same duplicates. */
static void test_note_folds_unordered_tail(void **state)
{
    (void)state;
    resume_limits l = limits(0, 100, 10);
    resume *r = new_state(&l);
    const msg tail[] = {{1, 5, 5, 0, 0}, {2, 9, 9, 0, 0}, {3, 7, 7, 0, 0},
                        {4, 9, 9, 0, 0}, {5, 2, 2, 0, 0}, {4, 9, 9, 0, 0}};
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        assert_true(resume_note(r, tail[i].id, tail[i].mtime, NOW) >= 0);
    assert_int_equal(resume_mtime(r), 9);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify(r, 2, 9), RESUME_DUPLICATE);
    assert_int_equal(resume_classify(r, 4, 9), RESUME_DUPLICATE);
    assert_int_equal(resume_classify(r, 4, 9), RESUME_DUPLICATE);
    assert_int_equal(resume_classify(r, 4, 9), RESUME_NEW);
    assert_int_equal(resume_classify(r, 3, 9), RESUME_NEW);
    resume_free(r);
}

static void test_commit_and_rollback(void **state)
{
    (void)state;
    resume_limits l = limits(0, 100000, 10);
    resume *r = new_state(&l);
    assert_int_equal(resume_note(r, 1, 10, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_note(r, 2, 10, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_commit(r), 0);
    for (int64_t id = 100; id < 5000; id++) /* grows the table */
        assert_int_equal(resume_note(r, id, 11, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_mtime(r), 11);
    assert_int_equal(resume_rollback(r), 0); /* abort */
    assert_int_equal(resume_mtime(r), 10);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify(r, 1, 10), RESUME_DUPLICATE);
    assert_int_equal(resume_classify(r, 100, 11), RESUME_NEW);
    for (int64_t id = 100; id < 200; id++)
        assert_int_equal(resume_note(r, id, 11, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_commit(r), 0);
    assert_int_equal(resume_note(r, 300, 12, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_note(r, 301, 12, NOW), RESUME_REMEMBERED);
    assert_int_equal(resume_rollback(r), 0);
    assert_int_equal(resume_mtime(r), 11);
    assert_int_equal(resume_reconnect(r), 0);
    assert_int_equal(resume_classify(r, 150, 11), RESUME_DUPLICATE);
    resume_clear(r);
    assert_int_equal(resume_mtime(r), -1);
    assert_int_equal(resume_rollback(r), 0);
    assert_int_equal(resume_mtime(r), -1);
    resume_free(r);
}

/* run_disconnects: for every pair of break points (a, b) the first connection delivers a lines,
 * the second b, the third the rest; every line must be produced exactly once. */
static void run_disconnects(const msg *t, size_t n, const resume_limits *l, size_t step_b, const char *what)
{
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = 1; b <= n; b += step_b) {
            sim s;
            sim_init(&s, t, n, l);
            size_t got = sim_connect(&s, a, 1);
            got += sim_connect(&s, b, 1);
            sim_connect(&s, NO_END, 1);
            char buf[160];
            snprintf(buf, sizeof buf, "%s a=%zu b=%zu", what, a, b);
            assert_exactly_once(&s, buf);
            (void)got;
            sim_free(&s);
        }
    }
}

static void test_disconnect_anywhere_sorted(void **state)
{
    (void)state;
    enum { N = 150 };
    msg t[N];
    make_timeline(t, N, 7, 0, 5, 1);
    resume_limits l = limits(0, 100000, 10);
    run_disconnects(t, N, &l, 11, "sorted W=0");
    l.window_ms = 3;
    run_disconnects(t, N, &l, 13, "sorted W=3");
}

/* Lines up to `disorder` ms older than the newest before them: exact when W >= disorder. */
static void test_disconnect_anywhere_unsorted_within_window(void **state)
{
    (void)state;
    enum { N = 150 };
    msg t[N];
    for (uint64_t seed = 1; seed <= 3; seed++) {
        make_timeline(t, N, 3, 4, 6, seed);
        resume_limits l = limits(4, 100000, 10);
        run_disconnects(t, N, &l, 17, "unsorted D=4 W=4");
    }
}

/* The memory bound: with room for a few lines only, the lines beyond it are remembered by number
 * (or the window shrinks); the source sends them in the same order again, so still exactly once. */
static void test_disconnect_anywhere_at_the_memory_bound(void **state)
{
    (void)state;
    enum { N = 150 };
    msg t[N];
    make_timeline(t, N, 20, 0, 9, 7);
    for (size_t max = 1; max <= 9; max += 4) {
        resume_limits l = limits(0, max, 10);
        run_disconnects(t, N, &l, 19, "sorted, bound");
        l.window_ms = 2;
        run_disconnects(t, N, &l, 23, "sorted W=2, bound");
    }
    make_timeline(t, N, 3, 2, 7, 8);
    resume_limits l = limits(2, 5, 10);
    run_disconnects(t, N, &l, 19, "unsorted, bound");
}

/* Commit after c lines, produce x more which are aborted, reconnect from what was committed. */
static void test_rollback_anywhere_is_exactly_once(void **state)
{
    (void)state;
    enum { N = 90 };
    msg t[N];
    make_timeline(t, N, 5, 2, 8, 3);
    const resume_limits ls[] = {limits(2, 100000, 10), limits(2, 3, 10)};
    for (size_t li = 0; li < 2; li++) {
        for (size_t c = 0; c <= N; c++) {
            for (size_t x = 0; x <= 20; x += 3) {
                sim s;
                sim_init(&s, t, N, &ls[li]);
                sim_connect(&s, c, 4); /* commits every 4 lines produced */
                sim_commit(&s);
                sim_connect(&s, x, 0); /* x more, never committed */
                sim_abort(&s);
                sim_connect(&s, NO_END, 3);
                sim_commit(&s);
                char buf[96];
                snprintf(buf, sizeof buf, "limits %zu c=%zu x=%zu", li, c, x);
                assert_exactly_once(&s, buf);
                sim_free(&s);
            }
        }
    }
}

/* A source that sends one line far beyond the clock in the middle (a live stream in arrival
 * order): ingestion goes on past it after every reconnect, the line is produced once. */
static void test_far_future_line_does_not_stop_ingestion(void **state)
{
    (void)state;
    enum { N = 120 };
    msg t[N];
    make_timeline(t, N, 4, 0, 0, 5);
    t[40].mtime = t[40].smtime = NOW + 50 * 365 * 24 * HOUR;
    t[41].mtime = t[41].smtime = NOW + 50 * 365 * 24 * HOUR + 1; /* two: the clock rule decides */
    resume_limits l = limits(0, 100000, 10);
    run_disconnects(t, N, &l, 7, "far future");
    l.max_held = 1;
    run_disconnects(t, N, &l, 7, "far future, held bound");
    /* one line only and no clock rule (a backfill: the clock is far ahead of the stream) */
    make_timeline(t, N, 4, 0, 0, 5);
    t[40].mtime = t[40].smtime = NOW + 40 * 365 * 24 * HOUR;
    l.max_future_ms = 100 * 365 * 24 * HOUR;
    run_disconnects(t, N, &l, 7, "outlier");
}

/* An unreadable line right after a line far beyond the clock: a source that files it under the
 * mtime of the line before it (rsvp-replay does) sends it again with that line on every reconnect,
 * so it must be remembered as long as that line is, not only until the next readable line's mtime
 * (found by the differential test: a stall timeout's reconnect produced such a line twice). */
static void test_unreadable_line_after_a_far_future_line_is_produced_once(void **state)
{
    (void)state;
    enum { N = 120 };
    msg t[N];
    make_timeline(t, N, 4, 0, 0, 5);
    t[40].mtime = t[40].smtime = NOW + 50 * 365 * 24 * HOUR;
    t[41].unreadable = 1;
    t[41].hash = resume_line_hash("{\"rsvp_id\":{}}", 15);
    t[41].mtime = -1;
    t[41].smtime = t[40].smtime;
    resume_limits l = limits(0, 100000, 10);
    run_disconnects(t, N, &l, 7, "unreadable after far future");
    l.window_ms = 3;
    run_disconnects(t, N, &l, 7, "unreadable after far future, W=3");
}

/* Issue 18 hole 5: a million lines in one millisecond. The state stays within max_lines, commits
 * every 1,000 lines, and the reconnects in between still give exactly once. */
static void test_one_millisecond_of_a_million_lines_stays_bounded(void **state)
{
    (void)state;
    enum { N = 1000000 };
    msg *t = calloc(N, sizeof(*t));
    assert_non_null(t);
    for (size_t i = 0; i < N; i++)
        t[i] = (msg){(int64_t)i, NOW, NOW, 0, 0};
    resume_limits l = limits(1000, 10000, 10);
    sim s;
    sim_init(&s, t, N, &l);
    size_t limits_per_conn[] = {300000, 5000, 650000, NO_END};
    for (size_t k = 0; k < 4; k++) {
        sim_connect(&s, limits_per_conn[k], 1000);
        sim_commit(&s);
        resume_info in;
        resume_get_info(s.r, &in);
        assert_true(in.lines <= 10000);
    }
    assert_exactly_once(&s, "one ms");
    resume_info in;
    resume_get_info(s.r, &in);
    assert_int_equal(in.lines, 10000);
    assert_int_equal(in.overflow, N - 10000); /* the rest by number */
    assert_true(s.drops[RESUME_COUNTED] > 0); /* the bound was hit and used */
    assert_true(s.drops[RESUME_DUPLICATE] > 0);
    sim_free(&s);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_state_takes_everything),
        cmocka_unit_test(test_resume_point_needs_two_lines),
        cmocka_unit_test(test_line_beyond_the_clock_never_moves_the_resume_point),
        cmocka_unit_test(test_one_outlier_stays_above_the_resume_point),
        cmocka_unit_test(test_unreadable_lines_are_remembered_until_passed),
        cmocka_unit_test(test_note_folds_unordered_tail),
        cmocka_unit_test(test_commit_and_rollback),
        cmocka_unit_test(test_disconnect_anywhere_sorted),
        cmocka_unit_test(test_disconnect_anywhere_unsorted_within_window),
        cmocka_unit_test(test_disconnect_anywhere_at_the_memory_bound),
        cmocka_unit_test(test_rollback_anywhere_is_exactly_once),
        cmocka_unit_test(test_far_future_line_does_not_stop_ingestion),
        cmocka_unit_test(test_unreadable_line_after_a_far_future_line_is_produced_once),
        cmocka_unit_test(test_one_millisecond_of_a_million_lines_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
