/* simworld.h: a deterministic simulation of the aggregator-writer protocol. The real aggregator loop
 * (aggloop.c, aggregator.c, keytab.c, rsvpwire.c) runs in two simulated aggregators against a
 * simulated group consumer (per-partition logs with transaction markers and aborted records, random
 * bursts, pauses, seeks, rebalances at random points, zombies, crashes) and a model writer (the
 * writer's real request validation and its offset check; replies delayed, lost, duplicated, reordered;
 * crashes between COMMIT and reply; RETRY while its database is down; records it rejects until an
 * operator fixes the cause). Everything is driven by one seed and virtual time: a seed replays exactly.
 * After every step the invariant is checked (see sim_check in simworld.c and docs/architecture.md). */
#ifndef TESTS_SIM_SIMWORLD_H
#define TESTS_SIM_SIMWORLD_H

#include <stddef.h>
#include <stdint.h>

typedef struct simworld simworld;

typedef struct sim_result {
    uint64_t steps;      /* steps run (fault phase + convergence) */
    uint64_t trace;      /* hash of every event: equal for equal seeds */
    int failed;          /* the invariant broke or the run did not converge */
    char why[512];       /* what broke, at which step */
    uint64_t records;    /* data records committed to the logs */
    uint64_t batches;    /* batches applied by the model writer */
    uint64_t rejections; /* batches the model writer rejected (ERROR) */
    uint64_t deferred;   /* messages the aggregators refused and re-read */
    uint64_t stale;      /* STALE replies */
    uint64_t rebalances; /* partition moves (zombies included) */
    uint64_t crashes;    /* aggregator crashes */
} sim_result;

/* sim_run: one seed, `steps` steps of faults then up to as many again without new faults until every
 * record is applied exactly once. Fills *out; returns 0 if the invariant held throughout and the run
 * converged, 1 otherwise. Deterministic. */
int sim_run(uint64_t seed, uint64_t steps, sim_result *out);

#endif
