/*
 * Unit tests for acme_state: the layout it makes, the atomic write failed
 * and crashed at each of its system calls (mkostemp, write, fsync of the
 * file, rename, fsync of the directory) through linker wrappers (--wrap,
 * set for this test program only in CMakeLists.txt), certificates and the
 * account record, and the per-name lock between processes: one wins, and
 * the lock of a killed holder is taken over. Works in a temporary
 * directory; forks for the crashes and the second lock holder.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "acme_state.h"
#include "certs.h"
#include "readfile.h"

/* ---- the wrapped system calls ------------------------------------------ */

/* While armed, every wrapped call counts; the one numbered fail_at fails
 * with EIO, the one numbered crash_at ends the process there (a write
 * after writing half its bytes), as a crash or a kill would. */
static bool armed;
static int calls, fail_at = -1, crash_at = -1;

int __real_mkostemp(char *tmpl, int flags);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
int __real_rename(const char *from, const char *to);
int __wrap_mkostemp(char *tmpl, int flags);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_fsync(int fd);
int __wrap_rename(const char *from, const char *to);

/* step returns true when this call is to fail (or never returns). */
static bool step(void)
{
    if (!armed)
        return false;
    int k = calls++;
    if (k == crash_at)
        _exit(0);
    if (k == fail_at) {
        errno = EIO;
        return true;
    }
    return false;
}

int __wrap_mkostemp(char *tmpl, int flags)
{
    return step() ? -1 : __real_mkostemp(tmpl, flags);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (armed && calls == crash_at && n > 1) {
        /* Half the bytes reach the file, then the process is gone. */
        __real_write(fd, buf, n / 2);
        _exit(0);
    }
    return step() ? -1 : __real_write(fd, buf, n);
}

int __wrap_fsync(int fd)
{
    return step() ? -1 : __real_fsync(fd);
}

int __wrap_rename(const char *from, const char *to)
{
    return step() ? -1 : __real_rename(from, to);
}

/* The calls of one write, in order. */
enum { C_MKOSTEMP, C_WRITE, C_FSYNC_FILE, C_RENAME, C_FSYNC_DIR, N_CALLS };
static const char *const call_names[N_CALLS] = {
    "creating the temporary file", "writing the temporary file",
    "syncing the temporary file", "renaming the temporary file into place",
    "syncing the directory"};

/* ---- helpers ----------------------------------------------------------- */

static char *tmpdir(void)
{
    char *t = strdup("/tmp/test_acme_state.XXXXXX");
    assert_non_null(t);
    assert_non_null(mkdtemp(t));
    return t;
}

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *path)
{
    char *data = NULL, err[256];
    size_t len = 0;
    if (readfile(path, 1 << 20, &data, &len, err, sizeof(err)) < 0)
        return NULL;
    return data;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static mode_t mode_of(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_mode & 07777;
}

/* entries counts the directory's entries other than . and ..; hidden
 * ones (temporary files) into *hidden. */
static int entries(const char *dir, int *hidden)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    *hidden = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        *hidden += de->d_name[0] == '.';
    }
    closedir(d);
    return n;
}

/* ---- tests ------------------------------------------------------------- */

