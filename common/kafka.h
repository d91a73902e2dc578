/* kafka.h: librdkafka configuration and callbacks shared by every Kafka client of the project.
 * Settings are layered: the caller's defaults < KAFKA_* environment < -X flags (config.h), so
 * TLS and SASL (security.protocol, ssl.*, sasl.*) need no code. Wires librdkafka's log, error and
 * (when statistics.interval.ms is set) stats callbacks to log.h and metrics.h:
 *   rsvp_<service>_kafka_errors_total{fatal="0|1"}, rsvp_<service>_kafka_log_total{level=...}. */
#ifndef COMMON_KAFKA_H
#define COMMON_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "common/backoff.h"

/* kafka_conf_new: defaults is a NULL-terminated list of key, value pairs applied first
 * (bootstrap.servers defaults to 127.0.0.1:19092 if nobody sets it). service names the metrics.
 * On success *out is a new conf the caller passes to rd_kafka_new() (which takes it). Returns 0 or
 * ERR_INVALID with librdkafka's message in errstr. */
int kafka_conf_new(rd_kafka_conf_t **out, const char *service, const char *const *defaults, char *errstr,
                   size_t errlen);

/* kafka_fatal: nonzero once librdkafka reported a fatal error on any handle (e.g. _FENCED). */
int kafka_fatal(void);

/* kafka_consumer_lag: sum over the handle's assigned partitions of (high watermark - position),
 * from librdkafka's cached watermarks (no broker round trip); -1 when unknown. */
int64_t kafka_consumer_lag(rd_kafka_t *rk);

/* kafka_wait_ready: metadata request until a broker answers or timeout_ms passes. 0,
 * ERR_TIMEOUT, or ERR_CLOSED when a stop signal (sig.h) arrived while waiting. */
int kafka_wait_ready(rd_kafka_t *rk, int timeout_ms);

/* kafka_metric_name: "rsvp_<service>_<suffix>" into out (cap bytes), every character outside
 * [a-zA-Z0-9_] turned into '_': the name every Kafka metric of a service is registered under. */
void kafka_metric_name(char *out, size_t cap, const char *service, const char *suffix);

/* kafka_error_kind: what a failed call of librdkafka's transactional API (an rd_kafka_error_t)
 * leaves the caller to do, by the error's own flags, in this order:
 *   ERR_FATAL    the handle is unusable (e.g. fenced by a newer instance): stop, destroy it;
 *   ERR_ABORTED  the transaction is doomed: abort it, then redo its work (txn_requires_abort);
 *   ERR_RETRY    the same call may be repeated (retriable, or timed out: it goes on in the background);
 *   ERR_INVALID  none of these: the call cannot succeed as made (e.g. _STATE); the caller decides.
 * Does not free e. Any thread. */
int kafka_error_kind(const rd_kafka_error_t *e);

/* kafka_init_transactions: rd_kafka_init_transactions until it succeeds, in resumable 250 ms steps
 * (SIGTERM stays prompt while the broker is unreachable or refuses us), serving the handle's
 * callbacks between steps so errors reach logs and metrics. A timeout is resumed at once (logged
 * every 30 s); any other error that is not fatal is logged and retried after backoff_next(bo): a
 * restart would meet the same broker. Returns 0, ERR_CLOSED (stop signal) or ERR_FATAL (fatal
 * error); librdkafka's message in errstr. */
int kafka_init_transactions(rd_kafka_t *rk, backoff *bo, char *errstr, size_t errlen);

/* kafka_producer_destroy: rd_kafka_destroy of a producer, made safe after a fatal error. With
 * purge set, or whenever the handle had a fatal error (e.g. fenced), queued and in-flight messages
 * are purged first (blocking: every broker thread has dropped its requests when it returns); then
 * delivery reports are served for up to flush_ms. Why: destroying a fenced librdkafka 2.0.2
 * producer with requests in flight corrupted the heap in 3 of 41 fencings (a late fenced
 * ProduceResponse raced the teardown; the freed chunk held its error text). NULL: no-op. */
void kafka_producer_destroy(rd_kafka_t *rk, int purge, int flush_ms);

#endif
