/* engine_worker.c - the worker thread (engine-int.h).
 *
 * One loop per worker: wait once, take in every completion, issue what waited
 * for room in the ring, judge deadlines, do a slice of TLS work, start new
 * probes, hand rows to the writer (engine.h, "The loop", says why in that
 * order). The scheduler glue lives here too: the next probe comes from the
 * worker's deal, through the per-IP gate and the shared --rate bucket (sched.h), and
 * a freed slot gives its IP place to the first probe waiting for it. */
#include "engine-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgeshake/hello.h"
#include "edgeshake/net.h"
#include "edgeshake/util.h"

/* ---- slots and the scheduler ---------------------------------------------- */

static void ready_push(struct worker *w, const struct es_probe_ref *r)
{
    if (w->ready_len >= w->nslots)
        es_die(ES_EXIT_RUNTIME, "internal error: ready queue over its capacity");
    w->ready[(w->ready_head + w->ready_len) % w->nslots] = *r;
    w->ready_len++;
}

void eng_rec_release(struct es_edgerec *rec, uint64_t n)
{
    rec->left -= n;
    if (rec->left == 0)
        free(rec);
}

void eng_slot_free(struct worker *w, struct slot *s)
{
    const struct es_edge *e = slot_edge(s);
    struct es_probe_ref next;
    if (es_ipgate_leave(&w->gate, &e->ip, &next))
        ready_push(w, &next);
    w->blocked = false;
    s->state = SLOT_FREE;
    s->probe.edge = NULL;
    eng_rec_release(s->rec, 1);
    s->rec = NULL;
    s->q_next = w->free_head;
    w->free_head = slot_index(w, s);
    w->busy--;
    stat_sub(&w->st.inflight, 1);
}

void eng_backoff_push(struct worker *w, struct slot *s)
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

static void probe_assign(struct worker *w, struct slot *s, const struct es_probe_ref *r)
{
    const struct es_edge *e = &r->rec->edge;
    s->rec = r->rec;
    s->probe.edge = e;
    s->probe.variant = r->variant;
    s->probe.attempt = r->attempt;
    struct es_endpoint ep = {.ip = e->ip, .port = e->port};
    s->salen = es_endpoint_sockaddr(&ep, &s->sa);
    w->busy++;
    stat_add(&w->st.inflight, 1);
}

/* One probe left the queues of unstarted probes: wakes a feeder that waits
 * for room (es_engine_add_edges). */
static void feed_taken(struct es_engine *eng)
{
    int64_t n = atomic_fetch_sub_explicit(&eng->unstarted, 1, memory_order_relaxed) - 1;
    if (n < eng->bound / 2 && atomic_load_explicit(&eng->feed_waiting, memory_order_relaxed)) {
        pthread_mutex_lock(&eng->mu);
        atomic_store(&eng->feed_waiting, false);
        pthread_cond_broadcast(&eng->cv);
        pthread_mutex_unlock(&eng->mu);
    }
}

