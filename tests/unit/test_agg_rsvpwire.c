/* test_agg_rsvpwire.c: the aggregator's wire decoder (rsvpwire.c) against the path it replaced,
 * protobuf-c's unpack + keytab_key_from_rsvp: for every input (recorded RSVPs, crafted edge cases,
 * hand-made wire bytes, and thousands of truncated, bit-flipped and random mutations of them) both
 * must agree on accept/reject and, when accepted, on the 12 key columns and the ingest time. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "proto/rsvp.pb-c.h"
#include "services/aggregator/keytab.h"
#include "services/aggregator/rsvpwire.h"
#include "services/parser/rsvp_json.h"
#include "tests/unit/testdata.h"

static size_t g_accepted, g_rejected; /* how many inputs took each path (the test checks both ran) */

/* ---- the oracle ---- */

static void hex(const uint8_t *d, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%02x", d[i]);
    if (n * 2 + 4 >= cap && o + 4 < cap)
        snprintf(out + o, cap - o, "...");
}

/* Both decoders on data[0..len): identical verdict, key and ingest time, or the test fails. */
static void check_same(const uint8_t *data, size_t len)
{
    keyview kn;
    char tbn[24], tbo[24];
    int64_t ingest = -12345;
    int rcn = rsvpwire_key(data, len, &kn, tbn, &ingest);
    Rsvp__V1__Rsvp *r = rsvp__v1__rsvp__unpack(NULL, len, data);
    char h[600];
    if (!r) {
        if (rcn != ERR_INVALID) {
            hex(data, len, h, sizeof h);
            fail_msg("protobuf-c rejects, rsvpwire accepts (rc %d): %zu bytes %s", rcn, len, h);
        }
        g_rejected++;
        return;
    }
    if (rcn != 0) {
        hex(data, len, h, sizeof h);
        fail_msg("protobuf-c accepts, rsvpwire rejects: %zu bytes %s", len, h);
    }
    keyview ko;
    keytab_key_from_rsvp(r, &ko, tbo);
    int64_t ingest_old = r->has_ingest_time_ms ? r->ingest_time_ms : 0;
    const char *what = NULL;
    int col = -1;
    for (int i = 0; i < KEY_NSTR && !what; i++) {
        if (!ko.str[i] != !kn.str[i])
            what = "string NULL-ness", col = i;
        else if (ko.str[i] &&
                 (ko.str_len[i] != kn.str_len[i] || memcmp(ko.str[i], kn.str[i], ko.str_len[i]) != 0))
            what = "string bytes", col = i;
    }
    for (int i = 0; i < KEY_NNUM && !what; i++) {
        if (ko.has_num[i] != kn.has_num[i])
            what = "double NULL-ness", col = i;
        else if (ko.has_num[i] && memcmp(&ko.num[i], &kn.num[i], sizeof(double)) != 0)
            what = "double bits", col = i;
    }
    if (!what && ingest_old != ingest)
        what = "ingest time";
    rsvp__v1__rsvp__free_unpacked(r, NULL);
    if (what) {
        hex(data, len, h, sizeof h);
        fail_msg("decoders differ in %s (column %d): %zu bytes %s", what, col, len, h);
    }
    g_accepted++;
}

/* ---- inputs ---- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{ /* xorshift64*: reproducible */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dull;
}

/* Truncations at every length, every byte xor'ed with a few masks, and random byte edits. */
static void check_mutations(const uint8_t *d, size_t n, int thorough)
{
    uint8_t *m = malloc(n + 16);
    assert_non_null(m);
    for (size_t cut = 0; cut < n; cut++)
        check_same(d, cut);
    static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x07, 0x80, 0xff};
    size_t step = thorough ? 1 : (n / 64 + 1);
    for (size_t i = 0; i < n; i += step)
        for (size_t j = 0; j < sizeof masks; j++) {
            memcpy(m, d, n);
            m[i] ^= masks[j];
            check_same(m, n);
        }
    for (int t = 0; t < (thorough ? 400 : 40); t++) {
        memcpy(m, d, n);
        size_t len = n;
        for (int e = 0; e < 1 + (int)(rnd() % 3); e++) {
            size_t at = len ? rnd() % len : 0;
            switch (rnd() % 3) {
            case 0: /* overwrite */
                if (len)
                    m[at] = (uint8_t)rnd();
                break;
            case 1: /* insert */
                memmove(m + at + 1, m + at, len - at);
                m[at] = (uint8_t)rnd();
                len++;
                break;
            default: /* delete */
                if (len) {
                    memmove(m + at, m + at + 1, len - at - 1);
                    len--;
                }
            }
        }
        check_same(m, len); /* at most 3 insertions: the buffer has 16 bytes of room */
    }
    free(m);
}

