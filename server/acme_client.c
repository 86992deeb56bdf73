/*
 * acme_client: the ACME transport and flow (see acme_client.h). libcurl
 * (through httpc) carries the requests, acme_jws signs them, acme_parse
 * reads the answers, acme_csr makes the CSR; this file only sequences.
 * Blocking; no globals.
 */
#include "acme_client.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <gnutls/x509.h>
#include <jansson.h>

#include "acme_csr.h"
#include "acme_jws.h"
#include "httpc.h"

#define USER_AGENT "mta-sts-host/" MTA_STS_HOST_VERSION " (acme)"
/* Nonces kept from answers for the next requests; a nonce is a short
 * base64url string (Pebble's and Boulder's are 22 to 44 characters). */
#define NONCE_POOL 8
#define NONCE_MAX 128
/* A JWS is the payload and a few hundred bytes; the largest payload is a
 * CSR for many names. */
#define REQUEST_MAX (256u * 1024)
/* How much of a CA's explanation (a problem's detail) a message shows. */
#define DETAIL_SHOWN 240
#define DETAIL_SIZE (DETAIL_SHOWN * 4 + 4)

struct acme_client {
    char *directory_url, *ca_file;
    CURL *curl;
    struct acme_directory *dir;
    char *nonces[NONCE_POOL];
    size_t n_nonces;
    const struct acme_key *key; /* borrowed, set by acme_client_account */
    char thumbprint[ACME_THUMBPRINT_SIZE];
    char *kid;
    unsigned long bad_nonces;
    atomic_bool cancelled;
};

/* One answer: status, the headers the flow needs, the body. */
struct answer {
    long status;
    char content_type[128];
    char *location;    /* NULL when absent */
    char *retry_after; /* the raw header, NULL when absent */
    struct buf body;   /* NUL-terminated once complete */
};

static void answer_free(struct answer *a)
{
    free(a->location);
    free(a->retry_after);
    buf_free(&a->body);
    memset(a, 0, sizeof(*a));
}

static void seterr(struct acme_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void seterr(struct acme_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

static void err_reset(struct acme_err *e)
{
    e->msg[0] = '\0';
    e->kind = ACME_ERROR_NONE;
    e->status = 0;
    e->retry_after = -1;
    e->challenge[0] = '\0';
    e->stopped = false;
}

bool acme_client_answers(const char *type)
{
    return strcmp(type, "http-01") == 0 || strcmp(type, "tls-alpn-01") == 0;
}

struct acme_client *acme_client_new(const char *directory, const char *ca_file,
                                    struct acme_err *e)
{
    err_reset(e);
    if (strncmp(directory, "https://", 8) != 0) {
        seterr(e, "acme.directory: expected an https URL, found \"%s\"",
               directory);
        return NULL;
    }
    struct acme_client *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->directory_url = strdup(directory)) == NULL ||
        (ca_file != NULL && (c->ca_file = strdup(ca_file)) == NULL) ||
        (c->curl = curl_easy_init()) == NULL) {
        seterr(e, "%s", "cannot set up the ACME client: out of memory");
        acme_client_free(c);
        return NULL;
    }
    atomic_init(&c->cancelled, false);
    return c;
}

void acme_client_free(struct acme_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    for (size_t i = 0; i < c->n_nonces; i++)
        free(c->nonces[i]);
    acme_directory_free(c->dir);
    free(c->directory_url);
    free(c->ca_file);
    free(c->kid);
    free(c);
}

void acme_client_cancel(struct acme_client *c)
{
    atomic_store(&c->cancelled, true);
}

const char *acme_client_account_url(const struct acme_client *c)
{
    return c->kid;
}

unsigned long acme_client_bad_nonces(const struct acme_client *c)
{
    return c->bad_nonces;
}

/* --- transport ---------------------------------------------------------- */

/* header_copy returns a copy of the last response's header name, or NULL
 * when absent. */
static char *header_copy(CURL *curl, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
        h == NULL || h->value == NULL)
        return NULL;
    return strdup(h->value);
}

/* keep_nonce adds a nonce from Replay-Nonce to the pool (the oldest goes
 * when it is full: RFC 8555 §7.2 lets a server expire nonces, and a fresh
 * one is likelier to be good). */
