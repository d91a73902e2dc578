/* test_agg_keytab.c: the aggregator's key semantics (NULLs, -0.0, strings that differ only in
 * length or in where a field ends) and the delta table (accounting, iteration, reset, memory). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "services/aggregator/keytab.h"

static keyview key_base(void)
{
    keyview k;
    memset(&k, 0, sizeof k);
    static const char *s[KEY_NSTR] = {
        "Walk", "https://x/e/1", "1527350400000", "Club", "ca", "BC", "Victoria", "yes"};
    for (int i = 0; i < KEY_NSTR; i++) {
        k.str[i] = s[i];
        k.str_len[i] = strlen(s[i]);
    }
    double n[KEY_NNUM] = {48.42, -123.35, 48.497765, -123.379341};
    for (int i = 0; i < KEY_NNUM; i++) {
        k.num[i] = n[i];
        k.has_num[i] = 1;
    }
    return k;
}

static void set(keyview *k, int i, const char *s)
{
    k->str[i] = s;
    k->str_len[i] = s ? strlen(s) : 0;
}

/* Adds a then b (delta 1 each) to a fresh table; returns the number of distinct keys. */
static size_t distinct(const keyview *a, const keyview *b)
{
    keytab *t = keytab_new();
    assert_non_null(t);
    assert_int_equal(keytab_add(t, a, 1), 0);
    assert_int_equal(keytab_add(t, b, 1), 0);
    size_t n = keytab_count(t);
    keytab_free(t);
    return n;
}

static void test_same_key_merges(void **state)
{
    (void)state;
    keyview a = key_base(), b = key_base();
    char copy[16];
    strcpy(copy, "Walk"); /* equal content, different pointer */
    set(&b, KEY_EVENT_NAME, copy);
    assert_int_equal(distinct(&a, &b), 1);
}

static void test_null_differs_from_empty_string(void **state)
{
    (void)state;
    keyview a = key_base(), b = key_base();
    set(&a, KEY_GROUP_STATE, NULL);
    set(&b, KEY_GROUP_STATE, "");
    assert_int_equal(distinct(&a, &b), 2);
    keyview c = key_base();
    set(&c, KEY_GROUP_STATE, NULL);
    assert_int_equal(distinct(&a, &c), 1);
}

static void test_null_double_differs_from_zero(void **state)
{
    (void)state;
    keyview a = key_base(), b = key_base();
    a.has_num[KEY_LAT] = 0;
    a.num[KEY_LAT] = 0.0;
    b.num[KEY_LAT] = 0.0;
    assert_int_equal(distinct(&a, &b), 2);
    /* the value behind a NULL does not matter */
    keyview c = key_base();
    c.has_num[KEY_LAT] = 0;
    c.num[KEY_LAT] = 99.0;
    assert_int_equal(distinct(&a, &c), 1);
}

static void test_negative_zero_is_zero(void **state)
{
    (void)state;
    keyview a = key_base(), b = key_base();
    a.num[KEY_LON] = 0.0;
    b.num[KEY_LON] = -0.0;
    assert_int_equal(distinct(&a, &b), 1);
    assert_true(signbit(keytab_norm_double(-0.0)) == 0);
    assert_true(isnan(keytab_norm_double(-NAN)));
    /* and it comes out as +0.0 */
    keytab *t = keytab_new();
    assert_int_equal(keytab_add(t, &b, 1), 0);
    size_t pos = 0;
    keyview out;
    int64_t d;
    assert_int_equal(keytab_next(t, &pos, &out, &d), 1);
    assert_true(out.num[KEY_LON] == 0.0 && !signbit(out.num[KEY_LON]));
    keytab_free(t);
}

static void test_strings_differing_in_length(void **state)
{
    (void)state;
    keyview a = key_base(), b = key_base();
    set(&a, KEY_EVENT_NAME, "Walk");
    set(&b, KEY_EVENT_NAME, "Walk "); /* trailing space kept */
    assert_int_equal(distinct(&a, &b), 2);
    set(&b, KEY_EVENT_NAME, "Wal");
    assert_int_equal(distinct(&a, &b), 2);
    /* same bytes, different field boundary */
    keyview c = key_base(), d = key_base();
    set(&c, KEY_GROUP_COUNTRY, "ab");
    set(&c, KEY_GROUP_STATE, "c");
    set(&d, KEY_GROUP_COUNTRY, "a");
    set(&d, KEY_GROUP_STATE, "bc");
    assert_int_equal(distinct(&c, &d), 2);
}

/* Any response string is a key column of its own (the reference counts "maybe" under "maybe"); NULL
 * and "" differ. */
