/*
 * http: libmicrohttpd glue (see http.h). The handler borrows the current
 * snapshot for each request and answers with a response prepared when the
 * snapshot was built; the TLS certificate callback picks the certificate
 * by SNI from the snapshot the connection pinned. With ACME, HTTP-01 and
 * TLS-ALPN-01 challenges are answered from the challenge table (acme_chal),
 * which lives outside the snapshot. Runs on libmicrohttpd's
 * worker threads, plus one sweeper thread that closes connections which
 * miss the request deadline; counters are atomics.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "acme_chal.h"
#include "acme_run.h"
#include "buf.h"
#include "certs.h"
#include "clock.h"
#include "dnsname.h"
#include "check_table.h"
#include "request.h"
#include "tlsrpt_recv.h"

#define SNI_MAX 256
/* No endpoint takes a request body; a few KiB forgive a client that sends
 * one by mistake, and anything announcing more is refused with 413 before
 * a byte of it is read. */
#define BODY_MAX (16 << 10)
/* How often overdue connections are looked for (the request deadline). */
#define SWEEP_INTERVAL_MS 250
/* How often a stop that waits for the report writer says so. */
#define SUSPEND_WARN_S 5

enum listener_kind { LISTENER_HTTPS, LISTENER_HTTP, LISTENER_METRICS };
static const char *const listener_names[] = {"https", "http", "metrics"};
#define N_LISTENERS 3

/* Status codes counted individually; anything else counts as "other". */
static const int counted_codes[] = {200, 301, 304, 400, 403, 404, 405,
                                    413, 421, 429, 500, 503, 507};
#define N_CODES (sizeof(counted_codes) / sizeof(counted_codes[0]) + 1)

struct listener {
    struct http *h;
    enum listener_kind kind;
    struct MHD_Daemon *daemon;
    const char *addr;
    int fd; /* bound and listening, not yet handed to a daemon; -1 = none */
};

struct http {
    const struct config *cfg;
    const struct logger *lg;
    struct store *store;
    struct listener listeners[N_LISTENERS];
    atomic_uint_fast64_t requests[N_LISTENERS][N_CODES];
    atomic_uint_fast64_t aborted[N_LISTENERS];
    atomic_uint_fast64_t tls_failures;
    atomic_uint_fast64_t handshakes[2]; /* full, resumed */
    atomic_uint_fast64_t timed_out[N_LISTENERS];
    atomic_int in_flight;
    /* Report requests suspended for the writer and not yet handled again
     * after their resume: the daemons must not stop while one is. */
    atomic_int suspended;
    time_t started;
    /* The request deadline (see "request deadline" below): the live
     * connections, and the sweeper thread that closes overdue ones. The
     * lock guards the list, each entry's timed_out and sweep_stop. */
    pthread_mutex_t conns_lock;
    pthread_cond_t sweep_wake;
    struct conn_ctx *conns;
    pthread_t sweeper;
    bool sweeper_running;
    bool sweep_stop;
    /* The master key for TLS session tickets: generated at start-up, never
     * written anywhere, so a restart invalidates every ticket. GnuTLS
     * derives rotating ticket encryption keys from it. */
    gnutls_datum_t ticket_key;
    /* TLS report reception, once the store is open (after the privilege
     * drop); NULL before, or when reception is off. */
    struct tlsrpt_recv *_Atomic tlsrpt;
    /* The pending ACME challenge answers (NULL = ACME is off), and
     * whether TLS-ALPN-01 is among the configured challenge types. */
    struct acme_chal *chal;
    bool tls_alpn;
    /* The ACME thread, for its part of /metrics and /status (NULL = off). */
    struct acme_run *_Atomic acme_run;
    /* The periodic check's results, while it runs; NULL when it is off. */
    struct check_table *_Atomic checks;
};

/* Per-request state, for the access log and the snapshot reference. It
 * lives in the connection's state (libmicrohttpd handles one request at a
 * time per connection), so that a request allocates nothing. */
struct req_ctx {
    struct snapshot *snap;
    struct timespec start;
    int status;
    size_t bytes;
    size_t body_bytes; /* of a body no endpoint takes */
    /* A TLS report being received: its body so far (capped by the
     * receiver, which also counts what all connections hold). */
    struct tlsrpt_recv *tlsrpt;
    struct buf report;
    size_t report_held;
    /* A report with the writer: the connection is suspended until the
     * writer's answer is in report_answer (report_done set). */
    struct MHD_Connection *conn;
    bool report_waiting;
    atomic_bool report_done;
    struct tlsrpt_answer report_answer;
    char method[16];
    char path[256];
    char host[256];
};

/* Per-connection state: the snapshot whose certificate the handshake used
 * (pinned for the connection's life, so the certificate outlives the
 * handshake even if a reload retires it) and the TLS server name. */
struct conn_ctx {
    struct http *h;
    struct snapshot *snap;
    char sni[SNI_MAX];
    bool has_sni;
    bool handshake_done;
    /* The request deadline: CLOCK_MONOTONIC milliseconds by which the
     * client must have sent a complete request, 0 while one is answered. */
    atomic_int_fast64_t deadline_ms;
    enum listener_kind kind;
    int fd;
    bool tracked;   /* in h->conns */
    bool timed_out; /* its socket was shut down by the sweeper */
    struct conn_ctx *prev, *next;
    char remote[INET6_ADDRSTRLEN + 1];
    /* A TLS-ALPN-01 validation: the challenge certificate the handshake
     * used (held for the connection's life, as the snapshot is) and that
     * acme-tls/1 was negotiated, so that no HTTP is served. */
    struct acme_chal_cert *acme_cert;
    bool acme_tls;
    struct req_ctx req; /* the request being read or answered */
};

static size_t code_index(int status)
{
    for (size_t i = 0; i < N_CODES - 1; i++)
        if (counted_codes[i] == status)
            return i;
    return N_CODES - 1;
}

/* ---- prepared responses ------------------------------------------------ */

static bool add_header(struct MHD_Response *r, const char *name,
                       const char *value)
{
    return value == NULL || MHD_add_response_header(r, name, value) == MHD_YES;
}

static void destroy_native(void *native)
{
    MHD_destroy_response(native);
}

static void prepare_reply(struct reply *rp, void *ctx)
{
    (void)ctx;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        rp->body_len, (void *)rp->body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return;
    bool ok = add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rp->content_type) &&
              add_header(r, MHD_HTTP_HEADER_ETAG, rp->etag) &&
              add_header(r, MHD_HTTP_HEADER_ALLOW, rp->allow) &&
              add_header(r, "X-Content-Type-Options", "nosniff");
    /* Caches revalidate the policy (the 304 repeats what the 200 says). */
    if (ok && rp->etag != NULL)
        ok = add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    /* A reply that lost a header to a failed allocation (a policy with no
     * ETag or Content-Type) must not go out: with native unset the store
     * refuses the whole reload and the last good state stays. */
    if (!ok) {
        MHD_destroy_response(r);
        return;
    }
    rp->native = r;
    rp->native_free = destroy_native;
}

/* ---- metrics ----------------------------------------------------------- */

static void metric_head(struct buf *b, const char *name, const char *type,
                        const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* label_value appends s escaped for a Prometheus label value. */
static void label_value(struct buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            buf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else
            buf_append(b, s, 1);
    }
}

/* domain_metric appends `name{domain="..."} value`. */
static void domain_metric(struct buf *b, const char *name,
                          const struct plan_domain *d, long long value)
{
    buf_printf(b, "%s{domain=\"", name);
    label_value(b, d->name);
    buf_printf(b, "\"} %lld\n", value);
}

/* What check_metrics renders of one domain; one visit per family, so
 * that each family's samples stay together. */
struct check_render {
    struct buf *b;
    bool timestamp; /* mta_sts_check_timestamp_seconds, else _ok */
};

