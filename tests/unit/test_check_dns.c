/*
 * Unit tests for check_dns that need no DNS server: resolver and trust
 * anchor setup errors are reported with what was wrong, and the DNSSEC
 * names. Answers from a real server (and a server that does not answer)
 * are covered by tests/e2e/test_check.sh. One thread, no sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_errors),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
