/*
 * acme_sched: the ACME thread's decisions in time, for one name at a time:
 * when to order a certificate, when to ask the CA's renewal information
 * (RFC 9773) again, how long to wait after failures, and how fast orders
 * may be placed at all (a token bucket, so that a provider adding hundreds
 * of customers at once stays under the CA's order limits). Pure: the clock
 * and the random numbers come in as arguments, nothing is read or logged;
 * the ACME thread owns the records and calls these functions.
 */
#ifndef MTA_STS_ACME_SCHED_H
#define MTA_STS_ACME_SCHED_H

#include <stdbool.h>
#include <stdint.h>

/* What the thread knows about one name; times are Unix seconds, 0 for
 * "none". */
struct acme_sched_name {
    /* The validity of the certificate ACME gave this name (0/0: none). */
    int64_t not_before, not_after;
    /* The CA's suggested renewal window (RFC 9773 §4.2; 0/0: none known),
     * the time picked inside it and when to fetch it again. */
    int64_t window_start, window_end, renew_at, ari_next;
    /* Failures in a row (of orders, or of the renewal-information fetch)
     * and when the last one ended. */
    unsigned failures;
    int64_t failed_at;
};

enum acme_sched_what {
    ACME_SCHED_ORDER, /* order a certificate (a first one, or a renewal) */
    ACME_SCHED_ARI,   /* fetch the renewal window */
};

struct acme_sched_next {
    enum acme_sched_what what;
    int64_t at;
};

/* The pause after the n-th failure in a row: none for 0, then 1 minute,
 * 10 minutes, 100 minutes, then a day. */
int64_t acme_sched_backoff(unsigned failures);

/* A Retry-After of the renewal-information answer (seconds, or -1 when
 * there was none), held to RFC 9773 §4.3's bounds: at least a minute, at
 * most a day, six hours without one. */
int64_t acme_sched_ari_retry(int64_t retry_after);

/*
 * acme_sched_set_window records a suggested window [start, end) for n and
 * picks the renewal time inside it (uniformly, from rnd) when the window is
 * new or moved; the same window keeps the time picked before, so asking
 * again does not move the renewal. Returns 1 when a time was picked, 0 for
 * the window already known, -1 (nothing recorded) for one that ends at or
 * before its start, which RFC 9773 §4.2 says to treat as no answer.
 */
int acme_sched_set_window(struct acme_sched_name *n, int64_t start, int64_t end,
                          uint64_t rnd);

/*
 * acme_sched_next says what to do next for n and when (never before now):
 * without a certificate (or with an expired one), order, after the back-off
 * of its failures; with one and a CA that offers renewal information
 * (ari), order at the time picked in the window, or fetch the window when
 * none is known or it is due again, whichever comes first; without
 * renewal information (or while none could be had), order when a third of
 * the lifetime is left.
 */
struct acme_sched_next acme_sched_next(const struct acme_sched_name *n,
                                       bool ari, int64_t now);

/* The order pace: a token bucket of burst orders, refilled at per_hour. */
struct acme_pace {
    int64_t credit; /* in 1/3600 of an order */
    int64_t at;     /* when credit was last brought up to date */
    unsigned burst, per_hour;
};

/* acme_pace_init fills the bucket (burst >= 1, per_hour >= 1). */
void acme_pace_init(struct acme_pace *p, unsigned burst, unsigned per_hour,
                    int64_t now);

/* acme_pace_when returns the earliest time, now or later, at which an
 * order may be placed. */
int64_t acme_pace_when(const struct acme_pace *p, int64_t now);

/* acme_pace_take spends one order at now; returns -1 (and spends nothing)
 * when the bucket is empty at now. */
int acme_pace_take(struct acme_pace *p, int64_t now);

#endif
