/*
 * Unit tests for check_parse: TXT string joining and wire names (good and
 * broken rdata), the `_mta-sts` and `_smtp._tls` record sets (count,
 * grammar, the id, the rua URIs, each error's text) and MX coverage by
 * policy patterns (exact and one-label wildcards). Table-driven; one
 * thread, no files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "check_parse.h"

/* ---- TXT joining --------------------------------------------------------- */

struct join_case {
    const char *rdata;
    size_t len;
    const char *want; /* NULL: an error containing err */
    const char *err;
};

static const struct join_case join_cases[] = {
    {"\x07v=STSv1", 8, "v=STSv1", NULL},
    {"\x08v=STSv1;\x07 id=abc", 17, "v=STSv1; id=abc", NULL},
    {"", 0, "", NULL},
    {"\x00\x03"
     "abc",
     5, "abc", NULL},
    {"\x05"
     "abc",
     4, NULL, "claims 5 bytes, only 3 remain"},
    {"\x03"
     "a\0c",
     4, NULL, "NUL byte"},
    {"\x03"
     "ab\0",
     4, NULL, "NUL byte"},
};

static void test_txt_join(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(join_cases) / sizeof(*join_cases); i++) {
        const struct join_case *c = &join_cases[i];
        char out[64], err[CHECK_ERR_MAX] = "";
        long n = check_txt_join((const unsigned char *)c->rdata, c->len, out,
                                sizeof(out), err, sizeof(err));
        if (c->want != NULL) {
            assert_int_equal(n, (long)strlen(c->want));
            assert_string_equal(out, c->want);
        } else {
            assert_int_equal(n, -1);
            assert_non_null(strstr(err, c->err));
        }
    }
    /* Too small an output buffer is an error, never a cut record. */
    char small[4], err[CHECK_ERR_MAX];
    assert_int_equal(check_txt_join((const unsigned char *)"\x04"
                                                           "abcd",
                                    5, small, sizeof(small), err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "longer than 3 bytes"));
}

/* ---- wire names ---------------------------------------------------------- */

struct name_case {
    const char *wire;
    size_t len;
    const char *want;
    size_t used;
    const char *err;
};

static const struct name_case name_cases[] = {
    {"\x03mx1\x07"
     "Example\x03"
     "com\x00",
     17, "mx1.example.com", 17, NULL},
    {"\x00", 1, ".", 1, NULL},
    {"\x02"
     "ab\x00trailing",
     12, "ab", 4, NULL},
    {"\x03mx1\xc0\x0c", 6, NULL, 0, "compression"},
    {"\x03mx1", 4, NULL, 0, "without its root label"},
    {"\x05mx1", 4, NULL, 0, "runs past the end"},
    {"\x03m x\x00", 5, NULL, 0, "found byte 0x20"},
    {"", 0, NULL, 0, "without its root label"},
    {"\x08_mta-sts\x07"
     "example\x00",
     18, "_mta-sts.example", 18, NULL},
};

