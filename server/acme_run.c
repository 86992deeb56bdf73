/*
 * acme_run: the ACME thread (see acme_run.h). One loop: read the current
 * snapshot into the table of names, ask acme_sched what each needs and
 * when, do the one action that is due first (fetch a renewal window, or
 * order under the name's lock), write what changed, then sleep until the
 * next action, a published snapshot or the stop. The table is guarded by
 * one mutex, held only between network calls, so /metrics and /status
 * never wait for the CA.
 */
#include "acme_run.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "acme_client.h"
#include "acme_csr.h"
#include "acme_key.h"
#include "acme_sched.h"
#include "acme_state.h"
#include "certs.h"
#include "check_dns.h"
#include "dnsname.h"
#include "snapshot.h"

#define PATH_LEN 4096
#define ERR_LEN 768
/* An account key and a chain are far below this; a larger PEM is not
 * ours. */
#define PEM_MAX (64u * 1024)
/* With nothing due, the table is looked at again after this long anyway
 * (the clock may have jumped; a cert_dir pair may have expired). */
#define IDLE_S 3600
/* A name that does not resolve is looked up again after the back-off, but
 * at least this often: no CA is asked, and the operator may be fixing it. */
#define DNS_RETRY_MAX_S 600

enum { RESULT_ISSUED, RESULT_FAILED, N_RESULTS };
static const char *const result_names[N_RESULTS] = {"issued", "failed"};

/* One certificate the thread looks after: a name and a key kind. */
struct entry {
    char host[DNSNAME_MAX + 1];
    char domain[DNSNAME_MAX + 1]; /* the served domain (metric label) */
    enum acme_state_kind kind;
    struct acme_sched_name s;
    char last_error[ERR_LEN];
    int64_t hold_until;    /* not before (a held lock, a Retry-After, DNS) */
    unsigned dns_failures; /* lookups in a row that found no address */
    int64_t next;          /* when the next action is due, for /status */
    bool wanted;           /* served, and no cert_dir pair covers it */
};

struct acme_run {
    const struct config *cfg;
    const struct logger *lg;
    struct store *st;
    struct acme_chal *chal;
    char certs_dir[PATH_LEN]; /* state_dir/acme/certs, with a '/' */

    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, woken;
    struct acme_client *client; /* for acme_run_stop's cancel */

    /* Under mu: the names and the counters. */
    struct entry *e;
    size_t n, cap;
    unsigned long long orders[N_RESULTS];
    unsigned long long chal_failures[CONFIG_ACME_N_CHALLENGES];

    /* The thread's own. */
    struct acme_state *state;
    struct check_dns *dns;
    struct acme_key *account;
    struct acme_pace pace;
    bool ari;
};

struct acme_run *acme_run_new(const struct config *cfg, const struct logger *lg,
                              struct store *st, struct acme_chal *chal)
{
    struct acme_run *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->cfg = cfg;
    r->lg = lg;
    r->st = st;
    r->chal = chal;
    size_t len;
    if (acme_state_certs_dir(cfg->state_dir, r->certs_dir,
                             sizeof(r->certs_dir) - 1) < 0) {
        free(r);
        return NULL;
    }
    len = strlen(r->certs_dir);
    r->certs_dir[len] = '/';
    r->certs_dir[len + 1] = '\0';
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    return r;
}

void acme_run_wake(void *ctx)
{
    struct acme_run *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->woken = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* stopping tells whether the thread should end (takes mu). */
static bool stopping(struct acme_run *r)
{
    pthread_mutex_lock(&r->mu);
    bool s = r->stop;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* sleep_until waits until t, a wake-up or the stop. */
static void sleep_until(struct acme_run *r, int64_t t)
{
    struct timespec ts = {(time_t)t, 0};
    pthread_mutex_lock(&r->mu);
    while (!r->stop && !r->woken && time(NULL) < t)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT)
            break;
    r->woken = false;
    pthread_mutex_unlock(&r->mu);
}

static const char *kind_name(enum acme_state_kind k)
{
    return k == ACME_STATE_RSA ? "rsa" : "ecdsa";
}

/* cert_validity reads the leaf's validity from a PEM chain; -1 when it is
 * not a certificate. */
static int cert_validity(const char *pem, size_t len, int64_t *nb, int64_t *na)
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned)len};
    int rc = -1;
    if (gnutls_x509_crt_init(&crt) < 0)
        return -1;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0) {
        *nb = gnutls_x509_crt_get_activation_time(crt);
        *na = gnutls_x509_crt_get_expiration_time(crt);
        rc = *nb > 0 && *na > *nb ? 0 : -1;
    }
    gnutls_x509_crt_deinit(crt);
    return rc;
}

