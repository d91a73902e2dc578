/* test_writer_copy.c: COPY text-format encoding of the writer (services/writer/copy.c): escaping
 * of the four special bytes, NULLs, doubles that round-trip, whole rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "services/writer/copy.h"

static char *enc_str(buf *b, const char *s) {
    buf_reset(b);
    assert_int_equal(copy_append_str(b, s), 0);
    return b->data ? b->data : "";
}

static char *enc_dbl(buf *b, int has, double v) {
    buf_reset(b);
    assert_int_equal(copy_append_double(b, has, v), 0);
    return b->data;
}

static void test_plain_string_is_kept(void **state) {
    (void)state;
    buf b = {0};
    assert_string_equal(enc_str(&b, "Victoria Club Tread"), "Victoria Club Tread");
    assert_string_equal(enc_str(&b, " leading and trailing "), " leading and trailing ");
    assert_string_equal(enc_str(&b, "caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
    buf_free(&b);
}

static void test_empty_string_is_not_null(void **state) {
    (void)state;
    buf b = {0};
    buf_reset(&b);
    assert_int_equal(copy_append_str(&b, ""), 0);
    assert_int_equal(b.len, 0);
    assert_string_equal(enc_str(&b, NULL), "\\N");
    buf_free(&b);
}

static void test_special_bytes_are_escaped(void **state) {
    (void)state;
    buf b = {0};
    assert_string_equal(enc_str(&b, "a\\b"), "a\\\\b");
    assert_string_equal(enc_str(&b, "a\tb"), "a\\tb");
    assert_string_equal(enc_str(&b, "a\nb"), "a\\nb");
    assert_string_equal(enc_str(&b, "a\rb"), "a\\rb");
    assert_string_equal(enc_str(&b, "\\N"), "\\\\N"); /* the text "\N" is not NULL */
    assert_string_equal(enc_str(&b, "\\."), "\\\\.");  /* never an end-of-data marker */
    assert_string_equal(enc_str(&b, "\t\n\r\\"), "\\t\\n\\r\\\\");
    buf_free(&b);
}

static void test_doubles_round_trip(void **state) {
    (void)state;
    buf b = {0};
    assert_string_equal(enc_dbl(&b, 0, 1.5), "\\N");
    assert_string_equal(enc_dbl(&b, 1, 0.0), "0");
    assert_string_equal(enc_dbl(&b, 1, -0.0), "0");
    assert_string_equal(enc_dbl(&b, 1, 1.5), "1.5");
    assert_string_equal(enc_dbl(&b, 1, -123.35), "-123.34999999999999");
    const double vals[] = {48.497765, -123.379341, 0.1, 1e-300, 5e-324, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        assert_true(strtod(enc_dbl(&b, 1, vals[i]), NULL) == vals[i]);
    assert_string_equal(enc_dbl(&b, 1, 1.0 / 0.0), "Infinity");
    assert_string_equal(enc_dbl(&b, 1, -1.0 / 0.0), "-Infinity");
    assert_string_equal(enc_dbl(&b, 1, 0.0 / 0.0), "NaN");
    buf_free(&b);
}

static void test_row_has_13_fields_in_key_order(void **state) {
    (void)state;
    Rsvp__V1__AggRow r = RSVP__V1__AGG_ROW__INIT;
    r.event_name = "Walk\tand talk";
    r.event_url = "https://e/1";
    r.event_time = "1527350400000";
    r.group_name = "G";
    r.group_country = "ca";
    r.group_city = "Victoria";
    r.has_group_lat = r.has_group_lon = 1;
    r.group_lat = 48.42;
    r.group_lon = -0.0;
    r.response = "yes";
    r.delta = 7;
    buf b = {0};
    assert_int_equal(copy_append_row(&b, &r), 0);
    assert_string_equal(b.data, "Walk\\tand talk\thttps://e/1\t1527350400000\tG\tca\t\\N\tVictoria"
                                "\t48.420000000000002\t0\t\\N\t\\N\tyes\t7\n");
    /* every field NULL but delta */
    Rsvp__V1__AggRow e = RSVP__V1__AGG_ROW__INIT;
    e.delta = -3;
    buf_reset(&b);
    assert_int_equal(copy_append_row(&b, &e), 0);
    assert_string_equal(b.data, "\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t-3\n");
    buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_string_is_kept),
        cmocka_unit_test(test_empty_string_is_not_null),
        cmocka_unit_test(test_special_bytes_are_escaped),
        cmocka_unit_test(test_doubles_round_trip),
        cmocka_unit_test(test_row_has_13_fields_in_key_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
