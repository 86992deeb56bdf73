/* scaletool.c: certificate generator and probes of bench/scale.sh (GnuTLS,
 * loopback only). It makes a throw-away ECDSA P-256 test CA and, fast, one
 * leaf certificate per domain (all leaves share one key: signing is the only
 * per-domain cost, about 10,000 certificates a second), and it times what
 * the script measures with a client that verifies like a sender does (chain
 * to the test CA, host name) over a new TCP connection and a full handshake
 * per probe: the first response carrying a file's exact bytes, the first
 * handshake presenting a given certificate, all of a sample of domains
 * served, and the server's reload generation moving on. It does not speak
 * HTTP beyond GET with a Content-Length (or close-delimited) response. One
 * thread; every wait is bounded by -d and a hard alarm().
 *
 *   scaletool ca DIR                    DIR/ca.key, ca.pem, leaf.key
 *   scaletool leaves DIR OUTDIR N       OUTDIR/mta-sts.d<i>.example.crt
 *                                       (leaf + CA) and .key, i = 1..N
 *   scaletool one DIR NAME CRT KEY      a new key and certificate (random
 *                                       serial) for NAME
 *   scaletool get  -p PORT -s SNI -f FILE -a CA [-r SRC DST]... [-x CMD]
 *       poll until a verified 200 carries exactly FILE's bytes (FILE is
 *       read first, then the renames are done, then CMD runs)
 *   scaletool cert -p PORT -s SNI -c CRT -a CA [-r SRC DST]... [-x CMD]
 *       poll until the verified handshake presents CRT's first certificate
 *   scaletool sample -p PORT -a CA -l LIST
 *       LIST has "SNI FILE" lines; poll the first until it is served
 *       (get), then the others until every one is; prints a fourth
 *       field, the time the first was served
 *   scaletool gen -p HTTP_PORT -u PATH -k KEY -g OLD [-K PID]
 *       send SIGHUP to PID (if given), then poll plain-HTTP PATH until the
 *       number after KEY exceeds OLD (-g -1: print the current one)
 *
 * Probe modes print "t0 t1 probes" (CLOCK_REALTIME seconds; t0 = just
 * before the first rename/signal/command, or the start) and exit 0, or
 * print the reason to stderr and exit 1 when -d SECONDS (default 30) run
 * out. -i MICROSECONDS is the pause between probes (default 1000).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define MAX_RENAMES 4
#define RESP_CAP (256u * 1024 * 1024)
#define VALID_DAYS 30

struct opts {
    int port;
    const char *sni;
    const char *file;
    const char *ca;
    const char *crt;
    const char *list;
    const char *path;
    const char *key;
    const char *cmd;
    long old_gen;
    long pid;
    double secs;
    long interval_us;
    const char *ren_src[MAX_RENAMES];
    const char *ren_dst[MAX_RENAMES];
    int n_ren;
};

static struct opts o = {
    .path = "/.well-known/mta-sts.txt",
    .old_gen = -1,
    .secs = 30,
    .interval_us = 1000,
};
static gnutls_certificate_credentials_t cred;

static _Noreturn void usage(void)
{
    fprintf(stderr,
            "usage: scaletool ca DIR | leaves DIR OUTDIR N | one DIR NAME CRT "
            "KEY\n"
            "       scaletool get|cert|sample|gen -p PORT [-s SNI] [-f FILE] "
            "[-a CA] [-c CRT] [-l LIST] [-u PATH] [-k KEY] [-g OLD] [-K PID] "
            "[-r SRC DST]... [-x CMD] [-d SECONDS] [-i MICROSECONDS]\n");
    exit(2);
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail_gnutls(const char *what, int rc)
{
    fprintf(stderr, "scaletool: %s: %s\n", what, gnutls_strerror(rc));
    return 1;
}

/* read_all reads a whole file into a NUL-terminated malloc'd buffer. */
static char *read_all(const char *path, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL) {
        fprintf(stderr, "scaletool: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = ncap <= RESP_CAP ? realloc(buf, ncap) : NULL;
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    if (lenp != NULL)
        *lenp = len;
    return buf;
}

static int write_file(const char *path, const void *a, size_t alen,
                      const void *b, size_t blen)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "scaletool: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(a, 1, alen, f) == alen &&
             (blen == 0 || fwrite(b, 1, blen, f) == blen);
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "scaletool: writing %s failed\n", path);
        return -1;
    }
    return 0;
}