/*
 * load_cert reads the entry's certificate from the state directory into
 * its validity (0/0 when there is none or it is unreadable) and, when pem
 * is not NULL, hands the file over. Called without mu: the validity is
 * written by the ACME thread only, and read by others under mu.
 */
static void load_cert(struct acme_run *r, struct entry *e, char **pem,
                      size_t *pem_len)
{
    char *data = NULL, err[512];
    size_t len = 0;
    int64_t nb = 0, na = 0;
    int rc = acme_state_load_cert(r->state, e->host, e->kind, &data, &len, err,
                                  sizeof(err));
    if (rc < 0)
        log_msg(r->lg, LOG_LEVEL_WARN, "acme: %s: %s", e->host, err);
    if (rc == 1 && cert_validity(data, len, &nb, &na) < 0) {
        log_msg(r->lg, LOG_LEVEL_WARN,
                "acme: %s: the %s certificate in the state directory is "
                "unreadable; ordering a new one",
                e->host, kind_name(e->kind));
        nb = na = 0;
    }
    pthread_mutex_lock(&r->mu);
    e->s.not_before = nb;
    e->s.not_after = na;
    pthread_mutex_unlock(&r->mu);
    if (pem != NULL && na != 0) {
        *pem = data;
        *pem_len = len;
        return;
    }
    if (pem != NULL)
        *pem = NULL;
    free(data);
}

/* save_sched writes the entry's schedule; a failure is logged, and the
 * schedule is kept in memory. */
static void save_sched(struct acme_run *r, const struct entry *e)
{
    char err[512];
    if (acme_state_save_sched(r->state, e->host, e->kind, &e->s, e->last_error,
                              err, sizeof(err)) < 0)
        log_msg(r->lg, LOG_LEVEL_WARN, "acme: %s: keeping the schedule: %s",
                e->host, err);
}

/* from_file tells whether the pair came from cert_dir (not ours, not the
 * development pair). */
static bool from_file(const struct acme_run *r, const struct certs_entry *c)
{
    return c != NULL && !certs_entry_dev(c) &&
           strncmp(certs_entry_source(c), r->certs_dir, strlen(r->certs_dir)) !=
               0;
}

/* add_entry appends a new entry for (host, kind), its schedule read back
 * from the state directory. NULL when memory runs out. */
static struct entry *add_entry(struct acme_run *r, const char *domain,
                               const char *host, enum acme_state_kind kind)
{
    char err[512];
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        pthread_mutex_lock(&r->mu);
        struct entry *v = realloc(r->e, cap * sizeof(*v));
        if (v != NULL) {
            r->e = v;
            r->cap = cap;
        }
        pthread_mutex_unlock(&r->mu);
        if (v == NULL)
            return NULL;
    }
    struct entry ne = {0};
    snprintf(ne.host, sizeof(ne.host), "%s", host);
    snprintf(ne.domain, sizeof(ne.domain), "%s", domain);
    ne.kind = kind;
    int rc = acme_state_load_sched(r->state, host, kind, &ne.s, ne.last_error,
                                   sizeof(ne.last_error), err, sizeof(err));
    if (rc < 0)
        log_msg(r->lg, LOG_LEVEL_WARN, "acme: %s: starting a new schedule: %s",
                host, err);
    pthread_mutex_lock(&r->mu);
    r->e[r->n] = ne;
    struct entry *e = &r->e[r->n++];
    pthread_mutex_unlock(&r->mu);
    load_cert(r, e, NULL, NULL);
    return e;
}

