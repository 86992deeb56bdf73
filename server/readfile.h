/*
 * readfile: read a whole file into memory with a size cap. The one place
 * the program reads configuration, policy and certificate files, so every
 * caller gets the same error text (path, what failed, strerror). Any thread.
 */
#ifndef MTA_STS_READFILE_H
#define MTA_STS_READFILE_H

#include <stddef.h>

/*
 * readfile reads path into a new NUL-terminated buffer (*out, freed by the
 * caller) of *len bytes. At most max + 1 bytes are read, so a caller can
 * tell "larger than max" from "exactly max" and report the size itself.
 * Returns 0, or -1 with "<path>: <what>: <strerror>" in err and errno set
 * to the system error (0 when there was none, e.g. not a regular file).
 * "Permission denied" names the running user, which after a privilege drop
 * is rarely the one the operator thinks of.
 */
int readfile(const char *path, size_t max, char **out, size_t *len, char *err,
             size_t errlen);

#endif
