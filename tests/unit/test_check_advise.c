/*
 * Unit tests for check_advise: the policy line edits (mode, max_age, an mx
 * added after the last one or at the end, an mx removed regardless of
 * case, CRLF and a missing last newline kept), and the plans, table by
 * table: enforce ready, blocked (report failures, no reports, failing
 * checks, mode none, the DNS id behind the served one, no record, no
 * policy) or done; an MX change (add and remove, a new MX a wildcard
 * covers already, removal only, the only MX, a host the domain does not
 * know); retiring. Each plan's step times relative to now, the ids of the
 * edited policies (computed here with policy_parse), and the rendered
 * text and JSON (read back by jansson) are checked. One thread, no files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "check_advise.h"

/* ---- edits ------------------------------------------------------------- */

struct edit_case {
    const char *name;
    const char *text;
    struct advise_edit e;
    const char *want, *diff;
};

static const struct edit_case edit_cases[] = {
    {"mode",
     "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 86400\n",
     {.mode = "enforce"},
     "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n",
     "- mode: testing\n+ mode: enforce\n"},
    {"mode already so: nothing changes",
     "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n",
     {.mode = "enforce"},
     "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n",
     ""},
    {"mode and max_age, CRLF kept",
     "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: "
     "604800\r\n",
     {.mode = "none", .max_age = "86400"},
     "version: STSv1\r\nmode: none\r\nmx: a.example\r\nmax_age: 86400\r\n",
     "- mode: enforce\n+ mode: none\n- max_age: 604800\n+ max_age: 86400\n"},
    {"mx added after the last mx",
     "version: STSv1\nmode: enforce\nmx: a.example\nmx: b.example\nmax_age: "
     "86400\n",
     {.add_mx = "c.example"},
     "version: STSv1\nmode: enforce\nmx: a.example\nmx: b.example\nmx: "
     "c.example\nmax_age: 86400\n",
     "+ mx: c.example\n"},
    {"mx removed whatever its case, another added",
     "version: STSv1\nmode: enforce\nmx: A.Example\nmx: b.example\nmax_age: "
     "86400\n",
     {.add_mx = "c.example", .remove_mx = "a.example"},
     "version: STSv1\nmode: enforce\nmx: b.example\nmx: c.example\nmax_age: "
     "86400\n",
     "- mx: A.Example\n+ mx: c.example\n"},
    {"the last mx removed, the new one takes its place",
     "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n",
     {.add_mx = "c.example", .remove_mx = "a.example"},
     "version: STSv1\nmode: enforce\nmax_age: 86400\nmx: c.example\n",
     "- mx: a.example\n+ mx: c.example\n"},
    {"no newline at the end",
     "version: STSv1\nmode: none\nmax_age: 86400",
     {.add_mx = "c.example"},
     "version: STSv1\nmode: none\nmax_age: 86400\nmx: c.example\n",
     "+ mx: c.example\n"},
    {"the last line an mx without newline",
     "version: STSv1\nmode: enforce\nmax_age: 86400\nmx: a.example",
     {.add_mx = "c.example"},
     "version: STSv1\nmode: enforce\nmax_age: 86400\nmx: a.example\nmx: "
     "c.example",
     "+ mx: c.example\n"},
    {"a key that only starts like one is left",
     "version: STSv1\nmodes: x\nmode:testing\nmx: a.example\nmax_age: 1\n",
     {.mode = "enforce"},
     "version: STSv1\nmodes: x\nmode: enforce\nmx: a.example\nmax_age: 1\n",
     "- mode:testing\n+ mode: enforce\n"},
};

static void test_edit(void **state)
{
    const struct edit_case *tc = *state;
    struct buf out, diff;
    buf_init(&out, 65536);
    buf_init(&diff, 65536);
    assert_int_equal(
        advise_edit(tc->text, strlen(tc->text), &tc->e, &out, &diff), 0);
    assert_string_equal(out.data != NULL ? out.data : "", tc->want);
    assert_string_equal(diff.data != NULL ? diff.data : "", tc->diff);
    buf_free(&out);
    buf_free(&diff);
}

