/* rsvp_json.c: raw RSVP JSON -> rsvp.v1.Rsvp. Tokens come from common/json.h's strict single-pass
 * scanner for input that is valid beyond doubt (nearly all); otherwise, in strict mode, from jsmn plus
 * pass 1, which checks that the tokens and the bytes between them form exactly one RFC 8259 value with
 * valid UTF-8 and names the reason, and, in reference mode, the input is read by sparkjson.h as the
 * reference reads it. Fields are found through one table per object (name, kind, where it goes in the
 * protobuf message and in the reference's row), not if-chains. No tree, no malloc after _new() except
 * in the reference mode's slow path. */
#include "services/parser/rsvp_json.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "services/parser/javatext.h"
#include "services/parser/refrow.h"
#include "services/parser/sparkjson.h"

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#define JACKSON_MAX_NAME 50000 /* a longer field name fails in the reference's reader */
#define JACKSON_MAX_NUM  1000  /* ... and so does a longer number */

struct rsvp_json {
    rsvp_json_limits lim;
    json_tok *tok; /* lim.max_tokens: the document's tokens (either path) */
    unsigned ntok;
    jsmntok_t *jtok;        /* strict slow path: jsmn's tokens */
    unsigned *next;         /* pass 1: index of the token after token i's subtree */
    unsigned char *escaped; /* pass 1: string token i contains a backslash */
    const char *js;         /* the message being parsed */
    size_t len;
    size_t pos;  /* pass 1 cursor */
    char *arena; /* decoded strings of the current message */
    size_t arena_cap, arena_len;
    int slow;
    /* reference mode */
    sparkjson *sj;
    refrow row;
    char *outa; /* the message's strings, NUL-terminated (reference mode) */
    size_t outa_cap, outa_len;
    Rsvp__V1__Key key;
    /* The output: the message and its parts all live here, reset per parse. */
    Rsvp__V1__Rsvp rsvp;
    Rsvp__V1__Venue venue;
    Rsvp__V1__Member member;
    Rsvp__V1__Event event;
    Rsvp__V1__Group group;
    Rsvp__V1__GroupTopic *topics;
    Rsvp__V1__GroupTopic **topic_ptrs;
    size_t topics_cap;
    Rsvp__V1__OtherService *services;
    Rsvp__V1__OtherService **service_ptrs;
    size_t services_cap;
    const char *response;           /* strict: the response text until validated */
    unsigned char key_slots[8][64]; /* per object: the field lookup table (key_tables_init) */
};

static const char *const reason_names[RSVP_JSON_REASON_COUNT] = {
    [RSVP_JSON_OK] = "ok",
    [RSVP_JSON_TOO_LARGE] = "too_large",
    [RSVP_JSON_NOT_JSON] = "not_json",
    [RSVP_JSON_INVALID_UTF8] = "invalid_utf8",
    [RSVP_JSON_TOO_MANY_TOKENS] = "too_many_tokens",
    [RSVP_JSON_TOO_DEEP] = "too_deep",
    [RSVP_JSON_NOT_OBJECT] = "not_object",
    [RSVP_JSON_WRONG_TYPE] = "wrong_type",
    [RSVP_JSON_STRING_TOO_LONG] = "string_too_long",
    [RSVP_JSON_NUL_IN_STRING] = "nul_in_string",
    [RSVP_JSON_MISSING_RSVP_ID] = "missing_rsvp_id",
    [RSVP_JSON_MISSING_MTIME] = "missing_mtime",
    [RSVP_JSON_MISSING_EVENT_ID] = "missing_event_id",
    [RSVP_JSON_MISSING_RESPONSE] = "missing_response",
    [RSVP_JSON_BAD_RESPONSE] = "bad_response",
    [RSVP_JSON_LAT_OUT_OF_RANGE] = "lat_out_of_range",
    [RSVP_JSON_LON_OUT_OF_RANGE] = "lon_out_of_range",
    [RSVP_JSON_KEY_TOO_LONG] = "key_too_long",
};

const char *rsvp_json_reason_str(rsvp_json_reason r)
{
    if ((unsigned)r >= RSVP_JSON_REASON_COUNT)
        return "unknown";
    return reason_names[r];
}

rsvp_json_limits rsvp_json_limits_default(void)
{
    rsvp_json_limits l = {.max_message_bytes = 1 << 20,
                          .max_string_bytes = 1024,
                          .max_tokens = 8192,
                          .mode = RSVP_JSON_REFERENCE};
    return l;
}

int rsvp_json_mode_parse(const char *s, rsvp_json_mode *mode)
{
    if (!strcmp(s, "reference"))
        *mode = RSVP_JSON_REFERENCE;
    else if (!strcmp(s, "strict"))
        *mode = RSVP_JSON_STRICT;
    else
        return ERR_INVALID;
    return 0;
}

static void key_tables_init(rsvp_json *p);

int rsvp_json_new(rsvp_json **out, const rsvp_json_limits *limits)
{
    rsvp_json_limits lim = limits ? *limits : rsvp_json_limits_default();
    /* jsmn keeps offsets in int and token counts in unsigned int */
    if (lim.max_message_bytes == 0 || lim.max_string_bytes == 0 || lim.max_tokens == 0 ||
        lim.max_message_bytes > (size_t)1 << 30 || lim.max_tokens > (1u << 24) ||
        (lim.mode != RSVP_JSON_REFERENCE && lim.mode != RSVP_JSON_STRICT))
        return ERR_INVALID;
    rsvp_json *p = calloc(1, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    p->lim = lim;
    /* Every decoded string plus its NUL fits in the bytes of its token and delimiters, so the
     * arena never needs more than the message size (+ slack for a key decoded for comparison). */
    p->arena_cap = lim.max_message_bytes + 16;
    /* An array element can be a single token ({}), an other_services entry takes two. */
    p->topics_cap = lim.max_tokens;
    p->services_cap = lim.max_tokens / 2 + 1;
    p->tok = malloc(sizeof *p->tok * lim.max_tokens);
    p->jtok = malloc(sizeof *p->jtok * lim.max_tokens);
    p->next = malloc(sizeof *p->next * lim.max_tokens);
    p->escaped = malloc(lim.max_tokens);
    p->arena = malloc(p->arena_cap);
    p->topics = malloc(sizeof *p->topics * p->topics_cap);
    p->topic_ptrs = malloc(sizeof *p->topic_ptrs * p->topics_cap);
    p->services = malloc(sizeof *p->services * p->services_cap);
    p->service_ptrs = malloc(sizeof *p->service_ptrs * p->services_cap);
    if (!p->tok || !p->jtok || !p->next || !p->escaped || !p->arena || !p->topics || !p->topic_ptrs ||
        !p->services || !p->service_ptrs || (lim.mode == RSVP_JSON_REFERENCE && sj_new(&p->sj))) {
        rsvp_json_free(p);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < p->topics_cap; i++)
        p->topic_ptrs[i] = &p->topics[i];
    for (size_t i = 0; i < p->services_cap; i++)
        p->service_ptrs[i] = &p->services[i];
    key_tables_init(p);
    *out = p;
    return 0;
}

void rsvp_json_free(rsvp_json *p)
{
    if (!p)
        return;
    free(p->tok);
    free(p->jtok);
    free(p->next);
    free(p->escaped);
    free(p->arena);
    free(p->topics);
    free(p->topic_ptrs);
    free(p->services);
    free(p->service_ptrs);
    free(p->outa);
    sj_free(p->sj);
    free(p);
}

int rsvp_json_slow_path(const rsvp_json *p)
{
    return p->slow;
}

/* ==== strict mode's slow path: jsmn, then pass 1 (validation, reasons, tokens) ==== */

static inline size_t skip_ws(const char *js, size_t pos, size_t len)
{
    if (pos < len && (unsigned char)js[pos] > ' ')
        return pos; /* the common case: compact JSON */
    while (pos < len && json_is_ws((unsigned char)js[pos]))
        pos++;
    return pos;
}

static int is_number(const char *s, size_t n, int *is_int)
{
    return n > 0 && json_number_len(s, n, is_int) == n;
}

static int is_literal(const char *s, size_t n)
{
    return (n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)) ||
           (n == 4 && !memcmp(s, "null", 4));
}

