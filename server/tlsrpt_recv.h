/*
 * tlsrpt_recv: TLS report reception (RFC 8460 §3) behind the HTTPS
 * listener, between the HTTP layer and the store: the rate limit per
 * client address, a cap on the report bytes held by all connections at
 * once, and the submission itself: a bounded queue that a writer thread of
 * its own empties, so that no HTTP worker ever waits for the disk. The
 * writer inflates (capped) and parses each report, checks that every
 * policy-domain is served by the snapshot its request holds, stores all
 * the reports waiting in one transaction (one fsync), and only then gives
 * each its answer (200 only once the report is committed). One parsed
 * report at a time is in memory. It also deletes reports past their
 * retention, at most once an hour. It does not speak HTTP itself. I/O (the
 * store); HTTP worker threads call it, the writer thread calls back.
 */
#ifndef MTA_STS_TLSRPT_RECV_H
#define MTA_STS_TLSRPT_RECV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "snapshot.h"

struct tlsrpt_recv;

/* What to answer a submission. */
struct tlsrpt_answer {
    int status;                  /* HTTP status */
    unsigned retry_after;        /* seconds, 0 = no Retry-After header */
    char msg[DIAG_MSG_MAX + 96]; /* the body: one line of text */
};

/* Counts of submissions by outcome, for /metrics. */
enum tlsrpt_outcome {
    TLSRPT_STORED,
    TLSRPT_DUPLICATE,
    TLSRPT_NOT_A_REPORT, /* 400 */
    TLSRPT_NOT_SERVED,   /* 403: a policy-domain this host does not serve */
    TLSRPT_TOO_LARGE,    /* 413: body or inflated size */
    TLSRPT_RATE_LIMITED, /* 429 */
    TLSRPT_BUSY,         /* 503: too many report bytes or reports waiting */
    TLSRPT_NO_ROOM,      /* 507: the disk budget */
    TLSRPT_STORE_ERROR,  /* 503 */
    TLSRPT_N_OUTCOMES
};

/* tlsrpt_outcome_name is the metric label of an outcome. */
const char *tlsrpt_outcome_name(enum tlsrpt_outcome o);

/*
 * tlsrpt_recv_new opens the store in cfg->state_dir and prepares
 * reception with the limits of cfg's tlsrpt section. Returns NULL with the
 * reason in d (naming the state directory when that is the problem).
 */
struct tlsrpt_recv *tlsrpt_recv_new(const struct config *cfg, struct diag *d);

/* tlsrpt_recv_free answers what is queued, stops the writer and closes
 * the store; NULL is a no-op. */
void tlsrpt_recv_free(struct tlsrpt_recv *rx);

/* tlsrpt_recv_max_body is the most bytes one report may have as sent. */
size_t tlsrpt_recv_max_body(const struct tlsrpt_recv *rx);

/*
 * tlsrpt_recv_admit decides whether a submission from client (an IP
 * address in text) may send its body, before it is read: false, with the
 * answer in a, when it is rate-limited or announces (content_length, -1
 * for none) more than the body cap.
 */
bool tlsrpt_recv_admit(struct tlsrpt_recv *rx, const char *client,
                       long long content_length, struct tlsrpt_answer *a);

/*
 * tlsrpt_recv_hold reserves n more bytes of body for one connection
 * (*held counts what it holds) within the cap per report and the cap for
 * all connections together; false, with the answer in a, when either
 * would be passed. tlsrpt_recv_release gives back what a connection held.
 */
bool tlsrpt_recv_hold(struct tlsrpt_recv *rx, size_t *held, size_t n,
                      struct tlsrpt_answer *a);
void tlsrpt_recv_release(struct tlsrpt_recv *rx, size_t *held);

/* tlsrpt_done_fn receives a submission's answer, on the writer thread. */
typedef void tlsrpt_done_fn(void *ctx, const struct tlsrpt_answer *a);

/*
 * tlsrpt_recv_submit queues a whole body (gzip or JSON) for the writer and
 * returns true: done(ctx, answer) is called later, once, on the writer
 * thread; body and snap (against which the domains are checked) must stay
 * valid until then. false, with the answer in a, when the queue is full
 * (503 with Retry-After) or reception is stopping.
 */
bool tlsrpt_recv_submit(struct tlsrpt_recv *rx, const struct snapshot *snap,
                        const void *body, size_t len, tlsrpt_done_fn *done,
                        void *ctx, struct tlsrpt_answer *a);

/*
 * tlsrpt_recv_metrics appends the per-domain counters of the reports in
 * this replica's databases (see tlsrpt_tally.h) for the domains snap
 * serves; a database that could not be read is named in d.
 */
void tlsrpt_recv_metrics(struct tlsrpt_recv *rx, const struct snapshot *snap,
                         struct buf *b, struct diag *d);

/* tlsrpt_recv_count is how many submissions had outcome o. */
uint64_t tlsrpt_recv_count(const struct tlsrpt_recv *rx, enum tlsrpt_outcome o);

#endif
