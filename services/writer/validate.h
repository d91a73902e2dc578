/* validate.h: the writer's checks of a request before it costs anything: a walk over the packed
 * bytes that counts rows and partitions before anything is decoded (protobuf-c allocates every row
 * of a request, so a few MB of minimal rows would otherwise become gigabytes), and the checks of
 * a decoded batch against what an aggregator can honestly send. Each refusal has its own reason,
 * the label of rsvp_writer_bad_requests_total. Pure functions; any thread. */
#ifndef SERVICES_WRITER_VALIDATE_H
#define SERVICES_WRITER_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/rsvp.pb-c.h"

/* Why a request is refused (0: it is not). */
typedef enum validate_reason {
    VR_OK = 0,
    VR_INVALID_BATCH,       /* topic empty or not UTF-8, negative partition, a row absent or with a
                             * string that is not UTF-8 */
    VR_TOO_MANY_ROWS,       /* more rows than the limit */
    VR_BAD_OFFSET,          /* from_offset below -1, or to_offset beyond the largest offset allowed */
    VR_BAD_RANGE,           /* an empty range, or fewer offsets than the messages it claims */
    VR_BAD_MESSAGES,        /* messages absent or negative, or not the sum of the rows' deltas */
    VR_BAD_DELTA,           /* a delta below 0 or above the batch's messages */
    VR_INVALID_QUERY,       /* offset query: topic empty or not UTF-8, no or negative partitions */
    VR_TOO_MANY_PARTITIONS, /* offset query over the limit */
} validate_reason;

/* validate_utf8: 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int validate_utf8(const char *s, size_t n);

/* What validate_wire() found in a packed WriterRequest. */
typedef struct validate_wire_counts {
    size_t rows;       /* AggRow records in every batch body of the request */
    size_t partitions; /* partition numbers in every offset query body (packed or not) */
} validate_wire_counts;

/* validate_wire: walk the packed WriterRequest p[0..n) without decoding or allocating: the batch
 * (field 1) and offset query (field 2) bodies, counting their rows (Batch field 5) and partitions
 * (OffsetQuery field 2). Returns 0 with *out set, or -1 when the bytes are not a protobuf message
 * (a truncated varint or length, a group, a wire type that does not exist): protobuf-c would
 * refuse those too. Never refuses what protobuf-c decodes; its counts are never below what
 * protobuf-c would decode (several bodies are merged by protobuf-c, counted here as their sum). */
int validate_wire(const uint8_t *p, size_t n, validate_wire_counts *out);

/* validate_batch: VR_OK if b is a batch an honest aggregator can send, else the reason, with *why
 * (a static string) naming the first problem:
 *   - non-empty UTF-8 topic, partition >= 0, at most max_rows rows, every row present with UTF-8
 *     strings;
 *   - from_offset >= -1 (-1: nothing stored yet; the range then starts at 0), to_offset <=
 *     max_offset, and the range [max(from_offset, 0), to_offset) holds at least one offset;
 *   - messages present, >= 0 and at most the range's length (each message has its own offset);
 *   - every delta in [0, messages] and the deltas add up to messages exactly (each counted
 *     message adds 1 to one key; a message with a null response creates its key with 0).
 * Duplicate keys are not checked here (the database refuses them: nothing is committed). */
validate_reason validate_batch(const Rsvp__V1__Batch *b, int64_t max_rows, int64_t max_offset,
                               const char **why);

/* validate_offset_query: VR_OK if q has a non-empty UTF-8 topic and 1..max_partitions partitions,
 * each >= 0; else VR_INVALID_QUERY or VR_TOO_MANY_PARTITIONS with *why set. */
validate_reason validate_offset_query(const Rsvp__V1__OffsetQuery *q, size_t max_partitions,
                                      const char **why);

#endif
