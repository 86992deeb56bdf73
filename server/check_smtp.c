/*
 * check_smtp: `check`'s STARTTLS probe of one MX address: greeting, EHLO,
 * STARTTLS, then a GnuTLS handshake (TLS 1.2 and 1.3 only, SNI of the MX
 * name) and the certificate verified for the MX name. The SMTP replies are
 * read by check_parse. The whole dialogue (connect, every read and write,
 * the handshake) has one deadline: the socket is non-blocking and each
 * wait is a poll() for what is left of it.
 * Prints nothing. Blocking; main thread (`check`) or a check thread
 * of `serve`.
 */
#include "check_smtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "check_dns.h"
#include "check_parse.h"

#define REPLY_MAX 4096
#define EHLO_NAME "mta-sts-host.invalid"

/* How often a waiting probe looks at the stop flag. */
#define STOP_SLICE_MS 100

struct conn {
    int fd;
    const struct check_bound *bound; /* may be NULL */
    int64_t end, budget_ms;          /* the deadline (mono_ms) and its length */
    char buf[REPLY_MAX];
    size_t len;
};

/* wait_io waits until c->fd is ready for events, in slices short enough
 * to see the stop flag, until the probe's deadline; -1 with err. */
static int wait_io(struct conn *c, short events, const char *during, char *err,
                   size_t errlen)
{
    for (;;) {
        if (check_bound_stopped(c->bound)) {
            snprintf(err, errlen, "%s: stopped (shutting down)", during);
            return -1;
        }
        int64_t left = c->end - mono_ms();
        if (left <= 0) {
            snprintf(err, errlen,
                     "%s: timed out (the probe's %.1f s were spent)", during,
                     (double)c->budget_ms / 1000);
            return -1;
        }
        struct pollfd p = {.fd = c->fd, .events = events};
        int pr =
            poll(&p, 1, (int)(left < STOP_SLICE_MS ? left : STOP_SLICE_MS));
        if (pr > 0)
            return 0;
        if (pr < 0 && errno != EINTR) {
            snprintf(err, errlen, "%s: poll: %s", during, strerror(errno));
            return -1;
        }
    }
}

/* connect_to opens a TCP connection into c before the deadline; -1 with
 * err. The socket stays non-blocking: every read and write waits in
 * wait_io. */
static int connect_to(struct conn *c, const char *addr, unsigned port,
                      char *err, size_t errlen)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        sl = sizeof(*v4);
    } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*v6);
    } else {
        snprintf(err, errlen, "'%s' is not an IP address", addr);
        return -1;
    }
    int fd =
        socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    c->fd = fd;
    int rc = connect(fd, (struct sockaddr *)&ss, sl), soerr = 0;
    socklen_t el = sizeof(soerr);
    if (rc < 0 && errno != EINPROGRESS)
        soerr = errno;
    else if (rc < 0 && wait_io(c, POLLOUT, "TCP connect", err, errlen) < 0)
        return -1;
    else if (rc < 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) < 0)
        soerr = errno;
    if (soerr != 0) {
        snprintf(err, errlen, "connect to %s port %u: %s", addr, port,
                 strerror(soerr));
        return -1;
    }
    return 0;
}

/* read_reply reads one whole SMTP reply; -1 with err. */
static int read_reply(struct conn *c, const char *after,
                      struct check_smtp_reply *r, char *err, size_t errlen)
{
    char why[CHECK_ERR_MAX];
    for (;;) {
        int rc = check_smtp_reply(c->buf, c->len, r, why, sizeof(why));
        if (rc < 0) {
            snprintf(err, errlen, "after %s: %s", after, why);
            return -1;
        }
        if (rc == 1)
            break;
        if (c->len == sizeof(c->buf)) {
            snprintf(err, errlen, "after %s: a reply over %d bytes", after,
                     REPLY_MAX);
            return -1;
        }
        ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_io(c, POLLIN, after, err, errlen) < 0)
                return -1;
            continue;
        }
        if (n <= 0) {
            snprintf(err, errlen, "after %s: %s", after,
                     n == 0 ? "the server closed the connection"
                            : strerror(errno));
            return -1;
        }
        c->len += (size_t)n;
    }
    /* Keep what follows (a pipelining server's bytes are refused below). */
    memmove(c->buf, c->buf + r->used, c->len - r->used);
    c->len -= r->used;
    return 0;
}

