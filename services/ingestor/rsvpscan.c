/* rsvpscan.c: a validating one-pass JSON walker that extracts the top-level rsvp_id and mtime.
 * Strict RFC 8259 grammar (no comments, no trailing commas, no NaN), UTF-8 checked in strings,
 * nesting bounded by recursion depth. Cost: one pass over the bytes, no allocation. */
#include "services/ingestor/rsvpscan.h"

#include <stdint.h>
#include <string.h>

#include "common/err.h"

#define RSVPSCAN_MAX_DEPTH 64

typedef struct cursor {
    const unsigned char *p;
    const unsigned char *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int is_hex(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* utf8_seq: length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid. Rejects
 * overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char b0 = p[0];
    size_t avail = (size_t)(end - p);
    if (b0 >= 0xC2 && b0 <= 0xDF)
        return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if (b0 == 0xE0 && p[1] < 0xA0)
            return 0; /* overlong */
        if (b0 == 0xED && p[1] >= 0xA0)
            return 0; /* surrogate */
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (b0 == 0xF0 && p[1] < 0x90)
            return 0; /* overlong */
        if (b0 == 0xF4 && p[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* special_mask: eight string bytes at a time (little-endian: the lowest byte comes first); the
 * lowest flagged byte (bit 7 of each byte) is the first one that is '"', '\\', < 0x20 or >= 0x80,
 * the only bytes the loop below must look at. Higher flags may be false positives of a borrow,
 * the lowest never is. */
static inline uint64_t special_mask(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    uint64_t lt20 = (x - ones * 0x20) & ~x;
    uint64_t isq = (q - ones) & ~q;
    uint64_t isbs = (bs - ones) & ~bs;
    return (x | lt20 | isq | isbs) & highs;
}

/* scan_string: c->p at the opening quote. On success c->p is past the closing quote, *s and *n
 * the raw contents and *escaped whether a backslash occurred. */
static int scan_string(cursor *c, const unsigned char **s, size_t *n, int *escaped)
{
    c->p++;
    const unsigned char *start = c->p;
    int esc = 0;
    while (c->p < c->end) {
        /* plain ASCII runs, 8 bytes per step; the last 0-7 bytes go byte by byte below */
        while (c->end - c->p >= 8) {
            uint64_t w;
            memcpy(&w, c->p, 8);
            uint64_t m = special_mask(w);
            if (m) {
                c->p += __builtin_ctzll(m) >> 3;
                break;
            }
            c->p += 8;
        }
        if (c->p >= c->end)
            break;
        unsigned char ch = *c->p;
        if (ch == '"') {
            *s = start;
            *n = (size_t)(c->p - start);
            *escaped = esc;
            c->p++;
            return 0;
        }
        if (ch < 0x20)
            return ERR_INVALID;
        if (ch == '\\') {
            esc = 1;
            if (c->end - c->p < 2)
                return ERR_INVALID;
            unsigned char e = c->p[1];
            if (e == 'u') {
                if (c->end - c->p < 6 || !is_hex(c->p[2]) || !is_hex(c->p[3]) || !is_hex(c->p[4]) ||
                    !is_hex(c->p[5]))
                    return ERR_INVALID;
                c->p += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                c->p += 2;
            } else {
                return ERR_INVALID;
            }
            continue;
        }
        if (ch < 0x80) {
            c->p++;
            continue;
        }
        size_t k = utf8_seq(c->p, c->end);
        if (k == 0)
            return ERR_INVALID;
        c->p += k;
    }
    return ERR_INVALID; /* unterminated */
}

/* scan_number: JSON number grammar. *plain is set when it is a bare run of digits (no sign,
 * fraction or exponent). */
static int scan_number(cursor *c, const unsigned char **s, size_t *n, int *plain)
{
    const unsigned char *start = c->p;
    int pl = 1;
    if (c->p < c->end && *c->p == '-') {
        pl = 0;
        c->p++;
    }
    if (c->p >= c->end)
        return ERR_INVALID;
    if (*c->p == '0') {
        c->p++;
    } else if (*c->p >= '1' && *c->p <= '9') {
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    } else {
        return ERR_INVALID;
    }
    if (c->p < c->end && *c->p == '.') {
        pl = 0;
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return ERR_INVALID;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        pl = 0;
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return ERR_INVALID;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    }
    *s = start;
    *n = (size_t)(c->p - start);
    *plain = pl;
    return 0;
}

static int scan_literal(cursor *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return ERR_INVALID;
    c->p += n;
    return 0;
}

static int scan_value(cursor *c, int depth);

static int scan_container(cursor *c, int depth, unsigned char close)
{
    if (depth >= RSVPSCAN_MAX_DEPTH)
        return ERR_INVALID;
    c->p++; /* '{' or '[' */
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            const unsigned char *s;
            size_t n;
            int esc;
            if (c->p >= c->end || *c->p != '"' || scan_string(c, &s, &n, &esc) != 0)
                return ERR_INVALID;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':')
                return ERR_INVALID;
            c->p++;
            skip_ws(c);
        }
        if (scan_value(c, depth + 1) != 0)
            return ERR_INVALID;
        skip_ws(c);
        if (c->p >= c->end)
            return ERR_INVALID;
        if (*c->p == close) {
            c->p++;
            return 0;
        }
        if (*c->p != ',')
            return ERR_INVALID;
        c->p++;
        skip_ws(c);
    }
}

static int scan_value(cursor *c, int depth)
{
    if (c->p >= c->end)
        return ERR_INVALID;
    const unsigned char *s;
    size_t n;
    int flag;
    switch (*c->p) {
    case '{':
        return scan_container(c, depth, '}');
    case '[':
        return scan_container(c, depth, ']');
    case '"':
        return scan_string(c, &s, &n, &flag);
    case 't':
        return scan_literal(c, "true");
    case 'f':
        return scan_literal(c, "false");
    case 'n':
        return scan_literal(c, "null");
    default:
        return scan_number(c, &s, &n, &flag);
    }
}

/* digits_to_i64: 1..19 decimal digits to a non-negative int64 (19 digits may overflow: checked). */
static int digits_to_i64(const unsigned char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 19)
        return ERR_INVALID;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return ERR_INVALID;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return ERR_INVALID;
    *out = (int64_t)v;
    return 0;
}

