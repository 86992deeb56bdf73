/*
 * check_advise: the lifecycle plans of `advise` (see check_advise.h). The
 * waiting times follow RFC 8461: a sender learns of a new policy when it
 * next looks up `_mta-sts` (at the latest when the TXT record's TTL has
 * passed), and one that fetched a policy may use it for its max_age
 * without looking again (§3.3, §5.1), so a change that could make a
 * cached policy refuse mail waits for TTL + max_age (§8.1, §8.3). Pure;
 * any thread.
 */
#include "check_advise.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "diag.h"
#include "dnsname.h"

#define EDIT_MAX (POLICY_MAX_SIZE + 4096)

static const char *const action_names[] = {"enforce", "mx-change", "retire"};
static const char *const status_names[] = {"ready", "blocked", "done"};

int advise_action_parse(const char *s, enum advise_action *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, action_names[i]) == 0) {
            *out = (enum advise_action)i;
            return 0;
        }
    return -1;
}

const char *advise_action_name(enum advise_action a)
{
    return action_names[a];
}

/* put formats into a fixed-size text field (cut ones end in "..."). */
#define put(field, ...) diag_fit((field), ADVISE_TEXT_MAX, __VA_ARGS__)

/* ---- the edit ---------------------------------------------------------- */

/* key_is tells whether a policy line is `key:` (the key in front, as
 * policy_parse reads it) and points *value at the trimmed value. */
