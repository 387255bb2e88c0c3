/* engine.c - see include/edgeshake/engine.h
 *
 * Layout of this file: tokens and the slot; the ring (set-up, SQEs, the
 * buffer ring); one probe's life (start, socket, connect, TLS, rows,
 * closing); the deadline FIFO and the scheduler glue; the worker loop; and
 * the main thread (dealing, start-up, status line, signals, summary).
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
 *    because the scan was interrupted before it got going (BACKOFF at stop).
 *  - A slot holds its probe's per-IP place from start to FREE (through
 *    BACKOFF too).
 *  - A slot is in the TLS work queue only in state TLS (enter_closing takes
 *    it out); TW_START only while tls_started is false, and then none of its
 *    operations is in the ring. */
#include "edgeshake/engine.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "edgeshake/net.h"
#include "edgeshake/sched.h"
#include "edgeshake/tlsprobe.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"

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
#define NIL           UINT32_MAX

#define OPBIT(op)   ((uint16_t)(1u << (op)))
#define CANCELLABLE (OPBIT(ES_OP_CONNECT) | OPBIT(ES_OP_SEND) | OPBIT(ES_OP_RECV))

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
    bool restart;   /* CLOSING because of local trouble: back off, start again */
    bool peer_gone; /* EOF, reset or deadline: send nothing more */
    bool in_deadlines, in_stalled, in_tlsq;
    uint8_t tls_work; /* TW_* bits: what waits in the TLS work queue */
    int fd;
    struct es_probe probe;
    uint64_t t0_ns, deadline_ns, connect_ns;
    uint32_t dl_prev, dl_next; /* deadline FIFO */
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

struct engine;

struct worker {
    struct engine *eng;
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

    const uint32_t *edges; /* this worker's edges */
    size_t nedges;
    uint64_t probes; /* this worker's share of the plan */
    struct es_deal deal;
    bool have_peek;
    bool blocked; /* the deferred pool is full: deal nothing until a place frees */
    struct es_probe_ref peek;
    struct es_ipgate gate;
    struct es_probe_ref *ready; /* ring of probes holding an IP place, waiting for a slot */
    uint32_t ready_head, ready_len;
    struct es_bucket bucket;

    uint32_t free_head, busy;
    uint32_t dl_head, dl_tail;
    uint32_t bo_head, bo_tail;
    uint32_t st_head;
    uint32_t tq_head, tq_tail; /* TLS work queue */
    uint32_t tq_starts;        /* slots in it waiting for TW_START */
    bool defer;                /* the ring runs completions as deferred task work */
    uint64_t hold_until_ns, backoff_ms;

    uint64_t now_ns, wall0_ms, mono0_ns;
    uint64_t timeout_ns;
    struct __kernel_timespec cto; /* the connect timeout, linked to every connect */

    struct es_rowbuf rows;
    uint64_t last_submit_ns;
    uint64_t stale; /* CQEs of an earlier generation (should stay 0) */

    struct wstats st;
};

struct engine {
    const struct es_engine_params *p;
    const struct es_config *cfg;
    const char *vantage;
    char vantage_buf[256];
    struct worker *workers;
    unsigned nworkers;
    uint32_t *order;
    size_t *first;
    uint64_t planned;
    bool progress, tty;
    bool test_nodefer, test_nobufring, test_nosocketop;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned nready; /* workers through set-up */
    int go;          /* 0 wait, 1 run, -1 abort */
    _Atomic unsigned nfinished;
    _Atomic int write_err; /* first writer error (positive errno), stops the scan */
    uint64_t stop_at_ns;   /* p->stop_after_ms as a deadline on es_now_ns(); 0 = none */
};

/* The signal that asked for a stop (0 = none). Lock-free, so the handler may set it. */
static atomic_int g_stop;

static bool stopping(const struct worker *w)
{
    return atomic_load_explicit(&g_stop, memory_order_relaxed) != 0 ||
           atomic_load_explicit(&w->eng->write_err, memory_order_relaxed) != 0 ||
           (w->eng->stop_at_ns && w->now_ns >= w->eng->stop_at_ns);
}

static void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static void stat_sub(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
                          memory_order_relaxed);
}

static uint32_t slot_index(const struct worker *w, const struct slot *s)
{
    return (uint32_t)(s - w->slots);
}

static const struct es_edge *slot_edge(const struct slot *s)
{
    return s->probe.edge;
}

/* ---- io_uring availability ---------------------------------------------- */

/* ES_TEST_URING_FAIL=ERRNO[:DISABLED]: pretend ring set-up fails with ERRNO,
 * and optionally that kernel.io_uring_disabled reads DISABLED. */
static int test_uring_fail(int *disabled)
{
    const char *v = getenv("ES_TEST_URING_FAIL");
    if (!v || !*v)
        return 0;
    static const struct {
        const char *name;
        int err;
    } names[] = {{"EPERM", EPERM}, {"ENOSYS", ENOSYS}, {"ENOMEM", ENOMEM}, {"EINVAL", EINVAL}};
    int err = 0;
    for (size_t i = 0; i < ES_ARRAY_LEN(names); i++) {
        size_t n = strlen(names[i].name);
        if (strncmp(v, names[i].name, n) == 0 && (v[n] == '\0' || v[n] == ':')) {
            err = names[i].err;
            if (v[n] == ':' && disabled) {
                uint64_t d;
                if (es_parse_u64(v + n + 1, 0, 2, &d))
                    *disabled = (int)d;
            }
        }
    }
    return err ? err : EPERM;
}

static int read_io_uring_disabled(void)
{
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    if (!f)
        return -1;
    int v = -1;
    char line[32];
    if (fgets(line, sizeof line, f)) {
        uint64_t d;
        line[strcspn(line, "\n")] = '\0';
        if (es_parse_u64(line, 0, 2, &d))
            v = (int)d;
    }
    fclose(f);
    return v;
}

