/* test_report_lab.c - every finding kind of docs/findings.md from a real lab
 * scenario (127.70.0.0/16 up to 127.70.99.255; test_html.c has the rest of
 * the block): `edgeshake lab` runs the faults, `edgeshake scan` probes them,
 * `edgeshake report --format csv` must name each planted fault exactly once,
 * with the exact edges, resolvers and counts, and say nothing about healthy
 * edges and hosts. Also: a `vantage` finding from two scans of two labs on
 * the same addresses, and shard files reported together give the same
 * findings as the full file. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define REPEAT "8"

/* One host per finding kind; resolvers a and b answer, `dead` never does.
 * All edges on port 8443 with a leaf for their host, unless a fault says
 * otherwise. */
static const char *spec =
    "resolver a 127.70.53.1:5353\n"
    "resolver b 127.70.53.2:5353\n"
    "resolver dead 127.70.53.9:5353 fault=drop\n"
    /* healthy: no finding may name it or its edges */
    "host ok.rl.test a=127.70.1.1,127.70.1.2 b=127.70.1.2,127.70.1.3\n"
    "edge 127.70.1.1:8443 cert=ok.rl.test\n"
    "edge 127.70.1.2:8443 cert=ok.rl.test\n"
    "edge 127.70.1.3:8443 cert=ok.rl.test\n"
    /* variant: every edge speaks TLS 1.2 only */
    "host variant.rl.test a=127.70.2.1 b=127.70.2.2\n"
    "edge 127.70.2.1:8443 cert=variant.rl.test tls=1.2\n"
    "edge 127.70.2.2:8443 cert=variant.rl.test tls=1.2\n"
    /* down: nothing listens anywhere */
    "host down.rl.test a=127.70.3.1 b=127.70.3.2\n"
    "edge 127.70.3.1:8443 fault=refuse\n"
    "edge 127.70.3.2:8443 fault=refuse\n"
    /* region: b returns only the TLS 1.2 node */
    "host region.rl.test a=127.70.4.1,127.70.4.2 b=127.70.4.3\n"
    "edge 127.70.4.1:8443 cert=region.rl.test\n"
    "edge 127.70.4.2:8443 cert=region.rl.test\n"
    "edge 127.70.4.3:8443 cert=region.rl.test tls=1.2\n"
    /* node: a plain HTTP server mixed in behind both resolvers */
    "host node.rl.test a=127.70.5.1,127.70.5.2 b=127.70.5.2,127.70.5.3\n"
    "edge 127.70.5.1:8443 cert=node.rl.test\n"
    "edge 127.70.5.2:8443 fault=http\n"
    "edge 127.70.5.3:8443 cert=node.rl.test\n"
    /* cert: one good edge, one of each bad kind */
    "host cert.rl.test a=127.70.6.1,127.70.6.2,127.70.6.3 b=127.70.6.1,127.70.6.4,127.70.6.5\n"
    "edge 127.70.6.1:8443 cert=cert.rl.test\n"
    "edge 127.70.6.2:8443 cert=cert.rl.test:expired\n"
    "edge 127.70.6.3:8443 cert=cert.rl.test:wrong\n"
    "edge 127.70.6.4:8443 cert=cert.rl.test:selfsigned\n"
    "edge 127.70.6.5:8443 cert=cert.rl.test:future\n"
    /* h2: one edge closes after the HTTP/2 preface */
    "host h2.rl.test a=127.70.7.1,127.70.7.2 b=127.70.7.2\n"
    "edge 127.70.7.1:8443 cert=h2.rl.test\n"
    "edge 127.70.7.2:8443 cert=h2.rl.test h2=broken\n"
    /* intermittent: 40% of handshakes reset */
    "host flaky.rl.test a=127.70.8.1,127.70.8.2 b=127.70.8.1\n"
    "edge 127.70.8.1:8443 cert=flaky.rl.test\n"
    "edge 127.70.8.2:8443 cert=flaky.rl.test flaky=40\n"
    /* dns: b says NXDOMAIN while a answers */
    "host nx.rl.test a=127.70.9.1 b=nxdomain\n"
    "edge 127.70.9.1:8443 cert=nx.rl.test\n";

