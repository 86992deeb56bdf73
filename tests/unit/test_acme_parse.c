/*
 * test_acme_parse: ACME server answers (server/acme_parse.c), table-driven:
 * Pebble's and Let's Encrypt's real shapes of directory, account, order,
 * authorization, challenge, problem and renewalInfo documents read into
 * the right fields; each required field missing, each wrong type, a
 * non-https URL, an unknown status, a token outside base64url, a window
 * that ends before it starts, and invalid JSON refused with the path,
 * what was expected and what was found; error types by URN; RFC 3339
 * times; Retry-After in seconds and as each HTTP-date form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_parse.h"

/* diag_has tells whether some entry of d contains needle. */
static int diag_has(const struct diag *d, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->entries[i].msg, needle) != NULL)
            return 1;
    return 0;
}

static void test_directory(void **state)
{
    (void)state;
    /* Let's Encrypt's, with its random extra entry and profiles. */
    static const char le[] =
        "{\"keyChange\":\"https://acme-v02.api.letsencrypt.org/acme/"
        "key-change\",\"meta\":{\"caaIdentities\":[\"letsencrypt.org\"],"
        "\"profiles\":{\"classic\":\"x\"},\"termsOfService\":\"https://"
        "letsencrypt.org/documents/LE-SA-v1.5-February-24-2025.pdf\","
        "\"website\":\"https://letsencrypt.org\"},\"newAccount\":\"https://"
        "acme-v02.api.letsencrypt.org/acme/new-acct\",\"newNonce\":\"https://"
        "acme-v02.api.letsencrypt.org/acme/new-nonce\",\"newOrder\":\"https://"
        "acme-v02.api.letsencrypt.org/acme/new-order\",\"renewalInfo\":"
        "\"https://acme-v02.api.letsencrypt.org/acme/renewal-info\","
        "\"revokeCert\":\"https://acme-v02.api.letsencrypt.org/acme/"
        "revoke-cert\",\"Dx3LmmZwd4o\":\"https://community.letsencrypt.org/"
        "t/adding-random-entries-to-the-directory/33417\"}";
    struct diag d;
    diag_init(&d, "https://ca/dir");
    struct acme_directory *dir = acme_parse_directory(le, strlen(le), &d);
    assert_non_null(dir);
    assert_int_equal(diag_errors(&d), 0);
    assert_string_equal(dir->new_nonce,
                        "https://acme-v02.api.letsencrypt.org/acme/new-nonce");
    assert_string_equal(dir->new_account,
                        "https://acme-v02.api.letsencrypt.org/acme/new-acct");
    assert_string_equal(dir->new_order,
                        "https://acme-v02.api.letsencrypt.org/acme/new-order");
    assert_string_equal(
        dir->renewal_info,
        "https://acme-v02.api.letsencrypt.org/acme/renewal-info");
    assert_non_null(strstr(dir->terms_of_service, "LE-SA-v1.5"));
    assert_string_equal(dir->website, "https://letsencrypt.org");
    assert_false(dir->eab_required);
    acme_directory_free(dir);
    diag_free(&d);

    /* Pebble's: no renewalInfo, a data: URL as terms, EAB required. */
    static const char pebble[] =
        "{\"keyChange\":\"https://127.0.0.1:14000/rollover-account-key\","
        "\"meta\":{\"externalAccountRequired\":true,\"termsOfService\":"
        "\"data:text/plain,Do%20what%20thou%20wilt\"},\"newAccount\":"
        "\"https://127.0.0.1:14000/sign-me-up\",\"newNonce\":\"https://"
        "127.0.0.1:14000/nonce-plz\",\"newOrder\":\"https://127.0.0.1:14000/"
        "order-plz\",\"revokeCert\":\"https://127.0.0.1:14000/revoke-cert\"}";
    diag_init(&d, "https://ca/dir");
    dir = acme_parse_directory(pebble, strlen(pebble), &d);
    assert_non_null(dir);
    assert_null(dir->renewal_info);
    assert_null(dir->website);
    assert_true(dir->eab_required);
    assert_string_equal(dir->terms_of_service,
                        "data:text/plain,Do%20what%20thou%20wilt");
    acme_directory_free(dir);
    diag_free(&d);
    acme_directory_free(NULL);
}

/* Refusals of every parser: input and a message part each. */
enum kind { DIR, ACCT, ORDER, AUTHZ, CHAL, PROB, RENEW };

