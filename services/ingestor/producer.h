/* producer.h: the ingestor's transactional Kafka producer for the raw topic: common/ktxn.h (which
 * sorts librdkafka's errors: retry later (ERR_RETRY), transaction aborted so roll back
 * (ERR_ABORTED), give up (ERR_FATAL, e.g. fenced by a newer instance with the same
 * transactional.id)) bound to one topic, with the topic's creation. Single-threaded: call
 * everything from the loop. */
#ifndef SERVICES_INGESTOR_PRODUCER_H
#define SERVICES_INGESTOR_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "common/backoff.h"

typedef struct producer producer;

/* producer_new: topic and txn_id are copied. max_message_bytes bounds one message (sets
 * message.max.bytes unless KAFKA_MESSAGE_MAX_BYTES / -X overrides it). lz4 and linger.ms=5 are
 * defaults the KAFKA_* env and -X flags may override; the transactional.id is txn_id. lz4 is the largest
 * single CPU cost of the ingestor (~0.8 CPU s per million 1 KB lines in librdkafka's broker
 * thread, about a third of the total) and keeps it: the raw topic is ~3.4x smaller on disk and
 * on the wire, and the broker works less. KAFKA_COMPRESSION_TYPE=none saved the ingestor 0.2-1.0
 * CPU s per million (socket copies replace lz4) and cost the broker 0.3-1.5 s more in back-to-back
 * runs on a shared 2-core box: worth it only where broker CPU and disk are plentiful.
 * On success *out owns the producer. Returns 0, ERR_NOMEM or ERR_INVALID with librdkafka's
 * message in errstr. */
int producer_new(producer **out, const char *topic, const char *txn_id, int64_t max_message_bytes,
                 char *errstr, size_t errlen);

/* producer_free: destroys the handle without committing (ktxn_free: an open transaction is purged,
 * for the broker or the next instance's init_transactions to abort). NULL-safe. */
void producer_free(producer *p);

/* producer_init: ktxn_init: registers the transactional.id, fences an older instance and aborts its
 * open transaction, retrying until done or a stop signal. Returns 0, ERR_CLOSED or ERR_FATAL;
 * librdkafka's message in errstr. */
int producer_init(producer *p, backoff *bo, char *errstr, size_t errlen);

/* producer_ensure_topic: make sure the topic exists, creating it with the broker's default
 * partition count and replication factor if not, and wait until every partition has a leader, so
 * recovery sees every partition and the first transaction does not wait on auto-creation (which
 * a broker may also disable). *created says whether we created it. Returns 0, ERR_TIMEOUT /
 * ERR_RETRY (try again) or ERR_INVALID; errstr says why. */
int producer_ensure_topic(producer *p, int timeout_ms, int *created, char *errstr, size_t errlen);

/* producer_send: produce one message (copied: msg need not outlive the call) with key (NULL =
 * none) and timestamp ts_ms, opening a transaction first if none is open. Returns 0, ERR_RETRY
 * (local queue full: poll and retry the same message), ERR_RANGE (message too large: skip it),
 * ERR_FATAL, or ERR_ABORTED (the produce failed, or no memory for the copy: the transaction was
 * aborted, roll back). */
int producer_send(producer *p, const char *msg, size_t len, const char *key, size_t keylen, int64_t ts_ms);

/* producer_commit: commit the open transaction (ktxn_commit: flushes first; blocks, usually 20-60
 * ms). No-op if none is open. Returns 0, ERR_ABORTED (it failed and was aborted: everything since
 * the last commit is gone, roll back), or ERR_FATAL. errstr says why. */
int producer_commit(producer *p, char *errstr, size_t errlen);

/* producer_abort: abort the open transaction (purges what is queued). 0 or ERR_FATAL. */
int producer_abort(producer *p, char *errstr, size_t errlen);

/* producer_poll: serve delivery reports and callbacks, waiting up to timeout_ms. */
void producer_poll(producer *p, int timeout_ms);

/* producer_txn_open / producer_txn_messages: a transaction is open; messages produced in it. */
int producer_txn_open(const producer *p);
uint64_t producer_txn_messages(const producer *p);

/* producer_refused: 1 if the broker refused this exact line as too large in an earlier (now
 * aborted) transaction: the caller skips it as oversize instead of producing it again
 * (ktxn_refused: one of the last KTXN_REFUSED_MAX refusals; cheap unless len matches one). */
int producer_refused(const producer *p, const char *msg, size_t len);

/* producer_queue_len: messages and requests waiting in librdkafka (rd_kafka_outq_len). */
int producer_queue_len(const producer *p);

/* producer_fatal: librdkafka raised a fatal error on this handle. */
int producer_fatal(const producer *p);

#endif
