/* rsvp_json.c: raw RSVP JSON -> rsvp.v1.Rsvp. Tokens: a strict single-pass tokenizer for input that
 * is valid beyond doubt (nearly all), else jsmn plus pass 1, which checks that the tokens and the
 * bytes between them form exactly one RFC 8259 value with valid UTF-8 and names the reason; pass 2
 * reads the known fields into storage owned by the parser. No tree, no malloc after _new(). */
#include "services/parser/rsvp_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/jsonbytes.h"

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

struct rsvp_json {
    rsvp_json_limits lim;
    jsmntok_t *tok;         /* lim.max_tokens */
    unsigned *next;         /* pass 1: index of the token after token i's subtree */
    unsigned char *escaped; /* pass 1: string token i contains a backslash */
    unsigned ntok;
    const char *js; /* the message being parsed */
    size_t len;
    size_t pos;  /* pass 1 cursor */
    char *arena; /* decoded strings of the current message, NUL-terminated */
    size_t arena_cap, arena_len;
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
    rsvp_json_limits l = {.max_message_bytes = 65536, .max_string_bytes = 1024, .max_tokens = 8192};
    return l;
}

int rsvp_json_new(rsvp_json **out, const rsvp_json_limits *limits)
{
    rsvp_json_limits lim = limits ? *limits : rsvp_json_limits_default();
    /* jsmn keeps offsets in int and token counts in unsigned int */
    if (lim.max_message_bytes == 0 || lim.max_string_bytes == 0 || lim.max_tokens == 0 ||
        lim.max_message_bytes > (size_t)1 << 30 || lim.max_tokens > (1u << 24))
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
    p->next = malloc(sizeof *p->next * lim.max_tokens);
    p->escaped = malloc(lim.max_tokens);
    p->arena = malloc(p->arena_cap);
    p->topics = malloc(sizeof *p->topics * p->topics_cap);
    p->topic_ptrs = malloc(sizeof *p->topic_ptrs * p->topics_cap);
    p->services = malloc(sizeof *p->services * p->services_cap);
    p->service_ptrs = malloc(sizeof *p->service_ptrs * p->services_cap);
    if (!p->tok || !p->next || !p->escaped || !p->arena || !p->topics || !p->topic_ptrs || !p->services ||
        !p->service_ptrs) {
        rsvp_json_free(p);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < p->topics_cap; i++)
        p->topic_ptrs[i] = &p->topics[i];
    for (size_t i = 0; i < p->services_cap; i++)
        p->service_ptrs[i] = &p->services[i];
    *out = p;
    return 0;
}

void rsvp_json_free(rsvp_json *p)
{
    if (!p)
        return;
    free(p->tok);
    free(p->next);
    free(p->escaped);
    free(p->arena);
    free(p->topics);
    free(p->topic_ptrs);
    free(p->services);
    free(p->service_ptrs);
    free(p);
}

/* ---- pass 1: validation ---- */

static inline size_t skip_ws(const char *js, size_t pos, size_t len)
{
    if (pos < len && (unsigned char)js[pos] > ' ')
        return pos; /* the common case: compact JSON */
    while (pos < len && (js[pos] == ' ' || js[pos] == '\n' || js[pos] == '\r' || js[pos] == '\t'))
        pos++;
    return pos;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* number_len: length of the longest prefix of s[0..n) matching the JSON number grammar
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, 0 if none; *is_int: no fraction or exponent. */
static size_t number_len(const char *s, size_t n, int *is_int)
{
    size_t i = 0;
    *is_int = 1;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !is_digit(s[i]))
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
        *is_int = 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
        *is_int = 0;
    }
    return i;
}

static int is_number(const char *s, size_t n, int *is_int)
{
    return n > 0 && number_len(s, n, is_int) == n;
}

static int is_literal(const char *s, size_t n)
{
    return (n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)) ||
           (n == 4 && !memcmp(s, "null", 4));
}

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* special_mask: eight bytes of a string at a time; the lowest flagged byte (bit 7 of each byte)
 * is the first one that is < 0x20, '\\' or >= 0x80, the only bytes that need a closer look
 * (higher flags may be false positives of the borrow, the lowest never is). */
static uint64_t special_mask(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t bs = x ^ (ones * '\\');
    uint64_t lt20 = (x - ones * 0x20) & ~x;
    uint64_t isbs = (bs - ones) & ~bs;
    return (x | lt20 | isbs) & highs;
}

