/*
 * test_acme_jws: ACME's signed requests (server/acme_jws.c), checked by
 * taking every JWS apart and verifying it with GnuTLS: ES256 with RFC 7515
 * A.3's key (whose own example signature verifies through the same r||s
 * reading), the fixed 64-byte r||s also when r or s starts with zero
 * bytes, RS256, jwk versus kid headers and POST-as-GET's empty payload,
 * the EAB's HMAC, and the key authorization of RFC 8555 §8.3's example
 * with its SHA-256 digest (RFC 8737's acmeIdentifier value).
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
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <jansson.h>

#include "acme_jws.h"
#include "acme_key.h"

/* RFC 7515 Appendix A.3: the key, the signing input and a signature. */
static const char a3_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char a3_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char a3_d[] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
static const char a3_input[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char a3_sig[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
    "pmWQxfKTUJqPP3-Kg6NU1Q";

static void decode(const char *s, size_t n, struct buf *b)
{
    assert_int_equal(acme_b64url_decode(s, n, 1 << 16, b), 0);
}

/* verify_raw checks a JWS signature sig[0..n) over input with pub. */
static int verify_raw(gnutls_pubkey_t pub, const char *input,
                      const unsigned char *sig, size_t n)
{
    gnutls_datum_t data = {(unsigned char *)input, (unsigned)strlen(input)};
    gnutls_datum_t der = {NULL, 0};
    int rc;
    if (gnutls_pubkey_get_pk_algorithm(pub, NULL) == GNUTLS_PK_RSA) {
        gnutls_datum_t s = {(unsigned char *)sig, (unsigned)n};
        return gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_RSA_SHA256, 0, &data,
                                          &s);
    }
    assert_int_equal(n, 64);
    gnutls_datum_t r = {(unsigned char *)sig, 32};
    gnutls_datum_t s = {(unsigned char *)sig + 32, 32};
    assert_int_equal(gnutls_encode_rs_value(&der, &r, &s), 0);
    rc = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &data,
                                    &der);
    gnutls_free(der.data);
    return rc;
}

/* a3_key builds RFC 7515 A.3's key and hands it over as an acme_key,
 * through the PEM path the state directory uses. */
static struct acme_key *a3_key(void)
{
    struct buf x, y, d;
    gnutls_x509_privkey_t xk;
    gnutls_datum_t pem;
    char err[256];
    decode(a3_x, strlen(a3_x), &x);
    decode(a3_y, strlen(a3_y), &y);
    decode(a3_d, strlen(a3_d), &d);
    gnutls_datum_t dx = {(unsigned char *)x.data, (unsigned)x.len};
    gnutls_datum_t dy = {(unsigned char *)y.data, (unsigned)y.len};
    gnutls_datum_t dd = {(unsigned char *)d.data, (unsigned)d.len};
    assert_int_equal(gnutls_x509_privkey_init(&xk), 0);
    assert_int_equal(gnutls_x509_privkey_import_ecc_raw(
                         xk, GNUTLS_ECC_CURVE_SECP256R1, &dx, &dy, &dd),
                     0);
    assert_int_equal(gnutls_x509_privkey_export2_pkcs8(xk, GNUTLS_X509_FMT_PEM,
                                                       NULL, GNUTLS_PKCS_PLAIN,
                                                       &pem),
                     0);
    struct acme_key *k =
        acme_key_from_pem((char *)pem.data, pem.size, err, sizeof(err));
    assert_non_null(k);
    gnutls_free(pem.data);
    gnutls_x509_privkey_deinit(xk);
    buf_free(&x);
    buf_free(&y);
    buf_free(&d);
    return k;
}

/* The parts of a flattened JWS, decoded. */
struct parts {
    json_t *protected_hdr;
    struct buf payload, sig;
    char input[8192]; /* the signing input */
};

static void split(const char *jws, struct parts *p)
{
    json_error_t e;
    json_t *o = json_loads(jws, 0, &e);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 3);
    const char *ph = json_string_value(json_object_get(o, "protected"));
    const char *pl = json_string_value(json_object_get(o, "payload"));
    const char *sg = json_string_value(json_object_get(o, "signature"));
    assert_non_null(ph);
    assert_non_null(pl);
    assert_non_null(sg);
    struct buf h;
    decode(ph, strlen(ph), &h);
    p->protected_hdr = json_loadb(h.data, h.len, 0, &e);
    assert_non_null(p->protected_hdr);
    decode(pl, strlen(pl), &p->payload);
    decode(sg, strlen(sg), &p->sig);
    snprintf(p->input, sizeof(p->input), "%s.%s", ph, pl);
    buf_free(&h);
    json_decref(o);
}

static void parts_free(struct parts *p)
{
    json_decref(p->protected_hdr);
    buf_free(&p->payload);
    buf_free(&p->sig);
}

/* verified checks the JWS in p with k's public key (0: good). */
static int verified(const struct acme_key *k, const struct parts *p)
{
    return verify_raw(acme_key_pubkey(k), p->input,
                      (const unsigned char *)p->sig.data, p->sig.len);
}

