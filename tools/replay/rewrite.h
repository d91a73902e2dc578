/* rewrite.h: locate and replace the top-level integer fields "rsvp_id" and "mtime" of one NDJSON
 * line without parsing it into a DOM, so --loop can re-emit recorded lines with new ids and times
 * while every other byte stays as recorded. The fields are read as the ingestor and the parser read
 * them (common/json.h: last duplicate key wins, keys unescaped, json_tok_int's integers). */
#ifndef TOOLS_REPLAY_REWRITE_H
#define TOOLS_REPLAY_REWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Byte spans [off, off + len) of the two values inside a line (a string's quotes included), plus
 * their decoded values. */
typedef struct rewrite_spans {
    size_t id_off, id_len;
    size_t mtime_off, mtime_len;
    int64_t rsvp_id;
    int64_t mtime;
    int has_id;       /* rsvp_id present and an integer */
    int has_mtime;    /* mtime present and an integer */
    int id_quoted;    /* given as a string: rewritten as one */
    int mtime_quoted; /* likewise */
} rewrite_spans;

/* rewrite_scan: scan line[0..len) (one JSON object, no newline) for the top-level keys "rsvp_id"
 * and "mtime" (keys inside nested objects or inside strings are ignored). Fills *out with what was
 * found: has_id / has_mtime when the key is there and its value is an integer that fits int64 (a
 * JSON number or a string holding one). Returns 0, or ERR_INVALID if the line is not one well-formed
 * JSON object (RFC 8259, nesting <= 64); then *out is unspecified. */
int rewrite_scan(const char *line, size_t len, rewrite_spans *out);

/* rewrite_apply: append line[0..len) to out with the rsvp_id value replaced by the decimal rsvp_id
 * and the mtime value by mtime (quoted if the original was a string), using spans from
 * rewrite_scan() of the same line (both present). Appends no newline. Returns 0, ERR_INVALID (span
 * missing) or ERR_NOMEM (out unchanged in len). */
int rewrite_apply(buf *out, const char *line, size_t len, const rewrite_spans *sp, int64_t rsvp_id,
                  int64_t mtime);

#endif
