/*
 * dnsrec: render the DNS records a domain must publish (see dnsrec.h), as
 * zone-file lines for people to paste or as JSON for tools. It does no I/O
 * and keeps no state; any thread may call it with its own buffer. The rua
 * URIs it is given are expected to be validated already (config_check_rua);
 * it still escapes '"' and '\' so that no input can break a zone line.
 */
#include "dnsrec.h"

#include <stdbool.h>

#include <stdio.h>
#include <string.h>

/* A DNS character-string holds at most 255 bytes (RFC 1035 §3.3). */
#define DNSREC_STRING_MAX 255

#define DNSREC_STS_PREFIX "v=STSv1; id="
#define DNSREC_TLSRPT_PREFIX "v=TLSRPTv1; rua="

/* name_len is the length of name without its trailing dots, so that
 * "example.com." and "example.com" render alike. */
static size_t name_len(const char *name)
{
    size_t n = strlen(name);
    while (n > 0 && name[n - 1] == '.')
        n--;
    return n;
}

/*
 * put_txt appends s[0..n) as one or more quoted character-strings of at most
 * 255 bytes each, separated by a space. Resolvers join them back without a
 * separator, so splitting anywhere is safe.
 */
static int put_txt(struct buf *b, const char *s, size_t n)
{
    size_t done = 0;
    do {
        size_t chunk = n - done;
        if (chunk > DNSREC_STRING_MAX)
            chunk = DNSREC_STRING_MAX;
        buf_puts(b, done > 0 ? " \"" : "\"");
        for (size_t i = done; i < done + chunk; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '"' || c == '\\')
                buf_printf(b, "\\%c", c);
            else if (c < 0x20 || c >= 0x7f)
                buf_printf(b, "\\%03u", c);
            else
                buf_append(b, &s[i], 1);
        }
        buf_puts(b, "\"");
        done += chunk;
    } while (done < n);
    return b->failed ? -1 : 0;
}

/* has_target says whether a CNAME target was given ("" and "." count as
 * none rather than rendering a CNAME to the root). */
static int has_target(const struct dnsrec_input *in)
{
    return in->cname_target != NULL && name_len(in->cname_target) > 0;
}

/* has_tlsrpt says whether a `_smtp._tls` record is printed. */
static bool has_tlsrpt(const struct dnsrec_input *in)
{
    return in->n_rua > 0 || in->report_path != NULL;
}

/* tlsrpt_value renders "v=TLSRPTv1; rua=<uri1>,<uri2>" for domain d into t
 * (emptied first): the configured URIs, then this host's own. */
static int tlsrpt_value(struct buf *t, const struct dnsrec_input *in,
                        const char *d, size_t dl)
{
    buf_free(t);
    buf_puts(t, DNSREC_TLSRPT_PREFIX);
    for (size_t i = 0; i < in->n_rua; i++) {
        if (i > 0)
            buf_puts(t, ",");
        buf_puts(t, in->rua[i]);
    }
    if (in->report_path != NULL)
        buf_printf(t, "%shttps://mta-sts.%.*s%s", in->n_rua > 0 ? "," : "",
                   (int)dl, d, in->report_path);
    return t->failed ? -1 : 0;
}

int dnsrec_sts_txt(struct buf *b, const char *domain, const char *id)
{
    buf_printf(b, "_mta-sts.%.*s. IN TXT \"" DNSREC_STS_PREFIX "%s\"\n",
               (int)name_len(domain), domain, id);
    return b->failed ? -1 : 0;
}

/* has_delegation says whether the `_mta-sts` records go to a provider
 * zone ("" and "." count as none, as for the target). */
static bool has_delegation(const struct dnsrec_input *in)
{
    return in->delegate_zone != NULL && name_len(in->delegate_zone) > 0;
}

/* sts_zone appends the `_mta-sts` lines of domain d: its TXT record, or
 * with a provider zone the customer's CNAME into it, marked by zone. */
static void sts_zone(struct buf *b, const struct dnsrec_input *in,
                     const char *d, int dl, const char *id)
{
    if (!has_delegation(in)) {
        dnsrec_sts_txt(b, d, id);
        return;
    }
    int zl = (int)name_len(in->delegate_zone);
    buf_printf(b, "; in the zone of %.*s (the customer):\n", dl, d);
    buf_printf(b, "_mta-sts.%.*s. IN CNAME _mta-sts.%.*s.%.*s.\n", dl, d, dl, d,
               zl, in->delegate_zone);
}

/* provider_zone appends what the provider publishes for domain d in its
 * zone when the records are delegated. */
static void provider_zone(struct buf *b, const struct dnsrec_input *in,
                          const char *d, int dl, const char *id)
{
    if (!has_delegation(in))
        return;
    int zl = (int)name_len(in->delegate_zone);
    buf_printf(b, "; in the zone of %.*s (the provider):\n", zl,
               in->delegate_zone);
    buf_printf(b, "_mta-sts.%.*s.%.*s. IN TXT \"" DNSREC_STS_PREFIX "%s\"\n",
               dl, d, zl, in->delegate_zone, id);
}

