/* test_shards.c - the scale-out contract (DESIGN §6, issue 8 item 1), proven
 * on one machine against a lab in 127.40.0.0/16: four shard scans run in
 * parallel give, together, exactly the rows of one full scan (same row keys,
 * same outcomes, disjoint, none empty), whether the shard comes from
 * `--shard I/4`, from `--shards 4` + JOB_COMPLETION_INDEX (Kubernetes Indexed
 * Job) or from `--shards 4` + SLURM_ARRAY_TASK_ID (Slurm array), or with
 * `xargs -P` as docs/scale-out.md shows for one host; and
 * `edgeshake report` over the four shard files prints the same findings as
 * over the full file. */
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

#include "testlib.h"

#define NSHARDS 4
#define NHOSTS  40
#define NEDGES  8 /* healthy edges 127.40.1.1..8; 127.40.1.9 is the bad one */

/* ---- the lab ---- */

/* 40 hosts across resolvers a and b, a few edges each, cheap healthy edges;
 * host h07 also lands on 127.40.1.9, which speaks TLS 1.2 only (alert 70 on
 * the TLS 1.3 variant: one `node` finding), and every tenth host is missing
 * from resolver b (dns_error rows keyed by host and resolver). Some hosts get
 * the same edge from both resolvers (resolver column "a;b"). */
static char *lab_spec(void)
{
    size_t cap = 16384, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n,
                          "resolver a 127.40.53.1:5353\n"
                          "resolver b 127.40.53.2:5353\n");
    for (int e = 1; e <= NEDGES; e++)
        n += (size_t)snprintf(s + n, cap - n, "edge 127.40.1.%d:8443 cert=shard.test\n", e);
    n += (size_t)snprintf(s + n, cap - n, "edge 127.40.1.9:8443 cert=shard.test tls=1.2\n");
    for (int h = 0; h < NHOSTS; h++) {
        int e1 = h % NEDGES + 1, e2 = (h + 3) % NEDGES + 1, e3 = (h + 5) % NEDGES + 1;
        n += (size_t)snprintf(s + n, cap - n, "host h%02d.shard.test a=127.40.1.%d,127.40.1.%d", h,
                              e1, e2);
        if (h == 7)
            n += (size_t)snprintf(s + n, cap - n, ",127.40.1.9");
        if (h % 10 == 9)
            n += (size_t)snprintf(s + n, cap - n, " b=nxdomain\n");
        else if (h % 4 == 0)
            n += (size_t)snprintf(s + n, cap - n, " b=127.40.1.%d\n", e1); /* "a;b" */
        else
            n += (size_t)snprintf(s + n, cap - n, " b=127.40.1.%d\n", e3);
        ck_assert(n < cap);
    }
    return s;
}

static struct tl_lab lab;
static char *dir, *targets;

/* ---- running scans as child processes ---- */

/* The scan every test runs, sharded or not: targets from a file as in the
 * Kubernetes Job, verification off (the lab CA is not what is tested). */
static void scan_argv(const char **argv, const char *out, const char *shard_flag,
                      const char *shard_arg)
{
    size_t i = 0;
    argv[i++] = tl_bin();
    argv[i++] = "scan";
    argv[i++] = "-i";
    argv[i++] = targets;
    argv[i++] = "-r";
    argv[i++] = "a=127.40.53.1:5353";
    argv[i++] = "-r";
    argv[i++] = "b=127.40.53.2:5353";
    argv[i++] = "-p";
    argv[i++] = "8443";
    argv[i++] = "--no-verify";
    argv[i++] = "--timeout";
    argv[i++] = "30000";
    argv[i++] = "-t";
    argv[i++] = "1";
    argv[i++] = "--vantage";
    argv[i++] = "shards-test";
    argv[i++] = "-q";
    argv[i++] = "-o";
    argv[i++] = out;
    if (shard_flag) {
        argv[i++] = shard_flag;
        argv[i++] = shard_arg;
    }
    argv[i] = NULL;
}

/* Starts argv with stdout and stderr to logpath and, when env_name is set,
 * env_name=env_value in its environment (both shard variables are cleared
 * first, so the runner's own environment cannot leak in). */
