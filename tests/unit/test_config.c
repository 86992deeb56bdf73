/*
 * Unit tests for config: defaults, the full example, and one table row per
 * way a config file can be wrong, each asserting the exact line, column and
 * a piece of the message. Also the three public checkers (domains, listen
 * addresses, rua URIs) on their own. Runs in one thread, touches no files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

/* A copy of deploy/config.example.yaml (unit tests must not depend on the
 * working directory); keep the two in step. */
static const char example_yaml[] =
    "# mta-sts-host configuration: every key, with its default.\n"
    "domains: [example.com, example.net]\n"
    "policy_dir: policy\n"
    "cert_dir: certs\n"
    "\n"
    "allow_root: false\n"
    "\n"
    "listen:\n"
    "  https: \"[::]:8443\"\n"
    "  http: \"[::]:8080\"\n"
    "  metrics: null\n"
    "\n"
    "tlsrpt:\n"
    "  rua: [\"mailto:tls-reports@example.com\", "
    "\"https://reports.example.com/v1/tlsrpt\"]\n"
    "  # receive: true\n"
    "  path: /tlsrpt\n"
    "  max_body: 10485760\n"
    "  retention_days: 400\n"
    "  rate_limit: 60\n"
    "  max_disk: 1073741824\n"
    "  instance: null\n"
    "\n"
    "log:\n"
    "  format: text\n"
    "  level: info\n"
    "  access: true\n"
    "\n"
    "limits:\n"
    "  max_connections: 1024\n"
    "  max_connections_per_ip: 64\n"
    "  connection_timeout: 10\n"
    "  request_timeout: 10\n"
    "  connection_memory_limit: 32768\n"
    "  threads: 0\n"
    "\n"
    "reload:\n"
    "  debounce_ms: 200\n"
    "  poll_interval_ms: 2000\n"
    "  force_poll: false\n"
    "\n"
    "check:\n"
    "  interval: off\n"
    "  timeout: 2m\n"
    "  concurrency: 4\n"
    "  resolver: null\n"
    "  trust_anchor: null\n"
    "  ca_file: null\n"
    "  https_port: 443\n"
    "  smtp_port: 25\n";

/* dump renders every field of c, one `name=value` line each, so that a test
 * can compare a whole config or look for one field. */
static char *dump(const struct config *c)
{
    static const char *const fmt[] = {"text", "json"};
    static const char *const lvl[] = {"error", "warn", "info", "debug"};
    static const char *const keys[] = {"ecdsa-p256", "rsa-2048", "both"};
    size_t cap = 8192, o = 0;
    char *s = malloc(cap);
    assert_non_null(s);
#define PUT(...)                                                               \
    do {                                                                       \
        int w_ = snprintf(s + o, cap - o, __VA_ARGS__);                        \
        assert_true(w_ >= 0 && (size_t)w_ < cap - o);                          \
        o += (size_t)w_;                                                       \
    } while (0)
    PUT("domains=");
    for (size_t i = 0; i < c->n_domains; i++)
        PUT("%s%s", i ? "," : "", c->domains[i]);
    PUT("\npolicy_dir=%s\ncert_dir=%s\n", c->policy_dir, c->cert_dir);
    PUT("https=%s\nhttp=%s\nmetrics=%s\n", c->https_listen,
        c->http_listen ? c->http_listen : "(null)",
        c->metrics_listen ? c->metrics_listen : "(null)");
    PUT("rua=");
    for (size_t i = 0; i < c->n_tlsrpt_rua; i++)
        PUT("%s%s", i ? "," : "", c->tlsrpt_rua[i]);
    PUT("\nstate_dir=%s\nstate_dir_set=%d\n", c->state_dir,
        (int)c->state_dir_set);
    PUT("receive=%d\npath=%s\nmax_body=%zu\nretention_days=%u\n",
        (int)c->tlsrpt_receive, c->tlsrpt_path, c->tlsrpt_max_body,
        c->tlsrpt_retention_days);
    PUT("rate_limit=%u\nmax_disk=%zu\ninstance=%s\n", c->tlsrpt_rate_limit,
        c->tlsrpt_max_disk, c->tlsrpt_instance ? c->tlsrpt_instance : "(null)");
    PUT("format=%s\nlevel=%s\naccess=%d\n", fmt[c->log_format],
        lvl[c->log_level], (int)c->access_log);
    PUT("max_connections=%u\nmax_connections_per_ip=%u\n", c->max_connections,
        c->max_connections_per_ip);
    PUT("connection_timeout=%u\nrequest_timeout=%u\n", c->connection_timeout,
        c->request_timeout);
    PUT("connection_memory_limit=%zu\nthreads=%u\n", c->connection_memory_limit,
        c->threads);
    PUT("debounce_ms=%u\npoll_interval_ms=%u\nforce_poll=%d\n",
        c->reload_debounce_ms, c->poll_interval_ms, (int)c->force_poll);
    PUT("acme=%d\nacme_directory=%s\nacme_email=%s\nagree_tos=%d\n",
        (int)c->acme, c->acme_directory,
        c->acme_email ? c->acme_email : "(null)", (int)c->acme_agree_tos);
    PUT("challenges=");
    for (size_t i = 0; i < c->n_acme_challenges; i++)
        PUT("%s%s", i ? "," : "",
            config_acme_challenge_name(c->acme_challenges[i]));
    PUT("\nkey_type=%s\nca_file=%s\neab_kid=%s\neab_hmac_key=%s\n",
        keys[c->acme_key_type], c->acme_ca_file ? c->acme_ca_file : "(null)",
        c->acme_eab_kid ? c->acme_eab_kid : "(null)",
        c->acme_eab_hmac_key ? c->acme_eab_hmac_key : "(null)");
    PUT("resolver=%s\norders_burst=%u\norders_per_hour=%u\n",
        c->acme_resolver ? c->acme_resolver : "(null)", c->acme_orders_burst,
        c->acme_orders_per_hour);
    PUT("check_interval=%u\ncheck_timeout=%u\ncheck_concurrency=%u\n",
        c->check_interval, c->check_timeout, c->check_concurrency);
    PUT("check_resolver=%s\ncheck_trust_anchor=%s\ncheck_ca_file=%s\n",
        c->check_resolver ? c->check_resolver : "(null)",
        c->check_trust_anchor ? c->check_trust_anchor : "(null)",
        c->check_ca_file ? c->check_ca_file : "(null)");
    PUT("check_https_port=%u\ncheck_smtp_port=%u\n", c->check_https_port,
        c->check_smtp_port);
#undef PUT
    return s;
}

static const char defaults_dump[] = "domains=\n"
                                    "policy_dir=policy\n"
                                    "cert_dir=certs\n"
                                    "https=[::]:8443\n"
                                    "http=[::]:8080\n"
                                    "metrics=(null)\n"
                                    "rua=\n"
                                    "state_dir=state\n"
                                    "state_dir_set=0\n"
                                    "receive=0\n"
                                    "path=/tlsrpt\n"
                                    "max_body=10485760\n"
                                    "retention_days=400\n"
                                    "rate_limit=60\n"
                                    "max_disk=1073741824\n"
                                    "instance=(null)\n"
                                    "format=text\n"
                                    "level=info\n"
                                    "access=1\n"
                                    "max_connections=1024\n"
                                    "max_connections_per_ip=64\n"
                                    "connection_timeout=10\n"
                                    "request_timeout=10\n"
                                    "connection_memory_limit=32768\n"
                                    "threads=0\n"
                                    "debounce_ms=200\n"
                                    "poll_interval_ms=2000\n"
                                    "force_poll=0\n"
                                    "acme=0\n"
                                    "acme_directory=https://"
                                    "acme-v02.api.letsencrypt.org/directory\n"
                                    "acme_email=(null)\n"
                                    "agree_tos=0\n"
                                    "challenges=tls-alpn-01,http-01\n"
                                    "key_type=ecdsa-p256\n"
                                    "ca_file=(null)\n"
                                    "eab_kid=(null)\n"
                                    "eab_hmac_key=(null)\n"
                                    "resolver=(null)\n"
                                    "orders_burst=10\n"
                                    "orders_per_hour=20\n"
                                    "check_interval=0\n"
                                    "check_timeout=120\n"
                                    "check_concurrency=4\n"
                                    "check_resolver=(null)\n"
                                    "check_trust_anchor=(null)\n"
                                    "check_ca_file=(null)\n"
                                    "check_https_port=443\n"
                                    "check_smtp_port=25\n";

static void print_diag(const struct diag *d)
{
    char line[1024];
    for (size_t i = 0; i < d->n; i++)
        print_message("  %s\n",
                      diag_format_entry(d, &d->entries[i], line, sizeof(line)));
}

/* parse_ok parses text that must be accepted without errors. */
static struct config *parse_ok(const char *text, size_t len)
{
    struct diag d;
    diag_init(&d, "test.yaml");
    struct config *c = config_parse(text, len, &d);
    if (c == NULL || diag_errors(&d) != 0)
        print_diag(&d);
    assert_non_null(c);
    assert_int_equal(diag_errors(&d), 0);
    diag_free(&d);
    return c;
}

/* ---- accepted inputs, checked field by field ---------------------------- */

struct ok_case {
    const char *name;
    const char *yaml;
    const char *expect; /* lines that must appear in the dump */
};

