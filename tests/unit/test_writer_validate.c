/* test_writer_validate.c: the writer's request checks (services/writer/validate.c), table-name
 * checks of schema.c and password masking of store.c: everything decided before the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "services/writer/schema.h"
#include "services/writer/store.h"
#include "services/writer/validate.h"

#define MAX_OFFSET ((int64_t)1 << 53)

static Rsvp__V1__AggRow row1 = RSVP__V1__AGG_ROW__INIT;
static Rsvp__V1__AggRow *rows1[1] = {&row1};

/* One row of delta 1 over [-1, 1): what an aggregator sends for its first RSVP. */
static Rsvp__V1__Batch good_batch(void)
{
    Rsvp__V1__Batch b = RSVP__V1__BATCH__INIT;
    b.topic = "rsvps.parsed";
    b.partition = 0;
    b.from_offset = -1;
    b.to_offset = 1;
    b.n_rows = 1;
    b.rows = rows1;
    b.has_messages = 1;
    b.messages = 1;
    rsvp__v1__agg_row__init(&row1);
    row1.event_name = "e";
    row1.delta = 1;
    return b;
}

static void expect_invalid(const Rsvp__V1__Batch *b, validate_reason code, const char *why_part)
{
    const char *why = NULL;
    assert_int_equal(validate_batch(b, 1000, MAX_OFFSET, &why), code);
    assert_non_null(why);
    if (strstr(why, why_part) == NULL)
        fail_msg("reason '%s' does not mention '%s'", why, why_part);
}

static void test_good_batches_pass(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    const char *why = NULL;
    assert_int_equal(validate_batch(&b, 1000, MAX_OFFSET, &why), VR_OK);
    b.from_offset = 41;
    b.to_offset = 42;
    assert_int_equal(validate_batch(&b, 1000, MAX_OFFSET, &why), VR_OK);
    /* gaps (transaction markers, aborted records): more offsets than messages */
    b.to_offset = 1000;
    assert_int_equal(validate_batch(&b, 1000, MAX_OFFSET, &why), VR_OK);
    /* a null response creates its key with 0 */
    row1.delta = 0;
    b.messages = 0;
    assert_int_equal(validate_batch(&b, 1000, MAX_OFFSET, &why), VR_OK);
    /* an offset advance without rows (every message undecodable) */
    b.n_rows = 0;
    assert_int_equal(validate_batch(&b, 1000, MAX_OFFSET, &why), VR_OK);
    /* the edges: messages == range length, to_offset == max_offset, from -1 starts at 0 */
    b = good_batch();
    row1.delta = 5;
    b.messages = 5;
    b.from_offset = MAX_OFFSET - 5;
    b.to_offset = MAX_OFFSET;
    assert_int_equal(validate_batch(&b, 1000, MAX_OFFSET, &why), VR_OK);
    b.from_offset = -1;
    b.to_offset = 5;
    assert_int_equal(validate_batch(&b, 1000, MAX_OFFSET, &why), VR_OK);
    assert_null(why);
}

static void test_bad_fields_are_rejected(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    b.topic = "";
    expect_invalid(&b, VR_INVALID_BATCH, "topic");
    b = good_batch();
    b.topic = NULL;
    expect_invalid(&b, VR_INVALID_BATCH, "topic");
    b = good_batch();
    b.partition = -1;
    expect_invalid(&b, VR_INVALID_BATCH, "partition");
    const char *why = NULL;
    assert_int_equal(validate_batch(NULL, 10, MAX_OFFSET, &why), VR_INVALID_BATCH);
    b = good_batch();
    rows1[0] = NULL;
    expect_invalid(&b, VR_INVALID_BATCH, "row missing");
    rows1[0] = &row1;
}

/* Offsets: nothing below -1, nothing Kafka cannot reach, never an empty range. */
static void test_offsets_and_ranges(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    b.from_offset = -2;
    expect_invalid(&b, VR_BAD_OFFSET, "from_offset");
    b = good_batch();
    b.from_offset = 10;
    b.to_offset = MAX_OFFSET + 1;
    expect_invalid(&b, VR_BAD_OFFSET, "MAX_OFFSET");
    b.to_offset = (int64_t)1 << 62; /* the attack of issue 19 */
    expect_invalid(&b, VR_BAD_OFFSET, "MAX_OFFSET");
    b.to_offset = INT64_MAX;
    expect_invalid(&b, VR_BAD_OFFSET, "MAX_OFFSET");
    b = good_batch();
    b.from_offset = 5;
    b.to_offset = 5;
    expect_invalid(&b, VR_BAD_RANGE, "to_offset");
    b.to_offset = 4;
    expect_invalid(&b, VR_BAD_RANGE, "to_offset");
    b.from_offset = -1;
    b.to_offset = 0; /* [0, 0): no offset */
    expect_invalid(&b, VR_BAD_RANGE, "to_offset");
    b.to_offset = -1;
    expect_invalid(&b, VR_BAD_RANGE, "to_offset");
}

