/* test_cli.c - the option table: help, version, and every kind of usage error. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

struct cli_case {
    const char *argv[8];
    int status;
    const char *out; /* substring expected on stdout, or NULL */
    const char *err; /* substring expected on stderr, or NULL */
};

static const struct cli_case cases[] = {
    {{"--version"}, 0, "edgeshake 0.", NULL},
    {{"--help"}, 0, "edgeshake report [options] FILE...", NULL},
    {{"scan", "--help"}, 0, "--connect-timeout MS", NULL},
    {{"scan", "--help"}, 0, "check [5000]", NULL},
    {{"report", "--help"}, 0, "--format text|csv|json|html", NULL},
    {{"lab", "--help"}, 0, "usage: edgeshake lab SPEC [--state DIR]", NULL},
    {{NULL}, 2, NULL, "usage:"},
    {{"frobnicate"}, 2, NULL, "unknown command 'frobnicate'; expected scan, report"},
    {{"scan", "--frob"}, 2, NULL, "edgeshake scan: unknown option '--frob'"},
    {{"scan", "-Z"}, 2, NULL, "edgeshake scan: unknown option '-Z'"},
    {{"scan", "--timeout"}, 2, NULL, "edgeshake scan: --timeout needs an argument: MS"},
    {{"scan", "--timeout", "abc"}, 2, NULL,
     "--timeout: expected MS, a whole number from 1 to 3600000, got 'abc'"},
    {{"scan", "--timeout=0"}, 2, NULL, "got '0'"},
    {{"scan", "-p", "70000"}, 2, NULL, "--port: expected N, a whole number from 1 to 65535"},
    {{"scan", "-p99999"}, 2, NULL, "got '99999'"},
    {{"scan", "--tls", "1.4"}, 2, NULL, "--tls: expected one of 1.0|1.1|1.2|1.3, got '1.4'"},
    {{"scan", "--family=5"}, 2, NULL, "--family: expected one of 4|6|both"},
    {{"scan", "--format", "xml"}, 2, NULL, "--format: expected one of csv|jsonl"},
    {{"report", "--format", "jsonl", "x.csv"}, 2, NULL, "expected one of text|csv|json|html"},
    {{"scan", "--dry-run=yes"}, 2, NULL, "--dry-run takes no value"},
    {{"lab", "--port", "1", "x"}, 2, NULL, "'--port' is not an option of lab"},
    {{"lab"}, 2, NULL, "edgeshake lab: missing argument; usage: edgeshake lab SPEC"},
    {{"lab", "a", "b"}, 2, NULL, "too many arguments ('b')"},
    {{"demo", "extra"}, 2, NULL, "unexpected argument 'extra'"},
    {{"report"}, 2, NULL, "missing argument; usage: edgeshake report"},
    {{"scan", "--output", ""}, 2, NULL, "--output: expected FILE, got an empty value"},
    /* values that look like options, in both spellings (DESIGN §3.1) */
    {{"scan", "--sni", "-q", "x.test"}, 2, NULL,
     "edgeshake scan: --sni: expected host|none|NAME, got '-q', which looks like an option"},
    {{"scan", "--sni=-q", "x.test"}, 2, NULL, "--sni: expected host|none|NAME, got '-q'"},
    {{"scan", "-o-x.csv", "x.test"}, 2, NULL, "--output: expected FILE, got '-x.csv'"},
    {{"scan", "--sni", "-"}, 2, NULL, "no targets"}, /* "-" alone is a value */
    /* the connect deadline is part of the whole-probe deadline */
    {{"scan", "--timeout", "1000", "--connect-timeout", "1001", "x.test"}, 2, NULL,
     "--connect-timeout 1001 is larger than --timeout 1000"},
    {{"scan", "--connect-timeout=9000", "x.test"}, 2, NULL,
     "--connect-timeout 9000 is larger than --timeout 5000"},
    {{"bench", "--connect-timeout", "900", "--timeout", "800"}, 2, NULL,
     "edgeshake bench: --connect-timeout 900 is larger than --timeout 800"},
    /* bench --help: bench's words (no rows, no verify column, no h2 check) */
    {{"bench", "--help"}, 0, "-c, --concurrency N          handshakes in flight", NULL},
    {{"bench", "--help"}, 0, "deadline of one attempt: connect + handshake", NULL},
    {{"bench", "--help"}, 0, "-q, --quiet                  no status line\n", NULL},
};

/* What bench --help must not say: scan's words for rows and files. */
static const char *const bench_help_absent[] = {
    "--rate", "--per-ip", "--dns-", "--shard", "--vantage", "verify column", "h2 check",
    "recorded", "probes", "summary", "--repeat", "--dry-run",
};

START_TEST(test_bench_help)
{
    const char *argv[] = {"bench", "--help", NULL};
    char *out;
    ck_assert_int_eq(tl_run(argv, NULL, &out, NULL, 10000), 0);
    for (size_t i = 0; i < sizeof bench_help_absent / sizeof bench_help_absent[0]; i++)
        ck_assert_msg(!strstr(out, bench_help_absent[i]), "bench --help says '%s':\n%s",
                      bench_help_absent[i], out);
    free(out);
}
END_TEST

START_TEST(test_cli_case)
{
    const struct cli_case *c = &cases[_i];
    char *out, *err;
    int status = tl_run(c->argv, NULL, &out, &err, 10000);
    ck_assert_msg(status == c->status, "case %d: status %d, want %d; stderr: %s", _i, status,
                  c->status, err);
    if (c->out)
        ck_assert_msg(strstr(out, c->out), "case %d: stdout lacks '%s': %s", _i, c->out, out);
    if (c->err)
        ck_assert_msg(strstr(err, c->err), "case %d: stderr lacks '%s': %s", _i, c->err, err);
    if (c->status == 2) {
        /* A usage error is one line, and nothing on stdout. */
        ck_assert_str_eq(out, "");
        ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1 || c->argv[0] == NULL,
                      "case %d: not one line: %s", _i, err);
    }
    free(out);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("usage");
    tcase_add_loop_test(tc, test_cli_case, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_bench_help);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
