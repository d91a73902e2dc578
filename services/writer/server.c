/* server.c: nng REP socket + worker threads for rsvp-writer. Each worker loops: receive on its
 * context, answer through writer_handle(), send. While idle it keeps its database connection
 * alive (reconnect with backoff, periodic ping); server_stop() cancels a waiting receive. A pipe
 * callback closes connections over the limit before the socket uses them; nng's listener
 * statistics tell how many connections failed (TLS authentication, protocol, oversize). */
#include "services/writer/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"

/* Decode memory a worker keeps between requests, at most (a 10k-row batch needs a few MB; larger
 * ones decode into malloc'ed pieces for the overflow, freed after the request). */
#define ARENA_KEEP ((size_t)16 << 20)
/* While the database is down, a worker retries its connection this often (the store's backoff
 * decides whether a retry actually connects). */
#define RETRY_POLL_MS 100

typedef struct worker {
    server *srv;
    int id;
    nng_ctx ctx;
    nng_aio *aio;
    store *st;
    writer_arena *arena;
    writer_db db;
    pthread_t thread;
    int started;
    _Atomic int db_ready;
    /* A receive is started and cancelled only under mu, so that server_stop() either sees the
     * receive pending or the worker sees the stop flag before starting one. */
    pthread_mutex_t mu;
    int mu_init;
    int in_recv;
} worker;

/* One admitted connection: its nng pipe id (0: a free slot) and when it last carried a request
 * (or was admitted). Nothing calls into nng while holding pipes_mu (nng calls on_pipe with its own
 * locks taken). */
typedef struct conn_slot {
    uint32_t id;
    int64_t active_ms;
} conn_slot;

/* When every slot is taken, a new connection takes the slot of the one idle longest, if that one
 * carried no request for this long: nng 1.5.2 can keep a TLS connection whose peer is gone
 * forever (seen after thousands of connection attempts), and such a zombie must not hold a slot
 * for good. An aggregator whose idle connection is closed reconnects when it next sends. */
#define EVICT_IDLE_MS 10000

/* nng's listener statistics that count failed connections, exported by server_poll_transport().
 * (nng's "other" is left out: ordinary disconnects land there, with messages over the receive
 * limit.) */
static const char *const TRANSPORT_KINDS[] = {"auth", "proto", "timeout", "oom"};
#define NKINDS (sizeof TRANSPORT_KINDS / sizeof TRANSPORT_KINDS[0])

struct server {
    server_opts o;
    nng_socket sock;
    int sock_open;
    nng_listener listener;
    int listener_open;
    worker *w;
    int nworkers;
    _Atomic int stop;
    int stopped;
    pthread_mutex_t pipes_mu;         /* guards slots and conns */
    conn_slot *slots;                 /* the admitted connections now open */
    int conns;                        /* how many of them */
    _Atomic int64_t refuse_logged_ms; /* rate limit of the "connection refused" log line */
    _Atomic uint64_t refuse_unlogged;
    mgauge *m_conns;
    mcounter *m_refused, *m_evicted;
    mcounter *m_transport[NKINDS];
    uint64_t transport_seen[NKINDS]; /* nng's totals at the last poll */
    /* The listener watchdog (server_poll_transport): nng 1.5.2's TLS listener can stop taking
     * connections for good after a flood of them; a TCP connection of our own made while its
     * counters stand still must move one (a healthy listener counts it as an error). */
    uint64_t activity;       /* sum of the listener's counters at the last poll */
    int64_t still_since_ms;  /* since when they have not moved */
    int64_t probe_ms;        /* when our probe connection was made, 0: none pending */
    uint64_t probe_activity; /* the sum then */
    mcounter *m_restarts;
};

size_t server_recv_max(size_t max_request_bytes)
{
    size_t band = max_request_bytes < ((size_t)1 << 20) ? max_request_bytes : (size_t)1 << 20;
    return max_request_bytes + band;
}

uint64_t server_worst_memory(const server_opts *o)
{
    uint64_t msgs = (uint64_t)o->max_connections + (uint64_t)o->workers;
    return msgs * server_recv_max(o->limits.max_request_bytes) + (uint64_t)o->workers * o->max_decode_bytes;
}

/* addr_str: a connection's remote address for logs. */
static void addr_str(nng_pipe p, char *out, size_t cap)
{
    nng_sockaddr sa;
    char ip[INET6_ADDRSTRLEN] = "?";
    snprintf(out, cap, "unknown");
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET) {
        inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, ntohs(sa.s_in.sa_port));
    } else if (sa.s_family == NNG_AF_INET6) {
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
    } else if (sa.s_family == NNG_AF_IPC) {
        snprintf(out, cap, "ipc");
    }
}

