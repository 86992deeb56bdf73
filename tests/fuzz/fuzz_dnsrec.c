/*
 * libFuzzer target for the DNS record rendering (server/dnsrec.c). The
 * input, split at NULs, gives two domains, a CNAME target (for an input
 * of odd length also the provider zone of a delegation) and up to four
 * TLS-RPT rua URIs. Domains go through config_check_domain first, as every
 * caller's do, and the target is used only when it looks like a host name
 * (`dns --target` passes it as given); the rua URIs are arbitrary bytes,
 * because dnsrec promises that no rua can break a zone line. The policy id
 * is policy_id() of the input, as the host computes it.
 *
 * Invariants, checked with abort(): the zone text is exactly the expected
 * lines per domain (with a delegation the customer's CNAME and the
 * provider's TXT record), and the `_smtp._tls` TXT value, read back as DNS
 * character-strings (each at most 255 bytes, escapes decoded, only
 * printable ASCII between the quotes), is exactly "v=TLSRPTv1; rua=" and
 * the URIs joined by ','. The JSON is well-formed, has no raw control
 * characters in strings, and its decoded strings include each domain and
 * the same TXT value (when that is UTF-8: other bytes come back as
 * U+FFFD, which keeps the JSON valid).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "dnsrec.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RUA 4

/* ---- zone checks -------------------------------------------------------- */

/* next_line returns the line at *p (without '\n') and moves past it; every
 * line must end in '\n'. */
static const char *next_line(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (s >= end || nl == NULL)
        abort();
    *len = (size_t)(nl - s);
    *p = nl + 1;
    return s;
}

static void expect_line(const char **p, const char *end, const char *want)
{
    size_t len;
    const char *s = next_line(p, end, &len);
    if (len != strlen(want) || memcmp(s, want, len) != 0)
        abort();
}

/* read_txt decodes the character-strings of s[0..len) into out. */
static void read_txt(const char *s, size_t len, struct buf *out)
{
    size_t i = 0;
    if (len == 0)
        abort();
    while (i < len) {
        size_t chunk = 0;
        if (s[i++] != '"')
            abort();
        for (;;) {
            if (i >= len)
                abort(); /* unterminated */
            unsigned char c = (unsigned char)s[i++];
            if (c < 0x20 || c >= 0x7f)
                abort();
            if (c == '"')
                break;
            if (c == '\\') {
                if (i >= len)
                    abort();
                if (s[i] >= '0' && s[i] <= '9') {
                    if (i + 3 > len)
                        abort();
                    unsigned v = 0;
                    for (int k = 0; k < 3; k++) {
                        if (s[i + k] < '0' || s[i + k] > '9')
                            abort();
                        v = v * 10 + (unsigned)(s[i + k] - '0');
                    }
                    if (v > 255)
                        abort();
                    c = (unsigned char)v;
                    i += 3;
                } else {
                    c = (unsigned char)s[i++];
                }
            }
            buf_append(out, &c, 1);
            chunk++;
        }
        if (chunk > 255)
            abort();
        if (i < len && s[i++] != ' ')
            abort();
        if (i == len && s[len - 1] == ' ')
            abort();
    }
}

