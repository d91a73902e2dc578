/* json.c: the strict scanner and the integer and string helpers of json.h. The scanner is one loop
 * over two states (at a value, after a value) with a stack of the open containers; the same code
 * either writes every token or keeps only chosen top-level values (it is inlined into each use with
 * a constant mode, so neither pays for the other). */
#include "common/json.h"

#include "common/err.h"

#define JSON_MAX_DEPTH 64

typedef const unsigned char *ptr;

/* number_len: json_number_len, inlined into the scanner's loop. */
static inline __attribute__((always_inline)) size_t number_len(const char *s, size_t n, int *is_int)
{
    size_t i = 0;
    *is_int = 1;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        *is_int = 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        *is_int = 0;
    }
    return i;
}

size_t json_number_len(const char *s, size_t n, int *is_int)
{
    return number_len(s, n, is_int);
}

int json_int_text(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = n > 0 && s[0] == '-';
    i = (size_t)neg;
    if (i >= n || (s[i] == '0' && n - i > 1))
        return -1; /* no digit, or a leading zero */
    uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || acc > (lim - d) / 10)
            return -1;
        acc = acc * 10 + d;
    }
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 0;
}

size_t json_i64_dec(int64_t v, char out[24])
{
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

size_t json_unescape(const char *s, size_t n, char *out, int *nul)
{
    const char *e = s + n;
    char *d = out;
    int z = 0;
    while (s < e) {
        const char *bs = memchr(s, '\\', (size_t)(e - s));
        size_t run = (size_t)((bs ? bs : e) - s);
        memmove(d, s, run);
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
            json_hex4((const unsigned char *)s, &cp);
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* the scanner checked the pair */
                json_hex4((const unsigned char *)s + 2, &lo);
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            z |= cp == 0;
            d += json_utf8_put(d, cp);
            break;
        }
        default: *d++ = c; break; /* " \ / */
        }
    }
    if (nul)
        *nul = z;
    return (size_t)(d - out);
}

/* ---- the scanner ---- */

static inline ptr skip_ws(ptr s, ptr e)
{
    if (s < e && ' ' < *s)
        return s; /* compact JSON: nearly always */
    while (s < e && json_is_ws(*s))
        s++;
    return s;
}

/* scan_string: s just past an opening quote; returns the closing quote's position and sets *esc, or
 * NULL with *err set. Reads only within [s, e). With body (a constant), [s, e) is a whole string body
 * instead: returns e at its end, and an unescaped quote is an error. */
static inline __attribute__((always_inline)) ptr scan_string(ptr s, ptr e, unsigned char *esc, int *err,
                                                             int body)
{
    unsigned cp, lo;
    for (;;) {
        s = json_skip_plain(s, e);
        if (s >= e)
            return body ? e : (*err = JSON_E_SYNTAX, NULL);
        unsigned c = *s;
        if (c == '"')
            return body ? (*err = JSON_E_SYNTAX, NULL) : s;
        if (c == '\\') {
            *esc = 1;
            if (e - s < 2)
                return *err = JSON_E_SYNTAX, NULL;
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
                if (e - s < 6 || !json_hex4(s + 2, &cp))
                    return *err = JSON_E_SYNTAX, NULL;
                s += 6;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return *err = JSON_E_UTF8, NULL; /* low surrogate first */
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || !json_hex4(s + 2, &lo) || lo < 0xDC00 ||
                        lo > 0xDFFF)
                        return *err = JSON_E_UTF8, NULL; /* high surrogate alone */
                    s += 6;
                }
                break;
            default: return *err = JSON_E_SYNTAX, NULL;
            }
        } else if (c < 0x20) {
            return *err = JSON_E_SYNTAX, NULL;
        } else {
            size_t k = json_utf8_seq(s, e); /* a continuation byte is never '"': the string's end */
            if (!k)
                return *err = JSON_E_UTF8, NULL;
            s += k;
        }
    }
}

int json_check_string(const char *b, size_t n, int *escaped)
{
    unsigned char esc = 0;
    int err = JSON_OK;
    ptr s = (ptr)b;
    if (!scan_string(s, s + n, &esc, &err, 1))
        return err;
    *escaped = esc;
    return JSON_OK;
}

enum { MODE_TOKENS, MODE_TOP };

