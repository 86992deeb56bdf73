/*
 * test_tlsrpt_store: the TLS report database (server/tlsrpt_store.c)
 * against real SQLite files in a temporary state directory: a report is
 * stored with its rows and raw bytes, a duplicate is stored once, the file
 * is in WAL mode and survives a reopen, retention deletes whole reports,
 * the disk budget refuses and frees, a batch keeps the reports that fit
 * when one in it is a duplicate or over the budget, an unusable state
 * directory is named,
 * and a writer killed with SIGKILL in the middle of a burst leaves every
 * acknowledged report whole and no report half-stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"
#include "tlsrpt_parse.h"
#include "tlsrpt_store.h"

#define NOW INT64_C(1767225600) /* 2026-01-01T00:00:00Z */

/* report_json renders a report of org/id ending at end with n_fail failure
 * entries and a policy string of pad bytes (to make it big). */
static char *report_json(const char *org, const char *id, const char *end,
                         int n_fail, size_t pad)
{
    struct buf b;
    buf_init(&b, 1 << 24);
    buf_printf(&b,
               "{\"organization-name\": \"%s\", \"contact-info\": \"c@x\", "
               "\"report-id\": \"%s\", \"date-range\": {\"start-datetime\": "
               "\"2016-04-01T00:00:00Z\", \"end-datetime\": \"%s\"}, "
               "\"policies\": [{\"policy\": {\"policy-type\": \"sts\", "
               "\"policy-domain\": \"example.com\", \"mx-host\": "
               "\"mx.example.com\", \"policy-string\": [\"version: STSv1\", \"",
               org, id, end);
    /* Letters from a linear congruential generator: barely compressible. */
    uint32_t x = (uint32_t)strlen(id) * 2654435761u;
    for (size_t i = 0; i < pad; i++) {
        x = x * 1103515245u + 12345u;
        buf_printf(&b, "%c", 'a' + (int)((x >> 16) % 26));
    }
    buf_printf(&b,
               "\"]}, \"summary\": {\"total-successful-session-count\": 10, "
               "\"total-failure-session-count\": %d}, \"failure-details\": [",
               n_fail);
    for (int i = 0; i < n_fail; i++)
        buf_printf(&b,
                   "%s{\"result-type\": \"certificate-expired\", "
                   "\"receiving-mx-hostname\": \"mx.example.com\", "
                   "\"failed-session-count\": 1}",
                   i ? "," : "");
    buf_puts(&b, "]}]}");
    assert_false(b.failed);
    return buf_take(&b, NULL);
}

static struct tlsrpt_report *parse(const char *json)
{
    struct diag d;
    diag_init(&d, "t");
    struct tlsrpt_report *r = tlsrpt_parse(json, strlen(json), NULL, &d);
    if (r == NULL)
        diag_print(&d, stderr);
    assert_non_null(r);
    diag_free(&d);
    return r;
}

/* add_one stores r (raw as received) in a batch of its own. */
static enum tlsrpt_store_result add_one(struct tlsrpt_store *s,
                                        const struct tlsrpt_report *r,
                                        const void *raw, size_t len,
                                        struct diag *d)
{
    if (tlsrpt_store_begin(s, d) < 0)
        return TLSRPT_STORE_FAILED;
    enum tlsrpt_store_result res = tlsrpt_store_add(s, r, raw, len, NOW, d);
    if (tlsrpt_store_commit(s, d) < 0)
        return TLSRPT_STORE_FAILED;
    return res;
}

/* add parses json and stores it; returns the result. */
static enum tlsrpt_store_result add(struct tlsrpt_store *s, const char *json)
{
    struct diag d;
    struct tlsrpt_report *r = parse(json);
    diag_init(&d, "t");
    enum tlsrpt_store_result res = add_one(s, r, json, strlen(json), &d);
    if (res == TLSRPT_STORE_FAILED)
        diag_print(&d, stderr);
    diag_free(&d);
    tlsrpt_report_free(r);
    return res;
}

static struct tlsrpt_store *open_store(const char *dir, size_t max_disk)
{
    struct diag d;
    diag_init(&d, "t");
    struct tlsrpt_store *s = tlsrpt_store_open(dir, "test", max_disk, &d);
    if (s == NULL)
        diag_print(&d, stderr);
    assert_non_null(s);
    diag_free(&d);
    return s;
}

static void stats(struct tlsrpt_store *s, struct tlsrpt_store_stats *st)
{
    struct diag d;
    diag_init(&d, "t");
    assert_int_equal(tlsrpt_store_stats(s, st, &d), 0);
    diag_free(&d);
}

