/*
 * store: the loader (see store.h). All file I/O of a reload happens here,
 * on the reloading thread: it keeps, per policy file and per certificate
 * unit, what was last read (and a hash of the bytes, so that a file read
 * again unchanged costs no parse and no log line), turns a change into the
 * set of domains it concerns, and lets the planner decide their next
 * state. Request threads only take references to the published snapshot
 * under a short lock.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "acme_state.h"
#include "buf.h"
#include "certs.h"
#include "plan.h"
#include "readfile.h"
#include "sorted.h"

#define PROBLEM_MAX 1024
#define PATH_MAX_LEN 4096
#define HASH_LEN 32 /* SHA-256 */

/* A policy file as last read. */
struct pfile {
    struct plan_file f; /* strings owned */
    unsigned char hash[HASH_LEN];
    bool hashed; /* hash holds the bytes last parsed */
};

/* A certificate unit as last read. */
struct unit {
    enum store_root root; /* STORE_CERT_DIR or STORE_ACME_DIR */
    struct certs_unit u;
    struct certs_entry *entry; /* NULL: refused, or not a pair */
    struct certs_entry *last;  /* the last pair it gave: whose it was */
    char *error;
    char **refused; /* the names of its certificate when it was refused */
    size_t n_refused;
    time_t retry_at; /* refused as not valid yet: load it again then */
    unsigned char hash[HASH_LEN];
    bool hashed;
};

/* Domain names that a change concerns (owned copies). */
struct dirty {
    char **v;
    size_t n, cap;
    bool all;
    bool certs; /* the certificate index must be rebuilt */
    bool nomem;
    bool kept;           /* a directory could not be read: what it gave stays */
    size_t n_unfinished; /* files left as they were: being saved */
    char unfinished[256]; /* the first of them */
};

struct store {
    const struct config *cfg;
    const struct logger *lg;
    pthread_mutex_t lock;        /* guards cur */
    pthread_mutex_t reload_lock; /* one reload at a time (watcher, SIGHUP) */
    struct snapshot *cur;
    snapshot_prepare_fn prepare;
    void *prepare_ctx;
    /* Told after every publication (the ACME thread, to look at new
     * domains at once instead of polling the snapshot). */
    void (*notify)(void *ctx);
    void *notify_ctx;
    /* The watcher: whether a policy file's save is still under way. */
    bool (*unfinished)(void *ctx, enum store_root root, const char *rel);
    void *unfinished_ctx;
    uint64_t generation;
    atomic_uint_fast64_t reloads;
    atomic_uint_fast64_t failures;

    const char **config; /* the configured domains, sorted */
    size_t n_config;
    struct pfile *files; /* policy/<domain>.txt, sorted by domain */
    size_t n_files, cap_files;
    struct pfile deflt; /* policy/mta-sts.txt */
    struct unit *units; /* sorted by id */
    size_t n_units, cap_units;
    struct certs_checker *chk;
    struct snapshot_certs *certs; /* index of the units' pairs */
    struct certs_entry *dev;      /* the development pair, or NULL */
    bool served_real;             /* a real pair was loaded once */
    char *acme_dir;               /* issued certificates; NULL: no ACME */
    char *dir_problem[3];         /* a directory that cannot be read */
    char *failure;                /* why the last reload failed outright */
    time_t next_expiry;           /* the earliest not-after planned with */
};

/* ---- small helpers ------------------------------------------------------ */

/* root_dir is the directory of a certificate root (NULL: not read). */
static const char *root_dir(const struct store *st, enum store_root root)
{
    return root == STORE_ACME_DIR ? st->acme_dir : st->cfg->cert_dir;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void set_str(char **slot, const char *s)
{
    char *copy = s != NULL ? strdup(s) : NULL;
    free(*slot);
    *slot = copy;
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void dirty_add(struct dirty *d, const char *name)
{
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 16;
        char **p = realloc(d->v, ncap * sizeof(*p));
        if (p == NULL) {
            d->nomem = true;
            return;
        }
        d->v = p;
        d->cap = ncap;
    }
    if ((d->v[d->n] = strdup(name)) == NULL)
        d->nomem = true;
    else
        d->n++;
}

/* dirty_names adds the domains whose policy host certificate names cover:
 * an exact mta-sts.<d>, or a wildcard *.<d>. */
static void dirty_names(struct dirty *d, const char *const *names, size_t n)
{
    for (size_t i = 0; names != NULL && i < n; i++) {
        if (strncmp(names[i], "mta-sts.", 8) == 0)
            dirty_add(d, names[i] + 8);
        else if (strncmp(names[i], "*.", 2) == 0)
            dirty_add(d, names[i] + 2);
    }
}

/* dirty_entry adds the domains of a pair's names. */
static void dirty_entry(struct dirty *d, const struct certs_entry *e)
{
    size_t n = 0;
    const char *const *names = e != NULL ? certs_entry_names(e, &n) : NULL;
    dirty_names(d, names, n);
}

static void dirty_free(struct dirty *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i]);
    free(d->v);
}

/* hash_files hashes the bytes of the files (in order) into out: each file
 * on its own, then the digests together (one-shot hashes: GnuTLS 3.7's
 * gnutls_hash_init leaks its context when it runs out of memory). -1 when
 * one cannot be read (its load then says why). */
static int hash_files(const char *const *paths, size_t n, size_t max,
                      unsigned char out[HASH_LEN])
{
    unsigned char each[2 * HASH_LEN];
    if (n > 2)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char *data = NULL, err[64];
        size_t len = 0;
        int rc = readfile(paths[i], max, &data, &len, err, sizeof(err));
        if (rc == 0)
            rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len,
                                  each + i * HASH_LEN);
        free(data);
        if (rc < 0)
            return -1;
    }
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, each, n * HASH_LEN, out) < 0 ? -1
                                                                            : 0;
}

static int first_error(const struct diag *d, char *out, size_t outlen)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->entries[i].severity == DIAG_ERROR) {
            diag_format_entry(d, &d->entries[i], out, outlen);
            return 0;
        }
    }
    snprintf(out, outlen, "%s: invalid", d->file);
    return 0;
}

/* ---- the store ---------------------------------------------------------- */

