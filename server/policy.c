/*
 * policy: parser and validator for MTA-STS policy files (RFC 8461 §3.2).
 * It takes the bytes of a policy file and returns either a validated policy
 * with the exact bytes to serve and their id, or NULL with every problem it
 * found in a struct diag (line, byte column, what was expected, what was
 * found), plus lint warnings for policies that are valid but risky. It does
 * no I/O, no logging and keeps no globals, so any thread may call it and the
 * fuzzer can drive it directly.
 *
 * The grammar implemented is RFC 8461 §3.2:
 *
 *   sts-policy-record    = sts-policy-field *WSP
 *                          *(sts-policy-term sts-policy-field *WSP)
 *                          [sts-policy-term]
 *   sts-policy-term      = LF / CRLF
 *   sts-policy-field-delim = ":" *WSP
 *   sts-policy-version-value = %s"STSv1"
 *   sts-policy-mode-value = %s"testing" / %s"enforce" / %s"none"
 *   sts-policy-mx-value  = ["*."] Domain                    ; RFC 5321
 *   sts-policy-max-age-value = 1*10(DIGIT)
 *   sts-policy-ext-name  = (ALPHA / DIGIT)
 *                          *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   sts-policy-ext-value = sts-policy-vchar
 *                          [*(%x20 / sts-policy-vchar) sts-policy-vchar]
 *   sts-policy-vchar     = VCHAR / UTF8-2 / UTF8-3 / UTF8-4
 *
 * So there is no leading whitespace, no whitespace before ':', WSP (SP or
 * HTAB) only after ':' and at the end of a line, no empty lines (a record
 * is one or more fields), and non-ASCII only inside extension values.
 */
#include "policy.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dnsname.h"

enum field { F_VERSION, F_MODE, F_MAX_AGE, F_MX, F_EXT };
#define N_KNOWN 4

static const char *const known_names[N_KNOWN] = {"version", "mode", "max_age",
                                                 "mx"};

#define EXT_NAME_MAX 32 /* sts-policy-ext-name: 1 + *31 */
#define MAX_AGE_DIGITS 10
#define QUOTE_BUF 192 /* enough for diag_quote's 40-byte cut, escaped */

/* The first occurrence of version, mode or max_age, for duplicate checks. */
struct first_seen {
    unsigned line;
    unsigned col; /* column of the value */
    const char *val;
    size_t len;
    bool valid;
};

/* A field name that looks like a misspelt known one (case or typo). */
struct near_miss {
    unsigned line;
    bool case_only;
    char name[EXT_NAME_MAX + 1];
};

struct mx_ent {
    char *name;
    unsigned line, col;
};

struct pctx {
    struct diag *d;
    struct first_seen first[3]; /* F_VERSION, F_MODE, F_MAX_AGE */
    bool present[N_KNOWN];      /* field name seen, value valid or not */
    struct near_miss near[N_KNOWN];
    struct mx_ent *mx;
    size_t n_mx, cap_mx;
    enum policy_mode mode;
    unsigned long max_age;
    bool oom;
    struct buf served;
    size_t served_len; /* counted separately so the cap can be reported */
    bool non_ascii;
    /* A field line with a name of its own came before 'version' (lines
     * refused at their first byte do not count: they have one error). */
    bool field_before_version;
};

static void perr(struct pctx *c, unsigned line, unsigned col, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void pwarn(struct pctx *c, unsigned line, unsigned col, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

static void perr(struct pctx *c, unsigned line, unsigned col, const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c->d, DIAG_ERROR, line, col, fmt, ap);
    va_end(ap);
}

static void pwarn(struct pctx *c, unsigned line, unsigned col, const char *fmt,
                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c->d, DIAG_WARNING, line, col, fmt, ap);
    va_end(ap);
}

static bool is_wsp(unsigned char ch)
{
    return ch == ' ' || ch == '\t';
}

static bool is_alpha(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_alnum(unsigned char ch)
{
    return is_alpha(ch) || is_digit(ch);
}

static bool is_name_char(unsigned char ch)
{
    return is_alnum(ch) || ch == '_' || ch == '-' || ch == '.';
}

static unsigned char lower(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + 32) : ch;
}

/* Columns are unsigned in struct diag; inputs are capped at 64 KiB, so a
 * byte offset always fits, but say so in one place. */
