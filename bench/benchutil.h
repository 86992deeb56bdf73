/*
 * benchutil: the small pieces the benchmark tools (tlsload.c, scaletool.c)
 * share: clocks, strict number arguments, a loopback TCP connection with
 * timeouts, a TLS client session on it. Header-only (static functions):
 * each tool is one compiled file, built by its script.
 */
#ifndef MTA_STS_BENCHUTIL_H
#define MTA_STS_BENCHUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* mono is the monotonic clock in seconds. */
static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* num parses s as a whole number in [lo, hi], or calls usage. */
static long num(const char *s, long lo, long hi, void (*usage)(void))
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        usage();
    return v;
}

/* tcp_connect connects to 127.0.0.1:port with Nagle off and 5 s send and
 * receive timeouts; -1 on failure. */
static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* tls_connect connects to 127.0.0.1:port and does the handshake for sni
 * with cred, under prio (NULL: GnuTLS's default), offering resume's
 * session when it holds one, and verifying the certificate for sni when
 * verify is set. Returns the session (its socket in *fdp) or NULL. */
static gnutls_session_t tls_connect(int port,
                                    gnutls_certificate_credentials_t cred,
                                    gnutls_priority_t prio, const char *sni,
                                    int verify, const gnutls_datum_t *resume,
                                    int *fdp)
{
    gnutls_session_t s = NULL;
    int fd = tcp_connect(port);
    if (fd < 0)
        return NULL;
    if (gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL) < 0)
        goto fail;
    if ((prio != NULL ? gnutls_priority_set(s, prio)
                      : gnutls_set_default_priority(s)) < 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
        gnutls_server_name_set(s, GNUTLS_NAME_DNS, sni, strlen(sni)) < 0)
        goto fail;
    if (resume != NULL && resume->size > 0 &&
        gnutls_session_set_data(s, resume->data, resume->size) < 0)
        goto fail;
    if (verify)
        gnutls_session_set_verify_cert(s, sni, 0);
    gnutls_transport_set_int(s, fd);
    gnutls_handshake_set_timeout(s, 5000);
    int rc;
    do {
        rc = gnutls_handshake(s);
    } while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    if (rc < 0)
        goto fail;
    *fdp = fd;
    return s;
fail:
    if (s != NULL)
        gnutls_deinit(s);
    close(fd);
    return NULL;
}

/* http_get sends one GET of path for host (the User-Agent agent) and reads
 * the whole response into buf (NUL terminated, *lenp bytes, its head
 * *headp bytes). Returns the status code, or -1. */
static int http_get(gnutls_session_t s, const char *path, const char *host,
                    const char *agent, int keepalive, char *buf, size_t cap,
                    size_t *lenp, size_t *headp)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
                     "Connection: %s\r\n\r\n",
                     path, host, agent, keepalive ? "keep-alive" : "close");
    if (n < 0 || (size_t)n >= sizeof req)
        return -1;
    ssize_t w;
    do {
        w = gnutls_record_send(s, req, (size_t)n);
    } while (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED);
    if (w != n)
        return -1;
    size_t len = 0, need = 0, head = 0;
    for (;;) {
        if (len + 1 >= cap)
            return -1;
        ssize_t r = gnutls_record_recv(s, buf + len, cap - 1 - len);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        if (need == 0) {
            char *eoh = strstr(buf, "\r\n\r\n");
            if (eoh == NULL)
                continue;
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            if (cl == NULL || cl > eoh)
                return -1;
            head = (size_t)(eoh + 4 - buf);
            need = head + strtoul(cl + 17, NULL, 10);
        }
        if (len >= need)
            break;
    }
    *lenp = len;
    *headp = head;
    if (strncmp(buf, "HTTP/1.", 7) != 0 || len < 12)
        return -1;
    return (int)strtol(buf + 9, NULL, 10);
}

#endif
