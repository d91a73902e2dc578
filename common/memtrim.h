/* memtrim.h: give the heap memory a burst freed back to the system. glibc keeps freed memory in its
 * arenas (one per thread that allocated: librdkafka's broker threads, nng's workers) and returns on
 * free only the top of the main heap, so after a catch-up (a fault's backlog fetched and counted at
 * once: prefetched Kafka messages, big batches) a service's RSS would stay at the burst's high-water
 * mark although nothing is in use. memtrim_start runs malloc_trim(0) (every arena, free pages in the
 * middle of a heap too) every interval_ms on a thread of its own, so RSS follows what is in use. */
#ifndef COMMON_MEMTRIM_H
#define COMMON_MEMTRIM_H

#include <stddef.h>
#include <stdint.h>

/* MEMTRIM_OPTION: the services' MEM_TRIM_INTERVAL option (cfg_option table entry, config.h) with
 * its default; dst is an int64_t of milliseconds for memtrim_start. */
#define MEMTRIM_OPTION(dst, def)                                                                             \
    {                                                                                                        \
        "mem-trim-interval", "MEM_TRIM_INTERVAL", CFG_DURATION, def,                                         \
            "give freed heap memory back to the system this often (0 never)", 0, 3600000, 0, dst             \
    }

/* The thresholds for a service that can afford a few more page faults (writer, aggregator): blocks
 * of at least MEMTRIM_MMAP_THRESHOLD are mapped apart (given back when freed), and a heap's free top
 * above MEMTRIM_TRIM_THRESHOLD (glibc's own starting value) is given back when something next to it
 * is freed: with 1 MiB, each of a writer's ~16 thread arenas could keep up to 1 MiB. */
#define MEMTRIM_MMAP_THRESHOLD (1 << 20)
#define MEMTRIM_TRIM_THRESHOLD (128 << 10)

/* memtrim_start: fix malloc's thresholds at mmap_threshold and trim_threshold (0: leave that one as
 * it is: glibc's dynamic one, or the service's own) and start the trimming thread (interval_ms <= 0:
 * neither). One per process; it ends with memtrim_stop or at a stop signal (sig.h). 0 or ERR_IO. */
int memtrim_start(int64_t interval_ms, size_t mmap_threshold, size_t trim_threshold);
/* memtrim_one_arena: every thread allocates from the main arena (M_ARENA_MAX 1), whose top the
 * trimming thread's malloc_trim gives back whatever the trim threshold. For a service that keeps
 * high thresholds to avoid page faults (the ingestor: 32 MiB): with an arena per thread, the top of
 * librdkafka's broker thread arena stayed resident after a catch-up (under that threshold, and
 * malloc_trim never shrinks a thread arena's top). Call it before any thread starts. */
void memtrim_one_arena(void);
/* memtrim_stop: end and join the thread; no-op when none runs. */
void memtrim_stop(void);
/* memtrim_now: one malloc_trim(0) now; returns the resident bytes it gave back (0 when RSS did not
 * shrink or cannot be read). */
size_t memtrim_now(void);
/* memtrim_rss_bytes: this process's resident set (/proc/self/statm), 0 when unreadable. */
size_t memtrim_rss_bytes(void);

#endif