static const char *hdr(const struct parts *p, const char *name)
{
    return json_string_value(json_object_get(p->protected_hdr, name));
}

static void test_rfc7515_a3(void **state)
{
    (void)state;
    struct acme_key *k = a3_key();
    struct buf sig;
    /* The RFC's own signature verifies with our reading of r||s. */
    decode(a3_sig, strlen(a3_sig), &sig);
    assert_int_equal(verify_raw(acme_key_pubkey(k), a3_input,
                                (unsigned char *)sig.data, sig.len),
                     0);
    /* One bit off does not. */
    sig.data[10] ^= 1;
    assert_true(verify_raw(acme_key_pubkey(k), a3_input,
                           (unsigned char *)sig.data, sig.len) < 0);
    buf_free(&sig);

    /* A request signed with that key: header fields, the JWK of A.3. */
    char err[256];
    struct buf out;
    struct parts p;
    buf_init(&out, 1 << 16);
    const char payload[] = "{\"termsOfServiceAgreed\":true}";
    assert_int_equal(acme_jws_sign(k, NULL, "nonce-1",
                                   "https://ca.test/acme/new-acct", payload,
                                   strlen(payload), &out, err, sizeof(err)),
                     0);
    split(out.data, &p);
    assert_string_equal(hdr(&p, "alg"), "ES256");
    assert_string_equal(hdr(&p, "nonce"), "nonce-1");
    assert_string_equal(hdr(&p, "url"), "https://ca.test/acme/new-acct");
    assert_null(json_object_get(p.protected_hdr, "kid"));
    json_t *jwk = json_object_get(p.protected_hdr, "jwk");
    assert_string_equal(json_string_value(json_object_get(jwk, "x")), a3_x);
    assert_string_equal(json_string_value(json_object_get(jwk, "y")), a3_y);
    assert_int_equal(p.payload.len, strlen(payload));
    assert_memory_equal(p.payload.data, payload, strlen(payload));
    assert_int_equal(verified(k, &p), 0);
    parts_free(&p);
    buf_free(&out);
    acme_key_free(k);
}

/* Signatures whose r or s is shorter than 32 bytes (one in 128) still
 * come out as 64 bytes that verify. */
static void test_es256_fixed_size(void **state)
{
    (void)state;
    char err[256];
    struct acme_key *k =
        acme_key_generate(ACME_KEY_ECDSA_P256, err, sizeof(err));
    int short_seen = 0;
    for (int i = 0; i < 4000 && short_seen < 2; i++) {
        struct buf out;
        struct parts p;
        buf_init(&out, 1 << 16);
        assert_int_equal(acme_jws_sign(k, "https://ca.test/acct/1", "n",
                                       "https://ca.test/x", "{}", 2, &out, err,
                                       sizeof(err)),
                         0);
        split(out.data, &p);
        assert_int_equal(p.sig.len, 64);
        if (p.sig.data[0] == 0 || p.sig.data[32] == 0)
            short_seen++;
        assert_int_equal(verified(k, &p), 0);
        parts_free(&p);
        buf_free(&out);
    }
    assert_int_equal(short_seen, 2);
    acme_key_free(k);
}

/* The DER reading itself, table-driven: short, long-with-sign-byte and
 * oversized integers. */
static void test_es256_raw(void **state)
{
    (void)state;
    unsigned char r1[1] = {0x05}, s33[33], big[33], out[64];
    memset(s33, 0xa5, sizeof(s33));
    s33[0] = 0x00; /* the sign byte DER adds before a high bit */
    memset(big, 0x11, sizeof(big));
    const struct {
        unsigned char *r;
        unsigned rn;
        unsigned char *s;
        unsigned sn;
        int rc;
    } t[] = {
        {r1, 1, s33, 33, 0},
        {s33, 33, r1, 1, 0},
        {big, 33, r1, 1, -1},
        {r1, 1, big, 33, -1},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        gnutls_datum_t r = {t[i].r, t[i].rn}, s = {t[i].s, t[i].sn};
        gnutls_datum_t der;
        assert_int_equal(gnutls_encode_rs_value(&der, &r, &s), 0);
        assert_int_equal(acme_jws_es256_raw(&der, out), t[i].rc);
        if (t[i].rc == 0) {
            unsigned char want[64] = {0};
            const gnutls_datum_t *h[2] = {&r, &s};
            for (int j = 0; j < 2; j++) {
                const unsigned char *v = h[j]->data;
                unsigned n = h[j]->size;
                if (n == 33) {
                    v++;
                    n--;
                }
                memcpy(want + 32 * j + 32 - n, v, n);
            }
            assert_memory_equal(out, want, 64);
        }
        gnutls_free(der.data);
    }
    gnutls_datum_t junk = {(unsigned char *)"\x30\x03\x02\x01", 4};
    assert_int_equal(acme_jws_es256_raw(&junk, out), -1);
}

