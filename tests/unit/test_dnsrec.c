/*
 * Unit tests for dnsrec: exact zone-file and JSON output for one and several
 * domains, with and without TLS-RPT URIs and a CNAME target, and the
 * splitting of long TXT strings into 255-byte character-strings. Runs in
 * one thread, touches no files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnsrec.h"

static const struct dnsrec_domain one[] = {{"example.com", "abc123"}};
static const struct dnsrec_domain dot[] = {{"example.com.", "abc123"}};
static const struct dnsrec_domain two[] = {{"example.com", "abc123"},
                                           {"example.net", "Zz9"}};
static const char *const rua1[] = {"mailto:tls@example.com"};
static const char *const rua2[] = {"mailto:tls@example.com",
                                   "https://r.example.com/v1"};

#define NOTE(d)                                                                \
    "; mta-sts." d " must resolve to this host (A/AAAA, or a CNAME to it); "   \
    "use --target HOST to print the record\n"

struct zone_case {
    const char *name;
    struct dnsrec_input in;
    const char *expect;
};

static const struct zone_case zone_cases[] = {
    {"one domain, nothing else",
     {one, 1, NULL, 0, NULL, NULL, NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n" NOTE(
         "example.com")},
    {"one domain, rua and target",
     {one, 1, rua1, 1, "host.example.org", NULL, NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n"
     "_smtp._tls.example.com. IN TXT \"v=TLSRPTv1; "
     "rua=mailto:tls@example.com\"\n"
     "mta-sts.example.com. IN CNAME host.example.org.\n"},
    {"domain with trailing dot",
     {dot, 1, NULL, 0, NULL, NULL, NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n" NOTE(
         "example.com")},
    {"target with trailing dot",
     {one, 1, NULL, 0, "host.example.org.", NULL, NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n"
     "mta-sts.example.com. IN CNAME host.example.org.\n"},
    {"target with two dots",
     {one, 1, NULL, 0, "host.example.org..", NULL, NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n"
     "mta-sts.example.com. IN CNAME host.example.org.\n"},
    {"empty target is none",
     {one, 1, NULL, 0, "", NULL, NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n" NOTE(
         "example.com")},
    {"two domains, two rua, no target",
     {two, 2, rua2, 2, NULL, NULL, NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n"
     "_smtp._tls.example.com. IN TXT \"v=TLSRPTv1; "
     "rua=mailto:tls@example.com,https://r.example.com/v1\"\n" NOTE(
         "example.com") "\n"
                        "; example.net\n"
                        "_mta-sts.example.net. IN TXT \"v=STSv1; id=Zz9\"\n"
                        "_smtp._tls.example.net. IN TXT \"v=TLSRPTv1; "
                        "rua=mailto:tls@example.com,https://r.example.com/"
                        "v1\"\n" NOTE("example.net")},
    {"two domains with target",
     {two, 2, NULL, 0, "mta-sts.provider.example", NULL, NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n"
     "mta-sts.example.com. IN CNAME mta-sts.provider.example.\n"
     "\n"
     "; example.net\n"
     "_mta-sts.example.net. IN TXT \"v=STSv1; id=Zz9\"\n"
     "mta-sts.example.net. IN CNAME mta-sts.provider.example.\n"},
    {"no domains", {one, 0, rua1, 1, "h.example", NULL, NULL}, ""},
    {"reception: this host's URI after the configured ones",
     {two, 2, rua1, 1, NULL, "/tlsrpt", NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n"
     "_smtp._tls.example.com. IN TXT \"v=TLSRPTv1; "
     "rua=mailto:tls@example.com,https://mta-sts.example.com/tlsrpt\"\n" NOTE(
         "example.com") "\n"
                        "; example.net\n"
                        "_mta-sts.example.net. IN TXT \"v=STSv1; id=Zz9\"\n"
                        "_smtp._tls.example.net. IN TXT \"v=TLSRPTv1; "
                        "rua=mailto:tls@example.com,https://mta-sts.example."
                        "net/tlsrpt\"\n" NOTE("example.net")},
    {"reception alone",
     {one, 1, NULL, 0, "h.example", "/r", NULL},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n"
     "_smtp._tls.example.com. IN TXT \"v=TLSRPTv1; "
     "rua=https://mta-sts.example.com/r\"\n"
     "mta-sts.example.com. IN CNAME h.example.\n"},
    {"delegated: the customer's CNAMEs, the provider's TXT",
     {two, 2, rua1, 1, "h.example", NULL, "sts.provider.example"},
     "; example.com\n"
     "; in the zone of example.com (the customer):\n"
     "_mta-sts.example.com. IN CNAME _mta-sts.example.com.sts.provider."
     "example.\n"
     "_smtp._tls.example.com. IN TXT \"v=TLSRPTv1; "
     "rua=mailto:tls@example.com\"\n"
     "mta-sts.example.com. IN CNAME h.example.\n"
     "; in the zone of sts.provider.example (the provider):\n"
     "_mta-sts.example.com.sts.provider.example. IN TXT \"v=STSv1; "
     "id=abc123\"\n"
     "\n"
     "; example.net\n"
     "; in the zone of example.net (the customer):\n"
     "_mta-sts.example.net. IN CNAME _mta-sts.example.net.sts.provider."
     "example.\n"
     "_smtp._tls.example.net. IN TXT \"v=TLSRPTv1; "
     "rua=mailto:tls@example.com\"\n"
     "mta-sts.example.net. IN CNAME h.example.\n"
     "; in the zone of sts.provider.example (the provider):\n"
     "_mta-sts.example.net.sts.provider.example. IN TXT \"v=STSv1; "
     "id=Zz9\"\n"},
    {"delegated to an empty zone: none",
     {one, 1, NULL, 0, NULL, NULL, ""},
     "; example.com\n"
     "_mta-sts.example.com. IN TXT \"v=STSv1; id=abc123\"\n" NOTE(
         "example.com")},
    {"delegated, a zone with its dot, no target",
     {one, 1, NULL, 0, NULL, NULL, "p.example."},
     "; example.com\n"
     "; in the zone of example.com (the customer):\n"
     "_mta-sts.example.com. IN CNAME _mta-sts.example.com.p.example.\n" NOTE(
         "example.com") "; in the zone of p.example (the provider):\n"
                        "_mta-sts.example.com.p.example. IN TXT \"v=STSv1; "
                        "id=abc123\"\n"},
};

static void test_zone(void **state)
{
    const struct zone_case *tc = *state;
    struct buf b;
    buf_init(&b, 65536);
    assert_int_equal(dnsrec_zone(&b, &tc->in), 0);
    assert_string_equal(b.data != NULL ? b.data : "", tc->expect);
    buf_free(&b);
}

static void test_sts_txt(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(dnsrec_sts_txt(&b, "example.com", "20240101T000000"), 0);
    assert_string_equal(
        b.data,
        "_mta-sts.example.com. IN TXT \"v=STSv1; id=20240101T000000\"\n");
    /* It appends; a name with its trailing dot renders the same. */
    assert_int_equal(dnsrec_sts_txt(&b, "example.net.", "x"), 0);
    assert_string_equal(
        b.data, "_mta-sts.example.com. IN TXT \"v=STSv1; id=20240101T000000\"\n"
                "_mta-sts.example.net. IN TXT \"v=STSv1; id=x\"\n");
    buf_free(&b);
}