static void check_zone(const struct buf *b, const struct dnsrec_input *in,
                       const struct buf *want_rpt)
{
    char line[1200];
    const char *p = b->data, *end = b->data + b->len;
    for (size_t i = 0; i < in->n_domains; i++) {
        const char *d = in->domains[i].domain;
        if (i > 0)
            expect_line(&p, end, "");
        const char *z = in->delegate_zone;
        snprintf(line, sizeof(line), "; %s", d);
        expect_line(&p, end, line);
        if (z != NULL) {
            snprintf(line, sizeof(line),
                     "; in the zone of %s (the customer):", d);
            expect_line(&p, end, line);
            snprintf(line, sizeof(line),
                     "_mta-sts.%s. IN CNAME _mta-sts.%s.%s.", d, d, z);
        } else {
            snprintf(line, sizeof(line),
                     "_mta-sts.%s. IN TXT \"v=STSv1; id=%s\"", d,
                     in->domains[i].policy_id);
        }
        expect_line(&p, end, line);
        if (in->n_rua > 0) {
            size_t len;
            const char *s = next_line(&p, end, &len);
            int n = snprintf(line, sizeof(line), "_smtp._tls.%s. IN TXT ", d);
            if (len < (size_t)n || memcmp(s, line, (size_t)n) != 0)
                abort();
            struct buf got;
            buf_init(&got, 1 << 20);
            read_txt(s + n, len - (size_t)n, &got);
            if (got.len != want_rpt->len ||
                (got.len > 0 && memcmp(got.data, want_rpt->data, got.len) != 0))
                abort();
            buf_free(&got);
        }
        size_t len;
        const char *s = next_line(&p, end, &len);
        if (in->cname_target != NULL) {
            snprintf(line, sizeof(line), "mta-sts.%s. IN CNAME %s.", d,
                     in->cname_target);
            if (len != strlen(line) || memcmp(s, line, len) != 0)
                abort();
        } else {
            int n =
                snprintf(line, sizeof(line), "; mta-sts.%s must resolve", d);
            if (len < (size_t)n || memcmp(s, line, (size_t)n) != 0)
                abort();
        }
        if (z != NULL) {
            snprintf(line, sizeof(line),
                     "; in the zone of %s (the provider):", z);
            expect_line(&p, end, line);
            snprintf(line, sizeof(line),
                     "_mta-sts.%s.%s. IN TXT \"v=STSv1; id=%s\"", d, z,
                     in->domains[i].policy_id);
            expect_line(&p, end, line);
        }
    }
    if (p != end)
        abort();
}

/* ---- JSON checks -------------------------------------------------------- */

struct json {
    const char *p, *end;
    struct buf strings; /* decoded strings, each followed by a NUL */
    int depth;
};

static void ws(struct json *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
        j->p++;
}

static void lit(struct json *j, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, s, n) != 0)
        abort();
    j->p += n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    abort();
}

static void jstring(struct json *j)
{
    lit(j, "\"");
    for (;;) {
        if (j->p >= j->end)
            abort();
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"')
            break;
        if (c < 0x20)
            abort();
        if (c == '\\') {
            if (j->p >= j->end)
                abort();
            char e = *j->p++;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e == 'u') {
                if (j->end - j->p < 4)
                    abort();
                int v = 0;
                for (int k = 0; k < 4; k++)
                    v = v * 16 + hexval(j->p[k]);
                j->p += 4;
                if (v == 0xfffd) {
                    /* A byte that is not UTF-8, as buf_json_string says. */
                    buf_append(&j->strings, "\xef\xbf\xbd", 3);
                    continue;
                }
                if (v >= 0x80)
                    abort(); /* else only ASCII controls are escaped */
                c = (unsigned char)v;
            } else if (e != '\0' && simple != NULL) {
                static const char map[] = "\"\\/\b\f\n\r\t";
                c = (unsigned char)map[simple - "\"\\/bfnrt"];
            } else {
                abort();
            }
        }
        buf_append(&j->strings, &c, 1);
    }
    buf_append(&j->strings, "", 1);
}

static void jvalue(struct json *j)
{
    if (++j->depth > 16)
        abort();
    ws(j);
    if (j->p >= j->end)
        abort();
    if (*j->p == '"') {
        jstring(j);
    } else if (*j->p == 'n') {
        lit(j, "null");
    } else if (*j->p == '{' || *j->p == '[') {
        bool obj = *j->p == '{';
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
        } else {
            for (;;) {
                if (obj) {
                    ws(j);
                    jstring(j);
                    ws(j);
                    lit(j, ":");
                }
                jvalue(j);
                ws(j);
                if (j->p < j->end && *j->p == ',') {
                    j->p++;
                    continue;
                }
                lit(j, obj ? "}" : "]");
                break;
            }
        }
    } else {
        abort(); /* dnsrec emits no numbers or booleans */
    }
    j->depth--;
}

