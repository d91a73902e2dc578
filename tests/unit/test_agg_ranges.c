/* test_agg_ranges.c: the aggregator's offset ranges and writer-reply handling as a pure state
 * machine: freezing a range into a Batch, never merging a frozen batch with newer deltas, and
 * what OK, STALE (== to_offset and other), RETRY, timeout, ERROR and revocation do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "services/aggregator/aggregator.h"

/* A packed Rsvp for event `name` with response yes (1) / no (2) / absent (0). */
static size_t rsvp(const char *name, int response, int64_t ingest, uint8_t *out, size_t cap)
{
    Rsvp__V1__Rsvp r = RSVP__V1__RSVP__INIT;
    Rsvp__V1__Event e = RSVP__V1__EVENT__INIT;
    e.event_name = (char *)name;
    e.has_time = 1;
    e.time = 1490439600000;
    r.event = &e;
    if (response) {
        r.has_response = 1;
        r.response = (Rsvp__V1__Response)response;
    }
    if (ingest) {
        r.has_ingest_time_ms = 1;
        r.ingest_time_ms = ingest;
    }
    size_t n = rsvp__v1__rsvp__get_packed_size(&r);
    assert_true(n <= cap);
    return rsvp__v1__rsvp__pack(&r, out);
}

static int consume(agg *a, int32_t p, int64_t off, const char *name, int response)
{
    uint8_t b[1024];
    size_t n = rsvp(name, response, 1000 + off, b, sizeof b);
    return agg_consume(a, p, off, b, n);
}

/* Takes the next request and decodes its batch (caller frees with writer_request__free_unpacked). */
static Rsvp__V1__WriterRequest *take(agg *a, int32_t *partition)
{
    const void *data;
    size_t len;
    assert_int_equal(agg_next_request(a, partition, &data, &len), 1);
    Rsvp__V1__WriterRequest *req = rsvp__v1__writer_request__unpack(NULL, len, data);
    assert_non_null(req);
    assert_int_equal(req->body_case, RSVP__V1__WRITER_REQUEST__BODY_BATCH);
    return req;
}

static int64_t row_delta(const Rsvp__V1__Batch *b, const char *name, const char *resp)
{
    for (size_t i = 0; i < b->n_rows; i++) {
        const Rsvp__V1__AggRow *r = b->rows[i];
        if (strcmp(r->event_name, name) != 0)
            continue;
        if ((resp == NULL) != (r->response == NULL))
            continue;
        if (resp && strcmp(resp, r->response) != 0)
            continue;
        return r->delta;
    }
    return -1;
}

static void reply(agg *a, Rsvp__V1__WriterReply__Status st, int64_t stored, agg_action *act)
{
    Rsvp__V1__WriterReply r = RSVP__V1__WRITER_REPLY__INIT;
    r.status = st;
    if (stored != -100) {
        r.has_stored_offset = 1;
        r.stored_offset = stored;
    }
    agg_on_reply(a, 0, &r, act);
}

static void test_freeze_builds_batch_over_range(void **state)
{
    (void)state;
    agg *a = agg_new("rsvps.parsed", "agg-0", 1000, 0);
    assert_int_equal(agg_assign(a, 3, 10), 0);
    assert_int_equal(consume(a, 3, 10, "A", 1), 0);
    assert_int_equal(consume(a, 3, 11, "A", 1), 0);
    assert_int_equal(consume(a, 3, 12, "A", 2), 0);
    assert_int_equal(consume(a, 3, 14, "B", 1), 0); /* gaps are normal (txn markers) */
    assert_int_equal(agg_live_keys(a), 3);
    assert_int_equal(agg_freeze(a, 0), 0); /* not full, not a trigger */
    assert_int_equal(agg_freeze(a, 1), 1);
    assert_int_equal(agg_live_keys(a), 0);
    assert_int_equal(agg_pending_batches(a), 1);
    int32_t p;
    Rsvp__V1__WriterRequest *req = take(a, &p);
    const Rsvp__V1__Batch *b = req->batch;
    assert_int_equal(p, 3);
    assert_string_equal(b->topic, "rsvps.parsed");
    assert_int_equal(b->partition, 3);
    assert_int_equal(b->from_offset, 10);
    assert_int_equal(b->to_offset, 15);
    assert_int_equal(b->messages, 4);
    assert_int_equal(b->n_rows, 3);
    assert_int_equal(row_delta(b, "A", "yes"), 2);
    assert_int_equal(row_delta(b, "A", "no"), 1);
    assert_int_equal(row_delta(b, "B", "yes"), 1);
    assert_string_equal(b->rows[0]->event_time, "1490439600000");
    assert_null(b->rows[0]->group_name);
    assert_false(b->rows[0]->has_lat);
    assert_int_equal(b->oldest_ingest_ms, 1010);
    assert_int_equal(b->newest_ingest_ms, 1014);
    assert_string_equal(b->sender, "agg-0");
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    assert_int_equal(agg_next_request(a, &p, &(const void *){0}, &(size_t){0}), 0); /* in flight */
    agg_free(a);
}

