/*
 * buf: a growing byte buffer with a hard cap, in the manner of curl's dynbuf.
 * Every buffer that grows with input goes through here so that no input can
 * make the process allocate without bound. It does no I/O and keeps no
 * global state; any thread may use its own buffers.
 */
#ifndef MTA_STS_BUF_H
#define MTA_STS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len; /* bytes used, not counting the terminating NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on len */
    int failed; /* set once an append was refused (cap or memory) */
};

/* buf_init prepares an empty buffer that may grow to at most max bytes. */
void buf_init(struct buf *b, size_t max);

/* buf_free releases the memory; the buffer is empty afterwards. */
void buf_free(struct buf *b);

/*
 * buf_append adds n bytes. Returns 0, or -1 when the cap or memory is
 * exhausted, in which case the buffer is unchanged and marked failed.
 */
int buf_append(struct buf *b, const void *p, size_t n);

/* buf_puts appends a NUL-terminated string. */
int buf_puts(struct buf *b, const char *s);

/* buf_printf appends formatted text. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* buf_json_string appends s[0..n) as a JSON string literal with quotes:
 * '"' and '\\' escaped, control characters and DEL as \u00XX, UTF-8 as is,
 * and each byte that is not part of well-formed UTF-8 as \ufffd (the
 * replacement character), so the result is always valid JSON. */
int buf_json_string(struct buf *b, const char *s, size_t n);

/*
 * buf_take hands the data over to the caller (who frees it) and leaves the
 * buffer empty. Returns NULL when the buffer failed (its data is then
 * freed) or holds nothing yet.
 */
char *buf_take(struct buf *b, size_t *len);

#endif
