/*
 * test_certs: unit tests for the certs module. The test material (a test
 * CA and certificates of every shape the loader must accept or reject) is
 * generated at run time with certtool into a temporary directory, which is
 * removed at the end. Also runs real TLS handshakes over a socketpair with
 * certs_tls_priority and the loaded credentials, chosen by SNI. One thread
 * plus one short-lived server thread per handshake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "certs.h"

static char tmp[256]; /* the temporary directory */
static char dir[300]; /* tmp/certs, the directory under test */
static char cafile[300];

/* sh runs a shell command built from fmt and fails the test on non-zero. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* key generates a private key of the given certtool type at tmp/name. */
static void key(const char *name, const char *type)
{
    sh("certtool --generate-privkey --key-type %s %s --outfile '%s/%s' "
       ">/dev/null 2>&1",
       type, strcmp(type, "rsa") == 0 ? "--bits 2048" : "", tmp, name);
}

/*
 * cert issues tmp/<out> for tmp/<keyname> from the test CA, with the given
 * certtool template lines.
 */
static void cert(const char *out, const char *keyname, const char *tmpl)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/tmpl", tmp);
    write_file(path, tmpl);
    sh("certtool --generate-certificate --load-privkey '%s/%s' "
       "--load-ca-certificate '%s/ca.crt' --load-ca-privkey '%s/ca.key' "
       "--template '%s' --outfile '%s/%s' >/dev/null 2>&1",
       tmp, keyname, tmp, tmp, path, tmp, out);
}

#define SERVER_TMPL "tls_www_server\nsigning_key\nencryption_key\n"

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/test_certs.XXXXXX",
             base != NULL ? base : "/tmp");
    if (mkdtemp(tmp) == NULL)
        return -1;
    snprintf(dir, sizeof(dir), "%s/certs", tmp);
    snprintf(cafile, sizeof(cafile), "%s/ca.crt", tmp);
    sh("mkdir -p '%s/certbot.example' '%s/live/liveone' '%s/archive' "
       "'%s/empty'",
       dir, dir, dir, tmp);

    char path[400];
    key("ca.key", "ecdsa");
    snprintf(path, sizeof(path), "%s/tmpl", tmp);
    write_file(path, "cn = mta-sts-host test CA\nca\ncert_signing_key\n"
                     "expiration_days = 30\n");
    sh("certtool --generate-self-signed --load-privkey '%s/ca.key' "
       "--template '%s' --outfile '%s/ca.crt' >/dev/null 2>&1",
       tmp, path, tmp);

    /* Keys: traditional EC, PKCS#8 EC, RSA, Ed25519 (always PKCS#8). */
    key("ec.key", "ecdsa");
    sh("certtool --generate-privkey --key-type ecdsa --pkcs8 --password '' "
       "--outfile '%s/ec8.key' >/dev/null 2>&1",
       tmp);
    key("rsa.key", "rsa");
    key("ed.key", "ed25519");
    key("other.key", "ecdsa");

    cert("exact.crt", "ec8.key",
         "cn = mta-sts.example.com\ndns_name = mta-sts.example.com\n"
         "dns_name = www.example.com\nexpiration_days = 30\n" SERVER_TMPL);
    cert("wild.crt", "ec.key",
         "dns_name = *.example.net\nexpiration_days = 30\n" SERVER_TMPL);
    cert("exactnet.crt", "ec.key",
         "dns_name = mta-sts.example.net\nexpiration_days = 30\n" SERVER_TMPL);
    cert("rsa.crt", "rsa.key",
         "dns_name = MTA-STS.Example.ORG\ndns_name = www.example.org\n"
         "expiration_days = 30\n" SERVER_TMPL);
    cert("cnonly.crt", "ec.key",
         "cn = cn-only.example.com\nexpiration_days = 30\n" SERVER_TMPL);
    cert("ed.crt", "ed.key",
         "dns_name = mta-sts.example.info\nexpiration_days = 30\n"
         "tls_www_server\nsigning_key\n");
    cert("certbot.crt", "ec.key",
         "dns_name = mta-sts.example.dev\nexpiration_days = 30\n" SERVER_TMPL);
    cert("live.crt", "ec.key",
         "dns_name = mta-sts.live.test\nexpiration_days = 30\n" SERVER_TMPL);
    cert("soon.crt", "ec.key",
         "dns_name = mta-sts.soon.test\nexpiration_days = 5\n" SERVER_TMPL);
    cert("dup.crt", "ec.key",
         "dns_name = www.example.com\nexpiration_days = 60\n" SERVER_TMPL);
    cert("expired.crt", "ec.key",
         "dns_name = mta-sts.expired.test\n"
         "activation_date = \"2020-01-01 00:00:00\"\n"
         "expiration_date = \"2021-01-01 00:00:00\"\n" SERVER_TMPL);
    cert("future.crt", "ec.key",
         "dns_name = mta-sts.future.test\n"
         "activation_date = \"2099-01-01 00:00:00\"\n"
         "expiration_date = \"2099-12-31 00:00:00\"\n" SERVER_TMPL);

    /* Lay out the directory under test; names fix the load order. */
    const char *T = tmp, *D = dir;
    sh("cat '%s/exact.crt' '%s/ca.crt' > '%s/a-exact.crt' && "
       "cp '%s/ec8.key' '%s/a-exact.key'",
       T, T, D, T, D);
    sh("cp '%s/wild.crt' '%s/b-wild.crt' && cp '%s/ec.key' '%s/b-wild.key'", T,
       D, T, D);
    sh("cp '%s/rsa.crt' '%s/c-rsa.crt' && cp '%s/rsa.key' '%s/c-rsa.key'", T, D,
       T, D);
    sh("cp '%s/ca.crt' '%s/ca-bundle.pem'", T, D);
    sh("cat '%s/certbot.crt' '%s/ca.crt' > '%s/certbot.example/fullchain.pem'"
       " && cp '%s/ec.key' '%s/certbot.example/privkey.pem'",
       T, T, D, T, D);
    sh("cp '%s/cnonly.crt' '%s/cnonly.crt' && cp '%s/ec.key' '%s/cnonly.key'",
       T, D, T, D);
    sh("cat '%s/ed.crt' '%s/ca.crt' '%s/ed.key' > '%s/combined.pem'", T, T, T,
       D);
    sh("cp '%s/expired.crt' '%s/expired.crt' && "
       "cp '%s/ec.key' '%s/expired.key'",
       T, D, T, D);
    sh("cp '%s/future.crt' '%s/future.crt' && cp '%s/ec.key' '%s/future.key'",
       T, D, T, D);
    sh("(printf -- '-----BEGIN CERTIFICATE-----\\nnot base64 at all!\\n"
       "-----END CERTIFICATE-----\\n'; cat '%s/ec.key') > '%s/garbage.pem'",
       T, D);
    sh("echo 'hello, not PEM' > '%s/junk.pem'", D);
    sh("cp '%s/live.crt' '%s/live/liveone/fullchain.pem' && "
       "cp '%s/ec.key' '%s/live/liveone/privkey.pem' && "
       "echo certbot > '%s/live/README'",
       T, D, T, D, D);
    sh("cp '%s/soon.crt' '%s/lone.crt'", T, D);
    sh("cp '%s/exactnet.crt' '%s/mismatch.crt' && "
       "cp '%s/other.key' '%s/mismatch.key'",
       T, D, T, D);
    sh("cat '%s/ca.crt' '%s/exactnet.crt' '%s/ec.key' > '%s/misorder.pem'", T,
       T, T, D);
    sh("cp '%s/other.key' '%s/orphan.key'", T, D);
    sh("echo 'certificates live here' > '%s/README.txt'", D);
    sh("cp '%s/soon.crt' '%s/soon.crt' && cp '%s/ec.key' '%s/soon.key'", T, D,
       T, D);
    sh("cp '%s/dup.crt' '%s/y-dup.crt' && cp '%s/ec.key' '%s/y-dup.key'", T, D,
       T, D);
    sh("cp '%s/exactnet.crt' '%s/z-exact-net.crt' && "
       "cp '%s/ec.key' '%s/z-exact-net.key'",
       T, D, T, D);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (tmp[0] != '\0' && strncmp(tmp, "/", 1) == 0)
        sh("rm -rf '%s'", tmp);
    return 0;
}

