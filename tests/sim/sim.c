/* sim.c: `make sim`: the deterministic simulation of tests/sim/simworld.h over many seeds.
 *   agg-sim [--seeds N] [--first S] [--steps M]   seeds S..S+N-1, M fault steps each (defaults 500, 1, 20000)
 *   agg-sim --seed S [--steps M] [-v]             replay one seed exactly (-v: the aggregators' logs)
 * Prints one line per seed (its numbers and trace hash) and a total; exit 1 if any seed failed, with the
 * command that replays it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "tests/sim/simworld.h"

int main(int argc, char **argv)
{
    uint64_t first = 1, nseeds = 500, steps = 20000;
    int one = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--seeds") && v)
            nseeds = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--first") && v)
            first = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--steps") && v)
            steps = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && v)
            first = strtoull(argv[++i], NULL, 10), nseeds = 1, one = 1;
        else if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else {
            fprintf(stderr,
                    "usage: agg-sim [--seeds N] [--first S] [--steps M] | --seed S [--steps M] [-v]\n");
            return 2;
        }
    }
    log_init("aggregator-sim", "sim", verbose ? LOGL_DEBUG : LOGL_ERROR);
    if (!verbose && !freopen("/dev/null", "w", stderr))
        return 2;
    uint64_t total = 0, failed = 0;
    clock_t t0 = clock();
    for (uint64_t s = first; s < first + nseeds; s++) {
        sim_result r;
        int rc = sim_run(s, steps, &r);
        total += r.steps;
        printf("seed %llu: %s steps=%llu records=%llu batches=%llu rejected=%llu stale=%llu deferred=%llu "
               "rebalances=%llu crashes=%llu trace=%016llx%s%s\n",
               (unsigned long long)s, rc ? "FAIL" : "ok", (unsigned long long)r.steps,
               (unsigned long long)r.records, (unsigned long long)r.batches, (unsigned long long)r.rejections,
               (unsigned long long)r.stale, (unsigned long long)r.deferred, (unsigned long long)r.rebalances,
               (unsigned long long)r.crashes, (unsigned long long)r.trace, rc ? ": " : "", rc ? r.why : "");
        if (rc) {
            failed++;
            printf("  replay: build/tests/agg-sim --seed %llu --steps %llu -v\n", (unsigned long long)s,
                   (unsigned long long)steps);
        }
        fflush(stdout);
    }
    printf("%llu seeds (%llu..%llu), %llu steps, %.1f s: %llu passed, %llu failed\n",
           (unsigned long long)nseeds, (unsigned long long)first, (unsigned long long)(first + nseeds - 1),
           (unsigned long long)total, (double)(clock() - t0) / CLOCKS_PER_SEC,
           (unsigned long long)(nseeds - failed), (unsigned long long)failed);
    (void)one;
    return failed ? 1 : 0;
}
