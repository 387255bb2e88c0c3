/* engine.h - the probe engine: runs every probe of a scan on per-core
 * io_uring workers and produces exactly one row per probe (DESIGN §2, §5).
 *
 * Input: the frozen config, the variant matrix, and edges, all at once
 * (es_engine_run) or as a stream (es_engine_start, es_engine_add_edges ...,
 * es_engine_end_input, es_engine_wait: see "Feeding" below). The engine
 * expands them into probes itself, edges x variants x attempts:
 *
 *  - Workers. `-t` threads (0 = online cores), each with its own io_uring
 *    ring (SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them), a fixed
 *    pool of connection slots allocated at start (`-c` split across the
 *    workers that have work), receive buffers from a provided-buffer ring,
 *    one es_tls_ctxset. Socket, connect, send, recv, cancel and close go
 *    through the ring; each CQE's user_data carries {op, generation, slot}
 *    (below) and is dispatched by one switch.
 *  - Dealing (sched.h). Edges are dealt to workers by a hash of their IP,
 *    so every probe to one IP runs on one worker; each worker keeps its
 *    edges in a queue, round robin by attempt: attempt k + 1 of an edge
 *    starts only after every edge queued behind it had its turn (--repeat
 *    never hits one node back to back; edges given all at once run
 *    attempt-major: attempt 1 of every edge, then attempt 2, ...).
 *  - Politeness, for the whole process. --per-ip N: at most N probes in
 *    flight per edge IP (exact: all of an IP's probes are on one worker's
 *    gate; 0 = no limit); probes over the limit wait in a FIFO per IP,
 *    nothing is dropped. Shards and vantages do not talk to each other: to
 *    hold a fleet-wide budget B per IP over P shards at once, give each
 *    --per-ip B/P. --rate R: new connections per second over all workers,
 *    one token bucket shared by them (a GCRA on one atomic, sched.h), bursts
 *    of at most R/20. In spread mode (bench: one target on every worker)
 *    --per-ip is per worker.
 *  - Deadlines. --connect-timeout (default: --timeout) is a linked timeout on
 *    the connect; --timeout bounds the whole probe from its start (a FIFO of
 *    deadlines per worker: one timeout for all probes keeps it sorted). A
 *    probe that runs out of time is one row: status `timeout`, error
 *    `connect_timeout` or `handshake_timeout`, the stage it reached.
 *  - Failures are data (tokens of token.h, stage `connect` before TLS):
 *    refused -> connect_error/connection_refused, ENETUNREACH ->
 *    connect_error/network_unreachable, EHOSTUNREACH -> host_unreachable,
 *    a reset as the connect completes (the server accepted, then reset at
 *    once) -> tls_error/connection_reset at stage client_hello, the same as
 *    a reset after the ClientHello went out, anything else at connect
 *    (EACCES from a firewall, say) -> connect_failed; during TLS, resets and
 *    EOF go to the TLS probe (tlsprobe.h), which names them. Local resource trouble is never a
 *    failed probe: EMFILE/ENFILE/ENOBUFS/ENOMEM at socket, EADDRNOTAVAIL/
 *    EAGAIN at connect, a full or busy ring -> the probe is retried from the
 *    start after a back-off that doubles up to 1 s (the retries are counted
 *    and reported), and the worker starts nothing new meanwhile.
 *  - Sockets close with SO_LINGER 0 (an RST, no TIME_WAIT): a sweep, and a
 *    benchmark against one server, would otherwise run out of local ports.
 *  - Rows. Each row is formatted (es_row_format) into the worker's buffer,
 *    which goes to the writer every ES_WRITER_BATCH_BYTES or 100 ms. At the
 *    end the engine checks rows == planned and says so on stderr.
 *  - Operations. A status line on stderr (cfg->progress, or stderr is a
 *    TTY, and not cfg->quiet): on a terminal once a second, rewritten in
 *    place and cut to the terminal's width; otherwise a plain line every
 *    10 s. The rate is smoothed (EWMA over 1 s samples, a few seconds'
 *    memory), and so is the ETA, shown once the input has ended. SIGINT/SIGTERM while running:
 *    start nothing new, give the probes in flight at most 1 s more whatever
 *    --timeout is (then they are closed without a row), flush, and return
 *    ES_ENGINE_INTERRUPTED; the probes without a row count in not_run and
 *    the summary says how many. A second signal: the same at once
 *    (es_engine_signals_install).
 *  - Slow output. Workers hand rows over without waiting
 *    (es_writer_try_submit): when the writer's queue is full, a worker keeps
 *    its rows, starts no probe, and goes on running the probes in flight, so
 *    their times and deadlines are the network's, never the disk's or the
 *    pipe reader's. Workers never exit the process: ring and loop failures
 *    reach the main thread (ES_ENGINE_FAILED, after the rows are handed
 *    over). RLIMIT_NOFILE is raised to its hard limit; when that is still
 *    short of -c, -c is lowered with a warning.
 *
 *  - The loop. Each iteration waits once, takes in every completion the
 *    kernel holds (with DEFER_TASKRUN a kernel hands out only ~20 per
 *    io_uring_enter, so it asks again until none are left), and only then
 *    judges deadlines: a connect that completed in time is never a
 *    connect_timeout because the worker was busy. Completions are cheap to
 *    take in; the TLS work they call for (SSL_new and the ClientHello, a
 *    handshake step) waits in a FIFO of which each iteration does about 1 ms,
 *    and each iteration starts at most 64 probes, none while 64 connected
 *    probes still wait for their ClientHello (a worker short of CPU starts
 *    fewer probes rather than time them out). Bytes that arrived before a
 *    deadline are processed before the probe is judged; a probe connected
 *    but never given its ClientHello by its deadline is a handshake_timeout
 *    at stage client_hello.
 *  - TLS on OpenSSL 3.0: the engine never switches es_tls_fast_key_decode
 *    (tlsprobe.h); main() sets it up once for scan, bench and enum.
 *
 * Times in rows come from a clock read once per loop iteration, so they
 * include the time the worker took to get to the completion. */