static void check_metric_domain(void *ctx, const struct check_view *v)
{
    const struct check_render *r = ctx;
    if (r->timestamp) {
        buf_puts(r->b, "mta_sts_check_timestamp_seconds{domain=\"");
        label_value(r->b, v->domain);
        buf_printf(r->b, "\"} %lld\n", (long long)v->last_run);
        return;
    }
    for (size_t i = 0; i < v->n_sums; i++) {
        buf_puts(r->b, "mta_sts_check_ok{domain=\"");
        label_value(r->b, v->domain);
        buf_puts(r->b, "\",check=\"");
        label_value(r->b, v->sums[i].check);
        buf_printf(r->b, "\"} %d\n", v->sums[i].level != CHECK_FAIL);
    }
}

/* check_metrics renders the periodic check's results of the domains the
 * snapshot serves (a domain gone from it is gone from here too). */
static void check_metrics(struct buf *b, struct check_table *ct,
                          const struct snapshot *s)
{
    struct check_render r = {.b = b};
    size_t n = snapshot_count(s);
    metric_head(b, "mta_sts_check_ok", "gauge",
                "1 when the periodic check found nothing failing (ok or "
                "warn), per domain and check; see /status for the fix.");
    for (size_t i = 0; i < n; i++)
        check_table_visit(ct, snapshot_at(s, i)->name, check_metric_domain, &r);
    r.timestamp = true;
    metric_head(b, "mta_sts_check_timestamp_seconds", "gauge",
                "When the periodic check last ran for the domain (Unix "
                "time).");
    for (size_t i = 0; i < n; i++)
        check_table_visit(ct, snapshot_at(s, i)->name, check_metric_domain, &r);
}

/* Rendered answers (metrics, status) grow with the number of domains and
 * have no cap of their own: their size is the operator's data, not a
 * client's input. */
#define RENDER_MAX SIZE_MAX

static char *render_metrics(struct http *h, const struct snapshot *s,
                            size_t *len)
{
    struct buf b;
    struct store_stats st;
    buf_init(&b, RENDER_MAX);
    store_stats(h->store, &st);

    metric_head(&b, "mta_sts_http_requests_total", "counter",
                "HTTP requests answered, by listener and status code.");
    for (size_t l = 0; l < N_LISTENERS; l++) {
        if (h->listeners[l].daemon == NULL)
            continue;
        for (size_t c = 0; c < N_CODES; c++) {
            char code[16];
            if (c < N_CODES - 1)
                snprintf(code, sizeof(code), "%d", counted_codes[c]);
            else
                snprintf(code, sizeof(code), "other");
            buf_printf(&b,
                       "mta_sts_http_requests_total{listener=\"%s\",code=\"%"
                       "s\"} %llu\n",
                       listener_names[l], code,
                       (unsigned long long)atomic_load(&h->requests[l][c]));
        }
    }
    metric_head(&b, "mta_sts_http_requests_aborted_total", "counter",
                "Requests the client abandoned before they were complete.");
    for (size_t l = 0; l < N_LISTENERS; l++)
        if (h->listeners[l].daemon != NULL)
            buf_printf(&b,
                       "mta_sts_http_requests_aborted_total{listener=\"%s\"} "
                       "%llu\n",
                       listener_names[l],
                       (unsigned long long)atomic_load(&h->aborted[l]));
    metric_head(&b, "mta_sts_connections_timed_out_total", "counter",
                "Connections closed for sending no complete request within "
                "limits.request_timeout.");
    for (size_t l = 0; l < N_LISTENERS; l++)
        if (h->listeners[l].daemon != NULL)
            buf_printf(&b,
                       "mta_sts_connections_timed_out_total{listener=\"%s\"} "
                       "%llu\n",
                       listener_names[l],
                       (unsigned long long)atomic_load(&h->timed_out[l]));
    metric_head(&b, "mta_sts_tls_handshake_failures_total", "counter",
                "TLS connections closed before the handshake completed.");
    buf_printf(&b, "mta_sts_tls_handshake_failures_total %llu\n",
               (unsigned long long)atomic_load(&h->tls_failures));
    metric_head(&b, "mta_sts_tls_handshakes_total", "counter",
                "Completed TLS handshakes, full or resumed from a session "
                "ticket.");
    buf_printf(&b,
               "mta_sts_tls_handshakes_total{kind=\"full\"} %llu\n"
               "mta_sts_tls_handshakes_total{kind=\"resumed\"} %llu\n",
               (unsigned long long)atomic_load(&h->handshakes[0]),
               (unsigned long long)atomic_load(&h->handshakes[1]));
    metric_head(&b, "mta_sts_reloads_total", "counter",
                "Reloads of the policy and certificate files.");
    buf_printf(&b, "mta_sts_reloads_total %llu\n",
               (unsigned long long)st.reloads);
    metric_head(&b, "mta_sts_reload_failures_total", "counter",
                "Reloads that refused an invalid edit and kept the last "
                "good state.");
    buf_printf(&b, "mta_sts_reload_failures_total %llu\n",
               (unsigned long long)st.reload_failures);
    metric_head(&b, "mta_sts_snapshot_generation", "gauge",
                "Generation of the serving state; grows on every reload.");
    buf_printf(&b, "mta_sts_snapshot_generation %llu\n",
               (unsigned long long)snapshot_generation(s));
    struct snapshot_counts c = snapshot_counts(s);
    metric_head(&b, "mta_sts_domains", "gauge",
                "Served domains: all of them, those that can be served (a "
                "valid policy and an unexpired certificate), those with "
                "nothing wrong.");
    buf_printf(&b,
               "mta_sts_domains{state=\"all\"} %zu\n"
               "mta_sts_domains{state=\"servable\"} %zu\n"
               "mta_sts_domains{state=\"ok\"} %zu\n",
               c.domains, c.servable, c.ok);
    metric_head(&b, "mta_sts_problems", "gauge",
                "Problems of the instance as a whole (a refused file that "
                "serves no domain, an unreadable directory, a failed "
                "reload); see /status.");
    buf_printf(&b, "mta_sts_problems %zu\n", c.problems);
    size_t n = snapshot_count(s);
    metric_head(&b, "mta_sts_domain_ok", "gauge",
                "1 when the domain is served with nothing wrong; see "
                "/status for why not.");
    for (size_t i = 0; i < n; i++)
        domain_metric(&b, "mta_sts_domain_ok", snapshot_at(s, i),
                      plan_domain_ok(snapshot_at(s, i)));
    metric_head(&b, "mta_sts_policy_info", "gauge",
                "The policy served per domain (always 1; see the labels).");
    for (size_t i = 0; i < n; i++) {
        const struct plan_domain *d = snapshot_at(s, i);
        if (d->policy == NULL)
            continue;
        buf_puts(&b, "mta_sts_policy_info{domain=\"");
        label_value(&b, d->name);
        buf_printf(&b, "\",id=\"%s\",mode=\"%s\"} 1\n", d->policy->policy->id,
                   policy_mode_name(d->policy->policy->mode));
    }
    metric_head(&b, "mta_sts_policy_max_age_seconds", "gauge",
                "max_age of the policy served per domain.");
    for (size_t i = 0; i < n; i++) {
        const struct plan_domain *d = snapshot_at(s, i);
        if (d->policy != NULL)
            domain_metric(&b, "mta_sts_policy_max_age_seconds", d,
                          (long long)d->policy->policy->max_age);
    }
    metric_head(&b, "mta_sts_policy_degraded", "gauge",
                "1 when the domain's newest policy edit was refused (or it "
                "has no valid policy).");
    for (size_t i = 0; i < n; i++)
        domain_metric(&b, "mta_sts_policy_degraded", snapshot_at(s, i),
                      snapshot_at(s, i)->policy_problem != NULL);
    metric_head(&b, "mta_sts_certificate_expiry_timestamp_seconds", "gauge",
                "Expiry (Unix time) of the certificate served per domain.");
    for (size_t i = 0; i < n; i++) {
        const struct plan_domain *d = snapshot_at(s, i);
        if (d->not_after != 0)
            domain_metric(&b, "mta_sts_certificate_expiry_timestamp_seconds", d,
                          (long long)d->not_after);
    }
    metric_head(&b, "mta_sts_certificate_trusted", "gauge",
                "1 when the domain's certificate chains to the system trust "
                "store (0 for an untrusted chain or the development "
                "certificate: senders will fail).");
    for (size_t i = 0; i < n; i++) {
        const struct plan_domain *d = snapshot_at(s, i);
        const struct certs_entry *e = d->cert[0] ? d->cert[0] : d->cert[1];
        domain_metric(&b, "mta_sts_certificate_trusted", d,
                      e != NULL && certs_entry_trusted(e) &&
                          !certs_entry_dev(e));
    }
    struct check_table *ct = atomic_load(&h->checks);
    if (ct != NULL)
        check_metrics(&b, ct, s);
    struct tlsrpt_recv *rx = atomic_load(&h->tlsrpt);
    if (rx != NULL) {
        metric_head(&b, "mta_sts_tlsrpt_submissions_total", "counter",
                    "TLS reports POSTed, by outcome.");
        for (int o = 0; o < TLSRPT_N_OUTCOMES; o++)
            buf_printf(&b,
                       "mta_sts_tlsrpt_submissions_total{outcome=\"%s\"} "
                       "%llu\n",
                       tlsrpt_outcome_name((enum tlsrpt_outcome)o),
                       (unsigned long long)tlsrpt_recv_count(
                           rx, (enum tlsrpt_outcome)o));
        struct diag errs;
        diag_init(&errs, NULL);
        tlsrpt_recv_metrics(rx, s, &b, &errs);
        for (size_t i = 0; i < errs.n; i++)
            log_msg(h->lg, LOG_LEVEL_WARN, "%s", errs.entries[i].msg);
        diag_free(&errs);
    }
    struct acme_run *ar = atomic_load(&h->acme_run);
    if (ar != NULL)
        acme_run_metrics(ar, &b);
    metric_head(&b, "mta_sts_start_time_seconds", "gauge",
                "Start time of the process (Unix time).");
    buf_printf(&b, "mta_sts_start_time_seconds %lld\n", (long long)h->started);
    return buf_take(&b, len);
}

