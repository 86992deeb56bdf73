/*
 * request: route one HTTP request to a prebuilt reply of a snapshot:
 * (listener, method, host, path, TLS server name, If-None-Match) -> what to
 * answer. Pure and allocation-free, so it is cheap on the hot path and unit
 * testable without sockets. Runs on the HTTP worker threads.
 */
#ifndef MTA_STS_REQUEST_H
#define MTA_STS_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot.h"

#define REQUEST_POLICY_PATH "/.well-known/mta-sts.txt"
#define REQUEST_HEALTH_PATH "/healthz"
#define REQUEST_METRICS_PATH "/metrics"
#define REQUEST_STATUS_PATH "/status"
#define REQUEST_ACME_PREFIX "/.well-known/acme-challenge/"

enum request_listener { REQUEST_LISTENER_HTTPS, REQUEST_LISTENER_HTTP };

struct request {
    enum request_listener listener;
    bool metrics_here; /* this listener serves /metrics and /status */
    const char *method;
    const char *path;          /* without the query string */
    const char *host;          /* Host header, may be NULL */
    const char *sni;           /* TLS server name, NULL without one */
    const char *if_none_match; /* may be NULL */
    const char *tlsrpt_path;   /* where reports are posted; NULL = off */
    /* HTTP-01 (RFC 8555 §8.3) on the plain-HTTP listener: acme_lookup
     * copies the key authorization of the pending challenge for (host,
     * token) into out and returns its length, or -1 (the shape of
     * acme_chal_http_lookup, called with acme_ctx); the router answers
     * with what it copied into acme_out. NULL = ACME is off. */
    int (*acme_lookup)(void *ctx, const char *host, const char *token,
                       char *out, size_t outlen);
    void *acme_ctx;
    char *acme_out;
    size_t acme_outlen;
};

enum request_action {
    REQUEST_REPLY,         /* send result.reply */
    REQUEST_REDIRECT,      /* plain HTTP: 301 to https://<host><path> */
    REQUEST_METRICS,       /* render the metrics */
    REQUEST_STATUS,        /* render the per-domain status (JSON) */
    REQUEST_TLSRPT,        /* a TLS report POSTed for result.domain's host */
    REQUEST_TLSRPT_METHOD, /* the report path with another method: 405,
                              Allow: POST */
    REQUEST_ACME_HTTP      /* an HTTP-01 answer: result.acme_len bytes of
                              request.acme_out */
};

struct request_result {
    enum request_action action;
    const struct reply *reply;
    const struct plan_domain *domain; /* policy, redirect, report or
                                         challenge */
    size_t acme_len;
};

/* request_route decides the answer to r from snapshot s. */
struct request_result request_route(const struct snapshot *s,
                                    const struct request *r);

/*
 * request_etag_matches tells whether an If-None-Match header value matches
 * the quoted etag (a list of entity tags, weak ones compared weakly, or *).
 */
bool request_etag_matches(const char *if_none_match, const char *etag);

#endif
