/* prom.h: reading Prometheus text exposition (format 0.0.4) as scraped from a service's /metrics,
 * and turning counter samples into rates. Pure: used by `rsvpctl top`. */
#ifndef TOOLS_RSVPCTL_PROM_H
#define TOOLS_RSVPCTL_PROM_H

#include <stddef.h>

/* prom_sum: the sum of every sample of metric `name` in text[0..len) (exact name match, so
 * "x_total" does not match "x_total_bucket"), over all label sets; with match non-NULL (a label
 * pair as written, e.g. "result=\"ok\"") only samples carrying that label pair count. Comment
 * lines and malformed lines are skipped. Returns 0 and writes *out if at least one sample matched,
 * ERR_NOTFOUND (leaving *out alone) otherwise. */
int prom_sum(const char *text, size_t len, const char *name, const char *match, double *out);

/* prom_rate: per-second rate of a counter that went from prev to cur in dt_s seconds. A counter
 * that went down was reset (process restarted): its new value counts from zero, as Prometheus'
 * rate() does. Returns 0 when dt_s <= 0 or a value is not finite. */
double prom_rate(double prev, double cur, double dt_s);

#endif
