/* test_agg_wlink.c: the aggregator's nng REQ link against a tiny fake writer (REP socket in a
 * thread): a reply arrives, a silent writer times out, garbage is reported, one dead URL in the
 * list does not matter, and a query channel works while a batch is outstanding. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "services/aggregator/wlink.h"

/* Ports in the aggregator's range, per process so that concurrent runs (make unit, make asan-unit)
 * do not collide: URL is the fake writer, DEAD a port nobody listens on. */
static char URL[64], DEAD[64], BOTH[160];

static int setup_urls(void **state)
{
    (void)state;
    int port = 31230 + 2 * (int)(getpid() % 30);
    snprintf(URL, sizeof URL, "tcp://127.0.0.1:%d", port);
    snprintf(DEAD, sizeof DEAD, "tcp://127.0.0.1:%d", port + 1);
    snprintf(BOTH, sizeof BOTH, "%s,%s", DEAD, URL);
    return 0;
}

typedef enum mode { ANSWER_OK, ANSWER_GARBAGE, ANSWER_NEVER, ANSWER_QUERIES } mode;

typedef struct fake {
    nng_socket sock;
    mode m;
    int served;
    pthread_t th;
} fake;

static void *serve(void *arg)
{
    fake *f = arg;
    for (;;) {
        nng_msg *msg;
        if (nng_recvmsg(f->sock, &msg, 0) != 0)
            return NULL; /* closed */
        Rsvp__V1__WriterRequest *req =
            rsvp__v1__writer_request__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
        nng_msg_free(msg);
        f->served++;
        if (f->m == ANSWER_NEVER || (f->m == ANSWER_QUERIES && req &&
                                     req->body_case != RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY)) {
            rsvp__v1__writer_request__free_unpacked(req, NULL);
            continue;
        }
        uint8_t out[256];
        size_t n;
        if (f->m == ANSWER_GARBAGE || !req) {
            memset(out, 0xff, 8);
            n = 8;
        } else {
            Rsvp__V1__WriterReply r = RSVP__V1__WRITER_REPLY__INIT;
            Rsvp__V1__PartitionOffset po = RSVP__V1__PARTITION_OFFSET__INIT;
            Rsvp__V1__PartitionOffset *pos[1] = {&po};
            r.status = RSVP__V1__WRITER_REPLY__STATUS__OK;
            if (req->body_case == RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY) {
                po.partition = req->offset_query->partitions[0];
                po.next_offset = 42;
                r.n_offsets = 1;
                r.offsets = pos;
            } else {
                r.has_batch_id = 1;
                r.batch_id = 7;
            }
            n = rsvp__v1__writer_reply__pack(&r, out);
        }
        rsvp__v1__writer_request__free_unpacked(req, NULL);
        nng_send(f->sock, out, n, 0);
    }
}

static void fake_start(fake *f, mode m)
{
    memset(f, 0, sizeof *f);
    f->m = m;
    assert_int_equal(nng_rep0_open(&f->sock), 0);
    assert_int_equal(nng_listen(f->sock, URL, NULL, 0), 0);
    pthread_create(&f->th, NULL, serve, f);
}

static void fake_stop(fake *f)
{
    nng_close(f->sock);
    pthread_join(f->th, NULL);
}

static size_t query(uint8_t *out, int32_t part)
{
    Rsvp__V1__OffsetQuery q = RSVP__V1__OFFSET_QUERY__INIT;
    q.topic = "t";
    q.n_partitions = 1;
    q.partitions = &part;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY;
    req.offset_query = &q;
    return rsvp__v1__writer_request__pack(&req, out);
}

static void test_reply_arrives_with_dead_url_in_list(void **state)
{
    (void)state;
    fake f;
    fake_start(&f, ANSWER_OK);
    wlink *w;
    assert_int_equal(wlink_open(&w, BOTH), 0);
    uint8_t b[64];
    size_t n = query(b, 3);
    Rsvp__V1__WriterReply *r = NULL;
    /* several requests: load-balancing must route them all to the live writer */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(wlink_call(w, WLINK_QUERY, b, n, 5000, &r), 0);
        assert_int_equal(r->status, RSVP__V1__WRITER_REPLY__STATUS__OK);
        assert_int_equal(r->n_offsets, 1);
        assert_int_equal(r->offsets[0]->partition, 3);
        assert_int_equal(r->offsets[0]->next_offset, 42);
        rsvp__v1__writer_reply__free_unpacked(r, NULL);
    }
    assert_int_equal(wlink_poll(w, WLINK_QUERY, 0, &r), ERR_NOTFOUND);
    wlink_free(w);
    fake_stop(&f);
}

/* A batch request to a writer that is stuck on it does not block an offset query. */
static size_t batch(uint8_t *out)
{
    Rsvp__V1__Batch b = RSVP__V1__BATCH__INIT;
    b.topic = "t";
    b.from_offset = -1;
    b.to_offset = 3;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_BATCH;
    req.batch = &b;
    return rsvp__v1__writer_request__pack(&req, out);
}

