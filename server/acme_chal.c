/*
 * acme_chal: the pending challenge answers (see acme_chal.h). Entries sit
 * in one array in the order they were put, searched linearly: the ACME
 * client keeps only the challenges of the orders in flight (a paced
 * queue), and lookups happen only for requests that ask for a challenge
 * (the HTTP-01 path, a ClientHello offering acme-tls/1), never on the
 * policy path. The TLS-ALPN-01 certificate is made with GnuTLS when the
 * answer is put, outside the lock.
 */
#include "acme_chal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <gnutls/x509-ext.h>

#include "dnsname.h"

/* RFC 8737 §6.1: id-pe-acmeIdentifier. */
#define ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31"
/* The certificate lives as long as a validation takes; a day of slack on
 * either side absorbs a validator's clock. */
#define CERT_SLACK_SECONDS (24 * 3600)
#define CERT_DAYS 7

enum chal_type { CHAL_HTTP_01, CHAL_TLS_ALPN_01 };

struct acme_chal_cert {
    atomic_uint refs;
    gnutls_pcert_st pcert;
    bool pcert_set;
    gnutls_privkey_t key;
};

struct entry {
    enum chal_type type;
    char name[DNSNAME_MAX + 1];
    char token[ACME_CHAL_TOKEN_MAX + 1];
    char keyauth[ACME_CHAL_KEYAUTH_MAX + 1];
    struct acme_chal_cert *cert; /* tls-alpn-01 only */
};

struct acme_chal {
    pthread_mutex_t lock;
    struct entry *v;
    size_t n, cap;
};

void acme_chal_cert_release(struct acme_chal_cert *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (c->pcert_set)
        gnutls_pcert_deinit(&c->pcert);
    gnutls_privkey_deinit(c->key);
    free(c);
}

