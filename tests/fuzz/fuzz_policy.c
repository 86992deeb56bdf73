/*
 * fuzz_policy: libFuzzer target for the policy parser (server/policy.c).
 * Any input must parse without crashing or leaking; an accepted input must
 * yield a served form that is itself a valid policy serving the very same
 * bytes and id (the served form is a fixed point), ends in CRLF, has no
 * bare LF, no trailing blank before a terminator, and an id of 1 to 32
 * characters of [A-Za-z0-9] that matches policy_id of the served bytes.
 * Violations abort() so the fuzzer records the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_id(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > POLICY_ID_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9')))
            abort();
    }
}

static void check_served(const struct policy *p)
{
    const char *s = p->served;
    size_t n = p->served_len;
    bool non_ascii = false;
    if (s == NULL || n < 2 || s[n] != '\0')
        abort();
    if (s[n - 2] != '\r' || s[n - 1] != '\n')
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80)
            non_ascii = true;
        /* Every LF is preceded by CR, every CR followed by LF. */
        if (ch == '\n' && (i == 0 || s[i - 1] != '\r'))
            abort();
        if (ch == '\r' && (i + 1 >= n || s[i + 1] != '\n'))
            abort();
        /* Trailing blanks were trimmed. */
        if (ch == '\r' && i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
            abort();
    }
    if (non_ascii != p->non_ascii)
        abort();
    if (n > POLICY_MAX_SIZE)
        abort();
    if (p->mode != POLICY_MODE_NONE && p->n_mx == 0)
        abort();
    if (p->max_age > POLICY_MAX_AGE_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diag d, d2;
    struct policy *p, *q = NULL;
    char id[POLICY_ID_MAX + 1];

    diag_init(&d, "fuzz");
    diag_init(&d2, "served");
    p = policy_parse((const char *)data, size, &d);
    if ((p == NULL) != (diag_errors(&d) > 0))
        abort();
    if (p == NULL)
        goto out;
    check_id(p->id);
    check_served(p);
    if (policy_id(p->served, p->served_len, id) != 0 || strcmp(id, p->id) != 0)
        abort();

    q = policy_parse(p->served, p->served_len, &d2);
    if (q == NULL)
        abort();
    if (q->served_len != p->served_len ||
        memcmp(q->served, p->served, p->served_len) != 0)
        abort();
    if (strcmp(q->id, p->id) != 0 || q->mode != p->mode ||
        q->max_age != p->max_age || q->n_mx != p->n_mx)
        abort();
    for (size_t i = 0; i < p->n_mx; i++)
        if (strcmp(p->mx[i], q->mx[i]) != 0)
            abort();
out:
    policy_free(p);
    policy_free(q);
    diag_free(&d);
    diag_free(&d2);
    return 0;
}
