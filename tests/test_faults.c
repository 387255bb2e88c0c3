/* test_faults.c - resource faults (issue 8, item 4), each against the real
 * binary: an open-file limit of 256 with -c 5000 (lowered with a warning,
 * every row present), output on a full disk (a 64 KiB tmpfs in a private
 * mount namespace: exit 1 naming the file and ENOSPC, and what was written
 * is a valid CSV), SIGINT and SIGTERM mid-scan (exit 130, a valid file, the
 * summary counts the probes that did not run, rows + not run = planned), and
 * io_uring unavailable (the ES_TEST_URING_FAIL hook: exit 1 naming the cause
 * and the fix, and not one packet sent).
 *
 * Addresses: 127.60.3.0/24 (the -c lab), 127.60.4.0/24 (nothing listens:
 * every probe is refused at once), 127.60.5.0/24 (the signal lab and the
 * sockets that must see no packet).
 *
 * The full-disk test needs mount(2) (root, or CAP_SYS_ADMIN in a user
 * namespace); where it is refused it says why and the suite exits 77 (SKIP)
 * if nothing failed. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "edgeshake/util.h"
#include "edgeshake/writer.h"
#include "testlib.h"

#define NCOLS ES_ROW_NCOLUMNS /* DESIGN §3.2 */

/* ------------------------------------------------------------------------ */
/* Skips: a test that cannot run appends its reason here; main() exits 77.   */

static char skip_file[512];

static void skip(const char *why)
{
    fprintf(stderr, "SKIP: %s\n", why);
    FILE *f = fopen(skip_file, "a");
    if (f) {
        fprintf(f, "%s\n", why);
        fclose(f);
    }
}

/* ------------------------------------------------------------------------ */
/* Running the binary with a hook in the child and one in the parent.       */

struct run_opts {
    const char *const *env; /* NAME=VALUE..., NULL-terminated; NULL = none */
    rlim_t nofile;          /* > 0: RLIMIT_NOFILE soft = hard = this, before exec */
    /* In the child, after the limits: returns < 0 to go on to exec, else
     * the status to exit with (the hook may fork and exec itself). */
    int (*child)(void *arg);
    /* In the parent every 20 ms while the child runs. */
    void (*tick)(pid_t pid, void *arg);
    void *arg;
    int timeout_ms;
};

struct proc {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
};

static void slurp(int fd, char **buf, size_t *len, bool *open)
{
    char tmp[65536];
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r <= 0) {
        *open = false;
        return;
    }
    *buf = realloc(*buf, *len + (size_t)r + 1);
    memcpy(*buf + *len, tmp, (size_t)r);
    *len += (size_t)r;
    (*buf)[*len] = '\0';
}

static const char *const *exec_argv; /* for child hooks that exec themselves */

static _Noreturn void exec_edgeshake(void)
{
    execv(exec_argv[0], (char *const *)exec_argv);
    fprintf(stderr, "exec %s: %s\n", exec_argv[0], strerror(errno));
    _exit(127);
}

