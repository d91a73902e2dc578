/* recover.c: reads the committed tail of each raw-topic partition with a short-lived consumer
 * (manual assign, no group membership, no commits) and folds every (rsvp_id, mtime) into the
 * resume state. The tail is bounded per partition, so start-up cost does not grow with the
 * topic. */
#include "services/ingestor/recover.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/sig.h"
#include "services/ingestor/rsvpscan.h"

/* A partition's window grows to at most this many times `tail` (bounds the start-up time when a
 * partition's tail holds no usable line at all, e.g. only lines without an mtime). */
#define RECOVER_MAX_WIDEN 64

/* find_partitions: number of partitions of topic (0 if absent), from one all-topics metadata
 * request, which unlike a per-topic request never auto-creates the topic. */
static int find_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, int *out, char *errstr,
                           size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err) {
        snprintf(errstr, errlen, "metadata: %s", rd_kafka_err2str(err));
        return ERR_TIMEOUT;
    }
    *out = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            *out = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* One committed message of the tail, as the ingestor read it when it produced it. */
typedef struct tail_msg {
    int64_t ts; /* its timestamp: the ingest time (the clock the ingestor judged mtime by) */
    int32_t partition;
    int32_t readable;
    int64_t offset;
    int64_t id, mtime; /* readable */
    uint64_t hash;     /* unreadable: resume_line_hash() */
} tail_msg;

typedef struct tail_buf {
    tail_msg *m;
    size_t n, cap;
} tail_buf;

static int tail_add(tail_buf *t, const tail_msg *m)
{
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 4096;
        tail_msg *nm = realloc(t->m, ncap * sizeof(*nm));
        if (!nm)
            return ERR_NOMEM;
        t->m = nm;
        t->cap = ncap;
    }
    t->m[t->n++] = *m;
    return 0;
}

/* Production order, as far as the topic tells it: ingest time (one per batch of bytes received
 * together), readable lines first within one (so an unreadable line is bounded by a readable line
 * produced after it or with it: a later bound, never an earlier one), then partition and offset. */
static int tail_cmp(const void *a, const void *b)
{
    const tail_msg *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->readable != y->readable)
        return x->readable ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* consume_until_eof: poll until every assigned partition reported EOF or the deadline passed,
 * collecting the messages into t. */
static int consume_until_eof(rd_kafka_t *rk, int remaining, int npart, int64_t deadline, tail_buf *t,
                             recover_stats *st, int64_t *min_mtime, char *errstr, size_t errlen)
{
    char *done = calloc((size_t)npart, 1);
    if (!done)
        return ERR_NOMEM;
    int rc = 0;
    while (remaining > 0) {
        if (sig_stopping()) {
            rc = ERR_CLOSED;
            snprintf(errstr, errlen, "stopping");
            break;
        }
        if (clock_mono_ms() > deadline) {
            rc = ERR_TIMEOUT;
            snprintf(errstr, errlen, "%d partitions did not reach their end in time", remaining);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < npart && !done[m->partition]) {
                done[m->partition] = 1;
                remaining--;
            }
        } else if (m->err) {
            log_warn("recover: consume error", "partition=%d error=%s", (int)m->partition,
                     rd_kafka_message_errstr(m));
        } else {
            tail_msg tm = {.partition = m->partition, .offset = m->offset};
            tm.ts = rd_kafka_message_timestamp(m, NULL);
            if (tm.ts < 0)
                tm.ts = clock_wall_ms();
            st->messages++;
            if (rsvpscan_line(m->payload, m->len, &tm.id, &tm.mtime) == 0) {
                tm.readable = 1;
                st->with_mtime++;
                if (m->partition >= 0 && m->partition < npart &&
                    (min_mtime[m->partition] < 0 || tm.mtime < min_mtime[m->partition]))
                    min_mtime[m->partition] = tm.mtime;
            } else {
                tm.hash = resume_line_hash(m->payload, m->len);
            }
            rc = tail_add(t, &tm);
        }
        rd_kafka_message_destroy(m);
        if (rc)
            break;
    }
    free(done);
    return rc;
}

/* fold: the tail into r, in production order, as the ingestor noted it. */
static int fold(tail_buf *t, resume *r)
{
    qsort(t->m, t->n, sizeof(*t->m), tail_cmp);
    for (size_t i = 0; i < t->n; i++) {
        const tail_msg *m = &t->m[i];
        int rc = m->readable ? resume_note(r, m->id, m->mtime, m->ts) : resume_note_unreadable(r, m->hash);
        if (rc < 0)
            return rc;
    }
    return resume_commit(r);
}

