/*
 * Unit tests for acme_chal: HTTP-01 answers put, looked up, replaced and
 * dropped; every refusal of a bad put; the cap; and the TLS-ALPN-01
 * certificate parsed back with GnuTLS: its only subjectAltName is the name,
 * the acmeIdentifier extension is critical and holds the DER OCTET STRING
 * of the key authorization's SHA-256 digest (computed independently, with
 * Python's hashlib, for the value below), the key matches, and a
 * certificate a connection holds outlives its drop. Shared through a
 * temporary state directory: what one table puts another answers (the
 * TLS-ALPN-01 certificate made from the file, cached, with the same
 * acmeIdentifier), a drop ends it there too, and a file that is malformed,
 * of another token, too long, stale, a symlink or a directory is never
 * served (the stale one is swept by the next put). One thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "acme_chal.h"

#define NAME "mta-sts.example.com"
#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define KEYAUTH TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

/* SHA-256 of KEYAUTH. */
static const unsigned char keyauth_sha256[32] = {
    0x94, 0x23, 0x3b, 0x71, 0x9c, 0x90, 0x5d, 0xc5, 0x47, 0x2b, 0x69,
    0xe7, 0x5b, 0x78, 0xe3, 0x02, 0x13, 0x53, 0xdc, 0x5b, 0xe6, 0xd7,
    0xc5, 0x0d, 0xfa, 0x45, 0x99, 0x66, 0x49, 0xca, 0xa1, 0x83};

static void put_ok(struct acme_chal *t, const char *type, const char *name,
                   const char *token, const char *keyauth)
{
    char err[256] = "";
    int rc = acme_chal_put(t, type, name, token, keyauth, err, sizeof(err));
    if (rc != 0)
        fail_msg("put %s %s %s: %s", type, name, token, err);
}

