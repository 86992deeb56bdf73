/*
 * snapshot: immutable, refcounted serving state (see snapshot.h). Pure: it
 * formats every response once, when the snapshot is built, so that request
 * threads only pick a prebuilt reply. Built on the reload thread; read by
 * any thread after snapshot_finish.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

#define HEALTH_MAX (256 * 1024)

struct snapshot_certs {
    atomic_uint refs;
    struct certs *certs;
};

struct snapshot_certs *snapshot_certs_new(struct certs *take)
{
    struct snapshot_certs *sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        certs_free(take);
        return NULL;
    }
    atomic_init(&sc->refs, 1);
    sc->certs = take;
    return sc;
}

struct snapshot_certs *snapshot_certs_ref(struct snapshot_certs *sc)
{
    if (sc != NULL)
        atomic_fetch_add(&sc->refs, 1);
    return sc;
}

void snapshot_certs_unref(struct snapshot_certs *sc)
{
    if (sc == NULL || atomic_fetch_sub(&sc->refs, 1) != 1)
        return;
    certs_free(sc->certs);
    free(sc);
}

const struct certs *snapshot_certs_get(const struct snapshot_certs *sc)
{
    return sc->certs;
}

static void set_fixed(struct reply *r, int status, const char *body)
{
    r->status = status;
    r->content_type = "text/plain";
    r->body = body;
    r->body_len = strlen(body);
}

struct snapshot *snapshot_new(size_t n_domains, struct snapshot_certs *certs,
                              uint64_t generation)
{
    struct snapshot *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->domains = calloc(n_domains ? n_domains : 1, sizeof(*s->domains));
    if (s->domains == NULL) {
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->n_domains = n_domains;
    s->generation = generation;
    s->certs = snapshot_certs_ref(certs);
    set_fixed(&s->not_found, 404, "Not Found\n");
    set_fixed(&s->method_not_allowed, 405, "Method Not Allowed\n");
    s->method_not_allowed.allow = "GET, HEAD";
    set_fixed(&s->misdirected, 421,
              "Misdirected Request: the TLS server name does not match "
              "the Host header\n");
    set_fixed(&s->bad_request, 400, "Bad Request\n");
    return s;
}

int snapshot_set_domain(struct snapshot *s, size_t i, const char *domain,
                        struct policy *policy_take, const char *source,
                        const char *problem)
{
    struct snapshot_domain *d = &s->domains[i];
    size_t hostlen = strlen("mta-sts.") + strlen(domain) + 1;
    d->policy = policy_take;
    d->domain = strdup(domain);
    d->source = strdup(source);
    d->host = malloc(hostlen);
    d->problem = problem != NULL ? strdup(problem) : NULL;
    if (d->domain == NULL || d->source == NULL || d->host == NULL ||
        (problem != NULL && d->problem == NULL))
        return -1;
    snprintf(d->host, hostlen, "mta-sts.%s", domain);
    return 0;
}

static int cmp_domain(const void *a, const void *b)
{
    const struct snapshot_domain *x = a, *y = b;
    return strcmp(x->host, y->host);
}

static void build_policy_replies(struct snapshot_domain *d)
{
    snprintf(d->etag, sizeof(d->etag), "\"%s\"", d->policy->id);
    d->ok.status = 200;
    /* RFC 8461 §3.3 asks for text/plain; the charset is only needed when an
     * extension value carries UTF-8. */
    d->ok.content_type =
        d->policy->non_ascii ? "text/plain; charset=utf-8" : "text/plain";
    d->ok.etag = d->etag;
    d->ok.body = d->policy->served;
    d->ok.body_len = d->policy->served_len;
    d->not_modified.status = 304;
    d->not_modified.etag = d->etag;
    d->not_modified.body = "";
}

