/*
 * Unit tests for dnsname: every validation rule with its boundary and the
 * offset and wording of its error, normalisation into exactly sized
 * buffers (Host headers of 255, 256 and 257 bytes into 256), and wildcard
 * matching of exactly one left-most label.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dnsname.h"

#define W DNSNAME_WILDCARD
#define D DNSNAME_DOMAIN
#define U DNSNAME_UNDERSCORE

#define A10 "aaaaaaaaaa"
#define A59 A10 A10 A10 A10 A10 "aaaaaaaaa"
#define A60 A59 "a"
#define A61 A60 "a"
#define A62 A61 "a"
#define A63 A62 "a"
#define A64 A63 "a"
/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 characters. */
#define N253 A63 "." A63 "." A63 "." A61
#define N254 A63 "." A63 "." A63 "." A62

struct check_case {
    const char *name;
    unsigned flags;
    int rc;
    size_t where;     /* offset of the problem, when rc is -1 */
    const char *text; /* a piece of the error, when rc is -1 */
};

static const struct check_case check_cases[] = {
    /* Plain LDH names. */
    {"example.com", 0, 0, 0, NULL},
    {"Example.COM", D, 0, 0, NULL},
    {"a", 0, 0, 0, NULL},
    {"a-b.c-d.example", D, 0, 0, NULL},
    {"1-mx.ex-ample.com", D, 0, 0, NULL},
    {"xn--bcher-kva.de", D, 0, 0, NULL},
    {"123.example", D, 0, 0, NULL},
    {"a--b.example", D, 0, 0, NULL},
    {"", 0, -1, 0, "found an empty name"},
    {".", 0, -1, 0, "empty label"},
    {"..", 0, -1, 0, "empty label"},
    {".example.com", 0, -1, 0, "empty label (a leading dot"},
    {"mx..example.com", 0, -1, 3, "empty label"},
    {"example.com..", 0, -1, 12, "empty label"},
    {"example.com.", 0, -1, 11, "without a trailing dot"},
    {"-mx.example.com", 0, -1, 0,
     "start with a letter or digit, found '-' at the start of \"-mx\""},
    {"mx-.example.com", 0, -1, 2,
     "end with a letter or digit, found '-' at the end of \"mx-\""},
    {"mx.example-", 0, -1, 10, "at the end of \"example-\""},
    {"-", 0, -1, 0, "start with a letter or digit"},
    {"a b.com", 0, -1, 1, "found ' ' (a space)"},
    {"a\tb.com", 0, -1, 1, "found '\\x09' (a tab)"},
    {"a\x01.com", 0, -1, 1, "'\\x01' (a control character)"},
    {"mx.example.com/25", 0, -1, 14, "found '/'"},
    {"mx.example.com:25", 0, -1, 14, "found ':'"},
    {"[::1]", 0, -1, 0, "found '['"},
    {"a\\b.com", 0, -1, 1, "found '\\x5c'"},
    {"b\xc3\xbc"
     "cher.de",
     0, -1, 1,
     "found '\\xc3' (non-ASCII); write internationalised names in "
     "their A-label form (xn--...)"},
    /* Underscores: only with the option. */
    {"_mta.example.com", 0, -1, 0, "underscores are not allowed"},
    {"exa_mple.com", D, -1, 3, "found '_'"},
    {"_mta-sts.example.com", U, 0, 0, NULL},
    {"a_b.example", U | D, 0, 0, NULL},
    /* Length limits: 63 per label, 253 in all. */
    {A63 ".example", D, 0, 0, NULL},
    {A64 ".example", D, -1, 63,
     "expected a label of at most 63 characters, found 64 in \"aaaa"},
    {"x." A64, 0, -1, 65, "found 64"},
    {N253, D, 0, 0, NULL},
    {N254, D, -1, 253,
     "expected a host name of at most 253 characters, found 254"},
    {N253 "a.", 0, -1, 254, "trailing dot"},
    /* Two labels, the last not numeric. */
    {"localhost", 0, 0, 0, NULL},
    {"localhost", D, -1, 0, "found a single label \"localhost\""},
    {"com", D, -1, 0, "single label"},
    {"192.0.2.1", 0, 0, 0, NULL},
    {"192.0.2.1", D, -1, 0, "found an IP address (the last label is numeric"},
    {"example.123", D, -1, 0, "the last label is numeric"},
    {"example.1a", D, 0, 0, NULL},
    /* Wildcards: only with the option, only as the whole left-most label. */
    {"*.example.com", W | D, 0, 0, NULL},
    {"*.Example.COM", W, 0, 0, NULL},
    {"*.com", W | D, 0, 0, NULL}, /* the policy warns about it, not dnsname */
    {"*.com", W, 0, 0, NULL},
    {"*.example.com", D, -1, 0, "a wildcard is not allowed here"},
    {"*", W, -1, 0, "found '*' alone"},
    {"*", 0, -1, 0, "a wildcard is not allowed here"},
    {"*.", W, -1, 2, "expected a domain after '*.', found the end"},
    {"*..", W, -1, 2, "empty label"},
    {"*.example.com.", W, -1, 13, "trailing dot"},
    {"*example.com", W, -1, 1, "expected '.' after the wildcard '*'"},
    {"**.example.com", W, -1, 1, "found '*'"},
    {"*\xc3\xa4.example.com", W, -1, 1, "found '\\xc3' (non-ASCII)"},
    {"a.*.example.com", W, -1, 2, "only allowed as the whole left-most label"},
    {"*.*.example.com", W, -1, 2, "left-most label"},
    {"mx*.example.com", W, -1, 2, "covers exactly one label"},
    {"example.*", W, -1, 8, "left-most label"},
    {"*.-a.example", W, -1, 2, "start with a letter or digit"},
    {"*.192.0.2.1", W | D, -1, 0, "IP address"},
    {"*." A63 ".example", W, 0, 0, NULL},
    {"*." A64 ".example", W, -1, 65, "at most 63"},
    {"*." A63 "." A63 "." A63 "." A59, W, 0, 0, NULL},
    {"*." A63 "." A63 "." A63 "." A60, W, -1, 253, "found 254"},
};