static void test_http_01(void **state)
{
    (void)state;
    struct acme_chal *t = acme_chal_new();
    char out[ACME_CHAL_KEYAUTH_MAX + 1];
    assert_non_null(t);
    assert_int_equal(acme_chal_http_lookup(t, NAME, TOKEN, out, sizeof(out)),
                     -1);
    /* The name is taken in any case and with a trailing dot. */
    put_ok(t, "http-01", "MTA-STS.Example.com.", TOKEN, KEYAUTH);
    assert_int_equal(acme_chal_http_lookup(t, NAME, TOKEN, out, sizeof(out)),
                     (int)strlen(KEYAUTH));
    assert_string_equal(out, KEYAUTH);
    /* Another token, another name, another type: not found. */
    assert_int_equal(acme_chal_http_lookup(t, NAME, "other", out, sizeof(out)),
                     -1);
    assert_int_equal(
        acme_chal_http_lookup(t, "mta-sts.example.net", TOKEN, out, 256), -1);
    assert_null(acme_chal_tls_acquire(t, NAME));
    /* An answer that does not fit is not cut. */
    assert_int_equal(acme_chal_http_lookup(t, NAME, TOKEN, out, 10), -1);
    /* Putting again replaces the answer. */
    put_ok(t, "http-01", NAME, TOKEN, TOKEN ".b");
    assert_int_equal(acme_chal_http_lookup(t, NAME, TOKEN, out, sizeof(out)),
                     (int)strlen(TOKEN ".b"));
    assert_string_equal(out, TOKEN ".b");
    /* Two tokens for one name are both answered. */
    put_ok(t, "http-01", NAME, "second", "second.x");
    assert_int_equal(acme_chal_http_lookup(t, NAME, TOKEN, out, sizeof(out)),
                     (int)strlen(TOKEN ".b"));
    assert_int_equal(acme_chal_http_lookup(t, NAME, "second", out, 64), 8);
    /* Dropping the wrong type or token changes nothing; the right one
     * withdraws exactly that answer. */
    acme_chal_drop(t, "tls-alpn-01", NAME, TOKEN);
    acme_chal_drop(t, "http-01", NAME, "nope");
    acme_chal_drop(t, "http-01", "bad name!", TOKEN);
    acme_chal_drop(t, "dns-01", NAME, TOKEN);
    assert_true(acme_chal_http_lookup(t, NAME, TOKEN, out, 256) > 0);
    assert_int_equal(acme_chal_pending(t), 2);
    acme_chal_drop(t, "http-01", "Mta-Sts.Example.Com", TOKEN);
    assert_int_equal(acme_chal_http_lookup(t, NAME, TOKEN, out, 256), -1);
    assert_int_equal(acme_chal_http_lookup(t, NAME, "second", out, 64), 8);
    assert_int_equal(acme_chal_pending(t), 1);
    acme_chal_drop(t, "http-01", NAME, "second");
    assert_int_equal(acme_chal_pending(t), 0);
    acme_chal_free(t);
    acme_chal_free(NULL);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *type, *name, *token, *keyauth, *msg;
    } bad[] = {
        {"dns-01", NAME, TOKEN, KEYAUTH, "expected http-01 or tls-alpn-01"},
        {NULL, NAME, TOKEN, KEYAUTH, "expected http-01 or tls-alpn-01"},
        {"http-01", "localhost", TOKEN, KEYAUTH, "not a host name"},
        {"http-01", "a..example", TOKEN, KEYAUTH, "not a host name"},
        {"http-01", NULL, TOKEN, KEYAUTH, "not a host name"},
        {"http-01", NAME, "", ".x", "the token is not 1 to 128 base64url"},
        {"http-01", NAME, "a/b", "a/b.x", "the token is not"},
        {"http-01", NAME, "a+b", "a+b.x", "the token is not"},
        {"http-01", NAME, NULL, "x", "the token is not"},
        {"http-01", NAME, TOKEN, "other.x", "the key authorization is not"},
        {"http-01", NAME, TOKEN, TOKEN, "the key authorization is not"},
        {"http-01", NAME, TOKEN, TOKEN ".", "the key authorization is not"},
        {"http-01", NAME, TOKEN, TOKEN "x.y", "the key authorization is not"},
        {"http-01", NAME, TOKEN, TOKEN ".a=b", "the key authorization is not"},
        {"tls-alpn-01", NAME, TOKEN, NULL, "the key authorization is not"},
    };
    struct acme_chal *t = acme_chal_new();
    char err[256], out[512];
    assert_non_null(t);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (acme_chal_put(t, bad[i].type, bad[i].name, bad[i].token,
                          bad[i].keyauth, err, sizeof(err)) != -1 ||
            strstr(err, bad[i].msg) == NULL)
            fail_msg("case %zu: expected \"%s\", got \"%s\"", i, bad[i].msg,
                     err);
    }
    /* A token one over the limit. */
    char longtok[ACME_CHAL_TOKEN_MAX + 2], longka[ACME_CHAL_TOKEN_MAX + 8];
    memset(longtok, 'a', sizeof(longtok) - 1);
    longtok[sizeof(longtok) - 1] = '\0';
    snprintf(longka, sizeof(longka), "%s.b", longtok);
    assert_int_equal(
        acme_chal_put(t, "http-01", NAME, longtok, longka, err, sizeof(err)),
        -1);
    longtok[ACME_CHAL_TOKEN_MAX] = '\0';
    snprintf(longka, sizeof(longka), "%s.b", longtok);
    put_ok(t, "http-01", NAME, longtok, longka);
    assert_int_equal(acme_chal_http_lookup(t, NAME, longtok, out, sizeof(out)),
                     (int)strlen(longka));
    acme_chal_free(t);
}

static void test_cap(void **state)
{
    (void)state;
    struct acme_chal *t = acme_chal_new();
    char tok[32], ka[48], err[256] = "";
    assert_non_null(t);
    for (int i = 0; i < ACME_CHAL_MAX; i++) {
        snprintf(tok, sizeof(tok), "t%d", i);
        snprintf(ka, sizeof(ka), "t%d.k", i);
        put_ok(t, "http-01", NAME, tok, ka);
    }
    assert_int_equal(
        acme_chal_put(t, "http-01", NAME, "over", "over.k", err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "4096 challenges are pending already"));
    /* Putting one again that is there already still works at the cap. */
    put_ok(t, "http-01", NAME, "t7", "t7.new");
    acme_chal_drop(t, "http-01", NAME, "t0");
    put_ok(t, "http-01", NAME, "over", "over.k");
    acme_chal_free(t);
}