/* ends_with tells whether s ends with suffix. */
static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* count_diag counts entries of sev whose message holds a and b. */
static size_t count_diag(const struct diag *d, enum diag_severity sev,
                         const char *a, const char *b)
{
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        const struct diag_entry *e = &d->entries[i];
        if (e->severity == sev && strstr(e->msg, a) != NULL &&
            (b == NULL || strstr(e->msg, b) != NULL))
            k++;
    }
    return k;
}

static void dump_diag(const struct diag *d)
{
    diag_print(d, stderr);
}

static struct certs *load(struct diag *d, time_t now)
{
    diag_init(d, dir);
    struct certs *c = certs_load_dir(dir, now, d);
    assert_non_null(c);
    return c;
}

static void test_load_dir_pairs(void **state)
{
    (void)state;
    struct diag d;
    struct certs *c = load(&d, time(NULL));
    static const char *const expect[] = {
        "/a-exact.crt",
        "/b-wild.crt",
        "/c-rsa.crt",
        "/certbot.example/fullchain.pem",
        "/cnonly.crt",
        "/combined.pem",
        "/live/liveone/fullchain.pem",
        "/soon.crt",
        "/y-dup.crt",
        "/z-exact-net.crt",
    };
    size_t n = sizeof(expect) / sizeof(expect[0]);
    if (certs_count(c) != n)
        dump_diag(&d);
    assert_int_equal(certs_count(c), n);
    for (size_t i = 0; i < n; i++) {
        const struct certs_entry *e = certs_at(c, i);
        assert_non_null(e);
        const char *src = certs_entry_source(e);
        if (!ends_with(src, expect[i]))
            fail_msg("pair %zu: %s, expected ...%s", i, src, expect[i]);
        assert_true(strncmp(src, dir, strlen(dir)) == 0);
        assert_false(certs_entry_dev(e));
        gnutls_pcert_st *pc = NULL;
        unsigned npc = 0;
        gnutls_privkey_t k = NULL;
        certs_entry_credentials(e, &pc, &npc, &k);
        assert_non_null(pc);
        assert_non_null(k);
        assert_true(npc >= 1);
        assert_true(certs_entry_not_after(e) > time(NULL));
        assert_int_equal(strlen(certs_entry_fingerprint(e)), 64);
    }
    assert_null(certs_at(c, n));
    /* Chains: a-exact.crt and combined.pem carry the CA too. */
    gnutls_pcert_st *pc;
    unsigned npc;
    gnutls_privkey_t k;
    certs_entry_credentials(certs_at(c, 0), &pc, &npc, &k);
    assert_int_equal(npc, 2);
    certs_entry_credentials(certs_at(c, 1), &pc, &npc, &k);
    assert_int_equal(npc, 1);
    /* Subjects: the first SAN, lower-cased, or the CN. */
    assert_string_equal(certs_entry_subject(certs_at(c, 0)),
                        "mta-sts.example.com");
    assert_string_equal(certs_entry_subject(certs_at(c, 2)),
                        "mta-sts.example.org");
    assert_string_equal(certs_entry_subject(certs_at(c, 4)),
                        "cn-only.example.com");
    /* The same certificate twice has the same fingerprint, others not. */
    assert_string_equal(certs_entry_fingerprint(certs_at(c, 1)),
                        certs_entry_fingerprint(certs_at(c, 1)));
    assert_string_not_equal(certs_entry_fingerprint(certs_at(c, 0)),
                            certs_entry_fingerprint(certs_at(c, 1)));
    certs_free(c);
    diag_free(&d);
}

struct diag_case {
    enum diag_severity sev;
    const char *file; /* path suffix at the start of the message */
    const char *text; /* and a part of the message */
};

static void test_load_dir_diagnostics(void **state)
{
    (void)state;
    static const struct diag_case cases[] = {
        {DIAG_ERROR, "/expired.crt: ", "expired on 2021-01-01"},
        {DIAG_ERROR, "/future.crt: ", "not valid before 2099-01-01"},
        {DIAG_ERROR, "/garbage.pem: ", "reading the certificate chain: "},
        {DIAG_ERROR, "/junk.pem: ", "no PEM certificate or private key"},
        {DIAG_ERROR, "/mismatch.crt: private key ",
         "/mismatch.key does not match the certificate"},
        {DIAG_ERROR, "/misorder.pem: ",
         "the private key belongs to certificate 2 (mta-sts.example.net), "
         "but the server's own certificate must come first"},
        {DIAG_WARNING, "/soon.crt: ", "the certificate expires in "},
        {DIAG_WARNING, "/lone.crt: ", "has no private key"},
        {DIAG_WARNING, "/orphan.key: ", "has no certificate"},
        {DIAG_WARNING, "/ca-bundle.pem: ", "no private key"},
        {DIAG_WARNING,
         "/a-exact.crt: ", "does not verify against the system trust store"},
        {DIAG_WARNING, "/combined.pem: ", "issuer is unknown"},
        {DIAG_WARNING, "/a-exact.crt: ", "www.example.com is also in"},
    };
    struct diag d;
    struct certs *c = load(&d, time(NULL));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char head[512];
        int len = snprintf(head, sizeof(head), "%s%s", dir, cases[i].file);
        assert_true(len > 0 && (size_t)len < sizeof(head));
        if (count_diag(&d, cases[i].sev, head, cases[i].text) != 1) {
            dump_diag(&d);
            fail_msg("case %zu: no single %s \"%s...%s\"", i,
                     cases[i].sev == DIAG_ERROR ? "error" : "warning", head,
                     cases[i].text);
        }
    }
    /* The duplicate name is reported once, naming the pair used for it. */
    assert_int_equal(
        count_diag(&d, DIAG_WARNING, "www.example.com is also in", "y-dup"), 1);
    /* Every loaded pair is signed by the test CA, which no system trusts. */
    assert_int_equal(count_diag(&d, DIAG_WARNING, "system trust store", NULL),
                     certs_count(c));
    /* The pairs' key files are not reported as orphans. */
    assert_int_equal(count_diag(&d, DIAG_WARNING, "/a-exact.key", NULL), 0);
    assert_int_equal(count_diag(&d, DIAG_WARNING, "README", NULL), 0);
    assert_int_equal(count_diag(&d, DIAG_WARNING, "archive", NULL), 0);
    if (d.errors != 6 || d.warnings != certs_count(c) + 5) {
        dump_diag(&d);
        fail_msg("%zu errors, %zu warnings", d.errors, d.warnings);
    }
    /* Line and column stay 0: the message carries the file. */
    for (size_t i = 0; i < d.n; i++) {
        assert_int_equal(d.entries[i].line, 0);
        assert_int_equal(d.entries[i].col, 0);
        assert_true(strncmp(d.entries[i].msg, dir, strlen(dir)) == 0);
    }
    certs_free(c);
    diag_free(&d);
}

