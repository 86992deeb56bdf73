/*
 * watch: inotify + polling file watcher (see watch.h). One thread; the only
 * state shared with other threads is the control pipe (stop, reload).
 *
 * What it tracks: the policy directory (its *.txt files and `..data`), the
 * certificate directory (its .crt/.key/.pem files and subdirectories),
 * certbot's `live/` and every pair directory (fullchain.pem, privkey.pem).
 * Per file it remembers the metadata last handed over; per directory its
 * own metadata, so that a directory is listed again only when its entries
 * changed.
 */
#include "watch.h"
#include "acme_state.h"
#include "clock.h"
#include "sorted.h"

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

#define EVENTS                                                                 \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |    \
     IN_ATTRIB | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
/* A file inotify saw being written and never closed (a writer that died
 * holding it, a write through mmap) is looked at by polling again after
 * this long without a write. */
#define WRITING_STALE_MS 60000
/* A burst of events never delays a reload by more than this many debounce
 * periods. */
#define DEBOUNCE_CAP 5
/* How long a finished policy write must stay the last event before the
 * reload (unless debounce_ms is shorter): long enough for the rest of an
 * editor's save (deleting its backup) to arrive, short enough that an edit
 * is on the wire well within a tenth of a second. */
#define SETTLE_MS 20
/* A change that only polling saw is handed over once the file's metadata
 * stayed the same this long: a writer that is still at it changes the size
 * or the modification time more often than that. */
#define POLL_SETTLE_MS 1000
/* While a polled change settles, it is looked at again this often. */
#define POLL_RECHECK_MS 250
/* In directories inotify watches, polling is only a safety net: it looks
 * at this many files per interval, round robin, so that a tree of tens of
 * thousands of files costs next to nothing when idle. Directories inotify
 * cannot watch are looked at whole every interval. */
#define POLL_BUDGET 1000
/* At most this many unwatched directories are named in a log line. */
#define UNWATCHED_NAMED 5

enum dir_kind { DIR_POLICY, DIR_CERT_ROOT, DIR_LIVE, DIR_PAIR };

struct fmeta {
    bool present;
    mode_t mode;
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns, ctime_ns;
};

struct entry {
    char *name;
    struct fmeta seen;  /* as last handed over (or at the start) */
    struct fmeta cand;  /* a change that polling saw, settling */
    int64_t cand_since; /* ms; 0 = no change settling */
};

struct dir {
    enum dir_kind kind;
    enum store_root root;
    char *rel;  /* relative to its root: "" for a root, "live", "a", "live/a" */
    char *path; /* as opened */
    int wd;     /* -1: not watched */
    struct fmeta self;
    struct entry *e; /* sorted by name */
    size_t n, cap;
    bool gone;
    bool unreadable; /* there, but it cannot be opened (permissions) */
};

/* A change on its way to the store. */
struct pending {
    enum store_root root;
    char *rel; /* NULL: the whole root */
    bool writing;
    int64_t finished;    /* ms, 0 while writing */
    int64_t last_modify; /* ms of the last write inotify reported */
    uint64_t seq;        /* the watcher's count of changes at its last */
};

/* A watch descriptor and its directory (two directories may share one:
 * the same directory configured for policies and certificates). */
struct wd_dir {
    int wd;
    struct dir *d;
};

struct watch {
    const struct config *cfg;
    const struct logger *lg;
    struct store *st;
    pthread_t thread;
    bool running;
    int stop_pipe[2];
    int ifd;           /* inotify, -1 when polling only */
    struct dir **dirs; /* sorted by (root, rel) */
    size_t n_dirs, cap_dirs;
    struct wd_dir *wds; /* sorted by wd */
    size_t n_wds, cap_wds;
    size_t sweep_dir, sweep_entry; /* the safety net's place */
    struct pending *pend;
    size_t n_pend, cap_pend;
    bool full;  /* events were lost: reload everything */
    bool hup;   /* a full reload was asked for (SIGHUP) */
    bool retry; /* the last reload failed outright */
    int64_t first_event, last_event;
    /* Changes seen so far, and how many had been seen when the reload
     * under way began: a change counted after that came during it. */
    uint64_t seq, mark;
    /* What the last rewatch could not watch, as a count and a digest, so
     * that a change is logged once, not per reload. */
    size_t n_unwatched;
    uint64_t unwatched_digest;
};

/* Set on the watcher's thread: the one whose reloads may drain events. */
static _Thread_local bool in_watcher;

static int64_t ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

/* relevant tells whether a name in a directory of kind k can matter to
 * the store (editors' swap and backup files do not). */
static bool relevant(enum dir_kind k, const char *name)
{
    switch (k) {
    case DIR_POLICY:
        return strcmp(name, "..data") == 0 ||
               (name[0] != '.' && has_suffix(name, ".txt"));
    case DIR_CERT_ROOT:
        return strcmp(name, "..data") == 0 ||
               (name[0] != '.' &&
                (has_suffix(name, ".crt") || has_suffix(name, ".key") ||
                 has_suffix(name, ".pem")));
    case DIR_PAIR:
        return strcmp(name, "fullchain.pem") == 0 ||
               strcmp(name, "privkey.pem") == 0 || strcmp(name, "..data") == 0;
    case DIR_LIVE:
        return false;
    }
    return false;
}

/* stat_at reads the metadata of dir/name, following a symlink (a swapped
 * `..data` link or a renewed certbot link changes what it points at). */