static void test_check(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
        const struct check_case *tc = &check_cases[i];
        char err[256] = "";
        size_t where = 9999;
        int rc = dnsname_check(tc->name, strlen(tc->name), tc->flags, &where,
                               err, sizeof(err));
        bool ok =
            rc == tc->rc &&
            (rc == 0 || (where == tc->where && strstr(err, tc->text) != NULL));
        if (!ok)
            print_message("\"%s\" flags %u -> %d at %zu \"%s\"\n", tc->name,
                          tc->flags, rc, where, err);
        assert_true(ok);
    }
}

static void test_check_edges(void **state)
{
    (void)state;
    char err[16];
    size_t where = 1;
    /* The length counts, not the NUL: "ab" checked as one byte is "a". */
    assert_int_equal(dnsname_check("ab", 1, 0, NULL, NULL, 0), 0);
    assert_int_equal(dnsname_check("a\0b", 3, 0, &where, NULL, 0), -1);
    assert_int_equal(where, 1);
    assert_int_equal(dnsname_check(NULL, 0, 0, &where, err, sizeof(err)), -1);
    assert_int_equal(where, 0);
    /* A message longer than the buffer is cut with "...". */
    assert_int_equal(dnsname_check("-", 1, 0, NULL, err, sizeof(err)), -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_string_equal(err + sizeof(err) - 4, "...");
}

/* One input through both normalisers; NULL: refused. */
struct norm_case {
    const char *in, *name, *host;
};

static const struct norm_case norm_cases[] = {
    {"Example.COM", "example.com", "example.com"},
    {"example.com.", "example.com", "example.com"},
    {"MX.Example.Com.", "mx.example.com", "mx.example.com"},
    {"*.Example.COM", "*.example.com", NULL},
    {"B\xc3\x9c.de", "b\xc3\x9c.de", NULL}, /* only ASCII is folded */
    {"a_b", "a_b", "a_b"},                  /* dnsname_check's business */
    {"_acme.example.com", "_acme.example.com", "_acme.example.com"},
    {"localhost", "localhost", "localhost"},
    {"a.", "a", "a"},
    {".a", ".a", ".a"},
    {"", NULL, NULL},
    {".", NULL, NULL},
    {"..", NULL, NULL},
    {"a..", NULL, NULL}, /* not "a.": the result is a fixed point */
    {"example.com..", NULL, NULL},
    /* Ports: a Host header's business only. */
    {"example.com:443", "example.com:443", "example.com"},
    {"MTA-STS.Example.com.:8443", "mta-sts.example.com.:8443",
     "mta-sts.example.com"},
    {"example.com.:1", "example.com.:1", "example.com"},
    {"127.0.0.1:8443", "127.0.0.1:8443", "127.0.0.1"},
    {":443", ":443", NULL},
    {".:443", ".:443", NULL},
    {"example.com:", "example.com:", NULL},
    {"example.com:44x", "example.com:44x", NULL},
    {"example.com:-1", "example.com:-1", NULL},
    {"example.com:443:443", "example.com:443:443", NULL},
    {"[::1]", "[::1]", NULL},
    {"[::1]:443", "[::1]:443", NULL},
    {"::1", "::1", NULL},
    {"a b", "a b", NULL},
    {"ex\xc3\xa9.com", "ex\xc3\xa9.com", NULL},
    {"example.com/x", "example.com/x", NULL},
    {"user@example.com", "user@example.com", NULL},
};

/* expect_norm asserts one outcome: want, or a refusal that left out
 * alone. */
static void expect_norm(const char *what, const char *in, const char *want,
                        int rc, const char *out)
{
    bool ok = want != NULL ? rc == 0 && strcmp(out, want) == 0
                           : rc == -1 && strcmp(out, "untouched") == 0;
    if (!ok)
        print_message("%s \"%s\" -> %d \"%s\"\n", what, in, rc, out);
    assert_true(ok);
}

static void test_normalize(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
        const struct norm_case *tc = &norm_cases[i];
        char out[64] = "untouched";
        int rc = dnsname_normalize(tc->in, strlen(tc->in), out, sizeof(out));
        expect_norm("name", tc->in, tc->name, rc, out);
        snprintf(out, sizeof(out), "untouched");
        rc = dnsname_normalize_host(tc->in, out, sizeof(out));
        expect_norm("host", tc->in, tc->host, rc, out);
    }
    /* An embedded NUL is refused; the length, not the NUL, ends the name. */
    char out[8];
    assert_int_equal(dnsname_normalize("a\0b", 3, out, sizeof(out)), -1);
    assert_int_equal(dnsname_normalize("AbC", 2, out, sizeof(out)), 0);
    assert_string_equal(out, "ab");
    /* The output and its NUL must fit: 7 characters in 8 bytes, not 8. */
    assert_int_equal(dnsname_normalize("ABCDEFG", 7, out, sizeof(out)), 0);
    assert_string_equal(out, "abcdefg");
    assert_int_equal(dnsname_normalize("ABCDEFGH", 8, out, sizeof(out)), -1);
    assert_int_equal(dnsname_normalize("ABCDEFG.", 8, out, sizeof(out)), 0);
    assert_int_equal(dnsname_normalize("a", 1, out, 1), -1);
    assert_int_equal(dnsname_normalize("a", 1, out, 0), -1);
    assert_int_equal(dnsname_normalize(NULL, 0, out, sizeof(out)), -1);
    assert_int_equal(dnsname_normalize_host("example.com", out, 4), -1);
    assert_int_equal(dnsname_normalize_host("abc", out, 4), 0);
    assert_int_equal(dnsname_normalize_host(NULL, out, sizeof(out)), -1);
    /* In place, as config_check_domain uses it. */
    char name[] = "Example.COM.";
    assert_int_equal(dnsname_normalize(name, strlen(name), name, sizeof(name)),
                     0);
    assert_string_equal(name, "example.com");
}

