/* prom.c: Prometheus text sample extraction and counter rates (see prom.h). The parser is a
 * line scanner over the exposition grammar: name, optional {labels} with quoted, escaped values,
 * value, optional timestamp. */
#include "tools/rsvpctl/prom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* labels_end: p points at '{'; returns the position just after the matching '}' (quotes and
 * backslash escapes inside values respected) or NULL if the line ends first. */
static const char *labels_end(const char *p, const char *end)
{
    int quoted = 0;
    for (p++; p < end; p++) {
        if (quoted) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                quoted = 0;
        } else if (*p == '"') {
            quoted = 1;
        } else if (*p == '}') {
            return p + 1;
        }
    }
    return NULL;
}

/* has_label: whether the label body [b, e) contains the pair `match` at a pair boundary. */
static int has_label(const char *b, const char *e, const char *match)
{
    size_t ml = strlen(match);
    for (const char *p = b; p + ml <= e; p++) {
        if (memcmp(p, match, ml) != 0)
            continue;
        int start_ok = p == b || p[-1] == ',' || p[-1] == ' ';
        int end_ok = p + ml == e || p[ml] == ',' || p[ml] == ' ';
        if (start_ok && end_ok)
            return 1;
    }
    return 0;
}

int prom_sum(const char *text, size_t len, const char *name, const char *match, double *out)
{
    const char *p = text, *end = text + len;
    size_t nl = strlen(name);
    double sum = 0;
    int found = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *q = p;
        p = eol ? eol + 1 : end;

        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (q == le || *q == '#' || (size_t)(le - q) < nl || memcmp(q, name, nl) != 0)
            continue;
        q += nl;
        const char *lb = NULL, *lbe = NULL;
        if (q < le && *q == '{') {
            const char *after = labels_end(q, le);
            if (!after)
                continue;
            lb = q + 1;
            lbe = after - 1;
            q = after;
        }
        if (q == le || (*q != ' ' && *q != '\t'))
            continue; /* a longer name sharing the prefix, e.g. name_bucket */
        if (match && (!lb || !has_label(lb, lbe, match)))
            continue;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        char num[64];
        size_t n = 0;
        while (q < le && *q != ' ' && *q != '\t' && n < sizeof num - 1)
            num[n++] = *q++;
        num[n] = '\0';
        char *ep;
        double v = strtod(num, &ep);
        if (!n || *ep)
            continue;
        sum += v;
        found = 1;
    }
    if (!found)
        return ERR_NOTFOUND;
    *out = sum;
    return 0;
}

double prom_rate(double prev, double cur, double dt_s)
{
    if (!(dt_s > 0) || !isfinite(prev) || !isfinite(cur))
        return 0;
    double delta = cur >= prev ? cur - prev : cur;
    return delta / dt_s;
}
