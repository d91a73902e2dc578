/* main.c: rsvp-replay, the project's stand-in for Meetup's stream http://stream.meetup.com/2/rsvps.
 * Wiring only: options -> timeline (file once, file loop or synthetic) -> either --dump it to
 * stdout, or serve it over HTTP (server.c) with metrics on --metrics-addr until SIGTERM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sig.h"
#include "common/version.h"
#include "tools/replay/server.h"
#include "tools/replay/timeline.h"

typedef struct replay_opts {
    char *listen, *file, *since_mtime;
    int loop, synthetic, dump, gzip, file_order;
    int64_t seed, gzip_level, per_ms, start_mtime, count, chunk_bytes, max_clients;
    double rate, stall_seconds;
    server_faults faults;
} replay_opts;

/* Print the timeline messages a connection with ?since_mtime=since gets (INT64_MIN: all) to stdout;
 * 0, or 1 on a write error other than a closed pipe (`rsvp-replay --dump --synthetic | head` is a
 * normal way to stop an endless dump). */
static int dump(const timeline *tl, int64_t since)
{
    buf b = {0};
    int rc = 0;
    for (int64_t i = timeline_next(tl, 0, since); i < timeline_count(tl) && rc == 0;
         i = timeline_next(tl, i + 1, since)) {
        rc = timeline_render(tl, i, &b);
        if (rc == 0 && (b.len >= (1u << 20) || timeline_next(tl, i + 1, since) == timeline_count(tl) ||
                        sig_stopping())) {
            if (fwrite(b.data, 1, b.len, stdout) != b.len)
                rc = ERR_IO;
            buf_reset(&b);
            if (sig_stopping())
                break;
        }
    }
    if (rc == 0 && fflush(stdout) != 0)
        rc = ERR_IO;
    buf_free(&b);
    if (rc == ERR_IO && errno == EPIPE)
        return 0;
    if (rc != 0)
        log_error("dump failed", "error=%s", err_str(rc));
    return rc ? 1 : 0;
}