void es_uring_explain(int err, int disabled, char *msg, size_t len)
{
    static const char allow[] =
        "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile";
    if (disabled == 2 && (err == EPERM || err == EACCES)) {
        snprintf(msg, len,
                 "io_uring is disabled on this machine (kernel.io_uring_disabled=2): enable it "
                 "with `sysctl kernel.io_uring_disabled=0` (as root)");
    } else if (disabled == 1 && (err == EPERM || err == EACCES)) {
        snprintf(msg, len,
                 "io_uring is restricted to the group in kernel.io_uring_group "
                 "(kernel.io_uring_disabled=1): add this user to that group, or run `sysctl "
                 "kernel.io_uring_disabled=0` (as root)");
    } else if (err == EPERM || err == EACCES) {
        snprintf(msg, len,
                 "io_uring is not permitted (io_uring_setup: %s), most likely by a seccomp "
                 "profile (Docker, containerd and Kubernetes block it by default): %s (e.g. "
                 "docker run --security-opt seccomp=PROFILE.json), and check that "
                 "kernel.io_uring_disabled is 0",
                 strerror(err), allow);
    } else if (err == ENOSYS) {
        snprintf(msg, len,
                 "this system has no io_uring (io_uring_setup: %s): edgeshake needs Linux 5.19 "
                 "or newer built with CONFIG_IO_URING; in a container whose seccomp profile "
                 "hides it, %s",
                 strerror(err), allow);
    } else if (err == ENOMEM) {
        snprintf(msg, len,
                 "cannot set up an io_uring ring (io_uring_setup: %s): raise the locked-memory "
                 "limit (ulimit -l unlimited, or LimitMEMLOCK=infinity under systemd) or lower -c",
                 strerror(err));
    } else {
        snprintf(msg, len,
                 "cannot set up an io_uring ring (io_uring_setup: %s): edgeshake needs io_uring "
                 "(Linux 5.19 or newer)",
                 strerror(err));
    }
}

static void explain_setup_error(int err, char *msg, size_t len)
{
    int disabled = read_io_uring_disabled();
    test_uring_fail(&disabled);
    es_uring_explain(err, disabled, msg, len);
}

int es_engine_check_uring(char *msg, size_t len)
{
    int err = test_uring_fail(NULL);
    if (!err) {
        struct io_uring ring;
        int r = io_uring_queue_init(4, &ring, 0);
        if (r == 0) {
            io_uring_queue_exit(&ring);
            return 0;
        }
        err = -r;
    }
    explain_setup_error(err, msg, len);
    return -err;
}

/* ---- the ring ----------------------------------------------------------- */

static unsigned pow2_at_least(uint64_t n, unsigned lo, unsigned hi)
{
    unsigned v = lo;
    while (v < n && v < hi)
        v *= 2;
    return v;
}

/* Sets up the worker's ring on the worker's own thread (SINGLE_ISSUER and
 * DEFER_TASKRUN tie the ring to the thread that creates it), falling back
 * flag by flag on kernels that do not know them. Returns 0 or -errno. */
static int ring_setup(struct worker *w)
{
    int fake = test_uring_fail(NULL);
    if (fake)
        return -fake;
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        0,
    };
    unsigned sq = pow2_at_least(2ull * w->nslots, 64, 4096);
    unsigned cq = pow2_at_least(4ull * w->nslots, 256, 65536);
    int r = -EINVAL;
    for (size_t i = w->eng->test_nodefer ? 1 : 0; i < ES_ARRAY_LEN(flag_sets); i++) {
        struct io_uring_params prm;
        memset(&prm, 0, sizeof prm);
        prm.flags = flag_sets[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        prm.cq_entries = cq;
        r = io_uring_queue_init_params(sq, &w->ring, &prm);
        if (r != -EINVAL)
            break;
    }
    if (r < 0)
        return r;
    w->ring_ok = true;
    w->defer = (w->ring.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&w->ring);
    w->socket_op =
        probe && io_uring_opcode_supported(probe, IORING_OP_SOCKET) && !w->eng->test_nosocketop;
    if (probe)
        io_uring_free_probe(probe);
    return 0;
}

/* Registers a provided-buffer ring: receive buffers are taken only when data
 * arrives and given back as soon as the TLS probe has copied it, so memory
 * grows with data in flight, not with connections. False: the kernel has no
 * buffer rings (per-slot buffers then). */
static bool bufring_setup(struct worker *w)
{
    if (w->eng->test_nobufring)
        return false;
    unsigned n = pow2_at_least(w->nslots, 8, 256);
    size_t bytes = (size_t)n * sizeof(struct io_uring_buf);
    long page = sysconf(_SC_PAGESIZE);
    void *mem = NULL;
    if (posix_memalign(&mem, page > 0 ? (size_t)page : 4096, bytes) != 0)
        es_die(ES_EXIT_RUNTIME, "out of memory allocating the buffer ring");
    memset(mem, 0, bytes);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = n;
    reg.bgid = BGID;
    if (io_uring_register_buf_ring(&w->ring, &reg, 0) != 0) {
        free(mem);
        return false;
    }
    w->br = mem;
    w->nbufs = n;
    w->bufs = es_xcalloc(n, RECV_SIZE); /* calloc: untouched pages, defined for valgrind */
    io_uring_buf_ring_init(w->br);
    for (unsigned i = 0; i < n; i++)
        io_uring_buf_ring_add(w->br, w->bufs + (size_t)i * RECV_SIZE, RECV_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(n), (int)i);
    io_uring_buf_ring_advance(w->br, (int)n);
    return true;
}

static void buf_recycle(struct worker *w, unsigned bid)
{
    io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * RECV_SIZE, RECV_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(w->nbufs), 0);
    io_uring_buf_ring_advance(w->br, 1);
}

/* An SQE, submitting what is queued when the SQ is full. NULL when the ring
 * takes nothing more right now (the caller stalls the operation). */
static struct io_uring_sqe *sqe_get(struct worker *w, unsigned need)
{
    if (io_uring_sq_space_left(&w->ring) < need)
        io_uring_submit(&w->ring);
    if (io_uring_sq_space_left(&w->ring) < need)
        return NULL;
    return io_uring_get_sqe(&w->ring);
}

/* ---- issuing operations --------------------------------------------------- */

