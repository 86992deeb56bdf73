/*
 * acme_state: the ACME part of the state directory (see acme_state.h).
 * Paths are built from the state directory and checked names only; JSON
 * is read and written with jansson; the atomic write is the one way any
 * file under acme/ is written.
 */
/* mkostemp (O_CLOEXEC on the temporary file) and F_OFD_SETLK are GNU. */
#define _GNU_SOURCE
#include "acme_state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "dnsname.h"
#include "readfile.h"

#define PATH_LEN 4096
/* The account key and account.json are small; a larger file is not ours. */
#define SMALL_FILE_MAX (64u * 1024)
/* What a lock file says about its holder. */
#define HOLDER_MAX 256

struct acme_state {
    char *state_dir;
};

struct acme_state_lock {
    int fd;
};

/* join writes a "/" b into out; -1 when it does not fit. */
static int join(char *out, size_t outlen, const char *a, const char *b)
{
    int n = snprintf(out, outlen, "%s/%s", a, b);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int acme_state_certs_dir(const char *state_dir, char *out, size_t outlen)
{
    return join(out, outlen, state_dir, ACME_STATE_CERTS);
}

int acme_state_challenges_dir(const char *state_dir, char *out, size_t outlen)
{
    return join(out, outlen, state_dir, ACME_STATE_CHALLENGES);
}

/* ensure_dir makes dir with mode unless it is there already. */
static int ensure_dir(const char *dir, mode_t mode, char *err, size_t errlen)
{
    struct stat sb;
    if (mkdir(dir, mode) == 0 ||
        (errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)))
        return 0;
    snprintf(err, errlen, "%s: creating the directory: %s", dir,
             errno == EEXIST ? "a file of that name is in the way"
                             : strerror(errno));
    return -1;
}

struct acme_state *acme_state_open(const char *state_dir, char *err,
                                   size_t errlen)
{
    static const char *const subdirs[] = {"acme", "acme/certs", "acme/locks",
                                          "acme/schedule",
                                          ACME_STATE_CHALLENGES};
    char path[PATH_LEN];
    struct acme_state *s = NULL;
    if (ensure_dir(state_dir, 0750, err, errlen) < 0)
        return NULL;
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        if (join(path, sizeof(path), state_dir, subdirs[i]) < 0) {
            snprintf(err, errlen, "%s: the path is too long", state_dir);
            return NULL;
        }
        if (ensure_dir(path, 0700, err, errlen) < 0)
            return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->state_dir = strdup(state_dir)) == NULL) {
        free(s);
        snprintf(err, errlen, "%s: out of memory", state_dir);
        return NULL;
    }
    return s;
}

void acme_state_free(struct acme_state *s)
{
    if (s == NULL)
        return;
    free(s->state_dir);
    free(s);
}

/* ---- the atomic write -------------------------------------------------- */

