/*
 * Unit tests for request routing and snapshot building: a real snapshot of
 * two domains (policies parsed by the policy module, a generated
 * certificate) is routed against a table of requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "certs.h"
#include "policy.h"
#include "request.h"
#include "snapshot.h"

#include "../common/fixture.h"

static const char policy_com[] = "version: STSv1\nmode: enforce\n"
                                 "mx: mx.example.com\nmax_age: 604800\n";
static const char policy_net[] = "version: STSv1\nmode: testing\n"
                                 "mx: *.mail.example.net\nmax_age: 86400\n"
                                 "note: caf\xc3\xa9\n";

static struct snapshot *make_snapshot(void)
{
    static const char *const hosts[] = {"mta-sts.example.com",
                                        "mta-sts.example.net"};
    static const struct fixture_domain v[] = {{"example.com", policy_com},
                                              {"example.net", policy_net}};
    struct snapshot *s = fixture_snapshot(v, 2, hosts, 2);
    assert_non_null(s);
    return s;
}

struct route_case {
    const char *name;
    enum request_listener listener;
    const char *method, *path, *host, *sni, *inm;
    enum request_action action;
    int status;         /* for REQUEST_REPLY */
    const char *domain; /* expected domain, or NULL */
};

#define P REQUEST_POLICY_PATH
#define HTTPS REQUEST_LISTENER_HTTPS
#define HTTP REQUEST_LISTENER_HTTP

#define T "/tlsrpt"

