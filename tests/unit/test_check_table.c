/*
 * test_check_table: the schedule and the results of serve's periodic check
 * (server/check_table.c): first runs spread over the interval but at most
 * a second apart, each domain again an interval after its turn (and after
 * now when it ran late), a changed id due at once with a run in progress
 * discarded, dropped domains gone with their results, one run of a domain
 * at a time, the per-check summary (worst level per name) and the change
 * text for the log. Pure: the tests pass the time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_table.h"

#define MIN_MS 60000

/* claim_at claims what is due at now; returns the domain or "" (and the
 * wake time in *wake). */
static const char *claim_at(struct check_table *t, int64_t now, int64_t *wake)
{
    static char name[CHECK_NAME_MAX];
    char id[POLICY_ID_MAX + 1];
    int64_t w = -1;
    if (check_table_claim(t, now, name, id, &w) != 1)
        name[0] = '\0';
    if (wake != NULL)
        *wake = w;
    return name;
}

/* rep_add appends one result to a report (fix "" for none). */
static void rep_add(struct check_report *rep, const char *check,
                    enum check_level level, const char *what, const char *fix)
{
    if (rep->n == rep->cap) {
        rep->cap = rep->cap ? rep->cap * 2 : 8;
        rep->r = realloc(rep->r, rep->cap * sizeof(*rep->r));
        assert_non_null(rep->r);
    }
    struct check_result *r = &rep->r[rep->n++];
    memset(r, 0, sizeof(*r));
    r->check = check;
    r->level = level;
    snprintf(r->what, sizeof(r->what), "%s", what);
    snprintf(r->fix, sizeof(r->fix), "%s", fix);
    rep->counts[level]++;
}

static int put(struct check_table *t, const char *domain, const char *id,
               const struct check_report *rep, int64_t now, char *changes)
{
    return check_table_put(t, domain, id, rep, now, 1700000000, changes,
                           CHECK_TEXT_MAX);
}

static void test_spread(void **state)
{
    (void)state;
    /* Four domains over a minute: 15 s apart, but at most 1 s. */
    struct check_target tg[] = {{"a.example", "1"},
                                {"b.example", "1"},
                                {"c.example", "1"},
                                {"d.example", "1"}};
    struct check_table *t = check_table_new(MIN_MS);
    assert_non_null(t);
    assert_int_equal(check_table_sync(t, tg, 4, 5000), 0);
    assert_int_equal(check_table_count(t), 4);
    int64_t wake;
    assert_string_equal(claim_at(t, 5000, NULL), "a.example");
    assert_string_equal(claim_at(t, 5999, &wake), "");
    assert_int_equal(wake, 6000);
    assert_string_equal(claim_at(t, 6000, NULL), "b.example");
    assert_string_equal(claim_at(t, 7000, NULL), "c.example");
    assert_string_equal(claim_at(t, 8000, NULL), "d.example");
    check_table_free(t);

    /* Forty over a minute would be 1.5 s apart: 1 s. */
    t = check_table_new(MIN_MS);
    struct check_target forty[40];
    static char fnames[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(fnames[i], sizeof(fnames[i]), "f%02d.example", i);
        forty[i].domain = fnames[i];
        forty[i].id = "x";
    }
    assert_int_equal(check_table_sync(t, forty, 40, 0), 0);
    assert_string_equal(claim_at(t, 0, NULL), "f00.example");
    assert_string_equal(claim_at(t, 999, &wake), "");
    assert_int_equal(wake, 1000);
    check_table_free(t);

    /* A thousand domains over a minute: 60 ms apart. */
    static struct check_target many[1000];
    static char names[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(names[i], sizeof(names[i]), "d%04d.example", i);
        many[i].domain = names[i];
        many[i].id = "x";
    }
    t = check_table_new(MIN_MS);
    assert_int_equal(check_table_sync(t, many, 1000, 0), 0);
    assert_string_equal(claim_at(t, 0, NULL), "d0000.example");
    assert_string_equal(claim_at(t, 59, &wake), "");
    assert_int_equal(wake, 60);
    assert_string_equal(claim_at(t, 60, NULL), "d0001.example");
    /* The last one comes a gap before the interval is over. */
    for (int i = 2; i < 999; i++)
        assert_string_not_equal(claim_at(t, 60 * i, NULL), "");
    assert_string_equal(claim_at(t, 60 * 999 - 1, NULL), "");
    assert_string_equal(claim_at(t, 60 * 999, NULL), "d0999.example");
    check_table_free(t);
    check_table_free(NULL);
}

