/*
 * check_parse: what DNS answered, read the way a sending MTA reads it: TXT
 * character-strings joined, MX targets from wire form, the `_mta-sts`
 * (RFC 8461 §3.1) and `_smtp._tls` (RFC 8460 §3) record sets, and MX
 * coverage by policy patterns (RFC 8461 §4.1). The two record grammars
 * share one field splitter; the field rules are per record. It does not
 * resolve or print anything. Pure: no I/O, no logging, no globals.
 */
#include "check_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "diag.h"
#include "dnsname.h"

__attribute__((format(printf, 3, 4))) static void say(char *err, size_t errlen,
                                                      const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

long check_txt_join(const unsigned char *rdata, size_t len, char *out,
                    size_t outlen, char *err, size_t errlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = rdata[i++];
        if (n > len - i) {
            say(err, errlen,
                "TXT string at byte %zu claims %zu bytes, only %zu remain",
                i - 1, n, len - i);
            return -1;
        }
        if (memchr(rdata + i, '\0', n) != NULL) {
            say(err, errlen, "TXT string at byte %zu holds a NUL byte", i - 1);
            return -1;
        }
        if (n >= outlen - o) {
            say(err, errlen, "TXT record longer than %zu bytes", outlen - 1);
            return -1;
        }
        memcpy(out + o, rdata + i, n);
        o += n;
        i += n;
    }
    if (outlen == 0) {
        say(err, errlen, "%s", "no room for the TXT text");
        return -1;
    }
    out[o] = '\0';
    return (long)o;
}

