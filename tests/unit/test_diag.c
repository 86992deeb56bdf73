/*
 * Unit tests for diag: formatting of entries, counting past the stored
 * cap, JSON output, quoting of found bytes and the edit distance behind
 * "did you mean" hints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diag.h"

static void test_format(void **state)
{
    (void)state;
    struct diag d;
    char out[512];
    diag_init(&d, "policy/mta-sts.txt");
    diag_add(&d, DIAG_ERROR, 3, 7, "expected %s, found '%s'", "x", "y");
    diag_add(&d, DIAG_WARNING, 2, 0, "whole line");
    diag_add(&d, DIAG_WARNING, 0, 0, "whole file");
    assert_int_equal(diag_errors(&d), 1);
    assert_int_equal(d.warnings, 2);
    assert_string_equal(diag_format_entry(&d, &d.entries[0], out, sizeof(out)),
                        "policy/mta-sts.txt:3:7: error: expected x, found 'y'");
    assert_string_equal(diag_format_entry(&d, &d.entries[1], out, sizeof(out)),
                        "policy/mta-sts.txt:2: warning: whole line");
    assert_string_equal(diag_format_entry(&d, &d.entries[2], out, sizeof(out)),
                        "policy/mta-sts.txt: warning: whole file");
    diag_free(&d);
}

static void test_cap_and_truncation(void **state)
{
    (void)state;
    struct diag d;
    diag_init(&d, NULL);
    for (int i = 0; i < DIAG_MAX_ENTRIES + 50; i++)
        diag_add(&d, DIAG_ERROR, (unsigned)i + 1, 1, "e%d", i);
    assert_int_equal(d.n, DIAG_MAX_ENTRIES);
    assert_int_equal(diag_errors(&d), DIAG_MAX_ENTRIES + 50);
    char big[DIAG_MSG_MAX * 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    diag_free(&d);
    diag_init(&d, "f");
    diag_add(&d, DIAG_ERROR, 1, 1, "%s", big);
    size_t len = strlen(d.entries[0].msg);
    assert_int_equal(len, DIAG_MSG_MAX - 1);
    assert_string_equal(d.entries[0].msg + len - 3, "...");
    diag_free(&d);

    /* The longest message that fits is kept whole; one more byte and it is
     * marked as cut, never silently one character short. */
    diag_init(&d, "f");
    diag_add(&d, DIAG_ERROR, 1, 1, "%.*s", DIAG_MSG_MAX - 1, big);
    diag_add(&d, DIAG_ERROR, 1, 1, "%.*s", DIAG_MSG_MAX, big);
    assert_int_equal(strlen(d.entries[0].msg), DIAG_MSG_MAX - 1);
    assert_int_equal(d.entries[0].msg[DIAG_MSG_MAX - 2], 'a');
    assert_int_equal(strlen(d.entries[1].msg), DIAG_MSG_MAX - 1);
    assert_string_equal(d.entries[1].msg + DIAG_MSG_MAX - 4, "...");
    diag_free(&d);
}

/* print_to_string runs diag_print into a memory stream; caller frees. */
static char *print_to_string(const struct diag *d)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    diag_print(d, fp);
    assert_int_equal(fclose(fp), 0);
    assert_non_null(text);
    return text;
}