static void test_new_after_waiting(void **state)
{
    (void)state;
    struct check_target tg[] = {{"a.example", "1"}, {"b.example", "1"}};
    struct check_target more[] = {
        {"a.example", "1"}, {"b.example", "1"}, {"c.example", "1"}};
    struct check_table *t = check_table_new(MIN_MS);
    check_table_sync(t, tg, 2, 0); /* a at 0, b at 1000 */
    /* c comes after b, not at once with it. */
    check_table_sync(t, more, 3, 10);
    assert_string_equal(claim_at(t, 10, NULL), "a.example");
    assert_string_equal(claim_at(t, 1000, NULL), "b.example");
    assert_string_equal(claim_at(t, 1999, NULL), "");
    assert_string_equal(claim_at(t, 2000, NULL), "c.example");
    /* Much later, a new one is due at once. */
    struct check_target four[] = {{"a.example", "1"},
                                  {"b.example", "1"},
                                  {"c.example", "1"},
                                  {"d.example", "1"}};
    check_table_sync(t, four, 4, 50000);
    assert_string_equal(claim_at(t, 50000, NULL), "d.example");
    check_table_free(t);
}

static void test_interval_and_late(void **state)
{
    (void)state;
    struct check_target tg[] = {{"a.example", "1"}};
    struct check_report rep = {0};
    char changes[CHECK_TEXT_MAX];
    rep_add(&rep, "sts-id", CHECK_OK, "m", "");
    struct check_table *t = check_table_new(MIN_MS);
    check_table_sync(t, tg, 1, 1000);
    assert_string_equal(claim_at(t, 1000, NULL), "a.example");
    /* In progress: not claimed twice. */
    int64_t wake;
    assert_string_equal(claim_at(t, 1000, &wake), "");
    assert_int_equal(wake, 1000 + MIN_MS);
    assert_int_equal(put(t, "a.example", "1", &rep, 3000, changes), 1);
    /* Due an interval after its turn, not after its end. */
    assert_string_equal(claim_at(t, 1000 + MIN_MS - 1, &wake), "");
    assert_int_equal(wake, 1000 + MIN_MS);
    assert_string_equal(claim_at(t, 1000 + MIN_MS, NULL), "a.example");
    /* A run that ends later than its next turn: an interval from now. */
    int64_t end = 1000 + 3 * MIN_MS;
    assert_int_equal(put(t, "a.example", "1", &rep, end, changes), 1);
    assert_string_equal(claim_at(t, end + MIN_MS - 1, &wake), "");
    assert_int_equal(wake, end + MIN_MS);
    check_table_free(t);
    free(rep.r);
}

static void test_id_change(void **state)
{
    (void)state;
    struct check_target v1[] = {{"a.example", "1"}, {"b.example", "1"}};
    struct check_target v2[] = {{"a.example", "2"}, {"b.example", "1"}};
    struct check_target none[] = {{"a.example", NULL}, {"b.example", "1"}};
    struct check_report rep = {0};
    char changes[CHECK_TEXT_MAX];
    rep_add(&rep, "sts-id", CHECK_OK, "m", "");
    struct check_table *t = check_table_new(MIN_MS);
    check_table_sync(t, v1, 2, 0);
    assert_string_equal(claim_at(t, 0, NULL), "a.example");
    assert_int_equal(put(t, "a.example", "1", &rep, 10, changes), 1);
    /* The id changes: due at once, ahead of b. */
    check_table_sync(t, v2, 2, 500);
    char name[CHECK_NAME_MAX], id[POLICY_ID_MAX + 1];
    int64_t wake;
    assert_int_equal(check_table_claim(t, 500, name, id, &wake), 1);
    assert_string_equal(name, "a.example");
    assert_string_equal(id, "2");
    /* It changes again during the run: the run is discarded, and the
     * domain is due again at once. */
    check_table_sync(t, v1, 2, 600);
    assert_int_equal(put(t, "a.example", "2", &rep, 700, changes), 0);
    assert_string_equal(changes, "");
    assert_int_equal(check_table_claim(t, 700, name, id, &wake), 1);
    assert_string_equal(name, "a.example");
    assert_string_equal(id, "1");
    assert_int_equal(put(t, "a.example", "1", &rep, 800, changes), 1);
    /* No valid policy any more: the empty id, due at once. */
    check_table_sync(t, none, 2, 900);
    assert_int_equal(check_table_claim(t, 900, name, id, &wake), 1);
    assert_string_equal(name, "a.example");
    assert_string_equal(id, "");
    assert_int_equal(put(t, "a.example", NULL, &rep, 950, changes), 1);
    /* The same id again is no change: not due (b is, at its time). */
    check_table_sync(t, none, 2, 960);
    assert_string_equal(claim_at(t, 960, NULL), "");
    assert_string_equal(claim_at(t, 1000, NULL), "b.example");
    assert_string_equal(claim_at(t, 1000, NULL), "");
    check_table_free(t);
    free(rep.r);
}

