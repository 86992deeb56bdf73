/*
 * tlsrpt_parse: SMTP TLS reports from bytes to a struct (see
 * tlsrpt_parse.h): gzip by zlib into a capped buffer, JSON by jansson, the
 * RFC 8460 §4 schema checked here with the JSON path in every message.
 * Pure: no I/O, no logging, no globals.
 */
#include "tlsrpt_parse.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dnsname.h"
#include "jsonget.h"

#define CHUNK 16384

/* The latest instant a four-digit year can name, 9999-12-31T23:59:60Z. */
#define TIME_MAX INT64_C(253402300800)

void tlsrpt_limits_default(struct tlsrpt_limits *lim)
{
    lim->max_json = TLSRPT_JSON_MAX;
    lim->max_ratio = TLSRPT_RATIO_MAX;
}

bool tlsrpt_is_gzip(const void *data, size_t len)
{
    const unsigned char *p = data;
    return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* feed hands zlib the next piece of input once it used up the last one:
 * avail_in is a uInt, and a buffer may in theory be longer. */
static void feed(z_stream *zs, const unsigned char **in, size_t *left)
{
    if (zs->avail_in > 0 || *left == 0)
        return;
    uInt n = *left > UINT32_MAX ? UINT32_MAX : (uInt)*left;
    zs->next_in = (unsigned char *)*in;
    zs->avail_in = n;
    *in += n;
    *left -= n;
}

/* inflate_cap is the most bytes len compressed bytes may inflate to. */
static size_t inflate_cap(size_t len, const struct tlsrpt_limits *lim)
{
    size_t by_ratio = SIZE_MAX;
    if (lim->max_ratio > 0 && len <= SIZE_MAX / lim->max_ratio)
        by_ratio = len * lim->max_ratio;
    if (by_ratio < TLSRPT_RATIO_FLOOR)
        by_ratio = TLSRPT_RATIO_FLOOR;
    return by_ratio < lim->max_json ? by_ratio : lim->max_json;
}

int tlsrpt_inflate(const void *data, size_t len,
                   const struct tlsrpt_limits *lim, struct buf *out,
                   struct diag *d)
{
    unsigned char chunk[CHUNK];
    z_stream zs;
    int rc = -1;
    bool started = false;
    size_t cap = inflate_cap(len, lim);
    const unsigned char *in = data;
    size_t left = len;

    buf_init(out, cap);
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        diag_add(d, DIAG_ERROR, 0, 0, "gzip: cannot start zlib: %s",
                 zs.msg != NULL ? zs.msg : "out of memory");
        goto out;
    }
    started = true;
    for (;;) {
        feed(&zs, &in, &left);
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        int zrc = inflate(&zs, Z_NO_FLUSH);
        size_t produced = sizeof(chunk) - zs.avail_out;
        if (produced > 0 && buf_append(out, chunk, produced) < 0) {
            if (out->len + produced > out->max) {
                rc = -2;
                diag_add(d, DIAG_ERROR, 0, 0,
                         "gzip: expected at most %zu bytes inflated from "
                         "%zu compressed (size cap %zu, ratio cap %u), "
                         "found more",
                         cap, len, lim->max_json, lim->max_ratio);
            } else {
                diag_add(d, DIAG_ERROR, 0, 0, "gzip: out of memory inflating");
            }
            goto out;
        }
        if (zrc == Z_STREAM_END) {
            if (zs.avail_in == 0 && left == 0)
                break;
            /* gzip(1) concatenates members; anything else is garbage. */
            if (!tlsrpt_is_gzip(zs.next_in, zs.avail_in)) {
                diag_add(d, DIAG_ERROR, 0, 0,
                         "gzip: expected the end of the data or another "
                         "gzip member after byte %lu, found other bytes",
                         zs.total_in);
                goto out;
            }
            if (inflateReset(&zs) != Z_OK) {
                diag_add(d, DIAG_ERROR, 0, 0, "gzip: cannot reset zlib");
                goto out;
            }
            continue;
        }
        if (zrc == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) {
            diag_add(d, DIAG_ERROR, 0, 0,
                     "gzip: expected more data, found the end after %zu "
                     "bytes (truncated)",
                     len);
            goto out;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            diag_add(d, DIAG_ERROR, 0, 0, "gzip: %s",
                     zs.msg != NULL ? zs.msg : "corrupt data");
            goto out;
        }
    }
    rc = 0;
out:
    if (started)
        inflateEnd(&zs);
    if (rc != 0)
        buf_free(out);
    return rc;
}

