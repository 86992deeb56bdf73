/*
 * libFuzzer target for dnsname: byte 0 picks the dnsname_check flags, the
 * rest splits at the first NUL into a pattern and a name. Invariants,
 * checked with abort(): a refusal says why and points inside the input.
 * A name that validates obeys the rules (labels of 1-63 characters, at
 * most 253 in all), still validates under looser flags, and normalises to
 * itself in lower case, as a Host header too when it has no wildcard.
 * Normalising is idempotent, and its result has no upper case and no
 * trailing dot. A match implies that the name validates and the pattern
 * does as a wildcard pattern, and that a wildcard covered exactly one
 * label; a valid name matches itself in any case.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"

#define ALL_FLAGS (DNSNAME_WILDCARD | DNSNAME_DOMAIN | DNSNAME_UNDERSCORE)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lower_copy(const char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] + 32) : in[i];
    out[n] = '\0';
}

/* check_rules re-derives the label rules for a name that validated. */
static void check_rules(const char *s, size_t n)
{
    size_t llen = 0;
    if (n == 0 || n > DNSNAME_MAX)
        abort();
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (llen == 0 || llen > DNSNAME_LABEL_MAX || s[i - 1] == '-' ||
                s[i - llen] == '-')
                abort();
            llen = 0;
            continue;
        }
        llen++;
    }
}

static void check_valid(const char *s, size_t n, unsigned flags)
{
    char out[DNSNAME_MAX + 1], want[DNSNAME_MAX + 1], host[DNSNAME_MAX + 1];
    check_rules(s, n);
    /* Looser flags accept at least as much. */
    if (dnsname_check(s, n, flags & ~(unsigned)DNSNAME_DOMAIN, NULL, NULL, 0) !=
            0 ||
        dnsname_check(s, n, flags | DNSNAME_UNDERSCORE, NULL, NULL, 0) != 0 ||
        dnsname_check(s, n, flags | DNSNAME_WILDCARD, NULL, NULL, 0) != 0)
        abort();
    lower_copy(s, n, want);
    if (dnsname_normalize(s, n, out, sizeof(out)) != 0 ||
        strcmp(out, want) != 0)
        abort();
    if (memchr(s, '*', n) == NULL &&
        (dnsname_normalize_host(s, host, sizeof(host)) != 0 ||
         strcmp(host, want) != 0))
        abort();
    /* A valid name (no wildcard) matches itself, whatever its case. */
    if (!(flags & DNSNAME_WILDCARD) && !(flags & DNSNAME_UNDERSCORE) &&
        (!dnsname_match(s, want) || !dnsname_match(want, s)))
        abort();
}

/* check_normal checks what a normaliser produced. */
static void check_normal(const char *out)
{
    char again[256];
    size_t n = strlen(out);
    if (n == 0 || n >= sizeof(again) || out[n - 1] == '.')
        abort();
    for (size_t i = 0; i < n; i++)
        if (out[i] >= 'A' && out[i] <= 'Z')
            abort();
    if (dnsname_normalize(out, n, again, sizeof(again)) != 0 ||
        strcmp(again, out) != 0)
        abort();
}

static size_t count_labels(const char *s)
{
    size_t k = 1;
    for (; *s != '\0'; s++)
        k += *s == '.';
    return k;
}

static void check_match(const char *pattern, const char *name)
{
    char p[DNSNAME_MAX + 1], n[DNSNAME_MAX + 1];
    if (!dnsname_match(pattern, name))
        return;
    if (dnsname_normalize(pattern, strlen(pattern), p, sizeof(p)) != 0 ||
        dnsname_normalize(name, strlen(name), n, sizeof(n)) != 0 ||
        dnsname_check(n, strlen(n), 0, NULL, NULL, 0) != 0 ||
        dnsname_check(p, strlen(p), DNSNAME_WILDCARD, NULL, NULL, 0) != 0)
        abort();
    const char *base = dnsname_wildcard_base(p);
    if (base == NULL) {
        if (strcmp(p, n) != 0)
            abort();
        return;
    }
    const char *parent = dnsname_parent(n);
    if (parent == NULL || strcmp(parent, base) != 0 ||
        count_labels(n) != count_labels(base) + 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[256], err[256];
    if (size == 0)
        return 0;
    unsigned flags = data[0] & ALL_FLAGS;
    char *a = malloc(size + 1);
    if (a == NULL)
        return 0;
    memcpy(a, data + 1, size - 1);
    a[size - 1] = '\0';
    size_t la = size - 1; /* the whole rest, NULs included */
    const char *b = a + strlen(a) + (strlen(a) < la ? 1 : 0);

    size_t where = SIZE_MAX;
    err[0] = '\0';
    if (dnsname_check(a, la, flags, &where, err, sizeof(err)) == 0)
        check_valid(a, la, flags);
    else if (err[0] == '\0' || where > la)
        abort();

    if (dnsname_normalize(a, la, out, sizeof(out)) == 0)
        check_normal(out);
    if (dnsname_normalize_host(a, out, sizeof(out)) == 0) {
        check_normal(out);
        if (strpbrk(out, ":[]*") != NULL)
            abort();
    }
    check_match(a, b);
    check_match(b, a);
    free(a);
    return 0;
}
