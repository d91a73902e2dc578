/* sparkjson.c: from_json as the reference computes it. Three layers, each modelled on the behaviour of
 * the code the reference runs (observed and checked against it by tests/differential/):
 *   1. the input: UTF-8 decoded to UTF-16 units as InputStreamReader does, read in windows of 4000
 *      units as Jackson's ReaderBasedJsonParser reads its Reader (a number at a window's end takes
 *      another path there, and the two leave the cursor at different places when they fail);
 *   2. the tokenizer: Jackson's state (current token, the value read together with a field name,
 *      a string not yet read, the context stack with each context's current name) and where every
 *      error leaves the cursor, because Spark goes on reading after an error it caught;
 *   3. Spark's converters: a JacksonParser per schema type, convertObject/convertArray with their
 *      catch blocks (partial results on, PERMISSIVE mode), and the generator that renders a
 *      non-string value of a string field.
 * An "exception" is a return value: every function that may throw returns 0 or THROWN (or PARTIAL
 * for Spark's PartialValueException) and its caller passes it on or catches it where Spark does. */
#include "services/parser/sparkjson.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "services/parser/javatext.h"

#define WINDOW       4000 /* Jackson's char buffer: BufferRecycler's token buffer */
#define MAX_DEPTH    1000 /* StreamReadConstraints: nesting depth */
#define MAX_NUM_LEN  1000 /* ... digits of a number */
#define MAX_NAME_LEN 50000
#define MAX_ERR_TOK  256 /* ErrorReportConfiguration: chars of a bad token collected for the message */

enum { THROWN = -100, PARTIAL = -101, NOMEM = -102 };

/* Jackson's tokens; T_NONE is Java's null (no token). */
enum {
    T_NONE,
    T_START_OBJECT,
    T_END_OBJECT,
    T_START_ARRAY,
    T_END_ARRAY,
    T_FIELD_NAME,
    T_STRING,
    T_INT,
    T_FLOAT,
    T_TRUE,
    T_FALSE,
    T_NULL
};

enum { C_ROOT, C_ARRAY, C_OBJECT };

typedef struct ctx {
    int type;
    int index;         /* JsonReadContext._index: -1 until the first entry */
    int has_name;      /* _currentName != null */
    size_t name, nlen; /* the name: units in p->names */
} ctx;

/* Spark's values: a string (bytes in p->out), a struct (a row of values in p->rows) or an array of
 * structs (row indexes in p->elems). */
typedef struct val {
    unsigned char set; /* 0: NULL */
    uint32_t off, len; /* string: p->out.data[off..off+len) */
    uint32_t row;      /* struct: p->rows[row..row+nfields) */
    uint32_t first, n; /* array: p->elems[first..first+n), each a row index or UINT32_MAX for null */
} val;

/* A growable array of T. */
#define VEC(T)                                                                                               \
    struct {                                                                                                 \
        T *v;                                                                                                \
        size_t n, cap;                                                                                       \
    }

struct sparkjson {
    /* input */
    VEC(uint16_t) in;
    size_t ptr, end; /* Jackson's _inputPtr and _inputEnd, as offsets into in */
    /* tokenizer state */
    int cur, next;
    int incomplete; /* the current string token has not been read yet */
    VEC(ctx) ctxs;
    VEC(uint16_t) names;
    VEC(uint16_t) text; /* the current string's or number's text */
    int num_neg, int_len, frac_len, exp_len, num_nan;
    double nan_value;
    /* generator output (the JSON text of a copied value) and the result strings */
    VEC(char) gen;
    VEC(unsigned char) genfirst; /* per open container of the generator: nothing written yet */
    VEC(char) out;
    VEC(val) rows;
    VEC(uint32_t) elems;
    VEC(uint32_t) tmp;
};

#define VEC_GROW(p, vec, need)                                                                               \
    ((vec).cap >= (need) ? 0 : vec_grow((void **)&(vec).v, &(vec).cap, (need), sizeof *(vec).v))

static int vec_grow(void **v, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *nv = realloc(*v, c * elem);
    if (!nv)
        return NOMEM;
    *v = nv;
    *cap = c;
    return 0;
}

