/* server.c: rsvp-replay's HTTP/1.1 streaming server. One thread multiplexes the listener and every
 * client with ppoll(2) (ns timeouts, for smooth pacing). A connection reads one request, then its
 * body is produced on demand: whenever its output buffer runs low, the due messages of its own
 * position in the timeline are rendered into a shared scratch buffer and framed as chunks. */
#include "tools/replay/server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/version.h"

#define REQ_MAX 8192
/* Refill a connection when fewer bytes than this wait in its buffer; render at most FILL_BUDGET
 * bytes per refill so one fast client cannot starve the others within a loop turn. */
#define OUT_LOW     (64 * 1024)
#define FILL_BUDGET (256 * 1024)

enum conn_state { C_REQ, C_STREAM, C_RESPOND };

enum fault_kind { F_CLOSE, F_STALL, F_TRUNCATED, F_BAD_UTF8, F_HUGE, F_NONJSON, F_STATUS, F_N };
static const char *const FAULT_NAMES[F_N] = {"close", "stall",   "truncated", "bad_utf8",
                                             "huge",  "nonjson", "status"};

typedef struct conn {
    int fd;
    enum conn_state state;
    int chunked; /* HTTP/1.1: chunked framing; HTTP/1.0: raw body until close */
    int closing; /* close once out is drained */
    char req[REQ_MAX];
    size_t req_len;
    buf out; /* bytes to send: out.data[out_off .. out.len) */
    size_t out_off;
    int64_t next_i;      /* next timeline index */
    int64_t since;       /* ?since_mtime= of the request; INT64_MIN: none */
    int64_t sent;        /* timeline messages queued on this connection */
    int64_t stall_until; /* mono ns; 0 = not stalled */
    z_stream *z;         /* gzip state when the client accepts it, else NULL */
} conn;

struct server {
    server_cfg cfg;
    int lfd;
    int port;
    conn **conns;
    size_t nconns, cap;
    struct pollfd *pfds;
    buf payload; /* scratch: rendered lines before framing */
    buf tmp;     /* scratch: copy of a line for the truncated fault */
    buf zout;    /* scratch: payload after gzip */
    char *huge;  /* the huge fault line, huge_bytes + '\n' */
    int stalled_once;
    int64_t status_left;
    mcounter *m_conns, *m_msgs, *m_bytes, *m_faults[F_N];
    mgauge *m_active;
};

static int64_t pending(const conn *c)
{
    return (int64_t)(c->out.len - c->out_off);
}

static int set_listen(server *s, const char *addr)
{
    char host[256], port[16];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host || strlen(colon + 1) >= sizeof port || !colon[1])
        return ERR_INVALID;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    strcpy(port, colon + 1);
    char *h = host;
    if (h[0] == '[') { /* [::1]:8080 */
        h++;
        char *rb = strchr(h, ']');
        if (!rb)
            return ERR_INVALID;
        *rb = '\0';
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(h[0] && strcmp(h, "*") != 0 ? h : NULL, port, &hints, &res) != 0 || !res)
        return ERR_INVALID;
    int rc = ERR_IO;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            getsockname(fd, (struct sockaddr *)&ss, &sl);
            s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                               : ntohs(((struct sockaddr_in *)&ss)->sin_port);
            s->lfd = fd;
            rc = 0;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

int server_new(server **out, const server_cfg *cfg)
{
    server *s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    s->cfg = *cfg;
    s->lfd = -1;
    if (s->cfg.chunk_bytes < 1)
        s->cfg.chunk_bytes = 16384;
    if (s->cfg.max_clients < 1)
        s->cfg.max_clients = 256;
    s->status_left = cfg->faults.status_code ? cfg->faults.status_count : 0;
    int rc = set_listen(s, cfg->listen);
    if (rc != 0) {
        server_free(s);
        return rc;
    }
    s->m_conns = metrics_counter("rsvp_replay_connections_total", NULL, "Stream connections accepted.");
    s->m_active = metrics_gauge("rsvp_replay_active_connections", NULL, "Client connections currently open.");
    s->m_msgs = metrics_counter("rsvp_replay_messages_sent_total", NULL,
                                "Timeline messages queued to clients (injected lines excluded).");
    s->m_bytes = metrics_counter("rsvp_replay_bytes_sent_total", NULL,
                                 "Bytes written to client sockets, headers and framing included.");
    int ok = s->m_conns && s->m_active && s->m_msgs && s->m_bytes;
    for (int k = 0; k < F_N; k++) {
        char labels[64];
        snprintf(labels, sizeof labels, "kind=\"%s\"", FAULT_NAMES[k]);
        s->m_faults[k] =
            metrics_counter("rsvp_replay_faults_injected_total", labels, "Faults injected, by kind.");
        ok = ok && s->m_faults[k];
    }
    if (cfg->faults.huge_every > 0) {
        int64_t n = cfg->faults.huge_bytes > 32 ? cfg->faults.huge_bytes : 32;
        s->huge = malloc((size_t)n + 1);
        if (s->huge) {
            /* looks like the start of an RSVP, then one endless string value */
            static const char head[] = "{\"venue\":{\"venue_name\":\"";
            memset(s->huge, 'x', (size_t)n);
            memcpy(s->huge, head, sizeof head - 1);
            s->huge[n] = '\n';
            s->cfg.faults.huge_bytes = n;
        }
        ok = ok && s->huge;
    }
    if (!ok) {
        server_free(s);
        return ERR_NOMEM;
    }
    *out = s;
    return 0;
}

