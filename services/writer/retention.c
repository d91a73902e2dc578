/* retention.c: the partition keeper thread of rsvp-writer (see retention.h). One step per period on
 * its own connection, so a slow DETACH ... CONCURRENTLY never holds a request worker; every writer
 * runs one, and the advisory locks in partition.c let one of them act at a time. */
#include "services/writer/retention.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"

struct retention {
    store_opts so;
    store *st;
    int64_t period_ms;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;    /* under mu */
    int failing; /* the last step failed: log again only when one succeeds */
};

static struct {
    mcounter *errors;
    mgauge *ahead;
} M;

int64_t retention_period_ms(int64_t interval_ms)
{
    int64_t p = interval_ms / 4;
    return p < 1000 ? 1000 : p > 60000 ? 60000 : p;
}

static int metrics_init(void)
{
    if (M.errors)
        return 0;
    M.errors = metrics_counter("rsvp_writer_partition_errors_total", NULL,
                               "Partition keeper steps that failed (retried at the next step)");
    M.ahead = metrics_gauge("rsvp_writer_partition_ahead_seconds", NULL,
                            "How far ahead of now the time partitions reach without a gap, at the last step "
                            "(negative: none covers now)");
    return M.errors && M.ahead ? 0 : ERR_NOMEM;
}

int retention_new(retention **out, const store_opts *so, int64_t period_ms)
{
    if (metrics_init() != 0)
        return ERR_NOMEM;
    retention *r = calloc(1, sizeof *r);
    if (r == NULL)
        return ERR_NOMEM;
    r->so = *so;
    r->period_ms = period_ms;
    if (store_new(&r->st, &r->so) != 0) {
        free(r);
        return ERR_NOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    *out = r;
    return 0;
}

/* One step: create ahead, drop expired; numbers into the metrics, failures into the log. */
static void step(retention *r)
{
    partition_report made, dropped;
    char msg[256] = "";
    int rc = store_maintain(r->st, &made, &dropped, msg, sizeof msg);
    if (made.ahead_ms != INT64_MAX && !made.busy)
        mgauge_set(M.ahead, (double)made.ahead_ms / 1000.0);
    if (rc != 0) {
        mcounter_add(M.errors, 1);
        /* one line per outage (a database restart fails every step until it is back) */
        if (!r->failing)
            log_warn("partition keeper step failed", "error=%s retry_in_ms=%" PRId64, msg, r->period_ms);
        else
            log_debug("partition keeper step failed", "error=%s", msg);
    } else if (r->failing) {
        log_info("partition keeper steps succeed again", NULL);
    }
    r->failing = rc != 0;
}

static void *keeper_main(void *arg)
{
    retention *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        step(r);
        pthread_mutex_lock(&r->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += r->period_ms / 1000;
        until.tv_nsec += (r->period_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int retention_start(retention *r)
{
    if (pthread_create(&r->thread, NULL, keeper_main, r) != 0)
        return ERR_IO;
    r->started = 1;
    return 0;
}

void retention_stop(retention *r)
{
    if (r == NULL || !r->started)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->started = 0;
}

void retention_free(retention *r)
{
    if (r == NULL)
        return;
    retention_stop(r);
    store_free(r->st);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