int sj_new(sparkjson **out)
{
    sparkjson *p = calloc(1, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    *out = p;
    return 0;
}

void sj_free(sparkjson *p)
{
    if (!p)
        return;
    free(p->in.v);
    free(p->ctxs.v);
    free(p->names.v);
    free(p->text.v);
    free(p->gen.v);
    free(p->genfirst.v);
    free(p->out.v);
    free(p->rows.v);
    free(p->elems.v);
    free(p->tmp.v);
    free(p);
}

/* ==== layer 1: the input windows ==== */

/* load_more: ReaderBasedJsonParser._loadMore. The Reader hands out up to WINDOW units per read, but
 * never the first half of a surrogate pair alone (the decoder writes a pair or nothing). */
static int load_more(sparkjson *p)
{
    if (p->end >= p->in.n)
        return 0;
    size_t e = p->end + WINDOW;
    if (e >= p->in.n) {
        e = p->in.n;
    } else if (p->in.v[e - 1] >= 0xD800 && p->in.v[e - 1] <= 0xDBFF) {
        e--;
    }
    p->end = e;
    return 1;
}

static int avail(sparkjson *p)
{
    return p->ptr < p->end || load_more(p);
}

/* ==== layer 2: the tokenizer ==== */

static ctx *top(sparkjson *p)
{
    return &p->ctxs.v[p->ctxs.n - 1];
}

/* push: createChildArrayContext / createChildObjectContext: the context is entered, then the depth is
 * checked (so a too deep one stays entered when it throws). */
static int push(sparkjson *p, int type)
{
    if (VEC_GROW(p, p->ctxs, p->ctxs.n + 1))
        return NOMEM;
    ctx *c = &p->ctxs.v[p->ctxs.n++];
    c->type = type;
    c->index = -1;
    c->has_name = 0;
    return p->ctxs.n - 1 > MAX_DEPTH ? THROWN : 0;
}

static int expect_comma(sparkjson *p)
{
    ctx *c = top(p);
    int ix = ++c->index;
    return c->type != C_ROOT && ix > 0;
}

/* text buffer */
static int text_reset(sparkjson *p)
{
    p->text.n = 0;
    return 0;
}
static int text_put(sparkjson *p, uint16_t c)
{
    if (VEC_GROW(p, p->text, p->text.n + 1))
        return NOMEM;
    p->text.v[p->text.n++] = c;
    return 0;
}

#define TRY(x)                                                                                               \
    do {                                                                                                     \
        int rc_ = (x);                                                                                       \
        if (rc_ != 0)                                                                                        \
            return rc_;                                                                                      \
    } while (0)

/* _reportInvalidToken: collects the rest of what looks like the token (Java identifier characters)
 * for its message, moving the cursor past them, then throws. */
static int invalid_token(sparkjson *p, size_t matched)
{
    size_t len = matched;
    while (avail(p)) {
        if (!jt_is_ident_part(p->in.v[p->ptr]))
            break;
        p->ptr++;
        if (++len >= MAX_ERR_TOK)
            break;
    }
    return THROWN;
}

/* skip_cr: _skipCR: a "\r" may be followed by "\n", which is consumed with it. */
static void skip_cr(sparkjson *p)
{
    if (avail(p) && p->in.v[p->ptr] == '\n')
        p->ptr++;
}

enum { AT_END = 1 };

/* next_nonws: the next character that is not white space into *out (consumed), AT_END at the end of
 * the input, THROWN for a '/' (comments are not allowed) or a control character that is not white
 * space (_throwInvalidSpace). */
static int next_nonws(sparkjson *p, int *out)
{
    for (;;) {
        if (!avail(p))
            return AT_END;
        int i = p->in.v[p->ptr++];
        if (i > ' ') {
            if (i == '/')
                return THROWN;
            *out = i;
            return 0;
        }
        if (i == ' ' || i == '\n' || i == '\t')
            continue;
        if (i == '\r') {
            skip_cr(p);
            continue;
        }
        return THROWN;
    }
}

/* skip_ws_or_end: the next character that is not white space, or -1 at the end of the input (an
 * error unless in the root context: _handleEOF, expected close marker). '#' is returned. */
static int skip_ws_or_end(sparkjson *p, int *out)
{
    int rc = next_nonws(p, out);
    if (rc != AT_END)
        return rc;
    if (top(p)->type != C_ROOT)
        return THROWN;
    *out = -1;
    return 0;
}

/* skip_comma: i (already read) must be ','; returns the next character after white space (the end of
 * the input within entries throws). */
static int skip_comma(sparkjson *p, int i, int *out)
{
    if (i != ',')
        return THROWN;
    int rc = next_nonws(p, out);
    return rc == AT_END ? THROWN : rc;
}

/* skip_colon: _skipColon2: white space, ':', white space; returns the character after them. */
static int skip_colon(sparkjson *p, int *out)
{
    int c, rc = next_nonws(p, &c);
    if (rc != 0)
        return rc == AT_END ? THROWN : rc;
    if (c != ':')
        return THROWN;
    rc = next_nonws(p, out);
    return rc == AT_END ? THROWN : rc;
}

/* decode_escaped: _decodeEscaped, the cursor just past a backslash. */
static int decode_escaped(sparkjson *p, uint16_t *out)
{
    if (!avail(p))
        return THROWN;
    int c = p->in.v[p->ptr++];
    switch (c) {
    case 'b': *out = '\b'; return 0;
    case 't': *out = '\t'; return 0;
    case 'n': *out = '\n'; return 0;
    case 'f': *out = '\f'; return 0;
    case 'r': *out = '\r'; return 0;
    case '"':
    case '/':
    case '\\':
    case '\'': /* allowed because single quotes are */ *out = (uint16_t)c; return 0;
    case 'u': break;
    default: return THROWN;
    }
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        if (!avail(p))
            return THROWN;
        /* CharTypes.charToHex looks the low byte up: U+0130 'İ' reads as '0' */
        int h = json_hex((unsigned char)(p->in.v[p->ptr++] & 0xFF));
        if (h < 0)
            return THROWN;
        v = v << 4 | (unsigned)h;
    }
    *out = (uint16_t)v;
    return 0;
}

/* read_quoted: the body of a string, name or single-quoted string up to the closing quote q (the
 * cursor just past the opening one); into the text buffer if keep. Raw control characters are
 * errors; the cursor stays where the error was found. */
static int read_quoted(sparkjson *p, int q, int keep)
{
    for (;;) {
        if (!avail(p))
            return THROWN;
        uint16_t c = p->in.v[p->ptr++];
        if (c == q)
            return 0;
        if (c == '\\') {
            TRY(decode_escaped(p, &c));
        } else if (c < ' ') {
            return THROWN;
        }
        if (keep && text_put(p, c))
            return NOMEM;
    }
}

/* finish_string: the current string token's text (Jackson reads strings lazily: getText). */
static int finish_string(sparkjson *p)
{
    if (!p->incomplete)
        return 0;
    p->incomplete = 0;
    text_reset(p);
    return read_quoted(p, '"', 1);
}

