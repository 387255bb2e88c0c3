/* test_report.c - the report's reader, rules and formats on hand-written
 * scan files (the lab-driven end-to-end test is test_demo.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/report.h"
#include "edgeshake/reportbase.h"
#include "testlib.h"

static const char *header =
    "time,vantage,host,port,ip,family,resolver,ecs,sni,variant,tls_offered,alpn_offered,"
    "ciphers_offered,groups_offered,attempt,status,error,alert,alert_name,alert_from,stage,"
    "tls_version,cipher,group,alpn,verify,cert_sha256,cert_subject,cert_issuer,"
    "cert_not_before,cert_not_after,ocsp_stapled,h2,dns_ms,connect_ms,handshake_ms,total_ms\n";

/* The vantage column of the rows row() writes. */
static const char *vantage = "v";

/* A scan row from the few columns the rules read. */
static void row(char **buf, const char *host, const char *ip, const char *resolver,
                const char *variant, const char *status, const char *error, int alert,
                const char *verify, const char *sha, const char *h2)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {{40, "handshake_failure"},
                 {70, "protocol_version"},
                 {112, "unrecognized_name"},
                 {120, "no_application_protocol"}};
    const char *aname = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].code == alert)
            aname = names[i].name;
    const char *tls = strncmp(variant, "tls1.2", 6) ? "1.3" : "1.2";
    char alerttext[16] = "";
    if (alert >= 0)
        snprintf(alerttext, sizeof alerttext, "%d", alert);
    char *old = *buf;
    ck_assert(asprintf(buf,
                       "%s2026-11-23T00:00:00.000Z,%s,%s,8443,%s,4,%s,,%s,%s,%s,h2,,,1,%s,%s,%s,"
                       "%s,%s,,,,,,%s,%s,CN=x,CN=ca,,,no,%s,1.000,1.000,1.000,3.000\n",
                       old, vantage, host, ip, resolver, host, variant, tls, status, error,
                       alerttext, aname, alert >= 0 ? "peer" : "", verify, sha, h2) > 0);
    free(old);
}

static void ok(char **b, const char *host, const char *ip, const char *res, const char *variant)
{
    row(b, host, ip, res, variant, "ok", "", -1, "ok", "aaaa", "");
}

/* Runs the rules over text and returns the findings as CSV (without the header). */
static char *findings_csv(const char *text, unsigned min_repeat)
{
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "scan.csv", text);
    char *out;
    ck_assert(asprintf(&out, "%s/findings.csv", dir) > 0);
    struct es_report_input in;
    struct es_findings fs = {0};
    char err[512];
    es_report_input_init(&in, min_repeat);
    const char *files[] = {path};
    ck_assert_msg(es_report_read(&in, files, 1, false, &fs, err, sizeof err) == 0, "%s", err);
    es_report_judge(&in, &fs);
    ck_assert(es_report_write(&in, &fs, ES_REPORT_CSV, out, err, sizeof err) == 0);
    es_findings_free(&fs);
    es_report_input_free(&in);
    char *csv = tl_read_file(out, NULL);
    char *body = strdup(strchr(csv, '\n') + 1);
    free(csv);
    tl_rmtree(dir);
    free(dir);
    free(path);
    free(out);
    return body;
}

/* The first `ncols` cells of each finding line, one line per finding. */
static char *cut(const char *csv, int ncols)
{
    char *out = calloc(1, strlen(csv) + 1);
    size_t o = 0;
    int col = 0;
    bool quoted = false;
    for (const char *p = csv; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        if (!quoted && *p == '\n') {
            out[o++] = '\n';
            col = 0;
            continue;
        }
        if (!quoted && *p == ',')
            col++;
        if (col < ncols)
            out[o++] = *p;
    }
    return out;
}

START_TEST(test_healthy_host_no_finding)
{
    char *b = strdup(header);
    ok(&b, "a.test", "127.0.0.1", "eu", "tls1.3/h2/sni");
    ok(&b, "a.test", "127.0.0.2", "eu;us", "tls1.3/h2/sni");
    ok(&b, "a.test", "127.0.0.1", "eu", "tls1.2/h2/sni");
    ok(&b, "a.test", "127.0.0.2", "eu;us", "tls1.2/h2/sni");
    char *csv = findings_csv(b, 2);
    ck_assert_str_eq(csv, "");
    free(csv);
    free(b);
}
END_TEST

