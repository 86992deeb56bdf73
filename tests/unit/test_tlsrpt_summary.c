/*
 * test_tlsrpt_summary: the summary of stored TLS reports
 * (server/tlsrpt_summary.c) over two real report databases in a temporary
 * state directory, as two replicas would leave them: a report both hold
 * counts once, sessions add up per domain and day, failures are grouped by
 * type, MX host and sending address with the number of senders, the
 * verdict names what fails, a domain without failures is ready for
 * enforce, and --domain and --since narrow it. Text and JSON (read back
 * with jansson); the per-domain facts `advise` reads; rows that cannot be
 * summed (2^62, from an older version) left out with a warning, and the
 * senders' strings escaped in text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "tlsrpt_parse.h"
#include "tlsrpt_store.h"
#include "tlsrpt_summary.h"

static char dir[64];

/* put stores a report of org/id for domain on day (YYYY-MM-DD) with
 * successful sessions and, when n_fail > 0, that many failed sessions of
 * type at mx from ip. */
static void put(struct tlsrpt_store *s, const char *org, const char *id,
                const char *domain, const char *day, int successful, int n_fail,
                const char *type, const char *mx, const char *ip)
{
    struct buf b;
    struct diag d;
    buf_init(&b, 1 << 16);
    buf_printf(&b,
               "{\"organization-name\": \"%s\", \"contact-info\": \"c\", "
               "\"report-id\": \"%s\", \"date-range\": {\"start-datetime\": "
               "\"%sT00:00:00Z\", \"end-datetime\": \"%sT23:59:59Z\"}, "
               "\"policies\": [{\"policy\": {\"policy-type\": \"sts\", "
               "\"policy-domain\": \"%s\"}, \"summary\": "
               "{\"total-successful-session-count\": %d, "
               "\"total-failure-session-count\": %d}",
               org, id, day, day, domain, successful, n_fail);
    if (n_fail > 0)
        buf_printf(&b,
                   ", \"failure-details\": [{\"result-type\": \"%s\", "
                   "\"receiving-mx-hostname\": \"%s\", \"sending-mta-ip\": "
                   "\"%s\", \"failed-session-count\": %d}]",
                   type, mx, ip, n_fail);
    buf_puts(&b, "}]}");
    diag_init(&d, "t");
    struct tlsrpt_report *r = tlsrpt_parse(b.data, b.len, NULL, &d);
    assert_non_null(r);
    assert_int_equal(tlsrpt_store_begin(s, &d), 0);
    assert_int_equal(tlsrpt_store_add(s, r, b.data, b.len, 0, &d),
                     TLSRPT_STORE_ADDED);
    assert_int_equal(tlsrpt_store_commit(s, &d), 0);
    tlsrpt_report_free(r);
    diag_free(&d);
    buf_free(&b);
}

static int setup(void **state)
{
    (void)state;
    struct diag d;
    snprintf(dir, sizeof(dir), "/tmp/test_tlsrpt_summary.XXXXXX");
    assert_non_null(mkdtemp(dir));
    diag_init(&d, "t");
    struct tlsrpt_store *a = tlsrpt_store_open(dir, "a", 1 << 30, &d);
    struct tlsrpt_store *b = tlsrpt_store_open(dir, "b", 1 << 30, &d);
    assert_non_null(a);
    assert_non_null(b);
    put(a, "Google", "g1", "example.com", "2024-02-16", 100, 5,
        "certificate-expired", "mx2.example.com", "192.0.2.1");
    put(b, "Google", "g1", "example.com", "2024-02-16", 100, 5,
        "certificate-expired", "mx2.example.com", "192.0.2.1"); /* again */
    put(b, "Microsoft", "m1", "example.com", "2024-02-16", 50, 3,
        "certificate-expired", "mx2.example.com", "198.51.100.7");
    put(a, "Microsoft", "m2", "example.com", "2024-02-17", 40, 1,
        "starttls-not-supported", "mx1.example.com", "198.51.100.7");
    put(a, "Google", "g2", "example.net", "2024-02-01", 10, 0, NULL, NULL,
        NULL);
    put(b, "Google", "g3", "example.net", "2024-02-21", 20, 0, NULL, NULL,
        NULL);
    tlsrpt_store_free(a);
    tlsrpt_store_free(b);
    diag_free(&d);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *summary(const char *domain, int64_t since, bool json, int64_t *n)
{
    struct tlsrpt_summary_opts o = {domain, since, json, 0};
    struct buf out;
    struct diag d;
    buf_init(&out, 1 << 20);
    diag_init(&d, "t");
    *n = tlsrpt_summary(dir, &o, &out, &d);
    if (*n < 0)
        diag_print(&d, stderr);
    diag_free(&d);
    return buf_take(&out, NULL);
}

static void contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        print_error("no \"%s\" in:\n%s\n", needle, hay);
        fail();
    }
}