static bool key_is(const char *line, size_t n, const char *key,
                   const char **value, size_t *vlen)
{
    size_t k = strlen(key);
    if (n <= k || memcmp(line, key, k) != 0 || line[k] != ':')
        return false;
    size_t i = k + 1, e = n;
    while (i < e && (line[i] == ' ' || line[i] == '\t'))
        i++;
    while (e > i &&
           (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r'))
        e--;
    *value = line + i;
    *vlen = e - i;
    return true;
}

/* A line of the text: [start, start+len) without its end, which is eol
 * ("\n", "\r\n" or "" for a last line without one). */
struct line {
    const char *start;
    size_t len;
    const char *eol;
};

static size_t next_line(const char *text, size_t len, size_t at, struct line *l)
{
    const char *nl = memchr(text + at, '\n', len - at);
    size_t end = nl != NULL ? (size_t)(nl - text) : len;
    l->start = text + at;
    l->len = end - at;
    l->eol = "";
    if (nl != NULL) {
        l->eol = "\n";
        if (l->len > 0 && l->start[l->len - 1] == '\r') {
            l->len--;
            l->eol = "\r\n";
        }
    }
    return nl != NULL ? end + 1 : len;
}

static bool is_removed(const struct line *l, const struct advise_edit *e)
{
    const char *v;
    size_t vl;
    return e->remove_mx != NULL && key_is(l->start, l->len, "mx", &v, &vl) &&
           vl == strlen(e->remove_mx) && strncasecmp(v, e->remove_mx, vl) == 0;
}

int advise_edit(const char *text, size_t len, const struct advise_edit *e,
                struct buf *out, struct buf *diff)
{
    struct line l;
    const char *v, *eol = "\n";
    size_t vl, last_mx = len, at = 0;
    /* The new mx line goes after the last one that stays. */
    while (at < len) {
        size_t line_at = at;
        at = next_line(text, len, at, &l);
        if (key_is(l.start, l.len, "mx", &v, &vl) && !is_removed(&l, e))
            last_mx = line_at;
    }
    bool added = false;
    for (at = 0; at < len;) {
        size_t line_at = at;
        at = next_line(text, len, at, &l);
        if (l.eol[0] != '\0')
            eol = l.eol;
        const char *key = NULL, *to = NULL;
        if (e->mode != NULL && key_is(l.start, l.len, "mode", &v, &vl))
            key = "mode", to = e->mode;
        else if (e->max_age != NULL &&
                 key_is(l.start, l.len, "max_age", &v, &vl))
            key = "max_age", to = e->max_age;
        if (is_removed(&l, e)) {
            buf_printf(diff, "- %.*s\n", (int)l.len, l.start);
        } else if (key != NULL && (vl != strlen(to) || memcmp(v, to, vl))) {
            buf_printf(out, "%s: %s%s", key, to, l.eol);
            buf_printf(diff, "- %.*s\n+ %s: %s\n", (int)l.len, l.start, key,
                       to);
        } else {
            buf_append(out, l.start, l.len);
            buf_puts(out, l.eol);
        }
        if (e->add_mx != NULL && line_at == last_mx) {
            if (l.eol[0] == '\0')
                buf_puts(out, eol);
            buf_printf(out, "mx: %s%s", e->add_mx, l.eol);
            buf_printf(diff, "+ mx: %s\n", e->add_mx);
            added = true;
        }
    }
    if (e->add_mx != NULL && !added) {
        if (len > 0 && text[len - 1] != '\n')
            buf_puts(out, eol);
        buf_printf(out, "mx: %s%s", e->add_mx, eol);
        buf_printf(diff, "+ mx: %s\n", e->add_mx);
    }
    return out->failed || diff->failed ? -1 : 0;
}

/* edited applies e to the policy text (or base, an earlier edit's result,
 * when not NULL) into next, its diff into step->lines after what is
 * there, and its id into step->id. */
static int edited(const struct advise_in *in, const struct buf *base,
                  const struct advise_edit *e, struct buf *next,
                  struct advise_step *step, struct diag *d)
{
    struct buf diff;
    struct policy *p = NULL;
    int rc = -1;
    buf_init(&diff, ADVISE_TEXT_MAX);
    buf_free(next);
    const char *text = base != NULL ? base->data : in->text;
    size_t len = base != NULL ? base->len : in->len;
    if (advise_edit(text != NULL ? text : "", len, e, next, &diff) < 0) {
        diag_add(d, DIAG_ERROR, 0, 0, "%s: the edit does not fit in memory",
                 in->source);
        goto out;
    }
    p = policy_parse(next->data != NULL ? next->data : "", next->len, d);
    if (p == NULL) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "%s: the policy after the edit does not validate", in->source);
        goto out;
    }
    size_t o = strlen(step->lines);
    snprintf(step->lines + o, sizeof(step->lines) - o, "%s",
             diff.data != NULL ? diff.data : "");
    snprintf(step->id, sizeof(step->id), "%s", p->id);
    rc = 0;
out:
    policy_free(p);
    buf_free(&diff);
    return rc;
}

/* ---- the plans --------------------------------------------------------- */

static struct advise_step *step(struct advise_plan *p, int64_t at)
{
    struct advise_step *s = &p->step[p->n++];
    memset(s, 0, sizeof(*s));
    s->at = at;
    return s;
}

/* edit_what says which file to edit; the default policy is shared, so
 * the domain gets its own copy first. */
static void edit_what(const struct advise_in *in, char *what, const char *how)
{
    if (in->shared) {
        const char *slash = strrchr(in->source, '/');
        int dir = slash != NULL ? (int)(slash - in->source + 1) : 0;
        put(what,
            "copy %s (the default policy, served for other domains too) to "
            "%.*s%s.txt and in the copy %s",
            in->source, dir, in->source, in->domain, how);
    } else {
        put(what, "edit %s: %s", in->source, how);
    }
}

/* publish_id adds the _mta-sts record with id to s->lines. */
static void publish_id(const struct advise_in *in, struct advise_step *s,
                       const char *id)
{
    char copy[POLICY_ID_MAX + 1]; /* id may be s->id */
    snprintf(copy, sizeof(copy), "%s", id);
    size_t o = strlen(s->lines);
    snprintf(s->lines + o, sizeof(s->lines) - o,
             "%s. IN TXT \"v=STSv1; id=%s\"\n", in->dns->sts_at, copy);
}

