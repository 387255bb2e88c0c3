/* test_httpcheck.c - the check after the handshake, without sockets or TLS:
 * the check is pumped against an nghttp2 server session (HTTP/2) or a canned
 * HTTP/1.1 responder in memory. HTTP dates in all three forms, the request
 * bytes as sent, every h2 token, the 16 KB head cap, interim responses,
 * Alt-Svc (header and ALTSVC frame). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "edgeshake/httpcheck.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"

#define NOW 1764000000 /* 2025-11-24T16:00:00Z */

/* ---- dates ----------------------------------------------------------------- */

static const struct {
    const char *text;
    bool ok;
    int64_t when;
} date_cases[] = {
    {"Sun, 06 Nov 1994 08:49:37 GMT", true, 784111777},
    {"Sunday, 06-Nov-94 08:49:37 GMT", true, 784111777},
    {"Sun Nov  6 08:49:37 1994", true, 784111777},
    {"Sun Nov 16 08:49:37 1994", true, 784975777},
    {"Mon, 24 Nov 2025 16:00:00 GMT", true, NOW},
    {"Mon, 24 Nov 2025 16:00:00 GMT  ", true, NOW},
    {"Thu, 29 Feb 2024 00:00:00 GMT", true, 1709164800},
    {"Sunday, 24-Nov-75 16:00:00 GMT", true, 3341836800},   /* 2075: 50 years ahead, not more */
    {"Wednesday, 24-Nov-76 16:00:00 GMT", true, 217699200}, /* 2076 is more: 1976 */
    {"Thu, 01 Jan 1970 00:00:00 GMT", true, 0},
    {"Fri, 30 Feb 2024 00:00:00 GMT", false, 0},
    {"Sun, 06 Nov 1994 08:49:37 UTC", false, 0},
    {"Sun, 06 Nov 1994 24:49:37 GMT", false, 0},
    {"Sun, 6 Nov 1994 08:49:37 GMT", false, 0},
    {"Xyz, 06 Nov 1994 08:49:37 GMT", false, 0},
    {"Sun, 06 Nov 1994 08:49:37 GMTx", false, 0},
    {"Sun, 06 Nov 94 08:49:37 GMT", false, 0},
    {"1994-11-06T08:49:37Z", false, 0},
    {"", false, 0},
    {"Sun, 06 Nov 1994 08:49", false, 0},
};

START_TEST(test_date)
{
    int64_t t = -1;
    const char *s = date_cases[_i].text;
    bool ok = es_http_date_parse(s, strlen(s), NOW, &t);
    ck_assert_msg(ok == date_cases[_i].ok, "%s: parsed %d", s, ok);
    if (ok)
        ck_assert_msg(t == date_cases[_i].when, "%s: %lld != %lld", s, (long long)t,
                      (long long)date_cases[_i].when);
}
END_TEST

START_TEST(test_skew)
{
    ck_assert_int_eq(es_http_clock_skew(NOW + 90, NOW), 90);
    ck_assert_int_eq(es_http_clock_skew(NOW - 3600, NOW), -3600);
    ck_assert(es_http_clock_skew(ES_HTTP_NO_DATE, NOW) == LONG_MIN);
}
END_TEST

/* ---- HTTP/1.1 -------------------------------------------------------------- */

/* Everything the check writes, until it has nothing more. */
static size_t drain(struct es_httpcheck *hc, char *out, size_t cap, size_t chunk)
{
    size_t n = 0, k;
    while (n < cap &&
           (k = es_httpcheck_output(hc, (uint8_t *)out + n, chunk < cap - n ? chunk : cap - n)) > 0)
        n += k;
    return n;
}

START_TEST(test_h1_request)
{
    struct es_httpcheck hc;
    char out[1024];
    ck_assert_int_eq(es_httpcheck_start(&hc, ES_HTTP_H1_GET, "/health?x=1", "shop.test", 8443),
                     ES_HTTP_WANT_IO);
    size_t n = drain(&hc, out, sizeof out - 1, 7); /* in 7-byte pieces */
    out[n] = '\0';
    ck_assert_str_eq(out, "GET /health?x=1 HTTP/1.1\r\nHost: shop.test:8443\r\n"
                          "User-Agent: edgeshake/" ES_VERSION "\r\nAccept: */*\r\n"
                          "Connection: close\r\n\r\n");
    ck_assert_uint_eq(drain(&hc, out, sizeof out, 100), 0);
    es_httpcheck_end(&hc);

    ck_assert_int_eq(es_httpcheck_start(&hc, ES_HTTP_H1_GET, NULL, "::1", 443), ES_HTTP_WANT_IO);
    n = drain(&hc, out, sizeof out - 1, 1000);
    out[n] = '\0';
    ck_assert_ptr_nonnull(strstr(out, "GET / HTTP/1.1\r\nHost: [::1]\r\n"));
    es_httpcheck_end(&hc);
}
END_TEST

