/*
 * check_dns: `check`'s DNS lookups through libunbound. A context is set up
 * once (resolver, trust anchor) and then asked for TXT, MX, A and AAAA
 * records; each answer is decoded into text (TXT strings joined and MX
 * targets read by check_parse, addresses by inet_ntop) with the name
 * after CNAMEs and the DNSSEC verdict of the library. A lookup is asked
 * asynchronously and waited for with poll() on the library's descriptor,
 * in short slices so that the stop flag is seen, and cancelled at its
 * deadline: ub_resolve alone waits as long as libunbound retries (about
 * 25 s per lookup for a forwarder that never answers). It judges nothing
 * and prints nothing. Blocking; one context per thread (main in `check`,
 * each check thread of `serve`).
 */
#include "check_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "dnsname.h"

/* How often a waiting lookup looks at the stop flag. */
#define STOP_SLICE_MS 100

struct check_dns {
    struct ub_ctx *ctx;
    struct check_bound bound;
};

int64_t check_bound_end(const struct check_bound *b, int64_t now,
                        int64_t cap_ms)
{
    int64_t end = now + cap_ms;
    if (b != NULL && b->deadline_ms != 0 && b->deadline_ms < end)
        end = b->deadline_ms;
    return end;
}

bool check_bound_stopped(const struct check_bound *b)
{
    return b != NULL && b->stop != NULL && atomic_load(b->stop);
}

void check_dns_set_deadline(struct check_dns *dns, int64_t deadline_ms)
{
    dns->bound.deadline_ms = deadline_ms;
}

void check_dns_set_stop(struct check_dns *dns, const atomic_bool *stop)
{
    dns->bound.stop = stop;
}

const char *check_dnssec_name(enum check_dnssec s)
{
    switch (s) {
    case CHECK_DNSSEC_SECURE:
        return "secure";
    case CHECK_DNSSEC_BOGUS:
        return "bogus";
    case CHECK_DNSSEC_INSECURE:
        break;
    }
    return "insecure";
}

struct check_dns *check_dns_new(const char *resolver, const char *trust_anchor,
                                char *err, size_t errlen)
{
    struct check_dns *dns = calloc(1, sizeof(*dns));
    char fwd[80];
    int rc = 0;
    const char *what = "ub_ctx_create";
    if (dns == NULL || (dns->ctx = ub_ctx_create()) == NULL) {
        snprintf(err, errlen, "%s", "cannot create a libunbound context");
        goto fail;
    }
    /* A thread, not the default forked process, answers the asynchronous
     * lookups: `serve` is threaded, and a thread dies with ub_ctx_delete. */
    what = "async";
    rc = ub_ctx_async(dns->ctx, 1);
    if (rc == 0 && resolver != NULL) {
        if (check_resolver_addr(resolver, fwd, sizeof(fwd), err, errlen) < 0)
            goto fail;
        /* A test server or a local cache listens on loopback, which
         * libunbound refuses to ask unless told otherwise. */
        what = "do-not-query-localhost";
        rc = ub_ctx_set_option(dns->ctx, "do-not-query-localhost:", "no");
        if (rc == 0) {
            what = "forwarder";
            rc = ub_ctx_set_fwd(dns->ctx, fwd);
        }
    } else if (rc == 0) {
        what = "/etc/resolv.conf";
        rc = ub_ctx_resolvconf(dns->ctx, NULL);
    }
    if (rc == 0 && trust_anchor == NULL &&
        access(CHECK_DNS_ROOT_KEY, R_OK) == 0)
        trust_anchor = CHECK_DNS_ROOT_KEY;
    /* "none": no validation (an authoritative test server cannot give
     * the root's keys); every answer is then insecure. */
    if (trust_anchor != NULL && strcmp(trust_anchor, "none") == 0)
        trust_anchor = NULL;
    if (rc == 0 && trust_anchor != NULL) {
        /* libunbound reads the file only at the first lookup; say now. */
        if (access(trust_anchor, R_OK) != 0) {
            snprintf(err, errlen, "trust anchor %s: %s", trust_anchor,
                     strerror(errno));
            goto fail;
        }
        what = trust_anchor;
        rc = ub_ctx_add_ta_file(dns->ctx, trust_anchor);
    }
    if (rc != 0) {
        snprintf(err, errlen, "resolver setup (%s): %s", what, ub_strerror(rc));
        goto fail;
    }
    return dns;
fail:
    check_dns_free(dns);
    return NULL;
}

void check_dns_free(struct check_dns *dns)
{
    if (dns == NULL)
        return;
    if (dns->ctx != NULL)
        ub_ctx_delete(dns->ctx);
    free(dns);
}

void check_answer_free(struct check_answer *a)
{
    for (size_t i = 0; a->rr != NULL && i < a->n; i++)
        free(a->rr[i].text);
    free(a->rr);
    a->rr = NULL;
    a->n = 0;
}

static const char *rcode_name(int rcode)
{
    static const char *const names[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                        "NXDOMAIN", "NOTIMP",  "REFUSED"};
    return rcode >= 0 && rcode < 6 ? names[rcode] : "an unknown rcode";
}

