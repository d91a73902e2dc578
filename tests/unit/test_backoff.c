/* test_backoff.c: capped exponential backoff with equal jitter: every delay lies in [c/2, c] with
 * c = min(max, base * 2^attempt), delays grow, stop at the cap, and reset starts over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/backoff.h"

static int64_t ceiling(int64_t base, int64_t max, unsigned attempt)
{
    int64_t c = base;
    for (unsigned i = 0; i < attempt && c < max; i++)
        c *= 2;
    return c > max ? max : c;
}

static void test_bounds_for_every_attempt(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 50; seed++) {
        backoff b;
        backoff_init(&b, 100, 30000, seed);
        for (unsigned a = 0; a < 20; a++) {
            int64_t c = ceiling(100, 30000, a);
            int64_t d = backoff_next(&b);
            assert_in_range(d, c / 2, c);
        }
    }
}

static void test_grows_then_caps(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, 100, 5000, 7);
    int64_t d[12];
    for (int i = 0; i < 12; i++)
        d[i] = backoff_next(&b);
    /* lower bound of attempt i+2 (base*2^(i+2)/2) is above the ceiling of attempt i */
    for (int i = 0; i + 2 < 6; i++)
        assert_true(d[i + 2] > d[i]);
    for (int i = 6; i < 12; i++)
        assert_in_range(d[i], 2500, 5000);
}

static void test_reset_starts_over(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, 200, 60000, 3);
    for (int i = 0; i < 10; i++)
        backoff_next(&b);
    backoff_reset(&b);
    assert_int_equal(b.attempt, 0);
    assert_in_range(backoff_next(&b), 100, 200);
}

static void test_jitter_varies_and_seed_zero_works(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, 1000, 1000, 0);
    assert_true(b.rng != 0);
    int64_t first = backoff_next(&b);
    int differs = 0;
    for (int i = 0; i < 50; i++) {
        int64_t d = backoff_next(&b);
        assert_in_range(d, 500, 1000);
        differs |= d != first;
    }
    assert_true(differs);
}

static void test_many_attempts_do_not_overflow(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, 1, INT64_MAX / 4, 11);
    for (int i = 0; i < 200; i++) {
        int64_t d = backoff_next(&b);
        assert_true(d >= 0);
        assert_true(d <= INT64_MAX / 4);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_for_every_attempt),
        cmocka_unit_test(test_grows_then_caps),
        cmocka_unit_test(test_reset_starts_over),
        cmocka_unit_test(test_jitter_varies_and_seed_zero_works),
        cmocka_unit_test(test_many_attempts_do_not_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
