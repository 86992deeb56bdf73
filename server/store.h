/*
 * store: owns the current snapshot. A reload reads the policy and
 * certificate directories, validates everything, builds a new immutable
 * snapshot and swaps one pointer; requests in flight keep the snapshot they
 * started with. A domain whose new policy (or a certificate set that) fails
 * validation keeps its last good state, and the failure is logged with
 * file:line:col. Reloads run on one thread at a time (the caller's: main at
 * start, then the watcher); store_acquire is safe from any thread.
 */
#ifndef MTA_STS_STORE_H
#define MTA_STS_STORE_H

#include <stdint.h>

#include "certs.h"
#include "config.h"
#include "log.h"
#include "snapshot.h"

struct store;

/* Called on each new snapshot before it is published (the HTTP layer uses
 * it to prepare its native responses). */
typedef void (*store_prepare_fn)(struct snapshot *s, void *ctx);

/* store_new creates an empty store reading the directories of cfg. Both
 * cfg and lg are borrowed and must outlive the store. */
struct store *store_new(const struct config *cfg, const struct logger *lg);

/* store_free releases the store and its current snapshot; NULL is a no-op. */
void store_free(struct store *st);

/* store_set_prepare registers the hook; call before the first reload. */
void store_set_prepare(struct store *st, store_prepare_fn fn, void *ctx);

/*
 * store_reload rebuilds the snapshot from disk and publishes it. Returns 0
 * when the files were read and a snapshot built from them is served
 * (possibly keeping the last good state of a refused file), 1 when the
 * reload itself failed (out of memory, say) and the previous state is
 * still served, marked degraded: worth retrying with the same files; -1
 * when nothing valid could be published (only possible before the first
 * success). The reasons are logged.
 */
int store_reload(struct store *st);

/* store_reload_policies is store_reload for when only policy files
 * changed: the certificates of the current snapshot are kept as they are,
 * which spares a policy edit the certificate directory's load and chain
 * checks. Before the first reload it is store_reload. */
int store_reload_policies(struct store *st);

/* store_acquire returns the current snapshot with a reference taken (drop
 * it with snapshot_release), or NULL before the first successful reload. */
struct snapshot *store_acquire(struct store *st);

struct store_stats {
    uint64_t reloads;         /* reload attempts */
    uint64_t reload_failures; /* attempts that refused some edit */
};

/* store_stats reads the counters (any thread). */
void store_stats(const struct store *st, struct store_stats *out);

#define STORE_DEFAULT_POLICY "mta-sts.txt"

/*
 * store_policy_path picks the policy file of a domain: <dir>/<domain>.txt
 * when it exists, else the default <dir>/mta-sts.txt. Returns 0, or -1 when
 * the path does not fit in out.
 */
int store_policy_path(const char *policy_dir, const char *domain, char *out,
                      size_t outlen);

/*
 * store_cert_domains lists the domains named by the certificates'
 * `mta-sts.<domain>` SANs that are valid domain names: *out is a new array
 * (the caller frees it) of strings borrowed from c. Returns the count.
 */
size_t store_cert_domains(const struct certs *c, const char ***out);

/*
 * store_read_policy reads and validates one policy file exactly as a reload
 * does (size cap included), reporting into d; `validate` and `dns` use it so
 * they judge a file the way the daemon will. Returns NULL on errors.
 */
struct policy *store_read_policy(const char *path, struct diag *d);

#endif
