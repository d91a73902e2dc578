/* validate.c: request validation for the writer (pure functions, unit-tested in
 * tests/unit/test_writer_validate.c). */
#include "services/writer/validate.h"

#include <stdint.h>
#include <string.h>

#include "common/err.h"

int validate_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        /* Plain ASCII, the common case, eight bytes at a time. */
        uint64_t w;
        while ((size_t)(end - p) >= 8 && (memcpy(&w, p, 8), (w & 0x8080808080808080u) == 0))
            p += 8;
        if (p == end)
            break;
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0)
            len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if ((size_t)(end - p) < len)
            return 0;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += len;
    }
    return 1;
}

static int str_ok(const char *s)
{
    return s == NULL || validate_utf8(s, strlen(s));
}

static int row_ok(const Rsvp__V1__AggRow *r)
{
    return r != NULL && str_ok(r->event_name) && str_ok(r->event_url) && str_ok(r->event_time) &&
           str_ok(r->group_name) && str_ok(r->group_country) && str_ok(r->group_state) &&
           str_ok(r->group_city) && str_ok(r->response);
}

int validate_batch(const Rsvp__V1__Batch *b, int64_t max_rows, const char **why)
{
    const char *w = NULL;
    int rc = ERR_INVALID;
    if (b == NULL)
        w = "no batch";
    else if (b->topic == NULL || b->topic[0] == '\0')
        w = "empty topic";
    else if (!str_ok(b->topic))
        w = "topic is not UTF-8";
    else if (b->partition < 0)
        w = "negative partition";
    else if (b->from_offset < -1)
        w = "from_offset < -1";
    else if (b->to_offset <= b->from_offset)
        w = "to_offset <= from_offset";
    else if (b->has_messages && b->messages < 0)
        w = "negative messages";
    else if ((int64_t)b->n_rows > max_rows)
        w = "too many rows", rc = ERR_RANGE;
    else {
        for (size_t i = 0; i < b->n_rows; i++) {
            if (!row_ok(b->rows[i])) {
                w = "row with a string that is not UTF-8";
                break;
            }
        }
    }
    if (w == NULL)
        return 0;
    *why = w;
    return rc;
}

int validate_offset_query(const Rsvp__V1__OffsetQuery *q, size_t max_partitions, const char **why)
{
    const char *w = NULL;
    if (q == NULL)
        w = "no query";
    else if (q->topic == NULL || q->topic[0] == '\0')
        w = "empty topic";
    else if (!str_ok(q->topic))
        w = "topic is not UTF-8";
    else if (q->n_partitions == 0)
        w = "no partitions";
    else if (q->n_partitions > max_partitions)
        w = "too many partitions";
    else {
        for (size_t i = 0; i < q->n_partitions; i++) {
            if (q->partitions[i] < 0) {
                w = "negative partition";
                break;
            }
        }
    }
    if (w == NULL)
        return 0;
    *why = w;
    return ERR_INVALID;
}
