/* test_meta.c - FILE.meta.json beside a scan's output (DESIGN §3.1 -o,
 * issue 14 item 2): its exact contents after a complete scan and after
 * SIGINT (also with a .zst file), JSON escaping of a hostile command line,
 * reading it back, and the "runs" lines that report prints from it.
 *
 * Lab addresses: 127.64.0.0/16. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "edgeshake/meta.h"
#include "edgeshake/util.h"
#include "testlib.h"

static const char spec[] = "# test_meta: 127.64.0.0/16\n"
                           "resolver m 127.64.53.1:5353\n"
                           "resolver dead 127.64.53.9:5353 fault=drop\n"
                           "host a.meta.test m=127.64.1.1\n"
                           "host b.meta.test m=nxdomain\n"
                           "edge 127.64.1.1:8443 cert=a.meta.test\n"
                           "edge 127.64.1.2:8443 fault=blackhole\n";

/* Checks text with python3's json module: every `asserts` line must hold
 * for the object m. Skipped (the substring checks remain) without python3. */
static void python_check(const char *path, const char *asserts)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0)
        return;
    char *dir = tl_tmpdir();
    char *script = tl_write_file(dir, "check.py", asserts);
    char *cmd;
    ck_assert(asprintf(&cmd,
                       "python3 -c 'import json,sys\nm=json.load(open(sys.argv[1]))\n"
                       "exec(open(sys.argv[2]).read())' %s %s",
                       path, script) > 0);
    ck_assert_msg(system(cmd) == 0, "python3 check failed for %s:\n%s", path, asserts);
    free(cmd);
    free(script);
    tl_rmtree(dir);
    free(dir);
}

static void expect(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want) != NULL, "'%s' not in: %s", want, text);
}

