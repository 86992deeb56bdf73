/*
 * config: the server's YAML configuration (libyaml), with defaults, so the
 * host runs with no config file at all. Buffer in, struct config or
 * diagnostics out; unknown keys and bad values are errors with
 * file:line:col, and the whole file is rejected on any error.
 * Pure: no I/O, no logging, no globals.
 */
#ifndef MTA_STS_CONFIG_H
#define MTA_STS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG
};

/* ACME challenge types the host can answer itself (RFC 8737, RFC 8555
 * §8.3), in the order of config_acme_challenge_name. */
enum config_acme_challenge {
    CONFIG_ACME_TLS_ALPN_01,
    CONFIG_ACME_HTTP_01,
    CONFIG_ACME_N_CHALLENGES
};
/* Certificate keys to order: one certificate per key type. */
enum config_acme_key {
    CONFIG_ACME_KEY_ECDSA_P256,
    CONFIG_ACME_KEY_RSA_2048,
    CONFIG_ACME_KEY_BOTH
};

struct config {
    char **domains; /* served domains, lower case, no trailing dot;
                       empty = taken from the certificates */
    size_t n_domains;
    char *policy_dir;     /* default "policy" */
    char *cert_dir;       /* default "certs" */
    char *https_listen;   /* default "[::]:8443" */
    char *http_listen;    /* default "[::]:8080"; NULL = disabled */
    char *metrics_listen; /* NULL = /metrics on the HTTP listener */
    char **tlsrpt_rua;    /* TLS-RPT rua URIs (validated), may be empty */
    size_t n_tlsrpt_rua;
    /* The only directory the host writes to (DESIGN.md, "State
     * directory"); default "state", relative to the working directory. */
    char *state_dir;
    bool state_dir_set; /* named in the config file */
    /* TLS report reception (RFC 8460 §3, the tlsrpt: section). */
    bool tlsrpt_receive;             /* default: state_dir_set */
    bool tlsrpt_receive_set;         /* tlsrpt.receive was given */
    char *tlsrpt_path;               /* default "/tlsrpt" */
    size_t tlsrpt_max_body;          /* bytes as received, default 10 MiB */
    unsigned tlsrpt_retention_days;  /* default 400 */
    unsigned tlsrpt_rate_limit;      /* reports per minute and client
                                        address, default 60; 0 = none */
    size_t tlsrpt_max_disk;          /* bytes of stored reports, 1 GiB */
    char *tlsrpt_instance;           /* names this replica's database;
                                        NULL = the host name */
    enum log_format log_format;      /* default text */
    enum log_level log_level;        /* default info */
    bool access_log;                 /* default true */
    unsigned max_connections;        /* default 1024 */
    unsigned max_connections_per_ip; /* default 64 */
    unsigned connection_timeout;     /* seconds, default 10 */
    unsigned request_timeout;        /* seconds to send a whole request,
                                        default 10 */
    size_t connection_memory_limit;  /* bytes, default 32768 */
    unsigned threads;                /* 0 = one per core */
    unsigned reload_debounce_ms;     /* default 200 */
    unsigned poll_interval_ms;       /* polling fallback, default 2000 */
    bool force_poll;                 /* default false */
    /* ACME (the acme: section, or any --acme-* flag): off when absent. */
    bool acme;
    char *acme_directory; /* https URL; default Let's Encrypt's */
    char *acme_email;     /* contact address; NULL = none */
    bool acme_agree_tos;  /* must be true when acme is on */
    enum config_acme_challenge acme_challenges[CONFIG_ACME_N_CHALLENGES];
    size_t n_acme_challenges;           /* in the order to try; default both */
    enum config_acme_key acme_key_type; /* default ECDSA P-256 */
    char *acme_ca_file;                 /* extra trust; NULL = none */
    char *acme_eab_kid;                 /* External Account Binding: */
    char *acme_eab_hmac_key;            /* both or neither (base64url) */
    char *acme_resolver; /* DNS server for the "does the name resolve"
                            check (ADDR[:PORT]); NULL = the system's */
    /* The order pace (a token bucket): at most orders_burst at once, then
     * orders_per_hour; defaults 10 and 20, far below Let's Encrypt's 300
     * new orders per 3 hours per account. */
    unsigned acme_orders_burst, acme_orders_per_hour;
    /* The periodic check of `serve` (the check: section), the options of
     * `mta-sts-host check` as config keys. */
    unsigned check_interval;    /* seconds between two checks of a domain;
                                   0 = off (default) */
    unsigned check_timeout;     /* seconds one domain may take, default 120 */
    unsigned check_concurrency; /* domains checked at once, default 4 */
    char *check_resolver;       /* ADDR[:PORT]; NULL = /etc/resolv.conf */
    char *check_trust_anchor;   /* file, or "none"; NULL = Debian's */
    char *check_ca_file;        /* trusted besides the system's; NULL */
    unsigned check_https_port;  /* default 443 */
    unsigned check_smtp_port;   /* default 25; 0 = no STARTTLS probe */
    /* Privileges: started as root, `serve` drops to this user after
     * binding the listeners and loading the keys; NULL = not configured. */
    char *user;
    bool allow_root; /* run as root without a user: default false */
    /* `validate --no-certs` (not a config key): policies only; the store
     * reads no certificate and the development pair stands in, quietly. */
    bool certs_unchecked;
};

