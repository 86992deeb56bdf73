/*
 * check_serve: the check threads of `serve`. Each thread loops: notice a
 * new snapshot (and bring the table's domains in line with it), claim the
 * domain due first, check it with its own resolver context, store the
 * results, log what changed; with nothing due it sleeps until the next
 * domain is, or a second at most so that a reload is noticed soon. The
 * thread that finds a new snapshot syncs the table for all of them. Check
 * threads only.
 */
#include "check_serve.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_dns.h"
#include "check_fetch.h"
#include "check_smtp.h"
#include "snapshot.h"

/* How long a sleeping thread waits at most before it looks for a new
 * snapshot: a reload that changes an id is checked within about this. */
#define RELOAD_LOOK_MS 1000
#define CHANGES_MAX 2048

struct worker {
    struct check_serve *cs;
    struct check_dns *dns;
    struct check_smtp_tls *tls; /* NULL without SMTP probes */
    pthread_t thread;
    bool started;
};

struct check_serve {
    const struct config *cfg;
    const struct logger *lg;
    struct store *st;
    struct check_table *table;
    struct check_opts opts; /* bound.deadline_ms set per run */
    pthread_mutex_t lock;   /* guards gen and stop; cond waits on it */
    pthread_cond_t wake;
    uint64_t gen; /* of the snapshot the table was synced with */
    bool synced;
    atomic_bool stop;
    bool curl;
    struct worker *w;
    size_t n_w;
};

struct check_served check_serve_served(const struct config *cfg,
                                       const char *name,
                                       const struct plan_domain *d)
{
    const struct policy *p =
        d != NULL && d->policy != NULL ? d->policy->policy : NULL;
    struct check_served sv = {
        .domain = name,
        .id = p != NULL ? p->id : NULL,
        .mx = p != NULL ? (const char *const *)p->mx : NULL,
        .n_mx = p != NULL ? p->n_mx : 0,
        .source = p != NULL ? d->policy->source : "",
        .rua = (const char *const *)cfg->tlsrpt_rua,
        .n_rua = cfg->n_tlsrpt_rua,
        .served = p != NULL ? p->served : NULL,
        .served_len = p != NULL ? p->served_len : 0,
    };
    return sv;
}

/* sync_table brings the table in line with the current snapshot when it is a
 * new one; cs->lock is held. */
static void sync_table(struct check_serve *cs)
{
    struct snapshot *s = store_acquire(cs->st);
    if (s == NULL)
        return;
    uint64_t gen = snapshot_generation(s);
    if (cs->synced && gen == cs->gen) {
        snapshot_release(s);
        return;
    }
    size_t n = snapshot_count(s);
    struct check_target *tg = calloc(n + 1, sizeof(*tg));
    if (tg != NULL) {
        for (size_t i = 0; i < n; i++) {
            const struct plan_domain *d = snapshot_at(s, i);
            tg[i].domain = d->name;
            tg[i].id = d->policy != NULL ? d->policy->policy->id : NULL;
        }
        if (check_table_sync(cs->table, tg, n, mono_ms()) == 0) {
            cs->gen = gen;
            cs->synced = true;
        }
    }
    /* Out of memory: tried again at the next look. */
    free(tg);
    snapshot_release(s);
}

/* run checks one claimed domain and stores its results. */
static void run(struct worker *w, const char *name)
{
    struct check_serve *cs = w->cs;
    struct check_report rep = {0};
    char changes[CHANGES_MAX];
    struct plan_domain *d = NULL;
    struct snapshot *s = store_acquire(cs->st);
    if (s != NULL) {
        d = plan_find(snapshot_domains(s), snapshot_count(s), name);
        if (d != NULL)
            plan_domain_ref(d); /* the snapshot may be retired meanwhile */
        snapshot_release(s);
    }
    /* Gone from the snapshot since it was claimed (a reload): its results
     * would be thrown away, so the run only ends (the next sync drops it). */
    if (d == NULL) {
        check_table_put(cs->table, name, NULL, NULL, mono_ms(), time(NULL),
                        changes, sizeof(changes));
        return;
    }
    struct check_served sv = check_serve_served(cs->cfg, name, d);
    struct check_opts o = cs->opts;
    o.tls = w->tls;
    o.bound.deadline_ms = mono_ms() + (int64_t)cs->cfg->check_timeout * 1000;
    int rc = check_domain(w->dns, &o, &sv, &rep);
    /* A run cut short by the shutdown says nothing about the domain: it is
     * neither stored nor logged. */
    if (!atomic_load(&cs->stop)) {
        int put =
            check_table_put(cs->table, name, sv.id, rc == 0 ? &rep : NULL,
                            mono_ms(), time(NULL), changes, sizeof(changes));
        if (rc < 0 || put < 0)
            log_msg(cs->lg, LOG_LEVEL_ERROR,
                    "check %s: out of memory; the previous results stay", name);
        else if (put > 0 && changes[0] != '\0')
            log_msg(cs->lg,
                    rep.counts[CHECK_FAIL] > 0 ? LOG_LEVEL_WARN
                                               : LOG_LEVEL_INFO,
                    "check %s: %s (%zu ok, %zu warn, %zu fail)", name, changes,
                    rep.counts[CHECK_OK], rep.counts[CHECK_WARN],
                    rep.counts[CHECK_FAIL]);
    }
    check_report_free(&rep);
    plan_domain_unref(d);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct check_serve *cs = w->cs;
    char name[CHECK_NAME_MAX], id[POLICY_ID_MAX + 1];
    pthread_mutex_lock(&cs->lock);
    while (!atomic_load(&cs->stop)) {
        sync_table(cs);
        int64_t now = mono_ms(), wake = now;
        if (check_table_claim(cs->table, now, name, id, &wake) == 1) {
            pthread_mutex_unlock(&cs->lock);
            run(w, name);
            pthread_mutex_lock(&cs->lock);
            continue;
        }
        if (wake > now + RELOAD_LOOK_MS)
            wake = now + RELOAD_LOOK_MS;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (wake - now) * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&cs->wake, &cs->lock, &ts);
    }
    pthread_mutex_unlock(&cs->lock);
    return NULL;
}