/* ---- /status ----------------------------------------------------------- */

static void json_str_or_null(struct buf *b, const char *s)
{
    if (s == NULL)
        buf_puts(b, "null");
    else
        buf_json_string(b, s, strlen(s));
}

static void json_time(struct buf *b, time_t t)
{
    struct tm tm;
    char out[32];
    gmtime_r(&t, &tm);
    strftime(out, sizeof(out), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
    buf_puts(b, out);
}

static void status_cert(struct buf *b, const struct certs_entry *e)
{
    if (e == NULL) {
        buf_puts(b, "null");
        return;
    }
    buf_puts(b, "{\"source\":");
    json_str_or_null(b, certs_entry_source(e));
    buf_puts(b, ",\"subject\":");
    json_str_or_null(b, certs_entry_subject(e));
    buf_puts(b, ",\"not_after\":");
    json_time(b, certs_entry_not_after(e));
    buf_printf(b, ",\"trusted\":%s,\"dev\":%s}",
               certs_entry_trusted(e) && !certs_entry_dev(e) ? "true" : "false",
               certs_entry_dev(e) ? "true" : "false");
}

/*
 * render_status is the operator's view of every domain: its policy, its
 * certificates, what is wrong with it and why. It is served only where
 * /metrics is (the plain-HTTP or the metrics listener), never on the
 * public HTTPS listener: it lists every customer.
 */
static void check_status_domain(void *ctx, const struct check_view *v)
{
    struct buf *b = ctx;
    size_t counts[3] = {0};
    buf_puts(b, "{\"last_run\":");
    json_time(b, v->last_run);
    buf_puts(b, ",\"id\":");
    json_str_or_null(b, v->id[0] != '\0' ? v->id : NULL);
    buf_puts(b, ",\"results\":[");
    for (size_t i = 0; i < v->n_items; i++) {
        const struct check_item *it = &v->items[i];
        counts[it->level]++;
        buf_puts(b, i ? ",{\"check\":" : "{\"check\":");
        json_str_or_null(b, it->check);
        buf_printf(
            b, ",\"status\":\"%s\",\"message\":", check_level_name(it->level));
        json_str_or_null(b, it->what);
        buf_puts(b, ",\"fix\":");
        json_str_or_null(b, it->fix);
        buf_puts(b, "}");
    }
    buf_printf(b, "],\"ok\":%zu,\"warn\":%zu,\"fail\":%zu}", counts[CHECK_OK],
               counts[CHECK_WARN], counts[CHECK_FAIL]);
}

static char *render_status(struct http *h, const struct snapshot *s,
                           size_t *len)
{
    struct check_table *ct = atomic_load(&h->checks);
    struct acme_run *ar = atomic_load(&h->acme_run);
    struct buf b;
    struct snapshot_counts c = snapshot_counts(s);
    const struct reply *health = snapshot_reply(s, SNAPSHOT_HEALTH);
    buf_init(&b, RENDER_MAX);
    /* The health object, then the detail. */
    buf_puts(&b, "{\"health\":");
    buf_append(&b, health->body,
               health->body_len > 0 ? health->body_len - 1 : 0);
    buf_puts(&b, ",\"problems\":[");
    for (size_t i = 0; i < c.problems; i++) {
        const char *p = snapshot_problem(s, i);
        if (i > 0)
            buf_puts(&b, ",");
        buf_json_string(&b, p, strlen(p));
    }
    buf_puts(&b, "],\"domains\":[");
    for (size_t i = 0; i < snapshot_count(s); i++) {
        const struct plan_domain *d = snapshot_at(s, i);
        buf_puts(&b, i ? ",{\"domain\":" : "{\"domain\":");
        buf_json_string(&b, d->name, strlen(d->name));
        buf_printf(&b, ",\"ok\":%s,\"servable\":%s,\"policy\":",
                   plan_domain_ok(d) ? "true" : "false",
                   d->servable ? "true" : "false");
        if (d->policy == NULL) {
            buf_puts(&b, "null");
        } else {
            const struct policy *p = d->policy->policy;
            buf_printf(&b,
                       "{\"id\":\"%s\",\"mode\":\"%s\",\"max_age\":%lu,"
                       "\"source\":",
                       p->id, policy_mode_name(p->mode), p->max_age);
            json_str_or_null(&b, d->policy->source);
            buf_puts(&b, "}");
        }
        buf_puts(&b, ",\"policy_problem\":");
        json_str_or_null(&b, d->policy_problem);
        buf_puts(&b, ",\"certificate\":");
        status_cert(&b, d->cert[0] != NULL ? d->cert[0] : d->cert[1]);
        if (d->cert[0] != NULL && d->cert[1] != NULL) {
            buf_puts(&b, ",\"certificate_rsa\":");
            status_cert(&b, d->cert[1]);
        }
        buf_puts(&b, ",\"certificate_problem\":");
        json_str_or_null(&b, d->cert_problem);
        if (ar != NULL)
            acme_run_status(ar, d, &b);
        /* The periodic check's last run; null while it is off or has not
         * reached the domain yet. */
        buf_puts(&b, ",\"check\":");
        if (ct == NULL ||
            check_table_visit(ct, d->name, check_status_domain, &b) == 0)
            buf_puts(&b, "null");
        buf_puts(&b, "}");
    }
    buf_puts(&b, "]}\n");
    return buf_take(&b, len);
}

/* ---- request deadline -------------------------------------------------- */

/*
 * libmicrohttpd's connection timeout is an idle timeout: every byte restarts
 * it, so a client that trickles its request a byte at a time ("slowloris")
 * keeps its connection, and with enough of them every slot, for as long as
 * it likes. The request deadline is absolute instead: from the accept, or
 * from the end of the previous response on a kept-alive connection, a
 * client has limits.request_timeout seconds to finish the TLS handshake and
 * send its whole request. A sweeper thread shuts down the socket of every
 * overdue connection; libmicrohttpd then reads end-of-file and closes the
 * connection the normal way, on its own thread. The sweeper touches a
 * descriptor only under conns_lock while its connection is listed, and
 * libmicrohttpd reports a connection closed (which unlists it under the
 * lock) before it closes the descriptor, so a shutdown can never reach a
 * descriptor that has been reused for another connection or file.
 */

static struct conn_ctx *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* deadline_start gives the connection's next request its full time. */
static void deadline_start(const struct http *h, struct conn_ctx *cc)
{
    if (cc != NULL)
        atomic_store(&cc->deadline_ms,
                     mono_ms() + (int64_t)h->cfg->request_timeout * 1000);
}

/* deadline_stop lifts the deadline while a complete request is answered:
 * how fast a client reads the answer is the idle timeout's business. */
static void deadline_stop(struct conn_ctx *cc)
{
    if (cc != NULL)
        atomic_store(&cc->deadline_ms, 0);
}

static void remote_addr(struct MHD_Connection *c, char *out, size_t outlen);

/* conn_track starts the deadline of a new connection and lists it; it runs
 * on the connection's thread, before libmicrohttpd reads from it. */
static void conn_track(struct listener *l, struct MHD_Connection *c,
                       struct conn_ctx *cc)
{
    struct http *h = l->h;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    cc->kind = l->kind;
    cc->fd = ci != NULL ? ci->connect_fd : -1;
    if (cc->fd < 0)
        return;
    remote_addr(c, cc->remote, sizeof(cc->remote));
    deadline_start(h, cc);
    pthread_mutex_lock(&h->conns_lock);
    cc->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = cc;
    h->conns = cc;
    cc->tracked = true;
    pthread_mutex_unlock(&h->conns_lock);
}

/* conn_untrack unlists a connection that libmicrohttpd is about to close. */
static void conn_untrack(struct http *h, struct conn_ctx *cc)
{
    if (!cc->tracked)
        return;
    pthread_mutex_lock(&h->conns_lock);
    if (cc->prev != NULL)
        cc->prev->next = cc->next;
    else
        h->conns = cc->next;
    if (cc->next != NULL)
        cc->next->prev = cc->prev;
    cc->tracked = false;
    pthread_mutex_unlock(&h->conns_lock);
}

/* sweep_main is the sweeper thread: every SWEEP_INTERVAL_MS it shuts down
 * the sockets of the connections whose deadline has passed. */
static void *sweep_main(void *arg)
{
    struct http *h = arg;
    pthread_mutex_lock(&h->conns_lock);
    while (!h->sweep_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += SWEEP_INTERVAL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->sweep_wake, &h->conns_lock, &until);
        int64_t now = mono_ms();
        for (struct conn_ctx *cc = h->conns; cc != NULL; cc = cc->next) {
            int64_t deadline = atomic_load(&cc->deadline_ms);
            if (cc->timed_out || deadline == 0 || now < deadline)
                continue;
            cc->timed_out = true;
            shutdown(cc->fd, SHUT_RDWR);
            atomic_fetch_add(&h->timed_out[cc->kind], 1);
            log_msg(h->lg, LOG_LEVEL_DEBUG,
                    "%s: closing the connection from %s: no complete "
                    "request within %u s",
                    listener_names[cc->kind], cc->remote,
                    h->cfg->request_timeout);
        }
    }
    pthread_mutex_unlock(&h->conns_lock);
    return NULL;
}