static struct fmeta stat_at(int dfd, const char *name)
{
    struct fmeta m = {0};
    struct stat sb;
    if (fstatat(dfd, name, &sb, 0) < 0)
        return m;
    m.present = true;
    m.mode = sb.st_mode;
    m.dev = sb.st_dev;
    m.ino = sb.st_ino;
    m.size = sb.st_size;
    m.mtime_ns = ns(&sb.st_mtim);
    m.ctime_ns = ns(&sb.st_ctim);
    return m;
}

static bool same_meta(const struct fmeta *a, const struct fmeta *b)
{
    return a->present == b->present &&
           (!a->present ||
            (a->mode == b->mode && a->dev == b->dev && a->ino == b->ino &&
             a->size == b->size && a->mtime_ns == b->mtime_ns &&
             a->ctime_ns == b->ctime_ns));
}

/* ---- pending changes ---------------------------------------------------- */

static struct pending *find_pending(struct watch *w, enum store_root root,
                                    const char *rel)
{
    for (size_t i = 0; i < w->n_pend; i++) {
        struct pending *p = &w->pend[i];
        if (p->root == root &&
            ((p->rel == NULL && rel == NULL) ||
             (p->rel != NULL && rel != NULL && strcmp(p->rel, rel) == 0)))
            return p;
    }
    return NULL;
}

/* pending_for finds rel's pending change, or adds one; each call is a
 * change, counted. */
static struct pending *pending_for(struct watch *w, enum store_root root,
                                   const char *rel)
{
    struct pending *p = find_pending(w, root, rel);
    if (p != NULL) {
        p->seq = ++w->seq;
        return p;
    }
    if (w->n_pend == w->cap_pend) {
        size_t ncap = w->cap_pend ? w->cap_pend * 2 : 16;
        struct pending *np = realloc(w->pend, ncap * sizeof(*np));
        if (np == NULL)
            return NULL;
        w->pend = np;
        w->cap_pend = ncap;
    }
    p = &w->pend[w->n_pend];
    *p = (struct pending){.root = root, .rel = NULL, .seq = ++w->seq};
    if (rel != NULL && (p->rel = strdup(rel)) == NULL)
        return NULL;
    w->n_pend++;
    return p;
}

/* note marks a change of rel (NULL: the whole root): still being written,
 * or finished at now. When memory runs out the change is not lost: the
 * whole tree is reloaded instead. */
static void note(struct watch *w, enum store_root root, const char *rel,
                 bool writing, int64_t now)
{
    struct pending *p = pending_for(w, root, rel);
    if (p == NULL) {
        w->full = true;
        return;
    }
    p->writing = writing;
    p->finished = writing ? 0 : now;
}

/* ---- directories -------------------------------------------------------- */

static void dir_free(struct dir *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->e[i].name);
    free(d->e);
    free(d->rel);
    free(d->path);
    free(d);
}

/* dir_cmp orders directories by root, then rel. */
static int dir_cmp(enum store_root root, const char *rel, const struct dir *d)
{
    if (root != d->root)
        return root < d->root ? -1 : 1;
    return strcmp(rel, d->rel);
}

/* A directory's sort key. */
struct dir_key {
    enum store_root root;
    const char *rel;
};

static int cmp_dir_key(const void *key, const void *record)
{
    const struct dir_key *k = key;
    return dir_cmp(k->root, k->rel, *(struct dir *const *)record);
}

/* dir_slot finds (root, rel) among the sorted directories, or where it
 * would go. */
static size_t dir_slot(const struct watch *w, enum store_root root,
                       const char *rel, bool *found)
{
    struct dir_key k = {root, rel};
    return sorted_slot(&k, w->dirs, w->n_dirs, sizeof(*w->dirs), cmp_dir_key,
                       found);
}

static struct dir *find_dir(const struct watch *w, enum store_root root,
                            const char *rel)
{
    bool found;
    size_t at = dir_slot(w, root, rel, &found);
    return found ? w->dirs[at] : NULL;
}

/* wd_first is the index of the first entry for wd (or where it would go). */
static size_t wd_first(const struct watch *w, int wd)
{
    size_t lo = 0, hi = w->n_wds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->wds[mid].wd < wd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* wd_forget drops d's entry from the descriptor index. */
static void wd_forget(struct watch *w, struct dir *d)
{
    if (d->wd < 0)
        return;
    for (size_t i = wd_first(w, d->wd); i < w->n_wds && w->wds[i].wd == d->wd;
         i++) {
        if (w->wds[i].d != d)
            continue;
        memmove(&w->wds[i], &w->wds[i + 1],
                (w->n_wds - i - 1) * sizeof(*w->wds));
        w->n_wds--;
        break;
    }
    d->wd = -1;
}

/* wd_set gives d the descriptor wd (or none, -1) in the index. */
static void wd_set(struct watch *w, struct dir *d, int wd)
{
    wd_forget(w, d);
    if (wd < 0)
        return;
    if (w->n_wds == w->cap_wds) {
        size_t ncap = w->cap_wds ? w->cap_wds * 2 : 16;
        struct wd_dir *p = realloc(w->wds, ncap * sizeof(*p));
        if (p == NULL)
            return; /* not indexed: its events are lost, polling remains */
        w->wds = p;
        w->cap_wds = ncap;
    }
    size_t at = wd_first(w, wd);
    memmove(&w->wds[at + 1], &w->wds[at], (w->n_wds - at) * sizeof(*w->wds));
    w->wds[at] = (struct wd_dir){wd, d};
    w->n_wds++;
    d->wd = wd;
}

static struct dir *add_dir(struct watch *w, enum dir_kind kind,
                           enum store_root root, const char *rel,
                           const char *path)
{
    bool found;
    size_t at = dir_slot(w, root, rel, &found);
    if (found)
        return w->dirs[at];
    if (w->n_dirs == w->cap_dirs) {
        size_t ncap = w->cap_dirs ? w->cap_dirs * 2 : 16;
        struct dir **p = realloc(w->dirs, ncap * sizeof(*p));
        if (p == NULL)
            return NULL;
        w->dirs = p;
        w->cap_dirs = ncap;
    }
    struct dir *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->kind = kind;
    d->root = root;
    d->wd = -1;
    d->rel = strdup(rel);
    d->path = strdup(path);
    if (d->rel == NULL || d->path == NULL) {
        dir_free(d);
        return NULL;
    }
    memmove(&w->dirs[at + 1], &w->dirs[at],
            (w->n_dirs - at) * sizeof(*w->dirs));
    w->dirs[at] = d;
    w->n_dirs++;
    return d;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name,
                  ((const struct entry *)b)->name);
}

