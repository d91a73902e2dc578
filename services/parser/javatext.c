/* javatext.c: OpenJDK 17's UTF-8 decoder and encoder, Double.toString (FloatingDecimal's dtoa: its
 * int, long and big-integer paths, including their overflow and rounding quirks), Double.parseDouble's
 * grammar and Spark's cast of a string to double, reimplemented from their documented behaviour and
 * checked against the JVM (tests/unit/test_parser_javatext.c). */
#include "services/parser/javatext.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* ---- UTF-8 <-> UTF-16 ---- */

static int cont(unsigned b)
{
    return (b & 0xC0) == 0x80;
}

/* malformed_len: how many bytes at p (n available, p[0] a lead byte the decoder rejects or whose
 * sequence is broken) OpenJDK's decoder reports as one malformed sequence. The rules are those of
 * sun.nio.cs.UTF_8.Decoder: a bad lead byte is one byte; a sequence is cut where its first byte that
 * cannot continue it stands, counting only the bytes that could begin a valid sequence. */
static size_t malformed_len(const unsigned char *p, size_t n)
{
    unsigned b1 = p[0];
    if (b1 >= 0xE0 && b1 <= 0xEF) {
        if (n < 2)
            return n;
        unsigned b2 = p[1];
        if ((b1 == 0xE0 && (b2 & 0xE0) == 0x80) || !cont(b2))
            return 1;
        if (n < 3)
            return n; /* E? xx at the end: incomplete */
        if (!cont(p[2]))
            return 2;
        return 3; /* a surrogate encoded in UTF-8 */
    }
    if (b1 >= 0xF0 && b1 <= 0xF7) {
        if (b1 > 0xF4)
            return 1;
        if (n < 2)
            return n;
        unsigned b2 = p[1];
        if ((b1 == 0xF0 && (b2 < 0x90 || b2 > 0xBF)) || (b1 == 0xF4 && (b2 & 0xF0) != 0x80) || !cont(b2))
            return 1;
        if (n < 3)
            return n;
        if (!cont(p[2]))
            return 2;
        if (n < 4)
            return n;
        return 3; /* the fourth byte does not continue it */
    }
    if (b1 >= 0xC2 && b1 <= 0xDF)
        return 1; /* second byte missing or not a continuation (or the end: one byte either way) */
    return 1;
}

size_t jt_utf8_decode(const unsigned char *s, size_t n, uint16_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned b1 = s[i];
        if (b1 < 0x80) {
            out[o++] = (uint16_t)b1;
            i++;
            continue;
        }
        size_t left = n - i;
        if (b1 >= 0xC2 && b1 <= 0xDF && left >= 2 && cont(s[i + 1])) {
            out[o++] = (uint16_t)(((b1 & 0x1F) << 6) | (s[i + 1] & 0x3F));
            i += 2;
            continue;
        }
        if (b1 >= 0xE0 && b1 <= 0xEF && left >= 3 && cont(s[i + 1]) && cont(s[i + 2]) &&
            !(b1 == 0xE0 && s[i + 1] < 0xA0)) {
            unsigned c = ((b1 & 0x0F) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
            if (c < 0xD800 || c > 0xDFFF) {
                out[o++] = (uint16_t)c;
                i += 3;
                continue;
            }
        }
        if (b1 >= 0xF0 && b1 <= 0xF4 && left >= 4 && cont(s[i + 1]) && cont(s[i + 2]) && cont(s[i + 3])) {
            unsigned c = ((b1 & 0x07) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) |
                         (s[i + 3] & 0x3Fu);
            if (c >= 0x10000 && c <= 0x10FFFF) {
                c -= 0x10000;
                out[o++] = (uint16_t)(0xD800 | (c >> 10));
                out[o++] = (uint16_t)(0xDC00 | (c & 0x3FF));
                i += 4;
                continue;
            }
        }
        out[o++] = 0xFFFD;
        i += malformed_len(s + i, left);
    }
    return o;
}

size_t jt_utf16_to_utf8(const uint16_t *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
            unsigned cp = 0x10000 + ((c - 0xD800) << 10) + (s[i + 1] - 0xDC00u);
            out[o++] = (char)(0xF0 | (cp >> 18));
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
            i++;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            out[o++] = '?';
        } else {
            out[o++] = (char)(0xE0 | (c >> 12));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return o;
}

/* ---- Double.toString ---- */

/* Java's int and long arithmetic wraps; these make C do the same without undefined behaviour. */
static int32_t imul(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a * (uint32_t)b);
}
static int32_t iadd(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}
static int32_t ishl(int32_t a, int s)
{
    return (int32_t)((uint32_t)a << (s & 31));
}
static int64_t lmul(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a * (uint64_t)b);
}
static int64_t ladd(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}
static int64_t lshl(int64_t a, int s)
{
    return (int64_t)((uint64_t)a << (s & 63));
}

static const int32_t small5pow[14] = {1,     5,      25,      125,     625,      3125,      15625,
                                      78125, 390625, 1953125, 9765625, 48828125, 244140625, 1220703125};
static const int n5bits[27] = {0,  3,  5,  7,  10, 12, 14, 17, 19, 21, 24, 26, 28, 31,
                               33, 35, 38, 40, 42, 45, 47, 49, 52, 54, 56, 59, 61};
static const int insig_pow2[64] = {0,  0,  0,  0,  1,  1,  1,  2,  2,  2,  3,  3,  3,  3,  4,  4,
                                   4,  5,  5,  5,  6,  6,  6,  6,  7,  7,  7,  8,  8,  8,  9,  9,
                                   9,  9,  10, 10, 10, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 14,
                                   14, 14, 15, 15, 15, 15, 16, 16, 16, 17, 17, 17, 18, 18, 18, 19};

static int64_t long5pow(int i)
{
    int64_t v = 1;
    while (i-- > 0)
        v *= 5;
    return v;
}

/* A small unsigned big integer: enough for 5^340 * 2^1200. */
#define BN_WORDS 96
typedef struct bn {
    uint32_t w[BN_WORDS]; /* little-endian words */
    int n;                /* words in use (no leading zero words) */
} bn;

static void bn_trim(bn *a)
{
    while (a->n > 0 && a->w[a->n - 1] == 0)
        a->n--;
}

static void bn_set_u64(bn *a, uint64_t v)
{
    a->w[0] = (uint32_t)v;
    a->w[1] = (uint32_t)(v >> 32);
    a->n = 2;
    bn_trim(a);
}