int server_port(const server *s)
{
    return s->port;
}

static void conn_close(server *s, conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
        mgauge_add(s->m_active, -1);
    }
}

static void conn_free(conn *c)
{
    if (c->z) {
        deflateEnd(c->z);
        free(c->z);
    }
    buf_free(&c->out);
    free(c);
}

void server_free(server *s)
{
    if (!s)
        return;
    for (size_t k = 0; k < s->nconns; k++) {
        conn_close(s, s->conns[k]);
        conn_free(s->conns[k]);
    }
    free(s->conns);
    free(s->pfds);
    if (s->lfd >= 0)
        close(s->lfd);
    buf_free(&s->payload);
    buf_free(&s->tmp);
    buf_free(&s->zout);
    free(s->huge);
    free(s);
}

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

/* Queue a complete small response and close after it. */
static void respond(conn *c, int code, const char *extra_headers, const char *body)
{
    buf_reset(&c->out);
    c->out_off = 0;
    (void)buf_printf(&c->out,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n%s",
                     code, reason(code), strlen(body), extra_headers ? extra_headers : "", body);
    c->state = C_RESPOND;
    c->closing = 1;
}

/* since_mtime=<int64> from a query string; 0 absent, 1 found, -1 malformed. */
static int query_since(const char *q, size_t qlen, int64_t *since)
{
    size_t k = 0;
    while (k < qlen) {
        size_t e = k;
        while (e < qlen && q[e] != '&')
            e++;
        if (e - k > 12 && memcmp(q + k, "since_mtime=", 12) == 0) {
            char num[32];
            size_t n = e - k - 12;
            if (n == 0 || n >= sizeof num)
                return -1;
            memcpy(num, q + k + 12, n);
            num[n] = '\0';
            char *end;
            errno = 0;
            long long v = strtoll(num, &end, 10);
            if (*end || errno)
                return -1;
            *since = v;
            return 1;
        }
        k = e + 1;
    }
    return 0;
}

/* Whether the request headers (NUL-terminated) accept gzip: an Accept-Encoding header naming gzip
 * (or *) without q=0. Good enough for curl, libcurl and browsers. */
static int accepts_gzip(const char *req)
{
    for (const char *h = strchr(req, '\n'); h; h = strchr(h, '\n')) {
        h++;
        if (strncasecmp(h, "accept-encoding:", 16) != 0)
            continue;
        const char *val = h + 16, *end = strchr(val, '\n');
        size_t n = end ? (size_t)(end - val) : strlen(val);
        char v[512], *save = NULL;
        if (n >= sizeof v)
            n = sizeof v - 1;
        memcpy(v, val, n);
        v[n] = '\0';
        for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ' || *tok == '\t')
                tok++;
            if (strncasecmp(tok, "gzip", 4) != 0 && *tok != '*')
                continue;
            const char *q = strstr(tok, "q=");
            if (!q || strtod(q + 2, NULL) > 0)
                return 1;
        }
    }
    return 0;
}