/* find_entry looks name up among the first n (sorted) entries of d. */
static struct entry *find_entry(struct dir *d, size_t n, const char *name)
{
    struct entry key = {.name = (char *)name};
    return n > 0 ? bsearch(&key, d->e, n, sizeof(*d->e), cmp_entry) : NULL;
}

/* entry_of finds the file rel of root (its directory in *dp), or NULL. */
static struct entry *entry_of(struct watch *w, enum store_root root,
                              const char *rel, struct dir **dp)
{
    const char *slash = strrchr(rel, '/');
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", slash != NULL ? (int)(slash - rel) : 0,
             rel);
    *dp = find_dir(w, root, dir);
    return *dp != NULL
               ? find_entry(*dp, (*dp)->n, slash != NULL ? slash + 1 : rel)
               : NULL;
}

static int keep_all(const struct dirent *de)
{
    return strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
}

/* join builds d->rel + "/" + name (or name for a root) into out. */
static int join_rel(const struct dir *d, const char *name, char *out,
                    size_t outlen)
{
    int n = d->rel[0] != '\0' ? snprintf(out, outlen, "%s/%s", d->rel, name)
                              : snprintf(out, outlen, "%s", name);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/*
 * list_dir lists d again: the relevant files become entries (a new one
 * with "not present" as what was seen, so that polling hands it over once
 * it settles; with baseline, as it is now), vanished ones stay as not
 * present until that is handed over, and subdirectories of the
 * certificate directory and of live/ become directories of their own.
 */
static void list_dir(struct watch *w, struct dir *d, bool baseline)
{
    struct dirent **ents = NULL;
    int n = scandir(d->path, &ents, keep_all, alphasort);
    int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (n < 0 || dfd < 0) {
        /* Gone or unreadable: every entry is now "not present". */
        for (size_t i = 0; i < d->n; i++)
            if (baseline)
                d->e[i].seen.present = false;
        if (n >= 0) {
            for (int i = 0; i < n; i++)
                free(ents[i]);
            free(ents);
        }
        if (dfd >= 0)
            close(dfd);
        return;
    }
    /* New entries go at the end, sorted in once. */
    const size_t sorted = d->n;
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        unsigned char type = ents[i]->d_type;
        if ((d->kind == DIR_CERT_ROOT || d->kind == DIR_LIVE) &&
            name[0] != '.' && type != DT_REG) {
            /* A symlink or an unknown type is looked at, never walked. */
            bool is_dir = type == DT_DIR;
            if (type != DT_DIR) {
                struct fmeta m = stat_at(dfd, name);
                is_dir = m.present && S_ISDIR(m.mode);
            }
            if (is_dir) {
                char rel[PATH_MAX], path[PATH_MAX];
                bool live =
                    d->kind == DIR_CERT_ROOT && strcmp(name, "live") == 0;
                if (join_rel(d, name, rel, sizeof(rel)) == 0 &&
                    snprintf(path, sizeof(path), "%s/%s", d->path, name) <
                        (int)sizeof(path)) {
                    struct dir *sub = find_dir(w, d->root, rel);
                    if (sub == NULL) {
                        sub = add_dir(w, live ? DIR_LIVE : DIR_PAIR, d->root,
                                      rel, path);
                        if (sub != NULL) {
                            sub->gone = false;
                            if (!baseline)
                                note(w, d->root, rel, false, mono_ms());
                        }
                    }
                    if (sub != NULL)
                        sub->gone = false;
                }
                continue;
            }
        }
        if (!relevant(d->kind, name) || find_entry(d, sorted, name) != NULL)
            continue;
        if (d->n == d->cap) {
            size_t ncap = d->cap ? d->cap * 2 : 16;
            struct entry *p = realloc(d->e, ncap * sizeof(*p));
            if (p == NULL)
                break;
            d->e = p;
            d->cap = ncap;
        }
        struct entry *e = &d->e[d->n];
        memset(e, 0, sizeof(*e));
        if ((e->name = strdup(name)) == NULL)
            break;
        if (baseline)
            e->seen = stat_at(dfd, name);
        d->n++;
    }
    if (d->n > sorted)
        qsort(d->e, d->n, sizeof(*d->e), cmp_entry);
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    close(dfd);
}

