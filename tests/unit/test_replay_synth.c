/* test_replay_synth.c: unit tests of tools/replay/synth.c: message i depends only on (seed, i,
 * mtime), a new seed gives a new stream, and one event always carries the same key columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tools/replay/synth.h"

static int setup(void **state)
{
    synth *a = NULL;
    assert_int_equal(synth_new(&a, 42), 0);
    *state = a;
    return 0;
}

static int teardown(void **state)
{
    synth_free(*state);
    return 0;
}

static void test_synth_same_seed_same_bytes_in_any_order(void **state)
{
    synth *a = *state, *b = NULL;
    assert_int_equal(synth_new(&b, 42), 0);
    static buf fwd[300], bwd[300];
    for (int64_t i = 0; i < 300; i++)
        assert_int_equal(synth_render(a, i, 1000 + i, &fwd[i]), 0);
    for (int64_t i = 299; i >= 0; i--) /* backwards, other instance: no hidden sequential state */
        assert_int_equal(synth_render(b, i, 1000 + i, &bwd[i]), 0);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(fwd[i].len, bwd[i].len);
        assert_memory_equal(fwd[i].data, bwd[i].data, fwd[i].len);
        buf_free(&fwd[i]);
        buf_free(&bwd[i]);
    }
    synth_free(b);
}

static void test_synth_other_seed_differs(void **state)
{
    synth *a = *state, *c = NULL;
    assert_int_equal(synth_new(&c, 43), 0);
    int same = 0;
    for (int64_t i = 0; i < 100; i++) {
        buf x = {0}, y = {0};
        synth_render(a, i, 5, &x);
        synth_render(c, i, 5, &y);
        same += x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
        buf_free(&x);
        buf_free(&y);
    }
    assert_int_equal(same, 0);
    synth_free(c);
}

static void test_synth_carries_mtime_and_id(void **state)
{
    synth *a = *state;
    buf x = {0};
    assert_int_equal(synth_render(a, 17, 1700000000123, &x), 0);
    assert_true(x.data[0] == '{' && x.data[x.len - 1] == '}');
    assert_non_null(strstr(x.data, ",\"rsvp_id\":1800000017,\"mtime\":1700000000123,\"event\":{"));
    assert_null(memchr(x.data, '\n', x.len));
    buf_free(&x);
}

/* The part of a message from "event" on plus the venue: the event's key columns. */
static void event_columns(const buf *m, buf *out)
{
    const char *ev = strstr(m->data, "\"event\":{");
    const char *vis = strstr(m->data, "\"visibility\"");
    assert_non_null(ev);
    assert_non_null(vis);
    buf_reset(out);
    buf_append(out, m->data, (size_t)(vis - m->data));
    buf_puts(out, ev);
}

static void test_synth_event_columns_are_a_function_of_the_event(void **state)
{
    synth *a = *state;
    int64_t first[64];
    for (int k = 0; k < 64; k++)
        first[k] = -1;
    int compared = 0;
    buf m = {0}, cols = {0}, ref = {0};
    for (int64_t i = 0; i < 3000; i++) {
        int64_t e = synth_event_of(a, i);
        if (e >= 64)
            continue;
        buf_reset(&m);
        synth_render(a, i, 1, &m);
        event_columns(&m, &cols);
        if (first[e] < 0) {
            first[e] = i;
            continue;
        }
        buf_reset(&m);
        synth_render(a, first[e], 1, &m);
        event_columns(&m, &ref);
        assert_int_equal(cols.len, ref.len);
        assert_memory_equal(cols.data, ref.data, cols.len);
        compared++;
    }
    assert_true(compared > 100); /* Zipf: the head events recur often */
    buf_free(&m);
    buf_free(&cols);
    buf_free(&ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_same_seed_same_bytes_in_any_order),
        cmocka_unit_test(test_synth_other_seed_differs),
        cmocka_unit_test(test_synth_carries_mtime_and_id),
        cmocka_unit_test(test_synth_event_columns_are_a_function_of_the_event),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