struct check_table *check_serve_table(struct check_serve *cs)
{
    return cs->table;
}

void check_serve_stop(struct check_serve *cs)
{
    if (cs == NULL)
        return;
    pthread_mutex_lock(&cs->lock);
    atomic_store(&cs->stop, true);
    pthread_cond_broadcast(&cs->wake);
    pthread_mutex_unlock(&cs->lock);
    size_t joined = 0;
    for (size_t i = 0; cs->w != NULL && i < cs->n_w; i++) {
        if (cs->w[i].started && pthread_join(cs->w[i].thread, NULL) == 0)
            joined++;
        check_dns_free(cs->w[i].dns);
        check_smtp_tls_free(cs->w[i].tls);
    }
    if (joined > 0)
        log_msg(cs->lg, LOG_LEVEL_INFO, "check threads stopped (%zu)", joined);
    free(cs->w);
    if (cs->curl)
        check_fetch_cleanup();
    check_table_free(cs->table);
    pthread_cond_destroy(&cs->wake);
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}

struct check_serve *check_serve_start(const struct config *cfg,
                                      const struct logger *lg, struct store *st,
                                      char *err, size_t errlen)
{
    struct check_serve *cs = calloc(1, sizeof(*cs));
    pthread_condattr_t ca;
    if (cs == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* A condition that times out by the monotonic clock: a wall clock
     * step never stalls or rushes the schedule. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&cs->lock, NULL);
    pthread_cond_init(&cs->wake, &ca);
    pthread_condattr_destroy(&ca);
    cs->cfg = cfg;
    cs->lg = lg;
    cs->st = st;
    cs->opts = (struct check_opts){
        .https_port = cfg->check_https_port,
        .smtp_port = cfg->check_smtp_port,
        .ca_file = cfg->check_ca_file,
        .bound = {.stop = &cs->stop},
    };
    cs->table = check_table_new((int64_t)cfg->check_interval * 1000);
    cs->n_w = cfg->check_concurrency > 0 ? cfg->check_concurrency : 1;
    cs->w = calloc(cs->n_w, sizeof(*cs->w));
    if (cs->table == NULL || cs->w == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (check_fetch_init() < 0) {
        snprintf(err, errlen, "libcurl cannot be initialised");
        goto fail;
    }
    cs->curl = true;
    /* Every context first, so that a bad resolver, trust anchor or CA file
     * stops the start before any thread runs. */
    for (size_t i = 0; i < cs->n_w; i++) {
        cs->w[i].cs = cs;
        cs->w[i].dns = check_dns_new(cfg->check_resolver,
                                     cfg->check_trust_anchor, err, errlen);
        if (cs->w[i].dns == NULL)
            goto fail;
        if (cfg->check_smtp_port != 0 &&
            (cs->w[i].tls =
                 check_smtp_tls_new(cfg->check_ca_file, err, errlen)) == NULL)
            goto fail;
    }
    for (size_t i = 0; i < cs->n_w; i++) {
        if (pthread_create(&cs->w[i].thread, NULL, worker_main, &cs->w[i]) !=
            0) {
            snprintf(err, errlen, "cannot start a check thread");
            goto fail;
        }
        cs->w[i].started = true;
    }
    return cs;
fail:
    check_serve_stop(cs);
    return NULL;
}