/* decode turns one rdata into out's text form. */
static int decode(enum check_rrtype type, const unsigned char *rd, size_t len,
                  struct check_rr *out, char *err, size_t errlen)
{
    char name[CHECK_NAME_MAX], addr[INET6_ADDRSTRLEN];
    size_t used = 0;
    long n;
    switch (type) {
    case CHECK_RR_TXT:
        if ((out->text = malloc(len + 1)) == NULL)
            goto oom;
        n = check_txt_join(rd, len, out->text, len + 1, err, errlen);
        if (n < 0)
            return -1;
        out->len = (size_t)n;
        return 0;
    case CHECK_RR_MX:
        if (len < 3 ||
            check_wire_name(rd + 2, len - 2, name, &used, err, errlen) < 0 ||
            used != len - 2) {
            if (len < 3 || used != len - 2)
                snprintf(err, errlen, "%s", "MX record of the wrong length");
            return -1;
        }
        out->pref = (unsigned)rd[0] << 8 | rd[1];
        break;
    case CHECK_RR_A:
    case CHECK_RR_AAAA:
        if (len != (type == CHECK_RR_A ? 4u : 16u) ||
            inet_ntop(type == CHECK_RR_A ? AF_INET : AF_INET6, rd, addr,
                      sizeof(addr)) == NULL) {
            snprintf(err, errlen, "address record of %zu bytes", len);
            return -1;
        }
        snprintf(name, sizeof(name), "%s", addr);
        break;
    }
    out->len = strlen(name);
    if ((out->text = strdup(name)) == NULL)
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "%s", "out of memory");
    return -1;
}

static const char *rrtype_name(enum check_rrtype type)
{
    switch (type) {
    case CHECK_RR_A:
        return "A";
    case CHECK_RR_MX:
        return "MX";
    case CHECK_RR_TXT:
        return "TXT";
    case CHECK_RR_AAAA:
        break;
    }
    return "AAAA";
}

struct pending {
    bool done;
    int err;
    struct ub_result *res;
};

static void on_answer(void *arg, int err, struct ub_result *res)
{
    struct pending *p = arg;
    p->done = true;
    p->err = err;
    p->res = res;
}

/* resolve asks for name and waits until the answer, the deadline or the
 * stop flag; 0 with *res, or -1 with err. */
static int resolve(struct check_dns *dns, const char *name,
                   enum check_rrtype type, struct ub_result **res, char *err,
                   size_t errlen)
{
    struct pending p = {0};
    int64_t now = mono_ms();
    int64_t end = check_bound_end(&dns->bound, now, CHECK_DNS_TIMEOUT_MS);
    int id = 0, ub = 0;
    if (now >= end) {
        snprintf(err, errlen, "%s %s: timed out (the time budget was spent)",
                 name, rrtype_name(type));
        return -1;
    }
    ub = ub_resolve_async(dns->ctx, name, (int)type, 1 /* IN */, &p, on_answer,
                          &id);
    while (ub == 0 && !p.done) {
        if (check_bound_stopped(&dns->bound)) {
            ub_cancel(dns->ctx, id);
            snprintf(err, errlen, "%s %s: stopped (shutting down)", name,
                     rrtype_name(type));
            return -1;
        }
        int64_t left = end - mono_ms();
        if (left <= 0) {
            ub_cancel(dns->ctx, id);
            snprintf(err, errlen, "%s %s: timed out (no answer within %.1f s)",
                     name, rrtype_name(type), (double)(end - now) / 1000);
            return -1;
        }
        struct pollfd pf = {.fd = ub_fd(dns->ctx), .events = POLLIN};
        int pr =
            poll(&pf, 1, (int)(left < STOP_SLICE_MS ? left : STOP_SLICE_MS));
        if (pr < 0 && errno != EINTR) {
            ub_cancel(dns->ctx, id);
            snprintf(err, errlen, "%s: poll: %s", name, strerror(errno));
            return -1;
        }
        if (pr > 0 && (ub = ub_process(dns->ctx)) != 0)
            ub_cancel(dns->ctx, id);
    }
    if (ub == 0)
        ub = p.err;
    if (ub != 0) {
        ub_resolve_free(p.res);
        snprintf(err, errlen, "%s: %s", name, ub_strerror(ub));
        return -1;
    }
    *res = p.res;
    return 0;
}

int check_dns_lookup(struct check_dns *dns, const char *name,
                     enum check_rrtype type, struct check_answer *out,
                     char *err, size_t errlen)
{
    struct ub_result *res = NULL;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (resolve(dns, name, type, &res, err, errlen) < 0)
        goto out;
    out->nxdomain = res->nxdomain != 0;
    out->ttl = res->ttl > 0 ? (unsigned long)res->ttl : 0;
    out->dnssec = res->bogus    ? CHECK_DNSSEC_BOGUS
                  : res->secure ? CHECK_DNSSEC_SECURE
                                : CHECK_DNSSEC_INSECURE;
    if (res->bogus) {
        snprintf(out->why_bogus, sizeof(out->why_bogus), "%s",
                 res->why_bogus != NULL ? res->why_bogus : "validation failed");
        rc = 0;
        goto out;
    }
    if (res->rcode != 0 && res->rcode != 3) {
        snprintf(err, errlen, "%s: the resolver answered %s", name,
                 rcode_name(res->rcode));
        goto out;
    }
    /* canonname is the name after CNAMEs; kept only when it differs. */
    if (res->canonname == NULL ||
        dnsname_normalize(res->canonname, strlen(res->canonname), out->canon,
                          sizeof(out->canon)) < 0 ||
        dnsname_match(out->canon, name))
        out->canon[0] = '\0';
    size_t n = 0;
    while (res->havedata && res->data[n] != NULL)
        n++;
    if (n > 0 && (out->rr = calloc(n, sizeof(*out->rr))) == NULL) {
        snprintf(err, errlen, "%s", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char why[CHECK_ERR_MAX];
        out->n = i + 1;
        if (decode(type, (const unsigned char *)res->data[i],
                   (size_t)res->len[i], &out->rr[i], why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s: record %zu does not decode: %s", name,
                     i + 1, why);
            goto out;
        }
    }
    rc = 0;
out:
    ub_resolve_free(res);
    return rc;
}