/* messages: present, >= 0, room for them in the range, and exactly the sum of the deltas. */
static void test_messages_must_fit_range_and_rows(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    b.has_messages = 0;
    expect_invalid(&b, VR_BAD_MESSAGES, "missing");
    b = good_batch();
    b.messages = -1;
    expect_invalid(&b, VR_BAD_MESSAGES, "negative");
    b = good_batch(); /* [-1, 1) holds one offset */
    b.messages = 2;
    row1.delta = 2;
    expect_invalid(&b, VR_BAD_RANGE, "more messages than offsets");
    b = good_batch();
    b.from_offset = 100;
    b.to_offset = 110;
    b.messages = 3; /* one row of 1: the rows claim fewer than the header */
    expect_invalid(&b, VR_BAD_MESSAGES, "less than");
    Rsvp__V1__AggRow r[5];
    Rsvp__V1__AggRow *rp[5];
    for (int i = 0; i < 5; i++) {
        rsvp__v1__agg_row__init(&r[i]);
        r[i].delta = 1;
        rp[i] = &r[i];
    }
    b.rows = rp;
    b.n_rows = 5;
    b.messages = 2; /* rows exceed messages */
    expect_invalid(&b, VR_BAD_MESSAGES, "more than");
    b.messages = 5;
    const char *why = NULL;
    assert_int_equal(validate_batch(&b, 1000, MAX_OFFSET, &why), VR_OK);
}

/* delta: never negative (a batch cannot take RSVPs away), never above the batch's messages. */
static void test_deltas_are_bounded(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    row1.delta = -1;
    expect_invalid(&b, VR_BAD_DELTA, "negative delta");
    b = good_batch();
    row1.delta = -1000000000000000;
    b.messages = 0;
    expect_invalid(&b, VR_BAD_DELTA, "negative delta");
    b = good_batch();
    b.to_offset = 10;
    b.messages = 10;
    row1.delta = 1000000000000000;
    expect_invalid(&b, VR_BAD_DELTA, "larger than");
    row1.delta = INT64_MAX;
    expect_invalid(&b, VR_BAD_DELTA, "larger than");
    /* many rows at the largest delta allowed: the sum stops at messages, never overflows */
    Rsvp__V1__AggRow r;
    rsvp__v1__agg_row__init(&r);
    r.delta = MAX_OFFSET;
    Rsvp__V1__AggRow *rp[4] = {&r, &r, &r, &r};
    b = good_batch();
    b.from_offset = 0;
    b.to_offset = MAX_OFFSET;
    b.messages = MAX_OFFSET;
    b.rows = rp;
    b.n_rows = 4;
    expect_invalid(&b, VR_BAD_MESSAGES, "more than");
}

static void test_row_limit(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    const char *why = NULL;
    assert_int_equal(validate_batch(&b, 1, MAX_OFFSET, &why), VR_OK);
    assert_int_equal(validate_batch(&b, 0, MAX_OFFSET, &why), VR_TOO_MANY_ROWS);
    assert_string_equal(why, "too many rows");
}

/* A packed request: the counts before decoding equal protobuf-c's after it. */
static void check_wire(const Rsvp__V1__WriterRequest *req, size_t want_rows, size_t want_parts)
{
    uint8_t buf[4096];
    size_t n = rsvp__v1__writer_request__get_packed_size(req);
    assert_true(n <= sizeof buf);
    rsvp__v1__writer_request__pack(req, buf);
    validate_wire_counts c;
    assert_int_equal(validate_wire(buf, n, &c), 0);
    assert_int_equal(c.rows, want_rows);
    assert_int_equal(c.partitions, want_parts);
}