/*
 * txt_strings parses the quoted character-strings after "IN TXT " on the
 * _smtp._tls line of zone, checks each is at most 255 bytes, and returns
 * their concatenation (caller frees) and their count.
 */
static char *txt_strings(const char *zone, size_t *count)
{
    const char *line = strstr(zone, "_smtp._tls.");
    assert_non_null(line);
    const char *p = strstr(line, " IN TXT ");
    assert_non_null(p);
    p += strlen(" IN TXT ");
    char *out = calloc(1, strlen(zone) + 1);
    assert_non_null(out);
    size_t o = 0;
    *count = 0;
    while (*p == '"') {
        const char *end = strchr(p + 1, '"');
        assert_non_null(end);
        size_t n = (size_t)(end - p - 1);
        assert_true(n <= 255);
        memcpy(out + o, p + 1, n);
        o += n;
        (*count)++;
        p = end + 1;
        if (*p == ' ')
            p++;
    }
    assert_int_equal(*p, '\n');
    return out;
}

static void test_long_rua_split(void **state)
{
    (void)state;
    /* 12 URIs of 36 bytes: "v=TLSRPTv1; rua=" (16) + 12*36 + 11 commas
     * = 459 bytes, so 255 + 204 in two strings. */
    char uris[12][41];
    const char *rua[12];
    for (int i = 0; i < 12; i++) {
        snprintf(uris[i], sizeof(uris[i]),
                 "mailto:reports-%02d@tlsrpt.example.org", i);
        assert_int_equal(strlen(uris[i]), 36);
        rua[i] = uris[i];
    }
    struct dnsrec_input in = {one, 1, rua, 12, NULL, NULL, NULL};
    struct buf b;
    buf_init(&b, 65536);
    assert_int_equal(dnsrec_zone(&b, &in), 0);
    size_t count = 0;
    char *joined = txt_strings(b.data, &count);
    size_t want = 16 + 12 * 36 + 11;
    assert_int_equal(strlen(joined), want);
    assert_int_equal(count, 2);
    assert_true(strncmp(joined, "v=TLSRPTv1; rua=mailto:reports-00@", 34) == 0);
    assert_non_null(strstr(joined, ",mailto:reports-11@tlsrpt.example.org"));
    /* The first string is exactly 255 bytes. */
    const char *first = strstr(b.data, "_smtp._tls.example.com. IN TXT \"");
    assert_non_null(first);
    first += strlen("_smtp._tls.example.com. IN TXT \"");
    assert_int_equal(first[255], '"');
    assert_int_equal(first[256], ' ');
    assert_int_equal(first[257], '"');
    free(joined);
    buf_free(&b);
}

