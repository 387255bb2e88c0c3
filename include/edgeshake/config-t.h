/* config-t.h - the frozen configuration of one edgeshake invocation.
 *
 * cli.c fills it from the option table (one field per option), validates it,
 * and hands it read-only to the subcommand. Strings point into argv or into
 * the table's default strings and live as long as the process. */
#ifndef EDGESHAKE_CONFIG_T_H
#define EDGESHAKE_CONFIG_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum es_command {
    ES_CMD_NONE = 0,
    ES_CMD_SCAN = 1u << 0,
    ES_CMD_REPORT = 1u << 1,
    ES_CMD_BENCH = 1u << 2,
    ES_CMD_LAB = 1u << 3,
    ES_CMD_DEMO = 1u << 4,
    ES_CMD_ENUM = 1u << 5,
};

/* A repeatable option's values, in command-line order. */
struct es_strlist {
    const char **v;
    size_t n, cap;
};

struct es_config {
    enum es_command cmd;
    struct es_strlist args; /* positional words */
    int argc;               /* the whole command line, for FILE.meta.json */
    char *const *argv;

    /* scan: targets and planning */
    const char *input_file; /* -i */
    const char *edges_file; /* --edges */
    uint64_t port;
    struct es_strlist resolvers;
    const char *family; /* "4" | "6" | "both" */
    struct es_strlist tls, alpn, sni, ciphers, ciphersuites, groups, hello;
    uint64_t repeat;
    bool h2_check;
    const char *http_check; /* --http-check PATH; NULL = off */
    const char *ca_file;
    bool no_verify;
    uint64_t timeout_ms, connect_timeout_ms, dns_timeout_ms, dns_retries;
    uint64_t concurrency, threads, rate, per_ip;
    const char *output;
    const char *format; /* NULL = decide from the output name / TTY */
    const char *shard;  /* "I/N" */
    uint64_t shards;
    const char *vantage;
    const char *keylog;
    bool progress, quiet, dry_run;

    /* enum */
    bool per_host;

    /* report */
    uint64_t min_repeat;
    uint64_t expiry_days; /* --expiry-days: `expiry` findings within this many days */
    const char *fail_on;
    bool skip_bad_rows;
    bool by_host;                /* --by-host: list the host findings fleet findings fold */
    struct es_strlist baseline; /* --baseline FILE, repeatable */

    /* bench */
    uint64_t handshakes, duration_s;
    const char *bench_tls;
    const char *bench_hello;

    /* lab */
    const char *state_dir;

    /* demo */
    const char *out_dir;
};

#endif
