/* labedge.c - the lab's TLS edges; see include/edgeshake/labedge.h.
 *
 * One listener and one SSL_CTX per `edge` line, built once at start. Every
 * accepted connection is a `struct conn` (a few hundred bytes, plus an SSL
 * once the first byte arrives) driven by the state machine below on the
 * lab's epoll loop. The server SSL runs over memory BIOs: bytes read from the
 * socket go into rbio, what the SSL writes collects in wbio and is sent from
 * there, all at once or, for fault=drip, one byte per second.
 *
 *   accept ─► (fault=close: FIN at once, then close; no state at all)
 *          ├► BLACKHOLE (fault=blackhole: read and discard until EOF / 120 s)
 *          └► HELLO ─ first record complete ─► flaky? RST
 *               (fault=sni_router: a thread of its own makes the first recv and
 *               resets when it holds part of a ClientHello without the SNI; see
 *               "fault=sni_router" below; max_hello=: RST once the record header
 *               says it is longer)
 *                                            ─► delay? DELAY ─ timer ─┐
 *                                            ─► answer ◄──────────────┘
 *   answer: fault=reset RST; garbage/http: raw bytes, FLUSH; else HANDSHAKE
 *   (fault=hugechain is a normal edge whose SSL_CTX carries a chain of
 *   HUGECHAIN_CERTS extra certificates: a Certificate message of ~2.5 MB;
 *   client_cert=required and dh= are SSL_CTX settings too: OpenSSL's server
 *   sends the rejection, in TLS 1.3 after the client's Finished, as a
 *   failed handshake of ours: the alert leaves through FLUSH)
 *   HANDSHAKE ─ done ─► ALPN h2? H2: an nghttp2 server session: SETTINGS, and a
 *                    │       response to every request (h2=broken: close at the
 *                    │       client's SETTINGS instead) ─ client closes ─► FLUSH
 *                    └► OPEN ─ an HTTP/1.1 request: the response, close_notify, FLUSH
 *                            ─ other data or close_notify ─► close_notify, FLUSH
 *   (responses: http_status= (200), Server: edgeshake-lab, Date off by
 *   clock_skew= seconds)
 *             ─ failed ─► FLUSH (the alert)
 *   FLUSH ─ output sent ─► DRAIN (write side shut; read until EOF / 5 s) ─► close
 *
 * Every connection has an idle deadline; EOF or an error from the client
 * closes it in any state. Nothing is logged per connection. */
#include "edgeshake/labedge.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <nghttp2/nghttp2.h>

#include "edgeshake/hello.h"
#include "edgeshake/net.h"
#include "edgeshake/util.h"

enum {
    LISTEN_BACKLOG = 4096,
    ACCEPT_BATCH = 1024,       /* accepts per wake-up, so one flood cannot starve the loop */
    ACCEPT_PAUSE_MS = 100,     /* after EMFILE & co.: stop accepting this long */
    IDLE_MS = 30 * 1000,       /* a connection with no input for this long is closed */
    BLACKHOLE_MS = 120 * 1000, /* a blackholed connection is held this long at most */
    DRAIN_MS = 5 * 1000,       /* after our half-close, wait this long for the client's EOF */
    DRIP_MS = 1000,            /* fault=drip: one byte per this many ms */
    GARBAGE_LEN = 512,
    HUGECHAIN_CERTS = 300, /* fault=hugechain: filler certificates in the chain ... */
    HUGECHAIN_PAD = 8000,  /* ... each with a comment extension this long: ~2.5 MB */
    IO_BUF = 16384 + 512,
};

