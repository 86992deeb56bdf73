/*
 * main: the mta-sts-host command line: `serve` (the daemon), `validate`
 * (check policy files with the daemon's own code), `dns` (the records to
 * publish), `health` (probe /healthz for container health checks). It owns
 * the one configuration and logger, handles signals on the main thread and
 * is the only place that exits. Everything else runs in the modules.
 */
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "certs.h"
#include "config.h"
#include "diag.h"
#include "dnsrec.h"
#include "http.h"
#include "log.h"
#include "policy.h"
#include "priv.h"
#include "probe.h"
#include "readfile.h"
#include "store.h"
#include "tlsrpt_mail.h"
#include "tlsrpt_parse.h"
#include "tlsrpt_recv.h"
#include "tlsrpt_store.h"
#include "tlsrpt_summary.h"
#include "watch.h"

#define EXIT_INVALID 1
#define EXIT_USAGE 2
#define CONFIG_MAX (1024 * 1024)
#define DRAIN_SECONDS 10
#define MAX_CLI_DOMAINS 256

static const char usage_text[] =
    "usage: mta-sts-host <command> [options]\n"
    "\n"
    "Serve MTA-STS policies (RFC 8461) over HTTPS, validate them, and print\n"
    "the DNS records to publish.\n"
    "\n"
    "commands:\n"
    "  serve              run the HTTPS host; reloads policies and\n"
    "                     certificates on change or SIGHUP (the config file\n"
    "                     is read at start)\n"
    "  validate [FILE...] check policy files (default: every *.txt in the\n"
    "                     policy directory); exit 0 valid, 1 invalid,\n"
    "                     2 usage error\n"
    "  dns                print the _mta-sts / _smtp._tls / CNAME records\n"
    "  health [URL]       exit 0 when URL (default\n"
    "                     http://127.0.0.1:8080/healthz) answers 200\n"
    "  reports [--domain D] [--since DATE] [--json]\n"
    "                     summarise the stored TLS reports: per domain and\n"
    "                     day, by sender and failure type, and whether the\n"
    "                     policy is ready for enforce\n"
    "  reports import [FILE...|-]\n"
    "                     store TLS reports (JSON, gzip, an email message or\n"
    "                     an mbox; default: standard input) in state_dir\n"
    "\n"
    "options:\n"
    "  -c, --config FILE  YAML configuration (default: built-in defaults)\n"
    "  --domain D         serve domain D (repeatable; overrides the config)\n"
    "  --policy-dir DIR   policy directory (default: policy)\n"
    "  --cert-dir DIR     certificate directory (default: certs)\n"
    "  --https ADDR       HTTPS listen address (default: [::]:8443)\n"
    "  --http ADDR|off    plain-HTTP listen address (default: [::]:8080)\n"
    "  --metrics ADDR     separate /metrics listener (default: on --http)\n"
    "  --poll             watch files by polling instead of inotify\n"
    "  --user NAME        serve: started as root, run as NAME once the\n"
    "                     ports are bound and the keys loaded\n"
    "  --allow-root       serve: keep running as root (not recommended)\n"
    "  --log-format F     text or json\n"
    "  --log-level L      error, warn, info or debug\n"
    "  --json             validate, dns: machine-readable output\n"
    "  --target HOST      dns: the host mta-sts.<domain> should CNAME to\n"
    "  --since DATE       reports: only reports ending at or after DATE\n"
    "                     (YYYY-MM-DD or an RFC 3339 date-time)\n"
    "  -h, --help         this help\n"
    "  -V, --version      the version\n";

enum opt_id {
    OPT_DOMAIN = 256,
    OPT_POLICY_DIR,
    OPT_CERT_DIR,
    OPT_HTTPS,
    OPT_HTTP,
    OPT_METRICS,
    OPT_POLL,
    OPT_LOG_FORMAT,
    OPT_LOG_LEVEL,
    OPT_JSON,
    OPT_TARGET,
    OPT_USER,
    OPT_ALLOW_ROOT,
    OPT_SINCE,
};

struct cli {
    const char *command;
    const char *config_path;
    const char *domains[MAX_CLI_DOMAINS];
    size_t n_domains;
    const char *policy_dir, *cert_dir, *https, *http, *metrics;
    const char *log_format, *log_level, *target, *user;
    const char *since;
    bool poll, json, allow_root;
    char **args;
    int n_args;
};

__attribute__((noreturn, format(printf, 1, 2))) static void
die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mta-sts-host: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'mta-sts-host --help'.\n");
    va_end(ap);
    exit(EXIT_USAGE);
}

