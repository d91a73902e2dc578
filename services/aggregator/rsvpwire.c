/* rsvpwire.c: a protobuf wire walker over rsvp.v1.Rsvp driven by one small table per message type
 * (field number -> wire type, what to keep). It mirrors protobuf-c 1.4.1's unpack rules exactly,
 * quirks included, because a payload it accepts is counted and one it rejects is a decode error. */
#include "services/aggregator/rsvpwire.h"

#include <string.h>

#include "common/err.h"

/* Wire types (protobuf encoding). protobuf-c rejects 3/4 (groups) and 6/7. */
enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

/* What to do with a known field once its wire type matched. */
enum { ACT_SKIP, ACT_STR, ACT_NUM, ACT_KSTR, ACT_KNUM, ACT_TIME, ACT_RESPONSE, ACT_INGEST, ACT_MSG, ACT_KEY };

typedef struct wmsg wmsg;

typedef struct wfield {
    unsigned char known; /* 0: not in the schema (skipped like an unknown field) */
    unsigned char wt;    /* the only wire type protobuf-c accepts for it */
    unsigned char act;
    unsigned char slot; /* KEY_* index for ACT_STR / ACT_NUM (typed fields), ACT_KSTR / ACT_KNUM (Key) */
    const wmsg *sub;    /* ACT_MSG, ACT_KEY: the nested message's table (validated recursively) */
} wfield;

struct wmsg {
    unsigned nfields; /* field numbers 0 .. nfields-1 */
    const wfield *f;
    int strings_only; /* every known field is a string the key does not use (walk_strings) */
};

#define SKIP(w)                                                                                              \
    {                                                                                                        \
        1, (w), ACT_SKIP, 0, NULL                                                                            \
    }
#define STR(slot)                                                                                            \
    {                                                                                                        \
        1, WT_LEN, ACT_STR, (slot), NULL                                                                     \
    }
#define NUM(slot)                                                                                            \
    {                                                                                                        \
        1, WT_64BIT, ACT_NUM, (slot), NULL                                                                   \
    }
#define MSG(m)                                                                                               \
    {                                                                                                        \
        1, WT_LEN, ACT_MSG, 0, &(m)                                                                          \
    }
#define KSTR(slot)                                                                                           \
    {                                                                                                        \
        1, WT_LEN, ACT_KSTR, (slot), NULL                                                                    \
    }
#define KNUM(slot)                                                                                           \
    {                                                                                                        \
        1, WT_64BIT, ACT_KNUM, (slot), NULL                                                                  \
    }

/* Field numbers and types: proto/rsvp.proto. Every field of every message reachable from Rsvp is
 * listed, because protobuf-c checks the wire type of each one it knows, however deep. */
static const wfield other_service_f[] = {{0}, SKIP(WT_LEN), SKIP(WT_LEN)};
static const wmsg other_service_m = {3, other_service_f, 1};

static const wfield member_f[] = {{0}, SKIP(WT_VARINT), SKIP(WT_LEN), SKIP(WT_LEN), MSG(other_service_m)};
static const wmsg member_m = {5, member_f, 0};

static const wfield group_topic_f[] = {{0}, SKIP(WT_LEN), SKIP(WT_LEN)};
static const wmsg group_topic_m = {3, group_topic_f, 1};

static const wfield venue_f[] = {{0}, SKIP(WT_LEN), NUM(KEY_LAT), NUM(KEY_LON), SKIP(WT_VARINT)};
static const wmsg venue_m = {5, venue_f, 0};

static const wfield event_f[] = {
    {0}, STR(KEY_EVENT_NAME), SKIP(WT_LEN), {1, WT_VARINT, ACT_TIME, 0, NULL}, STR(KEY_EVENT_URL)};
static const wmsg event_m = {5, event_f, 0};

static const wfield group_f[] = {{0},
                                 MSG(group_topic_m),
                                 STR(KEY_GROUP_CITY),
                                 STR(KEY_GROUP_COUNTRY),
                                 SKIP(WT_VARINT),
                                 STR(KEY_GROUP_NAME),
                                 NUM(KEY_GROUP_LON),
                                 SKIP(WT_LEN),
                                 STR(KEY_GROUP_STATE),
                                 NUM(KEY_GROUP_LAT)};
static const wmsg group_m = {10, group_f, 0};

