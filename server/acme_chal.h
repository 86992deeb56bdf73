/*
 * acme_chal: the table of pending ACME challenge answers, outside the
 * snapshot (DESIGN.md, "Certificates"): HTTP-01 key authorizations by
 * (name, token), and for TLS-ALPN-01 (RFC 8737) a self-signed certificate
 * per (name, token) carrying the critical acmeIdentifier extension. The ACME
 * client puts an answer before it tells the CA to validate and drops it
 * once the challenge is valid or invalid; the HTTP workers look answers up.
 * It does not talk to the CA or decide which names to order. Any thread:
 * one mutex guards the table, and a TLS-ALPN-01 certificate handed to a
 * connection is reference-counted, so that dropping it never pulls it from
 * under a handshake.
 */
#ifndef MTA_STS_ACME_CHAL_H
#define MTA_STS_ACME_CHAL_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

/* The ALPN protocol of TLS-ALPN-01 (RFC 8737 §6.2). */
#define ACME_CHAL_ALPN "acme-tls/1"
/* Longest token taken (RFC 8555 §8.1 asks for at least 128 bits, i.e. 22
 * base64url characters; CAs send 43) and longest key authorization
 * ("token.thumbprint"; a SHA-256 thumbprint is 43 characters). */
#define ACME_CHAL_TOKEN_MAX 128
#define ACME_CHAL_KEYAUTH_MAX (ACME_CHAL_TOKEN_MAX + 1 + 128)
/* Pending answers held at once; the ACME client paces its orders far
 * below this, so reaching it is a fault that is reported, not a queue. */
#define ACME_CHAL_MAX 4096

struct acme_chal;      /* opaque table */
struct acme_chal_cert; /* a TLS-ALPN-01 certificate and its key */

struct acme_chal *acme_chal_new(void);
void acme_chal_free(struct acme_chal *t);

/*
 * acme_chal_put publishes the answer to one challenge for NAME; TYPE is
 * "http-01" or "tls-alpn-01"; TOKEN the challenge's token (base64url);
 * KEYAUTH the key authorization "token.thumbprint". For tls-alpn-01 the
 * certificate is made here. Putting the same (type, name, token) again
 * replaces its answer. Returns 0, or -1 with ERR filled.
 */
int acme_chal_put(struct acme_chal *t, const char *type, const char *name,
                  const char *token, const char *keyauth, char *err,
                  size_t errlen);

/* acme_chal_drop withdraws it once the challenge is valid or invalid;
 * nothing happens when there is no such answer. */
void acme_chal_drop(struct acme_chal *t, const char *type, const char *name,
                    const char *token);

/* acme_chal_pending counts the answers held (a finished order leaves none:
 * what the tests of the client check). */
size_t acme_chal_pending(struct acme_chal *t);

/*
 * acme_chal_http_lookup copies the key authorization of the pending
 * HTTP-01 challenge for (name, token) into out (NUL-terminated; name in
 * canonical form: lower case, no trailing dot). Returns its length, or -1
 * when there is none (or it does not fit). The shape fits request's
 * lookup hook, with t as its context.
 */
int acme_chal_http_lookup(void *t, const char *name, const char *token,
                          char *out, size_t outlen);

/*
 * acme_chal_tls_acquire returns the TLS-ALPN-01 certificate for name
 * (canonical form) put last, with a reference the caller releases with
 * acme_chal_cert_release; NULL when none is pending.
 */
struct acme_chal_cert *acme_chal_tls_acquire(struct acme_chal *t,
                                             const char *name);

/* acme_chal_cert_credentials gives what GnuTLS's certificate callback
 * returns; they stay valid while the reference is held. */
void acme_chal_cert_credentials(const struct acme_chal_cert *c,
                                gnutls_pcert_st **pcert,
                                unsigned int *pcert_length,
                                gnutls_privkey_t *pkey);

/* acme_chal_cert_release drops a reference; NULL is a no-op. */
void acme_chal_cert_release(struct acme_chal_cert *c);

#endif
