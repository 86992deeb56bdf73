/* tlsload.c: the TLS load generator and probe of bench/compare.sh (GnuTLS,
 * loopback only). It measures what wrk cannot: every connection is a new
 * TCP connection and a new TLS handshake, either a full one (no session
 * data offered, ever) or a resumed one (each thread offers the session data
 * of its previous connection, as a real client does), and it reports how
 * many handshakes the server actually resumed. It also times edit-to-served
 * latency over one persistent connection and waits for a server's first
 * 200. It does not verify certificates (the script checks the chain with
 * curl first) and speaks only HTTP/1.1 GET with a Content-Length response.
 * The main thread starts the workers, sleeps, and collects; workers share
 * nothing but atomic counters and the stop flag.
 *
 *   tlsload full   -p PORT [-t THREADS] [-d SECONDS]
 *   tlsload resume -p PORT [-t THREADS] [-d SECONDS]
 *       -> "conns=N secs=S rate=R resumed=K errors=E p50_ms=.. p99_ms=..
 *          proto=... " (the percentiles of connect + handshake + GET +
 *          response, over every successful fetch, in LAT_STEP_US steps)
 *   tlsload wait   -p PORT [-d TIMEOUT]
 *       -> the CLOCK_REALTIME (seconds, 6 decimals) of the first 200
 *   tlsload edits  -p PORT -f FILE [-n EDITS] [-d LIMIT_PER_EDIT] [-j MS]
 *       -> "probe_us=.." then one latency in microseconds per line
 *          ("lost" for an edit not served within the limit); after each
 *          edit a random pause of 20 to 20+MS ms (default 100) so that
 *          edits do not lock onto the phase of a polling watcher; after
 *          3 lost edits in a row it prints "aborted" and stops
 *
 * Common options: -s SNI (default mta-sts.example.com; the Host header
 * too), -u PATH (default /.well-known/mta-sts.txt), -P GnuTLS priority
 * string (default: NORMAL with X25519 first). Every run is bounded:
 * socket timeouts, the -d limits and a hard alarm().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define RESP_MAX (128 * 1024)
#define MAX_THREADS 256

struct opts {
    const char *mode;
    int port;
    const char *sni;
    const char *path;
    int threads;
    double secs;
    const char *file;
    int edits;
    int pause_ms;
};

static struct opts o = {
    .sni = "mta-sts.example.com",
    .path = "/.well-known/mta-sts.txt",
    .threads = 16,
    .secs = 5,
    .edits = 100,
    .pause_ms = 100,
};
/* Groups in the order OpenSSL and BoringSSL clients (Postfix, Gmail) offer
 * them, so that the server does the key exchange senders make it do. */
static const char *prio_text = "NORMAL:-GROUP-ALL:+GROUP-X25519:"
                               "+GROUP-SECP256R1:+GROUP-SECP384R1";
static gnutls_priority_t prio;
static gnutls_certificate_credentials_t cred;
static atomic_int stop;
static atomic_long n_conns, n_resumed, n_errors;
/* Fetch latencies: a histogram of LAT_BUCKETS steps of LAT_STEP_US, the
 * last one holding everything slower. */
#define LAT_STEP_US 50
#define LAT_BUCKETS 40000
static atomic_long lat[LAT_BUCKETS];
static char negotiated[256];
static pthread_mutex_t neg_lock = PTHREAD_MUTEX_INITIALIZER;

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: tlsload full|resume|wait|edits -p PORT "
                    "[-t THREADS] [-d SECONDS] [-f FILE] [-n EDITS] [-j MS] "
                    "[-s SNI] [-u PATH] [-P PRIORITY]\n");
    exit(2);
}

/* tls_open connects and handshakes; with resume data it offers that
 * session. Returns the session (fd in *fdp) or NULL. */
static gnutls_session_t tls_open(const gnutls_datum_t *resume, int *fdp)
{
    return tls_connect(o.port, cred, prio, o.sni, 0, resume, fdp);
}

static void tls_close(gnutls_session_t s, int fd)
{
    gnutls_deinit(s);
    close(fd);
}

static void note_negotiated(gnutls_session_t s)
{
    pthread_mutex_lock(&neg_lock);
    if (negotiated[0] == '\0') {
        const char *group = gnutls_group_get_name(gnutls_group_get(s));
        const char *sig = gnutls_sign_get_name(gnutls_sign_algorithm_get(s));
        snprintf(negotiated, sizeof negotiated,
                 "proto=%s group=%s cipher=%s "
                 "sig=%s",
                 gnutls_protocol_get_name(gnutls_protocol_get_version(s)),
                 group ? group : "-",
                 gnutls_cipher_get_name(gnutls_cipher_get(s)), sig ? sig : "-");
    }
    pthread_mutex_unlock(&neg_lock);
}