/* check_string: the body of jsmn string token i, as the scanner checks strings (common/json.c). */
static rsvp_json_reason check_string(rsvp_json *p, unsigned i)
{
    int esc = 0;
    switch (json_check_string(p->js + p->jtok[i].start, (size_t)(p->jtok[i].end - p->jtok[i].start), &esc)) {
    case JSON_OK: break;
    case JSON_E_UTF8: return RSVP_JSON_INVALID_UTF8;
    default: return RSVP_JSON_NOT_JSON;
    }
    p->escaped[i] = (unsigned char)esc;
    return RSVP_JSON_OK;
}

/* tok_from_jsmn: common/json.h's token for jsmn token i (pass 1 knows next[i] by now). */
static void tok_from_jsmn(rsvp_json *p, unsigned i)
{
    const jsmntok_t *t = &p->jtok[i];
    json_tok *o = &p->tok[i];
    o->start = (uint32_t)t->start;
    o->end = (uint32_t)t->end;
    o->next = p->next[i];
    o->count = (uint32_t)t->size;
    o->esc = t->type == JSMN_STRING ? p->escaped[i] : 0;
    switch (t->type) {
    case JSMN_OBJECT: o->type = JSON_OBJECT; break;
    case JSMN_ARRAY: o->type = JSON_ARRAY; break;
    case JSMN_STRING: o->type = JSON_STRING; break;
    default: {
        char c = p->js[t->start];
        int is_int = 1;
        o->type = c == 't' ? JSON_TRUE : c == 'f' ? JSON_FALSE : c == 'n' ? JSON_NULL : JSON_NUMBER;
        o->count = 0;
        if (o->type == JSON_NUMBER)
            json_number_len(p->js + t->start, (size_t)(t->end - t->start), &is_int);
        o->esc = !is_int;
    }
    }
}

/* check_value: jsmn token i must begin at p->pos. Checks its subtree and the punctuation between its
 * tokens, leaves p->pos just past it, stores the index after the subtree in p->next[i] and the
 * common token in p->tok[i]. */
static rsvp_json_reason check_value(rsvp_json *p, unsigned i, int depth)
{
    if (i >= p->ntok)
        return RSVP_JSON_NOT_JSON;
    const jsmntok_t *t = &p->jtok[i];
    const char *js = p->js;
    size_t len = p->len;
    rsvp_json_reason r;
    int is_int;
    switch (t->type) {
    case JSMN_STRING:
        if (t->size != 0 || (size_t)t->start != p->pos + 1)
            return RSVP_JSON_NOT_JSON;
        if ((r = check_string(p, i)) != RSVP_JSON_OK)
            return r;
        p->pos = (size_t)t->end + 1;
        p->next[i] = i + 1;
        tok_from_jsmn(p, i);
        return RSVP_JSON_OK;
    case JSMN_PRIMITIVE: {
        size_t n = (size_t)(t->end - t->start);
        if (t->size != 0 || (size_t)t->start != p->pos)
            return RSVP_JSON_NOT_JSON;
        if (!is_literal(js + t->start, n) && !is_number(js + t->start, n, &is_int))
            return RSVP_JSON_NOT_JSON;
        p->pos = (size_t)t->end;
        p->next[i] = i + 1;
        tok_from_jsmn(p, i);
        return RSVP_JSON_OK;
    }
    case JSMN_OBJECT:
    case JSMN_ARRAY: {
        if (depth >= RSVP_JSON_MAX_DEPTH)
            return RSVP_JSON_TOO_DEEP;
        if ((size_t)t->start != p->pos || t->end < 0)
            return RSVP_JSON_NOT_JSON;
        int object = t->type == JSMN_OBJECT;
        unsigned j = i + 1;
        p->pos++;
        for (int k = 0; k < t->size; k++) {
            p->pos = skip_ws(js, p->pos, len);
            if (k > 0) {
                if (p->pos >= len || js[p->pos] != ',')
                    return RSVP_JSON_NOT_JSON;
                p->pos = skip_ws(js, p->pos + 1, len);
            }
            if (object) {
                if (j >= p->ntok)
                    return RSVP_JSON_NOT_JSON;
                const jsmntok_t *key = &p->jtok[j];
                if (key->type != JSMN_STRING || key->size != 1 || (size_t)key->start != p->pos + 1)
                    return RSVP_JSON_NOT_JSON;
                if ((r = check_string(p, j)) != RSVP_JSON_OK)
                    return r;
                p->next[j] = j + 1;
                tok_from_jsmn(p, j);
                p->pos = skip_ws(js, (size_t)key->end + 1, len);
                if (p->pos >= len || js[p->pos] != ':')
                    return RSVP_JSON_NOT_JSON;
                p->pos = skip_ws(js, p->pos + 1, len);
                j++;
            }
            if ((r = check_value(p, j, depth + 1)) != RSVP_JSON_OK)
                return r;
            j = p->next[j];
        }
        p->pos = skip_ws(js, p->pos, len);
        if (p->pos >= len || js[p->pos] != (object ? '}' : ']') || p->pos + 1 != (size_t)t->end)
            return RSVP_JSON_NOT_JSON;
        p->pos = (size_t)t->end;
        p->next[i] = j;
        tok_from_jsmn(p, i);
        return RSVP_JSON_OK;
    }
    default: return RSVP_JSON_NOT_JSON;
    }
}

/* Why jsmn failed: a lone top-level number or literal is valid JSON (jsmn's strict mode wants a
 * delimiter after it), just not an object. Everything else is not JSON. */
static rsvp_json_reason classify_jsmn_failure(const char *js, size_t len)
{
    size_t a = skip_ws(js, 0, len), b = len;
    while (b > a && json_is_ws((unsigned char)js[b - 1]))
        b--;
    int is_int;
    if (b > a && (is_literal(js + a, b - a) || is_number(js + a, b - a, &is_int)))
        return RSVP_JSON_NOT_OBJECT;
    return RSVP_JSON_NOT_JSON;
}

