/* jsonrows.h: reads one aggregate row from a JSON line for rsvp-writer-client:
 * {"event_name": "...", ..., "group_lat": 1.5, ..., "response": "yes", "delta": 3}
 * The 12 key columns (null or absent -> unset) and "delta" (or "response_count", so the
 * reference counts file can be sent as is). Unknown keys are ignored. */
#ifndef TOOLS_WRITER_CLIENT_JSONROWS_H
#define TOOLS_WRITER_CLIENT_JSONROWS_H

#include <stddef.h>

#include "proto/rsvp.pb-c.h"

/* jsonrows_parse: fill *row (initialised here) from line[0..len). Strings are malloc'd and owned
 * by the row: free with jsonrows_row_clear(). Returns 0 or ERR_INVALID/ERR_NOMEM with err set. */
int jsonrows_parse(const char *line, size_t len, Rsvp__V1__AggRow *row, char *err, size_t errlen);

/* jsonrows_row_clear: free the strings of a row filled by jsonrows_parse(). NULL-safe. */
void jsonrows_row_clear(Rsvp__V1__AggRow *row);

#endif
