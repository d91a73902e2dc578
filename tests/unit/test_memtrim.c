/* test_memtrim.c: common/memtrim.c gives memory that was freed but kept by the allocator back to the
 * system: 64 MiB of small blocks (on the heap, not mmap'ed) are written and freed, except the last
 * one, which pins the heap's top, so free() alone returns nothing (the soak's case: a catch-up's
 * buffers freed under a block still in use); then a trim, or the trimming thread, must shrink the
 * resident set by most of it. Under ASan the sanitizer's allocator owns the heap: skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/memtrim.h"

#define BLOCK  (16u << 10)
#define NBLOCK 4096u /* 64 MiB */
#define MIB    (1u << 20)

#include "tests/unit/sanitized.h"

/* Allocate and touch NBLOCK blocks, free all but the last; returns the last (free it when done). */
static void *freed_burst(void)
{
    static void *b[NBLOCK];
    for (unsigned i = 0; i < NBLOCK; i++) {
        b[i] = malloc(BLOCK);
        assert_non_null(b[i]);
        memset(b[i], (int)(i & 0xff) | 1, BLOCK);
    }
    for (unsigned i = 0; i + 1 < NBLOCK; i++)
        free(b[i]);
    return b[NBLOCK - 1];
}

static void test_trim_gives_back_freed_memory(void **state)
{
    (void)state;
#ifdef SANITIZED
    skip();
#endif
    memtrim_now();
    size_t base = memtrim_rss_bytes();
    assert_true(base > 0);
    void *pin = freed_burst();
    size_t held = memtrim_rss_bytes();
    assert_true(held >= base + 48 * MIB); /* free() kept it: what the soak saw after each fault */
    size_t freed = memtrim_now();
    size_t after = memtrim_rss_bytes();
    free(pin);
    memtrim_now(); /* the next test starts from a trimmed heap even when this one fails */
    assert_true(freed >= 48 * MIB);
    assert_true(after + 48 * MIB <= held);
}

static void test_thread_trims_on_its_own(void **state)
{
    (void)state;
#ifdef SANITIZED
    skip();
#endif
    memtrim_now();
    assert_int_equal(memtrim_start(1000, MEMTRIM_MMAP_THRESHOLD, MEMTRIM_TRIM_THRESHOLD),
                     0); /* its first trim comes after the burst below */
    void *pin = freed_burst();
    size_t held = memtrim_rss_bytes();
    /* wait (deadline 10 s) until the thread gave most of the burst back */
    size_t rss = held;
    for (int i = 0; i < 1000 && rss + 48 * MIB > held; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        rss = memtrim_rss_bytes();
    }
    memtrim_stop();
    free(pin);
    assert_true(rss + 48 * MIB <= held);
}

static void test_zero_interval_starts_nothing(void **state)
{
    (void)state;
    memtrim_now();
    assert_int_equal(memtrim_start(0, MEMTRIM_MMAP_THRESHOLD, MEMTRIM_TRIM_THRESHOLD), 0);
    void *pin = freed_burst();
    size_t held = memtrim_rss_bytes();
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
#ifndef SANITIZED
    assert_true(memtrim_rss_bytes() + 8 * MIB > held); /* nothing trimmed behind our back */
#else
    (void)held;
#endif
    memtrim_stop(); /* a no-op */
    free(pin);
    memtrim_now();
}

/* A catch-up on a thread of its own, as in librdkafka's or nng's threads: one big block (mapped
 * apart; freeing it makes glibc's dynamic thresholds jump), then 24 MiB of 2 MiB blocks freed in
 * turn. With the dynamic thresholds those blocks come from the thread's arena and end as its top
 * chunk, which neither free (below the raised trim threshold) nor malloc_trim (main heap only)
 * gives back: the soak's writers and parsers kept megabytes per thread after each catch-up. */
#define BIG    (16u << 20)
#define MEDIUM (2u << 20)
#define NMED   12u
static void *catch_up(void *arg)
{
    (void)arg;
    char *big = malloc(BIG);
    if (big == NULL)
        return NULL;
    memset(big, 1, BIG);
    free(big);
    void *m[NMED];
    for (unsigned i = 0; i < NMED; i++) {
        m[i] = malloc(MEDIUM);
        if (m[i] != NULL)
            memset(m[i], 2, MEDIUM);
    }
    for (unsigned i = NMED; i-- > 0;)
        free(m[i]);
    return arg;
}

static void test_thread_arena_catch_up_given_back(void **state)
{
    (void)state;
#ifdef SANITIZED
    skip();
#endif
    assert_int_equal(memtrim_start(3600000, MEMTRIM_MMAP_THRESHOLD, MEMTRIM_TRIM_THRESHOLD),
                     0); /* the thresholds; its first trim is an hour away */
    memtrim_now();
    size_t base = memtrim_rss_bytes();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, catch_up, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    memtrim_now();
    size_t after = memtrim_rss_bytes();
    memtrim_stop();
    /* the thread touched 40 MiB; at most a few MiB may stay */
    assert_true(after < base + 8 * MIB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim_gives_back_freed_memory),
        cmocka_unit_test(test_thread_trims_on_its_own),
        cmocka_unit_test(test_zero_interval_starts_nothing),
        cmocka_unit_test(test_thread_arena_catch_up_given_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
