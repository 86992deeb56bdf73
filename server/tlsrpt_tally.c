/*
 * tlsrpt_tally: the report counters of /metrics, from the databases (see
 * tlsrpt_tally.h). Each database is read from the row id after the last
 * one counted up to its largest now. A report found in both is counted
 * from the file it was counted from first: a new row of the server's file
 * is left out when the import file held it already at the previous
 * refresh, a new row of the import file when the server's file holds it
 * now. I/O (SQLite reads); a lock per tally.
 */
#include "tlsrpt_tally.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sorted.h"
#include "tlsrpt_parse.h"
#include "tlsrpt_store.h"

/* The values of the "type" label: RFC 8460's result types, then "other"
 * for anything else. */
#define N_TYPES (TLSRPT_N_RESULT_TYPES + 1)

static const char *type_name(size_t k)
{
    return k < TLSRPT_N_RESULT_TYPES ? tlsrpt_result_types[k] : "other";
}

/* What the stored reports say about one domain. */
struct dom_count {
    char *domain;
    uint64_t reports, successful, failed;
    uint64_t types[N_TYPES];
};

/* The two databases: the server's ("main") and the import's ("mail"). */
enum { DB_MAIN, DB_MAIL, N_DB };
static const char *const db_names[N_DB] = {"main", "mail"};

struct tlsrpt_tally {
    pthread_mutex_t lock;
    sqlite3 *db;
    char *mail_path;
    bool attached;
    int64_t last[N_DB]; /* the largest row id counted */
    struct dom_count *doms;
    size_t n_doms, cap_doms;
};

static void db_error(struct diag *d, struct tlsrpt_tally *t, const char *doing)
{
    diag_add(d, DIAG_ERROR, 0, 0, "report counters: %s: %s", doing,
             sqlite3_errmsg(t->db));
}

struct tlsrpt_tally *tlsrpt_tally_open(const char *db, const char *mail,
                                       struct diag *d)
{
    struct tlsrpt_tally *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->mail_path = strdup(mail)) == NULL) {
        diag_add(d, DIAG_ERROR, 0, 0, "report counters: out of memory");
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    if (sqlite3_open_v2(db, &t->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: cannot open for reading: %s", db,
                 t->db != NULL ? sqlite3_errmsg(t->db) : "out of memory");
        tlsrpt_tally_free(t);
        return NULL;
    }
    sqlite3_busy_timeout(t->db, 1000);
    return t;
}

void tlsrpt_tally_free(struct tlsrpt_tally *t)
{
    if (t == NULL)
        return;
    sqlite3_close(t->db);
    pthread_mutex_destroy(&t->lock);
    for (size_t i = 0; i < t->n_doms; i++)
        free(t->doms[i].domain);
    free(t->doms);
    free(t->mail_path);
    free(t);
}

/* attach_mail attaches the import database once it exists (an import may
 * make it at any time) and holds the schema. */
