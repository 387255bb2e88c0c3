/* bench.c - see include/edgeshake/bench.h.
 *
 * Order: the histogram; per-worker statistics (filled by the engine's on_row
 * callback on the worker threads, merged after the run); the lab started in
 * a child process; the target; the output; es_bench_main. */
#include "edgeshake/bench.h"
#include "edgeshake/scan.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "edgeshake/cli.h"
#include "edgeshake/engine.h"
#include "edgeshake/net.h"
#include "edgeshake/target.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"
#include "edgeshake/variant.h"

/* ---- histogram ------------------------------------------------------------ */

#define SUB (1u << ES_HIST_SUB_BITS)

void es_hist_init(struct es_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min_us = UINT64_MAX;
}

unsigned es_hist_bucket(uint64_t us)
{
    if (us < 2 * SUB)
        return (unsigned)us;
    unsigned k = 63u - (unsigned)__builtin_clzll(us); /* 2^k <= us < 2^(k+1), k >= 5 */
    if (k > ES_HIST_MAX_EXP)
        return ES_HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(us >> (k - ES_HIST_SUB_BITS)) & (SUB - 1);
    return (k - ES_HIST_SUB_BITS + 1) * SUB + sub;
}

uint64_t es_hist_bucket_low(unsigned b)
{
    if (b < 2 * SUB)
        return b;
    unsigned k = b / SUB + ES_HIST_SUB_BITS - 1;
    return (uint64_t)(SUB + b % SUB) << (k - ES_HIST_SUB_BITS);
}

/* Width of bucket b: 1 below 2 * SUB, else 2^(k - SUB_BITS). */
static uint64_t bucket_width(unsigned b)
{
    if (b < 2 * SUB)
        return 1;
    return (uint64_t)1 << (b / SUB - 1);
}

void es_hist_add(struct es_hist *h, uint64_t us)
{
    h->bucket[es_hist_bucket(us)]++;
    h->count++;
    if (us < h->min_us)
        h->min_us = us;
    if (us > h->max_us)
        h->max_us = us;
}

