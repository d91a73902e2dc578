/* bench_aggregator.c: the aggregator's in-memory cost. (1) msgs per CPU second for decode + key +
 * count (+ freeze/pack every 100k messages) over the recorded RSVPs as packed rsvp.v1.Rsvp, as
 * they arrive from Kafka and as the service counts them (agg_consume_many, 512 at a time); (2) bytes
 * per key of the delta table at 1M distinct keys.
 * Usage: bench-aggregator [recorded.ndjson] [messages]; prints a Markdown table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/rsvp.pb-c.h"
#include "services/aggregator/aggregator.h"
#include "services/aggregator/keytab.h"
#include "services/aggregator/rsvpwire.h"
#include "services/parser/rsvp_json.h"

typedef struct payload {
    uint8_t *data;
    size_t len;
} payload;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: on a shared box wall time says more about the neighbours. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every parseable line of path as a packed Rsvp. */
static payload *load(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return NULL;
    }
    rsvp_json *pj;
    if (rsvp_json_new(&pj, NULL)) {
        fclose(f);
        return NULL;
    }
    size_t cap = 4096, cnt = 0;
    payload *v = malloc(cap * sizeof *v);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while (v && (len = getline(&line, &lcap, f)) > 0) {
        Rsvp__V1__Rsvp *r;
        if (rsvp_json_parse(pj, line, (size_t)len, &r) != RSVP_JSON_OK)
            continue;
        r->has_ingest_time_ms = 1;
        r->ingest_time_ms = 1700000000000 + (int64_t)cnt;
        if (cnt == cap) {
            cap *= 2;
            payload *nv = realloc(v, cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        v[cnt].len = rsvp__v1__rsvp__get_packed_size(r);
        v[cnt].data = malloc(v[cnt].len);
        rsvp__v1__rsvp__pack(r, v[cnt].data);
        cnt++;
    }
    free(line);
    rsvp_json_free(pj);
    fclose(f);
    *n = cnt;
    return v;
}

static int bench_throughput(const payload *v, size_t n, size_t total)
{
    agg *a = agg_new("rsvps.parsed", "bench", 100000, 0);
    if (!a || agg_assign(a, 0, 0))
        return 1;
    size_t batches = 0, bytes = 0;
    double t0 = now_s(), c0 = cpu_s();
    agg_msg m[512]; /* as the service counts: up to 512 polled messages per agg_consume_many */
    for (size_t i = 0; i < total;) {
        size_t end = i + 512, trigger = (i / 100000 + 1) * 100000, k = 0;
        if (end > trigger)
            end = trigger;
        if (end > total)
            end = total;
        for (; i + k < end; k++) {
            const payload *p = &v[(i + k) % n];
            m[k] = (agg_msg){0, (int64_t)(i + k), p->data, p->len, 0};
        }
        agg_consume_many(a, m, k);
        for (size_t j = 0; j < k; j++)
            if (m[j].rc)
                return 1;
        i = end;
        if (i % 100000 == 0) { /* a trigger: freeze, "send", acknowledge */
            agg_freeze(a, 1);
            int32_t part;
            const void *data;
            size_t len;
            if (agg_next_request(a, &part, &data, &len)) {
                bytes += len;
                batches++;
                Rsvp__V1__WriterReply ok = RSVP__V1__WRITER_REPLY__INIT;
                ok.status = RSVP__V1__WRITER_REPLY__STATUS__OK;
                agg_action act;
                agg_on_reply(a, 0, &ok, &act);
            }
        }
    }
    double dt = now_s() - t0, dc = cpu_s() - c0;
    /* "msgs/s/core" (bench/run.sh greps it) per second of this process's CPU time */
    printf("| aggregate (decode+key+count+pack) | %zu msgs | %.2f s CPU (%.2f s wall) | **%.0f "
           "msgs/s/core** (CPU time) | %zu batches, %.0f B/batch avg |\n",
           total, dc, dt, (double)total / dc, batches, batches ? (double)bytes / batches : 0.0);
    agg_free(a);
    return 0;
}

/* 1M distinct keys: the recorded keys with event_time made unique (realistic string sizes). */
static int bench_memory(const payload *v, size_t n, size_t nkeys)
{
    keytab *t = keytab_new();
    if (!t)
        return 1;
    size_t strbytes = 0;
    char tb[24], uniq[24];
    double t0 = cpu_s();
    for (size_t i = 0; i < nkeys; i++) {
        const payload *p = &v[i % n];
        keyview k;
        int64_t ingest;
        if (rsvpwire_key(p->data, p->len, &k, tb, &ingest))
            return 1;
        k.str_len[KEY_EVENT_TIME] = (size_t)snprintf(uniq, sizeof uniq, "%zu", 1500000000000 + i);
        k.str[KEY_EVENT_TIME] = uniq;
        for (int j = 0; j < KEY_NSTR; j++)
            strbytes += k.str[j] ? k.str_len[j] : 0;
        if (keytab_add(t, &k, 1))
            return 1;
    }
    double dt = cpu_s() - t0;
    size_t keys = keytab_count(t), held = keytab_bytes(t), used = keytab_used_bytes(t);
    printf("| table at %zu distinct keys | held %.1f MB | **%.1f B/key + strings** (held; %.1f "
           "in use) | strings %.1f B/key | insert %.0f keys per CPU s incl. decode |\n",
           keys, (double)held / 1e6, (double)(held - strbytes) / (double)keys,
           (double)(used - strbytes) / (double)keys, (double)strbytes / (double)keys, (double)keys / dt);
    keytab_free(t);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/data/meetup-rsvps-recorded.ndjson";
    size_t total = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 5000000;
    size_t n = 0;
    payload *v = load(path, &n);
    if (!v || !n) {
        fprintf(stderr, "bench-aggregator: no RSVPs loaded from %s\n", path);
        return 1;
    }
    size_t avg = 0;
    for (size_t i = 0; i < n; i++)
        avg += v[i].len;
    printf("### bench-aggregator (%zu recorded RSVPs, %.0f B packed avg)\n\n", n, (double)avg / (double)n);
    printf("| what | size | time | result | notes |\n|---|---|---|---|---|\n");
    int rc = bench_throughput(v, n, total) || bench_memory(v, n, 1000000);
    for (size_t i = 0; i < n; i++)
        free(v[i].data);
    free(v);
    return rc;
}
