/*
 * watch: notices edits of the policy and certificate directories and tells
 * the store which paths changed. It watches the directories, not the files
 * (editors save by rename, Kubernetes swaps a `..data` symlink, `echo >`
 * truncates then writes, certbot replaces files), and hands a path over
 * only once its save is finished: after its writer closed it or renamed it
 * into place (inotify), or, for what inotify does not report, after its
 * metadata (inode, size, times) stayed the same for a settle period. It
 * polls as a safety net for mounts that deliver no inotify events: every
 * interval for directories inotify cannot watch, and a bounded number of
 * files per interval for those it does; with force_poll, or when inotify
 * cannot be set up, polling is all it does. It never follows a symlink out
 * of the tree (a symlinked directory is looked at, never walked). Runs on
 * its own thread.
 */
#ifndef MTA_STS_WATCH_H
#define MTA_STS_WATCH_H

#include "config.h"
#include "log.h"
#include "store.h"

struct watch;

/* watch_new sets up the watches and records what the directories look
 * like now; call it before the store's first reload, so that an edit made
 * while that reload reads is seen afterwards. NULL when it cannot
 * (logged). */
struct watch *watch_new(const struct config *cfg, const struct logger *lg,
                        struct store *st);

/* watch_run starts the watcher thread; -1 when it cannot (logged). */
int watch_run(struct watch *w);

/* watch_reload asks the watcher thread for a full reload (SIGHUP): every
 * file is read again except the policy files whose save it knows is not
 * finished, which are read once it is. -1 when the thread does not run
 * (then call store_reload). */
int watch_reload(struct watch *w);

/* watch_stop stops the thread and frees the watcher; NULL is a no-op. */
void watch_stop(struct watch *w);

#endif