static void test_text(void **state)
{
    (void)state;
    int64_t n;
    char *s = summary(NULL, 0, false, &n);
    assert_int_equal(n, 5); /* g1 is in both files, counted once */
    contains(s, "example.com: 3 reports over 2 days, 190 sessions "
                "succeeded, 9 failed\n");
    contains(s, "    2024-02-16  successful=150  failed=8\n");
    contains(s, "    2024-02-17  successful=40  failed=1\n");
    contains(s, "    Google  successful=100  failed=5\n");
    contains(s, "    certificate-expired  sessions=8\n");
    contains(s, "    mx2.example.com  result_type=certificate-expired  "
                "sessions=8  senders=2\n");
    contains(s, "    198.51.100.7  sessions=4  senders=1\n");
    contains(s, "  verdict: 9 of 199 sessions failed: fix these before "
                "enforce; mx2.example.com fails certificate-expired for 2 "
                "senders; mx1.example.com fails starttls-not-supported for "
                "1 sender\n");
    contains(s, "example.net: 2 reports over 21 days, 30 sessions "
                "succeeded, 0 failed\n");
    contains(s, "  verdict: no failures in 21 days of reports: ready for "
                "enforce\n");
    free(s);
}

static void test_json_and_filters(void **state)
{
    (void)state;
    int64_t n, since;
    bool no_tz;
    json_error_t err;
    char *s = summary("example.com", 0, true, &n);
    assert_int_equal(n, 3);
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL)
        print_error("%s: %s\n", err.text, s);
    assert_non_null(j);
    json_t *doms = json_object_get(j, "domains");
    assert_int_equal(json_array_size(doms), 1);
    json_t *com = json_array_get(doms, 0);
    assert_string_equal(json_string_value(json_object_get(com, "domain")),
                        "example.com");
    assert_int_equal(json_integer_value(json_object_get(com, "failed")), 9);
    json_t *mx = json_array_get(json_object_get(com, "failing_mx"), 0);
    assert_int_equal(json_integer_value(json_object_get(mx, "senders")), 2);
    json_decref(j);
    free(s);

    /* Reports that ended before 2024-02-17 are left out. */
    assert_int_equal(tlsrpt_parse_time("2024-02-17T00:00:00Z", &since, &no_tz),
                     0);
    s = summary(NULL, since, false, &n);
    assert_int_equal(n, 2);
    contains(s, "example.com: 1 report over 1 day, 40 sessions succeeded, "
                "1 failed\n");
    contains(s, "example.net: 1 report over 1 day");
    free(s);

    s = summary("example.org", 0, false, &n);
    assert_int_equal(n, 0);
    assert_string_equal(s, "no reports\n");
    free(s);
}

/* The numbers advise plans with: one domain, the same de-duplication and
 * window as the summary, the failure that weighs most. */
