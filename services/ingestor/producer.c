/* producer.c: transactional producer for rsvps.raw. Transactions are opened lazily by the first
 * message so an idle source costs no EndTxn round trips. A delivery failure inside a transaction
 * makes the commit abort it instead (ERR_STALE: the caller rolls back and fetches again). Lines
 * are stashed in blocks we own and produced without RD_KAFKA_MSG_F_COPY (common/msgblock.h). */
#include "services/ingestor/producer.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msgblock.h"

#define PRODUCER_TXN_CALL_MS  30000        /* per begin/commit/abort attempt; commit retries on timeout */
#define PRODUCER_BLOCK_BYTES  (256 * 1024) /* stash block; a longer line gets a block of its own */
#define PRODUCER_SPARE_BLOCKS 4            /* empty blocks kept for reuse, the rest are freed */

struct producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char *topic;
    msgblock_pool *blocks; /* payload storage (common/msgblock.h); freed after rk */
    int txn_open;
    uint64_t txn_msgs;
    uint64_t txn_failed;         /* delivery errors in the open transaction */
    rd_kafka_resp_err_t txn_err; /* the first of them */
    mcounter *delivery_errors;
    /* lines the broker refused as too large (MESSAGE_TOO_LARGE): a refetch after the abort must
     * skip them, or the same line aborts every transaction forever. A small ring: (len, hash). */
    struct refused {
        size_t len;
        uint64_t hash;
    } refused[PRODUCER_REFUSED_MAX];
    unsigned nrefused; /* entries written so far (ring index = n % MAX) */
};

/* FNV-1a over a line: only computed for lines whose length matches a refused one. */
static uint64_t line_hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* on_delivery: runs on our thread inside rd_kafka_poll/flush. Purged messages after an abort are
 * expected (docs/kafka-client.md, item 8) and not counted. Any other failure dooms the open transaction:
 * librdkafka should make the transaction abortable by itself; producer_commit checks anyway,
 * because committing a transaction that lost a line would silently break exactly-once. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    producer *p = opaque;
    msgblock *b = m->_private;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
        m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        mcounter_add(p->delivery_errors, 1);
        if (p->txn_open && p->txn_failed++ == 0)
            p->txn_err = m->err;
        if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
            m->err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE) {
            struct refused *r = &p->refused[p->nrefused++ % PRODUCER_REFUSED_MAX];
            r->len = m->len;
            r->hash = line_hash(m->payload, m->len);
        }
    }
    if (b)
        msgblock_release(p->blocks, b); /* last: the payload is in b */
}

int producer_refused(const producer *p, const char *msg, size_t len)
{
    unsigned n = p->nrefused < PRODUCER_REFUSED_MAX ? p->nrefused : PRODUCER_REFUSED_MAX;
    uint64_t h = 0;
    int hashed = 0;
    for (unsigned i = 0; i < n; i++) {
        if (p->refused[i].len != len)
            continue;
        if (!hashed) {
            h = line_hash(msg, len);
            hashed = 1;
        }
        if (p->refused[i].hash == h)
            return 1;
    }
    return 0;
}

int producer_new(producer **out, const char *topic, const char *txn_id, int64_t max_message_bytes,
                 char *errstr, size_t errlen)
{
    producer *p = calloc(1, sizeof(*p));
    if (!p)
        return ERR_NOMEM;
    if (msgblock_pool_new(&p->blocks, PRODUCER_BLOCK_BYTES, PRODUCER_SPARE_BLOCKS) != 0) {
        free(p);
        return ERR_NOMEM;
    }
    char maxb[32];
    snprintf(maxb, sizeof maxb, "%lld", (long long)max_message_bytes);
    const char *defaults[] = {
        "transactional.id",
        txn_id, /* implies enable.idempotence=true, acks=all */
        "compression.type",
        "lz4", /* 3.4x smaller on disk; costs CPU here (producer.h) */
        "linger.ms",
        "5", /* batches fill at our rates; bounds added latency */
        "message.max.bytes",
        maxb, /* MAX_LINE_BYTES plus headroom: any accepted line fits */
        NULL,
    };
    rd_kafka_conf_t *conf = NULL;
    int rc = kafka_conf_new(&conf, "ingestor", defaults, errstr, errlen);
    if (rc != 0) {
        msgblock_pool_free(p->blocks);
        free(p);
        return rc;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errlen);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        msgblock_pool_free(p->blocks);
        free(p);
        return ERR_INVALID;
    }
    conf = NULL; /* owned by p->rk */
    p->topic = strdup(topic);
    p->rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    if (!p->rkt || !p->topic) {
        snprintf(errstr, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        if (p->rkt)
            rd_kafka_topic_destroy(p->rkt);
        rd_kafka_destroy(p->rk);
        msgblock_pool_free(p->blocks);
        free(p->topic);
        free(p);
        return ERR_INVALID;
    }
    p->delivery_errors = metrics_counter("rsvp_ingestor_delivery_errors_total", NULL,
                                         "messages the broker did not accept (txn aborted)");
    *out = p;
    return 0;
}

