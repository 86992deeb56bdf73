/*
 * libFuzzer target for config_parse: arbitrary bytes in, a config or
 * diagnostics out, everything freed. Accepted configs are also checked for
 * the invariants the rest of the host relies on (validated domains and rua
 * URIs, parseable listen addresses, values within their documented ranges),
 * so that a parser bug that lets a bad value through aborts the run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_invariants(const struct config *c)
{
    char err[256], host[64], name[300];
    unsigned short port;
    for (size_t i = 0; i < c->n_domains; i++) {
        size_t n = strlen(c->domains[i]);
        if (n >= sizeof(name))
            abort();
        memcpy(name, c->domains[i], n + 1);
        if (config_check_domain(name, err, sizeof(err)) != 0 ||
            strcmp(name, c->domains[i]) != 0)
            abort();
    }
    for (size_t i = 0; i < c->n_tlsrpt_rua; i++)
        if (config_check_rua(c->tlsrpt_rua[i], err, sizeof(err)) != 0)
            abort();
    if (config_split_listen(c->https_listen, host, sizeof(host), &port, err,
                            sizeof(err)) != 0)
        abort();
    if (c->http_listen != NULL &&
        config_split_listen(c->http_listen, host, sizeof(host), &port, err,
                            sizeof(err)) != 0)
        abort();
    if (c->metrics_listen != NULL &&
        config_split_listen(c->metrics_listen, host, sizeof(host), &port, err,
                            sizeof(err)) != 0)
        abort();
    if (c->policy_dir == NULL || c->policy_dir[0] == '\0' ||
        c->cert_dir == NULL || c->cert_dir[0] == '\0')
        abort();
    if (c->max_connections < 1 || c->max_connections > 100000 ||
        c->max_connections_per_ip < 1 ||
        c->max_connections_per_ip > c->max_connections ||
        c->connection_timeout < 1 || c->connection_timeout > 3600 ||
        c->connection_memory_limit < 4096 ||
        c->connection_memory_limit > 1048576 || c->threads > 256 ||
        c->reload_debounce_ms > 10000 || c->poll_interval_ms < 100 ||
        c->poll_interval_ms > 3600000)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diag d;
    diag_init(&d, "fuzz.yaml");
    struct config *c = config_parse((const char *)data, size, &d);
    if (c != NULL) {
        if (diag_errors(&d) != 0)
            abort();
        check_invariants(c);
    } else if (diag_errors(&d) == 0) {
        abort(); /* every rejection must say why */
    }
    config_free(c);
    diag_free(&d);
    return 0;
}