static void test_layout(void **state)
{
    (void)state;
    char *t = tmpdir(), sd[512], p[600], err[512] = "";
    snprintf(sd, sizeof(sd), "%s/state", t);
    struct acme_state *s = acme_state_open(sd, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(mode_of(sd), 0750);
    snprintf(p, sizeof(p), "%s/acme", sd);
    assert_int_equal(mode_of(p), 0700);
    snprintf(p, sizeof(p), "%s/acme/certs", sd);
    assert_int_equal(mode_of(p), 0700);
    snprintf(p, sizeof(p), "%s/acme/locks", sd);
    assert_int_equal(mode_of(p), 0700);
    acme_state_free(s);
    /* Opening again finds everything in place. */
    s = acme_state_open(sd, err, sizeof(err));
    assert_non_null(s);
    acme_state_free(s);
    acme_state_free(NULL);
    assert_int_equal(acme_state_certs_dir(sd, p, sizeof(p)), 0);
    assert_true(strlen(p) > strlen(sd));
    assert_string_equal(p + strlen(sd), "/acme/certs");
    assert_int_equal(acme_state_certs_dir(sd, p, 8), -1);

    /* A file where a directory belongs is named. */
    char sd2[512];
    snprintf(sd2, sizeof(sd2), "%s/other", t);
    assert_int_equal(mkdir(sd2, 0700), 0);
    snprintf(p, sizeof(p), "%s/acme", sd2);
    spit(p, "x");
    assert_null(acme_state_open(sd2, err, sizeof(err)));
    assert_non_null(strstr(err, "/other/acme: creating the directory: a file "
                                "of that name is in the way"));
    rm_rf(t);
    free(t);
}

static void test_write(void **state)
{
    (void)state;
    char *t = tmpdir(), p[600], err[512] = "";
    int hidden;
    snprintf(p, sizeof(p), "%s/f", t);
    /* New, then replaced; the mode is the one asked for, whatever the
     * umask. */
    assert_int_equal(acme_state_write(p, "one\n", 4, 0600, err, sizeof(err)),
                     0);
    char *got = slurp(p);
    assert_string_equal(got, "one\n");
    free(got);
    assert_int_equal(mode_of(p), 0600);
    assert_int_equal(acme_state_write(p, "two", 3, 0644, err, sizeof(err)), 0);
    got = slurp(p);
    assert_string_equal(got, "two");
    free(got);
    assert_int_equal(mode_of(p), 0644);
    assert_int_equal(acme_state_write(p, "", 0, 0600, err, sizeof(err)), 0);
    got = slurp(p);
    assert_string_equal(got, "");
    free(got);
    assert_int_equal(entries(t, &hidden), 1);
    assert_int_equal(hidden, 0);
    /* A directory that is not there is named with the step. */
    snprintf(p, sizeof(p), "%s/missing/f", t);
    assert_int_equal(acme_state_write(p, "x", 1, 0600, err, sizeof(err)), -1);
    assert_non_null(
        strstr(err, "/missing/f: creating the temporary file: No such file"));
    rm_rf(t);
    free(t);
}

/* Each call failing: the error names its step, the old file stays until
 * the rename, and no temporary file is left behind. */
static void test_write_fails_at_each_step(void **state)
{
    (void)state;
    char *t = tmpdir(), p[600], err[512];
    int hidden;
    snprintf(p, sizeof(p), "%s/cert.pem", t);
    for (int k = 0; k < N_CALLS; k++) {
        spit(p, "old contents\n");
        err[0] = '\0';
        calls = 0;
        fail_at = k;
        armed = true;
        int rc =
            acme_state_write(p, "new contents\n", 13, 0600, err, sizeof(err));
        armed = false;
        fail_at = -1;
        print_message("failing call %d (%s): %s\n", k, call_names[k], err);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, call_names[k]));
        assert_non_null(strstr(err, "Input/output error"));
        char *got = slurp(p);
        assert_string_equal(got,
                            k > C_RENAME ? "new contents\n" : "old contents\n");
        free(got);
        assert_int_equal(entries(t, &hidden), 1);
        assert_int_equal(hidden, 0);
    }
    rm_rf(t);
    free(t);
}

/* The process dying at each call: the file is the old one or the new one,
 * whole, and what is left over is a dotfile the certificate loader never
 * takes for a pair. */
