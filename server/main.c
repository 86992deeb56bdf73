/*
 * main: the mta-sts-host command line: `serve` (the daemon), `validate`
 * (check policy files, or a config and the very load `serve` runs, with
 * the daemon's own code), `dns` (the records to publish), `check` (live
 * DNS as a sender sees it, against what this host serves), `health` (probe
 * /healthz for container health checks), `reports` (the summary of the
 * stored TLS reports; `reports import` stores reports that came by mail)
 * and `help`. It owns the one configuration and logger, handles signals on
 * the main thread and is the only place that exits. Everything else runs in
 * the modules.
 */
#include <arpa/inet.h>
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
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "acme_chal.h"
#include "acme_run.h"
#include "acme_state.h"
#include "buf.h"
#include "certs.h"
#include "check_advise.h"
#include "check_dns.h"
#include "check_run.h"
#include "check_serve.h"
#include "check_smtp.h"
#include "config.h"
#include "diag.h"
#include "dnsname.h"
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
/* The most bytes of a report's organization-name or report-id shown. */
#define REPORT_NAME_MAX 255

/*
 * The help: one table of commands and one of options, so that the global
 * help, `help COMMAND` and `COMMAND --help` cannot disagree. The man page
 * (docs/mta-sts-host.1) says the same in prose; tests/e2e/test_cli.sh
 * checks that it lists the same options per command.
 */
enum cmd_bit {
    CMD_SERVE = 1u << 0,
    CMD_VALIDATE = 1u << 1,
    CMD_DNS = 1u << 2,
    CMD_HEALTH = 1u << 3,
    CMD_HELP = 1u << 4,
    CMD_CHECK = 1u << 5,
    CMD_REPORTS = 1u << 6,
    CMD_IMPORT = 1u << 7, /* reports import */
    CMD_ADVISE = 1u << 8,
    CMD_ALL = 0x1ffu,
};

struct cmd_doc {
    const char *name;
    unsigned bit;
    const char *synopsis; /* after "mta-sts-host " */
    const char *summary;  /* the global help's line(s) */
    const char *description;
    const char *example;
};

struct opt_doc {
    const char *flags;
    const char *help;
    unsigned cmds; /* 0: the global help only */
};

static const struct cmd_doc cmd_docs[] = {
    {"serve", CMD_SERVE, "serve [options]",
     "run the HTTPS host; reloads policies and\n"
     "                     certificates on change or SIGHUP (the config file\n"
     "                     is read at start)",
     "Run the HTTPS host. It checks the config and binds every listener\n"
     "first, then loads the policies and certificates and prints the DNS\n"
     "records to publish; it reloads on change or SIGHUP (the config file\n"
     "is read at start). It exits non-zero only for a bad config, a port it\n"
     "cannot bind, or when not a single domain can be served; a domain with\n"
     "a problem is listed on /status and the others are served. With\n"
     "check.interval in the config it also runs the checks of `check` on\n"
     "every served domain, spread over the interval and at once after an\n"
     "edit changes an id; the results are on /status and /metrics\n"
     "(mta_sts_check_ok) and a change is logged.",
     "mta-sts-host serve -c /etc/mta-sts-host/config.yaml"},
    {"validate", CMD_VALIDATE,
     "validate [options] [-c CONFIG | CONFIG.yaml | POLICY.txt...]",
     "check policy files (default: every *.txt in the\n"
     "                     policy directory), or with -c FILE (or a "
     "FILE.yaml)\n"
     "                     the config and the very load `serve` runs; exit 0\n"
     "                     valid, 1 invalid, 2 usage error",
     "With -c CONFIG, or a single file named *.yaml or *.yml (or one whose\n"
     "content is a config and not a policy): check the config, then run the\n"
     "load `serve` runs, certificates included, and report each domain as\n"
     "ok or with its problems (--no-certs: policies only). With POLICY\n"
     "files, or nothing: check those files, or every *.txt in the policy\n"
     "directory. Exit status: 0 all valid, 1 something invalid, 2 usage.",
     "mta-sts-host validate -c /etc/mta-sts-host/config.yaml"},
    {"dns", CMD_DNS, "dns [options]",
     "print the _mta-sts / _smtp._tls / CNAME records",
     "Print the DNS records to publish for every served domain: the\n"
     "_mta-sts TXT record with the id of the policy as served, the\n"
     "_smtp._tls TXT record when TLS-RPT addresses are configured, and the\n"
     "mta-sts CNAME when --target is given (a host name; an IP address or\n"
     "anything else is a usage error). With --delegate ZONE (RFC 8461\n"
     "§8.2) the customer publishes `_mta-sts.<d>. CNAME\n"
     "_mta-sts.<d>.<ZONE>.` and the provider, in ZONE, the TXT record at\n"
     "that name; both parts are printed. It runs the load `serve` runs and\n"
     "prints nothing for an invalid policy (exit 1).",
     "mta-sts-host dns -c config.yaml --target mta-sts-host.example.net"},
    {"check", CMD_CHECK, "check [options] [DOMAIN...]",
     "check live DNS against what this host serves\n"
     "                     (_mta-sts id, _smtp._tls, MX coverage); exit 0\n"
     "                     all pass, 1 something fails, 2 usage error",
     "Look up what a sending MTA looks up for each DOMAIN (default: every\n"
     "served domain) and compare it with what this host serves: exactly one\n"
     "_mta-sts TXT record (CNAMEs followed, as a delegation to a provider\n"
     "zone makes; with --delegate ZONE it must be a CNAME into ZONE) whose\n"
     "id is the served id, mta-sts.<domain> resolving (with --target\n"
     "HOST: its CNAME chain ends at HOST, or its own A/AAAA records are\n"
     "HOST's), the policy fetched over HTTPS as senders fetch it and equal\n"
     "to the served one, the _smtp._tls record, every MX host covered by\n"
     "the policy's mx patterns and every exact pattern naming an MX, an\n"
     "address for each MX, and on each MX address STARTTLS with TLS 1.2\n"
     "or later and a certificate valid for the MX name. One line per\n"
     "check, `ok|warn|fail CHECK DOMAIN: WHAT`, with `fix:` and the exact\n"
     "record or edit for each problem, and the DNSSEC status of the\n"
     "answers. Every lookup and MX probe ends after 10 s (\"timed out\"),\n"
     "one domain within --timeout (past it a \"time\" result). The config's\n"
     "check: keys are the defaults of the flags.\n"
     "Exit status: 0 nothing failed, 1 something failed, 2 usage.",
     "mta-sts-host check -c config.yaml example.com"},
    {"advise", CMD_ADVISE, "advise [options] DOMAIN enforce|mx-change|retire",
     "the safe order of a change (testing to enforce,\n"
     "                     an MX change, retiring), with the records and\n"
     "                     the earliest dates; exit 0 ready, 1 not yet",
     "Plan a change of DOMAIN from what `check` sees in live DNS (the\n"
     "_mta-sts record, where it is and its TTL, the MX set and its TTL),\n"
     "the policy this host serves (mode, max_age) and the TLS reports in\n"
     "state_dir, and print the steps with the exact policy edit (and the\n"
     "id the edited policy gets), the records, and the earliest UTC date\n"
     "of each (now + the TXT TTL and the old max_age, RFC 8461 §8):\n"
     "enforce: from testing, when every check passes and the reports show\n"
     "no failure (else it says what blocks it); mx-change --add MX and/or\n"
     "--remove MX: the new MX into the policy first, the MX records once\n"
     "the old policy has expired, the old pattern out once the old MX\n"
     "record has (§8.1); retire: mode none with a max_age of one day, the\n"
     "records removed once every cached policy has expired (§8.3). A\n"
     "domain this host serves no policy for is refused before any lookup.\n"
     "Exit status: 0 ready (or nothing to do), 1 blocked or failed, 2 usage.",
     "mta-sts-host advise -c config.yaml example.com mx-change --add "
     "mx2.example.com --remove mx1.example.com"},
    {"health", CMD_HEALTH, "health [URL]",
     "exit 0 when URL (default\n"
     "                     http://127.0.0.1:8080/healthz) answers 200",
     "Fetch URL (default http://127.0.0.1:8080/healthz) and exit 0 when it\n"
     "answers 200, else 1; for container health checks.",
     "mta-sts-host health http://127.0.0.1:8080/healthz"},
    {"reports", CMD_REPORTS, "reports [options]",
     "summarise the stored TLS reports: per domain and\n"
     "                     day, by sender and failure type, and whether the\n"
     "                     policy is ready for enforce",
     "Summarise the SMTP TLS reports (RFC 8460) stored in state_dir (every\n"
     "tlsrpt-*.sqlite3 there; a report held by several files counts once):\n"
     "per domain and day, by sender and failure type, the MX hosts and\n"
     "sending addresses that failed most, and whether the policy looks ready\n"
     "for enforce. Text shows the senders' names with control bytes and\n"
     "newlines escaped (\\xHH); a stored count outside 0 to 2^40 (kept by\n"
     "an older version) is left out with a warning. Exit status: 0\n"
     "printed, 1 the reports cannot be read, 2 usage.",
     "mta-sts-host reports -c config.yaml --domain example.com --since "
     "2026-01-01"},
    {"reports import", CMD_IMPORT, "reports import [options] [FILE...|-]",
     "store TLS reports (JSON, gzip, an email message or\n"
     "                     an mbox; default: standard input) in state_dir",
     "Store the TLS reports found in each FILE (default, or -: standard\n"
     "input): a report as is (JSON or gzip), one email message or an mbox,\n"
     "so that a Postfix pipe transport, procmail or fetchmail can feed it.\n"
     "They go into state_dir's tlsrpt-<instance>-mail.sqlite3, never a\n"
     "running server's database (the server of that instance counts them\n"
     "in /metrics from its next scrape); a report for a domain that is\n"
     "not configured is refused. Exit status: 0 something stored (or\n"
     "already stored) and nothing refused, 1 otherwise, 2 usage.",
     "mta-sts-host reports import -c config.yaml < report.eml"},
    {"help", CMD_HELP, "help [COMMAND]", "this help, or the help of COMMAND",
     "Print the usage, options and an example of COMMAND (the same as\n"
     "`mta-sts-host COMMAND --help`), or the overview without one.",
     "mta-sts-host help validate"},
};