/* sweeper_init prepares the lock and the wake-up of the sweeper, which
 * waits on the monotonic clock as the deadlines do. */
static int sweeper_init(struct http *h)
{
    pthread_condattr_t ca;
    int rc = -1;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&h->sweep_wake, &ca) != 0)
        goto out;
    if (pthread_mutex_init(&h->conns_lock, NULL) != 0) {
        pthread_cond_destroy(&h->sweep_wake);
        goto out;
    }
    rc = 0;
out:
    pthread_condattr_destroy(&ca);
    return rc;
}

static int sweeper_start(struct http *h, char *err, size_t errlen)
{
    h->sweep_stop = false;
    int rc = pthread_create(&h->sweeper, NULL, sweep_main, h);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the request deadline thread: %s",
                 strerror(rc));
        return -1;
    }
    h->sweeper_running = true;
    return 0;
}

static void sweeper_stop(struct http *h)
{
    if (!h->sweeper_running)
        return;
    pthread_mutex_lock(&h->conns_lock);
    h->sweep_stop = true;
    pthread_cond_signal(&h->sweep_wake);
    pthread_mutex_unlock(&h->conns_lock);
    pthread_join(h->sweeper, NULL);
    h->sweeper_running = false;
}

/* ---- request handling -------------------------------------------------- */

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* redirect_target builds https://<host><path> for a plain-HTTP request, or
 * returns -1 when the path holds characters that have no place in a URL. */