static void stall(struct worker *w, struct slot *s, enum es_op op)
{
    s->want |= OPBIT(op);
    stat_add(&w->st.retries, 1);
    if (!s->in_stalled) {
        s->in_stalled = true;
        s->st_next = w->st_head;
        w->st_head = slot_index(w, s);
    }
}

/* Puts operation op of slot s into the ring, or, when the ring has no room,
 * remembers it in s->want for the next iteration. */
static void issue(struct worker *w, struct slot *s, enum es_op op)
{
    uint32_t idx = slot_index(w, s);
    const uint8_t *data = NULL;
    size_t n = 0;
    if (op == ES_OP_SEND && (n = es_tlsprobe_pending(s->tp, &data)) == 0)
        return;
    struct io_uring_sqe *sqe = sqe_get(w, op == ES_OP_CONNECT ? 2 : 1);
    if (!sqe) {
        stall(w, s, op);
        return;
    }
    switch (op) {
    case ES_OP_SOCKET:
        io_uring_prep_socket(sqe, slot_edge(s)->ip.family, SOCK_STREAM | SOCK_CLOEXEC, 0, 0);
        break;
    case ES_OP_CONNECT: {
        io_uring_prep_connect(sqe, s->fd, (struct sockaddr *)&s->sa, s->salen);
        sqe->flags |= IOSQE_IO_LINK;
        io_uring_sqe_set_data64(sqe, es_ud_make(ES_OP_CONNECT, s->gen, idx));
        struct io_uring_sqe *lt = io_uring_get_sqe(&w->ring);
        io_uring_prep_link_timeout(lt, &w->cto, 0);
        io_uring_sqe_set_data64(lt, es_ud_make(ES_OP_CTIMEOUT, s->gen, idx));
        s->pending |= OPBIT(ES_OP_CONNECT) | OPBIT(ES_OP_CTIMEOUT);
        return;
    }
    case ES_OP_SEND: io_uring_prep_send(sqe, s->fd, data, n, MSG_NOSIGNAL); break;
    case ES_OP_RECV:
        if (w->br) {
            io_uring_prep_recv(sqe, s->fd, NULL, RECV_SIZE, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = BGID;
        } else {
            io_uring_prep_recv(sqe, s->fd, s->buf, RECV_SIZE, 0);
        }
        break;
    case ES_OP_CLOSE: io_uring_prep_close(sqe, s->fd); break;
    case ES_OP_NONE:
    case ES_OP_CTIMEOUT:
    case ES_OP_CANCEL:
    case ES_OP_COUNT: es_die(ES_EXIT_RUNTIME, "internal error: issue(%d)", (int)op);
    }
    io_uring_sqe_set_data64(sqe, es_ud_make(op, s->gen, idx));
    s->pending |= OPBIT(op);
}

/* Cancels the operations in mask that are in the ring (and forgets those
 * still waiting for room). Their CQEs still arrive (-ECANCELED, or their
 * result when they won the race). */
static void cancel_ops(struct worker *w, struct slot *s, uint16_t mask)
{
    mask &= CANCELLABLE;
    s->want &= (uint16_t)~mask;
    uint16_t todo = (uint16_t)(s->pending & mask & ~s->cancelled);
    for (int op = ES_OP_NONE; op < ES_OP_COUNT; op++) {
        if (!(todo & OPBIT(op)))
            continue;
        struct io_uring_sqe *sqe = sqe_get(w, 1);
        if (!sqe) {
            /* The ring is jammed: shutdown(2) ends what is pending on the
             * socket just as well (recv sees EOF, send EPIPE). */
            if (s->fd >= 0)
                shutdown(s->fd, SHUT_RDWR);
            stat_add(&w->st.retries, 1);
            s->cancelled |= todo;
            return;
        }
        io_uring_prep_cancel64(sqe, es_ud_make((enum es_op)op, s->gen, slot_index(w, s)), 0);
        io_uring_sqe_set_data64(sqe, es_ud_make(ES_OP_CANCEL, s->gen, slot_index(w, s)));
        s->ncancel++;
        s->cancelled |= OPBIT(op);
    }
}

/* ---- deadlines: a FIFO, sorted because every probe has the same timeout --- */

static void dl_push(struct worker *w, struct slot *s)
{
    uint32_t i = slot_index(w, s);
    s->dl_next = NIL;
    s->dl_prev = w->dl_tail;
    if (w->dl_tail == NIL)
        w->dl_head = i;
    else
        w->slots[w->dl_tail].dl_next = i;
    w->dl_tail = i;
    s->in_deadlines = true;
}

static void dl_remove(struct worker *w, struct slot *s)
{
    if (!s->in_deadlines)
        return;
    if (s->dl_prev == NIL)
        w->dl_head = s->dl_next;
    else
        w->slots[s->dl_prev].dl_next = s->dl_next;
    if (s->dl_next == NIL)
        w->dl_tail = s->dl_prev;
    else
        w->slots[s->dl_next].dl_prev = s->dl_prev;
    s->in_deadlines = false;
}

/* ---- the TLS work queue ---------------------------------------------------
 *
 * Completions are cheap to take in (a connect: note the time; received bytes:
 * copy them into the TLS probe), but the TLS work they call for is not:
 * SSL_new and the ClientHello, or a handshake step with a certificate to parse
 * and signatures to check, 0.1 to 0.5 ms each. Done inline, thousands of
 * connects completing at once (-c 10000) made one loop iteration last
 * seconds, and the completions still waiting in the kernel arrived after
 * their probes' deadlines. So slots queue their TLS work here, in arrival
 * order, and each loop iteration does at most TLS_SLICE_NS of it. */

static void tq_push(struct worker *w, struct slot *s, uint8_t work)
{
    if ((work & TW_START) && !(s->tls_work & TW_START))
        w->tq_starts++;
    s->tls_work |= work;
    if (s->in_tlsq)
        return;
    uint32_t i = slot_index(w, s);
    s->tq_next = NIL;
    s->tq_prev = w->tq_tail;
    if (w->tq_tail == NIL)
        w->tq_head = i;
    else
        w->slots[w->tq_tail].tq_next = i;
    w->tq_tail = i;
    s->in_tlsq = true;
}

/* Takes s out of the queue; returns the work it was waiting for. */
static uint8_t tq_remove(struct worker *w, struct slot *s)
{
    uint8_t work = s->tls_work;
    if (!s->in_tlsq)
        return work;
    if (s->tq_prev == NIL)
        w->tq_head = s->tq_next;
    else
        w->slots[s->tq_prev].tq_next = s->tq_next;
    if (s->tq_next == NIL)
        w->tq_tail = s->tq_prev;
    else
        w->slots[s->tq_next].tq_prev = s->tq_prev;
    if (work & TW_START)
        w->tq_starts--;
    s->tls_work = 0;
    s->in_tlsq = false;
    return work;
}

/* ---- rows -------------------------------------------------------------- */

static void rows_submit(struct worker *w)
{
    struct es_engine_params const *p = w->eng->p;
    w->last_submit_ns = w->now_ns;
    if (w->rows.rows == 0 || !p->writer)
        return;
    uint64_t n = w->rows.rows;
    int r = es_writer_submit(p->writer, &w->rows);
    if (r < 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&w->eng->write_err, &expected, -r);
        return;
    }
    stat_add(&w->st.rows, n);
}