static int is_special(unsigned char c)
{
    return c < 0x20 || c == '\\' || c >= 0x80;
}

/* check_string: the body of string token i: escapes well-formed (surrogates paired), no raw
 * control characters, valid UTF-8. Records whether it has escapes. */
static rsvp_json_reason check_string(rsvp_json *p, unsigned i)
{
    const unsigned char *base = (const unsigned char *)p->js;
    const unsigned char *s = base + p->tok[i].start;
    const unsigned char *e = (const unsigned char *)p->js + p->tok[i].end;
    int esc = 0;
    for (;;) {
        /* skip plain ASCII quickly (little-endian: the lowest byte comes first) */
        while (e - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            uint64_t m = special_mask(w);
            if (m) {
                s += __builtin_ctzll(m) >> 3;
                goto special;
            }
            s += 8;
        }
        if (s >= e)
            break;
        /* the last 1-7 bytes: the 8-byte word ending at e (inside the message when the string
         * ends 8 or more bytes into it), shifted so the bytes before s are gone before the test:
         * masked off after it, a borrow out of one of them (the '\\' of an escape) could flag a
         * plain byte after it (a ']') as the lowest, and valid text was called invalid_utf8 */
        if (e - base >= 8) {
            uint64_t w;
            unsigned k = (unsigned)(e - s); /* 1..7 */
            memcpy(&w, e - 8, 8);
            uint64_t m = special_mask(w >> (8 * (8 - k))) & ((1ull << (8 * k)) - 1);
            if (!m)
                break;
            s += __builtin_ctzll(m) >> 3;
            goto special;
        }
        while (s < e && !is_special(*s))
            s++;
        if (s >= e)
            break;
    special:;
        unsigned c = *s;
        if (c == '\\') {
            esc = 1;
            if (e - s < 2)
                return RSVP_JSON_NOT_JSON;
            switch (s[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': s += 2; break;
            case 'u': {
                unsigned cp, lo;
                if (e - s < 6 || !hex4(s + 2, &cp))
                    return RSVP_JSON_NOT_JSON;
                s += 6;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return RSVP_JSON_INVALID_UTF8; /* low surrogate first */
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, &lo) || lo < 0xDC00 ||
                        lo > 0xDFFF)
                        return RSVP_JSON_INVALID_UTF8; /* high surrogate alone */
                    s += 6;
                }
                break;
            }
            default: return RSVP_JSON_NOT_JSON;
            }
        } else if (c < 0x20) {
            return RSVP_JSON_NOT_JSON;
        } else {
            size_t n = json_utf8_seq(s, e);
            if (!n)
                return RSVP_JSON_INVALID_UTF8;
            s += n;
        }
    }
    p->escaped[i] = (unsigned char)esc;
    return RSVP_JSON_OK;
}

/* check_value: token i must begin at p->pos. Checks its subtree and the punctuation between its
 * tokens, leaves p->pos just past it and stores the index after the subtree in p->next[i]. */
