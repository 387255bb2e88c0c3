/* test_schema.c - the scan file as analysts load it (issue 14 item 1):
 * docs/schema.md's DDL blocks are the files of docs/sql/, the sqlite script
 * loads a real scan into a typed table (numbers are numbers, empty cells are
 * NULL, `problem <> ''` finds every problem row), and - as the separate
 * meson test `schema_pandas` - docs/schema.md's pandas loader and README's
 * pandas query give string, integer, float and time dtypes and keep the
 * dns_error row.
 *
 * The rows come from a scan of the demo CDN (data/demo.lab) moved to
 * 127.65.0.0/16 (schema_pandas: 127.66.0.0/16), so that these suites and
 * test_demo can run at once, with the demo's matrix.
 *
 * Needs the sqlite3 CLI (./dev installs it) and, for schema_pandas, pandas
 * for some python3 (Debian: python3-pandas); without them the suite exits
 * 77 (SKIP) and says why. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/util.h"
#include "testlib.h"

static char *dir; /* scan.csv and the databases */
static char *csv;
/* The address block of the lab: the two meson tests of this file run at the
 * same time, so each moves the demo lab elsewhere. */
static const char *block = "127.65.";

static char *src_path(const char *rel)
{
    char *p;
    ck_assert(asprintf(&p, "%s/%s", tl_srcdir(), rel) > 0);
    return p;
}

static char *read_src(const char *rel)
{
    char *p = src_path(rel);
    char *t = tl_read_file(p, NULL);
    ck_assert_msg(t != NULL, "cannot read %s", p);
    free(p);
    return t;
}

/* The demo lab on 127.65.x.y, scanned with the demo's matrix. */
static void scan_setup(void)
{
    char *spec = read_src("data/demo.lab");
    for (char *p = spec; (p = strstr(p, "127.77.")) != NULL; p += 7)
        memcpy(p, block, 7);
    struct tl_lab lab;
    tl_lab_start(&lab, spec);
    free(spec);
    dir = tl_tmpdir();
    ck_assert(asprintf(&csv, "%s/scan.csv", dir) > 0);
    char *args_path, *args_text;
    ck_assert(asprintf(&args_path, "%s/scan.args", lab.dir) > 0);
    args_text = tl_read_file(args_path, NULL);
    ck_assert_ptr_nonnull(args_text);
    const char *argv[96];
    size_t n = 0;
    argv[n++] = "scan";
    for (char *w = strtok(args_text, " \n"); w && n < 60; w = strtok(NULL, " \n"))
        argv[n++] = w;
    static const char *const matrix[] = {
        "--tls",      "1.2",   "--tls", "1.3",       "--alpn", "h2,http/1.1", "--alpn",
        "h2",         "--sni", "host",  "--sni",     "none",   "--repeat",    "5",
        "--h2-check", "-c",    "64",    "--timeout", "10000",  "-q",          "-o"};
    for (size_t i = 0; i < ES_ARRAY_LEN(matrix); i++)
        argv[n++] = matrix[i];
    argv[n++] = csv;
    argv[n] = NULL;
    char *err;
    int st = tl_run(argv, NULL, NULL, &err, 120000);
    ck_assert_msg(st == 0, "scan exited %d: %s", st, err);
    free(err);
    free(args_text);
    free(args_path);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}

static void scan_teardown(void)
{
    tl_rmtree(dir);
    free(dir);
    free(csv);
}

/* ---- the DDL blocks are the files ------------------------------------- */

/* The ```sql block that follows "<!-- ddl:NAME" in docs/schema.md. */
static char *doc_block(const char *doc, const char *name)
{
    char marker[64];
    snprintf(marker, sizeof marker, "<!-- ddl:%s ", name);
    const char *m = strstr(doc, marker);
    ck_assert_msg(m != NULL, "docs/schema.md has no %s block", marker);
    const char *b = strstr(m, "```sql\n");
    ck_assert_ptr_nonnull(b);
    b += 7;
    const char *e = strstr(b, "```\n");
    ck_assert_ptr_nonnull(e);
    return strndup(b, (size_t)(e - b));
}

static const char *const engines[] = {"sqlite", "duckdb", "clickhouse"};