/* ---- inotify ------------------------------------------------------------ */

/* watch_dir adds an inotify watch for d; the kernel refreshes an existing
 * one. Symlinked directories are followed: a configured root that is a
 * symlink is watched like any other. */
static void watch_dir(struct watch *w, struct dir *d, char *first,
                      size_t firstlen, int *first_err)
{
    if (w->ifd < 0)
        return;
    int wd = inotify_add_watch(w->ifd, d->path, EVENTS);
    int err = errno;
    if (wd != d->wd)
        wd_set(w, d, wd);
    if (wd >= 0)
        return;
    if (w->n_unwatched++ < UNWATCHED_NAMED) {
        size_t used = strlen(first);
        snprintf(first + used, firstlen - used, "%s%s", used ? ", " : "",
                 d->path);
    }
    if (*first_err == 0)
        *first_err = err;
    for (const char *p = d->path; *p != '\0'; p++)
        w->unwatched_digest =
            (w->unwatched_digest ^ (unsigned char)*p) * 1099511628211ULL;
}

/* rewatch refreshes every watch and says when the set of directories that
 * inotify cannot watch changes: those are then only seen by polling. */
static void rewatch(struct watch *w)
{
    char first[1024] = "";
    int err = 0;
    size_t before = w->n_unwatched;
    uint64_t digest = w->unwatched_digest;
    w->n_unwatched = 0;
    w->unwatched_digest = 14695981039346656037ULL;
    for (size_t i = 0; i < w->n_dirs; i++)
        watch_dir(w, w->dirs[i], first, sizeof(first), &err);
    if (w->ifd < 0 ||
        (w->n_unwatched == before && w->unwatched_digest == digest))
        return;
    if (w->n_unwatched > 0) {
        char more[64] = "";
        if (w->n_unwatched > UNWATCHED_NAMED)
            snprintf(more, sizeof(more), " and %zu more",
                     w->n_unwatched - UNWATCHED_NAMED);
        log_msg(w->lg, LOG_LEVEL_WARN,
                "watch: cannot watch %s%s with inotify (%s); polling for "
                "changes there every %u ms instead",
                first, more,
                err == ENOSPC ? "the inotify watch limit is reached; raise "
                                "fs.inotify.max_user_watches"
                              : strerror(err),
                w->cfg->poll_interval_ms);
    } else if (before > 0) {
        log_msg(w->lg, LOG_LEVEL_INFO,
                "watch: inotify watches every directory again");
    }
}

/* drop_gone forgets directories that vanished (after their change was
 * noted), so that a renamed certbot directory is not polled forever. */
static void drop_gone(struct watch *w)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n_dirs; i++) {
        struct dir *d = w->dirs[i];
        if (d->gone && d->rel[0] != '\0') {
            if (d->wd >= 0 && w->ifd >= 0)
                inotify_rm_watch(w->ifd, d->wd);
            wd_forget(w, d);
            dir_free(d);
            continue;
        }
        w->dirs[k++] = d;
    }
    w->n_dirs = k;
    if (w->sweep_dir >= w->n_dirs)
        w->sweep_dir = 0;
}

/* relist lists d again after a change of its entries and watches the
 * subdirectories it found (only those: each watch is a system call, and a
 * provider has tens of thousands). */
static void relist(struct watch *w, struct dir *d)
{
    size_t before = w->n_dirs;
    list_dir(w, d, false);
    if (w->n_dirs == before || w->ifd < 0)
        return;
    char first[1024] = "";
    int err = 0;
    size_t unwatched = w->n_unwatched;
    for (size_t i = 0; i < w->n_dirs; i++)
        if (w->dirs[i]->wd < 0 && !w->dirs[i]->gone)
            watch_dir(w, w->dirs[i], first, sizeof(first), &err);
    if (w->n_unwatched > unwatched)
        log_msg(w->lg, LOG_LEVEL_WARN,
                "watch: cannot watch %s with inotify (%s); polling for "
                "changes there every %u ms instead",
                first,
                err == ENOSPC ? "the inotify watch limit is reached; raise "
                                "fs.inotify.max_user_watches"
                              : strerror(err),
                w->cfg->poll_interval_ms);
}

/* event_at starts or extends the burst of events that due_at times. */
static void event_at(struct watch *w, int64_t now)
{
    if (w->first_event < 0)
        w->first_event = now;
    w->last_event = now;
}

/* finished_on_create tells whether a name that was just created is whole
 * already: a symlink (certbot's renewal swaps live/<name>/ links by unlink
 * and symlink), a hard link or a directory never get an IN_CLOSE_WRITE. */
static bool finished_on_create(const struct dir *d, const char *name)
{
    struct stat sb;
    int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool whole = dfd >= 0 &&
                 fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                 (!S_ISREG(sb.st_mode) || sb.st_nlink > 1);
    if (dfd >= 0)
        close(dfd);
    return whole;
}

