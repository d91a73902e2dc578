/* sparkjson.h: Spark's from_json (PySpark 4.2.0, Jackson 2.21, PERMISSIVE mode, partial results on)
 * with the reference schema, reproduced step by step for one message: the bytes decoded as
 * java.io.InputStreamReader decodes them, Jackson's ReaderBasedJsonParser with Spark's reading features
 * (single quotes and NaN/Infinity allowed, leading zeros, comments, unquoted names and control
 * characters refused), including where it stands after each error it throws, and Spark's converters
 * on top of it (last key wins, a field that does not fit its type is NULL and the rest is kept, a
 * non-string value in a string field is its JSON text as Jackson's generator writes it). This is the
 * parser's slow path for input that is not plain RFC 8259 JSON; nothing here is fast. */
#ifndef SERVICES_PARSER_SPARKJSON_H
#define SERVICES_PARSER_SPARKJSON_H

#include <stddef.h>

#include "services/parser/refrow.h"

typedef struct sparkjson sparkjson;

/* What sj_parse found. */
enum {
    SJ_ROW = 0,       /* a row: every field read */
    SJ_PARTIAL = 1,   /* a row, but some fields were NULLed by a type mismatch or a JSON error */
    SJ_NOT_JSON = 2,  /* no row: the input is not a JSON object Spark can read (all columns NULL) */
    SJ_NOT_OBJECT = 3 /* no row: valid start, but the top level is not an object (or is empty) */
};

/* sj_new: a reusable emulator; its buffers grow with the largest message and are kept. On success
 * *out owns it. Returns 0 or ERR_NOMEM. sj_free: NULL-safe. */
int sj_new(sparkjson **out);
void sj_free(sparkjson *p);

/* sj_parse: from_json of data[0..len) into *row (strings owned by p: valid until the next sj_parse or
 * sj_free). Returns SJ_* or ERR_NOMEM (*row then unspecified). For SJ_NOT_JSON and SJ_NOT_OBJECT every
 * field of *row is NULL. */
int sj_parse(sparkjson *p, const char *data, size_t len, refrow *row);

#endif
