/*
 * acme_tool: drives the ACME client (server/acme_client.c and the acme_
 * modules under it) for the end-to-end tests, against a real ACME server
 * (Pebble). It is a test program, built by CMake next to the tests and
 * never installed: one command per run, the result on stdout in a line a
 * test can match, the client's error (step, URL, what the CA said) on
 * stderr and exit 1. Answers go into the real challenge table
 * (acme_chal), which no listener serves here: the tests run Pebble with
 * PEBBLE_VA_ALWAYS_VALID, and the table is checked to be empty once an
 * issuance ends (the host's own tests validate for real).
 *
 * usage: acme_tool --directory URL [--ca-file FILE] --account-key FILE
 *                  [--email ADDR] [--agree-tos] [--eab-kid KID
 *                  --eab-hmac-key KEY] COMMAND ...
 *   account                 find or create the account: prints
 *                           "account created URL" or "account found URL"
 *   issue [--key-type ecdsa-p256|rsa-2048] [--challenges T1,T2]
 *         [--replaces CERT] --out PREFIX NAME...
 *                           order a certificate for the names; writes
 *                           PREFIX.crt (the chain) and PREFIX.key; prints
 *                           "issued N names: answers left L" (the
 *                           answers still in the challenge table)
 *   renewal-info CERT       prints "window START END retry-after N" (Unix
 *                           times) or "no renewalInfo"
 * The account key is read from FILE, or generated (ECDSA P-256) and
 * written there (mode 0600) when FILE does not exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "acme_chal.h"
#include "acme_client.h"
#include "acme_csr.h"
#include "acme_key.h"
#include "readfile.h"

#define FILE_MAX (1024 * 1024)
#define NAMES_MAX 100
#define TYPES_MAX 4

static void usage(void)
{
    fprintf(stderr, "usage: acme_tool --directory URL [--ca-file FILE] "
                    "--account-key FILE [--email ADDR] [--agree-tos] "
                    "[--eab-kid KID --eab-hmac-key KEY] account | issue "
                    "[--key-type T] [--challenges T1,T2] [--replaces CERT] "
                    "--out PREFIX NAME... | renewal-info CERT\n");
    exit(2);
}

static char *slurp(const char *path, size_t *len)
{
    char *data, err[512];
    if (readfile(path, FILE_MAX, &data, len, err, sizeof(err)) < 0) {
        fprintf(stderr, "acme_tool: %s\n", err);
        exit(1);
    }
    return data;
}

static void write_file(const char *path, const char *data, size_t len,
                       mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) != 0) {
        fprintf(stderr, "acme_tool: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static struct acme_key *account_key(const char *path)
{
    char err[256];
    size_t len;
    struct acme_key *k;
    if (access(path, F_OK) == 0) {
        char *pem = slurp(path, &len);
        k = acme_key_from_pem(pem, len, err, sizeof(err));
        free(pem);
    } else {
        struct buf pem;
        buf_init(&pem, FILE_MAX);
        k = acme_key_generate(ACME_KEY_ECDSA_P256, err, sizeof(err));
        if (k != NULL && acme_key_pem(k, &pem, err, sizeof(err)) == 0)
            write_file(path, pem.data, pem.len, 0600);
        buf_free(&pem);
    }
    if (k == NULL) {
        fprintf(stderr, "acme_tool: %s: %s\n", path, err);
        exit(1);
    }
    return k;
}

static int failed(const struct acme_err *e)
{
    fprintf(stderr, "acme_tool: %s\n", e->msg);
    if (e->kind != ACME_ERROR_NONE)
        fprintf(stderr, "acme_tool: error type %s\n", acme_error_name(e->kind));
    if (e->retry_after >= 0)
        fprintf(stderr, "acme_tool: retry after %lld\n",
                (long long)e->retry_after);
    return 1;
}

static int cmd_issue(struct acme_client *c, int argc, char **argv)
{
    const char *types[TYPES_MAX] = {"tls-alpn-01", "http-01"};
    size_t n_types = 2;
    const char *out = NULL, *replaces_cert = NULL;
    enum acme_key_type kt = ACME_KEY_ECDSA_P256;
    char *list = NULL, err[256], path[4096];
    int i;
    for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--key-type") == 0) {
            i++;
            if (strcmp(argv[i], "rsa-2048") == 0)
                kt = ACME_KEY_RSA_2048;
            else if (strcmp(argv[i], "ecdsa-p256") != 0)
                usage();
        } else if (strcmp(argv[i], "--challenges") == 0) {
            list = argv[++i];
            n_types = 0;
            for (char *save = NULL, *t = strtok_r(list, ",", &save);
                 t != NULL && n_types < TYPES_MAX;
                 t = strtok_r(NULL, ",", &save))
                types[n_types++] = t;
        } else if (strcmp(argv[i], "--replaces") == 0) {
            replaces_cert = argv[++i];
        } else if (strcmp(argv[i], "--out") == 0) {
            out = argv[++i];
        } else {
            usage();
        }
    }
    if (out == NULL || i >= argc || argc - i > NAMES_MAX)
        usage();
    struct buf id, chain, keypem;
    struct acme_err e;
    buf_init(&id, 4096);
    buf_init(&chain, ACME_CHAIN_MAX);
    buf_init(&keypem, FILE_MAX);
    if (replaces_cert != NULL) {
        size_t len;
        char *pem = slurp(replaces_cert, &len);
        if (acme_cert_id(pem, len, &id, err, sizeof(err)) < 0 ||
            buf_append(&id, "", 0) < 0) {
            fprintf(stderr, "acme_tool: %s: %s\n", replaces_cert, err);
            return 1;
        }
        free(pem);
    }
    struct acme_key *ck = acme_key_generate(kt, err, sizeof(err));
    struct acme_chal *chal = acme_chal_new();
    if (ck == NULL || chal == NULL) {
        fprintf(stderr, "acme_tool: %s\n", err);
        return 1;
    }
    struct acme_issue_req req = {(const char *const *)argv + i,
                                 (size_t)(argc - i),
                                 types,
                                 n_types,
                                 replaces_cert != NULL ? id.data : NULL,
                                 ck,
                                 chal};
    int rc = acme_client_issue(c, &req, &chain, &e);
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s.crt", out);
        write_file(path, chain.data, chain.len, 0644);
        if (acme_key_pem(ck, &keypem, err, sizeof(err)) < 0) {
            fprintf(stderr, "acme_tool: %s\n", err);
            return 1;
        }
        snprintf(path, sizeof(path), "%s.key", out);
        write_file(path, keypem.data, keypem.len, 0600);
        printf("issued %d names: answers left %zu\n", argc - i,
               acme_chal_pending(chal));
    } else {
        failed(&e);
        fprintf(stderr, "acme_tool: answers left %zu\n",
                acme_chal_pending(chal));
    }
    /* Every answer published is withdrawn, whatever happened. */
    if (acme_chal_pending(chal) != 0)
        rc = -1;
    acme_chal_free(chal);
    acme_key_free(ck);
    buf_free(&id);
    buf_free(&chain);
    buf_free(&keypem);
    return rc == 0 ? 0 : 1;
}

