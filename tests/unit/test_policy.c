/*
 * test_policy: table-driven tests of the RFC 8461 §3.2 policy parser and
 * validator (server/policy.c): grammar, field values, mx patterns, lint
 * warnings, diagnostics positions, the served form and the id. Pure: no
 * I/O apart from reading the example policy shipped in policy/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "policy.h"

/* Input literals keep an explicit length so embedded NULs survive. */
#define IN(s) s, sizeof(s) - 1

#define V "version: STSv1\n"
#define ME "mode: enforce\n"
#define MT "mode: testing\n"
#define MN "mode: none\n"
#define MA "max_age: 604800\n"
#define MX "mx: mx.example.com\n"
#define BASE V ME MX MA /* valid, no warnings */

#define A10 "aaaaaaaaaa"
#define A32 A10 A10 A10 "aa"
#define A33 A32 "a"
#define A61 A10 A10 A10 A10 A10 A10 "a"
#define A62 A61 "a"
#define A63 A62 "a"

struct pcase {
    const char *name;
    const char *in;
    size_t len;
    bool ok;
    unsigned line, col; /* of the first error, when !ok */
    const char *msg;    /* substring of the first error, or NULL */
    int warnings;       /* exact number of warnings, or -1 */
    const char *warn;   /* substring of some warning, or NULL */
};

#define OK(n, s, w, ws)                                                        \
    {                                                                          \
        n, IN(s), true, 0, 0, NULL, w, ws                                      \
    }
#define BAD(n, s, l, c, m)                                                     \
    {                                                                          \
        n, IN(s), false, l, c, m, -1, NULL                                     \
    }