static void test_query_channel_independent_of_batch(void **state)
{
    (void)state;
    fake f;
    fake_start(&f, ANSWER_QUERIES);
    wlink *w;
    assert_int_equal(wlink_open(&w, URL), 0);
    uint8_t b[64], q[64];
    size_t nb = batch(b), nq = query(q, 2);
    assert_int_equal(wlink_start(w, WLINK_BATCH, b, nb, 2000), 0);
    assert_true(wlink_busy(w, WLINK_BATCH));
    assert_int_equal(wlink_start(w, WLINK_BATCH, b, nb, 2000), ERR_INVALID);
    Rsvp__V1__WriterReply *r = NULL;
    assert_int_equal(wlink_poll(w, WLINK_BATCH, 0, &r), 1);
    assert_int_equal(wlink_call(w, WLINK_QUERY, q, nq, 2000, &r), 0);
    assert_int_equal(r->offsets[0]->next_offset, 42);
    rsvp__v1__writer_reply__free_unpacked(r, NULL);
    assert_true(wlink_busy(w, WLINK_BATCH));
    int rc;
    while ((rc = wlink_poll(w, WLINK_BATCH, 100, &r)) == 1) {
    }
    assert_int_equal(rc, ERR_TIMEOUT);
    assert_false(wlink_busy(w, WLINK_BATCH));
    wlink_free(w);
    fake_stop(&f);
}

static void test_silent_writer_times_out(void **state)
{
    (void)state;
    fake f;
    fake_start(&f, ANSWER_NEVER);
    wlink *w;
    assert_int_equal(wlink_open(&w, URL), 0);
    uint8_t b[64];
    size_t n = query(b, 1);
    Rsvp__V1__WriterReply *r = NULL;
    assert_int_equal(wlink_call(w, WLINK_BATCH, b, n, 300, &r), ERR_TIMEOUT);
    /* the channel is usable again */
    assert_int_equal(wlink_call(w, WLINK_BATCH, b, n, 300, &r), ERR_TIMEOUT);
    wlink_free(w);
    fake_stop(&f);
}

static void test_no_writer_times_out(void **state)
{
    (void)state;
    wlink *w;
    assert_int_equal(wlink_open(&w, DEAD), 0);
    uint8_t b[64];
    size_t n = query(b, 1);
    Rsvp__V1__WriterReply *r = NULL;
    assert_int_equal(wlink_call(w, WLINK_BATCH, b, n, 300, &r), ERR_TIMEOUT);
    wlink_free(w);
}

static void test_garbage_reply_is_invalid(void **state)
{
    (void)state;
    fake f;
    fake_start(&f, ANSWER_GARBAGE);
    wlink *w;
    assert_int_equal(wlink_open(&w, URL), 0);
    uint8_t b[64];
    size_t n = query(b, 1);
    Rsvp__V1__WriterReply *r = NULL;
    assert_int_equal(wlink_call(w, WLINK_QUERY, b, n, 5000, &r), ERR_INVALID);
    wlink_free(w);
    fake_stop(&f);
}

static void test_bad_url_rejected(void **state)
{
    (void)state;
    wlink *w = NULL;
    assert_int_equal(wlink_open(&w, "nonsense://x"), ERR_INVALID);
    assert_int_equal(wlink_open(&w, " , "), ERR_INVALID);
    assert_null(w);
    wlink_free(NULL);
}

/* tls+tcp:// is checked before anything is dialled: a CA is required, files must be readable
 * PEM, a certificate needs its key. Plain tcp:// URLs ignore the TLS settings. */
static void test_tls_settings_checked(void **state)
{
    (void)state;
    wlink *w = NULL;
    const char *tls_url = "tls+tcp://127.0.0.1:31299";
    wlink_tls none = {0};
    wlink_tls missing = {.ca_file = "/nonexistent/ca.crt"};
    wlink_tls not_pem = {.ca_file = "/proc/self/cmdline"};
    wlink_tls half = {.ca_file = "/nonexistent/ca.crt", .cert_file = "/nonexistent/c.crt"};
    assert_int_equal(wlink_open_tls(&w, tls_url, NULL), ERR_INVALID);
    assert_int_equal(wlink_open_tls(&w, tls_url, &none), ERR_INVALID);
    assert_int_equal(wlink_open_tls(&w, tls_url, &missing), ERR_INVALID);
    assert_int_equal(wlink_open_tls(&w, tls_url, &not_pem), ERR_INVALID);
    assert_int_equal(wlink_open_tls(&w, tls_url, &half), ERR_INVALID);
    assert_null(w);
    assert_int_equal(wlink_open_tls(&w, URL, &missing), 0);
    wlink_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_arrives_with_dead_url_in_list),
        cmocka_unit_test(test_query_channel_independent_of_batch),
        cmocka_unit_test(test_silent_writer_times_out),
        cmocka_unit_test(test_no_writer_times_out),
        cmocka_unit_test(test_garbage_reply_is_invalid),
        cmocka_unit_test(test_bad_url_rejected),
        cmocka_unit_test(test_tls_settings_checked),
    };
    return cmocka_run_group_tests(tests, setup_urls, NULL);
}
