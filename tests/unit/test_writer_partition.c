/* test_writer_partition.c: the pure parts of the writer's time partitions: which ranges to create
 * (partition_plan), how far existing ones reach (partition_reach), the SQL of schema.c that creates,
 * detaches and drops them, and the swap of rebuilt tables (rsvpctl rebuild). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "services/writer/partition.h"
#include "services/writer/schema.h"

#define S  1000LL
#define IV (10 * S)

static void plan_empty_table_gets_now_and_ahead(void **state)
{
    (void)state;
    partition_range out[8];
    size_t n = partition_plan(NULL, 0, 1234 * S, IV, 3, out, 8);
    assert_int_equal(n, 4); /* [1230, 1270): reaches past now + 3 intervals */
    /* aligned to the interval since the epoch, contiguous */
    assert_int_equal(out[0].lo_ms, 1230 * S);
    assert_int_equal(out[0].hi_ms, 1240 * S);
    assert_int_equal(out[3].lo_ms, 1260 * S);
    assert_int_equal(out[3].hi_ms, 1270 * S);
}

static void plan_covered_needs_nothing(void **state)
{
    (void)state;
    partition_range have[] = {{1230 * S, 1240 * S}, {1240 * S, 1250 * S}, {1250 * S, 1300 * S}};
    partition_range out[8];
    assert_int_equal(partition_plan(have, 3, 1234 * S, IV, 3, out, 8), 0);
    /* one interval later the next one is missing */
    assert_int_equal(partition_plan(have, 3, 1274 * S, IV, 3, out, 8), 1);
    assert_int_equal(out[0].lo_ms, 1300 * S);
    assert_int_equal(out[0].hi_ms, 1310 * S);
}

static void plan_clips_to_neighbours(void **state)
{
    (void)state;
    /* the legacy partition (MINVALUE .. an unaligned second) and an hour-long one made with another
     * interval: new ranges start where they end and stop where the next begins, never overlapping */
    partition_range have[] = {{INT64_MIN, 1233 * S}, {1255 * S, 1262 * S}};
    partition_range out[8];
    size_t n = partition_plan(have, 2, 1234 * S, IV, 3, out, 8);
    assert_int_equal(n, 4);
    assert_int_equal(out[0].lo_ms, 1233 * S); /* starts where legacy ends, not at 1230 */
    assert_int_equal(out[0].hi_ms, 1240 * S);
    assert_int_equal(out[1].lo_ms, 1240 * S);
    assert_int_equal(out[1].hi_ms, 1250 * S);
    assert_int_equal(out[2].lo_ms, 1250 * S); /* ends where the 1255-1262 one begins */
    assert_int_equal(out[2].hi_ms, 1255 * S);
    assert_int_equal(out[3].lo_ms, 1262 * S); /* 1264 lies after it */
    assert_int_equal(out[3].hi_ms, 1270 * S);
    partition_range all[6] = {have[0], have[1], out[0], out[1], out[2], out[3]};
    assert_int_equal(partition_reach(all, 6, 1234 * S), 1270 * S);
    assert_int_equal(partition_reach(all, 4, 1234 * S), 1250 * S); /* without the last two: a gap */
    for (size_t i = 0; i < 6; i++)
        for (size_t j = i + 1; j < 6; j++)
            assert_true(all[i].hi_ms <= all[j].lo_ms || all[j].hi_ms <= all[i].lo_ms);
}

static void plan_fills_the_gap_after_an_unaligned_end(void **state)
{
    (void)state;
    /* just after an upgrade: the legacy partition ends a second from now, between two boundaries */
    partition_range have[] = {{INT64_MIN, 1233 * S}};
    partition_range out[8];
    size_t n = partition_plan(have, 1, 1232 * S + 500, IV, 1, out, 8);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].lo_ms, 1233 * S);
    assert_int_equal(out[0].hi_ms, 1240 * S);
    assert_int_equal(out[1].lo_ms, 1240 * S);
    assert_int_equal(out[1].hi_ms, 1250 * S);
}

static void plan_before_epoch_and_cap(void **state)
{
    (void)state;
    partition_range out[2];
    size_t n = partition_plan(NULL, 0, -5 * S, IV, 3, out, 2); /* floor, not truncation */
    assert_int_equal(n, 2);
    assert_int_equal(out[0].lo_ms, -10 * S);
    assert_int_equal(out[0].hi_ms, 0);
    assert_int_equal(partition_plan(NULL, 0, 0, 0, 3, out, 2), 0); /* no interval: nothing */
}

static void reach_none_and_chain(void **state)
{
    (void)state;
    partition_range have[] = {{20 * S, 30 * S}, {0, 10 * S}, {10 * S, 20 * S}};
    assert_int_equal(partition_reach(have, 3, 5 * S), 30 * S);
    assert_int_equal(partition_reach(have, 3, 30 * S), INT64_MIN);
    assert_int_equal(partition_reach(NULL, 0, 30 * S), INT64_MIN);
}

