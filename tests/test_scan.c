/* test_scan.c - `edgeshake scan` end to end against a lab on 127.50.0.0/16:
 * DNS through every resolver (provenance, errors, ECS, families), the plan
 * (--dry-run row counts), one row per DESIGN §3.2 outcome, and bad input. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static const char *spec = "resolver eu 127.50.53.1:5353\n"
                          "resolver us 127.50.53.2:5353\n"
                          "resolver sf 127.50.53.3:5353 fault=servfail\n"
                          "resolver rf 127.50.53.4:5353 fault=refused\n"
                          "resolver dead 127.50.53.5:5353 fault=drop\n"
                          "host a.test eu=127.50.1.1,127.50.1.2 us=127.50.1.2,127.50.1.3\n"
                          "host a.test ecs:198.51.100.0/24=127.50.1.9\n"
                          "host b.test eu=127.50.2.1 us=nxdomain\n"
                          "host six.test eu=127.50.6.1,::1\n"
                          "host *.many.test eu=127.50.1.1 us=127.50.1.1,127.50.1.2\n"
                          "edge 127.50.1.1:8443 cert=a.test\n"
                          "edge 127.50.1.2:8443 cert=a.test\n"
                          "edge 127.50.1.3:8443 cert=a.test\n"
                          "edge 127.50.1.9:8443 cert=a.test\n"
                          "edge 127.50.2.1:8443 cert=b.test\n"
                          "edge 127.50.6.1:8443 cert=six.test\n"
                          "edge [::1]:18443 cert=six.test\n"
                          /* one edge per outcome, probed as x.test@IP */
                          "edge 127.50.3.1:8443 cert=x.test\n"
                          "edge 127.50.3.2:8443 cert=x.test tls=1.2\n"
                          "edge 127.50.3.3:8443 cert=x.test alpn=http/1.1 alpn_strict=yes\n"
                          "edge 127.50.3.4:8443 cert=x.test sni=strict\n"
                          "edge 127.50.3.5:8443 cert=x.test key=ecdsa ciphers=AES128-SHA\n"
                          "edge 127.50.3.6:8443 cert=x.test:expired\n"
                          "edge 127.50.3.7:8443 cert=x.test:future\n"
                          "edge 127.50.3.8:8443 cert=x.test:wrong\n"
                          "edge 127.50.3.9:8443 cert=x.test:selfsigned\n"
                          "edge 127.50.3.10:8443 cert=x.test h2=broken\n"
                          "edge 127.50.3.11:8443 fault=refuse\n"
                          "edge 127.50.3.12:8443 fault=blackhole\n"
                          "edge 127.50.3.13:8443 fault=reset\n"
                          "edge 127.50.3.14:8443 fault=garbage\n"
                          "edge 127.50.3.15:8443 fault=http\n"
                          "edge 127.50.3.16:8443 fault=drip\n"
                          "edge 127.50.3.17:8443 cert=x.test flaky=50\n";

static struct tl_lab lab;

static void lab_setup(void)
{
    tl_lab_start(&lab, spec);
}

static void lab_teardown(void)
{
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}

/* Runs `edgeshake scan ARGS` (NULL-terminated) and parses stdout. */
static int scan(struct tl_table *t, const char *const *args, char **err)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = "scan";
    argv[n++] = "-q";
    for (; *args; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    char *out;
    int status = tl_run(argv, NULL, &out, err, 60000);
    tl_table_parse(t, out);
    return status;
}

/* The row for (host, ip, variant) of attempt 1 (or a DNS row); aborts when
 * absent or twice. */
static size_t find(const struct tl_table *t, const char *host, const char *ip, const char *variant)
{
    size_t hit = (size_t)-1;
    for (size_t r = 0; r < t->nrows; r++)
        if (!strcmp(tl_cell(t, r, "host"), host) && !strcmp(tl_cell(t, r, "ip"), ip) &&
            (!variant || !strcmp(tl_cell(t, r, "variant"), variant)) &&
            (!strcmp(tl_cell(t, r, "attempt"), "1") || !strcmp(tl_cell(t, r, "attempt"), ""))) {
            ck_assert_msg(hit == (size_t)-1, "two rows for %s %s %s", host, ip, variant);
            hit = r;
        }
    ck_assert_msg(hit != (size_t)-1, "no row for %s %s %s", host, ip, variant);
    return hit;
}

