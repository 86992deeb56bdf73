/*
 * acme_chal: the pending challenge answers (see acme_chal.h). Entries sit
 * in one array in the order they were put, searched linearly: the ACME
 * client keeps only the challenges of the orders in flight (a paced
 * queue), and lookups happen only for requests that ask for a challenge
 * (the HTTP-01 path, a ClientHello offering acme-tls/1), never on the
 * policy path. The TLS-ALPN-01 certificate is made with GnuTLS when the
 * answer is put, outside the lock. Shared answers are files of
 * ACME_STATE_CHALLENGES named by type, name and (HTTP-01) token, holding
 * the key authorization; a TLS-ALPN-01 certificate made from one is
 * cached in the array as a "shared" entry, which put, drop, pending and
 * the HTTP-01 lookup never see.
 */
#include "acme_chal.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <gnutls/x509-ext.h>

#include "acme_state.h"
#include "dnsname.h"
#include "readfile.h"

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
    bool shared;                 /* a certificate cached from a shared answer */
};

struct acme_chal {
    pthread_mutex_t lock;
    struct entry *v;
    size_t n, cap;
    char *dir; /* the shared answers, or NULL */
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
    free(t->dir);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int acme_chal_share(struct acme_chal *t, const char *state_dir)
{
    char dir[4096];
    if (acme_state_challenges_dir(state_dir, dir, sizeof(dir)) < 0 ||
        (t->dir = strdup(dir)) == NULL)
        return -1;
    return 0;
}

static const char *type_name(enum chal_type type)
{
    return type == CHAL_HTTP_01 ? "http-01" : "tls-alpn-01";
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

/* keyauth_ok: RFC 8555 §8.1, keyAuthorization = token || '.' ||
 * thumbprint, the token being 1 to ACME_CHAL_TOKEN_MAX base64url
 * characters. */
static bool keyauth_ok(const char *token, size_t tlen, const char *keyauth,
                       size_t klen)
{
    return tlen <= ACME_CHAL_TOKEN_MAX && base64url(token, tlen) &&
           klen <= ACME_CHAL_KEYAUTH_MAX && klen > tlen + 1 &&
           memcmp(keyauth, token, tlen) == 0 && keyauth[tlen] == '.' &&
           base64url(keyauth + tlen + 1, klen - tlen - 1);
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
        if (!t->v[i].shared && t->v[i].type == type &&
            strcmp(t->v[i].name, name) == 0 &&
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

/* append adds e at the end; -1 when the table is full or memory short.
 * Caller locks. */
static int append(struct acme_chal *t, const struct entry *e)
{
    if (t->n == ACME_CHAL_MAX)
        return -1;
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 8;
        struct entry *p = realloc(t->v, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        t->v = p;
        t->cap = ncap;
    }
    t->v[t->n++] = *e;
    return 0;
}

/* ---- the shared directory ---------------------------------------------- */

/* shared_path names the file of a shared answer: the type and name, and
 * for HTTP-01 the token (a TLS-ALPN-01 lookup knows only the name). Name
 * and token are checked before, so neither holds a '/'. */
static int shared_path(const struct acme_chal *t, enum chal_type type,
                       const char *name, const char *token, char *out,
                       size_t outlen)
{
    int n = type == CHAL_HTTP_01 ? snprintf(out, outlen, "%s/%s.%s.%s", t->dir,
                                            type_name(type), name, token)
                                 : snprintf(out, outlen, "%s/%s.%s", t->dir,
                                            type_name(type), name);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* sweep removes the answers left by a replica that died during an order. */
static void sweep(const struct acme_chal *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *de;
    struct stat sb;
    time_t old = time(NULL) - ACME_CHAL_STALE_SECONDS;
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb.st_mode) && sb.st_mtime < old)
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

/*
 * shared_read reads the shared answer of (type, name, token) into
 * keyauth; token is NULL for TLS-ALPN-01 (the file's own token is taken).
 * Returns its length, or -1 when there is none, it is stale, or it is not
 * "<token>.<thumbprint>" (of the token asked for).
 */
static int shared_read(const struct acme_chal *t, enum chal_type type,
                       const char *name, const char *token,
                       char keyauth[ACME_CHAL_KEYAUTH_MAX + 1])
{
    char path[4096], err[512];
    char *data = NULL;
    size_t len = 0;
    struct stat sb;
    int rc = -1;
    if (shared_path(t, type, name, token, path, sizeof(path)) < 0 ||
        lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode) ||
        sb.st_mtime < time(NULL) - ACME_CHAL_STALE_SECONDS ||
        readfile(path, ACME_CHAL_KEYAUTH_MAX, &data, &len, err, sizeof(err)) <
            0)
        goto out;
    const char *dot = memchr(data, '.', len);
    size_t tlen = token != NULL ? strlen(token)
                  : dot != NULL ? (size_t)(dot - data)
                                : 0;
    if (token != NULL && (len < tlen || memcmp(data, token, tlen) != 0))
        goto out;
    if (!keyauth_ok(data, tlen, data, len))
        goto out;
    memcpy(keyauth, data, len + 1);
    rc = (int)len;
out:
    free(data);
    return rc;
}

/* shared_write publishes e's answer for the other replicas. */
static int shared_write(const struct acme_chal *t, const struct entry *e,
                        char *err, size_t errlen)
{
    char path[4096];
    sweep(t);
    if (shared_path(t, e->type, e->name, e->token, path, sizeof(path)) < 0) {
        snprintf(err, errlen,
                 "%s challenge for %s: the shared path is too long",
                 type_name(e->type), e->name);
        return -1;
    }
    return acme_state_write(path, e->keyauth, strlen(e->keyauth), 0600, err,
                            errlen);
}

/* shared_remove withdraws e's shared answer: the TLS-ALPN-01 file of the
 * name only while it still holds this token (a later put replaced it). */
static void shared_remove(const struct acme_chal *t, enum chal_type type,
                          const char *name, const char *token)
{
    char path[4096], ka[ACME_CHAL_KEYAUTH_MAX + 1];
    if (type == CHAL_TLS_ALPN_01) {
        int klen = shared_read(t, type, name, NULL, ka);
        size_t tlen = strlen(token);
        if (klen < 0 || (size_t)klen <= tlen || memcmp(ka, token, tlen) != 0 ||
            ka[tlen] != '.')
            return;
    }
    if (shared_path(t, type, name, token, path, sizeof(path)) == 0)
        unlink(path);
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
    if (!keyauth_ok(token, tlen, keyauth, klen)) {
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
    /* On disk before the client tells the CA to validate, so that any
     * replica the validator reaches can answer. */
    if (t->dir != NULL && shared_write(t, &e, err, errlen) < 0)
        goto out;

    pthread_mutex_lock(&t->lock);
    size_t i = find(t, e.type, e.name, e.token);
    if (i < t->n)
        old = remove_at(t, i); /* put again: the new answer goes last */
    if (append(t, &e) < 0) {
        pthread_mutex_unlock(&t->lock);
        if (t->n == ACME_CHAL_MAX)
            snprintf(err, errlen,
                     "%s challenge for %s: %d challenges are pending already",
                     type, e.name, ACME_CHAL_MAX);
        else
            snprintf(err, errlen, "%s challenge for %s: out of memory", type,
                     e.name);
        if (t->dir != NULL)
            shared_remove(t, e.type, e.name, e.token);
        goto out;
    }
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
    if (t->dir != NULL && strlen(token) <= ACME_CHAL_TOKEN_MAX &&
        base64url(token, strlen(token)))
        shared_remove(t, ty, canon, token);
}

size_t acme_chal_pending(struct acme_chal *t)
{
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->n; i++)
        n += !t->v[i].shared;
    pthread_mutex_unlock(&t->lock);
    return n;
}

/* shared_name: whether a looked-up name (and token, when not NULL) may
 * name a file: a canonical host name, a base64url token. */
static bool shared_name(const char *name, const char *token)
{
    char canon[DNSNAME_MAX + 1], why[300];
    size_t tlen = token != NULL ? strlen(token) : 1;
    return canonical_name(name, canon, why, sizeof(why)) == 0 &&
           strcmp(canon, name) == 0 &&
           (token == NULL ||
            (tlen <= ACME_CHAL_TOKEN_MAX && base64url(token, tlen)));
}

/* cached_take finds name's cached shared certificate made from keyauth
 * and takes a reference; a cached one of another key authorization (or
 * any, when keyauth is NULL) is taken out into *stale. Caller locks. */
static struct acme_chal_cert *cached_take(struct acme_chal *t, const char *name,
                                          const char *keyauth,
                                          struct acme_chal_cert **stale)
{
    for (size_t i = 0; i < t->n; i++) {
        struct entry *e = &t->v[i];
        if (!e->shared || strcmp(e->name, name) != 0)
            continue;
        if (keyauth != NULL && strcmp(e->keyauth, keyauth) == 0) {
            atomic_fetch_add(&e->cert->refs, 1);
            return e->cert;
        }
        if (*stale == NULL)
            *stale = remove_at(t, i--);
    }
    return NULL;
}

/*
 * shared_tls answers a TLS-ALPN-01 handshake for name from the shared
 * directory: the file read each time (so a decided challenge is not
 * answered any more), the certificate made once per key authorization and
 * cached, at most ACME_CHAL_SHARED_CACHE of them.
 */
static struct acme_chal_cert *shared_tls(struct acme_chal *t, const char *name)
{
    char ka[ACME_CHAL_KEYAUTH_MAX + 1], err[512];
    struct acme_chal_cert *c = NULL, *stale = NULL, *made = NULL;
    int klen = shared_name(name, NULL)
                   ? shared_read(t, CHAL_TLS_ALPN_01, name, NULL, ka)
                   : -1;
    pthread_mutex_lock(&t->lock);
    c = cached_take(t, name, klen >= 0 ? ka : NULL, &stale);
    pthread_mutex_unlock(&t->lock);
    acme_chal_cert_release(stale);
    if (c != NULL || klen < 0 ||
        (made = make_cert(name, ka, err, sizeof(err))) == NULL)
        return c;

    struct entry e;
    memset(&e, 0, sizeof(e));
    e.type = CHAL_TLS_ALPN_01;
    e.shared = true;
    memcpy(e.name, name, strlen(name) + 1);
    memcpy(e.keyauth, ka, (size_t)klen + 1);
    memcpy(e.token, ka, (size_t)(strchr(ka, '.') - ka));
    e.cert = made;
    stale = NULL;
    size_t cached = 0, oldest = t->n;
    pthread_mutex_lock(&t->lock);
    /* Another handshake may have made one meanwhile. */
    c = cached_take(t, name, ka, &stale);
    for (size_t i = 0; c == NULL && i < t->n; i++)
        if (t->v[i].shared && cached++ == 0)
            oldest = i;
    if (c == NULL && stale == NULL && cached >= ACME_CHAL_SHARED_CACHE)
        stale = remove_at(t, oldest);
    if (c == NULL && append(t, &e) == 0) {
        atomic_fetch_add(&made->refs, 1);
        made = NULL;
        c = e.cert;
    }
    pthread_mutex_unlock(&t->lock);
    acme_chal_cert_release(stale);
    if (c == NULL) /* not cached: this handshake's alone */
        return made;
    acme_chal_cert_release(made);
    return c;
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
    if (len < 0 && t->dir != NULL && shared_name(name, token)) {
        char ka[ACME_CHAL_KEYAUTH_MAX + 1];
        int klen = shared_read(t, CHAL_HTTP_01, name, token, ka);
        if (klen >= 0 && (size_t)klen < outlen) {
            memcpy(out, ka, (size_t)klen + 1);
            len = klen;
        }
    }
    return len;
}

struct acme_chal_cert *acme_chal_tls_acquire(struct acme_chal *t,
                                             const char *name)
{
    struct acme_chal_cert *c = NULL;
    pthread_mutex_lock(&t->lock);
    for (size_t i = t->n; c == NULL && i-- > 0;)
        if (!t->v[i].shared && t->v[i].type == CHAL_TLS_ALPN_01 &&
            strcmp(t->v[i].name, name) == 0) {
            c = t->v[i].cert;
            atomic_fetch_add(&c->refs, 1);
        }
    pthread_mutex_unlock(&t->lock);
    return c == NULL && t->dir != NULL ? shared_tls(t, name) : c;
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