static void pack_check(const Rsvp__V1__Rsvp *r, buf *out)
{
    size_t n = rsvp__v1__rsvp__get_packed_size(r);
    buf_reset(out);
    assert_int_equal(buf_reserve(out, n), 0);
    out->len = rsvp__v1__rsvp__pack(r, (uint8_t *)out->data);
    check_same((const uint8_t *)out->data, out->len);
}

/* A full RSVP whose parts the cases below change one at a time. */
typedef struct sample {
    Rsvp__V1__Rsvp r;
    Rsvp__V1__Venue v;
    Rsvp__V1__Event e;
    Rsvp__V1__Group g;
    Rsvp__V1__Member m;
    Rsvp__V1__OtherService os;
    Rsvp__V1__OtherService *osp[1];
    Rsvp__V1__GroupTopic gt[2];
    Rsvp__V1__GroupTopic *gtp[2];
    Rsvp__V1__Key k; /* set as r.key by the cases that want one */
} sample;

static void sample_init(sample *s)
{
    rsvp__v1__rsvp__init(&s->r);
    rsvp__v1__venue__init(&s->v);
    rsvp__v1__event__init(&s->e);
    rsvp__v1__group__init(&s->g);
    rsvp__v1__member__init(&s->m);
    rsvp__v1__other_service__init(&s->os);
    rsvp__v1__key__init(&s->k);
    s->k.event_name = "Key walk";
    s->k.event_time = "1.527E12";
    s->k.group_city = " Victoria";
    s->k.has_lat = s->k.has_group_lon = 1;
    s->k.lat = 48.5;
    s->k.group_lon = -123.25;
    s->k.response = "maybe";
    s->v.venue_name = "Hall";
    s->v.has_lat = s->v.has_lon = s->v.has_venue_id = 1;
    s->v.lat = 48.497765;
    s->v.lon = -123.379341;
    s->v.venue_id = 42;
    s->e.event_name = " Walk in the park ";
    s->e.event_id = "abc123";
    s->e.has_time = 1;
    s->e.time = 1527350400000;
    s->e.event_url = "https://www.meetup.com/x/events/1/";
    s->g.group_city = "Victoria";
    s->g.group_country = "ca";
    s->g.has_group_id = 1;
    s->g.group_id = 7;
    s->g.group_name = "Club";
    s->g.has_group_lon = s->g.has_group_lat = 1;
    s->g.group_lon = -123.35;
    s->g.group_lat = 48.42;
    s->g.group_urlname = "club";
    s->g.group_state = "BC";
    for (int i = 0; i < 2; i++) {
        rsvp__v1__group_topic__init(&s->gt[i]);
        s->gt[i].urlkey = i ? "hiking" : "walks";
        s->gt[i].topic_name = i ? "Hiking" : "Walks";
        s->gtp[i] = &s->gt[i];
    }
    s->g.n_group_topics = 2;
    s->g.group_topics = s->gtp;
    s->m.has_member_id = 1;
    s->m.member_id = 99;
    s->m.member_name = "Ann";
    s->m.photo = "https://x/p.jpg";
    s->os.service = "twitter";
    s->os.identifier = "@ann";
    s->osp[0] = &s->os;
    s->m.n_other_services = 1;
    s->m.other_services = s->osp;
    s->r.venue = &s->v;
    s->r.visibility = "public";
    s->r.has_response = 1;
    s->r.response = RSVP__V1__RESPONSE__RESPONSE_YES;
    s->r.has_guests = 1;
    s->r.guests = 0;
    s->r.member = &s->m;
    s->r.has_rsvp_id = s->r.has_mtime = 1;
    s->r.rsvp_id = 1700000000;
    s->r.mtime = 1527000000000;
    s->r.event = &s->e;
    s->r.group = &s->g;
    s->r.has_ingest_time_ms = 1;
    s->r.ingest_time_ms = 1700000000123;
}

