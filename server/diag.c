/*
 * diag: diagnostics list (see diag.h). Pure apart from diag_print, which
 * writes to the FILE it is given. No globals.
 */
#include "diag.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void diag_init(struct diag *d, const char *file)
{
    memset(d, 0, sizeof(*d));
    d->file = strdup(file != NULL ? file : "<input>");
}

void diag_free(struct diag *d)
{
    free(d->file);
    free(d->entries);
    memset(d, 0, sizeof(*d));
}

void diag_vadd(struct diag *d, enum diag_severity sev, unsigned line,
               unsigned col, const char *fmt, va_list ap)
{
    if (sev == DIAG_ERROR)
        d->errors++;
    else
        d->warnings++;
    if (d->n >= DIAG_MAX_ENTRIES)
        return;
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 8;
        struct diag_entry *p = realloc(d->entries, ncap * sizeof(*p));
        if (p == NULL)
            return; /* still counted above, so the verdict stays right */
        d->entries = p;
        d->cap = ncap;
    }
    struct diag_entry *e = &d->entries[d->n++];
    e->severity = sev;
    e->line = line;
    e->col = col;
    diag_vfit(e->msg, sizeof(e->msg), fmt, ap);
}

void diag_vfit(char *out, size_t outlen, const char *fmt, va_list ap)
{
    if (out == NULL || outlen == 0)
        return;
    int n = vsnprintf(out, outlen, fmt, ap);
    if (n >= 0 && (size_t)n >= outlen && outlen >= 4)
        memcpy(out + outlen - 4, "...", 4);
}

void diag_fit(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vfit(out, outlen, fmt, ap);
    va_end(ap);
}

void diag_add(struct diag *d, enum diag_severity sev, unsigned line,
              unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(d, sev, line, col, fmt, ap);
    va_end(ap);
}

size_t diag_errors(const struct diag *d)
{
    return d->errors;
}

static const char *severity_name(enum diag_severity sev)
{
    return sev == DIAG_ERROR ? "error" : "warning";
}

const char *diag_format_entry(const struct diag *d, const struct diag_entry *e,
                              char *out, size_t outlen)
{
    const char *file = d->file != NULL ? d->file : "<input>";
    const char *sev = severity_name(e->severity);
    if (e->line == 0)
        snprintf(out, outlen, "%s: %s: %s", file, sev, e->msg);
    else if (e->col == 0)
        snprintf(out, outlen, "%s:%u: %s: %s", file, e->line, sev, e->msg);
    else
        snprintf(out, outlen, "%s:%u:%u: %s: %s", file, e->line, e->col, sev,
                 e->msg);
    return out;
}

void diag_print(const struct diag *d, FILE *fp)
{
    char line[DIAG_MSG_MAX + 512];
    for (size_t i = 0; i < d->n; i++)
        fprintf(fp, "%s\n",
                diag_format_entry(d, &d->entries[i], line, sizeof(line)));
    size_t dropped = d->errors + d->warnings - d->n;
    if (dropped > 0)
        fprintf(fp, "%s: note: %zu more diagnostics not shown\n",
                d->file != NULL ? d->file : "<input>", dropped);
}

int diag_json(const struct diag *d, struct buf *b)
{
    const char *file = d->file != NULL ? d->file : "<input>";
    buf_puts(b, "[");
    for (size_t i = 0; i < d->n; i++) {
        const struct diag_entry *e = &d->entries[i];
        buf_puts(b, i ? ",{\"file\":" : "{\"file\":");
        buf_json_string(b, file, strlen(file));
        buf_printf(b, ",\"line\":%u,\"column\":%u,\"severity\":\"%s\",",
                   e->line, e->col, severity_name(e->severity));
        buf_puts(b, "\"message\":");
        buf_json_string(b, e->msg, strlen(e->msg));
        buf_puts(b, "}");
    }
    return buf_puts(b, "]");
}

/* quote_plain says whether diag_quote shows byte c as it is. */
static bool quote_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '\\';
}

const char *diag_quote(const char *s, size_t n, char *out, size_t outlen)
{
    return diag_quote_max(s, n, DIAG_QUOTE_LIMIT, out, outlen);
}

const char *diag_quote_max(const char *s, size_t n, size_t limit, char *out,
                           size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t shown = n < limit ? n : limit;
    size_t whole = 0, room, o = 0;
    bool cut = n > shown;
    if (outlen == 0)
        return out;
    for (size_t i = 0; i < shown; i++)
        whole += quote_plain((unsigned char)s[i]) ? 1 : 4;
    /* A value that does not fit out is cut there and marked as cut too,
     * never shown as if it were whole: keep room for the "...". */
    if (whole + 1 > outlen)
        cut = true;
    room = cut ? (outlen > 4 ? outlen - 4 : 0) : outlen - 1;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + (quote_plain(c) ? 1 : 4) > room)
            break;
        if (quote_plain(c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (cut && o + 4 <= outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

size_t diag_edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    /* Three rows of the table: a swap looks two rows back. */
    size_t rows[3][DIAG_EDIT_MAX + 1];
    if (na > DIAG_EDIT_MAX || nb > DIAG_EDIT_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= nb; j++)
        rows[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t *cur = rows[i % 3];
        const size_t *up = rows[(i - 1) % 3], *up2 = rows[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = up[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (up[j - 1] + cost < best)
                best = up[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && up2[j - 2] + 1 < best)
                best = up2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return rows[na % 3][nb];
}