static void test_exact_255(void **state)
{
    (void)state;
    /* "v=TLSRPTv1; rua=" + 239 bytes = 255: one string; 240 makes two. */
    char uri[300];
    const char *rua[1] = {uri};
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = 239 + (size_t)extra;
        memcpy(uri, "mailto:", 7);
        memset(uri + 7, 'a', n - 7 - 12);
        memcpy(uri + n - 12, "@example.org", 13);
        assert_int_equal(strlen(uri), n);
        struct dnsrec_input in = {one, 1, rua, 1, NULL, NULL, NULL};
        struct buf b;
        buf_init(&b, 65536);
        assert_int_equal(dnsrec_zone(&b, &in), 0);
        size_t count = 0;
        char *joined = txt_strings(b.data, &count);
        assert_int_equal(strlen(joined), 16 + n);
        assert_int_equal(count, (size_t)(1 + extra));
        free(joined);
        buf_free(&b);
    }
}

static void test_zone_escapes(void **state)
{
    (void)state;
    /* Unvalidated input cannot break out of the quoted string. */
    static const char *const rua[] = {"mailto:a\"b\\c@x.example"};
    struct dnsrec_input in = {one, 1, rua, 1, "h.example", NULL, NULL};
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(dnsrec_zone(&b, &in), 0);
    assert_non_null(strstr(b.data, "IN TXT \"v=TLSRPTv1; "
                                   "rua=mailto:a\\\"b\\\\c@x.example\"\n"));
    buf_free(&b);
}

/*
 * txt_decode reads the character-strings after "IN TXT " on the
 * _smtp._tls line of zone as a resolver would (RFC 1035 §5.1: \DDD is a
 * byte in decimal, \X is X), checks that each holds at most 255 bytes and
 * that only visible ASCII and the space appear raw, and returns their
 * concatenation in out.
 */
static size_t txt_decode(const char *zone, char *out, size_t outlen)
{
    const char *p = strstr(zone, "_smtp._tls.");
    assert_non_null(p);
    p = strstr(p, " IN TXT ");
    assert_non_null(p);
    p += strlen(" IN TXT ");
    size_t o = 0;
    for (;;) {
        assert_int_equal(*p, '"');
        size_t start = o;
        for (p++; *p != '"'; p++) {
            unsigned char c = (unsigned char)*p;
            assert_true(c >= 0x20 && c < 0x7f);
            assert_true(o < outlen);
            if (c != '\\') {
                out[o++] = (char)c;
            } else if (p[1] >= '0' && p[1] <= '9') {
                assert_true(p[2] >= '0' && p[2] <= '9' && p[3] >= '0' &&
                            p[3] <= '9');
                unsigned v = (unsigned)(p[1] - '0') * 100 +
                             (unsigned)(p[2] - '0') * 10 +
                             (unsigned)(p[3] - '0');
                assert_true(v < 256);
                out[o++] = (char)v;
                p += 3;
            } else {
                assert_true(p[1] != '\0');
                out[o++] = *++p;
            }
        }
        assert_true(o - start <= 255);
        p++;
        if (*p == '\n')
            return o;
        assert_int_equal(*p, ' ');
        p++;
    }
}

/*
 * test_txt_all_bytes puts every byte value (but NUL, which a C string
 * cannot hold) into a TLS-RPT value: '"' and '\\' come out as \" and \\,
 * bytes below 0x20 and from 0x7f up as \DDD, the rest as is; and all of
 * them in one value read back byte for byte.
 */
