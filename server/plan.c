/*
 * plan: per-domain planning (see plan.h). Pure: every decision is made from
 * the arguments, and the findings are returned as text for the caller to
 * log. Runs on the reloading thread.
 */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dnsname.h"
#include "dnsrec.h"

#define HOST_MAX 253
#define PROBLEM_MAX 1024

/* ---- shared records ----------------------------------------------------- */

static void reply_release(struct reply *r)
{
    if (r->native != NULL && r->native_free != NULL)
        r->native_free(r->native);
    r->native = NULL;
}

struct plan_policy *plan_policy_new(const char *source,
                                    struct policy *policy_take)
{
    struct plan_policy *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->source = strdup(source)) == NULL) {
        free(p);
        policy_free(policy_take);
        return NULL;
    }
    atomic_init(&p->refs, 1);
    p->policy = policy_take;
    snprintf(p->etag, sizeof(p->etag), "\"%s\"", policy_take->id);
    p->ok.status = 200;
    /* RFC 8461 §3.3 asks for text/plain; the charset is only needed when an
     * extension value carries UTF-8. */
    p->ok.content_type =
        policy_take->non_ascii ? "text/plain; charset=utf-8" : "text/plain";
    p->ok.etag = p->etag;
    p->ok.body = policy_take->served;
    p->ok.body_len = policy_take->served_len;
    p->not_modified.status = 304;
    p->not_modified.etag = p->etag;
    p->not_modified.body = "";
    return p;
}

struct plan_policy *plan_policy_ref(struct plan_policy *p)
{
    if (p != NULL)
        atomic_fetch_add(&p->refs, 1);
    return p;
}

void plan_policy_unref(struct plan_policy *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    reply_release(&p->ok);
    reply_release(&p->not_modified);
    policy_free(p->policy);
    free(p->source);
    free(p);
}

struct plan_domain *plan_domain_ref(struct plan_domain *d)
{
    if (d != NULL)
        atomic_fetch_add(&d->refs, 1);
    return d;
}

void plan_domain_unref(struct plan_domain *d)
{
    if (d == NULL || atomic_fetch_sub(&d->refs, 1) != 1)
        return;
    plan_policy_unref(d->policy);
    certs_entry_unref(d->cert[0]);
    certs_entry_unref(d->cert[1]);
    free(d->name);
    free(d->host);
    free(d->policy_problem);
    free(d->cert_problem);
    free(d);
}

bool plan_domain_ok(const struct plan_domain *d)
{
    return d->servable && d->policy_problem == NULL && d->cert_problem == NULL;
}

static int cmp_domain_name(const void *key, const void *elem)
{
    return strcmp(key, (*(struct plan_domain *const *)elem)->name);
}

struct plan_domain *plan_find(struct plan_domain *const *domains, size_t n,
                              const char *name)
{
    struct plan_domain *const *p =
        n > 0 ? bsearch(name, domains, n, sizeof(*domains), cmp_domain_name)
              : NULL;
    return p != NULL ? *p : NULL;
}

/* ---- lookups in the world ----------------------------------------------- */

static int cmp_str_key(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static int cmp_file_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct plan_file *)elem)->domain);
}

static int cmp_error_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct plan_cert_error *)elem)->source);
}

static bool configured(const struct plan_world *w, const char *name)
{
    return w->n_config > 0 && bsearch(name, w->config, w->n_config,
                                      sizeof(*w->config), cmp_str_key) != NULL;
}

static const struct plan_file *own_file(const struct plan_world *w,
                                        const char *name)
{
    return w->n_files > 0 ? bsearch(name, w->files, w->n_files,
                                    sizeof(*w->files), cmp_file_key)
                          : NULL;
}

static const char *cert_error(const struct plan_world *w, const char *source)
{
    const struct plan_cert_error *e =
        w->n_cert_errors > 0 ? bsearch(source, w->cert_errors, w->n_cert_errors,
                                       sizeof(*w->cert_errors), cmp_error_key)
                             : NULL;
    return e != NULL ? e->error : NULL;
}

