/*
 * check_fetch: fetch a domain's policy the way a sending MTA does (RFC 8461
 * §3.3), with libcurl (GnuTLS build): GET https://mta-sts.<domain>/.well-
 * known/mta-sts.txt with full certificate verification against the system
 * trust store (plus an extra CA file, for a private or test CA), SNI and
 * Host of mta-sts.<domain>, no redirects, a 64 KiB cap on the body and a
 * short timeout. The connection goes to an address the caller looked up
 * (so the fetch sees the same DNS as the other checks) and port. It does
 * not parse the policy (policy does) and prints nothing. Blocking; main
 * thread (`check`) or a check thread of `serve`.
 */
#ifndef MTA_STS_CHECK_FETCH_H
#define MTA_STS_CHECK_FETCH_H

#include <stddef.h>

#include "check_dns.h"

#define CHECK_FETCH_TIMEOUT_MS 10000L

struct check_fetched {
    long status;            /* HTTP status; 0 when there was no answer */
    char content_type[128]; /* as sent, "" when none */
    char *body;             /* NUL-terminated; at most POLICY_MAX_SIZE */
    size_t len;
};

/*
 * check_fetch_policy fetches the policy of domain from addr (a numeric
 * IPv4 or IPv6 address) on port (443 for senders). ca_file (may be NULL)
 * is trusted besides the system store. The fetch ends by the earlier of
 * CHECK_FETCH_TIMEOUT_MS and b's deadline, and once b's stop flag is set
 * (b may be NULL). Returns 0 when an HTTP answer came
 * (any status; out filled), or -1 with the reason in err (no connection,
 * TLS or certificate failure, timeout, a body over the cap). Release out
 * with check_fetched_free, also after -1.
 */
int check_fetch_policy(const char *domain, const char *addr, unsigned port,
                       const char *ca_file, const struct check_bound *b,
                       struct check_fetched *out, char *err, size_t errlen);

/* check_fetch_init sets libcurl up, once, before threads fetch: its lazy
 * set-up in the first transfer is not safe when two threads start at
 * once. Returns 0, or -1 when libcurl cannot be initialised.
 * check_fetch_cleanup undoes it once they are done. */
int check_fetch_init(void);
void check_fetch_cleanup(void);

/* check_fetched_free releases the body; a zeroed one is a no-op. */
void check_fetched_free(struct check_fetched *f);

#endif