static const char *const all_hosts[] = {
    "ok.rl.test",   "variant.rl.test", "down.rl.test",  "region.rl.test", "node.rl.test",
    "cert.rl.test", "h2.rl.test",      "flaky.rl.test", "nx.rl.test",
};
#define NHOSTS (sizeof all_hosts / sizeof all_hosts[0])

/* ---- a tiny RFC 4180 table (as tests/test_scan.c) ---- */

/* ---- running scans and reports ---- */

static char *path_in(const char *dir, const char *name)
{
    char *p;
    ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

/* `edgeshake scan -q -p 8443 ARGS... -o out HOSTS...` against resolvers
 * a, b and dead; extra is NULL-terminated, hosts has nhosts entries. */
static void scan_to(const char *out, const char *const *extra, const char *const *hosts,
                    size_t nhosts)
{
    const char *argv[64];
    size_t n = 0;
    const char *base[] = {"scan",
                          "-q",
                          "-p",
                          "8443",
                          "-r",
                          "a=127.70.53.1:5353",
                          "-r",
                          "b=127.70.53.2:5353",
                          "-r",
                          "dead=127.70.53.9:5353",
                          "--dns-timeout", /* a slow (sanitizer) build must not time out */
                          "1000",
                          "--dns-retries",
                          "1",
                          "--timeout",
                          "10000",
                          "-o",
                          out};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        argv[n++] = base[i];
    for (; *extra; extra++)
        argv[n++] = *extra;
    for (size_t i = 0; i < nhosts; i++)
        argv[n++] = hosts[i];
    argv[n] = NULL;
    ck_assert_uint_lt(n, sizeof argv / sizeof argv[0]);
    char *err;
    int status = tl_run(argv, NULL, NULL, &err, 120000);
    ck_assert_msg(status == 0, "scan exited %d: %s", status, err);
    free(err);
}

/* `edgeshake report --format csv FILES...`: its stdout. */
static char *report_csv(const char *const *files, size_t nfiles)
{
    const char *argv[16] = {"report", "--format", "csv"};
    size_t n = 3;
    for (size_t i = 0; i < nfiles; i++)
        argv[n++] = files[i];
    argv[n] = NULL;
    char *out, *err;
    int status = tl_run(argv, NULL, &out, &err, 60000);
    ck_assert_msg(status == 0, "report exited %d: %s", status, err);
    free(err);
    return out;
}

/* A ';'-joined list with its items sorted: resolver labels are listed in
 * the order the report first met them, which the scan does not fix. */
static char *sorted_list(const char *list)
{
    char *copy = strdup(list), *items[64];
    size_t n = 0;
    for (char *p = copy; *p && n < 64;) {
        items[n++] = p;
        p += strcspn(p, ";");
        if (*p)
            *p++ = '\0';
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(items[j - 1], items[j]) > 0; j--) {
            char *t = items[j];
            items[j] = items[j - 1];
            items[j - 1] = t;
        }
    char *out = calloc(1, strlen(list) + 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ";");
        strcat(out, items[i]);
    }
    free(copy);
    return out;
}

/* Findings as lines "kind|host|variant|failure|failing_ips|passing_ips|
 * failing_resolvers|passing_resolvers|failed|attempts", resolver lists
 * sorted. For `intermittent`, which variants and how many attempts fail is
 * chance: variant, failed and attempts are shown as "*". */
static char *summary(const struct tl_table *t)
{
    size_t cap = 1 << 16, o = 0;
    char *s = malloc(cap);
    s[0] = '\0';
    for (size_t r = 0; r < t->nrows; r++) {
        bool chance = !strcmp(tl_cell(t, r, "kind"), "intermittent");
        char *fr = sorted_list(tl_cell(t, r, "failing_resolvers"));
        char *pr = sorted_list(tl_cell(t, r, "passing_resolvers"));
        o += (size_t)snprintf(s + o, cap - o, "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n",
                              tl_cell(t, r, "kind"), tl_cell(t, r, "host"),
                              chance ? "*" : tl_cell(t, r, "variant"), tl_cell(t, r, "failure"),
                              tl_cell(t, r, "failing_ips"), tl_cell(t, r, "passing_ips"), fr, pr,
                              chance ? "*" : tl_cell(t, r, "failed"),
                              chance ? "*" : tl_cell(t, r, "attempts"));
        ck_assert_uint_lt(o, cap);
        free(fr);
        free(pr);
    }
    return s;
}

