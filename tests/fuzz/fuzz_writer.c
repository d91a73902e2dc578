/* fuzz_writer.c: libFuzzer target for the writer's whole request path: bytes off the nng socket ->
 * writer_handle() (size, rows and partitions counted on the wire, decode into a capped arena,
 * validate, dispatch, reply) -> the database side. That side is an in-memory model of the store
 * (tests/unit/writer_model.c), kept from input to input so that batches meet stored offsets; with
 * FUZZ_WRITER_PG_URL=postgresql://.../db it is the real store on that (scratch) database.
 * Oracles, checked on every input (a failure aborts: libFuzzer saves the input):
 *   - one reply, always, that decodes, with a status;
 *   - a request that is not applied (ERROR, STALE, RETRY) changes nothing stored, and one refused
 *     by the checks (ERROR "<reason>: ...") never reaches the database side at all;
 *   - the database side never sees a batch that breaks the rules (the model re-checks them itself);
 *   - an applied batch moved its partition's offset to to_offset and the totals by its messages,
 *     and its rows encode to COPY tuples that decode back to the rows, field by field;
 *   - the wire count never refuses a request protobuf-c decodes, and never counts fewer rows or
 *     partitions than protobuf-c decodes.
 * At exit it prints how many inputs ended how (stderr, "fuzz_writer: outcomes ..."). */
