/*
 * acme_sched: when the ACME thread acts for a name (order, or ask for the
 * renewal window), the back-off after failures, and the pace of orders.
 * Pure: no clock, no random source, no I/O of its own; the ACME thread
 * passes them in and keeps the records. Any thread.
 */
#include "acme_sched.h"

#define MINUTE 60
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

static int64_t later(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

int64_t acme_sched_backoff(unsigned failures)
{
    static const int64_t steps[] = {0, MINUTE, 10 * MINUTE, 100 * MINUTE};
    if (failures < sizeof(steps) / sizeof(steps[0]))
        return steps[failures];
    return DAY;
}

int64_t acme_sched_ari_retry(int64_t retry_after)
{
    /* RFC 9773 §4.3: under a minute counts as a minute, over a day as a
     * day. A missing or unreadable Retry-After is the server's fault, not
     * a reason to ask every minute. */
    if (retry_after < 0)
        return 6 * HOUR;
    if (retry_after < MINUTE)
        return MINUTE;
    if (retry_after > DAY)
        return DAY;
    return retry_after;
}

int acme_sched_set_window(struct acme_sched_name *n, int64_t start, int64_t end,
                          uint64_t rnd)
{
    if (end <= start)
        return -1;
    if (n->window_start == start && n->window_end == end)
        return 0;
    n->window_start = start;
    n->window_end = end;
    uint64_t span = (uint64_t)(end - start);
    n->renew_at = start + (int64_t)(rnd % span);
    return 1;
}

struct acme_sched_next acme_sched_next(const struct acme_sched_name *n,
                                       bool ari, int64_t now)
{
    int64_t not_before = now;
    if (n->failures > 0)
        not_before = later(now, n->failed_at + acme_sched_backoff(n->failures));
    struct acme_sched_next next = {ACME_SCHED_ORDER, not_before};

    /* No certificate, or one past its end: nothing to wait for. */
    if (n->not_after == 0 || n->not_after <= now)
        return next;

    /* A third of the lifetime left; for a 90-day certificate, day 60. */
    int64_t life = n->not_after - n->not_before;
    int64_t fallback = later(not_before, n->not_after - life / 3);
    if (!ari) {
        next.at = fallback;
        return next;
    }
    if (n->renew_at == 0) {
        /* No window yet: ask for one (right after issuance, RFC 9773 §4.3),
         * or again when the last answer said so; but a CA that does not
         * answer does not get to hold the renewal past the fallback. */
        int64_t ask = later(not_before, n->ari_next);
        if (fallback <= ask) {
            next.at = fallback;
        } else {
            next.what = ACME_SCHED_ARI;
            next.at = ask;
        }
        return next;
    }
    /* A window is known: renew at the time picked in it, unless the
     * window is due to be asked again before that (it may have moved, for
     * instance into the past before a revocation). A time in the past
     * means now (§4.2). */
    next.at = later(not_before, n->renew_at);
    if (n->ari_next < n->renew_at) {
        next.what = ACME_SCHED_ARI;
        next.at = later(not_before, n->ari_next);
    }
    return next;
}

/* The bucket counts in 1/3600 of an order: a second at per_hour orders an
 * hour adds exactly per_hour units, so no rounding ever drifts. */
void acme_pace_init(struct acme_pace *p, unsigned burst, unsigned per_hour,
                    int64_t now)
{
    p->burst = burst;
    p->per_hour = per_hour;
    p->credit = (int64_t)burst * HOUR;
    p->at = now;
}

/* credit_at is the bucket's level at now (never above the burst). */
static int64_t credit_at(const struct acme_pace *p, int64_t now)
{
    int64_t c = p->credit, full = (int64_t)p->burst * HOUR;
    if (now > p->at) {
        int64_t secs = now - p->at;
        /* Past a full refill the exact time no longer matters (and the
         * product below cannot overflow). */
        if (secs >= full)
            return full;
        c += secs * p->per_hour;
    }
    return c > full ? full : c;
}

int64_t acme_pace_when(const struct acme_pace *p, int64_t now)
{
    if (credit_at(p, now) >= HOUR)
        return now;
    /* Counted from the last take when the clock stepped back since, so
     * that the time said is one at which acme_pace_take succeeds; whole
     * seconds, rounded up. */
    int64_t from = later(now, p->at);
    int64_t missing = HOUR - credit_at(p, from);
    return from + (missing + p->per_hour - 1) / p->per_hour;
}

int acme_pace_take(struct acme_pace *p, int64_t now)
{
    int64_t c = credit_at(p, now);
    if (c < HOUR)
        return -1;
    p->credit = c - HOUR;
    p->at = later(p->at, now);
    return 0;
}
