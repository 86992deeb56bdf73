/*
 * libFuzzer target for certificate loading (server/certs.c): arbitrary bytes
 * become the files of a certificate directory, laid out the ways operators
 * lay them out, and go through certs_load_dir, the very code a reload runs
 * (file reading, PEM detection, GnuTLS chain and key import, the key, order
 * and validity checks, SAN indexing). The files live in a private temporary
 * directory that is rewritten on every run.
 *
 * Input: byte 0 picks the layout (mod 4):
 *   0  a.crt + a.key      the rest split at its first NUL
 *   1  a.pem              the rest, chain and key in one file
 *   2  a.pem + a.key      the rest split at its first NUL (chain, key)
 *   3  a/fullchain.pem + a/privkey.pem (certbot), split at the first NUL
 *
 * Invariants, checked with abort(): loading never fails for lack of
 * anything but memory; a file that is left out is reported (every
 * rejection says why) and a loaded pair draws no error; a loaded pair came
 * from the expected file, has 1 to 16 certificates, a not-after later than
 * the load time, a fingerprint that is the SHA-256 of its leaf, and a key
 * that really belongs to the leaf (a signature made with the key verifies
 * with the leaf's public key); every mta-sts.<domain> name it reports is
 * found again by certs_find, in lower case without '*'.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "certs.h"
#include "diag.h"
#include "fuzz_certs_ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int gnutls_x509_trust_list_add_system_trust(gnutls_x509_trust_list_t list,
                                            unsigned int tl_flags,
                                            unsigned int tl_vflags);

/*
 * Loading the system trust store costs about a tenth of a second, on every
 * load, which would leave the fuzzer a few runs per second. This definition
 * takes the place of GnuTLS's (the executable's symbol wins) and trusts the
 * CA of the seed chains instead, so that chain verification still runs, and
 * succeeds for those chains.
 */
int gnutls_x509_trust_list_add_system_trust(gnutls_x509_trust_list_t list,
                                            unsigned int tl_flags,
                                            unsigned int tl_vflags)
{
    gnutls_datum_t ca = {(unsigned char *)fuzz_certs_ca_pem,
                         sizeof(fuzz_certs_ca_pem) - 1};
    return gnutls_x509_trust_list_add_trust_mem(
        list, &ca, NULL, GNUTLS_X509_FMT_PEM, tl_flags, tl_vflags);
}

/* 2027-01-01 00:00:00 UTC: inside the validity of the seed certificates. */
#define FUZZ_NOW ((time_t)1798761600)

static char dir[64];

static void remove_all(void)
{
    static const char *const files[] = {"a.crt", "a.key", "a.pem",
                                        "a/fullchain.pem", "a/privkey.pem"};
    char path[128];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/a", dir);
    rmdir(path);
}

static void cleanup(void)
{
    if (dir[0] != '\0') {
        remove_all();
        rmdir(dir);
    }
}

static void write_file(const char *name, const uint8_t *p, size_t n, char *path,
                       size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        abort();
}

/* key_belongs signs a message with key and verifies it with the leaf. */
static void check_key_belongs(gnutls_pcert_st *leaf, gnutls_privkey_t key)
{
    static const unsigned char msg[] = "mta-sts-host fuzz";
    gnutls_datum_t m = {(unsigned char *)msg, sizeof(msg) - 1};
    gnutls_datum_t sig = {NULL, 0};
    int pk = gnutls_pubkey_get_pk_algorithm(leaf->pubkey, NULL);
    gnutls_sign_algorithm_t algo;
    if (pk == GNUTLS_PK_EDDSA_ED25519)
        algo = GNUTLS_SIGN_EDDSA_ED25519;
    else if (pk == GNUTLS_PK_EDDSA_ED448)
        algo = GNUTLS_SIGN_EDDSA_ED448;
    else
        algo = gnutls_pk_to_sign((gnutls_pk_algorithm_t)pk, GNUTLS_DIG_SHA256);
    if (algo == GNUTLS_SIGN_UNKNOWN)
        return; /* a key type TLS here cannot use anyway */
    if (gnutls_privkey_sign_data2(key, algo, 0, &m, &sig) < 0)
        return; /* e.g. an RSA key too small for the digest */
    if (gnutls_pubkey_verify_data2(leaf->pubkey, algo, 0, &m, &sig) < 0)
        abort();
    gnutls_free(sig.data);
}

