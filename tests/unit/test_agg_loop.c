/* test_agg_loop.c: the aggregator's loop (aggloop.c) against a scripted consumer and writer in
 * virtual time: deferred messages are re-read whatever lands first (issue 18, hole 1); every
 * partition is resumed and sought, beyond 1024 too (hole 2); a record the writer always rejects is
 * named and never skipped (hole 3); a standby is ready while the writer answers and the group's
 * committed offsets follow the writer's stored ones (issue 20); triggers fall on the wall clock's
 * boundaries (issue 21). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "services/aggregator/aggloop.h"

#define MAXPARTS 1200

typedef struct fake {
    int64_t now;
    /* consumer */
    int nparts, nrecs; /* every partition holds records 0..nrecs-1, each of key "k<offset % 3>" */
    int assigned[MAXPARTS], paused[MAXPARTS];
    int64_t pos[MAXPARTS], committed[MAXPARTS];
    int burst;          /* messages per wake-up */
    int poison;         /* offset of a record the writer rejects (every partition), -1 none */
    int pending_assign; /* deliver an assignment of parts 0..pending_assign-1 at the next poll (-1 none) */
    /* writer */
    int64_t stored[MAXPARTS], counted[MAXPARTS];
    int retries_left;  /* answer RETRY this many times first */
    int accept_poison; /* the cause was fixed */
    int queries_down;  /* offset queries get no answer */
    int has_reply[WLINK_NCHAN];
    uint8_t reply[WLINK_NCHAN][65536];
    size_t rlen[WLINK_NCHAN];
    int64_t deadline[WLINK_NCHAN];
    int64_t delay; /* a reply is ready this long after its request */
    int64_t ready_at[WLINK_NCHAN];
    int wakes;            /* a ready reply ends the consumer's wait (aggloop_opts.replies_wake) */
    int64_t last_sent;    /* virtual time of the last batch sent */
    int early_looks;      /* consumer waits that ended with a batch reply still on its way */
    int64_t arrive_every; /* record k of a partition can be polled from virtual time k * this on */
    int64_t wall_base;    /* the wall clock is now + this (k_wall; only with g_wall) */
    int64_t sent_at[64];  /* virtual times batches were sent, the first 64 */
    int nsent;
    aggloop *l;
} fake;

static int g_wakes;         /* fake_new: the loop's replies_wake */
static int g_wall;          /* fake_new: give the loop a wall clock (k_wall) */
static int64_t g_offset_ms; /* fake_new: its trigger_offset_ms */

static size_t payload(int64_t off, int poison, uint8_t *out)
{
    char name[8];
    snprintf(name, sizeof name, "%sk%d", poison ? "\xff" : "", (int)(off % 3));
    Rsvp__V1__Event e = RSVP__V1__EVENT__INIT;
    e.event_name = name;
    Rsvp__V1__Rsvp r = RSVP__V1__RSVP__INIT;
    r.event = &e;
    r.has_response = 1;
    r.response = RSVP__V1__RESPONSE__RESPONSE_YES;
    return rsvp__v1__rsvp__pack(&r, out);
}

