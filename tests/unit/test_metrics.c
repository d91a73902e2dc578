/* test_metrics.c: the metrics registry: identity of name+labels, type conflicts, atomic updates
 * from several threads, histogram buckets and quantiles, and the exact Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

#include "tests/unit/sanitized.h"

static int teardown(void **state)
{
    (void)state;
    metrics_free_all();
    return 0;
}

static void test_same_name_labels_same_metric(void **state)
{
    (void)state;
    mcounter *a = metrics_counter("rsvp_t_msgs_total", "reason=\"x\"", "Messages.");
    mcounter *b = metrics_counter("rsvp_t_msgs_total", "reason=\"x\"", "Messages.");
    mcounter *c = metrics_counter("rsvp_t_msgs_total", "reason=\"y\"", "Messages.");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_equal(metrics_counter("rsvp_t_other_total", NULL, "h"),
                     metrics_counter("rsvp_t_other_total", "", "h"));
}

static void test_type_conflict_and_bad_names(void **state)
{
    (void)state;
    assert_non_null(metrics_counter("rsvp_t_x_total", NULL, "h"));
    assert_null(metrics_gauge("rsvp_t_x_total", NULL, "h"));
    assert_null(metrics_counter("9starts_with_digit", NULL, "h"));
    assert_null(metrics_counter("has-dash", NULL, "h"));
    assert_null(metrics_counter("", NULL, "h"));
    double bad[] = {2, 1};
    assert_null(metrics_histogram("rsvp_t_h_seconds", NULL, "h", bad, 2));
    assert_null(metrics_histogram("rsvp_t_h_seconds", NULL, "h", bad, 0));
}

static void test_counter_and_gauge_values(void **state)
{
    (void)state;
    mcounter *c = metrics_counter("rsvp_t_c_total", NULL, "h");
    mcounter_add(c, 2);
    mcounter_add(c, 3);
    assert_int_equal(mcounter_get(c), 5);
    mgauge *g = metrics_gauge("rsvp_t_g", NULL, "h");
    mgauge_set(g, 1.5);
    mgauge_add(g, -0.25);
    assert_float_equal(mgauge_get(g), 1.25, 1e-12);
    /* NULL-safe updates */
    mcounter_add(NULL, 1);
    mgauge_add(NULL, 1);
    mhist_observe(NULL, 1);
}

struct par {
    mcounter *c;
    mgauge *g;
    mhist *h;
};

static void *hammer(void *arg)
{
    struct par *p = arg;
    for (int i = 0; i < 100000; i++) {
        mcounter_add(p->c, 1);
        mgauge_add(p->g, 1.0);
        mhist_observe(p->h, (double)(i % 10));
    }
    return NULL;
}

static void test_concurrent_updates_are_not_lost(void **state)
{
    (void)state;
    double bounds[] = {1, 5};
    struct par p = {metrics_counter("rsvp_t_par_total", NULL, "h"),
                    metrics_gauge("rsvp_t_par_gauge", NULL, "h"),
                    metrics_histogram("rsvp_t_par_seconds", NULL, "h", bounds, 2)};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &p), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(mcounter_get(p.c), 400000);
    assert_float_equal(mgauge_get(p.g), 400000.0, 1e-9);
    assert_int_equal(mhist_count(p.h), 400000);
}

static void test_histogram_quantile(void **state)
{
    (void)state;
    double bounds[] = {0.1, 0.2, 0.4, 0.8};
    mhist *h = metrics_histogram("rsvp_t_lat_seconds", NULL, "h", bounds, 4);
    assert_true(isnan(mhist_quantile(h, 0.5)));
    for (int i = 0; i < 50; i++)
        mhist_observe(h, 0.05); /* bucket 0.1 */
    for (int i = 0; i < 50; i++)
        mhist_observe(h, 0.3); /* bucket 0.4 */
    assert_int_equal(mhist_count(h), 100);
    /* rank 50 is the top of bucket (0, 0.1]; rank 75 is halfway through (0.2, 0.4] */
    assert_float_equal(mhist_quantile(h, 0.5), 0.1, 1e-9);
    assert_float_equal(mhist_quantile(h, 0.75), 0.3, 1e-9);
    assert_float_equal(mhist_quantile(h, 0.25), 0.05, 1e-9);
    mhist_observe(h, 100); /* +Inf bucket answers the highest finite bound */
    assert_float_equal(mhist_quantile(h, 1.0), 0.8, 1e-9);
}

