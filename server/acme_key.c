/*
 * acme_key: ACME keys, their JWK and thumbprint, and base64url (see
 * acme_key.h). GnuTLS does the cryptography and the PEM, jansson writes
 * the JWK's JSON; this file only chooses and glues. No I/O, no globals.
 */
#include "acme_key.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <jansson.h>

#define P256_COORD 32
#define RSA_BITS 2048

struct acme_key {
    enum acme_key_type type;
    gnutls_privkey_t priv;
    gnutls_pubkey_t pub;
};

const char *acme_key_type_name(enum acme_key_type t)
{
    return t == ACME_KEY_RSA_2048 ? "rsa-2048" : "ecdsa-p256";
}

void acme_key_free(struct acme_key *k)
{
    if (k == NULL)
        return;
    gnutls_pubkey_deinit(k->pub);
    gnutls_privkey_deinit(k->priv);
    free(k);
}

/* wrap takes over priv, derives its public half and checks its kind. */
static struct acme_key *wrap(gnutls_privkey_t priv, char *err, size_t errlen)
{
    struct acme_key *k = calloc(1, sizeof(*k));
    unsigned bits = 0;
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    int rc;
    if (k == NULL) {
        gnutls_privkey_deinit(priv);
        snprintf(err, errlen, "%s", "out of memory");
        return NULL;
    }
    k->priv = priv;
    if ((rc = gnutls_pubkey_init(&k->pub)) < 0 ||
        (rc = gnutls_pubkey_import_privkey(k->pub, priv, 0, 0)) < 0) {
        snprintf(err, errlen, "cannot take the public key: %s",
                 gnutls_strerror(rc));
        goto fail;
    }
    int pk = gnutls_pubkey_get_pk_algorithm(k->pub, &bits);
    if (pk == GNUTLS_PK_ECDSA &&
        gnutls_pubkey_export_ecc_raw2(k->pub, &curve, NULL, NULL, 0) == 0 &&
        curve == GNUTLS_ECC_CURVE_SECP256R1) {
        k->type = ACME_KEY_ECDSA_P256;
    } else if (pk == GNUTLS_PK_RSA && bits == RSA_BITS) {
        k->type = ACME_KEY_RSA_2048;
    } else {
        snprintf(err, errlen,
                 "expected an ECDSA P-256 or RSA-2048 key, found %s "
                 "(%u bits)",
                 gnutls_pk_get_name((gnutls_pk_algorithm_t)pk), bits);
        goto fail;
    }
    return k;
fail:
    acme_key_free(k);
    return NULL;
}

struct acme_key *acme_key_generate(enum acme_key_type t, char *err,
                                   size_t errlen)
{
    gnutls_privkey_t priv = NULL;
    int rc = gnutls_privkey_init(&priv);
    if (rc >= 0) {
        if (t == ACME_KEY_RSA_2048)
            rc = gnutls_privkey_generate(priv, GNUTLS_PK_RSA, RSA_BITS, 0);
        else
            rc = gnutls_privkey_generate(
                priv, GNUTLS_PK_ECDSA,
                GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot generate an %s key: %s",
                 acme_key_type_name(t), gnutls_strerror(rc));
        gnutls_privkey_deinit(priv);
        return NULL;
    }
    return wrap(priv, err, errlen);
}

