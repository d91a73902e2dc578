/* msgblock.h: payload storage for Kafka messages produced without RD_KAFKA_MSG_F_COPY. Payloads
 * are copied (or written) into large blocks the producer owns; each block counts the messages
 * pointing into it and is reused once the delivery report of the last of them has been seen. */
#ifndef COMMON_MSGBLOCK_H
#define COMMON_MSGBLOCK_H

#include <stddef.h>

typedef struct msgblock msgblock;           /* one block; the message opaque to pass to librdkafka */
typedef struct msgblock_pool msgblock_pool; /* every block of one producer */

/* msgblock_pool_new: a pool of blocks of block_bytes each (a longer payload gets a block of its
 * own), keeping up to spare empty blocks for reuse. 0 and *out set, or ERR_NOMEM / ERR_INVALID
 * (block_bytes 0). Not thread-safe: use it from the thread that serves the delivery reports. */
int msgblock_pool_new(msgblock_pool **out, size_t block_bytes, unsigned spare);

/* msgblock_pool_free: free every block, whatever its count: call it only after rd_kafka_destroy()
 * of the producer whose messages point into them. NULL: no-op. */
void msgblock_pool_free(msgblock_pool *p);

/* msgblock_reserve: room for len bytes, valid until the next msgblock_reserve on p; *blk is the
 * block it lies in. The bytes count as taken only after msgblock_commit, so a produce that fails
 * costs nothing. NULL when out of memory. */
char *msgblock_reserve(msgblock_pool *p, size_t len, msgblock **blk);

/* msgblock_commit: the last reservation in blk holds the payload (len bytes, at most what was
 * reserved) of a message librdkafka accepted: blk stays in use until msgblock_release for it. */
void msgblock_commit(msgblock_pool *p, msgblock *blk, size_t len);

/* msgblock_release: one committed message of blk had its delivery report (any outcome, purges
 * included); call it last in the callback, the payload lives in blk. */
void msgblock_release(msgblock_pool *p, msgblock *blk);

/* msgblock_pool_trim: frees the spare blocks that were not needed since the previous call (the
 * fewest spares seen in between), so that what one burst (a catch-up's large transactions) left
 * behind goes back after a quiet period while a steady load keeps what it uses. Call it
 * periodically (ktxn: every KTXN_TRIM_MS at a commit). */
void msgblock_pool_trim(msgblock_pool *p);

/* msgblock_pool_in_use: committed messages not yet released, over all blocks (for tests and
 * checks). */
size_t msgblock_pool_in_use(const msgblock_pool *p);

/* msgblock_pool_blocks: blocks allocated at the moment (current, waiting for reports, spare). */
size_t msgblock_pool_blocks(const msgblock_pool *p);

#endif