static const struct route_case route_cases[] = {
    /* TLS reports (RFC 8460 §3): POST on the report path of a served
     * host, over HTTPS. */
    {"report com", HTTPS, "POST", T, "mta-sts.example.com", NULL, NULL,
     REQUEST_TLSRPT, 0, "example.com"},
    {"report net, sni", HTTPS, "POST", T, "mta-sts.example.net:443",
     "mta-sts.example.net", NULL, REQUEST_TLSRPT, 0, "example.net"},
    {"report GET", HTTPS, "GET", T, "mta-sts.example.com", NULL, NULL,
     REQUEST_TLSRPT_METHOD, 0, "example.com"},
    {"report unserved host", HTTPS, "POST", T, "mta-sts.example.org", NULL,
     NULL, REQUEST_REPLY, 404, NULL},
    {"report no host", HTTPS, "POST", T, NULL, NULL, NULL, REQUEST_REPLY, 400,
     NULL},
    {"report misdirected", HTTPS, "POST", T, "mta-sts.example.com",
     "mta-sts.example.net", NULL, REQUEST_REPLY, 421, NULL},
    {"report path prefix", HTTPS, "POST", T "/x", "mta-sts.example.com", NULL,
     NULL, REQUEST_REPLY, 404, NULL},
    {"report over http redirects", HTTP, "POST", T, "mta-sts.example.com", NULL,
     NULL, REQUEST_REDIRECT, 0, "example.com"},
    {"policy POST still 405", HTTPS, "POST", P, "mta-sts.example.com", NULL,
     NULL, REQUEST_REPLY, 405, NULL},
    {"policy com", HTTPS, "GET", P, "mta-sts.example.com", NULL, NULL,
     REQUEST_REPLY, 200, "example.com"},
    {"policy net", HTTPS, "GET", P, "mta-sts.example.net", NULL, NULL,
     REQUEST_REPLY, 200, "example.net"},
    {"head", HTTPS, "HEAD", P, "mta-sts.example.com", NULL, NULL, REQUEST_REPLY,
     200, "example.com"},
    {"host upper case, port, dot", HTTPS, "GET", P, "MTA-STS.Example.COM.:8443",
     "mta-sts.example.com", NULL, REQUEST_REPLY, 200, "example.com"},
    {"sni upper case and dot", HTTPS, "GET", P, "mta-sts.example.com",
     "MTA-STS.EXAMPLE.COM.", NULL, REQUEST_REPLY, 200, "example.com"},
    {"sni disagrees", HTTPS, "GET", P, "mta-sts.example.net",
     "mta-sts.example.com", NULL, REQUEST_REPLY, 421, NULL},
    {"unknown host", HTTPS, "GET", P, "mta-sts.example.org", NULL, NULL,
     REQUEST_REPLY, 404, NULL},
    {"bare domain is not served", HTTPS, "GET", P, "example.com", NULL, NULL,
     REQUEST_REPLY, 404, NULL},
    {"sub-subdomain", HTTPS, "GET", P, "x.mta-sts.example.com", NULL, NULL,
     REQUEST_REPLY, 404, NULL},
    {"prefix of a served host", HTTPS, "GET", P, "mta-sts.example.co", NULL,
     NULL, REQUEST_REPLY, 404, NULL},
    {"ip literal host", HTTPS, "GET", P, "[::1]:8443", NULL, NULL,
     REQUEST_REPLY, 404, NULL},
    {"garbage host", HTTPS, "GET", P, "mta sts/x", NULL, NULL, REQUEST_REPLY,
     404, NULL},
    {"host with bad port", HTTPS, "GET", P, "mta-sts.example.com:x", NULL, NULL,
     REQUEST_REPLY, 404, NULL},
    {"no host", HTTPS, "GET", P, NULL, NULL, NULL, REQUEST_REPLY, 400, NULL},
    {"no host, with sni", HTTPS, "GET", P, NULL, "mta-sts.example.com", NULL,
     REQUEST_REPLY, 400, NULL},
    {"garbage host and sni", HTTPS, "GET", P, "mta sts/x", "x y", NULL,
     REQUEST_REPLY, 404, NULL},
    {"other path", HTTPS, "GET", "/", "mta-sts.example.com", NULL, NULL,
     REQUEST_REPLY, 404, NULL},
    {"path with suffix", HTTPS, "GET", P "x", "mta-sts.example.com", NULL, NULL,
     REQUEST_REPLY, 404, NULL},
    {"post", HTTPS, "POST", P, "mta-sts.example.com", NULL, NULL, REQUEST_REPLY,
     405, NULL},
    {"lower-case get is another method", HTTPS, "get", P, "mta-sts.example.com",
     NULL, NULL, REQUEST_REPLY, 405, NULL},
    {"if-none-match hit", HTTPS, "GET", P, "mta-sts.example.com", NULL,
     "@ETAG_COM@", REQUEST_REPLY, 304, "example.com"},
    {"if-none-match weak hit", HTTPS, "GET", P, "mta-sts.example.com", NULL,
     "W/@ETAG_COM@", REQUEST_REPLY, 304, "example.com"},
    {"if-none-match list", HTTPS, "GET", P, "mta-sts.example.com", NULL,
     "\"a\", @ETAG_COM@", REQUEST_REPLY, 304, "example.com"},
    {"if-none-match other tag", HTTPS, "GET", P, "mta-sts.example.com", NULL,
     "\"a\"", REQUEST_REPLY, 200, "example.com"},
    {"if-none-match star", HTTPS, "GET", P, "mta-sts.example.com", NULL, "*",
     REQUEST_REPLY, 304, "example.com"},
    {"if-none-match other domain's tag", HTTPS, "GET", P, "mta-sts.example.com",
     NULL, "@ETAG_NET@", REQUEST_REPLY, 200, "example.com"},
    {"health any host", HTTPS, "GET", "/healthz", "whatever.invalid", NULL,
     NULL, REQUEST_REPLY, 200, NULL},
    {"health sni mismatch still answers", HTTPS, "GET", "/healthz",
     "mta-sts.example.net", "mta-sts.example.com", NULL, REQUEST_REPLY, 200,
     NULL},
    {"health post", HTTPS, "POST", "/healthz", NULL, NULL, NULL, REQUEST_REPLY,
     405, NULL},
    {"no metrics on https", HTTPS, "GET", "/metrics", "mta-sts.example.com",
     NULL, NULL, REQUEST_REPLY, 404, NULL},
    {"http health", HTTP, "GET", "/healthz", NULL, NULL, NULL, REQUEST_REPLY,
     200, NULL},
    {"http metrics", HTTP, "GET", "/metrics", NULL, NULL, NULL, REQUEST_METRICS,
     0, NULL},
    {"http policy redirects", HTTP, "GET", P, "mta-sts.example.net:80", NULL,
     NULL, REQUEST_REDIRECT, 0, "example.net"},
    {"http other path redirects", HTTP, "GET", "/x", "mta-sts.example.com",
     NULL, NULL, REQUEST_REDIRECT, 0, "example.com"},
    {"http unknown host", HTTP, "GET", P, "example.org", NULL, NULL,
     REQUEST_REPLY, 404, NULL},
    {"percent-encoded path is another resource", HTTPS, "GET",
     "/.well-known/mta%2Dsts.txt", "mta-sts.example.com", NULL, NULL,
     REQUEST_REPLY, 404, NULL},
    {"encoded NUL and junk after the path", HTTPS, "GET", P "%00junk",
     "mta-sts.example.com", NULL, NULL, REQUEST_REPLY, 404, NULL},
    {"no status on https", HTTPS, "GET", "/status", "mta-sts.example.com", NULL,
     NULL, REQUEST_REPLY, 404, NULL},
    {"http status", HTTP, "GET", "/status", NULL, NULL, NULL, REQUEST_STATUS, 0,
     NULL},
    {"http status post", HTTP, "POST", "/status", NULL, NULL, NULL,
     REQUEST_REPLY, 405, NULL},
};

