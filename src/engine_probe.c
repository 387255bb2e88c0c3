/* engine_probe.c - one probe's life in a slot (engine-int.h draws the
 * states and the invariants).
 *
 * Issuing and cancelling a slot's operations, its deadline (a FIFO per
 * worker, sorted because every probe has the same --timeout), the TLS work
 * queue, the completions of socket/connect/send/recv, the one row the probe
 * writes (built by es_row_plan, row.h), and closing: CLOSING waits until none
 * of the slot's operations is in the ring, closes the socket and frees the
 * slot (or parks it for a restart after local resource trouble). */
#include "engine-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "edgeshake/net.h"
#include "edgeshake/row.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"

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
void eng_issue(struct worker *w, struct slot *s, enum es_op op)
{
    uint32_t idx = slot_index(w, s);
    const uint8_t *data = NULL;
    size_t n = 0;
    if (op == ES_OP_SEND && (n = es_tlsprobe_pending(s->tp, &data)) == 0)
        return;
    struct io_uring_sqe *sqe = eng_sqe_get(w, op == ES_OP_CONNECT ? 2 : 1);
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
    case ES_OP_SEND:
        io_uring_prep_send(sqe, s->fd, data, n,
                           MSG_NOSIGNAL | (es_tlsprobe_more(s->tp) ? MSG_MORE : 0));
        break;
    case ES_OP_PAUSE: io_uring_prep_timeout(sqe, &w->pause_ts, 0, 0); break;
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
    case ES_OP_COUNT: es_die(ES_EXIT_RUNTIME, "internal error: eng_issue(%d)", (int)op);
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
        struct io_uring_sqe *sqe = eng_sqe_get(w, 1);
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

/* ---- wakes: the TLS probe's own time limits (es_tlsprobe_wait_until) ------
 *
 * A list sorted by wake_ns. Limits differ per probe (the grace is a few
 * round trips of that probe), so a new one is put in place from the tail,
 * where it nearly always belongs; few probes wait like this (servers that
 * ask for a client certificate). */

static void wk_remove(struct worker *w, struct slot *s)
{
    if (!s->in_wakes)
        return;
    if (s->wk_prev == NIL)
        w->wk_head = s->wk_next;
    else
        w->slots[s->wk_prev].wk_next = s->wk_next;
    if (s->wk_next == NIL)
        w->wk_tail = s->wk_prev;
    else
        w->slots[s->wk_next].wk_prev = s->wk_prev;
    s->in_wakes = false;
}

/* Puts s in the wake list at `until`, or takes it out when until is 0. */
static void wk_set(struct worker *w, struct slot *s, uint64_t until)
{
    if (s->in_wakes && s->wake_ns == until)
        return;
    wk_remove(w, s);
    if (!until)
        return;
    uint32_t i = slot_index(w, s), after = w->wk_tail;
    while (after != NIL && w->slots[after].wake_ns > until)
        after = w->slots[after].wk_prev;
    s->wake_ns = until;
    s->wk_prev = after;
    s->wk_next = after == NIL ? w->wk_head : w->slots[after].wk_next;
    if (after == NIL)
        w->wk_head = i;
    else
        w->slots[after].wk_next = i;
    if (s->wk_next == NIL)
        w->wk_tail = i;
    else
        w->slots[s->wk_next].wk_prev = i;
    s->in_wakes = true;
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

static void rows_handover(struct worker *w, bool wait)
{
    struct es_engine_params const *p = &w->eng->p;
    w->last_submit_ns = w->now_ns;
    w->sink_full = false;
    if (w->rows.rows == 0 || !p->writer)
        return;
    uint64_t n = w->rows.rows;
    int r =
        wait ? es_writer_submit(p->writer, &w->rows) : es_writer_try_submit(p->writer, &w->rows);
    if (r == -EAGAIN) {
        w->sink_full = true; /* the rows wait here; probes in flight go on */
        return;
    }
    if (r < 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&w->eng->write_err, &expected, -r);
        return;
    }
    stat_add(&w->st.rows, n);
}

void eng_rows_submit(struct worker *w)
{
    rows_handover(w, false);
}

void eng_rows_submit_last(struct worker *w)
{
    rows_handover(w, true);
}

/* Whole microseconds as ms: the columns have 3 decimals, and with every
 * time cut down to a whole microsecond (never rounded up) the sum of
 * connect_ms and handshake_ms stays <= total_ms in the file too. */
static double us_to_ms(uint64_t us)
{
    return (double)us / 1e3;
}

/* Writes the one row of the probe in slot s. Connect-stage outcomes pass
 * their status, error; once TLS has started, the TLS probe fills those. */
static void emit_row(struct worker *w, struct slot *s, const char *status, const char *error)
{
    struct es_engine *eng = w->eng;
    const struct es_variant *v = &eng->p.variants[s->probe.variant];
    char ip[ES_IP_TEXT];
    struct es_row row;
    es_row_plan(&row, eng->vantage, slot_edge(s), v, s->probe.attempt, ip);
    row.time_ms = w->wall0_ms + (s->t0_ns - w->mono0_ns) / 1000000u;
    /* One clock: the loop's (w->now_ns), which the TLS probe got too. */
    row.connect_ms = s->connect_ns ? us_to_ms((s->connect_ns - s->t0_ns) / 1000) : -1;
    row.total_ms = us_to_ms((w->now_ns - s->t0_ns) / 1000);
    if (s->tls_started) {
        es_tlsprobe_fill_row(s->tp, &row);
        if (row.handshake_ms >= 0)
            row.handshake_ms = us_to_ms((uint64_t)(row.handshake_ms * 1e3));
    } else {
        row.status = status;
        row.error = error;
        /* Connected, but the deadline came before the ClientHello went out. */
        row.stage = s->state == SLOT_TLS ? es_tok_client_hello : es_tok_connect;
    }
    if (eng->p.on_row)
        eng->p.on_row(eng->p.on_row_arg, w->index, &row);
    if (eng->p.writer) {
        es_row_format(&w->rows, eng->p.format, &row);
        if (w->rows.len >= ES_WRITER_BATCH_BYTES)
            eng_rows_submit(w);
    } else {
        stat_add(&w->st.rows, 1);
    }
    s->row_done = true;
    stat_add(&w->st.done, 1);
    stat_add(row.status == es_tok_ok ? &w->st.ok : &w->st.failed, 1);
}

/* ---- one probe ------------------------------------------------------------ */

/* Enters CLOSING: the row is written (or the probe restarts). Sends what the
 * TLS probe still has to say (its Finished, an alert) unless the peer is gone,
 * cancels the rest, then eng_settle() closes and frees the slot. */
static void enter_closing(struct worker *w, struct slot *s)
{
    tq_remove(w, s);
    wk_remove(w, s);
    s->state = SLOT_CLOSING;
    uint16_t cancel = OPBIT(ES_OP_CONNECT) | OPBIT(ES_OP_RECV);
    if (s->peer_gone || s->restart || !s->tls_started)
        cancel |= OPBIT(ES_OP_SEND);
    else if (!(s->pending & OPBIT(ES_OP_SEND)) && !(s->want & OPBIT(ES_OP_SEND))) {
        const uint8_t *d;
        if (es_tlsprobe_pending(s->tp, &d) > 0)
            eng_issue(w, s, ES_OP_SEND);
    }
    cancel_ops(w, s, cancel);
    eng_settle(w, s);
}

void eng_probe_abandon(struct worker *w, struct slot *s)
{
    dl_remove(w, s);
    s->abandoned = true;
    s->peer_gone = true;
    enter_closing(w, s);
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

void eng_on_socket(struct worker *w, struct slot *s, int res)
{
    if (s->state != SLOT_SOCKET) {
        if (res >= 0)
            s->fd = res; /* timed out meanwhile: eng_settle() closes it */
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
    eng_issue(w, s, ES_OP_CONNECT);
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
    wk_set(w, s, es_tlsprobe_wait_until(s->tp));
    const uint8_t *d;
    if (!((s->pending | s->want) & OPBIT(ES_OP_SEND)) && es_tlsprobe_pending(s->tp, &d) > 0)
        eng_issue(w, s, ES_OP_SEND);
    if (!((s->pending | s->want) & OPBIT(ES_OP_RECV)))
        eng_issue(w, s, ES_OP_RECV);
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
        r = es_tlsprobe_reset(s->tp, w->now_ns);
    else if (r == ES_TLS_WANT_IO && (work & TW_EOF))
        r = es_tlsprobe_eof(s->tp, w->now_ns);
    return r;
}

/* The TLS work of this iteration: FIFO, for TLS_SLICE_NS at most (and at
 * least one item, so the queue always moves). */
void eng_tls_work(struct worker *w)
{
    uint64_t t0 = es_now_ns();
    while (w->tq_head != NIL) {
        struct slot *s = &w->slots[w->tq_head];
        tls_step(w, s, tls_run(w, s));
        eng_settle(w, s);
        if (es_now_ns() - t0 >= TLS_SLICE_NS)
            break;
    }
}

void eng_on_connect(struct worker *w, struct slot *s, int res)
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
    if (err == ECONNRESET || err == ECONNABORTED) {
        /* A refusal is ECONNREFUSED: a reset means the server completed the
         * TCP handshake (accepted) and reset before our connect was reaped.
         * The same outcome as a reset a moment later, when the ClientHello is
         * out: tls_error/connection_reset at stage client_hello. */
        s->connect_ns = w->now_ns;
        s->state = SLOT_TLS;
        s->peer_gone = true;
        finish_connect(w, s, es_tok_tls_error, es_tok_connection_reset);
        return;
    }
    if (err == ECANCELED || err == ETIME || err == ETIMEDOUT)
        finish_connect(w, s, es_tok_timeout, es_tok_connect_timeout); /* the linked timeout fired */
    else if (local_trouble(err))
        restart_later(w, s);
    else
        finish_connect(w, s, es_tok_connect_error, connect_error_token(err));
}

void eng_on_recv(struct worker *w, struct slot *s, int res, unsigned flags)
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
            eng_buf_recycle(w, (unsigned)bid);
        return;
    }
    if (res > 0) {
        enum es_tls_want r = es_tlsprobe_push(s->tp, data, (size_t)res);
        if (bid >= 0)
            eng_buf_recycle(w, (unsigned)bid);
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
        eng_issue(w, s, ES_OP_RECV);
    } else {
        s->peer_gone = true; /* ECONNRESET, EPIPE, ETIMEDOUT, an ICMP error */
        tq_push(w, s, TW_RESET);
    }
}

