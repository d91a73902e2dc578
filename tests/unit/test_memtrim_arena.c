/* test_memtrim_arena.c: memtrim_one_arena, the ingestor's allocator policy. With its high thresholds
 * (mmap at 4 MiB, trim at 32 MiB: few page faults) a catch-up on a thread of its own (librdkafka's
 * broker thread building produce requests: 24 MiB of 2 MiB blocks, freed) left its arena's top
 * resident: free keeps it (under 32 MiB) and malloc_trim never shrinks a thread arena's top. With one
 * arena it is the main heap's top, which a trim gives back. A binary of its own: M_ARENA_MAX must be
 * set before any thread has made an arena. Under ASan the sanitizer's allocator owns the heap:
 * skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/memtrim.h"

#include "tests/unit/sanitized.h"

#define MIB    (1u << 20)
#define MEDIUM (2u << 20)
#define NMED   12u

static void *catch_up(void *arg)
{
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

static void test_broker_thread_catch_up_given_back(void **state)
{
    (void)state;
#ifdef SANITIZED
    skip();
#endif
    memtrim_one_arena();
    assert_int_equal(memtrim_start(3600000, 4 * MIB, 32 * MIB), 0); /* the ingestor's thresholds */
    memtrim_now();
    size_t base = memtrim_rss_bytes();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, catch_up, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    memtrim_now();
    size_t after = memtrim_rss_bytes();
    memtrim_stop();
    /* the thread touched 24 MiB; at most a few MiB may stay */
    assert_true(after < base + 8 * MIB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broker_thread_catch_up_given_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