START_TEST(test_dns_provenance)
{
    struct tl_table t;
    const char *args[] = {"-r",        "eu=127.50.53.1:5353",
                          "-r",        "us=127.50.53.2:5353",
                          "-p",        "8443",
                          "--tls",     "1.3",
                          "--dry-run", "a.test",
                          "b.test",    NULL};
    char *err;
    ck_assert_int_eq(scan(&t, args, &err), 0);
    /* a: 3 edges; b: 1 edge + 1 dns_error row (us says nxdomain). */
    ck_assert_uint_eq(t.nrows, 5);
    ck_assert_str_eq(tl_cell(&t, find(&t, "a.test", "127.50.1.1", NULL), "resolver"), "eu");
    ck_assert_str_eq(tl_cell(&t, find(&t, "a.test", "127.50.1.2", NULL), "resolver"), "eu;us");
    ck_assert_str_eq(tl_cell(&t, find(&t, "a.test", "127.50.1.2", NULL), "resolver_addr"),
                     "127.50.53.1:5353;127.50.53.2:5353");
    ck_assert_str_eq(tl_cell(&t, find(&t, "a.test", "127.50.1.3", NULL), "resolver_addr"),
                     "127.50.53.2:5353");
    ck_assert_str_eq(tl_cell(&t, find(&t, "a.test", "127.50.1.3", NULL), "resolver"), "us");
    size_t r = find(&t, "b.test", "", NULL);
    ck_assert_str_eq(tl_cell(&t, r, "status"), "dns_error");
    ck_assert_str_eq(tl_cell(&t, r, "error"), "nxdomain");
    ck_assert_str_eq(tl_cell(&t, r, "resolver"), "us");
    ck_assert_str_eq(tl_cell(&t, r, "resolver_addr"), "127.50.53.2:5353");
    ck_assert_str_eq(tl_cell(&t, r, "attempt"), "");
    r = find(&t, "b.test", "127.50.2.1", NULL);
    ck_assert_str_eq(tl_cell(&t, r, "status"), "planned");
    ck_assert_str_eq(tl_cell(&t, r, "variant"), "tls1.3/h2,http1.1/sni");
    ck_assert_str_eq(tl_cell(&t, r, "sni"), "b.test");
    ck_assert_str_eq(tl_cell(&t, r, "port"), "8443");
    ck_assert_str_eq(tl_cell(&t, r, "family"), "4");
    free(err);
    tl_table_free(&t);
}
END_TEST

/* Each DNS failure has its own token (issue 12 item 2): never the generic
 * dns_error. Nothing listens at 127.50.53.99:5353: ICMP port unreachable. */
START_TEST(test_dns_errors)
{
    struct tl_table t;
    const char *args[] = {"-r",
                          "sf=127.50.53.3:5353",
                          "-r",
                          "rf=127.50.53.4:5353",
                          "-r",
                          "dead=127.50.53.5:5353",
                          "-r",
                          "closed=127.50.53.99:5353",
                          "--dns-timeout",
                          "200",
                          "--dns-retries",
                          "1",
                          "--dry-run",
                          "a.test",
                          "b.test",
                          NULL};
    ck_assert_int_eq(scan(&t, args, NULL), 0);
    ck_assert_uint_eq(t.nrows, 8);
    static const char *const want[][3] = {{"sf", "servfail", "127.50.53.3:5353"},
                                          {"rf", "dns_refused", "127.50.53.4:5353"},
                                          {"dead", "dns_timeout", "127.50.53.5:5353"},
                                          {"closed", "resolver_unreachable", "127.50.53.99:5353"}};
    for (size_t i = 0; i < 4; i++) {
        size_t seen = 0;
        for (size_t r = 0; r < t.nrows; r++)
            if (!strcmp(tl_cell(&t, r, "resolver"), want[i][0])) {
                ck_assert_str_eq(tl_cell(&t, r, "status"), "dns_error");
                ck_assert_str_eq(tl_cell(&t, r, "error"), want[i][1]);
                ck_assert_str_eq(tl_cell(&t, r, "resolver_addr"), want[i][2]);
                ck_assert_str_eq(tl_cell(&t, r, "problem"), "dns");
                seen++;
            }
        ck_assert_msg(seen == 2, "%zu rows for %s", seen, want[i][0]);
    }
    tl_table_free(&t);
}
END_TEST

/* A blackholed resolver among live ones (issue 12 item 2): every host still
 * gets its edges from the live resolvers, and one dns_timeout row from the
 * dead one. 300 hosts through stdin, far more than the dead resolver's
 * share would allow if it held a shared budget. */
