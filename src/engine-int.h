/* engine-int.h - the engine's insides, shared by its files (not a contract:
 * the contract is include/edgeshake/engine.h).
 *
 * The engine is four files, one concern each:
 *
 *   engine_ring.c    the io_uring ring: set-up (flags, buffer ring), SQEs,
 *                    and the messages for io_uring set-up errors;
 *   engine_probe.c   one probe's life in a slot: its operations, its
 *                    deadline, the TLS work queue, its row, closing;
 *   engine_worker.c  the worker thread: the loop (wait, reap, expire, TLS
 *                    work, start), the scheduler glue (dealing, per-IP gate,
 *                    rate), and the worker's memory;
 *   engine.c         the main thread: dealing edges to workers, start-up,
 *                    the status line, signals and the summary.
 *
 * A slot's life:
 *
 *   FREE -> SOCKET -> CONNECT -> TLS -> CLOSING -> FREE
 *             |          |        |       ^
 *             +----------+--------+-------+  (failure, timeout: the row is
 *                                             written on the way to CLOSING)
 *   Local resource trouble: -> CLOSING (no row, `restart`) -> BACKOFF -> SOCKET
 *
 * Invariants:
 *  - A slot is FREE only when none of its operations is in the ring
 *    (pending == 0, ncancel == 0) and none waits for room in the ring
 *    (want == 0); so a CQE can never meet a slot that moved on to another
 *    probe, and the generation check in dispatch() is a second line of defence.
 *  - Every probe writes exactly one row (row_done), except a probe abandoned
 *    at a stop: interrupted before it got going (BACKOFF at stop), or still
 *    in flight when the stop's grace ran out (GRACE_NS; at once on a second
 *    signal or a failed output). Those count in not_run.
 *  - A slot holds its probe's per-IP place from start to FREE (through
 *    BACKOFF too).
 *  - A slot is in the TLS work queue only in state TLS (enter_closing takes
 *    it out); TW_START only while tls_started is false, and then none of its
 *    operations is in the ring.
 *  - A slot is in the wake list (sorted by wake_ns) only in state TLS, while
 *    its TLS probe waits with a limit of its own (es_tlsprobe_wait_until:
 *    TLS 1.3's grace for the server's verdict on our client certificate);
 *    at wake_ns the probe is stepped again (TW_INPUT), which ends the wait.
 *
 * Threads: a struct worker and its slots belong to the worker's thread; the
 * main thread reads only the atomics of struct wstats and struct engine. */
#ifndef EDGESHAKE_ENGINE_INT_H
#define EDGESHAKE_ENGINE_INT_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "edgeshake/engine.h"
#include "edgeshake/sched.h"
#include "edgeshake/tlsprobe.h"
#include "edgeshake/writer.h"

#define RECV_SIZE      16384        /* one receive buffer: a whole TLS record */
#define FLUSH_NS       100000000ull /* hand rows to the writer at least every 100 ms */
#define IDLE_NS        100000000ull /* longest wait: notice a stop within 100 ms */
#define BACKOFF_MIN_MS 5
#define BACKOFF_MAX_MS 1000
#define BGID           1 /* our provided-buffer group */
/* Work per loop iteration (see "the worker loop" below). */
#define TLS_SLICE_NS  1000000ull /* TLS work (SSL_new + ClientHello, a handshake step) */
#define START_BUDGET  64         /* probes started */
#define START_BACKLOG 64         /* connected probes waiting for their ClientHello: start no more */
#define DRAIN_HINT    16         /* CQEs from one wait that suggest more deferred completions */
#define DRAIN_ROUNDS  64         /* io_uring_get_events per drain, at most */
#define FEED_POLL_NS  2000000ull /* while input may come and slots are free: look every 2 ms */
#define SINK_POLL_NS  5000000ull /* while the writer's queue is full: offer the rows every 5 ms */
#define GRACE_NS      1000000000ull /* after a stop, in-flight probes get at most 1 s more */
#define NIL           UINT32_MAX

