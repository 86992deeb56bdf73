/*
 * config: the server's YAML configuration (see config.h). The buffer is read
 * with libyaml's event API into a small node tree (which lets us reject
 * aliases, anchors and tags before anything is interpreted, and report
 * positions for every node), and the tree is then checked against a
 * table-driven schema over the defaults. Every problem is reported with a
 * 1-based line and byte column, and any error rejects the whole file. It
 * does not read files, log or keep global state; any thread may call it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "check_parse.h"
#include "dnsname.h"

/* Inputs larger than this are refused before libyaml sees them. */
#define CONFIG_MAX_BYTES (1024u * 1024u)
/* The schema is three levels deep; anything much deeper is a mistake, and
 * the cap keeps the recursive tree builder's stack bounded. */
#define CONFIG_MAX_DEPTH 64
/* A cap on nodes bounds the tree's memory for hostile input (a 1 MiB flow
 * sequence of one-character items would otherwise make ~500k nodes). */
#define CONFIG_MAX_NODES 200000u
#define CONFIG_MAX_KEYS 16

#define DEFAULT_POLICY_DIR "policy"
#define DEFAULT_CERT_DIR "certs"
#define DEFAULT_HTTPS_LISTEN "[::]:8443"
#define DEFAULT_HTTP_LISTEN "[::]:8080"
#define DEFAULT_STATE_DIR "state"
#define DEFAULT_TLSRPT_PATH "/tlsrpt"
#define DEFAULT_ACME_DIRECTORY "https://acme-v02.api.letsencrypt.org/directory"
#define TLSRPT_PATH_MAX 128
#define INSTANCE_MAX 64

enum node_kind { N_SCALAR, N_SEQ, N_MAP, N_BAD };

/* One YAML node. A map's kids alternate key, value. N_BAD stands in for
 * something already reported (an alias), so that checks skip it quietly. */
struct node {
    enum node_kind kind;
    yaml_mark_t mark;
    bool plain; /* plain, untagged scalar: null resolution applies */
    char *str;  /* scalar text, NUL-terminated (may hold inner NULs) */
    size_t len;
    struct node **kids;
    size_t n, cap;
};

struct ctx {
    struct diag *d;
    const char *buf;
    size_t len;
    bool utf8;       /* columns can be converted to byte columns */
    size_t base;     /* byte offset of character 0 (after a BOM) */
    size_t cur_char; /* cursor for char index -> byte offset */
    size_t cur_byte;
    size_t errors;
    size_t nodes;
    struct config *c;
    /* Remembered for the checks that span several keys. */
    const struct node *per_ip_val;
    const struct node *listen_val[3];
    /* Where the ACME cross-key errors point. */
    const struct node *acme_key, *agree_tos_val, *eab_key, *challenges_val;
};

struct keydef;
typedef void (*apply_fn)(struct ctx *x, const struct keydef *kd,
                         const struct node *key, const struct node *val);

struct keydef {
    const char *name;
    const char *path; /* dotted name used in messages */
    apply_fn apply;
    const char *expect; /* what a valid value looks like */
    size_t off;         /* offset of the field in struct config */
    unsigned long min, max;
    const struct keydef *sub; /* for sections */
    size_t n_sub;
};

/* ---- positions and diagnostics ----------------------------------------- */

static bool is_break_at(const char *b, size_t len, size_t i)
{
    unsigned char c = (unsigned char)b[i];
    if (c == '\n' || c == '\r')
        return true;
    /* NEL, LS and PS end lines for libyaml as well. */
    if (c == 0x85 && i >= 1 && (unsigned char)b[i - 1] == 0xc2)
        return true;
    if ((c == 0xa8 || c == 0xa9) && i >= 2 && (unsigned char)b[i - 1] == 0x80 &&
        (unsigned char)b[i - 2] == 0xe2)
        return true;
    (void)len;
    return false;
}

/* char_to_byte maps libyaml's character index to a byte offset. Marks are
 * requested mostly in document order, so a forward cursor keeps the total
 * work linear. */
static size_t char_to_byte(struct ctx *x, size_t idx)
{
    if (idx < x->cur_char) {
        x->cur_char = 0;
        x->cur_byte = x->base;
    }
    while (x->cur_char < idx && x->cur_byte < x->len) {
        x->cur_byte++;
        while (x->cur_byte < x->len &&
               ((unsigned char)x->buf[x->cur_byte] & 0xc0) == 0x80)
            x->cur_byte++;
        x->cur_char++;
    }
    return x->cur_byte;
}

static unsigned clamp_uint(size_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
}

static void mark_pos(struct ctx *x, const yaml_mark_t *m, unsigned *line,
                     unsigned *col)
{
    *line = clamp_uint(m->line + 1);
    if (!x->utf8) {
        *col = clamp_uint(m->column + 1);
        return;
    }
    size_t off = char_to_byte(x, m->index);
    size_t start = off;
    while (start > x->base && !is_break_at(x->buf, x->len, start - 1))
        start--;
    *col = clamp_uint(off - start + 1);
}

/* first_pos gives the position of an earlier node for "first at" notes. It
 * is skipped once diag stores no more entries, because going back to an
 * early mark restarts the index cursor, and a file full of duplicates would
 * otherwise cost a scan from the start for each of them. */
static void first_pos(struct ctx *x, const yaml_mark_t *m, unsigned *line,
                      unsigned *col)
{
    *line = 0;
    *col = 0;
    if (x->d->n < DIAG_MAX_ENTRIES)
        mark_pos(x, m, line, col);
}

static void verr(struct ctx *x, const yaml_mark_t *m, const char *fmt,
                 va_list ap) __attribute__((format(printf, 3, 0)));
static void verr(struct ctx *x, const yaml_mark_t *m, const char *fmt,
                 va_list ap)
{
    unsigned line = 0, col = 0;
    x->errors++;
    /* Positions cost a scan; skip it for entries diag will not store. */
    if (m != NULL && x->d->n < DIAG_MAX_ENTRIES)
        mark_pos(x, m, &line, &col);
    diag_vadd(x->d, DIAG_ERROR, line, col, fmt, ap);
}

static void err_at(struct ctx *x, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_at(struct ctx *x, const yaml_mark_t *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(x, m, fmt, ap);
    va_end(ap);
}

static void warn_at(struct ctx *x, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_at(struct ctx *x, const yaml_mark_t *m, const char *fmt, ...)
{
    unsigned line = 0, col = 0;
    va_list ap;
    if (x->d->n < DIAG_MAX_ENTRIES)
        mark_pos(x, m, &line, &col);
    va_start(ap, fmt);
    diag_vadd(x->d, DIAG_WARNING, line, col, fmt, ap);
    va_end(ap);
}

static void oom(struct ctx *x)
{
    err_at(x, NULL, "out of memory while reading the configuration");
}

/* ---- the node tree ----------------------------------------------------- */

static void node_free(struct node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->str);
    free(n);
}

static int node_push(struct node *n, struct node *kid)
{
    if (n->n == n->cap) {
        size_t ncap = n->cap ? n->cap * 2 : 4;
        struct node **p = realloc(n->kids, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        n->kids = p;
        n->cap = ncap;
    }
    n->kids[n->n++] = kid;
    return 0;
}

static bool node_is_null(const struct node *n)
{
    if (n->kind != N_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->str, "~") == 0 ||
           strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
           strcmp(n->str, "NULL") == 0;
}

/* describe renders what was found, for "expected X, found Y" messages. */
static const char *describe(const struct node *n, char *out, size_t outlen)
{
    char q[200];
    if (n->kind == N_SEQ)
        snprintf(out, outlen, "a sequence");
    else if (n->kind == N_MAP)
        snprintf(out, outlen, "a mapping");
    else if (node_is_null(n))
        snprintf(out, outlen, "null");
    else
        snprintf(out, outlen, "\"%s\"",
                 diag_quote(n->str, n->len, q, sizeof(q)));
    return out;
}

/* An empty value (`key:` and nothing) gets its mark from libyaml wherever the
 * next token is, possibly on a later line; the key is the better place. */
static const yaml_mark_t *val_mark(const struct node *key,
                                   const struct node *val)
{
    if (val->kind == N_SCALAR && val->plain && val->len == 0 && key != NULL)
        return &key->mark;
    return &val->mark;
}

static void syntax_error(struct ctx *x, const yaml_parser_t *p)
{
    const char *problem = p->problem != NULL ? p->problem : "unknown problem";
    if (p->error == YAML_MEMORY_ERROR) {
        oom(x);
    } else if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset into the raw input, not a mark. */
        yaml_mark_t m = {0, 0, 0};
        size_t off = p->problem_offset < x->len ? p->problem_offset : x->len;
        if (x->utf8) {
            size_t line_start = x->base;
            for (size_t i = x->base; i < off; i++) {
                bool brk = x->buf[i] == '\n' ||
                           (x->buf[i] == '\r' &&
                            (i + 1 >= x->len || x->buf[i + 1] != '\n'));
                if (brk) {
                    m.line++;
                    line_start = i + 1;
                }
            }
            unsigned line = clamp_uint(m.line + 1);
            unsigned col = clamp_uint(off - line_start + 1);
            x->errors++;
            diag_add(x->d, DIAG_ERROR, line, col,
                     "cannot read the file: %s (byte 0x%02x at offset %zu)",
                     problem, (unsigned)(p->problem_value & 0xff),
                     p->problem_offset);
        } else {
            err_at(x, NULL, "cannot read the file: %s (at byte offset %zu)",
                   problem, p->problem_offset);
        }
    } else if (p->context != NULL) {
        unsigned cl = 0, cc = 0;
        yaml_mark_t cm = p->context_mark;
        mark_pos(x, &cm, &cl, &cc);
        yaml_mark_t pm = p->problem_mark;
        err_at(x, &pm, "YAML syntax error: %s (%s that starts at %u:%u)",
               problem, p->context, cl, cc);
    } else {
        yaml_mark_t pm = p->problem_mark;
        err_at(x, &pm, "YAML syntax error: %s", problem);
    }
}

static int next_event(struct ctx *x, yaml_parser_t *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(p, ev)) {
        syntax_error(x, p);
        return -1;
    }
    return 0;
}

/* check_props reports anchors and tags on a node; neither is needed in a
 * config file, and refusing them keeps the meaning of every value plain. */