static const char http_400[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char lab_server[] = "edgeshake-lab";

enum conn_state {
    CONN_BLACKHOLE, /* fault=blackhole: never send */
    CONN_HELLO,     /* collecting the first record of the ClientHello */
    CONN_DELAY,     /* ClientHello complete; the answer waits for the delay timer */
    CONN_HANDSHAKE, /* SSL_do_handshake in progress */
    CONN_H2,        /* ALPN h2: an nghttp2 server session answers requests */
    CONN_OPEN,      /* established: wait for the client to talk or close */
    CONN_FLUSH,     /* send what is queued, then half-close */
    CONN_DRAIN,     /* write side shut: discard input until EOF or DRAIN_MS */
};

/* What a step asks of the caller: keep the connection, close it, or reset it. */
enum step { STEP_KEEP, STEP_CLOSE, STEP_RESET };

struct edge;
struct router;

struct conn {
    struct es_watch watch; /* the socket; arg = this */
    struct es_timer tick;  /* DELAY: the held answer; drip: the next byte */
    struct es_timer idle;  /* idle / blackhole / drain deadline */
    struct conn *prev, *next;
    struct edge *edge;
    SSL *ssl;  /* made at the first byte, for edges that do TLS */
    BIO *wbio; /* owned by ssl; what the SSL wrote, not yet sent */
    uint64_t drip_next_ms;
    enum conn_state state;
    uint32_t events; /* registered epoll events */
    uint8_t hello_hdr[5];
    uint8_t hello_got;    /* bytes of hello_hdr seen */
    uint16_t hello_left;  /* bytes of the first record still to come */
    bool h2;              /* ALPN h2 was selected */
    bool h2_settings;     /* CONN_H2: the client's SETTINGS arrived */
    nghttp2_session *h2s; /* CONN_H2 */
};

struct edge {
    struct es_lab_edges *owner;
    const struct es_lab_edge *cfg;
    SSL_CTX *ctx;
    uint8_t *alpn; /* accepted protocols, wire format, in the edge's order */
    size_t alpn_len;
    struct es_watch listener; /* fd -1 when not bound */
    struct es_timer resume;   /* re-enables accept after EMFILE & co. */
    bool accepting;           /* listener registered on the loop */
    struct router *router;    /* fault=sni_router: the thread that owns the listener */
};

struct es_lab_edges {
    struct es_loop *loop;
    struct edge *edges;
    size_t nedges;
    struct conn *conns; /* every open connection, for es_lab_edges_free */
    uint64_t rng;       /* xorshift64* state, seeded once per process */
    bool warned_fds;
    uint8_t in[IO_BUF];  /* socket reads */
    uint8_t app[IO_BUF]; /* decrypted application data */
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t rng_next(struct es_lab_edges *E)
{
    uint64_t x = E->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    E->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void rng_seed(struct es_lab_edges *E)
{
    uint64_t seed = 0;
    if (RAND_bytes((unsigned char *)&seed, sizeof seed) != 1)
        seed = es_now_ns() ^ ((uint64_t)getpid() << 32);
    ERR_clear_error();
    E->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

static size_t pending_out(const struct conn *c)
{
    return c->wbio ? BIO_ctrl_pending(c->wbio) : 0;
}

static bool is_drip(const struct conn *c)
{
    return c->edge->cfg->fault == ES_FAULT_DRIP;
}

/* Edges whose connections run a real TLS handshake. */
static bool edge_does_tls(const struct es_lab_edge *cfg)
{
    return cfg->fault == ES_FAULT_NONE || cfg->fault == ES_FAULT_DRIP ||
           cfg->fault == ES_FAULT_HUGECHAIN || cfg->fault == ES_FAULT_SNI_ROUTER;
}

/* ---- connection lifetime ---------------------------------------------- */

static void conn_free(struct conn *c, bool reset)
{
    struct es_lab_edges *E = c->edge->owner;
    es_loop_del(E->loop, &c->watch);
    es_timer_cancel(E->loop, &c->tick);
    es_timer_cancel(E->loop, &c->idle);
    if (reset) {
        /* SO_LINGER 0: close sends RST instead of FIN. */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->watch.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->watch.fd);
    SSL_free(c->ssl);
    nghttp2_session_del(c->h2s);
    if (c->prev)
        c->prev->next = c->next;
    else
        E->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* Ends the connection when a step asks for it. Returns true when c is gone. */
static bool conn_settle(struct conn *c, enum step s)
{
    if (s == STEP_KEEP)
        return false;
    conn_free(c, s == STEP_RESET);
    return true;
}

static void conn_deadline(struct conn *c, uint64_t ms)
{
    struct es_loop *loop = c->edge->owner->loop;
    es_timer_set(loop, &c->idle, es_loop_now(loop) + ms);
}

static void conn_set_events(struct conn *c, uint32_t events)
{
    if (c->events == events)
        return;
    if (es_loop_mod(c->edge->owner->loop, &c->watch, events) == 0)
        c->events = events;
}

/* ---- output ------------------------------------------------------------ */

/* Sends up to max bytes from wbio. Returns the bytes sent (0 when the socket
 * is full) or -1 when the peer is gone. */
static ssize_t send_from_wbio(struct conn *c, size_t max)
{
    char *data;
    long avail = BIO_get_mem_data(c->wbio, &data);
    size_t n = (size_t)avail < max ? (size_t)avail : max;
    ssize_t w = send(c->watch.fd, data, n, MSG_NOSIGNAL);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    if (w > 0) /* traffic either way keeps a connection alive (a drip takes minutes) */
        conn_deadline(c, IDLE_MS);
    /* Drop what was sent (mem BIOs read in place; the copy is small). */
    uint8_t *sink = c->edge->owner->app;
    for (size_t left = (size_t)w; left > 0;) {
        size_t chunk = left < IO_BUF ? left : IO_BUF;
        BIO_read(c->wbio, sink, (int)chunk);
        left -= chunk;
    }
    return w;
}

/* fault=drip: one byte now if a second has passed since the last one, and
 * the timer for the next. */
static enum step drip(struct conn *c)
{
    struct es_loop *loop = c->edge->owner->loop;
    if (es_timer_armed(&c->tick) || pending_out(c) == 0)
        return STEP_KEEP;
    uint64_t now = es_loop_now(loop);
    if (now >= c->drip_next_ms) {
        if (send_from_wbio(c, 1) < 0)
            return STEP_CLOSE;
        c->drip_next_ms = now + DRIP_MS;
    }
    if (pending_out(c) > 0)
        es_timer_set(loop, &c->tick, c->drip_next_ms);
    return STEP_KEEP;
}

/* Our side is done: half-close so the client reads EOF after what we sent,
 * and wait for its EOF before closing (closing with unread input would turn
 * the FIN into an RST and could destroy the data in flight). */
static void begin_drain(struct conn *c)
{
    assert(c->state == CONN_FLUSH);
    shutdown(c->watch.fd, SHUT_WR);
    c->state = CONN_DRAIN;
    conn_deadline(c, DRAIN_MS);
}

/* Moves queued output to the socket; in FLUSH, half-closes once it is all out. */
static enum step conn_flush(struct conn *c)
{
    if (is_drip(c)) {
        if (drip(c) != STEP_KEEP)
            return STEP_CLOSE;
    } else if (pending_out(c) > 0) {
        if (send_from_wbio(c, SIZE_MAX) < 0)
            return STEP_CLOSE;
    }
    size_t left = pending_out(c);
    if (left == 0 && c->state == CONN_FLUSH)
        begin_drain(c);
    conn_set_events(c, EPOLLIN | (left > 0 && !is_drip(c) ? EPOLLOUT : 0));
    return STEP_KEEP;
}

/* Bytes that are not TLS (garbage, HTTP): sent straight to the socket. They
 * are the first bytes of a fresh connection, so the socket takes them whole. */
static enum step send_raw(struct conn *c, const void *p, size_t n)
{
    ssize_t w = send(c->watch.fd, p, n, MSG_NOSIGNAL);
    if (w != (ssize_t)n)
        return STEP_CLOSE;
    c->state = CONN_FLUSH;
    return conn_flush(c);
}

/* ---- TLS --------------------------------------------------------------- */

enum tls_io { TLS_DONE, TLS_WANT, TLS_CLOSED, TLS_FAILED };

/* The one mapping of SSL_get_error (STYLE "Errors"). */
static enum tls_io tls_result(SSL *ssl, int rc)
{
    if (rc > 0)
        return TLS_DONE;
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return TLS_WANT;
    case SSL_ERROR_ZERO_RETURN: return TLS_CLOSED;
    default: return TLS_FAILED;
    }
}

static bool conn_attach_ssl(struct conn *c)
{
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    SSL *ssl = SSL_new(c->edge->ctx);
    if (!rbio || !wbio || !ssl) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        ERR_clear_error();
        return false;
    }
    BIO_set_mem_eof_return(rbio, -1); /* empty = "want more", not EOF */
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_accept_state(ssl);
    c->ssl = ssl;
    c->wbio = wbio;
    return true;
}

/* Queues close_notify and moves to FLUSH. */
static void tls_close(struct conn *c)
{
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    ERR_clear_error();
    c->state = CONN_FLUSH;
}

static bool h2_begin(struct conn *c);

static enum step st_handshake(struct conn *c)
{
    assert(c->state == CONN_HANDSHAKE && c->ssl);
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    switch (tls_result(c->ssl, rc)) {
    case TLS_DONE: {
        const unsigned char *proto;
        unsigned len;
        SSL_get0_alpn_selected(c->ssl, &proto, &len);
        c->h2 = len == 2 && memcmp(proto, "h2", 2) == 0;
        if (c->h2 && !h2_begin(c))
            return STEP_CLOSE;
        c->state = c->h2 ? CONN_H2 : CONN_OPEN;
        return STEP_KEEP;
    }
    case TLS_WANT: return STEP_KEEP;
    case TLS_CLOSED:
    case TLS_FAILED: break;
    }
    /* The handshake failed: the alert (if any) is in wbio; send it, then close. */
    ERR_clear_error();
    c->state = CONN_FLUSH;
    return STEP_KEEP;
}

/* ---- HTTP: what every request gets ------------------------------------ */

static unsigned http_status(const struct conn *c)
{
    return c->edge->cfg->http_status ? c->edge->cfg->http_status : 200;
}

/* The Date header (IMF-fixdate), off by the edge's clock_skew=. */
static void http_date(const struct conn *c, char *buf, size_t len)
{
    time_t t = time(NULL) + (time_t)c->edge->cfg->clock_skew_s;
    struct tm tm;
    buf[0] = '\0';
    if (gmtime_r(&t, &tm))
        strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 525: return "SSL Handshake Failed";
    case 526: return "Invalid SSL Certificate";
    default: return "Status";
    }
}

/* ---- HTTP/2 through an nghttp2 server session -------------------------- */

static int h2_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    struct conn *c = arg;
    if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK))
        c->h2_settings = true;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    char status[16], date[40];
    snprintf(status, sizeof status, "%u", http_status(c));
    http_date(c, date, sizeof date);
