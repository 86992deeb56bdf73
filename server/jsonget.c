/*
 * jsonget: reading members of a parsed JSON document (jansson) with the
 * path of each value in every message ("policies[0].summary: expected a
 * non-negative integer, found -1"), so that every parser of JSON answers
 * (TLS reports, ACME server answers) says what it expected and what it
 * found the same way (see jsonget.h). Pure: no I/O, no globals.
 */
#include "jsonget.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonget_note(struct diag *d, enum diag_severity sev, const char *path,
                  const char *fmt, ...)
{
    char msg[DIAG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_add(d, sev, 0, 0, "%s%s%s", path, *path ? ": " : "", msg);
}

#define fail(d, ...) jsonget_note(d, DIAG_ERROR, __VA_ARGS__)

const char *jsonget_found(const json_t *v, char *out, size_t outlen)
{
    char q[JSONGET_FOUND_SIZE];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        diag_quote(json_string_value(v), json_string_length(v), q, sizeof(q));
        if (snprintf(out, outlen, "\"%s\"", q) >= (int)outlen)
            return "a long string";
        return out;
    case JSON_INTEGER:
        snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return out;
    case JSON_REAL:
        snprintf(out, outlen, "%g", json_real_value(v));
        return out;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return "null";
    }
}

const char *jsonget_join(char *out, const char *path, const char *key, size_t i)
{
    int n;
    if (key == NULL)
        n = snprintf(out, JSONGET_PATH_MAX, "%s[%zu]", path, i);
    else
        n = snprintf(out, JSONGET_PATH_MAX, "%s%s%s", path, *path ? "." : "",
                     key);
    if (n < 0 || n >= JSONGET_PATH_MAX)
        memcpy(out + JSONGET_PATH_MAX - 4, "...", 4);
    return out;
}

int jsonget_string(const json_t *obj, const char *path, const char *key,
                   enum jsonget_want want, char **out, struct diag *d)
{
    char p[JSONGET_PATH_MAX], f[JSONGET_FOUND_SIZE];
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    jsonget_join(p, path, key, 0);
    if (v == NULL || json_is_null(v)) {
        if (want == JSONGET_OPTIONAL)
            return 0;
        fail(d, p, "expected a string, found %s",
             v == NULL ? "nothing (required)" : "null");
        return -1;
    }
    if (!json_is_string(v)) {
        fail(d, p, "expected a string, found %s",
             jsonget_found(v, f, sizeof(f)));
        return -1;
    }
    if (json_string_length(v) == 0) {
        if (want == JSONGET_NONEMPTY) {
            fail(d, p, "expected a non-empty string, found \"\"");
            return -1;
        }
        if (want == JSONGET_OPTIONAL)
            return 0;
    }
    *out = strdup(json_string_value(v));
    if (*out == NULL) {
        fail(d, p, "out of memory");
        return -1;
    }
    return 0;
}

int jsonget_count(const json_t *obj, const char *path, const char *key,
                  int64_t *out, struct diag *d)
{
    char p[JSONGET_PATH_MAX], f[JSONGET_FOUND_SIZE];
    const json_t *v = json_object_get(obj, key);
    jsonget_join(p, path, key, 0);
    if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 0) {
        fail(d, p, "expected a non-negative integer, found %s",
             v == NULL ? "nothing (required)" : jsonget_found(v, f, sizeof(f)));
        return -1;
    }
    *out = (int64_t)json_integer_value(v);
    return 0;
}

const json_t *jsonget_object(const json_t *obj, const char *path,
                             const char *key, struct diag *d)
{
    char p[JSONGET_PATH_MAX], f[JSONGET_FOUND_SIZE];
    const json_t *v = json_object_get(obj, key);
    if (v != NULL && json_is_object(v))
        return v;
    fail(d, jsonget_join(p, path, key, 0), "expected an object, found %s",
         v == NULL ? "nothing (required)" : jsonget_found(v, f, sizeof(f)));
    return NULL;
}

int jsonget_strings(const json_t *obj, const char *path, const char *key,
                    bool one_ok, char ***out, size_t *n, struct diag *d)
{
    char p[JSONGET_PATH_MAX], pi[JSONGET_PATH_MAX], f[JSONGET_FOUND_SIZE];
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    *n = 0;
    jsonget_join(p, path, key, 0);
    if (v == NULL || json_is_null(v))
        return 0;
    if (one_ok && json_is_string(v)) {
        *out = calloc(1, sizeof(**out));
        if (*out == NULL || ((*out)[0] = strdup(json_string_value(v))) == NULL)
            goto nomem;
        *n = 1;
        return 0;
    }
    if (!json_is_array(v)) {
        fail(d, p, "expected an array of strings, found %s",
             jsonget_found(v, f, sizeof(f)));
        return -1;
    }
    size_t len = json_array_size(v);
    if (len == 0)
        return 0;
    *out = calloc(len, sizeof(**out));
    if (*out == NULL)
        goto nomem;
    for (size_t i = 0; i < len; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            fail(d, jsonget_join(pi, p, NULL, i), "expected a string, found %s",
                 jsonget_found(e, f, sizeof(f)));
            return -1;
        }
        if (((*out)[i] = strdup(json_string_value(e))) == NULL)
            goto nomem;
        *n = i + 1;
    }
    return 0;
nomem:
    fail(d, p, "out of memory");
    return -1;
}

const json_t *jsonget_array(const json_t *obj, const char *path,
                            const char *key, bool required, bool *bad,
                            struct diag *d)
{
    char p[JSONGET_PATH_MAX], f[JSONGET_FOUND_SIZE];
    const json_t *v = json_object_get(obj, key);
    if (v != NULL && json_is_array(v))
        return v;
    if ((v == NULL || json_is_null(v)) && !required)
        return NULL;
    fail(d, jsonget_join(p, path, key, 0), "expected an array, found %s",
         v == NULL ? "nothing (required)" : jsonget_found(v, f, sizeof(f)));
    *bad = true;
    return NULL;
}