struct store *store_new(const struct config *cfg, const struct logger *lg)
{
    struct store *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->cfg = cfg;
    st->lg = lg;
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->reload_lock, NULL);
    atomic_init(&st->reloads, 0);
    atomic_init(&st->failures, 0);
    st->config = calloc(cfg->n_domains + 1, sizeof(*st->config));
    st->chk = certs_checker_new();
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "%s/%s", cfg->policy_dir,
             STORE_DEFAULT_POLICY);
    st->deflt.f.path = strdup(path);
    /* Certificates the host obtained are loaded like cert_dir's. */
    if (cfg->acme &&
        acme_state_certs_dir(cfg->state_dir, path, sizeof(path)) == 0)
        st->acme_dir = strdup(path);
    if (st->config == NULL || st->chk == NULL || st->deflt.f.path == NULL ||
        (cfg->acme && st->acme_dir == NULL)) {
        store_free(st);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_domains; i++)
        st->config[i] = cfg->domains[i];
    st->n_config = cfg->n_domains;
    qsort(st->config, st->n_config, sizeof(*st->config), cmp_strp);
    return st;
}

static void pfile_clear(struct pfile *pf)
{
    plan_policy_unref(pf->f.policy);
    free((char *)pf->f.domain);
    free((char *)pf->f.path);
    free((char *)pf->f.error);
    memset(pf, 0, sizeof(*pf));
}

static void unit_clear(struct unit *u)
{
    free(u->u.id);
    free(u->u.crt);
    free(u->u.key);
    certs_entry_unref(u->entry);
    certs_entry_unref(u->last);
    free(u->error);
    certs_names_free(u->refused, u->n_refused);
    memset(u, 0, sizeof(*u));
}

void store_free(struct store *st)
{
    if (st == NULL)
        return;
    snapshot_release(st->cur);
    for (size_t i = 0; i < st->n_files; i++)
        pfile_clear(&st->files[i]);
    free(st->files);
    pfile_clear(&st->deflt);
    for (size_t i = 0; i < st->n_units; i++)
        unit_clear(&st->units[i]);
    free(st->units);
    snapshot_certs_unref(st->certs);
    certs_entry_unref(st->dev);
    certs_checker_free(st->chk);
    free(st->config);
    for (size_t i = 0; i < 3; i++)
        free(st->dir_problem[i]);
    free(st->acme_dir);
    free(st->failure);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->reload_lock);
    free(st);
}

void store_set_notify(struct store *st, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&st->lock);
    st->notify = fn;
    st->notify_ctx = ctx;
    pthread_mutex_unlock(&st->lock);
}

void store_set_unfinished(struct store *st,
                          bool (*fn)(void *ctx, enum store_root root,
                                     const char *rel),
                          void *ctx)
{
    pthread_mutex_lock(&st->reload_lock);
    st->unfinished = fn;
    st->unfinished_ctx = ctx;
    pthread_mutex_unlock(&st->reload_lock);
}

void store_set_prepare(struct store *st, snapshot_prepare_fn fn, void *ctx)
{
    st->prepare = fn;
    st->prepare_ctx = ctx;
}

struct snapshot *store_acquire(struct store *st)
{
    pthread_mutex_lock(&st->lock);
    struct snapshot *s = snapshot_ref(st->cur);
    pthread_mutex_unlock(&st->lock);
    return s;
}

void store_stats(const struct store *st, struct store_stats *out)
{
    out->reloads = atomic_load(&st->reloads);
    out->reload_failures = atomic_load(&st->failures);
}

/* unfinished asks the watcher whether root/rel is still being saved (see
 * store_set_unfinished), and counts a yes in dirty. */
static bool unfinished(struct store *st, enum store_root root, const char *rel,
                       struct dirty *dirty)
{
    if (st->unfinished == NULL ||
        !st->unfinished(st->unfinished_ctx, root, rel))
        return false;
    if (dirty->n_unfinished++ == 0)
        snprintf(dirty->unfinished, sizeof(dirty->unfinished), "%s", rel);
    return true;
}

/* ---- policy files ------------------------------------------------------- */

/* policy_of validates what readfile gave for path (rc, and data or err). */
static struct policy *policy_of(const char *path, int rc, const char *data,
                                size_t len, const char *err, struct diag *d)
{
    if (rc < 0) {
        /* The diagnostic names the file already. */
        size_t plen = strlen(path);
        const char *msg = strncmp(err, path, plen) == 0 && err[plen] == ':'
                              ? err + plen + 2
                              : err;
        diag_add(d, DIAG_ERROR, 0, 0, "%s", msg);
        return NULL;
    }
    return policy_parse(data, len, d);
}

struct policy *store_read_policy(const char *path, struct diag *d)
{
    char *data = NULL;
    size_t len = 0;
    char err[PROBLEM_MAX];
    int rc = readfile(path, POLICY_MAX_SIZE, &data, &len, err, sizeof(err));
    struct policy *p = policy_of(path, rc, data, len, err, d);
    free(data);
    return p;
}

/*
 * read_policy reads pf's file (name in the policy directory) again.
 * Returns 1 when what it gives changed (new bytes, or a new reason it
 * cannot be read), 0 when not, 2 when its save is not finished (pf stays
 * as it was, counted in dirty), -1 when memory ran out (pf stays as it
 * was).
 */
static int read_policy(struct store *st, struct pfile *pf, const char *name,
                       struct dirty *dirty)
{
    unsigned char hash[HASH_LEN];
    const char *path = pf->f.path;
    char *data = NULL, why[PROBLEM_MAX];
    size_t len = 0;
    /* Read once: the bytes hashed are the bytes validated, even when the
     * file changes again meanwhile. */
    int rc = readfile(path, POLICY_MAX_SIZE, &data, &len, why, sizeof(why));
    bool readable =
        rc == 0 && gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, hash) == 0;
    if (readable && pf->hashed && memcmp(hash, pf->hash, HASH_LEN) == 0) {
        free(data);
        return 0;
    }
    /* Asked after the read: a save that began before it (or during it)
     * has told the watcher by now. */
    if (unfinished(st, STORE_POLICY_DIR, name, dirty)) {
        free(data);
        return 2;
    }
    struct diag d;
    char problem[PROBLEM_MAX];
    diag_init(&d, path);
    struct policy *p = policy_of(path, rc, data, len, why, &d);
    free(data);
    if (p == NULL)
        first_error(&d, problem, sizeof(problem));
    if (p == NULL && pf->f.policy == NULL && same_str(problem, pf->f.error)) {
        diag_free(&d);
        return 0; /* refused again for the same reason: said already */
    }
    log_diag(st->lg, &d);
    diag_free(&d);
    struct plan_policy *pp = p != NULL ? plan_policy_new(path, p) : NULL;
    char *err = p == NULL ? strdup(problem) : NULL;
    if ((p != NULL && pp == NULL) || (p == NULL && err == NULL)) {
        plan_policy_unref(pp);
        free(err);
        return -1;
    }
    plan_policy_unref(pf->f.policy);
    free((char *)pf->f.error);
    pf->f.policy = pp;
    pf->f.error = err;
    pf->hashed = readable && p != NULL;
    memcpy(pf->hash, hash, HASH_LEN);
    return 1;
}

