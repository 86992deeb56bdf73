/*
 * tlsrpt_summary: the summary of the stored TLS reports (see
 * tlsrpt_summary.h). Every tlsrpt-*.sqlite3 of the state directory is
 * attached read-only to one in-memory database in turn, and its reports
 * are copied there unless an earlier file had them (the key is
 * organization-name and report-id), with their policies and failures; the
 * summary is a handful of GROUP BY queries over that copy. I/O; main
 * thread.
 */
#include "tlsrpt_summary.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt_parse.h"
#include "tlsrpt_store.h"

#define DEFAULT_TOP 5

/* The longest value of a report a text cell shows: a host name whole. */
#define CELL_MAX 255

static const char mem_schema[] =
    "CREATE TABLE rep (org TEXT, rid TEXT, start INTEGER, fin INTEGER,"
    " src INTEGER, sid INTEGER, PRIMARY KEY (org, rid));"
    "CREATE TABLE pol (src INTEGER, pid INTEGER, sid INTEGER, domain TEXT,"
    " ok INTEGER, failed INTEGER);"
    "CREATE TABLE fail (src INTEGER, pid INTEGER, type TEXT, ip TEXT,"
    " mx TEXT, n INTEGER);";

/* The copy of one attached file "f" (numbered ?1), for reports ending at or
 * after ?2, policies of domain ?3 (NULL = all). */
static const char *const copy_sql[] = {
    "INSERT OR IGNORE INTO rep SELECT organization_name, report_id,"
    " start_time, end_time, ?1, id FROM f.report WHERE end_time >= ?2",
    "INSERT INTO pol SELECT ?1, p.id, p.report, p.policy_domain,"
    " p.successful, p.failed FROM f.policy p JOIN rep r ON r.src = ?1 AND"
    " r.sid = p.report WHERE ?3 IS NULL OR p.policy_domain = ?3",
    "INSERT INTO fail SELECT ?1, x.policy, x.result_type, x.sending_mta_ip,"
    " x.receiving_mx_hostname, x.failed_session_count FROM f.failure x"
    " JOIN pol q ON q.src = ?1 AND q.pid = x.policy",
};

#define JOIN_REP " JOIN rep r ON r.src = p.src AND r.sid = p.sid"
#define JOIN_POL " JOIN pol p ON p.src = x.src AND p.pid = x.pid" JOIN_REP

/* The sums cannot fail: total() adds as a double, which the cast turns
 * back into an integer, clamped at 2^63-1 where sum() would stop with
 * "integer overflow" (summed rows are checked counts, so a double is
 * exact far past any real total). */
#define OK_SUM "CAST(total(p.ok) AS INTEGER)"
#define FAILED_SUM "CAST(total(p.failed) AS INTEGER)"
#define N_SUM "CAST(total(x.n) AS INTEGER)"

/* The per-domain queries: ?1 is the domain, ?2 the row limit. */
enum section { S_DAYS, S_ORGS, S_TYPES, S_MX, S_IPS, S_N };
static const char *const section_sql[S_N] = {
    "SELECT date(r.start, 'unixepoch'), " OK_SUM ", " FAILED_SUM
    " FROM pol p" JOIN_REP " WHERE p.domain = ?1 GROUP BY 1 ORDER BY 1",
    "SELECT r.org, " OK_SUM ", " FAILED_SUM " FROM pol p" JOIN_REP
    " WHERE p.domain = ?1 GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1",
    "SELECT x.type, " N_SUM " FROM fail x" JOIN_POL
    " WHERE p.domain = ?1 GROUP BY 1 ORDER BY 2 DESC, 1",
    "SELECT coalesce(x.mx, '(not given)'), x.type, " N_SUM ","
    " count(DISTINCT r.org) FROM fail x" JOIN_POL
    " WHERE p.domain = ?1 GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT ?2",
    "SELECT x.ip, " N_SUM ", count(DISTINCT r.org) FROM fail x" JOIN_POL
    " WHERE p.domain = ?1 AND x.ip IS NOT NULL GROUP BY 1"
    " ORDER BY 2 DESC, 1 LIMIT ?2",
};
static const char *const section_name[S_N] = {
    "days", "organizations", "failure_types", "failing_mx", "failing_ips"};
/* Column names for JSON; text shows them as a table. */
static const char *const section_cols[S_N][4] = {
    {"day", "successful", "failed", NULL},
    {"organization", "successful", "failed", NULL},
    {"result_type", "sessions", NULL, NULL},
    {"mx_host", "result_type", "sessions", "senders"},
    {"sending_ip", "sessions", "senders", NULL},
};