static const struct pcase cases[] = {
    /* Line terminators. */
    OK("LF", BASE, 0, NULL),
    OK("CRLF",
       "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\n"
       "max_age: 604800\r\n",
       0, NULL),
    OK("mixed LF and CRLF",
       "version: STSv1\r\nmode: enforce\nmx: mx.example.com\r\n"
       "max_age: 604800\n",
       0, NULL),
    OK("no final terminator", V ME MX "max_age: 604800", 0, NULL),
    OK("no final terminator after CRLF lines",
       "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 1", 1,
       "under one day"),
    BAD("bare CR between fields", "version: STSv1\rmode: enforce\n" MX MA, 1,
        15, "carriage return"),
    BAD("bare CR at end of file", V ME MX "max_age: 604800\r", 4, 16,
        "carriage return"),
    BAD("CR CR LF", V "mode: enforce\r\r\n" MX MA, 2, 14, "carriage return"),
    BAD("blank line in the middle", V ME "\n" MX MA, 3, 1, "empty line"),
    BAD("trailing double LF", BASE "\n", 5, 1, "empty line"),
    BAD("trailing double CRLF",
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\n"
        "max_age: 604800\r\n\r\n",
        5, 1, "empty line"),
    BAD("leading empty line", "\n" BASE, 1, 1, "empty line"),
    BAD("only a newline", "\n", 1, 1, "empty line"),
    BAD("empty input", "", 0, 0, "empty"),

    /* Whitespace. */
    BAD("leading space", " version: STSv1\n" ME MX MA, 1, 1,
        "leading whitespace"),
    BAD("leading tab", V "\tmode: enforce\n" MX MA, 2, 1, "leading whitespace"),
    BAD("whitespace-only line", V "   \n" ME MX MA, 2, 1, "leading whitespace"),
    OK("tab after colon", "version:\tSTSv1\n" ME MX MA, 0, NULL),
    OK("spaces and tabs after colon", "version: \t  STSv1\n" ME MX MA, 0, NULL),
    OK("trailing spaces and tabs",
       "version: STSv1  \nmode: enforce\t\n" MX "max_age: 604800 \t \n", 0,
       NULL),
    OK("no space after colon",
       "version:STSv1\nmode:enforce\nmx:mx.example.com\nmax_age:604800\n", 0,
       NULL),
    BAD("space before colon", "version : STSv1\n" ME MX MA, 1, 8,
        "no whitespace is allowed before ':'"),
    BAD("missing colon", "version STSv1\n" ME MX MA, 1, 8, "expected ':'"),
    BAD("name without colon or value", "version\n" ME MX MA, 1, 8,
        "found end of line"),
    BAD("tab inside a value", BASE "note: a\tb\n", 5, 8, "found a tab"),

    /* Comments, BOM, control characters. */
    BAD("comment line", "# our policy\n" BASE, 1, 1, "no comments"),
    BAD("trailing comment after mx", V ME "mx: mx.example.com # primary\n" MA,
        3, 19, "found ' ' (a space)"),
    BAD("UTF-8 BOM", "\xef\xbb\xbf" BASE, 1, 1, "byte order mark"),
    BAD("NUL inside a value", "version: STS\0v1\n" ME MX MA, 1, 13, "NUL"),
    BAD("NUL at line start", V "\0mode: enforce\n" MX MA, 2, 1, "NUL"),
    BAD("NUL after the last line", BASE "\0", 5, 1, "NUL"),
    BAD("control character in mode", V "mode: enf\x01orce\n" MX MA, 2, 10,
        "control character"),
    BAD("DEL in extension value", BASE "x: a\x7f\n", 5, 5, "DEL"),
    BAD("0x1f in extension value",
        BASE "x: a\x1f"
             "b\n",
        5, 5, "control character"),
    OK("0x20 and 0x7e in extension value", BASE "x: a ~\n", 0, NULL),
    BAD("form feed in a name", V ME MX MA "fo\fo: 1\n", 5, 3,
        "control character"),
    BAD("vertical tab after colon", V "mode:\v enforce\n" MX MA, 2, 6,
        "control character"),

    /* UTF-8. */
    OK("UTF-8 in an extension value", BASE "contact: J\xc3\xbcrgen\n", 1,
       "non-ASCII"),
    OK("4-byte UTF-8 in an extension value", BASE "x: \xf0\x9f\x98\x80\n", 1,
       "non-ASCII"),
    BAD("Latin-1 byte in an extension value", BASE "contact: J\xfcrgen\n", 5,
        11, "UTF-8"),
    BAD("overlong UTF-8", BASE "x: \xc0\xaf\n", 5, 4, "UTF-8"),
    BAD("overlong 3-byte UTF-8", BASE "x: \xe0\x80\xaf\n", 5, 4, "UTF-8"),
    BAD("UTF-16 surrogate in UTF-8", BASE "x: \xed\xa0\x80\n", 5, 4, "UTF-8"),
    BAD("truncated UTF-8", BASE "x: a\xe2\x82\n", 5, 5, "UTF-8"),
    BAD("code point above U+10FFFF", BASE "x: \xf4\x90\x80\x80\n", 5, 4,
        "UTF-8"),
    BAD("stray continuation byte", BASE "x: \x80\n", 5, 4, "UTF-8"),
    BAD("lead byte above F4", BASE "x: \xf5\x80\x80\x80\n", 5, 4, "UTF-8"),
    BAD("continuation byte above BF", BASE "x: \xe2\x82\xc0\n", 5, 4, "UTF-8"),
    BAD("second byte above BF", BASE "x: \xc3\xc3\n", 5, 4, "UTF-8"),
    OK("highest code point", BASE "x: \xf4\x8f\xbf\xbf\n", 1, "non-ASCII"),
    BAD("U-label in mx",
        V ME "mx: mx.b\xc3\xbc"
             "cher.example\n" MA,
        3, 9, "A-labels"),
    OK("A-label in mx", V ME "mx: mx.xn--bcher-kva.example\n" MA, 0, NULL),
    BAD("non-ASCII in a field name", BASE "zus\xc3\xa4tzlich: x\n", 5, 4,
        "non-ASCII"),
    BAD("non-ASCII in mode", V "mode: enf\xc3\xb6rce\n" MX MA, 2, 10,
        "expected ASCII"),

    /* version and mode values. */
    BAD("version lowercase", "version: stsv1\n" ME MX MA, 1, 10,
        "case-sensitive"),
    BAD("version STSv2", "version: STSv2\n" ME MX MA, 1, 10,
        "expected 'STSv1', found 'STSv2'"),
    BAD("version with trailing junk", "version: STSv1;\n" ME MX MA, 1, 10,
        "found 'STSv1;'"),
    BAD("mode Enforce", V "mode: Enforce\n" MX MA, 2, 7,
        "did you mean 'enforce'?"),
    BAD("mode TESTING", V "mode: TESTING\n" MX MA, 2, 7,
        "did you mean 'testing'?"),
    BAD("mode report (old draft)", V "mode: report\n" MX MA, 2, 7,
        "expected 'enforce', 'testing' or 'none', found 'report'"),
    BAD("mode empty", V "mode:\n" MX MA, 2, 6, "expected a value"),

    /* max_age. */
    OK("max_age 0", V ME MX "max_age: 0\n", 1, "under one day"),
    OK("max_age 31557600", V ME MX "max_age: 31557600\n", 0, NULL),
    BAD("max_age 31557601", V ME MX "max_age: 31557601\n", 4, 10,
        "at most 31557600"),
    BAD("max_age 11 digits", V ME MX "max_age: 00000000001\n", 4, 20,
        "at most 10 digits"),
    OK("max_age 10 digits with leading zeros", V ME MX "max_age: 0000604800\n",
       0, NULL),
    BAD("max_age 9999999999", V ME MX "max_age: 9999999999\n", 4, 10,
        "at most 31557600"),
    BAD("max_age leading plus", V ME MX "max_age: +604800\n", 4, 10, "'+'"),
    BAD("max_age negative", V ME MX "max_age: -1\n", 4, 10, "'-'"),
    BAD("max_age empty", V ME MX "max_age:\n", 4, 9, "expected a value"),
    BAD("max_age only blanks", V ME MX "max_age: \t \n", 4, 12,
        "expected a value"),
    BAD("max_age decimal", V ME MX "max_age: 86400.5\n", 4, 15, "'.'"),
    BAD("max_age with inner space", V ME MX "max_age: 86 400\n", 4, 12,
        "(a space)"),
    BAD("max_age with unit", V ME MX "max_age: 7d\n", 4, 11, "'d'"),

    /* mx patterns. */
    OK("wildcard mx", V ME "mx: *.example.com\n" MA, 0, NULL),
    OK("upper-case mx", V ME "mx: MX.Example.COM\n" MA, 0, NULL),
    OK("digits and hyphens in labels", V ME "mx: 1-mx.ex-ample.com\n" MA, 0,
       NULL),
    BAD("wildcard without dot", V ME "mx: *example.com\n" MA, 3, 6,
        "expected '.' after the wildcard"),
    BAD("double wildcard", V ME "mx: **.example.com\n" MA, 3, 6,
        "expected '.' after the wildcard"),
    BAD("wildcard in the middle", V ME "mx: a.*.example.com\n" MA, 3, 7,
        "left-most label"),
    BAD("two wildcard labels", V ME "mx: *.*.example.com\n" MA, 3, 7,
        "left-most label"),
    BAD("wildcard dot alone", V ME "mx: *.\n" MA, 3, 7,
        "expected a domain after '*.'"),
    BAD("wildcard alone", V ME "mx: *\n" MA, 3, 5, "'*' alone"),
    BAD("partial-label wildcard", V ME "mx: mx*.example.com\n" MA, 3, 7,
        "left-most label"),
    OK("label of 63 characters", V ME "mx: " A63 ".example.com\n" MA, 0, NULL),
    BAD("label of 64 characters", V ME "mx: " A63 "a.example.com\n" MA, 3, 68,
        "at most 63"),
    OK("host name of 253 characters",
       V ME "mx: " A63 "." A63 "." A63 "." A61 "\n" MA, 0, NULL),
    BAD("host name of 254 characters",
        V ME "mx: " A63 "." A63 "." A63 "." A62 "\n" MA, 3, 258, "at most 253"),
    BAD("hyphen at label start", V ME "mx: -mx.example.com\n" MA, 3, 5,
        "start with a letter or digit"),
    BAD("hyphen at label end", V ME "mx: mx-.example.com\n" MA, 3, 7,
        "end with a letter or digit"),
    BAD("hyphen at end of host", V ME "mx: mx.example-\n" MA, 3, 15,
        "end with a letter or digit"),
    BAD("underscore", V ME "mx: _mta.example.com\n" MA, 3, 5, "underscores"),
    BAD("IPv4 address", V ME "mx: 192.0.2.1\n" MA, 3, 5, "IP address"),
    BAD("IPv6 literal", V ME "mx: [::1]\n" MA, 3, 5, "address literal"),
    BAD("bare IPv6 address", V ME "mx: 2001:db8::1\n" MA, 3, 9, "found ':'"),
    BAD("port", V ME "mx: mx.example.com:25\n" MA, 3, 19, "without a port"),
    BAD("trailing dot", V ME "mx: mx.example.com.\n" MA, 3, 19, "trailing dot"),
    BAD("single-label mx", V ME "mx: localhost\n" MA, 3, 5, "single label"),
    BAD("empty label", V ME "mx: mx..example.com\n" MA, 3, 8, "empty label"),
    BAD("leading dot", V ME "mx: .example.com\n" MA, 3, 5, "empty label"),
    BAD("two hosts on one line",
        V ME "mx: mx1.example.com mx2.example.com\n" MA, 3, 20, "(a space)"),
    BAD("mx empty", V ME "mx:\n" MA, 3, 4, "expected a value"),
    BAD("mx with URL scheme", V ME "mx: smtp://mx.example.com\n" MA, 3, 9,
        "found ':'"),
    BAD("mx with slash", V ME "mx: mx.example.com/25\n" MA, 3, 19, "'/'"),

    /* Required fields. */
    BAD("missing version", ME MX MA, 0, 0, "'version' is missing"),
    BAD("missing mode", V MX MA, 0, 0, "'mode' is missing"),
    BAD("missing max_age", V ME MX, 0, 0, "'max_age' is missing"),
    BAD("missing mx with enforce", V ME MA, 0, 0, "'mx'"),
    BAD("missing mx with testing", V MT MA, 0, 0, "'mx'"),
    OK("mode none without mx", V MN MA, 1, "without mx"),
    OK("mode none with mx", V MN MX MA, 0, NULL),
    BAD("Mode is an extension, so mode is missing", V "Mode: enforce\n" MX MA,
        2, 1, "field names are case-sensitive; did you mean 'mode'?"),
    BAD("Version is an extension", "Version: STSv1\n" ME MX MA, 1, 1,
        "did you mean 'version'?"),
    BAD("MX is an extension", V ME "MX: mx.example.com\n" MA, 3, 1,
        "did you mean 'mx'?"),
    BAD("max-age typo", V ME MX "max-age: 604800\n", 4, 1,
        "did you mean 'max_age'?"),
    BAD("maxage typo", V ME MX "maxage: 604800\n", 4, 1,
        "did you mean 'max_age'?"),
    OK("MX with mode none", V MN "MX: mx.example.com\n" MA, 2,
       "case-sensitive; did you mean 'mx'?"),

    /* Typo warnings on extension fields. */
    OK("maxage next to max_age", BASE "maxage: 1\n", 1,
       "did you mean 'max_age'?"),
    OK("verison next to version", BASE "verison: STSv1\n", 1,
       "did you mean 'version'?"),
    OK("mdoe next to mode", BASE "mdoe: enforce\n", 1, "did you mean 'mode'?"),
    OK("MAX_AGE next to max_age", BASE "MAX_AGE: 1\n", 1, "case-sensitive"),
    OK("unrelated extension", BASE "foo: bar\n", 0, NULL),
    OK("short extension is no mx typo", BASE "id: 1\n", 0, NULL),

    /* Duplicates. */
    OK("duplicate mode, same value", V ME ME MX MA, 1, "duplicate 'mode'"),
    OK("duplicate mode, values differ", V ME MT MX MA, 1,
       "values differ ('enforce' vs 'testing')"),
    OK("duplicate max_age, values differ", V ME MX MA "max_age: 86400\n", 1,
       "first on line 4, again on line 5"),
    OK("duplicate version", V V ME MX MA, 1, "duplicate 'version'"),
    OK("duplicate mx, other case", V ME MX "mx: MX.Example.COM\n" MA, 1,
       "duplicate mx"),
    OK("two different mx", V ME MX "mx: mx2.example.com\n" MA, 0, NULL),
    BAD("duplicate mode, second invalid", V ME "mode: Testing\n" MX MA, 3, 7,
        "did you mean 'testing'?"),

    /* Lint warnings. */
    OK("version not on the first line", ME V MX MA, 1, "first line"),
    OK("mode testing", V MT MX MA, 1, "senders only report"),
    OK("enforce with max_age under a week", V ME MX "max_age: 86400\n", 1,
       "under one week"),
    OK("testing with max_age 86400", V MT MX "max_age: 86400\n", 1, "testing"),
    OK("testing with max_age 3600", V MT MX "max_age: 3600\n", 2,
       "under one day"),
    OK("enforce with max_age 3600", V ME MX "max_age: 3600\n", 1,
       "at least a week"),
    OK("wildcard under com", V ME "mx: *.com\n" MA, 1, "public suffix"),
    OK("wildcard under co.uk", V ME "mx: *.co.uk\n" MA, 1, "public suffix"),
    OK("wildcard under com.au", V ME "mx: *.COM.AU\n" MA, 1, "public suffix"),
    OK("wildcard under example.co.uk", V ME "mx: *.example.co.uk\n" MA, 0,
       NULL),
    OK("extension value with ':'", BASE "report: mailto:tls@example.com\n", 1,
       "contains ':'"),

    /* Extension fields. */
    OK("extension name of 32 characters", BASE A32 ": x\n", 0, NULL),
    BAD("extension name of 33 characters", BASE A33 ": x\n", 5, 33,
        "at most 32"),
    BAD("extension name starting with '_'", BASE "_foo: x\n", 5, 1,
        "start with a letter or digit"),
    BAD("extension name starting with '-'", BASE "-foo: x\n", 5, 1,
        "start with a letter or digit"),
    BAD("extension name starting with '.'", BASE ".foo: x\n", 5, 1,
        "start with a letter or digit"),
    OK("extension name with '.', '-', '_'", BASE "x-foo.bar_baz9: 1\n", 0,
       NULL),
    OK("extension name starting with a digit", BASE "9lives: yes\n", 0, NULL),
    BAD("extension name with '@'", BASE "foo@bar: x\n", 5, 4, "'@'"),
    OK("extension value with leading and trailing spaces",
       BASE "foo:   bar baz   \n", 0, NULL),
    OK("extension value punctuation", BASE "foo: a=b;c,d!~\"'\n", 0, NULL),
    BAD("extension value empty", BASE "foo:\n", 5, 5, "expected a value"),
    BAD("extension value only spaces", BASE "foo:    \n", 5, 9,
        "expected a value"),
    BAD("colon at line start", BASE ": x\n", 5, 1, "expected a field name"),
};