/* policy_domain tells whether a file name is policy/<domain>.txt and
 * copies the domain into out. */
static bool policy_domain(const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    char err[128];
    if (name[0] == '.' || n <= 4 || strcmp(name + n - 4, ".txt") != 0 ||
        strcmp(name, STORE_DEFAULT_POLICY) == 0 || n - 4 >= outlen)
        return false;
    memcpy(out, name, n - 4);
    out[n - 4] = '\0';
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", out);
    return config_check_domain(copy, err, sizeof(err)) == 0 &&
           strcmp(copy, out) == 0;
}

static int cmp_pfile(const void *key, const void *elem)
{
    return strcmp(key, ((const struct pfile *)elem)->f.domain);
}

static size_t file_slot(const struct store *st, const char *domain, bool *found)
{
    return sorted_slot(domain, st->files, st->n_files, sizeof(*st->files),
                       cmp_pfile, found);
}

/*
 * odd_name says why a *.txt in the policy directory is not a domain's
 * policy: a name that is one once written in lower case (A.Example.txt)
 * would otherwise be ignored in silence while the default policy is
 * served for that domain.
 */
static void odd_name(const struct store *st, const char *name)
{
    char domain[256], lower[256];
    size_t n = strlen(name);
    if (n <= 4 || strcmp(name + n - 4, ".txt") != 0 || name[0] == '.' ||
        n >= sizeof(lower))
        return;
    for (size_t i = 0; i < n; i++)
        lower[i] =
            (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    lower[n] = '\0';
    if (policy_domain(lower, domain, sizeof(domain)))
        log_msg(st->lg, LOG_LEVEL_WARN,
                "%s/%s: policy file names are lower case: rename it to %s "
                "(until then it is ignored and %s gets the default policy)",
                st->cfg->policy_dir, name, lower, domain);
    else
        log_msg(st->lg, LOG_LEVEL_DEBUG,
                "%s/%s: not policy/<domain>.txt; ignored", st->cfg->policy_dir,
                name);
}

/*
 * policy_changed handles one name in the policy directory: the default
 * file, or a policy/<domain>.txt that was written, renamed in or removed.
 * Anything else there is not a policy.
 */
static void policy_changed(struct store *st, const char *name,
                           struct dirty *dirty)
{
    char domain[256], path[PATH_MAX_LEN];
    if (strcmp(name, STORE_DEFAULT_POLICY) == 0) {
        int r = read_policy(st, &st->deflt, name, dirty);
        dirty->nomem = dirty->nomem || r < 0;
        dirty->all = dirty->all || r == 1;
        return;
    }
    if (!policy_domain(name, domain, sizeof(domain))) {
        odd_name(st, name);
        return;
    }
    int len = snprintf(path, sizeof(path), "%s/%s", st->cfg->policy_dir, name);
    if (len < 0 || (size_t)len >= sizeof(path))
        return;
    bool found;
    size_t at = file_slot(st, domain, &found);
    struct stat sb;
    if (stat(path, &sb) < 0 && errno == ENOENT) {
        /* Gone, or a save that removes and writes anew under way: the
         * domain keeps its file until that save is finished. */
        if (found && !unfinished(st, STORE_POLICY_DIR, name, dirty)) {
            pfile_clear(&st->files[at]);
            memmove(&st->files[at], &st->files[at + 1],
                    (st->n_files - at - 1) * sizeof(*st->files));
            st->n_files--;
            dirty_add(dirty, domain);
        }
        return;
    }
    if (!found) {
        if (st->n_files == st->cap_files) {
            size_t ncap = st->cap_files ? st->cap_files * 2 : 64;
            struct pfile *p = realloc(st->files, ncap * sizeof(*p));
            if (p == NULL) {
                dirty->nomem = true;
                return;
            }
            st->files = p;
            st->cap_files = ncap;
        }
        struct pfile fresh = {0};
        fresh.f.domain = strdup(domain);
        fresh.f.path = strdup(path);
        int r = fresh.f.domain == NULL || fresh.f.path == NULL
                    ? -1
                    : read_policy(st, &fresh, name, dirty);
        if (r < 0 || r == 2) {
            pfile_clear(&fresh);
            dirty->nomem = dirty->nomem || r < 0;
            return;
        }
        memmove(&st->files[at + 1], &st->files[at],
                (st->n_files - at) * sizeof(*st->files));
        st->files[at] = fresh;
        st->n_files++;
        dirty_add(dirty, domain);
        return;
    }
    int r = read_policy(st, &st->files[at], name, dirty);
    if (r < 0)
        dirty->nomem = true;
    else if (r == 1)
        dirty_add(dirty, domain);
}

static int only_txt(const struct dirent *de)
{
    size_t n = strlen(de->d_name);
    return de->d_name[0] != '.' && n > 4 &&
           strcmp(de->d_name + n - 4, ".txt") == 0;
}

/* scan_policies reads the whole policy directory: every file again (cheap
 * when unchanged), new ones added, vanished ones dropped (a file whose
 * save is under way stays as it was last read, see read_policy). An
 * unreadable directory changes nothing and is a problem of the instance. */
static void scan_policies(struct store *st, struct dirty *dirty)
{
    struct dirent **ents = NULL;
    const char *dir = st->cfg->policy_dir;
    int n = scandir(dir, &ents, only_txt, alphasort);
    if (n < 0 && errno == ENOMEM) {
        /* A reload that failed, not a directory that cannot be read. */
        dirty->nomem = true;
        return;
    }
    if (n < 0 && errno != ENOENT) {
        char why[PROBLEM_MAX];
        snprintf(why, sizeof(why),
                 "%s: reading the directory: %s; the policies already read "
                 "stay",
                 dir, strerror(errno));
        if (!same_str(why, st->dir_problem[STORE_POLICY_DIR]))
            log_msg(st->lg, LOG_LEVEL_ERROR, "%s", why);
        set_str(&st->dir_problem[STORE_POLICY_DIR], why);
        dirty->kept = true;
        return;
    }
    set_str(&st->dir_problem[STORE_POLICY_DIR], NULL);
    /* Files no longer listed go first (each is a change of its domain). */
    char **listed = calloc((size_t)(n > 0 ? n : 0) + 1, sizeof(*listed));
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (listed != NULL)
            listed[k++] = ents[i]->d_name;
    }
    if (listed == NULL) {
        dirty->nomem = true;
        goto out;
    }
    qsort(listed, k, sizeof(*listed), cmp_strp);
    for (size_t i = st->n_files; i-- > 0;) {
        char name[300];
        snprintf(name, sizeof(name), "%s.txt", st->files[i].f.domain);
        const char *key = name;
        if (bsearch(&key, listed, k, sizeof(*listed), cmp_strp) == NULL)
            policy_changed(st, name, dirty);
    }
    free(listed);
    policy_changed(st, STORE_DEFAULT_POLICY, dirty);
    for (int i = 0; i < n; i++) {
        char domain[256];
        if (strcmp(ents[i]->d_name, STORE_DEFAULT_POLICY) == 0)
            continue;
        if (policy_domain(ents[i]->d_name, domain, sizeof(domain)))
            policy_changed(st, ents[i]->d_name, dirty);
        else
            odd_name(st, ents[i]->d_name);
    }
out:
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
}