/* worker: one connection per request until stop; in resume mode each
 * connection offers the session data of the previous one. */
static void *worker(void *arg)
{
    int resume = *(int *)arg;
    gnutls_datum_t sd = {NULL, 0};
    char *buf = malloc(RESP_MAX);
    if (buf == NULL)
        return NULL;
    while (!atomic_load(&stop)) {
        int fd;
        double t0 = mono();
        gnutls_session_t s = tls_open(resume ? &sd : NULL, &fd);
        if (s == NULL) {
            atomic_fetch_add(&n_errors, 1);
            usleep(1000);
            continue;
        }
        size_t len, head;
        int st = http_get(s, o.path, o.sni, "tlsload", 0, buf, RESP_MAX, &len,
                          &head);
        if (st != 200) {
            atomic_fetch_add(&n_errors, 1);
            tls_close(s, fd);
            continue;
        }
        atomic_fetch_add(&n_conns, 1);
        long b = (long)((mono() - t0) * 1e6) / LAT_STEP_US;
        atomic_fetch_add(&lat[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1], 1);
        if (gnutls_session_is_resumed(s))
            atomic_fetch_add(&n_resumed, 1);
        else
            note_negotiated(s);
        if (resume) {
            gnutls_datum_t nd;
            if (gnutls_session_get_data2(s, &nd) == 0) {
                gnutls_free(sd.data);
                sd = nd;
            }
        }
        tls_close(s, fd);
    }
    gnutls_free(sd.data);
    free(buf);
    return NULL;
}

/* percentile_ms is the latency below which fraction q of the fetches
 * were (the upper edge of its bucket), in milliseconds. */
static double percentile_ms(long total, double q)
{
    long want = (long)((double)total * q + 0.999999), seen = 0;
    for (long b = 0; b < LAT_BUCKETS; b++) {
        seen += atomic_load(&lat[b]);
        if (seen >= want)
            return (double)((b + 1) * LAT_STEP_US) / 1000.0;
    }
    return (double)(LAT_BUCKETS * LAT_STEP_US) / 1000.0;
}

