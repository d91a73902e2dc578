/* retention.h: the writer's partition keeper, a thread with a database connection of its own that
 * every check period creates the time partitions ahead of the clock and, when RETENTION is set,
 * drops those older than it (store_maintain, partition.h). Batches never wait for it. */
#ifndef SERVICES_WRITER_RETENTION_H
#define SERVICES_WRITER_RETENTION_H

#include <stdint.h>

#include "services/writer/store.h"

typedef struct retention retention;

/* retention_period_ms: how often the keeper runs for a partition interval: a quarter of it,
 * between 1 s and 60 s. Pure. */
int64_t retention_period_ms(int64_t interval_ms);

/* retention_new: registers rsvp_writer_partition_errors_total and rsvp_writer_partition_ahead_seconds
 * (once per process) and prepares the keeper (no I/O). so is copied (its strings and schema borrowed: they
 * outlive the keeper). 0 or ERR_NOMEM. */
int retention_new(retention **out, const store_opts *so, int64_t period_ms);

/* retention_start: start the thread; its first step runs at once. 0 or ERR_IO. */
int retention_start(retention *r);

/* retention_stop: ask the thread to stop and join it (a step in progress finishes first; a detach
 * waits at most the detach timeout of the partition options). Idempotent. */
void retention_stop(retention *r);

/* retention_free: stops if needed, closes the connection. NULL-safe. */
void retention_free(retention *r);

#endif