static const struct ok_case ok_cases[] = {
    {"empty input", "", NULL},
    {"tilde", "~\n", NULL},
    {"null word", "null", NULL},
    {"document marker only", "---\n", NULL},
    {"document markers", "---\n...\n", NULL},
    {"comments only", "# nothing here\n\n   # still nothing\n", NULL},
    {"empty flow mapping", "{}\n", NULL},
    {"empty sections", "listen:\ntlsrpt:\nlog:\nlimits:\nreload:\n", NULL},
    {"domains null", "domains: ~\n", "domains=\n"},
    {"domains empty", "domains: []\n", "domains=\n"},
    {"domain normalised", "domains: [Example.COM.]\n", "domains=example.com\n"},
    {"domains block list", "domains:\n  - a.example\n  - B.example\n",
     "domains=a.example,b.example\n"},
    {"idn a-label", "domains: [xn--bcher-kva.example]\n",
     "domains=xn--bcher-kva.example\n"},
    {"dirs", "policy_dir: /etc/mta-sts/policy\ncert_dir: 'c d'\n",
     "policy_dir=/etc/mta-sts/policy\ncert_dir=c d\n"},
    {"ipv4 https", "listen: {https: \"0.0.0.0:443\"}\n", "https=0.0.0.0:443\n"},
    {"ipv6 loopback http", "listen: {http: \"[::1]:80\"}\n", "http=[::1]:80\n"},
    {"http null disables", "listen:\n  http: null\n", "http=(null)\n"},
    {"http tilde disables", "listen:\n  http: ~\n", "http=(null)\n"},
    {"http empty disables", "listen:\n  http: \"\"\n", "http=(null)\n"},
    {"http bare disables", "listen:\n  http:\n", "http=(null)\n"},
    {"metrics set", "listen: {metrics: \"127.0.0.1:9100\"}\n",
     "metrics=127.0.0.1:9100\n"},
    {"listen same ip, next port",
     "listen: {https: \"127.0.0.1:8443\", http: \"127.0.0.1:8444\"}\n",
     "https=127.0.0.1:8443\nhttp=127.0.0.1:8444\n"},
    {"metrics same port other ip",
     "listen: {http: \"127.0.0.1:8080\", metrics: \"127.0.0.2:8080\"}\n",
     "http=127.0.0.1:8080\nmetrics=127.0.0.2:8080\n"},
    {"rua mailto and https",
     "tlsrpt:\n  rua:\n    - mailto:a@b.com\n    - https://r.example.com/x\n",
     "rua=mailto:a@b.com,https://r.example.com/x\n"},
    {"rua encoded", "tlsrpt: {rua: [\"mailto:a%2Cb@c.example?subject=x\"]}\n",
     "rua=mailto:a%2Cb@c.example?subject=x\n"},
    {"rua https ipv6 port", "tlsrpt: {rua: [\"https://[2001:db8::1]:8443/r\"]}",
     "rua=https://[2001:db8::1]:8443/r\n"},
    {"rua null", "tlsrpt: {rua: null}\n", "rua=\n"},
    {"state_dir turns reception on", "state_dir: /s\n",
     "state_dir=/s\nstate_dir_set=1\nreceive=1\n"},
    {"reception without state_dir", "tlsrpt: {receive: true}\n",
     "state_dir=state\nstate_dir_set=0\nreceive=1\n"},
    {"state_dir with reception off", "state_dir: s\ntlsrpt: {receive: no}\n",
     "state_dir_set=1\nreceive=0\n"},
    {"instance null", "tlsrpt: {instance: null}\n", "instance=(null)\n"},
    {"log json debug", "log: {format: json, level: debug}\n",
     "format=json\nlevel=debug\n"},
    {"log level case", "log: {level: WARN, format: Text}\n",
     "format=text\nlevel=warn\n"},
    {"log error", "log: {level: error}\n", "level=error\n"},
    {"bool no", "log: {access: no}\n", "access=0\n"},
    {"bool Off", "log: {access: Off}\n", "access=0\n"},
    {"bool FALSE", "log: {access: FALSE}\n", "access=0\n"},
    {"bool yes", "reload: {force_poll: yes}\n", "force_poll=1\n"},
    {"bool ON", "reload: {force_poll: ON}\n", "force_poll=1\n"},
    {"bool True", "reload: {force_poll: True}\n", "force_poll=1\n"},
    {"limits lower bounds",
     "limits:\n  max_connections: 1\n  max_connections_per_ip: 1\n"
     "  connection_timeout: 1\n  request_timeout: 1\n"
     "  connection_memory_limit: 4096\n  threads: 0\n",
     "max_connections=1\nmax_connections_per_ip=1\nconnection_timeout=1\n"
     "request_timeout=1\nconnection_memory_limit=4096\nthreads=0\n"},
    {"limits upper bounds",
     "limits:\n  max_connections: 100000\n"
     "  max_connections_per_ip: 100000\n  connection_timeout: 3600\n"
     "  request_timeout: 3600\n"
     "  connection_memory_limit: 1048576\n  threads: 256\n",
     "max_connections=100000\nmax_connections_per_ip=100000\n"
     "connection_timeout=3600\nrequest_timeout=3600\n"
     "connection_memory_limit=1048576\nthreads=256\n"},
    {"per-ip default clamps", "limits: {max_connections: 10}\n",
     "max_connections=10\nmax_connections_per_ip=10\n"},
    {"per-ip equal to max",
     "limits: {max_connections: 10, max_connections_per_ip: 10}\n",
     "max_connections_per_ip=10\n"},
    {"quoted number", "limits: {threads: \"8\"}\n", "threads=8\n"},
    {"reload bounds", "reload: {debounce_ms: 0, poll_interval_ms: 100}\n",
     "debounce_ms=0\npoll_interval_ms=100\n"},
    {"reload upper", "reload: {debounce_ms: 10000, poll_interval_ms: 3600000}",
     "debounce_ms=10000\npoll_interval_ms=3600000\n"},
    {"check interval minutes", "check: {interval: 30m}\n",
     "check_interval=1800\n"},
    {"check interval minimum", "check: {interval: 1m}\n",
     "check_interval=60\n"},
    {"check interval in seconds", "check: {interval: 60s}\n",
     "check_interval=60\n"},
    {"check interval days", "check: {interval: 30d}\n",
     "check_interval=2592000\n"},
    {"check interval units combined", "check: {interval: 1d2h3m4s}\n",
     "check_interval=93784\n"},
    {"check interval off", "check: {interval: off}\n", "check_interval=0\n"},
    {"check interval null", "check: {interval: null}\n", "check_interval=0\n"},
    {"check timeout bounds", "check: {timeout: 10s}\n", "check_timeout=10\n"},
    {"check timeout upper", "check: {timeout: 1h}\n", "check_timeout=3600\n"},
    {"check concurrency bounds", "check: {concurrency: 1}\n",
     "check_concurrency=1\n"},
    {"check concurrency upper", "check: {concurrency: 64}\n",
     "check_concurrency=64\n"},
    {"check resolver ipv4 port", "check: {resolver: \"127.0.0.1:53\"}\n",
     "check_resolver=127.0.0.1:53\n"},
    {"check resolver null", "check: {resolver: null}\n",
     "check_resolver=(null)\n"},
    {"check ports bounds", "check: {https_port: 1, smtp_port: 65535}\n",
     "check_https_port=1\ncheck_smtp_port=65535\n"},
    {"crlf line ends", "policy_dir: p\r\nlog:\r\n  level: debug\r\n",
     "policy_dir=p\n"},
    {"utf-8 bom", "\xef\xbb\xbfpolicy_dir: p\n", "policy_dir=p\n"},
    {"utf-8 path", "policy_dir: \"p\xc3\xbc\"\n", "policy_dir=p\xc3\xbc\n"},
    /* ACME: agreeing is enough, everything else has a default. */
    {"acme agree only", "acme: {agree_tos: true}\n",
     "acme=1\nacme_directory=https://acme-v02.api.letsencrypt.org/directory\n"
     "acme_email=(null)\nagree_tos=1\nchallenges=tls-alpn-01,http-01\n"
     "key_type=ecdsa-p256\nca_file=(null)\neab_kid=(null)\n"},
    {"acme challenges reordered",
     "acme: {agree_tos: on, challenges: [http-01, tls-alpn-01]}\n",
     "challenges=http-01,tls-alpn-01\n"},
    {"acme one challenge", "acme: {agree_tos: on, challenges: [tls-alpn-01]}\n",
     "challenges=tls-alpn-01\nkey_type"},
    {"acme challenge case", "acme: {agree_tos: on, challenges: [HTTP-01]}\n",
     "challenges=http-01\n"},
    {"acme key rsa", "acme: {agree_tos: on, key_type: rsa-2048}\n",
     "key_type=rsa-2048\n"},
    {"acme key both", "acme: {agree_tos: on, key_type: BOTH}\n",
     "key_type=both\n"},
    {"acme key ecdsa", "acme: {agree_tos: on, key_type: ecdsa-p256}\n",
     "key_type=ecdsa-p256\n"},
    {"acme email", "acme: {agree_tos: on, email: a.b+c@mail.example.com}\n",
     "acme_email=a.b+c@mail.example.com\n"},
    {"acme email null", "acme: {agree_tos: on, email: null}\n",
     "acme_email=(null)\n"},
    {"acme directory with port and path",
     "acme: {agree_tos: on, directory: \"https://[::1]:14000/dir?x=1\"}\n",
     "acme_directory=https://[::1]:14000/dir?x=1\n"},
    {"acme directory ipv4",
     "acme: {agree_tos: on, directory: \"HTTPS://127.0.0.1:14000/dir\"}\n",
     "acme_directory=HTTPS://127.0.0.1:14000/dir\n"},
    {"acme ca_file", "acme: {agree_tos: on, ca_file: /tmp/pebble.pem}\n",
     "ca_file=/tmp/pebble.pem\n"},
    {"acme ca_file null", "acme: {agree_tos: on, ca_file: ~}\n",
     "ca_file=(null)\n"},
    {"acme eab both",
     "acme:\n  agree_tos: on\n  eab:\n    kid: abc\n    hmac_key: "
     "YWJj-_0\n",
     "eab_kid=abc\neab_hmac_key=YWJj-_0\n"},
    {"acme eab padded", "acme: {agree_tos: on, eab: {kid: k, hmac_key: YQ==}}",
     "eab_hmac_key=YQ==\n"},
    {"acme tls-alpn-01 without http",
     "listen: {http: null}\nacme: {agree_tos: on, challenges: [tls-alpn-01]}\n",
     "http=(null)\n"},
    {"acme both without http", "listen: {http: ~}\nacme: {agree_tos: on}\n",
     "challenges=tls-alpn-01,http-01\n"},
    {"acme eab neither", "acme: {agree_tos: on, eab: {kid: ~, hmac_key: ~}}\n",
     "eab_kid=(null)\neab_hmac_key=(null)\n"},
    {"acme eab empty section", "acme: {agree_tos: on, eab: }\n",
     "eab_kid=(null)\n"},
    {"acme resolver with port",
     "acme: {agree_tos: on, resolver: \"127.0.0.1:5353\"}\n",
     "resolver=127.0.0.1:5353\n"},
    {"acme resolver ipv6", "acme: {agree_tos: on, resolver: \"[::1]:53\"}\n",
     "resolver=[::1]:53\n"},
    {"acme pace",
     "acme: {agree_tos: on, orders_burst: 1, orders_per_hour: 300}\n",
     "orders_burst=1\norders_per_hour=300\n"},
};

