/*
 * watch: inotify + polling file watcher (see watch.h). One thread; the only
 * state shared with other threads is the stop pipe.
 */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "readfile.h"

#define MAX_WATCHES 64
#define HASH_FILE_MAX (1024 * 1024)
#define EVENTS                                                                 \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |    \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | IN_ONLYDIR)
/* A burst of events never delays a reload by more than this many debounce
 * periods. */
#define DEBOUNCE_CAP 5
#define STR_(x) #x
#define STR(x) STR_(x)
/* How long a finished policy write must stay the last event before the
 * reload (unless debounce_ms is shorter): long enough for the rest of an
 * editor's save (deleting its backup) to arrive, short enough that an edit
 * is on the wire well within a tenth of a second. */
#define SETTLE_MS 20

struct watch {
    const struct config *cfg;
    const struct logger *lg;
    struct store *st;
    pthread_t thread;
    int stop_pipe[2];
    int ifd;            /* inotify, -1 when polling only */
    int policy_wd;      /* watch descriptor of the policy directory */
    int cert_wd;        /* of the certificate directory (may be the same) */
    size_t n_watched;   /* directories watched by the last rewatch */
    uint64_t signature; /* of the watched trees at the last reload */
    /* The directories the last rewatch could not watch, and why, as text;
     * the one before, so that a change is logged once, not per reload. */
    char unwatched[1024], unwatched_before[1024];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * hash_dir folds the names, types and contents of the entries of dir (and,
 * to depth levels, of its subdirectories) into h. stat follows symlinks, so
 * a swapped `..data` link or a replaced certbot target changes the hash.
 * Contents are hashed, not only mtimes: coarse or frozen timestamps on some
 * mounts would hide a same-size edit.
 */
static uint64_t hash_dir(uint64_t h, const char *dir, int depth)
{
    DIR *dp = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    if (dp == NULL)
        return fnv(h, "missing", 7);
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char **p = realloc(names, (n + 1) * sizeof(*p));
        if (p == NULL)
            break;
        names = p;
        if ((names[n] = strdup(de->d_name)) == NULL)
            break;
        n++;
    }
    closedir(dp);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        struct stat sb;
        h = fnv(h, names[i], strlen(names[i]) + 1);
        if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
                (int)sizeof(path) ||
            stat(path, &sb) < 0)
            continue;
        h = fnv(h, &sb.st_mode, sizeof(sb.st_mode));
        if (S_ISDIR(sb.st_mode) && depth > 0) {
            h = hash_dir(h, path, depth - 1);
        } else if (S_ISREG(sb.st_mode) && sb.st_size <= HASH_FILE_MAX) {
            char *data = NULL, err[64];
            size_t len = 0;
            if (readfile(path, HASH_FILE_MAX, &data, &len, err, sizeof(err)) ==
                0)
                h = fnv(h, data, len);
            free(data);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return h;
}

static uint64_t signature(const struct watch *w)
{
    uint64_t h = 14695981039346656037ULL;
    /* Kubernetes keeps the real files one level down (..data/), certbot
     * two (live/<name>/). */
    h = hash_dir(h, w->cfg->policy_dir, 1);
    return hash_dir(h, w->cfg->cert_dir, 2);
}

/* note_unwatched records that path cannot be watched (err: errno, or 0
 * when the watch cap is reached). */
static void note_unwatched(struct watch *w, const char *path, int err)
{
    size_t used = strlen(w->unwatched);
    const char *why = err == ENOSPC
                          ? "the inotify watch limit is reached; raise "
                            "fs.inotify.max_user_watches"
                      : err == 0 ? "more than " STR(MAX_WATCHES) " directories"
                                 : strerror(err);
    /* Truncation only shortens the message. */
    snprintf(w->unwatched + used, sizeof(w->unwatched) - used, "%s%s (%s)",
             used > 0 ? ", " : "", path, why);
}

static int add_watch(struct watch *w, const char *path)
{
    int wd = -1;
    if (w->n_watched < MAX_WATCHES &&
        (wd = inotify_add_watch(w->ifd, path, EVENTS)) >= 0)
        w->n_watched++;
    else
        note_unwatched(w, path, w->n_watched < MAX_WATCHES ? errno : 0);
    return wd;
}

