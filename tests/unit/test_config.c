/* test_config.c: cfg_parse precedence (default < env < flag), flag forms, --help/--version, bad
 * values and bounds, duration and size syntax, Kafka pass-through collection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"

/* One table shared by the tests; every test unsets the env it sets. */
static char *s_url;
static char *s_pass;
static int64_t s_batch;
static int64_t s_interval;
static int64_t s_max_bytes;
static double s_ratio;
static int s_verbose;
static cfg_common s_common;
static char *s_brokers;

/* clang-format off */
static const cfg_option OPTS[] = {
    {"source-url", "TEST_SOURCE_URL", CFG_STRING, "http://a/", "stream URL", 0, 0, 0, &s_url},
    {"password", "TEST_PASSWORD", CFG_STRING, "hunter2", "db password", 0, 0, 1, &s_pass},
    {"batch", "TEST_BATCH", CFG_INT, "100", "rows per batch", 1, 10000, 0, &s_batch},
    {"interval", "TEST_INTERVAL", CFG_DURATION, "5s", "flush interval", 0, 3600000, 0,
     &s_interval},
    {"max-bytes", "TEST_MAX_BYTES", CFG_SIZE, "1M", "max message", 0, 0, 0, &s_max_bytes},
    {"ratio", "TEST_RATIO", CFG_DOUBLE, "0.5", "a ratio", 0, 0, 0, &s_ratio},
    {"verbose", "TEST_VERBOSE", CFG_BOOL, "false", "chatty", 0, 0, 0, &s_verbose},
    {"kafka-brokers", "KAFKA_BROKERS", CFG_STRING, "127.0.0.1:19092", "brokers", 0, 0, 0, &s_brokers},
    CFG_COMMON_OPTIONS(&s_common, "127.0.0.1:9999"),
    {NULL, NULL, 0, NULL, NULL, 0, 0, 0, NULL},
};
/* clang-format on */

static int parse(int argc, char **argv)
{
    return cfg_parse("test", "unit test program", OPTS, argc, argv);
}

static int setup(void **state)
{
    (void)state;
    static const char *const envs[] = {
        "TEST_SOURCE_URL", "TEST_PASSWORD", "TEST_BATCH",    "TEST_INTERVAL", "TEST_MAX_BYTES",
        "TEST_RATIO",      "TEST_VERBOSE",  "KAFKA_BROKERS", "LOG_LEVEL",     "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_LINGER_MS"};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        unsetenv(envs[i]);
    /* and any other KAFKA_* of the calling shell (test runners set KAFKA_PORT and the like) */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "KAFKA_", 6) == 0 && strchr(*e, '=')) {
                char name[256];
                size_t n = (size_t)(strchr(*e, '=') - *e);
                if (n >= sizeof name)
                    continue;
                memcpy(name, *e, n);
                name[n] = '\0';
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cfg_free(OPTS);
    return 0;
}

/* Run cfg_parse with stdout captured into out (for --help / --version). */
static int parse_capture(int argc, char **argv, char *out, size_t cap)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), STDOUT_FILENO);
    int rc = parse(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return rc;
}

static void test_defaults_apply(void **state)
{
    (void)state;
    char *argv[] = {"test", NULL};
    assert_int_equal(parse(1, argv), 0);
    assert_string_equal(s_url, "http://a/");
    assert_int_equal(s_batch, 100);
    assert_int_equal(s_interval, 5000);
    assert_int_equal(s_max_bytes, 1024 * 1024);
    assert_float_equal(s_ratio, 0.5, 1e-12);
    assert_int_equal(s_verbose, 0);
    assert_string_equal(s_common.log_level, "info");
    assert_string_equal(s_common.metrics_addr, "127.0.0.1:9999");
    assert_null(s_common.instance_id);
}