static void test_rows_and_partitions_counted_on_the_wire(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    Rsvp__V1__AggRow *many[40];
    for (int i = 0; i < 40; i++)
        many[i] = &row1;
    b.rows = many;
    b.n_rows = 40;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_BATCH;
    req.batch = &b;
    check_wire(&req, 40, 0);
    int32_t parts[300];
    for (int i = 0; i < 300; i++)
        parts[i] = i * 1000; /* 1-, 2- and 3-byte varints */
    Rsvp__V1__OffsetQuery q = RSVP__V1__OFFSET_QUERY__INIT;
    q.topic = "t";
    q.partitions = parts;
    q.n_partitions = 300;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY;
    req.offset_query = &q;
    check_wire(&req, 0, 300);

    /* by hand: partitions packed and not, two batch bodies (protobuf-c merges them) */
    static const uint8_t two_bodies[] = {0x0a, 0x04, 0x2a, 0x02, 0x68, 0x01, /* batch: 1 row */
                                         0x0a, 0x08, 0x2a, 0x02, 0x68, 0x01, 0x2a, 0x02, 0x68, 0x01, /* 2 */
                                         0x12, 0x06, 0x10, 0x05, 0x12, 0x02, 0x01, 0x02}; /* 1 + 2 parts */
    validate_wire_counts c;
    assert_int_equal(validate_wire(two_bodies, sizeof two_bodies, &c), 0);
    assert_int_equal(c.rows, 3);
    assert_int_equal(c.partitions, 3);
    /* not protobuf: a truncated varint, a length past the end, a group, wire type 7 */
    static const uint8_t trunc_varint[] = {0x08, 0x80};
    static const uint8_t long_len[] = {0x0a, 0x05, 0x2a};
    static const uint8_t inner_long[] = {0x0a, 0x02, 0x2a, 0x05};
    static const uint8_t group[] = {0x0b, 0x0c};
    static const uint8_t type7[] = {0xff};
    assert_int_equal(validate_wire(trunc_varint, sizeof trunc_varint, &c), -1);
    assert_int_equal(validate_wire(long_len, sizeof long_len, &c), -1);
    assert_int_equal(validate_wire(inner_long, sizeof inner_long, &c), -1);
    assert_int_equal(validate_wire(group, sizeof group, &c), -1);
    assert_int_equal(validate_wire(type7, 1, &c), -1);
    assert_int_equal(validate_wire(NULL, 0, &c), 0);
    assert_int_equal(c.rows + c.partitions, 0);
    /* 64 MB of minimal rows: counted without decoding anything */
    size_t rows = (size_t)16 << 20, len = rows * 4 + 6;
    uint8_t *big = malloc(len);
    assert_non_null(big);
    big[0] = 0x0a; /* field 1, length rows * 4 in a 4-byte varint */
    big[1] = (uint8_t)(0x80 | ((rows * 4) & 0x7f));
    big[2] = (uint8_t)(0x80 | (((rows * 4) >> 7) & 0x7f));
    big[3] = (uint8_t)(0x80 | (((rows * 4) >> 14) & 0x7f));
    big[4] = (uint8_t)(((rows * 4) >> 21) & 0x7f);
    for (size_t i = 0; i < rows; i++)
        memcpy(big + 5 + i * 4, "\x2a\x02\x68\x01", 4);
    assert_int_equal(validate_wire(big, len - 1, &c), 0);
    assert_int_equal(c.rows, rows);
    free(big);
}