struct sum {
    sqlite3 *db;
    struct diag *d;
    struct buf *out;
    const struct tlsrpt_summary_opts *o;
};

static void db_error(struct sum *s, const char *doing)
{
    diag_add(s->d, DIAG_ERROR, 0, 0, "report summary: %s: %s", doing,
             sqlite3_errmsg(s->db));
}

static int only_dbs(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return strncmp(e->d_name, "tlsrpt-", 7) == 0 && n > 15 &&
           strcmp(e->d_name + n - 8, ".sqlite3") == 0;
}

/* copy_file adds the reports of one database not seen in an earlier one. */
static int copy_file(struct sum *s, const char *path, int k)
{
    sqlite3_stmt *st = NULL;
    char uri[4200];
    int rc = -1;
    bool attached = false;
    int n = snprintf(uri, sizeof(uri), "file:%s?mode=ro", path);
    if (n < 0 || (size_t)n >= sizeof(uri) ||
        sqlite3_prepare_v2(s->db, "ATTACH ? AS f", -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    attached = true;
    for (size_t i = 0; i < sizeof(copy_sql) / sizeof(copy_sql[0]); i++) {
        sqlite3_finalize(st);
        st = NULL;
        if (sqlite3_prepare_v2(s->db, copy_sql[i], -1, &st, NULL) != SQLITE_OK)
            goto out;
        sqlite3_bind_int(st, 1, k);
        sqlite3_bind_int64(st, 2, s->o->since);
        if (s->o->domain != NULL)
            sqlite3_bind_text(st, 3, s->o->domain, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        diag_add(s->d, DIAG_ERROR, 0, 0, "%s: cannot read it: %s", path,
                 sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    if (attached)
        sqlite3_exec(s->db, "DETACH f", NULL, NULL, NULL);
    return rc;
}

/* text_value is column i of the row as text output shows it: a report's
 * strings are the sender's, so control bytes and newlines are escaped
 * (never a forged line or a terminal escape). out holds CELL_MAX * 4 + 4. */
static const char *text_value(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return diag_quote_max(v != NULL ? v : "", v != NULL ? strlen(v) : 0,
                          CELL_MAX, out, outlen);
}

/* cell appends column i of the row: text quoted in JSON, numbers bare. */
static void cell(struct sum *s, sqlite3_stmt *st, int i)
{
    char q[CELL_MAX * 4 + 4];
    const char *v = (const char *)sqlite3_column_text(st, i);
    if (sqlite3_column_type(st, i) == SQLITE_INTEGER)
        buf_printf(s->out, "%lld", (long long)sqlite3_column_int64(st, i));
    else if (s->o->json)
        buf_json_string(s->out, v != NULL ? v : "", v != NULL ? strlen(v) : 0);
    else
        buf_puts(s->out, text_value(st, i, q, sizeof(q)));
}

/* section renders one per-domain table. */
static int section(struct sum *s, enum section which, const char *domain)
{
    sqlite3_stmt *st = NULL;
    int rc = -1, step, rows = 0;
    unsigned top = s->o->top > 0 ? s->o->top : DEFAULT_TOP;
    if (sqlite3_prepare_v2(s->db, section_sql[which], -1, &st, NULL) !=
        SQLITE_OK) {
        db_error(s, "preparing a query");
        goto out;
    }
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)top);
    if (s->o->json)
        buf_printf(s->out, ",\"%s\":[", section_name[which]);
    else
        buf_printf(s->out, "  %s:\n", section_name[which]);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        buf_puts(s->out, s->o->json ? (rows ? ",{" : "{") : "    ");
        for (int i = 0; i < 4 && section_cols[which][i] != NULL; i++) {
            if (s->o->json)
                buf_printf(s->out, "%s\"%s\":", i ? "," : "",
                           section_cols[which][i]);
            else if (i > 0)
                buf_printf(s->out, "  %s=", section_cols[which][i]);
            cell(s, st, i);
        }
        buf_puts(s->out, s->o->json ? "}" : "\n");
        rows++;
    }
    if (step != SQLITE_DONE) {
        db_error(s, "reading the reports");
        goto out;
    }
    if (s->o->json)
        buf_puts(s->out, "]");
    else if (rows == 0)
        buf_puts(s->out, "    (none)\n");
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* worst appends "mx fails type for N senders" of a failing_mx row, the
 * names escaped as in text cells (JSON output escapes them again). */
static void worst(struct buf *v, sqlite3_stmt *st)
{
    char mx[CELL_MAX * 4 + 4], type[CELL_MAX * 4 + 4];
    long long senders = sqlite3_column_int64(st, 3);
    buf_printf(v, "%s%s fails %s for %lld sender%s", v->len > 0 ? "; " : "",
               text_value(st, 0, mx, sizeof(mx)),
               text_value(st, 1, type, sizeof(type)), senders,
               senders == 1 ? "" : "s");
}

/* verdict says what the reports mean for the policy of one domain. */
static int verdict(struct sum *s, const char *domain, int64_t ok,
                   int64_t failed, int64_t days)
{
    sqlite3_stmt *st = NULL;
    struct buf v;
    int rc = -1;
    buf_init(&v, 1 << 20);
    if (failed == 0) {
        buf_printf(&v,
                   "no failures in %lld day%s of reports: ready for "
                   "enforce",
                   (long long)days, days == 1 ? "" : "s");
    } else {
        buf_printf(
            &v,
            "%lld of %lld sessions failed: fix these before "
            "enforce",
            (long long)failed,
            (long long)(ok > INT64_MAX - failed ? INT64_MAX : ok + failed));
        if (sqlite3_prepare_v2(s->db, section_sql[S_MX], -1, &st, NULL) !=
            SQLITE_OK) {
            db_error(s, "preparing a query");
            goto out;
        }
        sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, 3);
        while (sqlite3_step(st) == SQLITE_ROW)
            worst(&v, st);
    }
    if (s->o->json) {
        buf_puts(s->out, ",\"verdict\":");
        buf_json_string(s->out, v.data, v.len);
    } else {
        buf_printf(s->out, "  verdict: %s\n", v.data);
    }
    rc = v.failed ? -1 : 0;
out:
    sqlite3_finalize(st);
    buf_free(&v);
    return rc;
}

static int domains(struct sum *s, int64_t *reports)
{
    sqlite3_stmt *st = NULL;
    int rc = -1, step, n = 0;
    *reports = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT p.domain, " OK_SUM ", " FAILED_SUM
                           ", count(DISTINCT r.org || char(0) || r.rid),"
                           " min(r.start), max(r.fin) FROM pol p" JOIN_REP
                           " GROUP BY 1 ORDER BY 1",
                           -1, &st, NULL) != SQLITE_OK) {
        db_error(s, "preparing a query");
        goto out;
    }
    if (s->o->json)
        buf_puts(s->out, "{\"domains\":[");
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *dom = (const char *)sqlite3_column_text(st, 0);
        int64_t ok = sqlite3_column_int64(st, 1);
        int64_t failed = sqlite3_column_int64(st, 2);
        int64_t nrep = sqlite3_column_int64(st, 3);
        int64_t span =
            sqlite3_column_int64(st, 5) - sqlite3_column_int64(st, 4);
        int64_t days = (span + 86399) / 86400;
        if (days < 1)
            days = 1;
        *reports += nrep;
        if (s->o->json) {
            buf_puts(s->out, n ? ",{\"domain\":" : "{\"domain\":");
            buf_json_string(s->out, dom, strlen(dom));
            buf_printf(
                s->out,
                ",\"reports\":%lld,\"days_covered\":%lld,\"successful\":%lld,"
                "\"failed\":%lld",
                (long long)nrep, (long long)days, (long long)ok,
                (long long)failed);
        } else {
            buf_printf(s->out,
                       "%s%s: %lld report%s over %lld day%s, %lld sessions "
                       "succeeded, %lld failed\n",
                       n ? "\n" : "", dom, (long long)nrep,
                       nrep == 1 ? "" : "s", (long long)days,
                       days == 1 ? "" : "s", (long long)ok, (long long)failed);
        }
        for (int i = 0; i < S_N; i++)
            if (section(s, (enum section)i, dom) < 0)
                goto out;
        if (verdict(s, dom, ok, failed, days) < 0)
            goto out;
        if (s->o->json)
            buf_puts(s->out, "}");
        n++;
    }
    if (step != SQLITE_DONE) {
        db_error(s, "reading the reports");
        goto out;
    }
    if (s->o->json)
        buf_printf(s->out, "],\"reports\":%lld}\n", (long long)*reports);
    else if (n == 0)
        buf_puts(s->out, "no reports\n");
    rc = s->out->failed ? -1 : 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* The rows a summary leaves out: counts the parser refuses now, stored by
 * an older version or written by hand. One such row must not make the
 * summary of every domain fail or lie, so it is dropped with a warning. */
