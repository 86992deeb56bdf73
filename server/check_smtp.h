/*
 * check_smtp: the SMTP probe of `check`, as a sending MTA connects to an
 * MX host (RFC 8461 §4.2, RFC 3207): TCP to one address of the MX, the
 * 220 greeting, EHLO, STARTTLS (offered and accepted), a TLS handshake of
 * version 1.2 or later with GnuTLS and SNI of the MX name, and the
 * certificate verified for that name against the system trust store (plus
 * an extra CA file); it reports the TLS version and the certificate's
 * expiry. Every step is bounded by one deadline. It judges nothing beyond
 * what it saw and prints nothing. Blocking; main thread (`check`) or a
 * check thread of `serve`.
 */
#ifndef MTA_STS_CHECK_SMTP_H
#define MTA_STS_CHECK_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "check_dns.h"

/* A probe takes at most this long, whatever the server does. */
#define CHECK_SMTP_TIMEOUT_MS 10000

struct check_smtp {
    bool starttls;        /* offered in the EHLO reply */
    char tls_version[16]; /* "TLS1.3"; "" without a handshake */
    char cert_error[256]; /* why the certificate is refused; "" when valid */
    time_t not_after;     /* of the certificate; 0 without one */
};

/* The client credentials of the probes: the system trust store plus a CA
 * file, loaded once (per check thread, or for a whole `check`) and shared
 * by every probe of that thread. */
struct check_smtp_tls;

/* check_smtp_tls_new loads the trust (ca_file may be NULL: the system's
 * only); NULL with the reason in err (a CA file without a certificate). */
struct check_smtp_tls *check_smtp_tls_new(const char *ca_file, char *err,
                                          size_t errlen);

/* check_smtp_tls_free releases the credentials; NULL is a no-op. */
void check_smtp_tls_free(struct check_smtp_tls *t);

/*
 * check_smtp_probe talks to mx at addr (numeric IPv4 or IPv6) on port,
 * verifying its certificate with tls.
 * Returns 0 when the dialogue got as far as it could (out says how far:
 * no STARTTLS, or a handshake with the certificate's verdict), or -1 with
 * the reason in err: no connection, a timeout, an SMTP error reply, a
 * failed TLS handshake (TLS older than 1.2 included). The whole probe ends
 * by one deadline, the earlier of CHECK_SMTP_TIMEOUT_MS and b's (b may be
 * NULL); past it err says "timed out".
 */
int check_smtp_probe(const char *mx, const char *addr, unsigned port,
                     const struct check_smtp_tls *tls,
                     const struct check_bound *b, struct check_smtp *out,
                     char *err, size_t errlen);

#endif
