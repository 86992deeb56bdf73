/*
 * snapshot: immutable, refcounted serving state (see snapshot.h). Pure: it
 * formats its fixed responses once, when the snapshot is built, so that
 * request threads only pick a prebuilt reply. Built on the reload thread;
 * read by any thread.
 */
#include "snapshot.h"

#include "dnsname.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct snapshot_certs {
    atomic_uint refs;
    struct certs *certs;
};

struct snapshot {
    atomic_uint refs;
    uint64_t generation;
    struct plan_domain **domains; /* sorted by name; references */
    size_t n;
    struct snapshot_certs *certs;
    struct snapshot_counts counts;
    char **problems;
    struct reply replies[SNAPSHOT_N_REPLIES];
    char health[256]; /* the body of the /healthz reply */
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
    return sc != NULL ? sc->certs : NULL;
}

static void set_fixed(struct reply *r, int status, const char *body)
{
    r->status = status;
    r->content_type = "text/plain";
    r->body = body;
    r->body_len = strlen(body);
}

/*
 * build_health renders /healthz: the same few fields whatever the number of
 * domains. It is degraded when a domain or the instance has a problem, and
 * fails (503) only when not a single domain can be served: one customer's
 * expired certificate must never make an orchestrator restart the instance
 * that serves all the others.
 */
static void build_health(struct snapshot *s)
{
    const struct snapshot_counts *c = &s->counts;
    /* A problem of the instance (an unreadable directory, a failed
     * reload, a refused file that serves no domain) degrades it too. */
    const char *status = c->servable == 0                          ? "fail"
                         : c->ok == c->domains && c->problems == 0 ? "ok"
                                                                   : "degraded";
    snprintf(s->health, sizeof(s->health),
             "{\"status\":\"%s\",\"domains\":%zu,\"servable\":%zu,"
             "\"unwell\":%zu,\"problems\":%zu,\"generation\":%llu}\n",
             status, c->domains, c->servable, c->domains - c->ok, c->problems,
             (unsigned long long)s->generation);
    struct reply *r = &s->replies[SNAPSHOT_HEALTH];
    r->status = c->servable == 0 ? 503 : 200;
    r->content_type = "application/json";
    r->body = s->health;
    r->body_len = strlen(s->health);
}

struct snapshot *snapshot_new(struct plan_domain *const *domains, size_t n,
                              struct snapshot_certs *certs,
                              const char *const *problems, size_t n_problems,
                              uint64_t generation, snapshot_prepare_fn prepare,
                              void *ctx)
{
    struct snapshot *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    atomic_init(&s->refs, 1);
    s->domains = calloc(n ? n : 1, sizeof(*s->domains));
    if (s->domains == NULL) {
        free(s);
        return NULL;
    }
    s->generation = generation;
    s->certs = snapshot_certs_ref(certs);
    s->problems = calloc(n_problems + 1, sizeof(*s->problems));
    if (s->problems == NULL) {
        snapshot_release(s);
        return NULL;
    }
    for (size_t i = 0; i < n_problems; i++) {
        if ((s->problems[i] = strdup(problems[i])) == NULL) {
            snapshot_release(s);
            return NULL;
        }
        s->counts.problems++;
    }
    for (size_t i = 0; i < n; i++) {
        s->domains[s->n++] = plan_domain_ref(domains[i]);
        s->counts.servable += domains[i]->servable;
        s->counts.ok += plan_domain_ok(domains[i]);
    }
    s->counts.domains = n;
    set_fixed(&s->replies[SNAPSHOT_NOT_FOUND], 404, "Not Found\n");
    set_fixed(&s->replies[SNAPSHOT_METHOD_NOT_ALLOWED], 405,
              "Method Not Allowed\n");
    s->replies[SNAPSHOT_METHOD_NOT_ALLOWED].allow = "GET, HEAD";
    set_fixed(&s->replies[SNAPSHOT_MISDIRECTED], 421,
              "Misdirected Request: the TLS server name does not match "
              "the Host header\n");
    set_fixed(&s->replies[SNAPSHOT_BAD_REQUEST], 400, "Bad Request\n");
    build_health(s);
    for (size_t i = 0; prepare != NULL && i < SNAPSHOT_N_REPLIES; i++) {
        prepare(&s->replies[i], ctx);
        if (s->replies[i].native == NULL) {
            snapshot_release(s);
            return NULL;
        }
    }
    return s;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, (*(struct plan_domain *const *)elem)->name);
}

const struct plan_domain *snapshot_find(const struct snapshot *s,
                                        const char *host)
{
    static const char prefix[] = "mta-sts.";
    if (s->n == 0 || strncmp(host, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    struct plan_domain *const *p =
        bsearch(host + sizeof(prefix) - 1, s->domains, s->n,
                sizeof(*s->domains), cmp_name);
    return p != NULL ? *p : NULL;
}

size_t snapshot_count(const struct snapshot *s)
{
    return s->n;
}

const struct plan_domain *snapshot_at(const struct snapshot *s, size_t i)
{
    return s->domains[i];
}

struct plan_domain *const *snapshot_domains(const struct snapshot *s)
{
    return s->domains;
}

const struct reply *snapshot_reply(const struct snapshot *s,
                                   enum snapshot_reply which)
{
    return &s->replies[which];
}

uint64_t snapshot_generation(const struct snapshot *s)
{
    return s->generation;
}

struct snapshot_counts snapshot_counts(const struct snapshot *s)
{
    return s->counts;
}

struct snapshot_certs *snapshot_certs(const struct snapshot *s)
{
    return s->certs;
}

const struct certs_entry *snapshot_cert_for(const struct snapshot *s,
                                            const char *sni,
                                            gnutls_session_t session)
{
    char host[DNSNAME_MAX + 1];
    const struct certs *index = snapshot_certs_get(s->certs);
    bool named = sni != NULL &&
                 dnsname_normalize(sni, strlen(sni), host, sizeof(host)) == 0;
    if (named) {
        const struct plan_domain *d = snapshot_find(s, host);
        if (d != NULL && (d->cert[0] != NULL || d->cert[1] != NULL))
            return certs_pick(d->cert, session);
    }
    if (certs_count(index) > 0)
        return certs_select(index, named ? host : NULL, session);
    /* No file loaded (a development set, or only last good pairs kept):
     * any domain's pair is as good a default as another. */
    for (size_t i = 0; i < s->n; i++)
        if (s->domains[i]->cert[0] != NULL || s->domains[i]->cert[1] != NULL)
            return certs_pick(s->domains[i]->cert, session);
    return NULL;
}

struct snapshot *snapshot_ref(struct snapshot *s)
{
    if (s != NULL)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void snapshot_release(struct snapshot *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < SNAPSHOT_N_REPLIES; i++)
        if (s->replies[i].native != NULL && s->replies[i].native_free != NULL)
            s->replies[i].native_free(s->replies[i].native);
    for (size_t i = 0; i < s->n; i++)
        plan_domain_unref(s->domains[i]);
    free(s->domains);
    for (size_t i = 0; s->problems != NULL && i < s->counts.problems; i++)
        free(s->problems[i]);
    free(s->problems);
    snapshot_certs_unref(s->certs);
    free(s);
}

const char *snapshot_problem(const struct snapshot *s, size_t i)
{
    return s->problems[i];
}
