/* timeline.c: the three timeline sources behind one index-addressed interface. The file is read
 * once at start; per message the work is a memcpy (once), a splice of two integers (loop) or the
 * synthetic renderer. No I/O after timeline_new(). */
#include "tools/replay/timeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"
#include "tools/replay/rewrite.h"
#include "tools/replay/synth.h"

typedef struct line {
    size_t off, len;
    rewrite_spans sp;
} line;

struct timeline {
    timeline_cfg cfg;
    int64_t count;
    char *text;  /* the whole file */
    line *lines; /* FILE_ONCE: sorted by mtime (stable) or file order; FILE_LOOP: file order */
    int64_t nlines;
    int sorted; /* mtime(i) is non-decreasing */
    synth *syn;
};

int64_t timeline_formula_mtime(int64_t start_ms, double rate, int64_t per_ms, int64_t i)
{
    if (rate > 0) {
        if (rate == floor(rate) && rate <= 1e9 && i <= INT64_MAX / 1000)
            return start_ms + i * 1000 / (int64_t)rate;
        return start_ms + (int64_t)floor((double)i * 1000.0 / rate);
    }
    return start_ms + i / (per_ms > 0 ? per_ms : 1);
}

int64_t timeline_due_ns(double rate, int64_t i)
{
    if (rate == floor(rate) && rate <= 1e9 && i <= INT64_MAX / 1000000000LL)
        return i * 1000000000LL / (int64_t)rate;
    return (int64_t)((double)i * 1e9 / rate);
}

int64_t timeline_live_index(double rate, int64_t elapsed_ns)
{
    if (elapsed_ns <= 0)
        return 0;
    int64_t i = (int64_t)((double)elapsed_ns * rate / 1e9);
    /* fix up the float estimate so that due(i - 1) < elapsed <= due(i) */
    while (i > 0 && timeline_due_ns(rate, i - 1) >= elapsed_ns)
        i--;
    while (timeline_due_ns(rate, i) < elapsed_ns)
        i++;
    return i;
}

static int cmp_line(const void *a, const void *b)
{
    const line *x = a, *y = b;
    if (x->sp.mtime != y->sp.mtime)
        return x->sp.mtime < y->sp.mtime ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off; /* file order breaks ties: a stable sort */
}

static int load_file(timeline *t, char *err, size_t errlen)
{
    size_t len;
    int rc = file_read_all(t->cfg.path, 0, &t->text, &len, err, errlen);
    if (rc != 0)
        return rc;
    size_t cap = 1024;
    t->lines = malloc(cap * sizeof *t->lines);
    if (!t->lines)
        return ERR_NOMEM;
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        char *nl = memchr(t->text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - t->text) : len;
        lineno++;
        if (end > pos) { /* empty lines are not messages */
            line *l;
            if ((size_t)t->nlines == cap) {
                line *q = realloc(t->lines, cap * 2 * sizeof *t->lines);
                if (!q)
                    return ERR_NOMEM;
                t->lines = q;
                cap *= 2;
            }
            l = &t->lines[t->nlines];
            l->off = pos;
            l->len = end - pos;
            int ok = rewrite_scan(t->text + pos, l->len, &l->sp) == 0 && l->sp.has_mtime;
            if (!ok && t->cfg.file_order) {
                memset(&l->sp, 0, sizeof l->sp); /* its mtime: its predecessor's (set below) */
            } else if (!ok || (t->cfg.kind == TIMELINE_FILE_LOOP && !l->sp.has_id)) {
                snprintf(err, errlen, "%s:%zu: no integer top-level mtime%s", t->cfg.path, lineno,
                         t->cfg.kind == TIMELINE_FILE_LOOP ? " and rsvp_id" : "");
                return ERR_INVALID;
            }
            t->nlines++;
        }
        pos = end + 1;
    }
    if (t->nlines == 0) {
        snprintf(err, errlen, "%s: no lines", t->cfg.path);
        return ERR_INVALID;
    }
    if (t->cfg.file_order) {
        int64_t m = 0;
        for (int64_t i = 0; i < t->nlines; i++) /* the first line with an mtime, for the lines before it */
            if (t->lines[i].sp.has_mtime) {
                m = t->lines[i].sp.mtime;
                break;
            }
        for (int64_t i = 0; i < t->nlines; i++) {
            if (t->lines[i].sp.has_mtime)
                m = t->lines[i].sp.mtime;
            else
                t->lines[i].sp.mtime = m;
        }
        return 0;
    }
    if (t->cfg.kind == TIMELINE_FILE_ONCE)
        qsort(t->lines, (size_t)t->nlines, sizeof *t->lines, cmp_line);
    return 0;
}

