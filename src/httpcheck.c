/* httpcheck.c - the check after the handshake; see include/edgeshake/httpcheck.h.
 *
 *   HC_IDLE -> HC_RUN -> HC_DONE
 *
 * HC_RUN on h2 is an nghttp2 client session fed with es_httpcheck_input
 * (nghttp2_session_mem_recv) and drained by es_httpcheck_output
 * (nghttp2_session_mem_send); its callbacks decide. On HTTP/1.1 the request
 * is handed out piece by piece from its parts (no request buffer) and the
 * response head is parsed one byte at a time by head_byte(), a switch over
 * the parser state: nothing of the head is kept but the three values we
 * report. Once HC_DONE, input is ignored and output only drains.
 *
 * The one thing not left to nghttp2: when the server's first frame is not a
 * SETTINGS frame, nghttp2 says only "SETTINGS expected"; the h2 column names a
 * GOAWAY that came first by its code (goaway_<code>), so the first 17 bytes of
 * the server's stream are kept to read that code (RFC 9113 §6.8: 9 bytes of
 * frame header, 4 of last-stream-id, 4 of error code). That is all the
 * frame parsing done here by hand. */
#include "edgeshake/httpcheck.h"

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "edgeshake/token.h"
#include "edgeshake/util.h"

#ifndef ES_VERSION
#define ES_VERSION "0"
#endif
#define USER_AGENT "edgeshake/" ES_VERSION

enum hc_state {
    HC_IDLE = 0,
    HC_RUN,
    HC_DONE,
};

/* HTTP/1.1 head parser states (hc->_p). */
enum {
    P_STATUS = 0, /* the status line, up to its 13th byte: "HTTP/1.1 200 " */
    P_REASON,     /* the rest of the status line */
    P_LINE,       /* at the start of a header line (or the empty line) */
    P_NAME,       /* a field name */
    P_OWS,        /* whitespace after the colon */
    P_VALUE,      /* a field value */
    P_SKIP,       /* a line we ignore (obs-fold, no colon) */
};

/* Which header the value belongs to (hc->_hdr). */
enum { H_OTHER = 0, H_SERVER, H_DATE, H_ALTSVC };

/* Alt-Svc scanner states (hc->_aq, low bits) and flags. */
enum { A_START = 0, A_PROTO, A_REST };
#define A_QUOTE  0x10 /* inside a quoted-string */
#define A_ESCAPE 0x20 /* after a backslash inside one */
#define A_STATE  0x0f

/* Small flags kept in hc->_sub. */
#define F_HEAD_DONE 0x01 /* a final response head was complete (or cut at the cap) */
#define F_SEEN_SRV  0x02
#define F_SEEN_DATE 0x04
#define F_SETTINGS  0x08 /* h2: the server's SETTINGS arrived */
#define F_H2ERR     0x10 /* h2: nghttp2 reported an error in the server's stream */
#define F_EXPECTED  0x20 /* h2: ... and it was "SETTINGS expected" */
#define F_OVER      0x40 /* the head went over ES_HTTP_MAX_HEAD */

/* ---- the Alt-Svc scanner (RFC 7838 §3): is "h3" or "h3-NN" offered? ---- */

static void alt_reset(struct es_httpcheck *hc)
{
    hc->_aq = A_START;
    hc->_alen = 0;
}

static void alt_proto_end(struct es_httpcheck *hc)
{
    size_t n = hc->_alen;
    if ((n == 2 && memcmp(hc->_alt, "h3", 2) == 0) ||
        (n >= 3 && n < sizeof hc->_alt && memcmp(hc->_alt, "h3-", 3) == 0))
        hc->_h3 = 1;
}

