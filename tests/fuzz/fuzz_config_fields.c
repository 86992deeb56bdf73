/*
 * libFuzzer target for the single-value checks of server/config.c that
 * also take command-line input: config_split_listen (--https, --http,
 * --metrics), config_check_domain (--domain, certificate SANs) and
 * config_check_rua (TLS-RPT URIs). Byte 0 picks the function (mod 3) and
 * the host buffer size; the rest, up to a NUL, is the value.
 *
 * Invariants, checked with abort(): a rejection always says why. An
 * accepted listen address is "IPv4:port" or "[IPv6]:port" rebuilt exactly
 * from the host and port it was split into (port 1-65535, the host an IP
 * literal of that family that fits its buffer), and splitting with or
 * without a host buffer agrees. An accepted domain is in normal form
 * (lower case LDH labels of 1-63 characters, at least two, at most 253
 * characters, no trailing dot), checking it again changes nothing, and
 * the Host header normalisation (dnsname_normalize_host) maps
 * mta-sts.<domain> to itself, so that a configured domain can always be
 * served. An accepted rua starts with mailto: or https:, holds only
 * printable ASCII other than ',', '!' and ';', and every '%' starts a %HH
 * escape.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "dnsname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_listen(const char *addr, size_t hostlen)
{
    char host[64], err[256], rebuilt[128];
    unsigned short port = 0, port2 = 0;
    unsigned char bin[16];
    memset(host, 'Z', sizeof(host));
    err[0] = '\0';
    int rc = config_split_listen(addr, host, hostlen, &port, err, sizeof(err));
    if (hostlen < sizeof(host) && host[hostlen] != 'Z')
        abort(); /* wrote past the buffer it was given */
    /* The same address split with no host buffer and with a roomy one. */
    char big[64], err2[256];
    unsigned short port3 = 0;
    int rc2 = config_split_listen(addr, NULL, 0, &port2, err2, sizeof(err2));
    int rc3 =
        config_split_listen(addr, big, sizeof(big), &port3, err2, sizeof(err2));
    if (rc2 != rc3 || (rc3 == 0 && (port2 != port3 || port3 == 0)))
        abort();
    if (rc != 0) {
        if (err[0] == '\0')
            abort();
        /* Only a host that does not fit may fail where the others pass. */
        if (rc3 == 0 && strlen(big) < hostlen)
            abort();
        return;
    }
    if (rc3 != 0 || port3 != port || strcmp(big, host) != 0)
        abort();
    size_t hl = strnlen(host, sizeof(host));
    if (hl >= hostlen)
        abort();
    bool v6 = addr[0] == '[';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
        abort();
    /* The port text may carry leading zeros; compare it by value. */
    const char *ps = strrchr(addr, ':') + 1;
    char *end = NULL;
    if (strtoul(ps, &end, 10) != port || *end != '\0' || end == ps)
        abort();
    snprintf(rebuilt, sizeof(rebuilt), v6 ? "[%s]:%s" : "%s:%s", host, ps);
    if (strcmp(rebuilt, addr) != 0)
        abort();
}

static void check_domain(const char *in)
{
    char name[300], again[300], err[256], host[300], norm[300];
    size_t n = strlen(in);
    if (n >= sizeof(name))
        return;
    memcpy(name, in, n + 1);
    err[0] = '\0';
    if (config_check_domain(name, err, sizeof(err)) != 0) {
        if (err[0] == '\0')
            abort();
        return;
    }
    n = strlen(name);
    if (n == 0 || n > 253 || name[n - 1] == '.' || name[0] == '.')
        abort();
    size_t labels = 0, llen = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        if (c == '.' || c == '\0') {
            if (llen == 0 || llen > 63 || name[i - 1] == '-' ||
                name[i - llen] == '-')
                abort();
            labels++;
            llen = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            abort();
        llen++;
    }
    if (labels < 2)
        abort();
    memcpy(again, name, n + 1);
    if (config_check_domain(again, err, sizeof(err)) != 0 ||
        strcmp(again, name) != 0)
        abort();
    snprintf(host, sizeof(host), "mta-sts.%s", name);
    if (strlen(host) < 256 &&
        (dnsname_normalize_host(host, norm, sizeof(norm)) != 0 ||
         strcmp(norm, host) != 0))
        abort();
}

static bool hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static void check_rua(const char *uri)
{
    char err[256];
    err[0] = '\0';
    if (config_check_rua(uri, err, sizeof(err)) != 0) {
        if (err[0] == '\0')
            abort();
        return;
    }
    if (strncasecmp(uri, "mailto:", 7) != 0 &&
        strncasecmp(uri, "https://", 8) != 0)
        abort();
    for (size_t i = 0; uri[i] != '\0'; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c <= 0x20 || c >= 0x7f || c == ',' || c == '!' || c == ';')
            abort();
        if (c == '%' && !(hex(uri[i + 1]) && hex(uri[i + 2])))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0:
        check_listen(s, (size_t)(data[0] / 3) % 64);
        break;
    case 1:
        check_domain(s);
        break;
    default:
        check_rua(s);
        break;
    }
    free(s);
    return 0;
}
