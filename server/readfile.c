/*
 * readfile: capped whole-file reads (see readfile.h). Blocking I/O on the
 * calling thread; no globals.
 */
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int readfile(const char *path, size_t max, char **out, size_t *len, char *err,
             size_t errlen)
{
    int rc = -1;
    char *data = NULL;
    size_t used = 0;
    struct stat st;
    /* O_NONBLOCK: opening a FIFO must not hang; regular files ignore it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    data = malloc(max + 2);
    if (data == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    while (used < max + 1) {
        ssize_t n = read(fd, data + used, max + 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    data[used] = '\0';
    *out = data;
    *len = used;
    data = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(data);
    return rc;
}
