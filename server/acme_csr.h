/*
 * acme_csr: the X.509 parts of ACME, through GnuTLS: the certificate
 * signing request that finalises an order (RFC 8555 §7.4: PKCS#10, the
 * names as subjectAltName dNSNames, signed with the certificate key, DER
 * in base64url), and the certificate identifier of ACME Renewal
 * Information (RFC 9773 §4.1: base64url(authorityKeyIdentifier's
 * keyIdentifier) "." base64url(serial number's DER content octets)). No
 * I/O, no globals; any thread.
 */
#ifndef MTA_STS_ACME_CSR_H
#define MTA_STS_ACME_CSR_H

#include <stddef.h>

#include "acme_key.h"
#include "buf.h"

/*
 * acme_csr appends the base64url DER of a CSR for names[0..n) (n >= 1,
 * each a host name as ACME orders it) signed by key: SHA-256, the first
 * name also as the subject's CN when it fits the 64-character limit of
 * RFC 5280 (CAs take the names from the SAN; the CN is for old tools).
 * Returns 0, or -1 with the reason in err.
 */
int acme_csr(const struct acme_key *key, const char *const *names, size_t n,
             struct buf *out, char *err, size_t errlen);

/*
 * acme_cert_id appends the RFC 9773 identifier of the first certificate
 * in pem[0..len) (a leaf, or a chain with the leaf first). Returns 0, or
 * -1 with the reason in err (no certificate, or one without an
 * authorityKeyIdentifier keyIdentifier, which ARI cannot name).
 */
int acme_cert_id(const char *pem, size_t len, struct buf *out, char *err,
                 size_t errlen);

#endif
