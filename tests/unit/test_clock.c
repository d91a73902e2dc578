/* test_clock.c: the pacer. At most rate events per second from the first event, smoothly; a stall
 * earns at most burst_ms of catch-up (before the cap, a run held up for 10 s then went through 250
 * events at full speed); no rate, no wait. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paces_at_the_rate),
        cmocka_unit_test(test_stall_earns_at_most_the_burst),
        cmocka_unit_test(test_no_rate_never_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