static void test_env_overrides_default(void **state)
{
    (void)state;
    setenv("TEST_BATCH", "250", 1);
    setenv("TEST_SOURCE_URL", "http://env/", 1);
    setenv("LOG_LEVEL", "debug", 1);
    char *argv[] = {"test", NULL};
    assert_int_equal(parse(1, argv), 0);
    assert_int_equal(s_batch, 250);
    assert_string_equal(s_url, "http://env/");
    assert_string_equal(s_common.log_level, "debug");
}

static void test_flag_overrides_env(void **state)
{
    (void)state;
    setenv("TEST_BATCH", "250", 1);
    setenv("TEST_SOURCE_URL", "http://env/", 1);
    char *argv[] = {"test", "--batch=7", "--source-url", "http://flag/", NULL};
    assert_int_equal(parse(4, argv), 0);
    assert_int_equal(s_batch, 7);
    assert_string_equal(s_url, "http://flag/");
}

static void test_empty_string_env_is_a_value(void **state)
{
    (void)state;
    setenv("METRICS_ADDR", "", 1);
    char *argv[] = {"test", NULL};
    assert_int_equal(parse(1, argv), 0);
    unsetenv("METRICS_ADDR");
    assert_string_equal(s_common.metrics_addr, "");
}

static void test_bool_forms(void **state)
{
    (void)state;
    char *a1[] = {"test", "--verbose", NULL};
    assert_int_equal(parse(2, a1), 0);
    assert_int_equal(s_verbose, 1);
    cfg_free(OPTS);
    char *a2[] = {"test", "--verbose=off", NULL};
    assert_int_equal(parse(2, a2), 0);
    assert_int_equal(s_verbose, 0);
    cfg_free(OPTS);
    setenv("TEST_VERBOSE", "YES", 1);
    char *a3[] = {"test", NULL};
    assert_int_equal(parse(1, a3), 0);
    assert_int_equal(s_verbose, 1);
    cfg_free(OPTS);
    char *a4[] = {"test", "--verbose=maybe", NULL};
    assert_int_equal(parse(2, a4), ERR_INVALID);
}

static void test_help_returns_1(void **state)
{
    (void)state;
    char out[8192];
    char *argv[] = {"test", "--help", NULL};
    assert_int_equal(parse_capture(2, argv, out, sizeof out), 1);
    assert_non_null(strstr(out, "unit test program"));
    assert_non_null(strstr(out, "--batch=<int>  TEST_BATCH  default: 100  rows per batch"));
    assert_non_null(strstr(out, "--interval=<duration>  TEST_INTERVAL  default: 5s"));
    assert_non_null(strstr(out, "--password=<string>  TEST_PASSWORD  default: ***"));
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "KAFKA_FOO_BAR"));
    assert_non_null(strstr(out, "-X"));
    cfg_free(OPTS);
    char *argv2[] = {"test", "-h", NULL};
    assert_int_equal(parse_capture(2, argv2, out, sizeof out), 1);
}

static void test_version_returns_1(void **state)
{
    (void)state;
    char out[256];
    char *argv[] = {"test", "--version", NULL};
    assert_int_equal(parse_capture(2, argv, out, sizeof out), 1);
    assert_non_null(strstr(out, "test 0."));
}

static void test_unknown_flag_is_invalid(void **state)
{
    (void)state;
    char *argv[] = {"test", "--no-such-thing=1", NULL};
    assert_int_equal(parse(2, argv), ERR_INVALID);
    cfg_free(OPTS);
    char *argv2[] = {"test", "positional", NULL};
    assert_int_equal(parse(2, argv2), ERR_INVALID);
    cfg_free(OPTS);
    char *argv3[] = {"test", "--batch", NULL}; /* missing value */
    assert_int_equal(parse(2, argv3), ERR_INVALID);
}

