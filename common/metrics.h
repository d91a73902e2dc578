/* metrics.h: the process-wide metrics registry, rendered as Prometheus text (exposition format
 * 0.0.4) by metrics_render() and served on /metrics by http.h. Names follow
 * rsvp_<service>_<thing>_<unit>, counters end in _total. Updates are lock-free (C11 atomics) and
 * safe from any thread, including librdkafka callbacks; registration takes a lock and is meant for
 * start-up. Registering the same name+labels twice returns the same metric. Every process also
 * exports process_cpu_seconds_total, process_resident_memory_bytes, process_start_time_seconds. */
#ifndef COMMON_METRICS_H
#define COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct mcounter mcounter;
typedef struct mgauge mgauge;
typedef struct mhist mhist;

/* labels: NULL or a Prometheus label body without braces, e.g. "reason=\"not_json\"".
 * The returned pointers live until metrics_free_all(); NULL only on ERR_NOMEM or bad name. */
mcounter *metrics_counter(const char *name, const char *labels, const char *help);
void mcounter_add(mcounter *c, uint64_t n);
uint64_t mcounter_get(const mcounter *c);

mgauge *metrics_gauge(const char *name, const char *labels, const char *help);
void mgauge_set(mgauge *g, double v);
void mgauge_add(mgauge *g, double v);
double mgauge_get(const mgauge *g);

/* bounds: ascending upper bounds (the +Inf bucket is implicit), copied; n <= 32. */
mhist *metrics_histogram(const char *name, const char *labels, const char *help, const double *bounds, int n);
void mhist_observe(mhist *h, double v);
uint64_t mhist_count(const mhist *h);
/* mhist_quantile: an estimate from the buckets (linear inside a bucket), for tools and logs. */
double mhist_quantile(const mhist *h, double q);

/* metrics_render: append the text exposition of every metric to out. 0 or ERR_NOMEM. */
int metrics_render(buf *out);
/* metrics_free_all: at exit, after every user stopped. */
void metrics_free_all(void);

#endif