#define OPBIT(op)   ((uint16_t)(1u << (op)))
#define CANCELLABLE \
    (OPBIT(ES_OP_CONNECT) | OPBIT(ES_OP_SEND) | OPBIT(ES_OP_RECV) | OPBIT(ES_OP_PAUSE))

/* TLS work a slot waits for (slot.tls_work): done in FIFO order, at most
 * TLS_SLICE_NS of it per loop iteration. */
enum {
    TW_START = 1, /* connected: SSL_new and the ClientHello */
    TW_INPUT = 2, /* bytes were pushed into the TLS probe: advance the handshake */
    TW_EOF = 4,   /* then: the peer closed */
    TW_RESET = 8, /* then: the connection was reset */
};

enum slot_state {
    SLOT_FREE = 0,
    SLOT_BACKOFF, /* holds a probe, waits for the worker's back-off to end */
    SLOT_SOCKET,  /* socket requested */
    SLOT_CONNECT, /* connect + linked timeout in the ring */
    SLOT_TLS,     /* handshake: a recv always armed, at most one send */
    SLOT_CLOSING, /* row written (or restart): last bytes, cancels, close */
};

struct slot {
    enum slot_state state;
    uint32_t gen;
    uint16_t pending;   /* OPBIT per operation in the ring */
    uint16_t want;      /* OPBIT per operation waiting for room in the ring */
    uint16_t cancelled; /* OPBIT per operation a cancel was issued for */
    uint8_t ncancel;    /* cancels in the ring */
    bool tls_started;   /* es_tlsprobe_start called, es_tlsprobe_end not yet */
    bool row_done;
    bool abandoned; /* closed without a row at a stop (counted in not_run) */
    bool restart;   /* CLOSING because of local trouble: back off, start again */
    bool peer_gone; /* EOF, reset or deadline: send nothing more */
    bool in_deadlines, in_stalled, in_tlsq, in_wakes;
    uint8_t tls_work; /* TW_* bits: what waits in the TLS work queue */
    int fd;
    struct es_probe probe;
    struct es_edgerec *rec; /* probe.edge lives in it; freed with its last probe */
    uint64_t t0_ns, deadline_ns, connect_ns;
    uint64_t wake_ns;          /* in the wake list: when to step the TLS probe again */
    uint32_t dl_prev, dl_next; /* deadline FIFO */
    uint32_t wk_prev, wk_next; /* wake list */
    uint32_t q_next;           /* free list or back-off FIFO */
    uint32_t st_next;          /* stalled list */
    uint32_t tq_prev, tq_next; /* TLS work queue */
    socklen_t salen;
    struct sockaddr_storage sa;
    struct es_tlsprobe *tp;
    uint8_t *buf; /* receive buffer when there is no buffer ring */
};

/* Counters a worker publishes for the status line; written by the worker,
 * read by the main thread. */
struct wstats {
    _Atomic uint64_t done, ok, failed, inflight, retries, rows;
} __attribute__((aligned(64)));

struct worker {
    struct es_engine *eng;
    unsigned index;
    pthread_t thread;
    bool started;
    int setup_err; /* -errno of the ring set-up, 0 = fine */

    struct io_uring ring;
    bool ring_ok, socket_op;
    struct io_uring_buf_ring *br; /* NULL: per-slot buffers */
    uint8_t *bufs;
    unsigned nbufs;

    struct slot *slots;
    uint32_t nslots;
    uint8_t *tp_mem;
    uint8_t *slot_bufs;
    struct es_tls_ctxset *tls; /* owned by the engine */

    /* Edge records dealt to this worker by es_engine_add_edges, newest first:
     * pushed by the feeding thread, taken all at once by the worker. */
    _Atomic(struct es_edgerec *) inbox;
    struct es_edgeq queue; /* this worker's edges, in start order (sched.h) */
    uint64_t probes_hint;  /* es_engine_run: its share of the plan (sizes pools); 0 = unknown */
    bool have_peek;
    bool blocked; /* the deferred pool is full: deal nothing until a place frees */
    struct es_probe_ref peek;
    struct es_ipgate gate;
    struct es_probe_ref *ready; /* ring of probes holding an IP place, waiting for a slot */
    uint32_t ready_head, ready_len;

