/*
 * check_parse: the pure half of `check`. It reads what DNS answered the way
 * a sending MTA does: the character-strings of a TXT record joined into one
 * string, a domain name from its wire form (an MX target), the `_mta-sts`
 * record set (RFC 8461 §3.1: exactly one record starting "v=STSv1", its id
 * and extension fields), the `_smtp._tls` record set (RFC 8460 §3:
 * "v=TLSRPTv1" and its rua URIs) and whether a policy's mx patterns cover
 * the MX hosts of a domain (RFC 8461 §4.1), and SMTP replies (RFC 5321
 * §4.2, the STARTTLS keyword of RFC 3207). Messages say what was expected
 * and what was found. It does not resolve anything and prints nothing.
 * Pure: no I/O, no logging, no globals; any thread may call it.
 */
#ifndef MTA_STS_CHECK_PARSE_H
#define MTA_STS_CHECK_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

#define CHECK_ERR_MAX 320
/* A TXT record's rdata is at most 65,535 bytes, so its joined text is
 * shorter; a domain name in text form is at most 253 characters. */
#define CHECK_NAME_MAX 256

/*
 * check_txt_join joins the character-strings of one TXT rdata[0..len)
 * (each a length byte and that many bytes) into out (outlen bytes, NUL
 * added) and returns the number of bytes written, or -1 with the reason in
 * err: a string running past the end, a NUL byte in the text, or out too
 * small (rdata len bytes always fit in len + 1).
 */
long check_txt_join(const unsigned char *rdata, size_t len, char *out,
                    size_t outlen, char *err, size_t errlen);

/*
 * check_wire_name renders the uncompressed wire-form domain name at
 * wire[0..len) (length-prefixed labels ending in the root label) as text
 * in lower case without the root dot into out (CHECK_NAME_MAX bytes); the
 * root itself is ".". *used, when not NULL, gets the bytes consumed.
 * Returns 0, or -1 with the reason in err: a compression pointer, a label
 * past the end, a missing root label, a name over 253 characters, or a
 * byte that is not a letter, digit, '-' or '_' in a label.
 */
int check_wire_name(const unsigned char *wire, size_t len,
                    char out[CHECK_NAME_MAX], size_t *used, char *err,
                    size_t errlen);

/* What a record set said (`_mta-sts` or `_smtp._tls`). */
enum check_rec_status {
    CHECK_REC_OK,      /* exactly one record of the version, valid */
    CHECK_REC_NONE,    /* no record starts with the version tag */
    CHECK_REC_MANY,    /* more than one does */
    CHECK_REC_INVALID, /* one does, and it does not parse */
};

/* check_rec_status_name returns "ok", "none", "many" or "invalid". */
const char *check_rec_status_name(enum check_rec_status s);

struct check_sts {
    enum check_rec_status status;
    char id[POLICY_ID_MAX + 1]; /* with CHECK_REC_OK */
    size_t n_ext;               /* extension fields seen */
    size_t n_records;           /* records starting "v=STSv1" */
    char err[CHECK_ERR_MAX];    /* with NONE, MANY, INVALID */
};

/*
 * check_sts_select reads the TXT records recs[0..n) (joined text, lens[i]
 * bytes each) of `_mta-sts.<domain>` as a sender does: records not
 * starting "v=STSv1" are discarded; exactly one must remain, and it must
 * follow the grammar of RFC 8461 §3.1 (fields separated by ';' with
 * optional blanks, "id=" of 1 to 32 letters and digits exactly once,
 * extensions `name=value`). The verdict and its reason go into out.
 */
void check_sts_select(const char *const *recs, const size_t *lens, size_t n,
                      struct check_sts *out);

#define CHECK_RUA_MAX 16

struct check_tlsrpt {
    enum check_rec_status status;
    size_t n_rua;     /* with CHECK_REC_OK: rua URIs (at most MAX kept) */
    size_t n_records; /* records starting "v=TLSRPTv1" */
    char err[CHECK_ERR_MAX];
};

/*
 * check_tlsrpt_select does the same for `_smtp._tls.<domain>` (RFC 8460
 * §3): records not starting "v=TLSRPTv1" are discarded, exactly one must
 * remain, with exactly one "rua=" field of comma-separated mailto: or
 * https: URIs (each checked by config_check_rua; at most CHECK_RUA_MAX)
 * and extensions `name=value`.
 */
void check_tlsrpt_select(const char *const *recs, const size_t *lens, size_t n,
                         struct check_tlsrpt *out);

/*
 * check_mx_cover compares the MX hosts of a domain (mx[0..n_mx), names)
 * with a policy's mx patterns (pat[0..n_pat)). mx_covered[i] tells whether
 * host i is matched by a pattern (dnsname_match: exact, or "*." plus one
 * label); pat_used[j] whether pattern j matches a host. Returns the number
 * of problems: hosts not covered plus non-wildcard patterns that name no
 * MX host (an unused wildcard is the caller's warning, not counted).
 */
size_t check_mx_cover(const char *const *mx, size_t n_mx,
                      const char *const *pat, size_t n_pat, bool *mx_covered,
                      bool *pat_used);

/* What an SMTP reply said (RFC 5321 §4.2). */
struct check_smtp_reply {
    int code;      /* 200..599 */
    bool starttls; /* an EHLO reply line announcing STARTTLS */
    size_t used;   /* bytes of the whole reply, its last CRLF included */
};

/*
 * check_smtp_reply reads one reply from buf[0..len): lines of a 3-digit
 * code, '-' (more lines follow) or ' ' (the last) or nothing, and text,
 * each ending in CRLF (a bare LF is taken too), the same code on every
 * line. Returns 1 when a whole reply is there (out set), 0 when more bytes
 * are needed, or -1 with the reason in err when it is not an SMTP reply.
 */
int check_smtp_reply(const char *buf, size_t len, struct check_smtp_reply *out,
                     char *err, size_t errlen);

/*
 * check_resolver_addr turns a `--resolver` value (an IPv4 address, an
 * IPv6 address, "ADDR:PORT" or "[IPv6]:PORT") into libunbound's
 * "ADDR@PORT" form in out. The address must be a numeric IP address and
 * the port 1 to 65535. Returns 0, or -1 with the reason in err.
 */
int check_resolver_addr(const char *in, char *out, size_t outlen, char *err,
                        size_t errlen);

#endif
