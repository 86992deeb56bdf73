/*
 * log: leveled logging to stdout (info, debug, access lines) and stderr
 * (warnings, errors), as text or as JSON lines. A struct logger is built once
 * by main and then only read, so any thread may log through it; each line is
 * written with a single write so lines from threads never interleave.
 */
#ifndef MTA_STS_LOG_H
#define MTA_STS_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "config.h"
#include "diag.h"

struct logger {
    enum log_format format;
    enum log_level level;
    bool access;
    int out_fd; /* info and below */
    int err_fd; /* warnings and errors */
};

/* log_init fills lg with the given settings, writing to fds 1 and 2. */
void log_init(struct logger *lg, enum log_format format, enum log_level level,
              bool access);

/* log_msg writes one line at the given level, if enabled. */
void log_msg(const struct logger *lg, enum log_level level, const char *fmt,
             ...) __attribute__((format(printf, 3, 4)));

/* log_diag writes every entry of d, errors at error level, warnings at warn. */
void log_diag(const struct logger *lg, const struct diag *d);

struct log_access {
    const char *remote;
    const char *method;
    const char *host;
    const char *path;
    const char *listener; /* "https" or "http" */
    int status;
    unsigned long long bytes;
    double duration_ms;
};

/* log_access writes one access-log line, if access logging is on. */
void log_access(const struct logger *lg, const struct log_access *a);

#endif
