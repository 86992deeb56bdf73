/*
 * acme_parse: what an ACME server answers (RFC 8555 §7.1), from JSON text
 * to structs: the directory (with RFC 9773's optional renewalInfo and the
 * meta fields termsOfService, website and externalAccountRequired),
 * account, order, authorization and challenge objects, problem documents
 * (RFC 7807 with ACME's error types and subproblems), RFC 9773's
 * renewalInfo, RFC 3339 timestamps, and the Retry-After header (seconds or
 * an HTTP-date). Strict where the client depends on a field (the URLs it
 * will call are absolute https URLs, statuses are the RFC's, a window
 * ends after it starts), lenient where real CAs differ (Let's Encrypt
 * sends no account "orders" URL; unknown fields and challenge types are
 * passed over). Messages name the JSON path, what was expected and what
 * was found, in the diag style. Pure: no I/O, no logging, no clock (the
 * caller passes the time), no globals; any thread.
 */
#ifndef MTA_STS_ACME_PARSE_H
#define MTA_STS_ACME_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

/* The statuses of §7.1.6; UNKNOWN is never the result of a parse. */
enum acme_status {
    ACME_STATUS_UNKNOWN,
    ACME_STATUS_PENDING,
    ACME_STATUS_READY,
    ACME_STATUS_PROCESSING,
    ACME_STATUS_VALID,
    ACME_STATUS_INVALID,
    ACME_STATUS_DEACTIVATED,
    ACME_STATUS_EXPIRED,
    ACME_STATUS_REVOKED,
};

/* The error types of §6.7 the client acts on differently; the rest is
 * OTHER (its type string is kept). */
enum acme_error {
    ACME_ERROR_NONE, /* not an ACME error type (about:blank, another URN) */
    ACME_ERROR_BAD_NONCE,
    ACME_ERROR_RATE_LIMITED,
    ACME_ERROR_ACCOUNT_DOES_NOT_EXIST,
    ACME_ERROR_EXTERNAL_ACCOUNT_REQUIRED,
    ACME_ERROR_USER_ACTION_REQUIRED,
    ACME_ERROR_UNAUTHORIZED,
    ACME_ERROR_MALFORMED,
    ACME_ERROR_BAD_CSR,
    ACME_ERROR_ORDER_NOT_READY,
    ACME_ERROR_CONNECTION,
    ACME_ERROR_DNS,
    ACME_ERROR_TLS,
    ACME_ERROR_INCORRECT_RESPONSE,
    ACME_ERROR_REJECTED_IDENTIFIER,
    ACME_ERROR_SERVER_INTERNAL,
    ACME_ERROR_ALREADY_REPLACED,
    ACME_ERROR_OTHER, /* urn:ietf:params:acme:error:<something else> */
};

struct acme_directory {
    char *new_nonce, *new_account, *new_order; /* required */
    char *revoke_cert, *key_change;            /* NULL when absent */
    char *renewal_info;     /* RFC 9773; NULL: the CA has no ARI */
    char *terms_of_service; /* meta.termsOfService, NULL when absent */
    char *website;          /* meta.website */
    bool eab_required;      /* meta.externalAccountRequired */
};

struct acme_subproblem {
    char *type, *detail; /* detail NULL when absent */
    enum acme_error kind;
    char *identifier; /* the identifier's value, NULL when absent */
};

struct acme_problem {
    char *type; /* as sent; "about:blank" when absent (RFC 7807 §4.2) */
    enum acme_error kind;
    char *detail; /* NULL when absent */
    long status;  /* 0 when absent */
    struct acme_subproblem *subproblems;
    size_t n_subproblems;
};

struct acme_account {
    enum acme_status status;
    char **contact;
    size_t n_contact;
    char *orders; /* NULL when absent (Let's Encrypt) */
};

struct acme_identifier {
    char *type, *value; /* "dns", "mta-sts.example.com" */
};

struct acme_order {
    enum acme_status status;
    int64_t expires; /* seconds since the epoch, 0 when absent */
    struct acme_identifier *identifiers; /* at least one */
    size_t n_identifiers;
    char **authorizations; /* https URLs */
    size_t n_authorizations;
    char *finalize;             /* https URL */
    char *certificate;          /* https URL; set when status is valid */
    char *replaces;             /* RFC 9773 §5, NULL when absent */
    struct acme_problem *error; /* NULL when absent */
};

struct acme_challenge {
    char *type;  /* "http-01", "tls-alpn-01", "dns-01", or other */
    char *url;   /* https URL */
    char *token; /* base64url; required for the three types above */
    enum acme_status status;
    struct acme_problem *error; /* NULL when absent */
};

struct acme_authz {
    enum acme_status status;
    struct acme_identifier identifier;
    bool wildcard;
    int64_t expires; /* 0 when absent */
    struct acme_challenge *challenges;
    size_t n_challenges;
};

struct acme_renewal {
    int64_t start, end;    /* suggestedWindow, start < end */
    char *explanation_url; /* NULL when absent */
};

/* acme_status_name is the RFC's name ("pending", ...; "unknown"). */
const char *acme_status_name(enum acme_status s);

/* acme_error_kind reads an error type URN; acme_error_name is the short
 * name ("badNonce"; "" for NONE and OTHER). */
enum acme_error acme_error_kind(const char *type);
const char *acme_error_name(enum acme_error e);

/* Each parser takes the body of one answer (JSON text, len bytes) and
 * returns a new struct, or NULL with the errors in d (file: the URL it
 * came from, for messages). The _free functions take NULL. */
struct acme_directory *acme_parse_directory(const char *json, size_t len,
                                            struct diag *d);
void acme_directory_free(struct acme_directory *dir);

struct acme_account *acme_parse_account(const char *json, size_t len,
                                        struct diag *d);
void acme_account_free(struct acme_account *a);

struct acme_order *acme_parse_order(const char *json, size_t len,
                                    struct diag *d);
void acme_order_free(struct acme_order *o);

struct acme_authz *acme_parse_authz(const char *json, size_t len,
                                    struct diag *d);
void acme_authz_free(struct acme_authz *a);

/* A challenge as answered to the POST that starts it (§7.5.1). */
struct acme_challenge *acme_parse_challenge(const char *json, size_t len,
                                            struct diag *d);
void acme_challenge_free(struct acme_challenge *c);

struct acme_problem *acme_parse_problem(const char *json, size_t len,
                                        struct diag *d);
void acme_problem_free(struct acme_problem *p);

struct acme_renewal *acme_parse_renewal(const char *json, size_t len,
                                        struct diag *d);
void acme_renewal_free(struct acme_renewal *r);

/*
 * acme_parse_time reads an RFC 3339 date-time with a time zone (what ACME
 * sends; fractional seconds are dropped) into seconds since the epoch.
 * Returns 0, or -1 when s is no such date-time.
 */
int acme_parse_time(const char *s, int64_t *t);

/*
 * acme_parse_retry_after reads a Retry-After value (RFC 9110 §10.2.3):
 * delay-seconds or an HTTP-date, which is turned into seconds from now
 * (0 when it lies in the past). Returns 0 with *delay >= 0, or -1 when
 * value is neither.
 */
int acme_parse_retry_after(const char *value, int64_t now, int64_t *delay);

#endif