/* tokenize_twopass: jsmn, then pass 1; the reference for every reason of the JSON layer. */
static rsvp_json_reason tokenize_twopass(rsvp_json *p, const char *data, size_t len)
{
    /* a local tokenizer state: jsmn is inlined here, and a struct that never escapes can live in
     * registers (one on the heap is stored to per byte, it may alias the token array) */
    jsmn_parser jp;
    jsmn_init(&jp);
    int n = jsmn_parse(&jp, data, len, p->jtok, p->lim.max_tokens);
    if (n == JSMN_ERROR_NOMEM)
        return RSVP_JSON_TOO_MANY_TOKENS;
    if (n < 0)
        return classify_jsmn_failure(data, len);
    if (n == 0)
        return RSVP_JSON_NOT_JSON;
    p->ntok = (unsigned)n;

    /* pass 1: exactly one valid value, then only whitespace (jsmn stops at a NUL byte) */
    p->pos = skip_ws(data, 0, len);
    rsvp_json_reason r = check_value(p, 0, 0);
    if (r != RSVP_JSON_OK)
        return r;
    if (p->next[0] != p->ntok || skip_ws(data, p->pos, len) != len)
        return RSVP_JSON_NOT_JSON;
    if (p->jtok[0].type != JSMN_OBJECT)
        return RSVP_JSON_NOT_OBJECT;
    return RSVP_JSON_OK;
}

/* ==== the field tables ==== */

/* What a field is, in strict mode's protobuf message. In reference mode every leaf is a string of
 * the reference's row (leaf), and objects and the topics array are structs and an array there. */
enum {
    K_STR,      /* char * */
    K_I64,      /* int64_t + has_ flag */
    K_I32,      /* int32_t + has_ flag (guests) */
    K_DBL,      /* double + has_ flag */
    K_RESPONSE, /* the response text, checked later */
    K_OBJ,      /* a nested object: sub */
    K_TOPICS,   /* group_topics: an array of {urlkey, topic_name} */
    K_SERVICES, /* member.other_services: {service: {identifier}} (not in the reference's schema) */
};

enum { OB_ROOT, OB_VENUE, OB_MEMBER, OB_EVENT, OB_GROUP, OB_TOPIC, OB_SERVICE, OB_COUNT };

typedef struct field {
    const char *name;
    unsigned char len;
    unsigned char kind;
    unsigned char sub;     /* K_OBJ: the object's OB_*; K_TOPICS: OB_TOPIC */
    signed char leaf;      /* reference mode: the RF_* leaf it reads (K_OBJ: the struct is read), or -1:
                              the reference mode does not need it (not in the key nor the identity) */
    unsigned short off;    /* strict: offset of the value in the protobuf struct */
    unsigned short hasoff; /* strict: offset of its has_ flag */
} field;

#define F(name, kind, sub, leaf, type, member, has)                                                          \
    {                                                                                                        \
        name, sizeof(name) - 1, kind, sub, leaf, offsetof(type, member), offsetof(type, has)                 \
    }
#define FS(name, leaf, type, member)       F(name, K_STR, 0, leaf, type, member, member)
#define FN(name, kind, leaf, type, member) F(name, kind, 0, leaf, type, member, has_##member)
#define READ                               0 /* a struct the reference mode reads */

static const field venue_f[] = {
    FS("venue_name", -1, Rsvp__V1__Venue, venue_name),
    FN("lon", K_DBL, RF_VENUE_LON, Rsvp__V1__Venue, lon),
    FN("lat", K_DBL, RF_VENUE_LAT, Rsvp__V1__Venue, lat),
    FN("venue_id", K_I64, -1, Rsvp__V1__Venue, venue_id),
};
static const field member_f[] = {
    FN("member_id", K_I64, -1, Rsvp__V1__Member, member_id),
    FS("photo", -1, Rsvp__V1__Member, photo),
    FS("member_name", -1, Rsvp__V1__Member, member_name),
    F("other_services", K_SERVICES, 0, -1, Rsvp__V1__Member, other_services, other_services),
};
static const field event_f[] = {
    FS("event_name", RF_EVENT_NAME, Rsvp__V1__Event, event_name),
    FS("event_id", RF_EVENT_ID, Rsvp__V1__Event, event_id),
    FN("time", K_I64, RF_TIME, Rsvp__V1__Event, time),
    FS("event_url", RF_EVENT_URL, Rsvp__V1__Event, event_url),
};
static const field group_f[] = {
    F("group_topics", K_TOPICS, OB_TOPIC, -1, Rsvp__V1__Group, group_topics, group_topics),
    FS("group_city", RF_GROUP_CITY, Rsvp__V1__Group, group_city),
    FS("group_country", RF_GROUP_COUNTRY, Rsvp__V1__Group, group_country),
    FN("group_id", K_I64, -1, Rsvp__V1__Group, group_id),
    FS("group_name", RF_GROUP_NAME, Rsvp__V1__Group, group_name),
    FN("group_lon", K_DBL, RF_GROUP_LON, Rsvp__V1__Group, group_lon),
    FS("group_urlname", -1, Rsvp__V1__Group, group_urlname),
    FS("group_state", RF_GROUP_STATE, Rsvp__V1__Group, group_state),
    FN("group_lat", K_DBL, RF_GROUP_LAT, Rsvp__V1__Group, group_lat),
};
static const field topic_f[] = {
    FS("urlkey", -1, Rsvp__V1__GroupTopic, urlkey),
    FS("topic_name", -1, Rsvp__V1__GroupTopic, topic_name),
};
static const field service_f[] = {
    FS("identifier", -1, Rsvp__V1__OtherService, identifier),
};
static const field root_f[] = {
    F("venue", K_OBJ, OB_VENUE, READ, Rsvp__V1__Rsvp, venue, venue),
    FS("visibility", -1, Rsvp__V1__Rsvp, visibility),
    F("response", K_RESPONSE, 0, RF_RESPONSE, Rsvp__V1__Rsvp, response, response),
    FN("guests", K_I32, -1, Rsvp__V1__Rsvp, guests),
    F("member", K_OBJ, OB_MEMBER, -1, Rsvp__V1__Rsvp, member, member),
    FN("rsvp_id", K_I64, RF_RSVP_ID, Rsvp__V1__Rsvp, rsvp_id),
    FN("mtime", K_I64, RF_MTIME, Rsvp__V1__Rsvp, mtime),
    F("event", K_OBJ, OB_EVENT, READ, Rsvp__V1__Rsvp, event, event),
    F("group", K_OBJ, OB_GROUP, READ, Rsvp__V1__Rsvp, group, group),
};

typedef struct object {
    const field *f;
    unsigned n;
    unsigned bit; /* reference mode: the struct's RF_* bit */
    unsigned first_leaf, nleaf;
} object;