/* scan_id_value: the value of rsvp_id or mtime: an integer number or a numeric string. */
static int scan_id_value(cursor *c, int64_t *out)
{
    const unsigned char *s;
    size_t n;
    int flag;
    if (c->p >= c->end)
        return ERR_INVALID;
    if (*c->p == '"') {
        if (scan_string(c, &s, &n, &flag) != 0 || flag)
            return ERR_INVALID;
        return digits_to_i64(s, n, out);
    }
    if (scan_number(c, &s, &n, &flag) != 0 || !flag)
        return ERR_INVALID;
    return digits_to_i64(s, n, out);
}

int rsvpscan_line(const char *p, size_t n, int64_t *rsvp_id, int64_t *mtime)
{
    cursor c = {(const unsigned char *)p, (const unsigned char *)p + n};
    int64_t id = 0, mt = 0;
    int have_id = 0, have_mt = 0;

    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return ERR_INVALID;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            const unsigned char *k;
            size_t kn;
            int esc;
            if (c.p >= c.end || *c.p != '"' || scan_string(&c, &k, &kn, &esc) != 0)
                return ERR_INVALID;
            skip_ws(&c);
            if (c.p >= c.end || *c.p != ':')
                return ERR_INVALID;
            c.p++;
            skip_ws(&c);
            if (!esc && kn == 7 && memcmp(k, "rsvp_id", 7) == 0 && !have_id) {
                if (scan_id_value(&c, &id) != 0)
                    return ERR_INVALID;
                have_id = 1;
            } else if (!esc && kn == 5 && memcmp(k, "mtime", 5) == 0 && !have_mt) {
                if (scan_id_value(&c, &mt) != 0)
                    return ERR_INVALID;
                have_mt = 1;
            } else if (scan_value(&c, 1) != 0) {
                return ERR_INVALID;
            }
            skip_ws(&c);
            if (c.p >= c.end)
                return ERR_INVALID;
            if (*c.p == '}') {
                c.p++;
                break;
            }
            if (*c.p != ',')
                return ERR_INVALID;
            c.p++;
            skip_ws(&c);
        }
    }
    skip_ws(&c);
    if (c.p != c.end || !have_id || !have_mt)
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