static void test_ok_starts_next_range_without_merging(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 1000, 0);
    agg_assign(a, 0, -1); /* nothing stored */
    consume(a, 0, 5, "A", 1);
    consume(a, 0, 6, "A", 1);
    agg_freeze(a, 1);
    int32_t p;
    Rsvp__V1__WriterRequest *req = take(a, &p);
    assert_int_equal(req->batch->from_offset, -1);
    assert_int_equal(req->batch->to_offset, 7);
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    /* messages keep arriving while the batch is in flight: they belong to the next range */
    consume(a, 0, 7, "A", 1);
    assert_int_equal(agg_freeze(a, 1), 0); /* one frozen batch per partition at a time */
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
    assert_int_equal(act.act, AGG_ACT_COMMIT);
    assert_int_equal(act.result, AGG_RES_OK);
    assert_int_equal(act.offset, 7);
    assert_int_equal(agg_pending_batches(a), 0);
    int64_t from, next;
    int pending;
    assert_int_equal(agg_range(a, 0, &from, &next, &pending), 0);
    assert_int_equal(from, 7);
    assert_int_equal(next, 8);
    assert_int_equal(agg_freeze(a, 1), 1);
    req = take(a, &p);
    assert_int_equal(req->batch->from_offset, 7);
    assert_int_equal(req->batch->to_offset, 8);
    assert_int_equal(row_delta(req->batch, "A", "yes"), 1); /* not 3 */
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    assert_int_equal(agg_get_stats(a)->batches[AGG_RES_OK], 1);
    agg_free(a);
}

static void test_stale_equal_to_offset_is_success(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 1000, 0);
    agg_assign(a, 1, 100);
    consume(a, 1, 100, "A", 1);
    agg_freeze(a, 1);
    int32_t p;
    rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
    consume(a, 1, 101, "A", 1);
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__STALE, 101, &act);
    assert_int_equal(act.act, AGG_ACT_COMMIT);
    assert_int_equal(act.result, AGG_RES_STALE_APPLIED);
    assert_int_equal(agg_live_keys(a), 1); /* newer deltas kept */
    int64_t from, next;
    int pending;
    agg_range(a, 1, &from, &next, &pending);
    assert_int_equal(from, 101);
    assert_int_equal(pending, 0);
    agg_free(a);
}

static void test_stale_other_drops_state_and_seeks(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 1000, 0);
    agg_assign(a, 1, 100);
    consume(a, 1, 100, "A", 1);
    agg_freeze(a, 1);
    int32_t p;
    rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
    consume(a, 1, 101, "B", 1);
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__STALE, 250, &act);
    assert_int_equal(act.act, AGG_ACT_SEEK);
    assert_int_equal(act.result, AGG_RES_STALE);
    assert_int_equal(act.partition, 1);
    assert_int_equal(act.offset, 250);
    assert_int_equal(agg_live_keys(a), 0);
    assert_int_equal(agg_pending_batches(a), 0);
    assert_int_equal(agg_get_stats(a)->discarded_msgs, 2);
    int64_t from, next;
    int pending;
    agg_range(a, 1, &from, &next, &pending);
    assert_int_equal(from, 250);
    /* messages from before the seek target are not counted any more */
    assert_int_equal(consume(a, 1, 102, "B", 1), ERR_STALE);
    assert_int_equal(consume(a, 1, 250, "C", 1), 0);
    agg_freeze(a, 1);
    Rsvp__V1__WriterRequest *req = take(a, &p);
    assert_int_equal(req->batch->from_offset, 250);
    assert_int_equal(req->batch->to_offset, 251);
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    /* STALE with "nothing stored" seeks to START_OFFSET (-1) */
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__STALE, -1, &act);
    assert_int_equal(act.act, AGG_ACT_SEEK);
    assert_int_equal(act.offset, -1);
    agg_free(a);
}