void es_hist_merge(struct es_hist *dst, const struct es_hist *src)
{
    for (unsigned i = 0; i < ES_HIST_BUCKETS; i++)
        dst->bucket[i] += src->bucket[i];
    dst->count += src->count;
    if (src->min_us < dst->min_us)
        dst->min_us = src->min_us;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

uint64_t es_hist_quantile(const struct es_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    double r = q * (double)h->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t cum = 0;
    unsigned b = 0;
    for (; b < ES_HIST_BUCKETS; b++) {
        cum += h->bucket[b];
        if (cum >= rank)
            break;
    }
    if (b == ES_HIST_BUCKETS)
        return h->max_us;
    uint64_t v = es_hist_bucket_low(b) + bucket_width(b) / 2;
    if (v < h->min_us)
        v = h->min_us;
    if (v > h->max_us)
        v = h->max_us;
    return v;
}

/* ---- per-worker statistics ---------------------------------------------- */

#define KINDS_MAX 32
#define KIND_LEN  48

struct errkind {
    char kind[KIND_LEN];
    uint64_t n;
};

/* One per worker, written only by that worker's thread during the run. */
struct wstat {
    uint64_t rows, ok;
    struct es_hist connect, handshake;
    struct errkind errs[KINDS_MAX];
    size_t nerrs;
    struct errkind verify[KINDS_MAX]; /* verify column of the completed handshakes */
    size_t nverify;
} __attribute__((aligned(64)));

struct bench {
    struct wstat *ws;
    unsigned nws;
};

static uint64_t ms_to_us(double ms)
{
    return (uint64_t)(ms * 1000.0 + 0.5);
}

/* The kind of a failed row: its error token, alert_NAME for a peer alert. */
static void row_kind(const struct es_row *row, char out[KIND_LEN])
{
    if (row->error && *row->error)
        snprintf(out, KIND_LEN, "%s", row->error);
    else if (row->alert >= 0 && row->alert_name && *row->alert_name)
        snprintf(out, KIND_LEN, "alert_%s", row->alert_name);
    else if (row->alert >= 0)
        snprintf(out, KIND_LEN, "alert_%d", row->alert);
    else
        snprintf(out, KIND_LEN, "%s", row->status ? row->status : "unknown");
}

static void kind_add(struct errkind *errs, size_t *nerrs, const char *kind, uint64_t n)
{
    for (size_t i = 0; i < *nerrs; i++)
        if (!strcmp(errs[i].kind, kind)) {
            errs[i].n += n;
            return;
        }
    if (*nerrs == KINDS_MAX) {
        /* Never seen: the vocabulary is much smaller. Keep the count anyway. */
        kind = "other";
        for (size_t i = 0; i < *nerrs; i++)
            if (!strcmp(errs[i].kind, kind)) {
                errs[i].n += n;
                return;
            }
        (*nerrs)--;
    }
    snprintf(errs[*nerrs].kind, KIND_LEN, "%s", kind);
    errs[*nerrs].n = n;
    (*nerrs)++;
}

/* The engine's on_row: runs on worker `worker`'s thread, allocates nothing. */
static void on_row(void *arg, unsigned worker, const struct es_row *row)
{
    struct bench *b = arg;
    if (worker >= b->nws)
        worker = 0; /* cannot happen: the engine runs at most nws workers */
    struct wstat *w = &b->ws[worker];
    w->rows++;
    if (row->connect_ms >= 0)
        es_hist_add(&w->connect, ms_to_us(row->connect_ms));
    if (row->status == es_tok_ok) {
        w->ok++;
        kind_add(w->verify, &w->nverify, row->verify && *row->verify ? row->verify : "none", 1);
        if (row->handshake_ms >= 0)
            es_hist_add(&w->handshake, ms_to_us(row->handshake_ms));
        return;
    }
    char kind[KIND_LEN];
    row_kind(row, kind);
    kind_add(w->errs, &w->nerrs, kind, 1);
}

/* ---- the lab in a child process ------------------------------------------- */

#define LAB_PORT     8443
#define LAB_READY_MS 20000
#define LAB_TRIES    8

struct lab {
    pid_t pid;
    char dir[PATH_MAX];
    char state[PATH_MAX + 8];
    struct es_ip ip;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rmtree(const char *dir)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static bool write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* The last line of the lab's log, for an error message. */
static void log_tail(const char *path, char *out, size_t len)
{
    char buf[4096];
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    char *nl = strrchr(buf, '\n');
    const char *line = nl ? nl + 1 : buf;
    size_t n2 = strlen(line);
    if (n2 >= len)
        n2 = len - 1;
    memcpy(out, line, n2);
    out[n2] = '\0';
}

static void lab_kill(struct lab *lab)
{
    if (lab->pid <= 0)
        return;
    kill(lab->pid, SIGTERM);
    for (int i = 0; i < 500; i++) { /* 5 s, then SIGKILL */
        if (waitpid(lab->pid, NULL, WNOHANG) == lab->pid) {
            lab->pid = 0;
            return;
        }
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    kill(lab->pid, SIGKILL);
    waitpid(lab->pid, NULL, 0);
    lab->pid = 0;
}

static void lab_stop(struct lab *lab)
{
    lab_kill(lab);
    if (lab->dir[0])
        rmtree(lab->dir);
    lab->dir[0] = '\0';
}

static pid_t lab_spawn(const char *spec, const char *state, const char *logpath)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* The child: die with the benchmark, whatever ends it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    int in = open("/dev/null", O_RDONLY);
    int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || log < 0)
        _exit(127);
    dup2(in, STDIN_FILENO);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    /* ES_LAB_BIN (a test hook, util.h): the binary to run the lab with, for
     * runs under a wrapper such as valgrind, where /proc/self/exe is the wrapper. */
    const char *bin = es_test_env("ES_LAB_BIN");
    if (!bin || !*bin)
        bin = "/proc/self/exe";
    execl(bin, "edgeshake", "lab", spec, "--state", state, (char *)NULL);
    fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
    _exit(127);
}

/* Waits for STATE/ready. Returns 1 when ready, 0 when the lab exited (its
 * status in *status), -1 after LAB_READY_MS. */
static int lab_wait_ready(struct lab *lab, int *status)
{
    char ready[PATH_MAX + 16];
    snprintf(ready, sizeof ready, "%s/ready", lab->state);
    for (int i = 0; i < LAB_READY_MS / 10; i++) {
        if (access(ready, F_OK) == 0)
            return 1;
        if (waitpid(lab->pid, status, WNOHANG) == lab->pid) {
            lab->pid = 0;
            return 0;
        }
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Starts a lab with one edge on 127.30.X.Y:8443, trying other addresses when
 * one is taken. Returns false with err set; nothing to clean up then. */
static bool lab_start(struct lab *lab, char *err, size_t errlen)
{
    memset(lab, 0, sizeof *lab);
    const char *tmp = getenv("TMPDIR");
    snprintf(lab->dir, sizeof lab->dir, "%s/edgeshake-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(lab->dir)) {
        snprintf(err, errlen, "cannot create a directory for the lab in %s: %s",
                 tmp && *tmp ? tmp : "/tmp", strerror(errno));
        lab->dir[0] = '\0';
        return false;
    }
    uint64_t seed = (uint64_t)getpid() * 2654435761u ^ es_now_ns();
    char spec[PATH_MAX + 16], logpath[PATH_MAX + 16], text[256], tail[512];
    snprintf(spec, sizeof spec, "%s/bench.lab", lab->dir);
    snprintf(logpath, sizeof logpath, "%s/lab.log", lab->dir);
    for (int attempt = 0; attempt < LAB_TRIES; attempt++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned x = 100 + (unsigned)(seed >> 33) % 150, y = 1 + (unsigned)(seed >> 45) % 254;
        snprintf(text, sizeof text,
                 "# edgeshake bench: one ECDSA P-256 edge, TLS 1.2 and 1.3\n"
                 "edge 127.30.%u.%u:%d cert=bench.test key=ecdsa tls=1.2,1.3\n",
                 x, y, LAB_PORT);
        snprintf(lab->state, sizeof lab->state, "%s/state.%d", lab->dir, attempt);
        if (!write_text(spec, text) || mkdir(lab->state, 0700) != 0) {
            snprintf(err, errlen, "cannot write the lab spec in %s: %s", lab->dir, strerror(errno));
            lab_stop(lab);
            return false;
        }
        lab->pid = lab_spawn(spec, lab->state, logpath);
        if (lab->pid < 0) {
            snprintf(err, errlen, "cannot start the lab: fork: %s", strerror(errno));
            lab->pid = 0;
            lab_stop(lab);
            return false;
        }
        int status = 0;
        int r = lab_wait_ready(lab, &status);
        if (r == 1) {
            char ip[32];
            snprintf(ip, sizeof ip, "127.30.%u.%u", x, y);
            es_ip_parse(ip, &lab->ip);
            return true;
        }
        log_tail(logpath, tail, sizeof tail);
        if (r < 0) {
            snprintf(err, errlen, "the lab was not ready within %d s (%s)", LAB_READY_MS / 1000,
                     tail);
            lab_stop(lab);
            return false;
        }
        if (!strstr(tail, "in use")) {
            snprintf(err, errlen, "the lab exited with status %d: %s",
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), tail);
            lab_stop(lab);
            return false;
        }
        /* The address is taken (another bench?): try another one. */
    }
    snprintf(err, errlen, "the lab could not bind a free 127.30.X.Y:%d after %d tries: %s",
             LAB_PORT, LAB_TRIES, tail);
    lab_stop(lab);
    return false;
}

/* ---- the target ------------------------------------------------------------ */

/* Parses the target word into e (host copied into hostbuf); exits 2 on a bad
 * word or a name that does not resolve. */
static void target_edge(const char *word, struct es_edge *e, char *hostbuf, size_t hostlen)
{
    char err[512];
    struct es_target t;
    if (!es_target_parse(word, strlen(word), 443, &t, err, sizeof err))
        es_usage_error("bad target '%s': %s", word, err);
    snprintf(hostbuf, hostlen, "%s", t.host);
    memset(e, 0, sizeof *e);
    e->host = hostbuf;
    e->host_is_ip = t.host_is_ip;
    e->port = t.port;
    e->resolver = "-";
    e->ecs = "";
    e->dns_ms = -1;
    if (t.has_ip) {
        e->ip = t.ip;
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(t.host, NULL, &hints, &ai);
    if (rc != 0)
        es_usage_error("cannot resolve '%s': %s (give HOST@IP to skip DNS)", t.host,
                       gai_strerror(rc));
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *a = ai; a; a = a->ai_next)
        if (!pick || (a->ai_family == AF_INET && pick->ai_family != AF_INET))
            pick = a;
    struct es_endpoint ep;
    bool ok = pick && es_endpoint_from_sockaddr(pick->ai_addr, &ep);
    freeaddrinfo(ai);
    if (!ok)
        es_usage_error("cannot resolve '%s': no IPv4 or IPv6 address", t.host);
    e->ip = ep.ip;
}

/* ---- results and output ------------------------------------------------------ */

struct result {
    char target[ES_HOST_MAX + ES_ENDPOINT_TEXT + 8];
    const char *tls;
    bool verify, lab;
    unsigned threads;
    uint64_t concurrency, inflight;
    uint64_t attempts, handshakes, not_run;
    double seconds, hs_per_s;
    double cpu_user_s, cpu_sys_s, cpu_us_per_hs; /* cpu_us_per_hs < 0: no handshake */
    struct es_hist connect, handshake;
    long peak_rss_kb, rss_before_kb;
    double rss_per_inflight_kb;
    struct errkind errs[KINDS_MAX];
    size_t nerrs;
    struct errkind vres[KINDS_MAX]; /* verify outcomes of the completed handshakes */
    size_t nvres;
};

static long rss_now_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident); /* kernel-written numbers, not user input */
    fclose(f);
    if (n != 2)
        return 0;
    return (long)(resident * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int cmp_kind(const void *a, const void *b)
{
    const struct errkind *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->kind, y->kind);
}

static void merge(struct result *r, const struct bench *b)
{
    es_hist_init(&r->connect);
    es_hist_init(&r->handshake);
    for (unsigned i = 0; i < b->nws; i++) {
        const struct wstat *w = &b->ws[i];
        r->attempts += w->rows;
        r->handshakes += w->ok;
        es_hist_merge(&r->connect, &w->connect);
        es_hist_merge(&r->handshake, &w->handshake);
        for (size_t k = 0; k < w->nerrs; k++)
            kind_add(r->errs, &r->nerrs, w->errs[k].kind, w->errs[k].n);
        for (size_t k = 0; k < w->nverify; k++)
            kind_add(r->vres, &r->nvres, w->verify[k].kind, w->verify[k].n);
    }
    qsort(r->errs, r->nerrs, sizeof r->errs[0], cmp_kind);
    qsort(r->vres, r->nvres, sizeof r->vres[0], cmp_kind);
}

/* A quantile in ms with three decimals, or the empty/null word. */
static void q_ms(char *out, size_t len, const struct es_hist *h, double q, const char *none)
{
    if (h->count == 0) {
        snprintf(out, len, "%s", none);
        return;
    }
    uint64_t us = q >= 1.0 ? h->max_us : es_hist_quantile(h, q);
    snprintf(out, len, "%.3f", (double)us / 1000.0);
}

static const double quantiles[] = {0.50, 0.90, 0.99, 1.0};
static const char *const qnames[] = {"p50", "p90", "p99", "max"};

static void print_text(FILE *f, const struct result *r)
{
    char v[32];
    fprintf(f, "target               %s%s\n", r->target,
            r->lab ? " (lab edge, separate process)" : "");
    fprintf(f, "tls                  %s, verify %s, %u threads, %llu in flight\n", r->tls,
            r->verify ? "on" : "off", r->threads, (unsigned long long)r->inflight);
    fprintf(f, "handshakes           %llu of %llu attempts\n", (unsigned long long)r->handshakes,
            (unsigned long long)r->attempts);
    fprintf(f, "seconds              %.3f\n", r->seconds);
    fprintf(f, "hs_per_s             %.1f\n", r->hs_per_s);
    if (r->cpu_us_per_hs >= 0)
        fprintf(f, "cpu_us_per_hs        %.1f  (user %.3f s + sys %.3f s)\n", r->cpu_us_per_hs,
                r->cpu_user_s, r->cpu_sys_s);
    else
        fprintf(f, "cpu_us_per_hs        -  (no handshake completed)\n");
    const struct es_hist *hs[2] = {&r->connect, &r->handshake};
    const char *names[2] = {"connect_ms", "handshake_ms"};
    for (int i = 0; i < 2; i++) {
        fprintf(f, "%-20s", names[i]);
        for (size_t j = 0; j < ES_ARRAY_LEN(quantiles); j++) {
            q_ms(v, sizeof v, hs[i], quantiles[j], "-");
            fprintf(f, " %s %s", qnames[j], v);
        }
        fputc('\n', f);
    }
    fprintf(f, "peak_rss_kb          %ld  (%ld before the run)\n", r->peak_rss_kb,
            r->rss_before_kb);
    fprintf(f, "rss_per_inflight_kb  %.1f\n", r->rss_per_inflight_kb);
    fprintf(f, "errors              ");
    if (!r->nerrs)
        fprintf(f, " none");
    for (size_t i = 0; i < r->nerrs; i++)
        fprintf(f, " %s %llu", r->errs[i].kind, (unsigned long long)r->errs[i].n);
    fputc('\n', f);
    fprintf(f, "verify              ");
    if (!r->nvres)
        fprintf(f, " -");
    for (size_t i = 0; i < r->nvres; i++)
        fprintf(f, " %s %llu", r->vres[i].kind, (unsigned long long)r->vres[i].n);
    fputc('\n', f);
    if (r->not_run)
        fprintf(f, "not_run              %llu\n", (unsigned long long)r->not_run);
}

static void print_csv(FILE *f, const struct result *r)
{
    char v[32];
    fputs("target,tls,verify,threads,inflight,attempts,handshakes,seconds,hs_per_s,"
          "cpu_us_per_hs",
          f);
    const char *names[2] = {"connect", "handshake"};
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; j < ES_ARRAY_LEN(qnames); j++)
            fprintf(f, ",%s_%s_ms", names[i], qnames[j]);
    fputs(",peak_rss_kb,rss_before_kb,rss_per_inflight_kb,errors,verify\n", f);
    /* Target text is a host name or an address: never a comma or a quote. */
    fprintf(f, "%s,%s,%s,%u,%llu,%llu,%llu,%.3f,%.1f,", r->target, r->tls, r->verify ? "on" : "off",
            r->threads, (unsigned long long)r->inflight, (unsigned long long)r->attempts,
            (unsigned long long)r->handshakes, r->seconds, r->hs_per_s);
    if (r->cpu_us_per_hs >= 0)
        fprintf(f, "%.1f", r->cpu_us_per_hs);
    const struct es_hist *hs[2] = {&r->connect, &r->handshake};
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; j < ES_ARRAY_LEN(quantiles); j++) {
            q_ms(v, sizeof v, hs[i], quantiles[j], "");
            fprintf(f, ",%s", v);
        }
    fprintf(f, ",%ld,%ld,%.1f,", r->peak_rss_kb, r->rss_before_kb, r->rss_per_inflight_kb);
    for (size_t i = 0; i < r->nerrs; i++)
        fprintf(f, "%s%s=%llu", i ? ";" : "", r->errs[i].kind, (unsigned long long)r->errs[i].n);
    fputc(',', f);
    for (size_t i = 0; i < r->nvres; i++)
        fprintf(f, "%s%s=%llu", i ? ";" : "", r->vres[i].kind, (unsigned long long)r->vres[i].n);
    fputc('\n', f);
}

