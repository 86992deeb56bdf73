/*
 * check_dns: the DNS lookups of `check`, through libunbound (a validating
 * resolver library): TXT records (CNAMEs followed by the library, the
 * final name reported, RFC 8461 §3.1 and §8.2), MX hosts and A/AAAA
 * addresses, each answer with its DNSSEC status (secure, insecure, bogus).
 * It asks the system's resolvers (/etc/resolv.conf), or the one server
 * given (`--resolver ADDR[:PORT]`, a forwarder, loopback allowed), and
 * validates with a trust anchor file (the given one, else Debian's
 * /usr/share/dns/root.key when it exists; with "none" or without one
 * every answer is insecure). It does not judge the records (check_parse does)
 * and prints nothing. Every lookup is bounded: by CHECK_DNS_TIMEOUT_MS, by
 * the caller's deadline (check_dns_set_deadline) and by its stop flag
 * (check_dns_set_stop). Blocking; one context belongs to one thread (main
 * in `check`, each check thread of `serve`).
 */
#ifndef MTA_STS_CHECK_DNS_H
#define MTA_STS_CHECK_DNS_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "check_parse.h"
#include "clock.h"

#define CHECK_DNS_ROOT_KEY "/usr/share/dns/root.key"

/* One lookup waits at most this long (a resolver that never answers). */
#define CHECK_DNS_TIMEOUT_MS 10000

/* What bounds a lookup, probe or fetch besides its own cap: the caller's
 * deadline (mono_ms time; 0: none) and a stop flag (NULL: none) that
 * ends it within a fraction of a second once true (a shutdown). */
struct check_bound {
    int64_t deadline_ms;
    const atomic_bool *stop;
};

/* check_bound_end is the end of a step of at most cap_ms begun at now: the
 * earlier of now + cap_ms and b's deadline (b may be NULL). */
int64_t check_bound_end(const struct check_bound *b, int64_t now,
                        int64_t cap_ms);

/* check_bound_stopped tells whether b (may be NULL) says stop. */
bool check_bound_stopped(const struct check_bound *b);

enum check_dnssec {
    CHECK_DNSSEC_INSECURE,
    CHECK_DNSSEC_SECURE,
    CHECK_DNSSEC_BOGUS,
};

/* check_dnssec_name returns "insecure", "secure" or "bogus". */
const char *check_dnssec_name(enum check_dnssec s);

enum check_rrtype {
    CHECK_RR_A = 1,
    CHECK_RR_MX = 15,
    CHECK_RR_TXT = 16,
    CHECK_RR_AAAA = 28,
};

/* One record of an answer: TXT text (joined), MX host (pref set), or an
 * address in text form. */
struct check_rr {
    char *text;
    size_t len;
    unsigned pref;
};

struct check_answer {
    char canon[CHECK_NAME_MAX]; /* the name after CNAMEs; "" when none */
    bool nxdomain;
    unsigned long ttl; /* of the records (the resolver's, as cached) */
    enum check_dnssec dnssec;
    char why_bogus[CHECK_ERR_MAX];
    struct check_rr *rr;
    size_t n;
};

struct check_dns;

/*
 * check_dns_new makes a resolver context. resolver (may be NULL: the
 * system's) is ADDR, ADDR:PORT or [IPv6]:PORT; trust_anchor (may be NULL)
 * a file of DS or DNSKEY records, or "none" for no validation (NULL:
 * CHECK_DNS_ROOT_KEY when readable). Returns NULL with the reason in err.
 */
struct check_dns *check_dns_new(const char *resolver, const char *trust_anchor,
                                char *err, size_t errlen);

/* check_dns_set_deadline bounds the lookups from now on by deadline_ms
 * (mono_ms time) besides CHECK_DNS_TIMEOUT_MS each; 0: no deadline. */
void check_dns_set_deadline(struct check_dns *dns, int64_t deadline_ms);

/* check_dns_set_stop gives a flag (may be NULL: none) that, once true, ends
 * a lookup in progress within a fraction of a second (a shutdown). */
void check_dns_set_stop(struct check_dns *dns, const atomic_bool *stop);

/* check_dns_free releases the context; NULL is a no-op. */
void check_dns_free(struct check_dns *dns);

/*
 * check_dns_lookup resolves name (no trailing dot needed) for type into
 * out. Returns 0 when DNS answered: records (n > 0), none (NXDOMAIN or no
 * data), or a bogus answer (dnssec BOGUS, no records, why_bogus set); -1
 * with the reason in err when it did not (no answer before the deadline:
 * "timed out", stopped, SERVFAIL, REFUSED, a record that does not decode).
 * Release out with check_answer_free, also after -1.
 */
int check_dns_lookup(struct check_dns *dns, const char *name,
                     enum check_rrtype type, struct check_answer *out,
                     char *err, size_t errlen);

/* check_answer_free releases the records; a zeroed answer is a no-op. */
void check_answer_free(struct check_answer *a);

#endif
