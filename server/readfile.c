/*
 * readfile: capped whole-file reads (see readfile.h). Blocking I/O on the
 * calling thread; no globals.
 */
#include "readfile.h"

#include "priv.h"

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
    int rc = -1, saved = 0;
    char *data = NULL;
    size_t used = 0;
    struct stat st;
    /* O_NONBLOCK: opening a FIFO must not hang; regular files ignore it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        saved = errno;
        /* After a privilege drop the usual cause is a file only root may
         * read; name the user so the fix is obvious. */
        char who[128] = "";
        if (saved == EACCES)
            priv_whoami(who, sizeof(who));
        snprintf(err, errlen, "%s: cannot open: %s%s%s%s", path,
                 strerror(saved), who[0] ? " (running as " : "", who,
                 who[0] ? ")" : "");
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        saved = errno;
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    data = malloc(max + 2);
    if (data == NULL) {
        saved = ENOMEM;
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    while (used < max + 1) {
        ssize_t n = read(fd, data + used, max + 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
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
    errno = saved;
    return rc;
}