#include <libpq-fe.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "proto/rsvp.pb-c.h"
#include "services/writer/copy.h"
#include "services/writer/schema.h"
#include "services/writer/store.h"
#include "services/writer/validate.h"
#include "services/writer/writer.h"
#include "tests/unit/writer_model.h"

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c)) {                                                                                          \
            fprintf(stderr, "fuzz_writer: oracle failed: %s (line %d)\n", #c, __LINE__);                     \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

/* Small limits so that every refusal is reachable by inputs of a few KB. */
static const writer_limits LIMITS = {
    .max_request_bytes = 6144, .max_batch_rows = 64, .max_partitions = 64, .max_offset = (int64_t)1 << 53};
#define DECODE_CAP  (24 * 1024) /* the arena's cap: repeated fields of a 6 KB request can exceed it */
#define MODEL_RESET 4096        /* inputs between fresh models (so the seeds' first batches apply again) */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static writer_arena *arena;
static writer_model *model;
static writer_db db;
static uint64_t inputs;
static uint64_t outcome[6]; /* 0 refused before the database, 1..4 reply status, 5 database ERROR */

/* PostgreSQL mode: the real store, and a second connection for fingerprints. */
static schema *pg_schema;
static store *pg_store;
static PGconn *pg_check;

static const char *const REASONS[] = {
    "invalid_batch", "too_many_rows",       "bad_offset", "bad_range", "bad_messages", "bad_delta",
    "invalid_query", "too_many_partitions", "empty",      "oversize",  "unpack",       "decode_limit",
    "no_body"};

static void report(void)
{
    fprintf(stderr,
            "fuzz_writer: outcomes inputs=%llu refused_before_db=%llu ok=%llu stale=%llu retry=%llu "
            "db_error=%llu mode=%s\n",
            (unsigned long long)inputs, (unsigned long long)outcome[0], (unsigned long long)outcome[1],
            (unsigned long long)outcome[2], (unsigned long long)outcome[3], (unsigned long long)outcome[5],
            pg_store ? "postgresql" : "model");
}

static void pg_setup(const char *url)
{
    const char *why = "";
    store_opts so = {.pg_url = url,
                     .backoff_base_ms = 100,
                     .backoff_max_ms = 1000,
                     .connect_timeout_s = 5,
                     .statement_timeout_ms = 10000,
                     .tx_retries = 3};
    CHECK(schema_new(&pg_schema, "meetup_table", "rsvp_counts", "rsvp_offsets", "rsvp_batches", &why) == 0);
    so.sch = pg_schema;
    CHECK(store_new(&pg_store, &so) == 0);
    int64_t deadline = clock_mono_ms() + 30000;
    while (store_ensure(pg_store) != 0) {
        CHECK(clock_mono_ms() < deadline);
        clock_sleep_ms(200);
    }
    pg_check = PQconnectdb(url);
    CHECK(PQstatus(pg_check) == CONNECTION_OK);
}

/* Everything stored, as one text (PostgreSQL mode). */
static char *pg_fingerprint(void)
{
    PGresult *r =
        PQexec(pg_check, "SELECT (SELECT count(*) || ':' || coalesce(sum(response_count), 0) || ':' || "
                         "coalesce(sum(hashtextextended(c::text, 0)), 0) FROM rsvp_counts c) || '|' || "
                         "(SELECT count(*) || ':' || coalesce(sum(hashtextextended(o::text, 0)), 0) "
                         "FROM rsvp_offsets o) || '|' || (SELECT count(*) FROM rsvp_batches) || '|' || "
                         "(SELECT count(*) FROM meetup_table)");
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
    char *s = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    CHECK(s != NULL);
    return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init("fuzz-writer", "fuzz", LOGL_ERROR);
    CHECK(writer_metrics_init() == 0);
    CHECK(writer_arena_new(&arena, 8192, DECODE_CAP) == 0); /* small: its overflow path runs too */
    model = writer_model_new(LIMITS.max_batch_rows, LIMITS.max_offset);
    CHECK(model != NULL);
    const char *url = getenv("FUZZ_WRITER_PG_URL");
    if (url && *url) {
        pg_setup(url);
        db = writer_model_checked(model, writer_db_store(pg_store));
    } else {
        db = writer_model_db(model);
    }
    atexit(report);
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

/* copy_check: every row of an applied batch is one tuple of 13 fields equal to the row. */
static void copy_check(const Rsvp__V1__Batch *b)
{
    buf out = {0};
    for (size_t i = 0; i < b->n_rows; i++) {
        const Rsvp__V1__AggRow *r = b->rows[i];
        buf_reset(&out);
        CHECK(copy_append_row(&out, r) == 0);
        const unsigned char *t = (const unsigned char *)out.data;
        size_t n = out.len, at = 2;
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
    buf_free(&out);
}

/* refused_by_checks: the reply is an ERROR of the writer's own checks ("<reason>: ..."). */
static int refused_by_checks(const Rsvp__V1__WriterReply *rep)
{
    if (rep->status != RSVP__V1__WRITER_REPLY__STATUS__ERROR || rep->message == NULL)
        return 0;
    for (size_t i = 0; i < sizeof REASONS / sizeof REASONS[0]; i++) {
        size_t n = strlen(REASONS[i]);
        if (strncmp(rep->message, REASONS[i], n) == 0 && rep->message[n] == ':')
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pg_store && ++inputs % MODEL_RESET == 0) {
        writer_model_free(model);
        model = writer_model_new(LIMITS.max_batch_rows, LIMITS.max_offset);
        CHECK(model != NULL);
        db = writer_model_db(model);
    } else if (pg_store) {
        inputs++;
    }
    /* The protobuf-c view of the same bytes, uncapped, for the oracles. */
    Rsvp__V1__WriterRequest *r =
        size <= LIMITS.max_request_bytes ? rsvp__v1__writer_request__unpack(NULL, size, data) : NULL;
    validate_wire_counts wc;
    int wire = validate_wire(data, size, &wc);
    if (r) {
        CHECK(wire == 0); /* never refuse what decodes */
        if (r->body_case == RSVP__V1__WRITER_REQUEST__BODY_BATCH)
            CHECK(wc.rows >= r->batch->n_rows);
        if (r->body_case == RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY)
            CHECK(wc.partitions >= r->offset_query->n_partitions);
    }
    /* One request in five that reaches the database meets a failed transaction (RETRY). */
    if (!pg_store && size > 0 && data[size - 1] % 5 == 0)
        writer_model_fail_next(model, ERR_RETRY);

    char *pg_before = pg_store ? pg_fingerprint() : NULL;
    uint64_t fp = writer_model_fingerprint(model), calls = writer_model_calls(model);
    int64_t total = writer_model_total(model);
    buf out = {0};
    CHECK(writer_handle(&db, &LIMITS, arena, data, size, &out) == 0);
    Rsvp__V1__WriterReply *rep = rsvp__v1__writer_reply__unpack(NULL, out.len, (const uint8_t *)out.data);
    CHECK(rep != NULL);
    int st = rep->status;
    CHECK(st >= RSVP__V1__WRITER_REPLY__STATUS__OK && st <= RSVP__V1__WRITER_REPLY__STATUS__ERROR);
    int is_batch = r && r->body_case == RSVP__V1__WRITER_REQUEST__BODY_BATCH;

    if (refused_by_checks(rep)) {
        CHECK(writer_model_calls(model) == calls);
        outcome[0]++;
    } else {
        outcome[st == RSVP__V1__WRITER_REPLY__STATUS__ERROR ? 5 : st]++;
    }
    if (st != RSVP__V1__WRITER_REPLY__STATUS__OK || !is_batch) {
        CHECK(writer_model_fingerprint(model) == fp); /* not applied: nothing changed */
        if (pg_store) {
            char *after = pg_fingerprint();
            CHECK(strcmp(after, pg_before) == 0);
            free(after);
        }
    } else {
        const Rsvp__V1__Batch *b = r->batch;
        CHECK(writer_model_calls(model) == calls + 1);
        if (!pg_store) {
            CHECK(writer_model_offset(model, b->topic, b->partition) == b->to_offset);
            CHECK(writer_model_total(model) == total + b->messages);
        }
        copy_check(b);
    }
    if (st == RSVP__V1__WRITER_REPLY__STATUS__OK && r &&
        r->body_case == RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY)
        CHECK(rep->n_offsets == r->offset_query->n_partitions);
    writer_model_fail_next(model, 0);
    rsvp__v1__writer_reply__free_unpacked(rep, NULL);
    if (r)
        rsvp__v1__writer_request__free_unpacked(r, NULL);
    buf_free(&out);
    free(pg_before);
    return 0;
}