static void keep_nonce(struct acme_client *c, char *nonce)
{
    size_t n = strlen(nonce);
    if (n > NONCE_MAX || !acme_is_b64url(nonce, n)) {
        free(nonce);
        return;
    }
    if (c->n_nonces == NONCE_POOL) {
        free(c->nonces[0]);
        memmove(c->nonces, c->nonces + 1,
                (NONCE_POOL - 1) * sizeof(c->nonces[0]));
        c->n_nonces--;
    }
    c->nonces[c->n_nonces++] = nonce;
}

/*
 * transfer sends one request: method GET, HEAD or POST (with body, a
 * JWS); accept (may be NULL) is the Accept header; the answer's body is
 * capped at cap. Any status is an answer (0); -1 when none came.
 */
static int transfer(struct acme_client *c, const char *step, const char *method,
                    const char *url, const char *body, size_t body_len,
                    size_t cap, const char *accept, struct answer *a,
                    struct acme_err *e)
{
    char why[CURL_ERROR_SIZE] = "", accept_hdr[160], what[1024];
    struct curl_slist *hdrs = NULL;
    int rc = -1;
    memset(a, 0, sizeof(*a));
    buf_init(&a->body, cap);
    curl_easy_reset(c->curl);
    httpc_setup(c->curl, c->ca_file, ACME_REQUEST_TIMEOUT_MS, USER_AGENT,
                &a->body, why, &c->cancelled);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/jose+json");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body_len);
    }
    if (accept != NULL) {
        snprintf(accept_hdr, sizeof(accept_hdr), "Accept: %s", accept);
        struct curl_slist *h2 = curl_slist_append(hdrs, accept_hdr);
        hdrs = h2 != NULL ? h2 : hdrs;
    }
    if ((strcmp(method, "POST") == 0 || accept != NULL) && hdrs == NULL) {
        seterr(e, "%s: %s %s: out of memory", step, method, url);
        goto out;
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(c->curl);
    if (cc != CURLE_OK) {
        httpc_error(url, cc, &a->body, why, what, sizeof(what));
        seterr(e, "%s: %s %s", step, method, what);
        e->stopped = cc == CURLE_ABORTED_BY_CALLBACK;
        goto out;
    }
    char *ct = NULL;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(a->content_type, sizeof(a->content_type), "%s",
             ct != NULL ? ct : "");
    a->location = header_copy(c->curl, "Location");
    a->retry_after = header_copy(c->curl, "Retry-After");
    char *nonce = header_copy(c->curl, "Replay-Nonce");
    if (nonce != NULL)
        keep_nonce(c, nonce);
    if (buf_append(&a->body, "", 0) < 0) {
        seterr(e, "%s: %s %s: out of memory", step, method, url);
        goto out;
    }
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    return rc;
}

/* retry_after_of reads an answer's Retry-After into seconds, -1 when
 * absent or unreadable. */
static int64_t retry_after_of(const struct answer *a)
{
    int64_t d;
    if (a->retry_after == NULL ||
        acme_parse_retry_after(a->retry_after, (int64_t)time(NULL), &d) < 0)
        return -1;
    return d;
}

/*
 * answer_err fills e from an error answer: the problem document's type
 * and detail when it is one (RFC 8555 §6.7), else the status and the
 * content type; the status and Retry-After in either case.
 */
static void answer_err(const char *step, const char *method, const char *url,
                       const struct answer *a, struct acme_err *e)
{
    char q[DETAIL_SIZE], ra[48] = "";
    struct diag d;
    struct acme_problem *p = NULL;
    e->status = a->status;
    e->retry_after = retry_after_of(a);
    if (e->retry_after >= 0)
        snprintf(ra, sizeof(ra), " (retry after %lld s)",
                 (long long)e->retry_after);
    diag_init(&d, url);
    if (strncmp(a->content_type, "application/problem+json", 24) == 0)
        p = acme_parse_problem(a->body.data, a->body.len, &d);
    if (p != NULL) {
        e->kind = p->kind;
        seterr(e, "%s: %s %s: HTTP %ld %s: %s%s%s", step, method, url,
               a->status, p->type,
               p->detail != NULL ? diag_quote_max(p->detail, strlen(p->detail),
                                                  DETAIL_SHOWN, q, sizeof(q))
                                 : "(no detail)",
               p->n_subproblems > 0 ? " (and subproblems)" : "", ra);
    } else {
        seterr(e, "%s: %s %s: HTTP %ld (%s%s)%s", step, method, url, a->status,
               a->content_type[0] != '\0' ? a->content_type : "no body",
               d.n > 0 ? ", not a problem document" : "", ra);
    }
    acme_problem_free(p);
    diag_free(&d);
}

