/*
 * test_tlsrpt_parse: table-driven tests of the TLS report parser
 * (server/tlsrpt_parse.c): the RFC 8460 §4 example, the quirks of real
 * senders it accepts (no time zone, mx-host as a string or an array, no or
 * an empty sending-mta-ip, null, extra fields, a byte order mark), what it
 * refuses and what the messages say (counts past 2^40, one by one and per
 * policy's failure-details), the strings it drops or replaces (an address
 * or host name that is not one, a result type with control bytes), timestamps,
 * gzip detection, inflating with its size and ratio caps (a gzip bomb), and the
 * canonical JSON form. Pure: no I/O; gzip input is made here with zlib.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "diag.h"
#include "tlsrpt_parse.h"

/* Pieces of a report; REPORT(...) puts the given policies[] entries in a
 * report with the RFC 8460 example's header fields. */
#define HEAD_NO_RANGE                                                          \
    "\"organization-name\": \"Company-X\",\n"                                  \
    "\"contact-info\": \"sts-reporting@company-x.example\",\n"                 \
    "\"report-id\": \"5065427c-23d3-47ca-b6e0-946ea0e8c4be\",\n"
#define RANGE                                                                  \
    "\"date-range\": {\"start-datetime\": \"2016-04-01T00:00:00Z\",\n"         \
    "  \"end-datetime\": \"2016-04-01T23:59:59Z\"},\n"
#define HEAD HEAD_NO_RANGE RANGE
#define REPORT(pols) "{\n" HEAD "\"policies\": [" pols "]\n}\n"
#define POLICY(body, fails)                                                    \
    "{\"policy\": {" body "},\n"                                               \
    " \"summary\": {\"total-successful-session-count\": 5326,\n"               \
    "  \"total-failure-session-count\": 303}" fails "}"
#define STS                                                                    \
    "\"policy-type\": \"sts\",\n"                                              \
    "\"policy-string\": [\"version: STSv1\", \"mode: testing\",\n"             \
    "  \"mx: *.mail.company-y.example\", \"max_age: 86400\"],\n"               \
    "\"policy-domain\": \"company-y.example\""
#define FAILS(entries) ",\n\"failure-details\": [" entries "]"
#define FAIL1                                                                  \
    "{\"result-type\": \"certificate-expired\",\n"                             \
    " \"sending-mta-ip\": \"2001:db8:abcd:0012::1\",\n"                        \
    " \"receiving-mx-hostname\": \"mx1.mail.company-y.example\",\n"            \
    " \"failed-session-count\": 100}"
#define FAIL2                                                                  \
    "{\"result-type\": \"starttls-not-supported\",\n"                          \
    " \"sending-mta-ip\": \"2001:db8:abcd:0013::1\",\n"                        \
    " \"receiving-mx-hostname\": \"mx2.mail.company-y.example\",\n"            \
    " \"receiving-ip\": \"203.0.113.56\",\n"                                   \
    " \"failed-session-count\": 200,\n"                                        \
    " \"additional-information\": \"https://reports.company-x.example/\"}"
#define FAIL3                                                                  \
    "{\"result-type\": \"validation-failure\",\n"                              \
    " \"sending-mta-ip\": \"198.51.100.62\",\n"                                \
    " \"receiving-ip\": \"203.0.113.58\",\n"                                   \
    " \"receiving-mx-hostname\": \"mx-backup.mail.company-y.example\",\n"      \
    " \"failed-session-count\": 3,\n"                                          \
    " \"failure-reason-code\": \"X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED\"}"

/* The RFC 8460 §4.9 example (mx-host a string, as printed there). */
static const char rfc_example[] =
    REPORT(POLICY(STS ",\n\"mx-host\": \"*.mail.company-y.example\"",
                  FAILS(FAIL1 ",\n" FAIL2 ",\n" FAIL3)));

struct pcase {
    const char *name;
    const char *in;
    bool ok;
    unsigned line, col; /* of the first error, when !ok and known */
    const char *msg;    /* substring of the first error or a warning */
    int warnings;       /* exact number of warnings */
};

#define OK(n, s, w, m)                                                         \
    {                                                                          \
        n, s, true, 0, 0, m, w                                                 \
    }