/* The policy edit as one step: the edit, the host serving it on save, the
 * new id published. */
static int edit_step(const struct advise_in *in, struct advise_plan *p,
                     int64_t at, const struct buf *base,
                     const struct advise_edit *e, const char *how,
                     struct buf *next, struct diag *d)
{
    struct advise_step *s = step(p, at);
    char what[ADVISE_TEXT_MAX];
    edit_what(in, what, how);
    if (edited(in, base, e, next, s, d) < 0)
        return -1;
    put(s->what,
        "%s (this host serves it as soon as it is saved), then publish its "
        "id %s",
        what, s->id);
    publish_id(in, s, s->id);
    return 0;
}

/* common_block says why no change can be planned: the host serves no
 * policy, or DNS does not publish the one it serves. */
static bool common_block(const struct advise_in *in, struct advise_plan *p)
{
    const struct check_facts *f = in->dns;
    if (in->policy == NULL) {
        put(p->reason,
            "this host serves no valid policy for %s (mta-sts-host "
            "validate says why)",
            in->domain);
        return true;
    }
    if (f->sts != CHECK_REC_OK) {
        put(p->reason,
            "_mta-sts.%s has no usable v=STSv1 record: publish `%s. IN TXT "
            "\"v=STSv1; id=%s\"` first (mta-sts-host check says why)",
            in->domain, f->sts_at[0] != '\0' ? f->sts_at : "_mta-sts",
            in->policy->id);
        return true;
    }
    if (strcmp(f->sts_id, in->policy->id) != 0) {
        put(p->reason,
            "DNS says id=%s, this host serves %s: publish `%s. IN TXT "
            "\"v=STSv1; id=%s\"` first, so that the plan starts from what "
            "senders see",
            f->sts_id, in->policy->id, f->sts_at, in->policy->id);
        return true;
    }
    return false;
}

static int64_t report_days(const struct tlsrpt_facts *r)
{
    int64_t days = (r->last - r->first + 86399) / 86400;
    return days < 1 ? 1 : days;
}

/* utc renders t as a UTC day (YYYY-MM-DD) or an RFC 3339 time. */
static void utc(int64_t t, bool day, char *out, size_t outlen)
{
    time_t tt = (time_t)t;
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&tt, &tm) != NULL)
        n = day ? strftime(out, outlen, "%Y-%m-%d", &tm)
                : strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (n == 0)
        snprintf(out, outlen, "?");
}

