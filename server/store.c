/*
 * store: builds snapshots from the policy and certificate directories and
 * swaps them in (see store.h). All file I/O of a reload happens here, on
 * the reloading thread; request threads only take references to the
 * published snapshot under a short lock.
 */
#include "store.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "certs.h"
#include "dnsrec.h"
#include "policy.h"
#include "readfile.h"

#define PROBLEM_MAX 512
#define PATH_MAX_LEN 4096

/* What was last logged for one file. */
struct seen {
    char *path;
    char *text;
};

struct store {
    const struct config *cfg;
    const struct logger *lg;
    pthread_mutex_t lock;        /* guards cur */
    pthread_mutex_t reload_lock; /* one reload at a time (watcher, SIGHUP) */
    struct snapshot *cur;
    store_prepare_fn prepare;
    void *prepare_ctx;
    uint64_t generation;
    atomic_uint_fast64_t reloads;
    atomic_uint_fast64_t failures;
    struct seen *seen;
    size_t n_seen;
    char *cert_signature; /* what the last certificate load looked like */
};

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
    return st;
}

void store_free(struct store *st)
{
    if (st == NULL)
        return;
    snapshot_release(st->cur);
    for (size_t i = 0; i < st->n_seen; i++) {
        free(st->seen[i].path);
        free(st->seen[i].text);
    }
    free(st->seen);
    free(st->cert_signature);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->reload_lock);
    free(st);
}

void store_set_prepare(struct store *st, store_prepare_fn fn, void *ctx)
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

/* first_error formats d's first error as "file:line:col: message". */
static void first_error(const struct diag *d, char *out, size_t outlen)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->entries[i].severity == DIAG_ERROR) {
            diag_format_entry(d, &d->entries[i], out, outlen);
            return;
        }
    }
    snprintf(out, outlen, "%s: invalid", d->file);
}

/* seen_changed records text as what was last logged for path and tells
 * whether it differs from before, so that a reload triggered by another
 * file does not log the same findings again. */
static bool seen_changed(struct store *st, const char *path, const char *text)
{
    struct seen *e = NULL;
    for (size_t i = 0; i < st->n_seen && e == NULL; i++)
        if (strcmp(st->seen[i].path, path) == 0)
            e = &st->seen[i];
    if (e != NULL && strcmp(e->text, text) == 0)
        return false;
    if (e == NULL) {
        struct seen *p = realloc(st->seen, (st->n_seen + 1) * sizeof(*p));
        if (p == NULL)
            return true;
        st->seen = p;
        e = &st->seen[st->n_seen];
        if ((e->path = strdup(path)) == NULL)
            return true;
        e->text = NULL;
        st->n_seen++;
    }
    char *copy = strdup(text);
    if (copy != NULL) {
        free(e->text);
        e->text = copy;
    }
    return true;
}

static char *diag_text(const struct diag *d)
{
    struct buf b;
    char line[DIAG_MSG_MAX + 512];
    buf_init(&b, 1 << 20);
    buf_puts(&b, "");
    for (size_t i = 0; i < d->n; i++)
        buf_printf(&b, "%s\n",
                   diag_format_entry(d, &d->entries[i], line, sizeof(line)));
    return buf_take(&b, NULL);
}

struct policy *store_read_policy(const char *path, struct diag *d)
{
    char *data = NULL;
    size_t len = 0;
    char err[PROBLEM_MAX];
    struct policy *p = NULL;
    if (readfile(path, POLICY_MAX_SIZE, &data, &len, err, sizeof(err)) < 0) {
        /* The diagnostic names the file already. */
        size_t plen = strlen(path);
        const char *msg = strncmp(err, path, plen) == 0 && err[plen] == ':'
                              ? err + plen + 2
                              : err;
        diag_add(d, DIAG_ERROR, 0, 0, "%s", msg);
        return NULL;
    }
    p = policy_parse(data, len, d);
    free(data);
    return p;
}

/*
 * load_policy reads and validates one policy file, logging its findings
 * when they differ from the last time. Returns the policy, or NULL with the
 * first problem in problem.
 */