static int redirect_target(const char *host, const char *path, char *out,
                           size_t outlen)
{
    for (const char *p = path; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '<' || *p == '>' ||
            *p == '\\')
            return -1;
    int n = snprintf(out, outlen, "https://%s%s", host, path);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

static enum MHD_Result queue_native(struct MHD_Connection *c,
                                    const struct reply *rp)
{
    if (rp->native == NULL)
        return MHD_NO;
    return MHD_queue_response(c, (unsigned)rp->status, rp->native);
}

/* queue_owned queues a per-request response and drops our reference. */
static enum MHD_Result queue_owned(struct MHD_Connection *c, int status,
                                   struct MHD_Response *r)
{
    if (r == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* body_too_large says whether a Content-Length announces more than BODY_MAX
 * bytes (libmicrohttpd itself refuses one that is not a number). */
static bool body_too_large(const char *content_length)
{
    if (content_length == NULL)
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(content_length, &end, 10);
    return end != content_length && (errno == ERANGE || n > BODY_MAX);
}

/* content_length reads a Content-Length header: -1 when there is none,
 * LLONG_MAX when it is out of range (libmicrohttpd refuses one that is not
 * a number). */
static long long content_length(struct MHD_Connection *c)
{
    const char *v = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (v == NULL)
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v)
        return -1;
    return errno == ERANGE || n > LLONG_MAX ? LLONG_MAX : (long long)n;
}

/* queue_report_answer sends a report submission's answer: one line of
 * text, with Retry-After when the sender should come back later. */
static enum MHD_Result queue_report_answer(struct MHD_Connection *c,
                                           struct req_ctx *rq,
                                           const struct tlsrpt_answer *a)
{
    char retry[16];
    size_t len = strlen(a->msg);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)a->msg, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    if (a->status == 405)
        add_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    if (a->retry_after > 0) {
        snprintf(retry, sizeof(retry), "%u", a->retry_after);
        add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    rq->status = a->status;
    rq->bytes = len;
    return queue_owned(c, a->status, r);
}

/*
 * report_start looks at the headers of a request for the report path: a
 * POST for a served host is admitted (rate limit, announced size) and its
 * body collected; anything else is answered by the router later. Returns
 * true when it answered (the body is then not read).
 */
static bool report_start(struct http *h, struct listener *l,
                         struct MHD_Connection *c, struct conn_ctx *cc,
                         struct req_ctx *rq, const char *url,
                         const char *method, enum MHD_Result *ret)
{
    struct tlsrpt_answer a;
    if (l->kind != LISTENER_HTTPS || !h->cfg->tlsrpt_receive ||
        strcmp(url, h->cfg->tlsrpt_path) != 0 || strcmp(method, "POST") != 0)
        return false;
    struct snapshot *snap = store_acquire(h->store);
    if (snap == NULL)
        return false;
    struct request r = {
        .listener = REQUEST_LISTENER_HTTPS,
        .method = method,
        .path = url,
        .host = header(c, MHD_HTTP_HEADER_HOST),
        .sni = cc->has_sni ? cc->sni : NULL,
        .tlsrpt_path = h->cfg->tlsrpt_path,
    };
    bool report = request_route(snap, &r).action == REQUEST_TLSRPT;
    snapshot_release(snap);
    if (!report)
        return false;
    struct tlsrpt_recv *rx = atomic_load(&h->tlsrpt);
    if (rx == NULL) {
        a.status = 503;
        a.retry_after = 60;
        snprintf(a.msg, sizeof(a.msg), "not ready for reports yet\n");
    } else if (tlsrpt_recv_admit(rx, cc->remote, content_length(c), &a)) {
        rq->tlsrpt = rx;
        buf_init(&rq->report, tlsrpt_recv_max_body(rx));
        return false;
    }
    deadline_stop(cc);
    *ret = queue_report_answer(c, rq, &a);
    return true;
}

/* report_body collects a piece of a report's body; false (with the answer
 * queued) when it passes a cap. */
static bool report_body(struct MHD_Connection *c, struct req_ctx *rq,
                        const char *data, size_t n, enum MHD_Result *ret)
{
    struct tlsrpt_answer a;
    if (tlsrpt_recv_hold(rq->tlsrpt, &rq->report_held, n, &a) &&
        buf_append(&rq->report, data, n) == 0)
        return true;
    if (rq->report.failed && a.status == 0) {
        a.status = 503;
        a.retry_after = 60;
        snprintf(a.msg, sizeof(a.msg), "out of memory\n");
    }
    buf_free(&rq->report);
    tlsrpt_recv_release(rq->tlsrpt, &rq->report_held);
    deadline_stop(conn_of(c));
    *ret = queue_report_answer(c, rq, &a);
    return false;
}

/* report_done is the writer's answer to a suspended report request: it is
 * kept for the handler, which libmicrohttpd calls again after the resume. */
static void report_done(void *ctx, const struct tlsrpt_answer *a)
{
    struct req_ctx *rq = ctx;
    rq->report_answer = *a;
    atomic_store(&rq->report_done, true);
    MHD_resume_connection(rq->conn);
}

/*
 * report_submit hands a whole report to the writer and suspends the
 * connection meanwhile, so that the worker thread goes on serving others;
 * the connection is suspended first, because the writer may answer before
 * submit returns. Refused at once (the queue is full), it is resumed again
 * and answered at the next call.
 */
static enum MHD_Result report_submit(struct http *h, struct MHD_Connection *c,
                                     struct req_ctx *rq)
{
    struct tlsrpt_answer a;
    rq->conn = c;
    rq->report_waiting = true;
    atomic_store(&rq->report_done, false);
    atomic_fetch_add(&h->suspended, 1);
    MHD_suspend_connection(c);
    if (!tlsrpt_recv_submit(rq->tlsrpt, rq->snap, rq->report.data,
                            rq->report.len, report_done, rq, &a))
        report_done(rq, &a);
    return MHD_YES;
}

/* report_answer sends the writer's answer once the connection is back. */
static enum MHD_Result report_answer(struct http *h, struct MHD_Connection *c,
                                     struct req_ctx *rq)
{
    const struct tlsrpt_answer *a = &rq->report_answer;
    rq->report_waiting = false;
    atomic_fetch_sub(&h->suspended, 1);
    if (a->status >= 500) {
        struct conn_ctx *cc = conn_of(c);
        log_msg(h->lg, LOG_LEVEL_WARN, "TLS report from %s: %d %s",
                cc != NULL ? cc->remote : "-", a->status, a->msg);
    }
    buf_free(&rq->report);
    tlsrpt_recv_release(rq->tlsrpt, &rq->report_held);
    return queue_report_answer(c, rq, a);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct listener *l = cls;
    struct http *h = l->h;
    (void)version;
    (void)upload_data;
    struct req_ctx *rq = *req_cls;
    if (rq == NULL) {
        /* First call, headers only. Answering now would make
         * libmicrohttpd close the connection (it cannot know the rest of
         * the request), so wait for the call after the body. */
        struct conn_ctx *owner = conn_of(c);
        if (owner == NULL)
            return MHD_NO; /* its state could not be allocated */
        rq = &owner->req;
        memset(rq, 0, sizeof(*rq));
        *req_cls = rq;
        atomic_fetch_add(&h->in_flight, 1);
        clock_gettime(CLOCK_MONOTONIC, &rq->start);
        if (h->lg->access) {
            const char *host = header(c, MHD_HTTP_HEADER_HOST);
            snprintf(rq->method, sizeof(rq->method), "%s", method);
            snprintf(rq->path, sizeof(rq->path), "%s", url);
            snprintf(rq->host, sizeof(rq->host), "%s", host ? host : "-");
        }
        enum MHD_Result ret = MHD_YES;
        if (report_start(h, l, c, owner, rq, url, method, &ret))
            return ret;
        if (rq->tlsrpt == NULL &&
            body_too_large(header(c, MHD_HTTP_HEADER_CONTENT_LENGTH))) {
            /* Answering before the body makes libmicrohttpd skip reading
             * it and close the connection after the answer. */
            static const char msg[] = "Request body too large\n";
            deadline_stop(owner);
            rq->status = 413;
            rq->bytes = sizeof(msg) - 1;
            return queue_owned(
                c, 413,
                MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
                                                MHD_RESPMEM_PERSISTENT));
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0 && rq->tlsrpt != NULL && rq->status == 0) {
        enum MHD_Result ret = MHD_YES;
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        report_body(c, rq, upload_data, n, &ret);
        return ret;
    }
    if (*upload_data_size != 0) {
        /* No endpoint takes a body: discard it, but only up to the cap,
         * also when none was announced (chunked): a client must not keep
         * a connection busy with an endless body. */
        rq->body_bytes += *upload_data_size;
        *upload_data_size = 0;
        if (rq->body_bytes <= BODY_MAX || rq->status != 0)
            return MHD_YES;
        /* libmicrohttpd 0.9.75 cannot queue an answer before the body has
         * ended: the connection is closed, and the log says why. */
        deadline_stop(conn_of(c));
        rq->status = 413;
        return MHD_NO;
    }
    if (rq->report_waiting)
        return atomic_load(&rq->report_done) ? report_answer(h, c, rq)
                                             : MHD_YES;
    if (rq->status != 0)
        return MHD_NO; /* already answered */
    /* The request is complete: its deadline is met. */
    struct conn_ctx *cc = conn_of(c);
    /* RFC 8737 §3: a connection that negotiated acme-tls/1 carries no
     * application data; close it. */
    if (cc != NULL && cc->acme_tls)
        return MHD_NO;
    deadline_stop(cc);
    /* From here on a failure to answer is the server's fault. */
    rq->status = 500;
    rq->snap = store_acquire(h->store);
    if (rq->snap == NULL)
        return MHD_NO;

    struct request r = {
        .listener = l->kind == LISTENER_HTTPS ? REQUEST_LISTENER_HTTPS
                                              : REQUEST_LISTENER_HTTP,
        .metrics_here =
            (l->kind == LISTENER_METRICS) ||
            (l->kind == LISTENER_HTTP && h->cfg->metrics_listen == NULL),
        .method = method,
        .path = url,
        .host = header(c, MHD_HTTP_HEADER_HOST),
        .sni = cc != NULL && cc->has_sni ? cc->sni : NULL,
        .if_none_match = header(c, MHD_HTTP_HEADER_IF_NONE_MATCH),
    };
    if (l->kind == LISTENER_METRICS && strcmp(url, REQUEST_METRICS_PATH) != 0 &&
        strcmp(url, REQUEST_HEALTH_PATH) != 0 &&
        strcmp(url, REQUEST_STATUS_PATH) != 0) {
        const struct reply *nf = snapshot_reply(rq->snap, SNAPSHOT_NOT_FOUND);
        rq->status = 404;
        rq->bytes = nf->body_len;
        return queue_native(c, nf);
    }
    if (h->cfg->tlsrpt_receive)
        r.tlsrpt_path = h->cfg->tlsrpt_path;
    char keyauth[ACME_CHAL_KEYAUTH_MAX + 1];
    if (h->chal != NULL && l->kind == LISTENER_HTTP) {
        r.acme_lookup = acme_chal_http_lookup;
        r.acme_ctx = h->chal;
        r.acme_out = keyauth;
        r.acme_outlen = sizeof(keyauth);
    }
    struct request_result res = request_route(rq->snap, &r);
    struct tlsrpt_answer a;
    switch (res.action) {
    case REQUEST_TLSRPT:
        if (rq->tlsrpt == NULL)
            return MHD_NO; /* routed differently at the headers: a reload */
        return report_submit(h, c, rq);
    case REQUEST_TLSRPT_METHOD:
        a.status = 405;
        a.retry_after = 0;
        snprintf(a.msg, sizeof(a.msg), "TLS reports are POSTed here\n");
        return queue_report_answer(c, rq, &a);
    case REQUEST_REPLY:
        rq->status = res.reply->status;
        rq->bytes = res.reply->body_len;
        return queue_native(c, res.reply);
    case REQUEST_ACME_HTTP: {
        /* RFC 8555 §8.3: the key authorization, exactly, as its example
         * sends it. */
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            res.acme_len, keyauth, MHD_RESPMEM_MUST_COPY);
        if (resp == NULL)
            return MHD_NO;
        add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                   "application/octet-stream");
        rq->status = 200;
        rq->bytes = res.acme_len;
        log_msg(h->lg, LOG_LEVEL_INFO, "acme: http-01 answered for %s to %s",
                res.domain->host, cc != NULL ? cc->remote : "-");
        return queue_owned(c, 200, resp);
    }
    case REQUEST_METRICS:
    case REQUEST_STATUS: {
        size_t len = 0;
        bool metrics = res.action == REQUEST_METRICS;
        char *body = metrics ? render_metrics(h, rq->snap, &len)
                             : render_status(h, rq->snap, &len);
        if (body == NULL)
            return MHD_NO;
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            free(body);
            return MHD_NO;
        }
        add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                   metrics ? "text/plain; version=0.0.4; charset=utf-8"
                           : "application/json");
        rq->status = 200;
        rq->bytes = len;
        return queue_owned(c, 200, resp);
    }
    case REQUEST_REDIRECT: {
        char target[2048];
        if (redirect_target(res.domain->host, url, target, sizeof(target)) <
            0) {
            rq->status = 400;
            return queue_native(c,
                                snapshot_reply(rq->snap, SNAPSHOT_BAD_REQUEST));
        }
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (resp == NULL)
            return MHD_NO;
        add_header(resp, MHD_HTTP_HEADER_LOCATION, target);
        rq->status = 301;
        return queue_owned(c, 301, resp);
    }
    }
    return MHD_NO;
}

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 +
           (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

static void remote_addr(struct MHD_Connection *c, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, outlen, "-");
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
                  (socklen_t)outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
                  (socklen_t)outlen);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct listener *l = cls;
    struct http *h = l->h;
    struct req_ctx *rq = *req_cls;
    /* A kept-alive connection's next request gets the full time again. */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        deadline_start(h, conn_of(c));
    if (rq == NULL)
        return;
    *req_cls = NULL;
    /* Closed after the writer answered but before the handler saw it. */
    if (rq->report_waiting) {
        rq->report_waiting = false;
        atomic_fetch_sub(&h->suspended, 1);
    }
    buf_free(&rq->report);
    tlsrpt_recv_release(rq->tlsrpt, &rq->report_held);
    rq->tlsrpt = NULL;
    if (rq->status == 0) {
        /* The client left before its request was complete: nothing was
         * answered, so it is no HTTP status. */
        atomic_fetch_add(&h->aborted[l->kind], 1);
        log_msg(h->lg, LOG_LEVEL_DEBUG,
                "%s: request aborted by the client before it was complete",
                listener_names[l->kind]);
        goto out;
    }
    atomic_fetch_add(&h->requests[l->kind][code_index(rq->status)], 1);
    /* Load balancers and Prometheus probe every few seconds: their lines
     * would drown the policy fetches, so they are logged at debug only. */
    bool probe = strcmp(rq->path, REQUEST_HEALTH_PATH) == 0 ||
                 strcmp(rq->path, REQUEST_METRICS_PATH) == 0;
    if (h->lg->access && (!probe || h->lg->level >= LOG_LEVEL_DEBUG)) {
        char remote[INET6_ADDRSTRLEN + 1];
        remote_addr(c, remote, sizeof(remote));
        struct log_access a = {
            .remote = remote,
            .method = rq->method,
            .host = rq->host,
            .path = rq->path,
            .listener = listener_names[l->kind],
            .status = rq->status,
            .bytes = rq->bytes,
            .duration_ms = elapsed_ms(&rq->start),
        };
        log_access(h->lg, &a);
    }