static int f_poll(void *ctx, int wait_ms, aggloop_msg *m)
{
    fake *f = ctx;
    if (f->pending_assign >= 0) {
        int n = f->pending_assign;
        f->pending_assign = -1;
        int32_t *ids = calloc((size_t)n + 1, sizeof *ids);
        int64_t *offs = calloc((size_t)n + 1, sizeof *offs);
        for (int i = 0; i < n; i++)
            ids[i] = i;
        aggloop_assign(f->l, ids, (size_t)n, offs);
        for (int i = 0; i < n; i++) {
            f->assigned[i] = 1;
            f->paused[i] = 0;
            f->pos[i] = offs[i] < 0 ? 0 : offs[i];
        }
        free(ids);
        free(offs);
    }
    static int next_part, bursts;
    if (f->burst == 0) { /* a wake-up takes a burst of 1..8 messages, then the queue is empty */
        if (wait_ms <= 0)
            return 0;
        f->burst = 1 + bursts++ % 8;
    }
    for (int k = 0; k < f->nparts; k++) {
        int p = (next_part + k) % f->nparts;
        if (!f->assigned[p] || f->paused[p] || f->pos[p] >= f->nrecs || f->pos[p] * f->arrive_every > f->now)
            continue;
        f->burst--;
        next_part = p + 1;
        uint8_t *b = malloc(64);
        size_t n = payload(f->pos[p], f->pos[p] == f->poison, b);
        *m = (aggloop_msg){p, f->pos[p], b, n, b};
        f->pos[p]++;
        return 1;
    }
    f->burst = 0;
    if (f->wakes && f->has_reply[WLINK_BATCH] && f->ready_at[WLINK_BATCH] <= f->now + wait_ms) {
        if (f->ready_at[WLINK_BATCH] > f->now) /* woken by the reply when it comes */
            f->now = f->ready_at[WLINK_BATCH];
        return 0;
    }
    f->now += wait_ms;
    if (f->has_reply[WLINK_BATCH] && f->ready_at[WLINK_BATCH] > f->now)
        f->early_looks++;
    return 0;
}

static void f_release(void *ctx, aggloop_msg *m)
{
    (void)ctx;
    free(m->handle);
}

static void f_pause(void *ctx, const int32_t *parts, size_t n, int pause)
{
    fake *f = ctx;
    for (size_t i = 0; i < n; i++)
        f->paused[parts[i]] = pause;
}

static void f_seek(void *ctx, const int32_t *parts, const int64_t *offs, size_t n)
{
    fake *f = ctx;
    for (size_t i = 0; i < n; i++)
        f->pos[parts[i]] = offs[i] < 0 ? 0 : offs[i];
}

static void f_commit(void *ctx, int32_t p, int64_t off)
{
    ((fake *)ctx)->committed[p] = off;
}

static int64_t f_lag(void *ctx)
{
    (void)ctx;
    return 0;
}

static void answer(fake *f, int c, const Rsvp__V1__WriterReply *r)
{
    f->rlen[c] = rsvp__v1__writer_reply__pack(r, f->reply[c]);
    f->has_reply[c] = 1;
    f->ready_at[c] = f->now + f->delay;
}

/* The writer: the offset check, the poison rule, RETRY first if told so; answers at once. */
static int w_start(void *ctx, wlink_chan c, const void *data, size_t len, int64_t timeout_ms)
{
    fake *f = ctx;
    Rsvp__V1__WriterRequest *q = rsvp__v1__writer_request__unpack(NULL, len, data);
    assert_non_null(q);
    Rsvp__V1__WriterReply r = RSVP__V1__WRITER_REPLY__INIT;
    f->has_reply[c] = 0;
    f->deadline[c] = f->now + timeout_ms;
    if (q->body_case == RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY) {
        Rsvp__V1__PartitionOffset po[MAXPARTS], *pp[MAXPARTS];
        for (size_t i = 0; i < q->offset_query->n_partitions; i++) {
            rsvp__v1__partition_offset__init(&po[i]);
            po[i].partition = q->offset_query->partitions[i];
            po[i].next_offset = f->stored[po[i].partition];
            pp[i] = &po[i];
        }
        r.status = RSVP__V1__WRITER_REPLY__STATUS__OK;
        r.n_offsets = q->offset_query->n_partitions;
        r.offsets = pp;
        if (!f->queries_down)
            answer(f, c, &r);
        rsvp__v1__writer_request__free_unpacked(q, NULL);
        return 0;
    }
    const Rsvp__V1__Batch *b = q->batch;
    int64_t st = f->stored[b->partition];
    int64_t first = b->from_offset < 0 ? 0 : b->from_offset;
    int has_poison = f->poison >= first && f->poison < b->to_offset;
    if (f->retries_left > 0) {
        f->retries_left--;
        r.status = RSVP__V1__WRITER_REPLY__STATUS__RETRY;
    } else if (has_poison && !f->accept_poison) {
        r.status = RSVP__V1__WRITER_REPLY__STATUS__ERROR;
        r.message = "row with a string that is not UTF-8";
    } else if (b->from_offset == -1 ? st != -1 : st != b->from_offset) {
        r.status = RSVP__V1__WRITER_REPLY__STATUS__STALE;
        r.has_stored_offset = 1;
        r.stored_offset = st;
    } else {
        int64_t from = b->from_offset < 0 ? 0 : b->from_offset, want = b->to_offset - from, got = 0;
        for (size_t i = 0; i < b->n_rows; i++)
            got += b->rows[i]->delta;
        assert_int_equal(got, want); /* every record of the range counted once, no other */
        f->counted[b->partition] += got;
        f->stored[b->partition] = b->to_offset;
        f->last_sent = f->now;
        if (f->nsent < 64)
            f->sent_at[f->nsent++] = f->now;
        r.status = RSVP__V1__WRITER_REPLY__STATUS__OK;
    }
    answer(f, c, &r);
    rsvp__v1__writer_request__free_unpacked(q, NULL);
    return 0;
}