/* set_name: the current object's current name is the text buffer. */
static int set_name(sparkjson *p)
{
    if (p->text.n > MAX_NAME_LEN)
        return THROWN;
    ctx *c = top(p);
    size_t at = p->names.n;
    if (VEC_GROW(p, p->names, at + p->text.n + 1))
        return NOMEM;
    memcpy(p->names.v + at, p->text.v, p->text.n * sizeof(uint16_t));
    p->names.n += p->text.n;
    c->has_name = 1;
    c->name = at;
    c->nlen = p->text.n;
    return 0;
}

/* match_token: _matchToken(word, i): word[i..] must follow; a word directly followed by a Java
 * identifier character is an invalid token. */
static int match_token(sparkjson *p, const char *word, size_t i)
{
    size_t len = strlen(word);
    for (; i < len; i++) {
        if (!avail(p) || p->in.v[p->ptr] != (unsigned char)word[i])
            return invalid_token(p, i);
        p->ptr++;
    }
    if (!avail(p))
        return 0;
    int ch = p->in.v[p->ptr];
    if (ch >= '0' && ch != ']' && ch != '}' && jt_is_ident_part((uint16_t)ch))
        return invalid_token(p, len);
    return 0;
}

/* ---- numbers ---- */

static int reset_int(sparkjson *p, int neg, int int_len)
{
    if (int_len > MAX_NUM_LEN)
        return THROWN;
    p->num_neg = neg;
    p->int_len = int_len;
    p->num_nan = 0;
    return 0;
}

static int reset_float(sparkjson *p, int neg, int int_len, int frac_len, int exp_len)
{
    if (int_len + frac_len + exp_len > MAX_NUM_LEN)
        return THROWN;
    p->num_neg = neg;
    p->int_len = int_len;
    p->num_nan = 0;
    return 0;
}

static int reset_nan(sparkjson *p, const char *word, double v)
{
    text_reset(p);
    for (const char *w = word; *w; w++)
        if (text_put(p, (uint16_t)*w))
            return NOMEM;
    p->num_nan = 1;
    p->nan_value = v;
    return 0;
}

/* verify_root_space: a number at the top level must be followed by white space. */
static int verify_root_space(sparkjson *p, int ch)
{
    p->ptr++;
    if (ch == ' ' || ch == '\t' || ch == '\n')
        return 0;
    if (ch == '\r') {
        p->ptr--;
        return 0;
    }
    return THROWN;
}

static int text_from_input(sparkjson *p, size_t from, size_t to)
{
    text_reset(p);
    if (VEC_GROW(p, p->text, to - from))
        return NOMEM;
    memcpy(p->text.v, p->in.v + from, (to - from) * sizeof(uint16_t));
    p->text.n = to - from;
    return 0;
}

static int handle_invalid_number_start(sparkjson *p, int ch, int neg, int has_sign, int *tok)
{
    if (ch == 'I') {
        if (!avail(p))
            return THROWN;
        ch = p->in.v[p->ptr++];
        if (ch == 'N') {
            const char *m = neg ? "-INF" : "+INF";
            TRY(match_token(p, m, 3));
            *tok = T_FLOAT;
            return reset_nan(p, m, neg ? -INFINITY : INFINITY);
        }
        if (ch == 'n') {
            const char *m = neg ? "-Infinity" : "+Infinity";
            TRY(match_token(p, m, 3));
            *tok = T_FLOAT;
            return reset_nan(p, m, neg ? -INFINITY : INFINITY);
        }
    }
    (void)has_sign;
    return THROWN; /* a '+' sign (not allowed) or no digit after the sign */
}

/* verify_no_leading_zeroes: after a '0'; returns the character that follows the zeroes. */
static int verify_no_leading_zeroes(sparkjson *p, int *out)
{
    if (!avail(p)) {
        *out = '0';
        return 0;
    }
    int ch = p->in.v[p->ptr];
    if (ch < '0' || ch > '9') {
        *out = '0';
        return 0;
    }
    return THROWN; /* leading zeroes not allowed */
}

/* parse_number2: _parseNumber2, the general path (taken for a leading zero and whenever the number
 * reaches the end of the current window): reads character by character, loading more as needed. */
static int parse_number2(sparkjson *p, int neg, size_t start, int *tok)
{
    p->ptr = neg ? start + 1 : start;
    text_reset(p);
    if (neg && text_put(p, '-'))
        return NOMEM;
    int int_len = 0, eof = 0, c;
    if (avail(p))
        c = p->in.v[p->ptr++];
    else
        return THROWN; /* no digit following the sign */
    if (c == '0')
        TRY(verify_no_leading_zeroes(p, &c));
    while (c >= '0' && c <= '9') {
        int_len++;
        if (text_put(p, (uint16_t)c))
            return NOMEM;
        if (!avail(p)) {
            c = 0;
            eof = 1;
            break;
        }
        c = p->in.v[p->ptr++];
    }
    if (int_len == 0)
        return handle_invalid_number_start(p, c, neg, 0, tok);
    int frac_len = -1, exp_len = -1;
    if (c == '.') {
        frac_len = 0;
        if (text_put(p, '.'))
            return NOMEM;
        for (;;) {
            if (!avail(p)) {
                eof = 1;
                break;
            }
            c = p->in.v[p->ptr++];
            if (c < '0' || c > '9')
                break;
            frac_len++;
            if (text_put(p, (uint16_t)c))
                return NOMEM;
        }
        if (frac_len == 0)
            return THROWN; /* decimal point not followed by a digit */
    }
    if ((c | 0x20) == 'e') {
        exp_len = 0;
        if (text_put(p, (uint16_t)c))
            return NOMEM;
        if (!avail(p))
            return THROWN;
        c = p->in.v[p->ptr++];
        if (c == '-' || c == '+') {
            if (text_put(p, (uint16_t)c))
                return NOMEM;
            if (!avail(p))
                return THROWN;
            c = p->in.v[p->ptr++];
        }
        while (c >= '0' && c <= '9') {
            exp_len++;
            if (text_put(p, (uint16_t)c))
                return NOMEM;
            if (!avail(p)) {
                eof = 1;
                break;
            }
            c = p->in.v[p->ptr++];
        }
        if (exp_len == 0)
            return THROWN;
    }
    if (!eof) {
        p->ptr--;
        if (top(p)->type == C_ROOT)
            TRY(verify_root_space(p, c));
    }
    if (frac_len < 0 && exp_len < 0) {
        *tok = T_INT;
        return reset_int(p, neg, int_len);
    }
    *tok = T_FLOAT;
    return reset_float(p, neg, int_len, frac_len, exp_len);
}