#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }
    const nghttp2_nv nva[] = {NV(":status", status), NV("server", lab_server), NV("date", date),
                              NV("content-length", "0")};
#undef NV
    return nghttp2_submit_response(s, f->hd.stream_id, nva, ES_ARRAY_LEN(nva), NULL) == 0
               ? 0
               : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static nghttp2_session_callbacks *h2_callbacks(void)
{
    static nghttp2_session_callbacks *cbs; /* the lab is one thread */
    if (!cbs && nghttp2_session_callbacks_new(&cbs) == 0)
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_on_frame);
    return cbs;
}

/* Starts the server session: our SETTINGS (h2=broken: nothing, ever). */
static bool h2_begin(struct conn *c)
{
    nghttp2_session_callbacks *cbs = h2_callbacks();
    if (!cbs || nghttp2_session_server_new(&c->h2s, cbs, c) != 0)
        return false;
    if (!c->edge->cfg->h2_broken &&
        nghttp2_submit_settings(c->h2s, NGHTTP2_FLAG_NONE, NULL, 0) != 0)
        return false;
    return true;
}

/* What the session has to send, into the SSL. */
static bool h2_output(struct conn *c)
{
    const uint8_t *d;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(c->h2s, &d)) > 0) {
        ERR_clear_error();
        if (SSL_write(c->ssl, d, (int)n) <= 0) {
            ERR_clear_error();
            return false;
        }
    }
    return n == 0;
}

static enum step st_h2(struct conn *c)
{
    assert(c->state == CONN_H2 && c->ssl && c->h2s);
    uint8_t *buf = c->edge->owner->app;
    for (;;) {
        ERR_clear_error();
        int rc = SSL_read(c->ssl, buf, IO_BUF);
        switch (tls_result(c->ssl, rc)) {
        case TLS_DONE: break;
        case TLS_WANT: return h2_output(c) ? STEP_KEEP : STEP_CLOSE;
        case TLS_CLOSED: tls_close(c); return STEP_KEEP;
        case TLS_FAILED: ERR_clear_error(); return STEP_CLOSE;
        }
        if (nghttp2_session_mem_recv(c->h2s, buf, (size_t)rc) < 0) {
            c->state = CONN_FLUSH; /* not HTTP/2: close without a word */
            return STEP_KEEP;
        }
        if (c->edge->cfg->h2_broken && c->h2_settings) {
            c->state = CONN_FLUSH; /* EOF instead of SETTINGS */
            return STEP_KEEP;
        }
        if (!h2_output(c))
            return STEP_CLOSE;
        if (!nghttp2_session_want_read(c->h2s) && !nghttp2_session_want_write(c->h2s)) {
            tls_close(c); /* the client said GOAWAY and has its answers */
            return STEP_KEEP;
        }
    }
}

