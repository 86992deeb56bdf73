/*
 * check_table: the schedule and the last results of the periodic check,
 * one entry per served domain, kept sorted by name so that a reload is a
 * merge and a lookup a binary search. Everything is decided under one
 * mutex, and nothing here waits for anything else while holding it. Any
 * thread (check threads write, HTTP workers read).
 */
#include "check_table.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sorted.h"

struct entry {
    char *domain;
    char id[POLICY_ID_MAX + 1];     /* the id it is checked against */
    char ran_id[POLICY_ID_MAX + 1]; /* the id of the stored results */
    int64_t due_ms;
    bool busy; /* claimed, not yet put */
    time_t last_run;
    struct check_item *items;
    size_t n_items;
    struct check_sum sums[CHECK_TABLE_MAX_NAMES];
    size_t n_sums;
};

struct check_table {
    pthread_mutex_t lock;
    int64_t interval_ms;
    /* When the last domain new to the table is due: the next new one
     * comes a gap after it, so first runs never bunch up. */
    int64_t last_new_ms;
    struct entry *e;
    size_t n;
};

struct check_table *check_table_new(int64_t interval_ms)
{
    struct check_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return NULL;
    }
    t->interval_ms = interval_ms > 0 ? interval_ms : 1;
    t->last_new_ms = INT64_MIN;
    return t;
}

static void items_free(struct check_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].what);
        free(items[i].fix);
    }
    free(items);
}

static void entry_clear(struct entry *e)
{
    free(e->domain);
    items_free(e->items, e->n_items);
    memset(e, 0, sizeof(*e));
}

