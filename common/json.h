/* json.h: the one JSON layer of the project. The byte helpers every reader of JSON text here needs
 * (white space, hex digits, UTF-8 sequences, plain runs of string bytes, integers, unescaping) and one
 * strict RFC 8259 scanner with two outputs: a token array (the parser, the writer's test client) or the
 * values of chosen top-level keys (the ingestor's rsvp_id and mtime, rsvp-replay's splicing). A key is
 * compared after unescaping and the last of duplicated keys wins, as the reference job reads them. */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- bytes ---- */

static inline int json_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* json_hex: the value of one hex digit, -1 if c is none. */
static inline int json_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* json_hex4: four hex digits at p into *out; 0 if one is not a hex digit. */
static inline int json_hex4(const unsigned char *p, unsigned *out)
{
    int a = json_hex(p[0]), b = json_hex(p[1]), c = json_hex(p[2]), d = json_hex(p[3]);
    if ((a | b | c | d) < 0)
        return 0;
    *out = (unsigned)(a << 12 | b << 8 | c << 4 | d);
    return 1;
}

/* json_utf8_seq: length of the valid UTF-8 sequence at p (p < end, *p >= 0x80), 0 if invalid:
 * overlong forms, UTF-16 surrogates and code points above U+10FFFF are invalid (RFC 3629). */
static inline size_t json_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned b0 = p[0];
    size_t avail = (size_t)(end - p);
    if (b0 >= 0xC2 && b0 <= 0xDF)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
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

/* json_utf8_put: code point cp (<= U+10FFFF) as UTF-8 at d (room for 4); returns its length. */
static inline size_t json_utf8_put(char *d, unsigned cp)
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

/* json_stop_mask: eight string bytes at a time (little-endian: the lowest byte comes first); the
 * lowest flagged byte (bit 7 of each byte) is the first that is '"', '\\', < 0x20 or >= 0x80.
 * Higher flags may be false positives of a borrow; the lowest never is. */
static inline uint64_t json_stop_mask(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    uint64_t lt20 = (x - ones * 0x20) & ~x;
    uint64_t isq = (q - ones) & ~q;
    uint64_t isbs = (bs - ones) & ~bs;
    return (x | lt20 | isq | isbs) & highs;
}

/* json_skip_plain: from p, the first byte that is '"', '\\', < 0x20 or >= 0x80 (the only bytes of a
 * JSON string that need a closer look), or end. Reads only within [p, end). */
static inline const unsigned char *json_skip_plain(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed compare: bytes >= 0x80 are negative, so "< 0x20" flags them too */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return p + __builtin_ctz(bits);
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t m = json_stop_mask(w);
        if (m)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80)
        p++;
    return p;
}

/* json_number_len: length of the longest prefix of s[0..n) matching the JSON number grammar
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, 0 if none; *is_int: no fraction or exponent. */
size_t json_number_len(const char *s, size_t n, int *is_int);

/* json_int_text: s[0..n) is exactly a JSON integer (-?(0|[1-9][0-9]*)) that fits int64: 0 and *out,
 * else -1. */
int json_int_text(const char *s, size_t n, int64_t *out);

/* json_i64_dec: the decimal text of v into out, NUL-terminated; returns its length (at most 20). */
size_t json_i64_dec(int64_t v, char out[24]);

/* json_unescape: the body s[0..n) of a string the scanner accepted, escapes resolved, into out (room
 * for n bytes: never longer). Returns the decoded length; *nul (if not NULL) = it contains U+0000. */
size_t json_unescape(const char *s, size_t n, char *out, int *nul);

/* ---- the strict scanner ---- */

enum { JSON_OBJECT = 1, JSON_ARRAY, JSON_STRING, JSON_NUMBER, JSON_TRUE, JSON_FALSE, JSON_NULL };

/* One value (or object key) of a scanned document. Strings: [start, end) is the body between the
 * quotes and esc says it has a backslash; numbers: their text, esc says it has a fraction or an
 * exponent; literals: their text; containers: from the opening to just past the closing bracket,
 * count = members or elements. Tokens are in document order, an object's members as key, value;
 * next = the index of the token after this subtree. */
typedef struct json_tok {
    uint32_t start, end;
    uint32_t next;
    uint32_t count;
    unsigned char type;
    unsigned char esc;
} json_tok;

/* What json_scan and json_scan_top report. */
enum {
    JSON_OK = 0,
    JSON_E_SYNTAX = -1, /* not exactly one RFC 8259 value (white space around it allowed) */
    JSON_E_UTF8 = -2,   /* a string with invalid UTF-8 or an escaped lone surrogate */
    JSON_E_DEPTH = -3,  /* nested deeper than allowed */
    JSON_E_TOKENS = -4, /* more values than the token array holds */
};

/* json_scan: p[0..n) must be one JSON value by RFC 8259 (strings: valid UTF-8, valid escapes, paired
 * surrogates), nesting at most max_depth containers (<= 64), at most cap tokens. Fills tok[0..*ntok)
 * and returns JSON_OK, else a JSON_E_* (the first problem found; tok unspecified). Strict and
 * conservative by design: input it refuses may still be readable by a lenient reader. One pass, no
 * allocation, string bodies 16 bytes at a time. Pure; any thread. */
int json_scan(const char *p, size_t n, json_tok *tok, unsigned cap, unsigned max_depth, unsigned *ntok);

/* json_scan_top: the same check of p[0..n) (max_depth <= 64), which must be an object; for each of the
 * nnames keys in names[] (compared after unescaping), the value of its last occurrence at the top
 * level goes to out[i] (type 0 when absent). For a container value only type and start are set. */
int json_scan_top(const char *p, size_t n, unsigned max_depth, const char *const *names, unsigned nnames,
                  json_tok *out);

/* json_check_string: b[0..n) is the body of a string (between its quotes) as json_scan checks one:
 * valid escapes, paired surrogates, valid UTF-8, no raw control character or unescaped quote.
 * JSON_OK (*escaped: 1 if it holds an escape), JSON_E_SYNTAX or JSON_E_UTF8. */
int json_check_string(const char *b, size_t n, int *escaped);

/* json_tok_int: the integer a value holds: a number token without fraction or exponent, or a string
 * whose unescaped text is one (json_int_text's grammar), that fits int64. doc is the scanned text.
 * 0 and *out, else -1. The one rule by which rsvp_id and mtime are read. */
int json_tok_int(const char *doc, const json_tok *t, int64_t *out);

#endif