static rsvp_json_reason check_value(rsvp_json *p, unsigned i, int depth)
{
    if (i >= p->ntok)
        return RSVP_JSON_NOT_JSON;
    const jsmntok_t *t = &p->tok[i];
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
        return RSVP_JSON_OK;
    case JSMN_PRIMITIVE: {
        size_t n = (size_t)(t->end - t->start);
        if (t->size != 0 || (size_t)t->start != p->pos)
            return RSVP_JSON_NOT_JSON;
        if (!is_literal(js + t->start, n) && !is_number(js + t->start, n, &is_int))
            return RSVP_JSON_NOT_JSON;
        p->pos = (size_t)t->end;
        p->next[i] = i + 1;
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
                const jsmntok_t *key = &p->tok[j];
                if (key->type != JSMN_STRING || key->size != 1 || (size_t)key->start != p->pos + 1)
                    return RSVP_JSON_NOT_JSON;
                if ((r = check_string(p, j)) != RSVP_JSON_OK)
                    return r;
                p->next[j] = j + 1;
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
    while (b > a && (js[b - 1] == ' ' || js[b - 1] == '\n' || js[b - 1] == '\r' || js[b - 1] == '\t'))
        b--;
    int is_int;
    if (b > a && (is_literal(js + a, b - a) || is_number(js + a, b - a, &is_int)))
        return RSVP_JSON_NOT_OBJECT;
    return RSVP_JSON_NOT_JSON;
}

/* ---- the fast path: tokens and validation in one strict pass ---- */

/* Nearly every message is a valid RSVP, and for valid input jsmn + pass 1 walk every byte twice.
 * fast_scan does both in one pass, but accepts only input that is beyond doubt: one RFC 8259
 * object, valid UTF-8, paired surrogates, depth and token count within limits, nothing but
 * whitespace around it. For such input it writes exactly the tokens jsmn writes (parent links
 * included) and the next/escaped entries pass 1 writes, so pass 2 sees the same thing. On anything
 * else it gives up and the two-pass path decides the reason, so reasons cannot drift. */

static inline const unsigned char *fast_ws(const unsigned char *s, const unsigned char *e)
{
    while (s < e && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++;
    return s;
}

/* fast_string: *ps is just past an opening quote; on success *ps is at the closing quote and
 * *esc says whether the body has escapes. 0 on anything check_string or jsmn would refuse (or
 * a string that runs to the end). Reads only within [*ps, e). */
static inline __attribute__((always_inline)) int fast_string(const unsigned char **ps, const unsigned char *e,
                                                             unsigned char *esc)
{
    const unsigned char *s = *ps;
    unsigned cp, lo;
    for (;;) {
        s = json_skip_plain(s, e);
        if (s >= e)
            return 0;
        unsigned c = *s;
        if (c == '"') {
            *ps = s;
            return 1;
        }
        if (c == '\\') {
            *esc = 1;
            if (e - s < 2)
                return 0;
            switch (s[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': s += 2; break;
            case 'u':
                if (e - s < 6 || !hex4(s + 2, &cp) || (cp >= 0xDC00 && cp <= 0xDFFF))
                    return 0;
                s += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, &lo) || lo < 0xDC00 ||
                        lo > 0xDFFF)
                        return 0;
                    s += 6;
                }
                break;
            default: return 0;
            }
        } else if (c < 0x20) {
            return 0;
        } else {
            size_t n = json_utf8_seq(s, e); /* a continuation byte is never '"': the string's end */
            if (!n)
                return 0;
            s += n;
        }
    }
}

/* fast_scan: 1 if data[0..len) is beyond doubt a valid JSON object within the limits, with
 * p->tok, p->next, p->escaped and p->ntok filled as jsmn and pass 1 would; 0 to fall back. */