/* admit: a slot for pipe id, the free one or the one idle longest if idle EVICT_IDLE_MS or more
 * (*evict is then the connection to close). -1 when none. Under pipes_mu. */
static int admit(server *s, uint32_t id, uint32_t *evict)
{
    int64_t now = clock_mono_ms();
    int idlest = -1;
    *evict = 0;
    for (int i = 0; i < s->o.max_connections; i++) {
        if (s->slots[i].id == 0) {
            s->slots[i] = (conn_slot){id, now};
            s->conns++;
            return i;
        }
        if (idlest < 0 || s->slots[i].active_ms < s->slots[idlest].active_ms)
            idlest = i;
    }
    if (idlest < 0 || now - s->slots[idlest].active_ms < EVICT_IDLE_MS)
        return -1;
    *evict = s->slots[idlest].id;
    s->slots[idlest] = (conn_slot){id, now};
    return idlest;
}

/* refused_log: one "connection refused" line a second at most, with how many were not logged. */
static void refused_log(server *s, nng_pipe p, const char *reason)
{
    int64_t now = clock_mono_ms(), last = atomic_load(&s->refuse_logged_ms);
    if (now - last < 1000 || !atomic_compare_exchange_strong(&s->refuse_logged_ms, &last, now)) {
        atomic_fetch_add(&s->refuse_unlogged, 1);
        return;
    }
    char peer[96];
    addr_str(p, peer, sizeof peer);
    log_warn("connection refused", "reason=%s peer=%s max_connections=%d suppressed=%" PRIu64, reason, peer,
             s->o.max_connections, atomic_exchange(&s->refuse_unlogged, 0));
}

/* on_pipe: admit a new connection while fewer than max_connections are open (or one of them has
 * been idle long: it is closed), else close it before the socket ever reads from it. nng 1.5.2
 * reports the removal of a connection closed that way too, so the admitted ones are remembered
 * by id; one whose removal never comes is idle, and evicted when its slot is needed. Runs on
 * nng's threads. */
static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    server *s = arg;
    uint32_t id = (uint32_t)nng_pipe_id(p), evict = 0;
    int slot = -1;
    if (ev != NNG_PIPE_EV_ADD_PRE && ev != NNG_PIPE_EV_REM_POST)
        return;
    pthread_mutex_lock(&s->pipes_mu);
    if (ev == NNG_PIPE_EV_REM_POST) {
        for (int i = 0; i < s->o.max_connections; i++)
            if (s->slots[i].id == id) {
                s->slots[i].id = 0;
                s->conns--;
            }
    } else {
        slot = admit(s, id, &evict);
    }
    mgauge_set(s->m_conns, s->conns);
    pthread_mutex_unlock(&s->pipes_mu);
    if (ev == NNG_PIPE_EV_REM_POST)
        return;
    if (evict != 0) { /* outside the lock: closing may report the removal at once */
        nng_pipe old = NNG_PIPE_INITIALIZER;
        old.id = evict;
        nng_pipe_close(old);
        mcounter_add(s->m_evicted, 1);
        refused_log(s, old, "idle_evicted");
    }
    if (slot >= 0)
        return;
    nng_pipe_close(p);
    mcounter_add(s->m_refused, 1);
    refused_log(s, p, "limit");
}

/* touch_pipe: the connection p just carried a request. */
static void touch_pipe(server *s, nng_pipe p)
{
    uint32_t id = (uint32_t)nng_pipe_id(p);
    pthread_mutex_lock(&s->pipes_mu);
    for (int i = 0; i < s->o.max_connections; i++)
        if (s->slots[i].id == id)
            s->slots[i].active_ms = clock_mono_ms();
    pthread_mutex_unlock(&s->pipes_mu);
}

static int server_metrics(server *s)
{
    s->m_conns = metrics_gauge("rsvp_writer_connections", NULL, "Open connections on the request socket");
    s->m_refused = metrics_counter("rsvp_writer_connections_refused_total", "reason=\"limit\"",
                                   "Connections closed at once because MAX_CONNECTIONS were open");
    s->m_evicted = metrics_counter("rsvp_writer_connections_evicted_total", NULL,
                                   "Connections idle 10 s or more closed to admit a new one when "
                                   "MAX_CONNECTIONS were open");
    s->m_restarts = metrics_counter("rsvp_writer_listener_restarts_total", NULL,
                                    "Listeners recreated because they stopped taking connections");
    if (!s->m_conns || !s->m_refused || !s->m_evicted || !s->m_restarts)
        return ERR_NOMEM;
    for (size_t i = 0; i < NKINDS; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "kind=\"%s\"", TRANSPORT_KINDS[i]);
        s->m_transport[i] =
            metrics_counter("rsvp_writer_transport_errors_total", labels,
                            "Connections that failed: TLS authentication (auth: no certificate, or one "
                            "of another CA), not TLS or not the SP protocol (proto), handshake timeout, "
                            "out of memory");
        if (!s->m_transport[i])
            return ERR_NOMEM;
    }
    return 0;
}