static int path_in(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "scaletool: path too long: %s/%s\n", dir, name);
        return -1;
    }
    return 0;
}

/* ---- certificates ------------------------------------------------------ */

static int new_key(gnutls_x509_privkey_t *k)
{
    int rc = gnutls_x509_privkey_init(k);
    if (rc == 0)
        rc = gnutls_x509_privkey_generate(
            *k, GNUTLS_PK_ECDSA,
            GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    return rc;
}

static int export_key(gnutls_x509_privkey_t k, gnutls_datum_t *out)
{
    return gnutls_x509_privkey_export2_pkcs8(k, GNUTLS_X509_FMT_PEM, NULL,
                                             GNUTLS_PKCS_PLAIN, out);
}

/* make_cert fills crt for key: serial, validity, names and extensions; CA
 * or leaf. The caller signs it. */
static int make_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                     const char *cn, int is_ca, const unsigned char *serial,
                     size_t serial_len)
{
    time_t now = time(NULL);
    int rc;
    if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (rc = gnutls_x509_crt_set_serial(crt, serial, serial_len)) < 0 ||
        (rc = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
        (rc = gnutls_x509_crt_set_expiration_time(
             crt, now + (time_t)VALID_DAYS * 86400)) < 0 ||
        (rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                            cn, (unsigned)strlen(cn))) < 0 ||
        (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
        (rc = gnutls_x509_crt_set_basic_constraints(crt, is_ca, -1)) < 0)
        return rc;
    if (is_ca)
        return gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN |
                                                      GNUTLS_KEY_CRL_SIGN);
    if ((rc = gnutls_x509_crt_set_key_usage(
             crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER,
                                                  0)) < 0)
        return rc;
    return gnutls_x509_crt_set_subject_alt_name(
        crt, GNUTLS_SAN_DNSNAME, cn, (unsigned)strlen(cn), GNUTLS_FSAN_SET);
}

struct ca {
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
    gnutls_datum_t pem;
};

static int load_ca(const char *dir, struct ca *ca)
{
    char p[4096];
    gnutls_datum_t d;
    size_t len;
    int rc;
    if (path_in(p, sizeof p, dir, "ca.pem") < 0 ||
        (d.data = (unsigned char *)read_all(p, &len)) == NULL)
        return 1;
    d.size = (unsigned)len;
    ca->pem = d;
    if ((rc = gnutls_x509_crt_init(&ca->crt)) < 0 ||
        (rc = gnutls_x509_crt_import(ca->crt, &d, GNUTLS_X509_FMT_PEM)) < 0)
        return fail_gnutls("importing ca.pem", rc);
    if (path_in(p, sizeof p, dir, "ca.key") < 0 ||
        (d.data = (unsigned char *)read_all(p, &len)) == NULL)
        return 1;
    d.size = (unsigned)len;
    rc = gnutls_x509_privkey_init(&ca->key);
    if (rc == 0)
        rc = gnutls_x509_privkey_import(ca->key, &d, GNUTLS_X509_FMT_PEM);
    free(d.data);
    if (rc < 0)
        return fail_gnutls("importing ca.key", rc);
    return 0;
}

/* sign_leaf signs a leaf for name with key and writes crt (leaf + CA) and
 * the given key PEM. */
