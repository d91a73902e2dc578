/* bench_parser.c: micro-benchmark of the parser's hot path on one core: rsvp_json_parse + protobuf
 * pack as the service packs (services/parser/parser.c emit_parsed) over the recorded RSVPs (looped),
 * parse alone, and parse by the two-pass reference path (jsmn + validation pass) for comparison.
 * Prints msgs/s and MB/s of raw JSON per second of this thread's CPU time (so a busy machine does
 * not distort it), and per wall second.
 * Usage: bench-parser [file.ndjson] [seconds]  (defaults: tests/data/meetup-rsvps-recorded.ndjson, 3) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "services/parser/rsvp_json.h"

typedef struct msg {
    const char *p;
    size_t n;
} msg;

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

enum mode { PARSE, PARSE_ENCODE, PARSE_TWOPASS };

/* run: loop over msgs for about seconds of CPU time; returns messages per CPU second and sets
 * *bytes_s (per CPU second) and *wall (messages per wall second). */
static double run(rsvp_json *p, const msg *m, size_t count, enum mode mode, double seconds, double *bytes_s,
                  double *wall, uint64_t *sink)
{
    /* the service's buffer: max_message_bytes + 1024, measured only if the bound is over it */
    static uint8_t out[(1 << 16) + 1024 + (1 << 17)];
    uint64_t done = 0, bytes = 0;
    int64_t w0 = clock_mono_ns(), t0 = cpu_ns(), end = t0 + (int64_t)(seconds * 1e9), now;
    do {
        for (size_t i = 0; i < count; i++) {
            Rsvp__V1__Rsvp *x = NULL;
            rsvp_json_reason r = mode == PARSE_TWOPASS ? rsvp_json_parse_twopass(p, m[i].p, m[i].n, &x)
                                                       : rsvp_json_parse(p, m[i].p, m[i].n, &x);
            if (r == RSVP_JSON_OK && mode == PARSE_ENCODE &&
                (rsvp_json_packed_bound(p) <= (1 << 16) + 1024 ||
                 rsvp__v1__rsvp__get_packed_size(x) <= sizeof out))
                *sink += rsvp__v1__rsvp__pack(x, out);
            bytes += m[i].n;
        }
        done += count;
        now = cpu_ns();
    } while (now < end);
    double s = (double)(now - t0) / 1e9;
    *bytes_s = (double)bytes / s;
    *wall = (double)done / ((double)(clock_mono_ns() - w0) / 1e9);
    return (double)done / s;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/data/meetup-rsvps-recorded.ndjson";
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench-parser: cannot open %s\n", path);
        return 2;
    }
    size_t cap = 1 << 20, len = 0;
    char *data = malloc(cap);
    size_t n;
    while (data && (n = fread(data + len, 1, cap - len, f)) > 0)
        if ((len += n) == cap)
            data = realloc(data, cap *= 2);
    fclose(f);
    if (!data)
        return 1;
    size_t count = 0, mcap = 4096;
    msg *m = malloc(sizeof *m * mcap);
    for (char *s = data, *e; s < data + len; s = e + 1) {
        e = memchr(s, '\n', (size_t)(data + len - s));
        if (!e)
            e = data + len;
        if (e > s) {
            if (count == mcap)
                m = realloc(m, sizeof *m * (mcap *= 2));
            m[count++] = (msg){s, (size_t)(e - s)};
        }
    }
    rsvp_json *p = NULL;
    if (rsvp_json_new(&p, NULL) != 0)
        return 1;
    size_t ok = 0;
    for (size_t i = 0; i < count; i++) {
        Rsvp__V1__Rsvp *x = NULL;
        ok += rsvp_json_parse(p, m[i].p, m[i].n, &x) == RSVP_JSON_OK;
    }
    uint64_t sink = 0;
    double bps1, bps2, bps3, wall1, wall2, wall3;
    run(p, m, count, PARSE_ENCODE, seconds / 6, &bps1, &wall1, &sink); /* warm-up */
    double both = run(p, m, count, PARSE_ENCODE, seconds, &bps1, &wall1, &sink);
    double parse = run(p, m, count, PARSE, seconds, &bps2, &wall2, &sink);
    double twopass = run(p, m, count, PARSE_TWOPASS, seconds / 2, &bps3, &wall3, &sink);
    printf("| benchmark (%zu recorded msgs, %zu valid, 1 core) | msgs/s (CPU time) | MB/s | "
           "ns/msg | msgs/s (wall) |\n|---|---|---|---|---|\n",
           count, ok);
    printf("| parse+encode | %.0f | %.1f | %.0f | %.0f |\n", both, bps1 / 1e6, 1e9 / both, wall1);
    printf("| parse only | %.0f | %.1f | %.0f | %.0f |\n", parse, bps2 / 1e6, 1e9 / parse, wall2);
    printf("| parse only, two-pass reference path (jsmn + validation pass) | %.0f | %.1f | %.0f | "
           "%.0f |\n",
           twopass, bps3 / 1e6, 1e9 / twopass, wall3);
    fprintf(stderr, "(sink %llu)\n", (unsigned long long)sink);
    rsvp_json_free(p);
    free(m);
    free(data);
    return 0;
}
