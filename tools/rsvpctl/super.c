/* super.c: rsvpctl's process supervisor (see super.h). One table of processes sorted by start
 * order; every state change happens in super_poll() on the caller's thread, so there is no
 * locking. Child output travels through one pipe per child (stdout and stderr merged) and is
 * re-emitted line by line as {"msg":"child","child":"parser-1","line":"<original line>"}. */
#include "tools/rsvpctl/super.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "tools/rsvpctl/control.h"
#include "tools/rsvpctl/env.h"

#define MAX_PROCS (SVC_COUNT * SPEC_MAX_REPLICAS)
#define LINE_CAP  16384 /* a longer child line is forwarded in pieces */
#define MAX_ARGS  64

enum { P_RUNNING, P_RESTARTING, P_STOPPING, P_STOPPED };
static const char *const state_names[] = {"running", "restarting", "stopping", "stopped"};

typedef struct proc {
    int svc, replica;
    char name[32];
    char metrics_addr[64];
    pid_t pid; /* 0 when not running */
    int fd;    /* read end of the output pipe, -1 when closed */
    int state;
    int restarts;
    int removing; /* scale-down: delete once stopped */
    int killed;   /* SIGKILL sent */
    int64_t started_ms, next_start_ms, term_ms;
    backoff bo;
    char last_exit[32];
    char kv_instance[128], kv_metrics[96], kv_extra[128];
    char **envp;
    size_t linelen;
    char line[LINE_CAP];
} proc;

struct super {
    super_opts o;
    int counts[SVC_COUNT];
    char path[SVC_COUNT][4096];
    char *replay_argbuf;
    char *argv[SVC_COUNT][MAX_ARGS];
    char writer_kv[1100]; /* WRITER_URL=<scheme>://...,<scheme>://... for every aggregator */
    proc *procs[MAX_PROCS];
    int nprocs;
    int stopping, stage;
    int killed; /* SIGKILLs sent after a stop timeout */
    pid_t self;
};

static int check_bin(super *s, int svc, char *err, size_t errlen)
{
    if (access(s->path[svc], X_OK) != 0) {
        snprintf(err, errlen, "%s: %s (build it with make, or pass --bin DIR)", s->path[svc],
                 strerror(errno));
        return ERR_INVALID;
    }
    return 0;
}