static bool looks_like_http_request(const uint8_t *p, size_t n)
{
    static const char *const methods[] = {"GET ", "HEAD ", "POST ", "PUT ", "OPTIONS "};
    for (size_t i = 0; i < ES_ARRAY_LEN(methods); i++) {
        size_t m = strlen(methods[i]);
        if (n >= m && memcmp(p, methods[i], m) == 0)
            return true;
    }
    return false;
}

static void http1_respond(struct conn *c)
{
    char date[40], resp[256];
    unsigned st = http_status(c);
    http_date(c, date, sizeof date);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %u %s\r\nServer: %s\r\nDate: %s\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n",
                     st, reason_phrase(st), lab_server, date);
    ERR_clear_error();
    if (n > 0 && (size_t)n < sizeof resp)
        SSL_write(c->ssl, resp, n);
    ERR_clear_error();
}

static enum step st_open(struct conn *c)
{
    assert(c->state == CONN_OPEN && c->ssl);
    uint8_t *buf = c->edge->owner->app;
    for (;;) {
        ERR_clear_error();
        int rc = SSL_read(c->ssl, buf, IO_BUF);
        switch (tls_result(c->ssl, rc)) {
        case TLS_DONE: break;
        case TLS_WANT: return STEP_KEEP;
        case TLS_CLOSED: tls_close(c); return STEP_KEEP;
        case TLS_FAILED: ERR_clear_error(); return STEP_CLOSE;
        }
        if (looks_like_http_request(buf, (size_t)rc))
            http1_respond(c);
        tls_close(c);
        return STEP_KEEP;
    }
}

/* Runs the TLS states until one waits for input, then flushes. */
static enum step conn_advance(struct conn *c)
{
    for (;;) {
        enum conn_state before = c->state;
        enum step s = STEP_KEEP;
        switch (c->state) {
        case CONN_HANDSHAKE: s = st_handshake(c); break;
        case CONN_H2: s = st_h2(c); break;
        case CONN_OPEN: s = st_open(c); break;
        case CONN_BLACKHOLE:
        case CONN_HELLO:
        case CONN_DELAY:
        case CONN_FLUSH:
        case CONN_DRAIN: break;
        }
        if (s != STEP_KEEP)
            return s;
        if (c->state == before)
            break;
    }
    return conn_flush(c);
}

/* ---- the answer to the ClientHello ------------------------------------ */

static enum step send_garbage(struct conn *c)
{
    struct es_lab_edges *E = c->edge->owner;
    uint8_t g[GARBAGE_LEN];
    for (size_t i = 0; i < sizeof g; i += 8) {
        uint64_t r = rng_next(E);
        memcpy(g + i, &r, 8);
    }
    /* Never a TLS content type (20..24), so no client can mistake it for a record. */
    if (g[0] >= 0x14 && g[0] <= 0x18)
        g[0] ^= 0x80;
    return send_raw(c, g, sizeof g);
}

/* The ClientHello is in (and any delay over): answer it as the edge's fault says. */
static enum step conn_answer(struct conn *c)
{
    assert(c->state == CONN_HELLO || c->state == CONN_DELAY);
    switch (c->edge->cfg->fault) {
    case ES_FAULT_RESET: return STEP_RESET;
    case ES_FAULT_GARBAGE: return send_garbage(c);
    case ES_FAULT_HTTP: return send_raw(c, http_400, sizeof http_400 - 1);
    case ES_FAULT_NONE:
    case ES_FAULT_DRIP:
    case ES_FAULT_HUGECHAIN:
    case ES_FAULT_SNI_ROUTER:
        if (!c->ssl)
            return STEP_CLOSE;
        c->state = CONN_HANDSHAKE;
        return conn_advance(c);
    case ES_FAULT_REFUSE:
    case ES_FAULT_BLACKHOLE:
    case ES_FAULT_CLOSE: break;
    }
    assert(!"no answer for this fault");
    return STEP_CLOSE;
}

/* Feeds the ClientHello tracker. True once the first record is complete, or
 * at the first byte when it does not start a TLS handshake record. */
static bool hello_feed(struct conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (c->hello_got < sizeof c->hello_hdr) {
            c->hello_hdr[c->hello_got++] = *p++;
            n--;
            if (c->hello_got == 1 && c->hello_hdr[0] != 0x16)
                return true;
            if (c->hello_got == sizeof c->hello_hdr) {
                c->hello_left = (uint16_t)(c->hello_hdr[3] << 8 | c->hello_hdr[4]);
                if (c->hello_left == 0)
                    return true;
            }
            continue;
        }
        size_t take = n < c->hello_left ? n : c->hello_left;
        c->hello_left -= (uint16_t)take;
        p += take;
        n -= take;
        if (c->hello_left == 0)
            return true;
    }
    return false;
}

