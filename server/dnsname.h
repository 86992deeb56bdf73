/*
 * dnsname: host names, in one place. It validates a name against the LDH
 * rules (RFC 1035 §2.3.4, RFC 1123 §2.1; A-labels "xn--..." are LDH),
 * optionally as a pattern with a "*." wildcard label in front (RFC 8461
 * §4.1, RFC 6125 §6.4.3), brings names into their canonical form (lower
 * case, no trailing dot; for a Host header also without the port) and
 * matches a name against such a pattern. Errors say what was expected and
 * what was found, with the byte offset of the problem. It does not resolve
 * names and does not convert U-labels. Pure: no I/O, no logging, no
 * globals; any thread may call it.
 */
#ifndef MTA_STS_DNSNAME_H
#define MTA_STS_DNSNAME_H

#include <stdbool.h>
#include <stddef.h>

#define DNSNAME_MAX 253      /* characters, without the root dot */
#define DNSNAME_LABEL_MAX 63 /* characters per label */

/* Options for dnsname_check; 0 is a plain LDH name of any label count. */
enum dnsname_flags {
    /* A leading "*." wildcard label is allowed (a pattern, not a host). */
    DNSNAME_WILDCARD = 1 << 0,
    /* At least two labels (a "*" counts), the last one not all digits: a
     * domain such as example.com, not "localhost" or an IPv4 address. */
    DNSNAME_DOMAIN = 1 << 1,
    /* '_' may appear in labels, as Host headers and some SANs carry it. */
    DNSNAME_UNDERSCORE = 1 << 2,
};

/*
 * dnsname_check validates name[0..len) (a trailing dot is an error:
 * normalise first where one is allowed) under flags, a set of
 * enum dnsname_flags. Returns 0, or -1 with the reason in err (which may be
 * NULL) and, when where is not NULL, the byte offset of the problem in
 * *where (at most len).
 */
int dnsname_check(const char *name, size_t len, unsigned flags, size_t *where,
                  char *err, size_t errlen);

/*
 * dnsname_normalize writes in[0..len) to out in canonical form: ASCII
 * lower case, one trailing dot removed. It does not validate the
 * characters. Returns 0, or -1 when the result would be empty, still end
 * in a dot, contain a NUL, or not fit out with its NUL (outlen 256 takes
 * 255 characters); out is untouched then. in and out may be the same
 * buffer.
 */
int dnsname_normalize(const char *in, size_t len, char *out, size_t outlen);

/*
 * dnsname_normalize_host is dnsname_normalize for a Host header or TLS
 * server name (NUL-terminated): a ":port" of digits is removed first, an
 * IP literal in brackets is refused (it is never a served host), and only
 * letters, digits, '-', '_' and '.' are accepted. Returns 0, or -1.
 */
int dnsname_normalize_host(const char *in, char *out, size_t outlen);

/*
 * dnsname_parent returns the part of a normalised name after its left-most
 * label ("b.example" for "a.b.example"): what a wildcard pattern's base
 * must equal to cover the name. NULL when there is none: one label, an
 * empty left-most label, or a '*' in it (a wildcard never covers one).
 */
const char *dnsname_parent(const char *name);

/*
 * dnsname_wildcard_base returns the base of a normalised wildcard pattern
 * ("example.com" for "*.example.com"), or NULL when pattern is not one:
 * no "*." in front, nothing after it, or another '*' further on.
 */
const char *dnsname_wildcard_base(const char *pattern);

/*
 * dnsname_match tells whether name is covered by pattern: the same name,
 * or for "*.base" a name of exactly one more, non-empty label in front of
 * base (RFC 8461 §4.1: "*.example.com" covers "a.example.com", neither
 * "example.com" nor "a.b.example.com"). Case and one trailing dot are
 * ignored on both sides; a name or pattern that does not validate matches
 * nothing.
 */
bool dnsname_match(const char *pattern, const char *name);

#endif