static void test_load_dir_at_other_times(void **state)
{
    (void)state;
    struct diag d;
    /* 400 days on, everything has expired. */
    struct certs *c = load(&d, time(NULL) + 400 * 86400);
    assert_int_equal(certs_count(c), 0);
    assert_null(certs_select(c, "mta-sts.example.com", NULL));
    assert_int_equal(count_diag(&d, DIAG_ERROR, "/a-exact.crt: ", "expired"),
                     1);
    assert_int_equal(count_diag(&d, DIAG_ERROR, "expired on", NULL), 11);
    certs_free(c);
    diag_free(&d);
    /* A day ago, nothing was valid yet. */
    c = load(&d, time(NULL) - 86400);
    assert_int_equal(certs_count(c), 0);
    assert_int_equal(
        count_diag(&d, DIAG_ERROR, "/c-rsa.crt: ", "not valid before"), 1);
    certs_free(c);
    diag_free(&d);
    /* A day on, the soon one warns with a day less left. */
    time_t later = time(NULL) + 86400;
    c = load(&d, later);
    assert_int_equal(certs_count(c), 10);
    const struct certs_entry *soon = certs_find(c, "mta-sts.soon.test");
    assert_non_null(soon);
    char want[64];
    snprintf(want, sizeof(want), "expires in %lld days",
             (long long)(certs_entry_not_after(soon) - later) / 86400);
    assert_true((certs_entry_not_after(soon) - later) / 86400 < 5);
    assert_int_equal(count_diag(&d, DIAG_WARNING, "/soon.crt: ", want), 1);
    certs_free(c);
    diag_free(&d);
}

static void test_load_missing_and_empty(void **state)
{
    (void)state;
    char path[400];
    const char *dirs[2];
    snprintf(path, sizeof(path), "%s/empty", tmp);
    dirs[0] = path;
    dirs[1] = "/nonexistent/mta-sts-host/certs";
    for (size_t i = 0; i < 2; i++) {
        struct diag d;
        diag_init(&d, dirs[i]);
        struct certs *c = certs_load_dir(dirs[i], time(NULL), &d);
        assert_non_null(c);
        assert_int_equal(certs_count(c), 0);
        assert_int_equal(d.errors, 0);
        assert_int_equal(d.warnings, 0);
        assert_null(certs_select(c, NULL, NULL));
        assert_null(certs_select(c, "mta-sts.example.com", NULL));
        assert_null(certs_find(c, "mta-sts.example.com"));
        const char *out[4];
        assert_int_equal(certs_mta_sts_domains(c, out, 4), 0);
        certs_free(c);
        diag_free(&d);
    }
    certs_free(NULL);
}

struct find_case {
    const char *host;
    const char *source; /* suffix of the pair's source, NULL for no match */
};

static void test_find(void **state)
{
    (void)state;
    static const struct find_case cases[] = {
        {"mta-sts.example.com", "/a-exact.crt"},
        {"MTA-STS.EXAMPLE.COM.", "/a-exact.crt"},
        {"mta-sts.example.org", "/c-rsa.crt"},
        {"www.example.org", "/c-rsa.crt"},
        {"foo.example.net", "/b-wild.crt"},
        {"FOO.Example.Net.", "/b-wild.crt"},
        {"mta-sts.example.net", "/z-exact-net.crt"}, /* exact beats wild */
        {"Mta-Sts.Example.Net", "/z-exact-net.crt"},
        {"a.b.example.net", NULL},
        {"example.net", NULL},
        {".example.net", NULL},
        {"*.example.net", NULL},
        {"example.net.", NULL},
        {"www.example.com", "/y-dup.crt"}, /* expires later */
        {"cn-only.example.com", "/cnonly.crt"},
        {"mta-sts.example.dev", "/certbot.example/fullchain.pem"},
        {"mta-sts.live.test", "/live/liveone/fullchain.pem"},
        {"mta-sts.example.info", "/combined.pem"},
        {"mta-sts.soon.test", "/soon.crt"},
        {"mta-sts.expired.test", NULL},
        {"mta-sts.future.test", NULL},
        {"mta-sts.example.com.evil.test", NULL},
        {"mta-sts.example.co", NULL},
        {"nope.example.org", NULL},
        {"", NULL},
        {".", NULL},
        {"..", NULL},
    };
    struct diag d;
    struct certs *c = load(&d, time(NULL));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct certs_entry *e = certs_find(c, cases[i].host);
        if (cases[i].source == NULL) {
            if (e != NULL)
                fail_msg("%s: found %s, expected no match", cases[i].host,
                         certs_entry_source(e));
            continue;
        }
        if (e == NULL)
            fail_msg("%s: no match, expected %s", cases[i].host,
                     cases[i].source);
        if (!ends_with(certs_entry_source(e), cases[i].source))
            fail_msg("%s: found %s, expected %s", cases[i].host,
                     certs_entry_source(e), cases[i].source);
    }
    /* A name longer than any DNS name matches nothing. */
    char longname[400];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_null(certs_find(c, longname));
    assert_null(certs_find(c, NULL));

    /* certs_select: by SNI, else the first pair. */
    assert_ptr_equal(certs_select(c, NULL, NULL), certs_at(c, 0));
    assert_ptr_equal(certs_select(c, "unknown.test", NULL), certs_at(c, 0));
    assert_ptr_equal(certs_select(c, "foo.example.net", NULL), certs_at(c, 1));
    assert_ptr_equal(certs_select(c, "a.b.example.net", NULL), certs_at(c, 0));
    certs_free(c);
    diag_free(&d);
}