/* host_of builds a Host header of n characters "AAA...A" plus suffix in
 * buf, which has room for 300. */
static const char *host_of(char *buf, size_t n, const char *suffix)
{
    memset(buf, 'A', n);
    snprintf(buf + n, 300 - n, "%s", suffix);
    return buf;
}

static void test_host_buffer_boundary(void **state)
{
    (void)state;
    /* The router fills a 256-byte stack buffer from the Host header: 255
     * characters and the NUL fit, one more does not, whatever the port or
     * trailing dot around them. */
    char in[300], out[256];
    memset(out, 'x', sizeof(out));
    assert_int_equal(
        dnsname_normalize_host(host_of(in, 255, ""), out, sizeof(out)), 0);
    assert_int_equal(strlen(out), 255);
    assert_int_equal(out[0], 'a');
    assert_int_equal(
        dnsname_normalize_host(host_of(in, 256, ""), out, sizeof(out)), -1);
    assert_int_equal(
        dnsname_normalize_host(host_of(in, 257, ""), out, sizeof(out)), -1);
    assert_int_equal(
        dnsname_normalize_host(host_of(in, 255, "."), out, sizeof(out)), 0);
    assert_int_equal(strlen(out), 255);
    assert_int_equal(
        dnsname_normalize_host(host_of(in, 255, ":443"), out, sizeof(out)), 0);
    assert_int_equal(strlen(out), 255);
    assert_int_equal(
        dnsname_normalize_host(host_of(in, 255, ".:443"), out, sizeof(out)), 0);
    assert_int_equal(
        dnsname_normalize_host(host_of(in, 256, ".:443"), out, sizeof(out)),
        -1);
    assert_int_equal(
        dnsname_normalize_host(host_of(in, 256, ":443"), out, sizeof(out)), -1);
    /* A refused name leaves the buffer alone; nothing is written past it. */
    char guard[258];
    memset(guard, '#', sizeof(guard));
    assert_int_equal(dnsname_normalize_host(host_of(in, 257, ""), guard, 256),
                     -1);
    assert_int_equal(guard[0], '#');
    assert_int_equal(guard[256], '#');
    assert_int_equal(dnsname_normalize_host(host_of(in, 255, ""), guard, 256),
                     0);
    assert_int_equal(guard[255], '\0');
    assert_int_equal(guard[256], '#');
}

