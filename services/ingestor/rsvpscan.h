/* rsvpscan.h: finds the two fields the ingestor needs for resume and dedup, the top-level "rsvp_id"
 * and "mtime", without building a DOM. Pure. The whole line is checked (common/json.h's strict
 * scanner) so that a truncated, non-JSON or bad-UTF-8 line is never mistaken for a valid RSVP (its
 * keys could be cut mid-number). */
#ifndef SERVICES_INGESTOR_RSVPSCAN_H
#define SERVICES_INGESTOR_RSVPSCAN_H

#include <stddef.h>
#include <stdint.h>

/* rsvpscan_line: p[0..n) must be exactly one JSON object (surrounding whitespace allowed) that is
 * well-formed (strings with valid escapes and valid UTF-8, nesting <= 64), whose top level has the
 * keys "rsvp_id" and "mtime", each read by json_tok_int's rule (an integer JSON number, or a string
 * holding one, that fits int64) and not negative. Keys are compared after unescaping and the last of
 * a duplicated key counts (as the reference job and the parser read them). Returns 0 and sets
 * *rsvp_id, *mtime; otherwise ERR_INVALID and the outputs are untouched. */
int rsvpscan_line(const char *p, size_t n, int64_t *rsvp_id, int64_t *mtime);

/* rsvpscan_format_id: writes the decimal text of v >= 0 into out (cap >= 21, NUL-terminated);
 * returns its length. The Kafka message key of an RSVP. */
size_t rsvpscan_format_id(int64_t v, char *out);

#endif
