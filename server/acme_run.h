/*
 * acme_run: the ACME thread of `serve`. It owns the account (key made once
 * or loaded, account found or created), decides which names need a
 * certificate (mta-sts.<domain> of every served domain that no usable
 * cert_dir pair covers), checks that each resolves before ordering,
 * orders them one at a time in a paced queue (acme_pace), renews them by
 * the CA's renewal information (RFC 9773) or at a third of the lifetime
 * left (acme_sched), and writes the results with acme_state, where the
 * store's watcher picks them up. Each name's schedule (failures, the last
 * error, the renewal window and the time picked) is kept in the state
 * directory, and an order is placed only under the name's lock, so that
 * replicas sharing the directory order a name once. It never runs on the
 * request path or the reload thread: the store only wakes it (through its
 * notify hook) when a snapshot is published; HTTP workers read its
 * counters for /metrics and /status under its mutex.
 */
#ifndef MTA_STS_ACME_RUN_H
#define MTA_STS_ACME_RUN_H

#include "acme_chal.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "plan.h"
#include "store.h"

/* How long a name whose lock another instance holds waits before it is
 * looked at again (by then that instance's certificate is usually there). */
#define ACME_RUN_LOCK_RETRY_S 15

struct acme_run;

/* acme_run_new prepares the thread (not started); cfg, lg, st and chal
 * are borrowed and must outlive it. NULL when memory runs out. */
struct acme_run *acme_run_new(const struct config *cfg, const struct logger *lg,
                              struct store *st, struct acme_chal *chal);

/* acme_run_start starts the thread. Returns 0, or -1 with err filled. */
int acme_run_start(struct acme_run *r, char *err, size_t errlen);

/* acme_run_wake makes the thread look at the current snapshot now (the
 * store's notify hook; ctx is the acme_run). Any thread. */
void acme_run_wake(void *ctx);

/* acme_run_stop makes the thread end soon (a running order is cancelled;
 * nothing is left half-written) and waits for it. Any thread but the
 * ACME one; a no-op when not started. */
void acme_run_stop(struct acme_run *r);

/* acme_run_free stops the thread and releases r; NULL is a no-op. */
void acme_run_free(struct acme_run *r);

/* acme_run_metrics appends the ACME metrics (orders by result, challenge
 * failures by type, the next renewal time per domain) to b. */
void acme_run_metrics(struct acme_run *r, struct buf *b);

/* acme_run_status appends d's ACME members to a /status domain object:
 * ,"certificate_from":"file"|"acme"|"development"|null,"acme":{...} with
 * the next renewal, the failures in a row and the last error. */
void acme_run_status(struct acme_run *r, const struct plan_domain *d,
                     struct buf *b);

#endif