static struct entry *find_entry(struct acme_run *r, const char *host,
                                enum acme_state_kind kind)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->e[i].kind == kind && strcmp(r->e[i].host, host) == 0)
            return &r->e[i];
    return NULL;
}

/* refresh marks the names the current snapshot wants from ACME. */
static void refresh(struct acme_run *r)
{
    struct snapshot *s = store_acquire(r->st);
    enum acme_state_kind kinds[2];
    size_t n_kinds = 0;
    if (r->cfg->acme_key_type != CONFIG_ACME_KEY_RSA_2048)
        kinds[n_kinds++] = ACME_STATE_ECDSA;
    if (r->cfg->acme_key_type != CONFIG_ACME_KEY_ECDSA_P256)
        kinds[n_kinds++] = ACME_STATE_RSA;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        r->e[i].wanted = false;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; s != NULL && i < snapshot_count(s); i++) {
        const struct plan_domain *d = snapshot_at(s, i);
        /* A cert_dir pair (by hand, certbot, cert-manager) always wins. */
        bool file = from_file(r, d->cert[0]) || from_file(r, d->cert[1]);
        for (size_t k = 0; k < n_kinds; k++) {
            struct entry *e = find_entry(r, d->host, kinds[k]);
            if (e == NULL && !file &&
                (e = add_entry(r, d->name, d->host, kinds[k])) == NULL) {
                log_msg(r->lg, LOG_LEVEL_ERROR, "acme: %s: out of memory",
                        d->host);
                continue;
            }
            if (e != NULL) {
                pthread_mutex_lock(&r->mu);
                e->wanted = !file;
                pthread_mutex_unlock(&r->mu);
            }
        }
    }
    snapshot_release(s);
}

/* fail records a failure of e (its back-off starts now). */
static void fail(struct acme_run *r, struct entry *e, int64_t now,
                 const char *msg)
{
    pthread_mutex_lock(&r->mu);
    e->s.failures++;
    e->s.failed_at = now;
    snprintf(e->last_error, sizeof(e->last_error), "%s", msg);
    pthread_mutex_unlock(&r->mu);
    save_sched(r, e);
    int64_t wait = acme_sched_backoff(e->s.failures);
    if (e->hold_until - now > wait)
        wait = e->hold_until - now;
    log_msg(r->lg, LOG_LEVEL_WARN,
            "acme: %s (%s): %s; failure %u in a row, next try in %lld s",
            e->host, kind_name(e->kind), msg, e->s.failures, (long long)wait);
}

/* resolves tells whether host has an address (A or AAAA); why says what
 * went wrong otherwise. */
static bool resolves(struct acme_run *r, const char *host, char *why,
                     size_t whylen)
{
    static const enum check_rrtype types[] = {CHECK_RR_A, CHECK_RR_AAAA};
    char err[512] = "";
    for (size_t i = 0; i < 2; i++) {
        struct check_answer a = {0};
        int rc = check_dns_lookup(r->dns, host, types[i], &a, err, sizeof(err));
        size_t n = a.n;
        check_answer_free(&a);
        if (rc == 0 && n > 0)
            return true;
    }
    if (err[0] != '\0')
        snprintf(why, whylen, "%s does not resolve (%s); point it at this host",
                 host, err);
    else
        snprintf(why, whylen, "%s does not resolve; point it at this host",
                 host);
    return false;
}

