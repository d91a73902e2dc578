/* kread.h: reading some partitions of one topic from chosen offsets up to chosen ends, committed
 * messages only (read_committed), without joining a consumer group or committing anything: what
 * `rsvpctl rebuild` and `rsvpctl dlq` need to go over a topic once. Kafka settings as every service
 * takes them (KAFKA_* environment, -X flags: common/kafka.h). One thread. */
#ifndef TOOLS_RSVPCTL_KREAD_H
#define TOOLS_RSVPCTL_KREAD_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kread kread;

/* kread_new: a consumer for topic and its partition count (metadata, waiting up to timeout_ms for
 * the broker). On success *out owns the consumer. Returns 0, ERR_NOTFOUND (no such topic),
 * ERR_TIMEOUT (no broker answered) or ERR_INVALID (bad Kafka setting); err says why. */
int kread_new(kread **out, const char *topic, int timeout_ms, int32_t *nparts, char *err, size_t errlen);

/* kread_watermarks: the partition's first and next offsets as the broker has them now. 0 or
 * ERR_RETRY (err says why). */
int kread_watermarks(kread *k, int32_t partition, int64_t *low, int64_t *high, char *err, size_t errlen);

/* kread_committed: the offsets consumer group `group` committed for partitions parts[0..n) of the
 * topic (-1 where none). Does not join the group. 0 or ERR_RETRY. */
int kread_committed(kread *k, const char *group, const int32_t *parts, size_t n, int64_t *out, char *err,
                    size_t errlen);

/* kread_start: read parts[i] from start[i] (-1: the first offset kept) until end[i] (exclusive); a
 * partition whose start is at or past its end is done at once. Replaces any previous reading.
 * 0, ERR_NOMEM or ERR_RETRY (assignment failed). */
int kread_start(kread *k, const int32_t *parts, const int64_t *start, const int64_t *end, size_t n, char *err,
                size_t errlen);

/* kread_next: the next message below its partition's end, in *m (the caller destroys it with
 * rd_kafka_message_destroy), waiting up to timeout_ms. Returns 1 with a message, 0 when every
 * partition reached its end (aborted transactions and their markers are passed over), ERR_TIMEOUT
 * when nothing came in time, ERR_RETRY on a consumer error (err says why; reading may go on). */
int kread_next(kread *k, rd_kafka_message_t **m, int timeout_ms, char *err, size_t errlen);

/* kread_free: NULL-safe. */
void kread_free(kread *k);

#endif
