/*
 * certs: loads the certificate + key pairs of a directory with GnuTLS,
 * checks each pair (key matches certificate, validity period, chain order,
 * chain to the system trust store), indexes the pairs by their DNS names and
 * answers "which pair for this server name" during the TLS handshake. It
 * can also generate a self-signed development certificate in memory. It
 * does not watch files or decide when to reload (see watch and store), and
 * it does not log: findings go into a struct diag. Loading runs on whichever
 * thread builds a snapshot; a loaded set is never modified again, so the
 * lookups are safe from any thread, including libmicrohttpd's TLS threads.
 */
#include "certs.h"
#include "dnsname.h"
#include "priv.h"
#include "readfile.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <gnutls/crypto.h>
#include <gnutls/x509-ext.h>
#include <gnutls/x509.h>

/*
 * Only TLS 1.2 and 1.3, only ECDHE key exchange (forward secret) with AEAD
 * ciphers, for RSA and ECDSA certificates alike. The server's order wins,
 * for speed: AES-128-GCM first, because its SHA-256 key schedule runs on
 * the CPU's SHA instructions while AES-256-GCM's SHA-384 does not (about a
 * quarter of a resumed handshake went into SHA-512 when clients picked
 * it); X25519 first, because it is what OpenSSL-based senders (Postfix)
 * send a key share for, so they never need a HelloRetryRequest.
 */
const char *const certs_tls_priority =
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
    "-CIPHER-ALL:+AES-128-GCM:+CHACHA20-POLY1305:+AES-256-GCM:"
    "-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-MAC-ALL:+AEAD:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
    "%SERVER_PRECEDENCE";

/* Certificate and key files larger than this are refused. */
#define CERTS_FILE_MAX (1024 * 1024)
/* At most this many certificates in one chain. */
#define CERTS_CHAIN_MAX 16
/* The longest DNS name, without a trailing dot. */
#define CERTS_PATH_MAX 4096
#define CERTS_DEV_DAYS 90

struct certs_entry {
    atomic_uint refs;
    char *source;           /* the file the pair came from */
    gnutls_pcert_st *pcert; /* leaf first, then the intermediates */
    unsigned n_pcert;
    gnutls_privkey_t key;
    time_t not_after;
    bool ecdsa;   /* the key is ECDSA (else RSA or another kind) */
    char **names; /* lower case, no trailing dot; wildcards as "*.rest" */
    size_t n_names;
    char *subject;
    bool dev;
    bool trusted; /* the chain verified against the system trust store */
    char fingerprint[65];
};

/* One row of the name index: an exact name, or the rest of a "*.rest". */
struct certs_name {
    const char *name;
    const struct certs_entry *entry;
    size_t order; /* position of entry in the set */
};

struct certs {
    struct certs_entry **entries; /* references */
    size_t n;
    /* Sorted by name; per name one row per key kind, ECDSA first. */
    struct certs_name *exact, *wild;
    size_t n_exact, n_wild;
};

/* Shared by the threads that load pairs at once: the trust store is read
 * once, under the lock, and only read after that. */
struct certs_checker {
    pthread_mutex_t lock;
    gnutls_x509_trust_list_t trust;
    int trust_state; /* 0 not tried yet, 1 loaded, -1 unavailable */
};

/* What loading one pair carries around. */
struct loader {
    struct certs_checker *chk;
    struct diag *d;
    time_t now;
    bool trusted;            /* set by check_chain */
    struct certs_entry *out; /* the loaded pair */
    /* The names of a certificate that was read but refused. */
    char **refused;
    size_t n_refused;
    time_t valid_from; /* refused as not valid yet: from when it is */
};

struct file_data {
    char *path;
    gnutls_datum_t data;
};

static void file_data_free(struct file_data *f)
{
    free(f->path);
    free(f->data.data);
    memset(f, 0, sizeof(*f));
}

/*
 * join_path builds dir/name into out. Returns -1 (with an error in d) when
 * the result does not fit.
 */
static int join_path(char *out, size_t outlen, const char *dir,
                     const char *name, struct diag *d)
{
    size_t dl = strlen(dir);
    const char *sep = (dl > 0 && dir[dl - 1] == '/') ? "" : "/";
    int n = snprintf(out, outlen, "%s%s%s", dir, sep, name);
    if (n < 0 || (size_t)n >= outlen) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s%s%s: path too long", dir, sep, name);
        return -1;
    }
    return 0;
}

/*
 * read_file reads a regular file of at most CERTS_FILE_MAX bytes through
 * readfile, so that the messages match the rest of the program. what names
 * the contents for the message ("the private key").
 */
static int read_file(const char *path, const char *what, struct file_data *f,
                     struct diag *d)
{
    char err[DIAG_MSG_MAX];
    struct stat st;
    char *data = NULL;
    size_t len = 0;

    memset(f, 0, sizeof(*f));
    /* Checked first because opening a FIFO for reading would block. */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: not a regular file (reading %s)",
                 path, what);
        return -1;
    }
    if (readfile(path, CERTS_FILE_MAX, &data, &len, err, sizeof(err)) < 0) {
        /* A key only root may read (certbot's default) loads at start,
         * before the privilege drop, and fails at the first renewal. */
        bool denied = errno == EACCES && strstr(what, "key") != NULL;
        diag_add(d, DIAG_ERROR, 0, 0, "%s (reading %s)%s", err, what,
                 denied ? "; make the key group-readable by the server "
                          "(e.g. chgrp GROUP KEY && chmod 0640 KEY, with "
                          "the server in GROUP; certbot: also its "
                          "archive/ and live/ directories)"
                        : "");
        return -1;
    }
    if (len > CERTS_FILE_MAX || len > UINT_MAX) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: larger than %d bytes (reading %s)",
                 path, CERTS_FILE_MAX, what);
        free(data);
        return -1;
    }
    f->path = strdup(path);
    if (f->path == NULL) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: %s (reading %s)", path,
                 strerror(ENOMEM), what);
        free(data);
        return -1;
    }
    f->data.data = (unsigned char *)data;
    f->data.size = (unsigned)len;
    return 0;
}

static bool has_pem(const gnutls_datum_t *data, const char *label)
{
    return data->data != NULL && strstr((const char *)data->data, label);
}

static bool has_pem_cert(const gnutls_datum_t *data)
{
    return has_pem(data, "-----BEGIN CERTIFICATE-----") ||
           has_pem(data, "-----BEGIN X509 CERTIFICATE-----");
}

static bool has_pem_key(const gnutls_datum_t *data)
{
    return has_pem(data, "PRIVATE KEY-----");
}

/* format_time renders t as "YYYY-MM-DD HH:MM:SS UTC" into out. */
static const char *format_time(time_t t, char *out, size_t outlen)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, outlen, "@%lld", (long long)t);
    return out;
}

/*
 * lower_name copies a DNS name in normal form (lower case, no trailing
 * dot), or returns NULL for an empty or over-long name.
 */
static char *lower_name(const char *s, size_t n)
{
    char name[DNSNAME_MAX + 1];
    return dnsname_normalize(s, n, name, sizeof(name)) == 0 ? strdup(name)
                                                            : NULL;
}

