/* copy.c: binary COPY encoding of AggRows (PostgreSQL's "file format" for COPY ... (FORMAT
 * binary)). Kept free of libpq so the bytes can be unit-tested (tests/unit/test_writer_copy.c);
 * doubles travel as their IEEE bits, so nothing is formatted or parsed on either side. */
#include "services/writer/copy.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"

/* "PGCOPY\n\377\r\n\0", int32 flags (no OIDs), int32 header extension length. */
static const char COPY_HEADER[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', (char)0xff, '\r', '\n',
                                     0,   0,   0,   0,   0,   0,   0,    0,          0};

#define LEN_NULL UINT32_MAX /* int32 -1 */

static char *put16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
    return p + 2;
}

static char *put32(char *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
    return p + 4;
}

static char *put64(char *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
    return p + 8;
}

/* The bits float8in would store for what the text path sent (see copy.h). */
static uint64_t double_bits(double v)
{
    if (v == 0.0)
        v = 0.0;
    else if (isnan(v))
        v = NAN;
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static char *put_str(char *p, const char *s, size_t n)
{
    if (s == NULL)
        return put32(p, LEN_NULL);
    p = put32(p, (uint32_t)n);
    memcpy(p, s, n);
    return p + n;
}

static char *put_double(char *p, int has, double v)
{
    if (!has)
        return put32(p, LEN_NULL);
    p = put32(p, 8);
    return put64(p, double_bits(v));
}

/* Room for a string field; ERR_RANGE past int32 (the request size limit keeps us far below). */
static int str_len(const char *s, size_t *n)
{
    *n = s ? strlen(s) : 0;
    return *n > INT32_MAX ? ERR_RANGE : 0;
}

int copy_append_header(buf *b)
{
    return buf_append(b, COPY_HEADER, sizeof COPY_HEADER);
}

int copy_append_trailer(buf *b)
{
    return buf_append(b, "\xff\xff", 2);
}

int copy_append_str(buf *b, const char *s)
{
    size_t n;
    int rc = str_len(s, &n);
    if (rc == 0)
        rc = buf_reserve(b, 4 + n);
    if (rc != 0)
        return rc;
    b->len = (size_t)(put_str(b->data + b->len, s, n) - b->data);
    b->data[b->len] = '\0';
    return 0;
}

int copy_append_double(buf *b, int has, double v)
{
    if (buf_reserve(b, 12) != 0)
        return ERR_NOMEM;
    b->len = (size_t)(put_double(b->data + b->len, has, v) - b->data);
    b->data[b->len] = '\0';
    return 0;
}

int copy_append_row(buf *b, const Rsvp__V1__AggRow *r)
{
    const char *str[8] = {r->event_name,    r->event_url,   r->event_time, r->group_name,
                          r->group_country, r->group_state, r->group_city, r->response};
    size_t n[8], total = 2 + COPY_FIELDS * 4 + 5 * 8;
    for (int i = 0; i < 8; i++) {
        int rc = str_len(str[i], &n[i]);
        if (rc != 0)
            return rc;
        total += n[i];
    }
    if (buf_reserve(b, total) != 0)
        return ERR_NOMEM;
    char *p = put16(b->data + b->len, COPY_FIELDS);
    for (int i = 0; i < 7; i++)
        p = put_str(p, str[i], n[i]);
    p = put_double(p, r->has_group_lat, r->group_lat);
    p = put_double(p, r->has_group_lon, r->group_lon);
    p = put_double(p, r->has_lat, r->lat);
    p = put_double(p, r->has_lon, r->lon);
    p = put_str(p, str[7], n[7]);
    p = put32(p, 8);
    p = put64(p, (uint64_t)r->delta);
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
    return 0;
}
