/*
 * acme_parse: ACME server answers from JSON to structs (see acme_parse.h).
 * jansson parses, jsonget reads the members with their paths, libcurl's
 * curl_getdate reads HTTP-dates and tlsrpt_parse_time RFC 3339. Pure: no
 * I/O, no logging, no globals.
 */
#include "acme_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "acme_key.h"
#include "jsonget.h"
#include "tlsrpt_parse.h"

#define fail(d, ...) jsonget_note(d, DIAG_ERROR, __VA_ARGS__)

#define ERROR_URN "urn:ietf:params:acme:error:"

static const char *const status_names[] = {
    [ACME_STATUS_UNKNOWN] = "unknown",
    [ACME_STATUS_PENDING] = "pending",
    [ACME_STATUS_READY] = "ready",
    [ACME_STATUS_PROCESSING] = "processing",
    [ACME_STATUS_VALID] = "valid",
    [ACME_STATUS_INVALID] = "invalid",
    [ACME_STATUS_DEACTIVATED] = "deactivated",
    [ACME_STATUS_EXPIRED] = "expired",
    [ACME_STATUS_REVOKED] = "revoked",
};

static const char *const error_names[] = {
    [ACME_ERROR_NONE] = "",
    [ACME_ERROR_BAD_NONCE] = "badNonce",
    [ACME_ERROR_RATE_LIMITED] = "rateLimited",
    [ACME_ERROR_ACCOUNT_DOES_NOT_EXIST] = "accountDoesNotExist",
    [ACME_ERROR_EXTERNAL_ACCOUNT_REQUIRED] = "externalAccountRequired",
    [ACME_ERROR_USER_ACTION_REQUIRED] = "userActionRequired",
    [ACME_ERROR_UNAUTHORIZED] = "unauthorized",
    [ACME_ERROR_MALFORMED] = "malformed",
    [ACME_ERROR_BAD_CSR] = "badCSR",
    [ACME_ERROR_ORDER_NOT_READY] = "orderNotReady",
    [ACME_ERROR_CONNECTION] = "connection",
    [ACME_ERROR_DNS] = "dns",
    [ACME_ERROR_TLS] = "tls",
    [ACME_ERROR_INCORRECT_RESPONSE] = "incorrectResponse",
    [ACME_ERROR_REJECTED_IDENTIFIER] = "rejectedIdentifier",
    [ACME_ERROR_SERVER_INTERNAL] = "serverInternal",
    [ACME_ERROR_ALREADY_REPLACED] = "alreadyReplaced",
    [ACME_ERROR_OTHER] = "",
};

const char *acme_status_name(enum acme_status s)
{
    return (size_t)s < sizeof(status_names) / sizeof(status_names[0])
               ? status_names[s]
               : "unknown";
}

const char *acme_error_name(enum acme_error e)
{
    return (size_t)e < sizeof(error_names) / sizeof(error_names[0])
               ? error_names[e]
               : "";
}

enum acme_error acme_error_kind(const char *type)
{
    size_t n = strlen(ERROR_URN);
    if (type == NULL || strncmp(type, ERROR_URN, n) != 0)
        return ACME_ERROR_NONE;
    for (int e = ACME_ERROR_BAD_NONCE; e < ACME_ERROR_OTHER; e++)
        if (strcmp(type + n, error_names[e]) == 0)
            return (enum acme_error)e;
    return ACME_ERROR_OTHER;
}

int acme_parse_time(const char *s, int64_t *t)
{
    bool no_tz = false;
    return tlsrpt_parse_time(s, t, &no_tz) < 0 || no_tz ? -1 : 0;
}

int acme_parse_retry_after(const char *value, int64_t now, int64_t *delay)
{
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p >= '0' && *p <= '9') {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (errno != 0 || *end != '\0')
            return -1;
        *delay = v;
        return 0;
    }
    /* An HTTP-date starts with a day name; curl_getdate reads all three
     * forms RFC 9110 §5.6.7 has recipients accept. */
    if (*p == '\0')
        return -1;
    time_t at = curl_getdate(p, NULL);
    if (at == (time_t)-1)
        return -1;
    *delay = (int64_t)at > now ? (int64_t)at - now : 0;
    return 0;
}

/* --- members ------------------------------------------------------------ */

