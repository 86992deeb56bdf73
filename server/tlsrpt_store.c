/*
 * tlsrpt_store: one replica's TLS report database (see tlsrpt_store.h).
 * SQLite in WAL mode with synchronous=FULL: a commit is on disk when
 * sqlite3_step returns, which is what lets the HTTP path answer 200 only
 * after it. Reports are written in batches, one BEGIN IMMEDIATE ... COMMIT
 * (so one fsync) for all of them, each report in a savepoint of its own;
 * the statements are prepared once at open. I/O; a mutex per store
 * serialises callers (a batch holds it from begin to commit).
 */
#include "tlsrpt_store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(TLSRPT_COUNT_MAX == INT64_C(1099511627776),
               "TLSRPT_STORE_COUNT_OK names the cap of tlsrpt_parse.h");

#include "config.h"

#define SCHEMA_VERSION 1
#define INSTANCE_MAX 64
/* What a row costs beyond its strings, a generous guess for the budget. */
#define ROW_OVERHEAD 64

static const char schema[] =
    "CREATE TABLE report ("
    " id INTEGER PRIMARY KEY,"
    " organization_name TEXT NOT NULL,"
    " report_id TEXT NOT NULL,"
    " contact_info TEXT NOT NULL,"
    " start_time INTEGER NOT NULL,"
    " end_time INTEGER NOT NULL,"
    " received_at INTEGER NOT NULL,"
    " total_successful INTEGER NOT NULL,"
    " total_failed INTEGER NOT NULL,"
    " UNIQUE (organization_name, report_id));"
    "CREATE INDEX report_end ON report (end_time);"
    "CREATE TABLE raw ("
    " report INTEGER PRIMARY KEY REFERENCES report (id) ON DELETE CASCADE,"
    " gzip BLOB NOT NULL);"
    "CREATE TABLE policy ("
    " id INTEGER PRIMARY KEY,"
    " report INTEGER NOT NULL REFERENCES report (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " policy_type TEXT NOT NULL,"
    " policy_domain TEXT NOT NULL,"
    " policy_string TEXT NOT NULL," /* JSON array */
    " mx_host TEXT NOT NULL,"       /* JSON array */
    " successful INTEGER NOT NULL,"
    " failed INTEGER NOT NULL);"
    "CREATE INDEX policy_report ON policy (report);"
    "CREATE INDEX policy_domain ON policy (policy_domain);"
    "CREATE TABLE failure ("
    " policy INTEGER NOT NULL REFERENCES policy (id) ON DELETE CASCADE,"
    " result_type TEXT NOT NULL,"
    " sending_mta_ip TEXT,"
    " receiving_mx_hostname TEXT,"
    " receiving_mx_helo TEXT,"
    " receiving_ip TEXT,"
    " failed_session_count INTEGER NOT NULL,"
    " additional_information TEXT,"
    " failure_reason_code TEXT);"
    "CREATE INDEX failure_policy ON failure (policy);";

enum stmt {
    ST_REPORT,
    ST_RAW,
    ST_POLICY,
    ST_FAILURE,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_EXPIRE,
    ST_N
};

