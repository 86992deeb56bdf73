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

struct certs;         /* an immutable index of certificate + key pairs */
struct certs_entry;   /* one pair: immutable, reference-counted */
struct certs_checker; /* what checking a pair needs (the trust store) */

/*
 * A unit is where one pair lives: `<stem>.crt` + `<stem>.key`,
 * `<stem>.pem` (+ `<stem>.key`), or a certbot directory's `fullchain.pem` +
 * `privkey.pem`. id names it (the certificate file's path) and is what a
 * loaded pair reports as its source; key is the key file (== crt for a
 * combined .pem).
 */
struct certs_unit {
    char *id;
    char *crt;
    char *key;
};

/*
 * certs_list_units lists every unit of dir (sorted by id). Findings about
 * the layout (a .crt without a .key, say) go into d. A missing directory
 * has no units. Returns 0, or -1 when the directory cannot be read (the
 * reason in d, errno set) or memory runs out (errno ENOMEM).
 */
int certs_list_units(const char *dir, struct certs_unit **out, size_t *n,
                     struct diag *d);

/* What a change of one path in the certificate directory involves. */
struct certs_change {
    struct certs_unit *units; /* the units there now */
    size_t n;
    char *scope[2]; /* the ids of every unit it speaks for, now or before */
    size_t n_scope;
    bool all; /* `live` itself changed: every unit under it may have */
};

/*
 * certs_units_at describes a change of rel, a path relative to dir: a
 * top-level name such as `a.crt` or `live`, or a file inside a certbot
 * directory such as `live/a/privkey.pem`: the units of its stem or of its
 * certbot directory as they are on disk now, and the ids such units have.
 * Returns 0, or -1 (memory) as certs_list_units does; free c with
 * certs_change_free either way.
 */
int certs_units_at(const char *dir, const char *rel, struct certs_change *c,
                   struct diag *d);
void certs_change_free(struct certs_change *c);

/* certs_units_free releases a list from the two functions above. */
void certs_units_free(struct certs_unit *u, size_t n);

/* certs_unit_files lists the files of a unit (crt, then key when it is a
 * different file) into out[2]; returns how many. */
size_t certs_unit_files(const struct certs_unit *u, const char *out[2]);

/* certs_checker_new prepares the checks (the system trust store is read
 * once, at the first chain check); NULL when memory runs out. */
struct certs_checker *certs_checker_new(void);
void certs_checker_free(struct certs_checker *chk);

/* What certs_load_unit says beyond the pair. */
struct certs_refused {
    bool nomem;   /* a NULL pair came from a lack of memory */
    char **names; /* a refused certificate's DNS names, when it could be
                     read (free with certs_names_free) */
    size_t n_names;
    time_t valid_from; /* refused as not valid yet: when it will be, else 0 */
};

/*
 * certs_load_unit loads and checks one pair (key matches certificate,
 * validity period at now, chain order, chain to the system trust store).
 * A pair that fails a check is an error in d naming its file, and NULL,
 * with the names of its certificate in r when it could be read; warnings
 * (expires soon, not trusted) keep it. The pair is returned with one
 * reference.
 */
struct certs_entry *certs_load_unit(struct certs_checker *chk,
                                    const struct certs_unit *u, time_t now,
                                    struct diag *d, struct certs_refused *r);

/* certs_names_free releases a list of names. */
void certs_names_free(char **names, size_t n);

/* certs_entry_ref takes a reference; certs_entry_unref drops one and frees
 * the pair with the last (any thread; NULL is a no-op). */
struct certs_entry *certs_entry_ref(const struct certs_entry *e);
void certs_entry_unref(const struct certs_entry *e);

/*
 * certs_new indexes pairs (a reference is taken on each) by their names.
 * Names served by two pairs of the same key kind draw a warning in d (may
 * be NULL) naming the one used: the one that expires last. Returns NULL
 * when memory runs out.
 */
struct certs *certs_new(struct certs_entry *const *entries, size_t n,
                        struct diag *d);

/*
 * certs_load_dir lists and loads every unit of dir and indexes the pairs
 * that pass their checks; refused pairs are errors in d. A missing or
 * empty directory gives an empty set. Returns NULL only when memory or the
 * directory read fails. now is the time the checks use.
 */
struct certs *certs_load_dir(const char *dir, time_t now, struct diag *d);

/*
 * certs_generate_dev builds one self-signed ECDSA P-256 pair (valid for 90
 * days) whose SANs are the given host names. Returns NULL with the reason
 * in d.
 */
struct certs_entry *certs_generate_dev(const char *const *hosts, size_t n_hosts,
                                       struct diag *d);

/* certs_free releases an index (and its references); NULL is a no-op. */
void certs_free(struct certs *c);

/* certs_count is the number of pairs in the set. */
size_t certs_count(const struct certs *c);

/* certs_at returns pair i (0 <= i < certs_count) in the order given. */
const struct certs_entry *certs_at(const struct certs *c, size_t i);

/*
 * certs_find returns the pair whose SAN covers host (exact match first,
 * then a wildcard `*.` covering exactly the left-most label; both
 * case-insensitive, a trailing dot ignored), ECDSA before RSA, or NULL.
 */
const struct certs_entry *certs_find(const struct certs *c, const char *host);

/*
 * certs_find_pair fills pair[0] with the ECDSA pair and pair[1] with the
 * pair of another key kind that cover host (NULL where there is none), each
 * found as certs_find finds one. Returns whether either was found.
 */
bool certs_find_pair(const struct certs *c, const char *host,
                     const struct certs_entry *pair[2]);

/*
 * certs_pick chooses from pair (as certs_find_pair fills it) for a
 * handshake: the ECDSA one for TLS 1.3 clients whose signature algorithms
 * allow it (read from session, the handshake in progress), the other one
 * for the rest; whichever exists when only one does. A NULL session takes
 * ECDSA.
 */
const struct certs_entry *certs_pick(const struct certs_entry *const pair[2],
                                     gnutls_session_t session);

/*
 * certs_select picks the pair for a TLS handshake: the pair for sni as
 * certs_pick chooses it, else the default pair (the first given), or NULL
 * for an empty set.
 */
const struct certs_entry *certs_select(const struct certs *c, const char *sni,
                                       gnutls_session_t session);

/*
 * certs_mta_sts_domains appends to out (up to max) the domains named by
 * `mta-sts.<domain>` SANs across the set (exact SANs only, lower case,
 * deduplicated, sorted) and returns how many it found. The strings are
 * borrowed from the set. With out == NULL it returns an upper bound of
 * that number instead, to size the array.
 */
size_t certs_mta_sts_domains(const struct certs *c, const char **out,
                             size_t max);

/* certs_entry_names lists the pair's DNS names (lower case, no trailing
 * dot, wildcards as `*.rest`), borrowed. */
const char *const *certs_entry_names(const struct certs_entry *e, size_t *n);

/* certs_entry_trusted tells whether the chain verified against the system
 * trust store when the pair was loaded (never for a development pair). */
bool certs_entry_trusted(const struct certs_entry *e);

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
