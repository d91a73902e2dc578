/* metrics_dump.c: registers one metric of every kind (labels, histogram, special values) the way
 * services do, and prints metrics_render() on stdout, for tests/unit/promtool-check.sh. */
#include <math.h>
#include <stdio.h>

#include "common/metrics.h"

int main(void)
{
    mcounter_add(metrics_counter("rsvp_dump_messages_total", "result=\"ok\"", "Messages seen."), 5);
    mcounter_add(metrics_counter("rsvp_dump_messages_total", "result=\"bad\"", "Messages seen."), 1);
    mgauge_set(
        metrics_gauge("rsvp_dump_consumer_lag_messages", "partition=\"0\"", "Consumer lag per partition."),
        42);
    mgauge_set(metrics_gauge("rsvp_dump_ready", NULL, "1 when ready."), NAN);
    static const double bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
    mhist *h =
        metrics_histogram("rsvp_dump_flush_duration_seconds", NULL, "Time to flush a batch.", bounds, 8);
    for (int i = 0; i < 100; i++)
        mhist_observe(h, i * 0.013);
    buf out = {0};
    int rc = metrics_render(&out);
    if (rc == 0)
        fwrite(out.data, 1, out.len, stdout);
    buf_free(&out);
    metrics_free_all();
    return rc == 0 ? 0 : 1;
}