/* get_url reads a string member that must be an absolute https URL: the
 * client will send requests, signed with the account key, there. */
static int get_url(const json_t *obj, const char *path, const char *key,
                   bool required, char **out, struct diag *d)
{
    char p[JSONGET_PATH_MAX], q[DIAG_QUOTE_SIZE];
    if (jsonget_string(obj, path, key,
                       required ? JSONGET_NONEMPTY : JSONGET_OPTIONAL, out,
                       d) < 0)
        return -1;
    if (*out == NULL || strncmp(*out, "https://", 8) == 0)
        return 0;
    fail(d, jsonget_join(p, path, key, 0),
         "expected an https URL, found \"%s\"",
         diag_quote(*out, strlen(*out), q, sizeof(q)));
    free(*out);
    *out = NULL;
    return -1;
}

static int get_status(const json_t *obj, const char *path, unsigned allowed,
                      enum acme_status *out, struct diag *d)
{
    char p[JSONGET_PATH_MAX], q[DIAG_QUOTE_SIZE], want[160] = "";
    char *s = NULL;
    size_t used = 0;
    if (jsonget_string(obj, path, "status", JSONGET_NONEMPTY, &s, d) < 0)
        return -1;
    for (int i = ACME_STATUS_PENDING; i <= ACME_STATUS_REVOKED; i++) {
        if (!(allowed & (1u << i)))
            continue;
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum acme_status)i;
            free(s);
            return 0;
        }
        int n = snprintf(want + used, sizeof(want) - used, "%s\"%s\"",
                         used > 0 ? ", " : "", status_names[i]);
        if (n > 0 && (size_t)n < sizeof(want) - used)
            used += (size_t)n;
    }
    fail(d, jsonget_join(p, path, "status", 0),
         "expected one of %s, found \"%s\"", want,
         diag_quote(s, strlen(s), q, sizeof(q)));
    free(s);
    return -1;
}

#define ST(x) (1u << ACME_STATUS_##x)

/* get_time_member reads an optional RFC 3339 member into *t (0 when
 * absent). */