/* The next probe to start, holding its IP place, or false. */
static bool next_probe(struct worker *w, struct es_probe_ref *out)
{
    if (es_bucket_wait_ns(&w->eng->bucket, w->now_ns) > 0)
        return false;
    if (w->ready_len > 0) {
        if (!es_bucket_take(&w->eng->bucket, w->now_ns))
            return false; /* another worker took it */
        *out = w->ready[w->ready_head];
        w->ready_head = (w->ready_head + 1) % w->nslots;
        w->ready_len--;
        return true;
    }
    while (!w->blocked) {
        if (!w->have_peek) {
            if (!es_edgeq_next(&w->queue, &w->peek))
                return false;
            w->have_peek = true;
            feed_taken(w->eng);
        }
        const struct es_ip *ip = &w->peek.rec->edge.ip;
        if (es_ipgate_enter(&w->gate, ip)) {
            if (!es_bucket_take(&w->eng->bucket, w->now_ns)) {
                struct es_probe_ref none;
                es_ipgate_leave(&w->gate, ip, &none); /* nobody waits: it entered */
                return false; /* another worker took the token: the peek stays */
            }
            w->have_peek = false;
            *out = w->peek;
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
    if (eng_stopping(w)) {
        /* Probes waiting to restart never got going: they have no row. */
        while (w->bo_head != NIL) {
            struct slot *s = &w->slots[w->bo_head];
            w->bo_head = s->q_next;
            eng_slot_free(w, s);
        }
        w->bo_tail = NIL;
        return;
    }
    if (w->sink_full)
        return; /* its rows cannot be handed over: start nothing (slow output) */
    while (budget > 0 && w->bo_head != NIL && w->now_ns >= w->hold_until_ns) {
        budget--;
        struct slot *s = &w->slots[w->bo_head];
        w->bo_head = s->q_next;
        if (w->bo_head == NIL)
            w->bo_tail = NIL;
        eng_probe_start(w, s);
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
        eng_probe_start(w, s);
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
                eng_issue(w, s, (enum es_op)op);
        }
        eng_settle(w, s);
    }
}

static void expire(struct worker *w)
{
    while (w->dl_head != NIL && w->slots[w->dl_head].deadline_ns <= w->now_ns)
        eng_on_deadline(w, &w->slots[w->dl_head]);
    while (w->wk_head != NIL && w->slots[w->wk_head].wake_ns <= w->now_ns)
        eng_on_wake(w, &w->slots[w->wk_head]);
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
            eng_buf_recycle(w, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        return;
    }
    if (op == ES_OP_CANCEL)
        s->ncancel--;
    else
        s->pending &= (uint16_t)~OPBIT(op);
    switch (op) {
    case ES_OP_SOCKET: eng_on_socket(w, s, cqe->res); break;
    case ES_OP_CONNECT: eng_on_connect(w, s, cqe->res); break;
    case ES_OP_SEND: eng_on_send(w, s, cqe->res); break;
    case ES_OP_RECV: eng_on_recv(w, s, cqe->res, cqe->flags); break;
    case ES_OP_CLOSE: s->fd = -1; break;
    case ES_OP_PAUSE: eng_on_pause(w, s, cqe->res); break;
    case ES_OP_CTIMEOUT:
    case ES_OP_CANCEL:
    case ES_OP_NONE:
    case ES_OP_COUNT: break;
    }
    eng_settle(w, s);
}

/* ---- input ---------------------------------------------------------------- */

/* Moves the edges the feeding thread dealt to this worker into its queue, in
 * the order they were added. */
static void take_inbox(struct worker *w)
{
    if (!atomic_load_explicit(&w->inbox, memory_order_relaxed))
        return;
    struct es_edgerec *r = atomic_exchange_explicit(&w->inbox, NULL, memory_order_acquire);
    struct es_edgerec *rev = NULL; /* the inbox is newest first */
    while (r) {
        struct es_edgerec *next = r->next;
        r->next = rev;
        rev = r;
        r = next;
    }
    while (rev) {
        struct es_edgerec *next = rev->next;
        es_edgeq_push(&w->queue, rev);
        rev = next;
    }
}

/* True once no edge can come any more: the input has ended and the inbox is
 * empty (in that order: the feeder fills the inbox before it ends). */
static bool input_over(const struct worker *w)
{
    return atomic_load_explicit(&w->eng->input_ended, memory_order_acquire) &&
           !atomic_load_explicit(&w->inbox, memory_order_relaxed);
}

static void release_ref(void *arg, const struct es_probe_ref *p)
{
    (void)arg;
    eng_rec_release(p->rec, 1);
}

/* At the end of a stopped run: lets go of every probe that never started
 * (queued, waiting for its IP, ready), freeing their edge records. */
static void release_unstarted(struct worker *w)
{
    take_inbox(w);
    if (w->have_peek) {
        eng_rec_release(w->peek.rec, 1);
        w->have_peek = false;
    }
    while (w->ready_len > 0) {
        eng_rec_release(w->ready[w->ready_head].rec, 1);
        w->ready_head = (w->ready_head + 1) % w->nslots;
        w->ready_len--;
    }
    if (w->gate._tab)
        es_ipgate_clear(&w->gate, release_ref, NULL);
    uint64_t undealt;
    struct es_edgerec *r;
    while ((r = es_edgeq_pop(&w->queue, &undealt)) != NULL) {
        atomic_fetch_sub_explicit(&w->eng->unstarted, (int64_t)undealt, memory_order_relaxed);
        eng_rec_release(r, undealt);
    }
}

/* ---- the worker ------------------------------------------------------------ */

static bool worker_done(const struct worker *w)
{
    if (w->busy > 0)
        return false;
    if (eng_stopping(w))
        return true;
    return !w->have_peek && w->queue.head == NULL && w->ready_len == 0 &&
           es_ipgate_waiting(&w->gate) == 0 && w->bo_head == NIL && input_over(w);
}

static bool has_work_to_start(const struct worker *w)
{
    if (w->sink_full)
        return false;
    return w->bo_head != NIL ||
           (w->free_head != NIL &&
            (w->ready_len > 0 || (!w->blocked && (w->have_peek || w->queue.head != NULL))));
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
    if (w->wk_head != NIL) {
        uint64_t d = w->slots[w->wk_head].wake_ns;
        wait = d <= w->now_ns ? 0 : (d - w->now_ns < wait ? d - w->now_ns : wait);
    }
    if (has_work_to_start(w) && !eng_stopping(w)) {
        uint64_t t = 0;
        if (w->hold_until_ns > w->now_ns)
            t = w->hold_until_ns - w->now_ns;
        else if (w->free_head != NIL)
            t = es_bucket_wait_ns(&w->eng->bucket, w->now_ns);
        if (t < wait)
            wait = t;
    }
    /* More edges may come: look at the inbox again soon while slots are free. */
    if (w->free_head != NIL && !atomic_load_explicit(&w->eng->input_ended, memory_order_relaxed) &&
        wait > FEED_POLL_NS)
        wait = FEED_POLL_NS;
    if (w->sink_full && wait > SINK_POLL_NS)
        wait = SINK_POLL_NS;
    if (w->grace_ns && !w->abandoned) {
        uint64_t t = w->grace_ns > w->now_ns ? w->grace_ns - w->now_ns : 0;
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

/* Closes every probe in flight without a row (a stop whose grace is over). */
static void abandon_all(struct worker *w)
{
    w->abandoned = true;
    for (uint32_t i = 0; i < w->nslots; i++) {
        struct slot *s = &w->slots[i];
        if ((s->state == SLOT_SOCKET || s->state == SLOT_CONNECT || s->state == SLOT_TLS) &&
            !s->row_done)
            eng_probe_abandon(w, s);
    }
}

/* After a stop, the probes in flight get GRACE_NS more to finish with a row
 * (a signal; stop_after_ms lets them finish); after a second signal or a
 * failure of the output or the loop, none. */
static void stop_grace(struct worker *w)
{
    if (w->abandoned || !eng_stopping(w))
        return;
    struct es_engine *eng = w->eng;
    bool now = atomic_load_explicit(&eng_hard_stop, memory_order_relaxed) || eng_failed(eng);
    bool signal = atomic_load_explicit(&eng_stop_sig, memory_order_relaxed) != 0;
    if (!now && !signal)
        return; /* stop_after_ms: the probes in flight finish */
    if (!w->grace_ns)
        w->grace_ns = w->now_ns + GRACE_NS;
    if (now || w->now_ns >= w->grace_ns)
        abandon_all(w);
}

/* The ring failed: no completion will come any more. Ends every slot's
 * probe here (TLS state, socket, IP place), without rows. */
static void drop_all(struct worker *w)
{
    for (uint32_t i = 0; i < w->nslots; i++) {
        struct slot *s = &w->slots[i];
        if (s->state == SLOT_FREE)
            continue;
        if (s->tls_started)
            es_tlsprobe_end(s->tp);
        s->tls_started = false;
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        eng_slot_free(w, s);
    }
}

/* The loop cannot go on: tells the main thread, which reports it. */
static void loop_failed(struct worker *w, int err, const char *what)
{
    struct es_engine *eng = w->eng;
    int expected = 0;
    if (atomic_compare_exchange_strong(&eng->fatal_err, &expected, err))
        snprintf(eng->fatal_msg, sizeof eng->fatal_msg, "%s: %s", what, strerror(err));
}

static void worker_loop(struct worker *w)
{
    clock_tick(w);
    w->last_submit_ns = w->now_ns;
    take_inbox(w);
    fill(w);
    while (!worker_done(w)) {
        int r = eng_ring_wait(w, wait_ns(w));
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            loop_failed(w, -r, "io_uring_enter");
            break;
        }
        clock_tick(w);
        /* Take in every completion that has happened before judging any
         * deadline: a probe whose connect completed in time is not a
         * connect timeout because the worker was busy. */
        unsigned n = reap(w);
        if (w->defer && (n >= DRAIN_HINT || deadline_due(w)))
            drain(w);
        unstall(w);
        expire(w);
        eng_tls_work(w);
        stop_grace(w);
        take_inbox(w);
        fill(w);
        if (w->rows.rows > 0 && (w->sink_full || w->now_ns - w->last_submit_ns >= FLUSH_NS))
            eng_rows_submit(w);
    }
    if (atomic_load(&w->eng->fatal_err))
        drop_all(w);
    eng_rows_submit_last(w);
}

void eng_worker_alloc(struct worker *w)
{
    struct es_engine *eng = w->eng;
    const struct es_config *cfg = eng->cfg;
    w->slots = es_xcalloc(w->nslots, sizeof *w->slots);
    size_t tpsize = (es_tlsprobe_size() + 63) & ~(size_t)63;
    if (tpsize && w->nslots > SIZE_MAX / tpsize)
        es_die(ES_EXIT_RUNTIME, "too many slots");
    w->tp_mem = es_xcalloc(w->nslots, tpsize);
    w->free_head = NIL;
    for (uint32_t i = w->nslots; i-- > 0;) {
        struct slot *s = &w->slots[i];
        s->fd = -1;
        s->tp = (struct es_tlsprobe *)(void *)(w->tp_mem + (size_t)i * tpsize);
        s->dl_prev = s->dl_next = s->st_next = s->tq_prev = s->tq_next = NIL;
        s->wk_prev = s->wk_next = NIL;
        s->q_next = w->free_head;
        w->free_head = i;
    }
    w->dl_head = w->dl_tail = w->bo_head = w->bo_tail = w->st_head = NIL;
    w->wk_head = w->wk_tail = NIL;
    w->tq_head = w->tq_tail = NIL;
    uint64_t waitcap = 16ull * w->nslots;
    if (waitcap < 4096)
        waitcap = 4096;
    if (w->probes_hint && waitcap > w->probes_hint)
        waitcap = w->probes_hint;
    uint32_t per_ip = cfg->per_ip && cfg->per_ip < UINT32_MAX ? (uint32_t)cfg->per_ip : UINT32_MAX;
    es_ipgate_init(&w->gate, per_ip, w->nslots, (size_t)waitcap); /* per_ip 0: no limit */
    w->ready = es_xcalloc(w->nslots, sizeof *w->ready);
    es_edgeq_init(&w->queue, (uint32_t)eng->p.nvariants);
    w->backoff_ms = BACKOFF_MIN_MS;
    uint64_t cto = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : cfg->timeout_ms;
    w->cto.tv_sec = (long long)(cto / 1000);
    w->cto.tv_nsec = (long long)(cto % 1000) * 1000000;
    w->pause_ts.tv_sec = ES_HELLO_PAUSE_MS / 1000;
    w->pause_ts.tv_nsec = (long long)(ES_HELLO_PAUSE_MS % 1000) * 1000000;
    w->timeout_ns = cfg->timeout_ms * 1000000u;
    w->mono0_ns = es_now_ns();
    w->wall0_ms = es_wall_ms();
}

void eng_worker_free(struct worker *w)
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

void *eng_worker_main(void *arg)
{
    struct worker *w = arg;
    struct es_engine *eng = w->eng;
    w->setup_err = eng_ring_setup(w);
    if (w->setup_err == 0 && !eng_bufring_setup(w)) {
        /* No buffer ring: a receive buffer per slot (calloc: no exit() here). */
        w->slot_bufs = calloc(w->nslots, RECV_SIZE);
        if (!w->slot_bufs)
            w->setup_err = -ENOMEM;
        for (uint32_t i = 0; w->slot_bufs && i < w->nslots; i++)
            w->slots[i].buf = w->slot_bufs + (size_t)i * RECV_SIZE;
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
    release_unstarted(w);
    eng_worker_free(w);
    pthread_mutex_lock(&eng->mu); /* wakes the monitor (engine.c) */
    atomic_fetch_add(&eng->nfinished, 1);
    pthread_cond_broadcast(&eng->cv);
    pthread_mutex_unlock(&eng->mu);
    return NULL;
}