static char big_head[ES_HTTP_MAX_HEAD + 2048];

static const char *big_response(void)
{
    if (!big_head[0]) {
        strcpy(big_head, "HTTP/1.1 200 OK\r\nServer: big\r\n");
        size_t n = strlen(big_head);
        while (n + 40 < sizeof big_head) {
            memcpy(big_head + n, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 38);
            n += 38;
        }
        big_head[n] = '\0'; /* never ends: no empty line */
    }
    return big_head;
}

enum end_how { END_DONE, END_EOF, END_TIMEOUT, END_WANT };

static const struct h1_case {
    const char *name;
    const char *response; /* NULL = big_response() */
    enum end_how end;     /* after feeding: what ends it (END_DONE: the check itself) */
    int status;
    const char *server;
    long skew; /* LONG_MIN = none */
    int h3;
} h1_cases[] = {
    {"ok",
     "HTTP/1.1 200 OK\r\nServer: nginx/1.25\r\nDate: Mon, 24 Nov 2025 16:01:30 GMT\r\n"
     "Alt-Svc: h3=\":443\"; ma=86400\r\nContent-Length: 0\r\n\r\nbody",
     END_DONE, 200, "nginx/1.25", 90, 1},
    {"525", "HTTP/1.1 525 \r\nserver: cloudflare\r\n\r\n", END_DONE, 525, "cloudflare", LONG_MIN,
     0},
    {"bare lf", "HTTP/1.0 404 Not Found\nSERVER:  x  \nDATE:Sun, 06 Nov 1994 08:49:37 GMT\n\n",
     END_DONE, 404, "x", 784111777L - NOW, 0},
    {"interim",
     "HTTP/1.1 100 Continue\r\nServer: early\r\n\r\nHTTP/1.1 302 Found\r\n"
     "Server: late\r\n\r\n",
     END_DONE, 302, "late", LONG_MIN, 0},
    {"alt-svc drafts", "HTTP/1.1 200 OK\r\nAlt-Svc: h2=\"alt:443\", h3-29=\":443\"\r\n\r\n",
     END_DONE, 200, "", LONG_MIN, 1},
    {"alt-svc quoted comma", "HTTP/1.1 200 OK\r\nAlt-Svc: h2=\"a,h3=b\"; ma=1, quic=\":1\"\r\n\r\n",
     END_DONE, 200, "", LONG_MIN, 0},
    {"alt-svc clear", "HTTP/1.1 200 OK\r\nAlt-Svc: clear\r\n\r\n", END_DONE, 200, "", LONG_MIN, 0},
    {"alt-svc h3 last, second header",
     "HTTP/1.1 200 OK\r\nAlt-Svc: h2=\":443\"\r\nAlt-Svc: h3=\":443\"\r\n\r\n", END_DONE, 200, "",
     LONG_MIN, 1},
    {"obs-fold and junk lines",
     "HTTP/1.1 200 OK\r\nX: a\r\n  folded: no\r\nnocolon\r\n"
     "Server: s\r\n\r\n",
     END_DONE, 200, "s", LONG_MIN, 0},
    {"bad date", "HTTP/1.1 200 OK\r\nDate: yesterday\r\n\r\n", END_DONE, 200, "", LONG_MIN, 0},
    {"not http", "\x15\x03\x03\x00\x02\x02\x28", END_DONE, 0, "", LONG_MIN, -1},
    {"http/2 text", "HTTP/2 200\r\n\r\n", END_DONE, 0, "", LONG_MIN, -1},
    {"eof in status", "HTTP/1.1 20", END_EOF, 0, "", LONG_MIN, -1},
    {"eof in head", "HTTP/1.1 503 Busy\r\nServer: s\r\nDate: Mon, 24 Nov 2025 15:59:00 GMT\r\n",
     END_EOF, 503, "s", -60, 0},
    {"timeout", "", END_TIMEOUT, 0, "", LONG_MIN, -1},
    {"head over 16 KB", NULL, END_DONE, 200, "big", LONG_MIN, 0},
    {"silent after status", "HTTP/1.1 200 OK\r\n", END_WANT, 200, "", LONG_MIN, 0},
};

