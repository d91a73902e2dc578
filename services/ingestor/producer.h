/* producer.h: the ingestor's producer for the raw topic: a common/ktxn.h transactional producer
 * bound to the topic (producer_send), and the topic's creation. Transactions (init, commit, abort,
 * poll) go through ktxn on producer_txn(). Single-threaded: call everything from the loop. */
#ifndef SERVICES_INGESTOR_PRODUCER_H
#define SERVICES_INGESTOR_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "common/ktxn.h"

typedef struct producer producer;

/* producer_new: topic and txn_id are copied. max_message_bytes bounds one message (sets
 * message.max.bytes unless KAFKA_MESSAGE_MAX_BYTES / -X overrides it). lz4 and linger.ms
 * (KTXN_LINGER_MS: lines are sent at commit) are defaults the KAFKA_* env and -X flags may
 * override; the transactional.id is txn_id. lz4 is the largest single CPU cost of the ingestor (~0.8 CPU s per million 1 KB lines in librdkafka's broker
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

/* producer_txn: the producer's transactions (common/ktxn.h): init, commit, abort, poll, the
 * refused-value check. Owned by p. */
ktxn *producer_txn(const producer *p);

/* producer_ensure_topic: make sure the topic exists, creating it with the broker's default
 * partition count and replication factor if not, and wait until every partition has a leader, so
 * recovery sees every partition and the first transaction does not wait on auto-creation (which
 * a broker may also disable). *created says whether we created it. Returns 0, ERR_TIMEOUT /
 * ERR_RETRY (try again) or ERR_INVALID; errstr says why. */
int producer_ensure_topic(producer *p, int timeout_ms, int *created, char *errstr, size_t errlen);

/* producer_send: ktxn_send of one line (copied: msg need not outlive the call) to the topic, with
 * key (NULL = none) and timestamp ts_ms, opening a transaction first if none is open. Returns 0,
 * ERR_RETRY (local queue full: poll and retry the same message), ERR_RANGE (message too large:
 * skip it), ERR_FATAL, or ERR_ABORTED (the produce failed, or no memory for the copy: the
 * transaction was aborted, roll back). A line the broker refused before (ktxn_refused) should be
 * skipped instead of sent: it would abort every transaction it is in. */
int producer_send(producer *p, const char *msg, size_t len, const char *key, size_t keylen, int64_t ts_ms);

#endif
