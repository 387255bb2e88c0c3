/* engine.c - the engine's main thread (engine.h is the contract, engine-int.h
 * maps the other files).
 *
 * es_engine_start creates the workers (-c split among them), builds each
 * worker's TLS contexts, waits for their rings and starts a monitor thread
 * that prints the status line. es_engine_add_edges, on the feeding thread,
 * copies each edge into a record (sched.h), deals it to a worker by a hash,
 * and pushes it into that worker's inbox (a lock-free stack the worker takes
 * whole); it blocks while too many probes wait unstarted. es_engine_wait
 * joins everything and sums up: rows == planned. SIGINT/SIGTERM: the first
 * stops new probes, the second ends the process. */
#include "engine-int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "edgeshake/util.h"

atomic_int eng_stop_sig;
atomic_bool eng_hard_stop;

/* ---- signals ---------------------------------------------------------------- */

static atomic_int nsignals;
static volatile sig_atomic_t stop_flag; /* the first signal, for es_engine_stop_flag */
static bool signals_kept;                  /* es_engine_signals_install: the caller's now */
static struct sigaction old_int, old_term; /* the engine's own: restored by es_engine_wait */

/* First signal: stop (the probes in flight get GRACE_NS). Second: stop at
 * once, rows flushed. Third: the default action (the process dies). */
static void on_signal(int sig)
{
    int n = atomic_fetch_add(&nsignals, 1) + 1;
    if (n == 1) {
        stop_flag = 1;
        int expected = 0;
        atomic_compare_exchange_strong(&eng_stop_sig, &expected, sig);
    } else if (n == 2) {
        atomic_store(&eng_hard_stop, true);
    } else {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static void signals_reset(void)
{
    atomic_store(&nsignals, 0);
    stop_flag = 0;
    atomic_store(&eng_stop_sig, 0);
    atomic_store(&eng_hard_stop, false);
}

static void signals_install(struct sigaction *prev_int, struct sigaction *prev_term)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, prev_int);
    sigaction(SIGTERM, &sa, prev_term);
}

void es_engine_signals_install(void)
{
    signals_reset();
    signals_install(NULL, NULL);
    signals_kept = true;
}

int es_engine_interrupted(void)
{
    return atomic_load(&eng_stop_sig);
}

volatile sig_atomic_t *es_engine_stop_flag(void)
{
    return &stop_flag;
}

bool es_engine_stop_now(void)
{
    return atomic_load(&eng_hard_stop);
}

/* ---- the main thread -------------------------------------------------------- */

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

static struct totals sum_stats(const struct es_engine *eng)
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

#define STATUS_TTY_NS   1000000000ull  /* on a terminal: every second */
#define STATUS_PLAIN_NS 10000000000ull /* elsewhere (--progress): every 10 s */
#define RATE_ALPHA      0.3            /* EWMA weight of the newest 1 s sample */

/* The terminal's width, 80 when unknown. */
static unsigned term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static void print_status(const struct es_engine *eng, const struct totals *t, double rate)
{
    struct es_status s = {
        .done = t->done,
        .planned = atomic_load(&eng->planned),
        .ok = t->ok,
        .failed = t->failed,
        .inflight = t->inflight,
        .rate = rate,
        .planned_final = atomic_load(&eng->input_ended) || eng->planned_run > 0,
    };
    if (eng->planned_run > s.planned)
        s.planned = eng->planned_run;
    char line[512];
    es_status_line(line, sizeof line, &s, eng->tty ? term_width() : 0);
    if (eng->tty)
        fprintf(stderr, "\r%s\033[K", line);
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* The monitor thread: waits for the workers; samples their counters once a
 * second (rate: an EWMA of the samples) and prints the status line. */
static void *monitor_main(void *arg)
{
    struct es_engine *eng = arg;
    uint64_t every = eng->tty ? STATUS_TTY_NS : STATUS_PLAIN_NS;
    uint64_t last_sample = es_now_ns(), last_print = last_sample, last_done = 0;
    double rate = 0;
    bool have_rate = false, printed = false;
    while (atomic_load(&eng->nfinished) < eng->nworkers) {
        /* 50 ms naps, cut short by the last worker's end (each run of enum's
         * rounds would otherwise wait out the nap) */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&eng->mu);
        if (atomic_load(&eng->nfinished) < eng->nworkers)
            pthread_cond_timedwait(&eng->cv, &eng->mu, &until);
        pthread_mutex_unlock(&eng->mu);
        if (atomic_load(&eng->nfinished) >= eng->nworkers)
            break;
        uint64_t now = es_now_ns();
        if (now - last_sample < 1000000000u)
            continue;
        struct totals t = sum_stats(eng);
        double inst = (double)(t.done - last_done) * 1e9 / (double)(now - last_sample);
        rate = have_rate ? RATE_ALPHA * inst + (1 - RATE_ALPHA) * rate : inst;
        have_rate = true;
        last_sample = now;
        last_done = t.done;
        if (!eng->progress || now - last_print < every - 25000000u)
            continue;
        print_status(eng, &t, rate);
        printed = true;
        last_print = now;
    }
    if (printed && eng->tty)
        fputc('\n', stderr);
    return NULL;
}

