/*
 * Unit tests for the planner: each isolation and fallback rule is a row of
 * a table (a world before, a world after, what one domain must become),
 * plus the sharing of unchanged domains and the findings. Certificates are
 * real pairs made with certtool in a temporary directory at set-up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "certs.h"
#include "plan.h"
#include "policy.h"

static char tmp[256];

static const char good_a[] = "version: STSv1\nmode: enforce\n"
                             "mx: mx.a.test\nmax_age: 86400\n";
static const char good_a2[] = "version: STSv1\nmode: testing\n"
                              "mx: mx2.a.test\nmax_age: 86400\n";
static const char good_def[] = "version: STSv1\nmode: testing\n"
                               "mx: mx.default.test\nmax_age: 86400\n";

/* The pairs made at set-up: each a self-signed certificate for names. */
enum { P_A, P_B, P_AB, P_WILD_C, P_A_AGAIN, P_LOCAL, N_PAIRS };
static const char *const pair_names[N_PAIRS] = {
    "mta-sts.a.test", "mta-sts.b.test", "mta-sts.a.test,mta-sts.b.test",
    "*.c.test",       "mta-sts.a.test", "mta-sts.localhost",
};
static struct certs_entry *pairs[N_PAIRS];
static struct certs_entry *dev_ab;

static void sh(const char *cmd)
{
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

static int setup(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(tmp, sizeof(tmp), "/tmp/test_plan.XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd),
             "certtool --generate-privkey --key-type ecdsa --outfile %s/k.pem "
             ">/dev/null 2>&1",
             tmp);
    sh(cmd);
    struct certs_checker *chk = certs_checker_new();
    for (int i = 0; i < N_PAIRS; i++) {
        char tmpl[512] = "cn = test\nexpiration_days = 30\n"
                         "tls_www_server\nsigning_key\n";
        /* One dns_name line per comma-separated name. */
        size_t used = strlen(tmpl);
        const char *p = pair_names[i];
        while (*p != '\0') {
            size_t len = strcspn(p, ",");
            used += (size_t)snprintf(tmpl + used, sizeof(tmpl) - used,
                                     "dns_name = %.*s\n", (int)len, p);
            p += len + (p[len] == ',');
        }
        char path[300];
        snprintf(path, sizeof(path), "%s/t%d", tmp, i);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(tmpl, f);
        fclose(f);
        snprintf(cmd, sizeof(cmd),
                 "certtool --generate-self-signed --load-privkey %s/k.pem "
                 "--template %s --outfile %s/p%d.crt >/dev/null 2>&1 && "
                 "cp %s/k.pem %s/p%d.key",
                 tmp, path, tmp, i, tmp, tmp, i);
        sh(cmd);
        char crt[300], key[300];
        snprintf(crt, sizeof(crt), "%s/p%d.crt", tmp, i);
        snprintf(key, sizeof(key), "%s/p%d.key", tmp, i);
        struct certs_unit u = {crt, crt, key};
        struct diag d;
        struct certs_refused r;
        diag_init(&d, crt);
        pairs[i] = certs_load_unit(chk, &u, time(NULL), &d, &r);
        diag_free(&d);
        assert_non_null(pairs[i]);
    }
    certs_checker_free(chk);
    static const char *const dev_hosts[] = {"mta-sts.a.test", "mta-sts.b.test"};
    struct diag d;
    diag_init(&d, "dev");
    dev_ab = certs_generate_dev(dev_hosts, 2, &d);
    diag_free(&d);
    assert_non_null(dev_ab);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    for (int i = 0; i < N_PAIRS; i++)
        certs_entry_unref(pairs[i]);
    certs_entry_unref(dev_ab);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    sh(cmd);
    return 0;
}

/* ---- worlds described in a line ------------------------------------------ */

/* A policy file: its domain and text (NULL: present but invalid). */
struct file_spec {
    const char *domain;
    const char *text;
};

struct world_spec {
    const char *config[3];
    struct file_spec files[3]; /* sorted by domain */
    const char *deflt;         /* default policy text; NULL: invalid */
    int pairs[3];              /* indexes into pairs[], -1 ends */
    bool dev;
    long days;              /* the world's clock, in days from now */
    long hours;             /* and hours */
    const char *cert_error; /* an error for the source of pairs[P_A] */
    const char *refused;    /* a name of a refused certificate */
};

/* A world built from its spec, with everything it owns. */
struct built {
    struct plan_world w;
    struct plan_file files[3];
    struct plan_file deflt;
    const char *config[3];
    struct certs *certs;
    struct plan_cert_error err;
    struct plan_refusal refusal;
};

static struct plan_policy *parse(const char *text, const char *source)
{
    struct diag d;
    diag_init(&d, source);
    struct policy *p = policy_parse(text, strlen(text), &d);
    diag_free(&d);
    assert_non_null(p);
    return plan_policy_new(source, p);
}

static void build(const struct world_spec *s, struct built *b)
{
    memset(b, 0, sizeof(*b));
    size_t nc = 0, nf = 0, np = 0;
    while (nc < 3 && s->config[nc] != NULL) {
        b->config[nc] = s->config[nc];
        nc++;
    }
    for (; nf < 3 && s->files[nf].domain != NULL; nf++) {
        b->files[nf].domain = s->files[nf].domain;
        b->files[nf].path = s->files[nf].domain;
        b->files[nf].policy =
            s->files[nf].text ? parse(s->files[nf].text, s->files[nf].domain)
                              : NULL;
        b->files[nf].error =
            s->files[nf].text ? NULL : "own.txt:2:7: error: bad mode";
    }
    b->deflt.path = "mta-sts.txt";
    b->deflt.policy = s->deflt ? parse(s->deflt, "mta-sts.txt") : NULL;
    b->deflt.error = s->deflt ? NULL : "mta-sts.txt:1:1: error: bad";
    struct certs_entry *v[3];
    for (; np < 3 && s->pairs[np] >= 0; np++)
        v[np] = pairs[s->pairs[np]];
    b->certs = certs_new(v, np, NULL);
    assert_non_null(b->certs);
    if (s->cert_error != NULL) {
        b->err.source = certs_entry_source(pairs[P_A]);
        b->err.error = s->cert_error;
    }
    b->refusal.name = s->refused;
    b->refusal.error = "bad.crt: the certificate expired on 2020-01-01";
    b->w = (struct plan_world){
        .config = b->config,
        .n_config = nc,
        .files = b->files,
        .n_files = nf,
        .default_file = &b->deflt,
        .certs = b->certs,
        .cert_errors = &b->err,
        .n_cert_errors = s->cert_error != NULL,
        .refused = &b->refusal,
        .n_refused = s->refused != NULL,
        .dev = s->dev ? dev_ab : NULL,
        .now = time(NULL) + s->days * 86400 + s->hours * 3600,
    };
}

static void unbuild(struct built *b)
{
    for (int i = 0; i < 3; i++)
        plan_policy_unref(b->files[i].policy);
    plan_policy_unref(b->deflt.policy);
    certs_free(b->certs);
}

static bool found(const struct plan_result *r, const char *text)
{
    for (size_t i = 0; i < r->n_findings; i++)
        if (strstr(r->findings[i].text, text) != NULL)
            return true;
    return false;
}

/* ---- the rules, one row each ----------------------------------------------
 */

#define NONE                                                                   \
    {                                                                          \
        -1                                                                     \
    }
#define ONLY(p)                                                                \
    {                                                                          \
        p, -1                                                                  \
    }

struct rule_case {
    const char *name;
    bool has_before;
    struct world_spec before, after;
    const char *domain;
    bool listed, servable;
    const char *policy_mx;      /* the mx the served policy names, or NULL */
    const char *policy_problem; /* substring, or NULL for none */
    int cert;                   /* expected pairs[] index, -2 dev, -1 none */
    const char *cert_problem;   /* substring, or NULL for none */
    const char *finding;        /* substring of a finding, or NULL */
    const char *not_finding;    /* substring no finding may have */
};

static const struct rule_case rules[] = {
    {"own policy and own certificate",
     false,
     {.deflt = NULL},
     {.files = {{"a.test", good_a}}, .deflt = good_def, .pairs = ONLY(P_A)},
     "a.test",
     true,
     true,
     "mx.a.test",
     NULL,
     P_A,
     NULL,
     "a.test: serving policy id",
     NULL},
    {"no own file: the default policy",
     false,
     {.deflt = NULL},
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A)},
     "a.test",
     true,
     true,
     "mx.default.test",
     NULL,
     P_A,
     NULL,
     "publish: _mta-sts.a.test",
     NULL},
    {"invalid own file at start: listed, not servable",
     false,
     {.deflt = NULL},
     {.files = {{"a.test", NULL}}, .deflt = good_def, .pairs = ONLY(P_A)},
     "a.test",
     true,
     false,
     NULL,
     "no valid policy to serve: own.txt:2:7",
     P_A,
     NULL,
     "a.test: no valid policy to serve",
     NULL},
    {"invalid edit keeps the last good policy",
     true,
     {.files = {{"a.test", good_a}}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.files = {{"a.test", NULL}}, .deflt = good_def, .pairs = ONLY(P_A)},
     "a.test",
     true,
     true,
     "mx.a.test",
     "edit refused, still serving policy id",
     P_A,
     NULL,
     "a.test: edit refused",
     NULL},
    {"invalid default keeps the last good policy",
     true,
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.config = {"a.test"}, .deflt = NULL, .pairs = ONLY(P_A)},
     "a.test",
     true,
     true,
     "mx.default.test",
     "mta-sts.txt:1:1",
     P_A,
     NULL,
     NULL,
     NULL},
    {"removed own file falls back to the default",
     true,
     {.files = {{"a.test", good_a}},
      .config = {"a.test"},
      .deflt = good_def,
      .pairs = ONLY(P_A)},
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A)},
     "a.test",
     true,
     true,
     "mx.default.test",
     NULL,
     P_A,
     NULL,
     "a.test: policy changed",
     NULL},
    {"no certificate, no dev: a problem, not servable",
     false,
     {.deflt = NULL},
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_B)},
     "a.test",
     true,
     false,
     "mx.default.test",
     NULL,
     -1,
     "no certificate covers mta-sts.a.test",
     "no certificate covers",
     NULL},
    {"certificate gone: the last good one stays",
     true,
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.config = {"a.test"}, .deflt = good_def, .pairs = NONE},
     "a.test",
     true,
     true,
     "mx.default.test",
     NULL,
     P_A,
     "any more",
     NULL,
     NULL},
    {"certificate refused: the last good one stays, with the reason",
     true,
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.config = {"a.test"},
      .deflt = good_def,
      .pairs = NONE,
      .cert_error = "p0.crt: the certificate expired on 2020-01-01"},
     "a.test",
     true,
     true,
     "mx.default.test",
     NULL,
     P_A,
     "expired on 2020-01-01; still serving the last good certificate",
     NULL,
     NULL},
    {"an expired last good certificate is not kept",
     true,
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.config = {"a.test"}, .deflt = good_def, .pairs = NONE, .days = 60},
     "a.test",
     true,
     false,
     "mx.default.test",
     NULL,
     -1,
     "no certificate covers",
     NULL,
     NULL},
    {"a renewed certificate replaces the old one",
     true,
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A_AGAIN)},
     "a.test",
     true,
     true,
     "mx.default.test",
     NULL,
     P_A_AGAIN,
     NULL,
     NULL,
     "healthy again"},
    {"expiry is judged at the world's clock, to the hour",
     false,
     {.deflt = NULL},
     {.config = {"a.test"},
      .deflt = good_def,
      .pairs = ONLY(P_A),
      .days = 30,
      .hours = 1},
     "a.test",
     true,
     false,
     "mx.default.test",
     NULL,
     P_A,
     "expired on",
     NULL,
     NULL},
    {"the development pair stops when real certificates arrive",
     true,
     {.config = {"a.test"}, .deflt = good_def, .pairs = NONE, .dev = true},
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_B)},
     "a.test",
     true,
     false,
     "mx.default.test",
     NULL,
     -1,
     "no certificate covers",
     NULL,
     NULL},
    {"the development pair covers only the names it carries",
     false,
     {.deflt = NULL},
     {.config = {"c.test"}, .deflt = good_def, .pairs = NONE, .dev = true},
     "c.test",
     true,
     false,
     "mx.default.test",
     NULL,
     -1,
     "no certificate covers mta-sts.c.test",
     NULL,
     NULL},
    {"a wildcard does not keep a domain whose file went",
     true,
     {.files = {{"c.test", good_a}},
      .deflt = good_def,
      .pairs = ONLY(P_WILD_C)},
     {.deflt = good_def, .pairs = ONLY(P_WILD_C)},
     "c.test",
     false,
     false,
     NULL,
     NULL,
     -1,
     NULL,
     "c.test: no longer served",
     NULL},
    {"a name not in normal form is no domain",
     false,
     {.deflt = NULL},
     {.config = {"A.TEST"}, .deflt = good_def, .pairs = ONLY(P_A)},
     "A.TEST",
     false,
     false,
     NULL,
     NULL,
     -1,
     NULL,
     NULL,
     NULL},
    {"a refused certificate says why its domain is not served",
     false,
     {.deflt = NULL},
     {.config = {"a.test"},
      .deflt = good_def,
      .pairs = NONE,
      .refused = "mta-sts.a.test"},
     "a.test",
     true,
     false,
     "mx.default.test",
     NULL,
     -1,
     "expired on 2020-01-01; mta-sts.a.test is not served",
     NULL,
     NULL},
    {"a refused wildcard certificate too",
     false,
     {.deflt = NULL},
     {.config = {"a.test"},
      .deflt = good_def,
      .pairs = NONE,
      .refused = "*.a.test"},
     "a.test",
     true,
     false,
     "mx.default.test",
     NULL,
     -1,
     "bad.crt",
     NULL,
     NULL},
    {"a certificate that expires while served: listed, unservable",
     false,
     {.deflt = NULL},
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A), .days = 40},
     "a.test",
     true,
     false,
     "mx.default.test",
     NULL,
     P_A,
     "expired on",
     "expired on",
     NULL},
    {"the development pair when there is nothing else",
     false,
     {.deflt = NULL},
     {.config = {"a.test"}, .deflt = good_def, .pairs = NONE, .dev = true},
     "a.test",
     true,
     true,
     "mx.default.test",
     NULL,
     -2,
     NULL,
     NULL,
     NULL},
    {"the development pair never replaces a real one",
     true,
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.config = {"a.test"}, .deflt = good_def, .pairs = NONE, .dev = true},
     "a.test",
     true,
     true,
     "mx.default.test",
     NULL,
     P_A,
     "any more",
     NULL,
     NULL},
    {"served because a certificate names it",
     false,
     {.deflt = NULL},
     {.deflt = good_def, .pairs = ONLY(P_AB)},
     "b.test",
     true,
     true,
     "mx.default.test",
     NULL,
     P_AB,
     NULL,
     NULL,
     NULL},
    {"a wildcard alone does not make a domain",
     false,
     {.deflt = NULL},
     {.deflt = good_def, .pairs = ONLY(P_WILD_C)},
     "c.test",
     false,
     false,
     NULL,
     NULL,
     -1,
     NULL,
     NULL,
     NULL},
    {"a wildcard covers a domain with a policy file",
     false,
     {.deflt = NULL},
     {.files = {{"c.test", good_a}},
      .deflt = good_def,
      .pairs = ONLY(P_WILD_C)},
     "c.test",
     true,
     true,
     "mx.a.test",
     NULL,
     P_WILD_C,
     NULL,
     NULL,
     NULL},
    {"a certificate name that is no domain is not served",
     false,
     {.deflt = NULL},
     {.deflt = good_def, .pairs = ONLY(P_LOCAL)},
     "localhost",
     false,
     false,
     NULL,
     NULL,
     -1,
     NULL,
     NULL,
     NULL},
    {"a domain named nowhere any more is dropped",
     true,
     {.config = {"a.test"}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.deflt = good_def, .pairs = NONE},
     "a.test",
     false,
     false,
     NULL,
     NULL,
     -1,
     NULL,
     "a.test: no longer served",
     NULL},
    {"a changed policy is announced with its new id",
     true,
     {.files = {{"a.test", good_a}}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.files = {{"a.test", good_a2}}, .deflt = good_def, .pairs = ONLY(P_A)},
     "a.test",
     true,
     true,
     "mx2.a.test",
     NULL,
     P_A,
     NULL,
     "mode enforce -> testing",
     NULL},
    {"a fixed edit is healthy again",
     true,
     {.files = {{"a.test", NULL}}, .deflt = good_def, .pairs = ONLY(P_A)},
     {.files = {{"a.test", good_a}}, .deflt = good_def, .pairs = ONLY(P_A)},
     "a.test",
     true,
     true,
     "mx.a.test",
     NULL,
     P_A,
     NULL,
     "a.test: healthy again",
     NULL},
};