/* parse_err fills e for an answer that came but did not parse. */
static void parse_err(const char *step, const char *url, const struct diag *d,
                      struct acme_err *e)
{
    char line[DIAG_MSG_MAX + 512];
    if (d->n > 0)
        seterr(e, "%s: the answer of %s is not what ACME sends: %s", step, url,
               diag_format_entry(d, &d->entries[0], line, sizeof(line)));
    else
        seterr(e, "%s: the answer of %s is not what ACME sends", step, url);
}

/* get fetches url by GET and expects 200. */
static int get(struct acme_client *c, const char *step, const char *url,
               struct answer *a, struct acme_err *e)
{
    if (transfer(c, step, "GET", url, NULL, 0, ACME_ANSWER_MAX, NULL, a, e) < 0)
        return -1;
    if (a->status != 200) {
        answer_err(step, "GET", url, a, e);
        return -1;
    }
    return 0;
}

static int ensure_directory(struct acme_client *c, struct acme_err *e)
{
    struct answer a;
    struct diag d;
    if (c->dir != NULL)
        return 0;
    if (get(c, "directory", c->directory_url, &a, e) < 0) {
        answer_free(&a);
        return -1;
    }
    diag_init(&d, c->directory_url);
    c->dir = acme_parse_directory(a.body.data, a.body.len, &d);
    if (c->dir == NULL)
        parse_err("directory", c->directory_url, &d, e);
    diag_free(&d);
    answer_free(&a);
    return c->dir != NULL ? 0 : -1;
}

int acme_client_directory(struct acme_client *c,
                          const struct acme_directory **dir, struct acme_err *e)
{
    err_reset(e);
    if (ensure_directory(c, e) < 0)
        return -1;
    *dir = c->dir;
    return 0;
}

/* take_nonce hands over a nonce: one kept from an answer, else a fresh
 * one from HEAD newNonce (§7.2). */
static char *take_nonce(struct acme_client *c, struct acme_err *e)
{
    struct answer a;
    if (c->n_nonces == 0) {
        if (transfer(c, "newNonce", "HEAD", c->dir->new_nonce, NULL, 0, 0, NULL,
                     &a, e) < 0) {
            answer_free(&a);
            return NULL;
        }
        if (a.status != 200 && a.status != 204) {
            answer_err("newNonce", "HEAD", c->dir->new_nonce, &a, e);
            answer_free(&a);
            return NULL;
        }
        answer_free(&a);
        if (c->n_nonces == 0) {
            seterr(e, "newNonce: HEAD %s: no Replay-Nonce in the answer",
                   c->dir->new_nonce);
            return NULL;
        }
    }
    return c->nonces[--c->n_nonces];
}

/*
 * post sends payload (NULL: POST-as-GET) to url signed with the account
 * key, with the jwk in the header when there is no account URL yet. A
 * badNonce answer is sent again with the nonce it came with. Any 2xx is
 * success; an error answer fills e. accept and cap as for transfer.
 */
static int post(struct acme_client *c, const char *step, const char *url,
                const char *payload, size_t cap, const char *accept,
                struct answer *a, struct acme_err *e)
{
    memset(a, 0, sizeof(*a));
    for (int attempt = 0;; attempt++) {
        struct buf jws;
        char jerr[256];
        if (atomic_load(&c->cancelled)) {
            seterr(e, "%s: cancelled", step);
            e->stopped = true;
            return -1;
        }
        char *nonce = take_nonce(c, e);
        if (nonce == NULL)
            return -1;
        buf_init(&jws, REQUEST_MAX);
        int rc = acme_jws_sign(c->key, c->kid, nonce, url, payload,
                               payload != NULL ? strlen(payload) : 0, &jws,
                               jerr, sizeof(jerr));
        free(nonce);
        if (rc < 0) {
            seterr(e, "%s: %s", step, jerr);
            buf_free(&jws);
            return -1;
        }
        rc = transfer(c, step, "POST", url, jws.data, jws.len, cap, accept, a,
                      e);
        buf_free(&jws);
        if (rc < 0)
            return -1;
        if (a->status >= 200 && a->status < 300)
            return 0;
        answer_err(step, "POST", url, a, e);
        if (e->kind != ACME_ERROR_BAD_NONCE || attempt >= ACME_BADNONCE_RETRIES)
            return -1;
        /* §6.5: the answer carried a fresh nonce; use it. */
        c->bad_nonces++;
        answer_free(a);
        err_reset(e);
    }
}