/* Crafted RSVPs (packed by protobuf-c), each checked as is and mutated. */
static void test_crafted_rsvps_agree(void **state)
{
    (void)state;
    buf b = {0};
    static char big[6000];
    memset(big, 'x', sizeof big - 1);
    char *const strs[] = {"",
                          " ",
                          "Zürich café",
                          "東京 ハイキング",
                          "emoji \xf0\x9f\x8e\x89 ok",
                          "tab\tand\nnewline",
                          "\"quoted\" \\ back",
                          big};
    const double nums[] = {0.0, -0.0, NAN, -NAN, INFINITY, -INFINITY, 1e-310, -1e300, 90.0};
    const int64_t times[] = {0, -1, 1, INT64_MIN, INT64_MAX, 1527350400000, -1527350400000};
    const int32_t resps[] = {0, 1, 2, 3, -1, -2, INT32_MAX, INT32_MIN};
    for (int c = 0; c < 64; c++) {
        sample s;
        sample_init(&s);
        switch (c) {
        case 0: break;
        case 1: s.r.venue = NULL; break;
        case 2: s.v.has_lat = s.v.has_lon = 0; break;
        case 3: s.v.has_lon = 0; break;
        case 4: s.v.lat = s.v.lon = 0.0; break;
        case 5: s.v.lat = s.v.lon = -0.0; break;
        case 6: s.g.group_state = NULL; break;
        case 7: s.r.group = NULL; break;
        case 8:
            s.g.has_group_lat = 0;
            s.g.group_name = NULL;
            break;
        case 9: s.r.event = NULL; break;
        case 10: s.e.has_time = 0; break;
        case 11: s.e.event_name = s.e.event_url = NULL; break;
        case 12: s.r.has_response = 0; break;
        case 13: s.r.response = RSVP__V1__RESPONSE__RESPONSE_NO; break;
        case 14: s.r.has_ingest_time_ms = 0; break;
        case 15: s.r.ingest_time_ms = 0; break;
        case 16: s.r.ingest_time_ms = -5; break;
        case 17:
            s.r.member = NULL;
            s.g.n_group_topics = 0;
            break;
        case 18:
            s.m.n_other_services = 0;
            s.m.photo = NULL;
            break;
        case 19: /* only the key fields */
            s.r.member = NULL;
            s.r.visibility = NULL;
            s.r.has_guests = s.r.has_rsvp_id = 0;
            s.r.has_mtime = 0;
            s.g.n_group_topics = 0;
            s.g.group_urlname = NULL;
            s.g.has_group_id = 0;
            s.e.event_id = NULL;
            s.v.venue_name = NULL;
            s.v.has_venue_id = 0;
            break;
        case 20: rsvp__v1__rsvp__init(&s.r); break; /* empty message */
        case 21:
            s.r.venue = NULL;
            s.r.group = NULL;
            s.r.event = NULL;
            break;
        default: {
            int i = c - 22;
            s.e.event_name = strs[i % 8];
            s.g.group_city = strs[(i + 3) % 8];
            s.g.group_state = strs[(i + 5) % 8];
            s.v.lat = nums[i % 9];
            s.g.group_lon = nums[(i + 4) % 9];
            s.e.time = times[i % 7];
            s.r.response = (Rsvp__V1__Response)resps[i % 8];
            if (i % 3 == 0) { /* reference mode: the Key submessage is the key */
                s.r.key = &s.k;
                s.k.event_url = strs[(i + 1) % 8];
                s.k.response = i % 2 ? strs[(i + 2) % 8] : NULL;
                s.k.lon = nums[(i + 2) % 9];
                s.k.has_lon = i % 4 != 0;
                s.k.has_group_lat = 1;
                s.k.group_lat = nums[(i + 6) % 9];
            }
        }
        }
        pack_check(&s.r, &b);
        check_mutations((const uint8_t *)b.data, b.len, c < 24);
    }
    buf_free(&b);
}

/* ---- hand-made wire bytes: what protobuf-c's packer never writes ---- */

static void w_varint(buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        assert_int_equal(buf_append(b, &c, 1), 0);
    } while (v);
}
static void w_tag(buf *b, uint64_t field, unsigned wt)
{
    w_varint(b, field << 3 | wt);
}
static void w_bytes(buf *b, uint64_t field, const void *p, size_t n)
{
    w_tag(b, field, 2);
    w_varint(b, n);
    assert_int_equal(buf_append(b, p, n), 0);
}
static void w_f64(buf *b, uint64_t field, double d)
{
    w_tag(b, field, 1);
    assert_int_equal(buf_append(b, &d, 8), 0);
}
static void w_raw(buf *b, const char *hexs)
{
    for (; hexs[0] && hexs[1]; hexs += 2) {
        char two[3] = {hexs[0], hexs[1], 0};
        uint8_t c = (uint8_t)strtoul(two, NULL, 16);
        assert_int_equal(buf_append(b, &c, 1), 0);
    }
}