static void check_rule(const struct rule_case *c)
{
    struct built before, after;
    struct plan_result r0 = {0}, r1 = {0};
    print_message("case: %s\n", c->name);
    if (c->has_before) {
        build(&c->before, &before);
        assert_int_equal(plan_step(NULL, 0, &before.w, NULL, 0, true, &r0), 0);
    }
    build(&c->after, &after);
    assert_int_equal(plan_step(r0.domains, r0.n, &after.w, NULL, 0, true, &r1),
                     0);
    const struct plan_domain *d = plan_find(r1.domains, r1.n, c->domain);
    if (!c->listed) {
        assert_null(d);
    } else {
        assert_non_null(d);
        assert_int_equal(d->servable, c->servable);
        if (c->policy_mx == NULL) {
            assert_null(d->policy);
        } else {
            assert_non_null(d->policy);
            assert_string_equal(d->policy->policy->mx[0], c->policy_mx);
        }
        if (c->policy_problem == NULL)
            assert_null(d->policy_problem);
        else
            assert_non_null(strstr(d->policy_problem, c->policy_problem));
        const struct certs_entry *want = c->cert == -2  ? dev_ab
                                         : c->cert >= 0 ? pairs[c->cert]
                                                        : NULL;
        assert_ptr_equal(d->cert[0], want);
        if (c->cert_problem == NULL)
            assert_null(d->cert_problem);
        else
            assert_non_null(strstr(d->cert_problem, c->cert_problem));
        assert_int_equal(plan_domain_ok(d), c->servable &&
                                                c->policy_problem == NULL &&
                                                c->cert_problem == NULL);
    }
    if (c->not_finding != NULL && found(&r1, c->not_finding))
        fail_msg("a finding with '%s'", c->not_finding);
    if (c->finding != NULL && !found(&r1, c->finding)) {
        for (size_t i = 0; i < r1.n_findings; i++)
            print_message("  finding: %s\n", r1.findings[i].text);
        fail_msg("no finding with '%s'", c->finding);
    }
    plan_result_free(&r1);
    plan_result_free(&r0);
    unbuild(&after);
    if (c->has_before)
        unbuild(&before);
}