static pid_t spawn(const char *const *argv, const char *env_name, const char *env_value,
                   const char *logpath)
{
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        unsetenv("JOB_COMPLETION_INDEX");
        unsetenv("SLURM_ARRAY_TASK_ID");
        if (env_name)
            setenv(env_name, env_value, 1);
        int in = open("/dev/null", O_RDONLY);
        int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || log < 0 || dup2(in, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits for pid until the deadline (CLOCK_MONOTONIC ms); kills it after.
 * Returns its exit status, or 128 + signal. */
static int reap(pid_t pid, long long deadline_ms)
{
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        ck_assert_msg(r >= 0, "waitpid: %s", strerror(errno));
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec * 1000LL + now.tv_nsec / 1000000 > deadline_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return 128 + SIGKILL;
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
}

static long long deadline_in(long long ms)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000LL + now.tv_nsec / 1000000 + ms;
}

static char *path_in(const char *name)
{
    char *p;
    ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

/* Runs one scan in the foreground; aborts the test unless it exits 0. */
static void run_scan(const char **argv, const char *log)
{
    int st = reap(spawn(argv, NULL, NULL, log), deadline_in(120000));
    char *text = tl_read_file(log, NULL);
    ck_assert_msg(st == 0, "scan exited %d: %s", st, text ? text : "");
    free(text);
}

/* ---- reading scan files ---- */

/* Splits one RFC 4180 record at *p into cells (at most max); returns the
 * count and moves *p past the record. Cells point into buf (strlen(*p) + 1). */
static int csv_record(const char **p, char *buf, char **cells, int max)
{
    int n = 0;
    bool quoted = false;
    cells[n++] = buf;
    for (; **p && (quoted || (**p != '\n' && **p != '\r')); (*p)++) {
        char c = **p;
        if (c == '"') {
            if (quoted && (*p)[1] == '"') {
                *buf++ = '"';
                (*p)++;
            } else {
                quoted = !quoted;
            }
        } else if (c == ',' && !quoted) {
            *buf++ = '\0';
            if (n < max)
                cells[n++] = buf;
        } else {
            *buf++ = c;
        }
    }
    *buf = '\0';
    if (**p == '\r')
        (*p)++;
    if (**p == '\n')
        (*p)++;
    return n;
}

/* One row's identity and outcome. */
struct row {
    char *key;     /* host|port|ip|variant|attempt, or dns|host|port|resolver */
    char *outcome; /* resolver|status|error */
};

struct rows {
    struct row *v;
    size_t n;
};

static int row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct row *)a)->key, ((const struct row *)b)->key);
}

static int column(char **cells, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cells[i], name) == 0)
            return i;
    ck_abort_msg("no column '%s'", name);
    return -1;
}

/* Reads a scan CSV into rows sorted by key; every row has vantage
 * shards-test. */
static void read_rows(const char *path, struct rows *out)
{
    char *text = tl_read_file(path, NULL);
    ck_assert_msg(text != NULL, "%s was not written", path);
    char *buf = malloc(strlen(text) + 1);
    char *cells[64];
    const char *p = text;
    int ncol = csv_record(&p, buf, cells, 64);
    ck_assert_int_ge(ncol, 37);
    int c_host = column(cells, ncol, "host"), c_port = column(cells, ncol, "port"),
        c_ip = column(cells, ncol, "ip"), c_variant = column(cells, ncol, "variant"),
        c_attempt = column(cells, ncol, "attempt"), c_res = column(cells, ncol, "resolver"),
        c_status = column(cells, ncol, "status"), c_error = column(cells, ncol, "error"),
        c_vantage = column(cells, ncol, "vantage");
    out->v = NULL;
    out->n = 0;
    while (*p) {
        int n = csv_record(&p, buf, cells, 64);
        ck_assert_msg(n == ncol, "%s: a row of %d cells, header has %d", path, n, ncol);
        ck_assert_str_eq(cells[c_vantage], "shards-test");
        struct row r;
        if (strcmp(cells[c_status], "dns_error") == 0)
            ck_assert(asprintf(&r.key, "dns|%s|%s|%s", cells[c_host], cells[c_port], cells[c_res]) >
                      0);
        else
            ck_assert(asprintf(&r.key, "%s|%s|%s|%s|%s", cells[c_host], cells[c_port], cells[c_ip],
                               cells[c_variant], cells[c_attempt]) > 0);
        ck_assert(asprintf(&r.outcome, "%s|%s|%s", cells[c_res], cells[c_status], cells[c_error]) >
                  0);
        out->v = realloc(out->v, (out->n + 1) * sizeof *out->v);
        out->v[out->n++] = r;
    }
    qsort(out->v, out->n, sizeof *out->v, row_cmp);
    free(buf);
    free(text);
}

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].key);
        free(r->v[i].outcome);
    }
    free(r->v);
}

