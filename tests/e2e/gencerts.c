/*
 * gencerts: issue many test server certificates at once, for the
 * end-to-end tests that need thousands of domains (test_domains.sh
 * compiles it with the system's cc against GnuTLS). certtool costs a
 * process and a template per certificate (about 20 ms each here); this
 * signs them all in one process with one shared leaf key. It is a test
 * fixture generator only: never linked into the server, no error
 * recovery beyond "say what failed and exit 1".
 *
 * usage: gencerts CA_CERT CA_KEY LEAF_KEY NOT_BEFORE NOT_AFTER SERIAL
 *   NOT_BEFORE, NOT_AFTER: seconds relative to now (negative = past);
 *   SERIAL: the serial number of the first certificate (then +1 each).
 * Reads lines "OUT NAME [NAME...]" from stdin and writes OUT.crt (leaf
 * then CA) and OUT.key (a copy of LEAF_KEY) for each; the first NAME is
 * also the subject's CN, every NAME is a DNS subjectAltName.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define LINE_MAX_LEN 4096
#define NAMES_MAX 64

static void die(const char *what, int rc)
{
    fprintf(stderr, "gencerts: %s: %s\n", what,
            rc != 0 ? gnutls_strerror(rc) : "failed");
    exit(1);
}

static long long number(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0') {
        fprintf(stderr, "gencerts: not a number: %s\n", s);
        exit(1);
    }
    return v;
}

static void write_file(const char *path, const void *a, size_t alen,
                       const void *b, size_t blen)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(a, 1, alen, f) != alen ||
        (blen > 0 && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    gnutls_datum_t ca_pem, cakey_pem, key_pem, out;
    gnutls_x509_crt_t ca;
    gnutls_x509_privkey_t cakey, key;
    char line[LINE_MAX_LEN], path[LINE_MAX_LEN + 8], dn[LINE_MAX_LEN + 8];
    unsigned char kid[64], akid[64];
    size_t kid_len, akid_len;
    int rc;

    if (argc != 7) {
        fprintf(stderr, "usage: gencerts CA_CERT CA_KEY LEAF_KEY NOT_BEFORE "
                        "NOT_AFTER SERIAL < list\n");
        return 2;
    }
    time_t now = time(NULL);
    time_t not_before = now + (time_t)number(argv[4]);
    time_t not_after = now + (time_t)number(argv[5]);
    unsigned long long serial = (unsigned long long)number(argv[6]);

    if ((rc = gnutls_load_file(argv[1], &ca_pem)) < 0)
        die(argv[1], rc);
    if ((rc = gnutls_load_file(argv[2], &cakey_pem)) < 0)
        die(argv[2], rc);
    if ((rc = gnutls_load_file(argv[3], &key_pem)) < 0)
        die(argv[3], rc);
    if ((rc = gnutls_x509_crt_init(&ca)) < 0 ||
        (rc = gnutls_x509_crt_import(ca, &ca_pem, GNUTLS_X509_FMT_PEM)) < 0)
        die("CA certificate", rc);
    if ((rc = gnutls_x509_privkey_init(&cakey)) < 0 ||
        (rc = gnutls_x509_privkey_import2(cakey, &cakey_pem,
                                          GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
        die("CA key", rc);
    if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
        (rc = gnutls_x509_privkey_import2(key, &key_pem, GNUTLS_X509_FMT_PEM,
                                          NULL, 0)) < 0)
        die("leaf key", rc);
    kid_len = sizeof(kid);
    if ((rc = gnutls_x509_privkey_get_key_id(key, 0, kid, &kid_len)) < 0)
        die("leaf key id", rc);
    akid_len = sizeof(akid);
    if ((rc = gnutls_x509_crt_get_subject_key_id(ca, akid, &akid_len, NULL)) <
        0)
        die("CA key id", rc);

    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *names[NAMES_MAX], *save = NULL, *tok;
        size_t n = 0;
        gnutls_x509_crt_t crt;
        unsigned char ser[8];

        line[strcspn(line, "\r\n")] = '\0';
        char *outp = strtok_r(line, " \t", &save);
        if (outp == NULL)
            continue;
        while (n < NAMES_MAX && (tok = strtok_r(NULL, " \t", &save)) != NULL)
            names[n++] = tok;
        if (n == 0) {
            fprintf(stderr, "gencerts: no name for %s\n", outp);
            return 1;
        }
        for (int i = 0; i < 8; i++)
            ser[i] = (unsigned char)(serial >> (56 - 8 * i));
        serial++;
        snprintf(dn, sizeof(dn), "CN=%s", names[0]);
        if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
            (rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
            (rc = gnutls_x509_crt_set_serial(crt, ser, sizeof(ser))) < 0 ||
            (rc = gnutls_x509_crt_set_activation_time(crt, not_before)) < 0 ||
            (rc = gnutls_x509_crt_set_expiration_time(crt, not_after)) < 0 ||
            (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
            (rc = gnutls_x509_crt_set_dn(crt, dn, NULL)) < 0 ||
            (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
            (rc = gnutls_x509_crt_set_key_usage(
                 crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
            (rc = gnutls_x509_crt_set_key_purpose_oid(
                 crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
            (rc = gnutls_x509_crt_set_subject_key_id(crt, kid, kid_len)) < 0 ||
            (rc = gnutls_x509_crt_set_authority_key_id(crt, akid, akid_len)) <
                0)
            die(names[0], rc);
        for (size_t i = 0; i < n; i++)
            if ((rc = gnutls_x509_crt_set_subject_alt_name(
                     crt, GNUTLS_SAN_DNSNAME, names[i],
                     (unsigned)strlen(names[i]), GNUTLS_FSAN_APPEND)) < 0)
                die(names[i], rc);
        if ((rc = gnutls_x509_crt_sign2(crt, ca, cakey, GNUTLS_DIG_SHA256, 0)) <
                0 ||
            (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out)) < 0)
            die(names[0], rc);
        snprintf(path, sizeof(path), "%s.crt", outp);
        write_file(path, out.data, out.size, ca_pem.data, ca_pem.size);
        snprintf(path, sizeof(path), "%s.key", outp);
        write_file(path, key_pem.data, key_pem.size, NULL, 0);
        gnutls_free(out.data);
        gnutls_x509_crt_deinit(crt);
    }
    gnutls_x509_crt_deinit(ca);
    gnutls_x509_privkey_deinit(cakey);
    gnutls_x509_privkey_deinit(key);
    gnutls_free(ca_pem.data);
    gnutls_free(cakey_pem.data);
    gnutls_free(key_pem.data);
    return 0;
}