#ifndef EDGESHAKE_ENGINE_H
#define EDGESHAKE_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/config-t.h"
#include "edgeshake/probe-t.h"
#include "edgeshake/row-t.h"
#include "edgeshake/variant-t.h"
#include "edgeshake/writer.h"

struct es_engine;

/* Called on the worker thread for every finished probe, before the row is
 * formatted; the row's strings are valid only during the call. */
typedef void (*es_engine_row_fn)(void *arg, unsigned worker, const struct es_row *row);

struct es_engine_params {
    const struct es_config *cfg; /* concurrency, threads, rate, per_ip, timeout_ms,
                                    connect_timeout_ms, repeat, progress, quiet,
                                    vantage (NULL = host name), ca_file, no_verify,
                                    h2_check, keylog */
    const struct es_edge *edges; /* es_engine_run only: borrowed for the call */
    size_t nedges;
    const struct es_variant *variants; /* borrowed */
    size_t nvariants;
    struct es_writer *writer; /* rows go here (format below); NULL = no file */
    enum es_format format;
    es_engine_row_fn on_row; /* optional, e.g. bench statistics or tests */
    void *on_row_arg;
    bool spread;            /* deal probes round robin over the workers instead of by host
                               (one target, many workers: bench); --per-ip is then per worker */
    bool no_rows_line;      /* no "N rows written, N planned" line on stderr: the caller
                               writes no rows file and prints its own summary (bench) */
    uint64_t stop_after_ms; /* > 0: start no new probe once the run has lasted this
                               long (bench --duration); the probes in flight finish,
                               the rest count in not_run and the run is DONE */
};

enum es_engine_status {
    ES_ENGINE_DONE = 0,        /* every planned probe has its row */
    ES_ENGINE_INTERRUPTED = 1, /* SIGINT/SIGTERM: rows for the probes that ran */
    ES_ENGINE_FAILED = 2,      /* could not start (io_uring unavailable, TLS set-up)
                                  or the writer failed: message in result.error */
};

