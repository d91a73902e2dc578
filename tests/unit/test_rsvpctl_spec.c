/* test_rsvpctl_spec.c: rsvpctl's replica spec ("parser=3,aggregator=2"), its service table and
 * ports, the key=value config file, and the child environment merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "tools/rsvpctl/conffile.h"
#include "tools/rsvpctl/env.h"
#include "tools/rsvpctl/spec.h"

static void test_replicas_sets_only_named_services(void **state)
{
    (void)state;
    int c[SVC_COUNT] = {[SVC_WRITER] = 1, [SVC_AGGREGATOR] = 2, [SVC_PARSER] = 2, [SVC_INGESTOR] = 1};
    unsigned mask = 0;
    char err[128];
    assert_int_equal(spec_parse_replicas("parser=3,aggregator=0", c, &mask, err, sizeof err), 0);
    assert_int_equal(c[SVC_PARSER], 3);
    assert_int_equal(c[SVC_AGGREGATOR], 0);
    assert_int_equal(c[SVC_WRITER], 1);
    assert_int_equal(c[SVC_INGESTOR], 1);
    assert_int_equal(mask, (1u << SVC_PARSER) | (1u << SVC_AGGREGATOR));
}

static void test_replicas_accepts_spaces_and_repeats(void **state)
{
    (void)state;
    int c[SVC_COUNT] = {0};
    unsigned mask = 0;
    char err[128];
    assert_int_equal(
        spec_parse_replicas(" writer=2  ingestor=1, parser=4,parser=5 ", c, &mask, err, sizeof err), 0);
    assert_int_equal(c[SVC_WRITER], 2);
    assert_int_equal(c[SVC_INGESTOR], 1);
    assert_int_equal(c[SVC_PARSER], 5);
}

static void test_replicas_rejects_bad_specs_without_change(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",          "parser",   "parser=",          "parser=x",    "parser=-1", "parser=17",
        "parser=3x", "bogus=1",  "replay=1",         "parser=2,,x", "=3",        "parser=99999999999",
        "parser==2", "PARSER=1", "parser=1;writer=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int c[SVC_COUNT] = {1, 1, 1, 1, 1};
        unsigned mask = 0;
        char err[128] = "";
        assert_int_equal(spec_parse_replicas(bad[i], c, &mask, err, sizeof err), ERR_INVALID);
        assert_true(err[0] != '\0');
        for (int s = 0; s < SVC_COUNT; s++)
            assert_int_equal(c[s], 1);
        assert_int_equal(mask, 0);
    }
}

static void test_ports_and_orders(void **state)
{
    (void)state;
    assert_int_equal(spec_metrics_port(9100, SVC_INGESTOR, 0), 9101);
    assert_int_equal(spec_metrics_port(9100, SVC_PARSER, 0), 9102);
    assert_int_equal(spec_metrics_port(9100, SVC_AGGREGATOR, 1), 9113);
    assert_int_equal(spec_metrics_port(9100, SVC_WRITER, 0), 9104);
    assert_int_equal(spec_metrics_port(9100, SVC_REPLAY, 0), 9105);
    assert_int_equal(spec_metrics_port(31500, SVC_PARSER, 3), 31532);
    /* stop: intake first, writer last */
    assert_int_equal(spec_stop_order(0), SVC_INGESTOR);
    assert_int_equal(spec_stop_order(SVC_COUNT - 1), SVC_WRITER);
    assert_int_equal(spec_find("aggregator", 10), SVC_AGGREGATOR);
    assert_int_equal(spec_find("aggregat", 8), -1);
    char out[128];
    int c[SVC_COUNT] = {[SVC_WRITER] = 1, [SVC_AGGREGATOR] = 2, [SVC_PARSER] = 3, [SVC_INGESTOR] = 1};
    spec_format_replicas(c, out, sizeof out);
    assert_string_equal(out, "ingestor=1,parser=3,aggregator=2,writer=1");
}

static void test_conffile_full(void **state)
{
    (void)state;
    const char *text = "# comment\n"
                       "\n"
                       "replicas.parser = 3\n"
                       "  replicas.writer=2  \n"
                       "env.TRIGGER_INTERVAL=250ms\n"
                       "env.LOG_LEVEL=info\n"
                       "parser.env.LOG_LEVEL=debug\n"
                       "stop_timeout = \"20s\"\n"
                       "bin=/opt/rsvp/bin\n"
                       "bin=/usr/local/bin\n"
                       "with-replay=--synthetic --seed 1\n";
    conffile *c = NULL;
    char err[128];
    assert_int_equal(conffile_parse(text, &c, err, sizeof err), 0);
    int counts[SVC_COUNT] = {0};
    unsigned mask = 0;
    conffile_replicas(c, counts, &mask);
    assert_int_equal(counts[SVC_PARSER], 3);
    assert_int_equal(counts[SVC_WRITER], 2);
    assert_int_equal(mask, (1u << SVC_PARSER) | (1u << SVC_WRITER));
    assert_string_equal(conffile_get(c, "stop-timeout"), "20s");
    assert_string_equal(conffile_get(c, "stop_timeout"), "20s");
    assert_string_equal(conffile_get(c, "bin"), "/usr/local/bin"); /* last wins */
    assert_string_equal(conffile_get(c, "with-replay"), "--synthetic --seed 1");
    assert_null(conffile_get(c, "nope"));
    assert_string_equal(conffile_option_key(c, 0), "stop-timeout");
    assert_null(conffile_option_key(c, 4));

    const char *env[8];
    assert_int_equal(conffile_env(c, SVC_WRITER, env, 8), 2);
    assert_string_equal(env[0], "TRIGGER_INTERVAL=250ms");
    assert_int_equal(conffile_env(c, SVC_PARSER, env, 8), 3);
    assert_string_equal(env[2], "LOG_LEVEL=debug"); /* per-service last so it wins */
    conffile_free(c);
    conffile_free(NULL);
}