static void check_props(struct ctx *x, const yaml_mark_t *m,
                        const yaml_char_t *anchor, const yaml_char_t *tag)
{
    char q[200];
    if (anchor != NULL) {
        const char *a = (const char *)anchor;
        err_at(x, m,
               "anchors (&%s) are not supported; write the value out in "
               "full",
               diag_quote(a, strlen(a), q, sizeof(q)));
    }
    if (tag != NULL) {
        const char *t = (const char *)tag;
        err_at(x, m,
               "YAML tags (%s) are not supported; quote the value if it "
               "should be a string",
               diag_quote(t, strlen(t), q, sizeof(q)));
    }
}

/*
 * build turns the event ev (consumed) and the events that follow it into a
 * node. Returns NULL when parsing cannot go on (syntax error, nesting too
 * deep, too many nodes, out of memory); the reason is already reported.
 */
static struct node *build(struct ctx *x, yaml_parser_t *p, yaml_event_t *ev,
                          unsigned depth)
{
    struct node *n = NULL, *ret = NULL;
    yaml_event_type_t end_type = YAML_NO_EVENT;

    if (++x->nodes > CONFIG_MAX_NODES) {
        err_at(x, &ev->start_mark,
               "the configuration has more than %u values; refusing it",
               CONFIG_MAX_NODES);
        goto out;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        oom(x);
        goto out;
    }
    n->mark = ev->start_mark;
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        char q[200];
        const char *a = (const char *)ev->data.alias.anchor;
        err_at(x, &ev->start_mark,
               "aliases (*%s) are not supported (they can expand without "
               "bound); write the value out in full",
               diag_quote(a, strlen(a), q, sizeof(q)));
        n->kind = N_BAD;
        ret = n;
        n = NULL;
        goto out;
    }
    case YAML_SCALAR_EVENT:
        check_props(x, &ev->start_mark, ev->data.scalar.anchor,
                    ev->data.scalar.tag);
        n->kind = N_SCALAR;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                   ev->data.scalar.tag == NULL;
        n->len = ev->data.scalar.length;
        n->str = malloc(n->len + 1);
        if (n->str == NULL) {
            oom(x);
            goto out;
        }
        memcpy(n->str, ev->data.scalar.value, n->len);
        n->str[n->len] = '\0';
        ret = n;
        n = NULL;
        goto out;
    case YAML_SEQUENCE_START_EVENT:
        check_props(x, &ev->start_mark, ev->data.sequence_start.anchor,
                    ev->data.sequence_start.tag);
        n->kind = N_SEQ;
        end_type = YAML_SEQUENCE_END_EVENT;
        break;
    case YAML_MAPPING_START_EVENT:
        check_props(x, &ev->start_mark, ev->data.mapping_start.anchor,
                    ev->data.mapping_start.tag);
        n->kind = N_MAP;
        end_type = YAML_MAPPING_END_EVENT;
        break;
    default:
        err_at(x, &ev->start_mark, "unexpected YAML event %d", (int)ev->type);
        goto out;
    }

    if (depth >= CONFIG_MAX_DEPTH) {
        err_at(x, &ev->start_mark,
               "values are nested more than %d levels deep; refusing them",
               CONFIG_MAX_DEPTH);
        goto out;
    }
    for (;;) {
        yaml_event_t kid_ev;
        if (next_event(x, p, &kid_ev) < 0)
            goto out;
        if (kid_ev.type == end_type) {
            yaml_event_delete(&kid_ev);
            break;
        }
        struct node *kid = build(x, p, &kid_ev, depth + 1);
        if (kid == NULL)
            goto out;
        if (node_push(n, kid) < 0) {
            node_free(kid);
            oom(x);
            goto out;
        }
    }
    ret = n;
    n = NULL;
out:
    yaml_event_delete(ev);
    node_free(n);
    return ret;
}

/* ---- names: "did you mean" ---------------------------------------------- */

/* fold lower-cases s into out and makes '-' a '_'; false when it does not
 * fit. */
static bool fold(const char *s, size_t len, char *out, size_t outlen)
{
    if (len > outlen)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c == '-' ? '_' : c;
    }
    return true;
}

/* closest returns the name in names[] nearest to s, or NULL when none is
 * close enough to be a plausible typo. Case does not count, and '-' stands
 * for '_' (on both sides, for values such as "tls-alpn-01"), the way people
 * misremember names. */
static const char *closest(const char *s, size_t len, const char *const *names,
                           size_t n)
{
    char folded[DIAG_EDIT_MAX], name[DIAG_EDIT_MAX];
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    if (!fold(s, len, folded, sizeof(folded)))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(names[i]);
        if (!fold(names[i], kl, name, sizeof(name)))
            continue;
        size_t dist = diag_edit_distance(folded, len, name, kl);
        size_t limit = kl >= 5 ? 2 : 1;
        if (dist <= limit && dist < best_d) {
            best = names[i];
            best_d = dist;
        }
    }
    return best;
}

/* ---- scalar helpers ---------------------------------------------------- */

static void type_error(struct ctx *x, const struct keydef *kd,
                       const struct node *key, const struct node *val)
{
    char found[256];
    err_at(x, val_mark(key, val), "%s: expected %s, found %s", kd->path,
           kd->expect, describe(val, found, sizeof(found)));
}

/* scalar_text returns the text of a non-null scalar without inner NULs, or
 * NULL after reporting why not. */
static const char *scalar_text(struct ctx *x, const struct keydef *kd,
                               const struct node *key, const struct node *val)
{
    if (val->kind != N_SCALAR || node_is_null(val)) {
        type_error(x, kd, key, val);
        return NULL;
    }
    if (strlen(val->str) != val->len) {
        err_at(x, &val->mark, "%s: the value contains a NUL character",
               kd->path);
        return NULL;
    }
    return val->str;
}

static int replace_string(struct ctx *x, char **field, const char *s)
{
    char *copy = NULL;
    if (s != NULL) {
        copy = strdup(s);
        if (copy == NULL) {
            oom(x);
            return -1;
        }
    }
    free(*field);
    *field = copy;
    return 0;
}

