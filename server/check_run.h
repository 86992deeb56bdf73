/*
 * check_run: the checks of `mta-sts-host check` for one domain, doing what
 * a sending MTA does against live DNS and comparing it with what this host
 * serves: the `_mta-sts` TXT record set and its id against the served id
 * (with a provider zone: delegated into it), `mta-sts.<domain>` resolving (and
 * pointing at --target), the policy fetched over HTTPS as a sender fetches it
 * (and whether it is the served one), the `_smtp._tls` record, the MX hosts
 * against the policy's mx patterns, an address for each MX host, and STARTTLS
 * with a valid certificate on each MX address. Each check gives one result (ok,
 * warn or fail), with the exact record or edit that fixes a problem; the report
 * renders as lines or JSON. It asks check_dns, judges with check_parse and
 * prints nothing itself. Main thread (`check`) or a check thread of
 * `serve` (check_serve).
 */
#ifndef MTA_STS_CHECK_RUN_H
#define MTA_STS_CHECK_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "check_dns.h"
#include "check_smtp.h"

enum check_level { CHECK_OK, CHECK_WARN, CHECK_FAIL };

/* check_level_name returns "ok", "warn" or "fail". */
const char *check_level_name(enum check_level l);

#define CHECK_TEXT_MAX 1024

struct check_result {
    enum check_level level;
    const char *check; /* "sts-txt", "sts-id", "tlsrpt", "mx", ... */
    char domain[CHECK_NAME_MAX];
    char what[CHECK_TEXT_MAX];
    char fix[CHECK_TEXT_MAX]; /* "" when there is nothing to fix */
    const char *dnssec;       /* NULL when no answer was judged */
};

struct check_report {
    struct check_result *r;
    size_t n, cap;
    size_t counts[3]; /* per enum check_level */
};

/* What this host serves for a domain; id NULL when it serves nothing. */
struct check_served {
    const char *domain;
    const char *id;
    const char *const *mx; /* the policy's mx patterns */
    size_t n_mx;
    const char *source;     /* the policy file, for the fixes */
    const char *const *rua; /* configured TLS-RPT URIs, for the fixes */
    size_t n_rua;
    const char *served; /* the policy bytes as served (with id) */
    size_t served_len;
};

/* How to reach the policy host: the HTTPS port (443 for senders) and a CA
 * file trusted besides the system store (NULL: none). */
struct check_opts {
    unsigned https_port;
    unsigned smtp_port;  /* 25 for senders; 0: no SMTP probe */
    const char *ca_file; /* for the policy fetch */
    /* The trust of the MX probes (the system's plus ca_file), loaded once
     * by the caller; needed when smtp_port is not 0. */
    const struct check_smtp_tls *tls;
    /* The host mta-sts.<domain> must point at (normalised), or NULL: it
     * must only resolve. */
    const char *target;
    /* The provider zone `_mta-sts.<domain>` must be a CNAME into
     * (`_mta-sts.<domain>.<zone>`, RFC 8461 §8.2), or NULL. */
    const char *delegate_zone;
    /* The time budget of the domain: its deadline bounds every lookup,
     * fetch and probe in progress too, not only the steps still to come;
     * once it has passed the remaining steps are skipped and one "time"
     * result says so. Its stop flag ends the step in progress and skips
     * the rest the same way (a shutdown of `serve`). */
    struct check_bound bound;
};

/*
 * check_domain runs every check for sv->domain and appends the results to
 * rep. Every step ends by o->deadline_ms, so a domain takes at most its
 * budget (a lookup or probe cut short by it fails with "timed out").
 * Returns 0, or -1 when memory runs out.
 */
int check_domain(struct check_dns *dns, const struct check_opts *o,
                 const struct check_served *sv, struct check_report *rep);

#define CHECK_FACTS_MX 64

/* What `advise` plans with, read from live DNS as check reads it. */
struct check_facts {
    enum check_rec_status sts; /* the _mta-sts record set */
    char sts_id[POLICY_ID_MAX + 1];
    char sts_at[CHECK_NAME_MAX + 16]; /* where it was found (after CNAMEs) */
    unsigned long sts_ttl;
    struct check_facts_mx {
        char host[CHECK_NAME_MAX];
        unsigned pref;
    } mx[CHECK_FACTS_MX]; /* in preference order */
    size_t n_mx;
    unsigned long mx_ttl;
};

/*
 * check_facts reads the `_mta-sts` record set and the MX set of domain
 * into f. A lookup that fails (or is bogus) adds its result to rep, as in
 * check_domain; f then says none. The lookups end by the deadline set on
 * dns (check_dns_set_deadline). Returns 0, or -1 when memory runs out.
 */
int check_facts(struct check_dns *dns, const char *domain,
                struct check_facts *f, struct check_report *rep);

/* check_report_text appends one line per result:
 * `ok|warn|fail <check> <domain>: <what>[ fix: <fix>]`. */
int check_report_text(const struct check_report *rep, struct buf *b);

/* check_report_json appends {"results":[{"domain","check","status",
 * "message","fix","dnssec"}...],"ok":N,"warn":N,"fail":N}. */
int check_report_json(const struct check_report *rep, struct buf *b);

/* check_report_free releases the results; a zeroed report is a no-op. */
void check_report_free(struct check_report *rep);

#endif