static int cmp_refusal_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct plan_refusal *)elem)->name);
}

/* refusal finds why a certificate for host was refused: one naming it
 * exactly, else a wildcard for its parent. */
static const char *refusal(const struct plan_world *w, const char *host)
{
    char wild[HOST_MAX + 3];
    const char *parent = dnsname_parent(host);
    const struct plan_refusal *r =
        w->n_refused > 0 ? bsearch(host, w->refused, w->n_refused,
                                   sizeof(*w->refused), cmp_refusal_key)
                         : NULL;
    if (r == NULL && parent != NULL && w->n_refused > 0 &&
        snprintf(wild, sizeof(wild), "*.%s", parent) < (int)sizeof(wild))
        r = bsearch(wild, w->refused, w->n_refused, sizeof(*w->refused),
                    cmp_refusal_key);
    return r != NULL ? r->error : NULL;
}

/* names_exactly tells whether e carries host as an exact name. */
static bool names_exactly(const struct certs_entry *e, const char *host)
{
    size_t n;
    const char *const *names = e != NULL ? certs_entry_names(e, &n) : NULL;
    for (size_t i = 0; names != NULL && i < n; i++)
        if (strcmp(names[i], host) == 0)
            return true;
    return false;
}

/* named_by_cert: a loaded pair (of either kind) names host exactly. */
static bool named_by_cert(const struct plan_world *w, const char *host)
{
    const struct certs_entry *pair[2];
    certs_find_pair(w->certs, host, pair);
    return names_exactly(pair[0], host) || names_exactly(pair[1], host);
}

/* ---- findings ----------------------------------------------------------- */

struct findings {
    struct plan_finding *v;
    size_t n, cap;
    bool nomem;
};

__attribute__((format(printf, 3, 4))) static void
find_add(struct findings *f, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    char text[PROBLEM_MAX + 512];
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 16;
        struct plan_finding *p = realloc(f->v, ncap * sizeof(*p));
        if (p == NULL) {
            f->nomem = true;
            return;
        }
        f->v = p;
        f->cap = ncap;
    }
    if ((f->v[f->n].text = strdup(text)) == NULL) {
        f->nomem = true;
        return;
    }
    f->v[f->n++].level = level;
}

static void format_time(time_t t, char *out, size_t outlen)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outlen, "@%lld", (long long)t);
}

/* announce tells what operators must publish for a domain whose policy is
 * new or changed. */