static unsigned colof(size_t off)
{
    return (unsigned)(off + 1);
}

/*
 * utf8_seq returns the length of the well-formed UTF-8 sequence (RFC 3629
 * §4: UTF8-2 / UTF8-3 / UTF8-4) at s, or 0 if there is none: a stray
 * continuation byte, an overlong form, a surrogate, a code point above
 * U+10FFFF, or a sequence cut short.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char b0 = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3;
        if (b0 == 0xe0)
            lo = 0xa0; /* overlong */
        else if (b0 == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4;
        if (b0 == 0xf0)
            lo = 0x90; /* overlong */
        else if (b0 == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* byte_note explains a byte that has no visible form in a quoted message. */
static const char *byte_note(unsigned char ch)
{
    if (ch == '\0')
        return " (NUL)";
    if (ch == '\r')
        return " (a carriage return not followed by a line feed; lines "
               "end in LF or CRLF)";
    if (ch == '\t')
        return " (a tab)";
    if (ch == ' ')
        return " (a space)";
    if (ch == 0x7f)
        return " (DEL, a control character)";
    if (ch < 0x20)
        return " (a control character)";
    if (ch >= 0x80)
        return " (non-ASCII)";
    return "";
}

/*
 * found_at renders the byte (or the whole UTF-8 character) at s for a
 * message, quoted and explained, e.g. "'\x00' (NUL)".
 */
static const char *found_at(const char *s, size_t avail, char *out,
                            size_t outlen)
{
    char q[32]; /* at most 4 bytes, each escaped to 4 characters */
    size_t k = 1;
    unsigned char ch = (unsigned char)s[0];
    if (ch >= 0x80) {
        size_t u = utf8_seq((const unsigned char *)s, avail);
        if (u > 0)
            k = u;
    }
    diag_quote(s, k, q, sizeof(q));
    snprintf(out, outlen, "'%s'%s", q, byte_note(ch));
    return out;
}

/* quote renders a whole value for a message (cut past diag_quote's limit). */
static const char *quote(const char *s, size_t n, char *out, size_t outlen)
{
    return diag_quote(s, n, out, outlen);
}

/*
 * near_known returns the known field an unknown name probably meant, or -1.
 * A case-insensitive match always counts (field names are case-sensitive,
 * so "Mode" is an ignored extension). Otherwise the allowed distance
 * shrinks with the length of the known name: two edits for "version" and
 * "max_age", one for "mode", and none for "mx", because every one- or
 * two-letter name is within two edits of "mx".
 */
static int near_known(const char *name, size_t n, bool *case_only)
{
    char lc[EXT_NAME_MAX];
    int best = -1;
    size_t best_d = SIZE_MAX;
    if (n > EXT_NAME_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        lc[i] = (char)lower((unsigned char)name[i]);
    for (int k = 0; k < N_KNOWN; k++) {
        size_t kl = strlen(known_names[k]);
        if (kl == n && memcmp(lc, known_names[k], n) == 0) {
            *case_only = true;
            return k;
        }
        size_t allowed = kl >= 5 ? 2 : kl >= 3 ? 1 : 0;
        size_t dist = diag_edit_distance(lc, n, known_names[k], kl);
        if (dist <= allowed && dist < best_d) {
            best_d = dist;
            best = k;
        }
    }
    *case_only = false;
    return best;
}

/*
 * Multi-label public suffixes under which a wildcard mx would cover every
 * registrant. Every single label is treated as a public suffix too (every
 * TLD is one), so "*.com" and "*.de" need no table entry. This is a lint,
 * not the full Public Suffix List: common second-level registries only.
 */
static const char *const public_suffixes[] = {
    "co.uk",   "org.uk", "me.uk",  "ltd.uk", "plc.uk", "net.uk", "ac.uk",
    "gov.uk",  "sch.uk", "nhs.uk", "com.au", "net.au", "org.au", "edu.au",
    "gov.au",  "id.au",  "asn.au", "co.nz",  "net.nz", "org.nz", "ac.nz",
    "govt.nz", "co.jp",  "ne.jp",  "or.jp",  "ac.jp",  "go.jp",  "ad.jp",
    "ed.jp",   "gr.jp",  "lg.jp",  "com.br", "net.br", "org.br", "gov.br",
    "edu.br",  "co.za",  "org.za", "gov.za", "net.za", "com.cn", "net.cn",
    "org.cn",  "gov.cn", "edu.cn", "com.hk", "com.tw", "com.sg", "com.my",
    "co.kr",   "or.kr",  "co.in",  "net.in", "org.in", "gen.in", "firm.in",
    "ind.in",  "com.mx", "com.ar", "com.tr", "com.pl", "co.il",  "org.il",
    "com.es",  "com.ua", "co.id",  "or.id",  "com.ph", "com.vn", "com.pk",
    "com.ng",  "com.eg", "com.sa", "co.th",  "in.th",  "com.co", "com.pe",
    "co.ke",   "com.gr", "com.ru", "co.at",  "or.at",  "com.ec", "com.uy",
    "com.ve",  "com.bd", "com.qa", "co.ve",  "com.do", "com.gt",
};

static bool is_public_suffix(const char *p, size_t n)
{
    if (memchr(p, '.', n) == NULL)
        return true;
    for (size_t i = 0; i < sizeof(public_suffixes) / sizeof(*public_suffixes);
         i++) {
        const char *s = public_suffixes[i];
        if (strlen(s) == n && strncasecmp(s, p, n) == 0)
            return true;
    }
    return false;
}

/*
 * mx_check validates one mx pattern p[0..n) whose first byte is at column
 * col0: ["*."] followed by an LDH host name of at least two labels. Returns
 * true when valid; the first problem goes to the diagnostics.
 */
static bool mx_check(struct pctx *c, unsigned ln, unsigned col0, const char *p,
                     size_t n)
{
    char q[QUOTE_BUF], why[DIAG_MSG_MAX];
    size_t where = 0;
    const char *colon = memchr(p, ':', n);

    quote(p, n, q, sizeof(q));
    /* Address literals and ports are what people paste from other
     * configs; say what mx takes instead of naming the odd character. */
    if (p[0] == '[') {
        perr(c, ln, col0,
             "expected a host name, found the address literal '%s'; mx takes "
             "host names only, as senders match them against MX records and "
             "certificate names",
             q);
        return false;
    }
    if (colon != NULL) {
        perr(c, ln, col0 + (unsigned)(colon - p),
             "expected a host name, found ':' in '%s'; mx takes a bare host "
             "name, without a port or an IPv6 address",
             q);
        return false;
    }
    if (dnsname_check(p, n, DNSNAME_WILDCARD | DNSNAME_DOMAIN, &where, why,
                      sizeof(why)) < 0) {
        perr(c, ln, col0 + (unsigned)where, "%s", why);
        return false;
    }
    if (p[0] == '*' && is_public_suffix(p + 2, n - 2))
        pwarn(c, ln, col0,
              "the wildcard '%s' sits directly under the public suffix '%s' "
              "and would match hosts of every domain registered there; list "
              "your own MX host names",
              q, q + 2);
    return true;
}

static void mx_add(struct pctx *c, unsigned ln, unsigned col, const char *p,
                   size_t n)
{
    if (c->n_mx == c->cap_mx) {
        size_t ncap = c->cap_mx ? c->cap_mx * 2 : 8;
        struct mx_ent *m = realloc(c->mx, ncap * sizeof(*m));
        if (m == NULL) {
            c->oom = true;
            return;
        }
        c->mx = m;
        c->cap_mx = ncap;
    }
    char *s = malloc(n + 1);
    if (s == NULL) {
        c->oom = true;
        return;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    c->mx[c->n_mx].name = s;
    c->mx[c->n_mx].line = ln;
    c->mx[c->n_mx].col = col;
    c->n_mx++;
}

/*
 * check_value_bytes enforces what may appear between the first and last
 * non-blank byte of a value: visible ASCII and SP for every field, plus
 * well-formed UTF-8 for extension values only. HTAB is WSP and so only
 * legal around the value, never inside it.
 */
static bool check_value_bytes(struct pctx *c, unsigned ln, const char *s,
                              size_t v, size_t e, enum field kind,
                              const char *name)
{
    char f[QUOTE_BUF];
    for (size_t j = v; j < e; j++) {
        unsigned char ch = (unsigned char)s[j];
        if (ch == '\t') {
            perr(c, ln, colof(j),
                 "expected a visible character or a space inside the value "
                 "of '%s', found a tab; tabs are only allowed before and "
                 "after the value",
                 name);
            return false;
        }
        if (ch < 0x20 || ch == 0x7f) {
            perr(c, ln, colof(j),
                 "expected a visible character inside the value of '%s', "
                 "found %s",
                 name, found_at(s + j, e - j, f, sizeof(f)));
            return false;
        }
        if (ch < 0x80)
            continue;
        size_t k = utf8_seq((const unsigned char *)s + j, e - j);
        if (k == 0) {
            perr(c, ln, colof(j),
                 "expected valid UTF-8, found the byte %s that does not "
                 "start a well-formed sequence (stray, truncated, overlong "
                 "or surrogate); save the file as UTF-8",
                 found_at(s + j, 1, f, sizeof(f)));
            return false;
        }
        if (kind == F_MX) {
            perr(c, ln, colof(j),
                 "expected an ASCII host name, found %s; write "
                 "internationalized names as A-labels ('xn--...', e.g. "
                 "from 'idn2 mx.bücher.example')",
                 found_at(s + j, e - j, f, sizeof(f)));
            return false;
        }
        if (kind != F_EXT) {
            perr(c, ln, colof(j),
                 "expected ASCII in the value of '%s', found %s", name,
                 found_at(s + j, e - j, f, sizeof(f)));
            return false;
        }
        j += k - 1;
    }
    return true;
}

/* value_is compares a value to a literal, exactly. */
static bool value_is(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

static bool value_is_ci(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(p, lit, n) == 0;
}

static bool check_version(struct pctx *c, unsigned ln, unsigned col,
                          const char *p, size_t n)
{
    char q[QUOTE_BUF];
    if (value_is(p, n, "STSv1"))
        return true;
    perr(c, ln, col, "expected 'STSv1', found '%s'%s", quote(p, n, q, sizeof q),
         value_is_ci(p, n, "STSv1") ? "; values are case-sensitive" : "");
    return false;
}

static bool check_mode(struct pctx *c, unsigned ln, unsigned col, const char *p,
                       size_t n, enum policy_mode *mode)
{
    static const char *const modes[] = {"enforce", "testing", "none"};
    char q[QUOTE_BUF];
    for (int m = 0; m < 3; m++) {
        if (value_is(p, n, modes[m])) {
            *mode = (enum policy_mode)m;
            return true;
        }
    }
    for (int m = 0; m < 3; m++) {
        if (value_is_ci(p, n, modes[m])) {
            perr(c, ln, col,
                 "expected 'enforce', 'testing' or 'none', found '%s'; "
                 "values are case-sensitive; did you mean '%s'?",
                 quote(p, n, q, sizeof q), modes[m]);
            return false;
        }
    }
    perr(c, ln, col, "expected 'enforce', 'testing' or 'none', found '%s'",
         quote(p, n, q, sizeof q));
    return false;
}

static bool check_max_age(struct pctx *c, unsigned ln, unsigned col,
                          const char *p, size_t n, unsigned long *out)
{
    char f[QUOTE_BUF];
    unsigned long long v = 0;
    /* Parsed by hand rather than with strtoul: strtoul accepts a sign and
     * leading blanks, which the ABNF (1*10DIGIT) does not. */
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)p[i])) {
            perr(c, ln, col + (unsigned)i,
                 "expected max_age as digits only (seconds, 0 to 31557600), "
                 "found %s",
                 found_at(p + i, n - i, f, sizeof(f)));
            return false;
        }
        if (i == MAX_AGE_DIGITS) {
            perr(c, ln, col + (unsigned)i,
                 "expected max_age of at most 10 digits, found %zu digits", n);
            return false;
        }
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > POLICY_MAX_AGE_MAX) {
        perr(c, ln, col,
             "expected max_age of at most 31557600 (one year), found %llu", v);
        return false;
    }
    *out = (unsigned long)v;
    return true;
}

static void check_ext(struct pctx *c, unsigned ln, const char *s, size_t v,
                      size_t e, const char *name)
{
    const char *colon = memchr(s + v, ':', e - v);
    if (colon != NULL)
        pwarn(c, ln, colof((size_t)(colon - s)),
              "the value of extension field '%s' contains ':'; some senders "
              "split a line at every ':' and will misread it",
              name);
    for (size_t j = v; j < e; j++) {
        if ((unsigned char)s[j] >= 0x80) {
            pwarn(c, ln, colof(j),
                  "the value of extension field '%s' contains non-ASCII "
                  "(UTF-8); some senders decode policies as ASCII or Latin-1",
                  name);
            break;
        }
    }
}

/* note_duplicate handles a second (or later) version, mode or max_age. */
static void note_duplicate(struct pctx *c, enum field kind, unsigned ln,
                           const char *p, size_t n)
{
    struct first_seen *fs = &c->first[kind];
    char q1[QUOTE_BUF], q2[QUOTE_BUF];
    const char *name = known_names[kind];
    /* RFC 8461 does not say which duplicate wins and senders differ; the
     * policy struct keeps the first, so warn, and louder if they differ. */
    if (fs->valid && !(fs->len == n && memcmp(fs->val, p, n) == 0))
        pwarn(c, ln, 1,
              "duplicate '%s' field (first on line %u, again on line %u) "
              "and the values differ ('%s' vs '%s'): senders disagree on "
              "which one wins; this host uses the first; keep one",
              name, fs->line, ln, quote(fs->val, fs->len, q1, sizeof q1),
              quote(p, n, q2, sizeof q2));
    else
        pwarn(c, ln, 1,
              "duplicate '%s' field (first on line %u, again on line %u): "
              "senders disagree on which one wins; keep one",
              name, fs->line, ln);
}

/*
 * parse_line checks one line s[0..n) without its terminator. It stops at
 * the first error on the line, so one broken line yields one error, and
 * the caller moves on to the next line.
 */
/*
 * note_refused_field looks past what made a line fail at its first byte (a
 * byte order mark, leading whitespace) for the field name behind it, and
 * counts that field as present: the line gets its one error, and the field
 * is not reported missing as well. One root cause, one message.
 */
static void note_refused_field(struct pctx *c, const char *s, size_t n)
{
    size_t i = 0, start;
    if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < n && is_wsp((unsigned char)s[i]))
        i++;
    start = i;
    while (i < n && is_name_char((unsigned char)s[i]))
        i++;
    for (int k = 0; k < N_KNOWN; k++)
        if (i - start == strlen(known_names[k]) &&
            memcmp(s + start, known_names[k], i - start) == 0)
            c->present[k] = true;
}