static const object objects[OB_COUNT] = {
    [OB_ROOT] = {root_f, 9, 0, 0, 0},
    [OB_VENUE] = {venue_f, 4, RF_VENUE, RF_VENUE_NAME, 4},
    [OB_MEMBER] = {member_f, 4, RF_MEMBER, RF_MEMBER_ID, 3},
    [OB_EVENT] = {event_f, 4, RF_EVENT, RF_EVENT_NAME, 4},
    [OB_GROUP] = {group_f, 9, RF_GROUP, RF_GROUP_CITY, 8},
    [OB_TOPIC] = {topic_f, 2, 0, 0, 0},
    [OB_SERVICE] = {service_f, 1, 0, 0, 0},
};

/* Field lookup: per object an open-addressing table of KEY_SLOTS slots (field index + 1, 0 empty)
 * hashed on the name's length and first and last bytes, filled once by rsvp_json_new. */
#define KEY_SLOTS 64 /* the size of rsvp_json.key_slots[] rows */
_Static_assert(OB_COUNT <= 8, "rsvp_json.key_slots has a row per object");

static unsigned name_hash(const char *s, size_t n)
{
    return (unsigned)(n * 7 + (unsigned char)s[0] * 3 + (unsigned char)s[n - 1]) & (KEY_SLOTS - 1);
}

/* name_eq: a[0..n) == b[0..n), n >= 1, with fixed-size loads that stay within both (two overlapping
 * words for longer names): field names are short and this is on every key of every message. */
static inline int name_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        uint64_t x0, y0, x1, y1;
        memcpy(&x0, a, 8);
        memcpy(&y0, b, 8);
        memcpy(&x1, a + n - 8, 8);
        memcpy(&y1, b + n - 8, 8);
        if (x0 != y0 || x1 != y1)
            return 0;
        for (size_t i = 8; i + 8 < n; i++) /* names over 16 bytes: the middle */
            if (a[i] != b[i])
                return 0;
        return 1;
    }
    if (n >= 4) {
        uint32_t x0, y0, x1, y1;
        memcpy(&x0, a, 4);
        memcpy(&y0, b, 4);
        memcpy(&x1, a + n - 4, 4);
        memcpy(&y1, b + n - 4, 4);
        return x0 == y0 && x1 == y1;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* key_tables_init: fill p's lookup tables. */
static void key_tables_init(rsvp_json *p)
{
    for (int ob = 0; ob < OB_COUNT; ob++) {
        unsigned char t[KEY_SLOTS] = {0};
        for (unsigned i = 0; i < objects[ob].n; i++) {
            const field *f = &objects[ob].f[i];
            unsigned h = name_hash(f->name, f->len);
            while (t[h])
                h = (h + 1) & (KEY_SLOTS - 1);
            t[h] = (unsigned char)(i + 1);
        }
        memcpy(p->key_slots[ob], t, KEY_SLOTS);
    }
}

/* key_lookup: which field of object ob the name s[0..n) (unescaped) is, or -1. */
static int key_lookup(const rsvp_json *p, int ob, const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return -1;
    const object *o = &objects[ob];
    const unsigned char *slots = p->key_slots[ob];
    for (unsigned h = name_hash(s, n); slots[h]; h = (h + 1) & (KEY_SLOTS - 1)) {
        const field *f = &o->f[slots[h] - 1];
        if (f->len == n && name_eq(f->name, s, n))
            return slots[h] - 1;
    }
    return -1;
}

/* key_escaped: key_lookup for a key token with escapes (rare): unescaped first. */
static __attribute__((noinline)) int key_escaped(const rsvp_json *p, int ob, const json_tok *k)
{
    char buf[96];
    size_t n = k->end - k->start;
    if (n > sizeof buf)
        return -1; /* longer than any field name even after unescaping */
    return key_lookup(p, ob, buf, json_unescape(p->js + k->start, n, buf, NULL));
}

/* key_match: which field of object ob the key token k names, or -1. Keys are compared after
 * unescaping. *hint is the field after the one found last: keys mostly come in the table's order,
 * so it is tried first. */
static inline __attribute__((always_inline)) int key_match(const rsvp_json *p, int ob, const json_tok *k,
                                                           unsigned *hint)
{
    const char *s = p->js + k->start;
    size_t n = k->end - k->start;
    const object *o = &objects[ob];
    int i;
    unsigned h = *hint < o->n ? *hint : 0; /* after the last field, the first */
    if (k->esc)
        i = key_escaped(p, ob, k);
    else if (o->f[h].len == n && name_eq(o->f[h].name, s, n))
        i = (int)h;
    else
        i = key_lookup(p, ob, s, n);
    if (i >= 0)
        *hint = (unsigned)i + 1;
    return i;
}

/* ==== strict mode: tokens -> the typed protobuf message ==== */

/* decode: string token i (validated) into the arena at arena_len, NUL-terminated, without committing it
 * (the caller advances arena_len to keep it). *n: decoded length; *nul: it contains U+0000. NULL only
 * if the arena is too small, which the sizing in rsvp_json_new rules out. */
static char *decode(rsvp_json *p, const json_tok *t, size_t *n, int *nul)
{
    size_t raw = t->end - t->start;
    if (p->arena_cap - p->arena_len < raw + 1)
        return NULL;
    char *dst = p->arena + p->arena_len;
    if (!t->esc) {
        memcpy(dst, p->js + t->start, raw);
        *n = raw;
        *nul = 0;
    } else {
        *n = json_unescape(p->js + t->start, raw, dst, nul);
    }
    dst[*n] = '\0';
    return dst;
}

/* get_string: a string field. JSON null -> NULL; a number or boolean -> its text (the reference
 * read every field as a string); object or array -> wrong_type. */
static rsvp_json_reason get_string(rsvp_json *p, const json_tok *t, char **dst)
{
    if (t->type == JSON_NULL) {
        *dst = NULL;
        return RSVP_JSON_OK;
    }
    if (t->type == JSON_OBJECT || t->type == JSON_ARRAY)
        return RSVP_JSON_WRONG_TYPE;
    if (t->type != JSON_STRING) {
        size_t n = t->end - t->start;
        if (n > p->lim.max_string_bytes)
            return RSVP_JSON_STRING_TOO_LONG;
        if (p->arena_cap - p->arena_len < n + 1)
            return RSVP_JSON_TOO_LARGE; /* unreachable, see rsvp_json_new */
        char *d = p->arena + p->arena_len;
        memcpy(d, p->js + t->start, n);
        d[n] = '\0';
        p->arena_len += n + 1;
        *dst = d;
        return RSVP_JSON_OK;
    }
    size_t n;
    int nul;
    char *d = decode(p, t, &n, &nul);
    if (!d)
        return RSVP_JSON_TOO_LARGE; /* unreachable */
    if (n > p->lim.max_string_bytes)
        return RSVP_JSON_STRING_TOO_LONG;
    if (nul)
        return RSVP_JSON_NUL_IN_STRING;
    p->arena_len += n + 1;
    *dst = d;
    return RSVP_JSON_OK;
}

/* number_text: the text of a number given as a JSON number or as a string (decoded into the arena,
 * not committed). NULL text = null (absent). wrong_type for anything else. */
static rsvp_json_reason number_text(rsvp_json *p, const json_tok *t, const char **s, size_t *n)
{
    *s = NULL;
    if (t->type == JSON_NULL)
        return RSVP_JSON_OK;
    if (t->type == JSON_NUMBER) {
        *s = p->js + t->start;
        *n = t->end - t->start;
        return RSVP_JSON_OK;
    }
    if (t->type != JSON_STRING)
        return RSVP_JSON_WRONG_TYPE;
    int nul;
    *s = decode(p, t, n, &nul);
    return *s ? RSVP_JSON_OK : RSVP_JSON_TOO_LARGE;
}

static rsvp_json_reason get_i64(rsvp_json *p, const json_tok *t, protobuf_c_boolean *has, int64_t *dst)
{
    const char *s;
    size_t n;
    rsvp_json_reason r = number_text(p, t, &s, &n);
    if (r != RSVP_JSON_OK)
        return r;
    if (!s) {
        *has = 0;
        return RSVP_JSON_OK;
    }
    if (json_int_text(s, n, dst) != 0)
        return RSVP_JSON_WRONG_TYPE; /* fraction, exponent, not a number, or outside int64 */
    *has = 1;
    return RSVP_JSON_OK;
}

/* Exact powers of ten as doubles (10^22 is the largest one a double holds exactly). */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* to_double: s[0..n) (JSON number grammar) as strtod would round it. Fast path (Clinger): up to
 * 15 significant digits and no exponent, so digits and 10^frac are exact doubles and one
 * IEEE division rounds correctly, the same result as strtod; anything else calls strtod. */
static double to_double(const char *s, size_t n)
{
    size_t i = 0;
    int neg = s[0] == '-', frac = -1, digits = 0;
    uint64_t m = 0;
    for (i = (size_t)neg; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            frac = 0;
            continue;
        }
        if (c < '0' || c > '9')
            break; /* exponent */
        m = m * 10 + (unsigned)(c - '0');
        if (m)
            digits++;
        if (frac >= 0)
            frac++;
        if (digits > 15)
            break;
    }
    if (i == n && frac <= 22) {
        double d = (double)m;
        if (frac > 0)
            d /= pow10_exact[frac];
        return neg ? -d : d;
    }
    char tmp[64];
    if (n < sizeof tmp) {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        return strtod(tmp, NULL);
    }
    /* a long number is safe in place: a number token is followed by a delimiter in the message,
     * a decoded string is NUL-terminated */
    return strtod(s, NULL);
}