int dnsrec_zone(struct buf *b, const struct dnsrec_input *in)
{
    struct buf t;
    int rc = -1;
    buf_init(&t, 1024 * 1024);
    for (size_t i = 0; i < in->n_domains; i++) {
        const char *d = in->domains[i].domain;
        int dl = (int)name_len(d);
        if (has_tlsrpt(in) && tlsrpt_value(&t, in, d, (size_t)dl) < 0)
            goto out;
        if (i > 0)
            buf_puts(b, "\n");
        buf_printf(b, "; %.*s\n", dl, d);
        sts_zone(b, in, d, dl, in->domains[i].policy_id);
        if (has_tlsrpt(in)) {
            buf_printf(b, "_smtp._tls.%.*s. IN TXT ", dl, d);
            put_txt(b, t.data, t.len);
            buf_puts(b, "\n");
        }
        if (has_target(in)) {
            buf_printf(b, "mta-sts.%.*s. IN CNAME %.*s.\n", dl, d,
                       (int)name_len(in->cname_target), in->cname_target);
        } else {
            buf_printf(b,
                       "; mta-sts.%.*s must resolve to this host (A/AAAA, "
                       "or a CNAME to it); use --target HOST to print the "
                       "record\n",
                       dl, d);
        }
        provider_zone(b, in, d, dl, in->domains[i].policy_id);
    }
    rc = b->failed ? -1 : 0;
out:
    buf_free(&t);
    return rc;
}

/* A record's name: "<prefix><d><suffix>." (suffix "" or ".<zone>"). */
struct rec_name {
    const char *prefix, *d;
    size_t dl;
    const char *suffix;
};

/*
 * json_record appends {"name":<name>,"type":<type>,"value":<value>} where
 * value is the concatenation v1 v2 v3.
 */
static void json_record(struct buf *b, struct rec_name nm, const char *type,
                        const char *v1, const char *v2, size_t v2len,
                        const char *v3)
{
    struct buf n;
    buf_init(&n, 1024 * 1024);
    buf_printf(&n, "%s%.*s%s.", nm.prefix, (int)nm.dl, nm.d, nm.suffix);
    buf_puts(b, "{\"name\":");
    if (!n.failed)
        buf_json_string(b, n.data, n.len);
    buf_free(&n);
    buf_puts(b, ",\"type\":");
    buf_json_string(b, type, strlen(type));
    buf_puts(b, ",\"value\":");
    buf_puts(&n, v1);
    buf_append(&n, v2, v2len);
    buf_puts(&n, v3);
    if (!n.failed)
        buf_json_string(b, n.data, n.len);
    if (n.failed)
        b->failed = 1;
    buf_free(&n);
    buf_puts(b, "}");
}

int dnsrec_json(struct buf *b, const struct dnsrec_input *in)
{
    struct buf t, z;
    int rc = -1;
    buf_init(&t, 1024 * 1024);
    buf_init(&z, 1024);
    buf_puts(b, "{\"domains\":[");
    for (size_t i = 0; i < in->n_domains; i++) {
        const char *d = in->domains[i].domain;
        const char *id = in->domains[i].policy_id;
        const char *tg = in->cname_target;
        size_t dl = name_len(d);
        if (has_tlsrpt(in) && tlsrpt_value(&t, in, d, dl) < 0)
            goto out;
        buf_puts(b, i > 0 ? ",{\"domain\":" : "{\"domain\":");
        buf_json_string(b, d, dl);
        struct rec_name sts = {"_mta-sts.", d, dl, ""};
        buf_puts(b, ",\"mta_sts\":");
        if (has_delegation(in)) {
            /* The customer's CNAME here; the TXT record is the
             * provider's, at the CNAME's target. */
            buf_free(&z);
            buf_printf(&z, "_mta-sts.%.*s.%.*s.", (int)dl, d,
                       (int)name_len(in->delegate_zone), in->delegate_zone);
            if (z.failed)
                goto out;
            json_record(b, sts, "CNAME", "", z.data, z.len, "");
        } else {
            json_record(b, sts, "TXT", DNSREC_STS_PREFIX, id, strlen(id), "");
        }
        buf_puts(b, ",\"tlsrpt\":");
        if (has_tlsrpt(in))
            json_record(b, (struct rec_name){"_smtp._tls.", d, dl, ""}, "TXT",
                        "", t.data, t.len, "");
        else
            buf_puts(b, "null");
        buf_puts(b, ",\"cname\":");
        if (has_target(in))
            json_record(b, (struct rec_name){"mta-sts.", d, dl, ""}, "CNAME",
                        "", tg, name_len(tg), ".");
        else
            buf_puts(b, "null");
        buf_puts(b, ",\"provider_mta_sts\":");
        if (has_delegation(in)) {
            /* z holds the CNAME's target; the name is the same less the
             * root dot, which json_record adds. */
            struct rec_name at = {"", z.data, z.len - 1, ""};
            json_record(b, at, "TXT", DNSREC_STS_PREFIX, id, strlen(id), "");
        } else {
            buf_puts(b, "null");
        }
        buf_puts(b, "}");
    }
    buf_puts(b, "]}");
    rc = b->failed ? -1 : 0;
out:
    buf_free(&z);
    buf_free(&t);
    return rc;
}
