/* test_kafka.c: kafka_conf_new layering without a broker: built-in bootstrap default < caller
 * defaults < KAFKA_* environment < -X flags; unknown names from the environment are skipped, from
 * -X or defaults they fail; callbacks register the service's metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"

static const cfg_option OPTS[] = {{NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL}};

static const char *get(rd_kafka_conf_t *conf, const char *key)
{
    static char val[512];
    size_t n = sizeof val;
    if (rd_kafka_conf_get(conf, key, val, &n) != RD_KAFKA_CONF_OK)
        return NULL;
    return val;
}

static int setup(void **state)
{
    (void)state;
    log_init("test", NULL, LOGL_ERROR); /* keep the warn about KAFKA_HOME quiet */
    unsetenv("KAFKA_LINGER_MS");
    unsetenv("KAFKA_CLIENT_ID");
    unsetenv("KAFKA_HOME");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cfg_free(OPTS);
    metrics_free_all();
    return 0;
}

static void test_layering(void **state)
{
    (void)state;
    setenv("KAFKA_LINGER_MS", "7", 1);
    setenv("KAFKA_CLIENT_ID", "from-env", 1);
    char *argv[] = {"t", "-X", "client.id=from-flag", NULL};
    assert_int_equal(cfg_parse("t", "t", OPTS, 3, argv), 0);
    const char *defaults[] = {"linger.ms", "1", "batch.num.messages", "500", "client.id", "dflt", NULL};
    rd_kafka_conf_t *conf = NULL;
    char err[512];
    assert_int_equal(kafka_conf_new(&conf, "t", defaults, err, sizeof err), 0);
    assert_string_equal(get(conf, "bootstrap.servers"), "127.0.0.1:19092");
    assert_string_equal(get(conf, "batch.num.messages"), "500"); /* default */
    assert_string_equal(get(conf, "linger.ms"), "7");            /* env beats default */
    assert_string_equal(get(conf, "client.id"), "from-flag");    /* -X beats env */
    rd_kafka_conf_destroy(conf);
}

static void test_bootstrap_override(void **state)
{
    (void)state;
    char *argv[] = {"t", "-X", "bootstrap.servers=10.1.1.1:9092", NULL};
    assert_int_equal(cfg_parse("t", "t", OPTS, 3, argv), 0);
    rd_kafka_conf_t *conf = NULL;
    char err[512];
    assert_int_equal(kafka_conf_new(&conf, "t", NULL, err, sizeof err), 0);
    assert_string_equal(get(conf, "bootstrap.servers"), "10.1.1.1:9092");
    rd_kafka_conf_destroy(conf);
}

static void test_unknown_from_env_skipped_from_flag_fails(void **state)
{
    (void)state;
    setenv("KAFKA_HOME", "/opt/kafka", 1);
    char *argv[] = {"t", NULL};
    assert_int_equal(cfg_parse("t", "t", OPTS, 1, argv), 0);
    rd_kafka_conf_t *conf = NULL;
    char err[512];
    assert_int_equal(kafka_conf_new(&conf, "t", NULL, err, sizeof err), 0);
    rd_kafka_conf_destroy(conf);
    cfg_free(OPTS);

    char *argv2[] = {"t", "-X", "no.such.property=1", NULL};
    assert_int_equal(cfg_parse("t", "t", OPTS, 3, argv2), 0);
    conf = NULL;
    assert_int_equal(kafka_conf_new(&conf, "t", NULL, err, sizeof err), ERR_INVALID);
    assert_null(conf);
    assert_non_null(strstr(err, "no.such.property"));
    cfg_free(OPTS);

    char *argv3[] = {"t", "-X", "linger.ms=notanumber", NULL};
    assert_int_equal(cfg_parse("t", "t", OPTS, 3, argv3), 0);
    assert_int_equal(kafka_conf_new(&conf, "t", NULL, err, sizeof err), ERR_INVALID);
    assert_true(strlen(err) > 0);
}

static void test_metrics_registered(void **state)
{
    (void)state;
    char *argv[] = {"t", NULL};
    assert_int_equal(cfg_parse("t", "t", OPTS, 1, argv), 0);
    rd_kafka_conf_t *conf = NULL;
    char err[512];
    assert_int_equal(kafka_conf_new(&conf, "my-svc", NULL, err, sizeof err), 0);
    rd_kafka_conf_destroy(conf);
    buf out = {0};
    assert_int_equal(metrics_render(&out), 0);
    assert_non_null(strstr(out.data, "rsvp_my_svc_kafka_errors_total{fatal=\"0\"} 0\n"));
    assert_non_null(strstr(out.data, "rsvp_my_svc_kafka_errors_total{fatal=\"1\"} 0\n"));
    assert_non_null(strstr(out.data, "rsvp_my_svc_kafka_log_total{level=\"warn\"} 0\n"));
    buf_free(&out);
    assert_int_equal(kafka_fatal(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_from_env_skipped_from_flag_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_registered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
