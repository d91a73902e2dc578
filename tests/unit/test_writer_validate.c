/* test_writer_validate.c: the writer's request checks (services/writer/validate.c), table-name
 * checks of schema.c and password masking of store.c: everything decided before the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "services/writer/schema.h"
#include "services/writer/store.h"
#include "services/writer/validate.h"

static Rsvp__V1__AggRow row1 = RSVP__V1__AGG_ROW__INIT;
static Rsvp__V1__AggRow *rows1[1] = {&row1};

static Rsvp__V1__Batch good_batch(void)
{
    Rsvp__V1__Batch b = RSVP__V1__BATCH__INIT;
    b.topic = "rsvps.parsed";
    b.partition = 0;
    b.from_offset = -1;
    b.to_offset = 1;
    b.n_rows = 1;
    b.rows = rows1;
    row1.event_name = "e";
    row1.delta = 1;
    return b;
}

static void expect_invalid(const Rsvp__V1__Batch *b, int code, const char *why_part)
{
    const char *why = NULL;
    assert_int_equal(validate_batch(b, 1000, &why), code);
    assert_non_null(why);
    assert_non_null(strstr(why, why_part));
}

static void test_good_batches_pass(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    const char *why = NULL;
    assert_int_equal(validate_batch(&b, 1000, &why), 0);
    b.from_offset = 41;
    b.to_offset = 42;
    assert_int_equal(validate_batch(&b, 1000, &why), 0);
    b.n_rows = 0; /* an offset advance without rows is fine */
    assert_int_equal(validate_batch(&b, 1000, &why), 0);
    assert_null(why);
}

static void test_bad_fields_are_rejected(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    b.topic = "";
    expect_invalid(&b, ERR_INVALID, "topic");
    b = good_batch();
    b.topic = NULL;
    expect_invalid(&b, ERR_INVALID, "topic");
    b = good_batch();
    b.partition = -1;
    expect_invalid(&b, ERR_INVALID, "partition");
    b = good_batch();
    b.from_offset = -2;
    expect_invalid(&b, ERR_INVALID, "from_offset");
    b = good_batch();
    b.from_offset = 5;
    b.to_offset = 5;
    expect_invalid(&b, ERR_INVALID, "to_offset");
    b = good_batch();
    b.from_offset = -1;
    b.to_offset = -1;
    expect_invalid(&b, ERR_INVALID, "to_offset");
    b = good_batch();
    b.has_messages = 1;
    b.messages = -1;
    expect_invalid(&b, ERR_INVALID, "messages");
    const char *why = NULL;
    assert_int_equal(validate_batch(NULL, 10, &why), ERR_INVALID);
}

static void test_row_limit(void **state)
{
    (void)state;
    Rsvp__V1__Batch b = good_batch();
    const char *why = NULL;
    assert_int_equal(validate_batch(&b, 1, &why), 0);
    assert_int_equal(validate_batch(&b, 0, &why), ERR_RANGE);
    assert_string_equal(why, "too many rows");
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
    expect_invalid(&b, ERR_INVALID, "UTF-8");
    row1.group_city = NULL;
    b.topic = "t\xc3";
    expect_invalid(&b, ERR_INVALID, "topic");
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
    assert_int_equal(validate_offset_query(&q, 10, &why), 0);
    assert_int_equal(validate_offset_query(&q, 2, &why), ERR_INVALID);
    parts[1] = -4;
    assert_int_equal(validate_offset_query(&q, 10, &why), ERR_INVALID);
    assert_string_equal(why, "negative partition");
    q.n_partitions = 0;
    assert_int_equal(validate_offset_query(&q, 10, &why), ERR_INVALID);
    q.topic = "";
    assert_int_equal(validate_offset_query(&q, 10, &why), ERR_INVALID);
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
        cmocka_unit_test(test_row_limit),
        cmocka_unit_test(test_strings_must_be_utf8),
        cmocka_unit_test(test_offset_query),
        cmocka_unit_test(test_table_names_become_quoted_identifiers),
        cmocka_unit_test(test_password_is_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