/* parse_uint reads a decimal integer within [kd->min, kd->max]. */
static int parse_uint(struct ctx *x, const struct keydef *kd,
                      const struct node *key, const struct node *val,
                      unsigned long *out)
{
    char q[200];
    const char *s = scalar_text(x, kd, key, val);
    if (s == NULL)
        return -1;
    size_t len = val->len;
    bool digits = len > 0;
    size_t start = s[0] == '-' || s[0] == '+' ? 1 : 0;
    if (start == len)
        digits = false;
    for (size_t i = start; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            digits = false;
    if (!digits) {
        err_at(x, &val->mark,
               "%s: expected a whole number in %lu..%lu, found "
               "\"%s\"",
               kd->path, kd->min, kd->max, diag_quote(s, len, q, sizeof(q)));
        return -1;
    }
    if (s[0] == '-') {
        err_at(x, &val->mark, "%s: %s is out of range; expected %lu..%lu",
               kd->path, diag_quote(s, len, q, sizeof(q)), kd->min, kd->max);
        return -1;
    }
    if (s[start] == '0' && len - start > 1) {
        /* YAML 1.1 reads 010 as octal 8; refuse rather than guess. */
        err_at(x, &val->mark,
               "%s: \"%s\" has a leading zero (octal in YAML "
               "1.1); write the number in plain decimal",
               kd->path, diag_quote(s, len, q, sizeof(q)));
        return -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s + start, &end, 10);
    if (end != s + len) {
        err_at(x, &val->mark, "%s: expected a whole number, found \"%s\"",
               kd->path, diag_quote(s, len, q, sizeof(q)));
        return -1;
    }
    if (errno == ERANGE || v < kd->min || v > kd->max) {
        err_at(x, &val->mark, "%s: %s is out of range; expected %lu..%lu",
               kd->path, diag_quote(s, len, q, sizeof(q)), kd->min, kd->max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool(struct ctx *x, const struct keydef *kd,
                      const struct node *key, const struct node *val, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    char q[200];
    const char *s = scalar_text(x, kd, key, val);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    err_at(x, &val->mark,
           "%s: expected true or false (or yes/no, on/off), "
           "found \"%s\"",
           kd->path, diag_quote(s, val->len, q, sizeof(q)));
    return -1;
}

/* parse_choice maps a value onto one of names[]; case does not matter. */
static int parse_choice(struct ctx *x, const struct keydef *kd,
                        const struct node *key, const struct node *val,
                        const char *const *names, size_t n)
{
    char q[200];
    const char *s = scalar_text(x, kd, key, val);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, names[i]) == 0)
            return (int)i;
    const char *hint = closest(s, val->len, names, n);
    if (hint == NULL && strcasecmp(s, "warning") == 0)
        hint = "warn";
    err_at(x, &val->mark, "%s: expected %s, found \"%s\"%s%s%s", kd->path,
           kd->expect, diag_quote(s, val->len, q, sizeof(q)),
           hint ? "; did you mean \"" : "", hint ? hint : "",
           hint ? "\"?" : "");
    return -1;
}

/* ---- host names, listen addresses, rua URIs ---------------------------- */

static const char *show_char(unsigned char c, char *out, size_t outlen)
{
    if (c > 0x20 && c < 0x7f)
        snprintf(out, outlen, "'%c'", c);
    else
        snprintf(out, outlen, "\\x%02x", c);
    return out;
}

int config_check_domain(char *name, char *err, size_t errlen)
{
    size_t len = strlen(name);
    /* When normalising fails ("", ".", "a.."), checking the name as given
     * says why. */
    if (dnsname_normalize(name, len, name, len + 1) == 0)
        len = strlen(name);
    if (dnsname_check(name, len, DNSNAME_DOMAIN, NULL, err, errlen) < 0)
        return -1;
    /* Operators often paste the policy host; the host serves mta-sts.<d>
     * itself, so the domain to list is the one below it. */
    if (strncmp(name, "mta-sts.", 8) == 0 && strchr(name + 8, '.') != NULL) {
        diag_fit(err, errlen,
                 "list the bare domain \"%s\"; the host serves "
                 "mta-sts.<domain> for it",
                 name + 8);
        return -1;
    }
    return 0;
}

static int parse_port(const char *s, unsigned short *port, char *err,
                      size_t errlen)
{
    char q[200];
    size_t len = strlen(s);
    bool ok = len > 0 && len <= 5;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            ok = false;
    if (!ok) {
        diag_fit(err, errlen, "expected a port number 1-65535, found \"%s\"",
                 diag_quote(s, len, q, sizeof(q)));
        return -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 65535) {
        diag_fit(err, errlen, "port %s is out of range; expected 1-65535",
                 diag_quote(s, len, q, sizeof(q)));
        return -1;
    }
    *port = (unsigned short)v;
    return 0;
}

int config_split_listen(const char *addr, char *host, size_t hostlen,
                        unsigned short *port, char *err, size_t errlen)
{
    char q[200];
    unsigned char bin[16];
    const char *hs, *he, *ps;
    size_t alen = strlen(addr);
    int family;

    if (addr[0] == '[') {
        he = strchr(addr, ']');
        if (he == NULL) {
            diag_fit(err, errlen, "\"%s\": missing ']' after the IPv6 address",
                     diag_quote(addr, alen, q, sizeof(q)));
            return -1;
        }
        hs = addr + 1;
        if (he[1] != ':') {
            diag_fit(err, errlen,
                     "\"%s\": expected ':' and a port after ']', as in "
                     "\"[::]:8443\"",
                     diag_quote(addr, alen, q, sizeof(q)));
            return -1;
        }
        ps = he + 2;
        family = AF_INET6;
    } else {
        const char *colon = strchr(addr, ':');
        if (colon == NULL) {
            diag_fit(err, errlen,
                     "\"%s\": expected an address and a port, as in "
                     "\"0.0.0.0:8443\" or \"[::]:8443\"",
                     diag_quote(addr, alen, q, sizeof(q)));
            return -1;
        }
        if (strchr(colon + 1, ':') != NULL) {
            diag_fit(err, errlen,
                     "\"%s\": IPv6 addresses go in brackets, as in "
                     "\"[::1]:8443\"",
                     diag_quote(addr, alen, q, sizeof(q)));
            return -1;
        }
        hs = addr;
        he = colon;
        ps = colon + 1;
        family = AF_INET;
    }
    size_t hlen = (size_t)(he - hs);
    char tmp[INET6_ADDRSTRLEN + 1];
    if (hlen == 0 || hlen >= sizeof(tmp)) {
        diag_fit(err, errlen,
                 "\"%s\": expected an IP address literal before "
                 "the port",
                 diag_quote(addr, alen, q, sizeof(q)));
        return -1;
    }
    memcpy(tmp, hs, hlen);
    tmp[hlen] = '\0';
    if (inet_pton(family, tmp, bin) != 1) {
        diag_fit(err, errlen,
                 "\"%s\" is not an %s address literal (host names are not "
                 "resolved; use an IP such as %s)",
                 diag_quote(tmp, hlen, q, sizeof(q)),
                 family == AF_INET ? "IPv4" : "IPv6",
                 family == AF_INET ? "0.0.0.0" : "[::]");
        return -1;
    }
    if (parse_port(ps, port, err, errlen) < 0)
        return -1;
    if (host != NULL) {
        if (hlen >= hostlen) {
            diag_fit(err, errlen, "the address does not fit the host buffer");
            return -1;
        }
        memcpy(host, tmp, hlen + 1);
    }
    return 0;
}

/* uri_char is RFC 3986's unreserved, reserved and '%'. */
static bool uri_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* check_https_authority checks host[:port] after "https://"; host_flags
 * are dnsname's (DNSNAME_DOMAIN: at least two labels). */
static int check_https_authority(const char *a, size_t len, unsigned host_flags,
                                 char *err, size_t errlen)
{
    char tmp[256], herr[256], q[200];
    const char *host = a;
    size_t hlen = len;
    const char *port = NULL;
    unsigned char bin[16];
    if (memchr(a, '@', len) != NULL) {
        diag_fit(err, errlen,
                 "an https URI must not carry user "
                 "information ('@' before the host)");
        return -1;
    }
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (close == NULL) {
            diag_fit(err, errlen, "missing ']' after the IPv6 address");
            return -1;
        }
        host = a + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < a + len) {
            if (close[1] != ':') {
                diag_fit(err, errlen, "expected ':' and a port after ']'");
                return -1;
            }
            port = close + 2;
        }
        if (hlen == 0 || hlen >= sizeof(tmp)) {
            diag_fit(err, errlen, "expected an IPv6 address in brackets");
            return -1;
        }
        memcpy(tmp, host, hlen);
        tmp[hlen] = '\0';
        if (inet_pton(AF_INET6, tmp, bin) != 1) {
            diag_fit(err, errlen, "\"%s\" is not an IPv6 address",
                     diag_quote(tmp, hlen, q, sizeof(q)));
            return -1;
        }
    } else {
        const char *colon = memchr(a, ':', len);
        if (colon != NULL) {
            hlen = (size_t)(colon - a);
            port = colon + 1;
        }
        if (hlen == 0) {
            diag_fit(err, errlen,
                     "\"https://\" must be followed by a host, as "
                     "in https://reports.example.com/tlsrpt");
            return -1;
        }
        if (hlen >= sizeof(tmp)) {
            diag_fit(err, errlen, "the host name is too long");
            return -1;
        }
        memcpy(tmp, host, hlen);
        tmp[hlen] = '\0';
        if (inet_pton(AF_INET, tmp, bin) != 1 &&
            dnsname_check(tmp, hlen, host_flags, NULL, herr, sizeof herr) < 0) {
            diag_fit(err, errlen, "invalid host \"%s\": %s",
                     diag_quote(tmp, hlen, q, sizeof(q)), herr);
            return -1;
        }
    }
    if (port != NULL) {
        size_t plen = (size_t)(a + len - port);
        unsigned short p;
        if (plen >= sizeof(tmp)) {
            diag_fit(err, errlen, "the port is too long");
            return -1;
        }
        memcpy(tmp, port, plen);
        tmp[plen] = '\0';
        if (parse_port(tmp, &p, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int check_mailto(const char *m, size_t len, char *err, size_t errlen)
{
    char herr[256], q[200];
    const char *qm = memchr(m, '?', len);
    size_t alen = qm != NULL ? (size_t)(qm - m) : len;
    if (alen == 0) {
        diag_fit(err, errlen,
                 "\"mailto:\" must be followed by an address, as "
                 "in mailto:tls-reports@example.com");
        return -1;
    }
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (m[i] == '@')
            at = m + i;
    if (at == NULL) {
        diag_fit(err, errlen, "\"%s\" is not an e-mail address (no '@')",
                 diag_quote(m, alen, q, sizeof(q)));
        return -1;
    }
    if (at == m) {
        diag_fit(err, errlen, "the address has an empty local part before '@'");
        return -1;
    }
    const char *dom = at + 1;
    size_t dlen = alen - (size_t)(dom - m);
    if (dlen > 0 && dom[0] == '[' && dom[dlen - 1] == ']')
        return 0; /* an address literal; rare, and left to the MTA */
    if (dnsname_check(dom, dlen, DNSNAME_DOMAIN, NULL, herr, sizeof herr) < 0) {
        diag_fit(err, errlen, "invalid mail domain \"%s\": %s",
                 diag_quote(dom, dlen, q, sizeof(q)), herr);
        return -1;
    }
    return 0;
}

int config_check_rua(const char *uri, char *err, size_t errlen)
{
    char ch[8];
    size_t len = strlen(uri);
    bool mailto = strncasecmp(uri, "mailto:", 7) == 0;
    bool https = strncasecmp(uri, "https://", 8) == 0;

    if (!mailto && !https) {
        if (strncasecmp(uri, "http://", 7) == 0)
            diag_fit(err, errlen,
                     "plain http: is not allowed; TLS-RPT takes "
                     "mailto: or https: URIs (RFC 8460 §3)");
        else
            diag_fit(err, errlen,
                     "expected a mailto: or https: URI (RFC 8460 "
                     "§3)");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c == ',' || c == '!' || c == ';') {
            diag_fit(err, errlen,
                     "character '%c' at position %zu must be percent-encoded "
                     "as %%%02X (RFC 8460 §3: it separates URIs in the TXT "
                     "record)%s",
                     c, i + 1, c,
                     c == '!' ? "; TLS-RPT has no DMARC-style size limit "
                                "suffix"
                              : "");
            return -1;
        }
        if (c == '%') {
            if (i + 2 >= len || !is_hex(uri[i + 1]) || !is_hex(uri[i + 2])) {
                diag_fit(err, errlen,
                         "bad percent-escape at position %zu; "
                         "expected %%HH with two hex digits",
                         i + 1);
                return -1;
            }
            i += 2;
            continue;
        }
        if (c <= 0x20 || c >= 0x7f) {
            diag_fit(err, errlen,
                     "%s at position %zu must be percent-encoded (no "
                     "whitespace, control or non-ASCII characters in a URI)",
                     show_char(c, ch, sizeof(ch)), i + 1);
            return -1;
        }
        if (!uri_char(c)) {
            diag_fit(err, errlen,
                     "character '%c' at position %zu is not allowed in a URI; "
                     "percent-encode it as %%%02X",
                     c, i + 1, c);
            return -1;
        }
    }
    if (mailto)
        return check_mailto(uri + 7, len - 7, err, errlen);
    size_t alen = strcspn(uri + 8, "/?#");
    return check_https_authority(uri + 8, alen, DNSNAME_DOMAIN, err, errlen);
}

/* ---- ACME values -------------------------------------------------------- */

static const char *const acme_challenge_names[CONFIG_ACME_N_CHALLENGES] = {
    "tls-alpn-01", "http-01"};
static const char *const acme_key_names[] = {"ecdsa-p256", "rsa-2048", "both"};

const char *config_acme_challenge_name(enum config_acme_challenge t)
{
    return (size_t)t < CONFIG_ACME_N_CHALLENGES ? acme_challenge_names[t] : "?";
}

/* acme_challenge_of maps one name onto a challenge type, or explains. */
static int acme_challenge_of(const char *s, size_t len,
                             enum config_acme_challenge *out, char *err,
                             size_t errlen)
{
    char q[200];
    for (size_t i = 0; i < CONFIG_ACME_N_CHALLENGES; i++)
        if (strlen(acme_challenge_names[i]) == len &&
            strncasecmp(s, acme_challenge_names[i], len) == 0) {
            *out = (enum config_acme_challenge)i;
            return 0;
        }
    diag_quote(s, len, q, sizeof(q));
    if (len == 6 && strncasecmp(s, "dns-01", 6) == 0) {
        diag_fit(err, errlen,
                 "\"dns-01\" is not supported: the host answers only the "
                 "challenges it can serve itself, tls-alpn-01 and http-01");
        return -1;
    }
    const char *hint =
        closest(s, len, acme_challenge_names, CONFIG_ACME_N_CHALLENGES);
    diag_fit(err, errlen, "expected tls-alpn-01 or http-01, found \"%s\"%s%s%s",
             q, hint ? "; did you mean \"" : "", hint ? hint : "",
             hint ? "\"?" : "");
    return -1;
}

int config_parse_acme_challenges(const char *list,
                                 enum config_acme_challenge *out, char *err,
                                 size_t errlen)
{
    int n = 0;
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        enum config_acme_challenge t;
        if (len == 0) {
            diag_fit(err, errlen,
                     "expected challenge names separated by commas, as in "
                     "\"tls-alpn-01,http-01\"");
            return -1;
        }
        if (acme_challenge_of(p, len, &t, err, errlen) < 0)
            return -1;
        for (int i = 0; i < n; i++)
            if (out[i] == t) {
                diag_fit(err, errlen, "%s is listed twice",
                         acme_challenge_names[t]);
                return -1;
            }
        out[n++] = t;
        if (p[len] == '\0')
            return n;
        p += len + 1;
    }
}

int config_parse_acme_key(const char *name, enum config_acme_key *out,
                          char *err, size_t errlen)
{
    char q[200];
    for (size_t i = 0; i < 3; i++)
        if (strcasecmp(name, acme_key_names[i]) == 0) {
            *out = (enum config_acme_key)i;
            return 0;
        }
    const char *hint = closest(name, strlen(name), acme_key_names, 3);
    diag_fit(err, errlen,
             "expected ecdsa-p256, rsa-2048 or both, found \"%s\"%s%s%s",
             diag_quote(name, strlen(name), q, sizeof(q)),
             hint ? "; did you mean \"" : "", hint ? hint : "",
             hint ? "\"?" : "");
    return -1;
}

/* first_invisible finds the first byte of s that is not visible ASCII, or
 * returns -1 when there is none. */
static long first_invisible(const char *s)
{
    for (size_t i = 0; s[i] != '\0'; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return (long)i;
    return -1;
}

int config_check_acme_directory(const char *url, char *err, size_t errlen)
{
    char ch[8];
    if (strncasecmp(url, "https://", 8) != 0) {
        diag_fit(err, errlen,
                 "expected an https:// URL (RFC 8555 §6.1: ACME runs over "
                 "HTTPS only), as in %s",
                 DEFAULT_ACME_DIRECTORY);
        return -1;
    }
    long bad = first_invisible(url);
    if (bad >= 0) {
        diag_fit(err, errlen,
                 "%s at position %ld must be percent-encoded (no whitespace, "
                 "control or non-ASCII characters in a URL)",
                 show_char((unsigned char)url[bad], ch, sizeof(ch)), bad + 1);
        return -1;
    }
    for (size_t i = 0; url[i] != '\0'; i++)
        if (!uri_char((unsigned char)url[i])) {
            diag_fit(err, errlen,
                     "character '%c' at position %zu is not allowed in a URL; "
                     "percent-encode it as %%%02X",
                     url[i], i + 1, (unsigned char)url[i]);
            return -1;
        }
    size_t alen = strcspn(url + 8, "/?#");
    /* A private CA or Pebble may well be "localhost" or "ca". */
    return check_https_authority(url + 8, alen, 0, err, errlen);
}

int config_check_acme_email(const char *addr, char *err, size_t errlen)
{
    char ch[8];
    long bad = first_invisible(addr);
    if (addr[0] == '\0') {
        diag_fit(err, errlen, "expected an e-mail address, found \"\"");
        return -1;
    }
    if (bad >= 0) {
        diag_fit(err, errlen, "%s at position %ld is not allowed in an address",
                 show_char((unsigned char)addr[bad], ch, sizeof(ch)), bad + 1);
        return -1;
    }
    /* The address becomes a mailto: URI in the account (RFC 8555 §7.3);
     * the CA refuses hfields, and several addresses are several keys. */
    size_t bad_at = strcspn(addr, "?,;:<>");
    if (addr[bad_at] != '\0') {
        diag_fit(err, errlen,
                 "character '%c' at position %zu is not allowed; give one "
                 "plain address such as postmaster@example.com",
                 addr[bad_at], bad_at + 1);
        return -1;
    }
    return check_mailto(addr, strlen(addr), err, errlen);
}

/* acme_problem is config_check_acme that also says which setting is at
 * fault ('t': agree_tos, 'e': eab, 'c': the challenges), for positions in
 * the file. */
static int acme_problem(const struct config *c, char *err, size_t errlen)
{
    if (!c->acme)
        return 0;
    if (!c->acme_agree_tos) {
        diag_fit(err, errlen,
                 "acme.agree_tos: true is required (--acme-agree-tos): nothing "
                 "is ordered until you agree to the CA's terms of service");
        return 't';
    }
    if ((c->acme_eab_kid == NULL) != (c->acme_eab_hmac_key == NULL)) {
        diag_fit(err, errlen,
                 "acme.eab: give both kid and hmac_key (External Account "
                 "Binding, RFC 8555 §7.3.4), or neither; %s is missing",
                 c->acme_eab_kid == NULL ? "kid" : "hmac_key");
        return 'e';
    }
    bool tls_alpn = false;
    for (size_t i = 0; i < c->n_acme_challenges; i++)
        tls_alpn = tls_alpn || c->acme_challenges[i] == CONFIG_ACME_TLS_ALPN_01;
    if (!tls_alpn && c->http_listen == NULL) {
        snprintf(err, errlen,
                 "acme.challenges: http-01 alone needs the plain-HTTP "
                 "listener, and listen.http (--http) is off; turn it on or "
                 "add tls-alpn-01");
        return 'c';
    }
    return 0;
}

int config_check_acme(const struct config *c, char *err, size_t errlen)
{
    return acme_problem(c, err, errlen) != 0 ? -1 : 0;
}

int config_check_user(const char *name, char *err, size_t errlen)
{
    char ch[8];
    size_t len = strlen(name);
    if (len == 0) {
        diag_fit(err, errlen, "the user name is empty");
        return -1;
    }
    /* useradd's limit; longer names are a paste of something else. */
    if (len > 32) {
        diag_fit(err, errlen,
                 "the name is %zu characters long; the limit is 32", len);
        return -1;
    }
    if (name[0] == '-') {
        diag_fit(err, errlen, "a user name cannot start with '-'");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                  (c == '$' && i == len - 1);
        if (!ok) {
            diag_fit(err, errlen,
                     "character %s is not allowed in a user name (letters, "
                     "digits, '.', '_' and '-')",
                     show_char(c, ch, sizeof(ch)));
            return -1;
        }
    }
    return 0;
}

int config_check_tlsrpt_path(const char *path, char *err, size_t errlen)
{
    static const char *const taken[] = {"/.well-known/mta-sts.txt", "/healthz",
                                        "/status", "/metrics"};
    char q[200];
    size_t len = strlen(path);
    if (path[0] != '/') {
        diag_fit(err, errlen, "expected a path starting with '/', found \"%s\"",
                 diag_quote(path, len, q, sizeof(q)));
        return -1;
    }
    if (len > TLSRPT_PATH_MAX) {
        diag_fit(err, errlen, "expected at most %d bytes, found %zu",
                 TLSRPT_PATH_MAX, len);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= 0x20 || c >= 0x7f || strchr("?#%,!;", c) != NULL) {
            diag_fit(err, errlen,
                     "expected visible ASCII without '?', '#', '%%', ',', '!' "
                     "or ';', found "
                     "\"%s\" at byte %zu",
                     diag_quote(path + i, 1, q, sizeof(q)), i + 1);
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
        if (strcmp(path, taken[i]) == 0) {
            diag_fit(err, errlen, "%s is already served by the host", path);
            return -1;
        }
    return 0;
}

int config_check_instance(const char *name, char *err, size_t errlen)
{
    char q[200];
    size_t len = strlen(name);
    if (len == 0 || len > INSTANCE_MAX || name[0] == '.') {
        diag_fit(err, errlen,
                 "expected 1 to %d characters not starting with '.', found "
                 "\"%s\"",
                 INSTANCE_MAX, diag_quote(name, len, q, sizeof(q)));
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
            diag_fit(err, errlen,
                     "expected letters, digits, '.', '_' or '-', found \"%s\"",
                     diag_quote(name + i, 1, q, sizeof(q)));
            return -1;
        }
    }
    return 0;
}

/* ---- lists: domains and rua -------------------------------------------- */

struct ent {
    const char *s;
    size_t idx;
};

static int ent_cmp(const void *a, const void *b)
{
    const struct ent *x = a, *y = b;
    int r = strcmp(x->s, y->s);
    if (r != 0)
        return r;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * find_dups sets first[i] to the index of the earlier equal string, or to i
 * when strs[i] is the first of its kind. Sorting keeps this n log n for the
 * long domain lists of a provider.
 */
static int find_dups(char *const *strs, size_t n, size_t *first)
{
    struct ent *e = calloc(n ? n : 1, sizeof(*e));
    if (e == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        e[i].s = strs[i];
        e[i].idx = i;
    }
    qsort(e, n, sizeof(*e), ent_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(e[i].s, e[i - 1].s) == 0)
            first[e[i].idx] = first[e[i - 1].idx];
        else
            first[e[i].idx] = e[i].idx;
    }
    free(e);
    return 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

/*
 * apply_list reads a sequence of strings checked by check() (which may
 * normalise in place), reports duplicates (as errors when dup_is_error),
 * and stores the list in *field / *nfield.
 */
static void apply_list(struct ctx *x, const struct keydef *kd,
                       const struct node *key, const struct node *val,
                       char ***field, size_t *nfield,
                       int (*check)(char *, char *, size_t), const char *what,
                       bool dup_is_error)
{
    char **v = NULL;
    const struct node **src = NULL;
    size_t *first = NULL;
    size_t n = 0;
    bool bad = false;
    char err[256], q[200];

    if (node_is_null(val)) {
        free_list(*field, *nfield);
        *field = NULL;
        *nfield = 0;
        return;
    }
    if (val->kind != N_SEQ) {
        type_error(x, kd, key, val);
        return;
    }
    v = calloc(val->n ? val->n : 1, sizeof(*v));
    src = calloc(val->n ? val->n : 1, sizeof(*src));
    first = calloc(val->n ? val->n : 1, sizeof(*first));
    if (v == NULL || src == NULL || first == NULL) {
        oom(x);
        goto out;
    }
    for (size_t i = 0; i < val->n; i++) {
        const struct node *it = val->kids[i];
        if (it->kind == N_BAD) {
            bad = true;
            continue;
        }
        if (it->kind != N_SCALAR || node_is_null(it)) {
            char found[256];
            err_at(x, &it->mark, "%s: each entry must be %s, found %s",
                   kd->path, what, describe(it, found, sizeof(found)));
            bad = true;
            continue;
        }
        if (strlen(it->str) != it->len) {
            err_at(x, &it->mark, "%s: the entry contains a NUL character",
                   kd->path);
            bad = true;
            continue;
        }
        char *s = strdup(it->str);
        if (s == NULL) {
            oom(x);
            goto out;
        }
        if (check(s, err, sizeof(err)) < 0) {
            err_at(x, &it->mark, "%s: invalid %s \"%s\": %s", kd->path, what,
                   diag_quote(it->str, it->len, q, sizeof(q)), err);
            free(s);
            bad = true;
            continue;
        }
        src[n] = it;
        v[n++] = s;
    }
    if (find_dups(v, n, first) < 0) {
        oom(x);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (first[i] == i)
            continue;
        unsigned line = 0, col = 0;
        first_pos(x, &src[first[i]]->mark, &line, &col);
        if (dup_is_error) {
            err_at(x, &src[i]->mark,
                   "%s: duplicate %s \"%s\" (first listed at %u:%u)", kd->path,
                   what, diag_quote(v[i], strlen(v[i]), q, sizeof(q)), line,
                   col);
            bad = true;
        } else {
            warn_at(x, &src[i]->mark,
                    "%s: duplicate %s \"%s\" (first listed at %u:%u)", kd->path,
                    what, diag_quote(v[i], strlen(v[i]), q, sizeof(q)), line,
                    col);
        }
    }
    if (!bad) {
        free_list(*field, *nfield);
        *field = v;
        *nfield = n;
        v = NULL;
    }
out:
    free_list(v, n);
    free(src);
    free(first);
}

static int check_rua_mutable(char *uri, char *err, size_t errlen)
{
    return config_check_rua(uri, err, errlen);
}

static void apply_domains(struct ctx *x, const struct keydef *kd,
                          const struct node *key, const struct node *val)
{
    apply_list(x, kd, key, val, &x->c->domains, &x->c->n_domains,
               config_check_domain, "domain", true);
}

static void apply_rua(struct ctx *x, const struct keydef *kd,
                      const struct node *key, const struct node *val)
{
    apply_list(x, kd, key, val, &x->c->tlsrpt_rua, &x->c->n_tlsrpt_rua,
               check_rua_mutable, "rua URI", false);
}

/* ---- the other value kinds --------------------------------------------- */

static char **string_field(struct ctx *x, const struct keydef *kd)
{
    return (char **)(void *)((char *)x->c + kd->off);
}

static void apply_dir(struct ctx *x, const struct keydef *kd,
                      const struct node *key, const struct node *val)
{
    const char *s = scalar_text(x, kd, key, val);
    if (s == NULL)
        return;
    if (s[0] == '\0') {
        err_at(x, &val->mark, "%s: expected %s, found an empty string",
               kd->path, kd->expect);
        return;
    }
    replace_string(x, string_field(x, kd), s);
}

static void apply_user(struct ctx *x, const struct keydef *kd,
                       const struct node *key, const struct node *val)
{
    char err[256], q[200];
    const char *s = scalar_text(x, kd, key, val);
    if (s == NULL)
        return;
    if (config_check_user(s, err, sizeof(err)) < 0) {
        err_at(x, &val->mark, "%s: invalid user \"%s\": %s", kd->path,
               diag_quote(s, val->len, q, sizeof(q)), err);
        return;
    }
    replace_string(x, string_field(x, kd), s);
}

static void apply_listen(struct ctx *x, const struct keydef *kd,
                         const struct node *key, const struct node *val)
{
    char err[256];
    unsigned short port;
    bool optional = kd->min == 1;
    size_t slot = (size_t)kd->max;
    if (optional &&
        (node_is_null(val) || (val->kind == N_SCALAR && val->len == 0))) {
        replace_string(x, string_field(x, kd), NULL);
        x->listen_val[slot] = NULL;
        return;
    }
    const char *s = scalar_text(x, kd, key, val);
    if (s == NULL)
        return;
    if (config_split_listen(s, NULL, 0, &port, err, sizeof(err)) < 0) {
        err_at(x, &val->mark, "%s: %s", kd->path, err);
        return;
    }
    if (replace_string(x, string_field(x, kd), s) == 0)
        x->listen_val[slot] = val;
}

static void apply_uint(struct ctx *x, const struct keydef *kd,
                       const struct node *key, const struct node *val)
{
    unsigned long v;
    if (parse_uint(x, kd, key, val, &v) < 0)
        return;
    *(unsigned *)(void *)((char *)x->c + kd->off) = (unsigned)v;
    if (kd->off == offsetof(struct config, max_connections_per_ip))
        x->per_ip_val = val;
}

static void apply_size(struct ctx *x, const struct keydef *kd,
                       const struct node *key, const struct node *val)
{
    unsigned long v;
    if (parse_uint(x, kd, key, val, &v) < 0)
        return;
    *(size_t *)(void *)((char *)x->c + kd->off) = (size_t)v;
}

static void apply_bool(struct ctx *x, const struct keydef *kd,
                       const struct node *key, const struct node *val)
{
    bool v;
    if (parse_bool(x, kd, key, val, &v) < 0)
        return;
    *(bool *)(void *)((char *)x->c + kd->off) = v;
}

static void apply_log_format(struct ctx *x, const struct keydef *kd,
                             const struct node *key, const struct node *val)
{
    static const char *const names[] = {"text", "json"};
    int i = parse_choice(x, kd, key, val, names, 2);
    if (i >= 0)
        x->c->log_format = i == 0 ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
}

static void apply_log_level(struct ctx *x, const struct keydef *kd,
                            const struct node *key, const struct node *val)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    static const enum log_level levels[] = {LOG_LEVEL_ERROR, LOG_LEVEL_WARN,
                                            LOG_LEVEL_INFO, LOG_LEVEL_DEBUG};
    int i = parse_choice(x, kd, key, val, names, 4);
    if (i >= 0)
        x->c->log_level = levels[i];
}

static void apply_state_dir(struct ctx *x, const struct keydef *kd,
                            const struct node *key, const struct node *val)
{
    apply_dir(x, kd, key, val);
    x->c->state_dir_set = true;
}

static void apply_receive(struct ctx *x, const struct keydef *kd,
                          const struct node *key, const struct node *val)
{
    apply_bool(x, kd, key, val);
    x->c->tlsrpt_receive_set = true;
}

/* apply_checked_string sets a string field after check (min = 1: null
 * leaves it NULL). */
static void apply_checked_string(struct ctx *x, const struct keydef *kd,
                                 const struct node *key, const struct node *val,
                                 int (*check)(const char *, char *, size_t))
{
    char err[256];
    if (kd->min == 1 && node_is_null(val)) {
        replace_string(x, string_field(x, kd), NULL);
        return;
    }
    const char *s = scalar_text(x, kd, key, val);
    if (s == NULL)
        return;
    if (check(s, err, sizeof(err)) < 0) {
        err_at(x, &val->mark, "%s: %s", kd->path, err);
        return;
    }
    replace_string(x, string_field(x, kd), s);
}

static void apply_tlsrpt_path(struct ctx *x, const struct keydef *kd,
                              const struct node *key, const struct node *val)
{
    apply_checked_string(x, kd, key, val, config_check_tlsrpt_path);
}

static void apply_instance(struct ctx *x, const struct keydef *kd,
                           const struct node *key, const struct node *val)
{
    apply_checked_string(x, kd, key, val, config_check_instance);
}

int config_parse_duration(const char *s, unsigned long max, unsigned long *out,
                          char *err, size_t errlen)
{
    static const char units[] = "dhms";
    static const unsigned long scale[] = {86400, 3600, 60, 1};
    unsigned long total = 0;
    size_t next_unit = 0; /* units go from the largest down, once each */
    const char *p = s;
    if (*p == '\0')
        goto bad;
    while (*p != '\0') {
        if (*p < '0' || *p > '9')
            goto bad;
        unsigned long v = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (v > max)
                goto range; /* and stop before it can wrap */
            v = v * 10 + (unsigned long)(*p - '0');
        }
        const char *u = *p != '\0' ? strchr(units, *p) : NULL;
        if (u == NULL || (size_t)(u - units) < next_unit)
            goto bad;
        next_unit = (size_t)(u - units) + 1;
        p++;
        if (v > max / scale[next_unit - 1])
            goto range;
        total += v * scale[next_unit - 1];
        if (total > max)
            goto range;
    }
    *out = total;
    return 0;
bad:
    diag_fit(err, errlen,
             "expected a duration such as 90s, 30m, 6h, 1d or 1h30m, found "
             "\"%.64s\"",
             s);
    return -1;
range:
    diag_fit(err, errlen, "\"%.64s\" is longer than the limit of %lu seconds",
             s, max);
    return -1;
}

/* apply_duration sets an unsigned field to a duration in kd->min..max
 * seconds; for check.interval, "off" (or null) stores 0. */
static void apply_duration(struct ctx *x, const struct keydef *kd,
                           const struct node *key, const struct node *val)
{
    char err[256];
    unsigned long v;
    unsigned *field = (unsigned *)(void *)((char *)x->c + kd->off);
    bool off_allowed = kd->off == offsetof(struct config, check_interval);
    if (off_allowed && (node_is_null(val) || (val->kind == N_SCALAR &&
                                              strcmp(val->str, "off") == 0))) {
        *field = 0;
        return;
    }
    const char *s = scalar_text(x, kd, key, val);
    if (s == NULL)
        return;
    if (config_parse_duration(s, kd->max, &v, err, sizeof(err)) < 0) {
        err_at(x, &val->mark, "%s: %s%s", kd->path, err,
               off_allowed ? " (or off)" : "");
        return;
    }
    if (v < kd->min) {
        err_at(x, &val->mark, "%s: %s is shorter than the minimum of %lus",
               kd->path, s, kd->min);
        return;
    }
    *field = (unsigned)v;
}

static int check_resolver(const char *s, char *err, size_t errlen)
{
    char fwd[128];
    return check_resolver_addr(s, fwd, sizeof(fwd), err, errlen);
}

static void apply_resolver(struct ctx *x, const struct keydef *kd,
                           const struct node *key, const struct node *val)
{
    apply_checked_string(x, kd, key, val, check_resolver);
}

/* apply_path sets a string field to a non-empty path (null: unset). */
static void apply_path(struct ctx *x, const struct keydef *kd,
                       const struct node *key, const struct node *val)
{
    if (node_is_null(val)) {
        replace_string(x, string_field(x, kd), NULL);
        return;
    }
    apply_dir(x, kd, key, val);
}

static void apply_section(struct ctx *x, const struct keydef *kd,
                          const struct node *key, const struct node *val);

static void apply_acme(struct ctx *x, const struct keydef *kd,
                       const struct node *key, const struct node *val)
{
    /* `acme:` alone means ACME with every default, and then the missing
     * agree_tos is what the operator is told about. */
    x->c->acme = true;
    x->acme_key = key;
    apply_section(x, kd, key, val);
}

static void apply_acme_directory(struct ctx *x, const struct keydef *kd,
                                 const struct node *key, const struct node *val)
{
    apply_checked_string(x, kd, key, val, config_check_acme_directory);
}

static void apply_acme_email(struct ctx *x, const struct keydef *kd,
                             const struct node *key, const struct node *val)
{
    apply_checked_string(x, kd, key, val, config_check_acme_email);
}

static void apply_agree_tos(struct ctx *x, const struct keydef *kd,
                            const struct node *key, const struct node *val)
{
    apply_bool(x, kd, key, val);
    x->agree_tos_val = val;
}

static void apply_acme_challenges(struct ctx *x, const struct keydef *kd,
                                  const struct node *key,
                                  const struct node *val)
{
    enum config_acme_challenge got[CONFIG_ACME_N_CHALLENGES];
    size_t n = 0;
    char err[256], found[256];
    if (val->kind != N_SEQ) {
        type_error(x, kd, key, val);
        return;
    }
    if (val->n == 0) {
        err_at(x, &val->mark,
               "%s: list at least one challenge type (tls-alpn-01, "
               "http-01)",
               kd->path);
        return;
    }
    for (size_t i = 0; i < val->n; i++) {
        const struct node *it = val->kids[i];
        enum config_acme_challenge t;
        if (it->kind == N_BAD)
            return;
        if (it->kind != N_SCALAR || node_is_null(it)) {
            err_at(x, &it->mark, "%s: each entry must be %s, found %s",
                   kd->path, "tls-alpn-01 or http-01",
                   describe(it, found, sizeof(found)));
            return;
        }
        if (acme_challenge_of(it->str, it->len, &t, err, sizeof(err)) < 0) {
            err_at(x, &it->mark, "%s: %s", kd->path, err);
            return;
        }
        for (size_t j = 0; j < n; j++)
            if (got[j] == t) {
                unsigned line = 0, col = 0;
                first_pos(x, &val->kids[j]->mark, &line, &col);
                err_at(x, &it->mark,
                       "%s: duplicate challenge \"%s\" (first listed at "
                       "%u:%u)",
                       kd->path, acme_challenge_names[t], line, col);
                return;
            }
        got[n++] = t;
    }
    memcpy(x->c->acme_challenges, got, n * sizeof(got[0]));
    x->c->n_acme_challenges = n;
    x->challenges_val = val;
}

static void apply_acme_key(struct ctx *x, const struct keydef *kd,
                           const struct node *key, const struct node *val)
{
    int i = parse_choice(x, kd, key, val, acme_key_names, 3);
    if (i >= 0)
        x->c->acme_key_type = (enum config_acme_key)i;
}

static void apply_eab(struct ctx *x, const struct keydef *kd,
                      const struct node *key, const struct node *val)
{
    x->eab_key = key;
    apply_section(x, kd, key, val);
}

static int check_eab_kid(const char *s, char *err, size_t errlen)
{
    char ch[8];
    long bad = first_invisible(s);
    if (s[0] == '\0' || bad >= 0) {
        diag_fit(err, errlen,
                 "expected the key identifier the CA gave you (visible ASCII), "
                 "found %s",
                 s[0] == '\0'
                     ? "an empty string"
                     : show_char((unsigned char)s[bad], ch, sizeof(ch)));
        return -1;
    }
    return 0;
}

static int check_eab_hmac(const char *s, char *err, size_t errlen)
{
    size_t len = strlen(s), n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "abcdefghijklmnopqrstuvwxyz"
                                          "0123456789-_");
    /* RFC 8555 §7.3.4: the CA hands the key out base64url-encoded; padding
     * is tolerated because some CAs' pages show it. */
    while (n < len && s[n] == '=' && len - n <= 2 && s[len - 1] == '=')
        n = len;
    if (len == 0 || n != len) {
        diag_fit(err, errlen,
                 "expected the base64url key the CA gave you (letters, digits, "
                 "'-' and '_'), found %s at position %zu",
                 len == 0 ? "nothing" : "another character", n + 1);
        return -1;
    }
    return 0;
}

static void apply_eab_kid(struct ctx *x, const struct keydef *kd,
                          const struct node *key, const struct node *val)
{
    apply_checked_string(x, kd, key, val, check_eab_kid);
}

static void apply_eab_hmac(struct ctx *x, const struct keydef *kd,
                           const struct node *key, const struct node *val)
{
    apply_checked_string(x, kd, key, val, check_eab_hmac);
}

/* ---- the schema -------------------------------------------------------- */

#define OFF(f) offsetof(struct config, f)
#define LISTEN_EXPECT "an address such as \"[::]:8443\" or \"0.0.0.0:8443\""

/* For listen keys, min = 1 marks "null or empty disables", max = slot. */
static const struct keydef listen_keys[] = {
    {"https", "listen.https", apply_listen, LISTEN_EXPECT, OFF(https_listen), 0,
     0, NULL, 0},
    {"http", "listen.http", apply_listen, LISTEN_EXPECT " (or null)",
     OFF(http_listen), 1, 1, NULL, 0},
    {"metrics", "listen.metrics", apply_listen, LISTEN_EXPECT " (or null)",
     OFF(metrics_listen), 1, 2, NULL, 0},
};

static const struct keydef tlsrpt_keys[] = {
    {"rua", "tlsrpt.rua", apply_rua, "a sequence of mailto: or https: URIs", 0,
     0, 0, NULL, 0},
    {"receive", "tlsrpt.receive", apply_receive, "true or false",
     OFF(tlsrpt_receive), 0, 0, NULL, 0},
    {"path", "tlsrpt.path", apply_tlsrpt_path, "a path such as /tlsrpt",
     OFF(tlsrpt_path), 0, 0, NULL, 0},
    {"max_body", "tlsrpt.max_body", apply_size, "a number of bytes",
     OFF(tlsrpt_max_body), 1024, 1073741824, NULL, 0},
    {"retention_days", "tlsrpt.retention_days", apply_uint, "a number of days",
     OFF(tlsrpt_retention_days), 1, 36500, NULL, 0},
    {"rate_limit", "tlsrpt.rate_limit", apply_uint,
     "reports per minute and client address", OFF(tlsrpt_rate_limit), 0,
     1000000, NULL, 0},
    {"max_disk", "tlsrpt.max_disk", apply_size, "a number of bytes",
     OFF(tlsrpt_max_disk), 1048576, 1099511627776UL, NULL, 0},
    {"instance", "tlsrpt.instance", apply_instance,
     "letters, digits, '.', '_' or '-' (or null)", OFF(tlsrpt_instance), 1, 0,
     NULL, 0},
};

/* min = 1 on a string key: null leaves it unset. */
static const struct keydef eab_keys[] = {
    {"kid", "acme.eab.kid", apply_eab_kid, "the CA's key identifier (or null)",
     OFF(acme_eab_kid), 1, 0, NULL, 0},
    {"hmac_key", "acme.eab.hmac_key", apply_eab_hmac,
     "the CA's base64url HMAC key (or null)", OFF(acme_eab_hmac_key), 1, 0,
     NULL, 0},
};

static const struct keydef acme_keys[] = {
    {"directory", "acme.directory", apply_acme_directory,
     "an https:// URL of an ACME directory", OFF(acme_directory), 0, 0, NULL,
     0},
    {"email", "acme.email", apply_acme_email, "an e-mail address (or null)",
     OFF(acme_email), 1, 0, NULL, 0},
    {"agree_tos", "acme.agree_tos", apply_agree_tos, "true or false",
     OFF(acme_agree_tos), 0, 0, NULL, 0},
    {"challenges", "acme.challenges", apply_acme_challenges,
     "a sequence of tls-alpn-01 and http-01", 0, 0, 0, NULL, 0},
    {"key_type", "acme.key_type", apply_acme_key,
     "ecdsa-p256, rsa-2048 or both", 0, 0, 0, NULL, 0},
    {"ca_file", "acme.ca_file", apply_path, "a file path (or null)",
     OFF(acme_ca_file), 0, 0, NULL, 0},
    {"eab", "acme.eab", apply_eab, "a mapping {kid, hmac_key}", 0, 0, 0,
     eab_keys, sizeof(eab_keys) / sizeof(eab_keys[0])},
    {"resolver", "acme.resolver", apply_resolver,
     "ADDR or ADDR:PORT of a DNS server (or null)", OFF(acme_resolver), 1, 0,
     NULL, 0},
    {"orders_burst", "acme.orders_burst", apply_uint, "a number of orders",
     OFF(acme_orders_burst), 1, 10000, NULL, 0},
    {"orders_per_hour", "acme.orders_per_hour", apply_uint,
     "a number of orders", OFF(acme_orders_per_hour), 1, 10000, NULL, 0},
};

/* For durations, min and max are the limits in seconds. */
static const struct keydef check_keys[] = {
    {"interval", "check.interval", apply_duration,
     "a duration such as 6h (at least 1m), or off", OFF(check_interval),
     CONFIG_CHECK_INTERVAL_MIN, 30 * 86400, NULL, 0},
    {"timeout", "check.timeout", apply_duration,
     "a duration such as 2m (10s to 1h)", OFF(check_timeout), 10, 3600, NULL,
     0},
    {"concurrency", "check.concurrency", apply_uint, "a number",
     OFF(check_concurrency), 1, 64, NULL, 0},
    {"resolver", "check.resolver", apply_resolver,
     "an address such as 127.0.0.1 or [::1]:5353 (or null)",
     OFF(check_resolver), 1, 0, NULL, 0},
    {"trust_anchor", "check.trust_anchor", apply_path,
     "a file of DS or DNSKEY records, or none", OFF(check_trust_anchor), 0, 0,
     NULL, 0},
    {"ca_file", "check.ca_file", apply_path, "a PEM file of CA certificates",
     OFF(check_ca_file), 0, 0, NULL, 0},
    {"https_port", "check.https_port", apply_uint, "a port number",
     OFF(check_https_port), 1, 65535, NULL, 0},
    {"smtp_port", "check.smtp_port", apply_uint, "a port number, 0: no probe",
     OFF(check_smtp_port), 0, 65535, NULL, 0},
};

static const struct keydef log_keys[] = {
    {"format", "log.format", apply_log_format, "text or json", 0, 0, 0, NULL,
     0},
    {"level", "log.level", apply_log_level, "error, warn, info or debug", 0, 0,
     0, NULL, 0},
    {"access", "log.access", apply_bool, "true or false", OFF(access_log), 0, 0,
     NULL, 0},
};

static const struct keydef limits_keys[] = {
    {"max_connections", "limits.max_connections", apply_uint, "a number",
     OFF(max_connections), 1, 100000, NULL, 0},
    {"max_connections_per_ip", "limits.max_connections_per_ip", apply_uint,
     "a number", OFF(max_connections_per_ip), 1, 100000, NULL, 0},
    {"connection_timeout", "limits.connection_timeout", apply_uint,
     "a number of seconds", OFF(connection_timeout), 1, 3600, NULL, 0},
    {"request_timeout", "limits.request_timeout", apply_uint,
     "a number of seconds", OFF(request_timeout), 1, 3600, NULL, 0},
    {"connection_memory_limit", "limits.connection_memory_limit", apply_size,
     "a number of bytes", OFF(connection_memory_limit), 4096, 1048576, NULL, 0},
    {"threads", "limits.threads", apply_uint, "a number", OFF(threads), 0, 256,
     NULL, 0},
};

static const struct keydef reload_keys[] = {
    {"debounce_ms", "reload.debounce_ms", apply_uint, "milliseconds",
     OFF(reload_debounce_ms), 0, 10000, NULL, 0},
    {"poll_interval_ms", "reload.poll_interval_ms", apply_uint, "milliseconds",
     OFF(poll_interval_ms), 100, 3600000, NULL, 0},
    {"force_poll", "reload.force_poll", apply_bool, "true or false",
     OFF(force_poll), 0, 0, NULL, 0},
};

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static const struct keydef top_keys[] = {
    {"domains", "domains", apply_domains, "a sequence of domain names", 0, 0, 0,
     NULL, 0},
    {"policy_dir", "policy_dir", apply_dir, "a directory path", OFF(policy_dir),
     0, 0, NULL, 0},
    {"cert_dir", "cert_dir", apply_dir, "a directory path", OFF(cert_dir), 0, 0,
     NULL, 0},
    {"state_dir", "state_dir", apply_state_dir, "a directory path",
     OFF(state_dir), 0, 0, NULL, 0},
    {"listen", "listen", apply_section, "a mapping", 0, 0, 0, listen_keys,
     NKEYS(listen_keys)},
    {"tlsrpt", "tlsrpt", apply_section, "a mapping", 0, 0, 0, tlsrpt_keys,
     NKEYS(tlsrpt_keys)},
    {"log", "log", apply_section, "a mapping", 0, 0, 0, log_keys,
     NKEYS(log_keys)},
    {"check", "check", apply_section, "a mapping", 0, 0, 0, check_keys,
     NKEYS(check_keys)},
    {"limits", "limits", apply_section, "a mapping", 0, 0, 0, limits_keys,
     NKEYS(limits_keys)},
    {"acme", "acme", apply_acme, "a mapping", 0, 0, 0, acme_keys,
     NKEYS(acme_keys)},
    {"reload", "reload", apply_section, "a mapping", 0, 0, 0, reload_keys,
     NKEYS(reload_keys)},
    {"user", "user", apply_user, "a user name", OFF(user), 0, 0, NULL, 0},
    {"allow_root", "allow_root", apply_bool, "true or false", OFF(allow_root),
     0, 0, NULL, 0},
};

static const struct keydef root_def = {
    "", "the top level", apply_section,  "a mapping", 0, 0,
    0,  top_keys,        NKEYS(top_keys)};

/* elsewhere finds a key of that exact name in another section, for "it
 * belongs under ..." hints. */
static const struct keydef *elsewhere(const char *s, size_t len,
                                      const struct keydef *here)
{
    const struct keydef *lists[1 + NKEYS(top_keys)];
    size_t nl = 0;
    lists[nl++] = &root_def;
    for (size_t i = 0; i < NKEYS(top_keys); i++)
        if (top_keys[i].sub != NULL)
            lists[nl++] = &top_keys[i];
    for (size_t l = 0; l < nl; l++) {
        if (lists[l] == here)
            continue;
        for (size_t i = 0; i < lists[l]->n_sub; i++) {
            const struct keydef *k = &lists[l]->sub[i];
            if (strlen(k->name) == len && memcmp(k->name, s, len) == 0)
                return k;
        }
    }
    return NULL;
}

static void unknown_key(struct ctx *x, const struct keydef *sec,
                        const struct node *key)
{
    char q[200], list[200], where[64];
    const char *names[CONFIG_MAX_KEYS];
    size_t n = sec->n_sub, o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && i < CONFIG_MAX_KEYS; i++) {
        names[i] = sec->sub[i].name;
        int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                         names[i]);
        if (w > 0 && (size_t)w < sizeof(list) - o)
            o += (size_t)w;
    }
    if (sec == &root_def)
        snprintf(where, sizeof(where), "at the top level");
    else
        snprintf(where, sizeof(where), "under \"%s\"", sec->name);
    diag_quote(key->str, key->len, q, sizeof(q));
    const char *hint = closest(key->str, key->len, names, n);
    const struct keydef *other = elsewhere(key->str, key->len, sec);
    if (hint != NULL) {
        err_at(x, &key->mark, "unknown key \"%s\" %s; did you mean \"%s\"?", q,
               where, hint);
    } else if (other != NULL && strchr(other->path, '.') != NULL) {
        int sl = (int)(strchr(other->path, '.') - other->path);
        err_at(x, &key->mark,
               "unknown key \"%s\" %s; it belongs under \"%.*s:\" (%s)", q,
               where, sl, other->path, other->path);
    } else if (other != NULL) {
        err_at(x, &key->mark,
               "unknown key \"%s\" %s; it belongs at the top level", q, where);
    } else {
        err_at(x, &key->mark, "unknown key \"%s\" %s; expected one of: %s", q,
               where, list);
    }
}

