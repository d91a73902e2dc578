/* bench_parser.c: micro-benchmark of the parser's hot path on one core: rsvp_json_parse + protobuf
 * pack as the service packs (services/parser/parser.c emit_parsed, rsvpenc.h) over the recorded RSVPs
 * (looped), parse with protobuf-c's generic pack instead, parse alone, and parse by the slow path
 * (strict: jsmn + validation pass; reference: sparkjson).
 * The baseline is a bare jsmn tokenization of the same bytes (no validation, no field reading, no
 * encoding) in jsmn's fastest configuration (parent links, not strict): parse+encode and the
 * baseline run in alternating slices, so a change in the machine's load hits both alike, and their
 * ratio is printed on its own line ("parse+encode / jsmn: R").
 * Prints msgs/s and MB/s of raw JSON per second of this thread's CPU time (so a busy machine does
 * not distort it), and per wall second.
 * Usage: bench-parser [file.ndjson] [seconds] [reference|strict]
 *   (defaults: tests/data/meetup-rsvps-recorded.ndjson, 3, reference: the service's default mode) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "services/parser/rsvp_json.h"
#include "services/parser/rsvpenc.h"

/* jsmn's own copy for the baseline (static: the parser's copy in rsvp_json.c is configured apart) */
#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#define BASE_TOKENS 8192 /* as many tokens as the parser allows (rsvp_json_limits_default) */

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

enum mode { PARSE, PARSE_ENCODE, PARSE_ENCODE_PBC, PARSE_TWOPASS, JSMN_TOKENIZE };

/* What one or more slices of a mode did: messages, raw bytes, CPU and wall nanoseconds. */
typedef struct tally {
    uint64_t done, bytes;
    int64_t cpu, wall;
} tally;

/* run: loop over msgs for about seconds of CPU time, adding what it did to *t. */
static void run(rsvp_json *p, const msg *m, size_t count, enum mode mode, double seconds, tally *t,
                uint64_t *sink)
{
    /* the service's buffer: max_message_bytes + 1024, measured only if the bound is over it */
    static uint8_t out[(1 << 16) + 1024 + (1 << 17)];
    static jsmntok_t tok[BASE_TOKENS];
    uint64_t done = 0, bytes = 0;
    int64_t w0 = clock_mono_ns(), t0 = cpu_ns(), end = t0 + (int64_t)(seconds * 1e9), now;
    do {
        for (size_t i = 0; i < count; i++) {
            if (mode == JSMN_TOKENIZE) {
                jsmn_parser jp;
                jsmn_init(&jp);
                *sink += (uint64_t)jsmn_parse(&jp, m[i].p, m[i].n, tok, BASE_TOKENS);
            } else {
                Rsvp__V1__Rsvp *x = NULL;
                rsvp_json_reason r = mode == PARSE_TWOPASS ? rsvp_json_parse_twopass(p, m[i].p, m[i].n, &x)
                                                           : rsvp_json_parse(p, m[i].p, m[i].n, &x);
                if (r == RSVP_JSON_OK && (mode == PARSE_ENCODE || mode == PARSE_ENCODE_PBC) &&
                    (rsvp_json_packed_bound(p) <= (1 << 16) + 1024 ||
                     rsvp__v1__rsvp__get_packed_size(x) <= sizeof out))
                    *sink += mode == PARSE_ENCODE ? rsvpenc_pack(x, out) : rsvp__v1__rsvp__pack(x, out);
            }
            bytes += m[i].n;
        }
        done += count;
        now = cpu_ns();
    } while (now < end);
    t->done += done;
    t->bytes += bytes;
    t->cpu += now - t0;
    t->wall += clock_mono_ns() - w0;
}

static double per_cpu_s(const tally *t)
{
    return (double)t->done / ((double)t->cpu / 1e9);
}

/* row: one Markdown table row of a tally. */
static void row(const char *name, const tally *t)
{
    double rate = per_cpu_s(t);
    printf("| %s | %.0f | %.1f | %.0f | %.0f |\n", name, rate, (double)t->bytes / ((double)t->cpu / 1e3),
           1e9 / rate, (double)t->done / ((double)t->wall / 1e9));
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/data/meetup-rsvps-recorded.ndjson";
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    rsvp_json_limits lim = rsvp_json_limits_default();
    if (argc > 3 && rsvp_json_mode_parse(argv[3], &lim.mode) != 0) {
        fprintf(stderr, "bench-parser: the mode is reference or strict\n");
        return 2;
    }
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
    if (rsvp_json_new(&p, &lim) != 0)
        return 1;
    size_t ok = 0;
    for (size_t i = 0; i < count; i++) {
        Rsvp__V1__Rsvp *x = NULL;
        ok += rsvp_json_parse(p, m[i].p, m[i].n, &x) == RSVP_JSON_OK;
    }
    uint64_t sink = 0;
    tally warm = {0}, both = {0}, base = {0}, parse = {0}, pbc = {0}, twopass = {0};
    run(p, m, count, PARSE_ENCODE, seconds / 6, &warm, &sink); /* warm-up */
    run(p, m, count, JSMN_TOKENIZE, seconds / 6, &warm, &sink);
    enum { SLICES = 10 };
    for (int i = 0; i < SLICES; i++) { /* alternating, so all see the same machine */
        run(p, m, count, PARSE_ENCODE, seconds / SLICES, &both, &sink);
        run(p, m, count, JSMN_TOKENIZE, seconds / SLICES, &base, &sink);
        run(p, m, count, PARSE_ENCODE_PBC, seconds / SLICES / 2, &pbc, &sink);
    }
    run(p, m, count, PARSE, seconds / 2, &parse, &sink);
    run(p, m, count, PARSE_TWOPASS, seconds / 2, &twopass, &sink);
    printf("| benchmark (%zu recorded msgs, %zu valid, 1 core, %s mode) | msgs/s (CPU time) | MB/s | "
           "ns/msg | msgs/s (wall) |\n|---|---|---|---|---|\n",
           count, ok, lim.mode == RSVP_JSON_STRICT ? "strict" : "reference");
    row("parse+encode", &both);
    row("parse + protobuf-c's generic pack (the encoder before rsvpenc)", &pbc);
    row("parse only", &parse);
    row("parse only, the slow path (strict: jsmn + validation pass; reference: sparkjson)", &twopass);
    row("baseline: bare jsmn tokenization of the same bytes (parent links, not strict)", &base);
    printf("\nparse+encode / jsmn: %.2f\n", per_cpu_s(&both) / per_cpu_s(&base));
    fprintf(stderr, "(sink %llu)\n", (unsigned long long)sink);
    rsvp_json_free(p);
    free(m);
    free(data);
    return 0;
}
