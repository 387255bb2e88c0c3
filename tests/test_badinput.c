/* test_badinput.c - bad input everywhere (issue 8, item 5; DESIGN §5): each
 * case runs the real binary and expects exit 2, one clear message naming the
 * flag (or FILE:LINE), nothing on stdout and no packet sent.
 *
 *  - "flags": every option of every subcommand that takes a value, with bad
 *    values. The table is checked against `edgeshake CMD --help` (generated
 *    from src/cli.c's option table): an option added there without a row here
 *    fails test_flag_coverage.
 *  - "targets": target and --edges files with binary garbage, NUL bytes,
 *    megabyte lines, invalid UTF-8 and control bytes.
 *  - "specs": broken lab specs through `edgeshake lab` (FILE:LINE, no state
 *    dir written).
 *  - "report": truncated CSV and JSONL (FILE:LINE; --skip-bad-rows skips the
 *    row), wrong columns, short rows, empty and garbage files; and, as
 *    controls, a header-only file and a CSV and a JSONL file in one run.
 *
 * "Nothing sent": a UDP socket on the resolver address and a TCP listener on
 * the edge address every scan and bench case names (127.60.6.0/24) must have
 * received nothing after each case. The report TCase scans a small lab on
 * 127.60.7.0/24 for its input files.
 *
 * Known exceptions, tested as such: an output path that cannot be created
 * (-o /nonexistent/dir/f) is exit 1, "cannot write PATH: REASON" (DESIGN
 * §3.1: a fatal run-time error naming the cause), still before any packet. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgeshake/util.h"
#include "testlib.h"

#define RESOLVER_IP "127.60.6.53"
#define RESOLVER    "lab=" RESOLVER_IP ":5353"
#define EDGE_IP     "127.60.6.1"
#define TARGET      "x.test:8443@" EDGE_IP

/* ------------------------------------------------------------------------ */
/* Listeners that must hear nothing, and files, made once for all cases.     */

static int udp_fd = -1, tcp_fd = -1;
static char *dir;       /* scratch files */
static char *scan_file; /* a valid scan CSV (dry-run rows) for report cases */
static char *spec_file; /* a valid lab spec for lab cases */

static int bound_socket(int type, const char *ip, uint16_t port)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s:%u: %s", ip, port,
                  strerror(errno));
    if (type == SOCK_STREAM)
        ck_assert_int_eq(listen(fd, 64), 0);
    return fd;
}

