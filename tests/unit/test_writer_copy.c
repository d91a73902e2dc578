/* test_writer_copy.c: binary COPY encoding of the writer (services/writer/copy.c): header and
 * trailer bytes, NULL vs empty string, strings byte for byte (no escaping), doubles bit for bit
 * with -0.0 and NaN normalised, whole tuples decoded back field by field. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "services/writer/copy.h"

static uint32_t get32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint64_t get64(const char *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static uint64_t bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* One decoded field: len -1 = NULL. */
typedef struct field {
    int32_t len;
    const char *data;
} field;

/* Decode one tuple at p (n bytes available) into f[COPY_FIELDS]; returns bytes used. */
static size_t decode_tuple(const char *p, size_t n, field *f)
{
    assert_true(n >= 2);
    assert_int_equal(((unsigned char)p[0] << 8) | (unsigned char)p[1], COPY_FIELDS);
    size_t at = 2;
    for (int i = 0; i < COPY_FIELDS; i++) {
        assert_true(at + 4 <= n);
        f[i].len = (int32_t)get32(p + at);
        at += 4;
        f[i].data = p + at;
        if (f[i].len >= 0) {
            assert_true(at + (size_t)f[i].len <= n);
            at += (size_t)f[i].len;
        } else {
            assert_int_equal(f[i].len, -1);
        }
    }
    return at;
}

static void assert_str_field(const field *f, const char *want)
{
    if (want == NULL) {
        assert_int_equal(f->len, -1);
        return;
    }
    assert_int_equal(f->len, (int32_t)strlen(want));
    if (f->len > 0)
        assert_memory_equal(f->data, want, strlen(want));
}

static void assert_dbl_field(const field *f, int has, uint64_t want_bits)
{
    if (!has) {
        assert_int_equal(f->len, -1);
        return;
    }
    assert_int_equal(f->len, 8);
    assert_true(get64(f->data) == want_bits);
}

static void test_header_and_trailer(void **state)
{
    (void)state;
    buf b = {0};
    assert_int_equal(copy_append_header(&b), 0);
    assert_int_equal(b.len, 19);
    assert_memory_equal(b.data, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    buf_reset(&b);
    assert_int_equal(copy_append_trailer(&b), 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "\xff\xff", 2);
    buf_free(&b);
}

static void test_strings_are_length_prefixed_bytes(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "Victoria Club Tread",
        " leading and trailing ",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x89",
        "a\tb",
        "a\nb",
        "a\rb",
        "a\\b",
        "\\N",
        "\\.",
        "quote\"s and 'apostrophes'",
        "\t\n\r\\",
    };
    buf b = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&b);
        assert_int_equal(copy_append_str(&b, cases[i]), 0);
        size_t n = strlen(cases[i]);
        assert_int_equal(b.len, 4 + n);
        assert_int_equal(get32(b.data), n);
        assert_memory_equal(b.data + 4, cases[i], n); /* no escaping of any byte */
    }
    buf_free(&b);
}

