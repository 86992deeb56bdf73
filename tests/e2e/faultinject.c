/*
 * faultinject: an LD_PRELOAD shim for the end-to-end tests that makes
 * chosen system calls and allocations fail, so that out-of-memory during a
 * reload and a full inotify watch table can be tested deterministically,
 * without changing global sysctls. Built by CMake for the tests only
 * (libfaultinject.so), never linked into the server. Controlled by the
 * environment:
 *
 *   FAULT_INOTIFY_ENOSPC=SUBSTR   inotify_add_watch on a path containing
 *                                 SUBSTR fails with ENOSPC ("*" = every
 *                                 path), as when fs.inotify.max_user_watches
 *                                 is reached.
 *   FAULT_MALLOC_FAIL_AFTER_OPEN=SUBSTR:COUNT[:SKIP[:NTH]]
 *                                 on the NTH (default 1st) open() or
 *                                 opendir() of a path containing SUBSTR,
 *                                 the opening thread lets SKIP (default 0)
 *                                 allocations through and then fails the
 *                                 next COUNT malloc/calloc/realloc/
 *                                 posix_memalign/aligned_alloc calls. Fires
 *                                 once.
 *   FAULT_SPARE=LIB[,LIB...]      allocations with a library whose path
 *                                 contains LIB among the last few callers
 *                                 are neither counted nor failed: for
 *                                 libraries that cannot survive a failed
 *                                 allocation and that the server cannot
 *                                 fix (libtasn1 4.19 dereferences NULL in
 *                                 asn1_create_element; GnuTLS makes GMP
 *                                 abort when an allocation fails).
 *   FAULT_CONTROL=FILE            the same spec, read from FILE at every
 *                                 matching point instead; FILE is deleted
 *                                 when the fault fires, so a test arms one
 *                                 fault at a time in a running process.
 *
 * Every injected failure is reported on stderr as one line starting with
 * "faultinject: ", so a test can tell that its fault really fired. Under
 * AddressSanitizer the shim must come first in LD_PRELOAD order; run with
 * ASAN_OPTIONS=verify_asan_link_order=0 so ASan accepts that (its own
 * malloc is then reached through dlsym(RTLD_NEXT)).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <unwind.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TLS __thread __attribute__((tls_model("initial-exec")))
#define SPEC_MAX 512
/* Callers looked at for FAULT_SPARE: enough to get from the allocator
 * through a library's wrappers to the library itself. */
#define SPARE_DEPTH 8

/* Per thread: allocations still to let through, then still to fail. */
static TLS long skip_left;
static TLS long fail_left;
static TLS int in_hook; /* our own work must not be counted or failed */
/* Matching opens seen so far (all threads), for NTH. */
static long opens_seen;
static int fired; /* the env spec fires once */
/* The path substring of the last fault that fired: opening such a path
 * again in a thread disarms what is left of that thread's fault, so a
 * fault that outlived one reload does not leak into the next. */
static char last_sub[SPEC_MAX];

static void *(*real_malloc)(size_t);
static void (*real_free)(void *);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static DIR *(*real_opendir)(const char *);
static int (*real_inotify_add_watch)(int, const char *, uint32_t);

/* dlsym may allocate before real_calloc is known; serve that from here. */
static _Alignas(16) unsigned char boot[8192];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t n)
{
    size_t start = (boot_used + 15) & ~(size_t)15;
    if (start + n > sizeof(boot))
        return NULL;
    boot_used = start + n;
    return boot + start;
}

static int is_boot(const void *p)
{
    return (const unsigned char *)p >= boot &&
           (const unsigned char *)p < boot + sizeof(boot);
}

/* SYM looks up the next definition of name. POSIX allows a dlsym result
 * to be used as a function pointer; ISO C only by way of memcpy. */
#define SYM(var, name)                                                         \
    do {                                                                       \
        void *p_ = dlsym(RTLD_NEXT, name);                                     \
        memcpy(&(var), &p_, sizeof(var));                                      \
    } while (0)