static void test_retry_keeps_frozen_batch_byte_identical(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 1000, 0);
    agg_assign(a, 2, 0);
    consume(a, 2, 0, "A", 1);
    agg_freeze(a, 1);
    int32_t p;
    const void *d1;
    size_t l1;
    assert_int_equal(agg_next_request(a, &p, &d1, &l1), 1);
    void *copy = malloc(l1);
    memcpy(copy, d1, l1);
    consume(a, 2, 1, "A", 1);
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__RETRY, -100, &act);
    assert_int_equal(act.act, AGG_ACT_RETRY);
    assert_int_equal(act.result, AGG_RES_RETRY);
    agg_on_reply(a, 0, NULL, &act); /* nothing in flight: dropped */
    assert_int_equal(act.act, AGG_ACT_NONE);
    assert_int_equal(agg_next_request(a, &p, &d1, &l1), 1);
    agg_on_reply(a, ERR_TIMEOUT, NULL, &act);
    assert_int_equal(act.act, AGG_ACT_RETRY);
    assert_int_equal(act.result, AGG_RES_TIMEOUT);
    agg_freeze(a, 1); /* a trigger during retry must not touch the frozen batch */
    assert_int_equal(agg_next_request(a, &p, &d1, &l1), 1);
    assert_int_equal(l1, sizeof(char) * l1);
    assert_memory_equal(d1, copy, l1);
    agg_on_reply(a, ERR_IO, NULL, &act);
    assert_int_equal(act.result, AGG_RES_TRANSPORT);
    assert_int_equal(agg_next_request(a, &p, &d1, &l1), 1);
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
    assert_int_equal(act.act, AGG_ACT_COMMIT);
    assert_int_equal(act.offset, 1);
    assert_int_equal(agg_live_keys(a), 1); /* offset 1 still waits for its own batch */
    free(copy);
    agg_free(a);
}

static void test_error_drops_state_and_requeries(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 1000, 0);
    agg_assign(a, 0, 40);
    consume(a, 0, 40, "A", 1);
    agg_freeze(a, 1);
    int32_t p;
    rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
    consume(a, 0, 41, "A", 1);
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__ERROR, -100, &act);
    assert_int_equal(act.act, AGG_ACT_REQUERY);
    assert_int_equal(act.result, AGG_RES_ERROR);
    assert_int_equal(agg_live_keys(a), 0);
    assert_int_equal(agg_pending_batches(a), 0);
    int64_t from, next;
    int pending;
    agg_range(a, 0, &from, &next, &pending);
    assert_int_equal(from, 40); /* best knowledge of what is stored */
    agg_free(a);
}

static void test_revoke_discards_and_drops_inflight_reply(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 1000, 0);
    agg_assign(a, 0, 0);
    agg_assign(a, 1, 0);
    consume(a, 0, 0, "A", 1);
    consume(a, 1, 0, "B", 1);
    agg_freeze(a, 1);
    int32_t p;
    rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
    agg_revoke(a, p);
    assert_false(agg_assigned(a, p));
    assert_int_equal(consume(a, p, 1, "A", 1), ERR_NOTFOUND);
    assert_true(agg_inflight(a));
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
    assert_int_equal(act.act, AGG_ACT_NONE);
    assert_int_equal(act.result, AGG_RES_DROPPED);
    /* the other partition's batch is next */
    Rsvp__V1__WriterRequest *req = take(a, &p);
    assert_int_equal(req->batch->partition, p);
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    /* re-assignment restarts from the stored offset with empty state */
    agg_revoke(a, p);
    agg_assign(a, p, 9);
    assert_int_equal(agg_pending_batches(a), 0);
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
    assert_int_equal(act.result, AGG_RES_DROPPED);
    agg_revoke(a, 77); /* not assigned: no-op */
    agg_free(a);
}

