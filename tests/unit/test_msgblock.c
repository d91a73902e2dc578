/* test_msgblock.c: payload blocks for produce-by-reference: reservations pack into one block, an
 * uncommitted one costs nothing, a block is reused only after its last release, long payloads get
 * a block of their own, spares are bounded, a trim gives back the spares not needed since the one
 * before (what a burst left) and keeps those a steady load takes, and freeing with messages
 * outstanding leaks nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/msgblock.h"

/* put: reserve, write, commit len bytes of c; returns where they went. */
static char *put(msgblock_pool *p, size_t len, char c, msgblock **blk)
{
    char *d = msgblock_reserve(p, len, blk);
    assert_non_null(d);
    memset(d, c, len);
    msgblock_commit(p, *blk, len);
    return d;
}

static void test_new_rejects_zero_and_free_null(void **state)
{
    (void)state;
    msgblock_pool *p = NULL;
    assert_int_equal(msgblock_pool_new(&p, 0, 1), ERR_INVALID);
    assert_null(p);
    msgblock_pool_free(NULL);
}

static void test_messages_pack_into_one_block(void **state)
{
    (void)state;
    msgblock_pool *p = NULL;
    assert_int_equal(msgblock_pool_new(&p, 100, 2), 0);
    msgblock *a, *b, *c;
    char *da = put(p, 40, 'a', &a);
    char *db = put(p, 40, 'b', &b);
    assert_ptr_equal(a, b);
    assert_ptr_equal(db, da + 40);
    assert_int_equal(msgblock_pool_in_use(p), 2);
    /* 20 bytes left: 30 needs a new block; the first keeps its bytes while in flight */
    char *dc = put(p, 30, 'c', &c);
    assert_ptr_not_equal(c, a);
    assert_int_equal(msgblock_pool_blocks(p), 2);
    assert_int_equal(da[0], 'a');
    assert_int_equal(db[39], 'b');
    assert_int_equal(dc[0], 'c');
    msgblock_release(p, a);
    msgblock_release(p, b);
    msgblock_release(p, c);
    assert_int_equal(msgblock_pool_in_use(p), 0);
    msgblock_pool_free(p);
}

static void test_uncommitted_reservation_costs_nothing(void **state)
{
    (void)state;
    msgblock_pool *p = NULL;
    assert_int_equal(msgblock_pool_new(&p, 100, 2), 0);
    msgblock *a, *b;
    char *d1 = msgblock_reserve(p, 60, &a); /* produce refused: not committed */
    assert_non_null(d1);
    char *d2 = msgblock_reserve(p, 60, &b);
    assert_ptr_equal(d1, d2);
    assert_ptr_equal(a, b);
    assert_int_equal(msgblock_pool_in_use(p), 0);
    assert_int_equal(msgblock_pool_blocks(p), 1);
    msgblock_pool_free(p);
}

static void test_block_reused_only_after_last_release(void **state)
{
    (void)state;
    msgblock_pool *p = NULL;
    assert_int_equal(msgblock_pool_new(&p, 100, 4), 0);
    msgblock *a1, *a2, *b, *c, *d;
    char *first = put(p, 50, '1', &a1);
    put(p, 50, '2', &a2); /* block a full */
    put(p, 50, '3', &b);  /* a retired with 2 refs, b current */
    assert_ptr_not_equal(a1, b);
    msgblock_release(p, a1);
    put(p, 50, '4', &c); /* fits in b */
    assert_ptr_equal(c, b);
    put(p, 60, '5', &d);
    assert_ptr_not_equal(d, a1);
    assert_int_equal(first[49], '1'); /* a's bytes untouched while a2 is in flight */
    assert_int_equal(msgblock_pool_blocks(p), 3);
    msgblock_release(p, a2); /* a becomes a spare */
    msgblock_release(p, b);
    msgblock_release(p, c); /* b = c: spare */
    assert_int_equal(msgblock_pool_blocks(p), 3);
    /* current block d has no message in flight after this: it starts over */
    msgblock_release(p, d);
    msgblock *e;
    char *de = put(p, 90, '6', &e);
    assert_ptr_equal(e, d);
    msgblock *f;
    put(p, 90, '7', &f); /* d full: a spare is taken, no allocation */
    assert_int_equal(msgblock_pool_blocks(p), 3);
    assert_int_equal(de[0], '6');
    msgblock_release(p, e);
    msgblock_release(p, f);
    assert_int_equal(msgblock_pool_in_use(p), 0);
    msgblock_pool_free(p);
}

