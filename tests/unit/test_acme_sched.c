/*
 * Unit tests for acme_sched: the back-off steps, the Retry-After bounds of
 * RFC 9773 §4.3, the window pick, what to do next for a name (one table
 * row per rule) and the order pace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "acme_sched.h"

#define MIN 60
#define HOUR 3600
#define DAY 86400
/* An arbitrary "now": 2026-12-01T00:00:00Z. */
#define NOW 1796083200

static void test_backoff(void **state)
{
    (void)state;
    static const struct {
        unsigned failures;
        int64_t pause;
    } rows[] = {
        {0, 0}, {1, MIN}, {2, 10 * MIN}, {3, 100 * MIN}, {4, DAY}, {50, DAY},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(acme_sched_backoff(rows[i].failures), rows[i].pause);
}

static void test_ari_retry(void **state)
{
    (void)state;
    static const struct {
        int64_t in, out;
    } rows[] = {
        {-1, 6 * HOUR}, {0, MIN},   {59, MIN},      {60, 60},         {61, 61},
        {21600, 21600}, {DAY, DAY}, {DAY + 1, DAY}, {INT64_MAX, DAY},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(acme_sched_ari_retry(rows[i].in), rows[i].out);
}

static void test_set_window(void **state)
{
    (void)state;
    struct acme_sched_name n = {0};
    /* An empty or reversed window is no answer: nothing recorded. */
    assert_int_equal(acme_sched_set_window(&n, NOW, NOW, 7), -1);
    assert_int_equal(acme_sched_set_window(&n, NOW, NOW - 1, 7), -1);
    assert_int_equal(n.renew_at, 0);
    assert_int_equal(n.window_start, 0);

    /* A one-second window: its start is the only time in it. */
    assert_int_equal(acme_sched_set_window(&n, NOW, NOW + 1, 12345), 1);
    assert_int_equal(n.renew_at, NOW);

    /* The pick is rnd modulo the span, from the start: the first and the
     * last second of the window are both reachable, the end is not. */
    n = (struct acme_sched_name){0};
    assert_int_equal(acme_sched_set_window(&n, NOW, NOW + DAY, 0), 1);
    assert_int_equal(n.renew_at, NOW);
    n = (struct acme_sched_name){0};
    assert_int_equal(acme_sched_set_window(&n, NOW, NOW + DAY, DAY - 1), 1);
    assert_int_equal(n.renew_at, NOW + DAY - 1);
    n = (struct acme_sched_name){0};
    assert_int_equal(acme_sched_set_window(&n, NOW, NOW + DAY, DAY + 5), 1);
    assert_int_equal(n.renew_at, NOW + 5);
    n = (struct acme_sched_name){0};
    assert_int_equal(acme_sched_set_window(&n, NOW, NOW + DAY, UINT64_MAX), 1);
    assert_true(n.renew_at >= NOW && n.renew_at < NOW + DAY);

    /* The same window again keeps the time picked (asking again must not
     * move the renewal); a moved window picks anew. */
    assert_int_equal(acme_sched_set_window(&n, NOW, NOW + DAY, 3), 0);
    assert_true(n.renew_at != NOW + 3);
    assert_int_equal(acme_sched_set_window(&n, NOW + 1, NOW + DAY, 3), 1);
    assert_int_equal(n.renew_at, NOW + 4);
    assert_int_equal(n.window_start, NOW + 1);
    assert_int_equal(n.window_end, NOW + DAY);
    assert_int_equal(acme_sched_set_window(&n, NOW + 1, NOW + 2 * DAY, 9), 1);
    assert_int_equal(n.renew_at, NOW + 10);
}

/* A 90-day certificate issued 10 days ago: two thirds of it end on day
 * 60, at NOW + 50 days. */
#define NB (NOW - 10 * DAY)
#define NA (NOW + 80 * DAY)
#define FALLBACK (NOW + 50 * DAY)

static void test_next(void **state)
{
    (void)state;
    static const struct {
        const char *why;
        struct acme_sched_name n;
        bool ari;
        enum acme_sched_what what;
        int64_t at;
    } rows[] = {
        {"no certificate: order now", {0}, false, ACME_SCHED_ORDER, NOW},
        {"no certificate, ARI: order now (ARI is about renewals)",
         {0},
         true,
         ACME_SCHED_ORDER,
         NOW},
        {"no certificate, failed once a second ago: a minute's pause",
         {.failures = 1, .failed_at = NOW - 1},
         false,
         ACME_SCHED_ORDER,
         NOW + MIN - 1},
        {"third failure 2 h ago: the 100 minutes are over",
         {.failures = 3, .failed_at = NOW - 2 * HOUR},
         false,
         ACME_SCHED_ORDER,
         NOW},
        {"fifth failure: a day",
         {.failures = 5, .failed_at = NOW},
         false,
         ACME_SCHED_ORDER,
         NOW + DAY},
        {"expired certificate: order now, even with a window",
         {.not_before = NOW - 90 * DAY,
          .not_after = NOW,
          .window_start = NOW + DAY,
          .window_end = NOW + 2 * DAY,
          .renew_at = NOW + DAY},
         true,
         ACME_SCHED_ORDER,
         NOW},
        {"no ARI: order when a third of the lifetime is left",
         {.not_before = NB, .not_after = NA},
         false,
         ACME_SCHED_ORDER,
         FALLBACK},
        {"no ARI, past the two-thirds point: order now",
         {.not_before = NOW - 70 * DAY, .not_after = NOW + 20 * DAY},
         false,
         ACME_SCHED_ORDER,
         NOW},
        {"no ARI, past the point but failed: after the back-off",
         {.not_before = NOW - 70 * DAY,
          .not_after = NOW + 20 * DAY,
          .failures = 2,
          .failed_at = NOW},
         false,
         ACME_SCHED_ORDER,
         NOW + 10 * MIN},
        {"ARI, no window yet: ask now",
         {.not_before = NB, .not_after = NA},
         true,
         ACME_SCHED_ARI,
         NOW},
        {"ARI, no window, asked before: ask when it said",
         {.not_before = NB, .not_after = NA, .ari_next = NOW + 6 * HOUR},
         true,
         ACME_SCHED_ARI,
         NOW + 6 * HOUR},
        {"ARI unanswered past the fallback: order at the fallback",
         {.not_before = NOW - 70 * DAY,
          .not_after = NOW + 20 * DAY,
          .ari_next = NOW + HOUR},
         true,
         ACME_SCHED_ORDER,
         NOW},
        {"ARI asked again exactly at the fallback: order",
         {.not_before = NB, .not_after = NA, .ari_next = FALLBACK},
         true,
         ACME_SCHED_ORDER,
         FALLBACK},
        {"ARI failing: ask again after the back-off",
         {.not_before = NB, .not_after = NA, .failures = 1, .failed_at = NOW},
         true,
         ACME_SCHED_ARI,
         NOW + MIN},
        {"window known, ask again before the pick: ask",
         {.not_before = NB,
          .not_after = NA,
          .window_start = NOW + 40 * DAY,
          .window_end = NOW + 42 * DAY,
          .renew_at = NOW + 41 * DAY,
          .ari_next = NOW + 6 * HOUR},
         true,
         ACME_SCHED_ARI,
         NOW + 6 * HOUR},
        {"window known, the pick comes first: order at the pick",
         {.not_before = NB,
          .not_after = NA,
          .window_start = NOW + 40 * DAY,
          .window_end = NOW + 42 * DAY,
          .renew_at = NOW + 41 * DAY,
          .ari_next = NOW + 45 * DAY},
         true,
         ACME_SCHED_ORDER,
         NOW + 41 * DAY},
        {"the pick later than the fallback: the CA's window wins",
         {.not_before = NB,
          .not_after = NA,
          .window_start = NOW + 60 * DAY,
          .window_end = NOW + 62 * DAY,
          .renew_at = NOW + 61 * DAY,
          .ari_next = NOW + 70 * DAY},
         true,
         ACME_SCHED_ORDER,
         NOW + 61 * DAY},
        {"ask again at the pick itself: order",
         {.not_before = NB,
          .not_after = NA,
          .window_start = NOW + DAY,
          .window_end = NOW + 2 * DAY,
          .renew_at = NOW + DAY,
          .ari_next = NOW + DAY},
         true,
         ACME_SCHED_ORDER,
         NOW + DAY},
        {"window in the past (revocation): order now",
         {.not_before = NB,
          .not_after = NA,
          .window_start = NOW - 2 * DAY,
          .window_end = NOW - DAY,
          .renew_at = NOW - DAY - HOUR,
          .ari_next = NOW + HOUR},
         true,
         ACME_SCHED_ORDER,
         NOW},
        {"window in the past, failed a minute ago twice: back-off first",
         {.not_before = NB,
          .not_after = NA,
          .window_start = NOW - 2 * DAY,
          .window_end = NOW - DAY,
          .renew_at = NOW - DAY - HOUR,
          .ari_next = NOW + HOUR,
          .failures = 2,
          .failed_at = NOW - MIN},
         true,
         ACME_SCHED_ORDER,
         NOW + 9 * MIN},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct acme_sched_next got =
            acme_sched_next(&rows[i].n, rows[i].ari, NOW);
        if (got.what != rows[i].what || got.at != rows[i].at)
            fail_msg("%s: got %s at NOW%+lld, want %s at NOW%+lld", rows[i].why,
                     got.what == ACME_SCHED_ORDER ? "order" : "ari",
                     (long long)(got.at - NOW),
                     rows[i].what == ACME_SCHED_ORDER ? "order" : "ari",
                     (long long)(rows[i].at - NOW));
    }
}

static void test_pace(void **state)
{
    (void)state;
    struct acme_pace p;
    /* A burst of 3, then 60 an hour: one a minute. */
    acme_pace_init(&p, 3, 60, NOW);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(acme_pace_when(&p, NOW), NOW);
        assert_int_equal(acme_pace_take(&p, NOW), 0);
    }
    assert_int_equal(acme_pace_take(&p, NOW), -1);
    assert_int_equal(acme_pace_when(&p, NOW), NOW + MIN);
    assert_int_equal(acme_pace_when(&p, NOW + 59), NOW + MIN);
    assert_int_equal(acme_pace_take(&p, NOW + 59), -1);
    assert_int_equal(acme_pace_take(&p, NOW + MIN), 0);
    assert_int_equal(acme_pace_when(&p, NOW + MIN), NOW + 2 * MIN);

    /* Two minutes after a take from a bucket of two: the refill stops at
     * the burst. */
    acme_pace_init(&p, 3, 60, NOW);
    assert_int_equal(acme_pace_take(&p, NOW), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(acme_pace_take(&p, NOW + 2 * MIN), 0);
    assert_int_equal(acme_pace_take(&p, NOW + 2 * MIN), -1);

    /* Idle for a day: back to the burst, not beyond it. */
    int64_t t = NOW + DAY;
    for (int i = 0; i < 3; i++)
        assert_int_equal(acme_pace_take(&p, t), 0);
    assert_int_equal(acme_pace_take(&p, t), -1);

    /* 500 names at once at 50 an hour after a burst of 50: the last one
     * is placed 9 hours later, never two faster than the pace allows. */
    acme_pace_init(&p, 50, 50, NOW);
    t = NOW;
    int64_t prev = NOW;
    for (int i = 0; i < 500; i++) {
        t = acme_pace_when(&p, t);
        assert_int_equal(acme_pace_take(&p, t), 0);
        if (i >= 50)
            assert_true(t - prev >= 72); /* 3600 s / 50 */
        prev = t;
    }
    assert_int_equal(t, NOW + 9 * HOUR);

    /* A rate that does not divide the hour rounds the wait up. */
    acme_pace_init(&p, 1, 7, NOW);
    assert_int_equal(acme_pace_take(&p, NOW), 0);
    assert_int_equal(acme_pace_when(&p, NOW), NOW + 515); /* 514.28... */
    assert_int_equal(acme_pace_take(&p, NOW + 514), -1);
    assert_int_equal(acme_pace_take(&p, NOW + 515), 0);

    /* A clock that steps back never refills the bucket, and the time
     * said is one at which the take succeeds. */
    acme_pace_init(&p, 1, 60, NOW);
    assert_int_equal(acme_pace_take(&p, NOW), 0);
    assert_int_equal(acme_pace_take(&p, NOW - HOUR), -1);
    assert_int_equal(acme_pace_when(&p, NOW - HOUR), NOW + MIN);
    assert_int_equal(acme_pace_take(&p, NOW + MIN - 1), -1);
    assert_int_equal(acme_pace_take(&p, NOW + MIN), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),    cmocka_unit_test(test_ari_retry),
        cmocka_unit_test(test_set_window), cmocka_unit_test(test_next),
        cmocka_unit_test(test_pace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
