/* validate.c: request checks of the writer (see validate.h; unit-tested in
 * tests/unit/test_writer_validate.c, fuzzed with the whole request path by tests/fuzz/fuzz_writer.c). */
#include "services/writer/validate.h"

#include <stdint.h>
#include <string.h>

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

/* ---- the packed request, before decoding ---- */

/* A varint at *p (at most 10 bytes); -1 if truncated or longer. */
static int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* One field of a message at *p: its number, wire type and, for length-delimited fields, its body
 * [*body, *body + *blen). Advances *p past it. -1 when the bytes cannot be a field. */
static int wire_field(const uint8_t **p, const uint8_t *end, uint64_t *field, unsigned *type,
                      const uint8_t **body, size_t *blen)
{
    uint64_t tag, v;
    if (wire_varint(p, end, &tag) != 0)
        return -1;
    *field = tag >> 3;
    *type = (unsigned)(tag & 7);
    *body = NULL;
    *blen = 0;
    switch (*type) {
    case 0: return wire_varint(p, end, &v);
    case 1:
        if (end - *p < 8)
            return -1;
        *p += 8;
        return 0;
    case 2:
        if (wire_varint(p, end, &v) != 0 || v > (uint64_t)(end - *p))
            return -1;
        *body = *p;
        *blen = (size_t)v;
        *p += v;
        return 0;
    case 5:
        if (end - *p < 4)
            return -1;
        *p += 4;
        return 0;
    default: return -1; /* groups (3, 4) and 6, 7: protobuf-c refuses them too */
    }
}

/* Count the fields numbered `want` of the message p[0..n): length-delimited ones count 1 each (or,
 * with packed = 1, one per varint in their body); varint ones count 1 when packed. -1 if the bytes
 * are not a message. */
static int wire_count(const uint8_t *p, size_t n, uint64_t want, int packed, size_t *count)
{
    const uint8_t *end = p + n, *body;
    uint64_t field;
    unsigned type;
    size_t blen;
    while (p < end) {
        if (wire_field(&p, end, &field, &type, &body, &blen) != 0)
            return -1;
        if (field != want)
            continue;
        if (type == 2 && !packed)
            (*count)++;
        else if (type == 0 && packed)
            (*count)++;
        else if (type == 2)
            for (size_t i = 0; i < blen; i++)
                *count += (body[i] & 0x80) == 0; /* a varint ends at each byte without the high bit */
    }
    return 0;
}

int validate_wire(const uint8_t *p, size_t n, validate_wire_counts *out)
{
    validate_wire_counts c = {0, 0};
    const uint8_t *end = p + n, *body;
    uint64_t field;
    unsigned type;
    size_t blen;
    while (p < end) {
        if (wire_field(&p, end, &field, &type, &body, &blen) != 0)
            return -1;
        if (type != 2)
            continue;
        if (field == 1 && wire_count(body, blen, 5, 0, &c.rows) != 0)
            return -1;
        if (field == 2 && wire_count(body, blen, 2, 1, &c.partitions) != 0)
            return -1;
    }
    *out = c;
    return 0;
}

/* ---- the decoded request ---- */

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

/* The rows: present, UTF-8, each delta in [0, messages], their sum exactly messages. */
static validate_reason rows_ok(const Rsvp__V1__Batch *b, const char **why)
{
    int64_t sum = 0;
    for (size_t i = 0; i < b->n_rows; i++) {
        const Rsvp__V1__AggRow *r = b->rows[i];
        if (!row_ok(r)) {
            *why = r ? "row with a string that is not UTF-8" : "row missing";
            return VR_INVALID_BATCH;
        }
        if (r->delta < 0) {
            *why = "negative delta (a batch never takes RSVPs away)";
            return VR_BAD_DELTA;
        }
        if (r->delta > b->messages) {
            *why = "delta larger than the batch's messages";
            return VR_BAD_DELTA;
        }
        sum += r->delta; /* both <= messages <= max_offset: no overflow */
        if (sum > b->messages) {
            *why = "deltas add up to more than the batch's messages";
            return VR_BAD_MESSAGES;
        }
    }
    if (sum != b->messages) {
        *why = "deltas add up to less than the batch's messages";
        return VR_BAD_MESSAGES;
    }
    return VR_OK;
}

validate_reason validate_batch(const Rsvp__V1__Batch *b, int64_t max_rows, int64_t max_offset,
                               const char **why)
{
    const char *w = NULL;
    validate_reason r = VR_INVALID_BATCH;
    if (b == NULL)
        w = "no batch";
    else if (b->topic == NULL || b->topic[0] == '\0')
        w = "empty topic";
    else if (!str_ok(b->topic))
        w = "topic is not UTF-8";
    else if (b->partition < 0)
        w = "negative partition";
    else if (b->n_rows > (size_t)INT64_MAX || (int64_t)b->n_rows > max_rows)
        w = "too many rows", r = VR_TOO_MANY_ROWS;
    else if (b->from_offset < -1)
        w = "from_offset < -1", r = VR_BAD_OFFSET;
    else if (b->to_offset > max_offset)
        w = "to_offset beyond the largest offset accepted (MAX_OFFSET)", r = VR_BAD_OFFSET;
    else if (b->to_offset <= (b->from_offset < 0 ? 0 : b->from_offset))
        w = "to_offset <= from_offset: the batch covers no offset", r = VR_BAD_RANGE;
    else if (!b->has_messages)
        w = "messages missing", r = VR_BAD_MESSAGES;
    else if (b->messages < 0)
        w = "negative messages", r = VR_BAD_MESSAGES;
    else if (b->messages > b->to_offset - (b->from_offset < 0 ? 0 : b->from_offset))
        w = "more messages than offsets in [from_offset, to_offset)", r = VR_BAD_RANGE;
    else
        return rows_ok(b, why);
    *why = w;
    return r;
}

validate_reason validate_offset_query(const Rsvp__V1__OffsetQuery *q, size_t max_partitions, const char **why)
{
    const char *w = NULL;
    validate_reason r = VR_INVALID_QUERY;
    if (q == NULL)
        w = "no query";
    else if (q->topic == NULL || q->topic[0] == '\0')
        w = "empty topic";
    else if (!str_ok(q->topic))
        w = "topic is not UTF-8";
    else if (q->n_partitions == 0)
        w = "no partitions";
    else if (q->n_partitions > max_partitions)
        w = "too many partitions", r = VR_TOO_MANY_PARTITIONS;
    else {
        for (size_t i = 0; i < q->n_partitions; i++) {
            if (q->partitions[i] < 0) {
                w = "negative partition";
                break;
            }
        }
    }
    if (w == NULL)
        return VR_OK;
    *why = w;
    return r;
}
