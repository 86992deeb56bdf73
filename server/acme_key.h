/*
 * acme_key: the keys of ACME, through GnuTLS: an account key or a
 * certificate key (ECDSA P-256 or RSA-2048) generated, read from PEM and
 * written as PEM (PKCS#8); the public key as a JWK (RFC 7517) and its
 * RFC 7638 thumbprint; and base64url (RFC 4648 §5, no padding), the
 * encoding every ACME field uses. It reads and writes no files (the state
 * directory does that) and logs nothing. A key is used by one thread at a
 * time; the functions keep no state of their own.
 */
#ifndef MTA_STS_ACME_KEY_H
#define MTA_STS_ACME_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "buf.h"

enum acme_key_type { ACME_KEY_ECDSA_P256, ACME_KEY_RSA_2048 };

/* A base64url SHA-256 thumbprint: 43 characters and the NUL. */
#define ACME_THUMBPRINT_SIZE 44

struct acme_key; /* opaque: a private key and its public half */

/* acme_key_type_name is "ecdsa-p256" or "rsa-2048" (the config's names). */
const char *acme_key_type_name(enum acme_key_type t);

/*
 * acme_key_generate makes a new key of type t. Returns it, or NULL with
 * the GnuTLS reason in err.
 */
struct acme_key *acme_key_generate(enum acme_key_type t, char *err,
                                   size_t errlen);

/*
 * acme_key_from_pem reads a private key from PEM (PKCS#8, or the older
 * "EC PRIVATE KEY" / "RSA PRIVATE KEY" forms). Only the two key types
 * above are taken; anything else is refused with a message naming what was
 * found. Returns the key, or NULL with the reason in err.
 */
struct acme_key *acme_key_from_pem(const char *pem, size_t len, char *err,
                                   size_t errlen);

/*
 * acme_key_pem appends the private key as unencrypted PKCS#8 PEM to out.
 * Returns 0, or -1 with the reason in err.
 */
int acme_key_pem(const struct acme_key *k, struct buf *out, char *err,
                 size_t errlen);

/* acme_key_free releases a key; NULL is a no-op. */
void acme_key_free(struct acme_key *k);

/* acme_key_kind is the key's type. */
enum acme_key_type acme_key_kind(const struct acme_key *k);

/* acme_key_privkey and acme_key_pubkey borrow the GnuTLS keys (to sign a
 * JWS or a CSR); they stay owned by k. */
gnutls_privkey_t acme_key_privkey(const struct acme_key *k);
gnutls_pubkey_t acme_key_pubkey(const struct acme_key *k);

/*
 * acme_jwk appends the public key as the JWK of RFC 7638 §3.2: only the
 * required members, in lexicographic order, no white space
 * ({"crv","kty","x","y"} for EC, {"e","kty","n"} for RSA). That one form
 * serves both the JWS header and the thumbprint. Returns 0, or -1 with the
 * reason in err (a key of another kind, memory, the cap of out).
 */
int acme_jwk(gnutls_pubkey_t pub, struct buf *out, char *err, size_t errlen);

/*
 * acme_jwk_thumbprint writes base64url(SHA-256(JWK)) (RFC 7638 §3) into
 * out (ACME_THUMBPRINT_SIZE bytes). Returns 0, or -1 with the reason.
 */
int acme_jwk_thumbprint(gnutls_pubkey_t pub, char out[ACME_THUMBPRINT_SIZE],
                        char *err, size_t errlen);

/* acme_b64url appends base64url(data[0..len)), unpadded, to out. Returns 0
 * or -1 (memory or the cap of out). */
int acme_b64url(const void *data, size_t len, struct buf *out);

/* acme_is_b64url tells whether s[0..n) is non-empty and only base64url's
 * alphabet (no padding): what tokens and nonces must be, since they end up
 * in paths, file contents and headers. */
bool acme_is_b64url(const char *s, size_t n);

/*
 * acme_b64url_decode decodes s[0..len) (base64url, padded or not) into
 * out, which it initialises with a cap of max bytes. Returns 0, or -1
 * when s is not base64url or the result is over max (out is empty then).
 */
int acme_b64url_decode(const char *s, size_t len, size_t max, struct buf *out);

#endif