static void entry_free(struct certs_entry *e)
{
    if (e == NULL)
        return;
    free(e->source);
    for (unsigned i = 0; i < e->n_pcert; i++)
        gnutls_pcert_deinit(&e->pcert[i]);
    free(e->pcert);
    if (e->key != NULL)
        gnutls_privkey_deinit(e->key);
    for (size_t i = 0; i < e->n_names; i++)
        free(e->names[i]);
    free(e->names);
    free(e->subject);
    free(e);
}

struct certs_entry *certs_entry_ref(const struct certs_entry *e)
{
    /* The count is the one mutable field of an immutable pair. */
    struct certs_entry *m = (struct certs_entry *)e;
    if (m != NULL)
        atomic_fetch_add(&m->refs, 1);
    return m;
}

void certs_entry_unref(const struct certs_entry *e)
{
    struct certs_entry *m = (struct certs_entry *)e;
    if (m != NULL && atomic_fetch_sub(&m->refs, 1) == 1)
        entry_free(m);
}

static int add_name(char ***names, size_t *n_names, const char *s, size_t n)
{
    char *name = lower_name(s, n);
    if (name == NULL)
        return 0; /* empty or too long for DNS: never matches a host */
    char **p = realloc(*names, (*n_names + 1) * sizeof(*p));
    if (p == NULL) {
        free(name);
        return -1;
    }
    *names = p;
    (*names)[(*n_names)++] = name;
    return 0;
}

void certs_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/*
 * collect_names adds the leaf's DNS SANs to names, or its CN when it has
 * no DNS SAN at all (as clients used to do). The extension is decoded
 * once: asking GnuTLS for the SANs one index at a time decodes it again
 * for each, which costs seconds on a certificate with thousands.
 */
static int collect_names(gnutls_x509_crt_t leaf, char ***names, size_t *n)
{
    gnutls_datum_t der = {NULL, 0};
    gnutls_subject_alt_names_t sans = NULL;
    size_t before = *n;
    int ret = -1;
    unsigned critical = 0;
    if (gnutls_x509_crt_get_extension_by_oid2(leaf, GNUTLS_X509EXT_OID_SAN, 0,
                                              &der, &critical) == 0) {
        if (gnutls_subject_alt_names_init(&sans) < 0) {
            sans = NULL;
            goto out;
        }
        /* A SAN extension GnuTLS cannot decode names nothing, as before. */
        if (gnutls_x509_ext_import_subject_alt_names(&der, sans, 0) < 0) {
            gnutls_subject_alt_names_deinit(sans);
            sans = NULL;
        }
    }
    for (unsigned i = 0; sans != NULL; i++) {
        unsigned type;
        gnutls_datum_t san, oid;
        if (gnutls_subject_alt_names_get(sans, i, &type, &san, &oid) < 0)
            break;
        if (type != GNUTLS_SAN_DNSNAME || san.size > DNSNAME_MAX + 7)
            continue; /* not a DNS name, or longer than any */
        if (add_name(names, n, (const char *)san.data, san.size) < 0)
            goto out;
    }
    if (*n == before) {
        char buf[DNSNAME_MAX + 8];
        size_t size = sizeof(buf) - 1;
        if (gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, 0,
                                          0, buf, &size) == 0 &&
            add_name(names, n, buf, size) < 0)
            goto out;
    }
    ret = 0;
out:
    if (sans != NULL)
        gnutls_subject_alt_names_deinit(sans);
    gnutls_free(der.data);
    return ret;
}

/*
 * entry_new builds a pair from a parsed chain (borrowed) and a key (taken,
 * also on failure). It fails when memory runs out (*nomem is set then) or
 * when GnuTLS cannot prepare a certificate for TLS (an unsupported key type
 * in the chain, say), which rejects only this pair; the message names
 * source.
 */
static struct certs_entry *entry_new(const char *source,
                                     gnutls_x509_crt_t *crts, unsigned n,
                                     gnutls_privkey_t key, struct diag *d,
                                     bool *nomem)
{
    struct certs_entry *e = calloc(1, sizeof(*e));
    struct certs_entry *ret = NULL;
    unsigned char raw[32]; /* SHA-256 */
    int rc;

    *nomem = false;
    if (e == NULL) {
        gnutls_privkey_deinit(key);
        diag_add(d, DIAG_ERROR, 0, 0, "%s: %s", source, strerror(ENOMEM));
        *nomem = true;
        return NULL;
    }
    atomic_init(&e->refs, 1);
    e->key = key;
    e->ecdsa = gnutls_privkey_get_pk_algorithm(key, NULL) == GNUTLS_PK_ECDSA;
    e->source = strdup(source);
    e->pcert = calloc(n, sizeof(*e->pcert));
    if (e->source == NULL || e->pcert == NULL)
        goto nomem;
    for (unsigned i = 0; i < n; i++) {
        rc = gnutls_pcert_import_x509(&e->pcert[i], crts[i], 0);
        if (rc < 0) {
            diag_add(d, DIAG_ERROR, 0, 0,
                     "%s: preparing certificate %u for TLS: %s", source, i + 1,
                     gnutls_strerror(rc));
            goto out;
        }
        e->n_pcert++;
    }
    /*
     * Hash the bytes that are served (the file's own encoding), not
     * GnuTLS's re-encoding of the parsed certificate, which differs for a
     * certificate that is not strict DER: reloads compare this value to
     * tell whether what is served changed.
     */
    rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, e->pcert[0].cert.data,
                          e->pcert[0].cert.size, raw);
    if (rc < 0) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: computing the fingerprint: %s",
                 source, gnutls_strerror(rc));
        goto out;
    }
    gnutls_datum_t bin = {raw, sizeof(raw)};
    size_t hexlen = sizeof(e->fingerprint);
    rc = gnutls_hex_encode(&bin, e->fingerprint, &hexlen);
    if (rc < 0) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: encoding the fingerprint: %s",
                 source, gnutls_strerror(rc));
        goto out;
    }
    e->not_after = gnutls_x509_crt_get_expiration_time(crts[0]);
    if (collect_names(crts[0], &e->names, &e->n_names) < 0)
        goto nomem;
    if (e->n_names > 0) {
        e->subject = strdup(e->names[0]);
    } else {
        gnutls_datum_t dn = {NULL, 0};
        if (gnutls_x509_crt_get_dn3(crts[0], &dn, 0) == 0) {
            e->subject = strdup((const char *)dn.data);
            gnutls_free(dn.data);
        } else {
            e->subject = strdup("(no name)");
        }
    }
    if (e->subject == NULL)
        goto nomem;
    ret = e;
    e = NULL;
    goto out;
nomem:
    diag_add(d, DIAG_ERROR, 0, 0, "%s: %s", source, strerror(ENOMEM));
    *nomem = true;
out:
    entry_free(e);
    return ret;
}

/*
 * crt_label names a certificate in messages: its subject DN, or its first
 * DNS name when the subject is empty (as it is in many ACME certificates).
 */
static const char *crt_label(gnutls_x509_crt_t crt, char *out, size_t outlen)
{
    gnutls_datum_t dn = {NULL, 0};
    size_t size = outlen;
    unsigned type = 0;
    if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0 && dn.size > 0) {
        snprintf(out, outlen, "%s", (const char *)dn.data);
    } else if (gnutls_x509_crt_get_subject_alt_name2(crt, 0, out, &size, &type,
                                                     NULL) >= 0 &&
               type == GNUTLS_SAN_DNSNAME) {
        /* out holds the name already */
    } else {
        snprintf(out, outlen, "no subject");
    }
    gnutls_free(dn.data);
    return out;
}