struct es_engine_result {
    uint64_t planned;     /* edges x variants x repeat (see only_variant) */
    uint64_t rows;        /* rows handed to the writer (or on_row) */
    uint64_t ok, failed;  /* rows with status ok / any other status */
    uint64_t not_run;     /* planned - rows: probes that never started (interrupted) */
    uint64_t retries;     /* probes restarted after local resource trouble */
    unsigned threads;     /* workers that ran */
    uint64_t concurrency; /* effective -c (after RLIMIT_NOFILE) */
    double elapsed_s;
    char error[512]; /* ES_ENGINE_FAILED: the message (already printed) */
};

/* ---- Feeding: the engine as a stream consumer ------------------------------
 *
 * es_engine_start(p, res) sets up and starts the workers (nothing to do yet)
 * and returns the engine, or NULL when it cannot start (io_uring unavailable,
 * TLS set-up, threads): then res->error holds the message, already printed,
 * and nothing else may be called. p is copied; what it points to (cfg,
 * variants, writer, on_row_arg) is borrowed until es_engine_wait returns.
 * p->edges/nedges are not used. SIGINT/SIGTERM are the engine's from start
 * to wait. One engine per process at a time.
 *
 * es_engine_add_edges(eng, edges, n), from one thread (the producer): the
 * engine COPIES each edge and the strings it points to (host, resolver, ecs,
 * resolver_addr) into its own storage, so the caller may free or reuse them
 * as soon as the call returns; deals them to the workers, which start their
 * probes right away; and frees each edge's copy once the row of its last
 * probe is written. It BLOCKS while more than max(4 x -c, 10000) probes wait
 * unstarted (all workers together) and resumes at half that, so the
 * producer's memory stays bounded (each waiting edge costs about 100 bytes
 * plus its strings). Returns 0, or -1 when the engine will start no more
 * probes (interrupted, the output failed, stop_after_ms passed): the producer
 * then stops producing, and still calls es_engine_wait.
 *
 * es_engine_end_input(eng): no more edges. Workers finish once their last
 * probe has its row. (es_engine_wait calls it when the producer did not.)
 *
 * es_engine_wait(eng, res) joins the workers, prints the summary, checks
 * rows == planned and frees the engine (eng is gone afterwards). planned =
 * sum over the added edges of variants x repeat (repeat for an edge with
 * only_variant: enum's explicit probes, probe-t.h). Returns what es_engine_run
 * returns and fills *res the same way. */
struct es_engine *es_engine_start(const struct es_engine_params *p, struct es_engine_result *res);
int es_engine_add_edges(struct es_engine *eng, const struct es_edge *edges, size_t n);
void es_engine_end_input(struct es_engine *eng);
enum es_engine_status es_engine_wait(struct es_engine *eng, struct es_engine_result *res);

/* Runs the whole scan over p->edges: es_engine_start, es_engine_add_edges of
 * every edge, es_engine_end_input, es_engine_wait (only workers that get
 * probes are created, and none has more slots than probes). Returns when
 * every probe has its row, after an interrupt, or on failure. Prints the status line, the summary
 * and "edgeshake: N rows written, M planned" on stderr (unless cfg->quiet; errors always). Rows go
 * to p->writer, which the caller still owns: it flushes and closes it afterwards (es_writer_close),
 * and handles a write error found there. *res is always filled. Exit status for the caller:
 * es_engine_exit_code(). */
enum es_engine_status es_engine_run(const struct es_engine_params *p, struct es_engine_result *res);

/* SIGINT/SIGTERM for the whole command, from its first line (scan calls it
 * before reading anything): the engine then keeps these handlers, and a
 * signal that came before es_engine_start is respected (nothing starts).
 * First signal: stop starting probes; those in flight get at most 1 s more,
 * then are closed without a row (not_run). Second: stop at once (probes in
 * flight closed, rows handed over, the caller closes its writer and exits
 * 130). Third: the default action. Without this call, the engine installs
 * the same handlers from start to wait and restores the old ones. */
void es_engine_signals_install(void);
/* The first signal received since es_engine_signals_install (or the
 * engine's start), 0 = none: the caller's loops (DNS) stop on it. */
int es_engine_interrupted(void);
/* The same as a flag that the handler sets (for loops that take a
 * `volatile sig_atomic_t *stop`, such as the pipeline's). */
