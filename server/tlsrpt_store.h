/*
 * tlsrpt_store: the TLS report database of one replica, a SQLite file
 * (WAL, synchronous=FULL) named tlsrpt-<instance>.sqlite3 in the state
 * directory, so that replicas sharing the directory never share a writer.
 * It keeps each report's raw bytes (gzip; JSON is compressed first) and its
 * parsed rows (report, policies, failure details) in a batch: one
 * transaction for the reports added between begin and commit, so each is
 * stored whole or not at all, and all are on disk once the commit
 * returns. A report already stored (same organization-name and report-id)
 * is stored once. It enforces a disk budget and deletes reports past their
 * retention. It does not parse, summarise or speak HTTP. I/O; any thread
 * may call it (one mutex per store serialises the writes, as SQLite would).
 */
#ifndef MTA_STS_TLSRPT_STORE_H
#define MTA_STS_TLSRPT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "diag.h"
#include "tlsrpt_parse.h"

struct tlsrpt_store;

/*
 * TLSRPT_STORE_COUNT_OK(x) is SQL that is true when the stored count x is
 * one the parser lets through: an integer from 0 to TLSRPT_COUNT_MAX
 * (checked against it in tlsrpt_store.c). Readers that sum counts leave
 * other rows out (a version before the cap stored 2^62), so that one row
 * never makes a sum fail.
 */
#define TLSRPT_STORE_COUNT_OK(x)                                               \
    "(typeof(" x ") = 'integer' AND " x " BETWEEN 0 AND 1099511627776)"

enum tlsrpt_store_result {
    TLSRPT_STORE_ADDED,     /* on disk once the batch commits */
    TLSRPT_STORE_DUPLICATE, /* the same report was stored before */
    TLSRPT_STORE_FULL,      /* the disk budget would be passed */
    TLSRPT_STORE_FAILED,    /* an error, in the diagnostics */
};

struct tlsrpt_store_stats {
    int64_t reports, policies, failures;
    int64_t raw_bytes;  /* sum of the stored raw (gzip) reports */
    int64_t used_bytes; /* database pages in use */
};

/*
 * tlsrpt_store_open opens (creating when missing) the database of instance
 * (NULL = this host's name) in state_dir, which it creates (0750) when
 * missing. max_disk caps the bytes the database may use. Returns NULL with
 * the reason in d, naming the directory or file, e.g. when state_dir is not
 * a writable directory.
 */
struct tlsrpt_store *tlsrpt_store_open(const char *state_dir,
                                       const char *instance, size_t max_disk,
                                       struct diag *d);

/* tlsrpt_store_file is the path of instance's database in state_dir
 * (malloc'ed; NULL when out of memory). */
char *tlsrpt_store_file(const char *state_dir, const char *instance);

/*
 * tlsrpt_store_mail_instance names, in out, the database `reports import`
 * writes for a host whose tlsrpt.instance is instance (NULL when not
 * set): "<instance>-mail", or "mail". A file of its own, so that an
 * import never writes to a running server's database. Returns out.
 */
const char *tlsrpt_store_mail_instance(const char *instance, char *out,
                                       size_t outlen);

/* tlsrpt_store_free closes the database; NULL is a no-op. */
void tlsrpt_store_free(struct tlsrpt_store *s);

/* tlsrpt_store_path is the database file's path. */
const char *tlsrpt_store_path(const struct tlsrpt_store *s);

/*
 * tlsrpt_store_begin starts a batch (BEGIN IMMEDIATE) and holds the store
 * until tlsrpt_store_commit, which commits it (one fsync for the whole
 * batch) or, when that fails, rolls it back: then no report of the batch
 * is stored. Both return 0, or -1 with the reason in d.
 */
int tlsrpt_store_begin(struct tlsrpt_store *s, struct diag *d);
int tlsrpt_store_commit(struct tlsrpt_store *s, struct diag *d);

/*
 * tlsrpt_store_add adds report r, parsed from raw[0..raw_len) (gzip or
 * JSON as received), received at now (seconds since the epoch), to the
 * batch begun. A report that fails or is over the budget is left out of
 * the batch; the others stay in it.
 */
enum tlsrpt_store_result tlsrpt_store_add(struct tlsrpt_store *s,
                                          const struct tlsrpt_report *r,
                                          const void *raw, size_t raw_len,
                                          int64_t now, struct diag *d);

/*
 * tlsrpt_store_expire deletes the reports whose date range ended more than
 * days days before now, with their rows. Returns the number deleted, or -1
 * with the reason in d.
 */
int64_t tlsrpt_store_expire(struct tlsrpt_store *s, int64_t now, unsigned days,
                            struct diag *d);

/* tlsrpt_store_stats counts what is stored. Returns 0, or -1. */
int tlsrpt_store_stats(struct tlsrpt_store *s, struct tlsrpt_store_stats *st,
                       struct diag *d);

/*
 * tlsrpt_store_raw copies the raw (gzip) bytes of the report of
 * organization org and id report_id into out (initialised here, capped at
 * max). Returns 1 when found, 0 when not, -1 on error.
 */
int tlsrpt_store_raw(struct tlsrpt_store *s, const char *org,
                     const char *report_id, size_t max, struct buf *out,
                     struct diag *d);

#endif
