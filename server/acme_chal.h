/*
 * acme_chal: the table of pending ACME challenge answers, outside the
 * snapshot (DESIGN.md, "Certificates"): HTTP-01 key authorizations by
 * (name, token), and for TLS-ALPN-01 (RFC 8737) a self-signed certificate
 * per (name, token) carrying the critical acmeIdentifier extension. The ACME
 * client puts an answer before it tells the CA to validate and drops it
 * once the challenge is valid or invalid; the HTTP workers look answers up.
 * Shared (acme_chal_share), every answer put is also written to the state
 * directory, and a lookup that misses the table reads it from there, so
 * that replicas behind one load balancer answer the challenges of the one
 * that orders. It does not talk to the CA or decide which names to order. Any
 * thread: one mutex guards the table, and a TLS-ALPN-01 certificate handed to a
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

/* TLS-ALPN-01 certificates made from shared answers, kept for the
 * validator's repeated connections (the oldest one goes first). */
#define ACME_CHAL_SHARED_CACHE 64
/* A shared answer older than this is a leftover of a replica that died
 * during an order (an order takes 300 s at most): never served, and
 * removed by the next put. */
#define ACME_CHAL_STALE_SECONDS (15 * 60)

struct acme_chal *acme_chal_new(void);
void acme_chal_free(struct acme_chal *t);

/*
 * acme_chal_share makes t share its answers through state_dir's
 * acme/challenges (ACME_STATE_CHALLENGES, made by acme_state_open): put
 * writes the answer there (atomically, mode 0600) before it returns, drop
 * removes it, and the lookups fall back to it. The directory is trusted
 * (only the host writes it), yet a file is served only when it is
 * well-formed and not stale. Called once, before the table is used.
 * Returns 0, or -1 when the path does not fit or memory is short.
 */
int acme_chal_share(struct acme_chal *t, const char *state_dir);

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

/* acme_chal_pending counts the answers put and not dropped (a finished
 * order leaves none: what the tests of the client check); certificates
 * cached from shared answers do not count. */
size_t acme_chal_pending(struct acme_chal *t);

/*
 * acme_chal_http_lookup copies the key authorization of the pending
 * HTTP-01 challenge for (name, token) into out (NUL-terminated; name in
 * canonical form: lower case, no trailing dot). Returns its length, or -1
 * when there is none (or it does not fit); shared, a miss reads
 * http-01.<name>.<token> of the directory. The shape fits request's
 * lookup hook, with t as its context.
 */
int acme_chal_http_lookup(void *t, const char *name, const char *token,
                          char *out, size_t outlen);

/*
 * acme_chal_tls_acquire returns the TLS-ALPN-01 certificate for name
 * (canonical form) put last, with a reference the caller releases with
 * acme_chal_cert_release; NULL when none is pending. Shared, a name without
 * an answer of its own reads tls-alpn-01.<name> of the directory (one small
 * file) and makes the certificate once per key authorization.
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