/* on_dir_event turns one inotify event on d into a pending change. */
static void on_dir_event(struct watch *w, struct dir *d,
                         const struct inotify_event *ev, int64_t now)
{
    if (ev->len == 0 || (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))) {
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
            /* The directory itself went: a root is read again whole, a
             * pair directory is its unit's change. */
            wd_forget(w, d);
            note(w, d->root, d->rel[0] ? d->rel : NULL, false, now);
            event_at(w, now);
            if (d->rel[0] != '\0')
                d->gone = true;
        }
        return;
    }
    char rel[PATH_MAX];
    if (join_rel(d, ev->name, rel, sizeof(rel)) < 0)
        return;
    if (ev->mask & IN_ISDIR) {
        if (d->kind == DIR_CERT_ROOT || d->kind == DIR_LIVE) {
            note(w, d->root, rel, false, now);
            event_at(w, now);
            if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
                struct dir *sub = find_dir(w, d->root, rel);
                if (sub != NULL)
                    sub->gone = true;
            } else {
                relist(w, d);
            }
        } else if (d->kind == DIR_POLICY && relevant(d->kind, ev->name)) {
            /* A directory where a policy file belongs (or was): a change
             * of that file, which the store reports as not a regular
             * file. No IN_CLOSE_WRITE comes for it. */
            note(w, d->root, rel, false, now);
            event_at(w, now);
        }
        return;
    }
    if (d->kind != DIR_POLICY) {
        /* A symlink to a directory we track was swapped (`ln -sfn` of a
         * certbot live/<name>): its unit changed, and its watch must
         * follow the new target. */
        struct dir *sub = find_dir(w, d->root, rel);
        if (sub != NULL) {
            note(w, d->root, rel, false, now);
            event_at(w, now);
            sub->self = (struct fmeta){0};
            watch_dir(w, sub, (char[64]){0}, 64, &(int){0});
            return;
        }
    }
    if (strcmp(ev->name, "..data") == 0) {
        /* Kubernetes swapped its link (a ConfigMap or Secret volume):
         * every file there may be new. */
        if (ev->mask & (IN_MOVED_TO | IN_CREATE | IN_DELETE)) {
            note(w, d->root, d->kind == DIR_PAIR ? d->rel : NULL, false, now);
            event_at(w, now);
        }
        return;
    }
    if (!relevant(d->kind, ev->name))
        return;
    struct pending *p = pending_for(w, d->root, rel);
    if (p == NULL) {
        w->full = true;
        return;
    }
    if ((ev->mask & IN_CREATE) && finished_on_create(d, ev->name)) {
        p->writing = false;
        p->finished = now;
    } else if (ev->mask & (IN_MODIFY | IN_CREATE)) {
        /* Being written: taken only once its writer closes it. */
        p->writing = true;
        p->finished = 0;
        p->last_modify = now;
    } else if (ev->mask &
               (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) {
        p->writing = false;
        p->finished = now;
    } else if ((ev->mask & IN_ATTRIB) && !p->writing) {
        p->finished = now; /* a key made readable, say */
    }
    if (p->finished != 0)
        event_at(w, now);
}

/* on_event dispatches an event to every directory its descriptor is. */
static void on_event(struct watch *w, const struct inotify_event *ev,
                     int64_t now)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        w->full = true;
        return;
    }
    /* Collected first: handling one may change the index. */
    struct dir *ds[4];
    size_t n = 0;
    for (size_t i = wd_first(w, ev->wd);
         i < w->n_wds && w->wds[i].wd == ev->wd && n < 4; i++)
        ds[n++] = w->wds[i].d;
    for (size_t i = 0; i < n; i++)
        on_dir_event(w, ds[i], ev, now);
}

static void drain(struct watch *w)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int64_t now = mono_ms();
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            on_event(w, ev, now);
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* ---- polling ------------------------------------------------------------ */

/*
 * poll_entry compares one file with what was last handed over. A change
 * is a candidate until its metadata stayed the same for POLL_SETTLE_MS,
 * and then becomes a finished change, unless inotify says it is still
 * being written. Returns whether a change is still settling.
 */
static bool poll_entry(struct watch *w, struct dir *d, int dfd, struct entry *e,
                       int64_t now)
{
    struct fmeta m = stat_at(dfd, e->name);
    if (same_meta(&m, &e->seen)) {
        e->cand_since = 0;
        return false;
    }
    if (e->cand_since == 0 || !same_meta(&m, &e->cand)) {
        e->cand = m;
        e->cand_since = now;
        return true;
    }
    if (now - e->cand_since < POLL_SETTLE_MS)
        return true;
    char rel[PATH_MAX];
    if (join_rel(d, e->name, rel, sizeof(rel)) == 0) {
        struct pending *p = pending_for(w, d->root, rel);
        if (p == NULL) {
            w->full = true;
        } else if (p->writing && now - p->last_modify < WRITING_STALE_MS) {
            return true; /* inotify will tell when it is closed */
        } else {
            p->writing = false;
            p->finished = now - POLL_SETTLE_MS; /* due now */
            if (strcmp(e->name, "..data") == 0)
                note(w, d->root, NULL, false, now - POLL_SETTLE_MS);
        }
    }
    e->seen = m;
    e->cand_since = 0;
    return false;
}

/*
 * poll_dir looks at d: its own metadata (listed again when it changed)
 * and up to *budget of its files from *from on (all of them with a NULL
 * budget). Returns whether a change is still settling; *from is where the
 * next look starts (0 once the end was reached).
 */