static void apply_section(struct ctx *x, const struct keydef *kd,
                          const struct node *key, const struct node *val)
{
    const struct node *seen[CONFIG_MAX_KEYS] = {0};
    char q[200];
    /* A section whose entries are all commented out reads as null. */
    if (node_is_null(val))
        return;
    if (val->kind != N_MAP) {
        type_error(x, kd, key, val);
        return;
    }
    for (size_t i = 0; i + 1 < val->n; i += 2) {
        const struct node *k = val->kids[i], *v = val->kids[i + 1];
        if (k->kind == N_BAD)
            continue;
        if (k->kind != N_SCALAR || node_is_null(k)) {
            char found[256];
            err_at(x, &k->mark, "%s%s: keys must be plain names, found %s",
                   kd == &root_def ? "" : kd->path,
                   kd == &root_def ? "top level" : "",
                   describe(k, found, sizeof(found)));
            continue;
        }
        size_t j;
        for (j = 0; j < kd->n_sub; j++)
            if (strlen(kd->sub[j].name) == k->len &&
                memcmp(kd->sub[j].name, k->str, k->len) == 0)
                break;
        if (j == kd->n_sub) {
            unknown_key(x, kd, k);
            continue;
        }
        if (seen[j] != NULL) {
            unsigned line = 0, col = 0;
            first_pos(x, &seen[j]->mark, &line, &col);
            err_at(x, &k->mark, "duplicate key \"%s\" (first at %u:%u)",
                   diag_quote(k->str, k->len, q, sizeof(q)), line, col);
            continue;
        }
        seen[j] = k;
        if (v->kind == N_BAD)
            continue;
        kd->sub[j].apply(x, &kd->sub[j], k, v);
    }
}

