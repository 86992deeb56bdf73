/*
 * check_run: the per-domain checks of `check` and their report. Every
 * check looks up what a sender would (check_dns), judges it with
 * check_parse, and adds one result that says what was found and, for a
 * problem, the exact record to publish or the edit to make. Nothing is
 * printed here; main renders the report. Main thread (`check`) or a check
 * thread of `serve`.
 */
#include "check_run.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "check_fetch.h"
#include "check_smtp.h"
#include "diag.h"
#include "dnsname.h"
#include "policy.h"

#define MAX_RECORDS 64

const char *check_level_name(enum check_level l)
{
    static const char *const names[] = {"ok", "warn", "fail"};
    return names[l];
}

/* put formats into a fixed-size text field (cut ones end in "..."). */
#define put(field, ...) diag_fit((field), CHECK_TEXT_MAX, __VA_ARGS__)

/* add appends an empty result of level for check; NULL when out of
 * memory. */
static struct check_result *add(struct check_report *rep,
                                enum check_level level, const char *check,
                                const char *domain)
{
    if (rep->n == rep->cap) {
        size_t cap = rep->cap ? rep->cap * 2 : 16;
        struct check_result *r = realloc(rep->r, cap * sizeof(*r));
        if (r == NULL)
            return NULL;
        rep->r = r;
        rep->cap = cap;
    }
    struct check_result *r = &rep->r[rep->n++];
    memset(r, 0, sizeof(*r));
    r->level = level;
    r->check = check;
    snprintf(r->domain, sizeof(r->domain), "%s", domain);
    rep->counts[level]++;
    return r;
}

/* over_budget tells whether the domain's time is up. */
static bool over_budget(const struct check_opts *o)
{
    return check_bound_stopped(&o->bound) ||
           (o->bound.deadline_ms != 0 && mono_ms() >= o->bound.deadline_ms);
}

/* texts collects the joined TXT texts of an answer for check_parse. */
static size_t texts(const struct check_answer *a, const char **recs,
                    size_t *lens)
{
    size_t n = a->n < MAX_RECORDS ? a->n : MAX_RECORDS;
    for (size_t i = 0; i < n; i++) {
        recs[i] = a->rr[i].text;
        lens[i] = a->rr[i].len;
    }
    return n;
}

/* failed_lookup adds the result for a lookup that gave no usable answer
 * (err, or a bogus one); returns 0, or -1 when out of memory. */
static int failed_lookup(struct check_report *rep, const char *check,
                         const char *domain, const struct check_answer *a,
                         int rc, const char *err)
{
    struct check_result *r = add(rep, CHECK_FAIL, check, domain);
    if (r == NULL)
        return -1;
    if (rc < 0) {
        put(r->what, "cannot look up: %s", err);
        return 0;
    }
    r->dnssec = check_dnssec_name(a->dnssec);
    put(r->what, "DNSSEC validation failed: %s", a->why_bogus);
    put(r->fix, "%s",
        "re-sign the zone, or correct the DS record at the "
        "parent, so that the answer validates");
    return 0;
}

/*
 * lookup_txt asks for the TXT records at name. Returns 0 with a usable
 * answer in a; 1 when the lookup failed or was bogus (that result is
 * added for check); -1 when memory ran out.
 */
static int lookup_txt(struct check_dns *dns, const char *name,
                      const char *check, const char *domain,
                      struct check_answer *a, struct check_report *rep)
{
    char err[CHECK_ERR_MAX] = "";
    int lrc = check_dns_lookup(dns, name, CHECK_RR_TXT, a, err, sizeof(err));
    if (lrc == 0 && a->dnssec != CHECK_DNSSEC_BOGUS)
        return 0;
    return failed_lookup(rep, check, domain, a, lrc, err) < 0 ? -1 : 1;
}

/* The _mta-sts record this host wants published at name. */
static void sts_record(char *field, const char *name, const char *id)
{
    put(field, "publish `%s. IN TXT \"v=STSv1; id=%s\"`", name, id);
}

/*
 * judge_delegation adds the sts-delegation result: the `_mta-sts` name
 * (name) of the domain is a CNAME to `_mta-sts.<domain>.<zone>`, where
 * the provider publishes the record (RFC 8461 §8.2; `dns --delegate`).
 */
