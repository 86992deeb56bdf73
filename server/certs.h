/*
 * certs: the TLS certificates the host serves. Loads every PEM certificate +
 * key pair in a directory (`<name>.crt` + `<name>.key`, `<name>.pem` holding
 * both, and certbot's `<name>/fullchain.pem` + `<name>/privkey.pem`), checks
 * each (key matches certificate, validity period, chain), indexes them by
 * SAN, and picks one for a TLS server name: exact match before wildcard,
 * case-insensitive. With no certificate at all, a self-signed ECDSA P-256
 * certificate can be generated in memory for development.
 * Loading does file I/O; a loaded set is immutable afterwards and safe to
 * read from any thread.
 */
#ifndef MTA_STS_CERTS_H
#define MTA_STS_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "diag.h"

/* Certificates closer than this to their not-after draw a warning. */
#define CERTS_EXPIRY_WARN_DAYS 14

struct certs;       /* an immutable set of certificate + key pairs */
struct certs_entry; /* one pair in a set */

/*
 * certs_load_dir loads every pair found in dir. A pair that fails its checks
 * (unreadable, bad PEM, key mismatch, expired, not yet valid) is reported as
 * an error in d, naming its file, and left out of the set; warnings (expires
 * soon, does not chain to the system trust store) keep it in. A missing or
 * empty directory gives an empty set. Returns NULL only when memory or
 * GnuTLS initialisation fails. now is the time the checks use.
 */
struct certs *certs_load_dir(const char *dir, time_t now, struct diag *d);

/*
 * certs_generate_dev builds a set holding one self-signed ECDSA P-256
 * certificate (valid for 90 days) whose SANs are the given host names.
 * Returns NULL with the reason in d.
 */
struct certs *certs_generate_dev(const char *const *hosts, size_t n_hosts,
                                 struct diag *d);

/* certs_free releases a set; NULL is a no-op. */
void certs_free(struct certs *c);

/* certs_count is the number of pairs in the set. */
size_t certs_count(const struct certs *c);

/* certs_at returns pair i (0 <= i < certs_count) in load order. */
const struct certs_entry *certs_at(const struct certs *c, size_t i);

/*
 * certs_find returns the pair whose SAN covers host (exact match first,
 * then a wildcard `*.` covering exactly the left-most label; both
 * case-insensitive, a trailing dot ignored), or NULL.
 */
const struct certs_entry *certs_find(const struct certs *c, const char *host);

/*
 * certs_select picks the pair for a TLS handshake: certs_find(sni), else
 * the default pair (the first loaded), or NULL for an empty set. A name
 * may have an ECDSA and an RSA pair: the ECDSA one is used for TLS 1.3
 * clients whose signature algorithms allow it (read from session, the
 * handshake in progress), the RSA one for the others; with a NULL session
 * ECDSA.
 */
const struct certs_entry *certs_select(const struct certs *c, const char *sni,
                                       gnutls_session_t session);

/*
 * certs_mta_sts_domains appends to out (up to max) the domains named by
 * `mta-sts.<domain>` SANs across the set (exact SANs only, lower case,
 * deduplicated, in load order) and returns how many it found. The strings
 * are borrowed from the set. With out == NULL it returns an upper bound of
 * that number instead, to size the array.
 */
size_t certs_mta_sts_domains(const struct certs *c, const char **out,
                             size_t max);

/* certs_entry_source is the file the pair came from (for logs). */
const char *certs_entry_source(const struct certs_entry *e);

/* certs_entry_not_after is the certificate's expiry time. */
time_t certs_entry_not_after(const struct certs_entry *e);

/* certs_entry_subject is the leaf's first SAN (or CN), for logs. */
const char *certs_entry_subject(const struct certs_entry *e);

/* certs_entry_dev tells whether the pair is a generated dev one. */
bool certs_entry_dev(const struct certs_entry *e);

/*
 * certs_entry_credentials hands out the chain and key for GnuTLS's
 * certificate retrieve callback (gnutls_certificate_retrieve_function2).
 * Borrowed: valid as long as the set is.
 */
void certs_entry_credentials(const struct certs_entry *e,
                             gnutls_pcert_st **pcert, unsigned *n_pcert,
                             gnutls_privkey_t *key);

/*
 * certs_entry_fingerprint returns the SHA-256 fingerprint of the pair's leaf
 * certificate (of its bytes as served, which are the file's) as lower-case
 * hex (64 characters), borrowed from the set. Reloads use it to tell
 * whether a certificate changed.
 */
const char *certs_entry_fingerprint(const struct certs_entry *e);

/* The GnuTLS priority string: TLS 1.2 and 1.3, forward-secret AEAD only. */
extern const char *const certs_tls_priority;

#endif
