/*
 * check_smtp: `check`'s STARTTLS probe of one MX address: greeting, EHLO,
 * STARTTLS, then a GnuTLS handshake (TLS 1.2 and 1.3 only, SNI of the MX
 * name) and the certificate verified for the MX name. The SMTP replies are
 * read by check_parse; the socket has one deadline for the whole dialogue.
 * Prints nothing. Blocking; main thread (`check`) or a check thread
 * of `serve`.
 */
#include "check_smtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "check_parse.h"

#define REPLY_MAX 4096
#define EHLO_NAME "mta-sts-host.invalid"

struct conn {
    int fd;
    char buf[REPLY_MAX];
    size_t len;
};

/* connect_to opens a TCP connection within the timeout; -1 with err. */
static int connect_to(const char *addr, unsigned port, char *err, size_t errlen)
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
    int rc = connect(fd, (struct sockaddr *)&ss, sl), soerr = 0;
    socklen_t el = sizeof(soerr);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (rc < 0 && errno == EINPROGRESS) {
        int pr = poll(&p, 1, CHECK_SMTP_TIMEOUT_MS);
        if (pr == 0)
            soerr = ETIMEDOUT;
        else if (pr < 0 ||
                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) < 0)
            soerr = errno;
    } else if (rc < 0) {
        soerr = errno;
    }
    if (soerr != 0) {
        snprintf(err, errlen, "connect to %s port %u: %s", addr, port,
                 strerror(soerr));
        close(fd);
        return -1;
    }
    /* Blocking from here on, each read and write bounded. */
    struct timeval tv = {CHECK_SMTP_TIMEOUT_MS / 1000, 0};
    if (fcntl(fd, F_SETFL, 0) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
        snprintf(err, errlen, "socket options: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
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
    if (write(c->fd, cmd, n + 2) != (ssize_t)(n + 2)) {
        snprintf(err, errlen, "sending %s: %s", line, strerror(errno));
        return -1;
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

/* tls_setup makes the client credentials (system trust plus ca_file) and
 * session (TLS 1.2 and 1.3, SNI of mx); -1 with err. */
static int tls_setup(const char *mx, const char *ca_file,
                     gnutls_certificate_credentials_t *cred,
                     gnutls_session_t *s, char *err, size_t errlen)
{
    const char *what = "credentials";
    int g = gnutls_certificate_allocate_credentials(cred);
    if (g >= 0) {
        what = "system trust store";
        g = gnutls_certificate_set_x509_system_trust(*cred);
    }
    if (g >= 0 && ca_file != NULL) {
        what = ca_file;
        g = gnutls_certificate_set_x509_trust_file(*cred, ca_file,
                                                   GNUTLS_X509_FMT_PEM);
        if (g == 0) {
            snprintf(err, errlen, "TLS setup: no CA certificate in %s",
                     ca_file);
            return -1;
        }
    }
    if (g >= 0) {
        what = "session";
        g = gnutls_init(s, GNUTLS_CLIENT);
    }
    if (g >= 0)
        g = gnutls_priority_set_direct(
            *s, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", NULL);
    if (g >= 0)
        g = gnutls_credentials_set(*s, GNUTLS_CRD_CERTIFICATE, *cred);
    if (g >= 0)
        g = gnutls_server_name_set(*s, GNUTLS_NAME_DNS, mx, strlen(mx));
    if (g < 0) {
        snprintf(err, errlen, "TLS setup (%s): %s", what, gnutls_strerror(g));
        return -1;
    }
    return 0;
}

int check_smtp_probe(const char *mx, const char *addr, unsigned port,
                     const char *ca_file, struct check_smtp *out, char *err,
                     size_t errlen)
{
    struct conn c = {.fd = -1};
    struct check_smtp_reply r;
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_session_t s = NULL;
    int rc = -1, g;
    memset(out, 0, sizeof(*out));
    if ((c.fd = connect_to(addr, port, err, errlen)) < 0)
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
    if (tls_setup(mx, ca_file, &cred, &s, err, errlen) < 0)
        goto out;
    gnutls_transport_set_int(s, c.fd);
    gnutls_handshake_set_timeout(s, CHECK_SMTP_TIMEOUT_MS);
    do
        g = gnutls_handshake(s);
    while (g < 0 && gnutls_error_is_fatal(g) == 0);
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
    if (cred != NULL)
        gnutls_certificate_free_credentials(cred);
    if (c.fd >= 0)
        close(c.fd);
    return rc;
}