/* --- account ------------------------------------------------------------ */

/* new_account_payload is newAccount's payload for creating the account. */
static char *new_account_payload(struct acme_client *c,
                                 const struct acme_account_req *req,
                                 struct acme_err *e)
{
    json_t *o = json_pack("{s:b}", "termsOfServiceAgreed", req->agree_tos);
    if (o == NULL)
        goto nomem;
    if (req->email != NULL) {
        char mailto[320];
        int n = snprintf(mailto, sizeof(mailto), "mailto:%s", req->email);
        if (n < 0 || (size_t)n >= sizeof(mailto)) {
            seterr(e, "acme.email: expected an address, found %zu bytes",
                   strlen(req->email));
            json_decref(o);
            return NULL;
        }
        if (json_object_set_new(o, "contact", json_pack("[s]", mailto)) < 0)
            goto nomem;
    }
    if (req->eab_kid != NULL) {
        struct buf eab;
        char jerr[256];
        buf_init(&eab, REQUEST_MAX);
        if (acme_jws_eab(c->key, req->eab_kid, req->eab_hmac_key,
                         c->dir->new_account, &eab, jerr, sizeof(jerr)) < 0) {
            seterr(e, "newAccount: external account binding: %s", jerr);
            buf_free(&eab);
            json_decref(o);
            return NULL;
        }
        json_t *j = json_loadb(eab.data, eab.len, 0, NULL);
        buf_free(&eab);
        if (j == NULL ||
            json_object_set_new(o, "externalAccountBinding", j) < 0)
            goto nomem;
    }
    char *s = acme_jws_dump(o);
    if (s == NULL)
        seterr(e, "%s", "newAccount: out of memory");
    return s;
nomem:
    json_decref(o);
    seterr(e, "%s", "newAccount: out of memory");
    return NULL;
}

/* account_answer takes the account URL and checks the account's status. */
static int account_answer(struct acme_client *c, const struct answer *a,
                          struct acme_err *e)
{
    struct diag d;
    if (a->location == NULL || strncmp(a->location, "https://", 8) != 0) {
        seterr(e,
               "newAccount: POST %s: HTTP %ld without the account URL "
               "(Location)",
               c->dir->new_account, a->status);
        return -1;
    }
    diag_init(&d, c->dir->new_account);
    struct acme_account *acct =
        acme_parse_account(a->body.data, a->body.len, &d);
    int rc = -1;
    if (acct == NULL) {
        parse_err("newAccount", c->dir->new_account, &d, e);
    } else if (acct->status != ACME_STATUS_VALID) {
        seterr(e, "newAccount: the account %s is %s at the CA", a->location,
               acme_status_name(acct->status));
    } else if ((c->kid = strdup(a->location)) == NULL) {
        seterr(e, "%s", "newAccount: out of memory");
    } else {
        rc = 0;
    }
    acme_account_free(acct);
    diag_free(&d);
    return rc;
}

int acme_client_account(struct acme_client *c, const struct acme_key *key,
                        const struct acme_account_req *req, bool *created,
                        struct acme_err *e)
{
    struct answer a = {0};
    char *payload = NULL, jerr[256];
    int rc = -1;
    err_reset(e);
    *created = false;
    if (ensure_directory(c, e) < 0)
        return -1;
    free(c->kid);
    c->kid = NULL;
    c->key = key;
    if (acme_jwk_thumbprint(acme_key_pubkey(key), c->thumbprint, jerr,
                            sizeof(jerr)) < 0) {
        seterr(e, "account key: %s", jerr);
        return -1;
    }
    /* §7.3.1: ask for the account of this key without creating one, so a
     * restart never makes a second account. */
    if (post(c, "newAccount (find)", c->dir->new_account,
             "{\"onlyReturnExisting\":true}", ACME_ANSWER_MAX, NULL, &a,
             e) == 0) {
        rc = account_answer(c, &a, e);
        goto out;
    }
    if (e->kind != ACME_ERROR_ACCOUNT_DOES_NOT_EXIST)
        goto out;
    answer_free(&a);
    err_reset(e);
    if (c->dir->terms_of_service != NULL && !req->agree_tos) {
        seterr(e,
               "newAccount: the CA's terms of service (%s) must be agreed "
               "to: set acme.agree_tos: true",
               c->dir->terms_of_service);
        goto out;
    }
    if (c->dir->eab_required && req->eab_kid == NULL) {
        seterr(e,
               "newAccount: the CA at %s requires an external account "
               "binding: set acme.eab.kid and acme.eab.hmac_key",
               c->directory_url);
        e->kind = ACME_ERROR_EXTERNAL_ACCOUNT_REQUIRED;
        goto out;
    }
    if ((payload = new_account_payload(c, req, e)) == NULL)
        goto out;
    if (post(c, "newAccount (create)", c->dir->new_account, payload,
             ACME_ANSWER_MAX, NULL, &a, e) < 0)
        goto out;
    *created = a.status == 201;
    rc = account_answer(c, &a, e);
out:
    free(payload);
    answer_free(&a);
    return rc;
}