static struct policy *load_policy(struct store *st, const char *path,
                                  char *problem, size_t plen)
{
    struct diag d;
    diag_init(&d, path);
    struct policy *p = store_read_policy(path, &d);
    char *text = diag_text(&d);
    if (text == NULL || seen_changed(st, path, text))
        log_diag(st->lg, &d);
    free(text);
    if (p == NULL)
        first_error(&d, problem, plen);
    diag_free(&d);
    return p;
}

int store_policy_path(const char *policy_dir, const char *domain, char *out,
                      size_t outlen)
{
    struct stat sb;
    int n = snprintf(out, outlen, "%s/%s.txt", policy_dir, domain);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    if (stat(out, &sb) < 0 && errno == ENOENT)
        n = snprintf(out, outlen, "%s/%s", policy_dir, STORE_DEFAULT_POLICY);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static bool certs_cover(const struct certs *c, const char *const *domains,
                        size_t n, char *problem, size_t plen)
{
    char host[300];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(host, sizeof(host), "mta-sts.%s", domains[i]);
        if (len < 0 || (size_t)len >= sizeof(host) ||
            certs_find(c, host) == NULL) {
            snprintf(problem, plen, "no certificate covers %s", host);
            return false;
        }
    }
    return true;
}

static bool certs_are_dev(const struct certs *c)
{
    return certs_count(c) > 0 && certs_entry_dev(certs_at(c, 0));
}

