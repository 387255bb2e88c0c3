/* cli.c - the option table, its parser and the generated help.
 *
 * One row per option (curl's LongShort, masscan's config_parameters[]). The
 * same long name may appear in several rows for different subcommands when its
 * argument differs (`--format` takes csv|jsonl for scan, text|csv|json|html for
 * report); the parser picks the row of the current subcommand. */
#include "edgeshake/cli.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "edgeshake/tlsprobe.h"
#include "edgeshake/util.h"

#ifndef ES_VERSION
#define ES_VERSION "0.0.0"
#endif

enum argtype {
    ARG_FLAG,   /* no argument; sets a bool */
    ARG_STR,    /* one string; the last one wins */
    ARG_UINT,   /* one integer in [min, max] */
    ARG_CHOICE, /* one of `choices` ("a|b|c") */
    ARG_LIST,   /* repeatable string; values collected in order */
    ARG_LISTCHOICE,
    ARG_OPTPATH, /* an optional request path: --opt, --opt=/P or --opt /P (a word
                    that starts with '/'); given alone it takes `def` */
};

struct option {
    const char *name; /* long name, without "--" */
    char short_name;  /* 0 = none */
    enum argtype type;
    unsigned commands; /* ES_CMD_* bits */
    size_t off;        /* field in struct es_config */
    const char *arg;   /* metavariable in help, e.g. "MS" */
    const char *def;   /* default, parsed like a command-line value; NULL = none */
    const char *help;
    uint64_t min, max;   /* ARG_UINT */
    const char *choices; /* ARG_CHOICE / ARG_LISTCHOICE */
    const char *shown;   /* default as shown in help when `def` is not the whole story */
};

#define SCAN     ES_CMD_SCAN
#define REPORT   ES_CMD_REPORT
#define BENCH    ES_CMD_BENCH
#define LAB      ES_CMD_LAB
#define DEMO     ES_CMD_DEMO
#define ENUM     ES_CMD_ENUM
#define F(field) offsetof(struct es_config, field)