/* --- order -------------------------------------------------------------- */

/* One answer published in the challenge table, to withdraw later. */
struct published {
    char *type, *name, *token;
};

struct flow {
    struct acme_client *c;
    const struct acme_issue_req *req;
    time_t deadline;
    struct published *pub;
    size_t n_pub;
};

/* wait_poll sleeps for the s seconds a Retry-After asked for (-1: none),
 * bounded, in short slices so that a cancel or the deadline ends it.
 * Returns -1 when either did. */
static int wait_poll(struct flow *f, int64_t s, const char *step,
                     struct acme_err *e)
{
    if (s < ACME_POLL_MIN_S)
        s = ACME_POLL_MIN_S;
    if (s > ACME_POLL_MAX_S)
        s = ACME_POLL_MAX_S;
    for (int64_t i = 0; i < s * 10; i++) {
        if (atomic_load(&f->c->cancelled)) {
            seterr(e, "%s: cancelled", step);
            e->stopped = true;
            return -1;
        }
        if (time(NULL) >= f->deadline) {
            seterr(e, "%s: not done after %d s", step, ACME_ORDER_DEADLINE_S);
            return -1;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* fetch_authz POST-as-GETs an authorization and parses it. */
static struct acme_authz *fetch_authz(struct flow *f, const char *url,
                                      struct answer *a, struct acme_err *e)
{
    struct diag d;
    if (post(f->c, "authorization", url, NULL, ACME_ANSWER_MAX, NULL, a, e) < 0)
        return NULL;
    diag_init(&d, url);
    struct acme_authz *z = acme_parse_authz(a->body.data, a->body.len, &d);
    if (z == NULL)
        parse_err("authorization", url, &d, e);
    diag_free(&d);
    return z;
}

/* pick chooses the first configured type the authorization offers. */
static const struct acme_challenge *pick(const struct acme_issue_req *req,
                                         const struct acme_authz *z)
{
    for (size_t t = 0; t < req->n_types; t++)
        for (size_t i = 0; i < z->n_challenges; i++)
            if (strcmp(z->challenges[i].type, req->types[t]) == 0)
                return &z->challenges[i];
    return NULL;
}

static void offered(const struct acme_authz *z, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < z->n_challenges; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "",
                         z->challenges[i].type);
        if (n < 0 || (size_t)n >= outlen - used)
            break;
        used += (size_t)n;
    }
}

/* publish puts the answer to ch for name into the table and remembers it
 * for the withdrawal. */
static int publish(struct flow *f, const char *name,
                   const struct acme_challenge *ch, struct acme_err *e)
{
    struct buf ka;
    char cerr[256];
    int rc = -1;
    buf_init(&ka, 512);
    if (acme_keyauth(ch->token, f->c->thumbprint, &ka) < 0) {
        seterr(e, "%s: %s challenge: cannot form the key authorization", name,
               ch->type);
        goto out;
    }
    struct published *p = realloc(f->pub, (f->n_pub + 1) * sizeof(*p));
    if (p == NULL) {
        seterr(e, "%s", "challenge: out of memory");
        goto out;
    }
    f->pub = p;
    p = &f->pub[f->n_pub];
    p->type = strdup(ch->type);
    p->name = strdup(name);
    p->token = strdup(ch->token);
    if (p->type == NULL || p->name == NULL || p->token == NULL) {
        free(p->type);
        free(p->name);
        free(p->token);
        seterr(e, "%s", "challenge: out of memory");
        goto out;
    }
    f->n_pub++;
    if (acme_chal_put(f->req->chal, ch->type, name, ch->token, ka.data, cerr,
                      sizeof(cerr)) < 0) {
        seterr(e, "%s: cannot publish the %s answer: %s", name, ch->type, cerr);
        goto out;
    }
    rc = 0;
out:
    buf_free(&ka);
    return rc;
}

/* withdraw drops every published answer (dropping one that is not there,
 * after a failed put, is harmless). */
static void withdraw(struct flow *f)
{
    for (size_t i = 0; i < f->n_pub; i++) {
        acme_chal_drop(f->req->chal, f->pub[i].type, f->pub[i].name,
                       f->pub[i].token);
        free(f->pub[i].type);
        free(f->pub[i].name);
        free(f->pub[i].token);
    }
    free(f->pub);
    f->pub = NULL;
    f->n_pub = 0;
}

/* challenge_failure describes why an authorization went invalid. */
static void challenge_failure(const struct acme_authz *z, const char *url,
                              struct acme_err *e)
{
    char q[DETAIL_SIZE];
    for (size_t i = 0; i < z->n_challenges; i++) {
        const struct acme_challenge *ch = &z->challenges[i];
        if (ch->error == NULL)
            continue;
        e->kind = ch->error->kind;
        snprintf(e->challenge, sizeof(e->challenge), "%s", ch->type);
        seterr(e, "%s: %s challenge failed (%s): %s: %s", z->identifier.value,
               ch->type, url, ch->error->type,
               ch->error->detail != NULL
                   ? diag_quote_max(ch->error->detail,
                                    strlen(ch->error->detail), DETAIL_SHOWN, q,
                                    sizeof(q))
                   : "(no detail)");
        return;
    }
    seterr(e, "%s: the authorization %s is %s", z->identifier.value, url,
           acme_status_name(z->status));
}

/*
 * answer_authz starts one authorization on its way: nothing to do when it
 * is valid already (reused from an earlier order, §7.1.4), else the first
 * configured challenge type it offers is published and the CA told to
 * validate it. *busy says whether it is still to be polled.
 */
static int answer_authz(struct flow *f, const char *url, bool *busy,
                        struct acme_err *e)
{
    struct answer a = {0}, b = {0};
    char types[256];
    int rc = -1;
    *busy = false;
    struct acme_authz *z = fetch_authz(f, url, &a, e);
    if (z == NULL)
        goto out;
    if (z->status == ACME_STATUS_VALID) {
        rc = 0;
        goto out;
    }
    if (z->status != ACME_STATUS_PENDING) {
        challenge_failure(z, url, e);
        goto out;
    }
    const struct acme_challenge *ch = pick(f->req, z);
    if (ch == NULL) {
        offered(z, types, sizeof(types));
        seterr(e,
               "%s: the CA offers none of the configured challenge types "
               "(it offers %s)",
               z->identifier.value, types);
        goto out;
    }
    /* A challenge already processing was answered by an earlier run. */
    if (ch->status == ACME_STATUS_PENDING) {
        if (publish(f, z->identifier.value, ch, e) < 0)
            goto out;
        /* §7.5.1: an empty object tells the CA to validate now. */
        if (post(f->c, "challenge", ch->url, "{}", ACME_ANSWER_MAX, NULL, &b,
                 e) < 0)
            goto out;
    }
    *busy = true;
    rc = 0;
out:
    acme_authz_free(z);
    answer_free(&a);
    answer_free(&b);
    return rc;
}

/* settle_authz polls one answered authorization until the CA decided. */
static int settle_authz(struct flow *f, const char *url, struct acme_err *e)
{
    struct answer a = {0};
    int rc = -1;
    for (;;) {
        struct acme_authz *z = fetch_authz(f, url, &a, e);
        if (z == NULL)
            break;
        enum acme_status st = z->status;
        if (st == ACME_STATUS_VALID)
            rc = 0;
        else if (st != ACME_STATUS_PENDING)
            challenge_failure(z, url, e);
        acme_authz_free(z);
        if (st != ACME_STATUS_PENDING ||
            wait_poll(f, retry_after_of(&a), "authorization", e) < 0)
            break;
        answer_free(&a);
    }
    answer_free(&a);
    return rc;
}

/* order_at POST-as-GETs (or, with payload, POSTs to) url and parses the
 * order it answers. */
static struct acme_order *order_at(struct flow *f, const char *step,
                                   const char *url, const char *payload,
                                   struct answer *a, struct acme_err *e)
{
    struct diag d;
    if (post(f->c, step, url, payload, ACME_ANSWER_MAX, NULL, a, e) < 0)
        return NULL;
    diag_init(&d, url);
    struct acme_order *o = acme_parse_order(a->body.data, a->body.len, &d);
    if (o == NULL)
        parse_err(step, url, &d, e);
    diag_free(&d);
    return o;
}

static void order_failure(const struct acme_order *o, const char *url,
                          struct acme_err *e)
{
    char q[DETAIL_SIZE];
    if (o->error != NULL) {
        e->kind = o->error->kind;
        seterr(e, "order %s is invalid: %s: %s", url, o->error->type,
               o->error->detail != NULL
                   ? diag_quote_max(o->error->detail, strlen(o->error->detail),
                                    DETAIL_SHOWN, q, sizeof(q))
                   : "(no detail)");
    } else {
        seterr(e, "order %s is %s", url, acme_status_name(o->status));
    }
}

/* new_order_payload lists the names (and what this replaces). */
static char *new_order_payload(const struct acme_issue_req *req)
{
    json_t *ids = json_array(), *o = NULL;
    for (size_t i = 0; ids != NULL && i < req->n_names; i++)
        if (json_array_append_new(ids, json_pack("{s:s,s:s}", "type", "dns",
                                                 "value", req->names[i])) < 0)
            break;
    if (ids == NULL || json_array_size(ids) != req->n_names) {
        json_decref(ids);
        return NULL;
    }
    o = json_pack("{s:o}", "identifiers", ids);
    if (o != NULL && req->replaces != NULL &&
        json_object_set_new(o, "replaces", json_string(req->replaces)) < 0) {
        json_decref(o);
        return NULL;
    }
    return acme_jws_dump(o);
}

/* wait_order polls the order at url until it leaves the states in which
 * the CA is still working (pending while authorizations settle,
 * processing while it issues). */
static struct acme_order *wait_order(struct flow *f, const char *url,
                                     struct acme_order *o, struct answer *a,
                                     enum acme_status busy, struct acme_err *e)
{
    while (o != NULL && o->status == busy) {
        acme_order_free(o);
        o = NULL;
        if (wait_poll(f, retry_after_of(a), "order", e) < 0)
            break;
        answer_free(a);
        o = order_at(f, "order", url, NULL, a, e);
    }
    return o;
}

/* download fetches the chain and checks that it is PEM certificates. */
static int download(struct flow *f, const char *url, struct buf *chain,
                    struct acme_err *e)
{
    struct answer a;
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    int rc = -1;
    if (post(f->c, "certificate", url, NULL, ACME_CHAIN_MAX,
             "application/pem-certificate-chain", &a, e) < 0)
        goto out;
    gnutls_datum_t d = {(unsigned char *)a.body.data, (unsigned)a.body.len};
    int grc =
        gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0);
    if (grc < 0 || n == 0) {
        seterr(e, "certificate: the answer of %s is no PEM chain: %s", url,
               grc < 0 ? gnutls_strerror(grc) : "no certificate");
        goto out;
    }
    if (buf_append(chain, a.body.data, a.body.len) < 0) {
        seterr(e, "certificate: the chain from %s is over %zu bytes", url,
               chain->max);
        goto out;
    }
    rc = 0;
out:
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    answer_free(&a);
    return rc;
}