static void test_strings_must_be_utf8(void **state)
{
    (void)state;
    assert_true(validate_utf8("plain", 5));
    assert_true(validate_utf8("caf\xc3\xa9 \xf0\x9f\x8e\x89", 10));
    assert_false(validate_utf8("\xc3", 1));             /* truncated */
    assert_false(validate_utf8("\xc0\xaf", 2));         /* overlong */
    assert_false(validate_utf8("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(validate_utf8("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(validate_utf8("\xff", 1));
    /* A bad or good multibyte sequence at every offset around the 8-byte ASCII fast path. */
    for (size_t at = 0; at < 20; at++) {
        char t[32];
        memset(t, 'a', sizeof t);
        memcpy(t + at, "\xe2\x82\xac", 3); /* euro sign */
        assert_true(validate_utf8(t, at + 3));
        assert_true(validate_utf8(t, sizeof t));
        assert_false(validate_utf8(t, at + 2)); /* cut inside the sequence */
        t[at + 2] = 'a';
        assert_false(validate_utf8(t, sizeof t));
        t[at] = (char)0x80; /* stray continuation byte */
        assert_false(validate_utf8(t, sizeof t));
    }
    Rsvp__V1__Batch b = good_batch();
    row1.group_city = "bad \xff";
    expect_invalid(&b, VR_INVALID_BATCH, "UTF-8");
    row1.group_city = NULL;
    b.topic = "t\xc3";
    expect_invalid(&b, VR_INVALID_BATCH, "topic");
}

static void test_offset_query(void **state)
{
    (void)state;
    int32_t parts[] = {0, 1, 2};
    Rsvp__V1__OffsetQuery q = RSVP__V1__OFFSET_QUERY__INIT;
    q.topic = "rsvps.parsed";
    q.partitions = parts;
    q.n_partitions = 3;
    const char *why = NULL;
    assert_int_equal(validate_offset_query(&q, 10, &why), VR_OK);
    assert_int_equal(validate_offset_query(&q, 2, &why), VR_TOO_MANY_PARTITIONS);
    parts[1] = -4;
    assert_int_equal(validate_offset_query(&q, 10, &why), VR_INVALID_QUERY);
    assert_string_equal(why, "negative partition");
    q.n_partitions = 0;
    assert_int_equal(validate_offset_query(&q, 10, &why), VR_INVALID_QUERY);
    q.topic = "";
    assert_int_equal(validate_offset_query(&q, 10, &why), VR_INVALID_QUERY);
}

static void test_table_names_become_quoted_identifiers(void **state)
{
    (void)state;
    schema *s = NULL;
    const char *why = NULL;
    assert_int_equal(schema_new(&s, "meetup_table", "rsvp_counts", "rsvp_offsets", "rsvp_batches", &why), 0);
    assert_non_null(strstr(schema_ddl(s), "CREATE TABLE IF NOT EXISTS \"meetup_table\""));
    assert_non_null(strstr(schema_ddl(s), "NULLS NOT DISTINCT"));
    assert_non_null(strstr(schema_sql(s, SCHEMA_APPLY), "ON CONFLICT"));
    schema_free(s);
    s = NULL;
    assert_int_equal(schema_new(&s, "app.meetup", "c", "o", "b", &why), 0);
    assert_non_null(strstr(schema_ddl(s), "\"app\".\"meetup\""));
    schema_free(s);
    const char *bad[] = {"",
                         "1abc",
                         "a b",
                         "a;drop table x",
                         "a\"b",
                         "a.b.c",
                         ".a",
                         "a.",
                         "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = NULL;
        assert_int_equal(schema_new(&s, "m", bad[i], "o", "b", &why), ERR_INVALID);
        assert_string_equal(why, "COUNTS_TABLE");
        assert_null(s);
    }
    schema_free(NULL);
}

static void test_password_is_masked(void **state)
{
    (void)state;
    char out[256];
    store_mask_url("postgresql://postgres@127.0.0.1:15432/postgres", out, sizeof out);
    assert_string_equal(out, "postgresql://postgres@127.0.0.1:15432/postgres");
    store_mask_url("postgresql://u:s3cret@db:5432/x?sslmode=require", out, sizeof out);
    assert_string_equal(out, "postgresql://u:***@db:5432/x?sslmode=require");
    store_mask_url("postgres://u@db/x?password=s3cret&sslmode=disable", out, sizeof out);
    assert_string_equal(out, "postgres://u@db/x?password=***&sslmode=disable");
    store_mask_url("host=db user=u password=s3cret dbname=x", out, sizeof out);
    assert_string_equal(out, "host=db user=u password=*** dbname=x");
    store_mask_url("host=db password = 'a b\\' c' dbname=x", out, sizeof out);
    assert_string_equal(out, "host=db password = *** dbname=x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_batches_pass),
        cmocka_unit_test(test_bad_fields_are_rejected),
        cmocka_unit_test(test_offsets_and_ranges),
        cmocka_unit_test(test_messages_must_fit_range_and_rows),
        cmocka_unit_test(test_deltas_are_bounded),
        cmocka_unit_test(test_row_limit),
        cmocka_unit_test(test_rows_and_partitions_counted_on_the_wire),
        cmocka_unit_test(test_strings_must_be_utf8),
        cmocka_unit_test(test_offset_query),
        cmocka_unit_test(test_table_names_become_quoted_identifiers),
        cmocka_unit_test(test_password_is_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