static void test_conffile_errors_name_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"a=1\nno equals here\n", "line 2: expected key=value"},
        {"replicas.bogus=2", "line 1: unknown service"},
        {"replicas.parser=x", "line 1: parser: count"},
        {"env.1BAD=x", "line 1: bad environment variable name"},
        {"foo.bar=1", "line 1: unknown key"},
        {" = 3", "line 1: empty key"},
        {"a b=1", "line 1: bad key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conffile *c = NULL;
        char err[128] = "";
        assert_int_equal(conffile_parse(cases[i].text, &c, err, sizeof err), ERR_INVALID);
        assert_null(c);
        assert_non_null(strstr(err, cases[i].want));
    }
}

static void test_env_merge_overrides_and_appends(void **state)
{
    (void)state;
    char *base[] = {"PATH=/bin", "METRICS_ADDR=0.0.0.0:1", "HOME=/root", NULL};
    const char *set[] = {"METRICS_ADDR=127.0.0.1:9102", "INSTANCE_ID=parser-0", "noequals",
                         "INSTANCE_ID=parser-1"};
    char **e = env_merge(base, set, 4);
    assert_non_null(e);
    assert_string_equal(e[0], "PATH=/bin");
    assert_string_equal(e[1], "METRICS_ADDR=127.0.0.1:9102"); /* in place */
    assert_string_equal(e[2], "HOME=/root");
    assert_string_equal(e[3], "INSTANCE_ID=parser-1");
    assert_null(e[4]);
    assert_string_equal(env_lookup(e, "INSTANCE_ID"), "parser-1");
    assert_null(env_lookup(e, "INSTANCE"));
    free(e);
    e = env_merge(NULL, NULL, 0);
    assert_non_null(e);
    assert_null(e[0]);
    free(e);
}

static void test_writer_urls_follow_scheme(void **state)
{
    (void)state;
    char url[64];
    assert_true(spec_writer_scheme_ok("tcp"));
    assert_true(spec_writer_scheme_ok("tls+tcp"));
    assert_false(spec_writer_scheme_ok("tls"));
    assert_false(spec_writer_scheme_ok("ipc"));
    assert_false(spec_writer_scheme_ok(""));
    assert_false(spec_writer_scheme_ok(NULL));
    assert_int_equal(spec_writer_url(url, sizeof url, "tls+tcp", "127.0.0.1", 7401), 24);
    assert_string_equal(url, "tls+tcp://127.0.0.1:7401");
    spec_writer_url(url, sizeof url, "tcp", "127.0.0.1", 7400);
    assert_string_equal(url, "tcp://127.0.0.1:7400");
    spec_writer_url(url, sizeof url, NULL, "127.0.0.1", 7400); /* unset: plain tcp */
    assert_string_equal(url, "tcp://127.0.0.1:7400");
    assert_true(spec_writer_url(url, 8, "tls+tcp", "127.0.0.1", 7400) >= 8); /* truncated */
    assert_string_equal(url, "tls+tcp");
}

/* A child's environment keeps the supervisor's TLS_* unchanged next to the per-replica LISTEN /
 * WRITER_URL (the aggregator reads TLS_CA etc. as client settings, the writer as server ones). */
static void test_env_merge_passes_tls_through(void **state)
{
    (void)state;
    char *base[] = {"TLS_CA=/pki/ca.crt", "TLS_CERT=/pki/c.crt", "TLS_KEY=/pki/c.key",
                    "TLS_SERVER_NAME=localhost", NULL};
    const char *set[] = {"INSTANCE_ID=aggregator-0",
                         "WRITER_URL=tls+tcp://127.0.0.1:7400,tls+tcp://127.0.0.1:7401"};
    char **e = env_merge(base, set, 2);
    assert_non_null(e);
    assert_string_equal(env_lookup(e, "TLS_CA"), "/pki/ca.crt");
    assert_string_equal(env_lookup(e, "TLS_CERT"), "/pki/c.crt");
    assert_string_equal(env_lookup(e, "TLS_KEY"), "/pki/c.key");
    assert_string_equal(env_lookup(e, "TLS_SERVER_NAME"), "localhost");
    assert_string_equal(env_lookup(e, "WRITER_URL"), "tls+tcp://127.0.0.1:7400,tls+tcp://127.0.0.1:7401");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replicas_sets_only_named_services),
        cmocka_unit_test(test_replicas_accepts_spaces_and_repeats),
        cmocka_unit_test(test_replicas_rejects_bad_specs_without_change),
        cmocka_unit_test(test_ports_and_orders),
        cmocka_unit_test(test_conffile_full),
        cmocka_unit_test(test_conffile_errors_name_the_line),
        cmocka_unit_test(test_env_merge_overrides_and_appends),
        cmocka_unit_test(test_writer_urls_follow_scheme),
        cmocka_unit_test(test_env_merge_passes_tls_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