/* Rows leave trailing fields out (zero); -Wmissing-field-initializers would
 * make every row spell out all eleven fields, which hides the table. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct option options[] = {
    /* scan: targets */
    {"input", 'i', ARG_STR, SCAN | ENUM, F(input_file), "FILE", NULL,
     "read targets from FILE, one per line ('-' = stdin)"},
    {"edges", 0, ARG_STR, SCAN | ENUM, F(edges_file), "FILE", NULL,
     "also probe every host against every IP/CIDR in FILE"},
    {"port", 'p', ARG_UINT, SCAN | ENUM, F(port), "N", "443", "port for targets without one", 1,
     65535},
    {"resolver", 'r', ARG_LIST, SCAN | ENUM, F(resolvers), "LABEL=ADDR[:PORT][,ecs=SUBNET]", NULL,
     "add a resolver; repeatable; answers keep its label", 0, 0, NULL, "system = /etc/resolv.conf"},
    {"family", 0, ARG_CHOICE, SCAN | ENUM, F(family), "4|6|both", "4",
     "address families to resolve and probe", 0, 0, "4|6|both"},
    /* scan: the variant matrix */
    {"tls", 0, ARG_LISTCHOICE, SCAN, F(tls), "V", NULL,
     "offer exactly TLS V; repeatable, one variant each", 0, 0, "1.0|1.1|1.2|1.3", "1.2 and 1.3"},
    {"alpn", 0, ARG_LIST, SCAN, F(alpn), "LIST", NULL,
     "offered ALPN list (h2, http/1.1, h2,http/1.1, none); repeatable", 0, 0, NULL, "h2,http/1.1"},
    {"sni", 0, ARG_LIST, SCAN, F(sni), "host|none|NAME", NULL, "SNI mode; repeatable", 0, 0, NULL,
     "host"},
    {"ciphers", 0, ARG_LIST, SCAN, F(ciphers), "STR", NULL,
     "OpenSSL cipher string for TLS <= 1.2; repeatable", 0, 0, NULL, "OpenSSL default"},
    {"ciphersuites", 0, ARG_LIST, SCAN, F(ciphersuites), "STR", NULL,
     "TLS 1.3 cipher suites; repeatable", 0, 0, NULL, "OpenSSL default"},
    {"groups", 0, ARG_LIST, SCAN, F(groups), "STR", NULL,
     "offered key-exchange groups (X25519:P-256); repeatable", 0, 0, NULL, "OpenSSL default"},
    {"repeat", 0, ARG_UINT, SCAN, F(repeat), "N", "1", "attempts per (host, ip, variant)", 1, 1000},
    {"h2-check", 0, ARG_FLAG, SCAN, F(h2_check), NULL, NULL,
     "after ALPN h2, send the HTTP/2 preface and wait for the server's SETTINGS"},
    {"http-check", 0, ARG_OPTPATH, SCAN, F(http_check), "[PATH]", "/",
     "after the handshake, one GET PATH (default /) over the negotiated protocol: status, Server, "
     "clock skew from Date, h3 in Alt-Svc; implies --h2-check on h2",
     0, 0, NULL, "off"},
    {"hello", 0, ARG_LISTCHOICE, SCAN, F(hello), "SHAPE", NULL,
     "ClientHello shape: plain, pq (post-quantum size, SNI past 1,400 bytes, two TCP segments) "
     "or split (two segments cut before the SNI); repeatable, one variant each",
     0, 0, "plain|pq|split", "plain"},
    /* scan: verification and deadlines */
    {"ca-file", 0, ARG_STR, SCAN, F(ca_file), "FILE", NULL,
     "trust store for verification (recorded, never fatal)", 0, 0, NULL, "system store"},
    {"no-verify", 0, ARG_FLAG, SCAN, F(no_verify), NULL, NULL,
     "do not verify certificates (verify column = off)"},
    {"timeout", 0, ARG_UINT, SCAN | ENUM, F(timeout_ms), "MS", "5000",
     "whole-probe deadline: connect + handshake + h2 check", 1, 3600000},
    {"connect-timeout", 0, ARG_UINT, SCAN | ENUM, F(connect_timeout_ms), "MS", NULL,
     "connect deadline, at most the --timeout", 1, 3600000, NULL, "the --timeout"},
    {"dns-timeout", 0, ARG_UINT, SCAN | ENUM, F(dns_timeout_ms), "MS", "2000",
     "per-try DNS deadline", 1, 600000},
    {"dns-retries", 0, ARG_UINT, SCAN | ENUM, F(dns_retries), "N", "2", "DNS retries per resolver",
     0, 20},
    /* scan: the engine */
    {"concurrency", 'c', ARG_UINT, SCAN | ENUM, F(concurrency), "N", "1000",
     "probes in flight, all workers together", 1, 1000000},
    {"threads", 't', ARG_UINT, SCAN | ENUM, F(threads), "N", NULL, "worker threads", 1, 1024, NULL,
     "online cores"},
    {"rate", 0, ARG_UINT, SCAN | ENUM, F(rate), "N", "0",
     "new connections per second, all workers (0 = no limit)", 0, 100000000},
    {"per-ip", 0, ARG_UINT, SCAN | ENUM, F(per_ip), "N", "8",
     "probes in flight per edge IP (0 = no limit)", 0, 1000000},
    /* scan: output */
    {"output", 'o', ARG_STR, SCAN, F(output), "FILE", "-",
     "output file ('-' = stdout); FILE.zst is zstd-compressed; FILE.meta.json beside it "
     "records the run"},
    {"output", 'o', ARG_STR, ENUM, F(output), "FILE", "-",
     "output file ('-' = stdout; one row per edge, written at the end)"},
    {"format", 0, ARG_CHOICE, SCAN | ENUM, F(format), "csv|jsonl", NULL, "output format", 0, 0,
     "csv|jsonl", "from the -o suffix, else csv"},
    {"shard", 0, ARG_STR, SCAN | ENUM, F(shard), "I/N", NULL,
     "keep hosts with xxh3(host) mod N == I", 0, 0, NULL, "0/1"},
    {"shards", 0, ARG_UINT, SCAN | ENUM, F(shards), "N", NULL,
     "shard count; I from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID", 1, 1000000},
    {"vantage", 0, ARG_STR, SCAN | ENUM, F(vantage), "LABEL", NULL, "written in every row", 0, 0,
     NULL, "hostname"},
    {"keylog", 0, ARG_STR, SCAN, F(keylog), "FILE", NULL, "NSS key log for Wireshark (mode 0600)"},
    {"progress", 0, ARG_FLAG, SCAN | ENUM, F(progress), NULL, NULL,
     "status line on stderr once a second", 0, 0, NULL, "when stderr is a TTY"},
    {"quiet", 'q', ARG_FLAG, SCAN | DEMO | ENUM, F(quiet), NULL, NULL,
     "no status line, no summary"},
    {"dry-run", 0, ARG_FLAG, SCAN | ENUM, F(dry_run), NULL, NULL,
     "resolve and plan, connect to nothing: one row per planned probe"},
    /* enum */
    {"per-host", 0, ARG_FLAG, ENUM, F(per_host), NULL, NULL,
     "enumerate every (host, port, ip) in full; by default names on one (ip, port) whose first "
     "answer and certificate match share one enumeration"},
    {"groups", 0, ARG_LIST, ENUM, F(groups), "LIST", NULL,
     "the key-exchange groups to look for (X25519:P-256:...; repeatable); the others are "
     "never offered",
     0, 0, NULL, "all ten: X25519, P-256, X448, P-521, P-384, ffdhe2048-8192"},
    /* report */
    {"output", 'o', ARG_STR, REPORT, F(output), "FILE", "-", "output file ('-' = stdout)"},
    {"format", 0, ARG_CHOICE, REPORT, F(format), "text|csv|json|html", NULL, "output format", 0, 0,
     "text|csv|json|html", "from the -o suffix, else text"},
    {"min-repeat", 0, ARG_UINT, REPORT, F(min_repeat), "N", "2",
     "attempts needed before calling a probe intermittent", 1, 1000000},
    {"expiry-days", 0, ARG_UINT, REPORT, F(expiry_days), "N", "21",
     "an `expiry` finding for certificates that expire within N days", 1, 3650},
    {"fail-on", 0, ARG_STR, REPORT, F(fail_on), "KIND[,KIND]|new[:KIND,...]", NULL,
     "exit 3 when findings of these kinds exist (new: only new ones, with --baseline)"},
    {"baseline", 0, ARG_LIST, REPORT, F(baseline), "FILE", NULL,
     "an earlier scan file or `report --format json`: mark findings new, persisting, fixed; "
     "repeatable"},
    {"by-host", 0, ARG_FLAG, REPORT, F(by_host), NULL, NULL,
     "also list the host findings that fleet findings fold"},
    {"skip-bad-rows", 0, ARG_FLAG, REPORT, F(skip_bad_rows), NULL, NULL,
     "count and skip malformed rows instead of stopping"},
    /* bench: its own rows where the words differ from scan's (no rows, no
     * verify column, no HTTP/2 check, no summary on stderr) */
    {"ca-file", 0, ARG_STR, BENCH, F(ca_file), "FILE", NULL, "trust store for verification", 0, 0,
     NULL, "the lab's CA without a TARGET, else the system store"},
    {"no-verify", 0, ARG_FLAG, BENCH, F(no_verify), NULL, NULL, "do not verify certificates"},
    {"timeout", 0, ARG_UINT, BENCH, F(timeout_ms), "MS", "5000",
     "deadline of one attempt: connect + handshake", 1, 3600000},
    {"connect-timeout", 0, ARG_UINT, BENCH, F(connect_timeout_ms), "MS", NULL,
     "connect deadline, at most the --timeout", 1, 3600000, NULL, "the --timeout"},
    {"concurrency", 'c', ARG_UINT, BENCH, F(concurrency), "N", "1000",
     "handshakes in flight, all workers together", 1, 1000000},
    {"threads", 't', ARG_UINT, BENCH, F(threads), "N", NULL, "worker threads", 1, 1024, NULL,
     "online cores"},
    {"progress", 0, ARG_FLAG, BENCH, F(progress), NULL, NULL, "status line on stderr once a second",
     0, 0, NULL, "when stderr is a TTY"},
    {"quiet", 'q', ARG_FLAG, BENCH, F(quiet), NULL, NULL, "no status line"},
    {"output", 'o', ARG_STR, BENCH, F(output), "FILE", "-",
     "write the result to FILE ('-' = stdout)"},
    {"handshakes", 'n', ARG_UINT, BENCH, F(handshakes), "N", "10000", "full handshakes to run", 1,
     1000000000},
    {"duration", 0, ARG_UINT, BENCH, F(duration_s), "S", NULL, "run for S seconds instead of -n", 1,
     86400},
    {"tls", 0, ARG_CHOICE, BENCH, F(bench_tls), "V", "1.3", "TLS version", 0, 0, "1.2|1.3"},
    {"hello", 0, ARG_CHOICE, BENCH, F(bench_hello), "SHAPE", "plain",
     "ClientHello shape (see scan --help): plain, pq or split", 0, 0, "plain|pq|split"},
    {"format", 0, ARG_CHOICE, BENCH, F(format), "text|csv|json", "text", "output format", 0, 0,
     "text|csv|json"},
    /* lab */
    {"state", 0, ARG_STR, LAB, F(state_dir), "DIR", NULL,
     "write ca.crt, scan.args and, last, ready into DIR"},
    /* demo */
    {"out", 0, ARG_STR, DEMO, F(out_dir), "DIR", NULL,
     "write scan.csv, enum.csv, report.txt and report.html into DIR", 0, 0, NULL,
     "a new temporary dir"},
};

