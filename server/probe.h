/*
 * probe: the client side of `mta-sts-host health`: a minimal HTTP/1.1 GET
 * over plain TCP to a /healthz URL, so a container's HEALTHCHECK needs no
 * curl. Blocking, with a timeout; runs on the calling thread.
 */
#ifndef MTA_STS_PROBE_H
#define MTA_STS_PROBE_H

#include <stddef.h>

/*
 * probe_http_get fetches url ("http://host[:port]/path", host may be an IP
 * literal in brackets) and returns the HTTP status code, or -1 with the
 * reason in err. The first line of the body goes to body (may be empty).
 */
int probe_http_get(const char *url, unsigned timeout_ms, char *body,
                   size_t bodylen, char *err, size_t errlen);

/*
 * probe_split_url splits "http://host[:port]/path" (host may be an IP
 * literal in brackets) into host, port (digits, "80" when absent) and
 * *path (borrowed from url; "/" when absent). Pure. Returns 0, or -1 when
 * url has another form or a part does not fit its buffer.
 */
int probe_split_url(const char *url, char *host, size_t hostlen, char *port,
                    size_t portlen, const char **path);

/*
 * probe_parse_response reads the HTTP/1.x response in resp[0..len) (not
 * necessarily NUL-terminated, possibly cut short) and returns its status
 * code (100-599), with the first line of the body copied (truncated to
 * fit) to body; or -1 with the reason in err. Pure: no I/O.
 */
int probe_parse_response(const char *resp, size_t len, char *body,
                         size_t bodylen, char *err, size_t errlen);

#endif