static void test_bad_numbers_are_invalid(void **state)
{
    (void)state;
    char *a1[] = {"test", "--batch=12x", NULL};
    assert_int_equal(parse(2, a1), ERR_INVALID);
    cfg_free(OPTS);
    char *a2[] = {"test", "--ratio=abc", NULL};
    assert_int_equal(parse(2, a2), ERR_INVALID);
    cfg_free(OPTS);
    char *a3[] = {"test", "--batch=", NULL};
    assert_int_equal(parse(2, a3), ERR_INVALID);
    cfg_free(OPTS);
    char *a4[] = {"test", "--batch=99999999999999999999999", NULL};
    assert_int_equal(parse(2, a4), ERR_INVALID);
    cfg_free(OPTS);
    setenv("TEST_BATCH", "many", 1);
    char *a5[] = {"test", NULL};
    assert_int_equal(parse(1, a5), ERR_INVALID);
}

static void test_out_of_range_is_invalid(void **state)
{
    (void)state;
    char *a1[] = {"test", "--batch=0", NULL};
    assert_int_equal(parse(2, a1), ERR_INVALID);
    cfg_free(OPTS);
    char *a2[] = {"test", "--batch=10001", NULL};
    assert_int_equal(parse(2, a2), ERR_INVALID);
    cfg_free(OPTS);
    char *a3[] = {"test", "--batch=10000", "--interval=1h", NULL};
    assert_int_equal(parse(3, a3), 0);
    assert_int_equal(s_batch, 10000);
    assert_int_equal(s_interval, 3600000);
    cfg_free(OPTS);
    char *a4[] = {"test", "--interval=61m", NULL};
    assert_int_equal(parse(2, a4), ERR_INVALID);
}

