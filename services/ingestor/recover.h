/* recover.h: rebuilds the ingestor's resume state after a restart from what is committed in the
 * raw topic itself: the last `tail` messages of every partition, read with
 * isolation.level=read_committed (aborted or still-open transactions do not count). */
#ifndef SERVICES_INGESTOR_RECOVER_H
#define SERVICES_INGESTOR_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "services/ingestor/resume.h"

/* Counts of a recovery, for the log line. */
typedef struct recover_stats {
    int partitions;     /* partitions of the topic (0: topic does not exist yet) */
    int64_t messages;   /* committed messages read */
    int64_t with_mtime; /* of which had rsvp_id and mtime */
} recover_stats;

/* recover_tail: rebuild r from the committed tail of topic: r is cleared, every message is read
 * again as the ingestor read it (rsvpscan_line(), else resume_line_hash()) and noted in
 * production order (message timestamp, the clock its mtime was judged by), then committed. A
 * partition's window is widened beyond `tail` while it holds no committed line older than the
 * resume state's since_mtime (e.g. only aborted records, or a burst of lines in one millisecond).
 * Run it after producer_init() so that our own previous open transaction is already aborted. A
 * topic that does not exist leaves r empty. Returns 0, ERR_TIMEOUT (broker did not answer within
 * timeout_ms: retry), ERR_NOMEM or ERR_INVALID (bad Kafka config); errstr says why. */
int recover_tail(const char *topic, int64_t tail, int timeout_ms, resume *r, recover_stats *st, char *errstr,
                 size_t errlen);

#endif
