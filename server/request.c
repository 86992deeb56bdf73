/*
 * request: pure request routing (see request.h). Nothing here allocates,
 * formats or locks; it only compares and picks a prebuilt reply.
 */
#include "request.h"

#include <string.h>

#include "dnsname.h"

/* Room for any name a snapshot serves (at most 253 characters) and then
 * some: a longer Host header is refused, never cut to fit. */
#define HOST_BUF 256

/* next_tag finds the next entity tag in an If-None-Match list; returns a
 * pointer past it, or NULL at the end. */
static const char *next_tag(const char *p, const char **tag, size_t *len,
                            bool *weak)
{
    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    if (*p == '\0')
        return NULL;
    *weak = false;
    if (p[0] == 'W' && p[1] == '/') {
        *weak = true;
        p += 2;
    }
    const char *start = p;
    if (*p == '"') {
        p++;
        while (*p != '\0' && *p != '"')
            p++;
        if (*p == '"')
            p++;
    } else {
        while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
            p++;
    }
    *tag = start;
    *len = (size_t)(p - start);
    return p;
}

bool request_etag_matches(const char *if_none_match, const char *etag)
{
    const char *tag;
    size_t len;
    bool weak;
    size_t etag_len = strlen(etag);
    const char *p = if_none_match;
    /* RFC 9110 §13.1.2: If-None-Match uses the weak comparison, so W/"x"
     * matches "x". */
    while (p != NULL && (p = next_tag(p, &tag, &len, &weak)) != NULL) {
        if (!weak && len == 1 && tag[0] == '*')
            return true;
        if (len == etag_len && memcmp(tag, etag, len) == 0)
            return true;
    }
    return false;
}

static bool is_get_or_head(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* misdirected tells whether a request for host came on a connection whose
 * TLS server name does not cover it (RFC 9110 §15.5.20). */
static bool misdirected(const struct request *r, bool host_ok, const char *host)
{
    char sni[HOST_BUF];
    return host_ok && r->sni != NULL &&
           (dnsname_normalize_host(r->sni, sni, sizeof(sni)) != 0 ||
            strcmp(sni, host) != 0);
}

/* acme_http answers a request for the HTTP-01 path of served host d: the
 * pending key authorization, else 404 (a token nobody put is not found
 * here, and sending it to HTTPS would not find it either). */
static struct request_result acme_http(const struct snapshot *s,
                                       const struct request *r,
                                       const char *host,
                                       const struct plan_domain *d)
{
    struct request_result res = {
        REQUEST_REPLY, snapshot_reply(s, SNAPSHOT_NOT_FOUND), NULL, 0};
    const char *token = r->path + sizeof(REQUEST_ACME_PREFIX) - 1;
    if (!is_get_or_head(r->method)) {
        res.reply = snapshot_reply(s, SNAPSHOT_METHOD_NOT_ALLOWED);
        return res;
    }
    int n =
        r->acme_lookup(r->acme_ctx, host, token, r->acme_out, r->acme_outlen);
    if (n >= 0) {
        res.action = REQUEST_ACME_HTTP;
        res.reply = NULL;
        res.domain = d;
        res.acme_len = (size_t)n;
    }
    return res;
}

struct request_result request_route(const struct snapshot *s,
                                    const struct request *r)
{
    struct request_result res = {
        REQUEST_REPLY, snapshot_reply(s, SNAPSHOT_NOT_FOUND), NULL, 0};
    char host[HOST_BUF];
    bool health = strcmp(r->path, REQUEST_HEALTH_PATH) == 0;
    bool metrics =
        r->metrics_here && strcmp(r->path, REQUEST_METRICS_PATH) == 0;
    bool status = r->metrics_here && strcmp(r->path, REQUEST_STATUS_PATH) == 0;
    /* The exact path only: a percent-encoded variant is another resource. */
    bool policy = strcmp(r->path, REQUEST_POLICY_PATH) == 0;
    bool tlsrpt =
        r->tlsrpt_path != NULL && strcmp(r->path, r->tlsrpt_path) == 0;

    if (health || metrics || status) {
        if (!is_get_or_head(r->method))
            res.reply = snapshot_reply(s, SNAPSHOT_METHOD_NOT_ALLOWED);
        else if (metrics)
            res.action = REQUEST_METRICS;
        else if (status)
            res.action = REQUEST_STATUS;
        else
            res.reply = snapshot_reply(s, SNAPSHOT_HEALTH);
        return res;
    }

    const struct plan_domain *d = NULL;
    bool host_ok = dnsname_normalize_host(r->host, host, sizeof(host)) == 0;
    if (host_ok)
        d = snapshot_find(s, host);

    if (r->listener == REQUEST_LISTENER_HTTP) {
        /* HTTP-01 comes before the redirect: the CA asks on port 80 and
         * a served host's challenge is answered right there. */
        if (d != NULL && r->acme_lookup != NULL &&
            strncmp(r->path, REQUEST_ACME_PREFIX,
                    sizeof(REQUEST_ACME_PREFIX) - 1) == 0)
            return acme_http(s, r, host, d);
        /* Plain HTTP serves no policy: send served hosts to HTTPS. */
        if (d != NULL) {
            res.action = REQUEST_REDIRECT;
            res.domain = d;
        }
        return res;
    }
    if (tlsrpt) {
        /* RFC 8460 §3: reports are POSTed, to a served host only. */
        if (r->host == NULL)
            res.reply = snapshot_reply(s, SNAPSHOT_BAD_REQUEST);
        else if (misdirected(r, host_ok, host))
            res.reply = snapshot_reply(s, SNAPSHOT_MISDIRECTED);
        else if (d != NULL && strcmp(r->method, "POST") != 0)
            res.action = REQUEST_TLSRPT_METHOD;
        else if (d != NULL)
            res.action = REQUEST_TLSRPT;
        res.domain = res.action == REQUEST_REPLY ? NULL : d;
        return res;
    }
    if (!policy)
        return res;
    if (!is_get_or_head(r->method)) {
        res.reply = snapshot_reply(s, SNAPSHOT_METHOD_NOT_ALLOWED);
        return res;
    }
    if (r->host == NULL) {
        res.reply = snapshot_reply(s, SNAPSHOT_BAD_REQUEST);
        return res;
    }
    if (misdirected(r, host_ok, host)) {
        res.reply = snapshot_reply(s, SNAPSHOT_MISDIRECTED);
        return res;
    }
    /* A domain without a valid policy yet, or without a certificate that
     * covers its host, is listed (with its problem) but not served. */
    if (d == NULL || d->policy == NULL || !d->servable)
        return res;
    res.domain = d;
    if (r->if_none_match != NULL &&
        request_etag_matches(r->if_none_match, d->policy->etag))
        res.reply = &d->policy->not_modified;
    else
        res.reply = &d->policy->ok;
    return res;
}