/* The parsed-back certificate held by c. */
static gnutls_x509_crt_t crt_of(const struct acme_chal_cert *c)
{
    gnutls_pcert_st *pcert = NULL;
    unsigned n = 0;
    gnutls_privkey_t key = NULL;
    gnutls_x509_crt_t crt;
    acme_chal_cert_credentials(c, &pcert, &n, &key);
    assert_int_equal(n, 1);
    assert_non_null(key);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(
        gnutls_x509_crt_import(crt, &pcert->cert, GNUTLS_X509_FMT_DER), 0);
    return crt;
}

static void test_tls_alpn_01_cert(void **state)
{
    (void)state;
    struct acme_chal *t = acme_chal_new();
    assert_non_null(t);
    put_ok(t, "tls-alpn-01", NAME, TOKEN, KEYAUTH);
    assert_null(acme_chal_tls_acquire(t, "mta-sts.example.net"));
    char out[256];
    assert_int_equal(acme_chal_http_lookup(t, NAME, TOKEN, out, 256), -1);
    struct acme_chal_cert *c = acme_chal_tls_acquire(t, NAME);
    assert_non_null(c);
    gnutls_x509_crt_t crt = crt_of(c);

    /* Exactly one subjectAltName, the name. */
    char san[256];
    size_t san_len = sizeof(san);
    unsigned critical = 9;
    assert_int_equal(
        gnutls_x509_crt_get_subject_alt_name(crt, 0, san, &san_len, &critical),
        GNUTLS_SAN_DNSNAME);
    assert_string_equal(san, NAME);
    san_len = sizeof(san);
    assert_int_equal(
        gnutls_x509_crt_get_subject_alt_name(crt, 1, san, &san_len, NULL),
        GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);

    /* The acmeIdentifier: critical, OCTET STRING (0x04, 32) of the
     * digest. */
    unsigned char ext[64];
    size_t ext_len = sizeof(ext);
    critical = 0;
    assert_int_equal(
        gnutls_x509_crt_get_extension_by_oid(crt, "1.3.6.1.5.5.7.1.31", 0, ext,
                                             &ext_len, &critical),
        0);
    assert_int_equal(critical, 1);
    assert_int_equal(ext_len, 34);
    assert_int_equal(ext[0], 0x04);
    assert_int_equal(ext[1], 32);
    assert_memory_equal(ext + 2, keyauth_sha256, 32);

    /* Self-signed, valid now, and the key is the certificate's. */
    assert_int_not_equal(gnutls_x509_crt_check_issuer(crt, crt), 0);
    unsigned status = 1;
    assert_int_equal(
        gnutls_x509_crt_verify(crt, &crt, 1,
                               GNUTLS_VERIFY_ALLOW_ANY_X509_V1_CA_CRT, &status),
        0);
    assert_true(gnutls_x509_crt_get_activation_time(crt) <= time(NULL));
    assert_true(gnutls_x509_crt_get_expiration_time(crt) > time(NULL));
    gnutls_pcert_st *pcert;
    unsigned n;
    gnutls_privkey_t key;
    acme_chal_cert_credentials(c, &pcert, &n, &key);
    gnutls_pubkey_t from_key, from_crt;
    unsigned char id1[64], id2[64];
    size_t id1_len = sizeof(id1), id2_len = sizeof(id2);
    assert_int_equal(gnutls_pubkey_init(&from_key), 0);
    assert_int_equal(gnutls_pubkey_init(&from_crt), 0);
    assert_int_equal(gnutls_pubkey_import_privkey(from_key, key, 0, 0), 0);
    assert_int_equal(gnutls_pubkey_import_x509(from_crt, crt, 0), 0);
    assert_int_equal(gnutls_pubkey_get_key_id(from_key, 0, id1, &id1_len), 0);
    assert_int_equal(gnutls_pubkey_get_key_id(from_crt, 0, id2, &id2_len), 0);
    assert_int_equal(id1_len, id2_len);
    assert_memory_equal(id1, id2, id1_len);
    assert_int_equal(gnutls_pubkey_get_pk_algorithm(from_crt, NULL),
                     GNUTLS_PK_ECDSA);
    gnutls_pubkey_deinit(from_key);
    gnutls_pubkey_deinit(from_crt);
    gnutls_x509_crt_deinit(crt);

    /* Dropped, it is no longer handed out, but the connection's reference
     * still holds a whole certificate (ASan would see a use after free). */
    acme_chal_drop(t, "tls-alpn-01", NAME, TOKEN);
    assert_null(acme_chal_tls_acquire(t, NAME));
    crt = crt_of(c);
    gnutls_x509_crt_deinit(crt);
    acme_chal_cert_release(c);
    acme_chal_cert_release(NULL);

    /* A second token for the name: the one put last is handed out. */
    put_ok(t, "tls-alpn-01", NAME, TOKEN, KEYAUTH);
    put_ok(t, "tls-alpn-01", NAME, "second", "second.x");
    c = acme_chal_tls_acquire(t, NAME);
    assert_non_null(c);
    crt = crt_of(c);
    ext_len = sizeof(ext);
    assert_int_equal(gnutls_x509_crt_get_extension_by_oid(
                         crt, "1.3.6.1.5.5.7.1.31", 0, ext, &ext_len, NULL),
                     0);
    assert_memory_not_equal(ext + 2, keyauth_sha256, 32);
    gnutls_x509_crt_deinit(crt);
    /* Freeing the table leaves the held reference whole as well. */
    acme_chal_free(t);
    crt = crt_of(c);
    gnutls_x509_crt_deinit(crt);
    acme_chal_cert_release(c);
}