/* rewatch adds watches for both directories and the immediate
 * subdirectories of the certificate directory (certbot's <name>/). Adding
 * a watch that exists only refreshes it; the kernel drops the watches of
 * directories that are gone. */
static void rewatch_dirs(struct watch *w)
{
    w->n_watched = 0;
    w->policy_wd = add_watch(w, w->cfg->policy_dir);
    w->cert_wd = add_watch(w, w->cfg->cert_dir);
    DIR *dp = opendir(w->cfg->cert_dir);
    if (dp == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        char path[PATH_MAX];
        struct stat sb;
        if (de->d_name[0] == '.' ||
            snprintf(path, sizeof(path), "%s/%s", w->cfg->cert_dir,
                     de->d_name) >= (int)sizeof(path))
            continue;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            add_watch(w, path);
    }
    closedir(dp);
}

/* rewatch refreshes the watches and says when the set of directories that
 * inotify cannot watch changes: those are then only seen by polling. */
static void rewatch(struct watch *w)
{
    w->unwatched[0] = '\0';
    rewatch_dirs(w);
    if (strcmp(w->unwatched, w->unwatched_before) == 0)
        return;
    if (w->unwatched[0] != '\0')
        log_msg(w->lg, LOG_LEVEL_WARN,
                "watch: cannot watch %s with inotify; polling for changes "
                "there every %u ms instead",
                w->unwatched, w->cfg->poll_interval_ms);
    else
        log_msg(w->lg, LOG_LEVEL_INFO,
                "watch: inotify watches every directory again");
    memcpy(w->unwatched_before, w->unwatched, sizeof(w->unwatched));
}

/* What a batch of inotify events asks for. */
struct events {
    bool rebuild;      /* a directory vanished, was replaced, or events lost */
    bool policy_saved; /* a policy file was written and closed, or renamed in */
    bool other;        /* anything else: certificates, subdirectories */
};

/* policy_saved tells whether ev finishes the save of a policy file: a
 * writer closed a *.txt it wrote, or one was renamed into place, including
 * Kubernetes' atomic `..data` link swap. Editors' backups and swap files
 * (mta-sts.txt~, .mta-sts.txt.swp, 4913) do not end in .txt. */
static bool policy_saved(const struct watch *w, const struct inotify_event *ev)
{
    if (ev->wd != w->policy_wd || ev->len == 0 ||
        !(ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)))
        return false;
    size_t n = strlen(ev->name);
    return strcmp(ev->name, "..data") == 0 ||
           (n > 4 && strcmp(ev->name + n - 4, ".txt") == 0);
}

/* drain reads all pending inotify events and adds what they ask for to
 * out. */
static void drain(struct watch *w, struct events *out)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if ((ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF |
                             IN_Q_OVERFLOW)) ||
                ((ev->mask & IN_CREATE) && (ev->mask & IN_ISDIR)))
                out->rebuild = true;
            /* One directory for both: any event may be a certificate. */
            if (ev->wd != w->policy_wd || w->cert_wd == w->policy_wd)
                out->other = true;
            else if (policy_saved(w, ev))
                out->policy_saved = true;
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* reload reloads the store. The caller passes the signature of the trees
 * taken *before* the reload reads them: an edit that lands during the
 * reload then still differs from it, and the next poll catches it. */
static void reload(struct watch *w, const char *why, uint64_t sig,
                   bool policies_only)
{
    log_msg(w->lg, LOG_LEVEL_DEBUG, "reloading: %s", why);
    /* A directory that was replaced needs its watch again. */
    if (w->ifd >= 0)
        rewatch(w);
    w->signature = sig;
    int rc = policies_only ? store_reload_policies(w->st) : store_reload(w->st);
    if (rc == 1) {
        /* The reload failed without looking wrong on disk (out of memory,
         * say): forget the signature, so that the next poll tries again. */
        w->signature = 0;
        log_msg(w->lg, LOG_LEVEL_WARN, "watch: retrying the reload in %u ms",
                w->cfg->poll_interval_ms);
    }
}