static int judge_delegation(const struct check_opts *o,
                            const struct check_served *sv, const char *name,
                            const struct check_answer *a,
                            struct check_report *rep)
{
    char want[CHECK_NAME_MAX + 16];
    int n = snprintf(want, sizeof(want), "%s.%s", name, o->delegate_zone);
    bool ok = n > 0 && (size_t)n < sizeof(want) && a->canon[0] != '\0' &&
              strcmp(a->canon, want) == 0;
    struct check_result *r =
        add(rep, ok ? CHECK_OK : CHECK_FAIL, "sts-delegation", sv->domain);
    if (r == NULL)
        return -1;
    r->dnssec = check_dnssec_name(a->dnssec);
    if (ok) {
        put(r->what, "%s is a CNAME to %s in the provider zone %s", name, want,
            o->delegate_zone);
        return 0;
    }
    if (a->canon[0] != '\0')
        put(r->what, "%s is a CNAME to %s, not into the provider zone %s", name,
            a->canon, o->delegate_zone);
    else
        put(r->what,
            "%s is not delegated: it has records of its own, not a CNAME "
            "into the provider zone %s",
            name, o->delegate_zone);
    put(r->fix, "publish `%s. IN CNAME %s.` (in place of its records)", name,
        want);
    return 0;
}

static int check_sts(struct check_dns *dns, const struct check_opts *o,
                     const struct check_served *sv, struct check_report *rep)
{
    char name[CHECK_NAME_MAX + 16];
    const char *recs[MAX_RECORDS];
    size_t lens[MAX_RECORDS];
    struct check_answer a;
    struct check_sts sts;
    struct check_result *r;
    int rc = -1;
    snprintf(name, sizeof(name), "_mta-sts.%s", sv->domain);
    int lrc = lookup_txt(dns, name, "sts-txt", sv->domain, &a, rep);
    if (lrc != 0) {
        rc = lrc > 0 ? 0 : -1;
        goto out;
    }
    if (o->delegate_zone != NULL && judge_delegation(o, sv, name, &a, rep) < 0)
        goto out;
    check_sts_select(recs, lens, texts(&a, recs, lens), &sts);
    /* Behind a CNAME (RFC 8461 §8.2) the record lives at its target. */
    const char *at = a.canon[0] != '\0' ? a.canon : name;
    char via[CHECK_NAME_MAX + 16] = "";
    if (a.canon[0] != '\0')
        snprintf(via, sizeof(via), " via CNAME %s", a.canon);
    const char *id = sv->id != NULL ? sv->id : "<id>";
    r = add(rep, sts.status == CHECK_REC_OK ? CHECK_OK : CHECK_FAIL, "sts-txt",
            sv->domain);
    if (r == NULL)
        goto out;
    r->dnssec = check_dnssec_name(a.dnssec);
    switch (sts.status) {
    case CHECK_REC_OK:
        put(r->what, "one v=STSv1 record at %s%s, id=%s (dnssec: %s)", name,
            via, sts.id, r->dnssec);
        break;
    case CHECK_REC_NONE:
        if (a.canon[0] == '\0') {
            put(r->what, "%s: %s", name, sts.err);
            sts_record(r->fix, at, id);
            break;
        }
        /* A delegation whose target lacks the record: the fix is the
         * provider's, in its zone, not the customer's. */
        put(r->what,
            "%s is delegated by CNAME to %s, which has no v=STSv1 record "
            "(%s): senders find no policy",
            name, at, a.nxdomain ? "the name does not exist" : sts.err);
        put(r->fix,
            "the provider publishes `%s. IN TXT \"v=STSv1; id=%s\"` in its "
            "zone (`mta-sts-host dns --delegate ZONE` prints it), or the "
            "CNAME at %s points at the name it publishes",
            at, id, name);
        break;
    case CHECK_REC_MANY:
        put(r->what, "%s%s: %s", name, via, sts.err);
        put(r->fix,
            "delete all but one, keeping `%s. IN TXT \"v=STSv1; id=%s\"`", at,
            id);
        break;
    case CHECK_REC_INVALID:
        put(r->what, "%s%s: %s", name, via, sts.err);
        put(r->fix, "replace it: publish `%s. IN TXT \"v=STSv1; id=%s\"`", at,
            id);
        break;
    }
    if (sts.status == CHECK_REC_OK && sv->id != NULL) {
        bool same = strcmp(sts.id, sv->id) == 0;
        r = add(rep, same ? CHECK_OK : CHECK_FAIL, "sts-id", sv->domain);
        if (r == NULL)
            goto out;
        r->dnssec = check_dnssec_name(a.dnssec);
        put(r->what, "DNS says id=%s, this host serves %s%s", sts.id, sv->id,
            same ? "" : " (senders keep the policy they cached)");
        if (!same)
            sts_record(r->fix, at, sv->id);
    }
    rc = 0;
out:
    check_answer_free(&a);
    return rc;
}

/* list_add appends sep and item to the list out[0..*o); false (and out
 * as it was) when it does not fit. */