static void test_edit_cap(void **state)
{
    (void)state;
    static const char text[] = "version: STSv1\nmode: testing\nmax_age: 1\n";
    struct advise_edit e = {.mode = "enforce"};
    struct buf out, diff;
    buf_init(&out, 8); /* far too small */
    buf_init(&diff, 1024);
    assert_int_equal(advise_edit(text, strlen(text), &e, &out, &diff), -1);
    buf_free(&out);
    buf_free(&diff);
}

/* ---- plans ------------------------------------------------------------- */

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define TTL 3600
#define MX_TTL 300

static const char testing[] =
    "version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 604800\n";
static const char enforce[] = "version: STSv1\nmode: enforce\nmx: "
                              "mx1.example.com\nmx: *.mx.example.com\n"
                              "max_age: 604800\n";
static const char two[] = "version: STSv1\nmode: testing\nmx: "
                          "mx1.example.com\nmx: mx3.example.com\n"
                          "max_age: 604800\n";
static const char none[] =
    "version: STSv1\nmode: none\nmx: mx1.example.com\nmax_age: 86400\n";

/* Ten days of reports: the last ends a second before now. */
static const struct tlsrpt_facts clean = {2, NOW - 10 * 86400, NOW - 1, 200, 0,
                                          ""};
/* One failed session is enough to wait. */
static const struct tlsrpt_facts failing = {
    1,   NOW - 86400, NOW - 1,
    100, 1,           "mx1.example.com fails certificate-expired for 1 sender"};
static const struct tlsrpt_facts nothing = {0, 0, 0, 0, 0, ""};

static const char *const one_failure[] = {"mx-tls: MX mx1.example.com ..."};

enum dns_kind { DNS_SAME, DNS_OLD_ID, DNS_NONE, DNS_TWO_MX };

struct plan_case {
    const char *name;
    enum advise_action action;
    const char *text; /* NULL: no policy served */
    enum dns_kind dns;
    const struct tlsrpt_facts *reports;
    size_t n_failures;
    const char *add, *remove;
    enum advise_status status;
    const char *reason; /* a part of it */
    size_t n_steps;
    int64_t after[ADVISE_STEPS_MAX]; /* each step's time - now */
    /* The step whose id is the policy after edit e (-1: none checked). */
    int edit_step;
    struct advise_edit e;
};