/* The view, as a visit sees it. */
struct seen {
    int calls;
    char domain[CHECK_NAME_MAX];
    char id[POLICY_ID_MAX + 1];
    time_t last_run;
    size_t n_items, n_sums;
    char sums[256];
    char fix0[64];
};

static void visit(void *ctx, const struct check_view *v)
{
    struct seen *s = ctx;
    s->calls++;
    snprintf(s->domain, sizeof(s->domain), "%s", v->domain);
    snprintf(s->id, sizeof(s->id), "%s", v->id);
    s->last_run = v->last_run;
    s->n_items = v->n_items;
    s->n_sums = v->n_sums;
    size_t o = 0;
    for (size_t i = 0; i < v->n_sums; i++)
        o += (size_t)snprintf(s->sums + o, sizeof(s->sums) - o, "%s=%s ",
                              v->sums[i].check,
                              check_level_name(v->sums[i].level));
    snprintf(s->fix0, sizeof(s->fix0), "%s",
             v->n_items > 0 && v->items[0].fix ? v->items[0].fix : "(null)");
}

static void test_results_and_changes(void **state)
{
    (void)state;
    struct check_target tg[] = {{"a.example", "1"}};
    struct check_table *t = check_table_new(MIN_MS);
    char changes[CHECK_TEXT_MAX];
    struct seen s = {0};
    check_table_sync(t, tg, 1, 0);
    /* Nothing yet: no visit. */
    assert_int_equal(check_table_visit(t, "a.example", visit, &s), 0);
    assert_int_equal(check_table_visit(t, "b.example", visit, &s), 0);
    assert_int_equal(s.calls, 0);

    /* First run: what is not ok is the change; the worst level per name. */
    struct check_report r1 = {0};
    rep_add(&r1, "sts-txt", CHECK_OK, "one record", "");
    rep_add(&r1, "sts-id", CHECK_FAIL, "DNS says id=0", "publish id=1");
    rep_add(&r1, "mx-tls", CHECK_OK, "mx1 fine", "");
    rep_add(&r1, "mx-tls", CHECK_WARN, "mx2 expires", "renew");
    rep_add(&r1, "mx-tls", CHECK_OK, "mx3 fine", "");
    assert_string_equal(claim_at(t, 0, NULL), "a.example");
    assert_int_equal(put(t, "a.example", "1", &r1, 10, changes), 1);
    assert_string_equal(changes, "sts-id none -> fail: DNS says id=0; "
                                 "mx-tls none -> warn: mx2 expires");
    assert_int_equal(check_table_visit(t, "a.example", visit, &s), 1);
    assert_int_equal(s.calls, 1);
    assert_string_equal(s.domain, "a.example");
    assert_string_equal(s.id, "1");
    assert_int_equal(s.last_run, 1700000000);
    assert_int_equal(s.n_items, 5);
    assert_string_equal(s.sums, "sts-txt=ok sts-id=fail mx-tls=warn ");
    assert_string_equal(s.fix0, "(null)"); /* an empty fix is none */

    /* The same again: no change to log. */
    assert_string_equal(claim_at(t, MIN_MS, NULL), "a.example");
    assert_int_equal(put(t, "a.example", "1", &r1, MIN_MS + 10, changes), 1);
    assert_string_equal(changes, "");

    /* sts-id fixed, an mx-tls fails, sts-txt gone, policy-fetch new. */
    struct check_report r2 = {0};
    rep_add(&r2, "sts-id", CHECK_OK, "DNS says id=1", "");
    rep_add(&r2, "mx-tls", CHECK_FAIL, "mx1 refused", "install");
    rep_add(&r2, "mx-tls", CHECK_WARN, "mx2 expires", "renew");
    rep_add(&r2, "policy-fetch", CHECK_OK, "200", "");
    rep_add(&r2, "mx", CHECK_FAIL, "mx9 not covered", "add mx: mx9");
    assert_string_equal(claim_at(t, 2 * MIN_MS, NULL), "a.example");
    assert_int_equal(put(t, "a.example", "1", &r2, 2 * MIN_MS, changes), 1);
    assert_string_equal(changes, "sts-id fail -> ok: DNS says id=1; "
                                 "mx-tls warn -> fail: mx1 refused; "
                                 "mx none -> fail: mx9 not covered; "
                                 "sts-txt ok -> none");
    check_table_visit(t, "a.example", visit, &s);
    assert_string_equal(s.sums,
                        "sts-id=ok mx-tls=fail policy-fetch=ok mx=fail ");
    assert_string_equal(s.fix0, "(null)");

    /* A failed run (memory): the previous results stay, still scheduled. */
    assert_string_equal(claim_at(t, 3 * MIN_MS, NULL), "a.example");
    assert_int_equal(put(t, "a.example", "1", NULL, 3 * MIN_MS, changes), -1);
    check_table_visit(t, "a.example", visit, &s);
    assert_int_equal(s.n_items, 5);
    assert_string_equal(claim_at(t, 4 * MIN_MS, NULL), "a.example");

    /* A put for a domain never claimed is ignored. */
    assert_int_equal(put(t, "z.example", "1", &r2, 0, changes), 0);
    check_table_free(t);
    free(r1.r);
    free(r2.r);
}

