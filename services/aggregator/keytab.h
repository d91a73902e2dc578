/* keytab.h: the aggregate key of the reference query (12 nullable columns) and an open-addressing
 * hash table key -> count delta whose keys live compactly in one arena. One table per assigned
 * partition; it is reset (arena emptied, capacity kept) each time its deltas were frozen. */
#ifndef SERVICES_AGGREGATOR_KEYTAB_H
#define SERVICES_AGGREGATOR_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

#include "proto/rsvp.pb-c.h"

/* Column order of the reference group-by (and of AggRow fields 1..12). */
enum {
    KEY_EVENT_NAME,
    KEY_EVENT_URL,
    KEY_EVENT_TIME,
    KEY_GROUP_NAME,
    KEY_GROUP_COUNTRY,
    KEY_GROUP_STATE,
    KEY_GROUP_CITY,
    KEY_RESPONSE, /* AggRow field 12, after the doubles there */
    KEY_NSTR      /* 8 string columns */
};
enum { KEY_GROUP_LAT, KEY_GROUP_LON, KEY_LAT, KEY_LON, KEY_NNUM /* 4 double columns */ };

/* keyview: one key, borrowed. str[i] == NULL means SQL NULL; str_len[i] is its byte length (the
 * string may contain anything but NUL). has_num[i] == 0 means NULL. The reference counts a key by
 * count(response): a key whose response is NULL exists with count 0. */
typedef struct keyview {
    const char *str[KEY_NSTR];
    size_t str_len[KEY_NSTR];
    double num[KEY_NNUM];
    int has_num[KEY_NNUM];
} keyview;

/* keytab_key_from_rsvp: fill *k from a decoded RSVP: its `key` submessage when present (reference
 * mode: the columns as they are), else the typed fields by the reference's rules (absent -> NULL,
 * event_time = decimal digits of event.time written into timebuf, venue absent -> lat/lon NULL,
 * response "yes"/"no" from the enum, NULL otherwise). k borrows r's strings and timebuf (at least
 * 24 bytes); both must outlive k. */
void keytab_key_from_rsvp(const Rsvp__V1__Rsvp *r, keyview *k, char timebuf[24]);

/* keytab_i64_dec: the decimal digits of v (the reference casts event.time, an int64, to a
 * string), NUL-terminated in out; returns their count (at most 20). */
size_t keytab_i64_dec(int64_t v, char out[24]);

/* keytab_norm_double: -0.0 -> 0.0 and every NaN -> one canonical NaN, so keys compare bitwise. */
double keytab_norm_double(double d);

typedef struct keytab keytab;

/* keytab_new: an empty table. Returns NULL on ERR_NOMEM. */
keytab *keytab_new(void);
/* keytab_free: NULL-safe. */
void keytab_free(keytab *t);

/* keytab_add: delta += d for key k (created with delta 0 first if new; d may be 0, which still
 * creates the key, as Spark's count() of a NULL response does). Doubles are normalised here.
 * Returns 0, ERR_NOMEM or ERR_RANGE (arena over 4 GiB); on error the table is unchanged. */
int keytab_add(keytab *t, const keyview *k, int64_t d);

/* keytab_encoded_max: an upper bound of the bytes keytab_encode writes for k. keytab_encode: the
 * canonical bytes of k (doubles normalised; equal keys <=> equal bytes) into out, which has room for
 * keytab_encoded_max(k); returns their length. keytab_hash: the table's hash of such bytes. */
size_t keytab_encoded_max(const keyview *k);
size_t keytab_encode(const keyview *k, unsigned char *out);
uint32_t keytab_hash(const unsigned char *key, size_t len);

/* keytab_add_encoded: keytab_add for a key already encoded: key[0..len) from keytab_encode and
 * h == keytab_hash(key, len) (the bytes are copied). Same results and errors as keytab_add. */
int keytab_add_encoded(keytab *t, const unsigned char *key, size_t len, uint32_t h, int64_t d);

/* keytab_prefetch: a hint, no effect on results: a key of hash h will be added soon. record == 0
 * starts loading its slot; record != 0 (once the slot is likely cached) starts loading the record the
 * slot points to, if its hash matches. Lets a caller overlap the memory latency of several adds. */
void keytab_prefetch(const keytab *t, uint32_t h, int record);

/* keytab_count: live keys. keytab_bytes: memory held (slots + arena capacity). */
size_t keytab_count(const keytab *t);
size_t keytab_bytes(const keytab *t);
/* keytab_used_bytes: slots + arena bytes in use (keytab_bytes minus growth slack). */
size_t keytab_used_bytes(const keytab *t);
/* keytab_key_bytes: bytes of the encoded keys (+12 per key): close to the packed size of the rows. */
size_t keytab_key_bytes(const keytab *t);

/* keytab_next: iterate in insertion order. Start with *pos = 0; returns 1 and fills *k, *delta
 * (strings NUL-terminated inside the table, valid until the next add/reset/free) or 0 at the end. */
int keytab_next(const keytab *t, size_t *pos, keyview *k, int64_t *delta);

/* keytab_reset: drop every key; keeps the allocated capacity for the next range. */
void keytab_reset(keytab *t);

#endif
