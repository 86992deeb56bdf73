/*
 * test_tlsrpt_tally: the report counters of /metrics (server/
 * tlsrpt_tally.c) against real SQLite files written by tlsrpt_store: the
 * counts of the reports in the server's database, the import database
 * picked up once it appears, a report in both counted once whichever came
 * first, the same counts from a fresh tally (a restart), only what was
 * added counted at the next refresh, types outside RFC 8460 as "other",
 * only the domains the caller keeps, counting again from what is there
 * after retention deleted the newest rows, and rows with counts the
 * parser refuses now (2^62, from an older version) left out with one
 * warning instead of making every counter read 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"
#include "tlsrpt_parse.h"
#include "tlsrpt_store.h"
#include "tlsrpt_tally.h"

#define NOW INT64_C(1767225600) /* 2026-01-01T00:00:00Z */

struct fixture {
    char dir[64];
    struct tlsrpt_store *main, *mail;
    char *main_path, *mail_path;
};

/* add stores one report of org/id for domain (successful sessions, one
 * failure entry of type with n_fail sessions; none when n_fail is 0). */
static void add(struct tlsrpt_store *s, const char *org, const char *id,
                const char *domain, const char *end, int successful,
                const char *type, int n_fail)
{
    struct buf b;
    struct diag d;
    buf_init(&b, 1 << 20);
    buf_printf(&b,
               "{\"organization-name\": \"%s\", \"contact-info\": \"c@x\", "
               "\"report-id\": \"%s\", \"date-range\": {\"start-datetime\": "
               "\"2016-04-01T00:00:00Z\", \"end-datetime\": \"%s\"}, "
               "\"policies\": [{\"policy\": {\"policy-type\": \"sts\", "
               "\"policy-domain\": \"%s\"}, \"summary\": "
               "{\"total-successful-session-count\": %d, "
               "\"total-failure-session-count\": %d}",
               org, id, end, domain, successful, n_fail);
    if (n_fail > 0)
        buf_printf(&b,
                   ", \"failure-details\": [{\"result-type\": \"%s\", "
                   "\"failed-session-count\": %d}]",
                   type, n_fail);
    buf_puts(&b, "}]}");
    diag_init(&d, "t");
    struct tlsrpt_report *r = tlsrpt_parse(b.data, b.len, NULL, &d);
    assert_non_null(r);
    assert_int_equal(tlsrpt_store_begin(s, &d), 0);
    assert_int_equal(tlsrpt_store_add(s, r, b.data, b.len, NOW, &d),
                     TLSRPT_STORE_ADDED);
    assert_int_equal(tlsrpt_store_commit(s, &d), 0);
    tlsrpt_report_free(r);
    diag_free(&d);
    buf_free(&b);
}

/* keep_served keeps every domain but unserved.example. */
static bool keep_served(const char *domain, const void *arg)
{
    (void)arg;
    return strcmp(domain, "unserved.example") != 0;
}

/* render refreshes t and returns the metrics text (freed by the caller). */
static char *render(struct tlsrpt_tally *t)
{
    struct buf b;
    struct diag d;
    buf_init(&b, 1 << 20);
    diag_init(&d, "t");
    tlsrpt_tally_metrics(t, keep_served, NULL, &b, &d);
    if (d.n > 0)
        diag_print(&d, stderr);
    assert_int_equal(d.n, 0);
    diag_free(&d);
    return buf_take(&b, NULL);
}