static rsvp_json_reason get_double(rsvp_json *p, const json_tok *t, protobuf_c_boolean *has, double *dst)
{
    const char *s;
    size_t n;
    int is_int;
    rsvp_json_reason r = number_text(p, t, &s, &n);
    if (r != RSVP_JSON_OK)
        return r;
    if (!s) {
        *has = 0;
        return RSVP_JSON_OK;
    }
    if (t->type == JSON_STRING && !is_number(s, n, &is_int))
        return RSVP_JSON_WRONG_TYPE;
    *dst = to_double(s, n) + 0.0; /* -0.0 -> 0.0 */
    *has = 1;
    return RSVP_JSON_OK;
}

#define TRY(expr)                                                                                            \
    do {                                                                                                     \
        rsvp_json_reason r_ = (expr);                                                                        \
        if (r_ != RSVP_JSON_OK)                                                                              \
            return r_;                                                                                       \
    } while (0)

static rsvp_json_reason read_sub(rsvp_json *p, int ob, unsigned o, void *dst);
static rsvp_json_reason read_topic(rsvp_json *p, unsigned o, void *dst);

/* other_services: {"twitter":{"identifier":"@x"}, ...} -> (service, identifier) pairs; a null
 * service value is skipped. */
static rsvp_json_reason read_other_services(rsvp_json *p, unsigned o)
{
    Rsvp__V1__Member *m = &p->member;
    m->n_other_services = 0;
    m->other_services = p->service_ptrs;
    unsigned k = o + 1;
    for (uint32_t i = 0; i < p->tok[o].count; i++, k = p->tok[k + 1].next) {
        const json_tok *v = &p->tok[k + 1];
        if (v->type == JSON_NULL)
            continue;
        if (v->type != JSON_OBJECT)
            return RSVP_JSON_WRONG_TYPE;
        if (m->n_other_services >= p->services_cap)
            return RSVP_JSON_TOO_MANY_TOKENS; /* unreachable: two tokens per entry */
        Rsvp__V1__OtherService *s = &p->services[m->n_other_services];
        *s = (Rsvp__V1__OtherService)RSVP__V1__OTHER_SERVICE__INIT;
        TRY(get_string(p, &p->tok[k], &s->service));
        unsigned kk = k + 2;
        for (uint32_t j = 0; j < v->count; j++, kk = p->tok[kk + 1].next) {
            const json_tok *key = &p->tok[kk];
            unsigned hint = 0;
            if (key_match(p, OB_SERVICE, key, &hint) == 0)
                TRY(get_string(p, &p->tok[kk + 1], &s->identifier));
        }
        m->n_other_services++;
    }
    return RSVP_JSON_OK;
}

/* group_topics: an array of {urlkey, topic_name}; null elements are skipped. */
static rsvp_json_reason read_topics(rsvp_json *p, unsigned a)
{
    Rsvp__V1__Group *g = &p->group;
    g->n_group_topics = 0;
    g->group_topics = p->topic_ptrs;
    unsigned e = a + 1;
    for (uint32_t i = 0; i < p->tok[a].count; i++, e = p->tok[e].next) {
        if (p->tok[e].type == JSON_NULL)
            continue;
        if (p->tok[e].type != JSON_OBJECT)
            return RSVP_JSON_WRONG_TYPE;
        if (g->n_group_topics >= p->topics_cap)
            return RSVP_JSON_TOO_MANY_TOKENS; /* unreachable: one token per element at least */
        Rsvp__V1__GroupTopic *t = &p->topics[g->n_group_topics];
        *t = (Rsvp__V1__GroupTopic)RSVP__V1__GROUP_TOPIC__INIT;
        TRY(read_topic(p, e, t));
        g->n_group_topics++;
    }
    return RSVP_JSON_OK;
}

/* nested: the storage of a nested object in the message. */
static void *nested(rsvp_json *p, int ob)
{
    switch (ob) {
    case OB_VENUE: p->venue = (Rsvp__V1__Venue)RSVP__V1__VENUE__INIT; return &p->venue;
    case OB_MEMBER: p->member = (Rsvp__V1__Member)RSVP__V1__MEMBER__INIT; return &p->member;
    case OB_EVENT: p->event = (Rsvp__V1__Event)RSVP__V1__EVENT__INIT; return &p->event;
    default: p->group = (Rsvp__V1__Group)RSVP__V1__GROUP__INIT; return &p->group;
    }
}

/* read_object: the members of object token o into dst (the protobuf struct of object ob), by ob's
 * table; returns at the first problem. Inlined per object (read_sub), so each copy knows its table. */
