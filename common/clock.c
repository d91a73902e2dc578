/* clock.c: wall and monotonic clocks, and a sleep that a stop signal cuts short. */
#include "common/clock.h"

#include <time.h>

#include "common/sig.h"

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_wall_ms(void)
{
    return clock_ns(CLOCK_REALTIME) / 1000000;
}

int64_t clock_mono_ms(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t clock_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t clock_until_boundary(int64_t t, int64_t period, int64_t phase)
{
    if (period <= 0)
        return 0;
    int64_t r = (t - phase) % period;
    if (r < 0)
        r += period;
    return period - r;
}

void clock_sleep_ms(int64_t ms)
{
    /* Sleep in slices of at most 50 ms so a stop request is noticed quickly. */
    int64_t end = clock_mono_ms() + ms;
    while (!sig_stopping()) {
        int64_t left = end - clock_mono_ms();
        if (left <= 0)
            return;
        if (left > 50)
            left = 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left * 1000000};
        nanosleep(&ts, NULL);
    }
}

void pacer_init(pacer *p, int64_t rate, int64_t burst_ms)
{
    p->rate = rate;
    p->burst_ms = burst_ms < 0 ? 0 : burst_ms;
    p->t0 = 0;
    p->n = 0;
}

int64_t pacer_next(pacer *p, int64_t now_ms)
{
    if (p->rate <= 0)
        return 0;
    if (p->n == 0)
        p->t0 = now_ms;
    p->n++;
    int64_t due = p->t0 + p->n * 1000 / p->rate;
    if (now_ms - due > p->burst_ms) { /* behind by more than the burst: give up the excess credit */
        p->t0 = now_ms - p->burst_ms - p->n * 1000 / p->rate;
        due = now_ms - p->burst_ms;
    }
    return due > now_ms ? due - now_ms : 0;
}