/* command sends line and reads the reply, which must be want; -1 with err
 * (the server's words in it). */
static int command(struct conn *c, const char *line, int want,
                   struct check_smtp_reply *r, char *err, size_t errlen)
{
    char cmd[64];
    size_t n = strlen(line);
    snprintf(cmd, sizeof(cmd), "%s\r\n", line);
    for (size_t off = 0; off < n + 2;) {
        ssize_t w = write(c->fd, cmd + off, n + 2 - off);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_io(c, POLLOUT, line, err, errlen) < 0)
                return -1;
            continue;
        }
        if (w <= 0) {
            snprintf(err, errlen, "sending %s: %s", line, strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    if (read_reply(c, line, r, err, errlen) < 0)
        return -1;
    if (r->code != want) {
        snprintf(err, errlen, "%s answered %d, expected %d", line, r->code,
                 want);
        return -1;
    }
    return 0;
}

/* verify fills the certificate's verdict and expiry for name. */
static void verify(gnutls_session_t s, const char *name, struct check_smtp *out)
{
    unsigned status = 0, n = 0;
    gnutls_datum_t txt = {0};
    const gnutls_datum_t *chain = gnutls_certificate_get_peers(s, &n);
    gnutls_x509_crt_t crt = NULL;
    if (chain == NULL || n == 0) {
        snprintf(out->cert_error, sizeof(out->cert_error), "%s",
                 "no certificate was sent");
        return;
    }
    if (gnutls_x509_crt_init(&crt) == 0 &&
        gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) == 0)
        out->not_after = gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
    int rc = gnutls_certificate_verify_peers3(s, name, &status);
    if (rc < 0) {
        snprintf(out->cert_error, sizeof(out->cert_error), "%s",
                 gnutls_strerror(rc));
    } else if (status != 0) {
        if (gnutls_certificate_verification_status_print(
                status, GNUTLS_CRT_X509, &txt, 0) == 0)
            snprintf(out->cert_error, sizeof(out->cert_error), "%s",
                     (const char *)txt.data);
        else
            snprintf(out->cert_error, sizeof(out->cert_error), "%s",
                     "not valid");
        gnutls_free(txt.data);
    }
    size_t n_err = strlen(out->cert_error);
    while (n_err > 0 && out->cert_error[n_err - 1] == ' ')
        out->cert_error[--n_err] = '\0'; /* GnuTLS ends it with blanks */
}

struct check_smtp_tls {
    gnutls_certificate_credentials_t cred;
};

struct check_smtp_tls *check_smtp_tls_new(const char *ca_file, char *err,
                                          size_t errlen)
{
    struct check_smtp_tls *t = calloc(1, sizeof(*t));
    const char *what = "credentials";
    int g = t != NULL ? gnutls_certificate_allocate_credentials(&t->cred)
                      : GNUTLS_E_MEMORY_ERROR;
    if (g >= 0) {
        what = "system trust store";
        g = gnutls_certificate_set_x509_system_trust(t->cred);
    }
    if (g >= 0 && ca_file != NULL) {
        what = ca_file;
        g = gnutls_certificate_set_x509_trust_file(t->cred, ca_file,
                                                   GNUTLS_X509_FMT_PEM);
        if (g == 0) {
            snprintf(err, errlen, "TLS setup: no CA certificate in %s",
                     ca_file);
            goto fail;
        }
    }
    if (g < 0) {
        snprintf(err, errlen, "TLS setup (%s): %s", what, gnutls_strerror(g));
        goto fail;
    }
    return t;
fail:
    check_smtp_tls_free(t);
    return NULL;
}