static void test_mta_sts_domains(void **state)
{
    (void)state;
    /* Sorted and deduplicated, whatever the load order. */
    static const char *const expect[] = {
        "example.com", "example.dev", "example.info", "example.net",
        "example.org", "live.test",   "soon.test",
    };
    const size_t n = sizeof(expect) / sizeof(expect[0]);
    const char *out[16];
    struct diag d;
    struct certs *c = load(&d, time(NULL));
    size_t k = certs_mta_sts_domains(c, out, 16);
    assert_int_equal(k, n);
    /* The sizing call bounds the real count. */
    assert_true(certs_mta_sts_domains(c, NULL, 0) >= n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(out[i], expect[i]);
    /* out is never written past max. */
    out[2] = "untouched";
    assert_int_equal(certs_mta_sts_domains(c, out, 2), 2);
    assert_string_equal(out[0], "example.com");
    assert_string_equal(out[1], "example.dev");
    assert_string_equal(out[2], "untouched");
    assert_int_equal(certs_mta_sts_domains(c, out, 0), 0);
    certs_free(c);
    diag_free(&d);
}

static bool is_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

/* dev_set generates a development pair and indexes it. */
static struct certs *dev_set(const char *const *hosts, size_t n, struct diag *d)
{
    struct certs_entry *e = certs_generate_dev(hosts, n, d);
    struct certs *c = e != NULL ? certs_new(&e, 1, d) : NULL;
    certs_entry_unref(e);
    return c;
}

static void test_generate_dev(void **state)
{
    (void)state;
    static const char *const hosts[] = {"mta-sts.example.com",
                                        "MTA-STS.Example.NET"};
    struct diag d;
    diag_init(&d, "dev");
    time_t now = time(NULL);
    struct certs *c = dev_set(hosts, 2, &d);
    assert_non_null(c);
    assert_int_equal(d.errors, 0);
    assert_int_equal(certs_count(c), 1);
    const struct certs_entry *e = certs_at(c, 0);
    assert_true(certs_entry_dev(e));
    assert_ptr_equal(certs_find(c, "mta-sts.example.com"), e);
    assert_ptr_equal(certs_find(c, "mta-sts.example.net."), e);
    assert_null(certs_find(c, "www.example.com"));
    assert_ptr_equal(certs_select(c, "other.test", NULL), e);
    assert_string_equal(certs_entry_subject(e), "mta-sts.example.com");
    time_t na = certs_entry_not_after(e);
    assert_true(na >= now + 90 * 86400 - 5 && na <= now + 90 * 86400 + 5);
    assert_true(is_lower_hex(certs_entry_fingerprint(e), 64));
    gnutls_pcert_st *pc = NULL;
    unsigned npc = 0;
    gnutls_privkey_t k = NULL;
    certs_entry_credentials(e, &pc, &npc, &k);
    assert_non_null(pc);
    assert_int_equal(npc, 1);
    assert_non_null(k);
    assert_int_equal(gnutls_privkey_get_pk_algorithm(k, NULL), GNUTLS_PK_ECDSA);
    const char *out[4];
    assert_int_equal(certs_mta_sts_domains(c, out, 4), 2);
    assert_string_equal(out[0], "example.com");
    assert_string_equal(out[1], "example.net");

    /* Each generation is a new key and serial. */
    struct certs *c2 = dev_set(hosts, 1, &d);
    assert_non_null(c2);
    assert_string_not_equal(certs_entry_fingerprint(certs_at(c2, 0)),
                            certs_entry_fingerprint(e));
    assert_null(certs_find(c2, "mta-sts.example.net"));
    certs_free(c2);

    /* No host names: a localhost certificate. */
    c2 = dev_set(NULL, 0, &d);
    assert_non_null(c2);
    assert_non_null(certs_find(c2, "localhost"));
    certs_free(c2);

    /* An empty host name is refused. */
    static const char *const bad[] = {"mta-sts.example.com", ""};
    assert_null(certs_generate_dev(bad, 2, &d));
    assert_int_equal(
        count_diag(&d, DIAG_ERROR, "development certificate", NULL), 1);
    certs_free(c);
    diag_free(&d);
}

/*
 * test_generate_dev_many: a provider's first run without certificates
 * puts every served name into the development pair, so the names are
 * written and read back whole (5,000 of them: GnuTLS's one-at-a-time SAN
 * calls took seconds per thousand, the extension as a whole takes
 * milliseconds).
 */
static void test_generate_dev_many(void **state)
{
    (void)state;
    enum { N = 5000 };
    static char names[N][40];
    static const char *hosts[N];
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "mta-sts.d%zu.example", i);
        hosts[i] = names[i];
    }
    struct diag d;
    diag_init(&d, "dev");
    struct certs *c = dev_set(hosts, N, &d);
    assert_non_null(c);
    assert_int_equal(d.errors, 0);
    const struct certs_entry *e = certs_at(c, 0);
    for (size_t i = 0; i < N; i++)
        if (certs_find(c, hosts[i]) != e)
            fail_msg("%s is not covered", hosts[i]);
    assert_null(certs_find(c, "mta-sts.d5000.example"));
    static const char *out[N + 1];
    assert_int_equal(certs_mta_sts_domains(c, out, N + 1), N);
    certs_free(c);
    diag_free(&d);
}

static void test_priority(void **state)
{
    (void)state;
    gnutls_priority_t p = NULL;
    const char *err = NULL;
    int rc = gnutls_priority_init(&p, certs_tls_priority, &err);
    if (rc != 0)
        fail_msg("priority rejected at \"%s\": %s", err ? err : "?",
                 gnutls_strerror(rc));
    gnutls_priority_deinit(p);
}

/* A TLS server on one end of a socketpair, choosing its pair by SNI. */
struct server {
    int fd;
    const struct certs *set;
    int rc;
};

static int retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca, int n_req,
                    const gnutls_pk_algorithm_t *pk, int n_pk,
                    gnutls_pcert_st **pcert, unsigned *n_pcert,
                    gnutls_privkey_t *key)
{
    (void)req_ca;
    (void)n_req;
    (void)pk;
    (void)n_pk;
    const struct certs *set = gnutls_session_get_ptr(s);
    char name[256];
    size_t len = sizeof(name);
    unsigned type = 0;
    const char *sni = NULL;
    if (gnutls_server_name_get(s, name, &len, &type, 0) == 0 &&
        type == GNUTLS_NAME_DNS)
        sni = name;
    const struct certs_entry *e = certs_select(set, sni, s);
    if (e == NULL)
        return -1;
    certs_entry_credentials(e, pcert, n_pcert, key);
    return 0;
}

