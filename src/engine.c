/* engine.c - the engine's main thread (engine.h is the contract, engine-int.h
 * maps the other files).
 *
 * Deals the edges to workers and splits -c among them, builds each worker's
 * TLS contexts, starts the workers and waits for their rings, prints the
 * status line while they run, handles SIGINT/SIGTERM (the first stops new
 * probes, the second ends the process), and sums up: rows == planned. */
#include "engine-int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "edgeshake/util.h"

atomic_int eng_stop_sig;

/* ---- the main thread -------------------------------------------------------- */

static void on_signal(int sig)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&eng_stop_sig, &expected, sig)) {
        /* The second signal: stop at once. */
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static uint64_t online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint64_t)n : 1;
}

/* Raises RLIMIT_NOFILE to its hard limit and returns the -c that fits. */
static uint64_t fit_nofile(uint64_t want, unsigned nworkers)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t slack = 64 + 4ull * nworkers; /* rings, output, stdio, OpenSSL's files */
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want + slack)
        return want;
    uint64_t fit = rl.rlim_cur > slack + 1 ? rl.rlim_cur - slack : 1;
    es_warn("the open-file limit is %llu (hard limit %llu): lowering -c from %llu to %llu; "
            "raise it with `ulimit -Hn` (as root) or LimitNOFILE= under systemd",
            (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
            (unsigned long long)want, (unsigned long long)fit);
    return fit;
}

struct totals {
    uint64_t done, ok, failed, inflight, retries, rows;
};

static struct totals sum_stats(const struct engine *eng)
{
    struct totals t = {0, 0, 0, 0, 0, 0};
    for (unsigned i = 0; i < eng->nworkers; i++) {
        const struct wstats *s = &eng->workers[i].st;
        t.done += atomic_load_explicit(&s->done, memory_order_relaxed);
        t.ok += atomic_load_explicit(&s->ok, memory_order_relaxed);
        t.failed += atomic_load_explicit(&s->failed, memory_order_relaxed);
        t.inflight += atomic_load_explicit(&s->inflight, memory_order_relaxed);
        t.retries += atomic_load_explicit(&s->retries, memory_order_relaxed);
        t.rows += atomic_load_explicit(&s->rows, memory_order_relaxed);
    }
    return t;
}

static void print_status(const struct engine *eng, const struct totals *t, double rate)
{
    char eta[32] = "-";
    if (rate > 0 && t->done < eng->planned) {
        uint64_t s = (uint64_t)((double)(eng->planned - t->done) / rate);
        snprintf(eta, sizeof eta, "%llu:%02llu:%02llu", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
    }
    fprintf(stderr,
            "%s%s: %llu/%llu probes (%llu ok, %llu failed), %.0f handshakes/s, %llu in flight, "
            "ETA %s%s",
            eng->tty ? "\r" : "", es_progname, (unsigned long long)t->done,
            (unsigned long long)eng->planned, (unsigned long long)t->ok,
            (unsigned long long)t->failed, rate, (unsigned long long)t->inflight, eta,
            eng->tty ? "\033[K" : "\n");
    fflush(stderr);
}

/* Waits for the workers, printing the status line once a second. */
static void watch(struct engine *eng)
{
    uint64_t last_ns = es_now_ns(), last_done = 0;
    bool printed = false;
    while (atomic_load(&eng->nfinished) < eng->nworkers) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
        uint64_t now = es_now_ns();
        if (!eng->progress || now - last_ns < 1000000000u)
            continue;
        struct totals t = sum_stats(eng);
        double rate = (double)(t.done - last_done) * 1e9 / (double)(now - last_ns);
        print_status(eng, &t, rate);
        printed = true;
        last_ns = now;
        last_done = t.done;
    }
    if (printed && eng->tty)
        fputc('\n', stderr);
}

/* Deals the edges; fills eng->workers with the workers that have work and
 * splits -c among them. */