static int sign_leaf(const struct ca *ca, gnutls_x509_privkey_t key,
                     const gnutls_datum_t *key_pem, const char *name,
                     const unsigned char *serial, size_t serial_len,
                     const char *crt_path, const char *key_path)
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t pem = {NULL, 0};
    int rc = gnutls_x509_crt_init(&crt);
    if (rc < 0)
        return fail_gnutls("gnutls_x509_crt_init", rc);
    if ((rc = make_cert(crt, key, name, 0, serial, serial_len)) < 0 ||
        (rc = gnutls_x509_crt_sign2(crt, ca->crt, ca->key, GNUTLS_DIG_SHA256,
                                    0)) < 0 ||
        (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem)) < 0) {
        gnutls_x509_crt_deinit(crt);
        return fail_gnutls(name, rc);
    }
    gnutls_x509_crt_deinit(crt);
    rc = write_file(crt_path, pem.data, pem.size, ca->pem.data, ca->pem.size) <
                     0 ||
                 write_file(key_path, key_pem->data, key_pem->size, NULL, 0) < 0
             ? 1
             : 0;
    gnutls_free(pem.data);
    return rc;
}

static int cmd_ca(const char *dir)
{
    gnutls_x509_privkey_t cakey, leafkey;
    gnutls_x509_crt_t crt;
    gnutls_datum_t kpem, cpem, lpem;
    unsigned char serial[16];
    char p[4096];
    int rc;
    if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial)) < 0)
        return fail_gnutls("gnutls_rnd", rc);
    serial[0] &= 0x7f;
    if ((rc = new_key(&cakey)) < 0 || (rc = new_key(&leafkey)) < 0)
        return fail_gnutls("generating a key", rc);
    if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
        (rc = make_cert(crt, cakey, "mta-sts-host scale bench CA", 1, serial,
                        sizeof serial)) < 0 ||
        (rc = gnutls_x509_crt_sign2(crt, crt, cakey, GNUTLS_DIG_SHA256, 0)) <
            0 ||
        (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem)) < 0 ||
        (rc = export_key(cakey, &kpem)) < 0 ||
        (rc = export_key(leafkey, &lpem)) < 0)
        return fail_gnutls("making the CA", rc);
    if (path_in(p, sizeof p, dir, "ca.key") < 0 ||
        write_file(p, kpem.data, kpem.size, NULL, 0) < 0 ||
        path_in(p, sizeof p, dir, "leaf.key") < 0 ||
        write_file(p, lpem.data, lpem.size, NULL, 0) < 0 ||
        path_in(p, sizeof p, dir, "ca.pem") < 0 ||
        write_file(p, cpem.data, cpem.size, NULL, 0) < 0)
        return 1;
    return 0;
}

static int cmd_leaves(const char *dir, const char *outdir, long n)
{
    struct ca ca;
    gnutls_x509_privkey_t key;
    gnutls_datum_t kpem;
    char p[4096], name[256], crtp[4096], keyp[4096];
    size_t len;
    int rc;
    if (load_ca(dir, &ca) != 0 || path_in(p, sizeof p, dir, "leaf.key") < 0 ||
        (kpem.data = (unsigned char *)read_all(p, &len)) == NULL)
        return 1;
    kpem.size = (unsigned)len;
    if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
        (rc = gnutls_x509_privkey_import(key, &kpem, GNUTLS_X509_FMT_PEM)) < 0)
        return fail_gnutls("importing leaf.key", rc);
    for (long i = 1; i <= n; i++) {
        /* Serial: a 1 (positive, never zero) then the index, big-endian. */
        unsigned char serial[9] = {1};
        for (int b = 0; b < 8; b++)
            serial[8 - b] = (unsigned char)((unsigned long)i >> (8 * b));
        int w = snprintf(name, sizeof name, "mta-sts.d%ld.example", i);
        if (w < 0 || (size_t)w >= sizeof name)
            return 1;
        char file[300];
        snprintf(file, sizeof file, "%s.crt", name);
        if (path_in(crtp, sizeof crtp, outdir, file) < 0)
            return 1;
        snprintf(file, sizeof file, "%s.key", name);
        if (path_in(keyp, sizeof keyp, outdir, file) < 0)
            return 1;
        if (sign_leaf(&ca, key, &kpem, name, serial, sizeof serial, crtp,
                      keyp) != 0)
            return 1;
    }
    return 0;
}