static void test_print(void **state)
{
    (void)state;
    static const struct {
        int errors, warnings;
        const char *note; /* the last line, or NULL for none */
    } cases[] = {
        {3, 0, NULL},
        {DIAG_MAX_ENTRIES, 0, NULL},
        {DIAG_MAX_ENTRIES + 1, 0, "f: note: 1 more diagnostics not shown\n"},
        {DIAG_MAX_ENTRIES - 50, 100,
         "f: note: 50 more diagnostics not shown\n"},
        {0, DIAG_MAX_ENTRIES + 2, "f: note: 2 more diagnostics not shown\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct diag d;
        diag_init(&d, "f");
        for (int k = 0; k < cases[i].errors; k++)
            diag_add(&d, DIAG_ERROR, 1, 2, "e%d", k);
        for (int k = 0; k < cases[i].warnings; k++)
            diag_add(&d, DIAG_WARNING, 3, 0, "w%d", k);
        char *text = print_to_string(&d);
        size_t lines = 0;
        for (const char *p = text; *p != '\0'; p++)
            lines += *p == '\n';
        const char *last = text;
        for (const char *p = text; p[0] != '\0' && p[1] != '\0'; p++)
            if (p[0] == '\n')
                last = p + 1;
        size_t shown = d.n;
        assert_int_equal(lines, shown + (cases[i].note != NULL));
        if (cases[i].note != NULL)
            assert_string_equal(last, cases[i].note);
        else
            assert_null(strstr(text, "note:"));
        if (cases[i].errors > 0)
            assert_true(strncmp(text, "f:1:2: error: e0\n", 17) == 0);
        else
            assert_true(strncmp(text, "f:3: warning: w0\n", 17) == 0);
        free(text);
        diag_free(&d);
    }
}

static void test_json(void **state)
{
    (void)state;
    struct diag d;
    struct buf b;
    diag_init(&d, "a\"b.txt");
    diag_add(&d, DIAG_ERROR, 1, 2, "bad \"x\"");
    buf_init(&b, 4096);
    assert_int_equal(diag_json(&d, &b), 0);
    assert_string_equal(
        b.data, "[{\"file\":\"a\\\"b.txt\",\"line\":1,\"column\":2,"
                "\"severity\":\"error\",\"message\":\"bad \\\"x\\\"\"}]");
    buf_free(&b);
    diag_add(&d, DIAG_WARNING, 0, 0, "w");
    buf_init(&b, 4096);
    assert_int_equal(diag_json(&d, &b), 0);
    assert_string_equal(b.data,
                        "[{\"file\":\"a\\\"b.txt\",\"line\":1,\"column\":2,"
                        "\"severity\":\"error\",\"message\":\"bad \\\"x\\\"\"},"
                        "{\"file\":\"a\\\"b.txt\",\"line\":0,\"column\":0,"
                        "\"severity\":\"warning\",\"message\":\"w\"}]");
    buf_free(&b);
    diag_free(&d);
}

static void test_quote(void **state)
{
    (void)state;
    char out[128];
    assert_string_equal(diag_quote("abc", 3, out, sizeof(out)), "abc");
    assert_string_equal(diag_quote("a\r\n\x01\xff\\", 6, out, sizeof(out)),
                        "a\\x0d\\x0a\\x01\\xff\\x5c");
    char long_in[100];
    memset(long_in, 'z', sizeof(long_in));
    diag_quote(long_in, sizeof(long_in), out, sizeof(out));
    assert_int_equal(strlen(out), 43);
    assert_string_equal(out + 40, "...");
    char tiny[6];
    diag_quote("\x01\x02\x03", 3, tiny, sizeof(tiny));
    assert_true(strlen(tiny) < sizeof(tiny));

    /* Exactly the limit is shown whole, one more byte is cut. */
    assert_int_equal(strlen(diag_quote(long_in, 40, out, sizeof(out))), 40);
    assert_null(strstr(out, "..."));
    assert_int_equal(strlen(diag_quote(long_in, 41, out, sizeof(out))), 43);
    assert_string_equal(out + 40, "...");

    /* A value that fits exactly is whole; one that does not is marked. */
    char eight[8];
    assert_string_equal(diag_quote("abcdefg", 7, eight, sizeof(eight)),
                        "abcdefg");
    assert_string_equal(diag_quote("abcdefgh", 8, eight, sizeof(eight)),
                        "abcd...");
    assert_string_equal(diag_quote("abc\x01", 4, eight, sizeof(eight)),
                        "abc\\x01");
    assert_string_equal(diag_quote("abcd\x01", 5, eight, sizeof(eight)),
                        "abcd...");
    /* Another limit: shown whole up to it, cut after, escapes alike. */
    assert_int_equal(
        strlen(diag_quote_max(long_in, 100, 100, out, sizeof(out))), 100);
    assert_int_equal(strlen(diag_quote_max(long_in, 100, 60, out, sizeof(out))),
                     63);
    assert_string_equal(out + 60, "...");
    assert_string_equal(diag_quote_max("a\nb", 3, 100, out, sizeof(out)),
                        "a\\x0ab");
    char big[DIAG_QUOTE_SIZE];
    memset(long_in, 0x7f, sizeof(long_in));
    diag_quote(long_in, DIAG_QUOTE_LIMIT, big, sizeof(big));
    assert_int_equal(strlen(big), DIAG_QUOTE_LIMIT * 4);
    diag_quote(long_in, DIAG_QUOTE_LIMIT + 1, big, sizeof(big));
    assert_int_equal(strlen(big), DIAG_QUOTE_LIMIT * 4 + 3);
    assert_string_equal(big + DIAG_QUOTE_LIMIT * 4, "...");

    /* Whatever the input, nothing is written at or past outlen. */
    for (size_t outlen = 1; outlen < 24; outlen++) {
        char guarded[32];
        memset(guarded, '#', sizeof(guarded));
        diag_quote("a\x01"
                   "b\x02"
                   "c\\d\x7f",
                   8, guarded, outlen);
        assert_true(strlen(guarded) < outlen);
        for (size_t k = outlen; k < sizeof(guarded); k++)
            assert_int_equal(guarded[k], '#');
    }
}

/*
 * test_quote_all_bytes quotes every byte value on its own: printable ASCII
 * (0x20..0x7e) as is except the backslash, anything else, DEL included, as
 * \xHH, so a quoted value never carries a raw control byte into a log line.
 */
static void test_quote_all_bytes(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 256; c++) {
        char in = (char)c, out[16], want[8];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            snprintf(want, sizeof(want), "%c", (char)c);
        else
            snprintf(want, sizeof(want), "\\x%02x", c);
        diag_quote(&in, 1, out, sizeof(out));
        if (strcmp(out, want) != 0)
            fail_msg("byte 0x%02x: got %s, want %s", c, out, want);
    }
}

