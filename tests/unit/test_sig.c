/* test_sig.c: the stop flag of common/sig.c: a signal sets it, a stop requested by the process
 * itself is not mistaken for a first signal (a later SIGTERM must not exit at once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "common/sig.h"

static void test_request_then_signal_does_not_exit(void **state)
{
    (void)state;
    sig_init();
    assert_false(sig_stopping());
    sig_request_stop();
    assert_true(sig_stopping());
    raise(SIGTERM); /* the first real signal: only sets the flag (before the fix: _exit(130)) */
    assert_true(sig_stopping());
}

static void test_sigpipe_ignored(void **state)
{
    (void)state;
    sig_init();
    raise(SIGPIPE); /* would kill the process if not ignored */
    assert_true(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_then_signal_does_not_exit),
        cmocka_unit_test(test_sigpipe_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