static void test_decode_error_still_covers_offset(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 1000, 0);
    agg_assign(a, 0, 0);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(agg_consume(a, 0, 0, garbage, sizeof garbage), ERR_INVALID);
    assert_int_equal(agg_get_stats(a)->decode_errors, 1);
    assert_int_equal(agg_freeze(a, 1), 1);
    int32_t p;
    Rsvp__V1__WriterRequest *req = take(a, &p);
    assert_int_equal(req->batch->from_offset, 0);
    assert_int_equal(req->batch->to_offset, 1);
    assert_int_equal(req->batch->n_rows, 0);
    assert_int_equal(req->batch->messages, 0);
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    assert_int_equal(consume(a, 0, 0, "A", 1), ERR_STALE); /* duplicate delivery */
    assert_int_equal(agg_get_stats(a)->duplicates, 1);
    agg_free(a);
}

static void test_null_response_creates_zero_row(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 1000, 0);
    agg_assign(a, 0, 0);
    consume(a, 0, 0, "A", 0);
    agg_freeze(a, 1);
    int32_t p;
    Rsvp__V1__WriterRequest *req = take(a, &p);
    assert_int_equal(req->batch->n_rows, 1);
    assert_int_equal(row_delta(req->batch, "A", NULL), 0); /* count(response) of NULL */
    assert_int_equal(req->batch->messages, 0);
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    agg_free(a);
}

static void test_max_keys_freezes_early_and_backlogs(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 2, 0);
    agg_assign(a, 0, 0);
    consume(a, 0, 0, "A", 1);
    assert_int_equal(agg_freeze(a, 0), 0);
    consume(a, 0, 1, "B", 1);
    assert_int_equal(agg_freeze(a, 0), 1);
    int32_t p;
    rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
    consume(a, 0, 2, "C", 1);
    assert_false(agg_backlogged(a));
    consume(a, 0, 3, "D", 1);
    assert_true(agg_backlogged(a)); /* full while the previous batch waits */
    assert_int_equal(agg_freeze(a, 0), 0);
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
    assert_int_equal(agg_freeze(a, 0), 1);
    assert_false(agg_backlogged(a));
    assert_true(agg_state_bytes(a) > 0);
    agg_free(a);
    agg_free(NULL);
}

/* A catch-up batch (20,000 keys, ~3 MB packed) blows up the packed body, the frozen copy and the key
 * table; once it is acknowledged and a small batch went through, the state is back under 1 MB (the
 * soak saw the aggregators' RSS step up at each fault's catch-up and stay there). */
static void test_state_shrinks_after_a_big_batch(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 0, 0);
    agg_assign(a, 0, 0);
    char name[160];
    int64_t off = 0;
    for (; off < 20000; off++) {
        snprintf(name, sizeof name, "%0120lld", (long long)off);
        assert_int_equal(consume(a, 0, off, name, 1), 0);
    }
    assert_int_equal(agg_freeze(a, 1), 1);
    assert_true(agg_state_bytes(a) > (4u << 20));
    int32_t p;
    Rsvp__V1__WriterRequest *req = take(a, &p);
    assert_int_equal(req->batch->n_rows, 20000);
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
    assert_int_equal(act.act, AGG_ACT_COMMIT);
    for (int round = 0; round < 2; round++) {
        consume(a, 0, off, "small", 1);
        off++;
        assert_int_equal(agg_freeze(a, 1), 1);
        rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
        reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
        assert_int_equal(act.act, AGG_ACT_COMMIT);
    }
    assert_true(agg_state_bytes(a) < (1u << 20));
    agg_free(a);
}

/* Full while the previous batch is in flight: a further message is refused (ERR_RANGE), not
 * counted and not covered, so the next batch never exceeds max_keys (the writer's row limit) and
 * the message is read again from the range end after the pause. */
