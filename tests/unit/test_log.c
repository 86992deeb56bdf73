/*
 * Unit tests for log: what a client sends (Host, path) reaches the access
 * log quoted, so that no byte value can end a line early, forge a second
 * one or break the JSON. Each line is written to a pipe and read back; one
 * thread, no files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* access_line logs one request for host and path and returns the line
 * written, newline included (caller frees). */
static char *access_line(enum log_format format, const char *host,
                         const char *path)
{
    int fds[2];
    struct logger lg;
    assert_int_equal(pipe(fds), 0);
    log_init(&lg, format, LOG_LEVEL_INFO, true);
    lg.out_fd = fds[1];
    lg.err_fd = fds[1];
    struct log_access a = {"192.0.2.1", "GET", host, path,
                           "https",     200,   42,   1.5};
    log_access(&lg, &a);
    close(fds[1]);
    /* One line is at most 8 KiB, well within a pipe's buffer. */
    char *line = calloc(1, 16384);
    assert_non_null(line);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], line + n, 16383 - n)) > 0)
        n += (size_t)r;
    close(fds[0]);
    assert_true(n > 0);
    return line;
}

/*
 * assert_one_line checks that line ends in its only newline and holds no
 * other control character or DEL; bytes from 0x80 up only when high_ok
 * (JSON passes UTF-8 through, the text format quotes it).
 */
static void assert_one_line(const char *line, bool high_ok)
{
    size_t n = strlen(line);
    assert_true(n > 1);
    assert_int_equal(line[n - 1], '\n');
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && !high_ok))
            fail_msg("raw byte 0x%02x at %zu in: %s", c, i, line);
    }
}

/* text_field returns the value of " name=" in a text line, up to the next
 * " name2=" (caller frees). */
static char *text_field(const char *line, const char *name, const char *next)
{
    char key[32], end[32];
    snprintf(key, sizeof(key), " %s=", name);
    snprintf(end, sizeof(end), " %s=", next);
    const char *p = strstr(line, key);
    assert_non_null(p);
    p += strlen(key);
    const char *e = strstr(p, end);
    assert_non_null(e);
    return strndup(p, (size_t)(e - p));
}

static void test_text_all_bytes(void **state)
{
    (void)state;
    for (unsigned c = 1; c < 256; c++) {
        char host[4] = {'h', (char)c, 'x', '\0'};
        char path[4] = {'/', (char)c, '\0', '\0'};
        char want_host[16], want_path[16];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            snprintf(want_host, sizeof(want_host), "h%cx", (char)c);
            snprintf(want_path, sizeof(want_path), "/%c", (char)c);
        } else {
            snprintf(want_host, sizeof(want_host), "h\\x%02xx", c);
            snprintf(want_path, sizeof(want_path), "/\\x%02x", c);
        }
        char *line = access_line(LOG_FORMAT_TEXT, host, path);
        assert_one_line(line, false);
        char *h = text_field(line, "host", "path");
        char *p = text_field(line, "path", "status");
        if (strcmp(h, want_host) != 0 || strcmp(p, want_path) != 0)
            fail_msg("byte 0x%02x: %s", c, line);
        free(h);
        free(p);
        free(line);
    }
}

/*
 * json_field decodes the JSON string value of "name" in line into out
 * (at most outlen - 1 bytes) and returns its length. Only the escapes a
 * conforming writer may use for these bytes are accepted: \u00XX for
 * ASCII and \ufffd, the replacement character, decoded as UTF-8.
 */
/* U+FFFD in UTF-8: what a byte that is not UTF-8 stands for in JSON. */
#define REPLACEMENT "\xef\xbf\xbd"

static size_t json_field(const char *line, const char *name, char *out,
                         size_t outlen)
{
    char key[32];
    snprintf(key, sizeof(key), "\"%s\":\"", name);
    const char *p = strstr(line, key);
    assert_non_null(p);
    p += strlen(key);
    size_t n = 0;
    for (; *p != '"'; p++) {
        assert_true(*p != '\0' && n + 1 < outlen);
        if (*p != '\\') {
            out[n++] = *p;
            continue;
        }
        p++;
        if (*p == '"' || *p == '\\' || *p == '/') {
            out[n++] = *p;
        } else if (*p == 'u') {
            char hex[5] = {0};
            memcpy(hex, p + 1, 4);
            char *end;
            unsigned long v = strtoul(hex, &end, 16);
            assert_true(end == hex + 4 && (v < 0x80 || v == 0xfffd));
            if (v == 0xfffd) {
                assert_true(n + 3 < outlen);
                memcpy(out + n, REPLACEMENT, 3);
                n += 3;
            } else {
                out[n++] = (char)v;
            }
            p += 4;
        } else {
            fail_msg("unexpected escape \\%c in %s", *p, line);
        }
    }
    out[n] = '\0';
    return n;
}

/*
 * test_json_all_bytes logs every byte value in a host and all of them in
 * one path: ASCII comes back byte for byte, and each byte of 0x80 or more
 * (none of them forms UTF-8 here: on its own, or followed by a byte that is
 * not a continuation byte) as the replacement character, so the line stays
 * valid JSON.
 */
static void test_json_all_bytes(void **state)
{
    (void)state;
    char all[256], got[1024], want[1024];
    size_t wn = 0;
    for (unsigned c = 1; c < 256; c++) {
        char host[4] = {'h', (char)c, 'x', '\0'};
        char *line = access_line(LOG_FORMAT_JSON, host, "/");
        assert_one_line(line, true);
        size_t n = json_field(line, "host", got, sizeof(got));
        int ok = c < 0x80 ? n == 3 && memcmp(got, host, 3) == 0
                          : n == 5 && memcmp(got, "h" REPLACEMENT "x", 5) == 0;
        if (!ok)
            fail_msg("byte 0x%02x: %s", c, line);
        free(line);
        all[c - 1] = (char)c;
        if (c < 0x80) {
            want[wn++] = (char)c;
        } else {
            memcpy(want + wn, REPLACEMENT, 3);
            wn += 3;
        }
    }
    all[255] = '\0';
    char *line = access_line(LOG_FORMAT_JSON, "h", all);
    assert_one_line(line, true);
    assert_int_equal(json_field(line, "path", got, sizeof(got)), wn);
    assert_memory_equal(got, want, wn);
    free(line);
}

static void test_text_long_values(void **state)
{
    (void)state;
    /* 40 bytes (the quoting limit) that each need an escape are shown
     * whole; one more and the value is marked as cut. */
    char host[64];
    memset(host, '\x01', 41);
    host[40] = '\0';
    char *line = access_line(LOG_FORMAT_TEXT, host, "/");
    char *h = text_field(line, "host", "path");
    assert_int_equal(strlen(h), 160);
    free(h);
    free(line);
    host[40] = '\x01';
    host[41] = '\0';
    line = access_line(LOG_FORMAT_TEXT, host, "/");
    h = text_field(line, "host", "path");
    assert_int_equal(strlen(h), 163);
    assert_string_equal(h + 160, "...");
    free(h);
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_all_bytes),
        cmocka_unit_test(test_json_all_bytes),
        cmocka_unit_test(test_text_long_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