/* A valid Event / Group / Venue body into b (field values chosen to show up in the key). */
static void w_event(buf *b, const char *name, int with_time)
{
    w_bytes(b, 1, name, strlen(name));
    w_bytes(b, 4, "https://e/1", 11);
    if (with_time) {
        w_tag(b, 3, 0);
        w_varint(b, 1527350400000);
    }
}

typedef void (*wire_case)(buf *b);

static void wc_nul_in_string(buf *b)
{
    w_bytes(b, 8,
            "\x0a\x05"
            "ab\0cd",
            7);
}
static void wc_nul_first(buf *b)
{
    w_bytes(b, 8, "\x0a\x02\0x", 4);
}
static void wc_twice_event(buf *b)
{ /* merged: name from the 2nd, time from the 1st */
    buf e = {0};
    w_event(&e, "first", 1);
    w_bytes(b, 8, e.data, e.len);
    buf_reset(&e);
    w_bytes(&e, 1, "second", 6);
    w_bytes(b, 8, e.data, e.len);
    buf_free(&e);
}
static void wc_twice_scalar(buf *b)
{
    w_tag(b, 3, 0);
    w_varint(b, 2);
    w_tag(b, 3, 0);
    w_varint(b, 1);
    w_tag(b, 20, 0);
    w_varint(b, 5);
    w_tag(b, 20, 0);
    w_varint(b, 0);
}
static void wc_venue_twice(buf *b)
{
    buf v = {0};
    w_f64(&v, 2, 1.5);
    w_bytes(b, 1, v.data, v.len);
    buf_reset(&v);
    w_f64(&v, 3, -0.0);
    w_bytes(b, 1, v.data, v.len);
    buf_free(&v);
}
static void wc_empty_venue(buf *b)
{
    w_bytes(b, 1, "", 0);
}
static void wc_unknown_top(buf *b)
{
    w_event(b, "x", 0);
    w_tag(b, 10, 0);
    w_varint(b, UINT64_MAX);
    w_tag(b, 11, 1);
    w_raw(b, "0102030405060708");
    w_tag(b, 12, 5);
    w_raw(b, "01020304");
    w_bytes(b, 13, "junk", 4);
    w_tag(b, 19, 2);
    w_varint(b, 0);
    w_tag(b, 22, 0);
    w_varint(b, 1);
    w_tag(b, 1000, 2);
    w_varint(b, 1);
    w_raw(b, "ff");
    w_tag(b, (1u << 28) + 3, 0);
    w_varint(b, 3); /* 5-byte tag */
}
/* the Key submessage twice: merged field by field; then a typed response beside it (ignored) */
static void wc_key_twice(buf *b)
{
    buf k = {0};
    w_bytes(&k, 1, "first", 5);
    w_bytes(&k, 12, "maybe", 5);
    w_f64(&k, 10, 1.5);
    w_bytes(b, 21, k.data, k.len);
    buf_reset(&k);
    w_bytes(&k, 12, "no\0pe", 5);
    w_f64(&k, 11, -0.0);
    w_bytes(b, 21, k.data, k.len);
    w_tag(b, 3, 0);
    w_varint(b, 1);
    buf_free(&k);
}
static void wc_key_empty(buf *b)
{
    w_bytes(b, 21, "", 0);
}
static void wc_key_double_as_varint(buf *b)
{
    w_bytes(b, 21, "\x40\x01", 2);
}
static void wc_key_string_as_f64(buf *b)
{
    w_bytes(b, 21,
            "\x61"
            "12345678",
            9);
}
static void wc_key_unknown_field(buf *b)
{
    w_bytes(b, 21, "\x68\x05\x0a\x01x", 5);
}
static void wc_key_as_varint(buf *b)
{
    w_tag(b, 21, 0);
    w_varint(b, 7);
}
static void wc_unknown_nested(buf *b)
{
    buf e = {0};
    w_event(&e, "nested", 1);
    w_tag(&e, 5, 5);
    w_raw(&e, "00000000");
    w_tag(&e, 99, 1);
    w_raw(&e, "0000000000000000");
    w_bytes(&e, 7, "\x08\x01", 2);
    w_bytes(b, 8, e.data, e.len);
    buf_free(&e);
}
/* a known field with another wire type: protobuf-c rejects the whole message */
static void wc_event_as_varint(buf *b)
{
    w_tag(b, 8, 0);
    w_varint(b, 1);
}
static void wc_response_as_len(buf *b)
{
    w_bytes(b, 3, "\x01", 1);
}
static void wc_time_as_f64(buf *b)
{
    w_bytes(b, 8,
            "\x19"
            "12345678",
            9);
}
static void wc_lat_as_varint(buf *b)
{
    w_bytes(b, 9, "\x48\x01", 2);
}
static void wc_lat_as_f32(buf *b)
{
    w_bytes(b, 1,
            "\x15"
            "1234",
            5);
}
static void wc_member_id_as_len(buf *b)
{
    w_bytes(b, 5, "\x0a\x01x", 3);
}
static void wc_other_service_bad(buf *b)
{
    w_bytes(b, 5, "\x22\x02\x08\x01", 4);
}
static void wc_group_topic_bad(buf *b)
{
    w_bytes(b, 9, "\x0a\x03\x0a\x05x", 5);
}
static void wc_group_topic_varint(buf *b)
{
    w_bytes(b, 9, "\x08\x01", 2);
}
/* GroupTopic / OtherService bodies (rsvpwire's strings-only fast path and its fallback) */
static void wc_group_topic_field0(buf *b)
{
    w_bytes(b, 9, "\x0a\x02\x02\x00", 4);
}
static void wc_other_service_field0(buf *b)
{
    w_bytes(b, 5, "\x22\x02\x02\x00", 4);
}
static void wc_group_topic_unknown_len(buf *b)
{
    w_bytes(b, 9, "\x0a\x05\x0a\x00\x1a\x01x", 7);
}
static void wc_group_topic_unknown_varint(buf *b)
{
    w_bytes(b, 9, "\x0a\x04\x12\x00\x18\x01", 6);
}
static void wc_group_topic_long_string(buf *b)
{ /* a two-byte length inside a topic */
    buf t = {0}, g = {0};
    static char s200[200];
    memset(s200, 'y', sizeof s200);
    w_bytes(&t, 1, s200, sizeof s200);
    w_bytes(&g, 1, t.data, t.len);
    w_bytes(b, 9, g.data, g.len);
    buf_free(&t);
    buf_free(&g);
}
static void wc_group_topic_overrun(buf *b)
{
    w_bytes(b, 9, "\x0a\x03\x0a\x05x", 5);
}
static void wc_visibility_varint(buf *b)
{
    w_tag(b, 2, 0);
    w_varint(b, 1);
}
static void wc_guests_f64(buf *b)
{
    w_tag(b, 4, 1);
    w_raw(b, "0000000000000000");
}
static void wc_group_wt3(buf *b)
{
    w_tag(b, 30, 3);
    w_tag(b, 30, 4);
}
static void wc_group_wt4(buf *b)
{
    w_tag(b, 30, 4);
}
static void wc_wt6(buf *b)
{
    w_tag(b, 30, 6);
}
static void wc_wt7_nested(buf *b)
{
    w_bytes(b, 8, "\x3f", 1);
}
static void wc_varint_10(buf *b)
{
    w_tag(b, 20, 0);
    w_raw(b, "ffffffffffffffffff7f");
}
static void wc_varint_11(buf *b)
{
    w_tag(b, 20, 0);
    w_raw(b, "ffffffffffffffffffff01");
}
static void wc_response_big(buf *b)
{
    w_tag(b, 3, 0);
    w_raw(b, "8180808010");
} /* 1 + 2^32 */
static void wc_time_10(buf *b)
{
    w_bytes(b, 8, "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
}
static void wc_tag_6_bytes(buf *b)
{
    w_raw(b, "f8ffffffff01");
}
static void wc_tag_5_bytes(buf *b)
{
    w_raw(b, "f8ffffff0f");
    w_varint(b, 0);
}
static void wc_tag_5_bytes_3(buf *b)
{
    w_raw(b, "9880808000");
    w_varint(b, 1);
} /* field 3, 5 bytes */
static void wc_tag_0_one_byte(buf *b)
{
    w_raw(b, "0000");
}
static void wc_tag_0_two_bytes(buf *b)
{
    w_raw(b, "800000");
} /* accepted as unknown by 1.4.1 */
static void wc_len_5_bytes(buf *b)
{
    w_tag(b, 13, 2);
    w_raw(b, "8180808000");
    w_raw(b, "aa");
}
static void wc_len_6_bytes(buf *b)
{
    w_tag(b, 13, 2);
    w_raw(b, "818080808000");
    w_raw(b, "aa");
}
static void wc_len_too_long(buf *b)
{
    w_tag(b, 2, 2);
    w_varint(b, 100);
    w_raw(b, "41");
}
static void wc_f64_short(buf *b)
{
    w_tag(b, 11, 1);
    w_raw(b, "01020304");
}
static void wc_f32_short(buf *b)
{
    w_tag(b, 11, 5);
    w_raw(b, "0102");
}
static void wc_many_fields(buf *b)
{ /* more members than protobuf-c's first scan slab */
    for (int i = 0; i < 300; i++) {
        w_tag(b, 3, 0);
        w_varint(b, (uint64_t)(i % 3));
    }
    for (int i = 0; i < 40; i++)
        wc_venue_twice(b);
}

static void test_wire_edge_cases_agree(void **state)
{
    (void)state;
    static const wire_case cases[] = {
        wc_nul_in_string,
        wc_nul_first,
        wc_twice_event,
        wc_twice_scalar,
        wc_venue_twice,
        wc_empty_venue,
        wc_unknown_top,
        wc_unknown_nested,
        wc_key_twice,
        wc_key_empty,
        wc_key_double_as_varint,
        wc_key_string_as_f64,
        wc_key_unknown_field,
        wc_key_as_varint,
        wc_event_as_varint,
        wc_response_as_len,
        wc_time_as_f64,
        wc_lat_as_varint,
        wc_lat_as_f32,
        wc_member_id_as_len,
        wc_other_service_bad,
        wc_group_topic_bad,
        wc_group_topic_varint,
        wc_group_topic_field0,
        wc_other_service_field0,
        wc_group_topic_unknown_len,
        wc_group_topic_unknown_varint,
        wc_group_topic_long_string,
        wc_group_topic_overrun,
        wc_visibility_varint,
        wc_guests_f64,
        wc_group_wt3,
        wc_group_wt4,
        wc_wt6,
        wc_wt7_nested,
        wc_varint_10,
        wc_varint_11,
        wc_response_big,
        wc_time_10,
        wc_tag_6_bytes,
        wc_tag_5_bytes,
        wc_tag_5_bytes_3,
        wc_tag_0_one_byte,
        wc_tag_0_two_bytes,
        wc_len_5_bytes,
        wc_len_6_bytes,
        wc_len_too_long,
        wc_f64_short,
        wc_f32_short,
        wc_many_fields,
    };
    size_t acc0 = g_accepted, rej0 = g_rejected;
    buf b = {0}, full = {0};
    sample s;
    sample_init(&s);
    size_t n = rsvp__v1__rsvp__get_packed_size(&s.r);
    assert_int_equal(buf_reserve(&full, n), 0);
    full.len = rsvp__v1__rsvp__pack(&s.r, (uint8_t *)full.data);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&b);
        cases[i](&b);
        check_same((const uint8_t *)b.data, b.len);
        check_mutations((const uint8_t *)b.data, b.len, 1);
        /* the same bytes after and before a whole valid RSVP (merge order matters) */
        buf c = {0};
        assert_int_equal(buf_append(&c, full.data, full.len), 0);
        assert_int_equal(buf_append(&c, b.data, b.len), 0);
        check_same((const uint8_t *)c.data, c.len);
        buf_reset(&c);
        assert_int_equal(buf_append(&c, b.data, b.len), 0);
        assert_int_equal(buf_append(&c, full.data, full.len), 0);
        check_same((const uint8_t *)c.data, c.len);
        buf_free(&c);
    }
    /* lengths around INT_MAX, around 2^32 (a 32-bit sum would wrap) and over 32 bits (5-byte
     * prefixes whose high bits a 32-bit parse would drop), known and unknown fields */
    static const uint64_t lens[] = {0x7ffffffeu,    0x7fffffffu,   0x80000000u,    0xfffffffbu,
                                    0xfffffffdu,    0xffffffffu,   0x100000000ull, 0x100000001ull,
                                    0x500000001ull, 0x7ffffffffull};
    for (uint64_t field = 2; field < 14; field += 6)
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            buf_reset(&b);
            w_tag(&b, field, 2);
            w_varint(&b, lens[i]);
            w_raw(&b, "0a00");
            check_same((const uint8_t *)b.data, b.len);
        }
    check_same(NULL, 0); /* an empty Kafka payload: an RSVP with every column NULL */
    /* both verdicts must have been exercised */
    assert_true(g_accepted > acc0 + 20);
    assert_true(g_rejected > rej0 + 20);
    buf_free(&b);
    buf_free(&full);
}

