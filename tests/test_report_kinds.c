/* test_report_kinds.c - the report kinds of issue #16 end to end
 * (127.93.0.0/16): hello, http, clock, expiry and weak, each found on the
 * node planted with it and on no healthy one.
 *
 *  - host level: one host on seven edges, five of them with one fault each
 *    (an SNI router, a 525, a clock an hour ahead, a certificate with 9 days
 *    left, DHE with a 1024-bit prime), and a healthy host; exact findings in
 *    CSV, JSON and text;
 *  - the scanner's own clock: every edge an hour behind gives one fleet
 *    finding about the scanner and no finding per edge;
 *  - fleet level: a fleet of bench/gen_fleet_lab.py (60 hosts on 15 shared
 *    edges) with those five bad nodes folds into exactly five fleet
 *    findings, one per bad node, and no host finding. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/util.h"
#include "testlib.h"

static char *path_in(const char *d, const char *name)
{
    char *p;
    ck_assert(asprintf(&p, "%s/%s", d, name) > 0);
    return p;
}

/* `edgeshake scan -q -p 8443 --ca-file CA -r R... EXTRA... -o OUT TARGETS...` */
static void scan(const struct tl_lab *lab, const char *const *res, const char *const *extra,
                 const char *out)
{
    const char *argv[64];
    size_t n = 0;
    char *ca = path_in(lab->dir, "ca.crt");
    const char *base[] = {"scan",          "-q",   "-p",        "8443",  "--ca-file", ca,
                          "--dns-timeout", "1000", "--timeout", "10000", "-o",        out};
    for (size_t i = 0; i < ES_ARRAY_LEN(base); i++)
        argv[n++] = base[i];
    for (; *res; res++) {
        argv[n++] = "-r";
        argv[n++] = *res;
    }
    for (; *extra; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    ck_assert_uint_lt(n, ES_ARRAY_LEN(argv));
    char *err;
    int status = tl_run(argv, NULL, NULL, &err, 200000);
    ck_assert_msg(status == 0, "scan exited %d: %s", status, err);
    free(err);
    free(ca);
}

static char *report(const char *format, const char *extra, const char *file)
{
    const char *argv[8] = {"report", "--format", format};
    size_t n = 3;
    if (extra)
        argv[n++] = extra;
    argv[n++] = file;
    argv[n] = NULL;
    char *out, *err;
    int status = tl_run(argv, NULL, &out, &err, 60000);
    ck_assert_msg(status == 0, "report exited %d: %s", status, err);
    free(err);
    return out;
}

/* "kind|scope|host|variant|failure|failing_ips|passing_ips" per finding. */
static char *lines(const struct tl_table *t)
{
    struct es_sb b = {0};
    for (size_t r = 0; r < t->nrows; r++)
        es_sb_printf(&b, "%s|%s|%s|%s|%s|%s|%s\n", tl_cell(t, r, "kind"), tl_cell(t, r, "scope"),
                     tl_cell(t, r, "host"), tl_cell(t, r, "variant"), tl_cell(t, r, "failure"),
                     tl_cell(t, r, "failing_ips"), tl_cell(t, r, "passing_ips"));
    return b.s ? es_sb_take(&b) : es_xstrdup("");
}

static size_t row_of(const struct tl_table *t, const char *kind)
{
    for (size_t r = 0; r < t->nrows; r++)
        if (!strcmp(tl_cell(t, r, "kind"), kind))
            return r;
    ck_abort_msg("no %s finding", kind);
    return 0;
}

/* "clock 3601 s ahead" -> 3601 (the skew reads a second either way). */
static long clock_seconds(const char *failure, const char *prefix, const char *suffix)
{
    size_t n = strlen(prefix);
    ck_assert_msg(!strncmp(failure, prefix, n), "%s", failure);
    char *end;
    long s = strtol(failure + n, &end, 10);
    ck_assert_msg(!strcmp(end, suffix), "%s", failure);
    return s;
}

/* ---- host level ---- */

static const char *host_spec = "resolver k 127.93.53.1:5353\n"
                               "host a.kinds.test k=127.93.1.1,127.93.1.2,127.93.1.3,"
                               "127.93.1.4,127.93.1.5,127.93.1.6,127.93.1.7\n"
                               "host ok.kinds.test k=127.93.2.1,127.93.2.2\n"
                               "edge 127.93.1.1:8443 key=rsa\n"
                               "edge 127.93.1.2:8443 key=rsa\n"
                               "edge 127.93.1.3:8443 key=rsa fault=sni_router\n"
                               "edge 127.93.1.4:8443 key=rsa http_status=525\n"
                               "edge 127.93.1.5:8443 key=rsa clock_skew=3600\n"
                               "edge 127.93.1.6:8443 key=rsa cert=a.kinds.test:expiring\n"
                               "edge 127.93.1.7:8443 key=rsa dh=1024\n"
                               "edge 127.93.2.1:8443 key=rsa dh=2048\n"
                               "edge 127.93.2.2:8443 key=rsa\n";

static struct tl_lab host_lab;
static char *host_dir, *host_csv;

static void host_setup(void)
{
    host_dir = tl_tmpdir();
    tl_lab_start(&host_lab, host_spec);
    host_csv = path_in(host_dir, "scan.csv");
    const char *res[] = {"k=127.93.53.1:5353", NULL};
    const char *extra[] = {"--tls",        "1.2",          "--tls",         "1.3",
                           "--hello",      "plain",        "--hello",       "pq",
                           "--http-check", "a.kinds.test", "ok.kinds.test", NULL};
    scan(&host_lab, res, extra, host_csv);
}

static void host_teardown(void)
{
    ck_assert_int_eq(tl_lab_stop(&host_lab), 0);
    tl_rmtree(host_dir);
    free(host_dir);
    free(host_csv);
}

/* Exactly five findings, one per planted node, none on ok.kinds.test. */
START_TEST(test_host_csv)
{
    struct tl_table t;
    tl_table_parse(&t, report("csv", NULL, host_csv));
    char *got = lines(&t);
    size_t c = row_of(&t, "clock");
    long skew = clock_seconds(tl_cell(&t, c, "failure"), "clock ", " s ahead");
    ck_assert_msg(skew >= 3598 && skew <= 3602, "%ld", skew);
    char *want;
    ck_assert(asprintf(&want,
                       "hello|host|a.kinds.test|tls1.2/h2,http1.1/sni/pq;tls1.3/h2,http1.1/sni/pq|"
                       /* passing on every pq variant: 127.93.1.7 fails TLS 1.2 (weak) */
                       "connection_reset|127.93.1.3|127.93.1.1;127.93.1.2;127.93.1.4;127.93.1.5;"
                       "127.93.1.6\n"
                       "expiry|host|a.kinds.test||expires in 9 days|127.93.1.6|127.93.1.1;"
                       "127.93.1.2;127.93.1.3;127.93.1.4;127.93.1.5;127.93.1.7\n"
                       "http|host|a.kinds.test||http 525|127.93.1.4|127.93.1.1;127.93.1.2;"
                       "127.93.1.3;127.93.1.5;127.93.1.6;127.93.1.7\n"
                       "clock|host|a.kinds.test||%s|127.93.1.5|127.93.1.1;127.93.1.2;"
                       "127.93.1.3;127.93.1.4;127.93.1.6;127.93.1.7\n"
                       "weak|host|a.kinds.test||DHE 1024 bits|127.93.1.7|\n",
                       tl_cell(&t, c, "failure")) > 0);
    ck_assert_str_eq(got, want);
    /* explanations and repro commands */
    size_t h = row_of(&t, "hello");
    ck_assert_str_eq(tl_cell(&t, h, "explain"),
                     "127.93.1.3 fails only with post-quantum-size ClientHellos: a middlebox or "
                     "SNI router in front of it reads one TCP segment; clients with post-quantum "
                     "key exchange will fail here");
    ck_assert_str_eq(tl_cell(&t, h, "repro"),
                     "edgeshake scan a.kinds.test@127.93.1.3 -p 8443 --tls 1.2 --alpn "
                     "h2,http/1.1 --hello pq --hello plain");
    size_t e = row_of(&t, "expiry");
    const char *x = tl_cell(&t, e, "explain");
    ck_assert_msg(!strncmp(x,
                           "the certificate on 127.93.1.6 expires in 9 days; the other edges "
                           "serve one valid until 20",
                           strlen("the certificate on 127.93.1.6 expires in 9 days; the other "
                                  "edges serve one valid until 20")),
                  "%s", x);
    ck_assert_str_eq(tl_cell(&t, e, "repro"),
                     "openssl s_client -connect 127.93.1.6:8443 -servername a.kinds.test "
                     "</dev/null 2>/dev/null | openssl x509 -noout -enddate");
    size_t w = row_of(&t, "http");
    ck_assert(strstr(tl_cell(&t, w, "explain"), "the CDN could not complete TLS with the origin"));
    ck_assert_str_eq(tl_cell(&t, w, "failed"), "4");
    ck_assert_str_eq(tl_cell(&t, w, "attempts"), "24"); /* the http checks: 28 probes, 4 failed */
    ck_assert(strstr(tl_cell(&t, row_of(&t, "weak"), "explain"), "below 2048 bits"));
    tl_table_free(&t);
    free(got);
    free(want);
}
END_TEST

/* JSON: the same findings, in the same order, with their scope. */
START_TEST(test_host_json)
{
    char *out = report("json", NULL, host_csv);
    const char *want[] = {"{\"kind\":\"hello\",\"host\":\"a.kinds.test\"",
                          "{\"kind\":\"expiry\",\"host\":\"a.kinds.test\"",
                          "{\"kind\":\"http\",\"host\":\"a.kinds.test\"",
                          "{\"kind\":\"clock\",\"host\":\"a.kinds.test\"",
                          "{\"kind\":\"weak\",\"host\":\"a.kinds.test\""};
    const char *p = out;
    for (size_t i = 0; i < ES_ARRAY_LEN(want); i++) {
        const char *q = strstr(p, want[i]);
        ck_assert_msg(q, "%s not after %.200s", want[i], p);
        p = q + 1;
    }
    ck_assert(strstr(out, "\"failure\":\"http 525\",\"failing_ips\":\"127.93.1.4\""));
    ck_assert(strstr(out, "\"failure\":\"DHE 1024 bits\",\"failing_ips\":\"127.93.1.7\""));
    ck_assert(strstr(out, "\"failure\":\"expires in 9 days\",\"failing_ips\":\"127.93.1.6\""));
    ck_assert(!strstr(out, "ok.kinds.test"));
    ck_assert(!strstr(out, "\"kind\":\"node\"") && !strstr(out, "\"kind\":\"cert\""));
    free(out);
}
END_TEST

/* Text: the summary counts them; each kind reads as the docs show. */
START_TEST(test_host_text)
{
    char *out = report("text", NULL, host_csv);
    ck_assert_msg(!strncmp(out, "0 fleet findings covering 0 host failures; 5 host findings\n",
                           strlen("0 fleet findings covering 0 host failures; 5 host findings\n")),
                  "%s", out);
    ck_assert_msg(strstr(out, "\na.kinds.test:8443\n  hello        tls1.2/h2,http1.1/sni/pq\n"
                              "               tls1.3/h2,http1.1/sni/pq\n"
                              "    connection_reset: "),
                  "%s", out);
    ck_assert(strstr(out, "  expiry       (all variants)\n    expires in 9 days: "));
    ck_assert(strstr(out, "  http         (all variants)\n    http 525: "));
    ck_assert(strstr(out, "  weak         (all variants)\n    DHE 1024 bits: "));
    ck_assert(strstr(out, "  clock        (all variants)\n    clock 3"));
    ck_assert(!strstr(out, "ok.kinds.test"));
    free(out);
}
END_TEST

/* HTML: the overview counts the new kinds, and each has its group of host
 * findings. */
START_TEST(test_host_html)
{
    char *html = report("html", NULL, host_csv);
    ck_assert_msg(strstr(html, "<th class=k-hello>hello</th><th class=k-expiry>expiry</th>"
                               "<th class=k-http>http</th><th class=k-clock>clock</th>"
                               "<th class=k-weak>weak</th><th>total</th></tr>\n"
                               "<tr><th>fleet</th><td class=n>0</td><td class=n>0</td>"
                               "<td class=n>0</td><td class=n>0</td><td class=n>0</td>"
                               "<td class=n>0</td></tr>\n<tr><th>host</th><td class=n>1</td>"
                               "<td class=n>1</td><td class=n>1</td><td class=n>1</td>"
                               "<td class=n>1</td><td class=n>5</td></tr>"),
                  "%.3000s", html);
    const char *kinds[] = {"hello", "expiry", "http", "clock", "weak"};
    for (size_t i = 0; i < ES_ARRAY_LEN(kinds); i++) {
        char want[96];
        snprintf(want, sizeof want, "<summary><span class=k-%s>%s</span> ", kinds[i], kinds[i]);
        ck_assert_msg(strstr(html, want), "no group %s", want);
    }
    ck_assert(strstr(html, ".k-hello{") || strstr(html, ",.k-hello"));
    free(html);
}
END_TEST

/* --expiry-days: 5 days is less than the 9 left, so no expiry finding; the
 * others stay. --fail-on takes the new kinds. */
START_TEST(test_expiry_days)
{
    struct tl_table t;
    tl_table_parse(&t, report("csv", "--expiry-days=5", host_csv));
    ck_assert_uint_eq(t.nrows, 5);
    for (size_t r = 0; r < t.nrows; r++)
        ck_assert_str_ne(tl_cell(&t, r, "kind"), "expiry");
    /* not about to expire now: the odd certificate is a `cert` finding,
     * which the expiry finding replaced within 21 days */
    size_t c = row_of(&t, "cert");
    ck_assert_str_eq(tl_cell(&t, c, "failure"), "2 different certificates");
    ck_assert_str_eq(tl_cell(&t, c, "failing_ips"), "127.93.1.6");
    tl_table_free(&t);
    const char *argv[] = {"report", "--fail-on", "weak,hello", "-o", "/dev/null", host_csv, NULL};
    char *err;
    ck_assert_int_eq(tl_run(argv, NULL, NULL, &err, 60000), 3);
    ck_assert_msg(strstr(err, "--fail-on weak,hello: 2 findings: hello a.kinds.test:8443: "
                              "connection_reset; weak a.kinds.test:8443: DHE 1024 bits"),
                  "%s", err);
    free(err);
}
END_TEST

/* ---- the scanner's clock ---- */

static const char *skew_spec = "resolver k 127.93.53.2:5353\n"
                               "host s1.kinds.test k=127.93.3.1,127.93.3.2\n"
                               "host s2.kinds.test k=127.93.3.3\n"
                               "edge 127.93.3.1:8443 clock_skew=-600\n"
                               "edge 127.93.3.2:8443 clock_skew=-600\n"
                               "edge 127.93.3.3:8443 clock_skew=-600\n";

/* Every edge is 600 s behind: the scanner's clock is 600 s ahead, one fleet
 * finding, no clock finding per edge. */
START_TEST(test_scanner_clock)
{
    struct tl_lab lab;
    tl_lab_start(&lab, skew_spec);
    char *d = tl_tmpdir(), *csv = path_in(d, "scan.csv");
    const char *res[] = {"k=127.93.53.2:5353", NULL};
    const char *extra[] = {"--tls", "1.3", "--http-check", "s1.kinds.test", "s2.kinds.test", NULL};
    scan(&lab, res, extra, csv);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
    struct tl_table t;
    tl_table_parse(&t, report("csv", NULL, csv));
    ck_assert_uint_eq(t.nrows, 1);
    ck_assert_str_eq(tl_cell(&t, 0, "kind"), "clock");
    ck_assert_str_eq(tl_cell(&t, 0, "scope"), "fleet");
    ck_assert_str_eq(tl_cell(&t, 0, "host"), "*");
    ck_assert_str_eq(tl_cell(&t, 0, "failing_ips"), "");
    long s = clock_seconds(tl_cell(&t, 0, "failure"), "scanner clock ", " s ahead");
    ck_assert_msg(s >= 598 && s <= 602, "%ld", s);
    ck_assert(strstr(tl_cell(&t, 0, "explain"), "the scanner's own clock is wrong"));
    ck_assert_str_eq(tl_cell(&t, 0, "hosts_failing"), "2");
    tl_table_free(&t);
    char *txt = report("text", NULL, csv);
    ck_assert_msg(strstr(txt, "\n  clock        the scanner's own clock\n    scanner clock "), "%s",
                  txt);
    ck_assert_msg(strstr(txt, "every edge that sent a Date (3 edges of 2 of"), "%s", txt);
    free(txt);
    char *html = report("html", NULL, csv);
    ck_assert(strstr(html, "<td class=k-clock>clock</td><td class=mono>the scanner</td>"));
    free(html);
    tl_rmtree(d);
    free(d);
    free(csv);
}
END_TEST

/* ---- fleet level ---- */

#define NBAD 5
struct bad {
    char ip[32], kind[32];
    unsigned long hosts;
};

/* The kind and failure prefix a bad node of the generator must give. */
static const struct {
    const char *bad, *kind, *failure;
} kinds[NBAD] = {
    {"sni_router", "hello", "connection_reset"},
    {"http525", "http", "http 525"},
    {"skew", "clock", "clock 3"},
    {"dh1024", "weak", "DHE 1024 bits"},
    {"expiring", "expiry", "expires in 9 days"},
};

START_TEST(test_fleet)
{
    char *dir = tl_tmpdir(), *spec = path_in(dir, "fleet.lab"), *expect = path_in(dir, "e.json");
    char *cmd;
    ck_assert(asprintf(&cmd,
                       "python3 '%s/bench/gen_fleet_lab.py' --hosts 60 --edges 15 --net 127.93 "
                       "--bad sni_router,http525,skew,dh1024,expiring '%s' '%s' && python3 -c "
                       "'import json,sys\n"
                       "for b in json.load(open(sys.argv[1]))[\"bad\"]: print(b[\"ip\"], "
                       "b[\"kind\"], b[\"hosts\"])' '%s'",
                       tl_srcdir(), spec, expect, expect) > 0);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    struct bad bad[NBAD];
    size_t nb = 0;
    char line[256];
    while (fgets(line, sizeof line, p)) {
        ck_assert_uint_lt(nb, NBAD);
        ck_assert_int_eq(sscanf(line, "%31s %31s %lu", bad[nb].ip, bad[nb].kind, &bad[nb].hosts),
                         3);
        nb++;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_uint_eq(nb, NBAD);
    char *text = tl_read_file(spec, NULL), *hosts = path_in(dir, "hosts.txt");
    FILE *h = fopen(hosts, "w");
    ck_assert_ptr_nonnull(h);
    for (const char *q = text; (q = strstr(q, "\nhost ")) != NULL;) {
        q += 6;
        fprintf(h, "%.*s\n", (int)strcspn(q, " "), q);
    }
    fclose(h);
    struct tl_lab lab;
    tl_lab_start(&lab, text);
    char *csv = path_in(dir, "scan.csv");
    const char *res[] = {"eu=127.93.53.1:5353", "us=127.93.53.2:5353", "ap=127.93.53.3:5353", NULL};
    const char *extra[] = {"--tls",   "1.3", "--tls", "1.2", "--hello",      "plain",
                           "--hello", "pq",  "-i",    hosts, "--http-check", NULL};
    scan(&lab, res, extra, csv);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);

    struct tl_table t;
    tl_table_parse(&t, report("csv", NULL, csv));
    ck_assert_msg(t.nrows == NBAD, "%zu findings:\n%s", t.nrows, lines(&t));
    for (size_t r = 0; r < t.nrows; r++) {
        const char *ip = tl_cell(&t, r, "failing_ips");
        const struct bad *b = NULL;
        for (size_t i = 0; i < NBAD; i++)
            if (!strcmp(bad[i].ip, ip))
                b = &bad[i];
        ck_assert_msg(b, "finding on a healthy edge %s", ip);
        size_t k = 0;
        while (k < NBAD && strcmp(kinds[k].bad, b->kind))
            k++;
        ck_assert_uint_lt(k, NBAD);
        ck_assert_str_eq(tl_cell(&t, r, "kind"), kinds[k].kind);
        ck_assert_str_eq(tl_cell(&t, r, "scope"), "fleet");
        ck_assert_str_eq(tl_cell(&t, r, "host"), "*");
        ck_assert_msg(
            !strncmp(tl_cell(&t, r, "failure"), kinds[k].failure, strlen(kinds[k].failure)), "%s",
            tl_cell(&t, r, "failure"));
        char n[32];
        snprintf(n, sizeof n, "%lu", b->hosts);
        ck_assert_msg(!strcmp(tl_cell(&t, r, "hosts_failing"), n) &&
                          !strcmp(tl_cell(&t, r, "hosts_total"), n),
                      "%s %s: hosts_failing %s, hosts_total %s, want %s", b->kind, ip,
                      tl_cell(&t, r, "hosts_failing"), tl_cell(&t, r, "hosts_total"), n);
    }
    tl_table_free(&t);
    /* JSON and text say the same; --by-host lists the folded host findings */
    char *json = report("json", NULL, csv);
    for (size_t k = 0; k < NBAD; k++) {
        char want[64];
        snprintf(want, sizeof want, "{\"kind\":\"%s\",\"host\":\"*\"", kinds[k].kind);
        ck_assert_msg(strstr(json, want), "%s", want);
    }
    free(json);
    char *txt = report("text", NULL, csv);
    ck_assert_msg(!strncmp(txt, "5 fleet findings covering ", strlen("5 fleet findings covering ")),
                  "%.300s", txt);
    ck_assert(strstr(txt, "; 0 host findings\n"));
    ck_assert(strstr(txt, "fails only with post-quantum-size ClientHellos"));
    free(txt);
    tl_table_parse(&t, report("csv", "--by-host", csv));
    unsigned long want_hosts = 0;
    for (size_t i = 0; i < NBAD; i++)
        want_hosts += bad[i].hosts;
    ck_assert_uint_eq(t.nrows, NBAD + want_hosts);
    tl_table_free(&t);
    tl_rmtree(dir);
    free(dir);
    free(spec);
    free(expect);
    free(cmd);
    free(text);
    free(hosts);
    free(csv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_kinds");
    TCase *tc = tcase_create("host");
    tcase_add_unchecked_fixture(tc, host_setup, host_teardown);
    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, test_host_csv);
    tcase_add_test(tc, test_host_json);
    tcase_add_test(tc, test_host_text);
    tcase_add_test(tc, test_host_html);
    tcase_add_test(tc, test_expiry_days);
    suite_add_tcase(s, tc);
    TCase *tk = tcase_create("scanner clock");
    tcase_set_timeout(tk, 200);
    tcase_add_test(tk, test_scanner_clock);
    suite_add_tcase(s, tk);
    TCase *tf = tcase_create("fleet");
    tcase_set_timeout(tf, 280);
    tcase_add_test(tf, test_fleet);
    suite_add_tcase(s, tf);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
