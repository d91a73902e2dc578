/* control.h: rsvpctl's control socket, nng REQ/REP on CONTROL_URL (ipc:///tmp/rsvpctl.sock).
 * The protocol is text, one request per message:
 *   "status"                     reply "ok\n" then one line per process (control_format_proc)
 *   "scale parser=3,writer=1"    reply "ok\n" once replicas are being started/stopped
 *   "stop"                       reply "ok\n"; the supervisor then stops gracefully
 * A failed request gets "error: <why>\n". A process line is tab-separated:
 *   name service replica pid state restarts uptime_ms metrics_addr last_exit
 * with state running|restarting|stopping|stopped, pid 0 when none, last_exit "-" or e.g.
 * "exit 1" / "signal 9". */
#ifndef TOOLS_RSVPCTL_CONTROL_H
#define TOOLS_RSVPCTL_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct control_proc {
    char name[32];    /* "parser-1" */
    char service[16]; /* "parser" */
    int replica;
    int pid; /* 0 when not running */
    char state[16];
    int restarts;
    int64_t uptime_ms;     /* 0 when not running */
    char metrics_addr[64]; /* host:port of /metrics, /readyz */
    char last_exit[32];
} control_proc;

/* control_format_proc: append p as one protocol line (with '\n'). 0 or ERR_NOMEM. */
int control_format_proc(buf *out, const control_proc *p);
/* control_parse_status: parse a whole "status" reply. On success *procs is a malloc'ed array of *n
 * entries (free()), returns 0. An "error: ..." reply or a malformed line returns ERR_INVALID with
 * the reason in err. */
int control_parse_status(const char *text, size_t len, control_proc **procs, size_t *n, char *err,
                         size_t errlen);

typedef struct control_server control_server;

/* control_server_open: listen on url. On success *out owns the socket. ERR_IO when the address is
 * in use (another rsvpctl) or invalid, with nng's message in err. */
int control_server_open(control_server **out, const char *url, char *err, size_t errlen);
/* control_server_fd: a descriptor that poll() reports readable when a request is waiting. */
int control_server_fd(const control_server *s);
/* control_server_recv: without blocking, the next request as a malloc'ed NUL-terminated string in
 * *req (free()), or ERR_RETRY when none is waiting. Each request must be answered with
 * control_server_reply before the next recv. */
int control_server_recv(control_server *s, char **req);
/* control_server_reply: send the answer to the last request. 0 or ERR_IO. */
int control_server_reply(control_server *s, const char *data, size_t len);
/* control_server_free: close and free. NULL-safe. */
void control_server_free(control_server *s);

/* control_request: one request to the supervisor at url; the reply text (NUL-terminated) is
 * appended to reply. Returns 0, ERR_NOTFOUND when nobody listens at url, ERR_TIMEOUT when no
 * reply came within timeout_ms, ERR_IO otherwise (nng's message in err). */
int control_request(const char *url, const char *req, int timeout_ms, buf *reply, char *err, size_t errlen);

#endif