static void *server_run(void *arg)
{
    struct server *sv = arg;
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_session_t s = NULL;
    sv->rc = gnutls_certificate_allocate_credentials(&cred);
    if (sv->rc < 0)
        return NULL;
    gnutls_certificate_set_retrieve_function2(cred, retrieve);
    sv->rc = gnutls_init(&s, GNUTLS_SERVER);
    if (sv->rc == 0)
        sv->rc = gnutls_priority_set_direct(s, certs_tls_priority, NULL);
    if (sv->rc == 0)
        sv->rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    if (sv->rc == 0) {
        gnutls_session_set_ptr(s, (void *)sv->set);
        gnutls_transport_set_int(s, sv->fd);
        gnutls_handshake_set_timeout(s, 10000);
        do {
            sv->rc = gnutls_handshake(s);
        } while (sv->rc < 0 && !gnutls_error_is_fatal(sv->rc));
    }
    if (sv->rc == 0)
        gnutls_bye(s, GNUTLS_SHUT_WR);
    gnutls_deinit(s);
    gnutls_certificate_free_credentials(cred);
    close(sv->fd);
    return NULL;
}

/*
 * handshake connects a client with priority prio and SNI host to a server
 * serving set. With verify, the client checks the chain against the test
 * CA and the name against host. Returns the client's handshake result and
 * the protocol in *version.
 */
static int handshake(const struct certs *set, const char *prio,
                     const char *host, bool verify, gnutls_protocol_t *version,
                     gnutls_pk_algorithm_t *alg)
{
    int sv_pair[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv_pair), 0);
    struct server sv = {sv_pair[0], set, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, server_run, &sv), 0);

    gnutls_certificate_credentials_t cred = NULL;
    gnutls_session_t s = NULL;
    assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
    if (verify)
        assert_int_equal(gnutls_certificate_set_x509_trust_file(
                             cred, cafile, GNUTLS_X509_FMT_PEM),
                         1);
    assert_int_equal(gnutls_init(&s, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_priority_set_direct(s, prio, NULL), 0);
    assert_int_equal(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred),
                     0);
    assert_int_equal(
        gnutls_server_name_set(s, GNUTLS_NAME_DNS, host, strlen(host)), 0);
    if (verify)
        gnutls_session_set_verify_cert(s, host, 0);
    gnutls_transport_set_int(s, sv_pair[1]);
    gnutls_handshake_set_timeout(s, 10000);
    int rc;
    do {
        rc = gnutls_handshake(s);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    *version = gnutls_protocol_get_version(s);
    *alg = GNUTLS_PK_UNKNOWN;
    if (rc == 0) {
        unsigned n = 0;
        const gnutls_datum_t *peer = gnutls_certificate_get_peers(s, &n);
        gnutls_x509_crt_t crt;
        if (peer != NULL && n > 0 && gnutls_x509_crt_init(&crt) == 0) {
            if (gnutls_x509_crt_import(crt, &peer[0], GNUTLS_X509_FMT_DER) == 0)
                *alg = gnutls_x509_crt_get_pk_algorithm(crt, NULL);
            gnutls_x509_crt_deinit(crt);
        }
    }
    close(sv_pair[1]);
    pthread_join(th, NULL);
    gnutls_deinit(s);
    gnutls_certificate_free_credentials(cred);
    if (rc == 0)
        assert_int_equal(sv.rc, 0);
    return rc;
}

struct tls_case {
    const char *host;
    const char *prio;
    bool ok;
    gnutls_protocol_t version;
    gnutls_pk_algorithm_t alg;
};

static void test_tls_handshakes(void **state)
{
    (void)state;
    static const char v13[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
    static const char v12[] = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
    static const struct tls_case cases[] = {
        {"mta-sts.example.com", v13, true, GNUTLS_TLS1_3, GNUTLS_PK_ECDSA},
        {"mta-sts.example.com", v12, true, GNUTLS_TLS1_2, GNUTLS_PK_ECDSA},
        {"mta-sts.example.org", v13, true, GNUTLS_TLS1_3, GNUTLS_PK_RSA},
        {"mta-sts.example.org", v12, true, GNUTLS_TLS1_2, GNUTLS_PK_RSA},
        {"mta-sts.example.info", v13, true, GNUTLS_TLS1_3,
         GNUTLS_PK_EDDSA_ED25519},
        {"foo.example.net", v12, true, GNUTLS_TLS1_2, GNUTLS_PK_ECDSA},
        {"mta-sts.example.dev", v13, true, GNUTLS_TLS1_3, GNUTLS_PK_ECDSA},
        /* The default pair does not name this host: verification fails. */
        {"a.b.example.net", v13, false, 0, 0},
        /* Old protocols and non-forward-secret suites are refused. */
        {"mta-sts.example.com", "NORMAL:-VERS-ALL:+VERS-TLS1.1", false, 0, 0},
        {"mta-sts.example.com", "NORMAL:-VERS-ALL:+VERS-TLS1.0", false, 0, 0},
        {"mta-sts.example.org", "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA",
         false, 0, 0},
        {"mta-sts.example.org",
         "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:"
         "-MAC-ALL:+SHA1:+SHA256",
         false, 0, 0},
    };
    struct diag d;
    struct certs *c = load(&d, time(NULL));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tls_case *t = &cases[i];
        gnutls_protocol_t v;
        gnutls_pk_algorithm_t alg;
        int rc = handshake(c, t->prio, t->host, true, &v, &alg);
        if (t->ok && rc != 0)
            fail_msg("case %zu (%s, %s): %s", i, t->host, t->prio,
                     gnutls_strerror(rc));
        if (!t->ok && rc == 0)
            fail_msg("case %zu (%s, %s): handshake succeeded", i, t->host,
                     t->prio);
        if (t->ok) {
            assert_int_equal(v, t->version);
            assert_int_equal(alg, t->alg);
        }
    }
    certs_free(c);
    diag_free(&d);

    /* The dev certificate works too (without verification, of course). */
    static const char *const hosts[] = {"mta-sts.example.com"};
    diag_init(&d, "dev");
    c = dev_set(hosts, 1, &d);
    assert_non_null(c);
    gnutls_protocol_t v;
    gnutls_pk_algorithm_t alg;
    assert_int_equal(handshake(c, v12, "mta-sts.example.com", false, &v, &alg),
                     0);
    assert_int_equal(alg, GNUTLS_PK_ECDSA);
    assert_int_equal(handshake(c, v13, "mta-sts.example.com", false, &v, &alg),
                     0);
    assert_int_equal(v, GNUTLS_TLS1_3);
    certs_free(c);
    diag_free(&d);
}

/*
 * A name with an ECDSA and an RSA pair: clients that accept ECDSA
 * signatures get the ECDSA one (cheaper to sign with), the others the RSA
 * one; both kinds are kept, with no "also in" warning.
 */
