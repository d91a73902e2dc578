/* ktxn.h: the transactional Kafka producer of every service that writes in Kafka transactions (the
 * ingestor; the parser, with its consumer's offsets). It opens transactions, produces into them
 * from payload blocks it owns (common/msgblock.h), commits, aborts, and turns librdkafka's errors
 * into the three outcomes a loop acts on:
 *   0            done;
 *   ERR_ABORTED  the transaction has been aborted (by this module): everything since the last
 *                commit is gone; rewind to it and redo the work;
 *   ERR_FATAL    the handle is unusable (e.g. fenced by a newer instance with the same
 *                transactional.id): stop and let a new process start.
 * Retriable errors of commit and abort are retried here (bounded); ktxn_send's ERR_RETRY (queue
 * full) and ERR_RANGE (message too large) are left to the caller. A message the broker refused as
 * too large aborts its transaction; its payload is remembered (ktxn_refused), so the redo can leave
 * it out instead of aborting again forever. Single-threaded: call everything from the thread that
 * owns the producer; delivery reports are served there (in ktxn_poll, ktxn_commit, ktxn_abort). */
#ifndef COMMON_KTXN_H
#define COMMON_KTXN_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "common/backoff.h"

typedef struct ktxn ktxn;

typedef struct ktxn_opts {
    const char *service;         /* kafka_conf_new's service: metrics rsvp_<service>_* */
    const char *txn_id;          /* transactional.id, whatever KAFKA_* / -X say */
    const char *const *defaults; /* librdkafka settings below KAFKA_* and -X: key, value, ..., NULL */
    int call_timeout_ms;         /* one send_offsets / commit / abort call; 0: 30000 */
} ktxn_opts;

/* Remembered payloads the broker refused as too large (ktxn_refused): the last this many. */
#define KTXN_REFUSED_MAX 16
/* Payload blocks (common/msgblock.h): a value longer than this gets a block of its own. */
#define KTXN_BLOCK_BYTES (256 * 1024)

/* The linger.ms default of the services' transactional producers. A transaction's messages are
 * sent when ktxn_commit flushes (rd_kafka_flush overrides linger.ms), so linger.ms only has to
 * outlast a transaction; nothing a consumer reads (read_committed) comes sooner with a shorter one.
 * A short one is costly in librdkafka 2.0.2: an idempotent producer creates no new ProduceRequest
 * for a partition while more than 5 of its messages are in flight (it compares a message count
 * with the limit of 5 requests), and when such a partition's next batch is due (linger expired)
 * its broker thread polls with a zero timeout until the reply comes: it spins. With linger.ms=5 at
 * a paced 10k RSVPs/s that thread took 24-41 CPU s per million RSVPs in the ingestor (800 requests
 * a second of ~5 KB) and 6-11 in the parser; with 1000: 2-3.4 and ~2 (four requests per commit).
 * Costs: a transaction's payloads stay in memory until its commit (COMMIT_MESSAGES / TXN_MESSAGES
 * bound them), and the commit waits for their delivery (one round trip). A partition with more than
 * batch.size (1 MB; the parser's 512 KiB) in one transaction still needs two requests, and the
 * broker thread spins while the first is in flight: on a backlog the parser takes that for sending
 * while its transaction fills. */
#define KTXN_LINGER_MS "1000"

/* ktxn_new: a transactional producer configured by kafka_conf_new (o->defaults < KAFKA_* < -X)
 * with transactional.id = o->txn_id; registers rsvp_<service>_delivery_errors_total. Nothing is
 * sent yet. On success *out owns it. Returns 0, ERR_NOMEM or ERR_INVALID (a bad setting;
 * librdkafka's message in errstr). Start-up thread. */
int ktxn_new(ktxn **out, const ktxn_opts *o, char *errstr, size_t errlen);

/* ktxn_free: destroys the producer through kafka_producer_destroy: what an open transaction holds is
 * purged (the broker aborts it, or the next instance's init_transactions does), and so is everything
 * after a fatal error; then the payload blocks. Call it after every topic handle of the producer is
 * destroyed. NULL: no-op. */
void ktxn_free(ktxn *t);

/* ktxn_handle: the librdkafka handle, for topic handles, metadata and admin requests. Produce and
 * end transactions only through this module. */
rd_kafka_t *ktxn_handle(const ktxn *t);