static int listen_start(server *s, char *errbuf, size_t errlen);

/* probe: one TCP connection to our own listening address, closed at once. 0 or -1 (not a TCP
 * listener, or the connection failed). */
static int probe(server *s)
{
    nng_sockaddr sa;
    if (nng_listener_get_addr(s->listener, NNG_OPT_LOCADDR, &sa) != 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (sa.s_family == NNG_AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = sa.s_in.sa_port;
        in->sin_addr.s_addr = sa.s_in.sa_addr ? sa.s_in.sa_addr : htonl(INADDR_LOOPBACK);
        len = sizeof *in;
    } else if (sa.s_family == NNG_AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        static const uint8_t any[16];
        in6->sin6_family = AF_INET6;
        in6->sin6_port = sa.s_in6.sa_port;
        if (memcmp(sa.s_in6.sa_addr, any, 16) == 0)
            in6->sin6_addr = in6addr_loopback;
        else
            memcpy(&in6->sin6_addr, sa.s_in6.sa_addr, 16);
        len = sizeof *in6;
    } else {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int rc = connect(fd, (struct sockaddr *)&ss, len);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t elen = sizeof err;
        rc = poll(&pfd, 1, 500) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0
                 ? 0
                 : -1;
    }
    close(fd);
    return rc == 0 ? 0 : -1;
}

/* watchdog: with the listener's counters standing still for PROBE_AFTER_MS, probe it; if the
 * probe did not move them within PROBE_WAIT_MS, the listener takes no connections: recreate it. */
#define PROBE_AFTER_MS 5000
#define PROBE_WAIT_MS  3000
static void watchdog(server *s, uint64_t activity)
{
    int64_t now = clock_mono_ms();
    if (activity != s->activity) {
        s->activity = activity;
        s->still_since_ms = now;
        s->probe_ms = 0;
        return;
    }
    if (s->probe_ms == 0) {
        if (now - s->still_since_ms >= PROBE_AFTER_MS && probe(s) == 0)
            s->probe_ms = now;
        return;
    }
    if (now - s->probe_ms < PROBE_WAIT_MS)
        return;
    /* Counters still and our own connection not even counted: the listener is stuck. The open
     * connections are dropped with it (their clients reconnect). */
    log_error("listener stopped taking connections: recreating it", "listen=%s", s->o.listen);
    nng_listener_close(s->listener);
    s->listener_open = 0;
    char err[256] = "";
    if (listen_start(s, err, sizeof err) != 0) {
        log_error("cannot listen again", "listen=%s error=%s", s->o.listen, err);
        s->probe_ms = now; /* try again after PROBE_WAIT_MS */
        return;
    }
    mcounter_add(s->m_restarts, 1);
}

void server_poll_transport(server *s)
{
    nng_stat *all = NULL;
    if (!s->listener_open || nng_stats_get(&all) != 0)
        return;
    nng_stat *l = nng_stat_find_listener(all, s->listener);
    uint64_t activity = 0;
    for (nng_stat *c = l ? nng_stat_child(l) : NULL; c; c = nng_stat_next(c))
        if (nng_stat_type(c) == NNG_STAT_COUNTER)
            activity += nng_stat_value(c);
    if (l && log_enabled(LOGL_DEBUG)) {
        char dbg[512] = "";
        size_t n = 0;
        for (nng_stat *c = nng_stat_child(l); c && n < sizeof dbg; c = nng_stat_next(c))
            if (nng_stat_type(c) == NNG_STAT_COUNTER || nng_stat_type(c) == NNG_STAT_LEVEL)
                n += (size_t)snprintf(dbg + n, sizeof dbg - n, "%s=%llu ", nng_stat_name(c),
                                      (unsigned long long)nng_stat_value(c));
        log_debug("listener stats", "stats=%s", dbg);
    }
    char grew[256] = "";
    size_t at = 0;
    for (size_t i = 0; l && i < NKINDS; i++) {
        nng_stat *st = nng_stat_find(l, TRANSPORT_KINDS[i]);
        uint64_t v = st ? nng_stat_value(st) : 0;
        if (v <= s->transport_seen[i])
            continue;
        mcounter_add(s->m_transport[i], v - s->transport_seen[i]);
        if (at < sizeof grew)
            at += (size_t)snprintf(grew + at, sizeof grew - at, "%s%s+%" PRIu64, at ? "," : "",
                                   TRANSPORT_KINDS[i], v - s->transport_seen[i]);
        s->transport_seen[i] = v;
    }
    nng_stats_free(all);
    if (grew[0])
        log_warn("connections failed", "kinds=%s listen=%s", grew, s->o.listen);
    if (l)
        watchdog(s, activity);
}

/* listen_start: create, configure (TLS) and start the listener on o.listen. 0, ERR_INVALID (bad
 * URL or TLS settings) or ERR_IO (cannot listen, e.g. address in use); errbuf says why. */
static int listen_start(server *s, char *errbuf, size_t errlen)
{
    int rv, rc;
    if ((rv = nng_listener_create(&s->listener, s->sock, s->o.listen)) != 0) {
        snprintf(errbuf, errlen, "listen %s: %s", s->o.listen, nng_strerror(rv));
        return ERR_INVALID;
    }
    s->listener_open = 1;
    if ((rc = tls_listener_setup(s->listener, s->o.listen, &s->o.tls, errbuf, errlen)) != 0)
        return rc;
    if ((rv = nng_listener_start(s->listener, 0)) != 0) {
        snprintf(errbuf, errlen, "listen %s: %s", s->o.listen, nng_strerror(rv));
        return ERR_IO;
    }
    memset(s->transport_seen, 0, sizeof s->transport_seen);
    s->activity = 0;
    s->still_since_ms = clock_mono_ms();
    s->probe_ms = 0;
    return 0;
}

int server_new(server **out, const server_opts *opts, char *errbuf, size_t errlen)
{
    server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ERR_NOMEM;
    s->o = *opts;
    int rv, rc = ERR_IO;
    s->slots = calloc((size_t)opts->max_connections, sizeof *s->slots);
    if (s->slots == NULL || pthread_mutex_init(&s->pipes_mu, NULL) != 0) {
        free(s->slots);
        free(s);
        return ERR_NOMEM;
    }
    if ((rv = nng_rep0_open(&s->sock)) != 0) {
        snprintf(errbuf, errlen, "nng_rep0_open: %s", nng_strerror(rv));
        goto fail;
    }
    s->sock_open = 1;
    if ((rc = server_metrics(s)) != 0) {
        snprintf(errbuf, errlen, "metrics: %s", err_str(rc));
        goto fail;
    }
    rc = ERR_IO;
    /* nng drops a message over this by closing the connection before reading it (counted by the
     * listener as an "other" error); up to it, writer_handle() answers an oversize request. */
    if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
                                  server_recv_max(opts->limits.max_request_bytes))) != 0 ||
        (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, on_pipe, s)) != 0 ||
        (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, on_pipe, s)) != 0) {
        snprintf(errbuf, errlen, "socket options: %s", nng_strerror(rv));
        goto fail;
    }
    if ((rc = listen_start(s, errbuf, errlen)) != 0)
        goto fail;
    s->nworkers = opts->workers;
    s->w = calloc((size_t)s->nworkers, sizeof *s->w);
    if (s->w == NULL) {
        rc = ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < s->nworkers; i++) {
        worker *w = &s->w[i];
        w->srv = s;
        w->id = i;
        if ((rv = nng_ctx_open(&w->ctx, s->sock)) != 0 || (rv = nng_aio_alloc(&w->aio, NULL, NULL))) {
            snprintf(errbuf, errlen, "nng context: %s", nng_strerror(rv));
            goto fail;
        }
        if ((rc = store_new(&w->st, &opts->store)) != 0 ||
            (rc = writer_arena_new(&w->arena, ARENA_KEEP, opts->max_decode_bytes)) != 0)
            goto fail;
        w->db = writer_db_store(w->st);
        if (pthread_mutex_init(&w->mu, NULL) != 0) {
            rc = ERR_NOMEM;
            goto fail;
        }
        w->mu_init = 1;
    }
    *out = s;
    return 0;
