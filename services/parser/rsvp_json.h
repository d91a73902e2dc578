/* rsvp_json.h: one raw Meetup RSVP (JSON bytes) -> a filled rsvp.v1.Rsvp, or the reason it is
 * dead-lettered. Two modes:
 *   reference (the default): the message is read as the reference job reads it (from_json with its
 *     schema, every leaf a string: sparkjson.h) and carries the reference's aggregate key exactly
 *     (Rsvp.key); input the reference cannot read as an object is dead-lettered with its reason and
 *     still counted as the reference counts it (a key of NULLs, count 0);
 *   strict: RFC 8259 JSON, typed fields checked (ids and times integers, coordinates in range,
 *     response yes or no, required fields present); everything else is dead-lettered.
 * Pure (no I/O, no globals): a reusable parser owns its token array, string arena and the output
 * message, so the hot path does no malloc. Tokens only (common/json.h's layout), no document tree. */
#ifndef SERVICES_PARSER_RSVP_JSON_H
#define SERVICES_PARSER_RSVP_JSON_H

#include <stddef.h>

#include "proto/rsvp.pb-c.h"

/* Why a message was rejected; the name is the `reason` header on the dead-letter topic and the
 * label of rsvp_parser_dead_lettered_total. Append only (names are a public contract). */
typedef enum rsvp_json_reason {
    RSVP_JSON_OK = 0,
    RSVP_JSON_TOO_LARGE,    /* more than max_message_bytes */
    RSVP_JSON_NOT_JSON,     /* not one well-formed JSON value (strict: RFC 8259; reference: as Spark reads) */
    RSVP_JSON_INVALID_UTF8, /* bad UTF-8 in a string, or an escape of a lone surrogate (strict) */
    RSVP_JSON_TOO_MANY_TOKENS, /* more JSON values than max_tokens (strict) */
    RSVP_JSON_TOO_DEEP,        /* nested deeper than RSVP_JSON_MAX_DEPTH (strict) */
    RSVP_JSON_NOT_OBJECT,      /* valid JSON, but the top level is not an object */
    RSVP_JSON_WRONG_TYPE,      /* a known field has a type that cannot be read ("abc" for an id) (strict) */
    RSVP_JSON_STRING_TOO_LONG, /* a decoded string field over max_string_bytes (strict) */
    RSVP_JSON_NUL_IN_STRING,   /* \u0000 in a string field (strict) or in a key column (reference) */
    RSVP_JSON_MISSING_RSVP_ID, /* required fields: absent or null (strict) */
    RSVP_JSON_MISSING_MTIME,
    RSVP_JSON_MISSING_EVENT_ID, /* event, event.event_id absent/null, or event_id "" */
    RSVP_JSON_MISSING_RESPONSE,
    RSVP_JSON_BAD_RESPONSE,     /* response is neither "yes" nor "no" (strict) */
    RSVP_JSON_LAT_OUT_OF_RANGE, /* venue.lat or group.group_lat outside [-90, 90] (strict) */
    RSVP_JSON_LON_OUT_OF_RANGE, /* venue.lon or group.group_lon outside [-180, 180] (strict) */
    RSVP_JSON_KEY_TOO_LONG,     /* the aggregate key's strings together over RSVP_JSON_MAX_KEY_BYTES */
    RSVP_JSON_REASON_COUNT
} rsvp_json_reason;

typedef enum rsvp_json_mode {
    RSVP_JSON_REFERENCE = 0, /* the default */
    RSVP_JSON_STRICT = 1,
} rsvp_json_mode;

#define RSVP_JSON_MAX_DEPTH 32
/* The writer keeps a unique btree index over the twelve key columns; PostgreSQL rejects index rows
 * over ~2.7 kB, and a batch holding such a key would be refused forever (a poison batch). So the
 * key's strings together (event name, url, time, group name, country, state, city, response) are
 * capped here, where the message can still be dead-lettered with a reason. */
#define RSVP_JSON_MAX_KEY_BYTES 2048