/*
 * key_id_of_crt / key_id_of_key compute the SHA-256 key id of the public
 * key, which is equal for a certificate and its private key.
 */
static int key_id_of_crt(gnutls_x509_crt_t crt, unsigned char *out,
                         size_t *size)
{
    return gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, out, size);
}

static int key_id_of_key(gnutls_privkey_t key, unsigned char *out, size_t *size)
{
    gnutls_pubkey_t pub = NULL;
    int rc = gnutls_pubkey_init(&pub);
    if (rc < 0)
        return rc;
    rc = gnutls_pubkey_import_privkey(pub, key, 0, 0);
    if (rc == 0)
        rc = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, out, size);
    gnutls_pubkey_deinit(pub);
    return rc;
}

/*
 * check_key reports whether key belongs to crts[0]. When it belongs to a
 * later certificate of the file instead, the chain is in the wrong order
 * and the message says so.
 */
static int check_key(gnutls_x509_crt_t *crts, unsigned n, gnutls_privkey_t key,
                     const char *crt_path, const char *key_path, struct diag *d)
{
    unsigned char kid[64], cid[64];
    size_t ksize = sizeof(kid);
    /*
     * The key id comes from the public half stored in the key file. A key
     * whose private half does not agree with it (a damaged file) would
     * match the certificate and then fail every handshake.
     */
    int rc = gnutls_privkey_verify_params(key);
    if (rc < 0) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "%s: private key %s is damaged: its private and public "
                 "parts do not agree (%s)",
                 crt_path, key_path, gnutls_strerror(rc));
        return -1;
    }
    rc = key_id_of_key(key, kid, &ksize);
    if (rc < 0) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "%s: computing the public key of private key %s: %s", crt_path,
                 key_path, gnutls_strerror(rc));
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        size_t csize = sizeof(cid);
        rc = key_id_of_crt(crts[i], cid, &csize);
        if (rc < 0) {
            diag_add(d, DIAG_ERROR, 0, 0,
                     "%s: computing the key id of certificate %u: %s", crt_path,
                     i + 1, gnutls_strerror(rc));
            return -1;
        }
        if (csize != ksize || memcmp(cid, kid, ksize) != 0)
            continue;
        if (i == 0)
            return 0;
        char label[256];
        diag_add(d, DIAG_ERROR, 0, 0,
                 "%s: the chain is out of order: the private key belongs to "
                 "certificate %u (%s), but the server's own certificate must "
                 "come first",
                 crt_path, i + 1, crt_label(crts[i], label, sizeof(label)));
        return -1;
    }
    if (strcmp(crt_path, key_path) == 0)
        diag_add(d, DIAG_ERROR, 0, 0,
                 "%s: the private key does not match the certificate",
                 crt_path);
    else
        diag_add(d, DIAG_ERROR, 0, 0,
                 "%s: private key %s does not match the certificate", crt_path,
                 key_path);
    return -1;
}

/*
 * check_order warns when certificate i+1 did not issue certificate i:
 * clients then have to find the missing link themselves, and many do not.
 */
static void check_order(gnutls_x509_crt_t *crts, unsigned n, const char *path,
                        struct diag *d)
{
    for (unsigned i = 0; i + 1 < n; i++) {
        if (gnutls_x509_crt_check_issuer(crts[i], crts[i + 1]))
            continue;
        char a[256], b[256];
        diag_add(d, DIAG_WARNING, 0, 0,
                 "%s: certificate %u (%s) is not the issuer of certificate "
                 "%u (%s); list each issuer right after the certificate it "
                 "signed",
                 path, i + 2, crt_label(crts[i + 1], b, sizeof(b)), i + 1,
                 crt_label(crts[i], a, sizeof(a)));
    }
}

/* check_validity reports whether the leaf is valid at now. */
static int check_validity(struct loader *L, gnutls_x509_crt_t *crts, unsigned n,
                          const char *path)
{
    char when[64];
    time_t nb = gnutls_x509_crt_get_activation_time(crts[0]);
    time_t na = gnutls_x509_crt_get_expiration_time(crts[0]);
    if (nb == (time_t)-1 || na == (time_t)-1) {
        diag_add(L->d, DIAG_ERROR, 0, 0,
                 "%s: the certificate's validity period cannot be read", path);
        return -1;
    }
    if (L->now >= na) {
        diag_add(L->d, DIAG_ERROR, 0, 0, "%s: the certificate expired on %s",
                 path, format_time(na, when, sizeof(when)));
        return -1;
    }
    if (L->now < nb) {
        diag_add(L->d, DIAG_ERROR, 0, 0,
                 "%s: the certificate is not valid before %s", path,
                 format_time(nb, when, sizeof(when)));
        L->valid_from = nb;
        return -1;
    }
    if (na - L->now < (time_t)CERTS_EXPIRY_WARN_DAYS * 86400) {
        long long days = (long long)(na - L->now) / 86400;
        char left[32];
        if (days == 0)
            snprintf(left, sizeof(left), "less than a day");
        else
            snprintf(left, sizeof(left), "%lld day%s", days,
                     days == 1 ? "" : "s");
        diag_add(L->d, DIAG_WARNING, 0, 0,
                 "%s: the certificate expires in %s, on %s", path, left,
                 format_time(na, when, sizeof(when)));
    }
    /*
     * An expired intermediate is only a warning: chains sometimes carry an
     * expired cross-signature on purpose for old clients.
     */
    for (unsigned i = 1; i < n; i++) {
        time_t ina = gnutls_x509_crt_get_expiration_time(crts[i]);
        if (ina != (time_t)-1 && L->now >= ina) {
            char label[256];
            diag_add(L->d, DIAG_WARNING, 0, 0,
                     "%s: certificate %u of the chain (%s) expired on %s", path,
                     i + 1, crt_label(crts[i], label, sizeof(label)),
                     format_time(ina, when, sizeof(when)));
        }
    }
    return 0;
}

/*
 * check_chain warns when the chain does not verify against the system trust
 * store for TLS server use. GnuTLS verifies at the current time, not at
 * L->now; check_validity covers the leaf at L->now.
 */
static void check_chain(struct loader *L, gnutls_x509_crt_t *crts, unsigned n,
                        const char *path)
{
    pthread_mutex_lock(&L->chk->lock);
    if (L->chk->trust_state == 0) {
        int rc = gnutls_x509_trust_list_init(&L->chk->trust, 0);
        if (rc == 0)
            rc = gnutls_x509_trust_list_add_system_trust(L->chk->trust, 0, 0);
        if (rc > 0) {
            L->chk->trust_state = 1;
        } else {
            L->chk->trust_state = -1;
            diag_add(L->d, DIAG_WARNING, 0, 0,
                     "%s: loading the system trust store: %s; certificate "
                     "chains are not checked",
                     path,
                     rc == 0 ? "no trusted certificates found"
                             : gnutls_strerror(rc));
        }
    }
    int state = L->chk->trust_state;
    pthread_mutex_unlock(&L->chk->lock);
    if (state < 0)
        return;

    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER,
                                     0};
    unsigned status = 0;
    int rc = gnutls_x509_trust_list_verify_crt2(L->chk->trust, crts, n,
                                                &purpose, 1, 0, &status, NULL);
    if (rc < 0) {
        diag_add(L->d, DIAG_WARNING, 0, 0, "%s: verifying the chain: %s", path,
                 gnutls_strerror(rc));
        return;
    }
    if (status == 0) {
        L->trusted = true;
        return;
    }
    gnutls_datum_t text = {NULL, 0};
    rc = gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509,
                                                      &text, 0);
    diag_add(L->d, DIAG_WARNING, 0, 0,
             "%s: the chain does not verify against the system trust store "
             "(senders will reject it unless they trust its root): %s",
             path, rc == 0 ? (const char *)text.data : "unknown reason");
    gnutls_free(text.data);
}