/* The options, set by cfg_parse() from this table (default < environment < flag). */
static replay_opts o;
static cfg_common common;
/* clang-format off */
static const cfg_option opts[] = {
    {"listen", "REPLAY_LISTEN", CFG_STRING, "127.0.0.1:8080",
     "host:port of the stream", 0, 0, 0, &o.listen},
    {"file", "REPLAY_FILE", CFG_STRING, NULL,
     "NDJSON source (played once sorted by mtime, or --loop)", 0, 0, 0, &o.file},
    {"loop", "REPLAY_LOOP", CFG_BOOL, "false",
     "loop the file forever, rewriting rsvp_id and mtime", 0, 0, 0, &o.loop},
    {"file-order", "REPLAY_FILE_ORDER", CFG_BOOL, "false",
     "play --file in its own order, not sorted by mtime (an unsorted stream; lines without an "
     "integer mtime allowed)", 0, 0, 0, &o.file_order},
    {"synthetic", "REPLAY_SYNTHETIC", CFG_BOOL, "false",
     "generate realistic RSVPs instead of a file", 0, 0, 0, &o.synthetic},
    {"seed", "REPLAY_SEED", CFG_INT, "1", "seed of --synthetic", 0, 0, 0, &o.seed},
    {"rate", "REPLAY_RATE", CFG_DOUBLE, "0",
     "messages per second, smoothly paced (0 = as fast as the client reads)", 0, 0, 0, &o.rate},
    {"per-ms", "REPLAY_PER_MS", CFG_INT, "10",
     "unpaced: messages sharing one mtime millisecond", 1, 1000000000, 0, &o.per_ms},
    {"start-mtime", "REPLAY_START_MTIME", CFG_INT, "0",
     "mtime of message 0 in ms (0 = server start time)", 0, INT64_MAX / 2, 0, &o.start_mtime},
    {"count", "REPLAY_COUNT", CFG_INT, "-1",
     "messages in the timeline (-1 = endless, or the file once)", -1, INT64_MAX / 2, 0, &o.count},
    {"dump", "REPLAY_DUMP", CFG_BOOL, "false",
     "print the timeline to stdout and exit (no server)", 0, 0, 0, &o.dump},
    {"since-mtime", "REPLAY_SINCE_MTIME", CFG_STRING, NULL,
     "--dump from the first message with mtime >= this", 0, 0, 0, &o.since_mtime},
    {"chunk-bytes", "REPLAY_CHUNK_BYTES", CFG_SIZE, "16k",
     "largest HTTP chunk (lines may span chunks)", 1, 1 << 24, 0, &o.chunk_bytes},
    {"gzip", "REPLAY_GZIP", CFG_BOOL, "true",
     "gzip the body when the client sends Accept-Encoding: gzip", 0, 0, 0, &o.gzip},
    {"gzip-level", "REPLAY_GZIP_LEVEL", CFG_INT, "1",
     "zlib level of --gzip (1 fastest .. 9 smallest)", 1, 9, 0, &o.gzip_level},
    {"max-clients", "REPLAY_MAX_CLIENTS", CFG_INT, "256",
     "concurrent connections", 1, 100000, 0, &o.max_clients},
    {"fault-close-after", "REPLAY_FAULT_CLOSE_AFTER", CFG_INT, "0",
     "close each connection after N messages (0 = off)",
     0, INT64_MAX / 2, 0, &o.faults.close_after},
    {"fault-stall-after", "REPLAY_FAULT_STALL_AFTER", CFG_INT, "0",
     "once per server: stall the first connection reaching M messages",
     0, INT64_MAX / 2, 0, &o.faults.stall_after},
    {"fault-stall-seconds", "REPLAY_FAULT_STALL_SECONDS", CFG_DOUBLE, "5",
     "length of that stall", 0, 0, 0, &o.stall_seconds},
    {"fault-truncated-every", "REPLAY_FAULT_TRUNCATED_EVERY", CFG_INT, "0",
     "extra truncated copy after every K-th message",
     0, INT64_MAX / 2, 0, &o.faults.truncated_every},
    {"fault-bad-utf8-every", "REPLAY_FAULT_BAD_UTF8_EVERY", CFG_INT, "0",
     "extra invalid UTF-8 line after every K-th message",
     0, INT64_MAX / 2, 0, &o.faults.bad_utf8_every},
    {"fault-huge-every", "REPLAY_FAULT_HUGE_EVERY", CFG_INT, "0",
     "extra huge line after every K-th message", 0, INT64_MAX / 2, 0, &o.faults.huge_every},
    {"fault-huge-bytes", "REPLAY_FAULT_HUGE_BYTES", CFG_SIZE, "4M",
     "size of the huge line", 32, 1LL << 30, 0, &o.faults.huge_bytes},
    {"fault-nonjson-every", "REPLAY_FAULT_NONJSON_EVERY", CFG_INT, "0",
     "extra 'this is not json' line after every K-th message",
     0, INT64_MAX / 2, 0, &o.faults.nonjson_every},
    {"fault-status", "REPLAY_FAULT_STATUS", CFG_INT, "0",
     "answer the first requests with this HTTP status (e.g. 429, 503)",
     0, 599, 0, &o.faults.status_code},
    {"fault-status-count", "REPLAY_FAULT_STATUS_COUNT", CFG_INT, "1",
     "how many requests get --fault-status", 0, INT64_MAX / 2, 0, &o.faults.status_count},
    CFG_COMMON_OPTIONS(&common, "127.0.0.1:9105"),
    {0},
};
/* clang-format on */

/* Validation the option table cannot express; prints why and returns nonzero. */
static int validate(int64_t *since)
{
    const char *why = NULL;
    if (o.synthetic == !!o.file)
        why = "give exactly one source: --file PATH or --synthetic";
    else if (o.loop && !o.file)
        why = "--loop needs --file";
    else if (o.file_order && (!o.file || o.loop))
        why = "--file-order needs --file and no --loop";
    else if (o.rate < 0 || o.stall_seconds < 0)
        why = "--rate and --fault-stall-seconds must be >= 0";
    else if (o.faults.status_code && (o.faults.status_code < 100 || o.faults.status_code > 599))
        why = "--fault-status must be an HTTP status code";
    else if (o.since_mtime) {
        char *end;
        errno = 0;
        *since = strtoll(o.since_mtime, &end, 10);
        if (!o.since_mtime[0] || *end || errno)
            why = "--since-mtime must be an integer (ms since the epoch)";
    }
    if (why)
        fprintf(stderr, "rsvp-replay: %s\n", why);
    return why != NULL;
}