/* fetch_window asks the CA when to renew e's certificate (RFC 9773). */
static void fetch_window(struct acme_run *r, struct entry *e, int64_t now)
{
    char *pem = NULL;
    size_t len = 0;
    struct acme_renewal *w = NULL;
    struct acme_err ae;
    int64_t retry = -1;
    uint64_t rnd = 0;
    load_cert(r, e, &pem, &len);
    if (pem == NULL)
        return;
    int rc = acme_client_renewal_info(r->client, pem, len, &w, &retry, &ae);
    free(pem);
    if (rc == 1) {
        r->ari = false;
        return;
    }
    if (rc < 0) {
        if (!ae.stopped) /* a shutdown is no failure of the name */
            fail(r, e, now, ae.msg);
        return;
    }
    gnutls_rnd(GNUTLS_RND_NONCE, &rnd, sizeof(rnd));
    pthread_mutex_lock(&r->mu);
    int picked = acme_sched_set_window(&e->s, w->start, w->end, rnd);
    e->s.ari_next = now + acme_sched_ari_retry(retry);
    if (picked >= 0) {
        e->s.failures = 0;
        e->last_error[0] = '\0';
    }
    pthread_mutex_unlock(&r->mu);
    if (picked < 0)
        fail(r, e, now, "the CA's renewal window ends before it starts");
    else
        log_msg(r->lg, LOG_LEVEL_INFO,
                "acme: %s (%s): renewal window %lld..%lld, renewing at %lld%s, "
                "asking again at %lld",
                e->host, kind_name(e->kind), (long long)w->start,
                (long long)w->end, (long long)e->s.renew_at,
                picked == 1 ? " (picked)" : "", (long long)e->s.ari_next);
    save_sched(r, e);
    acme_renewal_free(w);
}

static void count_challenge(struct acme_run *r, const char *type)
{
    for (size_t t = 0; t < CONFIG_ACME_N_CHALLENGES; t++)
        if (strcmp(type, config_acme_challenge_name(
                             (enum config_acme_challenge)t)) == 0)
            r->chal_failures[t]++;
}

/* issue places e's order and writes the certificate. Called with e's lock
 * held and the pace spent. */
static void issue(struct acme_run *r, struct entry *e, const char *pem,
                  size_t pem_len, int64_t now)
{
    const char *types[CONFIG_ACME_N_CHALLENGES];
    const char *names[1] = {e->host};
    struct buf id, chain, keypem;
    struct acme_err ae;
    char err[512];
    buf_init(&id, 4096);
    buf_init(&chain, ACME_CHAIN_MAX);
    buf_init(&keypem, PEM_MAX);
    for (size_t i = 0; i < r->cfg->n_acme_challenges; i++)
        types[i] = config_acme_challenge_name(r->cfg->acme_challenges[i]);
    /* RFC 9773 §5: a renewal tells the CA which certificate it replaces. */
    bool replaces = pem != NULL && r->ari &&
                    acme_cert_id(pem, pem_len, &id, err, sizeof(err)) == 0 &&
                    buf_append(&id, "", 1) == 0;
    struct acme_key *ck = acme_key_generate(
        e->kind == ACME_STATE_RSA ? ACME_KEY_RSA_2048 : ACME_KEY_ECDSA_P256,
        err, sizeof(err));
    if (ck == NULL) {
        fail(r, e, now, err);
        goto out;
    }
    log_msg(r->lg, LOG_LEVEL_INFO, "acme: %s (%s): ordering%s%s", e->host,
            kind_name(e->kind), replaces ? ", replacing " : "",
            replaces ? id.data : "");
    struct acme_issue_req req = {names,
                                 1,
                                 types,
                                 r->cfg->n_acme_challenges,
                                 replaces ? id.data : NULL,
                                 ck,
                                 r->chal};
    int rc = acme_client_issue(r->client, &req, &chain, &ae);
    if (rc < 0 && ae.kind == ACME_ERROR_ALREADY_REPLACED &&
        req.replaces != NULL) {
        /* RFC 9773 §5: the CA says that certificate was replaced already
         * (by a replica, or an order the CA finished after a crash here):
         * the renewal is then an order without replaces. A failed order
         * wrote nothing to chain. */
        log_msg(r->lg, LOG_LEVEL_INFO,
                "acme: %s (%s): the CA says %s was replaced already; "
                "ordering without replaces",
                e->host, kind_name(e->kind), req.replaces);
        req.replaces = NULL;
        rc = acme_client_issue(r->client, &req, &chain, &ae);
    }
    if (rc < 0 && ae.stopped) {
        /* Cut short by the shutdown: no failure of the name (no back-off
         * waits for it at the next start). */
        log_msg(r->lg, LOG_LEVEL_INFO,
                "acme: %s (%s): order stopped by the shutdown: %s", e->host,
                kind_name(e->kind), ae.msg);
        goto out;
    }
    if (rc < 0) {
        pthread_mutex_lock(&r->mu);
        r->orders[RESULT_FAILED]++;
        if (ae.challenge[0] != '\0')
            count_challenge(r, ae.challenge);
        if (ae.retry_after > 0)
            e->hold_until = now + ae.retry_after;
        pthread_mutex_unlock(&r->mu);
        fail(r, e, now, ae.msg);
        goto out;
    }
    if (acme_key_pem(ck, &keypem, err, sizeof(err)) < 0 ||
        acme_state_save_cert(r->state, e->host, e->kind, chain.data, chain.len,
                             keypem.data, keypem.len, err, sizeof(err)) < 0) {
        pthread_mutex_lock(&r->mu);
        r->orders[RESULT_FAILED]++;
        pthread_mutex_unlock(&r->mu);
        fail(r, e, now, err);
        goto out;
    }
    pthread_mutex_lock(&r->mu);
    r->orders[RESULT_ISSUED]++;
    e->s.failures = 0;
    e->s.failed_at = 0;
    /* The window was the old certificate's: ask about the new one now. */
    e->s.window_start = e->s.window_end = e->s.renew_at = e->s.ari_next = 0;
    e->last_error[0] = '\0';
    pthread_mutex_unlock(&r->mu);
    load_cert(r, e, NULL, NULL);
    save_sched(r, e);
    log_msg(r->lg, LOG_LEVEL_INFO,
            "acme: %s (%s): certificate issued, valid until %lld, written to "
            "%s%s.%s.pem",
            e->host, kind_name(e->kind), (long long)e->s.not_after,
            r->certs_dir, e->host, kind_name(e->kind));
out:
    if (keypem.data != NULL)
        memset(keypem.data, 0, keypem.len);
    acme_key_free(ck);
    buf_free(&id);
    buf_free(&chain);
    buf_free(&keypem);
}

