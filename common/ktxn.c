/* ktxn.c: the transactional producer (see ktxn.h). Payloads are produced without
 * RD_KAFKA_MSG_F_COPY from blocks we own (common/msgblock.h); each delivery report releases its
 * message's block, notes a failure against the open transaction, and remembers a value the broker
 * refused as too large. A transaction with a failed delivery is never committed: it is aborted. */
#include "common/ktxn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msgblock.h"

#define KTXN_CALL_MS      30000 /* default bound of one send_offsets / commit / abort call */
#define KTXN_ATTEMPTS     10    /* calls of one kind per commit or abort, while retriable */
#define KTXN_PAUSE_MS     100   /* between two of them */
#define KTXN_RETRY_CALLS  3     /* ... started within this many call timeouts after the first */
#define KTXN_FLUSH_STEP   100   /* ms: commit's flush looks at the delivery reports this often */
#define KTXN_SPARE_BLOCKS 4     /* empty blocks kept for reuse, the rest are freed */
#define KTXN_TRIM_MS      60000 /* spares not taken for this long are freed (msgblock_pool_trim) */
#define KTXN_DESTROY_MS   5000  /* delivery reports served at ktxn_free, after the purge */

struct ktxn {
    rd_kafka_t *rk;
    msgblock_pool *blocks; /* payload storage; freed after rk */
    int64_t trimmed_ms;    /* the last msgblock_pool_trim */
    int call_ms;
    int open;
    int fatal;                     /* a call returned ERR_FATAL */
    uint64_t msgs;                 /* sent in the open transaction */
    uint64_t failed;               /* delivery errors in the open transaction */
    rd_kafka_resp_err_t first_err; /* the first of them */
    char *reserved;                /* the last ktxn_reserve, until the next reserve or send */
    msgblock *reserved_blk;
    size_t reserved_len;
    mcounter *delivery_errors;
    /* values the broker refused as too large: a ring of (len, hash) */
    struct {
        size_t len;
        uint64_t hash;
    } refused[KTXN_REFUSED_MAX];
    unsigned nrefused; /* entries written so far (ring index = n % KTXN_REFUSED_MAX) */
};

/* FNV-1a: only computed for values whose length matches a refused one (and for refused ones). */
static uint64_t value_hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* on_delivery: runs on our thread inside rd_kafka_poll/flush and the transactional calls. Purged
 * messages after an abort are expected (docs/kafka-client.md, item 8) and not counted. Any other
 * failure dooms the open transaction: librdkafka makes it abortable by itself, and ktxn_commit
 * checks anyway, because committing a transaction that lost a message would break exactly-once. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ktxn *t = opaque;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
        m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        mcounter_add(t->delivery_errors, 1);
        if (t->open && t->failed++ == 0)
            t->first_err = m->err;
        if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
            m->err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE) {
            unsigned i = t->nrefused++ % KTXN_REFUSED_MAX;
            t->refused[i].len = m->len;
            t->refused[i].hash = value_hash(m->payload, m->len);
        }
    }
    if (m->_private)
        msgblock_release(t->blocks, m->_private); /* last: the payload lives in the block */
}

int ktxn_new(ktxn **out, const ktxn_opts *o, char *errstr, size_t errlen)
{
    ktxn *t = calloc(1, sizeof *t);
    if (!t)
        return ERR_NOMEM;
    t->call_ms = o->call_timeout_ms > 0 ? o->call_timeout_ms : KTXN_CALL_MS;
    if (msgblock_pool_new(&t->blocks, KTXN_BLOCK_BYTES, KTXN_SPARE_BLOCKS) != 0) {
        free(t);
        return ERR_NOMEM;
    }
    rd_kafka_conf_t *conf = NULL;
    int rc = kafka_conf_new(&conf, o->service, o->defaults, errstr, errlen);
    if (rc != 0) {
        msgblock_pool_free(t->blocks);
        free(t);
        return rc;
    }
    /* set after the layering: the id is the service's own option (fencing depends on it) */
    if (rd_kafka_conf_set(conf, "transactional.id", o->txn_id, errstr, errlen) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        msgblock_pool_free(t->blocks);
        free(t);
        return ERR_INVALID;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, t);
    t->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errlen);
    if (!t->rk) {
        rd_kafka_conf_destroy(conf);
        msgblock_pool_free(t->blocks);
        free(t);
        return ERR_INVALID;
    }
    char name[160];
    kafka_metric_name(name, sizeof name, o->service, "delivery_errors_total");
    t->delivery_errors =
        metrics_counter(name, NULL, "Messages the broker did not accept (their transaction was aborted).");
    *out = t;
    return 0;
}

void ktxn_free(ktxn *t)
{
    if (!t)
        return;
    /* a committed transaction was flushed; an open one is purged, and so is everything after a
     * fatal error (kafka_producer_destroy) */
    kafka_producer_destroy(t->rk, t->open || t->fatal, KTXN_DESTROY_MS);
    msgblock_pool_free(t->blocks); /* after the handle: queued messages point into the blocks */
    free(t);
}