/* set_option records one parsed option; returns false for unknown ones. */
static bool set_option(struct cli *cli, int c, const char *arg)
{
    switch (c) {
    case 'c':
        cli->config_path = arg;
        return true;
    case OPT_DOMAIN:
        if (cli->n_domains == MAX_CLI_DOMAINS)
            die_usage("too many --domain options (%s)", arg);
        cli->domains[cli->n_domains++] = arg;
        return true;
    case OPT_POLICY_DIR:
        cli->policy_dir = arg;
        return true;
    case OPT_CERT_DIR:
        cli->cert_dir = arg;
        return true;
    case OPT_HTTPS:
        cli->https = arg;
        return true;
    case OPT_HTTP:
        cli->http = arg;
        return true;
    case OPT_METRICS:
        cli->metrics = arg;
        return true;
    case OPT_POLL:
        cli->poll = true;
        return true;
    case OPT_LOG_FORMAT:
        cli->log_format = arg;
        return true;
    case OPT_LOG_LEVEL:
        cli->log_level = arg;
        return true;
    case OPT_JSON:
        cli->json = true;
        return true;
    case OPT_TARGET:
        cli->target = arg;
        return true;
    case OPT_USER:
        cli->user = arg;
        return true;
    case OPT_ALLOW_ROOT:
        cli->allow_root = true;
        return true;
    case OPT_SINCE:
        cli->since = arg;
        return true;
    default:
        return false;
    }
}

static void parse_cli(int argc, char **argv, struct cli *cli)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"domain", required_argument, NULL, OPT_DOMAIN},
        {"policy-dir", required_argument, NULL, OPT_POLICY_DIR},
        {"cert-dir", required_argument, NULL, OPT_CERT_DIR},
        {"https", required_argument, NULL, OPT_HTTPS},
        {"http", required_argument, NULL, OPT_HTTP},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"poll", no_argument, NULL, OPT_POLL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"json", no_argument, NULL, OPT_JSON},
        {"target", required_argument, NULL, OPT_TARGET},
        {"user", required_argument, NULL, OPT_USER},
        {"allow-root", no_argument, NULL, OPT_ALLOW_ROOT},
        {"since", required_argument, NULL, OPT_SINCE},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    /* GNU getopt moves the command and file names behind the options. */
    while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (c == 'V') {
            puts("mta-sts-host " MTA_STS_HOST_VERSION);
            exit(0);
        }
        if (!set_option(cli, c, optarg))
            die_usage("unknown option or missing argument: '%s'",
                      argv[optind - 1]);
    }
    if (optind >= argc)
        die_usage("%s", "no command given");
    cli->command = argv[optind];
    cli->args = argv + optind + 1;
    cli->n_args = argc - optind - 1;
}

static bool replace(char **field, const char *value)
{
    char *copy = value != NULL ? strdup(value) : NULL;
    if (value != NULL && copy == NULL)
        return false;
    free(*field);
    *field = copy;
    return true;
}

/*
 * load_config reads the config file (or takes the defaults) and applies
 * the command-line overrides. Returns NULL after printing the reasons.
 */
static struct config *load_config(const struct cli *cli)
{
    struct config *cfg = NULL;
    struct diag d;
    char err[512];
    diag_init(&d, cli->config_path != NULL ? cli->config_path : "<defaults>");
    if (cli->config_path != NULL) {
        char *data = NULL;
        size_t len = 0;
        if (readfile(cli->config_path, CONFIG_MAX, &data, &len, err,
                     sizeof(err)) < 0) {
            fprintf(stderr, "mta-sts-host: %s\n", err);
            goto out;
        }
        cfg = config_parse(data, len, &d);
        free(data);
    } else {
        cfg = config_new_default();
    }
    diag_print(&d, stderr);
    if (cfg == NULL)
        goto out;