out:
    snapshot_release(rq->snap);
    rq->snap = NULL;
    atomic_fetch_sub(&h->in_flight, 1);
}

/* ---- connections and TLS ----------------------------------------------- */

/* conn_of_session finds the connection state of a TLS session.
 * libmicrohttpd stores its connection as the session pointer; check that
 * before trusting it. */
static struct conn_ctx *conn_of_session(gnutls_session_t session)
{
    struct MHD_Connection *c = gnutls_session_get_ptr(session);
    if (c == NULL)
        return NULL;
    const union MHD_ConnectionInfo *si =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (si == NULL || si->tls_session != session)
        return NULL;
    return conn_of(c);
}

/* is_ip_literal NUL-terminates name and tells whether it is an IP address,
 * which RFC 6066 section 3 does not allow as a server name; some clients
 * (wrk, scripts connecting by address) send one anyway, and it is then
 * treated as no server name at all. */
static bool is_ip_literal(char *name, size_t len)
{
    unsigned char addr[sizeof(struct in6_addr)];
    name[len] = '\0';
    return inet_pton(AF_INET, name, addr) == 1 ||
           inet_pton(AF_INET6, name, addr) == 1;
}

/* read_sni records the client's TLS server name in the connection state.
 * Called from the certificate callback (a full handshake) and again at the
 * end of the handshake, because a resumed session never asks for a
 * certificate. */
static void read_sni(gnutls_session_t session, struct conn_ctx *cc)
{
    char name[SNI_MAX];
    size_t len = sizeof(name);
    unsigned type;
    if (cc->has_sni)
        return;
    if (gnutls_server_name_get(session, name, &len, &type, 0) ==
            GNUTLS_E_SUCCESS &&
        type == GNUTLS_NAME_DNS && len < sizeof(name) &&
        !is_ip_literal(name, len)) {
        snprintf(cc->sni, sizeof(cc->sni), "%s", name);
        cc->has_sni = true;
    }
}

/* acme_alpn_selected tells whether the client chose acme-tls/1, which
 * GnuTLS has settled from the ClientHello by the time it asks for a
 * certificate. */
static bool acme_alpn_selected(const struct conn_ctx *cc,
                               gnutls_session_t session)
{
    gnutls_datum_t p = {NULL, 0};
    return cc->h->tls_alpn &&
           gnutls_alpn_get_selected_protocol(session, &p) == 0 &&
           p.size == sizeof(ACME_CHAL_ALPN) - 1 &&
           memcmp(p.data, ACME_CHAL_ALPN, p.size) == 0;
}

/* finished_hook marks the handshake complete when the client's Finished
 * message has been received: the last step of every TLS 1.2 and 1.3
 * handshake on the server side, full or resumed. */
