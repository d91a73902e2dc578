/* sig.c: the stop flag. The handler only sets a flag (async-signal-safe); the second signal
 * exits at once, for an operator who insists. */
#include "common/sig.h"

#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;    /* a stop was asked, by a signal or by the process */
static volatile sig_atomic_t signals_seen; /* stop signals received: the second one insists */

static void sig_on_stop(int signo)
{
    (void)signo;
    if (signals_seen++) {
        static const char msg[] = "{\"level\":\"warn\",\"msg\":\"second signal: exiting now\"}\n";
        ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)r;
        _exit(130);
    }
    stop_flag = 1;
}

void sig_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sig_on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int sig_stopping(void)
{
    return stop_flag != 0;
}

void sig_request_stop(void)
{
    stop_flag = 1;
}