/* ---- cross-key checks -------------------------------------------------- */

static int listen_key(const char *addr, unsigned char out[18])
{
    char host[INET6_ADDRSTRLEN + 1];
    unsigned short port;
    memset(out, 0, 18);
    if (config_split_listen(addr, host, sizeof(host), &port, NULL, 0) < 0)
        return -1;
    if (inet_pton(AF_INET6, host, out) != 1) {
        /* IPv4 as a v4-mapped address, so both families compare alike. */
        out[10] = 0xff;
        out[11] = 0xff;
        if (inet_pton(AF_INET, host, out + 12) != 1)
            return -1;
    }
    out[16] = (unsigned char)(port >> 8);
    out[17] = (unsigned char)(port & 0xff);
    return 0;
}

/*
 * listen_overlap says whether two listen keys (listen_key) would fight over
 * one socket: the same address and port, or the IPv6 wildcard, which the
 * http module binds dual-stack, and any IPv4 address on the same port.
 */
static bool listen_overlap(const unsigned char a[18], const unsigned char b[18])
{
    static const unsigned char any6[16] = {0};
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0,    0,
                                               0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a + 16, b + 16, 2) != 0)
        return false;
    if (memcmp(a, b, 16) == 0)
        return true;
    return (memcmp(a, any6, 16) == 0 && memcmp(b, v4mapped, 12) == 0) ||
           (memcmp(b, any6, 16) == 0 && memcmp(a, v4mapped, 12) == 0);
}

