/*
 * tlsrpt_parse: SMTP TLS reports (RFC 8460 §4) from bytes to a struct. It
 * tells gzip by its magic bytes (senders mislabel the Content-Type),
 * inflates it with zlib into a capped buffer (a size cap and a ratio cap,
 * so a gzip bomb costs no memory beyond the cap), parses the JSON with
 * jansson and checks it against the report schema: strict where it matters
 * (required fields, counts that are integers from 0 to TLSRPT_COUNT_MAX, a
 * valid policy-domain), lenient where real senders are odd (timestamps
 * without a time zone, mx-host as a string or an array per erratum 6241,
 * failure entries without or with an empty or invalid sending-mta-ip or
 * receiving-mx-hostname, which are dropped with a warning, unknown
 * result-types, null for an optional field, extra fields). Errors say what was
 * expected and what was found, with the JSON path, and line:col for syntax
 * errors. It also renders a report back as canonical JSON. It does not store,
 * log or look at HTTP. Pure: no I/O, no logging, no globals; safe from any
 * thread.
 */
#ifndef MTA_STS_TLSRPT_PARSE_H
#define MTA_STS_TLSRPT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "diag.h"

/* Defaults of struct tlsrpt_limits. The JSON cap bounds what a report may
 * cost in memory; the ratio cap refuses small inputs that would expand to
 * it (real reports compress 5 to 30 times), but never an output below
 * TLSRPT_RATIO_FLOOR. */
#define TLSRPT_JSON_MAX (32u * 1024 * 1024)
#define TLSRPT_RATIO_MAX 100u
#define TLSRPT_RATIO_FLOOR (1024u * 1024)

/*
 * The most sessions one count of a report may say, and the most the
 * failure-details of one policy may add up to: 2^40 (about 1.1e12) is ten
 * thousand times the daily mail of the largest senders, yet a million such
 * reports still sum within 63 bits, so no sum over stored reports can
 * overflow. A report above it is refused, not clamped: its numbers are not
 * real.
 */
#define TLSRPT_COUNT_MAX (INT64_C(1) << 40)

/* The longest result-type kept as it is; longer or non-printable unknown
 * ones are kept as "other". */
#define TLSRPT_TYPE_MAX 64

/* RFC 8460 §4.3's result types, in its order. */
#define TLSRPT_N_RESULT_TYPES 11
extern const char *const tlsrpt_result_types[TLSRPT_N_RESULT_TYPES];

struct tlsrpt_limits {
    size_t max_json;    /* most bytes of JSON, inflated or not */
    unsigned max_ratio; /* most inflated bytes per compressed byte */
};

/* One failure-details entry (§4.3). Optional strings are NULL when absent,
 * null or empty. */
struct tlsrpt_failure {
    /* required, e.g. "certificate-expired"; an unknown one is kept when it
     * is printable ASCII of at most TLSRPT_TYPE_MAX bytes, else "other" */
    char *result_type;
    char *sending_mta_ip;        /* an IPv4 or IPv6 address, else NULL */
    char *receiving_mx_hostname; /* a host name, normalised, else NULL */
    char *receiving_mx_helo;
    char *receiving_ip;
    int64_t failed_session_count; /* required, 0 to TLSRPT_COUNT_MAX */
    char *additional_information;
    char *failure_reason_code;
};

/* One policies[] entry: the policy, its summary and its failures. */
struct tlsrpt_policy {
    char *policy_type;   /* required: "sts", "tlsa", "no-policy-found" */
    char *policy_domain; /* required, normalised (lower case, no dot) */
    char **policy_string;
    size_t n_policy_string;
    char **mx_host; /* a string is taken as a one-element array */
    size_t n_mx_host;
    /* total-successful- and total-failure-session-count, 0 to
     * TLSRPT_COUNT_MAX; the failure-details add up to at most
     * TLSRPT_COUNT_MAX too, but need not match failed (RFC 8460 does not
     * ask it, and senders count them apart). */
    int64_t successful;
    int64_t failed;
    struct tlsrpt_failure *failures;
    size_t n_failures;
};

struct tlsrpt_report {
    char *organization_name; /* required, non-empty */
    char *contact_info;      /* required (may be empty) */
    char *report_id;         /* required, non-empty */
    int64_t start, end;      /* date-range, seconds since the epoch, UTC */
    struct tlsrpt_policy *policies; /* at least one */
    size_t n_policies;
    /* Sums over the policies, checked against overflow at parse time. */
    int64_t total_successful, total_failed;
};

/* tlsrpt_limits_default fills in the defaults above. */
void tlsrpt_limits_default(struct tlsrpt_limits *lim);

/* tlsrpt_is_gzip tells whether data starts with the gzip magic bytes. */
bool tlsrpt_is_gzip(const void *data, size_t len);

/*
 * tlsrpt_inflate decompresses the gzip stream data[0..len) (several members
 * in a row are one stream, as gzip(1) makes them) into out, which it
 * initialises. It stops as soon as the output would pass lim's size or ratio
 * cap, so memory never grows beyond the cap. Returns 0; -2 when the
 * output would pass a cap (a gzip bomb, or a report too large) and -1 when
 * the data is not a good gzip stream, both with the reason in d (out is
 * freed then).
 */
int tlsrpt_inflate(const void *data, size_t len,
                   const struct tlsrpt_limits *lim, struct buf *out,
                   struct diag *d);

/*
 * tlsrpt_deflate compresses data[0..len) as one gzip member into out, which
 * it initialises with a cap of max bytes: how a report that came as JSON is
 * kept. Returns 0, or -1 (out freed) when zlib fails or out would pass max.
 */
int tlsrpt_deflate(const void *data, size_t len, size_t max, struct buf *out);

/*
 * tlsrpt_parse takes a report as received: gzip (by its magic bytes) or
 * JSON. Returns a new report, or NULL with errors in d. Warnings (a
 * timestamp without a time zone, an unknown policy-type) do not fail it.
 * lim may be NULL for the defaults.
 */
struct tlsrpt_report *tlsrpt_parse(const void *data, size_t len,
                                   const struct tlsrpt_limits *lim,
                                   struct diag *d);

/* tlsrpt_parse_json is tlsrpt_parse for JSON text only. */
struct tlsrpt_report *tlsrpt_parse_json(const char *json, size_t len,
                                        struct diag *d);

/* tlsrpt_report_free releases a report; NULL is a no-op. */
void tlsrpt_report_free(struct tlsrpt_report *r);

/*
 * tlsrpt_report_json appends the report to b as canonical RFC 8460 JSON:
 * the fields it holds, timestamps as UTC "YYYY-MM-DDTHH:MM:SSZ", mx-host
 * always an array, absent optional fields left out. Parsing that output
 * gives an equal report. Returns 0, or -1 when b refused the bytes.
 */
int tlsrpt_report_json(const struct tlsrpt_report *r, struct buf *b);

/* tlsrpt_report_equal tells whether two reports hold the same data. */
bool tlsrpt_report_equal(const struct tlsrpt_report *a,
                         const struct tlsrpt_report *b);

/*
 * tlsrpt_format_time writes t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least
 * 21 bytes). Returns out.
 */
const char *tlsrpt_format_time(int64_t t, char *out, size_t outlen);

/*
 * tlsrpt_parse_time reads an RFC 3339 date-time (with 'T', 't' or ' '
 * between date and time, optional fractional seconds, which are dropped)
 * into seconds since the epoch. A missing time zone is taken as UTC and
 * sets *no_tz. Returns 0, or -1 when s is not such a date-time.
 */
int tlsrpt_parse_time(const char *s, int64_t *t, bool *no_tz);

#endif
