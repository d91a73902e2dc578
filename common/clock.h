/* clock.h: time helpers. Wall clock in ms for event times (mtime, ingest time), monotonic for
 * deadlines and rates. */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>

/* clock_wall_ms: milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);
/* clock_mono_ms / clock_mono_ns: monotonic time for deadlines and durations. */
int64_t clock_mono_ms(void);
int64_t clock_mono_ns(void);
/* clock_until_boundary: ms from t until the next boundary k * period + phase strictly after t, in
 * (0, period]; 0 if period <= 0. With t the wall clock, services that share a period act at the same
 * moments on every host (the ingestors commit, phase later the aggregators send): what one stage
 * hands on the next takes at once, instead of waiting for an unrelated timer. */
int64_t clock_until_boundary(int64_t t, int64_t period, int64_t phase);
/* clock_sleep_ms: sleep up to ms, returning early (0) if a stop signal arrives (see sig.h). */
void clock_sleep_ms(int64_t ms);

/* pacer: at most rate events per second, smoothly, counted from the first event. A run held up (a
 * slow commit, a stalled fetch) may catch up by at most burst_ms worth of events, then goes on at
 * the rate: a stall must not turn into a rush at full speed. rate <= 0: no limit. */
typedef struct pacer {
    int64_t rate, burst_ms;
    int64_t t0, n; /* origin (ms) and events counted since it */
} pacer;
void pacer_init(pacer *p, int64_t rate, int64_t burst_ms);
/* pacer_next: counts one event at now_ms; returns how long to wait before the next one (0: none). */
int64_t pacer_next(pacer *p, int64_t now_ms);

#endif