static int finished_hook(gnutls_session_t session, unsigned int htype,
                         unsigned post, unsigned int incoming,
                         const gnutls_datum_t *msg)
{
    (void)htype;
    (void)post;
    (void)msg;
    struct conn_ctx *cc = incoming ? conn_of_session(session) : NULL;
    if (cc != NULL) {
        read_sni(session, cc);
        cc->handshake_done = true;
        /* The validator has what it came for. Closing the reading side
         * ends the connection at libmicrohttpd's next read, while the
         * rest of the handshake still goes out. */
        if (acme_alpn_selected(cc, session))
            cc->acme_tls = true; /* also when resumed: no callback ran */
        if (cc->acme_tls && cc->fd >= 0)
            shutdown(cc->fd, SHUT_RD);
        atomic_fetch_add(
            &cc->h->handshakes[gnutls_session_is_resumed(session) != 0], 1);
    }
    return 0;
}

/* start_tls prepares a new HTTPS connection's GnuTLS session before its
 * handshake starts (libmicrohttpd has created the session by the time it
 * announces the connection): the Finished hook, for every handshake, and
 * session tickets, which let a returning client resume (RFC 5077, TLS 1.3
 * PSK) without a signature or a certificate on the wire, most of the cost
 * of a handshake. libmicrohttpd has no option for tickets. */
static void start_tls(struct http *h, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *si =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (si == NULL || si->tls_session == NULL)
        return;
    gnutls_handshake_set_hook_function(si->tls_session,
                                       GNUTLS_HANDSHAKE_FINISHED,
                                       GNUTLS_HOOK_POST, finished_hook);
    if (h->tls_alpn) {
        /* libmicrohttpd offers http/1.1 and http/1.0; the list is set
         * anew with acme-tls/1 after them (RFC 8737 §6.2). A validator
         * offers acme-tls/1 alone, so it is chosen only for validators;
         * a browser offering h2 and http/1.1 never gets it. */
        static const char h11[] = "http/1.1", h10[] = "http/1.0",
                          acme[] = ACME_CHAL_ALPN;
        const gnutls_datum_t protos[] = {
            {(unsigned char *)h11, sizeof(h11) - 1},
            {(unsigned char *)h10, sizeof(h10) - 1},
            {(unsigned char *)acme, sizeof(acme) - 1},
        };
        int arc = gnutls_alpn_set_protocols(si->tls_session, protos, 3, 0);
        if (arc < 0)
            log_msg(h->lg, LOG_LEVEL_WARN, "ALPN for tls-alpn-01: %s",
                    gnutls_strerror(arc));
    }
    if (h->ticket_key.data == NULL)
        return;
    int rc =
        gnutls_session_ticket_enable_server(si->tls_session, &h->ticket_key);
    if (rc < 0)
        log_msg(h->lg, LOG_LEVEL_DEBUG, "session tickets: %s",
                gnutls_strerror(rc));
}

static void notify_connection(void *cls, struct MHD_Connection *c,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    struct listener *l = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_ctx *fresh = calloc(1, sizeof(*fresh));
        if (fresh != NULL) {
            fresh->h = l->h;
            conn_track(l, c, fresh);
        }
        *socket_context = fresh;
        if (l->kind == LISTENER_HTTPS)
            start_tls(l->h, c);
        return;
    }
    struct conn_ctx *cc = *socket_context;
    if (cc == NULL)
        return;
    conn_untrack(l->h, cc);
    if (l->kind == LISTENER_HTTPS && !cc->handshake_done)
        atomic_fetch_add(&l->h->tls_failures, 1);
    acme_chal_cert_release(cc->acme_cert);
    snapshot_release(cc->snap);
    free(cc);
    *socket_context = NULL;
}

/*
 * acme_cert_for answers a TLS-ALPN-01 validation: the challenge
 * certificate of the server name, and nothing else (RFC 8737 §3). With no
 * pending challenge for the name the handshake fails: a connection that
 * negotiated acme-tls/1 is never served a policy certificate or HTTP.
 */
static int acme_cert_for(struct conn_ctx *cc, gnutls_pcert_st **pcert,
                         unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    char name[SNI_MAX];
    /* GnuTLS may ask again (once per signature algorithm it tries); one
     * log line per connection is enough. */
    bool first = !cc->acme_tls;
    cc->acme_tls = true;
    if (!cc->has_sni ||
        dnsname_normalize(cc->sni, strlen(cc->sni), name, sizeof(name)) < 0) {
        if (first)
            log_msg(cc->h->lg, LOG_LEVEL_INFO,
                    "acme: tls-alpn-01 from %s without a server name: "
                    "refused",
                    cc->remote);
        return -1;
    }
    if (cc->acme_cert == NULL)
        cc->acme_cert = acme_chal_tls_acquire(cc->h->chal, name);
    if (cc->acme_cert == NULL) {
        if (first)
            log_msg(cc->h->lg, LOG_LEVEL_INFO,
                    "acme: tls-alpn-01 from %s for %s: no challenge is "
                    "pending",
                    cc->remote, name);
        return -1;
    }
    if (first)
        log_msg(cc->h->lg, LOG_LEVEL_INFO,
                "acme: tls-alpn-01 answered for %s to %s", name, cc->remote);
    acme_chal_cert_credentials(cc->acme_cert, pcert, pcert_length, pkey);
    return 0;
}

/*
 * cert_callback is GnuTLS's certificate retrieve function: it picks the
 * certificate for the client's server name from the current snapshot and
 * pins that snapshot to the connection, because GnuTLS keeps using the
 * returned certificate and key after the callback returns.
 */
static int cert_callback(gnutls_session_t session,
                         const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos,
                         int pk_algos_length, gnutls_pcert_st **pcert,
                         unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)req_ca_dn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct conn_ctx *cc = conn_of_session(session);
    if (cc == NULL)
        return -1;

    read_sni(session, cc);
    if (acme_alpn_selected(cc, session))
        return acme_cert_for(cc, pcert, pcert_length, pkey);
    /* A renegotiation or second call keeps the snapshot already pinned. */
    if (cc->snap == NULL)
        cc->snap = store_acquire(cc->h->store);
    if (cc->snap == NULL)
        return -1;
    const struct certs_entry *e =
        snapshot_cert_for(cc->snap, cc->has_sni ? cc->sni : NULL, session);
    if (e == NULL)
        return -1;
    certs_entry_credentials(e, pcert, pcert_length, pkey);
    return 0;
}

/* ---- daemons ----------------------------------------------------------- */

__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_msg(h->lg, LOG_LEVEL_DEBUG, "libmicrohttpd: %s", msg);
}

/*
 * keep_escaped is the URL unescaper: it leaves the path as received, so
 * that the policy is served for its exact path only (not for
 * `/.well-known/mta%2Dsts.txt` or one with `%00junk` after it) and the log
 * shows what the client sent.
 */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *uri)
{
    (void)cls;
    (void)c;
    return strlen(uri);
}

struct http *http_new(const struct config *cfg, const struct logger *lg,
                      struct store *st)
{
    struct http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->cfg = cfg;
    h->lg = lg;
    h->store = st;
    h->started = time(NULL);
    for (size_t l = 0; l < N_LISTENERS; l++) {
        h->listeners[l].h = h;
        h->listeners[l].kind = (enum listener_kind)l;
        for (size_t c = 0; c < N_CODES; c++)
            atomic_init(&h->requests[l][c], 0);
        atomic_init(&h->aborted[l], 0);
    }
    h->listeners[LISTENER_HTTPS].addr = cfg->https_listen;
    h->listeners[LISTENER_HTTP].addr = cfg->http_listen;
    h->listeners[LISTENER_METRICS].addr = cfg->metrics_listen;
    for (size_t l = 0; l < N_LISTENERS; l++)
        h->listeners[l].fd = -1;
    atomic_init(&h->tls_failures, 0);
    atomic_init(&h->handshakes[0], 0);
    atomic_init(&h->handshakes[1], 0);
    atomic_init(&h->in_flight, 0);
    for (size_t l = 0; l < N_LISTENERS; l++)
        atomic_init(&h->timed_out[l], 0);
    if (sweeper_init(h) < 0) {
        free(h);
        return NULL;
    }
    int rc = gnutls_session_ticket_key_generate(&h->ticket_key);
    if (rc < 0) {
        /* Without tickets every handshake is a full one: slower, not
         * wrong, so say so and go on. */
        log_msg(lg, LOG_LEVEL_WARN, "session tickets disabled: %s",
                gnutls_strerror(rc));
        h->ticket_key.data = NULL;
    }
    store_set_prepare(st, prepare_reply, h);
    return h;
}

