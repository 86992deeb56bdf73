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

#endif
