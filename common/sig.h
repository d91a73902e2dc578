/* sig.h: graceful shutdown. SIGTERM/SIGINT set a flag the loops poll (they notice within 100 ms);
 * a second signal exits at once with status 130; SIGPIPE is ignored. */
#ifndef COMMON_SIG_H
#define COMMON_SIG_H

#include <signal.h>

/* sig_init: install the handlers; call once at start-up from main(). */
void sig_init(void);
/* sig_stopping: nonzero once a stop signal arrived (or sig_request_stop was called). Any thread. */
int sig_stopping(void);
/* sig_request_stop: ask the process to stop as if SIGTERM arrived (used by tests and fatal paths). */
void sig_request_stop(void);

#endif