static void test_wire_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(name_cases) / sizeof(*name_cases); i++) {
        const struct name_case *c = &name_cases[i];
        char out[CHECK_NAME_MAX], err[CHECK_ERR_MAX] = "";
        size_t used = 0;
        int rc = check_wire_name((const unsigned char *)c->wire, c->len, out,
                                 &used, err, sizeof(err));
        if (c->want != NULL) {
            assert_int_equal(rc, 0);
            assert_string_equal(out, c->want);
            assert_int_equal(used, c->used);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, c->err));
        }
    }
    /* Labels of 63, 63, 63 and 61: 253 characters, the most there is;
     * one more label of one letter makes 255. */
    static const unsigned char sizes[] = {63, 63, 63, 61, 1};
    unsigned char wire[300];
    size_t o = 0, ends[5];
    for (int l = 0; l < 5; l++) {
        wire[o++] = sizes[l];
        memset(wire + o, 'a', sizes[l]);
        o += sizes[l];
        ends[l] = o;
    }
    wire[o++] = 0;
    char out[CHECK_NAME_MAX], err[CHECK_ERR_MAX];
    assert_int_equal(check_wire_name(wire, o, out, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 253"));
    wire[ends[3]] = 0;
    assert_int_equal(
        check_wire_name(wire, ends[3] + 1, out, NULL, err, sizeof(err)), 0);
    assert_int_equal(strlen(out), 253);
    /* 251 letters, but with the dots 254 characters. */
    wire[ends[3] - 61 - 1] = 62;
    wire[ends[3]] = 'a';
    wire[ends[3] + 1] = 0;
    assert_int_equal(
        check_wire_name(wire, ends[3] + 2, out, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 253"));
    /* A label of 63 bytes is the longest; 64 would be a pointer's range. */
    unsigned char label[66] = {64};
    memset(label + 1, 'a', 64);
    label[65] = 0;
    assert_int_equal(
        check_wire_name(label, sizeof(label), out, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at most 63"));
    label[0] = 63;
    label[64] = 0;
    assert_int_equal(check_wire_name(label, 65, out, NULL, err, sizeof(err)),
                     0);
    assert_int_equal(strlen(out), 63);
}

/* ---- record sets --------------------------------------------------------- */

#define MAXR 4

struct sts_case {
    const char *recs[MAXR];
    enum check_rec_status want;
    const char *id_or_err; /* the id with OK, a piece of the error else */
};

static const struct sts_case sts_cases[] = {
    {{"v=STSv1; id=20240101T000000"}, CHECK_REC_OK, "20240101T000000"},
    {{"v=STSv1;id=abc;"}, CHECK_REC_OK, "abc"},
    {{"v=STSv1 ;\tid=abc ; ext=x.y-z"}, CHECK_REC_OK, "abc"},
    {{"v=STSv1; id=abcdefghijklmnopqrstuvwxyz012345"},
     CHECK_REC_OK,
     "abcdefghijklmnopqrstuvwxyz012345"},
    {{"v=spf1 -all", "v=STSv1; id=one"}, CHECK_REC_OK, "one"},
    {{NULL}, CHECK_REC_NONE, "found no TXT record"},
    {{"v=spf1 -all"}, CHECK_REC_NONE, "found only other TXT records"},
    {{"V=STSv1; id=abc"}, CHECK_REC_NONE, "expected a record starting"},
    {{"v=STSv1; id=a", "v=STSv1; id=b"}, CHECK_REC_MANY, "found 2"},
    {{"v=STSv1"}, CHECK_REC_INVALID, "expected fields after v=STSv1"},
    {{"v=STSv1;"}, CHECK_REC_INVALID, "expected fields after v=STSv1"},
    {{"v=STSv1x; id=abc"}, CHECK_REC_INVALID, "expected ';' after v=STSv1"},
    {{"v=STSv1; ext=1"}, CHECK_REC_INVALID, "expected an id field"},
    {{"v=STSv1; id="}, CHECK_REC_INVALID, "found ''"},
    {{"v=STSv1; id=abc-1"}, CHECK_REC_INVALID, "found 'abc-1'"},
    {{"v=STSv1; id=abcdefghijklmnopqrstuvwxyz0123456"},
     CHECK_REC_INVALID,
     "1 to 32 letters and digits"},
    {{"v=STSv1; id=a; id=b"}, CHECK_REC_INVALID, "found a second"},
    {{"v=STSv1; id=a b"}, CHECK_REC_INVALID, "found 'a b'"},
    {{"v=STSv1; id=a x=1"}, CHECK_REC_INVALID, "found 'a x=1'"},
    {{"v=STSv1; id"}, CHECK_REC_INVALID, "expected '=' after field name 'id'"},
    {{"v=STSv1; _x=1; id=a"}, CHECK_REC_INVALID, "expected a field name"},
    {{"v=STSv1; id=a; ext=a=b"}, CHECK_REC_INVALID, "other than '='"},
    {{"v=STSv1; id=a; abcdefghijklmnopqrstuvwxyz012345=1"}, CHECK_REC_OK, "a"},
    {{"v=STSv1; id=abc \t ; x=1"}, CHECK_REC_OK, "abc"},
    {{"v=STSv1; id=a; ext=a\x7f"}, CHECK_REC_INVALID, "visible characters"},
    {{"v=STSv1; id=a; ext=a b"}, CHECK_REC_INVALID, "found 'a b'"},
    {{"v=STSv1; id=a; ext="}, CHECK_REC_INVALID, "expected a value for 'ext'"},
    {{"v=STSv1; id=a; abcdefghijklmnopqrstuvwxyz0123456=1"},
     CHECK_REC_INVALID,
     "expected a field name"},
};

static size_t fill(const char *const *src, const char **recs, size_t *lens)
{
    size_t n = 0;
    while (n < MAXR && src[n] != NULL) {
        recs[n] = src[n];
        lens[n] = strlen(src[n]);
        n++;
    }
    return n;
}

static void test_sts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(sts_cases) / sizeof(*sts_cases); i++) {
        const struct sts_case *c = &sts_cases[i];
        const char *recs[MAXR];
        size_t lens[MAXR];
        size_t n = fill(c->recs, recs, lens);
        struct check_sts out;
        check_sts_select(recs, lens, n, &out);
        if (out.status != c->want)
            fail_msg("case %zu: status %s, want %s (%s)", i,
                     check_rec_status_name(out.status),
                     check_rec_status_name(c->want), out.err);
        if (c->want == CHECK_REC_OK)
            assert_string_equal(out.id, c->id_or_err);
        else if (strstr(out.err, c->id_or_err) == NULL)
            fail_msg("case %zu: error '%s' lacks '%s'", i, out.err,
                     c->id_or_err);
    }
    /* Extension fields are counted; an id never survives an error. */
    const char *r[] = {"v=STSv1; a=1; id=x; b.c=2"};
    size_t l[] = {strlen(r[0])};
    struct check_sts out;
    check_sts_select(r, l, 1, &out);
    assert_int_equal(out.n_ext, 2);
    const char *bad[] = {"v=STSv1; id=good; id=second"};
    size_t bl[] = {strlen(bad[0])};
    check_sts_select(bad, bl, 1, &out);
    assert_string_equal(out.id, "");
    assert_int_equal(out.n_records, 1);
}

struct rpt_case {
    const char *recs[MAXR];
    enum check_rec_status want;
    size_t n_rua;
    const char *err;
};

static const struct rpt_case rpt_cases[] = {
    {{"v=TLSRPTv1; rua=mailto:tls@example.com"}, CHECK_REC_OK, 1, NULL},
    {{"v=TLSRPTv1;rua=mailto:a@example.com , https://r.example.com/x;"},
     CHECK_REC_OK,
     2,
     NULL},
    {{"v=TLSRPTv1; ext=1; rua=https://r.example.com"}, CHECK_REC_OK, 1, NULL},
    {{"v=spf1", "v=STSv1; id=x"}, CHECK_REC_NONE, 0, "\"v=TLSRPTv1\""},
    {{"v=TLSRPTv1; rua=mailto:a@example.com",
      "v=TLSRPTv1; rua=mailto:b@example.com"},
     CHECK_REC_MANY,
     0,
     "found 2"},
    {{"v=TLSRPTv1"}, CHECK_REC_INVALID, 0, "expected fields"},
    {{"v=TLSRPTv1; ext=1"}, CHECK_REC_INVALID, 0, "expected a rua field"},
    {{"v=TLSRPTv1; rua=http://r.example.com"},
     CHECK_REC_INVALID,
     0,
     "rua URI 'http://r.example.com'"},
    {{"v=TLSRPTv1; rua=mailto:a@example.com,"},
     CHECK_REC_INVALID,
     0,
     "expected a mailto: or https: URI in rua, found ''"},
    {{"v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com"},
     CHECK_REC_INVALID,
     0,
     "found a second"},
    {{"v=TLSRPTv1, rua=mailto:a@example.com"},
     CHECK_REC_INVALID,
     0,
     "expected ';' after v=TLSRPTv1"},
};

static void test_tlsrpt(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rpt_cases) / sizeof(*rpt_cases); i++) {
        const struct rpt_case *c = &rpt_cases[i];
        const char *recs[MAXR];
        size_t lens[MAXR];
        size_t n = fill(c->recs, recs, lens);
        struct check_tlsrpt out;
        check_tlsrpt_select(recs, lens, n, &out);
        if (out.status != c->want)
            fail_msg("case %zu: status %s, want %s (%s)", i,
                     check_rec_status_name(out.status),
                     check_rec_status_name(c->want), out.err);
        assert_int_equal(out.n_rua, c->n_rua);
        if (c->err != NULL && strstr(out.err, c->err) == NULL)
            fail_msg("case %zu: error '%s' lacks '%s'", i, out.err, c->err);
    }
    /* More than CHECK_RUA_MAX URIs are refused, not cut. */
    char rec[2048] = "v=TLSRPTv1; rua=mailto:a@example.com";
    for (int k = 0; k < CHECK_RUA_MAX; k++) {
        size_t l = strlen(rec);
        snprintf(rec + l, sizeof(rec) - l, ",mailto:a%d@example.com", k);
    }
    const char *r[] = {rec};
    size_t l[] = {strlen(rec)};
    struct check_tlsrpt out;
    check_tlsrpt_select(r, l, 1, &out);
    assert_int_equal(out.status, CHECK_REC_INVALID);
    assert_non_null(strstr(out.err, "at most 16 rua URIs"));
}

/* ---- MX coverage --------------------------------------------------------- */

struct mx_case {
    const char *mx[MAXR];
    const char *pat[MAXR];
    const char *covered; /* per MX: '1' or '0' */
    const char *used;    /* per pattern */
    size_t problems;
};

static const struct mx_case mx_cases[] = {
    {{"mx1.example.com", "mx2.example.com"},
     {"mx1.example.com", "mx2.example.com"},
     "11",
     "11",
     0},
    {{"mx1.example.com", "mx2.example.com"}, {"*.example.com"}, "11", "1", 0},
    {{"MX1.Example.com."}, {"mx1.example.com"}, "1", "1", 0},
    {{"mx1.example.com", "new.example.net"}, {"mx1.example.com"}, "10", "1", 1},
    {{"mx1.example.com"}, {"mx1.example.com", "old.example.com"}, "1", "10", 1},
    {{"a.b.example.com"}, {"*.example.com"}, "0", "0", 1},
    {{"example.com"}, {"*.example.com"}, "0", "0", 1},
    {{"mx1.example.com"}, {"mx1.example.com", "*.other.net"}, "1", "10", 0},
    {{NULL}, {"mx1.example.com"}, "", "0", 1},
    {{"mx1.example.com"}, {NULL}, "0", "", 1},
};

static void test_mx_cover(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(mx_cases) / sizeof(*mx_cases); i++) {
        const struct mx_case *c = &mx_cases[i];
        size_t n_mx = 0, n_pat = 0;
        while (n_mx < MAXR && c->mx[n_mx] != NULL)
            n_mx++;
        while (n_pat < MAXR && c->pat[n_pat] != NULL)
            n_pat++;
        bool cov[MAXR], used[MAXR];
        size_t p = check_mx_cover(c->mx, n_mx, c->pat, n_pat, cov, used);
        if (p != c->problems)
            fail_msg("case %zu: %zu problems, want %zu", i, p, c->problems);
        for (size_t k = 0; k < n_mx; k++)
            assert_int_equal(cov[k], c->covered[k] == '1');
        for (size_t k = 0; k < n_pat; k++)
            assert_int_equal(used[k], c->used[k] == '1');
    }
}