static const struct diag_entry *first_error(const struct diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->entries[i].severity == DIAG_ERROR)
            return &d->entries[i];
    return NULL;
}

static bool some_warning_has(const struct diag *d, const char *s)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->entries[i].severity == DIAG_WARNING &&
            strstr(d->entries[i].msg, s) != NULL)
            return true;
    return false;
}

static void dump(const struct pcase *c, const struct diag *d)
{
    fprintf(stderr, "case: %s\n", c->name);
    diag_print(d, stderr);
}

/* line_len returns the length of line ln (1-based) of in, without its
 * terminator, so a column can be checked to lie within it. */
static size_t line_len(const char *in, size_t len, unsigned ln)
{
    size_t pos = 0;
    for (unsigned l = 1; l < ln && pos < len; l++) {
        const char *nl = memchr(in + pos, '\n', len - pos);
        if (nl == NULL)
            return 0;
        pos = (size_t)(nl - in) + 1;
    }
    const char *nl = memchr(in + pos, '\n', len - pos);
    size_t end = nl != NULL ? (size_t)(nl - in) : len;
    return end - pos;
}

static void test_table(void **state)
{
    (void)state;
    size_t failed = 0;
    assert_true(sizeof(cases) / sizeof(*cases) >= 70);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const struct pcase *c = &cases[i];
        struct diag d;
        diag_init(&d, "mta-sts.txt");
        struct policy *p = policy_parse(c->in, c->len, &d);
        bool good = (p != NULL) == c->ok;
        if (c->ok) {
            good = good && diag_errors(&d) == 0;
        } else {
            const struct diag_entry *e = first_error(&d);
            good = good && e != NULL && e->line == c->line &&
                   e->col == c->col &&
                   (c->msg == NULL || strstr(e->msg, c->msg) != NULL);
            /* Every error says what was expected or what is missing. */
            good = good && e != NULL &&
                   (strstr(e->msg, "expected") != NULL ||
                    strstr(e->msg, "missing") != NULL ||
                    strstr(e->msg, "required") != NULL ||
                    strstr(e->msg, "empty") != NULL);
            /* A column points into the line it names (or just past it). */
            if (e != NULL && e->line > 0)
                good = good && e->col >= 1 &&
                       e->col <= line_len(c->in, c->len, e->line) + 1;
        }
        if (c->warnings >= 0)
            good = good && d.warnings == (size_t)c->warnings;
        if (c->warn != NULL)
            good = good && some_warning_has(&d, c->warn);
        if (!good) {
            dump(c, &d);
            failed++;
        }
        policy_free(p);
        diag_free(&d);
    }
    /* All cases run before failing, so one run shows every broken case. */
    assert_int_equal(failed, 0);
}

