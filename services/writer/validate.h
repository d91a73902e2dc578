/* validate.h: checks a decoded WriterRequest before it reaches the database, so a bad request is
 * answered ERROR with a precise reason instead of a PostgreSQL error. */
#ifndef SERVICES_WRITER_VALIDATE_H
#define SERVICES_WRITER_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/rsvp.pb-c.h"

/* validate_utf8: 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int validate_utf8(const char *s, size_t n);

/* validate_batch: 0 if b can be applied: non-empty UTF-8 topic, partition >= 0,
 * from_offset >= -1, to_offset > from_offset, n_rows <= max_rows, every row present with
 * UTF-8 strings, messages >= 0 when set. Otherwise ERR_INVALID (ERR_RANGE for too many rows) and
 * *why names the first problem (static string). Duplicate keys are not checked (the database
 * rejects them). Pure; any thread. */
int validate_batch(const Rsvp__V1__Batch *b, int64_t max_rows, const char **why);

/* validate_offset_query: 0 if q has a non-empty UTF-8 topic and 1..max_partitions partitions,
 * each >= 0; else ERR_INVALID with *why set. */
int validate_offset_query(const Rsvp__V1__OffsetQuery *q, size_t max_partitions, const char **why);

#endif
