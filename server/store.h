/*
 * store: the loader. It owns what was last read from the policy and
 * certificate directories (per file and per certificate unit), re-reads
 * only what the watcher says changed (everything at start, on SIGHUP and
 * after lost events), hands that to the planner, builds the snapshot of
 * the planned domains and swaps one pointer; requests in flight keep the
 * snapshot they started with. The planner's findings are logged here.
 * Reloads run on one thread at a time (the caller's: main at start and on
 * SIGHUP, then the watcher); store_acquire is safe from any thread.
 */
#ifndef MTA_STS_STORE_H
#define MTA_STS_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "snapshot.h"

struct store;

/* store_new creates an empty store reading the directories of cfg. Both
 * cfg and lg are borrowed and must outlive the store. */
struct store *store_new(const struct config *cfg, const struct logger *lg);

/* store_free releases the store and its current snapshot; NULL is a no-op. */
void store_free(struct store *st);

/* store_set_prepare registers the HTTP layer's hook that prepares every
 * response before it is published; call before the first reload. */
void store_set_prepare(struct store *st, snapshot_prepare_fn fn, void *ctx);

/* store_set_notify registers fn, called (on the reloading thread, without
 * the store's lock) after every snapshot published; it must only wake
 * someone up. NULL takes it back. Any thread. */
void store_set_notify(struct store *st, void (*fn)(void *ctx), void *ctx);

/*
 * store_reload reads both directories whole (at start, on SIGHUP, after
 * the watcher lost events), re-validating every file whose bytes changed,
 * and publishes the result. Returns 0 when a snapshot built from the files
 * is served (each domain keeps its last good state where a file was
 * refused); 1 when the reload itself failed (out of memory, say) and the
 * previous state is still served, marked degraded: worth retrying; -1
 * when not a single domain can be served (only possible before the first
 * success). The reasons are logged.
 */
int store_reload(struct store *st);

/* Which directory a change is in: the policies, cert_dir, or (with ACME)
 * the certificates the host obtained, state_dir/acme/certs, loaded the
 * same way as cert_dir's; a cert_dir pair for a name always wins. */
enum store_root { STORE_POLICY_DIR, STORE_CERT_DIR, STORE_ACME_DIR };

/* One changed path: rel is relative to its root (`example.com.txt`,
 * `a.crt`, `live/a/privkey.pem`); NULL means "anything in that root". */
struct store_change {
    enum store_root root;
    const char *rel;
};

/*
 * store_set_unfinished registers the watcher's word on saves: fn(ctx,
 * root, rel) tells whether the file rel (relative to root, as in a
 * store_change) has a save under way, or was written again since this
 * reload began. The store asks right after reading a policy file or a
 * certificate pair whose bytes changed; when the answer is yes (for
 * either file of a pair), what it read may be part of that save, so the
 * file or pair stays as it was (a new one is not taken yet) until its
 * finished save is handed over. fn is called on the reloading thread,
 * during the reload. NULL takes it back. Call while nothing reloads.
 */
void store_set_unfinished(struct store *st,
                          bool (*fn)(void *ctx, enum store_root root,
                                     const char *rel),
                          void *ctx);

/*
 * store_update re-reads just what changed: a policy file re-validates that
 * file, a certificate path reloads its unit, and only the domains they
 * concern are planned again. Returns as store_reload does.
 */
int store_update(struct store *st, const struct store_change *changes,
                 size_t n);

/* store_tick plans again the domains whose certificate has expired since
 * the last plan (call it now and then, e.g. at every poll). */
void store_tick(struct store *st, time_t now);

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
 * store_read_policy reads and validates one policy file exactly as a reload
 * does (size cap included), reporting into d; `validate` uses it so it
 * judges a file the way the daemon will. Returns NULL on errors.
 */
struct policy *store_read_policy(const char *path, struct diag *d);

#endif