void check_table_free(struct check_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        entry_clear(&t->e[i]);
    free(t->e);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static void copy_id(char out[POLICY_ID_MAX + 1], const char *id)
{
    snprintf(out, POLICY_ID_MAX + 1, "%s", id != NULL ? id : "");
}

int check_table_sync(struct check_table *t, const struct check_target *targets,
                     size_t n, int64_t now_ms)
{
    struct entry *next = n > 0 ? calloc(n, sizeof(*next)) : NULL;
    if (n > 0 && next == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((next[i].domain = strdup(targets[i].domain)) == NULL) {
            for (size_t j = 0; j < i; j++)
                free(next[j].domain);
            free(next);
            return -1;
        }
    }
    pthread_mutex_lock(&t->lock);
    /* Spread over the interval, but a handful of domains need not wait
     * for minutes: at most a second between two first runs. */
    int64_t gap = t->interval_ms / (int64_t)(n > 0 ? n : 1);
    if (gap > CHECK_TABLE_GAP_MAX_MS)
        gap = CHECK_TABLE_GAP_MAX_MS;
    size_t o = 0; /* old entries, merged in name order */
    for (size_t i = 0; i < n; i++) {
        struct entry *e = &next[i];
        char *name = e->domain;
        int c = 1;
        while (o < t->n && (c = strcmp(t->e[o].domain, name)) < 0)
            entry_clear(&t->e[o++]);
        if (o < t->n && c == 0) {
            *e = t->e[o];
            free(e->domain);
            e->domain = name;
            memset(&t->e[o++], 0, sizeof(*e));
            if (strcmp(e->id, targets[i].id != NULL ? targets[i].id : "") !=
                0) {
                copy_id(e->id, targets[i].id);
                e->due_ms = now_ms; /* re-checked at once */
            }
            continue;
        }
        copy_id(e->id, targets[i].id);
        int64_t after =
            t->last_new_ms > now_ms - gap ? t->last_new_ms : now_ms - gap;
        e->due_ms = after + gap;
        t->last_new_ms = e->due_ms;
    }
    while (o < t->n)
        entry_clear(&t->e[o++]);
    free(t->e);
    t->e = next;
    t->n = n;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

int check_table_claim(struct check_table *t, int64_t now_ms,
                      char domain[CHECK_NAME_MAX], char id[POLICY_ID_MAX + 1],
                      int64_t *wake_ms)
{
    pthread_mutex_lock(&t->lock);
    struct entry *first = NULL;
    for (size_t i = 0; i < t->n; i++)
        if (!t->e[i].busy && (first == NULL || t->e[i].due_ms < first->due_ms))
            first = &t->e[i];
    int rc = 0;
    if (first != NULL && first->due_ms <= now_ms) {
        first->busy = true;
        snprintf(domain, CHECK_NAME_MAX, "%s", first->domain);
        copy_id(id, first->id);
        rc = 1;
    } else {
        *wake_ms = first != NULL ? first->due_ms : now_ms + t->interval_ms;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int by_domain(const void *key, const void *record)
{
    return strcmp(key, ((const struct entry *)record)->domain);
}

/* find returns the entry of domain, or NULL; the lock is held. */
static struct entry *find(struct check_table *t, const char *domain)
{
    bool found;
    size_t i =
        sorted_slot(domain, t->e, t->n, sizeof(*t->e), by_domain, &found);
    return found ? &t->e[i] : NULL;
}

/* summarise sets the worst level per check name, in the order the names
 * first appear. */
static size_t summarise(const struct check_item *items, size_t n,
                        struct check_sum sums[CHECK_TABLE_MAX_NAMES])
{
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < ns && strcmp(sums[j].check, items[i].check) != 0)
            j++;
        if (j == ns) {
            if (ns == CHECK_TABLE_MAX_NAMES)
                continue;
            sums[ns].check = items[i].check;
            sums[ns++].level = items[i].level;
        } else if (items[i].level > sums[j].level) {
            sums[j].level = items[i].level;
        }
    }
    return ns;
}

/* first_what returns the message of the first result of check at level. */
static const char *first_what(const struct check_item *items, size_t n,
                              const char *check, enum check_level level)
{
    for (size_t i = 0; i < n; i++)
        if (items[i].level == level && strcmp(items[i].check, check) == 0)
            return items[i].what;
    return "";
}

/*
 * diff renders what changed from the old summary to the new one: a check
 * whose worst level changed, appeared with a level other than ok, or went
 * away. The new level's first message says why.
 */
static void diff(const struct check_sum *old, size_t n_old,
                 const struct check_sum *now, size_t n_now,
                 const struct check_item *items, size_t n_items, char *out,
                 size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n_now; i++) {
        const char *was = NULL;
        for (size_t j = 0; j < n_old; j++)
            if (strcmp(old[j].check, now[i].check) == 0)
                was = check_level_name(old[j].level);
        const char *is = check_level_name(now[i].level);
        if (was == NULL ? now[i].level == CHECK_OK : strcmp(was, is) == 0)
            continue;
        int w =
            snprintf(out + o, outlen - o, "%s%s %s -> %s: %s", o ? "; " : "",
                     now[i].check, was ? was : "none", is,
                     first_what(items, n_items, now[i].check, now[i].level));
        o = w < 0 || (size_t)w >= outlen - o ? outlen - 1 : o + (size_t)w;
    }
    for (size_t j = 0; j < n_old; j++) {
        size_t i = 0;
        while (i < n_now && strcmp(old[j].check, now[i].check) != 0)
            i++;
        if (i < n_now)
            continue;
        int w = snprintf(out + o, outlen - o, "%s%s %s -> none", o ? "; " : "",
                         old[j].check, check_level_name(old[j].level));
        o = w < 0 || (size_t)w >= outlen - o ? outlen - 1 : o + (size_t)w;
    }
}

/* copy_items copies a report's results; NULL when memory runs out. */
static struct check_item *copy_items(const struct check_report *rep)
{
    struct check_item *items = calloc(rep->n + 1, sizeof(*items));
    if (items == NULL)
        return NULL;
    for (size_t i = 0; i < rep->n; i++) {
        const struct check_result *r = &rep->r[i];
        items[i].check = r->check;
        items[i].level = r->level;
        items[i].what = strdup(r->what);
        items[i].fix = r->fix[0] != '\0' ? strdup(r->fix) : NULL;
        if (items[i].what == NULL ||
            (r->fix[0] != '\0' && items[i].fix == NULL)) {
            items_free(items, i + 1);
            return NULL;
        }
    }
    return items;
}

int check_table_put(struct check_table *t, const char *domain, const char *id,
                    const struct check_report *rep, int64_t now_ms, time_t wall,
                    char *changes, size_t changeslen)
{
    changes[0] = '\0';
    /* Copied before the lock is taken: readers wait for no allocation. */
    struct check_item *items = rep != NULL ? copy_items(rep) : NULL;
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    struct entry *e = find(t, domain);
    if (e == NULL || !e->busy)
        goto out; /* dropped meanwhile (and maybe added again) */
    e->busy = false;
    if (strcmp(e->id, id != NULL ? id : "") != 0)
        goto out; /* the id changed meanwhile: it is due again */
    e->due_ms += t->interval_ms;
    if (e->due_ms <= now_ms)
        e->due_ms = now_ms + t->interval_ms;
    if (items == NULL) {
        rc = -1;
        goto out;
    }
    struct check_sum sums[CHECK_TABLE_MAX_NAMES];
    size_t n_sums = summarise(items, rep->n, sums);
    diff(e->sums, e->n_sums, sums, n_sums, items, rep->n, changes, changeslen);
    items_free(e->items, e->n_items);
    e->items = items;
    e->n_items = rep->n;
    items = NULL;
    memcpy(e->sums, sums, sizeof(sums));
    e->n_sums = n_sums;
    e->last_run = wall;
    copy_id(e->ran_id, id);
    rc = 1;
out:
    pthread_mutex_unlock(&t->lock);
    if (items != NULL)
        items_free(items, rep->n);
    return rc;
}

int check_table_visit(struct check_table *t, const char *domain,
                      void (*fn)(void *ctx, const struct check_view *v),
                      void *ctx)
{
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    const struct entry *e = find(t, domain);
    if (e != NULL && e->last_run != 0) {
        struct check_view v = {
            .domain = e->domain,
            .id = e->ran_id,
            .last_run = e->last_run,
            .items = e->items,
            .n_items = e->n_items,
            .sums = e->sums,
            .n_sums = e->n_sums,
        };
        fn(ctx, &v);
        rc = 1;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

size_t check_table_count(struct check_table *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->n;
    pthread_mutex_unlock(&t->lock);
    return n;
}
