/* restart.c: the restart decision of rsvpctl's supervisor (see restart.h). */
#include "tools/rsvpctl/restart.h"

int64_t restart_decide(backoff *b, const restart_policy *p, int64_t uptime_ms, int exit_code, int signo)
{
    (void)signo; /* a crash by signal and by exit status are retried alike */
    if (uptime_ms >= p->stable_ms) {
        backoff_reset(b);
        return backoff_next(b);
    }
    if (exit_code == 2)
        return RESTART_GIVE_UP;
    return backoff_next(b);
}