static const char *const stmt_sql[ST_N] = {
    "INSERT INTO report (organization_name, report_id, contact_info,"
    " start_time, end_time, received_at, total_successful, total_failed)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (organization_name, report_id) DO NOTHING",
    "INSERT INTO raw (report, gzip) VALUES (?, ?)",
    "INSERT INTO policy (report, seq, policy_type, policy_domain,"
    " policy_string, mx_host, successful, failed)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "INSERT INTO failure (policy, result_type, sending_mta_ip,"
    " receiving_mx_hostname, receiving_mx_helo, receiving_ip,"
    " failed_session_count, additional_information, failure_reason_code)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT report",
    "RELEASE report",
    "ROLLBACK TO report",
    "DELETE FROM report WHERE end_time < ?",
};

struct tlsrpt_store {
    pthread_mutex_t lock; /* held from tlsrpt_store_begin to its commit */
    sqlite3 *db;
    sqlite3_stmt *st[ST_N];
    char *path;
    size_t max_disk;
};

static void db_error(struct diag *d, const struct tlsrpt_store *s,
                     const char *doing)
{
    diag_add(d, DIAG_ERROR, 0, 0, "%s: %s: %s", s->path, doing,
             sqlite3_errmsg(s->db));
}

/* default_instance is this host's name, with anything a file name should
 * not hold replaced by '_'. */
static int default_instance(char *out, size_t outlen)
{
    char host[256];
    size_t o = 0;
    if (gethostname(host, sizeof(host)) != 0)
        return -1;
    host[sizeof(host) - 1] = '\0';
    for (size_t i = 0; host[i] != '\0' && o + 1 < outlen && o < INSTANCE_MAX;
         i++) {
        char c = host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  (c == '.' && o > 0);
        out[o++] = ok ? c : '_';
    }
    out[o] = '\0';
    return o > 0 ? 0 : -1;
}

/* prepare_dir makes state_dir when missing and checks that it is a
 * directory this process can write to. */
static int prepare_dir(const char *dir, struct diag *d)
{
    struct stat st;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "state directory %s: cannot create it: %s", dir,
                 strerror(errno));
        return -1;
    }
    if (stat(dir, &st) != 0) {
        diag_add(d, DIAG_ERROR, 0, 0, "state directory %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        diag_add(d, DIAG_ERROR, 0, 0, "state directory %s: not a directory",
                 dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "state directory %s: not writable by this user: %s", dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static int exec_sql(struct tlsrpt_store *s, const char *sql, const char *doing,
                    struct diag *d)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: %s: %s", s->path, doing,
                 msg != NULL ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* query_int runs a one-value query. */
static int query_int(struct tlsrpt_store *s, const char *sql, int64_t *v,
                     struct diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_error(d, s, "preparing a query");
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_error(d, s, "running a query");
        goto out;
    }
    *v = sqlite3_column_int64(st, 0);
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

static int setup(struct tlsrpt_store *s, struct diag *d)
{
    int64_t version;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL: readers (summaries) never block the writer. */
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        db_error(d, s, "setting WAL mode");
        goto out;
    }
    const unsigned char *m = sqlite3_column_text(st, 0);
    char mode[16];
    snprintf(mode, sizeof(mode), "%s", m != NULL ? (const char *)m : "none");
    /* Done with it: an open statement would keep the schema from being
     * committed. */
    sqlite3_finalize(st);
    st = NULL;
    if (strcmp(mode, "wal") != 0) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "%s: expected journal mode wal, found %s (a file system "
                 "without shared memory?)",
                 s->path, mode);
        goto out;
    }
    if (exec_sql(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON",
                 "setting durability", d) < 0 ||
        query_int(s, "PRAGMA user_version", &version, d) < 0)
        goto out;
    if (version == 0) {
        char sql[sizeof(schema) + 64];
        snprintf(sql, sizeof(sql), "BEGIN; %s PRAGMA user_version=%d; COMMIT",
                 schema, SCHEMA_VERSION);
        if (exec_sql(s, sql, "creating the tables", d) < 0)
            goto out;
    } else if (version != SCHEMA_VERSION) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "%s: expected schema version %d, found %lld (made by "
                 "another version of mta-sts-host)",
                 s->path, SCHEMA_VERSION, (long long)version);
        goto out;
    }
    for (int i = 0; i < ST_N; i++)
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            db_error(d, s, "preparing the statements");
            goto out;
        }
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

char *tlsrpt_store_file(const char *state_dir, const char *instance)
{
    size_t n = strlen(state_dir) + strlen(instance) + 32;
    char *path = malloc(n);
    if (path != NULL)
        snprintf(path, n, "%s/tlsrpt-%s.sqlite3", state_dir, instance);
    return path;
}

const char *tlsrpt_store_mail_instance(const char *instance, char *out,
                                       size_t outlen)
{
    snprintf(out, outlen, "%s%smail", instance != NULL ? instance : "",
             instance != NULL ? "-" : "");
    return out;
}

