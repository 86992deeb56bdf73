/*
 * fuzz_tlsrpt: libFuzzer target for the TLS report parser
 * (server/tlsrpt_parse.c), on both paths: the input as received (JSON, or
 * gzip when it starts with the magic bytes) and, for JSON input, the same
 * bytes gzipped here. Any input must parse without crashing or leaking; the
 * verdict must match the diagnostics; both paths must agree; an accepted
 * report must hold counts from 0 to TLSRPT_COUNT_MAX (the failure-details
 * of a policy adding up to no more) whose totals are the sums over its
 * policies, valid policy domains, failure strings that outputs may show
 * (an address, a host name, a printable result type), a date range in
 * order, and a canonical JSON form that parses back to an equal report and
 * is a fixed point.
 * Violations abort() so the fuzzer records the input.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "dnsname.h"
#include "tlsrpt_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small caps keep each run fast; the logic is the same at any size. */
#define FUZZ_JSON_MAX (4u * 1024 * 1024)

/* check_failure_strings aborts unless f's strings are what the parser
 * promises text outputs: no control byte, no newline. */
static void check_failure_strings(const struct tlsrpt_failure *f)
{
    unsigned char addr[16];
    size_t n = strlen(f->result_type);
    if (n == 0 || n > TLSRPT_TYPE_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        if (f->result_type[i] <= 0x20 || f->result_type[i] >= 0x7f)
            abort();
    if (f->sending_mta_ip != NULL &&
        inet_pton(AF_INET, f->sending_mta_ip, addr) != 1 &&
        inet_pton(AF_INET6, f->sending_mta_ip, addr) != 1)
        abort();
    if (f->receiving_mx_hostname != NULL &&
        dnsname_check(f->receiving_mx_hostname,
                      strlen(f->receiving_mx_hostname), DNSNAME_UNDERSCORE,
                      NULL, NULL, 0) != 0)
        abort();
}

static void check_report(const struct tlsrpt_report *r)
{
    int64_t ok = 0, failed = 0;
    if (r->n_policies == 0 || r->end < r->start || r->start < 0 ||
        r->organization_name == NULL || r->organization_name[0] == '\0' ||
        r->report_id == NULL || r->report_id[0] == '\0' ||
        r->contact_info == NULL)
        abort();
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct tlsrpt_policy *p = &r->policies[i];
        int64_t details = 0;
        if (p->successful < 0 || p->failed < 0 ||
            p->successful > TLSRPT_COUNT_MAX || p->failed > TLSRPT_COUNT_MAX ||
            p->policy_type == NULL)
            abort();
        if (dnsname_check(p->policy_domain, strlen(p->policy_domain),
                          DNSNAME_DOMAIN, NULL, NULL, 0) != 0)
            abort();
        for (size_t j = 0; j < p->n_failures; j++) {
            const struct tlsrpt_failure *f = &p->failures[j];
            if (f->failed_session_count < 0 ||
                f->failed_session_count > TLSRPT_COUNT_MAX ||
                f->result_type == NULL)
                abort();
            check_failure_strings(f);
            details += f->failed_session_count;
        }
        if (details > TLSRPT_COUNT_MAX)
            abort();
        ok += p->successful;
        failed += p->failed;
    }
    if (ok != r->total_successful || failed != r->total_failed)
        abort();
}

static void check_roundtrip(const struct tlsrpt_report *r)
{
    struct buf j1, j2;
    struct diag d;
    struct tlsrpt_report *q;
    buf_init(&j1, 64u * 1024 * 1024);
    buf_init(&j2, 64u * 1024 * 1024);
    diag_init(&d, "canonical");
    if (tlsrpt_report_json(r, &j1) != 0)
        abort();
    q = tlsrpt_parse_json(j1.data, j1.len, &d);
    if (q == NULL || !tlsrpt_report_equal(r, q))
        abort();
    if (tlsrpt_report_json(q, &j2) != 0 || j1.len != j2.len ||
        memcmp(j1.data, j2.data, j1.len) != 0)
        abort();
    tlsrpt_report_free(q);
    diag_free(&d);
    buf_free(&j1);
    buf_free(&j2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tlsrpt_limits lim = {FUZZ_JSON_MAX, TLSRPT_RATIO_MAX};
    struct diag d, d2;
    struct tlsrpt_report *r, *r2 = NULL;
    struct buf z, plain;

    diag_init(&d, "fuzz");
    diag_init(&d2, "fuzz2");
    buf_init(&z, 0);
    buf_init(&plain, 0);
    r = tlsrpt_parse(data, size, &lim, &d);
    if ((r == NULL) != (diag_errors(&d) > 0))
        abort();
    if (r != NULL) {
        check_report(r);
        check_roundtrip(r);
    }
    if (tlsrpt_is_gzip(data, size)) {
        /* gzip input: inflating by hand and parsing the JSON agrees. */
        if (tlsrpt_inflate(data, size, &lim, &plain, &d2) == 0) {
            r2 = tlsrpt_parse_json(plain.data != NULL ? plain.data : "",
                                   plain.len, &d2);
            if ((r2 == NULL) != (r == NULL) ||
                (r2 != NULL && !tlsrpt_report_equal(r, r2)))
                abort();
        } else if (r != NULL) {
            abort();
        }
    } else if (size <= 65536 &&
               tlsrpt_deflate(data, size, 2 * size + 1024, &z) == 0) {
        /* JSON input: the same bytes gzipped give the same verdict. */
        r2 = tlsrpt_parse(z.data, z.len, &lim, &d2);
        if ((r2 == NULL) != (r == NULL) ||
            (r2 != NULL && !tlsrpt_report_equal(r, r2)))
            abort();
    }
    tlsrpt_report_free(r);
    tlsrpt_report_free(r2);
    buf_free(&z);
    buf_free(&plain);
    diag_free(&d);
    diag_free(&d2);
    return 0;
}
