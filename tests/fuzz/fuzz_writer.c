/* fuzz_writer.c: libFuzzer target for the writer's request path without a database: bytes off the
 * nng socket -> writer_handle() (size check, WriterRequest unpack, validate, reply). Checks that
 * every input gets exactly one packed WriterReply, and that a batch the validator accepts encodes
 * to COPY text with 13 fields per row and no raw tab or newline inside a field. */
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

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_writer: check failed: %s\n", #c);                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Small limits so that the oversize and too-many-rows paths are reachable by the fuzzer. */
static const writer_limits LIMITS = {.max_batch_rows = 64, .max_request_bytes = 16384,
                                     .max_partitions = 64};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    log_init("fuzz-writer", "fuzz", LOGL_ERROR);
    CHECK(writer_metrics_init() == 0);
    return 0;
}

/* copy_check: every row of an accepted batch is one line of 13 tab-separated fields. */
static void copy_check(const Rsvp__V1__Batch *b, buf *out) {
    for (size_t i = 0; i < b->n_rows; i++) {
        buf_reset(out);
        CHECK(copy_append_row(out, b->rows[i]) == 0);
        const char *s = out->data;
        size_t n = out->len, tabs = 0;
        CHECK(n > 0 && s[n - 1] == '\n');
        for (size_t j = 0; j + 1 < n; j++) {
            CHECK(s[j] != '\n' && s[j] != '\r');
            tabs += s[j] == '\t';
        }
        CHECK(tabs == 12);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    buf out_buf = {0}, *out = &out_buf;
    CHECK(writer_handle(NULL, &LIMITS, data, size, out) == 0);
    Rsvp__V1__WriterReply *rep =
        rsvp__v1__writer_reply__unpack(NULL, out->len, (const uint8_t *)out->data);
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
        if (r) rsvp__v1__writer_request__free_unpacked(r, NULL);
    }
    buf_free(out);
    return 0;
}
