/* test_rsvpctl_restart.c: when rsvpctl restarts a crashed child: growing capped backoff, a fresh
 * start after a healthy run, and no restart loop for a configuration error (exit 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tools/rsvpctl/restart.h"

static const restart_policy pol = {.base_ms = 500, .max_ms = 30000, .stable_ms = 10000};

static void test_quick_crashes_back_off_to_the_cap(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, pol.base_ms, pol.max_ms, 42);
    int64_t ceil = pol.base_ms;
    for (int i = 0; i < 12; i++) {
        int64_t d = restart_decide(&b, &pol, 100, 1, 0);
        assert_in_range(d, ceil / 2, ceil);
        ceil = ceil * 2 > pol.max_ms ? pol.max_ms : ceil * 2;
    }
    /* killed by a signal: same policy, stays at the cap */
    assert_in_range(restart_decide(&b, &pol, 100, -1, 9), pol.max_ms / 2, pol.max_ms);
}

static void test_healthy_run_starts_over(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, pol.base_ms, pol.max_ms, 7);
    for (int i = 0; i < 8; i++)
        restart_decide(&b, &pol, 50, 1, 0);
    assert_in_range(restart_decide(&b, &pol, pol.stable_ms, -1, 9), pol.base_ms / 2, pol.base_ms);
    /* the next quick crash continues from there */
    assert_in_range(restart_decide(&b, &pol, 10, 1, 0), pol.base_ms, 2 * pol.base_ms);
}

static void test_config_error_gives_up_only_when_early(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, pol.base_ms, pol.max_ms, 3);
    assert_int_equal(restart_decide(&b, &pol, 200, 2, 0), RESTART_GIVE_UP);
    /* exit 2 after a long healthy run is just a crash */
    assert_true(restart_decide(&b, &pol, pol.stable_ms + 1, 2, 0) > 0);
    assert_true(restart_decide(&b, &pol, 200, 0, 0) > 0); /* exit 0 unasked: restart */
    assert_true(restart_decide(&b, &pol, 200, 127, 0) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quick_crashes_back_off_to_the_cap),
        cmocka_unit_test(test_healthy_run_starts_over),
        cmocka_unit_test(test_config_error_gives_up_only_when_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