/* The one finding of kind for host; aborts when there is none or several. */
static size_t finding(const struct tl_table *t, const char *kind, const char *host)
{
    size_t hit = (size_t)-1;
    for (size_t r = 0; r < t->nrows; r++)
        if (!strcmp(tl_cell(t, r, "kind"), kind) && !strcmp(tl_cell(t, r, "host"), host)) {
            ck_assert_msg(hit == (size_t)-1, "two %s findings for %s", kind, host);
            hit = r;
        }
    ck_assert_msg(hit != (size_t)-1, "no %s finding for %s", kind, host);
    return hit;
}

/* ---- the main scenario: one lab, one scan, one report ---- */

static struct tl_lab lab;
static char *scan_csv;
static struct tl_table found; /* the report's findings */

static void lab_setup(void)
{
    tl_lab_start(&lab, spec);
    char *ca = path_in(lab.dir, "ca.crt");
    scan_csv = path_in(lab.dir, "scan.csv");
    const char *extra[] = {"--ca-file", ca, "--h2-check", "--repeat", REPEAT, NULL};
    scan_to(scan_csv, extra, all_hosts, NHOSTS);
    const char *files[] = {scan_csv};
    tl_table_parse(&found, report_csv(files, 1));
    free(ca);
}

static void lab_teardown(void)
{
    tl_table_free(&found);
    free(scan_csv);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}

/* The whole report, column by column: each planted fault once, nothing else
 * (no finding for ok.rl.test, no healthy edge among the failing ones). The
 * counts: 8 attempts per (edge, variant), two variants. */
START_TEST(test_exact_findings)
{
    ck_assert_str_eq(found.header[0], "kind");
    char *s = summary(&found);
    ck_assert_str_eq(
        s,
        /* 9 hosts asked, the dead resolver answered none: one fleet finding,
         * host *, which folds the 9 host findings; a and b answered them */
        "dns|*||dns_timeout|||dead|a;b|9|9\n"
        /* 5 edges x 2 variants x 8 attempts = 80 verified handshakes; each bad
         * edge fails its 16 */
        "cert|cert.rl.test||verify expired|127.70.6.2|127.70.6.1|a|b|16|80\n"
        "cert|cert.rl.test||verify hostname_mismatch|127.70.6.3|127.70.6.1|a|b|16|80\n"
        "cert|cert.rl.test||verify not_yet_valid|127.70.6.5|127.70.6.1|b|a|16|80\n"
        "cert|cert.rl.test||verify self_signed|127.70.6.4|127.70.6.1|b|a|16|80\n"
        "down|down.rl.test||connection_refused|127.70.3.1;127.70.3.2||a;b;dead||32|32\n"
        "intermittent|flaky.rl.test|*|connection_reset|127.70.8.2|127.70.8.1|a||*|*\n"
        "h2|h2.rl.test||h2 eof|127.70.7.2|127.70.7.1|a;b||16|32\n"
        "node|node.rl.test||wrong_version_number|127.70.5.2|127.70.5.1;127.70.5.3|a;b||16|48\n"
        "dns|nx.rl.test||nxdomain|||b|a|1|2\n"
        "region|region.rl.test|tls1.3/h2,http1.1/sni|alert 70 protocol_version|127.70.4.3|"
        "127.70.4.1;127.70.4.2|b|a|8|24\n"
        "variant|variant.rl.test|tls1.3/h2,http1.1/sni|alert 70 protocol_version|"
        "127.70.2.1;127.70.2.2||a;b||16|16\n");
    free(s);
}
END_TEST

/* Precision: the healthy host and its edges appear nowhere in the report. */
START_TEST(test_healthy_absent)
{
    for (size_t r = 0; r < found.nrows; r++) {
        ck_assert_str_ne(tl_cell(&found, r, "host"), "ok.rl.test");
        ck_assert_ptr_null(strstr(tl_cell(&found, r, "failing_ips"), "127.70.1."));
        ck_assert_ptr_null(strstr(tl_cell(&found, r, "repro"), "ok.rl.test"));
    }
    /* ... although the scan did probe it, and every probe passed. */
    char *text = tl_read_file(scan_csv, NULL);
    struct tl_table t;
    tl_table_parse(&t, text);
    size_t probes = 0;
    for (size_t r = 0; r < t.nrows; r++) {
        if (strcmp(tl_cell(&t, r, "host"), "ok.rl.test") || !*tl_cell(&t, r, "ip"))
            continue;
        probes++;
        ck_assert_str_eq(tl_cell(&t, r, "status"), "ok");
        ck_assert_str_eq(tl_cell(&t, r, "verify"), "ok");
        ck_assert_str_eq(tl_cell(&t, r, "h2"), "ok");
    }
    ck_assert_uint_eq(probes, 3 * 2 * 8);
    tl_table_free(&t);
}
END_TEST

