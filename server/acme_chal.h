/*
 * acme_chal: the table of pending challenge answers (owned by the acmeedge
 * branch, which implements it; this is the agreed contract the ACME client
 * calls, so that both halves build on their own until they are merged).
 */
#ifndef MTA_STS_ACME_CHAL_H
#define MTA_STS_ACME_CHAL_H

#include <stddef.h>

struct acme_chal; /* opaque table */
struct acme_chal *acme_chal_new(void);
void acme_chal_free(struct acme_chal *t);
/* Publish the answer to one challenge for NAME; TYPE is "http-01" or
 * "tls-alpn-01"; TOKEN the challenge's token; KEYAUTH the key
 * authorization "token.thumbprint". Returns 0, or -1 with ERR filled. */
int acme_chal_put(struct acme_chal *t, const char *type, const char *name,
                  const char *token, const char *keyauth, char *err,
                  size_t errlen);
/* Withdraw it once the challenge is valid or invalid. */
void acme_chal_drop(struct acme_chal *t, const char *type, const char *name,
                    const char *token);

#endif