/* A complete scan: every key of meta.h with the values of this run. */
START_TEST(test_meta_complete)
{
    struct tl_lab lab;
    tl_lab_start(&lab, spec);
    char *dir = tl_tmpdir(), *out, *ca, *meta;
    ck_assert(asprintf(&out, "%s/scan.csv", dir) > 0);
    ck_assert(asprintf(&ca, "%s/ca.crt", lab.dir) > 0);
    ck_assert(asprintf(&meta, "%s/scan.csv.meta.json", dir) > 0);
    const char *argv[] = {"scan",
                          "-r",
                          "m=127.64.53.1:5353",
                          "--ca-file",
                          ca,
                          "-p",
                          "8443",
                          "--tls",
                          "1.3",
                          "--alpn",
                          "h2",
                          "--vantage",
                          "v1",
                          "-q",
                          "-o",
                          out,
                          "a.meta.test",
                          "b.meta.test",
                          NULL};
    uint64_t before = es_wall_ms();
    char *err;
    int st = tl_run(argv, NULL, NULL, &err, 30000);
    ck_assert_msg(st == 0, "scan exited %d: %s", st, err);
    char *text = tl_read_file(meta, NULL);
    ck_assert_msg(text != NULL, "no %s", meta);
    /* One object on one line. */
    ck_assert_msg(text[0] == '{' && strchr(text, '\n') == text + strlen(text) - 1, "%s", text);
    expect(text, "{\"edgeshake\":\"" ES_VERSION "\",\"openssl\":\"OpenSSL 3.");
    /* the whole command line, the program first */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "\"command\":[\"%s\",\"scan\",\"-r\",\"m=127.64.53.1:5353\",\"--ca-file\",\"%s\","
             "\"-p\",\"8443\",\"--tls\",\"1.3\",\"--alpn\",\"h2\",\"--vantage\",\"v1\",\"-q\","
             "\"-o\",\"%s\",\"a.meta.test\",\"b.meta.test\"],\"start\":\"",
             tl_bin(), ca, out);
    expect(text, cmd);
    expect(text, ",\"vantage\":\"v1\",\"output\":\"");
    expect(text, "\",\"format\":\"csv\",\"compression\":\"none\",\"shard\":\"0/1\","
                 "\"resolvers\":{\"m\":[\"127.64.53.1:5353\"]},\"ecs\":{},"
                 "\"dry_run\":false,\"planned\":1,\"dns_error_rows\":1,\"rows\":2,"
                 "\"did_not_run\":0,\"interrupted\":false,\"exit_status\":0}\n");
    /* start and end: this run's wall clock, in order, RFC 3339 with ms */
    struct es_meta_info m;
    char e[256];
    ck_assert_int_eq(es_meta_read(meta, &m, e, sizeof e), 1);
    ck_assert_str_eq(m.version, ES_VERSION);
    ck_assert_str_eq(m.vantage, "v1");
    ck_assert_str_eq(m.shard, "0/1");
    ck_assert_int_eq(m.rows, 2);
    ck_assert_int_eq(m.planned, 1);
    ck_assert_int_eq(m.did_not_run, 0);
    ck_assert_int_eq(m.interrupted, 0);
    ck_assert_uint_eq(strlen(m.start), 24);
    ck_assert_int_eq(m.start[23], 'Z');
    ck_assert_int_le(strcmp(m.start, m.end), 0);
    struct tm tm = {0};
    ck_assert_ptr_nonnull(strptime(m.start, "%Y-%m-%dT%H:%M:%S", &tm));
    uint64_t start_s = (uint64_t)timegm(&tm);
    ck_assert_uint_ge(start_s + 1, before / 1000);
    ck_assert_uint_le(start_s, es_wall_ms() / 1000);
    es_meta_info_free(&m);
    python_check(meta, "assert m['host'] and m['seconds'] >= 0\n"
                       "assert m['output'].endswith('/scan.csv')\n"
                       "assert list(m)[:4] == ['edgeshake', 'openssl', 'command', 'start']\n"
                       "assert m['rows'] == 2 and m['interrupted'] is False\n");
    /* report lists the run it read, with its time span */
    const char *rargv[] = {"report", "--format", "text", out, NULL};
    char *rout;
    ck_assert_int_eq(tl_run(rargv, NULL, &rout, NULL, 30000), 0);
    ck_assert_int_eq(es_meta_read(meta, &m, e, sizeof e), 1);
    char runs[512];
    snprintf(runs, sizeof runs,
             "\nruns: 1 of 1 file with FILE.meta.json, edgeshake " ES_VERSION "\n"
             "  from %s to %s\n"
             "  scan.csv: vantage v1, %s + ",
             m.start, m.end, m.start);
    expect(rout, runs);
    expect(rout, " s, 2 rows, complete\n");
    es_meta_info_free(&m);
    free(rout);
    /* stdout gets no meta file (there is no file to put it beside) */
    ck_assert_ptr_null(es_meta_path("-"));
    free(text);
    free(err);
    free(out);
    free(ca);
    free(meta);
    tl_rmtree(dir);
    free(dir);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}
END_TEST

/* True once process pid catches sig (SigCgt of /proc/PID/status). */
static bool catches(pid_t pid, int sig)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *st = tl_read_file(path, NULL);
    const char *l = st ? strstr(st, "\nSigCgt:") : NULL;
    bool yes = l && (strtoull(l + 8, NULL, 16) >> (sig - 1) & 1);
    free(st);
    return yes;
}

/* Runs edgeshake ARGS (stdout and stderr to /dev/null), sends SIGINT ms
 * milliseconds after it has set up its SIGINT handler (a fixed delay from
 * the start could come before that in a slow build: the default action then
 * kills the process and no meta file is written), and returns the exit
 * status (killed after 30 s). */