START_TEST(test_variant)
{
    size_t r = finding(&found, "variant", "variant.rl.test");
    ck_assert_str_eq(tl_cell(&found, r, "explain"),
                     "the node does not speak TLS 1.3 (protocol_version): its config predates the "
                     "TLS 1.3 rollout");
    /* The failing probe reproduced against one of the two edges. */
    const char *repro = tl_cell(&found, r, "repro");
    ck_assert_msg(!strcmp(repro, "openssl s_client -connect 127.70.2.1:8443 -servername "
                                 "variant.rl.test -tls1_3 -alpn h2,http/1.1 </dev/null") ||
                      !strcmp(repro, "openssl s_client -connect 127.70.2.2:8443 -servername "
                                     "variant.rl.test -tls1_3 -alpn h2,http/1.1 </dev/null"),
                  "repro: %s", repro);
    /* TLS 1.2 works there: no finding for that variant, no `down`. */
    for (size_t i = 0; i < found.nrows; i++)
        if (!strcmp(tl_cell(&found, i, "host"), "variant.rl.test"))
            ck_assert_uint_eq(i, r);
}
END_TEST

START_TEST(test_down)
{
    size_t r = finding(&found, "down", "down.rl.test");
    ck_assert_str_eq(tl_cell(&found, r, "explain"),
                     "every edge fails every variant: nothing listens on this port on the node "
                     "(connection refused)");
    ck_assert_ptr_nonnull(
        strstr(tl_cell(&found, r, "repro"), "openssl s_client -connect 127.70.3."));
    /* One `down` says it all: no per-variant node/variant findings. */
    for (size_t i = 0; i < found.nrows; i++)
        if (!strcmp(tl_cell(&found, i, "host"), "down.rl.test"))
            ck_assert_uint_eq(i, r);
}
END_TEST

START_TEST(test_dns_dead_resolver)
{
    size_t r = finding(&found, "dns", "*");
    ck_assert_str_eq(tl_cell(&found, r, "port"), "");
    ck_assert_str_eq(tl_cell(&found, r, "explain"),
                     "the resolver labelled dead fails for all 9 names asked: it is down, "
                     "unreachable or refuses this vantage point");
    /* Not one dns finding per host for it: only `down` (which lists every
     * resolver that failed for its host) may name it besides. */
    for (size_t i = 0; i < found.nrows; i++)
        if (i != r && strcmp(tl_cell(&found, i, "kind"), "down"))
            ck_assert_ptr_null(strstr(tl_cell(&found, i, "failing_resolvers"), "dead"));
}
END_TEST

START_TEST(test_dns_nxdomain)
{
    size_t r = finding(&found, "dns", "nx.rl.test");
    ck_assert_str_eq(tl_cell(&found, r, "port"), "8443");
    /* the address from the scan's resolver_addr column */
    ck_assert_str_eq(tl_cell(&found, r, "repro"),
                     "dig @127.70.53.2 -p 5353 nx.rl.test A  # the resolver labelled b");
    ck_assert_str_eq(tl_cell(&found, r, "explain"),
                     "this resolver says the name does not exist while others answer: a record "
                     "missing from that region's view");
    /* Its one edge is healthy: nothing else about the host. */
    for (size_t i = 0; i < found.nrows; i++)
        if (!strcmp(tl_cell(&found, i, "host"), "nx.rl.test"))
            ck_assert_uint_eq(i, r);
}
END_TEST