int recover_tail(const char *topic, int64_t tail, int timeout_ms, resume *r, recover_stats *st, char *errstr,
                 size_t errlen)
{
    memset(st, 0, sizeof(*st));
    const char *defaults[] = {
        "group.id",
        "rsvp-ingestor-recover", /* assign() needs one; never joined or committed */
        "isolation.level",
        "read_committed",
        "enable.partition.eof",
        "true",
        "enable.auto.commit",
        "false",
        "enable.auto.offset.store",
        "false",
        NULL,
    };
    rd_kafka_conf_t *conf = NULL;
    int rc = kafka_conf_new(&conf, "ingestor", defaults, errstr, errlen);
    if (rc != 0)
        return rc;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errlen);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return ERR_INVALID;
    }
    int64_t deadline = clock_mono_ms() + timeout_ms;
    int npart = 0;
    rc = find_partitions(rk, topic, timeout_ms, &npart, errstr, errlen);
    /* Per partition: how far back to read, and the oldest mtime the window held (-1: none). A
     * window that holds no committed line (only aborted records of a long killed transaction)
     * or only lines the source may send again (mtime >= since_mtime) may miss such lines before
     * it: that partition is read again with a doubled window, from an empty state, until the
     * window starts below since_mtime or at the partition's start. */
    int64_t *tails = NULL, *min_mtime = NULL, *from_of = NULL, *lo_of = NULL;
    if (rc == 0 && npart > 0) {
        tails = calloc((size_t)npart, sizeof *tails);
        min_mtime = calloc((size_t)npart, sizeof *min_mtime);
        from_of = calloc((size_t)npart, sizeof *from_of);
        lo_of = calloc((size_t)npart, sizeof *lo_of);
        if (!tails || !min_mtime || !from_of || !lo_of)
            rc = ERR_NOMEM;
        for (int p = 0; rc == 0 && p < npart; p++)
            tails[p] = tail;
    }
    tail_buf t = {0};
    for (int again = 1; rc == 0 && npart > 0 && again;) {
        again = 0;
        resume_clear(r);
        t.n = 0;
        memset(st, 0, sizeof(*st));
        st->partitions = npart;
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(npart);
        int remaining = 0;
        for (int p = 0; p < npart && rc == 0; p++) {
            int64_t lo = 0, hi = 0;
            min_mtime[p] = -1;
            rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, timeout_ms);
            if (err) {
                snprintf(errstr, errlen, "watermarks of partition %d: %s", p, rd_kafka_err2str(err));
                rc = ERR_TIMEOUT;
                break;
            }
            int64_t from = hi - tails[p] > lo ? hi - tails[p] : lo;
            from_of[p] = from;
            lo_of[p] = lo;
            if (from >= hi)
                continue; /* empty partition */
            rd_kafka_topic_partition_list_add(list, topic, p)->offset = from;
            remaining++;
        }
        if (rc == 0 && remaining > 0) {
            rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
            if (err) {
                snprintf(errstr, errlen, "assign: %s", rd_kafka_err2str(err));
                rc = ERR_INVALID;
            } else {
                rc = consume_until_eof(rk, remaining, npart, deadline, &t, st, min_mtime, errstr, errlen);
                rd_kafka_assign(rk, NULL);
                if (rc == 0 && (rc = fold(&t, r)) == ERR_NOMEM)
                    snprintf(errstr, errlen, "out of memory");
            }
        }
        rd_kafka_topic_partition_list_destroy(list);
        for (int p = 0; rc == 0 && p < npart; p++) {
            if (from_of[p] <= lo_of[p])
                continue; /* the window already starts at the partition's start */
            if (min_mtime[p] >= 0 && min_mtime[p] < resume_since(r))
                continue; /* the window starts below since_mtime: it holds all p can be sent again */
            if (tails[p] >= tail * RECOVER_MAX_WIDEN) {
                log_warn("recover: partition tail holds no line older than the resume point",
                         "partition=%d offsets_read=%lld", p, (long long)tails[p]);
                continue;
            }
            tails[p] *= 2;
            again = 1;
        }
    }
    free(t.m);
    free(tails);
    free(min_mtime);
    free(from_of);
    free(lo_of);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