static const char *row_sni(const struct es_edge *e, const struct es_variant *v)
{
    switch (v->sni_mode) {
    case ES_SNI_HOST: return e->host_is_ip ? "none" : e->host;
    case ES_SNI_NONE: return "none";
    case ES_SNI_NAME: return v->sni_name;
    }
    return "none";
}

static double ns_to_ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* Writes the one row of the probe in slot s. Connect-stage outcomes pass
 * their status, error; once TLS has started, the TLS probe fills those. */
static void emit_row(struct worker *w, struct slot *s, const char *status, const char *error)
{
    struct engine *eng = w->eng;
    const struct es_edge *e = slot_edge(s);
    const struct es_variant *v = &eng->p->variants[s->probe.variant];
    char ip[ES_IP_TEXT];
    struct es_row row;
    es_row_init(&row);
    row.time_ms = w->wall0_ms + (s->t0_ns - w->mono0_ns) / 1000000u;
    row.vantage = eng->vantage;
    row.host = e->host;
    row.port = e->port;
    row.ip = es_ip_str(&e->ip, ip, sizeof ip);
    row.family = e->ip.family == AF_INET6 ? 6 : 4;
    row.resolver = e->resolver;
    row.ecs = e->ecs;
    row.sni = row_sni(e, v);
    row.variant = v->name;
    row.tls_offered = v->tls_offered;
    row.alpn_offered = v->alpn_offered;
    row.ciphers_offered = v->ciphers_offered;
    row.groups_offered = v->groups_offered;
    row.attempt = (int)s->probe.attempt;
    row.dns_ms = e->dns_ms >= 0 ? e->dns_ms : -1;
    row.connect_ms = s->connect_ns ? ns_to_ms(s->connect_ns - s->t0_ns) : -1;
    row.total_ms = ns_to_ms(w->now_ns - s->t0_ns);
    if (s->tls_started) {
        es_tlsprobe_fill_row(s->tp, &row);
    } else {
        row.status = status;
        row.error = error;
        /* Connected, but the deadline came before the ClientHello went out. */
        row.stage = s->state == SLOT_TLS ? es_tok_client_hello : es_tok_connect;
    }
    if (eng->p->on_row)
        eng->p->on_row(eng->p->on_row_arg, w->index, &row);
    if (eng->p->writer) {
        es_row_format(&w->rows, eng->p->format, &row);
        if (w->rows.len >= ES_WRITER_BATCH_BYTES)
            rows_submit(w);
    } else {
        stat_add(&w->st.rows, 1);
    }
    s->row_done = true;
    stat_add(&w->st.done, 1);
    stat_add(row.status == es_tok_ok ? &w->st.ok : &w->st.failed, 1);
}

/* ---- one probe ------------------------------------------------------------ */

static void settle(struct worker *w, struct slot *s);

/* Enters CLOSING: the row is written (or the probe restarts). Sends what the
 * TLS probe still has to say (its Finished, an alert) unless the peer is gone,
 * cancels the rest, then settle() closes and frees the slot. */
static void enter_closing(struct worker *w, struct slot *s)
{
    tq_remove(w, s);
    s->state = SLOT_CLOSING;
    uint16_t cancel = OPBIT(ES_OP_CONNECT) | OPBIT(ES_OP_RECV);
    if (s->peer_gone || s->restart || !s->tls_started)
        cancel |= OPBIT(ES_OP_SEND);
    else if (!(s->pending & OPBIT(ES_OP_SEND)) && !(s->want & OPBIT(ES_OP_SEND))) {
        const uint8_t *d;
        if (es_tlsprobe_pending(s->tp, &d) > 0)
            issue(w, s, ES_OP_SEND);
    }
    cancel_ops(w, s, cancel);
    settle(w, s);
}

static void finish_connect(struct worker *w, struct slot *s, const char *status, const char *error)
{
    emit_row(w, s, status, error);
    enter_closing(w, s);
}

static void finish_tls(struct worker *w, struct slot *s)
{
    emit_row(w, s, NULL, NULL);
    enter_closing(w, s);
}

/* Local resource trouble: abandon this attempt without a row and start the
 * probe again after the worker's back-off, which doubles while the trouble
 * lasts. */
static void restart_later(struct worker *w, struct slot *s)
{
    stat_add(&w->st.retries, 1);
    dl_remove(w, s);
    uint64_t until = w->now_ns + w->backoff_ms * 1000000u;
    if (until > w->hold_until_ns)
        w->hold_until_ns = until;
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
    s->restart = true;
    s->peer_gone = true;
    enter_closing(w, s);
}

static bool local_trouble(int err)
{
    switch (err) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case EAGAIN:
    case EADDRNOTAVAIL:
    case EADDRINUSE:
    case EINTR:
    case EBUSY: return true;
    default: return false;
    }
}

static const char *connect_error_token(int err)
{
    switch (err) {
    case ECONNREFUSED: return es_tok_connection_refused;
    case ENETUNREACH:
    case ENETDOWN:
    case EAFNOSUPPORT: /* e.g. IPv6 switched off on this machine */
        return es_tok_network_unreachable;
    case EHOSTUNREACH:
    case EHOSTDOWN: return es_tok_host_unreachable;
    case ECONNRESET:
    case ECONNABORTED: return es_tok_connection_reset;
    default: return es_tok_connect_failed;
    }
}

