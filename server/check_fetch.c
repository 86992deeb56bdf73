/*
 * check_fetch: the policy fetch of `check`, as a sender does it, through
 * libcurl: one GET over HTTPS with verification, SNI, no redirects, a
 * capped body and a timeout (10 s, or what is left of the caller's
 * deadline; a stop flag looked at by the progress callback), connected to the
 * address the caller chose (CURLOPT_CONNECT_TO keeps the URL, the SNI and the
 * Host header those of mta-sts.<domain>). Prints nothing. Blocking; main thread
 * (`check`) or a check thread of `serve`.
 */
#include "check_fetch.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "buf.h"
#include "httpc.h"
#include "policy.h"

int check_fetch_policy(const char *domain, const char *addr, unsigned port,
                       const char *ca_file, const struct check_bound *b,
                       struct check_fetched *out, char *err, size_t errlen)
{
    char url[320], connect_to[400], why[CURL_ERROR_SIZE] = "";
    struct curl_slist *to = NULL;
    struct buf body;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    buf_init(&body, POLICY_MAX_SIZE);
    int64_t now = mono_ms();
    long left = (long)(check_bound_end(b, now, CHECK_FETCH_TIMEOUT_MS) - now);
    CURL *c = curl_easy_init();
    bool v6 = strchr(addr, ':') != NULL;
    int n1 = snprintf(url, sizeof(url),
                      "https://mta-sts.%s/.well-known/mta-sts.txt", domain);
    int n2 =
        snprintf(connect_to, sizeof(connect_to), "mta-sts.%s:443:%s%s%s:%u",
                 domain, v6 ? "[" : "", addr, v6 ? "]" : "", port);
    if (c == NULL || n1 < 0 || (size_t)n1 >= sizeof(url) || n2 < 0 ||
        (size_t)n2 >= sizeof(connect_to) ||
        (to = curl_slist_append(NULL, connect_to)) == NULL) {
        snprintf(err, errlen, "%s", "cannot set up the fetch");
        goto out;
    }
    if (left <= 0) {
        snprintf(err, errlen, "%s: timed out (the time budget was spent)", url);
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, to);
    httpc_setup(c, ca_file, left, "mta-sts-host-check", &body, why,
                b != NULL ? b->stop : NULL);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        httpc_error(url, cc, &body, why, err, errlen);
        goto out;
    }
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(out->content_type, sizeof(out->content_type), "%s",
             ct != NULL ? ct : "");
    if (buf_append(&body, "", 0) < 0) {
        snprintf(err, errlen, "%s", "out of memory");
        goto out;
    }
    out->body = buf_take(&body, &out->len);
    rc = 0;
out:
    curl_slist_free_all(to);
    if (c != NULL)
        curl_easy_cleanup(c);
    buf_free(&body);
    return rc;
}

void check_fetched_free(struct check_fetched *f)
{
    free(f->body);
    f->body = NULL;
    f->len = 0;
}

int check_fetch_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void check_fetch_cleanup(void)
{
    curl_global_cleanup();
}