/*
 * order runs one due order for e: the name must resolve (else a per-name
 * problem that places no order), its lock must be free (else it is looked
 * at again later), no fresh certificate may have appeared meanwhile (a
 * replica's), and the pace must allow it (the loop waits for the pace
 * before it calls this; another thread never spends it, so this is a
 * safety net).
 */
static void order(struct acme_run *r, struct entry *e, int64_t now)
{
    char why[ERR_LEN], *pem = NULL;
    size_t len = 0;
    struct acme_state_lock *lock = NULL;
    if (!resolves(r, e->host, why, sizeof(why))) {
        /* Nothing reached the CA: the CA's back-off is not touched, and
         * the name is looked up again soon (the operator is pointing the
         * name at this host, or about to). */
        pthread_mutex_lock(&r->mu);
        e->dns_failures++;
        int64_t wait = acme_sched_backoff(e->dns_failures);
        if (wait > DNS_RETRY_MAX_S)
            wait = DNS_RETRY_MAX_S;
        e->hold_until = now + wait;
        snprintf(e->last_error, sizeof(e->last_error), "%s", why);
        pthread_mutex_unlock(&r->mu);
        save_sched(r, e);
        log_msg(r->lg, LOG_LEVEL_WARN,
                "acme: %s (%s): %s; no order placed, looking again in %lld s",
                e->host, kind_name(e->kind), why, (long long)wait);
        return;
    }
    e->dns_failures = 0;
    int rc = acme_state_lock(r->state, e->host, &lock, why, sizeof(why));
    if (rc != 0) {
        log_msg(r->lg, rc > 0 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
                "acme: %s: %s %s; looking again in %d s", e->host,
                rc > 0 ? "another instance is ordering it:" : "cannot lock:",
                why, ACME_RUN_LOCK_RETRY_S);
        pthread_mutex_lock(&r->mu);
        e->hold_until = now + ACME_RUN_LOCK_RETRY_S;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    /* Under the lock, the file and the schedule are as the last holder
     * left them: another instance may have renewed it meanwhile. */
    char err[512];
    pthread_mutex_lock(&r->mu);
    acme_state_load_sched(r->state, e->host, e->kind, &e->s, e->last_error,
                          sizeof(e->last_error), err, sizeof(err));
    pthread_mutex_unlock(&r->mu);
    load_cert(r, e, &pem, &len);
    struct acme_sched_next nx = acme_sched_next(&e->s, r->ari, now);
    if (nx.what != ACME_SCHED_ORDER || nx.at > now) {
        log_msg(r->lg, LOG_LEVEL_INFO,
                "acme: %s (%s): a current certificate is there already "
                "(valid until %lld); nothing to order",
                e->host, kind_name(e->kind), (long long)e->s.not_after);
        goto out;
    }
    if (acme_pace_take(&r->pace, now) < 0) {
        log_msg(r->lg, LOG_LEVEL_INFO,
                "acme: %s (%s): order pace reached; ordering at %lld", e->host,
                kind_name(e->kind), (long long)acme_pace_when(&r->pace, now));
        goto out;
    }
    issue(r, e, pem, len, now);
out:
    free(pem);
    acme_state_unlock(lock);
}

/* account_key loads the account key or makes it (under the "account"
 * lock, so replicas share one). NULL with err filled. */
static struct acme_key *account_key(struct acme_run *r, bool *busy, char *err,
                                    size_t errlen)
{
    struct acme_state_lock *lock = NULL;
    struct acme_key *k = NULL;
    struct buf pem;
    char *data = NULL;
    size_t len = 0;
    buf_init(&pem, PEM_MAX);
    int rc = acme_state_lock(r->state, "account", &lock, err, errlen);
    *busy = rc > 0;
    if (rc != 0) {
        if (rc > 0)
            snprintf(err, errlen,
                     "the account is being made by another "
                     "instance");
        goto out;
    }
    rc = acme_state_load_account_key(r->state, &data, &len, err, errlen);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        k = acme_key_from_pem(data, len, err, errlen);
        goto out;
    }
    k = acme_key_generate(ACME_KEY_ECDSA_P256, err, errlen);
    if (k != NULL && (acme_key_pem(k, &pem, err, errlen) < 0 ||
                      acme_state_save_account_key(r->state, pem.data, pem.len,
                                                  err, errlen) < 0)) {
        acme_key_free(k);
        k = NULL;
    }
    if (k != NULL)
        log_msg(r->lg, LOG_LEVEL_INFO, "acme: made a new account key");
out:
    if (pem.data != NULL)
        memset(pem.data, 0, pem.len);
    buf_free(&pem);
    free(data);
    acme_state_unlock(lock);
    return k;
}