static void test_full_table_defers_messages_until_acked(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 2, 0);
    agg_assign(a, 0, 0);
    consume(a, 0, 0, "A", 1);
    consume(a, 0, 1, "B", 1);
    assert_int_equal(agg_freeze(a, 0), 1); /* batch 1: [0, 2) in flight */
    int32_t p;
    rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
    assert_int_equal(consume(a, 0, 2, "C", 1), 0);
    assert_int_equal(consume(a, 0, 3, "D", 1), 0); /* full again */
    assert_int_equal(consume(a, 0, 4, "E", 1), ERR_RANGE);
    assert_int_equal(consume(a, 0, 5, "C", 1), ERR_RANGE); /* even a known key: the range is closed */
    assert_true(agg_backlogged(a));
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
    assert_int_equal(agg_freeze(a, 0), 1); /* batch 2: [2, 4), two rows */
    Rsvp__V1__WriterRequest *req = take(a, &p);
    assert_int_equal(req->batch->from_offset, 2);
    assert_int_equal(req->batch->to_offset, 4);
    assert_int_equal(req->batch->n_rows, 2);
    assert_int_equal(row_delta(req->batch, "E", "yes"), -1);
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    assert_int_equal(consume(a, 0, 6, "F", 1), ERR_RANGE); /* not re-read yet: still refused */
    agg_rewound(a, 0);                                     /* the caller sought to next = 4 */
    assert_int_equal(consume(a, 0, 4, "E", 1), 0);         /* re-read after the seek: counted now */
    agg_free(a);
}

/* Issue 18, hole 1: the reply lands after a deferral but before the caller paused. A later message
 * of the same partition (m6) must not be counted over the deferred ones: the partition says it needs
 * a re-read from its expected offset, and refuses everything until the caller did it. */
static void test_deferral_refuses_later_messages_until_reread(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 2, 0);
    agg_assign(a, 0, 0);
    consume(a, 0, 0, "A", 1);
    consume(a, 0, 1, "B", 1);
    assert_int_equal(agg_freeze(a, 0), 1);
    int32_t p;
    rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
    consume(a, 0, 2, "C", 1);
    consume(a, 0, 3, "D", 1);
    for (int64_t off = 4; off < 9; off++) /* m1..m5 */
        assert_int_equal(consume(a, 0, off, "X", 1), ERR_RANGE);
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act); /* same turn: no pause happened */
    assert_false(agg_backlogged(a));
    agg_part st;
    assert_int_equal(agg_part_at(a, 0, &st), 0);
    assert_true(st.reread);
    assert_false(st.blocked);
    assert_int_equal(st.next, 4);
    assert_int_equal(consume(a, 0, 9, "Y", 1), ERR_RANGE); /* m6: refused, the range stays at 4 */
    int64_t from, next;
    int pending;
    assert_int_equal(agg_range(a, 0, &from, &next, &pending), 0);
    assert_int_equal(next, 4);
    agg_rewound(a, 0);
    assert_int_equal(agg_part_at(a, 0, &st), 0);
    assert_false(st.reread);
    agg_free(a);
}

/* Send the in-flight batch's reply ERROR with message msg. */
static void reject_batch(agg *a, const char *msg, agg_action *act)
{
    Rsvp__V1__WriterReply r = RSVP__V1__WRITER_REPLY__INIT;
    r.status = RSVP__V1__WRITER_REPLY__STATUS__ERROR;
    r.message = (char *)msg;
    agg_on_reply(a, 0, &r, act);
}

/* Issue 18, hole 3: a batch the writer always rejects. Nothing is dropped for good: the range is
 * re-read from the stored offset, and batches are halved until the one record the writer rejects on
 * its own is named; the records before it are applied meanwhile. */