fail:
    server_free(s);
    return rc;
}

/* Keep the connection usable while idle; publish its state. Returns how long the next receive
 * may wait before this has to run again (nng 1.5.2's timer thread spins up to a millisecond at
 * every timeout it fires, so idle workers wait as long as they can instead of polling). */
static int worker_keepalive(worker *w, int64_t *last_check)
{
    int64_t now = clock_mono_ms();
    if (!store_ready(w->st)) {
        store_ensure(w->st); /* returns at once while the backoff delay runs */
        *last_check = now;
    } else if (now - *last_check >= w->srv->o.ping_interval_ms) {
        store_ping(w->st);
        *last_check = now;
    }
    int ready = store_ready(w->st);
    atomic_store(&w->db_ready, ready);
    if (!ready)
        return RETRY_POLL_MS;
    int64_t left = w->srv->o.ping_interval_ms - (now - *last_check);
    return left < 1 ? 1 : left > INT32_MAX ? INT32_MAX : (int)left;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    server *s = w->srv;
    buf out = {0};
    int64_t last_check = 0;
    for (;;) {
        int wait_ms = worker_keepalive(w, &last_check);
        pthread_mutex_lock(&w->mu);
        if (atomic_load(&s->stop)) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        nng_aio_set_timeout(w->aio, wait_ms);
        nng_ctx_recv(w->ctx, w->aio);
        w->in_recv = 1;
        pthread_mutex_unlock(&w->mu);
        nng_aio_wait(w->aio);
        pthread_mutex_lock(&w->mu);
        w->in_recv = 0;
        pthread_mutex_unlock(&w->mu);
        int rv = nng_aio_result(w->aio);
        if (rv == NNG_ETIMEDOUT || rv == NNG_ECANCELED)
            continue;
        if (rv == NNG_ECLOSED)
            break;
        if (rv != 0) {
            log_warn("receive failed", "worker=%d error=%s", w->id, nng_strerror(rv));
            continue;
        }
        nng_msg *msg = nng_aio_get_msg(w->aio);
        touch_pipe(s, nng_msg_get_pipe(msg));
        int rc = writer_handle(&w->db, &s->o.limits, w->arena, nng_msg_body(msg), nng_msg_len(msg), &out);
        last_check = clock_mono_ms(); /* a request just exercised the connection */
        atomic_store(&w->db_ready, store_ready(w->st));
        nng_msg_clear(msg);
        if (rc != 0 || nng_msg_append(msg, out.data, out.len) != 0) {
            /* No reply possible (out of memory): the requester times out and resends. */
            log_error("cannot build reply", "worker=%d", w->id);
            nng_msg_free(msg);
            continue;
        }
        nng_aio_set_msg(w->aio, msg);
        nng_aio_set_timeout(w->aio, 5000);
        nng_ctx_send(w->ctx, w->aio);
        nng_aio_wait(w->aio);
        if ((rv = nng_aio_result(w->aio)) != 0) {
            nng_msg_free(msg);
            if (rv != NNG_ECLOSED)
                log_warn("reply not sent", "worker=%d error=%s", w->id, nng_strerror(rv));
        }
        if (out.cap > (1u << 20))
            buf_free(&out); /* don't pin a huge reply buffer */
    }
    buf_free(&out);
    return NULL;
}