static enum step st_hello(struct conn *c, const uint8_t *p, size_t n)
{
    assert(c->state == CONN_HELLO);
    struct edge *e = c->edge;
    if (edge_does_tls(e->cfg)) {
        if (!c->ssl && !conn_attach_ssl(c))
            return STEP_CLOSE;
        BIO_write(SSL_get_rbio(c->ssl), p, (int)n);
    }
    bool whole = hello_feed(c, p, n);
    if (e->cfg->max_hello && c->hello_got == sizeof c->hello_hdr &&
        sizeof c->hello_hdr + (size_t)(c->hello_hdr[3] << 8 | c->hello_hdr[4]) > e->cfg->max_hello)
        return STEP_RESET;
    if (!whole)
        return STEP_KEEP;
    if (e->cfg->flaky_pct && rng_next(e->owner) % 100 < e->cfg->flaky_pct)
        return STEP_RESET;
    if (e->cfg->delay_ms) {
        struct es_loop *loop = e->owner->loop;
        c->state = CONN_DELAY;
        es_timer_set(loop, &c->tick, es_loop_now(loop) + e->cfg->delay_ms);
        return STEP_KEEP;
    }
    return conn_answer(c);
}

/* ---- events ------------------------------------------------------------ */

static enum step conn_input(struct conn *c, const uint8_t *p, size_t n)
{
    switch (c->state) {
    case CONN_HELLO: return st_hello(c, p, n);
    case CONN_DELAY:
        if (c->ssl) /* the client spoke again while we wait: keep it for the handshake */
            BIO_write(SSL_get_rbio(c->ssl), p, (int)n);
        return STEP_KEEP;
    case CONN_HANDSHAKE:
    case CONN_H2:
    case CONN_OPEN: BIO_write(SSL_get_rbio(c->ssl), p, (int)n); return conn_advance(c);
    case CONN_BLACKHOLE:
    case CONN_FLUSH:
    case CONN_DRAIN: return STEP_KEEP; /* discarded */
    }
    return STEP_CLOSE;
}

static enum step conn_readable(struct conn *c)
{
    struct es_lab_edges *E = c->edge->owner;
    ssize_t n = recv(c->watch.fd, E->in, sizeof E->in, 0);
    if (n == 0)
        return STEP_CLOSE;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? STEP_KEEP : STEP_CLOSE;
    if (c->state != CONN_BLACKHOLE && c->state != CONN_DRAIN)
        conn_deadline(c, IDLE_MS);
    return conn_input(c, E->in, (size_t)n);
}

static void on_conn_event(struct es_loop *loop, struct es_watch *w, uint32_t events)
{
    (void)loop;
    struct conn *c = w->arg;
    enum step s = STEP_KEEP;
    if (events & EPOLLOUT)
        s = conn_flush(c);
    if (s == STEP_KEEP && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        s = conn_readable(c);
    conn_settle(c, s);
}

static void on_conn_tick(struct es_loop *loop, struct es_timer *t)
{
    (void)loop;
    struct conn *c = t->arg;
    enum step s = c->state == CONN_DELAY ? conn_answer(c) : conn_flush(c);
    conn_settle(c, s);
}

static void on_conn_idle(struct es_loop *loop, struct es_timer *t)
{
    (void)loop;
    conn_free(t->arg, false);
}

static struct conn *conn_new(struct edge *e, int fd)
{
    struct es_lab_edges *E = e->owner;
    if (e->cfg->fault == ES_FAULT_CLOSE) {
        /* The client must read EOF, not a reset. A plain close() with the
         * ClientHello already queued unread would send an RST instead of a
         * FIN; shutting down the write side first puts the FIN on the wire,
         * and a client that has seen the FIN reads EOF even if the RST for
         * its unread ClientHello follows. */
        shutdown(fd, SHUT_WR);
        close(fd);
        return NULL;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->edge = e;
    c->watch = (struct es_watch){.fd = fd, .fn = on_conn_event, .arg = c};
    c->tick = (struct es_timer){.fn = on_conn_tick, .arg = c};
    c->idle = (struct es_timer){.fn = on_conn_idle, .arg = c};
    c->events = EPOLLIN;
    if (es_loop_add(E->loop, &c->watch, c->events) < 0) {
        close(fd);
        free(c);
        return NULL;
    }
    c->next = E->conns;
    if (E->conns)
        E->conns->prev = c;
    E->conns = c;
    bool blackhole = e->cfg->fault == ES_FAULT_BLACKHOLE;
    c->state = blackhole ? CONN_BLACKHOLE : CONN_HELLO;
    conn_deadline(c, blackhole ? BLACKHOLE_MS : IDLE_MS);
    return c;
}

/* ---- fault=sni_router: the first segment, read by a thread of its own ----
 *
 * A naive SNI router reads the ClientHello from the first TCP segment. On
 * loopback a scanner's two segments are kept apart only by its pause
 * (ES_HELLO_PAUSE_MS), and the lab's loop, busy with other handshakes, could
 * come to the socket after both arrived and read them as one. So the
 * listener of a router edge belongs to a thread that does nothing else:
 * accept, one recv per connection as soon as it is readable, and the
 * verdict (reset, or hand the connection and the bytes to the loop through
 * a queue and an eventfd). The thread never touches OpenSSL or the loop. */

struct routed {
    struct routed *next;
    int fd;
    size_t len;
    uint8_t data[];
};

struct router {
    struct edge *edge;
    pthread_t thread;
    int epfd, evfd;
    struct es_watch wake; /* evfd on the lab's loop */
    pthread_mutex_t mu;
    struct routed *head, **tail; /* handed over, not yet taken by the loop */
    atomic_bool stop;
};

static void router_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* The first recv of a connection: the verdict. */
static void router_first(struct router *r, int fd, uint8_t *buf)
{
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
    ssize_t n = recv(fd, buf, IO_BUF, 0);
    struct es_hello_info info;
    if (n <= 0) {
        close(fd);
        return;
    }
    if (es_hello_parse(buf, (size_t)n, &info) == ES_HELLO_PARTIAL && info.name_len == 0) {
        router_reset(fd); /* a ClientHello cut before its name: cannot route it */
        return;
    }
    struct routed *it = malloc(sizeof *it + (size_t)n);
    if (!it) {
        close(fd);
        return;
    }
    it->next = NULL;
    it->fd = fd;
    it->len = (size_t)n;
    memcpy(it->data, buf, (size_t)n);
    pthread_mutex_lock(&r->mu);
    *r->tail = it;
    r->tail = &it->next;
    pthread_mutex_unlock(&r->mu);
    uint64_t one = 1;
    (void)!write(r->evfd, &one, sizeof one);
}

static void *router_main(void *arg)
{
    struct router *r = arg;
    int lfd = r->edge->listener.fd;
    uint8_t *buf = malloc(IO_BUF);
    struct epoll_event ev[64];
    while (buf && !atomic_load(&r->stop)) {
        int n = epoll_wait(r->epfd, ev, (int)ES_ARRAY_LEN(ev), 100);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd != lfd) {
                router_first(r, ev[i].data.fd, buf);
                continue;
            }
            int fd;
            while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = fd};
                if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &cev) < 0)
                    close(fd);
            }
        }
    }
    free(buf);
    return NULL;
}

