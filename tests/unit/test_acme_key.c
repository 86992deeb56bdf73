/*
 * test_acme_key: ACME keys (server/acme_key.c): base64url against RFC 4648
 * §10's vectors (in the URL-safe alphabet) and malformed input, keys of
 * both types generated and read back from their PEM, keys of other kinds
 * refused by name, and the JWK and thumbprint against RFC 7638 §3.1's
 * example and RFC 7515 A.3's P-256 key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "acme_key.h"

/* RFC 7638 §3.1's RSA key and its SHA-256 thumbprint. */
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aP"
    "FFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93"
    "lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZH"
    "zu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPk"
    "sINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char rfc7638_thumb[] =
    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* RFC 7515 Appendix A.3's P-256 key. */
static const char a3_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char a3_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

static char *b64url(const void *p, size_t n)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(acme_b64url(p, n, &b), 0);
    assert_int_equal(buf_append(&b, "", 0), 0);
    return buf_take(&b, NULL);
}

static void test_b64url(void **state)
{
    (void)state;
    /* RFC 4648 §10, and bytes that differ between the two alphabets. */
    static const struct {
        const char *raw;
        size_t len;
        const char *enc;
    } t[] = {
        {"", 0, ""},
        {"f", 1, "Zg"},
        {"fo", 2, "Zm8"},
        {"foo", 3, "Zm9v"},
        {"foob", 4, "Zm9vYg"},
        {"fooba", 5, "Zm9vYmE"},
        {"foobar", 6, "Zm9vYmFy"},
        {"\xfb\xff", 2, "-_8"},
        {"\x00\x87\x65\x43\x21", 5, "AIdlQyE"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char *e = b64url(t[i].raw, t[i].len);
        assert_string_equal(e, t[i].enc);
        free(e);
        struct buf d;
        assert_int_equal(acme_b64url_decode(t[i].enc, strlen(t[i].enc), 64, &d),
                         0);
        assert_int_equal(d.len, t[i].len);
        if (t[i].len > 0)
            assert_memory_equal(d.data, t[i].raw, t[i].len);
        buf_free(&d);
    }
    /* Padding is accepted on input; the standard alphabet, stray bytes
     * and an impossible length are not; the cap holds. */
    struct buf d;
    assert_int_equal(acme_b64url_decode("Zg==", 4, 64, &d), 0);
    assert_int_equal(d.len, 1);
    buf_free(&d);
    static const char *const bad[] = {"+_8", "-/8",   "Zm9v!",
                                      "Z",   "Zm9vY", "Zm 9v"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(acme_b64url_decode(bad[i], strlen(bad[i]), 64, &d),
                         -1);
        assert_null(d.data);
    }
    /* What tokens and nonces may be. */
    assert_true(acme_is_b64url("Zm9v-_09", 8));
    assert_false(acme_is_b64url("", 0));
    assert_false(acme_is_b64url("Zm9v=", 5));
    assert_false(acme_is_b64url("a.b", 3));
    assert_false(acme_is_b64url("a/b", 3));
    assert_false(acme_is_b64url("a+b", 3));
    assert_int_equal(acme_b64url_decode("Zm9vYmFy", 8, 5, &d), -1);
    assert_int_equal(acme_b64url_decode("Zm9vYmFy", 8, 6, &d), 0);
    buf_free(&d);
}

static void test_generate_roundtrip(void **state)
{
    (void)state;
    char err[256];
    for (int t = ACME_KEY_ECDSA_P256; t <= ACME_KEY_RSA_2048; t++) {
        struct acme_key *k = acme_key_generate(t, err, sizeof(err));
        assert_non_null(k);
        assert_int_equal(acme_key_kind(k), t);
        struct buf pem;
        buf_init(&pem, 1 << 16);
        assert_int_equal(acme_key_pem(k, &pem, err, sizeof(err)), 0);
        assert_non_null(strstr(pem.data, "-----BEGIN PRIVATE KEY-----"));
        struct acme_key *k2 =
            acme_key_from_pem(pem.data, pem.len, err, sizeof(err));
        assert_non_null(k2);
        assert_int_equal(acme_key_kind(k2), t);
        /* The same key: the same thumbprint; a new one: another. */
        char t1[ACME_THUMBPRINT_SIZE], t2[ACME_THUMBPRINT_SIZE];
        char t3[ACME_THUMBPRINT_SIZE];
        assert_int_equal(
            acme_jwk_thumbprint(acme_key_pubkey(k), t1, err, sizeof(err)), 0);
        assert_int_equal(
            acme_jwk_thumbprint(acme_key_pubkey(k2), t2, err, sizeof(err)), 0);
        assert_string_equal(t1, t2);
        assert_int_equal(strlen(t1), 43);
        struct acme_key *k3 = acme_key_generate(t, err, sizeof(err));
        assert_int_equal(
            acme_jwk_thumbprint(acme_key_pubkey(k3), t3, err, sizeof(err)), 0);
        assert_string_not_equal(t1, t3);
        buf_free(&pem);
        acme_key_free(k);
        acme_key_free(k2);
        acme_key_free(k3);
    }
    acme_key_free(NULL);
    assert_string_equal(acme_key_type_name(ACME_KEY_ECDSA_P256), "ecdsa-p256");
    assert_string_equal(acme_key_type_name(ACME_KEY_RSA_2048), "rsa-2048");
}

/* pem_of generates a GnuTLS key of another kind and writes it as PEM. */
static char *pem_of(gnutls_pk_algorithm_t pk, unsigned bits)
{
    gnutls_x509_privkey_t x;
    gnutls_datum_t out;
    assert_int_equal(gnutls_x509_privkey_init(&x), 0);
    assert_int_equal(gnutls_x509_privkey_generate(x, pk, bits, 0), 0);
    assert_int_equal(gnutls_x509_privkey_export2_pkcs8(
                         x, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out),
                     0);
    char *s = strndup((char *)out.data, out.size);
    gnutls_free(out.data);
    gnutls_x509_privkey_deinit(x);
    return s;
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        gnutls_pk_algorithm_t pk;
        unsigned bits;
        const char *found;
    } t[] = {
        {GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1),
         "found EC/ECDSA (384 bits)"},
        {GNUTLS_PK_RSA, 1024, "found RSA (1024 bits)"},
        {GNUTLS_PK_EDDSA_ED25519, 256, "found EdDSA (Ed25519)"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char *pem = pem_of(t[i].pk, t[i].bits);
        assert_null(acme_key_from_pem(pem, strlen(pem), err, sizeof(err)));
        if (strstr(err, t[i].found) == NULL)
            fail_msg("%s: %s", t[i].found, err);
        assert_non_null(strstr(err, "expected an ECDSA P-256 or RSA-2048"));
        free(pem);
    }
    assert_null(acme_key_from_pem("garbage", 7, err, sizeof(err)));
    assert_non_null(strstr(err, "expected a PEM private key"));
}