static bool poll_dir(struct watch *w, struct dir *d, size_t *from,
                     size_t *budget, int64_t now)
{
    struct fmeta self = {0};
    struct stat sb;
    bool settling = false;
    if (stat(d->path, &sb) == 0) {
        self.present = true;
        self.ino = sb.st_ino;
        self.dev = sb.st_dev;
        self.mtime_ns = ns(&sb.st_mtim);
        self.ctime_ns = ns(&sb.st_ctim);
        self.mode = sb.st_mode;
    }
    if (budget != NULL && *budget > 0)
        (*budget)--; /* a directory costs a look too */
    if (!same_meta(&self, &d->self)) {
        bool moved = self.present && d->self.present &&
                     (self.dev != d->self.dev || self.ino != d->self.ino);
        if (moved) {
            /* Another directory behind the same name (a swapped symlink):
             * everything in it may be new, and the watch must follow. */
            note(w, d->root, d->rel[0] ? d->rel : NULL, false, now);
            watch_dir(w, d, (char[64]){0}, 64, &(int){0});
        }
        if (!self.present && d->rel[0] != '\0') {
            d->gone = true;
            note(w, d->root, d->rel, false, now);
        } else if (!self.present || !d->self.present) {
            note(w, d->root, d->rel[0] ? d->rel : NULL, false, now);
        }
        d->self = self;
        relist(w, d);
    }
    int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if ((dfd < 0 && self.present) != d->unreadable) {
        /* A directory that is there but cannot be opened (chmod 000) makes
         * its files look gone; they are not. Its root is read again whole
         * instead, which keeps what was loaded and reports the directory,
         * once when it becomes unreadable and once when it is back. */
        d->unreadable = !d->unreadable;
        note(w, d->root, NULL, false, now);
    }
    if (d->unreadable) {
        *from = 0;
        return settling;
    }
    size_t i = *from;
    for (; i < d->n && (budget == NULL || *budget > 0); i++) {
        if (budget != NULL)
            (*budget)--;
        settling |= poll_entry(w, d, dfd, &d->e[i], now);
    }
    *from = i < d->n ? i : 0;
    if (dfd >= 0)
        close(dfd);
    return settling;
}

/*
 * poll_all is one polling round: every directory inotify does not watch,
 * whole; the watched ones for at most POLL_BUDGET files, carrying on where
 * the last round stopped; and every change that is settling. Returns
 * whether a change is still settling (look again soon).
 */
static bool poll_all(struct watch *w, int64_t now, bool recheck_only)
{
    bool settling = false;
    size_t budget = POLL_BUDGET;
    for (size_t i = 0; i < w->n_dirs; i++) {
        struct dir *d = w->dirs[i];
        bool settles = false;
        for (size_t j = 0; j < d->n && !settles; j++)
            settles = d->e[j].cand_since != 0;
        if (d->wd < 0 && !recheck_only) {
            size_t from = 0;
            settling |= poll_dir(w, d, &from, NULL, now);
        } else if (settles) {
            size_t from = 0;
            settling |= poll_dir(w, d, &from, NULL, now);
        }
    }
    /* The safety net over the watched directories. */
    for (size_t k = 0; !recheck_only && k < w->n_dirs && budget > 0; k++) {
        if (w->sweep_dir >= w->n_dirs)
            w->sweep_dir = 0;
        struct dir *d = w->dirs[w->sweep_dir];
        if (d->wd >= 0) {
            settling |= poll_dir(w, d, &w->sweep_entry, &budget, now);
            if (w->sweep_entry != 0)
                break; /* out of budget in the middle of d */
        }
        w->sweep_dir++;
    }
    drop_gone(w);
    return settling;
}

/* ---- handing over ------------------------------------------------------- */

/* due tells whether the finished changes should go to the store now. */
static int64_t due_at(const struct watch *w)
{
    if (w->first_event < 0)
        return -1;
    bool only_policy = true;
    for (size_t i = 0; i < w->n_pend; i++)
        if (w->pend[i].finished != 0 && w->pend[i].root != STORE_POLICY_DIR)
            only_policy = false;
    const int64_t debounce = w->cfg->reload_debounce_ms;
    const int64_t settle = debounce < SETTLE_MS ? debounce : SETTLE_MS;
    int64_t quiet = w->last_event + (only_policy ? settle : debounce);
    int64_t cap = w->first_event + debounce * DEBOUNCE_CAP;
    return quiet < cap ? quiet : cap;
}

/*
 * unfinished answers the store during a reload (see store_set_unfinished):
 * the events that came since it began are read first, so a save begun
 * before the store read the file is known by now. Unfinished are: a file
 * being written (inotify saw no close yet), one changed again since the
 * reload began and, where only polling watches, a change that has not
 * settled. (There a save begun after polling last looked is not known:
 * SIGHUP reads what is there, as a reload on demand must.)
 */
static bool unfinished(void *ctx, enum store_root root, const char *rel)
{
    struct watch *w = ctx;
    if (!in_watcher)
        return false; /* the start-up loads (main): what they read
                         wrongly, the watcher's pending changes put
                         right once it runs */
    if (w->ifd >= 0)
        drain(w);
    const struct pending *p = find_pending(w, root, rel);
    if (p != NULL && (p->writing || p->seq > w->mark))
        return true;
    struct dir *d;
    const struct entry *e = entry_of(w, root, rel, &d);
    return e != NULL && d->wd < 0 && e->cand_since != 0;
}

/* unit_key writes what a certificate path's pair is known by: its
 * directory (`live/a`, `a`), or its name without .crt, .key or .pem. */
