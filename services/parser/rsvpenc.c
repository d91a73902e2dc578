/* rsvpenc.c: rsvp.v1.Rsvp to protobuf wire bytes in one pass (see rsvpenc.h). A submessage's length
 * is written in one byte before its body; a body of 128 bytes or more is moved up by the extra
 * bytes of its length once it is known, so nothing is written past the final size. The field
 * numbers and wire types are proto/rsvp.proto's; tests/unit/test_parser_rsvpenc.c compares every
 * byte with protobuf-c's. */
#include "services/parser/rsvpenc.h"

#include <string.h>

/* A field's key: (number << 3) | wire type, written as a varint. */
#define WT_VARINT  0
#define WT_FIXED64 1
#define WT_LEN     2
#define KEY(n, wt) ((uint32_t)(n) << 3 | (wt))

typedef struct enc {
    uint8_t *p;
    int unknown; /* a message had unknown fields: protobuf-c packs it instead */
} enc;

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* put_key: keys of this schema are below 2^14 (field 21 is the largest). */
static inline uint8_t *put_key(uint8_t *p, uint32_t key)
{
    if (key < 0x80) {
        *p++ = (uint8_t)key;
    } else {
        *p++ = (uint8_t)(key | 0x80);
        *p++ = (uint8_t)(key >> 7);
    }
    return p;
}

static inline void str(enc *e, uint32_t number, const char *s)
{
    if (!s)
        return;
    size_t n = strlen(s);
    uint8_t *p = put_key(e->p, KEY(number, WT_LEN));
    p = put_varint(p, n);
    memcpy(p, s, n);
    e->p = p + n;
}

/* int64, and int32 and enums, which protobuf-c sign-extends to ten bytes when negative */
static inline void i64(enc *e, uint32_t number, int has, int64_t v)
{
    if (has)
        e->p = put_varint(put_key(e->p, KEY(number, WT_VARINT)), (uint64_t)v);
}

static inline void dbl(enc *e, uint32_t number, int has, double v)
{
    if (!has)
        return;
    uint64_t u;
    memcpy(&u, &v, 8);
    uint8_t *p = put_key(e->p, KEY(number, WT_FIXED64));
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i)); /* little-endian, the bits as they are */
    e->p = p + 8;
}

/* sub_begin/sub_end: a submessage's key and length around its body. */
static inline uint8_t *sub_begin(enc *e, uint32_t number, const ProtobufCMessage *base)
{
    e->unknown |= base->n_unknown_fields != 0;
    uint8_t *lenp = put_key(e->p, KEY(number, WT_LEN));
    e->p = lenp + 1;
    return lenp;
}

static inline void sub_end(enc *e, uint8_t *lenp)
{
    uint8_t *body = lenp + 1;
    size_t n = (size_t)(e->p - body);
    if (n < 0x80) {
        *lenp = (uint8_t)n;
        return;
    }
    size_t extra = varint_len(n) - 1;
    memmove(body + extra, body, n);
    put_varint(lenp, n);
    e->p += extra;
}

static void venue(enc *e, const Rsvp__V1__Venue *v)
{
    uint8_t *l = sub_begin(e, 1, &v->base);
    str(e, 1, v->venue_name);
    dbl(e, 2, v->has_lat, v->lat);
    dbl(e, 3, v->has_lon, v->lon);
    i64(e, 4, v->has_venue_id, v->venue_id);
    sub_end(e, l);
}

static void member(enc *e, const Rsvp__V1__Member *m)
{
    uint8_t *l = sub_begin(e, 5, &m->base);
    i64(e, 1, m->has_member_id, m->member_id);
    str(e, 2, m->member_name);
    str(e, 3, m->photo);
    for (size_t i = 0; i < m->n_other_services; i++) {
        const Rsvp__V1__OtherService *o = m->other_services[i];
        uint8_t *lo = sub_begin(e, 4, &o->base);
        str(e, 1, o->service);
        str(e, 2, o->identifier);
        sub_end(e, lo);
    }
    sub_end(e, l);
}

static void event(enc *e, const Rsvp__V1__Event *v)
{
    uint8_t *l = sub_begin(e, 8, &v->base);
    str(e, 1, v->event_name);
    str(e, 2, v->event_id);
    i64(e, 3, v->has_time, v->time);
    str(e, 4, v->event_url);
    sub_end(e, l);
}

static void group(enc *e, const Rsvp__V1__Group *g)
{
    uint8_t *l = sub_begin(e, 9, &g->base);
    for (size_t i = 0; i < g->n_group_topics; i++) {
        const Rsvp__V1__GroupTopic *t = g->group_topics[i];
        uint8_t *lt = sub_begin(e, 1, &t->base);
        str(e, 1, t->urlkey);
        str(e, 2, t->topic_name);
        sub_end(e, lt);
    }
    str(e, 2, g->group_city);
    str(e, 3, g->group_country);
    i64(e, 4, g->has_group_id, g->group_id);
    str(e, 5, g->group_name);
    dbl(e, 6, g->has_group_lon, g->group_lon);
    str(e, 7, g->group_urlname);
    str(e, 8, g->group_state);
    dbl(e, 9, g->has_group_lat, g->group_lat);
    sub_end(e, l);
}

static void key(enc *e, const Rsvp__V1__Key *k)
{
    uint8_t *l = sub_begin(e, 21, &k->base);
    str(e, 1, k->event_name);
    str(e, 2, k->event_url);
    str(e, 3, k->event_time);
    str(e, 4, k->group_name);
    str(e, 5, k->group_country);
    str(e, 6, k->group_state);
    str(e, 7, k->group_city);
    dbl(e, 8, k->has_group_lat, k->group_lat);
    dbl(e, 9, k->has_group_lon, k->group_lon);
    dbl(e, 10, k->has_lat, k->lat);
    dbl(e, 11, k->has_lon, k->lon);
    str(e, 12, k->response);
    sub_end(e, l);
}

size_t rsvpenc_pack(const Rsvp__V1__Rsvp *x, uint8_t *out)
{
    enc e = {out, x->base.n_unknown_fields != 0};
    if (x->venue)
        venue(&e, x->venue);
    str(&e, 2, x->visibility);
    i64(&e, 3, x->has_response, (int32_t)x->response);
    i64(&e, 4, x->has_guests, x->guests);
    if (x->member)
        member(&e, x->member);
    i64(&e, 6, x->has_rsvp_id, x->rsvp_id);
    i64(&e, 7, x->has_mtime, x->mtime);
    if (x->event)
        event(&e, x->event);
    if (x->group)
        group(&e, x->group);
    i64(&e, 20, x->has_ingest_time_ms, x->ingest_time_ms);
    if (x->key)
        key(&e, x->key);
    if (e.unknown)
        return rsvp__v1__rsvp__pack(x, out);
    return (size_t)(e.p - out);
}