#define CMD_CFG (CMD_SERVE | CMD_VALIDATE | CMD_DNS | CMD_CHECK | CMD_ADVISE)
#define CMD_CHECKS (CMD_CHECK | CMD_ADVISE) /* both look at live DNS */

static const struct opt_doc opt_docs[] = {
    {"-c, --config FILE", "YAML configuration (default: built-in defaults)",
     CMD_CFG | CMD_REPORTS | CMD_IMPORT},
    {"--domain D",
     "serve domain D (repeatable; overrides the config;\n"
     "                       reports: the one domain to summarise)",
     CMD_CFG | CMD_REPORTS | CMD_IMPORT},
    {"--policy-dir DIR", "policy directory (default: policy)", CMD_CFG},
    {"--cert-dir DIR", "certificate directory (default: certs)", CMD_CFG},
    {"--state-dir DIR",
     "the one directory the host writes: ACME account\n"
     "                       and certificates, TLS reports (default: state)",
     CMD_SERVE | CMD_VALIDATE | CMD_DNS | CMD_REPORTS | CMD_IMPORT |
         CMD_ADVISE},
    {"--https ADDR", "HTTPS listen address (default: [::]:8443)",
     CMD_SERVE | CMD_VALIDATE},
    {"--http ADDR|off", "plain-HTTP listen address (default: [::]:8080)",
     CMD_SERVE | CMD_VALIDATE},
    {"--metrics ADDR", "separate /metrics listener (default: on --http)",
     CMD_SERVE | CMD_VALIDATE},
    {"--poll", "watch files by polling instead of inotify", CMD_SERVE},
    {"--acme-directory URL",
     "obtain certificates from this ACME directory\n"
     "                       (default: Let's Encrypt); any ACME option\n"
     "                       turns ACME on, as an acme: section does",
     CMD_SERVE | CMD_VALIDATE},
    {"--acme-email ADDR", "the ACME account's contact address",
     CMD_SERVE | CMD_VALIDATE},
    {"--acme-agree-tos",
     "agree to the ACME CA's terms of service\n"
     "                       (required: nothing is ordered without it)",
     CMD_SERVE | CMD_VALIDATE},
    {"--acme-challenges L",
     "challenge types in order, comma-separated\n"
     "                       (default: tls-alpn-01,http-01)",
     CMD_SERVE | CMD_VALIDATE},
    {"--acme-key-type T", "ecdsa-p256 (default), rsa-2048 or both",
     CMD_SERVE | CMD_VALIDATE},
    {"--acme-ca-file FILE",
     "trust FILE's CAs for the ACME server, besides\n"
     "                       the system's (a private CA, Pebble)",
     CMD_SERVE | CMD_VALIDATE},
    {"--user NAME",
     "started as root, run as NAME once the ports are\n"
     "                       bound and the keys loaded",
     CMD_SERVE},
    {"--allow-root", "keep running as root (not recommended)", CMD_SERVE},
    {"--log-format F", "text or json", CMD_SERVE},
    {"--log-level L", "error, warn, info or debug", CMD_SERVE},
    {"--no-certs",
     "validate -c: check the policies only, not the\n"
     "                       certificates",
     CMD_VALIDATE},
    {"--json", "machine-readable output",
     CMD_VALIDATE | CMD_DNS | CMD_CHECKS | CMD_REPORTS},
    {"--target HOST",
     "the host mta-sts.<domain> should CNAME to (check:\n"
     "                       verify that it does)",
     CMD_DNS | CMD_CHECKS},
    {"--delegate ZONE",
     "dns: delegate the _mta-sts records to the\n"
     "                       provider zone ZONE (RFC 8461 §8.2); check:\n"
     "                       verify that they are",
     CMD_DNS | CMD_CHECKS},
    {"--resolver ADDR",
     "check, advise: ask the DNS server at ADDR[:PORT]\n"
     "                       (default: /etc/resolv.conf)",
     CMD_CHECKS},
    {"--trust-anchor FILE",
     "check, advise: DNSSEC trust anchors, or none\n"
     "                       (default: " CHECK_DNS_ROOT_KEY ")",
     CMD_CHECKS},
    {"--https-port PORT",
     "check: fetch the policy from this port of\n"
     "                       mta-sts.<domain> (default: 443)",
     CMD_CHECKS},
    {"--smtp-port PORT",
     "check: probe STARTTLS on this port of each MX\n"
     "                       address (default: 25; 0: no probe)",
     CMD_CHECKS},
    {"--ca-file FILE",
     "check: trust FILE's CAs for the policy fetch and\n"
     "                       the MX certificates, besides the system's",
     CMD_CHECKS},
    {"--timeout DURATION",
     "check, advise: the time budget of one domain,\n"
     "                       10s to 1h (default: check.timeout, 2m; each\n"
     "                       lookup and probe also ends after 10 s)",
     CMD_CHECKS},
    {"--since DATE",
     "reports, advise: only reports ending at or after\n"
     "                       DATE (YYYY-MM-DD or an RFC 3339 date-time)",
     CMD_REPORTS | CMD_ADVISE},
    {"--add MX", "advise mx-change: the MX host to add", CMD_ADVISE},
    {"--remove MX", "advise mx-change: the MX host to remove", CMD_ADVISE},
    {"-h, --help", "this help", CMD_ALL},
    {"-V, --version", "the version", 0},
};

#define N_CMDS (sizeof(cmd_docs) / sizeof(*cmd_docs))
#define N_OPTS (sizeof(opt_docs) / sizeof(*opt_docs))

