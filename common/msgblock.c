/* msgblock.c: block storage for message payloads produced by reference (see msgblock.h). Why:
 * with RD_KAFKA_MSG_F_COPY librdkafka mallocs header + payload per message (over ~1 KB that is
 * glibc's slow path twice per message); here a payload is copied once into a block we own. */
#include "common/msgblock.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/err.h"

/* A block counts the messages pointing into it (the message opaque is the block) and becomes
 * reusable when the last of them has its delivery report. Blocks outlive the producer handle
 * (msgblock_pool_free after rd_kafka_destroy), so librdkafka never sees freed payload. */
struct msgblock {
    struct msgblock *next, **prevp; /* in p->retired while messages still point into it */
    size_t cap, used;
    uint64_t refs; /* messages committed from this block, delivery report not yet seen */
    char data[];
};

struct msgblock_pool {
    size_t block_bytes;
    unsigned max_spare;
    msgblock *cur;     /* block being filled */
    msgblock *retired; /* full blocks with refs > 0 */
    msgblock *spare;   /* empty blocks of block_bytes */
    unsigned nspare;
    unsigned spare_low; /* fewest spares since the last msgblock_pool_trim: not needed since */
    size_t nblocks;     /* allocated, in all three places */
    size_t in_use;      /* committed messages not yet released */
};

int msgblock_pool_new(msgblock_pool **out, size_t block_bytes, unsigned spare)
{
    if (block_bytes == 0)
        return ERR_INVALID;
    msgblock_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    p->block_bytes = block_bytes;
    p->max_spare = spare;
    *out = p;
    return 0;
}

static void blocks_free(msgblock *b)
{
    while (b) {
        msgblock *next = b->next;
        free(b);
        b = next;
    }
}

void msgblock_pool_free(msgblock_pool *p)
{
    if (!p)
        return;
    free(p->cur);
    blocks_free(p->retired);
    blocks_free(p->spare);
    free(p);
}

/* block_put: b has no message left in flight: keep it as a spare or free it. */
static void block_put(msgblock_pool *p, msgblock *b)
{
    if (b->cap == p->block_bytes && p->nspare < p->max_spare) {
        b->next = p->spare;
        p->spare = b;
        p->nspare++;
    } else {
        free(b);
        p->nblocks--;
    }
}

char *msgblock_reserve(msgblock_pool *p, size_t len, msgblock **blk)
{
    msgblock *b = p->cur;
    if (b && b->cap - b->used >= len) {
        *blk = b;
        return b->data + b->used;
    }
    if (b && b->refs == 0 && b->cap >= len) {
        b->used = 0; /* every message from it was reported: start it over */
        *blk = b;
        return b->data;
    }
    msgblock *nb = NULL;
    if (len <= p->block_bytes && p->spare) {
        nb = p->spare;
        p->spare = nb->next;
        if (--p->nspare < p->spare_low)
            p->spare_low = p->nspare;
    } else {
        size_t cap = len > p->block_bytes ? len : p->block_bytes;
        if (cap > SIZE_MAX - sizeof(*nb) || !(nb = malloc(sizeof(*nb) + cap)))
            return NULL;
        nb->cap = cap;
        p->nblocks++;
    }
    nb->used = 0;
    nb->refs = 0;
    if (b && b->refs > 0) { /* retire it until its last delivery report */
        b->next = p->retired;
        b->prevp = &p->retired;
        if (p->retired)
            p->retired->prevp = &b->next;
        p->retired = b;
    } else if (b) {
        block_put(p, b);
    }
    p->cur = nb;
    *blk = nb;
    return nb->data;
}

void msgblock_commit(msgblock_pool *p, msgblock *blk, size_t len)
{
    blk->used += len;
    blk->refs++;
    p->in_use++;
}

void msgblock_release(msgblock_pool *p, msgblock *b)
{
    p->in_use--;
    if (--b->refs > 0 || b == p->cur)
        return;
    *b->prevp = b->next; /* retired: unlink */
    if (b->next)
        b->next->prevp = b->prevp;
    block_put(p, b);
}

void msgblock_pool_trim(msgblock_pool *p)
{
    for (; p->spare_low > 0 && p->spare; p->spare_low--) {
        msgblock *b = p->spare;
        p->spare = b->next;
        p->nspare--;
        p->nblocks--;
        free(b);
    }
    p->spare_low = p->nspare;
}

size_t msgblock_pool_in_use(const msgblock_pool *p)
{
    return p->in_use;
}

size_t msgblock_pool_blocks(const msgblock_pool *p)
{
    return p->nblocks;
}