static void test_long_payload_gets_own_block_freed_after_release(void **state)
{
    (void)state;
    msgblock_pool *p = NULL;
    assert_int_equal(msgblock_pool_new(&p, 64, 4), 0);
    msgblock *s, *big, *t;
    put(p, 10, 's', &s);
    char *db = put(p, 1000, 'B', &big);
    assert_ptr_not_equal(big, s);
    assert_int_equal(db[999], 'B');
    put(p, 10, 't', &t); /* big is full and in flight: retired */
    assert_ptr_not_equal(t, big);
    size_t before = msgblock_pool_blocks(p);
    msgblock_release(p, big); /* not block sized: freed, never a spare */
    assert_int_equal(msgblock_pool_blocks(p), before - 1);
    msgblock_release(p, s);
    msgblock_release(p, t);
    msgblock_pool_free(p);
}

static void test_spares_are_bounded(void **state)
{
    (void)state;
    msgblock_pool *p = NULL;
    assert_int_equal(msgblock_pool_new(&p, 32, 1), 0);
    msgblock *b[6];
    for (int i = 0; i < 6; i++)
        put(p, 32, (char)('a' + i), &b[i]); /* each fills a block */
    assert_int_equal(msgblock_pool_blocks(p), 6);
    for (int i = 4; i >= 0; i--) /* out of order; b[5] is current */
        msgblock_release(p, b[i]);
    assert_int_equal(msgblock_pool_blocks(p), 2); /* current + one spare */
    msgblock_release(p, b[5]);
    assert_int_equal(msgblock_pool_in_use(p), 0);
    msgblock_pool_free(p);
}

/* burst: n messages of one block each in flight at once, then all reported. */
static void burst(msgblock_pool *p, int n)
{
    msgblock *blk[16];
    for (int i = 0; i < n; i++)
        put(p, 100, 'x', &blk[i]);
    for (int i = 0; i < n; i++)
        msgblock_release(p, blk[i]);
}

static void test_trim_gives_back_what_a_burst_left(void **state)
{
    (void)state;
    msgblock_pool *p = NULL;
    assert_int_equal(msgblock_pool_new(&p, 100, 4), 0);
    burst(p, 6); /* a catch-up: 6 blocks, of which 4 stay as spares beside the current one */
    assert_int_equal(msgblock_pool_blocks(p), 5);
    msgblock_pool_trim(p); /* the spares were wanted in this period: kept */
    assert_int_equal(msgblock_pool_blocks(p), 5);
    /* a steady load of 3 blocks per period: the current one and 2 spares are used */
    burst(p, 3);
    msgblock_pool_trim(p); /* 2 spares were never taken in this period: given back */
    assert_int_equal(msgblock_pool_blocks(p), 3);
    burst(p, 3);
    msgblock_pool_trim(p); /* what the steady load uses is kept */
    assert_int_equal(msgblock_pool_blocks(p), 3);
    msgblock_pool_trim(p); /* nothing taken since: only the current block stays */
    assert_int_equal(msgblock_pool_blocks(p), 1);
    burst(p, 2); /* and it still works afterwards */
    assert_int_equal(msgblock_pool_in_use(p), 0);
    msgblock_pool_free(p);
}

static void test_free_with_messages_outstanding(void **state)
{
    (void)state;
    msgblock_pool *p = NULL;
    assert_int_equal(msgblock_pool_new(&p, 32, 2), 0);
    msgblock *b;
    for (int i = 0; i < 20; i++)
        put(p, 20, 'x', &b); /* never released: the producer was destroyed first */
    assert_int_equal(msgblock_pool_in_use(p), 20);
    msgblock_pool_free(p); /* ASan / valgrind: no leak */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_rejects_zero_and_free_null),
        cmocka_unit_test(test_messages_pack_into_one_block),
        cmocka_unit_test(test_uncommitted_reservation_costs_nothing),
        cmocka_unit_test(test_block_reused_only_after_last_release),
        cmocka_unit_test(test_long_payload_gets_own_block_freed_after_release),
        cmocka_unit_test(test_spares_are_bounded),
        cmocka_unit_test(test_trim_gives_back_what_a_burst_left),
        cmocka_unit_test(test_free_with_messages_outstanding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