    uint32_t free_head, busy;
    uint32_t dl_head, dl_tail;
    uint32_t wk_head, wk_tail; /* wake list, sorted by wake_ns */
    uint32_t bo_head, bo_tail;
    uint32_t st_head;
    uint32_t tq_head, tq_tail; /* TLS work queue */
    uint32_t tq_starts;        /* slots in it waiting for TW_START */
    bool defer;                /* the ring runs completions as deferred task work */
    uint64_t hold_until_ns, backoff_ms;

    uint64_t now_ns, wall0_ms, mono0_ns;
    uint64_t timeout_ns;
    struct __kernel_timespec cto;      /* the connect timeout, linked to every connect */
    struct __kernel_timespec pause_ts; /* ES_HELLO_PAUSE_MS, for ES_OP_PAUSE */

    struct es_rowbuf rows;
    bool sink_full;    /* the writer's queue was full: start nothing until it takes the rows */
    uint64_t grace_ns; /* stopping: in-flight probes are abandoned (no row) at this time */
    bool abandoned;    /* ... and that has been done */
    uint64_t last_submit_ns;
    uint64_t stale; /* CQEs of an earlier generation (should stay 0) */

    struct wstats st;
};

struct es_engine {
    struct es_engine_params p; /* the caller's, copied; what it points to is borrowed */
    const struct es_config *cfg;
    const char *vantage;
    char vantage_buf[256];
    struct worker *workers;
    unsigned nworkers;
    unsigned ndeal; /* edges are dealt by hash % ndeal ... */
    int *route;     /* ... to workers[route[h]]; -1 = no worker (never dealt to) */
    uint64_t concurrency;
    struct es_bucket bucket; /* --rate, shared by the workers (sched.h) */
    bool progress, tty;
    bool test_nodefer, test_nobufring, test_nosocketop;
    uint64_t t0_ns;

    /* Feeding (one thread calls es_engine_add_edges). */
    _Atomic uint64_t planned;  /* probes of every edge added so far */
    uint64_t planned_run;      /* es_engine_run: the whole plan, added or not (a stop) */
    _Atomic int64_t unstarted; /* probes added and not dealt yet, all workers */
    int64_t bound;             /* add_edges blocks while unstarted >= bound */
    _Atomic bool input_ended;  /* es_engine_end_input was called */
    _Atomic bool feed_waiting; /* add_edges sleeps on cv until unstarted < bound / 2 */
    struct es_edgerec **batch_head, **batch_tail; /* per worker, not yet in its inbox */

    pthread_t monitor; /* the status line; waits for every worker to finish */
    bool monitor_started;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned nready; /* workers through set-up */
    int go;          /* 0 wait, 1 run, -1 abort */
    _Atomic unsigned nfinished;
    _Atomic int write_err; /* first writer error (positive errno), stops the scan */
    _Atomic int fatal_err; /* a worker's loop failed (positive errno): stops the scan */
    char fatal_msg[256];   /* set by the worker that set fatal_err first */
    uint64_t stop_at_ns;   /* p.stop_after_ms as a deadline on es_now_ns(); 0 = none */
};

/* The signal that asked for a stop (0 = none), and whether a second one
 * came (stop at once). Lock-free, so the handler may set them. */
extern atomic_int eng_stop_sig;
extern atomic_bool eng_hard_stop;

/* The run is over for this worker's failures too: the writer failed, or
 * the loop itself did (fatal, e.g. io_uring_enter). */
static inline bool eng_failed(const struct es_engine *eng)
{
    return atomic_load_explicit(&eng->write_err, memory_order_relaxed) != 0 ||
           atomic_load_explicit(&eng->fatal_err, memory_order_relaxed) != 0;
}

static inline bool eng_stopping(const struct worker *w)
{
    return atomic_load_explicit(&eng_stop_sig, memory_order_relaxed) != 0 || eng_failed(w->eng) ||
           (w->eng->stop_at_ns && w->now_ns >= w->eng->stop_at_ns);
}

