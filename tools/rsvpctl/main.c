/* main.c: rsvpctl, the supervisor of the pipeline on one machine. `rsvpctl up` runs the services
 * as child processes (super.c) and answers the control socket (control.c); status, scale and stop
 * are clients of that socket (cli.c); top is the live view (top.c). */
#include <limits.h>
#include <nng/nng.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/version.h"
#include "tools/rsvpctl/cli.h"
#include "tools/rsvpctl/conffile.h"
#include "tools/rsvpctl/control.h"
#include "tools/rsvpctl/dlq.h"
#include "tools/rsvpctl/rebuild.h"
#include "tools/rsvpctl/spec.h"
#include "tools/rsvpctl/super.h"
#include "tools/rsvpctl/top.h"

extern char **environ;

static const char usage[] =
    "rsvpctl " RSVP_VERSION ": supervisor of the rsvp-pipeline services on one machine\n"
    "\n"
    "Usage:\n"
    "  rsvpctl up [--config FILE] [--replicas ingestor=1,parser=2,aggregator=2,writer=1]\n"
    "             [--bin DIR] [--with-replay \"ARGS\"] ...   run the services (foreground)\n"
    "  rsvpctl status [--json]                 processes, pids, restarts, uptime, readiness\n"
    "  rsvpctl scale parser=3 aggregator=2     change replica counts while running\n"
    "  rsvpctl stop                            graceful stop (waits until done)\n"
    "  rsvpctl top [--pg-url URL] [--interval 1s] [--once]   live view of rates, lag, results\n"
    "  rsvpctl dlq list|redrive [--reason R] [--partition P --from-offset A --to-offset B]\n"
    "                                          dead letters by reason; re-drive through the parser\n"
    "  rsvpctl rebuild [--from parsed|raw]     recount PostgreSQL from Kafka, swap it in while running\n"
    "\n"
    "Every command takes --control-url (env CONTROL_URL, default " CLI_DEFAULT_CONTROL_URL ")\n"
    "and --help. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.\n";

static const char conffile_help[] =
    "\nConfig file (--config FILE, env RSVPCTL_CONFIG): key=value lines, '#' comments:\n"
    "  replicas.parser=2              replicas of a service (ingestor, parser, aggregator, writer)\n"
    "  env.TRIGGER_INTERVAL=250ms     environment variable for every child\n"
    "  parser.env.LOG_LEVEL=debug     environment variable for one service's replicas\n"
    "  stop-timeout=20s               any option above by its flag name ('_' = '-')\n"
    "Precedence: default < config file < environment < flag; --replicas overrides replicas.*.\n"
    "\nEach replica gets INSTANCE_ID=<instance-prefix><service>-<i> and\n"
    "METRICS_ADDR=127.0.0.1:<port>, port = metrics-port-base + (ingestor 1, parser 2,\n"
    "aggregator 3, writer 4, replay 5) + 10*i; writer i gets\n"
    "LISTEN=<writer-scheme>://127.0.0.1:<writer-port-base + i>, every aggregator WRITER_URL=<all\n"
    "writer URLs, comma-separated>. With --writer-scheme tls+tcp give the TLS files per service\n"
    "(the same names mean server side for the writer, client side for the aggregator):\n"
    "  writer.env.TLS_CERT=... writer.env.TLS_KEY=... writer.env.TLS_CA=... (mutual TLS: all three)\n"
    "  aggregator.env.TLS_CA=... aggregator.env.TLS_CERT=... aggregator.env.TLS_KEY=...\n"
    "  aggregator.env.TLS_SERVER_NAME=<DNS name in the writer's certificate (an IP SAN does not\n"
    "                                  match: mbedtls); default 127.0.0.1>\n"
    "TLS_* in rsvpctl's own environment pass through to every child unchanged.\n"
    "Child output is re-emitted on stderr as one JSON line each:\n"
    "  {\"ts\":..,\"level\":\"info\",\"service\":\"rsvpctl\",\"msg\":\"child\",\"child\":\"parser-1\","
    "\"line\":\"<the child's line>\"}\n";