static void print_json(FILE *f, const struct result *r)
{
    char v[32];
    fprintf(f, "{\"target\":\"%s\",\"lab\":%s,\"tls\":\"%s\",\"verify\":%s,\"threads\":%u,",
            r->target, r->lab ? "true" : "false", r->tls, r->verify ? "true" : "false", r->threads);
    fprintf(f, "\"inflight\":%llu,\"attempts\":%llu,\"handshakes\":%llu,\"not_run\":%llu,",
            (unsigned long long)r->inflight, (unsigned long long)r->attempts,
            (unsigned long long)r->handshakes, (unsigned long long)r->not_run);
    fprintf(f, "\"seconds\":%.3f,\"hs_per_s\":%.1f,", r->seconds, r->hs_per_s);
    if (r->cpu_us_per_hs >= 0)
        fprintf(f, "\"cpu_us_per_hs\":%.1f,", r->cpu_us_per_hs);
    else
        fputs("\"cpu_us_per_hs\":null,", f);
    fprintf(f, "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,", r->cpu_user_s, r->cpu_sys_s);
    const struct es_hist *hs[2] = {&r->connect, &r->handshake};
    const char *names[2] = {"connect_ms", "handshake_ms"};
    for (int i = 0; i < 2; i++) {
        fprintf(f, "\"%s\":{", names[i]);
        for (size_t j = 0; j < ES_ARRAY_LEN(quantiles); j++) {
            q_ms(v, sizeof v, hs[i], quantiles[j], "null");
            fprintf(f, "%s\"%s\":%s", j ? "," : "", qnames[j], v);
        }
        fputs("},", f);
    }
    fprintf(f, "\"peak_rss_kb\":%ld,\"rss_before_kb\":%ld,\"rss_per_inflight_kb\":%.1f,",
            r->peak_rss_kb, r->rss_before_kb, r->rss_per_inflight_kb);
    fputs("\"errors\":{", f);
    for (size_t i = 0; i < r->nerrs; i++) /* kinds are tokens: [a-z0-9_] */
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", r->errs[i].kind,
                (unsigned long long)r->errs[i].n);
    fputs("},\"verify\":{", f);
    for (size_t i = 0; i < r->nvres; i++) /* verify tokens: [a-z_] */
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", r->vres[i].kind,
                (unsigned long long)r->vres[i].n);
    fputs("}}\n", f);
}