int tlsrpt_deflate(const void *data, size_t len, size_t max, struct buf *out)
{
    unsigned char chunk[CHUNK];
    z_stream zs;
    int rc = -1, zrc;
    buf_init(out, max);
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    const unsigned char *in = data;
    size_t left = len;
    do {
        feed(&zs, &in, &left);
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        zrc = deflate(&zs, left == 0 ? Z_FINISH : Z_NO_FLUSH);
        if (zrc == Z_STREAM_ERROR ||
            buf_append(out, chunk, sizeof(chunk) - zs.avail_out) < 0)
            goto out;
    } while (zrc != Z_STREAM_END);
    rc = 0;
out:
    deflateEnd(&zs);
    if (rc != 0)
        buf_free(out);
    return rc;
}

/* --- time ---------------------------------------------------------------- */

/* days_from_civil counts days from 1970-01-01 to y-m-d (proleptic
 * Gregorian), after Howard Hinnant's algorithm. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned dd)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *dd)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *dd = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool leap_year(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* digits reads exactly n decimal digits at s into *v. */
static bool digits(const char *s, unsigned n, unsigned *v)
{
    *v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return true;
}

int tlsrpt_parse_time(const char *s, int64_t *t, bool *no_tz)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
    unsigned y, mo, dd, h, mi, sec, oh = 0, om = 0;
    int sign = 0;
    *no_tz = false;
    if (strlen(s) < 19 || !digits(s, 4, &y) || s[4] != '-' ||
        !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &dd) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
        s[16] != ':' || !digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || dd < 1 || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (dd > mdays[mo - 1] + (mo == 2 && leap_year(y) ? 1 : 0))
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return -1;
        p += 6;
    } else if (*p == '\0') {
        *no_tz = true;
    }
    if (*p != '\0')
        return -1;
    int64_t v = days_from_civil(y, mo, dd) * 86400 + h * 3600 + mi * 60 + sec;
    v -= sign * (int64_t)(oh * 3600 + om * 60);
    if (v < 0 || v > TIME_MAX)
        return -1;
    *t = v;
    return 0;
}

const char *tlsrpt_format_time(int64_t t, char *out, size_t outlen)
{
    int64_t y;
    unsigned m, dd;
    int64_t days = t / 86400, rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &dd);
    snprintf(out, outlen, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02uZ", y, m, dd,
             (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
             (unsigned)(rem % 60));
    return out;
}

/* --- schema -------------------------------------------------------------- */

#define fail(d, ...) jsonget_note(d, DIAG_ERROR, __VA_ARGS__)
#define warn(d, ...) jsonget_note(d, DIAG_WARNING, __VA_ARGS__)

/* get_count reads a required session count, from 0 to TLSRPT_COUNT_MAX. */
static int get_count(const json_t *obj, const char *path, const char *key,
                     int64_t *out, struct diag *d)
{
    if (jsonget_count(obj, path, key, out, d) < 0)
        return -1;
    if (*out > TLSRPT_COUNT_MAX) {
        char p[JSONGET_PATH_MAX], f[JSONGET_FOUND_SIZE];
        fail(d, jsonget_join(p, path, key, 0),
             "expected at most %" PRId64 " sessions, found %s",
             TLSRPT_COUNT_MAX,
             jsonget_found(json_object_get(obj, key), f, sizeof(f)));
        return -1;
    }
    return 0;
}

