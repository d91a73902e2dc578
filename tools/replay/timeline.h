/* timeline.h: the deterministic timeline every replay connection walks. Message i is a pure
 * function of (source, seed, i, start mtime). "Resume from since_mtime" means every message with
 * mtime >= since, in timeline order: a binary search where mtime(i) is non-decreasing (every
 * source but a file played in its own order), a scan where it is not. Sources: a recorded NDJSON
 * file played once (sorted by mtime, or in file order), the same file looped with rewritten
 * rsvp_id/mtime, or the synthetic generator. */
#ifndef TOOLS_REPLAY_TIMELINE_H
#define TOOLS_REPLAY_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef enum timeline_kind {
    TIMELINE_FILE_ONCE, /* file lines stably sorted by their mtime (or in file order), byte-for-byte */
    TIMELINE_FILE_LOOP, /* line i mod N, rsvp_id + (i / N) * 1e10, mtime from the formula */
    TIMELINE_SYNTHETIC, /* synth.h, mtime from the formula */
} timeline_kind;

#define TIMELINE_LOOP_ID_STRIDE 10000000000LL
#define TIMELINE_UNBOUNDED      INT64_MAX

typedef struct timeline_cfg {
    timeline_kind kind;
    const char *path; /* FILE_* */
    uint64_t seed;    /* SYNTHETIC */
    double rate;      /* msgs/s; > 0: mtime(i) = start_ms + floor(i * 1000 / rate) */
    int64_t per_ms;   /* rate <= 0: mtime(i) = start_ms + floor(i / per_ms); >= 1 */
    int64_t start_ms;
    int64_t count;  /* < 0: unbounded (FILE_ONCE: the file's lines); else at most count messages */
    int file_order; /* FILE_ONCE: keep the file's order (an unsorted stream); a line without an
                       integer top-level mtime is allowed and has the mtime of the line before it
                       (the first such lines: of the first line that has one; none has: 0) */
} timeline_cfg;

typedef struct timeline timeline;

/* timeline_new: load the file (FILE_*) or build the generator. On failure writes a one-line reason
 * to err. Returns 0 (*out owns the timeline), ERR_IO (cannot read the file), ERR_INVALID (a line
 * without an integer top-level mtime unless file_order, or rsvp_id for FILE_LOOP; empty file; bad
 * cfg, e.g. file_order with another kind), ERR_NOMEM. */
int timeline_new(timeline **out, const timeline_cfg *cfg, char *err, size_t errlen);
/* timeline_free: NULL-safe. */
void timeline_free(timeline *t);

/* timeline_count: number of messages, TIMELINE_UNBOUNDED for an endless timeline. */
int64_t timeline_count(const timeline *t);
/* timeline_mtime: mtime of message i, 0 <= i < count. */
int64_t timeline_mtime(const timeline *t, int64_t i);
/* timeline_sorted: 1 if mtime(i) is non-decreasing (always, except a file in file order that is
 * not sorted). */
int timeline_sorted(const timeline *t);
/* timeline_find: the first i with mtime(i) >= since_ms, or count if none (TIMELINE_UNBOUNDED
 * cannot happen for an endless timeline: some i always qualifies). O(log i); on a timeline that
 * is not sorted, the first such i of a scan. */
int64_t timeline_find(const timeline *t, int64_t since_ms);
/* timeline_next: the first j >= i with mtime(j) >= since_ms, or count: the next message a
 * connection that asked for since_ms sends. O(1) on a sorted timeline once i >=
 * timeline_find(since_ms); a scan otherwise. */
int64_t timeline_next(const timeline *t, int64_t i, int64_t since_ms);
/* timeline_render: append message i and its '\n' to out. Thread-safe (reads t only).
 * Returns 0, ERR_RANGE (i out of the timeline) or ERR_NOMEM. */
int timeline_render(const timeline *t, int64_t i, buf *out);

/* timeline_formula_mtime: the pacing formula alone (rate > 0 ? start + floor(i*1000/rate) :
 * start + floor(i/per_ms)); exact integer arithmetic when rate is a whole number. */
int64_t timeline_formula_mtime(int64_t start_ms, double rate, int64_t per_ms, int64_t i);

/* timeline_due_ns: when message i is due relative to the start, in ns (i * 1e9 / rate). */
int64_t timeline_due_ns(double rate, int64_t i);
/* timeline_live_index: the first i not yet due at elapsed_ns: ceil(elapsed * rate / 1e9). */
int64_t timeline_live_index(double rate, int64_t elapsed_ns);

#endif
