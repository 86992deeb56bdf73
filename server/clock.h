/*
 * clock: the monotonic clock in milliseconds, the one clock of the
 * program's timeouts and deadlines (a wall clock step neither stretches
 * nor cuts them). Any thread.
 */
#ifndef MTA_STS_CLOCK_H
#define MTA_STS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