static int plan_enforce(const struct advise_in *in, struct advise_plan *p,
                        struct diag *d)
{
    const struct tlsrpt_facts *r = in->reports;
    const struct policy *pol = in->policy;
    char since[16];
    if (pol->mode == POLICY_MODE_ENFORCE) {
        p->status = ADVISE_DONE;
        put(p->reason, "%s is in enforce mode already", in->source);
        return 0;
    }
    if (pol->mode == POLICY_MODE_NONE) {
        put(p->reason,
            "%s is in mode none: go to `mode: testing` first and collect "
            "TLS reports",
            in->source);
        return 0;
    }
    if (in->n_check_failures > 0) {
        put(p->reason,
            "check fails (%zu): %s: in enforce mode senders would refuse "
            "to deliver; fix this first (mta-sts-host check)",
            in->n_check_failures, in->check_failures[0]);
        return 0;
    }
    if (r == NULL || r->reports == 0) {
        put(p->reason,
            "no TLS reports for %s%s: nothing shows that senders deliver "
            "with the policy; publish _smtp._tls (mta-sts-host dns) and "
            "wait for reports",
            in->domain, r == NULL ? " (no state_dir configured)" : "");
        return 0;
    }
    utc(r->first, true, since, sizeof(since));
    int64_t days = report_days(r);
    if (r->failed > 0) {
        put(p->reason,
            "%lld of %lld sessions failed in %lld day%s of reports (since "
            "%s)%s%s: fix these first (mta-sts-host reports --domain %s)",
            (long long)r->failed, (long long)(r->failed + r->successful),
            (long long)days, days == 1 ? "" : "s", since,
            r->worst[0] != '\0' ? "; " : "", r->worst, in->domain);
        return 0;
    }
    p->status = ADVISE_READY;
    put(p->reason,
        "in testing for %lld day%s as far as reports show (since %s, %lld "
        "report%s, %lld sessions): no failures in %lld day%s of reports: "
        "ready",
        (long long)days, days == 1 ? "" : "s", since, (long long)r->reports,
        r->reports == 1 ? "" : "s", (long long)r->successful, (long long)days,
        days == 1 ? "" : "s");
    struct buf next;
    buf_init(&next, EDIT_MAX);
    struct advise_edit e = {.mode = "enforce"};
    int rc =
        edit_step(in, p, in->now, NULL, &e, "set `mode: enforce`", &next, d);
    buf_free(&next);
    if (rc < 0)
        return -1;
    const char *id = p->step[0].id;
    struct advise_step *s = step(p, in->now + (int64_t)in->dns->sts_ttl);
    put(s->what,
        "senders that look up %s again (its TTL is %lu s) see id %s and "
        "fetch the enforce policy",
        in->dns->sts_at, in->dns->sts_ttl, id);
    s = step(p, in->now + (int64_t)in->dns->sts_ttl + (int64_t)pol->max_age);
    put(s->what,
        "every sender applies enforce: a testing policy cached before the "
        "new id was seen has passed its max_age (%lu s)",
        pol->max_age);
    return 0;
}

/* mx_pref finds host in the MX set; -1 when it is not there. */
static long mx_pref(const struct check_facts *f, const char *host)
{
    for (size_t i = 0; i < f->n_mx; i++)
        if (strcasecmp(f->mx[i].host, host) == 0)
            return (long)f->mx[i].pref;
    return -1;
}

/* covering returns the policy pattern that covers host, or NULL. */
static const char *covering(const struct policy *pol, const char *host)
{
    for (size_t i = 0; i < pol->n_mx; i++)
        if (dnsname_match(pol->mx[i], host))
            return pol->mx[i];
    return NULL;
}

static bool has_pattern(const struct policy *pol, const char *host)
{
    for (size_t i = 0; i < pol->n_mx; i++)
        if (strcasecmp(pol->mx[i], host) == 0)
            return true;
    return false;
}

