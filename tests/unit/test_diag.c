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
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_edit_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
