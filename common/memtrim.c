/* memtrim.c: see memtrim.h. */
#include "common/memtrim.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sig.h"

static pthread_t thread;
static int running;
static int64_t every_ms;
static _Atomic int stop;

size_t memtrim_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (size_t)resident * (size_t)page : 0;
}

size_t memtrim_now(void)
{
    size_t before = memtrim_rss_bytes();
    malloc_trim(0);
    size_t after = memtrim_rss_bytes();
    return before > after ? before - after : 0;
}

static int ending(void)
{
    return stop || sig_stopping();
}

static void *run(void *arg)
{
    (void)arg;
    while (!ending()) {
        /* sleep in 100 ms steps so that a stop is noticed quickly */
        for (int64_t left = every_ms; left > 0 && !ending(); left -= 100) {
            int64_t step = left < 100 ? left : 100;
            struct timespec ts = {step / 1000, (long)(step % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (ending())
            break;
        int64_t t0 = clock_mono_ms();
        size_t freed = memtrim_now();
        if (freed >= (1u << 20))
            log_debug("memory trimmed", "freed_bytes=%zu took_ms=%lld", freed,
                      (long long)(clock_mono_ms() - t0));
    }
    return NULL;
}

int memtrim_start(int64_t interval_ms, size_t mmap_threshold, size_t trim_threshold)
{
    if (interval_ms <= 0 || running)
        return 0;
    /* Fixed thresholds instead of glibc's dynamic ones. malloc_trim gives back free pages inside
     * every arena, but a thread arena's top chunk only shrinks on free, and only above the trim
     * threshold, which glibc raises to twice the largest mmap'ed block freed so far (up to 64 MB):
     * after one catch-up's big fetch buffers or requests, every thread arena could keep megabytes
     * of top resident for good (the soak's writers and parsers did, with ~1.5 MB in use). */
    if (mmap_threshold > 0)
        mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold);
    if (trim_threshold > 0)
        mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
    every_ms = interval_ms;
    stop = 0;
    if (pthread_create(&thread, NULL, run, NULL) != 0) {
        log_error("cannot start the memory trim thread", "interval_ms=%lld", (long long)interval_ms);
        return ERR_IO;
    }
    running = 1;
    return 0;
}

void memtrim_one_arena(void)
{
    mallopt(M_ARENA_MAX, 1);
}

void memtrim_stop(void)
{
    if (!running)
        return;
    stop = 1;
    pthread_join(thread, NULL);
    running = 0;
}