static void test_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        check_rule(&rules[i]);
}

/* ---- sharing and isolation --------------------------------------------------
 */

/* Planning only a dirty domain leaves every other record as it was (the
 * same object), and one domain's fault touches no other. */
static void test_dirty_shares_the_rest(void **state)
{
    (void)state;
    struct world_spec s0 = {.files = {{"a.test", good_a}, {"b.test", good_a}},
                            .deflt = good_def,
                            .pairs = ONLY(P_AB)};
    struct world_spec s1 = {.files = {{"a.test", good_a}, {"b.test", NULL}},
                            .deflt = good_def,
                            .pairs = ONLY(P_AB)};
    struct built w0, w1;
    struct plan_result r0, r1, r2, r3;
    build(&s0, &w0);
    build(&s1, &w1);
    assert_int_equal(plan_step(NULL, 0, &w0.w, NULL, 0, true, &r0), 0);
    assert_int_equal(r0.n, 2);
    assert_int_equal(r0.n_changed, 2);
    static const char *const dirty[] = {"b.test", "b.test"};
    assert_int_equal(plan_step(r0.domains, r0.n, &w1.w, dirty, 2, false, &r1),
                     0);
    assert_int_equal(r1.n, 2);
    assert_int_equal(r1.n_changed, 1);
    const struct plan_domain *a0 = plan_find(r0.domains, r0.n, "a.test");
    const struct plan_domain *a1 = plan_find(r1.domains, r1.n, "a.test");
    const struct plan_domain *b1 = plan_find(r1.domains, r1.n, "b.test");
    assert_ptr_equal(a0, a1);
    assert_true(plan_domain_ok(a1));
    assert_non_null(b1->policy_problem);
    assert_true(b1->servable); /* its last good policy */
    /* Everything planned again: a.test now has w1's policy object, with
     * the same id, which is nothing to announce. */
    assert_int_equal(plan_step(r1.domains, r1.n, &w1.w, NULL, 0, true, &r2), 0);
    assert_false(found(&r2, "policy changed"));
    assert_false(found(&r2, "publish:"));
    /* The same world again: nothing changes, nothing is said. */
    assert_int_equal(plan_step(r2.domains, r2.n, &w1.w, NULL, 0, true, &r3), 0);
    assert_int_equal(r3.n_changed, 0);
    assert_int_equal(r3.n_findings, 0);
    for (size_t i = 0; i < r3.n; i++)
        assert_ptr_equal(r3.domains[i], r2.domains[i]);
    plan_result_free(&r3);
    plan_result_free(&r2);
    plan_result_free(&r1);
    plan_result_free(&r0);
    unbuild(&w1);
    unbuild(&w0);
}

/* The result is sorted by name whatever order the sources name domains. */
static void test_sorted(void **state)
{
    (void)state;
    struct world_spec s = {.config = {"z.test", "a.test"},
                           .files = {{"m.test", good_a}},
                           .deflt = good_def,
                           .pairs = ONLY(P_AB)};
    struct built w;
    struct plan_result r;
    /* The config is sorted by the store; the planner relies on it. */
    s.config[0] = "a.test";
    s.config[1] = "z.test";
    build(&s, &w);
    assert_int_equal(plan_step(NULL, 0, &w.w, NULL, 0, true, &r), 0);
    assert_int_equal(r.n, 4);
    for (size_t i = 1; i < r.n; i++)
        assert_true(strcmp(r.domains[i - 1]->name, r.domains[i]->name) < 0);
    assert_non_null(plan_find(r.domains, r.n, "b.test"));
    assert_null(plan_find(r.domains, r.n, "c.test"));
    plan_result_free(&r);
    unbuild(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_dirty_shares_the_rest),
        cmocka_unit_test(test_sorted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
