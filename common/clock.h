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
/* clock_sleep_ms: sleep up to ms, returning early (0) if a stop signal arrives (see sig.h). */
void clock_sleep_ms(int64_t ms);

#endif