static bool list_add(char *out, size_t outlen, size_t *o, const char *sep,
                     const char *item)
{
    int n = snprintf(out + *o, outlen - *o, "%s%s", sep, item);
    if (n < 0 || (size_t)n >= outlen - *o) {
        out[*o] = '\0';
        return false;
    }
    *o += (size_t)n;
    return true;
}

/* rua_list renders the configured rua URIs (or a placeholder) for a fix. */
static void rua_list(const struct check_served *sv, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sv->n_rua; i++)
        if (!list_add(out, outlen, &o, i ? "," : "", sv->rua[i]))
            break;
    if (o == 0)
        snprintf(out, outlen, "mailto:tlsrpt@%s", sv->domain);
}

static int check_tlsrpt(struct check_dns *dns, const struct check_served *sv,
                        struct check_report *rep)
{
    char name[CHECK_NAME_MAX + 16], rua[512];
    const char *recs[MAX_RECORDS];
    size_t lens[MAX_RECORDS];
    struct check_answer a;
    struct check_tlsrpt t;
    int rc = -1;
    snprintf(name, sizeof(name), "_smtp._tls.%s", sv->domain);
    int lrc = lookup_txt(dns, name, "tlsrpt", sv->domain, &a, rep);
    if (lrc != 0) {
        rc = lrc > 0 ? 0 : -1;
        goto out;
    }
    check_tlsrpt_select(recs, lens, texts(&a, recs, lens), &t);
    rua_list(sv, rua, sizeof(rua));
    /* No record is allowed (TLS-RPT is optional): a warning. */
    enum check_level level = t.status == CHECK_REC_OK     ? CHECK_OK
                             : t.status == CHECK_REC_NONE ? CHECK_WARN
                                                          : CHECK_FAIL;
    struct check_result *r = add(rep, level, "tlsrpt", sv->domain);
    if (r == NULL)
        goto out;
    r->dnssec = check_dnssec_name(a.dnssec);
    if (t.status == CHECK_REC_OK) {
        put(r->what, "one v=TLSRPTv1 record at %s, %zu rua URI%s (dnssec: %s)",
            name, t.n_rua, t.n_rua == 1 ? "" : "s", r->dnssec);
    } else {
        put(r->what, "%s: %s%s", name, t.err,
            t.status == CHECK_REC_NONE ? " (failure reports reach nobody)"
                                       : "");
        put(r->fix, "%spublish `%s. IN TXT \"v=TLSRPTv1; rua=%s\"`",
            t.status == CHECK_REC_MANY ? "delete all but one; " : "", name,
            rua);
    }
    rc = 0;
out:
    check_answer_free(&a);
    return rc;
}

#define MAX_HOST_ADDRS 16

/* What a host name resolves to: its A, then AAAA records (sorted, so that
 * two sets compare by position) and the name its CNAMEs end at. */
struct host_addrs {
    char canon[CHECK_NAME_MAX]; /* "" when the name has its own records */
    char addr[MAX_HOST_ADDRS][CHECK_NAME_MAX];
    size_t n;
    enum check_dnssec dnssec; /* the weaker of the two answers */
};

static int by_text(const void *a, const void *b)
{
    return strcmp(a, b);
}

/*
 * resolve_host looks up host's A and AAAA records into h. Returns 0; 1 when
 * a lookup failed or was bogus (that result is added for check); -1 when
 * memory ran out.
 */
static int resolve_host(struct check_dns *dns, const char *host,
                        const char *check, const char *domain,
                        struct host_addrs *h, struct check_report *rep)
{
    static const enum check_rrtype types[] = {CHECK_RR_A, CHECK_RR_AAAA};
    char err[CHECK_ERR_MAX] = "";
    memset(h, 0, sizeof(*h));
    h->dnssec = CHECK_DNSSEC_SECURE;
    for (int t = 0; t < 2; t++) {
        struct check_answer a;
        int lrc = check_dns_lookup(dns, host, types[t], &a, err, sizeof(err));
        if (lrc < 0 || a.dnssec == CHECK_DNSSEC_BOGUS) {
            int rc = failed_lookup(rep, check, domain, &a, lrc, err);
            check_answer_free(&a);
            return rc < 0 ? -1 : 1;
        }
        if (a.dnssec < h->dnssec)
            h->dnssec = a.dnssec;
        if (a.canon[0] != '\0')
            snprintf(h->canon, sizeof(h->canon), "%s", a.canon);
        for (size_t i = 0; i < a.n && h->n < MAX_HOST_ADDRS; i++)
            snprintf(h->addr[h->n++], sizeof(h->addr[0]), "%s", a.rr[i].text);
        check_answer_free(&a);
    }
    qsort(h->addr, h->n, sizeof(h->addr[0]), by_text);
    return 0;
}

