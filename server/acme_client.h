/*
 * acme_client: an ACME client (RFC 8555) for one CA directory: the
 * transport (libcurl through httpc: the directory by GET, nonces by HEAD
 * newNonce and from every Replay-Nonce, requests as JWS POST or
 * POST-as-GET; a badNonce answer retried with the fresh nonce it carries;
 * problem documents turned into structured errors with their Retry-After;
 * caps on every answer; timeouts) and the flow built on it: find or
 * create the account (onlyReturnExisting first, then newAccount with the
 * contact, termsOfServiceAgreed and External Account Binding), place an
 * order (with RFC 9773's replaces), answer each authorization with the
 * first of the configured challenge types it offers (published through
 * acme_chal, withdrawn once decided), poll within Retry-After bounds,
 * finalise with a CSR, poll the order, download the chain; and RFC 9773
 * renewal information. It decides nothing about which names or when (the
 * ACME thread does), writes no files (acme_state does) and logs nothing:
 * every failure is returned with the step, the URL and what the server
 * said. Blocking; one client belongs to one thread (the ACME thread);
 * acme_client_cancel may be called from any thread.
 */
#ifndef MTA_STS_ACME_CLIENT_H
#define MTA_STS_ACME_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acme_chal.h"
#include "acme_key.h"
#include "acme_parse.h"
#include "buf.h"

/* Caps on what a CA may send: one JSON answer, and a certificate chain. */
#define ACME_ANSWER_MAX (256u * 1024)
#define ACME_CHAIN_MAX (1024u * 1024)
/* Each request's total time, and how long an order may take from the
 * first challenge answer to the downloaded chain. */
#define ACME_REQUEST_TIMEOUT_MS 30000L
#define ACME_ORDER_DEADLINE_S 300
/* Bounds on the wait between two polls, whatever Retry-After says. */
#define ACME_POLL_MIN_S 1
#define ACME_POLL_MAX_S 60
/* badNonce answers retried per request (RFC 8555 §6.5: the client
 * should retry; a CA that refuses every nonce must not loop for ever). */
#define ACME_BADNONCE_RETRIES 16

/* What went wrong, for the log, /status and the backoff. */
struct acme_err {
    char msg[768];        /* step, URL, HTTP status, error type, detail */
    enum acme_error kind; /* ACME_ERROR_NONE: transport, parse, local */
    long status;          /* HTTP status, 0 when no answer came */
    int64_t retry_after;  /* seconds the CA asked to wait, -1 when none */
    char challenge[16];   /* the type of a challenge the CA found failed,
                             "" when the failure was elsewhere */
    bool stopped;         /* cut short by acme_client_cancel: no failure of
                             the CA or the name */
};

/* Per account, what newAccount sends. email may be NULL; eab_kid and
 * eab_hmac_key are both set or both NULL. */
struct acme_account_req {
    const char *email;
    bool agree_tos;
    const char *eab_kid, *eab_hmac_key;
};

struct acme_client;

/*
 * acme_client_new prepares a client for the directory URL (https);
 * ca_file (may be NULL) is trusted besides the system store. Nothing is
 * sent yet. Returns NULL with the reason in e.
 */
struct acme_client *acme_client_new(const char *directory, const char *ca_file,
                                    struct acme_err *e);

/* acme_client_free releases the client; NULL is a no-op. */
void acme_client_free(struct acme_client *c);

/* acme_client_cancel makes every wait end and the running flow fail with
 * "cancelled" soon (a request in flight within about a second, "stopped
 * (shutting down)"). */
void acme_client_cancel(struct acme_client *c);

/*
 * acme_client_directory fetches the directory once (later calls return the
 * same) and gives it to the caller to read (*dir stays owned by c).
 * Returns 0, or -1 with e filled.
 */
int acme_client_directory(struct acme_client *c,
                          const struct acme_directory **dir,
                          struct acme_err *e);

/*
 * acme_client_account finds the account of key at the CA or creates it:
 * newAccount with onlyReturnExisting, and on accountDoesNotExist a
 * newAccount with req's contact, agreement and EAB (required by the CA
 * when its directory says so: refused here, before a request, when req
 * has none). Refused without req->agree_tos when the CA has terms. The
 * client keeps key (borrowed: it must outlive c) and the account URL for
 * the requests that follow. *created tells which happened. Returns 0, or
 * -1 with e filled.
 */
int acme_client_account(struct acme_client *c, const struct acme_key *key,
                        const struct acme_account_req *req, bool *created,
                        struct acme_err *e);

/* acme_client_account_url is the account URL (kid) once known, or NULL. */
const char *acme_client_account_url(const struct acme_client *c);

/* acme_client_bad_nonces counts the badNonce answers retried so far (for
 * metrics: a CA that refuses many nonces is worth seeing). */
unsigned long acme_client_bad_nonces(const struct acme_client *c);

/* What one issuance asks for. types[0..n_types) are the challenge types
 * in the order of preference ("tls-alpn-01", "http-01", ...); replaces is
 * the RFC 9773 identifier of the certificate this one replaces, or NULL. */
struct acme_issue_req {
    const char *const *names;
    size_t n_names;
    const char *const *types;
    size_t n_types;
    const char *replaces;
    const struct acme_key *cert_key;
    struct acme_chal *chal;
};

/*
 * acme_client_issue runs one order to its end: newOrder, each pending
 * authorization answered (through req->chal) and polled, finalize with a
 * CSR for the names signed by req->cert_key, the order polled until valid,
 * the chain downloaded and appended to chain (PEM, leaf first). Needs the
 * account (acme_client_account). Every answer put into req->chal is
 * withdrawn again, whatever happens. Returns 0, or -1 with e filled.
 */
int acme_client_issue(struct acme_client *c, const struct acme_issue_req *req,
                      struct buf *chain, struct acme_err *e);

/*
 * acme_client_renewal_info asks the CA's renewalInfo (RFC 9773 §4.2)
 * about the leaf in pem[0..len): *out (the caller frees it) is the window
 * and *retry_after the seconds until it should be asked again (from
 * Retry-After; -1 when absent). Returns 0; 1 when the CA has no
 * renewalInfo (nothing is sent: renew by lifetime); -1 with e filled.
 */
int acme_client_renewal_info(struct acme_client *c, const char *pem, size_t len,
                             struct acme_renewal **out, int64_t *retry_after,
                             struct acme_err *e);

/* acme_client_answers tells whether this client can answer challenges of
 * type ("http-01", "tls-alpn-01"); a config check uses it. */
bool acme_client_answers(const char *type);

#endif
