/* rewrite.c: a single-pass scanner over one JSON object line that tracks string and nesting state
 * just enough to find top-level keys, and a splicer that replaces two integer values in place.
 * Pure functions (no I/O), unit-tested in tests/unit/test_replay_rewrite.c. */
#include "tools/replay/rewrite.h"

#include <string.h>

#include "common/err.h"

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Index just past the closing quote of the string opening at s[i] == '"' (len if unterminated). */
static size_t string_end(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* Parse the JSON integer at s[i..): sets *end and *v; ERR_INVALID if not an int64 integer. */
static int parse_int(const char *s, size_t len, size_t i, size_t *end, int64_t *v)
{
    size_t j = i;
    int neg = 0;
    uint64_t acc = 0;
    if (j < len && s[j] == '-') {
        neg = 1;
        j++;
    }
    size_t digits = j;
    while (j < len && s[j] >= '0' && s[j] <= '9') {
        uint64_t d = (uint64_t)(s[j] - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return ERR_INVALID;
        acc = acc * 10 + d;
        j++;
    }
    if (j == digits)
        return ERR_INVALID;
    /* a fraction or exponent makes it a non-integer number: refuse rather than mangle it */
    if (j < len && (s[j] == '.' || s[j] == 'e' || s[j] == 'E'))
        return ERR_INVALID;
    if (acc > (uint64_t)INT64_MAX + (uint64_t)neg)
        return ERR_INVALID;
    *v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    *end = j;
    return 0;
}

int rewrite_scan(const char *line, size_t len, rewrite_spans *out)
{
    rewrite_spans sp;
    memset(&sp, 0, sizeof sp);
    size_t i = 0;
    while (i < len && is_ws(line[i]))
        i++;
    if (i >= len || line[i] != '{')
        return ERR_INVALID;
    int depth = 0;
    while (i < len) {
        char c = line[i];
        if (c == '"') {
            size_t kstart = i + 1, j = string_end(line, len, i);
            if (depth != 1) {
                i = j;
                continue;
            }
            size_t klen = j - 1 - kstart; /* without quotes (j-1 is the closing quote) */
            size_t k = j;
            while (k < len && is_ws(line[k]))
                k++;
            if (k >= len || line[k] != ':') { /* a string value, not a key */
                i = j;
                continue;
            }
            k++;
            while (k < len && is_ws(line[k]))
                k++;
            int is_id = klen == 7 && memcmp(line + kstart, "rsvp_id", 7) == 0;
            int is_mt = klen == 5 && memcmp(line + kstart, "mtime", 5) == 0;
            if (is_id || is_mt) {
                size_t end;
                int64_t v;
                if (parse_int(line, len, k, &end, &v) != 0)
                    return ERR_INVALID;
                if (is_id) {
                    sp.id_off = k, sp.id_len = end - k, sp.rsvp_id = v, sp.has_id = 1;
                } else {
                    sp.mtime_off = k, sp.mtime_len = end - k, sp.mtime = v, sp.has_mtime = 1;
                }
                i = end;
                continue;
            }
            i = k;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        i++;
    }
    *out = sp;
    return 0;
}

static int put_i64(buf *out, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return buf_append(out, p, (size_t)(tmp + sizeof tmp - p));
}

int rewrite_apply(buf *out, const char *line, size_t len, const rewrite_spans *sp, int64_t rsvp_id,
                  int64_t mtime)
{
    if (!sp->has_id || !sp->has_mtime)
        return ERR_INVALID;
    size_t keep = out->len;
    /* splice the two values in their order of appearance */
    size_t a_off = sp->id_off, a_len = sp->id_len, b_off = sp->mtime_off, b_len = sp->mtime_len;
    int64_t a_v = rsvp_id, b_v = mtime;
    if (a_off > b_off) {
        a_off = sp->mtime_off, a_len = sp->mtime_len, a_v = mtime;
        b_off = sp->id_off, b_len = sp->id_len, b_v = rsvp_id;
    }
    if (b_off + b_len > len || a_off + a_len > b_off)
        return ERR_INVALID;
    if (buf_reserve(out, len + 48) != 0 || buf_append(out, line, a_off) != 0 || put_i64(out, a_v) != 0 ||
        buf_append(out, line + a_off + a_len, b_off - (a_off + a_len)) != 0 || put_i64(out, b_v) != 0 ||
        buf_append(out, line + b_off + b_len, len - (b_off + b_len)) != 0) {
        out->len = keep;
        if (out->data)
            out->data[keep] = '\0';
        return ERR_NOMEM;
    }
    return 0;
}
