/* test_log.c: JSON-lines logging: head fields, each conversion becomes the right JSON value,
 * escaping of quotes, control characters, valid and invalid UTF-8, truncation, levels, and one
 * complete line per log_write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

static char line[4096];

static int setup(void **state)
{
    (void)state;
    log_init("svc", "svc-0", LOGL_INFO);
    return 0;
}

/* The part of the line after "msg":..., i.e. the fields and the closing brace. */
static const char *after_msg(const char *l)
{
    const char *p = strstr(l, "\"msg\":");
    assert_non_null(p);
    p += 6;
    assert_int_equal(*p, '"');
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p + 1;
}

static void test_head_fields(void **state)
{
    (void)state;
    int n = log_format_line(line, sizeof line, LOGL_WARN, "hello", NULL);
    assert_int_equal(n, (int)strlen(line));
    /* {"ts":"2026-11-26T01:02:03.456Z",... */
    assert_memory_equal(line, "{\"ts\":\"", 7);
    assert_int_equal(line[7 + 10], 'T');
    assert_int_equal(line[7 + 19], '.');
    assert_int_equal(line[7 + 23], 'Z');
    assert_non_null(strstr(line, "\"level\":\"warn\",\"service\":\"svc\",\"instance\":\"svc-0\","
                                 "\"msg\":\"hello\"}"));
}

static void test_numbers_and_strings(void **state)
{
    (void)state;
    log_format_line(line, sizeof line, LOGL_INFO, "m",
                    "s=%s n=%d neg=%ld ll=%lld u=%u z=%zu hh=%hhd x=%.3f e=%g c=%c", "str", 42, -7L,
                    (long long)1 << 40, 4000000000u, (size_t)9, (signed char)-1, 3.14159, 1e21, 'q');
    assert_string_equal(after_msg(line), ",\"s\":\"str\",\"n\":42,\"neg\":-7,\"ll\":1099511627776,"
                                         "\"u\":4000000000,\"z\":9,\"hh\":-1,\"x\":3.142,"
                                         "\"e\":1e+21,\"c\":\"q\"}");
}

static void test_null_string_and_non_finite(void **state)
{
    (void)state;
    const char *volatile nul = NULL;
    log_format_line(line, sizeof line, LOGL_INFO, "m", "a=%s b=%f c=%g d=%.2f", nul, NAN, -INFINITY, 1.0);
    assert_string_equal(after_msg(line), ",\"a\":null,\"b\":null,\"c\":null,\"d\":1.00}");
}

static void test_precision_and_star(void **state)
{
    (void)state;
    log_format_line(line, sizeof line, LOGL_INFO, "m", "s=%.*s w=%5d p=%-8s h=%x", 3, "abcdef", 7, "left",
                    255u);
    assert_string_equal(after_msg(line), ",\"s\":\"abc\",\"w\":7,\"p\":\"left\",\"h\":\"0xff\"}");
}

/* A value with text around or between conversions is one JSON string, and every conversion still
 * takes its argument (a later field must not read the wrong one). */
static void test_composite_values_keep_arguments_in_step(void **state)
{
    (void)state;
    log_format_line(line, sizeof line, LOGL_INFO, "m", "addr=%s:%d pct=%d%% lit=abc t=%.1fms s=%s", "host",
                    9092, 50, 2.25, "after");
    assert_string_equal(after_msg(line), ",\"addr\":\"host:9092\",\"pct\":\"50%\",\"lit\":\"abc\","
                                         "\"t\":\"2.2ms\",\"s\":\"after\"}");
}

static void test_escapes_quotes_and_controls(void **state)
{
    (void)state;
    log_format_line(line, sizeof line, LOGL_INFO, "say \"hi\"", "s=%s", "a\"b\\c\n\t\x01\x1f");
    assert_non_null(strstr(line, "\"msg\":\"say \\\"hi\\\"\""));
    assert_string_equal(after_msg(line), ",\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\"}");
}

static void test_utf8_valid_kept_invalid_replaced(void **state)
{
    (void)state;
    /* é (2 bytes), € (3), 😀 (4) are kept; a lone continuation byte, a truncated sequence, an
     * overlong '/' and a surrogate become U+FFFD */
    log_format_line(line, sizeof line, LOGL_INFO, "m", "ok=%s bad=%s", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                    "\x80x\xe2\x82y\xc0\xafz\xed\xa0\x80");
    assert_string_equal(after_msg(line),
                        ",\"ok\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"bad\":\"\xef\xbf\xbdx"
                        "\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd"
                        "\xef\xbf\xbd\"}");
}

static void test_errno_conversion(void **state)
{
    (void)state;
    errno = ENOENT;
    log_format_line(line, sizeof line, LOGL_INFO, "m", "err=%m");
    assert_string_equal(after_msg(line), ",\"err\":\"No such file or directory\"}");
}

static void test_truncation(void **state)
{
    (void)state;
    char small[20];
    int n = log_format_line(small, sizeof small, LOGL_INFO, "m", "s=%s", "long value");
    assert_int_equal(n, 19);
    assert_int_equal(strlen(small), 19);
}

static void test_levels(void **state)
{
    (void)state;
    log_level l;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOGL_DEBUG);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, LOGL_ERROR);
    assert_int_equal(log_level_parse("loud", &l), ERR_INVALID);
    log_set_level(LOGL_WARN);
    assert_false(log_enabled(LOGL_INFO));
    assert_true(log_enabled(LOGL_ERROR));
    log_set_level(LOGL_INFO);
    assert_true(log_enabled(LOGL_INFO));
    assert_false(log_enabled(LOGL_DEBUG));
}

/* log_write: exactly one newline-terminated line per call on stderr; filtered levels write
 * nothing. */
static void test_write_one_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    log_info("first", "k=%d", 1);
    log_debug("filtered", "k=%d", 2);
    log_write_json(LOGL_ERROR, "json", "\"a\":1");
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char got[2048];
    ssize_t n = read(fds[0], got, sizeof got - 1);
    close(fds[0]);
    assert_true(n > 0);
    got[n] = '\0';
    char *nl = strchr(got, '\n');
    assert_non_null(nl);
    assert_memory_equal(nl - 7, ",\"k\":1}", 7);
    assert_non_null(strstr(nl + 1, "\"level\":\"error\""));
    assert_non_null(strstr(nl + 1, "\"msg\":\"json\",\"a\":1}\n"));
    assert_null(strstr(got, "filtered"));
    assert_int_equal(got[n - 1], '\n');
    assert_ptr_equal(strchr(nl + 1, '\n'), got + n - 1); /* exactly two lines */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_fields),
        cmocka_unit_test(test_numbers_and_strings),
        cmocka_unit_test(test_null_string_and_non_finite),
        cmocka_unit_test(test_precision_and_star),
        cmocka_unit_test(test_composite_values_keep_arguments_in_step),
        cmocka_unit_test(test_escapes_quotes_and_controls),
        cmocka_unit_test(test_utf8_valid_kept_invalid_replaced),
        cmocka_unit_test(test_errno_conversion),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_write_one_line),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