static void unit_key(const char *rel, char *out, size_t outlen)
{
    const char *slash = strrchr(rel, '/');
    size_t n = slash != NULL ? (size_t)(slash - rel) : strlen(rel);
    if (slash == NULL && n > 4 &&
        (has_suffix(rel, ".crt") || has_suffix(rel, ".key") ||
         has_suffix(rel, ".pem")))
        n -= 4;
    snprintf(out, outlen, "%.*s", (int)n, rel);
}

/* sibling_busy tells whether the pair of a finished certificate path has
 * another file still being written: loading it now would pair a new key
 * with half a certificate, or the other way round. */
static bool sibling_busy(const struct watch *w, const struct pending *p)
{
    char key[PATH_MAX], other[PATH_MAX];
    if (p->root == STORE_POLICY_DIR || p->rel == NULL)
        return false;
    unit_key(p->rel, key, sizeof(key));
    for (size_t i = 0; i < w->n_pend; i++) {
        const struct pending *q = &w->pend[i];
        if (q == p || q->root != p->root || q->rel == NULL || !q->writing)
            continue;
        unit_key(q->rel, other, sizeof(other));
        if (strcmp(key, other) == 0)
            return true;
    }
    return false;
}

/* remember records what a path handed over by inotify looks like now, so
 * that the safety-net poll does not hand it over again. */
static void remember(struct watch *w, const struct pending *p)
{
    struct dir *d;
    struct entry *e = p->rel != NULL ? entry_of(w, p->root, p->rel, &d) : NULL;
    if (e == NULL)
        return;
    int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    e->seen = stat_at(dfd, e->name);
    e->cand_since = 0;
    if (dfd >= 0)
        close(dfd);
}

/* hand_over gives the store every finished change (the ones still being
 * written wait, and so do certificate files whose pair is still being
 * written) and reloads. A change that comes during the reload stays
 * pending, for the next one. */
static void hand_over(struct watch *w, const char *why)
{
    struct store_change *ch = calloc(w->n_pend + 1, sizeof(*ch));
    size_t n = 0;
    int rc;
    const bool lost = w->full;
    w->mark = w->seq;
    w->full = false;
    if (lost || w->retry || w->hup || ch == NULL) {
        log_msg(w->lg, LOG_LEVEL_DEBUG, "reloading everything: %s",
                lost ? "events were lost" : why);
        if (w->ifd >= 0)
            rewatch(w);
        /* After lost events nothing is known about who is writing. */
        for (size_t i = 0; lost && i < w->n_pend; i++) {
            w->pend[i].writing = false;
            if (w->pend[i].finished == 0)
                w->pend[i].finished = mono_ms(); /* this reload reads it */
        }
        w->hup = false;
        rc = store_reload(w->st);
        for (size_t i = 0; i < w->n_pend; i++)
            if (w->pend[i].finished != 0 && w->pend[i].seq <= w->mark)
                w->pend[i].finished = -1; /* handed over */
    } else {
        for (size_t i = 0; i < w->n_pend; i++) {
            struct pending *p = &w->pend[i];
            if (p->finished <= 0)
                continue;
            if (sibling_busy(w, p))
                continue; /* again when the sibling is closed */
            remember(w, p);
            ch[n++] = (struct store_change){p->root, p->rel};
        }
        log_msg(w->lg, LOG_LEVEL_DEBUG, "reloading %zu changed path%s: %s", n,
                n == 1 ? "" : "s", why);
        rc = n > 0 ? store_update(w->st, ch, n) : 0;
        for (size_t i = 0; i < w->n_pend; i++)
            if (w->pend[i].finished > 0 && w->pend[i].seq <= w->mark)
                w->pend[i].finished = -1;
    }
    free(ch);
    /* Forget what was handed over; what is being written, or came during
     * the reload, stays. */
    size_t k = 0;
    bool due = false;
    for (size_t i = 0; i < w->n_pend; i++) {
        if (w->pend[i].finished == -1) {
            free(w->pend[i].rel);
            continue;
        }
        due = due || w->pend[i].finished > 0;
        w->pend[k++] = w->pend[i];
    }
    w->n_pend = k;
    w->first_event = w->last_event = -1;
    if (due)
        event_at(w, mono_ms()); /* saves finished during the reload */
    w->retry = rc == 1;
    if (w->retry)
        /* The reload failed without looking wrong on disk (out of memory,
         * say): the next poll reloads everything again. */
        log_msg(w->lg, LOG_LEVEL_WARN, "watch: retrying the reload in %u ms",
                w->cfg->poll_interval_ms);
}

/* polled_finished tells whether polling found changes that are due. */
static bool polled_finished(const struct watch *w)
{
    for (size_t i = 0; i < w->n_pend; i++)
        if (w->pend[i].finished > 0 && w->first_event < 0)
            return true;
    return w->full;
}