static void bn_mul_small(bn *a, uint32_t m)
{
    uint64_t carry = 0;
    for (int i = 0; i < a->n; i++) {
        uint64_t t = (uint64_t)a->w[i] * m + carry;
        a->w[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry)
        a->w[a->n++] = (uint32_t)carry;
}

static void bn_shl(bn *a, int s)
{
    if (a->n == 0 || s <= 0)
        return;
    int ws = s / 32, bs = s % 32;
    int n = a->n + ws + 1;
    for (int i = n - 1; i >= 0; i--) {
        int src = i - ws;
        uint32_t hi = src >= 0 && src < a->n ? a->w[src] : 0;
        uint32_t lo = src - 1 >= 0 && src - 1 < a->n ? a->w[src - 1] : 0;
        a->w[i] = bs ? (hi << bs) | (lo >> (32 - bs)) : hi;
    }
    a->n = n;
    bn_trim(a);
}

/* v * 5^p5 * 2^p2 */
static void bn_pow52(bn *a, uint64_t v, int p5, int p2)
{
    bn_set_u64(a, v);
    while (p5 >= 13) {
        bn_mul_small(a, 1220703125u);
        p5 -= 13;
    }
    if (p5 > 0)
        bn_mul_small(a, (uint32_t)small5pow[p5]);
    bn_shl(a, p2);
}

static int bn_cmp(const bn *a, const bn *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->w[i] != b->w[i])
            return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

static void bn_add(bn *r, const bn *a, const bn *b)
{
    int n = a->n > b->n ? a->n : b->n;
    uint64_t carry = 0;
    for (int i = 0; i < n; i++) {
        uint64_t t = (uint64_t)(i < a->n ? a->w[i] : 0) + (i < b->n ? b->w[i] : 0) + carry;
        r->w[i] = (uint32_t)t;
        carry = t >> 32;
    }
    r->n = n;
    if (carry)
        r->w[r->n++] = (uint32_t)carry;
}

static void bn_sub(bn *a, const bn *b) /* a -= b, a >= b */
{
    int64_t borrow = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t t = (int64_t)a->w[i] - (i < b->n ? b->w[i] : 0) - borrow;
        borrow = t < 0;
        a->w[i] = (uint32_t)(t + (borrow ? ((int64_t)1 << 32) : 0));
    }
    bn_trim(a);
}

/* q = a / s (known to be < 10 here), a = (a % s) * 10 */
static int bn_quorem10(bn *a, const bn *s)
{
    int q = 0;
    while (bn_cmp(a, s) >= 0) {
        bn_sub(a, s);
        q++;
    }
    bn_mul_small(a, 10);
    return q;
}

typedef struct fd {
    char digits[20];
    int first, ndigits, decexp;
} fd;

static void develop_long_digits(fd *f, int decexp, int64_t v, int insignificant)
{
    if (insignificant != 0) {
        int64_t pow10 = long5pow(insignificant) << insignificant;
        int64_t residue = v % pow10;
        v /= pow10;
        decexp += insignificant;
        if (residue >= (pow10 >> 1))
            v++;
    }
    int digitno = 19, c;
    c = (int)(v % 10);
    v /= 10;
    while (c == 0) {
        decexp++;
        c = (int)(v % 10);
        v /= 10;
    }
    while (v != 0) {
        f->digits[digitno--] = (char)('0' + c);
        decexp++;
        c = (int)(v % 10);
        v /= 10;
    }
    f->digits[digitno] = (char)('0' + c);
    f->decexp = decexp + 1;
    f->first = digitno;
    f->ndigits = 20 - digitno;
}

static int estimate_dec_exp(uint64_t fract, int binexp)
{
    uint64_t one = (uint64_t)0x3FF << 52;
    double d2;
    uint64_t bits = one | (fract & (((uint64_t)1 << 52) - 1));
    memcpy(&d2, &bits, 8);
    double d = (d2 - 1.5) * 0.289529654 + 0.176091259 + (double)binexp * 0.301029995663981;
    uint64_t db;
    memcpy(&db, &d, 8);
    int exponent = (int)((db >> 52) & 0x7FF) - 1023;
    int neg = (db >> 63) != 0;
    if (exponent >= 0 && exponent < 52) {
        uint64_t mask = (((uint64_t)1 << 52) - 1) >> exponent;
        int r = (int)(((db & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1 << 52)) >> (52 - exponent));
        return neg ? ((mask & db) == 0 ? -r : -r - 1) : r;
    }
    if (exponent < 0)
        return (db & ~((uint64_t)1 << 63)) == 0 ? 0 : (neg ? -1 : 0);
    return (int)d;
}

static void roundup(fd *f)
{
    int i = f->first + f->ndigits - 1;
    int q = f->digits[i];
    if (q == '9') {
        while (q == '9' && i > f->first) {
            f->digits[i] = '0';
            q = f->digits[--i];
        }
        if (q == '9') {
            f->decexp += 1;
            f->digits[f->first] = '1';
            return;
        }
    }
    f->digits[i] = (char)(q + 1);
}

static void dtoa(fd *f, int binexp, uint64_t fract, int nsig)
{
    const int tail = __builtin_ctzll(fract);
    const int nfract = 53 - tail;
    int ntiny = nfract - binexp - 1 > 0 ? nfract - binexp - 1 : 0;
    if (binexp <= 62 && binexp >= -21 && ntiny < 27 && nfract + n5bits[ntiny] < 64 && ntiny == 0) {
        int insignificant =
            binexp > nsig
                ? (binexp - nsig - 1 > 1 && binexp - nsig - 1 < 64 ? insig_pow2[binexp - nsig - 1] : 0)
                : 0;
        if (binexp >= 52)
            fract <<= binexp - 52;
        else
            fract >>= 52 - binexp;
        develop_long_digits(f, 0, (int64_t)fract, insignificant);
        return;
    }
    int decexp = estimate_dec_exp(fract, binexp);
    int b5 = decexp < 0 ? -decexp : 0, b2 = b5 + ntiny + binexp;
    int s5 = decexp > 0 ? decexp : 0, s2 = s5 + ntiny;
    int m5 = b5, m2 = b2 - nsig;
    fract >>= tail;
    b2 -= nfract - 1;
    int common2 = b2 < s2 ? b2 : s2;
    b2 -= common2;
    s2 -= common2;
    m2 -= common2;
    if (nfract == 1)
        m2 -= 1;
    if (m2 < 0) {
        b2 -= m2;
        s2 -= m2;
        m2 = 0;
    }
    int ndigit = 0, low, high, q;
    int64_t lowdiff = 0;
    int bbits = nfract + b2 + (b5 < 27 ? n5bits[b5] : b5 * 3);
    int tensbits = s2 + 1 + (s5 + 1 < 27 ? n5bits[s5 + 1] : (s5 + 1) * 3);
    if (bbits < 64 && tensbits < 64) {
        if (bbits < 32 && tensbits < 32) {
            int32_t b = ishl(imul((int32_t)fract, small5pow[b5]), b2);
            int32_t s = ishl(small5pow[s5], s2);
            int32_t m = ishl(small5pow[m5], m2);
            int32_t tens = imul(s, 10);
            q = b / s;
            b = imul(10, b % s);
            m = imul(m, 10);
            low = b < m;
            high = iadd(b, m) > tens;
            if (q == 0 && !high)
                decexp--;
            else
                f->digits[ndigit++] = (char)('0' + q);
            if (decexp < -3 || decexp >= 8)
                high = low = 0;
            while (!low && !high) {
                q = b / s;
                b = imul(10, b % s);
                m = imul(m, 10);
                if (m > 0) {
                    low = b < m;
                    high = iadd(b, m) > tens;
                } else {
                    low = high = 1;
                }
                f->digits[ndigit++] = (char)('0' + q);
            }
            lowdiff = (int64_t)(int32_t)((uint32_t)ishl(b, 1) - (uint32_t)tens);
        } else {
            int64_t b = lshl(lmul((int64_t)fract, long5pow(b5)), b2);
            int64_t s = lshl(long5pow(s5), s2);
            int64_t m = lshl(long5pow(m5), m2);
            int64_t tens = lmul(s, 10);
            q = (int)(b / s);
            b = lmul(10, b % s);
            m = lmul(m, 10);
            low = b < m;
            high = ladd(b, m) > tens;
            if (q == 0 && !high)
                decexp--;
            else
                f->digits[ndigit++] = (char)('0' + q);
            if (decexp < -3 || decexp >= 8)
                high = low = 0;
            while (!low && !high) {
                q = (int)(b / s);
                b = lmul(10, b % s);
                m = lmul(m, 10);
                if (m > 0) {
                    low = b < m;
                    high = ladd(b, m) > tens;
                } else {
                    low = high = 1;
                }
                f->digits[ndigit++] = (char)('0' + q);
            }
            lowdiff = (int64_t)((uint64_t)lshl(b, 1) - (uint64_t)tens);
        }
    } else {
        /* FDBigInteger arithmetic is exact: a common power of two (its normalisation) changes nothing */
        static __thread bn S, B, M, T, sum;
        bn_pow52(&S, 1, s5, s2);
        bn_pow52(&B, fract, b5, b2);
        bn_pow52(&M, 1, m5 + 1, m2 + 1);
        bn_pow52(&T, 1, s5 + 1, s2 + 1);
        q = bn_quorem10(&B, &S);
        low = bn_cmp(&B, &M) < 0;
        bn_add(&sum, &B, &M);
        high = bn_cmp(&T, &sum) <= 0;
        if (q == 0 && !high)
            decexp--;
        else
            f->digits[ndigit++] = (char)('0' + q);
        if (decexp < -3 || decexp >= 8)
            high = low = 0;
        while (!low && !high) {
            q = bn_quorem10(&B, &S);
            bn_mul_small(&M, 10);
            low = bn_cmp(&B, &M) < 0;
            bn_add(&sum, &B, &M);
            high = bn_cmp(&T, &sum) <= 0;
            f->digits[ndigit++] = (char)('0' + q);
        }
        if (high && low) {
            bn_shl(&B, 1);
            lowdiff = bn_cmp(&B, &T);
        } else {
            lowdiff = 0;
        }
    }
    f->decexp = decexp + 1;
    f->first = 0;
    f->ndigits = ndigit;
    if (high) {
        if (low) {
            if (lowdiff == 0) {
                if ((f->digits[f->first + f->ndigits - 1] & 1) != 0)
                    roundup(f);
            } else if (lowdiff > 0) {
                roundup(f);
            }
        } else {
            roundup(f);
        }
    }
}