static void test_txt_all_bytes(void **state)
{
    (void)state;
    char all[256];
    for (unsigned c = 1; c < 256; c++) {
        char uri[4] = {'a', (char)c, 'b', '\0'};
        const char *rua[1] = {uri};
        struct dnsrec_input in = {one, 1, rua, 1, NULL, NULL, NULL};
        char enc[8], want[128];
        if (c == '"' || c == '\\')
            snprintf(enc, sizeof(enc), "\\%c", (char)c);
        else if (c < 0x20 || c >= 0x7f)
            snprintf(enc, sizeof(enc), "\\%03u", c);
        else
            snprintf(enc, sizeof(enc), "%c", (char)c);
        snprintf(want, sizeof(want),
                 "\n_smtp._tls.example.com. IN TXT \"v=TLSRPTv1; rua=a%sb\"\n",
                 enc);
        struct buf b;
        buf_init(&b, 4096);
        assert_int_equal(dnsrec_zone(&b, &in), 0);
        if (strstr(b.data, want) == NULL)
            fail_msg("byte 0x%02x: %s", c, b.data);
        buf_free(&b);
        all[c - 1] = (char)c;
    }
    all[255] = '\0';
    const char *rua[1] = {all};
    struct dnsrec_input in = {one, 1, rua, 1, NULL, NULL, NULL};
    struct buf b;
    buf_init(&b, 65536);
    assert_int_equal(dnsrec_zone(&b, &in), 0);
    char got[512];
    assert_int_equal(txt_decode(b.data, got, sizeof(got)), 16 + 255);
    assert_memory_equal(got, "v=TLSRPTv1; rua=", 16);
    assert_memory_equal(got + 16, all, 255);
    buf_free(&b);
}

static void test_zone_cap(void **state)
{
    (void)state;
    struct dnsrec_input in = {two, 2, rua2, 2, NULL, NULL, NULL};
    struct buf b;
    buf_init(&b, 64); /* far too small */
    assert_int_equal(dnsrec_zone(&b, &in), -1);
    buf_free(&b);
    buf_init(&b, 64);
    assert_int_equal(dnsrec_json(&b, &in), -1);
    buf_free(&b);
}

struct json_case {
    const char *name;
    struct dnsrec_input in;
    const char *expect;
};

static const struct json_case json_cases[] = {
    {"json one domain bare",
     {one, 1, NULL, 0, NULL, NULL, NULL},
     "{\"domains\":[{\"domain\":\"example.com\","
     "\"mta_sts\":{\"name\":\"_mta-sts.example.com.\",\"type\":\"TXT\","
     "\"value\":\"v=STSv1; id=abc123\"},"
     "\"tlsrpt\":null,\"cname\":null,\"provider_mta_sts\":null}]}"},
    {"json two domains full",
     {two, 2, rua2, 2, "h.example.", NULL, NULL},
     "{\"domains\":[{\"domain\":\"example.com\","
     "\"mta_sts\":{\"name\":\"_mta-sts.example.com.\",\"type\":\"TXT\","
     "\"value\":\"v=STSv1; id=abc123\"},"
     "\"tlsrpt\":{\"name\":\"_smtp._tls.example.com.\",\"type\":\"TXT\","
     "\"value\":\"v=TLSRPTv1; "
     "rua=mailto:tls@example.com,https://r.example.com/v1\"},"
     "\"cname\":{\"name\":\"mta-sts.example.com.\",\"type\":\"CNAME\","
     "\"value\":\"h.example.\"},\"provider_mta_sts\":null},"
     "{\"domain\":\"example.net\","
     "\"mta_sts\":{\"name\":\"_mta-sts.example.net.\",\"type\":\"TXT\","
     "\"value\":\"v=STSv1; id=Zz9\"},"
     "\"tlsrpt\":{\"name\":\"_smtp._tls.example.net.\",\"type\":\"TXT\","
     "\"value\":\"v=TLSRPTv1; "
     "rua=mailto:tls@example.com,https://r.example.com/v1\"},"
     "\"cname\":{\"name\":\"mta-sts.example.net.\",\"type\":\"CNAME\","
     "\"value\":\"h.example.\"},\"provider_mta_sts\":null}]}"},
    {"json target without dot",
     {one, 1, NULL, 0, "h.example", NULL, NULL},
     "{\"domains\":[{\"domain\":\"example.com\","
     "\"mta_sts\":{\"name\":\"_mta-sts.example.com.\",\"type\":\"TXT\","
     "\"value\":\"v=STSv1; id=abc123\"},\"tlsrpt\":null,"
     "\"cname\":{\"name\":\"mta-sts.example.com.\",\"type\":\"CNAME\","
     "\"value\":\"h.example.\"},\"provider_mta_sts\":null}]}"},
    {"json no domains",
     {one, 0, NULL, 0, NULL, NULL, NULL},
     "{\"domains\":[]}"},
    {"json delegated to a provider zone",
     {one, 1, NULL, 0, "h.example", NULL, "sts.provider.example."},
     "{\"domains\":[{\"domain\":\"example.com\","
     "\"mta_sts\":{\"name\":\"_mta-sts.example.com.\",\"type\":\"CNAME\","
     "\"value\":\"_mta-sts.example.com.sts.provider.example.\"},"
     "\"tlsrpt\":null,"
     "\"cname\":{\"name\":\"mta-sts.example.com.\",\"type\":\"CNAME\","
     "\"value\":\"h.example.\"},"
     "\"provider_mta_sts\":{\"name\":"
     "\"_mta-sts.example.com.sts.provider.example.\",\"type\":\"TXT\","
     "\"value\":\"v=STSv1; id=abc123\"}}]}"},
};

