/* test_agg_sim.c: `make test`'s short sweep of the deterministic simulation (tests/sim/simworld.h):
 * seeds 1..40 of 4,000 fault steps each must keep the invariant and converge, and a seed must replay
 * exactly (same trace hash). `make sim` runs the long sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/log.h"
#include "tests/sim/simworld.h"

static void test_short_sweep_keeps_the_invariant(void **state)
{
    (void)state;
    int failed = 0;
    uint64_t records = 0, batches = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        sim_result r;
        if (sim_run(seed, 4000, &r) != 0) {
            printf("seed %llu: %s (replay: build/tests/agg-sim --seed %llu --steps 4000 -v)\n",
                   (unsigned long long)seed, r.why, (unsigned long long)seed);
            failed++;
        }
        records += r.records;
        batches += r.batches;
    }
    assert_int_equal(failed, 0);
    assert_true(records > 1000); /* the sweep did something */
    assert_true(batches > 100);
}

static void test_a_seed_replays_exactly(void **state)
{
    (void)state;
    sim_result a, b;
    sim_run(7, 3000, &a);
    sim_run(7, 3000, &b);
    assert_int_equal(a.trace, b.trace);
    assert_int_equal(a.steps, b.steps);
    assert_int_equal(a.batches, b.batches);
}

int main(void)
{
    log_init("aggregator-sim", "test", LOGL_ERROR);
    if (!freopen("/dev/null", "w", stderr)) /* the aggregators' logs; failures are printed on stdout */
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_sweep_keeps_the_invariant),
        cmocka_unit_test(test_a_seed_replays_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