struct tlsrpt_store *tlsrpt_store_open(const char *state_dir,
                                       const char *instance, size_t max_disk,
                                       struct diag *d)
{
    char name[INSTANCE_MAX + 1], err[256];
    struct tlsrpt_store *s = NULL;
    if (instance == NULL) {
        if (default_instance(name, sizeof(name)) < 0) {
            diag_add(d, DIAG_ERROR, 0, 0,
                     "cannot name the report database: no host name (%s); "
                     "set tlsrpt.instance",
                     strerror(errno));
            return NULL;
        }
        instance = name;
    } else if (config_check_instance(instance, err, sizeof(err)) < 0) {
        diag_add(d, DIAG_ERROR, 0, 0, "tlsrpt.instance: %s", err);
        return NULL;
    }
    if (prepare_dir(state_dir, d) < 0)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL ||
        (s->path = tlsrpt_store_file(state_dir, instance)) == NULL) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "opening the report database: out of memory");
        goto fail;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->max_disk = max_disk;
    if (sqlite3_open_v2(s->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: cannot open: %s", s->path,
                 s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    if (setup(s, d) < 0)
        goto fail;
    return s;
fail:
    tlsrpt_store_free(s);
    return NULL;
}

void tlsrpt_store_free(struct tlsrpt_store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    if (s->path != NULL)
        pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

const char *tlsrpt_store_path(const struct tlsrpt_store *s)
{
    return s->path;
}

/* run steps a prepared statement once (no rows expected) and resets it. */
static int run(struct tlsrpt_store *s, enum stmt i, const char *doing,
               struct diag *d)
{
    int rc = sqlite3_step(s->st[i]);
    if (rc != SQLITE_DONE)
        db_error(d, s, doing);
    sqlite3_reset(s->st[i]);
    sqlite3_clear_bindings(s->st[i]);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* json_strings renders a string list as a JSON array into b. */
static int json_strings(struct buf *b, char *const *v, size_t n)
{
    buf_init(b, TLSRPT_JSON_MAX);
    buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_puts(b, ",");
        buf_json_string(b, v[i], strlen(v[i]));
    }
    return buf_puts(b, "]");
}

static int add_policy(struct tlsrpt_store *s, int64_t report, size_t seq,
                      const struct tlsrpt_policy *p, struct diag *d)
{
    struct buf ps, mx;
    sqlite3_stmt *st = s->st[ST_POLICY];
    int rc = -1;
    if (json_strings(&ps, p->policy_string, p->n_policy_string) < 0 ||
        json_strings(&mx, p->mx_host, p->n_mx_host) < 0) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: out of memory", s->path);
        goto out;
    }
    sqlite3_bind_int64(st, 1, report);
    sqlite3_bind_int64(st, 2, (int64_t)seq);
    bind_text(st, 3, p->policy_type);
    bind_text(st, 4, p->policy_domain);
    bind_text(st, 5, ps.data);
    bind_text(st, 6, mx.data);
    sqlite3_bind_int64(st, 7, p->successful);
    sqlite3_bind_int64(st, 8, p->failed);
    if (run(s, ST_POLICY, "storing a policy", d) < 0)
        goto out;
    int64_t policy = sqlite3_last_insert_rowid(s->db);
    st = s->st[ST_FAILURE];
    for (size_t i = 0; i < p->n_failures; i++) {
        const struct tlsrpt_failure *f = &p->failures[i];
        sqlite3_bind_int64(st, 1, policy);
        bind_text(st, 2, f->result_type);
        bind_text(st, 3, f->sending_mta_ip);
        bind_text(st, 4, f->receiving_mx_hostname);
        bind_text(st, 5, f->receiving_mx_helo);
        bind_text(st, 6, f->receiving_ip);
        sqlite3_bind_int64(st, 7, f->failed_session_count);
        bind_text(st, 8, f->additional_information);
        bind_text(st, 9, f->failure_reason_code);
        if (run(s, ST_FAILURE, "storing a failure", d) < 0)
            goto out;
    }
    rc = 0;
out:
    buf_free(&ps);
    buf_free(&mx);
    return rc;
}

static size_t slen(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* row_bytes estimates what the parsed rows of r take in the database. */
static size_t row_bytes(const struct tlsrpt_report *r)
{
    size_t n = ROW_OVERHEAD + slen(r->organization_name) + slen(r->report_id) +
               slen(r->contact_info);
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct tlsrpt_policy *p = &r->policies[i];
        n += ROW_OVERHEAD + slen(p->policy_type) + slen(p->policy_domain);
        for (size_t j = 0; j < p->n_policy_string; j++)
            n += 4 + strlen(p->policy_string[j]);
        for (size_t j = 0; j < p->n_mx_host; j++)
            n += 4 + strlen(p->mx_host[j]);
        for (size_t j = 0; j < p->n_failures; j++) {
            const struct tlsrpt_failure *f = &p->failures[j];
            n += ROW_OVERHEAD + slen(f->result_type) + slen(f->sending_mta_ip) +
                 slen(f->receiving_mx_hostname) + slen(f->receiving_mx_helo) +
                 slen(f->receiving_ip) + slen(f->additional_information) +
                 slen(f->failure_reason_code);
        }
    }
    /* Indexes repeat the keys; pages are not full. */
    return n * 3 / 2;
}

/* used_bytes is the size of the database pages in use (free pages are
 * reused before the file grows). */
static int used_bytes(struct tlsrpt_store *s, int64_t *used, struct diag *d)
{
    return query_int(s,
                     "SELECT (page_count - freelist_count) * page_size FROM"
                     " pragma_page_count(), pragma_freelist_count(),"
                     " pragma_page_size()",
                     used, d);
}

/* insert_report writes the report row; 1 = a duplicate (nothing written). */
static int insert_report(struct tlsrpt_store *s, const struct tlsrpt_report *r,
                         int64_t now, int64_t *id, struct diag *d)
{
    sqlite3_stmt *st = s->st[ST_REPORT];
    bind_text(st, 1, r->organization_name);
    bind_text(st, 2, r->report_id);
    bind_text(st, 3, r->contact_info);
    sqlite3_bind_int64(st, 4, r->start);
    sqlite3_bind_int64(st, 5, r->end);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, r->total_successful);
    sqlite3_bind_int64(st, 8, r->total_failed);
    if (run(s, ST_REPORT, "storing a report", d) < 0)
        return -1;
    if (sqlite3_changes(s->db) == 0)
        return 1;
    *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int tlsrpt_store_begin(struct tlsrpt_store *s, struct diag *d)
{
    pthread_mutex_lock(&s->lock);
    if (run(s, ST_BEGIN, "starting a transaction", d) < 0) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    return 0;
}

int tlsrpt_store_commit(struct tlsrpt_store *s, struct diag *d)
{
    int rc = run(s, ST_COMMIT, "committing reports", d);
    if (rc < 0) {
        struct diag ignored;
        diag_init(&ignored, NULL);
        run(s, ST_ROLLBACK, "rolling back", &ignored);
        diag_free(&ignored);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* add_rows writes the rows of one report inside the savepoint. */
static enum tlsrpt_store_result add_rows(struct tlsrpt_store *s,
                                         const struct tlsrpt_report *r,
                                         const void *raw, size_t raw_len,
                                         int64_t now, struct diag *d)
{
    int64_t used, id = 0;
    if (used_bytes(s, &used, d) < 0)
        return TLSRPT_STORE_FAILED;
    size_t need = raw_len + row_bytes(r);
    if ((uint64_t)used + need > s->max_disk) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "%s: the reports take %lld bytes; %zu more would pass the "
                 "budget of %zu (tlsrpt.max_disk)",
                 s->path, (long long)used, need, s->max_disk);
        return TLSRPT_STORE_FULL;
    }
    int dup = insert_report(s, r, now, &id, d);
    if (dup < 0)
        return TLSRPT_STORE_FAILED;
    if (dup == 1)
        return TLSRPT_STORE_DUPLICATE;
    sqlite3_bind_int64(s->st[ST_RAW], 1, id);
    sqlite3_bind_blob64(s->st[ST_RAW], 2, raw, raw_len, SQLITE_STATIC);
    if (run(s, ST_RAW, "storing the raw report", d) < 0)
        return TLSRPT_STORE_FAILED;
    for (size_t i = 0; i < r->n_policies; i++)
        if (add_policy(s, id, i, &r->policies[i], d) < 0)
            return TLSRPT_STORE_FAILED;
    return TLSRPT_STORE_ADDED;
}

enum tlsrpt_store_result tlsrpt_store_add(struct tlsrpt_store *s,
                                          const struct tlsrpt_report *r,
                                          const void *raw, size_t raw_len,
                                          int64_t now, struct diag *d)
{
    enum tlsrpt_store_result res = TLSRPT_STORE_FAILED;
    struct buf z;
    buf_init(&z, 0);
    if (!tlsrpt_is_gzip(raw, raw_len)) {
        if (tlsrpt_deflate(raw, raw_len, raw_len + raw_len / 8 + 1024, &z) <
            0) {
            diag_add(d, DIAG_ERROR, 0, 0, "%s: cannot compress the report",
                     s->path);
            goto out;
        }
        raw = z.data;
        raw_len = z.len;
    }
    /* A savepoint per report: one that fails (or is over the budget)
     * leaves the others of the batch standing. */
    if (run(s, ST_SAVEPOINT, "starting a report", d) < 0)
        goto out;
    res = add_rows(s, r, raw, raw_len, now, d);
    if (res != TLSRPT_STORE_ADDED) {
        struct diag ignored;
        diag_init(&ignored, NULL);
        run(s, ST_ROLLBACK_TO, "rolling back a report", &ignored);
        diag_free(&ignored);
    }
    if (run(s, ST_RELEASE, "ending a report", d) < 0)
        res = TLSRPT_STORE_FAILED;
out:
    buf_free(&z);
    return res;
}

int64_t tlsrpt_store_expire(struct tlsrpt_store *s, int64_t now, unsigned days,
                            struct diag *d)
{
    int64_t n = -1;
    pthread_mutex_lock(&s->lock);
    sqlite3_bind_int64(s->st[ST_EXPIRE], 1, now - (int64_t)days * 86400);
    if (run(s, ST_EXPIRE, "deleting expired reports", d) == 0)
        n = sqlite3_changes64(s->db);
    pthread_mutex_unlock(&s->lock);
    return n;
}

int tlsrpt_store_stats(struct tlsrpt_store *s, struct tlsrpt_store_stats *st,
                       struct diag *d)
{
    int rc = -1;
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&s->lock);
    if (query_int(s, "SELECT count(*) FROM report", &st->reports, d) < 0 ||
        query_int(s, "SELECT count(*) FROM policy", &st->policies, d) < 0 ||
        query_int(s, "SELECT count(*) FROM failure", &st->failures, d) < 0 ||
        query_int(s, "SELECT coalesce(sum(length(gzip)), 0) FROM raw",
                  &st->raw_bytes, d) < 0 ||
        used_bytes(s, &st->used_bytes, d) < 0)
        goto out;
    rc = 0;
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int tlsrpt_store_raw(struct tlsrpt_store *s, const char *org,
                     const char *report_id, size_t max, struct buf *out,
                     struct diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    buf_init(out, max);
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT raw.gzip FROM raw JOIN report ON"
                           " report.id = raw.report WHERE"
                           " organization_name = ? AND report_id = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        db_error(d, s, "preparing a query");
        goto out;
    }
    bind_text(st, 1, org);
    bind_text(st, 2, report_id);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = 0;
        goto out;
    }
    if (step != SQLITE_ROW) {
        db_error(d, s, "reading a report");
        goto out;
    }
    if (buf_append(out, sqlite3_column_blob(st, 0),
                   (size_t)sqlite3_column_bytes(st, 0)) < 0) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: the report passes %zu bytes",
                 s->path, max);
        goto out;
    }
    rc = 1;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