static void parse_line(struct pctx *c, unsigned ln, const char *s, size_t n)
{
    char f[QUOTE_BUF];
    char name[EXT_NAME_MAX + 1];
    size_t i = 0, v, e;
    enum field kind = F_EXT;

    if (n == 0) {
        perr(c, ln, 1,
             "expected a field ('name: value'), found an empty line; blank "
             "lines are not allowed, not even at the end");
        return;
    }
    while (i < n && is_name_char((unsigned char)s[i]))
        i++;
    if (i == 0) {
        unsigned char ch = (unsigned char)s[0];
        note_refused_field(c, s, n);
        if (ln == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
            perr(c, ln, 1,
                 "expected a field name, found a UTF-8 byte order mark (EF "
                 "BB BF); save the file as UTF-8 without BOM");
        else if (is_wsp(ch))
            perr(c, ln, 1,
                 "expected a field name at the start of the line, found %s; "
                 "leading whitespace is not allowed",
                 found_at(s, n, f, sizeof f));
        else if (ch == '#')
            perr(c, ln, 1,
                 "expected a field name, found '#'; policy files have no "
                 "comments");
        else
            perr(c, ln, 1,
                 "expected a field name (a letter or digit), found %s",
                 found_at(s, n, f, sizeof f));
        return;
    }
    if (!is_alnum((unsigned char)s[0])) {
        perr(c, ln, 1,
             "expected a field name to start with a letter or digit, found "
             "%s",
             found_at(s, n, f, sizeof f));
        return;
    }
    if (i > EXT_NAME_MAX) {
        perr(c, ln, EXT_NAME_MAX + 1,
             "expected a field name of at most 32 characters, found %zu", i);
        return;
    }
    memcpy(name, s, i);
    name[i] = '\0';
    for (int k = 0; k < N_KNOWN; k++)
        if (strcmp(name, known_names[k]) == 0)
            kind = (enum field)k;
    if (kind != F_EXT)
        c->present[kind] = true; /* so a broken line is not also "missing" */
    if (kind != F_VERSION && !c->present[F_VERSION])
        c->field_before_version = true;
    if (i == n) {
        perr(c, ln, colof(i),
             "expected ':' after field name '%s', found end of line", name);
        return;
    }
    if (s[i] != ':') {
        perr(c, ln, colof(i),
             "expected ':' right after field name '%s', found %s%s", name,
             found_at(s + i, n - i, f, sizeof f),
             is_wsp((unsigned char)s[i])
                 ? "; no whitespace is allowed before ':'"
                 : "");
        return;
    }

    if (kind == F_EXT) {
        bool case_only;
        int k = near_known(name, i, &case_only);
        if (k >= 0) {
            if (case_only)
                pwarn(c, ln, 1,
                      "unknown field '%s' is ignored by senders; field names "
                      "are case-sensitive; did you mean '%s'?",
                      name, known_names[k]);
            else
                pwarn(c, ln, 1,
                      "unknown field '%s' is ignored by senders; did you mean "
                      "'%s'?",
                      name, known_names[k]);
            if (c->near[k].line == 0) {
                c->near[k].line = ln;
                c->near[k].case_only = case_only;
                memcpy(c->near[k].name, name, i + 1);
            }
        }
    }

    v = i + 1;
    while (v < n && is_wsp((unsigned char)s[v]))
        v++;
    e = n;
    while (e > v && is_wsp((unsigned char)s[e - 1]))
        e--;
    if (v == e) {
        perr(c, ln, colof(v), "expected a value for '%s', found end of line",
             name);
        return;
    }
    if (!check_value_bytes(c, ln, s, v, e, kind, name))
        return;

    const char *p = s + v;
    size_t pn = e - v;
    unsigned col = colof(v);
    bool ok = false;
    switch (kind) {
    case F_VERSION:
        ok = check_version(c, ln, col, p, pn);
        break;
    case F_MODE: {
        enum policy_mode m = POLICY_MODE_ENFORCE;
        ok = check_mode(c, ln, col, p, pn, &m);
        if (ok && c->first[F_MODE].line == 0)
            c->mode = m;
        break;
    }
    case F_MAX_AGE: {
        unsigned long ma = 0;
        ok = check_max_age(c, ln, col, p, pn, &ma);
        if (ok && c->first[F_MAX_AGE].line == 0)
            c->max_age = ma;
        break;
    }
    case F_MX:
        if (mx_check(c, ln, col, p, pn))
            mx_add(c, ln, col, p, pn);
        return;
    case F_EXT:
        check_ext(c, ln, s, v, e, name);
        return;
    }

    struct first_seen *fs = &c->first[kind];
    if (fs->line == 0) {
        fs->line = ln;
        fs->col = col;
        fs->val = p;
        fs->len = pn;
        fs->valid = ok;
    } else if (ok) {
        note_duplicate(c, kind, ln, p, pn);
    }
}

static void report_missing(struct pctx *c, enum field kind, const char *what)
{
    const struct near_miss *nm = &c->near[kind];
    const char *name = known_names[kind];
    if (nm->line == 0)
        perr(c, 0, 0, "%s", what);
    else if (nm->case_only)
        perr(c, nm->line, 1,
             "%s; line %u has '%s', but field names are case-sensitive; did "
             "you mean '%s'?",
             what, nm->line, nm->name, name);
    else
        perr(c, nm->line, 1, "%s; line %u has '%s'; did you mean '%s'?", what,
             nm->line, nm->name, name);
}

static int mx_cmp(const void *a, const void *b)
{
    const struct mx_ent *x = a, *y = b;
    int r = strcasecmp(x->name, y->name);
    if (r != 0)
        return r;
    return (x->line > y->line) - (x->line < y->line);
}

/*
 * warn_duplicate_mx flags mx patterns listed twice (host names compare
 * case-insensitively). It sorts a copy, so a 64 KiB file of mx lines costs
 * n log n, not n squared.
 */
static void warn_duplicate_mx(struct pctx *c)
{
    struct mx_ent *v = NULL;
    char q[QUOTE_BUF];
    if (c->n_mx < 2)
        goto out;
    v = malloc(c->n_mx * sizeof(*v));
    if (v == NULL) {
        c->oom = true;
        goto out;
    }
    memcpy(v, c->mx, c->n_mx * sizeof(*v));
    qsort(v, c->n_mx, sizeof(*v), mx_cmp);
    for (size_t i = 1, first = 0; i < c->n_mx; i++) {
        if (strcasecmp(v[i].name, v[first].name) != 0) {
            first = i;
            continue;
        }
        pwarn(c, v[i].line, v[i].col,
              "duplicate mx '%s' (already on line %u; host names are "
              "case-insensitive)",
              quote(v[i].name, strlen(v[i].name), q, sizeof q), v[first].line);
    }
out:
    free(v);
}

static void lint(struct pctx *c)
{
    const struct first_seen *m = &c->first[F_MODE];
    const struct first_seen *a = &c->first[F_MAX_AGE];
    const struct first_seen *ver = &c->first[F_VERSION];

    if (ver->line > 1 && c->field_before_version)
        pwarn(c, ver->line, 1,
              "'version' is on line %u; put it on the first line, where "
              "RFC 8461's examples and many tools expect it",
              ver->line);
    if (m->valid && c->mode == POLICY_MODE_TESTING)
        pwarn(c, m->line, m->col,
              "mode is 'testing': senders only report TLS failures (TLSRPT) "
              "and still deliver without TLS; switch to 'enforce' once "
              "reports are clean");
    if (m->valid && c->mode == POLICY_MODE_NONE && !c->present[F_MX])
        pwarn(c, m->line, m->col,
              "mode 'none' without mx: valid, and the usual way to withdraw "
              "a policy; senders drop their cached policy when they fetch "
              "this");
    if (a->valid && c->max_age < 86400)
        pwarn(c, a->line, a->col,
              "max_age %lu is under one day (86400): senders refetch the "
              "policy constantly and an outage of this host soon leaves "
              "them without one%s",
              c->max_age,
              m->valid && c->mode == POLICY_MODE_ENFORCE
                  ? "; with 'enforce' use at least a week (604800)"
                  : "");
    else if (a->valid && m->valid && c->mode == POLICY_MODE_ENFORCE &&
             c->max_age < 604800)
        pwarn(c, a->line, a->col,
              "max_age %lu is under one week (604800); with 'enforce' a "
              "longer max_age protects against attackers who block the "
              "policy fetch",
              c->max_age);
    warn_duplicate_mx(c);
}

static void free_mx(struct mx_ent *mx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(mx[i].name);
    free(mx);
}

struct policy *policy_parse(const char *buf, size_t len, struct diag *d)
{
    struct pctx c;
    struct diag local;
    struct policy *p = NULL;
    bool own_diag = d == NULL;
    size_t errors_before;
    size_t pos = 0;
    unsigned ln = 1;

    memset(&c, 0, sizeof(c));
    buf_init(&c.served, POLICY_MAX_SIZE);
    if (own_diag) {
        diag_init(&local, NULL);
        d = &local;
    }
    c.d = d;
    errors_before = diag_errors(d);

    if (len > POLICY_MAX_SIZE) {
        /* Nothing is parsed: a sender would refuse the body anyway, and
         * not parsing bounds the work on hostile input. */
        perr(&c, 0, 0,
             "the policy is %zu bytes, more than the %d bytes senders accept "
             "(RFC 8461 §3.3)",
             len, POLICY_MAX_SIZE);
        goto out;
    }
    if (len > POLICY_WARN_SIZE)
        pwarn(&c, 0, 0,
              "the policy is %zu bytes; some senders accept no more than %d",
              len, POLICY_WARN_SIZE);
    if (len == 0 || buf == NULL) {
        perr(&c, 0, 0,
             "the policy is empty; expected at least 'version', 'mode', "
             "'max_age' and 'mx' lines");
        goto out;
    }

    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - buf) : len;
        size_t next = nl != NULL ? end + 1 : len;
        size_t content = end;
        /* A CR directly before LF is part of the terminator; any other CR
         * stays in the line and is reported as a bare CR. */
        if (nl != NULL && end > pos && buf[end - 1] == '\r')
            content--;
        parse_line(&c, ln, buf + pos, content - pos);

        size_t trimmed = content;
        while (trimmed > pos && is_wsp((unsigned char)buf[trimmed - 1]))
            trimmed--;
        c.served_len += trimmed - pos + 2;
        buf_append(&c.served, buf + pos, trimmed - pos);
        buf_append(&c.served, "\r\n", 2);
        pos = next;
        ln++;
    }

    if (!c.present[F_VERSION])
        report_missing(&c, F_VERSION, "required field 'version' is missing");
    if (!c.present[F_MODE])
        report_missing(&c, F_MODE, "required field 'mode' is missing");
    if (!c.present[F_MAX_AGE])
        report_missing(&c, F_MAX_AGE, "required field 'max_age' is missing");
    if (!c.present[F_MX] && (c.first[F_MODE].valid ? c.mode != POLICY_MODE_NONE
                                                   : !c.present[F_MODE]))
        report_missing(&c, F_MX,
                       "at least one 'mx' field is required unless mode is "
                       "'none'");
    lint(&c);

    if (c.served_len > POLICY_MAX_SIZE) {
        /* The served form has CRLF terminators, so an LF file just under
         * the cap can grow past it; what senders fetch is what counts. */
        perr(&c, 0, 0,
             "the served policy (CRLF line ends) would be %zu bytes, more "
             "than the %d bytes senders accept",
             c.served_len, POLICY_MAX_SIZE);
        goto out;
    }
    if (c.served_len > POLICY_WARN_SIZE && len <= POLICY_WARN_SIZE)
        pwarn(&c, 0, 0,
              "the served policy (CRLF line ends) is %zu bytes; some senders "
              "accept no more than %d",
              c.served_len, POLICY_WARN_SIZE);
    if (c.oom || c.served.failed) {
        perr(&c, 0, 0, "out of memory while parsing the policy");
        goto out;
    }
    if (diag_errors(d) != errors_before)
        goto out;

    p = calloc(1, sizeof(*p));
    if (p == NULL ||
        (c.n_mx > 0 && (p->mx = calloc(c.n_mx, sizeof(*p->mx))) == NULL)) {
        perr(&c, 0, 0, "out of memory while building the policy");
        policy_free(p);
        p = NULL;
        goto out;
    }
    p->mode = c.mode;
    p->max_age = c.max_age;
    for (size_t i = 0; i < c.n_mx; i++) {
        p->mx[i] = c.mx[i].name; /* ownership moves to the policy */
        c.mx[i].name = NULL;
    }
    p->n_mx = c.n_mx;
    p->served = buf_take(&c.served, &p->served_len);
    for (size_t i = 0; i < p->served_len; i++)
        if ((unsigned char)p->served[i] >= 0x80)
            p->non_ascii = true;
    if (p->served == NULL || policy_id(p->served, p->served_len, p->id) < 0) {
        perr(&c, 0, 0,
             "building the served policy or its id (SHA-256) "
             "failed");
        policy_free(p);
        p = NULL;
    }