START_TEST(test_ddl_blocks_are_files)
{
    char *doc = read_src("docs/schema.md");
    char rel[64];
    snprintf(rel, sizeof rel, "docs/sql/%s.sql", engines[_i]);
    char *file = read_src(rel), *block = doc_block(doc, engines[_i]);
    ck_assert_msg(!strcmp(file, block), "docs/schema.md's %s block differs from %s", engines[_i],
                  rel);
    /* every column of the header, once, in order */
    const char *p = file;
    static const char *const cols[] = {"time",
                                       "vantage",
                                       "host",
                                       "port",
                                       "ip",
                                       "family",
                                       "resolver",
                                       "ecs",
                                       "sni",
                                       "variant",
                                       "tls_offered",
                                       "alpn_offered",
                                       "ciphers_offered",
                                       "groups_offered",
                                       "attempt",
                                       "status",
                                       "error",
                                       "alert",
                                       "alert_name",
                                       "alert_from",
                                       "stage",
                                       "tls_version",
                                       "cipher",
                                       "kx_group",
                                       "alpn",
                                       "verify",
                                       "cert_sha256",
                                       "cert_subject",
                                       "cert_issuer",
                                       "cert_not_before",
                                       "cert_not_after",
                                       "ocsp_stapled",
                                       "h2",
                                       "dns_ms",
                                       "connect_ms",
                                       "handshake_ms",
                                       "total_ms",
                                       "resolver_addr",
                                       "problem",
                                       "kx_bits",
                                       "cert_key",
                                       "cert_sig",
                                       "cert_days_left",
                                       "chain_len",
                                       "hello",
                                       "hello_bytes",
                                       "http_status",
                                       "http_server",
                                       "clock_skew_s",
                                       "h3_advertised"};
    for (size_t i = 0; i < ES_ARRAY_LEN(cols); i++) {
        char want[64];
        snprintf(want, sizeof want, "\n    %s ", cols[i]);
        const char *q = strstr(p, want);
        ck_assert_msg(q != NULL, "%s: column %s missing or out of order", rel, cols[i]);
        p = q + 1;
    }
    free(file);
    free(block);
    free(doc);
}
END_TEST

/* ---- sqlite ------------------------------------------------------------- */

/* Runs sqlite3 on dir/scan.db with one statement; returns its output. */
static char *sql(const char *stmt)
{
    char *cmd, *out;
    ck_assert(asprintf(&cmd, "cd '%s' && sqlite3 -batch -noheader scan.db \"%s\"", dir, stmt) > 0);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    struct es_sb b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        es_sb_addn(&b, buf, n);
    ck_assert_msg(pclose(p) == 0, "sqlite3 failed: %s", stmt);
    out = es_sb_take(&b);
    size_t len = strlen(out);
    while (len && out[len - 1] == '\n')
        out[--len] = '\0';
    free(cmd);
    return out;
}

static void sql_eq(const char *stmt, const char *want)
{
    char *got = sql(stmt);
    ck_assert_msg(!strcmp(got, want), "%s\n  got:  %s\n  want: %s", stmt, got, want);
    free(got);
}