static void resolve(void)
{
    if (real_malloc != NULL || resolving)
        return;
    resolving = 1;
    SYM(real_calloc, "calloc");
    SYM(real_realloc, "realloc");
    SYM(real_posix_memalign, "posix_memalign");
    SYM(real_aligned_alloc, "aligned_alloc");
    SYM(real_open, "open");
    SYM(real_open64, "open64");
    SYM(real_opendir, "opendir");
    SYM(real_inotify_add_watch, "inotify_add_watch");
    SYM(real_free, "free");
    /* Last: a set real_malloc means everything is resolved. */
    SYM(real_malloc, "malloc");
    resolving = 0;
}

/* say writes one report line with write(2): no stdio, no allocation. */
static void say(const char *a, const char *b, long n)
{
    char line[600];
    int len =
        snprintf(line, sizeof(line), "faultinject: %s%s (%ld)\n", a, b, n);
    if (len > 0) {
        size_t l = (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1;
        ssize_t w = write(STDERR_FILENO, line, l);
        (void)w;
    }
}

/* in_spared_lib tells whether code address pc lies in a spared library. */
static int in_spared_lib(const void *pc, const char *spare)
{
    Dl_info info;
    char list[SPEC_MAX];
    int hit = 0;
    if (dladdr(pc, &info) == 0 || info.dli_fname == NULL ||
        (size_t)snprintf(list, sizeof(list), "%s", spare) >= sizeof(list))
        return 0;
    for (char *tok = list, *end; tok != NULL && !hit; tok = end) {
        end = strchr(tok, ',');
        if (end != NULL)
            *end++ = '\0';
        hit = tok[0] != '\0' && strstr(info.dli_fname, tok) != NULL;
    }
    return hit;
}

struct walk {
    const char *spare;
    int depth, hit;
};

static _Unwind_Reason_Code walk_frame(struct _Unwind_Context *ctx, void *arg)
{
    struct walk *w = arg;
    if (w->depth++ > 0 && /* frame 0 is the shim itself */
        in_spared_lib((const void *)_Unwind_GetIP(ctx), w->spare))
        w->hit = 1;
    return w->hit || w->depth >= SPARE_DEPTH ? _URC_END_OF_STACK
                                             : _URC_NO_REASON;
}

/* spared tells whether a spared library is among the callers of the
 * allocation being decided. The unwinder is libgcc's, linked in directly:
 * glibc's backtrace() would dlopen it, allocating on the way. */
static int spared(void)
{
    struct walk w = {getenv("FAULT_SPARE"), 0, 0};
    if (w.spare == NULL || w.spare[0] == '\0')
        return 0;
    in_hook++;
    _Unwind_Backtrace(walk_frame, &w);
    in_hook--;
    return w.hit;
}

/* should_fail decides for one allocation of the calling thread. */
static int should_fail(void)
{
    if (in_hook || fail_left <= 0 || spared())
        return 0;
    if (skip_left > 0) {
        skip_left--;
        return 0;
    }
    fail_left--;
    return 1;
}

static void report_fail(const char *fn)
{
    in_hook++;
    say("failed ", fn, fail_left);
    in_hook--;
}

/* read_control reads the spec from FAULT_CONTROL into out (via raw
 * syscalls, so nothing recurses into the hooks). */
static int read_control(char *out, size_t outlen)
{
    const char *path = getenv("FAULT_CONTROL");
    if (path == NULL)
        return -1;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, out, outlen - 1);
    close(fd);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    return 0;
}

