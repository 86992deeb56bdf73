/*
 * http: the libmicrohttpd daemons: HTTPS (policy, /healthz), plain HTTP
 * (/healthz, /metrics, redirects to HTTPS) and an optional separate metrics
 * listener; the SNI certificate callback; the answers to pending ACME
 * challenges (HTTP-01, TLS-ALPN-01); per-request routing through the
 * request module; access logging and Prometheus metrics. It does not read
 * files or build snapshots: it serves whatever the store publishes.
 * Requests run on libmicrohttpd's worker threads (a thread pool, one
 * thread per core by default), and a sweeper thread enforces
 * limits.request_timeout; http_start/http_stop run on the main thread.
 */
#ifndef MTA_STS_HTTP_H
#define MTA_STS_HTTP_H

#include <stddef.h>

#include "config.h"
#include "log.h"
#include "store.h"

struct http;

/* http_new prepares the server (no sockets yet) and registers its prepare
 * hook with the store; call before the first store_reload. */
struct http *http_new(const struct config *cfg, const struct logger *lg,
                      struct store *st);

/* http_bind binds every configured listener (no daemon runs yet), so that
 * a port that cannot be had is known before anything is loaded or
 * announced. Returns 0, or -1 with the address and the system's reason in
 * err (nothing stays bound then). */
int http_bind(struct http *h, char *err, size_t errlen);

/* http_start starts the daemons on the bound listeners (binding first
 * whatever http_bind did not). Returns 0, or -1 with the reason in err. */
int http_start(struct http *h, char *err, size_t errlen);

/*
 * http_stop stops accepting new connections, lets requests in flight finish
 * (up to drain_seconds), then closes everything.
 */
void http_stop(struct http *h, unsigned drain_seconds);

struct tlsrpt_recv;

/*
 * http_set_tlsrpt hands TLS report reception over (NULL takes it back),
 * once its store is open; until then reports are answered 503. The
 * receiver stays the caller's and must outlive the server's use of it
 * (set NULL and http_stop before freeing it).
 */
void http_set_tlsrpt(struct http *h, struct tlsrpt_recv *rx);

struct acme_chal;

/*
 * http_set_acme_chal lets the listeners answer the ACME challenges in chal
 * (before http_start): HTTP-01 on the plain-HTTP listener for served
 * hosts, and, when the config lists tls-alpn-01, TLS-ALPN-01 on the HTTPS
 * listener (acme-tls/1 is offered in ALPN). The table stays the caller's
 * and must outlive the server (http_stop first).
 */
void http_set_acme_chal(struct http *h, struct acme_chal *chal);

struct acme_run;

/* http_set_acme_run adds the ACME thread's counters to /metrics and its
 * per-domain schedule to /status (NULL takes it back). It stays the
 * caller's and must outlive the server's use of it. */
void http_set_acme_run(struct http *h, struct acme_run *r);
struct check_table;

/*
 * http_set_checks hands the periodic check's results over for /status and
 * /metrics (NULL takes them back); the same rules as http_set_tlsrpt.
 */
void http_set_checks(struct http *h, struct check_table *ct);

/* http_free releases the server; NULL is a no-op. */
void http_free(struct http *h);

#endif
