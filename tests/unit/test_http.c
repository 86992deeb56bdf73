/*
 * Tests of http's ACME answers, in process: the real store and http
 * modules serve a policy directory on two loopback ports with a challenge
 * table handed over (http_set_acme_chal), as `serve` does with ACME on,
 * and real clients ask: a plain socket for HTTP-01, a GnuTLS client
 * offering only acme-tls/1 for TLS-ALPN-01. The ACME client that fills the
 * table in production is not here; the test puts the answers itself. It
 * checks what a validator checks (RFC 8555 §8.3, RFC 8737 §3): the exact
 * key authorization; acme-tls/1 negotiated, the name as the only SAN, the
 * critical acmeIdentifier with the digest of the key authorization; no HTTP
 * on that connection; and that ordinary clients and unknown names never
 * get a challenge answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "acme_chal.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "store.h"

#define NAME "mta-sts.example.com"
#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define KEYAUTH TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

struct fixture {
    char dir[64];
    unsigned short https_port, http_port;
    struct config *cfg;
    struct logger lg;
    struct store *st;
    struct http *h;
    struct acme_chal *chal;
};

/* A port nothing listens on now (bound once and let go). */
static unsigned short some_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static char *listen_at(unsigned short port)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "127.0.0.1:%u", port);
    char *s = strdup(buf);
    assert_non_null(s);
    return s;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char path[128], err[256];
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_http.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/policy", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/policy/mta-sts.txt", f->dir);
    FILE *p = fopen(path, "w");
    assert_non_null(p);
    fputs("version: STSv1\nmode: enforce\nmx: mx.example.com\n"
          "max_age: 604800\n",
          p);
    assert_int_equal(fclose(p), 0);

    f->cfg = config_new_default();
    assert_non_null(f->cfg);
    struct config *c = f->cfg;
    free(c->policy_dir);
    free(c->cert_dir);
    free(c->https_listen);
    free(c->http_listen);
    snprintf(path, sizeof(path), "%s/policy", f->dir);
    c->policy_dir = strdup(path);
    snprintf(path, sizeof(path), "%s/certs", f->dir); /* none: dev pair */
    c->cert_dir = strdup(path);
    f->https_port = some_port();
    f->http_port = some_port();
    c->https_listen = listen_at(f->https_port);
    c->http_listen = listen_at(f->http_port);
    c->domains = calloc(1, sizeof(*c->domains));
    assert_non_null(c->domains);
    c->domains[0] = strdup("example.com");
    c->n_domains = 1;
    c->acme = true;
    c->acme_agree_tos = true;
    c->threads = 1;
    c->access_log = false;
    log_init(&f->lg, LOG_FORMAT_TEXT, LOG_LEVEL_ERROR, false);

    f->st = store_new(c, &f->lg);
    assert_non_null(f->st);
    f->h = http_new(c, &f->lg, f->st);
    assert_non_null(f->h);
    f->chal = acme_chal_new();
    assert_non_null(f->chal);
    http_set_acme_chal(f->h, f->chal);
    assert_int_equal(store_reload(f->st), 0);
    if (http_start(f->h, err, sizeof(err)) < 0)
        fail_msg("http_start: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    http_free(f->h);
    acme_chal_free(f->chal);
    store_free(f->st);
    config_free(f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static int connect_to(unsigned short port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* http_get sends one request on plain HTTP and returns the whole answer
 * (the connection is closed by the request). */
static char *http_get(const struct fixture *f, const char *method,
                      const char *host, const char *path)
{
    char req[512];
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    int fd = connect_to(f->http_port);
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     method, path, host);
    assert_int_equal(write(fd, req, (size_t)n), n);
    for (;;) {
        ssize_t r = read(fd, out + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        assert_true(len < cap - 1);
    }
    out[len] = '\0';
    close(fd);
    return out;
}

static void test_http_01(void **state)
{
    struct fixture *f = *state;
    char err[256];
    char *a = http_get(f, "GET", NAME, "/.well-known/acme-challenge/" TOKEN);
    assert_non_null(strstr(a, "HTTP/1.1 404"));
    free(a);
    assert_int_equal(acme_chal_put(f->chal, "http-01", NAME, TOKEN, KEYAUTH,
                                   err, sizeof(err)),
                     0);
    a = http_get(f, "GET", "MTA-STS.example.com:80",
                 "/.well-known/acme-challenge/" TOKEN);
    assert_non_null(strstr(a, "HTTP/1.1 200"));
    assert_non_null(strstr(a, "Content-Type: application/octet-stream\r\n"));
    const char *body = strstr(a, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, KEYAUTH);
    free(a);
    /* Another host, another token, POST: no answer. */
    a = http_get(f, "GET", "mta-sts.example.org",
                 "/.well-known/acme-challenge/" TOKEN);
    assert_null(strstr(a, KEYAUTH));
    free(a);
    a = http_get(f, "GET", NAME, "/.well-known/acme-challenge/other");
    assert_non_null(strstr(a, "HTTP/1.1 404"));
    free(a);
    a = http_get(f, "POST", NAME, "/.well-known/acme-challenge/" TOKEN);
    assert_non_null(strstr(a, "HTTP/1.1 405"));
    free(a);
    /* Everything else still goes to HTTPS. */
    a = http_get(f, "GET", NAME, "/.well-known/mta-sts.txt");
    assert_non_null(strstr(a, "HTTP/1.1 301"));
    free(a);
    acme_chal_drop(f->chal, "http-01", NAME, TOKEN);
    a = http_get(f, "GET", NAME, "/.well-known/acme-challenge/" TOKEN);
    assert_non_null(strstr(a, "HTTP/1.1 404"));
    free(a);
}

struct tls_client {
    int fd;
    gnutls_session_t s;
    gnutls_certificate_credentials_t cred;
};

/* tls_connect shakes hands for sni offering alpn only; returns the
 * handshake's result. */
static int tls_connect(const struct fixture *f, struct tls_client *c,
                       const char *sni, const char *alpn)
{
    gnutls_datum_t proto = {(unsigned char *)alpn, (unsigned)strlen(alpn)};
    c->fd = connect_to(f->https_port);
    assert_int_equal(gnutls_certificate_allocate_credentials(&c->cred), 0);
    assert_int_equal(gnutls_init(&c->s, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_set_default_priority(c->s), 0);
    assert_int_equal(
        gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, c->cred), 0);
    assert_int_equal(
        gnutls_server_name_set(c->s, GNUTLS_NAME_DNS, sni, strlen(sni)), 0);
    assert_int_equal(gnutls_alpn_set_protocols(c->s, &proto, 1, 0), 0);
    gnutls_transport_set_int(c->s, c->fd);
    gnutls_handshake_set_timeout(c->s, 10000);
    int rc;
    do
        rc = gnutls_handshake(c->s);
    while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    return rc;
}

static void tls_close(struct tls_client *c)
{
    gnutls_deinit(c->s);
    gnutls_certificate_free_credentials(c->cred);
    close(c->fd);
}

/* peer_crt parses the certificate the server sent. */
static gnutls_x509_crt_t peer_crt(const struct tls_client *c)
{
    unsigned n = 0;
    const gnutls_datum_t *der = gnutls_certificate_get_peers(c->s, &n);
    gnutls_x509_crt_t crt;
    assert_non_null(der);
    assert_true(n >= 1);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &der[0], GNUTLS_X509_FMT_DER),
                     0);
    return crt;
}

static void test_tls_alpn_01(void **state)
{
    struct fixture *f = *state;
    struct tls_client c;
    char err[256];

    /* Nothing pending: acme-tls/1 is refused, never the policy pair. */
    assert_true(tls_connect(f, &c, NAME, "acme-tls/1") < 0);
    tls_close(&c);

    assert_int_equal(acme_chal_put(f->chal, "tls-alpn-01", NAME, TOKEN, KEYAUTH,
                                   err, sizeof(err)),
                     0);
    assert_int_equal(tls_connect(f, &c, NAME, "acme-tls/1"), 0);
    gnutls_datum_t sel = {NULL, 0};
    assert_int_equal(gnutls_alpn_get_selected_protocol(c.s, &sel), 0);
    assert_int_equal(sel.size, 10);
    assert_memory_equal(sel.data, "acme-tls/1", 10);
    gnutls_x509_crt_t crt = peer_crt(&c);
    char san[256];
    size_t san_len = sizeof(san);
    assert_int_equal(
        gnutls_x509_crt_get_subject_alt_name(crt, 0, san, &san_len, NULL),
        GNUTLS_SAN_DNSNAME);
    assert_string_equal(san, NAME);
    san_len = sizeof(san);
    assert_true(
        gnutls_x509_crt_get_subject_alt_name(crt, 1, san, &san_len, NULL) < 0);
    unsigned char ext[64], digest[32];
    size_t ext_len = sizeof(ext);
    unsigned critical = 0;
    assert_int_equal(
        gnutls_x509_crt_get_extension_by_oid(crt, "1.3.6.1.5.5.7.1.31", 0, ext,
                                             &ext_len, &critical),
        0);
    assert_int_equal(critical, 1);
    assert_int_equal(
        gnutls_hash_fast(GNUTLS_DIG_SHA256, KEYAUTH, strlen(KEYAUTH), digest),
        0);
    assert_int_equal(ext_len, 34);
    assert_memory_equal(ext, "\x04\x20", 2);
    assert_memory_equal(ext + 2, digest, 32);
    gnutls_x509_crt_deinit(crt);
    /* No HTTP on that connection: a request gets no answer, the
     * connection just ends. */
    static const char req[] = "GET /.well-known/mta-sts.txt HTTP/1.1\r\n"
                              "Host: " NAME "\r\n\r\n";
    gnutls_record_send(c.s, req, sizeof(req) - 1);
    char buf[256];
    ssize_t r;
    do
        r = gnutls_record_recv(c.s, buf, sizeof(buf));
    while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
    assert_true(r <= 0);
    tls_close(&c);

    /* An ordinary client gets the policy certificate, not the challenge
     * one, and its HTTP answered. */
    assert_int_equal(tls_connect(f, &c, NAME, "http/1.1"), 0);
    crt = peer_crt(&c);
    ext_len = sizeof(ext);
    assert_true(gnutls_x509_crt_get_extension_by_oid(
                    crt, "1.3.6.1.5.5.7.1.31", 0, ext, &ext_len, NULL) < 0);
    gnutls_x509_crt_deinit(crt);
    gnutls_record_send(c.s, req, sizeof(req) - 1);
    do
        r = gnutls_record_recv(c.s, buf, sizeof(buf) - 1);
    while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
    assert_true(r > 12);
    assert_memory_equal(buf, "HTTP/1.1 200", 12);
    tls_close(&c);

    /* Another name has nothing pending; a dropped challenge is gone. */
    assert_true(tls_connect(f, &c, "mta-sts.example.net", "acme-tls/1") < 0);
    tls_close(&c);
    acme_chal_drop(f->chal, "tls-alpn-01", NAME, TOKEN);
    assert_true(tls_connect(f, &c, NAME, "acme-tls/1") < 0);
    tls_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_01, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_alpn_01, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
