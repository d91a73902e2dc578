/* synth.h: the synthetic RSVP generator behind --synthetic: message i is a pure function of
 * (seed, i, mtime), in the JSON shape and key order of Meetup's stream, with Zipf-popular events
 * and groups whose attributes depend only on the event index. */
#ifndef TOOLS_REPLAY_SYNTH_H
#define TOOLS_REPLAY_SYNTH_H

#include <stdint.h>

#include "common/buf.h"

typedef struct synth synth;

/* Size of the event and group universes (Zipf ranks 0..n-1). */
#define SYNTH_EVENTS 20000
#define SYNTH_GROUPS 3000

/* synth_new: precompute the event and group fragments for seed (about 20 MB, ~20 ms). On success
 * *out owns them. Returns 0 or ERR_NOMEM. */
int synth_new(synth **out, uint64_t seed);
/* synth_free: NULL-safe. */
void synth_free(synth *s);

/* synth_render: append message i (one JSON object, no newline) with the given mtime to out.
 * Thread-safe (reads s only). Returns 0 or ERR_NOMEM (out->len unchanged). */
int synth_render(const synth *s, int64_t i, int64_t mtime, buf *out);

/* synth_event_of: the event index (0 = most popular) message i refers to; for tests. */
int64_t synth_event_of(const synth *s, int64_t i);

/* synth_mix64: splitmix64's finaliser, the project's stateless hash of a 64-bit value. */
uint64_t synth_mix64(uint64_t x);

#endif