/* ---- certificate units -------------------------------------------------- */

static int cmp_unit_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct unit *)elem)->u.id);
}

static size_t unit_slot(const struct store *st, const char *id, bool *found)
{
    return sorted_slot(id, st->units, st->n_units, sizeof(*st->units),
                       cmp_unit_key, found);
}

static void log_loaded(const struct store *st, const struct certs_entry *e)
{
    char when[32];
    time_t na = certs_entry_not_after(e);
    struct tm tm;
    gmtime_r(&na, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    log_msg(st->lg, LOG_LEVEL_INFO,
            "certificate %s for %s loaded, valid until %s",
            certs_entry_source(e), certs_entry_subject(e), when);
}

/* One unit to (re)load: the slow part (reading, parsing, checking) runs
 * on worker threads, what it means for the store on the reloading one. */
struct load_job {
    const struct certs_unit *cu;
    size_t unit; /* index in st->units */
    bool force;  /* load even when the bytes look unchanged */
    bool skip;   /* the bytes are unchanged: nothing to do */
    bool readable;
    unsigned char hash[HASH_LEN];
    struct certs_entry *entry;
    struct certs_refused r;
    struct diag d;
};

/* job_run reads and checks one unit; safe on any thread (the checker's
 * trust store is shared read-only). */
static void job_run(struct certs_checker *chk, const struct unit *u,
                    struct load_job *j, time_t now)
{
    const char *files[2];
    size_t nf = certs_unit_files(j->cu, files);
    j->readable = hash_files(files, nf, 1u << 20, j->hash) == 0;
    diag_init(&j->d, j->cu->id);
    if (!j->force && j->readable && u->hashed &&
        memcmp(j->hash, u->hash, HASH_LEN) == 0) {
        j->skip = true;
        return;
    }
    j->entry = certs_load_unit(chk, j->cu, now, &j->d, &j->r);
}

struct job_pool {
    struct certs_checker *chk;
    const struct unit *units;
    struct load_job *jobs;
    size_t n;
    atomic_size_t next;
    time_t now;
};

static void *job_worker(void *arg)
{
    struct job_pool *p = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            return NULL;
        job_run(p->chk, &p->units[p->jobs[i].unit], &p->jobs[i], p->now);
    }
}

/* At most this many threads load certificates at once; checking a pair
 * (parse, key check, chain) is pure computation, so a start-up with
 * thousands of them takes every core. */
#define LOAD_THREADS_MAX 8

/* run_jobs runs the jobs on up to one thread per core (the caller's
 * included). */