static void test_rejected_batch_is_halved_to_the_record(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 0, 0);
    agg_assign(a, 0, 0);
    const int64_t bad = 5; /* offsets 0..7; the writer rejects any batch holding offset 5 */
    int64_t stored = 0;
    int found = 0, started = 0, rejections = 0, accepted = 0;
    for (int round = 0; round < 20 && !found; round++) {
        for (int64_t off = stored; off < 8; off++) {
            int rc = consume(a, 0, off, off == bad ? "BAD" : "ok", 1);
            if (rc == ERR_RANGE)
                break; /* capped: the rest is read again after this batch */
            assert_int_equal(rc, 0);
            if (agg_freeze(a, 0) == 1)
                break;
        }
        agg_freeze_for(a, 1, AGG_TRIG_INTERVAL);
        int32_t p;
        Rsvp__V1__WriterRequest *req = take(a, &p);
        int64_t f = req->batch->from_offset, t = req->batch->to_offset;
        rsvp__v1__writer_request__free_unpacked(req, NULL);
        agg_action act;
        if (f <= bad && bad < t) {
            reject_batch(a, "row with a string that is not UTF-8", &act);
            rejections++;
            assert_int_equal(act.act, AGG_ACT_REQUERY);
            started += act.search == AGG_SEARCH_STARTED;
            found = act.search == AGG_SEARCH_FOUND;
            agg_assign(a, 0, stored); /* what the caller does: re-query, re-read */
        } else {
            reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
            assert_int_equal(act.act, AGG_ACT_COMMIT);
            stored = t;
            accepted++;
            agg_assign(a, 0, stored);
        }
    }
    assert_true(found);
    assert_int_equal(started, 1);
    assert_true(rejections >= 3 && rejections <= 5); /* 8 messages: about log2(8) halvings + 1 */
    assert_int_equal(stored, bad);                   /* everything before it applied, nothing after */
    agg_part st;
    assert_int_equal(agg_part_at(a, 0, &st), 0);
    assert_true(st.rejected);
    assert_int_equal(st.bad_offset, bad);
    assert_string_equal(st.error, "row with a string that is not UTF-8");
    assert_true(agg_get_stats(a)->cut[AGG_TRIG_BISECT] > 0);
    /* the writer accepts it in the end (an operator fixed the cause): the search ends */
    assert_int_equal(consume(a, 0, bad, "BAD", 1), 0);
    assert_int_equal(agg_freeze(a, 0), 1); /* cap 1: cut at once */
    int32_t p;
    rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
    agg_action act;
    reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
    assert_int_equal(act.search, AGG_SEARCH_ENDED);
    assert_int_equal(agg_part_at(a, 0, &st), 0);
    assert_false(st.rejected);
    assert_int_equal(st.cap, 0);
    agg_free(a);
}

/* A held partition refuses messages and says it is blocked until released. */
static void test_hold_blocks_partition(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 0, 0);
    agg_assign(a, 0, 0);
    agg_hold(a, 0, 1000);
    agg_part st;
    assert_int_equal(agg_part_at(a, 0, &st), 0);
    assert_true(st.blocked);
    assert_int_equal(st.holds, 1);
    assert_int_equal(consume(a, 0, 0, "A", 1), ERR_RANGE);
    agg_hold(a, 0, 0);
    agg_rewound(a, 0);
    assert_int_equal(consume(a, 0, 0, "A", 1), 0);
    agg_free(a);
}

/* Full when its previous batch is acknowledged, before anyone froze it: the next message cuts the
 * batch first, so it never grows past max_keys. */
static void test_full_table_is_cut_before_the_next_message(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 2, 0);
    agg_assign(a, 0, 0);
    consume(a, 0, 0, "A", 1);
    consume(a, 0, 1, "B", 1); /* full, not frozen yet */
    assert_int_equal(consume(a, 0, 2, "C", 1), 0);
    int32_t p;
    Rsvp__V1__WriterRequest *req = take(a, &p);
    assert_int_equal(req->batch->to_offset, 2);
    assert_int_equal(req->batch->n_rows, 2);
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    agg_free(a);
}

/* Two partitions that refill as fast as they are acknowledged (a backlog): the writer gets their batches in
 * turn. Sending the first frozen partition in table order starved partition 1 for as long as partition 0
 * had a backlog. */
static void test_frozen_partitions_are_sent_in_turn(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 2, 0);
    agg_assign(a, 0, 0);
    agg_assign(a, 1, 0);
    int64_t off[2] = {0, 0};
    int32_t sent[6];
    for (int round = 0; round < 6; round++) {
        /* every partition that has no frozen batch fills up and freezes (max_keys 2) */
        for (int32_t q = 0; q < 2; q++) {
            int64_t from, next;
            int pending;
            assert_int_equal(agg_range(a, q, &from, &next, &pending), 0);
            if (pending)
                continue;
            char name[48];
            snprintf(name, sizeof name, "K%d-%lld", (int)q, (long long)off[q]);
            assert_int_equal(consume(a, q, off[q], name, 1), 0);
            off[q]++;
            snprintf(name, sizeof name, "K%d-%lld", (int)q, (long long)off[q]);
            assert_int_equal(consume(a, q, off[q], name, 1), 0);
            off[q]++;
            assert_int_equal(agg_freeze(a, 0), 1);
        }
        Rsvp__V1__WriterRequest *req = take(a, &sent[round]);
        rsvp__v1__writer_request__free_unpacked(req, NULL);
        agg_action act;
        reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
        assert_int_equal(act.result, AGG_RES_OK);
    }
    for (int round = 1; round < 6; round++)
        assert_int_not_equal(sent[round], sent[round - 1]);
    agg_free(a);
}