static int fast_scan(rsvp_json *p, const char *data, size_t len)
{
    if (len == 0)
        return 0; /* data may be NULL (a Kafka message without payload) */
    const unsigned char *b = (const unsigned char *)data, *e = b + len, *s;
    jsmntok_t *tok = p->tok;
    unsigned *next = p->next;
    unsigned char *escaped = p->escaped;
    const unsigned max = p->lim.max_tokens;
    unsigned stack[RSVP_JSON_MAX_DEPTH]; /* open containers */
    unsigned n = 0, i, top;
    int depth = 0, parent = -1, is_int;
    size_t nl;

    s = fast_ws(b, e);
    if (s >= e || *s != '{')
        return 0;
value: /* s < e at the first byte of a value whose parent token is `parent` */
    if (n >= max)
        return 0;
    i = n++;
    switch (*s) {
    case '{':
    case '[':
        if (depth >= RSVP_JSON_MAX_DEPTH)
            return 0;
        tok[i] = (jsmntok_t){*s == '{' ? JSMN_OBJECT : JSMN_ARRAY, (int)(s - b), -1, 0, parent};
        stack[depth++] = i;
        s = fast_ws(s + 1, e);
        if (s >= e)
            return 0;
        if (*s == (tok[i].type == JSMN_OBJECT ? '}' : ']'))
            goto close;
        if (tok[i].type == JSMN_OBJECT)
            goto key;
        tok[i].size++;
        parent = (int)i;
        goto value;
    case '"': {
        unsigned char esc = 0;
        int start = (int)(++s - b);
        if (!fast_string(&s, e, &esc))
            return 0;
        tok[i] = (jsmntok_t){JSMN_STRING, start, (int)(s - b), 0, parent};
        escaped[i] = esc;
        s++;
        break;
    }
    case 't':
    case 'n':
        if (e - s < 4 || memcmp(s, *s == 't' ? "true" : "null", 4))
            return 0;
        tok[i] = (jsmntok_t){JSMN_PRIMITIVE, (int)(s - b), (int)(s - b) + 4, 0, parent};
        s += 4;
        break;
    case 'f':
        if (e - s < 5 || memcmp(s, "false", 5))
            return 0;
        tok[i] = (jsmntok_t){JSMN_PRIMITIVE, (int)(s - b), (int)(s - b) + 5, 0, parent};
        s += 5;
        break;
    default:
        /* a number; what follows it must be a delimiter, checked below */
        if (!(nl = number_len((const char *)s, (size_t)(e - s), &is_int)))
            return 0;
        tok[i] = (jsmntok_t){JSMN_PRIMITIVE, (int)(s - b), (int)(s - b + nl), 0, parent};
        s += nl;
        break;
    }
    next[i] = i + 1;
after: /* a value ended just before s, inside container stack[depth - 1] */
    s = fast_ws(s, e);
    if (s >= e)
        return 0;
    top = stack[depth - 1];
    if (*s == ',') {
        s = fast_ws(s + 1, e);
        if (s >= e)
            return 0;
        if (tok[top].type == JSMN_OBJECT)
            goto key;
        tok[top].size++;
        parent = (int)top;
        goto value;
    }
    if (*s != (tok[top].type == JSMN_OBJECT ? '}' : ']'))
        return 0;
close: /* s at the bracket closing stack[depth - 1] */
    top = stack[--depth];
    tok[top].end = (int)(s - b) + 1;
    next[top] = n;
    s++;
    if (depth > 0)
        goto after;
    if (fast_ws(s, e) != e)
        return 0;
    p->ntok = n;
    return 1;
key: /* s < e at the first byte of a key of object stack[depth - 1] */
    if (*s != '"' || n >= max)
        return 0;
    i = n++;
    top = stack[depth - 1];
    tok[top].size++;
    {
        unsigned char esc = 0;
        int start = (int)(++s - b);
        if (!fast_string(&s, e, &esc))
            return 0;
        tok[i] = (jsmntok_t){JSMN_STRING, start, (int)(s - b), 1, (int)top};
        escaped[i] = esc;
    }
    next[i] = i + 1;
    s = fast_ws(s + 1, e);
    if (s >= e || *s != ':')
        return 0;
    s = fast_ws(s + 1, e);
    if (s >= e)
        return 0;
    parent = (int)i;
    goto value;
}

/* ---- pass 2: extraction (input known to be valid JSON) ---- */

