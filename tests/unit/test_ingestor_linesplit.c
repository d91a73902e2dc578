/* test_ingestor_linesplit.c: the ingestor's line splitter: lines across chunk boundaries, CRLF,
 * empty lines, oversize lines skipped to their newline with bounded memory, and unget for
 * backpressure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/ingestor/linesplit.h"

/* collect: drain every result into out as "L:<line>|" or "O:<len>|". */
static void collect(linesplit *ls, char *out, size_t cap)
{
    const char *line;
    size_t len;
    int k;
    while ((k = linesplit_next(ls, &line, &len)) != LINESPLIT_NONE) {
        size_t n = strlen(out);
        if (k == LINESPLIT_LINE)
            snprintf(out + n, cap - n, "L:%.*s|", (int)len, line);
        else
            snprintf(out + n, cap - n, "O:%zu|", len);
    }
}

/* feed_in_pieces: feed s in chunks of `step` bytes, collecting after each. */
static void feed_in_pieces(linesplit *ls, const char *s, size_t step, char *out, size_t cap)
{
    size_t n = strlen(s);
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        assert_int_equal(linesplit_feed(ls, s + off, k), 0);
        collect(ls, out, cap);
    }
}

static void test_whole_lines_in_one_chunk(void **state)
{
    (void)state;
    linesplit *ls;
    assert_int_equal(linesplit_new(&ls, 100), 0);
    char out[256] = "";
    feed_in_pieces(ls, "{\"a\":1}\n{\"b\":2}\n", 1000, out, sizeof out);
    assert_string_equal(out, "L:{\"a\":1}|L:{\"b\":2}|");
    assert_int_equal(linesplit_pending(ls), 0);
    linesplit_free(ls);
}

static void test_lines_split_across_chunks_every_size(void **state)
{
    (void)state;
    const char *in = "alpha\r\nbeta\n\ngamma delta\r\n\r\nomega\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        linesplit *ls;
        assert_int_equal(linesplit_new(&ls, 100), 0);
        char out[256] = "";
        feed_in_pieces(ls, in, step, out, sizeof out);
        assert_string_equal(out, "L:alpha|L:beta|L:gamma delta|L:omega|");
        linesplit_free(ls);
    }
}

static void test_partial_line_waits_for_newline(void **state)
{
    (void)state;
    linesplit *ls;
    assert_int_equal(linesplit_new(&ls, 100), 0);
    char out[256] = "";
    feed_in_pieces(ls, "abc", 10, out, sizeof out);
    assert_string_equal(out, "");
    assert_int_equal(linesplit_pending(ls), 3);
    feed_in_pieces(ls, "def\nxy", 10, out, sizeof out);
    assert_string_equal(out, "L:abcdef|");
    assert_int_equal(linesplit_pending(ls), 2);
    linesplit_reset(ls); /* reconnect: the partial "xy" is dropped */
    feed_in_pieces(ls, "z\n", 10, out, sizeof out);
    assert_string_equal(out, "L:abcdef|L:z|");
    linesplit_free(ls);
}

static void test_only_empty_lines_and_crlf(void **state)
{
    (void)state;
    linesplit *ls;
    assert_int_equal(linesplit_new(&ls, 100), 0);
    char out[64] = "";
    feed_in_pieces(ls, "\n\r\n\n\r\n", 1, out, sizeof out);
    assert_string_equal(out, "");
    linesplit_free(ls);
}

static void test_line_of_exactly_max_is_kept(void **state)
{
    (void)state;
    linesplit *ls;
    assert_int_equal(linesplit_new(&ls, 5), 0);
    char out[128] = "";
    feed_in_pieces(ls, "12345\r\n12345\n123456\nok\n", 1, out, sizeof out);
    assert_string_equal(out, "L:12345|L:12345|O:6|L:ok|");
    linesplit_free(ls);
}

static void test_oversize_complete_line_in_one_chunk(void **state)
{
    (void)state;
    linesplit *ls;
    assert_int_equal(linesplit_new(&ls, 4), 0);
    char out[128] = "";
    feed_in_pieces(ls, "a\nlonglongline\nb\n", 100, out, sizeof out);
    assert_string_equal(out, "L:a|O:12|L:b|");
    linesplit_free(ls);
}