static void on_request(server *s, conn *c, int64_t now)
{
    char *eol = memchr(c->req, '\n', c->req_len);
    size_t llen = eol ? (size_t)(eol - c->req) : 0;
    if (llen && c->req[llen - 1] == '\r')
        llen--;
    char *sp1 = memchr(c->req, ' ', llen);
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', llen - (size_t)(sp1 + 1 - c->req)) : NULL;
    if (!sp1 || !sp2) {
        respond(c, 400, NULL, "bad request\n");
        return;
    }
    if (sp1 - c->req != 3 || memcmp(c->req, "GET", 3) != 0) {
        respond(c, 405, "Allow: GET\r\n", "method not allowed\n");
        return;
    }
    const char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - target);
    const char *version = sp2 + 1;
    c->chunked = !(c->req + llen - version == 8 && memcmp(version, "HTTP/1.0", 8) == 0);
    if (tlen > 7 && memcmp(target, "http://", 7) == 0) { /* absolute-form: drop scheme and host */
        const char *slash = memchr(target + 7, '/', tlen - 7);
        size_t cut = slash ? (size_t)(slash - target) : tlen;
        target += cut;
        tlen -= cut;
    }
    const char *qm = memchr(target, '?', tlen);
    size_t plen = qm ? (size_t)(qm - target) : tlen;
    if (plen != 8 || memcmp(target, "/2/rsvps", 8) != 0) {
        respond(c, 404, NULL, "not found\n");
        return;
    }
    int64_t since = 0;
    int has_since = qm ? query_since(qm + 1, tlen - plen - 1, &since) : 0;
    if (has_since < 0) {
        respond(c, 400, NULL, "since_mtime must be an integer (ms since the epoch)\n");
        return;
    }
    if (s->status_left > 0) {
        s->status_left--;
        mcounter_add(s->m_faults[F_STATUS], 1);
        respond(c, (int)s->cfg.faults.status_code, "Retry-After: 1\r\n", "injected fault\n");
        return;
    }
    const timeline *tl = s->cfg.tl;
    int64_t count = timeline_count(tl);
    c->since = has_since ? since : INT64_MIN;
    if (has_since)
        c->next_i = timeline_find(tl, since);
    else if (s->cfg.rate > 0) /* a live stream starts now */
        c->next_i = timeline_live_index(s->cfg.rate, now - s->cfg.start_mono_ns);
    else
        c->next_i = 0;
    if (c->next_i > count)
        c->next_i = count;
    if (s->cfg.gzip_level > 0 && accepts_gzip(c->req)) {
        c->z = calloc(1, sizeof *c->z);
        /* windowBits 15 + 16: a gzip wrapper; memLevel 8 is zlib's default */
        if (c->z &&
            deflateInit2(c->z, s->cfg.gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(c->z);
            c->z = NULL;
        }
    }
    buf_reset(&c->out);
    c->out_off = 0;
    (void)buf_printf(&c->out,
                     "%s 200 OK\r\nContent-Type: application/json\r\n%s%s"
                     "Cache-Control: no-cache\r\nServer: rsvp-replay/" RSVP_VERSION "\r\n\r\n",
                     c->chunked ? "HTTP/1.1" : "HTTP/1.0",
                     c->chunked ? "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
                                : "Connection: close\r\n",
                     c->z ? "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n" : "");
    c->state = C_STREAM;
}

/* Append the extra lines the fault knobs ask for after the sent-th message, whose text starts at
 * payload offset line_start. */
static void inject(server *s, conn *c, size_t line_start)
{
    const server_faults *f = &s->cfg.faults;
    buf *p = &s->payload;
    if (f->truncated_every > 0 && c->sent % f->truncated_every == 0) {
        size_t n = (p->len - line_start - 1) / 2; /* half of the line, without its newline */
        buf_reset(&s->tmp);
        if (buf_append(&s->tmp, p->data + line_start, n) == 0 && buf_append(p, s->tmp.data, n) == 0 &&
            buf_putc(p, '\n') == 0)
            mcounter_add(s->m_faults[F_TRUNCATED], 1);
    }
    if (f->bad_utf8_every > 0 && c->sent % f->bad_utf8_every == 0) {
        static const char bad[] = "{\"bad_utf8\":\"\xc3\x28 caf\xe9 \xff\xfe \xed\xa0\x80\"}\n";
        if (buf_append(p, bad, sizeof bad - 1) == 0)
            mcounter_add(s->m_faults[F_BAD_UTF8], 1);
    }
    if (f->huge_every > 0 && c->sent % f->huge_every == 0) {
        if (buf_append(p, s->huge, (size_t)f->huge_bytes + 1) == 0)
            mcounter_add(s->m_faults[F_HUGE], 1);
    }
    if (f->nonjson_every > 0 && c->sent % f->nonjson_every == 0) {
        if (buf_puts(p, "this is not json\n") == 0)
            mcounter_add(s->m_faults[F_NONJSON], 1);
    }
}

/* Compress in[0..n) into s->zout with a sync flush, so that the client can decode everything sent
 * so far (a paced stream must not sit in zlib's window). */