static int get_time(const json_t *obj, const char *path, const char *key,
                    int64_t *t, struct diag *d)
{
    char p[JSONGET_PATH_MAX], q[JSONGET_FOUND_SIZE];
    char *s = NULL;
    bool no_tz;
    int rc = -1;
    if (jsonget_string(obj, path, key, JSONGET_NONEMPTY, &s, d) < 0)
        goto out;
    jsonget_join(p, path, key, 0);
    if (tlsrpt_parse_time(s, t, &no_tz) < 0) {
        fail(d, p,
             "expected an RFC 3339 date-time from 1970 to 9999 "
             "(2016-04-01T00:00:00Z), found \"%s\"",
             diag_quote(s, strlen(s), q, sizeof(q)));
        goto out;
    }
    if (no_tz)
        warn(d, p, "no time zone in \"%s\", taken as UTC",
             diag_quote(s, strlen(s), q, sizeof(q)));
    rc = 0;
out:
    free(s);
    return rc;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void failure_free(struct tlsrpt_failure *f)
{
    free(f->result_type);
    free(f->sending_mta_ip);
    free(f->receiving_mx_hostname);
    free(f->receiving_mx_helo);
    free(f->receiving_ip);
    free(f->additional_information);
    free(f->failure_reason_code);
}

static void policy_free_fields(struct tlsrpt_policy *p)
{
    free(p->policy_type);
    free(p->policy_domain);
    free_strings(p->policy_string, p->n_policy_string);
    free_strings(p->mx_host, p->n_mx_host);
    for (size_t i = 0; i < p->n_failures; i++)
        failure_free(&p->failures[i]);
    free(p->failures);
}

void tlsrpt_report_free(struct tlsrpt_report *r)
{
    if (r == NULL)
        return;
    free(r->organization_name);
    free(r->contact_info);
    free(r->report_id);
    for (size_t i = 0; i < r->n_policies; i++)
        policy_free_fields(&r->policies[i]);
    free(r->policies);
    free(r);
}

const char *const tlsrpt_result_types[TLSRPT_N_RESULT_TYPES] = {
    "starttls-not-supported", "certificate-host-mismatch",
    "certificate-expired",    "certificate-not-trusted",
    "validation-failure",     "tlsa-invalid",
    "dnssec-invalid",         "dane-required",
    "sts-policy-fetch-error", "sts-policy-invalid",
    "sts-webpki-invalid",
};

/* replace_absent drops an optional string that is not what key names,
 * with a warning: senders put odd things there, and the rest of the
 * entry still counts. */
static void replace_absent(char **v, const char *path, const char *key,
                           const char *expected, struct diag *d)
{
    char p[JSONGET_PATH_MAX], q[JSONGET_FOUND_SIZE];
    warn(d, jsonget_join(p, path, key, 0),
         "expected %s, found \"%s\": left out", expected,
         diag_quote(*v, strlen(*v), q, sizeof(q)));
    free(*v);
    *v = NULL;
}

/* check_failure_strings validates the strings that outputs show and
 * group by, so that none of them carries a control byte or a forged
 * line: an address and a host name are dropped when invalid, an odd
 * result-type becomes "other". */
static int check_failure_strings(struct tlsrpt_failure *f, const char *path,
                                 struct diag *d)
{
    char p[JSONGET_PATH_MAX], q[JSONGET_FOUND_SIZE], norm[DNSNAME_MAX + 2];
    unsigned char addr[16];
    if (f->sending_mta_ip != NULL &&
        inet_pton(AF_INET, f->sending_mta_ip, addr) != 1 &&
        inet_pton(AF_INET6, f->sending_mta_ip, addr) != 1)
        replace_absent(&f->sending_mta_ip, path, "sending-mta-ip",
                       "an IPv4 or IPv6 address", d);
    if (f->receiving_mx_hostname != NULL) {
        const char *h = f->receiving_mx_hostname;
        if (dnsname_normalize(h, strlen(h), norm, sizeof(norm)) == 0 &&
            dnsname_check(norm, strlen(norm), DNSNAME_UNDERSCORE, NULL, NULL,
                          0) == 0)
            memcpy(f->receiving_mx_hostname, norm, strlen(norm) + 1);
        else
            replace_absent(&f->receiving_mx_hostname, path,
                           "receiving-mx-hostname", "a host name", d);
    }
    for (size_t i = 0; i < TLSRPT_N_RESULT_TYPES; i++)
        if (strcmp(f->result_type, tlsrpt_result_types[i]) == 0)
            return 0;
    size_t len = strlen(f->result_type);
    bool plain = len <= TLSRPT_TYPE_MAX;
    for (size_t i = 0; plain && i < len; i++)
        plain = f->result_type[i] > 0x20 && f->result_type[i] < 0x7f;
    if (plain)
        return 0;
    warn(d, jsonget_join(p, path, "result-type", 0),
         "expected a result type such as \"certificate-expired\", found "
         "\"%s\": kept as \"other\"",
         diag_quote(f->result_type, len, q, sizeof(q)));
    free(f->result_type);
    f->result_type = strdup("other");
    if (f->result_type == NULL) {
        fail(d, path, "out of memory");
        return -1;
    }
    return 0;
}

static int parse_failure(const json_t *v, const char *path,
                         struct tlsrpt_failure *f, struct diag *d)
{
    char fb[JSONGET_FOUND_SIZE];
    int bad = 0;
    if (!json_is_object(v)) {
        fail(d, path, "expected an object, found %s",
             jsonget_found(v, fb, sizeof(fb)));
        return -1;
    }
    bad |= jsonget_string(v, path, "result-type", JSONGET_NONEMPTY,
                          &f->result_type, d);
    bad |= jsonget_string(v, path, "sending-mta-ip", JSONGET_OPTIONAL,
                          &f->sending_mta_ip, d);
    bad |= jsonget_string(v, path, "receiving-mx-hostname", JSONGET_OPTIONAL,
                          &f->receiving_mx_hostname, d);
    bad |= jsonget_string(v, path, "receiving-mx-helo", JSONGET_OPTIONAL,
                          &f->receiving_mx_helo, d);
    bad |= jsonget_string(v, path, "receiving-ip", JSONGET_OPTIONAL,
                          &f->receiving_ip, d);
    bad |=
        get_count(v, path, "failed-session-count", &f->failed_session_count, d);
    bad |= jsonget_string(v, path, "additional-information", JSONGET_OPTIONAL,
                          &f->additional_information, d);
    bad |= jsonget_string(v, path, "failure-reason-code", JSONGET_OPTIONAL,
                          &f->failure_reason_code, d);
    if (bad)
        return -1;
    return check_failure_strings(f, path, d);
}

/* check_domain normalises policy-domain in place and validates it. */
static int check_domain(struct tlsrpt_policy *p, const char *path,
                        struct diag *d)
{
    char pd[JSONGET_PATH_MAX], q[JSONGET_FOUND_SIZE],
        err[160] = "not a host name";
    char norm[DNSNAME_MAX + 2];
    size_t len = strlen(p->policy_domain);
    if (dnsname_normalize(p->policy_domain, len, norm, sizeof(norm)) == 0 &&
        dnsname_check(norm, strlen(norm), DNSNAME_DOMAIN, NULL, err,
                      sizeof(err)) == 0) {
        memcpy(p->policy_domain, norm, strlen(norm) + 1);
        return 0;
    }
    fail(d, jsonget_join(pd, path, "policy-domain", 0),
         "expected a domain name such as example.com, found \"%s\" (%s)",
         diag_quote(p->policy_domain, len, q, sizeof(q)), err);
    return -1;
}

static int parse_policy(const json_t *v, const char *path,
                        struct tlsrpt_policy *p, struct diag *d)
{
    char pp[JSONGET_PATH_MAX], pe[JSONGET_PATH_MAX], fb[JSONGET_FOUND_SIZE];
    const json_t *pol, *sum, *fails;
    bool bad = false;
    if (!json_is_object(v)) {
        fail(d, path, "expected an object, found %s",
             jsonget_found(v, fb, sizeof(fb)));
        return -1;
    }
    pol = jsonget_object(v, path, "policy", d);
    if (pol != NULL) {
        jsonget_join(pp, path, "policy", 0);
        if (jsonget_string(pol, pp, "policy-type", JSONGET_NONEMPTY,
                           &p->policy_type, d) < 0)
            bad = true;
        else if (strcmp(p->policy_type, "sts") != 0 &&
                 strcmp(p->policy_type, "tlsa") != 0 &&
                 strcmp(p->policy_type, "no-policy-found") != 0)
            warn(d, jsonget_join(pe, pp, "policy-type", 0),
                 "expected \"sts\", \"tlsa\" or \"no-policy-found\", found "
                 "\"%s\": kept as it is",
                 diag_quote(p->policy_type, strlen(p->policy_type), fb,
                            sizeof(fb)));
        if (jsonget_string(pol, pp, "policy-domain", JSONGET_NONEMPTY,
                           &p->policy_domain, d) < 0 ||
            check_domain(p, pp, d) < 0)
            bad = true;
        if (jsonget_strings(pol, pp, "policy-string", false, &p->policy_string,
                            &p->n_policy_string, d) < 0)
            bad = true;
        if (jsonget_strings(pol, pp, "mx-host", true, &p->mx_host,
                            &p->n_mx_host, d) < 0)
            bad = true;
    } else {
        bad = true;
    }
    sum = jsonget_object(v, path, "summary", d);
    if (sum != NULL) {
        jsonget_join(pp, path, "summary", 0);
        if (get_count(sum, pp, "total-successful-session-count", &p->successful,
                      d) < 0)
            bad = true;
        if (get_count(sum, pp, "total-failure-session-count", &p->failed, d) <
            0)
            bad = true;
    } else {
        bad = true;
    }
    fails = jsonget_array(v, path, "failure-details", false, &bad, d);
    if (fails != NULL && json_array_size(fails) > 0) {
        size_t n = json_array_size(fails);
        p->failures = calloc(n, sizeof(*p->failures));
        if (p->failures == NULL) {
            fail(d, path, "out of memory");
            return -1;
        }
        p->n_failures = n;
        jsonget_join(pp, path, "failure-details", 0);
        /* Each count is at most TLSRPT_COUNT_MAX and the sum stops once
         * past it, so it cannot overflow whatever the size cap. */
        int64_t details = 0;
        for (size_t i = 0; i < n; i++) {
            if (parse_failure(json_array_get(fails, i),
                              jsonget_join(pe, pp, NULL, i), &p->failures[i],
                              d) < 0)
                bad = true;
            else if (details <= TLSRPT_COUNT_MAX)
                details += p->failures[i].failed_session_count;
        }
        if (!bad && details > TLSRPT_COUNT_MAX) {
            fail(d, pp,
                 "expected failed-session-counts adding up to at most "
                 "%" PRId64 " sessions, found more",
                 TLSRPT_COUNT_MAX);
            bad = true;
        }
    }
    return bad ? -1 : 0;
}

/* add_checked adds b to *a unless that would pass INT64_MAX. */
static bool add_checked(int64_t *a, int64_t b)
{
    if (b > INT64_MAX - *a)
        return false;
    *a += b;
    return true;
}

static struct tlsrpt_report *from_json(const json_t *root, struct diag *d)
{
    char pe[JSONGET_PATH_MAX], fb[JSONGET_FOUND_SIZE];
    struct tlsrpt_report *r = calloc(1, sizeof(*r));
    const json_t *range, *pols;
    bool bad = false;
    if (r == NULL) {
        fail(d, "", "out of memory");
        return NULL;
    }
    if (!json_is_object(root)) {
        fail(d, "", "expected a TLS report (a JSON object), found %s",
             jsonget_found(root, fb, sizeof(fb)));
        goto out;
    }
    if (jsonget_string(root, "", "organization-name", JSONGET_NONEMPTY,
                       &r->organization_name, d) < 0)
        bad = true;
    if (jsonget_string(root, "", "contact-info", JSONGET_REQUIRED,
                       &r->contact_info, d) < 0)
        bad = true;
    if (jsonget_string(root, "", "report-id", JSONGET_NONEMPTY, &r->report_id,
                       d) < 0)
        bad = true;
    range = jsonget_object(root, "", "date-range", d);
    if (range == NULL ||
        get_time(range, "date-range", "start-datetime", &r->start, d) < 0 ||
        get_time(range, "date-range", "end-datetime", &r->end, d) < 0)
        bad = true;
    else if (r->end < r->start) {
        fail(d, "date-range",
             "expected end-datetime not before start-datetime, found it "
             "%" PRId64 " seconds earlier",
             r->start - r->end);
        bad = true;
    }
    pols = jsonget_array(root, "", "policies", true, &bad, d);
    if (pols != NULL && json_array_size(pols) == 0) {
        fail(d, "policies", "expected at least one policy, found none");
        bad = true;
    } else if (pols != NULL) {
        size_t n = json_array_size(pols);
        r->policies = calloc(n, sizeof(*r->policies));
        if (r->policies == NULL) {
            fail(d, "policies", "out of memory");
            goto out;
        }
        r->n_policies = n;
        for (size_t i = 0; i < n; i++)
            if (parse_policy(json_array_get(pols, i),
                             jsonget_join(pe, "policies", NULL, i),
                             &r->policies[i], d) < 0)
                bad = true;
    }
    if (bad)
        goto out;
    /* Only a report of millions of policies (a size cap raised far beyond
     * the default) could pass 63 bits here. */
    for (size_t i = 0; i < r->n_policies; i++)
        if (!add_checked(&r->total_successful, r->policies[i].successful) ||
            !add_checked(&r->total_failed, r->policies[i].failed)) {
            fail(d, "policies",
                 "expected session counts whose sum fits 63 bits, found "
                 "more");
            goto out;
        }
    return r;
out:
    tlsrpt_report_free(r);
    return NULL;
}

struct tlsrpt_report *tlsrpt_parse_json(const char *json, size_t len,
                                        struct diag *d)
{
    json_error_t err;
    json_t *root;
    struct tlsrpt_report *r = NULL;
    /* Some writers put a UTF-8 byte order mark in front. */
    if (len >= 3 && memcmp(json, "\xef\xbb\xbf", 3) == 0) {
        json += 3;
        len -= 3;
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        diag_add(d, DIAG_ERROR, err.line > 0 ? (unsigned)err.line : 0,
                 err.column > 0 ? (unsigned)err.column : 0,
                 "expected a JSON TLS report, found invalid JSON: %s",
                 err.text);
        return NULL;
    }
    r = from_json(root, d);
    json_decref(root);
    return r;
}

struct tlsrpt_report *tlsrpt_parse(const void *data, size_t len,
                                   const struct tlsrpt_limits *lim,
                                   struct diag *d)
{
    struct tlsrpt_limits def;
    struct tlsrpt_report *r = NULL;
    struct buf json;
    if (lim == NULL) {
        tlsrpt_limits_default(&def);
        lim = &def;
    }
    if (!tlsrpt_is_gzip(data, len)) {
        if (len > lim->max_json) {
            diag_add(d, DIAG_ERROR, 0, 0,
                     "expected at most %zu bytes of JSON, found %zu",
                     lim->max_json, len);
            return NULL;
        }
        return tlsrpt_parse_json(data, len, d);
    }
    if (tlsrpt_inflate(data, len, lim, &json, d) < 0)
        return NULL;
    r = tlsrpt_parse_json(json.data != NULL ? json.data : "", json.len, d);
    buf_free(&json);
    return r;
}

/* --- output and comparison ----------------------------------------------- */

static void put_key(struct buf *b, bool *first, const char *key)
{
    buf_puts(b, *first ? "\"" : ",\"");
    buf_puts(b, key);
    buf_puts(b, "\":");
    *first = false;
}

static void put_str(struct buf *b, bool *first, const char *key, const char *v)
{
    if (v == NULL)
        return;
    put_key(b, first, key);
    buf_json_string(b, v, strlen(v));
}

static void put_strings(struct buf *b, bool *first, const char *key,
                        char *const *v, size_t n)
{
    if (n == 0)
        return;
    put_key(b, first, key);
    buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_puts(b, ",");
        buf_json_string(b, v[i], strlen(v[i]));
    }
    buf_puts(b, "]");
}