static void test_ok(void **state)
{
    const struct ok_case *tc = *state;
    struct config *c = parse_ok(tc->yaml, strlen(tc->yaml));
    char *s = dump(c);
    if (tc->expect == NULL) {
        assert_string_equal(s, defaults_dump);
    } else if (strstr(s, tc->expect) == NULL) {
        print_message("expected:\n%s\nin:\n%s\n", tc->expect, s);
        fail();
    }
    free(s);
    config_free(c);
}

/* ---- rejected inputs: first error's position and message ---------------- */

struct err_case {
    const char *name;
    const char *yaml;
    unsigned line, col;
    const char *msg; /* a piece of the first error's message */
};

static const struct err_case err_cases[] = {
    /* Unknown keys, with and without suggestions. */
    {"typo top", "polcy_dir: x\n", 1, 1, "did you mean \"policy_dir\"?"},
    {"typo dash", "cert-dir: x\n", 1, 1, "did you mean \"cert_dir\"?"},
    {"typo nested", "limits:\n  max_conections: 5\n", 2, 3,
     "unknown key \"max_conections\" under \"limits\"; did you mean "
     "\"max_connections\"?"},
    {"unknown no hint", "foo: 1\n", 1, 1,
     "expected one of: domains, policy_dir, cert_dir, state_dir, listen"},
    {"misplaced to section", "log: {}\nmax_connections: 5\n", 2, 1,
     "it belongs under \"limits:\" (limits.max_connections)"},
    {"misplaced to top", "listen:\n  domains: []\n", 2, 3,
     "it belongs at the top level"},
    {"unknown in log", "log: {colour: true}\n", 1, 7,
     "expected one of: format, level, access"},
    {"key case", "Domains: []\n", 1, 1, "did you mean \"domains\"?"},
    /* Duplicate keys. */
    {"dup top", "policy_dir: a\npolicy_dir: b\n", 2, 1,
     "duplicate key \"policy_dir\" (first at 1:1)"},
    {"dup nested", "log:\n  level: info\n  level: debug\n", 3, 3,
     "duplicate key \"level\" (first at 2:3)"},
    {"dup section", "log: {}\nlimits: {}\nlog: {}\n", 3, 1,
     "duplicate key \"log\""},
    /* Wrong node types. */
    {"domains scalar", "domains: example.com\n", 1, 10,
     "domains: expected a sequence of domain names, found \"example.com\""},
    {"domains mapping", "domains: {a: b}\n", 1, 10, "found a mapping"},
    {"domain item seq", "domains:\n  - [a.example]\n", 2, 5,
     "each entry must be domain, found a sequence"},
    {"domain item null", "domains: [a.example, ~]\n", 1, 22,
     "each entry must be domain, found null"},
    {"policy_dir seq", "policy_dir: [a]\n", 1, 13,
     "policy_dir: expected a directory path, found a sequence"},
    {"policy_dir null", "policy_dir:\ncert_dir: c\n", 1, 1,
     "policy_dir: expected a directory path, found null"},
    {"policy_dir empty", "policy_dir: \"\"\n", 1, 13, "found an empty string"},
    {"cert_dir map", "cert_dir: {a: 1}\n", 1, 11, "found a mapping"},
    {"listen scalar", "listen: 8443\n", 1, 9,
     "listen: expected a mapping, found \"8443\""},
    {"tlsrpt seq", "tlsrpt: [a]\n", 1, 9, "tlsrpt: expected a mapping"},
    {"tlsrpt path relative", "tlsrpt:\n  path: tlsrpt\n", 2, 9,
     "tlsrpt.path: expected a path starting with '/', found \"tlsrpt\""},
    {"tlsrpt path query", "tlsrpt: {path: \"/r?x\"}\n", 1, 16,
     "tlsrpt.path: expected visible ASCII without '?'"},
    {"tlsrpt path taken", "tlsrpt: {path: /healthz}\n", 1, 16,
     "tlsrpt.path: /healthz is already served by the host"},
    {"tlsrpt max_body small", "tlsrpt: {max_body: 10}\n", 1, 20,
     "tlsrpt.max_body: "},
    {"tlsrpt retention 0", "tlsrpt: {retention_days: 0}\n", 1, 26,
     "tlsrpt.retention_days: "},
    {"tlsrpt receive word", "tlsrpt: {receive: maybe}\n", 1, 19,
     "tlsrpt.receive: "},
    {"tlsrpt instance slash", "tlsrpt: {instance: a/b}\n", 1, 20,
     "tlsrpt.instance: expected letters, digits, '.', '_' or '-', found "
     "\"/\""},
    {"tlsrpt instance dot", "tlsrpt: {instance: .x}\n", 1, 20,
     "tlsrpt.instance: expected 1 to 64 characters not starting with '.'"},
    {"state_dir empty", "state_dir: \"\"\n", 1, 12,
     "state_dir: expected a directory path, found an empty string"},
    {"tlsrpt unknown key", "tlsrpt: {retention: 3}\n", 1, 10, "retention"},
    {"rua scalar", "tlsrpt:\n  rua: mailto:a@b.example\n", 2, 8,
     "tlsrpt.rua: expected a sequence of mailto: or https: URIs"},
    {"log seq", "log: [text]\n", 1, 6, "log: expected a mapping"},
    {"limits seq", "limits: [1]\n", 1, 9, "limits: expected a mapping"},
    {"reload scalar", "reload: yes\n", 1, 9, "reload: expected a mapping"},
    {"threads seq", "limits: {threads: [1]}\n", 1, 19,
     "limits.threads: expected a number, found a sequence"},
    {"access map", "log: {access: {a: 1}}\n", 1, 15,
     "log.access: expected true or false, found a mapping"},
    {"https null", "listen: {https: null}\n", 1, 17,
     "listen.https: expected an address"},
    {"non-scalar key", "? [a]\n: b\n", 1, 3,
     "top level: keys must be plain names, found a sequence"},
    {"null key", "~: 1\n", 1, 1, "keys must be plain names, found null"},
    /* Bad values. */
    {"nul in string", "policy_dir: \"a\\0b\"\n", 1, 13, "NUL character"},
    {"log format", "log: {format: xml}\n", 1, 15,
     "log.format: expected text or json, found \"xml\""},
    {"log level warning", "log: {level: warning}\n", 1, 14,
     "did you mean \"warn\"?"},
    {"log level typo", "log:\n  level: infoo\n", 2, 10,
     "found \"infoo\"; did you mean \"info\"?"},
    {"bool maybe", "log: {access: maybe}\n", 1, 15,
     "log.access: expected true or false (or yes/no, on/off), found "
     "\"maybe\""},
    {"bool number", "reload: {force_poll: 1}\n", 1, 22,
     "expected true or false"},
    {"int word", "limits: {max_connections: abc}\n", 1, 27,
     "expected a whole number in 1..100000, found \"abc\""},
    {"int float", "limits: {max_connections: 1.5}\n", 1, 27,
     "expected a whole number in 1..100000, found \"1.5\""},
    {"int hex", "limits: {max_connections: 0x10}\n", 1, 27,
     "expected a whole number"},
    {"int underscore", "limits: {max_connections: 1_000}\n", 1, 27,
     "expected a whole number"},
    {"int space", "limits: {max_connections: \" 5\"}\n", 1, 27,
     "expected a whole number"},
    {"int octal", "limits: {max_connections: 010}\n", 1, 27, "leading zero"},
    {"int two digits leading zero", "limits: {threads: 01}\n", 1, 19,
     "leading zero"},
    {"int sign alone", "limits: {threads: +}\n", 1, 19,
     "expected a whole number in 0..256, found \"+\""},
    {"nul in list entry", "domains: [\"ex\\0ample.com\"]\n", 1, 11,
     "domains: the entry contains a NUL character"},
    {"int negative", "limits: {threads: -1}\n", 1, 19,
     "limits.threads: -1 is out of range; expected 0..256"},
    {"int huge", "limits: {threads: 99999999999999999999999}\n", 1, 19,
     "is out of range; expected 0..256"},
    {"max_connections 0", "limits: {max_connections: 0}\n", 1, 27,
     "0 is out of range; expected 1..100000"},
    {"max_connections over", "limits: {max_connections: 100001}\n", 1, 27,
     "100001 is out of range; expected 1..100000"},
    {"per-ip 0", "limits:\n  max_connections_per_ip: 0\n", 2, 27,
     "0 is out of range; expected 1..100000"},
    {"per-ip over max",
     "limits:\n  max_connections: 10\n  max_connections_per_ip: 20\n", 3, 27,
     "max_connections_per_ip: 20 exceeds limits.max_connections (10)"},
    {"per-ip over default max", "limits: {max_connections_per_ip: 2000}\n", 1,
     34, "2000 exceeds limits.max_connections (1024)"},
    {"timeout 0", "limits: {connection_timeout: 0}\n", 1, 30,
     "expected 1..3600"},
    {"timeout over", "limits: {connection_timeout: 3601}\n", 1, 30,
     "3601 is out of range; expected 1..3600"},
    {"request timeout 0", "limits: {request_timeout: 0}\n", 1, 27,
     "limits.request_timeout: 0 is out of range; expected 1..3600"},
    {"request timeout over", "limits: {request_timeout: 3601}\n", 1, 27,
     "3601 is out of range; expected 1..3600"},
    {"request timeout text", "limits: {request_timeout: 10s}\n", 1, 27,
     "limits.request_timeout: expected a whole number in 1..3600, found "
     "\"10s\""},
    {"request timeout typo", "limits: {request_timout: 5}\n", 1, 10,
     "did you mean \"request_timeout\"?"},
    {"memory under", "limits: {connection_memory_limit: 4095}\n", 1, 35,
     "4095 is out of range; expected 4096..1048576"},
    {"memory over", "limits: {connection_memory_limit: 1048577}\n", 1, 35,
     "expected 4096..1048576"},
    {"threads over", "limits: {threads: 257}\n", 1, 19,
     "257 is out of range; expected 0..256"},
    {"debounce over", "reload: {debounce_ms: 10001}\n", 1, 23,
     "expected 0..10000"},
    {"poll under", "reload: {poll_interval_ms: 99}\n", 1, 28,
     "99 is out of range; expected 100..3600000"},
    {"poll over", "reload: {poll_interval_ms: 3600001}\n", 1, 28,
     "expected 100..3600000"},
    {"force_poll word", "reload: {force_poll: sometimes}\n", 1, 22,
     "reload.force_poll: expected true or false"},
    /* Domains. */
    {"domain underscore", "domains: [exa_mple.com]\n", 1, 11,
     "domains: invalid domain \"exa_mple.com\": expected a letter, digit, '-' "
     "or '.', found '_'"},
    {"domain single label", "domains: [localhost]\n", 1, 11, "a single label"},
    {"domain leading hyphen", "domains: [-a.example]\n", 1, 11,
     "found '-' at the start of \"-a\""},
    {"domain trailing hyphen", "domains: [a-.example]\n", 1, 11,
     "found '-' at the end of \"a-\""},
    {"domain empty label", "domains: [a..example]\n", 1, 11, "empty label"},
    {"domain two dots", "domains: [a.example..]\n", 1, 11, "empty label"},
    {"domain label 64",
     "domains: "
     "[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com]\n",
     1, 11, "at most 63 characters, found 64"},
    {"domain ip", "domains: [192.0.2.1]\n", 1, 11, "the last label is numeric"},
    {"domain non-ascii",
     "domains: [\"b\xc3\xbc"
     "cher.de\"]\n",
     1, 11, "A-label form (xn--...)"},
    {"domain empty string", "domains: [\"\"]\n", 1, 11, "found an empty name"},
    {"domain mta-sts prefix", "domains:\n  - mta-sts.example.com\n", 2, 5,
     "list the bare domain \"example.com\""},
    {"domain dup", "domains: [example.com, Example.COM.]\n", 1, 24,
     "duplicate domain \"example.com\" (first listed at 1:11)"},
    {"domain dup block",
     "domains:\n  - a.example\n  - b.example\n"
     "  - a.example\n",
     4, 5, "duplicate domain \"a.example\" (first listed at 2:5)"},
    /* Listen addresses. */
    {"listen port only", "listen: {https: \"8443\"}\n", 1, 17,
     "listen.https: \"8443\": expected an address and a port"},
    {"listen no colon", "listen: {https: \"[::1]8443\"}\n", 1, 17,
     "expected ':' and a port after ']'"},
    {"listen port 0", "listen: {https: \"1.2.3.4:0\"}\n", 1, 17,
     "port 0 is out of range; expected 1-65535"},
    {"listen port 65536", "listen: {http: \"1.2.3.4:65536\"}\n", 1, 16,
     "port 65536 is out of range"},
    {"listen host name", "listen:\n  https: host:80\n", 2, 10,
     "\"host\" is not an IPv4 address literal"},
    {"listen v6 unbracketed", "listen: {https: \"::1:80\"}\n", 1, 17,
     "IPv6 addresses go in brackets"},
    {"listen v6 unclosed", "listen: {https: \"[::1:80\"}\n", 1, 17,
     "missing ']'"},
    {"listen bad v6", "listen: {https: \"[1.2.3.4]:80\"}\n", 1, 17,
     "is not an IPv6 address literal"},
    {"listen port name", "listen: {metrics: \"1.2.3.4:http\"}\n", 1, 19,
     "expected a port number 1-65535, found \"http\""},
    {"listen empty port", "listen: {https: \"1.2.3.4:\"}\n", 1, 17,
     "expected a port number"},
    {"listen https conflicts", "listen: {https: \"[::]:8080\"}\n", 1, 17,
     "listen.https ([::]:8080) and listen.http ([::]:8080) would share"},
    {"listen metrics conflicts",
     "listen:\n  http: \"0.0.0.0:80\"\n  metrics: \"0.0.0.0:80\"\n", 3, 12,
     "listen.http (0.0.0.0:80) and listen.metrics (0.0.0.0:80) would share "
     "one socket"},
    {"listen conflict spelled apart",
     "listen: {https: \"[::0]:8443\", http: \"[0::]:8443\"}\n", 1, 37,
     "would share one socket"},
    {"listen v6 wildcard over v4",
     "listen: {https: \"127.0.0.1:8443\", http: \"[::]:8443\"}\n", 1, 41,
     "listen.https (127.0.0.1:8443) and listen.http ([::]:8443) would share"},
    {"listen v4 under v6 wildcard", "listen: {http: \"127.0.0.1:8443\"}\n", 1,
     16, "listen.https ([::]:8443) and listen.http (127.0.0.1:8443)"},
    /* rua URIs. */
    {"rua http", "tlsrpt: {rua: [\"http://x\"]}\n", 1, 16,
     "plain http: is not allowed"},
    {"rua ftp", "tlsrpt: {rua: [\"ftp://x.example\"]}\n", 1, 16,
     "expected a mailto: or https: URI"},
    {"rua comma", "tlsrpt: {rua: [\"mailto:a,b@c\"]}\n", 1, 16,
     "character ',' at position 9 must be percent-encoded as %2C"},
    {"rua bang", "tlsrpt: {rua: [\"mailto:a@b.com!10m\"]}\n", 1, 16,
     "'!' at position 15 must be percent-encoded as %21"},
    {"rua semicolon", "tlsrpt: {rua: [\"mailto:a@b.com;x\"]}\n", 1, 16, "%3B"},
    {"rua empty mailto", "tlsrpt:\n  rua:\n    - \"mailto:\"\n", 3, 7,
     "\"mailto:\" must be followed by an address"},
    {"rua bad escape", "tlsrpt: {rua: [\"mailto:a@b.com%zz\"]}\n", 1, 16,
     "bad percent-escape at position 15"},
    {"rua short escape", "tlsrpt: {rua: [\"mailto:a@b.com%2\"]}\n", 1, 16,
     "bad percent-escape"},
    {"rua space", "tlsrpt: {rua: [\"mailto:a b@c.com\"]}\n", 1, 16,
     "must be percent-encoded (no whitespace"},
    {"rua no at", "tlsrpt: {rua: [\"mailto:nobody\"]}\n", 1, 16,
     "not an e-mail address (no '@')"},
    {"rua bad mail domain", "tlsrpt: {rua: [\"mailto:a@b_c.com\"]}\n", 1, 16,
     "invalid mail domain \"b_c.com\""},
    {"rua https no host", "tlsrpt: {rua: [\"https://\"]}\n", 1, 16,
     "\"https://\" must be followed by a host"},
    {"rua https bad port", "tlsrpt: {rua: [\"https://r.example:0/x\"]}\n", 1,
     16, "port 0 is out of range"},
    {"rua quote", "tlsrpt: {rua: ['mailto:a\"b@c.com']}\n", 1, 16,
     "character '\"' at position 9 is not allowed in a URI"},
    /* YAML structure. */
    {"alias", "domains: [*x]\n", 1, 11, "aliases (*x) are not supported"},
    {"anchor", "policy_dir: &p policy\n", 1, 13,
     "anchors (&p) are not supported"},
    {"tag", "policy_dir: !!str policy\n", 1, 13, "YAML tags"},
    {"multi doc", "policy_dir: a\n---\ncert_dir: b\n", 2, 1,
     "a second YAML document"},
    {"root sequence", "- a\n- b\n", 1, 1,
     "expected a mapping of settings at the top level, found a sequence"},
    {"root scalar", "hello\n", 1, 1, "found \"hello\""},
    {"syntax flow", "domains: [a.example\n", 2, 1,
     "YAML syntax error: did not find expected ',' or ']' (while parsing a "
     "flow sequence that starts at 1:10)"},
    {"syntax indent", "log:\n  level: info\n  bad: : x\n", 3, 8,
     "mapping values are not allowed in this context"},
    {"syntax quote", "policy_dir: \"abc\n", 2, 1,
     "(while scanning a quoted scalar that starts at 1:13)"},
    {"syntax tab", "log:\n\tlevel: info\n", 2, 1, "YAML syntax error"},
    {"invalid utf-8", "cert_dir: c\npolicy_dir: \xff\n", 2, 13,
     "cannot read the file: invalid leading UTF-8 octet"},
    /* Columns count bytes, not characters. */
    {"byte column", "{policy_dir: \"\xc3\xbc\", cert_dir: [x]}\n", 1, 30,
     "cert_dir: expected a directory path, found a sequence"},
    {"byte column after bom", "\xef\xbb\xbfpolicy_dir: [x]\n", 1, 13,
     "policy_dir"},
    /* Privileges. */
    {"user null", "user:\n", 1, 1, "user: expected a user name, found null"},
    {"user empty", "user: \"\"\n", 1, 7,
     "invalid user \"\": the user name is "
     "empty"},
    {"user list", "user: [nobody]\n", 1, 7,
     "user: expected a user name, found a sequence"},
    {"user leading dash", "user: -nobody\n", 1, 7, "cannot start with '-'"},
    {"user space", "user: \"no body\"\n", 1, 7,
     "character \\x20 is not allowed in a user name"},
    {"user slash", "user: ../root\n", 1, 7,
     "character '/' is not allowed in a user name"},
    {"user too long", "user: abcdefghijklmnopqrstuvwxyz0123456\n", 1, 7,
     "is 33 characters long; the limit is 32"},
    {"user dollar inside", "user: a$b\n", 1, 7, "character '$' is not allowed"},
    {"user typo", "usr: nobody\n", 1, 1, "did you mean \"user\"?"},
    {"allow_root typo", "allow-root: true\n", 1, 1,
     "did you mean \"allow_root\"?"},
    {"allow_root not bool", "allow_root: maybe\n", 1, 13,
     "allow_root: expected true or false"},
    {"allow_root misplaced", "limits: {allow_root: true}\n", 1, 10,
     "it belongs at the top level"},
    {"dup user", "user: a\nuser: b\n", 2, 1,
     "duplicate key \"user\" (first at 1:1)"},
    /* ACME: agree_tos is required, at the acme: key or its false value. */
    {"acme without agree_tos", "log: {}\nacme:\n  email: a@b.example\n", 2, 1,
     "acme.agree_tos: true is required (--acme-agree-tos)"},
    {"acme alone", "acme:\n", 1, 1, "acme.agree_tos: true is required"},
    {"acme empty mapping", "acme: {}\n", 1, 1,
     "acme.agree_tos: true is required"},
    {"acme agree_tos false", "acme:\n  agree_tos: false\n", 2, 14,
     "acme.agree_tos: true is required"},
    {"acme agree_tos word", "acme: {agree_tos: sure}\n", 1, 19,
     "acme.agree_tos: expected true or false"},
    {"acme seq", "acme: [a]\n", 1, 7, "acme: expected a mapping, found a"},
    {"acme unknown key", "acme: {agree_tos: on, contact: x}\n", 1, 23,
     "unknown key \"contact\" under \"acme\"; expected one of: directory, "
     "email, agree_tos, challenges, key_type, ca_file, eab"},
    {"acme key typo", "acme: {agree_tos: on, keytype: both}\n", 1, 23,
     "did you mean \"key_type\"?"},
    {"acme dup key", "acme:\n  agree_tos: on\n  agree_tos: on\n", 3, 3,
     "duplicate key \"agree_tos\" (first at 2:3)"},
    {"acme misplaced email", "email: a@b.example\n", 1, 1,
     "it belongs under \"acme:\" (acme.email)"},
    {"acme directory http",
     "acme:\n  agree_tos: on\n  directory: http://ca.example/dir\n", 3, 14,
     "acme.directory: expected an https:// URL (RFC 8555 §6.1"},
    {"acme directory no host", "acme: {agree_tos: on, directory: \"https://\"}",
     1, 34, "acme.directory: \"https://\" must be followed by a host"},
    {"acme directory bad host",
     "acme: {agree_tos: on, directory: \"https://ca_x.example/\"}", 1, 34,
     "acme.directory: invalid host \"ca_x.example\""},
    {"acme directory bad port",
     "acme: {agree_tos: on, directory: \"https://ca.example:0/\"}", 1, 34,
     "acme.directory: port 0 is out of range; expected 1-65535"},
    {"acme directory space",
     "acme: {agree_tos: on, directory: \"https://ca.example/a b\"}", 1, 34,
     "acme.directory: \\x20 at position 21 must be percent-encoded"},
    {"acme directory userinfo",
     "acme: {agree_tos: on, directory: \"https://u@ca.example/\"}", 1, 34,
     "must not carry user information"},
    {"acme directory null", "acme: {agree_tos: on, directory: ~}\n", 1, 34,
     "acme.directory: expected an https:// URL of an ACME directory, found "
     "null"},
    {"acme email no at", "acme: {agree_tos: on, email: postmaster}\n", 1, 30,
     "acme.email: \"postmaster\" is not an e-mail address (no '@')"},
    {"acme email two",
     "acme: {agree_tos: on, email: \"a@b.example,c@d.example\"}", 1, 30,
     "acme.email: character ',' at position 12 is not allowed"},
    {"acme email mailto",
     "acme: {agree_tos: on, email: \"mailto:a@b.example\"}", 1, 30,
     "acme.email: character ':' at position 7"},
    {"acme email bad domain", "acme: {agree_tos: on, email: a@b}\n", 1, 30,
     "acme.email: invalid mail domain \"b\""},
    {"acme email empty", "acme: {agree_tos: on, email: \"\"}\n", 1, 30,
     "acme.email: expected an e-mail address, found \"\""},
    {"acme challenges scalar", "acme: {agree_tos: on, challenges: http-01}\n",
     1, 35, "acme.challenges: expected a sequence of tls-alpn-01 and http-01"},
    {"acme challenges empty", "acme: {agree_tos: on, challenges: []}\n", 1, 35,
     "acme.challenges: list at least one challenge type"},
    {"acme challenge unknown",
     "acme:\n  agree_tos: on\n  challenges: [tls-alpn-01, http-02]\n", 3, 29,
     "acme.challenges: expected tls-alpn-01 or http-01, found \"http-02\"; "
     "did you mean \"http-01\"?"},
    {"acme challenge dns", "acme: {agree_tos: on, challenges: [dns-01]}\n", 1,
     36, "acme.challenges: \"dns-01\" is not supported"},
    {"acme challenge twice",
     "acme:\n  agree_tos: on\n  challenges:\n    - http-01\n    - tls-alpn-01\n"
     "    - http-01\n",
     6, 7,
     "acme.challenges: duplicate challenge \"http-01\" (first listed at 4:7)"},
    {"acme resolver name", "acme: {agree_tos: on, resolver: dns.example}\n", 1,
     33, "acme.resolver: "},
    {"acme orders_burst zero", "acme: {agree_tos: on, orders_burst: 0}\n", 1,
     37, "acme.orders_burst: "},
    {"acme challenge null", "acme: {agree_tos: on, challenges: [~]}\n", 1, 36,
     "acme.challenges: each entry must be tls-alpn-01 or http-01, found null"},
    {"acme key_type unknown", "acme: {agree_tos: on, key_type: ed25519}\n", 1,
     33,
     "acme.key_type: expected ecdsa-p256, rsa-2048 or both, found "
     "\"ed25519\""},
    {"acme key_type typo", "acme: {agree_tos: on, key_type: rsa2048}\n", 1, 33,
     "did you mean \"rsa-2048\"?"},
    {"acme key_type seq", "acme: {agree_tos: on, key_type: [rsa-2048]}\n", 1,
     33,
     "acme.key_type: expected ecdsa-p256, rsa-2048 or both, found a "
     "sequence"},
    {"acme ca_file empty", "acme: {agree_tos: on, ca_file: \"\"}\n", 1, 32,
     "acme.ca_file: expected a file path (or null), found an empty string"},
    {"acme eab kid only", "acme:\n  agree_tos: on\n  eab:\n    kid: abc\n", 3,
     3,
     "acme.eab: give both kid and hmac_key (External Account Binding, RFC "
     "8555 §7.3.4), or neither; hmac_key is missing"},
    {"acme eab hmac only", "acme: {agree_tos: on, eab: {hmac_key: YWJj}}\n", 1,
     23, "or neither; kid is missing"},
    {"acme eab hmac not base64url",
     "acme: {agree_tos: on, eab: {kid: k, hmac_key: \"ab+/\"}}\n", 1, 47,
     "acme.eab.hmac_key: expected the base64url key the CA gave you (letters, "
     "digits, '-' and '_'), found another character at position 3"},
    {"acme eab hmac three pads",
     "acme: {agree_tos: on, eab: {kid: k, hmac_key: \"YQ===\"}}\n", 1, 47,
     "found another character at position 3"},
    {"acme eab hmac empty",
     "acme: {agree_tos: on, eab: {kid: k, hmac_key: \"\"}}", 1, 47,
     "acme.eab.hmac_key: expected the base64url key"},
    {"acme eab kid space",
     "acme: {agree_tos: on, eab: {kid: \"a b\", hmac_key: x}}", 1, 34,
     "acme.eab.kid: expected the key identifier the CA gave you"},
    {"acme http-01 alone without http",
     "listen: {http: null}\nacme:\n  agree_tos: on\n  challenges: [http-01]\n",
     4, 15,
     "acme.challenges: http-01 alone needs the plain-HTTP listener, and "
     "listen.http (--http) is off"},
    {"acme eab unknown", "acme: {agree_tos: on, eab: {key: x}}\n", 1, 29,
     "unknown key \"key\" under \"eab\""},
    {"acme eab scalar", "acme: {agree_tos: on, eab: yes}\n", 1, 28,
     "acme.eab: expected a mapping {kid, hmac_key}, found \"yes\""},
    /* The periodic check. */
    {"check interval too short", "check:\n  interval: 59s\n", 2, 13,
     "check.interval: 59s is shorter than the minimum of 60s"},
    {"check interval zero", "check: {interval: 0s}\n", 1, 19,
     "check.interval: 0s is shorter than the minimum of 60s"},
    {"check interval too long", "check: {interval: 31d}\n", 1, 19,
     "check.interval: \"31d\" is longer than the limit of 2592000 seconds"},
    {"check interval overflow", "check: {interval: 99999999999999999999s}\n", 1,
     19, "is longer than the limit of 2592000 seconds"},
    {"check interval plain number", "check: {interval: 3600}\n", 1, 19,
     "check.interval: expected a duration such as 90s, 30m, 6h, 1d or "
     "1h30m, found \"3600\" (or off)"},
    {"check interval words", "check: {interval: 6 hours}\n", 1, 19,
     "found \"6 hours\""},
    {"check interval unit twice", "check: {interval: 1h1h}\n", 1, 19,
     "found \"1h1h\""},
    {"check interval units upwards", "check: {interval: 30m1h}\n", 1, 19,
     "found \"30m1h\""},
    {"check interval unknown unit", "check: {interval: 2w}\n", 1, 19,
     "found \"2w\""},
    {"check interval no number", "check: {interval: h}\n", 1, 19,
     "found \"h\""},
    {"check interval empty", "check: {interval: \"\"}\n", 1, 19, "found \"\""},
    {"check interval sequence", "check: {interval: [6h]}\n", 1, 19,
     "check.interval: expected a duration such as 6h (at least 1m), or off, "
     "found a sequence"},
    {"check timeout off", "check: {timeout: off}\n", 1, 18,
     "check.timeout: expected a duration such as 90s"},
    {"check timeout too short", "check: {timeout: 9s}\n", 1, 18,
     "check.timeout: 9s is shorter than the minimum of 10s"},
    {"check timeout too long", "check: {timeout: 61m}\n", 1, 18,
     "is longer than the limit of 3600 seconds"},
    {"check concurrency zero", "check: {concurrency: 0}\n", 1, 22,
     "check.concurrency: 0 is out of range; expected 1..64"},
    {"check concurrency over", "check: {concurrency: 65}\n", 1, 22,
     "expected 1..64"},
    {"check resolver name", "check: {resolver: ns.example.net}\n", 1, 19,
     "check.resolver: expected a numeric IP address, found 'ns.example.net'"},
    {"check resolver port", "check: {resolver: \"127.0.0.1:0\"}\n", 1, 19,
     "check.resolver: "},
    {"check ca_file empty", "check: {ca_file: \"\"}\n", 1, 18,
     "check.ca_file: expected a PEM file of CA certificates, found an empty "
     "string"},
    {"check trust_anchor list", "check: {trust_anchor: [a]}\n", 1, 23,
     "check.trust_anchor: expected a file of DS or DNSKEY records, or none"},
    {"check https_port zero", "check: {https_port: 0}\n", 1, 21,
     "check.https_port: 0 is out of range; expected 1..65535"},
    {"check smtp_port over", "check: {smtp_port: 65536}\n", 1, 20,
     "check.smtp_port: 65536 is out of range; expected 0..65535"},
    {"check key misspelt", "check: {intervall: 6h}\n", 1, 9,
     "unknown key \"intervall\" under \"check\"; did you mean \"interval\"?"},
    {"check key elsewhere", "reload: {interval: 6h}\n", 1, 10,
     "it belongs under \"check:\" (check.interval)"},
};