/* addr_list renders h's addresses, space-separated. */
static void addr_list(const struct host_addrs *h, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < h->n; i++)
        if (!list_add(out, outlen, &o, i ? " " : "", h->addr[i]))
            break;
}

static bool same_addrs(const struct host_addrs *x, const struct host_addrs *y)
{
    if (x->n != y->n)
        return false;
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->addr[i], y->addr[i]) != 0)
            return false;
    return true;
}

#define MAX_PROBES 8
#define EXPIRY_WARN_DAYS 14

/* probe_tls adds the mx-tls result of one MX address. */
static int probe_tls(const struct check_opts *o, const char *domain,
                     const char *host, const char *addr, const char *dnssec,
                     struct check_report *rep)
{
    char err[CHECK_ERR_MAX + 200] = "", until[32] = "?";
    struct check_smtp sm;
    int prc = check_smtp_probe(host, addr, o->smtp_port, o->tls, &o->bound, &sm,
                               err, sizeof(err));
    time_t now = time(NULL);
    long days = sm.not_after > now ? (long)((sm.not_after - now) / 86400) : 0;
    enum check_level level = CHECK_OK;
    if (prc < 0 || !sm.starttls || sm.cert_error[0] != '\0')
        level = CHECK_FAIL;
    else if (days < EXPIRY_WARN_DAYS)
        level = CHECK_WARN;
    struct check_result *r = add(rep, level, "mx-tls", domain);
    if (r == NULL)
        return -1;
    r->dnssec = dnssec;
    struct tm tm;
    if (sm.not_after > 0 && gmtime_r(&sm.not_after, &tm) != NULL)
        strftime(until, sizeof(until), "%Y-%m-%d", &tm);
    if (prc < 0) {
        put(r->what, "MX %s (%s) port %u: %s", host, addr, o->smtp_port, err);
        put(r->fix, "make %s accept SMTP with STARTTLS and TLS 1.2 or later",
            host);
    } else if (!sm.starttls) {
        put(r->what, "MX %s (%s) does not offer STARTTLS", host, addr);
        put(r->fix,
            "enable STARTTLS on %s with a certificate for %s (Postfix: "
            "smtpd_tls_security_level = may)",
            host, host);
    } else if (sm.cert_error[0] != '\0') {
        put(r->what,
            "MX %s (%s): %s, but the certificate is refused for %s: "
            "%s (senders in enforce mode do not deliver)",
            host, addr, sm.tls_version, host, sm.cert_error);
        put(r->fix,
            "install a certificate valid for %s from a CA senders "
            "trust (RFC 8461 §4.2)",
            host);
    } else if (level == CHECK_WARN) {
        put(r->what,
            "MX %s (%s): %s, certificate valid for %s but expires "
            "in %ld days (%s)",
            host, addr, sm.tls_version, host, days, until);
        put(r->fix, "renew the certificate of %s", host);
    } else {
        put(r->what,
            "MX %s (%s): STARTTLS, %s, certificate valid for %s "
            "until %s",
            host, addr, sm.tls_version, host, until);
    }
    return 0;
}

/* check_addrs adds one mx-addr result for host (its A and AAAA records)
 * and, with an SMTP port, one mx-tls result per address. */
static int check_addrs(struct check_dns *dns, const struct check_opts *opt,
                       const char *domain, const char *host,
                       struct check_report *rep)
{
    struct host_addrs h;
    char list[CHECK_TEXT_MAX / 2];
    int rc = resolve_host(dns, host, "mx-addr", domain, &h, rep);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct check_result *r =
        add(rep, h.n > 0 ? CHECK_OK : CHECK_FAIL, "mx-addr", domain);
    if (r == NULL)
        return -1;
    r->dnssec = check_dnssec_name(h.dnssec);
    if (h.n > 0) {
        addr_list(&h, list, sizeof(list));
        put(r->what, "%s has %s (dnssec: %s)", host, list, r->dnssec);
    } else {
        put(r->what, "MX %s has no A or AAAA record", host);
        put(r->fix, "publish `%s. IN A <address>` (or AAAA)", host);
    }
    const char *dnssec = r->dnssec; /* r moves when the report grows */
    for (size_t i = 0; opt->smtp_port != 0 && i < h.n && i < MAX_PROBES; i++)
        if (!over_budget(opt) &&
            probe_tls(opt, domain, host, h.addr[i], dnssec, rep) < 0)
            return -1;
    return 0;
}