static void alt_byte(struct es_httpcheck *hc, char c)
{
    uint8_t st = hc->_aq & A_STATE, fl = hc->_aq & (A_QUOTE | A_ESCAPE);
    switch (st) {
    case A_START:
        if (c == ' ' || c == '\t' || c == ',')
            return;
        hc->_alen = 0;
        st = A_PROTO;
        /* fall through */
    case A_PROTO:
        if (c == '=') {
            alt_proto_end(hc);
            st = A_REST;
        } else if (c == ',') {
            st = A_START; /* "clear" or junk: no protocol */
        } else if (hc->_alen < sizeof hc->_alt) {
            hc->_alt[hc->_alen++] = c;
        } else {
            hc->_alen = sizeof hc->_alt; /* too long for h3-NN: ignored */
        }
        break;
    case A_REST:
        if (fl & A_ESCAPE)
            fl &= (uint8_t)~A_ESCAPE;
        else if ((fl & A_QUOTE) && c == '\\')
            fl |= A_ESCAPE;
        else if (c == '"')
            fl ^= A_QUOTE;
        else if (c == ',' && !(fl & A_QUOTE))
            st = A_START;
        break;
    default: break;
    }
    hc->_aq = (uint8_t)(st | fl);
}

static void alt_scan(struct es_httpcheck *hc, const uint8_t *v, size_t n)
{
    alt_reset(hc);
    for (size_t i = 0; i < n; i++)
        alt_byte(hc, (char)v[i]);
}

/* ---- common ---------------------------------------------------------------- */

static void copy_value(char *dst, size_t cap, const uint8_t *v, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static enum es_http_want finish(struct es_httpcheck *hc)
{
    hc->_state = HC_DONE;
    if (hc->_mode == ES_HTTP_H1_GET)
        return ES_HTTP_DONE;
    nghttp2_session *s = hc->_h2;
    if (s) {
        /* A polite goodbye: cancel our stream if it is still open, GOAWAY. */
        if (hc->_stream > 0 && nghttp2_session_find_stream(s, hc->_stream))
            (void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, hc->_stream, NGHTTP2_CANCEL);
        /* Not nghttp2_session_terminate_session: its GOAWAY would go out
         * ahead of the SETTINGS ACK already queued, and nothing after it. */
        (void)nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE,
                                    nghttp2_session_get_last_proc_stream_id(s), NGHTTP2_NO_ERROR,
                                    NULL, 0);
    }
    return ES_HTTP_DONE;
}

/* ---- HTTP/1.1 ---------------------------------------------------------------- */

/* The request, as parts handed out in order (no buffer). */
static size_t h1_request_part(const struct es_httpcheck *hc, size_t i, const char **s)
{
    static const char tail[] = "\r\nUser-Agent: " USER_AGENT "\r\nAccept: */*\r\n"
                               "Connection: close\r\n\r\n";
    bool v6 = strchr(hc->_host, ':') != NULL;
    switch (i) {
    case 0: *s = "GET "; break;
    case 1: *s = hc->_path; break;
    case 2: *s = " HTTP/1.1\r\nHost: "; break;
    case 3: *s = v6 ? "[" : ""; break;
    case 4: *s = hc->_host; break;
    case 5: *s = v6 ? "]" : ""; break;
    case 6: *s = hc->_portsuf; break;
    case 7: *s = tail; break;
    default: *s = NULL; return 0;
    }
    return strlen(*s);
}

