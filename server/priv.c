/*
 * priv: dropping root and naming the running user (see priv.h). Uses the
 * reentrant passwd/group calls so that priv_whoami may run on the watcher
 * thread while main does something else. No globals, no logging.
 */
/* getresuid and getresgid, to check the saved ids too, are GNU. */
#define _GNU_SOURCE
#include "priv.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Enough for any passwd entry in practice; getpwnam_r says ERANGE if not. */
#define PRIV_PWBUF 4096
/* The kernel's NGROUPS_MAX is 65536; a service user in more than this many
 * groups is a mistake worth a clear error rather than a huge buffer. */
#define PRIV_GROUPS_MAX 256

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int priv_lookup(const char *name, struct priv_user *out, char *err,
                size_t errlen)
{
    char buf[PRIV_PWBUF];
    struct passwd pw, *res = NULL;
    memset(out, 0, sizeof(*out));
    int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
    if (res == NULL && all_digits(name)) {
        /* A numeric uid, as container runtimes use; it may have no passwd
         * entry, and then its group is the number as well. */
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(name, &end, 10);
        if (errno != 0 || *end != '\0' || v > 0x7fffffffUL) {
            snprintf(err, errlen, "uid %s is out of range", name);
            return -1;
        }
        rc = getpwuid_r((uid_t)v, &pw, buf, sizeof(buf), &res);
        if (res == NULL) {
            out->uid = (uid_t)v;
            out->gid = (gid_t)v;
            snprintf(out->name, sizeof(out->name), "%s", name);
            return 0;
        }
    }
    if (res == NULL) {
        if (rc != 0)
            snprintf(err, errlen, "looking up user \"%s\": %s", name,
                     strerror(rc));
        else
            snprintf(err, errlen, "no such user \"%s\" (see /etc/passwd)",
                     name);
        return -1;
    }
    int n = snprintf(out->name, sizeof(out->name), "%s", res->pw_name);
    if (n < 0 || (size_t)n >= sizeof(out->name)) {
        snprintf(err, errlen, "user name \"%s\" is too long", name);
        return -1;
    }
    out->uid = res->pw_uid;
    out->gid = res->pw_gid;
    out->in_passwd = true;
    return 0;
}

/* set_groups installs u's supplementary groups, leaving out the primary
 * group: it is the gid anyway, and a process of `nobody` then shows no
 * supplementary groups at all. */
static int set_groups(const struct priv_user *u, char *err, size_t errlen)
{
    gid_t groups[PRIV_GROUPS_MAX];
    int n = PRIV_GROUPS_MAX;
    size_t k = 0;
    if (u->in_passwd) {
        if (getgrouplist(u->name, u->gid, groups, &n) < 0) {
            snprintf(err, errlen,
                     "user %s is in more than %d groups; refusing to guess "
                     "which to keep",
                     u->name, PRIV_GROUPS_MAX);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (groups[i] != u->gid)
                groups[k++] = groups[i];
    }
    if (setgroups(k, k > 0 ? groups : NULL) < 0) {
        snprintf(err, errlen, "setgroups for %s: %s", u->name, strerror(errno));
        return -1;
    }
    return 0;
}

int priv_drop(const struct priv_user *u, char *err, size_t errlen)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (u->uid == 0 || u->gid == 0) {
        snprintf(err, errlen,
                 "user %s has uid %u gid %u; choose an unprivileged user",
                 u->name, (unsigned)u->uid, (unsigned)u->gid);
        return -1;
    }
    /* Groups first and uid last: once the uid is gone, changing groups is
     * no longer allowed. glibc applies each call to every thread. */
    if (set_groups(u, err, errlen) < 0)
        return -1;
    if (setgid(u->gid) < 0) {
        snprintf(err, errlen, "setgid(%u): %s", (unsigned)u->gid,
                 strerror(errno));
        return -1;
    }
    if (setuid(u->uid) < 0) {
        snprintf(err, errlen, "setuid(%u): %s", (unsigned)u->uid,
                 strerror(errno));
        return -1;
    }
    if (getresuid(&ruid, &euid, &suid) < 0 ||
        getresgid(&rgid, &egid, &sgid) < 0 || ruid != u->uid ||
        euid != u->uid || suid != u->uid || rgid != u->gid || egid != u->gid ||
        sgid != u->gid) {
        snprintf(err, errlen, "the ids did not change to %u:%u as asked",
                 (unsigned)u->uid, (unsigned)u->gid);
        return -1;
    }
    /* The point of the drop: a compromised process must not get root
     * back. If either call succeeds something is badly wrong. */
    if (setuid(0) == 0 || setgid(0) == 0) {
        snprintf(err, errlen,
                 "root privileges could be regained after dropping to %s",
                 u->name);
        return -1;
    }
    return 0;
}

int priv_no_new_privs(char *err, size_t errlen)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s",
                 strerror(errno));
        return -1;
    }
    return 0;
}

const char *priv_whoami(char *out, size_t outlen)
{
    char buf[PRIV_PWBUF];
    struct passwd pw, *res = NULL;
    uid_t uid = geteuid();
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
        snprintf(out, outlen, "uid %u '%s'", (unsigned)uid, res->pw_name);
    else
        snprintf(out, outlen, "uid %u", (unsigned)uid);
    return out;
}