static void test_dropped(void **state)
{
    (void)state;
    struct check_target ab[] = {{"a.example", "1"}, {"b.example", "1"}};
    struct check_target b[] = {{"b.example", "1"}};
    struct check_report rep = {0};
    char changes[CHECK_TEXT_MAX];
    struct seen s = {0};
    rep_add(&rep, "sts-id", CHECK_FAIL, "m", "f");
    struct check_table *t = check_table_new(MIN_MS);
    check_table_sync(t, ab, 2, 0);
    assert_string_equal(claim_at(t, 0, NULL), "a.example");
    assert_int_equal(put(t, "a.example", "1", &rep, 1, changes), 1);
    assert_string_equal(claim_at(t, 1000, NULL), "b.example");
    /* a goes, with its results; b goes while it is checked. */
    check_table_sync(t, b, 1, 1100);
    assert_int_equal(check_table_count(t), 1);
    assert_int_equal(check_table_visit(t, "a.example", visit, &s), 0);
    check_table_sync(t, NULL, 0, 1200);
    assert_int_equal(check_table_count(t), 0);
    assert_int_equal(put(t, "b.example", "1", &rep, 1300, changes), 0);
    /* b back: a new domain, a gap after the last new one (1000). */
    check_table_sync(t, b, 1, 1400);
    assert_string_equal(claim_at(t, 1999, NULL), "");
    assert_string_equal(claim_at(t, 2000, NULL), "b.example");
    /* Gone and back while checked: the old run does not count for it. */
    check_table_sync(t, NULL, 0, 2100);
    check_table_sync(t, b, 1, 2200);
    assert_int_equal(put(t, "b.example", "1", &rep, 2300, changes), 0);
    assert_int_equal(check_table_visit(t, "b.example", visit, &s), 0);
    assert_string_equal(claim_at(t, 2999, NULL), "");
    assert_string_equal(claim_at(t, 3000, NULL), "b.example");
    check_table_free(t);
    free(rep.r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_new_after_waiting),
        cmocka_unit_test(test_interval_and_late),
        cmocka_unit_test(test_id_change),
        cmocka_unit_test(test_results_and_changes),
        cmocka_unit_test(test_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
