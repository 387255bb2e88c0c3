/* test_report_fleet.c - fleet findings end to end (127.91.0.0/16): a CDN
 * fleet from bench/gen_fleet_lab.py (400 hosts on 30 shared edges in 3
 * regions, 4 planted bad nodes: refusing, TLS 1.2 only, expired certificate,
 * strict ALPN) runs as `edgeshake lab`; one scan with `--tls 1.3 --tls 1.2
 * --alpn h2` (3,200 probes); the report must give exactly one fleet finding
 * per bad node, with hosts_failing = hosts_total = the hosts it serves
 * (EXPECT.json), and nothing else, in CSV, JSON and text. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define HOSTS "400"
#define EDGES "30"
#define NBAD  4

struct bad {
    char ip[32], kind[32];
    unsigned long hosts, only;
};

static struct tl_lab lab;
static char *dir, *scan_csv;
static struct bad bad[NBAD];
static char resolvers[3][64];

static char *path_in(const char *d, const char *name)
{
    char *p;
    ck_assert(asprintf(&p, "%s/%s", d, name) > 0);
    return p;
}

/* Runs the generator, reads EXPECT.json back through python3 (one line per
 * bad node, then the resolvers), returns the spec text. */
static char *generate(void)
{
    char *spec = path_in(dir, "fleet.lab"), *expect = path_in(dir, "EXPECT.json"), *cmd;
    ck_assert(asprintf(&cmd,
                       "python3 '%s/bench/gen_fleet_lab.py' --hosts " HOSTS " --edges " EDGES
                       " --net 127.91 '%s' '%s' && python3 -c 'import json,sys\n"
                       "d = json.load(open(sys.argv[1]))\n"
                       "for b in d[\"bad\"]: print(b[\"ip\"], b[\"kind\"], b[\"hosts\"], "
                       "b[\"only_edge_hosts\"])\n"
                       "for k in sorted(d[\"resolvers\"]): print(\"res %%s=%%s\" %% (k, "
                       "d[\"resolvers\"][k]))' '%s'",
                       tl_srcdir(), spec, expect, expect) > 0);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t nb = 0, nr = 0;
    char line[256];
    while (fgets(line, sizeof line, p)) {
        if (!strncmp(line, "res ", 4)) {
            ck_assert_uint_lt(nr, 3);
            ck_assert_int_eq(sscanf(line + 4, "%63s", resolvers[nr]), 1);
            nr++;
            continue;
        }
        ck_assert_uint_lt(nb, NBAD);
        ck_assert_int_eq(sscanf(line, "%31s %31s %lu %lu", bad[nb].ip, bad[nb].kind, &bad[nb].hosts,
                                &bad[nb].only),
                         4);
        nb++;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_uint_eq(nb, NBAD);
    ck_assert_uint_eq(nr, 3);
    char *text = tl_read_file(spec, NULL);
    ck_assert_ptr_nonnull(text);
    free(spec);
    free(expect);
    free(cmd);
    return text;
}

static void fleet_setup(void)
{
    dir = tl_tmpdir();
    char *spec = generate();
    tl_lab_start(&lab, spec);
    /* the host names, one per line, for -i */
    char *hosts = path_in(dir, "hosts.txt");
    FILE *h = fopen(hosts, "w");
    ck_assert_ptr_nonnull(h);
    for (const char *p = spec; (p = strstr(p, "\nhost ")) != NULL;) {
        p += 6;
        fprintf(h, "%.*s\n", (int)strcspn(p, " "), p);
    }
    fclose(h);
    char *ca = path_in(lab.dir, "ca.crt");
    scan_csv = path_in(dir, "scan.csv");
    const char *argv[] = {"scan",
                          "-q",
                          "-p",
                          "8443",
                          "-r",
                          resolvers[0],
                          "-r",
                          resolvers[1],
                          "-r",
                          resolvers[2],
                          "--ca-file",
                          ca,
                          "--tls",
                          "1.3",
                          "--tls",
                          "1.2",
                          "--alpn",
                          "h2",
                          "--dns-timeout",
                          "1000",
                          "--timeout",
                          "10000",
                          "-i",
                          hosts,
                          "-o",
                          scan_csv,
                          NULL};
    char *err;
    int status = tl_run(argv, NULL, NULL, &err, 200000);
    ck_assert_msg(status == 0, "scan exited %d: %s", status, err);
    free(err);
    free(ca);
    free(hosts);
    free(spec);
}

static void fleet_teardown(void)
{
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
    tl_rmtree(dir);
    free(dir);
    free(scan_csv);
}

static char *report(const char *format, const char *extra)
{
    const char *argv[8] = {"report", "--format", format};
    size_t n = 3;
    if (extra)
        argv[n++] = extra;
    argv[n++] = scan_csv;
    argv[n] = NULL;
    char *out, *err;
    int status = tl_run(argv, NULL, &out, &err, 60000);
    ck_assert_msg(status == 0, "report exited %d: %s", status, err);
    free(err);
    return out;
}

static const struct bad *bad_of(const char *ip)
{
    for (size_t i = 0; i < NBAD; i++)
        if (!strcmp(bad[i].ip, ip))
            return &bad[i];
    return NULL;
}

static const char *kind_of(const struct bad *b)
{
    if (!strcmp(b->kind, "expired"))
        return "cert";
    /* the TLS 1.2-only node is the only `us` edge of every host it serves */
    return b->only ? "region" : "node";
}

static const char *failure_of(const struct bad *b)
{
    if (!strcmp(b->kind, "refuse"))
        return "connection_refused";
    if (!strcmp(b->kind, "tls12"))
        return "alert 70 protocol_version";
    if (!strcmp(b->kind, "expired"))
        return "verify expired";
    return "alert 120 no_application_protocol";
}

/* CSV: one fleet finding per bad node, exact counts; no host finding. */
START_TEST(test_fleet_csv)
{
    struct tl_table t;
    tl_table_parse(&t, report("csv", NULL));
    ck_assert_uint_eq(t.nrows, NBAD);
    bool seen[NBAD] = {false};
    for (size_t r = 0; r < t.nrows; r++) {
        ck_assert_str_eq(tl_cell(&t, r, "scope"), "fleet");
        ck_assert_str_eq(tl_cell(&t, r, "host"), "*");
        const struct bad *b = bad_of(tl_cell(&t, r, "failing_ips"));
        ck_assert_msg(b, "a healthy edge is failing: %s", tl_cell(&t, r, "failing_ips"));
        ck_assert(!seen[b - bad]);
        seen[b - bad] = true;
        ck_assert_str_eq(tl_cell(&t, r, "kind"), kind_of(b));
        ck_assert_str_eq(tl_cell(&t, r, "failure"), failure_of(b));
        char want[32];
        snprintf(want, sizeof want, "%lu", b->hosts);
        ck_assert_str_eq(tl_cell(&t, r, "hosts_failing"), want);
        ck_assert_str_eq(tl_cell(&t, r, "hosts_total"), want);
        /* five samples, each a host the node serves and fails */
        const char *s = tl_cell(&t, r, "sample_hosts");
        size_t n = 1;
        for (const char *p = s; *p; p++)
            n += *p == ';';
        ck_assert_uint_eq(n, 5);
        ck_assert_ptr_nonnull(strstr(tl_cell(&t, r, "repro"), b->ip));
        if (b->only && strcmp(b->kind, "expired")) {
            char only[96];
            snprintf(only, sizeof only, "for %lu of them it is their only edge", b->only);
            ck_assert_ptr_nonnull(strstr(tl_cell(&t, r, "explain"), only));
        }
    }
    tl_table_free(&t);
}
END_TEST

/* JSON: the same four, and the summary. */
START_TEST(test_fleet_json)
{
    char *out = report("json", NULL);
    unsigned long total = 0;
    for (size_t i = 0; i < NBAD; i++) {
        char want[512];
        total += bad[i].hosts;
        snprintf(want, sizeof want, "\"failing_ips\":\"%s\",", bad[i].ip);
        const char *p = strstr(out, want);
        ck_assert_msg(p, "no finding for %s", bad[i].ip);
        const char *end = strchr(p, '}');
        snprintf(want, sizeof want,
                 "\"scope\":\"fleet\",\"hosts_failing\":%lu,\"hosts_total\":%lu,", bad[i].hosts,
                 bad[i].hosts);
        const char *q = strstr(p, want);
        ck_assert_msg(q && q < end, "%s: not %s", bad[i].ip, want);
    }
    ck_assert_ptr_null(strstr(out, "\"scope\":\"host\""));
    char summary[128];
    snprintf(summary, sizeof summary,
             "\"fleet_findings\":4,\"fleet_hosts\":%lu,\"host_findings\":0,", total);
    ck_assert_msg(strstr(out, summary), "no %s in %.300s", summary, out);
    free(out);
}
END_TEST

/* Text: the summary line first, then each node with its counts. */
START_TEST(test_fleet_text)
{
    char *out = report("text", NULL);
    unsigned long total = 0;
    for (size_t i = 0; i < NBAD; i++)
        total += bad[i].hosts;
    char want[512];
    snprintf(want, sizeof want, "4 fleet findings covering %lu host failures; 0 host findings\n",
             total);
    ck_assert_msg(!strncmp(out, want, strlen(want)), "starts: %.200s", out);
    for (size_t i = 0; i < NBAD; i++) {
        snprintf(want, sizeof want, "%s: fails for %lu of the %lu hosts", failure_of(&bad[i]),
                 bad[i].hosts, bad[i].hosts);
        ck_assert_msg(strstr(out, want), "no '%s' in the text", want);
    }
    ck_assert_ptr_null(strstr(out, "host findings\n\n"));
    /* wrapped at 80 columns without gluing words: "it is their only edge" */
    char *flat = calloc(1, strlen(out) + 1), *o = flat;
    for (const char *p = out; *p; p++) {
        if (*p == '\n' || (*p == ' ' && o > flat && o[-1] == ' '))
            continue;
        *o++ = *p == '\n' ? ' ' : *p;
        if (p[0] && p[1] == '\n')
            *o++ = ' ';
    }
    for (size_t i = 0; i < NBAD; i++)
        if (!strcmp(bad[i].kind, "tls12")) {
            snprintf(want, sizeof want, "for %lu of them it is their only edge", bad[i].only);
            ck_assert_msg(strstr(flat, want), "no '%s' in %s", want, flat);
        }
    free(flat);
    free(out);
}
END_TEST

/* Row order does not show: the rows reversed give the same report, byte
 * for byte (with the folded host findings too). */
START_TEST(test_fleet_row_order)
{
    size_t len;
    char *text = tl_read_file(scan_csv, &len);
    ck_assert_ptr_nonnull(text);
    char *rev = malloc(len + 1), *o = rev;
    char *nl = strchr(text, '\n');
    memcpy(o, text, (size_t)(nl - text + 1));
    o += nl - text + 1;
    char *end = text + len;
    while (end > nl + 1) {
        char *start = end - 1;
        while (start > nl + 1 && start[-1] != '\n')
            start--;
        memcpy(o, start, (size_t)(end - start));
        o += end - start;
        end = start;
    }
    *o = '\0';
    char *rpath = path_in(dir, "reversed.csv");
    FILE *f = fopen(rpath, "w");
    fputs(rev, f);
    fclose(f);
    const char *a[] = {"report", "--format", "csv", "--by-host", scan_csv, NULL};
    const char *b[] = {"report", "--format", "csv", "--by-host", rpath, NULL};
    char *x, *y;
    ck_assert_int_eq(tl_run(a, NULL, &x, NULL, 60000), 0);
    ck_assert_int_eq(tl_run(b, NULL, &y, NULL, 60000), 0);
    ck_assert_msg(!strcmp(x, y), "the reversed file's report differs");
    free(x);
    free(y);
    free(rpath);
    free(rev);
    free(text);
}
END_TEST

/* --by-host: the folded host findings too, each naming only bad nodes. */
START_TEST(test_fleet_by_host)
{
    struct tl_table t;
    tl_table_parse(&t, report("csv", "--by-host"));
    size_t host_rows = 0, fleet_rows = 0;
    for (size_t r = 0; r < t.nrows; r++) {
        if (!strcmp(tl_cell(&t, r, "scope"), "fleet")) {
            fleet_rows++;
            continue;
        }
        host_rows++;
        char *ips = strdup(tl_cell(&t, r, "failing_ips"));
        for (char *ip = strtok(ips, ";"); ip; ip = strtok(NULL, ";"))
            ck_assert_msg(bad_of(ip), "host finding names a healthy edge %s", ip);
        free(ips);
    }
    ck_assert_uint_eq(fleet_rows, NBAD);
    ck_assert_uint_ge(host_rows, bad[0].hosts); /* at least the hosts of one node */
    tl_table_free(&t);
}
END_TEST

/* ---- baseline: two scans, a fault added and another removed between them ---- */

/* Before: b1 has a refusing edge, b3 a TLS 1.2-only one; b2 is healthy. */
static const char *before_spec = "resolver r 127.91.200.53:5353\n"
                                 "host b1.base.test r=127.91.200.1,127.91.200.2\n"
                                 "host b2.base.test r=127.91.200.3,127.91.200.4\n"
                                 "host b3.base.test r=127.91.200.5,127.91.200.6\n"
                                 "edge 127.91.200.1:8443 cert=b1.base.test\n"
                                 "edge 127.91.200.2:8443 fault=refuse\n"
                                 "edge 127.91.200.3:8443 cert=b2.base.test\n"
                                 "edge 127.91.200.4:8443 cert=b2.base.test\n"
                                 "edge 127.91.200.5:8443 cert=b3.base.test\n"
                                 "edge 127.91.200.6:8443 cert=b3.base.test tls=1.2\n";
/* After: b1 fixed, b2 gained an expired certificate, b3 unchanged. */
static const char *after_spec = "resolver r 127.91.200.53:5353\n"
                                "host b1.base.test r=127.91.200.1,127.91.200.2\n"
                                "host b2.base.test r=127.91.200.3,127.91.200.4\n"
                                "host b3.base.test r=127.91.200.5,127.91.200.6\n"
                                "edge 127.91.200.1:8443 cert=b1.base.test\n"
                                "edge 127.91.200.2:8443 cert=b1.base.test\n"
                                "edge 127.91.200.3:8443 cert=b2.base.test\n"
                                "edge 127.91.200.4:8443 cert=b2.base.test:expired\n"
                                "edge 127.91.200.5:8443 cert=b3.base.test\n"
                                "edge 127.91.200.6:8443 cert=b3.base.test tls=1.2\n";

static void base_scan(const char *spec, const char *out, const char *repeat)
{
    struct tl_lab l;
    tl_lab_start(&l, spec);
    char *ca = path_in(l.dir, "ca.crt");
    const char *argv[] = {"scan",         "-q",
                          "-p",           "8443",
                          "-r",           "r=127.91.200.53:5353",
                          "--ca-file",    ca,
                          "--repeat",     repeat,
                          "-o",           out,
                          "b1.base.test", "b2.base.test",
                          "b3.base.test", NULL};
    char *err;
    int status = tl_run(argv, NULL, NULL, &err, 60000);
    ck_assert_msg(status == 0, "scan exited %d: %s", status, err);
    free(err);
    free(ca);
    ck_assert_int_eq(tl_lab_stop(&l), 0);
}

/* "kind|host|failure|change" per finding. */
static char *changes(const char *csv)
{
    struct tl_table t;
    tl_table_parse(&t, strdup(csv));
    char *out = calloc(1, 4096);
    for (size_t r = 0; r < t.nrows; r++) {
        size_t o = strlen(out);
        snprintf(out + o, 4096 - o, "%s|%s|%s|%s\n", tl_cell(&t, r, "kind"), tl_cell(&t, r, "host"),
                 tl_cell(&t, r, "failure"), tl_cell(&t, r, "change"));
    }
    tl_table_free(&t);
    return out;
}

START_TEST(test_baseline)
{
    char *d = tl_tmpdir();
    char *before = path_in(d, "before.csv"), *before3 = path_in(d, "before3.csv"),
         *after = path_in(d, "after.csv"), *json = path_in(d, "before.json");
    base_scan(before_spec, before, "1");
    base_scan(before_spec, before3, "3"); /* the same faults, three attempts each */
    base_scan(after_spec, after, "1");
    const char *want = "cert|b2.base.test|verify expired|new\n"
                       "node|b3.base.test|alert 70 protocol_version|persisting\n"
                       "node|b1.base.test|connection_refused|fixed\n";
    /* against the earlier scan file */
    const char *a1[] = {"report", "--format", "csv", "--baseline", before, after, NULL};
    char *out, *err;
    ck_assert_int_eq(tl_run(a1, NULL, &out, NULL, 30000), 0);
    char *c = changes(out);
    ck_assert_str_eq(c, want);
    free(c);
    free(out);
    /* ... against an earlier `report --format json` of it: the same */
    const char *a2[] = {"report", "-o", json, before, NULL};
    ck_assert_int_eq(tl_run(a2, NULL, NULL, NULL, 30000), 0);
    const char *a3[] = {"report", "--format", "csv", "--baseline", json, after, NULL};
    ck_assert_int_eq(tl_run(a3, NULL, &out, NULL, 30000), 0);
    c = changes(out);
    ck_assert_str_eq(c, want);
    free(c);
    free(out);
    /* Identity does not depend on repeat counts: the 3-attempt scan as the
     * baseline of the 1-attempt one changes nothing. */
    const char *a4[] = {"report", "--format", "csv", "--baseline", before3, before, NULL};
    ck_assert_int_eq(tl_run(a4, NULL, &out, NULL, 30000), 0);
    c = changes(out);
    ck_assert_str_eq(c, "node|b1.base.test|connection_refused|persisting\n"
                        "node|b3.base.test|alert 70 protocol_version|persisting\n");
    free(c);
    free(out);
    /* --fail-on new: exit 3 for the new cert finding, one line names it */
    const char *a5[] = {"report", "--fail-on", "new", "--baseline", before,
                        "-o",     "/dev/null", after, NULL};
    ck_assert_int_eq(tl_run(a5, NULL, NULL, &err, 30000), 3);
    ck_assert_msg(strstr(err, "--fail-on new: 1 finding: new cert b2.base.test:8443: verify "
                              "expired\n"),
                  "%s", err);
    free(err);
    /* ... new:variant,node: the new finding is a cert one, so nothing fires */
    const char *a6[] = {"report",     "--fail-on", "new:variant,node",
                        "--baseline", before,      "-o",
                        "/dev/null",  after,       NULL};
    ck_assert_int_eq(tl_run(a6, NULL, NULL, &err, 30000), 0);
    ck_assert_str_eq(err, "");
    free(err);
    /* the text says it too */
    const char *a7[] = {"report", "--baseline", before, after, NULL};
    ck_assert_int_eq(tl_run(a7, NULL, &out, NULL, 30000), 0);
    ck_assert_msg(strstr(out, "; against the baseline: 1 new, 1 persisting, 1 fixed\n"), "%s", out);
    ck_assert(strstr(out, "\nfixed since the baseline\n"));
    free(out);
    tl_rmtree(d);
    free(d);
    free(before);
    free(before3);
    free(after);
    free(json);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_fleet");
    TCase *tc = tcase_create("fleet");
    tcase_add_unchecked_fixture(tc, fleet_setup, fleet_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_fleet_csv);
    tcase_add_test(tc, test_fleet_json);
    tcase_add_test(tc, test_fleet_text);
    tcase_add_test(tc, test_fleet_by_host);
    tcase_add_test(tc, test_fleet_row_order);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("baseline");
    tcase_set_timeout(tb, 120);
    tcase_add_test(tb, test_baseline);
    suite_add_tcase(s, tb);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