static int gzip_payload(server *s, conn *c, const char *in, size_t n)
{
    z_stream *z = c->z;
    buf *out = &s->zout;
    buf_reset(out);
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)n;
    do {
        if (buf_reserve(out, n / 2 + 4096) != 0)
            return ERR_NOMEM;
        size_t room = out->cap - out->len - 1;
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = (uInt)room;
        int zr = deflate(z, Z_SYNC_FLUSH);
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return ERR_INVALID;
        out->len += room - z->avail_out;
    } while (z->avail_out == 0 || z->avail_in > 0);
    return 0;
}

/* Frame s->payload (gzipped for a gzip client) into c->out: chunks of at most chunk_bytes (lines
 * may straddle chunks). */
static int frame(server *s, conn *c)
{
    const buf *p = &s->payload;
    if (c->z) {
        int rc = gzip_payload(s, c, s->payload.data, s->payload.len);
        if (rc != 0)
            return rc;
        p = &s->zout;
    }
    if (c->out_off > 0) { /* compact: the unsent tail moves to the front */
        memmove(c->out.data, c->out.data + c->out_off, c->out.len - c->out_off);
        c->out.len -= c->out_off;
        c->out_off = 0;
    }
    if (!c->chunked)
        return buf_append(&c->out, p->data, p->len);
    size_t pieces = p->len / (size_t)s->cfg.chunk_bytes + 1;
    int rc = buf_reserve(&c->out, p->len + pieces * 24);
    for (size_t off = 0; rc == 0 && off < p->len;) {
        size_t n = p->len - off;
        if (n > (size_t)s->cfg.chunk_bytes)
            n = (size_t)s->cfg.chunk_bytes;
        rc = buf_printf(&c->out, "%zx\r\n", n);
        rc = rc ? rc : buf_append(&c->out, p->data + off, n);
        rc = rc ? rc : buf_append(&c->out, "\r\n", 2);
        off += n;
    }
    return rc;
}

/* Render what connection c may send now. Returns 0 or ERR_NOMEM (caller closes). */
static int fill(server *s, conn *c, int64_t now)
{
    if (c->state != C_STREAM || c->closing || pending(c) >= OUT_LOW)
        return 0;
    if (c->stall_until) {
        if (now < c->stall_until)
            return 0;
        c->stall_until = 0;
    }
    const server_faults *f = &s->cfg.faults;
    const timeline *tl = s->cfg.tl;
    int64_t count = timeline_count(tl), before = c->sent;
    int rc = 0;
    buf_reset(&s->payload);
    while (s->payload.len < FILL_BUDGET) {
        if (f->close_after > 0 && c->sent >= f->close_after) {
            c->closing = 1;
            mcounter_add(s->m_faults[F_CLOSE], 1);
            break;
        }
        if (f->stall_after > 0 && !s->stalled_once && c->sent >= f->stall_after) {
            s->stalled_once = 1;
            c->stall_until = now + f->stall_ms * 1000000;
            mcounter_add(s->m_faults[F_STALL], 1);
            log_info("stall injected", "fd=%d after=%lld ms=%lld", c->fd, (long long)c->sent,
                     (long long)f->stall_ms);
            break;
        }
        c->next_i = timeline_next(tl, c->next_i, c->since); /* an unsorted file: skip those below since */
        if (c->next_i >= count)
            break;
        if (s->cfg.rate > 0 && timeline_due_ns(s->cfg.rate, c->next_i) > now - s->cfg.start_mono_ns)
            break;
        size_t line_start = s->payload.len;
        rc = timeline_render(tl, c->next_i, &s->payload);
        if (rc != 0)
            break;
        c->next_i++;
        c->sent++;
        inject(s, c, line_start);
    }
    if (c->sent > before)
        mcounter_add(s->m_msgs, (uint64_t)(c->sent - before));
    if (rc == 0 && s->payload.len)
        rc = frame(s, c);
    return rc;
}

/* Write what c has pending. Returns 1 if c must be closed now (error, or done and closing). */
static int flush(server *s, conn *c)
{
    uint64_t total = 0;
    while (pending(c) > 0) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, (size_t)pending(c), MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            total += (uint64_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            mcounter_add(s->m_bytes, total);
            return 1;
        }
    }
    mcounter_add(s->m_bytes, total);
    if (pending(c) == 0) {
        buf_reset(&c->out);
        c->out_off = 0;
        if (c->closing)
            return 1;
    }
    return 0;
}