/* On the loop: connections the router let through become ordinary ones,
 * their first bytes already read. */
static void on_routed(struct es_loop *loop, struct es_watch *w, uint32_t events)
{
    (void)loop;
    (void)events;
    struct router *r = w->arg;
    uint64_t cnt;
    (void)!read(r->evfd, &cnt, sizeof cnt);
    pthread_mutex_lock(&r->mu);
    struct routed *it = r->head;
    r->head = NULL;
    r->tail = &r->head;
    pthread_mutex_unlock(&r->mu);
    while (it) {
        struct routed *next = it->next;
        struct conn *c = conn_new(r->edge, it->fd);
        if (c)
            conn_settle(c, conn_input(c, it->data, it->len));
        free(it);
        it = next;
    }
}

static int router_start(struct edge *e)
{
    struct router *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->edge = e;
    r->tail = &r->head;
    pthread_mutex_init(&r->mu, NULL);
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = e->listener.fd};
    r->wake = (struct es_watch){.fd = r->evfd, .fn = on_routed, .arg = r};
    int rc = 0;
    if (r->epfd < 0 || r->evfd < 0 || epoll_ctl(r->epfd, EPOLL_CTL_ADD, e->listener.fd, &lev) < 0)
        rc = -errno;
    else if ((rc = es_loop_add(e->owner->loop, &r->wake, EPOLLIN)) == 0 &&
             (rc = -pthread_create(&r->thread, NULL, router_main, r)) != 0)
        es_loop_del(e->owner->loop, &r->wake);
    if (rc < 0) {
        if (r->epfd >= 0)
            close(r->epfd);
        if (r->evfd >= 0)
            close(r->evfd);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return rc;
    }
    e->router = r;
    return 0;
}

static void router_stop(struct edge *e)
{
    struct router *r = e->router;
    if (!r)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    es_loop_del(e->owner->loop, &r->wake);
    for (struct routed *it = r->head, *next; it; it = next) {
        next = it->next;
        close(it->fd);
        free(it);
    }
    close(r->epfd); /* connections still waiting for their first byte: closed at exit */
    close(r->evfd);
    pthread_mutex_destroy(&r->mu);
    free(r);
    e->router = NULL;
}

/* ---- listeners --------------------------------------------------------- */

static void pause_accept(struct edge *e)
{
    struct es_lab_edges *E = e->owner;
    if (!E->warned_fds) {
        es_warn("out of file descriptors or memory at accept (%s); pausing accept briefly",
                strerror(errno));
        E->warned_fds = true;
    }
    es_loop_del(E->loop, &e->listener);
    e->accepting = false;
    es_timer_set(E->loop, &e->resume, es_loop_now(E->loop) + ACCEPT_PAUSE_MS);
}

static void on_accept_resume(struct es_loop *loop, struct es_timer *t)
{
    struct edge *e = t->arg;
    if (es_loop_add(loop, &e->listener, EPOLLIN) == 0)
        e->accepting = true;
    else
        es_timer_set(loop, &e->resume, es_loop_now(loop) + ACCEPT_PAUSE_MS);
}

static void on_accept(struct es_loop *loop, struct es_watch *w, uint32_t events)
{
    (void)loop;
    (void)events;
    struct edge *e = w->arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_new(e, fd);
            continue;
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED:
        case EPROTO: continue;
        case EAGAIN: return;
        default: /* EMFILE, ENFILE, ENOBUFS, ENOMEM: back off instead of spinning */
            pause_accept(e);
            return;
        }
    }
}