rd_kafka_t *ktxn_handle(const ktxn *t)
{
    return t->rk;
}

int ktxn_init(ktxn *t, backoff *bo, char *errstr, size_t errlen)
{
    int rc = kafka_init_transactions(t->rk, bo, errstr, errlen);
    if (rc == ERR_FATAL)
        t->fatal = 1;
    return rc;
}

int ktxn_begin(ktxn *t, char *errstr, size_t errlen)
{
    if (t->open)
        return 0;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(t->rk);
    if (e) {
        snprintf(errstr, errlen, "begin_transaction: %s: %s", rd_kafka_error_name(e),
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        t->fatal = 1;
        return ERR_FATAL;
    }
    t->open = 1;
    t->msgs = 0;
    t->failed = 0;
    return 0;
}

char *ktxn_reserve(ktxn *t, size_t len)
{
    t->reserved = msgblock_reserve(t->blocks, len, &t->reserved_blk);
    t->reserved_len = t->reserved ? len : 0;
    return t->reserved;
}

/* abort_after: the open transaction cannot go on (what failed: why); abort it. ERR_ABORTED, or
 * ERR_FATAL if even the abort failed; errstr (not why) says what happened. */
static int abort_after(ktxn *t, const char *what, const char *why, char *errstr, size_t errlen)
{
    log_warn("kafka transaction: aborting", "during=%s error=%s", what, why);
    char abort_why[256] = "";
    if (ktxn_abort(t, abort_why, sizeof abort_why) != 0) {
        snprintf(errstr, errlen, "%s: %s; then %s", what, why, abort_why);
        log_error("kafka transaction: abort failed", "error=%s", abort_why);
        return ERR_FATAL;
    }
    snprintf(errstr, errlen, "%s: %s", what, why);
    return ERR_ABORTED;
}

int ktxn_send(ktxn *t, rd_kafka_topic_t *rkt, const void *key, size_t keylen, const void *val, size_t len,
              rd_kafka_headers_t *hdrs, int64_t ts_ms)
{
    char why[256], out[512];
    if (!t->open && ktxn_begin(t, why, sizeof why) != 0) {
        log_error("kafka transaction: cannot begin", "error=%s", why);
        return ERR_FATAL;
    }
    msgblock *blk = NULL;
    void *payload = NULL;
    if (val && len > 0) {
        if (val == t->reserved && len <= t->reserved_len) {
            payload = t->reserved;
        } else if ((payload = ktxn_reserve(t, len)) != NULL) {
            memcpy(payload, val, len);
        } else {
            snprintf(why, sizeof why, "out of memory (%zu bytes)", len);
            return abort_after(t, "produce", why, out, sizeof out);
        }
        blk = t->reserved_blk;
    }
    rd_kafka_resp_err_t err;
    if (hdrs)
        err = rd_kafka_producev(t->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(0),
                                RD_KAFKA_V_KEY((const void *)key, key ? keylen : 0),
                                RD_KAFKA_V_VALUE(payload, len), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_OPAQUE(blk), RD_KAFKA_V_END);
    else
        err = rd_kafka_producev(t->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(0),
                                RD_KAFKA_V_KEY((const void *)key, key ? keylen : 0),
                                RD_KAFKA_V_VALUE(payload, len), RD_KAFKA_V_TIMESTAMP(ts_ms),
                                RD_KAFKA_V_OPAQUE(blk), RD_KAFKA_V_END);
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        if (blk)
            msgblock_commit(t->blocks, blk, len);
        t->reserved = NULL;
        t->msgs++;
        return 0;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL: return ERR_RETRY; /* the reservation stays valid */
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: return ERR_RANGE;
    default:
        if (err == RD_KAFKA_RESP_ERR__FATAL || ktxn_fatal(t)) {
            t->fatal = 1;
            return ERR_FATAL;
        }
        return abort_after(t, "produce", rd_kafka_err2str(err), out, sizeof out);
    }
}

enum { CALL_SEND_OFFSETS, CALL_COMMIT, CALL_ABORT };
static const char *const CALL_NAMES[] = {"send_offsets_to_transaction", "commit_transaction",
                                         "abort_transaction"};

/* call_retried: one transactional call, repeated while its error is retriable, at most
 * KTXN_ATTEMPTS times KTXN_PAUSE_MS apart, and none started later than KTXN_RETRY_CALLS call
 * timeouts after the first: a broker that does not answer holds the loop (and a SIGTERM) for at
 * most four call timeouts. 0, or the kind (kafka_error_kind) of the last error: ERR_FATAL,
 * ERR_ABORTED, ERR_RETRY (gave up) or ERR_INVALID; errstr says why. */
