/*
 * dnsrec: render the DNS records a domain must publish: the `_mta-sts` TXT
 * record carrying the policy id (RFC 8461 §3.1), the `_smtp._tls` TXT record
 * with TLS-RPT rua URIs (RFC 8460 §3), and the `mta-sts.<domain>` CNAME hint
 * pointing at this host; with a provider zone (RFC 8461 §8.2 delegation),
 * the customer's `_mta-sts` CNAME into that zone and the TXT record the
 * provider publishes there instead. As zone-file lines or JSON. Pure:
 * output goes to a struct buf.
 */
#ifndef MTA_STS_DNSREC_H
#define MTA_STS_DNSREC_H

#include <stddef.h>

#include "buf.h"

struct dnsrec_domain {
    const char *domain;    /* e.g. "example.com" */
    const char *policy_id; /* the id of the policy served for it */
};

struct dnsrec_input {
    const struct dnsrec_domain *domains;
    size_t n_domains;
    const char *const *rua; /* validated TLS-RPT URIs; may be empty */
    size_t n_rua;
    const char *cname_target; /* host to CNAME mta-sts.<d> to, or NULL */
    /* Where this host receives TLS reports ("/tlsrpt"), or NULL: then
     * https://mta-sts.<d><path> follows the rua URIs. */
    const char *report_path;
    /* The provider zone the `_mta-sts` records are delegated to (RFC 8461
     * §8.2), or NULL: the customer publishes `_mta-sts.<d>. CNAME
     * _mta-sts.<d>.<zone>.` and the provider the TXT record there. */
    const char *delegate_zone;
};

/* dnsrec_sts_txt renders `_mta-sts.<d>. IN TXT "v=STSv1; id=<id>"`. */
int dnsrec_sts_txt(struct buf *b, const char *domain, const char *id);

/* dnsrec_zone appends zone-file lines for every domain to b. */
int dnsrec_zone(struct buf *b, const struct dnsrec_input *in);

/* dnsrec_json appends a JSON document describing the same records. */
int dnsrec_json(struct buf *b, const struct dnsrec_input *in);

#endif
