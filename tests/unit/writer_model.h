/* writer_model.h: an in-memory model of the writer's database side, with the contract of
 * store_apply_batch / store_query_offsets (services/writer/store.h): the offset fence (-1 only
 * while nothing is stored, otherwise from_offset must equal the stored next offset, else STALE with
 * the stored offset), a total per key (the 12 columns as the COPY path encodes them, so -0.0 and
 * 0.0, and every NaN, are one key), a key twice in one batch refused as PostgreSQL refuses it.
 * Used by the request-path fuzzer (tests/fuzz/fuzz_writer.c) and tests/unit/test_writer_request.c.
 * It re-checks, on its own and not with validate.c, that every batch it is given keeps the rules
 * of an honest aggregator, and aborts the process if one does not: a refused batch must never
 * reach the database. */
#ifndef TESTS_UNIT_WRITER_MODEL_H
#define TESTS_UNIT_WRITER_MODEL_H

#include <stdint.h>

#include "services/writer/writer.h"

typedef struct writer_model writer_model;

/* writer_model_new: an empty model checking batches against max_rows and max_offset. NULL on
 * allocation failure. writer_model_free: NULL-safe. */
writer_model *writer_model_new(int64_t max_rows, int64_t max_offset);
void writer_model_free(writer_model *m);

/* writer_model_db: the writer_db of m, for writer_handle(). */
writer_db writer_model_db(writer_model *m);

/* writer_model_checked: a writer_db that checks the rules (and counts the calls) as the model
 * does, then hands every batch and query to inner (the real store); m stores nothing then. */
writer_db writer_model_checked(writer_model *m, writer_db inner);

/* writer_model_fingerprint: a hash of everything stored (every offset, every key and total, the
 * number of applied batches); equal before and after a call that changed nothing. */
uint64_t writer_model_fingerprint(const writer_model *m);

/* writer_model_calls: how many batches were handed to the model (applied or not). */
uint64_t writer_model_calls(const writer_model *m);

/* writer_model_offset: the stored next offset of (topic, partition), -1 if none. */
int64_t writer_model_offset(const writer_model *m, const char *topic, int32_t partition);

/* writer_model_total: the sum of every key's total. */
int64_t writer_model_total(const writer_model *m);

/* writer_model_fail_next: the next batch gets rc (ERR_RETRY: database down, or ERR_INVALID)
 * without any change, as a failed transaction. */
void writer_model_fail_next(writer_model *m, int rc);

#endif