static inline __attribute__((always_inline)) rsvp_json_reason read_object(rsvp_json *p, int ob, unsigned o,
                                                                          void *dst)
{
    const object *obj = &objects[ob];
    unsigned char *base = dst;
    unsigned k = o + 1, hint = 0;
    for (uint32_t i = 0; i < p->tok[o].count; i++, k = p->tok[k + 1].next) {
        int fi = key_match(p, ob, &p->tok[k], &hint);
        if (fi < 0)
            continue;
        const field *f = &obj->f[fi];
        const json_tok *v = &p->tok[k + 1];
        switch (f->kind) {
        case K_STR: TRY(get_string(p, v, (char **)(base + f->off))); break;
        case K_RESPONSE: {
            char *resp;
            TRY(get_string(p, v, &resp));
            p->response = resp;
            break;
        }
        case K_I64:
            TRY(get_i64(p, v, (protobuf_c_boolean *)(base + f->hasoff), (int64_t *)(base + f->off)));
            break;
        case K_I32: {
            int64_t g = 0;
            protobuf_c_boolean has = 0;
            TRY(get_i64(p, v, &has, &g));
            if (has && (g < INT32_MIN || g > INT32_MAX))
                return RSVP_JSON_WRONG_TYPE;
            *(protobuf_c_boolean *)(base + f->hasoff) = has;
            *(int32_t *)(base + f->off) = (int32_t)g;
            break;
        }
        case K_DBL:
            TRY(get_double(p, v, (protobuf_c_boolean *)(base + f->hasoff), (double *)(base + f->off)));
            break;
        case K_OBJ: {
            void **slot = (void **)(base + f->off);
            *slot = NULL;
            if (v->type == JSON_NULL)
                break;
            if (v->type != JSON_OBJECT)
                return RSVP_JSON_WRONG_TYPE;
            void *sub = nested(p, f->sub);
            TRY(read_sub(p, f->sub, k + 1, sub));
            *slot = sub;
            break;
        }
        case K_TOPICS:
            if (v->type == JSON_NULL)
                p->group.n_group_topics = 0;
            else if (v->type == JSON_ARRAY)
                TRY(read_topics(p, k + 1));
            else
                return RSVP_JSON_WRONG_TYPE;
            break;
        default: /* K_SERVICES */
            if (v->type == JSON_NULL) {
                p->member.n_other_services = 0;
                p->member.other_services = NULL;
            } else if (v->type == JSON_OBJECT) {
                TRY(read_other_services(p, k + 1));
            } else {
                return RSVP_JSON_WRONG_TYPE;
            }
            break;
        }
    }
    if (ob == OB_GROUP && p->group.n_group_topics == 0)
        p->group.group_topics = NULL;
    if (ob == OB_MEMBER && p->member.n_other_services == 0)
        p->member.other_services = NULL;
    return RSVP_JSON_OK;
}

static rsvp_json_reason read_root(rsvp_json *p, unsigned o, void *dst)
{
    return read_object(p, OB_ROOT, o, dst);
}
static rsvp_json_reason read_venue(rsvp_json *p, unsigned o, void *dst)
{
    return read_object(p, OB_VENUE, o, dst);
}
static rsvp_json_reason read_member(rsvp_json *p, unsigned o, void *dst)
{
    return read_object(p, OB_MEMBER, o, dst);
}
static rsvp_json_reason read_event(rsvp_json *p, unsigned o, void *dst)
{
    return read_object(p, OB_EVENT, o, dst);
}
static rsvp_json_reason read_group(rsvp_json *p, unsigned o, void *dst)
{
    return read_object(p, OB_GROUP, o, dst);
}
static rsvp_json_reason read_topic(rsvp_json *p, unsigned o, void *dst)
{
    return read_object(p, OB_TOPIC, o, dst);
}

static rsvp_json_reason read_sub(rsvp_json *p, int ob, unsigned o, void *dst)
{
    switch (ob) {
    case OB_VENUE: return read_venue(p, o, dst);
    case OB_MEMBER: return read_member(p, o, dst);
    case OB_EVENT: return read_event(p, o, dst);
    case OB_GROUP: return read_group(p, o, dst);
    default: return read_topic(p, o, dst);
    }
}

static size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

/* key_bytes: bytes of the aggregate key's string columns (see RSVP_JSON_MAX_KEY_BYTES). */
static size_t key_bytes(const Rsvp__V1__Rsvp *x)
{
    size_t n = 3; /* response */
    if (x->event)
        n += slen(x->event->event_name) + slen(x->event->event_url) + 20; /* + event_time */
    if (x->group)
        n += slen(x->group->group_name) + slen(x->group->group_country) + slen(x->group->group_state) +
             slen(x->group->group_city);
    return n;
}

static int lat_ok(protobuf_c_boolean has, double v)
{
    return !has || (v >= -90.0 && v <= 90.0);
}
static int lon_ok(protobuf_c_boolean has, double v)
{
    return !has || (v >= -180.0 && v <= 180.0);
}

/* validate: required fields and ranges, in a fixed order so a message has one reason. */
static rsvp_json_reason validate(rsvp_json *p)
{
    Rsvp__V1__Rsvp *x = &p->rsvp;
    const char *response = p->response;
    if (!x->has_rsvp_id)
        return RSVP_JSON_MISSING_RSVP_ID;
    if (!x->has_mtime)
        return RSVP_JSON_MISSING_MTIME;
    if (!x->event || !x->event->event_id || !x->event->event_id[0])
        return RSVP_JSON_MISSING_EVENT_ID;
    if (!response)
        return RSVP_JSON_MISSING_RESPONSE;
    if (!strcmp(response, "yes"))
        x->response = RSVP__V1__RESPONSE__RESPONSE_YES;
    else if (!strcmp(response, "no"))
        x->response = RSVP__V1__RESPONSE__RESPONSE_NO;
    else
        return RSVP_JSON_BAD_RESPONSE;
    x->has_response = 1;
    const Rsvp__V1__Venue *v = x->venue;
    const Rsvp__V1__Group *g = x->group;
    if ((v && !lat_ok(v->has_lat, v->lat)) || (g && !lat_ok(g->has_group_lat, g->group_lat)))
        return RSVP_JSON_LAT_OUT_OF_RANGE;
    if ((v && !lon_ok(v->has_lon, v->lon)) || (g && !lon_ok(g->has_group_lon, g->group_lon)))
        return RSVP_JSON_LON_OUT_OF_RANGE;
    if (key_bytes(x) > RSVP_JSON_MAX_KEY_BYTES)
        return RSVP_JSON_KEY_TOO_LONG;
    return RSVP_JSON_OK;
}

static rsvp_json_reason parse_strict(rsvp_json *p, const char *data, size_t len, int twopass)
{
    rsvp_json_reason r;
    p->slow = 0;
    if (twopass ||
        json_scan(data, len, p->tok, p->lim.max_tokens, RSVP_JSON_MAX_DEPTH, &p->ntok) != JSON_OK ||
        p->tok[0].type != JSON_OBJECT) {
        p->slow = 1;
        if ((r = tokenize_twopass(p, data, len)) != RSVP_JSON_OK)
            return r;
    }
    p->rsvp = (Rsvp__V1__Rsvp)RSVP__V1__RSVP__INIT;
    p->response = NULL;
    if ((r = read_root(p, 0, &p->rsvp)) != RSVP_JSON_OK)
        return r;
    return validate(p);
}

