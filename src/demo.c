/* demo.c - see include/edgeshake/demo.h.
 *
 * The lab, the scan and the report each run as a child process of this one
 * (the same binary, /proc/self/exe): the lab's TLS servers must not share a
 * process with the scanner, and each step is exactly what a user would type. */
#include "edgeshake/demo.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edgeshake/lab.h"
#include "edgeshake/labspec.h"
#include "edgeshake/net.h"
#include "edgeshake/util.h"

/* The matrix: both versions, ALPN with and without http/1.1, SNI on and off,
 * ordinary and post-quantum-size ClientHellos, five attempts (so the flaky
 * node shows), and the HTTP/2 check. */
static const char *const matrix[] = {
    "--tls",
    "1.2",
    "--tls",
    "1.3",
    "--alpn",
    "h2,http/1.1",
    "--alpn",
    "h2",
    "--sni",
    "host",
    "--sni",
    "none",
    "--hello",
    "plain",
    "--hello",
    "pq",
    "--repeat",
    "5",
    "--h2-check",
    /* The lab is one thread: a gentle -c and a long deadline keep a slow
     * machine (or a sanitizer build) from turning load into findings. No
     * demo edge is silent, so the deadline costs nothing. */
    "-c",
    "64",
    "--timeout",
    "10000",
    "-q",
};

struct argv {
    char **v;
    size_t n, cap;
};

static void arg(struct argv *a, const char *s)
{
    a->v = es_xgrow(a->v, &a->cap, a->n + 2, sizeof *a->v);
    a->v[a->n++] = s ? es_xstrdup(s) : NULL;
    a->v[a->n] = NULL;
}

static void argv_free(struct argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
}

/* Starts `edgeshake ARGV` with stdout (and stderr when err_to_out) to path
 * (NULL = inherit). Returns the pid. */
