/*
 * Unit tests for check_smtp's failures before any SMTP: an address that is
 * not numeric, and a loopback port nobody listens on (refused at once),
 * each reported with what was tried; a listener that never speaks: the
 * probe ends at the caller's deadline ("timed out"), or at once when the
 * stop flag is set ("stopped"). The dialogue itself (STARTTLS, TLS,
 * certificates) is covered by tests/e2e/test_check.sh. One thread; the only
 * socket is on 127.0.0.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "check_dns.h"
#include "check_smtp.h"

/* bound_socket binds a TCP socket to a free loopback port, stored in *port;
 * listening (never accepting: connections complete in the kernel's backlog
 * and nothing is ever sent) when listening is true. */
static int bound_socket(bool listening, unsigned *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (listening)
        assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* closed_port returns a loopback port that was free a moment ago. */
static unsigned closed_port(void)
{
    unsigned port;
    close(bound_socket(false, &port));
    return port;
}

static void test_failures(void **state)
{
    (void)state;
    struct check_smtp out;
    char err[512] = "";
    assert_int_equal(check_smtp_probe("mx.example.com", "mx.example.com", 25,
                                      NULL, NULL, &out, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "'mx.example.com' is not an IP address"));
    unsigned port = closed_port();
    char want[64];
    snprintf(want, sizeof(want), "connect to 127.0.0.1 port %u: ", port);
    assert_int_equal(check_smtp_probe("mx.example.com", "127.0.0.1", port, NULL,
                                      NULL, &out, err, sizeof(err)),
                     -1);
    if (strstr(err, want) == NULL || strstr(err, "refused") == NULL)
        fail_msg("'%s' lacks '%s' and 'refused'", err, want);
    assert_false(out.starttls);
    assert_string_equal(out.tls_version, "");
}

static void test_deadline(void **state)
{
    (void)state;
    struct check_smtp out;
    char err[512] = "";
    unsigned port;
    int fd = bound_socket(true, &port);
    atomic_bool stop = false;
    struct check_bound b = {.deadline_ms = mono_ms() + 300, .stop = &stop};
    assert_int_equal(check_smtp_probe("mx.example.com", "127.0.0.1", port, NULL,
                                      &b, &out, err, sizeof(err)),
                     -1);
    if (strstr(err, "connecting: timed out (the probe's ") == NULL)
        fail_msg("'%s' does not say the greeting timed out", err);
    b.deadline_ms = 0; /* CHECK_SMTP_TIMEOUT_MS only, but stopped at once */
    atomic_store(&stop, true);
    assert_int_equal(check_smtp_probe("mx.example.com", "127.0.0.1", port, NULL,
                                      &b, &out, err, sizeof(err)),
                     -1);
    /* Seen while the connect is in progress, or at the greeting. */
    if (strcmp(err, "TCP connect: stopped (shutting down)") != 0 &&
        strcmp(err, "connecting: stopped (shutting down)") != 0)
        fail_msg("'%s' does not say the probe was stopped", err);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
