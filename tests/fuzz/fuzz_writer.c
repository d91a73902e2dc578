/* fuzz_writer.c: libFuzzer target for the writer's request path without a database: bytes off the
 * nng socket -> writer_handle() (size check, WriterRequest unpack into the worker arena, validate,
 * reply). Checks that every input gets exactly one packed WriterReply, and that a batch the
 * validator accepts encodes to binary COPY tuples that decode back to the row, field by field. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "proto/rsvp.pb-c.h"
#include "services/writer/copy.h"
#include "services/writer/validate.h"
#include "services/writer/writer.h"

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c)) {                                                                                          \
            fprintf(stderr, "fuzz_writer: check failed: %s\n", #c);                                          \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

/* Small limits so that the oversize and too-many-rows paths are reachable by the fuzzer. */
static const writer_limits LIMITS = {.max_batch_rows = 64, .max_request_bytes = 16384, .max_partitions = 64};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One arena for the whole run, as a worker has (kept small so its overflow path runs too). */
static writer_arena *arena;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init("fuzz-writer", "fuzz", LOGL_ERROR);
    CHECK(writer_metrics_init() == 0);
    CHECK(writer_arena_new(&arena, 8192) == 0);
    return 0;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Field *at of the tuple (n bytes) must be the string s (NULL: length -1). */
static void check_str(const unsigned char *t, size_t n, size_t *at, const char *s)
{
    CHECK(*at + 4 <= n);
    uint32_t len = get32(t + *at);
    *at += 4;
    if (s == NULL) {
        CHECK(len == UINT32_MAX);
        return;
    }
    CHECK(len == strlen(s) && *at + len <= n && memcmp(t + *at, s, len) == 0);
    *at += len;
}

/* Field *at must be a float8 with the bits of v (-0.0 as 0.0, every NaN as NAN), or NULL. */
static void check_dbl(const unsigned char *t, size_t n, size_t *at, int has, double v)
{
    CHECK(*at + 4 <= n);
    uint32_t len = get32(t + *at);
    *at += 4;
    if (!has) {
        CHECK(len == UINT32_MAX);
        return;
    }
    CHECK(len == 8 && *at + 8 <= n);
    uint64_t got = (uint64_t)get32(t + *at) << 32 | get32(t + *at + 4), want;
    double norm = v == 0.0 ? 0.0 : v != v ? NAN : v;
    memcpy(&want, &norm, 8);
    CHECK(got == want);
    *at += 8;
}

/* copy_check: every row of an accepted batch is one tuple of 13 fields equal to the row. */
static void copy_check(const Rsvp__V1__Batch *b, buf *out)
{
    for (size_t i = 0; i < b->n_rows; i++) {
        const Rsvp__V1__AggRow *r = b->rows[i];
        buf_reset(out);
        CHECK(copy_append_row(out, r) == 0);
        const unsigned char *t = (const unsigned char *)out->data;
        size_t n = out->len, at = 2;
        CHECK(n >= 2 && t[0] == 0 && t[1] == COPY_FIELDS);
        check_str(t, n, &at, r->event_name);
        check_str(t, n, &at, r->event_url);
        check_str(t, n, &at, r->event_time);
        check_str(t, n, &at, r->group_name);
        check_str(t, n, &at, r->group_country);
        check_str(t, n, &at, r->group_state);
        check_str(t, n, &at, r->group_city);
        check_dbl(t, n, &at, r->has_group_lat, r->group_lat);
        check_dbl(t, n, &at, r->has_group_lon, r->group_lon);
        check_dbl(t, n, &at, r->has_lat, r->lat);
        check_dbl(t, n, &at, r->has_lon, r->lon);
        check_str(t, n, &at, r->response);
        CHECK(at + 12 == n && get32(t + at) == 8);
        CHECK(((uint64_t)get32(t + at + 4) << 32 | get32(t + at + 8)) == (uint64_t)r->delta);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    buf out_buf = {0}, *out = &out_buf;
    CHECK(writer_handle(NULL, &LIMITS, arena, data, size, out) == 0);
    Rsvp__V1__WriterReply *rep = rsvp__v1__writer_reply__unpack(NULL, out->len, (const uint8_t *)out->data);
    CHECK(rep != NULL);
    rsvp__v1__writer_reply__free_unpacked(rep, NULL);

    if (size > 0 && size <= LIMITS.max_request_bytes) {
        Rsvp__V1__WriterRequest *r = rsvp__v1__writer_request__unpack(NULL, size, data);
        if (r && r->body_case == RSVP__V1__WRITER_REQUEST__BODY_BATCH) {
            const char *why = NULL;
            if (validate_batch(r->batch, LIMITS.max_batch_rows, &why) == 0)
                copy_check(r->batch, out);
            else
                CHECK(why != NULL);
        }
        if (r)
            rsvp__v1__writer_request__free_unpacked(r, NULL);
    }
    buf_free(out);
    return 0;
}