static char *expand(const char *tmpl, const struct snapshot *s, char *out,
                    size_t outlen)
{
    const struct plan_domain *com = snapshot_find(s, "mta-sts.example.com");
    const struct plan_domain *net = snapshot_find(s, "mta-sts.example.net");
    const char *at = strchr(tmpl, '@');
    if (at == NULL) {
        snprintf(out, outlen, "%s", tmpl);
        return out;
    }
    const char *tag = strncmp(at, "@ETAG_COM@", 10) == 0 ? com->policy->etag
                                                         : net->policy->etag;
    snprintf(out, outlen, "%.*s%s%s", (int)(at - tmpl), tmpl, tag, at + 10);
    return out;
}

static void test_route_table(void **state)
{
    (void)state;
    struct snapshot *s = make_snapshot();
    for (size_t i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
        const struct route_case *c = &route_cases[i];
        char inm[256];
        struct request r = {
            .listener = c->listener,
            .metrics_here = c->listener == HTTP,
            .method = c->method,
            .path = c->path,
            .host = c->host,
            .sni = c->sni,
            .if_none_match =
                c->inm ? expand(c->inm, s, inm, sizeof(inm)) : NULL,
        };
        r.tlsrpt_path = T;
        struct request_result res = request_route(s, &r);
        print_message("case: %s\n", c->name);
        assert_int_equal(res.action, c->action);
        if (c->action == REQUEST_REPLY)
            assert_int_equal(res.reply->status, c->status);
        if (c->domain != NULL) {
            assert_non_null(res.domain);
            assert_string_equal(res.domain->name, c->domain);
        }
    }
    /* With reception off the path is nothing special. */
    struct request off = {.listener = HTTPS,
                          .method = "POST",
                          .path = T,
                          .host = "mta-sts.example.com"};
    struct request_result res = request_route(s, &off);
    assert_int_equal(res.action, REQUEST_REPLY);
    assert_int_equal(res.reply->status, 404);
    snapshot_release(s);
}

static void test_replies(void **state)
{
    (void)state;
    struct snapshot *s = make_snapshot();
    const struct plan_domain *com = snapshot_find(s, "mta-sts.example.com");
    const struct plan_domain *net = snapshot_find(s, "mta-sts.example.net");
    assert_non_null(com);
    assert_non_null(net);
    const struct reply *ok = &com->policy->ok;
    /* The body is the served form: CRLF lines. */
    const char served[] = "version: STSv1\r\nmode: enforce\r\n"
                          "mx: mx.example.com\r\nmax_age: 604800\r\n";
    assert_int_equal(ok->body_len, strlen(served));
    assert_memory_equal(ok->body, served, strlen(served));
    assert_string_equal(ok->content_type, "text/plain");
    assert_string_equal(net->policy->ok.content_type,
                        "text/plain; charset=utf-8");
    char etag[64];
    snprintf(etag, sizeof(etag), "\"%s\"", com->policy->policy->id);
    assert_string_equal(ok->etag, etag);
    assert_string_equal(com->policy->not_modified.etag, etag);
    assert_int_equal(com->policy->not_modified.body_len, 0);
    assert_string_equal(snapshot_reply(s, SNAPSHOT_METHOD_NOT_ALLOWED)->allow,
                        "GET, HEAD");
    /* Health is small and names no domain: counts only. */
    const struct reply *h = snapshot_reply(s, SNAPSHOT_HEALTH);
    assert_int_equal(h->status, 200);
    assert_string_equal(h->body, "{\"status\":\"ok\",\"domains\":2,"
                                 "\"servable\":2,\"unwell\":0,"
                                 "\"problems\":0,\"generation\":7}\n");
    assert_null(strstr(h->body, "example"));
    snapshot_release(s);
}

/* One covered and one uncovered domain: the instance is degraded, not
 * failed; with only the uncovered one it cannot serve at all. */