#pragma GCC diagnostic pop

struct command {
    enum es_command cmd;
    const char *name;
    const char *usage;
    const char *summary;
    size_t min_args, max_args;
};

static const struct command commands[] = {
    {ES_CMD_SCAN, "scan", "[TARGET...] [options]", "probe; write one row per attempt", 0, SIZE_MAX},
    {ES_CMD_REPORT, "report", "[options] FILE...", "findings from one or more scan files", 1,
     SIZE_MAX},
    {ES_CMD_BENCH, "bench", "[TARGET] [options]", "handshake throughput and latency benchmark", 0,
     1},
    {ES_CMD_LAB, "lab", "SPEC [--state DIR]", "run the simulated CDN (TLS edges + DNS resolvers)",
     1, 1},
    {ES_CMD_DEMO, "demo", "[--out DIR]", "start the built-in lab, scan it, print the report", 0, 0},
    {ES_CMD_ENUM, "enum", "[TARGET...] [options]",
     "what each edge accepts: versions, ciphers, groups, ALPN", 0, SIZE_MAX},
};

static const struct command *current;

const char *es_cli_command_name(enum es_command cmd)
{
    for (size_t i = 0; i < ES_ARRAY_LEN(commands); i++)
        if (commands[i].cmd == cmd)
            return commands[i].name;
    return "";
}

