/* resume.h: the ingestor's resume point and duplicate filter. State = the highest mtime L produced
 * so far and the boundary multiset: for each rsvp_id, how many lines with mtime == L were produced.
 * A reconnect asks for since_mtime=L, so the source sends the lines at L again: on that connection
 * the first B[id] sightings of (id, L) are duplicates, later ones are new. A multiset rather than a
 * set because one rsvp_id can legitimately occur twice in one millisecond (re-sent RSVPs, looped
 * replays); when every count is 1 it is exactly the set of ids at L. Pure; no I/O. */
#ifndef SERVICES_INGESTOR_RESUME_H
#define SERVICES_INGESTOR_RESUME_H

#include <stddef.h>
#include <stdint.h>

typedef struct resume resume;

/* Verdict of resume_check(). */
enum {
    RESUME_NEW = 0,      /* not produced yet: produce it, then resume_note() */
    RESUME_OLDER = 1,    /* mtime < L: behind the resume point, drop */
    RESUME_BOUNDARY = 2, /* mtime == L and already produced: drop, then resume_skip() */
};

/* resume_new: an empty state (no resume point: every line is new). On success *out owns it.
 * Returns 0 or ERR_NOMEM. */
int resume_new(resume **out);

/* resume_free: NULL-safe. */
void resume_free(resume *r);

/* resume_check: classify (rsvp_id, mtime) as it arrives on the current connection; RESUME_*.
 * Does not change the state: follow with resume_note() (produced) or resume_skip() (dropped). */
int resume_check(const resume *r, int64_t rsvp_id, int64_t mtime);

/* resume_note: (rsvp_id, mtime) was produced. mtime > L starts a new boundary at mtime, mtime == L
 * counts one more, mtime < L changes nothing (so folding a topic's tail in any order works).
 * Returns 0 or ERR_NOMEM (state unchanged). */
int resume_note(resume *r, int64_t rsvp_id, int64_t mtime);

/* resume_skip: (rsvp_id, mtime) was dropped as RESUME_BOUNDARY: count the sighting. */
void resume_skip(resume *r, int64_t rsvp_id, int64_t mtime);

/* resume_reconnect: a new source connection starts (it replays mtime == L from its beginning):
 * forget the sightings of the previous connection, keep L and the multiset. */
void resume_reconnect(resume *r);

/* resume_mtime: L, or -1 when nothing was noted. */
int64_t resume_mtime(const resume *r);

/* resume_boundary_count: lines produced with mtime == L (the multiset's total). */
size_t resume_boundary_count(const resume *r);

/* resume_copy: make dst equal to src (snapshot at commit, rollback at abort). 0 or ERR_NOMEM (dst
 * unchanged). */
int resume_copy(resume *dst, const resume *src);

/* resume_clear: back to the empty state. */
void resume_clear(resume *r);

#endif
