/* rsvp_dump.c: canonical text of an rsvp.v1.Rsvp for tests (see rsvp_dump.h). */
#include "tests/unit/rsvp_dump.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

static int dump_str(buf *b, const char *s)
{
    int rc = buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        switch (*p) {
        case '"': rc = buf_puts(b, "\\\""); break;
        case '\\': rc = buf_puts(b, "\\\\"); break;
        case '\n': rc = buf_puts(b, "\\n"); break;
        case '\r': rc = buf_puts(b, "\\r"); break;
        case '\t': rc = buf_puts(b, "\\t"); break;
        case '\b': rc = buf_puts(b, "\\b"); break;
        case '\f': rc = buf_puts(b, "\\f"); break;
        default: rc = *p < 0x20 ? buf_printf(b, "\\u%04x", *p) : buf_putc(b, (char)*p);
        }
    }
    return rc ? rc : buf_putc(b, '"');
}

static int dump_double(buf *b, double d)
{
    char s[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, d);
        if (strtod(s, NULL) == d)
            break;
    }
    return buf_puts(b, s);
}

/* A tiny writer: fields separated by commas inside the current object. */
typedef struct w {
    buf *b;
    int first;
    int rc;
} w;

static void key(w *x, const char *k)
{
    if (x->rc == 0 && !x->first)
        x->rc = buf_putc(x->b, ',');
    x->first = 0;
    if (x->rc == 0)
        x->rc = buf_printf(x->b, "\"%s\":", k);
}
static void f_str(w *x, const char *k, const char *v)
{
    if (!v)
        return;
    key(x, k);
    if (x->rc == 0)
        x->rc = dump_str(x->b, v);
}
static void f_i64(w *x, const char *k, int has, int64_t v)
{
    if (!has)
        return;
    key(x, k);
    if (x->rc == 0)
        x->rc = buf_printf(x->b, "%" PRId64, v);
}
static void f_dbl(w *x, const char *k, int has, double v)
{
    if (!has)
        return;
    key(x, k);
    if (x->rc == 0)
        x->rc = dump_double(x->b, v);
}
static void open_obj(w *x, const char *k)
{
    key(x, k);
    if (x->rc == 0)
        x->rc = buf_putc(x->b, '{');
    x->first = 1;
}
static void close_obj(w *x)
{
    if (x->rc == 0)
        x->rc = buf_putc(x->b, '}');
    x->first = 0;
}
static void pair(w *x, int i, const char *a, const char *b)
{
    if (x->rc == 0 && i > 0)
        x->rc = buf_putc(x->b, ',');
    if (x->rc == 0)
        x->rc = buf_putc(x->b, '[');
    if (x->rc == 0)
        x->rc = a ? dump_str(x->b, a) : buf_puts(x->b, "null");
    if (x->rc == 0)
        x->rc = buf_putc(x->b, ',');
    if (x->rc == 0)
        x->rc = b ? dump_str(x->b, b) : buf_puts(x->b, "null");
    if (x->rc == 0)
        x->rc = buf_putc(x->b, ']');
}

int rsvp_dump(buf *out, const Rsvp__V1__Rsvp *r)
{
    w x = {out, 1, 0};
    x.rc = buf_putc(out, '{');
    if (r->venue) {
        const Rsvp__V1__Venue *v = r->venue;
        open_obj(&x, "venue");
        f_str(&x, "venue_name", v->venue_name);
        f_dbl(&x, "lat", v->has_lat, v->lat);
        f_dbl(&x, "lon", v->has_lon, v->lon);
        f_i64(&x, "venue_id", v->has_venue_id, v->venue_id);
        close_obj(&x);
    }
    f_str(&x, "visibility", r->visibility);
    if (r->has_response) {
        key(&x, "response");
        if (x.rc == 0)
            x.rc = buf_puts(out, r->response == RSVP__V1__RESPONSE__RESPONSE_YES  ? "\"yes\""
                                 : r->response == RSVP__V1__RESPONSE__RESPONSE_NO ? "\"no\""
                                                                                  : "\"?\"");
    }
    f_i64(&x, "guests", r->has_guests, r->guests);
    if (r->member) {
        const Rsvp__V1__Member *m = r->member;
        open_obj(&x, "member");
        f_i64(&x, "member_id", m->has_member_id, m->member_id);
        f_str(&x, "member_name", m->member_name);
        f_str(&x, "photo", m->photo);
        if (m->n_other_services) {
            key(&x, "other_services");
            if (x.rc == 0)
                x.rc = buf_putc(out, '[');
            for (size_t i = 0; i < m->n_other_services; i++)
                pair(&x, (int)i, m->other_services[i]->service, m->other_services[i]->identifier);
            if (x.rc == 0)
                x.rc = buf_putc(out, ']');
        }
        close_obj(&x);
    }
    f_i64(&x, "rsvp_id", r->has_rsvp_id, r->rsvp_id);
    f_i64(&x, "mtime", r->has_mtime, r->mtime);
    if (r->event) {
        const Rsvp__V1__Event *e = r->event;
        open_obj(&x, "event");
        f_str(&x, "event_name", e->event_name);
        f_str(&x, "event_id", e->event_id);
        f_i64(&x, "time", e->has_time, e->time);
        f_str(&x, "event_url", e->event_url);
        close_obj(&x);
    }
    if (r->group) {
        const Rsvp__V1__Group *g = r->group;
        open_obj(&x, "group");
        if (g->n_group_topics) {
            key(&x, "group_topics");
            if (x.rc == 0)
                x.rc = buf_putc(out, '[');
            for (size_t i = 0; i < g->n_group_topics; i++)
                pair(&x, (int)i, g->group_topics[i]->urlkey, g->group_topics[i]->topic_name);
            if (x.rc == 0)
                x.rc = buf_putc(out, ']');
        }
        f_str(&x, "group_city", g->group_city);
        f_str(&x, "group_country", g->group_country);
        f_i64(&x, "group_id", g->has_group_id, g->group_id);
        f_str(&x, "group_name", g->group_name);
        f_dbl(&x, "group_lon", g->has_group_lon, g->group_lon);
        f_str(&x, "group_urlname", g->group_urlname);
        f_str(&x, "group_state", g->group_state);
        f_dbl(&x, "group_lat", g->has_group_lat, g->group_lat);
        close_obj(&x);
    }
    f_i64(&x, "ingest_time_ms", r->has_ingest_time_ms, r->ingest_time_ms);
    if (r->key) {
        key(&x, "key");
        if (x.rc == 0)
            x.rc = rsvp_dump_key(out, r);
    }
    if (x.rc == 0)
        x.rc = buf_putc(out, '}');
    return x.rc ? ERR_NOMEM : 0;
}