static void test_rs256_kid_post_as_get(void **state)
{
    (void)state;
    char err[256];
    struct acme_key *k = acme_key_generate(ACME_KEY_RSA_2048, err, sizeof(err));
    struct buf out;
    struct parts p;
    buf_init(&out, 1 << 16);
    assert_int_equal(acme_jws_sign(k, "https://ca.test/acct/7", "n2",
                                   "https://ca.test/order/1", NULL, 0, &out,
                                   err, sizeof(err)),
                     0);
    /* POST-as-GET: the payload is the empty string, not "{}". */
    assert_non_null(strstr(out.data, "\"payload\":\"\""));
    split(out.data, &p);
    assert_string_equal(hdr(&p, "alg"), "RS256");
    assert_string_equal(hdr(&p, "kid"), "https://ca.test/acct/7");
    assert_null(json_object_get(p.protected_hdr, "jwk"));
    assert_int_equal(p.payload.len, 0);
    assert_int_equal(p.sig.len, 256);
    assert_int_equal(verified(k, &p), 0);
    parts_free(&p);
    buf_free(&out);
    acme_key_free(k);
}

static void test_eab(void **state)
{
    (void)state;
    char err[256];
    struct acme_key *k = a3_key();
    /* A MAC key in base64url, as CAs hand them out. */
    const char *mac_key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3"
                          "MUAsUDkMTQ12W";
    struct buf out, key;
    struct parts p;
    buf_init(&out, 1 << 16);
    assert_int_equal(acme_jws_eab(k, "kid-1", mac_key,
                                  "https://ca.test/new-acct", &out, err,
                                  sizeof(err)),
                     0);
    split(out.data, &p);
    assert_string_equal(hdr(&p, "alg"), "HS256");
    assert_string_equal(hdr(&p, "kid"), "kid-1");
    assert_string_equal(hdr(&p, "url"), "https://ca.test/new-acct");
    assert_null(json_object_get(p.protected_hdr, "nonce"));
    /* The payload is the account's JWK ... */
    struct buf jwk;
    buf_init(&jwk, 4096);
    assert_int_equal(acme_jwk(acme_key_pubkey(k), &jwk, err, sizeof(err)), 0);
    assert_int_equal(p.payload.len, jwk.len);
    assert_memory_equal(p.payload.data, jwk.data, jwk.len);
    /* ... and the MAC is HMAC-SHA256 with the decoded key. */
    unsigned char mac[32];
    decode(mac_key, strlen(mac_key), &key);
    assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, key.data, key.len,
                                      p.input, strlen(p.input), mac),
                     0);
    assert_int_equal(p.sig.len, 32);
    assert_memory_equal(p.sig.data, mac, 32);
    parts_free(&p);
    buf_free(&out);
    buf_free(&jwk);
    buf_free(&key);

    /* A key that is not base64url is named as the config's field. */
    buf_init(&out, 1 << 16);
    assert_int_equal(acme_jws_eab(k, "kid-1", "not base64!", "https://x/", &out,
                                  err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "eab.hmac_key"));
    buf_free(&out);
    acme_key_free(k);
}

static void test_keyauth(void **state)
{
    (void)state;
    /* RFC 8555 §8.3's example: token, thumbprint, and the body served. */
    static const char token[] = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
    static const char thumb[] = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
    struct buf ka;
    buf_init(&ka, 256);
    assert_int_equal(acme_keyauth(token, thumb, &ka), 0);
    assert_string_equal(ka.data, "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0."
                                 "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI");
    /* Its SHA-256 (computed with sha256sum): the acmeIdentifier value of
     * RFC 8737 §3 and, base64url, the DNS-01 TXT value. */
    static const unsigned char want[32] = {
        0x2c, 0xfb, 0x08, 0xc1, 0x3a, 0x3b, 0xa3, 0xc0, 0x68, 0x1b, 0x4f,
        0xaf, 0x8c, 0x2c, 0x86, 0x40, 0x60, 0x56, 0x49, 0x52, 0x0f, 0xc4,
        0x8f, 0xa2, 0xfd, 0x7d, 0xf7, 0xe9, 0xe5, 0x0e, 0x41, 0x9a};
    unsigned char d[32];
    assert_int_equal(acme_keyauth_digest(ka.data, d), 0);
    assert_memory_equal(d, want, 32);
    buf_free(&ka);
    /* Tokens outside base64url are refused: a dot or a slash would change
     * what the answer means. */
    static const char *const bad[] = {"", "a.b", "../x", "a b", "a+b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_init(&ka, 256);
        assert_int_equal(acme_keyauth(bad[i], thumb, &ka), -1);
        buf_free(&ka);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a3),
        cmocka_unit_test(test_es256_fixed_size),
        cmocka_unit_test(test_es256_raw),
        cmocka_unit_test(test_rs256_kid_post_as_get),
        cmocka_unit_test(test_eab),
        cmocka_unit_test(test_keyauth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
