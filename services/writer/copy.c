/* copy.c: COPY text-format encoding of AggRows. Kept free of libpq so the escaping rules can be
 * unit-tested byte for byte (tests/unit/test_writer_copy.c). */
#include "services/writer/copy.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

int copy_append_str(buf *b, const char *s) {
    if (s == NULL) return buf_append(b, "\\N", 2);
    /* Copy runs of plain bytes in one call; only the four special bytes need work. */
    const char *run = s;
    for (const char *p = s;; p++) {
        char esc;
        switch (*p) {
        case '\\': esc = '\\'; break;
        case '\t': esc = 't'; break;
        case '\n': esc = 'n'; break;
        case '\r': esc = 'r'; break;
        case '\0': return buf_append(b, run, (size_t)(p - run));
        default: continue;
        }
        char pair[2] = {'\\', esc};
        int rc = buf_append(b, run, (size_t)(p - run));
        if (rc == 0) rc = buf_append(b, pair, 2);
        if (rc != 0) return rc;
        run = p + 1;
    }
}

int copy_append_double(buf *b, int has, double v) {
    if (!has) return buf_append(b, "\\N", 2);
    if (isnan(v)) return buf_puts(b, "NaN");
    if (isinf(v)) return buf_puts(b, v > 0 ? "Infinity" : "-Infinity");
    if (v == 0.0) return buf_putc(b, '0'); /* also -0.0: keys treat them as one */
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);
    return buf_append(b, tmp, (size_t)n);
}

int copy_append_row(buf *b, const Rsvp__V1__AggRow *r) {
    int rc = 0;
    rc = rc ? rc : copy_append_str(b, r->event_name);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_str(b, r->event_url);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_str(b, r->event_time);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_str(b, r->group_name);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_str(b, r->group_country);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_str(b, r->group_state);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_str(b, r->group_city);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_double(b, r->has_group_lat, r->group_lat);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_double(b, r->has_group_lon, r->group_lon);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_double(b, r->has_lat, r->lat);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_double(b, r->has_lon, r->lon);
    rc = rc ? rc : buf_putc(b, '\t');
    rc = rc ? rc : copy_append_str(b, r->response);
    if (rc == 0) rc = buf_printf(b, "\t%" PRId64 "\n", r->delta);
    return rc;
}