static void check_h1(const struct h1_case *c, size_t chunk)
{
    struct es_httpcheck hc;
    char req[512];
    es_httpcheck_start(&hc, ES_HTTP_H1_GET, "/", "shop.test", 443);
    ck_assert_uint_gt(drain(&hc, req, sizeof req, 512), 0);
    const char *resp = c->response ? c->response : big_response();
    size_t len = strlen(resp);
    if (!c->response)
        ck_assert_uint_gt(len, ES_HTTP_MAX_HEAD);
    enum es_http_want w = ES_HTTP_WANT_IO;
    for (size_t off = 0; off < len && w == ES_HTTP_WANT_IO; off += chunk)
        w = es_httpcheck_input(&hc, (const uint8_t *)resp + off,
                               len - off < chunk ? len - off : chunk);
    switch (c->end) {
    case END_DONE: ck_assert_msg(w == ES_HTTP_DONE, "%s: not decided", c->name); break;
    case END_WANT: ck_assert_msg(w == ES_HTTP_WANT_IO, "%s: decided early", c->name); break;
    case END_EOF:
        ck_assert(w == ES_HTTP_WANT_IO);
        ck_assert(es_httpcheck_eof(&hc) == ES_HTTP_DONE);
        break;
    case END_TIMEOUT:
        ck_assert(w == ES_HTTP_WANT_IO);
        ck_assert(es_httpcheck_timeout(&hc) == ES_HTTP_DONE);
        break;
    }
    /* Decided: more input changes nothing. */
    if (w == ES_HTTP_DONE)
        ck_assert(es_httpcheck_input(&hc, (const uint8_t *)"HTTP/1.1 500 X\r\n\r\n", 18) ==
                  ES_HTTP_DONE);
    struct es_http_result r;
    es_httpcheck_result(&hc, NOW, &r);
    ck_assert_ptr_null(r.h2);
    ck_assert_msg(r.status == c->status, "%s/%zu: status %d", c->name, chunk, r.status);
    ck_assert_msg(strcmp(r.server, c->server) == 0, "%s: server '%s'", c->name, r.server);
    ck_assert_msg(es_http_clock_skew(r.date_s, NOW) == c->skew, "%s: skew %ld", c->name,
                  es_http_clock_skew(r.date_s, NOW));
    ck_assert_msg(r.h3 == c->h3, "%s: h3 %d", c->name, r.h3);
    es_httpcheck_end(&hc);
}

START_TEST(test_h1_whole)
{
    check_h1(&h1_cases[_i], 1 << 20);
}
END_TEST

START_TEST(test_h1_bytewise)
{
    check_h1(&h1_cases[_i], 1);
}
END_TEST

/* ---- HTTP/2 against an nghttp2 server session ------------------------------- */

struct server {
    nghttp2_session *s;
    int status;           /* the response's :status; 0 = never answer */
    const char *date;     /* Date header, NULL = none */
    bool altsvc_frame;    /* announce h3 in an ALTSVC frame instead of the header */
    bool rst;             /* reset the stream instead of answering */
    uint32_t goaway_code; /* >0: GOAWAY with this code instead of answering */
    char path[64], authority[64], method[8];
    bool got_goaway;
};

static int srv_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                         const uint8_t *value, size_t vl, uint8_t flags, void *arg)
{
    (void)s;
    (void)f;
    (void)flags;
    struct server *sv = arg;
    char *dst = NULL;
    size_t cap = 0;
    if (nl == 5 && memcmp(name, ":path", 5) == 0)
        dst = sv->path, cap = sizeof sv->path;
    else if (nl == 10 && memcmp(name, ":authority", 10) == 0)
        dst = sv->authority, cap = sizeof sv->authority;
    else if (nl == 7 && memcmp(name, ":method", 7) == 0)
        dst = sv->method, cap = sizeof sv->method;
    if (dst) {
        size_t n = vl < cap - 1 ? vl : cap - 1;
        memcpy(dst, value, n);
        dst[n] = '\0';
    }
    return 0;
}