#define BAD(n, s, m)                                                           \
    {                                                                          \
        n, s, false, 0, 0, m, 0                                                \
    }
#define BADAT(n, s, l, c, m)                                                   \
    {                                                                          \
        n, s, false, l, c, m, 0                                                \
    }

#define MINPOL POLICY(STS, "")
#define ONE(field_and_comma)                                                   \
    REPORT(POLICY(STS, FAILS("{" field_and_comma                               \
                             "\"result-type\": \"validation-failure\", "       \
                             "\"failed-session-count\": 1}")))
#define FAILN(n)                                                               \
    "{\"result-type\": \"validation-failure\", \"failed-session-count\": " n "}"
#define ONE_TYPE(type, n)                                                      \
    REPORT(POLICY(STS, FAILS("{\"result-type\": \"" type "\", "                \
                             "\"failed-session-count\": " n "}")))
#define WITH_RANGE(start, end)                                                 \
    "{" HEAD_NO_RANGE "\"date-range\": {\"start-datetime\": \"" start          \
    "\", \"end-datetime\": \"" end "\"},\n\"policies\": [" MINPOL "]}"

static const struct pcase cases[] = {
    OK("rfc example", rfc_example, 0, NULL),
    OK("mx-host array (erratum 6241)",
       REPORT(
           POLICY(STS ", \"mx-host\": [\"mx1.example\", \"mx2.example\"]", "")),
       0, NULL),
    OK("no mx-host, no failure-details (Microsoft)", REPORT(MINPOL), 0, NULL),
    OK("no-policy-found without policy-string",
       REPORT(POLICY("\"policy-type\": \"no-policy-found\", "
                     "\"policy-domain\": \"example.org\"",
                     "")),
       0, NULL),
    OK("timestamps without a time zone",
       WITH_RANGE("2024-02-16T00:00:00", "2024-02-16T23:59:59"), 2,
       "date-range.start-datetime: no time zone in \"2024-02-16T00:00:00\", "
       "taken as UTC"),
    OK("offsets, fractions, lower case and a space",
       WITH_RANGE("2024-02-16t02:00:00.123+02:00", "2024-02-16 23:59:59z"), 0,
       NULL),
    OK("failure without sending-mta-ip", ONE(""), 0, NULL),
    OK("failure with an empty sending-mta-ip",
       ONE("\"sending-mta-ip\": \"\", "), 0, NULL),
    OK("null for optional fields",
       ONE("\"sending-mta-ip\": null, \"receiving-ip\": null, "
           "\"additional-information\": null, "),
       0, NULL),
    OK("extra fields anywhere",
       "{\"x-extra\": {\"a\": [1, 2]}, " HEAD "\"policies\": [{\"x\": 1, "
       "\"policy\": {" STS ", \"policy-extra\": true}, \"summary\": "
       "{\"total-successful-session-count\": 1, "
       "\"total-failure-session-count\": 0, \"z\": null}}]}",
       0, NULL),
    OK("byte order mark", "\xef\xbb\xbf" REPORT(MINPOL), 0, NULL),
    OK("unknown policy-type is kept with a warning",
       REPORT(POLICY("\"policy-type\": \"dane\", "
                     "\"policy-domain\": \"example.org\"",
                     "")),
       1, "policies[0].policy.policy-type: expected \"sts\", \"tlsa\" or"),
    OK("policy-domain in upper case with a trailing dot",
       REPORT(POLICY("\"policy-type\": \"sts\", "
                     "\"policy-domain\": \"Company-Y.Example.\"",
                     "")),
       0, NULL),
    OK("empty contact-info",
       "{\"contact-info\": \"\", " RANGE
       "\"organization-name\": \"o\", \"report-id\": \"r\", "
       "\"policies\": [" MINPOL "]}",
       0, NULL),

    /* JSON syntax: line and column from jansson. */
    BADAT("not JSON", "hello", 1, 5, "found invalid JSON"),
    BADAT("truncated", "{\n\"organization-name\": \"x\",\n", 3, 0,
          "found invalid JSON"),
    BADAT("duplicate key", "{\"report-id\": \"a\",\n \"report-id\": \"b\"}", 2,
          0, "duplicate object key"),
    BAD("empty input", "", "found invalid JSON"),
    BAD("top level array", "[1]",
        "expected a TLS report (a JSON object), found an array"),

    /* Required fields. */
    BAD("no organization-name",
        "{\"contact-info\": \"c\", \"report-id\": \"r\", " RANGE
        "\"policies\": [" MINPOL "]}",
        "organization-name: expected a string, found nothing (required)"),
    BAD("empty report-id",
        "{\"organization-name\": \"o\", \"contact-info\": \"c\", "
        "\"report-id\": \"\", " RANGE "\"policies\": [" MINPOL "]}",
        "report-id: expected a non-empty string, found \"\""),
    BAD("organization-name a number",
        "{\"organization-name\": 7, \"contact-info\": \"c\", "
        "\"report-id\": \"r\", " RANGE "\"policies\": [" MINPOL "]}",
        "organization-name: expected a string, found 7"),
    BAD("no date-range", "{" HEAD_NO_RANGE "\"policies\": [" MINPOL "]}",
        "date-range: expected an object, found nothing (required)"),
    BAD("no policies", "{" HEAD "\"x\": 1}",
        "policies: expected an array, found nothing (required)"),
    BAD("empty policies", REPORT(""),
        "policies: expected at least one policy, found none"),
    BAD("policy not an object", REPORT("3"),
        "policies[0]: expected an object, found 3"),
    BAD("no summary", REPORT("{\"policy\": {" STS "}}"),
        "policies[0].summary: expected an object, found nothing"),
    BAD("no policy-domain", REPORT(POLICY("\"policy-type\": \"sts\"", "")),
        "policies[0].policy.policy-domain: expected a string, found "
        "nothing (required)"),
    BAD("no policy-type",
        REPORT(POLICY("\"policy-domain\": \"example.org\"", "")),
        "policies[0].policy.policy-type: expected a string"),
    BAD("failure without result-type",
        REPORT(POLICY(STS, FAILS("{\"failed-session-count\": 1}"))),
        "policies[0].failure-details[0].result-type: expected a string"),
    BAD("failure without a count",
        REPORT(POLICY(STS, FAILS("{\"result-type\": \"x\"}"))),
        "policies[0].failure-details[0].failed-session-count: expected a "
        "non-negative integer, found nothing (required)"),
    BAD("failure-details not an array",
        REPORT(POLICY(STS, ",\"failure-details\": {}")),
        "policies[0].failure-details: expected an array, found an object"),

    /* Counts. */
    BAD("negative count",
        REPORT("{\"policy\": {" STS "}, \"summary\": "
               "{\"total-successful-session-count\": -1, "
               "\"total-failure-session-count\": 0}}"),
        "policies[0].summary.total-successful-session-count: expected a "
        "non-negative integer, found -1"),
    BAD("real count",
        REPORT("{\"policy\": {" STS "}, \"summary\": "
               "{\"total-successful-session-count\": 1, "
               "\"total-failure-session-count\": 2.5}}"),
        "total-failure-session-count: expected a non-negative integer, "
        "found 2.5"),
    BAD("count as a string",
        REPORT("{\"policy\": {" STS "}, \"summary\": "
               "{\"total-successful-session-count\": \"5\", "
               "\"total-failure-session-count\": 0}}"),
        "found \"5\""),
    BAD("count too big for JSON",
        REPORT("{\"policy\": {" STS "}, \"summary\": "
               "{\"total-successful-session-count\":"
               " 99999999999999999999, "
               "\"total-failure-session-count\": "
               "0}}"),
        "too big integer"),
    /* Counts are capped at 2^40 sessions, one by one and per policy's
     * failure-details, so that no sum over stored reports overflows. */
    OK("count at the cap",
       REPORT("{\"policy\": {" STS "}, \"summary\": "
              "{\"total-successful-session-count\": 1099511627776, "
              "\"total-failure-session-count\": 0}}"),
       0, NULL),
    BAD("count above the cap",
        REPORT("{\"policy\": {" STS "}, \"summary\": "
               "{\"total-successful-session-count\": 0, "
               "\"total-failure-session-count\": 1099511627777}}"),
        "policies[0].summary.total-failure-session-count: expected at most "
        "1099511627776 sessions, found 1099511627777"),
    BAD("failed-session-count of 2^62",
        ONE_TYPE("certificate-expired", "4611686018427387904"),
        "policies[0].failure-details[0].failed-session-count: expected at "
        "most 1099511627776 sessions, found 4611686018427387904"),
    BAD("failure-details adding up past the cap",
        REPORT(POLICY(STS, FAILS(FAILN("1099511627776") "," FAILN(
                               "1099511627776") "," FAILN("1")))),
        "policies[0].failure-details: expected failed-session-counts adding "
        "up to at most 1099511627776 sessions, found more"),
    OK("failure-details adding up to more than the summary",
       REPORT(POLICY(STS, FAILS(FAILN("1000") "," FAILN("1000")))), 0, NULL),

    /* Strings that outputs show: an invalid address or host name is left
     * out, an odd result type kept as "other". */
    OK("sending-mta-ip not an address",
       ONE("\"sending-mta-ip\": \"1.2.3.4\\nverdict: ready\", "), 1,
       "policies[0].failure-details[0].sending-mta-ip: expected an IPv4 or "
       "IPv6 address, found \"1.2.3.4\\x0averdict: ready\": left out"),
    OK("sending-mta-ip with a port",
       ONE("\"sending-mta-ip\": \"1.2.3.4:25\", "), 1,
       "found \"1.2.3.4:25\": left out"),
    OK("receiving-mx-hostname with an escape",
       ONE("\"receiving-mx-hostname\": \"mx\\u001b[2J.example\", "), 1,
       "policies[0].failure-details[0].receiving-mx-hostname: expected a "
       "host name, found \"mx\\x1b[2J.example\": left out"),
    OK("result-type unknown but printable", ONE_TYPE("x-new-kind", "1"), 0,
       NULL),
    OK("result-type with a newline",
       ONE_TYPE("other\\nverdict: ready for enforce", "1"), 1,
       "policies[0].failure-details[0].result-type: expected a result type "
       "such as \"certificate-expired\", found \"other\\x0averdict: ready for "
       "enforce\": kept as \"other\""),
    OK("result-type too long",
       ONE_TYPE(
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           "1"),
       1, "kept as \"other\""),

    /* policy-domain must be a domain. */
    BAD("policy-domain with a space",
        REPORT(POLICY("\"policy-type\": \"sts\", "
                      "\"policy-domain\": \"exa mple.com\"",
                      "")),
        "policies[0].policy.policy-domain: expected a domain name such as "
        "example.com, found \"exa mple.com\""),
    BAD("policy-domain of one label",
        REPORT(POLICY("\"policy-type\": \"sts\", "
                      "\"policy-domain\": \"localhost\"",
                      "")),
        "found \"localhost\""),
    BAD("policy-domain an address",
        REPORT(POLICY("\"policy-type\": \"sts\", "
                      "\"policy-domain\": \"192.0.2.1\"",
                      "")),
        "found \"192.0.2.1\""),
    BAD("policy-domain a dot",
        REPORT(
            POLICY("\"policy-type\": \"sts\", \"policy-domain\": \".\"", "")),
        "found \".\" (not a host name)"),

    /* mx-host and policy-string. */
    BAD("mx-host a number", REPORT(POLICY(STS ", \"mx-host\": 5", "")),
        "policies[0].policy.mx-host: expected an array of strings, found 5"),
    BAD("mx-host array with a number",
        REPORT(POLICY(STS ", \"mx-host\": [\"a.example\", 5]", "")),
        "policies[0].policy.mx-host[1]: expected a string, found 5"),
    BAD("policy-string a string",
        REPORT(POLICY("\"policy-type\": \"sts\", \"policy-string\": \"v\", "
                      "\"policy-domain\": \"example.org\"",
                      "")),
        "policies[0].policy.policy-string: expected an array of strings"),

    /* Dates. */
    BAD("date without seconds", WITH_RANGE("2024-02-16T00:00Z", "2024-02-17"),
        "date-range.start-datetime: expected an RFC 3339 date-time"),
    BAD("date only", WITH_RANGE("2024-02-16T00:00:00Z", "2024-02-17"),
        "date-range.end-datetime: expected an RFC 3339 date-time"),
    BAD("February 30th",
        WITH_RANGE("2024-02-30T00:00:00Z", "2024-03-01T00:00:00Z"),
        "found \"2024-02-30T00:00:00Z\""),
    BAD("hour 24", WITH_RANGE("2024-02-16T24:00:00Z", "2024-02-17T00:00:00Z"),
        "start-datetime: expected an RFC 3339"),
    BAD("trailing garbage",
        WITH_RANGE("2024-02-16T00:00:00Zjunk", "2024-02-17T00:00:00Z"),
        "start-datetime: expected an RFC 3339"),
    BAD("before 1970",
        WITH_RANGE("1969-12-31T23:59:59Z", "2024-02-17T00:00:00Z"),
        "expected an RFC 3339 date-time from 1970 to 9999"),
    BAD("end before start",
        WITH_RANGE("2024-02-17T00:00:00Z", "2024-02-16T00:00:00Z"),
        "date-range: expected end-datetime not before start-datetime, found "
        "it 86400 seconds earlier"),
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct pcase *c = &cases[i];
        struct diag d;
        diag_init(&d, "report");
        struct tlsrpt_report *r = tlsrpt_parse(c->in, strlen(c->in), NULL, &d);
        bool matched = c->msg == NULL;
        for (size_t j = 0; j < d.n && !matched; j++)
            matched =
                strstr(d.entries[j].msg, c->msg) != NULL && (c->ok || j == 0);
        if ((r != NULL) != c->ok || !matched ||
            (c->ok && d.warnings != (size_t)c->warnings) ||
            (!c->ok && c->line != 0 &&
             (d.n == 0 || d.entries[0].line != c->line ||
              (c->col != 0 && d.entries[0].col != c->col)))) {
            print_error("case \"%s\": parsed=%d warnings=%zu\n", c->name,
                        r != NULL, d.warnings);
            diag_print(&d, stderr);
            fail();
        }
        tlsrpt_report_free(r);
        diag_free(&d);
    }
}