out:
    free_mx(c.mx, c.n_mx);
    buf_free(&c.served);
    if (own_diag)
        diag_free(&local);
    return p;
}

void policy_free(struct policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_mx; i++)
        free(p->mx[i]);
    free(p->mx);
    free(p->served);
    free(p);
}

const char *policy_mode_name(enum policy_mode mode)
{
    switch (mode) {
    case POLICY_MODE_ENFORCE:
        return "enforce";
    case POLICY_MODE_TESTING:
        return "testing";
    case POLICY_MODE_NONE:
        return "none";
    }
    return "unknown";
}

/*
 * The id is the SHA-256 of the served bytes, its first 16 bytes (128 bits)
 * written as 32 lowercase hex digits. Hex is a subset of [A-Za-z0-9], fits
 * the 32-character limit of RFC 8461 §3.1 exactly, and anyone can recompute
 * it with `sha256sum | cut -c1-32`. 128 bits is ample for telling policy
 * versions apart.
 */
int policy_id(const char *served, size_t len, char out[POLICY_ID_MAX + 1])
{
    unsigned char digest[32];
    gnutls_datum_t head = {digest, POLICY_ID_MAX / 2};
    size_t outlen = POLICY_ID_MAX + 1;
    int rc = -1;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, served, len, digest) < 0)
        goto out;
    /* GnuTLS writes lower-case digits and the NUL. */
    if (gnutls_hex_encode(&head, out, &outlen) < 0)
        goto out;
    rc = 0;
out:
    return rc;
}
