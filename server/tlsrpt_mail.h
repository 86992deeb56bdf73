/*
 * tlsrpt_mail: find the TLS reports in what `reports import` is given:
 * a report itself (JSON, or gzip by its magic bytes), one email message,
 * or an mbox of several. Most senders mail their reports (RFC 8460 §5.3):
 * a MIME part of type application/tlsrpt+gzip or application/tlsrpt+json,
 * usually base64. GMime parses the messages and decodes the parts; this
 * module only picks the parts that are reports (by type, or by a file name
 * ending in .json or .gz, as some senders label them application/gzip or
 * application/octet-stream). It does not parse or store the reports.
 * Memory in, memory out (GMime streams over memory); tlsrpt_mail_init and
 * _shutdown are GMime's process-wide set-up, for the main thread.
 */
#ifndef MTA_STS_TLSRPT_MAIL_H
#define MTA_STS_TLSRPT_MAIL_H

#include <stddef.h>

#include "diag.h"

/* tlsrpt_mail_init / tlsrpt_mail_shutdown wrap g_mime_init/_shutdown. */
void tlsrpt_mail_init(void);
void tlsrpt_mail_shutdown(void);

/*
 * A found report: its bytes (decoded from the MIME transfer encoding, still
 * gzip or JSON) and where it was found ("message 2, part 3"), both valid
 * during the call. Return 0 to go on, -1 to stop.
 */
typedef int (*tlsrpt_mail_fn)(const void *report, size_t len, const char *where,
                              void *ctx);

/*
 * tlsrpt_mail_each calls fn for every report in data[0..len): the data
 * itself when it is one, else every report part of the message or of each
 * message of the mbox (data starting with "From "). A part that decodes to
 * more than max_part bytes is skipped with an error in d, and messages
 * without a report are an error in d too. Returns the number of reports
 * found, or -1 when the data is neither a report nor a message (reason in
 * d) or fn stopped.
 */
int tlsrpt_mail_each(const void *data, size_t len, size_t max_part,
                     tlsrpt_mail_fn fn, void *ctx, struct diag *d);

#endif