START_TEST(test_dead_resolver_among_live)
{
    enum { HOSTS = 300 };
    char *in = malloc(HOSTS * 32);
    size_t off = 0;
    for (int i = 0; i < HOSTS; i++)
        off += (size_t)sprintf(in + off, "h%d.many.test\n", i);
    const char *argv[] = {"scan",
                          "-q",
                          "-r",
                          "eu=127.50.53.1:5353",
                          "-r",
                          "dead=127.50.53.5:5353",
                          "-r",
                          "us=127.50.53.2:5353",
                          "--dns-timeout",
                          "300",
                          "--dns-retries",
                          "0",
                          "--tls",
                          "1.3",
                          "--dry-run",
                          "-i",
                          "-",
                          NULL};
    char *out, *err;
    ck_assert_int_eq(tl_run(argv, in, &out, &err, 60000), 0);
    struct tl_table t;
    tl_table_parse(&t, out);
    ck_assert_uint_eq(t.nrows, HOSTS * 3);
    static int seen[HOSTS][3]; /* 127.50.1.1 (eu;us), 127.50.1.2 (us), dead */
    memset(seen, 0, sizeof seen);
    for (size_t r = 0; r < t.nrows; r++) {
        int h = atoi(tl_cell(&t, r, "host") + 1);
        ck_assert(h >= 0 && h < HOSTS);
        const char *ip = tl_cell(&t, r, "ip"), *res = tl_cell(&t, r, "resolver");
        if (!strcmp(ip, "127.50.1.1")) {
            ck_assert_str_eq(res, "eu;us");
            ck_assert_str_eq(tl_cell(&t, r, "status"), "planned");
            seen[h][0]++;
        } else if (!strcmp(ip, "127.50.1.2")) {
            ck_assert_str_eq(res, "us");
            seen[h][1]++;
        } else {
            ck_assert_str_eq(ip, "");
            ck_assert_str_eq(res, "dead");
            ck_assert_str_eq(tl_cell(&t, r, "error"), "dns_timeout");
            ck_assert_str_eq(tl_cell(&t, r, "resolver_addr"), "127.50.53.5:5353");
            seen[h][2]++;
        }
    }
    for (int h = 0; h < HOSTS; h++)
        ck_assert_msg(seen[h][0] == 1 && seen[h][1] == 1 && seen[h][2] == 1, "host %d", h);
    tl_table_free(&t);
    free(err);
    free(in);
}
END_TEST

/* A host named again while it is being resolved joins its plan: another
 * port, and a HOST@IP whose (port, ip) a resolver also returned (one edge,
 * with that resolver's provenance). */
START_TEST(test_same_host_coalesced)
{
    struct tl_table t;
    const char *args[] = {"-r",          "eu=127.50.53.1:5353", "--tls",
                          "1.3",         "--dry-run",           "a.test",
                          "a.test:8443", "a.test@127.50.1.1",   NULL};
    ck_assert_int_eq(scan(&t, args, NULL), 0);
    ck_assert_uint_eq(t.nrows, 4);
    size_t n443 = 0;
    for (size_t r = 0; r < t.nrows; r++) {
        ck_assert_str_eq(tl_cell(&t, r, "resolver"), "eu");
        n443 += !strcmp(tl_cell(&t, r, "port"), "443");
    }
    ck_assert_uint_eq(n443, 2);
    tl_table_free(&t);
}
END_TEST

/* Engine rows carry the provenance too: resolver and resolver_addr. */
START_TEST(test_engine_rows_provenance)
{
    struct tl_table t;
    const char *args[] = {"-r",          "eu=127.50.53.1:5353",
                          "-r",          "us=127.50.53.2:5353",
                          "-p",          "8443",
                          "--tls",       "1.3",
                          "--alpn",      "none",
                          "--no-verify", "a.test",
                          NULL};
    ck_assert_int_eq(scan(&t, args, NULL), 0);
    ck_assert_uint_eq(t.nrows, 3);
    size_t r = find(&t, "a.test", "127.50.1.2", NULL);
    ck_assert_str_eq(tl_cell(&t, r, "status"), "ok");
    ck_assert_str_eq(tl_cell(&t, r, "resolver"), "eu;us");
    ck_assert_str_eq(tl_cell(&t, r, "resolver_addr"), "127.50.53.1:5353;127.50.53.2:5353");
    tl_table_free(&t);
}
END_TEST