/* ==== reference mode: tokens -> the reference's row (fast path) ==== */

/* A case the fast path leaves to sparkjson.h: a field whose type does not fit the schema (Spark's
 * partial results and the parser positions they leave), a non-string value rendered through Jackson's
 * generator, names and numbers near Jackson's limits. */
#define SLOW RSVP_JSON_REASON_COUNT

/* arena_put: n bytes into the arena (committed); NULL if it is full (the caller takes the slow path). */
static char *arena_put(rsvp_json *p, const char *s, size_t n)
{
    if (p->arena_cap - p->arena_len < n + 1)
        return NULL;
    char *d = p->arena + p->arena_len;
    memcpy(d, s, n);
    d[n] = '\0';
    p->arena_len += n + 1;
    return d;
}

/* ref_value: the value of a string field as the reference's from_json gives it into *out; *nul is set
 * when it may hold U+0000; for a coordinate (coord) given as a number, *num holds the double the cast
 * gives and the text is not made (*is_num). 0 or SLOW. */
static inline int ref_value(rsvp_json *p, const json_tok *t, int coord, refstr *out, int *nul, int *is_num,
                            double *num)
{
    const char *s = p->js + t->start;
    size_t n = t->end - t->start;
    *nul = *is_num = 0;
    switch (t->type) {
    case JSON_NULL: out->p = NULL; return 0;
    case JSON_STRING:
        if (!t->esc) {
            out->p = s;
            out->n = n;
            return 0;
        }
        if (p->arena_cap - p->arena_len < n + 1)
            return SLOW;
        out->p = p->arena + p->arena_len;
        out->n = json_unescape(s, n, p->arena + p->arena_len, nul);
        p->arena_len += out->n + 1;
        return 0;
    case JSON_TRUE:
    case JSON_FALSE: out->p = s, out->n = n; return 0;
    case JSON_NUMBER: {
        if (n > JACKSON_MAX_NUM / 2)
            return SLOW; /* near Jackson's number length limit: let it count digits */
        if (!t->esc) {   /* an integer: Jackson writes the value back, the same digits, but -0 is 0 */
            if (n == 2 && s[0] == '-' && s[1] == '0')
                n = 1, s++;
            out->p = s, out->n = n;
            return 0;
        }
        double d = to_double(s, n); /* Double.parseDouble: both round correctly */
        if (!isfinite(d))
            return SLOW; /* written as a quoted string */
        if (coord) {     /* cast(Double.toString(d) AS double) is d: the text is not needed */
            *is_num = 1;
            *num = d;
            out->p = "";
            out->n = 0;
            return 0;
        }
        char tmp[32];
        size_t k = jt_double_str(d, tmp);
        if (!(out->p = arena_put(p, tmp, k)))
            return SLOW;
        out->n = k;
        return 0;
    }
    default: return SLOW; /* an object or array: Jackson's generator writes it */
    }
}

/* The four coordinates: their text is only ever cast to double. */
#define COORDS ((1u << RF_VENUE_LAT) | (1u << RF_VENUE_LON) | (1u << RF_GROUP_LAT) | (1u << RF_GROUP_LON))

/* ref_string: leaf `leaf` of the row from value token t. */
static int ref_string(rsvp_json *p, const json_tok *t, int leaf)
{
    refrow *r = &p->row;
    int nul, is_num;
    int rc = ref_value(p, t, (COORDS >> leaf) & 1, &r->leaf[leaf], &nul, &is_num, &r->num_value[leaf]);
    r->nul = (r->nul & ~(1u << leaf)) | (uint32_t)nul << leaf;
    r->num = (r->num & ~(1u << leaf)) | (uint32_t)is_num << leaf;
    return rc;
}

/* ref_object: the members of object token o that the reference mode reads into the row (the struct
 * of ob); the last of duplicated keys wins, a struct given again replaces the first. Fields it does not
 * read cannot change the key of a plain JSON message (only a type mismatch, which it does not accept,
 * could: the slow path reads those). */
