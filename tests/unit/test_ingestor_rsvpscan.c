/* test_ingestor_rsvpscan.c: the rsvp_id/mtime scanner. Table-driven: each case is a line and what
 * the scanner must say; real recorded lines must all scan; random edits of RSVP-like lines must get
 * the verdict of an independent recursive, bytewise scanner kept below as the reference (with the
 * reading rules the parser shares: last duplicate wins, keys unescaped, integers as JSON writes them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "services/ingestor/rsvpscan.h"
#include "tests/unit/testdata.h"

typedef struct scan_case {
    const char *line;
    int ok;
    int64_t id, mtime;
} scan_case;

static const scan_case CASES[] = {
    {"{\"rsvp_id\":1658877353,\"mtime\":1489925471668}", 1, 1658877353, 1489925471668},
    {"  { \"mtime\" : 5 , \"rsvp_id\" : 7 }  ", 1, 7, 5},
    {"{\"rsvp_id\":\"123\",\"mtime\":\"456\"}", 1, 123, 456},                       /* numeric strings */
    {"{\"venue\":{\"rsvp_id\":1,\"mtime\":2},\"rsvp_id\":3,\"mtime\":4}", 1, 3, 4}, /* nested keys ignored */
    {"{\"s\":\"\\\"rsvp_id\\\":9\",\"rsvp_id\":3,\"mtime\":4}", 1, 3, 4}, /* key text inside a string */
    {"{\"rsvp_id\":3,\"mtime\":4,\"rsvp_id\":5}", 1, 5, 4},               /* the last occurrence wins */
    {"{\"rsvp_id\":3,\"mtime\":4,\"rsvp_id\":\"x\"}", 0, 0, 0},           /* ... even when unreadable */
    {"{\"rsvp\\u005fid\":3,\"mti\\u006de\":4}", 1, 3, 4},                 /* keys compared unescaped */
    {"{\"rsvp_id\":\"\\u0031\\u0032\",\"mtime\":4}", 1, 12, 4},           /* so are values */
    {"{\"rsvp_id\":\"0123\",\"mtime\":4}", 0, 0, 0}, /* not an integer as JSON writes it */
    {"{\"rsvp_id\":\"-0\",\"mtime\":4}", 1, 0, 4},
    {"{\"rsvp_id\":-0,\"mtime\":4}", 1, 0, 4},
    {"{\"rsvp_id\":\" 12\",\"mtime\":4}", 0, 0, 0},
    {"{\"a\":[1,2.5e3,-0.1,true,false,null,{\"b\":[]}],\"rsvp_id\":0,\"mtime\":0}", 1, 0, 0},
    {"{\"n\":\"caf\xc3\xa9 \\u00e9 \xf0\x9f\x98\x80\",\"rsvp_id\":1,\"mtime\":2}", 1, 1, 2}, /* UTF-8 */
    {"{\"rsvp_id\":9223372036854775807,\"mtime\":1}", 1, INT64_MAX, 1},
    /* invalid: missing keys, garbage, truncation, bad UTF-8, bad numbers */
    {"{\"rsvp_id\":1}", 0, 0, 0},
    {"{\"mtime\":1}", 0, 0, 0},
    {"{}", 0, 0, 0},
    {"this is not json", 0, 0, 0},
    {"[{\"rsvp_id\":1,\"mtime\":2}]", 0, 0, 0},
    {"{\"rsvp_id\":1,\"mtime\":2", 0, 0, 0},                         /* truncated */
    {"{\"rsvp_id\":1,\"mtime\":2,\"event\":{\"a\":", 0, 0, 0},       /* truncated after the keys */
    {"{\"rsvp_id\":1,\"mtime\":2} x", 0, 0, 0},                      /* trailing garbage */
    {"{\"rsvp_id\":1,\"mtime\":2,}", 0, 0, 0},                       /* trailing comma */
    {"{\"n\":\"\xff\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0},         /* invalid byte */
    {"{\"n\":\"\xc0\xaf\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0},     /* overlong */
    {"{\"n\":\"\xed\xa0\x80\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0}, /* surrogate */
    {"{\"n\":\"\xe2\x82\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0},     /* cut sequence */
    {"{\"n\":\"a\tb\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0},         /* raw control char */
    {"{\"n\":\"\\x\",\"rsvp_id\":1,\"mtime\":2}", 0, 0, 0},          /* bad escape */
    {"{\"rsvp_id\":-1,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":1.5,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":1e3,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":01,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":\"\",\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":\"12a\",\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":null,\"mtime\":2}", 0, 0, 0},
    {"{\"rsvp_id\":9223372036854775808,\"mtime\":1}", 0, 0, 0}, /* overflow */
    {"{\"rsvp_id\":1,\"mtime\":2,\"x\":tru}", 0, 0, 0},
    {"", 0, 0, 0},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const scan_case *c = &CASES[i];
        int64_t id = -7, mt = -7;
        int rc = rsvpscan_line(c->line, strlen(c->line), &id, &mt);
        if (c->ok != (rc == 0))
            fail_msg("case %zu: %s: want %s", i, c->line, c->ok ? "ok" : "invalid");
        if (c->ok) {
            assert_int_equal(id, c->id);
            assert_int_equal(mt, c->mtime);
        } else {
            assert_int_equal(rc, ERR_INVALID);
            assert_int_equal(id, -7); /* outputs untouched */
        }
    }
}

static void test_nesting_limit(void **state)
{
    (void)state;
    char line[1024];
    size_t n = 0;
    n += (size_t)snprintf(line + n, sizeof line - n, "{\"rsvp_id\":1,\"mtime\":2,\"d\":");
    for (int i = 0; i < 100; i++)
        line[n++] = '[';
    for (int i = 0; i < 100; i++)
        line[n++] = ']';
    line[n++] = '}';
    int64_t id, mt;
    assert_int_equal(rsvpscan_line(line, n, &id, &mt), ERR_INVALID);
}

static void test_every_recorded_line_scans(void **state)
{
    (void)state;
    char path[1024];
    FILE *f = fopen(testdata_path(path, sizeof path, TESTDATA_RECORDED), "rb");
    if (!f)
        fail_msg("cannot open %s (set RSVP_DATA_DIR)", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int count = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        int64_t id, mt;
        if (rsvpscan_line(line, (size_t)n, &id, &mt) != 0)
            fail_msg("recorded line %d does not scan", count + 1);
        assert_true(id > 0 && mt > 1000000000000LL);
        /* A cut anywhere inside the line is never valid. */
        for (ssize_t cut = 1; cut < n; cut += 97)
            assert_int_equal(rsvpscan_line(line, (size_t)cut, &id, &mt), ERR_INVALID);
        count++;
    }
    free(line);
    fclose(f);
    assert_int_equal(count, 2865);
}

/* ---- Differential check against the first, recursive scanner (kept here as the reference) ---- */

typedef struct ref_cursor {
    const unsigned char *p, *end;
} ref_cursor;

static void ref_ws(ref_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int ref_hex(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static size_t ref_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned char b0 = p[0];
    size_t avail = (size_t)(end - p);
    if (b0 >= 0xC2 && b0 <= 0xDF)
        return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((b0 == 0xE0 && p[1] < 0xA0) || (b0 == 0xED && p[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((b0 == 0xF0 && p[1] < 0x90) || (b0 == 0xF4 && p[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

/* byte at a time: a different algorithm from the one under test */
static int ref_string(ref_cursor *c, const unsigned char **s, size_t *n, int *escaped)
{
    c->p++;
    const unsigned char *start = c->p;
    int esc = 0;
    while (c->p < c->end) {
        unsigned char ch = *c->p;
        if (ch == '"') {
            *s = start;
            *n = (size_t)(c->p - start);
            *escaped = esc;
            c->p++;
            return 0;
        }
        if (ch < 0x20)
            return -1;
        if (ch == '\\') {
            esc = 1;
            if (c->end - c->p < 2)
                return -1;
            unsigned char e = c->p[1];
            if (e == 'u') {
                if (c->end - c->p < 6 || !ref_hex(c->p[2]) || !ref_hex(c->p[3]) || !ref_hex(c->p[4]) ||
                    !ref_hex(c->p[5]))
                    return -1;
                unsigned cp = (unsigned)strtoul(
                    (char[]){(char)c->p[2], (char)c->p[3], (char)c->p[4], (char)c->p[5], 0}, NULL, 16);
                c->p += 6;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return -1;                      /* a low surrogate alone */
                if (cp >= 0xD800 && cp <= 0xDBFF) { /* must be followed by its low half */
                    if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || !ref_hex(c->p[2]) ||
                        !ref_hex(c->p[3]) || !ref_hex(c->p[4]) || !ref_hex(c->p[5]))
                        return -1;
                    unsigned lo = (unsigned)strtoul(
                        (char[]){(char)c->p[2], (char)c->p[3], (char)c->p[4], (char)c->p[5], 0}, NULL, 16);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return -1;
                    c->p += 6;
                }
            } else if (strchr("\"\\/bfnrt", e) && e) {
                c->p += 2;
            } else {
                return -1;
            }
            continue;
        }
        if (ch < 0x80) {
            c->p++;
            continue;
        }
        size_t k = ref_utf8(c->p, c->end);
        if (k == 0)
            return -1;
        c->p += k;
    }
    return -1;
}

static int ref_number(ref_cursor *c, const unsigned char **s, size_t *n, int *plain)
{
    const unsigned char *start = c->p;
    int pl = 1;
    if (c->p < c->end && *c->p == '-') {
        pl = 0;
        c->p++;
    }
    if (c->p >= c->end)
        return -1;
    if (*c->p == '0') {
        c->p++;
    } else if (*c->p >= '1' && *c->p <= '9') {
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    } else {
        return -1;
    }
    if (c->p < c->end && *c->p == '.') {
        pl = 0;
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return -1;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        pl = 0;
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return -1;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    }
    *s = start;
    *n = (size_t)(c->p - start);
    *plain = pl;
    return 0;
}

static int ref_value(ref_cursor *c, int depth);

static int ref_container(ref_cursor *c, int depth, unsigned char close)
{
    if (depth >= 64)
        return -1;
    c->p++;
    ref_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            const unsigned char *s;
            size_t n;
            int esc;
            if (c->p >= c->end || *c->p != '"' || ref_string(c, &s, &n, &esc) != 0)
                return -1;
            ref_ws(c);
            if (c->p >= c->end || *c->p != ':')
                return -1;
            c->p++;
            ref_ws(c);
        }
        if (ref_value(c, depth + 1) != 0)
            return -1;
        ref_ws(c);
        if (c->p >= c->end)
            return -1;
        if (*c->p == close) {
            c->p++;
            return 0;
        }
        if (*c->p != ',')
            return -1;
        c->p++;
        ref_ws(c);
    }
}

static int ref_literal(ref_cursor *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

static int ref_value(ref_cursor *c, int depth)
{
    const unsigned char *s;
    size_t n;
    int flag;
    if (c->p >= c->end)
        return -1;
    switch (*c->p) {
    case '{': return ref_container(c, depth, '}');
    case '[': return ref_container(c, depth, ']');
    case '"': return ref_string(c, &s, &n, &flag);
    case 't': return ref_literal(c, "true");
    case 'f': return ref_literal(c, "false");
    case 'n': return ref_literal(c, "null");
    default: return ref_number(c, &s, &n, &flag);
    }
}

/* ref_unescape: a string body the reference accepted, escapes resolved (surrogate pairs joined) */
static size_t ref_unescape(const unsigned char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[o++] = (char)s[i];
            continue;
        }
        unsigned char e = s[++i];
        if (e != 'u') {
            out[o++] = e == 'n'   ? '\n'
                       : e == 't' ? '\t'
                       : e == 'r' ? '\r'
                       : e == 'b' ? '\b'
                       : e == 'f' ? '\f'
                                  : (char)e;
            continue;
        }
        unsigned cp = (unsigned)strtoul(
            (char[]){(char)s[i + 1], (char)s[i + 2], (char)s[i + 3], (char)s[i + 4], 0}, NULL, 16);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* the reference checked that its low half follows */
            unsigned lo = (unsigned)strtoul(
                (char[]){(char)s[i + 3], (char)s[i + 4], (char)s[i + 5], (char)s[i + 6], 0}, NULL, 16);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | cp >> 12);
            out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | cp >> 18);
            out[o++] = (char)(0x80 | (cp >> 12 & 0x3F));
            out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return o;
}

/* ref_int: s[0..n) is -?(0|[1-9][0-9]*), fits int64 and is not negative */
static int ref_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-')
        neg = 1, i++;
    if (i >= n || (s[i] == '0' && n - i > 1))
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX || (neg && v != 0))
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* ref_id_value: the value of rsvp_id or mtime; *ok says whether it is a readable id */
static int ref_id_value(ref_cursor *c, int64_t *out, int *ok)
{
    const unsigned char *s;
    size_t n;
    int flag;
    char buf[4096];
    *ok = 0;
    if (c->p >= c->end)
        return -1;
    if (*c->p == '"') {
        if (ref_string(c, &s, &n, &flag) != 0)
            return -1;
        if (n < sizeof buf)
            *ok = ref_int(buf, ref_unescape(s, n, buf), out) == 0;
        return 0;
    }
    if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) {
        if (ref_number(c, &s, &n, &flag) != 0)
            return -1;
        *ok = flag || (n == 2 && s[0] == '-' && s[1] == '0') ? ref_int((const char *)s, n, out) == 0 : 0;
        return 0;
    }
    return ref_value(c, 1);
}

static int ref_scan(const char *p, size_t n, int64_t *rsvp_id, int64_t *mtime)
{
    ref_cursor c = {(const unsigned char *)p, (const unsigned char *)p + n};
    int64_t id = 0, mt = 0;
    int have_id = 0, have_mt = 0;
    ref_ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return -1;
    c.p++;
    ref_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            const unsigned char *k;
            size_t kn;
            int esc;
            char key[64];
            if (c.p >= c.end || *c.p != '"' || ref_string(&c, &k, &kn, &esc) != 0)
                return -1;
            size_t klen = kn < sizeof key ? ref_unescape(k, kn, key) : 0;
            ref_ws(&c);
            if (c.p >= c.end || *c.p != ':')
                return -1;
            c.p++;
            ref_ws(&c);
            if (klen == 7 && memcmp(key, "rsvp_id", 7) == 0) {
                if (ref_id_value(&c, &id, &have_id) != 0)
                    return -1;
            } else if (klen == 5 && memcmp(key, "mtime", 5) == 0) {
                if (ref_id_value(&c, &mt, &have_mt) != 0)
                    return -1;
            } else if (ref_value(&c, 1) != 0) {
                return -1;
            }
            ref_ws(&c);
            if (c.p >= c.end)
                return -1;
            if (*c.p == '}') {
                c.p++;
                break;
            }
            if (*c.p != ',')
                return -1;
            c.p++;
            ref_ws(&c);
        }
    }
    ref_ws(&c);
    if (c.p != c.end || !have_id || !have_mt)
        return -1;
    *rsvp_id = id;
    *mtime = mt;
    return 0;
}

/* same_verdict: the scanner and the reference agree on line (valid or not, and the values). */
static void same_verdict(const char *line, size_t n, const char *what)
{
    int64_t id = -7, mt = -7, rid = -7, rmt = -7;
    int got = rsvpscan_line(line, n, &id, &mt) == 0;
    int want = ref_scan(line, n, &rid, &rmt) == 0;
    if (got != want || id != rid || mt != rmt)
        fail_msg("%s: scanner says %d (%lld, %lld), reference %d (%lld, %lld): %.*s", what, got,
                 (long long)id, (long long)mt, want, (long long)rid, (long long)rmt, (int)n, line);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Bytes that move a JSON walker between states, plus UTF-8 fragments. */
static const char *const PIECES[] = {
    "\"",
    "\\",
    "\\u00e9",
    "\\uZZ",
    "\\/",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\t",
    "\r",
    "\n",
    "0",
    "-",
    "1.5e3",
    "01",
    "true",
    "fals",
    "null",
    "\x7f",
    "\x01",
    "\xc3\xa9",
    "\xc3",
    "\xe2\x82",
    "\xe2\x82\xac",
    "\xed\xa0\x80",
    "\xf0\x9f\x98\x80",
    "\xf4\x90\x80\x80",
    "\xc0\xaf",
    "\xff",
    "\"rsvp_id\":",
    "\"mtime\":",
    "\"rsvp_id\":\"12\"",
    "\"mtime\":9223372036854775808",
    "\\ud800",
    "\\udc00",
    "\\ud83d\\ude00",
    "\"rsvp\\u005fid\":",
    "\"mtim\\u0065\":\"7\",",
    "\"rsvp_id\":\"0\\u0031\",",
    "\"rsvp_id\":5,\"rsvp_id\":",
    "\"mtime\":-0,",
    "\"mtime\":\"-3\",",
};

/* mutate: one random edit of src into dst (cap bytes); returns the new length. */
static size_t mutate(const char *src, size_t n, char *dst, size_t cap)
{
    size_t at = n ? (size_t)(rng() % n) : 0;
    const char *piece = PIECES[rng() % (sizeof PIECES / sizeof PIECES[0])];
    size_t pn = strlen(piece);
    size_t out = 0;
    switch (rng() % 4) {
    case 0: /* insert */
        if (n + pn > cap)
            return 0;
        memcpy(dst, src, at);
        memcpy(dst + at, piece, pn);
        memcpy(dst + at + pn, src + at, n - at);
        return n + pn;
    case 1: /* overwrite */
        memcpy(dst, src, n);
        for (size_t i = 0; i < pn && at + i < n; i++)
            dst[at + i] = piece[i];
        return n;
    case 2: /* delete a short run */
        out = at;
        memcpy(dst, src, at);
        size_t del = 1 + (size_t)(rng() % 8);
        if (at + del > n)
            del = n - at;
        memcpy(dst + out, src + at + del, n - at - del);
        return n - del;
    default: /* truncate */ memcpy(dst, src, at); return at;
    }
}

static void test_matches_reference_on_mutations(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "{\"venue\":{\"venue_name\":\"Biergärtchen\",\"lon\":-0.142883,\"lat\":51.508003},"
        "\"member\":{\"photo\":\"http:\\/\\/photos.example.invalid\\/thumb_1.jpeg\"},"
        "\"rsvp_id\":1800000001,\"mtime\":1700000000000,\"event\":{\"event_name\":"
        "\"Straßen Hike Q&A #52 \\u00e9 \xf0\x9f\x98\x80\",\"time\":1767135620414288},"
        "\"group\":{\"group_topics\":[{\"urlkey\":\"yoga\"},[],{}],"
        "\"x\":[true,false,null,0,-1.5e-3]}}",
        "  { \"mtime\" : \"5\" , \"rsvp_id\" : 7 , \"a\" : [ 1 , { \"b\" : [ ] } ] }  ",
        "{\"rsvp_id\":3,\"mtime\":4}",
    };
    char buf[4][2048];
    for (size_t si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
        size_t n0 = strlen(seeds[si]);
        same_verdict(seeds[si], n0, "seed");
        for (int round = 0; round < 20000; round++) {
            /* up to four stacked edits, checking after each */
            const char *src = seeds[si];
            size_t n = n0;
            int edits = 1 + (int)(rng() % 4);
            for (int e = 0; e < edits; e++) {
                size_t m = mutate(src, n, buf[e], sizeof buf[e]);
                same_verdict(buf[e], m, "mutation");
                src = buf[e];
                n = m;
            }
        }
    }
}

static void test_nesting_limit_exact(void **state)
{
    (void)state;
    /* 64 open containers, the top-level object included, scan; 65 do not */
    for (int inner = 62; inner <= 64; inner++) {
        char line[512];
        size_t n = (size_t)snprintf(line, sizeof line, "{\"rsvp_id\":1,\"mtime\":2,\"d\":");
        for (int i = 0; i < inner; i++) { /* alternate objects {"k": and arrays [ */
            if (i % 2) {
                line[n++] = '[';
            } else {
                memcpy(line + n, "{\"k\":", 5);
                n += 5;
            }
        }
        line[n++] = '0';
        for (int i = inner - 1; i >= 0; i--)
            line[n++] = i % 2 ? ']' : '}';
        line[n++] = '}';
        int64_t id, mt;
        assert_int_equal(rsvpscan_line(line, n, &id, &mt) == 0, inner + 1 <= 64);
        same_verdict(line, n, "nesting");
    }
}

static void test_format_id(void **state)
{
    (void)state;
    char out[24];
    assert_int_equal(rsvpscan_format_id(0, out), 1);
    assert_string_equal(out, "0");
    assert_int_equal(rsvpscan_format_id(1658877353, out), 10);
    assert_string_equal(out, "1658877353");
    assert_int_equal(rsvpscan_format_id(INT64_MAX, out), 19);
    assert_string_equal(out, "9223372036854775807");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_every_recorded_line_scans),
        cmocka_unit_test(test_matches_reference_on_mutations),
        cmocka_unit_test(test_nesting_limit_exact),
        cmocka_unit_test(test_format_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
