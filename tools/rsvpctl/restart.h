/* restart.h: when to restart a crashed child. Exponential backoff with jitter (common/backoff.h)
 * that starts over once a child has run long enough to count as healthy; a child that exits 2 (bad
 * configuration, per the project's exit codes) right after start is not restarted, since it would
 * fail the same way forever. Pure. */
#ifndef TOOLS_RSVPCTL_RESTART_H
#define TOOLS_RSVPCTL_RESTART_H

#include <stdint.h>

#include "common/backoff.h"

typedef struct restart_policy {
    int64_t base_ms;   /* first delay ceiling */
    int64_t max_ms;    /* cap */
    int64_t stable_ms; /* a child up at least this long was healthy: backoff starts over */
} restart_policy;

#define RESTART_GIVE_UP (-1)

/* restart_decide: the delay in ms before restarting a child that ran uptime_ms and then exited
 * with exit_code (>= 0), or was killed by signal signo (exit_code < 0). Advances b (initialised
 * with the policy's base and max). Returns RESTART_GIVE_UP for a configuration error (exit 2
 * before stable_ms). */
int64_t restart_decide(backoff *b, const restart_policy *p, int64_t uptime_ms, int exit_code, int signo);

#endif