/* sync_dir makes a rename in dir durable. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int acme_state_write(const char *path, const void *data, size_t len,
                     mode_t mode, char *err, size_t errlen)
{
    char tmp[PATH_LEN], dir[PATH_LEN];
    const char *step = "naming the temporary file";
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    size_t dlen = slash != NULL ? (size_t)(slash - path) : 1;
    int fd = -1, rc = -1;
    bool made = false;

    errno = ENAMETOOLONG;
    if (dlen >= sizeof(dir) || base[0] == '\0')
        goto out;
    memcpy(dir, slash != NULL ? path : ".", dlen);
    dir[dlen] = '\0';
    /* A dotfile in the same directory: the rename stays on one file
     * system, and the store and the watcher never take it for a
     * certificate. */
    int n = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.XXXXXX", dir, base);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        goto out;
    step = "creating the temporary file";
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
        goto out;
    made = true;
    step = "setting the mode of the temporary file";
    if (fchmod(fd, mode) < 0)
        goto out;
    step = "writing the temporary file";
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            goto out;
        }
        off += (size_t)w;
    }
    step = "syncing the temporary file";
    if (fsync(fd) < 0)
        goto out;
    step = "closing the temporary file";
    rc = close(fd);
    fd = -1;
    if (rc < 0)
        goto out;
    rc = -1;
    step = "renaming the temporary file into place";
    if (rename(tmp, path) < 0)
        goto out;
    made = false;
    /* From here on the new file is in place; a failed sync only means the
     * rename might not survive a power cut, so it is still reported. */
    step = "syncing the directory";
    if (sync_dir(dir) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        snprintf(err, errlen, "%s: %s: %s", path, step, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (made)
        unlink(tmp);
    return rc;
}

/* ---- certificates and the account -------------------------------------- */

/* checked_name copies name in canonical form (lower case) into out, a host
 * name (domain: at least two labels) or a lock word; -1 with err filled. */
static int checked_name(const char *name, bool domain, char *out, size_t outlen,
                        char *err, size_t errlen)
{
    char why[256];
    size_t len = strlen(name);
    if (dnsname_normalize(name, len, out, outlen) < 0 ||
        dnsname_check(out, strlen(out), domain ? DNSNAME_DOMAIN : 0, NULL, why,
                      sizeof(why)) < 0) {
        snprintf(err, errlen, "\"%.255s\" is not a host name", name);
        return -1;
    }
    return 0;
}

int acme_state_cert_path(const struct acme_state *s, const char *name,
                         enum acme_state_kind k, char *out, size_t outlen,
                         char *err, size_t errlen)
{
    char canon[DNSNAME_MAX + 1];
    if (checked_name(name, true, canon, sizeof(canon), err, errlen) < 0)
        return -1;
    int n =
        snprintf(out, outlen, "%s/%s/%s.%s.pem", s->state_dir, ACME_STATE_CERTS,
                 canon, k == ACME_STATE_RSA ? "rsa" : "ecdsa");
    if (n < 0 || (size_t)n >= outlen) {
        snprintf(err, errlen, "%s: the path is too long", s->state_dir);
        return -1;
    }
    return 0;
}

int acme_state_save_cert(const struct acme_state *s, const char *name,
                         enum acme_state_kind k, const char *chain,
                         size_t chain_len, const char *key, size_t key_len,
                         char *err, size_t errlen)
{
    char path[PATH_LEN];
    char *both = NULL;
    int rc = -1;
    if (acme_state_cert_path(s, name, k, path, sizeof(path), err, errlen) < 0)
        return -1;
    bool nl = chain_len > 0 && chain[chain_len - 1] != '\n';
    both = malloc(chain_len + nl + key_len + 1);
    if (both == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    memcpy(both, chain, chain_len);
    if (nl)
        both[chain_len] = '\n';
    memcpy(both + chain_len + nl, key, key_len);
    rc = acme_state_write(path, both, chain_len + nl + key_len, 0600, err,
                          errlen);
out:
    if (both != NULL)
        memset(both, 0, chain_len + nl + key_len); /* the key */
    free(both);
    return rc;
}

/* read_small reads acme/<rel>: 1 with *data, 0 when it does not exist, -1
 * with err filled. */
static int read_small(const struct acme_state *s, const char *rel, char **data,
                      size_t *len, char *err, size_t errlen)
{
    char path[PATH_LEN];
    if (join(path, sizeof(path), s->state_dir, rel) < 0) {
        snprintf(err, errlen, "%s: the path is too long", s->state_dir);
        return -1;
    }
    if (readfile(path, SMALL_FILE_MAX, data, len, err, errlen) < 0)
        return errno == ENOENT ? 0 : -1;
    if (*len > SMALL_FILE_MAX) {
        snprintf(err, errlen,
                 "%s: larger than %u bytes; not an ACME state file", path,
                 SMALL_FILE_MAX);
        free(*data);
        *data = NULL;
        return -1;
    }
    return 1;
}

static int write_small(const struct acme_state *s, const char *rel,
                       const char *data, size_t len, char *err, size_t errlen)
{
    char path[PATH_LEN];
    if (join(path, sizeof(path), s->state_dir, rel) < 0) {
        snprintf(err, errlen, "%s: the path is too long", s->state_dir);
        return -1;
    }
    return acme_state_write(path, data, len, 0600, err, errlen);
}

int acme_state_load_account_key(const struct acme_state *s, char **pem,
                                size_t *len, char *err, size_t errlen)
{
    return read_small(s, "acme/account.key", pem, len, err, errlen);
}

int acme_state_save_account_key(const struct acme_state *s, const char *pem,
                                size_t len, char *err, size_t errlen)
{
    return write_small(s, "acme/account.key", pem, len, err, errlen);
}

/* load_accounts reads account.json into a new object (an empty one when
 * the file does not exist); NULL with err filled. */
static json_t *load_accounts(const struct acme_state *s, char *err,
                             size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    json_error_t je;
    json_t *root = NULL, *ret = NULL;
    int r = read_small(s, "acme/account.json", &data, &len, err, errlen);
    if (r < 0)
        goto out;
    if (r == 0) {
        ret = json_pack("{s:{}}", "accounts");
        if (ret == NULL)
            snprintf(err, errlen, "account.json: out of memory");
        goto out;
    }
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s/acme/account.json:%d:%d: %s", s->state_dir,
                 je.line, je.column, je.text);
        goto out;
    }
    json_t *acc = json_object_get(root, "accounts");
    if (!json_is_object(root) || !json_is_object(acc)) {
        snprintf(err, errlen,
                 "%s/acme/account.json: expected {\"accounts\": {\"<directory "
                 "URL>\": \"<account URL>\"}}",
                 s->state_dir);
        goto out;
    }
    ret = root;
    root = NULL;
out:
    json_decref(root);
    free(data);
    return ret;
}