static const char *const drop_sql[] = {
    "DELETE FROM pol WHERE NOT (" TLSRPT_STORE_COUNT_OK(
        "ok") " AND " TLSRPT_STORE_COUNT_OK("failed") ")",
    "DELETE FROM fail WHERE NOT " TLSRPT_STORE_COUNT_OK("n"),
};

/* drop_bad removes the rows of drop_sql and says how many it removed. */
static int drop_bad(struct sum *s)
{
    sqlite3_stmt *st = NULL;
    int64_t dropped = 0;
    for (size_t i = 0; i < sizeof(drop_sql) / sizeof(drop_sql[0]); i++) {
        if (sqlite3_prepare_v2(s->db, drop_sql[i], -1, &st, NULL) !=
                SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE) {
            db_error(s, "leaving out bad rows");
            sqlite3_finalize(st);
            return -1;
        }
        dropped += sqlite3_changes(s->db);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (dropped > 0)
        diag_add(s->d, DIAG_WARNING, 0, 0,
                 "report summary: %lld stored row%s with a session count "
                 "that is not an integer from 0 to %lld left out",
                 (long long)dropped, dropped == 1 ? "" : "s",
                 (long long)TLSRPT_COUNT_MAX);
    return 0;
}

/* load copies every database of state_dir into s's in-memory one. */
static int load(struct sum *s, const char *state_dir)
{
    struct dirent **names = NULL;
    int n = -1, rc = -1;
    char path[4096];
    if (sqlite3_open_v2(":memory:", &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, mem_schema, NULL, NULL, NULL) != SQLITE_OK) {
        diag_add(s->d, DIAG_ERROR, 0, 0, "report summary: out of memory");
        goto out;
    }
    n = scandir(state_dir, &names, only_dbs, alphasort);
    if (n < 0) {
        diag_add(s->d, DIAG_ERROR, 0, 0, "state directory %s: %s", state_dir,
                 strerror(errno));
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int w =
            snprintf(path, sizeof(path), "%s/%s", state_dir, names[i]->d_name);
        if (w < 0 || (size_t)w >= sizeof(path) || copy_file(s, path, i) < 0)
            goto out;
    }
    rc = drop_bad(s);
out:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int64_t tlsrpt_summary(const char *state_dir,
                       const struct tlsrpt_summary_opts *o, struct buf *out,
                       struct diag *d)
{
    struct sum s = {NULL, d, out, o};
    int64_t reports = -1, total;
    if (load(&s, state_dir) == 0 && domains(&s, &total) == 0)
        reports = total;
    sqlite3_close(s.db);
    return reports;
}

int tlsrpt_summary_facts(const char *state_dir, const char *domain,
                         int64_t since, struct tlsrpt_facts *f, struct diag *d)
{
    struct tlsrpt_summary_opts o = {domain, since, false, 1};
    struct sum s = {NULL, d, NULL, &o};
    sqlite3_stmt *st = NULL;
    int rc = -1;
    memset(f, 0, sizeof(*f));
    if (load(&s, state_dir) < 0)
        goto out;
    if (sqlite3_prepare_v2(s.db,
                           "SELECT count(DISTINCT r.org || char(0) || r.rid),"
                           " " OK_SUM ", " FAILED_SUM ","
                           " coalesce(min(r.start), 0), coalesce(max(r.fin),"
                           " 0) FROM pol p" JOIN_REP " WHERE p.domain = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        db_error(&s, "preparing a query");
        goto out;
    }
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_error(&s, "reading the reports");
        goto out;
    }
    f->reports = sqlite3_column_int64(st, 0);
    f->successful = sqlite3_column_int64(st, 1);
    f->failed = sqlite3_column_int64(st, 2);
    f->first = sqlite3_column_int64(st, 3);
    f->last = sqlite3_column_int64(st, 4);
    sqlite3_finalize(st);
    st = NULL;
    /* The failure that weighs most, for the reason advise gives. */
    if (sqlite3_prepare_v2(s.db, section_sql[S_MX], -1, &st, NULL) !=
        SQLITE_OK) {
        db_error(&s, "preparing a query");
        goto out;
    }
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, 1);
    if (sqlite3_step(st) == SQLITE_ROW) {
        struct buf w;
        buf_init(&w, sizeof(f->worst) - 1);
        worst(&w, st);
        if (!w.failed && w.data != NULL)
            memcpy(f->worst, w.data, w.len + 1);
        buf_free(&w);
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(s.db);
    return rc;
}
