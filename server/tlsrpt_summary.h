/*
 * tlsrpt_summary: what the stored TLS reports say, for `mta-sts-host
 * reports`: per domain, the sessions that succeeded and failed per day,
 * by sending organisation and by failure type, the receiving MX hosts and
 * sending addresses that failed most, and a verdict for the policy ("no
 * failures in 21 days of reports: ready for enforce"). It reads every
 * report database in the state directory (tlsrpt-*.sqlite3: one per
 * replica, and the mail imports) read-only, and counts a report that
 * several of them hold once (by organization-name and report-id). Text or
 * JSON. I/O (reads the databases); main thread.
 */
#ifndef MTA_STS_TLSRPT_SUMMARY_H
#define MTA_STS_TLSRPT_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "diag.h"

struct tlsrpt_summary_opts {
    const char *domain; /* only this policy-domain; NULL = all */
    int64_t since;      /* reports whose range ends at or after; 0 = all */
    bool json;
    unsigned top; /* rows in the "failed most" lists; 0 = 5 */
};

/*
 * tlsrpt_summary renders the summary of the databases in state_dir into
 * out. Returns the number of reports summarised, or -1 with the reason in
 * d (a database that cannot be read is an error naming it).
 */
int64_t tlsrpt_summary(const char *state_dir,
                       const struct tlsrpt_summary_opts *o, struct buf *out,
                       struct diag *d);

/* What the stored reports say about one policy-domain, for `advise`. */
struct tlsrpt_facts {
    int64_t reports;            /* distinct reports */
    int64_t first, last;        /* earliest start, latest end (0: none) */
    int64_t successful, failed; /* sessions */
    char worst[512];            /* "mx fails type for N senders", or "" */
};

/*
 * tlsrpt_summary_facts reads the same databases as tlsrpt_summary for
 * domain only (reports ending at or after since; 0 = all) into f. Returns
 * 0, or -1 with the reason in d.
 */
int tlsrpt_summary_facts(const char *state_dir, const char *domain,
                         int64_t since, struct tlsrpt_facts *f, struct diag *d);

#endif
