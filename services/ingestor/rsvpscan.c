/* rsvpscan.c: a validating one-pass JSON walker that extracts the top-level rsvp_id and mtime.
 * Strict RFC 8259 grammar (no comments, no trailing commas, no NaN), UTF-8 checked in strings,
 * nesting bounded by a bit stack. Cost: one pass over the bytes, no allocation, no recursion;
 * string bodies are skipped 16 bytes at a time (common/jsonbytes.h). */
#include "services/ingestor/rsvpscan.h"

#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "common/jsonbytes.h"

#define RSVPSCAN_MAX_DEPTH 64 /* containers open at once, the top-level object included */

typedef const unsigned char *ptr;

static inline int is_ws(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static inline ptr skip_ws(ptr p, ptr end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

static inline int is_hex(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
}

/* scan_string: p at the opening quote. Returns the byte past the closing quote, or NULL if the
 * string is invalid or unterminated; *s and *n are the raw contents. */
static ptr scan_string(ptr p, ptr end, ptr *s, size_t *n)
{
    ptr start = ++p;
    for (;;) {
        p = json_skip_plain(p, end);
        if (p >= end)
            return NULL; /* unterminated */
        unsigned char ch = *p;
        if (ch == '"') {
            *s = start;
            *n = (size_t)(p - start);
            return p + 1;
        }
        if (ch == '\\') {
            if (end - p < 2)
                return NULL;
            unsigned char e = p[1];
            if (e == 'u') {
                if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5]))
                    return NULL;
                p += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
                       e == 't') {
                p += 2;
            } else {
                return NULL;
            }
            continue;
        }
        if (ch < 0x20)
            return NULL;
        size_t k = json_utf8_seq(p, end); /* ch >= 0x80 */
        if (k == 0)
            return NULL;
        p += k;
    }
}

static inline int is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

/* scan_number: JSON number grammar. Returns the byte past it or NULL; *plain is set when it is a
 * bare run of digits (no sign, fraction or exponent). */
static ptr scan_number(ptr p, ptr end, int *plain)
{
    int pl = 1;
    if (p < end && *p == '-') {
        pl = 0;
        p++;
    }
    if (p >= end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        p++;
        while (p < end && is_digit(*p))
            p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        pl = 0;
        p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        pl = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    *plain = pl;
    return p;
}

/* digits_to_i64: 1..19 decimal digits to a non-negative int64 (19 digits may overflow: checked). */
static int digits_to_i64(ptr s, size_t n, int64_t *out)
{
    if (n == 0 || n > 19)
        return ERR_INVALID;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return ERR_INVALID;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return ERR_INVALID;
    *out = (int64_t)v;
    return 0;
}

/* scan_id_value: the value of rsvp_id or mtime: an integer number or a numeric string. Returns
 * the byte past it or NULL. */
static ptr scan_id_value(ptr p, ptr end, int64_t *out)
{
    ptr s;
    size_t n;
    if (p >= end)
        return NULL;
    if (*p == '"') {
        /* digits only, so no escape can hide in them */
        ptr q = scan_string(p, end, &s, &n);
        return q && digits_to_i64(s, n, out) == 0 ? q : NULL;
    }
    int plain;
    ptr q = scan_number(p, end, &plain);
    if (!q || !plain || digits_to_i64(p, (size_t)(q - p), out) != 0)
        return NULL;
    return q;
}

/* scan_literal: true, false or null at p. Returns the byte past it or NULL. */
static ptr scan_literal(ptr p, ptr end)
{
    const char *word = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
    size_t n = *p == 'f' ? 5 : 4;
    if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
        return NULL;
    return p + n;
}

/* The walk is a loop over two states: expecting a value (or, in an object, a key first) and
 * having finished one. open[] is a bit stack of the containers entered: 1 = object. */
int rsvpscan_line(const char *line, size_t n, int64_t *rsvp_id, int64_t *mtime)
{
    ptr p = (ptr)line, end = p + n;
    uint64_t objects = 0; /* bit d set: the container at depth d+1 is an object */
    int depth = 0;
    int64_t id = 0, mt = 0;
    int have_id = 0, have_mt = 0;
    ptr s;
    size_t sn;

    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return ERR_INVALID;
    /* The top-level object: entered here so its keys can be told apart. */
    p = skip_ws(p + 1, end);
    depth = 1;
    objects = 1;
    if (p < end && *p == '}') {
        p++;
        depth = 0;
        goto done;
    }
    goto key;

key: /* p at what must be an object key (whitespace skipped) */
    if (p >= end || *p != '"' || !(p = scan_string(p, end, &s, &sn)))
        return ERR_INVALID;
    p = skip_ws(p, end);
    if (p >= end || *p != ':')
        return ERR_INVALID;
    p = skip_ws(p + 1, end);
    if (depth == 1) {
        if (sn == 7 && !have_id && memcmp(s, "rsvp_id", 7) == 0) {
            if (!(p = scan_id_value(p, end, &id)))
                return ERR_INVALID;
            have_id = 1;
            goto after;
        }
        if (sn == 5 && !have_mt && memcmp(s, "mtime", 5) == 0) {
            if (!(p = scan_id_value(p, end, &mt)))
                return ERR_INVALID;
            have_mt = 1;
            goto after;
        }
    }
    /* fall through to the member's value */

value: /* p at a value (whitespace skipped) */
    if (p >= end)
        return ERR_INVALID;
    switch (*p) {
    case '"':
        if (!(p = scan_string(p, end, &s, &sn)))
            return ERR_INVALID;
        break;
    case '{':
    case '[': {
        if (depth >= RSVPSCAN_MAX_DEPTH)
            return ERR_INVALID;
        int obj = *p == '{';
        objects = obj ? objects | (1ull << depth) : objects & ~(1ull << depth);
        depth++;
        p = skip_ws(p + 1, end);
        if (p < end && *p == (obj ? '}' : ']')) {
            p++;
            depth--;
            break;
        }
        if (obj)
            goto key;
        goto value;
    }
    case 't':
    case 'f':
    case 'n':
        if (!(p = scan_literal(p, end)))
            return ERR_INVALID;
        break;
    default: {
        int plain;
        if (!(p = scan_number(p, end, &plain)))
            return ERR_INVALID;
        break;
    }
    }

after: /* a value inside the container at depth ended just before p */
    p = skip_ws(p, end);
    if (p >= end)
        return ERR_INVALID;
    {
        int in_obj = (int)((objects >> (depth - 1)) & 1);
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            if (in_obj)
                goto key;
            goto value;
        }
        if (*p != (in_obj ? '}' : ']'))
            return ERR_INVALID;
        p++;
        if (--depth > 0)
            goto after;
    }

done: /* the top-level object closed just before p */
    p = skip_ws(p, end);
    if (p != end || !have_id || !have_mt)
        return ERR_INVALID;
    *rsvp_id = id;
    *mtime = mt;
    return 0;
}

size_t rsvpscan_format_id(int64_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}