int timeline_new(timeline **out, const timeline_cfg *cfg, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if ((cfg->kind != TIMELINE_SYNTHETIC && !cfg->path) || (cfg->rate <= 0 && cfg->per_ms < 1) ||
        (cfg->file_order && cfg->kind != TIMELINE_FILE_ONCE)) {
        snprintf(err, errlen, "bad timeline configuration");
        return ERR_INVALID;
    }
    timeline *t = calloc(1, sizeof *t);
    if (!t)
        return ERR_NOMEM;
    t->cfg = *cfg;
    t->cfg.path = NULL; /* not kept: the caller owns the string */
    int rc;
    if (cfg->kind == TIMELINE_SYNTHETIC) {
        rc = synth_new(&t->syn, cfg->seed);
    } else {
        t->cfg.path = cfg->path;
        rc = load_file(t, err, errlen);
        t->cfg.path = NULL;
    }
    if (rc != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "%s", err_str(rc));
        timeline_free(t);
        return rc;
    }
    if (cfg->kind == TIMELINE_FILE_ONCE)
        t->count = cfg->count >= 0 && cfg->count < t->nlines ? cfg->count : t->nlines;
    else
        t->count = cfg->count >= 0 ? cfg->count : TIMELINE_UNBOUNDED;
    t->sorted = 1;
    for (int64_t i = 1; cfg->file_order && i < t->count; i++)
        if (t->lines[i].sp.mtime < t->lines[i - 1].sp.mtime)
            t->sorted = 0;
    *out = t;
    return 0;
}

void timeline_free(timeline *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->lines);
    synth_free(t->syn);
    free(t);
}

int64_t timeline_count(const timeline *t)
{
    return t->count;
}

int64_t timeline_mtime(const timeline *t, int64_t i)
{
    if (t->cfg.kind == TIMELINE_FILE_ONCE)
        return t->lines[i].sp.mtime;
    return timeline_formula_mtime(t->cfg.start_ms, t->cfg.rate, t->cfg.per_ms, i);
}

int timeline_sorted(const timeline *t)
{
    return t->sorted;
}

int64_t timeline_next(const timeline *t, int64_t i, int64_t since_ms)
{
    if (t->sorted) {
        if (i < t->count && timeline_mtime(t, i) >= since_ms)
            return i;
        int64_t j = timeline_find(t, since_ms);
        return j > i ? j : i;
    }
    while (i < t->count && timeline_mtime(t, i) < since_ms)
        i++;
    return i;
}

int64_t timeline_find(const timeline *t, int64_t since_ms)
{
    if (!t->sorted)
        return timeline_next(t, 0, since_ms);
    int64_t lo = 0, hi = t->count; /* answer in [lo, hi] */
    if (hi == TIMELINE_UNBOUNDED) {
        /* galloping upper bound: mtime grows at least 1 ms per per_ms (or 1000/rate) messages */
        hi = 1;
        while (timeline_mtime(t, hi - 1) < since_ms && hi < INT64_MAX / 4)
            hi *= 2;
    }
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (timeline_mtime(t, mid) >= since_ms)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int timeline_render(const timeline *t, int64_t i, buf *out)
{
    if (i < 0 || i >= t->count)
        return ERR_RANGE;
    int rc;
    switch (t->cfg.kind) {
    case TIMELINE_FILE_ONCE: {
        const line *l = &t->lines[i];
        rc = buf_append(out, t->text + l->off, l->len);
        break;
    }
    case TIMELINE_FILE_LOOP: {
        const line *l = &t->lines[i % t->nlines];
        int64_t lap = i / t->nlines;
        rc = rewrite_apply(out, t->text + l->off, l->len, &l->sp,
                           l->sp.rsvp_id + lap * TIMELINE_LOOP_ID_STRIDE, timeline_mtime(t, i));
        break;
    }
    default: rc = synth_render(t->syn, i, timeline_mtime(t, i), out); break;
    }
    return rc ? rc : buf_putc(out, '\n');
}
