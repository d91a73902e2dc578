/* backoff.h: exponential backoff with jitter for retries of transient faults (broker, database,
 * writer, HTTP source). */
#ifndef COMMON_BACKOFF_H
#define COMMON_BACKOFF_H

#include <stdint.h>

typedef struct backoff {
    int64_t base_ms;  /* first delay ceiling */
    int64_t max_ms;   /* cap of every delay */
    unsigned attempt; /* retries since the last reset */
    uint64_t rng;     /* xorshift state, never 0 */
} backoff;

/* backoff_init: base_ms > 0, max_ms >= base_ms; seed 0 picks one from the clock and pid. */
void backoff_init(backoff *b, int64_t base_ms, int64_t max_ms, uint64_t seed);
/* backoff_next: the delay before the next retry, in [c/2, c] where c = min(max, base * 2^attempt)
 * ("equal jitter"); increments attempt. */
int64_t backoff_next(backoff *b);
/* backoff_reset: after a success; the next delay starts from base again. */
void backoff_reset(backoff *b);

#endif