static int get_time_member(const json_t *obj, const char *path, const char *key,
                           bool required, int64_t *t, struct diag *d)
{
    char p[JSONGET_PATH_MAX], q[DIAG_QUOTE_SIZE];
    char *s = NULL;
    int rc = -1;
    *t = 0;
    if (jsonget_string(obj, path, key,
                       required ? JSONGET_NONEMPTY : JSONGET_OPTIONAL, &s,
                       d) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (acme_parse_time(s, t) < 0) {
        fail(d, jsonget_join(p, path, key, 0),
             "expected an RFC 3339 date-time with a time zone "
             "(2026-01-01T00:00:00Z), found \"%s\"",
             diag_quote(s, strlen(s), q, sizeof(q)));
        goto out;
    }
    rc = 0;
out:
    free(s);
    return rc;
}

static bool get_bool(const json_t *obj, const char *path, const char *key,
                     bool *out, struct diag *d)
{
    char p[JSONGET_PATH_MAX], f[JSONGET_FOUND_SIZE];
    const json_t *v = json_object_get(obj, key);
    *out = false;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        fail(d, jsonget_join(p, path, key, 0),
             "expected true or false, found %s",
             jsonget_found(v, f, sizeof(f)));
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static int get_identifier(const json_t *v, const char *path,
                          struct acme_identifier *id, struct diag *d)
{
    char f[JSONGET_FOUND_SIZE];
    if (!json_is_object(v)) {
        fail(d, path, "expected an identifier object, found %s",
             jsonget_found(v, f, sizeof(f)));
        return -1;
    }
    if (jsonget_string(v, path, "type", JSONGET_NONEMPTY, &id->type, d) < 0 ||
        jsonget_string(v, path, "value", JSONGET_NONEMPTY, &id->value, d) < 0)
        return -1;
    return 0;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* --- documents ---------------------------------------------------------- */

/* load parses the text and insists on an object at the top. */
static json_t *load(const char *json, size_t len, const char *what,
                    struct diag *d)
{
    json_error_t err;
    char f[JSONGET_FOUND_SIZE];
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        diag_add(d, DIAG_ERROR, err.line > 0 ? (unsigned)err.line : 0,
                 err.column > 0 ? (unsigned)err.column : 0,
                 "expected %s (JSON), found invalid JSON: %s", what, err.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        fail(d, "", "expected %s (a JSON object), found %s", what,
             jsonget_found(root, f, sizeof(f)));
        json_decref(root);
        return NULL;
    }
    return root;
}

void acme_directory_free(struct acme_directory *dir)
{
    if (dir == NULL)
        return;
    free(dir->new_nonce);
    free(dir->new_account);
    free(dir->new_order);
    free(dir->revoke_cert);
    free(dir->key_change);
    free(dir->renewal_info);
    free(dir->terms_of_service);
    free(dir->website);
    free(dir);
}

struct acme_directory *acme_parse_directory(const char *json, size_t len,
                                            struct diag *d)
{
    struct acme_directory *dir = NULL;
    json_t *root = load(json, len, "an ACME directory", d);
    if (root == NULL)
        return NULL;
    if ((dir = calloc(1, sizeof(*dir))) == NULL)
        goto fail;
    if (get_url(root, "", "newNonce", true, &dir->new_nonce, d) < 0 ||
        get_url(root, "", "newAccount", true, &dir->new_account, d) < 0 ||
        get_url(root, "", "newOrder", true, &dir->new_order, d) < 0 ||
        get_url(root, "", "revokeCert", false, &dir->revoke_cert, d) < 0 ||
        get_url(root, "", "keyChange", false, &dir->key_change, d) < 0 ||
        get_url(root, "", "renewalInfo", false, &dir->renewal_info, d) < 0)
        goto fail;
    const json_t *meta = json_object_get(root, "meta");
    if (meta != NULL && !json_is_null(meta)) {
        char f[JSONGET_FOUND_SIZE];
        if (!json_is_object(meta)) {
            fail(d, "meta", "expected an object, found %s",
                 jsonget_found(meta, f, sizeof(f)));
            goto fail;
        }
        if (jsonget_string(meta, "meta", "termsOfService", JSONGET_OPTIONAL,
                           &dir->terms_of_service, d) < 0 ||
            jsonget_string(meta, "meta", "website", JSONGET_OPTIONAL,
                           &dir->website, d) < 0 ||
            !get_bool(meta, "meta", "externalAccountRequired",
                      &dir->eab_required, d))
            goto fail;
    }
    json_decref(root);
    return dir;
fail:
    if (dir == NULL)
        fail(d, "", "out of memory");
    acme_directory_free(dir);
    json_decref(root);
    return NULL;
}

void acme_problem_free(struct acme_problem *p)
{
    if (p == NULL)
        return;
    free(p->type);
    free(p->detail);
    for (size_t i = 0; i < p->n_subproblems; i++) {
        free(p->subproblems[i].type);
        free(p->subproblems[i].detail);
        free(p->subproblems[i].identifier);
    }
    free(p->subproblems);
    free(p);
}

/* problem_from reads a problem document (or an "error" member) at path. */
static struct acme_problem *problem_from(const json_t *v, const char *path,
                                         struct diag *d)
{
    char p[JSONGET_PATH_MAX], pi[JSONGET_PATH_MAX], f[JSONGET_FOUND_SIZE];
    bool bad = false;
    struct acme_problem *pr = calloc(1, sizeof(*pr));
    if (pr == NULL) {
        fail(d, path, "out of memory");
        return NULL;
    }
    if (!json_is_object(v)) {
        fail(d, path, "expected a problem document (an object), found %s",
             jsonget_found(v, f, sizeof(f)));
        goto fail;
    }
    if (jsonget_string(v, path, "type", JSONGET_OPTIONAL, &pr->type, d) < 0 ||
        jsonget_string(v, path, "detail", JSONGET_OPTIONAL, &pr->detail, d) < 0)
        goto fail;
    if (pr->type == NULL && (pr->type = strdup("about:blank")) == NULL)
        goto fail;
    pr->kind = acme_error_kind(pr->type);
    const json_t *st = json_object_get(v, "status");
    if (st != NULL && !json_is_null(st)) {
        /* RFC 7807 §3.1: an HTTP status code. */
        if (!json_is_integer(st) || json_integer_value(st) < 100 ||
            json_integer_value(st) > 599) {
            fail(d, jsonget_join(p, path, "status", 0),
                 "expected an HTTP status code (100 to 599), found %s",
                 jsonget_found(st, f, sizeof(f)));
            goto fail;
        }
        pr->status = (long)json_integer_value(st);
    }
    const json_t *subs = jsonget_array(v, path, "subproblems", false, &bad, d);
    if (bad)
        goto fail;
    size_t n = subs != NULL ? json_array_size(subs) : 0;
    if (n > 0 &&
        (pr->subproblems = calloc(n, sizeof(*pr->subproblems))) == NULL) {
        fail(d, path, "out of memory");
        goto fail;
    }
    jsonget_join(p, path, "subproblems", 0);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(subs, i);
        struct acme_subproblem *s = &pr->subproblems[i];
        pr->n_subproblems = i + 1;
        jsonget_join(pi, p, NULL, i);
        if (!json_is_object(e)) {
            fail(d, pi, "expected an object, found %s",
                 jsonget_found(e, f, sizeof(f)));
            goto fail;
        }
        if (jsonget_string(e, pi, "type", JSONGET_NONEMPTY, &s->type, d) < 0 ||
            jsonget_string(e, pi, "detail", JSONGET_OPTIONAL, &s->detail, d) <
                0)
            goto fail;
        s->kind = acme_error_kind(s->type);
        const json_t *id = json_object_get(e, "identifier");
        if (id != NULL && !json_is_null(id)) {
            char pid[JSONGET_PATH_MAX];
            struct acme_identifier ident = {NULL, NULL};
            int rc = get_identifier(id, jsonget_join(pid, pi, "identifier", 0),
                                    &ident, d);
            free(ident.type);
            s->identifier = ident.value;
            if (rc < 0)
                goto fail;
        }
    }
    return pr;
fail:
    acme_problem_free(pr);
    return NULL;
}

struct acme_problem *acme_parse_problem(const char *json, size_t len,
                                        struct diag *d)
{
    json_t *root = load(json, len, "a problem document", d);
    if (root == NULL)
        return NULL;
    struct acme_problem *p = problem_from(root, "", d);
    json_decref(root);
    return p;
}

/* get_error reads the optional "error" member (a problem) of obj. */
static int get_error(const json_t *obj, const char *path,
                     struct acme_problem **out, struct diag *d)
{
    char p[JSONGET_PATH_MAX];
    const json_t *v = json_object_get(obj, "error");
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    *out = problem_from(v, jsonget_join(p, path, "error", 0), d);
    return *out != NULL ? 0 : -1;
}

void acme_account_free(struct acme_account *a)
{
    if (a == NULL)
        return;
    free_strings(a->contact, a->n_contact);
    free(a->orders);
    free(a);
}

struct acme_account *acme_parse_account(const char *json, size_t len,
                                        struct diag *d)
{
    struct acme_account *a = NULL;
    json_t *root = load(json, len, "an ACME account", d);
    if (root == NULL)
        return NULL;
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        fail(d, "", "out of memory");
        goto fail;
    }
    if (get_status(root, "", ST(VALID) | ST(DEACTIVATED) | ST(REVOKED),
                   &a->status, d) < 0 ||
        jsonget_strings(root, "", "contact", false, &a->contact, &a->n_contact,
                        d) < 0 ||
        get_url(root, "", "orders", false, &a->orders, d) < 0)
        goto fail;
    json_decref(root);
    return a;
fail:
    acme_account_free(a);
    json_decref(root);
    return NULL;
}

void acme_order_free(struct acme_order *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->n_identifiers; i++) {
        free(o->identifiers[i].type);
        free(o->identifiers[i].value);
    }
    free(o->identifiers);
    free_strings(o->authorizations, o->n_authorizations);
    free(o->finalize);
    free(o->certificate);
    free(o->replaces);
    acme_problem_free(o->error);
    free(o);
}