static char *make_dir(void)
{
    char tmpl[] = "/tmp/test_tlsrpt_store.XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return strdup(dir);
}

static void remove_dir(char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

static void test_add_and_duplicate(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct tlsrpt_store *s = open_store(dir, (size_t)1 << 30);
    struct tlsrpt_store_stats st;
    char *a = report_json("Org-A", "r1", "2016-04-01T23:59:59Z", 3, 10);
    char *b = report_json("Org-A", "r2", "2016-04-01T23:59:59Z", 1, 10);
    char *c = report_json("Org-B", "r1", "2016-04-01T23:59:59Z", 0, 10);

    assert_int_equal(add(s, a), TLSRPT_STORE_ADDED);
    assert_int_equal(add(s, a), TLSRPT_STORE_DUPLICATE);
    stats(s, &st);
    assert_int_equal(st.reports, 1);
    assert_int_equal(st.policies, 1);
    assert_int_equal(st.failures, 3);
    /* Same organisation, another id; another organisation, same id. */
    assert_int_equal(add(s, b), TLSRPT_STORE_ADDED);
    assert_int_equal(add(s, c), TLSRPT_STORE_ADDED);
    assert_int_equal(add(s, b), TLSRPT_STORE_DUPLICATE);
    stats(s, &st);
    assert_int_equal(st.reports, 3);
    assert_int_equal(st.failures, 4);

    /* The raw bytes are kept as gzip and give the same report back. */
    struct buf raw;
    struct diag d;
    diag_init(&d, "t");
    assert_int_equal(tlsrpt_store_raw(s, "Org-A", "r1", 1 << 20, &raw, &d), 1);
    assert_true(tlsrpt_is_gzip(raw.data, raw.len));
    struct tlsrpt_report *back = tlsrpt_parse(raw.data, raw.len, NULL, &d);
    struct tlsrpt_report *orig = parse(a);
    assert_non_null(back);
    assert_true(tlsrpt_report_equal(back, orig));
    tlsrpt_report_free(back);
    tlsrpt_report_free(orig);
    buf_free(&raw);
    assert_int_equal(tlsrpt_store_raw(s, "Org-C", "r1", 1 << 20, &raw, &d), 0);
    diag_free(&d);

    /* gzip as received is stored as it came. */
    struct buf z;
    char *e = report_json("Org-C", "gz", "2016-04-01T23:59:59Z", 0, 10);
    struct tlsrpt_report *re = parse(e);
    assert_int_equal(tlsrpt_deflate(e, strlen(e), 1 << 20, &z), 0);
    diag_init(&d, "t");
    assert_int_equal(add_one(s, re, z.data, z.len, &d), TLSRPT_STORE_ADDED);
    assert_int_equal(tlsrpt_store_raw(s, "Org-C", "gz", 1 << 20, &raw, &d), 1);
    assert_int_equal(raw.len, z.len);
    assert_memory_equal(raw.data, z.data, z.len);
    diag_free(&d);
    buf_free(&raw);
    buf_free(&z);
    tlsrpt_report_free(re);
    free(e);

    /* Reopened, the reports are still there; the file is in WAL mode. */
    char path[512];
    snprintf(path, sizeof(path), "%s", tlsrpt_store_path(s));
    tlsrpt_store_free(s);
    s = open_store(dir, (size_t)1 << 30);
    assert_string_equal(tlsrpt_store_path(s), path);
    assert_int_equal(add(s, a), TLSRPT_STORE_DUPLICATE);
    stats(s, &st);
    assert_int_equal(st.reports, 4);
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT policy_domain, mx_host FROM "
                                        "policy ORDER BY id LIMIT 1",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "example.com");
    assert_string_equal((const char *)sqlite3_column_text(q, 1),
                        "[\"mx.example.com\"]");
    sqlite3_finalize(q);
    sqlite3_close(db);

    tlsrpt_store_free(s);
    tlsrpt_store_free(NULL);
    free(a);
    free(b);
    free(c);
    remove_dir(dir);
}

