/* super.h: the supervisor behind `rsvpctl up`: starts the services as child processes, restarts
 * crashed ones with backoff, re-emits their output as rsvpctl log lines, scales replica counts
 * and stops everything in data-path order. Single-threaded: the caller drives it with super_poll()
 * from its main loop. Children run in their own process groups (a terminal's Ctrl-C reaches only
 * rsvpctl, which then stops them in order) and get SIGTERM if rsvpctl dies (PR_SET_PDEATHSIG). */
#ifndef TOOLS_RSVPCTL_SUPER_H
#define TOOLS_RSVPCTL_SUPER_H

#include <stdint.h>

#include "common/buf.h"
#include "tools/rsvpctl/conffile.h"
#include "tools/rsvpctl/restart.h"
#include "tools/rsvpctl/spec.h"

/* Environment variable through which a writer replica learns its nng listen URL, and through which
 * an aggregator learns every writer's URL (comma-separated). */
#define SUPER_WRITER_LISTEN_ENV "LISTEN"
#define SUPER_WRITER_URL_ENV    "WRITER_URL"

typedef struct super_opts {
    const char *bin_dir;         /* where rsvp-<service> binaries are */
    int counts[SVC_COUNT];       /* replicas per service; counts[SVC_REPLAY] is 0 or 1 */
    const char *replay_args;     /* whitespace-separated arguments of rsvp-replay */
    int64_t stop_timeout_ms;     /* SIGTERM -> SIGKILL grace per stage */
    int metrics_port_base;       /* replica r of svc serves on base + offset(svc) + 10 r */
    int writer_port_base;        /* writer r listens on <scheme>://host:(base + r) */
    const char *writer_scheme;   /* "tcp" or "tls+tcp" (spec_writer_scheme_ok); NULL = "tcp" */
    const char *host;            /* address children bind to, "127.0.0.1" */
    const char *instance_prefix; /* INSTANCE_ID = prefix + "parser-1" (unique transactional ids
                                  * when several pipelines share one Kafka); may be NULL */
    restart_policy restart;
    const conffile *conf; /* env.* lines for the children; may be NULL; must outlive s */
    char *const *environ; /* the environment passed through; must outlive s */
} super_opts;

typedef struct super super;

/* super_new: validate o (binaries exist and are executable) and prepare the process table.
 * On success *out owns it. ERR_INVALID with the reason in err (exit 2), ERR_NOMEM. */
int super_new(super **out, const super_opts *o, char *err, size_t errlen);
/* super_start: start every child in start order (replay, writer, aggregator, parser, ingestor).
 * A failed fork schedules a restart like a crash. */
void super_start(super *s);
/* super_poll: one turn of the loop, waiting at most timeout_ms: forwards child output, reaps
 * exits, restarts, escalates stops. extra_fd (>= 0) is polled too and *extra_ready says whether it
 * is readable. Returns 1 while the supervisor runs, 0 once a stop has completed (every child
 * exited). */
int super_poll(super *s, int extra_fd, int timeout_ms, int *extra_ready);
/* super_stop: begin the graceful stop: ingestor, replay, parser, aggregator, writer, each stage
 * SIGTERM then SIGKILL after the stop timeout. Idempotent. */
void super_stop(super *s);
/* super_stopping: nonzero once super_stop was called. */
int super_stopping(const super *s);
/* super_scale: set the replica count of every service whose bit is in mask (not replay, not the
 * writer: aggregators hold the writer list). New replicas start at once; removed ones (highest
 * index first) stop gracefully one at a time. 0, or ERR_INVALID with the reason in err. */
int super_scale(super *s, const int counts[SVC_COUNT], unsigned mask, char *err, size_t errlen);
/* super_killed: how many children needed SIGKILL after the stop timeout (0 = clean stop). */
int super_killed(const super *s);
/* super_counts: the target replica counts. */
void super_counts(const super *s, int counts[SVC_COUNT]);
/* super_status: append one control protocol line per process (control.h). 0 or ERR_NOMEM. */
int super_status(const super *s, buf *out);
/* super_free: NULL-safe. Kills (SIGKILL) any child still running, reaps it, frees. */
void super_free(super *s);

#endif