static void attach_mail(struct tlsrpt_tally *t)
{
    sqlite3_stmt *st = NULL;
    if (t->attached || access(t->mail_path, R_OK) != 0)
        return;
    if (sqlite3_prepare_v2(t->db, "ATTACH DATABASE ? AS mail", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, t->mail_path, -1, SQLITE_STATIC);
        t->attached = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    t->last[DB_MAIL] = 0;
}

static void detach_mail(struct tlsrpt_tally *t)
{
    if (t->attached)
        sqlite3_exec(t->db, "DETACH DATABASE mail", NULL, NULL, NULL);
    t->attached = false;
}

static int dom_cmp(const void *key, const void *record)
{
    return strcmp(key, ((const struct dom_count *)record)->domain);
}

/* dom_find returns the counters of domain, made when missing (NULL when
 * out of memory). */
static struct dom_count *dom_find(struct tlsrpt_tally *t, const char *domain)
{
    bool found;
    size_t i = sorted_slot(domain, t->doms, t->n_doms, sizeof(*t->doms),
                           dom_cmp, &found);
    if (found)
        return &t->doms[i];
    if (t->n_doms == t->cap_doms) {
        size_t ncap = t->cap_doms ? t->cap_doms * 2 : 8;
        struct dom_count *p = realloc(t->doms, ncap * sizeof(*p));
        if (p == NULL)
            return NULL;
        t->doms = p;
        t->cap_doms = ncap;
    }
    char *copy = strdup(domain);
    if (copy == NULL)
        return NULL;
    memmove(&t->doms[i + 1], &t->doms[i], (t->n_doms - i) * sizeof(*t->doms));
    memset(&t->doms[i], 0, sizeof(*t->doms));
    t->doms[i].domain = copy;
    t->n_doms++;
    return &t->doms[i];
}

static size_t type_index(const char *type)
{
    for (size_t i = 0; i < TLSRPT_N_RESULT_TYPES; i++)
        if (strcmp(type, tlsrpt_result_types[i]) == 0)
            return i;
    return TLSRPT_N_RESULT_TYPES;
}

#define POLICY_OK                                                              \
    TLSRPT_STORE_COUNT_OK("p.successful")                                      \
    " AND " TLSRPT_STORE_COUNT_OK("p.failed")
#define FAILURE_OK TLSRPT_STORE_COUNT_OK("f.failed_session_count")

/* add_sat adds v to a counter, stopping at the largest value rather than
 * wrapping: a counter that went back to 0 would read as a reset. */
static void add_sat(uint64_t *c, uint64_t v)
{
    *c = v > UINT64_MAX - *c ? UINT64_MAX : *c + v;
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
    int64_t v = sqlite3_column_int64(st, i);
    return v > 0 ? (uint64_t)v : 0;
}

/* max_id is the largest report row id of database which (0 when empty). */
static int max_id(struct tlsrpt_tally *t, int which, int64_t *v)
{
    char sql[96];
    sqlite3_stmt *st = NULL;
    int rc = -1;
    snprintf(sql, sizeof(sql), "SELECT coalesce(max(id), 0) FROM %s.report",
             db_names[which]);
    if (sqlite3_prepare_v2(t->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * count_new adds the reports of database which with row ids in (from, to]
 * that are not in the other database at or below other_to (when it is
 * attached); failures says which of the two queries: per domain, or per
 * domain and result type. Rows left out for their counts are added to
 * *skipped.
 */
static int count_new(struct tlsrpt_tally *t, int which, int64_t from,
                     int64_t to, int64_t other_to, bool failures,
                     uint64_t *skipped)
{
    char sql[2048], dedupe[256] = "";
    const char *db = db_names[which];
    sqlite3_stmt *st = NULL;
    int rc = -1, step;
    if (t->attached)
        snprintf(dedupe, sizeof(dedupe),
                 " AND NOT EXISTS (SELECT 1 FROM %s.report o WHERE"
                 " o.organization_name = r.organization_name AND"
                 " o.report_id = r.report_id AND o.id <= ?3)",
                 db_names[which == DB_MAIN ? DB_MAIL : DB_MAIN]);
    /* Sums that cannot fail: total() adds as a double, the cast clamps it
     * to an integer; rows with counts the parser refuses now are left out
     * of them and counted in the last column. */
    if (failures)
        snprintf(sql, sizeof(sql),
                 "SELECT p.policy_domain, f.result_type,"
                 " CAST(total(CASE WHEN %s THEN f.failed_session_count END)"
                 " AS INTEGER), CAST(total(NOT (%s)) AS INTEGER)"
                 " FROM %s.report r"
                 " JOIN %s.policy p ON p.report = r.id"
                 " JOIN %s.failure f ON f.policy = p.id"
                 " WHERE r.id > ?1 AND r.id <= ?2%s GROUP BY 1, 2",
                 FAILURE_OK, FAILURE_OK, db, db, db, dedupe);
    else
        snprintf(sql, sizeof(sql),
                 "SELECT p.policy_domain, count(DISTINCT r.id),"
                 " CAST(total(CASE WHEN %s THEN p.successful END) AS INTEGER),"
                 " CAST(total(CASE WHEN %s THEN p.failed END) AS INTEGER),"
                 " CAST(total(NOT (%s)) AS INTEGER) FROM %s.report r"
                 " JOIN %s.policy p ON p.report = r.id"
                 " WHERE r.id > ?1 AND r.id <= ?2%s GROUP BY 1",
                 POLICY_OK, POLICY_OK, POLICY_OK, db, db, dedupe);
    if (sqlite3_prepare_v2(t->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    if (t->attached)
        sqlite3_bind_int64(st, 3, other_to);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *dom = (const char *)sqlite3_column_text(st, 0);
        struct dom_count *c = dom != NULL ? dom_find(t, dom) : NULL;
        if (c == NULL)
            continue;
        if (failures) {
            const char *type = (const char *)sqlite3_column_text(st, 1);
            add_sat(&c->types[type_index(type != NULL ? type : "")],
                    col_u64(st, 2));
            *skipped += col_u64(st, 3);
        } else {
            add_sat(&c->reports, col_u64(st, 1));
            add_sat(&c->successful, col_u64(st, 2));
            add_sat(&c->failed, col_u64(st, 3));
            *skipped += col_u64(st, 4);
        }
    }
    rc = step == SQLITE_DONE ? 0 : -1;
out:
    sqlite3_finalize(st);
    return rc;
}

/* recount forgets every count, so that the next refresh counts all that
 * is stored: after a refresh that failed half-way, counting on would
 * count part of it twice. */
static void recount(struct tlsrpt_tally *t)
{
    for (size_t i = 0; i < t->n_doms; i++) {
        char *domain = t->doms[i].domain;
        memset(&t->doms[i], 0, sizeof(t->doms[i]));
        t->doms[i].domain = domain;
    }
    t->last[DB_MAIN] = t->last[DB_MAIL] = 0;
}

/* refresh counts what both databases gained since the last refresh. */
static void refresh(struct tlsrpt_tally *t, struct diag *d)
{
    int64_t to[N_DB] = {0, 0};
    uint64_t skipped = 0;
    attach_mail(t);
    if (sqlite3_exec(t->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(d, t, "starting to read");
        return;
    }
    if (max_id(t, DB_MAIN, &to[DB_MAIN]) < 0) {
        db_error(d, t, "reading the server's database");
        goto out;
    }
    /* An import file without its tables yet (being made) is tried again
     * at the next refresh. */
    if (t->attached && max_id(t, DB_MAIL, &to[DB_MAIL]) < 0) {
        sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
        detach_mail(t);
        if (sqlite3_exec(t->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
            db_error(d, t, "starting to read");
            return;
        }
    }
    for (int i = 0; i < N_DB; i++) {
        if (i == DB_MAIL && !t->attached)
            break;
        /* Row ids are reused only after the largest rows were deleted
         * (retention): count from what is there now. */
        if (to[i] < t->last[i])
            t->last[i] = to[i];
        /* A server row is left out when the import file held it at the
         * last refresh; an import row when the server's file holds it. */
        int64_t other = i == DB_MAIN ? t->last[DB_MAIL] : to[DB_MAIN];
        if (count_new(t, i, t->last[i], to[i], other, false, &skipped) < 0 ||
            count_new(t, i, t->last[i], to[i], other, true, &skipped) < 0) {
            db_error(d, t, "counting the stored reports");
            recount(t);
            goto out;
        }
    }
    t->last[DB_MAIN] = to[DB_MAIN];
    if (t->attached)
        t->last[DB_MAIL] = to[DB_MAIL];
    /* Said once: the next refresh counts only rows added after these. */
    if (skipped > 0)
        diag_add(d, DIAG_WARNING, 0, 0,
                 "report counters: %llu stored row%s with a session count "
                 "that is not an integer from 0 to %lld left out",
                 (unsigned long long)skipped, skipped == 1 ? "" : "s",
                 (long long)TLSRPT_COUNT_MAX);
out:
    sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
}

void tlsrpt_tally_metrics(struct tlsrpt_tally *t, tlsrpt_tally_keep_fn *keep,
                          const void *arg, struct buf *b, struct diag *d)
{
    pthread_mutex_lock(&t->lock);
    refresh(t, d);
    buf_puts(b, "# HELP mta_sts_tlsrpt_reports_total TLS reports in this "
                "replica's databases (received and imported), by policy "
                "domain.\n"
                "# TYPE mta_sts_tlsrpt_reports_total counter\n");
    for (size_t i = 0; i < t->n_doms; i++)
        if (keep(t->doms[i].domain, arg))
            buf_printf(b, "mta_sts_tlsrpt_reports_total{domain=\"%s\"} %llu\n",
                       t->doms[i].domain,
                       (unsigned long long)t->doms[i].reports);
    buf_puts(b, "# HELP mta_sts_tlsrpt_sessions_total SMTP sessions the "
                "stored reports count, by policy domain and result.\n"
                "# TYPE mta_sts_tlsrpt_sessions_total counter\n");
    for (size_t i = 0; i < t->n_doms; i++)
        if (keep(t->doms[i].domain, arg))
            buf_printf(
                b,
                "mta_sts_tlsrpt_sessions_total{domain=\"%s\",result="
                "\"successful\"} %llu\n"
                "mta_sts_tlsrpt_sessions_total{domain=\"%s\",result="
                "\"failed\"} %llu\n",
                t->doms[i].domain, (unsigned long long)t->doms[i].successful,
                t->doms[i].domain, (unsigned long long)t->doms[i].failed);
    buf_puts(b, "# HELP mta_sts_tlsrpt_failures_total Failed sessions the "
                "stored reports count, by policy domain and result type.\n"
                "# TYPE mta_sts_tlsrpt_failures_total counter\n");
    for (size_t i = 0; i < t->n_doms; i++)
        for (size_t k = 0; k < N_TYPES; k++)
            if (t->doms[i].types[k] > 0 && keep(t->doms[i].domain, arg))
                buf_printf(b,
                           "mta_sts_tlsrpt_failures_total{domain=\"%s\","
                           "type=\"%s\"} %llu\n",
                           t->doms[i].domain, type_name(k),
                           (unsigned long long)t->doms[i].types[k]);
    pthread_mutex_unlock(&t->lock);
}