START_TEST(test_region_vs_node)
{
    char *b = strdup(header);
    /* us returns only .3, which lacks TLS 1.3: region. */
    ok(&b, "r.test", "127.0.0.1", "eu", "tls1.3/h2/sni");
    ok(&b, "r.test", "127.0.0.2", "eu", "tls1.3/h2/sni");
    row(&b, "r.test", "127.0.0.3", "us", "tls1.3/h2/sni", "alert", "protocol_version", 70, "", "",
        "");
    ok(&b, "r.test", "127.0.0.3", "us", "tls1.2/h2/sni");
    /* eu returns .5 (bad) and .4 (good): node. */
    ok(&b, "n.test", "127.0.0.4", "eu", "tls1.3/h2/sni");
    row(&b, "n.test", "127.0.0.5", "eu", "tls1.3/h2/sni", "alert", "unrecognized_name", 112, "", "",
        "");
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 9);
    ck_assert_str_eq(c, "node,n.test,8443,tls1.3/h2/sni,alert 112 unrecognized_name,127.0.0.5,"
                        "127.0.0.4,eu,\n"
                        "region,r.test,8443,tls1.3/h2/sni,alert 70 protocol_version,127.0.0.3,"
                        "127.0.0.1;127.0.0.2,us,eu\n");
    ck_assert(strstr(csv, "users of us reach only failing nodes: the node does not speak TLS 1.3"));
    ck_assert(strstr(csv, "openssl s_client -connect 127.0.0.3:8443 -servername r.test -tls1_3 "
                          "-alpn h2 </dev/null"));
    free(c);
    free(csv);
    free(b);
}
END_TEST

START_TEST(test_variant_and_down)
{
    char *b = strdup(header);
    /* Every edge fails TLS 1.3, TLS 1.2 works: variant. */
    row(&b, "v.test", "127.0.0.1", "eu", "tls1.3/h2/sni", "alert", "protocol_version", 70, "", "",
        "");
    row(&b, "v.test", "127.0.0.2", "us", "tls1.3/h2/sni", "alert", "protocol_version", 70, "", "",
        "");
    ok(&b, "v.test", "127.0.0.1", "eu", "tls1.2/h2/sni");
    ok(&b, "v.test", "127.0.0.2", "us", "tls1.2/h2/sni");
    /* Nothing works: down, once. */
    row(&b, "d.test", "127.0.0.9", "eu", "tls1.3/h2/sni", "timeout", "handshake_timeout", -1, "",
        "", "");
    row(&b, "d.test", "127.0.0.9", "eu", "tls1.2/h2/sni", "timeout", "handshake_timeout", -1, "",
        "", "");
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 11);
    ck_assert_str_eq(c, "down,d.test,8443,,handshake_timeout,127.0.0.9,,eu,,2,2\n"
                        "variant,v.test,8443,tls1.3/h2/sni,alert 70 protocol_version,"
                        "127.0.0.1;127.0.0.2,,eu;us,,2,2\n");
    free(c);
    free(csv);
    free(b);
}
END_TEST

START_TEST(test_intermittent_min_repeat)
{
    char *b = strdup(header);
    ok(&b, "f.test", "127.0.0.1", "eu", "tls1.3/h2/sni");
    ok(&b, "f.test", "127.0.0.1", "eu", "tls1.3/h2/sni");
    row(&b, "f.test", "127.0.0.1", "eu", "tls1.3/h2/sni", "tls_error", "connection_reset", -1, "",
        "", "");
    ok(&b, "f.test", "127.0.0.2", "eu", "tls1.3/h2/sni");
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 11);
    ck_assert_str_eq(c, "intermittent,f.test,8443,tls1.3/h2/sni,connection_reset,127.0.0.1,"
                        "127.0.0.2,eu,,1,3\n");
    free(c);
    free(csv);
    /* The same node failing every attempt of another variant with the same
     * failure is flaky there too: intermittent, never a `node` finding. */
    char *b2 = strdup(b);
    for (int i = 0; i < 2; i++)
        row(&b2, "f.test", "127.0.0.1", "eu", "tls1.2/h2/sni", "tls_error", "connection_reset", -1,
            "", "", "");
    ok(&b2, "f.test", "127.0.0.2", "eu", "tls1.2/h2/sni");
    csv = findings_csv(b2, 2);
    c = cut(csv, 11);
    /* ... and the two variants merge into one finding for every variant. */
    ck_assert_str_eq(c, "intermittent,f.test,8443,,connection_reset,127.0.0.1,127.0.0.2,eu,,3,"
                        "5\n");
    free(c);
    free(csv);
    free(b2);
    /* With --min-repeat 4 three attempts are not enough to call it. */
    csv = findings_csv(b, 4);
    ck_assert_str_eq(csv, "");
    free(csv);
    free(b);
}
END_TEST

START_TEST(test_cert_and_h2)
{
    char *b = strdup(header);
    row(&b, "c.test", "127.0.0.1", "eu", "tls1.3/h2/sni", "ok", "", -1, "ok", "aa", "ok");
    row(&b, "c.test", "127.0.0.2", "eu", "tls1.3/h2/sni", "ok", "", -1, "expired", "bb", "ok");
    row(&b, "c.test", "127.0.0.3", "us", "tls1.3/h2/sni", "ok", "", -1, "ok", "aa", "eof");
    row(&b, "c.test", "127.0.0.4", "us", "tls1.3/h2/sni", "ok", "", -1, "ok", "cc", "ok");
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 11);
    ck_assert_str_eq(c, "cert,c.test,8443,,2 different certificates,127.0.0.4,"
                        "127.0.0.1;127.0.0.3,us,,1,3\n"
                        "cert,c.test,8443,,verify expired,127.0.0.2,127.0.0.1;127.0.0.3;"
                        "127.0.0.4,eu,us,1,4\n"
                        "h2,c.test,8443,tls1.3/h2/sni,h2 eof,127.0.0.3,127.0.0.1;127.0.0.2;"
                        "127.0.0.4,us,,1,4\n");
    ck_assert(strstr(csv, "curl -sv --http2 --resolve c.test:8443:127.0.0.3 "
                          "https://c.test:8443/"));
    free(c);
    free(csv);
    free(b);
}
END_TEST