static int plan_mx(const struct advise_in *in, struct advise_plan *p,
                   struct diag *d)
{
    const struct policy *pol = in->policy;
    const struct check_facts *f = in->dns;
    const char *add = in->add_mx, *rm = in->remove_mx;
    long rm_pref = rm != NULL ? mx_pref(f, rm) : -1;
    bool rm_pattern = rm != NULL && has_pattern(pol, rm);
    if (rm != NULL && rm_pref < 0 && !rm_pattern) {
        put(p->reason, "%s is neither an MX of %s nor an mx pattern of %s", rm,
            in->domain, in->source);
        return 0;
    }
    if (rm != NULL && add == NULL && rm_pref >= 0 && f->n_mx == 1) {
        put(p->reason,
            "%s is the only MX of %s: removing it leaves no mail host; "
            "name its successor with --add",
            rm, in->domain);
        return 0;
    }
    const char *cover = add != NULL ? covering(pol, add) : NULL;
    bool add_mx = add != NULL && mx_pref(f, add) < 0;
    p->status = ADVISE_READY;
    put(p->reason,
        "%s%s%s%s%s (policy %s, max_age %lu s; TXT TTL %lu s, MX "
        "TTL %lu s)",
        add != NULL ? "add MX " : "", add != NULL ? add : "",
        add != NULL && rm != NULL ? ", " : "", rm != NULL ? "remove MX " : "",
        rm != NULL ? rm : "", policy_mode_name(pol->mode), pol->max_age,
        f->sts_ttl, f->mx_ttl);
    struct buf a, b;
    buf_init(&a, EDIT_MAX);
    buf_init(&b, EDIT_MAX);
    int rc = -1;
    const struct buf *base = NULL;
    int64_t switch_at = in->now;
    if (add != NULL && cover == NULL) {
        struct advise_edit e = {.add_mx = add};
        char how[ADVISE_TEXT_MAX / 2];
        snprintf(how, sizeof(how), "add `mx: %s` (keeping the others)", add);
        if (edit_step(in, p, in->now, NULL, &e, how, &a, d) < 0)
            goto out;
        base = &a;
        switch_at = in->now + (int64_t)f->sts_ttl + (int64_t)pol->max_age;
    } else if (add != NULL) {
        struct advise_step *s = step(p, in->now);
        put(s->what,
            "the policy's pattern `mx: %s` covers %s already: no "
            "policy change before the MX switch",
            cover, add);
    }
    if (add_mx || rm_pref >= 0) {
        struct advise_step *s = step(p, switch_at);
        long pref = rm_pref >= 0 ? rm_pref : 10;
        if (switch_at > in->now)
            put(s->what,
                "switch the MX records, once senders that cached the policy "
                "without %s (max_age %lu s, after the TXT TTL %lu s) have "
                "fetched the new one",
                add, pol->max_age, f->sts_ttl);
        else
            put(s->what, "switch the MX records");
        size_t o = 0;
        if (add_mx)
            o += (size_t)snprintf(s->lines, sizeof(s->lines),
                                  "%s. IN MX %ld %s.\n", in->domain, pref, add);
        if (rm_pref >= 0)
            snprintf(s->lines + o, sizeof(s->lines) - o,
                     "delete: %s. IN MX %ld %s.\n", in->domain, rm_pref, rm);
    }
    if (rm_pattern) {
        int64_t at = switch_at + (rm_pref >= 0 ? (int64_t)f->mx_ttl : 0);
        struct advise_edit e = {.remove_mx = rm};
        char how[ADVISE_TEXT_MAX / 2];
        snprintf(how, sizeof(how),
                 "remove `mx: %s`, once resolvers no longer hand out the old "
                 "MX record (its TTL is %lu s)",
                 rm, f->mx_ttl);
        if (edit_step(in, p, at, base, &e, how, &b, d) < 0)
            goto out;
    } else if (rm != NULL && covering(pol, rm) != NULL) {
        struct advise_step *s = step(p, switch_at);
        put(s->what, "the pattern `mx: %s` stays: it may cover other hosts",
            covering(pol, rm));
    }
    rc = 0;
out:
    buf_free(&a);
    buf_free(&b);
    return rc;
}

