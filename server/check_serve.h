/*
 * check_serve: the periodic check of `serve` (config `check.interval`).
 * check.concurrency threads of their own, each with its own resolver
 * context, check every served domain as `mta-sts-host check` does, against
 * what the current snapshot serves for it (its id and mx patterns), each
 * domain within check.timeout, at the times check_table decides (spread
 * over the interval, at once after a reload changed the domain's id).
 * Results go to the check_table that http renders on /status and /metrics;
 * a change of a domain's results is logged. It never runs on a request or
 * on the reload thread: it only takes references to the published
 * snapshot.
 */
#ifndef MTA_STS_CHECK_SERVE_H
#define MTA_STS_CHECK_SERVE_H

#include <stddef.h>

#include "check_run.h"
#include "check_table.h"
#include "config.h"
#include "log.h"
#include "plan.h"
#include "store.h"

/*
 * check_serve_served describes what this host serves for the domain called
 * name (d may be NULL: nothing), for check_domain; it borrows from d and
 * cfg.
 */
struct check_served check_serve_served(const struct config *cfg,
                                       const char *name,
                                       const struct plan_domain *d);

struct check_serve;

/*
 * check_serve_start starts the check threads for cfg's check section
 * (check_interval must be set), reading what to check from st. Returns
 * NULL with the reason in err (a resolver or trust anchor that cannot be
 * used, memory, threads).
 */
struct check_serve *check_serve_start(const struct config *cfg,
                                      const struct logger *lg, struct store *st,
                                      char *err, size_t errlen);

/* check_serve_table returns the results table (for http_set_checks). */
struct check_table *check_serve_table(struct check_serve *cs);

/*
 * check_serve_stop stops the threads (a step in progress runs to its own
 * timeout) and releases everything; NULL is a no-op. Take the table back
 * from http first.
 */
void check_serve_stop(struct check_serve *cs);

#endif
