/* test_http.c: the observability endpoint on a real socket: port 0 picks a free port, /metrics
 * serves the Prometheus text, /healthz and /readyz follow httpd_set_live / httpd_set_ready, bad
 * addresses and busy ports are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "common/http.h"
#include "common/metrics.h"

/* GET path from 127.0.0.1:port; returns the status code, body in out. */
static int get(int port, const char *path, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && (r = read(fd, out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd);
    int status = 0;
    sscanf(out, "HTTP/1.1 %d", &status);
    char *body = strstr(out, "\r\n\r\n");
    if (body)
        memmove(out, body + 4, strlen(body + 4) + 1);
    return status;
}

static void test_port_zero_and_endpoints(void **state)
{
    (void)state;
    mcounter_add(metrics_counter("rsvp_t_http_total", NULL, "Test counter."), 9);
    httpd *h = NULL;
    assert_int_equal(httpd_start(&h, "127.0.0.1:0"), 0);
    int port = httpd_port(h);
    assert_true(port > 0);
    char body[8192];
    assert_int_equal(get(port, "/metrics", body, sizeof body), 200);
    assert_non_null(strstr(body, "# TYPE rsvp_t_http_total counter\nrsvp_t_http_total 9\n"));
    assert_non_null(strstr(body, "process_resident_memory_bytes "));

    assert_int_equal(get(port, "/healthz", body, sizeof body), 200);
    assert_string_equal(body, "ok\n");
    httpd_set_live(h, 0);
    assert_int_equal(get(port, "/healthz", body, sizeof body), 503);

    assert_int_equal(get(port, "/readyz", body, sizeof body), 503); /* starts not ready */
    httpd_set_ready(h, 0, "waiting for broker");
    assert_int_equal(get(port, "/readyz", body, sizeof body), 503);
    assert_non_null(strstr(body, "waiting for broker"));
    httpd_set_ready(h, 1, NULL);
    assert_int_equal(get(port, "/readyz", body, sizeof body), 200);
    assert_string_equal(body, "ready\n");
    httpd_set_ready(h, 1, "standby"); /* a reason shows while ready too */
    assert_int_equal(get(port, "/readyz", body, sizeof body), 200);
    assert_string_equal(body, "ready: standby\n");

    assert_int_equal(get(port, "/nope", body, sizeof body), 404);
    httpd_free(h);
    metrics_free_all();
}

static void test_bad_address_and_busy_port(void **state)
{
    (void)state;
    httpd *h = NULL;
    assert_int_equal(httpd_start(&h, "no-port"), ERR_INVALID);
    assert_int_equal(httpd_start(&h, "127.0.0.1:99999"), ERR_INVALID);
    assert_int_equal(httpd_start(&h, "127.0.0.1:x"), ERR_INVALID);
    assert_int_equal(httpd_start(&h, ""), ERR_INVALID);
    assert_null(h);

    /* occupy a port in this helper's range, then ask for it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int port = 0;
    for (int p = 31700; p < 31800 && port == 0; p++) {
        sa.sin_port = htons((uint16_t)p);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0)
            port = p;
    }
    assert_true(port > 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(httpd_start(&h, addr), ERR_IO);
    assert_null(h);
    close(fd);
    httpd_free(NULL);
    httpd_set_ready(NULL, 1, "x");
    httpd_set_live(NULL, 1);
    assert_int_equal(httpd_port(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_zero_and_endpoints),
        cmocka_unit_test(test_bad_address_and_busy_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