static void test_err(void **state)
{
    const struct err_case *tc = *state;
    struct diag d;
    diag_init(&d, "test.yaml");
    struct config *c = config_parse(tc->yaml, strlen(tc->yaml), &d);
    bool ok = c == NULL && d.n > 0 && d.entries[0].severity == DIAG_ERROR &&
              d.entries[0].line == tc->line && d.entries[0].col == tc->col &&
              strstr(d.entries[0].msg, tc->msg) != NULL;
    if (!ok) {
        print_message("expected %u:%u \"%s\"; got:\n", tc->line, tc->col,
                      tc->msg);
        print_diag(&d);
    }
    assert_null(c);
    assert_true(ok);
    diag_free(&d);
    config_free(c);
}

/* ---- privileges: user and allow_root ------------------------------------ */

struct priv_case {
    const char *name;
    const char *yaml;
    const char *user; /* NULL = not set */
    bool allow_root;
};

static const struct priv_case priv_cases[] = {
    {"defaults", "", NULL, false},
    {"name", "user: nobody\n", "nobody", false},
    {"quoted name", "user: \"mta-sts\"\n", "mta-sts", false},
    {"numeric uid", "user: 10001\n", "10001", false},
    {"dots underscores", "user: svc.mta_sts-1\n", "svc.mta_sts-1", false},
    {"machine account", "user: host$\n", "host$", false},
    {"32 characters", "user: abcdefghijklmnopqrstuvwxyz012345\n",
     "abcdefghijklmnopqrstuvwxyz012345", false},
    {"allow_root true", "allow_root: true\n", NULL, true},
    {"allow_root yes", "allow_root: yes\n", NULL, true},
    {"allow_root false", "allow_root: false\n", NULL, false},
    {"both", "user: nobody\nallow_root: on\n", "nobody", true},
};

