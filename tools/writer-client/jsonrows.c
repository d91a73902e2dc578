/* jsonrows.c: JSON line -> AggRow for the writer's test client, read with common/json.h (the strict
 * scanner and its unescaping). */
#include "tools/writer-client/jsonrows.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"

#define JSONROWS_MAX_TOKENS 256

/* text_of: a new NUL-terminated copy of a string token's unescaped text, or of another token's text
 * (event_time may come as a number: its digits are kept). NULL on ERR_NOMEM. */
static char *text_of(const char *line, const json_tok *t)
{
    size_t n = t->end - t->start;
    char *out = malloc(n + 1); /* unescaping never grows the text */
    if (!out)
        return NULL;
    if (t->type == JSON_STRING)
        n = json_unescape(line + t->start, n, out, NULL);
    else
        memcpy(out, line + t->start, n);
    out[n] = '\0';
    return out;
}

static int key_is(const char *line, const json_tok *k, const char *s)
{
    char buf[64];
    size_t n = k->end - k->start;
    if (n > sizeof buf)
        return 0;
    n = json_unescape(line + k->start, n, buf, NULL);
    return strlen(s) == n && memcmp(buf, s, n) == 0;
}

int jsonrows_parse(const char *line, size_t len, Rsvp__V1__AggRow *row, char *err, size_t errlen)
{
    rsvp__v1__agg_row__init(row);
    json_tok tok[JSONROWS_MAX_TOKENS];
    unsigned n = 0;
    if (json_scan(line, len, tok, JSONROWS_MAX_TOKENS, 16, &n) != JSON_OK || tok[0].type != JSON_OBJECT) {
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
    unsigned k = 1;
    for (uint32_t m = 0; m < tok[0].count; m++, k = tok[k + 1].next) {
        const json_tok *key = &tok[k], *v = &tok[k + 1];
        const char *vs = line + v->start;
        size_t vn = v->end - v->start;
        int matched = 0;
        for (size_t c = 0; c < sizeof cols / sizeof cols[0] && !matched; c++) {
            if (!key_is(line, key, cols[c].name))
                continue;
            matched = 1;
            if (v->type == JSON_NULL)
                break;
            if (cols[c].str) {
                free(*cols[c].str);
                *cols[c].str = v->type == JSON_OBJECT || v->type == JSON_ARRAY ? NULL : text_of(line, v);
                if (*cols[c].str == NULL) {
                    snprintf(err, errlen, "%s: bad string", cols[c].name);
                    return jsonrows_row_clear(row), ERR_INVALID;
                }
            } else {
                /* a JSON number, or a string strtod reads whole: the values JSON has no number for
                 * ("NaN", "-Infinity") and exact hex floats ("0x1p-1074") */
                char tmp[64], *end;
                if (v->type == JSON_STRING && vn < sizeof tmp)
                    tmp[json_unescape(vs, vn, tmp, NULL)] = '\0';
                else
                    snprintf(tmp, sizeof tmp, "%.*s", (int)vn, vs);
                errno = 0;
                *cols[c].num = strtod(tmp, &end);
                if ((v->type != JSON_NUMBER && v->type != JSON_STRING) || end == tmp || *end != '\0' ||
                    errno) {
                    snprintf(err, errlen, "%s: not a number", cols[c].name);
                    return jsonrows_row_clear(row), ERR_INVALID;
                }
                *cols[c].has = 1;
            }
        }
        if (!matched && (key_is(line, key, "delta") || key_is(line, key, "response_count"))) {
            int64_t d;
            if (json_tok_int(line, v, &d) != 0 || v->type != JSON_NUMBER) {
                snprintf(err, errlen, "delta: not an integer");
                return jsonrows_row_clear(row), ERR_INVALID;
            }
            row->delta = d;
            have_delta = 1;
        }
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