static void check_entry(const struct certs *c, const struct certs_entry *e,
                        const char *want_source)
{
    gnutls_pcert_st *pcert = NULL;
    unsigned n_pcert = 0;
    gnutls_privkey_t key = NULL;
    unsigned char sha[32];
    char hex[65];

    if (strcmp(certs_entry_source(e), want_source) != 0 || certs_entry_dev(e))
        abort();
    if (certs_entry_not_after(e) <= FUZZ_NOW)
        abort();
    const char *subject = certs_entry_subject(e);
    if (subject == NULL || subject[0] == '\0')
        abort();
    certs_entry_credentials(e, &pcert, &n_pcert, &key);
    if (pcert == NULL || n_pcert < 1 || n_pcert > 16 || key == NULL)
        abort();
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, pcert[0].cert.data,
                         pcert[0].cert.size, sha) < 0)
        abort();
    for (size_t i = 0; i < sizeof(sha); i++)
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    if (strcmp(hex, certs_entry_fingerprint(e)) != 0)
        abort();
    check_key_belongs(&pcert[0], key);
    if (certs_select(c, NULL, NULL) != certs_at(c, 0))
        abort();
}

static void check_domains(const struct certs *c)
{
    size_t max = certs_mta_sts_domains(c, NULL, 0);
    const char **v = calloc(max ? max : 1, sizeof(*v));
    if (v == NULL)
        return;
    size_t n = certs_mta_sts_domains(c, v, max);
    if (n > max)
        abort();
    for (size_t i = 0; i < n; i++) {
        char host[300];
        if (v[i][0] == '\0' || strchr(v[i], '*') != NULL)
            abort();
        for (const char *p = v[i]; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                abort();
        int len = snprintf(host, sizeof(host), "mta-sts.%s", v[i]);
        if (len > 0 && (size_t)len < sizeof(host) &&
            certs_find(c, host) == NULL)
            abort();
    }
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char crt_path[128], key_path[128];
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/fuzz_certs.XXXXXX");
        if (mkdtemp(dir) == NULL)
            abort();
        atexit(cleanup);
    }
    if (size == 0)
        return 0;
    int layout = data[0] % 4;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    const uint8_t *nul = memchr(rest, '\0', n);
    size_t first = nul != NULL ? (size_t)(nul - rest) : n;
    const uint8_t *second = nul != NULL ? nul + 1 : rest + n;
    size_t second_len = n - first - (nul != NULL ? 1 : 0);

    remove_all();
    switch (layout) {
    case 0:
        write_file("a.crt", rest, first, crt_path, sizeof(crt_path));
        write_file("a.key", second, second_len, key_path, sizeof(key_path));
        break;
    case 1:
        write_file("a.pem", rest, n, crt_path, sizeof(crt_path));
        break;
    case 2:
        write_file("a.pem", rest, first, crt_path, sizeof(crt_path));
        write_file("a.key", second, second_len, key_path, sizeof(key_path));
        break;
    default:
        snprintf(key_path, sizeof(key_path), "%s/a", dir);
        if (mkdir(key_path, 0700) < 0)
            abort();
        write_file("a/fullchain.pem", rest, first, crt_path, sizeof(crt_path));
        write_file("a/privkey.pem", second, second_len, key_path,
                   sizeof(key_path));
        break;
    }

    struct diag d;
    diag_init(&d, "fuzz");
    struct certs *c = certs_load_dir(dir, FUZZ_NOW, &d);
    if (c == NULL)
        abort(); /* only memory or GnuTLS initialisation may fail */
    size_t count = certs_count(c);
    if (count > 1)
        abort();
    if (count == 0 && d.errors + d.warnings == 0)
        abort(); /* every file left out is reported */
    if (count == 1) {
        if (diag_errors(&d) != 0)
            abort();
        check_entry(c, certs_at(c, 0), crt_path);
    }
    check_domains(c);
    certs_free(c);
    diag_free(&d);
    return 0;
}