static int run_and_interrupt(const char *const *args, int ms)
{
    const char *argv[40] = {tl_bin()};
    size_t n = 1;
    for (; *args; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    /* The child starts without a SIGINT handler, so that SigCgt shows
     * edgeshake's alone. */
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGINT, &dfl, &old);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    sigaction(SIGINT, &old, NULL);
    for (int i = 0; i < 6000 && !catches(pid, SIGINT); i++)
        usleep(5000);
    usleep((useconds_t)ms * 1000);
    kill(pid, SIGINT);
    int status = 0;
    for (int i = 0; i < 3000; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ck_abort_msg("the scan did not stop within 30 s of SIGINT");
}

/* The decompressed text of a .zst file; fails unless it decodes whole. */
static char *zst_text(const char *path)
{
    size_t len;
    char *z = tl_read_file(path, &len);
    ck_assert_ptr_nonnull(z);
    struct es_sb b = {0};
    ZSTD_DCtx *d = ZSTD_createDCtx();
    ZSTD_inBuffer in = {z, len, 0};
    size_t last = 0;
    char buf[65536];
    while (in.pos < in.size) {
        ZSTD_outBuffer o = {buf, sizeof buf, 0};
        last = ZSTD_decompressStream(d, &o, &in);
        ck_assert_msg(!ZSTD_isError(last), "%s: %s", path, ZSTD_getErrorName(last));
        es_sb_addn(&b, buf, o.pos);
    }
    ck_assert_msg(last == 0, "%s ends inside a zstd frame", path);
    ZSTD_freeDCtx(d);
    free(z);
    return es_sb_take(&b);
}

static size_t lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* SIGINT mid-scan: meta.json is still written, says interrupted, and its
 * counts add up with the rows in the file: rows + did_not_run = planned
 * (no DNS here). _i = 0: CSV, 1: .csv.zst (whole frames after the signal). */
START_TEST(test_meta_interrupted)
{
    struct tl_lab lab;
    tl_lab_start(&lab, spec);
    char *dir = tl_tmpdir(), *out, *meta;
    ck_assert(asprintf(&out, "%s/scan.csv%s", dir, _i ? ".zst" : "") > 0);
    ck_assert(asprintf(&meta, "%s.meta.json", out) > 0);
    /* 40 refused probes (nothing listens on .3) and 40 to a blackhole, two
     * at a time, each blackhole probe a second: about 20 s uninterrupted. */
    const char *args[] = {"scan",
                          "--tls",
                          "1.3",
                          "--alpn",
                          "h2",
                          "-t",
                          "1",
                          "-c",
                          "2",
                          "--per-ip",
                          "2",
                          "--timeout",
                          "1000",
                          "--repeat",
                          "40",
                          "-o",
                          out,
                          "r.meta.test:8443@127.64.1.3",
                          "x.meta.test:8443@127.64.1.2",
                          NULL};
    int st = run_and_interrupt(args, 1500);
    ck_assert_int_eq(st, 130);
    char *text = tl_read_file(meta, NULL);
    ck_assert_msg(text != NULL, "no %s after SIGINT", meta);
    expect(text, _i ? "\"compression\":\"zstd\"" : "\"compression\":\"none\"");
    expect(text, "\"planned\":80,\"dns_error_rows\":0,\"rows\":");
    expect(text, ",\"interrupted\":true,\"exit_status\":130}\n");
    struct es_meta_info m;
    char e[256];
    ck_assert_int_eq(es_meta_read(meta, &m, e, sizeof e), 1);
    char *rows = _i ? zst_text(out) : tl_read_file(out, NULL);
    ck_assert_ptr_nonnull(rows);
    ck_assert_int_eq(m.interrupted, 1);
    ck_assert_int_eq((int64_t)lines(rows) - 1, m.rows); /* the header is not a row */
    ck_assert_int_gt(m.did_not_run, 0);
    ck_assert_int_eq(m.rows + m.did_not_run, 80);
    /* whole rows only */
    struct tl_table t;
    tl_table_parse(&t, rows);
    ck_assert_uint_eq(t.nrows, (size_t)m.rows);
    tl_table_free(&t);
    es_meta_info_free(&m);
    free(text);
    free(out);
    free(meta);
    tl_rmtree(dir);
    free(dir);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}
END_TEST

/* SIGINT while the only resolver stays silent: no probe was planned yet; the
 * meta file still says so, and that the run was interrupted. */
START_TEST(test_meta_interrupted_dns)
{
    struct tl_lab lab;
    tl_lab_start(&lab, spec);
    char *dir = tl_tmpdir(), *out, *meta;
    ck_assert(asprintf(&out, "%s/dns.csv", dir) > 0);
    ck_assert(asprintf(&meta, "%s.meta.json", out) > 0);
    const char *args[] = {
        "scan", "-r", "dead=127.64.53.9:5353", "--dns-timeout", "20000", "-p", "8443",
        "-o",   out,  "a.meta.test",           "b.meta.test",   NULL};
    ck_assert_int_eq(run_and_interrupt(args, 500), 130);
    char *text = tl_read_file(meta, NULL);
    ck_assert_msg(text != NULL, "no %s after SIGINT", meta);
    expect(text, "\"resolvers\":{\"dead\":[\"127.64.53.9:5353\"]}");
    expect(text, "\"planned\":0,\"dns_error_rows\":0,\"rows\":0,\"did_not_run\":0,"
                 "\"interrupted\":true,\"exit_status\":130}\n");
    free(text);
    free(out);
    free(meta);
    tl_rmtree(dir);
    free(dir);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}
END_TEST

/* A command line with quotes, a newline and bytes that are not UTF-8 is
 * still one valid JSON object; the bad bytes become U+FFFD. */
START_TEST(test_meta_escaping)
{
    char *const argv[] = {"edgeshake",  "scan",           "--vantage",
                          "a\"b\\c\nd", "h\xff\xfe.test", "caf\xc3\xa9.test"};
    struct es_resolver_spec r[2] = {0};
    char err[256];
    ck_assert(es_resolver_parse("eu=192.0.2.53:5353,ecs=198.51.100.7/24", &r[0], err, sizeof err));
    ck_assert(es_resolver_parse("v6=[2001:db8::53]", &r[1], err, sizeof err));
    struct es_meta_run m = {
        .argc = 6,
        .argv = argv,
        .start_ms = 1795430096789ull, /* 2026-11-23T10:34:56.789Z */
        .end_ms = 1795430100000ull,
        .vantage = "a\"b\\c\nd",
        .output = "x.jsonl.zst",
        .format = "jsonl",
        .zstd = true,
        .shard_i = 3,
        .shard_n = 8,
        .resolvers = r,
        .nresolvers = 2,
        .planned = 10,
        .rows = 7,
        .did_not_run = 3,
        .interrupted = true,
        .exit_status = 130,
    };
    char *dir = tl_tmpdir(), *path;
    ck_assert(asprintf(&path, "%s/x.jsonl.zst.meta.json", dir) > 0);
    ck_assert_int_eq(es_meta_write(path, &m, err, sizeof err), 0);
    char *text = tl_read_file(path, NULL);
    expect(text, "\"command\":[\"edgeshake\",\"scan\",\"--vantage\",\"a\\\"b\\\\c\\u000ad\","
                 "\"h\\ufffd\\ufffd.test\",\"caf\xc3\xa9.test\"],"
                 "\"start\":\"2026-11-23T10:34:56.789Z\",\"end\":\"2026-11-23T10:35:00.000Z\","
                 "\"seconds\":3.211,");
    expect(text, "\"format\":\"jsonl\",\"compression\":\"zstd\",\"shard\":\"3/8\","
                 "\"resolvers\":{\"eu\":[\"192.0.2.53:5353\"],\"v6\":[\"[2001:db8::53]:53\"]},"
                 "\"ecs\":{\"eu\":\"198.51.100.0/24\"},\"dry_run\":false,\"planned\":10,");
    python_check(path, "assert m['command'][3] == 'a\"b\\\\c\\nd'\n"
                       "assert m['command'][4] == 'h\\ufffd\\ufffd.test'\n"
                       "assert m['command'][5] == 'caf\\u00e9.test'\n");
    /* no .tmp left behind */
    char *tmp;
    ck_assert(asprintf(&tmp, "%s.tmp", path) > 0);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    /* a directory that does not exist: -errno and the path */
    ck_assert_int_eq(es_meta_write("/nonexistent/x.meta.json", &m, err, sizeof err), -ENOENT);
    ck_assert_str_eq(err, "cannot write /nonexistent/x.meta.json: No such file or directory");
    free(tmp);
    free(text);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* Reading: absent, malformed and foreign files. */
START_TEST(test_meta_read_errors)
{
    char *dir = tl_tmpdir();
    struct es_meta_info m;
    char err[512], *p;
    ck_assert(asprintf(&p, "%s/none.meta.json", dir) > 0);
    ck_assert_int_eq(es_meta_read(p, &m, err, sizeof err), 0);
    es_meta_info_free(&m);
    free(p);
    static const struct {
        const char *text, *what;
    } bad[] = {
        {"", "expected a JSON object"},         {"[1,2]", "expected a JSON object"},
        {"{\"rows\":1", "expected ',' or '}'"}, {"{\"rows\":1} x", "text after the object"},
        {"{rows:1}", "expected a key"},         {"{\"start\":\"a\nb\"}", "bad value"},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(bad); i++) {
        p = tl_write_file(dir, "bad.meta.json", bad[i].text);
        ck_assert_int_eq(es_meta_read(p, &m, err, sizeof err), -1);
        char want[600];
        snprintf(want, sizeof want, "%s: not a meta file: %s", p, bad[i].what);
        ck_assert_msg(!strcmp(err, want), "case %zu: %s", i, err);
        es_meta_info_free(&m);
        free(p);
    }
    /* unknown keys and nested values are skipped */
    p = tl_write_file(dir, "ok.meta.json",
                      "{\"x\":{\"y\":[1,{\"z\":null}],\"w\":\"}\"},\"rows\":5,\"vantage\":"
                      "\"\\u0041b\",\"interrupted\":true}");
    ck_assert_int_eq(es_meta_read(p, &m, err, sizeof err), 1);
    ck_assert_int_eq(m.rows, 5);
    ck_assert_str_eq(m.vantage, "Ab");
    ck_assert_int_eq(m.interrupted, 1);
    ck_assert_int_eq(m.planned, -1);
    ck_assert_ptr_null(m.start);
    es_meta_info_free(&m);
    free(p);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* The runs report prints: each file's meta, the earliest start and the
 * latest end; a file without meta is not listed; stdin has none. */
START_TEST(test_meta_print_runs)
{
    char *dir = tl_tmpdir();
    char *a, *b, *c, *ma, *mb;
    ck_assert(asprintf(&a, "%s/eu-shard-0.csv", dir) > 0);
    ck_assert(asprintf(&b, "%s/eu-shard-1.csv.zst", dir) > 0);
    ck_assert(asprintf(&c, "%s/old.csv", dir) > 0);
    ma = es_meta_path(a);
    mb = es_meta_path(b);
    char *const argv[] = {"edgeshake", "scan"};
    struct es_meta_run m = {.argc = 2,
                            .argv = argv,
                            .start_ms = 1795430000000ull,
                            .end_ms = 1795430120000ull,
                            .vantage = "eu",
                            .output = a,
                            .format = "csv",
                            .shard_i = 0,
                            .shard_n = 2,
                            .planned = 520,
                            .rows = 520};
    char err[256];
    ck_assert_int_eq(es_meta_write(ma, &m, err, sizeof err), 0);
    m.start_ms -= 60000;
    m.end_ms += 60000;
    m.output = b;
    m.shard_i = 1;
    m.rows = 100;
    m.did_not_run = 420;
    m.interrupted = true;
    ck_assert_int_eq(es_meta_write(mb, &m, err, sizeof err), 0);
    const char *files[] = {a, b, c, "-"};
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_uint_eq(es_meta_print_runs(f, files, 4), 2);
    fclose(f);
    char want[4096];
    snprintf(want, sizeof want,
             "runs: 2 of 4 files with FILE.meta.json, edgeshake " ES_VERSION "\n"
             "  from 2026-11-23T10:32:20.000Z to 2026-11-23T10:36:20.000Z\n"
             "  eu-shard-0.csv: vantage eu, shard 0/2, 2026-11-23T10:33:20.000Z + 120.0 s, "
             "520 rows, complete\n"
             "  eu-shard-1.csv.zst: vantage eu, shard 1/2, 2026-11-23T10:32:20.000Z + 240.0 s, "
             "100 rows, interrupted (420 probes did not run)\n");
    ck_assert_str_eq(buf, want);
    free(buf);
    /* many runs: only those that did not complete are listed; versions differ */
    const char *many[12];
    char *paths[12];
    for (int i = 0; i < 12; i++) {
        ck_assert(asprintf(&paths[i], "%s/s-%d.csv", dir, i) > 0);
        many[i] = paths[i];
        char *mp = es_meta_path(paths[i]);
        if (i < 11) {
            m.interrupted = false;
            m.did_not_run = 0;
            m.exit_status = i == 5 ? 1 : 0; /* shard 5 failed: listed */
            m.output = paths[i];
            ck_assert_int_eq(es_meta_write(mp, &m, err, sizeof err), 0);
        } else {
            free(tl_write_file(dir, "s-11.csv.meta.json", "{\"rows\":"));
        }
        free(mp);
    }
    /* one older version among them */
    char *old5 = es_meta_path(paths[0]);
    char *text0 = tl_read_file(old5, NULL);
    char *v = strstr(text0, ES_VERSION);
    ck_assert_ptr_nonnull(v);
    memcpy(v, "9", 1);
    free(tl_write_file(dir, "s-0.csv.meta.json", text0));
    free(text0);
    free(old5);
    f = open_memstream(&buf, &len);
    ck_assert_uint_eq(es_meta_print_runs(f, many, 12), 11);
    fclose(f);
    snprintf(want, sizeof want,
             "runs: 11 of 12 files with FILE.meta.json\n"
             "  from 2026-11-23T10:32:20.000Z to 2026-11-23T10:36:20.000Z\n"
             "  s-5.csv: edgeshake " ES_VERSION ", vantage eu, shard 1/2, "
             "2026-11-23T10:32:20.000Z + 240.0 s, 100 rows, failed (exit status 1)\n"
             "  10 complete runs not listed\n"
             "  %s/s-11.csv.meta.json: not a meta file: bad value\n",
             dir);
    ck_assert_str_eq(buf, want);
    free(buf);
    for (int i = 0; i < 12; i++)
        free(paths[i]);
    /* no meta at all: nothing */
    const char *none[] = {c};
    f = open_memstream(&buf, &len);
    ck_assert_uint_eq(es_meta_print_runs(f, none, 1), 0);
    fclose(f);
    ck_assert_str_eq(buf, "");
    free(buf);
    free(a);
    free(b);
    free(c);
    free(ma);
    free(mb);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta");
    TCase *tu = tcase_create("unit");
    tcase_add_test(tu, test_meta_escaping);
    tcase_add_test(tu, test_meta_read_errors);
    tcase_add_test(tu, test_meta_print_runs);
    suite_add_tcase(s, tu);
    TCase *tl = tcase_create("scan");
    tcase_set_timeout(tl, 90);
    tcase_add_test(tl, test_meta_complete);
    tcase_add_loop_test(tl, test_meta_interrupted, 0, 2);
    tcase_add_test(tl, test_meta_interrupted_dns);
    suite_add_tcase(s, tl);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