void producer_free(producer *p)
{
    if (!p)
        return;
    if (p->rkt)
        rd_kafka_topic_destroy(p->rkt);
    /* producer_commit flushed what was committed; what an open transaction holds is purged (the
     * broker aborts that transaction), and so is everything after a fatal error */
    kafka_producer_destroy(p->rk, p->txn_open, 1000);
    /* after the handle: queued messages point into the blocks until it is gone */
    msgblock_pool_free(p->blocks);
    free(p->topic);
    free(p);
}

/* txn_error: map a librdkafka transactional error to our kinds; frees it. */
static int txn_error(rd_kafka_error_t *e, char *errstr, size_t errlen)
{
    snprintf(errstr, errlen, "%s: %s", rd_kafka_error_name(e), rd_kafka_error_string(e));
    int rc = rd_kafka_error_is_fatal(e)                               ? ERR_FATAL
             : rd_kafka_error_txn_requires_abort(e)                   ? ERR_STALE
             : rd_kafka_error_is_retriable(e)                         ? ERR_RETRY
             : rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT ? ERR_TIMEOUT
                                                                      : ERR_STALE;
    rd_kafka_error_destroy(e);
    return rc;
}

int producer_init(producer *p, backoff *bo, char *errstr, size_t errlen)
{
    return kafka_init_transactions(p->rk, bo, errstr, errlen);
}

int producer_send(producer *p, const char *msg, size_t len, const char *key, size_t keylen, int64_t ts_ms)
{
    if (!p->txn_open) {
        rd_kafka_error_t *e = rd_kafka_begin_transaction(p->rk);
        if (e) {
            char why[256];
            int rc = txn_error(e, why, sizeof why);
            log_error("begin transaction failed", "error=%s", why);
            return rc == ERR_FATAL ? ERR_FATAL : ERR_STALE;
        }
        p->txn_open = 1;
        p->txn_msgs = 0;
        p->txn_failed = 0;
    }
    msgblock *b = NULL;
    char *payload = msgblock_reserve(p->blocks, len, &b);
    if (!payload) {
        log_error("produce failed", "error=out of memory (%zu bytes)", len);
        return ERR_STALE;
    }
    memcpy(payload, msg, len);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_MSGFLAGS(0),
                          RD_KAFKA_V_VALUE(payload, len), RD_KAFKA_V_KEY((const void *)key, key ? keylen : 0),
                          RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_OPAQUE(b), RD_KAFKA_V_END);
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        msgblock_commit(p->blocks, b, len);
        p->txn_msgs++;
        return 0;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL: return ERR_RETRY;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: return ERR_RANGE;
    case RD_KAFKA_RESP_ERR__FATAL: return ERR_FATAL;
    default: log_error("produce failed", "error=%s", rd_kafka_err2str(err)); return ERR_STALE;
    }
}

