/* cli.c: `rsvpctl status|scale|stop`: requests to the control socket of a running supervisor
 * (control.h) and the rendering of their answers. Readiness is asked of each replica's /readyz
 * here, in the client, so a slow replica never stalls the supervisor's loop. */
#include "tools/rsvpctl/cli.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "tools/rsvpctl/spec.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    if (ud && buf_append(ud, p, size * n) < 0)
        return 0;
    return size * n;
}

int cli_http_get(const char *url, long timeout_ms, buf *body)
{
    CURL *c = curl_easy_init();
    long code = 0;
    if (!c)
        return 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return (int)code;
}

void cli_format_uptime(long long ms, char *out, size_t cap)
{
    long long s = ms / 1000;
    if (s < 60)
        snprintf(out, cap, "%llds", s);
    else if (s < 3600)
        snprintf(out, cap, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, cap, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, cap, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

int cli_render_status(buf *out, const control_proc *procs, const int *ready, size_t n, int json)
{
    int rc = 0;
    char up[32];

    if (json) {
        rc |= buf_puts(out, "{\"processes\":[");
        for (size_t i = 0; i < n; i++) {
            const control_proc *p = &procs[i];
            rc |= buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
            rc |= buf_json_str(out, p->name, strlen(p->name));
            rc |= buf_puts(out, ",\"service\":");
            rc |= buf_json_str(out, p->service, strlen(p->service));
            rc |= buf_printf(out, ",\"replica\":%d,\"pid\":%d,\"state\":", p->replica, p->pid);
            rc |= buf_json_str(out, p->state, strlen(p->state));
            rc |= buf_printf(out, ",\"restarts\":%d,\"uptime_ms\":%lld,\"ready\":%s", p->restarts,
                             (long long)p->uptime_ms,
                             ready[i] > 0    ? "true"
                             : ready[i] == 0 ? "false"
                                             : "null");
            rc |= buf_puts(out, ",\"metrics_addr\":");
            rc |= buf_json_str(out, p->metrics_addr, strlen(p->metrics_addr));
            rc |= buf_puts(out, ",\"last_exit\":");
            if (strcmp(p->last_exit, "-") == 0 || !p->last_exit[0])
                rc |= buf_puts(out, "null");
            else
                rc |= buf_json_str(out, p->last_exit, strlen(p->last_exit));
            rc |= buf_putc(out, '}');
        }
        rc |= buf_puts(out, "]}\n");
        return rc ? ERR_NOMEM : 0;
    }
    rc |= buf_printf(out, "%-14s %8s %-10s %8s %9s %-5s %-21s %s\n", "NAME", "PID", "STATE", "RESTARTS",
                     "UPTIME", "READY", "METRICS", "LAST EXIT");
    for (size_t i = 0; i < n; i++) {
        const control_proc *p = &procs[i];
        if (p->pid)
            cli_format_uptime(p->uptime_ms, up, sizeof up);
        else
            snprintf(up, sizeof up, "-");
        rc |= buf_printf(out, "%-14s %8d %-10s %8d %9s %-5s %-21s %s\n", p->name, p->pid, p->state,
                         p->restarts, up,
                         ready[i] > 0    ? "yes"
                         : ready[i] == 0 ? "no"
                                         : "-",
                         p->metrics_addr[0] ? p->metrics_addr : "-", p->last_exit[0] ? p->last_exit : "-");
    }
    return rc ? ERR_NOMEM : 0;
}

/* request: one control request; prints why on failure; 0 or the exit code 1. */
static int request(const char *url, const char *req, int64_t timeout_ms, buf *reply)
{
    char err[256];
    int rc = control_request(url, req, (int)timeout_ms, reply, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "rsvpctl: %s\n", err);
        return 1;
    }
    if (buf_putc(reply, '\0') < 0)
        return 1;
    reply->len--;
    return 0;
}

int cli_status(int argc, char **argv)
{
    char *url = NULL;
    int json = 0;
    int64_t timeout_ms = 0, ready_timeout_ms = 0;
    /* clang-format off */
    const cfg_option opts[] = {
        {"control-url", "CONTROL_URL", CFG_STRING, CLI_DEFAULT_CONTROL_URL,
         "nng address of the supervisor's control socket", 0, 0, 0, &url},
        {"json", NULL, CFG_BOOL, "false", "machine-readable output", 0, 0, 0, &json},
        {"timeout", NULL, CFG_DURATION, "3s", "how long to wait for the supervisor", 1, 600000, 0,
         &timeout_ms},
        {"ready-timeout", NULL, CFG_DURATION, "500ms", "per replica, GET /readyz", 1, 60000, 0,
         &ready_timeout_ms},
        {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
    };
    /* clang-format on */
    buf reply = {0}, out = {0};
    control_proc *procs = NULL;
    int *ready = NULL;
    size_t n = 0;
    char err[256];
    int rc = cfg_parse("rsvpctl status", "list the supervised processes", opts, argc, argv);

    if (rc != 0) {
        cfg_free(opts);
        return rc == 1 ? 0 : 2;
    }
    rc = request(url, "status", timeout_ms, &reply);
    if (rc == 0 && control_parse_status(reply.data, reply.len, &procs, &n, err, sizeof err) < 0) {
        fprintf(stderr, "rsvpctl status: %s\n", err);
        rc = 1;
    }
    if (rc == 0) {
        ready = calloc(n ? n : 1, sizeof *ready);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        for (size_t i = 0; ready && i < n; i++) {
            char u[128];
            ready[i] = -1;
            if (!procs[i].pid || !procs[i].metrics_addr[0])
                continue;
            snprintf(u, sizeof u, "http://%s/readyz", procs[i].metrics_addr);
            ready[i] = cli_http_get(u, (long)ready_timeout_ms, NULL) == 200;
        }
        curl_global_cleanup();
        if (!ready || cli_render_status(&out, procs, ready, n, json) < 0)
            rc = 1;
        else
            fwrite(out.data, 1, out.len, stdout);
    }
    free(ready);
    free(procs);
    buf_free(&reply);
    buf_free(&out);
    cfg_free(opts);
    return rc;
}

int cli_scale(int argc, char **argv)
{
    char *url = NULL;
    /* clang-format off */
    const cfg_option opts[] = {
        {"control-url", "CONTROL_URL", CFG_STRING, CLI_DEFAULT_CONTROL_URL,
         "nng address of the supervisor's control socket", 0, 0, 0, &url},
        {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
    };
    /* clang-format on */
    char **flags = calloc((size_t)argc + 1, sizeof *flags);
    buf req = {0}, reply = {0};
    int nflags = 0, rc;

    if (!flags)
        return 1;
    /* positional service=count arguments are the spec; everything else goes to cfg_parse */
    buf_puts(&req, "scale ");
    flags[nflags++] = argv[0];
    for (int i = 1; i < argc; i++) {
        int is_value = i > 1 && strcmp(argv[i - 1], "--control-url") == 0;
        if (argv[i][0] != '-' && strchr(argv[i], '=') && !is_value)
            buf_printf(&req, "%s%s", req.len > 6 ? "," : "", argv[i]);
        else
            flags[nflags++] = argv[i];
    }
    rc = cfg_parse("rsvpctl scale", "change replica counts: rsvpctl scale parser=3 aggregator=2", opts,
                   nflags, flags);
    if (rc != 0) {
        rc = rc == 1 ? 0 : 2;
        goto out;
    }
    int counts[SVC_COUNT] = {0};
    unsigned mask = 0;
    char err[256];
    if (spec_parse_replicas(req.data + 6, counts, &mask, err, sizeof err) < 0) {
        fprintf(stderr, "rsvpctl scale: %s\n", err);
        rc = 2;
        goto out;
    }
    rc = request(url, req.data, 5000, &reply);
    if (rc == 0) {
        if (strncmp(reply.data, "ok", 2) == 0) {
            printf("scaling %s\n", req.data + 6);
        } else {
            fprintf(stderr, "rsvpctl scale: %s", reply.data);
            rc = 1;
        }
    }
out:
    free(flags);
    buf_free(&req);
    buf_free(&reply);
    cfg_free(opts);
    return rc;
}

int cli_stop(int argc, char **argv)
{
    char *url = NULL;
    int64_t wait_ms = 0;
    /* clang-format off */
    const cfg_option opts[] = {
        {"control-url", "CONTROL_URL", CFG_STRING, CLI_DEFAULT_CONTROL_URL,
         "nng address of the supervisor's control socket", 0, 0, 0, &url},
        {"wait", NULL, CFG_DURATION, "120s",
         "wait this long for the supervisor to finish stopping (0: do not wait)", 0, 0, 0,
         &wait_ms},
        {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
    };
    /* clang-format on */
    buf reply = {0};
    char err[256];
    int rc = cfg_parse("rsvpctl stop", "stop every service gracefully and the supervisor", opts, argc, argv);

    if (rc != 0) {
        cfg_free(opts);
        return rc == 1 ? 0 : 2;
    }
    rc = request(url, "stop", 5000, &reply);
    if (rc == 0 && strncmp(reply.data, "ok", 2) != 0) {
        fprintf(stderr, "rsvpctl stop: %s", reply.data);
        rc = 1;
    }
    /* the supervisor answers while it stops; it is done when nobody listens any more */
    int64_t deadline = clock_mono_ms() + wait_ms;
    while (rc == 0 && wait_ms > 0) {
        buf_reset(&reply);
        int r = control_request(url, "status", 1000, &reply, err, sizeof err);
        if (r == ERR_NOTFOUND)
            break;
        if (clock_mono_ms() >= deadline) {
            fprintf(stderr, "rsvpctl stop: still stopping after %lld ms\n", (long long)wait_ms);
            rc = 1;
            break;
        }
        clock_sleep_ms(100);
    }
    buf_free(&reply);
    cfg_free(opts);
    return rc;
}
