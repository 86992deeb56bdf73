/*
 * tlsrpt_tally: the report counters of /metrics, counted from what this
 * replica's databases hold: the server's own (tlsrpt-<instance>.sqlite3)
 * and the one `reports import` writes for the same instance
 * (tlsrpt-<instance>-mail.sqlite3, or tlsrpt-mail.sqlite3), a report in
 * both counted once. Per policy domain: reports, sessions by result and
 * failed sessions by RFC 8460 result type (anything else is "other").
 * Counting is incremental: a refresh reads, in one read transaction over
 * both files, only the reports added since the previous one (by row id),
 * so a scrape costs what arrived since the last scrape. At start
 * everything stored is counted, so the counters are the same across a
 * restart; reports deleted by retention stay counted until the next one.
 * It does not write and does not speak HTTP. I/O (SQLite reads on a
 * read-only connection of its own); any thread, one at a time (it locks).
 */
#ifndef MTA_STS_TLSRPT_TALLY_H
#define MTA_STS_TLSRPT_TALLY_H

#include <stdbool.h>

#include "buf.h"
#include "diag.h"

struct tlsrpt_tally;

/*
 * tlsrpt_tally_open opens db (which must exist) read-only; mail is the
 * import database, attached once it exists. Returns NULL with the reason
 * in d.
 */
struct tlsrpt_tally *tlsrpt_tally_open(const char *db, const char *mail,
                                       struct diag *d);

/* tlsrpt_tally_free closes it; NULL is a no-op. */
void tlsrpt_tally_free(struct tlsrpt_tally *t);

/* tlsrpt_tally_keep_fn says whether a domain is to be listed. */
typedef bool tlsrpt_tally_keep_fn(const char *domain, const void *arg);

/*
 * tlsrpt_tally_metrics counts what was added since the last call and
 * appends, in Prometheus text format, mta_sts_tlsrpt_reports_total
 * {domain}, mta_sts_tlsrpt_sessions_total{domain,result} and
 * mta_sts_tlsrpt_failures_total{domain,type} for the domains keep(domain,
 * arg) takes (the caller's served ones: so the labels are bounded by the
 * domains served and the fixed types). A database that cannot be read is
 * counted at the next call; the error goes into d.
 */
void tlsrpt_tally_metrics(struct tlsrpt_tally *t, tlsrpt_tally_keep_fn *keep,
                          const void *arg, struct buf *b, struct diag *d);

#endif
