/*
 * snapshot: an immutable, reference-counted view of everything the host
 * serves: for each domain its validated policy, id and prebuilt responses,
 * the certificate set, and the /healthz answer. The store builds one per
 * reload and swaps it in; request threads hold a reference while they use
 * it, and the last release frees it. After snapshot_finish nothing in it
 * changes, so any thread may read it without locks.
 */
#ifndef MTA_STS_SNAPSHOT_H
#define MTA_STS_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "certs.h"
#include "policy.h"

/* A prebuilt HTTP response. native is the HTTP layer's prepared form of it
 * (set once by the prepare hook before the snapshot is published). */
struct reply {
    int status;
    const char *content_type; /* NULL = none */
    const char *etag;         /* quoted, NULL = none */
    const char *allow;        /* NULL = none */
    const char *body;
    size_t body_len;
    void *native;
};

/* A certificate set shared by the snapshots that use it: a reload that keeps
 * the last good certificates shares the set instead of reloading it. */
struct snapshot_certs;

struct snapshot_domain {
    char *domain; /* "example.com" */
    char *host;   /* "mta-sts.example.com" */
    char *source; /* the policy file it was read from */
    struct policy *policy;
    const struct certs_entry *cert; /* the covering certificate */
    char *problem; /* why the last reload kept an older policy, or NULL */
    char etag[POLICY_ID_MAX + 3];
    struct reply ok;           /* 200 with the policy */
    struct reply not_modified; /* 304 */
};

struct snapshot {
    atomic_uint refs;
    uint64_t generation;
    struct snapshot_domain *domains; /* sorted by host */
    size_t n_domains;
    struct snapshot_certs *certs;
    char *cert_problem;     /* why the last reload kept older certificates */
    time_t valid_until;     /* earliest certificate not-after */
    struct reply health_ok; /* 200 JSON */
    struct reply health_expired; /* 503 JSON, served after valid_until */
    struct reply not_found;
    struct reply method_not_allowed;
    struct reply misdirected;
    struct reply bad_request;
    void (*native_free)(void *native);
    char *health_json; /* owned bodies of the health replies */
    char *expired_json;
};

struct snapshot_certs *snapshot_certs_new(struct certs *take);
struct snapshot_certs *snapshot_certs_ref(struct snapshot_certs *sc);
void snapshot_certs_unref(struct snapshot_certs *sc);
const struct certs *snapshot_certs_get(const struct snapshot_certs *sc);

/*
 * snapshot_new starts a snapshot with room for n domains, sharing certs
 * (a reference is taken). Fill it with snapshot_set_domain, then call
 * snapshot_finish. Returns NULL when memory runs out.
 */
struct snapshot *snapshot_new(size_t n_domains, struct snapshot_certs *certs,
                              uint64_t generation);

/*
 * snapshot_set_domain fills slot i: domain (bare name), the policy (taken
 * over), the file it came from and, when a newer edit was refused, the
 * problem text. Returns 0 or -1.
 */
int snapshot_set_domain(struct snapshot *s, size_t i, const char *domain,
                        struct policy *policy_take, const char *source,
                        const char *problem);

/*
 * snapshot_finish binds each domain to its covering certificate, sorts the
 * domains for lookup and prebuilds every response. Returns 0, or -1 with a
 * message in err (a domain without a covering certificate, or memory).
 */
int snapshot_finish(struct snapshot *s, const char *cert_problem, char *err,
                    size_t errlen);

/* snapshot_find returns the domain served at host (lower case, no port, no
 * trailing dot), or NULL. */
const struct snapshot_domain *snapshot_find(const struct snapshot *s,
                                            const char *host);

/* snapshot_find_domain returns the entry of a bare domain, or NULL. */
const struct snapshot_domain *snapshot_find_domain(const struct snapshot *s,
                                                   const char *domain);

/* snapshot_for_each_reply calls fn on every prebuilt reply. */
void snapshot_for_each_reply(struct snapshot *s,
                             void (*fn)(struct reply *r, void *ctx), void *ctx);

/* snapshot_ref takes a reference; snapshot_release drops one and frees the
 * snapshot with the last. Both are safe from any thread; NULL is a no-op. */
struct snapshot *snapshot_ref(struct snapshot *s);
void snapshot_release(struct snapshot *s);

#endif
