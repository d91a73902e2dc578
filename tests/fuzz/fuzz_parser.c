/* fuzz_parser.c: libFuzzer target for rsvp_json_parse in both modes (build and run: tests/fuzz/run.sh).
 * Beyond "no crash, no sanitizer report" it checks what the service relies on: a known reason;
 * strict mode: on success the required fields and ranges hold; reference mode: a message exactly when
 * the reason says so, a key without NUL bytes, the same answer from the fast path and from the
 * step-by-step reading (sparkjson.h); protobuf pack -> unpack gives the same fields, and parsing is
 * deterministic (a second parse after another message gives the same result). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "services/parser/rsvp_json.h"
#include "tests/unit/rsvp_dump.h"

static const char OTHER[] =
    "{\"rsvp_id\":9,\"mtime\":9,\"response\":\"no\",\"event\":{\"event_id\":\"z\"},"
    "\"venue\":{\"lat\":1,\"lon\":1},\"member\":{\"other_services\":{\"a\":{\"identifier\":"
    "\"b\"}}},\"group\":{\"group_topics\":[{}]}}";

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c)) {                                                                                          \
            fprintf(stderr, "fuzz_parser: check failed: %s\n", #c);                                          \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

/* round_trip: append x's dump to out; pack -> unpack must give the same dump */
static void round_trip(const Rsvp__V1__Rsvp *x, buf *out)
{
    buf direct = {0};
    CHECK(rsvp_dump(&direct, x) == 0);
    CHECK(buf_append(out, direct.data, direct.len) == 0);
    size_t n = rsvp__v1__rsvp__get_packed_size(x);
    uint8_t *packed = malloc(n ? n : 1);
    CHECK(packed && rsvp__v1__rsvp__pack(x, packed) == n);
    Rsvp__V1__Rsvp *u = rsvp__v1__rsvp__unpack(NULL, n, packed);
    CHECK(u != NULL);
    buf round = {0};
    CHECK(rsvp_dump(&round, u) == 0);
    CHECK(strcmp(round.data, direct.data) == 0);
    buf_free(&round);
    buf_free(&direct);
    rsvp__v1__rsvp__free_unpacked(u, NULL);
    free(packed);
}

static void outcome(rsvp_json *p, const uint8_t *data, size_t size, buf *out)
{
    Rsvp__V1__Rsvp *x = NULL;
    rsvp_json_reason r = rsvp_json_parse(p, (const char *)data, size, &x);
    CHECK((unsigned)r < RSVP_JSON_REASON_COUNT);
    buf_reset(out);
    if (r != RSVP_JSON_OK) {
        CHECK(x == NULL);
        buf_puts(out, rsvp_json_reason_str(r));
        return;
    }
    CHECK(x->has_rsvp_id && x->has_mtime && x->has_response);
    CHECK(x->response == RSVP__V1__RESPONSE__RESPONSE_YES || x->response == RSVP__V1__RESPONSE__RESPONSE_NO);
    CHECK(x->event && x->event->event_id && x->event->event_id[0]);
    if (x->venue) {
        CHECK(!x->venue->has_lat || (x->venue->lat >= -90 && x->venue->lat <= 90));
        CHECK(!x->venue->has_lon || (x->venue->lon >= -180 && x->venue->lon <= 180));
    }
    round_trip(x, out);
}

/* reference: the reason and the message's dump, also by the slow path */
static void outcome_reference(rsvp_json *p, const uint8_t *data, size_t size, buf *out, int twopass)
{
    Rsvp__V1__Rsvp *x = NULL;
    rsvp_json_reason r = twopass ? rsvp_json_parse_twopass(p, (const char *)data, size, &x)
                                 : rsvp_json_parse(p, (const char *)data, size, &x);
    CHECK((unsigned)r < RSVP_JSON_REASON_COUNT);
    CHECK((x != NULL) == (r == RSVP_JSON_OK || r == RSVP_JSON_NOT_JSON || r == RSVP_JSON_NOT_OBJECT));
    buf_reset(out);
    buf_puts(out, rsvp_json_reason_str(r));
    if (!x)
        return;
    CHECK(x->key != NULL);
    buf_putc(out, ' ');
    round_trip(x, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rsvp_json *p, *ref;
    static buf first, second, other, slow;
    if (!p) {
        rsvp_json_limits lim = rsvp_json_limits_default();
        lim.mode = RSVP_JSON_STRICT;
        lim.max_string_bytes = 64; /* small limits so the fuzzer reaches them */
        lim.max_tokens = 256;
        if (rsvp_json_new(&p, &lim) != 0)
            abort();
        lim.mode = RSVP_JSON_REFERENCE;
        lim.max_tokens = 64; /* the fast path gives up on larger messages */
        if (rsvp_json_new(&ref, &lim) != 0)
            abort();
    }
    outcome(p, data, size, &first);
    outcome(p, (const uint8_t *)OTHER, sizeof OTHER - 1, &other);
    outcome(p, data, size, &second);
    CHECK(strcmp(first.data, second.data) == 0);
    outcome_reference(ref, data, size, &first, 0);
    outcome_reference(ref, (const uint8_t *)OTHER, sizeof OTHER - 1, &other, 0);
    outcome_reference(ref, data, size, &second, 0);
    outcome_reference(ref, data, size, &slow, 1);
    CHECK(strcmp(first.data, second.data) == 0);
    CHECK(strcmp(first.data, slow.data) == 0);
    return 0;
}
