/* test_rsvpctl_control.c: the control protocol's status lines survive a round trip (and odd
 * characters cannot break a line), error replies are reported, the status table and its JSON
 * form, and a real REQ/REP exchange over ipc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "tools/rsvpctl/cli.h"
#include "tools/rsvpctl/control.h"

static control_proc proc(const char *name, const char *svc, int replica, int pid, const char *state)
{
    control_proc p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    snprintf(p.service, sizeof p.service, "%s", svc);
    snprintf(p.state, sizeof p.state, "%s", state);
    snprintf(p.metrics_addr, sizeof p.metrics_addr, "127.0.0.1:%d", 9100 + replica);
    p.replica = replica;
    p.pid = pid;
    p.restarts = replica * 2;
    p.uptime_ms = 61234;
    return p;
}

static void test_status_round_trip(void **state)
{
    (void)state;
    control_proc in[3] = {proc("writer-0", "writer", 0, 123, "running"),
                          proc("parser-1", "parser", 1, 0, "restarting"),
                          proc("bad\tname\n", "x", 2, 5, "stopping")};
    strcpy(in[1].last_exit, "signal 9");
    buf b = {0};
    assert_int_equal(buf_puts(&b, "ok\n"), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(control_format_proc(&b, &in[i]), 0);
    control_proc *out = NULL;
    size_t n = 0;
    char err[128];
    assert_int_equal(control_parse_status(b.data, b.len, &out, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].name, "writer-0");
    assert_int_equal(out[0].pid, 123);
    assert_int_equal(out[0].uptime_ms, 61234);
    assert_string_equal(out[0].metrics_addr, "127.0.0.1:9100");
    assert_string_equal(out[0].last_exit, "-");
    assert_string_equal(out[1].state, "restarting");
    assert_int_equal(out[1].restarts, 2);
    assert_string_equal(out[1].last_exit, "signal 9");
    assert_string_equal(out[2].name, "bad name "); /* separators replaced */
    free(out);
    buf_free(&b);
}

static void test_errors_and_malformed(void **state)
{
    (void)state;
    control_proc *out = NULL;
    size_t n = 0;
    char err[128];
    const char *e = "error: the writer count is fixed\n";
    assert_int_equal(control_parse_status(e, strlen(e), &out, &n, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "error: the writer count is fixed");
    const char *m = "ok\nparser-0\tparser\tX\t1\trunning\t0\t5\t-\t-\n";
    assert_int_equal(control_parse_status(m, strlen(m), &out, &n, err, sizeof err), ERR_INVALID);
    const char *shortline = "ok\nparser-0\tparser\n";
    assert_int_equal(control_parse_status(shortline, strlen(shortline), &out, &n, err, sizeof err),
                     ERR_INVALID);
    const char *empty = "ok\n";
    assert_int_equal(control_parse_status(empty, strlen(empty), &out, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    free(out);
}

static void test_render_table_and_json(void **state)
{
    (void)state;
    control_proc p[2] = {proc("writer-0", "writer", 0, 123, "running"),
                         proc("parser-1", "parser", 1, 0, "restarting")};
    strcpy(p[1].last_exit, "exit 1");
    int ready[2] = {1, -1};
    buf b = {0};
    assert_int_equal(cli_render_status(&b, p, ready, 2, 0), 0);
    assert_non_null(strstr(b.data, "NAME"));
    assert_non_null(strstr(b.data, "writer-0"));
    assert_non_null(strstr(b.data, "1m01s yes"));
    assert_non_null(strstr(b.data, "exit 1"));
    buf_reset(&b);
    assert_int_equal(cli_render_status(&b, p, ready, 2, 1), 0);
    assert_non_null(strstr(b.data, "{\"processes\":[{\"name\":\"writer-0\",\"service\":\"writer\","
                                   "\"replica\":0,\"pid\":123,\"state\":\"running\",\"restarts\":0,"
                                   "\"uptime_ms\":61234,\"ready\":true"));
    assert_non_null(strstr(b.data, "\"ready\":null"));
    assert_non_null(strstr(b.data, "\"last_exit\":\"exit 1\""));
    buf_free(&b);
    char up[32];
    cli_format_uptime(3 * 3600 * 1000LL + 4 * 60000, up, sizeof up);
    assert_string_equal(up, "3h04m");
    cli_format_uptime(26 * 3600 * 1000LL, up, sizeof up);
    assert_string_equal(up, "1d02h");
}

static char client_url[128];

/* client: one request from another thread, since control_request blocks (nng is not fork-safe) */
static void *client(void *arg)
{
    buf r = {0};
    char err[256];
    int rc = control_request(client_url, "status", 3000, &r, err, sizeof err);
    *(int *)arg = rc == 0 && r.len == 7 && memcmp(r.data, "ok\nhey\n", 7) == 0;
    buf_free(&r);
    return NULL;
}

static void test_request_reply_over_ipc(void **state)
{
    (void)state;
    char url[128], err[256];
    snprintf(url, sizeof url, "ipc:///tmp/test_rsvpctl_control_%d.sock", (int)getpid());
    buf reply = {0};
    /* nobody listening: "no supervisor" */
    assert_int_equal(control_request(url, "status", 500, &reply, err, sizeof err), ERR_NOTFOUND);

    control_server *srv = NULL;
    assert_int_equal(control_server_open(&srv, url, err, sizeof err), 0);
    control_server *second = NULL;
    assert_int_equal(control_server_open(&second, url, err, sizeof err), ERR_IO);
    char *req = NULL;
    assert_int_equal(control_server_recv(srv, &req), ERR_RETRY);

    pthread_t th;
    int ok = 0;
    snprintf(client_url, sizeof client_url, "%s", url);
    assert_int_equal(pthread_create(&th, NULL, client, &ok), 0);
    struct pollfd pfd = {.fd = control_server_fd(srv), .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 3000), 1);
    assert_int_equal(control_server_recv(srv, &req), 0);
    assert_string_equal(req, "status");
    free(req);
    assert_int_equal(control_server_reply(srv, "ok\nhey\n", 7), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(ok);
    control_server_free(srv);
    control_server_free(NULL);
    buf_free(&reply);
    unlink(url + strlen("ipc://"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_round_trip),
        cmocka_unit_test(test_errors_and_malformed),
        cmocka_unit_test(test_render_table_and_json),
        cmocka_unit_test(test_request_reply_over_ipc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