/* The findings `report --format csv` prints for files[0..n). */
static char *report_csv(const char *const *files, size_t n)
{
    const char *argv[NSHARDS + 8];
    size_t i = 0;
    argv[i++] = "report";
    argv[i++] = "--format";
    argv[i++] = "csv";
    for (size_t f = 0; f < n; f++)
        argv[i++] = files[f];
    argv[i] = NULL;
    char *out, *err;
    int st = tl_run(argv, NULL, &out, &err, 60000);
    ck_assert_msg(st == 0, "report exited %d: %s", st, err);
    free(err);
    return out;
}

/* ---- the full scan, once, with the lab ---- */

static char *full_csv;
static struct rows full;

static void lab_setup(void)
{
    char *spec = lab_spec();
    tl_lab_start(&lab, spec);
    free(spec);
    dir = tl_tmpdir();
    char text[NHOSTS * 24 + 64] = "# the shard test's hosts\n";
    for (int h = 0; h < NHOSTS; h++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "h%02d.shard.test\n", h);
    targets = tl_write_file(dir, "targets.txt", text);

    full_csv = path_in("full.csv");
    char *log = path_in("full.log");
    const char *argv[32];
    scan_argv(argv, full_csv, NULL, NULL);
    run_scan(argv, log);
    free(log);
    read_rows(full_csv, &full);
}

static void lab_teardown(void)
{
    rows_free(&full);
    tl_lab_stop(&lab);
    tl_rmtree(dir);
    free(dir);
    free(targets);
    free(full_csv);
}

/* The full scan is what the lab says it is, so the comparisons below are
 * against the right thing: 40 hosts, 4 dns_error rows, h07's bad edge. */
START_TEST(test_full_scan)
{
    size_t dns = 0, alerts = 0, ok = 0;
    for (size_t i = 0; i < full.n; i++) {
        if (strncmp(full.v[i].key, "dns|", 4) == 0) {
            dns++;
            ck_assert_str_eq(full.v[i].outcome, "b|dns_error|nxdomain");
        } else if (strstr(full.v[i].outcome, "|ok|")) {
            ok++;
        } else {
            alerts++;
            ck_assert_str_eq(full.v[i].key, "h07.shard.test|8443|127.40.1.9|"
                                            "tls1.3/h2,http1.1/sni|1");
            ck_assert_str_eq(full.v[i].outcome, "a|alert|protocol_version");
        }
        if (i > 0)
            ck_assert_msg(strcmp(full.v[i - 1].key, full.v[i].key) != 0, "duplicate row %s",
                          full.v[i].key);
    }
    ck_assert_uint_eq(dns, NHOSTS / 10);
    ck_assert_uint_eq(alerts, 1);
    /* Per host: 2 (a) + 1 (b) edges, minus the shared one every 4th host,
     * minus b for every 10th, plus h07's bad edge; times 2 variants. */
    size_t probes = 0;
    for (int h = 0; h < NHOSTS; h++)
        probes += 2 * (size_t)(2 + (h % 10 == 9 ? 0 : h % 4 == 0 ? 0 : 1) + (h == 7));
    ck_assert_uint_eq(ok + alerts, probes);
    /* The resolver column joins the labels that returned the IP. */
    bool joined = false;
    for (size_t i = 0; i < full.n; i++)
        joined |= strncmp(full.v[i].key, "h04.shard.test|8443|127.40.1.5|", 31) == 0 &&
                  strcmp(full.v[i].outcome, "a;b|ok|") == 0;
    ck_assert_msg(joined, "no row of h04 on 127.40.1.5 with resolver a;b");
}
END_TEST

/* ---- the shards ---- */

enum shard_mode { BY_FLAG, BY_K8S_INDEX, BY_SLURM_TASK, BY_XARGS };

static const struct {
    const char *what;
    const char *env; /* NULL: --shard I/4 */
} modes[] = {
    [BY_FLAG] = {"--shard I/4", NULL},
    [BY_K8S_INDEX] = {"--shards 4 + JOB_COMPLETION_INDEX", "JOB_COMPLETION_INDEX"},
    [BY_SLURM_TASK] = {"--shards 4 + SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_ID"},
    [BY_XARGS] = {"seq 0 3 | xargs -P 4 (docs/scale-out.md)", NULL},
};