static void schema_partition_sql(void **state)
{
    (void)state;
    schema *s = NULL;
    const char *why = "";
    assert_int_equal(schema_new(&s, "app.meetup_table", "rsvp_counts", "rsvp_offsets", "rsvp_batches", &why),
                     0);
    char name[80];
    schema_partition_name(s, SCHEMA_T_MEETUP, 1714521600000LL, name, sizeof name); /* 2024-05-01 00:00 UTC */
    assert_string_equal(name, "meetup_table_20240501000000");
    buf b = {0};
    assert_int_equal(schema_partition_create(s, SCHEMA_T_MEETUP, 1714521600000LL, 1714608000000LL, &b), 0);
    assert_non_null(strstr(b.data, "CREATE TABLE \"app\".\"meetup_table_20240501000000\" (LIKE "
                                   "\"app\".\"meetup_table\" INCLUDING ALL)"));
    assert_non_null(strstr(b.data, "ATTACH PARTITION \"app\".\"meetup_table_20240501000000\" FOR VALUES FROM "
                                   "('2024-05-01 00:00:00.000+00') TO ('2024-05-02 00:00:00.000+00')"));
    assert_null(strstr(b.data, "PARTITION OF")); /* would lock out every batch */
    assert_int_equal(schema_partition_detach(s, SCHEMA_T_BATCHES, "rsvp_batches_20240501000000", 0, &b), 0);
    assert_string_equal(
        b.data, "ALTER TABLE \"rsvp_batches\" DETACH PARTITION \"rsvp_batches_20240501000000\" CONCURRENTLY");
    assert_int_equal(schema_partition_detach(s, SCHEMA_T_MEETUP, "meetup_table_legacy", 1, &b), 0);
    assert_non_null(strstr(b.data, "\"app\".\"meetup_table_legacy\" FINALIZE"));
    assert_int_equal(schema_partition_drop(s, SCHEMA_T_MEETUP, "meetup_table_legacy", &b), 0);
    assert_string_equal(b.data, "DROP TABLE IF EXISTS \"app\".\"meetup_table_legacy\"");
    /* names from the catalog that are not plain identifiers are refused, never spliced */
    assert_int_equal(schema_partition_drop(s, SCHEMA_T_MEETUP, "x\"; DROP TABLE rsvp_counts; --", &b),
                     ERR_INVALID);
    assert_int_equal(schema_partition_detach(s, SCHEMA_T_MEETUP, "", 0, &b), ERR_INVALID);
    assert_non_null(strstr(schema_partitions_sql(s, SCHEMA_T_BATCHES), "to_regclass('\"rsvp_batches\"')"));
    assert_non_null(strstr(schema_orphans_sql(s, SCHEMA_T_MEETUP), "'^meetup_table_([0-9]{14}|legacy)$'"));
    /* the history tables are partitioned by commit time, the totals are not */
    assert_non_null(strstr(schema_ddl(s), "PARTITION BY RANGE (committed_at)"));
    const char *counts = strstr(schema_ddl(s), "CREATE TABLE IF NOT EXISTS \"rsvp_counts\"");
    assert_non_null(counts);
    assert_true(strstr(counts, "PARTITION BY") > strchr(counts, ';'));
    buf_free(&b);
    schema_free(s);
}

static void schema_swap(void **state)
{
    (void)state;
    schema *live = NULL, *rb = NULL, *other = NULL;
    const char *why = "";
    assert_int_equal(schema_new(&live, "meetup_table", "rsvp_counts", "rsvp_offsets", "rsvp_batches", &why),
                     0);
    assert_int_equal(schema_new(&rb, "meetup_table_rebuild", "rsvp_counts_rebuild", "rsvp_offsets_rebuild",
                                "rsvp_batches_rebuild", &why),
                     0);
    assert_int_equal(schema_new(&other, "s.meetup_table_rebuild", "s.rsvp_counts_rebuild",
                                "s.rsvp_offsets_rebuild", "s.rsvp_batches_rebuild", &why),
                     0);
    buf b = {0};
    assert_int_equal(schema_swap_sql(live, other, &b), ERR_INVALID); /* renames cannot cross SQL schemas */
    assert_int_equal(schema_swap_sql(live, rb, &b), 0);
    /* the live tables are locked in the batch transaction's order: offsets, counts, history, batches */
    const char *o = strstr(b.data, "LOCK TABLE \"rsvp_offsets\""),
               *c = strstr(b.data, "LOCK TABLE \"rsvp_counts\"");
    const char *m = strstr(b.data, "LOCK TABLE \"meetup_table\""),
               *bt = strstr(b.data, "LOCK TABLE \"rsvp_batches\"");
    assert_true(o && c && m && bt && o < c && c < m && m < bt);
    /* then dropped, and every rebuild relation renamed: rsvp_counts_rebuild_key_uidx -> rsvp_counts_key_uidx */
    assert_true(strstr(b.data, "DROP TABLE IF EXISTS") > bt);
    assert_non_null(
        strstr(b.data, "c.relname = 'rsvp_counts_rebuild' OR c.relname LIKE 'rsvp\\_counts\\_rebuild\\_%'"));
    assert_non_null(strstr(b.data, "'rsvp_counts' || substr(r.relname, 20)"));
    assert_string_equal(schema_sequence_quoted(rb), "\"rsvp_batches_rebuild_id_seq\"");
    buf_free(&b);
    schema_free(live);
    schema_free(rb);
    schema_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan_empty_table_gets_now_and_ahead),
        cmocka_unit_test(plan_covered_needs_nothing),
        cmocka_unit_test(plan_clips_to_neighbours),
        cmocka_unit_test(plan_fills_the_gap_after_an_unaligned_end),
        cmocka_unit_test(plan_before_epoch_and_cap),
        cmocka_unit_test(reach_none_and_chain),
        cmocka_unit_test(schema_partition_sql),
        cmocka_unit_test(schema_swap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