static size_t h1_output(struct es_httpcheck *hc, uint8_t *buf, size_t cap)
{
    size_t off = hc->_out_off, n = 0, base = 0;
    const char *s;
    size_t len;
    for (size_t i = 0; n < cap && (s = NULL, len = h1_request_part(hc, i, &s), s); i++) {
        if (off < base + len) {
            size_t from = off - base, k = len - from < cap - n ? len - from : cap - n;
            memcpy(buf + n, s + from, k);
            n += k;
            off += k;
        }
        base += len;
    }
    hc->_out_off = (uint32_t)off;
    return n;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The end of a header line: keep the value of the headers we report. */
static void h1_value_end(struct es_httpcheck *hc)
{
    char *v = NULL;
    uint8_t seen = 0;
    if (hc->_hdr == H_SERVER)
        v = hc->_server, seen = F_SEEN_SRV;
    else if (hc->_hdr == H_DATE)
        v = hc->_date, seen = F_SEEN_DATE;
    else if (hc->_hdr == H_ALTSVC)
        alt_byte(hc, ','); /* ends a last protocol-id without '=' */
    if (v) {
        size_t n = hc->_vlen;
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
            n--;
        v[n] = '\0';
        hc->_sub |= seen;
    }
    hc->_hdr = H_OTHER;
}

static void h1_name_end(struct es_httpcheck *hc)
{
    hc->_hdr = H_OTHER;
    hc->_vlen = 0;
    if (hc->_nlen >= sizeof hc->_name)
        return;
    hc->_name[hc->_nlen] = '\0';
    if (strcmp(hc->_name, "server") == 0 && !(hc->_sub & F_SEEN_SRV))
        hc->_hdr = H_SERVER;
    else if (strcmp(hc->_name, "date") == 0 && !(hc->_sub & F_SEEN_DATE))
        hc->_hdr = H_DATE;
    else if (strcmp(hc->_name, "alt-svc") == 0)
        hc->_hdr = H_ALTSVC, alt_reset(hc);
}

static void h1_value_byte(struct es_httpcheck *hc, char c)
{
    char *v = hc->_hdr == H_SERVER ? hc->_server : hc->_hdr == H_DATE ? hc->_date : NULL;
    size_t cap = hc->_hdr == H_SERVER ? sizeof hc->_server : sizeof hc->_date;
    if (v && hc->_vlen + 1u < cap)
        v[hc->_vlen++] = c;
    else if (hc->_hdr == H_ALTSVC)
        alt_byte(hc, c);
}

/* The status line's first 13 bytes, "HTTP/d.d ddd" and a space (or the end
 * of the line: the reason phrase may be empty). False = not HTTP. */
static bool h1_status_byte(struct es_httpcheck *hc, char c)
{
    static const char proto[] = "HTTP/";
    unsigned i = hc->_vlen++;
    if (i < 5)
        return c == proto[i];
    if (i == 5 || i == 7)
        return is_digit(c);
    if (i == 6)
        return c == '.';
    if (i == 8)
        return c == ' ';
    if (i <= 11) {
        if (!is_digit(c))
            return false;
        int d = c - '0';
        hc->_status = i == 9 ? d : hc->_status * 10 + d; /* <= 999 */
        return true;
    }
    /* i == 12 */
    if (c != ' ' && c != '\r' && c != '\n')
        return false;
    hc->_p = c == '\n' ? P_LINE : P_REASON;
    return true;
}

/* The empty line: a final response ends the check, an interim one (1xx)
 * starts the next head. */
static bool h1_head_end(struct es_httpcheck *hc)
{
    if (hc->_status >= 100 && hc->_status < 200 && hc->_status != 101) {
        hc->_sub &= (uint8_t) ~(F_SEEN_SRV | F_SEEN_DATE);
        hc->_server[0] = hc->_date[0] = '\0';
        hc->_h3 = 0;
        hc->_status = 0;
        hc->_p = P_STATUS;
        hc->_vlen = 0;
        return false;
    }
    hc->_sub |= F_HEAD_DONE;
    return true;
}

/* One byte of the response head; true when the check is decided. */
static bool head_byte(struct es_httpcheck *hc, char c)
{
    switch (hc->_p) {
    case P_STATUS:
        if (!h1_status_byte(hc, c)) {
            hc->_status = 0; /* not HTTP */
            return true;
        }
        return false;
    case P_REASON:
        if (c == '\n')
            hc->_p = P_LINE;
        return false;
    case P_LINE:
        if (c == '\r')
            return false;
        if (c == '\n')
            return h1_head_end(hc);
        if (c == ' ' || c == '\t' || c == ':') { /* obs-fold, or no name */
            hc->_p = P_SKIP;
            return false;
        }
        hc->_nlen = 0;
        hc->_p = P_NAME;
        /* fall through */
    case P_NAME:
        if (c == ':') {
            h1_name_end(hc);
            hc->_p = P_OWS;
        } else if (c == '\n') {
            hc->_p = P_LINE; /* a line without a colon: ignored */
        } else if (hc->_nlen < sizeof hc->_name) {
            hc->_name[hc->_nlen++] = lower(c);
        }
        return false;
    case P_OWS:
        if (c == ' ' || c == '\t')
            return false;
        hc->_p = P_VALUE;
        /* fall through */
    case P_VALUE:
        if (c == '\n') {
            h1_value_end(hc);
            hc->_p = P_LINE;
        } else {
            h1_value_byte(hc, c);
        }
        return false;
    case P_SKIP:
        if (c == '\n')
            hc->_p = P_LINE;
        return false;
    default: break;
    }
    return true;
}

static enum es_http_want h1_input(struct es_httpcheck *hc, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (hc->_head >= ES_HTTP_MAX_HEAD) {
            hc->_sub |= F_OVER;
            if (hc->_p != P_STATUS && hc->_p != P_REASON)
                hc->_sub |= F_HEAD_DONE; /* what we have of it */
            else if (hc->_p == P_STATUS)
                hc->_status = 0;
            return finish(hc);
        }
        hc->_head++;
        if (head_byte(hc, (char)p[i]))
            return finish(hc);
    }
    return ES_HTTP_WANT_IO;
}