/* build_argv: argv of every service; replay gets the whitespace-split replay_args. */
static int build_argv(super *s, char *err, size_t errlen)
{
    for (int svc = 0; svc < SVC_COUNT; svc++)
        s->argv[svc][0] = s->path[svc];
    if (!s->o.replay_args)
        return 0;
    s->replay_argbuf = strdup(s->o.replay_args);
    if (!s->replay_argbuf)
        return ERR_NOMEM;
    int n = 1;
    char *save = NULL;
    for (char *t = strtok_r(s->replay_argbuf, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
        if (n == MAX_ARGS - 1) {
            snprintf(err, errlen, "too many replay arguments (max %d)", MAX_ARGS - 2);
            return ERR_INVALID;
        }
        s->argv[SVC_REPLAY][n++] = t;
    }
    return 0;
}

int super_new(super **out, const super_opts *o, char *err, size_t errlen)
{
    super *s = calloc(1, sizeof *s);
    int rc;

    if (!s)
        return ERR_NOMEM;
    s->o = *o;
    s->self = getpid();
    memcpy(s->counts, o->counts, sizeof s->counts);
    s->counts[SVC_REPLAY] = o->replay_args ? 1 : 0;
    for (int svc = 0; svc < SVC_COUNT; svc++) {
        snprintf(s->path[svc], sizeof s->path[svc], "%s/rsvp-%s", o->bin_dir, spec_name(svc));
        if (s->counts[svc] > 0 && (rc = check_bin(s, svc, err, errlen)) < 0)
            goto fail;
    }
    if ((rc = build_argv(s, err, errlen)) < 0)
        goto fail;
    size_t off = (size_t)snprintf(s->writer_kv, sizeof s->writer_kv, "%s=", SUPER_WRITER_URL_ENV);
    for (int r = 0; r < s->counts[SVC_WRITER]; r++) {
        char url[256];
        spec_writer_url(url, sizeof url, o->writer_scheme, o->host, o->writer_port_base + r);
        int n = snprintf(s->writer_kv + off, sizeof s->writer_kv - off, "%s%s", r ? "," : "", url);
        if (n < 0 || (size_t)n >= sizeof s->writer_kv - off) {
            snprintf(err, errlen, "writer URL list too long");
            rc = ERR_INVALID;
            goto fail;
        }
        off += (size_t)n;
    }
    *out = s;
    return 0;
fail:
    super_free(s);
    return rc;
}

/* proc_new: a stopped process entry for replica r of svc, with its environment built. */
static proc *proc_new(super *s, int svc, int r)
{
    proc *p = calloc(1, sizeof *p);
    const char *set[128];
    size_t n;

    if (!p)
        return NULL;
    p->svc = svc;
    p->replica = r;
    p->fd = -1;
    p->state = P_STOPPED;
    snprintf(p->name, sizeof p->name, "%s-%d", spec_name(svc), r);
    snprintf(p->metrics_addr, sizeof p->metrics_addr, "%s:%d", s->o.host,
             spec_metrics_port(s->o.metrics_port_base, svc, r));
    backoff_init(&p->bo, s->o.restart.base_ms, s->o.restart.max_ms, 0);

    n = conffile_env(s->o.conf, svc, set, 120);
    if (n > 120)
        n = 120;
    /* per-replica settings last: they win over the config file and the inherited environment */
    snprintf(p->kv_instance, sizeof p->kv_instance, "INSTANCE_ID=%s%s",
             s->o.instance_prefix ? s->o.instance_prefix : "", p->name);
    snprintf(p->kv_metrics, sizeof p->kv_metrics, "METRICS_ADDR=%s", p->metrics_addr);
    set[n++] = p->kv_instance;
    set[n++] = p->kv_metrics;
    if (svc == SVC_WRITER) {
        int k = snprintf(p->kv_extra, sizeof p->kv_extra, "%s=", SUPER_WRITER_LISTEN_ENV);
        spec_writer_url(p->kv_extra + k, sizeof p->kv_extra - (size_t)k, s->o.writer_scheme, s->o.host,
                        s->o.writer_port_base + r);
        set[n++] = p->kv_extra;
    } else if (svc == SVC_AGGREGATOR) {
        set[n++] = s->writer_kv;
    }
    p->envp = env_merge(s->o.environ, set, n);
    if (!p->envp) {
        free(p);
        return NULL;
    }
    return p;
}

static void proc_free(proc *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    free(p->envp);
    free(p);
}

/* insert keeping the table sorted by (svc, replica): start order, and status order */
static int table_insert(super *s, proc *p)
{
    if (s->nprocs == MAX_PROCS)
        return ERR_RANGE;
    int i = s->nprocs;
    while (i > 0 && (s->procs[i - 1]->svc > p->svc ||
                     (s->procs[i - 1]->svc == p->svc && s->procs[i - 1]->replica > p->replica))) {
        s->procs[i] = s->procs[i - 1];
        i--;
    }
    s->procs[i] = p;
    s->nprocs++;
    return 0;
}

static void table_remove(super *s, proc *p)
{
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i] == p) {
            memmove(&s->procs[i], &s->procs[i + 1], (size_t)(s->nprocs - i - 1) * sizeof p);
            s->nprocs--;
            break;
        }
    proc_free(p);
}

static void emit_line(proc *p)
{
    size_t n = p->linelen;
    if (n && p->line[n - 1] == '\r')
        n--;
    p->line[n] = '\0';
    if (n)
        log_info("child", "child=%s line=%s", p->name, p->line);
    p->linelen = 0;
}

/* drain: forward what the pipe holds now; at EOF (or error) close it, flushing a partial line. */
static void drain(proc *p)
{
    char chunk[4096];
    while (p->fd >= 0) {
        ssize_t r = read(p->fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            if (p->linelen)
                emit_line(p);
            close(p->fd);
            p->fd = -1;
            return;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (chunk[i] == '\n') {
                emit_line(p);
            } else {
                p->line[p->linelen++] = chunk[i];
                if (p->linelen == LINE_CAP - 1)
                    emit_line(p);
            }
        }
    }
}