/* report_cover adds the results of comparing MX hosts with patterns. */
static int report_cover(const struct check_served *sv,
                        const struct check_answer *a, const char *dnssec,
                        struct check_report *rep)
{
    const char *hosts[MAX_RECORDS];
    size_t n = a->n < MAX_RECORDS ? a->n : MAX_RECORDS;
    bool *cov = calloc(n + 1, sizeof(*cov));
    bool *used = calloc(sv->n_mx + 1, sizeof(*used));
    int rc = -1;
    struct check_result *r;
    if (cov == NULL || used == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        hosts[i] = a->rr[i].text;
    size_t problems = check_mx_cover(hosts, n, sv->mx, sv->n_mx, cov, used);
    for (size_t i = 0; i < n; i++) {
        if (cov[i])
            continue;
        if ((r = add(rep, CHECK_FAIL, "mx", sv->domain)) == NULL)
            goto out;
        r->dnssec = dnssec;
        put(r->what,
            "MX %s is not covered by any mx pattern of the policy (senders "
            "in enforce mode refuse to deliver to it)",
            hosts[i]);
        put(r->fix, "add `mx: %s` to %s (its id changes: publish the new one)",
            hosts[i], sv->source);
    }
    for (size_t j = 0; j < sv->n_mx; j++) {
        if (used[j])
            continue;
        bool wild = dnsname_wildcard_base(sv->mx[j]) != NULL;
        r = add(rep, wild ? CHECK_WARN : CHECK_FAIL, "mx", sv->domain);
        if (r == NULL)
            goto out;
        r->dnssec = dnssec;
        put(r->what, "policy pattern `mx: %s` %s no MX of %s", sv->mx[j],
            wild ? "matches" : "names", sv->domain);
        if (!wild)
            put(r->fix,
                "remove `mx: %s` from %s, or publish `%s. IN MX 10 %s.`",
                sv->mx[j], sv->source, sv->domain, sv->mx[j]);
    }
    if (problems == 0) {
        if ((r = add(rep, CHECK_OK, "mx", sv->domain)) == NULL)
            goto out;
        r->dnssec = dnssec;
        put(r->what,
            "%zu MX host%s, each covered by the policy's mx patterns "
            "(dnssec: %s)",
            n, n == 1 ? "" : "s", dnssec);
    }
    rc = 0;
out:
    free(cov);
    free(used);
    return rc;
}

/* by_pref orders MX records as senders try them: preference, then name
 * (servers rotate equal records; the report stays the same). */
static int by_pref(const void *a, const void *b)
{
    const struct check_rr *x = a, *y = b;
    if (x->pref != y->pref)
        return x->pref < y->pref ? -1 : 1;
    return strcmp(x->text, y->text);
}

static int check_mx(struct check_dns *dns, const struct check_opts *o,
                    const struct check_served *sv, struct check_report *rep)
{
    char err[CHECK_ERR_MAX] = "";
    struct check_answer a;
    struct check_result *r;
    int rc = -1;
    int lrc =
        check_dns_lookup(dns, sv->domain, CHECK_RR_MX, &a, err, sizeof(err));
    if (lrc < 0 || a.dnssec == CHECK_DNSSEC_BOGUS) {
        rc = failed_lookup(rep, "mx", sv->domain, &a, lrc, err);
        goto out;
    }
    if (a.n > 1)
        qsort(a.rr, a.n, sizeof(*a.rr), by_pref);
    const char *dnssec = check_dnssec_name(a.dnssec);
    if (a.n == 0 || (a.n == 1 && strcmp(a.rr[0].text, ".") == 0)) {
        if ((r = add(rep, CHECK_FAIL, "mx", sv->domain)) == NULL)
            goto out;
        r->dnssec = dnssec;
        put(r->what,
            "%s has %s: it receives no mail, so MTA-STS protects "
            "nothing",
            sv->domain, a.n == 0 ? "no MX record" : "a null MX (RFC 7505)");
        if (sv->n_mx > 0 && dnsname_wildcard_base(sv->mx[0]) == NULL)
            put(r->fix, "publish `%s. IN MX 10 %s.`", sv->domain, sv->mx[0]);
        rc = 0;
        goto out;
    }
    if (sv->id != NULL && report_cover(sv, &a, dnssec, rep) < 0)
        goto out;
    for (size_t i = 0; i < a.n && i < MAX_RECORDS && !over_budget(o); i++)
        if (check_addrs(dns, o, sv->domain, a.rr[i].text, rep) < 0)
            goto out;
    rc = 0;
out:
    check_answer_free(&a);
    return rc;
}

/* The record that points mta-sts.<domain> at the target, for the fixes. */
static void cname_fix(char *field, const char *host, const char *target)
{
    if (target != NULL)
        put(field, "publish `%s. IN CNAME %s.`", host, target);
    else
        put(field,
            "publish `%s. IN CNAME <this host>.` (`mta-sts-host dns "
            "--target HOST` prints it)",
            host);
}

/*
 * judge_target adds the policy-host result of mta-sts.<domain> (h) against
 * the host it must point at: its CNAME chain ends at the target (or at the
 * name the target's own CNAMEs end at), or, when it has A/AAAA records of
 * its own, they are the target's.
 */
static int judge_target(struct check_dns *dns, const struct check_opts *o,
                        const struct check_served *sv, const char *host,
                        const struct host_addrs *h, struct check_report *rep)
{
    struct host_addrs t;
    char mine[CHECK_TEXT_MAX / 2], theirs[CHECK_TEXT_MAX / 2];
    bool cname = h->canon[0] != '\0';
    if (cname && strcmp(h->canon, o->target) == 0) {
        struct check_result *r = add(rep, CHECK_OK, "policy-host", sv->domain);
        if (r == NULL)
            return -1;
        r->dnssec = check_dnssec_name(h->dnssec);
        addr_list(h, mine, sizeof(mine));
        put(r->what, "%s is a CNAME to %s (%s; dnssec: %s)", host, o->target,
            mine, r->dnssec);
        return 0;
    }
    int rc = resolve_host(dns, o->target, "policy-host", sv->domain, &t, rep);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    bool ok = cname ? t.canon[0] != '\0' && strcmp(h->canon, t.canon) == 0
                    : t.n > 0 && same_addrs(h, &t);
    struct check_result *r =
        add(rep, ok ? CHECK_OK : CHECK_FAIL, "policy-host", sv->domain);
    if (r == NULL)
        return -1;
    r->dnssec = check_dnssec_name(h->dnssec < t.dnssec ? h->dnssec : t.dnssec);
    addr_list(h, mine, sizeof(mine));
    addr_list(&t, theirs, sizeof(theirs));
    if (ok && cname)
        put(r->what, "%s is a CNAME to %s, where %s ends too (%s; dnssec: %s)",
            host, h->canon, o->target, mine, r->dnssec);
    else if (ok)
        put(r->what, "%s has the addresses of %s (%s; dnssec: %s)", host,
            o->target, mine, r->dnssec);
    else if (cname)
        put(r->what,
            "%s is a CNAME to %s, not to %s: senders fetch the policy "
            "from another host",
            host, h->canon, o->target);
    else
        put(r->what,
            "%s has the addresses %s, not those of %s (%s): senders fetch "
            "the policy from another host",
            host, mine, o->target, t.n > 0 ? theirs : "none");
    if (!ok)
        cname_fix(r->fix, host, o->target);
    return 0;
}

/*
 * check_host adds the policy-host result: mta-sts.<domain> resolves (and,
 * with a target, points at it); h gets its addresses for the fetch (none
 * when it has none, or the lookup failed).
 */
static int check_host(struct check_dns *dns, const struct check_opts *o,
                      const struct check_served *sv, const char *host,
                      struct host_addrs *h, struct check_report *rep)
{
    char list[CHECK_TEXT_MAX / 2], via[CHECK_NAME_MAX + 16] = "";
    int rc = resolve_host(dns, host, "policy-host", sv->domain, h, rep);
    if (rc != 0) {
        h->n = 0;
        return rc < 0 ? -1 : 0;
    }
    if (h->n > 0 && o->target != NULL)
        return judge_target(dns, o, sv, host, h, rep);
    struct check_result *r =
        add(rep, h->n > 0 ? CHECK_OK : CHECK_FAIL, "policy-host", sv->domain);
    if (r == NULL)
        return -1;
    r->dnssec = check_dnssec_name(h->dnssec);
    if (h->canon[0] != '\0')
        snprintf(via, sizeof(via), " via CNAME %s", h->canon);
    if (h->n > 0) {
        addr_list(h, list, sizeof(list));
        put(r->what, "%s%s has %s (dnssec: %s)", host, via, list, r->dnssec);
        return 0;
    }
    put(r->what,
        "%s%s has no A or AAAA record: senders cannot fetch the policy", host,
        via);
    if (h->canon[0] != '\0' && o->target == NULL)
        put(r->fix, "publish `%s. IN A <address>` (or AAAA)", h->canon);
    else
        cname_fix(r->fix, host, o->target);
    return 0;
}

/* media_is tells whether a Content-Type has the media type want. */
static bool media_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return strncasecmp(ct, want, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* judge_fetched adds the results for a policy that was fetched. */
static int judge_fetched(const struct check_served *sv, const char *url,
                         const char *addr, const struct check_fetched *f,
                         struct check_report *rep)
{
    struct diag d;
    struct policy *p = NULL;
    struct check_result *r;
    int rc = -1;
    diag_init(&d, url);
    if (f->status != 200 || !media_is(f->content_type, "text/plain")) {
        if ((r = add(rep, CHECK_FAIL, "policy-fetch", sv->domain)) == NULL)
            goto out;
        if (f->status != 200)
            put(r->what,
                "%s (from %s): HTTP %ld; senders take only 200 and "
                "follow no redirect",
                url, addr, f->status);
        else
            put(r->what,
                "%s (from %s): Content-Type '%s', senders expect "
                "text/plain",
                url, addr, f->content_type);
        put(r->fix,
            "point mta-sts.%s at this host (it serves %s with 200 "
            "and text/plain)",
            sv->domain, sv->source[0] != '\0' ? sv->source : "the policy");
        rc = 0;
        goto out;
    }
    p = policy_parse(f->body != NULL ? f->body : "", f->len, &d);
    if (p == NULL) {
        if ((r = add(rep, CHECK_FAIL, "policy-fetch", sv->domain)) == NULL)
            goto out;
        char line[DIAG_MSG_MAX + 400] = "no details";
        if (d.n > 0)
            diag_format_entry(&d, &d.entries[0], line, sizeof(line));
        put(r->what, "the policy at %s does not validate: %s", url, line);
        put(r->fix,
            "point mta-sts.%s at this host, or fix the policy served "
            "there",
            sv->domain);
        rc = 0;
        goto out;
    }
    if ((r = add(rep, CHECK_OK, "policy-fetch", sv->domain)) == NULL)
        goto out;
    put(r->what, "%s (from %s): 200 text/plain, %zu bytes, id %s", url, addr,
        f->len, p->id);
    if (sv->served != NULL) {
        bool same = p->served_len == sv->served_len &&
                    memcmp(p->served, sv->served, sv->served_len) == 0;
        r = add(rep, same ? CHECK_OK : CHECK_FAIL, "policy-match", sv->domain);
        if (r == NULL)
            goto out;
        put(r->what, "the policy at %s has id %s, this host serves %s%s", url,
            p->id, sv->id,
            same ? ""
                 : " (another server answers for mta-sts, or it serves "
                   "an older file)");
        if (!same)
            put(r->fix, "point mta-sts.%s at this host, or deploy %s there",
                sv->domain, sv->source);
    }
    rc = 0;
out:
    policy_free(p);
    diag_free(&d);
    return rc;
}

/* check_policy checks mta-sts.<domain> (policy-host), then fetches the
 * policy from its first address as a sender does and judges it; the
 * fetch's results carry the DNSSEC status of the address lookup. */
static int check_policy(struct check_dns *dns, const struct check_opts *o,
                        const struct check_served *sv, struct check_report *rep)
{
    char host[CHECK_NAME_MAX + 16], url[CHECK_NAME_MAX + 64];
    char err[CHECK_ERR_MAX + 400] = "";
    struct check_fetched f = {0};
    struct check_result *r;
    struct host_addrs h;
    snprintf(host, sizeof(host), "mta-sts.%s", sv->domain);
    snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt", host);
    if (check_host(dns, o, sv, host, &h, rep) < 0)
        return -1;
    if (h.n == 0 || over_budget(o))
        return 0; /* policy-host said why, or the time is up */
    const char *addr = h.addr[0];
    size_t first = rep->n;
    int rc = 0;
    if (check_fetch_policy(sv->domain, addr, o->https_port, o->ca_file,
                           &o->bound, &f, err, sizeof(err)) < 0) {
        if ((r = add(rep, CHECK_FAIL, "policy-fetch", sv->domain)) == NULL)
            rc = -1;
        else {
            put(r->what, "%s (from %s): %s", url, addr, err);
            put(r->fix,
                "serve %s with a certificate valid for %s from a CA "
                "senders trust, answering within %ld s",
                url, host, CHECK_FETCH_TIMEOUT_MS / 1000);
        }
    } else {
        rc = judge_fetched(sv, url, addr, &f, rep);
    }
    check_fetched_free(&f);
    for (size_t i = first; i < rep->n; i++)
        if (rep->r[i].dnssec == NULL)
            rep->r[i].dnssec = check_dnssec_name(h.dnssec);
    return rc;
}

int check_domain(struct check_dns *dns, const struct check_opts *o,
                 const struct check_served *sv, struct check_report *rep)
{
    if (sv->id == NULL) {
        struct check_result *r = add(rep, CHECK_FAIL, "served", sv->domain);
        if (r == NULL)
            return -1;
        put(r->what, "this host serves no valid policy for %s", sv->domain);
        put(r->fix, "add policy/%s.txt (or fix it: `mta-sts-host validate`)",
            sv->domain);
    }
    check_dns_set_deadline(dns, o->bound.deadline_ms);
    check_dns_set_stop(dns, o->bound.stop);
    if (check_sts(dns, o, sv, rep) < 0 ||
        (!over_budget(o) && check_policy(dns, o, sv, rep) < 0) ||
        (!over_budget(o) && check_tlsrpt(dns, sv, rep) < 0) ||
        (!over_budget(o) && check_mx(dns, o, sv, rep) < 0))
        return -1;
    if (over_budget(o)) {
        struct check_result *r = add(rep, CHECK_FAIL, "time", sv->domain);
        if (r == NULL)
            return -1;
        put(r->what,
            "the checks of %s ran past their time budget; those not "
            "listed were skipped",
            sv->domain);
        put(r->fix, "%s",
            "make the slow DNS server, policy host or MX answer (the "
            "results above say which), or raise check.timeout");
    }
    return 0;
}

int check_facts(struct check_dns *dns, const char *domain,
                struct check_facts *f, struct check_report *rep)
{
    char name[CHECK_NAME_MAX + 16], err[CHECK_ERR_MAX] = "";
    const char *recs[MAX_RECORDS];
    size_t lens[MAX_RECORDS];
    struct check_answer a;
    struct check_sts sts;
    memset(f, 0, sizeof(*f));
    f->sts = CHECK_REC_NONE;
    snprintf(name, sizeof(name), "_mta-sts.%s", domain);
    int lrc = lookup_txt(dns, name, "sts-txt", domain, &a, rep);
    if (lrc == 0) {
        check_sts_select(recs, lens, texts(&a, recs, lens), &sts);
        f->sts = sts.status;
        snprintf(f->sts_id, sizeof(f->sts_id), "%s", sts.id);
        snprintf(f->sts_at, sizeof(f->sts_at), "%s",
                 a.canon[0] != '\0' ? a.canon : name);
        f->sts_ttl = a.ttl;
    }
    check_answer_free(&a);
    if (lrc < 0)
        return -1;
    lrc = check_dns_lookup(dns, domain, CHECK_RR_MX, &a, err, sizeof(err));
    if (lrc < 0 || a.dnssec == CHECK_DNSSEC_BOGUS) {
        int rc = failed_lookup(rep, "mx", domain, &a, lrc, err);
        check_answer_free(&a);
        return rc;
    }
    if (a.n > 1)
        qsort(a.rr, a.n, sizeof(*a.rr), by_pref);
    for (size_t i = 0; i < a.n && f->n_mx < CHECK_FACTS_MX; i++) {
        if (strcmp(a.rr[i].text, ".") == 0)
            continue; /* a null MX (RFC 7505) names no host */
        snprintf(f->mx[f->n_mx].host, sizeof(f->mx[0].host), "%s",
                 a.rr[i].text);
        f->mx[f->n_mx++].pref = a.rr[i].pref;
    }
    f->mx_ttl = a.ttl;
    check_answer_free(&a);
    return 0;
}

int check_report_text(const struct check_report *rep, struct buf *b)
{
    for (size_t i = 0; i < rep->n; i++) {
        const struct check_result *r = &rep->r[i];
        buf_printf(b, "%s %s %s: %s", check_level_name(r->level), r->check,
                   r->domain, r->what);
        if (r->fix[0] != '\0')
            buf_printf(b, " fix: %s", r->fix);
        buf_puts(b, "\n");
    }
    return b->failed ? -1 : 0;
}

static void json_field(struct buf *b, const char *key, const char *value)
{
    buf_printf(b, ",\"%s\":", key);
    if (value == NULL || value[0] == '\0')
        buf_puts(b, "null");
    else
        buf_json_string(b, value, strlen(value));
}

int check_report_json(const struct check_report *rep, struct buf *b)
{
    buf_puts(b, "{\"results\":[");
    for (size_t i = 0; i < rep->n; i++) {
        const struct check_result *r = &rep->r[i];
        buf_puts(b, i ? ",{\"domain\":" : "{\"domain\":");
        buf_json_string(b, r->domain, strlen(r->domain));
        json_field(b, "check", r->check);
        json_field(b, "status", check_level_name(r->level));
        json_field(b, "message", r->what);
        json_field(b, "fix", r->fix);
        json_field(b, "dnssec", r->dnssec);
        buf_puts(b, "}");
    }
    buf_printf(b, "],\"ok\":%zu,\"warn\":%zu,\"fail\":%zu}\n",
               rep->counts[CHECK_OK], rep->counts[CHECK_WARN],
               rep->counts[CHECK_FAIL]);
    return b->failed ? -1 : 0;
}

void check_report_free(struct check_report *rep)
{
    free(rep->r);
    memset(rep, 0, sizeof(*rep));
}