/* listens_clash tells whether two listen addresses would share a socket
 * (a NULL one is no listener). */
static bool listens_clash(const char *x, const char *y)
{
    unsigned char a[18], b[18];
    return x != NULL && y != NULL && listen_key(x, a) == 0 &&
           listen_key(y, b) == 0 && listen_overlap(a, b);
}

static void cross_checks(struct ctx *x)
{
    struct config *c = x->c;
    char err[256];
    int acme = acme_problem(c, err, sizeof(err));
    if (acme != 0) {
        const struct node *at =
            acme == 't' && x->agree_tos_val != NULL    ? x->agree_tos_val
            : acme == 'e'                              ? x->eab_key
            : acme == 'c' && x->challenges_val != NULL ? x->challenges_val
                                                       : x->acme_key;
        err_at(x, at != NULL ? &at->mark : NULL, "%s", err);
    }
    const char *names[3] = {"listen.https", "listen.http", "listen.metrics"};
    const char *addrs[3] = {c->https_listen, c->http_listen, c->metrics_listen};

    if (c->max_connections_per_ip > c->max_connections) {
        if (x->per_ip_val != NULL)
            err_at(x, &x->per_ip_val->mark,
                   "limits.max_connections_per_ip: %u exceeds "
                   "limits.max_connections (%u)",
                   c->max_connections_per_ip, c->max_connections);
        else
            c->max_connections_per_ip = c->max_connections;
    }
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < i; j++) {
            if (!listens_clash(addrs[i], addrs[j]))
                continue;
            const struct node *at =
                x->listen_val[i] != NULL ? x->listen_val[i] : x->listen_val[j];
            err_at(x, at != NULL ? &at->mark : NULL,
                   "%s (%s) and %s (%s) would share one socket; give them "
                   "different ports",
                   names[j], addrs[j], names[i], addrs[i]);
        }
    }
}