/* Key: the reference's columns in AggRow's field order (fields 1-7 and 12 strings, 8-11 doubles). */
static const wfield key_f[] = {{0},
                               KSTR(KEY_EVENT_NAME),
                               KSTR(KEY_EVENT_URL),
                               KSTR(KEY_EVENT_TIME),
                               KSTR(KEY_GROUP_NAME),
                               KSTR(KEY_GROUP_COUNTRY),
                               KSTR(KEY_GROUP_STATE),
                               KSTR(KEY_GROUP_CITY),
                               KNUM(KEY_GROUP_LAT),
                               KNUM(KEY_GROUP_LON),
                               KNUM(KEY_LAT),
                               KNUM(KEY_LON),
                               KSTR(KEY_RESPONSE)};
static const wmsg key_m = {13, key_f, 0};

static const wfield rsvp_f[22] = {
    [1] = MSG(venue_m),
    [2] = SKIP(WT_LEN),
    [3] = {1, WT_VARINT, ACT_RESPONSE, 0, NULL},
    [4] = SKIP(WT_VARINT),
    [5] = MSG(member_m),
    [6] = SKIP(WT_VARINT),
    [7] = SKIP(WT_VARINT),
    [8] = MSG(event_m),
    [9] = MSG(group_m),
    [20] = {1, WT_VARINT, ACT_INGEST, 0, NULL},
    [21] = {1, WT_LEN, ACT_KEY, 0, &key_m},
};
static const wmsg rsvp_m = {22, rsvp_f, 0};

/* What the walk collects; a field seen twice keeps its last value, a message seen twice is merged
 * field by field, which is what protobuf-c's unpack (merge_messages) produces. */
typedef struct wstate {
    keyview *k;  /* the key as the typed fields give it (strict mode) */
    keyview key; /* the Key submessage's columns (reference mode) */
    int has_key;
    int has_time, has_response;
    int64_t time, ingest;
    int32_t response;
} wstate;

/* parse_tag_and_wiretype: at most 5 bytes. A first byte with field number 0 and no continuation
 * bit is rejected; field number 0 spelt in two or more bytes is an unknown field. 0 = bad. */
static size_t get_tag(const unsigned char *p, size_t rem, uint32_t *tag, unsigned *wt)
{
    size_t max = rem > 5 ? 5 : rem;
    if ((p[0] & 0xf8) == 0)
        return 0;
    uint32_t t = (uint32_t)(p[0] & 0x7f) >> 3;
    unsigned shift = 4;
    *wt = p[0] & 7;
    if (!(p[0] & 0x80)) {
        *tag = t;
        return 1;
    }
    for (size_t i = 1; i < max; i++) {
        if (p[i] & 0x80) {
            t |= (uint32_t)(p[i] & 0x7f) << shift;
            shift += 7;
        } else {
            t |= (uint32_t)p[i] << shift;
            *tag = t;
            return i + 1;
        }
    }
    return 0;
}

