/*
 * libFuzzer target for the health probe's parsers (server/probe.c): the
 * HTTP response a /healthz endpoint (or whatever answers on that port)
 * sends back, and the URL given on the command line. The input is copied
 * into a buffer of exactly its size, not NUL-terminated, so that a read
 * past the received bytes is an ASan report. Invariants, checked with
 * abort(): a status is returned exactly when the response starts with
 * "HTTP/1.x NNN" (100-599, no fourth digit) and equals those digits; the
 * body line is NUL-terminated within its buffer, holds no CR, LF or NUL,
 * and is a prefix of the bytes after the first blank line. An accepted URL
 * starts with http://, has a non-empty host of host-name or IP-literal
 * characters only, a numeric port and a path starting with '/', free of
 * spaces and controls, that is a suffix of the URL.
 */
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int digit(char c)
{
    return c >= '0' && c <= '9';
}

static void check_response(const char *resp, size_t len, size_t bodylen)
{
    char body[64], err[128];
    /* A canary after the part of body the parser may use. */
    memset(body, 'Z', sizeof(body));
    int code = probe_parse_response(resp, len, body, bodylen, err, sizeof(err));
    if (body[bodylen] != 'Z')
        abort();
    bool want = len >= 12 && memcmp(resp, "HTTP/1.", 7) == 0 &&
                resp[8] == ' ' && digit(resp[9]) && digit(resp[10]) &&
                digit(resp[11]) && (len == 12 || !digit(resp[12]));
    int digits =
        want ? (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0')
             : 0;
    want = want && digits >= 100 && digits <= 599;
    if (!want) {
        if (code != -1 || err[0] == '\0' ||
            memchr(err, '\0', sizeof(err)) == NULL)
            abort();
        return;
    }
    if (code != digits)
        abort();
    if (bodylen == 0)
        return;
    size_t n = strnlen(body, bodylen);
    if (n >= bodylen || strpbrk(body, "\r\n") != NULL)
        abort();
    const char *b = NULL;
    for (size_t i = 0; b == NULL && i + 4 <= len; i++)
        if (memcmp(resp + i, "\r\n\r\n", 4) == 0)
            b = resp + i + 4;
    if (b == NULL) {
        if (n != 0)
            abort();
        return;
    }
    size_t rest = len - (size_t)(b - resp);
    if (n > rest || memcmp(body, b, n) != 0)
        abort();
    /* The line was cut at its end, a line break, a NUL or the buffer. */
    if (n < rest && n + 1 < bodylen && b[n] != '\r' && b[n] != '\n' &&
        b[n] != '\0')
        abort();
}

static void check_url(const char *url)
{
    char host[32], port[8];
    const char *path = NULL;
    if (probe_split_url(url, host, sizeof(host), port, sizeof(port), &path) < 0)
        return;
    size_t ul = strlen(url), pl = strlen(path);
    if (strncmp(url, "http://", 7) != 0 || host[0] == '\0' ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-_:%") != strlen(host) ||
        port[0] == '\0' || strspn(port, "0123456789") != strlen(port) ||
        path[0] != '/')
        abort();
    for (const char *q = path; *q != '\0'; q++)
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
            abort();
    /* path is either borrowed from the URL's tail, or the default "/". */
    if (!(path >= url && path + pl == url + ul) &&
        !(strcmp(path, "/") == 0 && strchr(url + 7, '/') == NULL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* The first byte picks the body buffer size (0-63); the rest is the
     * response exactly as received. */
    size_t bodylen = data[0] % 64;
    char *resp = malloc(size - 1 ? size - 1 : 1);
    if (resp == NULL)
        return 0;
    memcpy(resp, data + 1, size - 1);
    check_response(resp, size - 1, bodylen);
    free(resp);

    /* The same bytes as a URL, up to the first NUL. */
    char *url = malloc(size);
    if (url == NULL)
        return 0;
    memcpy(url, data + 1, size - 1);
    url[size - 1] = '\0';
    check_url(url);
    free(url);
    return 0;
}