int server_start(server *s)
{
    for (int i = 0; i < s->nworkers; i++) {
        if (pthread_create(&s->w[i].thread, NULL, worker_main, &s->w[i]) != 0) {
            log_error("pthread_create failed", "worker=%d", i);
            return ERR_IO;
        }
        s->w[i].started = 1;
    }
    return 0;
}

int server_db_up(server *s)
{
    int up = 0;
    for (int i = 0; i < s->nworkers; i++)
        up |= atomic_load(&s->w[i].db_ready);
    writer_set_db_up(up);
    return up;
}

void server_stop(server *s)
{
    if (s == NULL || s->stopped)
        return;
    s->stopped = 1;
    atomic_store(&s->stop, 1);
    /* A worker waiting for a request stops at once; one in a request finishes it first. */
    for (int i = 0; i < s->nworkers; i++) {
        worker *w = &s->w[i];
        if (!w->started)
            continue;
        pthread_mutex_lock(&w->mu);
        if (w->in_recv)
            nng_aio_cancel(w->aio);
        pthread_mutex_unlock(&w->mu);
    }
    for (int i = 0; i < s->nworkers; i++)
        if (s->w[i].started)
            pthread_join(s->w[i].thread, NULL);
    if (s->sock_open)
        nng_close(s->sock);
    s->sock_open = 0;
    s->listener_open = 0;
}

void server_free(server *s)
{
    if (s == NULL)
        return;
    server_stop(s);
    for (int i = 0; s->w && i < s->nworkers; i++) {
        if (s->w[i].aio)
            nng_aio_free(s->w[i].aio);
        store_free(s->w[i].st);
        writer_arena_free(s->w[i].arena);
        if (s->w[i].mu_init)
            pthread_mutex_destroy(&s->w[i].mu);
    }
    free(s->w);
    pthread_mutex_destroy(&s->pipes_mu);
    free(s->slots);
    free(s);
}