int producer_commit(producer *p, char *errstr, size_t errlen)
{
    if (!p->txn_open)
        return 0;
    /* Deliver everything first and look at the reports: a transaction with a lost message must
     * not commit. (commit_transaction would flush too, but report failures only afterwards.) */
    /* In slices: after a failed delivery the transaction is abortable and librdkafka holds the
     * rest of the queue until the abort, so one long flush would stall for its whole timeout. */
    int64_t flush_end = clock_mono_ms() + PRODUCER_TXN_CALL_MS;
    while (!p->txn_failed && rd_kafka_flush(p->rk, 100) == RD_KAFKA_RESP_ERR__TIMED_OUT &&
           clock_mono_ms() < flush_end)
        ;
    if (p->txn_failed) {
        snprintf(errstr, errlen, "%llu messages not delivered, first: %s", (unsigned long long)p->txn_failed,
                 rd_kafka_err2str(p->txn_err));
        char why[256];
        if (producer_abort(p, why, sizeof why) != 0)
            return ERR_FATAL;
        return ERR_STALE;
    }
    for (int attempt = 1;; attempt++) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(p->rk, PRODUCER_TXN_CALL_MS);
        if (!e && p->txn_failed) /* cannot happen after the flush above; would be a lost line */
            log_error("committed transaction had undelivered messages", "count=%llu error=%s",
                      (unsigned long long)p->txn_failed, rd_kafka_err2str(p->txn_err));
        if (!e) {
            p->txn_open = 0;
            p->txn_msgs = 0;
            return 0;
        }
        int rc = txn_error(e, errstr, errlen);
        if (rc == ERR_FATAL)
            return ERR_FATAL;
        if ((rc == ERR_RETRY || rc == ERR_TIMEOUT) && attempt < 4) {
            /* The commit outcome is unknown; librdkafka says the same call may be repeated. */
            log_warn("commit transaction: retrying", "error=%s", errstr);
            continue;
        }
        char why[256];
        if (producer_abort(p, why, sizeof why) != 0)
            return ERR_FATAL;
        return ERR_STALE;
    }
}

int producer_abort(producer *p, char *errstr, size_t errlen)
{
    if (!p->txn_open)
        return 0;
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(p->rk, PRODUCER_TXN_CALL_MS);
        if (!e)
            break;
        int rc = txn_error(e, errstr, errlen);
        if (rc == ERR_FATAL || attempt >= 10)
            return ERR_FATAL;
        log_warn("abort transaction: retrying", "error=%s", errstr);
    }
    p->txn_open = 0;
    p->txn_msgs = 0;
    return 0;
}

void producer_poll(producer *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
}

int producer_txn_open(const producer *p)
{
    return p->txn_open;
}

uint64_t producer_txn_messages(const producer *p)
{
    return p->txn_msgs;
}

int producer_queue_len(const producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

int producer_fatal(const producer *p)
{
    return rd_kafka_fatal_error(p->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* topic_state: 1 if topic exists with a leader for every partition, 0 if absent or not ready. */
static int topic_state(producer *p, int timeout_ms, int *exists, char *errstr, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 1, NULL, &md, timeout_ms);
    if (err) {
        snprintf(errstr, errlen, "metadata: %s", rd_kafka_err2str(err));
        return ERR_TIMEOUT;
    }
    int ready = 0;
    *exists = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (strcmp(t->topic, p->topic) != 0 || t->err)
            continue;
        *exists = 1;
        ready = t->partition_cnt > 0;
        for (int k = 0; k < t->partition_cnt; k++)
            if (t->partitions[k].leader < 0)
                ready = 0;
    }
    rd_kafka_metadata_destroy(md);
    return ready;
}

/* create_topic: CreateTopics with the broker's default partition count and replication. */
static int create_topic(producer *p, int timeout_ms, char *errstr, size_t errlen)
{
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(p->topic, -1, -1, errstr, errlen);
    if (!nt)
        return ERR_INVALID;
    rd_kafka_queue_t *q = rd_kafka_queue_new(p->rk);
    rd_kafka_CreateTopics(p->rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
    int rc = 0;
    if (!ev) {
        snprintf(errstr, errlen, "CreateTopics: no answer");
        rc = ERR_TIMEOUT;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errlen, "CreateTopics: %s", rd_kafka_event_error_string(ev));
        rc = ERR_RETRY;
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t err = n ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(errstr, errlen, "CreateTopics %s: %s", p->topic,
                     rd_kafka_topic_result_error_string(res[0]));
            rc = ERR_RETRY;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int producer_ensure_topic(producer *p, int timeout_ms, int *created, char *errstr, size_t errlen)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    *created = 0;
    for (;;) {
        int exists = 0;
        int rc = topic_state(p, timeout_ms, &exists, errstr, errlen);
        if (rc == 1)
            return 0;
        if (rc < 0)
            return rc;
        if (!exists && !*created) {
            if ((rc = create_topic(p, timeout_ms, errstr, errlen)) != 0)
                return rc;
            *created = 1;
        }
        if (clock_mono_ms() > deadline) {
            snprintf(errstr, errlen, "topic %s has no leader for every partition yet", p->topic);
            return ERR_TIMEOUT;
        }
        clock_sleep_ms(100);
    }
}