int acme_client_issue(struct acme_client *c, const struct acme_issue_req *req,
                      struct buf *chain, struct acme_err *e)
{
    struct flow f = {c, req, time(NULL) + ACME_ORDER_DEADLINE_S, NULL, 0};
    struct answer a = {0};
    struct acme_order *o = NULL;
    struct buf csr;
    char *payload = NULL, *order_url = NULL, jerr[256];
    bool *busy = NULL, any_busy = false;
    int rc = -1;
    err_reset(e);
    buf_init(&csr, REQUEST_MAX);
    if (c->kid == NULL) {
        seterr(e, "%s", "newOrder: no account yet");
        goto out;
    }
    if (req->n_names == 0 || (payload = new_order_payload(req)) == NULL) {
        seterr(e, "%s", "newOrder: no names, or out of memory");
        goto out;
    }
    if ((o = order_at(&f, "newOrder", c->dir->new_order, payload, &a, e)) ==
        NULL)
        goto out;
    if (a.location == NULL || strncmp(a.location, "https://", 8) != 0) {
        seterr(e,
               "newOrder: POST %s: HTTP %ld without the order URL "
               "(Location)",
               c->dir->new_order, a.status);
        goto out;
    }
    order_url = a.location;
    a.location = NULL;
    /* Every challenge is answered first and polled after, so that the CA
     * validates the names of an order side by side. */
    if (o->n_authorizations > 0 &&
        (busy = calloc(o->n_authorizations, sizeof(*busy))) == NULL) {
        seterr(e, "%s", "authorization: out of memory");
        goto out;
    }
    for (size_t i = 0; i < o->n_authorizations; i++) {
        if (answer_authz(&f, o->authorizations[i], &busy[i], e) < 0)
            goto out;
        any_busy = any_busy || busy[i];
    }
    if (any_busy && wait_poll(&f, -1, "authorization", e) < 0)
        goto out;
    for (size_t i = 0; i < o->n_authorizations; i++)
        if (busy[i] && settle_authz(&f, o->authorizations[i], e) < 0)
            goto out;
    /* Every authorization is decided: the answers are no longer needed. */
    withdraw(&f);
    /* The authorizations are valid; the order turns ready (§7.4). */
    answer_free(&a);
    acme_order_free(o);
    o = order_at(&f, "order", order_url, NULL, &a, e);
    if ((o = wait_order(&f, order_url, o, &a, ACME_STATUS_PENDING, e)) == NULL)
        goto out;
    if (o->status == ACME_STATUS_READY) {
        if (acme_csr(req->cert_key, req->names, req->n_names, &csr, jerr,
                     sizeof(jerr)) < 0) {
            seterr(e, "finalize: %s", jerr);
            goto out;
        }
        free(payload);
        json_t *j = json_pack("{s:s%}", "csr", csr.data, csr.len);
        if ((payload = acme_jws_dump(j)) == NULL) {
            seterr(e, "%s", "finalize: out of memory");
            goto out;
        }
        char *fin = strdup(o->finalize);
        answer_free(&a);
        acme_order_free(o);
        o = fin != NULL ? order_at(&f, "finalize", fin, payload, &a, e) : NULL;
        if (fin == NULL)
            seterr(e, "%s", "finalize: out of memory");
        free(fin);
        if ((o = wait_order(&f, order_url, o, &a, ACME_STATUS_PROCESSING, e)) ==
            NULL)
            goto out;
    }
    if (o->status != ACME_STATUS_VALID) {
        order_failure(o, order_url, e);
        goto out;
    }
    rc = download(&f, o->certificate, chain, e);
out:
    withdraw(&f);
    free(busy);
    acme_order_free(o);
    answer_free(&a);
    buf_free(&csr);
    free(payload);
    free(order_url);
    return rc;
}

