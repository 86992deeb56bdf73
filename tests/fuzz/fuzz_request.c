/*
 * libFuzzer target for the request-side parsers: Host / server-name
 * normalisation and If-None-Match matching, plus routing of an arbitrary
 * request against a fixed snapshot. Invariants are checked with abort().
 * For If-None-Match: a match needs the entity tag (or "*") to occur in the
 * header (nothing matches by accident); the tag itself, its weak form and
 * any quote-free list followed by it always match (nothing is missed).
 * For HTTP-01 (half the inputs have a challenge table with one pending
 * answer): an answer goes out only on plain HTTP, for GET or HEAD of that
 * token's exact path on its host, and it is exactly the key authorization.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme_chal.h"
#include "certs.h"
#include "dnsname.h"
#include "policy.h"
#include "request.h"
#include "snapshot.h"

#include "../common/fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct snapshot *fixed_snapshot(void)
{
    static const char *const hosts[] = {"mta-sts.example.com"};
    static const struct fixture_domain v[] = {
        {"example.com", "version: STSv1\nmode: enforce\n"
                        "mx: mx.example.com\nmax_age: 604800\n"}};
    struct snapshot *s = fixture_snapshot(v, 1, hosts, 1);
    if (s == NULL)
        abort();
    return s;
}

/* check_etag checks request_etag_matches(list, etag) for one pair. */
static void check_etag(const char *list, const char *etag)
{
    size_t ll = strlen(list), el = strlen(etag);
    bool m = request_etag_matches(list, etag);
    if (m && strchr(list, '*') == NULL && strstr(list, etag) == NULL)
        abort();
    if (!request_etag_matches(etag, etag))
        abort();
    char *buf = malloc(ll + el + 8);
    if (buf == NULL)
        return;
    memcpy(buf, "W/", 2);
    memcpy(buf + 2, etag, el + 1);
    if (!request_etag_matches(buf, etag))
        abort();
    if (strchr(list, '"') == NULL) {
        memcpy(buf, list, ll);
        memcpy(buf + ll, ", ", 2);
        memcpy(buf + ll + 2, etag, el + 1);
        if (!request_etag_matches(buf, etag))
            abort();
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct snapshot *s;
    if (s == NULL)
        s = fixed_snapshot();
    /* Split the input at NULs into host, sni, if-none-match, path. */
    char *copy = malloc(size + 4);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    memset(copy + size, 0, 4);
    const char *parts[4];
    size_t off = 0;
    for (int i = 0; i < 4; i++) {
        parts[i] = copy + (off < size ? off : size);
        off += strlen(parts[i]) + 1;
    }

    char out[256], again[256];
    if (dnsname_normalize_host(parts[0], out, sizeof(out)) == 0) {
        /* Normal form: non-empty, lower case, no port, no trailing dot;
         * normalising it again changes nothing. */
        size_t n = strlen(out);
        if (n == 0 || strchr(out, ':') != NULL || out[n - 1] == '.')
            abort();
        for (size_t i = 0; i < n; i++)
            if (out[i] >= 'A' && out[i] <= 'Z')
                abort();
        if (dnsname_normalize_host(out, again, sizeof(again)) != 0 ||
            strcmp(out, again) != 0)
            abort();
    }
    check_etag(parts[2], snapshot_at(s, 0)->policy->etag);
    /* The SNI part, quoted, as an entity tag of its own. */
    if (strchr(parts[1], '"') == NULL && strlen(parts[1]) < 200) {
        char tag[204];
        snprintf(tag, sizeof(tag), "\"%s\"", parts[1]);
        check_etag(parts[2], tag);
    }

    static struct acme_chal *chal;
    static const char keyauth[] = "tok_1.thumb";
    if (chal == NULL) {
        char err[256];
        chal = acme_chal_new();
        if (chal == NULL ||
            acme_chal_put(chal, "http-01", "mta-sts.example.com", "tok_1",
                          keyauth, err, sizeof(err)) < 0)
            abort();
    }
    char body[ACME_CHAL_KEYAUTH_MAX + 1] = "";
    static const char *const methods[] = {"GET", "HEAD", "POST"};
    struct request r = {
        .listener = size % 2 ? REQUEST_LISTENER_HTTPS : REQUEST_LISTENER_HTTP,
        .metrics_here = true,
        .method = methods[size % 3],
        .path = parts[3],
        .host = parts[0],
        .sni = parts[1][0] ? parts[1] : NULL,
        .if_none_match = parts[2],
    };
    if (size % 4 < 2) {
        r.acme_lookup = acme_chal_http_lookup;
        r.acme_ctx = chal;
        r.acme_out = body;
        r.acme_outlen = sizeof(body);
    }
    struct request_result res = request_route(s, &r);
    if (res.action == REQUEST_REPLY && res.reply == NULL)
        abort();
    if (res.action == REQUEST_ACME_HTTP &&
        (r.acme_lookup == NULL || r.listener != REQUEST_LISTENER_HTTP ||
         strcmp(r.method, "POST") == 0 ||
         strcmp(r.path, REQUEST_ACME_PREFIX "tok_1") != 0 ||
         dnsname_normalize_host(r.host, out, sizeof(out)) != 0 ||
         strcmp(out, "mta-sts.example.com") != 0 ||
         res.acme_len != strlen(keyauth) || strcmp(body, keyauth) != 0))
        abort();
    if (res.action == REQUEST_REPLY && res.reply->status == 200 &&
        strcmp(r.path, REQUEST_POLICY_PATH) == 0 &&
        (res.domain == NULL ||
         res.reply->body_len != res.domain->policy->policy->served_len))
        abort();
    free(copy);
    return 0;
}