/* ---- SMTP replies -------------------------------------------------------- */

struct reply_case {
    const char *in;
    int rc, code;
    bool starttls;
    size_t used;
    const char *err;
};

static const struct reply_case reply_cases[] = {
    {"220 mx.example.com ESMTP\r\n", 1, 220, false, 26, NULL},
    {"250-mx.example.com\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
     1, 250, true, 64, NULL},
    {"250-mx\r\n250 starttls\r\n", 1, 250, true, 22, NULL},
    {"250-mx\r\n250 STARTTLSX\r\n", 1, 250, false, 23, NULL},
    {"250-mx\r\n250-XSTARTTLS\r\n250 OK\r\n", 1, 250, false, 31, NULL},
    {"250\r\nextra", 1, 250, false, 5, NULL},
    {"220 ok\n", 1, 220, false, 7, NULL},
    {"250-mx\r\n250-STARTTLS\r\n", 0, 0, false, 0, NULL},
    {"220 partial", 0, 0, false, 0, NULL},
    {"", 0, 0, false, 0, NULL},
    {"HTTP/1.1 400 Bad Request\r\n", -1, 0, false, 0, "found 'HTTP/1.1"},
    {"250-mx\r\n251 OK\r\n", -1, 0, false, 0, "expected code 250 on every"},
    {"2500 x\r\n", -1, 0, false, 0, "3 digits, then '-' or ' '"},
    {"199 x\r\n", -1, 0, false, 0, "found '199 x'"},
    {"250x\r\n", -1, 0, false, 0, "3 digits, then '-' or ' '"},
};