static void run_jobs(struct store *st, struct load_job *jobs, size_t n,
                     time_t now)
{
    pthread_t th[LOAD_THREADS_MAX];
    struct job_pool p = {st->chk, st->units, jobs, n, 0, now};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = cores > 1 ? (size_t)cores : 1, started = 0;
    if (want > LOAD_THREADS_MAX)
        want = LOAD_THREADS_MAX;
    /* A few pairs are not worth a thread. */
    while (want > 1 && n / want < 16)
        want--;
    for (size_t i = 1; i < want; i++)
        if (pthread_create(&th[started], NULL, job_worker, &p) == 0)
            started++;
    job_worker(&p);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

/*
 * job_apply records what a job found in its unit and logs it. Returns 1
 * when what the unit gives changed, 0 when not, -1 when memory ran out
 * (the unit stays as it was).
 */
static int job_apply(struct store *st, struct load_job *j)
{
    struct unit *u = &st->units[j->unit];
    struct certs_entry *e = j->entry;
    j->entry = NULL;
    if (j->skip)
        return 0;
    char problem[PROBLEM_MAX] = "";
    for (size_t i = 0; i < j->d.n && problem[0] == '\0'; i++)
        if (j->d.entries[i].severity == DIAG_ERROR)
            /* The messages of the certificate module name the file. */
            snprintf(problem, sizeof(problem), "%s", j->d.entries[i].msg);
    bool same = e == NULL && u->entry == NULL &&
                same_str(problem[0] ? problem : NULL, u->error);
    if (!same)
        log_diag(st->lg, &j->d);
    if (j->r.nomem) {
        certs_entry_unref(e);
        return -1;
    }
    if (same)
        return 0;
    if (e != NULL)
        log_loaded(st, e);
    certs_entry_unref(u->entry);
    u->entry = e;
    if (e != NULL) {
        certs_entry_unref(u->last);
        u->last = certs_entry_ref(e);
        st->served_real = true;
    }
    set_str(&u->error, problem[0] ? problem : NULL);
    certs_names_free(u->refused, u->n_refused);
    u->retry_at = j->r.valid_from;
    u->refused = j->r.names;
    u->n_refused = j->r.n_names;
    j->r.names = NULL;
    j->r.n_names = 0;
    u->hashed = j->readable && e != NULL;
    memcpy(u->hash, j->hash, HASH_LEN);
    return 1;
}

/* unit_remove drops unit i; its domains are dirty. */
static void unit_remove(struct store *st, size_t i, struct dirty *dirty)
{
    dirty_entry(dirty, st->units[i].last);
    dirty_names(dirty, (const char *const *)st->units[i].refused,
                st->units[i].n_refused);
    log_msg(st->lg, LOG_LEVEL_INFO, "certificate %s removed",
            st->units[i].u.id);
    unit_clear(&st->units[i]);
    memmove(&st->units[i], &st->units[i + 1],
            (st->n_units - i - 1) * sizeof(*st->units));
    st->n_units--;
    dirty->certs = true;
}

/* unit_ensure finds cu's unit, adding it to root when new (or when its
 * key file changed: another pair). Returns whether it was there before, or
 * -1. */
static int unit_ensure(struct store *st, enum store_root root,
                       const struct certs_unit *cu, struct dirty *dirty)
{
    bool found;
    size_t at = unit_slot(st, cu->id, &found);
    if (found && (strcmp(st->units[at].u.crt, cu->crt) != 0 ||
                  strcmp(st->units[at].u.key, cu->key) != 0)) {
        unit_remove(st, at, dirty);
        found = false;
    }
    if (found)
        return 1;
    if (st->n_units == st->cap_units) {
        size_t ncap = st->cap_units ? st->cap_units * 2 : 64;
        struct unit *p = realloc(st->units, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        st->units = p;
        st->cap_units = ncap;
    }
    struct unit fresh = {0};
    fresh.root = root;
    fresh.u.id = strdup(cu->id);
    fresh.u.crt = strdup(cu->crt);
    fresh.u.key = strdup(cu->key);
    if (fresh.u.id == NULL || fresh.u.crt == NULL || fresh.u.key == NULL) {
        unit_clear(&fresh);
        return -1;
    }
    memmove(&st->units[at + 1], &st->units[at],
            (st->n_units - at) * sizeof(*st->units));
    st->units[at] = fresh;
    st->n_units++;
    return 0;
}

/* load_units (re)loads the units cu[0..n) of root into the store, in
 * parallel, and marks the domains of every unit that changed. */
/* pair_unfinished tells whether a file of cu (in root) is still being
 * saved: then what was read of the pair may be half of it. */
static bool pair_unfinished(struct store *st, enum store_root root,
                            const struct certs_unit *cu, struct dirty *dirty)
{
    const char *dir = root_dir(st, root), *files[2];
    size_t n = strlen(dir), nf = certs_unit_files(cu, files);
    for (size_t i = 0; i < nf; i++) {
        const char *rel = files[i];
        if (strncmp(rel, dir, n) != 0)
            continue;
        for (rel += n; *rel == '/'; rel++)
            ;
        if (unfinished(st, root, rel, dirty))
            return true;
    }
    return false;
}

static void load_units(struct store *st, enum store_root root,
                       const struct certs_unit *cu, size_t n, time_t now,
                       bool force, struct dirty *dirty)
{
    bool *fresh = calloc(n + 1, sizeof(*fresh));
    struct load_job *jobs = calloc(n + 1, sizeof(*jobs));
    if (fresh == NULL || jobs == NULL) {
        dirty->nomem = true;
        goto out;
    }
    /* Every unit is in place first: adding one moves the others. */
    for (size_t i = 0; i < n; i++) {
        int r = unit_ensure(st, root, &cu[i], dirty);
        if (r < 0) {
            dirty->nomem = true;
            goto out;
        }
        fresh[i] = r == 0;
    }
    for (size_t i = 0; i < n; i++) {
        bool found;
        jobs[i].cu = &cu[i];
        jobs[i].unit = unit_slot(st, cu[i].id, &found);
        jobs[i].force = force || fresh[i];
    }
    run_jobs(st, jobs, n, now);
    for (size_t i = 0; i < n; i++) {
        if (!jobs[i].skip && pair_unfinished(st, root, &cu[i], dirty)) {
            /* Read while being saved: the unit stays as it was. */
            certs_entry_unref(jobs[i].entry);
            jobs[i].entry = NULL;
            jobs[i].skip = true;
        }
        struct unit *u = &st->units[jobs[i].unit];
        struct certs_entry *before = certs_entry_ref(u->last);
        /* The domains a refused certificate named are told again. */
        if (!jobs[i].skip)
            dirty_names(dirty, (const char *const *)u->refused, u->n_refused);
        int r = job_apply(st, &jobs[i]);
        if (r < 0)
            dirty->nomem = true;
        if (r > 0 || fresh[i]) {
            dirty_entry(dirty, before);
            dirty_entry(dirty, u->entry);
            dirty_names(dirty, (const char *const *)u->refused, u->n_refused);
            dirty->certs = true;
        }
        certs_entry_unref(before);
    }
out:
    for (size_t i = 0; jobs != NULL && i < n; i++) {
        certs_entry_unref(jobs[i].entry);
        certs_names_free(jobs[i].r.names, jobs[i].r.n_names);
        if (jobs[i].cu != NULL)
            diag_free(&jobs[i].d);
    }
    free(jobs);
    free(fresh);
}

/* scan_certs reloads the whole certificate directory of root (units whose
 * bytes are unchanged are kept as they are). */
static void scan_certs(struct store *st, enum store_root root, time_t now,
                       struct dirty *dirty)
{
    struct certs_unit *cu = NULL;
    size_t n = 0;
    struct diag d;
    const char *dir = root_dir(st, root);
    /* `validate --no-certs` checks policies only: the directory is not
     * read, and the development pair stands in for every domain. */
    if (st->cfg->certs_unchecked || dir == NULL)
        return;
    diag_init(&d, dir);
    int rc = certs_list_units(dir, &cu, &n, &d);
    if (rc < 0 && errno == ENOMEM) {
        /* A reload that failed, not a directory that cannot be read. */
        diag_free(&d);
        dirty->nomem = true;
        return;
    }
    char why[PROBLEM_MAX] = "";
    if (rc < 0 && d.errors > 0) {
        /* Named by the directory, as the policy directory's problem is. */
        const char *msg = d.entries[0].msg;
        bool named = strncmp(msg, dir, strlen(dir)) == 0;
        snprintf(why, sizeof(why),
                 "%s%s%s; the certificates already loaded stay",
                 named ? "" : dir, named ? "" : ": ", msg);
    }
    if (rc == 0)
        log_diag(st->lg, &d);
    else if (why[0] != '\0' && !same_str(why, st->dir_problem[root]))
        /* Say that nothing was dropped, as for the policy directory. */
        log_msg(st->lg, LOG_LEVEL_ERROR, "%s", why);
    diag_free(&d);
    set_str(&st->dir_problem[root], why[0] ? why : NULL);
    if (rc < 0) {
        dirty->nomem = dirty->nomem || why[0] == '\0';
        dirty->kept = true;
        return;
    }
    /* Units that are gone, then the ones there now (both lists sorted;
     * the other root's units are not this listing's business). */
    for (size_t i = st->n_units, j = n; i-- > 0;) {
        if (st->units[i].root != root)
            continue;
        while (j > 0 && strcmp(cu[j - 1].id, st->units[i].u.id) > 0)
            j--;
        if (j == 0 || strcmp(cu[j - 1].id, st->units[i].u.id) != 0)
            unit_remove(st, i, dirty);
    }
    load_units(st, root, cu, n, now, false, dirty);
    certs_units_free(cu, n);
}

/* certs_changed handles changed paths in the certificate directory of
 * root: the units they involve (a pair is two files, often changed
 * together) are looked at once each. */
static void certs_changed(struct store *st, enum store_root root,
                          const char *const *rels, size_t n, time_t now,
                          struct dirty *dirty)
{
    const char *dir = root_dir(st, root);
    struct certs_change *c = calloc(n + 1, sizeof(*c));
    struct certs_unit *to_load = calloc(2 * n + 1, sizeof(*to_load));
    size_t k = 0;
    bool all = false;
    if (dir == NULL)
        goto out;
    if (c == NULL || to_load == NULL) {
        dirty->nomem = true;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct diag d;
        diag_init(&d, dir);
        int rc = certs_units_at(dir, rels[i], &c[i], &d);
        log_diag(st->lg, &d);
        diag_free(&d);
        dirty->nomem = dirty->nomem || rc < 0;
        all = all || c[i].all;
    }
    if (all) {
        scan_certs(st, root, now, dirty);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t s = 0; s < c[i].n_scope; s++) {
            bool found, there = false;
            size_t at = unit_slot(st, c[i].scope[s], &found);
            for (size_t j = 0; j < c[i].n && !there; j++)
                there = strcmp(c[i].units[j].id, c[i].scope[s]) == 0;
            if (found && !there)
                unit_remove(st, at, dirty);
        }
        for (size_t j = 0; j < c[i].n; j++) {
            bool seen = false;
            for (size_t m = 0; m < k && !seen; m++)
                seen = strcmp(to_load[m].id, c[i].units[j].id) == 0;
            if (!seen)
                to_load[k++] = c[i].units[j]; /* borrowed from c[i] */
        }
    }
    /* The event says the files changed: load them even when their bytes
     * look the same (a key made readable, say). */
    load_units(st, root, to_load, k, now, true, dirty);
out:
    for (size_t i = 0; c != NULL && i < n; i++)
        certs_change_free(&c[i]);
    free(c);
    free(to_load);
}

/* shadowed tells whether a pair the host obtained by ACME is covered, for
 * any of its names, by a pair of cert_dir (files: their index), which
 * always wins (DESIGN.md, "Certificates"). */
static bool shadowed(const struct certs *files, const struct certs_entry *e)
{
    size_t n = 0;
    const char *const *names = certs_entry_names(e, &n);
    for (size_t i = 0; i < n; i++)
        if (certs_find(files, names[i]) != NULL)
            return true;
    return false;
}

/* rebuild_index indexes the pairs of every unit: cert_dir's, and those of
 * the ACME directory that no cert_dir pair covers. */
static int rebuild_index(struct store *st)
{
    struct certs_entry **v = calloc(st->n_units + 1, sizeof(*v));
    struct certs *files = NULL;
    size_t k = 0;
    int rc = -1;
    if (v == NULL)
        return -1;
    for (size_t i = 0; i < st->n_units; i++)
        if (st->units[i].entry != NULL && st->units[i].root == STORE_CERT_DIR)
            v[k++] = st->units[i].entry;
    if (st->acme_dir != NULL) {
        if ((files = certs_new(v, k, NULL)) == NULL)
            goto out;
        for (size_t i = 0; i < st->n_units; i++)
            if (st->units[i].entry != NULL &&
                st->units[i].root == STORE_ACME_DIR &&
                !shadowed(files, st->units[i].entry))
                v[k++] = st->units[i].entry;
    }
    struct diag d;
    diag_init(&d, st->cfg->cert_dir);
    struct certs *c = certs_new(v, k, &d);
    diag_free(&d); /* duplicate names: each pair was reported when loaded */
    struct snapshot_certs *sc = c != NULL ? snapshot_certs_new(c) : NULL;
    if (sc == NULL)
        goto out;
    snapshot_certs_unref(st->certs);
    st->certs = sc;
    rc = 0;
out:
    certs_free(files);
    free(v);
    return rc;
}

/*
 * update_dev keeps the development pair: with no certificate file at all
 * (and no real one ever loaded), one self-signed pair covers every served
 * domain, made again when a domain joins. Real certificates are never
 * replaced by it.
 */
static void update_dev(struct store *st, struct dirty *dirty)
{
    if (st->n_units > 0 || st->served_real) {
        if (st->dev != NULL) {
            certs_entry_unref(st->dev);
            st->dev = NULL;
            dirty->all = true;
        }
        return;
    }
    /* The domains a development pair must cover: the configured ones and
     * those with a policy file (no certificate names any). */
    size_t n = st->n_config + st->n_files, missing = 0;
    char **hosts = calloc(n + 1, sizeof(*hosts));
    struct certs *have = NULL;
    if (hosts == NULL) {
        dirty->nomem = true;
        return;
    }
    if (st->dev != NULL)
        have = certs_new(&st->dev, 1, NULL);
    for (size_t i = 0; i < n; i++) {
        const char *dom = i < st->n_config
                              ? st->config[i]
                              : st->files[i - st->n_config].f.domain;
        size_t len = strlen(dom) + sizeof("mta-sts.");
        if ((hosts[i] = malloc(len)) == NULL) {
            dirty->nomem = true;
            goto out;
        }
        snprintf(hosts[i], len, "mta-sts.%s", dom);
        missing += certs_find(have, hosts[i]) == NULL;
    }
    if (n == 0 || missing == 0)
        goto out;
    struct diag d;
    diag_init(&d, "dev certificate");
    struct certs_entry *dev =
        certs_generate_dev((const char *const *)hosts, n, &d);
    log_diag(st->lg, &d);
    diag_free(&d);
    if (dev == NULL) {
        dirty->nomem = true;
        goto out;
    }
    if (!st->cfg->certs_unchecked)
        log_msg(st->lg, LOG_LEVEL_WARN,
                "NO CERTIFICATE in %s: serving a generated SELF-SIGNED "
                "development certificate. Sending MTAs validate the "
                "certificate and WILL REFUSE this policy; put a real "
                "certificate for mta-sts.<domain> in %s before publishing "
                "the _mta-sts record",
                st->cfg->cert_dir, st->cfg->cert_dir);
    certs_entry_unref(st->dev);
    st->dev = dev;
    dirty->all = true;
out:
    certs_free(have);
    for (size_t i = 0; i < n; i++)
        free(hosts[i]);
    free(hosts);
}

/* ---- planning and publishing -------------------------------------------- */

static void publish(struct store *st, struct snapshot *s)
{
    pthread_mutex_lock(&st->lock);
    struct snapshot *old = st->cur;
    st->cur = s;
    void (*notify)(void *) = st->notify;
    void *ctx = st->notify_ctx;
    pthread_mutex_unlock(&st->lock);
    snapshot_release(old);
    if (notify != NULL)
        notify(ctx);
}

/* instance_problems lists what is wrong beyond any one domain: a refused
 * certificate file that never served a domain, an unreadable directory, a
 * failed reload. Borrowed strings in a new array. */
static const char **instance_problems(const struct store *st, size_t *n)
{
    const char **v = calloc(st->n_units + 5, sizeof(*v));
    *n = 0;
    if (v == NULL)
        return NULL;
    for (int i = 0; i < 3; i++)
        if (st->dir_problem[i] != NULL)
            v[(*n)++] = st->dir_problem[i];
    if (st->failure != NULL)
        v[(*n)++] = st->failure;
    for (size_t i = 0; i < st->n_units; i++)
        if (st->units[i].error != NULL && st->units[i].last == NULL)
            v[(*n)++] = st->units[i].error;
    return v;
}

/* build_snapshot publishes domains with the current certificates and
 * problems. Returns -1 when memory runs out. */
static int build_snapshot(struct store *st, struct plan_domain *const *domains,
                          size_t n)
{
    size_t np;
    const char **problems = instance_problems(st, &np);
    if (problems == NULL)
        return -1;
    struct snapshot *s =
        snapshot_new(domains, n, st->certs, problems, np, st->generation + 1,
                     st->prepare, st->prepare_ctx);
    free(problems);
    if (s == NULL)
        return -1;
    st->generation++;
    publish(st, s);
    return 0;
}

static void log_findings(const struct store *st, const struct plan_result *r)
{
    for (size_t i = 0; i < r->n_findings; i++)
        log_msg(st->lg, r->findings[i].level, "%s", r->findings[i].text);
}

/* prepare_policies gives every new policy its native responses. Returns
 * -1 when one could not be prepared. */
static int prepare_policies(struct store *st, const struct plan_result *r)
{
    for (size_t i = 0; st->prepare != NULL && i < r->n; i++) {
        struct plan_policy *p = r->domains[i]->policy;
        if (p == NULL)
            continue;
        /* Each on its own: a retry after a failed one must not skip it. */
        if (p->ok.native == NULL)
            st->prepare(&p->ok, st->prepare_ctx);
        if (p->not_modified.native == NULL)
            st->prepare(&p->not_modified, st->prepare_ctx);
        if (p->ok.native == NULL || p->not_modified.native == NULL)
            return -1;
    }
    return 0;
}

/* The arrays a world is made of, owned by the reload that plans. */
struct world_parts {
    struct plan_file *files;
    struct plan_cert_error *errs;
    struct plan_refusal *refused;
};

static int cmp_refusal(const void *a, const void *b)
{
    return strcmp(((const struct plan_refusal *)a)->name,
                  ((const struct plan_refusal *)b)->name);
}

/* world fills w from the store, with new arrays of borrowed records. */
static int world(const struct store *st, struct plan_world *w, time_t now,
                 struct world_parts *p)
{
    size_t n_refused = 0, k = 0, m = 0;
    for (size_t i = 0; i < st->n_units; i++)
        n_refused += st->units[i].entry == NULL ? st->units[i].n_refused : 0;
    p->files = calloc(st->n_files + 1, sizeof(*p->files));
    p->errs = calloc(st->n_units + 1, sizeof(*p->errs));
    p->refused = calloc(n_refused + 1, sizeof(*p->refused));
    if (p->files == NULL || p->errs == NULL || p->refused == NULL)
        return -1;
    for (size_t i = 0; i < st->n_files; i++)
        p->files[i] = st->files[i].f;
    for (size_t i = 0; i < st->n_units; i++) {
        const struct unit *u = &st->units[i];
        if (u->error == NULL)
            continue;
        p->errs[k++] = (struct plan_cert_error){u->u.id, u->error};
        for (size_t j = 0; u->entry == NULL && j < u->n_refused; j++)
            p->refused[m++] = (struct plan_refusal){u->refused[j], u->error};
    }
    if (m > 1)
        qsort(p->refused, m, sizeof(*p->refused), cmp_refusal);
    *w = (struct plan_world){
        .config = st->config,
        .n_config = st->n_config,
        .files = p->files,
        .n_files = st->n_files,
        .default_file = &st->deflt.f,
        .certs = snapshot_certs_get(st->certs),
        .cert_errors = p->errs,
        .n_cert_errors = k,
        .refused = p->refused,
        .n_refused = m,
        .dev = st->dev,
        .now = now,
    };
    return 0;
}

/*
 * reload_failed reports a reload that failed outright (memory) and keeps
 * the previous state, saying so on /status and /healthz (the same domains,
 * the new problem; when even that cannot be built, the log line is the
 * report). Returns what apply returns then: 1 (retry), or -1 before the
 * first load.
 */
static int reload_failed(struct store *st)
{
    if (st->cur == NULL) {
        log_msg(st->lg, LOG_LEVEL_ERROR, "loading failed: out of memory");
        return -1;
    }
    log_msg(st->lg, LOG_LEVEL_ERROR,
            "reload failed (out of memory); still serving the previous "
            "state");
    set_str(&st->failure, "reload failed (out of memory); still serving the "
                          "previous state");
    build_snapshot(st, snapshot_domains(st->cur), snapshot_count(st->cur));
    return 1;
}

/*
 * apply plans the dirty domains and publishes the result. Returns 0, 1
 * when it failed and the previous state stays (retry), -1 when nothing can
 * be served at start.
 */
static int apply(struct store *st, struct dirty *dirty, time_t now)
{
    struct plan_result r = {0};
    struct world_parts parts = {0};
    struct plan_world w;
    bool refused = false;
    int rc = 1;
    if (!dirty->nomem && dirty->certs && rebuild_index(st) < 0)
        dirty->nomem = true;
    if (!dirty->nomem && st->certs == NULL && rebuild_index(st) < 0)
        dirty->nomem = true;
    if (!dirty->nomem)
        update_dev(st, dirty);
    if (dirty->nomem || world(st, &w, now, &parts) < 0) {
        rc = reload_failed(st);
        goto out;
    }
    struct snapshot *old = st->cur; /* only this thread replaces it */
    bool all = dirty->all || old == NULL;
    if (plan_step(old != NULL ? snapshot_domains(old) : NULL,
                  old != NULL ? snapshot_count(old) : 0, &w,
                  (const char *const *)dirty->v, dirty->n, all, &r) < 0 ||
        prepare_policies(st, &r) < 0) {
        rc = reload_failed(st);
        goto out;
    }
    log_findings(st, &r);
    for (size_t i = 0; i < r.n_findings; i++)
        refused = refused || r.findings[i].level == LOG_LEVEL_ERROR;
    st->next_expiry = 0;
    size_t servable = 0;
    for (size_t i = 0; i < r.n; i++) {
        time_t na = r.domains[i]->not_after;
        if (na > now && (st->next_expiry == 0 || na < st->next_expiry))
            st->next_expiry = na;
        servable += r.domains[i]->servable;
    }
    if (old == NULL && servable == 0) {
        if (r.n == 0)
            log_msg(st->lg, LOG_LEVEL_ERROR,
                    "no domains to serve: list them under `domains:` in the "
                    "config (or pass --domain), add policy/<domain>.txt, or "
                    "add a valid certificate for mta-sts.<domain> to %s",
                    st->cfg->cert_dir);
        rc = -1;
        goto out;
    }
    set_str(&st->failure, NULL);
    rc = build_snapshot(st, r.domains, r.n) < 0 ? reload_failed(st) : 0;
out:
    if (rc != 0 || refused || dirty->kept)
        atomic_fetch_add(&st->failures, 1);
    plan_result_free(&r);
    free(parts.files);
    free(parts.errs);
    free(parts.refused);
    return rc;
}

/* run does one reload under the reload lock. After a full one it hands
 * the memory it freed back to the system: checking every certificate
 * chain parses the whole system trust store, and the replaced pairs leave
 * holes between the long-lived data. An incremental reload frees little,
 * and trimming walks the whole heap, which grows with the domains. */
static int run(struct store *st, const struct store_change *changes, size_t n,
               bool full)
{
    static const enum store_root cert_roots[] = {STORE_CERT_DIR,
                                                 STORE_ACME_DIR};
    struct dirty dirty = {0};
    time_t now = time(NULL);
    pthread_mutex_lock(&st->reload_lock);
    atomic_fetch_add(&st->reloads, 1);
    /* Which roots are read whole. */
    bool whole[3] = {full, full, full}, any = full;
    for (size_t i = 0; i < n; i++) {
        if (changes[i].rel != NULL)
            continue;
        whole[changes[i].root] = true;
        any = true;
    }
    if (whole[STORE_POLICY_DIR])
        scan_policies(st, &dirty);
    for (size_t r = 0; r < 2; r++)
        if (whole[cert_roots[r]])
            scan_certs(st, cert_roots[r], now, &dirty);
    const char **cert_rels = calloc(n + 1, sizeof(*cert_rels));
    dirty.nomem = dirty.nomem || cert_rels == NULL;
    for (size_t i = 0; i < n && cert_rels != NULL; i++) {
        const struct store_change *c = &changes[i];
        if (c->rel != NULL && c->root == STORE_POLICY_DIR &&
            !whole[STORE_POLICY_DIR])
            policy_changed(st, c->rel, &dirty);
    }
    /* The changed paths of each certificate root, together. */
    for (size_t r = 0; r < 2 && cert_rels != NULL; r++) {
        size_t n_cert = 0;
        for (size_t i = 0; i < n; i++)
            if (changes[i].rel != NULL && changes[i].root == cert_roots[r] &&
                !whole[cert_roots[r]])
                cert_rels[n_cert++] = changes[i].rel;
        if (n_cert > 0)
            certs_changed(st, cert_roots[r], cert_rels, n_cert, now, &dirty);
    }
    free(cert_rels);
    if (dirty.n_unfinished > 0)
        log_msg(st->lg, LOG_LEVEL_INFO,
                "%zu file%s (%s%s) changed while being read, a save under "
                "way: not taken now; %s read once its save is finished",
                dirty.n_unfinished, dirty.n_unfinished == 1 ? "" : "s",
                dirty.unfinished, dirty.n_unfinished > 1 ? ", ..." : "",
                dirty.n_unfinished == 1 ? "it is" : "each is");
    dirty.all = dirty.all || full;
    int rc = apply(st, &dirty, now);
    pthread_mutex_unlock(&st->reload_lock);
    dirty_free(&dirty);
    if (any)
        malloc_trim(0);
    return rc;
}

int store_reload(struct store *st)
{
    return run(st, NULL, 0, true);
}

int store_update(struct store *st, const struct store_change *changes, size_t n)
{
    return run(st, changes, n, false);
}

/* retry_due reloads the units refused as "not valid yet" whose time has
 * come (a CA or a clock a little ahead of this one), so that a renewal is
 * not lost until the next edit. */
static void retry_due(struct store *st, time_t now)
{
    struct certs_unit *to_load = calloc(st->n_units + 1, sizeof(*to_load));
    struct dirty dirty = {0};
    size_t total = 0;
    for (enum store_root root = STORE_CERT_DIR; root <= STORE_ACME_DIR;
         root++) {
        size_t k = 0;
        for (size_t i = 0; to_load != NULL && i < st->n_units; i++)
            if (st->units[i].root == root && st->units[i].retry_at != 0 &&
                now >= st->units[i].retry_at)
                to_load[k++] = st->units[i].u; /* borrowed */
        if (k == 0)
            continue;
        log_msg(st->lg, LOG_LEVEL_INFO,
                "%zu certificate%s refused as not yet valid %s valid now; "
                "loading again",
                k, k == 1 ? "" : "s", k == 1 ? "is" : "are");
        load_units(st, root, to_load, k, now, true, &dirty);
        total += k;
    }
    if (total > 0)
        apply(st, &dirty, now);
    dirty_free(&dirty);
    free(to_load);
}

void store_tick(struct store *st, time_t now)
{
    pthread_mutex_lock(&st->reload_lock);
    if (st->cur != NULL)
        retry_due(st, now);
    bool due =
        st->cur != NULL && st->next_expiry != 0 && now >= st->next_expiry;
    if (due) {
        /* A certificate in use expired: every domain is planned again (as
         * rare as expiries are, that is cheaper than tracking whose). */
        struct dirty dirty = {.all = true};
        log_msg(st->lg, LOG_LEVEL_WARN,
                "a certificate in use has expired; checking every domain");
        apply(st, &dirty, now);
    }
    pthread_mutex_unlock(&st->reload_lock);
}