/* parse_float: _parseFloat, the fast path's fraction and exponent (within the window); ptr is a
 * local cursor: on an error the real one stays where it was. */
static int parse_float(sparkjson *p, int ch, size_t start, size_t ptr, int neg, int int_len, int *tok)
{
    int frac_len = 0, exp_len = 0;
    if (ch == '.') {
        for (;;) {
            if (ptr >= p->end)
                return parse_number2(p, neg, start, tok);
            ch = p->in.v[ptr++];
            if (ch < '0' || ch > '9')
                break;
            frac_len++;
        }
        if (frac_len == 0)
            return THROWN;
    }
    if ((ch | 0x20) == 'e') {
        if (ptr >= p->end) {
            p->ptr = start;
            return parse_number2(p, neg, start, tok);
        }
        ch = p->in.v[ptr++];
        if (ch == '-' || ch == '+') {
            if (ptr >= p->end) {
                p->ptr = start;
                return parse_number2(p, neg, start, tok);
            }
            ch = p->in.v[ptr++];
        }
        while (ch <= '9' && ch >= '0') {
            exp_len++;
            if (ptr >= p->end) {
                p->ptr = start;
                return parse_number2(p, neg, start, tok);
            }
            ch = p->in.v[ptr++];
        }
        if (exp_len == 0)
            return THROWN;
    }
    ptr--;
    p->ptr = ptr;
    if (top(p)->type == C_ROOT)
        TRY(verify_root_space(p, ch));
    TRY(text_from_input(p, start, ptr));
    *tok = T_FLOAT;
    return reset_float(p, neg, int_len, frac_len, exp_len);
}

/* parse_unsigned / parse_signed: _parseUnsignedNumber (the first digit read) and _parseSignedNumber
 * (the sign read). */
static int parse_unsigned(sparkjson *p, int ch, int *tok)
{
    size_t ptr = p->ptr, start = ptr - 1;
    if (ch == '0')
        return parse_number2(p, 0, start, tok);
    int int_len = 1;
    for (;;) {
        if (ptr >= p->end) {
            p->ptr = start;
            return parse_number2(p, 0, start, tok);
        }
        ch = p->in.v[ptr++];
        if (ch < '0' || ch > '9')
            break;
        int_len++;
    }
    if (ch == '.' || (ch | 0x20) == 'e') {
        p->ptr = ptr;
        return parse_float(p, ch, start, ptr, 0, int_len, tok);
    }
    ptr--;
    p->ptr = ptr;
    if (top(p)->type == C_ROOT)
        TRY(verify_root_space(p, ch));
    TRY(text_from_input(p, start, ptr));
    *tok = T_INT;
    return reset_int(p, 0, int_len);
}

static int parse_signed(sparkjson *p, int neg, int *tok)
{
    size_t ptr = p->ptr, start = neg ? ptr - 1 : ptr;
    if (ptr >= p->end)
        return parse_number2(p, neg, start, tok);
    int ch = p->in.v[ptr++];
    if (ch > '9' || ch < '0') {
        p->ptr = ptr;
        if (ch == '.')
            return THROWN; /* a leading decimal point is not allowed: _handleOddValue('.') */
        return handle_invalid_number_start(p, ch, neg, 1, tok);
    }
    if (ch == '0')
        return parse_number2(p, neg, start, tok);
    int int_len = 1;
    for (;;) {
        if (ptr >= p->end)
            return parse_number2(p, neg, start, tok);
        ch = p->in.v[ptr++];
        if (ch < '0' || ch > '9')
            break;
        int_len++;
    }
    if (ch == '.' || (ch | 0x20) == 'e') {
        p->ptr = ptr;
        return parse_float(p, ch, start, ptr, neg, int_len, tok);
    }
    ptr--;
    p->ptr = ptr;
    if (top(p)->type == C_ROOT)
        TRY(verify_root_space(p, ch));
    TRY(text_from_input(p, start, ptr));
    *tok = T_INT;
    return reset_int(p, neg, int_len);
}

/* handle_odd_value: a value that does not start like standard JSON: a single-quoted string (read at
 * once), NaN, Infinity, +INF / +Infinity; anything else is an error. */