START_TEST(test_ecs_and_families)
{
    struct tl_table t;
    const char *args[] = {"-r",        "eu=127.50.53.1:5353,ecs=198.51.100.0/24",
                          "-p",        "8443",
                          "--tls",     "1.3",
                          "--dry-run", "a.test",
                          NULL};
    ck_assert_int_eq(scan(&t, args, NULL), 0);
    ck_assert_uint_eq(t.nrows, 1);
    size_t r = find(&t, "a.test", "127.50.1.9", NULL);
    ck_assert_str_eq(tl_cell(&t, r, "ecs"), "198.51.100.0/24");
    tl_table_free(&t);

    const char *six[] = {"-r",  "eu=127.50.53.1:5353", "--family", "6", "--tls",
                         "1.3", "--dry-run",           "six.test", NULL};
    ck_assert_int_eq(scan(&t, six, NULL), 0);
    ck_assert_uint_eq(t.nrows, 1);
    ck_assert_str_eq(tl_cell(&t, find(&t, "six.test", "::1", NULL), "family"), "6");
    tl_table_free(&t);

    const char *both[] = {"-r",  "eu=127.50.53.1:5353", "--family", "both", "--tls",
                          "1.3", "--dry-run",           "six.test", NULL};
    ck_assert_int_eq(scan(&t, both, NULL), 0);
    ck_assert_uint_eq(t.nrows, 2);
    find(&t, "six.test", "127.50.6.1", NULL);
    find(&t, "six.test", "::1", NULL);
    tl_table_free(&t);
}
END_TEST

/* Row count = edges x variants x repeats + DNS error rows. */
START_TEST(test_plan_count)
{
    struct tl_table t;
    const char *args[] = {"-r",        "eu=127.50.53.1:5353",
                          "-r",        "us=127.50.53.2:5353",
                          "--tls",     "1.2",
                          "--tls",     "1.3",
                          "--alpn",    "h2",
                          "--alpn",    "none",
                          "--sni",     "host",
                          "--sni",     "none",
                          "--repeat",  "3",
                          "--dry-run", "a.test",
                          "b.test",    "x.test@127.50.3.1",
                          NULL};
    ck_assert_int_eq(scan(&t, args, NULL), 0);
    ck_assert_uint_eq(t.nrows, 5 * 8 * 3 + 1);
    ck_assert_str_eq(tl_cell(&t, find(&t, "x.test", "127.50.3.1", "tls1.2/none/nosni"), "resolver"),
                     "-");
    tl_table_free(&t);
}
END_TEST

/* One probe of x.test@IP per (edge, variant): the outcome columns. */
struct outcome {
    const char *ip, *variant;
    const char *status, *error, *alert, *alert_from, *verify, *h2;
};

static const struct outcome outcomes[] = {
    {"127.50.3.1", "tls1.3/h2/sni", "ok", "", "", "", "ok", "ok"},
    {"127.50.3.1", "tls1.2/h2/sni", "ok", "", "", "", "ok", "ok"},
    {"127.50.3.2", "tls1.3/h2/sni", "alert", "protocol_version", "70", "peer", "", ""},
    {"127.50.3.2", "tls1.2/h2/sni", "ok", "", "", "", "ok", "ok"},
    {"127.50.3.3", "tls1.3/h2/sni", "alert", "no_application_protocol", "120", "peer", "", ""},
    {"127.50.3.4", "tls1.3/h2/nosni", "alert", "unrecognized_name", "112", "peer", "", ""},
    {"127.50.3.4", "tls1.3/h2/sni", "ok", "", "", "", "ok", "ok"},
    {"127.50.3.5", "tls1.2/h2/sni", "alert", "handshake_failure", "40", "peer", "", ""},
    {"127.50.3.5", "tls1.3/h2/sni", "ok", "", "", "", "ok", "ok"},
    {"127.50.3.6", "tls1.3/h2/sni", "ok", "", "", "", "expired", "ok"},
    {"127.50.3.7", "tls1.3/h2/sni", "ok", "", "", "", "not_yet_valid", "ok"},
    {"127.50.3.8", "tls1.3/h2/sni", "ok", "", "", "", "hostname_mismatch", "ok"},
    {"127.50.3.9", "tls1.3/h2/sni", "ok", "", "", "", "self_signed", "ok"},
    {"127.50.3.10", "tls1.3/h2/sni", "ok", "", "", "", "ok", "eof"},
    {"127.50.3.11", "tls1.3/h2/sni", "connect_error", "connection_refused", "", "", "", ""},
    {"127.50.3.12", "tls1.3/h2/sni", "timeout", "handshake_timeout", "", "", "", ""},
    {"127.50.3.13", "tls1.3/h2/sni", "tls_error", "connection_reset", "", "", "", ""},
    {"127.50.3.14", "tls1.3/h2/sni", "tls_error", "wrong_version_number", "", "", "", ""},
    {"127.50.3.15", "tls1.3/h2/sni", "tls_error", "wrong_version_number", "", "", "", ""},
    {"127.50.3.16", "tls1.3/h2/sni", "timeout", "handshake_timeout", "", "", "", ""},
};

