/* test_writer_request.c: the writer's request path (services/writer/writer.c) from packed bytes to
 * the reply, on the in-memory model of the database side (writer_model.c): what is refused is
 * refused before decoding or before the database, with its reason, and changes nothing; what is
 * valid is applied once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "proto/rsvp.pb-c.h"
#include "services/writer/writer.h"
#include "tests/unit/writer_model.h"

static const writer_limits LIM = {.max_request_bytes = (size_t)80 << 20, /* the 64 MB flood gets through */
                                  .max_batch_rows = 1000,
                                  .max_partitions = 100,
                                  .max_offset = (int64_t)1 << 53};

typedef struct fixture {
    writer_model *m;
    writer_db db;
    writer_arena *ar;
    buf out;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->m = writer_model_new(LIM.max_batch_rows, LIM.max_offset);
    f->db = writer_model_db(f->m);
    assert_int_equal(writer_arena_new(&f->ar, 1 << 20, 4 << 20), 0); /* 4 MB of decode memory */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    writer_model_free(f->m);
    writer_arena_free(f->ar);
    buf_free(&f->out);
    free(f);
    return 0;
}

/* Send bytes; the reply's status, and its message in *msg (static copy). */
static int send_bytes(fixture *f, const void *p, size_t n, char *msg, size_t cap)
{
    assert_int_equal(writer_handle(&f->db, &LIM, f->ar, p, n, &f->out), 0);
    Rsvp__V1__WriterReply *r = rsvp__v1__writer_reply__unpack(NULL, f->out.len, (uint8_t *)f->out.data);
    assert_non_null(r);
    int st = r->status;
    snprintf(msg, cap, "%s", r->message ? r->message : "");
    rsvp__v1__writer_reply__free_unpacked(r, NULL);
    return st;
}

static int send_batch(fixture *f, const Rsvp__V1__Batch *b, char *msg, size_t cap)
{
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_BATCH;
    req.batch = (Rsvp__V1__Batch *)b;
    size_t n = rsvp__v1__writer_request__get_packed_size(&req);
    uint8_t *p = malloc(n);
    rsvp__v1__writer_request__pack(&req, p);
    int st = send_bytes(f, p, n, msg, cap);
    free(p);
    return st;
}

/* A refusal: ERROR whose message starts with the reason, the database side never called, nothing
 * changed. */
static void expect_refused(fixture *f, int st, const char *msg, const char *reason, uint64_t calls,
                           uint64_t fp)
{
    assert_int_equal(st, RSVP__V1__WRITER_REPLY__STATUS__ERROR);
    if (strncmp(msg, reason, strlen(reason)) != 0 || msg[strlen(reason)] != ':')
        fail_msg("reply '%s', want reason %s", msg, reason);
    assert_int_equal(writer_model_calls(f->m), calls);
    assert_true(writer_model_fingerprint(f->m) == fp);
}

static Rsvp__V1__AggRow rows[3];
static Rsvp__V1__AggRow *rowp[3] = {&rows[0], &rows[1], &rows[2]};

static Rsvp__V1__Batch three_rows(int64_t from, int64_t to)
{
    static const char *const names[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        rsvp__v1__agg_row__init(&rows[i]);
        rows[i].event_name = (char *)names[i];
        rows[i].response = "yes";
        rows[i].delta = i + 1;
    }
    Rsvp__V1__Batch b = RSVP__V1__BATCH__INIT;
    b.topic = "t";
    b.partition = 3;
    b.from_offset = from;
    b.to_offset = to;
    b.has_messages = 1;
    b.messages = 6;
    b.rows = rowp;
    b.n_rows = 3;
    return b;
}

static void test_valid_batches_apply_once_in_order(void **state)
{
    fixture *f = *state;
    char msg[256];
    Rsvp__V1__Batch b = three_rows(-1, 10);
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__OK);
    assert_int_equal(writer_model_offset(f->m, "t", 3), 10);
    assert_int_equal(writer_model_total(f->m), 6);
    uint64_t fp = writer_model_fingerprint(f->m);
    /* the same batch again (a replay): STALE with the stored offset, nothing changes */
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__STALE);
    assert_true(writer_model_fingerprint(f->m) == fp);
    /* a failed transaction: RETRY, nothing changes */
    b = three_rows(10, 20);
    writer_model_fail_next(f->m, ERR_RETRY);
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__RETRY);
    assert_true(writer_model_fingerprint(f->m) == fp);
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__OK);
    assert_int_equal(writer_model_total(f->m), 12);
    /* a key twice: the database refuses it, nothing changes */
    b = three_rows(20, 30);
    rows[1].event_name = "a";
    fp = writer_model_fingerprint(f->m);
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__ERROR);
    assert_true(writer_model_fingerprint(f->m) == fp);
}