    bool ok = true;
    if (cli->n_domains > 0) {
        for (size_t i = 0; i < cfg->n_domains; i++)
            free(cfg->domains[i]);
        free(cfg->domains);
        cfg->domains = calloc(cli->n_domains, sizeof(*cfg->domains));
        cfg->n_domains = 0;
        ok = cfg->domains != NULL;
        for (size_t i = 0; ok && i < cli->n_domains; i++) {
            char *name = strdup(cli->domains[i]);
            if (name == NULL ||
                config_check_domain(name, err, sizeof(err)) < 0) {
                fprintf(stderr, "mta-sts-host: --domain %s: %s\n",
                        cli->domains[i], name ? err : "out of memory");
                free(name);
                ok = false;
                break;
            }
            bool dup = false;
            for (size_t j = 0; j < cfg->n_domains; j++)
                dup = dup || strcmp(cfg->domains[j], name) == 0;
            if (dup) {
                free(name); /* the same domain given twice: serve it once */
                continue;
            }
            cfg->domains[cfg->n_domains++] = name;
        }
    }
    if (cli->policy_dir != NULL)
        ok = ok && replace(&cfg->policy_dir, cli->policy_dir);
    if (cli->cert_dir != NULL)
        ok = ok && replace(&cfg->cert_dir, cli->cert_dir);
    if (cli->https != NULL)
        ok = ok && replace(&cfg->https_listen, cli->https);
    if (cli->http != NULL)
        ok = ok && replace(&cfg->http_listen,
                           strcmp(cli->http, "off") == 0 ? NULL : cli->http);
    if (cli->metrics != NULL)
        ok = ok && replace(&cfg->metrics_listen, cli->metrics);
    if (cli->poll)
        cfg->force_poll = true;
    if (cli->user != NULL) {
        if (config_check_user(cli->user, err, sizeof(err)) < 0)
            die_usage("--user %s: %s", cli->user, err);
        ok = ok && replace(&cfg->user, cli->user);
    }
    if (cli->allow_root)
        cfg->allow_root = true;
    if (cli->log_format != NULL) {
        if (strcmp(cli->log_format, "text") == 0)
            cfg->log_format = LOG_FORMAT_TEXT;
        else if (strcmp(cli->log_format, "json") == 0)
            cfg->log_format = LOG_FORMAT_JSON;
        else
            die_usage("--log-format: expected text or json, found '%s'",
                      cli->log_format);
    }
    if (cli->log_level != NULL) {
        static const char *const names[] = {"error", "warn", "info", "debug"};
        bool found = false;
        for (int i = 0; i < 4; i++)
            if (strcmp(cli->log_level, names[i]) == 0) {
                cfg->log_level = (enum log_level)i;
                found = true;
            }
        if (!found)
            die_usage("--log-level: expected error, warn, info or debug, "
                      "found '%s'",
                      cli->log_level);
    }
    if (!ok) {
        config_free(cfg);
        cfg = NULL;
    }
out:
    diag_free(&d);
    return cfg;
}

/* ---- validate ---------------------------------------------------------- */

static int only_txt(const struct dirent *de)
{
    size_t len = strlen(de->d_name);
    return de->d_name[0] != '.' && len >= 5 &&
           strcmp(de->d_name + len - 4, ".txt") == 0;
}

/* policy_files lists every *.txt in dir, sorted; returns the count or -1. */
static int policy_files(const char *dir, char ***out)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, only_txt, alphasort);
    if (n < 0) {
        fprintf(stderr, "mta-sts-host: %s: cannot open directory: %s\n", dir,
                strerror(errno));
        return -1;
    }
    char **files = calloc((size_t)n + 1, sizeof(*files));
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t plen = strlen(dir) + strlen(ents[i]->d_name) + 2;
        char *path = files != NULL ? malloc(plen) : NULL;
        if (path != NULL) {
            snprintf(path, plen, "%s/%s", dir, ents[i]->d_name);
            files[k++] = path;
        }
        free(ents[i]);
    }
    free(ents);
    *out = files;
    return files != NULL ? k : -1;
}