static void test_health_states(void **state)
{
    (void)state;
    static const char *const hosts[] = {"mta-sts.example.com"};
    static const struct fixture_domain two[] = {{"example.com", policy_com},
                                                {"example.org", policy_com}};
    struct snapshot *s = fixture_snapshot(two, 2, hosts, 1);
    assert_non_null(s);
    const struct reply *h = snapshot_reply(s, SNAPSHOT_HEALTH);
    assert_int_equal(h->status, 200);
    assert_non_null(strstr(h->body, "\"status\":\"degraded\""));
    assert_non_null(strstr(h->body, "\"unwell\":1"));
    const struct plan_domain *org = snapshot_find(s, "mta-sts.example.org");
    assert_non_null(org);
    assert_false(org->servable);
    assert_non_null(strstr(org->cert_problem, "mta-sts.example.org"));
    /* Listed, with a policy, but not served. */
    assert_non_null(org->policy);
    struct request r = {.listener = REQUEST_LISTENER_HTTPS,
                        .method = "GET",
                        .path = REQUEST_POLICY_PATH,
                        .host = "mta-sts.example.org"};
    struct request_result res = request_route(s, &r);
    assert_int_equal(res.action, REQUEST_REPLY);
    assert_int_equal(res.reply->status, 404);
    r.host = "mta-sts.example.com";
    res = request_route(s, &r);
    assert_int_equal(res.reply->status, 200);
    snapshot_release(s);

    s = fixture_snapshot(two + 1, 1, hosts, 1);
    assert_non_null(s);
    h = snapshot_reply(s, SNAPSHOT_HEALTH);
    assert_int_equal(h->status, 503);
    assert_non_null(strstr(h->body, "\"status\":\"fail\""));
    snapshot_release(s);
}

/*
 * test_long_host sends Host headers of 255, 256 and 257 bytes (and the same
 * with a port), the sizes around request_route's 256-byte buffers: 255
 * bytes and the NUL fit, a longer Host is refused rather than cut to fit,
 * and nothing is written past the buffers (the sanitizer build runs this
 * test under ASan).
 */
static void test_long_host(void **state)
{
    (void)state;
    struct snapshot *s = make_snapshot();
    for (size_t len = 255; len <= 257; len++) {
        for (int port = 0; port <= 1; port++) {
            char host[300];
            memset(host, 'A', len);
            memcpy(host + len, port ? ":443" : "", port ? 5 : 1);
            struct request r = {.listener = HTTPS,
                                .method = "GET",
                                .path = P,
                                .host = host,
                                .sni = "mta-sts.example.com"};
            /* A Host that fits is compared with the SNI (and differs); a
             * longer one is no served host. */
            struct request_result res = request_route(s, &r);
            print_message("Host of %zu bytes%s\n", len, port ? ", port" : "");
            assert_int_equal(res.reply->status, len == 255 ? 421 : 404);
        }
    }
    snapshot_release(s);
}

static void test_etag_matches(void **state)
{
    (void)state;
    assert_true(request_etag_matches("\"abc\"", "\"abc\""));
    assert_true(request_etag_matches("W/\"abc\"", "\"abc\""));
    assert_true(request_etag_matches("\"x\",\"abc\"", "\"abc\""));
    assert_true(request_etag_matches(" *", "\"abc\""));
    assert_false(request_etag_matches("\"abcd\"", "\"abc\""));
    assert_false(request_etag_matches("abc", "\"abc\""));
    assert_false(request_etag_matches("", "\"abc\""));
    assert_false(request_etag_matches("\"ab", "\"abc\""));
    /* Only "W/" marks a weak tag; x/"abc" is some other token. */
    assert_false(request_etag_matches("x/\"abc\"", "\"abc\""));
    assert_false(request_etag_matches("W\"abc\"", "\"abc\""));
    /* Tabs separate tags like spaces and commas do. */
    assert_true(request_etag_matches("\"x\"\t\"abc\"", "\"abc\""));
    assert_true(request_etag_matches("\t\"abc\"", "\"abc\""));
    assert_false(request_etag_matches("\"x\"\t\"abc\"", "\"x\"\t"));
    /* A quoted tag runs to its closing quote, commas included. */
    assert_true(request_etag_matches("\"a,b\"", "\"a,b\""));
    assert_false(request_etag_matches("\"a,b\"", "\"a"));
    /* An unquoted token ends at a tab. */
    assert_true(request_etag_matches("abc\t\"x\"", "abc"));
    /* "*" matches anything; the weak form of it matches nothing. */
    assert_false(request_etag_matches("W/*", "\"abc\""));
    assert_false(request_etag_matches("**", "\"abc\""));
}

/* ---- HTTP-01 ------------------------------------------------------------ */

/* A lookup with one pending challenge, recording what it was asked. */
struct fake_chal {
    char host[256], token[256];
    int calls;
};