static void put_failure(struct buf *b, const struct tlsrpt_failure *f)
{
    bool first = true;
    buf_puts(b, "{");
    put_str(b, &first, "result-type", f->result_type);
    put_str(b, &first, "sending-mta-ip", f->sending_mta_ip);
    put_str(b, &first, "receiving-mx-hostname", f->receiving_mx_hostname);
    put_str(b, &first, "receiving-mx-helo", f->receiving_mx_helo);
    put_str(b, &first, "receiving-ip", f->receiving_ip);
    put_key(b, &first, "failed-session-count");
    buf_printf(b, "%" PRId64, f->failed_session_count);
    put_str(b, &first, "additional-information", f->additional_information);
    put_str(b, &first, "failure-reason-code", f->failure_reason_code);
    buf_puts(b, "}");
}

static void put_policy(struct buf *b, const struct tlsrpt_policy *p)
{
    bool first = true;
    buf_puts(b, "{\"policy\":{");
    put_str(b, &first, "policy-type", p->policy_type);
    put_strings(b, &first, "policy-string", p->policy_string,
                p->n_policy_string);
    put_str(b, &first, "policy-domain", p->policy_domain);
    put_strings(b, &first, "mx-host", p->mx_host, p->n_mx_host);
    buf_printf(b,
               "},\"summary\":{\"total-successful-session-count\":%" PRId64
               ",\"total-failure-session-count\":%" PRId64 "}",
               p->successful, p->failed);
    if (p->n_failures > 0) {
        buf_puts(b, ",\"failure-details\":[");
        for (size_t i = 0; i < p->n_failures; i++) {
            if (i > 0)
                buf_puts(b, ",");
            put_failure(b, &p->failures[i]);
        }
        buf_puts(b, "]");
    }
    buf_puts(b, "}");
}