static int w_poll(void *ctx, wlink_chan c, int64_t wait_ms, Rsvp__V1__WriterReply **reply)
{
    fake *f = ctx;
    if (!f->has_reply[c]) {
        if (f->deadline[c] == 0)
            return ERR_NOTFOUND;
        f->now += wait_ms;
        if (f->now < f->deadline[c])
            return 1;
        f->deadline[c] = 0;
        return ERR_TIMEOUT;
    }
    if (f->ready_at[c] > f->now + wait_ms) { /* not yet */
        f->now += wait_ms;
        return 1;
    }
    if (f->ready_at[c] > f->now)
        f->now = f->ready_at[c];
    f->has_reply[c] = 0;
    f->deadline[c] = 0;
    *reply = rsvp__v1__writer_reply__unpack(NULL, f->rlen[c], f->reply[c]);
    return *reply ? 0 : ERR_INVALID;
}

static int64_t k_now(void *ctx)
{
    return ((fake *)ctx)->now;
}

static void k_sleep(void *ctx, int64_t ms)
{
    ((fake *)ctx)->now += ms;
}

static int64_t k_wall(void *ctx)
{
    return ((fake *)ctx)->now + ((fake *)ctx)->wall_base;
}

static int k_stopping(void *ctx)
{
    (void)ctx;
    return 0;
}

static fake *fake_new(int nparts, int nrecs, size_t max_keys)
{
    fake *f = calloc(1, sizeof *f);
    f->nparts = nparts;
    f->nrecs = nrecs;
    f->poison = -1;
    f->pending_assign = nparts;
    f->burst = 8;
    for (int p = 0; p < MAXPARTS; p++)
        f->stored[p] = f->committed[p] = -1;
    aggloop_opts o = {.topic = "t",
                      .sender = "test",
                      .max_batch_keys = max_keys,
                      .trigger_ms = 50,
                      .trigger_offset_ms = g_offset_ms,
                      .request_timeout_ms = 100,
                      .backoff_base_ms = 5,
                      .backoff_max_ms = 40,
                      .backoff_seed = 1,
                      .replies_wake = g_wakes};
    f->wakes = g_wakes;
    aggloop_consumer c = {f, f_poll, f_release, f_pause, f_seek, f_commit, f_lag};
    aggloop_writer w = {f, w_start, w_poll};
    f->wall_base = 1733580000030; /* 30 ms past a multiple of 50 */
    aggloop_clock k = {f, k_now, k_sleep, k_stopping, g_wall ? k_wall : NULL};
    assert_int_equal(aggloop_new(&f->l, &o, &c, &w, &k, NULL), 0);
    return f;
}