static void test_dual_keys(void **state)
{
    (void)state;
    char dual[400];
    snprintf(dual, sizeof(dual), "%s/dual", tmp);
    cert("dual-ec.crt", "ec.key",
         "dns_name = mta-sts.dual.test\nexpiration_days = 30\n" SERVER_TMPL);
    cert("dual-rsa.crt", "rsa.key",
         "dns_name = mta-sts.dual.test\nexpiration_days = 30\n" SERVER_TMPL);
    sh("mkdir -p '%s' && cp '%s/dual-rsa.crt' '%s/a-rsa.crt' && "
       "cp '%s/rsa.key' '%s/a-rsa.key' && cp '%s/dual-ec.crt' '%s/b-ec.crt' "
       "&& cp '%s/ec.key' '%s/b-ec.key'",
       dual, tmp, dual, tmp, dual, tmp, dual, tmp, dual);
    struct diag d;
    diag_init(&d, dual);
    struct certs *c = certs_load_dir(dual, time(NULL), &d);
    assert_non_null(c);
    assert_int_equal(certs_count(c), 2);
    for (size_t i = 0; i < d.n; i++)
        if (strstr(d.entries[i].msg, "also in") != NULL)
            fail_msg("unexpected warning: %s", d.entries[i].msg);

    static const char rsa_sigs[] =
        "NORMAL:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA256:+SIGN-RSA-SHA256";
    static const struct tls_case cases[] = {
        {"mta-sts.dual.test", "NORMAL:-VERS-ALL:+VERS-TLS1.3", true,
         GNUTLS_TLS1_3, GNUTLS_PK_ECDSA},
        /* TLS 1.2: the RSA pair (see certs_select). */
        {"mta-sts.dual.test", "NORMAL:-VERS-ALL:+VERS-TLS1.2", true,
         GNUTLS_TLS1_2, GNUTLS_PK_RSA},
        {"mta-sts.dual.test",
         "NORMAL:-VERS-ALL:+VERS-TLS1.3:-SIGN-ALL:"
         "+SIGN-RSA-PSS-RSAE-SHA256",
         true, GNUTLS_TLS1_3, GNUTLS_PK_RSA},
        {"mta-sts.dual.test",
         "NORMAL:-VERS-ALL:+VERS-TLS1.2:-SIGN-ALL:"
         "+SIGN-RSA-SHA256",
         true, GNUTLS_TLS1_2, GNUTLS_PK_RSA},
        {"mta-sts.dual.test", rsa_sigs, true, GNUTLS_TLS1_3, GNUTLS_PK_RSA},
        {"mta-sts.dual.test",
         "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA", true,
         GNUTLS_TLS1_2, GNUTLS_PK_RSA},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tls_case *t = &cases[i];
        gnutls_protocol_t v;
        gnutls_pk_algorithm_t alg;
        int rc = handshake(c, t->prio, t->host, true, &v, &alg);
        if (rc != 0)
            fail_msg("case %zu (%s): %s", i, t->prio, gnutls_strerror(rc));
        assert_int_equal(v, t->version);
        if (alg != t->alg)
            fail_msg("case %zu (%s): got a %s certificate", i, t->prio,
                     gnutls_pk_get_name(alg));
    }
    /* Without a handshake to go by (coverage checks), ECDSA. */
    const struct certs_entry *e = certs_select(c, "mta-sts.dual.test", NULL);
    assert_ptr_equal(e, certs_find(c, "mta-sts.dual.test"));
    assert_non_null(strstr(certs_entry_source(e), "b-ec.crt"));
    certs_free(c);
    diag_free(&d);
}

/*
 * Reproducers found by tests/fuzz/fuzz_certs (copies of its seeds
 * crash-*): an EC key whose private part was damaged but whose stored
 * public part still matches the certificate; a certificate that is BER
 * but not DER (a BOOLEAN encoded as 0xFE), so that GnuTLS's re-encoding
 * differs from the file's bytes; and a chain whose second certificate
 * GnuTLS parses but cannot prepare for TLS. The certificates are valid
 * from 2026-11-30 to 2036-11-27; the test loads them at FZ_NOW.
 */
#define FZ_NOW ((time_t)1798761600) /* 2027-01-01 */