START_TEST(test_region)
{
    size_t r = finding(&found, "region", "region.rl.test");
    ck_assert_str_eq(tl_cell(&found, r, "explain"),
                     "users of b reach only failing nodes: the node does not speak TLS 1.3 "
                     "(protocol_version): its config predates the TLS 1.3 rollout");
    ck_assert_str_eq(tl_cell(&found, r, "repro"),
                     "openssl s_client -connect 127.70.4.3:8443 -servername region.rl.test "
                     "-tls1_3 -alpn h2,http/1.1 </dev/null");
    for (size_t i = 0; i < found.nrows; i++)
        if (!strcmp(tl_cell(&found, i, "host"), "region.rl.test"))
            ck_assert_uint_eq(i, r);
}
END_TEST

START_TEST(test_node)
{
    size_t r = finding(&found, "node", "node.rl.test");
    ck_assert_str_eq(tl_cell(&found, r, "explain"),
                     "the node does not answer with TLS on this port (plain HTTP or another "
                     "protocol)");
    /* Either variant's probe of the HTTP node reproduces it. */
    static const char head[] = "openssl s_client -connect 127.70.5.2:8443 -servername node.rl.test";
    const char *repro = tl_cell(&found, r, "repro");
    ck_assert_msg(strncmp(repro, head, strlen(head)) == 0, "repro: %s", repro);
    for (size_t i = 0; i < found.nrows; i++)
        if (!strcmp(tl_cell(&found, i, "host"), "node.rl.test"))
            ck_assert_uint_eq(i, r);
}
END_TEST

/* cert: one finding per verify result, each naming only its edge. */
START_TEST(test_cert)
{
    static const char *const want[][2] = {{"verify expired", "127.70.6.2"},
                                          {"verify hostname_mismatch", "127.70.6.3"},
                                          {"verify not_yet_valid", "127.70.6.5"},
                                          {"verify self_signed", "127.70.6.4"}};
    size_t seen = 0;
    for (size_t i = 0; i < found.nrows; i++) {
        if (strcmp(tl_cell(&found, i, "host"), "cert.rl.test"))
            continue;
        ck_assert_str_eq(tl_cell(&found, i, "kind"), "cert");
        ck_assert_str_eq(tl_cell(&found, i, "variant"), "");
        ck_assert_uint_lt(seen, 4);
        ck_assert_str_eq(tl_cell(&found, i, "failure"), want[seen][0]);
        ck_assert_str_eq(tl_cell(&found, i, "failing_ips"), want[seen][1]);
        /* With -tls1_2 or -tls1_3, whichever variant the report picked. */
        char head[128];
        snprintf(head, sizeof head,
                 "openssl s_client -connect %s:8443 -servername cert.rl.test -tls1_",
                 want[seen][1]);
        static const char tail[] = " -alpn h2,http/1.1 -verify_return_error -verify_hostname "
                                   "cert.rl.test </dev/null";
        const char *repro = tl_cell(&found, i, "repro");
        ck_assert_msg(strncmp(repro, head, strlen(head)) == 0 &&
                          (repro[strlen(head)] == '2' || repro[strlen(head)] == '3') &&
                          !strcmp(repro + strlen(head) + 1, tail),
                      "repro: %s", repro);
        seen++;
    }
    ck_assert_uint_eq(seen, 4);
}
END_TEST

START_TEST(test_h2)
{
    size_t r = finding(&found, "h2", "h2.rl.test");
    ck_assert_str_eq(tl_cell(&found, r, "repro"),
                     "curl -sv --http2 --resolve h2.rl.test:8443:127.70.7.2 "
                     "https://h2.rl.test:8443/");
    ck_assert_str_eq(tl_cell(&found, r, "explain"),
                     "the node negotiates h2 but closes the connection after the HTTP/2 preface: "
                     "HTTP/2 is broken behind its TLS terminator");
    for (size_t i = 0; i < found.nrows; i++)
        if (!strcmp(tl_cell(&found, i, "host"), "h2.rl.test"))
            ck_assert_uint_eq(i, r);
}
END_TEST

/* flaky=40 over 8 repeats: "k of N", with both outcomes seen, and never a
 * node finding for the flaky edge (it is chance, not config). */