static int plan_retire(const struct advise_in *in, struct advise_plan *p,
                       struct diag *d)
{
    const struct policy *pol = in->policy;
    const struct check_facts *f = in->dns;
    char age[32];
    p->status = ADVISE_READY;
    put(p->reason,
        "policy %s, mode %s, max_age %lu s; the _mta-sts record is at %s "
        "(TTL %lu s)",
        in->source, policy_mode_name(pol->mode), pol->max_age, f->sts_at,
        f->sts_ttl);
    struct buf next;
    buf_init(&next, EDIT_MAX);
    snprintf(age, sizeof(age), "%lu", ADVISE_RETIRE_MAX_AGE);
    struct advise_edit e = {.mode = "none", .max_age = age};
    int rc = edit_step(in, p, in->now, NULL, &e,
                       "set `mode: none` and a small max_age", &next, d);
    buf_free(&next);
    if (rc < 0)
        return -1;
    struct advise_step *s = step(p, in->now);
    put(s->what, "keep serving the policy (mode none) and keep the records: "
                 "senders must fetch it to forget the old one");
    s = step(p, in->now + (int64_t)f->sts_ttl + (int64_t)pol->max_age);
    put(s->what,
        "every policy senders cached before (max_age %lu s, after the TXT "
        "TTL %lu s; wait longer if an earlier policy had a larger max_age) "
        "has expired: delete the records, then stop serving %s (remove %s%s)",
        pol->max_age, f->sts_ttl, in->domain, in->source,
        in->shared ? "'s copy, or the domain from domains:" : "");
    size_t o = (size_t)snprintf(s->lines, sizeof(s->lines),
                                "delete: %s. IN TXT \"v=STSv1; id=%s\"\n",
                                f->sts_at, p->step[0].id);
    char own[CHECK_NAME_MAX + 16];
    snprintf(own, sizeof(own), "_mta-sts.%s", in->domain);
    if (strcmp(own, f->sts_at) != 0 && o < sizeof(s->lines))
        o += (size_t)snprintf(s->lines + o, sizeof(s->lines) - o,
                              "delete: %s. IN CNAME %s.\n", own, f->sts_at);
    if (o < sizeof(s->lines))
        snprintf(s->lines + o, sizeof(s->lines) - o,
                 "delete: mta-sts.%s. (its CNAME, or A/AAAA)\n", in->domain);
    return 0;
}

int advise_plan(enum advise_action action, const struct advise_in *in,
                struct advise_plan *out, struct diag *d)
{
    memset(out, 0, sizeof(*out));
    out->action = action;
    out->status = ADVISE_BLOCKED;
    if (common_block(in, out))
        return 0;
    switch (action) {
    case ADVISE_ENFORCE:
        return plan_enforce(in, out, d);
    case ADVISE_MX_CHANGE:
        return plan_mx(in, out, d);
    case ADVISE_RETIRE:
        return plan_retire(in, out, d);
    }
    return -1;
}

/* ---- rendering --------------------------------------------------------- */

/* duration renders seconds as "7 days 1 hour" (whole units, at most three,
 * the smaller rounded down), "45 seconds" below a minute. */
static void duration(int64_t s, char *out, size_t outlen)
{
    static const struct {
        int64_t n;
        const char *name;
    } units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
    size_t o = 0;
    int shown = 0;
    out[0] = '\0';
    for (int i = 0; i < 4 && shown < 3; i++) {
        int64_t k = s / units[i].n;
        if (k == 0 && !(i == 3 && shown == 0)) {
            if (shown > 0)
                break;
            continue;
        }
        s -= k * units[i].n;
        int n = snprintf(out + o, outlen - o, "%s%lld %s%s", shown ? " " : "",
                         (long long)k, units[i].name, k == 1 ? "" : "s");
        if (n < 0 || (size_t)n >= outlen - o)
            break;
        o += (size_t)n;
        shown++;
    }
}

int advise_text(const struct advise_plan *p, const struct advise_in *in,
                struct buf *b)
{
    char at[32], in_words[64];
    const struct check_facts *f = in->dns;
    buf_printf(b, "advise %s %s: %s: %s\n", action_names[p->action], in->domain,
               status_names[p->status], p->reason);
    if (in->policy != NULL && f->sts == CHECK_REC_OK)
        buf_printf(b,
                   "  now: %s has id=%s (TTL %lu s); %s serves mode %s, "
                   "max_age %lu s; %zu MX (TTL %lu s)\n",
                   f->sts_at, f->sts_id, f->sts_ttl, in->source,
                   policy_mode_name(in->policy->mode), in->policy->max_age,
                   f->n_mx, f->mx_ttl);
    for (size_t i = 0; i < p->n; i++) {
        const struct advise_step *s = &p->step[i];
        utc(s->at, false, at, sizeof(at));
        if (s->at <= in->now) {
            buf_printf(b, "%zu. now (%s): %s\n", i + 1, at, s->what);
        } else {
            duration(s->at - in->now, in_words, sizeof(in_words));
            buf_printf(b, "%zu. from %s (in %s): %s\n", i + 1, at, in_words,
                       s->what);
        }
        for (const char *l = s->lines; *l != '\0';) {
            const char *nl = strchr(l, '\n');
            size_t n = nl != NULL ? (size_t)(nl - l) : strlen(l);
            buf_printf(b, "     %.*s\n", (int)n, l);
            l += n + (nl != NULL);
        }
    }
    return b->failed ? -1 : 0;
}

