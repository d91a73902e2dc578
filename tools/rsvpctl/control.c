/* control.c: the control socket of rsvpctl (see control.h): the text protocol's encoding, a
 * non-blocking REP server that the supervisor's poll() loop drives, and the REQ client used by
 * `rsvpctl status|scale|stop|top`. */
#include "tools/rsvpctl/control.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* field text must not contain the separators */
static void clean(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < cap; i++)
        dst[i] = (src[i] == '\t' || src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    dst[i] = '\0';
}

int control_format_proc(buf *out, const control_proc *p)
{
    char name[32], svc[16], state[16], addr[64], last[32];
    clean(name, sizeof name, p->name);
    clean(svc, sizeof svc, p->service);
    clean(state, sizeof state, p->state);
    clean(addr, sizeof addr, p->metrics_addr[0] ? p->metrics_addr : "-");
    clean(last, sizeof last, p->last_exit[0] ? p->last_exit : "-");
    return buf_printf(out, "%s\t%s\t%d\t%d\t%s\t%d\t%lld\t%s\t%s\n", name, svc, p->replica, p->pid, state,
                      p->restarts, (long long)p->uptime_ms, addr, last);
}

/* copy_field: the next tab-separated field of [*p, end) into dst; 0 or -1 when missing. */
static int copy_field(const char **p, const char *end, char *dst, size_t cap)
{
    const char *s = *p;
    if (s > end)
        return -1;
    const char *t = memchr(s, '\t', (size_t)(end - s));
    const char *fe = t ? t : end;
    size_t n = (size_t)(fe - s);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    *p = t ? t + 1 : end + 1;
    return 0;
}

static int parse_line(const char *s, const char *end, control_proc *p)
{
    char num[4][24];
    memset(p, 0, sizeof *p);
    if (copy_field(&s, end, p->name, sizeof p->name) || copy_field(&s, end, p->service, sizeof p->service) ||
        copy_field(&s, end, num[0], sizeof num[0]) || copy_field(&s, end, num[1], sizeof num[1]) ||
        copy_field(&s, end, p->state, sizeof p->state) || copy_field(&s, end, num[2], sizeof num[2]) ||
        copy_field(&s, end, num[3], sizeof num[3]) ||
        copy_field(&s, end, p->metrics_addr, sizeof p->metrics_addr) ||
        copy_field(&s, end, p->last_exit, sizeof p->last_exit))
        return -1;
    char *ep;
    p->replica = (int)strtol(num[0], &ep, 10);
    if (*ep || !num[0][0])
        return -1;
    p->pid = (int)strtol(num[1], &ep, 10);
    if (*ep || !num[1][0])
        return -1;
    p->restarts = (int)strtol(num[2], &ep, 10);
    if (*ep || !num[2][0])
        return -1;
    p->uptime_ms = strtoll(num[3], &ep, 10);
    if (*ep || !num[3][0])
        return -1;
    if (strcmp(p->metrics_addr, "-") == 0)
        p->metrics_addr[0] = '\0';
    return 0;
}

int control_parse_status(const char *text, size_t len, control_proc **procs, size_t *n, char *err,
                         size_t errlen)
{
    const char *p = text, *end = text + len;
    const char *eol = memchr(p, '\n', len);
    size_t first = eol ? (size_t)(eol - p) : len;

    if (first != 2 || memcmp(p, "ok", 2) != 0) {
        snprintf(err, errlen, "%.*s", (int)first, p);
        return ERR_INVALID;
    }
    size_t cap = 0, cnt = 0;
    control_proc *arr = NULL;
    for (p = eol ? eol + 1 : end; p < end;) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        if (!le)
            le = end;
        if (le > p) {
            if (cnt == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                control_proc *na = realloc(arr, ncap * sizeof *na);
                if (!na) {
                    free(arr);
                    return ERR_NOMEM;
                }
                arr = na;
                cap = ncap;
            }
            if (parse_line(p, le, &arr[cnt]) < 0) {
                snprintf(err, errlen, "malformed status line: %.*s", (int)(le - p), p);
                free(arr);
                return ERR_INVALID;
            }
            cnt++;
        }
        p = le + 1;
    }
    *procs = arr;
    *n = cnt;
    return 0;
}

struct control_server {
    nng_socket sock;
    int fd;
};