static bool label_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int check_wire_name(const unsigned char *wire, size_t len,
                    char out[CHECK_NAME_MAX], size_t *used, char *err,
                    size_t errlen)
{
    size_t o = 0, i = 0;
    for (;;) {
        if (i >= len) {
            say(err, errlen, "%s", "name ends without its root label");
            return -1;
        }
        size_t n = wire[i++];
        if (n == 0)
            break;
        if (n > DNSNAME_LABEL_MAX) {
            say(err, errlen,
                "expected a label length (at most 63) at byte %zu, found %zu "
                "(compression is not allowed here)",
                i - 1, n);
            return -1;
        }
        if (n > len - i) {
            say(err, errlen, "label at byte %zu runs past the end", i - 1);
            return -1;
        }
        if (o + (o > 0) + n > DNSNAME_MAX) {
            say(err, errlen, "name longer than %d characters", DNSNAME_MAX);
            return -1;
        }
        if (o > 0)
            out[o++] = '.';
        for (size_t k = 0; k < n; k++) {
            unsigned char c = wire[i + k];
            if (!label_char(c)) {
                say(err, errlen,
                    "expected a letter, digit, '-' or '_' at byte %zu, found "
                    "byte 0x%02x",
                    i + k, c);
                return -1;
            }
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        i += n;
    }
    if (o == 0)
        out[o++] = '.';
    out[o] = '\0';
    if (used != NULL)
        *used = i;
    return 0;
}

const char *check_rec_status_name(enum check_rec_status s)
{
    switch (s) {
    case CHECK_REC_OK:
        return "ok";
    case CHECK_REC_NONE:
        return "none";
    case CHECK_REC_MANY:
        return "many";
    case CHECK_REC_INVALID:
        return "invalid";
    }
    return "?";
}

/* ---- the shared field grammar ------------------------------------------ */

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* One field as found: name=value, value with its trailing blanks cut. */
struct field {
    const char *name, *value;
    size_t nlen, vlen, at; /* at: byte offset of the name */
};

typedef int (*field_fn)(const struct field *f, void *ctx, char *err,
                        size_t errlen);

/* quoted renders what was found for a message. */
static const char *quoted(const char *s, size_t n, char *buf, size_t buflen)
{
    return diag_quote(s, n, buf, buflen);
}

/*
 * split_fields walks rec[taglen..len) after the version tag: 1*(*WSP ";"
 * *WSP field) [*WSP ";" *WSP], a field being ext-name "=" value (the value
 * running to the next ';'), and hands each field to fn. Returns the number
 * of fields, or -1 with the reason in err.
 */
static long split_fields(const char *rec, size_t len, size_t taglen,
                         const char *tag, field_fn fn, void *ctx, char *err,
                         size_t errlen)
{
    char q[DIAG_QUOTE_SIZE];
    size_t i = taglen;
    long n = 0;
    for (;;) {
        while (i < len && is_wsp(rec[i]))
            i++;
        if (i == len)
            break;
        if (rec[i] != ';') {
            say(err, errlen, "expected ';' after %s at byte %zu, found '%s'",
                n == 0 ? tag : "a field", i,
                quoted(rec + i, len - i, q, sizeof(q)));
            return -1;
        }
        i++;
        while (i < len && is_wsp(rec[i]))
            i++;
        if (i == len)
            break;
        struct field f = {.name = rec + i, .at = i};
        /* ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
        size_t s = i;
        while (i < len && (is_alnum(rec[i]) || rec[i] == '_' || rec[i] == '-' ||
                           rec[i] == '.'))
            i++;
        f.nlen = i - s;
        if (f.nlen == 0 || !is_alnum(rec[s]) || f.nlen > 32) {
            say(err, errlen,
                "expected a field name (a letter or digit, then at most 31 "
                "of letters, digits, '_', '-', '.') at byte %zu, found '%s'",
                s, quoted(rec + s, len - s, q, sizeof(q)));
            return -1;
        }
        if (i == len || rec[i] != '=') {
            say(err, errlen, "expected '=' after field name '%.*s', found '%s'",
                (int)f.nlen, f.name, quoted(rec + i, len - i, q, sizeof(q)));
            return -1;
        }
        i++;
        f.value = rec + i;
        while (i < len && rec[i] != ';')
            i++;
        f.vlen = (size_t)(rec + i - f.value);
        while (f.vlen > 0 && is_wsp(f.value[f.vlen - 1]))
            f.vlen--;
        if (fn(&f, ctx, err, errlen) < 0)
            return -1;
        n++;
    }
    if (n == 0) {
        say(err, errlen, "expected fields after %s, found none", tag);
        return -1;
    }
    return n;
}

/* ext_value checks an extension value: 1*(%x21-3A / %x3C / %x3E-7E). */
static int ext_value(const struct field *f, char *err, size_t errlen)
{
    char q[DIAG_QUOTE_SIZE];
    for (size_t k = 0; k < f->vlen; k++) {
        unsigned char c = (unsigned char)f->value[k];
        if (c < 0x21 || c > 0x7e || c == '=') {
            say(err, errlen,
                "expected a value of visible characters other than '=' and "
                "';' for '%.*s', found '%s'",
                (int)f->nlen, f->name, quoted(f->value, f->vlen, q, sizeof(q)));
            return -1;
        }
    }
    if (f->vlen == 0) {
        say(err, errlen, "expected a value for '%.*s', found none",
            (int)f->nlen, f->name);
        return -1;
    }
    return 0;
}

static bool field_is(const struct field *f, const char *name)
{
    return f->nlen == strlen(name) && memcmp(f->name, name, f->nlen) == 0;
}

/*
 * select_one keeps the records that start with tag; the count decides the
 * verdict before the grammar does. Returns the index of the one record, or
 * -1 with *status and err set.
 */
static long select_one(const char *const *recs, const size_t *lens, size_t n,
                       const char *tag, enum check_rec_status *status,
                       size_t *n_records, char *err, size_t errlen)
{
    size_t taglen = strlen(tag), count = 0;
    long which = -1;
    for (size_t i = 0; i < n; i++)
        if (lens[i] >= taglen && memcmp(recs[i], tag, taglen) == 0) {
            count++;
            which = (long)i;
        }
    *n_records = count;
    if (count == 1)
        return which;
    if (count == 0) {
        *status = CHECK_REC_NONE;
        say(err, errlen, "expected a record starting \"%s\", found %s", tag,
            n == 0 ? "no TXT record" : "only other TXT records");
    } else {
        *status = CHECK_REC_MANY;
        say(err, errlen,
            "expected exactly one record starting \"%s\", found %zu (senders "
            "then ignore them all)",
            tag, count);
    }
    return -1;
}

/* ---- _mta-sts ------------------------------------------------------------ */

struct sts_ctx {
    struct check_sts *out;
    bool have_id;
};

static int sts_field(const struct field *f, void *vctx, char *err,
                     size_t errlen)
{
    struct sts_ctx *c = vctx;
    char q[DIAG_QUOTE_SIZE];
    if (!field_is(f, "id")) {
        c->out->n_ext++;
        return ext_value(f, err, errlen);
    }
    if (c->have_id) {
        say(err, errlen, "expected one id field, found a second at byte %zu",
            f->at);
        return -1;
    }
    bool ok = f->vlen >= 1 && f->vlen <= POLICY_ID_MAX;
    for (size_t k = 0; ok && k < f->vlen; k++)
        ok = is_alnum(f->value[k]);
    if (!ok) {
        say(err, errlen,
            "expected an id of 1 to %d letters and digits, "
            "found '%s'",
            POLICY_ID_MAX, quoted(f->value, f->vlen, q, sizeof(q)));
        return -1;
    }
    memcpy(c->out->id, f->value, f->vlen);
    c->out->id[f->vlen] = '\0';
    c->have_id = true;
    return 0;
}

/*
 * read_set picks the one record starting with tag and splits it into
 * fields for fn. Returns 0, or -1 with *status and err saying why not.
 */
static int read_set(const char *const *recs, const size_t *lens, size_t n,
                    const char *tag, field_fn fn, void *ctx,
                    enum check_rec_status *status, size_t *n_records, char *err,
                    size_t errlen)
{
    long w = select_one(recs, lens, n, tag, status, n_records, err, errlen);
    if (w < 0)
        return -1;
    *status = CHECK_REC_INVALID;
    return split_fields(recs[w], lens[w], strlen(tag), tag, fn, ctx, err,
                        errlen) < 0
               ? -1
               : 0;
}

void check_sts_select(const char *const *recs, const size_t *lens, size_t n,
                      struct check_sts *out)
{
    memset(out, 0, sizeof(*out));
    struct sts_ctx c = {.out = out};
    if (read_set(recs, lens, n, "v=STSv1", sts_field, &c, &out->status,
                 &out->n_records, out->err, sizeof(out->err)) < 0) {
        out->id[0] = '\0';
    } else if (!c.have_id) {
        say(out->err, sizeof(out->err), "%s",
            "expected an id field, found none");
    } else {
        out->status = CHECK_REC_OK;
    }
}

/* ---- _smtp._tls ---------------------------------------------------------- */

struct rpt_ctx {
    struct check_tlsrpt *out;
    bool have_rua;
};

static int rpt_uri(struct rpt_ctx *c, const char *s, size_t n, char *err,
                   size_t errlen)
{
    char q[DIAG_QUOTE_SIZE], uri[512], why[256];
    if (n == 0 || n >= sizeof(uri)) {
        say(err, errlen, "expected a mailto: or https: URI in rua, found '%s'",
            quoted(s, n, q, sizeof(q)));
        return -1;
    }
    memcpy(uri, s, n);
    uri[n] = '\0';
    if (config_check_rua(uri, why, sizeof(why)) < 0) {
        say(err, errlen, "rua URI '%s': %s", quoted(s, n, q, sizeof(q)), why);
        return -1;
    }
    if (c->out->n_rua == CHECK_RUA_MAX) {
        say(err, errlen, "expected at most %d rua URIs, found more",
            CHECK_RUA_MAX);
        return -1;
    }
    c->out->n_rua++;
    return 0;
}

static int rpt_field(const struct field *f, void *vctx, char *err,
                     size_t errlen)
{
    struct rpt_ctx *c = vctx;
    if (!field_is(f, "rua"))
        return ext_value(f, err, errlen);
    if (c->have_rua) {
        say(err, errlen, "expected one rua field, found a second at byte %zu",
            f->at);
        return -1;
    }
    c->have_rua = true;
    /* tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri) */
    const char *p = f->value, *end = f->value + f->vlen;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma != NULL ? comma : end;
        const char *s = p;
        while (s < e && is_wsp(*s))
            s++;
        while (e > s && is_wsp(e[-1]))
            e--;
        if (rpt_uri(c, s, (size_t)(e - s), err, errlen) < 0)
            return -1;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return 0;
}

void check_tlsrpt_select(const char *const *recs, const size_t *lens, size_t n,
                         struct check_tlsrpt *out)
{
    memset(out, 0, sizeof(*out));
    struct rpt_ctx c = {.out = out};
    if (read_set(recs, lens, n, "v=TLSRPTv1", rpt_field, &c, &out->status,
                 &out->n_records, out->err, sizeof(out->err)) < 0) {
        out->n_rua = 0;
    } else if (!c.have_rua) {
        say(out->err, sizeof(out->err), "%s",
            "expected a rua field, found none");
    } else {
        out->status = CHECK_REC_OK;
    }
}

/* ---- MX coverage --------------------------------------------------------- */

size_t check_mx_cover(const char *const *mx, size_t n_mx,
                      const char *const *pat, size_t n_pat, bool *mx_covered,
                      bool *pat_used)
{
    size_t problems = 0;
    for (size_t j = 0; j < n_pat; j++)
        pat_used[j] = false;
    for (size_t i = 0; i < n_mx; i++) {
        mx_covered[i] = false;
        for (size_t j = 0; j < n_pat; j++)
            if (dnsname_match(pat[j], mx[i])) {
                mx_covered[i] = true;
                pat_used[j] = true;
            }
        problems += !mx_covered[i];
    }
    for (size_t j = 0; j < n_pat; j++)
        problems += !pat_used[j] && dnsname_wildcard_base(pat[j]) == NULL;
    return problems;
}

/* ---- SMTP replies -------------------------------------------------------- */

int check_smtp_reply(const char *buf, size_t len, struct check_smtp_reply *out,
                     char *err, size_t errlen)
{
    char q[DIAG_QUOTE_SIZE];
    size_t i = 0;
    int code = -1;
    bool starttls = false;
    for (;;) {
        const char *line = buf + i;
        const char *nl = memchr(line, '\n', len - i);
        if (nl == NULL)
            return 0;
        size_t n = (size_t)(nl - line);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        bool digits = n >= 3;
        for (size_t k = 0; digits && k < 3; k++)
            digits = line[k] >= '0' && line[k] <= '9';
        if (!digits || line[0] < '2' || line[0] > '5' ||
            (n > 3 && line[3] != '-' && line[3] != ' ')) {
            say(err, errlen,
                "expected a reply line (3 digits, then '-' or ' '), found "
                "'%s'",
                quoted(line, n, q, sizeof(q)));
            return -1;
        }
        int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (code >= 0 && c != code) {
            say(err, errlen, "expected code %d on every line, found %d", code,
                c);
            return -1;
        }
        code = c;
        /* An EHLO keyword is the line's first word (RFC 5321 §4.1.1.1). */
        if (n >= 12 && strncasecmp(line + 4, "STARTTLS", 8) == 0 &&
            (n == 12 || line[12] == ' '))
            starttls = true;
        i = (size_t)(nl - buf) + 1;
        if (n <= 3 || line[3] == ' ')
            break;
    }
    out->code = code;
    out->starttls = starttls;
    out->used = i;
    return 1;
}

/* ---- --resolver ---------------------------------------------------------- */

int check_resolver_addr(const char *in, char *out, size_t outlen, char *err,
                        size_t errlen)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *port = NULL, *a = in;
    size_t alen = strlen(in);
    unsigned char bin[16];
    if (in[0] == '[') {
        const char *close = strchr(in, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
            say(err, errlen, "expected [IPv6]:PORT, found '%s'", in);
            return -1;
        }
        a = in + 1;
        alen = (size_t)(close - a);
        port = close[1] == ':' ? close + 2 : NULL;
    } else {
        const char *colon = strchr(in, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            alen = (size_t)(colon - in); /* IPv4:PORT; else a bare IPv6 */
            port = colon + 1;
        }
    }
    if (alen == 0 || alen >= sizeof(addr)) {
        say(err, errlen, "expected an IP address, found '%s'", in);
        return -1;
    }
    memcpy(addr, a, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET, addr, bin) != 1 &&
        inet_pton(AF_INET6, addr, bin) != 1) {
        say(err, errlen, "expected a numeric IP address, found '%s'", addr);
        return -1;
    }
    unsigned long p = 53;
    if (port != NULL) {
        char *end = NULL;
        errno = 0;
        p = strtoul(port, &end, 10);
        if (port[0] < '0' || port[0] > '9' || errno != 0 || *end != '\0' ||
            p < 1 || p > 65535) {
            say(err, errlen, "expected a port of 1 to 65535, found '%s'", port);
            return -1;
        }
    }
    int n = snprintf(out, outlen, "%s@%lu", addr, p);
    if (n < 0 || (size_t)n >= outlen) {
        say(err, errlen, "%s", "resolver address too long");
        return -1;
    }
    return 0;
}
