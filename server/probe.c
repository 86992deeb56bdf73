/*
 * probe: minimal HTTP/1.1 health probe (see probe.h). Plain TCP only: the
 * health endpoint is on the plain-HTTP listener. The URL and response
 * parsers are pure functions of their input, so that they can be fuzzed
 * without a socket.
 */
#include "probe.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_MAX 8192

/*
 * host_chars is the length of the host name or IP literal at the start of
 * s: letters, digits, '.', '-', '_', and with brackets ':' and '%' (an
 * IPv6 zone). Anything else (a '/', a space, a line break) cannot be a
 * host and must not reach the request's Host header.
 */
static size_t host_chars(const char *s, bool bracketed)
{
    size_t n = 0;
    for (;; n++) {
        char c = s[n];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')
            continue;
        if (bracketed && (c == ':' || c == '%'))
            continue;
        return n;
    }
}

int probe_split_url(const char *url, char *host, size_t hostlen, char *port,
                    size_t portlen, const char **path)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    const char *end;
    if (*p == '[') {
        end = p + 1 + host_chars(p + 1, true);
        if (*end != ']' || end == p + 1 || (size_t)(end - p - 1) >= hostlen)
            return -1;
        memcpy(host, p + 1, (size_t)(end - p - 1));
        host[end - p - 1] = '\0';
        end++;
    } else {
        end = p + host_chars(p, false);
        if (end == p || (size_t)(end - p) >= hostlen)
            return -1;
        memcpy(host, p, (size_t)(end - p));
        host[end - p] = '\0';
    }
    if (portlen < 3)
        return -1;
    snprintf(port, portlen, "80");
    if (*end == ':') {
        const char *ps = end + 1;
        size_t n = strspn(ps, "0123456789");
        if (n == 0 || n >= portlen)
            return -1;
        memcpy(port, ps, n);
        port[n] = '\0';
        end = ps + n;
    }
    if (*end != '\0' && *end != '/')
        return -1;
    /* The path goes into the request line: no spaces or controls. */
    for (const char *q = end; *q != '\0'; q++)
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
            return -1;
    *path = *end == '/' ? end : "/";
    return 0;
}

/* is_digit is isdigit() without the locale. */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int probe_parse_response(const char *resp, size_t len, char *body,
                         size_t bodylen, char *err, size_t errlen)
{
    static const char sep[] = "\r\n\r\n";
    if (bodylen > 0)
        body[0] = '\0';
    /* "HTTP/1.x SP 3DIGIT", not followed by a fourth digit. */
    if (len < 9 || memcmp(resp, "HTTP/1.", 7) != 0 || resp[8] != ' ') {
        snprintf(err, errlen, "not an HTTP response");
        return -1;
    }
    if (len < 12 || !is_digit(resp[9]) || !is_digit(resp[10]) ||
        !is_digit(resp[11]) || (len > 12 && is_digit(resp[12]))) {
        snprintf(err, errlen, "bad HTTP status line");
        return -1;
    }
    int code = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
    if (code < 100 || code > 599) {
        snprintf(err, errlen, "bad HTTP status line");
        return -1;
    }
    const char *b = NULL;
    for (size_t i = 0; b == NULL && i + sizeof(sep) - 1 <= len; i++)
        if (memcmp(resp + i, sep, sizeof(sep) - 1) == 0)
            b = resp + i;
    if (b != NULL && bodylen > 0) {
        b += sizeof(sep) - 1;
        size_t n = 0, rest = len - (size_t)(b - resp);
        while (n < rest && n + 1 < bodylen && b[n] != '\r' && b[n] != '\n' &&
               b[n] != '\0')
            n++;
        memcpy(body, b, n);
        body[n] = '\0';
    }
    return code;
}

static long remaining_ms(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (deadline->tv_sec - now.tv_sec) * 1000 +
           (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static int wait_fd(int fd, short events, const struct timespec *deadline)
{
    long ms = remaining_ms(deadline);
    if (ms <= 0)
        return -1;
    struct pollfd pfd = {.fd = fd, .events = events};
    int rc;
    do
        rc = poll(&pfd, 1, (int)ms);
    while (rc < 0 && errno == EINTR);
    return rc > 0 ? 0 : -1;
}

int probe_http_get(const char *url, unsigned timeout_ms, char *body,
                   size_t bodylen, char *err, size_t errlen)
{
    char host[256], port[8], req[1024];
    const char *path;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int fd = -1, status = -1;
    char resp[RESPONSE_MAX];
    size_t used = 0;
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    body[0] = '\0';
    if (probe_split_url(url, host, sizeof(host), port, sizeof(port), &path) <
        0) {
        snprintf(err, errlen, "%s: expected http://host[:port]/path", url);
        goto out;
    }
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "%s: cannot resolve %s: %s", url, host,
                 gai_strerror(gai));
        goto out;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "%s: connect: %s", url, strerror(errno));
        goto out;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (wait_fd(fd, POLLOUT, &deadline) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
        snprintf(err, errlen, "%s: connect: %s", url,
                 soerr ? strerror(soerr) : "timed out");
        goto out;
    }
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: "
                     "mta-sts-host-health\r\nConnection: close\r\n\r\n",
                     path, host);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        snprintf(err, errlen, "%s: URL too long", url);
        goto out;
    }
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(err, errlen, "%s: send: %s", url, strerror(errno));
        goto out;
    }
    while (used < RESPONSE_MAX) {
        if (wait_fd(fd, POLLIN, &deadline) < 0) {
            snprintf(err, errlen, "%s: no complete answer within %u ms", url,
                     timeout_ms);
            goto out;
        }
        ssize_t r = recv(fd, resp + used, RESPONSE_MAX - used, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        used += (size_t)r;
    }
    char why[128];
    status = probe_parse_response(resp, used, body, bodylen, why, sizeof(why));
    if (status < 0)
        snprintf(err, errlen, "%s: %s", url, why);
out:
    if (fd >= 0)
        close(fd);
    if (ai != NULL)
        freeaddrinfo(ai);
    return status;
}