/* One root cause gives one message: a line refused at its first byte does
 * not also make its field "missing", and a refused first line does not make
 * the version line "not the first". */
static void test_one_cause_one_message(void **state)
{
    (void)state;
    static const struct {
        const char *name, *in, *msg;
        unsigned line;
    } cases1[] = {
        {"BOM before version", "\xef\xbb\xbf" BASE, "byte order mark", 1},
        {"leading tab before mode", V "\tmode: enforce\n" MX MA,
         "leading whitespace", 2},
        {"leading spaces before max_age", V ME MX "  max_age: 604800\n",
         "leading whitespace", 4},
        {"BOM and a space before version",
         "\xef\xbb\xbf version: STSv1\n" ME MX MA, "byte order mark", 1},
        {"comment on line 1", "# our policy\n" BASE, "no comments", 1},
        {"two comments first", "# a\n# b\n" BASE, "no comments", 1},
    };
    size_t failed = 0;
    for (size_t i = 0; i < sizeof(cases1) / sizeof(*cases1); i++) {
        struct diag d;
        diag_init(&d, "mta-sts.txt");
        struct policy *p = policy_parse(cases1[i].in, strlen(cases1[i].in), &d);
        const struct diag_entry *e = first_error(&d);
        size_t want_errors = strncmp(cases1[i].name, "two", 3) == 0 ? 2 : 1;
        if (p != NULL || diag_errors(&d) != want_errors || d.warnings != 0 ||
            e == NULL || e->line != cases1[i].line ||
            strstr(e->msg, cases1[i].msg) == NULL) {
            fprintf(stderr, "case: %s\n", cases1[i].name);
            diag_print(&d, stderr);
            failed++;
        }
        policy_free(p);
        diag_free(&d);
    }
    assert_int_equal(failed, 0);

    /* A real field before version still earns the warning. */
    struct diag d;
    diag_init(&d, "mta-sts.txt");
    struct policy *p = policy_parse(IN(ME V MX MA), &d);
    assert_non_null(p);
    assert_true(some_warning_has(&d, "'version' is on line 2"));
    policy_free(p);
    diag_free(&d);
}