static void test_privilege_keys(void **state)
{
    const struct priv_case *tc = *state;
    struct config *c = parse_ok(tc->yaml, strlen(tc->yaml));
    if (tc->user == NULL)
        assert_null(c->user);
    else
        assert_string_equal(c->user, tc->user);
    assert_int_equal(c->allow_root, tc->allow_root);
    config_free(c);
}

/* The checker that --user goes through, on its own. */
static void test_check_user(void **state)
{
    (void)state;
    static const char *const good[] = {"nobody",   "_apt", "10001", "a",
                                       "www-data", "a.b",  "x$"};
    static const char *const bad[] = {
        "",    "-x",  "a b",
        "a/b", "a:b", "r\xc3\xb6ot",
        "$x",  "a\n", "abcdefghijklmnopqrstuvwxyz0123456"};
    char err[256];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err[0] = '\0';
        if (config_check_user(good[i], err, sizeof(err)) != 0)
            fail_msg("\"%s\" refused: %s", good[i], err);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (config_check_user(bad[i], err, sizeof(err)) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_true(err[0] != '\0');
    }
}

/* ---- ACME -------------------------------------------------------------- */

/* The example of issue 12 (and, commented out, of
 * deploy/config.example.yaml), as written there. */
static void test_acme_example(void **state)
{
    (void)state;
    static const char yaml[] =
        "state_dir: /var/lib/mta-sts-host\n"
        "acme:\n"
        "  directory: https://acme-v02.api.letsencrypt.org/directory   # the "
        "default\n"
        "  email: postmaster@example.com\n"
        "  agree_tos: true            # required: nothing is ordered without "
        "it\n"
        "  challenges: [tls-alpn-01, http-01]\n"
        "  key_type: ecdsa-p256       # or rsa-2048, or both\n"
        "  ca_file: null              # extra trust for the ACME server (a "
        "private CA, Pebble)\n"
        "  eab: {kid: null, hmac_key: null}\n";
    struct config *c = parse_ok(yaml, strlen(yaml));
    char *s = dump(c);
    assert_non_null(strstr(s, "acme=1\n"
                              "acme_directory=https://"
                              "acme-v02.api.letsencrypt.org/directory\n"
                              "acme_email=postmaster@example.com\n"
                              "agree_tos=1\n"
                              "challenges=tls-alpn-01,http-01\n"
                              "key_type=ecdsa-p256\n"
                              "ca_file=(null)\n"
                              "eab_kid=(null)\n"
                              "eab_hmac_key=(null)\n"));
    free(s);
    config_free(c);
}