/* The attacks of issue 19 on a partition with a stored offset: each refused with its reason
 * before the database. */
static void test_hostile_batches_are_refused_before_the_database(void **state)
{
    fixture *f = *state;
    char msg[256];
    Rsvp__V1__Batch b = three_rows(-1, 10);
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__OK);
    uint64_t calls = writer_model_calls(f->m), fp = writer_model_fingerprint(f->m);

    b = three_rows(10, (int64_t)1 << 62); /* to 2^62 with deltas of -10^15 */
    rows[0].delta = rows[1].delta = -1000000000000000;
    expect_refused(f, send_batch(f, &b, msg, sizeof msg), msg, "bad_offset", calls, fp);
    b = three_rows(10, 20);
    rows[2].delta = -3;
    expect_refused(f, send_batch(f, &b, msg, sizeof msg), msg, "bad_delta", calls, fp);
    b = three_rows(10, 20);
    rows[2].delta = 1000000000000000;
    expect_refused(f, send_batch(f, &b, msg, sizeof msg), msg, "bad_delta", calls, fp);
    b = three_rows(10, 20);
    b.messages = 2; /* rows exceed messages */
    expect_refused(f, send_batch(f, &b, msg, sizeof msg), msg, "bad_messages", calls, fp);
    b = three_rows(10, 20);
    b.messages = 5;
    expect_refused(f, send_batch(f, &b, msg, sizeof msg), msg, "bad_messages", calls, fp);
    b = three_rows(10, 13); /* 3 offsets cannot hold 6 messages */
    expect_refused(f, send_batch(f, &b, msg, sizeof msg), msg, "bad_range", calls, fp);
    b = three_rows(10, 10);
    expect_refused(f, send_batch(f, &b, msg, sizeof msg), msg, "bad_range", calls, fp);
    b = three_rows(-5, 10);
    expect_refused(f, send_batch(f, &b, msg, sizeof msg), msg, "bad_offset", calls, fp);
    b = three_rows(10, 20);
    b.has_messages = 0;
    expect_refused(f, send_batch(f, &b, msg, sizeof msg), msg, "bad_messages", calls, fp);
}

/* Bytes: empty, oversize, not protobuf, 64 MB of minimal rows (counted, not decoded: with 4 MB
 * of decode memory the refusal would otherwise be decode_limit), a decode bomb within the row
 * limit, too many partitions. */
