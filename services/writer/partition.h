/* partition.h: the time partitions of meetup_table and rsvp_batches, kept on one PostgreSQL
 * connection: created ahead of the clock so that a batch always finds its partition, and, with a
 * retention, detached and dropped once older than it, without ever making a batch wait. rsvp_counts
 * and rsvp_offsets are never touched. Several writers may run these at once: advisory locks make
 * one of them do the work and the others skip it. */
#ifndef SERVICES_WRITER_PARTITION_H
#define SERVICES_WRITER_PARTITION_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "services/writer/schema.h"

/* Advisory lock keys: creating partitions (held for one transaction) and dropping them (held for
 * the session while DETACH ... CONCURRENTLY waits), so that two writers never race to create the
 * same partition or detach the same one. */
#define PARTITION_CREATE_LOCK_KEY 0x7273767770727400LL /* "rsvpwprt" */
#define PARTITION_DROP_LOCK_KEY   0x7273767764727000LL /* "rsvpwdrp" */

/* The writer's bound on one DETACH ... CONCURRENTLY (partition_opts.detach_timeout_ms). */
#define PARTITION_DETACH_TIMEOUT_MS 10000

typedef struct partition_opts {
    int64_t interval_ms;       /* width of a new partition, whole seconds; boundaries are multiples of it
                                since the epoch (1 day: UTC midnight) */
    int ahead;                 /* partitions kept beyond the current one (>= 1) */
    int64_t retention_ms;      /* drop a partition once its upper bound is older than this; 0 keeps all */
    int64_t lock_timeout_ms;   /* the longest a partition creation waits for its locks (then: later) */
    int64_t detach_timeout_ms; /* the longest a detach or drop waits for older transactions */
} partition_opts;

/* One partition's bounds in ms since the epoch: [lo_ms, hi_ms); lo_ms INT64_MIN is MINVALUE. */
typedef struct partition_range {
    int64_t lo_ms, hi_ms;
} partition_range;

/* What a partition_ensure / partition_expire call did. */
typedef struct partition_report {
    int created;      /* partitions created */
    int dropped;      /* partitions (and orphans) dropped */
    int busy;         /* another session held the lock: nothing was done, nothing failed */
    int64_t ahead_ms; /* ensure: over both tables, how far from now partitions reach without a
                             gap (negative: the current time has no partition) */
} partition_report;

/* partition_metrics_init: register rsvp_writer_partitions_created_total and ..._dropped_total, which
 * every partition_ensure / partition_expire of the process then counts (before any thread starts;
 * without it nothing is counted). 0 or ERR_NOMEM. */
int partition_metrics_init(void);

/* partition_plan: the ranges to create so that partitions cover [now, now + ahead * interval]
 * without a gap: every gap gets [floor(t), floor(t) + interval) at its start t, clipped to its
 * neighbours in have[0..n) (so an interval changed between runs, or the legacy partition's odd end,
 * never makes ranges overlap or leave a hole). Writes at most cap ranges to out (ahead + 2 suffice
 * unless have is fragmented); returns their count. Pure. */
size_t partition_plan(const partition_range *have, size_t n, int64_t now_ms, int64_t interval_ms, int ahead,
                      partition_range *out, size_t cap);

/* partition_reach: the end of the gapless run of ranges in have[0..n) that contains now_ms, or
 * INT64_MIN if now_ms is in no range. Pure. */
int64_t partition_reach(const partition_range *have, size_t n, int64_t now_ms);

/* partition_ensure: create the missing partitions of both tables (partition_plan, the server's
 * clock) in one transaction under PARTITION_CREATE_LOCK_KEY: taken with pg_try_advisory_xact_lock
 * (busy: r->busy = 1, returns 0) unless wait is set. The connection must be idle (no transaction
 * open). Returns 0 or ERR_RETRY (msg says why; the transaction was rolled back, the connection may
 * be broken: check PQstatus). */
int partition_ensure(PGconn *c, const schema *s, const partition_opts *o, int wait, partition_report *r,
                     char *msg, size_t cap);

/* partition_expire: with o->retention_ms > 0, for both tables: finish a detach left pending,
 * detach (CONCURRENTLY: batches keep inserting meanwhile) and drop every partition whose upper
 * bound is older than the retention, and drop the orphans of an interrupted drop. Under
 * PARTITION_DROP_LOCK_KEY (try; busy as above). May wait for transactions that still use a
 * partition being detached, up to o->detach_timeout_ms. The connection must be idle.
 * Returns 0 or ERR_RETRY as partition_ensure. */
int partition_expire(PGconn *c, const schema *s, const partition_opts *o, partition_report *r, char *msg,
                     size_t cap);

#endif
