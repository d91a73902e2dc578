/* rewrite.c: the top-level rsvp_id and mtime of a line by common/json.h's scanner, and a splicer
 * that replaces the two values in place. Pure functions (no I/O), unit-tested in
 * tests/unit/test_replay_rewrite.c. */
#include "tools/replay/rewrite.h"

#include <string.h>

#include "common/err.h"
#include "common/json.h"

#define REWRITE_MAX_DEPTH 64

/* span: the bytes of value token t in the line (a string with its quotes); 1 if it is an integer. */
static int span(const char *line, const json_tok *t, size_t *off, size_t *len, int64_t *v, int *quoted)
{
    if (t->type == 0 || json_tok_int(line, t, v) != 0)
        return 0;
    *quoted = t->type == JSON_STRING;
    *off = t->start - (size_t)*quoted;
    *len = t->end - t->start + 2 * (size_t)*quoted;
    return 1;
}

int rewrite_scan(const char *line, size_t len, rewrite_spans *out)
{
    static const char *const names[2] = {"rsvp_id", "mtime"};
    json_tok v[2];
    rewrite_spans sp;
    memset(&sp, 0, sizeof sp);
    if (json_scan_top(line, len, REWRITE_MAX_DEPTH, names, 2, v) != JSON_OK)
        return ERR_INVALID;
    sp.has_id = span(line, &v[0], &sp.id_off, &sp.id_len, &sp.rsvp_id, &sp.id_quoted);
    sp.has_mtime = span(line, &v[1], &sp.mtime_off, &sp.mtime_len, &sp.mtime, &sp.mtime_quoted);
    *out = sp;
    return 0;
}

static int put_value(buf *out, int64_t v, int quoted)
{
    char tmp[24];
    size_t n = json_i64_dec(v, tmp);
    return (quoted && buf_putc(out, '"') != 0) || buf_append(out, tmp, n) != 0 ||
                   (quoted && buf_putc(out, '"') != 0)
               ? ERR_NOMEM
               : 0;
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
    int a_q = sp->id_quoted, b_q = sp->mtime_quoted;
    if (a_off > b_off) {
        a_off = sp->mtime_off, a_len = sp->mtime_len, a_v = mtime, a_q = sp->mtime_quoted;
        b_off = sp->id_off, b_len = sp->id_len, b_v = rsvp_id, b_q = sp->id_quoted;
    }
    if (b_off + b_len > len || a_off + a_len > b_off)
        return ERR_INVALID;
    if (buf_reserve(out, len + 52) != 0 || buf_append(out, line, a_off) != 0 ||
        put_value(out, a_v, a_q) != 0 ||
        buf_append(out, line + a_off + a_len, b_off - (a_off + a_len)) != 0 ||
        put_value(out, b_v, b_q) != 0 || buf_append(out, line + b_off + b_len, len - (b_off + b_len)) != 0) {
        out->len = keep;
        if (out->data)
            out->data[keep] = '\0';
        return ERR_NOMEM;
    }
    return 0;
}