/* The one-host recipe of docs/scale-out.md, through /bin/sh:
 *   seq 0 3 | xargs -P 4 -I{} edgeshake scan ... --shard {}/4 -o shard-{}.csv
 * Every argument is single-quoted (test paths hold no quote). */
static pid_t spawn_xargs(const char *logpath)
{
    const char *argv[32];
    char *out = path_in("shard-{}.csv");
    scan_argv(argv, out, "--shard", "{}/4");
    size_t cap = 4096, n = 0;
    char *cmd = malloc(cap);
    n += (size_t)snprintf(cmd, cap, "seq 0 %d | xargs -P %d -I{}", NSHARDS - 1, NSHARDS);
    for (size_t i = 0; argv[i]; i++) {
        ck_assert(strchr(argv[i], '\'') == NULL);
        n += (size_t)snprintf(cmd + n, cap - n, " '%s'", argv[i]);
    }
    ck_assert(n < cap);
    const char *sh[] = {"/bin/sh", "-c", cmd, NULL};
    pid_t pid = spawn(sh, NULL, NULL, logpath);
    free(cmd);
    free(out);
    return pid;
}

START_TEST(test_shards_union)
{
    const char *mode = modes[_i].what, *env = modes[_i].env;
    char *out[NSHARDS], *log[NSHARDS];
    pid_t pid[NSHARDS];
    /* Start every shard, then wait for them all: they run at once, as the
     * pods of a Job or the tasks of an array do. */
    for (int s = 0; s < NSHARDS; s++) {
        char name[32], index[16], shard[16];
        snprintf(name, sizeof name, "shard-%d.csv", s);
        out[s] = path_in(name);
        snprintf(name, sizeof name, "shard-%d.log", s);
        log[s] = path_in(name);
        snprintf(index, sizeof index, "%d", s);
        snprintf(shard, sizeof shard, "%d/%d", s, NSHARDS);
        const char *argv[32];
        if (_i == BY_XARGS) {
            pid[s] = s == 0 ? spawn_xargs(log[s]) : 0;
            continue;
        }
        if (env)
            scan_argv(argv, out[s], "--shards", "4");
        else
            scan_argv(argv, out[s], "--shard", shard);
        pid[s] = spawn(argv, env, index, log[s]);
    }
    long long deadline = deadline_in(120000);
    for (int s = 0; s < NSHARDS; s++) {
        if (pid[s] == 0)
            continue;
        int st = reap(pid[s], deadline);
        char *text = tl_read_file(log[s], NULL);
        ck_assert_msg(st == 0, "%s: shard %d exited %d: %s", mode, s, st, text ? text : "");
        free(text);
    }

    struct rows shard[NSHARDS];
    size_t total = 0;
    for (int s = 0; s < NSHARDS; s++) {
        read_rows(out[s], &shard[s]);
        ck_assert_msg(shard[s].n > 0, "%s: shard %d is empty", mode, s);
        total += shard[s].n;
    }
    /* Union and disjointness in one pass: merge the sorted shards and walk
     * them against the sorted full scan. Every key is in exactly one shard,
     * with the outcome the full scan recorded. */
    ck_assert_msg(total == full.n, "%s: %zu rows in the shards, %zu in the full scan", mode, total,
                  full.n);
    struct row *all = malloc(total * sizeof *all);
    size_t k = 0;
    for (int s = 0; s < NSHARDS; s++)
        for (size_t i = 0; i < shard[s].n; i++)
            all[k++] = shard[s].v[i];
    qsort(all, total, sizeof *all, row_cmp);
    for (size_t i = 0; i < total; i++) {
        if (i > 0)
            ck_assert_msg(strcmp(all[i - 1].key, all[i].key) != 0, "%s: row %s is in two shards",
                          mode, all[i].key);
        ck_assert_msg(strcmp(all[i].key, full.v[i].key) == 0,
                      "%s: shards have %s where the full scan has %s", mode, all[i].key,
                      full.v[i].key);
        ck_assert_msg(strcmp(all[i].outcome, full.v[i].outcome) == 0,
                      "%s: %s: %s in a shard, %s in the full scan", mode, all[i].key,
                      all[i].outcome, full.v[i].outcome);
    }
    /* A host lives in one shard with all its rows (DNS errors included). */
    for (int s = 0; s < NSHARDS; s++)
        for (size_t i = 0; i < shard[s].n; i++) {
            const char *key = shard[s].v[i].key;
            const char *host = strncmp(key, "dns|", 4) == 0 ? key + 4 : key;
            size_t hl = strcspn(host, "|");
            for (int o = 0; o < NSHARDS; o++)
                for (size_t j = 0; o != s && j < shard[o].n; j++) {
                    const char *k2 = shard[o].v[j].key;
                    const char *h2 = strncmp(k2, "dns|", 4) == 0 ? k2 + 4 : k2;
                    ck_assert_msg(strncmp(host, h2, hl) != 0 || h2[hl] != '|',
                                  "%s: host %.*s is in shards %d and %d", mode, (int)hl, host, s,
                                  o);
                }
        }
    free(all);

    /* The report over the shards is the report over the full scan. */
    const char *files[NSHARDS];
    for (int s = 0; s < NSHARDS; s++)
        files[s] = out[s];
    char *merged = report_csv(files, NSHARDS);
    const char *one[] = {full_csv};
    char *whole = report_csv(one, 1);
    ck_assert_msg(strstr(whole, "\nnode,h07.shard.test,8443,\"tls1.3/h2,http1.1/sni\","
                                "alert 70 protocol_version,127.40.1.9,"),
                  "no node finding for h07 in: %s", whole);
    ck_assert_str_eq(merged, whole);
    /* And nothing else: the header, h07's node, and the 4 hosts b lacks. */
    size_t lines = 0;
    for (const char *c = whole; *c; c++)
        lines += *c == '\n';
    ck_assert_msg(lines == 1 + 1 + NHOSTS / 10, "%zu lines of findings: %s", lines, whole);
    ck_assert_uint_eq(strstr(whole, "\ndns,h09.shard.test,8443,,nxdomain,,,b,a,") != NULL, 1);
    free(merged);
    free(whole);

    for (int s = 0; s < NSHARDS; s++) {
        rows_free(&shard[s]);
        unlink(out[s]);
        unlink(log[s]);
        free(out[s]);
        free(log[s]);
    }
}
END_TEST