static pid_t spawn(struct argv *a, const char *out_path, bool err_to_out)
{
    pid_t pid = fork();
    if (pid < 0)
        es_die(ES_EXIT_RUNTIME, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (out_path) {
            int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
                (err_to_out && dup2(fd, STDERR_FILENO) < 0))
                _exit(127);
        }
        execv("/proc/self/exe", a->v);
        fprintf(stderr, "edgeshake demo: exec /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run(struct argv *a, const char *out_path)
{
    return wait_exit(spawn(a, out_path, false));
}

static char *path_in(const char *dir, const char *name)
{
    struct es_sb b = {0};
    es_sb_printf(&b, "%s/%s", dir, name);
    return es_sb_take(&b);
}

/* Waits for STATE/ready; false when the lab exits or 30 s pass. */
static bool lab_ready(pid_t lab, const char *ready)
{
    for (int i = 0; i < 3000; i++) {
        if (access(ready, F_OK) == 0)
            return true;
        if (waitpid(lab, NULL, WNOHANG) == lab)
            return false;
        usleep(10000);
    }
    return false;
}

/* The scan command line for the demo lab: every resolver, the lab CA, every
 * host, the matrix. */
static void scan_args(struct argv *a, const struct es_labspec *spec, const char *state,
                      const char *csv, bool enumerate)
{
    char ep[ES_ENDPOINT_TEXT], buf[256];
    arg(a, "edgeshake");
    arg(a, enumerate ? "enum" : "scan");
    for (size_t i = 0; i < spec->nresolvers; i++) {
        snprintf(buf, sizeof buf, "%s=%s", spec->resolvers[i].label,
                 es_endpoint_str(&spec->resolvers[i].addr, ep, sizeof ep));
        arg(a, "-r");
        arg(a, buf);
    }
    char *ca = path_in(state, "ca.crt");
    if (!enumerate) {
        arg(a, "--ca-file");
        arg(a, ca);
    }
    free(ca);
    arg(a, "-p");
    snprintf(buf, sizeof buf, "%u", spec->nedges ? spec->edges[0].addr.port : 443);
    arg(a, buf);
    if (enumerate) {
        /* The lab is one thread, and a finite-field group costs it a full-
         * length check of the client's share (ffdhe8192: ~140 ms of CPU per
         * handshake): enumerating ffdhe3072-8192 on every edge took the demo
         * from ~2 s to ~20 s. The demo therefore looks for the five elliptic
         * groups and ffdhe2048 only (docs/enum.md); no demo finding is about
         * the larger finite-field groups. A gentle -c and a long deadline, as
         * for the scan. */
        static const char *const enum_opts[] = {
            "--groups", "X25519:P-256:X448:P-521:P-384:ffdhe2048", "-c", "32", "--timeout", "20000",
            "-q"};
        for (size_t i = 0; i < ES_ARRAY_LEN(enum_opts); i++)
            arg(a, enum_opts[i]);
    } else {
        for (size_t i = 0; i < ES_ARRAY_LEN(matrix); i++)
            arg(a, matrix[i]);
    }
    arg(a, "-o");
    arg(a, csv);
    for (size_t h = 0; h < spec->nhosts; h++)
        arg(a, spec->hosts[h].name);
}

static int report(const char *csv, const char *enum_csv, const char *format, const char *out)
{
    struct argv a = {0};
    arg(&a, "edgeshake");
    arg(&a, "report");
    arg(&a, "--format");
    arg(&a, format);
    if (out) {
        arg(&a, "-o");
        arg(&a, out);
    }
    arg(&a, csv);
    arg(&a, enum_csv);
    int rc = run(&a, NULL);
    argv_free(&a);
    return rc;
}

int es_demo_main(const struct es_config *cfg)
{
    char err[1024];
    char tmpl[] = "/tmp/edgeshake-demo-XXXXXX";
    const char *dir = cfg->out_dir;
    if (!dir) {
        if (!mkdtemp(tmpl))
            es_die(ES_EXIT_RUNTIME, "cannot make a directory in /tmp: %s", strerror(errno));
        dir = tmpl;
    } else if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        es_die(ES_EXIT_RUNTIME, "cannot make %s: %s", dir, strerror(errno));
    }
    char *spec_path = path_in(dir, "demo.lab"), *state = path_in(dir, "lab");
    char *ready = path_in(state, "ready"), *csv = path_in(dir, "scan.csv");
    char *enum_csv = path_in(dir, "enum.csv");
    char *txt = path_in(dir, "report.txt"), *html = path_in(dir, "report.html");
    char *log = path_in(dir, "lab.log");
    int status = ES_EXIT_RUNTIME;
    FILE *f = fopen(spec_path, "w");
    if (!f || fputs(es_demo_lab, f) < 0 || fclose(f) != 0)
        es_die(ES_EXIT_RUNTIME, "cannot write %s: %s", spec_path, strerror(errno));
    struct es_labspec *spec = es_labspec_parse_file(spec_path, err, sizeof err);
    if (!spec)
        es_die(ES_EXIT_RUNTIME, "the built-in demo lab does not parse: %s", err);

    if (!cfg->quiet)
        fprintf(stderr, "edgeshake demo: starting the lab CDN (%zu edges, %zu resolvers) from %s\n",
                spec->nedges, spec->nresolvers, spec_path);
    struct argv lab = {0};
    arg(&lab, "edgeshake");
    arg(&lab, "lab");
    arg(&lab, spec_path);
    arg(&lab, "--state");
    arg(&lab, state);
    pid_t lab_pid = spawn(&lab, log, true);
    argv_free(&lab);
    if (!lab_ready(lab_pid, ready)) {
        /* The reason goes to the terminal, not only into the log. */
        char why[1024];
        es_lab_failure_reason(log, why, sizeof why);
        if (why[0])
            es_warn("the lab did not start: %s (log: %s)", why, log);
        else
            es_warn("the lab did not start within 30 s; its log is %s", log);
        kill(lab_pid, SIGTERM);
        wait_exit(lab_pid);
        goto out;
    }

    int rc = 0;
    /* scan (what fails where), then enum (what each edge accepts: drift) */
    for (int step = 0; step < 2 && rc == 0; step++) {
        struct argv cmd = {0};
        scan_args(&cmd, spec, state, step ? enum_csv : csv, step == 1);
        if (!cfg->quiet) {
            fprintf(stderr, "edgeshake demo: %s:", step ? "enumerating" : "scanning");
            for (size_t i = 1; i < cmd.n; i++)
                fprintf(stderr, " %s", cmd.v[i]);
            fputc('\n', stderr);
        }
        rc = run(&cmd, NULL);
        argv_free(&cmd);
    }
    kill(lab_pid, SIGTERM);
    int lab_rc = wait_exit(lab_pid);
    if (rc != 0) {
        es_warn("the scan or the enumeration failed (exit %d)", rc);
        goto out;
    }
    if (lab_rc != 0)
        es_warn("the lab exited with %d; its log is %s", lab_rc, log);
    if (report(csv, enum_csv, "text", txt) != 0 || report(csv, enum_csv, "html", html) != 0 ||
        report(csv, enum_csv, "text", NULL) != 0) {
        es_warn("the report failed");
        goto out;
    }
    if (!cfg->quiet)
        fprintf(stderr, "\nedgeshake demo: wrote %s, %s, %s and %s\n", csv, enum_csv, txt, html);
    status = ES_EXIT_OK;
out:
    es_labspec_free(spec);
    free(spec_path);
    free(state);
    free(ready);
    free(csv);
    free(enum_csv);
    free(txt);
    free(html);
    free(log);
    return status;
}