/* setup gets the thread to where it can order: the state directory, the
 * resolver, the account key, the account at the CA. Retried with the
 * back-off until it works or the thread stops; -1 when stopped. */
static int setup(struct acme_run *r)
{
    char err[ERR_LEN];
    unsigned failures = 0;
    struct acme_err ae;
    const struct acme_directory *dir;
    struct acme_account_req req = {r->cfg->acme_email, r->cfg->acme_agree_tos,
                                   r->cfg->acme_eab_kid,
                                   r->cfg->acme_eab_hmac_key};
    while (!stopping(r)) {
        bool created = false;
        const char *what = err;
        if (r->state == NULL)
            r->state = acme_state_open(r->cfg->state_dir, err, sizeof(err));
        if (r->state != NULL && r->dns == NULL)
            /* Only whether the name resolves matters here, not DNSSEC. */
            r->dns =
                check_dns_new(r->cfg->acme_resolver, "none", err, sizeof(err));
        bool busy = false;
        if (r->dns != NULL && r->account == NULL)
            r->account = account_key(r, &busy, err, sizeof(err));
        /* A replica holds the account lock only while it reads or makes
         * the key: a second is enough, and that is no failure. */
        if (busy) {
            sleep_until(r, (int64_t)time(NULL) + 1);
            continue;
        }
        if (r->account != NULL) {
            what = ae.msg;
            if (acme_client_directory(r->client, &dir, &ae) == 0 &&
                acme_client_account(r->client, r->account, &req, &created,
                                    &ae) == 0) {
                r->ari = dir->renewal_info != NULL;
                log_msg(r->lg, LOG_LEVEL_INFO,
                        "acme: account %s %s at %s (renewal information: %s)",
                        acme_client_account_url(r->client),
                        created ? "created" : "found", r->cfg->acme_directory,
                        r->ari ? "yes" : "no");
                acme_state_set_account_url(r->state, r->cfg->acme_directory,
                                           acme_client_account_url(r->client),
                                           err, sizeof(err));
                return 0;
            }
            if (ae.stopped)
                return -1; /* the shutdown: nothing to report */
        }
        failures++;
        log_msg(r->lg, LOG_LEVEL_WARN,
                "acme: not ready to order: %s; trying again in %lld s", what,
                (long long)acme_sched_backoff(failures));
        /* Every name shows why nothing is ordered (on /status). */
        if (r->state != NULL)
            refresh(r);
        pthread_mutex_lock(&r->mu);
        for (size_t i = 0; i < r->n; i++)
            snprintf(r->e[i].last_error, sizeof(r->e[i].last_error), "%s",
                     what);
        pthread_mutex_unlock(&r->mu);
        sleep_until(r, (int64_t)time(NULL) + acme_sched_backoff(failures));
    }
    return -1;
}