/* dump_pyfloat: d as Python's json.dumps writes a float (repr: the shortest digits that read back,
 * fixed notation for decimal exponents -4 < e <= 16, else d.ddde+XX; NaN and Infinity spelt so). */
static int dump_pyfloat(buf *b, double d)
{
    if (isnan(d))
        return buf_puts(b, "NaN");
    if (isinf(d))
        return buf_puts(b, d > 0 ? "Infinity" : "-Infinity");
    char s[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*e", prec - 1, d);
        if (strtod(s, NULL) == d)
            break;
    }
    /* s = [-]d.ddde[+-]XX: its digits and decimal exponent */
    char digits[24];
    size_t nd = 0;
    const char *q = s;
    int neg = *q == '-';
    if (neg)
        q++;
    for (; *q && *q != 'e'; q++)
        if (*q != '.')
            digits[nd++] = *q;
    int e10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int decpt = e10 + 1;
    int rc = neg ? buf_putc(b, '-') : 0;
    if (rc == 0 && decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            rc = buf_puts(b, "0.");
            for (int i = 0; rc == 0 && i < -decpt; i++)
                rc = buf_putc(b, '0');
            if (rc == 0)
                rc = buf_append(b, digits, nd);
        } else if ((size_t)decpt >= nd) {
            rc = buf_append(b, digits, nd);
            for (size_t i = nd; rc == 0 && i < (size_t)decpt; i++)
                rc = buf_putc(b, '0');
            if (rc == 0)
                rc = buf_puts(b, ".0");
        } else {
            rc = buf_append(b, digits, (size_t)decpt);
            if (rc == 0)
                rc = buf_putc(b, '.');
            if (rc == 0)
                rc = buf_append(b, digits + decpt, nd - (size_t)decpt);
        }
    } else if (rc == 0) {
        rc = buf_putc(b, digits[0]);
        if (rc == 0 && nd > 1) {
            rc = buf_putc(b, '.');
            if (rc == 0)
                rc = buf_append(b, digits + 1, nd - 1);
        }
        if (rc == 0)
            rc = buf_printf(b, "e%c%02d", decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    }
    return rc;
}

int rsvp_dump_key(buf *out, const Rsvp__V1__Rsvp *r)
{
    static const Rsvp__V1__Key none = RSVP__V1__KEY__INIT;
    const Rsvp__V1__Key *k = r->key ? r->key : &none;
    const char *strs[] = {k->event_name,    k->event_url,   k->event_time, k->group_name,
                          k->group_country, k->group_state, k->group_city};
    static const char *const names[] = {"event_name",    "event_url",   "event_time", "group_name",
                                        "group_country", "group_state", "group_city"};
    const double nums[] = {k->group_lat, k->group_lon, k->lat, k->lon};
    const int has[] = {k->has_group_lat, k->has_group_lon, k->has_lat, k->has_lon};
    static const char *const nnames[] = {"group_lat", "group_lon", "lat", "lon"};
    int rc = buf_putc(out, '{');
    for (int i = 0; rc == 0 && i < 7; i++) {
        rc = buf_printf(out, "%s\"%s\":", i ? "," : "", names[i]);
        if (rc == 0)
            rc = strs[i] ? dump_str(out, strs[i]) : buf_puts(out, "null");
    }
    for (int i = 0; rc == 0 && i < 4; i++) {
        rc = buf_printf(out, ",\"%s\":", nnames[i]);
        if (rc == 0)
            rc = has[i] ? dump_pyfloat(out, nums[i]) : buf_puts(out, "null");
    }
    if (rc == 0)
        rc = buf_puts(out, ",\"response\":");
    if (rc == 0)
        rc = k->response ? dump_str(out, k->response) : buf_puts(out, "null");
    if (rc == 0)
        rc = buf_putc(out, '}');
    return rc ? ERR_NOMEM : 0;
}