int config_check_listen(const struct config *c, char *err, size_t errlen)
{
    static const char *const names[3] = {"listen.https (--https)",
                                         "listen.http (--http)",
                                         "listen.metrics (--metrics)"};
    const char *addrs[3] = {c->https_listen, c->http_listen, c->metrics_listen};
    char why[256];
    unsigned short port;
    for (size_t i = 0; i < 3; i++) {
        if (addrs[i] == NULL)
            continue;
        if (config_split_listen(addrs[i], NULL, 0, &port, why, sizeof(why)) <
            0) {
            diag_fit(err, errlen, "%s: %s", names[i], why);
            return -1;
        }
        for (size_t j = 0; j != i; j++) {
            if (!listens_clash(addrs[i], addrs[j]))
                continue;
            diag_fit(err, errlen,
                     "%s %s and %s %s would share one socket; give them "
                     "different ports",
                     names[j], addrs[j], names[i], addrs[i]);
            return -1;
        }
    }
    return 0;
}

/* ---- public API -------------------------------------------------------- */

struct config *config_new_default(void)
{
    struct config *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->policy_dir = strdup(DEFAULT_POLICY_DIR);
    c->cert_dir = strdup(DEFAULT_CERT_DIR);
    c->https_listen = strdup(DEFAULT_HTTPS_LISTEN);
    c->http_listen = strdup(DEFAULT_HTTP_LISTEN);
    c->log_format = LOG_FORMAT_TEXT;
    c->log_level = LOG_LEVEL_INFO;
    c->access_log = true;
    c->max_connections = 1024;
    c->max_connections_per_ip = 64;
    c->connection_timeout = 10;
    c->request_timeout = 10;
    c->connection_memory_limit = 32768;
    c->threads = 0;
    c->reload_debounce_ms = 200;
    c->poll_interval_ms = 2000;
    c->force_poll = false;
    c->state_dir = strdup(DEFAULT_STATE_DIR);
    c->tlsrpt_receive = false;
    c->tlsrpt_path = strdup(DEFAULT_TLSRPT_PATH);
    c->tlsrpt_max_body = 10u * 1024 * 1024;
    c->tlsrpt_retention_days = 400;
    c->tlsrpt_rate_limit = 60;
    c->tlsrpt_max_disk = (size_t)1 << 30;
    c->acme_directory = strdup(DEFAULT_ACME_DIRECTORY);
    c->acme_challenges[0] = CONFIG_ACME_TLS_ALPN_01;
    c->acme_challenges[1] = CONFIG_ACME_HTTP_01;
    c->n_acme_challenges = 2;
    c->acme_key_type = CONFIG_ACME_KEY_ECDSA_P256;
    c->acme_orders_burst = 10;
    c->acme_orders_per_hour = 20;
    c->check_interval = 0;
    c->check_timeout = 120;
    c->check_concurrency = 4;
    c->check_https_port = 443;
    c->check_smtp_port = 25;
    if (c->policy_dir == NULL || c->cert_dir == NULL ||
        c->https_listen == NULL || c->http_listen == NULL ||
        c->state_dir == NULL || c->tlsrpt_path == NULL ||
        c->acme_directory == NULL) {
        config_free(c);
        return NULL;
    }
    return c;
}

