/*
 * libFuzzer target for check_parse (server/check_parse.c). The whole input
 * is TXT rdata for check_txt_join and wire form for check_wire_name; split
 * at '\n' it gives up to four TXT records for both record-set readers, and
 * their first two lines MX hosts and policy patterns for check_mx_cover.
 *
 * Invariants, checked with abort(): the joined text is no longer than the
 * rdata and joins to itself when written back as one string per 255
 * bytes; a wire name renders to at most 253 characters of lower case, and
 * written back to wire form reads the same; an accepted `_mta-sts` record
 * has an id of 1 to 32 letters and digits that occurs in the record, and
 * "v=STSv1; id=<id>" reads back with the same id; a verdict other than ok
 * always carries a message; an accepted `_smtp._tls` record has 1 to 16
 * URIs; the coverage count equals what the flags say; a whole SMTP reply
 * ends in '\n' within the input, has a code of 200 to 599, and reads the
 * same from exactly its own bytes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_parse.h"
#include "dnsname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXR 4

static void check_join(const uint8_t *data, size_t size)
{
    static char out[70000], again[70000];
    static unsigned char wire[70000 + 70000 / 255 + 2];
    char err[CHECK_ERR_MAX];
    if (size > 65535)
        return;
    long n = check_txt_join(data, size, out, sizeof(out), err, sizeof(err));
    if (n < 0) {
        if (err[0] == '\0')
            abort();
        return;
    }
    if ((size_t)n > size || out[n] != '\0')
        abort();
    size_t o = 0;
    for (long i = 0; i < n; i += 255) {
        long k = n - i < 255 ? n - i : 255;
        wire[o++] = (unsigned char)k;
        memcpy(wire + o, out + i, (size_t)k);
        o += (size_t)k;
    }
    long m = check_txt_join(wire, o, again, sizeof(again), err, sizeof(err));
    if (m != n || memcmp(out, again, (size_t)n) != 0)
        abort();
}

static void check_name(const uint8_t *data, size_t size)
{
    char out[CHECK_NAME_MAX], again[CHECK_NAME_MAX], err[CHECK_ERR_MAX];
    size_t used = 0, used2 = 0;
    if (check_wire_name(data, size, out, &used, err, sizeof(err)) < 0)
        return;
    size_t len = strlen(out);
    if (len > DNSNAME_MAX || used > size || used == 0)
        abort();
    for (size_t i = 0; i < len; i++)
        if (out[i] >= 'A' && out[i] <= 'Z')
            abort();
    /* Back to wire form, label by label. */
    unsigned char wire[DNSNAME_MAX + 2];
    size_t o = 0;
    if (strcmp(out, ".") != 0) {
        const char *p = out;
        for (;;) {
            const char *dot = strchr(p, '.');
            size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);
            wire[o++] = (unsigned char)l;
            memcpy(wire + o, p, l);
            o += l;
            if (dot == NULL)
                break;
            p = dot + 1;
        }
    }
    wire[o++] = 0;
    if (check_wire_name(wire, o, again, &used2, err, sizeof(err)) < 0 ||
        strcmp(out, again) != 0 || used2 != o)
        abort();
}

static void check_records(const char *const *recs, const size_t *lens, size_t n)
{
    struct check_sts sts;
    check_sts_select(recs, lens, n, &sts);
    if (sts.status != CHECK_REC_OK && sts.err[0] == '\0')
        abort();
    if (sts.status == CHECK_REC_OK) {
        size_t l = strlen(sts.id);
        if (l < 1 || l > POLICY_ID_MAX || sts.n_records != 1)
            abort();
        for (size_t i = 0; i < l; i++)
            if (!((sts.id[i] >= 'a' && sts.id[i] <= 'z') ||
                  (sts.id[i] >= 'A' && sts.id[i] <= 'Z') ||
                  (sts.id[i] >= '0' && sts.id[i] <= '9')))
                abort();
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            for (size_t k = 0; k + l <= lens[i] && !found; k++)
                found = memcmp(recs[i] + k, sts.id, l) == 0;
        if (!found)
            abort();
        char rec[64] = "v=STSv1; id=";
        memcpy(rec + 12, sts.id, l + 1);
        const char *r[] = {rec};
        size_t rl[] = {strlen(rec)};
        struct check_sts back;
        check_sts_select(r, rl, 1, &back);
        if (back.status != CHECK_REC_OK || strcmp(back.id, sts.id) != 0)
            abort();
    }
    struct check_tlsrpt rpt;
    check_tlsrpt_select(recs, lens, n, &rpt);
    if (rpt.status != CHECK_REC_OK && rpt.err[0] == '\0')
        abort();
    if (rpt.status == CHECK_REC_OK &&
        (rpt.n_rua < 1 || rpt.n_rua > CHECK_RUA_MAX || rpt.n_records != 1))
        abort();
}

static void check_cover(const char *const *recs, size_t n)
{
    if (n < 2)
        return;
    bool cov[1], used[1];
    size_t p = check_mx_cover(recs, 1, recs + 1, 1, cov, used);
    size_t want =
        !cov[0] + (!used[0] && dnsname_wildcard_base(recs[1]) == NULL);
    if (p != want || cov[0] != used[0])
        abort();
}

static void check_reply(const uint8_t *data, size_t size)
{
    struct check_smtp_reply r, again;
    char err[CHECK_ERR_MAX] = "";
    int rc = check_smtp_reply((const char *)data, size, &r, err, sizeof(err));
    if (rc < 0 && err[0] == '\0')
        abort();
    if (rc != 1)
        return;
    if (r.used == 0 || r.used > size || r.code < 200 || r.code > 599 ||
        data[r.used - 1] != '\n')
        abort();
    if (check_smtp_reply((const char *)data, r.used, &again, err,
                         sizeof(err)) != 1 ||
        again.code != r.code || again.starttls != r.starttls ||
        again.used != r.used)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_join(data, size);
    check_reply(data, size);
    check_name(data, size);
    char *copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *recs[MAXR];
    size_t lens[MAXR], n = 0;
    char *p = copy;
    while (n < MAXR) {
        char *nl = memchr(p, '\n', size - (size_t)(p - copy));
        recs[n] = p;
        lens[n] = nl != NULL ? (size_t)(nl - p) : size - (size_t)(p - copy);
        n++;
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    check_records(recs, lens, n);
    /* Names with a NUL inside end early there, as C strings do. */
    check_cover(recs, n);
    free(copy);
    return 0;
}