static void test_edit_distance(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        size_t d;
    } cases[] = {
        {"", "", 0},
        {"mode", "mode", 0},
        {"", "mode", 4},
        {"mode", "", 4},
        {"mdoe", "mode", 1},       /* one swap, not two substitutions */
        {"verison", "version", 1}, /* likewise */
        {"mod", "mode", 1},
        {"modes", "mode", 1},
        {"node", "mode", 1},
        {"Mode", "mode", 1}, /* bytes compare exactly */
        {"max-age", "max_age", 1},
        {"amx", "mx", 1},
        {"ca", "abc", 3}, /* OSA edits no substring twice */
        {"kitten", "sitting", 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t d = diag_edit_distance(cases[i].a, strlen(cases[i].a),
                                      cases[i].b, strlen(cases[i].b));
        if (d != cases[i].d)
            print_message("\"%s\" \"%s\" -> %zu\n", cases[i].a, cases[i].b, d);
        assert_int_equal(d, cases[i].d);
    }
    char a[DIAG_EDIT_MAX + 1], b[DIAG_EDIT_MAX + 1];
    memset(a, 'a', sizeof(a));
    memset(b, 'b', sizeof(b));
    assert_int_equal(diag_edit_distance(a, DIAG_EDIT_MAX, b, DIAG_EDIT_MAX),
                     DIAG_EDIT_MAX);
    assert_int_equal(diag_edit_distance(a, DIAG_EDIT_MAX + 1, b, 1), SIZE_MAX);
    assert_int_equal(diag_edit_distance(a, 1, b, DIAG_EDIT_MAX + 1), SIZE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_cap_and_truncation),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_quote_all_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