void eng_on_send(struct worker *w, struct slot *s, int res)
{
    if (s->state != SLOT_TLS && s->state != SLOT_CLOSING)
        return;
    if (res >= 0) {
        es_tlsprobe_sent(s->tp, (size_t)res);
        const uint8_t *d;
        if (s->state == SLOT_CLOSING) {
            if (!s->peer_gone && res > 0 && es_tlsprobe_pending(s->tp, &d) > 0)
                eng_issue(w, s, ES_OP_SEND);
            return;
        }
        /* The first segment of a two-segment ClientHello is out: the rest
         * after a pause (eng_on_pause). */
        if (es_tlsprobe_paused(s->tp) && !((s->pending | s->want) & OPBIT(ES_OP_PAUSE)))
            eng_issue(w, s, ES_OP_PAUSE);
        tls_step(w, s, ES_TLS_WANT_IO);
    } else if (s->state == SLOT_CLOSING) {
        s->peer_gone = true;
    } else if (local_trouble(-res)) {
        stat_add(&w->st.retries, 1);
        eng_issue(w, s, ES_OP_SEND);
    } else {
        s->peer_gone = true;
        tq_push(w, s, TW_RESET);
    }
}

/* The pause between the two segments of a --hello pq|split ClientHello is
 * over (-ETIME) or was cancelled: send the rest. */