static const char fz_ec_crt[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIB1zCCAX2gAwIBAgIUcSsDhdxnuJ23YA0okC3VZy/yQ1UwCgYIKoZIzj0EAwIw\n"
    "HjEcMBoGA1UEAwwTbXRhLXN0cy5leGFtcGxlLmNvbTAeFw0yNjExMzAyMzA0MTRa\n"
    "Fw0zNjExMjcyMzA0MTRaMB4xHDAaBgNVBAMME210YS1zdHMuZXhhbXBsZS5jb20w\n"
    "WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASLXPRvS8GAN7bGh8JjsSYvwCLrNuw6\n"
    "m+uCXGSTBYufJ23lOhNsg9h5kcPdvOsywBTElq5YRD7jhpEbqXAzYRvNo4GYMIGV\n"
    "MB0GA1UdDgQWBBQeeRoIEDGm3eOuIGELbzodMWvSwDAfBgNVHSMEGDAWgBQeeRoI\n"
    "EDGm3eOuIGELbzodMWvSwDAPBgNVHRMBAf8EBTADAQH/MEIGA1UdEQQ7MDmCE210\n"
    "YS1zdHMuZXhhbXBsZS5jb22CE210YS1zdHMuZXhhbXBsZS5uZXSCDSouZXhhbXBs\n"
    "ZS5vcmcwCgYIKoZIzj0EAwIDSAAwRQIgC7346xs4ntKGapti266qexvLM+4I+Ffu\n"
    "uqyMbuR3fbACIQCFN5ZKYZJLIaS1xPI5BVLwkqj3yVhhlTYczvo+j99ZWg==\n"
    "-----END CERTIFICATE-----\n";

static const char fz_ec_key[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEICVim4okzCH0uP+nBS8oIye61tAGpzcQ+W/zKM8WrvL2oAoGCCqGSM49\n"
    "AwEHoUQDQgAEi1z0b0vBgDe2xofCY7EmL8Ai6zbsOpvrglxkkwWLnydt5ToTbIPY\n"
    "eZHD3bzrMsAUxJauWEQ+44aRG6lwM2EbzQ==\n"
    "-----END EC PRIVATE KEY-----\n";

static const char fz_damaged_key[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEICVim3okzCH0uP+nBS8oIye61tAGpzcQ+W/zKM8WrvL2oAoGCCqGSM49\n"
    "AwEHoUQDQgAEi1z0b0vBgDe2xofCY7EmL8Ai6zbsOpvrglxkkwWLnydt5ToTbIPY\n"
    "eZHD3bzrMsAUxJauWEQ+44aRG6lwM2EbzQ==\n"
    "-----END EC PRIVATE KEY-----\n";

static const char fz_ber_crt[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIB1zCCAX2gAwIBAgIUcSsDhdxnuJ23YA0okC3VZy/yQ1UwCgYIKoZIzj0EAwIw\n"
    "HjEcMBoGA1UEAwwTbXRhLXN0cy5leGFtcGxlLmNvbTAeFw0yNjExMzAyMzA0MTRa\n"
    "Fw0zNjExMjcyMzA0MTRaMB4xHDAaBgNVBAMME210YS1zdHMuZXhhbXBsZS5jb20w\n"
    "WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASLXPRvS8GAN7bGh8JjsSYvwCLrNuw6\n"
    "m+uCXGSTBYufJ23lOhNsg9h5kcPdvOsywBTElq5YRD7jhpEbqXAzYRvNo4GYMIGV\n"
    "MB0GA1UdDgQWBBQeeRoIEDGm3eOuIGELbzodMWvSwDAfBgNVHSMEGDAWgBQeeRoI\n"
    "EDGm3eOuIGELbzodMWvSwDAPBgNVHRMBAf4EBTADAQH/MEIGA1UdEQQ7MDmCE210\n"
    "YS1zdHMuZXhhbXBsZS5jb22CE210YS1zdHMuZXhhbXBsZS5uZXSCDSouZXhhbXBs\n"
    "ZS5vcmcwCgYIKoZIzj0EAwIDSAAwRQIgC7346xs4ntKGapti266qexvLM+4I+Ffu\n"
    "uqyMbuR3fbACIQCFN5ZKYZJLIaS1xPI5BVLwkqj3yVhhlTYczvo+j99ZWg==\n"
    "-----END CERTIFICATE-----\n";

static const char fz_unusable_chain[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICZjCCAgugAwIBAgIFAJhRdEUwCgYIKoZIzj0EAwIwFzEVMBMGA1UEAwwMZnV6\n"
    "eiBzZWVkIENBMB4XDTI2MTEzMDIzMDQxNFoXDTM2MTEyNzIzMDQxNFowHjEcMBoG\n"
    "A1UEAwwTbXRhLXN0cy5yc2EuZXhhbXBsZTCCASIwDQYJKoZIhvcNAQEBBQADggEP\n"
    "ADCCAQoCggEBANgpR2kgf2mWs0bvQaeqd0nf0NGlnTaF9OHOWAUPMTcSHkiboaHz\n"
    "0LWiUeucoKG6uCq9D8F/uvNt656nk/noft1Lcx2AfVVssRJ4FJ2S4hpTonsiHc5l\n"
    "KZSHOknuILQSvt+sWSGs2UyyuJjDpFGENTYyechwZA+11tizr6txwHgtJ7rK3g68\n"
    "tznOtNGirgTxOLFh+qiuIUjM3hZtEDwEXZN2pC6NHNmSCKseE1DfoK1x1dVwGjcA\n"
    "1brdj3UUlU3D8vfSR5j753NfHZppuzDHApXVetQoVSdLJfdd9sSOJXwpJpUUJHLD\n"
    "FSuRmRiFwzgYZimxvLW/UCROyE5jF/+185cCAwEAAaNyMHAwLgYDVR0RBCcwJYIT\n"
    "bXRhLXN0cy5yc2EuZXhhbXBsZYIOKi53aWxkLmV4YW1wbGUwHQYDVR0OBBYEFMaP\n"
    "CFtr1P2e7Q8i5/BHAXqnGnI2MB8GA1UdIwQYMBaAFMHd43pSyxkU0/vVmAbjqvDK\n"
    "xCQbMAoGCCqGSM49BAMCA0kAMEYCIQDjbd5jkSo/7+V3TiYnrUoim+KOtwF5RBly\n"
    "o3ifXokV0QIhAKY8zb8XylMJ/giOP3v8NQFUX8lBAqffhCki46jYf9St\n"
    "-----END CERTIFICATE-----\n"
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBgzCCASmgAwIBAgIULmRdXHYaTC3qinCjxb8yGtuBZpMwCgYIKoZIzj0EAwIw\n"
    "FzEVMBMGA1UEAwwMZnV6eiBzZWVkIENBMB4XDTI2MTEzMDIzMDQxNFoXDTM2MTEy\n"
    "NzIzMDQxNFowFzEVMBMGA1UEAwwMZnV6eiBzZWVkIENBMFkwEwYHKoZIzj1CAQYI\n"
    "KoZIzj0DAQcDQgAEe8muD8XoEEA3dQl+IX7mLbbm/hRK/tNBri+ACbopvOc71SSv\n"
    "Il5ZcSUkxxS4EaG/CL6Dubfq0n4zIRgbPIENUaNTMFEwHQYDVR0OBBYEFMHd43pS\n"
    "yxkU0/vVmAbjqvDKxCQbMB8GA1UdIwQYMBaAFMHd43pSyxkU0/vVmAbjqvDKxCQb\n"
    "MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgOneuw3pnjFlwuCE5\n"
    "RValjt1HoIAOTQm9klFcxESB4G0CIQDFwbtDQH6c7SAE2gATBu/3Zo5upqKDGELH\n"
    "4oPalLn84A==\n"
    "-----END CERTIFICATE-----\n";

static const char fz_unusable_key[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEpQIBAAKCAQEA2ClHaSB/aZazRu9Bp6p3Sd/Q0aWdNoX04c5YBQ8xNxIeSJuh\n"
    "ofPQtaJR65ygobq4Kr0PwX+6823rnqeT+eh+3UtzHYB9VWyxEngUnZLiGlOieyId\n"
    "zmUplIc6Se4gtBK+36xZIazZTLK4mMOkUYQ1NjJ5yHBkD7XW2LOvq3HAeC0nusre\n"
    "Dry3Oc600aKuBPE4sWH6qK4hSMzeFm0QPARdk3akLo0c2ZIIqx4TUN+grXHV1XAa\n"
    "NwDVut2PdRSVTcPy99JHmPvnc18dmmm7MMcCldV61ChVJ0sl9132xI4lfCkmlRQk\n"
    "csMVK5GZGIXDOBhmKbG8tb9QJE7ITmMX/7XzlwIDAQABAoIBACosf5jEtOcydl7w\n"
    "HkSqryR0LQdCQzaYkysdObIfATCn8c2jw7jX25Acj9Qi1npHdlgsU+8iTyTgfNiT\n"
    "BH19PYdKibanU4y/rJqYYBlQR5nwWGKiyOL0fNTUP2yeL7ZCdAgq1acK1Miwk/CG\n"
    "N0CKRWGCHp2bRAKGrVjRUgRmqLEpbl/PGOxsJbzmKbTAo4p7zFVtDIOXla1ESAIm\n"
    "BdYeu7F0Xo8BXbmp4ySeRo5e4PIgUZv2doNAbz+S1gR/NX4aQdwRqoK7fjO2Y7vz\n"
    "XcUv5FfBMxmCmzKO/d72U1MDUXQc/axOPnQCSB8jyB6RgAo7iB2HAMZyfbbeItTJ\n"
    "yoat0cECgYEA8xA4AfbJVI69r2EKvUscjVEtRXYx6ZEHvKRL/Sh9CF7n2S/h/VLp\n"
    "e2zErMPKId40VFmBOQyNp+O6nJdCklgcvMFXjW2iibtLah0AFZzBQNF3uVUnU+eQ\n"
    "VO+O6u1ZiMBywVHVmQaFUJNhKxpiisQsDUoel9jomrhtzhgFJW3LHEECgYEA46qD\n"
    "oQfnAliAW0g0OrOTzf9yOVBQkPR3A0Pwmovaqhng3ock1j+FaJWz9m4QA2OmyDkc\n"
    "d9cnMuzypVurJpnXYiHyffAWJYFyj++C0aTEU8nC1dp3XZVBlH9hhmc0XNZU6DHg\n"
    "rjHGYSGTdXvOx3/BGDbGPej55w57ugQkPYom+dcCgYEA7ivkVbhXC65bHHEArv/c\n"
    "2HTE4Z2xxubAKA7uDwEPk5Y7pUwQK8SE2NZ52bh4Zrtvl3+k6hvs6qhxgWOObgw9\n"
    "DJB/lCvr6v5GJZKJNKRHkZYvtMFGKidr/G5JIta0txWs3NWtcac8FvpzamMOUF9t\n"
    "sw//7lczhfhWUG6lDEoLjoECgYEAy0awiNOZfAqxcM+jctZsnn366xm/Fe5xZUUA\n"
    "S72b3E2G7qoURggpghxItzvGqIANprD3rjk5EstmTCbxRmIOYdyVu8TmwU43kDT2\n"
    "xWEsuvNnN7L86V4fVAv4dB0qL8pfvYLrbh2bV5a3JysIkjCLpKcjkpu2povUBV81\n"
    "TI1SB7kCgYEA8gP9Sp3fCoHsu03w7U/8UjQNkNNfaByrGB4dT5EBz9HjZETxRZQb\n"
    "aQLSBEXI8ofNdMSaRUqRMLpvlYMAuVzVJCzZXbFW65OX6budTpLU6MqSqk8rMlgL\n"
    "oTSmP5dkfYpairJ0upsxQeTZSPtkOchoyR8cladt8ERmX5ZUuAJYqsY=\n"
    "-----END RSA PRIVATE KEY-----\n";

/* fz_dir makes an empty directory tmp/<name> and returns its path. */
static const char *fz_dir(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", tmp, name);
    sh("rm -rf '%s' && mkdir -p '%s'", out, out);
    return out;
}

static void fz_write(const char *d, const char *name, const char *text)
{
    char path[500];
    snprintf(path, sizeof(path), "%s/%s", d, name);
    write_file(path, text);
}

static void test_load_fuzz_findings(void **state)
{
    (void)state;
    char d1[400], d2[400], d3[400];
    struct diag d;
    struct certs *c;

    /* A damaged key is refused, and says so, instead of failing every
     * handshake later. */
    fz_dir("fz-damaged", d1, sizeof(d1));
    fz_write(d1, "a.crt", fz_ec_crt);
    fz_write(d1, "a.key", fz_damaged_key);
    diag_init(&d, d1);
    c = certs_load_dir(d1, FZ_NOW, &d);
    assert_non_null(c);
    assert_int_equal(certs_count(c), 0);
    assert_int_equal(
        count_diag(&d, DIAG_ERROR, "/a.crt: private key ", "is damaged"), 1);
    certs_free(c);
    diag_free(&d);

    /* The fingerprint is the SHA-256 of the certificate as served, which
     * is the file's DER, not GnuTLS's re-encoding. */
    fz_dir("fz-ber", d2, sizeof(d2));
    fz_write(d2, "a.crt", fz_ber_crt);
    fz_write(d2, "a.key", fz_ec_key);
    diag_init(&d, d2);
    c = certs_load_dir(d2, FZ_NOW, &d);
    assert_non_null(c);
    assert_int_equal(certs_count(c), 1);
    gnutls_datum_t pem = {(unsigned char *)fz_ber_crt,
                          (unsigned)strlen(fz_ber_crt)};
    gnutls_datum_t der = {NULL, 0};
    unsigned char sha[32];
    char hex[65];
    assert_int_equal(gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der), 0);
    assert_int_equal(
        gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, sha), 0);
    gnutls_free(der.data);
    for (size_t i = 0; i < sizeof(sha); i++)
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    assert_string_equal(certs_entry_fingerprint(certs_at(c, 0)), hex);
    gnutls_pcert_st *pcert;
    unsigned n_pcert;
    gnutls_privkey_t pk;
    certs_entry_credentials(certs_at(c, 0), &pcert, &n_pcert, &pk);
    assert_int_equal(pcert[0].cert.size, 475);
    certs_free(c);
    diag_free(&d);

    /* A pair GnuTLS cannot serve is left out; the others still load, and
     * the set is not thrown away as if memory had run out. */
    fz_dir("fz-unusable", d3, sizeof(d3));
    fz_write(d3, "bad.crt", fz_unusable_chain);
    fz_write(d3, "bad.key", fz_unusable_key);
    fz_write(d3, "good.crt", fz_ec_crt);
    fz_write(d3, "good.key", fz_ec_key);
    diag_init(&d, d3);
    c = certs_load_dir(d3, FZ_NOW, &d);
    assert_non_null(c);
    assert_int_equal(certs_count(c), 1);
    assert_non_null(strstr(certs_entry_source(certs_at(c, 0)), "/good.crt"));
    assert_int_equal(count_diag(&d, DIAG_ERROR, "/bad.crt: ",
                                "preparing certificate 2 for TLS"),
                     1);
    assert_int_equal(count_diag(&d, DIAG_ERROR, "Cannot allocate", NULL), 0);
    assert_non_null(certs_find(c, "mta-sts.example.com"));
    certs_free(c);
    diag_free(&d);
}

int main(void)
{
    /* A refused handshake closes one end while the other still writes. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_dir_pairs),
        cmocka_unit_test(test_load_dir_diagnostics),
        cmocka_unit_test(test_load_dir_at_other_times),
        cmocka_unit_test(test_load_missing_and_empty),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_mta_sts_domains),
        cmocka_unit_test(test_generate_dev),
        cmocka_unit_test(test_generate_dev_many),
        cmocka_unit_test(test_priority),
        cmocka_unit_test(test_tls_handshakes),
        cmocka_unit_test(test_dual_keys),
        cmocka_unit_test(test_load_fuzz_findings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
