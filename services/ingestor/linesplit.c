/* linesplit.c: the ingestor's line splitter. One reusable buffer holds [start, end): complete lines
 * not yet returned and at most one partial line. A partial line that grows past max_line switches
 * the splitter to "skipping" mode, in which bytes are dropped until the next newline. */
#include "services/ingestor/linesplit.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

struct linesplit {
    char *buf;
    size_t cap;
    size_t start;      /* first byte not yet returned */
    size_t end;        /* one past the last byte buffered */
    size_t scan;       /* bytes before this offset (from start) hold no newline */
    size_t last_start; /* start of the line last returned, for unget */
    size_t max_line;
    int can_unget;
    int skipping; /* inside an oversize line: drop bytes up to the next newline */
};

int linesplit_new(linesplit **out, size_t max_line)
{
    if (max_line == 0)
        return ERR_INVALID;
    linesplit *ls = calloc(1, sizeof(*ls));
    if (!ls)
        return ERR_NOMEM;
    ls->max_line = max_line;
    *out = ls;
    return 0;
}

void linesplit_free(linesplit *ls)
{
    if (!ls)
        return;
    free(ls->buf);
    free(ls);
}

int linesplit_feed(linesplit *ls, const char *p, size_t n)
{
    ls->can_unget = 0;
    if (ls->skipping) {
        const char *nl = memchr(p, '\n', n);
        if (!nl)
            return 0;
        ls->skipping = 0;
        n -= (size_t)(nl + 1 - p);
        p = nl + 1;
    }
    if (n == 0)
        return 0;
    if (ls->start > 0) { /* compact: what is left is short (the caller drained whole lines) */
        size_t keep = ls->end - ls->start;
        memmove(ls->buf, ls->buf + ls->start, keep);
        ls->scan -= ls->start;
        ls->end = keep;
        ls->start = 0;
    }
    if (ls->cap - ls->end < n) {
        size_t want = ls->end + n;
        size_t cap = ls->cap ? ls->cap : 4096;
        while (cap < want)
            cap *= 2;
        char *nb = realloc(ls->buf, cap);
        if (!nb)
            return ERR_NOMEM;
        ls->buf = nb;
        ls->cap = cap;
    }
    memcpy(ls->buf + ls->end, p, n);
    ls->end += n;
    return 0;
}

int linesplit_next(linesplit *ls, const char **line, size_t *len)
{
    ls->can_unget = 0;
    for (;;) {
        if (ls->start == ls->end)
            return LINESPLIT_NONE;
        char *from = ls->buf + ls->scan;
        char *nl = memchr(from, '\n', ls->end - ls->scan);
        if (!nl) {
            size_t plen = ls->end - ls->start;
            ls->scan = ls->end;
            /* A trailing '\r' may still turn out to be half of a CRLF, so allow one extra byte. */
            if (plen > ls->max_line && !(plen == ls->max_line + 1 && ls->buf[ls->end - 1] == '\r')) {
                *line = NULL;
                *len = plen;
                ls->start = ls->end = ls->scan = 0;
                ls->skipping = 1;
                return LINESPLIT_OVERSIZE;
            }
            return LINESPLIT_NONE;
        }
        size_t lstart = ls->start;
        size_t l = (size_t)(nl - (ls->buf + lstart));
        ls->start = (size_t)(nl - ls->buf) + 1;
        ls->scan = ls->start;
        if (l > 0 && ls->buf[lstart + l - 1] == '\r')
            l--;
        if (l == 0)
            continue; /* empty line (keep-alive) */
        if (l > ls->max_line) {
            *line = NULL;
            *len = l;
            return LINESPLIT_OVERSIZE;
        }
        ls->last_start = lstart;
        ls->can_unget = 1;
        *line = ls->buf + lstart;
        *len = l;
        return LINESPLIT_LINE;
    }
}

void linesplit_unget(linesplit *ls)
{
    assert(ls->can_unget);
    ls->start = ls->last_start;
    ls->scan = ls->start;
    ls->can_unget = 0;
}

size_t linesplit_pending(const linesplit *ls)
{
    return ls->end - ls->start;
}

void linesplit_reset(linesplit *ls)
{
    ls->start = ls->end = ls->scan = ls->last_start = 0;
    ls->can_unget = 0;
    ls->skipping = 0;
}