static const struct cmd_doc *find_cmd(const char *name)
{
    for (size_t i = 0; name != NULL && i < N_CMDS; i++)
        if (strcmp(cmd_docs[i].name, name) == 0)
            return &cmd_docs[i];
    return NULL;
}

/* find_subcmd looks up a command given as one word or, for `reports
 * import` (the one command of two words), two. */
static const struct cmd_doc *find_subcmd(const char *name, const char *sub)
{
    if (name != NULL && sub != NULL && strcmp(name, "reports") == 0 &&
        strcmp(sub, "import") == 0)
        return find_cmd("reports import");
    return find_cmd(name);
}

static void print_usage(FILE *f)
{
    fputs("usage: mta-sts-host <command> [-c FILE] [options]\n"
          "\n"
          "Serve MTA-STS policies (RFC 8461) over HTTPS, validate them, and "
          "print\n"
          "the DNS records to publish.\n"
          "\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < N_CMDS; i++) {
        /* The overview shows the short form of each synopsis. */
        const char *shortform = strcmp(cmd_docs[i].name, "validate") == 0
                                    ? "validate [FILE...]"
                                    : cmd_docs[i].synopsis;
        if (strcmp(cmd_docs[i].name, "serve") == 0 ||
            strcmp(cmd_docs[i].name, "dns") == 0 ||
            strcmp(cmd_docs[i].name, "advise") == 0 ||
            strncmp(cmd_docs[i].name, "reports", 7) == 0)
            shortform = cmd_docs[i].name;
        fprintf(f, "  %-18s %s\n", shortform, cmd_docs[i].summary);
    }
    fputs("\noptions:\n", f);
    for (size_t i = 0; i < N_OPTS; i++)
        fprintf(f, "  %-20s %s\n", opt_docs[i].flags, opt_docs[i].help);
    fputs("\n'mta-sts-host help COMMAND' (or COMMAND --help) tells more; man "
          "mta-sts-host.\n",
          f);
}

static void print_cmd_help(const struct cmd_doc *c, FILE *f)
{
    fprintf(f, "usage: mta-sts-host %s\n\n%s\n", c->synopsis, c->description);
    bool any = false;
    for (size_t i = 0; i < N_OPTS; i++) {
        if ((opt_docs[i].cmds & c->bit) == 0)
            continue;
        if (!any)
            fputs("\noptions:\n", f);
        any = true;
        fprintf(f, "  %-20s %s\n", opt_docs[i].flags, opt_docs[i].help);
    }
    fprintf(f, "\nexample:\n  %s\n", c->example);
}

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
    OPT_NO_CERTS,
    OPT_RESOLVER,
    OPT_TRUST_ANCHOR,
    OPT_HTTPS_PORT,
    OPT_SMTP_PORT,
    OPT_CA_FILE,
    OPT_ACME_DIRECTORY,
    OPT_ACME_EMAIL,
    OPT_ACME_AGREE_TOS,
    OPT_ACME_CHALLENGES,
    OPT_ACME_KEY_TYPE,
    OPT_ACME_CA_FILE,
    OPT_TIMEOUT,
    OPT_DELEGATE,
    OPT_ADD,
    OPT_REMOVE,
    OPT_STATE_DIR,
};

struct cli {
    const char *command;
    const char *config_path;
    const char *domains[MAX_CLI_DOMAINS];
    size_t n_domains;
    const char *policy_dir, *cert_dir, *https, *http, *metrics;
    const char *log_format, *log_level, *target, *delegate, *user;
    const char *resolver, *trust_anchor, *https_port, *smtp_port, *ca_file;
    const char *acme_directory, *acme_email, *acme_challenges, *acme_key_type;
    const char *acme_ca_file;
    bool acme_agree_tos;
    const char *since, *add_mx, *remove_mx, *state_dir, *timeout;

    bool poll, json, allow_root, no_certs, help;
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
    fprintf(stderr, "\nTry 'mta-sts-host help'.\n");
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
    case OPT_STATE_DIR:
        cli->state_dir = arg;
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
    case OPT_DELEGATE:
        cli->delegate = arg;
        return true;
    case OPT_ADD:
        cli->add_mx = arg;
        return true;
    case OPT_REMOVE:
        cli->remove_mx = arg;
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
    case OPT_NO_CERTS:
        cli->no_certs = true;
        return true;
    case OPT_RESOLVER:
        cli->resolver = arg;
        return true;
    case OPT_TRUST_ANCHOR:
        cli->trust_anchor = arg;
        return true;
    case OPT_HTTPS_PORT:
        cli->https_port = arg;
        return true;
    case OPT_SMTP_PORT:
        cli->smtp_port = arg;
        return true;
    case OPT_CA_FILE:
        cli->ca_file = arg;
        return true;
    case OPT_ACME_DIRECTORY:
        cli->acme_directory = arg;
        return true;
    case OPT_ACME_EMAIL:
        cli->acme_email = arg;
        return true;
    case OPT_ACME_AGREE_TOS:
        cli->acme_agree_tos = true;
        return true;
    case OPT_ACME_CHALLENGES:
        cli->acme_challenges = arg;
        return true;
    case OPT_ACME_KEY_TYPE:
        cli->acme_key_type = arg;
        return true;
    case OPT_ACME_CA_FILE:
        cli->acme_ca_file = arg;
        return true;
    case OPT_TIMEOUT:
        cli->timeout = arg;
        return true;
    default:
        return false;
    }
}

/*
 * env_options takes the ACME options from the environment first, so that
 * a container is configured by variables alone (docker compose's .env):
 * MTA_STS_ACME_EMAIL stands for --acme-email and so on, an empty variable
 * for none, MTA_STS_ACME_AGREE_TOS=true for --acme-agree-tos. The command
 * line, parsed after, wins.
 */
