/* copy.h: encodes aggregate rows in PostgreSQL's COPY text format, the writer's bulk-load path
 * (one line per AggRow: 12 key columns and the delta, tab-separated, NULL as \N). */
#ifndef SERVICES_WRITER_COPY_H
#define SERVICES_WRITER_COPY_H

#include <stddef.h>

#include "common/buf.h"
#include "proto/rsvp.pb-c.h"

/* copy_append_str: append s as one COPY text field: NULL -> \N; backslash, tab, newline and
 * carriage return are escaped (\\ \t \n \r), every other byte is kept. 0 or ERR_NOMEM. */
int copy_append_str(buf *b, const char *s);

/* copy_append_double: append a double field: !has -> \N; -0.0 -> 0; NaN/+-Inf as PostgreSQL
 * spells them; otherwise %.17g (round-trips exactly through float8in). 0 or ERR_NOMEM. */
int copy_append_double(buf *b, int has, double v);

/* copy_append_row: append one full line (13 fields + '\n') for r in the column order of
 * schema.h's SCHEMA_KEY_COLUMNS followed by delta. 0 or ERR_NOMEM (b may then hold a partial
 * line; callers reset it). */
int copy_append_row(buf *b, const Rsvp__V1__AggRow *r);

#endif