static void test_smtp_reply(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(*reply_cases); i++) {
        const struct reply_case *c = &reply_cases[i];
        struct check_smtp_reply r = {0};
        char err[CHECK_ERR_MAX] = "";
        int rc = check_smtp_reply(c->in, strlen(c->in), &r, err, sizeof(err));
        if (rc != c->rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, c->rc, err);
        if (rc == 1) {
            assert_int_equal(r.code, c->code);
            assert_int_equal(r.starttls, c->starttls);
            assert_int_equal(r.used, c->used);
        }
        if (c->err != NULL && strstr(err, c->err) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, c->err);
    }
}

/* ---- --resolver ---------------------------------------------------------- */

struct res_case {
    const char *in, *want, *err;
};

static const struct res_case res_cases[] = {
    {"127.0.0.1", "127.0.0.1@53", NULL},
    {"127.0.0.1:5353", "127.0.0.1@5353", NULL},
    {"::1", "::1@53", NULL},
    {"[::1]:5300", "::1@5300", NULL},
    {"[2001:db8::1]", "2001:db8::1@53", NULL},
    {"127.0.0.1:0", NULL, "port of 1 to 65535, found '0'"},
    {"127.0.0.1:65536", NULL, "found '65536'"},
    {"127.0.0.1:+53", NULL, "found '+53'"},
    {"127.0.0.1:", NULL, "found ''"},
    {"ns.example.com", NULL, "numeric IP address, found 'ns.example.com'"},
    {"ns.example.com:53", NULL, "found 'ns.example.com'"},
    {"[::1", NULL, "expected [IPv6]:PORT"},
    {"[::1]x", NULL, "expected [IPv6]:PORT"},
    {"", NULL, "expected an IP address"},
};

static void test_resolver_addr(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(res_cases) / sizeof(*res_cases); i++) {
        const struct res_case *c = &res_cases[i];
        char out[64] = "", err[CHECK_ERR_MAX] = "";
        int rc = check_resolver_addr(c->in, out, sizeof(out), err, sizeof(err));
        if (c->want != NULL) {
            assert_int_equal(rc, 0);
            assert_string_equal(out, c->want);
        } else if (rc != -1 || strstr(err, c->err) == NULL) {
            fail_msg("case '%s': rc %d, error '%s', want '%s'", c->in, rc, err,
                     c->err);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt_join),   cmocka_unit_test(test_wire_name),
        cmocka_unit_test(test_sts),        cmocka_unit_test(test_tlsrpt),
        cmocka_unit_test(test_mx_cover),   cmocka_unit_test(test_resolver_addr),
        cmocka_unit_test(test_smtp_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