static void fake_free(fake *f)
{
    aggloop_free(f->l);
    free(f);
}

static int all_stored(const fake *f, int64_t upto)
{
    for (int p = 0; p < f->nparts; p++)
        if (f->stored[p] < upto)
            return 0;
    return 1;
}

static void run_until_stored(fake *f, int64_t upto, int max_steps)
{
    for (int i = 0; i < max_steps && !all_stored(f, upto); i++)
        assert_int_equal(aggloop_step(f->l), 0);
}

/* Hole 1: the table is full while its batch is in flight, so messages are refused; the writer's OK
 * lands in the same turn, before any pause. The next messages must not be counted over the refused
 * ones: every record of the partition is counted exactly once (the writer checks each batch). */
static void test_deferred_messages_are_reread_when_the_reply_lands_first(void **state)
{
    (void)state;
    fake *f = fake_new(1, 200, 2);
    run_until_stored(f, 200, 20000);
    assert_int_equal(f->stored[0], 200);
    assert_int_equal(f->counted[0], 200);
    assert_true(agg_get_stats(aggloop_agg(f->l))->deferred > 0); /* the path ran */
    fake_free(f);
}

/* Hole 2: more than 1024 partitions, all paused by a retry, then resumed: every one of them must be
 * resumed at its expected offset and finish. */
static void test_more_than_1024_partitions_all_resume(void **state)
{
    (void)state;
    fake *f = fake_new(1100, 3, 1);
    f->retries_left = 3; /* the first batches: RETRY, all partitions paused */
    run_until_stored(f, 3, 200000);
    int64_t total = 0;
    for (int p = 0; p < f->nparts; p++) {
        assert_int_equal(f->stored[p], 3);
        assert_false(f->paused[p]);
        total += f->counted[p];
    }
    assert_int_equal(total, 1100 * 3);
    fake_free(f);
}

/* Hole 3: record 7 is rejected by the writer whatever batch holds it. Records 0..6 are applied, the
 * partition stops at 7 and says so (readiness reason with the offset), nothing after it is skipped;
 * once the writer accepts it, everything is applied and the loop is ready again. */
static void test_rejected_record_is_named_and_never_skipped(void **state)
{
    (void)state;
    fake *f = fake_new(1, 20, 100);
    f->poison = 7;
    run_until_stored(f, 8, 3000); /* cannot happen: runs all 3000 steps */
    assert_int_equal(f->stored[0], 7);
    assert_int_equal(f->counted[0], 7);
    const char *why;
    assert_false(aggloop_ready(f->l, &why));
    assert_non_null(strstr(why, "partition 0 stuck: the writer rejects the record at offset 7"));
    assert_non_null(strstr(why, "not UTF-8"));
    f->accept_poison = 1; /* the operator fixed the cause */
    run_until_stored(f, 20, 20000);
    assert_int_equal(f->stored[0], 20);
    assert_int_equal(f->counted[0], 20);
    for (int i = 0; i < 20; i++)
        aggloop_step(f->l);
    assert_true(aggloop_ready(f->l, &why));
    fake_free(f);
}

/* Issue 20: a standby (assigned no partition) is ready while the writer answers its probes, with the
 * reason; not ready while it does not. */
static void test_standby_is_ready_while_the_writer_answers(void **state)
{
    (void)state;
    fake *f = fake_new(0, 0, 100);
    const char *why;
    assert_false(aggloop_ready(f->l, &why)); /* not in the group yet */
    for (int i = 0; i < 20; i++)
        aggloop_step(f->l);
    assert_true(aggloop_ready(f->l, &why));
    assert_non_null(strstr(why, "standby"));
    f->queries_down = 1;
    for (int i = 0; i < 200 && aggloop_ready(f->l, &why); i++)
        aggloop_step(f->l);
    assert_false(aggloop_ready(f->l, &why));
    assert_non_null(strstr(why, "standby: the writer does not answer"));
    f->queries_down = 0;
    for (int i = 0; i < 200 && !aggloop_ready(f->l, &why); i++)
        aggloop_step(f->l);
    assert_true(aggloop_ready(f->l, &why));
    fake_free(f);
}