/*
 * json_value walks a JSON text with a minimal recursive-descent reader and
 * returns the number of bytes it spans, or 0 when it is not well formed.
 */
static size_t json_value(const char *s, size_t i);

static size_t json_string(const char *s, size_t i)
{
    if (s[i] != '"')
        return 0;
    for (i++; s[i] != '\0'; i++) {
        if ((unsigned char)s[i] < 0x20)
            return 0;
        if (s[i] == '\\') {
            i++;
            if (s[i] == '\0')
                return 0;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

static size_t json_container(const char *s, size_t i, char open, char close)
{
    if (s[i] != open)
        return 0;
    i++;
    if (s[i] == close)
        return i + 1;
    for (;;) {
        if (open == '{') {
            i = json_string(s, i);
            if (i == 0 || s[i] != ':')
                return 0;
            i++;
        }
        i = json_value(s, i);
        if (i == 0)
            return 0;
        if (s[i] == close)
            return i + 1;
        if (s[i] != ',')
            return 0;
        i++;
    }
}

static size_t json_value(const char *s, size_t i)
{
    if (s[i] == '"')
        return json_string(s, i);
    if (s[i] == '{')
        return json_container(s, i, '{', '}');
    if (s[i] == '[')
        return json_container(s, i, '[', ']');
    if (strncmp(s + i, "null", 4) == 0)
        return i + 4;
    return 0;
}

static void test_json(void **state)
{
    const struct json_case *tc = *state;
    struct buf b;
    buf_init(&b, 65536);
    assert_int_equal(dnsrec_json(&b, &tc->in), 0);
    assert_non_null(b.data);
    assert_int_equal(json_value(b.data, 0), b.len);
    assert_string_equal(b.data, tc->expect);
    buf_free(&b);
}

static void test_json_escapes(void **state)
{
    (void)state;
    static const struct dnsrec_domain d[] = {{"ex\"ample.com", "i\\d"}};
    struct dnsrec_input in = {d, 1, NULL, 0, NULL, NULL, NULL};
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(dnsrec_json(&b, &in), 0);
    assert_int_equal(json_value(b.data, 0), b.len);
    assert_non_null(strstr(b.data, "\"domain\":\"ex\\\"ample.com\""));
    assert_non_null(strstr(b.data, "\"value\":\"v=STSv1; id=i\\\\d\""));
    buf_free(&b);
}

int main(void)
{
    enum { N_ZONE = sizeof(zone_cases) / sizeof(zone_cases[0]) };
    enum { N_JSON = sizeof(json_cases) / sizeof(json_cases[0]) };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_sts_txt),
        cmocka_unit_test(test_long_rua_split),
        cmocka_unit_test(test_exact_255),
        cmocka_unit_test(test_zone_escapes),
        cmocka_unit_test(test_zone_cap),
        cmocka_unit_test(test_json_escapes),
        cmocka_unit_test(test_txt_all_bytes),
    };
    enum { N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
    struct CMUnitTest tests[N_FIXED + N_ZONE + N_JSON];
    size_t n = 0;
    for (size_t i = 0; i < N_FIXED; i++)
        tests[n++] = fixed[i];
    for (size_t i = 0; i < N_ZONE; i++) {
        struct CMUnitTest t = {zone_cases[i].name, test_zone, NULL, NULL,
                               (void *)&zone_cases[i]};
        tests[n++] = t;
    }
    for (size_t i = 0; i < N_JSON; i++) {
        struct CMUnitTest t = {json_cases[i].name, test_json, NULL, NULL,
                               (void *)&json_cases[i]};
        tests[n++] = t;
    }
    return _cmocka_run_group_tests("dnsrec", tests, n, NULL, NULL);
}
