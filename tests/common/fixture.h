/*
 * fixture: a real snapshot for the unit tests and fuzz targets, built the
 * way the store builds one: policies parsed by the policy module, a
 * generated certificate, every domain planned by the planner. Header-only
 * (static functions), so each test program takes what it uses.
 */
#ifndef MTA_STS_TEST_FIXTURE_H
#define MTA_STS_TEST_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certs.h"
#include "plan.h"
#include "policy.h"
#include "snapshot.h"

struct fixture_domain {
    const char *name;   /* sorted by name in the caller's array */
    const char *policy; /* its policy/<name>.txt */
};

/*
 * fixture_snapshot plans the domains with one development certificate for
 * cert_hosts and returns the snapshot (NULL on failure). A domain whose
 * host no certificate covers is listed with its problem, not servable.
 */
static struct snapshot *fixture_snapshot(const struct fixture_domain *v,
                                         size_t n,
                                         const char *const *cert_hosts,
                                         size_t n_hosts)
{
    struct plan_file *files = calloc(n + 1, sizeof(*files));
    struct snapshot *s = NULL;
    struct diag d;
    diag_init(&d, "fixture");
    struct certs_entry *e = certs_generate_dev(cert_hosts, n_hosts, &d);
    struct certs *c = e != NULL ? certs_new(&e, 1, &d) : NULL;
    struct snapshot_certs *sc = c != NULL ? snapshot_certs_new(c) : NULL;
    size_t k = 0;
    for (size_t i = 0; files != NULL && i < n; i++, k++) {
        struct policy *p = policy_parse(v[i].policy, strlen(v[i].policy), &d);
        files[k].domain = v[i].name;
        files[k].path = v[i].name;
        files[k].policy = p != NULL ? plan_policy_new(v[i].name, p) : NULL;
        files[k].error = p != NULL ? NULL : "invalid";
    }
    struct plan_world w = {
        .files = files, .n_files = k, .certs = c, .now = time(NULL)};
    struct plan_result r = {0};
    if (sc != NULL && files != NULL &&
        plan_step(NULL, 0, &w, NULL, 0, true, &r) == 0)
        s = snapshot_new(r.domains, r.n, sc, NULL, 0, 7, NULL, NULL);
    plan_result_free(&r);
    for (size_t i = 0; i < k; i++)
        plan_policy_unref(files[i].policy);
    free(files);
    snapshot_certs_unref(sc);
    certs_entry_unref(e);
    diag_free(&d);
    return s;
}

#endif
