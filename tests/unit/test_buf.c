/*
 * Unit tests for buf: growth, the hard cap, formatting, JSON strings and
 * handing the data over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_append_and_take(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, "%d,", i % 10), 0);
    assert_int_equal(b.len, 2000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data, "0,1,2,", 6);
    size_t len = 0;
    char *p = buf_take(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 2000);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(p);
    buf_free(&b);
}

static void test_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "12345678"), 0);
    assert_int_equal(buf_puts(&b, "9"), -1);
    assert_true(b.failed);
    assert_int_equal(b.len, 8); /* unchanged by the refused append */
    buf_free(&b);

    /* Filling up to exactly the cap in steps is fine, one more is not. */
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "1234"), 0);
    assert_int_equal(buf_printf(&b, "%s", "5678"), 0);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    assert_int_equal(buf_append(&b, "9", 1), -1);
    buf_free(&b);
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "1234"), 0);
    assert_int_equal(buf_printf(&b, "%s", "56789"), -1);
    assert_int_equal(b.len, 4);
    buf_free(&b);
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "12345678"), 0);
    assert_int_equal(buf_puts(&b, "9"), -1);
    /* Once failed, it stays failed and take refuses, releasing what the
     * buffer held: callers that only take must not leak (the sanitizer
     * build checks that nothing is left behind). */
    assert_int_equal(buf_puts(&b, ""), -1);
    assert_null(buf_take(&b, NULL));
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    buf_init(&b, 4);
    assert_int_equal(buf_printf(&b, "%s", "hello"), -1);
    assert_int_equal(b.len, 0);
    buf_free(&b);

    /* A huge n must not wrap the size arithmetic. */
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX), -1);
    buf_free(&b);
}

static void test_json_string(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"q\"b\\", 4, "\"q\\\"b\\\\\""},
        {"a\nb\tc", 5, "\"a\\u000ab\\u0009c\""},
        {"nul\0x", 5, "\"nul\\u0000x\""},
        {"\x7f", 1, "\"\\u007f\""},
        {"caf\xc3\xa9", 5, "\"caf\xc3\xa9\""},
        {"", 0, "\"\""},
        /* Well-formed UTF-8 passes through, at each length and bound. */
        {"\xc2\x80\xdf\xbf", 4, "\"\xc2\x80\xdf\xbf\""},
        {"\xe0\xa0\x80\xed\x9f\xbf\xef\xbf\xbf", 9,
         "\"\xe0\xa0\x80\xed\x9f\xbf\xef\xbf\xbf\""},
        {"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8,
         "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""},
        /* Anything else: each byte that is not part of it is U+FFFD. */
        {"a\xff"
         "b",
         3, "\"a\\ufffdb\""},
        {"\x80", 1, "\"\\ufffd\""},
        {"\xc0\xaf", 2, "\"\\ufffd\\ufffd\""},            /* overlong '/' */
        {"\xc1\xbf", 2, "\"\\ufffd\\ufffd\""},            /* overlong DEL */
        {"\xe0\x9f\xbf", 3, "\"\\ufffd\\ufffd\\ufffd\""}, /* overlong */
        {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""}, /* surrogate */
        {"\xf0\x8f\xbf\xbf", 4,
         "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* overlong */
        {"\xf4\x90\x80\x80", 4,
         "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 4,
         "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},       /* no lead byte */
        {"\xe2\x82", 2, "\"\\ufffd\\ufffd\""},      /* cut short */
        {"\xe2\x82\xac", 2, "\"\\ufffd\\ufffd\""},  /* n ends it */
        {"\xe2\x28\xa1", 3, "\"\\ufffd(\\ufffd\""}, /* bad 2nd byte */
        {"\xe2\x82\x28", 3, "\"\\ufffd\\ufffd(\""}, /* bad 3rd byte */
        {"\xf0\x9f\x98\x28", 4,
         "\"\\ufffd\\ufffd\\ufffd(\""}, /* bad 4th byte */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b;
        buf_init(&b, 1024);
        assert_int_equal(buf_json_string(&b, cases[i].in, cases[i].n), 0);
        assert_string_equal(b.data, cases[i].out);
        buf_free(&b);
    }
}

/*
 * test_json_all_bytes renders every byte value on its own and checks it
 * against RFC 8259 §7: '"' and '\\' escaped with a backslash, the control
 * characters U+0000..U+001F (and DEL, which we escape as well) as \u00XX,
 * printable ASCII as is, and a byte of 0x80 or more, which on its own is
 * never UTF-8, as \ufffd.
 */
static void test_json_all_bytes(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 256; c++) {
        char in = (char)c, want[16];
        if (c == '"' || c == '\\')
            snprintf(want, sizeof(want), "\"\\%c\"", (char)c);
        else if (c < 0x20 || c == 0x7f)
            snprintf(want, sizeof(want), "\"\\u%04x\"", c);
        else if (c >= 0x80)
            snprintf(want, sizeof(want), "\"\\ufffd\"");
        else
            snprintf(want, sizeof(want), "\"%c\"", (char)c);
        struct buf b;
        buf_init(&b, 64);
        assert_int_equal(buf_json_string(&b, &in, 1), 0);
        if (strcmp(b.data, want) != 0)
            fail_msg("byte 0x%02x: got %s, want %s", c, b.data, want);
        buf_free(&b);
    }
    /* 0x1f is the last control character: raw it is invalid JSON. */
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(buf_json_string(&b, "a\x1f\x20", 3), 0);
    assert_string_equal(b.data, "\"a\\u001f \"");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_take),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_json_all_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