/* child_exec: in the forked child; only async-signal-safe calls until execve. */
static void child_exec(const super *s, const proc *p, int wfd)
{
    static const char msg[] = "rsvpctl: execve failed\n";
    sigset_t all;

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != s->self) /* rsvpctl died before prctl */
        _exit(1);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    dup2(wfd, 1);
    dup2(wfd, 2);
    /* rsvpctl ignores SIGPIPE and may have inherited ignored SIGINT (background job of a script);
     * ignored dispositions survive execve, so reset them */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    execve(s->path[p->svc], s->argv[p->svc], p->envp);
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing else to do */
    }
    _exit(127);
}

static void schedule_restart(super *s, proc *p, int64_t delay, const char *why);

static void spawn(super *s, proc *p)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        log_error("pipe failed", "child=%s error=%s", p->name, strerror(errno));
        schedule_restart(s, p, backoff_next(&p->bo), "pipe failed");
        return;
    }
    pid = fork();
    if (pid < 0) {
        log_error("fork failed", "child=%s error=%s", p->name, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        schedule_restart(s, p, backoff_next(&p->bo), "fork failed");
        return;
    }
    if (pid == 0)
        child_exec(s, p, fds[1]);
    setpgid(pid, pid); /* also in the parent, so killpg() works before the child ran */
    close(fds[1]);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = fds[0];
    p->linelen = 0;
    p->pid = pid;
    p->killed = 0;
    p->state = P_RUNNING;
    p->started_ms = clock_mono_ms();
    log_info("started", "child=%s pid=%d metrics_addr=%s restarts=%d", p->name, (int)pid, p->metrics_addr,
             p->restarts);
}

static void schedule_restart(super *s, proc *p, int64_t delay, const char *why)
{
    (void)s;
    p->state = P_RESTARTING;
    p->restarts++;
    p->next_start_ms = clock_mono_ms() + delay;
    log_warn("restarting", "child=%s why=%s restarts=%d delay_ms=%lld", p->name, why, p->restarts,
             (long long)delay);
}

void super_start(super *s)
{
    for (int svc = 0; svc < SVC_COUNT; svc++)
        for (int r = 0; r < s->counts[svc]; r++) {
            proc *p = proc_new(s, svc, r);
            if (!p || table_insert(s, p) < 0) {
                log_error("cannot add process", "child=%s-%d", spec_name(svc), r);
                proc_free(p);
                continue;
            }
            spawn(s, p);
        }
}

static proc *find_pid(super *s, pid_t pid)
{
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i]->pid == pid)
            return s->procs[i];
    return NULL;
}

static void on_exit_status(super *s, proc *p, int status)
{
    int64_t now = clock_mono_ms();
    int64_t uptime = now - p->started_ms;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;

    drain(p); /* what the child wrote before it died */
    if (p->fd >= 0) {
        close(p->fd); /* a grandchild may hold the pipe; do not wait for it */
        p->fd = -1;
    }
    p->pid = 0;
    if (sig)
        snprintf(p->last_exit, sizeof p->last_exit, "signal %d", sig);
    else
        snprintf(p->last_exit, sizeof p->last_exit, "exit %d", code);

    if (p->state == P_STOPPING || s->stopping || p->removing) {
        log_info("stopped", "child=%s exit_code=%d signal=%d uptime_ms=%lld", p->name, code, sig,
                 (long long)uptime);
        p->state = P_STOPPED;
        if (p->removing)
            table_remove(s, p);
        return;
    }
    int64_t delay = restart_decide(&p->bo, &s->o.restart, uptime, code, sig);
    if (delay == RESTART_GIVE_UP) {
        p->state = P_STOPPED;
        log_error("not restarting: configuration error (exit 2)", "child=%s exit_code=%d", p->name, code);
        return;
    }
    p->state = P_RESTARTING;
    p->restarts++;
    p->next_start_ms = now + delay;
    log_warn("restarting", "child=%s exit_code=%d signal=%d uptime_ms=%lld restarts=%d delay_ms=%lld",
             p->name, code, sig, (long long)uptime, p->restarts, (long long)delay);
}

static void reap(super *s)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        proc *p = find_pid(s, pid);
        if (p)
            on_exit_status(s, p, status);
    }
}

