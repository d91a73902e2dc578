/* top.h: `rsvpctl top`, the live view of the pipeline: per-stage RSVPs/s computed from the
 * services' counters (scraped from each replica's /metrics), consumer lag, dead-lettered count,
 * and from PostgreSQL the top events and cities and the yes/no ratio. The computation and the
 * rendering are pure functions (tested); top_main does the I/O. */
#ifndef TOOLS_RSVPCTL_TOP_H
#define TOOLS_RSVPCTL_TOP_H

#include <stddef.h>

#include "common/buf.h"

/* The metrics top reads; top_metric_name/top_metric_match give each one's name and label filter. */
enum {
    TM_ING_PRODUCED,
    TM_PAR_CONSUMED,
    TM_PAR_PARSED,
    TM_PAR_DLQ,
    TM_PAR_LAG,
    TM_AGG_CONSUMED,
    TM_AGG_LAG,
    TM_WR_MSGS,
    TM_WR_ROWS,
    TM_WR_BATCHES,
    TM_COUNT
};

const char *top_metric_name(int m);

/* One scrape of one /metrics URL. */
typedef struct top_sample {
    char url[160];
    int ok;        /* the scrape answered 200 */
    unsigned have; /* bit m set when metric m was present */
    double v[TM_COUNT];
} top_sample;

/* top_sample_parse: fill s->v and s->have from a /metrics body (prom_sum per metric). */
void top_sample_parse(top_sample *s, const char *text, size_t len);

/* Sums over every replica. */
typedef struct top_stats {
    int targets, targets_up;
    unsigned have;
    double total[TM_COUNT]; /* counters: current sum; gauges (lag): current sum */
    double rate[TM_COUNT];  /* counters only: per-second, summed per replica */
} top_stats;

/* top_compute: stats of cur; rates from the same URL's sample in prev (replicas that appeared or
 * vanished between the two contribute no rate, so scaling does not fake a spike). dt_s <= 0 or
 * prev == NULL: rates 0. */
void top_compute(const top_sample *prev, size_t nprev, const top_sample *cur, size_t ncur, double dt_s,
                 top_stats *out);

typedef struct top_row {
    char name[80];
    long long count;
} top_row;

/* What PostgreSQL says (rsvp_counts). */
typedef struct top_pg {
    int ok;
    char err[160];
    top_row events[5], cities[5];
    int nevents, ncities;
    long long yes, no;
} top_pg;

/* top_render: one snapshot as text. header: first line (time, targets); ansi: clear the screen
 * and redraw in place. 0 or ERR_NOMEM. */
int top_render(buf *out, const char *header, const top_stats *st, const top_pg *pg, int ansi);

/* top_main: `rsvpctl top` with argv[0] = "top"; returns the exit code. */
int top_main(int argc, char **argv);

#endif
