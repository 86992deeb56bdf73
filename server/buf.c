/*
 * buf: a capped, growing byte buffer (see buf.h). Pure, no I/O, no globals.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->failed = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b, b->max);
}

static int buf_reserve(struct buf *b, size_t extra)
{
    if (b->failed || extra > b->max || b->len > b->max - extra) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap *= 2;
    char *p = realloc(b->data, ncap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = ncap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || buf_reserve(b, (size_t)n) < 0) {
        b->failed = 1;
        return -1;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/*
 * utf8_len returns the length of the well-formed UTF-8 sequence that starts
 * s[0..n) (RFC 3629 §4: no overlong forms, no surrogates, nothing above
 * U+10FFFF), or 0 when s[0] does not start one.
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

int buf_json_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    int rc = buf_append(b, "\"", 1);
    for (size_t i = 0; i < n && rc == 0;) {
        unsigned char c = u[i];
        size_t len = utf8_len(u + i, n - i);
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = buf_append(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = buf_append(b, esc, 6);
        } else if (len == 0) {
            /* Not UTF-8 (a client's raw bytes in a Host header or a path):
             * raw, it would make the whole line invalid JSON. */
            rc = buf_append(b, "\\ufffd", 6);
            len = 1;
        } else {
            rc = buf_append(b, &s[i], len);
        }
        i += len;
    }
    if (rc == 0)
        rc = buf_append(b, "\"", 1);
    return rc;
}

char *buf_take(struct buf *b, size_t *len)
{
    /* A failed buffer still holds what it had before it failed; callers
     * that only ever take must not leak it when memory runs out. */
    if (b->failed || b->data == NULL) {
        free(b->data);
        b->data = NULL;
        b->len = 0;
        b->cap = 0;
        return NULL;
    }
    char *p = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
