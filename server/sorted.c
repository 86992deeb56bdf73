/*
 * sorted: lower-bound search (see sorted.h). Pure.
 */
#include "sorted.h"

size_t sorted_slot(const void *key, const void *base, size_t n, size_t size,
                   int (*cmp)(const void *key, const void *record), bool *found)
{
    size_t lo = 0, hi = n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp(key, (const char *)base + mid * size);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}
