/*
 * test_tlsrpt_rate: the per-address rate limit for TLS report submissions
 * (server/tlsrpt_rate.c): a burst up to the rate, refill over time, one
 * address not touching another, IPv6 by /64 and IPv4-mapped addresses as
 * IPv4, no limit at 0, and a table that stays bounded under many
 * addresses. Pure: the tests pass the time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "tlsrpt_rate.h"

/* burst counts how many submissions addr gets at now_ms, up to max. */
static int burst(struct tlsrpt_rate *r, const char *addr, int64_t now_ms,
                 int max)
{
    int n = 0;
    while (n < max && tlsrpt_rate_allow(r, addr, now_ms))
        n++;
    return n;
}

static void test_bucket(void **state)
{
    (void)state;
    struct tlsrpt_rate *r = tlsrpt_rate_new(60, 42);
    assert_non_null(r);
    /* A full bucket: 60 at once, then none. */
    assert_int_equal(burst(r, "192.0.2.1", 1000, 100), 60);
    assert_false(tlsrpt_rate_allow(r, "192.0.2.1", 1000));
    /* One a second comes back. */
    assert_false(tlsrpt_rate_allow(r, "192.0.2.1", 1999));
    assert_true(tlsrpt_rate_allow(r, "192.0.2.1", 2000));
    assert_false(tlsrpt_rate_allow(r, "192.0.2.1", 2000));
    assert_int_equal(burst(r, "192.0.2.1", 12000, 100), 10);
    /* Never more than the bucket holds, however long it waited. */
    assert_int_equal(burst(r, "192.0.2.1", 100000000, 100), 60);
    /* Others are not affected. */
    assert_int_equal(burst(r, "192.0.2.2", 12000, 100), 60);
    tlsrpt_rate_free(r);
    tlsrpt_rate_free(NULL);
}

static void test_keys(void **state)
{
    (void)state;
    struct tlsrpt_rate *r = tlsrpt_rate_new(5, 7);
    /* One /64 is one client. */
    assert_int_equal(burst(r, "2001:db8:1:2::1", 0, 10), 5);
    assert_false(tlsrpt_rate_allow(r, "2001:db8:1:2:ffff::9", 0));
    assert_true(tlsrpt_rate_allow(r, "2001:db8:1:3::1", 0));
    /* IPv4 and the same address mapped into IPv6 share a bucket. */
    assert_int_equal(burst(r, "198.51.100.7", 0, 10), 5);
    assert_false(tlsrpt_rate_allow(r, "::ffff:198.51.100.7", 0));
    /* Text that is no address still counts. */
    assert_int_equal(burst(r, "-", 0, 10), 5);
    tlsrpt_rate_free(r);

    r = tlsrpt_rate_new(0, 7);
    assert_int_equal(burst(r, "192.0.2.1", 0, 1000), 1000);
    tlsrpt_rate_free(r);
}

/* Many more addresses than entries: old ones are evicted (and come back
 * with a full bucket), and a busy one that keeps coming stays limited. */
static void test_many(void **state)
{
    (void)state;
    struct tlsrpt_rate *r = tlsrpt_rate_new(3, 99);
    char addr[64];
    assert_int_equal(burst(r, "203.0.113.9", 0, 10), 3);
    for (int i = 0; i < 4 * TLSRPT_RATE_ENTRIES; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.%d", (i >> 16) & 255,
                 (i >> 8) & 255, i & 255);
        assert_true(tlsrpt_rate_allow(r, addr, i / 1000));
        /* The busy client keeps knocking, and stays limited (it earns
         * 3 a minute; this loop lasts 32 ms of its clock). */
        if (i % 64 == 0)
            assert_false(tlsrpt_rate_allow(r, "203.0.113.9", i / 1000));
    }
    tlsrpt_rate_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