static void *run(void *arg)
{
    struct acme_run *r = arg;
    if (setup(r) < 0)
        return NULL;
    acme_pace_init(&r->pace, r->cfg->acme_orders_burst,
                   r->cfg->acme_orders_per_hour, (int64_t)time(NULL));
    while (!stopping(r)) {
        refresh(r);
        int64_t now = (int64_t)time(NULL), next = now + IDLE_S;
        int64_t paced = acme_pace_when(&r->pace, now);
        struct entry *due = NULL;
        struct acme_sched_next due_nx = {ACME_SCHED_ORDER, 0};
        pthread_mutex_lock(&r->mu);
        for (size_t i = 0; i < r->n; i++) {
            struct entry *e = &r->e[i];
            if (!e->wanted)
                continue;
            struct acme_sched_next nx = acme_sched_next(&e->s, r->ari, now);
            if (nx.at < e->hold_until)
                nx.at = e->hold_until;
            /* Orders wait for the pace (the time shown on /status too). */
            if (nx.what == ACME_SCHED_ORDER && nx.at < paced)
                nx.at = paced;
            e->next = nx.at;
            if (nx.at <= now && due == NULL) {
                due = e;
                due_nx = nx;
            } else if (nx.at < next) {
                next = nx.at;
            }
        }
        pthread_mutex_unlock(&r->mu);
        if (due != NULL) {
            if (due_nx.what == ACME_SCHED_ARI)
                fetch_window(r, due, now);
            else
                order(r, due, now);
            continue;
        }
        sleep_until(r, next);
    }
    return NULL;
}

int acme_run_start(struct acme_run *r, char *err, size_t errlen)
{
    struct acme_err ae;
    r->client =
        acme_client_new(r->cfg->acme_directory, r->cfg->acme_ca_file, &ae);
    if (r->client == NULL) {
        snprintf(err, errlen, "acme: %s", ae.msg);
        return -1;
    }
    int rc = pthread_create(&r->thread, NULL, run, r);
    if (rc != 0) {
        snprintf(err, errlen, "acme: starting the thread: %s", strerror(rc));
        return -1;
    }
    r->started = true;
    return 0;
}

void acme_run_stop(struct acme_run *r)
{
    if (r == NULL || !r->started)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    acme_client_cancel(r->client);
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->started = false;
}

void acme_run_free(struct acme_run *r)
{
    if (r == NULL)
        return;
    acme_run_stop(r);
    acme_client_free(r->client);
    acme_key_free(r->account);
    check_dns_free(r->dns);
    acme_state_free(r->state);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->e);
    free(r);
}

/* Domain names are LDH (config and the planner hold them to it), so they
 * need no escaping in a label value or a JSON string. */
