/*
 * jsonget: members of a parsed JSON document (jansson) read with the path
 * of each value, so that messages say where ("policies[0].summary"), what
 * was expected and what was found, in the diag style of every parser
 * here. The reports (TLS reports, ACME answers) are parsed by their own
 * modules; this one only reads typed members. Pure: no I/O, no globals,
 * any thread.
 */
#ifndef MTA_STS_JSONGET_H
#define MTA_STS_JSONGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "diag.h"

/* A path kept for messages, and a "found ..." rendering of a value. */
#define JSONGET_PATH_MAX 160
#define JSONGET_FOUND_SIZE 192

/* How much a string member must be there: absent, null or "" is fine;
 * present (maybe empty); present and non-empty. */
enum jsonget_want { JSONGET_OPTIONAL, JSONGET_REQUIRED, JSONGET_NONEMPTY };

/* jsonget_note records a finding about the value at path ("" = the whole
 * document) as "path: message". */
void jsonget_note(struct diag *d, enum diag_severity sev, const char *path,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* jsonget_found describes v for "found ...": its type, or a short quoted
 * rendering of a string or a number (in out, JSONGET_FOUND_SIZE bytes). */
const char *jsonget_found(const json_t *v, char *out, size_t outlen);

/* jsonget_join writes path "." key (or path "[" i "]" when key is NULL)
 * into out (JSONGET_PATH_MAX bytes); a path too long ends in "...". */
const char *jsonget_join(char *out, const char *path, const char *key,
                         size_t i);

/*
 * jsonget_string copies the string member key of obj into *out (freed by
 * the caller). An optional member that is absent, null or "" leaves *out
 * NULL; a required one must be a string, a non-empty one a non-empty
 * string. Returns 0 or -1 (with the finding in d).
 */
int jsonget_string(const json_t *obj, const char *path, const char *key,
                   enum jsonget_want want, char **out, struct diag *d);

/* jsonget_count reads a required non-negative integer member. */
int jsonget_count(const json_t *obj, const char *path, const char *key,
                  int64_t *out, struct diag *d);

/* jsonget_object returns the required object member key, or NULL. */
const json_t *jsonget_object(const json_t *obj, const char *path,
                             const char *key, struct diag *d);

/*
 * jsonget_strings copies an optional member that is an array of strings
 * (or, with one_ok, a single string, taken as an array of one) into *out
 * (*n entries; each and the array freed by the caller, also after -1).
 */
int jsonget_strings(const json_t *obj, const char *path, const char *key,
                    bool one_ok, char ***out, size_t *n, struct diag *d);

/* jsonget_array returns the array member key (NULL when absent, or null,
 * and not required), or NULL and sets *bad. */
const json_t *jsonget_array(const json_t *obj, const char *path,
                            const char *key, bool required, bool *bad,
                            struct diag *d);

#endif