START_TEST(test_dns_findings)
{
    char *b = strdup(header);
    static const char *dns_row = "t,v,%s,8443,,,%s,,,,,,,,,dns_error,%s,,,,,,,,,,,,,,,,,,,,\n";
    char line[256];
    /* ap says nxdomain for x.test while eu answers; dead fails for both. */
    ok(&b, "x.test", "127.0.0.1", "eu", "tls1.3/h2/sni");
    ok(&b, "y.test", "127.0.0.2", "eu", "tls1.3/h2/sni");
    char *old = b;
    snprintf(line, sizeof line, dns_row, "x.test", "ap", "nxdomain");
    ck_assert(asprintf(&b, "%s%s", old, line) > 0);
    free(old);
    const char *dead[] = {"x.test", "y.test"};
    for (int i = 0; i < 2; i++) {
        old = b;
        snprintf(line, sizeof line, dns_row, dead[i], "dead", "dns_timeout");
        ck_assert(asprintf(&b, "%s%s", old, line) > 0);
        free(old);
    }
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 11);
    /* dead: one fleet finding (it folds the two host findings); ap's
     * nxdomain is about one name and stays a host finding. */
    ck_assert_str_eq(c, "dns,*,,,dns_timeout,,,dead,eu,2,2\n"
                        "dns,x.test,8443,,nxdomain,,,ap,eu,1,2\n");
    free(c);
    free(csv);
    free(b);
}
END_TEST

/* The same edge fails from one vantage and works from another, each
 * consistently: a `vantage` finding, not node or intermittent. A node that
 * fails from everywhere stays a node finding. */
START_TEST(test_vantage)
{
    char *b = strdup(header);
    const char *vs[] = {"eu-west", "us-east"};
    for (int v = 0; v < 2; v++) {
        vantage = vs[v];
        for (int a = 0; a < 2; a++) {
            ok(&b, "m.test", "127.0.0.1", "eu", "tls1.3/h2/sni");
            if (v == 0)
                ok(&b, "m.test", "127.0.0.2", "eu", "tls1.3/h2/sni");
            else
                row(&b, "m.test", "127.0.0.2", "eu", "tls1.3/h2/sni", "timeout",
                    "handshake_timeout", -1, "", "", "");
            row(&b, "m.test", "127.0.0.3", "eu", "tls1.3/h2/sni", "connect_error",
                "connection_refused", -1, "", "", "");
        }
    }
    vantage = "v";
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 11);
    ck_assert_str_eq(c, "vantage,m.test,8443,tls1.3/h2/sni,handshake_timeout,127.0.0.2,"
                        "127.0.0.1,eu,,2,4\n"
                        "node,m.test,8443,tls1.3/h2/sni,connection_refused,127.0.0.3,127.0.0.1,"
                        "eu,,4,12\n");
    ck_assert(strstr(csv, ",us-east,eu-west,host,1,1,,\n"));
    free(c);
    free(csv);
    free(b);
}
END_TEST

/* An alert we sent (alert_from local) does not explain the node: error does. */
START_TEST(test_local_alert)
{
    char *b = strdup(header);
    ok(&b, "l.test", "127.0.0.1", "eu", "tls1.3/h2/sni");
    row(&b, "l.test", "127.0.0.2", "eu", "tls1.3/h2/sni", "tls_error", "cert_list_too_long", 47, "",
        "", "");
    /* row() writes alert_from peer for any alert: make this one ours. */
    char *p = strstr(b, ",47,,peer,");
    ck_assert_ptr_nonnull(p);
    char *q = malloc(strlen(b) + 2);
    size_t n = (size_t)(p - b);
    memcpy(q, b, n);
    strcpy(q + n, ",47,,local,");
    strcat(q, p + 10);
    char *csv = findings_csv(q, 2);
    ck_assert_ptr_nonnull(strstr(csv, "node,l.test,8443,tls1.3/h2/sni,cert_list_too_long,"
                                      "127.0.0.2,127.0.0.1,"));
    ck_assert_ptr_nonnull(strstr(csv, "certificate chain larger than the scanner accepts"));
    ck_assert_ptr_null(strstr(csv, "malformed"));
    free(csv);
    free(q);
    free(b);
}
END_TEST

/* Writes text to a temporary file and runs `edgeshake report ARGS... FILE`;
 * returns stdout (stderr in *err when err is not NULL). */