static void test_requests_refused_before_decoding(void **state)
{
    fixture *f = *state;
    char msg[256];
    uint64_t calls = writer_model_calls(f->m), fp = writer_model_fingerprint(f->m);
    expect_refused(f, send_bytes(f, "", 0, msg, sizeof msg), msg, "empty", calls, fp);
    static const uint8_t junk[] = {0xff, 0x01, 0x02};
    expect_refused(f, send_bytes(f, junk, sizeof junk, msg, sizeof msg), msg, "unpack", calls, fp);

    size_t rows_n = (size_t)16 << 20, len = 5 + rows_n * 4;
    uint8_t *big = malloc(len + 1);
    assert_non_null(big);
    size_t body = rows_n * 4;
    big[0] = 0x0a;
    big[1] = (uint8_t)(0x80 | (body & 0x7f));
    big[2] = (uint8_t)(0x80 | ((body >> 7) & 0x7f));
    big[3] = (uint8_t)(0x80 | ((body >> 14) & 0x7f));
    big[4] = (uint8_t)((body >> 21) & 0x7f);
    for (size_t i = 0; i < rows_n; i++)
        memcpy(big + 5 + i * 4, "\x2a\x02\x68\x01", 4);
    expect_refused(f, send_bytes(f, big, len, msg, sizeof msg), msg, "too_many_rows", calls, fp);
    writer_limits small = LIM;
    small.max_request_bytes = 1 << 20;
    assert_int_equal(writer_handle(&f->db, &small, f->ar, big, len, &f->out), 0);
    Rsvp__V1__WriterReply *r = rsvp__v1__writer_reply__unpack(NULL, f->out.len, (uint8_t *)f->out.data);
    assert_non_null(r);
    assert_non_null(strstr(r->message, "oversize"));
    rsvp__v1__writer_reply__free_unpacked(r, NULL);

    /* one row whose event_name comes 512k times: protobuf-c keeps every copy (8 MB > 4 MB) */
    size_t copies = 1 << 19, rowlen = copies * 2 + 2;
    size_t at = 0;
    static const uint8_t required[] = {0x0a, 0x01, 't', 0x10, 0x00, 0x18, 0x00, 0x20, 0x01};
    big[at++] = 0x0a;
    big[at++] = (uint8_t)(0x80 | ((rowlen + 4 + sizeof required) & 0x7f));
    big[at++] = (uint8_t)(0x80 | (((rowlen + 4 + sizeof required) >> 7) & 0x7f));
    big[at++] = (uint8_t)(((rowlen + 4 + sizeof required) >> 14) & 0x7f);
    memcpy(big + at, required, sizeof required); /* topic, partition, from_offset, to_offset */
    at += sizeof required;
    big[at++] = 0x2a;
    big[at++] = (uint8_t)(0x80 | (rowlen & 0x7f));
    big[at++] = (uint8_t)(0x80 | ((rowlen >> 7) & 0x7f));
    big[at++] = (uint8_t)((rowlen >> 14) & 0x7f);
    for (size_t i = 0; i < copies; i++) {
        big[at++] = 0x0a;
        big[at++] = 0x00;
    }
    big[at++] = 0x68;
    big[at++] = 0x00;
    expect_refused(f, send_bytes(f, big, at, msg, sizeof msg), msg, "decode_limit", calls, fp);

    at = 0; /* an offset query of 200 partitions (packed) */
    static const uint8_t head[] = {0x12, 0xce, 0x01, 0x0a, 0x01, 't', 0x12, 0xc8, 0x01};
    memcpy(big, head, sizeof head);
    memset(big + sizeof head, 0, 200);
    expect_refused(f, send_bytes(f, big, sizeof head + 200, msg, sizeof msg), msg, "too_many_partitions",
                   calls, fp);
    free(big);
    /* the arena is usable afterwards */
    Rsvp__V1__Batch b = three_rows(-1, 6);
    b.topic = "after";
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__OK);
}

/* A catch-up batch grows the decode block; a run of small batches afterwards gives it back (the
 * soak saw the writers' RSS step up at each fault's catch-up and stay there). */
static void test_arena_shrinks_after_a_big_batch(void **state)
{
    fixture *f = *state;
    char msg[256];
    static char names[1000][501];
    static Rsvp__V1__AggRow big[1000];
    static Rsvp__V1__AggRow *bigp[1000];
    for (int i = 0; i < 1000; i++) {
        memset(names[i], 'a' + i % 26, 500);
        snprintf(names[i], 12, "%010d", i); /* distinct keys */
        names[i][10] = 'x';
        rsvp__v1__agg_row__init(&big[i]);
        big[i].event_name = names[i];
        big[i].response = "yes";
        big[i].delta = 1;
        bigp[i] = &big[i];
    }
    Rsvp__V1__Batch b = three_rows(-1, 1000);
    b.rows = bigp;
    b.n_rows = 1000;
    b.messages = 1000;
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__OK);
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__STALE);
    size_t grown = writer_arena_kept(f->ar);
    assert_true(grown >= 500 * 1000); /* the block holds a request like the big one */
    for (int64_t i = 0; i < 130; i++) {
        Rsvp__V1__Batch s = three_rows(1000 + 10 * i, 1010 + 10 * i);
        assert_int_equal(send_batch(f, &s, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__OK);
    }
    assert_true(writer_arena_kept(f->ar) < 16 * 1024);
    assert_int_equal(writer_model_total(f->m), 1000 + 130 * 6);
    /* and it grows again for the next big one */
    b.from_offset = 2300;
    b.to_offset = 3300;
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__OK);
    assert_int_equal(send_batch(f, &b, msg, sizeof msg), RSVP__V1__WRITER_REPLY__STATUS__STALE);
    assert_true(writer_arena_kept(f->ar) >= 500 * 1000);
}

int main(void)
{
    log_init("test", "test", LOGL_ERROR);
    if (writer_metrics_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_batches_apply_once_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_batches_are_refused_before_the_database, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_requests_refused_before_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_shrinks_after_a_big_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