int acme_state_account_url(const struct acme_state *s, const char *directory,
                           char **url, char *err, size_t errlen)
{
    json_t *root = load_accounts(s, err, errlen);
    int rc = -1;
    *url = NULL;
    if (root == NULL)
        return -1;
    json_t *v = json_object_get(json_object_get(root, "accounts"), directory);
    if (v == NULL) {
        rc = 0;
    } else if (!json_is_string(v)) {
        snprintf(err, errlen,
                 "%s/acme/account.json: the account of %s is not a string",
                 s->state_dir, directory);
    } else if ((*url = strdup(json_string_value(v))) == NULL) {
        snprintf(err, errlen, "account.json: out of memory");
    } else {
        rc = 1;
    }
    json_decref(root);
    return rc;
}

int acme_state_set_account_url(const struct acme_state *s,
                               const char *directory, const char *url,
                               char *err, size_t errlen)
{
    json_t *root = load_accounts(s, err, errlen);
    char *text = NULL;
    int rc = -1;
    if (root == NULL)
        return -1;
    if (json_object_set_new(json_object_get(root, "accounts"), directory,
                            json_string(url)) < 0 ||
        (text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
        snprintf(err, errlen, "account.json: out of memory (or not UTF-8)");
        goto out;
    }
    rc = write_small(s, "acme/account.json", text, strlen(text), err, errlen);
out:
    free(text);
    json_decref(root);
    return rc;
}

/* ---- certificates and schedule records ---------------------------------- */

int acme_state_load_cert(const struct acme_state *s, const char *name,
                         enum acme_state_kind k, char **pem, size_t *len,
                         char *err, size_t errlen)
{
    char path[PATH_LEN];
    *pem = NULL;
    if (acme_state_cert_path(s, name, k, path, sizeof(path), err, errlen) < 0)
        return -1;
    if (readfile(path, ACME_STATE_CERT_MAX, pem, len, err, errlen) < 0)
        return errno == ENOENT ? 0 : -1;
    if (*len > ACME_STATE_CERT_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path,
                 ACME_STATE_CERT_MAX);
        free(*pem);
        *pem = NULL;
        return -1;
    }
    return 1;
}

/* sched_rel writes acme/schedule/<name>.<kind>.json into out. */
static int sched_rel(const char *name, enum acme_state_kind k, char *out,
                     size_t outlen, char *err, size_t errlen)
{
    char canon[DNSNAME_MAX + 1];
    if (checked_name(name, true, canon, sizeof(canon), err, errlen) < 0)
        return -1;
    int n = snprintf(out, outlen, "acme/schedule/%s.%s.json", canon,
                     k == ACME_STATE_RSA ? "rsa" : "ecdsa");
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* The members of a schedule record, in struct acme_sched_name. */
static const struct {
    const char *key;
    size_t off;
} sched_times[] = {
    {"failed_at", offsetof(struct acme_sched_name, failed_at)},
    {"window_start", offsetof(struct acme_sched_name, window_start)},
    {"window_end", offsetof(struct acme_sched_name, window_end)},
    {"renew_at", offsetof(struct acme_sched_name, renew_at)},
    {"ari_next", offsetof(struct acme_sched_name, ari_next)},
};
#define N_SCHED_TIMES (sizeof(sched_times) / sizeof(sched_times[0]))

int acme_state_load_sched(const struct acme_state *s, const char *name,
                          enum acme_state_kind k, struct acme_sched_name *n,
                          char *last_error, size_t last_len, char *err,
                          size_t errlen)
{
    char rel[PATH_LEN], *data = NULL;
    size_t len = 0;
    json_error_t je;
    json_t *root = NULL;
    int rc = -1;
    if (sched_rel(name, k, rel, sizeof(rel), err, errlen) < 0)
        return -1;
    int r = read_small(s, rel, &data, &len, err, errlen);
    if (r <= 0)
        return r;
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL || !json_is_object(root)) {
        snprintf(err, errlen, "%s/%s:%d:%d: %s", s->state_dir, rel,
                 root == NULL ? je.line : 1, root == NULL ? je.column : 1,
                 root == NULL ? je.text : "expected an object");
        goto out;
    }
    json_t *f = json_object_get(root, "failures");
    if (!json_is_integer(f) || json_integer_value(f) < 0 ||
        json_integer_value(f) > 1000000) {
        snprintf(err, errlen, "%s/%s: failures: expected a count", s->state_dir,
                 rel);
        goto out;
    }
    n->failures = (unsigned)json_integer_value(f);
    for (size_t i = 0; i < N_SCHED_TIMES; i++) {
        json_t *v = json_object_get(root, sched_times[i].key);
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(err, errlen, "%s/%s: %s: expected a Unix time",
                     s->state_dir, rel, sched_times[i].key);
            goto out;
        }
        *(int64_t *)((char *)n + sched_times[i].off) = json_integer_value(v);
    }
    json_t *le = json_object_get(root, "last_error");
    snprintf(last_error, last_len, "%s",
             json_is_string(le) ? json_string_value(le) : "");
    rc = 1;
