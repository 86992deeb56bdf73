/*
 * watch: notices edits of the policy and certificate directories and asks
 * the store to reload. It watches the directories, not the files (editors
 * save by rename, Kubernetes swaps a `..data` symlink, `echo >` truncates
 * then writes, certbot replaces files), debounces bursts, and also polls
 * (stat + content hash) on an interval as a safety net for mounts that
 * deliver no inotify events; with force_poll, or when inotify cannot be set
 * up, polling is all it does. Runs on its own thread.
 */
#ifndef MTA_STS_WATCH_H
#define MTA_STS_WATCH_H

#include "config.h"
#include "log.h"
#include "store.h"

struct watch;

/* watch_start starts the watcher thread; NULL when it cannot (logged). */
struct watch *watch_start(const struct config *cfg, const struct logger *lg,
                          struct store *st);

/* watch_stop stops the thread and frees the watcher; NULL is a no-op. */
void watch_stop(struct watch *w);

#endif