static int srv_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    struct server *sv = arg;
    if (f->hd.type == NGHTTP2_GOAWAY)
        sv->got_goaway = true;
    if (f->hd.type != NGHTTP2_HEADERS || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    int32_t id = f->hd.stream_id;
    if (sv->rst)
        return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    if (sv->goaway_code)
        return nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, 0, sv->goaway_code, NULL, 0);
    if (!sv->status)
        return 0;
    if (sv->altsvc_frame)
        nghttp2_submit_altsvc(s, NGHTTP2_FLAG_NONE, 0, (const uint8_t *)"shop.test", 9,
                              (const uint8_t *)"h3=\":443\"", 9);
    char st[4];
    snprintf(st, sizeof st, "%d", sv->status);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nva[4] = {NV(":status", st), NV("server", "lab-h2")};
    size_t n = 2;
    if (!sv->altsvc_frame)
        nva[n++] = (nghttp2_nv)NV("alt-svc", "h3=\":443\"; ma=60, h2=\":443\"");
    if (sv->date)
        nva[n++] = (nghttp2_nv)NV("date", sv->date);
#undef NV
    return nghttp2_submit_response(s, id, nva, n, NULL);
}

static void server_new(struct server *sv)
{
    nghttp2_session_callbacks *cb;
    ck_assert_int_eq(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, srv_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_on_frame);
    nghttp2_option *opt;
    ck_assert_int_eq(nghttp2_option_new(&opt), 0);
    nghttp2_option_set_builtin_recv_extension_type(opt, NGHTTP2_ALTSVC);
    ck_assert_int_eq(nghttp2_session_server_new2(&sv->s, cb, sv, opt), 0);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    ck_assert_int_eq(nghttp2_submit_settings(sv->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

/* Client bytes into the server, server bytes into the client, until neither
 * has anything to say or the check is decided; returns the check's last want. */
static enum es_http_want pump(struct es_httpcheck *hc, struct server *sv)
{
    enum es_http_want w = ES_HTTP_WANT_IO;
    for (int round = 0; round < 20; round++) {
        uint8_t buf[4096];
        size_t n, moved = 0;
        while ((n = es_httpcheck_output(hc, buf, sizeof buf)) > 0) {
            ck_assert_int_eq(nghttp2_session_mem_recv(sv->s, buf, n), (ssize_t)n);
            moved += n;
        }
        const uint8_t *d;
        ssize_t k;
        while ((k = nghttp2_session_mem_send(sv->s, &d)) > 0) {
            if (w == ES_HTTP_WANT_IO)
                w = es_httpcheck_input(hc, d, (size_t)k);
            moved += (size_t)k;
        }
        if (!moved)
            break;
    }
    return w;
}

static const struct h2_get_case {
    const char *name;
    enum es_http_mode mode;
    int status;
    const char *date;
    bool altsvc_frame, rst;
    uint32_t goaway;
    const char *h2;
    int want_status;
    long skew;
    int h3;
} h2_cases[] = {
    {"get 200", ES_HTTP_H2_GET, 200, "Mon, 24 Nov 2025 15:58:20 GMT", false, false, 0, "ok", 200,
     -100, 1},
    {"get 526, altsvc frame", ES_HTTP_H2_GET, 526, NULL, true, false, 0, "ok", 526, LONG_MIN, 1},
    {"get, stream reset", ES_HTTP_H2_GET, 200, NULL, false, true, 0, "ok", 0, LONG_MIN, -1},
    {"get, goaway 11", ES_HTTP_H2_GET, 200, NULL, false, false, 11, "goaway_11", 0, LONG_MIN, -1},
    {"settings only", ES_HTTP_H2_SETTINGS, 0, NULL, false, false, 0, "ok", -1, LONG_MIN, -1},
};

START_TEST(test_h2_server)
{
    const struct h2_get_case *c = &h2_cases[_i];
    struct server sv = {.status = c->status,
                        .date = c->date,
                        .altsvc_frame = c->altsvc_frame,
                        .rst = c->rst,
                        .goaway_code = c->goaway};
    server_new(&sv);
    struct es_httpcheck hc;
    ck_assert(es_httpcheck_start(&hc, c->mode, "/x", "shop.test", 8443) == ES_HTTP_WANT_IO);
    enum es_http_want w = pump(&hc, &sv);
    ck_assert_msg(w == ES_HTTP_DONE, "%s: not decided", c->name);
    pump(&hc, &sv); /* the goodbye reaches the server */
    struct es_http_result r;
    es_httpcheck_result(&hc, NOW, &r);
    ck_assert_msg(r.h2 && strcmp(r.h2, c->h2) == 0, "%s: h2 %s", c->name, r.h2);
    ck_assert_msg(r.status == c->want_status, "%s: status %d", c->name, r.status);
    ck_assert_msg(es_http_clock_skew(r.date_s, NOW) == c->skew, "%s: skew", c->name);
    ck_assert_msg(r.h3 == c->h3, "%s: h3 %d", c->name, r.h3);
    if (c->want_status > 0)
        ck_assert_str_eq(r.server, "lab-h2");
    if (c->mode == ES_HTTP_H2_GET) {
        ck_assert_str_eq(sv.method, "GET");
        ck_assert_str_eq(sv.path, "/x");
        ck_assert_str_eq(sv.authority, "shop.test:8443");
    } else {
        ck_assert_str_eq(sv.path, ""); /* no request */
    }
    if (!c->goaway) /* nghttp2 says no more after the server's GOAWAY */
        ck_assert_msg(sv.got_goaway, "%s: no GOAWAY from the client", c->name);
    es_httpcheck_end(&hc);
    nghttp2_session_del(sv.s);
}
END_TEST

/* Servers that are not HTTP/2 servers: hand-made first frames. */
static const struct h2_raw_case {
    const char *name;
    const char *bytes;
    size_t len;
    enum end_how end;
    const char *h2;
} h2_raw_cases[] = {
    {"goaway first",
     "\0\0\x08\x07\0\0\0\0\0"
     "\0\0\0\0"
     "\0\0\0\x0d",
     17, END_DONE, "goaway_13"},
    {"goaway first, code 300",
     "\0\0\x08\x07\0\0\0\0\0"
     "\0\0\0\0"
     "\0\0\x01\x2c",
     17, END_DONE, "goaway_300"},
    {"ping first",
     "\0\0\x08\x06\0\0\0\0\0"
     "12345678",
     17, END_DONE, "no_settings"},
    {"settings ack first", "\0\0\0\x04\x01\0\0\0\0", 9, END_DONE, "no_settings"},
    {"settings of 5 bytes",
     "\0\0\x05\x04\0\0\0\0\0"
     "12345",
     14, END_DONE, "bad_frame"},
    {"settings on stream 1", "\0\0\0\x04\0\0\0\0\x01", 9, END_DONE, "bad_frame"},
    {"http/1.1 answer", "HTTP/1.1 400 Bad Request\r\n\r\n", 28, END_DONE, "no_settings"},
    {"half a header, eof", "\0\0\0", 3, END_EOF, "eof"},
    {"nothing, timeout", "", 0, END_TIMEOUT, "timeout"},
};

START_TEST(test_h2_raw)
{
    const struct h2_raw_case *c = &h2_raw_cases[_i];
    for (enum es_http_mode mode = ES_HTTP_H2_SETTINGS; mode <= ES_HTTP_H2_GET; mode++) {
        struct es_httpcheck hc;
        char out[1024];
        es_httpcheck_start(&hc, mode, "/", "shop.test", 443);
        size_t n = drain(&hc, out, sizeof out, sizeof out);
        ck_assert_uint_gt(n, 24);
        ck_assert(memcmp(out, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24) == 0);
        enum es_http_want w = es_httpcheck_input(&hc, (const uint8_t *)c->bytes, c->len);
        drain(&hc, out, sizeof out, sizeof out);
        if (es_httpcheck_done(&hc))
            w = ES_HTTP_DONE;
        if (c->end == END_EOF)
            w = es_httpcheck_eof(&hc);
        else if (c->end == END_TIMEOUT)
            w = es_httpcheck_timeout(&hc);
        ck_assert_msg(w == ES_HTTP_DONE, "%s: not decided", c->name);
        struct es_http_result r;
        es_httpcheck_result(&hc, NOW, &r);
        ck_assert_msg(r.h2 && strcmp(r.h2, c->h2) == 0, "%s: h2 %s", c->name, r.h2);
        ck_assert_int_eq(r.status, mode == ES_HTTP_H2_GET ? 0 : -1);
        es_httpcheck_end(&hc);
    }
}
END_TEST

/* The same server bytes one at a time: the check must not care how the
 * stream is cut. */
START_TEST(test_h2_bytewise)
{
    struct server sv = {.status = 200, .date = "Mon, 24 Nov 2025 16:00:05 GMT"};
    server_new(&sv);
    struct es_httpcheck hc;
    es_httpcheck_start(&hc, ES_HTTP_H2_GET, "/", "shop.test", 443);
    uint8_t buf[4096];
    size_t n;
    enum es_http_want w = ES_HTTP_WANT_IO;
    for (int round = 0; round < 10 && w == ES_HTTP_WANT_IO; round++) {
        while ((n = es_httpcheck_output(&hc, buf, sizeof buf)) > 0)
            ck_assert_int_eq(nghttp2_session_mem_recv(sv.s, buf, n), (ssize_t)n);
        const uint8_t *d;
        ssize_t k;
        while ((k = nghttp2_session_mem_send(sv.s, &d)) > 0)
            for (ssize_t i = 0; i < k && w == ES_HTTP_WANT_IO; i++)
                w = es_httpcheck_input(&hc, d + i, 1);
    }
    ck_assert(w == ES_HTTP_DONE);
    struct es_http_result r;
    es_httpcheck_result(&hc, NOW, &r);
    ck_assert_str_eq(r.h2, "ok");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(es_http_clock_skew(r.date_s, NOW), 5);
    ck_assert_str_eq(sv.authority, "shop.test");
    es_httpcheck_end(&hc);
    nghttp2_session_del(sv.s);
}
END_TEST

/* A response head over 16 KB of header fields: cut at the cap, status kept. */
static int big_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    (void)arg;
    if (f->hd.type != NGHTTP2_HEADERS || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    static char val[1000];
    memset(val, 'v', sizeof val - 1);
    nghttp2_nv nva[40];
    nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (int i = 1; i < 40; i++)
        nva[i] = (nghttp2_nv){(uint8_t *)"x-fill", (uint8_t *)val, 6, sizeof val - 1,
                              NGHTTP2_NV_FLAG_NO_INDEX};
    return nghttp2_submit_response(s, f->hd.stream_id, nva, 40, NULL);
}

START_TEST(test_h2_head_cap)
{
    nghttp2_session_callbacks *cb;
    nghttp2_session *s;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, big_on_frame);
    ck_assert_int_eq(nghttp2_session_server_new(&s, cb, NULL), 0);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
    struct server sv = {.s = s};
    struct es_httpcheck hc;
    es_httpcheck_start(&hc, ES_HTTP_H2_GET, "/", "shop.test", 443);
    ck_assert(pump(&hc, &sv) == ES_HTTP_DONE);
    struct es_http_result r;
    es_httpcheck_result(&hc, NOW, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.h2, "ok");
    es_httpcheck_end(&hc);
    nghttp2_session_del(s);
}
END_TEST

START_TEST(test_h2_eof_after_settings)
{
    struct server sv = {.status = 0}; /* never answers */
    server_new(&sv);
    struct es_httpcheck hc;
    es_httpcheck_start(&hc, ES_HTTP_H2_GET, "/", "shop.test", 443);
    ck_assert(pump(&hc, &sv) == ES_HTTP_WANT_IO);
    ck_assert(es_httpcheck_eof(&hc) == ES_HTTP_DONE);
    struct es_http_result r;
    es_httpcheck_result(&hc, NOW, &r);
    ck_assert_str_eq(r.h2, "ok"); /* SETTINGS came: h2 worked, the GET did not */
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.h3, -1);
    es_httpcheck_end(&hc);
    nghttp2_session_del(sv.s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("httpcheck");
    TCase *td = tcase_create("date");
    tcase_add_loop_test(td, test_date, 0, (int)ES_ARRAY_LEN(date_cases));
    tcase_add_test(td, test_skew);
    suite_add_tcase(s, td);
    TCase *t1 = tcase_create("http1");
    tcase_add_test(t1, test_h1_request);
    tcase_add_loop_test(t1, test_h1_whole, 0, (int)ES_ARRAY_LEN(h1_cases));
    tcase_add_loop_test(t1, test_h1_bytewise, 0, (int)ES_ARRAY_LEN(h1_cases));
    suite_add_tcase(s, t1);
    TCase *t2 = tcase_create("http2");
    tcase_add_loop_test(t2, test_h2_server, 0, (int)ES_ARRAY_LEN(h2_cases));
    tcase_add_loop_test(t2, test_h2_raw, 0, (int)ES_ARRAY_LEN(h2_raw_cases));
    tcase_add_test(t2, test_h2_bytewise);
    tcase_add_test(t2, test_h2_head_cap);
    tcase_add_test(t2, test_h2_eof_after_settings);
    suite_add_tcase(s, t2);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