static void test_max_bytes_freezes_early(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 0, 8192); /* no key limit, 8 KiB of keys */
    agg_assign(a, 0, 0);
    char name[300];
    int64_t off = 0;
    int frozen = 0;
    for (; off < 1000 && !frozen; off++) {
        snprintf(name, sizeof name, "%0250lld", (long long)off); /* 250-byte distinct names */
        consume(a, 0, off, name, 1);
        frozen = agg_freeze(a, 0);
    }
    assert_int_equal(frozen, 1);
    assert_true(off > 20 && off < 40); /* ~8 KiB / ~300 B per key */
    int32_t p;
    const void *data;
    size_t len;
    assert_int_equal(agg_next_request(a, &p, &data, &len), 1);
    assert_true(len < 8192 + 1024); /* the packed batch stays near the bound */
    assert_int_equal(agg_get_stats(a)->cut[AGG_TRIG_MAX_BYTES], 1);
    agg_free(a);
}

static void test_batches_counted_by_trigger(void **state)
{
    (void)state;
    agg *a = agg_new("t", "s", 2, 0);
    agg_assign(a, 0, 0);
    agg_assign(a, 1, 0);
    agg_action act;
    int32_t p;
    consume(a, 0, 0, "A", 1);
    consume(a, 0, 1, "B", 1); /* partition 0 full: max_keys even under an interval trigger */
    consume(a, 1, 0, "C", 1);
    assert_int_equal(agg_freeze(a, 1), 2);
    const agg_stats *st = agg_get_stats(a);
    assert_int_equal(st->cut[AGG_TRIG_MAX_KEYS], 1);
    assert_int_equal(st->cut[AGG_TRIG_INTERVAL], 1);
    for (int i = 0; i < 2; i++) {
        rsvp__v1__writer_request__free_unpacked(take(a, &p), NULL);
        reply(a, RSVP__V1__WRITER_REPLY__STATUS__OK, -100, &act);
    }
    consume(a, 1, 1, "D", 1);
    assert_int_equal(agg_freeze_for(a, 0, AGG_TRIG_SHUTDOWN), 0); /* not full, no trigger */
    assert_int_equal(agg_freeze_for(a, 1, AGG_TRIG_SHUTDOWN), 1);
    assert_int_equal(st->cut[AGG_TRIG_SHUTDOWN], 1);
    assert_int_equal(st->cut[AGG_TRIG_MAX_BYTES], 0);
    assert_string_equal(agg_trigger_name(AGG_TRIG_MAX_KEYS), "max_keys");
    assert_string_equal(agg_trigger_name(AGG_NTRIG), "unknown");
    agg_free(a);
}

static void test_offset_query_packs(void **state)
{
    (void)state;
    int32_t parts[] = {0, 3};
    void *buf;
    size_t len;
    assert_int_equal(agg_pack_offset_query("rsvps.parsed", parts, 2, &buf, &len), 0);
    Rsvp__V1__WriterRequest *req = rsvp__v1__writer_request__unpack(NULL, len, buf);
    assert_non_null(req);
    assert_int_equal(req->body_case, RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY);
    assert_string_equal(req->offset_query->topic, "rsvps.parsed");
    assert_int_equal(req->offset_query->n_partitions, 2);
    assert_int_equal(req->offset_query->partitions[1], 3);
    rsvp__v1__writer_request__free_unpacked(req, NULL);
    free(buf);
}

/* agg_consume_many (what the service uses) == agg_consume one message at a time: same statuses,
 * stats, ranges and byte-identical batches, through early cuts, deferrals, duplicates, decode
 * errors and unassigned partitions falling in the middle of a call. */
