/*
 * policy: parser and validator for MTA-STS policy files (RFC 8461 §3.2).
 * Buffer in, a validated policy or diagnostics out. It also derives what the
 * host serves: the policy with CRLF terminators and trailing blanks trimmed,
 * nothing reordered or dropped, and the id, a hash of exactly those bytes.
 * Pure: no I/O, no logging, no globals; safe from any thread.
 */
#ifndef MTA_STS_POLICY_H
#define MTA_STS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* Policies larger than this are refused (RFC 8461 §3.3 lets senders cap at
 * 64 KiB); larger than POLICY_WARN_SIZE draws a warning. */
#define POLICY_MAX_SIZE 65536
#define POLICY_WARN_SIZE 64000
#define POLICY_MAX_AGE_MAX 31557600UL
#define POLICY_ID_MAX 32 /* characters, [A-Za-z0-9] */

enum policy_mode { POLICY_MODE_ENFORCE, POLICY_MODE_TESTING, POLICY_MODE_NONE };

struct policy {
    enum policy_mode mode;
    unsigned long max_age; /* seconds */
    char **mx;             /* the mx patterns in file order, NUL-terminated */
    size_t n_mx;
    char *served; /* the bytes to serve (CRLF lines), NUL-terminated */
    size_t served_len;
    bool non_ascii; /* served bytes contain non-ASCII (UTF-8) */
    char id[POLICY_ID_MAX + 1];
};

/*
 * policy_parse validates buf[0..len) and returns a new policy, or NULL when
 * it has errors. Every error and warning goes to d with line and column.
 * Warnings alone do not make it fail.
 */
struct policy *policy_parse(const char *buf, size_t len, struct diag *d);

/* policy_free releases a policy; NULL is a no-op. */
void policy_free(struct policy *p);

/* policy_mode_name returns "enforce", "testing" or "none". */
const char *policy_mode_name(enum policy_mode mode);

/*
 * policy_id computes the id of served bytes: a SHA-256 (GnuTLS) rendered as
 * POLICY_ID_MAX characters of [A-Za-z0-9]. Returns 0, or -1 on failure.
 */
int policy_id(const char *served, size_t len, char out[POLICY_ID_MAX + 1]);

#endif
