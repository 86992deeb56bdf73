/*
 * libFuzzer target for check_advise's policy edit (advise_edit), the one
 * part of `advise` that rewrites text: the input is a policy file as the
 * operator wrote it. Invariants, checked with abort(): an empty edit
 * gives the input back with no diff; every edit is a fixed point (made
 * again on its own result it changes nothing and says so); an mx line
 * added and then removed gives the input back when it ended in a newline
 * and named no such host; and for a policy that validates, setting the
 * mode and max_age and adding an mx gives one that validates with that
 * mode, max_age and mx, its other mx patterns kept in order.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_advise.h"

#define CAP (1 << 20)
#define NEW_MX "zz-fuzz-new.example"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct buf *b, const char *s, size_t n)
{
    return b->len == n && (n == 0 || memcmp(b->data, s, n) == 0);
}

/* names tells whether the bytes hold s anywhere. */
static bool names(const uint8_t *data, size_t size, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, s, n) == 0)
            return true;
    return false;
}

/* edit runs advise_edit into out (emptied first) and returns the diff's
 * length; the caps are never hit by fuzz-sized inputs. */
static size_t edit(const char *s, size_t n, const struct advise_edit *e,
                   struct buf *out)
{
    struct buf diff;
    buf_free(out);
    buf_init(&diff, CAP);
    if (advise_edit(s, n, e, out, &diff) != 0)
        abort();
    size_t len = diff.len;
    buf_free(&diff);
    return len;
}

/* fixed_point: e made on its own result changes nothing. */
static void fixed_point(const struct buf *once, const struct advise_edit *e)
{
    struct buf twice;
    buf_init(&twice, CAP);
    struct advise_edit again = *e;
    again.add_mx = NULL; /* an addition is not idempotent by design */
    if (edit(once->data != NULL ? once->data : "", once->len, &again, &twice) !=
            0 ||
        !same(&twice, once->data, once->len))
        abort();
    buf_free(&twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct buf out, back;
    struct diag d;
    buf_init(&out, CAP);
    buf_init(&back, CAP);
    diag_init(&d, "fuzz");
    struct advise_edit none = {0};
    if (edit(s, size, &none, &out) != 0 || !same(&out, s, size))
        abort();
    struct advise_edit modes = {.mode = "none", .max_age = "86400"};
    edit(s, size, &modes, &out);
    fixed_point(&out, &modes);
    struct advise_edit rm = {.remove_mx = "mx1.example.com"};
    edit(s, size, &rm, &out);
    fixed_point(&out, &rm);
    bool named = names(data, size, NEW_MX);
    struct advise_edit add = {.add_mx = NEW_MX};
    edit(s, size, &add, &out);
    struct advise_edit del = {.remove_mx = NEW_MX};
    edit(out.data, out.len, &del, &back);
    if (!named && size > 0 && s[size - 1] == '\n' && !same(&back, s, size))
        abort();
    /* A valid policy stays valid with the new values. */
    struct policy *p = policy_parse(s, size, &d);
    if (p != NULL && memchr(data, '\r', size) == NULL) {
        struct advise_edit all = {
            .mode = "enforce", .max_age = "86400", .add_mx = NEW_MX};
        edit(s, size, &all, &out);
        struct policy *q = policy_parse(out.data, out.len, &d);
        if (q == NULL || q->mode != POLICY_MODE_ENFORCE ||
            q->max_age != 86400 || q->n_mx != p->n_mx + 1 ||
            strcmp(q->mx[q->n_mx - 1], NEW_MX) != 0)
            abort();
        for (size_t i = 0; i < p->n_mx; i++)
            if (strcmp(p->mx[i], q->mx[i]) != 0)
                abort();
        policy_free(q);
    }
    policy_free(p);
    diag_free(&d);
    buf_free(&out);
    buf_free(&back);
    return 0;
}
