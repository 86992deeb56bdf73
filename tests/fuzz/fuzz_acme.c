/*
 * fuzz_acme: libFuzzer target for the parsers of ACME server answers
 * (server/acme_parse.c). The first byte picks the document (directory,
 * account, order, authorization, challenge, problem, renewalInfo, or a
 * Retry-After value); the rest is its text. Any input must parse without
 * crashing or leaking; the verdict must match the diagnostics; and what
 * is accepted must hold what the client relies on: the URLs it will call
 * are https, statuses are the RFC's for that object, an order has
 * identifiers and a valid one a certificate URL, tokens are base64url,
 * a renewal window ends after it starts, a Retry-After delay is not
 * negative. Violations abort() so the fuzzer records the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme_parse.h"
#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char B64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void need(int ok)
{
    if (!ok)
        abort();
}

static int https(const char *u)
{
    return u != NULL && strncmp(u, "https://", 8) == 0;
}

static void check_problem(const struct acme_problem *p)
{
    need(p->type != NULL && p->kind == acme_error_kind(p->type));
    need(p->status == 0 || (p->status >= 100 && p->status <= 599));
    for (size_t i = 0; i < p->n_subproblems; i++)
        need(p->subproblems[i].type != NULL &&
             p->subproblems[i].kind == acme_error_kind(p->subproblems[i].type));
}

static void check_challenge(const struct acme_challenge *c)
{
    need(c->type != NULL && c->type[0] != '\0' && https(c->url));
    need(c->status == ACME_STATUS_PENDING ||
         c->status == ACME_STATUS_PROCESSING ||
         c->status == ACME_STATUS_VALID || c->status == ACME_STATUS_INVALID);
    if (strcmp(c->type, "http-01") == 0 ||
        strcmp(c->type, "tls-alpn-01") == 0 || strcmp(c->type, "dns-01") == 0)
        need(c->token != NULL && c->token[0] != '\0');
    if (c->token != NULL)
        need(strspn(c->token, B64URL) == strlen(c->token));
    if (c->error != NULL)
        check_problem(c->error);
}

/* parse runs the parser kind picks; returns whether it accepted. */
static int parse(unsigned kind, const char *s, size_t n, struct diag *d)
{
    int ok = 0;
    switch (kind) {
    case 0: {
        struct acme_directory *v = acme_parse_directory(s, n, d);
        if ((ok = v != NULL)) {
            need(https(v->new_nonce) && https(v->new_account) &&
                 https(v->new_order));
            need(v->renewal_info == NULL || https(v->renewal_info));
        }
        acme_directory_free(v);
        break;
    }
    case 1: {
        struct acme_account *v = acme_parse_account(s, n, d);
        if ((ok = v != NULL)) {
            need(v->status == ACME_STATUS_VALID ||
                 v->status == ACME_STATUS_DEACTIVATED ||
                 v->status == ACME_STATUS_REVOKED);
            need(v->orders == NULL || https(v->orders));
            for (size_t i = 0; i < v->n_contact; i++)
                need(v->contact[i] != NULL);
        }
        acme_account_free(v);
        break;
    }
    case 2: {
        struct acme_order *v = acme_parse_order(s, n, d);
        if ((ok = v != NULL)) {
            need(v->status >= ACME_STATUS_PENDING &&
                 v->status <= ACME_STATUS_INVALID);
            need(v->n_identifiers > 0 && https(v->finalize));
            for (size_t i = 0; i < v->n_identifiers; i++)
                need(v->identifiers[i].type[0] != '\0' &&
                     v->identifiers[i].value[0] != '\0');
            for (size_t i = 0; i < v->n_authorizations; i++)
                need(https(v->authorizations[i]));
            need(v->status != ACME_STATUS_VALID || https(v->certificate));
            need(v->certificate == NULL || https(v->certificate));
            if (v->error != NULL)
                check_problem(v->error);
        }
        acme_order_free(v);
        break;
    }
    case 3: {
        struct acme_authz *v = acme_parse_authz(s, n, d);
        if ((ok = v != NULL)) {
            need(v->status != ACME_STATUS_UNKNOWN &&
                 v->status != ACME_STATUS_READY &&
                 v->status != ACME_STATUS_PROCESSING);
            need(v->identifier.type != NULL && v->identifier.value != NULL);
            for (size_t i = 0; i < v->n_challenges; i++)
                check_challenge(&v->challenges[i]);
        }
        acme_authz_free(v);
        break;
    }
    case 4: {
        struct acme_challenge *v = acme_parse_challenge(s, n, d);
        if ((ok = v != NULL))
            check_challenge(v);
        acme_challenge_free(v);
        break;
    }
    case 5: {
        struct acme_problem *v = acme_parse_problem(s, n, d);
        if ((ok = v != NULL))
            check_problem(v);
        acme_problem_free(v);
        break;
    }
    case 6: {
        struct acme_renewal *v = acme_parse_renewal(s, n, d);
        if ((ok = v != NULL))
            need(v->start < v->end);
        acme_renewal_free(v);
        break;
    }
    default: {
        /* A header value is text without NUL bytes. */
        char *z = strndup(s, n);
        int64_t delay = -1;
        need(z != NULL);
        ok = acme_parse_retry_after(z, 784111747, &delay) == 0;
        need(!ok || delay >= 0);
        free(z);
        /* Not a diag parser: record the verdict the way the others do. */
        if (!ok)
            diag_add(d, DIAG_ERROR, 0, 0, "not a Retry-After value");
        break;
    }
    }
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diag d, d2;
    if (size == 0)
        return 0;
    unsigned kind = data[0] % 8;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    diag_init(&d, "fuzz");
    diag_init(&d2, "fuzz2");
    int ok = parse(kind, s, n, &d);
    need(ok == (diag_errors(&d) == 0));
    /* The same bytes give the same verdict and the same messages. */
    need(parse(kind, s, n, &d2) == ok && d.n == d2.n);
    for (size_t i = 0; i < d.n; i++)
        need(strcmp(d.entries[i].msg, d2.entries[i].msg) == 0);
    diag_free(&d);
    diag_free(&d2);
    return 0;
}