/*
 * load_pair parses and checks one pair into L->out. crt and key may be the same
 * file (a combined .pem); the pair is named by crt's path. Returns -1 only
 * when memory runs out; a rejected pair is an error in L->d and returns 0.
 */
static int load_pair(struct loader *L, const struct file_data *crt,
                     const struct file_data *key)
{
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    gnutls_privkey_t pk = NULL;
    struct certs_entry *e = NULL;
    int rc;
    int ret = 0;
    const char *path = crt->path;

    if (!has_pem_cert(&crt->data)) {
        diag_add(L->d, DIAG_ERROR, 0, 0,
                 "%s: reading the certificate chain: no PEM certificate "
                 "found",
                 path);
        goto out;
    }
    rc = gnutls_x509_crt_list_import2(&crts, &n, &crt->data,
                                      GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0) {
        crts = NULL;
        n = 0;
        diag_add(L->d, DIAG_ERROR, 0, 0,
                 "%s: reading the certificate chain: %s", path,
                 gnutls_strerror(rc));
        goto out;
    }
    if (n == 0) {
        diag_add(L->d, DIAG_ERROR, 0, 0,
                 "%s: reading the certificate chain: no certificate found",
                 path);
        goto out;
    }
    if (n > CERTS_CHAIN_MAX) {
        diag_add(L->d, DIAG_ERROR, 0, 0,
                 "%s: the chain has %u certificates, more than %d", path, n,
                 CERTS_CHAIN_MAX);
        goto out;
    }
    if (!has_pem_key(&key->data)) {
        diag_add(L->d, DIAG_ERROR, 0, 0,
                 "%s: reading the private key: no PEM private key found",
                 key->path);
        goto out;
    }
    rc = gnutls_privkey_init(&pk);
    if (rc < 0) {
        pk = NULL;
        diag_add(L->d, DIAG_ERROR, 0, 0, "%s: reading the private key: %s",
                 key->path, gnutls_strerror(rc));
        goto out;
    }
    rc = gnutls_privkey_import_x509_raw(pk, &key->data, GNUTLS_X509_FMT_PEM,
                                        NULL, 0);
    if (rc < 0) {
        diag_add(L->d, DIAG_ERROR, 0, 0, "%s: reading the private key: %s%s",
                 key->path, gnutls_strerror(rc),
                 has_pem(&key->data, "ENCRYPTED")
                     ? " (encrypted keys are not supported)"
                     : "");
        goto out;
    }
    if (check_key(crts, n, pk, path, key->path, L->d) < 0)
        goto out;
    check_order(crts, n, path, L->d);
    if (check_validity(L, crts, n, path) < 0)
        goto out;
    check_chain(L, crts, n, path);

    bool nomem;
    e = entry_new(path, crts, n, pk, L->d, &nomem);
    pk = NULL; /* taken by entry_new */
    if (e == NULL) {
        /* A pair GnuTLS cannot serve is left out like any other. */
        ret = nomem ? -1 : 0;
        goto out;
    }
    if (e->n_names == 0)
        diag_add(L->d, DIAG_WARNING, 0, 0,
                 "%s: the certificate names no DNS host (no DNS subject "
                 "alternative name and no common name); it can only be the "
                 "default",
                 path);
    e->trusted = L->trusted;
    L->out = e;
    e = NULL;
out:
    /* A refused pair whose certificate could be read still says whose it
     * was, so that those domains can be told why. */
    if (L->out == NULL && n > 0 && L->n_refused == 0 &&
        collect_names(crts[0], &L->refused, &L->n_refused) < 0)
        ret = -1;
    entry_free(e);
    if (pk != NULL)
        gnutls_privkey_deinit(pk);
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    return ret;
}

/* load_files reads a certificate file and a key file and loads the pair. */
static int load_files(struct loader *L, const char *crt_path,
                      const char *key_path)
{
    struct file_data crt, key;
    int ret = 0;
    memset(&key, 0, sizeof(key));
    if (read_file(crt_path, "the certificate chain", &crt, L->d) < 0)
        return 0;
    if (read_file(key_path, "the private key", &key, L->d) == 0)
        ret = load_pair(L, &crt, &key);
    file_data_free(&key);
    file_data_free(&crt);
    return ret;
}

/*
 * load_combined loads a .pem that should hold both the chain and the key.
 * One without a key (a CA bundle, say) or without a certificate is not a
 * pair; one with neither is broken.
 */
static int load_combined(struct loader *L, const char *path)
{
    struct file_data f;
    int ret = 0;
    if (read_file(path, "the certificate chain and private key", &f, L->d) < 0)
        return 0;
    bool cert = has_pem_cert(&f.data), key = has_pem_key(&f.data);
    if (cert && key)
        ret = load_pair(L, &f, &f);
    else if (cert)
        diag_add(L->d, DIAG_WARNING, 0, 0,
                 "%s: holds certificates but no private key; not used (a "
                 ".pem must hold the chain and the key)",
                 path);
    else if (key)
        diag_add(L->d, DIAG_WARNING, 0, 0,
                 "%s: holds a private key but no certificate; not used", path);
    else
        diag_add(L->d, DIAG_ERROR, 0, 0,
                 "%s: no PEM certificate or private key found", path);
    file_data_free(&f);
    return ret;
}

/* ---- units: where the pairs live ---------------------------------------- */

static bool ends_with(const char *s, const char *suffix, size_t *stem)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (n <= m || strcmp(s + n - m, suffix) != 0)
        return false;
    *stem = n - m;
    return true;
}

/* A growing list of units. */
struct unit_list {
    struct certs_unit *u;
    size_t n, cap;
};

static int unit_add(struct unit_list *l, const char *crt, const char *key)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        struct certs_unit *p = realloc(l->u, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        l->u = p;
        l->cap = ncap;
    }
    struct certs_unit *u = &l->u[l->n];
    u->id = strdup(crt);
    u->crt = strdup(crt);
    u->key = strdup(key);
    l->n++; /* freed with the list even when a copy failed */
    return u->id != NULL && u->crt != NULL && u->key != NULL ? 0 : -1;
}

void certs_units_free(struct certs_unit *u, size_t n)
{
    for (size_t i = 0; u != NULL && i < n; i++) {
        free(u[i].id);
        free(u[i].crt);
        free(u[i].key);
    }
    free(u);
}

size_t certs_unit_files(const struct certs_unit *u, const char *out[2])
{
    out[0] = u->crt;
    if (strcmp(u->crt, u->key) == 0)
        return 1;
    out[1] = u->key;
    return 2;
}

/* Which names exist in the directory being looked at: a sorted listing,
 * or (names == NULL) the file system itself. */