static void test_response_is_part_of_key(void **state)
{
    (void)state;
    keyview a = key_base(), b = key_base(), c = key_base(), d = key_base(), e = key_base();
    set(&b, KEY_RESPONSE, "no");
    set(&c, KEY_RESPONSE, NULL);
    set(&d, KEY_RESPONSE, "");
    set(&e, KEY_RESPONSE, "maybe");
    assert_int_equal(distinct(&a, &b), 2);
    assert_int_equal(distinct(&a, &c), 2);
    assert_int_equal(distinct(&b, &c), 2);
    assert_int_equal(distinct(&c, &d), 2);
    assert_int_equal(distinct(&a, &e), 2);
    keyview f = key_base();
    char copy[8];
    strcpy(copy, "maybe");
    set(&f, KEY_RESPONSE, copy);
    assert_int_equal(distinct(&e, &f), 1);
}

static void test_deltas_and_iteration_order(void **state)
{
    (void)state;
    keytab *t = keytab_new();
    keyview a = key_base(), b = key_base();
    set(&b, KEY_GROUP_CITY, NULL);
    b.has_num[KEY_LAT] = b.has_num[KEY_LON] = 0;
    set(&b, KEY_RESPONSE, "no");
    assert_int_equal(keytab_add(t, &a, 1), 0);
    assert_int_equal(keytab_add(t, &b, 1), 0);
    assert_int_equal(keytab_add(t, &a, 1), 0);
    assert_int_equal(keytab_add(t, &a, 0), 0);
    assert_int_equal(keytab_count(t), 2);
    size_t pos = 0;
    keyview o;
    int64_t d;
    assert_int_equal(keytab_next(t, &pos, &o, &d), 1);
    assert_int_equal(d, 3 - 1); /* 1 + 1 + 0 */
    assert_string_equal(o.str[KEY_EVENT_NAME], "Walk");
    assert_string_equal(o.str[KEY_GROUP_CITY], "Victoria");
    assert_true(o.num[KEY_LAT] == 48.497765);
    assert_string_equal(o.str[KEY_RESPONSE], "yes");
    assert_int_equal(keytab_next(t, &pos, &o, &d), 1);
    assert_int_equal(d, 1);
    assert_null(o.str[KEY_GROUP_CITY]);
    assert_false(o.has_num[KEY_LAT]);
    assert_string_equal(o.str[KEY_RESPONSE], "no");
    assert_int_equal(keytab_next(t, &pos, &o, &d), 0);
    keytab_reset(t);
    assert_int_equal(keytab_count(t), 0);
    pos = 0;
    assert_int_equal(keytab_next(t, &pos, &o, &d), 0);
    assert_int_equal(keytab_add(t, &a, 5), 0);
    assert_int_equal(keytab_count(t), 1);
    keytab_free(t);
    keytab_free(NULL);
}

/* After a catch-up's range (thousands of keys: ~1 MB of key records), the next usual range (a few
 * hundred keys) must not keep the catch-up's memory: the soak's aggregators kept ~1 MB per partition
 * after their first catch-up when only arenas over 1 MiB were given back. */
static void add_range(keytab *t, int n)
{
    char name[32];
    for (int i = 0; i < n; i++) {
        keyview k = key_base();
        snprintf(name, sizeof name, "event %d", i);
        set(&k, KEY_EVENT_NAME, name);
        assert_int_equal(keytab_add(t, &k, 1), 0);
    }
}

static void test_catch_up_memory_given_back(void **state)
{
    (void)state;
    keytab *t = keytab_new();
    add_range(t, 300);
    keytab_reset(t);
    add_range(t, 300);
    size_t usual = keytab_bytes(t);
    keytab_reset(t);
    add_range(t, 5000); /* the catch-up */
    size_t burst = keytab_bytes(t);
    assert_true(burst > (size_t)900 << 10);
    keytab_reset(t);
    add_range(t, 300); /* a usual range: it fills less than a quarter of what the catch-up grew */
    keytab_reset(t);
    add_range(t, 300);
    size_t after = keytab_bytes(t);
    keytab_free(t);
    assert_true(after <= 2 * usual);
}

static void test_many_keys_and_memory(void **state)
{
    (void)state;
    keytab *t = keytab_new();
    enum { N = 200000 };
    char name[32];
    size_t strbytes = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            keyview k = key_base();
            snprintf(name, sizeof name, "event %d", i);
            set(&k, KEY_EVENT_NAME, name);
            assert_int_equal(keytab_add(t, &k, 1), 0);
            if (round == 0) {
                for (int j = 0; j < KEY_NSTR; j++)
                    strbytes += k.str_len[j];
            }
        }
    }
    assert_int_equal(keytab_count(t), N);
    size_t pos = 0, n = 0;
    keyview o;
    int64_t d;
    while (keytab_next(t, &pos, &o, &d)) {
        assert_int_equal(d, 2);
        n++;
    }
    assert_int_equal(n, N);
    double used = (double)(keytab_used_bytes(t) - strbytes) / N;
    double held = (double)(keytab_bytes(t) - strbytes) / N;
    print_message("keytab: %.1f B/key in use, %.1f B/key held, beyond the string bytes\n", used, held);
    assert_true(used <= 100.0); /* the goal: <= 100 bytes per key + strings */
    assert_true(held <= 150.0); /* + growth slack */
    keytab_free(t);
}