static void test_empty_string_is_not_null(void **state)
{
    (void)state;
    buf b = {0};
    assert_int_equal(copy_append_str(&b, ""), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\0\0\0\0", 4);
    buf_reset(&b);
    assert_int_equal(copy_append_str(&b, NULL), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\xff\xff\xff\xff", 4);
    buf_free(&b);
}

static void test_doubles_are_exact_bits(void **state)
{
    (void)state;
    buf b = {0};
    const double vals[] = {48.497765,
                           -123.379341,
                           -123.35,
                           0.1,
                           1e308,
                           -1e308,
                           1e-300,
                           5e-324,
                           -5e-324,
                           2.2250738585072014e-308,
                           1.7976931348623157e308,
                           1.0 / 0.0,
                           -1.0 / 0.0};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        buf_reset(&b);
        assert_int_equal(copy_append_double(&b, 1, vals[i]), 0);
        assert_int_equal(b.len, 12);
        assert_int_equal(get32(b.data), 8);
        assert_true(get64(b.data + 4) == bits(vals[i]));
        /* network order: the sign and exponent come first */
        assert_int_equal((unsigned char)b.data[4], (unsigned)(bits(vals[i]) >> 56));
    }
    buf_free(&b);
}

static void test_negative_zero_and_nan_are_normalised(void **state)
{
    (void)state;
    buf b = {0};
    assert_int_equal(copy_append_double(&b, 1, -0.0), 0);
    assert_true(get64(b.data + 4) == 0); /* +0.0, as the text path's "0" */
    buf_reset(&b);
    assert_int_equal(copy_append_double(&b, 1, -NAN), 0);
    assert_true(get64(b.data + 4) == bits(NAN));
    buf_reset(&b);
    assert_int_equal(copy_append_double(&b, 0, 1.5), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\xff\xff\xff\xff", 4);
    buf_free(&b);
}

static void test_row_has_13_fields_in_key_order(void **state)
{
    (void)state;
    Rsvp__V1__AggRow r = RSVP__V1__AGG_ROW__INIT;
    r.event_name = "Walk\tand talk";
    r.event_url = "https://e/1\n";
    r.event_time = "1527350400000";
    r.group_name = "G\\N";
    r.group_country = "";
    r.group_city = "Z\xc3\xbcrich";
    r.has_group_lat = r.has_group_lon = 1;
    r.group_lat = 5e-324;
    r.group_lon = -0.0;
    r.has_lon = 1;
    r.lon = 1e308;
    r.response = "yes";
    r.delta = -7;
    buf b = {0};
    assert_int_equal(copy_append_str(&b, "x"), 0); /* rows append after what is there */
    size_t start = b.len;
    assert_int_equal(copy_append_row(&b, &r), 0);
    field f[COPY_FIELDS];
    assert_int_equal(decode_tuple(b.data + start, b.len - start, f), b.len - start);
    assert_str_field(&f[0], "Walk\tand talk");
    assert_str_field(&f[1], "https://e/1\n");
    assert_str_field(&f[2], "1527350400000");
    assert_str_field(&f[3], "G\\N");
    assert_str_field(&f[4], "");
    assert_str_field(&f[5], NULL);
    assert_str_field(&f[6], "Z\xc3\xbcrich");
    assert_dbl_field(&f[7], 1, bits(5e-324));
    assert_dbl_field(&f[8], 1, 0);
    assert_dbl_field(&f[9], 0, 0);
    assert_dbl_field(&f[10], 1, bits(1e308));
    assert_str_field(&f[11], "yes");
    assert_int_equal(f[12].len, 8);
    assert_true((int64_t)get64(f[12].data) == -7);

    /* every field NULL but delta; two tuples back to back */
    Rsvp__V1__AggRow e = RSVP__V1__AGG_ROW__INIT;
    e.delta = INT64_MAX;
    buf_reset(&b);
    assert_int_equal(copy_append_row(&b, &e), 0);
    assert_int_equal(copy_append_row(&b, &r), 0);
    size_t used = decode_tuple(b.data, b.len, f);
    assert_int_equal(used, 2 + 12 * 4 + 4 + 8);
    for (int i = 0; i < 12; i++)
        assert_int_equal(f[i].len, -1);
    assert_true((int64_t)get64(f[12].data) == INT64_MAX);
    assert_int_equal(used + decode_tuple(b.data + used, b.len - used, f), b.len);
    assert_str_field(&f[0], "Walk\tand talk");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_trailer),
        cmocka_unit_test(test_strings_are_length_prefixed_bytes),
        cmocka_unit_test(test_empty_string_is_not_null),
        cmocka_unit_test(test_doubles_are_exact_bits),
        cmocka_unit_test(test_negative_zero_and_nan_are_normalised),
        cmocka_unit_test(test_row_has_13_fields_in_key_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