/* A varint of at most 10 bytes, value modulo 2^64 (parse_uint64). 0 = unterminated. */
static size_t get_varint(const unsigned char *p, size_t rem, uint64_t *v)
{
    size_t max = rem > 10 ? 10 : rem;
    uint64_t r = 0;
    for (size_t i = 0; i < max; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* scan_length_prefixed_data: a length of at most 5 bytes (up to 35 bits), rejected over INT_MAX
 * (protobuf-c 1.4.1's guard against 32-bit overflow) or past the end. Returns prefix + length
 * (*hdr = prefix size), 0 = bad. */
static size_t get_len(const unsigned char *p, size_t rem, size_t *hdr)
{
    size_t max = rem < 5 ? rem : 5, i;
    uint64_t val = 0;
    unsigned shift = 0;
    for (i = 0; i < max; i++) {
        val |= (uint64_t)(p[i] & 0x7f) << shift;
        shift += 7;
        if (!(p[i] & 0x80))
            break;
    }
    if (i == max || val > INT32_MAX)
        return 0;
    *hdr = i + 1;
    return *hdr + val > rem ? 0 : *hdr + (size_t)val;
}

static int walk(const wmsg *m, const unsigned char *p, size_t n, wstate *st);

/* A strings_only message (GroupTopic, OtherService: several per RSVP): its usual shape, fields
 * with a one-byte tag of wire type 2 and a one-byte length, is checked in a tight loop; any other
 * byte sends the whole message through walk(), which gives the exact verdict (this loop records
 * nothing, so starting over is harmless). Every field it steps over would pass walk() as well: a
 * known field of these messages is a string, an unknown one of wire type 2 is skipped. */
static int walk_strings(const wmsg *m, const unsigned char *p, size_t n, wstate *st)
{
    const unsigned char *q = p;
    size_t r = n;
    while (r >= 2 && q[0] >= 8 && q[0] < 0x80 && (q[0] & 7) == WT_LEN && q[1] < 0x80 &&
           (size_t)q[1] + 2 <= r) {
        r -= (size_t)q[1] + 2;
        q += (size_t)q[1] + 2;
    }
    return r == 0 ? 0 : walk(m, p, n, st);
}

/* Walk one message of type m over p[0..n). Field order, repeats and nesting as protobuf-c reads
 * them; one-byte tags, lengths and varints (nearly all of them) take the short paths. */
static int walk(const wmsg *m, const unsigned char *p, size_t n, wstate *st)
{
    while (n > 0) {
        uint32_t tag;
        unsigned wt;
        size_t used;
        if (p[0] >= 8 && p[0] < 0x80) {
            tag = p[0] >> 3;
            wt = p[0] & 7;
            used = 1;
        } else if (!(used = get_tag(p, n, &tag, &wt))) {
            return ERR_INVALID;
        }
        p += used;
        n -= used;
        const wfield *f = tag < m->nfields && m->f[tag].known ? &m->f[tag] : NULL;
        /* protobuf-c rejects a known field of another wire type (its scan may reject the same
         * bytes earlier for another reason: the verdict is the same) */
        if (f && wt != f->wt)
            return ERR_INVALID;
        if (wt == WT_LEN) {
            size_t hdr, flen;
            if (n > 0 && p[0] < 0x80) {
                hdr = 1;
                flen = 1 + (size_t)p[0];
                if (flen > n)
                    return ERR_INVALID;
            } else if (!(flen = get_len(p, n, &hdr))) {
                return ERR_INVALID;
            }
            if (f && (f->act == ACT_STR || f->act == ACT_KSTR)) {
                keyview *k = f->act == ACT_STR ? st->k : &st->key;
                const char *s = (const char *)p + hdr;
                const char *nul = memchr(s, '\0', flen - hdr); /* protobuf-c hands out C strings */
                k->str[f->slot] = s;
                k->str_len[f->slot] = nul ? (size_t)(nul - s) : flen - hdr;
            } else if (f && (f->act == ACT_MSG || f->act == ACT_KEY)) {
                int rc = f->sub->strings_only ? walk_strings(f->sub, p + hdr, flen - hdr, st)
                                              : walk(f->sub, p + hdr, flen - hdr, st);
                if (rc)
                    return ERR_INVALID;
                if (f->act == ACT_KEY)
                    st->has_key = 1;
            }
            p += flen;
            n -= flen;
        } else if (wt == WT_VARINT) {
            uint64_t v;
            size_t vl;
            if (n > 0 && p[0] < 0x80) {
                v = p[0];
                vl = 1;
            } else if (!(vl = get_varint(p, n, &v))) {
                return ERR_INVALID;
            }
            if (f) {
                if (f->act == ACT_TIME) {
                    st->time = (int64_t)v;
                    st->has_time = 1;
                } else if (f->act == ACT_RESPONSE) {
                    st->response = (int32_t)(uint32_t)v; /* an enum is an int32: low 32 bits */
                    st->has_response = 1;
                } else if (f->act == ACT_INGEST) {
                    st->ingest = (int64_t)v;
                }
            }
            p += vl;
            n -= vl;
        } else if (wt == WT_64BIT) {
            if (n < 8)
                return ERR_INVALID;
            if (f && (f->act == ACT_NUM || f->act == ACT_KNUM)) {
                keyview *k = f->act == ACT_NUM ? st->k : &st->key;
                memcpy(&k->num[f->slot], p, 8);
                k->has_num[f->slot] = 1;
            }
            p += 8;
            n -= 8;
        } else if (wt == WT_32BIT) {
            if (n < 4)
                return ERR_INVALID;
            p += 4;
            n -= 4;
        } else {
            return ERR_INVALID; /* groups (3, 4) and 6, 7 */
        }
    }
    return 0;
}

int rsvpwire_key(const void *data, size_t len, keyview *k, char timebuf[24], int64_t *ingest_ms)
{
    memset(k, 0, sizeof *k);
    wstate st = {.k = k};
    if (walk(&rsvp_m, data, len, &st))
        return ERR_INVALID;
    *ingest_ms = st.ingest;
    if (st.has_key) { /* the whole key, whatever the typed fields say */
        *k = st.key;
        return 0;
    }
    if (st.has_time) {
        k->str_len[KEY_EVENT_TIME] = keytab_i64_dec(st.time, timebuf);
        k->str[KEY_EVENT_TIME] = timebuf;
    }
    if (st.has_response && (st.response == 1 || st.response == 2)) {
        k->str[KEY_RESPONSE] = st.response == 1 ? "yes" : "no";
        k->str_len[KEY_RESPONSE] = st.response == 1 ? 3 : 2;
    }
    return 0;
}