size_t jt_double_str(double d, char out[32])
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    int neg = (bits >> 63) != 0;
    uint64_t fract = bits & (((uint64_t)1 << 52) - 1);
    int binexp = (int)((bits >> 52) & 0x7FF);
    const char *special = NULL;
    if (binexp == 0x7FF)
        special = fract ? "NaN" : neg ? "-Infinity" : "Infinity";
    else if (binexp == 0 && fract == 0)
        special = neg ? "-0.0" : "0.0";
    if (special) {
        size_t n = strlen(special);
        memcpy(out, special, n + 1);
        return n;
    }
    int nsig;
    if (binexp == 0) {
        int lz = __builtin_clzll(fract);
        int shift = lz - (63 - 52);
        fract <<= shift;
        binexp = 1 - shift;
        nsig = 64 - lz;
    } else {
        fract |= (uint64_t)1 << 52;
        nsig = 53;
    }
    binexp -= 1023;
    fd f;
    dtoa(&f, binexp, fract, nsig);
    /* BinaryToASCIIBuffer.getChars */
    size_t i = 0;
    const char *dg = f.digits + f.first;
    int nd = f.ndigits, de = f.decexp;
    if (neg)
        out[i++] = '-';
    if (de > 0 && de < 8) {
        int len = nd < de ? nd : de;
        memcpy(out + i, dg, (size_t)len);
        i += (size_t)len;
        if (len < de) {
            memset(out + i, '0', (size_t)(de - len));
            i += (size_t)(de - len);
            out[i++] = '.';
            out[i++] = '0';
        } else {
            out[i++] = '.';
            if (len < nd) {
                memcpy(out + i, dg + len, (size_t)(nd - len));
                i += (size_t)(nd - len);
            } else {
                out[i++] = '0';
            }
        }
    } else if (de <= 0 && de > -3) {
        out[i++] = '0';
        out[i++] = '.';
        if (de != 0) {
            memset(out + i, '0', (size_t)-de);
            i += (size_t)-de;
        }
        memcpy(out + i, dg, (size_t)nd);
        i += (size_t)nd;
    } else {
        out[i++] = dg[0];
        out[i++] = '.';
        if (nd > 1) {
            memcpy(out + i, dg + 1, (size_t)(nd - 1));
            i += (size_t)(nd - 1);
        } else {
            out[i++] = '0';
        }
        out[i++] = 'E';
        int e;
        if (de <= 0) {
            out[i++] = '-';
            e = -de + 1;
        } else {
            e = de - 1;
        }
        if (e <= 9) {
            out[i++] = (char)('0' + e);
        } else if (e <= 99) {
            out[i++] = (char)('0' + e / 10);
            out[i++] = (char)('0' + e % 10);
        } else {
            out[i++] = (char)('0' + e / 100);
            e %= 100;
            out[i++] = (char)('0' + e / 10);
            out[i++] = (char)('0' + e % 10);
        }
    }
    out[i] = '\0';
    return i;
}

/* ---- Double.parseDouble and Spark's cast ---- */