static void test_durations(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(cfg_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(cfg_parse_duration("30s", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(cfg_parse_duration("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(cfg_parse_duration("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(cfg_parse_duration("42", &ms), 0);
    assert_int_equal(ms, 42);
    assert_int_equal(cfg_parse_duration("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(cfg_parse_duration("", &ms), ERR_INVALID);
    assert_int_equal(cfg_parse_duration("s", &ms), ERR_INVALID);
    assert_int_equal(cfg_parse_duration("5x", &ms), ERR_INVALID);
    assert_int_equal(cfg_parse_duration("5 s", &ms), ERR_INVALID);
    assert_int_equal(cfg_parse_duration("9999999999999999h", &ms), ERR_INVALID);
}

static void test_sizes(void **state)
{
    (void)state;
    int64_t b;
    assert_int_equal(cfg_parse_size("512", &b), 0);
    assert_int_equal(b, 512);
    assert_int_equal(cfg_parse_size("64k", &b), 0);
    assert_int_equal(b, 65536);
    assert_int_equal(cfg_parse_size("16M", &b), 0);
    assert_int_equal(b, 16 * 1024 * 1024);
    assert_int_equal(cfg_parse_size("1G", &b), 0);
    assert_int_equal(b, 1024LL * 1024 * 1024);
    assert_int_equal(cfg_parse_size("2KiB", &b), 0);
    assert_int_equal(b, 2048);
    assert_int_equal(cfg_parse_size("-1", &b), ERR_INVALID);
    assert_int_equal(cfg_parse_size("1Q", &b), ERR_INVALID);
    assert_int_equal(cfg_parse_size("k", &b), ERR_INVALID);
    assert_int_equal(cfg_parse_size("99999999999G", &b), ERR_INVALID);
}

static const char *prop(const char *key)
{
    const char *const *k, *const *v;
    size_t n = cfg_kafka_props(&k, &v);
    const char *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(k[i], key) == 0)
            found = v[i];
    return found;
}

static void test_kafka_passthrough(void **state)
{
    (void)state;
    setenv("KAFKA_SECURITY_PROTOCOL", "ssl", 1);
    setenv("KAFKA_LINGER_MS", "5", 1);
    setenv("KAFKA_BROKERS", "10.0.0.1:9092", 1); /* an option's own env: not passed through */
    char *argv[] = {"test", "-X", "linger.ms=20", "-Xclient.id=abc", NULL};
    assert_int_equal(parse(4, argv), 0);
    assert_string_equal(prop("security.protocol"), "ssl");
    assert_string_equal(prop("linger.ms"), "20"); /* -X wins over env */
    assert_string_equal(prop("client.id"), "abc");
    assert_null(prop("brokers"));
    assert_string_equal(s_brokers, "10.0.0.1:9092");
    assert_int_equal(cfg_kafka_props_from_env(), 2);
    cfg_free(OPTS);
    assert_int_equal(cfg_kafka_props(NULL, NULL), 0);
    char *bad[] = {"test", "-X", "novalue", NULL};
    assert_int_equal(parse(3, bad), ERR_INVALID);
}

/* Without a --brokers option of its own, a service reads KAFKA_BROKERS (kcat's word) as
 * bootstrap.servers; an explicit KAFKA_BOOTSTRAP_SERVERS wins. */
static void test_kafka_brokers_alias(void **state)
{
    (void)state;
    static cfg_common c;
    static const cfg_option opts[] = {CFG_COMMON_OPTIONS(&c, "127.0.0.1:0"), {0}};
    char *argv[] = {"test", NULL};
    setenv("KAFKA_BROKERS", "10.0.0.1:9092", 1);
    assert_int_equal(cfg_parse("test", "t", opts, 1, argv), 0);
    assert_string_equal(prop("bootstrap.servers"), "10.0.0.1:9092");
    assert_null(prop("brokers"));
    cfg_free(opts);
    setenv("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.2:9092", 1);
    assert_int_equal(cfg_parse("test", "t", opts, 1, argv), 0);
    assert_string_equal(prop("bootstrap.servers"), "10.0.0.2:9092");
    cfg_free(opts);
    unsetenv("KAFKA_BROKERS");
    unsetenv("KAFKA_BOOTSTRAP_SERVERS");
}

static void test_instance_id(void **state)
{
    (void)state;
    assert_string_equal(cfg_instance_id("p-1"), "p-1");
    const char *gen = cfg_instance_id(NULL);
    char pid[32];
    snprintf(pid, sizeof pid, "-%ld", (long)getpid());
    assert_non_null(strstr(gen, pid));
    assert_ptr_equal(cfg_instance_id(""), gen);
}

static void test_free_resets_strings(void **state)
{
    (void)state;
    char *argv[] = {"test", NULL};
    assert_int_equal(parse(1, argv), 0);
    cfg_free(OPTS);
    assert_null(s_url);
    assert_null(s_common.log_level);
    cfg_free(NULL);
}

/* cfg_log_effective: one JSON line with every option, secrets (options and Kafka) masked. */
static void test_log_effective_masks_secrets(void **state)
{
    (void)state;
    setenv("KAFKA_SASL_PASSWORD", "kafkasecret", 1);
    char *argv[] = {"test", "--batch=9", "-X", "linger.ms=3", NULL};
    assert_int_equal(parse(4, argv), 0);
    unsetenv("KAFKA_SASL_PASSWORD");
    log_init("test", NULL, LOGL_INFO);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    cfg_log_effective(OPTS);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char got[4096];
    ssize_t n = read(fds[0], got, sizeof got - 1);
    close(fds[0]);
    assert_true(n > 0);
    got[n] = '\0';
    assert_non_null(strstr(got, "\"msg\":\"config\",\"source-url\":\"http://a/\","
                                "\"password\":\"***\",\"batch\":9,\"interval\":5000,"));
    assert_non_null(strstr(got, "\"verbose\":false"));
    assert_non_null(strstr(got, "\"instance-id\":null"));
    assert_non_null(strstr(got, "\"kafka.sasl.password\":\"***\""));
    assert_non_null(strstr(got, "\"kafka.linger.ms\":\"3\""));
    assert_null(strstr(got, "hunter2"));
    assert_null(strstr(got, "kafkasecret"));
    assert_ptr_equal(strchr(got, '\n'), got + n - 1);
}

/* ---- config files ---- */

typedef struct seen {
    char lines[8][64];
    int n;
} seen;

/* Records "key=value"; refuses the key "bad" (as a caller refuses a key it does not know). */
static int record(void *ctx, const char *k, size_t kn, const char *v, size_t vn, char *why, size_t whylen)
{
    seen *s = ctx;
    if (kn == 3 && memcmp(k, "bad", 3) == 0) {
        snprintf(why, whylen, "unknown key 'bad'");
        return ERR_INVALID;
    }
    if (s->n < 8)
        snprintf(s->lines[s->n++], sizeof s->lines[0], "%.*s=%.*s", (int)kn, k, (int)vn, v);
    return 0;
}

static void test_config_file_lines(void **state)
{
    (void)state;
    seen s = {0};
    char err[128] = "";
    const char *text = "# a comment\n"
                       "\n"
                       "  stop-timeout = 20s  \n"
                       "bin=/usr/bin\r\n"
                       "quoted=\"a b # not a comment\"\n"
                       "empty=\n"
                       "   # indented comment\n"
                       "last=no newline";
    assert_int_equal(cfg_file_parse(text, record, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.lines[0], "stop-timeout=20s");
    assert_string_equal(s.lines[1], "bin=/usr/bin");
    assert_string_equal(s.lines[2], "quoted=a b # not a comment");
    assert_string_equal(s.lines[3], "empty=");
    assert_string_equal(s.lines[4], "last=no newline");
    assert_int_equal(cfg_file_parse(NULL, record, &s, err, sizeof err), 0);
}

static void test_config_file_errors_name_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"a=1\nno equals sign\n", "line 2: expected key=value"},
        {"\n\n = 5\n", "line 3: empty key"},
        {"ok=1\n# c\nbad=1\n", "line 3: unknown key 'bad'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        seen s = {0};
        char err[128] = "";
        assert_int_equal(cfg_file_parse(cases[i].text, record, &s, err, sizeof err), ERR_INVALID);
        assert_string_equal(err, cases[i].want);
    }
}

static void test_config_file_load_and_defaults(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config_file.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "stop_timeout=45s\n", 17), 17);
    close(fd);
    seen s = {0};
    char err[256] = "";
    assert_int_equal(cfg_file_load(path, record, &s, err, sizeof err), 0);
    assert_string_equal(s.lines[0], "stop_timeout=45s");
    unlink(path);
    assert_int_equal(cfg_file_load(path, record, &s, err, sizeof err), ERR_IO);
    assert_non_null(strstr(err, path));

    /* a file's value becomes the option's default: below the environment and the flags */
    int64_t ms = 0;
    cfg_option opts[] = {
        {"stop-timeout", "TEST_STOP_TIMEOUT", CFG_DURATION, "15s", "h", 0, 0, 0, &ms},
        {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
    };
    assert_int_equal(cfg_option_default(opts, "stop_timeout", "45s"), 0);
    assert_int_equal(cfg_option_default(opts, "nope", "1"), ERR_NOTFOUND);
    char *argv0[] = {"t"};
    unsetenv("TEST_STOP_TIMEOUT");
    assert_int_equal(cfg_parse("t", "s", opts, 1, argv0), 0);
    assert_int_equal(ms, 45000);
    setenv("TEST_STOP_TIMEOUT", "5s", 1);
    assert_int_equal(cfg_parse("t", "s", opts, 1, argv0), 0);
    assert_int_equal(ms, 5000);
    unsetenv("TEST_STOP_TIMEOUT");
    cfg_free(opts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_overrides_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_string_env_is_a_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_returns_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_returns_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_flag_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_numbers_are_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range_is_invalid, setup, teardown),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test_setup_teardown(test_kafka_passthrough, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_brokers_alias, setup, teardown),
        cmocka_unit_test(test_instance_id),
        cmocka_unit_test_setup_teardown(test_free_resets_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_effective_masks_secrets, setup, teardown),
        cmocka_unit_test(test_config_file_lines),
        cmocka_unit_test(test_config_file_errors_name_the_line),
        cmocka_unit_test(test_config_file_load_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
