/* linesplit.h: cuts a byte stream (HTTP chunks of any size) into lines. Pure: no I/O, no logs.
 * Handles lines split across chunks, LF and CRLF endings, skips empty lines, and bounds memory: a
 * line longer than max_line bytes is reported once and skipped to its newline, never buffered. */
#ifndef SERVICES_INGESTOR_LINESPLIT_H
#define SERVICES_INGESTOR_LINESPLIT_H

#include <stddef.h>

typedef struct linesplit linesplit;

/* What linesplit_next() found. */
enum {
    LINESPLIT_NONE = 0,     /* no complete line buffered: feed more bytes */
    LINESPLIT_LINE = 1,     /* *line, *len hold one line without its "\n" or "\r\n" */
    LINESPLIT_OVERSIZE = 2, /* a line over max_line bytes was dropped; *len = bytes seen so far */
};

/* linesplit_new: max_line > 0 is the longest line (without its line ending) ever returned. On
 * success *out owns a new splitter. Returns 0 or ERR_NOMEM / ERR_INVALID. */
int linesplit_new(linesplit **out, size_t max_line);

/* linesplit_free: NULL-safe. */
void linesplit_free(linesplit *ls);

/* linesplit_feed: append n bytes (copied; p need not outlive the call). Memory held stays below
 * max_line + 2 + the largest n fed, provided the caller drains with linesplit_next() until
 * LINESPLIT_NONE before feeding again. Returns 0 or ERR_NOMEM (then nothing was appended). */
int linesplit_feed(linesplit *ls, const char *p, size_t n);

/* linesplit_next: the next complete line. The returned pointer is valid until the next call of
 * linesplit_feed/linesplit_reset/linesplit_free. Returns a LINESPLIT_* value. An oversize line
 * yields LINESPLIT_OVERSIZE exactly once, as soon as it is known to be too long; its remaining
 * bytes up to the newline are discarded without being stored. */
int linesplit_next(linesplit *ls, const char **line, size_t *len);

/* linesplit_unget: give back the line the last linesplit_next() returned (it must have returned
 * LINESPLIT_LINE, with no feed in between), so the next call returns it again. Used when the line
 * could not be handed on (backpressure). */
void linesplit_unget(linesplit *ls);

/* linesplit_pending: bytes buffered (complete lines not yet returned plus a partial line). */
size_t linesplit_pending(const linesplit *ls);

/* linesplit_reset: forget everything buffered, including a partial line (a new connection starts
 * at a line boundary). Keeps the memory. */
void linesplit_reset(linesplit *ls);

#endif