/* Creates the workers. With the plan known (es_engine_run: edges != NULL),
 * only workers that get probes exist and none has more slots than probes;
 * otherwise min(threads, -c) workers share -c. */
static void make_workers(struct es_engine *eng, uint64_t threads, uint64_t concurrency,
                         const struct es_edge *edges, size_t nedges)
{
    const struct es_engine_params *p = &eng->p;
    if (threads > concurrency)
        threads = concurrency;
    if (threads < 1)
        threads = 1;
    unsigned nt = (unsigned)threads;
    uint64_t *hint = es_xcalloc(nt, sizeof *hint);
    if (edges && p->spread) {
        uint64_t total = 0;
        for (size_t i = 0; i < nedges; i++)
            total += es_edge_probes(&edges[i], p->nvariants, p->cfg->repeat);
        if (nt > total)
            nt = total ? (unsigned)total : 1;
        for (unsigned t = 0; t < nt; t++)
            hint[t] = total / nt + (t < total % nt);
    } else if (edges) {
        for (size_t i = 0; i < nedges; i++)
            hint[es_deal_worker(&edges[i].ip, nt)] +=
                es_edge_probes(&edges[i], p->nvariants, p->cfg->repeat);
    }
    eng->ndeal = nt;
    eng->route = es_xcalloc(nt, sizeof *eng->route);
    eng->workers = es_xcalloc(nt, sizeof *eng->workers);
    unsigned k = 0;
    for (unsigned t = 0; t < nt; t++) {
        eng->route[t] = -1;
        if (edges && hint[t] == 0)
            continue;
        struct worker *w = &eng->workers[k];
        w->eng = eng;
        w->index = k;
        w->probes_hint = hint[t];
        atomic_init(&w->inbox, NULL);
        eng->route[t] = (int)k++;
    }
    free(hint);
    if (k == 0) { /* nothing to run: one idle worker keeps the paths uniform */
        eng->workers[0].eng = eng;
        atomic_init(&eng->workers[0].inbox, NULL);
        eng->route[0] = 0;
        k = 1;
    }
    eng->nworkers = k;
    for (unsigned i = 0; i < k; i++) {
        struct worker *w = &eng->workers[i];
        uint64_t c = concurrency / k + (i < concurrency % k);
        if (w->probes_hint && c > w->probes_hint)
            c = w->probes_hint;
        if (c < 1)
            c = 1;
        if (c > UINT32_MAX / 4)
            c = UINT32_MAX / 4;
        w->nslots = (uint32_t)c;
    }
    eng->batch_head = es_xcalloc(k, sizeof *eng->batch_head);
    eng->batch_tail = es_xcalloc(k, sizeof *eng->batch_tail);
}

/* Frees edge records that reached an inbox after its worker had stopped. */
static void free_inboxes(struct es_engine *eng)
{
    for (unsigned i = 0; i < eng->nworkers; i++) {
        struct es_edgerec *r = atomic_exchange(&eng->workers[i].inbox, NULL);
        while (r) {
            struct es_edgerec *next = r->next;
            free(r);
            r = next;
        }
    }
}

static void engine_free(struct es_engine *eng)
{
    free_inboxes(eng);
    for (unsigned i = 0; i < eng->nworkers; i++) {
        if (!eng->workers[i].started)
            eng_worker_free(&eng->workers[i]);
        es_tls_ctxset_free(eng->workers[i].tls);
    }
    free(eng->workers);
    free(eng->route);
    free(eng->batch_head);
    free(eng->batch_tail);
    pthread_mutex_destroy(&eng->mu);
    pthread_cond_destroy(&eng->cv);
    free(eng);
}

static void test_flags(struct es_engine *eng)
{
    const char *v = es_test_env("ES_TEST_ENGINE");
    if (!v)
        return;
    eng->test_nodefer = strstr(v, "nodefer") != NULL;
    eng->test_nobufring = strstr(v, "nobufring") != NULL;
    eng->test_nosocketop = strstr(v, "nosocketop") != NULL;
}