/* Issue 20: the group's committed offsets follow the writer's stored offsets: set at assignment from
 * what the writer stored before (no batch needed), and after every applied batch. */
static void test_committed_offsets_follow_the_writer(void **state)
{
    (void)state;
    fake *f = fake_new(2, 30, 4);
    f->stored[0] = 10; /* a previous owner applied [0, 10) of partition 0 */
    aggloop_step(f->l);
    assert_int_equal(f->committed[0], 10);
    assert_int_equal(f->committed[1], -1); /* nothing stored: nothing to commit */
    for (int i = 0; i < 5000 && !all_stored(f, 30); i++) {
        aggloop_step(f->l);
        for (int p = 0; p < 2; p++) /* never ahead of the writer */
            assert_true(f->committed[p] <= f->stored[p]);
    }
    for (int i = 0; i < 10; i++) /* the last reply is read in a later turn */
        aggloop_step(f->l);
    assert_int_equal(f->committed[0], 30);
    assert_int_equal(f->committed[1], 30);
    fake_free(f);
}

/* Freshness: the trigger cuts on time although no message arrives to end the wait (the wait is
 * bounded by the trigger, not only by 100 ms), and when the writer's replies wake the loop, the
 * batches cut together follow each other as soon as each reply comes, not at the next 5 ms look:
 * the four batches of the 50 ms trigger, each answered 7 ms after it was sent, are sent at 50, 57,
 * 64 and 71 ms of virtual time (a trigger at the 100 ms wait: 100..121; without the wake: 50..80),
 * and the loop does not look for a reply before it comes (5 ms looks: one per batch). */
static void test_batches_are_cut_on_time_and_sent_back_to_back(void **state)
{
    (void)state;
    g_wakes = 1;
    fake *f = fake_new(4, 10, 100);
    g_wakes = 0;
    f->delay = 7;
    run_until_stored(f, 10, 1000);
    assert_true(all_stored(f, 10));
    assert_int_equal(f->last_sent, 71);
    assert_int_equal(f->early_looks, 0);
    fake_free(f);
}

/* The trigger falls on the wall clock's multiples of trigger_ms, trigger_offset_ms later (where the
 * ingestors' commits of the same interval fall, plus the parsers' time), wherever the process
 * started and however long a turn took: with records arriving every millisecond for 300 ms, every
 * batch is sent at a wall time of 20 mod 50, although the loop started at 30 mod 50. */
static void test_triggers_fall_on_the_wall_clock_boundaries(void **state)
{
    (void)state;
    g_wakes = g_wall = 1;
    g_offset_ms = 20;
    fake *f = fake_new(1, 300, 100000);
    g_wakes = g_wall = 0;
    g_offset_ms = 0;
    f->arrive_every = 1;
    run_until_stored(f, 300, 100000);
    assert_true(all_stored(f, 300));
    assert_true(f->nsent >= 6);
    assert_int_equal(f->sent_at[0], 40); /* the first boundary: wall 1733580000070 */
    for (int i = 0; i < f->nsent; i++)
        assert_int_equal((f->sent_at[i] + f->wall_base - 20) % 50, 0);
    fake_free(f);
}

int main(void)
{
    log_init("aggregator", "test", LOGL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deferred_messages_are_reread_when_the_reply_lands_first),
        cmocka_unit_test(test_more_than_1024_partitions_all_resume),
        cmocka_unit_test(test_rejected_record_is_named_and_never_skipped),
        cmocka_unit_test(test_standby_is_ready_while_the_writer_answers),
        cmocka_unit_test(test_committed_offsets_follow_the_writer),
        cmocka_unit_test(test_batches_are_cut_on_time_and_sent_back_to_back),
        cmocka_unit_test(test_triggers_fall_on_the_wall_clock_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
