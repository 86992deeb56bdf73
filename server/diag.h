/*
 * diag: a list of diagnostics, each `file:line:col: error|warning: message`.
 * Parsers report into a struct diag instead of printing or logging, so that
 * the same findings can be shown by `validate` (text or JSON), logged by the
 * daemon on reload, or asserted by unit tests. It also holds what messages
 * are built with: quoting of what was found, and the edit distance behind
 * "did you mean" hints. Pure: no I/O except the explicit print functions,
 * no globals; one list belongs to one thread.
 */
#ifndef MTA_STS_DIAG_H
#define MTA_STS_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "buf.h"

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

/* At most this many entries are kept; later ones are counted, not stored. */
#define DIAG_MAX_ENTRIES 200
#define DIAG_MSG_MAX 320

struct diag_entry {
    enum diag_severity severity;
    unsigned line; /* 1-based; 0 = the file as a whole */
    unsigned col;  /* 1-based byte column; 0 = the line as a whole */
    char msg[DIAG_MSG_MAX];
};

struct diag {
    char *file; /* name shown in messages (owned copy) */
    struct diag_entry *entries;
    size_t n, cap;
    size_t errors, warnings; /* totals, including entries not stored */
};

/* diag_init starts an empty list whose messages name file. */
void diag_init(struct diag *d, const char *file);

/* diag_free releases the list; diag_init must be called before reuse. */
void diag_free(struct diag *d);

/* diag_add records one finding. Long messages are truncated with "...". */
void diag_add(struct diag *d, enum diag_severity sev, unsigned line,
              unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void diag_vadd(struct diag *d, enum diag_severity sev, unsigned line,
               unsigned col, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

/*
 * diag_fit formats into out (outlen bytes, NUL-terminated) and, when the
 * text does not fit, ends what fits with "..." so that a cut message is
 * never shown as if it were whole. Nothing happens when out is NULL or
 * outlen is 0.
 */
void diag_fit(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_vfit(char *out, size_t outlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* diag_errors is the number of errors recorded (stored or not). */
size_t diag_errors(const struct diag *d);

/*
 * diag_format_entry renders one entry as `file:line:col: severity: msg`
 * (line and col left out when 0) into out; returns out.
 */
const char *diag_format_entry(const struct diag *d, const struct diag_entry *e,
                              char *out, size_t outlen);

/* diag_print writes every entry, one per line, compiler style. */
void diag_print(const struct diag *d, FILE *fp);

/*
 * diag_json appends the entries as a JSON array of objects
 * {"file","line","column","severity","message"} to b.
 */
int diag_json(const struct diag *d, struct buf *b);

/*
 * diag_quote renders up to n bytes of s for a message: printable ASCII as
 * is, anything else (the backslash and DEL too) as \xHH, cut with "..."
 * after DIAG_QUOTE_LIMIT bytes or when out is full. It is how messages show
 * "what was found" without putting raw bytes in a log line. An out of
 * DIAG_QUOTE_SIZE bytes always holds the whole limit, escaped, and "...".
 */
#define DIAG_QUOTE_LIMIT 40
#define DIAG_QUOTE_SIZE (DIAG_QUOTE_LIMIT * 4 + 4)
const char *diag_quote(const char *s, size_t n, char *out, size_t outlen);

/*
 * diag_quote_max is diag_quote cut after limit bytes instead: how text
 * output shows a value from outside (a TLS report's host name, up to 253
 * bytes; a CA's explanation) whole but with no raw control byte. An out of
 * limit * 4 + 4 bytes always holds it.
 */
const char *diag_quote_max(const char *s, size_t n, size_t limit, char *out,
                           size_t outlen);

/* Strings longer than this have no edit distance (see below). */
#define DIAG_EDIT_MAX 64

/*
 * diag_edit_distance is the optimal string alignment distance between
 * a[0..na) and b[0..nb): insertions, deletions, substitutions and swaps of
 * two adjacent bytes, each counting one, so "mdoe" is one edit from "mode".
 * Bytes compare exactly; callers fold case first where it does not count.
 * It returns SIZE_MAX when either is longer than DIAG_EDIT_MAX. It is for
 * "did you mean" hints.
 */
size_t diag_edit_distance(const char *a, size_t na, const char *b, size_t nb);

#endif