/* after_open arms the allocation fault when path matches the spec. */
static void after_open(const char *path)
{
    char spec[SPEC_MAX];
    const char *env = getenv("FAULT_MALLOC_FAIL_AFTER_OPEN");
    int from_control = 0;
    if (path == NULL || in_hook)
        return;
    in_hook++;
    if (read_control(spec, sizeof(spec)) == 0) {
        from_control = 1;
    } else if (env != NULL && !fired &&
               (size_t)snprintf(spec, sizeof(spec), "%s", env) < sizeof(spec)) {
    } else {
        if (fail_left > 0 && last_sub[0] != '\0' &&
            strstr(path, last_sub) != NULL) {
            skip_left = fail_left = 0;
            say("disarmed the rest of the fault at ", path, 0);
        }
        goto out;
    }
    char *c1 = strchr(spec, ':');
    if (c1 == NULL)
        goto out;
    *c1 = '\0';
    long count = 0, skip = 0, nth = 1;
    char *rest = c1 + 1;
    count = strtol(rest, &rest, 10);
    if (*rest == ':')
        skip = strtol(rest + 1, &rest, 10);
    if (*rest == ':')
        nth = strtol(rest + 1, &rest, 10);
    if (spec[0] == '\0' || strstr(path, spec) == NULL)
        goto out;
    if (__atomic_add_fetch(&opens_seen, 1, __ATOMIC_SEQ_CST) < nth)
        goto out;
    opens_seen = 0;
    if (from_control)
        syscall(SYS_unlinkat, AT_FDCWD, getenv("FAULT_CONTROL"), 0);
    else
        fired = 1;
    skip_left = skip;
    fail_left = count;
    snprintf(last_sub, sizeof(last_sub), "%s", spec);
    say("armed after opening ", path, skip);
out:
    in_hook--;
}

void *malloc(size_t n)
{
    resolve();
    if (real_malloc == NULL)
        return boot_alloc(n);
    if (should_fail()) {
        report_fail("malloc");
        errno = ENOMEM;
        return NULL;
    }
    return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    resolve();
    if (real_calloc == NULL || resolving) {
        if (b != 0 && a > SIZE_MAX / b)
            return NULL;
        void *p = boot_alloc(a * b);
        if (p != NULL)
            memset(p, 0, a * b);
        return p;
    }
    if (should_fail()) {
        report_fail("calloc");
        errno = ENOMEM;
        return NULL;
    }
    return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    resolve();
    if (is_boot(p)) {
        /* Rare: move a bootstrap block to the real heap. */
        void *q = real_malloc != NULL ? real_malloc(n) : boot_alloc(n);
        if (q != NULL)
            memcpy(q, p, n);
        return q;
    }
    if (real_realloc == NULL || should_fail()) {
        report_fail("realloc");
        errno = ENOMEM;
        return NULL;
    }
    return real_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    resolve();
    if (real_posix_memalign == NULL || should_fail()) {
        report_fail("posix_memalign");
        return ENOMEM;
    }
    return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    resolve();
    if (real_aligned_alloc == NULL || should_fail()) {
        report_fail("aligned_alloc");
        errno = ENOMEM;
        return NULL;
    }
    return real_aligned_alloc(align, n);
}

void free(void *p)
{
    if (p == NULL || is_boot(p))
        return;
    resolve();
    /* Only while dlsym itself runs can this be unset; leaking is fine. */
    if (real_free != NULL)
        real_free(p);
}

static int open_common(int (*fn)(const char *, int, ...), const char *path,
                       int flags, va_list ap)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE))
        mode = (mode_t)va_arg(ap, int);
    int fd = fn(path, flags, mode);
    if (fd >= 0)
        after_open(path);
    return fd;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    resolve();
    va_start(ap, flags);
    int fd = open_common(real_open, path, flags, ap);
    va_end(ap);
    return fd;
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    resolve();
    va_start(ap, flags);
    int fd = open_common(real_open64, path, flags, ap);
    va_end(ap);
    return fd;
}

DIR *opendir(const char *path)
{
    resolve();
    DIR *d = real_opendir(path);
    if (d != NULL)
        after_open(path);
    return d;
}

int inotify_add_watch(int fd, const char *path, uint32_t mask)
{
    resolve();
    const char *sub = getenv("FAULT_INOTIFY_ENOSPC");
    if (sub != NULL && sub[0] != '\0' &&
        (strcmp(sub, "*") == 0 || strstr(path, sub) != NULL)) {
        in_hook++;
        say("inotify_add_watch ENOSPC for ", path, 0);
        in_hook--;
        errno = ENOSPC;
        return -1;
    }
    return real_inotify_add_watch(fd, path, mask);
}
