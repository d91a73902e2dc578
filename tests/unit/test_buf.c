/* test_buf.c: the growable buffer: appends, printf, reset keeping capacity, free, and JSON string
 * escaping (quotes, backslash, control characters, valid and invalid UTF-8, embedded NUL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/buf.h"

static void test_append_and_printf(void **state)
{
    (void)state;
    buf b = {0};
    assert_int_equal(buf_puts(&b, "ab"), 0);
    assert_int_equal(buf_putc(&b, 'c'), 0);
    assert_int_equal(buf_append(&b, "dXX", 1), 0);
    assert_int_equal(buf_printf(&b, "-%d-%s", 42, "x"), 0);
    assert_int_equal(b.len, 9);
    assert_string_equal(b.data, "abcd-42-x");
    buf_free(&b);
}

static void test_grows_past_many_doublings(void **state)
{
    (void)state;
    buf b = {0};
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[10000], '\0');
    assert_int_equal(b.data[9999], 'a' + 9999 % 26);
    buf_free(&b);
}

static void test_reset_keeps_capacity(void **state)
{
    (void)state;
    buf b = {0};
    buf_puts(&b, "some text that needs room");
    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.data, "");
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    buf_free(&b);
    buf_free(NULL);
}

static void json(const char *in, size_t n, const char *want)
{
    buf b = {0};
    assert_int_equal(buf_json_str(&b, in, n), 0);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_json_plain_and_escapes(void **state)
{
    (void)state;
    json("", 0, "\"\"");
    json("hello", 5, "\"hello\"");
    json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    json("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    json("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    json("a\0b", 3, "\"a\\u0000b\"");
    json("/", 1, "\"/\"");
}

static void test_json_utf8(void **state)
{
    (void)state;
    json("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"");
    json("\xf0\x9f\x8e\x89", 4, "\"\xf0\x9f\x8e\x89\"");
    json("\xff", 1, "\"\xef\xbf\xbd\"");
    json("\xc3", 1, "\"\xef\xbf\xbd\"");                                                 /* truncated */
    json("\xc0\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");                                 /* overlong NUL */
    json("\xed\xb0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");                 /* surrogate */
    json("\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* above U+10FFFF */
    json("a\x80"
         "b",
         3,
         "\"a\xef\xbf\xbd"
         "b\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_printf),
        cmocka_unit_test(test_grows_past_many_doublings),
        cmocka_unit_test(test_reset_keeps_capacity),
        cmocka_unit_test(test_json_plain_and_escapes),
        cmocka_unit_test(test_json_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