/* value is the value of the sample "name{labels}" in text, -1 when absent. */
static long long value(const char *text, const char *sample)
{
    size_t n = strlen(sample);
    for (const char *p = text; (p = strstr(p, sample)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
    return -1;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct diag d;
    char mail[32];
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_tlsrpt_tally.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    diag_init(&d, "t");
    f->main = tlsrpt_store_open(f->dir, "r1", 1 << 30, &d);
    assert_non_null(f->main);
    f->main_path = tlsrpt_store_file(f->dir, "r1");
    f->mail_path = tlsrpt_store_file(
        f->dir, tlsrpt_store_mail_instance("r1", mail, sizeof(mail)));
    assert_string_equal(mail, "r1-mail");
    diag_free(&d);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    tlsrpt_store_free(f->main);
    tlsrpt_store_free(f->mail);
    free(f->main_path);
    free(f->mail_path);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct tlsrpt_tally *open_tally(const struct fixture *f)
{
    struct diag d;
    diag_init(&d, "t");
    struct tlsrpt_tally *t = tlsrpt_tally_open(f->main_path, f->mail_path, &d);
    assert_non_null(t);
    diag_free(&d);
    return t;
}

#define END "2016-04-01T23:59:59Z"
#define EX "example.com"

static void test_counts(void **state)
{
    struct fixture *f = *state;
    struct diag d;
    add(f->main, "A", "1", EX, END, 10, "certificate-expired", 3);
    add(f->main, "A", "2", EX, END, 5, "x-vendor-type", 2);
    add(f->main, "A", "3", "unserved.example", END, 7, NULL, 0);
    struct tlsrpt_tally *t = open_tally(f);
    char *m = render(t);
    assert_int_equal(
        value(m, "mta_sts_tlsrpt_reports_total{domain=\"" EX "\"}"), 2);
    assert_int_equal(value(m, "mta_sts_tlsrpt_sessions_total{domain=\"" EX
                              "\",result=\"successful\"}"),
                     15);
    assert_int_equal(value(m, "mta_sts_tlsrpt_sessions_total{domain=\"" EX
                              "\",result=\"failed\"}"),
                     5);
    assert_int_equal(value(m, "mta_sts_tlsrpt_failures_total{domain=\"" EX
                              "\",type=\"certificate-expired\"}"),
                     3);
    assert_int_equal(value(m, "mta_sts_tlsrpt_failures_total{domain=\"" EX
                              "\",type=\"other\"}"),
                     2);
    /* A domain the caller does not keep is no label. */
    assert_null(strstr(m, "unserved.example"));
    free(m);

    /* The import database appears; its reports count, the one the
     * server's file holds already (A/1) does not. */
    diag_init(&d, "t");
    f->mail = tlsrpt_store_open(f->dir, "r1-mail", 1 << 30, &d);
    assert_non_null(f->mail);
    diag_free(&d);
    add(f->mail, "A", "1", EX, END, 10, "certificate-expired", 3);
    add(f->mail, "B", "1", EX, END, 100, "starttls-not-supported", 4);
    m = render(t);
    assert_int_equal(
        value(m, "mta_sts_tlsrpt_reports_total{domain=\"" EX "\"}"), 3);
    assert_int_equal(value(m, "mta_sts_tlsrpt_sessions_total{domain=\"" EX
                              "\",result=\"successful\"}"),
                     115);
    assert_int_equal(value(m, "mta_sts_tlsrpt_failures_total{domain=\"" EX
                              "\",type=\"certificate-expired\"}"),
                     3);
    free(m);

    /* Received after it was imported (B/1): still once. Added on both
     * sides between two refreshes (C/1): once. */
    add(f->main, "B", "1", EX, END, 100, "starttls-not-supported", 4);
    add(f->main, "C", "1", EX, END, 1, NULL, 0);
    add(f->mail, "C", "1", EX, END, 1, NULL, 0);
    m = render(t);
    assert_int_equal(
        value(m, "mta_sts_tlsrpt_reports_total{domain=\"" EX "\"}"), 4);
    assert_int_equal(value(m, "mta_sts_tlsrpt_failures_total{domain=\"" EX
                              "\",type=\"starttls-not-supported\"}"),
                     4);
    char *before = m;

    /* Nothing new: the same text. A fresh tally (a restart): the same
     * counts, from the databases alone. */
    m = render(t);
    assert_string_equal(m, before);
    free(m);
    tlsrpt_tally_free(t);
    t = open_tally(f);
    m = render(t);
    assert_string_equal(m, before);
    free(m);
    free(before);
    tlsrpt_tally_free(t);
    tlsrpt_tally_free(NULL);
}

/* Retention deletes the newest rows too: their ids come back, and the
 * reports stored under them are counted. */
static void test_ids_reused(void **state)
{
    struct fixture *f = *state;
    struct diag d;
    add(f->main, "A", "old", EX, END, 1, NULL, 0);
    struct tlsrpt_tally *t = open_tally(f);
    char *m = render(t);
    assert_int_equal(
        value(m, "mta_sts_tlsrpt_reports_total{domain=\"" EX "\"}"), 1);
    free(m);
    diag_init(&d, "t");
    assert_int_equal(tlsrpt_store_expire(f->main, NOW, 1, &d), 1);
    diag_free(&d);
    m = render(t);
    free(m);
    add(f->main, "A", "new", EX, "2025-12-31T23:59:59Z", 1, NULL, 0);
    m = render(t);
    /* Retention does not take counts back; the new report is counted. */
    assert_int_equal(
        value(m, "mta_sts_tlsrpt_reports_total{domain=\"" EX "\"}"), 2);
    free(m);
    tlsrpt_tally_free(t);
}

/* A row that cannot be summed is left out, said once, and the other rows
 * of its domain still count. */
static void test_bad_rows(void **state)
{
    struct fixture *f = *state;
    struct diag d;
    struct buf b;
    sqlite3 *db;
    add(f->main, "A", "good", EX, END, 10, "certificate-expired", 3);
    add(f->main, "A", "big", EX, END, 1, "certificate-expired", 1);
    add(f->main, "A", "big2", EX, END, 1, "certificate-expired", 1);
    assert_int_equal(sqlite3_open(f->main_path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "UPDATE policy SET failed = 4611686018427387904 WHERE"
                     " report IN (SELECT id FROM report WHERE report_id IN"
                     " ('big', 'big2'));"
                     "UPDATE failure SET failed_session_count ="
                     " 4611686018427387904 WHERE policy IN (SELECT p.id FROM"
                     " policy p JOIN report r ON r.id = p.report WHERE"
                     " r.report_id IN ('big', 'big2'))",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct tlsrpt_tally *t = open_tally(f);
    buf_init(&b, 1 << 20);
    diag_init(&d, "t");
    tlsrpt_tally_metrics(t, keep_served, NULL, &b, &d);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 1);
    assert_string_equal(d.entries[0].msg,
                        "report counters: 4 stored rows with a session count "
                        "that is not an integer from 0 to 1099511627776 left "
                        "out");
    diag_free(&d);
    assert_int_equal(
        value(b.data, "mta_sts_tlsrpt_reports_total{domain=\"" EX "\"}"), 3);
    assert_int_equal(value(b.data, "mta_sts_tlsrpt_sessions_total{domain=\"" EX
                                   "\",result=\"successful\"}"),
                     10);
    assert_int_equal(value(b.data, "mta_sts_tlsrpt_sessions_total{domain=\"" EX
                                   "\",result=\"failed\"}"),
                     3);
    assert_int_equal(value(b.data, "mta_sts_tlsrpt_failures_total{domain=\"" EX
                                   "\",type=\"certificate-expired\"}"),
                     3);
    buf_free(&b);
    /* Counted already: the next scrape is quiet and the same. */
    char *m = render(t);
    assert_int_equal(value(m, "mta_sts_tlsrpt_failures_total{domain=\"" EX
                              "\",type=\"certificate-expired\"}"),
                     3);
    free(m);
    tlsrpt_tally_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