static void deal(struct engine *eng, uint64_t threads, uint64_t concurrency)
{
    const struct es_engine_params *p = eng->p;
    if (threads > concurrency)
        threads = concurrency;
    if (threads < 1)
        threads = 1;
    unsigned nt = (unsigned)threads;
    eng->order = es_xcalloc(p->nedges ? p->nedges : 1, sizeof *eng->order);
    eng->first = es_xcalloc(nt + 1, sizeof *eng->first);
    uint64_t per_edge = (uint64_t)(p->edge_variant ? 1 : p->nvariants) * p->cfg->repeat;
    if (p->spread) {
        for (size_t i = 0; i < p->nedges; i++)
            eng->order[i] = (uint32_t)i;
        uint64_t total = per_edge * p->nedges;
        if (nt > total)
            nt = total ? (unsigned)total : 1;
    } else {
        es_deal_split(p->edges, p->nedges, nt, eng->order, eng->first);
    }
    eng->workers = es_xcalloc(nt, sizeof *eng->workers);
    unsigned k = 0;
    for (unsigned t = 0; t < nt; t++) {
        struct worker *w = &eng->workers[k];
        if (p->spread) {
            w->edges = eng->order;
            w->nedges = p->nedges;
            uint64_t total = per_edge * p->nedges;
            w->probes = total / nt + (t < total % nt);
        } else {
            w->edges = eng->order + eng->first[t];
            w->nedges = eng->first[t + 1] - eng->first[t];
            w->probes = per_edge * w->nedges;
        }
        if (w->probes == 0)
            continue;
        w->eng = eng;
        w->index = k++;
    }
    eng->nworkers = k;
    for (unsigned i = 0; i < k; i++) {
        struct worker *w = &eng->workers[i];
        uint64_t c = concurrency / k + (i < concurrency % k);
        if (c > w->probes)
            c = w->probes;
        if (c < 1)
            c = 1;
        if (c > UINT32_MAX / 4)
            c = UINT32_MAX / 4;
        w->nslots = (uint32_t)c;
    }
}

static void engine_free(struct engine *eng)
{
    for (unsigned i = 0; i < eng->nworkers; i++)
        es_tls_ctxset_free(eng->workers[i].tls);
    free(eng->workers);
    free(eng->order);
    free(eng->first);
    pthread_mutex_destroy(&eng->mu);
    pthread_cond_destroy(&eng->cv);
}

static void test_flags(struct engine *eng)
{
    const char *v = getenv("ES_TEST_ENGINE");
    if (!v)
        return;
    eng->test_nodefer = strstr(v, "nodefer") != NULL;
    eng->test_nobufring = strstr(v, "nobufring") != NULL;
    eng->test_nosocketop = strstr(v, "nosocketop") != NULL;
}

static enum es_engine_status fail(struct es_engine_result *res, const char *msg)
{
    snprintf(res->error, sizeof res->error, "%s", msg);
    es_warn("%s", msg);
    return ES_ENGINE_FAILED;
}

/* Starts the workers and waits until every one has set up its ring; returns 0
 * or the -errno of the first that could not. */
static int start_workers(struct engine *eng, bool *thread_err)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    unsigned created = 0;
    int err = 0;
    for (unsigned i = 0; i < eng->nworkers; i++) {
        int r = pthread_create(&eng->workers[i].thread, NULL, eng_worker_main, &eng->workers[i]);
        if (r != 0) {
            err = -r;
            *thread_err = true;
            break;
        }
        eng->workers[i].started = true;
        created++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&eng->mu);
    while (eng->nready < created)
        pthread_cond_wait(&eng->cv, &eng->mu);
    for (unsigned i = 0; i < created && !err; i++)
        err = eng->workers[i].setup_err;
    eng->go = err ? -1 : 1;
    pthread_cond_broadcast(&eng->cv);
    pthread_mutex_unlock(&eng->mu);
    /* Workers never created count as finished for watch(). */
    atomic_fetch_add(&eng->nfinished, eng->nworkers - created);
    return err;
}

static void summary(const struct engine *eng, const struct totals *t, double secs, bool quiet)
{
    if (quiet)
        return;
    fprintf(stderr, "%s: %llu probes in %.1f s (%.0f/s): %llu ok, %llu failed", es_progname,
            (unsigned long long)t->done, secs, secs > 0 ? (double)t->done / secs : 0.0,
            (unsigned long long)t->ok, (unsigned long long)t->failed);
    if (t->retries)
        fprintf(stderr, "; %llu retries after local resource limits (back-off)",
                (unsigned long long)t->retries);
    fputc('\n', stderr);
    (void)eng;
}

enum es_engine_status es_engine_run(const struct es_engine_params *p, struct es_engine_result *res)
{
    const struct es_config *cfg = p->cfg;
    memset(res, 0, sizeof *res);
    res->planned = (uint64_t)p->nedges * (p->edge_variant ? 1 : p->nvariants) * cfg->repeat;

    char msg[512];
    if (es_engine_check_uring(msg, sizeof msg) != 0)
        return fail(res, msg);

    struct engine eng;
    memset(&eng, 0, sizeof eng);
    eng.p = p;
    eng.cfg = cfg;
    eng.planned = res->planned;
    pthread_mutex_init(&eng.mu, NULL);
    pthread_cond_init(&eng.cv, NULL);
    test_flags(&eng);
    eng.vantage = cfg->vantage;
    if (!eng.vantage) {
        if (gethostname(eng.vantage_buf, sizeof eng.vantage_buf - 1) != 0)
            snprintf(eng.vantage_buf, sizeof eng.vantage_buf, "unknown");
        eng.vantage = eng.vantage_buf;
    }
    eng.tty = isatty(STDERR_FILENO);
    eng.progress = !cfg->quiet && (cfg->progress || eng.tty);

