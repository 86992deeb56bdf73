/*
 * acme_csr: the CSR of an order and the ARI certificate identifier (see
 * acme_csr.h). GnuTLS builds, signs and parses; this file chooses the
 * fields. No I/O, no globals.
 */
#include "acme_csr.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/x509.h>

/* RFC 5280's ub-common-name. */
#define CN_MAX 64
/* A serial number is at most 20 octets (RFC 5280 §4.1.2.2); a key
 * identifier is usually 20; both get room for odd CAs. */
#define ID_PART_MAX 64

int acme_csr(const struct acme_key *key, const char *const *names, size_t n,
             struct buf *out, char *err, size_t errlen)
{
    gnutls_x509_crq_t crq = NULL;
    gnutls_datum_t der = {NULL, 0};
    const char *step = "create the CSR";
    int rc;
    if (n == 0) {
        snprintf(err, errlen, "%s", "a CSR needs at least one name");
        return -1;
    }
    if ((rc = gnutls_x509_crq_init(&crq)) < 0)
        goto fail;
    step = "set the CSR's version";
    if ((rc = gnutls_x509_crq_set_version(crq, 1)) < 0)
        goto fail;
    if (strlen(names[0]) <= CN_MAX) {
        step = "set the CSR's common name";
        rc = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0,
                                           names[0], strlen(names[0]));
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        step = "add a name to the CSR";
        rc = gnutls_x509_crq_set_subject_alt_name(
            crq, GNUTLS_SAN_DNSNAME, names[i], (unsigned)strlen(names[i]),
            GNUTLS_FSAN_APPEND);
        if (rc < 0)
            goto fail;
    }
    step = "put the key into the CSR";
    if ((rc = gnutls_x509_crq_set_pubkey(crq, acme_key_pubkey(key))) < 0)
        goto fail;
    step = "sign the CSR";
    if ((rc = gnutls_x509_crq_privkey_sign(crq, acme_key_privkey(key),
                                           GNUTLS_DIG_SHA256, 0)) < 0)
        goto fail;
    step = "write the CSR";
    if ((rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &der)) < 0)
        goto fail;
    rc = acme_b64url(der.data, der.size, out);
    gnutls_free(der.data);
    gnutls_x509_crq_deinit(crq);
    if (rc < 0)
        snprintf(err, errlen, "%s", "out of memory encoding the CSR");
    return rc;
fail:
    snprintf(err, errlen, "cannot %s for %s: %s", step, names[0],
             gnutls_strerror(rc));
    gnutls_x509_crq_deinit(crq);
    return -1;
}

int acme_cert_id(const char *pem, size_t len, struct buf *out, char *err,
                 size_t errlen)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
    unsigned char kid[ID_PART_MAX], serial[ID_PART_MAX];
    size_t kid_len = sizeof(kid), serial_len = sizeof(serial);
    unsigned critical = 0;
    int rc = -1, grc;
    if (len > UINT32_MAX) {
        snprintf(err, errlen, "%s", "the certificate file is too large");
        return -1;
    }
    if ((grc = gnutls_x509_crt_init(&crt)) < 0 ||
        (grc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM)) < 0) {
        snprintf(err, errlen, "expected a PEM certificate: %s",
                 gnutls_strerror(grc));
        goto out;
    }
    if ((grc = gnutls_x509_crt_get_authority_key_id(crt, kid, &kid_len,
                                                    &critical)) < 0) {
        snprintf(err, errlen,
                 "the certificate has no authority key identifier (ARI "
                 "needs one): %s",
                 gnutls_strerror(grc));
        goto out;
    }
    /* GnuTLS gives the serial's content octets as encoded, including a
     * leading zero that keeps it positive: exactly what RFC 9773 wants. */
    if ((grc = gnutls_x509_crt_get_serial(crt, serial, &serial_len)) < 0) {
        snprintf(err, errlen, "cannot read the serial number: %s",
                 gnutls_strerror(grc));
        goto out;
    }
    if (acme_b64url(kid, kid_len, out) < 0 || buf_append(out, ".", 1) < 0 ||
        acme_b64url(serial, serial_len, out) < 0) {
        snprintf(err, errlen, "%s", "out of memory");
        goto out;
    }
    rc = 0;
out:
    gnutls_x509_crt_deinit(crt);
    return rc;
}