static const struct plan_case plan_cases[] = {
    {"enforce: ready",
     ADVISE_ENFORCE,
     testing,
     DNS_SAME,
     &clean,
     0,
     NULL,
     NULL,
     ADVISE_READY,
     "in testing for 10 days as far as reports show (since 2025-12-22, 2 "
     "reports, 200 sessions): no failures in 10 days of reports: ready",
     3,
     {0, TTL, TTL + 604800},
     0,
     {.mode = "enforce"}},
    {"enforce: failures in the reports",
     ADVISE_ENFORCE,
     testing,
     DNS_SAME,
     &failing,
     0,
     NULL,
     NULL,
     ADVISE_BLOCKED,
     "1 of 101 sessions failed in 1 day of reports (since 2025-12-31); "
     "mx1.example.com fails certificate-expired for 1 sender",
     0,
     {0},
     -1,
     {0}},
    {"enforce: no reports stored",
     ADVISE_ENFORCE,
     testing,
     DNS_SAME,
     &nothing,
     0,
     NULL,
     NULL,
     ADVISE_BLOCKED,
     "no TLS reports for example.com: nothing shows",
     0,
     {0},
     -1,
     {0}},
    {"enforce: no state_dir",
     ADVISE_ENFORCE,
     testing,
     DNS_SAME,
     NULL,
     0,
     NULL,
     NULL,
     ADVISE_BLOCKED,
     "no TLS reports for example.com (no state_dir configured)",
     0,
     {0},
     -1,
     {0}},
    {"enforce: a check fails",
     ADVISE_ENFORCE,
     testing,
     DNS_SAME,
     &clean,
     1,
     NULL,
     NULL,
     ADVISE_BLOCKED,
     "check fails (1): mx-tls: MX mx1.example.com ...: in enforce mode",
     0,
     {0},
     -1,
     {0}},
    {"enforce: already",
     ADVISE_ENFORCE,
     enforce,
     DNS_SAME,
     &clean,
     0,
     NULL,
     NULL,
     ADVISE_DONE,
     "is in enforce mode already",
     0,
     {0},
     -1,
     {0}},
    {"enforce: from none, testing first",
     ADVISE_ENFORCE,
     none,
     DNS_SAME,
     &clean,
     0,
     NULL,
     NULL,
     ADVISE_BLOCKED,
     "is in mode none: go to `mode: testing` first",
     0,
     {0},
     -1,
     {0}},
    {"any: DNS publishes an older id",
     ADVISE_RETIRE,
     testing,
     DNS_OLD_ID,
     NULL,
     0,
     NULL,
     NULL,
     ADVISE_BLOCKED,
     "DNS says id=old1, this host serves ",
     0,
     {0},
     -1,
     {0}},
    {"any: no record",
     ADVISE_MX_CHANGE,
     testing,
     DNS_NONE,
     NULL,
     0,
     "mx2.example.com",
     NULL,
     ADVISE_BLOCKED,
     "_mta-sts.example.com has no usable v=STSv1 record",
     0,
     {0},
     -1,
     {0}},
    {"any: no policy served",
     ADVISE_ENFORCE,
     NULL,
     DNS_SAME,
     &clean,
     0,
     NULL,
     NULL,
     ADVISE_BLOCKED,
     "this host serves no valid policy for example.com",
     0,
     {0},
     -1,
     {0}},
    {"mx-change: add and remove",
     ADVISE_MX_CHANGE,
     testing,
     DNS_SAME,
     NULL,
     0,
     "mx2.example.com",
     "mx1.example.com",
     ADVISE_READY,
     "add MX mx2.example.com, remove MX mx1.example.com (policy testing, "
     "max_age 604800 s; TXT TTL 3600 s, MX TTL 300 s)",
     3,
     {0, TTL + 604800, TTL + 604800 + MX_TTL},
     0,
     {.add_mx = "mx2.example.com"}},
    {"mx-change: a wildcard covers the new MX",
     ADVISE_MX_CHANGE,
     enforce,
     DNS_SAME,
     NULL,
     0,
     "b.mx.example.com",
     "mx1.example.com",
     ADVISE_READY,
     "add MX b.mx.example.com",
     3,
     {0, 0, MX_TTL},
     2,
     {.remove_mx = "mx1.example.com"}},
    {"mx-change: removal of one of two",
     ADVISE_MX_CHANGE,
     two,
     DNS_TWO_MX,
     NULL,
     0,
     NULL,
     "mx1.example.com",
     ADVISE_READY,
     "remove MX mx1.example.com",
     2,
     {0, MX_TTL},
     1,
     {.remove_mx = "mx1.example.com"}},
    {"mx-change: the only MX",
     ADVISE_MX_CHANGE,
     testing,
     DNS_SAME,
     NULL,
     0,
     NULL,
     "mx1.example.com",
     ADVISE_BLOCKED,
     "mx1.example.com is the only MX of example.com",
     0,
     {0},
     -1,
     {0}},
    {"mx-change: a host the domain does not know",
     ADVISE_MX_CHANGE,
     testing,
     DNS_SAME,
     NULL,
     0,
     NULL,
     "mx9.example.com",
     ADVISE_BLOCKED,
     "mx9.example.com is neither an MX of example.com nor an mx pattern",
     0,
     {0},
     -1,
     {0}},
    {"retire",
     ADVISE_RETIRE,
     enforce,
     DNS_SAME,
     NULL,
     0,
     NULL,
     NULL,
     ADVISE_READY,
     "mode enforce, max_age 604800 s; the _mta-sts record is at "
     "_mta-sts.example.com (TTL 3600 s)",
     3,
     {0, 0, TTL + 604800},
     0,
     {.mode = "none", .max_age = "86400"}},
};

/* A plan's world: the served policy, the DNS facts, the input. */
struct world {
    struct policy *p;
    struct check_facts f;
    struct advise_in in;
};

