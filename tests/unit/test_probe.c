/*
 * Unit tests for the health probe's pure parsers: probe_parse_response on
 * whole, cut-short and malformed responses (each copied to a heap buffer
 * of exactly its length, so that a read past the received bytes is an ASan
 * report), and probe_split_url on accepted and refused URLs, including
 * the reproducers found by tests/fuzz/fuzz_probe. One thread, no sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "probe.h"

struct response_case {
    const char *resp;
    size_t bodylen;
    int status; /* -1: refused */
    const char *body;
};

static const struct response_case response_cases[] = {
    {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
     "{\"status\":\"ok\"}\n",
     64, 200, "{\"status\":\"ok\"}"},
    {"HTTP/1.0 503 Service Unavailable\r\n\r\ndegraded\r\nmore", 64, 503,
     "degraded"},
    {"HTTP/1.1 200 OK\r\n\r\nabcdefgh", 4, 200, "abc"}, /* truncated */
    {"HTTP/1.1 200 OK\r\n\r\nabc", 0, 200, NULL},       /* no body room */
    {"HTTP/1.1 204 No Content\r\n", 64, 204, ""},       /* headers cut */
    {"HTTP/1.1 200", 64, 200, ""},                      /* status only */
    {"HTTP/1.1 200\r\n\r\n", 64, 200, ""},              /* no reason */
    /* Cut short before the status code: the fuzzer's reproducer (the old
     * code read resp[8] of a 7- or 8-byte answer). */
    {"HTTP/1.", 64, -1, ""},
    {"HTTP/1.1", 64, -1, ""},
    {"HTTP/1.1 ", 64, -1, ""},
    {"HTTP/1.1 20", 64, -1, ""},
    {"HTTP/1.1 2000 OK\r\n\r\n", 64, -1, ""},
    {"HTTP/1.1 099 Low\r\n\r\n", 64, -1, ""},
    {"HTTP/1.1 600 High\r\n\r\n", 64, -1, ""},
    {"HTTP/1.1 +20 OK\r\n\r\n", 64, -1, ""},
    {"HTTP/1.1  200 OK\r\n\r\n", 64, -1, ""},
    {"HTTP/2 200\r\n\r\n", 64, -1, ""},
    {"SSH-2.0-OpenSSH_9.2\r\n", 64, -1, ""},
    {"", 64, -1, ""},
};

static void test_parse_response(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(response_cases) / sizeof(response_cases[0]);
         i++) {
        const struct response_case *c = &response_cases[i];
        size_t len = strlen(c->resp);
        char *exact = malloc(len ? len : 1);
        char body[65], err[128] = "";
        assert_non_null(exact);
        memcpy(exact, c->resp, len);
        memset(body, 'Z', sizeof(body));
        int got = probe_parse_response(exact, len, body, c->bodylen, err,
                                       sizeof(err));
        free(exact);
        if (got != c->status)
            fail_msg("case %zu (%s): status %d, want %d", i, c->resp, got,
                     c->status);
        assert_int_equal(body[c->bodylen], 'Z'); /* stayed in its buffer */
        if (c->status < 0)
            assert_true(err[0] != '\0');
        else if (c->body != NULL)
            assert_string_equal(body, c->body);
    }
}

struct url_case {
    const char *url;
    int rc;
    const char *host, *port, *path;
};

static const struct url_case url_cases[] = {
    {"http://127.0.0.1:8080/healthz", 0, "127.0.0.1", "8080", "/healthz"},
    {"http://[::1]:8080/healthz?x=1", 0, "::1", "8080", "/healthz?x=1"},
    {"http://[fe80::1%eth0]/", 0, "fe80::1%eth0", "80", "/"},
    {"http://mta-sts.example.com", 0, "mta-sts.example.com", "80", "/"},
    {"http://localhost:80", 0, "localhost", "80", "/"},
    {"https://127.0.0.1/healthz", -1, NULL, NULL, NULL},
    {"http://", -1, NULL, NULL, NULL},
    {"http://:80/", -1, NULL, NULL, NULL},
    {"http://host:/", -1, NULL, NULL, NULL},
    {"http://host:80x/", -1, NULL, NULL, NULL},
    {"http://[::1/", -1, NULL, NULL, NULL},
    {"http://[]:80/", -1, NULL, NULL, NULL},
    /* fuzz_probe's reproducer: a '/' inside the brackets became the host. */
    {"http://[/]", -1, NULL, NULL, NULL},
    {"http://a b/", -1, NULL, NULL, NULL},
    {"http://host/a b", -1, NULL, NULL, NULL},
    {"http://host/a\r\nX-Injected: 1", -1, NULL, NULL, NULL},
    {"http://host@evil/", -1, NULL, NULL, NULL},
};

static void test_split_url(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
        const struct url_case *c = &url_cases[i];
        char host[64], port[8];
        const char *path = NULL;
        int rc = probe_split_url(c->url, host, sizeof(host), port, sizeof(port),
                                 &path);
        if (rc != c->rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, c->url, rc, c->rc);
        if (rc != 0)
            continue;
        assert_string_equal(host, c->host);
        assert_string_equal(port, c->port);
        assert_string_equal(path, c->path);
    }
    /* A host longer than its buffer is refused, not cut. */
    char small[4], port[8];
    const char *path;
    assert_int_equal(probe_split_url("http://abcd/", small, sizeof(small), port,
                                     sizeof(port), &path),
                     -1);
    assert_int_equal(probe_split_url("http://abc/", small, sizeof(small), port,
                                     sizeof(port), &path),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_split_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
