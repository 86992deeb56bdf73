/*
 * acme_state: what ACME keeps in the state directory, and how it is
 * written. The layout under state_dir:
 *
 *   acme/account.key          the account key (PEM), mode 0600
 *   acme/account.json         {"accounts": {"<directory URL>": "<account
 * URL>"}} acme/certs/<name>.ecdsa.pem, acme/certs/<name>.rsa.pem an issued
 * certificate: the chain (leaf first), then its key, in one file, mode 0600, so
 * that one rename replaces both at once; the store loads these like cert_dir's
 * <stem>.pem acme/locks/<name>.lock    one lock per name being ordered
 * acme/schedule/<name>.{ecdsa,rsa}.json  the ACME thread's schedule of that
 * certificate (failures, the last error, the renewal window and the time
 * picked in it), so that a restart keeps it
 * acme/challenges/http-01.<name>.<token>, acme/challenges/tls-alpn-01.<name>
 * a pending challenge's key authorization, mode 0600, written by the
 * replica that orders for the others to answer with (acme_chal_share)
 *
 * Every write is atomic: a temporary file in the same directory (a
 * dotfile, which the store never loads), fsync, rename over the target,
 * fsync of the directory; a crash at any point leaves the old file or the
 * new one. Locks are fcntl open-file-description locks on the lock file:
 * the kernel (or the NFS lock manager) releases them when the holder dies,
 * so a lock left by a dead process is recovered by simply being taken; the
 * file says who holds it (pid, host, since when) for the message of a
 * waiting instance. Lock files are never removed (removing one would let
 * two holders lock two different files of one name). They need a file
 * system with POSIX locks: local ones, NFSv4 (and NFSv3 with lockd),
 * CephFS and EFS have them; some FUSE and SMB mounts do not, and there
 * two replicas may order the same name at once.
 * It does not talk to the CA; any thread (each call stands alone).
 */
#ifndef MTA_STS_ACME_STATE_H
#define MTA_STS_ACME_STATE_H

#include <stddef.h>
#include <sys/types.h>

#include "acme_sched.h"

#define ACME_STATE_CERTS "acme/certs"
/* The pending challenge answers shared by replicas (acme_chal_share). */
#define ACME_STATE_CHALLENGES "acme/challenges"

enum acme_state_kind { ACME_STATE_ECDSA, ACME_STATE_RSA };

/* acme_state_certs_dir writes state_dir's issued-certificate directory
 * (what the store and the watcher read) into out; 0, or -1 when it does
 * not fit. */
int acme_state_certs_dir(const char *state_dir, char *out, size_t outlen);

/* acme_state_challenges_dir writes state_dir's shared challenge directory
 * into out; 0, or -1 when it does not fit. */
int acme_state_challenges_dir(const char *state_dir, char *out, size_t outlen);

struct acme_state;

/*
 * acme_state_open makes sure state_dir/acme, acme/certs, acme/challenges and
 * acme/locks exist (mode 0700 when made; state_dir itself 0750, as the report
 * database makes it) and returns the layout. NULL with err filled.
 */
struct acme_state *acme_state_open(const char *state_dir, char *err,
                                   size_t errlen);
void acme_state_free(struct acme_state *s);

/*
 * acme_state_write replaces path atomically with data[0..len) and mode
 * (see above). Returns 0, or -1 with the step, the path and the system's
 * reason in err; path is then as it was.
 */
int acme_state_write(const char *path, const void *data, size_t len,
                     mode_t mode, char *err, size_t errlen);

/* acme_state_cert_path writes the file of name's certificate of kind k
 * into out; 0, or -1 with err filled (a name that is no host name). */
int acme_state_cert_path(const struct acme_state *s, const char *name,
                         enum acme_state_kind k, char *out, size_t outlen,
                         char *err, size_t errlen);

/* acme_state_save_cert writes name's certificate of kind k: the chain
 * (PEM, leaf first) and its key (PEM) as one file, atomically. */
int acme_state_save_cert(const struct acme_state *s, const char *name,
                         enum acme_state_kind k, const char *chain,
                         size_t chain_len, const char *key, size_t key_len,
                         char *err, size_t errlen);

/* acme_state_load_account_key reads the account key into *pem (freed by
 * the caller). Returns 1, 0 when there is none yet, -1 with err filled. */
int acme_state_load_account_key(const struct acme_state *s, char **pem,
                                size_t *len, char *err, size_t errlen);
/* acme_state_save_account_key writes it, mode 0600. */
int acme_state_save_account_key(const struct acme_state *s, const char *pem,
                                size_t len, char *err, size_t errlen);

/*
 * acme_state_account_url finds the account URL recorded for the directory
 * URL into *url (freed by the caller). Returns 1, 0 when none is
 * recorded, -1 with err filled (an unreadable or malformed account.json,
 * named with line and column).
 */
int acme_state_account_url(const struct acme_state *s, const char *directory,
                           char **url, char *err, size_t errlen);
/* acme_state_set_account_url records it (the others stay). */
int acme_state_set_account_url(const struct acme_state *s,
                               const char *directory, const char *url,
                               char *err, size_t errlen);

/* The largest issued-certificate file read back (chain and key). */
#define ACME_STATE_CERT_MAX (1024u * 1024)

/* acme_state_load_cert reads name's certificate file of kind k into *pem
 * (freed by the caller). Returns 1, 0 when there is none, -1 with err
 * filled. */
int acme_state_load_cert(const struct acme_state *s, const char *name,
                         enum acme_state_kind k, char **pem, size_t *len,
                         char *err, size_t errlen);

/*
 * acme_state_load_sched reads the schedule record of name's certificate of
 * kind k into *n (its times and failures; the validity is not stored: it is
 * the certificate's) and the last error into last_error. Returns 1, 0 when
 * there is none (n untouched), -1 with err filled (file:line:col).
 */
int acme_state_load_sched(const struct acme_state *s, const char *name,
                          enum acme_state_kind k, struct acme_sched_name *n,
                          char *last_error, size_t last_len, char *err,
                          size_t errlen);
/* acme_state_save_sched writes it, atomically. */
int acme_state_save_sched(const struct acme_state *s, const char *name,
                          enum acme_state_kind k,
                          const struct acme_sched_name *n,
                          const char *last_error, char *err, size_t errlen);

struct acme_state_lock;

/*
 * acme_state_lock takes the lock of name (a host name, or a word such as
 * "account") without waiting. Returns 0 with *out set; 1 when another
 * process or thread holds it, with the holder in why ("pid 12 on host a
 * since 2026-12-01T10:00:00Z"); -1 with the reason in why.
 */
int acme_state_lock(const struct acme_state *s, const char *name,
                    struct acme_state_lock **out, char *why, size_t whylen);
/* acme_state_unlock releases a lock; NULL is a no-op. */
void acme_state_unlock(struct acme_state_lock *l);

#endif