static void log_certs(const struct store *st, const struct certs *c)
{
    char when[32];
    for (size_t i = 0; i < certs_count(c); i++) {
        const struct certs_entry *e = certs_at(c, i);
        time_t na = certs_entry_not_after(e);
        struct tm tm;
        gmtime_r(&na, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        log_msg(st->lg, LOG_LEVEL_INFO,
                "certificate %s for %s loaded, valid until %s",
                certs_entry_source(e), certs_entry_subject(e), when);
    }
}

/* cert_signature summarises a load (fingerprints and diagnostics) so that
 * unchanged certificates are not logged again on every reload. */
static char *cert_signature(const struct certs *c, const struct diag *d)
{
    struct buf b;
    char line[DIAG_MSG_MAX + 512];
    buf_init(&b, 1 << 20);
    for (size_t i = 0; c != NULL && i < certs_count(c); i++)
        buf_printf(&b, "%s\n", certs_entry_fingerprint(certs_at(c, i)));
    for (size_t i = 0; i < d->n; i++)
        buf_printf(&b, "%s\n",
                   diag_format_entry(d, &d->entries[i], line, sizeof(line)));
    return buf_take(&b, NULL);
}

/*
 * load_certs loads the certificate directory: the valid pairs, or NULL when
 * loading failed outright. problem gets the first refused file, if any.
 * Diagnostics and the loaded pairs are logged when the load differs from
 * the last one.
 */
static struct certs *load_certs(struct store *st, time_t now, char *problem,
                                size_t plen)
{
    struct diag d;
    diag_init(&d, st->cfg->cert_dir);
    struct certs *c = certs_load_dir(st->cfg->cert_dir, now, &d);
    char *sig = cert_signature(c, &d);
    bool changed = sig == NULL || st->cert_signature == NULL ||
                   strcmp(sig, st->cert_signature) != 0;
    if (changed) {
        log_diag(st->lg, &d);
        free(st->cert_signature);
        st->cert_signature = sig;
    } else {
        free(sig);
    }
    if (c == NULL) {
        snprintf(problem, plen, "%s: cannot load certificates",
                 st->cfg->cert_dir);
    } else {
        /* The messages of the certificate module name the file already. */
        for (size_t i = 0; i < d.n && problem[0] == '\0'; i++)
            if (d.entries[i].severity == DIAG_ERROR)
                snprintf(problem, plen, "%s", d.entries[i].msg);
        if (changed && certs_count(c) > 0)
            log_certs(st, c);
    }
    diag_free(&d);
    return c;
}

static struct certs *make_dev_certs(struct store *st,
                                    const char *const *domains, size_t n)
{
    struct certs *c = NULL;
    char **hosts = calloc(n, sizeof(*hosts));
    struct diag d;
    diag_init(&d, "dev certificate");
    if (hosts == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(domains[i]) + sizeof("mta-sts.");
        if ((hosts[i] = malloc(len)) == NULL)
            goto out;
        snprintf(hosts[i], len, "mta-sts.%s", domains[i]);
    }
    c = certs_generate_dev((const char *const *)hosts, n, &d);
    log_diag(st->lg, &d);
    if (c != NULL)
        log_msg(st->lg, LOG_LEVEL_WARN,
                "NO CERTIFICATE in %s: serving a generated SELF-SIGNED "
                "development certificate. Sending MTAs validate the "
                "certificate and WILL REFUSE this policy; put a real "
                "certificate for mta-sts.<domain> in %s before publishing "
                "the _mta-sts record",
                st->cfg->cert_dir, st->cfg->cert_dir);
out:
    for (size_t i = 0; hosts != NULL && i < n; i++)
        free(hosts[i]);
    free(hosts);
    diag_free(&d);
    return c;
}

size_t store_cert_domains(const struct certs *c, const char ***out)
{
    size_t max = certs_mta_sts_domains(c, NULL, 0), k = 0;
    const char **v = calloc(max ? max : 1, sizeof(*v));
    *out = v;
    if (v == NULL)
        return 0;
    size_t n = certs_mta_sts_domains(c, v, max);
    for (size_t i = 0; i < n; i++) {
        /* A SAN becomes a file name and a log field: hold it to the rules
         * a configured domain must meet. */
        char copy[256], err[128];
        int len = snprintf(copy, sizeof(copy), "%s", v[i]);
        if (len > 0 && (size_t)len < sizeof(copy) &&
            config_check_domain(copy, err, sizeof(err)) == 0 &&
            strcmp(copy, v[i]) == 0)
            v[k++] = v[i];
    }
    return k;
}

/* Everything one reload decides before it builds the snapshot. */
struct plan {
    const char **domains; /* may borrow from certs */
    size_t n_domains;
    struct snapshot_certs *certs;
    char cert_problem[PROBLEM_MAX];
};

/*
 * plan_domains lists the domains to serve: the configured ones, else those
 * named by the certificates in src. Returns -1 (logged) when there are
 * none.
 */
static int plan_domains(struct store *st, const struct certs *src,
                        const char *bad, struct plan *pl)
{
    if (st->cfg->n_domains > 0) {
        pl->domains = calloc(st->cfg->n_domains, sizeof(*pl->domains));
        if (pl->domains == NULL)
            return -1;
        for (size_t i = 0; i < st->cfg->n_domains; i++)
            pl->domains[i] = st->cfg->domains[i];
        pl->n_domains = st->cfg->n_domains;
        return 0;
    }
    pl->n_domains = src != NULL ? store_cert_domains(src, &pl->domains) : 0;
    if (pl->n_domains > 0)
        return 0;
    log_msg(st->lg, LOG_LEVEL_ERROR,
            "no domains to serve: list them under `domains:` in the config "
            "(or pass --domain), or add a valid certificate for "
            "mta-sts.<domain> to %s%s%s",
            st->cfg->cert_dir, bad[0] ? "; refused: " : "", bad);
    return -1;
}

/*
 * plan_certs picks the domains to serve and the certificates to serve them
 * with:
 *  - the fresh set (its valid pairs) when it covers every domain; refused
 *    files are reported, and the host stays degraded until they are fixed;
 *  - a generated development set when the directory holds no certificate
 *    file at all and nothing but a development set was served before;
 *  - else the last good set, with the reason in cert_problem.
 * Returns -1 when nothing usable remains (only before the first success).
 */
static int plan_certs(struct store *st, const struct snapshot *old,
                      struct plan *pl, time_t now, bool policies_only)
{
    char bad[PROBLEM_MAX] = "", problem[PROBLEM_MAX] = "";
    const struct certs *old_certs =
        old != NULL ? snapshot_certs_get(old->certs) : NULL;
    if (policies_only && old != NULL) {
        /* Only policy files changed: the served certificates, and what
         * was wrong with the directory, stay as they are. */
        pl->certs = snapshot_certs_ref(old->certs);
        if (old->cert_problem != NULL)
            snprintf(pl->cert_problem, sizeof(pl->cert_problem), "%s",
                     old->cert_problem);
        return plan_domains(st, old_certs, "", pl);
    }
    struct certs *fresh = load_certs(st, now, bad, sizeof(bad));
    bool usable = fresh != NULL && certs_count(fresh) > 0;
    bool no_files = fresh != NULL && !usable && bad[0] == '\0';
    int rc = -1;

    /* The fresh set is handed to the plan first so that domain names
     * borrowed from it live as long as the plan. */
    if (usable && (pl->certs = snapshot_certs_new(fresh)) == NULL)
        return -1;
    if (usable)
        fresh = NULL;
    if (plan_domains(st, usable ? snapshot_certs_get(pl->certs) : old_certs,
                     bad, pl) < 0)
        goto out;

    if (usable && certs_cover(snapshot_certs_get(pl->certs), pl->domains,
                              pl->n_domains, problem, sizeof(problem))) {
        if (bad[0] != '\0') {
            log_msg(st->lg, LOG_LEVEL_ERROR,
                    "certificates: refused %s; serving the valid ones", bad);
            snprintf(pl->cert_problem, sizeof(pl->cert_problem), "%s", bad);
        }
        rc = 0;
        goto out;
    }
    if (no_files && (old_certs == NULL || certs_are_dev(old_certs))) {
        snapshot_certs_unref(pl->certs);
        pl->certs = NULL;
        if (old_certs != NULL &&
            certs_cover(old_certs, pl->domains, pl->n_domains, problem,
                        sizeof(problem))) {
            pl->certs = snapshot_certs_ref(old->certs);
        } else {
            struct certs *dev = make_dev_certs(st, pl->domains, pl->n_domains);
            pl->certs = dev != NULL ? snapshot_certs_new(dev) : NULL;
        }
        rc = pl->certs != NULL ? 0 : -1;
        goto out;
    }
    if (no_files)
        snprintf(problem, sizeof(problem), "%s holds no certificate",
                 st->cfg->cert_dir);
    else if (!usable)
        snprintf(problem, sizeof(problem), "%s",
                 bad[0] ? bad : "cannot load certificates");
    if (old == NULL) {
        log_msg(st->lg, LOG_LEVEL_ERROR, "certificates: %s", problem);
        goto out;
    }
    log_msg(st->lg, LOG_LEVEL_ERROR,
            "certificates: %s; keeping the certificates already served",
            problem);
    snprintf(pl->cert_problem, sizeof(pl->cert_problem), "%s", problem);
    /* Domains borrowed from a rejected fresh set must not outlive it: take
     * them from the set that stays. */
    free(pl->domains);
    pl->domains = NULL;
    pl->n_domains = 0;
    snapshot_certs_unref(pl->certs);
    pl->certs = snapshot_certs_ref(old->certs);
    if (plan_domains(st, old_certs, "", pl) < 0)
        goto out;
    rc = 0;
out:
    certs_free(fresh);
    return rc;
}

/* announce logs what operators must publish for a domain whose policy is
 * new or changed. */
static void announce(const struct store *st, const struct snapshot_domain *d,
                     const struct snapshot_domain *od)
{
    struct buf b;
    buf_init(&b, 1024);
    dnsrec_sts_txt(&b, d->domain, d->policy->id);
    if (b.len > 0 && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    if (od == NULL) {
        log_msg(st->lg, LOG_LEVEL_INFO,
                "%s: serving policy id %s (mode %s, max_age %lu) from %s at "
                "https://%s/.well-known/mta-sts.txt",
                d->domain, d->policy->id, policy_mode_name(d->policy->mode),
                d->policy->max_age, d->source, d->host);
    } else {
        char mode[64] = "";
        if (od->policy->mode != d->policy->mode)
            snprintf(mode, sizeof(mode), ", mode %s -> %s",
                     policy_mode_name(od->policy->mode),
                     policy_mode_name(d->policy->mode));
        log_msg(st->lg, LOG_LEVEL_INFO,
                "%s: policy changed, id %s -> %s%s, now served from %s",
                d->domain, od->policy->id, d->policy->id, mode, d->source);
        log_msg(st->lg, LOG_LEVEL_INFO,
                "%s: the new policy is live; now update the TXT record "
                "(RFC 8461 section 8: serve the new policy before the record "
                "changes, so senders that see the new id fetch the new "
                "policy)",
                d->domain);
    }
    log_msg(st->lg, LOG_LEVEL_INFO, "publish: %s",
            b.data != NULL ? b.data : "");
    buf_free(&b);
}

/*
 * build_domain fills slot i of s for domain: the fresh policy when it
 * validates, else the last good one from old. Returns 0, 1 when the domain
 * has no valid policy at all (left out), -1 on memory failure.
 */
static int build_domain(struct store *st, struct snapshot *s, size_t i,
                        const char *domain, const struct snapshot *old,
                        bool *refused)
{
    char path[PATH_MAX_LEN];
    char problem[PROBLEM_MAX] = "";
    struct policy *p = NULL;
    if (store_policy_path(st->cfg->policy_dir, domain, path, sizeof(path)) < 0)
        snprintf(problem, sizeof(problem), "%s: policy path too long",
                 st->cfg->policy_dir);
    else
        p = load_policy(st, path, problem, sizeof(problem));
    if (p != NULL)
        return snapshot_set_domain(s, i, domain, p, path, NULL);
    *refused = true;
    const struct snapshot_domain *od =
        old != NULL ? snapshot_find_domain(old, domain) : NULL;
    if (od == NULL) {
        log_msg(st->lg, LOG_LEVEL_ERROR, "%s: no valid policy to serve: %s",
                domain, problem);
        return 1;
    }
    /* The served bytes of a valid policy are themselves a valid policy with
     * the same id, so re-parsing them yields an independent copy. */
    struct diag d;
    diag_init(&d, od->source);
    p = policy_parse(od->policy->served, od->policy->served_len, &d);
    diag_free(&d);
    if (p == NULL)
        return -1;
    log_msg(st->lg, LOG_LEVEL_ERROR,
            "%s: edit refused, still serving policy id %s: %s", domain, p->id,
            problem);
    return snapshot_set_domain(s, i, domain, p, od->source, problem);
}

/* count_unprepared counts replies the prepare hook left without a native
 * form (its allocation failed); such a reply could not be sent. */
static void count_unprepared(struct reply *r, void *ctx)
{
    if (r->native == NULL)
        (*(size_t *)ctx)++;
}

/*
 * prepare runs the HTTP layer's hook on a finished snapshot. Returns -1
 * when a response could not be prepared: publishing the snapshot would
 * then make every request for it fail.
 */
static int prepare(struct store *st, struct snapshot *s)
{
    size_t missing = 0;
    if (st->prepare == NULL)
        return 0;
    st->prepare(s, st->prepare_ctx);
    snapshot_for_each_reply(s, count_unprepared, &missing);
    return missing == 0 ? 0 : -1;
}

static void publish(struct store *st, struct snapshot *s)
{
    pthread_mutex_lock(&st->lock);
    struct snapshot *old = st->cur;
    st->cur = s;
    pthread_mutex_unlock(&st->lock);
    snapshot_release(old);
}

/*
 * keep_degraded publishes again what old serves (the same policy bytes, ids
 * and certificates) with why as every domain's problem, so that /healthz
 * says "degraded" and why after a reload that failed outright. It needs
 * memory too: when that is still short it gives up and old stays, and the
 * log line is then the only report.
 */
static void keep_degraded(struct store *st, struct snapshot *old,
                          const char *why)
{
    char err[PROBLEM_MAX], problem[PROBLEM_MAX];
    struct snapshot *s =
        snapshot_new(old->n_domains, old->certs, st->generation + 1);
    snprintf(problem, sizeof(problem),
             "reload failed (%s); still serving the last good state", why);
    if (s == NULL)
        return;
    for (size_t i = 0; i < old->n_domains; i++) {
        const struct snapshot_domain *od = &old->domains[i];
        struct diag d;
        diag_init(&d, od->source);
        /* As in build_domain: served bytes re-parse to the same policy. */
        struct policy *p =
            policy_parse(od->policy->served, od->policy->served_len, &d);
        diag_free(&d);
        /* On failure the slot holds what it took; the release frees it. */
        if (p == NULL ||
            snapshot_set_domain(s, i, od->domain, p, od->source, problem) < 0)
            goto out;
    }
    if (snapshot_finish(s, old->cert_problem, err, sizeof(err)) < 0 ||
        prepare(st, s) < 0)
        goto out;
    st->generation++;
    publish(st, s);
    s = NULL;
out:
    snapshot_release(s);
}

static int reload_locked(struct store *st, bool policies_only)
{
    struct plan pl = {0};
    struct snapshot *old = store_acquire(st);
    struct snapshot *s = NULL;
    bool refused = false;
    char err[PROBLEM_MAX];
    /* Why the reload failed outright; most steps fail only when memory
     * runs out, the others say otherwise. */
    char why[PROBLEM_MAX] = "out of memory";
    int rc = -1;
    time_t now = time(NULL);

    atomic_fetch_add(&st->reloads, 1);
    if (plan_certs(st, old, &pl, now, policies_only) < 0) {
        snprintf(why, sizeof(why), "%s", "cannot plan the certificates");
        goto out;
    }
    refused = pl.cert_problem[0] != '\0';
    s = snapshot_new(pl.n_domains, pl.certs, st->generation + 1);
    if (s == NULL)
        goto out;
    size_t used = 0;
    for (size_t i = 0; i < pl.n_domains; i++) {
        int r = build_domain(st, s, used, pl.domains[i], old, &refused);
        if (r < 0)
            goto out;
        if (r == 0)
            used++;
        else if (old == NULL)
            goto out; /* at start every domain must have a valid policy */
    }
    s->n_domains = used;
    if (used == 0)
        goto out;
    if (snapshot_finish(s, pl.cert_problem[0] ? pl.cert_problem : NULL, err,
                        sizeof(err)) < 0) {
        log_msg(st->lg, LOG_LEVEL_ERROR, "%s", err);
        snprintf(why, sizeof(why), "%s", err);
        goto out;
    }
    if (prepare(st, s) < 0) {
        snprintf(why, sizeof(why), "%s",
                 "out of memory preparing the responses");
        goto out;
    }
    for (size_t i = 0; i < s->n_domains; i++) {
        const struct snapshot_domain *d = &s->domains[i];
        const struct snapshot_domain *od =
            old != NULL ? snapshot_find_domain(old, d->domain) : NULL;
        if (od == NULL || strcmp(od->policy->id, d->policy->id) != 0)
            announce(st, d, od);
    }
    for (size_t i = 0; old != NULL && i < old->n_domains; i++)
        if (snapshot_find_domain(s, old->domains[i].domain) == NULL)
            log_msg(st->lg, LOG_LEVEL_WARN, "%s: no longer served",
                    old->domains[i].domain);
    st->generation++;
    publish(st, s);
    s = NULL;
    rc = 0;
out:
    if (rc < 0 || refused)
        atomic_fetch_add(&st->failures, 1);
    if (rc < 0 && old != NULL) {
        log_msg(st->lg, LOG_LEVEL_ERROR,
                "reload failed (%s); still serving the previous state", why);
        /* The half-built snapshot goes first: it may hold the memory the
         * degraded copy needs. */
        snapshot_release(s);
        s = NULL;
        keep_degraded(st, old, why);
        rc = 1;
    }
    snapshot_release(s);
    snapshot_release(old);
    snapshot_certs_unref(pl.certs);
    free(pl.domains);
    return rc;
}

/* reload runs one reload, then hands the memory it freed back to the
 * system: checking a certificate chain parses the whole system trust store
 * (over a hundred CA certificates), whose freed blocks would otherwise stay
 * resident between the long-lived snapshot data, about a third of the
 * process's RSS. */
static int reload(struct store *st, bool policies_only)
{
    pthread_mutex_lock(&st->reload_lock);
    int rc = reload_locked(st, policies_only);
    pthread_mutex_unlock(&st->reload_lock);
    malloc_trim(0);
    return rc;
}

int store_reload(struct store *st)
{
    return reload(st, false);
}

int store_reload_policies(struct store *st)
{
    return reload(st, true);
}