static int cmd_one(const char *dir, const char *name, const char *crtp,
                   const char *keyp)
{
    struct ca ca;
    gnutls_x509_privkey_t key;
    gnutls_datum_t kpem;
    unsigned char serial[16];
    int rc;
    if (load_ca(dir, &ca) != 0)
        return 1;
    if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial)) < 0)
        return fail_gnutls("gnutls_rnd", rc);
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x10);
    if ((rc = new_key(&key)) < 0 || (rc = export_key(key, &kpem)) < 0)
        return fail_gnutls("generating a key", rc);
    return sign_leaf(&ca, key, &kpem, name, serial, sizeof serial, crtp, keyp);
}

/* ---- probes ------------------------------------------------------------ */

/* https_get fetches o.path for sni; returns the status and the body (in
 * *body, malloc'd, NUL terminated), or -1. */
static int https_get(const char *sni, char **body, size_t *blen)
{
    int fd, status = -1;
    gnutls_session_t s = tls_connect(o.port, cred, NULL, sni, 1, NULL, &fd);
    const size_t cap = 64 * 1024;
    size_t len, head;
    char *buf = NULL;
    if (s == NULL)
        return -1;
    if ((buf = malloc(cap)) == NULL ||
        (status = http_get(s, o.path, sni, "scaletool", 0, buf, cap, &len,
                           &head)) < 0)
        goto out;
    *blen = len - head;
    memmove(buf, buf + head, *blen);
    buf[*blen] = '\0';
    *body = buf;
    buf = NULL;
out:
    free(buf);
    gnutls_deinit(s);
    close(fd);
    return status;
}

static int served(const char *sni, const char *want, size_t want_len)
{
    char *body = NULL;
    size_t blen = 0;
    int st = https_get(sni, &body, &blen);
    int ok = st == 200 && blen == want_len && memcmp(body, want, blen) == 0;
    free(body);
    return ok;
}

/* presents: the verified handshake for sni shows want (DER) as the leaf. */
static int presents(const char *sni, const gnutls_datum_t *want)
{
    int fd, ok = 0;
    gnutls_session_t s = tls_connect(o.port, cred, NULL, sni, 1, NULL, &fd);
    if (s == NULL)
        return 0;
    unsigned n = 0;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers(s, &n);
    ok = chain != NULL && n > 0 && chain[0].size == want->size &&
         memcmp(chain[0].data, want->data, want->size) == 0;
    gnutls_deinit(s);
    close(fd);
    return ok;
}

/* pause_probe sleeps between probes: -i, or a fiftieth of the time waited
 * so far if that is longer (at most 50 ms), so that the resolution stays
 * within 2 % while a long wait does not take CPU from the server that is
 * busy reloading (every probe is a full handshake). */