static int cmd_validate(const struct cli *cli)
{
    struct config *cfg = NULL;
    char **owned = NULL;
    int n_files = cli->n_args;
    char **files = cli->args;
    int rc = EXIT_USAGE;
    struct buf out;
    buf_init(&out, 64u << 20);

    if (n_files == 0) {
        cfg = load_config(cli);
        if (cfg == NULL)
            goto out;
        n_files = policy_files(cfg->policy_dir, &owned);
        if (n_files < 0)
            goto out;
        if (n_files == 0) {
            fprintf(stderr, "mta-sts-host: %s: no *.txt policy files\n",
                    cfg->policy_dir);
            rc = EXIT_INVALID;
            goto out;
        }
        files = owned;
    }
    rc = 0;
    buf_puts(&out, "{\"files\":[");
    for (int i = 0; i < n_files; i++) {
        struct diag d;
        diag_init(&d, files[i]);
        struct policy *p = store_read_policy(files[i], &d);
        if (p == NULL)
            rc = EXIT_INVALID;
        if (cli->json) {
            buf_puts(&out, i ? ",{\"file\":" : "{\"file\":");
            buf_json_string(&out, files[i], strlen(files[i]));
            buf_printf(&out, ",\"valid\":%s,", p ? "true" : "false");
            if (p != NULL)
                buf_printf(&out, "\"id\":\"%s\",\"mode\":\"%s\",", p->id,
                           policy_mode_name(p->mode));
            buf_puts(&out, "\"diagnostics\":");
            diag_json(&d, &out);
            buf_puts(&out, "}");
        } else {
            diag_print(&d, stderr);
            if (p != NULL)
                printf("%s: valid (id %s, mode %s, %zu warning%s)\n", files[i],
                       p->id, policy_mode_name(p->mode), d.warnings,
                       d.warnings == 1 ? "" : "s");
            else
                printf("%s: INVALID (%zu error%s)\n", files[i], d.errors,
                       d.errors == 1 ? "" : "s");
        }
        policy_free(p);
        diag_free(&d);
    }
    buf_printf(&out, "],\"valid\":%s}\n", rc == 0 ? "true" : "false");
    if (cli->json && out.data != NULL)
        fputs(out.data, stdout);
out:
    for (int i = 0; owned != NULL && i < n_files; i++)
        free(owned[i]);
    free(owned);
    buf_free(&out);
    config_free(cfg);
    return rc;
}

/* ---- dns --------------------------------------------------------------- */

static int cmd_dns(const struct cli *cli)
{
    int rc = EXIT_INVALID;
    struct config *cfg = load_config(cli);
    struct store *st = NULL;
    struct snapshot *s = NULL;
    struct dnsrec_domain *recs = NULL;
    struct logger lg;
    struct buf out;
    buf_init(&out, SIZE_MAX);
    if (cfg == NULL)
        goto out;
    if (cli->n_args > 0)
        die_usage("dns takes no arguments, found '%s'", cli->args[0]);
    /* The same load as `serve`, so the records are for what it serves;
     * only errors are worth saying here (warnings belong to `validate`). */
    log_init(&lg, LOG_FORMAT_TEXT, LOG_LEVEL_ERROR, false);
    lg.out_fd = 2;
    st = store_new(cfg, &lg);
    if (st == NULL || store_reload(st) < 0 || (s = store_acquire(st)) == NULL)
        goto out;
    size_t n = snapshot_count(s);
    recs = calloc(n + 1, sizeof(*recs));
    if (recs == NULL)
        goto out;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const struct plan_domain *d = snapshot_at(s, i);
        ok = ok && d->policy != NULL;
        recs[i].domain = d->name;
        recs[i].policy_id = d->policy != NULL ? d->policy->policy->id : "";
    }
    if (!ok) {
        fprintf(stderr, "mta-sts-host: fix the policy errors above first; "
                        "no record is printed for an invalid policy\n");
        goto out;
    }
    struct dnsrec_input in = {
        .domains = recs,
        .n_domains = n,
        .rua = (const char *const *)cfg->tlsrpt_rua,
        .n_rua = cfg->n_tlsrpt_rua,
        .cname_target = cli->target,
        .report_path = cfg->tlsrpt_receive ? cfg->tlsrpt_path : NULL,
    };
    if ((cli->json ? dnsrec_json(&out, &in) : dnsrec_zone(&out, &in)) < 0 ||
        out.data == NULL) {
        fprintf(stderr, "mta-sts-host: cannot render the records\n");
        goto out;
    }
    fputs(out.data, stdout);
    if (cli->json)
        fputs("\n", stdout);
    rc = 0;
out:
    free(recs);
    snapshot_release(s);
    store_free(st);
    config_free(cfg);
    buf_free(&out);
    return rc;
}

/* ---- health ------------------------------------------------------------ */

static int cmd_health(const struct cli *cli)
{
    const char *url =
        cli->n_args > 0 ? cli->args[0] : "http://127.0.0.1:8080/healthz";
    char body[512], err[512];
    if (cli->n_args > 1)
        die_usage("health takes at most one URL, found '%s'", cli->args[1]);
    int status =
        probe_http_get(url, 3000, body, sizeof(body), err, sizeof(err));
    if (status < 0) {
        fprintf(stderr, "mta-sts-host: health: %s\n", err);
        return EXIT_INVALID;
    }
    printf("%d %s\n", status, body);
    return status == 200 ? 0 : EXIT_INVALID;
}

/* ---- serve ------------------------------------------------------------- */