static size_t utf8_put(char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | cp >> 12);
        d[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | cp >> 18);
    d[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    d[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* decode: string token i (validated by pass 1) into the arena at arena_len, NUL-terminated,
 * without committing it (the caller advances arena_len to keep it). *n: decoded length; *nul: it
 * contains U+0000. NULL only if the arena is too small, which the sizing in rsvp_json_new rules
 * out. */
static char *decode(rsvp_json *p, unsigned i, size_t *n, int *nul)
{
    const char *s = p->js + p->tok[i].start, *e = p->js + p->tok[i].end;
    size_t raw = (size_t)(e - s);
    if (p->arena_cap - p->arena_len < raw + 1)
        return NULL;
    char *dst = p->arena + p->arena_len, *d = dst;
    *nul = 0;
    if (!p->escaped[i]) {
        memcpy(d, s, raw);
        d += raw;
    } else {
        while (s < e) {
            const char *bs = memchr(s, '\\', (size_t)(e - s));
            size_t run = (size_t)((bs ? bs : e) - s);
            memcpy(d, s, run);
            d += run;
            s += run;
            if (!bs)
                break;
            char c = s[1];
            s += 2;
            switch (c) {
            case 'b': *d++ = '\b'; break;
            case 'f': *d++ = '\f'; break;
            case 'n': *d++ = '\n'; break;
            case 'r': *d++ = '\r'; break;
            case 't': *d++ = '\t'; break;
            case 'u': {
                unsigned cp = 0, lo = 0;
                hex4((const unsigned char *)s, &cp);
                s += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    hex4((const unsigned char *)s + 2, &lo);
                    s += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0)
                    *nul = 1;
                d += utf8_put(d, cp);
                break;
            }
            default: *d++ = c; break; /* " \ / */
            }
        }
    }
    *d = '\0';
    *n = (size_t)(d - dst);
    return dst;
}

/* key_is_escaped: object key token k, which has escapes, equals name once decoded. */
static int key_is_escaped(rsvp_json *p, unsigned k, const char *name, size_t n)
{
    size_t dn;
    int nul;
    const char *d = decode(p, k, &dn, &nul);
    return d && dn == n && !memcmp(d, name, n);
}

/* KEY: object key token k is the literal lit; inline so memcmp has a constant size. */
#define KEY(p, k, lit)                                                                                       \
    ((p)->escaped[k] ? key_is_escaped(p, k, lit, sizeof(lit) - 1)                                            \
                     : ((size_t)((p)->tok[k].end - (p)->tok[k].start) == sizeof(lit) - 1 &&                  \
                        !memcmp((p)->js + (p)->tok[k].start, lit, sizeof(lit) - 1)))

static int is_null(const rsvp_json *p, unsigned v)
{
    return p->tok[v].type == JSMN_PRIMITIVE && p->js[p->tok[v].start] == 'n';
}

/* get_string: a string field. JSON null -> NULL; a number or boolean -> its text (the reference
 * read every field as a string); object or array -> wrong_type. */
static rsvp_json_reason get_string(rsvp_json *p, unsigned v, char **dst)
{
    const jsmntok_t *t = &p->tok[v];
    if (t->type == JSMN_PRIMITIVE) {
        if (is_null(p, v)) {
            *dst = NULL;
            return RSVP_JSON_OK;
        }
        size_t n = (size_t)(t->end - t->start);
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
    if (t->type != JSMN_STRING)
        return RSVP_JSON_WRONG_TYPE;
    size_t n;
    int nul;
    char *d = decode(p, v, &n, &nul);
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
static rsvp_json_reason number_text(rsvp_json *p, unsigned v, const char **s, size_t *n)
{
    const jsmntok_t *t = &p->tok[v];
    *s = NULL;
    if (t->type == JSMN_PRIMITIVE) {
        char c = p->js[t->start];
        if (c == 'n')
            return RSVP_JSON_OK;
        if (c == 't' || c == 'f')
            return RSVP_JSON_WRONG_TYPE;
        *s = p->js + t->start;
        *n = (size_t)(t->end - t->start);
        return RSVP_JSON_OK;
    }
    if (t->type != JSMN_STRING)
        return RSVP_JSON_WRONG_TYPE;
    int nul;
    *s = decode(p, v, n, &nul);
    return *s ? RSVP_JSON_OK : RSVP_JSON_TOO_LARGE;
}

/* parse_int: s[0..n) as -?[0-9]+ into int64; 0 if anything else or out of range. */
static int parse_int(const char *s, size_t n, int64_t *out)
{
    int neg = n > 0 && s[0] == '-';
    size_t i = (size_t)neg;
    if (i >= n)
        return 0;
    uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || acc > (lim - d) / 10)
            return 0;
        acc = acc * 10 + d;
    }
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 1;
}

static rsvp_json_reason get_i64(rsvp_json *p, unsigned v, protobuf_c_boolean *has, int64_t *dst)
{
    const char *s;
    size_t n;
    int is_int;
    rsvp_json_reason r = number_text(p, v, &s, &n);
    if (r != RSVP_JSON_OK)
        return r;
    if (!s) {
        *has = 0;
        return RSVP_JSON_OK;
    }
    /* a number token is valid JSON already; text from a string must match the grammar too */
    if (p->tok[v].type == JSMN_STRING && (!is_number(s, n, &is_int) || !is_int))
        return RSVP_JSON_WRONG_TYPE;
    if (!parse_int(s, n, dst))
        return RSVP_JSON_WRONG_TYPE; /* fraction, exponent, or outside int64 */
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

static rsvp_json_reason get_double(rsvp_json *p, unsigned v, protobuf_c_boolean *has, double *dst)
{
    const char *s;
    size_t n;
    int is_int;
    rsvp_json_reason r = number_text(p, v, &s, &n);
    if (r != RSVP_JSON_OK)
        return r;
    if (!s) {
        *has = 0;
        return RSVP_JSON_OK;
    }
    if (p->tok[v].type == JSMN_STRING && !is_number(s, n, &is_int))
        return RSVP_JSON_WRONG_TYPE;
    *dst = to_double(s, n) + 0.0; /* -0.0 -> 0.0 */
    *has = 1;
    return RSVP_JSON_OK;
}

/* Each object reader walks the keys of object token o and returns at the first problem. */

#define TRY(expr)                                                                                            \
    do {                                                                                                     \
        rsvp_json_reason r_ = (expr);                                                                        \
        if (r_ != RSVP_JSON_OK)                                                                              \
            return r_;                                                                                       \
    } while (0)

static rsvp_json_reason read_venue(rsvp_json *p, unsigned o)
{
    Rsvp__V1__Venue *x = &p->venue;
    *x = (Rsvp__V1__Venue)RSVP__V1__VENUE__INIT;
    unsigned k = o + 1;
    for (int i = 0; i < p->tok[o].size; i++, k = p->next[k + 1]) {
        unsigned v = k + 1;
        if (KEY(p, k, "venue_name"))
            TRY(get_string(p, v, &x->venue_name));
        else if (KEY(p, k, "lat"))
            TRY(get_double(p, v, &x->has_lat, &x->lat));
        else if (KEY(p, k, "lon"))
            TRY(get_double(p, v, &x->has_lon, &x->lon));
        else if (KEY(p, k, "venue_id"))
            TRY(get_i64(p, v, &x->has_venue_id, &x->venue_id));
    }
    return RSVP_JSON_OK;
}

/* other_services: {"twitter":{"identifier":"@x"}, ...} -> (service, identifier) pairs; a null
 * service value is skipped. */
static rsvp_json_reason read_other_services(rsvp_json *p, unsigned o)
{
    Rsvp__V1__Member *m = &p->member;
    m->n_other_services = 0;
    m->other_services = p->service_ptrs;
    unsigned k = o + 1;
    for (int i = 0; i < p->tok[o].size; i++, k = p->next[k + 1]) {
        unsigned v = k + 1;
        if (is_null(p, v))
            continue;
        if (p->tok[v].type != JSMN_OBJECT)
            return RSVP_JSON_WRONG_TYPE;
        if (m->n_other_services >= p->services_cap)
            return RSVP_JSON_TOO_MANY_TOKENS; /* unreachable: two tokens per entry */
        Rsvp__V1__OtherService *s = &p->services[m->n_other_services];
        *s = (Rsvp__V1__OtherService)RSVP__V1__OTHER_SERVICE__INIT;
        TRY(get_string(p, k, &s->service));
        unsigned kk = v + 1;
        for (int j = 0; j < p->tok[v].size; j++, kk = p->next[kk + 1])
            if (KEY(p, kk, "identifier"))
                TRY(get_string(p, kk + 1, &s->identifier));
        m->n_other_services++;
    }
    return RSVP_JSON_OK;
}

static rsvp_json_reason read_member(rsvp_json *p, unsigned o)
{
    Rsvp__V1__Member *x = &p->member;
    *x = (Rsvp__V1__Member)RSVP__V1__MEMBER__INIT;
    unsigned k = o + 1;
    for (int i = 0; i < p->tok[o].size; i++, k = p->next[k + 1]) {
        unsigned v = k + 1;
        if (KEY(p, k, "member_id"))
            TRY(get_i64(p, v, &x->has_member_id, &x->member_id));
        else if (KEY(p, k, "member_name"))
            TRY(get_string(p, v, &x->member_name));
        else if (KEY(p, k, "photo"))
            TRY(get_string(p, v, &x->photo));
        else if (KEY(p, k, "other_services")) {
            if (is_null(p, v)) {
                x->n_other_services = 0;
                x->other_services = NULL;
            } else if (p->tok[v].type == JSMN_OBJECT) {
                TRY(read_other_services(p, v));
            } else {
                return RSVP_JSON_WRONG_TYPE;
            }
        }
    }
    if (x->n_other_services == 0)
        x->other_services = NULL;
    return RSVP_JSON_OK;
}

static rsvp_json_reason read_event(rsvp_json *p, unsigned o)
{
    Rsvp__V1__Event *x = &p->event;
    *x = (Rsvp__V1__Event)RSVP__V1__EVENT__INIT;
    unsigned k = o + 1;
    for (int i = 0; i < p->tok[o].size; i++, k = p->next[k + 1]) {
        unsigned v = k + 1;
        if (KEY(p, k, "event_name"))
            TRY(get_string(p, v, &x->event_name));
        else if (KEY(p, k, "event_id"))
            TRY(get_string(p, v, &x->event_id));
        else if (KEY(p, k, "time"))
            TRY(get_i64(p, v, &x->has_time, &x->time));
        else if (KEY(p, k, "event_url"))
            TRY(get_string(p, v, &x->event_url));
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
    for (int i = 0; i < p->tok[a].size; i++, e = p->next[e]) {
        if (is_null(p, e))
            continue;
        if (p->tok[e].type != JSMN_OBJECT)
            return RSVP_JSON_WRONG_TYPE;
        if (g->n_group_topics >= p->topics_cap)
            return RSVP_JSON_TOO_MANY_TOKENS; /* unreachable: one token per element at least */
        Rsvp__V1__GroupTopic *t = &p->topics[g->n_group_topics];
        *t = (Rsvp__V1__GroupTopic)RSVP__V1__GROUP_TOPIC__INIT;
        unsigned k = e + 1;
        for (int j = 0; j < p->tok[e].size; j++, k = p->next[k + 1]) {
            if (KEY(p, k, "urlkey"))
                TRY(get_string(p, k + 1, &t->urlkey));
            else if (KEY(p, k, "topic_name"))
                TRY(get_string(p, k + 1, &t->topic_name));
        }
        g->n_group_topics++;
    }
    return RSVP_JSON_OK;
}

static rsvp_json_reason read_group(rsvp_json *p, unsigned o)
{
    Rsvp__V1__Group *x = &p->group;
    *x = (Rsvp__V1__Group)RSVP__V1__GROUP__INIT;
    unsigned k = o + 1;
    for (int i = 0; i < p->tok[o].size; i++, k = p->next[k + 1]) {
        unsigned v = k + 1;
        if (KEY(p, k, "group_topics")) {
            if (is_null(p, v))
                x->n_group_topics = 0;
            else if (p->tok[v].type == JSMN_ARRAY)
                TRY(read_topics(p, v));
            else
                return RSVP_JSON_WRONG_TYPE;
        } else if (KEY(p, k, "group_city"))
            TRY(get_string(p, v, &x->group_city));
        else if (KEY(p, k, "group_country"))
            TRY(get_string(p, v, &x->group_country));
        else if (KEY(p, k, "group_id"))
            TRY(get_i64(p, v, &x->has_group_id, &x->group_id));
        else if (KEY(p, k, "group_name"))
            TRY(get_string(p, v, &x->group_name));
        else if (KEY(p, k, "group_lon"))
            TRY(get_double(p, v, &x->has_group_lon, &x->group_lon));
        else if (KEY(p, k, "group_urlname"))
            TRY(get_string(p, v, &x->group_urlname));
        else if (KEY(p, k, "group_state"))
            TRY(get_string(p, v, &x->group_state));
        else if (KEY(p, k, "group_lat"))
            TRY(get_double(p, v, &x->has_group_lat, &x->group_lat));
    }
    if (x->n_group_topics == 0)
        x->group_topics = NULL;
    return RSVP_JSON_OK;
}

/* read_nested: a nested object (venue, member, event, group) into its storage; JSON null ->
 * *present = 0 (absent). */
static rsvp_json_reason read_nested(rsvp_json *p, unsigned v,
                                    rsvp_json_reason (*reader)(rsvp_json *, unsigned), int *present)
{
    *present = 0;
    if (is_null(p, v))
        return RSVP_JSON_OK;
    if (p->tok[v].type != JSMN_OBJECT)
        return RSVP_JSON_WRONG_TYPE;
    TRY(reader(p, v));
    *present = 1;
    return RSVP_JSON_OK;
}

static rsvp_json_reason read_root(rsvp_json *p, const char **response)
{
    Rsvp__V1__Rsvp *x = &p->rsvp;
    *x = (Rsvp__V1__Rsvp)RSVP__V1__RSVP__INIT;
    *response = NULL;
    unsigned k = 1;
    for (int i = 0; i < p->tok[0].size; i++, k = p->next[k + 1]) {
        unsigned v = k + 1;
        char *resp;
        if (KEY(p, k, "venue")) {
            int present;
            TRY(read_nested(p, v, read_venue, &present));
            x->venue = present ? &p->venue : NULL;
        } else if (KEY(p, k, "visibility"))
            TRY(get_string(p, v, &x->visibility));
        else if (KEY(p, k, "response")) {
            TRY(get_string(p, v, &resp));
            *response = resp;
        } else if (KEY(p, k, "guests")) {
            int64_t g = 0;
            protobuf_c_boolean has = 0;
            TRY(get_i64(p, v, &has, &g));
            if (has && (g < INT32_MIN || g > INT32_MAX))
                return RSVP_JSON_WRONG_TYPE;
            x->has_guests = has;
            x->guests = (int32_t)g;
        } else if (KEY(p, k, "member")) {
            int present;
            TRY(read_nested(p, v, read_member, &present));
            x->member = present ? &p->member : NULL;
        } else if (KEY(p, k, "rsvp_id"))
            TRY(get_i64(p, v, &x->has_rsvp_id, &x->rsvp_id));
        else if (KEY(p, k, "mtime"))
            TRY(get_i64(p, v, &x->has_mtime, &x->mtime));
        else if (KEY(p, k, "event")) {
            int present;
            TRY(read_nested(p, v, read_event, &present));
            x->event = present ? &p->event : NULL;
        } else if (KEY(p, k, "group")) {
            int present;
            TRY(read_nested(p, v, read_group, &present));
            x->group = present ? &p->group : NULL;
        }
    }
    return RSVP_JSON_OK;
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
static rsvp_json_reason validate(rsvp_json *p, const char *response)
{
    Rsvp__V1__Rsvp *x = &p->rsvp;
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

/* tokenize_twopass: jsmn, then pass 1; the reference for every reason of the JSON layer. */
static rsvp_json_reason tokenize_twopass(rsvp_json *p, const char *data, size_t len)
{
    /* a local tokenizer state: jsmn is inlined here, and a struct that never escapes can live in
     * registers (one on the heap is stored to per byte, it may alias the token array) */
    jsmn_parser jp;
    jsmn_init(&jp);
    int n = jsmn_parse(&jp, data, len, p->tok, p->lim.max_tokens);
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
    if (p->tok[0].type != JSMN_OBJECT)
        return RSVP_JSON_NOT_OBJECT;
    return RSVP_JSON_OK;
}

/* parse: rsvp_json_parse, with the single-pass tokenizer tried first unless twopass. */
static rsvp_json_reason parse(rsvp_json *p, const char *data, size_t len, Rsvp__V1__Rsvp **out, int twopass)
{
    if (len > p->lim.max_message_bytes)
        return RSVP_JSON_TOO_LARGE;
    p->js = data;
    p->len = len;
    p->arena_len = 0;
    rsvp_json_reason r;
    if ((twopass || !fast_scan(p, data, len)) && (r = tokenize_twopass(p, data, len)) != RSVP_JSON_OK)
        return r;

    /* pass 2 */
    const char *response;
    if ((r = read_root(p, &response)) != RSVP_JSON_OK)
        return r;
    if ((r = validate(p, response)) != RSVP_JSON_OK)
        return r;
    *out = &p->rsvp;
    return RSVP_JSON_OK;
}

rsvp_json_reason rsvp_json_parse(rsvp_json *p, const char *data, size_t len, Rsvp__V1__Rsvp **out)
{
    return parse(p, data, len, out, 0);
}

/* Packed, a scalar field takes at most a 2-byte tag and a 10-byte varint (or 8 bytes), a string
 * or submessage a tag, a 5-byte length and its bytes. The message has 29 non-repeated fields in
 * all (submessage headers included), a repeated entry is a header and two strings, and every
 * packed string is a committed arena string (its length + NUL counted in arena_len). */
#define PACKED_FIXED_FIELDS 29
#define PACKED_FIELD_MAX    12
#define PACKED_ENTRY_MAX    18

size_t rsvp_json_packed_bound(const rsvp_json *p)
{
    size_t entries = (p->rsvp.group ? p->rsvp.group->n_group_topics : 0) +
                     (p->rsvp.member ? p->rsvp.member->n_other_services : 0);
    return p->arena_len + PACKED_FIXED_FIELDS * PACKED_FIELD_MAX + entries * PACKED_ENTRY_MAX;
}

rsvp_json_reason rsvp_json_parse_twopass(rsvp_json *p, const char *data, size_t len, Rsvp__V1__Rsvp **out)
{
    return parse(p, data, len, out, 1);
}
