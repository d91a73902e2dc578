/* test_tls.c: the checks of common/tls.c before anything is listened on or dialled: a TLS listener
 * needs its certificate, key and the clients' CA (mutual TLS or nothing), a TLS dialer needs the
 * CA and a certificate only with its key; every refusal names the option; plain URLs are left
 * alone. (Handshakes with real certificates: tests/integration/test_writer_serves_tls.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <string.h>

#include "common/err.h"
#include "common/tls.h"

#define URL "tls+tcp://127.0.0.1:1"

static void expect_listener(const tls_files *f, int want, const char *names)
{
    nng_socket s;
    nng_listener l;
    char err[512] = "";
    assert_int_equal(nng_rep0_open(&s), 0);
    assert_int_equal(nng_listener_create(&l, s, URL), 0);
    assert_int_equal(tls_listener_setup(l, URL, f, err, sizeof err), want);
    if (names && strstr(err, names) == NULL)
        fail_msg("error '%s' does not name %s", err, names);
    nng_close(s);
}

static void test_listener_needs_cert_key_and_ca(void **state)
{
    (void)state;
    tls_files none = {0};
    tls_files no_ca = {.cert = "/nonexistent/w.crt", .key = "/nonexistent/w.key"};
    tls_files no_key = {.cert = "/nonexistent/w.crt", .ca = "/nonexistent/ca.crt"};
    tls_files missing = {
        .cert = "/nonexistent/w.crt", .key = "/nonexistent/w.key", .ca = "/nonexistent/ca.crt"};
    tls_files not_pem = {
        .cert = "/proc/self/cmdline", .key = "/proc/self/cmdline", .ca = "/proc/self/cmdline"};
    expect_listener(&none, ERR_INVALID, "TLS_CA");
    expect_listener(&no_ca, ERR_INVALID, "TLS_CA");
    expect_listener(&no_key, ERR_INVALID, "TLS_KEY");
    expect_listener(&missing, ERR_INVALID, "TLS_CERT: /nonexistent/w.crt");
    expect_listener(&not_pem, ERR_INVALID, "TLS_CERT/TLS_KEY");
    nng_socket s;
    nng_listener l;
    char err[64];
    assert_int_equal(nng_rep0_open(&s), 0);
    assert_int_equal(nng_listener_create(&l, s, "tcp://127.0.0.1:1"), 0);
    assert_int_equal(tls_listener_setup(l, "tcp://127.0.0.1:1", &none, err, sizeof err), 0);
    nng_close(s);
}

static void expect_dialer(const tls_files *f, int want, const char *names)
{
    nng_socket s;
    nng_dialer d;
    char err[512] = "";
    assert_int_equal(nng_req0_open(&s), 0);
    assert_int_equal(nng_dialer_create(&d, s, URL), 0);
    assert_int_equal(tls_dialer_setup(d, URL, f, err, sizeof err), want);
    if (names && strstr(err, names) == NULL)
        fail_msg("error '%s' does not name %s", err, names);
    nng_close(s);
}

static void test_dialer_needs_ca_and_key_with_cert(void **state)
{
    (void)state;
    tls_files none = {0};
    tls_files half = {.ca = "/nonexistent/ca.crt", .cert = "/nonexistent/c.crt"};
    tls_files missing = {.ca = "/nonexistent/ca.crt"};
    tls_files not_pem = {.ca = "/proc/self/cmdline"};
    expect_dialer(&none, ERR_INVALID, "TLS_CA");
    expect_dialer(&half, ERR_INVALID, "TLS_KEY");
    expect_dialer(&missing, ERR_INVALID, "TLS_CA: /nonexistent/ca.crt");
    expect_dialer(&not_pem, ERR_INVALID, "TLS_CA (/proc/self/cmdline)");
    assert_int_equal(tls_url(URL), 1);
    assert_int_equal(tls_url("tcp://x:1"), 0);
    assert_int_equal(tls_url(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listener_needs_cert_key_and_ca),
        cmocka_unit_test(test_dialer_needs_ca_and_key_with_cert),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nng_fini();
    return rc;
}
