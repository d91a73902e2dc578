/* test_clock.c: the pacer, at most rate events per second from the first event, smoothly; a stall
 * earns at most burst_ms of catch-up (before the cap, a run held up for 10 s then went through 250
 * events at full speed); no rate, no wait. And clock_until_boundary, the aligned timers' step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/clock.h"

static void test_paces_at_the_rate(void **state)
{
    (void)state;
    pacer p;
    pacer_init(&p, 25, 1000);
    int64_t now = 5000;
    for (int i = 1; i <= 100; i++) {
        int64_t w = pacer_next(&p, now); /* event i at now; the next is due at 5000 + i*40 */
        assert_int_equal(now + w, 5000 + i * 40);
        now += w;
    }
}

static void test_stall_earns_at_most_the_burst(void **state)
{
    (void)state;
    pacer p;
    pacer_init(&p, 25, 1000);
    int64_t now = 0;
    assert_int_equal(pacer_next(&p, now), 40);
    now = 10000; /* held up 10 s: 250 events of credit, of which 1 s (25 events) may be caught up */
    int free_events = 0;
    int64_t w;
    while ((w = pacer_next(&p, now)) == 0 && free_events < 1000)
        free_events++;
    assert_in_range(free_events, 24, 26);
    /* then the rate again */
    now += w;
    for (int i = 0; i < 10; i++) {
        w = pacer_next(&p, now);
        assert_int_equal(w, 40);
        now += w;
    }
}

static void test_no_rate_never_waits(void **state)
{
    (void)state;
    pacer p;
    pacer_init(&p, 0, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pacer_next(&p, 7), 0);
}

/* clock_until_boundary: the next k * period + phase strictly after t, also before the epoch, with a
 * phase beyond the period, and at a boundary itself (a whole period on, never 0). */
static void test_until_boundary(void **state)
{
    (void)state;
    assert_int_equal(clock_until_boundary(1000, 250, 0), 250);
    assert_int_equal(clock_until_boundary(1001, 250, 0), 249);
    assert_int_equal(clock_until_boundary(1249, 250, 0), 1);
    assert_int_equal(clock_until_boundary(1000, 250, 100), 100);
    assert_int_equal(clock_until_boundary(1100, 250, 100), 250);
    assert_int_equal(clock_until_boundary(1101, 250, 100), 249);
    assert_int_equal(clock_until_boundary(1000, 250, 350), 100); /* phase 350 = phase 100 */
    assert_int_equal(clock_until_boundary(-10, 250, 0), 10);
    assert_int_equal(clock_until_boundary(1733580000123, 30000, 100), 29977);
    assert_int_equal(clock_until_boundary(5, 0, 0), 0);
    for (int64_t t = -600; t < 600; t++) {
        int64_t w = clock_until_boundary(t, 175, 40);
        assert_true(w > 0 && w <= 175);
        assert_int_equal(((t + w - 40) % 175 + 175) % 175, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paces_at_the_rate),
        cmocka_unit_test(test_stall_earns_at_most_the_burst),
        cmocka_unit_test(test_no_rate_never_waits),
        cmocka_unit_test(test_until_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