static void test_write_crashes_at_each_step(void **state)
{
    (void)state;
    char *t = tmpdir(), p[600];
    int hidden;
    snprintf(p, sizeof(p), "%s/mta-sts.example.com.ecdsa.pem", t);
    for (int k = 0; k < N_CALLS; k++) {
        spit(p, "old contents\n");
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            char err[512];
            calls = 0;
            crash_at = k;
            armed = true;
            acme_state_write(p, "new contents, longer than the old\n", 34, 0600,
                             err, sizeof(err));
            _exit(3); /* not reached: the crash comes first */
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        char *got = slurp(p);
        print_message("crash at call %d (%s): \"%s\"\n", k, call_names[k], got);
        assert_string_equal(got, k > C_RENAME
                                     ? "new contents, longer than the old\n"
                                     : "old contents\n");
        free(got);
        /* A crash before the rename leaves the temporary file. */
        int all = entries(t, &hidden);
        assert_int_equal(all, 1 + hidden);
        assert_int_equal(hidden, k >= C_WRITE && k <= C_RENAME ? 1 : 0);
        struct certs_unit *u = NULL;
        size_t n = 0;
        struct diag d;
        diag_init(&d, t);
        assert_int_equal(certs_list_units(t, &u, &n, &d), 0);
        assert_int_equal(n, 1);
        assert_string_equal(u[0].crt, p);
        certs_units_free(u, n);
        diag_free(&d);
        rm_rf(t);
        assert_int_equal(mkdir(t, 0700), 0);
    }
    rm_rf(t);
    free(t);
}

