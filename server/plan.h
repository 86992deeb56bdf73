/*
 * plan: the per-domain planner. Given the per-domain state served so far
 * and what the files say now (the policy files as last read, the
 * certificate pairs as last loaded, the configured domains), it decides
 * each domain's next state: which policy and certificate it serves, what
 * is wrong with it, whether it can be served at all, and what is worth
 * telling the operator (findings). One domain's fault never reaches
 * another: every rule looks at that domain's own files only. Pure: no
 * I/O, no logging, no clock (the time comes in the input), no globals;
 * it runs on the reloading thread, and what it returns is immutable and
 * shared between snapshots by reference counting.
 */
#ifndef MTA_STS_PLAN_H
#define MTA_STS_PLAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "certs.h"
#include "config.h"
#include "policy.h"

/* A prebuilt HTTP response. native is the HTTP layer's prepared form of
 * it, released with native_free; both are set once, before publication. */
struct reply {
    int status;
    const char *content_type; /* NULL = none */
    const char *etag;         /* quoted, NULL = none */
    const char *allow;        /* NULL = none */
    const char *body;
    size_t body_len;
    void *native;
    void (*native_free)(void *native);
};

/* A validated policy file and its responses, shared by every domain that
 * serves it (the default policy may serve thousands). */
struct plan_policy {
    atomic_uint refs;
    char *source; /* the file it was read from */
    struct policy *policy;
    char etag[POLICY_ID_MAX + 3];
    struct reply ok;           /* 200 with the policy */
    struct reply not_modified; /* 304 */
};

/* plan_policy_new wraps a validated policy (taken, also on failure) read
 * from source, with its responses built. NULL when memory runs out. */
struct plan_policy *plan_policy_new(const char *source,
                                    struct policy *policy_take);
struct plan_policy *plan_policy_ref(struct plan_policy *p);
void plan_policy_unref(struct plan_policy *p);

/* One served domain's state. Immutable once planned. */
struct plan_domain {
    atomic_uint refs;
    char *name;                        /* "example.com" */
    char *host;                        /* "mta-sts.example.com" */
    struct plan_policy *policy;        /* NULL: no valid policy yet */
    const struct certs_entry *cert[2]; /* ECDSA, other kind; references */
    char *policy_problem;              /* NULL when none */
    char *cert_problem;                /* NULL when none */
    time_t not_after; /* expiry of the certificate in use, 0 without one */
    bool servable;    /* a valid policy and an unexpired certificate */
};

struct plan_domain *plan_domain_ref(struct plan_domain *d);
void plan_domain_unref(struct plan_domain *d);

/* plan_domain_ok: servable and nothing wrong. */
bool plan_domain_ok(const struct plan_domain *d);

/* A policy file as last read. */
struct plan_file {
    const char *domain; /* NULL for the default policy file */
    const char *path;
    struct plan_policy *policy; /* NULL when it did not validate */
    const char *error;          /* why not ("file:line:col: ...") */
};

/* A certificate unit that was refused, and why. */
struct plan_cert_error {
    const char *source; /* the unit's id (certificate file) */
    const char *error;
};

/* A name carried by a certificate that was refused (expired, key
 * mismatch...): the domains it would cover are told why. */
struct plan_refusal {
    const char *name; /* as in the certificate: exact, or "*.base" */
    const char *error;
};

/* What the files say now. Every array is sorted by its first field. */
struct plan_world {
    const char *const *config; /* configured domains */
    size_t n_config;
    const struct plan_file *files; /* policy/<domain>.txt */
    size_t n_files;
    const struct plan_file *default_file; /* policy/mta-sts.txt */
    const struct certs *certs;            /* the loaded pairs */
    const struct plan_cert_error *cert_errors;
    size_t n_cert_errors;
    const struct plan_refusal *refused;
    size_t n_refused;
    const struct certs_entry *dev; /* the development pair, or NULL */
    time_t now;
};

/* Something worth telling the operator about one domain. */
struct plan_finding {
    enum log_level level;
    char *text; /* starts with the domain name */
};

struct plan_result {
    struct plan_domain **domains; /* sorted by name; references */
    size_t n;
    struct plan_finding *findings;
    size_t n_findings;
    size_t n_changed; /* domains whose state differs from before */
};

/*
 * plan_step plans the next state from prev (sorted by name, borrowed) and
 * w. With all, every domain named anywhere is planned; else only those in
 * dirty (any order, duplicates allowed), and every other domain keeps its
 * state (shared, not copied). A domain is served when it is configured,
 * has a policy/<domain>.txt, or is named by an exact `mta-sts.<domain>`
 * certificate name. The rules, per domain:
 *  - policy: its own file, else the default file; when that does not
 *    validate, the last good policy stays with the reason as its problem;
 *  - certificate: the loaded pairs covering mta-sts.<domain>; when none
 *    does, the last good pair stays while it is unexpired (its reason: the
 *    refusal of its file, or that nothing covers the name any more); else
 *    the development pair when there is one; else it is a problem, with
 *    the refusal of a certificate that carries the name as its reason;
 *  - an expired certificate makes the domain unservable (still listed).
 * Returns 0, or -1 when memory runs out (out is then empty).
 */
int plan_step(struct plan_domain *const *prev, size_t n_prev,
              const struct plan_world *w, const char *const *dirty,
              size_t n_dirty, bool all, struct plan_result *out);

/* plan_result_free releases a result; a zeroed one is a no-op. */
void plan_result_free(struct plan_result *r);

/* plan_find returns the domain called name in a sorted array, or NULL. */
struct plan_domain *plan_find(struct plan_domain *const *domains, size_t n,
                              const char *name);

#endif
