/*
 * tlsrpt_recv: TLS report reception (see tlsrpt_recv.h). The rate limiter
 * has its own lock (it is asked before any body is read); the bytes held
 * by all connections are an atomic counter. Whole bodies go into a bounded
 * queue; the writer thread, the only one that inflates, parses and stores,
 * takes every report waiting, stores them in one transaction (one fsync)
 * and then answers each through its callback. I/O through the store; HTTP
 * worker threads call it, the writer thread is its own.
 */
#include "tlsrpt_recv.h"

#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "dnsname.h"
#include "tlsrpt_parse.h"
#include "tlsrpt_rate.h"
#include "tlsrpt_store.h"
#include "tlsrpt_tally.h"

/* All connections together hold at most this many report bodies' worth. */
#define HELD_BODIES 4
/* Reports waiting for the writer at most; one more is answered 503. The
 * bytes they hold are capped by HELD_BODIES already; this caps the number
 * of small ones, and so the wait of the last in a batch. */
#define QUEUE_MAX 64
/* The writer's nice value (Linux: per thread): on a host short of CPU the
 * HTTP workers, and so the policy fetches, come first; reports wait in the
 * queue, and past QUEUE_MAX get 503 with Retry-After, which senders
 * honour. */
#define WRITER_NICE 10
/* How often retention runs, and how long a busy or full host asks a sender
 * to wait. */
#define EXPIRE_INTERVAL 3600
#define RETRY_AFTER 300

static const char *const outcome_names[TLSRPT_N_OUTCOMES] = {
    "stored",       "duplicate", "not_a_report", "not_served",  "too_large",
    "rate_limited", "busy",      "no_room",      "store_error",
};

/* A submission waiting for the writer: the body and the snapshot are the
 * request's, which stays suspended (and keeps them) until done is called. */
struct job {
    const struct snapshot *snap;
    const void *body;
    size_t len;
    tlsrpt_done_fn *done;
    void *ctx;
    struct tlsrpt_answer a;
    enum tlsrpt_store_result res;
    bool answered; /* refused before the store; done already called */
};

struct tlsrpt_recv {
    struct tlsrpt_store *store;
    struct tlsrpt_rate *rate;
    pthread_mutex_t rate_lock;
    /* The queue (a ring of QUEUE_MAX), the writer's wake-up and stop flag,
     * under queue_lock. */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_wake;
    struct job queue[QUEUE_MAX];
    size_t q_head, q_len;
    bool stopping;
    bool writer_running;
    pthread_t writer;
    struct tlsrpt_limits lim;
    size_t max_body;
    size_t max_held;
    unsigned retention_days;
    int64_t last_expire; /* the writer's */
    atomic_size_t held;
    atomic_uint_fast64_t counts[TLSRPT_N_OUTCOMES];
    struct tlsrpt_tally *tally;
};

const char *tlsrpt_outcome_name(enum tlsrpt_outcome o)
{
    return o < TLSRPT_N_OUTCOMES ? outcome_names[o] : "unknown";
}

static void *writer_main(void *arg);

struct tlsrpt_recv *tlsrpt_recv_new(const struct config *cfg, struct diag *d)
{
    uint64_t seed = 0;
    struct tlsrpt_recv *rx = calloc(1, sizeof(*rx));
    if (rx == NULL) {
        diag_add(d, DIAG_ERROR, 0, 0, "TLS reports: out of memory");
        return NULL;
    }
    pthread_mutex_init(&rx->rate_lock, NULL);
    pthread_mutex_init(&rx->queue_lock, NULL);
    pthread_cond_init(&rx->queue_wake, NULL);
    tlsrpt_limits_default(&rx->lim);
    rx->max_body = cfg->tlsrpt_max_body;
    rx->max_held = HELD_BODIES * cfg->tlsrpt_max_body;
    rx->retention_days = cfg->tlsrpt_retention_days;
    /* The hash seed keeps clients from aiming at one another's bucket. */
    gnutls_rnd(GNUTLS_RND_NONCE, &seed, sizeof(seed));
    rx->rate = tlsrpt_rate_new(cfg->tlsrpt_rate_limit, seed);
    if (rx->rate == NULL) {
        diag_add(d, DIAG_ERROR, 0, 0, "TLS reports: out of memory");
        goto fail;
    }
    rx->store = tlsrpt_store_open(cfg->state_dir, cfg->tlsrpt_instance,
                                  cfg->tlsrpt_max_disk, d);
    if (rx->store == NULL)
        goto fail;
    char mail[96];
    char *mail_path = tlsrpt_store_file(
        cfg->state_dir,
        tlsrpt_store_mail_instance(cfg->tlsrpt_instance, mail, sizeof(mail)));
    if (mail_path == NULL) {
        diag_add(d, DIAG_ERROR, 0, 0, "TLS reports: out of memory");
        goto fail;
    }
    rx->tally = tlsrpt_tally_open(tlsrpt_store_path(rx->store), mail_path, d);
    free(mail_path);
    if (rx->tally == NULL)
        goto fail;
    int rc = pthread_create(&rx->writer, NULL, writer_main, rx);
    if (rc != 0) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "TLS reports: cannot start the writer thread: %s",
                 strerror(rc));
        goto fail;
    }
    rx->writer_running = true;
    return rx;