/* Options of `rsvpctl up`; defaults may be replaced by the config file before parsing. */
static char *o_config, *o_replicas, *o_bin, *o_replay, *o_control, *o_log_level, *o_prefix;
static char *o_writer_scheme;
static int64_t o_stop_timeout, o_port_base, o_writer_base, o_rbase, o_rmax, o_rstable;

/* clang-format off */
static cfg_option up_options[] = {
    {"config", "RSVPCTL_CONFIG", CFG_STRING, NULL, "config file (see below)", 0, 0, 0, &o_config},
    {"replicas", "REPLICAS", CFG_STRING, NULL,
     "replica counts, e.g. parser=3,aggregator=2 (default ingestor=1,parser=2,aggregator=2,"
     "writer=1)", 0, 0, 0, &o_replicas},
    {"bin", "RSVPCTL_BIN", CFG_STRING, NULL,
     "directory of the rsvp-* binaries (default: rsvpctl's own directory)", 0, 0, 0, &o_bin},
    {"with-replay", "REPLAY_ARGS", CFG_STRING, NULL,
     "also run rsvp-replay with these arguments, started first", 0, 0, 0, &o_replay},
    {"control-url", "CONTROL_URL", CFG_STRING, CLI_DEFAULT_CONTROL_URL,
     "nng address of the control socket", 0, 0, 0, &o_control},
    {"stop-timeout", "STOP_TIMEOUT", CFG_DURATION, "15s",
     "per stage, SIGTERM to SIGKILL on stop", 0, 3600000, 0, &o_stop_timeout},
    {"metrics-port-base", "METRICS_PORT_BASE", CFG_INT, "9100",
     "replica i of a service serves /metrics on base + offset + 10*i", 1, 65000, 0, &o_port_base},
    {"writer-port-base", "WRITER_PORT_BASE", CFG_INT, "7400",
     "writer replica i listens on <writer-scheme>://127.0.0.1:(base + i)", 1, 65000, 0,
     &o_writer_base},
    {"writer-scheme", "WRITER_SCHEME", CFG_STRING, "tcp",
     "nng transport of the aggregator -> writer link: tcp or tls+tcp (TLS files: see below)", 0,
     0, 0, &o_writer_scheme},
    {"instance-prefix", "INSTANCE_PREFIX", CFG_STRING, "",
     "prepended to every INSTANCE_ID (parser-0): keeps transactional ids unique when several "
     "pipelines share one Kafka", 0, 0, 0, &o_prefix},
    {"restart-base", "RESTART_BASE", CFG_DURATION, "500ms", "first restart delay", 1, 3600000, 0,
     &o_rbase},
    {"restart-max", "RESTART_MAX", CFG_DURATION, "30s", "longest restart delay", 1, 3600000, 0,
     &o_rmax},
    {"restart-stable", "RESTART_STABLE", CFG_DURATION, "10s",
     "a child up this long was healthy: restart backoff starts over", 0, 0, 0, &o_rstable},
    {"log-level", "LOG_LEVEL", CFG_STRING, "info", "log level: debug, info, warn, error", 0, 0,
     0, &o_log_level},
    {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
};
/* clang-format on */

/* load_config_defaults: read the --config / RSVPCTL_CONFIG file (found before cfg_parse, since
 * its values become the options' defaults) and apply its option lines to up_options. */
static int load_config_defaults(int argc, char **argv, conffile **out)
{
    const char *path = getenv("RSVPCTL_CONFIG");
    char err[256];

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[i + 1];
    }
    if (!path || !*path)
        return 0;
    char *text = NULL;
    if (file_read_all(path, (size_t)1 << 20, &text, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "rsvpctl up: --config %s\n", err);
        return ERR_INVALID;
    }
    int rc = conffile_parse(text, out, err, sizeof err);
    free(text);
    if (rc < 0) {
        fprintf(stderr, "rsvpctl up: %s: %s\n", path, rc == ERR_INVALID ? err : err_str(rc));
        return rc;
    }
    for (size_t i = 0; conffile_option_key(*out, i); i++) {
        const char *k = conffile_option_key(*out, i);
        if (strcmp(k, "config") == 0 || cfg_option_default(up_options, k, conffile_get(*out, k)) != 0) {
            fprintf(stderr, "rsvpctl up: %s: unknown option '%s'\n", path, k);
            return ERR_INVALID;
        }
    }
    return 0;
}