static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void stat_sub(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
                          memory_order_relaxed);
}

static inline uint32_t slot_index(const struct worker *w, const struct slot *s)
{
    return (uint32_t)(s - w->slots);
}

static inline const struct es_edge *slot_edge(const struct slot *s)
{
    return s->probe.edge;
}

/* ---- engine_ring.c ---------------------------------------------------------- */

/* Sets up w's ring on the calling (worker) thread, falling back flag by flag
 * on older kernels. Returns 0 or -errno. */
int eng_ring_setup(struct worker *w);
/* Registers the provided-buffer ring; false = per-slot buffers instead. */
bool eng_bufring_setup(struct worker *w);
/* Gives receive buffer bid back to the kernel. */
void eng_buf_recycle(struct worker *w, unsigned bid);
/* An SQE (need of them are free), or NULL when the ring takes nothing now. */
struct io_uring_sqe *eng_sqe_get(struct worker *w, unsigned need);
/* The message for a ring set-up failure err (positive errno) on this machine. */
void eng_explain_setup_error(int err, char *msg, size_t len);
/* Submits what is queued and waits up to ns (0: not at all) for a completion.
 * Returns what io_uring_enter returned (>= 0, or -ETIME, -EINTR, ...). */
int eng_ring_wait(struct worker *w, uint64_t ns);

/* ---- engine_probe.c --------------------------------------------------------- */

/* Puts operation op of s into the ring, or remembers it for unstall(). */
void eng_issue(struct worker *w, struct slot *s, enum es_op op);
/* Starts (or restarts) the probe held by s: state SOCKET, deadline armed. */
void eng_probe_start(struct worker *w, struct slot *s);
/* The completions of s's operations (dispatch() calls them). */
void eng_on_socket(struct worker *w, struct slot *s, int res);
void eng_on_connect(struct worker *w, struct slot *s, int res);
void eng_on_recv(struct worker *w, struct slot *s, int res, unsigned flags);
void eng_on_send(struct worker *w, struct slot *s, int res);
void eng_on_pause(struct worker *w, struct slot *s, int res);
/* s's --timeout has passed. */
void eng_on_deadline(struct worker *w, struct slot *s);
/* The wake time of s (the head of the wake list) has come. */
void eng_on_wake(struct worker *w, struct slot *s);
/* In CLOSING: close once nothing is in the ring, then free (or back off). */
void eng_settle(struct worker *w, struct slot *s);
/* The TLS work of one loop iteration (TLS_SLICE_NS at most). */
void eng_tls_work(struct worker *w);
/* Offers the worker's rows to the writer without waiting; when its queue is
 * full, keeps them and sets w->sink_full (the worker starts nothing new). */
void eng_rows_submit(struct worker *w);
/* Hands over what is left, waiting for the writer (the worker's end). */
void eng_rows_submit_last(struct worker *w);
/* Closes s's probe without a row (a stop): it counts as not run. */
void eng_probe_abandon(struct worker *w, struct slot *s);

/* ---- engine_worker.c -------------------------------------------------------- */

/* Gives s's per-IP place back (its first waiter becomes ready) and frees s
 * (and its edge record, when that was its last probe). */
void eng_slot_free(struct worker *w, struct slot *s);
/* One probe of rec is over (or will never run): frees rec after its last. */
void eng_rec_release(struct es_edgerec *rec, uint64_t n);
/* Parks s until the worker's back-off ends. */
void eng_backoff_push(struct worker *w, struct slot *s);
/* Allocates w's slots, TLS probe memory, per-IP gate and queues (the main
 * thread, before the worker starts: start-up allocation may exit). */
void eng_worker_alloc(struct worker *w);
/* Frees what eng_worker_alloc and the ring set-up made (the worker's thread
 * does it at its end; engine_free for a worker whose thread never ran). */
void eng_worker_free(struct worker *w);
/* The worker thread: ring set-up, wait for go, the loop, clean-up. It never
 * exits the process: failures reach the main thread (setup_err, fatal_err). */
void *eng_worker_main(void *arg);

#endif