START_TEST(test_intermittent)
{
    size_t r = finding(&found, "intermittent", "flaky.rl.test");
    unsigned long failed = strtoul(tl_cell(&found, r, "failed"), NULL, 10);
    unsigned long attempts = strtoul(tl_cell(&found, r, "attempts"), NULL, 10);
    const char *variant = tl_cell(&found, r, "variant");
    /* Both variants (merged: ""), or one when the other saw only successes. */
    unsigned long nvar = *variant ? 1 : 2;
    ck_assert_msg(!*variant || !strcmp(variant, "tls1.2/h2,http1.1/sni") ||
                      !strcmp(variant, "tls1.3/h2,http1.1/sni"),
                  "variant %s", variant);
    ck_assert_uint_eq(attempts, nvar * 8);
    ck_assert_uint_gt(failed, 0);
    ck_assert_uint_lt(failed, attempts);
    ck_assert_str_eq(tl_cell(&found, r, "explain"),
                     "the same node both succeeded and failed: a pool with mixed configurations "
                     "behind this address, or an overloaded node");
    for (size_t i = 0; i < found.nrows; i++)
        if (!strcmp(tl_cell(&found, i, "host"), "flaky.rl.test"))
            ck_assert_uint_eq(i, r);
}
END_TEST

/* Shards (`--shard i/3`) reported together: the same findings as the
 * report over one full scan, byte for byte. The flaky host is left out: its
 * outcomes differ from one scan to the next. */
START_TEST(test_shards_same_report)
{
    const char *hosts[NHOSTS];
    size_t nh = 0;
    for (size_t i = 0; i < NHOSTS; i++)
        if (strcmp(all_hosts[i], "flaky.rl.test"))
            hosts[nh++] = all_hosts[i];
    char *ca = path_in(lab.dir, "ca.crt");
    char *full = path_in(lab.dir, "full.csv"), *shard[3];
    const char *extra[] = {"--ca-file", ca, "--h2-check", NULL};
    scan_to(full, extra, hosts, nh);
    size_t rows = 0;
    for (int i = 0; i < 3; i++) {
        char name[32], arg[8];
        snprintf(name, sizeof name, "shard%d.csv", i);
        snprintf(arg, sizeof arg, "%d/3", i);
        shard[i] = path_in(lab.dir, name);
        const char *sx[] = {"--ca-file", ca, "--h2-check", "--shard", arg, NULL};
        scan_to(shard[i], sx, hosts, nh);
        struct tl_table t;
        tl_table_parse(&t, tl_read_file(shard[i], NULL));
        ck_assert_msg(t.nrows > 0, "shard %d/3 is empty", i);
        rows += t.nrows;
        tl_table_free(&t);
    }
    struct tl_table t;
    tl_table_parse(&t, tl_read_file(full, NULL));
    ck_assert_uint_eq(rows, t.nrows);
    tl_table_free(&t);

    const char *one[] = {full};
    const char *three[] = {shard[0], shard[1], shard[2]};
    char *whole = report_csv(one, 1), *merged = report_csv(three, 3);
    /* Byte for byte: labels are sorted and repro picks by a fixed rule, so
     * the order rows were read in does not show. */
    ck_assert_msg(!strcmp(merged, whole), /* bounded: Check dies on huge messages */
                  "the shards' report differs:\n--- shards\n%.1500s\n--- full file\n%.1500s",
                  merged, whole);
    /* And it is the report above, less the flaky host, with one attempt per
     * probe: 11 findings and the header. */
    size_t lines = 0;
    for (const char *c = whole; *c; c++)
        lines += *c == '\n';
    ck_assert_uint_eq(lines, 1 + 11);
    ck_assert_ptr_nonnull(strstr(whole, "\ndns,*,,,dns_timeout,,,dead,a;b,8,8,"));
    ck_assert_ptr_nonnull(strstr(whole, "\nregion,region.rl.test,8443,\"tls1.3/h2,http1.1/sni\","
                                        "alert 70 protocol_version,127.70.4.3,"
                                        "127.70.4.1;127.70.4.2,b,a,1,3,"));
    free(whole);
    free(merged);
    for (int i = 0; i < 3; i++)
        free(shard[i]);
    free(full);
    free(ca);
}
END_TEST

/* ---- vantage: the same edge, changed between two scans from two places ---- */

static const char *vantage_spec_a = "resolver v 127.70.20.53:5353\n"
                                    "host van.rl.test v=127.70.20.1,127.70.20.2\n"
                                    "edge 127.70.20.1:8443 cert=van.rl.test\n"
                                    "edge 127.70.20.2:8443 cert=van.rl.test tls=1.2,1.3\n";