static void on_socket(struct worker *w, struct slot *s, int res)
{
    if (s->state != SLOT_SOCKET) {
        if (res >= 0)
            s->fd = res; /* timed out meanwhile: settle() closes it */
        return;
    }
    if (res < 0) {
        if (local_trouble(-res))
            restart_later(w, s);
        else
            finish_connect(w, s, es_tok_connect_error, connect_error_token(-res));
        return;
    }
    s->fd = res;
    /* RST on close (no TIME_WAIT, see engine.h); no Nagle delay for the last
     * small flight. Failures only cost politeness or a few ms: ignored. */
    struct linger lg = {1, 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->state = SLOT_CONNECT;
    issue(w, s, ES_OP_CONNECT);
}

/* Asks for what the TLS probe wants next, or ends the probe. */
static void tls_step(struct worker *w, struct slot *s, enum es_tls_want want)
{
    if (want == ES_TLS_DONE) {
        finish_tls(w, s);
        return;
    }
    if (s->peer_gone)
        return; /* its EOF or reset waits in the TLS work queue */
    const uint8_t *d;
    if (!((s->pending | s->want) & OPBIT(ES_OP_SEND)) && es_tlsprobe_pending(s->tp, &d) > 0)
        issue(w, s, ES_OP_SEND);
    if (!((s->pending | s->want) & OPBIT(ES_OP_RECV)))
        issue(w, s, ES_OP_RECV);
}

/* Does the TLS work s waits for (and takes it out of the queue); returns what
 * the TLS probe wants next, for tls_step(). */
static enum es_tls_want tls_run(struct worker *w, struct slot *s)
{
    uint8_t work = tq_remove(w, s);
    if (work & TW_START) {
        s->tls_started = true;
        return es_tlsprobe_start(s->tp, w->tls, &s->probe, w->now_ns);
    }
    enum es_tls_want r = ES_TLS_WANT_IO;
    if (work & TW_INPUT)
        r = es_tlsprobe_step(s->tp, w->now_ns);
    if (r == ES_TLS_WANT_IO && (work & TW_RESET))
        r = es_tlsprobe_reset(s->tp);
    else if (r == ES_TLS_WANT_IO && (work & TW_EOF))
        r = es_tlsprobe_eof(s->tp);
    return r;
}

/* The TLS work of this iteration: FIFO, for TLS_SLICE_NS at most (and at
 * least one item, so the queue always moves). */
static void tls_work(struct worker *w)
{
    uint64_t t0 = es_now_ns();
    while (w->tq_head != NIL) {
        struct slot *s = &w->slots[w->tq_head];
        tls_step(w, s, tls_run(w, s));
        settle(w, s);
        if (es_now_ns() - t0 >= TLS_SLICE_NS)
            break;
    }
}

static void on_connect(struct worker *w, struct slot *s, int res)
{
    if (s->state != SLOT_CONNECT)
        return;
    if (res == 0) {
        s->connect_ns = w->now_ns;
        w->backoff_ms = BACKOFF_MIN_MS;
        s->state = SLOT_TLS;
        tq_push(w, s, TW_START);
        return;
    }
    int err = -res;
    if (err == ECANCELED || err == ETIME || err == ETIMEDOUT)
        finish_connect(w, s, es_tok_timeout, es_tok_connect_timeout); /* the linked timeout fired */
    else if (local_trouble(err))
        restart_later(w, s);
    else
        finish_connect(w, s, es_tok_connect_error, connect_error_token(err));
}

static void on_recv(struct worker *w, struct slot *s, int res, unsigned flags)
{
    const uint8_t *data = NULL;
    int bid = -1;
    if (res > 0) {
        if (w->br) {
            bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
            data = w->bufs + (size_t)bid * RECV_SIZE;
        } else {
            data = s->buf;
        }
    }
    if (s->state != SLOT_TLS) {
        if (bid >= 0)
            buf_recycle(w, (unsigned)bid);
        return;
    }
    if (res > 0) {
        enum es_tls_want r = es_tlsprobe_push(s->tp, data, (size_t)res);
        if (bid >= 0)
            buf_recycle(w, (unsigned)bid);
        if (r == ES_TLS_DONE) {
            finish_tls(w, s);
            return;
        }
        /* The next recv is armed after the step (tls_step), if the handshake
         * still wants one: most flights end it, and a recv armed now would
         * only be cancelled. The kernel keeps what arrives meanwhile. */
        tq_push(w, s, TW_INPUT);
    } else if (res == 0) {
        s->peer_gone = true;
        tq_push(w, s, TW_EOF);
    } else if (local_trouble(-res)) {
        stat_add(&w->st.retries, 1); /* no buffer free right now: ask again */
        issue(w, s, ES_OP_RECV);
    } else {
        s->peer_gone = true; /* ECONNRESET, EPIPE, ETIMEDOUT, an ICMP error */
        tq_push(w, s, TW_RESET);
    }
}

static void on_send(struct worker *w, struct slot *s, int res)
{
    if (s->state != SLOT_TLS && s->state != SLOT_CLOSING)
        return;
    if (res >= 0) {
        es_tlsprobe_sent(s->tp, (size_t)res);
        const uint8_t *d;
        if (s->state == SLOT_CLOSING) {
            if (!s->peer_gone && res > 0 && es_tlsprobe_pending(s->tp, &d) > 0)
                issue(w, s, ES_OP_SEND);
            return;
        }
        tls_step(w, s, ES_TLS_WANT_IO);
    } else if (s->state == SLOT_CLOSING) {
        s->peer_gone = true;
    } else if (local_trouble(-res)) {
        stat_add(&w->st.retries, 1);
        issue(w, s, ES_OP_SEND);
    } else {
        s->peer_gone = true;
        tq_push(w, s, TW_RESET);
    }
}

/* The probe's deadline (--timeout) has passed. */
static void on_deadline(struct worker *w, struct slot *s)
{
    dl_remove(w, s);
    switch (s->state) {
    case SLOT_SOCKET:
    case SLOT_CONNECT:
        s->peer_gone = true;
        finish_connect(w, s, es_tok_timeout, es_tok_connect_timeout);
        break;
    case SLOT_TLS:
        if (!s->tls_started) { /* connected, the ClientHello never went out */
            s->peer_gone = true;
            finish_connect(w, s, es_tok_timeout, es_tok_handshake_timeout);
            break;
        }
        /* What arrived before the deadline counts, even if the worker had
         * not got to it yet. */
        if (s->in_tlsq && tls_run(w, s) == ES_TLS_DONE) {
            finish_tls(w, s);
            break;
        }
        /* The probe is over at its deadline whatever the TLS probe says. */
        s->peer_gone = true;
        es_tlsprobe_timeout(s->tp);
        finish_tls(w, s);
        break;
    case SLOT_CLOSING:
        s->peer_gone = true;
        cancel_ops(w, s, CANCELLABLE);
        settle(w, s);
        break;
    case SLOT_FREE:
    case SLOT_BACKOFF: break;
    }
}

/* ---- slots and the scheduler ---------------------------------------------- */

static void ready_push(struct worker *w, const struct es_probe_ref *r)
{
    if (w->ready_len >= w->nslots)
        es_die(ES_EXIT_RUNTIME, "internal error: ready queue over its capacity");
    w->ready[(w->ready_head + w->ready_len) % w->nslots] = *r;
    w->ready_len++;
}

static void slot_free(struct worker *w, struct slot *s)
{
    const struct es_edge *e = slot_edge(s);
    struct es_probe_ref next;
    if (es_ipgate_leave(&w->gate, &e->ip, &next))
        ready_push(w, &next);
    w->blocked = false;
    s->state = SLOT_FREE;
    s->probe.edge = NULL;
    s->q_next = w->free_head;
    w->free_head = slot_index(w, s);
    w->busy--;
    stat_sub(&w->st.inflight, 1);
}

static void backoff_push(struct worker *w, struct slot *s)
{
    uint32_t i = slot_index(w, s);
    s->state = SLOT_BACKOFF;
    s->q_next = NIL;
    if (w->bo_tail == NIL)
        w->bo_head = i;
    else
        w->slots[w->bo_tail].q_next = i;
    w->bo_tail = i;
}

/* In CLOSING: once nothing is in the ring, close the socket; once closed,
 * free the slot (or park it for its restart). */
static void settle(struct worker *w, struct slot *s)
{
    if (s->state != SLOT_CLOSING || s->pending || s->ncancel || s->want)
        return;
    if (s->tls_started) {
        es_tlsprobe_end(s->tp);
        s->tls_started = false;
    }
    if (s->fd >= 0) {
        issue(w, s, ES_OP_CLOSE);
        return;
    }
    dl_remove(w, s);
    if (s->restart) {
        s->restart = false;
        backoff_push(w, s);
    } else {
        slot_free(w, s);
    }
}

/* Starts (or restarts) the probe held by s. */
static void probe_start(struct worker *w, struct slot *s)
{
    s->gen = (s->gen + 1) & ES_UD_GEN_MASK;
    s->state = SLOT_SOCKET;
    s->pending = s->want = s->cancelled = 0;
    s->ncancel = 0;
    s->tls_started = s->row_done = s->restart = s->peer_gone = false;
    s->tls_work = 0;
    s->fd = -1;
    s->t0_ns = w->now_ns;
    s->connect_ns = 0;
    s->deadline_ns = w->now_ns + w->timeout_ns;
    dl_push(w, s);
    if (w->socket_op) {
        issue(w, s, ES_OP_SOCKET);
    } else {
        int fd = socket(slot_edge(s)->ip.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        on_socket(w, s, fd >= 0 ? fd : -errno);
    }
}

static void probe_assign(struct worker *w, struct slot *s, const struct es_probe_ref *r)
{
    const struct es_edge *e = &w->eng->p->edges[r->edge];
    s->probe.edge = e;
    s->probe.variant = r->variant;
    s->probe.attempt = r->attempt;
    struct es_endpoint ep = {.ip = e->ip, .port = e->port};
    s->salen = es_endpoint_sockaddr(&ep, &s->sa);
    w->busy++;
    stat_add(&w->st.inflight, 1);
}

/* The next probe to start, holding its IP place, or false. */
static bool next_probe(struct worker *w, struct es_probe_ref *out)
{
    if (es_bucket_wait_ns(&w->bucket, w->now_ns) > 0)
        return false;
    if (w->ready_len > 0) {
        *out = w->ready[w->ready_head];
        w->ready_head = (w->ready_head + 1) % w->nslots;
        w->ready_len--;
        es_bucket_take(&w->bucket, w->now_ns);
        return true;
    }
    while (!w->blocked) {
        if (!w->have_peek) {
            if (!es_deal_next(&w->deal, &w->peek))
                return false;
            w->have_peek = true;
        }
        const struct es_ip *ip = &w->eng->p->edges[w->peek.edge].ip;
        if (es_ipgate_enter(&w->gate, ip)) {
            w->have_peek = false;
            *out = w->peek;
            es_bucket_take(&w->bucket, w->now_ns);
            return true;
        }
        if (!es_ipgate_wait(&w->gate, ip, &w->peek)) {
            w->blocked = true; /* the deferred pool is full: wait for a place */
            return false;
        }
        w->have_peek = false;
    }
    return false;
}

/* Starts what may start now: restarts after a back-off first, then new
 * probes; START_BUDGET at most per iteration (each is a socket, two
 * setsockopts and a connect), and no new probe while START_BACKLOG connected
 * ones wait for the CPU to send their ClientHello (they would only wait
 * longer, and time out). */
static void fill(struct worker *w)
{
    unsigned budget = START_BUDGET;
    if (stopping(w)) {
        /* Probes waiting to restart never got going: they have no row. */
        while (w->bo_head != NIL) {
            struct slot *s = &w->slots[w->bo_head];
            w->bo_head = s->q_next;
            slot_free(w, s);
        }
        w->bo_tail = NIL;
        return;
    }
    while (budget > 0 && w->bo_head != NIL && w->now_ns >= w->hold_until_ns) {
        budget--;
        struct slot *s = &w->slots[w->bo_head];
        w->bo_head = s->q_next;
        if (w->bo_head == NIL)
            w->bo_tail = NIL;
        probe_start(w, s);
    }
    while (budget > 0 && w->tq_starts < START_BACKLOG && w->free_head != NIL &&
           w->now_ns >= w->hold_until_ns) {
        budget--;
        struct es_probe_ref r;
        if (!next_probe(w, &r))
            break;
        struct slot *s = &w->slots[w->free_head];
        w->free_head = s->q_next;
        probe_assign(w, s, &r);
        probe_start(w, s);
    }
}

/* Issues what waited for room in the ring, or forgets it when the slot has
 * moved on. */
static void unstall(struct worker *w)
{
    uint32_t i = w->st_head;
    w->st_head = NIL;
    while (i != NIL) {
        struct slot *s = &w->slots[i];
        i = s->st_next;
        s->in_stalled = false;
        uint16_t want = s->want;
        s->want = 0;
        for (int op = ES_OP_NONE; op < ES_OP_COUNT; op++) {
            if (!(want & OPBIT(op)))
                continue;
            bool still = (op == ES_OP_SOCKET && s->state == SLOT_SOCKET) ||
                         (op == ES_OP_CONNECT && s->state == SLOT_CONNECT) ||
                         (op == ES_OP_RECV && s->state == SLOT_TLS) ||
                         (op == ES_OP_SEND &&
                          (s->state == SLOT_TLS || (s->state == SLOT_CLOSING && !s->peer_gone))) ||
                         (op == ES_OP_CLOSE && s->state == SLOT_CLOSING);
            if (still)
                issue(w, s, (enum es_op)op);
        }
        settle(w, s);
    }
}

static void expire(struct worker *w)
{
    while (w->dl_head != NIL && w->slots[w->dl_head].deadline_ns <= w->now_ns)
        on_deadline(w, &w->slots[w->dl_head]);
}

static void dispatch(struct worker *w, const struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    enum es_op op = es_ud_op(ud);
    uint32_t idx = es_ud_slot(ud);
    if (op == ES_OP_NONE || op >= ES_OP_COUNT || idx >= w->nslots) {
        /* A no-op, or liburing's own timeout (user_data all ones). */
        return;
    }
    struct slot *s = &w->slots[idx];
    if (!es_ud_current(ud, s->gen) || s->state == SLOT_FREE) {
        w->stale++;
        if (op == ES_OP_RECV && (cqe->flags & IORING_CQE_F_BUFFER))
            buf_recycle(w, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        return;
    }
    if (op == ES_OP_CANCEL)
        s->ncancel--;
    else
        s->pending &= (uint16_t)~OPBIT(op);
    switch (op) {
    case ES_OP_SOCKET: on_socket(w, s, cqe->res); break;
    case ES_OP_CONNECT: on_connect(w, s, cqe->res); break;
    case ES_OP_SEND: on_send(w, s, cqe->res); break;
    case ES_OP_RECV: on_recv(w, s, cqe->res, cqe->flags); break;
    case ES_OP_CLOSE: s->fd = -1; break;
    case ES_OP_CTIMEOUT:
    case ES_OP_CANCEL:
    case ES_OP_NONE:
    case ES_OP_COUNT: break;
    }
    settle(w, s);
}

/* ---- the worker ------------------------------------------------------------ */

static bool worker_done(const struct worker *w)
{
    if (w->busy > 0)
        return false;
    if (stopping(w))
        return true;
    return !w->have_peek && es_deal_left(&w->deal) == 0 && w->ready_len == 0 &&
           es_ipgate_waiting(&w->gate) == 0 && w->bo_head == NIL;
}

static bool has_work_to_start(const struct worker *w)
{
    return w->bo_head != NIL ||
           (w->free_head != NIL &&
            (w->ready_len > 0 || (!w->blocked && (w->have_peek || es_deal_left(&w->deal) > 0))));
}

/* How long the next wait may last. */
static uint64_t wait_ns(const struct worker *w)
{
    if (w->tq_head != NIL)
        return 0; /* TLS work left over from the last iteration */
    uint64_t wait = IDLE_NS;
    if (w->dl_head != NIL) {
        uint64_t d = w->slots[w->dl_head].deadline_ns;
        wait = d <= w->now_ns ? 0 : (d - w->now_ns < wait ? d - w->now_ns : wait);
    }
    if (has_work_to_start(w) && !stopping(w)) {
        uint64_t t = 0;
        if (w->hold_until_ns > w->now_ns)
            t = w->hold_until_ns - w->now_ns;
        else if (w->free_head != NIL)
            t = es_bucket_wait_ns(&w->bucket, w->now_ns);
        if (t < wait)
            wait = t;
    }
    if (w->rows.rows > 0) {
        uint64_t due = w->last_submit_ns + FLUSH_NS;
        uint64_t t = due > w->now_ns ? due - w->now_ns : 0;
        if (t < wait)
            wait = t;
    }
    return wait;
}

static void clock_tick(struct worker *w)
{
    w->now_ns = es_now_ns();
}

static unsigned reap(struct worker *w)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&w->ring, head, cqe)
    {
        dispatch(w, cqe);
        n++;
    }
    io_uring_cq_advance(&w->ring, n);
    return n;
}

/* With DEFER_TASKRUN, completions wait in the kernel as task work until the
 * ring is entered, and recent kernels (6.13+) run only about 20 of them per
 * io_uring_enter. Takes in all that are waiting now, without sleeping (a
 * wait for many CQEs with a zero timeout would arm a timer and schedule). */
static void drain(struct worker *w)
{
    for (int round = 0; round < DRAIN_ROUNDS; round++) {
        io_uring_get_events(&w->ring);
        if (reap(w) == 0)
            break;
    }
}

static bool deadline_due(const struct worker *w)
{
    return w->dl_head != NIL && w->slots[w->dl_head].deadline_ns <= w->now_ns;
}

static void worker_loop(struct worker *w)
{
    clock_tick(w);
    w->last_submit_ns = w->now_ns;
    fill(w);
    while (!worker_done(w)) {
        uint64_t ns = wait_ns(w);
        struct __kernel_timespec ts = {.tv_sec = (long long)(ns / 1000000000u),
                                       .tv_nsec = (long long)(ns % 1000000000u)};
        struct io_uring_cqe *cqe;
        /* Nothing to wait for: submit and take in what is there, no timer. */
        int r = ns == 0 ? io_uring_submit_and_get_events(&w->ring)
                        : io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            es_die(ES_EXIT_RUNTIME, "io_uring_enter: %s", strerror(-r));
        clock_tick(w);
        /* Take in every completion that has happened before judging any
         * deadline: a probe whose connect completed in time is not a
         * connect timeout because the worker was busy. */
        unsigned n = reap(w);
        if (w->defer && (n >= DRAIN_HINT || deadline_due(w)))
            drain(w);
        unstall(w);
        expire(w);
        tls_work(w);
        fill(w);
        if (w->rows.rows > 0 && w->now_ns - w->last_submit_ns >= FLUSH_NS)
            rows_submit(w);
    }
    rows_submit(w);
}

static void worker_alloc(struct worker *w)
{
    struct engine *eng = w->eng;
    const struct es_config *cfg = eng->cfg;
    w->slots = es_xcalloc(w->nslots, sizeof *w->slots);
    size_t tpsize = (es_tlsprobe_size() + 63) & ~(size_t)63;
    if (tpsize && w->nslots > SIZE_MAX / tpsize)
        es_die(ES_EXIT_RUNTIME, "too many slots");
    w->tp_mem = es_xcalloc(w->nslots, tpsize);
    if (!w->br)
        w->slot_bufs = es_xcalloc(w->nslots, RECV_SIZE);
    w->free_head = NIL;
    for (uint32_t i = w->nslots; i-- > 0;) {
        struct slot *s = &w->slots[i];
        s->fd = -1;
        s->tp = (struct es_tlsprobe *)(void *)(w->tp_mem + (size_t)i * tpsize);
        s->buf = w->slot_bufs ? w->slot_bufs + (size_t)i * RECV_SIZE : NULL;
        s->dl_prev = s->dl_next = s->st_next = s->tq_prev = s->tq_next = NIL;
        s->q_next = w->free_head;
        w->free_head = i;
    }
    w->dl_head = w->dl_tail = w->bo_head = w->bo_tail = w->st_head = NIL;
    w->tq_head = w->tq_tail = NIL;
    uint64_t waitcap = 16ull * w->nslots;
    if (waitcap < 4096)
        waitcap = 4096;
    if (waitcap > w->probes)
        waitcap = w->probes;
    uint32_t per_ip = cfg->per_ip && cfg->per_ip < UINT32_MAX ? (uint32_t)cfg->per_ip : UINT32_MAX;
    es_ipgate_init(&w->gate, per_ip, w->nslots, (size_t)waitcap); /* per_ip 0: no limit */
    w->ready = es_xcalloc(w->nslots, sizeof *w->ready);
    uint64_t stride = eng->p->spread ? eng->nworkers : 1;
    uint64_t offset = eng->p->spread ? w->index : 0;
    es_deal_init(&w->deal, w->edges, w->nedges, (uint32_t)eng->p->nvariants, (uint32_t)cfg->repeat,
                 offset, stride);
    double rate = cfg->rate ? (double)cfg->rate / eng->nworkers : 0;
    es_bucket_init(&w->bucket, rate, rate / 20, es_now_ns());
    w->backoff_ms = BACKOFF_MIN_MS;
    uint64_t cto = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : cfg->timeout_ms;
    w->cto.tv_sec = (long long)(cto / 1000);
    w->cto.tv_nsec = (long long)(cto % 1000) * 1000000;
    w->timeout_ns = cfg->timeout_ms * 1000000u;
    w->mono0_ns = es_now_ns();
    w->wall0_ms = es_wall_ms();
}

static void worker_free(struct worker *w)
{
    if (w->ring_ok) {
        if (w->br)
            io_uring_unregister_buf_ring(&w->ring, BGID);
        io_uring_queue_exit(&w->ring);
    }
    free(w->br);
    free(w->bufs);
    free(w->slots);
    free(w->tp_mem);
    free(w->slot_bufs);
    free(w->ready);
    if (w->gate._tab)
        es_ipgate_free(&w->gate);
    es_rowbuf_free(&w->rows);
    w->br = NULL;
    w->bufs = w->tp_mem = w->slot_bufs = NULL;
    w->slots = NULL;
    w->ready = NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct engine *eng = w->eng;
    w->setup_err = ring_setup(w);
    if (w->setup_err == 0) {
        bufring_setup(w);
        worker_alloc(w);
    }
    pthread_mutex_lock(&eng->mu);
    eng->nready++;
    pthread_cond_broadcast(&eng->cv);
    while (eng->go == 0)
        pthread_cond_wait(&eng->cv, &eng->mu);
    int go = eng->go;
    pthread_mutex_unlock(&eng->mu);
    if (go > 0)
        worker_loop(w);
    worker_free(w);
    atomic_fetch_add(&eng->nfinished, 1);
    return NULL;
}

/* ---- the main thread -------------------------------------------------------- */

static void on_signal(int sig)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&g_stop, &expected, sig)) {
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
    uint64_t per_edge = (uint64_t)p->nvariants * p->cfg->repeat;
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
        int r = pthread_create(&eng->workers[i].thread, NULL, worker_main, &eng->workers[i]);
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
    res->planned = (uint64_t)p->nedges * p->nvariants * cfg->repeat;

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

    atomic_store(&g_stop, 0);
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
    res->elapsed_s = (double)(es_now_ns() - t0) / 1e9;

    if (err) {
        if (thread_err)
            snprintf(msg, sizeof msg, "cannot start %u worker threads: %s", eng.nworkers,
                     strerror(-err));
        else
            explain_setup_error(-err, msg, sizeof msg);
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
    int sig = atomic_load(&g_stop);
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
    if (!cfg->quiet || (st == ES_ENGINE_DONE && res->rows != expect))
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
