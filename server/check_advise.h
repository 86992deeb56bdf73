/*
 * check_advise: the safe order of a lifecycle change of one domain, for
 * `mta-sts-host advise`: testing to enforce, an MX change (RFC 8461 §8.1)
 * and retiring the policy (§8.3). Given what check saw in live DNS (the
 * `_mta-sts` record, where it was found and its TTL, the MX set and its
 * TTL), the policy this host serves (its file's text, mode, max_age, id),
 * what the stored TLS reports say, and the time now, it gives either the
 * steps, each with the concrete records or policy edit and the earliest
 * UTC time it is safe, or the reason the change must wait. The edits are
 * made on the policy file's own text and their ids computed by
 * policy_parse, the code that serves them. Pure: no I/O, no clock (now is
 * given), no globals; any thread.
 */
#ifndef MTA_STS_CHECK_ADVISE_H
#define MTA_STS_CHECK_ADVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "check_run.h"
#include "diag.h"
#include "policy.h"
#include "tlsrpt_summary.h"

/* The max_age of the policy that retires a domain: one day, as RFC 8461
 * §8.3 suggests ("a small max_age"). */
#define ADVISE_RETIRE_MAX_AGE 86400UL
#define ADVISE_STEPS_MAX 6
#define ADVISE_TEXT_MAX 2048

enum advise_action { ADVISE_ENFORCE, ADVISE_MX_CHANGE, ADVISE_RETIRE };

/* ADVISE_DONE: there is nothing to change (already in enforce). */
enum advise_status { ADVISE_READY, ADVISE_BLOCKED, ADVISE_DONE };

struct advise_in {
    const char *domain;
    int64_t now; /* seconds since the epoch, UTC */
    const struct check_facts *dns;
    const struct policy *policy; /* as served; NULL: serves none */
    const char *source;          /* its file */
    bool shared;                 /* the default policy, served for others */
    const char *text;            /* the file's bytes, to edit */
    size_t len;
    const struct tlsrpt_facts *reports; /* NULL: no state_dir */
    /* enforce: the check results that failed (their lines), any */
    const char *const *check_failures;
    size_t n_check_failures;
    /* mx-change: the MX host to add and the one to remove (either may be
     * NULL, not both); normalised host names */
    const char *add_mx, *remove_mx;
};

struct advise_step {
    int64_t at;                  /* earliest time, UTC seconds */
    char what[ADVISE_TEXT_MAX];  /* what to do, and why then */
    char lines[ADVISE_TEXT_MAX]; /* records or edit lines, '\n' each */
    char id[POLICY_ID_MAX + 1];  /* the policy id after it, or "" */
};

struct advise_plan {
    enum advise_action action;
    enum advise_status status;
    char reason[ADVISE_TEXT_MAX]; /* where the domain stands */
    struct advise_step step[ADVISE_STEPS_MAX];
    size_t n;
};

/* A line edit of a policy file; NULL fields are left alone. */
struct advise_edit {
    const char *mode;      /* the new value of `mode:` */
    const char *max_age;   /* the new value of `max_age:` */
    const char *add_mx;    /* a `mx:` line added after the last one */
    const char *remove_mx; /* `mx:` lines with this value dropped */
};

/*
 * advise_edit applies e to the policy text[0..len) into out, keeping every
 * other byte (comments, order, line ends), and appends the changed lines
 * to diff ("- old" and "+ new", one per line). Returns 0, or -1 when a
 * buffer's cap or memory is hit.
 */
int advise_edit(const char *text, size_t len, const struct advise_edit *e,
                struct buf *out, struct buf *diff);

/*
 * advise_plan plans action for in into out. Returns 0 (out->status says
 * whether it is ready), or -1 with the reason in d when an edited policy
 * does not validate or memory runs out.
 */
int advise_plan(enum advise_action action, const struct advise_in *in,
                struct advise_plan *out, struct diag *d);

/* advise_action_parse reads "enforce", "mx-change" or "retire"; -1 for
 * anything else. */
int advise_action_parse(const char *s, enum advise_action *out);

/* advise_action_name returns "enforce", "mx-change" or "retire". */
const char *advise_action_name(enum advise_action a);

/* advise_text appends the plan as lines: the status and reason, the facts
 * it rests on, then one numbered step each (its time, what, and its lines
 * indented). */
int advise_text(const struct advise_plan *p, const struct advise_in *in,
                struct buf *b);

/* advise_json appends {"domain","action","status","reason","facts":{...},
 * "steps":[{"at","after_seconds","what","lines":[...],"id"}...]}. */
int advise_json(const struct advise_plan *p, const struct advise_in *in,
                struct buf *b);

#endif
