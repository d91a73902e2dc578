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

/* consume_until_eof: poll until every assigned partition reported EOF or the deadline passed. */
static int consume_until_eof(rd_kafka_t *rk, int remaining, int npart, int64_t deadline, resume *r,
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
            int64_t id, mtime;
            st->messages++;
            if (rsvpscan_line(m->payload, m->len, &id, &mtime) == 0) {
                st->with_mtime++;
                if (m->partition >= 0 && m->partition < npart &&
                    (min_mtime[m->partition] < 0 || mtime < min_mtime[m->partition]))
                    min_mtime[m->partition] = mtime;
                if (resume_note(r, id, mtime) != 0)
                    rc = ERR_NOMEM;
            }
        }
        rd_kafka_message_destroy(m);
        if (rc)
            break;
    }
    free(done);
    return rc;
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
     * or only lines at the resume point L may miss committed lines at L before it: such a
     * partition is read again with a doubled window, from an empty state, until the window
     * starts below L or at the partition's start. */
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
    for (int again = 1; rc == 0 && npart > 0 && again;) {
        again = 0;
        resume_clear(r);
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
                rc = consume_until_eof(rk, remaining, npart, deadline, r, st, min_mtime, errstr, errlen);
                rd_kafka_assign(rk, NULL);
            }
        }
        rd_kafka_topic_partition_list_destroy(list);
        for (int p = 0; rc == 0 && p < npart; p++) {
            if (from_of[p] <= lo_of[p])
                continue; /* the window already starts at the partition's start */
            if (min_mtime[p] >= 0 && min_mtime[p] < resume_mtime(r))
                continue; /* the window starts below L: every line at L of p is in it */
            if (tails[p] >= tail * RECOVER_MAX_WIDEN) {
                log_warn("recover: partition tail holds no line older than the resume point",
                         "partition=%d offsets_read=%lld", p, (long long)tails[p]);
                continue;
            }
            tails[p] *= 2;
            again = 1;
        }
    }
    free(tails);
    free(min_mtime);
    free(from_of);
    free(lo_of);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
