/* test_parser_rsvpenc.c: the parser's one-pass encoder (services/parser/rsvpenc.h) writes exactly
 * protobuf-c's bytes: for every recorded RSVP parsed in both modes, and for random messages that
 * reach what recorded data does not (every field absent or present alone, empty strings, lengths
 * around the one-, two- and three-byte varints of a submessage's length, negative integers, NaN and
 * negative zero, unknown fields). The buffer is exactly the packed size, so a byte written past it
 * is an ASan error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/parser/rsvp_json.h"
#include "services/parser/rsvpenc.h"
#include "tests/unit/testdata.h"

/* same_bytes: rsvpenc_pack and protobuf-c agree on x, in buffers of exactly the packed size. */
static void same_bytes(const Rsvp__V1__Rsvp *x, const char *what, long n)
{
    size_t len = rsvp__v1__rsvp__get_packed_size(x);
    uint8_t *want = malloc(len ? len : 1), *got = malloc(len ? len : 1);
    assert_non_null(want);
    assert_non_null(got);
    assert_int_equal(rsvp__v1__rsvp__pack(x, want), len);
    size_t w = rsvpenc_pack(x, got);
    if (w != len || memcmp(want, got, len) != 0) {
        size_t i = 0;
        while (i < len && i < w && want[i] == got[i])
            i++;
        fail_msg("%s %ld: %zu bytes, protobuf-c %zu; first difference at byte %zu", what, n, w, len, i);
    }
    free(want);
    free(got);
}

static void recorded(rsvp_json_mode mode)
{
    char path[1200];
    testdata_path(path, sizeof path, TESTDATA_RECORDED);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (set RSVP_DATA_DIR)", path);
    rsvp_json_limits lim = rsvp_json_limits_default();
    lim.mode = mode;
    rsvp_json *p = NULL;
    assert_int_equal(rsvp_json_new(&p, &lim), 0);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long count = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        count++;
        Rsvp__V1__Rsvp *x = NULL;
        rsvp_json_parse(p, line, (size_t)n, &x);
        assert_non_null(x);
        x->has_ingest_time_ms = 1; /* as the parser sets it */
        x->ingest_time_ms = 1700000000000 + count;
        same_bytes(x, mode == RSVP_JSON_STRICT ? "recorded line (strict)" : "recorded line (reference)",
                   count);
    }
    assert_true(count > 2000);
    free(line);
    rsvp_json_free(p);
    fclose(f);
}

static void test_recorded_rsvps(void **state)
{
    (void)state;
    recorded(RSVP_JSON_STRICT);
    recorded(RSVP_JSON_REFERENCE);
}

/* ---- random messages ---- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static int chance(unsigned percent)
{
    return rnd() % 100 < percent;
}

/* Strings come from one pool per message (freed with it); lengths cluster where a submessage's
 * length varint changes size. */
typedef struct pool {
    char *s[512];
    int n;
} pool;