int main(int argc, char **argv)
{
    /* 1. configuration: exit 0 after --help, 2 on a bad value */
    int rc =
        cfg_parse("rsvp-replay", "replays or synthesises Meetup's RSVP stream over HTTP", opts, argc, argv);
    int64_t since = 0;
    log_level level = LOGL_INFO;
    if (rc != 0 || validate(&since) || log_level_parse(common.log_level, &level) != 0) {
        cfg_free(opts);
        return rc == 1 ? 0 : 2;
    }
    o.faults.stall_ms = (int64_t)(o.stall_seconds * 1000.0);

    /* 2. init, in this order: logs, signals, the timeline (fixes the start), metrics, server */
    log_init("replay", cfg_instance_id(common.instance_id), level);
    sig_init();
    int64_t start_ms = o.start_mtime ? o.start_mtime : clock_wall_ms();
    int64_t start_mono = clock_mono_ns();
    timeline_cfg tc = {.kind = o.synthetic ? TIMELINE_SYNTHETIC
                               : o.loop    ? TIMELINE_FILE_LOOP
                                           : TIMELINE_FILE_ONCE,
                       .path = o.file,
                       .seed = (uint64_t)o.seed,
                       .rate = o.rate,
                       .per_ms = o.per_ms,
                       .start_ms = start_ms,
                       .count = o.count,
                       .file_order = o.file_order};
    timeline *tl = NULL;
    httpd *http = NULL;
    server *srv = NULL;
    char err[512];
    int exit_code = 2;
    if ((rc = timeline_new(&tl, &tc, err, sizeof err)) != 0) {
        log_error("cannot build the timeline", "error=%s", err);
        goto out;
    }
    if (o.dump) {
        exit_code = dump(tl, o.since_mtime ? since : INT64_MIN);
        goto out;
    }
    if (common.metrics_addr && common.metrics_addr[0] &&
        (rc = httpd_start(&http, common.metrics_addr)) != 0) {
        log_error("metrics endpoint failed", "addr=%s error=%s", common.metrics_addr, err_str(rc));
        goto out;
    }
    server_cfg sc = {.listen = o.listen,
                     .tl = tl,
                     .rate = o.rate,
                     .start_mono_ns = start_mono,
                     .chunk_bytes = o.chunk_bytes,
                     .max_clients = o.max_clients,
                     .gzip_level = o.gzip ? (int)o.gzip_level : -1,
                     .faults = o.faults};
    if ((rc = server_new(&srv, &sc)) != 0) {
        log_error("cannot listen", "addr=%s error=%s", o.listen, err_str(rc));
        goto out;
    }
    httpd_set_ready(http, 1, NULL);
    log_info("up", "version=%s listen=%s port=%d source=%s count=%lld rate=%g start_mtime=%lld", RSVP_VERSION,
             o.listen, server_port(srv),
             o.synthetic    ? "synthetic"
             : o.loop       ? "file-loop"
             : o.file_order ? "file-order"
                            : "file-once",
             (long long)timeline_count(tl), o.rate, (long long)start_ms);
    cfg_log_effective(opts);

    /* 3. serve until SIGTERM/SIGINT */
    rc = server_run(srv, sig_stopping);
    log_info("stopping", "result=%s", err_str(rc));
    exit_code = rc == 0 ? 0 : 1;

out: /* 4. teardown, in reverse (every free is NULL-safe) */
    server_free(srv);
    httpd_free(http);
    timeline_free(tl);
    metrics_free_all();
    cfg_free(opts);
    return exit_code;
}