static int handle_odd_value(sparkjson *p, int i, int *tok)
{
    switch (i) {
    case '\'':
        text_reset(p);
        TRY(read_quoted(p, '\'', 1));
        *tok = T_STRING;
        return 0;
    case 'N':
        TRY(match_token(p, "NaN", 1));
        *tok = T_FLOAT;
        return reset_nan(p, "NaN", NAN);
    case 'I':
        TRY(match_token(p, "Infinity", 1));
        *tok = T_FLOAT;
        return reset_nan(p, "Infinity", INFINITY);
    case '+':
        if (!avail(p))
            return THROWN;
        return handle_invalid_number_start(p, p->in.v[p->ptr++], 0, 1, tok);
    default: break;
    }
    if (jt_is_ident_start((uint16_t)i))
        return invalid_token(p, 1);
    return THROWN;
}

static int close_scope(sparkjson *p, int i)
{
    int want = i == ']' ? C_ARRAY : C_OBJECT;
    if (top(p)->type != want)
        return THROWN; /* mismatched end marker */
    p->ctxs.n--;
    p->cur = i == ']' ? T_END_ARRAY : T_END_OBJECT;
    return 0;
}

/* next_token: JsonParser.nextToken(); *tok = the new current token (T_NONE at the end). */
static int next_token(sparkjson *p, int *tok)
{
    if (p->cur == T_FIELD_NAME) { /* _nextAfterName */
        int t = p->next;
        p->next = T_NONE;
        if (t == T_START_ARRAY)
            TRY(push(p, C_ARRAY));
        else if (t == T_START_OBJECT)
            TRY(push(p, C_OBJECT));
        p->cur = *tok = t;
        return 0;
    }
    if (p->incomplete) { /* _skipString */
        p->incomplete = 0;
        TRY(read_quoted(p, '"', 0));
    }
    int i;
    TRY(skip_ws_or_end(p, &i));
    if (i < 0) { /* the end, in the root context */
        p->cur = *tok = T_NONE;
        return 0;
    }
    if (i == '}' || i == ']') {
        TRY(close_scope(p, i));
        *tok = p->cur;
        return 0;
    }
    if (expect_comma(p))
        TRY(skip_comma(p, i, &i));
    int in_object = top(p)->type == C_OBJECT;
    if (in_object) {
        text_reset(p);
        if (i == '"')
            TRY(read_quoted(p, '"', 1));
        else if (i == '\'')
            TRY(read_quoted(p, '\'', 1));
        else
            return THROWN; /* unquoted names are not allowed */
        TRY(set_name(p));
        p->cur = T_FIELD_NAME;
        TRY(skip_colon(p, &i));
    }
    int t;
    switch (i) {
    case '"':
        p->incomplete = 1;
        t = T_STRING;
        break;
    case '[':
        if (!in_object)
            TRY(push(p, C_ARRAY));
        t = T_START_ARRAY;
        break;
    case '{':
        if (!in_object)
            TRY(push(p, C_OBJECT));
        t = T_START_OBJECT;
        break;
    case '}': return THROWN; /* expected a value */
    case 't':
        TRY(match_token(p, "true", 1));
        t = T_TRUE;
        break;
    case 'f':
        TRY(match_token(p, "false", 1));
        t = T_FALSE;
        break;
    case 'n':
        TRY(match_token(p, "null", 1));
        t = T_NULL;
        break;
    case '-': TRY(parse_signed(p, 1, &t)); break;
    case '.': return THROWN; /* a leading decimal point is not allowed */
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': TRY(parse_unsigned(p, i, &t)); break;
    default: TRY(handle_odd_value(p, i, &t)); break;
    }
    if (in_object) {
        p->next = t;
        *tok = p->cur;
        return 0;
    }
    p->cur = *tok = t;
    return 0;
}

/* current_name: JsonParser.currentName(): for a container start the name it has in its parent. */
static int current_name(sparkjson *p, const uint16_t **name, size_t *len)
{
    size_t i = p->ctxs.n - 1;
    if (p->cur == T_START_OBJECT || p->cur == T_START_ARRAY) {
        if (i == 0)
            return 0;
        i--;
    }
    const ctx *c = &p->ctxs.v[i];
    if (!c->has_name)
        return 0;
    *name = p->names.v + c->name;
    *len = c->nlen;
    return 1;
}

/* skip_children: JsonParser.skipChildren(). */
static int skip_children(sparkjson *p)
{
    if (p->cur != T_START_OBJECT && p->cur != T_START_ARRAY)
        return 0;
    int open = 1, t;
    for (;;) {
        TRY(next_token(p, &t));
        if (t == T_NONE)
            return top(p)->type == C_ROOT ? 0 : THROWN;
        if (t == T_START_OBJECT || t == T_START_ARRAY)
            open++;
        else if ((t == T_END_OBJECT || t == T_END_ARRAY) && --open == 0)
            return 0;
    }
}

/* ==== layer 3: Spark ==== */

/* ---- the generator: Jackson's UTF8JsonGenerator writing a copy of the current value ---- */

static int gen_put(sparkjson *p, const char *s, size_t n)
{
    if (VEC_GROW(p, p->gen, p->gen.n + n))
        return NOMEM;
    memcpy(p->gen.v + p->gen.n, s, n);
    p->gen.n += n;
    return 0;
}

/* gen_sep: before a value or a field name: ',' unless it is the first in its container; in an
 * object a value follows its name and ':' (written with the name) directly. */
static int gen_sep(sparkjson *p, int is_name)
{
    if (p->genfirst.n == 0)
        return 0;
    /* per open container: 1 = nothing written yet, 0 = after an element, 2 = after a field name */
    unsigned char *f = &p->genfirst.v[p->genfirst.n - 1];
    if (*f == 2) {
        *f = 0;
        return 0;
    }
    if (*f == 0 && gen_put(p, ",", 1))
        return NOMEM;
    *f = is_name ? 2 : 0;
    return 0;
}