/* Random bytes, and random sequences of well-formed fields with random numbers and wire types. */
static void test_random_bytes_agree(void **state)
{
    (void)state;
    uint8_t d[256];
    for (int t = 0; t < 20000; t++) {
        size_t n = rnd() % sizeof d;
        for (size_t i = 0; i < n; i++)
            d[i] = (uint8_t)rnd();
        check_same(d, n);
    }
    buf b = {0};
    for (int t = 0; t < 50000; t++) {
        buf_reset(&b);
        int nf = (int)(rnd() % 8);
        for (int f = 0; f < nf; f++) {
            uint64_t field = rnd() % 24;
            unsigned wt = (unsigned)(rnd() % 8 == 0 ? rnd() % 8 : (uint64_t[]){0, 1, 2, 5}[rnd() % 4]);
            w_tag(&b, field, wt);
            if (wt == 0)
                w_varint(&b, rnd() >> (rnd() % 64));
            else if (wt == 1)
                w_raw(&b, "000000000000f03f");
            else if (wt == 5)
                w_raw(&b, "0000803f");
            else if (wt == 2 && rnd() % 8 == 0) { /* a raw length prefix of 1-6 bytes */
                size_t pl = 1 + rnd() % 6;
                for (size_t i = 0; i < pl; i++) {
                    uint8_t c = (uint8_t)rnd();
                    c = i + 1 < pl ? (uint8_t)(c | 0x80) : (uint8_t)(rnd() % 4 ? c & 0x7f : c);
                    assert_int_equal(buf_append(&b, &c, 1), 0);
                }
                w_raw(&b, "0a00");
            } else if (wt == 2) {
                uint8_t inner[32];
                size_t in = rnd() % 12;
                for (size_t i = 0; i < in; i++) /* often a valid nested field */
                    inner[i] = (uint8_t)(i % 2 == 0 ? ((rnd() % 10) << 3 | (rnd() % 3)) : rnd() % 4);
                w_varint(&b, in);
                assert_int_equal(buf_append(&b, inner, in), 0);
            }
        }
        check_same((const uint8_t *)b.data, b.len);
    }
    buf_free(&b);
}