static void pause_probe(double since)
{
    long us = (long)((mono() - since) * 1e6 / 50);
    if (us < o.interval_us)
        us = o.interval_us;
    if (us > 50000 && o.interval_us <= 50000)
        us = 50000;
    struct timespec ts = {.tv_sec = us / 1000000,
                          .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* act does what is timed: the renames, the signal, the command. Returns
 * t0. */
static double act(void)
{
    double t0 = now_real();
    for (int i = 0; i < o.n_ren; i++)
        if (rename(o.ren_src[i], o.ren_dst[i]) != 0)
            fprintf(stderr, "scaletool: rename %s %s: %s\n", o.ren_src[i],
                    o.ren_dst[i], strerror(errno));
    if (o.pid > 0 && kill((pid_t)o.pid, SIGHUP) != 0)
        fprintf(stderr, "scaletool: kill %ld: %s\n", o.pid, strerror(errno));
    if (o.cmd != NULL) {
        int rc = system(o.cmd);
        if (rc != 0)
            fprintf(stderr, "scaletool: '%s' exited with %d\n", o.cmd, rc);
    }
    return t0;
}

static int cmd_get(void)
{
    size_t want_len;
    char *want;
    long probes = 0;
    if (o.sni == NULL || o.file == NULL)
        usage();
    if ((want = read_all(o.file, &want_len)) == NULL)
        return 1;
    double t0 = act(), since = mono(), deadline = since + o.secs;
    while (mono() < deadline) {
        probes++;
        if (served(o.sni, want, want_len)) {
            printf("%.6f %.6f %ld\n", t0, now_real(), probes);
            return 0;
        }
        pause_probe(since);
    }
    fprintf(stderr, "scaletool: %s: not served within %.0f s (%ld probes)\n",
            o.sni, o.secs, probes);
    return 1;
}

static int cmd_cert(void)
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t pem, der;
    size_t len;
    long probes = 0;
    int rc;
    if (o.sni == NULL || o.crt == NULL)
        usage();
    if ((pem.data = (unsigned char *)read_all(o.crt, &len)) == NULL)
        return 1;
    pem.size = (unsigned)len;
    if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
        (rc = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM)) < 0 ||
        (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der)) < 0)
        return fail_gnutls(o.crt, rc);
    double t0 = act(), since = mono(), deadline = since + o.secs;
    while (mono() < deadline) {
        probes++;
        if (presents(o.sni, &der)) {
            printf("%.6f %.6f %ld\n", t0, now_real(), probes);
            return 0;
        }
        pause_probe(since);
    }
    fprintf(stderr,
            "scaletool: %s: new certificate not presented within %.0f s "
            "(%ld probes)\n",
            o.sni, o.secs, probes);
    return 1;
}

static int cmd_sample(void)
{
    char *list, *line, *save = NULL;
    size_t n = 0, left, len;
    long probes = 0;
    struct item {
        char *sni, *want;
        size_t want_len;
        int done;
    } *items = NULL;
    if (o.list == NULL || (list = read_all(o.list, NULL)) == NULL)
        usage();
    for (line = strtok_r(list, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        struct item *ni = realloc(items, (n + 1) * sizeof *items);
        if (sp == NULL || ni == NULL)
            return 1;
        items = ni;
        *sp = '\0';
        items[n].sni = line;
        items[n].done = 0;
        if ((items[n].want = read_all(sp + 1, &len)) == NULL)
            return 1;
        items[n].want_len = len;
        n++;
    }
    double t0 = now_real(), t_first = 0, since = mono();
    double deadline = since + o.secs;
    left = n;
    /* The first domain alone first: its time is the first 200. */
    while (n > 0 && mono() < deadline) {
        probes++;
        if (served(items[0].sni, items[0].want, items[0].want_len)) {
            t_first = now_real();
            items[0].done = 1;
            left--;
            break;
        }
        pause_probe(since);
    }
    while (left > 0 && t_first > 0 && mono() < deadline) {
        for (size_t i = 0; i < n && mono() < deadline; i++) {
            if (items[i].done)
                continue;
            probes++;
            if (served(items[i].sni, items[i].want, items[i].want_len)) {
                items[i].done = 1;
                left--;
            }
        }
        if (left > 0)
            pause_probe(since);
    }
    if (left == 0) {
        printf("%.6f %.6f %ld %.6f\n", t0, now_real(), probes, t_first);
        return 0;
    }
    fprintf(stderr, "scaletool: %zu of %zu not served within %.0f s:", left, n,
            o.secs);
    for (size_t i = 0, shown = 0; i < n && shown < 5; i++)
        if (!items[i].done) {
            fprintf(stderr, " %s", items[i].sni);
            shown++;
        }
    fprintf(stderr, "\n");
    return 1;
}

/* http_number fetches o.path over plain HTTP and parses the integer after
 * o.key; -1 when absent or on error. */
static long http_number(void)
{
    int fd = tcp_connect(o.port);
    char req[512], *buf = NULL, *p;
    size_t len = 0, cap = 0;
    long v = -1;
    if (fd < 0)
        return -1;
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n",
                     o.path);
    if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n)
        goto out;
    for (;;) {
        if (cap - len < 65536) {
            size_t ncap = cap ? cap * 2 : 262144;
            char *nb = ncap <= RESP_CAP ? realloc(buf, ncap) : NULL;
            if (nb == NULL)
                goto out;
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    if (buf == NULL)
        goto out;
    buf[len] = '\0';
    if ((p = strstr(buf, o.key)) != NULL) {
        char *end;
        p += strlen(o.key);
        while (*p == ' ')
            p++;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end != p && errno == 0)
            v = x;
    }
out:
    free(buf);
    close(fd);
    return v;
}