static struct tlsrpt_report *parse_ok(const char *s)
{
    struct diag d;
    diag_init(&d, "report");
    struct tlsrpt_report *r = tlsrpt_parse(s, strlen(s), NULL, &d);
    if (r == NULL)
        diag_print(&d, stderr);
    assert_non_null(r);
    diag_free(&d);
    return r;
}

/* The example's fields land where they belong. */
static void test_rfc_example_fields(void **state)
{
    (void)state;
    struct tlsrpt_report *r = parse_ok(rfc_example);
    assert_string_equal(r->organization_name, "Company-X");
    assert_string_equal(r->contact_info, "sts-reporting@company-x.example");
    assert_string_equal(r->report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
    assert_int_equal(r->start, 1459468800); /* 2016-04-01T00:00:00Z */
    assert_int_equal(r->end, 1459468800 + 86399);
    assert_int_equal(r->n_policies, 1);
    const struct tlsrpt_policy *p = &r->policies[0];
    assert_string_equal(p->policy_type, "sts");
    assert_string_equal(p->policy_domain, "company-y.example");
    assert_int_equal(p->n_policy_string, 4);
    assert_string_equal(p->policy_string[2], "mx: *.mail.company-y.example");
    assert_int_equal(p->n_mx_host, 1);
    assert_string_equal(p->mx_host[0], "*.mail.company-y.example");
    assert_int_equal(p->successful, 5326);
    assert_int_equal(p->failed, 303);
    assert_int_equal(r->total_successful, 5326);
    assert_int_equal(r->total_failed, 303);
    assert_int_equal(p->n_failures, 3);
    assert_string_equal(p->failures[0].result_type, "certificate-expired");
    assert_string_equal(p->failures[0].sending_mta_ip, "2001:db8:abcd:0012::1");
    assert_null(p->failures[0].receiving_ip);
    assert_int_equal(p->failures[0].failed_session_count, 100);
    assert_string_equal(p->failures[1].receiving_ip, "203.0.113.56");
    assert_string_equal(p->failures[1].additional_information,
                        "https://reports.company-x.example/");
    assert_string_equal(p->failures[2].failure_reason_code,
                        "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
    assert_string_equal(p->failures[2].receiving_mx_hostname,
                        "mx-backup.mail.company-y.example");
    tlsrpt_report_free(r);
}

static void test_quirk_fields(void **state)
{
    (void)state;
    struct tlsrpt_report *r;
    r = parse_ok(ONE("\"sending-mta-ip\": \"\", "));
    assert_null(r->policies[0].failures[0].sending_mta_ip);
    tlsrpt_report_free(r);
    r = parse_ok(ONE("\"sending-mta-ip\": \"1.2.3.4\\n\", "
                     "\"receiving-mx-hostname\": \"MX1.Example.\", "));
    assert_null(r->policies[0].failures[0].sending_mta_ip);
    assert_string_equal(r->policies[0].failures[0].receiving_mx_hostname,
                        "mx1.example");
    tlsrpt_report_free(r);
    r = parse_ok(ONE("\"receiving-mx-hostname\": \"mx 1.example\", "));
    assert_null(r->policies[0].failures[0].receiving_mx_hostname);
    tlsrpt_report_free(r);
    r = parse_ok(ONE_TYPE("x-new-kind", "1"));
    assert_string_equal(r->policies[0].failures[0].result_type, "x-new-kind");
    tlsrpt_report_free(r);
    r = parse_ok(ONE_TYPE("bad\\u0007type", "1"));
    assert_string_equal(r->policies[0].failures[0].result_type, "other");
    tlsrpt_report_free(r);
    r = parse_ok(REPORT(
        POLICY(STS ", \"mx-host\": [\"mx1.example\", \"mx2.example\"]", "")));
    assert_int_equal(r->policies[0].n_mx_host, 2);
    assert_string_equal(r->policies[0].mx_host[1], "mx2.example");
    tlsrpt_report_free(r);
    r = parse_ok(REPORT(POLICY("\"policy-type\": \"sts\", "
                               "\"policy-domain\": \"Company-Y.Example.\"",
                               "")));
    assert_string_equal(r->policies[0].policy_domain, "company-y.example");
    tlsrpt_report_free(r);
    /* 02:00+02:00 is midnight UTC; no time zone is UTC. */
    r = parse_ok(
        WITH_RANGE("2024-02-16t02:00:00.5+02:00", "2024-02-16T23:59:59"));
    assert_int_equal(r->start, 1708041600);
    assert_int_equal(r->end, 1708041600 + 86399);
    tlsrpt_report_free(r);
}

struct tcase {
    const char *in;
    int64_t t; /* -1 = refused */
    bool no_tz;
};

static void test_times(void **state)
{
    (void)state;
    static const struct tcase tc[] = {
        {"1970-01-01T00:00:00Z", 0, false},
        {"2000-02-29T12:00:00Z", 951825600, false},
        {"2016-04-01T00:00:00-07:30", 1459468800 + 27000, false},
        {"2016-12-31T23:59:60Z", 1483228800, false}, /* leap second */
        {"9999-12-31T23:59:59Z", 253402300799, false},
        {"2024-01-01T00:00:00", 1704067200, true},
        {"1900-02-29T00:00:00Z", -1, false},
        {"2023-02-29T00:00:00Z", -1, false},
        {"2024-13-01T00:00:00Z", -1, false},
        {"2024-01-01T00:60:00Z", -1, false},
        {"2024-01-01T00:00:00+24:00", -1, false},
        {"2024-01-01T00:00:00.Z", -1, false},
        {"2024-01-01T00:00:00+0100", -1, false},
        {"1970-01-01T00:00:00+00:01", -1, false},
        {"24-01-01T00:00:00Z", -1, false},
        {"", -1, false},
    };
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        int64_t t = -1;
        bool no_tz = false;
        int rc = tlsrpt_parse_time(tc[i].in, &t, &no_tz);
        if ((rc == 0) != (tc[i].t >= 0) || (rc == 0 && t != tc[i].t) ||
            (rc == 0 && no_tz != tc[i].no_tz)) {
            print_error("time \"%s\": rc=%d t=%lld\n", tc[i].in, rc,
                        (long long)t);
            fail();
        }
        if (rc == 0) {
            char out[32];
            int64_t back;
            bool tz2;
            tlsrpt_format_time(t, out, sizeof(out));
            assert_int_equal(tlsrpt_parse_time(out, &back, &tz2), 0);
            assert_int_equal(back, t);
            assert_false(tz2);
        }
    }
    char out[32];
    assert_string_equal(tlsrpt_format_time(1459468800, out, sizeof(out)),
                        "2016-04-01T00:00:00Z");
}

/* gzip compresses in[0..n) as gzip(1) would; level 9. */
static unsigned char *gzip(const void *in, size_t n, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(
        deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
        Z_OK);
    size_t cap = deflateBound(&zs, n) + 64;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *outlen = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* bomb makes a gzip stream of `inflated` zero bytes without ever holding
 * them: the point of a bomb is that it is small. */
static unsigned char *bomb(size_t inflated, size_t *outlen)
{
    static const unsigned char zeros[65536];
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(
        deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
        Z_OK);
    size_t cap = inflated / 500 + 4096;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    for (size_t done = 0; done < inflated;) {
        size_t n =
            inflated - done < sizeof(zeros) ? inflated - done : sizeof(zeros);
        zs.next_in = (unsigned char *)zeros;
        zs.avail_in = (uInt)n;
        done += n;
        int rc = deflate(&zs, done < inflated ? Z_NO_FLUSH : Z_FINISH);
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
        assert_int_equal(zs.avail_in, 0);
    }
    *outlen = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static bool has_error(const struct diag *d, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->entries[i].msg, needle) != NULL)
            return true;
    return false;
}

static void test_gzip(void **state)
{
    (void)state;
    struct diag d;
    size_t n;
    unsigned char *z = gzip(rfc_example, strlen(rfc_example), &n);
    assert_true(tlsrpt_is_gzip(z, n));
    assert_false(tlsrpt_is_gzip(rfc_example, strlen(rfc_example)));
    assert_false(tlsrpt_is_gzip("\x1f", 1));

    /* The same report, gzip or not. */
    struct tlsrpt_report *a = parse_ok(rfc_example);
    diag_init(&d, "gz");
    struct tlsrpt_report *b = tlsrpt_parse(z, n, NULL, &d);
    assert_non_null(b);
    assert_true(tlsrpt_report_equal(a, b));
    tlsrpt_report_free(b);
    diag_free(&d);

    /* Two members in a row, as `cat a.gz b.gz` makes: one stream. The
     * report split in two halves inflates to the whole. */
    size_t half = strlen(rfc_example) / 2, n1, n2;
    unsigned char *z1 = gzip(rfc_example, half, &n1);
    unsigned char *z2 =
        gzip(rfc_example + half, strlen(rfc_example) - half, &n2);
    unsigned char *cat = malloc(n1 + n2 + 4);
    assert_non_null(cat);
    memcpy(cat, z1, n1);
    memcpy(cat + n1, z2, n2);
    diag_init(&d, "gz");
    b = tlsrpt_parse(cat, n1 + n2, NULL, &d);
    assert_non_null(b);
    assert_true(tlsrpt_report_equal(a, b));
    tlsrpt_report_free(b);
    diag_free(&d);

    /* Garbage after the stream. */
    memcpy(cat + n1, "junk", 4);
    diag_init(&d, "gz");
    assert_null(tlsrpt_parse(cat, n1 + 4, NULL, &d));
    assert_true(has_error(&d, "another gzip member after byte"));
    diag_free(&d);

    /* Truncated, and corrupt: not a cap (-2) but bad data (-1). */
    struct tlsrpt_limits lim;
    struct buf out;
    tlsrpt_limits_default(&lim);
    diag_init(&d, "gz");
    assert_int_equal(tlsrpt_inflate(z, n - 9, &lim, &out, &d), -1);
    assert_null(out.data);
    diag_free(&d);
    diag_init(&d, "gz");
    assert_null(tlsrpt_parse(z, n - 9, NULL, &d));
    assert_true(has_error(&d, "truncated"));
    diag_free(&d);
    z[n / 2] ^= 0x55;
    z[n / 2 + 1] ^= 0x55;
    diag_init(&d, "gz");
    assert_null(tlsrpt_parse(z, n, NULL, &d));
    assert_int_equal(diag_errors(&d), 1);
    assert_true(has_error(&d, "gzip: "));
    diag_free(&d);

    /* gzip that is not JSON: a JSON error after inflating. */
    size_t ng;
    unsigned char *zg = gzip("not json", 8, &ng);
    diag_init(&d, "gz");
    assert_null(tlsrpt_parse(zg, ng, NULL, &d));
    assert_true(has_error(&d, "found invalid JSON"));
    assert_int_equal(d.entries[0].line, 1);
    diag_free(&d);

    free(zg);
    free(cat);
    free(z1);
    free(z2);
    free(z);
    tlsrpt_report_free(a);
}

static void test_caps(void **state)
{
    (void)state;
    struct diag d;
    struct buf out;
    struct tlsrpt_limits lim;
    size_t n;

    /* A bomb: 256 MiB of zeros in a quarter megabyte stops at the size cap. */
    unsigned char *z = bomb((size_t)256 << 20, &n);
    assert_true(n < 512 * 1024);
    tlsrpt_limits_default(&lim);
    lim.max_ratio = 0; /* no ratio cap: the size cap must hold alone */
    diag_init(&d, "bomb");
    assert_int_equal(tlsrpt_inflate(z, n, &lim, &out, &d), -2);
    assert_null(out.data);
    assert_true(has_error(&d, "inflated from"));
    diag_free(&d);
    diag_init(&d, "bomb");
    assert_null(tlsrpt_parse(z, n, NULL, &d));
    assert_true(has_error(&d, "found more"));
    diag_free(&d);
    free(z);

    /* The ratio cap: 4 MiB of zeros (about 4 KiB gzip) passes the size cap
     * but not a ratio of 100; a generous ratio lets it through. */
    z = bomb(4u * 1024 * 1024, &n);
    tlsrpt_limits_default(&lim);
    diag_init(&d, "ratio");
    assert_int_equal(tlsrpt_inflate(z, n, &lim, &out, &d), -2);
    assert_true(has_error(&d, "ratio cap 100"));
    diag_free(&d);
    lim.max_ratio = 10000;
    diag_init(&d, "ratio");
    assert_int_equal(tlsrpt_inflate(z, n, &lim, &out, &d), 0);
    assert_int_equal(out.len, 4u * 1024 * 1024);
    buf_free(&out);
    diag_free(&d);
    free(z);

    /* Below the floor the ratio does not count: 512 KiB of zeros. */
    z = bomb(512u * 1024, &n);
    tlsrpt_limits_default(&lim);
    diag_init(&d, "floor");
    assert_int_equal(tlsrpt_inflate(z, n, &lim, &out, &d), 0);
    assert_int_equal(out.len, 512u * 1024);
    buf_free(&out);
    diag_free(&d);
    free(z);

    /* Plain JSON is held to the same size cap. */
    lim.max_json = 100;
    diag_init(&d, "big");
    assert_null(tlsrpt_parse(rfc_example, strlen(rfc_example), &lim, &d));
    assert_true(has_error(&d, "expected at most 100 bytes of JSON"));
    diag_free(&d);
}

/* The canonical form parses back to an equal report and is a fixed
 * point. */
static void test_roundtrip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (!cases[i].ok)
            continue;
        struct tlsrpt_report *a = parse_ok(cases[i].in), *b;
        struct buf j1, j2;
        buf_init(&j1, 1 << 20);
        buf_init(&j2, 1 << 20);
        assert_int_equal(tlsrpt_report_json(a, &j1), 0);
        b = parse_ok(j1.data);
        if (!tlsrpt_report_equal(a, b)) {
            print_error("case \"%s\": %s\n", cases[i].name, j1.data);
            fail();
        }
        assert_int_equal(tlsrpt_report_json(b, &j2), 0);
        assert_string_equal(j1.data, j2.data);
        tlsrpt_report_free(a);
        tlsrpt_report_free(b);
        buf_free(&j1);
        buf_free(&j2);
    }
    /* Equality sees a difference in a failure entry. */
    struct tlsrpt_report *a = parse_ok(rfc_example);
    struct tlsrpt_report *b = parse_ok(rfc_example);
    assert_true(tlsrpt_report_equal(a, b));
    b->policies[0].failures[2].failed_session_count++;
    assert_false(tlsrpt_report_equal(a, b));
    tlsrpt_report_free(a);
    tlsrpt_report_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_rfc_example_fields),
        cmocka_unit_test(test_quirk_fields),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
