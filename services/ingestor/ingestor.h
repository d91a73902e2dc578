/* ingestor.h: the ingestor's loop: HTTP stream -> lines -> dedup against the resume state -> one
 * Kafka transaction per COMMIT_INTERVAL or COMMIT_MESSAGES. Owns the source connection, the
 * reconnect backoff, backpressure (pausing the transfer while librdkafka's queue is full), the
 * rollback to the last committed state when a transaction fails, and the metrics, logs and
 * readiness that say what the resume state refused. */
#ifndef SERVICES_INGESTOR_INGESTOR_H
#define SERVICES_INGESTOR_INGESTOR_H

#include <stdint.h>

#include "common/http.h"
#include "services/ingestor/producer.h"
#include "services/ingestor/resume.h"

typedef struct ingestor ingestor;

typedef struct ingestor_opts {
    const char *source_url;     /* base stream URL (since_mtime is appended) */
    int64_t max_line_bytes;     /* longer lines are counted and skipped */
    int64_t stall_ms;           /* no byte for this long: reconnect */
    int64_t commit_interval_ms; /* commit an open transaction at least this often */
    int64_t commit_messages;    /* ... or when it holds this many messages */
    int64_t backoff_base_ms;    /* reconnect backoff (common/backoff.h) */
    int64_t backoff_max_ms;
    int64_t initial_since_ms;    /* since_mtime while no resume point exists (empty topic); < 0: live */
    const char *accept_encoding; /* for source_set_encoding(): NULL none, "" all, or a list */
} ingestor_opts;

/* ingestor_new: prod must be initialised (producer_init done) and r holds the resume state
 * recovered from the topic (committed); both stay owned by the caller and must outlive the
 * ingestor, which commits and rolls r back with its transactions. h (may be NULL) gets readiness:
 * ready while the source streams, the last commit succeeded and the resume point is not stuck
 * behind more lines beyond the clock than it can hold. Registers the rsvp_ingestor_* metrics. On
 * success *out owns the ingestor. 0, ERR_NOMEM or ERR_IO. */
int ingestor_new(ingestor **out, const ingestor_opts *o, producer *prod, resume *r, httpd *h);

/* ingestor_free: NULL-safe; does not commit (ingestor_run does that on its way out). */
void ingestor_free(ingestor *g);

/* ingestor_run: loop until sig_stopping() or a fatal Kafka error, waking at least every 100 ms.
 * On stop: stops reading the source and commits the open transaction. Returns 0 (stopped, all
 * produced data committed), ERR_FATAL (e.g. fenced by a newer instance) or ERR_ABORTED (the final
 * commit failed and was aborted: nothing is lost, the next start re-fetches it). */
int ingestor_run(ingestor *g);

#endif