/* --- renewal information ------------------------------------------------ */

int acme_client_renewal_info(struct acme_client *c, const char *pem, size_t len,
                             struct acme_renewal **out, int64_t *retry_after,
                             struct acme_err *e)
{
    struct buf url;
    struct answer a = {0};
    struct diag d;
    char cerr[256];
    int rc = -1;
    err_reset(e);
    *out = NULL;
    *retry_after = -1;
    if (ensure_directory(c, e) < 0)
        return -1;
    if (c->dir->renewal_info == NULL)
        return 1;
    /* §4.1: GET {renewalInfo}/{certID}; unauthenticated, no nonce. */
    buf_init(&url, 4096);
    buf_puts(&url, c->dir->renewal_info);
    if (url.len > 0 && url.data[url.len - 1] != '/')
        buf_puts(&url, "/");
    if (acme_cert_id(pem, len, &url, cerr, sizeof(cerr)) < 0) {
        seterr(e, "renewalInfo: %s", cerr);
        goto out;
    }
    if (url.failed) {
        seterr(e, "%s", "renewalInfo: out of memory");
        goto out;
    }
    if (get(c, "renewalInfo", url.data, &a, e) < 0)
        goto out;
    diag_init(&d, url.data);
    *out = acme_parse_renewal(a.body.data, a.body.len, &d);
    if (*out == NULL)
        parse_err("renewalInfo", url.data, &d, e);
    diag_free(&d);
    *retry_after = retry_after_of(&a);
    rc = *out != NULL ? 0 : -1;
out:
    answer_free(&a);
    buf_free(&url);
    return rc;
}