static char *run_report(const char *name, const char *text, const char *const *args, int want,
                        char **err)
{
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, name, text);
    const char *argv[16] = {"report"};
    size_t n = 1;
    for (; args && *args; args++)
        argv[n++] = *args;
    argv[n++] = path;
    argv[n] = NULL;
    char *out;
    int status = tl_run(argv, NULL, &out, err, 10000);
    ck_assert_msg(status == want, "report exited %d, not %d", status, want);
    tl_rmtree(dir);
    free(dir);
    free(path);
    return out;
}

/* A host whose edges fail differently is one `down` per failure: a refusing
 * edge and a silent one are two findings, each naming its edge. */
START_TEST(test_down_per_failure)
{
    char *b = strdup(header);
    const char *variants[] = {"tls1.3/h2/sni", "tls1.2/h2/sni"};
    for (int v = 0; v < 2; v++) {
        row(&b, "d.test", "127.0.0.1", "eu", variants[v], "connect_error", "connection_refused", -1,
            "", "", "");
        row(&b, "d.test", "127.0.0.2", "us", variants[v], "timeout", "handshake_timeout", -1, "",
            "", "");
    }
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 11);
    ck_assert_str_eq(c, "down,d.test,8443,,connection_refused,127.0.0.1,,eu,,2,4\n"
                        "down,d.test,8443,,handshake_timeout,127.0.0.2,,us,,2,4\n");
    ck_assert(strstr(csv, "nothing listens on this port"));
    ck_assert(strstr(csv, "never finishes the handshake"));
    free(c);
    free(csv);
    free(b);
}
END_TEST

/* A resolver answering NXDOMAIN for some names and SERVFAIL for one (and
 * no address at all) is not "down": one dns finding per name, as they are
 * about names, not about the resolver. */
START_TEST(test_dns_not_rolled_up)
{
    char *b = strdup(header);
    static const char *dns_row = "t,v,%s,8443,,,b,,,,,,,,,dns_error,%s,,,,,,,,,,,,,,,,,,,,\n";
    const char *hosts[] = {"x.test", "y.test", "z.test"};
    const char *tokens[] = {"nxdomain", "nxdomain", "servfail"};
    for (int i = 0; i < 3; i++) {
        ok(&b, hosts[i], "127.0.0.1", "a", "tls1.3/h2/sni");
        char line[256], *old = b;
        snprintf(line, sizeof line, dns_row, hosts[i], tokens[i]);
        ck_assert(asprintf(&b, "%s%s", old, line) > 0);
        free(old);
    }
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 11);
    ck_assert_str_eq(c, "dns,x.test,8443,,nxdomain,,,b,a,1,2\n"
                        "dns,y.test,8443,,nxdomain,,,b,a,1,2\n"
                        "dns,z.test,8443,,servfail,,,b,a,1,2\n");
    ck_assert(!strstr(csv, "down"));
    free(c);
    free(csv);
    free(b);
}
END_TEST

/* A --dry-run file probed nothing: no findings, and the text says why. */
START_TEST(test_dry_run_no_findings)
{
    char *b = strdup(header);
    for (int i = 0; i < 3; i++) {
        char *old = b;
        ck_assert(asprintf(&b,
                           "%s2026-11-23T00:00:00.000Z,v,p%d.test,8443,127.0.0.%d,4,eu,,p.test,"
                           "tls1.3/h2/sni,1.3,h2,,,1,planned,,,,,,,,,,,,,,,,,,,,,\n",
                           old, i, i + 1) > 0);
        free(old);
    }
    char *csv = findings_csv(b, 2);
    ck_assert_str_eq(csv, "");
    free(csv);
    const char *args[] = {"--format", "text", NULL};
    char *out = run_report("dry.csv", b, args, 0, NULL);
    ck_assert_msg(!strncmp(out,
                           "no findings: the files hold 3 planned rows from --dry-run and "
                           "no probe\n",
                           70),
                  "%s", out);
    ck_assert(!strstr(out, "down"));
    free(out);
    free(b);
}
END_TEST

/* An alert at stage certificate or post_handshake is a client certificate
 * the node requires, not a cipher mismatch. */