static char *rstr(pool *pl)
{
    if (!chance(70) || pl->n == 512)
        return NULL;
    static const size_t sizes[] = {0, 1, 5, 60, 120, 126, 127, 128, 129, 300, 16370, 16384, 20000};
    size_t len = chance(85) ? rnd() % 40 : sizes[rnd() % (sizeof sizes / sizeof sizes[0])];
    char *s = malloc(len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = (char)(chance(5) ? 0x80 + rnd() % 0x7f : 'a' + rnd() % 26);
    s[len] = 0;
    return pl->s[pl->n++] = s;
}

static int64_t ri64(void)
{
    switch (rnd() % 6) {
    case 0: return -(int64_t)(rnd() % 1000);
    case 1: return INT64_MIN;
    case 2: return INT64_MAX;
    case 3: return (int64_t)(rnd() % 128);
    default: return (int64_t)(rnd() >> (rnd() % 64));
    }
}

static double rdbl(void)
{
    switch (rnd() % 5) {
    case 0: return NAN;
    case 1: return -0.0;
    case 2: return -INFINITY;
    default: return (double)(int64_t)rnd() / 1e12;
    }
}

#define OPT_I64(m, f)                                                                                        \
    do {                                                                                                     \
        (m)->has_##f = chance(60);                                                                           \
        (m)->f = ri64();                                                                                     \
    } while (0)
#define OPT_DBL(m, f)                                                                                        \
    do {                                                                                                     \
        (m)->has_##f = chance(60);                                                                           \
        (m)->f = rdbl();                                                                                     \
    } while (0)

typedef struct msgs {
    Rsvp__V1__Rsvp r;
    Rsvp__V1__Venue v;
    Rsvp__V1__Member m;
    Rsvp__V1__OtherService os[4], *osp[4];
    Rsvp__V1__Event e;
    Rsvp__V1__Group g;
    Rsvp__V1__GroupTopic gt[40], *gtp[40];
    Rsvp__V1__Key k;
    ProtobufCMessageUnknownField unk;
    uint8_t unk_data[3];
    pool pl;
} msgs;

static void fill(msgs *a)
{
    memset(a, 0, sizeof *a);
    pool *pl = &a->pl;
    rsvp__v1__rsvp__init(&a->r);
    rsvp__v1__venue__init(&a->v);
    rsvp__v1__member__init(&a->m);
    rsvp__v1__event__init(&a->e);
    rsvp__v1__group__init(&a->g);
    rsvp__v1__key__init(&a->k);

    a->v.venue_name = rstr(pl);
    OPT_DBL(&a->v, lat);
    OPT_DBL(&a->v, lon);
    OPT_I64(&a->v, venue_id);

    OPT_I64(&a->m, member_id);
    a->m.member_name = rstr(pl);
    a->m.photo = rstr(pl);
    a->m.n_other_services = rnd() % 5;
    for (size_t i = 0; i < a->m.n_other_services; i++) {
        rsvp__v1__other_service__init(&a->os[i]);
        a->os[i].service = rstr(pl);
        a->os[i].identifier = rstr(pl);
        a->osp[i] = &a->os[i];
    }
    a->m.other_services = a->osp;

    a->e.event_name = rstr(pl);
    a->e.event_id = rstr(pl);
    OPT_I64(&a->e, time);
    a->e.event_url = rstr(pl);

    a->g.n_group_topics = chance(20) ? 40 : rnd() % 8;
    for (size_t i = 0; i < a->g.n_group_topics; i++) {
        rsvp__v1__group_topic__init(&a->gt[i]);
        a->gt[i].urlkey = rstr(pl);
        a->gt[i].topic_name = rstr(pl);
        a->gtp[i] = &a->gt[i];
    }
    a->g.group_topics = a->gtp;
    a->g.group_city = rstr(pl);
    a->g.group_country = rstr(pl);
    OPT_I64(&a->g, group_id);
    a->g.group_name = rstr(pl);
    OPT_DBL(&a->g, group_lon);
    a->g.group_urlname = rstr(pl);
    a->g.group_state = rstr(pl);
    OPT_DBL(&a->g, group_lat);

    a->k.event_name = rstr(pl);
    a->k.event_url = rstr(pl);
    a->k.event_time = rstr(pl);
    a->k.group_name = rstr(pl);
    a->k.group_country = rstr(pl);
    a->k.group_state = rstr(pl);
    a->k.group_city = rstr(pl);
    OPT_DBL(&a->k, group_lat);
    OPT_DBL(&a->k, group_lon);
    OPT_DBL(&a->k, lat);
    OPT_DBL(&a->k, lon);
    a->k.response = rstr(pl);

    Rsvp__V1__Rsvp *r = &a->r;
    r->venue = chance(70) ? &a->v : NULL;
    r->visibility = rstr(pl);
    r->has_response = chance(60);
    r->response = (Rsvp__V1__Response)(chance(80) ? rnd() % 3 : (uint32_t) - (int32_t)(rnd() % 5 + 1));
    r->has_guests = chance(60);
    r->guests = chance(80) ? (int32_t)(rnd() % 300) : (int32_t)rnd();
    r->member = chance(70) ? &a->m : NULL;
    OPT_I64(r, rsvp_id);
    OPT_I64(r, mtime);
    r->event = chance(70) ? &a->e : NULL;
    r->group = chance(70) ? &a->g : NULL;
    OPT_I64(r, ingest_time_ms);
    r->key = chance(70) ? &a->k : NULL;
}

static void drop(msgs *a)
{
    for (int i = 0; i < a->pl.n; i++)
        free(a->pl.s[i]);
}

static void test_random_messages(void **state)
{
    (void)state;
    static msgs a;
    for (long n = 0; n < 20000; n++) {
        fill(&a);
        same_bytes(&a.r, "random message", n);
        drop(&a);
    }
}

static void test_unknown_fields_are_packed_by_protobuf_c(void **state)
{
    (void)state;
    static msgs a;
    for (int where = 0; where < 3; where++) {
        fill(&a);
        a.r.group = &a.g;
        a.g.n_group_topics = 1;
        rsvp__v1__group_topic__init(&a.gt[0]);
        a.gt[0].urlkey = "k";
        a.gtp[0] = &a.gt[0];
        a.g.group_topics = a.gtp;
        a.unk_data[0] = 0x7f; /* varint 127 */
        a.unk = (ProtobufCMessageUnknownField){
            .tag = 99, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 1, .data = a.unk_data};
        ProtobufCMessage *owner = where == 0 ? &a.r.base : where == 1 ? &a.g.base : &a.gt[0].base;
        owner->n_unknown_fields = 1;
        owner->unknown_fields = &a.unk;
        same_bytes(&a.r, "message with unknown fields, place", where);
        drop(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_rsvps),
        cmocka_unit_test(test_random_messages),
        cmocka_unit_test(test_unknown_fields_are_packed_by_protobuf_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