static void world_make(struct world *w, const struct plan_case *tc)
{
    struct diag d;
    diag_init(&d, "test");
    memset(w, 0, sizeof(*w));
    if (tc->text != NULL) {
        w->p = policy_parse(tc->text, strlen(tc->text), &d);
        assert_non_null(w->p);
    }
    w->f.sts = tc->dns == DNS_NONE ? CHECK_REC_NONE : CHECK_REC_OK;
    snprintf(w->f.sts_id, sizeof(w->f.sts_id), "%s",
             tc->dns == DNS_OLD_ID || w->p == NULL ? "old1" : w->p->id);
    snprintf(w->f.sts_at, sizeof(w->f.sts_at), "_mta-sts.example.com");
    w->f.sts_ttl = TTL;
    w->f.mx_ttl = MX_TTL;
    snprintf(w->f.mx[0].host, sizeof(w->f.mx[0].host), "mx1.example.com");
    w->f.mx[0].pref = 20; /* not the default 10 a new MX would get */
    w->f.n_mx = 1;
    if (tc->dns == DNS_TWO_MX) {
        snprintf(w->f.mx[1].host, sizeof(w->f.mx[1].host), "mx3.example.com");
        w->f.mx[1].pref = 30;
        w->f.n_mx = 2;
    }
    w->in = (struct advise_in){
        .domain = "example.com",
        .now = NOW,
        .dns = &w->f,
        .policy = w->p,
        .source = "policy/example.com.txt",
        .text = tc->text,
        .len = tc->text != NULL ? strlen(tc->text) : 0,
        .reports = tc->reports,
        .check_failures = one_failure,
        .n_check_failures = tc->n_failures,
        .add_mx = tc->add,
        .remove_mx = tc->remove,
    };
    diag_free(&d);
}

/* edited_id is the id of the case's policy after e, by policy_parse. */
static void edited_id(const struct plan_case *tc, char *id)
{
    struct buf out, diff;
    struct diag d;
    buf_init(&out, 65536);
    buf_init(&diff, 65536);
    diag_init(&d, "test");
    struct advise_edit e = tc->e;
    /* The removal of the mx-change case follows its addition. */
    if (tc->action == ADVISE_MX_CHANGE && tc->edit_step == 0)
        e.remove_mx = NULL;
    assert_int_equal(advise_edit(tc->text, strlen(tc->text), &e, &out, &diff),
                     0);
    struct policy *p = policy_parse(out.data, out.len, &d);
    assert_non_null(p);
    snprintf(id, POLICY_ID_MAX + 1, "%s", p->id);
    policy_free(p);
    diag_free(&d);
    buf_free(&out);
    buf_free(&diff);
}

static void test_plan(void **state)
{
    const struct plan_case *tc = *state;
    struct world w;
    struct advise_plan plan;
    struct diag d;
    world_make(&w, tc);
    diag_init(&d, "advise");
    assert_int_equal(advise_plan(tc->action, &w.in, &plan, &d), 0);
    assert_int_equal(plan.status, tc->status);
    if (strstr(plan.reason, tc->reason) == NULL)
        fail_msg("reason '%s' lacks '%s'", plan.reason, tc->reason);
    assert_int_equal(plan.n, tc->n_steps);
    for (size_t i = 0; i < plan.n; i++)
        assert_int_equal(plan.step[i].at - NOW, tc->after[i]);
    if (tc->edit_step >= 0) {
        char id[POLICY_ID_MAX + 1];
        const struct advise_step *s = &plan.step[tc->edit_step];
        edited_id(tc, id);
        assert_string_equal(s->id, id);
        assert_string_not_equal(s->id, w.p->id);
        char rec[128];
        snprintf(rec, sizeof(rec),
                 "_mta-sts.example.com. IN TXT \"v=STSv1; id=%s\"\n", id);
        assert_non_null(strstr(s->lines, rec));
    }
    policy_free(w.p);
    diag_free(&d);
}

/* The removal after an addition is edited on the added text: the last
 * step's id is that of the policy with both edits. */
static void test_plan_mx_both(void **state)
{
    (void)state;
    const struct plan_case *tc = &plan_cases[10];
    struct world w;
    struct advise_plan plan;
    struct diag d;
    world_make(&w, tc);
    diag_init(&d, "advise");
    assert_int_equal(advise_plan(ADVISE_MX_CHANGE, &w.in, &plan, &d), 0);
    static const char both[] =
        "version: STSv1\nmode: testing\nmx: mx2.example.com\nmax_age: "
        "604800\n";
    struct policy *p = policy_parse(both, strlen(both), &d);
    assert_non_null(p);
    assert_string_equal(plan.step[2].id, p->id);
    assert_string_equal(plan.step[1].lines,
                        "example.com. IN MX 20 mx2.example.com.\n"
                        "delete: example.com. IN MX 20 mx1.example.com.\n");
    policy_free(p);
    policy_free(w.p);
    diag_free(&d);
}