/* The checkers the --acme-* options go through, on their own. */
static void test_acme_checkers(void **state)
{
    (void)state;
    enum config_acme_challenge ch[CONFIG_ACME_N_CHALLENGES];
    enum config_acme_key key = CONFIG_ACME_KEY_ECDSA_P256;
    char err[256];

    assert_int_equal(config_parse_acme_challenges("http-01", ch, err, 256), 1);
    assert_int_equal(ch[0], CONFIG_ACME_HTTP_01);
    assert_int_equal(
        config_parse_acme_challenges("http-01,tls-alpn-01", ch, err, 256), 2);
    assert_int_equal(ch[0], CONFIG_ACME_HTTP_01);
    assert_int_equal(ch[1], CONFIG_ACME_TLS_ALPN_01);
    static const struct {
        const char *list, *msg;
    } bad[] = {
        {"", "separated by commas"},
        {"http-01,", "separated by commas"},
        {",http-01", "separated by commas"},
        {"http-01,http-01", "http-01 is listed twice"},
        {"tls-alpn-01,http-01,tls-alpn-01", "tls-alpn-01 is listed twice"},
        {"dns-01", "\"dns-01\" is not supported"},
        {"tls-alpn-1", "found \"tls-alpn-1\"; did you mean \"tls-alpn-01\"?"},
        {"http-01 ", "found \"http-01 \""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (config_parse_acme_challenges(bad[i].list, ch, err, sizeof(err)) !=
                -1 ||
            strstr(err, bad[i].msg) == NULL)
            fail_msg("\"%s\": expected \"%s\", got \"%s\"", bad[i].list,
                     bad[i].msg, err);
    }
    assert_string_equal(config_acme_challenge_name(CONFIG_ACME_TLS_ALPN_01),
                        "tls-alpn-01");
    assert_string_equal(config_acme_challenge_name(CONFIG_ACME_HTTP_01),
                        "http-01");

    assert_int_equal(config_parse_acme_key("rsa-2048", &key, err, 256), 0);
    assert_int_equal(key, CONFIG_ACME_KEY_RSA_2048);
    assert_int_equal(config_parse_acme_key("both", &key, err, 256), 0);
    assert_int_equal(key, CONFIG_ACME_KEY_BOTH);
    assert_int_equal(config_parse_acme_key("ecdsa-p256", &key, err, 256), 0);
    assert_int_equal(key, CONFIG_ACME_KEY_ECDSA_P256);
    assert_int_equal(config_parse_acme_key("ecdsa", &key, err, 256), -1);
    assert_non_null(strstr(err, "expected ecdsa-p256, rsa-2048 or both"));

    assert_int_equal(config_check_acme_directory("https://localhost:14000/dir",
                                                 err, sizeof(err)),
                     0);
    assert_int_equal(
        config_check_acme_directory("ftp://x.example/", err, sizeof(err)), -1);
    assert_int_equal(config_check_acme_email("a@b.example", err, sizeof(err)),
                     0);
    assert_int_equal(
        config_check_acme_email("a@b.example?subject=x", err, sizeof(err)), -1);

    /* The cross-key check, as main runs it after the overrides. */
    struct config *c = config_new_default();
    assert_non_null(c);
    assert_int_equal(config_check_acme(c, err, sizeof(err)), 0);
    c->acme = true;
    assert_int_equal(config_check_acme(c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "acme.agree_tos: true is required"));
    c->acme_agree_tos = true;
    assert_int_equal(config_check_acme(c, err, sizeof(err)), 0);
    c->acme_eab_kid = strdup("kid");
    assert_int_equal(config_check_acme(c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "hmac_key is missing"));
    c->acme_eab_hmac_key = strdup("a2V5");
    assert_int_equal(config_check_acme(c, err, sizeof(err)), 0);
    /* --http off with --acme-challenges http-01. */
    free(c->http_listen);
    c->http_listen = NULL;
    assert_int_equal(config_check_acme(c, err, sizeof(err)), 0);
    c->acme_challenges[0] = CONFIG_ACME_HTTP_01;
    c->n_acme_challenges = 1;
    assert_int_equal(config_check_acme(c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "http-01 alone needs the plain-HTTP listener"));
    config_free(c);
}

/* ---- whole-file tests --------------------------------------------------- */

static void test_full_example(void **state)
{
    (void)state;
    struct config *c = parse_ok(example_yaml, strlen(example_yaml));
    char *s = dump(c);
    assert_string_equal(s, "domains=example.com,example.net\n"
                           "policy_dir=policy\n"
                           "cert_dir=certs\n"
                           "https=[::]:8443\n"
                           "http=[::]:8080\n"
                           "metrics=(null)\n"
                           "rua=mailto:tls-reports@example.com,"
                           "https://reports.example.com/v1/tlsrpt\n"
                           "state_dir=state\n"
                           "state_dir_set=0\n"
                           "receive=0\n"
                           "path=/tlsrpt\n"
                           "max_body=10485760\n"
                           "retention_days=400\n"
                           "rate_limit=60\n"
                           "max_disk=1073741824\n"
                           "instance=(null)\n"
                           "format=text\n"
                           "level=info\n"
                           "access=1\n"
                           "max_connections=1024\n"
                           "max_connections_per_ip=64\n"
                           "connection_timeout=10\n"
                           "request_timeout=10\n"
                           "connection_memory_limit=32768\n"
                           "threads=0\n"
                           "debounce_ms=200\n"
                           "poll_interval_ms=2000\n"
                           "force_poll=0\n"
                           "acme=0\n"
                           "acme_directory=https://"
                           "acme-v02.api.letsencrypt.org/directory\n"
                           "acme_email=(null)\n"
                           "agree_tos=0\n"
                           "challenges=tls-alpn-01,http-01\n"
                           "key_type=ecdsa-p256\n"
                           "ca_file=(null)\n"
                           "eab_kid=(null)\n"
                           "eab_hmac_key=(null)\n"
                           "resolver=(null)\n"
                           "orders_burst=10\n"
                           "orders_per_hour=20\n"
                           "check_interval=0\n"
                           "check_timeout=120\n"
                           "check_concurrency=4\n"
                           "check_resolver=(null)\n"
                           "check_trust_anchor=(null)\n"
                           "check_ca_file=(null)\n"
                           "check_https_port=443\n"
                           "check_smtp_port=25\n");
    free(s);
    config_free(c);
}

static void test_everything_changed(void **state)
{
    (void)state;
    static const char yaml[] =
        "domains:\n  - Example.ORG.\n  - mail.example.net\n"
        "policy_dir: /srv/p\ncert_dir: /srv/c\n"
        "listen:\n  https: \"0.0.0.0:443\"\n  http: \"\"\n"
        "  metrics: \"[::1]:9100\"\n"
        "state_dir: /var/lib/mta-sts\n"
        "tlsrpt:\n  rua: [\"https://r.example/x\"]\n"
        "  receive: false\n  path: /reports/tls\n  max_body: 2048\n"
        "  retention_days: 30\n  rate_limit: 0\n  max_disk: 1048576\n"
        "  instance: replica-1\n"
        "log: {format: json, level: debug, access: off}\n"
        "limits:\n  max_connections: 500\n  max_connections_per_ip: 5\n"
        "  connection_timeout: 30\n  request_timeout: 20\n"
        "  connection_memory_limit: 65536\n"
        "  threads: 4\n"
        "reload: {debounce_ms: 50, poll_interval_ms: 500, force_poll: yes}\n"
        "acme:\n  directory: https://ca.example:14000/dir\n"
        "  email: hostmaster@example.org\n  agree_tos: yes\n"
        "  challenges: [http-01, tls-alpn-01]\n  key_type: both\n"
        "  ca_file: /etc/ssl/pebble.pem\n"
        "  eab: {kid: kid-1, hmac_key: c2VjcmV0LWtleQ}\n"
        "  resolver: 192.0.2.53\n  orders_burst: 3\n  orders_per_hour: 7\n"
        "check:\n  interval: 1h30m\n  timeout: 45s\n  concurrency: 16\n"
        "  resolver: \"[::1]:5353\"\n  trust_anchor: none\n"
        "  ca_file: /etc/ca.pem\n  https_port: 8443\n  smtp_port: 0\n";
    struct config *c = parse_ok(yaml, strlen(yaml));
    char *s = dump(c);
    assert_string_equal(s, "domains=example.org,mail.example.net\n"
                           "policy_dir=/srv/p\n"
                           "cert_dir=/srv/c\n"
                           "https=0.0.0.0:443\n"
                           "http=(null)\n"
                           "metrics=[::1]:9100\n"
                           "rua=https://r.example/x\n"
                           "state_dir=/var/lib/mta-sts\n"
                           "state_dir_set=1\n"
                           "receive=0\n"
                           "path=/reports/tls\n"
                           "max_body=2048\n"
                           "retention_days=30\n"
                           "rate_limit=0\n"
                           "max_disk=1048576\n"
                           "instance=replica-1\n"
                           "format=json\n"
                           "level=debug\n"
                           "access=0\n"
                           "max_connections=500\n"
                           "max_connections_per_ip=5\n"
                           "connection_timeout=30\n"
                           "request_timeout=20\n"
                           "connection_memory_limit=65536\n"
                           "threads=4\n"
                           "debounce_ms=50\n"
                           "poll_interval_ms=500\n"
                           "force_poll=1\n"
                           "acme=1\n"
                           "acme_directory=https://ca.example:14000/dir\n"
                           "acme_email=hostmaster@example.org\n"
                           "agree_tos=1\n"
                           "challenges=http-01,tls-alpn-01\n"
                           "key_type=both\n"
                           "ca_file=/etc/ssl/pebble.pem\n"
                           "eab_kid=kid-1\n"
                           "eab_hmac_key=c2VjcmV0LWtleQ\n"
                           "resolver=192.0.2.53\n"
                           "orders_burst=3\n"
                           "orders_per_hour=7\n"
                           "check_interval=5400\n"
                           "check_timeout=45\n"
                           "check_concurrency=16\n"
                           "check_resolver=[::1]:5353\n"
                           "check_trust_anchor=none\n"
                           "check_ca_file=/etc/ca.pem\n"
                           "check_https_port=8443\n"
                           "check_smtp_port=0\n");
    free(s);
    config_free(c);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config *c = config_new_default();
    assert_non_null(c);
    char *s = dump(c);
    assert_string_equal(s, defaults_dump);
    free(s);
    config_free(c);
    config_free(NULL);

    /* A NULL buffer reads as empty. */
    struct diag d;
    diag_init(&d, "test.yaml");
    c = config_parse(NULL, 0, &d);
    assert_non_null(c);
    s = dump(c);
    assert_string_equal(s, defaults_dump);
    free(s);
    config_free(c);
    diag_free(&d);
}

static void test_too_large(void **state)
{
    (void)state;
    size_t len = 1024 * 1024 + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    struct diag d;
    diag_init(&d, "big.yaml");
    assert_null(config_parse(big, len, &d));
    assert_int_equal(diag_errors(&d), 1);
    assert_non_null(strstr(d.entries[0].msg, "the limit is 1048576"));
    diag_free(&d);

    /* Exactly 1 MiB of comment is still read. */
    big[len - 2] = '\n';
    diag_init(&d, "big.yaml");
    struct config *c = config_parse(big, len - 1, &d);
    assert_non_null(c);
    assert_int_equal(diag_errors(&d), 0);
    config_free(c);
    diag_free(&d);
    free(big);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    char buf[512];
    size_t o = 0;
    o += (size_t)snprintf(buf, sizeof(buf), "domains: ");
    for (int i = 0; i < 100; i++)
        buf[o++] = '[';
    for (int i = 0; i < 100; i++)
        buf[o++] = ']';
    buf[o] = '\0';
    struct diag d;
    diag_init(&d, "deep.yaml");
    assert_null(config_parse(buf, o, &d));
    assert_true(d.n >= 1);
    assert_non_null(strstr(d.entries[0].msg, "nested more than 64 levels"));
    assert_int_equal(d.entries[0].line, 1);
    diag_free(&d);
}

static void test_all_errors_reported(void **state)
{
    (void)state;
    /* Checking goes on after the first bad value, so one run shows all. */
    static const char yaml[] = "polcy_dir: x\n"
                               "limits:\n"
                               "  threads: 999\n"
                               "  connection_timeout: 0\n"
                               "log: {level: loud}\n";
    struct diag d;
    diag_init(&d, "many.yaml");
    assert_null(config_parse(yaml, strlen(yaml), &d));
    assert_int_equal(diag_errors(&d), 4);
    assert_int_equal(d.entries[0].line, 1);
    assert_int_equal(d.entries[1].line, 3);
    assert_int_equal(d.entries[2].line, 4);
    assert_int_equal(d.entries[3].line, 5);
    char out[1024];
    assert_string_equal(diag_format_entry(&d, &d.entries[1], out, sizeof(out)),
                        "many.yaml:3:12: error: limits.threads: 999 is out of "
                        "range; expected 0..256");
    diag_free(&d);
}

static void test_duplicate_rua_warns(void **state)
{
    (void)state;
    static const char yaml[] =
        "tlsrpt:\n  rua: [\"mailto:a@b.example\", \"mailto:a@b.example\"]\n";
    struct diag d;
    diag_init(&d, "test.yaml");
    struct config *c = config_parse(yaml, strlen(yaml), &d);
    assert_non_null(c);
    assert_int_equal(diag_errors(&d), 0);
    assert_int_equal(d.warnings, 1);
    assert_int_equal(d.entries[0].line, 2);
    assert_int_equal(d.entries[0].col, 31);
    assert_non_null(strstr(d.entries[0].msg, "first listed at 2:9"));
    assert_int_equal(c->n_tlsrpt_rua, 2);
    config_free(c);
    diag_free(&d);
}

static void test_many_domains(void **state)
{
    (void)state;
    /* A provider's long list: parsed, normalised and de-duplicated fast. */
    size_t n = 20000, cap = n * 24 + 64, o = 0;
    char *y = malloc(cap);
    assert_non_null(y);
    o += (size_t)snprintf(y, cap, "domains:\n");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(y + o, cap - o, "  - D%zu.example\n", i);
    struct config *c = parse_ok(y, o);
    assert_int_equal(c->n_domains, n);
    assert_string_equal(c->domains[0], "d0.example");
    assert_string_equal(c->domains[n - 1], "d19999.example");
    config_free(c);
    /* The same list plus one repeat at the end. */
    o += (size_t)snprintf(y + o, cap - o, "  - d7.EXAMPLE\n");
    struct diag d;
    diag_init(&d, "test.yaml");
    assert_null(config_parse(y, o, &d));
    assert_int_equal(diag_errors(&d), 1);
    assert_int_equal(d.entries[0].line, n + 2);
    assert_non_null(strstr(d.entries[0].msg, "first listed at 9:5"));
    diag_free(&d);
    free(y);
}

/* ---- the public checkers ------------------------------------------------ */

struct domain_case {
    const char *in;
    int rc;
    const char *out; /* normalised name, or a piece of the error */
};

static const struct domain_case domain_cases[] = {
    {"example.com", 0, "example.com"},
    {"Example.COM.", 0, "example.com"},
    {"a-b.c-d.example", 0, "a-b.c-d.example"},
    {"xn--bcher-kva.de", 0, "xn--bcher-kva.de"},
    {"mta-sts.com", 0, "mta-sts.com"}, /* two labels: a domain of its own */
    {"123.example", 0, "123.example"},
    {"example.com..", -1, "empty label"},
    {".example.com", -1, "empty label"},
    {"", -1, "empty"},
    {".", -1, "empty"},
    {"com", -1, "single label"},
    {"mta-sts.example.com", -1, "bare domain \"example.com\""},
    {"MTA-STS.Example.com.", -1, "bare domain \"example.com\""},
    {"a b.com", -1, "found ' ' (a space)"},
    {"1.2.3.4", -1, "numeric"},
};

static void test_check_domain(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(domain_cases) / sizeof(domain_cases[0]);
         i++) {
        const struct domain_case *tc = &domain_cases[i];
        char name[300], err[256] = "";
        snprintf(name, sizeof(name), "%s", tc->in);
        int rc = config_check_domain(name, err, sizeof(err));
        bool ok = rc == tc->rc && (rc == 0 ? strcmp(name, tc->out) == 0
                                           : strstr(err, tc->out) != NULL);
        if (!ok)
            print_message("domain \"%s\" -> %d \"%s\" \"%s\"\n", tc->in, rc,
                          name, err);
        assert_int_equal(rc, tc->rc);
        if (rc == 0)
            assert_string_equal(name, tc->out);
        else
            assert_non_null(strstr(err, tc->out));
    }
    /* Length limits: 63-byte labels and 253-byte names pass, one more not. */
    char name[300], err[256];
    memset(name, 'a', 63);
    memcpy(name + 63, ".example", 9);
    assert_int_equal(config_check_domain(name, err, sizeof(err)), 0);
    memset(name, 'a', 64);
    memcpy(name + 64, ".example", 9);
    assert_int_equal(config_check_domain(name, err, sizeof(err)), -1);
    for (size_t i = 0; i < 253; i++)
        name[i] = (i % 2) ? '.' : 'a';
    name[253] = '\0'; /* a.a.a....a: 127 labels, 253 bytes */
    assert_int_equal(config_check_domain(name, err, sizeof(err)), 0);
    name[253] = '.';
    name[254] = 'a';
    name[255] = '\0';
    assert_int_equal(config_check_domain(name, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at most 253 characters, found 255"));
    /* A trailing dot does not count against the limit. */
    name[253] = '.';
    name[254] = '\0';
    assert_int_equal(config_check_domain(name, err, sizeof(err)), 0);
    assert_int_equal(strlen(name), 253);
}

struct listen_case {
    const char *in;
    int rc;
    const char *host; /* or a piece of the error */
    unsigned port;
};

static const struct listen_case listen_cases[] = {
    {"[::1]:80", 0, "::1", 80},
    {"0.0.0.0:443", 0, "0.0.0.0", 443},
    {"[::]:8443", 0, "::", 8443},
    {"127.0.0.1:65535", 0, "127.0.0.1", 65535},
    {"[2001:db8::1]:1", 0, "2001:db8::1", 1},
    {"8443", -1, "expected an address and a port", 0},
    {"[::1]8443", -1, "expected ':' and a port after ']'", 0},
    {"1.2.3.4:0", -1, "out of range", 0},
    {"1.2.3.4:65536", -1, "out of range", 0},
    {"1.2.3.4:99999999999999999999", -1, "expected a port number", 0},
    {"1.2.3.4:-1", -1, "expected a port number", 0},
    {"1.2.3.4:+80", -1, "expected a port number", 0},
    {"host:80", -1, "not an IPv4 address literal", 0},
    {"1.2.3:80", -1, "not an IPv4 address literal", 0},
    {"[fe80::1%eth0]:80", -1, "not an IPv6 address literal", 0},
    {"[]:80", -1, "expected an IP address literal", 0},
    {":80", -1, "expected an IP address literal", 0},
    {"", -1, "expected an address and a port", 0},
};

static void test_split_listen(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(listen_cases) / sizeof(listen_cases[0]);
         i++) {
        const struct listen_case *tc = &listen_cases[i];
        char host[64] = "", err[256] = "";
        unsigned short port = 0;
        int rc = config_split_listen(tc->in, host, sizeof(host), &port, err,
                                     sizeof(err));
        bool ok = rc == tc->rc &&
                  (rc == 0 ? strcmp(host, tc->host) == 0 && port == tc->port
                           : strstr(err, tc->host) != NULL);
        if (!ok)
            print_message("listen \"%s\" -> %d %s %u \"%s\"\n", tc->in, rc,
                          host, port, err);
        assert_int_equal(rc, tc->rc);
        if (rc == 0) {
            assert_string_equal(host, tc->host);
            assert_int_equal(port, tc->port);
        } else {
            assert_non_null(strstr(err, tc->host));
        }
    }
    /* A host buffer that is too small is an error, not a truncation. */
    char small[4], err[256];
    unsigned short port;
    assert_int_equal(config_split_listen("127.0.0.1:80", small, sizeof(small),
                                         &port, err, sizeof(err)),
                     -1);
    /* The address and its NUL must fit: 7 + 1 bytes. */
    char exact[8];
    assert_int_equal(
        config_split_listen("1.2.3.4:80", exact, 7, &port, err, sizeof(err)),
        -1);
    assert_int_equal(config_split_listen("1.2.3.4:80", exact, sizeof(exact),
                                         &port, err, sizeof(err)),
                     0);
    assert_string_equal(exact, "1.2.3.4");
}

struct rua_case {
    const char *in;
    const char *err; /* NULL = valid, else a piece of the error */
};

static const struct rua_case rua_cases[] = {
    {"mailto:a@b.com", NULL},
    {"MAILTO:a@b.com", NULL},
    {"https://r.example.com/x", NULL},
    {"https://r.example.com", NULL},
    {"https://r.example.com:8443/v1?x=1#f", NULL},
    {"https://192.0.2.1/r", NULL},
    {"mailto:a%21b@c.example", NULL},
    {"mailto:a@[192.0.2.1]", NULL},
    {"http://x", "plain http: is not allowed"},
    {"x", "expected a mailto: or https: URI"},
    {"", "expected a mailto: or https: URI"},
    {"mailto:a,b@c", "','"},
    {"mailto:a@b.com!10m", "'!'"},
    {"mailto:a@b.com;x", "';'"},
    {"mailto:", "must be followed by an address"},
    {"mailto:?subject=x", "must be followed by an address"},
    {"mailto:@b.com", "empty local part"},
    {"mailto:a@", "invalid mail domain"},
    {"mailto:a@localhost", "single label"},
    {"mailto:a@b.com%", "bad percent-escape at position 15"},
    {"mailto:a@b.com%4", "bad percent-escape"},
    {"mailto:a@b.com%g0", "bad percent-escape"},
    {"https://r.example.com/%4g", "bad percent-escape at position 23"},
    {"mailto:a@[192.0.2.1", "invalid mail domain"},
    {"mailto:a@192.0.2.1]", "invalid mail domain"},
    {"mailto:a\tb@c.com", "\\x09 at position 9"},
    {"mailto:a@b.com\n", "\\x0a"},
    {"mailto:\xc3\xa4@b.com", "\\xc3"},
    {"mailto:a<b@c.com", "'<'"},
    {"https://", "must be followed by a host"},
    {"https:///x", "must be followed by a host"},
    {"https://u@r.example/x", "user information"},
    {"https://r.example:99999/x", "out of range"},
    {"https://[::1/x", "missing ']'"},
    {"https://[zz]/x", "not an IPv6 address"},
    {"https://r_x.example/", "invalid host"},
};

static void test_check_rua(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rua_cases) / sizeof(rua_cases[0]); i++) {
        const struct rua_case *tc = &rua_cases[i];
        char err[256] = "";
        int rc = config_check_rua(tc->in, err, sizeof(err));
        bool ok = tc->err == NULL ? rc == 0
                                  : rc == -1 && strstr(err, tc->err) != NULL;
        if (!ok)
            print_message("rua \"%s\" -> %d \"%s\"\n", tc->in, rc, err);
        if (tc->err == NULL) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, tc->err));
        }
    }
    /* A NULL or empty error buffer is allowed. */
    assert_int_equal(config_check_rua("http://x", NULL, 0), -1);
}