struct present {
    const char *dir;
    char **names;
    size_t n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* has tells whether dir/<stem><ext> exists as a regular file (for a
 * listing: is listed). */
static bool has(const struct present *pr, const char *name, size_t stem,
                const char *ext)
{
    char want[CERTS_PATH_MAX];
    int len = snprintf(want, sizeof(want), "%.*s%s", (int)stem, name, ext);
    if (len < 0 || (size_t)len >= sizeof(want))
        return false;
    if (pr->names != NULL) {
        const char *key = want;
        return bsearch(&key, pr->names, pr->n, sizeof(*pr->names), cmp_str) !=
               NULL;
    }
    char path[CERTS_PATH_MAX];
    struct stat st;
    len = snprintf(path, sizeof(path), "%s/%s", pr->dir, want);
    return len > 0 && (size_t)len < sizeof(path) && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* stem_path builds dir/<stem><ext>; -1 (with an error in d) when too long. */
static int stem_path(char *out, size_t outlen, const char *dir,
                     const char *name, size_t stem, const char *ext,
                     struct diag *d)
{
    char file[CERTS_PATH_MAX];
    int len = snprintf(file, sizeof(file), "%.*s%s", (int)stem, name, ext);
    if (len < 0 || (size_t)len >= sizeof(file))
        return -1;
    return join_path(out, outlen, dir, file, d);
}

/*
 * units_of_name adds the units that the file name (in pr->dir) starts:
 * `<stem>.crt` with its `.key`; `<stem>.pem` as the chain of a `.key` when
 * there is no `.crt`, else as a combined file. A `.key` starts nothing, and
 * a lone one is worth a warning (when warn is set: a full listing).
 */
static int units_of_name(const struct present *pr, const char *name,
                         struct unit_list *l, bool warn, struct diag *d)
{
    char a[CERTS_PATH_MAX], b[CERTS_PATH_MAX];
    size_t stem;
    if (ends_with(name, ".crt", &stem)) {
        if (stem_path(a, sizeof(a), pr->dir, name, stem, ".crt", d) < 0 ||
            stem_path(b, sizeof(b), pr->dir, name, stem, ".key", d) < 0)
            return 0;
        if (has(pr, name, stem, ".key"))
            return unit_add(l, a, b);
        if (warn)
            diag_add(d, DIAG_WARNING, 0, 0,
                     "%s: certificate has no private key %s; not used", a, b);
    } else if (ends_with(name, ".pem", &stem)) {
        if (stem_path(a, sizeof(a), pr->dir, name, stem, ".pem", d) < 0 ||
            stem_path(b, sizeof(b), pr->dir, name, stem, ".key", d) < 0)
            return 0;
        bool chain =
            has(pr, name, stem, ".key") && !has(pr, name, stem, ".crt");
        return unit_add(l, a, chain ? b : a);
    } else if (warn && ends_with(name, ".key", &stem) &&
               !has(pr, name, stem, ".crt") && !has(pr, name, stem, ".pem")) {
        if (stem_path(a, sizeof(a), pr->dir, name, stem, ".key", d) < 0 ||
            stem_path(b, sizeof(b), pr->dir, name, stem, ".crt", d) < 0)
            return 0;
        diag_add(d, DIAG_WARNING, 0, 0,
                 "%s: private key has no certificate %s; not used", a, b);
    }
    return 0;
}

/*
 * certbot_unit adds dir/fullchain.pem + dir/privkey.pem when present. A
 * directory with neither is none of our business (certbot's archive/ and
 * renewal/, say) and is passed over silently.
 */
static int certbot_unit(const char *dir, struct unit_list *l, struct diag *d)
{
    char crt[CERTS_PATH_MAX], key[CERTS_PATH_MAX];
    struct stat st;
    if (join_path(crt, sizeof(crt), dir, "fullchain.pem", d) < 0 ||
        join_path(key, sizeof(key), dir, "privkey.pem", d) < 0)
        return 0;
    bool has_crt = stat(crt, &st) == 0;
    bool has_key = stat(key, &st) == 0;
    if (has_crt && has_key)
        return unit_add(l, crt, key);
    if (has_crt)
        diag_add(d, DIAG_WARNING, 0, 0,
                 "%s: certificate has no private key %s; not used", crt, key);
    else if (has_key)
        diag_add(d, DIAG_WARNING, 0, 0,
                 "%s: private key has no certificate %s; not used", key, crt);
    return 0;
}

static int visible(const struct dirent *de)
{
    /* Hidden names include Kubernetes' ..data and editor temp files. */
    return de->d_name[0] != '.';
}

/*
 * list_dir reads the visible names of dir, sorted, with scandir. A missing
 * directory is an empty list; other failures are errors. Returns -1 on
 * failure.
 */
static int list_dir(const char *dir, char ***out, size_t *n_out, struct diag *d)
{
    struct dirent **ents = NULL;
    *out = NULL;
    *n_out = 0;
    int n = scandir(dir, &ents, visible, alphasort);
    if (n < 0) {
        if (errno == ENOENT)
            return 0;
        int e = errno;
        char who[128] = "";
        if (e == EACCES)
            priv_whoami(who, sizeof(who));
        diag_add(d, DIAG_ERROR, 0, 0, "%s: reading the directory: %s%s%s%s",
                 dir, strerror(e), who[0] ? " (running as " : "", who,
                 who[0] ? ")" : "");
        errno = e; /* the caller tells a lack of memory from the rest */
        return -1;
    }
    char **names = calloc((size_t)n + 1, sizeof(*names));
    int ret = names != NULL ? 0 : -1;
    for (int i = 0; i < n; i++) {
        if (names != NULL && (names[i] = strdup(ents[i]->d_name)) == NULL)
            ret = -1;
        free(ents[i]);
    }
    free(ents);
    if (ret < 0) {
        for (int i = 0; names != NULL && i < n; i++)
            free(names[i]);
        free(names);
        diag_add(d, DIAG_ERROR, 0, 0, "%s: reading the directory: %s", dir,
                 strerror(ENOMEM));
        errno = ENOMEM;
        return -1;
    }
    /* strcmp order, which `has` searches by (alphasort follows the
     * locale). */
    qsort(names, (size_t)n, sizeof(*names), cmp_str);
    *out = names;
    *n_out = (size_t)n;
    return 0;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; names != NULL && i < n; i++)
        free(names[i]);
    free(names);
}

/*
 * scan_dir adds every unit of dir. depth 0 is the configured directory:
 * its subdirectories may be certbot pair directories, and a `live/`
 * subdirectory is certbot's own layout, one level further.
 */
static int scan_dir(const char *dir, int depth, struct unit_list *l,
                    struct diag *d)
{
    struct present pr = {dir, NULL, 0};
    int ret = 0;
    if (list_dir(dir, &pr.names, &pr.n, d) < 0)
        return -1;
    for (size_t i = 0; i < pr.n && ret == 0; i++) {
        const char *name = pr.names[i];
        char path[CERTS_PATH_MAX];
        struct stat st;
        if (join_path(path, sizeof(path), dir, name, d) < 0)
            continue;
        if (stat(path, &st) < 0) {
            /* A dangling symlink, or a file removed while we look. */
            diag_add(d, DIAG_WARNING, 0, 0, "%s: %s; skipped", path,
                     strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode))
            ret = depth == 0 && strcmp(name, "live") == 0
                      ? scan_dir(path, 1, l, d)
                      : certbot_unit(path, l, d);
        else if (depth == 0 && S_ISREG(st.st_mode))
            ret = units_of_name(&pr, name, l, true, d);
        /* else certbot's live/README and the like */
    }
    free_names(pr.names, pr.n);
    return ret;
}

static int cmp_unit(const void *a, const void *b)
{
    return strcmp(((const struct certs_unit *)a)->id,
                  ((const struct certs_unit *)b)->id);
}

/* finish_units hands a list over sorted, or frees it on failure. */
static int finish_units(struct unit_list *l, int rc, struct certs_unit **out,
                        size_t *n, struct diag *d)
{
    if (rc < 0) {
        int e = d->errors == 0 ? ENOMEM : errno;
        if (d->errors == 0)
            diag_add(d, DIAG_ERROR, 0, 0, "listing certificates: %s",
                     strerror(ENOMEM));
        certs_units_free(l->u, l->n);
        errno = e;
        *out = NULL;
        *n = 0;
        return -1;
    }
    if (l->n > 0)
        qsort(l->u, l->n, sizeof(*l->u), cmp_unit);
    *out = l->u;
    *n = l->n;
    return 0;
}

int certs_list_units(const char *dir, struct certs_unit **out, size_t *n,
                     struct diag *d)
{
    struct unit_list l = {0};
    return finish_units(&l, scan_dir(dir, 0, &l, d), out, n, d);
}

/* scope_add records a unit id a change speaks for. */
static int scope_add(struct certs_change *c, const char *dir, const char *a,
                     int alen, const char *b)
{
    char id[CERTS_PATH_MAX];
    int len = snprintf(id, sizeof(id), "%s/%.*s%s", dir, alen, a, b);
    if (len < 0 || (size_t)len >= sizeof(id) || c->n_scope == 2)
        return 0; /* no unit can have such an id */
    return (c->scope[c->n_scope++] = strdup(id)) != NULL ? 0 : -1;
}

int certs_units_at(const char *dir, const char *rel, struct certs_change *c,
                   struct diag *d)
{
    struct unit_list l = {0};
    char path[CERTS_PATH_MAX];
    int rc = 0;
    memset(c, 0, sizeof(*c));
    size_t toplen = strcspn(rel, "/");
    const char *rest = rel[toplen] == '/' ? rel + toplen + 1 : NULL;
    size_t stem;
    if (toplen == 0 || toplen > NAME_MAX)
        goto out;
    if (toplen == 4 && strncmp(rel, "live", 4) == 0) {
        /* live/<name>[/file]: that certbot directory; live itself: all. */
        size_t sublen = rest != NULL ? strcspn(rest, "/") : 0;
        if (sublen == 0) {
            c->all = true;
            goto out;
        }
        int len = snprintf(path, sizeof(path), "%s/live/%.*s", dir, (int)sublen,
                           rest);
        if (len > 0 && (size_t)len < sizeof(path) &&
            (rc = scope_add(c, dir, path + strlen(dir) + 1,
                            len - (int)strlen(dir) - 1, "/fullchain.pem")) == 0)
            rc = certbot_unit(path, &l, d);
        goto out;
    }
    int len = snprintf(path, sizeof(path), "%s/%.*s", dir, (int)toplen, rel);
    if (len < 0 || (size_t)len >= sizeof(path))
        goto out;
    const char *top = path + strlen(dir) + 1;
    if (rest != NULL ||
        !(ends_with(top, ".crt", &stem) || ends_with(top, ".key", &stem) ||
          ends_with(top, ".pem", &stem))) {
        /* A certbot directory (or a name that is none of ours). */
        if ((rc = scope_add(c, dir, top, (int)toplen, "/fullchain.pem")) == 0)
            rc = certbot_unit(path, &l, d);
        goto out;
    }
    /* A top-level file: the units of its stem, as they are now. */
    if ((rc = scope_add(c, dir, top, (int)stem, ".crt")) < 0 ||
        (rc = scope_add(c, dir, top, (int)stem, ".pem")) < 0)
        goto out;
    struct present pr = {dir, NULL, 0};
    static const char *const starts[] = {".crt", ".pem"};
    for (size_t j = 0; j < 2 && rc == 0; j++) {
        char name[NAME_MAX + 8];
        snprintf(name, sizeof(name), "%.*s%s", (int)stem, top, starts[j]);
        if (has(&pr, name, stem, starts[j]))
            rc = units_of_name(&pr, name, &l, false, d);
    }
out:
    return finish_units(&l, rc, &c->units, &c->n, d);
}

void certs_change_free(struct certs_change *c)
{
    certs_units_free(c->units, c->n);
    for (size_t i = 0; i < c->n_scope; i++)
        free(c->scope[i]);
    memset(c, 0, sizeof(*c));
}

/* ---- loading one pair --------------------------------------------------- */

struct certs_checker *certs_checker_new(void)
{
    struct certs_checker *chk = calloc(1, sizeof(*chk));
    if (chk != NULL && pthread_mutex_init(&chk->lock, NULL) != 0) {
        free(chk);
        return NULL;
    }
    return chk;
}

void certs_checker_free(struct certs_checker *chk)
{
    if (chk == NULL)
        return;
    if (chk->trust_state != 0 && chk->trust != NULL)
        gnutls_x509_trust_list_deinit(chk->trust, 1);
    pthread_mutex_destroy(&chk->lock);
    free(chk);
}

struct certs_entry *certs_load_unit(struct certs_checker *chk,
                                    const struct certs_unit *u, time_t now,
                                    struct diag *d, struct certs_refused *r)
{
    struct loader L = {.chk = chk, .d = d, .now = now};
    int rc = strcmp(u->crt, u->key) == 0 ? load_combined(&L, u->crt)
                                         : load_files(&L, u->crt, u->key);
    r->nomem = rc < 0;
    r->names = L.refused;
    r->n_names = L.n_refused;
    r->valid_from = L.valid_from;
    return L.out;
}

/* ---- the index ---------------------------------------------------------- */

/*
 * Index order: by name, ECDSA before other keys (a name may have one of
 * each, for clients that cannot verify ECDSA), then the pair that expires
 * last (so that a renewed certificate dropped next to the old one wins),
 * then load order.
 */
static int cmp_index(const void *a, const void *b)
{
    const struct certs_name *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    if (x->entry->ecdsa != y->entry->ecdsa)
        return x->entry->ecdsa ? -1 : 1;
    if (x->entry->not_after != y->entry->not_after)
        return x->entry->not_after > y->entry->not_after ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/*
 * dedupe keeps the first row of each name and key kind. A name served by
 * two different pairs of the same kind draws a warning naming the one
 * used, when d is given.
 */
static size_t dedupe(struct certs_name *rows, size_t n, bool wild,
                     struct diag *d)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o > 0 && strcmp(rows[o - 1].name, rows[i].name) == 0 &&
            rows[o - 1].entry->ecdsa == rows[i].entry->ecdsa) {
            if (d != NULL && rows[o - 1].entry != rows[i].entry)
                diag_add(d, DIAG_WARNING, 0, 0,
                         "%s: %s%s is also in %s, which is used for it",
                         rows[i].entry->source, wild ? "*." : "", rows[i].name,
                         rows[o - 1].entry->source);
            continue;
        }
        rows[o++] = rows[i];
    }
    return o;
}

