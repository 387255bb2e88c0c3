/* httpcheck.h - what happens after the handshake: the HTTP/2 SETTINGS check
 * (--h2-check) and one GET (--http-check), as a byte-in/byte-out state
 * machine over the decrypted stream.
 *
 * No sockets and no TLS here: the caller (the TLS probe) feeds what SSL_read
 * gave it to es_httpcheck_input and SSL_writes what es_httpcheck_output
 * hands out, so the check runs over the probe's memory-BIO SSL, and the unit
 * tests pump it against an nghttp2 server session or a canned HTTP/1.1
 * responder in memory.
 *
 * Modes (es_httpcheck_start):
 *   ES_HTTP_H2_SETTINGS  --h2-check on an h2 connection: client preface and
 *                        SETTINGS (through libnghttp2), done when the
 *                        server's first frame has decided the h2 column.
 *   ES_HTTP_H2_GET       --http-check on h2: the same, plus one GET whose
 *                        response HEADERS end the check. Every frame and all
 *                        of HPACK is libnghttp2's.
 *   ES_HTTP_H1_GET       --http-check otherwise: "GET PATH HTTP/1.1" with
 *                        Host, User-Agent, Accept and Connection: close; the
 *                        response head is parsed as it streams in (a bounded
 *                        cursor, no copy of the head, no sscanf/atoi). Interim
 *                        1xx responses are skipped.
 *
 * Bounds: at most ES_HTTP_MAX_HEAD bytes of response head are read (HTTP/1.1:
 * bytes of status line and header lines; HTTP/2: the RFC 7541 §4.1 size,
 * name + value + 32, of every header field of the response); past that the
 * check ends with what it has (a status already parsed is kept). On h2 at
 * most ES_HTTP_MAX_INPUT bytes are fed to nghttp2 (frames a hostile server
 * sends instead of an answer).
 *
 * Results (es_httpcheck_result):
 *   h2      the h2 column on the H2 modes: ok (the server's SETTINGS came
 *           first), no_settings (another frame came first, or a SETTINGS ACK),
 *           goaway_<code> (a GOAWAY came first), bad_frame (a frame nghttp2
 *           rejects as malformed before SETTINGS), eof, timeout. NULL on h1.
 *   status  the final status code, 0 when the GET was sent and no valid
 *           status line / :status arrived (eof, reset, timeout, not HTTP,
 *           the h2 connection failed or the stream was reset), -1 when no
 *           GET was sent (ES_HTTP_H2_SETTINGS).
 *   server  the Server header (first 95 bytes; server-supplied: the writer
 *           escapes it), "" when absent.
 *   date_s  the Date header as seconds since the epoch; ES_HTTP_NO_DATE when
 *           absent or unparseable. All three forms of RFC 9110 §5.6.7 (RFC
 *           7231 §7.1.1.1) are accepted: IMF-fixdate, the obsolete RFC 850
 *           form (two-digit year: RFC 9110's rule, the year less than 50
 *           years ahead of now) and asctime.
 *   h3      1 when Alt-Svc (the header, or an HTTP/2 ALTSVC frame, RFC 7838)
 *           names a protocol-id "h3" or a draft "h3-NN", 0 when it does not
 *           or is absent, -1 when no response head arrived.
 *
 * Memory: struct es_httpcheck is fixed-size (the caller embeds it; the
 * TLS probe does); the H2 modes attach an nghttp2 session (nghttp2's own
 * allocations) that es_httpcheck_end frees. */
#ifndef EDGESHAKE_HTTPCHECK_H
#define EDGESHAKE_HTTPCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_HTTP_MAX_HEAD   16384
#define ES_HTTP_MAX_INPUT  (256 * 1024)
#define ES_HTTP_SERVER_CAP 96
#define ES_HTTP_DATE_CAP   40
#define ES_HTTP_NO_DATE    INT64_MIN

enum es_http_mode {
    ES_HTTP_H2_SETTINGS = 1,
    ES_HTTP_H2_GET,
    ES_HTTP_H1_GET,
};