static void json_str(struct buf *b, const char *key, const char *v, bool comma)
{
    buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
    if (v == NULL)
        buf_puts(b, "null");
    else
        buf_json_string(b, v, strlen(v));
}

int advise_json(const struct advise_plan *p, const struct advise_in *in,
                struct buf *b)
{
    char at[32];
    const struct check_facts *f = in->dns;
    const struct tlsrpt_facts *r = in->reports;
    buf_puts(b, "{");
    json_str(b, "domain", in->domain, false);
    json_str(b, "action", action_names[p->action], true);
    json_str(b, "status", status_names[p->status], true);
    json_str(b, "reason", p->reason, true);
    buf_puts(b, ",\"facts\":{");
    json_str(b, "sts_at", f->sts == CHECK_REC_OK ? f->sts_at : NULL, false);
    json_str(b, "sts_id", f->sts == CHECK_REC_OK ? f->sts_id : NULL, true);
    buf_printf(b, ",\"sts_ttl\":%lu,\"mx_ttl\":%lu,\"mx\":[", f->sts_ttl,
               f->mx_ttl);
    for (size_t i = 0; i < f->n_mx; i++) {
        buf_printf(b, "%s{\"pref\":%u", i ? "," : "", f->mx[i].pref);
        json_str(b, "host", f->mx[i].host, true);
        buf_puts(b, "}");
    }
    buf_puts(b, "]");
    json_str(b, "source", in->policy != NULL ? in->source : NULL, true);
    json_str(b, "policy_id", in->policy != NULL ? in->policy->id : NULL, true);
    json_str(b, "mode",
             in->policy != NULL ? policy_mode_name(in->policy->mode) : NULL,
             true);
    if (in->policy != NULL)
        buf_printf(b, ",\"max_age\":%lu", in->policy->max_age);
    else
        buf_puts(b, ",\"max_age\":null");
    buf_puts(b, ",\"reports\":");
    if (r == NULL || r->reports == 0) {
        buf_puts(b, "null");
    } else {
        utc(r->first, false, at, sizeof(at));
        buf_printf(b,
                   "{\"reports\":%lld,\"days\":%lld,\"successful\":%lld,"
                   "\"failed\":%lld",
                   (long long)r->reports, (long long)report_days(r),
                   (long long)r->successful, (long long)r->failed);
        json_str(b, "since", at, true);
        buf_puts(b, "}");
    }
    buf_puts(b, "},\"steps\":[");
    for (size_t i = 0; i < p->n; i++) {
        const struct advise_step *s = &p->step[i];
        utc(s->at, false, at, sizeof(at));
        buf_puts(b, i ? ",{" : "{");
        json_str(b, "at", at, false);
        buf_printf(b, ",\"after_seconds\":%lld",
                   (long long)(s->at > in->now ? s->at - in->now : 0));
        json_str(b, "what", s->what, true);
        buf_puts(b, ",\"lines\":[");
        int k = 0;
        for (const char *l = s->lines; *l != '\0'; k++) {
            const char *nl = strchr(l, '\n');
            size_t n = nl != NULL ? (size_t)(nl - l) : strlen(l);
            buf_puts(b, k ? "," : "");
            buf_json_string(b, l, n);
            l += n + (nl != NULL);
        }
        buf_puts(b, "]");
        json_str(b, "id", s->id[0] != '\0' ? s->id : NULL, true);
        buf_puts(b, "}");
    }
    buf_puts(b, "]}\n");
    return b->failed ? -1 : 0;
}