/* ---- HTTP/2 through nghttp2 -------------------------------------------------- */

static void h2_decide(struct es_httpcheck *hc, const char *tok)
{
    if (!hc->_h2tok)
        hc->_h2tok = tok;
}

static const char *goaway_token(struct es_httpcheck *hc, uint32_t code)
{
    const char *tok = es_h2_goaway_token(code);
    if (tok)
        return tok;
    snprintf(hc->_goaway, sizeof hc->_goaway, "goaway_%u", code);
    return hc->_goaway;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    (void)s;
    struct es_httpcheck *hc = arg;
    if (hc->_state != HC_RUN)
        return 0;
    switch (f->hd.type) {
    case NGHTTP2_SETTINGS:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK) && !(hc->_sub & F_SETTINGS)) {
            hc->_sub |= F_SETTINGS;
            h2_decide(hc, es_tok_ok);
            if (hc->_mode == ES_HTTP_H2_SETTINGS)
                finish(hc);
        }
        break;
    case NGHTTP2_GOAWAY:
        if (f->goaway.error_code != NGHTTP2_NO_ERROR) {
            /* After our SETTINGS-only check, or before the response: h2 failed. */
            hc->_h2tok = goaway_token(hc, f->goaway.error_code);
            finish(hc);
        } else if (hc->_mode == ES_HTTP_H2_SETTINGS || f->goaway.last_stream_id < hc->_stream) {
            finish(hc); /* our request will not be answered */
        }
        break;
    case NGHTTP2_HEADERS:
        if (f->hd.stream_id != hc->_stream || !(f->hd.flags & NGHTTP2_FLAG_END_HEADERS))
            break;
        if (hc->_status >= 100 && hc->_status < 200) { /* interim: wait for the final one */
            hc->_status = 0;
            hc->_sub &= (uint8_t) ~(F_SEEN_SRV | F_SEEN_DATE);
            hc->_server[0] = hc->_date[0] = '\0';
            hc->_h3 = 0;
            break;
        }
        hc->_sub |= F_HEAD_DONE;
        finish(hc);
        break;
    case NGHTTP2_RST_STREAM:
        if (f->hd.stream_id == hc->_stream)
            finish(hc);
        break;
    case NGHTTP2_ALTSVC: {
        const nghttp2_ext_altsvc *a = f->ext.payload;
        if (a && hc->_h3 != 1)
            alt_scan(hc, a->field_value, a->field_value_len), alt_proto_end(hc);
        break;
    }
    default: break;
    }
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *arg)
{
    (void)s;
    (void)flags;
    struct es_httpcheck *hc = arg;
    if (hc->_state != HC_RUN || f->hd.stream_id != hc->_stream)
        return 0;
    size_t sz = namelen + valuelen + 32;
    if (hc->_head + sz > ES_HTTP_MAX_HEAD) {
        hc->_head = ES_HTTP_MAX_HEAD;
        hc->_sub |= F_OVER;
        return 0;
    }
    hc->_head += (uint32_t)sz;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, sizeof(lit) - 1) == 0)
    if (IS(":status")) {
        if (valuelen == 3 && is_digit((char)value[0]) && is_digit((char)value[1]) &&
            is_digit((char)value[2]))
            hc->_status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    } else if (IS("server") && !(hc->_sub & F_SEEN_SRV)) {
        copy_value(hc->_server, sizeof hc->_server, value, valuelen);
        hc->_sub |= F_SEEN_SRV;
    } else if (IS("date") && !(hc->_sub & F_SEEN_DATE)) {
        copy_value(hc->_date, sizeof hc->_date, value, valuelen);
        hc->_sub |= F_SEEN_DATE;
    } else if (IS("alt-svc") && hc->_h3 != 1) {
        alt_scan(hc, value, valuelen);
        alt_byte(hc, ',');
    }