static int cmd_renewal_info(struct acme_client *c, const char *cert)
{
    size_t len;
    char *pem = slurp(cert, &len);
    struct acme_renewal *r = NULL;
    struct acme_err e;
    int64_t retry;
    int rc = acme_client_renewal_info(c, pem, len, &r, &retry, &e);
    free(pem);
    if (rc < 0)
        return failed(&e);
    if (rc == 1)
        printf("no renewalInfo\n");
    else
        printf("window %lld %lld retry-after %lld\n", (long long)r->start,
               (long long)r->end, (long long)retry);
    acme_renewal_free(r);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *ca_file = NULL, *key_path = NULL;
    struct acme_account_req req = {NULL, false, NULL, NULL};
    struct acme_err e;
    int i, rc = 1;
    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--agree-tos") == 0) {
            req.agree_tos = true;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(argv[i - 1], "--directory") == 0)
            dir = v;
        else if (strcmp(argv[i - 1], "--ca-file") == 0)
            ca_file = v;
        else if (strcmp(argv[i - 1], "--account-key") == 0)
            key_path = v;
        else if (strcmp(argv[i - 1], "--email") == 0)
            req.email = v;
        else if (strcmp(argv[i - 1], "--eab-kid") == 0)
            req.eab_kid = v;
        else if (strcmp(argv[i - 1], "--eab-hmac-key") == 0)
            req.eab_hmac_key = v;
        else
            usage();
    }
    if (dir == NULL || key_path == NULL || i >= argc ||
        (req.eab_kid == NULL) != (req.eab_hmac_key == NULL))
        usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct acme_key *key = account_key(key_path);
    struct acme_client *c = acme_client_new(dir, ca_file, &e);
    bool created;
    if (c == NULL) {
        rc = failed(&e);
    } else if (strcmp(argv[i], "renewal-info") == 0) {
        rc = i + 1 < argc ? cmd_renewal_info(c, argv[i + 1]) : 2;
    } else if (acme_client_account(c, key, &req, &created, &e) < 0) {
        rc = failed(&e);
    } else if (strcmp(argv[i], "account") == 0) {
        printf("account %s %s\n", created ? "created" : "found",
               acme_client_account_url(c));
        rc = 0;
    } else if (strcmp(argv[i], "issue") == 0) {
        rc = cmd_issue(c, argc - i - 1, argv + i + 1);
    } else {
        usage();
    }
    if (c != NULL)
        fprintf(stderr, "acme_tool: badNonce retries %lu\n",
                acme_client_bad_nonces(c));
    acme_client_free(c);
    acme_key_free(key);
    curl_global_cleanup();
    return rc;
}
