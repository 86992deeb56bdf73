/*
 * dnsname: host name validation, normalisation and wildcard matching (see
 * dnsname.h). Every rule about what a host name may look like lives here,
 * so that the config, the policy, the request router and the certificate
 * index agree on it. Pure: no I/O, no logging, no globals.
 */
#include "dnsname.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

/* Large enough for diag_quote's 40-byte cut, every byte escaped. */
#define QUOTE_BUF 192

static int fail(size_t *where, size_t at, char *err, size_t errlen,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* fail records why a name was refused and where; it returns -1 so that
 * checks can end in `return fail(...)`. */
static int fail(size_t *where, size_t at, char *err, size_t errlen,
                const char *fmt, ...)
{
    va_list ap;
    if (where != NULL)
        *where = at;
    va_start(ap, fmt);
    diag_vfit(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* label_char tells whether c may appear inside a label under flags. */
static bool label_char(unsigned char c, unsigned flags)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           c == '-' || (c == '_' && (flags & DNSNAME_UNDERSCORE));
}

/* show renders one byte for a message, quoted, with a note for the ones
 * that have no visible form. */
static const char *show(unsigned char c, char *out, size_t outlen)
{
    char q[8];
    const char *note = "";
    if (c >= 0x80)
        note = " (non-ASCII)";
    else if (c == '\0')
        note = " (NUL)";
    else if (c == ' ')
        note = " (a space)";
    else if (c == '\t')
        note = " (a tab)";
    else if (c < 0x20 || c == 0x7f)
        note = " (a control character)";
    snprintf(out, outlen, "'%s'%s",
             diag_quote((const char *)&c, 1, q, sizeof(q)), note);
    return out;
}

/* label_len is the length of the label that starts at name[start]. */
static size_t label_len(const char *name, size_t len, size_t start)
{
    const char *dot = memchr(name + start, '.', len - start);
    return dot != NULL ? (size_t)(dot - name) - start : len - start;
}

/* check_char reports a byte that may not appear in a label at offset i. */
static int check_char(const char *name, size_t i, unsigned flags, size_t *where,
                      char *err, size_t errlen)
{
    char f[32];
    unsigned char c = (unsigned char)name[i];
    if (c == '*' && (flags & DNSNAME_WILDCARD))
        return fail(where, i, err, errlen,
                    "expected a letter, digit or '-', found '*'; a wildcard "
                    "is only allowed as the whole left-most label "
                    "('*.example.com') and covers exactly one label");
    if (c == '*')
        return fail(where, i, err, errlen,
                    "expected a letter, digit, '-' or '.', found '*'; a "
                    "wildcard is not allowed here, only a host name");
    if (c == '_')
        return fail(where, i, err, errlen,
                    "expected a letter, digit, '-' or '.', found '_'; "
                    "underscores are not allowed in host names");
    if (c >= 0x80)
        return fail(where, i, err, errlen,
                    "expected an ASCII host name, found %s; write "
                    "internationalised names in their A-label form "
                    "(xn--...)",
                    show(c, f, sizeof(f)));
    return fail(where, i, err, errlen,
                "expected a letter, digit, '-' or '.' in a host name, found "
                "%s",
                show(c, f, sizeof(f)));
}

int dnsname_check(const char *name, size_t len, unsigned flags, size_t *where,
                  char *err, size_t errlen)
{
    char q[QUOTE_BUF], f[32];
    size_t off = 0, labels = 0, start, last_start = 0;

    if (name == NULL || len == 0)
        return fail(where, 0, err, errlen,
                    "expected a host name, found an empty name");
    if (name[0] == '*' && (flags & DNSNAME_WILDCARD)) {
        if (len == 1)
            return fail(where, 0, err, errlen,
                        "expected '*.' followed by a domain, found '*' "
                        "alone; a wildcard covers one label, as in "
                        "'*.example.com'");
        if (name[1] != '.')
            return fail(where, 1, err, errlen,
                        "expected '.' after the wildcard '*' (it must be the "
                        "whole left-most label, as in '*.example.com'), "
                        "found %s",
                        show((unsigned char)name[1], f, sizeof(f)));
        if (len == 2)
            return fail(where, 2, err, errlen,
                        "expected a domain after '*.', found the end of the "
                        "name");
        off = 2;
        labels = 1;
    }
    /* Only a single trailing dot is the root; "a.." has an empty label,
     * which the scan below reports as such. */
    if (len > 1 && name[len - 1] == '.' && name[len - 2] != '.')
        return fail(where, len - 1, err, errlen,
                    "expected a host name without a trailing dot, found '.' "
                    "at the end");
    if (len > DNSNAME_MAX)
        return fail(where, DNSNAME_MAX, err, errlen,
                    "expected a host name of at most %d characters, found %zu",
                    DNSNAME_MAX, len);
    start = off;
    for (size_t i = off; i <= len; i++) {
        if (i == len || name[i] == '.') {
            if (i == start)
                return fail(where, i, err, errlen,
                            "expected a label, found an empty label (a "
                            "leading dot or two dots in a row)");
            if (name[i - 1] == '-')
                return fail(where, i - 1, err, errlen,
                            "expected a label to end with a letter or digit, "
                            "found '-' at the end of \"%s\"",
                            diag_quote(name + start, i - start, q, sizeof(q)));
            labels++;
            last_start = start;
            start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)name[i];
        if (!label_char(c, flags))
            return check_char(name, i, flags, where, err, errlen);
        if (c == '-' && i == start) {
            size_t ll = label_len(name, len, start);
            return fail(where, i, err, errlen,
                        "expected a label to start with a letter or digit, "
                        "found '-' at the start of \"%s\"",
                        diag_quote(name + start, ll, q, sizeof(q)));
        }
        if (i - start == DNSNAME_LABEL_MAX) {
            size_t ll = label_len(name, len, start);
            return fail(where, i, err, errlen,
                        "expected a label of at most %d characters, found %zu "
                        "in \"%s\"",
                        DNSNAME_LABEL_MAX, ll,
                        diag_quote(name + start, ll, q, sizeof(q)));
        }
    }
    if (!(flags & DNSNAME_DOMAIN))
        return 0;
    if (labels < 2)
        return fail(where, 0, err, errlen,
                    "expected a domain of at least two labels such as "
                    "example.com, found a single label \"%s\"",
                    diag_quote(name, len, q, sizeof(q)));
    bool numeric = true;
    for (size_t i = last_start; i < len; i++)
        if (!is_digit((unsigned char)name[i]))
            numeric = false;
    /* No top-level domain is all digits (RFC 3696 §2), so this is an IPv4
     * address, which is never a domain nor an MX host name. */
    if (numeric)
        return fail(where, 0, err, errlen,
                    "expected a host name, found an IP address (the last "
                    "label is numeric, and no top-level domain is)");
    return 0;
}

int dnsname_normalize(const char *in, size_t len, char *out, size_t outlen)
{
    size_t n = len;
    if (in == NULL || out == NULL)
        return -1;
    if (n > 0 && in[n - 1] == '.')
        n--;
    /* Refusing "a.." (not just trimming it to "a.") keeps the result a
     * fixed point: normalising it again changes nothing. */
    if (n == 0 || in[n - 1] == '.' || n >= outlen ||
        memchr(in, '\0', n) != NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = lower(in[i]);
    out[n] = '\0';
    return 0;
}

int dnsname_normalize_host(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    if (in == NULL || in[0] == '[')
        return -1; /* an IP literal is never a served mta-sts host */
    for (; in[n] != '\0' && in[n] != ':'; n++)
        if (in[n] != '.' &&
            !label_char((unsigned char)in[n], DNSNAME_UNDERSCORE))
            return -1;
    if (in[n] == ':') {
        /* Only a port may follow the colon. */
        const char *p = in + n + 1;
        if (*p == '\0')
            return -1;
        for (; *p != '\0'; p++)
            if (!is_digit((unsigned char)*p))
                return -1;
    }
    return dnsname_normalize(in, n, out, outlen);
}

const char *dnsname_parent(const char *name)
{
    const char *dot = name != NULL ? strchr(name, '.') : NULL;
    if (dot == NULL || dot == name || dot[1] == '\0' ||
        memchr(name, '*', (size_t)(dot - name)) != NULL)
        return NULL;
    return dot + 1;
}

const char *dnsname_wildcard_base(const char *pattern)
{
    if (pattern == NULL || strncmp(pattern, "*.", 2) != 0 ||
        pattern[2] == '\0' || strchr(pattern + 2, '*') != NULL)
        return NULL;
    return pattern + 2;
}

bool dnsname_match(const char *pattern, const char *name)
{
    char p[DNSNAME_MAX + 1], n[DNSNAME_MAX + 1];
    if (pattern == NULL || name == NULL ||
        dnsname_normalize(pattern, strlen(pattern), p, sizeof(p)) < 0 ||
        dnsname_normalize(name, strlen(name), n, sizeof(n)) < 0 ||
        dnsname_check(p, strlen(p), DNSNAME_WILDCARD, NULL, NULL, 0) < 0 ||
        dnsname_check(n, strlen(n), 0, NULL, NULL, 0) < 0)
        return false;
    const char *base = dnsname_wildcard_base(p);
    if (base == NULL)
        return strcmp(p, n) == 0;
    const char *parent = dnsname_parent(n);
    return parent != NULL && strcmp(parent, base) == 0;
}