typedef struct top_want {
    const char *const *names;
    unsigned nnames;
    json_tok *out;
} top_want;

/* key_index: which of the wanted names the key body b[0..n) is (unescaped if esc), -1 for none. */
static int key_index(const top_want *w, const char *b, size_t n, int esc)
{
    char buf[96];
    if (esc) {
        if (n > sizeof buf)
            return -1; /* longer than any name here even after unescaping */
        n = json_unescape(b, n, buf, NULL);
        b = buf;
    }
    for (unsigned i = 0; i < w->nnames; i++)
        if (strlen(w->names[i]) == n && memcmp(w->names[i], b, n) == 0)
            return (int)i;
    return -1;
}

/* scan: the scanner. MODE_TOKENS writes tok[] (cap tokens); MODE_TOP records the wanted top-level
 * values in w. Returns JSON_OK or JSON_E_*. */
static inline __attribute__((always_inline)) int scan(const char *data, size_t len, int mode, json_tok *tok,
                                                      unsigned cap, unsigned max_depth, unsigned *ntok,
                                                      const top_want *w)
{
    if (len == 0)
        return JSON_E_SYNTAX;
    if (max_depth > JSON_MAX_DEPTH)
        max_depth = JSON_MAX_DEPTH;
    ptr b = (ptr)data, e = b + len, s;
    uint32_t stack[JSON_MAX_DEPTH]; /* MODE_TOKENS: token index of each open container */
    uint64_t objects = 0;           /* bit d: the container at depth d+1 is an object */
    unsigned n = 0, i = 0, depth = 0;
    int err = JSON_E_SYNTAX, want = -1, is_int;
    size_t nl;

    s = skip_ws(b, e);
    if (s >= e)
        return JSON_E_SYNTAX;
    if (mode == MODE_TOP && *s != '{')
        return JSON_E_SYNTAX;
value: /* s < e at the first byte of a value */
    if (mode == MODE_TOKENS) {
        if (n >= cap)
            return JSON_E_TOKENS;
        i = n++;
    }
    switch (*s) {
    case '{':
    case '[': {
        int obj = *s == '{';
        if (depth >= max_depth)
            return JSON_E_DEPTH;
        if (mode == MODE_TOKENS) {
            tok[i] = (json_tok){(uint32_t)(s - b), 0, 0, 0, obj ? JSON_OBJECT : JSON_ARRAY, 0};
            stack[depth] = i;
        } else if (want >= 0 && depth == 1) {
            w->out[want] = (json_tok){(uint32_t)(s - b), 0, 0, 0, obj ? JSON_OBJECT : JSON_ARRAY, 0};
        }
        objects = obj ? objects | (1ull << depth) : objects & ~(1ull << depth);
        depth++;
        s = skip_ws(s + 1, e);
        if (s >= e)
            return JSON_E_SYNTAX;
        if (*s == (obj ? '}' : ']'))
            goto close;
        if (obj)
            goto key;
        if (mode == MODE_TOKENS)
            tok[stack[depth - 1]].count++;
        goto value;
    }
    case '"': {
        unsigned char esc = 0;
        ptr start = s + 1;
        if (!(s = scan_string(start, e, &esc, &err, 0)))
            return err;
        if (mode == MODE_TOKENS) {
            tok[i] = (json_tok){(uint32_t)(start - b), (uint32_t)(s - b), i + 1, 0, JSON_STRING, esc};
        } else if (want >= 0 && depth == 1) {
            w->out[want] = (json_tok){(uint32_t)(start - b), (uint32_t)(s - b), 0, 0, JSON_STRING, esc};
        }
        s++;
        break;
    }
    case 't':
    case 'n':
    case 'f': {
        const char *word = *s == 't' ? "true" : *s == 'n' ? "null" : "false";
        size_t wl = *s == 'f' ? 5 : 4;
        if ((size_t)(e - s) < wl || memcmp(s, word, wl) != 0)
            return JSON_E_SYNTAX;
        unsigned char type = *s == 't' ? JSON_TRUE : *s == 'n' ? JSON_NULL : JSON_FALSE;
        if (mode == MODE_TOKENS) {
            tok[i] = (json_tok){(uint32_t)(s - b), (uint32_t)(s - b + wl), i + 1, 0, type, 0};
        } else if (want >= 0 && depth == 1) {
            w->out[want] = (json_tok){(uint32_t)(s - b), (uint32_t)(s - b + wl), 0, 0, type, 0};
        }
        s += wl;
        break;
    }
    default:
        /* a number; what follows it must be a delimiter, checked below */
        if (!(nl = number_len((const char *)s, (size_t)(e - s), &is_int)))
            return JSON_E_SYNTAX;
        if (mode == MODE_TOKENS) {
            tok[i] = (json_tok){(uint32_t)(s - b), (uint32_t)(s - b + nl), i + 1, 0, JSON_NUMBER, !is_int};
        } else if (want >= 0 && depth == 1) {
            w->out[want] = (json_tok){(uint32_t)(s - b), (uint32_t)(s - b + nl), 0, 0, JSON_NUMBER, !is_int};
        }
        s += nl;
        break;
    }
    if (depth == 0) { /* a scalar document */
        s = skip_ws(s, e);
        goto done;
    }
after: /* a value ended just before s, inside the container at depth (>= 1) */
    s = skip_ws(s, e);
    if (s >= e)
        return JSON_E_SYNTAX;
    {
        int obj = (int)((objects >> (depth - 1)) & 1);
        if (*s == ',') {
            s = skip_ws(s + 1, e);
            if (s >= e)
                return JSON_E_SYNTAX;
            if (obj)
                goto key;
            if (mode == MODE_TOKENS)
                tok[stack[depth - 1]].count++;
            goto value;
        }
        if (*s != (obj ? '}' : ']'))
            return JSON_E_SYNTAX;
    }
close: /* s at the bracket closing the container at depth */
    depth--;
    if (mode == MODE_TOKENS) {
        tok[stack[depth]].end = (uint32_t)(s - b) + 1;
        tok[stack[depth]].next = n;
    }
    s++;
    if (depth > 0)
        goto after;
    s = skip_ws(s, e);
    goto done;
key: /* s < e at the first byte of a key of the object at depth */
    if (*s != '"')
        return JSON_E_SYNTAX;
    {
        unsigned char esc = 0;
        ptr start = s + 1;
        if (mode == MODE_TOKENS) {
            if (n >= cap)
                return JSON_E_TOKENS;
            i = n++;
            tok[stack[depth - 1]].count++;
        }
        if (!(s = scan_string(start, e, &esc, &err, 0)))
            return err;
        if (mode == MODE_TOKENS)
            tok[i] = (json_tok){(uint32_t)(start - b), (uint32_t)(s - b), i + 1, 0, JSON_STRING, esc};
        else
            want = depth == 1 ? key_index(w, (const char *)start, (size_t)(s - start), esc) : -1;
    }
    s = skip_ws(s + 1, e);
    if (s >= e || *s != ':')
        return JSON_E_SYNTAX;
    s = skip_ws(s + 1, e);
    if (s >= e)
        return JSON_E_SYNTAX;
    goto value;
done:
    if (s != e)
        return JSON_E_SYNTAX;
    if (mode == MODE_TOKENS)
        *ntok = n;
    return JSON_OK;
}

int json_scan(const char *p, size_t n, json_tok *tok, unsigned cap, unsigned max_depth, unsigned *ntok)
{
    return scan(p, n, MODE_TOKENS, tok, cap, max_depth, ntok, NULL);
}

int json_scan_top(const char *p, size_t n, unsigned max_depth, const char *const *names, unsigned nnames,
                  json_tok *out)
{
    top_want w = {names, nnames, out};
    for (unsigned k = 0; k < nnames; k++)
        out[k].type = 0;
    unsigned ntok = 0;
    return scan(p, n, MODE_TOP, NULL, 0, max_depth, &ntok, &w);
}

int json_tok_int(const char *doc, const json_tok *t, int64_t *out)
{
    const char *s = doc + t->start;
    size_t n = t->end - t->start;
    if (t->type == JSON_NUMBER)
        return t->esc ? -1 : json_int_text(s, n, out);
    if (t->type != JSON_STRING)
        return -1;
    if (!t->esc)
        return json_int_text(s, n, out);
    char buf[160];
    if (n > sizeof buf)
        return -1; /* 20 digits, each at most six bytes escaped */
    return json_int_text(buf, json_unescape(s, n, buf, NULL), out);
}