static int run_load(int resume)
{
    pthread_t th[MAX_THREADS];
    double t0 = mono();
    int started = 0;
    for (int i = 0; i < o.threads; i++) {
        if (pthread_create(&th[i], NULL, worker, &resume) != 0)
            break;
        started++;
    }
    if (started == 0)
        return 1;
    struct timespec ts = {.tv_sec = (time_t)o.secs,
                          .tv_nsec =
                              (long)((o.secs - (double)(time_t)o.secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    atomic_store(&stop, 1);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double secs = mono() - t0;
    long c = atomic_load(&n_conns);
    printf("conns=%ld secs=%.3f rate=%.1f resumed=%ld errors=%ld "
           "p50_ms=%.2f p99_ms=%.2f %s\n",
           c, secs, (double)c / secs, atomic_load(&n_resumed),
           atomic_load(&n_errors), percentile_ms(c, 0.50),
           percentile_ms(c, 0.99), negotiated[0] ? negotiated : "proto=-");
    return c > 0 ? 0 : 1;
}

static int run_wait(void)
{
    char *buf = malloc(RESP_MAX);
    double deadline = mono() + o.secs;
    if (buf == NULL)
        return 1;
    while (mono() < deadline) {
        int fd;
        gnutls_session_t s = tls_open(NULL, &fd);
        if (s != NULL) {
            size_t len, head;
            int st = http_get(s, o.path, o.sni, "tlsload", 0, buf, RESP_MAX,
                              &len, &head);
            tls_close(s, fd);
            if (st == 200) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                printf("%lld.%06ld\n", (long long)ts.tv_sec, ts.tv_nsec / 1000);
                free(buf);
                return 0;
            }
        }
        usleep(1000);
    }
    free(buf);
    fprintf(stderr, "tlsload: no 200 within %.0f s\n", o.secs);
    return 1;
}

/* body_has_max_age: the response body carries the line "max_age: V". */
static int body_has_max_age(const char *resp, long v)
{
    const char *body = strstr(resp, "\r\n\r\n");
    char needle[64];
    snprintf(needle, sizeof needle, "max_age: %ld", v);
    size_t nl = strlen(needle);
    for (const char *p = body; p != NULL && (p = strstr(p, needle)) != NULL;
         p += nl) {
        char after = p[nl];
        if (after == '\r' || after == '\n' || after == '\0')
            return 1;
    }
    return 0;
}

/* keep_get: one GET over the persistent connection, reconnecting (once)
 * when the server closed it. */
static int keep_get(gnutls_session_t *s, int *fd, char *buf)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (*s == NULL && (*s = tls_open(NULL, fd)) == NULL)
            return -1;
        size_t len, head;
        int st = http_get(*s, o.path, o.sni, "tlsload", 1, buf, RESP_MAX, &len,
                          &head);
        if (st > 0)
            return st;
        tls_close(*s, *fd);
        *s = NULL;
    }
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_edits(void)
{
    static const char policy[] = "version: STSv1\nmode: testing\n"
                                 "mx: mx1.example.com\nmx: mx2.example.com\n"
                                 "max_age: %ld\n";
    char *buf = malloc(RESP_MAX);
    gnutls_session_t s = NULL;
    int fd = -1;
    if (buf == NULL || o.file == NULL)
        return 1;
    /* The probe's own cost: the median of 200 round trips. */
    double rt[200];
    for (int i = 0; i < 200; i++) {
        double t = mono();
        if (keep_get(&s, &fd, buf) != 200) {
            fprintf(stderr, "tlsload: probe failed\n");
            return 1;
        }
        rt[i] = mono() - t;
    }
    qsort(rt, 200, sizeof rt[0], cmp_double);
    printf("probe_us=%.0f\n", rt[100] * 1e6);
    fflush(stdout);
    srand((unsigned)getpid());
    long base = 604800 + (long)(time(NULL) % 100000) * 10;
    int lost_in_a_row = 0;
    for (int i = 1; i <= o.edits; i++) {
        long v = base + i;
        char text[256];
        int n = snprintf(text, sizeof text, policy, v);
        double t0 = mono();
        int wfd = open(o.file, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (wfd < 0 || write(wfd, text, (size_t)n) != n) {
            perror(o.file);
            return 1;
        }
        close(wfd);
        double got = -1;
        while (mono() - t0 < o.secs) {
            if (keep_get(&s, &fd, buf) == 200 && body_has_max_age(buf, v)) {
                got = mono() - t0;
                break;
            }
            usleep(500);
        }
        if (got < 0) {
            printf("lost\n");
            lost_in_a_row++;
        } else {
            printf("%.0f\n", got * 1e6);
            lost_in_a_row = 0;
        }
        fflush(stdout);
        /* A server that stopped reloading would make the rest take
         * edits x limit: stop early, saying so. */
        if (lost_in_a_row >= 3) {
            printf("aborted\n");
            break;
        }
        /* A random pause so that edits do not lock onto a timer's phase. */
        usleep((useconds_t)(20000 + rand() % (o.pause_ms * 1000 + 1)));
    }
    if (s != NULL)
        tls_close(s, fd);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    o.mode = argv[1];
    int c;
    optind = 2;
    while ((c = getopt(argc, argv, "p:t:d:f:n:j:s:u:P:")) != -1) {
        switch (c) {
        case 'p':
            o.port = (int)num(optarg, 1, 65535, usage);
            break;
        case 't':
            o.threads = (int)num(optarg, 1, MAX_THREADS, usage);
            break;
        case 'd':
            o.secs = (double)num(optarg, 1, 3600, usage);
            break;
        case 'f':
            o.file = optarg;
            break;
        case 'n':
            o.edits = (int)num(optarg, 1, 100000, usage);
            break;
        case 'j':
            o.pause_ms = (int)num(optarg, 1, 60000, usage);
            break;
        case 's':
            o.sni = optarg;
            break;
        case 'u':
            o.path = optarg;
            break;
        case 'P':
            prio_text = optarg;
            break;
        default:
            usage();
        }
    }
    if (o.port == 0)
        usage();
    signal(SIGPIPE, SIG_IGN);
    /* A hard bound whatever happens: the load runs stop themselves; this
     * only fires on a hang. Edits take at most -d per edit plus pauses. */
    unsigned bound = (unsigned)o.secs + 30;
    if (strcmp(o.mode, "edits") == 0)
        bound =
            (unsigned)(o.edits * (o.secs + 0.02 + o.pause_ms / 1000.0)) + 60;
    alarm(bound);
    if (gnutls_global_init() < 0 ||
        gnutls_certificate_allocate_credentials(&cred) < 0)
        return 1;
    const char *err = NULL;
    if (gnutls_priority_init2(&prio, prio_text, &err,
                              GNUTLS_PRIORITY_INIT_DEF_APPEND) < 0) {
        fprintf(stderr, "tlsload: bad priority at '%s'\n", err ? err : "?");
        return 1;
    }
    int rc;
    if (strcmp(o.mode, "full") == 0)
        rc = run_load(0);
    else if (strcmp(o.mode, "resume") == 0)
        rc = run_load(1);
    else if (strcmp(o.mode, "wait") == 0)
        rc = run_wait();
    else if (strcmp(o.mode, "edits") == 0)
        rc = run_edits();
    else
        usage();
    gnutls_priority_deinit(prio);
    gnutls_certificate_free_credentials(cred);
    gnutls_global_deinit();
    return rc;
}