static int ref_object(rsvp_json *p, int ob, unsigned o)
{
    const object *obj = &objects[ob];
    refrow *r = &p->row;
    unsigned k = o + 1, hint = 0;
    for (uint32_t i = 0; i < p->tok[o].count; i++, k = p->tok[k + 1].next) {
        const json_tok *kt = &p->tok[k];
        if (kt->end - kt->start > JACKSON_MAX_NAME / 6)
            return SLOW; /* near Jackson's name length limit */
        int fi = key_match(p, ob, kt, &hint);
        if (fi < 0 || obj->f[fi].leaf < 0)
            continue;
        const field *f = &obj->f[fi];
        const json_tok *v = &p->tok[k + 1];
        int rc = 0;
        if (f->kind == K_OBJ) {
            const object *sub = &objects[f->sub];
            r->structs &= ~sub->bit;
            for (unsigned l = 0; l < sub->nleaf; l++)
                r->leaf[sub->first_leaf + l].p = NULL;
            uint32_t bits = ((1u << sub->nleaf) - 1) << sub->first_leaf;
            r->nul &= ~bits;
            r->num &= ~bits;
            if (v->type == JSON_NULL)
                continue;
            if (v->type != JSON_OBJECT)
                return SLOW;
            r->structs |= sub->bit;
            rc = ref_object(p, f->sub, k + 1);
        } else {
            rc = ref_string(p, v, f->leaf);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* ==== reference mode: the row -> the protobuf message ==== */

/* out_leaf: a copy of leaf i, NUL-terminated, in the message's string space (reserved beforehand);
 * NULL for NULL and for a string holding U+0000 (a protobuf-c string cannot). */
static char *out_leaf(rsvp_json *p, int i)
{
    refstr s = p->row.leaf[i];
    if (!s.p || ((p->row.nul >> i & 1) && memchr(s.p, '\0', s.n)))
        return NULL;
    char *d = p->outa + p->outa_len;
    memcpy(d, s.p, s.n);
    d[s.n] = '\0';
    p->outa_len += s.n + 1;
    return d;
}

static void out_i64(refstr s, protobuf_c_boolean *has, int64_t *v)
{
    *has = s.p && json_int_text(s.p, s.n, v) == 0;
}

static void out_dbl(const refrow *r, int i, protobuf_c_boolean *has, double *v)
{
    if (r->num >> i & 1) {
        *has = r->leaf[i].p != NULL;
        *v = r->num_value[i];
        return;
    }
    *has = r->leaf[i].p && jt_cast_double(r->leaf[i].p, r->leaf[i].n, v);
}

/* The key's string columns and where they come from. */
static const struct {
    int leaf;
    size_t off;
} key_strings[] = {{RF_EVENT_NAME, offsetof(Rsvp__V1__Key, event_name)},
                   {RF_EVENT_URL, offsetof(Rsvp__V1__Key, event_url)},
                   {RF_TIME, offsetof(Rsvp__V1__Key, event_time)},
                   {RF_GROUP_NAME, offsetof(Rsvp__V1__Key, group_name)},
                   {RF_GROUP_COUNTRY, offsetof(Rsvp__V1__Key, group_country)},
                   {RF_GROUP_STATE, offsetof(Rsvp__V1__Key, group_state)},
                   {RF_GROUP_CITY, offsetof(Rsvp__V1__Key, group_city)},
                   {RF_RESPONSE, offsetof(Rsvp__V1__Key, response)}};

/* row_to_message: the row into the protobuf message: the key and the RSVP's identity (rsvp_id and mtime
 * when they are integers, event.event_id), nothing else (the raw topic keeps the rest). slow: the row
 * came from sparkjson.c (its strings are sized exactly; the fast path's are bounded by the message and
 * the arena). */
static rsvp_json_reason row_to_message(rsvp_json *p, int slow)
{
    const refrow *r = &p->row;
    /* the key first: what the reference could not store is dead-lettered */
    size_t keylen = 0;
    for (size_t i = 0; i < sizeof key_strings / sizeof key_strings[0]; i++) {
        int l = key_strings[i].leaf;
        refstr s = r->leaf[l];
        if (s.p && (r->nul >> l & 1) && memchr(s.p, '\0', s.n))
            return RSVP_JSON_NUL_IN_STRING;
        keylen += s.p ? s.n : 0;
    }
    if (keylen > RSVP_JSON_MAX_KEY_BYTES)
        return RSVP_JSON_KEY_TOO_LONG;
    /* every string of the message, NUL-terminated, in one reserved space */
    size_t need = keylen + r->leaf[RF_EVENT_ID].n + 16;
    if (!slow && need > p->len + p->arena_len + 16)
        need = p->len + p->arena_len + 16;
    if (need > p->outa_cap) {
        size_t cap = p->outa_cap ? p->outa_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *na = realloc(p->outa, cap);
        if (!na)
            return RSVP_JSON_TOO_LARGE; /* out of memory: dead-letter rather than stop */
        p->outa = na;
        p->outa_cap = cap;
    }
    p->outa_len = 0;
    Rsvp__V1__Key *key = &p->key;
    *key = (Rsvp__V1__Key)RSVP__V1__KEY__INIT;
    for (size_t i = 0; i < sizeof key_strings / sizeof key_strings[0]; i++)
        *(char **)((unsigned char *)key + key_strings[i].off) = out_leaf(p, key_strings[i].leaf);
    out_dbl(r, RF_GROUP_LAT, &key->has_group_lat, &key->group_lat);
    out_dbl(r, RF_GROUP_LON, &key->has_group_lon, &key->group_lon);
    out_dbl(r, RF_VENUE_LAT, &key->has_lat, &key->lat);
    out_dbl(r, RF_VENUE_LON, &key->has_lon, &key->lon);

    Rsvp__V1__Rsvp *x = &p->rsvp;
    *x = (Rsvp__V1__Rsvp)RSVP__V1__RSVP__INIT;
    x->key = key;
    out_i64(r->leaf[RF_RSVP_ID], &x->has_rsvp_id, &x->rsvp_id);
    out_i64(r->leaf[RF_MTIME], &x->has_mtime, &x->mtime);
    if (r->structs & RF_EVENT) {
        Rsvp__V1__Event *e = nested(p, OB_EVENT);
        e->event_id = out_leaf(p, RF_EVENT_ID);
        x->event = e;
    }
    return RSVP_JSON_OK;
}

static rsvp_json_reason parse_reference(rsvp_json *p, const char *data, size_t len, Rsvp__V1__Rsvp **out,
                                        int twopass)
{
    p->slow = 1;
    if (!twopass &&
        json_scan(data, len, p->tok, p->lim.max_tokens, RSVP_JSON_MAX_DEPTH, &p->ntok) == JSON_OK &&
        p->tok[0].type == JSON_OBJECT) {
        memset(&p->row, 0, offsetof(refrow, num_value)); /* num_value is read only where num says */
        if (ref_object(p, OB_ROOT, 0) == 0)
            p->slow = 0;
    }
    if (p->slow) {
        int rc = sj_parse(p->sj, data, len, &p->row);
        if (rc < 0)
            return RSVP_JSON_TOO_LARGE; /* no memory for this message's slow path: dead-letter it */
        if (rc == SJ_NOT_JSON || rc == SJ_NOT_OBJECT) {
            /* the reference counts what it cannot read as an object under a key of NULLs */
            p->rsvp = (Rsvp__V1__Rsvp)RSVP__V1__RSVP__INIT;
            p->key = (Rsvp__V1__Key)RSVP__V1__KEY__INIT;
            p->rsvp.key = &p->key;
            p->outa_len = 0;
            *out = &p->rsvp;
            return rc == SJ_NOT_OBJECT ? RSVP_JSON_NOT_OBJECT : RSVP_JSON_NOT_JSON;
        }
    }
    rsvp_json_reason r = row_to_message(p, p->slow);
    if (r != RSVP_JSON_OK)
        return r;
    *out = &p->rsvp;
    return RSVP_JSON_OK;
}

/* parse: rsvp_json_parse, with the single-pass tokenizer tried first unless twopass. */
static rsvp_json_reason parse(rsvp_json *p, const char *data, size_t len, Rsvp__V1__Rsvp **out, int twopass)
{
    *out = NULL;
    p->outa_len = 0;
    if (len > p->lim.max_message_bytes)
        return RSVP_JSON_TOO_LARGE;
    if (len == 0)
        data = ""; /* a Kafka message without payload */
    p->js = data;
    p->len = len;
    p->arena_len = 0;
    if (p->lim.mode == RSVP_JSON_REFERENCE)
        return parse_reference(p, data, len, out, twopass);
    rsvp_json_reason r = parse_strict(p, data, len, twopass);
    if (r == RSVP_JSON_OK)
        *out = &p->rsvp;
    return r;
}

rsvp_json_reason rsvp_json_parse(rsvp_json *p, const char *data, size_t len, Rsvp__V1__Rsvp **out)
{
    return parse(p, data, len, out, 0);
}

rsvp_json_reason rsvp_json_parse_twopass(rsvp_json *p, const char *data, size_t len, Rsvp__V1__Rsvp **out)
{
    return parse(p, data, len, out, 1);
}

/* Packed, a scalar field takes at most a 2-byte tag and a 10-byte varint (or 8 bytes), a string
 * or submessage a tag, a 5-byte length and its bytes. The message has 42 non-repeated fields in
 * all (submessage headers included), a repeated entry is a header and two strings, and every
 * packed string is a committed arena string (its length + NUL counted in arena_len or outa_len). */
#define PACKED_FIXED_FIELDS 42
#define PACKED_FIELD_MAX    12
#define PACKED_ENTRY_MAX    18

size_t rsvp_json_packed_bound(const rsvp_json *p)
{
    size_t entries = (p->rsvp.group ? p->rsvp.group->n_group_topics : 0) +
                     (p->rsvp.member ? p->rsvp.member->n_other_services : 0);
    return p->arena_len + p->outa_len + PACKED_FIXED_FIELDS * PACKED_FIELD_MAX + entries * PACKED_ENTRY_MAX;
}
