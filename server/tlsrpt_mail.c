/*
 * tlsrpt_mail: TLS reports out of mail with GMime (see tlsrpt_mail.h).
 * Every message of the input is walked part by part; a part is a report by
 * its content type or its file name. Memory streams only; no file I/O.
 */
#include "tlsrpt_mail.h"

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tlsrpt_parse.h"

void tlsrpt_mail_init(void)
{
    g_mime_init();
}

void tlsrpt_mail_shutdown(void)
{
    g_mime_shutdown();
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* is_report_part tells a report part by its type, or by its file name
 * when the type is a generic one. */
static bool is_report_part(GMimeObject *part)
{
    GMimeContentType *ct = g_mime_object_get_content_type(part);
    const char *type =
        ct != NULL ? g_mime_content_type_get_media_type(ct) : NULL;
    const char *sub =
        ct != NULL ? g_mime_content_type_get_media_subtype(ct) : NULL;
    if (type == NULL || sub == NULL || strcasecmp(type, "application") != 0)
        return false;
    if (strcasecmp(sub, "tlsrpt+gzip") == 0 ||
        strcasecmp(sub, "tlsrpt+json") == 0)
        return true;
    const char *name = g_mime_part_get_filename(GMIME_PART(part));
    bool generic =
        strcasecmp(sub, "gzip") == 0 || strcasecmp(sub, "x-gzip") == 0 ||
        strcasecmp(sub, "json") == 0 || strcasecmp(sub, "octet-stream") == 0;
    return generic && name != NULL &&
           (ends_with(name, ".json") || ends_with(name, ".gz"));
}

struct walk {
    tlsrpt_mail_fn fn;
    void *ctx;
    struct diag *d;
    size_t max_part;
    unsigned message;
    int in_message; /* parts seen in this message */
    int found;
    bool stop;
};

/* each_part hands one report part over, decoded. */
static void each_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
    struct walk *w = data;
    char where[96];
    (void)parent;
    if (w->stop || !GMIME_IS_PART(part))
        return;
    w->in_message++;
    if (!is_report_part(part))
        return;
    snprintf(where, sizeof(where), "message %u, part %d", w->message,
             w->in_message);
    GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(part));
    if (content == NULL)
        return;
    GMimeStream *mem = g_mime_stream_mem_new();
    gint64 n = g_mime_data_wrapper_write_to_stream(content, mem);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    if (n < 0 || bytes == NULL) {
        diag_add(w->d, DIAG_ERROR, 0, 0, "%s: cannot decode the report", where);
    } else if (bytes->len > w->max_part) {
        diag_add(w->d, DIAG_ERROR, 0, 0,
                 "%s: expected a report of at most %zu bytes, found %u", where,
                 w->max_part, bytes->len);
    } else {
        w->found++;
        if (w->fn(bytes->data, bytes->len, where, w->ctx) < 0)
            w->stop = true;
    }
    g_object_unref(mem);
}

/* looks_like_report: gzip, or JSON (an object, after blanks). */
static bool looks_like_report(const unsigned char *p, size_t len)
{
    if (tlsrpt_is_gzip(p, len))
        return true;
    size_t i = len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    while (i < len &&
           (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i < len && p[i] == '{';
}

int tlsrpt_mail_each(const void *data, size_t len, size_t max_part,
                     tlsrpt_mail_fn fn, void *ctx, struct diag *d)
{
    struct walk w = {fn, ctx, d, max_part, 0, 0, 0, false};
    int rc = -1;
    if (looks_like_report(data, len)) {
        if (len > max_part) {
            diag_add(d, DIAG_ERROR, 0, 0,
                     "expected a report of at most %zu bytes, found %zu",
                     max_part, len);
            return -1;
        }
        return fn(data, len, "the input", ctx) < 0 ? -1 : 1;
    }
    bool mbox = len >= 5 && memcmp(data, "From ", 5) == 0;
    GMimeStream *in = g_mime_stream_mem_new_with_buffer(data, len);
    GMimeParser *p = g_mime_parser_new_with_stream(in);
    g_mime_parser_set_format(p,
                             mbox ? GMIME_FORMAT_MBOX : GMIME_FORMAT_MESSAGE);
    while (!w.stop && !g_mime_parser_eos(p)) {
        GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
        if (msg == NULL)
            break;
        w.message++;
        w.in_message = 0;
        g_mime_message_foreach(msg, each_part, &w);
        g_object_unref(msg);
        if (!mbox)
            break;
    }
    if (w.message == 0) {
        diag_add(d, DIAG_ERROR, 0, 0,
                 "expected a TLS report (JSON or gzip), an email message or "
                 "an mbox, found none of them");
        goto out;
    }
    if (w.stop)
        goto out;
    if (w.found == 0 && diag_errors(d) == 0)
        diag_add(d, DIAG_ERROR, 0, 0,
                 "found %u message%s without a TLS report (no part of type "
                 "application/tlsrpt+gzip or +json, or named *.json or "
                 "*.gz)",
                 w.message, w.message == 1 ? "" : "s");
    rc = w.found;
out:
    g_object_unref(p);
    g_object_unref(in);
    return rc;
}
