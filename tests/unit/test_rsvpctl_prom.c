/* test_rsvpctl_prom.c: what `rsvpctl top` reads from /metrics: the sum of a metric over its label
 * sets (exact names, quoted label values, comments), counter rates across restarts, per-replica
 * rates that ignore replicas coming and going, and the rendered frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "tools/rsvpctl/prom.h"
#include "tools/rsvpctl/top.h"

static const char scrape[] = "# HELP rsvp_parser_dead_lettered_total messages sent to the DLQ\n"
                             "# TYPE rsvp_parser_dead_lettered_total counter\n"
                             "rsvp_parser_dead_lettered_total{reason=\"not_json\"} 3\n"
                             "rsvp_parser_dead_lettered_total{reason=\"bad}\\\"utf8\",partition=\"1\"} 4.5\n"
                             "rsvp_parser_dead_lettered_total_extra 100\n"
                             "rsvp_parser_dead_lettered 1000\n"
                             "rsvp_parser_parsed_total 12345 1700000000000\n"
                             "  rsvp_parser_consumer_lag{partition=\"0\"} 7\n"
                             "rsvp_parser_consumer_lag{partition=\"1\"}\t5\n"
                             "rsvp_writer_batches_total{result=\"ok\"} 10\n"
                             "rsvp_writer_batches_total{result=\"stale\"} 2\n"
                             "rsvp_writer_batches_total{other=\"result=\\\"ok\\\"\"} 100\n"
                             "rsvp_broken{ 1\n"
                             "rsvp_nan NaN\n"
                             "rsvp_inf +Inf\n"
                             "rsvp_last_line_without_newline 9";

static double sum(const char *name, const char *match)
{
    double v = -1;
    int rc = prom_sum(scrape, strlen(scrape), name, match, &v);
    return rc == 0 ? v : -99;
}

static void test_sum_over_labels_exact_name(void **state)
{
    (void)state;
    assert_true(sum("rsvp_parser_dead_lettered_total", NULL) == 7.5);
    assert_true(sum("rsvp_parser_parsed_total", NULL) == 12345); /* timestamp ignored */
    assert_true(sum("rsvp_parser_consumer_lag", NULL) == 12);    /* leading blanks, tab */
    assert_true(sum("rsvp_last_line_without_newline", NULL) == 9);
    assert_true(sum("rsvp_parser_dead_lettered", NULL) == 1000);
    assert_true(sum("rsvp_missing_total", NULL) == -99);
    assert_true(sum("rsvp_broken", NULL) == -99);
    assert_true(isnan(sum("rsvp_nan", NULL)));
    assert_true(isinf(sum("rsvp_inf", NULL)));
    double v = 42;
    assert_int_equal(prom_sum(scrape, strlen(scrape), "nothing", NULL, &v), ERR_NOTFOUND);
    assert_true(v == 42);
    assert_int_equal(prom_sum("", 0, "x", NULL, &v), ERR_NOTFOUND);
}

static void test_sum_with_label_filter(void **state)
{
    (void)state;
    assert_true(sum("rsvp_writer_batches_total", "result=\"ok\"") == 10);
    assert_true(sum("rsvp_writer_batches_total", "result=\"stale\"") == 2);
    assert_true(sum("rsvp_writer_batches_total", NULL) == 112);
    assert_true(sum("rsvp_parser_dead_lettered_total", "partition=\"1\"") == 4.5);
    assert_true(sum("rsvp_parser_parsed_total", "result=\"ok\"") == -99);
}

static void test_rate(void **state)
{
    (void)state;
    assert_true(prom_rate(100, 300, 2.0) == 100.0);
    assert_true(prom_rate(300, 50, 1.0) == 50.0); /* reset: counts from zero */
    assert_true(prom_rate(1, 2, 0) == 0);
    assert_true(prom_rate(1, 2, -1) == 0);
    assert_true(prom_rate(NAN, 2, 1) == 0);
    assert_true(prom_rate(5, 5, 1) == 0);
}

static top_sample sample(const char *url, int ok, double produced, double lag)
{
    top_sample s;
    memset(&s, 0, sizeof s);
    strcpy(s.url, url);
    s.ok = ok;
    char text[256];
    snprintf(text, sizeof text,
             "rsvp_ingestor_produced_total %g\nrsvp_parser_consumer_lag{partition=\"0\"} %g\n", produced,
             lag);
    top_sample_parse(&s, text, strlen(text));
    return s;
}

static void test_compute_per_replica_rates(void **state)
{
    (void)state;
    top_sample prev[] = {sample("a", 1, 100, 1), sample("b", 1, 1000, 1), sample("gone", 1, 5000, 1)};
    top_sample cur[] = {sample("a", 1, 300, 2), sample("b", 1, 50, 3), /* b restarted */
                        sample("new", 1, 7000, 4), sample("down", 0, 0, 0)};
    top_stats st;
    top_compute(prev, 3, cur, 4, 2.0, &st);
    assert_int_equal(st.targets, 4);
    assert_int_equal(st.targets_up, 3);
    /* a: 200/2s = 100; b reset: 50/2s = 25; new and gone: no rate */
    assert_true(st.rate[TM_ING_PRODUCED] == 125.0);
    assert_true(st.total[TM_ING_PRODUCED] == 7350);
    assert_true(st.total[TM_PAR_LAG] == 9); /* gauge: summed, no rate */
    assert_true(st.rate[TM_PAR_LAG] == 0);
    assert_true(st.have & (1u << TM_ING_PRODUCED));
    assert_false(st.have & (1u << TM_WR_ROWS));
    /* a replica whose lag is not known yet (-1) does not lower the sum */
    top_sample unknown = sample("u", 1, 0, -1);
    assert_false(unknown.have & (1u << TM_PAR_LAG));
    top_compute(NULL, 0, cur, 4, 1.0, &st);
    assert_true(st.rate[TM_ING_PRODUCED] == 0);
}

static void test_render_plain_and_ansi(void **state)
{
    (void)state;
    top_sample prev[] = {sample("a", 1, 100, 1)};
    top_sample cur[] = {sample("a", 1, 2100, 12)};
    top_stats st;
    top_compute(prev, 1, cur, 1, 1.0, &st);
    top_pg pg = {.ok = 1, .nevents = 1, .ncities = 1, .yes = 30, .no = 10};
    strcpy(pg.events[0].name, "Tech Talk");
    pg.events[0].count = 25;
    strcpy(pg.cities[0].name, "London");
    pg.cities[0].count = 40;
    buf b = {0};
    assert_int_equal(top_render(&b, "hdr", &st, &pg, 0), 0);
    assert_non_null(strstr(b.data, "hdr  replicas up 1/1\n"));
    assert_non_null(strstr(b.data, "ingest         2000.0"));
    assert_non_null(strstr(b.data, "yes/no ratio 3.00 (yes 30, no 10)"));
    assert_non_null(strstr(b.data, "Tech Talk"));
    assert_non_null(strstr(b.data, "London"));
    assert_null(strchr(b.data, '\033'));
    /* a metric nobody exports shows "-" */
    assert_non_null(strstr(b.data, "rows/s -"));
    buf_reset(&b);
    pg.ok = 0;
    strcpy(pg.err, "connection refused");
    assert_int_equal(top_render(&b, "hdr", &st, &pg, 1), 0);
    assert_true(strncmp(b.data, "\033[H", 3) == 0);
    assert_non_null(strstr(b.data, "postgres: connection refused\033[K\n"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_over_labels_exact_name),
        cmocka_unit_test(test_sum_with_label_filter),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_compute_per_replica_rates),
        cmocka_unit_test(test_render_plain_and_ansi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