START_TEST(test_client_cert_alert)
{
    static const struct {
        int alert;
        const char *variant, *stage, *explain;
    } cases[] = {
        {116, "tls1.3/h2/sni", "post_handshake", "requires a client certificate"},
        {40, "tls1.2/h2/sni", "certificate", "asks for a client certificate and fails"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b = strdup(header);
        ok(&b, "m.test", "127.0.0.1", "eu", cases[i].variant);
        row(&b, "m.test", "127.0.0.2", "eu", cases[i].variant, "alert", "", cases[i].alert, "", "",
            "");
        char *p = strstr(b, ",peer,,");
        ck_assert_ptr_nonnull(p);
        char *q;
        ck_assert(asprintf(&q, "%.*s,peer,%s,%s", (int)(p - b), b, cases[i].stage, p + 7) > 0);
        char *csv = findings_csv(q, 2);
        ck_assert_msg(strstr(csv, cases[i].explain), "case %zu: %s", i, csv);
        ck_assert_msg(!strstr(csv, "cipher"), "case %zu: %s", i, csv);
        free(csv);
        free(q);
        free(b);
    }
}
END_TEST

/* The DNS repro names the resolver's address (the resolver_addr column),
 * and TLS 1.0/1.1 repros lower OpenSSL's security level as the probe does. */
START_TEST(test_repro_resolver_addr_and_legacy_tls)
{
    const char *text =
        "{\"host\":\"x.test\",\"port\":443,\"ip\":\"127.0.0.1\",\"resolver\":\"a\","
        "\"resolver_addr\":\"127.0.0.53:53\",\"variant\":\"tls1.0/none/sni\",\"tls_offered\":"
        "\"1.0\",\"alpn_offered\":\"none\",\"sni\":\"x.test\",\"status\":\"ok\",\"error\":\"\"}\n"
        "{\"host\":\"x.test\",\"port\":443,\"ip\":\"127.0.0.2\",\"resolver\":\"a\","
        "\"resolver_addr\":\"127.0.0.53:53\",\"variant\":\"tls1.0/none/sni\",\"tls_offered\":"
        "\"1.0\",\"alpn_offered\":\"none\",\"sni\":\"x.test\",\"status\":\"alert\",\"error\":"
        "\"handshake_failure\",\"alert\":40,\"alert_name\":\"handshake_failure\",\"alert_from\":"
        "\"peer\"}\n"
        "{\"host\":\"x.test\",\"port\":443,\"ip\":\"\",\"resolver\":\"b\",\"resolver_addr\":"
        "\"127.0.0.54:5353\",\"variant\":\"\",\"status\":\"dns_error\",\"error\":\"servfail\"}\n";
    const char *args[] = {"--format", "csv", NULL};
    char *out = run_report("scan.jsonl", text, args, 0, NULL);
    ck_assert_msg(strstr(out, "dig @127.0.0.54 -p 5353 x.test A  # the resolver labelled b"), "%s",
                  out);
    ck_assert_msg(strstr(out, "openssl s_client -connect 127.0.0.2:443 -servername x.test -tls1 "
                              "-cipher DEFAULT:@SECLEVEL=0 </dev/null"),
                  "%s", out);
    free(out);
    /* Without the column, FILE.meta.json gives the address. */
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "old.csv",
                               "host,port,ip,resolver,variant,status,error\n"
                               "x.test,443,127.0.0.1,a,v,ok,\n"
                               "x.test,443,,b,,dns_error,servfail\n");
    free(tl_write_file(dir, "old.csv.meta.json",
                       "{\"version\":\"0.1.0\",\"resolvers\":{\"a\":[\"127.0.0.53:53\"],"
                       "\"b\":[\"127.0.0.55:5300\",\"127.0.0.56:53\"]},\"ecs\":{}}\n"));
    const char *argv[] = {"report", "--format", "csv", path, NULL};
    ck_assert_int_eq(tl_run(argv, NULL, &out, NULL, 10000), 0);
    ck_assert_msg(strstr(out, "dig @127.0.0.55 -p 5300 x.test A  # the resolver labelled b"), "%s",
                  out);
    free(out);
    tl_rmtree(dir);
    free(dir);
    free(path);
}
END_TEST

/* Fleet findings from hand-written rows: an edge failing for three hosts is
 * one fleet finding that folds them; an edge failing for one host stays a
 * host finding; --by-host lists the folded ones too. */
START_TEST(test_fleet_fold)
{
    char *b = strdup(header);
    const char *hosts[] = {"h1.test", "h2.test", "h3.test"};
    for (int i = 0; i < 3; i++) {
        ok(&b, hosts[i], "127.0.0.1", "eu", "tls1.3/h2/sni");
        row(&b, hosts[i], "127.0.0.9", "eu", "tls1.3/h2/sni", "connect_error", "connection_refused",
            -1, "", "", "");
    }
    ok(&b, "solo.test", "127.0.0.1", "eu", "tls1.3/h2/sni");
    row(&b, "solo.test", "127.0.0.7", "eu", "tls1.3/h2/sni", "alert", "unrecognized_name", 112, "",
        "", "");
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 11);
    ck_assert_str_eq(c, "node,*,8443,,connection_refused,127.0.0.9,,eu,,3,3\n"
                        "node,solo.test,8443,tls1.3/h2/sni,alert 112 unrecognized_name,127.0.0.7,"
                        "127.0.0.1,eu,,1,2\n");
    ck_assert(strstr(csv, ",fleet,3,3,h1.test;h2.test;h3.test,\n"));
    ck_assert(strstr(csv, ",host,1,1,,\n"));
    free(c);
    free(csv);
    const char *args[] = {"--format", "csv", "--by-host", NULL};
    char *out = run_report("scan.csv", b, args, 0, NULL);
    size_t lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, 1 + 2 + 3);
    free(out);
    free(b);
}
END_TEST