static void announce(struct findings *f, const struct plan_domain *d,
                     const struct plan_policy *old)
{
    const struct policy *p = d->policy->policy;
    struct buf b;
    buf_init(&b, 1024);
    dnsrec_sts_txt(&b, d->name, p->id);
    if (b.len > 0 && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    if (old == NULL) {
        find_add(f, LOG_LEVEL_INFO,
                 "%s: serving policy id %s (mode %s, max_age %lu) from %s at "
                 "https://%s/.well-known/mta-sts.txt",
                 d->name, p->id, policy_mode_name(p->mode), p->max_age,
                 d->policy->source, d->host);
    } else {
        char mode[64] = "";
        if (old->policy->mode != p->mode)
            snprintf(mode, sizeof(mode), ", mode %s -> %s",
                     policy_mode_name(old->policy->mode),
                     policy_mode_name(p->mode));
        find_add(f, LOG_LEVEL_INFO,
                 "%s: policy changed, id %s -> %s%s, now served from %s",
                 d->name, old->policy->id, p->id, mode, d->policy->source);
        find_add(f, LOG_LEVEL_INFO,
                 "%s: the new policy is live; now update the TXT record "
                 "(RFC 8461 section 8: serve the new policy before the "
                 "record changes, so senders that see the new id fetch the "
                 "new policy)",
                 d->name);
    }
    find_add(f, LOG_LEVEL_INFO, "publish: %s", b.data != NULL ? b.data : "");
    buf_free(&b);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* report compares a domain's new state with its old one and adds what
 * changed to f: new or changed policies, new or cleared problems. */
static void report(struct findings *f, const struct plan_domain *d,
                   const struct plan_domain *old)
{
    const struct plan_policy *op = old != NULL ? old->policy : NULL;
    if (d->policy != NULL &&
        (op == NULL || strcmp(op->policy->id, d->policy->policy->id) != 0))
        announce(f, d, op);
    if (d->policy_problem != NULL &&
        (old == NULL || !same_str(d->policy_problem, old->policy_problem)))
        find_add(f, LOG_LEVEL_ERROR, "%s: %s", d->name, d->policy_problem);
    if (d->cert_problem != NULL &&
        (old == NULL || !same_str(d->cert_problem, old->cert_problem)))
        find_add(f, LOG_LEVEL_ERROR, "%s: %s", d->name, d->cert_problem);
    if (old != NULL && !plan_domain_ok(old) && plan_domain_ok(d))
        find_add(f, LOG_LEVEL_INFO, "%s: healthy again", d->name);
}

/* ---- deciding one domain ------------------------------------------------ */

/* The parts of a domain's next state, before it becomes a record. */
struct decision {
    struct plan_policy *policy; /* borrowed */
    const struct certs_entry *cert[2];
    char policy_problem[PROBLEM_MAX];
    char cert_problem[PROBLEM_MAX];
};

static void decide_policy(const struct plan_world *w, const char *name,
                          const struct plan_domain *old, struct decision *dc)
{
    const struct plan_file *f = own_file(w, name);
    if (f == NULL)
        f = w->default_file;
    if (f != NULL && f->policy != NULL) {
        dc->policy = f->policy;
        return;
    }
    const char *why = f != NULL && f->error != NULL ? f->error : "no policy";
    if (old != NULL && old->policy != NULL) {
        dc->policy = old->policy;
        snprintf(dc->policy_problem, sizeof(dc->policy_problem),
                 "edit refused, still serving policy id %s: %s",
                 old->policy->policy->id, why);
    } else {
        snprintf(dc->policy_problem, sizeof(dc->policy_problem),
                 "no valid policy to serve: %s", why);
    }
}

static void decide_cert(const struct plan_world *w, const char *host,
                        const struct plan_domain *old, struct decision *dc)
{
    char when[32];
    if (certs_find_pair(w->certs, host, dc->cert))
        return;
    const struct certs_entry *kept =
        old != NULL ? (old->cert[0] != NULL ? old->cert[0] : old->cert[1])
                    : NULL;
    if (kept != NULL && !certs_entry_dev(kept) &&
        w->now < certs_entry_not_after(kept)) {
        /* The last good pair stays on the wire while it is valid: a
         * renewal that went wrong must not take the domain down. */
        dc->cert[0] = old->cert[0];
        dc->cert[1] = old->cert[1];
        const char *err = cert_error(w, certs_entry_source(kept));
        format_time(certs_entry_not_after(kept), when, sizeof(when));
        if (err != NULL)
            snprintf(dc->cert_problem, sizeof(dc->cert_problem),
                     "%s; still serving the last good certificate (valid "
                     "until %s)",
                     err, when);
        else
            snprintf(dc->cert_problem, sizeof(dc->cert_problem),
                     "no certificate covers %s any more (%s was removed or "
                     "changed); still serving the last good one (valid "
                     "until %s)",
                     host, certs_entry_source(kept), when);
        return;
    }
    if (names_exactly(w->dev, host)) {
        dc->cert[0] = w->dev;
        return;
    }
    const char *why = refusal(w, host);
    if (why != NULL)
        snprintf(dc->cert_problem, sizeof(dc->cert_problem),
                 "%s; %s is not served until its certificate is fixed", why,
                 host);
    else
        snprintf(dc->cert_problem, sizeof(dc->cert_problem),
                 "no certificate covers %s (looked for an exact or wildcard "
                 "name); it is not served until one does",
                 host);
}

/* earliest not-after of the pairs in use, 0 without any */
static time_t earliest(const struct certs_entry *const cert[2])
{
    time_t t = 0;
    for (int i = 0; i < 2; i++) {
        if (cert[i] == NULL)
            continue;
        time_t na = certs_entry_not_after(cert[i]);
        if (t == 0 || na < t)
            t = na;
    }
    return t;
}

static bool same_decision(const struct plan_domain *old,
                          const struct decision *dc, time_t now)
{
    return old->policy == dc->policy && old->cert[0] == dc->cert[0] &&
           old->cert[1] == dc->cert[1] &&
           same_str(old->policy_problem,
                    dc->policy_problem[0] ? dc->policy_problem : NULL) &&
           same_str(old->cert_problem,
                    dc->cert_problem[0] ? dc->cert_problem : NULL) &&
           old->servable == (dc->policy != NULL && earliest(dc->cert) > now);
}

static char *dup_or_null(const char *s)
{
    return s[0] != '\0' ? strdup(s) : NULL;
}

static struct plan_domain *domain_new(const char *name, const char *host,
                                      const struct decision *dc, time_t now)
{
    struct plan_domain *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    atomic_init(&d->refs, 1);
    d->name = strdup(name);
    d->host = strdup(host);
    d->policy = plan_policy_ref(dc->policy);
    d->cert[0] = certs_entry_ref(dc->cert[0]);
    d->cert[1] = certs_entry_ref(dc->cert[1]);
    d->policy_problem = dup_or_null(dc->policy_problem);
    d->cert_problem = dup_or_null(dc->cert_problem);
    d->not_after = earliest(dc->cert);
    d->servable = d->policy != NULL && d->not_after > now;
    if (d->name == NULL || d->host == NULL ||
        (dc->policy_problem[0] && d->policy_problem == NULL) ||
        (dc->cert_problem[0] && d->cert_problem == NULL)) {
        plan_domain_unref(d);
        return NULL;
    }
    return d;
}

/*
 * decide plans one domain. *next is its new state (a new reference: the
 * old record when nothing changed), or NULL when it is not served. Returns
 * -1 when memory runs out.
 */
static int decide(const struct plan_world *w, const char *name,
                  struct plan_domain *old, struct findings *f,
                  struct plan_domain **next)
{
    char host[HOST_MAX + 1];
    struct decision dc;
    *next = NULL;
    char copy[HOST_MAX + 1], why[128];
    int len = snprintf(host, sizeof(host), "mta-sts.%s", name);
    /* A name from a certificate becomes a file name and a log field: it is
     * held to the rules a configured domain meets. */
    if (len < 0 || (size_t)len >= sizeof(host) ||
        snprintf(copy, sizeof(copy), "%s", name) >= (int)sizeof(copy) ||
        config_check_domain(copy, why, sizeof(why)) < 0 ||
        strcmp(copy, name) != 0) {
        if (old != NULL)
            find_add(f, LOG_LEVEL_WARN, "%s: no longer served", name);
        return 0;
    }
    if (!configured(w, name) && own_file(w, name) == NULL &&
        !named_by_cert(w, host)) {
        if (old != NULL)
            find_add(f, LOG_LEVEL_WARN, "%s: no longer served", name);
        return 0;
    }
    memset(&dc, 0, sizeof(dc));
    decide_policy(w, name, old, &dc);
    decide_cert(w, host, old, &dc);
    time_t na = earliest(dc.cert);
    if (na != 0 && na <= w->now && dc.cert_problem[0] == '\0') {
        char when[32];
        format_time(na, when, sizeof(when));
        snprintf(
            dc.cert_problem, sizeof(dc.cert_problem),
            "the certificate for %s (%s) expired on %s; senders refuse "
            "the policy until it is renewed",
            host,
            certs_entry_source(dc.cert[0] != NULL ? dc.cert[0] : dc.cert[1]),
            when);
    }
    if (old != NULL && same_decision(old, &dc, w->now)) {
        *next = plan_domain_ref(old);
        return 0;
    }
    *next = domain_new(name, host, &dc, w->now);
    if (*next == NULL)
        return -1;
    report(f, *next, old);
    return 0;
}

/* ---- the step ----------------------------------------------------------- */

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A growing list of names to plan (borrowed strings). */
struct names {
    const char **v;
    size_t n, cap;
};

static int names_add(struct names *l, const char *s)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        const char **p = realloc(l->v, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        l->v = p;
        l->cap = ncap;
    }
    l->v[l->n++] = s;
    return 0;
}

/* candidates lists the names to plan, sorted and unique: every name known
 * anywhere (all), or the dirty ones. */
static int candidates(struct plan_domain *const *prev, size_t n_prev,
                      const struct plan_world *w, const char *const *dirty,
                      size_t n_dirty, bool all, struct names *out,
                      const char ***cert_names)
{
    int rc = 0;
    *cert_names = NULL;
    if (!all) {
        for (size_t i = 0; i < n_dirty && rc == 0; i++)
            rc = names_add(out, dirty[i]);
    } else {
        size_t max = certs_mta_sts_domains(w->certs, NULL, 0);
        *cert_names = calloc(max ? max : 1, sizeof(**cert_names));
        if (*cert_names == NULL)
            return -1;
        size_t k = certs_mta_sts_domains(w->certs, *cert_names, max);
        for (size_t i = 0; i < k && rc == 0; i++)
            rc = names_add(out, (*cert_names)[i]);
        for (size_t i = 0; i < w->n_config && rc == 0; i++)
            rc = names_add(out, w->config[i]);
        for (size_t i = 0; i < w->n_files && rc == 0; i++)
            rc = names_add(out, w->files[i].domain);
        for (size_t i = 0; i < n_prev && rc == 0; i++)
            rc = names_add(out, prev[i]->name);
    }
    if (rc < 0)
        return -1;
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_strp);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++)
        if (k == 0 || strcmp(out->v[k - 1], out->v[i]) != 0)
            out->v[k++] = out->v[i];
    out->n = k;
    return 0;
}

