/* test_kafka_fenced.c: kafka_producer_destroy on a fenced transactional producer, against
 * librdkafka's in-process mock cluster (the one fault real Kafka cannot be told to inject on cue).
 * A ProduceRequest answered PRODUCER_FENCED makes the handle fatal with messages still queued; the
 * function must hand every one of them its delivery report before the handle is gone: the payload
 * blocks (common/msgblock.h) are freed right after, and a request still in flight at teardown is
 * what raced librdkafka 2.0.2's own destroy. Plain rd_kafka_destroy does not report them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"

#define TOPIC          "fenced"
#define MSGS           2000
#define APIKEY_PRODUCE 0 /* Kafka protocol ApiKey of ProduceRequest (rdkafka_protocol.h is internal) */

static int g_reports; /* delivery reports seen, any outcome */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)m;
    (void)opaque;
    g_reports++;
}

/* fenced_producer: a transactional producer on its own mock cluster, in a transaction, with MSGS
 * messages produced and the first ProduceRequest answered PRODUCER_FENCED; returns once the handle
 * has its fatal error. *queued: messages without a delivery report at that moment. */
static rd_kafka_t *fenced_producer(int *produced, int *queued)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[] = {
        "test.mock.num.brokers",
        "1",
        "transactional.id",
        "test-kafka-fenced",
        "linger.ms",
        "50", /* several batches stay queued behind the fenced one */
        "batch.num.messages",
        "100",
        "log_level",
        "0",
        NULL,
    };
    for (int i = 0; kv[i]; i += 2)
        assert_int_equal(rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof errstr), RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, TOPIC, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);

    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 10000);
    assert_null(e);
    assert_null(rd_kafka_begin_transaction(rk));
    rd_kafka_mock_push_request_errors(mc, APIKEY_PRODUCE, 1, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH);

    char payload[1024];
    memset(payload, 'x', sizeof payload);
    *produced = 0;
    for (int i = 0; i < MSGS; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_MSGFLAGS(0),
                              RD_KAFKA_V_VALUE(payload, sizeof payload), RD_KAFKA_V_END);
        if (err)
            break; /* fatal already */
        (*produced)++;
    }
    assert_true(*produced > 0);
    /* wait for the fatal error without serving delivery reports */
    for (int i = 0; i < 1000 && !rd_kafka_fatal_error(rk, NULL, 0); i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    assert_int_equal(rd_kafka_fatal_error(rk, errstr, sizeof errstr), RD_KAFKA_RESP_ERR__FENCED);
    *queued = rd_kafka_outq_len(rk);
    return rk;
}

static void test_fenced_producer_reports_every_message(void **state)
{
    (void)state;
    int produced = 0, queued = 0;
    g_reports = 0;
    rd_kafka_t *rk = fenced_producer(&produced, &queued);
    assert_true(queued > 0); /* else there would be nothing left to show */
    kafka_producer_destroy(rk, 0, 5000);
    assert_int_equal(g_reports, produced);
}

/* The control: the same producer destroyed plainly reports nothing, so the test above checks the
 * purge and flush of kafka_producer_destroy, not something librdkafka does anyway. */
static void test_plain_destroy_reports_nothing(void **state)
{
    (void)state;
    int produced = 0, queued = 0;
    g_reports = 0;
    rd_kafka_t *rk = fenced_producer(&produced, &queued);
    assert_true(queued > 0);
    rd_kafka_destroy(rk);
    assert_true(g_reports < produced);
}

int main(void)
{
    log_init("test", NULL, LOGL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fenced_producer_reports_every_message),
        cmocka_unit_test(test_plain_destroy_reports_nothing),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_free_all();
    return rc;
}