/*
 * plan_privileges decides, before anything starts, whether serve will drop
 * root and to whom (*drop, *to). Started as root it insists on a user or
 * an explicit allow_root, so that running as root is never an accident.
 * Returns -1 (logged) when the configuration cannot be honoured.
 */
static int plan_privileges(const struct config *cfg, const struct logger *lg,
                           struct priv_user *to, bool *drop)
{
    char err[512], who[128];
    uid_t euid = geteuid();
    *drop = false;
    if (cfg->user != NULL && priv_lookup(cfg->user, to, err, sizeof(err)) < 0) {
        log_msg(lg, LOG_LEVEL_ERROR, "user %s: %s", cfg->user, err);
        return -1;
    }
    if (euid != 0) {
        if (cfg->user == NULL)
            return 0;
        if (to->uid == euid) {
            log_msg(lg, LOG_LEVEL_INFO,
                    "already running as %s; the configured user changes "
                    "nothing",
                    priv_whoami(who, sizeof(who)));
            return 0;
        }
        log_msg(lg, LOG_LEVEL_ERROR,
                "started as %s, which cannot switch to user %s (uid %u): "
                "start as root to drop to it, or leave out `user:` / --user",
                priv_whoami(who, sizeof(who)), to->name, (unsigned)to->uid);
        return -1;
    }
    if (cfg->user != NULL) {
        if (to->uid == 0) {
            log_msg(lg, LOG_LEVEL_ERROR,
                    "user %s is root; name an unprivileged user (e.g. "
                    "nobody), or use allow_root: true / --allow-root to run "
                    "as root on purpose",
                    cfg->user);
            return -1;
        }
        *drop = true;
        return 0;
    }
    if (!cfg->allow_root) {
        log_msg(lg, LOG_LEVEL_ERROR,
                "refusing to run as root: set `user: NAME` in the config or "
                "pass --user NAME (e.g. --user nobody), and the host drops to "
                "that user once its ports are bound and its keys loaded; or, "
                "to run as root anyway, set `allow_root: true` or pass "
                "--allow-root");
        return -1;
    }
    log_msg(lg, LOG_LEVEL_WARN,
            "running as root (allow_root); a flaw in the TLS or HTTP code "
            "would then give an attacker root: prefer `user:` / --user");
    return 0;
}

/* drop_privileges switches to the planned user once the listeners are
 * bound and the keys are in memory. Returns -1 (logged) on failure. */
static int drop_privileges(const struct logger *lg, const struct priv_user *to)
{
    char err[512], who[128];
    if (priv_drop(to, err, sizeof(err)) < 0) {
        log_msg(lg, LOG_LEVEL_ERROR, "dropping privileges: %s", err);
        return -1;
    }
    log_msg(lg, LOG_LEVEL_INFO,
            "dropped root: now running as %s, gid %u; root cannot be regained",
            priv_whoami(who, sizeof(who)), (unsigned)getgid());
    return 0;
}

/*
 * raise_fd_limit lifts the soft limit on open files to the hard one. Every
 * connection holds a descriptor, each listener may hold
 * limits.max_connections of them, and the soft limit is often 1024
 * (systemd's default) while the hard one is far higher. Past the limit
 * accept() fails and clients wait without being told why, so a limit that
 * is still too low is worth a warning.
 */
static void raise_fd_limit(const struct logger *lg, const struct config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t was = rl.rlim_cur;
    /* An unlimited hard limit is not a value setrlimit takes for files. */
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    /* Three listeners at most, plus certificates, inotify and the log. */
    unsigned long long need = 3ULL * cfg->max_connections + 64;
    log_msg(lg, rl.rlim_cur < need ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
            "open files limit %llu (was %llu)%s",
            (unsigned long long)rl.rlim_cur, (unsigned long long)was,
            rl.rlim_cur < need ? "; below what limits.max_connections may "
                                 "need on three listeners"
                               : "");
}

#define HINTS_MAX 10