/* terminate: SIGTERM to the child's group, SIGKILL once the stop timeout passed. */
static void terminate(super *s, proc *p, int64_t now)
{
    if (!p->pid)
        return;
    if (p->state != P_STOPPING) {
        p->state = P_STOPPING;
        p->term_ms = now;
        log_info("stopping", "child=%s pid=%d", p->name, (int)p->pid);
        if (killpg(p->pid, SIGTERM) != 0)
            kill(p->pid, SIGTERM);
    } else if (!p->killed && now - p->term_ms >= s->o.stop_timeout_ms) {
        p->killed = 1;
        s->killed++;
        log_warn("killing after stop timeout", "child=%s pid=%d stop_timeout_ms=%lld", p->name, (int)p->pid,
                 (long long)s->o.stop_timeout_ms);
        if (killpg(p->pid, SIGKILL) != 0)
            kill(p->pid, SIGKILL);
    }
}

/* advance_stop: drive the staged stop; returns 1 once every child exited. */
static int advance_stop(super *s, int64_t now)
{
    while (s->stage < SVC_COUNT) {
        int svc = spec_stop_order(s->stage), alive = 0;
        for (int i = 0; i < s->nprocs; i++) {
            proc *p = s->procs[i];
            if (p->svc != svc)
                continue;
            if (p->state == P_RESTARTING)
                p->state = P_STOPPED;
            if (p->pid) {
                alive = 1;
                terminate(s, p, now);
            }
        }
        if (alive)
            return 0;
        s->stage++;
    }
    return 1;
}

/* advance_scale_down: stop removed replicas one at a time per service, highest index first. */
static void advance_scale_down(super *s, int64_t now)
{
    for (int svc = 0; svc < SVC_COUNT; svc++) {
        proc *victim = NULL;
        for (int i = 0; i < s->nprocs; i++) {
            proc *p = s->procs[i];
            if (p->svc != svc || !p->removing)
                continue;
            if (p->state == P_STOPPING) {
                victim = p;
                break;
            }
            if (!victim || p->replica > victim->replica)
                victim = p;
        }
        if (!victim)
            continue;
        if (victim->pid)
            terminate(s, victim, now);
        else
            table_remove(s, victim);
    }
}

static void run_timers(super *s)
{
    int64_t now = clock_mono_ms();
    if (s->stopping)
        return;
    advance_scale_down(s, now);
    for (int i = 0; i < s->nprocs; i++) {
        proc *p = s->procs[i];
        if (p->state == P_RESTARTING && !p->removing && now >= p->next_start_ms)
            spawn(s, p);
    }
}

static int next_timeout(const super *s, int timeout_ms)
{
    int64_t now = clock_mono_ms();
    for (int i = 0; i < s->nprocs; i++) {
        const proc *p = s->procs[i];
        if (p->state == P_RESTARTING && !s->stopping) {
            int64_t d = p->next_start_ms - now;
            if (d < 0)
                d = 0;
            if (d < timeout_ms)
                timeout_ms = (int)d;
        }
    }
    return timeout_ms;
}

int super_poll(super *s, int extra_fd, int timeout_ms, int *extra_ready)
{
    struct pollfd pfd[MAX_PROCS + 1];
    proc *owner[MAX_PROCS + 1];
    nfds_t n = 0;

    *extra_ready = 0;
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i]->fd >= 0) {
            pfd[n] = (struct pollfd){.fd = s->procs[i]->fd, .events = POLLIN};
            owner[n++] = s->procs[i];
        }
    if (extra_fd >= 0) {
        pfd[n] = (struct pollfd){.fd = extra_fd, .events = POLLIN};
        owner[n++] = NULL;
    }
    int rc = poll(pfd, n, next_timeout(s, timeout_ms));
    if (rc > 0)
        for (nfds_t i = 0; i < n; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (owner[i])
                drain(owner[i]);
            else
                *extra_ready = 1;
        }
    reap(s);
    run_timers(s);
    if (s->stopping && advance_stop(s, clock_mono_ms()))
        return 0;
    return 1;
}

