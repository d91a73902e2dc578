/* resume.h: the ingestor's resume point and duplicate filter. Pure; no I/O.
 *
 * The resume point L is the second-highest mtime produced (a lone line never moves it: it needs a
 * second line at or above its mtime), ignoring lines whose mtime is more than max_future_ms beyond
 * the clock. A new connection asks for since_mtime = L - window_ms, so the source sends again every
 * line with mtime >= L - W; the state remembers exactly those lines it produced, to drop them:
 *  - the window: (rsvp_id, mtime) of every line produced with L - W <= mtime <= L (a multiset: one
 *    rsvp_id can legitimately occur twice in one millisecond), and the one line above L;
 *  - the held lines: those beyond the clock (produced, but they never move L);
 *  - unreadable lines (no rsvp_id or mtime the ingestor can read) by a 64-bit hash of their bytes,
 *    each until L - W passes the mtimes of the readable lines produced just before and just after it,
 *    held ones included (a sorted source sends it again at most as late as the one after it, a
 *    source filing it under its predecessor's mtime as late as the one before it).
 * On each connection the first `produced` sightings of a remembered line are duplicates, later ones
 * are new. Memory is bounded: beyond max_lines (window and unreadable) or max_held (held) lines are
 * remembered only by their number, and after a reconnect that many lines not remembered one by one
 * are dropped as duplicates (exact when the source sends them in the same order again).
 *
 * Commit and rollback follow the Kafka transaction: the state keeps a committed copy and a log of
 * the notes since the last commit; resume_commit replays the log onto the copy (cost proportional
 * to the lines of the transaction, not to the state), resume_rollback copies the committed state
 * back (rare). */
#ifndef SERVICES_INGESTOR_RESUME_H
#define SERVICES_INGESTOR_RESUME_H

#include <stddef.h>
#include <stdint.h>

typedef struct resume resume;

typedef struct resume_limits {
    int64_t window_ms;     /* W >= 0: lines this far below L are still checked one by one */
    int64_t max_future_ms; /* >= 0: a line with mtime > now + this is held, never moves L */
    size_t max_lines;      /* >= 1: window and unreadable lines remembered one by one */
    size_t max_held;       /* >= 1: held lines remembered one by one */
} resume_limits;

/* Verdicts of resume_classify*(). */
enum {
    RESUME_NEW = 0,       /* not produced yet: produce it, then resume_note*() */
    RESUME_OLDER = 1,     /* mtime below since_mtime, before any new line above L on this
                             connection: a source sending older history again; drop (once a new
                             line above L has arrived, older ones are new: a live stream is not
                             sorted by mtime) */
    RESUME_DUPLICATE = 2, /* remembered and not yet seen again on this connection: drop */
    RESUME_COUNTED = 3,   /* not remembered one by one, but lines were produced beyond the memory
                             bound that this one may be: dropped as one of them */
};

/* Outcomes of resume_note*() (>= 0; errors are < 0). */
enum {
    RESUME_REMEMBERED = 0, /* remembered one by one (or below L - W: nothing to remember) */
    RESUME_HELD = 1,       /* mtime beyond the clock: remembered, but it does not move L */
    RESUME_OVERFLOW = 2,   /* memory bound reached: remembered only by number */
};

/* resume_new: an empty state (no resume point: every line is new) with limits lim (copied). On
 * success *out owns it. Returns 0, ERR_NOMEM or ERR_INVALID (bad limits). */
int resume_new(resume **out, const resume_limits *lim);

/* resume_free: NULL-safe. */
void resume_free(resume *r);

/* resume_classify: what (rsvp_id, mtime), as it arrives on the current connection, is; RESUME_*.
 * A DUPLICATE or COUNTED verdict counts the sighting (the caller drops the line); NEW above L
 * marks the connection as past its replay; nothing else changes. */
int resume_classify(resume *r, int64_t rsvp_id, int64_t mtime);

/* resume_line_hash: the identity of an unreadable line: a 64-bit hash of its bytes. */
uint64_t resume_line_hash(const char *line, size_t len);

/* resume_classify_unreadable: the same for a line without a readable rsvp_id and mtime, by its
 * resume_line_hash(); never RESUME_OLDER. */
int resume_classify_unreadable(resume *r, uint64_t hash);

/* resume_note: (rsvp_id, mtime) was produced at wall time now_ms (the clock that decides whether
 * its mtime is beyond max_future_ms). Lines may come in any order (so folding a topic's tail
 * works too). Returns RESUME_REMEMBERED, RESUME_HELD, RESUME_OVERFLOW or ERR_NOMEM (state
 * unchanged). */
int resume_note(resume *r, int64_t rsvp_id, int64_t mtime, int64_t now_ms);

/* resume_note_unreadable: a line without a readable rsvp_id and mtime was produced. Returns
 * RESUME_REMEMBERED, RESUME_OVERFLOW or ERR_NOMEM (state unchanged). */
int resume_note_unreadable(resume *r, uint64_t hash);

/* resume_beyond_clock: 1 if a line with this mtime, produced at wall time now_ms, is held (its
 * mtime is more than max_future_ms beyond now_ms), else 0. */
int resume_beyond_clock(const resume *r, int64_t mtime, int64_t now_ms);

/* resume_reconnect: a new source connection starts (it sends again every line with mtime >=
 * resume_since()): forget the sightings of the previous connection and index the remembered lines
 * (O(lines remembered); the index is dropped again once each of them has been seen). 0, or
 * ERR_NOMEM (nothing changed: do not connect). */
int resume_reconnect(resume *r);

/* resume_mtime: L, or -1 when fewer than two lines were noted. */
int64_t resume_mtime(const resume *r);

/* resume_since: the since_mtime of a new connection: max(0, L - W), or -1 when L is -1. */
int64_t resume_since(const resume *r);

/* resume_commit: everything noted so far is committed. O(lines noted since the last commit).
 * 0 or ERR_NOMEM (the committed copy is then unusable: the caller must stop). */
int resume_commit(resume *r);

/* resume_rollback: back to the state of the last commit (an aborted transaction). O(state).
 * 0 or ERR_NOMEM (state unchanged). */
int resume_rollback(resume *r);

/* resume_clear: back to the empty state, committed too. */
void resume_clear(resume *r);

/* What the state holds now (for logs, metrics and readiness). */
typedef struct resume_info {
    size_t lines;          /* window and unreadable lines remembered one by one */
    size_t held;           /* held lines remembered one by one */
    uint64_t overflow;     /* lines remembered only by number (all kinds) */
    uint64_t held_over;    /* of which held lines */
    int64_t top_mtime;     /* the line above L, -1 if none */
    int64_t top_id;        /* its rsvp_id */
    uint64_t below_top;    /* lines noted below it since it became the top line */
    int64_t highest_mtime; /* highest mtime noted, held lines excepted (-1: none) */
} resume_info;

/* resume_lines_below_top: resume_info's below_top alone (cheap: once per line). */
uint64_t resume_lines_below_top(const resume *r);

/* resume_get_info: fills *out from the current (not the committed) state. */
void resume_get_info(const resume *r, resume_info *out);

#endif
