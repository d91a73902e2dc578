/* jsonbytes.h: the two byte-level checks every JSON string scanner here needs (the ingestor's line
 * scanner and the parser's tokenizer): where a run of plain string bytes ends, and how long a valid
 * UTF-8 sequence is. Header-only and inline: both sit on the hottest loops of their services. */
#ifndef COMMON_JSONBYTES_H
#define COMMON_JSONBYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

#endif