static int parse_ok(enum kind k, const char *j, struct diag *d)
{
    size_t n = strlen(j);
    switch (k) {
    case DIR: {
        struct acme_directory *v = acme_parse_directory(j, n, d);
        acme_directory_free(v);
        return v != NULL;
    }
    case ACCT: {
        struct acme_account *v = acme_parse_account(j, n, d);
        acme_account_free(v);
        return v != NULL;
    }
    case ORDER: {
        struct acme_order *v = acme_parse_order(j, n, d);
        acme_order_free(v);
        return v != NULL;
    }
    case AUTHZ: {
        struct acme_authz *v = acme_parse_authz(j, n, d);
        acme_authz_free(v);
        return v != NULL;
    }
    case CHAL: {
        struct acme_challenge *v = acme_parse_challenge(j, n, d);
        acme_challenge_free(v);
        return v != NULL;
    }
    case PROB: {
        struct acme_problem *v = acme_parse_problem(j, n, d);
        acme_problem_free(v);
        return v != NULL;
    }
    case RENEW: {
        struct acme_renewal *v = acme_parse_renewal(j, n, d);
        acme_renewal_free(v);
        return v != NULL;
    }
    }
    return 0;
}

#define U "\"https://ca/x\""
#define ORDER_OK                                                               \
    "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example\"}],"            \
    "\"finalize\":" U

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        enum kind k;
        const char *json;
        const char *msg; /* NULL: accepted */
    } t[] = {
        {DIR, "", "expected an ACME directory (JSON), found invalid JSON"},
        {DIR, "[1]",
         "expected an ACME directory (a JSON object), found an "
         "array"},
        {DIR, "{\"newNonce\":" U ",\"newAccount\":" U "}",
         "newOrder: expected a string, found nothing (required)"},
        {DIR,
         "{\"newNonce\":\"http://ca/n\",\"newAccount\":" U ",\"newOrder\":" U
         "}",
         "newNonce: expected an https URL, found \"http://ca/n\""},
        {DIR,
         "{\"newNonce\":" U ",\"newAccount\":" U ",\"newOrder\":" U
         ",\"meta\":{\"externalAccountRequired\":\"yes\"}}",
         "meta.externalAccountRequired: expected true or false, found "
         "\"yes\""},
        {DIR,
         "{\"newNonce\":" U ",\"newAccount\":" U ",\"newOrder\":" U
         ",\"meta\":[]}",
         "meta: expected an object, found an array"},
        {DIR, "{\"newNonce\":" U ",\"newNonce\":" U "}",
         "duplicate object key"},
        {ACCT, "{\"status\":\"valid\"}", NULL},
        {ACCT, "{\"status\":\"pending\"}",
         "status: expected one of \"valid\", \"deactivated\", \"revoked\", "
         "found \"pending\""},
        {ACCT, "{\"status\":\"valid\",\"contact\":[1]}",
         "contact[0]: expected a string, found 1"},
        {ORDER, "{\"status\":\"pending\"," ORDER_OK "}", NULL},
        {ORDER, "{\"status\":\"valid\"," ORDER_OK "}",
         "certificate: expected the certificate URL of a valid order"},
        {ORDER, "{\"status\":\"done\"," ORDER_OK "}",
         "status: expected one of \"pending\", \"ready\", \"processing\", "
         "\"valid\", \"invalid\", found \"done\""},
        {ORDER,
         "{\"status\":\"pending\",\"identifiers\":[],\"finalize\":" U "}",
         "identifiers: expected at least one identifier, found []"},
        {ORDER,
         "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\"}],"
         "\"finalize\":" U "}",
         "identifiers[0].value: expected a string, found nothing"},
        {ORDER,
         "{\"status\":\"pending\"," ORDER_OK
         ",\"authorizations\":[\"ftp://x\"]}",
         "authorizations[0]: expected an https URL, found \"ftp://x\""},
        {ORDER, "{\"status\":\"pending\"," ORDER_OK ",\"expires\":\"soon\"}",
         "expires: expected an RFC 3339 date-time with a time zone"},
        {ORDER,
         "{\"status\":\"pending\"," ORDER_OK
         ",\"expires\":\"2026-01-01T00:00:00\"}",
         "expires: expected an RFC 3339 date-time with a time zone"},
        {ORDER,
         "{\"status\":\"invalid\"," ORDER_OK ",\"error\":{\"status\":42}}",
         "error.status: expected an HTTP status code (100 to 599), found 42"},
        {AUTHZ, "{\"status\":\"pending\",\"challenges\":[]}",
         "identifier: expected an identifier object, found nothing"},
        {AUTHZ,
         "{\"identifier\":{\"type\":\"dns\",\"value\":\"a\"},\"status\":"
         "\"pending\"}",
         "challenges: expected an array, found nothing (required)"},
        {AUTHZ,
         "{\"identifier\":{\"type\":\"dns\",\"value\":\"a\"},\"status\":"
         "\"pending\",\"challenges\":[{\"type\":\"http-01\",\"url\":" U
         ",\"status\":\"pending\"}]}",
         "challenges[0].token: expected a string, found nothing"},
        {AUTHZ,
         "{\"identifier\":{\"type\":\"dns\",\"value\":\"a\"},\"status\":"
         "\"pending\",\"challenges\":[{\"type\":\"tls-alpn-01\",\"url\":" U
         ",\"status\":\"pending\",\"token\":\"../../etc\"}]}",
         "challenges[0].token: expected a base64url token, found "
         "\"../../etc\""},
        {AUTHZ,
         "{\"identifier\":{\"type\":\"dns\",\"value\":\"a\"},\"status\":"
         "\"pending\",\"challenges\":[{\"type\":\"future-01\",\"url\":" U
         ",\"status\":\"pending\"}]}",
         NULL},
        {CHAL,
         "{\"type\":\"http-01\",\"url\":" U ",\"status\":\"ready\","
         "\"token\":\"abc\"}",
         "status: expected one of \"pending\", \"processing\", \"valid\", "
         "\"invalid\", found \"ready\""},
        {PROB, "{}", NULL},
        {PROB, "{\"type\":3}", "type: expected a string, found 3"},
        {PROB, "{\"subproblems\":[{\"detail\":\"x\"}]}",
         "subproblems[0].type: expected a string, found nothing"},
        {PROB, "{\"subproblems\":[{\"type\":\"t\",\"identifier\":\"a\"}]}",
         "subproblems[0].identifier: expected an identifier object, found "
         "\"a\""},
        {RENEW, "{}", "suggestedWindow: expected an object, found nothing"},
        {RENEW,
         "{\"suggestedWindow\":{\"start\":\"2026-01-02T00:00:00Z\",\"end\":"
         "\"2026-01-01T00:00:00Z\"}}",
         "suggestedWindow: expected an end later than the start, found an "
         "end 86400 seconds before it"},
        {RENEW,
         "{\"suggestedWindow\":{\"start\":\"2026-01-01T00:00:00Z\",\"end\":"
         "\"2026-01-01T00:00:00Z\"}}",
         "found the same instant"},
        {RENEW, "{\"suggestedWindow\":{\"start\":\"2026-01-01T00:00:00Z\"}}",
         "suggestedWindow.end: expected a string, found nothing"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct diag d;
        diag_init(&d, "https://ca/x");
        int ok = parse_ok(t[i].k, t[i].json, &d);
        if (t[i].msg == NULL) {
            if (!ok || diag_errors(&d) != 0)
                fail_msg("case %zu: refused: %s", i,
                         d.n ? d.entries[0].msg : "?");
        } else {
            if (ok)
                fail_msg("case %zu accepted: %s", i, t[i].json);
            assert_true(diag_errors(&d) > 0);
            if (!diag_has(&d, t[i].msg))
                fail_msg("case %zu: want \"%s\", got \"%s\"", i, t[i].msg,
                         d.n ? d.entries[0].msg : "(none)");
        }
        diag_free(&d);
    }
}