/* print_hints tells a first-time user how to reach what is being served. */
static void print_hints(const struct logger *lg, const struct config *cfg,
                        struct store *st)
{
    char host[64];
    unsigned short port = 0;
    char err[128];
    struct snapshot *s = store_acquire(st);
    if (s == NULL || config_split_listen(cfg->https_listen, host, sizeof(host),
                                         &port, err, sizeof(err)) < 0)
        goto out;
    const char *ip = strchr(host, ':') != NULL
                         ? (strcmp(host, "::") == 0 ? "127.0.0.1" : host)
                         : (strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host);
    const char *bracket = strchr(ip, ':') != NULL ? "[" : "";
    const char *close = strchr(ip, ':') != NULL ? "]" : "";
    /* A hint per domain is a help for a few, noise for a provider's
     * thousands. */
    size_t n = snapshot_count(s);
    for (size_t i = 0; i < n && i < HINTS_MAX; i++) {
        const struct plan_domain *d = snapshot_at(s, i);
        const struct certs_entry *e = d->cert[0] ? d->cert[0] : d->cert[1];
        if (!d->servable || e == NULL)
            continue;
        log_msg(lg, LOG_LEVEL_INFO,
                "try: curl %s--resolve %s:%u:%s%s%s "
                "https://%s:%u/.well-known/mta-sts.txt",
                certs_entry_dev(e) ? "-k " : "", d->host, port, bracket, ip,
                close, d->host, port);
    }
    if (n > HINTS_MAX)
        log_msg(lg, LOG_LEVEL_INFO,
                "serving %zu domains; per-domain detail on /status", n);
out:
    snapshot_release(s);
}

/* open_tlsrpt opens TLS report reception; NULL (logged, naming the state
 * directory) when it cannot. */
