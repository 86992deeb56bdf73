/*
 * acme_jws: flattened JWS for ACME requests, EAB, key authorizations (see
 * acme_jws.h). GnuTLS signs, MACs and hashes; jansson writes the JSON.
 * No I/O, no globals.
 */
#include "acme_jws.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <jansson.h>

/* A JWS header or JWK is a few hundred bytes; an EAB key is 32 to 64. */
#define JWK_MAX 4096
#define HMAC_KEY_MAX 1024

/* put_half writes one DER INTEGER's bytes as a 32-byte big-endian value. */
static int put_half(const gnutls_datum_t *v, unsigned char *out)
{
    const unsigned char *p = v->data;
    size_t n = v->size;
    while (n > 0 && *p == 0) {
        p++;
        n--;
    }
    if (n > ACME_ES256_HALF)
        return -1;
    memset(out, 0, ACME_ES256_HALF - n);
    memcpy(out + ACME_ES256_HALF - n, p, n);
    return 0;
}

int acme_jws_es256_raw(const gnutls_datum_t *der,
                       unsigned char out[2 * ACME_ES256_HALF])
{
    gnutls_datum_t r = {NULL, 0}, s = {NULL, 0};
    int rc = -1;
    if (gnutls_decode_rs_value(der, &r, &s) < 0)
        goto out;
    if (put_half(&r, out) < 0 || put_half(&s, out + ACME_ES256_HALF) < 0)
        goto out;
    rc = 0;
out:
    gnutls_free(r.data);
    gnutls_free(s.data);
    return rc;
}

/* sign_input appends the JWS signing input b64url(protected) "."
 * b64url(payload) to in. */
static int sign_input(const char *protected_json, const char *payload,
                      size_t len, struct buf *in)
{
    if (acme_b64url(protected_json, strlen(protected_json), in) < 0 ||
        buf_append(in, ".", 1) < 0 ||
        acme_b64url(payload != NULL ? payload : "", len, in) < 0)
        return -1;
    return 0;
}

/* flatten appends {"protected":..,"payload":..,"signature":..} from the
 * signing input (which holds the first two, joined by a dot) and the
 * signature bytes. */
static int flatten(const struct buf *in, const unsigned char *sig,
                   size_t siglen, struct buf *out)
{
    const char *dot = memchr(in->data, '.', in->len);
    size_t plen = (size_t)(dot - in->data);
    if (buf_puts(out, "{\"protected\":\"") < 0 ||
        buf_append(out, in->data, plen) < 0 ||
        buf_puts(out, "\",\"payload\":\"") < 0 ||
        buf_append(out, dot + 1, in->len - plen - 1) < 0 ||
        buf_puts(out, "\",\"signature\":\"") < 0 ||
        acme_b64url(sig, siglen, out) < 0 || buf_puts(out, "\"}") < 0)
        return -1;
    return 0;
}