static void run(const char *const *args, const struct run_opts *o, struct proc *p)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = tl_bin();
    for (; *args; args++) {
        ck_assert_uint_lt(n, 63);
        argv[n++] = *args;
    }
    argv[n] = NULL;
    exec_argv = argv;
    int po[2], pe[2];
    ck_assert(pipe(po) == 0 && pipe(pe) == 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        for (const char *const *e = o->env; e && *e; e++)
            putenv((char *)*e);
        if (o->nofile) {
            struct rlimit rl = {o->nofile, o->nofile};
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
                int e = errno;
                /* Valgrind (which runs this child until the exec) refuses
                 * to lower the hard limit: let the shell's ulimit do the
                 * same setrlimit after the exec. */
                char cmd[64];
                snprintf(cmd, sizeof cmd, "ulimit -n %llu && exec \"$0\" \"$@\"",
                         (unsigned long long)o->nofile);
                const char *sh[70] = {"/bin/sh", "-c", cmd};
                for (size_t i = 0; i <= n; i++)
                    sh[3 + i] = argv[i];
                execv(sh[0], (char *const *)sh);
                fprintf(stderr, "setrlimit: %s, and exec /bin/sh: %s\n", strerror(e),
                        strerror(errno));
                _exit(126);
            }
        }
        if (o->child) {
            int rc = o->child(o->arg);
            if (rc >= 0)
                _exit(rc);
        }
        exec_edgeshake();
    }
    close(po[1]);
    close(pe[1]);
    size_t olen = 0, elen = 0;
    p->out = calloc(1, 1);
    p->err = calloc(1, 1);
    bool oopen = true, eopen = true, killed = false;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (oopen || eopen) {
        struct pollfd fds[2] = {{oopen ? po[0] : -1, POLLIN, 0}, {eopen ? pe[0] : -1, POLLIN, 0}};
        if (poll(fds, 2, 20) > 0) {
            if (fds[0].revents)
                slurp(po[0], &p->out, &olen, &oopen);
            if (fds[1].revents)
                slurp(pe[0], &p->err, &elen, &eopen);
        }
        if (o->tick && !killed)
            o->tick(pid, o->arg);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (!killed && ms > o->timeout_ms) {
            kill(pid, SIGKILL);
            killed = true;
        }
    }
    close(po[0]);
    close(pe[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    p->status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* ------------------------------------------------------------------------ */
/* The scan CSV: header + whole rows, every row NCOLS cells, RFC 4180.        */

/* Parses a scan file (the table owns text). Aborts unless it is the DESIGN
 * §3.2 header and whole rows of NCOLS cells. */
static void scan_table(struct tl_table *t, char *text)
{
    tl_table_parse(t, text);
    ck_assert_uint_eq(t->ncols, NCOLS);
    ck_assert_str_eq(t->header[0], "time");
    ck_assert_str_eq(t->header[NCOLS - 1], "h3_advertised");
}

/* The first number after `prefix` in text; aborts when absent. */
static unsigned long long number_after(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    ck_assert_msg(p != NULL, "'%s' not in: %s", prefix, text);
    char *end;
    unsigned long long v = strtoull(p + strlen(prefix), &end, 10);
    ck_assert_msg(end != p + strlen(prefix), "no number after '%s' in: %s", prefix, text);
    return v;
}

/* ------------------------------------------------------------------------ */
/* ulimit -n 256 with -c 5000.                                               */

static const char nofile_spec[] = "# test_faults: 127.60.3.0/24\n"
                                  "edge 127.60.3.1:8443 cert=a.test delay=200\n"
                                  "edge 127.60.3.2:8443 cert=b.test delay=200\n";

/* 2 edges x 500 attempts of one variant; each probe holds its socket for
 * 200 ms, so the scan keeps as many in flight as -c lets it. */
START_TEST(test_nofile_256)
{
    struct tl_lab lab;
    tl_lab_start(&lab, nofile_spec);
    const char *args[] = {"scan",
                          "--no-verify",
                          "--tls",
                          "1.3",
                          "--alpn",
                          "h2",
                          "-c",
                          "5000",
                          "--per-ip",
                          "5000",
                          "--repeat",
                          "500",
                          "--timeout",
                          "20000",
                          "-t",
                          "2",
                          "a.test:8443@127.60.3.1",
                          "b.test:8443@127.60.3.2",
                          NULL};
    struct run_opts o = {.nofile = 256, .timeout_ms = 120000};
    struct proc p;
    run(args, &o, &p);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    /* the warning names the limit, the old and the new -c, and the fix */
    ck_assert_msg(strstr(p.err, "the open-file limit is 256 (hard limit 256): lowering -c from "
                                "5000 to ") != NULL,
                  "%s", p.err);
    ck_assert_msg(strstr(p.err, "ulimit -Hn") != NULL, "%s", p.err);
    unsigned long long c = number_after(p.err, "lowering -c from 5000 to ");
    ck_assert_uint_gt(c, 0);
    ck_assert_uint_lt(c, 256);
    ck_assert_msg(strstr(p.err, "1000 rows written, 1000 planned") != NULL, "%s", p.err);
    struct tl_table t;
    scan_table(&t, p.out);
    ck_assert_uint_eq(t.nrows, 1000);
    size_t per_edge[2] = {0, 0};
    for (size_t r = 0; r < t.nrows; r++) {
        ck_assert_msg(!strcmp(tl_cell(&t, r, "status"), "ok"), "row %zu: %s %s", r,
                      tl_cell(&t, r, "status"), tl_cell(&t, r, "error"));
        per_edge[!strcmp(tl_cell(&t, r, "ip"), "127.60.3.2")]++;
    }
    ck_assert_uint_eq(per_edge[0], 500);
    ck_assert_uint_eq(per_edge[1], 500);
    tl_table_free(&t);
    free(p.err);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Output on a full disk.                                                    */

struct fulldisk {
    char mnt[600];  /* the tmpfs mount point (a directory of the test's tmpdir) */
    char copy[600]; /* where the child copies the file before its namespace ends */
    char file[700]; /* mnt/scan.csv */
};

#define SKIP_MARK "fulldisk-skip: "

/* Runs in the forked child: a private mount namespace with a 64 KiB tmpfs
 * on fd->mnt, the scan in a grandchild, then a copy of what it wrote to
 * fd->copy (the tmpfs goes away with the namespace). Exit status: the
 * scan's, or 77 when mounting is not permitted. */
static int fulldisk_child(void *arg)
{
    const struct fulldisk *fd = arg;
    if (unshare(CLONE_NEWNS) != 0) {
        fprintf(stderr, SKIP_MARK "unshare(CLONE_NEWNS): %s\n", strerror(errno));
        return 77;
    }
    /* (source and type are ignored for a propagation change; "none", not
     * NULL, keeps valgrind quiet) */
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", fd->mnt, "tmpfs", 0, "size=64k") != 0) {
        fprintf(stderr, SKIP_MARK "mount tmpfs: %s\n", strerror(errno));
        return 77;
    }
    pid_t pid = fork();
    if (pid < 0)
        return 125;
    if (pid == 0)
        exec_edgeshake();
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int in = open(fd->file, O_RDONLY), out = open(fd->copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char buf[65536];
    ssize_t r;
    while (in >= 0 && out >= 0 && (r = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)r) != r)
            return 124;
    close(in);
    close(out);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* 3 refused edges x 1000 attempts: ~1 MB of rows for a 64 KiB disk. */
static const char *const fulldisk_modes[] = {"engine", "dry-run"};

START_TEST(test_full_disk)
{
    char *dir = tl_tmpdir();
    struct fulldisk fd;
    snprintf(fd.mnt, sizeof fd.mnt, "%s/mnt", dir);
    snprintf(fd.copy, sizeof fd.copy, "%s/copy.csv", dir);
    snprintf(fd.file, sizeof fd.file, "%s/scan.csv", fd.mnt);
    ck_assert_int_eq(mkdir(fd.mnt, 0755), 0);
    const char *args[32] = {"scan",
                            "--tls",
                            "1.3",
                            "--alpn",
                            "h2",
                            "--repeat",
                            "1000",
                            "-o",
                            fd.file,
                            "-t",
                            "1",
                            "a.test:8443@127.60.4.1",
                            "b.test:8443@127.60.4.2",
                            "c.test:8443@127.60.4.3",
                            NULL};
    if (_i == 1) {
        size_t n = 0;
        while (args[n])
            n++;
        args[n] = "--dry-run";
    }
    struct run_opts o = {.child = fulldisk_child, .arg = &fd, .timeout_ms = 60000};
    struct proc p;
    run(args, &o, &p);
    if (p.status == 77 && strstr(p.err, SKIP_MARK)) {
        char why[700];
        snprintf(why, sizeof why, "full disk (%s): cannot mount a tmpfs here: %s",
                 fulldisk_modes[_i], strstr(p.err, SKIP_MARK) + strlen(SKIP_MARK));
        why[strcspn(why, "\n")] = '\0';
        skip(why);
    } else {
        ck_assert_msg(p.status == 1, "%s: exit %d: %s", fulldisk_modes[_i], p.status, p.err);
        char want[800];
        snprintf(want, sizeof want, "cannot write %s: No space left on device", fd.file);
        ck_assert_msg(strstr(p.err, want) != NULL, "'%s' not in: %s", want, p.err);
        ck_assert_str_eq(p.out, "");
        size_t len;
        char *text = tl_read_file(fd.copy, &len);
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_le(len, 64 * 1024);
        struct tl_table t;
        scan_table(&t, text); /* header + whole rows, or it aborts */
        ck_assert_uint_gt(t.nrows, 0);
        ck_assert_uint_lt(t.nrows, 3000);
        for (size_t r = 0; r < t.nrows; r++)
            ck_assert_str_eq(tl_cell(&t, r, "status"), _i == 1 ? "planned" : "connect_error");
        /* the summary counts exactly the rows that are in the file */
        char rows[800];
        snprintf(rows, sizeof rows, "edgeshake scan: %s: %zu rows: ", fd.file, t.nrows);
        ck_assert_msg(strstr(p.err, rows) != NULL, "'%s' not in: %s", rows, p.err);
        tl_table_free(&t);
    }
    free(p.out);
    free(p.err);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* SIGINT and SIGTERM mid-scan.                                              */

static const char signal_spec[] = "# test_faults: 127.60.5.0/24\n"
                                  "edge 127.60.5.2:8443 fault=blackhole\n";

struct sigrun {
    int sig;
    const char *path; /* the scan's output file */
    bool sent;
};

/* Sends the signal once the file holds a row: the engine is running. */
static void signal_tick(pid_t pid, void *arg)
{
    struct sigrun *s = arg;
    if (s->sent)
        return;
    size_t len;
    char *text = tl_read_file(s->path, &len);
    if (text && strchr(text, '\n') && strchr(text, '\n')[1]) {
        kill(pid, s->sig);
        s->sent = true;
    }
    free(text);
}

static const int signals[] = {SIGINT, SIGTERM};

/* 50 probes refused at once (127.60.5.1: nothing listens) and 50 to a
 * blackhole, two at a time for a second each: the scan would take 25 s. */
START_TEST(test_signal)
{
    struct tl_lab lab;
    tl_lab_start(&lab, signal_spec);
    char *dir = tl_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/scan.csv", dir);
    const char *args[] = {"scan",
                          "--tls",
                          "1.3",
                          "--alpn",
                          "h2",
                          "-t",
                          "1",
                          "-c",
                          "4",
                          "--per-ip",
                          "2",
                          "--timeout",
                          "1000",
                          "--repeat",
                          "50",
                          "-o",
                          path,
                          "r.test:8443@127.60.5.1",
                          "b.test:8443@127.60.5.2",
                          NULL};
    struct sigrun s = {.sig = signals[_i], .path = path};
    struct run_opts o = {.tick = signal_tick, .arg = &s, .timeout_ms = 60000};
    struct proc p;
    run(args, &o, &p);
    ck_assert(s.sent);
    ck_assert_msg(p.status == 130, "exit %d: %s", p.status, p.err);
    const char *name = _i == 0 ? "SIGINT" : "SIGTERM";
    char prefix[64];
    snprintf(prefix, sizeof prefix, "interrupted by %s: ", name);
    unsigned long long not_run = number_after(p.err, prefix);
    ck_assert_msg(strstr(p.err, " of 100 probes did not run") != NULL, "%s", p.err);
    char *text = tl_read_file(path, NULL);
    ck_assert_ptr_nonnull(text);
    struct tl_table t;
    scan_table(&t, text); /* the file is still a valid CSV */
    size_t rows = t.nrows;
    ck_assert_uint_gt(not_run, 0);
    ck_assert_uint_gt(rows, 0);
    ck_assert_uint_eq(rows + not_run, 100); /* every probe that ran has its row */
    for (size_t r = 0; r < t.nrows; r++) {
        bool refused = !strcmp(tl_cell(&t, r, "ip"), "127.60.5.1");
        ck_assert_str_eq(tl_cell(&t, r, "status"), refused ? "connect_error" : "timeout");
    }
    char summary[700];
    snprintf(summary, sizeof summary, "edgeshake scan: %s: %zu rows: ", path, rows);
    ck_assert_msg(strstr(p.err, summary) && strstr(p.err, "; interrupted"), "'%s' not in: %s",
                  summary, p.err);
    ck_assert_str_eq(p.out, "");
    tl_table_free(&t);
    free(p.out);
    free(p.err);
    tl_rmtree(dir);
    free(dir);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}
END_TEST

/* After the first signal the probes in flight get at most 1 s more, whatever
 * --timeout is (20 s here); a second signal ends the scan at once. Either
 * way: exit 130, a valid file, rows + not run = planned, and no `timeout`
 * row (the blackhole probes are closed without a row). */
struct graced {
    int count;        /* signals to send: 1 or 2 */
    const char *path; /* the scan's output file */
    int sent;
    uint64_t first_ms; /* when the first went */
};

static void graced_tick(pid_t pid, void *arg)
{
    struct graced *g = arg;
    if (g->sent == 0) {
        char *text = tl_read_file(g->path, NULL);
        bool row = text && strchr(text, '\n') && strchr(text, '\n')[1];
        free(text);
        if (!row)
            return;
        usleep(200000); /* the blackhole probes are in flight by now */
        kill(pid, SIGINT);
        g->first_ms = es_now_ms();
        g->sent = 1;
    } else if (g->sent < g->count && es_now_ms() - g->first_ms >= 100) {
        kill(pid, SIGINT);
        g->sent++;
    }
}

static const int grace_signals[] = {1, 2};

START_TEST(test_signal_grace)
{
    struct tl_lab lab;
    tl_lab_start(&lab, signal_spec);
    char *dir = tl_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/scan.csv", dir);
    const char *args[] = {"scan",
                          "--tls",
                          "1.3",
                          "--alpn",
                          "h2",
                          "-t",
                          "1",
                          "-c",
                          "8",
                          "--per-ip",
                          "4",
                          "--timeout",
                          "20000",
                          "--repeat",
                          "20",
                          "-o",
                          path,
                          "r.test:8443@127.60.5.1",
                          "b.test:8443@127.60.5.2",
                          NULL};
    struct graced g = {.count = grace_signals[_i], .path = path};
    struct run_opts o = {.tick = graced_tick, .arg = &g, .timeout_ms = 60000};
    struct proc p;
    run(args, &o, &p);
    uint64_t took = es_now_ms() - g.first_ms;
    ck_assert_int_eq(g.sent, g.count);
    ck_assert_msg(p.status == 130, "exit %d: %s", p.status, p.err);
    /* A hang detector, not a speed test: --timeout would make it 20 s. */
    ck_assert_msg(took < 10000, "exit %llu ms after the first signal", (unsigned long long)took);
    if (g.count == 2) /* sooner than the 1 s grace the first one gives */
        ck_assert_msg(took < 1000, "exit %llu ms after the first signal", (unsigned long long)took);
    unsigned long long not_run = number_after(p.err, "interrupted by SIGINT: ");
    char *text = tl_read_file(path, NULL);
    struct tl_table t;
    scan_table(&t, text);
    ck_assert_uint_eq(t.nrows + not_run, 40);
    for (size_t r = 0; r < t.nrows; r++) {
        ck_assert_str_eq(tl_cell(&t, r, "ip"), "127.60.5.1");
        ck_assert_str_eq(tl_cell(&t, r, "status"), "connect_error");
    }
    tl_table_free(&t);
    free(p.out);
    free(p.err);
    tl_rmtree(dir);
    free(dir);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}
END_TEST

/* SIGTERM while DNS still runs (a resolver that never answers, a 10 s DNS
 * deadline): the handler is there from the first line of scan, so exit 130
 * with a valid file (the header), not a death by the signal. */
static void dns_tick(pid_t pid, void *arg)
{
    uint64_t *t0 = arg;
    if (*t0 && es_now_ms() - *t0 >= 300) {
        kill(pid, SIGTERM);
        *t0 = 0;
    }
}

START_TEST(test_signal_during_dns)
{
    int quiet = socket(AF_INET, SOCK_DGRAM, 0); /* takes the queries, answers none */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5353)};
    inet_pton(AF_INET, "127.60.5.9", &sa.sin_addr);
    ck_assert(bind(quiet, (struct sockaddr *)&sa, sizeof sa) == 0);
    char *dir = tl_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/scan.csv", dir);
    const char *args[] = {"scan",
                          "-r",
                          "q=127.60.5.9:5353",
                          "--dns-timeout",
                          "10000",
                          "--dns-retries",
                          "0",
                          "-o",
                          path,
                          "slow.dns.test",
                          NULL};
    uint64_t t0 = es_now_ms();
    struct run_opts o = {.tick = dns_tick, .arg = &t0, .timeout_ms = 60000};
    struct proc p;
    run(args, &o, &p);
    ck_assert_msg(p.status == 130, "exit %d: %s", p.status, p.err);
    char *text = tl_read_file(path, NULL);
    ck_assert_ptr_nonnull(text);
    struct tl_table t;
    scan_table(&t, text);
    ck_assert_uint_eq(t.nrows, 0);
    tl_table_free(&t);
    free(p.out);
    free(p.err);
    close(quiet);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* io_uring unavailable.                                                     */

struct uring_case {
    const char *env;
    const char *cause, *fix;
};

static const struct uring_case uring_cases[] = {
    {"ES_TEST_URING_FAIL=EPERM",
     "io_uring is not permitted (io_uring_setup: Operation not "
     "permitted), most likely by a seccomp profile",
     "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile"},
    {"ES_TEST_URING_FAIL=ENOSYS",
     "this system has no io_uring (io_uring_setup: Function not "
     "implemented)",
     "edgeshake needs Linux 5.19 or newer built with CONFIG_IO_URING"},
    {"ES_TEST_URING_FAIL=EPERM:2",
     "io_uring is disabled on this machine "
     "(kernel.io_uring_disabled=2)",
     "sysctl kernel.io_uring_disabled=0"},
};

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
        ck_assert_int_eq(listen(fd, 16), 0);
    return fd;
}

START_TEST(test_uring_unavailable)
{
    if (!es_test_hooks()) { /* test_hooks_ignored runs instead */
        fprintf(stderr, "note: built without -Dtest_hooks=true: the uring cases need the hook\n");
        return;
    }
    const struct uring_case *c = &uring_cases[_i];
    /* A resolver and an edge that must hear nothing: the check comes first. */
    int udp = bound_socket(SOCK_DGRAM, "127.60.5.53", 5353);
    int tcp = bound_socket(SOCK_STREAM, "127.60.5.3", 8443);
    char *dir = tl_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/scan.csv", dir);
    const char *args[] = {"scan",
                          "-r",
                          "lab=127.60.5.53:5353",
                          "--dns-timeout",
                          "300",
                          "-o",
                          path,
                          "name.test",
                          "x.test:8443@127.60.5.3",
                          NULL};
    const char *env[] = {c->env, NULL};
    struct run_opts o = {.env = env, .timeout_ms = 30000};
    struct proc p;
    run(args, &o, &p);
    ck_assert_msg(p.status == 1, "exit %d: %s", p.status, p.err);
    ck_assert_msg(strstr(p.err, c->cause) != NULL, "cause '%s' not in: %s", c->cause, p.err);
    ck_assert_msg(strstr(p.err, c->fix) != NULL, "fix '%s' not in: %s", c->fix, p.err);
    ck_assert_str_eq(p.out, "");
    /* no output file (and so no row), no DNS query, no connection */
    struct stat st;
    ck_assert_msg(stat(path, &st) != 0 && errno == ENOENT, "%s exists", path);
    char buf[512];
    ck_assert_int_eq(recv(udp, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(accept(tcp, NULL, NULL), -1);
    ck_assert_int_eq(errno, EAGAIN);
    close(udp);
    close(tcp);
    free(p.out);
    free(p.err);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* In a build without test hooks (a user's: ./dev build), the variables do
 * nothing: ES_TEST_URING_FAIL=EPERM neither fails the scan nor prints the
 * seccomp message. (In a test-hooks build test_uring_unavailable runs.) */
START_TEST(test_hooks_ignored)
{
    if (es_test_hooks()) {
        fprintf(stderr, "note: built with test hooks: test_uring_unavailable covers them\n");
        return;
    }
    const char *args[] = {"scan", "--tls", "1.3", "-o", "-", "x.test:8443@127.60.4.1", NULL};
    const char *env[] = {"ES_TEST_URING_FAIL=EPERM", "ES_TEST_ENGINE=nodefer", NULL};
    struct run_opts o = {.env = env, .timeout_ms = 30000};
    struct proc p;
    run(args, &o, &p);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    ck_assert_msg(strstr(p.err, "seccomp") == NULL, "%s", p.err);
    struct tl_table t;
    scan_table(&t, p.out); /* takes p.out */
    ck_assert_uint_eq(t.nrows, 1);
    ck_assert_str_eq(tl_cell(&t, 0, "error"), "connection_refused");
    tl_table_free(&t);
    free(p.err);
}
END_TEST

int main(void)
{
    snprintf(skip_file, sizeof skip_file, "%s/edgeshake-faults-skips-%d",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    unlink(skip_file);
    Suite *s = suite_create("faults");

    TCase *nofile = tcase_create("nofile");
    tcase_set_timeout(nofile, 150);
    tcase_add_test(nofile, test_nofile_256);
    suite_add_tcase(s, nofile);

    TCase *disk = tcase_create("fulldisk");
    tcase_set_timeout(disk, 90);
    tcase_add_loop_test(disk, test_full_disk, 0, (int)ES_ARRAY_LEN(fulldisk_modes));
    suite_add_tcase(s, disk);

    TCase *sig = tcase_create("signals");
    tcase_set_timeout(sig, 90);
    tcase_add_loop_test(sig, test_signal, 0, (int)ES_ARRAY_LEN(signals));
    tcase_add_loop_test(sig, test_signal_grace, 0, (int)ES_ARRAY_LEN(grace_signals));
    tcase_add_test(sig, test_signal_during_dns);
    suite_add_tcase(s, sig);

    TCase *uring = tcase_create("uring");
    tcase_set_timeout(uring, 60);
    tcase_add_loop_test(uring, test_uring_unavailable, 0, (int)ES_ARRAY_LEN(uring_cases));
    tcase_add_test(uring, test_hooks_ignored);
    suite_add_tcase(s, uring);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char *skipped = tl_read_file(skip_file, NULL);
    unlink(skip_file);
    int rc = failed ? EXIT_FAILURE : EXIT_SUCCESS;
    if (!failed && skipped && skipped[0]) {
        fprintf(stderr, "every test that ran passed; skipped:\n%s", skipped);
        rc = 77;
    }
    free(skipped);
    return rc;
}