START_TEST(test_sqlite_typed)
{
    /* exactly the documented recipe: the script of docs/sql/, in the scan's directory */
    char *script = src_path("docs/sql/sqlite.sql"), *cmd;
    ck_assert(asprintf(&cmd, "cd '%s' && sqlite3 -batch scan.db < '%s'", dir, script) > 0);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    free(cmd);
    free(script);

    /* what the file holds, counted here */
    struct tl_table t;
    tl_table_parse(&t, tl_read_file(csv, NULL));
    double max_hs = -1;
    size_t hs_cells = 0, problem_rows = 0, not_ok = 0, ok_verify = 0;
    for (size_t r = 0; r < t.nrows; r++) {
        const char *hs = tl_cell(&t, r, "handshake_ms");
        if (*hs) {
            hs_cells++;
            max_hs = fmax(max_hs, strtod(hs, NULL));
        }
        problem_rows += *tl_cell(&t, r, "problem") != '\0';
        not_ok += strcmp(tl_cell(&t, r, "status"), "ok") != 0;
        ok_verify +=
            !strcmp(tl_cell(&t, r, "status"), "ok") && !strcmp(tl_cell(&t, r, "problem"), "verify");
    }
    ck_assert_uint_gt(ok_verify, 0);
    ck_assert_uint_eq(t.nrows, 27 * 8 * 5 + 1); /* 27 edges, 8 variants, 5 attempts */
    /* the point of `problem`: ok rows with an expired certificate or a broken h2 */
    ck_assert_uint_gt(problem_rows, not_ok);

    char want[128];
    snprintf(want, sizeof want, "%zu", t.nrows);
    sql_eq("SELECT count(*) FROM scan", want);
    /* numeric: max() of numbers, not of text */
    snprintf(want, sizeof want, "%.3f|real", max_hs);
    sql_eq("SELECT printf('%.3f', max(handshake_ms)), typeof(max(handshake_ms)) FROM scan", want);
    snprintf(want, sizeof want, "%zu", hs_cells);
    sql_eq("SELECT count(handshake_ms) FROM scan", want);
    /* every numeric cell is a number or NULL (empty cells), never text */
    static const char *const ints[] = {"port",        "family",         "attempt",   "alert",
                                       "kx_bits",     "cert_days_left", "chain_len", "hello_bytes",
                                       "http_status", "clock_skew_s"};
    static const char *const reals[] = {"dns_ms", "connect_ms", "handshake_ms", "total_ms"};
    for (size_t i = 0; i < ES_ARRAY_LEN(ints); i++) {
        char q[256];
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM scan WHERE typeof(%s) NOT IN ('integer', 'null')", ints[i]);
        sql_eq(q, "0");
    }
    for (size_t i = 0; i < ES_ARRAY_LEN(reals); i++) {
        char q[256];
        snprintf(q, sizeof q, "SELECT count(*) FROM scan WHERE typeof(%s) NOT IN ('real', 'null')",
                 reals[i]);
        sql_eq(q, "0");
    }
    sql_eq("SELECT typeof(port), typeof(attempt), min(port) FROM scan WHERE status = 'ok' LIMIT 1",
           "integer|integer|8443");
    /* versions stay text: 1.2 and 1.3, never 1.3 as a number */
    sql_eq("SELECT group_concat(v, ' ') FROM (SELECT DISTINCT typeof(tls_version) || ':' || "
           "tls_version AS v FROM scan WHERE tls_version <> '' ORDER BY v)",
           "text:1.2 text:1.3");
    /* problem <> '' finds every problem row, the dns_error row included */
    snprintf(want, sizeof want, "%zu", problem_rows);
    sql_eq("SELECT count(*) FROM scan WHERE problem <> ''", want);
    sql_eq("SELECT host, ip, problem, error, count(*) FROM scan WHERE status = 'dns_error' GROUP "
           "BY 1, 2, 3, 4",
           "media.demo.test||dns|nxdomain|1");
    /* README's query: its groups add up to every problem row */
    sql_eq("SELECT sum(n) FROM (SELECT host, ip, problem, error, count(*) AS n FROM scan WHERE "
           "problem <> '' GROUP BY 1, 2, 3, 4)",
           want);
    snprintf(want, sizeof want, "%zu", ok_verify);
    sql_eq("SELECT count(*) FROM scan WHERE problem = 'verify' AND status = 'ok'", want);
    tl_table_free(&t);
}
END_TEST

/* ---- pandas ------------------------------------------------------------- */

/* A python3 that imports pandas: the one in PATH, else Debian's. */
static const char *pandas_python(void)
{
    static const char *const pythons[] = {"python3", "/usr/bin/python3"};
    for (size_t i = 0; i < ES_ARRAY_LEN(pythons); i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "%s -c 'import pandas' >/dev/null 2>&1", pythons[i]);
        if (system(cmd) == 0)
            return pythons[i];
    }
    return NULL;
}

/* docs/schema.md's ```python block and README's pandas line, run on the
 * scan: every dtype, the dns_error row kept, the problem rows counted. */