/* decode reads a base64url JWK member into b. */
static void decode(const char *s, struct buf *b)
{
    assert_int_equal(acme_b64url_decode(s, strlen(s), 1024, b), 0);
}

static void test_rfc7638(void **state)
{
    (void)state;
    struct buf n, e, jwk;
    gnutls_pubkey_t pub;
    char err[256], thumb[ACME_THUMBPRINT_SIZE];
    decode(rfc7638_n, &n);
    decode("AQAB", &e);
    gnutls_datum_t dn = {(unsigned char *)n.data, (unsigned)n.len};
    gnutls_datum_t de = {(unsigned char *)e.data, (unsigned)e.len};
    assert_int_equal(gnutls_pubkey_init(&pub), 0);
    assert_int_equal(gnutls_pubkey_import_rsa_raw(pub, &dn, &de), 0);
    buf_init(&jwk, 4096);
    assert_int_equal(acme_jwk(pub, &jwk, err, sizeof(err)), 0);
    char want[1024];
    snprintf(want, sizeof(want),
             "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"%s\"}", rfc7638_n);
    assert_string_equal(jwk.data, want);
    assert_int_equal(acme_jwk_thumbprint(pub, thumb, err, sizeof(err)), 0);
    assert_string_equal(thumb, rfc7638_thumb);
    gnutls_pubkey_deinit(pub);
    buf_free(&n);
    buf_free(&e);
    buf_free(&jwk);
}

/* An EC key whose coordinates keep their leading zero bytes: x and y are
 * 32 bytes each in the JWK whatever their value (RFC 7518 §6.2.1.2). */
static void test_ec_jwk(void **state)
{
    (void)state;
    struct buf x, y, jwk;
    gnutls_pubkey_t pub;
    char err[256], want[256];
    decode(a3_x, &x);
    decode(a3_y, &y);
    gnutls_datum_t dx = {(unsigned char *)x.data, (unsigned)x.len};
    gnutls_datum_t dy = {(unsigned char *)y.data, (unsigned)y.len};
    assert_int_equal(gnutls_pubkey_init(&pub), 0);
    assert_int_equal(
        gnutls_pubkey_import_ecc_raw(pub, GNUTLS_ECC_CURVE_SECP256R1, &dx, &dy),
        0);
    buf_init(&jwk, 4096);
    assert_int_equal(acme_jwk(pub, &jwk, err, sizeof(err)), 0);
    snprintf(want, sizeof(want),
             "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
             a3_x, a3_y);
    assert_string_equal(jwk.data, want);
    gnutls_pubkey_deinit(pub);
    buf_free(&jwk);

    /* Generated keys: every JWK coordinate is 43 characters (32 bytes),
     * also for the one in 128 whose coordinate starts with a zero byte. */
    char err2[256];
    int short_seen = 0;
    for (int i = 0; i < 3000 && short_seen == 0; i++) {
        struct acme_key *k =
            acme_key_generate(ACME_KEY_ECDSA_P256, err2, sizeof(err2));
        gnutls_datum_t gx, gy;
        gnutls_ecc_curve_t c;
        assert_int_equal(
            gnutls_pubkey_export_ecc_raw2(acme_key_pubkey(k), &c, &gx, &gy,
                                          GNUTLS_EXPORT_FLAG_NO_LZ),
            0);
        short_seen = gx.size < 32 || gy.size < 32;
        buf_init(&jwk, 4096);
        assert_int_equal(acme_jwk(acme_key_pubkey(k), &jwk, err, sizeof(err)),
                         0);
        const char *px = strstr(jwk.data, "\"x\":\"") + 5;
        const char *py = strstr(jwk.data, "\"y\":\"") + 5;
        assert_int_equal(strcspn(px, "\""), 43);
        assert_int_equal(strcspn(py, "\""), 43);
        buf_free(&jwk);
        gnutls_free(gx.data);
        gnutls_free(gy.data);
        acme_key_free(k);
    }
    assert_true(short_seen);
    buf_free(&x);
    buf_free(&y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_generate_roundtrip),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_rfc7638),
        cmocka_unit_test(test_ec_jwk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