enum es_http_want {
    ES_HTTP_WANT_IO, /* write es_httpcheck_output, read more */
    ES_HTTP_DONE,    /* decided; output may still hold a polite goodbye */
};

struct es_http_result {
    const char *h2; /* token.h pointer, or "goaway_N" in the check's memory; NULL on h1 */
    int status;
    const char *server; /* in the check's memory, "" = absent */
    int64_t date_s;
    int h3;
};

/* The state: callers embed it and treat every field as private. */
struct es_httpcheck {
    enum es_http_mode _mode;
    int _state;
    void *_h2; /* nghttp2_session */
    const char *_path, *_host;
    uint16_t _port;
    uint32_t _out_off;     /* HTTP/1.1: bytes of the request handed out */
    const uint8_t *_h2out; /* nghttp2's pending output and its length */
    size_t _h2out_len;
    uint32_t _head, _input;
    int32_t _stream;
    const char *_h2tok;
    int _status, _h3;
    /* HTTP/1.1 head parser */
    uint8_t _p, _sub, _hdr, _nlen, _alen, _aq;
    uint16_t _vlen;
    char _name[16];
    char _alt[8];
    char _server[ES_HTTP_SERVER_CAP];
    char _date[ES_HTTP_DATE_CAP];
    char _goaway[24];
    char _portsuf[8];   /* ":PORT", "" for 443 */
    uint8_t _first[17]; /* h2: the first bytes of the server's stream */
};

/* Starts the check: mode, the request's path (NULL = "/"), host (Host /
 * :authority: the SNI name sent, else the target; an IPv6 literal is
 * bracketed here) and port (":PORT" is added unless 443). path and host are
 * borrowed until es_httpcheck_end. Returns ES_HTTP_WANT_IO with the first
 * bytes waiting in es_httpcheck_output, or ES_HTTP_DONE when nghttp2 could
 * not start (out of memory: h2 eof, status 0). es_httpcheck_end is needed
 * either way. */
enum es_http_want es_httpcheck_start(struct es_httpcheck *hc, enum es_http_mode mode,
                                     const char *path, const char *host, uint16_t port);
/* Copies up to cap bytes to send into buf; returns how many (0 = nothing
 * now). Call until it returns 0 after start and after every input. It may
 * decide the check too (on h2, nghttp2 answers a malformed server frame with
 * a GOAWAY, which is how the check learns of it: h2 bad_frame), so ask
 * es_httpcheck_done afterwards. */
size_t es_httpcheck_output(struct es_httpcheck *hc, uint8_t *buf, size_t cap);
/* True once the check is decided (ES_HTTP_DONE was or would be returned). */
bool es_httpcheck_done(const struct es_httpcheck *hc);
/* Decrypted bytes from the server. Returns ES_HTTP_DONE once decided (later
 * input is ignored). */
enum es_http_want es_httpcheck_input(struct es_httpcheck *hc, const uint8_t *data, size_t len);
/* The stream ended (close_notify, EOF, reset) or the deadline passed. */
enum es_http_want es_httpcheck_eof(struct es_httpcheck *hc);
enum es_http_want es_httpcheck_timeout(struct es_httpcheck *hc);
/* The results (see above). Strings stay valid until es_httpcheck_end. */
void es_httpcheck_result(const struct es_httpcheck *hc, int64_t now_s, struct es_http_result *r);
/* Frees the nghttp2 session; hc may then be started again. */
void es_httpcheck_end(struct es_httpcheck *hc);

/* An HTTP date (any of the three forms above) in s[0..len) as seconds since
 * the epoch into *out; now_s resolves RFC 850's two-digit year. Returns false
 * for anything else (trailing bytes other than spaces included). */
bool es_http_date_parse(const char *s, size_t len, int64_t now_s, int64_t *out);

/* The clock skew of a response: date_s - now_s in whole seconds, or
 * LONG_MIN (ES_ROW_NONE) when date_s is ES_HTTP_NO_DATE. */
long es_http_clock_skew(int64_t date_s, int64_t now_s);

#endif