static int gen_string(sparkjson *p, const uint16_t *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (gen_put(p, "\"", 1))
        return NOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        char b[6];
        size_t k = 0;
        if (c < 0x80) {
            const char *esc = NULL;
            switch (c) {
            case '"': esc = "\\\""; break;
            case '\\': esc = "\\\\"; break;
            case '\b': esc = "\\b"; break;
            case '\t': esc = "\\t"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            default: break;
            }
            if (esc) {
                if (gen_put(p, esc, 2))
                    return NOMEM;
                continue;
            }
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                if (gen_put(p, u, 6))
                    return NOMEM;
                continue;
            }
            b[k++] = (char)c;
        } else if (c < 0x800) {
            b[k++] = (char)(0xC0 | (c >> 6));
            b[k++] = (char)(0x80 | (c & 0x3F));
        } else if (c >= 0xD800 && c <= 0xDFFF) { /* surrogates are escaped, even in pairs */
            char u[6] = {'\\', 'u', hex[c >> 12], hex[(c >> 8) & 15], hex[(c >> 4) & 15], hex[c & 15]};
            if (gen_put(p, u, 6))
                return NOMEM;
            continue;
        } else {
            b[k++] = (char)(0xE0 | (c >> 12));
            b[k++] = (char)(0x80 | ((c >> 6) & 0x3F));
            b[k++] = (char)(0x80 | (c & 0x3F));
        }
        if (gen_put(p, b, k))
            return NOMEM;
    }
    return gen_put(p, "\"", 1);
}

/* gen_number: the current number token as _copyCurrentIntValue / _copyCurrentFloatValue write it. */
static int gen_number(sparkjson *p, int tok)
{
    char tmp[40];
    if (tok == T_INT) {
        /* the value's decimal text, which is the token's except that -0 is 0 */
        size_t n = p->text.n;
        int zero = 1;
        for (size_t i = 0; i < n; i++)
            if (p->text.v[i] != '0' && p->text.v[i] != '-')
                zero = 0;
        if (zero)
            return gen_put(p, "0", 1);
        for (size_t i = 0; i < n; i++) {
            char c = (char)p->text.v[i];
            if (gen_put(p, &c, 1))
                return NOMEM;
        }
        return 0;
    }
    double d;
    if (p->num_nan) {
        d = p->nan_value;
    } else {
        char small[64], *s = p->text.n < sizeof small ? small : malloc(p->text.n + 1);
        if (!s)
            return NOMEM;
        for (size_t i = 0; i < p->text.n; i++)
            s[i] = (char)p->text.v[i];
        s[p->text.n] = '\0';
        d = strtod(s, NULL); /* a JSON number: strtod and Double.parseDouble agree */
        if (s != small)
            free(s);
    }
    size_t n = jt_double_str(d, tmp);
    if (!isfinite(d)) { /* QUOTE_NON_NUMERIC_NUMBERS */
        uint16_t u[16];
        for (size_t i = 0; i < n; i++)
            u[i] = (uint16_t)tmp[i];
        return gen_string(p, u, n);
    }
    return gen_put(p, tmp, n);
}

/* gen_token: copyCurrentEvent for the current token (after gen_sep). */
static int gen_token(sparkjson *p, int t)
{
    switch (t) {
    case T_START_OBJECT:
    case T_START_ARRAY:
        if (gen_put(p, t == T_START_OBJECT ? "{" : "[", 1) || VEC_GROW(p, p->genfirst, p->genfirst.n + 1))
            return NOMEM;
        p->genfirst.v[p->genfirst.n++] = 1;
        return 0;
    case T_END_OBJECT:
    case T_END_ARRAY:
        if (p->genfirst.n == 0)
            return THROWN; /* writeEndArray/Object outside a container (a desynchronised token) */
        p->genfirst.n--;
        return gen_put(p, t == T_END_OBJECT ? "}" : "]", 1);
    case T_FIELD_NAME: {
        const uint16_t *name = NULL;
        size_t len = 0;
        current_name(p, &name, &len);
        TRY(gen_string(p, name, len));
        return gen_put(p, ":", 1);
    }
    case T_STRING: TRY(finish_string(p)); return gen_string(p, p->text.v, p->text.n);
    case T_INT:
    case T_FLOAT: return gen_number(p, t);
    case T_TRUE: return gen_put(p, "true", 4);
    case T_FALSE: return gen_put(p, "false", 5);
    default: return gen_put(p, "null", 4);
    }
}

static int gen_one(sparkjson *p, int t)
{
    int end = t == T_END_OBJECT || t == T_END_ARRAY;
    if (!end)
        TRY(gen_sep(p, t == T_FIELD_NAME));
    return gen_token(p, t);
}

/* copy_structure: JsonGenerator.copyCurrentStructure from the current (value) token into p->gen. */
static int copy_structure(sparkjson *p)
{
    p->gen.n = 0;
    p->genfirst.n = 0;
    int t = p->cur;
    TRY(gen_one(p, t));
    if (t != T_START_OBJECT && t != T_START_ARRAY)
        return 0;
    int depth = 1;
    for (;;) {
        TRY(next_token(p, &t));
        if (t == T_NONE)
            return 0;
        TRY(gen_one(p, t));
        if (t == T_START_OBJECT || t == T_START_ARRAY)
            depth++;
        else if ((t == T_END_OBJECT || t == T_END_ARRAY) && --depth == 0)
            return 0;
    }
}