static void test_consume_many_equals_one_by_one(void **state)
{
    (void)state;
    agg *one = agg_new("t", "s", 7, 0), *many = agg_new("t", "s", 7, 0);
    assert_non_null(one);
    assert_non_null(many);
    for (int32_t p = 0; p < 3; p++) {
        assert_int_equal(agg_assign(one, p, -1), 0);
        assert_int_equal(agg_assign(many, p, -1), 0);
    }
    enum { N = 3000, CHUNK = 64 };
    static uint8_t pay[CHUNK][256];
    agg_msg m[CHUNK];
    int64_t next_off[4] = {0, 0, 0, 0};
    uint64_t x = 12345;
    for (int done = 0; done < N;) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = 1 + (x >> 33) % CHUNK;
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            unsigned r = (unsigned)(x >> 33);
            int32_t part = r % 10 == 0 ? 3 : (int32_t)(r % 3); /* 3 is never assigned */
            int64_t off = next_off[part]++;
            if (r % 37 == 0 && off > 2)
                off -= 2; /* a duplicate */
            char name[48];
            snprintf(name, sizeof name, "e%u", (r >> 8) % 23);
            size_t len = rsvp(name, (int)((r >> 4) % 3), 1000 + off, pay[i], sizeof pay[i]);
            if (r % 53 == 0)
                len = 3; /* truncated: a decode error */
            m[i] = (agg_msg){part, off, pay[i], len, 12345};
        }
        agg_consume_many(many, m, n);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(m[i].rc, agg_consume(one, m[i].partition, m[i].offset, m[i].payload, m[i].len));
        done += (int)n;
        /* a writer round every chunk: cut, compare the requests byte for byte, acknowledge */
        int all = (x >> 20) % 4 == 0;
        assert_int_equal(agg_freeze(many, all), agg_freeze(one, all));
        int32_t p1, p2;
        const void *d1, *d2;
        size_t l1, l2;
        int has = agg_next_request(one, &p1, &d1, &l1);
        assert_int_equal(agg_next_request(many, &p2, &d2, &l2), has);
        if (has) {
            assert_int_equal(p1, p2);
            assert_int_equal(l1, l2);
            assert_memory_equal(d1, d2, l1);
            Rsvp__V1__WriterReply ok = RSVP__V1__WRITER_REPLY__INIT;
            ok.status = RSVP__V1__WRITER_REPLY__STATUS__OK;
            agg_action act1, act2;
            agg_on_reply(one, 0, &ok, &act1);
            agg_on_reply(many, 0, &ok, &act2);
            assert_memory_equal(&act1, &act2, sizeof act1);
        }
    }
    const agg_stats *s1 = agg_get_stats(one), *s2 = agg_get_stats(many);
    assert_memory_equal(s1, s2, sizeof *s1);
    assert_true(s1->deferred > 0 && s1->duplicates > 0 && s1->decode_errors > 0);
    assert_true(s1->cut[AGG_TRIG_MAX_KEYS] > 0);
    for (int32_t p = 0; p < 3; p++) {
        int64_t f1, n1, f2, n2;
        int h1, h2;
        assert_int_equal(agg_range(one, p, &f1, &n1, &h1), 0);
        assert_int_equal(agg_range(many, p, &f2, &n2, &h2), 0);
        assert_true(f1 == f2 && n1 == n2 && h1 == h2);
    }
    agg_free(one);
    agg_free(many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freeze_builds_batch_over_range),
        cmocka_unit_test(test_ok_starts_next_range_without_merging),
        cmocka_unit_test(test_stale_equal_to_offset_is_success),
        cmocka_unit_test(test_stale_other_drops_state_and_seeks),
        cmocka_unit_test(test_retry_keeps_frozen_batch_byte_identical),
        cmocka_unit_test(test_error_drops_state_and_requeries),
        cmocka_unit_test(test_revoke_discards_and_drops_inflight_reply),
        cmocka_unit_test(test_decode_error_still_covers_offset),
        cmocka_unit_test(test_null_response_creates_zero_row),
        cmocka_unit_test(test_max_keys_freezes_early_and_backlogs),
        cmocka_unit_test(test_state_shrinks_after_a_big_batch),
        cmocka_unit_test(test_full_table_defers_messages_until_acked),
        cmocka_unit_test(test_deferral_refuses_later_messages_until_reread),
        cmocka_unit_test(test_rejected_batch_is_halved_to_the_record),
        cmocka_unit_test(test_hold_blocks_partition),
        cmocka_unit_test(test_full_table_is_cut_before_the_next_message),
        cmocka_unit_test(test_max_bytes_freezes_early),
        cmocka_unit_test(test_frozen_partitions_are_sent_in_turn),
        cmocka_unit_test(test_batches_counted_by_trigger),
        cmocka_unit_test(test_offset_query_packs),
        cmocka_unit_test(test_consume_many_equals_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
