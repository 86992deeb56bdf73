/*
 * sorted: the one lower-bound search over a sorted array, for the tables
 * that are kept sorted and grow by insertion (the store's files and
 * certificate units, the watcher's directories). bsearch(3) only finds; an
 * insertion needs the place where a key would go. Pure, any thread.
 */
#ifndef MTA_STS_SORTED_H
#define MTA_STS_SORTED_H

#include <stdbool.h>
#include <stddef.h>

/*
 * sorted_slot finds key in base[0..n) (records of size bytes, ascending by
 * cmp(key, record)): its index with *found set, or the index where it would
 * be inserted with *found clear.
 */
size_t sorted_slot(const void *key, const void *base, size_t n, size_t size,
                   int (*cmp)(const void *key, const void *record),
                   bool *found);

#endif