static struct policy *parse_ok(const char *in, size_t len)
{
    struct diag d;
    diag_init(&d, NULL);
    struct policy *p = policy_parse(in, len, &d);
    if (p == NULL)
        diag_print(&d, stderr);
    assert_non_null(p);
    diag_free(&d);
    return p;
}

static void test_struct_values(void **state)
{
    (void)state;
    static const char in[] = V MT "mx: mx1.example.com\n"
                                  "mx: *.Mail.Example.NET\n"
                                  "max_age: 86400\n";
    struct policy *p = parse_ok(in, sizeof(in) - 1);
    assert_int_equal(p->mode, POLICY_MODE_TESTING);
    assert_int_equal(p->max_age, 86400);
    assert_int_equal(p->n_mx, 2);
    assert_string_equal(p->mx[0], "mx1.example.com");
    assert_string_equal(p->mx[1], "*.Mail.Example.NET");
    assert_false(p->non_ascii);
    policy_free(p);

    static const char none[] = V MN MA;
    p = parse_ok(none, sizeof(none) - 1);
    assert_int_equal(p->mode, POLICY_MODE_NONE);
    assert_int_equal(p->n_mx, 0);
    assert_null(p->mx);
    policy_free(p);

    static const char utf8[] = BASE "contact: J\xc3\xbcrgen\n";
    p = parse_ok(utf8, sizeof(utf8) - 1);
    assert_true(p->non_ascii);
    policy_free(p);
}