/* Text whenever -o has no known suffix, a terminal or not; .htm is html. */
START_TEST(test_format_pick)
{
    ck_assert_int_eq(es_report_format_pick(NULL, "-"), ES_REPORT_TEXT);
    ck_assert_int_eq(es_report_format_pick(NULL, "out"), ES_REPORT_TEXT);
    ck_assert_int_eq(es_report_format_pick(NULL, "out.report"), ES_REPORT_TEXT);
    ck_assert_int_eq(es_report_format_pick(NULL, "out.htm"), ES_REPORT_HTML);
    ck_assert_int_eq(es_report_format_pick(NULL, "OUT.HTML"), ES_REPORT_HTML);
    ck_assert_int_eq(es_report_format_pick(NULL, "out.csv"), ES_REPORT_CSV);
    ck_assert_int_eq(es_report_format_pick(NULL, "out.json"), ES_REPORT_JSON);
    ck_assert_int_eq(es_report_format_pick("csv", "out.txt"), ES_REPORT_CSV);
    /* stdout a pipe (tl_run's): text */
    char *b = strdup(header);
    ok(&b, "n.test", "127.0.0.4", "eu", "tls1.3/h2/sni");
    row(&b, "n.test", "127.0.0.5", "eu", "tls1.3/h2/sni", "alert", "unrecognized_name", 112, "", "",
        "");
    char *out = run_report("scan.csv", b, NULL, 0, NULL);
    ck_assert_msg(!strncmp(out, "0 fleet findings covering 0 host failures; 1 host finding\n", 58),
                  "%s", out);
    free(out);
    free(b);
}
END_TEST

/* `report | head` exits quietly: no message, exit 0. */
START_TEST(test_head_quiet)
{
    char *b = strdup(header);
    for (int i = 0; i < 2000; i++) {
        char host[32];
        snprintf(host, sizeof host, "n%04d.test", i);
        ok(&b, host, "127.0.0.4", "eu", "tls1.3/h2/sni");
        row(&b, host, "127.0.0.5", "eu;us", "tls1.3/h2/sni", "alert", "unrecognized_name",
            i % 7 + 1, "", "", "");
    }
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "scan.csv", b);
    char *script;
    ck_assert(asprintf(&script,
                       "'%s' report --by-host '%s' 2>'%s/err' | head -1 >/dev/null\n"
                       "echo \"status ${PIPESTATUS[0]}\"\n",
                       tl_bin(), path, dir) > 0);
    char *sp = tl_write_file(dir, "head.sh", script), *cmd;
    ck_assert(asprintf(&cmd, "bash '%s'", sp) > 0);
    FILE *p = popen(cmd, "r");
    char line[128] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    pclose(p);
    ck_assert_str_eq(line, "status 0\n");
    char *errpath;
    ck_assert(asprintf(&errpath, "%s/err", dir) > 0);
    size_t len;
    char *err = tl_read_file(errpath, &len);
    ck_assert_msg(err && len == 0, "stderr: %s", err ? err : "(none)");
    free(err);
    free(errpath);
    free(cmd);
    free(sp);
    free(script);
    tl_rmtree(dir);
    free(dir);
    free(path);
    free(b);
}
END_TEST

/* An edge that times out for some of its hosts and works for the others is
 * flaky or overloaded at fleet level, not a bad node. */
START_TEST(test_fleet_transient)
{
    char *b = strdup(header);
    const char *hosts[] = {"t1.test", "t2.test", "t3.test"};
    for (int i = 0; i < 3; i++) {
        ok(&b, hosts[i], "127.0.0.1", "eu", "tls1.3/h2/sni");
        if (i < 2)
            row(&b, hosts[i], "127.0.0.9", "eu", "tls1.3/h2/sni", "timeout", "handshake_timeout",
                -1, "", "", "");
        else
            ok(&b, hosts[i], "127.0.0.9", "eu", "tls1.3/h2/sni");
    }
    char *csv = findings_csv(b, 2);
    char *c = cut(csv, 11);
    ck_assert_str_eq(c, "intermittent,*,8443,,handshake_timeout,127.0.0.9,,eu,,2,3\n");
    ck_assert(strstr(csv, "overloaded or flaky node"));
    ck_assert(strstr(csv, ",fleet,2,3,t1.test;t2.test,\n"));
    free(c);
    free(csv);
    free(b);
}
END_TEST

struct bad_case {
    const char *text;
    const char *message;
};

static const struct bad_case bad_cases[] = {
    {"", "empty file"},
    {"host,port\nx,1\n", "no column 'ip'"},
    {"host,port,ip,resolver,variant,status,error\nx,1,127.0.0.1,-,v,ok\n", ":2: 6 fields, the "
                                                                           "header has 7"},
    {"host,port,ip,resolver,variant,status,error\nx,99999,127.0.0.1,-,v,ok,\n",
     ":2: host 'x' or port '99999' is not valid"},
    {"host,port,ip,resolver,variant,status,error\nx,1,127.0.0.1,-,v,fine,\n",
     ":2: status 'fine' is not one of"},
    {"host,port,ip,resolver,variant,status,error\nx,1,127.0.0.1,-,\"v,ok,\n",
     ":2: quoted field not closed"},
    {"host,port,ip,resolver,variant,status,error\nx,1,127.0.0.1,-,v\"v,ok,\n",
     ":2: quote inside an unquoted field"},
    {"{\"host\":\"x\",\"port\":1,\"ip\":\"127.0.0.1\",\"resolver\":\"-\",\"variant\":\"v\","
     "\"status\":\"ok\",\"error\":null}\n{\"host\":\"x\",\"port\":1,\n",
     ":2: malformed JSON object"},
    {"{\"host\":\"x\"}\n", "no column 'port'"},
};

