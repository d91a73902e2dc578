/* err.h: the one error-code enum shared by every module. Functions that can fail return 0 or a
 * negative ERR_* value; err_str() names it. Kinds matter more than codes: ERR_RETRY and ERR_TIMEOUT
 * are transient (retry with backoff), ERR_INVALID is bad input (count, dead-letter), ERR_ABORTED
 * means redo since the last commit (rewind), the rest stop. */
#ifndef COMMON_ERR_H
#define COMMON_ERR_H

enum {
    ERR_OK = 0,
    ERR_NOMEM = -1,    /* allocation failed */
    ERR_INVALID = -2,  /* bad input or bad argument */
    ERR_IO = -3,       /* system call failed (errno says why) */
    ERR_TIMEOUT = -4,  /* deadline passed; transient */
    ERR_RETRY = -5,    /* transient failure of a peer (broker, database, writer); retry later */
    ERR_FATAL = -6,    /* cannot continue (fenced producer, broken invariant of a peer) */
    ERR_RANGE = -7,    /* value or size over a limit */
    ERR_NOTFOUND = -8, /* no such thing */
    ERR_STALE = -9,    /* request based on an outdated view: an offset check failed (the writer's
                          stored offset, the aggregator's next offset of a partition) */
    ERR_CLOSED = -10,  /* peer or object closed / shutting down */
    ERR_ABORTED = -11, /* the Kafka transaction was aborted: what it held is gone, redo it from the
                          last commit (common/ktxn.h) */
};

/* err_str: a static English name for an ERR_* code; never NULL. */
const char *err_str(int code);

#endif