static int edge_listen(struct edge *e)
{
    const struct es_endpoint *ep = &e->cfg->addr;
    struct sockaddr_storage ss;
    socklen_t sl = es_endpoint_sockaddr(ep, &ss);
    int fd = socket(ep->ip.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ep->ip.family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int rc = 0;
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    e->listener.fd = fd;
    if (e->cfg->fault == ES_FAULT_SNI_ROUTER)
        return router_start(e); /* the listener is the router thread's */
    rc = es_loop_add(e->owner->loop, &e->listener, EPOLLIN);
    if (rc < 0)
        return rc;
    e->accepting = true;
    return 0;
}

/* ---- SSL_CTX ----------------------------------------------------------- */

/* ALPN: the first of the edge's protocols that the client offers (server
 * preference). No overlap: alert 120 when strict, else no ALPN at all. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    const struct edge *e = arg;
    for (size_t s = 0; s < e->alpn_len; s += 1u + e->alpn[s]) {
        const uint8_t *want = e->alpn + s + 1;
        uint8_t wlen = e->alpn[s];
        struct es_cursor cur = {.p = in, .len = inlen};
        uint8_t len;
        const uint8_t *name;
        while (es_cursor_u8(&cur, &len) && es_cursor_bytes(&cur, len, &name)) {
            if (len == wlen && memcmp(name, want, len) == 0) {
                *out = name;
                *outlen = len;
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return e->cfg->alpn_strict ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

/* True when the server_name extension (RFC 6066 §3) names `want`. */
static bool sni_matches(const uint8_t *p, size_t n, const char *want)
{
    struct es_cursor cur = {.p = p, .len = n};
    uint16_t list_len;
    if (!es_cursor_u16(&cur, &list_len) || list_len != es_cursor_left(&cur))
        return false;
    uint8_t type;
    uint16_t len;
    const uint8_t *name;
    while (es_cursor_u8(&cur, &type) && es_cursor_u16(&cur, &len) &&
           es_cursor_bytes(&cur, len, &name)) {
        if (type == 0 && len == strlen(want) && strncasecmp((const char *)name, want, len) == 0)
            return true;
    }
    return false;
}

/* sni=strict: a ClientHello without SNI, or naming another host, gets alert 112. */
static int sni_check(SSL *ssl, int *al, void *arg)
{
    const struct edge *e = arg;
    const unsigned char *ext;
    size_t len;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) &&
        sni_matches(ext, len, e->cfg->cert_name))
        return SSL_CLIENT_HELLO_SUCCESS;
    *al = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
}

/* "h2,http/1.1" -> "\2h2\10http/1.1". False on an empty or too long name. */
static bool alpn_wire(const char *list, uint8_t **out, size_t *outlen)
{
    size_t n = strlen(list);
    uint8_t *w = es_xmalloc(n + 1);
    size_t len = 0;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == 0 || l > 255) {
            free(w);
            return false;
        }
        w[len++] = (uint8_t)l;
        memcpy(w + len, p, l);
        len += l;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = w;
    *outlen = len;
    return true;
}

/* fault=hugechain: HUGECHAIN_CERTS certificates of ~8 KB each (a Netscape
 * comment extension of HUGECHAIN_PAD bytes), signed with the leaf's key and
 * appended to the chain, so the Certificate message is ~2.5 MB: far over
 * any client's cap (OpenSSL's default is 100 KB, the scanner's 256 KB). The
 * SSL_CTX owns them. False when OpenSSL fails. */
static bool add_hugechain(SSL_CTX *ctx, EVP_PKEY *key)
{
    char *pad = es_xmalloc(HUGECHAIN_PAD + 1);
    memset(pad, 'x', HUGECHAIN_PAD);
    pad[HUGECHAIN_PAD] = '\0';
    bool ok = true;
    for (int i = 0; i < HUGECHAIN_CERTS && ok; i++) {
        char cn[64];
        snprintf(cn, sizeof cn, "edgeshake lab hugechain filler %d", i + 1);
        X509 *x = X509_new();
        X509_EXTENSION *ext = NULL;
        ok = x && X509_set_version(x, X509_VERSION_3) &&
             ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
             X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                        (const unsigned char *)cn, -1, -1, 0) &&
             X509_set_issuer_name(x, X509_get_subject_name(x)) && X509_set_pubkey(x, key) &&
             (ext = X509V3_EXT_conf_nid(NULL, NULL, NID_netscape_comment, pad)) != NULL &&
             X509_add_ext(x, ext, -1) && X509_sign(x, key, EVP_sha256()) > 0 &&
             SSL_CTX_add0_chain_cert(ctx, x);
        X509_EXTENSION_free(ext);
        if (!ok)
            X509_free(x);
    }
    free(pad);
    ERR_clear_error();
    return ok;
}