/* ktxn_init: kafka_init_transactions (kafka.h): registers the transactional.id, fences an older
 * instance and aborts its open transaction, retrying until done. 0, ERR_CLOSED (stop signal) or
 * ERR_FATAL; librdkafka's message in errstr. */
int ktxn_init(ktxn *t, backoff *bo, char *errstr, size_t errlen);

/* ktxn_begin: open a transaction unless one is open. 0 or ERR_FATAL (begin_transaction is a local
 * call: it fails only when the handle is broken); errstr says why. */
int ktxn_begin(ktxn *t, char *errstr, size_t errlen);

/* ktxn_reserve: room for a value of len bytes in a payload block, valid until the next
 * ktxn_reserve or ktxn_send; write the value there and pass the same pointer to ktxn_send, which
 * then produces it without a copy. NULL when out of memory. */
char *ktxn_reserve(ktxn *t, size_t len);

/* ktxn_send: produce one message into the open transaction (opened first if none is), to rkt.
 * key (NULL: none) is copied by librdkafka. val: NULL (no value), the last ktxn_reserve, or any
 * bytes, which are copied into a block. hdrs: NULL, or owned by librdkafka on success (the caller
 * keeps them otherwise). ts_ms: the message timestamp, 0 for now. Returns 0, ERR_RETRY
 * (librdkafka's queue is full: ktxn_wait_room, then send the same message again), ERR_RANGE (larger
 * than message.max.bytes: nothing was sent), ERR_ABORTED (the produce failed otherwise, or no
 * memory for the copy: the transaction was aborted) or ERR_FATAL. */
int ktxn_send(ktxn *t, rd_kafka_topic_t *rkt, const void *key, size_t keylen, const void *val, size_t len,
              rd_kafka_headers_t *hdrs, int64_t ts_ms);

/* ktxn_commit: commit the open transaction (no-op if none is). With offsets (a consumer's next
 * offsets, "last processed + 1") and gmd (rd_kafka_consumer_group_metadata of that consumer) they
 * are committed in the same transaction. Waits until every message of it is delivered: one that
 * was not makes it abort instead (a commit must never lose a message). Retriable errors are
 * retried (at most 10 calls each, 100 ms apart, started within 3 call timeouts). Blocks: usually
 * 20-60 ms, at most about 4 call_timeout_ms per step. Returns 0, ERR_ABORTED (it was aborted) or
 * ERR_FATAL; errstr says why. A commit that timed out for good cannot be aborted either
 * (librdkafka: _CONFLICT): that is ERR_FATAL, and the next instance's init_transactions settles
 * it. */
int ktxn_commit(ktxn *t, const rd_kafka_topic_partition_list_t *offsets,
                const rd_kafka_consumer_group_metadata_t *gmd, char *errstr, size_t errlen);

/* ktxn_abort: abort the open transaction (no-op if none is): its queued messages are purged, and
 * the delivery reports served. Retriable errors are retried (at most 10 calls). 0 or ERR_FATAL. */
int ktxn_abort(ktxn *t, char *errstr, size_t errlen);

/* ktxn_poll: serve delivery reports and callbacks, waiting up to timeout_ms. */
void ktxn_poll(ktxn *t, int timeout_ms);

/* ktxn_wait_room: after ktxn_send's ERR_RETRY (queue full): send what is queued now, without
 * waiting for linger.ms (KTXN_LINGER_MS is long: messages normally go at commit), and serve the
 * delivery reports that free the queue, for at most timeout_ms. */
void ktxn_wait_room(ktxn *t, int timeout_ms);

/* ktxn_open: a transaction is open. ktxn_messages: messages sent in it. */
int ktxn_open(const ktxn *t);
uint64_t ktxn_messages(const ktxn *t);

/* ktxn_refused: 1 if the broker refused a message with exactly this value (len bytes) as too
 * large, in one of the last KTXN_REFUSED_MAX refusals. Cheap unless len equals one of theirs. */
int ktxn_refused(const ktxn *t, const void *val, size_t len);

/* ktxn_queue_len: messages and requests waiting in librdkafka (rd_kafka_outq_len). */
int ktxn_queue_len(const ktxn *t);

/* ktxn_fatal: the handle had a fatal error, or a call of this module returned ERR_FATAL. */
int ktxn_fatal(const ktxn *t);

#endif
