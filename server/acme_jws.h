/*
 * acme_jws: the signed requests of ACME (RFC 8555 §6.2): a flattened JWS
 * (RFC 7515 §7.2.2) whose protected header carries alg, nonce, url and
 * either the account's jwk or its kid, signed ES256 (RFC 7518 §3.4: r||s,
 * 32 bytes each) or RS256 by GnuTLS; the External Account Binding of
 * §7.3.4 (an HS256 JWS over the account's JWK, GnuTLS's HMAC); and the key
 * authorization of §8.1 with its SHA-256 digest (TLS-ALPN-01's
 * acmeIdentifier, RFC 8737 §3; DNS-01's TXT value). Pure apart from the
 * signature's randomness: no I/O, no globals; any thread.
 */
#ifndef MTA_STS_ACME_JWS_H
#define MTA_STS_ACME_JWS_H

#include <stddef.h>

#include <gnutls/gnutls.h>
#include <jansson.h>

#include "acme_key.h"
#include "buf.h"

/* Each half of an ES256 signature, and the SHA-256 digest size. */
#define ACME_ES256_HALF 32
#define ACME_SHA256_SIZE 32

/* acme_jws_dump renders a request payload or header as JSON text (freed
 * by the caller): compact, keys sorted, so that the same request always
 * has the same bytes. It takes over o (NULL gives NULL). */
char *acme_jws_dump(json_t *o);

/*
 * acme_jws_sign appends to out the flattened JWS of payload[0..len) for a
 * POST to url with nonce, signed with k. kid is the account URL, or NULL
 * to put the public key itself in the header (newAccount). A NULL payload
 * is the empty payload of POST-as-GET (§6.3), which is not the same as
 * "{}". Returns 0, or -1 with the reason in err.
 */
int acme_jws_sign(const struct acme_key *k, const char *kid, const char *nonce,
                  const char *url, const char *payload, size_t len,
                  struct buf *out, char *err, size_t errlen);

/*
 * acme_jws_eab appends the externalAccountBinding object (§7.3.4) for the
 * account key account: protected {"alg":"HS256","kid":eab_kid,"url":url},
 * payload the account's JWK, MAC with the CA's key hmac_key (base64url,
 * as CAs hand it out). url is the newAccount URL. Returns 0, or -1 with
 * the reason in err (a key that is not base64url, for one).
 */
int acme_jws_eab(const struct acme_key *account, const char *eab_kid,
                 const char *hmac_key, const char *url, struct buf *out,
                 char *err, size_t errlen);

/*
 * acme_jws_es256_raw turns a DER ECDSA signature (what GnuTLS makes) into
 * JWS's fixed-size r||s: each integer without its sign byte and left-
 * padded with zeros to 32 bytes, whatever its length in DER. Returns 0, or
 * -1 when der is no ECDSA signature or an integer is over 32 bytes.
 */
int acme_jws_es256_raw(const gnutls_datum_t *der,
                       unsigned char out[2 * ACME_ES256_HALF]);

/*
 * acme_keyauth appends the key authorization token "." thumbprint
 * (§8.1). token must be base64url (§8.3 says so; anything else could put
 * a dot or a path into an answer); returns -1 otherwise, or when out
 * refuses the bytes.
 */
int acme_keyauth(const char *token, const char *thumbprint, struct buf *out);

/* acme_keyauth_digest is SHA-256 of the key authorization: the value of
 * TLS-ALPN-01's acmeIdentifier and, base64url-encoded, of DNS-01's TXT
 * record. Returns 0, or -1 when GnuTLS fails. */
int acme_keyauth_digest(const char *keyauth,
                        unsigned char out[ACME_SHA256_SIZE]);

#endif