int tlsrpt_report_json(const struct tlsrpt_report *r, struct buf *b)
{
    char ts[32];
    bool first = true;
    buf_puts(b, "{");
    put_str(b, &first, "organization-name", r->organization_name);
    put_key(b, &first, "date-range");
    buf_printf(b, "{\"start-datetime\":\"%s\",",
               tlsrpt_format_time(r->start, ts, sizeof(ts)));
    buf_printf(b, "\"end-datetime\":\"%s\"}",
               tlsrpt_format_time(r->end, ts, sizeof(ts)));
    put_str(b, &first, "contact-info", r->contact_info);
    put_str(b, &first, "report-id", r->report_id);
    put_key(b, &first, "policies");
    buf_puts(b, "[");
    for (size_t i = 0; i < r->n_policies; i++) {
        if (i > 0)
            buf_puts(b, ",");
        put_policy(b, &r->policies[i]);
    }
    buf_puts(b, "]}");
    return b->failed ? -1 : 0;
}

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool strings_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static bool failure_eq(const struct tlsrpt_failure *a,
                       const struct tlsrpt_failure *b)
{
    return str_eq(a->result_type, b->result_type) &&
           str_eq(a->sending_mta_ip, b->sending_mta_ip) &&
           str_eq(a->receiving_mx_hostname, b->receiving_mx_hostname) &&
           str_eq(a->receiving_mx_helo, b->receiving_mx_helo) &&
           str_eq(a->receiving_ip, b->receiving_ip) &&
           a->failed_session_count == b->failed_session_count &&
           str_eq(a->additional_information, b->additional_information) &&
           str_eq(a->failure_reason_code, b->failure_reason_code);
}

