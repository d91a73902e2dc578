/* test_kgroup.c: the rebalance callback (common/kgroup.h) with both protocols, against a consumer
 * group on librdkafka's in-process mock cluster: the hooks run in the promised order around the
 * (un)assign calls, an offset chosen by the assign hook is where consumption starts, and a refused
 * assign call reaches the assigned hook as an error instead of passing silently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/kgroup.h"
#include "common/log.h"
#include "common/metrics.h"

#define TOPIC    "grp"
#define PARTS    2
#define PER_PART 5
#define START_AT 2 /* the assign hook's start offset */

/* What the hooks saw; they check the assignment at each step. */
typedef struct seen {
    int assign, assigned, revoke, revoked; /* calls */
    int assigned_rc;
    int order_ok;      /* every hook found the assignment it should */
    int double_assign; /* the assign hook assigns itself: the handler's call must then fail */
    int first[PARTS];  /* first offset consumed per partition, -1 none */
} seen;

/* assigned_count: partitions in rk's assignment, -1 if it cannot say (then the order check fails) */
static int assigned_count(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int n = l->cnt;
    rd_kafka_topic_partition_list_destroy(l);
    return n;
}

static void on_assign(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    seen *s = ctx;
    s->assign++;
    if (assigned_count(rk) != 0)
        s->order_ok = 0;
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = START_AT;
    if (s->double_assign) {
        rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
        assert_null(e);
    }
}

static void on_assigned(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int rc)
{
    seen *s = ctx;
    s->assigned++;
    s->assigned_rc = rc;
    if (assigned_count(rk) != parts->cnt)
        s->order_ok = 0;
}

static void on_revoke(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int lost)
{
    seen *s = ctx;
    s->revoke++;
    if (lost || assigned_count(rk) != parts->cnt) /* still assigned: a transaction could commit */
        s->order_ok = 0;
}

static void on_revoked(void *ctx, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int lost, int rc)
{
    (void)parts;
    seen *s = ctx;
    s->revoked++;
    if (lost || rc != 0 || assigned_count(rk) != 0)
        s->order_ok = 0;
}

static const kgroup_hooks HOOKS = {on_assign, on_assigned, on_revoke, on_revoked};

/* mock_cluster: a one-broker mock cluster (owned by the returned producer) with TOPIC holding
 * PER_PART messages in each of its PARTS partitions. */
static rd_kafka_t *mock_cluster(rd_kafka_mock_cluster_t **mc)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err), RD_KAFKA_CONF_OK);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(p);
    *mc = rd_kafka_handle_mock_cluster(p);
    assert_int_equal(rd_kafka_mock_topic_create(*mc, TOPIC, PARTS, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int32_t part = 0; part < PARTS; part++)
        for (int i = 0; i < PER_PART; i++)
            assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(part),
                                               RD_KAFKA_V_VALUE("v", 1), RD_KAFKA_V_END),
                             RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    return p;
}

/* subscribed: a consumer of TOPIC on the mock cluster mc in group, with strategy, its rebalances
 * through kgroup g (hooks context s), subscribed. */
static rd_kafka_t *subscribed(rd_kafka_mock_cluster_t *mc, const char *group, const char *strategy, kgroup *g,
                              seen *s)
{
    char err[512];
    /* clang-format off */
    const char *kv[] = {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), "group.id", group,
                        "partition.assignment.strategy", strategy, "auto.offset.reset", "earliest", NULL};
    /* clang-format on */
    rd_kafka_conf_t *conf = NULL;
    assert_int_equal(kafka_conf_new(&conf, "test", kv, err, sizeof err), 0);
    kgroup_attach(g, conf, &HOOKS, s);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(c, sub), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(sub);
    return c;
}

/* run_group: one consumer of TOPIC with strategy, its rebalances through kgroup: consumes until
 * every partition delivered a message (or the assigned hook reported a failure), unsubscribes
 * (the revoke), closes. */