START_TEST(test_pandas)
{
    const char *py = pandas_python();
    ck_assert_ptr_nonnull(py);
    char *doc = read_src("docs/schema.md");
    const char *b = strstr(doc, "```python\n");
    ck_assert_ptr_nonnull(b);
    b += 10;
    const char *e = strstr(b, "```\n");
    char *loader = strndup(b, (size_t)(e - b));
    char *readme = read_src("README.md");
    const char *l = strstr(readme, "python3 -c \"import pandas as pd;");
    ck_assert_msg(l != NULL, "README.md has no pandas query");
    char *line = strndup(l, strcspn(l, "\n"));
    struct es_sb s = {0};
    es_sb_add(&s, loader);
    es_sb_add(
        &s,
        "\nimport subprocess, sys\n"
        "want = {'time': 'datetime64[ns, UTC]', 'cert_not_after': 'datetime64[ns, UTC]',\n"
        "        'port': 'Int64', 'attempt': 'Int64', 'alert': 'Int64',\n"
        "        'cert_days_left': 'Int64', 'http_status': 'Int64',\n"
        "        'handshake_ms': 'float64', 'dns_ms': 'float64',\n"
        "        'tls_version': 'string', 'tls_offered': 'string', 'status': 'string',\n"
        "        'problem': 'string', 'ip': 'string', 'kx_group': 'string'}\n"
        "for c, t in want.items():\n"
        "    assert str(d[c].dtype) == t, (c, str(d[c].dtype), t)\n"
        "assert len(d.columns) == 50\n"
        "assert set(d.tls_version.dropna()) == {'1.2', '1.3'}, set(d.tls_version.dropna())\n"
        "g = d[d.problem.notna()].groupby(['host', 'ip', 'problem', 'error'], "
        "dropna=False).size()\n"
        "assert g.sum() == d.problem.notna().sum() == int(sys.argv[1]), (g.sum(), sys.argv[1])\n"
        "r = g.reset_index(name='n')\n"
        "r = r[(r.problem == 'dns') & r.ip.isna()]\n"
        "assert len(r) == 1 and r.iloc[0].host == 'media.demo.test', r\n"
        "assert r.iloc[0].error == 'nxdomain' and r.iloc[0].n == 1, r\n"
        "assert d.handshake_ms.max() == d.handshake_ms.dropna().astype(float).max()\n"
        "out = subprocess.run(sys.argv[2], shell=True, capture_output=True, text=True)\n"
        "assert out.returncode == 0, out.stderr\n"
        "assert 'nxdomain' in out.stdout and 'media.demo.test' in out.stdout, out.stdout\n"
        "print('pandas', pd.__version__, 'ok')\n");
    char *script_text = es_sb_take(&s);
    char *script = tl_write_file(dir, "check.py", script_text);
    /* the README line as it is, but with this suite's python3 */
    char *readme_cmd = strdup(line);
    if (strcmp(py, "python3")) {
        free(readme_cmd);
        ck_assert(asprintf(&readme_cmd, "%s%s", py, line + strlen("python3")) > 0);
    }
    char *readme_file = tl_write_file(dir, "readme.sh", readme_cmd);
    /* problem rows, counted from the file here */
    struct tl_table t;
    tl_table_parse(&t, tl_read_file(csv, NULL));
    size_t problems = 0;
    for (size_t r = 0; r < t.nrows; r++)
        problems += *tl_cell(&t, r, "problem") != '\0';
    tl_table_free(&t);
    char *cmd;
    ck_assert(asprintf(&cmd, "cd '%s' && %s check.py %zu 'sh readme.sh'", dir, py, problems) > 0);
    ck_assert_msg(system(cmd) == 0, "the pandas checks failed: %s", cmd);
    free(cmd);
    free(readme_file);
    free(readme_cmd);
    free(script);
    free(script_text);
    free(line);
    free(readme);
    free(loader);
    free(doc);
}
END_TEST

int main(int argc, char **argv)
{
    bool pandas = argc > 1 && !strcmp(argv[1], "pandas");
    if (pandas && !pandas_python()) {
        printf("SKIP: no python3 with pandas here (Debian: apt-get install python3-pandas)\n");
        return 77;
    }
    if (!pandas && system("command -v sqlite3 >/dev/null 2>&1") != 0) {
        printf("SKIP: no sqlite3 CLI here (Debian: apt-get install sqlite3; ./dev installs it)\n");
        return 77;
    }
    if (pandas)
        block = "127.66.";
    Suite *s = suite_create(pandas ? "schema_pandas" : "schema");
    if (!pandas) {
        TCase *tc = tcase_create("ddl");
        tcase_add_loop_test(tc, test_ddl_blocks_are_files, 0, (int)ES_ARRAY_LEN(engines));
        suite_add_tcase(s, tc);
    }
    TCase *tl = tcase_create(pandas ? "pandas" : "sqlite");
    tcase_add_unchecked_fixture(tl, scan_setup, scan_teardown);
    tcase_set_timeout(tl, 180);
    tcase_add_test(tl, pandas ? test_pandas : test_sqlite_typed);
    suite_add_tcase(s, tl);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