out:
    json_decref(root);
    free(data);
    return rc;
}

int acme_state_save_sched(const struct acme_state *s, const char *name,
                          enum acme_state_kind k,
                          const struct acme_sched_name *n,
                          const char *last_error, char *err, size_t errlen)
{
    char rel[PATH_LEN], *text = NULL;
    int rc = -1;
    if (sched_rel(name, k, rel, sizeof(rel), err, errlen) < 0)
        return -1;
    json_t *root = json_pack("{s:I,s:s}", "failures", (json_int_t)n->failures,
                             "last_error", last_error);
    for (size_t i = 0; root != NULL && i < N_SCHED_TIMES; i++)
        if (json_object_set_new(
                root, sched_times[i].key,
                json_integer(*(const int64_t *)((const char *)n +
                                                sched_times[i].off))) < 0) {
            json_decref(root);
            root = NULL;
        }
    if (root == NULL ||
        (text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
        snprintf(err, errlen, "%s: out of memory (or not UTF-8)", rel);
        goto out;
    }
    rc = write_small(s, rel, text, strlen(text), err, errlen);
out:
    free(text);
    json_decref(root);
    return rc;
}

/* ---- locks ------------------------------------------------------------- */

/* holder_of reads what a lock file says about its holder into why. */
static void holder_of(int fd, const char *name, char *why, size_t whylen)
{
    char text[HOLDER_MAX];
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    if (n <= 0) {
        snprintf(why, whylen, "%s is being ordered by another instance", name);
        return;
    }
    text[n] = '\0';
    text[strcspn(text, "\n")] = '\0';
    snprintf(why, whylen, "%s is being ordered by %s", name, text);
}

int acme_state_lock(const struct acme_state *s, const char *name,
                    struct acme_state_lock **out, char *why, size_t whylen)
{
    char canon[DNSNAME_MAX + 1], path[PATH_LEN], text[HOLDER_MAX];
    char host[HOST_NAME_MAX + 1] = "?", when[32];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    struct acme_state_lock *l = NULL;
    const char *step = "opening";
    int fd = -1, rc = -1;

    *out = NULL;
    if (checked_name(name, false, canon, sizeof(canon), why, whylen) < 0)
        return -1;
    int n = snprintf(path, sizeof(path), "%s/acme/locks/%s.lock", s->state_dir,
                     canon);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        snprintf(why, whylen, "%s: the path is too long", s->state_dir);
        return -1;
    }
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        goto out;
    step = "locking";
    /* An open-file-description lock belongs to this descriptor: another
     * thread of this process conflicts with it too, and it goes away
     * with the descriptor, also when the process dies. */
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        if (errno != EAGAIN && errno != EACCES)
            goto out;
        holder_of(fd, canon, why, whylen);
        rc = 1;
        goto out;
    }
    step = "recording the holder in";
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    gethostname(host, sizeof(host) - 1);
    int tl = snprintf(text, sizeof(text), "pid %ld on host %s since %s\n",
                      (long)getpid(), host, when);
    if (tl < 0 || (size_t)tl >= sizeof(text))
        tl = (int)strlen(text);
    /* What a dead holder wrote is replaced: its lock went with it. */
    if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)tl, 0) != tl)
        goto out;
    if ((l = malloc(sizeof(*l))) == NULL) {
        errno = ENOMEM;
        goto out;
    }
    l->fd = fd;
    fd = -1;
    *out = l;
    rc = 0;
out:
    if (rc < 0)
        snprintf(why, whylen, "%s: %s the lock file: %s", path, step,
                 strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

void acme_state_unlock(struct acme_state_lock *l)
{
    if (l == NULL)
        return;
    /* The holder's line stays: it is only read while someone holds the
     * lock, and every holder writes its own first. */
    close(l->fd);
    free(l);
}