static int fake_lookup(void *ctx, const char *host, const char *token,
                       char *out, size_t outlen)
{
    struct fake_chal *f = ctx;
    f->calls++;
    snprintf(f->host, sizeof(f->host), "%s", host);
    snprintf(f->token, sizeof(f->token), "%s", token);
    if (strcmp(host, "mta-sts.example.com") != 0 || strcmp(token, "tok_1") != 0)
        return -1;
    return snprintf(out, outlen, "tok_1.thumb-print");
}

struct acme_case {
    const char *name;
    enum request_listener listener;
    bool lookup; /* ACME on */
    const char *method, *path, *host;
    enum request_action action;
    int status;        /* for REQUEST_REPLY */
    const char *asked; /* host the lookup was asked for; NULL: not asked */
};

#define A REQUEST_ACME_PREFIX

static const struct acme_case acme_cases[] = {
    {"answered", HTTP, true, "GET", A "tok_1", "mta-sts.example.com",
     REQUEST_ACME_HTTP, 0, "mta-sts.example.com"},
    {"head answered", HTTP, true, "HEAD", A "tok_1", "mta-sts.example.com",
     REQUEST_ACME_HTTP, 0, "mta-sts.example.com"},
    {"host canonical", HTTP, true, "GET", A "tok_1", "MTA-STS.example.COM.:80",
     REQUEST_ACME_HTTP, 0, "mta-sts.example.com"},
    {"unknown token", HTTP, true, "GET", A "tok_2", "mta-sts.example.com",
     REQUEST_REPLY, 404, "mta-sts.example.com"},
    {"empty token", HTTP, true, "GET", A, "mta-sts.example.com", REQUEST_REPLY,
     404, "mta-sts.example.com"},
    {"token of another host", HTTP, true, "GET", A "tok_1",
     "mta-sts.example.net", REQUEST_REPLY, 404, "mta-sts.example.net"},
    {"post", HTTP, true, "POST", A "tok_1", "mta-sts.example.com",
     REQUEST_REPLY, 405, NULL},
    {"unserved host", HTTP, true, "GET", A "tok_1", "mta-sts.example.org",
     REQUEST_REPLY, 404, NULL},
    {"no host", HTTP, true, "GET", A "tok_1", NULL, REQUEST_REPLY, 404, NULL},
    {"acme off redirects", HTTP, false, "GET", A "tok_1", "mta-sts.example.com",
     REQUEST_REDIRECT, 0, NULL},
    {"other paths still redirect", HTTP, true, "GET", "/x",
     "mta-sts.example.com", REQUEST_REDIRECT, 0, NULL},
    {"prefix without slash", HTTP, true, "GET",
     "/.well-known/acme-challengetok_1", "mta-sts.example.com",
     REQUEST_REDIRECT, 0, NULL},
    {"not on https", HTTPS, true, "GET", A "tok_1", "mta-sts.example.com",
     REQUEST_REPLY, 404, NULL},
    {"healthz unchanged", HTTP, true, "GET", "/healthz", "mta-sts.example.com",
     REQUEST_REPLY, 200, NULL},
};

static void test_acme_http(void **state)
{
    (void)state;
    struct snapshot *s = make_snapshot();
    for (size_t i = 0; i < sizeof(acme_cases) / sizeof(acme_cases[0]); i++) {
        const struct acme_case *c = &acme_cases[i];
        struct fake_chal f = {{0}, {0}, 0};
        char out[64] = "";
        struct request r = {
            .listener = c->listener,
            .method = c->method,
            .path = c->path,
            .host = c->host,
        };
        if (c->lookup) {
            r.acme_lookup = fake_lookup;
            r.acme_ctx = &f;
            r.acme_out = out;
            r.acme_outlen = sizeof(out);
        }
        print_message("case: %s\n", c->name);
        struct request_result res = request_route(s, &r);
        assert_int_equal(res.action, c->action);
        if (c->action == REQUEST_REPLY)
            assert_int_equal(res.reply->status, c->status);
        if (c->action == REQUEST_ACME_HTTP) {
            assert_int_equal(res.acme_len, strlen("tok_1.thumb-print"));
            assert_string_equal(out, "tok_1.thumb-print");
            assert_non_null(res.domain);
            assert_string_equal(res.domain->name, "example.com");
        }
        if (c->asked == NULL) {
            assert_int_equal(f.calls, 0);
        } else {
            assert_int_equal(f.calls, 1);
            assert_string_equal(f.host, c->asked);
            assert_string_equal(f.token, c->path + strlen(A));
        }
    }
    snapshot_release(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_table),   cmocka_unit_test(test_replies),
        cmocka_unit_test(test_health_states), cmocka_unit_test(test_long_host),
        cmocka_unit_test(test_etag_matches),  cmocka_unit_test(test_acme_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