fail:
    tlsrpt_recv_free(rx);
    return NULL;
}

void tlsrpt_recv_free(struct tlsrpt_recv *rx)
{
    if (rx == NULL)
        return;
    if (rx->writer_running) {
        /* The writer answers what is queued before it ends. */
        pthread_mutex_lock(&rx->queue_lock);
        rx->stopping = true;
        pthread_cond_signal(&rx->queue_wake);
        pthread_mutex_unlock(&rx->queue_lock);
        pthread_join(rx->writer, NULL);
    }
    tlsrpt_tally_free(rx->tally);
    tlsrpt_store_free(rx->store);
    tlsrpt_rate_free(rx->rate);
    pthread_mutex_destroy(&rx->rate_lock);
    pthread_mutex_destroy(&rx->queue_lock);
    pthread_cond_destroy(&rx->queue_wake);
    free(rx);
}

size_t tlsrpt_recv_max_body(const struct tlsrpt_recv *rx)
{
    return rx->max_body;
}

uint64_t tlsrpt_recv_count(const struct tlsrpt_recv *rx, enum tlsrpt_outcome o)
{
    return o < TLSRPT_N_OUTCOMES ? atomic_load(&rx->counts[o]) : 0;
}

static void answer(struct tlsrpt_recv *rx, struct tlsrpt_answer *a,
                   enum tlsrpt_outcome o, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* answer fills in a and counts the outcome. */
static void answer(struct tlsrpt_recv *rx, struct tlsrpt_answer *a,
                   enum tlsrpt_outcome o, int status, const char *fmt, ...)
{
    va_list ap;
    a->status = status;
    a->retry_after = status == 429 || status == 503 || status == 507
                         ? (status == 429 ? 60 : RETRY_AFTER)
                         : 0;
    va_start(ap, fmt);
    int n = vsnprintf(a->msg, sizeof(a->msg) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        a->msg[0] = '\0';
    else if ((size_t)n >= sizeof(a->msg) - 1)
        memcpy(a->msg + sizeof(a->msg) - 5, "...", 4);
    /* One line, for curl and for a sender's log. */
    size_t len = strlen(a->msg);
    a->msg[len] = '\n';
    a->msg[len + 1] = '\0';
    atomic_fetch_add(&rx->counts[o], 1);
}

bool tlsrpt_recv_admit(struct tlsrpt_recv *rx, const char *client,
                       long long content_length, struct tlsrpt_answer *a)
{
    int64_t ms = 0;
    bool ok;
    if (content_length >= 0 &&
        (unsigned long long)content_length > (unsigned long long)rx->max_body) {
        answer(rx, a, TLSRPT_TOO_LARGE, 413,
               "report too large: %lld bytes announced, at most %zu taken",
               content_length, rx->max_body);
        return false;
    }
    ms = mono_ms();
    pthread_mutex_lock(&rx->rate_lock);
    ok = tlsrpt_rate_allow(rx->rate, client, ms);
    pthread_mutex_unlock(&rx->rate_lock);
    if (!ok)
        answer(rx, a, TLSRPT_RATE_LIMITED, 429,
               "too many reports from %s; try again later", client);
    return ok;
}

bool tlsrpt_recv_hold(struct tlsrpt_recv *rx, size_t *held, size_t n,
                      struct tlsrpt_answer *a)
{
    if (n > rx->max_body - *held) {
        answer(rx, a, TLSRPT_TOO_LARGE, 413,
               "report too large: more than %zu bytes", rx->max_body);
        return false;
    }
    size_t before = atomic_fetch_add(&rx->held, n);
    if (before + n > rx->max_held) {
        atomic_fetch_sub(&rx->held, n);
        answer(rx, a, TLSRPT_BUSY, 503,
               "too many reports arriving at once; try again later");
        return false;
    }
    *held += n;
    return true;
}

void tlsrpt_recv_release(struct tlsrpt_recv *rx, size_t *held)
{
    if (rx != NULL && *held > 0)
        atomic_fetch_sub(&rx->held, *held);
    *held = 0;
}

/* first_error is the first error message in d. */
static const char *first_error(const struct diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->entries[i].severity == DIAG_ERROR)
            return d->entries[i].msg;
    return "no reason recorded";
}

/* served says whether snap (a const struct snapshot *) serves domain's
 * policy host. */
static bool served(const char *domain, const void *snap)
{
    char host[DNSNAME_MAX + 16];
    int n = snprintf(host, sizeof(host), "mta-sts.%s", domain);
    return n > 0 && (size_t)n < sizeof(host) &&
           snapshot_find(snap, host) != NULL;
}

/* unserved returns the first policy-domain of r that snap does not serve,
 * or NULL when it serves them all. */
static const char *unserved(const struct tlsrpt_report *r,
                            const struct snapshot *snap)
{
    for (size_t i = 0; i < r->n_policies; i++)
        if (!served(r->policies[i].policy_domain, snap))
            return r->policies[i].policy_domain;
    return NULL;
}

void tlsrpt_recv_metrics(struct tlsrpt_recv *rx, const struct snapshot *snap,
                         struct buf *b, struct diag *d)
{
    tlsrpt_tally_metrics(rx->tally, served, snap, b, d);
}

static void expire(struct tlsrpt_recv *rx, int64_t now)
{
    struct diag d;
    if (now - rx->last_expire < EXPIRE_INTERVAL)
        return;
    rx->last_expire = now;
    diag_init(&d, NULL);
    tlsrpt_store_expire(rx->store, now, rx->retention_days, &d);
    diag_free(&d);
}

static void refuse(struct tlsrpt_recv *rx, struct job *j, enum tlsrpt_outcome o,
                   int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* refuse answers a job that never reaches the store, at once. */
static void refuse(struct tlsrpt_recv *rx, struct job *j, enum tlsrpt_outcome o,
                   int status, const char *fmt, ...)
{
    char msg[sizeof(j->a.msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    answer(rx, &j->a, o, status, "%s", msg);
    j->answered = true;
    j->done(j->ctx, &j->a);
}

/*
 * add_job inflates and parses one report and adds it to the open batch
 * (began: the batch could be started). Refusals are answered at once; a
 * stored report waits for the commit. One parsed report at a time is in
 * memory.
 */
static void add_job(struct tlsrpt_recv *rx, struct job *j, bool began,
                    int64_t now)
{
    struct diag d;
    struct buf json;
    struct tlsrpt_report *r = NULL;
    const char *dom;
    diag_init(&d, "report");
    buf_init(&json, 0);
    j->res = TLSRPT_STORE_FAILED;
    if (tlsrpt_is_gzip(j->body, j->len)) {
        int rc = tlsrpt_inflate(j->body, j->len, &rx->lim, &json, &d);
        if (rc < 0) {
            if (rc == -2)
                refuse(rx, j, TLSRPT_TOO_LARGE, 413, "report too large: %s",
                       first_error(&d));
            else
                refuse(rx, j, TLSRPT_NOT_A_REPORT, 400, "not a TLS report: %s",
                       first_error(&d));
            goto out;
        }
        r = tlsrpt_parse_json(json.data != NULL ? json.data : "", json.len, &d);
    } else {
        r = tlsrpt_parse(j->body, j->len, &rx->lim, &d);
    }
    if (r == NULL) {
        refuse(rx, j, TLSRPT_NOT_A_REPORT, 400, "not a TLS report: %s",
               first_error(&d));
        goto out;
    }
    if ((dom = unserved(r, j->snap)) != NULL) {
        refuse(rx, j, TLSRPT_NOT_SERVED, 403,
               "policy-domain %s is not served here", dom);
        goto out;
    }
    if (began)
        j->res = tlsrpt_store_add(rx->store, r, j->body, j->len, now, &d);
out:
    tlsrpt_report_free(r);
    buf_free(&json);
    diag_free(&d);
}

/* store_batch stores the jobs of one batch in one transaction and answers
 * each: 200 only once the commit returned. */
static void store_batch(struct tlsrpt_recv *rx, struct job *jobs, size_t n)
{
    struct diag d;
    int64_t now = (int64_t)time(NULL);
    diag_init(&d, NULL);
    expire(rx, now);
    bool began = tlsrpt_store_begin(rx->store, &d) == 0;
    for (size_t i = 0; i < n; i++)
        add_job(rx, &jobs[i], began, now);
    bool committed = began && tlsrpt_store_commit(rx->store, &d) == 0;
    for (size_t i = 0; i < n; i++) {
        struct job *j = &jobs[i];
        if (j->answered)
            continue;
        if (!committed || j->res == TLSRPT_STORE_FAILED)
            answer(rx, &j->a, TLSRPT_STORE_ERROR, 503,
                   "the report could not be stored; try again later");
        else if (j->res == TLSRPT_STORE_ADDED)
            answer(rx, &j->a, TLSRPT_STORED, 200, "stored");
        else if (j->res == TLSRPT_STORE_DUPLICATE)
            answer(rx, &j->a, TLSRPT_DUPLICATE, 200, "already stored");
        else
            answer(rx, &j->a, TLSRPT_NO_ROOM, 507,
                   "no room for more reports; try again later");
        j->done(j->ctx, &j->a);
    }
    diag_free(&d);
}

/* writer_main is the writer thread: it takes every report waiting, stores
 * them as one batch, and sleeps while there is none; asked to stop, it
 * first stores what is queued. */
static void *writer_main(void *arg)
{
    struct tlsrpt_recv *rx = arg;
    struct job batch[QUEUE_MAX];
    /* Best effort: at the default priority it still works, only sooner. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WRITER_NICE);
    pthread_mutex_lock(&rx->queue_lock);
    for (;;) {
        while (rx->q_len == 0 && !rx->stopping)
            pthread_cond_wait(&rx->queue_wake, &rx->queue_lock);
        if (rx->q_len == 0)
            break;
        size_t n = rx->q_len;
        for (size_t i = 0; i < n; i++)
            batch[i] = rx->queue[(rx->q_head + i) % QUEUE_MAX];
        rx->q_head = (rx->q_head + n) % QUEUE_MAX;
        rx->q_len = 0;
        pthread_mutex_unlock(&rx->queue_lock);
        store_batch(rx, batch, n);
        pthread_mutex_lock(&rx->queue_lock);
    }
    pthread_mutex_unlock(&rx->queue_lock);
    return NULL;
}

bool tlsrpt_recv_submit(struct tlsrpt_recv *rx, const struct snapshot *snap,
                        const void *body, size_t len, tlsrpt_done_fn *done,
                        void *ctx, struct tlsrpt_answer *a)
{
    bool queued = false;
    pthread_mutex_lock(&rx->queue_lock);
    if (!rx->stopping && rx->q_len < QUEUE_MAX) {
        struct job *j = &rx->queue[(rx->q_head + rx->q_len) % QUEUE_MAX];
        *j = (struct job){
            .snap = snap, .body = body, .len = len, .done = done, .ctx = ctx};
        rx->q_len++;
        queued = true;
        pthread_cond_signal(&rx->queue_wake);
    }
    pthread_mutex_unlock(&rx->queue_lock);
    if (!queued)
        answer(rx, a, TLSRPT_BUSY, 503,
               "too many reports waiting to be stored; try again later");
    return queued;
}