struct acme_key *acme_key_from_pem(const char *pem, size_t len, char *err,
                                   size_t errlen)
{
    gnutls_x509_privkey_t x = NULL;
    gnutls_privkey_t priv = NULL;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
    int rc;
    if (len > UINT32_MAX) {
        snprintf(err, errlen, "%s", "the key file is too large");
        return NULL;
    }
    if ((rc = gnutls_x509_privkey_init(&x)) < 0 ||
        (rc = gnutls_x509_privkey_import2(x, &d, GNUTLS_X509_FMT_PEM, NULL,
                                          0)) < 0) {
        snprintf(err, errlen, "expected a PEM private key: %s",
                 gnutls_strerror(rc));
        goto fail;
    }
    if ((rc = gnutls_privkey_init(&priv)) < 0 ||
        (rc = gnutls_privkey_import_x509(
             priv, x, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0) {
        snprintf(err, errlen, "cannot use the private key: %s",
                 gnutls_strerror(rc));
        goto fail;
    }
    return wrap(priv, err, errlen);
fail:
    gnutls_privkey_deinit(priv);
    gnutls_x509_privkey_deinit(x);
    return NULL;
}

int acme_key_pem(const struct acme_key *k, struct buf *out, char *err,
                 size_t errlen)
{
    gnutls_x509_privkey_t x = NULL;
    gnutls_datum_t pem = {NULL, 0};
    int rc = gnutls_privkey_export_x509(k->priv, &x);
    if (rc >= 0)
        rc = gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL,
                                               GNUTLS_PKCS_PLAIN, &pem);
    if (rc < 0)
        snprintf(err, errlen, "cannot write the key as PEM: %s",
                 gnutls_strerror(rc));
    else if ((rc = buf_append(out, pem.data, pem.size)) < 0)
        snprintf(err, errlen, "%s", "out of memory");
    gnutls_free(pem.data);
    gnutls_x509_privkey_deinit(x);
    return rc < 0 ? -1 : 0;
}

enum acme_key_type acme_key_kind(const struct acme_key *k)
{
    return k->type;
}

gnutls_privkey_t acme_key_privkey(const struct acme_key *k)
{
    return k->priv;
}

gnutls_pubkey_t acme_key_pubkey(const struct acme_key *k)
{
    return k->pub;
}

int acme_b64url(const void *data, size_t len, struct buf *out)
{
    gnutls_datum_t in = {(unsigned char *)data, (unsigned)len}, b64;
    if (len > UINT32_MAX / 2 || gnutls_base64_encode2(&in, &b64) < 0)
        return -1;
    /* RFC 4648 §5: the URL-safe alphabet, and no padding. */
    size_t n = b64.size;
    while (n > 0 && b64.data[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        if (b64.data[i] == '+')
            b64.data[i] = '-';
        else if (b64.data[i] == '/')
            b64.data[i] = '_';
    }
    int rc = buf_append(out, b64.data, n);
    gnutls_free(b64.data);
    return rc;
}

bool acme_is_b64url(const char *s, size_t n)
{
    return n > 0 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                              "vwxyz0123456789-_") >= n;
}

int acme_b64url_decode(const char *s, size_t len, size_t max, struct buf *out)
{
    struct buf std;
    gnutls_datum_t in, raw = {NULL, 0};
    int rc = -1;
    buf_init(out, max);
    /* Base64 grows by 4/3, so anything over this decodes past max. */
    buf_init(&std, max / 3 * 4 + 8);
    for (size_t i = 0; i < len; i++) {
        char c = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
        /* The standard alphabet's own + and / are not base64url. */
        if (s[i] == '+' || s[i] == '/' || buf_append(&std, &c, 1) < 0)
            goto out;
    }
    while (std.len % 4 != 0)
        if (buf_append(&std, "=", 1) < 0)
            goto out;
    if (std.len == 0) {
        rc = 0;
        goto out;
    }
    in.data = (unsigned char *)std.data;
    in.size = (unsigned)std.len;
    if (gnutls_base64_decode2(&in, &raw) < 0)
        goto out;
    rc = buf_append(out, raw.data, raw.size);
out:
    gnutls_free(raw.data);
    buf_free(&std);
    if (rc != 0)
        buf_free(out);
    return rc;
}

/* b64url_field encodes the big-endian integer d as a JWK member: without
 * leading zero bytes, left-padded to width bytes when width > 0 (EC
 * coordinates are fixed-size, RFC 7518 §6.2.1.2). */
static char *b64url_field(const gnutls_datum_t *d, size_t width)
{
    unsigned char pad[P256_COORD] = {0};
    const unsigned char *p = d->data;
    size_t n = d->size;
    struct buf b;
    while (n > 0 && *p == 0) {
        p++;
        n--;
    }
    if (width > 0) {
        if (n > width || width > sizeof(pad))
            return NULL;
        memcpy(pad + width - n, p, n);
        p = pad;
        n = width;
    }
    buf_init(&b, 4096);
    if (acme_b64url(p, n, &b) < 0 || buf_append(&b, "", 0) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b, NULL);
}

int acme_jwk(gnutls_pubkey_t pub, struct buf *out, char *err, size_t errlen)
{
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    char *fa = NULL, *fb = NULL, *text = NULL;
    json_t *jwk = NULL;
    int rc = -1, pk = gnutls_pubkey_get_pk_algorithm(pub, NULL);
    if (pk == GNUTLS_PK_ECDSA) {
        if (gnutls_pubkey_export_ecc_raw2(pub, &curve, &a, &b,
                                          GNUTLS_EXPORT_FLAG_NO_LZ) < 0 ||
            curve != GNUTLS_ECC_CURVE_SECP256R1) {
            snprintf(err, errlen, "%s", "expected a P-256 public key");
            goto out;
        }
        fa = b64url_field(&a, P256_COORD);
        fb = b64url_field(&b, P256_COORD);
        if (fa != NULL && fb != NULL)
            jwk = json_pack("{s:s,s:s,s:s,s:s}", "crv", "P-256", "kty", "EC",
                            "x", fa, "y", fb);
    } else if (pk == GNUTLS_PK_RSA) {
        if (gnutls_pubkey_export_rsa_raw2(pub, &a, &b,
                                          GNUTLS_EXPORT_FLAG_NO_LZ) < 0) {
            snprintf(err, errlen, "%s", "cannot read the RSA public key");
            goto out;
        }
        fa = b64url_field(&a, 0); /* n */
        fb = b64url_field(&b, 0); /* e */
        if (fa != NULL && fb != NULL)
            jwk = json_pack("{s:s,s:s,s:s}", "e", fb, "kty", "RSA", "n", fa);
    } else {
        snprintf(err, errlen, "expected an EC or RSA public key, found %s",
                 gnutls_pk_get_name((gnutls_pk_algorithm_t)pk));
        goto out;
    }
    /* Sorted keys and the compact form are exactly RFC 7638's canonical
     * JSON for these members (plain ASCII strings, nothing to escape). */
    if (jwk == NULL ||
        (text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS)) == NULL ||
        buf_puts(out, text) < 0) {
        snprintf(err, errlen, "%s", "out of memory writing the JWK");
        goto out;
    }
    rc = 0;
out:
    free(text);
    json_decref(jwk);
    free(fa);
    free(fb);
    gnutls_free(a.data);
    gnutls_free(b.data);
    return rc;
}

int acme_jwk_thumbprint(gnutls_pubkey_t pub, char out[ACME_THUMBPRINT_SIZE],
                        char *err, size_t errlen)
{
    unsigned char digest[32];
    struct buf jwk, t;
    int rc = -1;
    buf_init(&jwk, 4096);
    buf_init(&t, ACME_THUMBPRINT_SIZE - 1);
    if (acme_jwk(pub, &jwk, err, errlen) < 0)
        goto out;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, jwk.data, jwk.len, digest) < 0 ||
        acme_b64url(digest, sizeof(digest), &t) < 0) {
        snprintf(err, errlen, "%s", "cannot hash the JWK");
        goto out;
    }
    memcpy(out, t.data, t.len);
    out[t.len] = '\0';
    rc = 0;
out:
    buf_free(&jwk);
    buf_free(&t);
    return rc;
}