/* ---- values ---- */

static int out_put(sparkjson *p, const char *s, size_t n, val *v)
{
    if (VEC_GROW(p, p->out, p->out.n + n + 1))
        return NOMEM;
    memcpy(p->out.v + p->out.n, s, n);
    v->set = 1;
    v->off = (uint32_t)p->out.n;
    v->len = (uint32_t)n;
    p->out.n += n;
    return 0;
}

/* out_utf16: a Java string into the result strings as UTF8String.fromString writes it. */
static int out_utf16(sparkjson *p, const uint16_t *s, size_t n, val *v)
{
    if (VEC_GROW(p, p->out, p->out.n + 3 * n + 1))
        return NOMEM;
    size_t k = jt_utf16_to_utf8(s, n, p->out.v + p->out.n);
    v->set = 1;
    v->off = (uint32_t)p->out.n;
    v->len = (uint32_t)k;
    p->out.n += k;
    return 0;
}

/* The reference schema. */
enum { F_STR, F_STRUCT, F_ARRAY };
typedef struct sschema sschema;
typedef struct sfield {
    const char *name;
    int kind;
    const sschema *sub; /* F_STRUCT: its fields; F_ARRAY: its element struct's fields */
} sfield;
struct sschema {
    unsigned n;
    const sfield *f;
};

static const sfield topic_f[] = {{"urlkey", F_STR, NULL}, {"topic_name", F_STR, NULL}};
static const sschema topic_s = {2, topic_f};
static const sfield venue_f[] = {
    {"venue_name", F_STR, NULL}, {"lon", F_STR, NULL}, {"lat", F_STR, NULL}, {"venue_id", F_STR, NULL}};
static const sschema venue_s = {4, venue_f};
static const sfield member_f[] = {
    {"member_id", F_STR, NULL}, {"photo", F_STR, NULL}, {"member_name", F_STR, NULL}};
static const sschema member_s = {3, member_f};
static const sfield event_f[] = {{"event_name", F_STR, NULL},
                                 {"event_id", F_STR, NULL},
                                 {"time", F_STR, NULL},
                                 {"event_url", F_STR, NULL}};
static const sschema event_s = {4, event_f};
static const sfield group_f[] = {
    {"group_topics", F_ARRAY, &topic_s}, {"group_city", F_STR, NULL},  {"group_country", F_STR, NULL},
    {"group_id", F_STR, NULL},           {"group_name", F_STR, NULL},  {"group_lon", F_STR, NULL},
    {"group_urlname", F_STR, NULL},      {"group_state", F_STR, NULL}, {"group_lat", F_STR, NULL}};
static const sschema group_s = {9, group_f};
static const sfield root_f[] = {
    {"venue", F_STRUCT, &venue_s}, {"visibility", F_STR, NULL},     {"response", F_STR, NULL},
    {"guests", F_STR, NULL},       {"member", F_STRUCT, &member_s}, {"rsvp_id", F_STR, NULL},
    {"mtime", F_STR, NULL},        {"event", F_STRUCT, &event_s},   {"group", F_STRUCT, &group_s}};
static const sschema root_s = {9, root_f};

static int field_index(const sschema *s, const uint16_t *name, size_t len)
{
    for (unsigned i = 0; i < s->n; i++) {
        const char *f = s->f[i].name;
        size_t k = 0;
        while (k < len && f[k] && name[k] == (unsigned char)f[k])
            k++;
        if (k == len && f[k] == '\0')
            return (int)i;
    }
    return -1;
}

static int convert(sparkjson *p, const sfield *f, val *v);

/* value_token: parseJsonToken's first step: a field name is stepped over to its value. */
static int value_token(sparkjson *p, int *t)
{
    *t = p->cur;
    while (*t == T_FIELD_NAME)
        TRY(next_token(p, t));
    return 0;
}

/* failed_conversion: the token cannot be read as the field's type: always an exception, but a
 * string is read first (its length is checked), which can move the cursor or throw sooner. */
static int failed_conversion(sparkjson *p, int t)
{
    if (t == T_STRING)
        TRY(finish_string(p));
    return THROWN;
}

/* convert_object: convertObject for schema s, the current token START_OBJECT; the row goes to
 * p->rows at *row. 0, PARTIAL (some field failed: the row has the rest) or THROWN. */
static int convert_object(sparkjson *p, const sschema *s, uint32_t *row)
{
    size_t at = p->rows.n;
    if (VEC_GROW(p, p->rows, at + s->n))
        return NOMEM;
    memset(p->rows.v + at, 0, s->n * sizeof(val));
    p->rows.n += s->n;
    int bad = 0, t;
    for (;;) {
        TRY(next_token(p, &t));
        if (t == T_NONE || t == T_END_OBJECT)
            break;
        const uint16_t *name = NULL;
        size_t len = 0;
        int idx = current_name(p, &name, &len) ? field_index(s, name, len) : -1;
        if (idx < 0) {
            TRY(skip_children(p));
            continue;
        }
        val v;
        memset(&v, 0, sizeof v);
        int rc = convert(p, &s->f[idx], &v);
        if (rc == NOMEM)
            return NOMEM;
        if (rc == 0 || rc == PARTIAL) {
            p->rows.v[at + (size_t)idx] = v;
            bad |= rc == PARTIAL;
        } else {
            bad = 1;
            TRY(skip_children(p));
        }
    }
    *row = (uint32_t)at;
    return bad ? PARTIAL : 0;
}