static void *run(void *arg)
{
    struct watch *w = arg;
    in_watcher = true;
    const int64_t interval = w->cfg->poll_interval_ms;
    int64_t next_poll = mono_ms() + interval;
    int64_t next_recheck = -1;

    for (;;) {
        int64_t now = mono_ms();
        int64_t wake = next_poll;
        int64_t due = due_at(w);
        if (due >= 0 && due < wake)
            wake = due;
        if (next_recheck >= 0 && next_recheck < wake)
            wake = next_recheck;
        int timeout = wake > now ? (int)(wake - now) : 0;
        struct pollfd pfd[2] = {{.fd = w->stop_pipe[0], .events = POLLIN},
                                {.fd = w->ifd, .events = POLLIN}};
        int rc = poll(pfd, w->ifd >= 0 ? 2 : 1, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (pfd[0].revents != 0) {
            /* 'r' asks for a reload; anything else (or none) is stop. */
            char cmd[16];
            ssize_t got = read(w->stop_pipe[0], cmd, sizeof(cmd));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0 || memchr(cmd, 'r', (size_t)got) == NULL ||
                memchr(cmd, 'x', (size_t)got) != NULL)
                break;
            w->hup = true;
        }
        now = mono_ms();
        /* Read every event there is, also ones that came after poll()
         * returned: a reload must know every save that is under way. */
        if (w->ifd >= 0)
            drain(w);
        due = due_at(w);
        if (w->hup) {
            hand_over(w, "SIGHUP");
            continue;
        }
        if (w->full || (due >= 0 && now >= due)) {
            hand_over(w, "files changed");
            continue;
        }
        bool polled = false;
        if (now >= next_poll) {
            store_tick(w->st, time(NULL));
            next_recheck = poll_all(w, now, false) ? now + POLL_RECHECK_MS : -1;
            next_poll = mono_ms() + interval;
            polled = true;
        } else if (next_recheck >= 0 && now >= next_recheck) {
            next_recheck = poll_all(w, now, true) ? now + POLL_RECHECK_MS : -1;
            polled = true;
        }
        if (polled && (polled_finished(w) || w->retry))
            hand_over(w, "poll found a change");
    }
    return NULL;
}

struct watch *watch_new(const struct config *cfg, const struct logger *lg,
                        struct store *st)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->cfg = cfg;
    w->lg = lg;
    w->st = st;
    w->ifd = -1;
    w->first_event = w->last_event = -1;
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
    }
    struct dir *pd =
        add_dir(w, DIR_POLICY, STORE_POLICY_DIR, "", cfg->policy_dir);
    struct dir *cd =
        add_dir(w, DIR_CERT_ROOT, STORE_CERT_DIR, "", cfg->cert_dir);
    /* The certificates the host obtains by ACME: another certificate
     * root, so that a new one is loaded the moment it is renamed in (also
     * when another replica sharing the state directory wrote it). */
    char acme_dir[PATH_MAX] = "";
    struct dir *ad = NULL;
    if (cfg->acme &&
        acme_state_certs_dir(cfg->state_dir, acme_dir, sizeof(acme_dir)) == 0)
        ad = add_dir(w, DIR_CERT_ROOT, STORE_ACME_DIR, "", acme_dir);
    if (pd == NULL || cd == NULL || (cfg->acme && ad == NULL)) {
        log_msg(lg, LOG_LEVEL_ERROR, "watch: out of memory");
        watch_stop(w);
        return NULL;
    }
    /* The baseline: what the directories look like before the store reads
     * them. Listing a directory may add subdirectories to the list. */
    for (size_t i = 0; i < w->n_dirs; i++) {
        struct dir *d = w->dirs[i];
        struct stat sb;
        if (stat(d->path, &sb) == 0)
            d->self = (struct fmeta){.present = true,
                                     .mode = sb.st_mode,
                                     .dev = sb.st_dev,
                                     .ino = sb.st_ino,
                                     .mtime_ns = ns(&sb.st_mtim),
                                     .ctime_ns = ns(&sb.st_ctim)};
        list_dir(w, d, true);
    }
    if (w->ifd >= 0)
        rewatch(w); /* says what it cannot watch */
    /* The store asks the watcher's thread which files are being saved. */
    store_set_unfinished(st, unfinished, w);
    log_msg(lg, LOG_LEVEL_INFO,
            "watching %s%s %s%s%s (%s, polling every %u ms as a safety net)",
            cfg->policy_dir, ad != NULL ? "," : " and", cfg->cert_dir,
            ad != NULL ? " and " : "", ad != NULL ? acme_dir : "",
            w->ifd >= 0 ? "inotify" : "polling only", cfg->poll_interval_ms);
    return w;
}

int watch_run(struct watch *w)
{
    int rc = pthread_create(&w->thread, NULL, run, w);
    if (rc != 0) {
        log_msg(w->lg, LOG_LEVEL_ERROR, "watch: cannot start thread: %s",
                strerror(rc));
        return -1;
    }
    w->running = true;
    return 0;
}

int watch_reload(struct watch *w)
{
    if (w == NULL || !w->running)
        return -1;
    ssize_t n;
    do
        n = write(w->stop_pipe[1], "r", 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

void watch_stop(struct watch *w)
{
    if (w == NULL)
        return;
    if (w->running) {
        ssize_t n;
        do
            n = write(w->stop_pipe[1], "x", 1);
        while (n < 0 && errno == EINTR);
        pthread_join(w->thread, NULL);
    }
    store_set_unfinished(w->st, NULL, NULL);
    close(w->stop_pipe[0]);
    close(w->stop_pipe[1]);
    if (w->ifd >= 0)
        close(w->ifd);
    for (size_t i = 0; i < w->n_dirs; i++)
        dir_free(w->dirs[i]);
    free(w->dirs);
    free(w->wds);
    for (size_t i = 0; i < w->n_pend; i++)
        free(w->pend[i].rel);
    free(w->pend);
    free(w);
}