static void run_group(const char *strategy, seen *s)
{
    rd_kafka_mock_cluster_t *mc = NULL;
    rd_kafka_t *p = mock_cluster(&mc);
    kgroup g;
    rd_kafka_t *c = subscribed(mc, "test-kgroup", strategy, &g, s);

    s->order_ok = 1;
    for (int i = 0; i < PARTS; i++)
        s->first[i] = -1;
    int64_t deadline = clock_mono_ms() + 30000;
    int done = 0;
    while (!done) {
        assert_true(clock_mono_ms() < deadline);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err && m->partition < PARTS && s->first[m->partition] < 0)
            s->first[m->partition] = m->offset;
        if (m)
            rd_kafka_message_destroy(m);
        int all = 1;
        for (int i = 0; i < PARTS; i++)
            all = all && s->first[i] >= 0;
        done = all || (s->assigned > 0 && s->assigned_rc != 0);
    }
    assert_int_equal(g.cooperative, !strcmp(strategy, "cooperative-sticky"));
    /* leaving the group revokes, served by the next polls (rd_kafka_assignment() answers there,
     * not inside rd_kafka_consumer_close) */
    assert_int_equal(rd_kafka_unsubscribe(c), RD_KAFKA_RESP_ERR_NO_ERROR);
    while (s->revoked == 0 && s->assigned_rc == 0) {
        assert_true(clock_mono_ms() < deadline);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    assert_int_equal(rd_kafka_consumer_close(c), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(c);
    kgroup_free(&g);
    rd_kafka_destroy(p);
}

static void check_consumed_from_hook_offset(const seen *s)
{
    assert_int_equal(s->assign, 1);
    assert_int_equal(s->assigned, 1);
    assert_int_equal(s->assigned_rc, 0);
    assert_int_equal(s->revoke, 1);
    assert_int_equal(s->revoked, 1);
    assert_true(s->order_ok);
    for (int i = 0; i < PARTS; i++)
        assert_int_equal(s->first[i], START_AT); /* not 0: the hook's offsets were used */
}

static void test_eager_hooks_and_offsets(void **state)
{
    (void)state;
    seen s = {0};
    run_group("range", &s);
    check_consumed_from_hook_offset(&s);
}

static void test_cooperative_hooks_and_offsets(void **state)
{
    (void)state;
    seen s = {0};
    run_group("cooperative-sticky", &s);
    check_consumed_from_hook_offset(&s);
}

static void test_refused_assign_reaches_the_hook(void **state)
{
    (void)state;
    seen s = {.double_assign = 1};
    run_group("cooperative-sticky", &s);
    assert_int_equal(s.assigned, 1);
    assert_int_equal(s.assigned_rc, ERR_INVALID); /* partitions already assigned: _CONFLICT */
}

/* A Fetch in flight when partitions are revoked: its answer lands in their own queues, which no
 * longer feed the consumer's, and stays there (librdkafka 2.0.2); kgroup_sweep frees it. To have
 * such a Fetch for sure: the consumer, caught up, pauses (it sends no Fetch then); messages
 * arrive; the broker is told to answer the next Fetch 5 s late; the consumer resumes (its next
 * Fetch, which carries the messages, goes out within ~1 s: the fetcher's next wake-up) and leaves
 * the group 2.5 s after the resume. */
#define STALE_PER_PART 100

static size_t part_queue_length(rd_kafka_t *c, int32_t part)
{
    rd_kafka_queue_t *q = rd_kafka_queue_get_partition(c, TOPIC, part);
    assert_non_null(q);
    size_t n = rd_kafka_queue_length(q);
    rd_kafka_queue_destroy(q);
    return n;
}

/* poll_quiet: kgroup_poll until ms pass without a message (or the deadline: fails) */
static void poll_quiet(kgroup *g, rd_kafka_t *c, int ms, int64_t deadline)
{
    for (int64_t quiet_until = clock_mono_ms() + ms; clock_mono_ms() < quiet_until;) {
        assert_true(clock_mono_ms() < deadline);
        rd_kafka_message_t *m = kgroup_poll(g, c, 50);
        if (m) {
            rd_kafka_message_destroy(m);
            quiet_until = clock_mono_ms() + ms;
        }
    }
}

static void test_stale_fetch_is_swept(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_t *mc = NULL;
    rd_kafka_t *p = mock_cluster(&mc);
    seen s = {0};
    kgroup g;
    rd_kafka_t *c = subscribed(mc, "test-kgroup-stale", "range", &g, &s);
    int64_t deadline = clock_mono_ms() + 30000;
    while (s.assigned == 0) {
        assert_true(clock_mono_ms() < deadline);
        rd_kafka_message_t *m = kgroup_poll(&g, c, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    poll_quiet(&g, c, 1000, deadline); /* caught up */

    rd_kafka_topic_partition_list_t *both = rd_kafka_topic_partition_list_new(PARTS);
    for (int32_t part = 0; part < PARTS; part++)
        rd_kafka_topic_partition_list_add(both, TOPIC, part);
    assert_int_equal(rd_kafka_pause_partitions(c, both), RD_KAFKA_RESP_ERR_NO_ERROR);
    poll_quiet(&g, c, 500, deadline); /* a Fetch in flight at the pause is answered */
    char value[200];
    memset(value, 'x', sizeof value);
    for (int32_t part = 0; part < PARTS; part++)
        for (int i = 0; i < STALE_PER_PART; i++)
            assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(part),
                                               RD_KAFKA_V_VALUE(value, sizeof value), RD_KAFKA_V_END),
                             RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(mc, 1, 1 /* Fetch */, 1,
                                                                  RD_KAFKA_RESP_ERR_NO_ERROR, 5000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_resume_partitions(c, both), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(both);
    int64_t resumed = clock_mono_ms();
    while (clock_mono_ms() < resumed + 2500) /* the Fetch goes out; its answer is 5 s away */
        assert_null(kgroup_poll(&g, c, 50));
    assert_int_equal(rd_kafka_unsubscribe(c), RD_KAFKA_RESP_ERR_NO_ERROR);
    while (s.revoked == 0) {
        assert_true(clock_mono_ms() < deadline);
        assert_null(kgroup_poll(&g, c, 50));
    }
    size_t stale = 0; /* the answer arrives; the consumer's queue never sees it */
    while (clock_mono_ms() < resumed + 12000 && stale < STALE_PER_PART) {
        assert_null(kgroup_poll(&g, c, 50));
        stale = part_queue_length(c, 0) + part_queue_length(c, 1);
    }
    assert_true(stale >= STALE_PER_PART); /* messages, not only librdkafka's barrier ops */
    clock_sleep_ms(500);                  /* nothing reads those queues: they stay */
    assert_null(kgroup_poll(&g, c, 50));
    assert_int_equal(part_queue_length(c, 0) + part_queue_length(c, 1), stale);
    assert_int_equal(g.ngone, PARTS);

    /* too early (revoked < KGROUP_SWEEP_AFTER_MS ago by the clock given): nothing read */
    assert_int_equal(kgroup_sweep(&g, c, g.gone[0].revoked_ms + 1), 0);
    assert_true(part_queue_length(c, 0) + part_queue_length(c, 1) >= stale);
    uint64_t freed = kgroup_sweep(&g, c, clock_mono_ms() + KGROUP_SWEEP_AFTER_MS + KGROUP_SWEEP_EVERY_MS);
    assert_true(freed >= stale - 2);
    assert_int_equal(part_queue_length(c, 0) + part_queue_length(c, 1), 0);
    assert_null(g.pending);
    /* swept once per KGROUP_SWEEP_EVERY_MS */
    assert_int_equal(kgroup_sweep(&g, c, clock_mono_ms()), 0);

    assert_int_equal(rd_kafka_consumer_close(c), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(c);
    kgroup_free(&g);
    rd_kafka_destroy(p);
}

int main(void)
{
    log_init("test", NULL, getenv("TEST_DEBUG") ? LOGL_DEBUG : LOGL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eager_hooks_and_offsets),
        cmocka_unit_test(test_cooperative_hooks_and_offsets),
        cmocka_unit_test(test_refused_assign_reaches_the_hook),
        cmocka_unit_test(test_stale_fetch_is_swept),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_free_all();
    return rc;
}