static void test_retention(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct tlsrpt_store *s = open_store(dir, (size_t)1 << 30);
    struct tlsrpt_store_stats st;
    struct diag d;
    char *old = report_json("O", "old", "2016-04-01T23:59:59Z", 2, 10);
    char *recent = report_json("O", "new", "2025-12-30T00:00:00Z", 2, 10);
    assert_int_equal(add(s, old), TLSRPT_STORE_ADDED);
    assert_int_equal(add(s, recent), TLSRPT_STORE_ADDED);
    diag_init(&d, "t");
    assert_int_equal(tlsrpt_store_expire(s, NOW, 400, &d), 1);
    assert_int_equal(tlsrpt_store_expire(s, NOW, 400, &d), 0);
    stats(s, &st);
    assert_int_equal(st.reports, 1);
    assert_int_equal(st.policies, 1); /* the rows went with it */
    assert_int_equal(st.failures, 2);
    struct buf raw;
    assert_int_equal(tlsrpt_store_raw(s, "O", "old", 1 << 20, &raw, &d), 0);
    /* A day later than the recent report's end plus one day of retention. */
    assert_int_equal(tlsrpt_store_expire(s, NOW, 1, &d), 1);
    stats(s, &st);
    assert_int_equal(st.reports + st.policies + st.failures + st.raw_bytes, 0);
    diag_free(&d);
    tlsrpt_store_free(s);
    free(old);
    free(recent);
    remove_dir(dir);
}

static void test_budget(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct tlsrpt_store *s = open_store(dir, 256 * 1024);
    struct tlsrpt_store_stats st;
    struct diag d;
    char id[32];
    int added = 0;
    enum tlsrpt_store_result res = TLSRPT_STORE_ADDED;
    /* Reports of ~16 KiB of barely compressible text fill 256 KiB. */
    for (int i = 0; i < 100 && res == TLSRPT_STORE_ADDED; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        char *j = report_json("O", id, "2016-04-01T23:59:59Z", 0, 16384);
        res = add(s, j);
        added += res == TLSRPT_STORE_ADDED;
        free(j);
    }
    assert_int_equal(res, TLSRPT_STORE_FULL);
    assert_true(added >= 5 && added < 100);
    stats(s, &st);
    assert_int_equal(st.reports, added);
    assert_true(st.used_bytes <= 256 * 1024);
    /* Retention frees the room: the pages are reused. */
    diag_init(&d, "t");
    assert_int_equal(tlsrpt_store_expire(s, NOW, 400, &d), added);
    diag_free(&d);
    char *j = report_json("O", "after", "2016-04-01T23:59:59Z", 0, 16384);
    assert_int_equal(add(s, j), TLSRPT_STORE_ADDED);
    free(j);
    tlsrpt_store_free(s);
    remove_dir(dir);
}

/* One batch, one commit: a duplicate inside the batch and a report over
 * the budget are left out, the others are stored whole. */
static void test_batch(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct tlsrpt_store *s = open_store(dir, 256 * 1024);
    struct tlsrpt_store_stats st;
    struct buf raw;
    struct diag d;
    char *a = report_json("O", "a", "2016-04-01T23:59:59Z", 3, 10);
    char *big = report_json("O", "big", "2016-04-01T23:59:59Z", 0, 400000);
    char *c = report_json("O", "c", "2016-04-01T23:59:59Z", 1, 10);
    struct tlsrpt_report *ra = parse(a), *rbig = parse(big), *rc = parse(c);
    diag_init(&d, "t");
    assert_int_equal(tlsrpt_store_begin(s, &d), 0);
    assert_int_equal(tlsrpt_store_add(s, ra, a, strlen(a), NOW, &d),
                     TLSRPT_STORE_ADDED);
    assert_int_equal(tlsrpt_store_add(s, ra, a, strlen(a), NOW, &d),
                     TLSRPT_STORE_DUPLICATE);
    assert_int_equal(tlsrpt_store_add(s, rbig, big, strlen(big), NOW, &d),
                     TLSRPT_STORE_FULL);
    assert_int_equal(tlsrpt_store_add(s, rc, c, strlen(c), NOW, &d),
                     TLSRPT_STORE_ADDED);
    assert_int_equal(tlsrpt_store_commit(s, &d), 0);
    diag_free(&d);
    stats(s, &st);
    assert_int_equal(st.reports, 2);
    assert_int_equal(st.policies, 2);
    assert_int_equal(st.failures, 4);
    diag_init(&d, "t");
    assert_int_equal(tlsrpt_store_raw(s, "O", "big", 1 << 20, &raw, &d), 0);
    buf_free(&raw);
    assert_int_equal(tlsrpt_store_raw(s, "O", "c", 1 << 20, &raw, &d), 1);
    buf_free(&raw);
    diag_free(&d);
    tlsrpt_report_free(ra);
    tlsrpt_report_free(rbig);
    tlsrpt_report_free(rc);
    free(a);
    free(big);
    free(c);
    tlsrpt_store_free(s);
    remove_dir(dir);
}

