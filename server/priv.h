/*
 * priv: the process's privileges. Looks up the user `serve` should run as,
 * drops root to it for good (supplementary groups, gid, uid, in that order,
 * then checks that root cannot be regained), sets no_new_privs, and
 * describes the running user for error messages ("uid 65534 'nobody'").
 * It does not decide whether to drop (main does) and does not log. Lookups
 * and the drop run on the main thread; priv_whoami is safe from any thread.
 */
#ifndef MTA_STS_PRIV_H
#define MTA_STS_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PRIV_NAME_MAX 64

struct priv_user {
    uid_t uid;
    gid_t gid;
    char name[PRIV_NAME_MAX]; /* the passwd name, or the number given */
    bool in_passwd;           /* found in the user database */
};

/*
 * priv_lookup resolves name (a user name, or a numeric uid with or without
 * a passwd entry) into out. Returns 0, or -1 with the reason in err.
 */
int priv_lookup(const char *name, struct priv_user *out, char *err,
                size_t errlen);

/*
 * priv_drop switches the whole process (every thread) to u: its
 * supplementary groups from the group database without the primary group
 * (which is the gid anyway), then the gid, then the uid. It then checks that
 * real, effective and saved ids are u's and that setuid(0) and setgid(0)
 * fail. Returns 0, or -1 with the reason in err; after -1 the caller must
 * exit, the process may be half-dropped.
 */
int priv_drop(const struct priv_user *u, char *err, size_t errlen);

/*
 * priv_no_new_privs sets PR_SET_NO_NEW_PRIVS for the calling thread and
 * the threads it starts afterwards (call it before starting any). Returns
 * 0, or -1 with the reason in err.
 */
int priv_no_new_privs(char *err, size_t errlen);

/* priv_whoami writes "uid N 'name'" for the running effective uid into out
 * and returns out. */
const char *priv_whoami(char *out, size_t outlen);

#endif