/* config_new_default returns a config holding only the defaults. */
struct config *config_new_default(void);

/*
 * config_parse reads YAML from buf[0..len) over the defaults. Returns NULL
 * with errors in d (whose file name is used in messages).
 */
struct config *config_parse(const char *buf, size_t len, struct diag *d);

/* config_free releases a config; NULL is a no-op. */
void config_free(struct config *c);

/*
 * config_check_domain normalises a domain name in place (lower case, one
 * trailing dot removed) and returns 0 when it is a valid LDH host name of
 * at least two labels, else -1 with the reason in err.
 */
int config_check_domain(char *name, char *err, size_t errlen);

/*
 * config_split_listen splits a listen address "IPv4:port" or "[IPv6]:port"
 * (IP literals only, port 1-65535) into host (without brackets) and port.
 * Returns 0, or -1 with the reason in err.
 */
int config_split_listen(const char *addr, char *host, size_t hostlen,
                        unsigned short *port, char *err, size_t errlen);

/*
 * config_check_listen checks the listen addresses of c as `serve` will use
 * them (after command-line overrides): each one an IP literal and a port
 * 1-65535, no two sharing a socket. Returns 0, or -1 with the reason in
 * err.
 */
int config_check_listen(const struct config *c, char *err, size_t errlen);

/*
 * config_check_rua returns 0 when uri is a TLS-RPT rua URI (RFC 8460 §3:
 * "mailto:" or "https:", with ",", "!" and ";" percent-encoded), else -1
 * with the reason in err.
 */
int config_check_rua(const char *uri, char *err, size_t errlen);

/*
 * config_check_tlsrpt_path returns 0 when path can be the report path: it
 * starts with '/', is at most 128 bytes of visible ASCII without '?', '#',
 * '%' or what a rua URI must escape (',', '!', ';'), and is neither the policy
 * path nor /healthz, /status or /metrics; else -1 with the reason in err.
 */
int config_check_tlsrpt_path(const char *path, char *err, size_t errlen);

/*
 * config_check_instance returns 0 when name can name a database file: 1 to
 * 64 letters, digits, '.', '_' or '-', not starting with '.'; else -1
 * with the reason in err.
 */
int config_check_instance(const char *name, char *err, size_t errlen);

/* The shortest check.interval: a check a minute of every domain is
 * already more than DNS changes warrant. */
#define CONFIG_CHECK_INTERVAL_MIN 60

/*
 * config_parse_duration reads a duration: a whole number and a unit, s, m,
 * h or d ("90s", "30m", "6h", "1d"), or several of them from the largest
 * unit down ("1h30m"). It stores seconds in *out and returns 0, or -1 with
 * what was expected and found in err. Values over max are refused.
 */
int config_parse_duration(const char *s, unsigned long max, unsigned long *out,
                          char *err, size_t errlen);

/*
 * config_check_user returns 0 when name looks like a user name or a numeric
 * uid (letters, digits, '.', '_', '-', a trailing '$', not starting with
 * '-', at most 32 bytes), else -1 with the reason in err. Whether the user
 * exists is for the caller to find out.
 */
int config_check_user(const char *name, char *err, size_t errlen);

/* config_acme_challenge_name gives the ACME name of a challenge type
 * ("tls-alpn-01", "http-01"). */
const char *config_acme_challenge_name(enum config_acme_challenge t);

/*
 * config_parse_acme_challenges reads a comma-separated list of challenge
 * names ("tls-alpn-01,http-01", for --acme-challenges) into out[] in that
 * order: at least one, no duplicates. Returns the count, or -1 with the
 * reason in err.
 */
int config_parse_acme_challenges(const char *list,
                                 enum config_acme_challenge *out, char *err,
                                 size_t errlen);

/* config_parse_acme_key reads "ecdsa-p256", "rsa-2048" or "both". Returns
 * 0, or -1 with the reason in err. */
int config_parse_acme_key(const char *name, enum config_acme_key *out,
                          char *err, size_t errlen);

/*
 * config_check_acme_directory returns 0 when url can be an ACME directory
 * URL: https://, a valid host (and port), only URI characters; else -1
 * with the reason in err.
 */
int config_check_acme_directory(const char *url, char *err, size_t errlen);

/* config_check_acme_email returns 0 when addr is a plain e-mail address
 * (local@domain, visible ASCII), else -1 with the reason in err. */
int config_check_acme_email(const char *addr, char *err, size_t errlen);

/*
 * config_check_acme checks the settings of c's ACME section that span keys,
 * as `serve` will use them (after the --acme-* overrides): with ACME on,
 * agree_tos must be true, the EAB kid and hmac_key come together, and
 * http-01 alone needs the plain-HTTP listener.
 * Returns 0, or -1 with the reason in err.
 */
int config_check_acme(const struct config *c, char *err, size_t errlen);

#endif