static void test_parent_and_base(void **state)
{
    (void)state;
    static const struct {
        const char *in, *parent, *base; /* NULL: none */
    } cases[] = {
        {"a.example.com", "example.com", NULL},
        {"a.b.example.com", "b.example.com", NULL},
        {"a.com", "com", NULL},
        {"example", NULL, NULL},
        {".example.com", NULL, NULL},
        {"a.", NULL, NULL},
        {"a*.example.com", NULL, NULL},
        {"a.*.example.com", "*.example.com", NULL}, /* no base has a '*' */
        {"*.example.com", NULL, "example.com"},
        {"*.com", NULL, "com"},
        {"*.", NULL, NULL},
        {"*", NULL, NULL},
        {"*.*.example.com", NULL, NULL},
        {"*.a*.example.com", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *parent = dnsname_parent(cases[i].in);
        const char *base = dnsname_wildcard_base(cases[i].in);
        if (cases[i].parent == NULL)
            assert_null(parent);
        else
            assert_string_equal(parent, cases[i].parent);
        if (cases[i].base == NULL)
            assert_null(base);
        else
            assert_string_equal(base, cases[i].base);
    }
    assert_null(dnsname_parent(NULL));
    assert_null(dnsname_wildcard_base(NULL));
}

struct match_case {
    const char *pattern, *name;
    bool match;
};

static void test_match(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        /* RFC 8461 §4.1: one left-most label, not zero, not two. */
        {"*.example.com", "a.example.com", true},
        {"*.example.com", "mx1.example.com", true},
        {"*.example.com", "example.com", false},
        {"*.example.com", "a.b.example.com", false},
        {"*.example.com", ".example.com", false},
        {"*.example.com", "a.example.org", false},
        {"*.example.com", "aexample.com", false},
        {"*.example.com", "a.xexample.com", false},
        /* Case and one trailing dot do not matter, on either side. */
        {"*.Example.COM", "A.example.com", true},
        {"*.example.com.", "a.EXAMPLE.com.", true},
        {"MX.example.com", "mx.example.com.", true},
        {"mx.example.com", "mx.example.com", true},
        {"mx.example.com", "mx2.example.com", false},
        {"mx.example.com", "example.com", false},
        {"*.com", "example.com", true},
        /* A wildcard in the name is not a name. */
        {"*.example.com", "*.example.com", false},
        {"mx.example.com", "*.example.com", false},
        /* Patterns and names that do not validate match nothing. */
        {"*", "a", false},
        {"*.", "a.", false},
        {"a.*.example.com", "a.b.example.com", false},
        {"*.*.example.com", "a.b.example.com", false},
        {"mx*.example.com", "mx1.example.com", false},
        {"*.ex_ample.com", "a.ex_ample.com", false},
        {"ex_ample.com", "ex_ample.com", false},
        {"*.example.com", "-a.example.com", false},
        {"*.example.com", "a..example.com", false},
        {"*.example.com", "a.example.com..", false},
        {"*.example.com", "", false},
        {"", "", false},
        {"*.example.com", "b\xc3\xbc.example.com", false},
        {"*.example.com", A64 ".example.com", false},
        {"*.example.com", A63 ".example.com", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool m = dnsname_match(cases[i].pattern, cases[i].name);
        if (m != cases[i].match)
            print_message("\"%s\" ~ \"%s\" -> %d\n", cases[i].pattern,
                          cases[i].name, m);
        assert_true(m == cases[i].match);
    }
    assert_false(dnsname_match(NULL, "a.example.com"));
    assert_false(dnsname_match("*.example.com", NULL));
    /* Over-long names never match, even equal ones. */
    assert_true(dnsname_match(N253, N253));
    assert_false(dnsname_match(N254, N254));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_edges),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_host_buffer_boundary),
        cmocka_unit_test(test_parent_and_base),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