void acme_run_metrics(struct acme_run *r, struct buf *b)
{
    pthread_mutex_lock(&r->mu);
    buf_puts(b, "# HELP mta_sts_acme_orders_total ACME orders placed, by "
                "result.\n# TYPE mta_sts_acme_orders_total counter\n");
    for (size_t i = 0; i < N_RESULTS; i++)
        buf_printf(b, "mta_sts_acme_orders_total{result=\"%s\"} %llu\n",
                   result_names[i], r->orders[i]);
    buf_puts(b, "# HELP mta_sts_acme_challenge_failures_total ACME challenges "
                "the CA found failed, by type.\n"
                "# TYPE mta_sts_acme_challenge_failures_total counter\n");
    for (size_t t = 0; t < CONFIG_ACME_N_CHALLENGES; t++)
        buf_printf(b,
                   "mta_sts_acme_challenge_failures_total{type=\"%s\"} %llu\n",
                   config_acme_challenge_name((enum config_acme_challenge)t),
                   r->chal_failures[t]);
    buf_puts(b, "# HELP mta_sts_acme_next_renewal_timestamp_seconds When "
                "(Unix time) the host next orders or renews the domain's "
                "certificate.\n"
                "# TYPE mta_sts_acme_next_renewal_timestamp_seconds gauge\n");
    /* With both key types a domain has two entries, next to each other:
     * the earlier time is the one shown. */
    for (size_t i = 0; i < r->n; i++) {
        const struct entry *e = &r->e[i];
        if (!e->wanted || e->next == 0 ||
            (i + 1 < r->n && strcmp(r->e[i + 1].host, e->host) == 0))
            continue;
        int64_t t = e->next;
        if (i > 0 && strcmp(r->e[i - 1].host, e->host) == 0 &&
            r->e[i - 1].wanted && r->e[i - 1].next != 0 && r->e[i - 1].next < t)
            t = r->e[i - 1].next;
        buf_printf(b,
                   "mta_sts_acme_next_renewal_timestamp_seconds{domain=\"%s\"}"
                   " %lld\n",
                   e->domain, (long long)t);
    }
    pthread_mutex_unlock(&r->mu);
}

/* A time on /status: Unix seconds, or null for none. */
static void status_time(struct buf *b, int64_t t)
{
    if (t <= 0)
        buf_puts(b, "null");
    else
        buf_printf(b, "%lld", (long long)t);
}

void acme_run_status(struct acme_run *r, const struct plan_domain *d,
                     struct buf *b)
{
    const struct certs_entry *c = d->cert[0] != NULL ? d->cert[0] : d->cert[1];
    const char *from = c == NULL            ? NULL
                       : certs_entry_dev(c) ? "development"
                       : from_file(r, c)    ? "file"
                                            : "acme";
    buf_puts(b, ",\"certificate_from\":");
    if (from == NULL)
        buf_puts(b, "null");
    else
        buf_printf(b, "\"%s\"", from);
    buf_puts(b, ",\"acme\":");
    pthread_mutex_lock(&r->mu);
    bool any = false;
    for (size_t i = 0; i < r->n; i++) {
        const struct entry *e = &r->e[i];
        if (strcmp(e->host, d->host) != 0 || !e->wanted)
            continue;
        buf_puts(b, any ? "," : "[");
        any = true;
        buf_printf(b, "{\"key\":\"%s\",\"not_after\":", kind_name(e->kind));
        status_time(b, e->s.not_after);
        buf_puts(b, ",\"next_renewal\":");
        status_time(b, e->next);
        buf_puts(b, ",\"renewal_window\":");
        if (e->s.window_end > 0) {
            buf_puts(b, "[");
            status_time(b, e->s.window_start);
            buf_puts(b, ",");
            status_time(b, e->s.window_end);
            buf_puts(b, "]");
        } else {
            buf_puts(b, "null");
        }
        buf_printf(b, ",\"failures\":%u,\"last_error\":", e->s.failures);
        if (e->last_error[0] == '\0')
            buf_puts(b, "null");
        else
            buf_json_string(b, e->last_error, strlen(e->last_error));
        buf_puts(b, "}");
    }
    buf_puts(b, any ? "]" : "null");
    pthread_mutex_unlock(&r->mu);
}