static void test_certs_and_account(void **state)
{
    (void)state;
    char *t = tmpdir(), p[600], err[512] = "";
    struct acme_state *s = acme_state_open(t, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(acme_state_cert_path(s, "MTA-STS.Example.COM.",
                                          ACME_STATE_ECDSA, p, sizeof(p), err,
                                          sizeof(err)),
                     0);
    assert_string_equal(p + strlen(t),
                        "/acme/certs/mta-sts.example.com.ecdsa.pem");
    assert_int_equal(acme_state_cert_path(s, "mta-sts.example.com",
                                          ACME_STATE_RSA, p, sizeof(p), err,
                                          sizeof(err)),
                     0);
    assert_string_equal(p + strlen(t),
                        "/acme/certs/mta-sts.example.com.rsa.pem");
    static const char *const bad[] = {"../x.example", "a/b.example",
                                      "localhost", "", "a b.example"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(acme_state_cert_path(s, bad[i], ACME_STATE_ECDSA, p,
                                              sizeof(p), err, sizeof(err)),
                         -1);
        assert_non_null(strstr(err, "is not a host name"));
    }
    /* The chain (a newline added when it lacks one), then the key. */
    assert_int_equal(acme_state_save_cert(s, "mta-sts.example.com",
                                          ACME_STATE_ECDSA, "CHAIN", 5, "KEY\n",
                                          4, err, sizeof(err)),
                     0);
    acme_state_cert_path(s, "mta-sts.example.com", ACME_STATE_ECDSA, p,
                         sizeof(p), err, sizeof(err));
    char *got = slurp(p);
    assert_string_equal(got, "CHAIN\nKEY\n");
    free(got);
    assert_int_equal(mode_of(p), 0600);

    /* The account key. */
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(
        acme_state_load_account_key(s, &pem, &len, err, sizeof(err)), 0);
    assert_int_equal(
        acme_state_save_account_key(s, "PEM\n", 4, err, sizeof(err)), 0);
    assert_int_equal(
        acme_state_load_account_key(s, &pem, &len, err, sizeof(err)), 1);
    assert_string_equal(pem, "PEM\n");
    free(pem);
    snprintf(p, sizeof(p), "%s/acme/account.key", t);
    assert_int_equal(mode_of(p), 0600);

    /* Account URLs by directory. */
    char *url = NULL;
    static const char d1[] = "https://ca.example/dir", d2[] = "https://b/dir";
    assert_int_equal(acme_state_account_url(s, d1, &url, err, sizeof(err)), 0);
    assert_null(url);
    assert_int_equal(acme_state_set_account_url(s, d1, "https://ca.example/a/1",
                                                err, sizeof(err)),
                     0);
    assert_int_equal(
        acme_state_set_account_url(s, d2, "https://b/a/7", err, sizeof(err)),
        0);
    assert_int_equal(acme_state_account_url(s, d1, &url, err, sizeof(err)), 1);
    assert_string_equal(url, "https://ca.example/a/1");
    free(url);
    assert_int_equal(acme_state_account_url(s, d2, &url, err, sizeof(err)), 1);
    assert_string_equal(url, "https://b/a/7");
    free(url);
    /* A broken file is named with its line and column; a wrong shape
     * says what is expected. */
    snprintf(p, sizeof(p), "%s/acme/account.json", t);
    spit(p, "{\"accounts\": {\n  \"x\": }\n}\n");
    assert_int_equal(acme_state_account_url(s, d1, &url, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/acme/account.json:2:"));
    assert_int_equal(acme_state_set_account_url(s, d1, "u", err, sizeof(err)),
                     -1);
    got = slurp(p);
    assert_string_equal(got, "{\"accounts\": {\n  \"x\": }\n}\n");
    free(got);
    spit(p, "{\"accounts\": []}");
    assert_int_equal(acme_state_account_url(s, d1, &url, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expected {\"accounts\""));
    spit(p, "{\"accounts\": {\"https://ca.example/dir\": 5}}");
    assert_int_equal(acme_state_account_url(s, d1, &url, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is not a string"));
    acme_state_free(s);
    rm_rf(t);
    free(t);
}

/* A child that tries the lock and reports through its exit status: 0
 * taken, 1 busy (with the holder's pid in the message), 2 otherwise. */
static int try_in_child(const struct acme_state *s, const char *name,
                        pid_t holder)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct acme_state_lock *l = NULL;
        char why[512], want[64];
        int rc = acme_state_lock(s, name, &l, why, sizeof(why));
        snprintf(want, sizeof(want), "pid %ld on host ", (long)holder);
        if (rc == 1 && strstr(why, want) != NULL &&
            strstr(why, "is being ordered by") != NULL)
            _exit(1);
        _exit(rc == 0 ? 0 : 2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_schedule(void **state)
{
    (void)state;
    char *t = tmpdir(), p[600], err[512] = "", last[128] = "x";
    struct acme_state *s = acme_state_open(t, err, sizeof(err));
    assert_non_null(s);
    snprintf(p, sizeof(p), "%s/acme/schedule", t);
    assert_int_equal(mode_of(p), 0700);
    struct acme_sched_name n = {0}, got = {0};
    /* None yet: nothing read, nothing changed. */
    assert_int_equal(acme_state_load_sched(s, "mta-sts.example.com",
                                           ACME_STATE_ECDSA, &got, last,
                                           sizeof(last), err, sizeof(err)),
                     0);
    assert_string_equal(last, "x");
    n.failures = 3;
    n.failed_at = 1700000000;
    n.window_start = 1700001000;
    n.window_end = 1700002000;
    n.renew_at = 1700001500;
    n.ari_next = 1700003000;
    n.not_after = 1800000000; /* the certificate's: not stored */
    assert_int_equal(
        acme_state_save_sched(s, "MTA-STS.example.com", ACME_STATE_ECDSA, &n,
                              "newOrder: \"quoted\"", err, sizeof(err)),
        0);
    assert_int_equal(acme_state_load_sched(s, "mta-sts.example.com",
                                           ACME_STATE_ECDSA, &got, last,
                                           sizeof(last), err, sizeof(err)),
                     1);
    assert_int_equal(got.failures, 3);
    assert_int_equal(got.failed_at, 1700000000);
    assert_int_equal(got.window_start, 1700001000);
    assert_int_equal(got.window_end, 1700002000);
    assert_int_equal(got.renew_at, 1700001500);
    assert_int_equal(got.ari_next, 1700003000);
    assert_int_equal(got.not_after, 0);
    assert_string_equal(last, "newOrder: \"quoted\"");
    snprintf(p, sizeof(p), "%s/acme/schedule/mta-sts.example.com.ecdsa.json",
             t);
    assert_int_equal(mode_of(p), 0600);
    /* The other kind is another record. */
    assert_int_equal(acme_state_load_sched(s, "mta-sts.example.com",
                                           ACME_STATE_RSA, &got, last,
                                           sizeof(last), err, sizeof(err)),
                     0);
    /* A broken record is named with its place. */
    spit(p, "{\"failures\": 1,");
    assert_int_equal(acme_state_load_sched(s, "mta-sts.example.com",
                                           ACME_STATE_ECDSA, &got, last,
                                           sizeof(last), err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "mta-sts.example.com.ecdsa.json:1:"));
    spit(p, "{\"failures\": -1}");
    assert_int_equal(acme_state_load_sched(s, "mta-sts.example.com",
                                           ACME_STATE_ECDSA, &got, last,
                                           sizeof(last), err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "failures: expected a count"));
    spit(p, "{\"failures\": 0, \"failed_at\": \"soon\"}");
    assert_int_equal(acme_state_load_sched(s, "mta-sts.example.com",
                                           ACME_STATE_ECDSA, &got, last,
                                           sizeof(last), err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "failed_at: expected a Unix time"));
    acme_state_free(s);
    rm_rf(t);
    free(t);
}

static void test_lock(void **state)
{
    (void)state;
    char *t = tmpdir(), err[512] = "";
    struct acme_state *s = acme_state_open(t, err, sizeof(err));
    struct acme_state_lock *l = NULL, *l2 = NULL;
    assert_non_null(s);
    assert_int_equal(
        acme_state_lock(s, "mta-sts.example.com", &l, err, sizeof(err)), 0);
    assert_non_null(l);
    /* Another process, and another lock in this one, find it held. */
    assert_int_equal(try_in_child(s, "mta-sts.example.com", getpid()), 1);
    assert_int_equal(
        acme_state_lock(s, "MTA-STS.example.com", &l2, err, sizeof(err)), 1);
    assert_null(l2);
    /* Other names are free. */
    assert_int_equal(try_in_child(s, "mta-sts.example.net", 0), 0);
    assert_int_equal(try_in_child(s, "account", 0), 0);
    acme_state_unlock(l);
    acme_state_unlock(NULL);
    assert_int_equal(try_in_child(s, "mta-sts.example.com", 0), 0);
    assert_int_equal(acme_state_lock(s, "../x", &l, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is not a host name"));
    acme_state_free(s);
    rm_rf(t);
    free(t);
}

/* A holder killed with the lock held: the next one takes it over and the
 * file names the new holder. */
static void test_stale_lock(void **state)
{
    (void)state;
    char *t = tmpdir(), err[512] = "", p[600];
    struct acme_state *s = acme_state_open(t, err, sizeof(err));
    int ready[2];
    assert_non_null(s);
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct acme_state_lock *l = NULL;
        char why[512];
        close(ready[0]);
        if (acme_state_lock(s, "mta-sts.example.com", &l, why, sizeof(why)) ==
            0)
            (void)!write(ready[1], "y", 1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    struct acme_state_lock *l = NULL;
    assert_int_equal(
        acme_state_lock(s, "mta-sts.example.com", &l, err, sizeof(err)), 1);
    char want[64];
    snprintf(want, sizeof(want), "pid %ld on host ", (long)pid);
    assert_non_null(strstr(err, want));
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    /* The file still names the dead holder; the lock is free. */
    snprintf(p, sizeof(p), "%s/acme/locks/mta-sts.example.com.lock", t);
    char *got = slurp(p);
    assert_non_null(strstr(got, want));
    free(got);
    assert_int_equal(
        acme_state_lock(s, "mta-sts.example.com", &l, err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "pid %ld on host ", (long)getpid());
    got = slurp(p);
    assert_true(strncmp(got, want, strlen(want)) == 0);
    free(got);
    acme_state_unlock(l);
    acme_state_free(s);
    rm_rf(t);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_write_fails_at_each_step),
        cmocka_unit_test(test_write_crashes_at_each_step),
        cmocka_unit_test(test_certs_and_account),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_stale_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