/* An edit that leaves no valid policy is an error with the reason. */
static void test_plan_invalid_edit(void **state)
{
    (void)state;
    struct plan_case tc = plan_cases[10];
    struct world w;
    struct advise_plan plan;
    struct diag d;
    tc.add = "bad host";
    world_make(&w, &tc);
    diag_init(&d, "advise");
    assert_int_equal(advise_plan(ADVISE_MX_CHANGE, &w.in, &plan, &d), -1);
    assert_true(d.errors > 0);
    policy_free(w.p);
    diag_free(&d);
}

static void test_text(void **state)
{
    (void)state;
    struct world w;
    struct advise_plan plan;
    struct diag d;
    struct buf b;
    world_make(&w, &plan_cases[0]);
    diag_init(&d, "advise");
    buf_init(&b, 1 << 20);
    assert_int_equal(advise_plan(ADVISE_ENFORCE, &w.in, &plan, &d), 0);
    assert_int_equal(advise_text(&plan, &w.in, &b), 0);
    char want[4096];
    snprintf(want, sizeof(want),
             "advise enforce example.com: ready: %s\n"
             "  now: _mta-sts.example.com has id=%s (TTL 3600 s); "
             "policy/example.com.txt serves mode testing, max_age 604800 "
             "s; 1 MX (TTL 300 s)\n"
             "1. now (2026-01-01T00:00:00Z): edit policy/example.com.txt: "
             "set `mode: enforce` (this host serves it as soon as it is "
             "saved), then publish its id %s\n"
             "     - mode: testing\n"
             "     + mode: enforce\n"
             "     _mta-sts.example.com. IN TXT \"v=STSv1; id=%s\"\n"
             "2. from 2026-01-01T01:00:00Z (in 1 hour): senders that look "
             "up _mta-sts.example.com again (its TTL is 3600 s) see id %s "
             "and fetch the enforce policy\n"
             "3. from 2026-01-08T01:00:00Z (in 7 days 1 hour): every sender "
             "applies enforce: a testing policy cached before the new id "
             "was seen has passed its max_age (604800 s)\n",
             plan.reason, w.p->id, plan.step[0].id, plan.step[0].id,
             plan.step[0].id);
    assert_string_equal(b.data, want);
    policy_free(w.p);
    diag_free(&d);
    buf_free(&b);
}

/* A retired domain whose record is delegated: the provider's TXT record
 * and the customer's CNAME go, and the new id is published at the
 * provider's name; with its own record there is no CNAME to delete. */
static void test_retire_delegated(void **state)
{
    (void)state;
    struct world w;
    struct advise_plan plan;
    struct diag d;
    world_make(&w, &plan_cases[15]); /* retire */
    diag_init(&d, "advise");
    assert_int_equal(advise_plan(ADVISE_RETIRE, &w.in, &plan, &d), 0);
    assert_null(strstr(plan.step[2].lines, "IN CNAME"));
    snprintf(w.f.sts_at, sizeof(w.f.sts_at), "_mta-sts.example.com.p.example");
    assert_int_equal(advise_plan(ADVISE_RETIRE, &w.in, &plan, &d), 0);
    char want[512];
    snprintf(want, sizeof(want),
             "_mta-sts.example.com.p.example. IN TXT \"v=STSv1; id=%s\"\n",
             plan.step[0].id);
    assert_non_null(strstr(plan.step[0].lines, want));
    snprintf(want, sizeof(want),
             "delete: _mta-sts.example.com.p.example. IN TXT \"v=STSv1; "
             "id=%s\"\n"
             "delete: _mta-sts.example.com. IN CNAME "
             "_mta-sts.example.com.p.example.\n"
             "delete: mta-sts.example.com. (its CNAME, or A/AAAA)\n",
             plan.step[0].id);
    assert_string_equal(plan.step[2].lines, want);
    policy_free(w.p);
    diag_free(&d);
}

/* Durations show up to three units: the MX TTL after a week and an
 * hour is not rounded away. */