static void test_facts(void **state)
{
    (void)state;
    struct tlsrpt_facts f;
    struct diag d;
    int64_t since, t0, t1;
    bool no_tz;
    diag_init(&d, "t");
    assert_int_equal(tlsrpt_summary_facts(dir, "example.com", 0, &f, &d), 0);
    assert_int_equal(f.reports, 3); /* g1 is in both files, counted once */
    assert_int_equal(f.successful, 190);
    assert_int_equal(f.failed, 9);
    assert_int_equal(tlsrpt_parse_time("2024-02-16T00:00:00Z", &t0, &no_tz), 0);
    assert_int_equal(tlsrpt_parse_time("2024-02-17T23:59:59Z", &t1, &no_tz), 0);
    assert_int_equal(f.first, t0);
    assert_int_equal(f.last, t1);
    assert_string_equal(f.worst, "mx2.example.com fails certificate-expired "
                                 "for 2 senders");
    assert_int_equal(tlsrpt_parse_time("2024-02-17T00:00:00Z", &since, &no_tz),
                     0);
    assert_int_equal(tlsrpt_summary_facts(dir, "example.com", since, &f, &d),
                     0);
    assert_int_equal(f.reports, 1);
    assert_int_equal(f.failed, 1);
    assert_string_equal(f.worst, "mx1.example.com fails "
                                 "starttls-not-supported for 1 sender");
    assert_int_equal(tlsrpt_summary_facts(dir, "example.net", 0, &f, &d), 0);
    assert_int_equal(f.reports, 2);
    assert_int_equal(f.failed, 0);
    assert_string_equal(f.worst, "");
    assert_int_equal(tlsrpt_summary_facts(dir, "example.org", 0, &f, &d), 0);
    assert_int_equal(f.reports, 0);
    assert_int_equal(f.first, 0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(
        tlsrpt_summary_facts("/nonexistent/state", "example.com", 0, &f, &d),
        -1);
    assert_non_null(strstr(d.entries[0].msg, "/nonexistent/state"));
    diag_free(&d);
}

/* sql runs statements on the database of instance "a" in d. */
static void sql(const char *d, const char *stmts)
{
    char path[128];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/tlsrpt-a.sqlite3", d);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, stmts, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/*
 * Rows the parser refuses now (stored by an older version: counts of
 * 2^62 that sum() would overflow on, a result type and MX host with a
 * newline and a terminal escape) and an organization-name with control
 * bytes: the summary still works, leaves the bad counts out with a
 * warning, and its text shows no raw control byte and no forged line.
 */
static void test_bad_rows(void **state)
{
    (void)state;
    char d2[64];
    struct diag d;
    struct buf out;
    struct tlsrpt_summary_opts o = {NULL, 0, false, 0};
    snprintf(d2, sizeof(d2), "/tmp/test_tlsrpt_summary.XXXXXX");
    assert_non_null(mkdtemp(d2));
    diag_init(&d, "t");
    struct tlsrpt_store *a = tlsrpt_store_open(d2, "a", 1 << 30, &d);
    assert_non_null(a);
    put(a, "Big", "b1", "example.com", "2024-02-16", 1, 1, "other",
        "mx1.example.com", "192.0.2.1");
    put(a, "Big", "b2", "example.com", "2024-02-16", 1, 1, "other",
        "mx1.example.com", "192.0.2.1");
    put(a, "Evil\\nverdict: ready for enforce\\u001b[2J", "e1", "example.com",
        "2024-02-17", 7, 2, "certificate-expired", "mx9.example.com",
        "192.0.2.9");
    tlsrpt_store_free(a);
    sql(d2, "UPDATE policy SET successful = 4611686018427387904, failed ="
            " 4611686018427387904 WHERE report IN (SELECT id FROM report"
            " WHERE report_id = 'b1');"
            "UPDATE failure SET failed_session_count = 4611686018427387904"
            " WHERE policy IN (SELECT p.id FROM policy p JOIN report r ON"
            " r.id = p.report WHERE r.report_id IN ('b1', 'b2'));"
            "UPDATE failure SET result_type = 'x' || char(10) || 'verdict:"
            " ready for enforce', receiving_mx_hostname = 'mx9' ||"
            " char(27) || '[2J' WHERE policy IN (SELECT p.id FROM policy p"
            " JOIN report r ON r.id = p.report WHERE r.report_id = 'e1');");

    buf_init(&out, 1 << 20);
    assert_int_equal(tlsrpt_summary(d2, &o, &out, &d), 2);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 1);
    contains(d.entries[0].msg, "report summary: 3 stored rows with a session "
                               "count that is not an integer from 0 to "
                               "1099511627776 left out");
    /* b1's policy is left out; b2's policy counts, its failure does not. */
    contains(out.data, "example.com: 2 reports over 2 days, 8 sessions "
                       "succeeded, 3 failed\n");
    contains(out.data, "    Evil\\x0averdict: ready for enforce\\x1b[2J  "
                       "successful=7  failed=2\n");
    contains(out.data, "    mx9\\x1b[2J  result_type=x\\x0averdict: ready "
                       "for enforce  sessions=2  senders=1\n");
    contains(out.data, "  verdict: 3 of 11 sessions failed: fix these before "
                       "enforce; mx9\\x1b[2J fails x\\x0averdict: ready for "
                       "enforce for 1 sender\n");
    assert_null(strstr(out.data, "\nverdict"));
    assert_null(strstr(out.data, "\x1b"));
    /* One verdict line, the summary's own. */
    size_t verdicts = 0;
    for (const char *l = out.data; l != NULL; l = strchr(l + 1, '\n'))
        verdicts += strncmp(l, "\n  verdict: ", 12) == 0;
    assert_int_equal(verdicts, 1);
    buf_free(&out);

    /* JSON keeps the values as they are, as valid JSON. */
    o.json = true;
    buf_init(&out, 1 << 20);
    assert_int_equal(tlsrpt_summary(d2, &o, &out, &d), 2);
    json_error_t err;
    json_t *j = json_loads(out.data, JSON_REJECT_DUPLICATES, &err);
    assert_non_null(j);
    json_t *com = json_array_get(json_object_get(j, "domains"), 0);
    json_t *mx = json_array_get(json_object_get(com, "failing_mx"), 0);
    assert_string_equal(json_string_value(json_object_get(mx, "mx_host")),
                        "mx9\x1b[2J");
    json_decref(j);
    buf_free(&out);
    diag_free(&d);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d2);
    assert_int_equal(system(cmd), 0);
}

static void test_no_dir(void **state)
{
    (void)state;
    struct tlsrpt_summary_opts o = {NULL, 0, false, 0};
    struct buf out;
    struct diag d;
    buf_init(&out, 1 << 20);
    diag_init(&d, "t");
    assert_int_equal(tlsrpt_summary("/nonexistent/state", &o, &out, &d), -1);
    assert_non_null(strstr(d.entries[0].msg, "/nonexistent/state"));
    diag_free(&d);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),   cmocka_unit_test(test_json_and_filters),
        cmocka_unit_test(test_facts),  cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_no_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