void super_stop(super *s)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    s->stage = 0;
    /* nothing is restarted once the stop began */
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i]->state == P_RESTARTING)
            s->procs[i]->state = P_STOPPED;
    log_info("stopping all", "order=%s stop_timeout_ms=%lld", "ingestor,replay,parser,aggregator,writer",
             (long long)s->o.stop_timeout_ms);
    advance_stop(s, clock_mono_ms());
}

int super_stopping(const super *s)
{
    return s->stopping;
}

static int free_replica_index(const super *s, int svc)
{
    for (int r = 0;; r++) {
        int used = 0;
        for (int i = 0; i < s->nprocs; i++)
            if (s->procs[i]->svc == svc && s->procs[i]->replica == r)
                used = 1;
        if (!used)
            return r;
    }
}

int super_scale(super *s, const int counts[SVC_COUNT], unsigned mask, char *err, size_t errlen)
{
    if (s->stopping) {
        snprintf(err, errlen, "stopping");
        return ERR_INVALID;
    }
    if (mask & (1u << SVC_REPLAY)) {
        snprintf(err, errlen, "replay cannot be scaled");
        return ERR_INVALID;
    }
    if ((mask & (1u << SVC_WRITER)) && counts[SVC_WRITER] != s->counts[SVC_WRITER]) {
        snprintf(err, errlen,
                 "the writer count is fixed while running (aggregators hold the "
                 "writer list); restart with --replicas writer=N");
        return ERR_INVALID;
    }
    for (int svc = 0; svc < SVC_COUNT; svc++)
        if ((mask & (1u << svc)) && counts[svc] > s->counts[svc] && check_bin(s, svc, err, errlen) < 0)
            return ERR_INVALID;
    for (int svc = 0; svc < SVC_COUNT; svc++) {
        if (!(mask & (1u << svc)) || counts[svc] == s->counts[svc])
            continue;
        log_info("scaling", "service=%s from=%d to=%d", spec_name(svc), s->counts[svc], counts[svc]);
        int live = 0;
        for (int i = 0; i < s->nprocs; i++)
            if (s->procs[i]->svc == svc && !s->procs[i]->removing)
                live++;
        /* scale down: mark the highest indexes; advance_scale_down stops them one by one */
        for (int i = s->nprocs - 1; i >= 0 && live > counts[svc]; i--)
            if (s->procs[i]->svc == svc && !s->procs[i]->removing) {
                s->procs[i]->removing = 1;
                live--;
            }
        while (live < counts[svc]) {
            proc *p = proc_new(s, svc, free_replica_index(s, svc));
            if (!p || table_insert(s, p) < 0) {
                proc_free(p);
                snprintf(err, errlen, "out of memory or too many processes");
                return ERR_NOMEM;
            }
            spawn(s, p);
            live++;
        }
        s->counts[svc] = counts[svc];
    }
    return 0;
}

int super_killed(const super *s)
{
    return s->killed;
}

void super_counts(const super *s, int counts[SVC_COUNT])
{
    memcpy(counts, s->counts, sizeof s->counts);
}

int super_status(const super *s, buf *out)
{
    int64_t now = clock_mono_ms();
    for (int i = 0; i < s->nprocs; i++) {
        const proc *p = s->procs[i];
        control_proc cp = {.replica = p->replica, .pid = (int)p->pid, .restarts = p->restarts};
        snprintf(cp.name, sizeof cp.name, "%s", p->name);
        snprintf(cp.service, sizeof cp.service, "%s", spec_name(p->svc));
        snprintf(cp.state, sizeof cp.state, "%s", p->removing && p->pid ? "stopping" : state_names[p->state]);
        snprintf(cp.metrics_addr, sizeof cp.metrics_addr, "%s", p->metrics_addr);
        snprintf(cp.last_exit, sizeof cp.last_exit, "%s", p->last_exit);
        cp.uptime_ms = p->pid ? now - p->started_ms : 0;
        int rc = control_format_proc(out, &cp);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void super_free(super *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nprocs; i++) {
        proc *p = s->procs[i];
        if (p->pid) {
            log_warn("killing leftover child", "child=%s pid=%d", p->name, (int)p->pid);
            if (killpg(p->pid, SIGKILL) != 0)
                kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
        }
        proc_free(p);
    }
    free(s->replay_argbuf);
    free(s);
}