/* get_identifiers reads the required non-empty "identifiers" array. */
static int get_identifiers(const json_t *obj, struct acme_order *o,
                           struct diag *d)
{
    char pi[JSONGET_PATH_MAX];
    bool bad = false;
    const json_t *v = jsonget_array(obj, "", "identifiers", true, &bad, d);
    if (bad)
        return -1;
    size_t n = json_array_size(v);
    if (n == 0) {
        fail(d, "identifiers", "expected at least one identifier, found []");
        return -1;
    }
    if ((o->identifiers = calloc(n, sizeof(*o->identifiers))) == NULL) {
        fail(d, "identifiers", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        o->n_identifiers = i + 1;
        if (get_identifier(json_array_get(v, i),
                           jsonget_join(pi, "identifiers", NULL, i),
                           &o->identifiers[i], d) < 0)
            return -1;
    }
    return 0;
}

struct acme_order *acme_parse_order(const char *json, size_t len,
                                    struct diag *d)
{
    struct acme_order *o = NULL;
    char pi[JSONGET_PATH_MAX], q[DIAG_QUOTE_SIZE];
    json_t *root = load(json, len, "an ACME order", d);
    if (root == NULL)
        return NULL;
    if ((o = calloc(1, sizeof(*o))) == NULL) {
        fail(d, "", "out of memory");
        goto fail;
    }
    if (get_status(root, "",
                   ST(PENDING) | ST(READY) | ST(PROCESSING) | ST(VALID) |
                       ST(INVALID),
                   &o->status, d) < 0 ||
        get_time_member(root, "", "expires", false, &o->expires, d) < 0 ||
        get_identifiers(root, o, d) < 0 ||
        jsonget_strings(root, "", "authorizations", false, &o->authorizations,
                        &o->n_authorizations, d) < 0 ||
        get_url(root, "", "finalize", true, &o->finalize, d) < 0 ||
        get_url(root, "", "certificate", false, &o->certificate, d) < 0 ||
        jsonget_string(root, "", "replaces", JSONGET_OPTIONAL, &o->replaces,
                       d) < 0 ||
        get_error(root, "", &o->error, d) < 0)
        goto fail;
    for (size_t i = 0; i < o->n_authorizations; i++) {
        if (strncmp(o->authorizations[i], "https://", 8) != 0) {
            fail(d, jsonget_join(pi, "authorizations", NULL, i),
                 "expected an https URL, found \"%s\"",
                 diag_quote(o->authorizations[i], strlen(o->authorizations[i]),
                            q, sizeof(q)));
            goto fail;
        }
    }
    /* §7.1.3: the certificate URL is there once the order is valid; the
     * client would otherwise poll a finished order for ever. */
    if (o->status == ACME_STATUS_VALID && o->certificate == NULL) {
        fail(d, "certificate",
             "expected the certificate URL of a valid order, found nothing");
        goto fail;
    }
    json_decref(root);
    return o;
fail:
    acme_order_free(o);
    json_decref(root);
    return NULL;
}

static void challenge_free_fields(struct acme_challenge *c)
{
    free(c->type);
    free(c->url);
    free(c->token);
    acme_problem_free(c->error);
}

void acme_challenge_free(struct acme_challenge *c)
{
    if (c == NULL)
        return;
    challenge_free_fields(c);
    free(c);
}

/* challenge_from reads one challenge object at path into c. */
static int challenge_from(const json_t *v, const char *path,
                          struct acme_challenge *c, struct diag *d)
{
    char p[JSONGET_PATH_MAX], f[JSONGET_FOUND_SIZE], q[DIAG_QUOTE_SIZE];
    if (!json_is_object(v)) {
        fail(d, path, "expected a challenge object, found %s",
             jsonget_found(v, f, sizeof(f)));
        return -1;
    }
    if (jsonget_string(v, path, "type", JSONGET_NONEMPTY, &c->type, d) < 0 ||
        get_url(v, path, "url", true, &c->url, d) < 0 ||
        get_status(v, path,
                   ST(PENDING) | ST(PROCESSING) | ST(VALID) | ST(INVALID),
                   &c->status, d) < 0 ||
        get_error(v, path, &c->error, d) < 0)
        return -1;
    bool needs_token = strcmp(c->type, "http-01") == 0 ||
                       strcmp(c->type, "tls-alpn-01") == 0 ||
                       strcmp(c->type, "dns-01") == 0;
    if (jsonget_string(v, path, "token",
                       needs_token ? JSONGET_NONEMPTY : JSONGET_OPTIONAL,
                       &c->token, d) < 0)
        return -1;
    /* §8.3: base64url; the token becomes a path and a file's content. */
    if (c->token != NULL && !acme_is_b64url(c->token, strlen(c->token))) {
        fail(d, jsonget_join(p, path, "token", 0),
             "expected a base64url token, found \"%s\"",
             diag_quote(c->token, strlen(c->token), q, sizeof(q)));
        return -1;
    }
    return 0;
}

struct acme_challenge *acme_parse_challenge(const char *json, size_t len,
                                            struct diag *d)
{
    struct acme_challenge *c = NULL;
    json_t *root = load(json, len, "an ACME challenge", d);
    if (root == NULL)
        return NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        fail(d, "", "out of memory");
    else if (challenge_from(root, "", c, d) < 0) {
        acme_challenge_free(c);
        c = NULL;
    }
    json_decref(root);
    return c;
}

void acme_authz_free(struct acme_authz *a)
{
    if (a == NULL)
        return;
    free(a->identifier.type);
    free(a->identifier.value);
    for (size_t i = 0; i < a->n_challenges; i++)
        challenge_free_fields(&a->challenges[i]);
    free(a->challenges);
    free(a);
}

struct acme_authz *acme_parse_authz(const char *json, size_t len,
                                    struct diag *d)
{
    struct acme_authz *a = NULL;
    char pi[JSONGET_PATH_MAX];
    bool bad = false;
    json_t *root = load(json, len, "an ACME authorization", d);
    if (root == NULL)
        return NULL;
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        fail(d, "", "out of memory");
        goto fail;
    }
    const json_t *id = json_object_get(root, "identifier");
    if (id == NULL) {
        fail(d, "identifier",
             "expected an identifier object, found nothing "
             "(required)");
        goto fail;
    }
    if (get_identifier(id, "identifier", &a->identifier, d) < 0 ||
        get_status(root, "",
                   ST(PENDING) | ST(VALID) | ST(INVALID) | ST(DEACTIVATED) |
                       ST(EXPIRED) | ST(REVOKED),
                   &a->status, d) < 0 ||
        get_time_member(root, "", "expires", false, &a->expires, d) < 0 ||
        !get_bool(root, "", "wildcard", &a->wildcard, d))
        goto fail;
    const json_t *chs = jsonget_array(root, "", "challenges", true, &bad, d);
    if (bad)
        goto fail;
    size_t n = json_array_size(chs);
    if (n > 0 && (a->challenges = calloc(n, sizeof(*a->challenges))) == NULL) {
        fail(d, "challenges", "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        a->n_challenges = i + 1;
        if (challenge_from(json_array_get(chs, i),
                           jsonget_join(pi, "challenges", NULL, i),
                           &a->challenges[i], d) < 0)
            goto fail;
    }
    json_decref(root);
    return a;
fail:
    acme_authz_free(a);
    json_decref(root);
    return NULL;
}

void acme_renewal_free(struct acme_renewal *r)
{
    if (r == NULL)
        return;
    free(r->explanation_url);
    free(r);
}

struct acme_renewal *acme_parse_renewal(const char *json, size_t len,
                                        struct diag *d)
{
    struct acme_renewal *r = NULL;
    json_t *root = load(json, len, "an ACME renewalInfo", d);
    if (root == NULL)
        return NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        fail(d, "", "out of memory");
        goto fail;
    }
    const json_t *w = jsonget_object(root, "", "suggestedWindow", d);
    if (w == NULL ||
        get_time_member(w, "suggestedWindow", "start", true, &r->start, d) <
            0 ||
        get_time_member(w, "suggestedWindow", "end", true, &r->end, d) < 0 ||
        jsonget_string(root, "", "explanationURL", JSONGET_OPTIONAL,
                       &r->explanation_url, d) < 0)
        goto fail;
    /* RFC 9773 §4.2: a window that does not end after it starts is
     * invalid, and the client treats the answer as if none came. */
    if (r->end <= r->start) {
        if (r->end == r->start)
            fail(d, "suggestedWindow",
                 "expected an end later than the start, found the same "
                 "instant");
        else
            fail(d, "suggestedWindow",
                 "expected an end later than the start, found an end %lld "
                 "seconds before it",
                 (long long)(r->start - r->end));
        goto fail;
    }
    json_decref(root);
    return r;
fail:
    acme_renewal_free(r);
    json_decref(root);
    return NULL;
}
