/*
 * test_acme_csr: the X.509 parts of ACME (server/acme_csr.c): a CSR read
 * back by GnuTLS has the names as SANs (and the first as CN), the key it
 * was made for, SHA-256 and a self-signature that verifies, for both key
 * types; and the ARI certificate identifier of RFC 9773 §4.1's example
 * (authority key identifier 69:88:5B:..., serial 00:87:65:43:21), from a
 * certificate built here with those values, plus one without an AKI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "acme_csr.h"
#include "acme_key.h"

/* parse_csr decodes the base64url DER back into a GnuTLS CSR. */
static gnutls_x509_crq_t parse_csr(const struct buf *b64)
{
    struct buf der;
    gnutls_x509_crq_t crq;
    assert_int_equal(acme_b64url_decode(b64->data, b64->len, 1 << 16, &der), 0);
    gnutls_datum_t d = {(unsigned char *)der.data, (unsigned)der.len};
    assert_int_equal(gnutls_x509_crq_init(&crq), 0);
    assert_int_equal(gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_DER), 0);
    buf_free(&der);
    return crq;
}

static void test_csr(void **state)
{
    (void)state;
    static const char *const names[] = {
        "mta-sts.example.com", "mta-sts.example.net", "mta-sts.example.org"};
    /* A name over the CN's 64 characters goes into the SAN only. */
    static const char *const long_name[] = {
        "mta-sts.a-very-long-customer-domain-name-that-passes-sixty-four."
        "example"};
    const struct {
        const char *const *names;
        size_t n;
        int cn;
    } t[] = {{names, 3, 1}, {names, 1, 1}, {long_name, 1, 0}};
    char err[256];
    for (int kt = ACME_KEY_ECDSA_P256; kt <= ACME_KEY_RSA_2048; kt++) {
        struct acme_key *k = acme_key_generate(kt, err, sizeof(err));
        assert_non_null(k);
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
            struct buf b64;
            buf_init(&b64, 1 << 16);
            if (acme_csr(k, t[i].names, t[i].n, &b64, err, sizeof(err)) != 0)
                fail_msg("%s", err);
            /* base64url, no padding */
            assert_int_equal(strspn(b64.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabc"
                                              "defghijklmnopqrstuvwxyz012345"
                                              "6789-_"),
                             b64.len);
            gnutls_x509_crq_t crq = parse_csr(&b64);
            assert_int_equal(gnutls_x509_crq_verify(crq, 0), 0);
            assert_int_equal(gnutls_x509_crq_get_signature_algorithm(crq),
                             kt == ACME_KEY_RSA_2048
                                 ? GNUTLS_SIGN_RSA_SHA256
                                 : GNUTLS_SIGN_ECDSA_SHA256);
            size_t j;
            for (j = 0;; j++) {
                char san[256];
                size_t len = sizeof(san);
                unsigned crit;
                int rc = gnutls_x509_crq_get_subject_alt_name(
                    crq, (unsigned)j, san, &len, NULL, &crit);
                if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                    break;
                assert_int_equal(rc, GNUTLS_SAN_DNSNAME);
                assert_true(j < t[i].n);
                assert_string_equal(san, t[i].names[j]);
            }
            assert_int_equal(j, t[i].n);
            char cn[128];
            size_t cnlen = sizeof(cn);
            int rc = gnutls_x509_crq_get_dn_by_oid(
                crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cnlen);
            if (t[i].cn) {
                assert_int_equal(rc, 0);
                assert_string_equal(cn, t[i].names[0]);
            } else {
                assert_int_equal(rc, GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
            }
            /* The CSR carries k's public key. */
            gnutls_pubkey_t pub;
            gnutls_datum_t a, b;
            assert_int_equal(gnutls_pubkey_init(&pub), 0);
            assert_int_equal(gnutls_pubkey_import_x509_crq(pub, crq, 0), 0);
            assert_int_equal(
                gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a), 0);
            assert_int_equal(gnutls_pubkey_export2(acme_key_pubkey(k),
                                                   GNUTLS_X509_FMT_DER, &b),
                             0);
            assert_int_equal(a.size, b.size);
            assert_memory_equal(a.data, b.data, a.size);
            gnutls_free(a.data);
            gnutls_free(b.data);
            gnutls_pubkey_deinit(pub);
            gnutls_x509_crq_deinit(crq);
            buf_free(&b64);
        }
        struct buf b64;
        buf_init(&b64, 1 << 16);
        assert_int_equal(acme_csr(k, names, 0, &b64, err, sizeof(err)), -1);
        buf_free(&b64);
        acme_key_free(k);
    }
}

/* cert_pem makes a self-signed certificate with the given serial and,
 * when aki is not NULL, authority key identifier. */
static char *cert_pem(const unsigned char *serial, size_t serial_len,
                      const unsigned char *aki, size_t aki_len)
{
    char err[256];
    struct acme_key *k =
        acme_key_generate(ACME_KEY_ECDSA_P256, err, sizeof(err));
    gnutls_x509_crt_t crt;
    gnutls_datum_t pem;
    time_t now = time(NULL);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, serial_len), 0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, now + 3600), 0);
    assert_int_equal(gnutls_x509_crt_set_dn(crt, "CN=ari.test", NULL), 0);
    assert_int_equal(gnutls_x509_crt_set_pubkey(crt, acme_key_pubkey(k)), 0);
    if (aki != NULL)
        assert_int_equal(
            gnutls_x509_crt_set_authority_key_id(crt, aki, aki_len), 0);
    assert_int_equal(gnutls_x509_crt_privkey_sign(crt, crt, acme_key_privkey(k),
                                                  GNUTLS_DIG_SHA256, 0),
                     0);
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem),
                     0);
    char *s = strndup((char *)pem.data, pem.size);
    gnutls_free(pem.data);
    gnutls_x509_crt_deinit(crt);
    acme_key_free(k);
    return s;
}

static void test_cert_id(void **state)
{
    (void)state;
    static const unsigned char aki[] = {
        0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
        0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
    static const unsigned char serial[] = {0x00, 0x87, 0x65, 0x43, 0x21};
    char err[256];
    struct buf id;
    char *pem = cert_pem(serial, sizeof(serial), aki, sizeof(aki));
    buf_init(&id, 256);
    assert_int_equal(acme_cert_id(pem, strlen(pem), &id, err, sizeof(err)), 0);
    assert_string_equal(id.data, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    buf_free(&id);
    free(pem);

    /* No AKI: ARI cannot name the certificate, and says so. */
    pem = cert_pem(serial + 1, sizeof(serial) - 1, NULL, 0);
    buf_init(&id, 256);
    assert_int_equal(acme_cert_id(pem, strlen(pem), &id, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no authority key identifier"));
    buf_free(&id);
    free(pem);
    buf_init(&id, 256);
    assert_int_equal(acme_cert_id("nope", 4, &id, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expected a PEM certificate"));
    buf_free(&id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csr),
        cmocka_unit_test(test_cert_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