static struct tlsrpt_recv *open_tlsrpt(const struct logger *lg,
                                       const struct config *cfg)
{
    struct diag d;
    diag_init(&d, "tlsrpt");
    struct tlsrpt_recv *rx = tlsrpt_recv_new(cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        log_msg(lg, LOG_LEVEL_ERROR, "TLS reports: %s", d.entries[i].msg);
    if (rx != NULL)
        log_msg(lg, LOG_LEVEL_INFO,
                "TLS reports: receiving on https://mta-sts.<domain>%s, "
                "stored in %s",
                cfg->tlsrpt_path, cfg->state_dir);
    else
        log_msg(lg, LOG_LEVEL_ERROR,
                "TLS reports: not starting (set tlsrpt.receive: false to run "
                "without them)");
    diag_free(&d);
    return rx;
}

static int cmd_serve(const struct cli *cli)
{
    int rc = EXIT_INVALID;
    struct config *cfg = load_config(cli);
    struct store *st = NULL;
    struct http *h = NULL;
    struct watch *w = NULL;
    struct tlsrpt_recv *rx = NULL;
    struct logger lg;
    char err[512];
    sigset_t sigs;

    struct priv_user to;
    bool drop = false;

    if (cfg == NULL)
        return EXIT_INVALID;
    if (cli->n_args > 0)
        die_usage("serve takes no arguments, found '%s'", cli->args[0]);
    log_init(&lg, cfg->log_format, cfg->log_level, cfg->access_log);
    if (plan_privileges(cfg, &lg, &to, &drop) < 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    /* The server never executes anything; no_new_privs makes sure nothing
     * it is tricked into running gains privileges. Set before any thread
     * starts, because it is per thread and inherited. */
    if (priv_no_new_privs(err, sizeof(err)) < 0)
        log_msg(&lg, LOG_LEVEL_WARN, "%s", err);
    raise_fd_limit(&lg, cfg);

    /* Block the signals before any thread starts, so that they all reach
     * the sigwait loop below and no worker thread is interrupted. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    log_msg(&lg, LOG_LEVEL_INFO,
            "mta-sts-host %s starting (policy dir %s, certificate dir %s)",
            MTA_STS_HOST_VERSION, cfg->policy_dir, cfg->cert_dir);
    st = store_new(cfg, &lg);
    h = st != NULL ? http_new(cfg, &lg, st) : NULL;
    if (h == NULL) {
        log_msg(&lg, LOG_LEVEL_ERROR, "out of memory");
        goto out;
    }
    /* The watcher records what the directories look like before the first
     * load reads them, so that nothing edited meanwhile is missed. */
    w = watch_new(cfg, &lg, st);
    if (store_reload(st) < 0) {
        log_msg(&lg, LOG_LEVEL_ERROR,
                "nothing valid to serve; not starting (see the errors "
                "above)");
        goto out;
    }
    if (cfg->tlsrpt_receive && !drop) {
        if ((rx = open_tlsrpt(&lg, cfg)) == NULL)
            goto out;
        http_set_tlsrpt(h, rx);
    }
    if (http_start(h, err, sizeof(err)) < 0) {
        log_msg(&lg, LOG_LEVEL_ERROR, "%s", err);
        goto out;
    }
    if (drop) {
        if (drop_privileges(&lg, &to) < 0)
            goto out;
        /* Reload once as the new user: a key or directory that only root
         * can read shows up now, with the fix, instead of at the next
         * certificate renewal. What is served stays the same. */
        store_reload(st);
    }
    /* The report database is opened as the user that writes it: after the
     * privilege drop (reports get 503 until then), else before serving. */
    if (cfg->tlsrpt_receive && rx == NULL) {
        if ((rx = open_tlsrpt(&lg, cfg)) == NULL)
            goto out;
        http_set_tlsrpt(h, rx);
    }
    if (w != NULL && watch_run(w) < 0) {
        watch_stop(w);
        w = NULL;
    }
    print_hints(&lg, cfg, st);
    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_msg(&lg, LOG_LEVEL_INFO, "SIGHUP: reloading");
            store_reload(st);
            continue;
        }
        log_msg(&lg, LOG_LEVEL_INFO,
                "%s: finishing requests in flight, then exiting",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    watch_stop(w);
    w = NULL;
    http_stop(h, DRAIN_SECONDS);
    log_msg(&lg, LOG_LEVEL_INFO, "stopped");
    rc = 0;
out:
    watch_stop(w);
    http_free(h);
    tlsrpt_recv_free(rx);
    store_free(st);
    config_free(cfg);
    return rc;
}

/* What `reports import` reads from one file or standard input at most. */
#define IMPORT_MAX ((size_t)256 << 20)

struct import_ctx {
    const struct config *cfg;
    struct tlsrpt_store *store;
    const char *file;
    unsigned stored, duplicate, refused;
};

/* configured tells whether domain is one of the configured domains (any
 * domain when none is configured: the certificates are not read here). */
static bool configured(const struct config *cfg, const char *domain)
{
    for (size_t i = 0; i < cfg->n_domains; i++)
        if (strcmp(cfg->domains[i], domain) == 0)
            return true;
    return cfg->n_domains == 0;
}

/* import_one parses and stores one report found by tlsrpt_mail_each. */
static int import_one(const void *report, size_t len, const char *where,
                      void *arg)
{
    struct import_ctx *x = arg;
    struct diag d;
    diag_init(&d, x->file);
    struct tlsrpt_report *r = tlsrpt_parse(report, len, NULL, &d);
    const char *verdict = NULL;
    if (r == NULL) {
        x->refused++;
        printf("%s: %s: refused: not a TLS report: %s\n", x->file, where,
               d.n > 0 ? d.entries[0].msg : "?");
        goto out;
    }
    for (size_t i = 0; i < r->n_policies; i++)
        if (!configured(x->cfg, r->policies[i].policy_domain)) {
            x->refused++;
            printf("%s: %s: refused: policy-domain %s is not configured\n",
                   x->file, where, r->policies[i].policy_domain);
            goto out;
        }
    switch (
        tlsrpt_store_add(x->store, r, report, len, (int64_t)time(NULL), &d)) {
    case TLSRPT_STORE_ADDED:
        x->stored++;
        verdict = "stored";
        break;
    case TLSRPT_STORE_DUPLICATE:
        x->duplicate++;
        verdict = "already stored";
        break;
    default:
        x->refused++;
        printf("%s: %s: not stored: %s\n", x->file, where,
               d.n > 0 ? d.entries[d.n - 1].msg : "?");
        goto out;
    }
    printf("%s: %s: %s (%s, %s)\n", x->file, where, verdict,
           r->organization_name, r->report_id);
out:
    tlsrpt_report_free(r);
    diag_free(&d);
    return 0;
}

/* read_stdin reads standard input whole, up to max bytes. */
static char *read_stdin(size_t max, size_t *len)
{
    struct buf b;
    char chunk[65536];
    size_t n;
    buf_init(&b, max);
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        if (buf_append(&b, chunk, n) < 0)
            break;
    if (ferror(stdin))
        b.failed = 1;
    char *p = buf_take(&b, len);
    if (p == NULL && !b.failed) {
        p = strdup("");
        *len = 0;
    }
    return p;
}

/* import_file imports every report in one file ("-" = standard input). */
static void import_file(struct import_ctx *x, const char *path)
{
    char err[512];
    char *data = NULL;
    size_t len = 0;
    struct diag d;
    x->file = strcmp(path, "-") == 0 ? "<stdin>" : path;
    diag_init(&d, x->file);
    if (strcmp(path, "-") == 0) {
        data = read_stdin(IMPORT_MAX, &len);
        if (data == NULL) {
            fprintf(stderr, "mta-sts-host: <stdin>: cannot read it whole "
                            "(at most 256 MiB)\n");
            x->refused++;
            goto out;
        }
    } else if (readfile(path, IMPORT_MAX, &data, &len, err, sizeof(err)) < 0 ||
               len > IMPORT_MAX) {
        fprintf(stderr, "mta-sts-host: %s\n",
                data == NULL ? err : "larger than 256 MiB");
        x->refused++;
        goto out;
    }
    if (tlsrpt_mail_each(data, len, x->cfg->tlsrpt_max_body, import_one, x,
                         &d) < 0 ||
        diag_errors(&d) > 0)
        x->refused++;
    diag_print(&d, stderr);
out:
    free(data);
    diag_free(&d);
}

/* cmd_summary runs `reports`: the summary of the stored reports. */
static int cmd_summary(const struct cli *cli, const struct config *cfg)
{
    struct tlsrpt_summary_opts o = {NULL, 0, cli->json, 0};
    char when[40];
    bool no_tz;
    struct diag d;
    struct buf out;
    int rc = EXIT_INVALID;
    if (cli->n_domains > 1)
        die_usage("%s", "reports takes one --domain");
    if (cli->n_domains == 1)
        o.domain = cfg->domains[0]; /* normalised by the config */
    if (cli->since != NULL) {
        int n = snprintf(when, sizeof(when),
                         strlen(cli->since) == 10 ? "%sT00:00:00Z" : "%s",
                         cli->since);
        if (n < 0 || (size_t)n >= sizeof(when) ||
            tlsrpt_parse_time(when, &o.since, &no_tz) < 0)
            die_usage("--since: expected YYYY-MM-DD or an RFC 3339 "
                      "date-time, found '%s'",
                      cli->since);
    }
    diag_init(&d, "reports");
    buf_init(&out, SIZE_MAX);
    if (tlsrpt_summary(cfg->state_dir, &o, &out, &d) >= 0) {
        fputs(out.data != NULL ? out.data : "", stdout);
        rc = 0;
    }
    diag_print(&d, stderr);
    diag_free(&d);
    buf_free(&out);
    return rc;
}

/*
 * cmd_reports runs `reports import`: reports from files or standard input
 * into the database of this host's mail imports in state_dir
 * (tlsrpt-<instance>-mail.sqlite3, or tlsrpt-mail.sqlite3), a file of its
 * own so that an import never writes to a running server's database.
 */
static int cmd_reports(const struct cli *cli)
{
    int rc = EXIT_INVALID;
    char inst[96];
    struct diag d;
    struct import_ctx x = {0};
    if (cli->n_args > 0 && strcmp(cli->args[0], "import") != 0)
        die_usage("reports: unknown subcommand '%s' (reports import "
                  "[FILE...|-], or reports alone for the summary)",
                  cli->args[0]);
    struct config *cfg = load_config(cli);
    if (cfg == NULL)
        return EXIT_INVALID;
    if (cli->n_args == 0) {
        rc = cmd_summary(cli, cfg);
        goto out;
    }
    snprintf(inst, sizeof(inst), "%s%smail",
             cfg->tlsrpt_instance != NULL ? cfg->tlsrpt_instance : "",
             cfg->tlsrpt_instance != NULL ? "-" : "");
    diag_init(&d, "tlsrpt");
    x.cfg = cfg;
    x.store = tlsrpt_store_open(cfg->state_dir, inst, cfg->tlsrpt_max_disk, &d);
    diag_print(&d, stderr);
    diag_free(&d);
    if (x.store == NULL)
        goto out;
    tlsrpt_mail_init();
    if (cli->n_args == 1)
        import_file(&x, "-");
    for (int i = 1; i < cli->n_args; i++)
        import_file(&x, cli->args[i]);
    tlsrpt_mail_shutdown();
    printf("%u stored, %u already stored, %u refused\n", x.stored, x.duplicate,
           x.refused);
    rc = x.refused > 0 || x.stored + x.duplicate == 0 ? EXIT_INVALID : 0;
out:
    tlsrpt_store_free(x.store);
    config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    parse_cli(argc, argv, &cli);
    int rc;
    if (strcmp(cli.command, "serve") == 0)
        rc = cmd_serve(&cli);
    else if (strcmp(cli.command, "validate") == 0)
        rc = cmd_validate(&cli);
    else if (strcmp(cli.command, "dns") == 0)
        rc = cmd_dns(&cli);
    else if (strcmp(cli.command, "health") == 0)
        rc = cmd_health(&cli);
    else if (strcmp(cli.command, "reports") == 0)
        rc = cmd_reports(&cli);
    else
        die_usage("unknown command '%s'", cli.command);
    return rc;
}