/* Writes len bytes (NULs included) to dir/name; returns the malloc'd path. */
static char *write_bytes(const char *name, const void *data, size_t len)
{
    char *path;
    ck_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void common_setup(void)
{
    udp_fd = bound_socket(SOCK_DGRAM, RESOLVER_IP, 5353);
    tcp_fd = bound_socket(SOCK_STREAM, EDGE_IP, 8443);
    dir = tl_tmpdir();
    spec_file = tl_write_file(dir, "ok.lab", "edge 127.60.6.9:8443 cert=x.test\n");
    ck_assert(asprintf(&scan_file, "%s/ok.csv", dir) > 0);
    const char *argv[] = {"scan", "-q", "--dry-run", "-o", scan_file, TARGET, NULL};
    char *err;
    ck_assert_int_eq(tl_run(argv, NULL, NULL, &err, 20000), 0);
    free(err);
}

static void common_teardown(void)
{
    close(udp_fd);
    close(tcp_fd);
    tl_rmtree(dir);
    free(dir);
    free(spec_file);
    free(scan_file);
}

/* Nothing reached the resolver or the edge. */
static void assert_nothing_sent(const char *what)
{
    char buf[512];
    ssize_t r = recv(udp_fd, buf, sizeof buf, 0);
    ck_assert_msg(r < 0 && errno == EAGAIN, "%s: a DNS query reached the resolver", what);
    int c = accept(tcp_fd, NULL, NULL);
    ck_assert_msg(c < 0 && errno == EAGAIN, "%s: a connection reached the edge", what);
}

/* Runs argv (NULL-terminated, without the program) and checks the bad-input
 * contract: exit `want_status`, `want` in the message, stdout empty. */
static void expect_bad(const char *const *argv, const char *stdin_text, int want_status,
                       const char *want, const char *what)
{
    char *out, *err;
    int status = tl_run(argv, stdin_text, &out, &err, 20000);
    ck_assert_msg(status == want_status, "%s: exit %d, want %d: %s", what, status, want_status,
                  err);
    ck_assert_msg(strstr(err, want) != NULL, "%s: '%s' not in: %s", what, want, err);
    ck_assert_msg(out[0] == '\0', "%s: wrote to stdout: %.200s", what, out);
    /* one message: every line of stderr is from edgeshake */
    for (const char *l = err; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        ck_assert_msg(!strncmp(l, "edgeshake", 9), "%s: stray stderr line: %s", what, l);
    free(out);
    free(err);
    assert_nothing_sent(what);
}

/* ------------------------------------------------------------------------ */
/* Every flag with a bad value.                                              */

enum base { B_SCAN, B_REPORT, B_BENCH, B_LAB, B_DEMO, B_ENUM };

struct flagcase {
    enum base base; /* the subcommand, and the valid arguments around the flag */
    const char *flag, *value;
    const char *msg; /* must appear in the message; names the flag */
};

static const char *const commands[] = {"scan", "report", "bench", "lab", "demo", "enum"};

static const struct flagcase flagcases[] = {
    /* scan: targets */
    {B_SCAN, "--input", "/nonexistent/targets",
     "-i cannot open /nonexistent/targets: No such file"},
    {B_SCAN, "-i", "/", "/: read error: Is a directory"},
    {B_SCAN, "--edges", "/nonexistent/edges", "--edges cannot open /nonexistent/edges"},
    {B_SCAN, "--edges", "", "--edges: expected FILE, got an empty value"},
    {B_SCAN, "--port", "0", "--port: expected N, a whole number from 1 to 65535, got '0'"},
    {B_SCAN, "-p", "65536", "--port: expected N, a whole number from 1 to 65535, got '65536'"},
    {B_SCAN, "--port", "443x", "--port: expected N, a whole number from 1 to 65535, got '443x'"},
    {B_SCAN, "--port", "-1", "--port: expected N"},
    {B_SCAN, "--resolver", "eu", "-r 'eu'"},
    {B_SCAN, "-r", "eu=300.1.1.1", "-r 'eu=300.1.1.1'"},
    {B_SCAN, "-r", "eu=127.0.0.1,ecs=bad", "-r 'eu=127.0.0.1,ecs=bad'"},
    {B_SCAN, "--family", "5", "--family: expected one of 4|6|both, got '5'"},
    /* scan: the variant matrix */
    {B_SCAN, "--tls", "1.4", "--tls: expected one of 1.0|1.1|1.2|1.3, got '1.4'"},
    {B_SCAN, "--alpn", "h2,,x", "--alpn 'h2,,x'"},
    {B_SCAN, "--alpn", "", "--alpn: expected LIST, got an empty value"},
    {B_SCAN, "--sni", "bad name!", "--sni 'bad name!'"},
    /* a value that looks like an option: a forgotten value, not a name (DESIGN §3.1) */
    {B_SCAN, "--sni", "-q",
     "--sni: expected host|none|NAME, got '-q', which looks like an option (values never start "
     "with '-')"},
    {B_SCAN, "--alpn", "--h2-check", "--alpn: expected LIST, got '--h2-check', which looks like"},
    {B_SCAN, "--resolver", "-q", "--resolver: expected LABEL=ADDR[:PORT][,ecs=SUBNET], got '-q'"},
    {B_SCAN, "--ciphers", "NOPE", "--ciphers 'NOPE'"},
    {B_SCAN, "--ciphersuites", "NOPE", "--ciphersuites 'NOPE'"},
    {B_SCAN, "--groups", "nosuchgroup", "--groups"},
    {B_SCAN, "--hello", "pq2", "--hello: expected one of plain|pq|split, got 'pq2'"},
    {B_SCAN, "--hello", "-q", "--hello: expected plain|pq|split, got '-q', which looks like"},
    {B_SCAN, "--http-check", "/a b", "--http-check: expected PATH, a request path like /health, "
                                      "got '/a b': it holds a space"},
    {B_SCAN, "--http-check=health", "", "--http-check: expected PATH, a request path like "
                                        "/health, got 'health': it does not start with '/'"},
    {B_SCAN, "--repeat", "0", "--repeat: expected N, a whole number from 1 to 1000, got '0'"},
    {B_SCAN, "--repeat", "1001", "--repeat: expected N, a whole number from 1 to 1000"},
    /* scan: verification and deadlines */
    {B_SCAN, "--ca-file", "/nonexistent/ca.pem",
     "--ca-file /nonexistent/ca.pem: cannot load certificates: No such file or directory"},
    {B_SCAN, "--ca-file", "/etc/hostname", "--ca-file /etc/hostname: cannot load certificates"},
    {B_SCAN, "--timeout", "0", "--timeout: expected MS, a whole number from 1 to 3600000, got '0'"},
    {B_SCAN, "--timeout", "1e3", "--timeout: expected MS"},
    {B_SCAN, "--connect-timeout", "0", "--connect-timeout: expected MS"},
    {B_SCAN, "--connect-timeout", "6000",
     "--connect-timeout 6000 is larger than --timeout 5000: the whole-probe deadline includes"},
    {B_SCAN, "--dns-timeout", "x", "--dns-timeout: expected MS"},
    {B_SCAN, "--dns-retries", "21", "--dns-retries: expected N, a whole number from 0 to 20"},
    /* scan: the engine */
    {B_SCAN, "--concurrency", "0", "--concurrency: expected N, a whole number from 1 to 1000000"},
    {B_SCAN, "-c", "99999999999999999999", "--concurrency: expected N"},
    {B_SCAN, "--threads", "0", "--threads: expected N, a whole number from 1 to 1024, got '0'"},
    {B_SCAN, "-t", "1025", "--threads: expected N"},
    {B_SCAN, "--rate", "-5", "--rate: expected N, a whole number from 0 to 100000000"},
    {B_SCAN, "--per-ip", "1000001", "--per-ip: expected N, a whole number from 0 to 1000000"},
    /* scan: output */
    {B_SCAN, "--output", "", "--output: expected FILE, got an empty value"},
    {B_SCAN, "--format", "xml", "--format: expected one of csv|jsonl, got 'xml'"},
    {B_SCAN, "--format", "-q",
     "--format: expected csv|jsonl, got '-q', which looks like an option"},
    {B_SCAN, "-o", "-q",
     "--output: expected FILE, got '-q', which looks like an option (values never start with '-'; "
     "for a name that starts with '-', write ./-q)"},
    {B_SCAN, "--vantage", "--dry-run", "--vantage: expected LABEL, got '--dry-run'"},
    {B_SCAN, "--shard", "4/4", "--shard 4/4"},
    {B_SCAN, "--shard", "x", "--shard x: expected I/N"},
    {B_SCAN, "--shards", "0", "--shards: expected N, a whole number from 1 to 1000000"},
    {B_SCAN, "--vantage", "", "--vantage: expected LABEL, got an empty value"},
    {B_SCAN, "--vantage", "eu\nwest", "--vantage: control character 0x0a at byte 2"},
    {B_SCAN, "--vantage", "eu\twest", "--vantage: control character 0x09 at byte 2"},
    {B_SCAN, "--keylog", "/nonexistent/dir/keys", "--keylog /nonexistent/dir/keys: No such file"},
    {B_SCAN, "--keylog", "", "--keylog: expected FILE, got an empty value"},
    /* report */
    {B_REPORT, "--output", "", "--output: expected FILE, got an empty value"},
    {B_REPORT, "--format", "pdf", "--format: expected one of text|csv|json|html, got 'pdf'"},
    {B_REPORT, "--min-repeat", "0", "--min-repeat: expected N, a whole number from 1 to 1000000"},
    {B_REPORT, "--expiry-days", "0", "--expiry-days: expected N, a whole number from 1 to 3650"},
    {B_REPORT, "--expiry-days", "3w", "--expiry-days: expected N, a whole number from 1 to 3650"},
    {B_REPORT, "--fail-on", "bogus", "--fail-on: unknown kind 'bogus'"},
    {B_REPORT, "--fail-on", "node,,cert", "--fail-on: unknown kind ''"},
    {B_REPORT, "--fail-on", "", "--fail-on: expected KIND[,KIND]|new[:KIND,...], got an empty value"},
    {B_REPORT, "--fail-on", "new:bogus", "--fail-on: unknown kind 'bogus'"},
    {B_REPORT, "--fail-on", "new", "--fail-on new: needs --baseline FILE"},
    {B_REPORT, "--baseline", "", "--baseline: expected FILE, got an empty value"},
    {B_REPORT, "--baseline", "/nonexistent/base.csv", "/nonexistent/base.csv: cannot read"},
    {B_REPORT, "--by-host=yes", NULL, "--by-host takes no value, got 'yes'"},
    /* bench */
    {B_BENCH, "--ca-file", "", "--ca-file: expected FILE, got an empty value"},
    {B_BENCH, "--ca-file", "/nonexistent/ca.crt", "--ca-file /nonexistent/ca.crt: cannot load"},
    {B_BENCH, "--timeout", "x", "--timeout: expected MS"},
    {B_BENCH, "--connect-timeout", "0", "--connect-timeout: expected MS"},
    {B_BENCH, "--connect-timeout", "5001", "--connect-timeout 5001 is larger than --timeout 5000"},
    {B_BENCH, "--ca-file", "-q", "--ca-file: expected FILE, got '-q', which looks like an option"},
    {B_BENCH, "--output", "-x.json", "write ./-x.json)"},
    {B_BENCH, "--concurrency", "0", "--concurrency: expected N"},
    {B_BENCH, "--threads", "0", "--threads: expected N"},
    {B_BENCH, "--output", "", "--output: expected FILE, got an empty value"},
    {B_BENCH, "--handshakes", "0", "--handshakes: expected N, a whole number from 1 to 1000000000"},
    {B_BENCH, "-n", "ten", "--handshakes: expected N"},
    {B_BENCH, "--duration", "0", "--duration: expected S, a whole number from 1 to 86400"},
    {B_BENCH, "--tls", "1.1", "--tls: expected one of 1.2|1.3, got '1.1'"},
    {B_BENCH, "--hello", "kyber", "--hello: expected one of plain|pq|split, got 'kyber'"},
    {B_BENCH, "--format", "html", "--format: expected one of text|csv|json, got 'html'"},
    /* lab and demo */
    {B_LAB, "--state", "", "--state: expected DIR, got an empty value"},
    {B_LAB, "--state", "-q", "--state: expected DIR, got '-q', which looks like an option"},
    {B_DEMO, "--out", "", "--out: expected DIR, got an empty value"},
    {B_DEMO, "--out", "-q", "--out: expected DIR, got '-q', which looks like an option"},
    {B_REPORT, "--fail-on", "-o", "--fail-on: expected KIND[,KIND]|new[:KIND,...], got '-o', which looks like"},
    /* enum: the options it shares with scan, and its own */
    {B_ENUM, "--input", "/nonexistent/targets", "-i cannot open /nonexistent/targets"},
    {B_ENUM, "--edges", "/nonexistent/edges", "--edges cannot open /nonexistent/edges"},
    {B_ENUM, "--port", "0", "--port: expected N, a whole number from 1 to 65535, got '0'"},
    {B_ENUM, "--resolver", "eu", "-r 'eu'"},
    {B_ENUM, "--family", "5", "--family: expected one of 4|6|both, got '5'"},
    {B_ENUM, "--timeout", "0", "--timeout: expected MS, a whole number from 1 to 3600000"},
    {B_ENUM, "--connect-timeout", "6000", "--connect-timeout 6000 is larger than --timeout 5000"},
    {B_ENUM, "--dns-timeout", "x", "--dns-timeout: expected MS"},
    {B_ENUM, "--dns-retries", "21", "--dns-retries: expected N, a whole number from 0 to 20"},
    {B_ENUM, "--concurrency", "0", "--concurrency: expected N"},
    {B_ENUM, "--threads", "0", "--threads: expected N"},
    {B_ENUM, "--rate", "-5", "--rate: expected N"},
    {B_ENUM, "--per-ip", "1000001", "--per-ip: expected N, a whole number from 0 to 1000000"},
    {B_ENUM, "--output", "", "--output: expected FILE, got an empty value"},
    {B_ENUM, "--format", "html", "--format: expected one of csv|jsonl, got 'html'"},
    {B_ENUM, "--shard", "4/4", "--shard 4/4"},
    {B_ENUM, "--shards", "0", "--shards: expected N, a whole number from 1 to 1000000"},
    {B_ENUM, "--vantage", "eu\nwest", "--vantage: control character 0x0a at byte 2"},
    {B_ENUM, "--per-host=yes", "name.test", "--per-host takes no value, got 'yes'"},
    {B_ENUM, "--groups", "X25519:P-999", "--groups: unknown group 'P-999'; expected names from X25519:P-256"},
    {B_ENUM, "--tls", "1.2", "option '--tls' is not an option of enum"},
};

/* argv for a flag case: the command, the flag and value, the valid rest. */
static size_t flag_argv(const struct flagcase *c, const char **argv)
{
    size_t n = 0;
    argv[n++] = commands[c->base];
    argv[n++] = c->flag;
    if (c->value) /* NULL: a flag without a value, given one inline ("--by-host=yes") */
        argv[n++] = c->value;
    switch (c->base) {
    case B_SCAN: /* a DNS target and a direct one: a scan that went on would send */
        argv[n++] = "-r";
        argv[n++] = RESOLVER;
        argv[n++] = "--dns-timeout";
        argv[n++] = "200";
        argv[n++] = "name.test";
        argv[n++] = TARGET;
        break;
    case B_REPORT: argv[n++] = scan_file; break;
    case B_BENCH: argv[n++] = TARGET; break;
    case B_LAB: argv[n++] = spec_file; break;
    case B_DEMO: break;
    case B_ENUM: /* as scan: an enumeration that went on would send */
        argv[n++] = "-r";
        argv[n++] = RESOLVER;
        argv[n++] = "--dns-timeout";
        argv[n++] = "200";
        argv[n++] = "name.test";
        argv[n++] = TARGET;
        break;
    }
    argv[n] = NULL;
    return n;
}

START_TEST(test_flag)
{
    const struct flagcase *c = &flagcases[_i];
    const char *argv[16];
    flag_argv(c, argv);
    char what[128];
    snprintf(what, sizeof what, "%s %s '%s'", commands[c->base], c->flag,
             c->value ? c->value : "");
    expect_bad(argv, NULL, 2, c->msg, what);
}
END_TEST

/* The long name of a flag as the table spells it: "--port" -> "port",
 * "-p" -> "port". False for a short name this table does not use. */
static bool long_name(const char *flag, char *longname, size_t len)
{
    static const struct {
        const char *shrt, *lng;
    } shorts[] = {{"-i", "input"},   {"-p", "port"},   {"-r", "resolver"},  {"-c", "concurrency"},
                  {"-t", "threads"}, {"-o", "output"}, {"-n", "handshakes"}};
    if (!strncmp(flag, "--", 2)) {
        snprintf(longname, len, "%s", flag + 2);
        return true;
    }
    for (size_t i = 0; i < ES_ARRAY_LEN(shorts); i++)
        if (!strcmp(flag, shorts[i].shrt)) {
            snprintf(longname, len, "%s", shorts[i].lng);
            return true;
        }
    return false;
}

/* Each option with a value in `edgeshake CMD --help` has a row above. */
START_TEST(test_flag_coverage)
{
    const char *cmd = commands[_i];
    const char *argv[] = {cmd, "--help", NULL};
    char *out;
    ck_assert_int_eq(tl_run(argv, NULL, &out, NULL, 10000), 0);
    size_t checked = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        /* "  -p, --port N    help..." or "      --edges FILE  help..." */
        if (strncmp(line, "  -", 3) && strncmp(line, "      --", 8))
            continue;
        /* The option part is the first 31 columns when help follows on the
         * line, else the whole line (cli.c's help_option). */
        char left[128];
        size_t ll = strlen(line) > 31 && line[30] == ' ' ? 31 : strlen(line);
        snprintf(left, sizeof left, "%.*s", (int)ll, line);
        char *dash = strstr(left, "--");
        ck_assert_ptr_nonnull(dash);
        char name[64], arg[96] = "";
        ck_assert_int_ge(sscanf(dash + 2, "%63s %95s", name, arg), 1);
        if (!arg[0] || !strcmp(name, "help"))
            continue; /* a flag without a value */
        bool covered = false;
        for (size_t i = 0; i < ES_ARRAY_LEN(flagcases); i++) {
            char lng[64];
            if (strcmp(commands[flagcases[i].base], cmd) == 0 &&
                long_name(flagcases[i].flag, lng, sizeof lng) && !strcmp(lng, name))
                covered = true;
        }
        ck_assert_msg(covered, "edgeshake %s --%s %s has no bad-value case", cmd, name, arg);
        checked++;
    }
    ck_assert_uint_gt(checked, 0);
    free(out);
}
END_TEST

/* -o that cannot be created: exit 1, the path and the reason, no packet. */
START_TEST(test_output_unwritable)
{
    const char *scan[] = {"scan", "-o", "/nonexistent/dir/out.csv", "-r", RESOLVER, "name.test",
                          TARGET, NULL};
    expect_bad(scan, NULL, 1, "cannot write /nonexistent/dir/out.csv: No such file or directory",
               "scan -o");
    const char *enumr[] = {"enum", "-o", "/nonexistent/dir/out.csv", "-r", RESOLVER, "name.test",
                           TARGET, NULL};
    expect_bad(enumr, NULL, 1, "cannot write /nonexistent/dir/out.csv: No such file or directory",
               "enum -o");
    const char *report[] = {"report", "-o", "/nonexistent/dir/out.txt", scan_file, NULL};
    expect_bad(report, NULL, 1, "cannot write /nonexistent/dir/out.txt: No such file or directory",
               "report -o");
    /* bench finds out before it runs a single handshake. */
    const char *bench[] = {"bench", "-o", "/nonexistent/dir/out.json", TARGET, NULL};
    expect_bad(bench, NULL, 1, "cannot write /nonexistent/dir/out.json: No such file or directory",
               "bench -o");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Target files.                                                             */

/* Deterministic "binary garbage": xorshift64 bytes. */
static void garbage(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        p[i] = (uint8_t)seed;
    }
}

enum content {
    C_GARBAGE,      /* 4 KiB of random bytes */
    C_NUL,          /* a NUL inside line 2 */
    C_MEGALINE,     /* line 2 is 1 MiB */
    C_MEGALINE_EOF, /* line 2 is 1 MiB without a line end */
    C_UTF8,         /* an invalid UTF-8 byte in line 3 */
    C_CONTROL,      /* a control byte in line 2 */
    C_SPACE,        /* two words on line 2 */
};

struct filecase {
    enum content content;
    const char *via; /* "-i", "--edges" or "stdin" */
    const char *msg; /* after "FILE:" */
};

static const struct filecase filecases[] = {
    {C_GARBAGE, "-i", ":1: "},
    {C_NUL, "-i", ":2: NUL byte in line"},
    {C_MEGALINE, "-i", ":2: line longer than 4096 bytes"},
    {C_MEGALINE_EOF, "-i", ":2: line longer than 4096 bytes"},
    {C_UTF8, "-i", ":3: non-ASCII host name; use its punycode (xn--) form"},
    {C_CONTROL, "-i", ":2: bad character '\\x01' in host name"},
    {C_SPACE, "-i", ":2: whitespace inside a target; one target per line"},
    {C_SPACE, "stdin", "<stdin>:2: whitespace inside a target; one target per line"},
    {C_GARBAGE, "--edges", ":1: "},
    {C_NUL, "--edges", ":2: NUL byte in line"},
    {C_MEGALINE, "--edges", ":2: line longer than 4096 bytes"},
};

/* The content of a case, NUL-terminated; *len set. Line 1 is always a good
 * target (or a good edge for --edges) except for garbage. */
static uint8_t *make_content(enum content c, bool edges, size_t *len)
{
    const char *first = edges ? "127.60.6.1\n" : "ok.test:8443@127.60.6.1\n";
    size_t fl = strlen(first), mega = 1 << 20;
    uint8_t *p = malloc(mega + 256);
    size_t n = 0;
    if (c == C_GARBAGE) {
        garbage(p, 4096, 0x9E3779B97F4A7C15ull);
        /* the first line must not parse: start it with a byte no target has */
        p[0] = 0xff;
        p[4096] = '\0';
        *len = 4096;
        return p;
    }
    memcpy(p, first, fl);
    n = fl;
    switch (c) {
    case C_NUL: memcpy(p + n, "b\0d.test\n", 9), n += 9; break;
    case C_MEGALINE:
    case C_MEGALINE_EOF:
        memset(p + n, 'a', mega);
        n += mega;
        if (c == C_MEGALINE)
            p[n++] = '\n';
        break;
    case C_UTF8: memcpy(p + n, "two.test\nh\xff.test\n", 17), n += 17; break;
    case C_CONTROL: memcpy(p + n, "a\x01.test\n", 8), n += 8; break;
    case C_SPACE: memcpy(p + n, "a.test b.test\n", 14), n += 14; break;
    case C_GARBAGE: break;
    }
    p[n] = '\0';
    *len = n;
    return p;
}

START_TEST(test_target_file)
{
    const struct filecase *c = &filecases[_i];
    bool edges = !strcmp(c->via, "--edges"), in = !strcmp(c->via, "stdin");
    size_t len;
    uint8_t *data = make_content(c->content, edges, &len);
    char name[32];
    snprintf(name, sizeof name, "targets-%d.bin", _i);
    char *path = write_bytes(name, data, len);
    const char *argv[16];
    size_t n = 0;
    argv[n++] = "scan";
    argv[n++] = "-r";
    argv[n++] = RESOLVER;
    if (edges) {
        argv[n++] = "--edges";
        argv[n++] = path;
        argv[n++] = "name.test";
    } else {
        argv[n++] = "-i";
        argv[n++] = in ? "-" : path;
    }
    argv[n] = NULL;
    char want[512];
    snprintf(want, sizeof want, "%s%s%s", edges ? "--edges " : "", in ? "" : path, c->msg);
    char what[64];
    snprintf(what, sizeof what, "target file case %d", _i);
    /* stdin gets the text through a pipe: small, NUL-free contents only */
    expect_bad(argv, in ? (const char *)data : NULL, 2, want, what);
    free(path);
    free(data);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Broken lab specs through the binary.                                      */

struct speccase {
    const char *text; /* NULL: binary garbage */
    size_t len;       /* 0: strlen(text) */
    const char *msg;  /* after "FILE:" */
};

#define S(x) x, sizeof x - 1

static const struct speccase speccases[] = {
    {S("edge 127.60.6.9:8443 fault=explode\n"),
     ":1: bad value 'explode' for edge option 'fault'; expected "
     "fault=refuse|blackhole|reset|garbage|http|drip|close|hugechain|sni_router"},
    {S("edge 192.0.2.1:443\n"), ":1: edge address 192.0.2.1:443 is not loopback"},
    {S("edge 127.60.6.9:8443\nedge 127.60.6.9:8443\n"),
     ":2: edge address 127.60.6.9:8443 already declared on line 1"},
    {S("edge 127.60.6.9:8443\nhost a.test eu=127.60.6.9\n"),
     ":2: host 'a.test' has a rule for resolver 'eu', but no resolver line declares that label"},
    {S("edge 127.60.6.9:8443\nedge 127.60.6.8:84\00043\n"), ":2: NUL byte 0x00 at byte 19"},
    {S("edge 127.60.6.9:8443 cert=a\xff.test\n"), ":1: invalid UTF-8 0xff at byte 28"},
    {S("frontend x\n"), ":1: unknown declaration 'frontend'; expected resolver, host or edge"},
    {S(""), ":1: the spec declares no resolver and no edge"},
    {S("# only a comment\n\n"), ":2: the spec declares no resolver and no edge"},
    {S("edge 127.60.6.9:8443 alpn_stric=yes\n"), ":1: unknown edge option 'alpn_stric'"},
    {S("edge 127.60.6.9:8443 delay=600001\n"), ":1: "},
    {S("edge 127.60.6.9:8443 max_hello=10\n"),
     ":1: bad value '10' for edge option 'max_hello'; expected max_hello=BYTES"},
    {S("edge 127.60.6.9:8443 http_status=0\n"),
     ":1: bad value '0' for edge option 'http_status'; expected http_status=N"},
    {S("edge 127.60.6.9:8443 clock_skew=soon\n"),
     ":1: bad value 'soon' for edge option 'clock_skew'; expected clock_skew=S"},
    {NULL, 0, ":1: "},               /* binary garbage */
    {NULL, 1 << 20, ":1: line is "}, /* one 1 MiB line */
};

START_TEST(test_lab_spec)
{
    const struct speccase *c = &speccases[_i];
    size_t len = c->len;
    uint8_t *data = malloc((1 << 20) + 64);
    if (c->text) {
        memcpy(data, c->text, len);
    } else if (len == 0) {
        garbage(data, len = 4096, 42);
        data[0] = 0xfe; /* not UTF-8: the first line is bad at once */
    } else {
        memcpy(data, "edge 127.60.6.9:8443 cert=", 26);
        memset(data + 26, 'a', len - 27);
        data[len - 1] = '\n';
    }
    char name[32], state[600];
    snprintf(name, sizeof name, "bad-%d.lab", _i);
    char *path = write_bytes(name, data, len);
    snprintf(state, sizeof state, "%s/state-%d", dir, _i);
    const char *argv[] = {"lab", path, "--state", state, NULL};
    char want[700], what[64];
    snprintf(want, sizeof want, "edgeshake lab: %s%s", path, c->msg);
    snprintf(what, sizeof what, "lab spec case %d", _i);
    expect_bad(argv, NULL, 2, want, what);
    struct stat st; /* nothing started: no state dir, so no `ready` */
    ck_assert_msg(stat(state, &st) != 0, "%s: the state dir was made", what);
    free(path);
    free(data);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* report on bad files.                                                      */

static const char report_spec[] = "# test_badinput: 127.60.7.0/24\n"
                                  "edge 127.60.7.1:8443 cert=h.test\n"
                                  "edge 127.60.7.2:8443 cert=h.test tls=1.2\n";

static struct tl_lab lab;
static char *full_csv, *full_jsonl, *ok_csv, *alert_jsonl;

static char *scan_to(const char *name, const char *const *targets, bool both_versions)
{
    char *path;
    ck_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    const char *argv[16] = {"scan", "-q", "--no-verify", "--tls", "1.3", "-o", path};
    size_t n = 7;
    if (both_versions) {
        argv[n++] = "--tls";
        argv[n++] = "1.2";
        argv[n++] = "--repeat";
        argv[n++] = "2";
    }
    for (; *targets; targets++)
        argv[n++] = *targets;
    argv[n] = NULL;
    char *err;
    int status = tl_run(argv, NULL, NULL, &err, 30000);
    ck_assert_msg(status == 0, "scan %s: %s", name, err);
    free(err);
    return path;
}

static void report_setup(void)
{
    common_setup();
    tl_lab_start(&lab, report_spec);
    const char *both[] = {"h.test:8443@127.60.7.1", "h.test:8443@127.60.7.2", NULL};
    const char *one[] = {"h.test:8443@127.60.7.1", NULL};
    const char *two[] = {"h.test:8443@127.60.7.2", NULL};
    full_csv = scan_to("full.csv", both, true);
    full_jsonl = scan_to("full.jsonl", both, true);
    ok_csv = scan_to("ok-edge.csv", one, false);
    alert_jsonl = scan_to("alert-edge.jsonl", two, false);
}

static void report_teardown(void)
{
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
    free(full_csv);
    free(full_jsonl);
    free(ok_csv);
    free(alert_jsonl);
    common_teardown();
}

enum rmut {
    R_CUT_FIELD,  /* cut inside the last row's time field */
    R_CUT_QUOTE,  /* cut right after the opening quote of the last row's variant */
    R_CUT_JSONL,  /* cut the last JSONL line in the middle */
    R_SHORT_ROW,  /* drop one comma from row 3 (line 4) */
    R_RENAMED,    /* the header names "state" instead of "status" */
    R_FOREIGN,    /* a CSV that is not a scan file */
    R_EMPTY,      /* an empty file */
    R_GARBAGE,    /* 4 KiB of random bytes with a NUL first */
    R_BAD_STATUS, /* a status outside the vocabulary */
};

struct reportcase {
    enum rmut mut;
    const char *msg; /* after "FILE" */
    bool skippable;  /* --skip-bad-rows reads on: exit 0, one row skipped */
};

static const struct reportcase reportcases[] = {
    {R_CUT_FIELD, ":9: 1 fields, the header has 50", true},
    {R_CUT_QUOTE, ":9: quoted field not closed before the end of the file", true},
    {R_CUT_JSONL, ":8: malformed JSON object", true},
    {R_SHORT_ROW, ":4: 49 fields, the header has 50", true},
    {R_RENAMED, ": no column 'status'; is this a scan file from edgeshake scan?", false},
    {R_FOREIGN, ": no column 'host'; is this a scan file from edgeshake scan?", false},
    {R_EMPTY, ": empty file; expected a scan file (CSV header or JSONL)", false},
    {R_GARBAGE, ":1: NUL byte in a record", false},
    {R_BAD_STATUS, ":3: status 'bogus' is not one of ok, alert, tls_error", true},
};

/* The start of the last line of text (len bytes, ending in '\n'). */
static size_t last_line(const char *text, size_t len)
{
    size_t i = len - 1;
    while (i > 0 && text[i - 1] != '\n')
        i--;
    return i;
}

/* The byte offset of line `line` (1-based). */
static size_t line_start(const char *text, int line)
{
    const char *p = text;
    for (int l = 1; l < line; l++)
        p = strchr(p, '\n') + 1;
    return (size_t)(p - text);
}

/* The byte offset of field `field` (1-based) of line `line` of a CSV text. */
static size_t field_start(const char *text, int line, int field)
{
    const char *p = text + line_start(text, line);
    bool quoted = false;
    for (int f = 1; f < field; p++) {
        ck_assert_msg(*p && *p != '\n', "line %d has fewer than %d fields", line, field);
        if (*p == '"')
            quoted = !quoted;
        else if (*p == ',' && !quoted)
            f++;
    }
    return (size_t)(p - text);
}

START_TEST(test_report_file)
{
    const struct reportcase *c = &reportcases[_i];
    size_t len;
    char *text = tl_read_file(c->mut == R_CUT_JSONL ? full_jsonl : full_csv, &len);
    ck_assert_ptr_nonnull(text);
    size_t n = len;
    switch (c->mut) {
    case R_CUT_FIELD: n = last_line(text, len) + 10; break;
    case R_CUT_QUOTE: {
        char *q = strchr(text + last_line(text, len), '"');
        ck_assert_ptr_nonnull(q);
        n = (size_t)(q - text) + 1;
        break;
    }
    case R_CUT_JSONL: n = last_line(text, len) + (len - last_line(text, len)) / 2; break;
    case R_SHORT_ROW: {
        size_t at = line_start(text, 4);
        char *comma = strchr(text + at, ',');
        memmove(comma, comma + 1, len - (size_t)(comma - text));
        n = len - 1;
        break;
    }
    case R_RENAMED: {
        char *s = strstr(text, ",status,");
        ck_assert_ptr_nonnull(s);
        memcpy(s + 1, "state_", 6);
        break;
    }
    case R_FOREIGN: n = (size_t)sprintf(text, "a,b\n1,2\n"); break;
    case R_EMPTY: n = 0; break;
    case R_GARBAGE:
        garbage((uint8_t *)text, n = 4096 < len ? 4096 : len, 7);
        text[0] = '\0';
        break;
    case R_BAD_STATUS: { /* status is field 16 of line 3 */
        char *s = text + field_start(text, 3, 16);
        size_t old = strcspn(s, ",");
        ck_assert(old == 2 || old == 5); /* "ok" or "alert" */
        memmove(s + 5, s + old, len - (size_t)(s + old - text) + 1);
        memcpy(s, "bogus", 5);
        n = len - old + 5;
        break;
    }
    }
    char name[32];
    snprintf(name, sizeof name, "report-%d.%s", _i, c->mut == R_CUT_JSONL ? "jsonl" : "csv");
    char *path = write_bytes(name, text, n);
    char want[600], what[64];
    snprintf(want, sizeof want, "edgeshake report: %s%s", path, c->msg);
    snprintf(what, sizeof what, "report case %d", _i);
    const char *argv[] = {"report", "--format", "csv", path, NULL};
    expect_bad(argv, NULL, 2, want, what);
    if (c->skippable) {
        const char *skip[] = {"report", "--format", "csv", "--skip-bad-rows", path, NULL};
        char *out, *err;
        ck_assert_int_eq(tl_run(skip, NULL, &out, &err, 20000), 0);
        ck_assert_msg(strstr(err, "skipped 1 malformed rows") != NULL, "%s: %s", what, err);
        ck_assert_msg(!strncmp(out, "kind,host,port,variant,", 23), "%s: %s", what, out);
        free(out);
        free(err);
    }
    free(path);
    free(text);
}
END_TEST

/* Controls: a header-only scan file is a scan of nothing (exit 0, no
 * finding); a CSV and a JSONL file in one run are both read (the `node`
 * finding needs the passing edge from one and the failing edge from the
 * other). */
START_TEST(test_report_good)
{
    size_t len;
    char *text = tl_read_file(full_csv, &len);
    char *hdr = write_bytes("header-only.csv", text, strcspn(text, "\n") + 1);
    const char *argv1[] = {"report", "--format", "csv", hdr, NULL};
    char *out, *err;
    ck_assert_int_eq(tl_run(argv1, NULL, &out, &err, 20000), 0);
    ck_assert_str_eq(err, "");
    ck_assert_uint_eq(strlen(out), strcspn(out, "\n") + 1); /* the header, nothing else */
    free(out);
    free(err);

    const char *argv2[] = {"report", "--format", "csv", ok_csv, alert_jsonl, NULL};
    ck_assert_int_eq(tl_run(argv2, NULL, &out, &err, 20000), 0);
    ck_assert_str_eq(err, "");
    /* the finding row, by the header's column names */
    char *nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_msg(strstr(out, "\nnode,h.test,8443,\"tls1.3/h2,http1.1/sni\",alert 70 "
                              "protocol_version,127.60.7.2,127.60.7.1,") != NULL,
                  "%s", out);
    static const char head[] = "kind,host,port,variant,failure,failing_ips,passing_ips,";
    ck_assert_msg(!strncmp(out, head, strlen(head)), "%s", out);
    free(out);
    free(err);
    free(hdr);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("badinput");

    TCase *flags = tcase_create("flags");
    tcase_add_unchecked_fixture(flags, common_setup, common_teardown);
    tcase_set_timeout(flags, 60);
    tcase_add_loop_test(flags, test_flag, 0, (int)ES_ARRAY_LEN(flagcases));
    tcase_add_loop_test(flags, test_flag_coverage, 0, (int)ES_ARRAY_LEN(commands));
    tcase_add_test(flags, test_output_unwritable);
    suite_add_tcase(s, flags);

    TCase *targets = tcase_create("targets");
    tcase_add_unchecked_fixture(targets, common_setup, common_teardown);
    tcase_set_timeout(targets, 60);
    tcase_add_loop_test(targets, test_target_file, 0, (int)ES_ARRAY_LEN(filecases));
    suite_add_tcase(s, targets);

    TCase *specs = tcase_create("specs");
    tcase_add_unchecked_fixture(specs, common_setup, common_teardown);
    tcase_set_timeout(specs, 60);
    tcase_add_loop_test(specs, test_lab_spec, 0, (int)ES_ARRAY_LEN(speccases));
    suite_add_tcase(s, specs);

    TCase *report = tcase_create("report");
    tcase_add_unchecked_fixture(report, report_setup, report_teardown);
    tcase_set_timeout(report, 60);
    tcase_add_loop_test(report, test_report_file, 0, (int)ES_ARRAY_LEN(reportcases));
    tcase_add_test(report, test_report_good);
    suite_add_tcase(s, report);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