static struct tl_table outcome_table;

static void outcomes_setup(void)
{
    lab_setup();
    char ca[512];
    snprintf(ca, sizeof ca, "%s/ca.crt", lab.dir);
    const char *args[] = {"--ca-file",  ca,          "--tls", "1.2",  "--tls", "1.3",
                          "--alpn",     "h2",        "--sni", "host", "--sni", "none",
                          "--h2-check", "--timeout", "1500",  "-i",   "-",     NULL};
    const char *argv[64];
    size_t n = 0;
    argv[n++] = "scan";
    argv[n++] = "-q";
    for (const char *const *a = args; *a; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    char targets[2048] = "";
    for (int i = 1; i <= 16; i++) {
        char line[64];
        snprintf(line, sizeof line, "x.test:8443@127.50.3.%d\n", i);
        strcat(targets, line);
    }
    char *out, *err;
    int status = tl_run(argv, targets, &out, &err, 60000);
    ck_assert_msg(status == 0, "scan exited %d: %s", status, err);
    free(err);
    tl_table_parse(&outcome_table, out);
    ck_assert_uint_eq(outcome_table.nrows, 16 * 4);
}

static void outcomes_teardown(void)
{
    tl_table_free(&outcome_table);
    lab_teardown();
}

START_TEST(test_outcome)
{
    const struct outcome *o = &outcomes[_i];
    const struct tl_table *t = &outcome_table;
    size_t r = find(t, "x.test", o->ip, o->variant);
    const char *cols[] = {"status", "error", "alert", "alert_from", "verify", "h2"};
    const char *want[] = {o->status, o->error, o->alert, o->alert_from, o->verify, o->h2};
    for (size_t c = 0; c < 6; c++)
        ck_assert_msg(!strcmp(tl_cell(t, r, cols[c]), want[c]), "%s %s: %s = '%s', want '%s'",
                      o->ip, o->variant, cols[c], tl_cell(t, r, cols[c]), want[c]);
    if (!strcmp(o->status, "ok")) {
        ck_assert_str_eq(tl_cell(t, r, "tls_version"),
                         strncmp(o->variant, "tls1.2", 6) ? "1.3" : "1.2");
        ck_assert_str_eq(tl_cell(t, r, "alpn"), "h2");
        ck_assert_uint_eq(strlen(tl_cell(t, r, "cert_sha256")), 64);
        ck_assert_str_eq(tl_cell(t, r, "stage"), "h2");
    }
}
END_TEST

/* flaky=50 over 30 attempts: some succeed and some are reset. */
START_TEST(test_flaky)
{
    struct tl_table t;
    const char *args[] = {
        "--no-verify", "--tls", "1.3", "--repeat", "30", "x.test:8443@127.50.3.17", NULL};
    ck_assert_int_eq(scan(&t, args, NULL), 0);
    ck_assert_uint_eq(t.nrows, 30);
    size_t ok = 0, reset = 0;
    for (size_t r = 0; r < t.nrows; r++) {
        ok += !strcmp(tl_cell(&t, r, "status"), "ok");
        reset += !strcmp(tl_cell(&t, r, "error"), "connection_reset");
        if (!strcmp(tl_cell(&t, r, "status"), "ok"))
            ck_assert_str_eq(tl_cell(&t, r, "verify"), "off");
    }
    ck_assert_uint_eq(ok + reset, 30);
    ck_assert_uint_gt(ok, 0);
    ck_assert_uint_gt(reset, 0);
    tl_table_free(&t);
}
END_TEST

/* ---- bad input: exit 2, one message, nothing sent ---- */

struct bad {
    const char *argv[8];
    const char *stdin_text;
    const char *message;
};

static const struct bad bads[] = {
    {{NULL}, NULL, "no targets"},
    {{"-r", "eu", "a.test"}, NULL, "-r 'eu'"},
    {{"-r", "eu=300.1.1.1", "a.test"}, NULL, "-r 'eu=300.1.1.1'"},
    {{"--shard", "4/4", "a.test"}, NULL, "--shard"},
    {{"--shard", "1/2", "--shards", "2", "a.test"}, NULL, "exclude each other"},
    {{"--ciphers", "NOPE", "a.test"}, NULL, "--ciphers 'NOPE'"},
    {{"--groups", "nosuchgroup", "a.test"}, NULL, "--groups"},
    {{"--alpn", "", "a.test"}, NULL, "--alpn: expected LIST"},
    {{"a.test:0"}, NULL, "argument 1:"},
    {{"-i", "-"}, "ok.test\nbad host.test\n", "<stdin>:2:"},
    {{"-i", "-"}, "h\xc3\xa9.test\n", "punycode"},
    {{"-i", "/nonexistent/targets"}, NULL, "/nonexistent/targets"},
    {{"--edges", "/nonexistent/edges", "a.test"}, NULL, "--edges"},
};

START_TEST(test_bad_input)
{
    const struct bad *b = &bads[_i];
    const char *argv[12];
    size_t n = 0;
    argv[n++] = "scan";
    for (const char *const *a = b->argv; *a; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    char *out, *err;
    int status = tl_run(argv, b->stdin_text, &out, &err, 20000);
    ck_assert_msg(status == 2, "case %d: status %d: %s", _i, status, err);
    ck_assert_msg(strstr(err, b->message), "case %d: '%s' not in: %s", _i, b->message, err);
    ck_assert_msg(!strcmp(out, ""), "case %d: wrote output: %s", _i, out);
    free(out);
    free(err);
}
END_TEST

/* Standard input can be read once: its first 4096 targets are checked
 * before anything is sent (exit 2, no output: the "bad" cases above); a bad
 * line after those stops the scan there, keeps the rows of the targets
 * before it in a valid file, and is still exit 2. */
START_TEST(test_stdin_bad_line_after_lookahead)
{
    enum { GOOD = 5000 };
    char *in = malloc(GOOD * 40 + 64);
    size_t off = 0;
    for (int i = 0; i < GOOD; i++)
        off += (size_t)sprintf(in + off, "h%d.test@127.50.9.1\n", i);
    sprintf(in + off, "bad target\nh0.late.test@127.50.9.1\n");
    const char *argv[] = {"scan", "-q", "--tls", "1.3", "--dry-run", "-i", "-", NULL};
    char *out, *err;
    ck_assert_int_eq(tl_run(argv, in, &out, &err, 60000), 2);
    ck_assert_msg(strstr(err, "<stdin>:5001: "), "%s", err);
    struct tl_table t;
    tl_table_parse(&t, out); /* whole rows only */
    ck_assert_uint_eq(t.nrows, GOOD);
    for (size_t r = 0; r < t.nrows; r++)
        ck_assert_str_eq(tl_cell(&t, r, "status"), "planned");
    tl_table_free(&t);
    free(err);
    free(in);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scan");
    TCase *dns = tcase_create("dns");
    tcase_add_unchecked_fixture(dns, lab_setup, lab_teardown);
    tcase_set_timeout(dns, 60);
    tcase_add_test(dns, test_dns_provenance);
    tcase_add_test(dns, test_dns_errors);
    tcase_add_test(dns, test_dead_resolver_among_live);
    tcase_add_test(dns, test_same_host_coalesced);
    tcase_add_test(dns, test_engine_rows_provenance);
    tcase_add_test(dns, test_ecs_and_families);
    tcase_add_test(dns, test_plan_count);
    tcase_add_test(dns, test_flaky);
    suite_add_tcase(s, dns);
    TCase *out = tcase_create("outcomes");
    tcase_add_unchecked_fixture(out, outcomes_setup, outcomes_teardown);
    tcase_set_timeout(out, 60);
    tcase_add_loop_test(out, test_outcome, 0, (int)(sizeof outcomes / sizeof outcomes[0]));
    suite_add_tcase(s, out);
    TCase *bad = tcase_create("bad");
    tcase_add_loop_test(bad, test_bad_input, 0, (int)(sizeof bads / sizeof bads[0]));
    tcase_add_test(bad, test_stdin_bad_line_after_lookahead);
    suite_add_tcase(s, bad);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