/* Opens -o before the run: a benchmark is not run only to find at the end
 * that its result cannot be written. Exits 1 with the reason. */
static FILE *open_output(const struct es_config *cfg)
{
    if (!cfg->output || !strcmp(cfg->output, "-"))
        return stdout;
    FILE *f = fopen(cfg->output, "w");
    if (!f)
        es_die(ES_EXIT_RUNTIME, "cannot write %s: %s", cfg->output, strerror(errno));
    return f;
}

static int print_result(const struct es_config *cfg, FILE *f, const struct result *r)
{
    bool to_stdout = f == stdout;
    const char *fmt = cfg->format ? cfg->format : "text";
    if (!strcmp(fmt, "json"))
        print_json(f, r);
    else if (!strcmp(fmt, "csv"))
        print_csv(f, r);
    else
        print_text(f, r);
    bool ok = !ferror(f);
    ok = (to_stdout ? fflush(f) == 0 : fclose(f) == 0) && ok;
    if (!ok) {
        es_warn("cannot write %s: %s", to_stdout ? "stdout" : cfg->output, strerror(errno));
        return ES_EXIT_RUNTIME;
    }
    return ES_EXIT_OK;
}

/* ---- the run --------------------------------------------------------------- */

/* Handshakes planned with --duration: more than any run can start. */
#define DURATION_REPEAT 4000000000ull