void plan_result_free(struct plan_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        plan_domain_unref(r->domains[i]);
    free(r->domains);
    for (size_t i = 0; i < r->n_findings; i++)
        free(r->findings[i].text);
    free(r->findings);
    memset(r, 0, sizeof(*r));
}

int plan_step(struct plan_domain *const *prev, size_t n_prev,
              const struct plan_world *w, const char *const *dirty,
              size_t n_dirty, bool all, struct plan_result *out)
{
    struct names cand = {0};
    struct findings f = {0};
    const char **cert_names = NULL;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (candidates(prev, n_prev, w, dirty, n_dirty, all, &cand, &cert_names) <
        0)
        goto out;
    /* At most every old domain plus every candidate. */
    out->domains = calloc(n_prev + cand.n + 1, sizeof(*out->domains));
    if (out->domains == NULL)
        goto out;
    /* Merge the sorted old domains with the sorted candidates: the old
     * ones that are not candidates are shared as they are. */
    size_t i = 0, j = 0;
    while (i < n_prev || j < cand.n) {
        int c = i == n_prev   ? 1
                : j == cand.n ? -1
                              : strcmp(prev[i]->name, cand.v[j]);
        if (c < 0) {
            out->domains[out->n++] = plan_domain_ref(prev[i++]);
            continue;
        }
        struct plan_domain *old = c == 0 ? prev[i++] : NULL;
        struct plan_domain *next;
        if (decide(w, cand.v[j++], old, &f, &next) < 0)
            goto out;
        if (next != old)
            out->n_changed++;
        if (next != NULL)
            out->domains[out->n++] = next;
    }
    if (f.nomem)
        goto out;
    rc = 0;
out:
    free(cand.v);
    free(cert_names);
    out->findings = f.v;
    out->n_findings = f.n;
    if (rc < 0)
        plan_result_free(out);
    return rc;
}