/* ---- a misconfigured job fails before it sends anything ---- */

static const struct {
    const char *env, *value, *msg;
} bad_env[] = {
    {NULL, NULL, "neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID"},
    {"JOB_COMPLETION_INDEX", "4", "JOB_COMPLETION_INDEX=4 must be below 4"},
    {"SLURM_ARRAY_TASK_ID", "7", "SLURM_ARRAY_TASK_ID=7 must be below 4"},
    {"SLURM_ARRAY_TASK_ID", "x", "SLURM_ARRAY_TASK_ID='x' is not a whole number"},
};

START_TEST(test_shards_bad_env)
{
    char *d = tl_tmpdir(), *log, *out;
    ck_assert(asprintf(&log, "%s/log", d) > 0);
    ck_assert(asprintf(&out, "%s/out.csv", d) > 0);
    /* 127.40.99.1 has no lab behind it: nothing may be sent there anyway. */
    const char *argv[] = {tl_bin(), "scan", "--shards", "4", "-o", out, "127.40.99.1", NULL};
    int st = reap(spawn(argv, bad_env[_i].env, bad_env[_i].value, log), deadline_in(30000));
    char *text = tl_read_file(log, NULL);
    ck_assert_msg(st == 2, "exit %d: %s", st, text);
    ck_assert_msg(strstr(text, bad_env[_i].msg), "'%s' not in: %s", bad_env[_i].msg, text);
    ck_assert_msg(access(out, F_OK) != 0, "the output file was created");
    free(text);
    tl_rmtree(d);
    free(d);
    free(log);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shards");
    TCase *tu = tcase_create("env");
    tcase_add_loop_test(tu, test_shards_bad_env, 0, (int)(sizeof bad_env / sizeof bad_env[0]));
    suite_add_tcase(s, tu);

    TCase *tl = tcase_create("lab");
    tcase_set_timeout(tl, 240);
    tcase_add_unchecked_fixture(tl, lab_setup, lab_teardown);
    tcase_add_test(tl, test_full_scan);
    tcase_add_loop_test(tl, test_shards_union, 0, (int)(sizeof modes / sizeof modes[0]));
    suite_add_tcase(s, tl);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