static void test_order_authz(void **state)
{
    (void)state;
    /* Pebble's answer to newOrder, with a replaces field (RFC 9773). */
    static const char order[] =
        "{\"status\":\"pending\",\"expires\":\"2026-12-02T17:10:27Z\","
        "\"identifiers\":[{\"type\":\"dns\",\"value\":\"mta-sts.example.com\"}"
        ",{\"type\":\"dns\",\"value\":\"mta-sts.example.net\"}],\"finalize\":"
        "\"https://127.0.0.1:14000/finalize-order/Xk\",\"authorizations\":["
        "\"https://127.0.0.1:14000/authZ/a1\",\"https://127.0.0.1:14000/authZ/"
        "a2\"],\"replaces\":\"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE\"}";
    struct diag d;
    diag_init(&d, "order");
    struct acme_order *o = acme_parse_order(order, strlen(order), &d);
    assert_non_null(o);
    assert_int_equal(o->status, ACME_STATUS_PENDING);
    assert_int_equal(o->expires, 1796231427);
    assert_int_equal(o->n_identifiers, 2);
    assert_string_equal(o->identifiers[1].value, "mta-sts.example.net");
    assert_int_equal(o->n_authorizations, 2);
    assert_string_equal(o->authorizations[1],
                        "https://127.0.0.1:14000/authZ/a2");
    assert_string_equal(o->finalize,
                        "https://127.0.0.1:14000/finalize-order/Xk");
    assert_null(o->certificate);
    assert_string_equal(o->replaces, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    assert_null(o->error);
    acme_order_free(o);

    /* An invalid order with its problem and subproblems. */
    static const char bad[] =
        "{\"status\":\"invalid\",\"identifiers\":[{\"type\":\"dns\",\"value\""
        ":\"a.example\"}],\"finalize\":\"https://ca/f\",\"error\":{\"type\":"
        "\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"no\","
        "\"status\":400,\"subproblems\":[{\"type\":\"urn:ietf:params:acme:"
        "error:dns\",\"detail\":\"NXDOMAIN\",\"identifier\":{\"type\":\"dns\","
        "\"value\":\"a.example\"}}]}}";
    o = acme_parse_order(bad, strlen(bad), &d);
    assert_non_null(o);
    assert_int_equal(o->status, ACME_STATUS_INVALID);
    assert_non_null(o->error);
    assert_int_equal(o->error->kind, ACME_ERROR_REJECTED_IDENTIFIER);
    assert_int_equal(o->error->status, 400);
    assert_int_equal(o->error->n_subproblems, 1);
    assert_int_equal(o->error->subproblems[0].kind, ACME_ERROR_DNS);
    assert_string_equal(o->error->subproblems[0].identifier, "a.example");
    acme_order_free(o);

    /* Let's Encrypt's authorization: three challenges, one validated. */
    static const char authz[] =
        "{\"identifier\":{\"type\":\"dns\",\"value\":\"mta-sts.example.com\"},"
        "\"status\":\"pending\",\"expires\":\"2026-12-08T17:10:27.123456Z\","
        "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://acme-v02.api."
        "letsencrypt.org/acme/chall/1/2/a\",\"status\":\"pending\",\"token\":"
        "\"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0\"},{\"type\":\"dns-01\""
        ",\"url\":\"https://acme-v02.api.letsencrypt.org/acme/chall/1/2/b\","
        "\"status\":\"pending\",\"token\":\"tok2\"},{\"type\":\"tls-alpn-01\","
        "\"url\":\"https://acme-v02.api.letsencrypt.org/acme/chall/1/2/c\","
        "\"status\":\"invalid\",\"token\":\"tok3\",\"error\":{\"type\":\"urn:"
        "ietf:params:acme:error:tls\",\"detail\":\"handshake\"}}]}";
    struct acme_authz *a = acme_parse_authz(authz, strlen(authz), &d);
    assert_non_null(a);
    assert_int_equal(a->status, ACME_STATUS_PENDING);
    assert_string_equal(a->identifier.value, "mta-sts.example.com");
    assert_false(a->wildcard);
    assert_int_equal(a->expires, 1796749827);
    assert_int_equal(a->n_challenges, 3);
    assert_string_equal(a->challenges[0].type, "http-01");
    assert_string_equal(a->challenges[0].token,
                        "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0");
    assert_int_equal(a->challenges[2].status, ACME_STATUS_INVALID);
    assert_int_equal(a->challenges[2].error->kind, ACME_ERROR_TLS);
    acme_authz_free(a);
    assert_int_equal(diag_errors(&d), 0);
    diag_free(&d);

    /* RFC 9773 §4.2's example answer. */
    static const char ri[] =
        "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":"
        "\"2025-01-03T04:00:00Z\"},\"explanationURL\":\"https://acme.example."
        "com/docs/ari\"}";
    diag_init(&d, "ri");
    struct acme_renewal *r = acme_parse_renewal(ri, strlen(ri), &d);
    assert_non_null(r);
    assert_int_equal(r->start, 1735790400);
    assert_int_equal(r->end, 1735876800);
    assert_string_equal(r->explanation_url,
                        "https://acme.example.com/docs/ari");
    acme_renewal_free(r);
    diag_free(&d);
}

static void test_errors_and_status(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        enum acme_error kind;
    } t[] = {
        {"urn:ietf:params:acme:error:badNonce", ACME_ERROR_BAD_NONCE},
        {"urn:ietf:params:acme:error:rateLimited", ACME_ERROR_RATE_LIMITED},
        {"urn:ietf:params:acme:error:accountDoesNotExist",
         ACME_ERROR_ACCOUNT_DOES_NOT_EXIST},
        {"urn:ietf:params:acme:error:externalAccountRequired",
         ACME_ERROR_EXTERNAL_ACCOUNT_REQUIRED},
        {"urn:ietf:params:acme:error:alreadyReplaced",
         ACME_ERROR_ALREADY_REPLACED},
        {"urn:ietf:params:acme:error:somethingNew", ACME_ERROR_OTHER},
        {"urn:ietf:params:acme:error:badnonce", ACME_ERROR_OTHER},
        {"about:blank", ACME_ERROR_NONE},
        {"urn:ietf:params:acme:error:", ACME_ERROR_OTHER},
        {NULL, ACME_ERROR_NONE},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(acme_error_kind(t[i].type), t[i].kind);
    assert_string_equal(acme_error_name(ACME_ERROR_RATE_LIMITED),
                        "rateLimited");
    assert_string_equal(acme_status_name(ACME_STATUS_PROCESSING), "processing");
    assert_string_equal(acme_status_name((enum acme_status)99), "unknown");

    struct diag d;
    diag_init(&d, "p");
    static const char rl[] =
        "{\"type\":\"urn:ietf:params:acme:error:rateLimited\",\"detail\":"
        "\"too many new orders\",\"status\":429}";
    struct acme_problem *p = acme_parse_problem(rl, strlen(rl), &d);
    assert_non_null(p);
    assert_int_equal(p->kind, ACME_ERROR_RATE_LIMITED);
    assert_string_equal(p->detail, "too many new orders");
    assert_int_equal(p->status, 429);
    acme_problem_free(p);
    p = acme_parse_problem("{}", 2, &d);
    assert_string_equal(p->type, "about:blank");
    assert_int_equal(p->kind, ACME_ERROR_NONE);
    assert_null(p->detail);
    acme_problem_free(p);
    diag_free(&d);
}

static void test_times(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        int64_t t;
    } t[] = {
        {"1970-01-01T00:00:00Z", 0, 0},
        {"2026-12-01T17:10:27Z", 0, 1796145027},
        {"2026-12-01T17:10:27.999999999Z", 0, 1796145027},
        {"2026-12-01T19:10:27+02:00", 0, 1796145027},
        {"2026-12-01t17:10:27z", 0, 1796145027},
        {"2026-12-01T17:10:27", -1, 0},
        {"2026-02-30T00:00:00Z", -1, 0},
        {"", -1, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int64_t v = -1;
        assert_int_equal(acme_parse_time(t[i].s, &v), t[i].rc);
        if (t[i].rc == 0)
            assert_int_equal(v, t[i].t);
    }
}

static void test_retry_after(void **state)
{
    (void)state;
    /* now: Sun, 06 Nov 1994 08:49:07 GMT, 30 s before RFC 9110's date */
    const int64_t now = 784111747;
    static const struct {
        const char *v;
        int rc;
        int64_t delay;
    } t[] = {
        {"120", 0, 120},
        {" 0 ", 0, 0},
        {"Sun, 06 Nov 1994 08:49:37 GMT", 0, 30},  /* IMF-fixdate */
        {"Sunday, 06-Nov-94 08:49:37 GMT", 0, 30}, /* RFC 850 */
        {"Sun Nov  6 08:49:37 1994", 0, 30},       /* asctime */
        {"Sat, 05 Nov 1994 08:49:37 GMT", 0, 0},   /* in the past */
        {"-5", -1, 0},
        {"12abc", -1, 0},
        {"", -1, 0},
        {"soon", -1, 0},
        {"99999999999999999999999", -1, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int64_t d = -1;
        int rc = acme_parse_retry_after(t[i].v, now, &d);
        if (rc != t[i].rc)
            fail_msg("\"%s\": rc %d", t[i].v, rc);
        if (rc == 0)
            assert_int_equal(d, t[i].delay);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_order_authz),
        cmocka_unit_test(test_errors_and_status),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
