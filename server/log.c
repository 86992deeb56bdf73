/*
 * log: text or JSON-lines logging (see log.h). Runs on any thread; keeps no
 * state beyond the read-only struct logger it is given.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

#define LOG_LINE_MAX 8192

void log_init(struct logger *lg, enum log_format format, enum log_level level,
              bool access)
{
    lg->format = format;
    lg->level = level;
    lg->access = access;
    lg->out_fd = STDOUT_FILENO;
    lg->err_fd = STDERR_FILENO;
}

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_ERROR:
        return "error";
    case LOG_LEVEL_WARN:
        return "warn";
    case LOG_LEVEL_INFO:
        return "info";
    case LOG_LEVEL_DEBUG:
        return "debug";
    }
    return "info";
}

static void timestamp(char *out, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

/* write_line writes b plus a newline in one write(2), retrying on EINTR and
 * short writes, so concurrent lines stay whole. */
/* write_all writes all of data to fd (a log line is one write where the
 * system allows, so concurrent lines do not interleave). */
static void write_all(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

static void write_line(int fd, struct buf *b)
{
    if (b->failed || buf_append(b, "\n", 1) < 0)
        return;
    write_all(fd, b->data, b->len);
}

static void start_line(const struct logger *lg, struct buf *b,
                       const char *level)
{
    char ts[48];
    timestamp(ts, sizeof(ts));
    if (lg->format == LOG_FORMAT_JSON)
        buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, level);
    else
        buf_printf(b, "%s %-5s ", ts, level);
}

static void emit(const struct logger *lg, enum log_level level, const char *msg)
{
    struct buf b;
    buf_init(&b, LOG_LINE_MAX);
    start_line(lg, &b, level_name(level));
    if (lg->format == LOG_FORMAT_JSON) {
        buf_puts(&b, ",\"msg\":");
        buf_json_string(&b, msg, strlen(msg));
        buf_puts(&b, "}");
    } else {
        buf_puts(&b, msg);
    }
    int fd = level <= LOG_LEVEL_WARN ? lg->err_fd : lg->out_fd;
    if (b.failed) {
        /* Out of memory, when a log line matters most: the message still
         * goes out, bare. */
        char line[LOG_LINE_MAX];
        int n = snprintf(line, sizeof(line), "%s %s\n", level_name(level), msg);
        if (n > 0)
            write_all(fd, line,
                      (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    } else {
        write_line(fd, &b);
    }
    buf_free(&b);
}

void log_msg(const struct logger *lg, enum log_level level, const char *fmt,
             ...)
{
    if (level > lg->level)
        return;
    char msg[LOG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(msg))
        memcpy(msg + sizeof(msg) - 4, "...", 4);
    emit(lg, level, msg);
}

void log_diag(const struct logger *lg, const struct diag *d)
{
    char line[DIAG_MSG_MAX + 512];
    for (size_t i = 0; i < d->n; i++) {
        const struct diag_entry *e = &d->entries[i];
        enum log_level level =
            e->severity == DIAG_ERROR ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN;
        if (level <= lg->level)
            emit(lg, level, diag_format_entry(d, e, line, sizeof(line)));
    }
}

void log_access(const struct logger *lg, const struct log_access *a)
{
    if (!lg->access || lg->level < LOG_LEVEL_INFO)
        return;
    struct buf b;
    buf_init(&b, LOG_LINE_MAX);
    start_line(lg, &b, "info");
    if (lg->format == LOG_FORMAT_JSON) {
        buf_puts(&b, ",\"msg\":\"access\",\"remote\":");
        buf_json_string(&b, a->remote, strlen(a->remote));
        buf_puts(&b, ",\"listener\":");
        buf_json_string(&b, a->listener, strlen(a->listener));
        buf_puts(&b, ",\"method\":");
        buf_json_string(&b, a->method, strlen(a->method));
        buf_puts(&b, ",\"host\":");
        buf_json_string(&b, a->host, strlen(a->host));
        buf_puts(&b, ",\"path\":");
        buf_json_string(&b, a->path, strlen(a->path));
        buf_printf(&b, ",\"status\":%d,\"bytes\":%llu,\"ms\":%.3f}", a->status,
                   a->bytes, a->duration_ms);
    } else {
        /* Quote what the client sent so a crafted method, Host or path
         * cannot forge a log line or drive the terminal showing it. */
        char method[DIAG_QUOTE_SIZE], host[DIAG_QUOTE_SIZE],
            path[DIAG_QUOTE_SIZE];
        diag_quote(a->method, strlen(a->method), method, sizeof(method));
        diag_quote(a->host, strlen(a->host), host, sizeof(host));
        diag_quote(a->path, strlen(a->path), path, sizeof(path));
        buf_printf(&b,
                   "access %s %s %s host=%s path=%s status=%d bytes=%llu "
                   "ms=%.3f",
                   a->remote, a->listener, method, host, path, a->status,
                   a->bytes, a->duration_ms);
    }
    write_line(lg->out_fd, &b);
    buf_free(&b);
}