void check_smtp_tls_free(struct check_smtp_tls *t)
{
    if (t == NULL)
        return;
    if (t->cred != NULL)
        gnutls_certificate_free_credentials(t->cred);
    free(t);
}

/* session_setup makes the session (TLS 1.2 and 1.3, SNI of mx, the trust
 * of tls); -1 with err. */
static int session_setup(const char *mx, const struct check_smtp_tls *tls,
                         gnutls_session_t *s, char *err, size_t errlen)
{
    int g = gnutls_init(s, GNUTLS_CLIENT);
    if (g >= 0)
        g = gnutls_priority_set_direct(
            *s, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", NULL);
    if (g >= 0)
        g = gnutls_credentials_set(*s, GNUTLS_CRD_CERTIFICATE, tls->cred);
    if (g >= 0)
        g = gnutls_server_name_set(*s, GNUTLS_NAME_DNS, mx, strlen(mx));
    if (g < 0) {
        snprintf(err, errlen, "TLS setup (session): %s", gnutls_strerror(g));
        return -1;
    }
    return 0;
}

int check_smtp_probe(const char *mx, const char *addr, unsigned port,
                     const struct check_smtp_tls *tls,
                     const struct check_bound *b, struct check_smtp *out,
                     char *err, size_t errlen)
{
    struct conn c = {.fd = -1, .bound = b};
    struct check_smtp_reply r;
    gnutls_session_t s = NULL;
    int rc = -1, g;
    memset(out, 0, sizeof(*out));
    int64_t now = mono_ms();
    c.end = check_bound_end(b, now, CHECK_SMTP_TIMEOUT_MS);
    c.budget_ms = c.end > now ? c.end - now : 0;
    if (connect_to(&c, addr, port, err, errlen) < 0)
        goto out;
    if (read_reply(&c, "connecting", &r, err, errlen) < 0)
        goto out;
    if (r.code != 220) {
        snprintf(err, errlen, "the greeting is %d, expected 220", r.code);
        goto out;
    }
    if (command(&c, "EHLO " EHLO_NAME, 250, &r, err, errlen) < 0)
        goto out;
    out->starttls = r.starttls;
    if (!r.starttls) {
        rc = 0;
        goto out;
    }
    if (command(&c, "STARTTLS", 220, &r, err, errlen) < 0)
        goto out;
    if (c.len != 0) {
        /* Bytes before the handshake could be injected (CVE-2011-0411). */
        snprintf(err, errlen, "%s",
                 "the server sent bytes after its "
                 "STARTTLS reply, before the handshake");
        goto out;
    }
    if (session_setup(mx, tls, &s, err, errlen) < 0)
        goto out;
    /* Non-blocking: GnuTLS returns GNUTLS_E_AGAIN and the probe waits in
     * wait_io with what is left of its deadline. */
    gnutls_transport_set_int(s, c.fd);
    do {
        g = gnutls_handshake(s);
        if (g == GNUTLS_E_AGAIN &&
            wait_io(&c, gnutls_record_get_direction(s) ? POLLOUT : POLLIN,
                    "TLS handshake", err, errlen) < 0)
            goto out;
    } while (g < 0 && gnutls_error_is_fatal(g) == 0);
    if (g < 0) {
        snprintf(err, errlen, "TLS handshake (TLS 1.2 or later): %s",
                 gnutls_strerror(g));
        goto out;
    }
    snprintf(out->tls_version, sizeof(out->tls_version), "%s",
             gnutls_protocol_get_name(gnutls_protocol_get_version(s)));
    verify(s, mx, out);
    gnutls_bye(s, GNUTLS_SHUT_WR);
    rc = 0;
out:
    if (s != NULL)
        gnutls_deinit(s);
    if (c.fd >= 0)
        close(c.fd);
    return rc;
}