/* min/max protocol from the tls bits, holes (tls=1.0,1.2) excluded by options. */
static void set_versions(SSL_CTX *ctx, unsigned tls)
{
    static const struct {
        unsigned bit;
        int version;
        uint64_t no;
    } v[] = {
        {ES_TLS_1_0, TLS1_VERSION, SSL_OP_NO_TLSv1},
        {ES_TLS_1_1, TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
        {ES_TLS_1_2, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
        {ES_TLS_1_3, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
    };
    int lo = -1, hi = -1;
    for (int i = 0; i < (int)ES_ARRAY_LEN(v); i++) {
        if (tls & v[i].bit) {
            if (lo < 0)
                lo = i;
            hi = i;
        }
    }
    if (lo < 0)
        return;
    SSL_CTX_set_min_proto_version(ctx, v[lo].version);
    SSL_CTX_set_max_proto_version(ctx, v[hi].version);
    for (int i = lo; i <= hi; i++)
        if (!(tls & v[i].bit))
            SSL_CTX_set_options(ctx, v[i].no);
}

/* dh=BITS: the DHE parameters. A 1024-bit prime is below security level 2
 * (the default of Debian's OpenSSL): such an edge runs at level 1 (or 0
 * for TLS 1.0/1.1 edges), as the old servers it stands for do. */
static bool edge_dh(SSL_CTX *ctx, struct es_labcerts *certs, const struct es_lab_edge *cfg)
{
    EVP_PKEY *dh = es_labcerts_dh(certs, cfg->dh_bits);
    if (cfg->dh_bits < 2048 && SSL_CTX_get_security_level(ctx) > 1)
        SSL_CTX_set_security_level(ctx, 1);
    if (!EVP_PKEY_up_ref(dh))
        return false;
    if (SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
        EVP_PKEY_free(dh);
        ERR_clear_error();
        return false;
    }
    return true;
}

/* Builds e->ctx from the edge's options. On error fills err and returns false. */
static bool edge_ctx(struct edge *e, struct es_labcerts *certs, const char *spec_name, char *err,
                     size_t errlen)
{
    const struct es_lab_edge *cfg = e->cfg;
    SSL_CTX *ctx = e->ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "%s:%u: cannot create an SSL_CTX", spec_name, cfg->line);
        return false;
    }
    set_versions(ctx, cfg->tls);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

    /* TLS 1.0/1.1 sign with SHA-1 (and MD5+SHA-1), below OpenSSL 3's default
     * security level 1: such an edge runs at level 0 to work at all. */
    bool legacy = cfg->tls & (ES_TLS_1_0 | ES_TLS_1_1);
    /* dh=: without ciphers=, the DHE suites only (a client that offers them
     * gets DHE, one that does not fails, as with such a server) */
    const char *ciphers = cfg->ciphers   ? cfg->ciphers
                          : cfg->dh_bits ? (legacy ? "DHE:@SECLEVEL=0" : "DHE")
                          : legacy       ? "DEFAULT@SECLEVEL=0"
                                         : NULL;
    const char *bad = NULL, *bad_value = NULL;
    if (ciphers && !SSL_CTX_set_cipher_list(ctx, ciphers))
        bad = "ciphers", bad_value = ciphers;
    else if (cfg->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites))
        bad = "ciphersuites", bad_value = cfg->ciphersuites;
    else if (cfg->groups && !SSL_CTX_set1_groups_list(ctx, cfg->groups))
        bad = "groups", bad_value = cfg->groups;
    ERR_clear_error();
    if (bad) {
        snprintf(err, errlen, "%s:%u: %s=%s: OpenSSL rejects it", spec_name, cfg->line, bad,
                 bad_value);
        return false;
    }
    if (legacy)
        SSL_CTX_set_security_level(ctx, 0);

    struct es_lableaf leaf =
        es_labcerts_leaf_o(certs, cfg->cert_name, cfg->cert_kind, cfg->key, cfg->subject_o);
    if (SSL_CTX_use_certificate(ctx, leaf.cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, leaf.key) != 1 ||
        (leaf.issuer && SSL_CTX_add1_chain_cert(ctx, leaf.issuer) != 1) ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "%s:%u: cannot use the certificate for %s", spec_name, cfg->line,
                 cfg->cert_name);
        return false;
    }
    if (cfg->fault == ES_FAULT_HUGECHAIN && !add_hugechain(ctx, leaf.key)) {
        snprintf(err, errlen, "%s:%u: fault=hugechain: cannot make the filler certificates",
                 spec_name, cfg->line);
        return false;
    }

    if (cfg->alpn) {
        if (!alpn_wire(cfg->alpn, &e->alpn, &e->alpn_len)) {
            snprintf(err, errlen, "%s:%u: alpn=%s: expected a comma-separated list of names",
                     spec_name, cfg->line, cfg->alpn);
            return false;
        }
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, e);
    }
    if (cfg->sni_strict)
        SSL_CTX_set_client_hello_cb(ctx, sni_check, e);
    /* optional: a CertificateRequest, and no verdict for a client without a
     * certificate (this edge sends no session tickets either: a client that
     * waits for the verdict hears nothing) */
    if (cfg->client_cert == ES_CLIENT_CERT_REQUIRED)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else if (cfg->client_cert == ES_CLIENT_CERT_OPTIONAL)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cfg->dh_bits && !edge_dh(ctx, certs, cfg)) {
        snprintf(err, errlen, "%s:%u: dh=%u: OpenSSL rejects the DHE parameters", spec_name,
                 cfg->line, cfg->dh_bits);
        return false;
    }
    return true;
}

/* 10,000 connections need 10,000 descriptors: take the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct es_lab_edges *es_lab_edges_start(struct es_loop *loop, const struct es_labspec *spec,
                                        struct es_labcerts *certs, char *err, size_t errlen)
{
    const char *spec_name = spec->path ? spec->path : "spec";
    struct es_lab_edges *E = es_xcalloc(1, sizeof *E);
    E->loop = loop;
    E->nedges = spec->nedges;
    E->edges = es_xcalloc(spec->nedges, sizeof *E->edges);
    rng_seed(E);
    raise_nofile();
    for (size_t i = 0; i < spec->nedges; i++) {
        struct edge *e = &E->edges[i];
        e->owner = E;
        e->cfg = &spec->edges[i];
        e->listener = (struct es_watch){.fd = -1, .fn = on_accept, .arg = e};
        e->resume = (struct es_timer){.fn = on_accept_resume, .arg = e};
    }
    for (size_t i = 0; i < spec->nedges; i++) {
        struct edge *e = &E->edges[i];
        if (!edge_ctx(e, certs, spec_name, err, errlen))
            goto fail;
        if (e->cfg->fault == ES_FAULT_REFUSE)
            continue;
        int rc = edge_listen(e);
        if (rc < 0) {
            char ep[ES_ENDPOINT_TEXT];
            snprintf(err, errlen, "%s:%u: cannot listen on %s: %s", spec_name, e->cfg->line,
                     es_endpoint_str(&e->cfg->addr, ep, sizeof ep), strerror(-rc));
            goto fail;
        }
    }
    return E;
fail:
    es_lab_edges_free(E);
    return NULL;
}

void es_lab_edges_free(struct es_lab_edges *E)
{
    if (!E)
        return;
    while (E->conns)
        conn_free(E->conns, false);
    for (size_t i = 0; i < E->nedges; i++) {
        struct edge *e = &E->edges[i];
        router_stop(e);
        if (e->accepting)
            es_loop_del(E->loop, &e->listener);
        es_timer_cancel(E->loop, &e->resume);
        if (e->listener.fd >= 0)
            close(e->listener.fd);
        SSL_CTX_free(e->ctx);
        free(e->alpn);
    }
    free(E->edges);
    free(E);
}