static void accept_all(server *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error (EMFILE...): try again next turn */
        if ((int64_t)s->nconns >= s->cfg.max_clients) {
            close(fd);
            continue;
        }
        if (s->nconns == s->cap) {
            size_t ncap = s->cap ? s->cap * 2 : 16;
            conn **q = realloc(s->conns, ncap * sizeof *q);
            struct pollfd *pq = q ? realloc(s->pfds, (ncap + 1) * sizeof *pq) : NULL;
            if (q)
                s->conns = q;
            if (!pq) {
                close(fd);
                return;
            }
            s->pfds = pq;
            s->cap = ncap;
        }
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->state = C_REQ;
        s->conns[s->nconns++] = c;
        mcounter_add(s->m_conns, 1);
        mgauge_add(s->m_active, 1);
    }
}

/* Read from c: the request while in C_REQ, and discard anything later. 1 = close c. */
static int on_readable(server *s, conn *c, int64_t now)
{
    char sink[4096];
    for (;;) {
        char *dst = sink;
        size_t room = sizeof sink;
        if (c->state == C_REQ) {
            dst = c->req + c->req_len;
            room = REQ_MAX - 1 - c->req_len;
            if (room == 0) {
                respond(c, 431, NULL, "request too large\n");
                return 0;
            }
        }
        ssize_t n = recv(c->fd, dst, room, 0);
        if (n == 0)
            return 1;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : 1;
        if (c->state == C_REQ) {
            c->req_len += (size_t)n;
            c->req[c->req_len] = '\0';
            if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
                on_request(s, c, now);
        }
    }
}

/* Poll timeout: the earliest moment a paced or stalled connection has something to send. */
static int64_t next_wake_ns(server *s, int64_t now)
{
    int64_t wait = 100 * 1000000LL;
    int64_t count = timeline_count(s->cfg.tl);
    for (size_t k = 0; k < s->nconns; k++) {
        conn *c = s->conns[k];
        if (c->state != C_STREAM || c->closing || pending(c) > 0)
            continue;
        const server_faults *f = &s->cfg.faults;
        int64_t w;
        if (c->stall_until)
            w = c->stall_until - now;
        else if ((f->close_after > 0 && c->sent >= f->close_after) ||
                 (f->stall_after > 0 && !s->stalled_once && c->sent >= f->stall_after))
            w = 0; /* a fault is due before the next message */
        else if (c->next_i >= count)
            continue; /* idle at the end of the timeline */
        else if (s->cfg.rate > 0)
            w = s->cfg.start_mono_ns + timeline_due_ns(s->cfg.rate, c->next_i) - now;
        else
            w = 0; /* unpaced and the socket took everything: produce more at once */
        if (w < wait)
            wait = w < 0 ? 0 : w;
    }
    return wait;
}

int server_run(server *s, int (*stop)(void))
{
    while (!stop()) {
        int64_t now = clock_mono_ns();
        for (size_t k = 0; k < s->nconns; k++) {
            conn *c = s->conns[k];
            if (c->fd >= 0 && (fill(s, c, now) != 0 || flush(s, c)))
                conn_close(s, c);
        }
        /* drop closed connections, keeping order */
        size_t live = 0;
        for (size_t k = 0; k < s->nconns; k++) {
            if (s->conns[k]->fd >= 0)
                s->conns[live++] = s->conns[k];
            else
                conn_free(s->conns[k]);
        }
        s->nconns = live;

        int64_t wait = next_wake_ns(s, now);
        struct pollfd lp = {.fd = s->lfd, .events = POLLIN};
        struct pollfd *pf = s->pfds ? s->pfds : &lp;
        pf[0] = lp;
        for (size_t k = 0; k < s->nconns; k++) {
            conn *c = s->conns[k];
            pf[k + 1].fd = c->fd;
            pf[k + 1].events = (short)(POLLIN | (pending(c) > 0 ? POLLOUT : 0));
            pf[k + 1].revents = 0;
        }
        struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
        int n = ppoll(pf, s->nconns + 1, &ts, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll failed", "error=%s", strerror(errno));
            return ERR_IO;
        }
        now = clock_mono_ns();
        size_t polled = s->nconns;
        for (size_t k = 0; k < polled; k++) {
            conn *c = s->conns[k];
            short re = pf[k + 1].revents;
            if ((re & POLLIN) && on_readable(s, c, now))
                conn_close(s, c);
            else if ((re & (POLLERR | POLLNVAL)) || ((re & POLLHUP) && !(re & POLLIN)))
                conn_close(s, c);
        }
        if (pf[0].revents & POLLIN)
            accept_all(s);
    }
    /* shutdown: end clean streams with the last chunk, then close everyone */
    for (size_t k = 0; k < s->nconns; k++) {
        conn *c = s->conns[k];
        if (c->fd >= 0 && c->state == C_STREAM && c->chunked && pending(c) == 0)
            (void)!send(c->fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
        conn_close(s, c);
    }
    return 0;
}