static unsigned worker_count(const struct es_config *cfg)
{
    uint64_t t = cfg->threads;
    if (!t) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        t = n > 0 ? (uint64_t)n : 1;
    }
    return (unsigned)(t > 1024 ? 1024 : t);
}

int es_bench_main(const struct es_config *cfg)
{
    char err[1024];
    /* The run's own configuration: one variant, N attempts, no per-IP limit. */
    struct es_config run = *cfg;
    const char *tls[1] = {cfg->bench_tls ? cfg->bench_tls : "1.3"};
    static const char *const alpn[1] = {"none"};
    run.tls = (struct es_strlist){.v = tls, .n = 1};
    const char *hello[1] = {cfg->bench_hello ? cfg->bench_hello : "plain"};
    run.hello = (struct es_strlist){.v = hello, .n = 1};
    run.http_check = NULL;
    run.alpn = (struct es_strlist){.v = (const char **)alpn, .n = 1};
    memset(&run.sni, 0, sizeof run.sni);
    memset(&run.ciphers, 0, sizeof run.ciphers);
    memset(&run.ciphersuites, 0, sizeof run.ciphersuites);
    memset(&run.groups, 0, sizeof run.groups);
    run.repeat = cfg->duration_s ? DURATION_REPEAT : cfg->handshakes;
    run.per_ip = run.concurrency ? run.concurrency : 1;
    run.rate = 0;
    run.h2_check = false;
    run.keylog = NULL;
    if (run.repeat == 0)
        es_usage_error("-n: expected at least 1 handshake");
    if (cfg->ca_file && cfg->no_verify)
        es_usage_error("--ca-file and --no-verify exclude each other");

    struct es_variant *variants = NULL;
    size_t nvariants = 0;
    if (!es_variants_build(&run, &variants, &nvariants, err, sizeof err))
        es_usage_error("%s", err);
    es_check_tls_files(variants, nvariants, cfg->ca_file, NULL);
    FILE *out = open_output(cfg);

    struct result r;
    memset(&r, 0, sizeof r);
    r.tls = tls[0];
    r.verify = !cfg->no_verify;
    struct es_edge edge;
    char host[ES_HOST_MAX + 1];
    struct lab lab;
    memset(&lab, 0, sizeof lab);
    if (cfg->args.n == 1) {
        target_edge(cfg->args.v[0], &edge, host, sizeof host);
    } else {
        if (!lab_start(&lab, err, sizeof err)) {
            es_variants_free(variants, nvariants);
            es_die(ES_EXIT_RUNTIME, "cannot start the lab edge: %s", err);
        }
        /* bench.test@IP: SNI and verification use the lab certificate's name. */
        snprintf(host, sizeof host, "bench.test");
        memset(&edge, 0, sizeof edge);
        edge.host = host;
        edge.host_is_ip = false;
        edge.port = LAB_PORT;
        edge.ip = lab.ip;
        edge.resolver = "-";
        edge.ecs = "";
        edge.dns_ms = -1;
        r.lab = true;
        if (!cfg->ca_file && !cfg->no_verify) {
            /* Verify against the lab's own CA, as a scan of the lab would. */
            static char ca[PATH_MAX + 16];
            snprintf(ca, sizeof ca, "%s/ca.crt", lab.state);
            run.ca_file = ca;
        }
    }
    struct es_endpoint ep = {.ip = edge.ip, .port = edge.port};
    if (edge.host_is_ip)
        es_endpoint_str(&ep, r.target, sizeof r.target);
    else {
        char ept[ES_ENDPOINT_TEXT];
        snprintf(r.target, sizeof r.target, "%s:%u@%s", edge.host, (unsigned)edge.port,
                 es_ip_str(&edge.ip, ept, sizeof ept));
    }

    struct bench b;
    b.nws = worker_count(cfg);
    b.ws = es_xcalloc(b.nws, sizeof *b.ws);
    for (unsigned i = 0; i < b.nws; i++) {
        es_hist_init(&b.ws[i].connect);
        es_hist_init(&b.ws[i].handshake);
    }
    struct es_engine_params p = {
        .cfg = &run,
        .edges = &edge,
        .nedges = 1,
        .variants = variants,
        .nvariants = nvariants,
        .writer = NULL,
        .on_row = on_row,
        .on_row_arg = &b,
        .spread = true,
        .no_rows_line = true, /* bench writes no rows: its result is the summary */
        .stop_after_ms = cfg->duration_s * 1000,
    };

    struct rusage ru0, ru1;
    struct es_engine_result res;
    r.rss_before_kb = rss_now_kb();
    getrusage(RUSAGE_SELF, &ru0);
    enum es_engine_status st = es_engine_run(&p, &res);
    getrusage(RUSAGE_SELF, &ru1);
    lab_stop(&lab);

    int status = es_engine_exit_code(st);
    if (st != ES_ENGINE_FAILED) {
        merge(&r, &b);
        r.threads = res.threads;
        r.concurrency = res.concurrency;
        r.inflight = res.concurrency;
        if (r.inflight > res.planned) /* never more in flight than attempts */
            r.inflight = res.planned;
        r.not_run = res.not_run;
        r.seconds = res.elapsed_s;
        r.hs_per_s = r.seconds > 0 ? (double)r.handshakes / r.seconds : 0;
        r.cpu_user_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
        r.cpu_sys_s = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
        r.cpu_us_per_hs =
            r.handshakes ? (r.cpu_user_s + r.cpu_sys_s) * 1e6 / (double)r.handshakes : -1;
        r.peak_rss_kb = ru1.ru_maxrss;
        long grown = r.peak_rss_kb - r.rss_before_kb;
        r.rss_per_inflight_kb =
            r.inflight ? (double)(grown > 0 ? grown : 0) / (double)r.inflight : 0;
        int pr = print_result(cfg, out, &r);
        if (pr != ES_EXIT_OK && status == ES_EXIT_OK)
            status = pr;
    } else if (out != stdout)
        fclose(out);
    free(b.ws);
    es_variants_free(variants, nvariants);
    return status;
}