struct acme_chal *acme_chal_new(void)
{
    struct acme_chal *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void acme_chal_free(struct acme_chal *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        acme_chal_cert_release(t->v[i].cert);
    free(t->v);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int type_of(const char *type, enum chal_type *out)
{
    if (type != NULL && strcmp(type, "http-01") == 0)
        *out = CHAL_HTTP_01;
    else if (type != NULL && strcmp(type, "tls-alpn-01") == 0)
        *out = CHAL_TLS_ALPN_01;
    else
        return -1;
    return 0;
}

static bool base64url(const char *s, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
            return false;
    return len > 0;
}

/* canonical_name brings name into the form lookups use, or explains. */
static int canonical_name(const char *name, char out[DNSNAME_MAX + 1],
                          char *err, size_t errlen)
{
    char why[256];
    size_t len = name != NULL ? strlen(name) : 0;
    if (dnsname_normalize(name != NULL ? name : "", len, out, DNSNAME_MAX + 1) <
            0 ||
        dnsname_check(out, strlen(out), DNSNAME_DOMAIN, NULL, why,
                      sizeof(why)) < 0) {
        snprintf(err, errlen, "challenge for \"%.*s\": not a host name",
                 (int)(len > 255 ? 255 : len), name != NULL ? name : "");
        return -1;
    }
    return 0;
}

/* ext_identifier encodes the acmeIdentifier extension's value: the DER
 * OCTET STRING of the SHA-256 digest of the key authorization (RFC 8737
 * §3). A subjectKeyIdentifier is that same ASN.1 type, so GnuTLS's
 * encoder for it writes exactly these bytes. */
static int ext_identifier(const char *keyauth, gnutls_datum_t *der)
{
    unsigned char digest[32];
    int rc =
        gnutls_hash_fast(GNUTLS_DIG_SHA256, keyauth, strlen(keyauth), digest);
    if (rc < 0)
        return rc;
    gnutls_datum_t id = {digest, sizeof(digest)};
    return gnutls_x509_ext_export_subject_key_id(&id, der);
}

/*
 * make_cert makes the TLS-ALPN-01 certificate for name (RFC 8737 §3): a
 * fresh ECDSA P-256 key, self-signed, the name as its only subjectAltName,
 * and the critical acmeIdentifier extension. Returns NULL with err filled.
 */
static struct acme_chal_cert *make_cert(const char *name, const char *keyauth,
                                        char *err, size_t errlen)
{
    struct acme_chal_cert *c = NULL, *ret = NULL;
    gnutls_x509_privkey_t xkey = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t ext = {NULL, 0};
    unsigned char serial[16];
    const char *step = "allocating";
    int rc = GNUTLS_E_MEMORY_ERROR;
    time_t now = time(NULL);

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto out;
    atomic_init(&c->refs, 1);
    step = "generating the key";
    if ((rc = gnutls_x509_privkey_init(&xkey)) < 0 ||
        (rc = gnutls_x509_privkey_generate(
             xkey, GNUTLS_PK_ECDSA,
             GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0)
        goto out;
    step = "making the certificate";
    /* A positive serial of 127 random bits (RFC 5280 §4.1.2.2). */
    if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
        goto out;
    serial[0] &= 0x7f;
    if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
        (rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
        (rc = gnutls_x509_crt_set_activation_time(
             crt, now - CERT_SLACK_SECONDS)) < 0 ||
        (rc = gnutls_x509_crt_set_expiration_time(crt, now + CERT_DAYS * 24 *
                                                                 3600)) < 0 ||
        (rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                            name, strlen(name))) < 0 ||
        (rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME,
                                                   name, (unsigned)strlen(name),
                                                   GNUTLS_FSAN_SET)) < 0 ||
        (rc = gnutls_x509_crt_set_key(crt, xkey)) < 0)
        goto out;
    step = "adding the acmeIdentifier extension";
    if ((rc = ext_identifier(keyauth, &ext)) < 0 ||
        (rc = gnutls_x509_crt_set_extension_by_oid(crt, ACME_IDENTIFIER_OID,
                                                   ext.data, ext.size, 1)) < 0)
        goto out;
    step = "signing the certificate";
    if ((rc = gnutls_x509_crt_sign2(crt, crt, xkey, GNUTLS_DIG_SHA256, 0)) < 0)
        goto out;
    step = "preparing the credentials";
    if ((rc = gnutls_pcert_import_x509(&c->pcert, crt, 0)) < 0)
        goto out;
    c->pcert_set = true;
    if ((rc = gnutls_privkey_init(&c->key)) < 0 ||
        (rc = gnutls_privkey_import_x509(c->key, xkey,
                                         GNUTLS_PRIVKEY_IMPORT_COPY)) < 0)
        goto out;
    ret = c;
    c = NULL;
out:
    if (ret == NULL)
        snprintf(err, errlen, "tls-alpn-01 certificate for %s: %s: %s", name,
                 step, gnutls_strerror(rc));
    acme_chal_cert_release(c);
    gnutls_free(ext.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(xkey);
    return ret;
}

/* find returns the index of (type, name, token) or t->n; caller locks. */
static size_t find(const struct acme_chal *t, enum chal_type type,
                   const char *name, const char *token)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].type == type && strcmp(t->v[i].name, name) == 0 &&
            strcmp(t->v[i].token, token) == 0)
            return i;
    return t->n;
}

/* remove_at takes entry i out, keeping the order of the others; caller
 * locks and releases the certificate it returns. */
static struct acme_chal_cert *remove_at(struct acme_chal *t, size_t i)
{
    struct acme_chal_cert *c = t->v[i].cert;
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(t->v[0]));
    t->n--;
    return c;
}