static void *run(void *arg)
{
    struct watch *w = arg;
    const int64_t debounce = w->cfg->reload_debounce_ms;
    const int64_t settle = debounce < SETTLE_MS ? debounce : SETTLE_MS;
    const int64_t interval = w->cfg->poll_interval_ms;
    int64_t first_event = -1, last_event = -1;
    int64_t next_poll = now_ms() + interval;
    /* The events since the last reload. A burst that only touched the
     * policy directory and finished a policy file's save is reloaded after
     * `settle`; anything else (certificate renewals write two or more files
     * that only make sense together) waits the full debounce. */
    struct events burst = {0};

    for (;;) {
        int64_t now = now_ms();
        int64_t wake = next_poll;
        int64_t quiet = burst.policy_saved && !burst.other ? settle : debounce;
        if (last_event >= 0) {
            int64_t due = last_event + quiet;
            int64_t cap = first_event + debounce * DEBOUNCE_CAP;
            wake = due < cap ? due : cap;
        }
        int timeout = wake > now ? (int)(wake - now) : 0;
        struct pollfd pfd[2] = {{.fd = w->stop_pipe[0], .events = POLLIN},
                                {.fd = w->ifd, .events = POLLIN}};
        int rc = poll(pfd, w->ifd >= 0 ? 2 : 1, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (pfd[0].revents != 0)
            break;
        now = now_ms();
        if (w->ifd >= 0 && (pfd[1].revents & POLLIN)) {
            burst.rebuild = false;
            drain(w, &burst);
            if (burst.rebuild)
                rewatch(w);
            quiet = burst.policy_saved && !burst.other ? settle : debounce;
            if (first_event < 0)
                first_event = now;
            last_event = now;
            /* Fall through: a steady stream of events must not hold a
             * reload off past the cap. */
        }
        if (last_event >= 0 && (now >= last_event + quiet ||
                                now >= first_event + debounce * DEBOUNCE_CAP)) {
            first_event = last_event = -1;
            bool policies_only = !burst.other;
            burst = (struct events){0};
            reload(w, policies_only ? "policy files changed" : "files changed",
                   signature(w), policies_only);
            next_poll = now_ms() + interval;
            continue;
        }
        if (now >= next_poll) {
            uint64_t sig = signature(w);
            if (sig != w->signature)
                reload(w, "poll found a change", sig, false);
            next_poll = now_ms() + interval;
        }
    }
    return NULL;
}

struct watch *watch_start(const struct config *cfg, const struct logger *lg,
                          struct store *st)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->cfg = cfg;
    w->lg = lg;
    w->st = st;
    w->ifd = -1;
    if (pipe(w->stop_pipe) < 0) {
        log_msg(lg, LOG_LEVEL_ERROR, "watch: pipe: %s; files are not watched",
                strerror(errno));
        free(w);
        return NULL;
    }
    if (!cfg->force_poll) {
        w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->ifd < 0)
            log_msg(lg, LOG_LEVEL_WARN,
                    "watch: inotify unavailable (%s); polling every %u ms",
                    strerror(errno), cfg->poll_interval_ms);
        else
            rewatch(w); /* says what it cannot watch */
    }
    w->signature = signature(w);
    log_msg(lg, LOG_LEVEL_INFO,
            "watching %s and %s (%s, polling every %u ms as a safety net)",
            cfg->policy_dir, cfg->cert_dir,
            w->ifd >= 0 ? "inotify" : "polling only", cfg->poll_interval_ms);
    int rc = pthread_create(&w->thread, NULL, run, w);
    if (rc != 0) {
        log_msg(lg, LOG_LEVEL_ERROR, "watch: cannot start thread: %s",
                strerror(rc));
        close(w->stop_pipe[0]);
        close(w->stop_pipe[1]);
        if (w->ifd >= 0)
            close(w->ifd);
        free(w);
        return NULL;
    }
    return w;
}

void watch_stop(struct watch *w)
{
    if (w == NULL)
        return;
    ssize_t n;
    do
        n = write(w->stop_pipe[1], "x", 1);
    while (n < 0 && errno == EINTR);
    pthread_join(w->thread, NULL);
    close(w->stop_pipe[0]);
    close(w->stop_pipe[1]);
    if (w->ifd >= 0)
        close(w->ifd);
    free(w);
}
