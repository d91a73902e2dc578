/* test_ktxn.c: the transactional producer (common/ktxn.h) against librdkafka's in-process mock
 * cluster, which can inject the broker faults real Kafka cannot be told to produce on cue: a slow
 * EndTxn (retried), an abortable EndTxn error, a fencing, a refused AddOffsetsToTxn, a
 * ProduceRequest refused as too large. The mock cluster neither hides aborted records nor stores
 * transactional offsets, so these tests assert ktxn's outcomes and what reached the broker; what a
 * read_committed reader sees is the integration tests' part (real broker). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/ktxn.h"
#include "common/log.h"
#include "common/metrics.h"

#define TOPIC "txn"
/* Kafka protocol ApiKeys (rdkafka_protocol.h is internal) */
#define APIKEY_PRODUCE            0
#define APIKEY_ADD_OFFSETS_TO_TXN 25
#define APIKEY_END_TXN            26

static ktxn *g_txn;
static rd_kafka_mock_cluster_t *g_mc;
static rd_kafka_topic_t *g_rkt;

/* start: a ktxn on a fresh one-broker mock cluster with topic TOPIC (1 partition), initialised. */
static void start(int call_timeout_ms, const char *const *extra)
{
    const char *defaults[32] = {"test.mock.num.brokers", "1", "linger.ms", "5", NULL};
    int n = 4;
    for (const char *const *e = extra; e && e[0]; e += 2) {
        defaults[n++] = e[0];
        defaults[n++] = e[1];
    }
    defaults[n] = NULL;
    char err[512];
    const ktxn_opts o = {
        .service = "test", .txn_id = "test-ktxn", .defaults = defaults, .call_timeout_ms = call_timeout_ms};
    assert_int_equal(ktxn_new(&g_txn, &o, err, sizeof err), 0);
    g_mc = rd_kafka_handle_mock_cluster(ktxn_handle(g_txn));
    assert_non_null(g_mc);
    assert_int_equal(rd_kafka_mock_topic_create(g_mc, TOPIC, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    backoff bo;
    backoff_init(&bo, 10, 100, 1);
    assert_int_equal(ktxn_init(g_txn, &bo, err, sizeof err), 0);
    g_rkt = rd_kafka_topic_new(ktxn_handle(g_txn), TOPIC, NULL);
    assert_non_null(g_rkt);
}

static int teardown(void **state)
{
    (void)state;
    if (g_rkt)
        rd_kafka_topic_destroy(g_rkt);
    ktxn_free(g_txn);
    g_rkt = NULL;
    g_txn = NULL;
    g_mc = NULL;
    metrics_free_all();
    return 0;
}

static int send_str(const char *v)
{
    return ktxn_send(g_txn, g_rkt, "k", 1, v, strlen(v), NULL, 0);
}

/* broker_values: the values the broker holds in TOPIC, joined by ',' into out; their count. */
static int broker_values(char *out, size_t cap)
{
    char err[512];
    /* clang-format off */
    const char *kv[] = {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(g_mc),
                        "group.id", "test-ktxn-reader", "enable.partition.eof", "true", NULL};
    /* clang-format on */
    rd_kafka_conf_t *conf = NULL;
    assert_int_equal(kafka_conf_new(&conf, "test", kv, err, sizeof err), 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    out[0] = '\0';
    int n = 0;
    int64_t deadline = clock_mono_ms() + 10000;
    for (;;) {
        assert_true(clock_mono_ms() < deadline);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (!m->err) {
            size_t used = strlen(out);
            snprintf(out + used, cap - used, "%s%.*s", n ? "," : "", (int)m->len, (const char *)m->payload);
            n++;
        }
        rd_kafka_message_destroy(m);
        if (eof)
            break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static void test_commit_delivers_every_message(void **state)
{
    (void)state;
    start(0, NULL);
    char err[512], got[256];
    assert_int_equal(ktxn_open(g_txn), 0);
    assert_int_equal(send_str("a"), 0); /* opens the transaction */
    assert_int_equal(ktxn_open(g_txn), 1);
    char *v = ktxn_reserve(g_txn, 8); /* produced in place */
    assert_non_null(v);
    memcpy(v, "b", 1);
    assert_int_equal(ktxn_send(g_txn, g_rkt, NULL, 0, v, 1, NULL, 0), 0);
    assert_int_equal(ktxn_messages(g_txn), 2);
    assert_int_equal(ktxn_commit(g_txn, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(ktxn_open(g_txn), 0);
    assert_int_equal(ktxn_commit(g_txn, NULL, NULL, err, sizeof err), 0); /* nothing open: no-op */
    assert_int_equal(broker_values(got, sizeof got), 2);
    assert_string_equal(got, "a,b");
}

static void test_abort_then_a_new_transaction(void **state)
{
    (void)state;
    start(0, NULL);
    char err[512];
    assert_int_equal(ktxn_abort(g_txn, err, sizeof err), 0); /* nothing open: no-op */
    assert_int_equal(send_str("gone"), 0);
    assert_int_equal(ktxn_abort(g_txn, err, sizeof err), 0);
    assert_int_equal(ktxn_open(g_txn), 0);
    assert_int_equal(ktxn_messages(g_txn), 0);
    assert_int_equal(send_str("kept"), 0);
    assert_int_equal(ktxn_commit(g_txn, NULL, NULL, err, sizeof err), 0);
}

/* redo: what a service does after ERR_ABORTED: the same work in a new transaction, until it
 * commits. librdkafka 2.0.2 may need one more abort to bump the producer epoch after a refused
 * batch ("skipped sequence numbers"), so up to three tries. */
static void redo(const char *v)
{
    char err[512];
    int rc = ERR_ABORTED;
    for (int i = 0; i < 3 && rc == ERR_ABORTED; i++) {
        assert_int_equal(send_str(v), 0);
        rc = ktxn_commit(g_txn, NULL, NULL, err, sizeof err);
    }
    assert_int_equal(rc, 0);
}

/* The control for the next test: the injected slow EndTxn makes one commit call time out. */
static void test_slow_end_txn_times_out_one_call(void **state)
{
    (void)state;
    start(0, NULL);
    assert_int_equal(send_str("a"), 0);
    rd_kafka_flush(ktxn_handle(g_txn), 5000);
    rd_kafka_mock_broker_push_request_error_rtts(g_mc, 1, APIKEY_END_TXN, 1, RD_KAFKA_RESP_ERR_NO_ERROR, 700);
    rd_kafka_error_t *e = rd_kafka_commit_transaction(ktxn_handle(g_txn), 400);
    assert_non_null(e);
    assert_int_equal(rd_kafka_error_code(e), RD_KAFKA_RESP_ERR__TIMED_OUT);
    assert_int_equal(kafka_error_kind(e), ERR_RETRY);
    rd_kafka_error_destroy(e);
    char err[512];
    assert_int_equal(ktxn_commit(g_txn, NULL, NULL, err, sizeof err), 0); /* ktxn finishes it */
}

/* commit_error_kind: kafka_error_kind of what rd_kafka_commit_transaction returns when the broker
 * answers EndTxn with inject, in the open transaction (given a message: an empty transaction ends
 * without an EndTxn). */
static int commit_error_kind(rd_kafka_t *rk, rd_kafka_resp_err_t inject)
{
    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_VALUE("a", 1), RD_KAFKA_V_END),
                     0);
    rd_kafka_mock_push_request_errors(g_mc, APIKEY_END_TXN, 1, inject);
    rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, 5000);
    assert_non_null(e);
    int kind = kafka_error_kind(e);
    rd_kafka_error_destroy(e);
    return kind;
}

/* kafka_error_kind on the errors librdkafka itself returns for the injected faults. */
static void test_error_kinds(void **state)
{
    (void)state;
    start(0, NULL);
    rd_kafka_t *rk = ktxn_handle(g_txn);
    assert_null(rd_kafka_begin_transaction(rk));
    rd_kafka_error_t *e = rd_kafka_begin_transaction(rk); /* one is open already */
    assert_non_null(e);
    assert_int_equal(kafka_error_kind(e), ERR_INVALID);
    rd_kafka_error_destroy(e);
    assert_int_equal(commit_error_kind(rk, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID), ERR_ABORTED);
    assert_null(rd_kafka_abort_transaction(rk, 5000));
    assert_null(rd_kafka_begin_transaction(rk));
    assert_int_equal(commit_error_kind(rk, RD_KAFKA_RESP_ERR_PRODUCER_FENCED), ERR_FATAL);
}

static void test_commit_retries_a_retriable_error(void **state)
{
    (void)state;
    start(400, NULL); /* each call gives up after 400 ms; EndTxn answers after 700 */
    char err[512];
    assert_int_equal(send_str("a"), 0);
    rd_kafka_flush(ktxn_handle(g_txn), 5000);
    rd_kafka_mock_broker_push_request_error_rtts(g_mc, 1, APIKEY_END_TXN, 1, RD_KAFKA_RESP_ERR_NO_ERROR, 700);
    assert_int_equal(ktxn_commit(g_txn, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(ktxn_open(g_txn), 0);
}

/* An EndTxn the broker answers with an error: what the commit returns, and what follows. */
static void test_commit_errors(void **state)
{
    static const struct {
        rd_kafka_resp_err_t inject;
        int want; /* ktxn_commit's result */
    } cases[] = {
        {RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, ERR_ABORTED}, /* abortable */
        {RD_KAFKA_RESP_ERR_PRODUCER_FENCED, ERR_FATAL},       /* a newer instance took over */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        start(0, NULL);
        char err[512];
        assert_int_equal(send_str("a"), 0);
        rd_kafka_mock_push_request_errors(g_mc, APIKEY_END_TXN, 1, cases[i].inject);
        assert_int_equal(ktxn_commit(g_txn, NULL, NULL, err, sizeof err), cases[i].want);
        assert_non_null(strstr(err, "commit_transaction"));
        assert_int_equal(ktxn_fatal(g_txn), cases[i].want == ERR_FATAL);
        if (cases[i].want == ERR_FATAL) {
            assert_int_equal(send_str("b"), ERR_FATAL); /* nothing more goes out */
        } else {
            assert_int_equal(ktxn_open(g_txn), 0);
            redo("a"); /* the producer goes on */
        }
        teardown(state);
    }
}

static void test_fenced_abort_is_fatal(void **state)
{
    (void)state;
    start(0, NULL);
    char err[512];
    assert_int_equal(send_str("a"), 0);
    rd_kafka_flush(ktxn_handle(g_txn), 5000);
    rd_kafka_mock_push_request_errors(g_mc, APIKEY_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    assert_int_equal(ktxn_abort(g_txn, err, sizeof err), ERR_FATAL);
    assert_int_equal(ktxn_fatal(g_txn), 1);
}

static void test_offsets_go_with_the_transaction(void **state)
{
    (void)state;
    start(0, NULL);
    char err[512];
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offs, "src", 3)->offset = 42;
    rd_kafka_consumer_group_metadata_t *gmd = rd_kafka_consumer_group_metadata_new("test-ktxn-group");
    assert_int_equal(send_str("a"), 0);
    assert_int_equal(ktxn_commit(g_txn, offs, gmd, err, sizeof err), 0);
    /* a group the broker refuses: the transaction, messages and offsets, is aborted */
    assert_int_equal(send_str("b"), 0);
    offs->elems[0].offset = 50;
    rd_kafka_mock_push_request_errors(g_mc, APIKEY_ADD_OFFSETS_TO_TXN, 1,
                                      RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
    assert_int_equal(ktxn_commit(g_txn, offs, gmd, err, sizeof err), ERR_ABORTED);
    assert_non_null(strstr(err, "send_offsets_to_transaction"));
    assert_int_equal(ktxn_open(g_txn), 0);
    assert_int_equal(send_str("b"), 0);
    assert_int_equal(ktxn_commit(g_txn, offs, gmd, err, sizeof err), 0);
    rd_kafka_consumer_group_metadata_destroy(gmd);
    rd_kafka_topic_partition_list_destroy(offs);
}

/* refuse_one: a transaction whose only message (v) the broker refuses as too large. */
static void refuse_one(const char *v, size_t len)
{
    char err[512];
    rd_kafka_mock_push_request_errors(g_mc, APIKEY_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    assert_int_equal(ktxn_send(g_txn, g_rkt, NULL, 0, v, len, NULL, 0), 0);
    assert_int_equal(ktxn_commit(g_txn, NULL, NULL, err, sizeof err), ERR_ABORTED);
    assert_non_null(strstr(err, "not delivered"));
}

static void test_refused_message_aborts_and_is_remembered(void **state)
{
    (void)state;
    start(0, NULL);
    char got[256];
    assert_int_equal(ktxn_refused(g_txn, "huge", 4), 0);
    refuse_one("huge", 4);
    assert_int_equal(ktxn_refused(g_txn, "huge", 4), 1);
    assert_int_equal(ktxn_refused(g_txn, "hugs", 4), 0); /* same length, other bytes */
    assert_int_equal(ktxn_refused(g_txn, "huge!", 5), 0);
    redo("next");
    assert_int_equal(ktxn_refused(g_txn, "huge", 4), 1); /* still: a later refetch skips it */
    assert_true(broker_values(got, sizeof got) >= 1);
    assert_non_null(strstr(got, "next"));
}

static void test_refused_ring_keeps_the_last(void **state)
{
    (void)state;
    start(0, NULL);
    char v[KTXN_REFUSED_MAX + 2];
    memset(v, 'x', sizeof v);
    for (size_t len = 1; len <= KTXN_REFUSED_MAX + 1; len++)
        refuse_one(v, len);
    assert_int_equal(ktxn_refused(g_txn, v, 1), 0); /* the oldest is forgotten */
    for (size_t len = 2; len <= KTXN_REFUSED_MAX + 1; len++)
        assert_int_equal(ktxn_refused(g_txn, v, len), 1);
}

static void test_full_queue_retries_and_too_large_is_skipped(void **state)
{
    (void)state;
    const char *extra[] = {
        "queue.buffering.max.messages", "1", "linger.ms", "1000", "message.max.bytes", "1000", NULL};
    start(0, extra);
    char err[512], got[256], big[2000];
    memset(big, 'x', sizeof big);
    assert_int_equal(send_str("a"), 0);
    assert_int_equal(send_str("b"), ERR_RETRY); /* queue full: nothing lost, try again later */
    assert_int_equal(ktxn_send(g_txn, g_rkt, NULL, 0, big, sizeof big, NULL, 0), ERR_RANGE);
    assert_int_equal(ktxn_open(g_txn), 1); /* neither doomed the transaction */
    int64_t deadline = clock_mono_ms() + 10000;
    int rc;
    while ((rc = send_str("b")) == ERR_RETRY && clock_mono_ms() < deadline)
        ktxn_wait_room(g_txn, 10);
    assert_int_equal(rc, 0);
    assert_int_equal(ktxn_commit(g_txn, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(broker_values(got, sizeof got), 2);
    assert_string_equal(got, "a,b");
}

/* A full queue is sent at once, not after linger.ms (KTXN_LINGER_MS holds messages for the
 * commit): here linger.ms is 30 s, the wait for room at most 10 s. */
static void test_full_queue_is_sent_without_waiting_for_linger(void **state)
{
    (void)state;
    const char *extra[] = {"queue.buffering.max.messages", "2", "linger.ms", "30000", NULL};
    start(0, extra);
    char err[512], got[256];
    assert_int_equal(send_str("a"), 0);
    assert_int_equal(send_str("b"), 0);
    int64_t deadline = clock_mono_ms() + 10000;
    int rc;
    while ((rc = send_str("c")) == ERR_RETRY && clock_mono_ms() < deadline)
        ktxn_wait_room(g_txn, 10);
    assert_int_equal(rc, 0);
    assert_int_equal(ktxn_commit(g_txn, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(broker_values(got, sizeof got), 3);
    assert_string_equal(got, "a,b,c");
}

int main(void)
{
    log_init("test", NULL, LOGL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_commit_delivers_every_message, teardown),
        cmocka_unit_test_teardown(test_abort_then_a_new_transaction, teardown),
        cmocka_unit_test_teardown(test_slow_end_txn_times_out_one_call, teardown),
        cmocka_unit_test_teardown(test_error_kinds, teardown),
        cmocka_unit_test_teardown(test_commit_retries_a_retriable_error, teardown),
        cmocka_unit_test_teardown(test_commit_errors, teardown),
        cmocka_unit_test_teardown(test_fenced_abort_is_fatal, teardown),
        cmocka_unit_test_teardown(test_offsets_go_with_the_transaction, teardown),
        cmocka_unit_test_teardown(test_refused_message_aborts_and_is_remembered, teardown),
        cmocka_unit_test_teardown(test_refused_ring_keeps_the_last, teardown),
        cmocka_unit_test_teardown(test_full_queue_retries_and_too_large_is_skipped, teardown),
        cmocka_unit_test_teardown(test_full_queue_is_sent_without_waiting_for_linger, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