static bool policy_eq(const struct tlsrpt_policy *a,
                      const struct tlsrpt_policy *b)
{
    if (!str_eq(a->policy_type, b->policy_type) ||
        !str_eq(a->policy_domain, b->policy_domain) ||
        !strings_eq(a->policy_string, a->n_policy_string, b->policy_string,
                    b->n_policy_string) ||
        !strings_eq(a->mx_host, a->n_mx_host, b->mx_host, b->n_mx_host) ||
        a->successful != b->successful || a->failed != b->failed ||
        a->n_failures != b->n_failures)
        return false;
    for (size_t i = 0; i < a->n_failures; i++)
        if (!failure_eq(&a->failures[i], &b->failures[i]))
            return false;
    return true;
}

bool tlsrpt_report_equal(const struct tlsrpt_report *a,
                         const struct tlsrpt_report *b)
{
    if (!str_eq(a->organization_name, b->organization_name) ||
        !str_eq(a->contact_info, b->contact_info) ||
        !str_eq(a->report_id, b->report_id) || a->start != b->start ||
        a->end != b->end || a->n_policies != b->n_policies ||
        a->total_successful != b->total_successful ||
        a->total_failed != b->total_failed)
        return false;
    for (size_t i = 0; i < a->n_policies; i++)
        if (!policy_eq(&a->policies[i], &b->policies[i]))
            return false;
    return true;
}