START_TEST(test_bad_input)
{
    const struct bad_case *c = &bad_cases[_i];
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "bad.csv", c->text);
    char *err;
    const char *argv[] = {"report", "--format", "csv", path, NULL};
    int status = tl_run(argv, NULL, NULL, &err, 10000);
    ck_assert_msg(status == 2, "case %d: status %d: %s", _i, status, err);
    ck_assert_msg(strstr(err, c->message), "case %d: '%s' not in: %s", _i, c->message, err);
    ck_assert_msg(strstr(err, path), "case %d: no file name in: %s", _i, err);
    free(err);
    /* --skip-bad-rows goes on past malformed rows (not past a bad header). */
    if (strstr(c->message, ":2:")) {
        const char *argv2[] = {"report", "--skip-bad-rows", "--format", "csv", path, NULL};
        status = tl_run(argv2, NULL, NULL, &err, 10000);
        ck_assert_msg(status == 0, "case %d: skip: status %d: %s", _i, status, err);
        ck_assert_msg(strstr(err, "skipped 1 malformed rows"), "case %d: %s", _i, err);
        free(err);
    }
    tl_rmtree(dir);
    free(dir);
    free(path);
}
END_TEST

START_TEST(test_fail_on_and_formats)
{
    char *b = strdup(header);
    ok(&b, "n.test", "127.0.0.4", "eu", "tls1.3/h2/sni");
    row(&b, "n.test", "127.0.0.5", "eu", "tls1.3/h2/sni", "alert", "unrecognized_name", 112, "", "",
        "");
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "scan.csv", b);
    char *out, *err;
    const char *a1[] = {"report", "--fail-on", "region,node", "--format", "json", path, NULL};
    ck_assert_int_eq(tl_run(a1, NULL, &out, NULL, 10000), 3);
    ck_assert(strstr(out, "\"kind\":\"node\",\"host\":\"n.test\",\"port\":8443"));
    free(out);
    const char *a2[] = {"report", "--fail-on", "dns", "--format", "text", path, NULL};
    ck_assert_int_eq(tl_run(a2, NULL, &out, NULL, 10000), 0);
    ck_assert(strstr(out, "n.test:8443\n  node         tls1.3/h2/sni\n"));
    free(out);
    const char *a3[] = {"report", "--fail-on", "nodes", path, NULL};
    ck_assert_int_eq(tl_run(a3, NULL, NULL, &err, 10000), 2);
    ck_assert(strstr(err, "--fail-on: unknown kind 'nodes'"));
    free(err);
    /* html: self-contained, escaped. */
    char *html;
    ck_assert(asprintf(&html, "%s/r.html", dir) > 0);
    const char *a4[] = {"report", "-o", html, path, NULL};
    ck_assert_int_eq(tl_run(a4, NULL, NULL, NULL, 10000), 0);
    char *page = tl_read_file(html, NULL);
    ck_assert(strstr(page, "<!doctype html>"));
    ck_assert(strstr(page, "<h3>n.test:8443 <span class=k-node>node</span></h3>"));
    ck_assert(strstr(page, "title=\"127.0.0.5 via eu, tls1.3/h2/sni: 1 of 1 failed; handshake: "
                           "alert 112"));
    ck_assert(!strstr(page, "http://") && !strstr(page, "https://"));
    free(page);
    free(html);
    tl_rmtree(dir);
    free(dir);
    free(path);
    free(b);
}
END_TEST

/* The kinds of issue #16 from hand-written rows with their columns: a weak
 * certificate key, a split-only failure (hello), two skewed clocks that
 * disagree (two edge findings, not the scanner's clock), and no `http`
 * finding for a check that died with the HTTP/2 check (the `h2` finding's). */
