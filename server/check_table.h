/*
 * check_table: the results of the periodic check of `serve` and its
 * schedule, a small mutable table outside the immutable snapshot. Per served
 * domain: the policy id it is checked against, when it is due, and the results
 * of its last run (each check's level, message and fix, and per check name the
 * worst level). It decides what runs when: domains new to the table are spread
 * over the interval (never more than CHECK_TABLE_GAP_MAX_MS apart, so a small
 * set is checked within seconds of the start), each domain then runs once an
 * interval after its previous turn, and a domain whose served id changed is due
 * at once. It runs no check and logs nothing: check_serve does. Pure logic
 * behind one mutex: the check threads write it, HTTP workers read it
 * (check_table_visit) while rendering /status and /metrics.
 */
#ifndef MTA_STS_CHECK_TABLE_H
#define MTA_STS_CHECK_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "check_parse.h"
#include "check_run.h"

/* The longest pause between the first runs of domains new to the table. */
#define CHECK_TABLE_GAP_MAX_MS 1000
/* Check names kept per domain for the summary (the checks of check_run
 * have fewer names; more are left out of the summary, not of the
 * results). */
#define CHECK_TABLE_MAX_NAMES 16

/* A served domain to be checked: its name and the id it serves (NULL when
 * it serves no valid policy). */
struct check_target {
    const char *domain;
    const char *id;
};

/* One result of a domain's last run. */
struct check_item {
    const char *check; /* a static name from check_run ("sts-id") */
    enum check_level level;
    char *what;
    char *fix; /* NULL when there is nothing to fix */
};

/* The worst level of one check name in a domain's last run. */
struct check_sum {
    const char *check;
    enum check_level level;
};

/* What the table holds for one domain, borrowed during check_table_visit. */
struct check_view {
    const char *domain;
    const char *id;  /* the id the last run compared with; "" for none */
    time_t last_run; /* wall clock; 0 when it never ran */
    const struct check_item *items;
    size_t n_items;
    const struct check_sum *sums;
    size_t n_sums;
};

struct check_table;

/* check_table_new makes an empty table for checks every interval_ms
 * (> 0). NULL when memory runs out. */
struct check_table *check_table_new(int64_t interval_ms);

/* check_table_free releases the table; NULL is a no-op. */
void check_table_free(struct check_table *t);

/*
 * check_table_sync makes the table's domains those of targets[0..n)
 * (ascending by domain, as a snapshot lists them) at monotonic time
 * now_ms: a domain no longer there is dropped with its results (a run in
 * progress for it is discarded when it ends), a new one is scheduled
 * after the ones already waiting for their first run, and one whose id
 * changed is due at now_ms (its old results stay until the new run).
 * Returns 0, or -1 when memory runs out (the table is unchanged).
 */
int check_table_sync(struct check_table *t, const struct check_target *targets,
                     size_t n, int64_t now_ms);

/*
 * check_table_claim takes the domain due first, if it is due at now_ms and
 * no run of it is in progress: its name and the id to check against ("" for
 * none) are copied out, it is marked in progress, and 1 is returned. Else
 * it returns 0 and sets *wake_ms to when the next one is due (now_ms plus
 * the interval when nothing is waiting).
 */
int check_table_claim(struct check_table *t, int64_t now_ms,
                      char domain[CHECK_NAME_MAX], char id[POLICY_ID_MAX + 1],
                      int64_t *wake_ms);

/*
 * check_table_put ends the run of a claimed domain: with rep (NULL: the
 * run failed, memory) its results replace the previous ones, unless the
 * domain was dropped or its id changed meanwhile (then they are
 * discarded, and a changed domain stays due). The next run is due an
 * interval after this one was due (or after now_ms when the run came
 * that late). changes gets, for the log, what changed per check name
 * ("sts-id ok -> fail: <message>; ..."), or "" when nothing did (a first
 * run reports what is not ok). Returns 1 when stored, 0 when discarded,
 * -1 when memory ran out (the previous results stay).
 */
int check_table_put(struct check_table *t, const char *domain, const char *id,
                    const struct check_report *rep, int64_t now_ms, time_t wall,
                    char *changes, size_t changeslen);

/*
 * check_table_visit calls fn with what the table holds for domain, under
 * the table's lock (fn must not call into the table), and returns 1; or
 * returns 0 without calling fn when the domain has no results yet.
 */
int check_table_visit(struct check_table *t, const char *domain,
                      void (*fn)(void *ctx, const struct check_view *v),
                      void *ctx);

/* check_table_count returns the number of domains in the table. */
size_t check_table_count(struct check_table *t);

#endif