static int cmd_gen(void)
{
    long probes = 0, v;
    if (o.key == NULL)
        usage();
    if (o.old_gen < 0) {
        v = http_number();
        printf("%ld\n", v);
        return v < 0;
    }
    double t0 = act(), since = mono(), deadline = since + o.secs;
    while (mono() < deadline) {
        probes++;
        if ((v = http_number()) > o.old_gen) {
            printf("%.6f %.6f %ld\n", t0, now_real(), probes);
            return 0;
        }
        pause_probe(since);
    }
    fprintf(stderr, "scaletool: %s did not pass %ld within %.0f s\n", o.key,
            o.old_gen, o.secs);
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {{NULL, 0, NULL, 0}};
    int c, rc;
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    if (strcmp(mode, "ca") == 0 && argc == 3)
        return cmd_ca(argv[2]);
    if (strcmp(mode, "leaves") == 0 && argc == 5)
        return cmd_leaves(argv[2], argv[3], num(argv[4], 1, 10000000, usage));
    if (strcmp(mode, "one") == 0 && argc == 6)
        return cmd_one(argv[2], argv[3], argv[4], argv[5]);
    optind = 2;
    while ((c = getopt_long(argc, argv, "+p:s:f:a:c:l:u:k:g:K:r:x:d:i:", longs,
                            NULL)) != -1) {
        switch (c) {
        case 'p':
            o.port = (int)num(optarg, 1, 65535, usage);
            break;
        case 's':
            o.sni = optarg;
            break;
        case 'f':
            o.file = optarg;
            break;
        case 'a':
            o.ca = optarg;
            break;
        case 'c':
            o.crt = optarg;
            break;
        case 'l':
            o.list = optarg;
            break;
        case 'u':
            o.path = optarg;
            break;
        case 'k':
            o.key = optarg;
            break;
        case 'g':
            o.old_gen = num(optarg, -1, 1L << 60, usage);
            break;
        case 'K':
            o.pid = num(optarg, 1, 1L << 30, usage);
            break;
        case 'r':
            if (o.n_ren == MAX_RENAMES || optind >= argc)
                usage();
            o.ren_src[o.n_ren] = optarg;
            o.ren_dst[o.n_ren++] = argv[optind++];
            break;
        case 'x':
            o.cmd = optarg;
            break;
        case 'd':
            o.secs = (double)num(optarg, 1, 3600, usage);
            break;
        case 'i':
            o.interval_us = num(optarg, 0, 10000000, usage);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || o.port == 0)
        usage();
    /* A hard bound whatever happens inside a probe. */
    alarm((unsigned)o.secs + 30);
    if (strcmp(mode, "gen") == 0)
        return cmd_gen();
    if (o.ca == NULL)
        usage();
    if ((rc = gnutls_certificate_allocate_credentials(&cred)) < 0)
        return fail_gnutls("credentials", rc);
    if ((rc = gnutls_certificate_set_x509_trust_file(cred, o.ca,
                                                     GNUTLS_X509_FMT_PEM)) <= 0)
        return fail_gnutls(o.ca, rc < 0 ? rc : GNUTLS_E_FILE_ERROR);
    if (strcmp(mode, "get") == 0)
        return cmd_get();
    if (strcmp(mode, "cert") == 0)
        return cmd_cert();
    if (strcmp(mode, "sample") == 0)
        return cmd_sample();
    usage();
}