/* default_bin: the directory holding this executable, so build/bin/rsvpctl finds its siblings. */
static void default_bin(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, cap, ".");
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, cap, "%s", exe);
}

/* on_hangup: a closed terminal stops the pipeline gracefully, like SIGTERM (async-signal-safe:
 * sig_request_stop only sets a flag). */
static void on_hangup(int signo)
{
    (void)signo;
    sig_request_stop();
}

/* serve: answer every waiting control request. */
static void serve(super *s, control_server *cs)
{
    char *req;
    while (control_server_recv(cs, &req) == 0) {
        buf reply = {0};
        char err[256] = "";
        int rc = 0;
        if (strcmp(req, "status") == 0) {
            rc = buf_puts(&reply, "ok\n");
            if (rc == 0)
                rc = super_status(s, &reply);
        } else if (strncmp(req, "scale ", 6) == 0) {
            int counts[SVC_COUNT];
            unsigned mask = 0;
            super_counts(s, counts);
            rc = spec_parse_replicas(req + 6, counts, &mask, err, sizeof err);
            if (rc == 0)
                rc = super_scale(s, counts, mask, err, sizeof err);
        } else if (strcmp(req, "stop") == 0) {
            log_info("stop requested", "via=%s", "control socket");
            super_stop(s);
        } else {
            snprintf(err, sizeof err, "unknown request (status, scale SPEC, stop)");
            rc = ERR_INVALID;
        }
        if (rc < 0) {
            buf_reset(&reply);
            buf_printf(&reply, "error: %s\n", err[0] ? err : err_str(rc));
        } else if (reply.len == 0) {
            buf_puts(&reply, "ok\n");
        }
        if (reply.data && control_server_reply(cs, reply.data, reply.len) < 0)
            log_warn("control reply failed", "request=%s", req);
        buf_free(&reply);
        free(req);
    }
}

/* up_validate: the supervisor's options from the parsed flags: replica counts (defaults <
 * config file < --replicas), bin directory, log level. 0, or ERR_INVALID after printing why. */
static int up_validate(const conffile *conf, super_opts *so, char *bin, size_t cap, log_level *level)
{
    char err[256];
    unsigned mask = 0;

    *so = (super_opts){
        .counts = {[SVC_WRITER] = 1, [SVC_AGGREGATOR] = 2, [SVC_PARSER] = 2, [SVC_INGESTOR] = 1},
        .replay_args = o_replay,
        .stop_timeout_ms = o_stop_timeout,
        .metrics_port_base = (int)o_port_base,
        .writer_port_base = (int)o_writer_base,
        .writer_scheme = o_writer_scheme,
        .host = "127.0.0.1",
        .instance_prefix = o_prefix,
        .restart = {.base_ms = o_rbase, .max_ms = o_rmax, .stable_ms = o_rstable},
        .conf = conf,
        .environ = environ,
        .bin_dir = bin,
    };
    conffile_replicas(conf, so->counts, &mask);
    if (o_replicas && spec_parse_replicas(o_replicas, so->counts, &mask, err, sizeof err) < 0) {
        fprintf(stderr, "rsvpctl up: --replicas: %s\n", err);
        return ERR_INVALID;
    }
    if (!spec_writer_scheme_ok(o_writer_scheme)) {
        fprintf(stderr, "rsvpctl up: --writer-scheme: %s: must be tcp or tls+tcp\n", o_writer_scheme);
        return ERR_INVALID;
    }
    if (log_level_parse(o_log_level, level) != 0) {
        fprintf(stderr, "rsvpctl up: --log-level: %s: unknown level\n", o_log_level);
        return ERR_INVALID;
    }
    if (o_rmax < o_rbase) {
        fprintf(stderr, "rsvpctl up: --restart-max is less than --restart-base\n");
        return ERR_INVALID;
    }
    if (o_bin)
        snprintf(bin, cap, "%s", o_bin);
    else
        default_bin(bin, cap);
    return 0;
}