/* Paths of the shared files of the test's state directory. */
struct shared_dir {
    char state[64], dir[128], http[512], tls[512];
};

static void shared_dir_make(struct shared_dir *d)
{
    snprintf(d->state, sizeof(d->state), "/tmp/test_acme_chal.XXXXXX");
    assert_non_null(mkdtemp(d->state));
    snprintf(d->dir, sizeof(d->dir), "%s/acme", d->state);
    assert_int_equal(mkdir(d->dir, 0700), 0);
    snprintf(d->dir, sizeof(d->dir), "%s/acme/challenges", d->state);
    assert_int_equal(mkdir(d->dir, 0700), 0);
    snprintf(d->http, sizeof(d->http), "%s/http-01.%s.%s", d->dir, NAME, TOKEN);
    snprintf(d->tls, sizeof(d->tls), "%s/tls-alpn-01.%s", d->dir, NAME);
}

static void write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(data, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* shared_ext: the acmeIdentifier digest of c matches KEYAUTH's. */
static void assert_keyauth_cert(struct acme_chal_cert *c)
{
    unsigned char ext[64];
    size_t ext_len = sizeof(ext);
    assert_non_null(c);
    gnutls_x509_crt_t crt = crt_of(c);
    assert_int_equal(gnutls_x509_crt_get_extension_by_oid(
                         crt, "1.3.6.1.5.5.7.1.31", 0, ext, &ext_len, NULL),
                     0);
    assert_int_equal(ext_len, 34);
    assert_memory_equal(ext + 2, keyauth_sha256, 32);
    gnutls_x509_crt_deinit(crt);
}

static void test_shared(void **state)
{
    (void)state;
    struct shared_dir d;
    struct stat sb;
    char out[512];
    shared_dir_make(&d);
    struct acme_chal *a = acme_chal_new(), *b = acme_chal_new();
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(acme_chal_share(a, d.state), 0);
    assert_int_equal(acme_chal_share(b, d.state), 0);

    /* HTTP-01: A's answer, on disk with mode 0600, is B's too. */
    put_ok(a, "http-01", NAME, TOKEN, KEYAUTH);
    assert_int_equal(stat(d.http, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(acme_chal_http_lookup(b, NAME, TOKEN, out, sizeof(out)),
                     (int)strlen(KEYAUTH));
    assert_string_equal(out, KEYAUTH);
    assert_int_equal(acme_chal_http_lookup(b, NAME, TOKEN, out, 10), -1);
    assert_int_equal(acme_chal_http_lookup(b, NAME, "other", out, 256), -1);
    assert_int_equal(
        acme_chal_http_lookup(b, "mta-sts.example.net", TOKEN, out, 256), -1);
    assert_int_equal(acme_chal_http_lookup(b, NAME, "../../x", out, 256), -1);
    assert_int_equal(acme_chal_pending(b), 0);

    /* TLS-ALPN-01: B makes the certificate from the file, once. */
    assert_null(acme_chal_tls_acquire(b, NAME));
    put_ok(a, "tls-alpn-01", NAME, TOKEN, KEYAUTH);
    struct acme_chal_cert *c1 = acme_chal_tls_acquire(b, NAME);
    assert_keyauth_cert(c1);
    struct acme_chal_cert *c2 = acme_chal_tls_acquire(b, NAME);
    assert_ptr_equal(c1, c2);
    acme_chal_cert_release(c2);
    assert_int_equal(acme_chal_pending(b), 0);
    assert_null(acme_chal_tls_acquire(b, "mta-sts.example.net"));

    /* Decided: A drops both, B answers neither (its held certificate
     * stays whole). */
    acme_chal_drop(a, "http-01", NAME, TOKEN);
    acme_chal_drop(a, "tls-alpn-01", NAME, TOKEN);
    assert_int_equal(stat(d.http, &sb), -1);
    assert_int_equal(stat(d.tls, &sb), -1);
    assert_int_equal(acme_chal_http_lookup(b, NAME, TOKEN, out, 256), -1);
    assert_null(acme_chal_tls_acquire(b, NAME));
    assert_keyauth_cert(c1);
    acme_chal_cert_release(c1);

    /* Malformed files are never served. */
    static const char *const bad[] = {
        "",
        TOKEN,
        TOKEN ".",
        "other.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
        TOKEN ".9jg46WB3rR_AHD!EBXdN7cBkH1WOu0tA3M9fm21mqTI",
        TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI\n",
        "." TOKEN,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(d.http, bad[i]);
        write_file(d.tls, bad[i]);
        if (acme_chal_http_lookup(b, NAME, TOKEN, out, 256) != -1)
            fail_msg("http-01 file \"%s\" served", bad[i]);
        /* For TLS-ALPN-01 the file's own token counts: "other.<...>" is
         * a well-formed answer there. */
        if (strncmp(bad[i], "other.", 6) != 0 &&
            acme_chal_tls_acquire(b, NAME) != NULL)
            fail_msg("tls-alpn-01 file \"%s\" served", bad[i]);
    }
    char longka[600];
    memset(longka, 'a', sizeof(longka) - 1);
    longka[sizeof(longka) - 1] = '\0';
    longka[10] = '.';
    write_file(d.tls, longka);
    assert_null(acme_chal_tls_acquire(b, NAME));
    /* A symlink or a directory in the file's place is not read. */
    unlink(d.http);
    write_file(d.tls, KEYAUTH);
    assert_int_equal(symlink(d.tls, d.http), 0);
    assert_int_equal(acme_chal_http_lookup(b, NAME, TOKEN, out, 256), -1);
    unlink(d.http);
    assert_int_equal(mkdir(d.http, 0700), 0);
    assert_int_equal(acme_chal_http_lookup(b, NAME, TOKEN, out, 256), -1);
    rmdir(d.http);

    /* Stale (a replica died during an order): not served, and swept by
     * the next put. */
    write_file(d.http, KEYAUTH);
    struct timespec old[2] = {{time(NULL) - ACME_CHAL_STALE_SECONDS - 60, 0},
                              {time(NULL) - ACME_CHAL_STALE_SECONDS - 60, 0}};
    assert_int_equal(utimensat(AT_FDCWD, d.http, old, 0), 0);
    assert_int_equal(acme_chal_http_lookup(b, NAME, TOKEN, out, 256), -1);
    put_ok(a, "http-01", NAME, "second", "second.x");
    assert_int_equal(stat(d.http, &sb), -1);
    acme_chal_drop(a, "http-01", NAME, "second");
    unlink(d.tls);

    acme_chal_free(a);
    acme_chal_free(b);
    assert_int_equal(rmdir(d.dir), 0);
    snprintf(d.dir, sizeof(d.dir), "%s/acme", d.state);
    assert_int_equal(rmdir(d.dir), 0);
    assert_int_equal(rmdir(d.state), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_01), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_cap),     cmocka_unit_test(test_tls_alpn_01_cert),
        cmocka_unit_test(test_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