#undef IS
    return 0;
}

static int on_error(nghttp2_session *s, int lib_error_code, const char *msg, size_t len, void *arg)
{
    (void)s;
    (void)msg;
    (void)len;
    struct es_httpcheck *hc = arg;
    hc->_sub |= F_H2ERR;
    if (lib_error_code == NGHTTP2_ERR_SETTINGS_EXPECTED)
        hc->_sub |= F_EXPECTED;
    return 0;
}

/* A GOAWAY with an error going out before the server's SETTINGS came: nghttp2
 * rejected what the server sent (a malformed frame) without an error
 * callback; the GOAWAY is how it says so. */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    (void)s;
    struct es_httpcheck *hc = arg;
    if (hc->_state == HC_RUN && f->hd.type == NGHTTP2_GOAWAY &&
        f->goaway.error_code != NGHTTP2_NO_ERROR && !(hc->_sub & F_SETTINGS)) {
        h2_decide(hc, es_tok_bad_frame);
        hc->_state = HC_DONE;
    }
    return 0;
}

/* The callbacks: built once per process, read-only afterwards (each session
 * copies them), so workers share them without a lock. */
static nghttp2_session_callbacks *g_cbs;
static pthread_once_t g_cbs_once = PTHREAD_ONCE_INIT;

static void make_callbacks(void)
{
    nghttp2_session_callbacks *c;
    if (nghttp2_session_callbacks_new(&c) != 0)
        return; /* g_cbs stays NULL: every h2 check ends as eof */
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
    nghttp2_session_callbacks_set_on_header_callback(c, on_header);
    nghttp2_session_callbacks_set_error_callback2(c, on_error);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, on_frame_send);
    g_cbs = c;
}

static nghttp2_session_callbacks *h2_callbacks(void)
{
    pthread_once(&g_cbs_once, make_callbacks);
    return g_cbs;
}

/* The first frame was not the server's SETTINGS (nghttp2: "SETTINGS
 * expected"): name a GOAWAY by its code, anything else is no_settings. */
static const char *first_frame_token(struct es_httpcheck *hc)
{
    const uint8_t *b = hc->_first;
    if (hc->_input >= sizeof hc->_first && b[3] == NGHTTP2_GOAWAY) {
        uint32_t len = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
        if (len >= 8) {
            uint32_t code =
                (uint32_t)b[13] << 24 | (uint32_t)b[14] << 16 | (uint32_t)b[15] << 8 | b[16];
            return goaway_token(hc, code);
        }
    }
    return es_tok_no_settings;
}