static int cmd_up(int argc, char **argv)
{
    conffile *conf = NULL;
    control_server *cs = NULL;
    super *s = NULL;
    char err[512], bin[PATH_MAX], replicas[128];
    log_level level;
    int rc = 2, ready;

    /* 1. configuration: default < config file < environment < flag */
    if (load_config_defaults(argc, argv, &conf) < 0)
        goto out;
    int prc = cfg_parse("rsvpctl up", "run the pipeline's services as supervised child processes", up_options,
                        argc, argv);
    if (prc != 0) {
        for (int i = 1; prc == 1 && i < argc; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                fputs(conffile_help, stdout);
                break;
            }
        rc = prc == 1 ? 0 : 2;
        goto out;
    }

    /* 2. validation */
    super_opts so;
    if (up_validate(conf, &so, bin, sizeof bin, &level) < 0)
        goto out;

    /* 3. init, order important: logging, signals before any child exists (a signal in between
     * must not kill rsvpctl and orphan them), the control socket before children (it fails if
     * another rsvpctl owns the URL), then the supervisor. */
    log_init("rsvpctl", "rsvpctl", level);
    sig_init();
    signal(SIGHUP, on_hangup);
    if (super_new(&s, &so, err, sizeof err) < 0) {
        fprintf(stderr, "rsvpctl up: %s\n", err);
        goto out;
    }
    if (control_server_open(&cs, o_control, err, sizeof err) < 0) {
        log_error("control socket", "url=%s error=%s", o_control, err);
        fprintf(stderr, "rsvpctl up: control socket: %s (is another rsvpctl running?)\n", err);
        rc = 1;
        goto out;
    }
    spec_format_replicas(so.counts, replicas, sizeof replicas);
    log_info("up",
             "version=%s control_url=%s bin=%s replicas=%s replay=%s stop_timeout_ms=%lld "
             "metrics_port_base=%d writer_port_base=%d writer_scheme=%s instance_prefix=%s",
             RSVP_VERSION, o_control, bin, replicas, o_replay, (long long)o_stop_timeout, (int)o_port_base,
             (int)o_writer_base, o_writer_scheme, o_prefix);

    /* 4. loop: children's output, exits, restarts, control requests; a signal starts the stop */
    super_start(s);
    while (super_poll(s, control_server_fd(cs), 100, &ready)) {
        if (sig_stopping() && !super_stopping(s)) {
            log_info("stop requested", "via=%s", "signal");
            super_stop(s);
        }
        if (ready)
            serve(s, cs);
    }
    /* a child that had to be SIGKILLed may have lost what it held: not a clean stop */
    log_info("stopped", "clean=%d killed=%d", super_killed(s) == 0, super_killed(s));
    rc = super_killed(s) ? 1 : 0;

    /* 5. teardown in reverse */
out:
    control_server_free(cs);
    super_free(s);
    cfg_free(up_options);
    conffile_free(conf); /* last: option defaults and child environments point into it */
    return rc;
}

/* run: the subcommand named by argv[1]; returns the exit code. */
static int run(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";

    if (strcmp(cmd, "up") == 0)
        return cmd_up(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return cli_status(argc - 1, argv + 1);
    if (strcmp(cmd, "scale") == 0)
        return cli_scale(argc - 1, argv + 1);
    if (strcmp(cmd, "stop") == 0)
        return cli_stop(argc - 1, argv + 1);
    if (strcmp(cmd, "top") == 0)
        return top_main(argc - 1, argv + 1);
    if (strcmp(cmd, "dlq") == 0)
        return dlq_main(argc - 1, argv + 1);
    if (strcmp(cmd, "rebuild") == 0)
        return rebuild_main(argc - 1, argv + 1);
    if (strcmp(cmd, "--version") == 0) {
        printf("rsvpctl %s\n", RSVP_VERSION);
        return 0;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    fputs(usage, stderr);
    return 2;
}

int main(int argc, char **argv)
{
    int rc = run(argc, argv);
    /* The clients join nng's threads so that valgrind's leak report means something. Not `up`:
     * its listener may still be accepting a client's last dial while it closes, and nng_fini()
     * is only safe on a quiet library (one unexplained abort at exit was seen there). */
    if (argc < 2 || strcmp(argv[1], "up") != 0)
        nng_fini();
    return rc;
}