volatile sig_atomic_t *es_engine_stop_flag(void);
/* True after the second signal: stop at once. */
bool es_engine_stop_now(void);

/* ---- the status line (engine_status.c), exposed for the tests ---- */
struct es_status {
    uint64_t done, planned, ok, failed, inflight;
    double rate;        /* probes/s, smoothed */
    bool planned_final; /* the input has ended: planned will not grow (ETA shown) */
};
/* Writes the status line for s into buf (len bytes, NUL-terminated) in at
 * most width - 1 columns (0 = no limit), dropping details until it fits;
 * no escape codes. Returns its length. */
size_t es_status_line(char *buf, size_t len, const struct es_status *s, unsigned width);

/* DONE -> 0, INTERRUPTED -> 130, FAILED -> 1 (DESIGN §3.1). */
int es_engine_exit_code(enum es_engine_status st);

/* Checks that this process can set up an io_uring ring. Returns 0, or -errno
 * with one line in msg naming the cause and the fix (see es_uring_explain).
 * Cheap; the scan command calls it before resolving anything. The test hook
 * ES_TEST_URING_FAIL=EPERM|ENOSYS|ENOMEM|EINVAL[:DISABLED] in the environment
 * makes every ring set-up fail that way, in builds with test hooks only
 * (es_test_env, util.h). */
int es_engine_check_uring(char *msg, size_t len);

/* What the message for an io_uring set-up failure depends on. */
struct es_uring_host {
    int disabled;     /* /proc/sys/kernel/io_uring_disabled; -1 = unreadable */
    int kernel_major; /* uname release, e.g. 6.1; 0 = unknown */
    int kernel_minor;
    int seccomp; /* "Seccomp:" of /proc/self/status: 0 none, 1 strict,
                    2 filter; -1 = unknown */
};

/* The message for an io_uring set-up failure err (positive errno) on host h.
 * ENOSYS on a kernel >= 5.19 (which has io_uring) under a seccomp filter
 * names the seccomp profile (Podman's default profile answers ENOSYS), not a
 * kernel without io_uring. */
void es_uring_explain(int err, const struct es_uring_host *h, char *msg, size_t len);
/* Reads h from this machine (uname, /proc). */
void es_uring_host_read(struct es_uring_host *h);

/* ---- user_data: {op:8 | generation:24 | slot:32} --------------------------
 * Exposed for the tests. A slot's generation changes with every probe it
 * runs; a CQE whose generation is not the slot's current one belongs to an
 * earlier probe and is dropped. */
enum es_op {
    ES_OP_NONE = 0,
    ES_OP_SOCKET,   /* IORING_OP_SOCKET */
    ES_OP_CONNECT,  /* IORING_OP_CONNECT, linked to ... */
    ES_OP_CTIMEOUT, /* ... IORING_OP_LINK_TIMEOUT (--connect-timeout) */
    ES_OP_SEND,
    ES_OP_RECV,
    ES_OP_CANCEL, /* IORING_OP_ASYNC_CANCEL of one of the above */
    ES_OP_CLOSE,
    ES_OP_PAUSE, /* IORING_OP_TIMEOUT: between the two segments of a --hello pq|split
                    ClientHello (tlsprobe.h es_tlsprobe_paused) */
    ES_OP_COUNT
};

#define ES_UD_GEN_MASK 0xffffffu

static inline uint64_t es_ud_make(enum es_op op, uint32_t gen, uint32_t slot)
{
    return (uint64_t)op << 56 | (uint64_t)(gen & ES_UD_GEN_MASK) << 32 | slot;
}
static inline enum es_op es_ud_op(uint64_t ud)
{
    return (enum es_op)(ud >> 56);
}
static inline uint32_t es_ud_gen(uint64_t ud)
{
    return (uint32_t)(ud >> 32) & ES_UD_GEN_MASK;
}
static inline uint32_t es_ud_slot(uint64_t ud)
{
    return (uint32_t)ud;
}
/* True when ud belongs to the probe that slot generation gen is running. */
static inline bool es_ud_current(uint64_t ud, uint32_t gen)
{
    return es_ud_gen(ud) == (gen & ES_UD_GEN_MASK);
}

#endif
