/* kread.c: one pass over some partitions of a topic (see kread.h). A manually assigned consumer with
 * partition EOF events: a partition is done once a message at end - 1 was read, one at or past end
 * was seen, or EOF was reported at or past end (read_committed reports EOF at the last stable
 * offset, so an open transaction is waited for: it commits or aborts). */
#include "tools/rsvpctl/kread.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/kafka.h"

typedef struct kpart {
    int32_t id;
    int64_t end;
    int done;
} kpart;

struct kread {
    rd_kafka_t *rk;
    char *topic;
    kpart *parts;
    size_t nparts, ndone;
};

/* A consumer with the Kafka settings of the environment and the flags; group only names it. */
static rd_kafka_t *consumer_new(const char *group, char *err, size_t errlen)
{
    char gid[64];
    if (group == NULL) {
        snprintf(gid, sizeof gid, "rsvpctl-read-%d", (int)getpid());
        group = gid;
    }
    const char *defaults[] = {"group.id",
                              group,
                              "client.id",
                              "rsvpctl",
                              "auto.offset.reset",
                              "earliest",
                              "enable.auto.commit",
                              "false",
                              "enable.auto.offset.store",
                              "false",
                              NULL};
    rd_kafka_conf_t *conf = NULL;
    if (kafka_conf_new(&conf, "rsvpctl", defaults, err, errlen) != 0)
        return NULL;
    /* whatever the environment says: committed messages only, and tell us where the end is */
    if (rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, errlen) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

int kread_new(kread **out, const char *topic, int timeout_ms, int32_t *nparts, char *err, size_t errlen)
{
    kread *k = calloc(1, sizeof *k);
    if (k == NULL || (k->topic = strdup(topic)) == NULL) {
        free(k);
        return ERR_NOMEM;
    }
    if ((k->rk = consumer_new(NULL, err, errlen)) == NULL) {
        kread_free(k);
        return ERR_INVALID;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(k->rk, 0, rkt, &md, timeout_ms) : rd_kafka_last_error();
    int rc = 0;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "metadata of %s: %s", topic, rd_kafka_err2str(e));
        rc = ERR_TIMEOUT;
    } else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        snprintf(err, errlen, "topic %s: %s", topic,
                 md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                         : "no partitions");
        rc = ERR_NOTFOUND;
    } else {
        *nparts = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rc != 0) {
        kread_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int kread_watermarks(kread *k, int32_t partition, int64_t *low, int64_t *high, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(k->rk, k->topic, partition, low, high, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "watermarks of %s[%d]: %s", k->topic, (int)partition, rd_kafka_err2str(e));
        return ERR_RETRY;
    }
    return 0;
}

int kread_committed(kread *k, const char *group, const int32_t *parts, size_t n, int64_t *out, char *err,
                    size_t errlen)
{
    rd_kafka_t *rk = consumer_new(group, err, errlen);
    if (rk == NULL)
        return ERR_RETRY;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, k->topic, parts[i]);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 10000);
    int rc = 0;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "committed offsets of group %s: %s", group, rd_kafka_err2str(e));
        rc = ERR_RETRY;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->err) {
            snprintf(err, errlen, "committed offset of %s[%d]: %s", k->topic, (int)tp->partition,
                     rd_kafka_err2str(tp->err));
            rc = ERR_RETRY;
        }
        out[i] = tp->offset >= 0 ? tp->offset : -1;
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return rc;
}

int kread_start(kread *k, const int32_t *parts, const int64_t *start, const int64_t *end, size_t n, char *err,
                size_t errlen)
{
    free(k->parts);
    k->parts = calloc(n ? n : 1, sizeof *k->parts);
    if (k->parts == NULL)
        return ERR_NOMEM;
    k->nparts = n;
    k->ndone = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        k->parts[i] = (kpart){parts[i], end[i], end[i] <= 0 || (start[i] >= 0 && start[i] >= end[i])};
        if (k->parts[i].done) {
            k->ndone++;
            continue;
        }
        rd_kafka_topic_partition_list_add(l, k->topic, parts[i])->offset =
            start[i] >= 0 ? start[i] : RD_KAFKA_OFFSET_BEGINNING;
    }
    /* a new assignment, and partitions paused at the end of an earlier pass fetch again */
    rd_kafka_resp_err_t e = rd_kafka_assign(k->rk, NULL);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = rd_kafka_assign(k->rk, l);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = rd_kafka_resume_partitions(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "assign %s: %s", k->topic, rd_kafka_err2str(e));
        return ERR_RETRY;
    }
    return 0;
}

static kpart *find(kread *k, int32_t id)
{
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].id == id)
            return &k->parts[i];
    return NULL;
}

/* The partition has reached its end: stop fetching it. */
static void finish(kread *k, kpart *p)
{
    if (p->done)
        return;
    p->done = 1;
    k->ndone++;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, k->topic, p->id);
    rd_kafka_pause_partitions(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

int kread_next(kread *k, rd_kafka_message_t **m, int timeout_ms, char *err, size_t errlen)
{
    for (;;) {
        if (k->ndone == k->nparts)
            return 0;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(k->rk, timeout_ms);
        if (msg == NULL)
            return ERR_TIMEOUT;
        kpart *p =
            msg->rkt && !strcmp(rd_kafka_topic_name(msg->rkt), k->topic) ? find(k, msg->partition) : NULL;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p && msg->offset >= p->end)
                finish(k, p);
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (msg->err) {
            snprintf(err, errlen, "consume %s: %s", k->topic, rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            return ERR_RETRY;
        }
        if (p == NULL || p->done || msg->offset >= p->end) {
            if (p)
                finish(k, p);
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (msg->offset + 1 >= p->end)
            finish(k, p);
        *m = msg;
        return 1;
    }
}

void kread_free(kread *k)
{
    if (k == NULL)
        return;
    if (k->rk) {
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    free(k->parts);
    free(k->topic);
    free(k);
}