static void env_options(struct cli *cli)
{
    static const struct {
        const char *name;
        int opt;
    } vars[] = {
        {"MTA_STS_ACME_DIRECTORY", OPT_ACME_DIRECTORY},
        {"MTA_STS_ACME_EMAIL", OPT_ACME_EMAIL},
        {"MTA_STS_ACME_AGREE_TOS", OPT_ACME_AGREE_TOS},
        {"MTA_STS_ACME_CHALLENGES", OPT_ACME_CHALLENGES},
        {"MTA_STS_ACME_KEY_TYPE", OPT_ACME_KEY_TYPE},
        {"MTA_STS_ACME_CA_FILE", OPT_ACME_CA_FILE},
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i].name);
        if (v == NULL || *v == '\0')
            continue;
        if (vars[i].opt == OPT_ACME_AGREE_TOS) {
            if (strcmp(v, "false") == 0)
                continue;
            if (strcmp(v, "true") != 0)
                die_usage("%s: expected true or false, found '%s'",
                          vars[i].name, v);
        }
        set_option(cli, vars[i].opt, v);
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
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"https", required_argument, NULL, OPT_HTTPS},
        {"http", required_argument, NULL, OPT_HTTP},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"poll", no_argument, NULL, OPT_POLL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"json", no_argument, NULL, OPT_JSON},
        {"target", required_argument, NULL, OPT_TARGET},
        {"delegate", required_argument, NULL, OPT_DELEGATE},
        {"add", required_argument, NULL, OPT_ADD},
        {"remove", required_argument, NULL, OPT_REMOVE},
        {"user", required_argument, NULL, OPT_USER},
        {"allow-root", no_argument, NULL, OPT_ALLOW_ROOT},
        {"since", required_argument, NULL, OPT_SINCE},
        {"no-certs", no_argument, NULL, OPT_NO_CERTS},
        {"resolver", required_argument, NULL, OPT_RESOLVER},
        {"trust-anchor", required_argument, NULL, OPT_TRUST_ANCHOR},
        {"https-port", required_argument, NULL, OPT_HTTPS_PORT},
        {"ca-file", required_argument, NULL, OPT_CA_FILE},
        {"smtp-port", required_argument, NULL, OPT_SMTP_PORT},
        {"acme-directory", required_argument, NULL, OPT_ACME_DIRECTORY},
        {"acme-email", required_argument, NULL, OPT_ACME_EMAIL},
        {"acme-agree-tos", no_argument, NULL, OPT_ACME_AGREE_TOS},
        {"acme-challenges", required_argument, NULL, OPT_ACME_CHALLENGES},
        {"acme-key-type", required_argument, NULL, OPT_ACME_KEY_TYPE},
        {"acme-ca-file", required_argument, NULL, OPT_ACME_CA_FILE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    env_options(cli);
    /* GNU getopt moves the command and file names behind the options. */
    while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            cli->help = true; /* for the command, which may come later */
            continue;
        }
        if (c == 'V') {
            puts("mta-sts-host " MTA_STS_HOST_VERSION);
            exit(0);
        }
        if (!set_option(cli, c, optarg))
            die_usage("unknown option or missing argument: '%s'",
                      argv[optind - 1]);
    }
    if (cli->help) {
        const struct cmd_doc *cd =
            optind < argc
                ? find_subcmd(argv[optind],
                              optind + 1 < argc ? argv[optind + 1] : NULL)
                : NULL;
        if (optind < argc && cd == NULL)
            die_usage("unknown command '%s'", argv[optind]);
        if (cd != NULL)
            print_cmd_help(cd, stdout);
        else
            print_usage(stdout);
        exit(0);
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
 * acme_overrides applies the --acme-* options to cfg; any of them turns
 * ACME on. Returns false when memory ran out (bad values end the process
 * as usage errors).
 */
static bool acme_overrides(const struct cli *cli, struct config *cfg)
{
    char err[512];
    bool ok = true;
    if (cli->acme_directory == NULL && cli->acme_email == NULL &&
        cli->acme_challenges == NULL && cli->acme_key_type == NULL &&
        cli->acme_ca_file == NULL && !cli->acme_agree_tos)
        return true;
    cfg->acme = true;
    if (cli->acme_directory != NULL) {
        if (config_check_acme_directory(cli->acme_directory, err, sizeof(err)) <
            0)
            die_usage("--acme-directory %s: %s", cli->acme_directory, err);
        ok = ok && replace(&cfg->acme_directory, cli->acme_directory);
    }
    if (cli->acme_email != NULL) {
        if (config_check_acme_email(cli->acme_email, err, sizeof(err)) < 0)
            die_usage("--acme-email %s: %s", cli->acme_email, err);
        ok = ok && replace(&cfg->acme_email, cli->acme_email);
    }
    if (cli->acme_challenges != NULL) {
        int n = config_parse_acme_challenges(
            cli->acme_challenges, cfg->acme_challenges, err, sizeof(err));
        if (n < 0)
            die_usage("--acme-challenges %s: %s", cli->acme_challenges, err);
        cfg->n_acme_challenges = (size_t)n;
    }
    if (cli->acme_key_type != NULL &&
        config_parse_acme_key(cli->acme_key_type, &cfg->acme_key_type, err,
                              sizeof(err)) < 0)
        die_usage("--acme-key-type %s: %s", cli->acme_key_type, err);
    if (cli->acme_ca_file != NULL) {
        if (cli->acme_ca_file[0] == '\0')
            die_usage("%s", "--acme-ca-file: expected a file path");
        ok = ok && replace(&cfg->acme_ca_file, cli->acme_ca_file);
    }
    if (cli->acme_agree_tos)
        cfg->acme_agree_tos = true;
    return ok;
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
    if (cli->state_dir != NULL) {
        /* As if the config file named it: reports are received there
         * unless tlsrpt.receive says otherwise. */
        ok = ok && replace(&cfg->state_dir, cli->state_dir);
        cfg->state_dir_set = true;
        if (!cfg->tlsrpt_receive_set)
            cfg->tlsrpt_receive = true;
    }
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
    ok = ok && acme_overrides(cli, cfg);
    /* The listen addresses and the ACME settings as `serve` will use them,
     * overrides included, so that a bad one stops everything before
     * anything starts. */
    if (ok && (config_check_listen(cfg, err, sizeof(err)) < 0 ||
               config_check_acme(cfg, err, sizeof(err)) < 0)) {
        fprintf(stderr, "mta-sts-host: %s\n", err);
        ok = false;
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

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/*
 * is_config_file says whether `validate FILE` means a config file: by its
 * name (*.yaml, *.yml), else, for a name that is not *.txt, by its
 * content (it parses as a config and not as a policy).
 */
static bool is_config_file(const char *path)
{
    if (has_suffix(path, ".yaml") || has_suffix(path, ".yml"))
        return true;
    if (has_suffix(path, ".txt"))
        return false;
    char *data = NULL, err[256];
    size_t len = 0;
    if (readfile(path, CONFIG_MAX, &data, &len, err, sizeof(err)) < 0)
        return false;
    struct diag dp, dc;
    diag_init(&dp, path);
    diag_init(&dc, path);
    struct policy *p = policy_parse(data, len, &dp);
    struct config *c = p == NULL ? config_parse(data, len, &dc) : NULL;
    bool yes = p == NULL && c != NULL;
    policy_free(p);
    config_free(c);
    diag_free(&dp);
    diag_free(&dc);
    free(data);
    return yes;
}

/* domain_cert returns the pair a domain serves (ECDSA first), or NULL. */
static const struct certs_entry *domain_cert(const struct plan_domain *d)
{
    return d->cert[0] != NULL ? d->cert[0] : d->cert[1];
}

/*
 * domain_verdict says what is wrong with d as `validate` judges it: the
 * store's problems, plus, when certificates are checked, serving only the
 * generated development pair (senders reject it). Returns NULL when ok.
 */
static const char *domain_verdict(const struct plan_domain *d, bool certs,
                                  const char **what)
{
    const struct certs_entry *e = domain_cert(d);
    *what = "policy";
    if (d->policy_problem != NULL)
        return d->policy_problem;
    if (d->policy == NULL)
        return "no valid policy";
    *what = "certificate";
    if (!certs)
        return NULL;
    if (d->cert_problem != NULL)
        return d->cert_problem;
    if (e == NULL)
        return "no certificate";
    if (certs_entry_dev(e))
        return "only the generated self-signed development certificate; "
               "senders reject it: add a certificate for this host";
    if (!d->servable)
        return "the certificate has expired";
    return NULL;
}

/*
 * validate_config checks a config file, then runs the very load `serve`
 * runs (store_new + store_reload, certificates included unless
 * --no-certs) with its findings on stderr, and reports each domain from
 * the snapshot that load would serve.
 */
static int validate_config(const struct cli *cli, const char *path)
{
    struct cli with = *cli;
    with.config_path = path;
    struct config *cfg = load_config(&with);
    struct store *st = NULL;
    struct snapshot *s = NULL;
    struct logger lg;
    int rc = EXIT_INVALID;
    struct buf out;
    buf_init(&out, 64u << 20);
    if (cfg == NULL) {
        if (cli->json) {
            buf_puts(&out, "{\"config\":{\"file\":");
            buf_json_string(&out, path, strlen(path));
            buf_puts(&out, ",\"valid\":false},\"valid\":false}\n");
            if (out.data != NULL)
                fputs(out.data, stdout);
        } else
            printf("config %s: INVALID (see the errors above)\n", path);
        goto out;
    }
    bool certs = !cli->no_certs;
    cfg->certs_unchecked = !certs;
    /* The store's findings (warnings and errors) say what is wrong and
     * where; its info lines are what `serve` would announce. */
    log_init(&lg, LOG_FORMAT_TEXT, LOG_LEVEL_WARN, false);
    lg.out_fd = 2;
    st = store_new(cfg, &lg);
    if (st == NULL) {
        fprintf(stderr, "mta-sts-host: out of memory\n");
        goto out;
    }
    int loaded = store_reload(st);
    s = store_acquire(st);
    size_t n = s != NULL ? snapshot_count(s) : 0, ok = 0;
    buf_puts(&out, "{\"config\":{\"file\":");
    buf_json_string(&out, path, strlen(path));
    buf_printf(&out,
               ",\"valid\":true},\"certificates_checked\":%s,"
               "\"domains\":[",
               certs ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        const struct plan_domain *d = snapshot_at(s, i);
        const char *what;
        const char *why = domain_verdict(d, certs, &what);
        const struct certs_entry *e = domain_cert(d);
        ok += why == NULL;
        buf_puts(&out, i ? ",{\"domain\":" : "{\"domain\":");
        buf_json_string(&out, d->name, strlen(d->name));
        buf_printf(&out, ",\"ok\":%s,\"policy_id\":", why ? "false" : "true");
        if (d->policy != NULL)
            buf_json_string(&out, d->policy->policy->id,
                            strlen(d->policy->policy->id));
        else
            buf_puts(&out, "null");
        buf_puts(&out, ",\"problem\":");
        if (why != NULL) {
            buf_printf(&out, "{\"of\":\"%s\",\"message\":", what);
            buf_json_string(&out, why, strlen(why));
            buf_puts(&out, "}");
        } else {
            buf_puts(&out, "null");
        }
        buf_puts(&out, "}");
        if (cli->json)
            continue;
        if (why != NULL) {
            printf("%s: PROBLEM: %s: %s\n", d->name, what, why);
        } else if (!certs || e == NULL) {
            printf("%s: ok (policy id %s from %s)\n", d->name,
                   d->policy->policy->id, d->policy->source);
        } else {
            char when[32];
            time_t na = certs_entry_not_after(e);
            struct tm tm;
            gmtime_r(&na, &tm);
            strftime(when, sizeof(when), "%Y-%m-%d", &tm);
            printf("%s: ok (policy id %s from %s; certificate %s, valid "
                   "until %s)\n",
                   d->name, d->policy->policy->id, d->policy->source,
                   certs_entry_source(e), when);
        }
    }
    size_t np = s != NULL ? snapshot_counts(s).problems : 0;
    for (size_t i = 0; !cli->json && i < np; i++)
        printf("PROBLEM: %s\n", snapshot_problem(s, i));
    bool valid = loaded == 0 && n > 0 && ok == n && np == 0;
    buf_printf(&out, "],\"valid\":%s}\n", valid ? "true" : "false");
    if (cli->json && out.data != NULL)
        fputs(out.data, stdout);
    else if (loaded < 0 || s == NULL)
        printf("config %s: valid; nothing can be served (see the errors "
               "above)\n",
               path);
    else
        printf("config %s: valid; %zu domain%s: %zu ok, %zu with "
               "problems%s%s\n",
               path, n, n == 1 ? "" : "s", ok, n - ok,
               np > 0 ? "; the instance has problems too" : "",
               certs ? "" : " (certificates not checked: --no-certs)");
    rc = valid ? 0 : EXIT_INVALID;
out:
    snapshot_release(s);
    store_free(st);
    config_free(cfg);
    buf_free(&out);
    return rc;
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

    if (cli->config_path != NULL) {
        if (n_files > 0)
            die_usage("validate takes -c CONFIG or policy files, not both "
                      "(found '%s')",
                      files[0]);
        return validate_config(cli, cli->config_path);
    }
    if (n_files == 1 && is_config_file(files[0]))
        return validate_config(cli, files[0]);
    for (int i = 0; n_files > 1 && i < n_files; i++)
        if (has_suffix(files[i], ".yaml") || has_suffix(files[i], ".yml"))
            die_usage("%s is a config file: check it alone, with "
                      "'validate -c %s'",
                      files[i], files[i]);
    if (n_files == 0) {
        cfg = load_config(cli);
        if (cfg == NULL) {
            rc = EXIT_INVALID;
            goto out;
        }
        n_files = policy_files(cfg->policy_dir, &owned);
        if (n_files < 0) {
            rc = EXIT_INVALID;
            goto out;
        }
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

/*
 * host_option validates the host name given to option opt (--target,
 * --delegate, advise's --add and --remove) into out, normalised (lower
 * case, no trailing dot), or exits with a usage error that says what was
 * expected. An IP address gets its own message, ip_hint: a CNAME target,
 * a zone and an mx pattern are names, never addresses.
 */
static void host_option(const char *opt, const char *value, const char *ip_hint,
                        char *out, size_t outlen)
{
    unsigned char ip[16];
    char err[256];
    size_t where = 0;
    if (inet_pton(AF_INET, value, ip) == 1 ||
        inet_pton(AF_INET6, value, ip) == 1)
        die_usage("%s '%s' is an IP address: %s", opt, value, ip_hint);
    if (dnsname_normalize(value, strlen(value), out, outlen) < 0)
        die_usage("%s '%s': expected a host name such as host.example.net", opt,
                  value);
    if (dnsname_check(out, strlen(out), DNSNAME_DOMAIN, &where, err,
                      sizeof(err)) < 0)
        die_usage("%s '%s': expected a host name such as host.example.net: "
                  "%s (at byte %zu)",
                  opt, value, err, where + 1);
}

/*
 * delegation_fits checks that every provider name _mta-sts.<d>.<zone> is
 * a name DNS can hold (RFC 1035: 253 characters in text form), saying
 * which is not; and warns when the zone lies inside a customer's own
 * domain, where the delegation would point at itself.
 */
static bool delegation_fits(const char *zone, const struct dnsrec_domain *recs,
                            size_t n)
{
    bool ok = true;
    size_t zl = strlen(zone);
    for (size_t i = 0; i < n; i++) {
        const char *d = recs[i].domain;
        size_t dl = strlen(d);
        size_t len = sizeof("_mta-sts.") - 1 + dl + 1 + zl;
        if (len > DNSNAME_MAX) {
            fprintf(stderr,
                    "mta-sts-host: --delegate %s: the provider's name "
                    "_mta-sts.%s.%s would be %zu characters, more than the "
                    "%d a DNS name can have; use a shorter zone\n",
                    zone, d, zone, len, DNSNAME_MAX);
            ok = false;
        } else if (strcmp(zone, d) == 0 ||
                   (zl > dl && zone[zl - dl - 1] == '.' &&
                    strcmp(zone + zl - dl, d) == 0)) {
            fprintf(stderr,
                    "mta-sts-host: warning: --delegate %s is inside %s "
                    "itself: the customer's zone would delegate to its own "
                    "records; the provider zone is one the provider "
                    "controls\n",
                    zone, d);
        }
    }
    return ok;
}

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
    char target[DNSNAME_MAX + 2], zone[DNSNAME_MAX + 2];
    if (cli->target != NULL)
        host_option("--target", cli->target,
                    "a CNAME needs a host name (to put mta-sts.<domain> on "
                    "an address, publish its A or AAAA record instead)",
                    target, sizeof(target));
    if (cli->delegate != NULL)
        host_option("--delegate", cli->delegate,
                    "the provider zone is a DNS name", zone, sizeof(zone));
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
    if (cli->delegate != NULL && !delegation_fits(zone, recs, n)) {
        rc = EXIT_USAGE;
        goto out;
    }
    struct dnsrec_input in = {
        .domains = recs,
        .n_domains = n,
        .rua = (const char *const *)cfg->tlsrpt_rua,
        .n_rua = cfg->n_tlsrpt_rua,
        .cname_target = cli->target != NULL ? target : NULL,
        .report_path = cfg->tlsrpt_receive ? cfg->tlsrpt_path : NULL,
        .delegate_zone = cli->delegate != NULL ? zone : NULL,
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

/* ---- check ------------------------------------------------------------- */

/* port_option reads a port option (1 to 65535; for --smtp-port also 0,
 * no probe), or def when it was not given. */
static unsigned port_option(const char *name, const char *value, unsigned def)
{
    if (value == NULL)
        return def;
    char *end = NULL;
    errno = 0;
    unsigned long p = strtoul(value, &end, 10);
    unsigned long min = strcmp(name, "--smtp-port") == 0 ? 0 : 1;
    if (value[0] < '0' || value[0] > '9' || errno != 0 || *end != '\0' ||
        p < min || p > 65535)
        die_usage("%s: expected %lu to 65535, found '%s'", name, min, value);
    return (unsigned)p;
}

/* check_one runs the checks of one domain with what this host serves for
 * it (d may be NULL: it serves nothing there). */
static int check_one(struct check_dns *dns, const struct check_opts *o,
                     int64_t budget_ms, const struct config *cfg,
                     const char *name, const struct plan_domain *d,
                     struct check_report *rep)
{
    struct check_served sv = check_serve_served(cfg, name, d);
    struct check_opts od = *o;
    od.bound.deadline_ms = mono_ms() + budget_ms;
    return check_domain(dns, &od, &sv, rep);
}

/* What `check` and `advise` share: the served policies (the load `serve`
 * runs, policies only), a resolver and the options of the checks. */
struct check_ctx {
    struct config *cfg;
    struct store *st;
    struct snapshot *s; /* NULL when nothing can be served */
    struct check_dns *dns;
    struct check_smtp_tls *tls; /* NULL without SMTP probes */
    struct check_opts opts;     /* bound.deadline_ms set per domain */
    int64_t budget_ms; /* of one domain: --timeout, else check.timeout */
    struct logger lg;
    char target[DNSNAME_MAX + 2], zone[DNSNAME_MAX + 2];
};

/* domain_arg normalises a DOMAIN argument into name, or exits (usage). */
static void domain_arg(const char *cmd, const char *arg, char *name,
                       size_t namelen)
{
    char err[CHECK_ERR_MAX];
    if (dnsname_normalize(arg, strlen(arg), name, namelen) < 0 ||
        dnsname_check(name, strlen(name), DNSNAME_DOMAIN, NULL, err,
                      sizeof(err)) < 0)
        die_usage("%s: '%s' is not a domain name", cmd, arg);
}

/* check_ctx_open checks the options (usage errors exit), loads the
 * policies and makes the resolver. Returns 0, or -1 with the reason
 * printed; close x in both cases. */
static int check_ctx_open(const struct cli *cli, const char *cmd,
                          struct check_ctx *x)
{
    char err[CHECK_ERR_MAX], fwd[80];
    memset(x, 0, sizeof(*x));
    if (cli->resolver != NULL &&
        check_resolver_addr(cli->resolver, fwd, sizeof(fwd), err, sizeof(err)) <
            0)
        die_usage("--resolver %s: %s", cli->resolver, err);
    if (cli->target != NULL)
        host_option("--target", cli->target,
                    "mta-sts.<domain> is compared with a host name (its "
                    "CNAME target)",
                    x->target, sizeof(x->target));
    if (cli->delegate != NULL)
        host_option("--delegate", cli->delegate,
                    "the provider zone is a DNS name", x->zone,
                    sizeof(x->zone));
    unsigned long budget = 0;
    if (cli->timeout != NULL) {
        if (config_parse_duration(cli->timeout, 3600, &budget, err,
                                  sizeof(err)) < 0)
            die_usage("--timeout %s: %s", cli->timeout, err);
        /* The range of the config's check.timeout. */
        if (budget < 10)
            die_usage("--timeout %s: expected 10s to 1h", cli->timeout);
    }
    if ((x->cfg = load_config(cli)) == NULL)
        return -1;
    /* The flags win over the config's check: section. */
    const struct config *c = x->cfg;
    x->budget_ms =
        (int64_t)(cli->timeout != NULL ? budget : c->check_timeout) * 1000;
    x->opts = (struct check_opts){
        .https_port =
            port_option("--https-port", cli->https_port, c->check_https_port),
        .smtp_port =
            port_option("--smtp-port", cli->smtp_port, c->check_smtp_port),
        .ca_file = cli->ca_file != NULL ? cli->ca_file : c->check_ca_file,
        .target = cli->target != NULL ? x->target : NULL,
        .delegate_zone = cli->delegate != NULL ? x->zone : NULL,
    };
    x->cfg->certs_unchecked = true; /* the policies are what is compared */
    log_init(&x->lg, LOG_FORMAT_TEXT, LOG_LEVEL_ERROR, false);
    x->lg.out_fd = 2;
    if ((x->st = store_new(x->cfg, &x->lg)) == NULL)
        return -1;
    /* No servable domain is no reason not to look at DNS. */
    if (store_reload(x->st) >= 0)
        x->s = store_acquire(x->st);
    x->dns = check_dns_new(
        cli->resolver != NULL ? cli->resolver : c->check_resolver,
        cli->trust_anchor != NULL ? cli->trust_anchor : c->check_trust_anchor,
        err, sizeof(err));
    if (x->dns == NULL) {
        fprintf(stderr, "mta-sts-host: %s: %s\n", cmd, err);
        return -1;
    }
    if (x->opts.smtp_port != 0) {
        x->tls = check_smtp_tls_new(x->opts.ca_file, err, sizeof(err));
        if (x->tls == NULL) {
            fprintf(stderr, "mta-sts-host: %s: %s\n", cmd, err);
            return -1;
        }
        x->opts.tls = x->tls;
    }
    return 0;
}

static void check_ctx_close(struct check_ctx *x)
{
    check_dns_free(x->dns);
    check_smtp_tls_free(x->tls);
    snapshot_release(x->s);
    store_free(x->st);
    config_free(x->cfg);
}

/* served_domain is what this host serves for name (NULL: nothing). */
static const struct plan_domain *served_domain(const struct check_ctx *x,
                                               const char *name)
{
    return x->s != NULL
               ? plan_find(snapshot_domains(x->s), snapshot_count(x->s), name)
               : NULL;
}

/*
 * cmd_check runs the load `serve` runs (policies only) to learn what this
 * host serves, then checks each domain (the arguments, else every served
 * one) against live DNS and prints the report.
 */
static int cmd_check(const struct cli *cli)
{
    int rc = EXIT_INVALID;
    struct check_ctx x;
    struct check_report rep = {0};
    char name[CHECK_NAME_MAX];
    struct buf out;
    buf_init(&out, 64u << 20);
    for (int i = 0; i < cli->n_args; i++)
        domain_arg("check", cli->args[i], name, sizeof(name));
    if (check_ctx_open(cli, "check", &x) < 0)
        goto out;
    size_t n = cli->n_args > 0 ? (size_t)cli->n_args
                               : (x.s != NULL ? snapshot_count(x.s) : 0);
    if (n == 0) {
        fprintf(stderr, "mta-sts-host: check: no domain to check (this host "
                        "serves none; name one)\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct plan_domain *d;
        if (cli->n_args > 0) {
            domain_arg("check", cli->args[i], name, sizeof(name));
            d = served_domain(&x, name);
        } else {
            d = snapshot_at(x.s, i);
            snprintf(name, sizeof(name), "%s", d->name);
        }
        if (check_one(x.dns, &x.opts, x.budget_ms, x.cfg, name, d, &rep) < 0) {
            fprintf(stderr, "mta-sts-host: check: out of memory\n");
            goto out;
        }
    }
    if ((cli->json ? check_report_json(&rep, &out)
                   : check_report_text(&rep, &out)) < 0 ||
        out.data == NULL) {
        fprintf(stderr, "mta-sts-host: check: cannot render the report\n");
        goto out;
    }
    fputs(out.data, stdout);
    rc = rep.counts[CHECK_FAIL] > 0 ? EXIT_INVALID : 0;
out:
    check_report_free(&rep);
    check_ctx_close(&x);
    buf_free(&out);
    return rc;
}

/* ---- advise ------------------------------------------------------------ */

#define ADVISE_FAILURES_MAX 16

/* since_option reads --since (YYYY-MM-DD or an RFC 3339 date-time) into
 * seconds, 0 when it was not given; a bad one exits (usage). */
static int64_t since_option(const char *since)
{
    char when[40];
    bool no_tz;
    int64_t t = 0;
    if (since == NULL)
        return 0;
    int n = snprintf(when, sizeof(when),
                     strlen(since) == 10 ? "%sT00:00:00Z" : "%s", since);
    if (n < 0 || (size_t)n >= sizeof(when) ||
        tlsrpt_parse_time(when, &t, &no_tz) < 0)
        die_usage("--since: expected YYYY-MM-DD or an RFC 3339 date-time, "
                  "found '%s'",
                  since);
    return t;
}

/*
 * advise_reports reads what the stored reports say about domain into f.
 * Returns 1 with f set, 0 when there is no report store (state_dir not
 * configured and absent), or -1 with the reason printed.
 */
static int advise_reports(const struct config *cfg, const char *domain,
                          int64_t since, struct tlsrpt_facts *f)
{
    struct diag d;
    if (!cfg->state_dir_set && access(cfg->state_dir, F_OK) != 0)
        return 0;
    diag_init(&d, "reports");
    int rc = tlsrpt_summary_facts(cfg->state_dir, domain, since, f, &d);
    diag_print(&d, stderr);
    diag_free(&d);
    return rc < 0 ? -1 : 1;
}

/*
 * cmd_advise runs `advise DOMAIN enforce|mx-change|retire`: what check
 * sees (the records and their TTLs; for enforce every check), the served
 * policy and the stored reports go to check_advise, which plans; the
 * plan is printed. Exit 0 ready (or nothing to do), 1 blocked, 2 usage.
 */
static int cmd_advise(const struct cli *cli)
{
    int rc = EXIT_INVALID;
    struct check_ctx x;
    struct check_report rep = {0};
    struct check_facts facts;
    struct tlsrpt_facts reports;
    struct advise_plan *plan = NULL;
    const char *failures[ADVISE_FAILURES_MAX];
    char(*lines)[CHECK_TEXT_MAX + 64] = NULL;
    char name[CHECK_NAME_MAX], add[DNSNAME_MAX + 2], rm[DNSNAME_MAX + 2];
    char err[CHECK_ERR_MAX + 200], *text = NULL;
    size_t text_len = 0, n_fail = 0;
    enum advise_action action;
    struct diag d;
    struct buf out;
    diag_init(&d, "advise");
    buf_init(&out, 1u << 20);
    if (cli->n_args != 2 || advise_action_parse(cli->args[1], &action) < 0)
        die_usage("advise takes DOMAIN and one of enforce, mx-change, retire "
                  "(found %d argument%s)",
                  cli->n_args, cli->n_args == 1 ? "" : "s");
    domain_arg("advise", cli->args[0], name, sizeof(name));
    if (action == ADVISE_MX_CHANGE) {
        if (cli->add_mx == NULL && cli->remove_mx == NULL)
            die_usage("%s", "advise mx-change takes --add MX, --remove MX "
                            "or both");
        if (cli->add_mx != NULL)
            host_option("--add", cli->add_mx, "an MX is a host name", add,
                        sizeof(add));
        if (cli->remove_mx != NULL)
            host_option("--remove", cli->remove_mx, "an MX is a host name", rm,
                        sizeof(rm));
        if (cli->add_mx != NULL && cli->remove_mx != NULL &&
            strcmp(add, rm) == 0)
            die_usage("--add and --remove name the same host (%s)", add);
    } else if (cli->add_mx != NULL || cli->remove_mx != NULL) {
        die_usage("--add and --remove belong to advise mx-change, not %s",
                  cli->args[1]);
    }
    int64_t since = since_option(cli->since);
    if (check_ctx_open(cli, "advise", &x) < 0)
        goto out;
    const struct plan_domain *pd = served_domain(&x, name);
    const struct plan_policy *pp = pd != NULL ? pd->policy : NULL;
    /* A plan changes a served policy: refused before any lookup. */
    if (pp == NULL) {
        fprintf(stderr,
                "mta-sts-host: advise: this host serves no policy for %s "
                "(add policy/%s.txt, or name a served domain)\n",
                name, name);
        goto out;
    }
    if (pp != NULL && readfile(pp->source, POLICY_MAX_SIZE, &text, &text_len,
                               err, sizeof(err)) < 0) {
        fprintf(stderr, "mta-sts-host: advise: %s\n", err);
        goto out;
    }
    check_dns_set_deadline(x.dns, mono_ms() + x.budget_ms);
    if (check_facts(x.dns, name, &facts, &rep) < 0)
        goto oom;
    /* Enforce makes every failing check a refused delivery: run them all. */
    if (action == ADVISE_ENFORCE &&
        check_one(x.dns, &x.opts, x.budget_ms, x.cfg, name, pd, &rep) < 0)
        goto oom;
    lines = calloc(ADVISE_FAILURES_MAX, sizeof(*lines));
    if (lines == NULL)
        goto oom;
    for (size_t i = 0; i < rep.n && n_fail < ADVISE_FAILURES_MAX; i++) {
        const struct check_result *r = &rep.r[i];
        if (r->level != CHECK_FAIL)
            continue;
        snprintf(lines[n_fail], sizeof(lines[0]), "%s: %s", r->check, r->what);
        failures[n_fail] = lines[n_fail];
        n_fail++;
    }
    /* The plans of mx-change and retire rest on the lookups alone: say
     * why one failed (for enforce the plan names the failures). */
    for (size_t i = 0; action != ADVISE_ENFORCE && i < n_fail; i++)
        fprintf(stderr, "mta-sts-host: advise: %s\n", failures[i]);
    int have = advise_reports(x.cfg, name, since, &reports);
    if (have < 0)
        goto out;
    const char *slash = pp != NULL ? strrchr(pp->source, '/') : NULL;
    struct advise_in in = {
        .domain = name,
        .now = (int64_t)time(NULL),
        .dns = &facts,
        .policy = pp != NULL ? pp->policy : NULL,
        .source = pp != NULL ? pp->source : "",
        .shared = slash != NULL && strcmp(slash + 1, "mta-sts.txt") == 0,
        .text = text,
        .len = text_len,
        .reports = have > 0 ? &reports : NULL,
        .check_failures = failures,
        .n_check_failures = n_fail,
        .add_mx = cli->add_mx != NULL ? add : NULL,
        .remove_mx = cli->remove_mx != NULL ? rm : NULL,
    };
    if ((plan = malloc(sizeof(*plan))) == NULL)
        goto oom;
    if (advise_plan(action, &in, plan, &d) < 0) {
        diag_print(&d, stderr);
        goto out;
    }
    if ((cli->json ? advise_json(plan, &in, &out)
                   : advise_text(plan, &in, &out)) < 0 ||
        out.data == NULL) {
        fprintf(stderr, "mta-sts-host: advise: cannot render the plan\n");
        goto out;
    }
    fputs(out.data, stdout);
    rc = plan->status == ADVISE_BLOCKED ? EXIT_INVALID : 0;
    goto out;
oom:
    fprintf(stderr, "mta-sts-host: advise: out of memory\n");
out:
    free(plan);
    free(lines);
    free(text);
    check_report_free(&rep);
    check_ctx_close(&x);
    diag_free(&d);
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

/* print_hints tells a first-time user how to reach what is being served:
 * on the listener's port, or on MTA_STS_PUBLIC_HTTPS_PORT when set (the
 * port published outside a container). */
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
    /* Behind a port mapping (a container) the listener's port is not the
     * one a user reaches; the deployment says which one is. */
    const char *pub = getenv("MTA_STS_PUBLIC_HTTPS_PORT");
    if (pub != NULL && pub[0] != '\0') {
        char *end;
        errno = 0;
        unsigned long v = strtoul(pub, &end, 10);
        if (errno == 0 && *end == '\0' && v >= 1 && v <= 65535)
            port = (unsigned short)v;
        else
            log_msg(lg, LOG_LEVEL_WARN,
                    "MTA_STS_PUBLIC_HTTPS_PORT=%s is not a port (1-65535); "
                    "ignored",
                    pub);
    }
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
    struct acme_chal *chal = NULL;
    struct acme_run *acme = NULL;
    struct check_serve *cs = NULL;
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

    /* libcurl's global set-up before any thread may use it (the ACME
     * client). */
    if (cfg->acme)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    log_msg(&lg, LOG_LEVEL_INFO,
            "mta-sts-host %s starting (policy dir %s, certificate dir %s)",
            MTA_STS_HOST_VERSION, cfg->policy_dir, cfg->cert_dir);
    st = store_new(cfg, &lg);
    h = st != NULL ? http_new(cfg, &lg, st) : NULL;
    if (h == NULL) {
        log_msg(&lg, LOG_LEVEL_ERROR, "out of memory");
        goto out;
    }
    /* The challenge answers live outside the snapshot, for the listeners
     * to answer what the ACME client puts there; shared through the state
     * directory, so that a replica behind the same load balancer answers
     * the validations of another one's orders. */
    if (cfg->acme) {
        if ((chal = acme_chal_new()) == NULL ||
            acme_chal_share(chal, cfg->state_dir) < 0) {
            log_msg(&lg, LOG_LEVEL_ERROR, "out of memory");
            goto out;
        }
        http_set_acme_chal(h, chal);
    }
    /* Bind every listener before anything is loaded or announced: a port
     * that cannot be had stops the start with the system's reason, and no
     * `publish:` line is printed for a host that never serves. The
     * daemons start on these sockets once the first load has published a
     * snapshot, so no request is ever answered without one. */
    if (http_bind(h, err, sizeof(err)) < 0) {
        log_msg(&lg, LOG_LEVEL_ERROR, "%s; not starting", err);
        goto out;
    }
    /* The ACME directories exist before the watcher looks, so that inotify
     * watches the issued certificates from the first one on. Started as
     * root to drop to a user, they are made later, by that user (until
     * then the watcher polls for them). */
    if (cfg->acme && !drop) {
        struct acme_state *as =
            acme_state_open(cfg->state_dir, err, sizeof(err));
        if (as == NULL)
            log_msg(&lg, LOG_LEVEL_ERROR,
                    "%s; no certificate can be obtained by ACME", err);
        acme_state_free(as);
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
    /* The ACME thread runs as the user that owns what it writes: after the
     * privilege drop. */
    if (cfg->acme) {
        if ((acme = acme_run_new(cfg, &lg, st, chal)) == NULL ||
            acme_run_start(acme, err, sizeof(err)) < 0) {
            log_msg(&lg, LOG_LEVEL_ERROR, "%s",
                    acme == NULL ? "out of memory" : err);
            goto out;
        }
        store_set_notify(st, acme_run_wake, acme);
        http_set_acme_run(h, acme);
    }
    /* The periodic check reads its files (trust anchor, CA file) as the
     * user it runs as, like the report database. */
    if (cfg->check_interval > 0) {
        if ((cs = check_serve_start(cfg, &lg, st, err, sizeof(err))) == NULL) {
            log_msg(&lg, LOG_LEVEL_ERROR,
                    "check: %s; not starting (set check.interval: off to run "
                    "without the periodic check)",
                    err);
            goto out;
        }
        http_set_checks(h, check_serve_table(cs));
        log_msg(&lg, LOG_LEVEL_INFO,
                "check: every served domain every %us, %u at a time, %us "
                "each at most; results on /status and /metrics",
                cfg->check_interval, cfg->check_concurrency,
                cfg->check_timeout);
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
            /* Through the watcher, which knows which saves are not
             * finished yet. */
            if (watch_reload(w) < 0)
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
    /* An order in flight is cancelled; what is on disk is whole. */
    acme_run_stop(acme);
    http_stop(h, DRAIN_SECONDS);
    /* "stopped" only once the check threads are joined too. */
    check_serve_stop(cs);
    cs = NULL;
    log_msg(&lg, LOG_LEVEL_INFO, "stopped");
    rc = 0;
out:
    watch_stop(w);
    acme_run_stop(acme);
    http_free(h);
    acme_run_free(acme);
    acme_chal_free(chal);
    check_serve_stop(cs);
    tlsrpt_recv_free(rx);
    store_free(st);
    if (cfg->acme)
        curl_global_cleanup();
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
    /* A batch of one: what is printed as stored is committed. */
    enum tlsrpt_store_result res = TLSRPT_STORE_FAILED;
    if (tlsrpt_store_begin(x->store, &d) == 0) {
        res =
            tlsrpt_store_add(x->store, r, report, len, (int64_t)time(NULL), &d);
        if (tlsrpt_store_commit(x->store, &d) < 0)
            res = TLSRPT_STORE_FAILED;
    }
    switch (res) {
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
    /* The names are the sender's: escaped, so that a report cannot put a
     * line or a terminal escape into this output. */
    char org[REPORT_NAME_MAX * 4 + 4], id[REPORT_NAME_MAX * 4 + 4];
    printf("%s: %s: %s (%s, %s)\n", x->file, where, verdict,
           diag_quote_max(r->organization_name, strlen(r->organization_name),
                          REPORT_NAME_MAX, org, sizeof(org)),
           diag_quote_max(r->report_id, strlen(r->report_id), REPORT_NAME_MAX,
                          id, sizeof(id)));
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
    struct tlsrpt_summary_opts o = {NULL, since_option(cli->since), cli->json,
                                    0};
    struct diag d;
    struct buf out;
    int rc = EXIT_INVALID;
    if (cli->n_domains > 1)
        die_usage("%s", "reports takes one --domain");
    if (cli->n_domains == 1)
        o.domain = cfg->domains[0]; /* normalised by the config */
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
    diag_init(&d, "tlsrpt");
    x.cfg = cfg;
    x.store = tlsrpt_store_open(
        cfg->state_dir,
        tlsrpt_store_mail_instance(cfg->tlsrpt_instance, inst, sizeof(inst)),
        cfg->tlsrpt_max_disk, &d);
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

/* ---- help --------------------------------------------------------------
 */

static int cmd_help(const struct cli *cli)
{
    if (cli->n_args == 0) {
        print_usage(stdout);
        return 0;
    }
    const struct cmd_doc *cd =
        find_subcmd(cli->args[0], cli->n_args > 1 ? cli->args[1] : NULL);
    int words = cd != NULL && strchr(cd->name, ' ') != NULL ? 2 : 1;
    if (cli->n_args > words)
        die_usage("help takes at most one command, found '%s'",
                  cli->args[words]);
    if (cd == NULL)
        die_usage("help: unknown command '%s'", cli->args[0]);
    print_cmd_help(cd, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    parse_cli(argc, argv, &cli);
    int rc;
    if (strcmp(cli.command, "help") == 0)
        rc = cmd_help(&cli);
    else if (strcmp(cli.command, "serve") == 0)
        rc = cmd_serve(&cli);
    else if (strcmp(cli.command, "validate") == 0)
        rc = cmd_validate(&cli);
    else if (strcmp(cli.command, "dns") == 0)
        rc = cmd_dns(&cli);
    else if (strcmp(cli.command, "check") == 0)
        rc = cmd_check(&cli);
    else if (strcmp(cli.command, "advise") == 0)
        rc = cmd_advise(&cli);
    else if (strcmp(cli.command, "health") == 0)
        rc = cmd_health(&cli);
    else if (strcmp(cli.command, "reports") == 0)
        rc = cmd_reports(&cli);
    else
        die_usage("unknown command '%s'", cli.command);
    return rc;
}