typedef struct rsvp_json_limits {
    size_t max_message_bytes; /* default 1 MiB (the ingestor's longest line) */
    size_t max_string_bytes;  /* strict: per decoded string field, default 1024 */
    unsigned max_tokens;      /* strict: JSON values per message, default 8192 (reference: the fast
                                 path's token array; longer messages take the slow path) */
    rsvp_json_mode mode;
} rsvp_json_limits;

typedef struct rsvp_json rsvp_json;

/* rsvp_json_limits_default: the defaults above (reference mode). */
rsvp_json_limits rsvp_json_limits_default(void);

/* rsvp_json_mode_parse: "reference" or "strict" into *mode; 0, or ERR_INVALID for anything else. */
int rsvp_json_mode_parse(const char *s, rsvp_json_mode *mode);

/* rsvp_json_new: a parser with the given limits (NULL = defaults); every buffer the strict mode and
 * the reference mode's fast path will ever need is allocated here (the reference mode's slow path
 * grows its own with the largest odd message). On success *out owns it. Returns 0, ERR_INVALID (a
 * zero limit, or limits too large for jsmn's int offsets) or ERR_NOMEM. */
int rsvp_json_new(rsvp_json **out, const rsvp_json_limits *limits);

/* rsvp_json_free: frees the parser and the last message it returned. NULL-safe. */
void rsvp_json_free(rsvp_json *p);

/* rsvp_json_parse: parse data[0..len) (need not be NUL-terminated). *out is always written: the
 * message to produce (owned by p: valid until the next parse on p or rsvp_json_free(p); the caller may
 * set ingest_time_ms on it and pack it, but must never free it with rsvp__v1__rsvp__free_unpacked), or
 * NULL when there is none. Returns RSVP_JSON_OK (with a message), or a reason to dead-letter the input:
 *   strict mode: *out is NULL. Strings are exactly as decoded (escapes resolved, spaces kept); JSON null
 *     means absent; numbers given as strings ("123") are read as numbers; unknown fields are ignored;
 *     -0.0 is stored as 0.0. One reason per message, by precedence: too_large; problems of the JSON
 *     anywhere in the message (too_many_tokens, not_json, invalid_utf8, too_deep); not_object; the
 *     first field problem in document order (wrong_type, string_too_long, nul_in_string);
 *     missing_rsvp_id, missing_mtime, missing_event_id, missing_response, bad_response,
 *     lat_out_of_range, lon_out_of_range, key_too_long.
 *   reference mode: not_json or not_object with *out a message whose key is all NULL (the reference
 *     counts such input that way: count 0); too_large, nul_in_string (U+0000 in a key column: the
 *     reference's JDBC sink cannot write it either) and key_too_long with *out NULL. An OK message has
 *     Rsvp.key and the RSVP's identity: rsvp_id and mtime when their text is an integer (as
 *     json_int_text reads it), event.event_id unless it holds U+0000; nothing else. */
rsvp_json_reason rsvp_json_parse(rsvp_json *p, const char *data, size_t len, Rsvp__V1__Rsvp **out);

/* rsvp_json_slow_path: 1 if the last rsvp_json_parse needed the parser's general path (strict: jsmn and
 * the validation pass; reference: the step-by-step reading of sparkjson.h) rather than the single
 * strict pass. For metrics and tests. */
int rsvp_json_slow_path(const rsvp_json *p);

/* rsvp_json_packed_bound: an upper bound of rsvp__v1__rsvp__get_packed_size() of the message the
 * last rsvp_json_parse on p returned, whatever the caller set ingest_time_ms to; O(1), so a caller
 * whose buffer is at least this large can pack without measuring first. */
size_t rsvp_json_packed_bound(const rsvp_json *p);

/* rsvp_json_parse_twopass: rsvp_json_parse without its single-pass fast path (strict: always jsmn,
 * then a separate validation pass; reference: always sparkjson.h): the same contract and, by design,
 * the same result and output for every input. For tests and fuzzing, which check that the two
 * agree; the service never needs it. */
rsvp_json_reason rsvp_json_parse_twopass(rsvp_json *p, const char *data, size_t len, Rsvp__V1__Rsvp **out);

/* rsvp_json_reason_str: the snake_case name of a reason ("not_json"), static; "unknown" if out of
 * range. */
const char *rsvp_json_reason_str(rsvp_json_reason r);

#endif