/* convert_array: convertArray of structs s, the current token START_ARRAY. */
static int convert_array(sparkjson *p, const sschema *s, val *v)
{
    size_t mark = p->tmp.n;
    int bad = 0, t;
    for (;;) {
        TRY(next_token(p, &t));
        if (t == T_NONE || t == T_END_ARRAY)
            break;
        sfield elem = {"", F_STRUCT, s};
        val e;
        memset(&e, 0, sizeof e);
        int rc = convert(p, &elem, &e);
        if (rc != 0 && rc != PARTIAL)
            return rc; /* not caught here: the whole array fails */
        bad |= rc == PARTIAL;
        if (VEC_GROW(p, p->tmp, p->tmp.n + 1))
            return NOMEM;
        p->tmp.v[p->tmp.n++] = e.set ? e.row : UINT32_MAX;
    }
    size_t n = p->tmp.n - mark;
    if (VEC_GROW(p, p->elems, p->elems.n + n))
        return NOMEM;
    memcpy(p->elems.v + p->elems.n, p->tmp.v + mark, n * sizeof(uint32_t));
    v->set = 1;
    v->first = (uint32_t)p->elems.n;
    v->n = (uint32_t)n;
    p->elems.n += n;
    p->tmp.n = mark;
    return bad ? PARTIAL : 0;
}

/* convert: the converter of field f on the current token into *v (untouched when it throws). */
static int convert(sparkjson *p, const sfield *f, val *v)
{
    int t;
    TRY(value_token(p, &t));
    if (t == T_NONE || t == T_NULL) {
        v->set = 0;
        return 0;
    }
    if (f->kind == F_STR) {
        if (t == T_STRING) {
            TRY(finish_string(p));
            return out_utf16(p, p->text.v, p->text.n, v);
        }
        TRY(copy_structure(p));
        return out_put(p, p->gen.v, p->gen.n, v);
    }
    if (f->kind == F_STRUCT) {
        if (t != T_START_OBJECT)
            return failed_conversion(p, t);
        uint32_t row = 0;
        int rc = convert_object(p, f->sub, &row);
        if (rc != 0 && rc != PARTIAL)
            return rc;
        v->set = 1;
        v->row = row;
        return rc;
    }
    if (t != T_START_ARRAY)
        return failed_conversion(p, t);
    return convert_array(p, f->sub, v);
}

/* ---- the result ---- */

static refstr str_of(const sparkjson *p, const val *v)
{
    refstr r = {NULL, 0};
    if (v->set) {
        r.p = p->out.v + v->off;
        r.n = v->len;
    }
    return r;
}

static int fill_row(sparkjson *p, uint32_t root, refrow *row)
{
    memset(row, 0, sizeof *row);
    static const struct {
        int field; /* in root_s */
        unsigned bit;
        int first_leaf;
    } structs[] = {{0, RF_VENUE, RF_VENUE_NAME},
                   {4, RF_MEMBER, RF_MEMBER_ID},
                   {7, RF_EVENT, RF_EVENT_NAME},
                   {8, RF_GROUP, RF_GROUP_CITY}};
    const val *r = p->rows.v + root;
    row->nul = ~(uint32_t)0; /* checked by the reader of the row */
    row->leaf[RF_VISIBILITY] = str_of(p, &r[1]);
    row->leaf[RF_RESPONSE] = str_of(p, &r[2]);
    row->leaf[RF_GUESTS] = str_of(p, &r[3]);
    row->leaf[RF_RSVP_ID] = str_of(p, &r[5]);
    row->leaf[RF_MTIME] = str_of(p, &r[6]);
    for (size_t i = 0; i < sizeof structs / sizeof structs[0]; i++) {
        const val *sv = &r[structs[i].field];
        if (!sv->set)
            continue;
        row->structs |= structs[i].bit;
        const sschema *s = root_f[structs[i].field].sub;
        const val *sr = p->rows.v + sv->row;
        int leaf = structs[i].first_leaf;
        for (unsigned k = 0; k < s->n; k++) {
            if (s->f[k].kind == F_STR)
                row->leaf[leaf++] = str_of(p, &sr[k]);
        }
    }
    return 0;
}

int sj_parse(sparkjson *p, const char *data, size_t len, refrow *row)
{
    memset(row, 0, sizeof *row);
    if (VEC_GROW(p, p->in, len + 1))
        return ERR_NOMEM;
    p->in.n = jt_utf8_decode((const unsigned char *)data, len, p->in.v);
    p->ptr = p->end = 0;
    p->cur = p->next = T_NONE;
    p->incomplete = 0;
    p->ctxs.n = 0;
    p->names.n = 0;
    p->out.n = 0;
    p->rows.n = 0;
    p->elems.n = 0;
    p->tmp.n = 0;
    if (push(p, C_ROOT) == NOMEM)
        return ERR_NOMEM;
    int t, rc = next_token(p, &t);
    if (rc == NOMEM)
        return ERR_NOMEM;
    if (rc != 0)
        return SJ_NOT_JSON;
    if (t == T_NONE)
        return SJ_NOT_JSON; /* empty: from_json gives NULL */
    if (t != T_START_OBJECT) {
        /* an array (not read as structs by from_json), a scalar or null: no row */
        return SJ_NOT_OBJECT;
    }
    uint32_t root = 0;
    rc = convert_object(p, &root_s, &root);
    if (rc == NOMEM)
        return ERR_NOMEM;
    if (rc != 0 && rc != PARTIAL)
        return SJ_NOT_JSON;
    if (fill_row(p, root, row))
        return ERR_NOMEM;
    return rc == PARTIAL ? SJ_PARTIAL : SJ_ROW;
}
