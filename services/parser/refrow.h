/* refrow.h: what the reference job's from_json makes of one message: the reference schema
 * (bench/spark/reference.py) with every leaf a string or NULL and every struct present or NULL
 * (group.group_topics, which no key column depends on, is left out). The parser's reference mode fills
 * it (sparkjson.c every leaf; rsvp_json.c's fast path those of the key and the RSVP's identity) and
 * reads the key from it. */
#ifndef SERVICES_PARSER_REFROW_H
#define SERVICES_PARSER_REFROW_H

#include <stddef.h>
#include <stdint.h>
#include <stdint.h>

/* The leaves, struct by struct in the schema's order. A leaf of a NULL struct is NULL. */
enum {
    RF_VENUE_NAME,
    RF_VENUE_LON,
    RF_VENUE_LAT,
    RF_VENUE_ID,
    RF_VISIBILITY,
    RF_RESPONSE,
    RF_GUESTS,
    RF_MEMBER_ID,
    RF_PHOTO,
    RF_MEMBER_NAME,
    RF_RSVP_ID,
    RF_MTIME,
    RF_EVENT_NAME,
    RF_EVENT_ID,
    RF_TIME,
    RF_EVENT_URL,
    RF_GROUP_CITY,
    RF_GROUP_COUNTRY,
    RF_GROUP_ID,
    RF_GROUP_NAME,
    RF_GROUP_LON,
    RF_GROUP_URLNAME,
    RF_GROUP_STATE,
    RF_GROUP_LAT,
    RF_NLEAF
};

/* The structs (bits of refrow.structs). */
enum { RF_VENUE = 1, RF_MEMBER = 2, RF_EVENT = 4, RF_GROUP = 8 };

/* A string value: p == NULL is NULL; otherwise n bytes of UTF-8 (may contain NUL). */
typedef struct refstr {
    const char *p;
    size_t n;
} refstr;

typedef struct refrow {
    refstr leaf[RF_NLEAF];
    unsigned structs;           /* RF_* bits of the structs that are not NULL */
    uint32_t nul;               /* bit i: leaf i may contain U+0000 (otherwise it does not) */
    uint32_t num;               /* bit i: leaf i is a coordinate already read as a double: num_value[i] */
    double num_value[RF_NLEAF]; /* last: a reader may clear the row up to here */
} refrow;

#endif