static void test_duplicates_first_wins(void **state)
{
    (void)state;
    static const char in[] =
        V ME MT MX "max_age: 604800\nmax_age: 86400\nmx: mx2.example.com\n";
    struct policy *p = parse_ok(in, sizeof(in) - 1);
    assert_int_equal(p->mode, POLICY_MODE_ENFORCE);
    assert_int_equal(p->max_age, 604800);
    assert_int_equal(p->n_mx, 2);
    /* Nothing is dropped from what is served: both mode lines remain. */
    assert_non_null(strstr(p->served, "mode: enforce\r\nmode: testing\r\n"));
    policy_free(p);
}

static void test_served_exact(void **state)
{
    (void)state;
    static const char in[] = "version: STSv1 \n"
                             "mode:\ttesting\t\r\n"
                             "mx: mx.example.com\n"
                             "foo:  bar  baz \t\n"
                             "max_age: 604800";
    static const char want[] = "version: STSv1\r\n"
                               "mode:\ttesting\r\n"
                               "mx: mx.example.com\r\n"
                               "foo:  bar  baz\r\n"
                               "max_age: 604800\r\n";
    struct policy *p = parse_ok(in, sizeof(in) - 1);
    assert_int_equal(p->served_len, sizeof(want) - 1);
    assert_memory_equal(p->served, want, sizeof(want) - 1);
    assert_int_equal(p->served[p->served_len], '\0');
    policy_free(p);
}

static void test_lf_crlf_same(void **state)
{
    (void)state;
    static const char lf[] = BASE;
    static const char crlf[] = "version: STSv1\r\nmode: enforce\r\n"
                               "mx: mx.example.com\r\nmax_age: 604800\r\n";
    static const char mixed_noeol[] = "version: STSv1\nmode: enforce\r\n"
                                      "mx: mx.example.com\nmax_age: 604800";
    struct policy *a = parse_ok(lf, sizeof(lf) - 1);
    struct policy *b = parse_ok(crlf, sizeof(crlf) - 1);
    struct policy *c = parse_ok(mixed_noeol, sizeof(mixed_noeol) - 1);
    assert_int_equal(a->served_len, b->served_len);
    assert_memory_equal(a->served, b->served, a->served_len);
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->served_len, c->served_len);
    assert_memory_equal(a->served, c->served, a->served_len);
    assert_string_equal(a->id, c->id);
    /* CRLF input is served byte for byte. */
    assert_int_equal(b->served_len, sizeof(crlf) - 1);
    assert_memory_equal(b->served, crlf, sizeof(crlf) - 1);
    policy_free(a);
    policy_free(b);
    policy_free(c);
}

static void test_trailing_blanks_same(void **state)
{
    (void)state;
    static const char *const variants[] = {
        BASE,
        "version: STSv1 \nmode: enforce\t\nmx: mx.example.com  \n"
        "max_age: 604800 \t\n",
        "version: STSv1\t\t\r\nmode: enforce \r\nmx: mx.example.com\r\n"
        "max_age: 604800   ",
    };
    struct policy *ref = parse_ok(variants[0], strlen(variants[0]));
    for (size_t i = 1; i < sizeof(variants) / sizeof(*variants); i++) {
        struct policy *p = parse_ok(variants[i], strlen(variants[i]));
        assert_int_equal(p->served_len, ref->served_len);
        assert_memory_equal(p->served, ref->served, ref->served_len);
        assert_string_equal(p->id, ref->id);
        policy_free(p);
    }
    policy_free(ref);
}

static bool id_charset_ok(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > POLICY_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9')))
            return false;
    }
    return true;
}