void es_usage_error(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (current)
        fprintf(stderr, "edgeshake %s: %s\n", current->name, buf);
    else
        fprintf(stderr, "edgeshake: %s\n", buf);
    exit(ES_EXIT_USAGE);
}

static bool in_choices(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && n && memcmp(p, v, n) == 0)
            return true;
        p += len + (bar ? 1 : 0);
    }
    return false;
}

static void strlist_add(struct es_strlist *l, const char *v)
{
    l->v = es_xgrow(l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = v;
}

/* A request path: '/' then printable ASCII without spaces, at most 1024
 * bytes (it goes into a request line and an HTTP/2 :path as it is). */
static void check_path(const struct option *o, const char *v)
{
    size_t n = strlen(v);
    const char *why = NULL;
    if (v[0] != '/')
        why = "it does not start with '/'";
    else if (n > 1024)
        why = "it is longer than 1024 bytes";
    for (size_t i = 0; !why && i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            why = "it holds a space, a control character or a non-ASCII byte (percent-encode it)";
    if (why)
        es_usage_error("--%s: expected PATH, a request path like /health, got '%.64s%s': %s",
                       o->name, v, n > 64 ? "..." : "", why);
}

/* Stores one value of option o into cfg, or exits 2 naming the option. */
static void set_value(struct es_config *cfg, const struct option *o, const char *v)
{
    char *field = (char *)cfg + o->off;
    uint64_t u;
    switch (o->type) {
    case ARG_FLAG: *(bool *)field = true; return;
    case ARG_STR:
        if (!*v)
            es_usage_error("--%s: expected %s, got an empty value", o->name, o->arg);
        *(const char **)field = v;
        return;
    case ARG_UINT:
        if (!es_parse_u64(v, o->min, o->max, &u))
            es_usage_error("--%s: expected %s, a whole number from %llu to %llu, got '%s'", o->name,
                           o->arg, (unsigned long long)o->min, (unsigned long long)o->max, v);
        *(uint64_t *)field = u;
        return;
    case ARG_CHOICE:
        if (!in_choices(o->choices, v))
            es_usage_error("--%s: expected one of %s, got '%s'", o->name, o->choices, v);
        *(const char **)field = v;
        return;
    case ARG_LISTCHOICE:
        if (!in_choices(o->choices, v))
            es_usage_error("--%s: expected one of %s, got '%s'", o->name, o->choices, v);
        strlist_add((struct es_strlist *)field, v);
        return;
    case ARG_LIST:
        if (!*v)
            es_usage_error("--%s: expected %s, got an empty value", o->name, o->arg);
        strlist_add((struct es_strlist *)field, v);
        return;
    case ARG_OPTPATH:
        check_path(o, v);
        *(const char **)field = v;
        return;
    }
}

/* DESIGN §3.1: option values never start with '-' (no option takes a number
 * that may be negative), so `--sni -q` is a forgotten value, not a name.
 * "-" alone is a value (stdin, stdout). Numbers keep their own message
 * ("expected N, a whole number ..."), which says the same. */
static void check_not_option(const struct option *o, const char *v)
{
    if (v[0] != '-' || !v[1] || o->type == ARG_UINT)
        return;
    const char *file = o->arg && (!strcmp(o->arg, "FILE") || !strcmp(o->arg, "DIR"))
                           ? "; for a name that starts with '-', write ./"
                           : "";
    es_usage_error("--%s: expected %s, got '%s', which looks like an option (values never start "
                   "with '-'%s%s)",
                   o->name, o->choices ? o->choices : o->arg, v, file, *file ? v : "");
}

/* Cross-option checks that the table cannot express. */
static void check_deadlines(const struct es_config *cfg)
{
    if (!(cfg->cmd & (ES_CMD_SCAN | ES_CMD_BENCH | ES_CMD_ENUM)) || !cfg->connect_timeout_ms)
        return;
    if (cfg->connect_timeout_ms > cfg->timeout_ms)
        es_usage_error("--connect-timeout %llu is larger than --timeout %llu: the whole-probe "
                       "deadline includes the connect; lower --connect-timeout or raise --timeout",
                       (unsigned long long)cfg->connect_timeout_ms,
                       (unsigned long long)cfg->timeout_ms);
}

/* Finds the row for a long or short name in the current command. *other is set
 * when the option exists but belongs to other subcommands. */
static const struct option *find(const char *lng, size_t lnglen, char shrt, bool *other)
{
    *other = false;
    for (size_t i = 0; i < ES_ARRAY_LEN(options); i++) {
        const struct option *o = &options[i];
        bool match = lng ? strlen(o->name) == lnglen && memcmp(o->name, lng, lnglen) == 0
                         : o->short_name && o->short_name == shrt;
        if (!match)
            continue;
        if (o->commands & current->cmd)
            return o;
        *other = true;
    }
    return NULL;
}

static _Noreturn void unknown(const char *word, bool other)
{
    if (other)
        es_usage_error("option '%s' is not an option of %s (see edgeshake %s --help)", word,
                       current->name, current->name);
    es_usage_error("unknown option '%s' (see edgeshake %s --help)", word, current->name);
}

static void print_version(void)
{
    printf("edgeshake %s\n", ES_VERSION);
    printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("fast key decoding: %s\n", es_tls_keydecode_text(es_tls_fast_key_decode_state()));
}

static void apply_defaults(struct es_config *cfg)
{
    for (size_t i = 0; i < ES_ARRAY_LEN(options); i++) {
        const struct option *o = &options[i];
        if ((o->commands & current->cmd) && o->def && o->type != ARG_LIST &&
            o->type != ARG_LISTCHOICE && o->type != ARG_OPTPATH)
            set_value(cfg, o, o->def);
    }
}

void es_cli_parse(int argc, char **argv, struct es_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->argc = argc;
    cfg->argv = argv;
    current = NULL;
    if (argc < 2) {
        es_cli_help(stderr, ES_CMD_NONE);
        exit(ES_EXIT_USAGE);
    }
    const char *word = argv[1];
    if (!strcmp(word, "--help") || !strcmp(word, "-h") || !strcmp(word, "help")) {
        es_cli_help(stdout, ES_CMD_NONE);
        exit(ES_EXIT_OK);
    }
    if (!strcmp(word, "--version") || !strcmp(word, "-V")) {
        print_version();
        exit(ES_EXIT_OK);
    }
    for (size_t i = 0; i < ES_ARRAY_LEN(commands); i++)
        if (!strcmp(word, commands[i].name))
            current = &commands[i];
    if (!current)
        es_usage_error("unknown command '%s'; expected scan, report, bench, lab, demo or enum "
                       "(see edgeshake --help)",
                       word);
    cfg->cmd = current->cmd;
    apply_defaults(cfg);

    bool only_args = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || !a[1]) {
            strlist_add(&cfg->args, a);
            continue;
        }
        if (!strcmp(a, "--")) {
            only_args = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            es_cli_help(stdout, current->cmd);
            exit(ES_EXIT_OK);
        }
        if (!strcmp(a, "--version")) {
            print_version();
            exit(ES_EXIT_OK);
        }
        const struct option *o;
        const char *inline_val = NULL;
        bool other;
        char shown[64];
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            snprintf(shown, sizeof shown, "--%.*s", (int)(len > 40 ? 40 : len), name);
            o = find(name, len, 0, &other);
            if (!o)
                unknown(shown, other);
            if (eq)
                inline_val = eq + 1;
        } else {
            snprintf(shown, sizeof shown, "-%c", a[1]);
            o = find(NULL, 0, a[1], &other);
            if (!o)
                unknown(shown, other);
            if (a[2])
                inline_val = a + 2;
        }
        if (o->type == ARG_OPTPATH) {
            if (!inline_val && i + 1 < argc && argv[i + 1][0] == '/')
                inline_val = argv[++i];
            set_value(cfg, o, inline_val ? inline_val : o->def);
            continue;
        }
        if (o->type == ARG_FLAG) {
            if (inline_val)
                es_usage_error("--%s takes no value, got '%s'", o->name, inline_val);
            set_value(cfg, o, NULL);
            continue;
        }
        if (!inline_val) {
            if (i + 1 >= argc)
                es_usage_error("--%s needs an argument: %s", o->name, o->arg);
            inline_val = argv[++i];
        }
        check_not_option(o, inline_val);
        set_value(cfg, o, inline_val);
    }
    check_deadlines(cfg);
    if (cfg->args.n < current->min_args || cfg->args.n > current->max_args) {
        if (current->max_args == 0)
            es_usage_error("unexpected argument '%s'; usage: edgeshake %s %s", cfg->args.v[0],
                           current->name, current->usage);
        if (cfg->args.n < current->min_args)
            es_usage_error("missing argument; usage: edgeshake %s %s", current->name,
                           current->usage);
        es_usage_error("too many arguments ('%s'); usage: edgeshake %s %s",
                       cfg->args.v[current->max_args], current->name, current->usage);
    }
}

