/*
 * snapshot: an immutable, reference-counted view of everything the host
 * serves: the planned domains (each with its policy, prebuilt responses
 * and certificate), the index of loaded certificates for other names, the
 * fixed responses and the /healthz answer. The store builds one per
 * reload and swaps it in; the domains are shared with the snapshot before
 * (only what changed is new), so building one costs a copy of the
 * pointers. Request threads hold a reference while they use it, and the
 * last release frees it. Opaque: nothing in it changes after
 * snapshot_new, so any thread may read it without locks.
 */
#ifndef MTA_STS_SNAPSHOT_H
#define MTA_STS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "certs.h"
#include "plan.h"

struct snapshot;

/* A certificate index shared by the snapshots that use it: a reload that
 * only changed policies shares the index instead of rebuilding it. */
struct snapshot_certs;

struct snapshot_certs *snapshot_certs_new(struct certs *take);
struct snapshot_certs *snapshot_certs_ref(struct snapshot_certs *sc);
void snapshot_certs_unref(struct snapshot_certs *sc);
const struct certs *snapshot_certs_get(const struct snapshot_certs *sc);

/* The fixed responses. */
enum snapshot_reply {
    SNAPSHOT_HEALTH, /* /healthz: 200 ok or degraded, 503 fail */
    SNAPSHOT_NOT_FOUND,
    SNAPSHOT_METHOD_NOT_ALLOWED,
    SNAPSHOT_MISDIRECTED,
    SNAPSHOT_BAD_REQUEST,
    SNAPSHOT_N_REPLIES
};

/* Counts for health: every domain, those that can be served, those with
 * nothing wrong. */
struct snapshot_counts {
    size_t domains, servable, ok;
    size_t problems; /* of the instance: files no domain owns, directories */
};

/* Prepares a response's native form (the HTTP layer's hook). */
typedef void (*snapshot_prepare_fn)(struct reply *r, void *ctx);

/*
 * snapshot_new builds a snapshot of domains (sorted by name; a reference is
 * taken on each), certs (a reference is taken) and the problems of the
 * instance as a whole (copied: a refused file that serves no domain, an
 * unreadable directory, a failed reload), and prepares its fixed responses
 * with prepare (may be NULL). Returns NULL when memory runs out or a
 * response could not be prepared.
 */
struct snapshot *snapshot_new(struct plan_domain *const *domains, size_t n,
                              struct snapshot_certs *certs,
                              const char *const *problems, size_t n_problems,
                              uint64_t generation, snapshot_prepare_fn prepare,
                              void *ctx);

/* snapshot_problem returns problem i (0 <= i < counts.problems). */
const char *snapshot_problem(const struct snapshot *s, size_t i);

/* snapshot_find returns the domain served at host (lower case, no port, no
 * trailing dot), or NULL. */
const struct plan_domain *snapshot_find(const struct snapshot *s,
                                        const char *host);

/* snapshot_count / snapshot_at walk the domains in name order. */
size_t snapshot_count(const struct snapshot *s);
const struct plan_domain *snapshot_at(const struct snapshot *s, size_t i);

/* snapshot_domains is the sorted array itself (for the next plan). */
struct plan_domain *const *snapshot_domains(const struct snapshot *s);

const struct reply *snapshot_reply(const struct snapshot *s,
                                   enum snapshot_reply which);
uint64_t snapshot_generation(const struct snapshot *s);
struct snapshot_counts snapshot_counts(const struct snapshot *s);
struct snapshot_certs *snapshot_certs(const struct snapshot *s);

/*
 * snapshot_cert_for picks the certificate for a TLS handshake: the one of
 * the domain served at sni, else the loaded pair for that name, else the
 * default pair; NULL when there is none at all. session is the handshake
 * (for the ECDSA or RSA choice, see certs_pick).
 */
const struct certs_entry *snapshot_cert_for(const struct snapshot *s,
                                            const char *sni,
                                            gnutls_session_t session);

/* snapshot_ref takes a reference; snapshot_release drops one and frees the
 * snapshot with the last. Both are safe from any thread; NULL is a no-op. */
struct snapshot *snapshot_ref(struct snapshot *s);
void snapshot_release(struct snapshot *s);

#endif
