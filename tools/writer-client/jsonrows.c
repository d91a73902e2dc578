/* jsonrows.c: JSON line -> AggRow for the writer's test client (jsmn tokenizer plus a small
 * string unescaper that turns \uXXXX, surrogate pairs included, into UTF-8). */
#include "tools/writer-client/jsonrows.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define JSMN_STATIC
#include <jsmn.h>

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80)
        return o[0] = (char)cp, 1;
    if (cp < 0x800)
        return o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Unescape the JSON string body s[0..n) into a new NUL-terminated string. */
static char *unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out; /* unescaping never grows the text */
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            *o++ = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u': {
            unsigned cp, lo;
            if (i + 4 >= n || hex4(s + i + 1, &cp) != 0) {
                free(out);
                return NULL;
            }
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < n && s[i + 1] == '\\' && s[i + 2] == 'u' &&
                hex4(s + i + 3, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            o += put_utf8(o, cp);
            break;
        }
        default: *o++ = c; break; /* \" \\ \/ */
        }
    }
    *o = '\0';
    return out;
}

static int tok_is(const char *js, const jsmntok_t *t, const char *s)
{
    size_t n = (size_t)(t->end - t->start);
    return t->type == JSMN_STRING && strlen(s) == n && memcmp(js + t->start, s, n) == 0;
}

static int is_null(const char *js, const jsmntok_t *t)
{
    return t->type == JSMN_PRIMITIVE && js[t->start] == 'n';
}

/* Number of tokens of the value starting at t (a value and all its children). */
static int skip(const jsmntok_t *t, int avail)
{
    int need = 1, i = 0;
    while (need > 0 && i < avail) {
        need += t[i].size - 1;
        i++;
    }
    return i;
}

int jsonrows_parse(const char *line, size_t len, Rsvp__V1__AggRow *row, char *err, size_t errlen)
{
    rsvp__v1__agg_row__init(row);
    jsmn_parser p;
    jsmntok_t tok[128];
    jsmn_init(&p);
    int n = jsmn_parse(&p, line, len, tok, 128);
    if (n < 1 || tok[0].type != JSMN_OBJECT) {
        snprintf(err, errlen, "not a JSON object");
        return ERR_INVALID;
    }
    struct {
        const char *name;
        char **str;
        int *has;
        double *num;
    } cols[] = {
        {"event_name", &row->event_name, NULL, NULL},
        {"event_url", &row->event_url, NULL, NULL},
        {"event_time", &row->event_time, NULL, NULL},
        {"group_name", &row->group_name, NULL, NULL},
        {"group_country", &row->group_country, NULL, NULL},
        {"group_state", &row->group_state, NULL, NULL},
        {"group_city", &row->group_city, NULL, NULL},
        {"group_lat", NULL, &row->has_group_lat, &row->group_lat},
        {"group_lon", NULL, &row->has_group_lon, &row->group_lon},
        {"lat", NULL, &row->has_lat, &row->lat},
        {"lon", NULL, &row->has_lon, &row->lon},
        {"response", &row->response, NULL, NULL},
    };
    int have_delta = 0;
    for (int i = 1; i + 1 < n;) {
        const jsmntok_t *k = &tok[i], *v = &tok[i + 1];
        const char *vs = line + v->start;
        size_t vn = (size_t)(v->end - v->start);
        int matched = 0;
        for (size_t c = 0; c < sizeof cols / sizeof cols[0] && !matched; c++) {
            if (!tok_is(line, k, cols[c].name))
                continue;
            matched = 1;
            if (is_null(line, v))
                break;
            if (cols[c].str) {
                /* event_time may come as a number: keep its digits */
                free(*cols[c].str);
                *cols[c].str = v->type == JSMN_STRING ? unescape(vs, vn) : strndup(vs, vn);
                if (*cols[c].str == NULL) {
                    snprintf(err, errlen, "%s: bad string", cols[c].name);
                    return jsonrows_row_clear(row), ERR_INVALID;
                }
            } else {
                char tmp[64], *end;
                snprintf(tmp, sizeof tmp, "%.*s", (int)vn, vs);
                errno = 0;
                *cols[c].num = strtod(tmp, &end);
                if (v->type != JSMN_PRIMITIVE || *end != '\0' || errno) {
                    snprintf(err, errlen, "%s: not a number", cols[c].name);
                    return jsonrows_row_clear(row), ERR_INVALID;
                }
                *cols[c].has = 1;
            }
        }
        if (!matched && (tok_is(line, k, "delta") || tok_is(line, k, "response_count"))) {
            char tmp[32], *end;
            snprintf(tmp, sizeof tmp, "%.*s", (int)vn, vs);
            row->delta = strtoll(tmp, &end, 10);
            if (v->type != JSMN_PRIMITIVE || *end != '\0') {
                snprintf(err, errlen, "delta: not an integer");
                return jsonrows_row_clear(row), ERR_INVALID;
            }
            have_delta = 1;
        }
        i += 1 + skip(v, n - i - 1);
    }
    if (!have_delta) {
        snprintf(err, errlen, "missing delta");
        return jsonrows_row_clear(row), ERR_INVALID;
    }
    return 0;
}

void jsonrows_row_clear(Rsvp__V1__AggRow *row)
{
    if (row == NULL)
        return;
    char **s[] = {&row->event_name,    &row->event_url,   &row->event_time, &row->group_name,
                  &row->group_country, &row->group_state, &row->group_city, &row->response};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        free(*s[i]);
        *s[i] = NULL;
    }
}