static int is_hexd(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static int is_dig(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* parse_hex: s[0..n) (trimmed) against FloatingDecimal's pattern
 * ([-+])?0[xX](hex+ \.? | hex* \. hex+)[pP]([-+])?(digits)[fFdD]?  */
static int parse_hex(const char *s, size_t n, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (n - i < 2 || s[i] != '0' || (s[i + 1] | 0x20) != 'x')
        return ERR_INVALID;
    i += 2;
    size_t lead = 0, frac = 0;
    int nonzero = 0;
    while (i < n && is_hexd((unsigned char)s[i])) {
        nonzero |= s[i] != '0';
        i++, lead++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_hexd((unsigned char)s[i])) {
            nonzero |= s[i] != '0';
            i++, frac++;
        }
    }
    if (lead + frac == 0 || i >= n || (s[i] | 0x20) != 'p')
        return ERR_INVALID;
    size_t pstart = i;
    i++;
    int eneg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        eneg = s[i++] == '-';
    size_t d0 = i;
    while (i < n && is_dig((unsigned char)s[i]))
        i++;
    if (i == d0)
        return ERR_INVALID;
    size_t d1 = i;
    if (i < n && strchr("fFdD", s[i]) && s[i] != '\0')
        i++;
    if (i != n)
        return ERR_INVALID;
    if (!nonzero) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    /* Integer.parseInt of the exponent digits: past INT_MAX the value is infinite or zero */
    uint64_t ev = 0;
    for (size_t k = d0; k < d1; k++) {
        ev = ev * 10 + (uint64_t)(s[k] - '0');
        if (ev > 2147483647u) {
            *out = eneg ? (neg ? -0.0 : 0.0) : (neg ? -INFINITY : INFINITY);
            return 0;
        }
    }
    char tmp[128];
    char *t = tmp, *big = NULL;
    if (d1 + 1 > sizeof tmp) {
        big = malloc(d1 + 1);
        if (!big)
            return ERR_INVALID;
        t = big;
    }
    memcpy(t, s, d1); /* strtod reads the same grammar without the suffix; it rounds to nearest even */
    t[d1] = '\0';
    (void)pstart;
    *out = strtod(t, NULL);
    free(big);
    return 0;
}

int jt_parse_double(const char *s, size_t n, double *out)
{
    while (n > 0 && (unsigned char)s[0] <= ' ')
        s++, n--;
    while (n > 0 && (unsigned char)s[n - 1] <= ' ')
        n--;
    if (n == 0)
        return ERR_INVALID;
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-' || s[0] == '+')
        neg = s[i++] == '-';
    if (i >= n)
        return ERR_INVALID;
    if (s[i] == 'N' || s[i] == 'I') {
        const char *w = s[i] == 'N' ? "NaN" : "Infinity";
        size_t wl = strlen(w);
        if (n - i != wl || memcmp(s + i, w, wl) != 0)
            return ERR_INVALID;
        *out = s[i] == 'N' ? NAN : (neg ? -INFINITY : INFINITY);
        return 0;
    }
    if (s[i] == '0' && n > i + 1 && (s[i + 1] | 0x20) == 'x')
        return parse_hex(s, n, out);
    size_t digits = 0, dots = 0, k = i;
    while (k < n && (is_dig((unsigned char)s[k]) || s[k] == '.')) {
        if (s[k] == '.') {
            if (++dots > 1)
                return ERR_INVALID;
        } else {
            digits++;
        }
        k++;
    }
    if (digits == 0)
        return ERR_INVALID;
    if (k < n && (s[k] | 0x20) == 'e') {
        k++;
        if (k >= n)
            return ERR_INVALID; /* charAt past the end */
        if (s[k] == '+' || s[k] == '-')
            k++;
        size_t e0 = k;
        while (k < n && is_dig((unsigned char)s[k]))
            k++;
        if (k == e0)
            return ERR_INVALID;
    }
    size_t end = k;
    if (k < n) {
        if (k != n - 1 || !strchr("fFdD", s[k]) || s[k] == '\0')
            return ERR_INVALID;
    }
    /* strtod rounds correctly, as FloatingDecimal does; it needs a NUL-terminated copy */
    char tmp[128];
    char *t = tmp, *big = NULL;
    if (end + 1 > sizeof tmp) {
        big = malloc(end + 1);
        if (!big)
            return ERR_INVALID;
        t = big;
    }
    memcpy(t, s, end);
    t[end] = '\0';
    *out = strtod(t, NULL);
    free(big);
    return 0;
}

int jt_cast_double(const char *s, size_t n, double *out)
{
    if (jt_parse_double(s, n, out) == 0)
        return 1;
    while (n > 0 && (unsigned char)s[0] <= ' ')
        s++, n--;
    while (n > 0 && (unsigned char)s[n - 1] <= ' ')
        n--;
    char low[16];
    if (n >= sizeof low)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            return 0; /* no non-ASCII character lower-cases into these words */
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    static const struct {
        const char *w;
        double v;
    } words[] = {{"inf", INFINITY},
                 {"+inf", INFINITY},
                 {"infinity", INFINITY},
                 {"+infinity", INFINITY},
                 {"-inf", -INFINITY},
                 {"-infinity", -INFINITY},
                 {"nan", NAN}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strlen(words[i].w) == n && memcmp(low, words[i].w, n) == 0) {
            *out = words[i].v;
            return 1;
        }
    }
    return 0;
}

/* ---- Java identifier characters (generated from JDK 17's Character over U+0000..U+FFFF) ---- */