/* build_index fills the exact and wildcard name arrays. */
static int build_index(struct certs *c, struct diag *d)
{
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++)
        total += c->entries[i]->n_names;
    if (total == 0)
        return 0;
    c->exact = calloc(total, sizeof(*c->exact));
    c->wild = calloc(total, sizeof(*c->wild));
    if (c->exact == NULL || c->wild == NULL)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        const struct certs_entry *e = c->entries[i];
        for (size_t j = 0; j < e->n_names; j++) {
            const char *name = e->names[j];
            const char *base = dnsname_wildcard_base(name);
            if (base != NULL) {
                c->wild[c->n_wild++] = (struct certs_name){base, e, i};
            } else if (strchr(name, '*') == NULL) {
                c->exact[c->n_exact++] = (struct certs_name){name, e, i};
            } else if (d != NULL) {
                diag_add(d, DIAG_WARNING, 0, 0,
                         "%s: name %s is ignored: only a whole left-most "
                         "label may be a wildcard",
                         e->source, name);
            }
        }
    }
    qsort(c->exact, c->n_exact, sizeof(*c->exact), cmp_index);
    qsort(c->wild, c->n_wild, sizeof(*c->wild), cmp_index);
    c->n_exact = dedupe(c->exact, c->n_exact, false, d);
    c->n_wild = dedupe(c->wild, c->n_wild, true, d);
    return 0;
}