    uint64_t threads = cfg->threads ? cfg->threads : online_cores();
    uint64_t conc = fit_nofile(cfg->concurrency ? cfg->concurrency : 1,
                               (unsigned)(threads > 1024 ? 1024 : threads));
    res->concurrency = conc;
    if (res->planned == 0) {
        engine_free(&eng);
        if (!cfg->quiet)
            fprintf(stderr, "%s: 0 rows written, 0 planned\n", es_progname);
        return ES_ENGINE_DONE;
    }
    deal(&eng, threads, conc);
    res->threads = eng.nworkers;

    struct es_tls_opts topts = {
        .ca_file = cfg->ca_file,
        .no_verify = cfg->no_verify,
        .h2_check = cfg->h2_check,
        .keylog = cfg->keylog,
    };
    for (unsigned i = 0; i < eng.nworkers; i++) {
        char err[256] = "";
        eng.workers[i].tls = es_tls_ctxset_new(p->variants, p->nvariants, &topts, err, sizeof err);
        if (!eng.workers[i].tls) {
            snprintf(msg, sizeof msg, "cannot set up TLS: %s", err);
            engine_free(&eng);
            return fail(res, msg);
        }
    }

    bool fast_keys = es_tls_fast_key_decode(true); /* off again below, after the workers */
    atomic_store(&eng_stop_sig, 0);
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    uint64_t t0 = es_now_ns();
    eng.stop_at_ns = p->stop_after_ms ? t0 + p->stop_after_ms * 1000000u : 0;
    bool thread_err = false;
    int err = start_workers(&eng, &thread_err);
    if (!err)
        watch(&eng);
    for (unsigned i = 0; i < eng.nworkers; i++)
        if (eng.workers[i].started)
            pthread_join(eng.workers[i].thread, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (fast_keys)
        es_tls_fast_key_decode(false);
    res->elapsed_s = (double)(es_now_ns() - t0) / 1e9;

    if (err) {
        if (thread_err)
            snprintf(msg, sizeof msg, "cannot start %u worker threads: %s", eng.nworkers,
                     strerror(-err));
        else
            eng_explain_setup_error(-err, msg, sizeof msg);
        engine_free(&eng);
        return fail(res, msg);
    }

    struct totals t = sum_stats(&eng);
    res->rows = t.rows;
    res->ok = t.ok;
    res->failed = t.failed;
    res->retries = t.retries;
    res->not_run = res->planned > t.done ? res->planned - t.done : 0;
    summary(&eng, &t, res->elapsed_s, cfg->quiet);

    int write_err = atomic_load(&eng.write_err);
    int sig = atomic_load(&eng_stop_sig);
    engine_free(&eng);
    enum es_engine_status st = ES_ENGINE_DONE;
    if (write_err) {
        snprintf(msg, sizeof msg,
                 "stopped: the output cannot be written (%s); %llu probes did not run",
                 strerror(write_err), (unsigned long long)res->not_run);
        return fail(res, msg);
    }
    if (sig) {
        st = ES_ENGINE_INTERRUPTED;
        es_warn("interrupted by %s: %llu of %llu probes did not run and have no rows",
                sig == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)res->not_run,
                (unsigned long long)res->planned);
    }
    /* Stopped by stop_after_ms: the probes never started have no row. */
    uint64_t expect = eng.stop_at_ns && !sig ? res->planned - res->not_run : res->planned;
    if ((!cfg->quiet && !p->no_rows_line) || (st == ES_ENGINE_DONE && res->rows != expect))
        fprintf(stderr, "%s: %llu rows written, %llu planned\n", es_progname,
                (unsigned long long)res->rows, (unsigned long long)res->planned);
    if (st == ES_ENGINE_DONE && res->rows != expect) {
        snprintf(msg, sizeof msg, "internal error: %llu rows for %llu planned probes",
                 (unsigned long long)res->rows, (unsigned long long)res->planned);
        return fail(res, msg);
    }
    return st;
}

int es_engine_exit_code(enum es_engine_status st)
{
    switch (st) {
    case ES_ENGINE_DONE: return ES_EXIT_OK;
    case ES_ENGINE_INTERRUPTED: return ES_EXIT_INTERRUPTED;
    case ES_ENGINE_FAILED: break;
    }
    return ES_EXIT_RUNTIME;
}