static void test_id_distinct(void **state)
{
    (void)state;
    /* Every change a sender could see must change the id. */
    static const char *const variants[] = {
        BASE,
        V MT MX MA,
        V MN MX MA,
        V ME MX "max_age: 604801\n",
        V ME MX "max_age: 0604800\n",
        V ME "mx: mx2.example.com\n" MA,
        V ME "mx: MX.example.com\n" MA,
        V ME MX "mx: mx2.example.com\n" MA,
        V ME "mx: *.example.com\n" MA,
        BASE "foo: bar\n",
        BASE "foo: baz\n",
        "version:STSv1\n" ME MX MA,
        "version:\tSTSv1\n" ME MX MA,
        ME V MX MA,
        V ME MA MX,
        V ME ME MX MA,
    };
    enum { N = sizeof(variants) / sizeof(*variants) };
    char ids[N][POLICY_ID_MAX + 1];
    for (size_t i = 0; i < N; i++) {
        struct policy *p = parse_ok(variants[i], strlen(variants[i]));
        assert_true(id_charset_ok(p->id));
        memcpy(ids[i], p->id, sizeof(ids[i]));
        policy_free(p);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            if (strcmp(ids[i], ids[j]) == 0) {
                fprintf(stderr, "variants %zu and %zu share id %s\n", i, j,
                        ids[i]);
                fail();
            }
}

static void test_id_stable(void **state)
{
    (void)state;
    struct policy *a = parse_ok(IN(BASE));
    struct policy *b = parse_ok(IN(BASE));
    char again[POLICY_ID_MAX + 1];
    assert_string_equal(a->id, b->id);
    assert_int_equal(policy_id(a->served, a->served_len, again), 0);
    assert_string_equal(a->id, again);
    assert_int_equal(strlen(a->id), POLICY_ID_MAX);
    assert_true(id_charset_ok(a->id));
    policy_free(a);
    policy_free(b);
}

static void test_id_known_answer(void **state)
{
    (void)state;
    char id[POLICY_ID_MAX + 1];
    /* SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 ...;
     * the id is the first 16 bytes in lowercase hex. */
    assert_int_equal(policy_id("abc", 3, id), 0);
    assert_string_equal(id, "ba7816bf8f01cfea414140de5dae2223");
    assert_int_equal(policy_id("", 0, id), 0);
    assert_string_equal(id, "e3b0c44298fc1c149afbf4c8996fb924");
}

/* make_policy builds a valid CRLF policy of exactly size bytes, padded with
 * one long extension field, so served bytes equal the input. */
static char *make_policy(size_t size)
{
    static const char head[] = "version: STSv1\r\nmode: enforce\r\n"
                               "mx: mx.example.com\r\nmax_age: 604800\r\n"
                               "pad: ";
    char *s = malloc(size);
    assert_non_null(s);
    assert_true(size > sizeof(head) + 2);
    memcpy(s, head, sizeof(head) - 1);
    memset(s + sizeof(head) - 1, 'x', size - (sizeof(head) - 1) - 2);
    memcpy(s + size - 2, "\r\n", 2);
    return s;
}

static void parse_sized(size_t size, bool want_ok, size_t want_warnings)
{
    char *s = make_policy(size);
    struct diag d;
    diag_init(&d, NULL);
    struct policy *p = policy_parse(s, size, &d);
    if ((p != NULL) != want_ok || d.warnings != want_warnings)
        diag_print(&d, stderr);
    assert_int_equal(p != NULL, want_ok);
    assert_int_equal(d.warnings, want_warnings);
    if (!want_ok) {
        const struct diag_entry *e = first_error(&d);
        assert_non_null(e);
        assert_int_equal(e->line, 0);
        assert_non_null(strstr(e->msg, "bytes"));
    } else {
        assert_int_equal(p->served_len, size);
    }
    policy_free(p);
    diag_free(&d);
    free(s);
}

static void test_size_limits(void **state)
{
    (void)state;
    parse_sized(POLICY_WARN_SIZE, true, 0);
    parse_sized(POLICY_WARN_SIZE + 1, true, 1);
    parse_sized(POLICY_MAX_SIZE, true, 1);
    parse_sized(POLICY_MAX_SIZE + 1, false, 0);
    parse_sized(10 * POLICY_MAX_SIZE, false, 0);
}

static void test_served_size_after_crlf(void **state)
{
    (void)state;
    /* 60,000 bytes of LF lines grow past 65,536 once served with CRLF. */
    size_t n = 60000;
    char *s = malloc(n);
    assert_non_null(s);
    static const char head[] = BASE;
    memcpy(s, head, sizeof(head) - 1);
    size_t pos = sizeof(head) - 1;
    while (pos + 5 <= n) {
        memcpy(s + pos, "a: b\n", 5);
        pos += 5;
    }
    struct diag d;
    diag_init(&d, NULL);
    struct policy *p = policy_parse(s, pos, &d);
    assert_null(p);
    const struct diag_entry *e = first_error(&d);
    assert_non_null(e);
    assert_int_equal(e->line, 0);
    assert_non_null(strstr(e->msg, "served"));
    diag_free(&d);
    free(s);
}

static void test_many_errors(void **state)
{
    (void)state;
    /* Several independent errors are all reported. */
    static const char in[] = V "mode: bad\nmx: -x.example.com\nmax_age: x\n";
    struct diag d;
    diag_init(&d, NULL);
    assert_null(policy_parse(in, sizeof(in) - 1, &d));
    assert_int_equal(diag_errors(&d), 3);
    assert_int_equal(d.entries[0].line, 2);
    assert_int_equal(d.entries[1].line, 3);
    assert_int_equal(d.entries[2].line, 4);
    diag_free(&d);

    /* Thousands of bad lines: counted, storage capped, no crash. */
    size_t lines = 10000, n = lines * 3;
    char *s = malloc(n);
    assert_non_null(s);
    for (size_t i = 0; i < lines; i++)
        memcpy(s + 3 * i, " x\n", 3);
    diag_init(&d, NULL);
    assert_null(policy_parse(s, n, &d));
    assert_true(diag_errors(&d) >= lines);
    assert_true(d.n <= DIAG_MAX_ENTRIES);
    diag_free(&d);
    free(s);

    /* Many mx lines, all the same: duplicate warnings, still valid. */
    size_t mxs = 3000;
    static const char mxl[] = "mx: mx.example.com\n";
    s = malloc(sizeof(BASE) + mxs * (sizeof(mxl) - 1));
    assert_non_null(s);
    memcpy(s, BASE, sizeof(BASE) - 1);
    n = sizeof(BASE) - 1;
    for (size_t i = 0; i < mxs; i++, n += sizeof(mxl) - 1)
        memcpy(s + n, mxl, sizeof(mxl) - 1);
    diag_init(&d, NULL);
    struct policy *p = policy_parse(s, n, &d);
    assert_non_null(p);
    assert_int_equal(p->n_mx, mxs + 1);
    assert_int_equal(d.warnings, mxs);
    policy_free(p);
    diag_free(&d);
    free(s);
}

static void test_null_diag_and_free(void **state)
{
    (void)state;
    struct policy *p = policy_parse(IN(BASE), NULL);
    assert_non_null(p);
    policy_free(p);
    assert_null(policy_parse(IN("mode: enforce\n"), NULL));
    assert_null(policy_parse(NULL, 0, NULL));
    policy_free(NULL);
}

static void test_diag_accumulates(void **state)
{
    (void)state;
    /* A diag list that already holds errors does not fail a good parse. */
    struct diag d;
    diag_init(&d, NULL);
    diag_add(&d, DIAG_ERROR, 1, 1, "earlier error");
    struct policy *p = policy_parse(IN(BASE), &d);
    assert_non_null(p);
    assert_int_equal(diag_errors(&d), 1);
    policy_free(p);
    diag_free(&d);
}

static void test_mode_name(void **state)
{
    (void)state;
    assert_string_equal(policy_mode_name(POLICY_MODE_ENFORCE), "enforce");
    assert_string_equal(policy_mode_name(POLICY_MODE_TESTING), "testing");
    assert_string_equal(policy_mode_name(POLICY_MODE_NONE), "none");
}

static void test_example_policy(void **state)
{
    (void)state;
    /* __FILE__ is tests/unit/test_policy.c under the source tree. */
    char path[4096];
    const char *slash = strrchr(__FILE__, '/');
    assert_non_null(slash);
    int n = snprintf(path, sizeof(path), "%.*s/../../policy/mta-sts.txt",
                     (int)(slash - __FILE__), __FILE__);
    assert_true(n > 0 && (size_t)n < sizeof(path));
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char buf[POLICY_MAX_SIZE + 1];
    size_t len = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    assert_true(len > 0 && len <= POLICY_MAX_SIZE);
    assert_null(memchr(buf, '\r', len)); /* shipped with LF endings */

    struct diag d;
    diag_init(&d, path);
    struct policy *p = policy_parse(buf, len, &d);
    if (p == NULL || d.warnings != 1)
        diag_print(&d, stderr);
    assert_non_null(p);
    assert_int_equal(diag_errors(&d), 0);
    assert_int_equal(d.warnings, 1);
    assert_non_null(strstr(d.entries[0].msg, "testing"));
    assert_int_equal(p->mode, POLICY_MODE_TESTING);
    assert_int_equal(p->max_age, 604800);
    assert_true(p->n_mx >= 1);
    policy_free(p);
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_one_cause_one_message),
        cmocka_unit_test(test_struct_values),
        cmocka_unit_test(test_duplicates_first_wins),
        cmocka_unit_test(test_served_exact),
        cmocka_unit_test(test_lf_crlf_same),
        cmocka_unit_test(test_trailing_blanks_same),
        cmocka_unit_test(test_id_distinct),
        cmocka_unit_test(test_id_stable),
        cmocka_unit_test(test_id_known_answer),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_served_size_after_crlf),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_null_diag_and_free),
        cmocka_unit_test(test_diag_accumulates),
        cmocka_unit_test(test_mode_name),
        cmocka_unit_test(test_example_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
