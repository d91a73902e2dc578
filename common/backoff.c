/* backoff.c: capped exponential backoff with "equal jitter" (half fixed, half random), so
 * retries of many clients spread out but never collapse to zero delay. */
#include "common/backoff.h"

#include <time.h>
#include <unistd.h>

static uint64_t backoff_rand(backoff *b)
{
    /* xorshift64*: small, fast, good enough for jitter. */
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void backoff_init(backoff *b, int64_t base_ms, int64_t max_ms, uint64_t seed)
{
    if (base_ms < 1)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    b->base_ms = base_ms;
    b->max_ms = max_ms;
    b->attempt = 0;
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
    }
    b->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

int64_t backoff_next(backoff *b)
{
    int64_t ceil = b->base_ms;
    for (unsigned i = 0; i < b->attempt && ceil < b->max_ms; i++)
        ceil *= 2;
    if (ceil > b->max_ms)
        ceil = b->max_ms;
    if (b->attempt < 64)
        b->attempt++;
    int64_t half = ceil / 2;
    int64_t span = ceil - half;
    return half + (int64_t)(backoff_rand(b) % (uint64_t)(span + 1));
}

void backoff_reset(backoff *b)
{
    b->attempt = 0;
}