void config_free(struct config *c)
{
    if (c == NULL)
        return;
    free_list(c->domains, c->n_domains);
    free(c->policy_dir);
    free(c->cert_dir);
    free(c->https_listen);
    free(c->http_listen);
    free(c->metrics_listen);
    free(c->user);
    free_list(c->tlsrpt_rua, c->n_tlsrpt_rua);
    free(c->state_dir);
    free(c->tlsrpt_path);
    free(c->tlsrpt_instance);
    free(c->acme_directory);
    free(c->acme_email);
    free(c->acme_ca_file);
    free(c->acme_eab_kid);
    free(c->acme_eab_hmac_key);
    free(c->acme_resolver);
    free(c->check_resolver);
    free(c->check_trust_anchor);
    free(c->check_ca_file);
    free(c);
}

/* read_document reads the one document into *root (NULL = no document).
 * Returns -1 when the stream is unusable (already reported). */
static int read_document(struct ctx *x, yaml_parser_t *p, struct node **root)
{
    yaml_event_t ev;
    int rc = -1;
    *root = NULL;
    memset(&ev, 0, sizeof(ev));
    if (next_event(x, p, &ev) < 0)
        goto out;
    if (ev.type != YAML_STREAM_START_EVENT) {
        err_at(x, &ev.start_mark, "unexpected start of the YAML stream");
        goto out;
    }
    yaml_event_delete(&ev);
    if (next_event(x, p, &ev) < 0)
        goto out;
    if (ev.type == YAML_STREAM_END_EVENT) {
        rc = 0; /* nothing but comments and blank lines */
        goto out;
    }
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        err_at(x, &ev.start_mark, "unexpected YAML event at document start");
        goto out;
    }
    yaml_event_delete(&ev);
    if (next_event(x, p, &ev) < 0)
        goto out;
    *root = build(x, p, &ev, 0);
    if (*root == NULL)
        goto out;
    if (next_event(x, p, &ev) < 0)
        goto out;
    if (ev.type != YAML_DOCUMENT_END_EVENT) {
        err_at(x, &ev.start_mark, "unexpected YAML event at document end");
        goto out;
    }
    yaml_event_delete(&ev);
    if (next_event(x, p, &ev) < 0)
        goto out;
    if (ev.type == YAML_DOCUMENT_START_EVENT) {
        err_at(x, &ev.start_mark,
               "a second YAML document; the configuration must be a single "
               "document (remove the extra \"---\")");
        goto out;
    }
    rc = 0;
out:
    yaml_event_delete(&ev);
    return rc;
}

struct config *config_parse(const char *buf, size_t len, struct diag *d)
{
    struct ctx x;
    yaml_parser_t p;
    bool p_init = false;
    struct node *root = NULL;
    struct config *ret = NULL;

    memset(&x, 0, sizeof(x));
    x.d = d;
    if (buf == NULL)
        len = 0;
    x.buf = buf != NULL ? buf : "";
    x.len = len;
    if (len > CONFIG_MAX_BYTES) {
        err_at(&x, NULL, "the configuration is %zu bytes; the limit is %u", len,
               CONFIG_MAX_BYTES);
        goto out;
    }
    /* libyaml detects UTF-16 by its BOM; only UTF-8 maps to byte columns. */
    x.utf8 = !(
        len >= 2 &&
        (((unsigned char)x.buf[0] == 0xff && (unsigned char)x.buf[1] == 0xfe) ||
         ((unsigned char)x.buf[0] == 0xfe && (unsigned char)x.buf[1] == 0xff)));
    if (len >= 3 && memcmp(x.buf, "\xef\xbb\xbf", 3) == 0)
        x.base = 3;
    x.cur_byte = x.base;
    x.c = config_new_default();
    if (x.c == NULL) {
        oom(&x);
        goto out;
    }
    if (!yaml_parser_initialize(&p)) {
        oom(&x);
        goto out;
    }
    p_init = true;
    yaml_parser_set_input_string(&p, (const unsigned char *)x.buf, len);
    if (read_document(&x, &p, &root) < 0 || x.errors > 0)
        goto out;
    if (root != NULL && !node_is_null(root)) {
        if (root->kind != N_MAP) {
            char found[256];
            err_at(&x, &root->mark,
                   "expected a mapping of settings at the top level, found "
                   "%s",
                   describe(root, found, sizeof(found)));
            goto out;
        }
        apply_section(&x, &root_def, NULL, root);
    }
    /* Reports are received where the operator named a state directory,
     * or where they asked for it; a host never starts writing to a
     * default directory on its own. */
    if (!x.c->tlsrpt_receive_set)
        x.c->tlsrpt_receive = x.c->state_dir_set;
    cross_checks(&x);
    if (x.errors > 0)
        goto out;
    ret = x.c;
    x.c = NULL;
out:
    if (p_init)
        yaml_parser_delete(&p);
    node_free(root);
    config_free(x.c);
    return ret;
}