char *acme_jws_dump(json_t *o)
{
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

/* jwk_object is the public key's JWK as a jansson object. */
static json_t *jwk_object(gnutls_pubkey_t pub, char *err, size_t errlen)
{
    struct buf jwk;
    json_t *o = NULL;
    buf_init(&jwk, JWK_MAX);
    if (acme_jwk(pub, &jwk, err, errlen) == 0 &&
        (o = json_loadb(jwk.data, jwk.len, 0, NULL)) == NULL)
        snprintf(err, errlen, "%s", "out of memory");
    buf_free(&jwk);
    return o;
}

int acme_jws_sign(const struct acme_key *k, const char *kid, const char *nonce,
                  const char *url, const char *payload, size_t len,
                  struct buf *out, char *err, size_t errlen)
{
    bool ec = acme_key_kind(k) == ACME_KEY_ECDSA_P256;
    unsigned char raw[2 * ACME_ES256_HALF];
    gnutls_datum_t data, sig = {NULL, 0};
    json_t *hdr = NULL, *jwk = NULL;
    char *text = NULL;
    struct buf in;
    int rc = -1, grc;
    buf_init(&in, out->max);
    if (kid == NULL &&
        (jwk = jwk_object(acme_key_pubkey(k), err, errlen)) == NULL)
        goto out;
    hdr = json_pack("{s:s,s:s,s:s}", "alg", ec ? "ES256" : "RS256", "nonce",
                    nonce, "url", url);
    if (hdr == NULL ||
        (kid != NULL ? json_object_set_new(hdr, "kid", json_string(kid))
                     : json_object_set(hdr, "jwk", jwk)) < 0 ||
        (text = acme_jws_dump(json_incref(hdr))) == NULL ||
        sign_input(text, payload, len, &in) < 0) {
        snprintf(err, errlen, "%s", "out of memory building the JWS");
        goto out;
    }
    data.data = (unsigned char *)in.data;
    data.size = (unsigned)in.len;
    grc = gnutls_privkey_sign_data2(
        acme_key_privkey(k),
        ec ? GNUTLS_SIGN_ECDSA_SHA256 : GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig);
    if (grc < 0) {
        snprintf(err, errlen, "cannot sign the request to %s: %s", url,
                 gnutls_strerror(grc));
        goto out;
    }
    if (ec && acme_jws_es256_raw(&sig, raw) < 0) {
        snprintf(err, errlen, "%s", "GnuTLS made an unreadable signature");
        goto out;
    }
    if (flatten(&in, ec ? raw : sig.data, ec ? sizeof(raw) : sig.size, out) <
        0) {
        snprintf(err, errlen, "%s", "out of memory building the JWS");
        goto out;
    }
    rc = 0;
out:
    gnutls_free(sig.data);
    free(text);
    json_decref(hdr);
    json_decref(jwk);
    buf_free(&in);
    return rc;
}

int acme_jws_eab(const struct acme_key *account, const char *eab_kid,
                 const char *hmac_key, const char *url, struct buf *out,
                 char *err, size_t errlen)
{
    unsigned char mac[ACME_SHA256_SIZE];
    struct buf key, jwk, in;
    json_t *hdr = NULL;
    char *text = NULL;
    int rc = -1;
    buf_init(&jwk, JWK_MAX);
    buf_init(&in, JWK_MAX * 2);
    if (acme_b64url_decode(hmac_key, strlen(hmac_key), HMAC_KEY_MAX, &key) <
            0 ||
        key.len == 0) {
        snprintf(err, errlen,
                 "eab.hmac_key: expected the CA's MAC key in base64url, "
                 "found %zu characters that are not",
                 strlen(hmac_key));
        goto out;
    }
    if (acme_jwk(acme_key_pubkey(account), &jwk, err, errlen) < 0)
        goto out;
    hdr =
        json_pack("{s:s,s:s,s:s}", "alg", "HS256", "kid", eab_kid, "url", url);
    if ((text = acme_jws_dump(json_incref(hdr))) == NULL ||
        sign_input(text, jwk.data, jwk.len, &in) < 0) {
        snprintf(err, errlen, "%s", "out of memory building the EAB");
        goto out;
    }
    int grc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, key.data, key.len, in.data,
                               in.len, mac);
    if (grc < 0) {
        snprintf(err, errlen, "cannot compute the EAB MAC: %s",
                 gnutls_strerror(grc));
        goto out;
    }
    if (flatten(&in, mac, sizeof(mac), out) < 0) {
        snprintf(err, errlen, "%s", "out of memory building the EAB");
        goto out;
    }
    rc = 0;
out:
    free(text);
    json_decref(hdr);
    buf_free(&key);
    buf_free(&jwk);
    buf_free(&in);
    return rc;
}

int acme_keyauth(const char *token, const char *thumbprint, struct buf *out)
{
    size_t n = strlen(token);
    if (!acme_is_b64url(token, n))
        return -1;
    if (buf_append(out, token, n) < 0 || buf_append(out, ".", 1) < 0 ||
        buf_puts(out, thumbprint) < 0)
        return -1;
    return 0;
}

int acme_keyauth_digest(const char *keyauth,
                        unsigned char out[ACME_SHA256_SIZE])
{
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, keyauth, strlen(keyauth), out) <
                   0
               ? -1
               : 0;
}
