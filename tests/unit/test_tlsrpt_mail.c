/*
 * test_tlsrpt_mail: finding TLS reports in mail (server/tlsrpt_mail.c):
 * a report given as is (JSON, gzip), a message with a base64 gzip
 * attachment (RFC 8460 §5.3), a JSON part, parts named *.json.gz but typed
 * generically, an mbox of several messages, a message without a report,
 * text that is no mail, and the size cap per part. The messages are
 * written here; GMime decodes them. No I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "tlsrpt_mail.h"
#include "tlsrpt_parse.h"

static const char report_json[] =
    "{\"organization-name\": \"Company-X\", \"contact-info\": \"c@x\", "
    "\"report-id\": \"mail-1\", \"date-range\": {\"start-datetime\": "
    "\"2016-04-01T00:00:00Z\", \"end-datetime\": \"2016-04-01T23:59:59Z\"}, "
    "\"policies\": [{\"policy\": {\"policy-type\": \"sts\", "
    "\"policy-domain\": \"example.com\"}, \"summary\": "
    "{\"total-successful-session-count\": 1, "
    "\"total-failure-session-count\": 0}}]}";

struct found {
    int n;
    char where[4][96];
    size_t len[4];
    int parsed; /* how many parsed as reports */
};

static int collect(const void *report, size_t len, const char *where, void *ctx)
{
    struct found *f = ctx;
    struct diag d;
    if (f->n < 4) {
        snprintf(f->where[f->n], sizeof(f->where[f->n]), "%s", where);
        f->len[f->n] = len;
    }
    f->n++;
    diag_init(&d, where);
    struct tlsrpt_report *r = tlsrpt_parse(report, len, NULL, &d);
    f->parsed += r != NULL;
    tlsrpt_report_free(r);
    diag_free(&d);
    return 0;
}

/* b64 renders data as base64 lines of 76 characters. */
static void b64(struct buf *b, const unsigned char *p, size_t n)
{
    static const char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {t[v >> 18], t[(v >> 12) & 63],
                     i + 1 < n ? t[(v >> 6) & 63] : '=',
                     i + 2 < n ? t[v & 63] : '='};
        buf_append(b, q, 4);
        col += 4;
        if (col >= 76) {
            buf_puts(b, "\n");
            col = 0;
        }
    }
    buf_puts(b, "\n");
}

/* message appends one message with a report part of the given type and
 * file name, gzip or JSON, base64. */
static void message(struct buf *b, const char *id, const char *type,
                    const char *name, int gz)
{
    struct buf z;
    buf_printf(b,
               "From: tlsrpt@sender.example\nTo: tls@example.com\n"
               "Subject: Report Domain: example.com Submitter: sender "
               "Report-ID: <%s>\nTLS-Report-Domain: example.com\n"
               "TLS-Report-Submitter: sender.example\nMIME-Version: 1.0\n"
               "Content-Type: multipart/report; report-type=tlsrpt; "
               "boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\n"
               "This is a TLS report.\n\n--b1\nContent-Type: %s\n"
               "Content-Disposition: attachment; filename=\"%s\"\n"
               "Content-Transfer-Encoding: base64\n\n",
               id, type, name);
    if (gz) {
        assert_int_equal(
            tlsrpt_deflate(report_json, strlen(report_json), 1 << 20, &z), 0);
        b64(b, (const unsigned char *)z.data, z.len);
        buf_free(&z);
    } else {
        b64(b, (const unsigned char *)report_json, strlen(report_json));
    }
    buf_puts(b, "--b1--\n");
}

static int run(const char *data, size_t len, size_t cap, struct found *f,
               struct diag *d)
{
    memset(f, 0, sizeof(*f));
    diag_init(d, "input");
    return tlsrpt_mail_each(data, len, cap, collect, f, d);
}

static void test_as_is(void **state)
{
    (void)state;
    struct found f;
    struct diag d;
    struct buf z;
    assert_int_equal(run(report_json, strlen(report_json), 1 << 20, &f, &d), 1);
    assert_int_equal(f.parsed, 1);
    assert_string_equal(f.where[0], "the input");
    diag_free(&d);
    assert_int_equal(
        tlsrpt_deflate(report_json, strlen(report_json), 1 << 20, &z), 0);
    assert_int_equal(run(z.data, z.len, 1 << 20, &f, &d), 1);
    assert_int_equal(f.parsed, 1);
    assert_int_equal(f.len[0], z.len); /* still gzip: parsing inflates */
    diag_free(&d);
    /* The cap holds for a report given as is. */
    assert_int_equal(run(z.data, z.len, 10, &f, &d), -1);
    assert_int_equal(f.n, 0);
    diag_free(&d);
    buf_free(&z);
}

static void test_messages(void **state)
{
    (void)state;
    struct found f;
    struct diag d;
    struct buf b;
    static const struct {
        const char *type, *name;
        int gz, found;
    } cases[] = {
        {"application/tlsrpt+gzip", "sender!example.com!1!2!r.json.gz", 1, 1},
        {"application/tlsrpt+json", "r.json", 0, 1},
        {"application/gzip", "sender!example.com.json.gz", 1, 1},
        {"application/octet-stream", "report.json", 0, 1},
        {"application/octet-stream", "report.pdf", 0, 0},
        {"image/png", "report.json.gz", 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_init(&b, 1 << 20);
        message(&b, "r1", cases[i].type, cases[i].name, cases[i].gz);
        int n = run(b.data, b.len, 1 << 20, &f, &d);
        if (cases[i].found) {
            assert_int_equal(n, 1);
            assert_int_equal(f.parsed, 1);
            assert_string_equal(f.where[0], "message 1, part 2");
        } else {
            assert_int_equal(n, 0);
            assert_non_null(strstr(d.entries[0].msg, "without a TLS report"));
        }
        diag_free(&d);
        buf_free(&b);
    }
}

static void test_mbox(void **state)
{
    (void)state;
    struct found f;
    struct diag d;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 3; i++) {
        buf_printf(&b, "From tlsrpt@sender.example Mon Jan  1 00:00:0%d 2024\n",
                   i);
        message(&b, i == 1 ? "r2" : "r1", "application/tlsrpt+gzip", "r.gz", 1);
        buf_puts(&b, "\n");
    }
    assert_int_equal(run(b.data, b.len, 1 << 20, &f, &d), 3);
    assert_int_equal(f.parsed, 3);
    assert_string_equal(f.where[2], "message 3, part 2");
    diag_free(&d);
    /* The cap per part: every part is skipped, with a reason. */
    assert_int_equal(run(b.data, b.len, 16, &f, &d), 0);
    assert_int_equal(f.n, 0);
    assert_int_equal(diag_errors(&d), 3);
    assert_non_null(strstr(d.entries[0].msg, "at most 16 bytes"));
    diag_free(&d);
    buf_free(&b);
}

static void test_not_mail(void **state)
{
    (void)state;
    struct found f;
    struct diag d;
    static const char plain[] = "Subject: hello\n\njust text\n";
    assert_int_equal(run(plain, strlen(plain), 1 << 20, &f, &d), 0);
    assert_int_equal(f.n, 0);
    assert_non_null(strstr(d.entries[0].msg, "1 message without a TLS report"));
    diag_free(&d);
    assert_int_equal(run("", 0, 1 << 20, &f, &d), -1);
    diag_free(&d);
}

static int setup(void **state)
{
    (void)state;
    tlsrpt_mail_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tlsrpt_mail_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_as_is),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_mbox),
        cmocka_unit_test(test_not_mail),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