void eng_on_pause(struct worker *w, struct slot *s, int res)
{
    (void)res;
    if (s->state != SLOT_TLS || s->peer_gone)
        return;
    es_tlsprobe_resume(s->tp);
    tls_step(w, s, ES_TLS_WANT_IO);
}

/* The probe's deadline (--timeout) has passed. */
void eng_on_deadline(struct worker *w, struct slot *s)
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
        es_tlsprobe_timeout(s->tp, w->now_ns);
        finish_tls(w, s);
        break;
    case SLOT_CLOSING:
        s->peer_gone = true;
        cancel_ops(w, s, CANCELLABLE);
        eng_settle(w, s);
        break;
    case SLOT_FREE:
    case SLOT_BACKOFF: break;
    }
}

void eng_on_wake(struct worker *w, struct slot *s)
{
    wk_remove(w, s);
    if (s->state == SLOT_TLS && s->tls_started)
        tq_push(w, s, TW_INPUT); /* the step ends the wait */
}

/* In CLOSING: once nothing is in the ring, close the socket; once closed,
 * free the slot (or park it for its restart). */
void eng_settle(struct worker *w, struct slot *s)
{
    if (s->state != SLOT_CLOSING || s->pending || s->ncancel || s->want)
        return;
    if (s->tls_started) {
        es_tlsprobe_end(s->tp);
        s->tls_started = false;
    }
    if (s->fd >= 0) {
        eng_issue(w, s, ES_OP_CLOSE);
        return;
    }
    dl_remove(w, s);
    if (s->restart) {
        s->restart = false;
        eng_backoff_push(w, s);
    } else {
        eng_slot_free(w, s);
    }
}

/* Starts (or restarts) the probe held by s. */
void eng_probe_start(struct worker *w, struct slot *s)
{
    s->gen = (s->gen + 1) & ES_UD_GEN_MASK;
    s->state = SLOT_SOCKET;
    s->pending = s->want = s->cancelled = 0;
    s->ncancel = 0;
    s->tls_started = s->row_done = s->restart = s->peer_gone = s->abandoned = false;
    s->tls_work = 0;
    s->fd = -1;
    s->t0_ns = w->now_ns;
    s->connect_ns = 0;
    s->deadline_ns = w->now_ns + w->timeout_ns;
    dl_push(w, s);
    if (w->socket_op) {
        eng_issue(w, s, ES_OP_SOCKET);
    } else {
        int fd = socket(slot_edge(s)->ip.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        eng_on_socket(w, s, fd >= 0 ? fd : -errno);
    }
}