static void test_bad_state_dir(void **state)
{
    (void)state;
    char *dir = make_dir();
    char file[512], under[600];
    struct diag d;
    snprintf(file, sizeof(file), "%s/plain-file", dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);

    diag_init(&d, "t");
    assert_null(tlsrpt_store_open(file, "x", 1 << 20, &d));
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.entries[0].msg, file));
    assert_non_null(strstr(d.entries[0].msg, "not a directory"));
    diag_free(&d);

    snprintf(under, sizeof(under), "%s/sub", file);
    diag_init(&d, "t");
    assert_null(tlsrpt_store_open(under, "x", 1 << 20, &d));
    assert_non_null(strstr(d.entries[0].msg, under));
    assert_non_null(strstr(d.entries[0].msg, "cannot create it"));
    diag_free(&d);

    diag_init(&d, "t");
    assert_null(tlsrpt_store_open(dir, "../x", 1 << 20, &d));
    assert_non_null(strstr(d.entries[0].msg, "tlsrpt.instance"));
    diag_free(&d);

    /* A missing directory is made; the host name names the file. */
    snprintf(under, sizeof(under), "%s/new", dir);
    diag_init(&d, "t");
    struct tlsrpt_store *s = tlsrpt_store_open(under, NULL, 1 << 20, &d);
    assert_non_null(s);
    assert_non_null(strstr(tlsrpt_store_path(s), "/new/tlsrpt-"));
    struct stat sb;
    assert_int_equal(stat(tlsrpt_store_path(s), &sb), 0);
    tlsrpt_store_free(s);
    diag_free(&d);
    remove_dir(dir);
}

/*
 * A writer adds reports as fast as it can and tells the parent the number
 * of each one acknowledged; the parent kills it with SIGKILL mid-burst.
 * Afterwards every acknowledged report is there with all its rows, every
 * report there has all its rows, and the database passes its integrity
 * check.
 */
static void test_kill_during_burst(void **state)
{
    (void)state;
    char *dir = make_dir();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct diag d;
        diag_init(&d, "child");
        struct tlsrpt_store *s = tlsrpt_store_open(dir, "test", 1u << 30, &d);
        if (s == NULL)
            _exit(2);
        for (int i = 0;; i++) {
            char id[32];
            snprintf(id, sizeof(id), "burst-%d", i);
            char *j = report_json("O", id, "2016-04-01T23:59:59Z", 20, 100);
            struct tlsrpt_report *r = tlsrpt_parse(j, strlen(j), NULL, &d);
            if (r == NULL ||
                add_one(s, r, j, strlen(j), &d) != TLSRPT_STORE_ADDED)
                _exit(3);
            tlsrpt_report_free(r);
            free(j);
            if (write(fds[1], &i, sizeof(i)) != (ssize_t)sizeof(i))
                _exit(4);
        }
    }
    close(fds[1]);
    int last = -1, v;
    while (last < 40 && read(fds[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
        last = v;
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    while (read(fds[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
        last = v;
    close(fds[0]);
    assert_true(last >= 40);

    struct tlsrpt_store *s = open_store(dir, 1u << 30);
    struct tlsrpt_store_stats st;
    stats(s, &st);
    /* Every acknowledged report, perhaps one more that committed just
     * before the kill and was not yet acknowledged. */
    assert_true(st.reports == last + 1 || st.reports == last + 2);
    assert_int_equal(st.policies, st.reports);
    assert_int_equal(st.failures, st.reports * 20);
    struct diag d;
    struct buf raw;
    diag_init(&d, "t");
    for (int i = 0; i <= last; i++) {
        char id[32];
        snprintf(id, sizeof(id), "burst-%d", i);
        assert_int_equal(tlsrpt_store_raw(s, "O", id, 1 << 20, &raw, &d), 1);
        buf_free(&raw);
    }
    diag_free(&d);
    char path[512];
    snprintf(path, sizeof(path), "%s", tlsrpt_store_path(s));
    tlsrpt_store_free(s);
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    /* No report without its policy, no policy without its failures. */
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM report r WHERE"
                           " (SELECT count(*) FROM policy p WHERE p.report ="
                           " r.id) != 1 OR (SELECT count(*) FROM failure f"
                           " JOIN policy p ON f.policy = p.id WHERE p.report"
                           " = r.id) != 20 OR NOT EXISTS (SELECT 1 FROM raw"
                           " WHERE raw.report = r.id)",
                           -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_duplicate),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_bad_state_dir),
        cmocka_unit_test(test_kill_during_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
