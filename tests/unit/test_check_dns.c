/*
 * Unit tests for check_dns that need no DNS server: resolver and trust
 * anchor setup errors are reported with what was wrong, and the DNSSEC
 * names; a lookup sent to a loopback UDP socket that never answers ends
 * at the caller's deadline ("timed out"), and at once when the stop flag
 * is set ("stopped"), without being asked when the deadline has passed.
 * Answers from a real server are covered by tests/e2e/test_check.sh, a
 * whole `check` through a silent server by tests/e2e/test_deadlines.sh.
 * One thread (plus libunbound's); the only socket is on 127.0.0.1.
 */
#include <setjmp.h>
#include <stdarg.h>
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

struct setup_case {
    const char *resolver, *anchor, *err;
};

static const struct setup_case setup_cases[] = {
    {"ns.example.com", NULL, "numeric IP address"},
    {"127.0.0.1:99999", NULL, "port of 1 to 65535"},
    {"127.0.0.1:5353", "/nonexistent/anchor.key",
     "trust anchor /nonexistent/anchor.key: No such file"},
};

static void test_setup_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(setup_cases) / sizeof(*setup_cases); i++) {
        char err[CHECK_ERR_MAX] = "";
        struct check_dns *dns = check_dns_new(
            setup_cases[i].resolver, setup_cases[i].anchor, err, sizeof(err));
        assert_null(dns);
        if (strstr(err, setup_cases[i].err) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, setup_cases[i].err);
    }
    check_dns_free(NULL);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(check_dnssec_name(CHECK_DNSSEC_SECURE), "secure");
    assert_string_equal(check_dnssec_name(CHECK_DNSSEC_INSECURE), "insecure");
    assert_string_equal(check_dnssec_name(CHECK_DNSSEC_BOGUS), "bogus");
}

/* silent_resolver binds a loopback UDP socket that is never read from (its
 * queries wait unanswered) and writes its ADDR:PORT into addr. */
static int silent_resolver(char *addr, size_t addrlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(addr, addrlen, "127.0.0.1:%u", ntohs(sa.sin_port));
    return fd;
}

static void test_deadline(void **state)
{
    (void)state;
    char addr[64], err[CHECK_ERR_MAX] = "";
    int fd = silent_resolver(addr, sizeof(addr));
    struct check_dns *dns = check_dns_new(addr, "none", err, sizeof(err));
    assert_non_null(dns);
    struct check_answer a;
    atomic_bool stop = false;

    /* A deadline a fraction of a second away ends the wait. */
    check_dns_set_deadline(dns, mono_ms() + 300);
    assert_int_equal(check_dns_lookup(dns, "_mta-sts.example.com", CHECK_RR_TXT,
                                      &a, err, sizeof(err)),
                     -1);
    check_answer_free(&a);
    if (strstr(err, "_mta-sts.example.com TXT: timed out (no answer within") ==
        NULL)
        fail_msg("'%s' does not say the lookup timed out", err);

    /* A deadline already passed: refused before it is asked. */
    check_dns_set_deadline(dns, mono_ms() - 1);
    assert_int_equal(
        check_dns_lookup(dns, "example.com", CHECK_RR_MX, &a, err, sizeof(err)),
        -1);
    check_answer_free(&a);
    assert_string_equal(
        err, "example.com MX: timed out (the time budget was spent)");

    /* The stop flag ends it although the deadline is far. */
    check_dns_set_deadline(dns, mono_ms() + 3600 * 1000);
    check_dns_set_stop(dns, &stop);
    atomic_store(&stop, true);
    assert_int_equal(check_dns_lookup(dns, "mx.example.com", CHECK_RR_AAAA, &a,
                                      err, sizeof(err)),
                     -1);
    check_answer_free(&a);
    assert_string_equal(err, "mx.example.com AAAA: stopped (shutting down)");
    check_dns_free(dns);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_errors),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