static enum es_http_want h2_input(struct es_httpcheck *hc, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len && hc->_input + i < sizeof hc->_first; i++)
        hc->_first[hc->_input + i] = p[i];
    if (len > ES_HTTP_MAX_INPUT - hc->_input) {
        len = ES_HTTP_MAX_INPUT - hc->_input;
        hc->_sub |= F_OVER;
    }
    hc->_input += (uint32_t)len;
    nghttp2_session *s = hc->_h2;
    ssize_t r = nghttp2_session_mem_recv(s, p, len);
    if (hc->_state == HC_DONE)
        return ES_HTTP_DONE;
    if (r < 0 || (hc->_sub & F_H2ERR) || !nghttp2_session_want_read(s)) {
        if (!(hc->_sub & F_SETTINGS))
            h2_decide(hc, (hc->_sub & F_EXPECTED) ? first_frame_token(hc) : es_tok_bad_frame);
        return finish(hc);
    }
    if (hc->_sub & F_OVER) {
        if (hc->_status > 0)
            hc->_sub |= F_HEAD_DONE;
        else
            hc->_status = 0;
        return finish(hc);
    }
    return ES_HTTP_WANT_IO;
}

static bool h2_start(struct es_httpcheck *hc)
{
    nghttp2_session_callbacks *cbs = h2_callbacks();
    nghttp2_option *opt = NULL;
    nghttp2_session *s = NULL;
    if (!cbs || nghttp2_option_new(&opt) != 0)
        return false;
    nghttp2_option_set_builtin_recv_extension_type(opt, NGHTTP2_ALTSVC);
    int rv = nghttp2_session_client_new2(&s, cbs, hc, opt);
    nghttp2_option_del(opt);
    if (rv != 0)
        return false;
    hc->_h2 = s;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, ES_ARRAY_LEN(iv)) != 0)
        return false;
    if (hc->_mode != ES_HTTP_H2_GET)
        return true;
    char authority[300];
    bool v6 = strchr(hc->_host, ':') != NULL;
    int an = snprintf(authority, sizeof authority, "%s%s%s%s", v6 ? "[" : "", hc->_host,
                      v6 ? "]" : "", hc->_portsuf);
    if (an < 0 || (size_t)an >= sizeof authority)
        return false;
#define NV(n, v, vl)                                                                               \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE                  \
    }
    const nghttp2_nv nva[] = {
        NV(":method", "GET", 3),
        NV(":scheme", "https", 5),
        NV(":authority", authority, (size_t)an),
        NV(":path", hc->_path, strlen(hc->_path)),
        NV("user-agent", USER_AGENT, sizeof USER_AGENT - 1),
        NV("accept", "*/*", 3),
    };
#undef NV
    int32_t id = nghttp2_submit_request(s, NULL, nva, ES_ARRAY_LEN(nva), NULL, NULL);
    if (id < 0)
        return false;
    hc->_stream = id;
    return true;
}

static size_t h2_output(struct es_httpcheck *hc, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap && hc->_h2) {
        if (hc->_h2out_len == 0) {
            const uint8_t *d;
            ssize_t k = nghttp2_session_mem_send(hc->_h2, &d);
            if (k <= 0)
                break;
            hc->_h2out = d;
            hc->_h2out_len = (size_t)k;
        }
        size_t k = hc->_h2out_len < cap - n ? hc->_h2out_len : cap - n;
        memcpy(buf + n, hc->_h2out, k);
        hc->_h2out += k;
        hc->_h2out_len -= k;
        n += k;
    }
    return n;
}

/* ---- the contract ------------------------------------------------------------ */