/* index_find returns the pair for name of the key kind asked for (ECDSA
 * when ecdsa), or with any the first there is, ECDSA first. */
static const struct certs_entry *index_find(const struct certs_name *rows,
                                            size_t n, const char *name,
                                            bool ecdsa, bool any)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the first row not below name */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(rows[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* At most two rows: ECDSA first, then the other kind. */
    for (size_t i = lo; i < n && i < lo + 2; i++) {
        if (strcmp(rows[i].name, name) != 0)
            break;
        if (any || rows[i].entry->ecdsa == ecdsa)
            return rows[i].entry;
    }
    return NULL;
}

struct certs *certs_new(struct certs_entry *const *entries, size_t n,
                        struct diag *d)
{
    struct certs *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->entries = calloc(n ? n : 1, sizeof(*c->entries));
    if (c->entries == NULL) {
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        c->entries[c->n++] = certs_entry_ref(entries[i]);
    if (build_index(c, d) < 0) {
        certs_free(c);
        return NULL;
    }
    return c;
}

struct certs *certs_load_dir(const char *dir, time_t now, struct diag *d)
{
    struct certs_unit *units = NULL;
    struct certs_entry **loaded = NULL;
    struct certs_checker *chk = certs_checker_new();
    struct certs *c = NULL;
    size_t n = 0, k = 0;
    bool nomem = chk == NULL;
    if (!nomem && certs_list_units(dir, &units, &n, d) < 0)
        goto out;
    loaded = calloc(n ? n : 1, sizeof(*loaded));
    nomem = nomem || loaded == NULL;
    for (size_t i = 0; i < n && !nomem; i++) {
        struct certs_refused r;
        if ((loaded[k] = certs_load_unit(chk, &units[i], now, d, &r)) != NULL)
            k++;
        certs_names_free(r.names, r.n_names);
        nomem = r.nomem;
    }
    if (!nomem)
        c = certs_new(loaded, k, d);
    nomem = nomem || c == NULL;
out:
    if (nomem)
        diag_add(d, DIAG_ERROR, 0, 0, "%s: loading certificates: %s", dir,
                 strerror(ENOMEM));
    for (size_t i = 0; i < k; i++)
        certs_entry_unref(loaded[i]);
    free(loaded);
    certs_units_free(units, n);
    certs_checker_free(chk);
    return c;
}

/*
 * dev_sign fills crt as a self-signed server certificate for hosts with
 * key, valid from an hour ago (clock skew) for CERTS_DEV_DAYS days.
 */
/*
 * set_sans gives crt the DNS names hosts[0..n) as its subjectAltName
 * extension, encoded once: appending them one by one re-encodes the whole
 * extension each time, quadratic in the number of served domains.
 */
static int set_sans(gnutls_x509_crt_t crt, const char *const *hosts, size_t n)
{
    gnutls_subject_alt_names_t sans;
    gnutls_datum_t der = {NULL, 0};
    int rc = gnutls_subject_alt_names_init(&sans);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        gnutls_datum_t name = {(unsigned char *)(uintptr_t)hosts[i],
                               (unsigned)strlen(hosts[i])};
        rc =
            gnutls_subject_alt_names_set(sans, GNUTLS_SAN_DNSNAME, &name, NULL);
    }
    if (rc >= 0)
        rc = gnutls_x509_ext_export_subject_alt_names(sans, &der);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_extension_by_oid(crt, GNUTLS_X509EXT_OID_SAN,
                                                  der.data, der.size, 0);
    gnutls_free(der.data);
    gnutls_subject_alt_names_deinit(sans);
    return rc;
}

static int dev_sign(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                    const char *const *hosts, size_t n_hosts, time_t now,
                    const char **what)
{
    unsigned char serial[16];
    unsigned char kid[64];
    size_t kid_size = sizeof(kid);
    int rc;

#define STEP(desc, call)                                                       \
    do {                                                                       \
        *what = (desc);                                                        \
        rc = (call);                                                           \
        if (rc < 0)                                                            \
            return rc;                                                         \
    } while (0)

    STEP("setting the version", gnutls_x509_crt_set_version(crt, 3));
    STEP("drawing a serial number",
         gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)));
    /* Positive, and no leading zero octet for DER to strip. */
    serial[0] = (unsigned char)((serial[0] & 0x3f) | 0x40);
    STEP("setting the serial number",
         gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)));
    STEP("setting the activation time",
         gnutls_x509_crt_set_activation_time(crt, now - 3600));
    STEP("setting the expiration time",
         gnutls_x509_crt_set_expiration_time(crt, now + (time_t)CERTS_DEV_DAYS *
                                                            86400));
    STEP("setting the organization",
         gnutls_x509_crt_set_dn_by_oid(
             crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
             "mta-sts-host development certificate",
             (unsigned)strlen("mta-sts-host development certificate")));
    /* A CN is at most 64 characters; longer names live in the SANs only. */
    if (strlen(hosts[0]) <= 64)
        STEP("setting the common name",
             gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                           hosts[0],
                                           (unsigned)strlen(hosts[0])));
    STEP("setting the subject alternative names",
         set_sans(crt, hosts, n_hosts));
    STEP("setting the key", gnutls_x509_crt_set_key(crt, key));
    STEP("setting basic constraints",
         gnutls_x509_crt_set_basic_constraints(crt, 0, -1));
    STEP("setting the key usage",
         gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE));
    STEP("setting the extended key usage",
         gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
    STEP("computing the key id",
         gnutls_x509_crt_get_key_id(crt, 0, kid, &kid_size));
    STEP("setting the subject key id",
         gnutls_x509_crt_set_subject_key_id(crt, kid, kid_size));
    STEP("signing the certificate",
         gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0));
#undef STEP
    return 0;
}

struct certs_entry *certs_generate_dev(const char *const *hosts, size_t n_hosts,
                                       struct diag *d)
{
    static const char *const fallback[] = {"localhost"};
    struct certs_entry *ret = NULL;
    gnutls_x509_privkey_t xkey = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_privkey_t pk = NULL;
    gnutls_datum_t der = {NULL, 0};
    const char *what = "initialising";
    int rc;

