/* cli.h: the client commands of rsvpctl (status, scale, stop), talking to a running `rsvpctl up`
 * over the control socket, and their pure rendering helpers. */
#ifndef TOOLS_RSVPCTL_CLI_H
#define TOOLS_RSVPCTL_CLI_H

#include <stddef.h>

#include "common/buf.h"
#include "tools/rsvpctl/control.h"

#define CLI_DEFAULT_CONTROL_URL "ipc:///tmp/rsvpctl.sock"

/* cli_status / cli_scale / cli_stop: `rsvpctl <cmd> ...` with argv[0] the command name. Return
 * the process exit code: 0 ok, 1 supervisor unreachable or request failed, 2 bad usage. */
int cli_status(int argc, char **argv);
int cli_scale(int argc, char **argv);
int cli_stop(int argc, char **argv);

/* cli_render_status: the status of n processes into out, as an aligned table or (json) one JSON
 * object {"processes":[...]}. ready[i]: 1 ready, 0 not ready, -1 unknown (not running). 0 or
 * ERR_NOMEM. */
int cli_render_status(buf *out, const control_proc *procs, const int *ready, size_t n, int json);

/* cli_format_uptime: "45s", "12m03s", "3h04m", "2d03h" into out. */
void cli_format_uptime(long long ms, char *out, size_t cap);

/* cli_http_get: GET url with a timeout; returns the HTTP status (0 when no answer) and, when body
 * is non-NULL, appends the body to it. */
int cli_http_get(const char *url, long timeout_ms, buf *body);

#endif