int acme_chal_put(struct acme_chal *t, const char *type, const char *name,
                  const char *token, const char *keyauth, char *err,
                  size_t errlen)
{
    struct entry e;
    struct acme_chal_cert *old = NULL;
    int rc = -1;

    memset(&e, 0, sizeof(e));
    if (type_of(type, &e.type) < 0) {
        snprintf(err, errlen,
                 "challenge type \"%.32s\": expected http-01 or tls-alpn-01",
                 type != NULL ? type : "");
        goto out;
    }
    if (canonical_name(name, e.name, err, errlen) < 0)
        goto out;
    size_t tlen = token != NULL ? strlen(token) : 0;
    if (tlen > ACME_CHAL_TOKEN_MAX || !base64url(token, tlen)) {
        snprintf(err, errlen,
                 "%s challenge for %s: the token is not 1 to %d base64url "
                 "characters",
                 type, e.name, ACME_CHAL_TOKEN_MAX);
        goto out;
    }
    size_t klen = keyauth != NULL ? strlen(keyauth) : 0;
    /* RFC 8555 §8.1: keyAuthorization = token || '.' || thumbprint. */
    if (klen > ACME_CHAL_KEYAUTH_MAX || klen <= tlen + 1 ||
        memcmp(keyauth, token, tlen) != 0 || keyauth[tlen] != '.' ||
        !base64url(keyauth + tlen + 1, klen - tlen - 1)) {
        snprintf(err, errlen,
                 "%s challenge for %s: the key authorization is not "
                 "\"<token>.<base64url thumbprint>\"",
                 type, e.name);
        goto out;
    }
    memcpy(e.token, token, tlen + 1);
    memcpy(e.keyauth, keyauth, klen + 1);
    if (e.type == CHAL_TLS_ALPN_01 &&
        (e.cert = make_cert(e.name, keyauth, err, errlen)) == NULL)
        goto out;

    pthread_mutex_lock(&t->lock);
    size_t i = find(t, e.type, e.name, e.token);
    if (i < t->n)
        old = remove_at(t, i); /* put again: the new answer goes last */
    if (t->n == ACME_CHAL_MAX) {
        pthread_mutex_unlock(&t->lock);
        snprintf(err, errlen,
                 "%s challenge for %s: %d challenges are pending already", type,
                 e.name, ACME_CHAL_MAX);
        goto out;
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 8;
        struct entry *p = realloc(t->v, ncap * sizeof(*p));
        if (p == NULL) {
            pthread_mutex_unlock(&t->lock);
            snprintf(err, errlen, "%s challenge for %s: out of memory", type,
                     e.name);
            goto out;
        }
        t->v = p;
        t->cap = ncap;
    }
    t->v[t->n++] = e;
    e.cert = NULL;
    pthread_mutex_unlock(&t->lock);
    rc = 0;
out:
    acme_chal_cert_release(old);
    acme_chal_cert_release(e.cert);
    return rc;
}

void acme_chal_drop(struct acme_chal *t, const char *type, const char *name,
                    const char *token)
{
    enum chal_type ty;
    char canon[DNSNAME_MAX + 1], why[300];
    struct acme_chal_cert *old = NULL;
    if (t == NULL || token == NULL || type_of(type, &ty) < 0 ||
        canonical_name(name, canon, why, sizeof(why)) < 0)
        return;
    pthread_mutex_lock(&t->lock);
    size_t i = find(t, ty, canon, token);
    if (i < t->n)
        old = remove_at(t, i);
    pthread_mutex_unlock(&t->lock);
    acme_chal_cert_release(old);
}

size_t acme_chal_pending(struct acme_chal *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->n;
    pthread_mutex_unlock(&t->lock);
    return n;
}

int acme_chal_http_lookup(void *ctx, const char *name, const char *token,
                          char *out, size_t outlen)
{
    struct acme_chal *t = ctx;
    int len = -1;
    pthread_mutex_lock(&t->lock);
    size_t i = find(t, CHAL_HTTP_01, name, token);
    if (i < t->n) {
        size_t klen = strlen(t->v[i].keyauth);
        if (klen < outlen) {
            memcpy(out, t->v[i].keyauth, klen + 1);
            len = (int)klen;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return len;
}

struct acme_chal_cert *acme_chal_tls_acquire(struct acme_chal *t,
                                             const char *name)
{
    struct acme_chal_cert *c = NULL;
    pthread_mutex_lock(&t->lock);
    for (size_t i = t->n; c == NULL && i-- > 0;)
        if (t->v[i].type == CHAL_TLS_ALPN_01 &&
            strcmp(t->v[i].name, name) == 0) {
            c = t->v[i].cert;
            atomic_fetch_add(&c->refs, 1);
        }
    pthread_mutex_unlock(&t->lock);
    return c;
}

void acme_chal_cert_credentials(const struct acme_chal_cert *c,
                                gnutls_pcert_st **pcert,
                                unsigned int *pcert_length,
                                gnutls_privkey_t *pkey)
{
    /* GnuTLS takes these as non-const but only reads them. */
    *pcert = (gnutls_pcert_st *)&c->pcert;
    *pcert_length = 1;
    *pkey = c->key;
}