/* ipc_in_use: whether a live process accepts connections on the ipc:// address url. Asked with
 * a proper nng dial before nng_listen(): nng 1.5's own failed listen on a live path disturbs the
 * listener that owns it (its requests stop arriving), and so does a raw connect() that closes
 * before the SP handshake, so a second `rsvpctl up` must probe this way and never try to listen. */
static int ipc_in_use(const char *url)
{
    nng_socket probe;
    int live;

    if (strncmp(url, "ipc://", 6) != 0 || nng_req0_open(&probe) != 0)
        return 0;
    live = nng_dial(probe, url, NULL, 0) == 0;
    nng_close(probe);
    return live;
}

int control_server_open(control_server **out, const char *url, char *err, size_t errlen)
{
    control_server *s;
    int rv;

    if (ipc_in_use(url)) {
        snprintf(err, errlen, "listen %s: address in use by a running process", url);
        return ERR_IO;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    if ((rv = nng_rep0_open(&s->sock)) != 0) {
        snprintf(err, errlen, "nng_rep0_open: %s", nng_strerror(rv));
        free(s);
        return ERR_IO;
    }
    if ((rv = nng_listen(s->sock, url, NULL, 0)) != 0) {
        snprintf(err, errlen, "listen %s: %s", url, nng_strerror(rv));
        nng_close(s->sock);
        free(s);
        return ERR_IO;
    }
    if ((rv = nng_socket_get_int(s->sock, NNG_OPT_RECVFD, &s->fd)) != 0) {
        snprintf(err, errlen, "recv fd: %s", nng_strerror(rv));
        nng_close(s->sock);
        free(s);
        return ERR_IO;
    }
    *out = s;
    return 0;
}

int control_server_fd(const control_server *s)
{
    return s->fd;
}

int control_server_recv(control_server *s, char **req)
{
    nng_msg *m;
    int rv = nng_recvmsg(s->sock, &m, NNG_FLAG_NONBLOCK);
    if (rv == NNG_EAGAIN)
        return ERR_RETRY;
    if (rv != 0)
        return ERR_IO;
    size_t n = nng_msg_len(m);
    char *r = malloc(n + 1);
    if (!r) {
        nng_msg_free(m);
        return ERR_NOMEM;
    }
    memcpy(r, nng_msg_body(m), n);
    r[n] = '\0';
    nng_msg_free(m);
    *req = r;
    return 0;
}

int control_server_reply(control_server *s, const char *data, size_t len)
{
    return nng_send(s->sock, (void *)data, len, NNG_FLAG_NONBLOCK) == 0 ? 0 : ERR_IO;
}

void control_server_free(control_server *s)
{
    if (!s)
        return;
    nng_close(s->sock);
    free(s);
}

int control_request(const char *url, const char *req, int timeout_ms, buf *reply, char *err, size_t errlen)
{
    nng_socket sock;
    int rv, rc = 0;
    char *data = NULL;
    size_t n = 0;

    if ((rv = nng_req0_open(&sock)) != 0) {
        snprintf(err, errlen, "nng_req0_open: %s", nng_strerror(rv));
        return ERR_IO;
    }
    nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, timeout_ms);
    /* a blocking dial fails at once when nobody listens: that is "no supervisor" */
    if ((rv = nng_dial(sock, url, NULL, 0)) != 0) {
        snprintf(err, errlen, "no rsvpctl supervisor at %s (%s)", url, nng_strerror(rv));
        rc = rv == NNG_ECONNREFUSED || rv == NNG_ENOENT ? ERR_NOTFOUND : ERR_IO;
        goto out;
    }
    if ((rv = nng_send(sock, (void *)req, strlen(req), 0)) != 0 ||
        (rv = nng_recv(sock, &data, &n, NNG_FLAG_ALLOC)) != 0) {
        snprintf(err, errlen, "request to %s: %s", url, nng_strerror(rv));
        rc = rv == NNG_ETIMEDOUT ? ERR_TIMEOUT : rv == NNG_ECLOSED ? ERR_NOTFOUND : ERR_IO;
        goto out;
    }
    if (buf_append(reply, data, n) < 0)
        rc = ERR_NOMEM;
    nng_free(data, n);
out:
    nng_close(sock);
    return rc;
}
