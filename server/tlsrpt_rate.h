/*
 * tlsrpt_rate: a rate limit per client address for TLS report submissions:
 * a token bucket per address (IPv4 address, IPv6 /64), refilled at
 * per_minute tokens a minute and holding at most per_minute, so a sender
 * may burst its daily batch and then keeps to the rate. The table has a
 * fixed number of entries (4-way sets, the least recently used one
 * evicted), so its memory does not grow with the number of clients; the
 * set is picked by a keyed hash, so a client cannot aim at another's
 * entry. Pure: the caller passes the time; no I/O, no globals, no locks
 * (the caller serialises).
 */
#ifndef MTA_STS_TLSRPT_RATE_H
#define MTA_STS_TLSRPT_RATE_H

#include <stdbool.h>
#include <stdint.h>

#define TLSRPT_RATE_ENTRIES 8192

struct tlsrpt_rate;

/* tlsrpt_rate_new makes a limiter of per_minute submissions a minute per
 * address (0 = no limit), hashing with seed. NULL when out of memory. */
struct tlsrpt_rate *tlsrpt_rate_new(unsigned per_minute, uint64_t seed);

/* tlsrpt_rate_free releases it; NULL is a no-op. */
void tlsrpt_rate_free(struct tlsrpt_rate *r);

/*
 * tlsrpt_rate_allow takes one token from the bucket of addr (an IP address
 * in text; anything else is keyed by its text) at now_ms, a monotonic
 * clock in milliseconds. Returns false when the bucket is empty.
 */
bool tlsrpt_rate_allow(struct tlsrpt_rate *r, const char *addr, int64_t now_ms);

#endif
