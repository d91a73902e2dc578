/* store.h: one PostgreSQL connection of the writer and the exactly-once batch transaction on it.
 * A store is owned by one worker thread. It connects lazily with capped backoff, (re)creates the
 * schema and prepares its statements on every (re)connect, and sorts every failure into
 * "retry later" (database down, serialization failure) or "bad request". */
#ifndef SERVICES_WRITER_STORE_H
#define SERVICES_WRITER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/rsvp.pb-c.h"
#include "services/writer/partition.h"
#include "services/writer/schema.h"

typedef struct store store;

typedef struct store_opts {
    const char *pg_url;      /* libpq URL or key=value string */
    const schema *sch;       /* borrowed; outlives the store */
    int64_t backoff_base_ms; /* reconnect backoff */
    int64_t backoff_max_ms;
    int64_t connect_timeout_s;    /* libpq connect_timeout (>= 2) */
    int64_t statement_timeout_ms; /* 0 = none */
    int tx_retries;               /* serialization failure / deadlock: internal retries */
    partition_opts part;          /* time partitions of the history tables (partition.h) */
} store_opts;

/* Outcome details of store_apply_batch(). */
typedef struct store_result {
    int64_t batch_id;      /* on 0 */
    int64_t stored_offset; /* on ERR_STALE: the stored next offset, -1 when none */
    int tx_retries;        /* internal transaction retries spent */
    char message[256];     /* on failure: PostgreSQL's (or our) reason, one line */
} store_result;

/* store_new: no I/O; the first store_ensure() connects. opts is copied (strings borrowed). */
int store_new(store **out, const store_opts *opts);

/* store_ensure: make the connection usable: if down and the backoff delay has passed, connect,
 * apply the DDL under the advisory lock (converting a database of the previous version), create
 * the partitions for now and ahead (partition_ensure), the load table and prepare statements.
 * Returns 0 when ready, ERR_RETRY when down (immediately if the backoff delay is still
 * running). Blocks at most about connect_timeout_s. */
int store_ensure(store *s);

/* store_ready: nonzero while the connection is believed usable. */
int store_ready(const store *s);

/* store_ping: on an idle connection, a round trip that detects a dead server. 0 or ERR_RETRY. */
int store_ping(store *s);

/* store_apply_batch: the exactly-once transaction for a validated batch: lock the offset row
 * (or insert it for from_offset == -1), check next_offset == from_offset, COPY the rows, upsert
 * the totals, append meetup rows, advance the offset, record the batch, commit.
 * A batch whose time has no partition yet creates it (waiting for the lock) and runs again.
 * Returns 0 (res->batch_id), ERR_STALE (res->stored_offset), ERR_RETRY (database down or
 * retries exhausted; nothing committed unless the commit reply itself was lost) or
 * ERR_INVALID (the database rejected the data, e.g. a key twice in one batch; nothing committed).
 * res->message explains every failure. */
int store_apply_batch(store *s, const Rsvp__V1__Batch *b, store_result *res);

/* store_query_offsets: out[i] = stored next offset of parts[i] (-1 when none).
 * 0, ERR_RETRY or ERR_INVALID; msg (cap >= 1) explains a failure. */
int store_query_offsets(store *s, const char *topic, const int32_t *parts, size_t n, int64_t *out, char *msg,
                        size_t cap);

/* store_maintain: the partition keeper's step on this store's connection (connecting first if
 * needed): partition_ensure (made) then, with a retention, partition_expire (dropped). 0 or
 * ERR_RETRY with msg (cap >= 1) saying why. Never blocks a batch of another connection. */
int store_maintain(store *s, partition_report *made, partition_report *dropped, char *msg, size_t cap);

/* store_mask_url: url with its password replaced by "***" (URL form user:pw@ and key=value form
 * password=pw), for logs. Always NUL-terminates out (truncating). Pure. */
void store_mask_url(const char *url, char *out, size_t cap);

/* store_free: closes the connection. NULL-safe. */
void store_free(store *s);

#endif
