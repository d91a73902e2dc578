/* test_rsvpctl_dlq.c: the re-drive ledger's record format (rsvpctl dlq): keys and outcomes written by
 * one run are read back by the next, and records that are not ours are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "common/err.h"
#include "tools/rsvpctl/dlq.h"

static int parse(const char *k, const char *v, int32_t *p, int64_t *o, dlq_outcome *oc, char *why)
{
    return dlq_ledger_parse(k, strlen(k), v, strlen(v), p, o, oc, why, 40);
}

static void key_round_trip(void **state)
{
    (void)state;
    char k[32], why[40];
    int32_t p;
    int64_t o;
    dlq_outcome oc;
    dlq_ledger_key(3, 1234567890123LL, k, sizeof k);
    assert_string_equal(k, "3:1234567890123");
    assert_int_equal(parse(k, "{\"outcome\":\"redriven\",\"at_ms\":1}", &p, &o, &oc, why), 0);
    assert_int_equal(p, 3);
    assert_true(o == 1234567890123LL);
    assert_int_equal(oc, DLQ_REDRIVEN);
    assert_int_equal(
        parse("0:7", "{\"outcome\":\"failed\",\"reason\":\"not_json\",\"at_ms\":1}", &p, &o, &oc, why), 0);
    assert_int_equal(oc, DLQ_FAILED);
    assert_string_equal(why, "not_json");
}

static void foreign_records_refused(void **state)
{
    (void)state;
    char why[40];
    int32_t p;
    int64_t o;
    dlq_outcome oc;
    static const char *const bad_keys[] = {"", "3", ":1", "3:", "-1:5", "3:-5", "3:5x", "70000:1", "a:1"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++)
        assert_int_equal(parse(bad_keys[i], "{\"outcome\":\"redriven\"}", &p, &o, &oc, why), ERR_INVALID);
    assert_int_equal(parse("1:1", "{\"outcome\":\"maybe\"}", &p, &o, &oc, why), ERR_INVALID);
    assert_int_equal(parse("1:1", "{}", &p, &o, &oc, why), ERR_INVALID);
    assert_int_equal(parse("1:1", "{\"outcome\":\"failed\"}", &p, &o, &oc, why), ERR_INVALID); /* no reason */
    assert_int_equal(parse("1:1", "{\"outcome\":\"redriv", &p, &o, &oc, why), ERR_INVALID);
    assert_int_equal(dlq_ledger_parse(NULL, 0, "{}", 2, &p, &o, &oc, why, 40), ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_round_trip),
        cmocka_unit_test(foreign_records_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