enum es_http_want es_httpcheck_start(struct es_httpcheck *hc, enum es_http_mode mode,
                                     const char *path, const char *host, uint16_t port)
{
    memset(hc, 0, sizeof *hc);
    hc->_mode = mode;
    hc->_state = HC_RUN;
    hc->_path = path && path[0] ? path : "/";
    hc->_host = host ? host : "";
    hc->_port = port;
    hc->_status = mode == ES_HTTP_H2_SETTINGS ? -1 : 0;
    if (port != 443)
        snprintf(hc->_portsuf, sizeof hc->_portsuf, ":%u", (unsigned)port);
    if (mode == ES_HTTP_H1_GET)
        return ES_HTTP_WANT_IO;
    if (!h2_start(hc)) {
        h2_decide(hc, es_tok_eof);
        hc->_state = HC_DONE;
        return ES_HTTP_DONE;
    }
    return ES_HTTP_WANT_IO;
}

size_t es_httpcheck_output(struct es_httpcheck *hc, uint8_t *buf, size_t cap)
{
    if (hc->_state == HC_IDLE || cap == 0)
        return 0;
    if (hc->_mode == ES_HTTP_H1_GET)
        return hc->_state == HC_RUN ? h1_output(hc, buf, cap) : 0;
    return h2_output(hc, buf, cap);
}

enum es_http_want es_httpcheck_input(struct es_httpcheck *hc, const uint8_t *data, size_t len)
{
    if (hc->_state != HC_RUN)
        return ES_HTTP_DONE;
    if (len == 0)
        return ES_HTTP_WANT_IO;
    if (hc->_mode == ES_HTTP_H1_GET)
        return h1_input(hc, data, len);
    return h2_input(hc, data, len);
}

bool es_httpcheck_done(const struct es_httpcheck *hc)
{
    return hc->_state != HC_RUN;
}

enum es_http_want es_httpcheck_eof(struct es_httpcheck *hc)
{
    if (hc->_state != HC_RUN)
        return ES_HTTP_DONE;
    h2_decide(hc, es_tok_eof);
    if (hc->_mode == ES_HTTP_H1_GET && hc->_status > 0 && hc->_p != P_STATUS)
        hc->_sub |= F_HEAD_DONE; /* the head was cut: what we have of it */
    else if (hc->_mode == ES_HTTP_H1_GET && hc->_p == P_STATUS)
        hc->_status = 0;
    return finish(hc);
}

enum es_http_want es_httpcheck_timeout(struct es_httpcheck *hc)
{
    if (hc->_state != HC_RUN)
        return ES_HTTP_DONE;
    h2_decide(hc, es_tok_timeout);
    if (hc->_mode == ES_HTTP_H1_GET && hc->_p == P_STATUS)
        hc->_status = 0;
    return finish(hc);
}

void es_httpcheck_result(const struct es_httpcheck *hc, int64_t now_s, struct es_http_result *r)
{
    r->h2 = hc->_mode == ES_HTTP_H1_GET ? NULL : hc->_h2tok;
    r->status = hc->_status;
    if (hc->_mode == ES_HTTP_H1_GET && hc->_p == P_STATUS)
        r->status = 0; /* a status line not complete yet is no status */
    r->server = hc->_server;
    r->date_s = ES_HTTP_NO_DATE;
    int64_t d;
    if (hc->_date[0] && es_http_date_parse(hc->_date, strlen(hc->_date), now_s, &d))
        r->date_s = d;
    r->h3 = r->status > 0 ? (hc->_h3 == 1 ? 1 : 0) : -1;
}

void es_httpcheck_end(struct es_httpcheck *hc)
{
    if (hc->_h2)
        nghttp2_session_del(hc->_h2);
    hc->_h2 = NULL;
    hc->_h2out = NULL;
    hc->_h2out_len = 0;
    hc->_state = HC_IDLE;
}

long es_http_clock_skew(int64_t date_s, int64_t now_s)
{
    if (date_s == ES_HTTP_NO_DATE)
        return LONG_MIN;
    return (long)(date_s - now_s);
}

/* ---- HTTP dates (RFC 9110 §5.6.7) -------------------------------------------- */