/* Prints text from column `col` on, wrapping at 79 columns with continuation
 * lines indented to `indent`. */
static void wrap(FILE *f, const char *text, int col, int indent)
{
    while (*text) {
        while (*text == ' ')
            text++;
        size_t word = strcspn(text, " ");
        if (col > indent && col + 1 + (int)word > 79) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", (int)word, text);
        col += (int)word;
        text += word;
    }
    fputc('\n', f);
}

void es_cli_free(struct es_config *cfg)
{
    struct es_strlist *lists[] = {&cfg->args,         &cfg->resolvers, &cfg->tls,
                                  &cfg->alpn,         &cfg->sni,       &cfg->ciphers,
                                  &cfg->ciphersuites, &cfg->groups,    &cfg->hello,
                                  &cfg->baseline};
    for (size_t i = 0; i < ES_ARRAY_LEN(lists); i++) {
        free(lists[i]->v);
        lists[i]->v = NULL;
        lists[i]->n = lists[i]->cap = 0;
    }
}

static void help_option(FILE *f, const struct option *o)
{
    enum { INDENT = 31 };
    char left[96], text[512];
    int n;
    if (o->short_name)
        n = snprintf(left, sizeof left, "  -%c, --%s", o->short_name, o->name);
    else
        n = snprintf(left, sizeof left, "      --%s", o->name);
    if (o->arg && n > 0 && (size_t)n < sizeof left)
        snprintf(left + n, sizeof left - (size_t)n, " %s", o->arg);
    if (strlen(left) >= INDENT)
        fprintf(f, "%s\n%*s", left, INDENT, "");
    else
        fprintf(f, "%-*s", INDENT, left);
    const char *def = o->shown ? o->shown : o->def;
    if (def)
        snprintf(text, sizeof text, "%s [%s]", o->help, def);
    else
        snprintf(text, sizeof text, "%s", o->help);
    wrap(f, text, INDENT, INDENT);
}

void es_cli_help(FILE *f, enum es_command cmd)
{
    if (cmd == ES_CMD_NONE) {
        fprintf(f,
                "edgeshake %s - sweep every edge of a TLS fleet with every ClientHello variant\n\n"
                "usage:\n",
                ES_VERSION);
        for (size_t i = 0; i < ES_ARRAY_LEN(commands); i++)
            fprintf(f, "  edgeshake %-6s %s\n%*s%s\n", commands[i].name, commands[i].usage, 19, "",
                    commands[i].summary);
        fprintf(f, "  edgeshake --version | --help | COMMAND --help\n");
        return;
    }
    const struct command *c = NULL;
    for (size_t i = 0; i < ES_ARRAY_LEN(commands); i++)
        if (commands[i].cmd == cmd)
            c = &commands[i];
    if (!c)
        return;
    fprintf(f, "usage: edgeshake %s %s\n%s\n\noptions:\n", c->name, c->usage, c->summary);
    for (size_t i = 0; i < ES_ARRAY_LEN(options); i++)
        if (options[i].commands & cmd)
            help_option(f, &options[i]);
    fprintf(f, "  -h, --help                   this help\n");
}