/* ... and as vantage b sees it: 127.70.20.2 lost TLS 1.3. */
static const char *vantage_spec_b = "resolver v 127.70.20.53:5353\n"
                                    "host van.rl.test v=127.70.20.1,127.70.20.2\n"
                                    "edge 127.70.20.1:8443 cert=van.rl.test\n"
                                    "edge 127.70.20.2:8443 cert=van.rl.test tls=1.2\n";

static void vantage_scan(const char *spec_text, const char *vantage, const char *out)
{
    struct tl_lab l;
    tl_lab_start(&l, spec_text);
    const char *argv[] = {"scan",        "-q",        "-p",    "8443", "-r", "v=127.70.20.53:5353",
                          "--no-verify", "--vantage", vantage, "-o",   out,  "van.rl.test",
                          NULL};
    char *err;
    int status = tl_run(argv, NULL, NULL, &err, 60000);
    ck_assert_msg(status == 0, "scan exited %d: %s", status, err);
    free(err);
    ck_assert_int_eq(tl_lab_stop(&l), 0);
}

START_TEST(test_vantage)
{
    char *dir = tl_tmpdir();
    char *fa = path_in(dir, "a.csv"), *fb = path_in(dir, "b.csv");
    vantage_scan(vantage_spec_a, "a", fa);
    vantage_scan(vantage_spec_b, "b", fb);
    const char *files[] = {fa, fb};
    struct tl_table t;
    tl_table_parse(&t, report_csv(files, 2));
    ck_assert_uint_eq(t.nrows, 1);
    ck_assert_str_eq(tl_cell(&t, 0, "kind"), "vantage");
    ck_assert_str_eq(tl_cell(&t, 0, "host"), "van.rl.test");
    ck_assert_str_eq(tl_cell(&t, 0, "variant"), "tls1.3/h2,http1.1/sni");
    ck_assert_str_eq(tl_cell(&t, 0, "failure"), "alert 70 protocol_version");
    ck_assert_str_eq(tl_cell(&t, 0, "failing_ips"), "127.70.20.2");
    ck_assert_str_eq(tl_cell(&t, 0, "passing_ips"), "127.70.20.1");
    ck_assert_str_eq(tl_cell(&t, 0, "failing_vantages"), "b");
    ck_assert_str_eq(tl_cell(&t, 0, "passing_vantages"), "a");
    ck_assert_str_eq(tl_cell(&t, 0, "failed"), "1");
    ck_assert_str_eq(tl_cell(&t, 0, "attempts"), "2");
    ck_assert_str_eq(tl_cell(&t, 0, "repro"),
                     "openssl s_client -connect 127.70.20.2:8443 -servername "
                     "van.rl.test -tls1_3 -alpn h2,http/1.1 </dev/null");
    tl_table_free(&t);
    /* Each file alone: from a nothing is wrong; from b it is a node. */
    const char *only_a[] = {fa}, *only_b[] = {fb};
    tl_table_parse(&t, report_csv(only_a, 1));
    ck_assert_uint_eq(t.nrows, 0);
    tl_table_free(&t);
    tl_table_parse(&t, report_csv(only_b, 1));
    ck_assert_uint_eq(t.nrows, 1);
    ck_assert_str_eq(tl_cell(&t, 0, "kind"), "node");
    ck_assert_str_eq(tl_cell(&t, 0, "failing_ips"), "127.70.20.2");
    tl_table_free(&t);
    tl_rmtree(dir);
    free(dir);
    free(fa);
    free(fb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_lab");
    TCase *tc = tcase_create("lab");
    tcase_add_unchecked_fixture(tc, lab_setup, lab_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_exact_findings);
    tcase_add_test(tc, test_healthy_absent);
    tcase_add_test(tc, test_variant);
    tcase_add_test(tc, test_down);
    tcase_add_test(tc, test_dns_dead_resolver);
    tcase_add_test(tc, test_dns_nxdomain);
    tcase_add_test(tc, test_region);
    tcase_add_test(tc, test_node);
    tcase_add_test(tc, test_cert);
    tcase_add_test(tc, test_h2);
    tcase_add_test(tc, test_intermittent);
    tcase_add_test(tc, test_shards_same_report);
    suite_add_tcase(s, tc);
    TCase *tv = tcase_create("vantage");
    tcase_set_timeout(tv, 120);
    tcase_add_test(tv, test_vantage);
    suite_add_tcase(s, tv);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