static void test_key_from_rsvp(void **state)
{
    (void)state;
    Rsvp__V1__Rsvp r = RSVP__V1__RSVP__INIT;
    Rsvp__V1__Event e = RSVP__V1__EVENT__INIT;
    Rsvp__V1__Group g = RSVP__V1__GROUP__INIT;
    Rsvp__V1__Venue v = RSVP__V1__VENUE__INIT;
    e.event_name = " Walk ";
    e.has_time = 1;
    e.time = 1527350400000;
    g.group_name = "Club";
    g.has_group_lat = 1;
    g.group_lat = -0.0;
    r.event = &e;
    r.group = &g;
    r.has_response = 1;
    r.response = RSVP__V1__RESPONSE__RESPONSE_NO;
    keyview k;
    char tb[24];
    keytab_key_from_rsvp(&r, &k, tb);
    assert_string_equal(k.str[KEY_EVENT_NAME], " Walk ");
    assert_int_equal(k.str_len[KEY_EVENT_NAME], 6);
    assert_string_equal(k.str[KEY_EVENT_TIME], "1527350400000");
    assert_null(k.str[KEY_EVENT_URL]);
    assert_null(k.str[KEY_GROUP_STATE]);
    assert_true(k.has_num[KEY_GROUP_LAT]);
    assert_false(k.has_num[KEY_GROUP_LON]);
    assert_false(k.has_num[KEY_LAT]); /* no venue: NULL */
    assert_string_equal(k.str[KEY_RESPONSE], "no");
    /* a venue at 0,0 is 0,0, not NULL; negative times keep their sign */
    v.has_lat = v.has_lon = 1;
    r.venue = &v;
    e.time = -5;
    keytab_key_from_rsvp(&r, &k, tb);
    assert_true(k.has_num[KEY_LAT] && k.has_num[KEY_LON]);
    assert_string_equal(k.str[KEY_EVENT_TIME], "-5");
    e.has_time = 0;
    r.has_response = 0;
    keytab_key_from_rsvp(&r, &k, tb);
    assert_null(k.str[KEY_EVENT_TIME]);
    assert_null(k.str[KEY_RESPONSE]);
    /* the Key submessage is the whole key: the typed fields beside it do not count */
    Rsvp__V1__Key x = RSVP__V1__KEY__INIT;
    x.event_time = "1.5E12";
    x.response = "maybe";
    x.has_lon = 1;
    x.lon = 2.5;
    r.key = &x;
    keytab_key_from_rsvp(&r, &k, tb);
    assert_null(k.str[KEY_EVENT_NAME]);
    assert_null(k.str[KEY_GROUP_NAME]);
    assert_string_equal(k.str[KEY_EVENT_TIME], "1.5E12");
    assert_string_equal(k.str[KEY_RESPONSE], "maybe");
    assert_int_equal(k.str_len[KEY_RESPONSE], 5);
    assert_false(k.has_num[KEY_LAT]);
    assert_true(k.has_num[KEY_LON] && k.num[KEY_LON] == 2.5);
}

/* event_time's text: the decimal digits printf would write, for every digit count and sign. */
static void test_time_digits(void **state)
{
    (void)state;
    int64_t vals[200];
    size_t n = 0;
    vals[n++] = 0;
    vals[n++] = INT64_MIN;
    vals[n++] = INT64_MAX;
    for (int64_t p = 1; n + 6 <= sizeof vals / sizeof vals[0]; p *= 10) {
        vals[n++] = p;
        vals[n++] = p - 1;
        vals[n++] = p + 1;
        vals[n++] = -p;
        vals[n++] = -(p - 1);
        vals[n++] = p * 7 + 3;
        if (p > INT64_MAX / 10)
            break;
    }
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t v = (int64_t)(x >> (x % 64));
        char want[32], got[24];
        if (i < (int)n)
            v = vals[i];
        int wl = snprintf(want, sizeof want, "%lld", (long long)v);
        size_t gl = keytab_i64_dec(v, got);
        assert_int_equal(gl, (size_t)wl);
        assert_string_equal(got, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_digits),
        cmocka_unit_test(test_same_key_merges),
        cmocka_unit_test(test_null_differs_from_empty_string),
        cmocka_unit_test(test_null_double_differs_from_zero),
        cmocka_unit_test(test_negative_zero_is_zero),
        cmocka_unit_test(test_strings_differing_in_length),
        cmocka_unit_test(test_response_is_part_of_key),
        cmocka_unit_test(test_deltas_and_iteration_order),
        cmocka_unit_test(test_many_keys_and_memory),
        cmocka_unit_test(test_catch_up_memory_given_back),
        cmocka_unit_test(test_key_from_rsvp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