static bool has_string(const struct buf *strings, const char *s, size_t n)
{
    const char *p = strings->data, *end = strings->data + strings->len;
    while (p != NULL && p < end) {
        size_t len = strlen(p);
        if (len == n && memcmp(p, s, n) == 0)
            return true;
        p += len + 1;
    }
    return false;
}

static void check_json(const struct buf *b, const struct dnsrec_input *in,
                       const struct buf *want_rpt)
{
    struct json j = {b->data, b->data + b->len, {0}, 0};
    buf_init(&j.strings, 1 << 22);
    jvalue(&j);
    ws(&j);
    if (j.p != j.end || j.strings.failed)
        abort();
    for (size_t i = 0; i < in->n_domains; i++) {
        const char *d = in->domains[i].domain;
        if (!has_string(&j.strings, d, strlen(d)))
            abort();
    }
    /* A rua holding a NUL cannot exist (C strings), so the value is found
     * whole unless it was empty, or not UTF-8 (jansson tells). */
    json_t *utf8 = json_stringn(want_rpt->data, want_rpt->len);
    if (utf8 != NULL && in->n_rua > 0 && in->n_domains > 0 &&
        !has_string(&j.strings, want_rpt->data, want_rpt->len))
        abort();
    json_decref(utf8);
    buf_free(&j.strings);
}

/* ---- driver ------------------------------------------------------------- */

static bool plausible_host(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || s[n - 1] == '.')
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 8);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    memset(copy + size, 0, 8);
    /* Fields: domain, domain, target, rua... (split at NUL). */
    const char *f[3 + MAX_RUA];
    size_t nf = 0, off = 0;
    while (nf < 3 + MAX_RUA && off <= size) {
        f[nf++] = copy + off;
        off += strlen(copy + off) + 1;
    }
    while (nf < 3)
        f[nf++] = "";

    char id[POLICY_ID_MAX + 1];
    if (policy_id((const char *)data, size, id) != 0)
        abort();
    char names[2][256];
    char err[256];
    struct dnsrec_domain doms[2];
    size_t n_domains = 0;
    for (int i = 0; i < 2; i++) {
        int len = snprintf(names[i], sizeof(names[i]), "%s", f[i]);
        if (len < 0 || (size_t)len >= sizeof(names[i]) ||
            config_check_domain(names[i], err, sizeof(err)) != 0)
            continue;
        doms[n_domains].domain = names[i];
        doms[n_domains].policy_id = id;
        n_domains++;
    }
    const char *rua[MAX_RUA];
    size_t n_rua = 0;
    for (size_t i = 3; i < nf; i++)
        rua[n_rua++] = f[i];
    /* The report path is covered by the unit tests; here the oracle
     * below knows the configured URIs only. */
    /* An input of odd length delegates to the same host name as a zone
     * (`dns --delegate`, RFC 8461 §8.2). */
    const char *host = plausible_host(f[2]) ? f[2] : NULL;
    struct dnsrec_input in = {
        doms, n_domains, rua, n_rua, host, NULL, size % 2 == 1 ? host : NULL};

    struct buf want_rpt, zone, json;
    buf_init(&want_rpt, 1 << 20);
    buf_init(&zone, 1 << 20);
    buf_init(&json, 1 << 20);
    buf_puts(&want_rpt, "v=TLSRPTv1; rua=");
    for (size_t i = 0; i < n_rua; i++) {
        if (i > 0)
            buf_puts(&want_rpt, ",");
        buf_puts(&want_rpt, rua[i]);
    }
    if (dnsrec_zone(&zone, &in) != 0 || dnsrec_json(&json, &in) != 0)
        abort(); /* small inputs never reach the caps */
    if (zone.len > 0)
        check_zone(&zone, &in, &want_rpt);
    else if (n_domains > 0)
        abort();
    check_json(&json, &in, &want_rpt);
    buf_free(&want_rpt);
    buf_free(&zone);
    buf_free(&json);
    free(copy);
    return 0;
}
