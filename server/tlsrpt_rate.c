/*
 * tlsrpt_rate: token buckets per client address in a fixed table (see
 * tlsrpt_rate.h). Tokens are counted in thousandths so that refilling
 * needs no floating point. Pure: no I/O, no globals, no locks.
 */
#include "tlsrpt_rate.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 4
#define KEY_MAX 46 /* an IPv6 address in text, with its NUL */
#define MILLI 1000

struct entry {
    unsigned char key[KEY_MAX];
    unsigned char key_len; /* 0 = free */
    int64_t tokens;        /* thousandths of a token */
    int64_t last_ms;
    uint64_t used; /* when last looked up, for the eviction */
};

struct tlsrpt_rate {
    unsigned per_minute;
    uint64_t seed;
    uint64_t clock; /* counts look-ups */
    struct entry e[TLSRPT_RATE_ENTRIES];
};

struct tlsrpt_rate *tlsrpt_rate_new(unsigned per_minute, uint64_t seed)
{
    struct tlsrpt_rate *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->per_minute = per_minute;
    r->seed = seed;
    return r;
}

void tlsrpt_rate_free(struct tlsrpt_rate *r)
{
    free(r);
}

/* make_key reduces an address to what one client controls: an IPv4
 * address (also when mapped into IPv6) or an IPv6 /64. */
static size_t make_key(const char *addr, unsigned char key[KEY_MAX])
{
    unsigned char a[16];
    size_t n;
    if (inet_pton(AF_INET, addr, a) == 1) {
        key[0] = 4;
        memcpy(key + 1, a, 4);
        return 5;
    }
    if (inet_pton(AF_INET6, addr, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                                 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
            return 5;
        }
        key[0] = 6;
        memcpy(key + 1, a, 8);
        return 9;
    }
    n = strlen(addr);
    if (n > KEY_MAX - 1)
        n = KEY_MAX - 1;
    key[0] = 0;
    memcpy(key + 1, addr, n);
    return n + 1;
}

/* hash is FNV-1a over the seed and the key, with a final mix. */
static uint64_t hash(uint64_t seed, const unsigned char *k, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= k[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

bool tlsrpt_rate_allow(struct tlsrpt_rate *r, const char *addr, int64_t now_ms)
{
    unsigned char key[KEY_MAX];
    if (r->per_minute == 0)
        return true;
    size_t n = make_key(addr, key);
    size_t set = (size_t)(hash(r->seed, key, n) % (TLSRPT_RATE_ENTRIES / WAYS));
    struct entry *ways = &r->e[set * WAYS], *e = NULL, *victim = &ways[0];
    int64_t cap = (int64_t)r->per_minute * MILLI;
    for (size_t i = 0; i < WAYS && e == NULL; i++) {
        if (ways[i].key_len == n && memcmp(ways[i].key, key, n) == 0)
            e = &ways[i];
        else if (ways[i].key_len == 0 ||
                 (victim->key_len != 0 && ways[i].used < victim->used))
            victim = &ways[i];
    }
    if (e == NULL) {
        /* A new client (or one evicted, which is no worse): a full
         * bucket. */
        e = victim;
        memcpy(e->key, key, n);
        e->key_len = (unsigned char)n;
        e->tokens = cap;
        e->last_ms = now_ms;
    }
    e->used = ++r->clock;
    if (now_ms > e->last_ms) {
        /* per_minute tokens in 60,000 ms, in thousandths: per_minute / 60
         * per millisecond. */
        int64_t add = (now_ms - e->last_ms) * (int64_t)r->per_minute / 60;
        e->tokens = add >= cap - e->tokens ? cap : e->tokens + add;
        e->last_ms = now_ms;
    }
    if (e->tokens < MILLI)
        return false;
    e->tokens -= MILLI;
    return true;
}