static int call_retried(ktxn *t, int what, const rd_kafka_topic_partition_list_t *offsets,
                        const rd_kafka_consumer_group_metadata_t *gmd, char *errstr, size_t errlen)
{
    int64_t last_start = clock_mono_ms() + KTXN_RETRY_CALLS * (int64_t)t->call_ms;
    for (int attempt = 1;; attempt++) {
        rd_kafka_error_t *e = what == CALL_SEND_OFFSETS
                                  ? rd_kafka_send_offsets_to_transaction(t->rk, offsets, gmd, t->call_ms)
                              : what == CALL_COMMIT ? rd_kafka_commit_transaction(t->rk, t->call_ms)
                                                    : rd_kafka_abort_transaction(t->rk, t->call_ms);
        if (!e)
            return 0;
        int kind = kafka_error_kind(e);
        snprintf(errstr, errlen, "%s: %s: %s", CALL_NAMES[what], rd_kafka_error_name(e),
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        if (kind == ERR_FATAL)
            t->fatal = 1;
        if (kind != ERR_RETRY || attempt >= KTXN_ATTEMPTS || clock_mono_ms() + KTXN_PAUSE_MS > last_start)
            return kind;
        log_warn("kafka transaction: retrying", "error=%s attempt=%d", errstr, attempt);
        clock_sleep_ms(KTXN_PAUSE_MS);
    }
}

/* flush_failed: deliver everything of the open transaction, watching the reports: 1 if a message
 * was not delivered. In steps: after a failed delivery the transaction is abortable and librdkafka
 * holds the rest of the queue until the abort, so one long flush would stall for its timeout. */
static int flush_failed(ktxn *t)
{
    int64_t end = clock_mono_ms() + t->call_ms;
    while (!t->failed && rd_kafka_flush(t->rk, KTXN_FLUSH_STEP) == RD_KAFKA_RESP_ERR__TIMED_OUT &&
           clock_mono_ms() < end)
        ;
    return t->failed > 0;
}

int ktxn_commit(ktxn *t, const rd_kafka_topic_partition_list_t *offsets,
                const rd_kafka_consumer_group_metadata_t *gmd, char *errstr, size_t errlen)
{
    if (!t->open)
        return 0;
    char why[512];
    int kind = 0;
    /* the offsets first: their round trips overlap the delivery of the messages */
    if (offsets && offsets->cnt > 0)
        kind = call_retried(t, CALL_SEND_OFFSETS, offsets, gmd, why, sizeof why);
    if (kind == 0 && flush_failed(t)) {
        snprintf(why, sizeof why, "%llu messages not delivered, first: %s", (unsigned long long)t->failed,
                 rd_kafka_err2str(t->first_err));
        kind = ERR_ABORTED;
    }
    if (kind == 0)
        kind = call_retried(t, CALL_COMMIT, NULL, NULL, why, sizeof why);
    if (kind == 0) {
        t->open = 0;
        t->msgs = 0;
        int64_t now = clock_mono_ms();
        if (now - t->trimmed_ms >= KTXN_TRIM_MS) { /* what a catch-up's large transactions left */
            msgblock_pool_trim(t->blocks);
            t->trimmed_ms = now;
        }
        return 0;
    }
    if (kind == ERR_FATAL) {
        snprintf(errstr, errlen, "%s", why);
        return ERR_FATAL;
    }
    return abort_after(t, "commit", why, errstr, errlen);
}

int ktxn_abort(ktxn *t, char *errstr, size_t errlen)
{
    if (!t->open)
        return 0;
    if (call_retried(t, CALL_ABORT, NULL, NULL, errstr, errlen) != 0) {
        t->fatal = 1; /* neither done nor retriable: a new instance's init_transactions cleans up */
        return ERR_FATAL;
    }
    t->open = 0;
    t->msgs = 0;
    t->failed = 0;
    rd_kafka_poll(t->rk, 0); /* the purged messages' reports: blocks released, refusals noted */
    return 0;
}

void ktxn_poll(ktxn *t, int timeout_ms)
{
    rd_kafka_poll(t->rk, timeout_ms);
}

void ktxn_wait_room(ktxn *t, int timeout_ms)
{
    rd_kafka_flush(t->rk, timeout_ms); /* overrides linger.ms while it runs; serves the reports */
}

int ktxn_open(const ktxn *t)
{
    return t->open;
}

uint64_t ktxn_messages(const ktxn *t)
{
    return t->msgs;
}

int ktxn_refused(const ktxn *t, const void *val, size_t len)
{
    unsigned n = t->nrefused < KTXN_REFUSED_MAX ? t->nrefused : KTXN_REFUSED_MAX;
    uint64_t h = 0;
    int hashed = 0;
    for (unsigned i = 0; i < n; i++) {
        if (t->refused[i].len != len)
            continue;
        if (!hashed) {
            h = value_hash(val, len);
            hashed = 1;
        }
        if (t->refused[i].hash == h)
            return 1;
    }
    return 0;
}

int ktxn_queue_len(const ktxn *t)
{
    return rd_kafka_outq_len(t->rk);
}

int ktxn_fatal(const ktxn *t)
{
    return t->fatal || rd_kafka_fatal_error(t->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}