static void test_render_text_format(void **state)
{
    (void)state;
    mcounter *a = metrics_counter("rsvp_t_in_total", "reason=\"a\"", "Input messages.");
    mcounter *b = metrics_counter("rsvp_t_in_total", "reason=\"b\"", "Input messages.");
    mgauge *g = metrics_gauge("rsvp_t_lag_messages", NULL, "Consumer lag.\nback\\slash");
    double bounds[] = {0.005, 0.5, 1};
    mhist *h = metrics_histogram("rsvp_t_flush_seconds", "stage=\"w\"", "Flush time.", bounds, 3);
    mcounter_add(a, 3);
    mcounter_add(b, 4);
    mgauge_set(g, 12.5);
    mhist_observe(h, 0.001);
    mhist_observe(h, 0.25);
    mhist_observe(h, 0.25);
    mhist_observe(h, 7);
    buf out = {0};
    assert_int_equal(metrics_render(&out), 0);
    const char *want = "# HELP rsvp_t_in_total Input messages.\n"
                       "# TYPE rsvp_t_in_total counter\n"
                       "rsvp_t_in_total{reason=\"a\"} 3\n"
                       "rsvp_t_in_total{reason=\"b\"} 4\n"
                       "# HELP rsvp_t_lag_messages Consumer lag.\\nback\\\\slash\n"
                       "# TYPE rsvp_t_lag_messages gauge\n"
                       "rsvp_t_lag_messages 12.5\n"
                       "# HELP rsvp_t_flush_seconds Flush time.\n"
                       "# TYPE rsvp_t_flush_seconds histogram\n"
                       "rsvp_t_flush_seconds_bucket{stage=\"w\",le=\"0.005\"} 1\n"
                       "rsvp_t_flush_seconds_bucket{stage=\"w\",le=\"0.5\"} 3\n"
                       "rsvp_t_flush_seconds_bucket{stage=\"w\",le=\"1\"} 3\n"
                       "rsvp_t_flush_seconds_bucket{stage=\"w\",le=\"+Inf\"} 4\n"
                       "rsvp_t_flush_seconds_sum{stage=\"w\"} 7.501\n"
                       "rsvp_t_flush_seconds_count{stage=\"w\"} 4\n";
    assert_non_null(out.data);
    assert_memory_equal(out.data, want, strlen(want));
    const char *rest = out.data + strlen(want);
    assert_non_null(strstr(rest, "# TYPE process_cpu_seconds_total counter\n"
                                 "process_cpu_seconds_total "));
    assert_non_null(strstr(rest, "# TYPE process_resident_memory_bytes gauge\n"));
    assert_non_null(strstr(rest, "# TYPE process_start_time_seconds gauge\n"));
    /* the C heap: in use, free, mapped apart; something is in use (this test's own buffers) */
    const char *in_use =
        strstr(rest, "# TYPE process_heap_bytes gauge\nprocess_heap_bytes{kind=\"in_use\"} ");
    assert_non_null(in_use);
#ifndef SANITIZED /* ASan's allocator replaces glibc's: mallinfo2 reads zeros there */
    assert_true(strtod(strchr(in_use, '}') + 2, NULL) > 0);
#endif
    assert_non_null(strstr(rest, "\nprocess_heap_bytes{kind=\"free\"} "));
    assert_non_null(strstr(rest, "\nprocess_heap_bytes{kind=\"mmap\"} "));
    assert_int_equal(out.data[out.len - 1], '\n');
    buf_free(&out);
}

static void test_render_special_gauge_values(void **state)
{
    (void)state;
    mgauge *n = metrics_gauge("rsvp_t_nan", NULL, "h");
    mgauge *p = metrics_gauge("rsvp_t_inf", NULL, "h");
    mgauge *s = metrics_gauge("rsvp_t_small", NULL, "h");
    mgauge_set(n, NAN);
    mgauge_set(p, INFINITY);
    mgauge_set(s, 0.1);
    buf out = {0};
    assert_int_equal(metrics_render(&out), 0);
    assert_non_null(strstr(out.data, "\nrsvp_t_nan NaN\n"));
    assert_non_null(strstr(out.data, "\nrsvp_t_inf +Inf\n"));
    assert_non_null(strstr(out.data, "\nrsvp_t_small 0.1\n"));
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_same_name_labels_same_metric, teardown),
        cmocka_unit_test_teardown(test_type_conflict_and_bad_names, teardown),
        cmocka_unit_test_teardown(test_counter_and_gauge_values, teardown),
        cmocka_unit_test_teardown(test_concurrent_updates_are_not_lost, teardown),
        cmocka_unit_test_teardown(test_histogram_quantile, teardown),
        cmocka_unit_test_teardown(test_render_text_format, teardown),
        cmocka_unit_test_teardown(test_render_special_gauge_values, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