static unsigned thread_count(const struct config *cfg)
{
    if (cfg->threads > 0)
        return cfg->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n <= 256 ? (unsigned)n : 1;
}

static const char *listener_title(enum listener_kind kind)
{
    return kind == LISTENER_HTTPS  ? "HTTPS"
           : kind == LISTENER_HTTP ? "plain HTTP"
                                   : "metrics";
}

/* bind_hint says what usually causes a bind error, or "". */
static const char *bind_hint(int err)
{
    switch (err) {
    case EACCES:
        return " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    case EADDRINUSE:
        return " (another process or listener has this port)";
    case EADDRNOTAVAIL:
        return " (no interface of this host has that address)";
    default:
        return "";
    }
}

/*
 * bind_listener opens, binds and listens on l's address, so that a port
 * that cannot be had is known, with the system's reason, before anything
 * is loaded or announced. The descriptor is handed to libmicrohttpd by
 * start_listener. Returns 0, or -1 with the reason in err.
 */
static int bind_listener(struct listener *l, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    unsigned short port;
    char why[256];
    struct sockaddr_storage ss;
    socklen_t sslen;
    int one = 1, v6only = 1;
    const char *step = "socket";
    memset(&ss, 0, sizeof(ss));

    if (config_split_listen(l->addr, host, sizeof(host), &port, why,
                            sizeof(why)) < 0) {
        snprintf(err, errlen, "listen address %s: %s", l->addr, why);
        return -1;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sslen = sizeof(*sin);
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sslen = sizeof(*sin6);
        /* The unspecified address takes IPv4 too (dual stack). */
        v6only = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ? 0 : 1;
    } else {
        snprintf(err, errlen, "listen address %s: not an IP address", l->addr);
        return -1;
    }
    int fd =
        socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    step = "setsockopt";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if (ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
        goto fail;
    step = "bind";
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
        goto fail;
    step = "listen";
    if (listen(fd, SOMAXCONN) < 0)
        goto fail;
    l->fd = fd;
    return 0;
fail:;
    int e = errno;
    snprintf(err, errlen, "cannot listen for %s on %s: %s: %s%s",
             listener_title(l->kind), l->addr, step, strerror(e), bind_hint(e));
    if (fd >= 0)
        close(fd);
    return -1;
}

int http_bind(struct http *h, char *err, size_t errlen)
{
    for (size_t l = 0; l < N_LISTENERS; l++) {
        struct listener *li = &h->listeners[l];
        if (li->addr == NULL || li->addr[0] == '\0' || li->fd >= 0 ||
            li->daemon != NULL)
            continue;
        if (bind_listener(li, err, errlen) < 0) {
            http_stop(h, 0);
            return -1;
        }
    }
    return 0;
}

static int start_listener(struct http *h, struct listener *l, char *err,
                          size_t errlen)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    /* Report requests wait for the writer suspended, off the workers. */
    if (l->kind == LISTENER_HTTPS)
        flags |= MHD_USE_TLS | MHD_ALLOW_SUSPEND_RESUME;

    /* TLS listeners add the SNI certificate callback and the priority
     * string; the rest of the options are the same for every listener. */
    const struct config *cfg = h->cfg;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)certs_tls_priority},
        /* The option array holds the callback as an object pointer, which
         * ISO C only allows by way of an integer. */
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)(uintptr_t)cert_callback},
        {MHD_OPTION_THREAD_POOL_SIZE, thread_count(cfg), NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem plain[] = {{MHD_OPTION_END, 0, NULL}};
    /* The logger comes first so that every message goes through it. The
     * socket is the one bind_listener bound; the daemon owns it from now
     * on (MHD_stop_daemon closes it). */
    l->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)l->fd,
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->connection_memory_limit,
        MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, completed, l, MHD_OPTION_NOTIFY_CONNECTION,
        notify_connection, l, MHD_OPTION_ARRAY,
        l->kind == LISTENER_HTTPS ? tls : plain, MHD_OPTION_END);
    if (l->daemon == NULL) {
        /* The port is already ours, so this is memory, threads or TLS
         * set-up; libmicrohttpd said which at debug level. */
        snprintf(err, errlen,
                 "cannot start the %s listener on %s (out of memory or "
                 "threads; run with --log-level debug for libmicrohttpd's "
                 "reason)",
                 listener_names[l->kind], l->addr);
        return -1;
    }
    l->fd = -1;
    log_msg(h->lg, LOG_LEVEL_INFO, "listening for %s on %s",
            listener_title(l->kind), l->addr);
    return 0;
}

int http_start(struct http *h, char *err, size_t errlen)
{
    if (http_bind(h, err, errlen) < 0)
        return -1;
    for (size_t l = 0; l < N_LISTENERS; l++) {
        struct listener *li = &h->listeners[l];
        if (li->fd < 0)
            continue;
        if (start_listener(h, li, err, errlen) < 0) {
            http_stop(h, 0);
            return -1;
        }
    }
    if (sweeper_start(h, err, errlen) < 0) {
        http_stop(h, 0);
        return -1;
    }
    return 0;
}

void http_stop(struct http *h, unsigned drain_seconds)
{
    /* Stop accepting first, so the drain below only waits for what is in
     * flight, then close everything. */
    for (size_t l = 0; l < N_LISTENERS; l++) {
        if (h->listeners[l].daemon == NULL)
            continue;
        MHD_socket fd = MHD_quiesce_daemon(h->listeners[l].daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    for (unsigned i = 0;
         i < drain_seconds * 20 && atomic_load(&h->in_flight) > 0; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* A daemon must not be stopped with a connection suspended, so the
     * reports with the writer get their answer first; a commit takes at
     * most SQLite's busy timeout and the disk's time. */
    for (unsigned i = 1; atomic_load(&h->suspended) > 0; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (i % (SUSPEND_WARN_S * 20) == 0)
            log_msg(h->lg, LOG_LEVEL_WARN,
                    "still waiting for %d TLS report(s) to be stored",
                    atomic_load(&h->suspended));
    }
    for (size_t l = 0; l < N_LISTENERS; l++) {
        if (h->listeners[l].fd >= 0) {
            close(h->listeners[l].fd); /* bound, never started */
            h->listeners[l].fd = -1;
        }
        if (h->listeners[l].daemon == NULL)
            continue;
        MHD_stop_daemon(h->listeners[l].daemon);
        h->listeners[l].daemon = NULL;
    }
    /* Last, so that the drain above still closes stalled connections. */
    sweeper_stop(h);
}

void http_set_tlsrpt(struct http *h, struct tlsrpt_recv *rx)
{
    atomic_store(&h->tlsrpt, rx);
}

void http_set_acme_run(struct http *h, struct acme_run *r)
{
    atomic_store(&h->acme_run, r);
}

void http_set_acme_chal(struct http *h, struct acme_chal *chal)
{
    h->chal = chal;
    h->tls_alpn = false;
    for (size_t i = 0; chal != NULL && i < h->cfg->n_acme_challenges; i++)
        if (h->cfg->acme_challenges[i] == CONFIG_ACME_TLS_ALPN_01)
            h->tls_alpn = true;
}

void http_set_checks(struct http *h, struct check_table *ct)
{
    atomic_store(&h->checks, ct);
}

void http_free(struct http *h)
{
    if (h == NULL)
        return;
    http_stop(h, 0);
    pthread_cond_destroy(&h->sweep_wake);
    pthread_mutex_destroy(&h->conns_lock);
    if (h->ticket_key.data != NULL) {
        gnutls_memset(h->ticket_key.data, 0, h->ticket_key.size);
        gnutls_free(h->ticket_key.data);
    }
    free(h);
}