static void json_time(struct buf *b, time_t t)
{
    struct tm tm;
    char out[32];
    gmtime_r(&t, &tm);
    strftime(out, sizeof(out), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
    buf_puts(b, out);
}

static void json_str_or_null(struct buf *b, const char *s)
{
    if (s == NULL)
        buf_puts(b, "null");
    else
        buf_json_string(b, s, strlen(s));
}

/* build_health renders the /healthz JSON for the given overall status. */
static char *build_health(const struct snapshot *s, const char *status,
                          const char *reason)
{
    struct buf b;
    buf_init(&b, HEALTH_MAX);
    buf_printf(&b, "{\"status\":\"%s\",\"generation\":%llu,\"reason\":", status,
               (unsigned long long)s->generation);
    json_str_or_null(&b, reason);
    buf_puts(&b, ",\"certificates\":{\"problem\":");
    json_str_or_null(&b, s->cert_problem);
    buf_puts(&b, "},\"domains\":[");
    for (size_t i = 0; i < s->n_domains; i++) {
        const struct snapshot_domain *d = &s->domains[i];
        buf_puts(&b, i ? ",{\"domain\":" : "{\"domain\":");
        buf_json_string(&b, d->domain, strlen(d->domain));
        buf_printf(&b, ",\"policy_id\":\"%s\",\"mode\":\"%s\",\"max_age\":%lu",
                   d->policy->id, policy_mode_name(d->policy->mode),
                   d->policy->max_age);
        buf_puts(&b, ",\"source\":");
        json_str_or_null(&b, d->source);
        buf_puts(&b, ",\"problem\":");
        json_str_or_null(&b, d->problem);
        buf_puts(&b, ",\"certificate\":{\"source\":");
        json_str_or_null(&b, certs_entry_source(d->cert));
        buf_printf(&b, ",\"dev\":%s,\"not_after\":",
                   certs_entry_dev(d->cert) ? "true" : "false");
        json_time(&b, certs_entry_not_after(d->cert));
        buf_puts(&b, "}}");
    }
    buf_puts(&b, "]}\n");
    return buf_take(&b, NULL);
}

static int build_health_replies(struct snapshot *s)
{
    bool degraded = s->cert_problem != NULL;
    for (size_t i = 0; i < s->n_domains; i++)
        degraded = degraded || s->domains[i].problem != NULL;
    /* Degraded still answers 200: every domain serves a valid policy with a
     * valid certificate, only a newer edit was refused. */
    s->health_json = build_health(s, degraded ? "degraded" : "ok",
                                  degraded ? "a newer edit was refused; the "
                                             "last good files are served"
                                           : NULL);
    s->expired_json =
        build_health(s, "fail", "a served certificate has expired");
    if (s->health_json == NULL || s->expired_json == NULL)
        return -1;
    s->health_ok.status = 200;
    s->health_ok.content_type = "application/json";
    s->health_ok.body = s->health_json;
    s->health_ok.body_len = strlen(s->health_json);
    s->health_expired.status = 503;
    s->health_expired.content_type = "application/json";
    s->health_expired.body = s->expired_json;
    s->health_expired.body_len = strlen(s->expired_json);
    return 0;
}

int snapshot_finish(struct snapshot *s, const char *cert_problem, char *err,
                    size_t errlen)
{
    const struct certs *certs = snapshot_certs_get(s->certs);
    if (cert_problem != NULL &&
        (s->cert_problem = strdup(cert_problem)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Sort first: the replies point into the domain entries. */
    qsort(s->domains, s->n_domains, sizeof(*s->domains), cmp_domain);
    s->valid_until = (time_t)-1;
    for (size_t i = 0; i < s->n_domains; i++) {
        struct snapshot_domain *d = &s->domains[i];
        d->cert = certs_find(certs, d->host);
        if (d->cert == NULL) {
            snprintf(err, errlen,
                     "no certificate covers %s (looked for an exact or "
                     "wildcard SAN)",
                     d->host);
            return -1;
        }
        time_t na = certs_entry_not_after(d->cert);
        if (s->valid_until == (time_t)-1 || na < s->valid_until)
            s->valid_until = na;
        build_policy_replies(d);
    }
    if (build_health_replies(s) < 0) {
        snprintf(err, errlen, "out of memory building /healthz");
        return -1;
    }
    return 0;
}

const struct snapshot_domain *snapshot_find(const struct snapshot *s,
                                            const char *host)
{
    struct snapshot_domain key = {.host = (char *)host};
    return bsearch(&key, s->domains, s->n_domains, sizeof(*s->domains),
                   cmp_domain);
}

const struct snapshot_domain *snapshot_find_domain(const struct snapshot *s,
                                                   const char *domain)
{
    for (size_t i = 0; i < s->n_domains; i++)
        if (strcmp(s->domains[i].domain, domain) == 0)
            return &s->domains[i];
    return NULL;
}

void snapshot_for_each_reply(struct snapshot *s,
                             void (*fn)(struct reply *r, void *ctx), void *ctx)
{
    for (size_t i = 0; i < s->n_domains; i++) {
        fn(&s->domains[i].ok, ctx);
        fn(&s->domains[i].not_modified, ctx);
    }
    fn(&s->health_ok, ctx);
    fn(&s->health_expired, ctx);
    fn(&s->not_found, ctx);
    fn(&s->method_not_allowed, ctx);
    fn(&s->misdirected, ctx);
    fn(&s->bad_request, ctx);
}

struct snapshot *snapshot_ref(struct snapshot *s)
{
    if (s != NULL)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

struct native_release {
    void (*native_free)(void *native);
};

static void free_native(struct reply *r, void *ctx)
{
    const struct native_release *nr = ctx;
    if (r->native != NULL)
        nr->native_free(r->native);
    r->native = NULL;
}

void snapshot_release(struct snapshot *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->native_free != NULL) {
        struct native_release nr = {s->native_free};
        snapshot_for_each_reply(s, free_native, &nr);
    }
    for (size_t i = 0; i < s->n_domains; i++) {
        struct snapshot_domain *d = &s->domains[i];
        free(d->domain);
        free(d->host);
        free(d->source);
        free(d->problem);
        policy_free(d->policy);
    }
    free(s->domains);
    free(s->cert_problem);
    free(s->health_json);
    free(s->expired_json);
    snapshot_certs_unref(s->certs);
    free(s);
}