    if (hosts == NULL || n_hosts == 0) {
        hosts = fallback;
        n_hosts = 1;
    }
    for (size_t i = 0; i < n_hosts; i++) {
        if (hosts[i] == NULL || hosts[i][0] == '\0' ||
            strlen(hosts[i]) > DNSNAME_MAX) {
            diag_add(d, DIAG_ERROR, 0, 0,
                     "generating the development certificate: host name %zu "
                     "is empty or too long",
                     i + 1);
            goto out;
        }
    }
    what = "generating the ECDSA P-256 key";
    rc = gnutls_x509_privkey_init(&xkey);
    if (rc < 0) {
        xkey = NULL;
        goto fail;
    }
    rc = gnutls_x509_privkey_generate(
        xkey, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
        0);
    if (rc < 0)
        goto fail;
    what = "creating the certificate";
    rc = gnutls_x509_crt_init(&crt);
    if (rc < 0) {
        crt = NULL;
        goto fail;
    }
    rc = dev_sign(crt, xkey, hosts, n_hosts, time(NULL), &what);
    if (rc < 0)
        goto fail;
    /*
     * Parse the signed DER again: a certificate built in memory does not
     * report all of its appended SANs back, and the entry should describe
     * exactly the bytes that are served.
     */
    what = "re-reading the certificate";
    rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
    if (rc < 0)
        goto fail;
    gnutls_x509_crt_deinit(crt);
    crt = NULL;
    rc = gnutls_x509_crt_init(&crt);
    if (rc < 0) {
        crt = NULL;
        goto fail;
    }
    rc = gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER);
    if (rc < 0)
        goto fail;
    what = "preparing the key for TLS";
    rc = gnutls_privkey_init(&pk);
    if (rc < 0) {
        pk = NULL;
        goto fail;
    }
    rc = gnutls_privkey_import_x509(pk, xkey,
                                    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
    if (rc < 0)
        goto fail;
    xkey = NULL; /* released with pk now */
    bool nomem;
    struct certs_entry *e = entry_new("(generated development certificate)",
                                      &crt, 1, pk, d, &nomem);
    pk = NULL; /* taken by entry_new */
    if (e == NULL)
        goto out;
    e->dev = true;
    ret = e;
    goto out;
fail:
    diag_add(d, DIAG_ERROR, 0, 0,
             "generating the development certificate: "
             "%s: %s",
             what, gnutls_strerror(rc));
out:
    gnutls_free(der.data);
    if (pk != NULL)
        gnutls_privkey_deinit(pk);
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
    if (xkey != NULL)
        gnutls_x509_privkey_deinit(xkey);
    return ret;
}

void certs_free(struct certs *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        certs_entry_unref(c->entries[i]);
    free(c->entries);
    free(c->exact);
    free(c->wild);
    free(c);
}

size_t certs_count(const struct certs *c)
{
    return c != NULL ? c->n : 0;
}

const struct certs_entry *certs_at(const struct certs *c, size_t i)
{
    return c != NULL && i < c->n ? c->entries[i] : NULL;
}

/* find looks host up in the index (exact name first, then a wildcard for
 * its left-most label) for one key kind (ecdsa) or, with any, either. */
static const struct certs_entry *find(const struct certs *c, const char *host,
                                      bool ecdsa, bool any)
{
    char name[DNSNAME_MAX + 1];
    if (c == NULL || host == NULL ||
        dnsname_normalize(host, strlen(host), name, sizeof(name)) < 0)
        return NULL;
    const struct certs_entry *e =
        index_find(c->exact, c->n_exact, name, ecdsa, any);
    if (e != NULL)
        return e;
    /* A wildcard covers exactly one non-empty left-most label. */
    const char *parent = dnsname_parent(name);
    return parent != NULL ? index_find(c->wild, c->n_wild, parent, ecdsa, any)
                          : NULL;
}

const struct certs_entry *certs_find(const struct certs *c, const char *host)
{
    return find(c, host, true, true);
}

bool certs_find_pair(const struct certs *c, const char *host,
                     const struct certs_entry *pair[2])
{
    pair[0] = find(c, host, true, false);
    pair[1] = find(c, host, false, false);
    return pair[0] != NULL || pair[1] != NULL;
}

/*
 * client_takes_ecdsa tells whether an ECDSA pair can serve the handshake:
 * a TLS 1.3 client whose signature_algorithms lists an ECDSA scheme. In
 * TLS 1.2 the certificate must also suit a cipher suite the client offers,
 * and GnuTLS asks for the certificate before it picks the suite without
 * saying which suites were offered; every ECDHE client offers ECDHE-RSA,
 * so TLS 1.2 gets the RSA pair when there is one.
 */
static bool client_takes_ecdsa(gnutls_session_t session)
{
    gnutls_sign_algorithm_t algo;
    if (gnutls_protocol_get_version(session) != GNUTLS_TLS1_3)
        return false;
    for (unsigned i = 0;
         gnutls_sign_algorithm_get_requested(session, i, &algo) == 0; i++)
        if (gnutls_sign_get_pk_algorithm(algo) == GNUTLS_PK_ECDSA)
            return true;
    return false;
}

const struct certs_entry *certs_pick(const struct certs_entry *const pair[2],
                                     gnutls_session_t session)
{
    if (pair[0] == NULL || pair[1] == NULL)
        return pair[0] != NULL ? pair[0] : pair[1];
    return session == NULL || client_takes_ecdsa(session) ? pair[0] : pair[1];
}

const struct certs_entry *certs_select(const struct certs *c, const char *sni,
                                       gnutls_session_t session)
{
    const struct certs_entry *pair[2];
    if (c == NULL || c->n == 0)
        return NULL;
    if (sni != NULL && certs_find_pair(c, sni, pair))
        return certs_pick(pair, session);
    return c->entries[0];
}

size_t certs_mta_sts_domains(const struct certs *c, const char **out,
                             size_t max)
{
    static const char prefix[] = "mta-sts.";
    const size_t plen = sizeof(prefix) - 1;
    size_t k = 0;
    if (c == NULL)
        return 0;
    /* The exact names are sorted: those with the prefix are one run. */
    size_t lo = 0, hi = c->n_exact;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->exact[mid].name, prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < c->n_exact; i++) {
        const char *name = c->exact[i].name;
        if (strncmp(name, prefix, plen) != 0)
            break;
        const char *domain = name + plen;
        if (domain[0] == '\0' || (k > 0 && out != NULL && k <= max &&
                                  strcmp(out[k - 1], domain) == 0))
            continue;
        if (out != NULL && k == max)
            break;
        if (out != NULL)
            out[k] = domain;
        k++;
    }
    return k;
}

const char *certs_entry_source(const struct certs_entry *e)
{
    return e->source;
}

time_t certs_entry_not_after(const struct certs_entry *e)
{
    return e->not_after;
}

const char *certs_entry_subject(const struct certs_entry *e)
{
    return e->subject;
}

bool certs_entry_dev(const struct certs_entry *e)
{
    return e->dev;
}

bool certs_entry_trusted(const struct certs_entry *e)
{
    return e->trusted;
}

const char *const *certs_entry_names(const struct certs_entry *e, size_t *n)
{
    *n = e->n_names;
    return (const char *const *)e->names;
}

void certs_entry_credentials(const struct certs_entry *e,
                             gnutls_pcert_st **pcert, unsigned *n_pcert,
                             gnutls_privkey_t *key)
{
    *pcert = e->pcert;
    *n_pcert = e->n_pcert;
    *key = e->key;
}

const char *certs_entry_fingerprint(const struct certs_entry *e)
{
    return e->fingerprint;
}
