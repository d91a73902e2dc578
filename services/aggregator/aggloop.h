/* aggloop.h: the aggregator's loop: takes messages from a group consumer, counts them (aggregator.c),
 * cuts batches on the trigger, sends them one at a time to the writer, and performs what each reply
 * asks (commit, resend after a backoff, seek, re-query); pauses the consumer for back-pressure and
 * retries, answers rebalances (offset query, then the writer's stored offsets become the positions).
 * It does no I/O itself: the consumer, the writer link and the clock are tables of functions, so the
 * loop runs the same against librdkafka + nng (kconsumer.c, wlink.c) as against the deterministic
 * simulator (tests/sim/). Single-threaded: every aggloop_* call and every callback on one thread. */
#ifndef SERVICES_AGGREGATOR_AGGLOOP_H
#define SERVICES_AGGREGATOR_AGGLOOP_H

#include <stddef.h>
#include <stdint.h>

#include "common/http.h"
#include "proto/rsvp.pb-c.h"
#include "services/aggregator/aggregator.h"
#include "services/aggregator/wlink.h"

/* The offset a partition starts at when the writer has nothing stored: the consumer maps it to its
 * configured START_OFFSET (earliest or latest). */
#define AGGLOOP_START_OFFSET (-1)

typedef struct aggloop aggloop;

/* One consumed message, borrowed until released. handle belongs to the consumer. */
typedef struct aggloop_msg {
    int32_t partition;
    int64_t offset;
    const void *payload;
    size_t len;
    void *handle;
} aggloop_msg;

/* The group consumer. Every function is called on the loop's thread with ctx. */
typedef struct aggloop_consumer {
    void *ctx;
    /* poll: wait at most wait_ms for a message; 1 with *m filled (give it back with release), 0 when
     * none came (consumer errors are the implementation's to log). A rebalance is delivered from
     * inside poll, before any message of the new assignment, by calling aggloop_assign or
     * aggloop_revoke; a newly assigned partition is not paused, whatever it was when it was last
     * revoked. */
    int (*poll)(void *ctx, int wait_ms, aggloop_msg *m);
    void (*release)(void *ctx, aggloop_msg *m);
    /* pause: stop (pause != 0) or restart delivery of parts[0..n). A message polled after a resume
     * comes from the partition's position; nothing fetched before a pause is delivered after it. */
    void (*pause)(void *ctx, const int32_t *parts, size_t n, int pause);
    /* seek: the next message polled of parts[i] is the one at offs[i] (AGGLOOP_START_OFFSET: the
     * start offset); nothing fetched before the seek is delivered after it. */
    void (*seek)(void *ctx, const int32_t *parts, const int64_t *offs, size_t n);
    /* commit: record offset as the group's committed offset of partition (asynchronous, may fail:
     * it only shows progress to operators and autoscalers). */
    void (*commit)(void *ctx, int32_t partition, int64_t offset);
    /* lag: messages behind the high watermarks of the assignment, -1 when unknown. */
    int64_t (*lag)(void *ctx);
} aggloop_consumer;

/* The link to the writer(s): wlink_start / wlink_poll's contract (wlink.h). */
typedef struct aggloop_writer {
    void *ctx;
    int (*start)(void *ctx, wlink_chan c, const void *data, size_t len, int64_t timeout_ms);
    int (*poll)(void *ctx, wlink_chan c, int64_t wait_ms, Rsvp__V1__WriterReply **reply);
} aggloop_writer;

/* Time and the stop request. */
typedef struct aggloop_clock {
    void *ctx;
    int64_t (*now_ms)(void *ctx);         /* monotonic */
    void (*sleep_ms)(void *ctx, int64_t); /* may return early when stopping */
    int (*stopping)(void *ctx);           /* nonzero once the process should stop */
    int64_t (*wall_ms)(void *ctx);        /* the wall clock the triggers align to; NULL: now_ms */
} aggloop_clock;

typedef struct aggloop_opts {
    const char *topic;                      /* consumed topic, named in batches */
    const char *sender;                     /* instance id, named in batches */
    size_t max_batch_keys, max_batch_bytes; /* agg_new */
    int64_t trigger_ms;                     /* cut every changed partition this often: at the wall */
    int64_t trigger_offset_ms;              /* clock's multiples of trigger_ms + trigger_offset_ms */
    int64_t request_timeout_ms;             /* wait this long for a writer reply */
    int64_t backoff_base_ms, backoff_max_ms;
    uint64_t backoff_seed; /* jitter seed of the retry backoffs; 0: from the clock and pid */
    int metrics;           /* register and export the rsvp_aggregator_* metrics (once per process) */
    int replies_wake;      /* the writer's replies end the consumer's poll (wlink_set_wake with
                            * kconsumer_wake): no need to look for them every 5 ms */
} aggloop_opts;

/* aggloop_new: a loop over the given consumer, writer link and clock (the tables are copied; their
 * contexts must outlive the loop). http (may be NULL) gets readiness. On success *out owns the
 * counting state. 0 or ERR_NOMEM. */
int aggloop_new(aggloop **out, const aggloop_opts *o, const aggloop_consumer *c, const aggloop_writer *w,
                const aggloop_clock *clk, httpd *http);
/* aggloop_free: NULL-safe. Messages still held are released. */
void aggloop_free(aggloop *l);

/* aggloop_step: one turn: wait for messages (at most 100 ms, and not past the next trigger or
 * resend; while a batch is in flight and its reply does not wake the poll, 5 ms), count what is
 * queued (at most 512),
 * cut batches when due, collect the writer's reply and send the next batch, pause or resume, export
 * metrics and readiness every 500 ms and at each trigger. Returns 0, or ERR_NOMEM / ERR_FATAL when the loop cannot go
 * on (logged; the caller stops). */
int aggloop_step(aggloop *l);

/* aggloop_run: aggloop_step until clk->stopping() or an error; then aggloop_flush (whatever ended
 * the loop). Returns 0 or the error of aggloop_step. */
int aggloop_run(aggloop *l);

/* aggloop_flush: pause, cut every changed partition and send what is cut, within one request
 * timeout. Unsent deltas are not lost: the next owner re-reads them from the writer's offsets. */
void aggloop_flush(aggloop *l);

/* aggloop_assign: the consumer's rebalance assigned parts[0..n) (incrementally for the cooperative
 * protocol). Counts what was polled before, lets the in-flight batch finish, asks the writer for the
 * stored offsets (retrying until it answers or stopping) and sets offs[i] to where parts[i] must start
 * (AGGLOOP_START_OFFSET when nothing is stored). n == 0: a standby; only checks that the writer
 * answers. 0; ERR_CLOSED when stopping (offs[] set to AGGLOOP_START_OFFSET: assign them anyway, the
 * partitions are not counted); ERR_NOMEM (the caller stops). */
int aggloop_assign(aggloop *l, const int32_t *parts, size_t n, int64_t *offs);

/* aggloop_revoke: parts[0..n) were revoked or lost: count what was polled before, forget them. */
void aggloop_revoke(aggloop *l, const int32_t *parts, size_t n);

/* aggloop_ready: the readiness last reported (1 ready), and its reason (static until the next
 * aggloop_step; "" when ready without one). */
int aggloop_ready(const aggloop *l, const char **reason);

/* aggloop_agg: the counting state (for tests and the simulator's checks). */
const agg *aggloop_agg(const aggloop *l);

#endif