static void test_oversize_line_across_many_chunks_is_not_buffered(void **state)
{
    (void)state;
    const size_t max = 1024;
    linesplit *ls;
    assert_int_equal(linesplit_new(&ls, max), 0);
    char chunk[512];
    memset(chunk, 'x', sizeof chunk);
    char out[256] = "";
    assert_int_equal(linesplit_feed(ls, "first\n", 6), 0);
    collect(ls, out, sizeof out);
    int oversize_reports = 0;
    for (int i = 0; i < 10000; i++) { /* 5 MB without a newline */
        assert_int_equal(linesplit_feed(ls, chunk, sizeof chunk), 0);
        const char *line;
        size_t len;
        int k;
        while ((k = linesplit_next(ls, &line, &len)) != LINESPLIT_NONE) {
            assert_int_equal(k, LINESPLIT_OVERSIZE);
            oversize_reports++;
        }
        assert_true(linesplit_pending(ls) <= max + 1);
    }
    assert_int_equal(oversize_reports, 1);
    assert_int_equal(linesplit_feed(ls, "tail\nnext\n", 10), 0);
    collect(ls, out, sizeof out);
    assert_string_equal(out, "L:first|L:next|");
    linesplit_free(ls);
}

static void test_unget_returns_the_same_line_again(void **state)
{
    (void)state;
    linesplit *ls;
    assert_int_equal(linesplit_new(&ls, 100), 0);
    assert_int_equal(linesplit_feed(ls, "one\r\n\ntwo\nthr", 14), 0);
    const char *line;
    size_t len;
    assert_int_equal(linesplit_next(ls, &line, &len), LINESPLIT_LINE);
    assert_memory_equal(line, "one", 3);
    assert_int_equal(linesplit_next(ls, &line, &len), LINESPLIT_LINE);
    assert_int_equal(len, 3);
    assert_memory_equal(line, "two", 3);
    linesplit_unget(ls);
    assert_int_equal(linesplit_pending(ls), 8); /* "two\nthr" + ... */
    assert_int_equal(linesplit_next(ls, &line, &len), LINESPLIT_LINE);
    assert_memory_equal(line, "two", 3);
    assert_int_equal(linesplit_next(ls, &line, &len), LINESPLIT_NONE);
    /* After an unget the remaining bytes survive a later feed (the held-back case). */
    linesplit_free(ls);
    assert_int_equal(linesplit_new(&ls, 100), 0);
    assert_int_equal(linesplit_feed(ls, "a\nb\nc", 5), 0);
    assert_int_equal(linesplit_next(ls, &line, &len), LINESPLIT_LINE);
    assert_int_equal(linesplit_next(ls, &line, &len), LINESPLIT_LINE);
    linesplit_unget(ls);
    char out[64] = "";
    collect(ls, out, sizeof out);
    assert_int_equal(linesplit_feed(ls, "d\n", 2), 0);
    collect(ls, out, sizeof out);
    assert_string_equal(out, "L:b|L:cd|");
    linesplit_free(ls);
}

static void test_cr_alone_at_max_plus_one_waits(void **state)
{
    (void)state;
    linesplit *ls;
    assert_int_equal(linesplit_new(&ls, 3), 0);
    char out[64] = "";
    feed_in_pieces(ls, "abc\r", 100, out, sizeof out); /* may still be "abc" + CRLF */
    assert_string_equal(out, "");
    feed_in_pieces(ls, "\n", 100, out, sizeof out);
    assert_string_equal(out, "L:abc|");
    linesplit_free(ls);
}

static void test_new_rejects_zero_and_free_null(void **state)
{
    (void)state;
    linesplit *ls = NULL;
    assert_int_not_equal(linesplit_new(&ls, 0), 0);
    assert_null(ls);
    linesplit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_lines_in_one_chunk),
        cmocka_unit_test(test_lines_split_across_chunks_every_size),
        cmocka_unit_test(test_partial_line_waits_for_newline),
        cmocka_unit_test(test_only_empty_lines_and_crlf),
        cmocka_unit_test(test_line_of_exactly_max_is_kept),
        cmocka_unit_test(test_oversize_complete_line_in_one_chunk),
        cmocka_unit_test(test_oversize_line_across_many_chunks_is_not_buffered),
        cmocka_unit_test(test_unget_returns_the_same_line_again),
        cmocka_unit_test(test_cr_alone_at_max_plus_one_waits),
        cmocka_unit_test(test_new_rejects_zero_and_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