static const uint16_t ident_start[][2] = {
    {0x0024, 0x0024}, {0x0041, 0x005a}, {0x005f, 0x005f}, {0x0061, 0x007a}, {0x00a2, 0x00a5},
    {0x00aa, 0x00aa}, {0x00b5, 0x00b5}, {0x00ba, 0x00ba}, {0x00c0, 0x00d6}, {0x00d8, 0x00f6},
    {0x00f8, 0x02c1}, {0x02c6, 0x02d1}, {0x02e0, 0x02e4}, {0x02ec, 0x02ec}, {0x02ee, 0x02ee},
    {0x0370, 0x0374}, {0x0376, 0x0377}, {0x037a, 0x037d}, {0x037f, 0x037f}, {0x0386, 0x0386},
    {0x0388, 0x038a}, {0x038c, 0x038c}, {0x038e, 0x03a1}, {0x03a3, 0x03f5}, {0x03f7, 0x0481},
    {0x048a, 0x052f}, {0x0531, 0x0556}, {0x0559, 0x0559}, {0x0560, 0x0588}, {0x058f, 0x058f},
    {0x05d0, 0x05ea}, {0x05ef, 0x05f2}, {0x060b, 0x060b}, {0x0620, 0x064a}, {0x066e, 0x066f},
    {0x0671, 0x06d3}, {0x06d5, 0x06d5}, {0x06e5, 0x06e6}, {0x06ee, 0x06ef}, {0x06fa, 0x06fc},
    {0x06ff, 0x06ff}, {0x0710, 0x0710}, {0x0712, 0x072f}, {0x074d, 0x07a5}, {0x07b1, 0x07b1},
    {0x07ca, 0x07ea}, {0x07f4, 0x07f5}, {0x07fa, 0x07fa}, {0x07fe, 0x0815}, {0x081a, 0x081a},
    {0x0824, 0x0824}, {0x0828, 0x0828}, {0x0840, 0x0858}, {0x0860, 0x086a}, {0x08a0, 0x08b4},
    {0x08b6, 0x08c7}, {0x0904, 0x0939}, {0x093d, 0x093d}, {0x0950, 0x0950}, {0x0958, 0x0961},
    {0x0971, 0x0980}, {0x0985, 0x098c}, {0x098f, 0x0990}, {0x0993, 0x09a8}, {0x09aa, 0x09b0},
    {0x09b2, 0x09b2}, {0x09b6, 0x09b9}, {0x09bd, 0x09bd}, {0x09ce, 0x09ce}, {0x09dc, 0x09dd},
    {0x09df, 0x09e1}, {0x09f0, 0x09f3}, {0x09fb, 0x09fc}, {0x0a05, 0x0a0a}, {0x0a0f, 0x0a10},
    {0x0a13, 0x0a28}, {0x0a2a, 0x0a30}, {0x0a32, 0x0a33}, {0x0a35, 0x0a36}, {0x0a38, 0x0a39},
    {0x0a59, 0x0a5c}, {0x0a5e, 0x0a5e}, {0x0a72, 0x0a74}, {0x0a85, 0x0a8d}, {0x0a8f, 0x0a91},
    {0x0a93, 0x0aa8}, {0x0aaa, 0x0ab0}, {0x0ab2, 0x0ab3}, {0x0ab5, 0x0ab9}, {0x0abd, 0x0abd},
    {0x0ad0, 0x0ad0}, {0x0ae0, 0x0ae1}, {0x0af1, 0x0af1}, {0x0af9, 0x0af9}, {0x0b05, 0x0b0c},
    {0x0b0f, 0x0b10}, {0x0b13, 0x0b28}, {0x0b2a, 0x0b30}, {0x0b32, 0x0b33}, {0x0b35, 0x0b39},
    {0x0b3d, 0x0b3d}, {0x0b5c, 0x0b5d}, {0x0b5f, 0x0b61}, {0x0b71, 0x0b71}, {0x0b83, 0x0b83},
    {0x0b85, 0x0b8a}, {0x0b8e, 0x0b90}, {0x0b92, 0x0b95}, {0x0b99, 0x0b9a}, {0x0b9c, 0x0b9c},
    {0x0b9e, 0x0b9f}, {0x0ba3, 0x0ba4}, {0x0ba8, 0x0baa}, {0x0bae, 0x0bb9}, {0x0bd0, 0x0bd0},
    {0x0bf9, 0x0bf9}, {0x0c05, 0x0c0c}, {0x0c0e, 0x0c10}, {0x0c12, 0x0c28}, {0x0c2a, 0x0c39},
    {0x0c3d, 0x0c3d}, {0x0c58, 0x0c5a}, {0x0c60, 0x0c61}, {0x0c80, 0x0c80}, {0x0c85, 0x0c8c},
    {0x0c8e, 0x0c90}, {0x0c92, 0x0ca8}, {0x0caa, 0x0cb3}, {0x0cb5, 0x0cb9}, {0x0cbd, 0x0cbd},
    {0x0cde, 0x0cde}, {0x0ce0, 0x0ce1}, {0x0cf1, 0x0cf2}, {0x0d04, 0x0d0c}, {0x0d0e, 0x0d10},
    {0x0d12, 0x0d3a}, {0x0d3d, 0x0d3d}, {0x0d4e, 0x0d4e}, {0x0d54, 0x0d56}, {0x0d5f, 0x0d61},
    {0x0d7a, 0x0d7f}, {0x0d85, 0x0d96}, {0x0d9a, 0x0db1}, {0x0db3, 0x0dbb}, {0x0dbd, 0x0dbd},
    {0x0dc0, 0x0dc6}, {0x0e01, 0x0e30}, {0x0e32, 0x0e33}, {0x0e3f, 0x0e46}, {0x0e81, 0x0e82},
    {0x0e84, 0x0e84}, {0x0e86, 0x0e8a}, {0x0e8c, 0x0ea3}, {0x0ea5, 0x0ea5}, {0x0ea7, 0x0eb0},
    {0x0eb2, 0x0eb3}, {0x0ebd, 0x0ebd}, {0x0ec0, 0x0ec4}, {0x0ec6, 0x0ec6}, {0x0edc, 0x0edf},
    {0x0f00, 0x0f00}, {0x0f40, 0x0f47}, {0x0f49, 0x0f6c}, {0x0f88, 0x0f8c}, {0x1000, 0x102a},
    {0x103f, 0x103f}, {0x1050, 0x1055}, {0x105a, 0x105d}, {0x1061, 0x1061}, {0x1065, 0x1066},
    {0x106e, 0x1070}, {0x1075, 0x1081}, {0x108e, 0x108e}, {0x10a0, 0x10c5}, {0x10c7, 0x10c7},
    {0x10cd, 0x10cd}, {0x10d0, 0x10fa}, {0x10fc, 0x1248}, {0x124a, 0x124d}, {0x1250, 0x1256},
    {0x1258, 0x1258}, {0x125a, 0x125d}, {0x1260, 0x1288}, {0x128a, 0x128d}, {0x1290, 0x12b0},
    {0x12b2, 0x12b5}, {0x12b8, 0x12be}, {0x12c0, 0x12c0}, {0x12c2, 0x12c5}, {0x12c8, 0x12d6},
    {0x12d8, 0x1310}, {0x1312, 0x1315}, {0x1318, 0x135a}, {0x1380, 0x138f}, {0x13a0, 0x13f5},
    {0x13f8, 0x13fd}, {0x1401, 0x166c}, {0x166f, 0x167f}, {0x1681, 0x169a}, {0x16a0, 0x16ea},
    {0x16ee, 0x16f8}, {0x1700, 0x170c}, {0x170e, 0x1711}, {0x1720, 0x1731}, {0x1740, 0x1751},
    {0x1760, 0x176c}, {0x176e, 0x1770}, {0x1780, 0x17b3}, {0x17d7, 0x17d7}, {0x17db, 0x17dc},
    {0x1820, 0x1878}, {0x1880, 0x1884}, {0x1887, 0x18a8}, {0x18aa, 0x18aa}, {0x18b0, 0x18f5},
    {0x1900, 0x191e}, {0x1950, 0x196d}, {0x1970, 0x1974}, {0x1980, 0x19ab}, {0x19b0, 0x19c9},
    {0x1a00, 0x1a16}, {0x1a20, 0x1a54}, {0x1aa7, 0x1aa7}, {0x1b05, 0x1b33}, {0x1b45, 0x1b4b},
    {0x1b83, 0x1ba0}, {0x1bae, 0x1baf}, {0x1bba, 0x1be5}, {0x1c00, 0x1c23}, {0x1c4d, 0x1c4f},
    {0x1c5a, 0x1c7d}, {0x1c80, 0x1c88}, {0x1c90, 0x1cba}, {0x1cbd, 0x1cbf}, {0x1ce9, 0x1cec},
    {0x1cee, 0x1cf3}, {0x1cf5, 0x1cf6}, {0x1cfa, 0x1cfa}, {0x1d00, 0x1dbf}, {0x1e00, 0x1f15},
    {0x1f18, 0x1f1d}, {0x1f20, 0x1f45}, {0x1f48, 0x1f4d}, {0x1f50, 0x1f57}, {0x1f59, 0x1f59},
    {0x1f5b, 0x1f5b}, {0x1f5d, 0x1f5d}, {0x1f5f, 0x1f7d}, {0x1f80, 0x1fb4}, {0x1fb6, 0x1fbc},
    {0x1fbe, 0x1fbe}, {0x1fc2, 0x1fc4}, {0x1fc6, 0x1fcc}, {0x1fd0, 0x1fd3}, {0x1fd6, 0x1fdb},
    {0x1fe0, 0x1fec}, {0x1ff2, 0x1ff4}, {0x1ff6, 0x1ffc}, {0x203f, 0x2040}, {0x2054, 0x2054},
    {0x2071, 0x2071}, {0x207f, 0x207f}, {0x2090, 0x209c}, {0x20a0, 0x20bf}, {0x2102, 0x2102},
    {0x2107, 0x2107}, {0x210a, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211d}, {0x2124, 0x2124},
    {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212a, 0x212d}, {0x212f, 0x2139}, {0x213c, 0x213f},
    {0x2145, 0x2149}, {0x214e, 0x214e}, {0x2160, 0x2188}, {0x2c00, 0x2c2e}, {0x2c30, 0x2c5e},
    {0x2c60, 0x2ce4}, {0x2ceb, 0x2cee}, {0x2cf2, 0x2cf3}, {0x2d00, 0x2d25}, {0x2d27, 0x2d27},
    {0x2d2d, 0x2d2d}, {0x2d30, 0x2d67}, {0x2d6f, 0x2d6f}, {0x2d80, 0x2d96}, {0x2da0, 0x2da6},
    {0x2da8, 0x2dae}, {0x2db0, 0x2db6}, {0x2db8, 0x2dbe}, {0x2dc0, 0x2dc6}, {0x2dc8, 0x2dce},
    {0x2dd0, 0x2dd6}, {0x2dd8, 0x2dde}, {0x2e2f, 0x2e2f}, {0x3005, 0x3007}, {0x3021, 0x3029},
    {0x3031, 0x3035}, {0x3038, 0x303c}, {0x3041, 0x3096}, {0x309d, 0x309f}, {0x30a1, 0x30fa},
    {0x30fc, 0x30ff}, {0x3105, 0x312f}, {0x3131, 0x318e}, {0x31a0, 0x31bf}, {0x31f0, 0x31ff},
    {0x3400, 0x4dbf}, {0x4e00, 0x9ffc}, {0xa000, 0xa48c}, {0xa4d0, 0xa4fd}, {0xa500, 0xa60c},
    {0xa610, 0xa61f}, {0xa62a, 0xa62b}, {0xa640, 0xa66e}, {0xa67f, 0xa69d}, {0xa6a0, 0xa6ef},
    {0xa717, 0xa71f}, {0xa722, 0xa788}, {0xa78b, 0xa7bf}, {0xa7c2, 0xa7ca}, {0xa7f5, 0xa801},
    {0xa803, 0xa805}, {0xa807, 0xa80a}, {0xa80c, 0xa822}, {0xa838, 0xa838}, {0xa840, 0xa873},
    {0xa882, 0xa8b3}, {0xa8f2, 0xa8f7}, {0xa8fb, 0xa8fb}, {0xa8fd, 0xa8fe}, {0xa90a, 0xa925},
    {0xa930, 0xa946}, {0xa960, 0xa97c}, {0xa984, 0xa9b2}, {0xa9cf, 0xa9cf}, {0xa9e0, 0xa9e4},
    {0xa9e6, 0xa9ef}, {0xa9fa, 0xa9fe}, {0xaa00, 0xaa28}, {0xaa40, 0xaa42}, {0xaa44, 0xaa4b},
    {0xaa60, 0xaa76}, {0xaa7a, 0xaa7a}, {0xaa7e, 0xaaaf}, {0xaab1, 0xaab1}, {0xaab5, 0xaab6},
    {0xaab9, 0xaabd}, {0xaac0, 0xaac0}, {0xaac2, 0xaac2}, {0xaadb, 0xaadd}, {0xaae0, 0xaaea},
    {0xaaf2, 0xaaf4}, {0xab01, 0xab06}, {0xab09, 0xab0e}, {0xab11, 0xab16}, {0xab20, 0xab26},
    {0xab28, 0xab2e}, {0xab30, 0xab5a}, {0xab5c, 0xab69}, {0xab70, 0xabe2}, {0xac00, 0xd7a3},
    {0xd7b0, 0xd7c6}, {0xd7cb, 0xd7fb}, {0xf900, 0xfa6d}, {0xfa70, 0xfad9}, {0xfb00, 0xfb06},
    {0xfb13, 0xfb17}, {0xfb1d, 0xfb1d}, {0xfb1f, 0xfb28}, {0xfb2a, 0xfb36}, {0xfb38, 0xfb3c},
    {0xfb3e, 0xfb3e}, {0xfb40, 0xfb41}, {0xfb43, 0xfb44}, {0xfb46, 0xfbb1}, {0xfbd3, 0xfd3d},
    {0xfd50, 0xfd8f}, {0xfd92, 0xfdc7}, {0xfdf0, 0xfdfc}, {0xfe33, 0xfe34}, {0xfe4d, 0xfe4f},
    {0xfe69, 0xfe69}, {0xfe70, 0xfe74}, {0xfe76, 0xfefc}, {0xff04, 0xff04}, {0xff21, 0xff3a},
    {0xff3f, 0xff3f}, {0xff41, 0xff5a}, {0xff66, 0xffbe}, {0xffc2, 0xffc7}, {0xffca, 0xffcf},
    {0xffd2, 0xffd7}, {0xffda, 0xffdc}, {0xffe0, 0xffe1}, {0xffe5, 0xffe6},
};
static const uint16_t ident_part[][2] = {
    {0x0000, 0x0008}, {0x000e, 0x001b}, {0x0024, 0x0024}, {0x0030, 0x0039}, {0x0041, 0x005a},
    {0x005f, 0x005f}, {0x0061, 0x007a}, {0x007f, 0x009f}, {0x00a2, 0x00a5}, {0x00aa, 0x00aa},
    {0x00ad, 0x00ad}, {0x00b5, 0x00b5}, {0x00ba, 0x00ba}, {0x00c0, 0x00d6}, {0x00d8, 0x00f6},
    {0x00f8, 0x02c1}, {0x02c6, 0x02d1}, {0x02e0, 0x02e4}, {0x02ec, 0x02ec}, {0x02ee, 0x02ee},
    {0x0300, 0x0374}, {0x0376, 0x0377}, {0x037a, 0x037d}, {0x037f, 0x037f}, {0x0386, 0x0386},
    {0x0388, 0x038a}, {0x038c, 0x038c}, {0x038e, 0x03a1}, {0x03a3, 0x03f5}, {0x03f7, 0x0481},
    {0x0483, 0x0487}, {0x048a, 0x052f}, {0x0531, 0x0556}, {0x0559, 0x0559}, {0x0560, 0x0588},
    {0x058f, 0x058f}, {0x0591, 0x05bd}, {0x05bf, 0x05bf}, {0x05c1, 0x05c2}, {0x05c4, 0x05c5},
    {0x05c7, 0x05c7}, {0x05d0, 0x05ea}, {0x05ef, 0x05f2}, {0x0600, 0x0605}, {0x060b, 0x060b},
    {0x0610, 0x061a}, {0x061c, 0x061c}, {0x0620, 0x0669}, {0x066e, 0x06d3}, {0x06d5, 0x06dd},
    {0x06df, 0x06e8}, {0x06ea, 0x06fc}, {0x06ff, 0x06ff}, {0x070f, 0x074a}, {0x074d, 0x07b1},
    {0x07c0, 0x07f5}, {0x07fa, 0x07fa}, {0x07fd, 0x082d}, {0x0840, 0x085b}, {0x0860, 0x086a},
    {0x08a0, 0x08b4}, {0x08b6, 0x08c7}, {0x08d3, 0x0963}, {0x0966, 0x096f}, {0x0971, 0x0983},
    {0x0985, 0x098c}, {0x098f, 0x0990}, {0x0993, 0x09a8}, {0x09aa, 0x09b0}, {0x09b2, 0x09b2},
    {0x09b6, 0x09b9}, {0x09bc, 0x09c4}, {0x09c7, 0x09c8}, {0x09cb, 0x09ce}, {0x09d7, 0x09d7},
    {0x09dc, 0x09dd}, {0x09df, 0x09e3}, {0x09e6, 0x09f3}, {0x09fb, 0x09fc}, {0x09fe, 0x09fe},
    {0x0a01, 0x0a03}, {0x0a05, 0x0a0a}, {0x0a0f, 0x0a10}, {0x0a13, 0x0a28}, {0x0a2a, 0x0a30},
    {0x0a32, 0x0a33}, {0x0a35, 0x0a36}, {0x0a38, 0x0a39}, {0x0a3c, 0x0a3c}, {0x0a3e, 0x0a42},
    {0x0a47, 0x0a48}, {0x0a4b, 0x0a4d}, {0x0a51, 0x0a51}, {0x0a59, 0x0a5c}, {0x0a5e, 0x0a5e},
    {0x0a66, 0x0a75}, {0x0a81, 0x0a83}, {0x0a85, 0x0a8d}, {0x0a8f, 0x0a91}, {0x0a93, 0x0aa8},
    {0x0aaa, 0x0ab0}, {0x0ab2, 0x0ab3}, {0x0ab5, 0x0ab9}, {0x0abc, 0x0ac5}, {0x0ac7, 0x0ac9},
    {0x0acb, 0x0acd}, {0x0ad0, 0x0ad0}, {0x0ae0, 0x0ae3}, {0x0ae6, 0x0aef}, {0x0af1, 0x0af1},
    {0x0af9, 0x0aff}, {0x0b01, 0x0b03}, {0x0b05, 0x0b0c}, {0x0b0f, 0x0b10}, {0x0b13, 0x0b28},
    {0x0b2a, 0x0b30}, {0x0b32, 0x0b33}, {0x0b35, 0x0b39}, {0x0b3c, 0x0b44}, {0x0b47, 0x0b48},
    {0x0b4b, 0x0b4d}, {0x0b55, 0x0b57}, {0x0b5c, 0x0b5d}, {0x0b5f, 0x0b63}, {0x0b66, 0x0b6f},
    {0x0b71, 0x0b71}, {0x0b82, 0x0b83}, {0x0b85, 0x0b8a}, {0x0b8e, 0x0b90}, {0x0b92, 0x0b95},
    {0x0b99, 0x0b9a}, {0x0b9c, 0x0b9c}, {0x0b9e, 0x0b9f}, {0x0ba3, 0x0ba4}, {0x0ba8, 0x0baa},
    {0x0bae, 0x0bb9}, {0x0bbe, 0x0bc2}, {0x0bc6, 0x0bc8}, {0x0bca, 0x0bcd}, {0x0bd0, 0x0bd0},
    {0x0bd7, 0x0bd7}, {0x0be6, 0x0bef}, {0x0bf9, 0x0bf9}, {0x0c00, 0x0c0c}, {0x0c0e, 0x0c10},
    {0x0c12, 0x0c28}, {0x0c2a, 0x0c39}, {0x0c3d, 0x0c44}, {0x0c46, 0x0c48}, {0x0c4a, 0x0c4d},
    {0x0c55, 0x0c56}, {0x0c58, 0x0c5a}, {0x0c60, 0x0c63}, {0x0c66, 0x0c6f}, {0x0c80, 0x0c83},
    {0x0c85, 0x0c8c}, {0x0c8e, 0x0c90}, {0x0c92, 0x0ca8}, {0x0caa, 0x0cb3}, {0x0cb5, 0x0cb9},
    {0x0cbc, 0x0cc4}, {0x0cc6, 0x0cc8}, {0x0cca, 0x0ccd}, {0x0cd5, 0x0cd6}, {0x0cde, 0x0cde},
    {0x0ce0, 0x0ce3}, {0x0ce6, 0x0cef}, {0x0cf1, 0x0cf2}, {0x0d00, 0x0d0c}, {0x0d0e, 0x0d10},
    {0x0d12, 0x0d44}, {0x0d46, 0x0d48}, {0x0d4a, 0x0d4e}, {0x0d54, 0x0d57}, {0x0d5f, 0x0d63},
    {0x0d66, 0x0d6f}, {0x0d7a, 0x0d7f}, {0x0d81, 0x0d83}, {0x0d85, 0x0d96}, {0x0d9a, 0x0db1},
    {0x0db3, 0x0dbb}, {0x0dbd, 0x0dbd}, {0x0dc0, 0x0dc6}, {0x0dca, 0x0dca}, {0x0dcf, 0x0dd4},
    {0x0dd6, 0x0dd6}, {0x0dd8, 0x0ddf}, {0x0de6, 0x0def}, {0x0df2, 0x0df3}, {0x0e01, 0x0e3a},
    {0x0e3f, 0x0e4e}, {0x0e50, 0x0e59}, {0x0e81, 0x0e82}, {0x0e84, 0x0e84}, {0x0e86, 0x0e8a},
    {0x0e8c, 0x0ea3}, {0x0ea5, 0x0ea5}, {0x0ea7, 0x0ebd}, {0x0ec0, 0x0ec4}, {0x0ec6, 0x0ec6},
    {0x0ec8, 0x0ecd}, {0x0ed0, 0x0ed9}, {0x0edc, 0x0edf}, {0x0f00, 0x0f00}, {0x0f18, 0x0f19},
    {0x0f20, 0x0f29}, {0x0f35, 0x0f35}, {0x0f37, 0x0f37}, {0x0f39, 0x0f39}, {0x0f3e, 0x0f47},
    {0x0f49, 0x0f6c}, {0x0f71, 0x0f84}, {0x0f86, 0x0f97}, {0x0f99, 0x0fbc}, {0x0fc6, 0x0fc6},
    {0x1000, 0x1049}, {0x1050, 0x109d}, {0x10a0, 0x10c5}, {0x10c7, 0x10c7}, {0x10cd, 0x10cd},
    {0x10d0, 0x10fa}, {0x10fc, 0x1248}, {0x124a, 0x124d}, {0x1250, 0x1256}, {0x1258, 0x1258},
    {0x125a, 0x125d}, {0x1260, 0x1288}, {0x128a, 0x128d}, {0x1290, 0x12b0}, {0x12b2, 0x12b5},
    {0x12b8, 0x12be}, {0x12c0, 0x12c0}, {0x12c2, 0x12c5}, {0x12c8, 0x12d6}, {0x12d8, 0x1310},
    {0x1312, 0x1315}, {0x1318, 0x135a}, {0x135d, 0x135f}, {0x1380, 0x138f}, {0x13a0, 0x13f5},
    {0x13f8, 0x13fd}, {0x1401, 0x166c}, {0x166f, 0x167f}, {0x1681, 0x169a}, {0x16a0, 0x16ea},
    {0x16ee, 0x16f8}, {0x1700, 0x170c}, {0x170e, 0x1714}, {0x1720, 0x1734}, {0x1740, 0x1753},
    {0x1760, 0x176c}, {0x176e, 0x1770}, {0x1772, 0x1773}, {0x1780, 0x17d3}, {0x17d7, 0x17d7},
    {0x17db, 0x17dd}, {0x17e0, 0x17e9}, {0x180b, 0x180e}, {0x1810, 0x1819}, {0x1820, 0x1878},
    {0x1880, 0x18aa}, {0x18b0, 0x18f5}, {0x1900, 0x191e}, {0x1920, 0x192b}, {0x1930, 0x193b},
    {0x1946, 0x196d}, {0x1970, 0x1974}, {0x1980, 0x19ab}, {0x19b0, 0x19c9}, {0x19d0, 0x19d9},
    {0x1a00, 0x1a1b}, {0x1a20, 0x1a5e}, {0x1a60, 0x1a7c}, {0x1a7f, 0x1a89}, {0x1a90, 0x1a99},
    {0x1aa7, 0x1aa7}, {0x1ab0, 0x1abd}, {0x1abf, 0x1ac0}, {0x1b00, 0x1b4b}, {0x1b50, 0x1b59},
    {0x1b6b, 0x1b73}, {0x1b80, 0x1bf3}, {0x1c00, 0x1c37}, {0x1c40, 0x1c49}, {0x1c4d, 0x1c7d},
    {0x1c80, 0x1c88}, {0x1c90, 0x1cba}, {0x1cbd, 0x1cbf}, {0x1cd0, 0x1cd2}, {0x1cd4, 0x1cfa},
    {0x1d00, 0x1df9}, {0x1dfb, 0x1f15}, {0x1f18, 0x1f1d}, {0x1f20, 0x1f45}, {0x1f48, 0x1f4d},
    {0x1f50, 0x1f57}, {0x1f59, 0x1f59}, {0x1f5b, 0x1f5b}, {0x1f5d, 0x1f5d}, {0x1f5f, 0x1f7d},
    {0x1f80, 0x1fb4}, {0x1fb6, 0x1fbc}, {0x1fbe, 0x1fbe}, {0x1fc2, 0x1fc4}, {0x1fc6, 0x1fcc},
    {0x1fd0, 0x1fd3}, {0x1fd6, 0x1fdb}, {0x1fe0, 0x1fec}, {0x1ff2, 0x1ff4}, {0x1ff6, 0x1ffc},
    {0x200b, 0x200f}, {0x202a, 0x202e}, {0x203f, 0x2040}, {0x2054, 0x2054}, {0x2060, 0x2064},
    {0x2066, 0x206f}, {0x2071, 0x2071}, {0x207f, 0x207f}, {0x2090, 0x209c}, {0x20a0, 0x20bf},
    {0x20d0, 0x20dc}, {0x20e1, 0x20e1}, {0x20e5, 0x20f0}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210a, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211d}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212a, 0x212d}, {0x212f, 0x2139}, {0x213c, 0x213f}, {0x2145, 0x2149},
    {0x214e, 0x214e}, {0x2160, 0x2188}, {0x2c00, 0x2c2e}, {0x2c30, 0x2c5e}, {0x2c60, 0x2ce4},
    {0x2ceb, 0x2cf3}, {0x2d00, 0x2d25}, {0x2d27, 0x2d27}, {0x2d2d, 0x2d2d}, {0x2d30, 0x2d67},
    {0x2d6f, 0x2d6f}, {0x2d7f, 0x2d96}, {0x2da0, 0x2da6}, {0x2da8, 0x2dae}, {0x2db0, 0x2db6},
    {0x2db8, 0x2dbe}, {0x2dc0, 0x2dc6}, {0x2dc8, 0x2dce}, {0x2dd0, 0x2dd6}, {0x2dd8, 0x2dde},
    {0x2de0, 0x2dff}, {0x2e2f, 0x2e2f}, {0x3005, 0x3007}, {0x3021, 0x302f}, {0x3031, 0x3035},
    {0x3038, 0x303c}, {0x3041, 0x3096}, {0x3099, 0x309a}, {0x309d, 0x309f}, {0x30a1, 0x30fa},
    {0x30fc, 0x30ff}, {0x3105, 0x312f}, {0x3131, 0x318e}, {0x31a0, 0x31bf}, {0x31f0, 0x31ff},
    {0x3400, 0x4dbf}, {0x4e00, 0x9ffc}, {0xa000, 0xa48c}, {0xa4d0, 0xa4fd}, {0xa500, 0xa60c},
    {0xa610, 0xa62b}, {0xa640, 0xa66f}, {0xa674, 0xa67d}, {0xa67f, 0xa6f1}, {0xa717, 0xa71f},
    {0xa722, 0xa788}, {0xa78b, 0xa7bf}, {0xa7c2, 0xa7ca}, {0xa7f5, 0xa827}, {0xa82c, 0xa82c},
    {0xa838, 0xa838}, {0xa840, 0xa873}, {0xa880, 0xa8c5}, {0xa8d0, 0xa8d9}, {0xa8e0, 0xa8f7},
    {0xa8fb, 0xa8fb}, {0xa8fd, 0xa92d}, {0xa930, 0xa953}, {0xa960, 0xa97c}, {0xa980, 0xa9c0},
    {0xa9cf, 0xa9d9}, {0xa9e0, 0xa9fe}, {0xaa00, 0xaa36}, {0xaa40, 0xaa4d}, {0xaa50, 0xaa59},
    {0xaa60, 0xaa76}, {0xaa7a, 0xaac2}, {0xaadb, 0xaadd}, {0xaae0, 0xaaef}, {0xaaf2, 0xaaf6},
    {0xab01, 0xab06}, {0xab09, 0xab0e}, {0xab11, 0xab16}, {0xab20, 0xab26}, {0xab28, 0xab2e},
    {0xab30, 0xab5a}, {0xab5c, 0xab69}, {0xab70, 0xabea}, {0xabec, 0xabed}, {0xabf0, 0xabf9},
    {0xac00, 0xd7a3}, {0xd7b0, 0xd7c6}, {0xd7cb, 0xd7fb}, {0xf900, 0xfa6d}, {0xfa70, 0xfad9},
    {0xfb00, 0xfb06}, {0xfb13, 0xfb17}, {0xfb1d, 0xfb28}, {0xfb2a, 0xfb36}, {0xfb38, 0xfb3c},
    {0xfb3e, 0xfb3e}, {0xfb40, 0xfb41}, {0xfb43, 0xfb44}, {0xfb46, 0xfbb1}, {0xfbd3, 0xfd3d},
    {0xfd50, 0xfd8f}, {0xfd92, 0xfdc7}, {0xfdf0, 0xfdfc}, {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f},
    {0xfe33, 0xfe34}, {0xfe4d, 0xfe4f}, {0xfe69, 0xfe69}, {0xfe70, 0xfe74}, {0xfe76, 0xfefc},
    {0xfeff, 0xfeff}, {0xff04, 0xff04}, {0xff10, 0xff19}, {0xff21, 0xff3a}, {0xff3f, 0xff3f},
    {0xff41, 0xff5a}, {0xff66, 0xffbe}, {0xffc2, 0xffc7}, {0xffca, 0xffcf}, {0xffd2, 0xffd7},
    {0xffda, 0xffdc}, {0xffe0, 0xffe1}, {0xffe5, 0xffe6}, {0xfff9, 0xfffb},
};

static int in_ranges(const uint16_t (*r)[2], size_t n, uint16_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid][0])
            hi = mid;
        else if (c > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int jt_is_ident_start(uint16_t c)
{
    return in_ranges(ident_start, sizeof ident_start / sizeof ident_start[0], c);
}

int jt_is_ident_part(uint16_t c)
{
    return in_ranges(ident_part, sizeof ident_part / sizeof ident_part[0], c);
}