/* Every recorded RSVP, through the parser as in the pipeline; some of them mutated. */
static void test_recorded_rsvps_agree(void **state)
{
    (void)state;
    char path[600];
    testdata_path(path, sizeof path, TESTDATA_RECORDED);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (set RSVP_DATA_DIR)", path);
    rsvp_json *pj;
    assert_int_equal(rsvp_json_new(&pj, NULL), 0);
    char *line = NULL;
    size_t lcap = 0, n = 0;
    ssize_t len;
    buf b = {0};
    while ((len = getline(&line, &lcap, f)) > 0) {
        Rsvp__V1__Rsvp *r;
        if (rsvp_json_parse(pj, line, (size_t)len, &r) != RSVP_JSON_OK)
            continue;
        r->has_ingest_time_ms = 1;
        r->ingest_time_ms = 1700000000000 + (int64_t)n;
        pack_check(r, &b);
        if (n % 100 == 0)
            check_mutations((const uint8_t *)b.data, b.len, 0);
        n++;
    }
    free(line);
    fclose(f);
    rsvp_json_free(pj);
    buf_free(&b);
    assert_true(n > 2800);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crafted_rsvps_agree),
        cmocka_unit_test(test_wire_edge_cases_agree),
        cmocka_unit_test(test_random_bytes_agree),
        cmocka_unit_test(test_recorded_rsvps_agree),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    printf("rsvpwire: %zu inputs accepted, %zu rejected by both decoders\n", g_accepted, g_rejected);
    return rc;
}
