/*
 * httpc: the one way this program sets up a libcurl (GnuTLS build) handle
 * for HTTPS to somebody else's server: https only, full verification
 * against the system trust store plus an optional extra CA file (a private
 * CA, Pebble, a test CA), TLS 1.2 or later, no redirects, no proxy from
 * the environment, no signals, a total timeout, and the body collected
 * into a capped buffer. Used by `check`'s policy fetch and by the ACME
 * client; each sets what is its own (URL, method, headers). No globals;
 * a handle belongs to one thread.
 */
#ifndef MTA_STS_HTTPC_H
#define MTA_STS_HTTPC_H

#include <stdatomic.h>
#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"

/*
 * httpc_setup applies the settings above to c: ca_file (may be NULL) is
 * trusted besides the system store; the body goes to body, whose cap
 * stops the transfer; libcurl's reason goes to why (CURL_ERROR_SIZE
 * bytes), which must outlive the transfer. Once *stop (NULL: none) is
 * true, the transfer ends within about a second, also one in flight
 * (CURLE_ABORTED_BY_CALLBACK).
 */
void httpc_setup(CURL *c, const char *ca_file, long timeout_ms,
                 const char *user_agent, struct buf *body, char *why,
                 const atomic_bool *stop);

/*
 * httpc_error writes what went wrong with a transfer to url that ended
 * with cc into err: the body cap, the stop flag or the timeout when that
 * was it, libcurl's reason otherwise.
 */
void httpc_error(const char *url, CURLcode cc, const struct buf *body,
                 const char *why, char *err, size_t errlen);

#endif