struct cur {
    const char *p, *e;
};

static bool lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(c->e - c->p) < n || memcmp(c->p, s, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Exactly n digits. */
static bool digits(struct cur *c, int n, int *v)
{
    if (c->e - c->p < n)
        return false;
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(c->p[i]))
            return false;
        x = x * 10 + (c->p[i] - '0');
    }
    c->p += n;
    *v = x;
    return true;
}

static int alpha_run(struct cur *c, const char **start)
{
    *start = c->p;
    while (c->p < c->e && ((*c->p >= 'A' && *c->p <= 'Z') || (*c->p >= 'a' && *c->p <= 'z')))
        c->p++;
    return (int)(c->p - *start);
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                   "Friday", "Saturday", "Sunday"};

static bool month(struct cur *c, int *m)
{
    for (int i = 0; i < 12; i++) {
        if (lit(c, months[i])) {
            *m = i + 1;
            return true;
        }
    }
    return false;
}

/* A day name: the three-letter one (long = false) or the full one. */
static bool day_name(const char *s, int n, bool long_form)
{
    for (size_t i = 0; i < ES_ARRAY_LEN(days); i++) {
        int full = (int)strlen(days[i]);
        if (long_form ? (n == full && memcmp(s, days[i], (size_t)n) == 0)
                      : (n == 3 && memcmp(s, days[i], 3) == 0))
            return true;
    }
    return false;
}

static bool hms(struct cur *c, int *h, int *mi, int *s)
{
    return digits(c, 2, h) && lit(c, ":") && digits(c, 2, mi) && lit(c, ":") && digits(c, 2, s) &&
           *h <= 23 && *mi <= 59 && *s <= 60;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t year_of(int64_t t)
{
    int64_t z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

bool es_http_date_parse(const char *s, size_t len, int64_t now_s, int64_t *out)
{
    struct cur c = {s, s + len};
    while (c.e > c.p && c.e[-1] == ' ')
        c.e--;
    const char *dn;
    int n = alpha_run(&c, &dn);
    int y = 0, m = 0, d = 0, h = 0, mi = 0, sec = 0;
    bool ok;
    if (n == 3 && lit(&c, ", ")) { /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        ok = day_name(dn, n, false) && digits(&c, 2, &d) && lit(&c, " ") && month(&c, &m) &&
             lit(&c, " ") && digits(&c, 4, &y) && lit(&c, " ") && hms(&c, &h, &mi, &sec) &&
             lit(&c, " GMT");
    } else if (n > 3 && lit(&c, ", ")) { /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        ok = day_name(dn, n, true) && digits(&c, 2, &d) && lit(&c, "-") && month(&c, &m) &&
             lit(&c, "-") && digits(&c, 2, &y) && lit(&c, " ") && hms(&c, &h, &mi, &sec) &&
             lit(&c, " GMT");
        if (ok) { /* the year less than 50 years ahead of now (RFC 9110 §5.6.7) */
            int64_t now_y = year_of(now_s);
            int64_t cand = now_y - now_y % 100 + y;
            if (cand > now_y + 50)
                cand -= 100;
            else if (cand <= now_y - 50)
                cand += 100;
            y = (int)cand;
        }
    } else if (n == 3 && lit(&c, " ")) { /* asctime: Sun Nov  6 08:49:37 1994 */
        ok = day_name(dn, n, false) && month(&c, &m) && lit(&c, " ");
        if (ok && c.p < c.e && *c.p == ' ') {
            c.p++;
            ok = digits(&c, 1, &d);
        } else {
            ok = ok && digits(&c, 2, &d);
        }
        ok = ok && lit(&c, " ") && hms(&c, &h, &mi, &sec) && lit(&c, " ") && digits(&c, 4, &y);
    } else {
        return false;
    }
    if (!ok || c.p != c.e || d < 1 || d > days_in_month(y, m))
        return false;
    *out = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + sec;
    return true;
}