int main(void)
{
    enum { N_OK = sizeof(ok_cases) / sizeof(ok_cases[0]) };
    enum { N_ERR = sizeof(err_cases) / sizeof(err_cases[0]) };
    enum { N_PRIV = sizeof(priv_cases) / sizeof(priv_cases[0]) };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full_example),
        cmocka_unit_test(test_everything_changed),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_duplicate_rua_warns),
        cmocka_unit_test(test_many_domains),
        cmocka_unit_test(test_check_domain),
        cmocka_unit_test(test_split_listen),
        cmocka_unit_test(test_check_rua),
        cmocka_unit_test(test_check_user),
        cmocka_unit_test(test_acme_example),
        cmocka_unit_test(test_acme_checkers),
    };
    enum { N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
    struct CMUnitTest tests[N_FIXED + N_OK + N_ERR + N_PRIV];
    size_t n = 0;
    for (size_t i = 0; i < N_FIXED; i++)
        tests[n++] = fixed[i];
    /* One named test per table row, so a failure names its case. */
    for (size_t i = 0; i < N_OK; i++) {
        struct CMUnitTest t = {ok_cases[i].name, test_ok, NULL, NULL,
                               (void *)&ok_cases[i]};
        tests[n++] = t;
    }
    for (size_t i = 0; i < N_ERR; i++) {
        struct CMUnitTest t = {err_cases[i].name, test_err, NULL, NULL,
                               (void *)&err_cases[i]};
        tests[n++] = t;
    }
    for (size_t i = 0; i < N_PRIV; i++) {
        struct CMUnitTest t = {priv_cases[i].name, test_privilege_keys, NULL,
                               NULL, (void *)&priv_cases[i]};
        tests[n++] = t;
    }
    return _cmocka_run_group_tests("config", tests, n, NULL, NULL);
}
