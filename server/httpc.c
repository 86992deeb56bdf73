/*
 * httpc: libcurl handle settings for HTTPS to other servers (see httpc.h).
 * No globals.
 */
#include "httpc.h"

#include <stdio.h>

#define SYSTEM_CA_DIR "/etc/ssl/certs"

/* on_body collects the body into a capped buffer; a refused append stops
 * the transfer (libcurl reports CURLE_WRITE_ERROR). */
static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct buf *b = ctx;
    return buf_append(b, p, size * n) < 0 ? 0 : size * n;
}

/* on_progress aborts the transfer once the stop flag is set (libcurl calls
 * it about once a second while waiting, and on every chunk). */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load((const atomic_bool *)ctx) ? 1 : 0;
}

void httpc_setup(CURL *c, const char *ca_file, long timeout_ms,
                 const char *user_agent, struct buf *body, char *why,
                 const atomic_bool *stop)
{
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_CAPATH, SYSTEM_CA_DIR);
    if (ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, why);
    if (stop != NULL) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)stop);
    }
}

void httpc_error(const char *url, CURLcode cc, const struct buf *body,
                 const char *why, char *err, size_t errlen)
{
    if (cc == CURLE_WRITE_ERROR && body->failed)
        snprintf(err, errlen, "%s: the answer is over %zu bytes", url,
                 body->max);
    else if (cc == CURLE_ABORTED_BY_CALLBACK)
        snprintf(err, errlen, "%s: stopped (shutting down)", url);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        /* libcurl's text has the milliseconds taken, which differ from
         * one try to the next: a result would look changed each time. */
        snprintf(err, errlen, "%s: timed out (no complete answer in time)",
                 url);
    else
        snprintf(err, errlen, "%s: %s", url,
                 why[0] != '\0' ? why : curl_easy_strerror(cc));
}