static void test_text_duration(void **state)
{
    (void)state;
    struct world w;
    struct advise_plan plan;
    struct diag d;
    struct buf b;
    world_make(&w, &plan_cases[10]); /* mx-change: add and remove */
    diag_init(&d, "advise");
    buf_init(&b, 1 << 20);
    assert_int_equal(advise_plan(ADVISE_MX_CHANGE, &w.in, &plan, &d), 0);
    assert_int_equal(advise_text(&plan, &w.in, &b), 0);
    assert_non_null(strstr(b.data, "\n2. from 2026-01-08T01:00:00Z (in 7 "
                                   "days 1 hour): switch the MX records"));
    assert_non_null(strstr(b.data, "\n3. from 2026-01-08T01:05:00Z (in 7 "
                                   "days 1 hour 5 minutes): edit "));
    policy_free(w.p);
    diag_free(&d);
    buf_free(&b);
}

static void test_json(void **state)
{
    (void)state;
    struct world w;
    struct advise_plan plan;
    struct diag d;
    struct buf b;
    json_error_t err;
    world_make(&w, &plan_cases[15]); /* retire */
    w.in.shared = true;
    w.in.source = "policy/mta-sts.txt";
    diag_init(&d, "advise");
    buf_init(&b, 1 << 20);
    assert_int_equal(advise_plan(ADVISE_RETIRE, &w.in, &plan, &d), 0);
    assert_int_equal(advise_json(&plan, &w.in, &b), 0);
    json_t *doc = json_loads(b.data, 0, &err);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "status")),
                        "ready");
    assert_string_equal(json_string_value(json_object_get(doc, "action")),
                        "retire");
    json_t *steps = json_object_get(doc, "steps");
    assert_int_equal(json_array_size(steps), 3);
    json_t *last = json_array_get(steps, 2);
    assert_string_equal(json_string_value(json_object_get(last, "at")),
                        "2026-01-08T01:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(last, "after_seconds")),
                     TTL + 604800);
    json_t *first = json_array_get(steps, 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")),
                        plan.step[0].id);
    /* The default policy is copied for the domain before the edit. */
    assert_non_null(
        strstr(json_string_value(json_object_get(first, "what")),
               "copy policy/mta-sts.txt (the default policy, served for "
               "other domains too) to policy/example.com.txt and in the "
               "copy set `mode: none`"));
    json_t *facts = json_object_get(doc, "facts");
    assert_int_equal(json_integer_value(json_object_get(facts, "sts_ttl")),
                     TTL);
    assert_true(json_is_null(json_object_get(facts, "reports")));
    json_decref(doc);
    policy_free(w.p);
    diag_free(&d);
    buf_free(&b);
}

static void test_actions(void **state)
{
    (void)state;
    enum advise_action a;
    assert_int_equal(advise_action_parse("enforce", &a), 0);
    assert_int_equal(a, ADVISE_ENFORCE);
    assert_int_equal(advise_action_parse("mx-change", &a), 0);
    assert_int_equal(a, ADVISE_MX_CHANGE);
    assert_int_equal(advise_action_parse("retire", &a), 0);
    assert_string_equal(advise_action_name(a), "retire");
    assert_int_equal(advise_action_parse("Enforce", &a), -1);
    assert_int_equal(advise_action_parse("", &a), -1);
}

int main(void)
{
    enum { N_EDIT = sizeof(edit_cases) / sizeof(edit_cases[0]) };
    enum { N_PLAN = sizeof(plan_cases) / sizeof(plan_cases[0]) };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_edit_cap),
        cmocka_unit_test(test_plan_mx_both),
        cmocka_unit_test(test_plan_invalid_edit),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_retire_delegated),
        cmocka_unit_test(test_text_duration),
        cmocka_unit_test(test_actions),
    };
    enum { N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
    struct CMUnitTest tests[N_FIXED + N_EDIT + N_PLAN];
    size_t n = 0;
    for (size_t i = 0; i < N_FIXED; i++)
        tests[n++] = fixed[i];
    for (size_t i = 0; i < N_EDIT; i++) {
        struct CMUnitTest t = {edit_cases[i].name, test_edit, NULL, NULL,
                               (void *)&edit_cases[i]};
        tests[n++] = t;
    }
    for (size_t i = 0; i < N_PLAN; i++) {
        struct CMUnitTest t = {plan_cases[i].name, test_plan, NULL, NULL,
                               (void *)&plan_cases[i]};
        tests[n++] = t;
    }
    return _cmocka_run_group_tests("check_advise", tests, n, NULL, NULL);
}