static void fail_msg(struct es_engine_result *res, const char *msg)
{
    snprintf(res->error, sizeof res->error, "%s", msg);
    es_warn("%s", msg);
}

/* Starts the workers and the monitor, and waits until every worker has set
 * up its ring; returns 0 or the -errno of the first that could not. */
static int start_workers(struct es_engine *eng, bool *thread_err)
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
    pthread_mutex_lock(&eng->mu);
    while (eng->nready < created)
        pthread_cond_wait(&eng->cv, &eng->mu);
    for (unsigned i = 0; i < created && !err; i++)
        err = eng->workers[i].setup_err;
    eng->go = err ? -1 : 1;
    pthread_cond_broadcast(&eng->cv);
    pthread_mutex_unlock(&eng->mu);
    /* Workers never created count as finished for the monitor. */
    atomic_fetch_add(&eng->nfinished, eng->nworkers - created);
    if (!err) {
        int r = pthread_create(&eng->monitor, NULL, monitor_main, eng);
        if (r != 0) {
            err = -r;
            *thread_err = true;
            atomic_store(&eng_stop_sig, SIGTERM); /* let the workers end */
        } else {
            eng->monitor_started = true;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

static void join_all(struct es_engine *eng)
{
    if (eng->monitor_started)
        pthread_join(eng->monitor, NULL);
    eng->monitor_started = false;
    for (unsigned i = 0; i < eng->nworkers; i++)
        if (eng->workers[i].started)
            pthread_join(eng->workers[i].thread, NULL);
}

static void summary(const struct totals *t, double secs, bool quiet)
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
}

/* Puts back the handlers from before es_engine_start, unless the caller owns
 * them (es_engine_signals_install). */
static void signals_restore(void)
{
    if (signals_kept)
        return;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

static struct es_engine *engine_start(const struct es_engine_params *p,
                                      struct es_engine_result *res, const struct es_edge *edges,
                                      size_t nedges)
{
    const struct es_config *cfg = p->cfg;
    char msg[512];
    struct es_engine *eng = es_xcalloc(1, sizeof *eng);
    eng->p = *p;
    eng->cfg = cfg;
    pthread_mutex_init(&eng->mu, NULL);
    pthread_cond_init(&eng->cv, NULL);
    test_flags(eng);
    eng->vantage = cfg->vantage;
    if (!eng->vantage) {
        if (gethostname(eng->vantage_buf, sizeof eng->vantage_buf - 1) != 0)
            snprintf(eng->vantage_buf, sizeof eng->vantage_buf, "unknown");
        eng->vantage = eng->vantage_buf;
    }
    eng->tty = isatty(STDERR_FILENO);
    eng->progress = !cfg->quiet && (cfg->progress || eng->tty);

    uint64_t threads = cfg->threads ? cfg->threads : online_cores();
    uint64_t conc = fit_nofile(cfg->concurrency ? cfg->concurrency : 1,
                               (unsigned)(threads > 1024 ? 1024 : threads));
    res->concurrency = eng->concurrency = conc;
    eng->bound = conc * 4 > 10000 ? (int64_t)(conc * 4) : 10000;
    make_workers(eng, threads, conc, edges, nedges);
    res->threads = eng->nworkers;

    struct es_tls_opts topts = {
        .ca_file = cfg->ca_file,
        .no_verify = cfg->no_verify,
        .h2_check = cfg->h2_check,
        .http_path = cfg->http_check,
        .keylog = cfg->keylog,
    };
    for (unsigned i = 0; i < eng->nworkers; i++) {
        char err[256] = "";
        eng->workers[i].tls = es_tls_ctxset_new(p->variants, p->nvariants, &topts, err, sizeof err);
        if (!eng->workers[i].tls) {
            snprintf(msg, sizeof msg, "cannot set up TLS: %s", err);
            engine_free(eng);
            fail_msg(res, msg);
            return NULL;
        }
    }

    for (unsigned i = 0; i < eng->nworkers; i++)
        eng_worker_alloc(&eng->workers[i]);
    /* A signal before the start (es_engine_signals_install) is kept: the
     * workers then start nothing. */
    if (!signals_kept) {
        signals_reset();
        signals_install(&old_int, &old_term);
    }

    eng->t0_ns = es_now_ns();
    double rate = (double)cfg->rate;
    es_bucket_init(&eng->bucket, rate, rate / 20, eng->t0_ns);
    eng->stop_at_ns = p->stop_after_ms ? eng->t0_ns + p->stop_after_ms * 1000000u : 0;
    bool thread_err = false;
    int err = start_workers(eng, &thread_err);
    if (err) {
        join_all(eng);
        signals_restore();
        if (thread_err)
            snprintf(msg, sizeof msg, "cannot start %u worker threads: %s", eng->nworkers,
                     strerror(-err));
        else
            eng_explain_setup_error(-err, msg, sizeof msg);
        engine_free(eng);
        fail_msg(res, msg);
        return NULL;
    }
    return eng;
}

struct es_engine *es_engine_start(const struct es_engine_params *p, struct es_engine_result *res)
{
    memset(res, 0, sizeof *res);
    char msg[512];
    if (es_engine_check_uring(msg, sizeof msg) != 0) {
        fail_msg(res, msg);
        return NULL;
    }
    return engine_start(p, res, NULL, 0);
}

/* ---- feeding ---------------------------------------------------------------- */

/* True when the engine will start no more probes. */
static bool feed_stopped(const struct es_engine *eng)
{
    return atomic_load_explicit(&eng_stop_sig, memory_order_relaxed) != 0 || eng_failed(eng) ||
           (eng->stop_at_ns && es_now_ns() >= eng->stop_at_ns) ||
           atomic_load(&eng->nfinished) >= eng->nworkers;
}

static void batch_add(struct es_engine *eng, unsigned k, struct es_edgerec *rec)
{
    rec->next = eng->batch_head[k]; /* newest first, as the inbox */
    if (!eng->batch_head[k])
        eng->batch_tail[k] = rec;
    eng->batch_head[k] = rec;
}

/* Pushes each worker's batch onto its inbox. */
static void batch_flush(struct es_engine *eng)
{
    for (unsigned k = 0; k < eng->nworkers; k++) {
        struct es_edgerec *head = eng->batch_head[k], *tail = eng->batch_tail[k];
        if (!head)
            continue;
        struct worker *w = &eng->workers[k];
        struct es_edgerec *old = atomic_load_explicit(&w->inbox, memory_order_relaxed);
        do
            tail->next = old;
        while (!atomic_compare_exchange_weak_explicit(&w->inbox, &old, head, memory_order_release,
                                                      memory_order_relaxed));
        eng->batch_head[k] = eng->batch_tail[k] = NULL;
    }
}

/* Waits until the workers have taken probes down to half the bound; -1 when
 * the engine stopped meanwhile. */
static int feed_wait(struct es_engine *eng)
{
    int64_t low = eng->bound / 2;
    int rc = 0;
    pthread_mutex_lock(&eng->mu);
    while (atomic_load(&eng->unstarted) > low) {
        if (feed_stopped(eng)) {
            rc = -1;
            break;
        }
        atomic_store(&eng->feed_waiting, true);
        if (atomic_load(&eng->unstarted) <= low)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000; /* and look at the stop conditions again */
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&eng->cv, &eng->mu, &until);
    }
    atomic_store(&eng->feed_waiting, false);
    pthread_mutex_unlock(&eng->mu);
    return rc;
}

int es_engine_add_edges(struct es_engine *eng, const struct es_edge *edges, size_t n)
{
    const struct es_engine_params *p = &eng->p;
    for (size_t i = 0; i < n; i++) {
        uint64_t per_edge = es_edge_probes(&edges[i], p->nvariants, p->cfg->repeat);
        if (feed_stopped(eng)) {
            batch_flush(eng);
            return -1;
        }
        if (atomic_load_explicit(&eng->unstarted, memory_order_relaxed) >= eng->bound) {
            batch_flush(eng);
            if (feed_wait(eng) < 0)
                return -1;
        }
        if (per_edge == 0)
            continue;
        if (p->spread) {
            for (unsigned k = 0; k < eng->nworkers; k++)
                if (es_share_probes(per_edge, k, eng->nworkers) > 0)
                    batch_add(eng, k, es_edgerec_new(&edges[i], per_edge, k, eng->nworkers));
        } else {
            int k = eng->route[es_deal_worker(&edges[i].ip, eng->ndeal)];
            if (k < 0) /* es_engine_run planned without this edge */
                es_die(ES_EXIT_RUNTIME, "internal error: an edge for a worker that does not exist");
            batch_add(eng, (unsigned)k, es_edgerec_new(&edges[i], per_edge, 0, 1));
        }
        atomic_fetch_add(&eng->planned, per_edge);
        atomic_fetch_add(&eng->unstarted, (int64_t)per_edge);
    }
    batch_flush(eng);
    return feed_stopped(eng) ? -1 : 0;
}

void es_engine_end_input(struct es_engine *eng)
{
    batch_flush(eng);
    atomic_store_explicit(&eng->input_ended, true, memory_order_release);
}

/* ---- the end ---------------------------------------------------------------- */

enum es_engine_status es_engine_wait(struct es_engine *eng, struct es_engine_result *res)
{
    const struct es_config *cfg = eng->cfg;
    char msg[512];
    es_engine_end_input(eng);
    join_all(eng);
    signals_restore();
    memset(res, 0, sizeof *res);
    res->elapsed_s = (double)(es_now_ns() - eng->t0_ns) / 1e9;
    res->threads = eng->nworkers;
    res->concurrency = eng->concurrency;
    res->planned = atomic_load(&eng->planned);
    if (eng->planned_run > res->planned)
        res->planned = eng->planned_run; /* es_engine_run stopped before adding it all */

    struct totals t = sum_stats(eng);
    res->rows = t.rows;
    res->ok = t.ok;
    res->failed = t.failed;
    res->retries = t.retries;
    res->not_run = res->planned > t.done ? res->planned - t.done : 0;
    summary(&t, res->elapsed_s, cfg->quiet);

    int write_err = atomic_load(&eng->write_err);
    int fatal = atomic_load(&eng->fatal_err);
    char fatal_msg[sizeof eng->fatal_msg];
    snprintf(fatal_msg, sizeof fatal_msg, "%s", eng->fatal_msg);
    int sig = atomic_load(&eng_stop_sig);
    bool stop_after = eng->stop_at_ns != 0;
    bool no_rows_line = eng->p.no_rows_line;
    engine_free(eng);
    enum es_engine_status st = ES_ENGINE_DONE;
    if (fatal) {
        snprintf(msg, sizeof msg, "the engine failed (%s); %llu probes did not run", fatal_msg,
                 (unsigned long long)res->not_run);
        fail_msg(res, msg);
        return ES_ENGINE_FAILED;
    }
    if (write_err) {
        snprintf(msg, sizeof msg,
                 "stopped: the output cannot be written (%s); %llu probes did not run",
                 strerror(write_err), (unsigned long long)res->not_run);
        fail_msg(res, msg);
        return ES_ENGINE_FAILED;
    }
    if (sig) {
        st = ES_ENGINE_INTERRUPTED;
        es_warn("interrupted by %s: %llu of %llu probes did not run and have no rows",
                sig == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)res->not_run,
                (unsigned long long)res->planned);
    }
    /* Stopped by stop_after_ms: the probes never started have no row. */
    uint64_t expect = stop_after && !sig ? res->planned - res->not_run : res->planned;
    if ((!cfg->quiet && !no_rows_line) || (st == ES_ENGINE_DONE && res->rows != expect))
        fprintf(stderr, "%s: %llu rows written, %llu planned\n", es_progname,
                (unsigned long long)res->rows, (unsigned long long)res->planned);
    if (st == ES_ENGINE_DONE && res->rows != expect) {
        snprintf(msg, sizeof msg, "internal error: %llu rows for %llu planned probes",
                 (unsigned long long)res->rows, (unsigned long long)res->planned);
        fail_msg(res, msg);
        return ES_ENGINE_FAILED;
    }
    return st;
}

enum es_engine_status es_engine_run(const struct es_engine_params *p, struct es_engine_result *res)
{
    const struct es_config *cfg = p->cfg;
    memset(res, 0, sizeof *res);
    uint64_t planned = 0;
    for (size_t i = 0; i < p->nedges; i++)
        planned += es_edge_probes(&p->edges[i], p->nvariants, cfg->repeat);
    char msg[512];
    if (es_engine_check_uring(msg, sizeof msg) != 0) {
        fail_msg(res, msg);
        return ES_ENGINE_FAILED;
    }
    if (planned == 0) {
        uint64_t threads = cfg->threads ? cfg->threads : online_cores();
        res->concurrency = fit_nofile(cfg->concurrency ? cfg->concurrency : 1,
                                      (unsigned)(threads > 1024 ? 1024 : threads));
        if (!cfg->quiet)
            fprintf(stderr, "%s: 0 rows written, 0 planned\n", es_progname);
        return ES_ENGINE_DONE;
    }
    struct es_engine *eng = engine_start(p, res, p->edges, p->nedges);
    if (!eng)
        return ES_ENGINE_FAILED;
    eng->planned_run = planned;
    es_engine_add_edges(eng, p->edges, p->nedges);
    return es_engine_wait(eng, res);
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