START_TEST(test_issue16_rules)
{
    static const char text[] =
        "host,port,ip,resolver,variant,hello,status,error,verify,cert_sha256,h2,http_status,"
        "clock_skew_s,kx_group,kx_bits,cert_key,cert_days_left,time\n"
        "w.test,443,127.0.0.1,eu,tls1.3/h2/sni,plain,ok,,ok,aa,,,,X25519,253,rsa1024,90,"
        "2026-01-01T00:00:00.000Z\n"
        "w.test,443,127.0.0.2,eu,tls1.3/h2/sni,plain,ok,,ok,aa,,,,X25519,253,rsa2048,90,"
        "2026-01-01T00:00:00.000Z\n"
        "s.test,443,127.0.0.3,eu,tls1.3/h2/sni,plain,ok,,ok,bb,,,,,,,,\n"
        "s.test,443,127.0.0.3,eu,tls1.3/h2/sni/split,split,tls_error,connection_reset,,,,,,,,,,\n"
        "s.test,443,127.0.0.4,eu,tls1.3/h2/sni,plain,ok,,ok,bb,,,,,,,,\n"
        "s.test,443,127.0.0.4,eu,tls1.3/h2/sni/split,split,ok,,ok,bb,,,,,,,,\n"
        "c.test,443,127.0.0.5,eu,tls1.3/h2/sni,plain,ok,,ok,cc,,200,100,,,,,\n"
        "c.test,443,127.0.0.6,eu,tls1.3/h2/sni,plain,ok,,ok,cc,,200,-100,,,,,\n"
        "c.test,443,127.0.0.7,eu,tls1.3/h2/sni,plain,ok,,ok,cc,,200,0,,,,,\n"
        "h.test,443,127.0.0.8,eu,tls1.3/h2/sni,plain,ok,,ok,dd,eof,0,,,,,,\n"
        "h.test,443,127.0.0.9,eu,tls1.3/h2/sni,plain,ok,,ok,dd,ok,0,,,,,,\n"
        "h.test,443,127.0.0.10,eu,tls1.3/h2/sni,plain,ok,,ok,dd,ok,200,,,,,,\n";
    char *csv = findings_csv(text, 2);
    char *c = cut(csv, 7);
    ck_assert_str_eq(c, "clock,c.test,443,,clock 100 s ahead,127.0.0.5,127.0.0.7\n"
                        "clock,c.test,443,,clock 100 s behind,127.0.0.6,127.0.0.7\n"
                        "h2,h.test,443,tls1.3/h2/sni,h2 eof,127.0.0.8,127.0.0.9;127.0.0.10\n"
                        "http,h.test,443,,http no response,127.0.0.9,127.0.0.10\n"
                        "hello,s.test,443,tls1.3/h2/sni/split,connection_reset,127.0.0.3,"
                        "127.0.0.4\n"
                        "weak,w.test,443,,RSA 1024-bit key,127.0.0.1,127.0.0.2\n");
    ck_assert(strstr(csv, "127.0.0.3 fails only with split ClientHellos: a middlebox"));
    /* (no tls_offered, alpn_offered columns here: no --tls, --alpn) */
    ck_assert(strstr(csv, "edgeshake scan s.test@127.0.0.3 -p 443 --hello split --hello plain"));
    free(c);
    free(csv);
}
END_TEST

/* --baseline identity: the numbers of clock and expiry findings are not
 * part of it (a skew reads a second differently, days left shrink); the
 * failure of other kinds is. */
START_TEST(test_identity_without_numbers)
{
    char a[] = "clock 3600 s ahead", b[] = "clock 3601 s ahead", c[] = "clock 3600 s behind",
         d[] = "expires in 9 days", e[] = "expires in 8 days", w1[] = "DHE 1024 bits",
         w2[] = "DHE 1536 bits", ips[] = "127.0.0.1", empty[] = "";
    struct es_finding f = {.kind = ES_FINDING_CLOCK,
                           .host = "x.test",
                           .port = 443,
                           .variant = "",
                           .failing_ips = ips,
                           .failing_resolvers = empty,
                           .hosts_failing = 1,
                           .hosts_total = 1};
    char *ids[7];
    char *fail[] = {a, b, c, d, e, w1, w2};
    for (size_t i = 0; i < 7; i++) {
        f.kind = i < 3 ? ES_FINDING_CLOCK : i < 5 ? ES_FINDING_EXPIRY : ES_FINDING_WEAK;
        f.failure = fail[i];
        ids[i] = rb_identity(&f);
    }
    ck_assert_str_eq(ids[0], ids[1]);
    ck_assert_str_ne(ids[0], ids[2]);
    ck_assert_str_eq(ids[3], ids[4]);
    ck_assert_str_ne(ids[5], ids[6]);
    ck_assert_str_eq(ids[0], "host|clock|x.test|443|clock s ahead||127.0.0.1");
    for (size_t i = 0; i < 7; i++)
        free(ids[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_healthy_host_no_finding);
    tcase_add_test(tc, test_region_vs_node);
    tcase_add_test(tc, test_variant_and_down);
    tcase_add_test(tc, test_intermittent_min_repeat);
    tcase_add_test(tc, test_cert_and_h2);
    tcase_add_test(tc, test_dns_findings);
    tcase_add_test(tc, test_vantage);
    tcase_add_test(tc, test_local_alert);
    tcase_add_test(tc, test_down_per_failure);
    tcase_add_test(tc, test_dns_not_rolled_up);
    tcase_add_test(tc, test_dry_run_no_findings);
    tcase_add_test(tc, test_client_cert_alert);
    tcase_add_test(tc, test_repro_resolver_addr_and_legacy_tls);
    tcase_add_test(tc, test_fleet_fold);
    tcase_add_test(tc, test_fleet_transient);
    tcase_add_test(tc, test_issue16_rules);
    tcase_add_test(tc, test_identity_without_numbers);
    suite_add_tcase(s, tc);
    TCase *io = tcase_create("io");
    tcase_add_loop_test(io, test_bad_input, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(io, test_fail_on_and_formats);
    tcase_add_test(io, test_format_pick);
    tcase_add_test(io, test_head_quiet);
    suite_add_tcase(s, io);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
