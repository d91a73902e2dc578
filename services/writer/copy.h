/* copy.h: encodes aggregate rows in PostgreSQL's binary COPY format, the writer's bulk-load path:
 * a header, one tuple per AggRow (13 fields: the 12 key columns and the delta, each an int32
 * length and the bytes in network order, -1 for NULL), a trailer. No text, no escaping. */
#ifndef SERVICES_WRITER_COPY_H
#define SERVICES_WRITER_COPY_H

#include <stddef.h>

#include "common/buf.h"
#include "proto/rsvp.pb-c.h"

/* Fields per tuple: SCHEMA_KEY_COLUMNS (schema.h) and delta. */
#define COPY_FIELDS 13

/* copy_append_header: the 19-byte file header (signature, flags 0, no extension). 0 or
 * ERR_NOMEM. */
int copy_append_header(buf *b);

/* copy_append_trailer: the end-of-data marker (int16 -1). 0 or ERR_NOMEM. */
int copy_append_trailer(buf *b);

/* copy_append_str: append one text field: NULL -> length -1; otherwise the length and the bytes
 * as they are (the empty string is length 0, not NULL). 0 or ERR_NOMEM. */
int copy_append_str(buf *b, const char *s);

/* copy_append_double: append one float8 field: !has -> length -1; -0.0 -> 0.0 (keys treat them
 * as one); any NaN -> the one NaN PostgreSQL's float8in gives for 'NaN'; every other value bit
 * for bit. 0 or ERR_NOMEM. */
int copy_append_double(buf *b, int has, double v);

/* copy_append_row: append one tuple for r in the column order of schema.h's SCHEMA_KEY_COLUMNS
 * followed by delta (int8). One allocation check per row. 0 or ERR_NOMEM (b unchanged). */
int copy_append_row(buf *b, const Rsvp__V1__AggRow *r);

#endif
