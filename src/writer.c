/* writer.c - see include/edgeshake/writer.h */
#include "edgeshake/writer.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "edgeshake/util.h"

const char *const es_row_columns[ES_ROW_NCOLUMNS] = {
    "time",
    "vantage",
    "host",
    "port",
    "ip",
    "family",
    "resolver",
    "ecs",
    "sni",
    "variant",
    "tls_offered",
    "alpn_offered",
    "ciphers_offered",
    "groups_offered",
    "attempt",
    "status",
    "error",
    "alert",
    "alert_name",
    "alert_from",
    "stage",
    "tls_version",
    "cipher",
    "kx_group",
    "alpn",
    "verify",
    "cert_sha256",
    "cert_subject",
    "cert_issuer",
    "cert_not_before",
    "cert_not_after",
    "ocsp_stapled",
    "h2",
    "dns_ms",
    "connect_ms",
    "handshake_ms",
    "total_ms",
    "resolver_addr",
    "problem",
    "kx_bits",
    "cert_key",
    "cert_sig",
    "cert_days_left",
    "chain_len",
    "hello",
    "hello_bytes",
    "http_status",
    "http_server",
    "clock_skew_s",
    "h3_advertised",
};

/* Column indexes, so that each emitter can assert it writes the next column. */
enum col {
    C_TIME,
    C_VANTAGE,
    C_HOST,
    C_PORT,
    C_IP,
    C_FAMILY,
    C_RESOLVER,
    C_ECS,
    C_SNI,
    C_VARIANT,
    C_TLS_OFFERED,
    C_ALPN_OFFERED,
    C_CIPHERS_OFFERED,
    C_GROUPS_OFFERED,
    C_ATTEMPT,
    C_STATUS,
    C_ERROR,
    C_ALERT,
    C_ALERT_NAME,
    C_ALERT_FROM,
    C_STAGE,
    C_TLS_VERSION,
    C_CIPHER,
    C_KX_GROUP,
    C_ALPN,
    C_VERIFY,
    C_CERT_SHA256,
    C_CERT_SUBJECT,
    C_CERT_ISSUER,
    C_CERT_NOT_BEFORE,
    C_CERT_NOT_AFTER,
    C_OCSP_STAPLED,
    C_H2,
    C_DNS_MS,
    C_CONNECT_MS,
    C_HANDSHAKE_MS,
    C_TOTAL_MS,
    C_RESOLVER_ADDR,
    C_PROBLEM,
    C_KX_BITS,
    C_CERT_KEY,
    C_CERT_SIG,
    C_CERT_DAYS_LEFT,
    C_CHAIN_LEN,
    C_HELLO,
    C_HELLO_BYTES,
    C_HTTP_STATUS,
    C_HTTP_SERVER,
    C_CLOCK_SKEW_S,
    C_H3_ADVERTISED,
    C_COUNT
};
_Static_assert(C_COUNT == ES_ROW_NCOLUMNS, "column enum and names disagree");

enum es_format es_format_from_name(const char *path, const char *explicit_name)
{
    if (explicit_name)
        return strcmp(explicit_name, "jsonl") == 0 ? ES_FORMAT_JSONL : ES_FORMAT_CSV;
    if (!path)
        return ES_FORMAT_CSV;
    size_t n = strlen(path);
    if (es_writer_zstd_name(path))
        n -= 4; /* scan.jsonl.zst is JSONL */
    static const char *const jsonl[] = {".jsonl", ".ndjson"};
    for (size_t i = 0; i < ES_ARRAY_LEN(jsonl); i++) {
        size_t k = strlen(jsonl[i]);
        if (n >= k && strncasecmp(path + n - k, jsonl[i], k) == 0)
            return ES_FORMAT_JSONL;
    }
    return ES_FORMAT_CSV;
}

bool es_writer_zstd_name(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n > 4 && strcasecmp(path + n - 4, ".zst") == 0;
}

/* ---- the row buffer ---------------------------------------------------- */

void es_rowbuf_reset(struct es_rowbuf *buf)
{
    buf->len = 0;
    buf->rows = 0;
}

void es_rowbuf_free(struct es_rowbuf *buf)
{
    free(buf->data);
    *buf = (struct es_rowbuf)ES_ROWBUF_INIT;
}

/* Makes room for n more bytes. Grows by doubling, so a warm buffer never
 * reallocates. */
static inline char *reserve(struct es_rowbuf *b, size_t n)
{
    if (b->cap - b->len < n) {
        size_t need = b->len + n;
        if (need < n)
            es_die(ES_EXIT_RUNTIME, "row buffer overflow");
        if (need < 4096)
            need = 4096;
        b->data = es_xgrow(b->data, &b->cap, need, 1);
    }
    return b->data + b->len;
}

static inline void put(struct es_rowbuf *b, const char *s, size_t n)
{
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static inline void putc1(struct es_rowbuf *b, char c)
{
    b->data[b->len++] = c;
}

static const char hex[] = "0123456789abcdef";

/* ---- numbers and times ------------------------------------------------- */

/* Decimal digits of v into out (no NUL); returns the length. */
static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static inline void two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS" for seconds since the epoch (0 <= sec < year 10000).
 * Days to a civil date by the usual era arithmetic (proleptic Gregorian
 * calendar; 146097 days per 400 years), no gmtime and no time zone. */
static void fmt_second(char out[19], uint64_t sec)
{
    uint64_t days = sec / 86400, tod = sec % 86400;
    uint64_t z = days + 719468; /* days since 0000-03-01 */
    uint64_t era = z / 146097, doe = z % 146097;
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153;
    unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    unsigned y = (unsigned)(yoe + era * 400 + (m <= 2));
    two(out, y / 100);
    two(out + 2, y % 100);
    out[4] = '-';
    two(out + 5, m);
    out[7] = '-';
    two(out + 8, d);
    out[10] = 'T';
    two(out + 11, (unsigned)(tod / 3600));
    out[13] = ':';
    two(out + 14, (unsigned)(tod / 60 % 60));
    out[16] = ':';
    two(out + 17, (unsigned)(tod % 60));
}

#define MAX_TIME_MS UINT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

static void fmt_millis(char out[5], unsigned ms)
{
    out[0] = '.';
    out[1] = (char)('0' + ms / 100);
    two(out + 2, ms % 100);
    out[4] = 'Z';
}

size_t es_format_time(char out[ES_TIME_LEN], uint64_t time_ms)
{
    if (time_ms > MAX_TIME_MS)
        time_ms = MAX_TIME_MS;
    fmt_second(out, time_ms / 1000);
    fmt_millis(out + 19, (unsigned)(time_ms % 1000));
    return ES_TIME_LEN;
}

/* es_format_time with the date-and-second part cached in the buffer: rows of
 * one worker mostly share their second. */
static void format_time_cached(struct es_rowbuf *b, char out[ES_TIME_LEN], uint64_t time_ms)
{
    if (time_ms > MAX_TIME_MS)
        time_ms = MAX_TIME_MS;
    uint64_t sec = time_ms / 1000;
    if (b->_tsec_plus1 != sec + 1) {
        fmt_second(b->_tsec_text, sec);
        b->_tsec_plus1 = sec + 1;
    }
    memcpy(out, b->_tsec_text, 19);
    fmt_millis(out + 19, (unsigned)(time_ms % 1000));
}

size_t es_format_ms(char out[ES_MS_MAXLEN], double ms)
{
    if (!(ms >= 0) || ms > 1e15)
        return 0;
    /* ms = mant * 2^exp exactly, mant < 2^53; then ms * 1000 = mant * 1000 *
     * 2^exp with mant * 1000 < 2^63, rounded to an integer half-to-even in
     * integer arithmetic: exact, and independent of locale and FPU mode. */
    int e;
    double frac = frexp(ms, &e);
    uint64_t mant = (uint64_t)ldexp(frac, 53);
    int exp2 = e - 53;
    uint64_t n = mant * 1000, q;
    if (exp2 >= 0) {
        q = n << exp2; /* ms <= 1e15 keeps this below 2^63 */
    } else if (-exp2 >= 64) {
        q = 0; /* ms < 2^53 * 2^-64 = 2^-11, so ms * 1000 < 0.5 */
    } else {
        unsigned s = (unsigned)-exp2;
        q = n >> s;
        uint64_t rem = n & ((UINT64_C(1) << s) - 1), half = UINT64_C(1) << (s - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
    }
    size_t len = fmt_u64(out, q / 1000);
    unsigned f = (unsigned)(q % 1000);
    out[len++] = '.';
    out[len++] = (char)('0' + f / 100);
    two(out + len, f % 100);
    return len + 2;
}

/* ---- strings ----------------------------------------------------------- */

/* 1 for bytes copied verbatim in both formats: printable ASCII except '"' and
 * '\\'. */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0),       R16(0),
    /* 0x20 */ 1, 1,      0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, R16(1), R16(1),
    /* 0x50 */ 1, 1,      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, R16(1),
    /* 0x70 */ 1, 1,      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
#undef R16
};

enum ukind {
    U_COPY,    /* valid, copied as is */
    U_ESCAPE,  /* valid but a control or line separator: escaped */
    U_INVALID, /* one byte that starts no valid sequence */
};

/* Classifies the sequence starting at p[0] >= 0x80, with n bytes left.
 * Sets *k to its length and *cp to its code point (U_ESCAPE). */
static enum ukind utf8_class(const unsigned char *p, size_t n, size_t *k, unsigned *cp)
{
    unsigned c = p[0], lo = 0x80, hi = 0xbf;
    *k = 1;
    if (c < 0xc2 || c > 0xf4)
        return U_INVALID;
    if (c < 0xe0) {
        if (n < 2 || (p[1] & 0xc0) != 0x80)
            return U_INVALID;
        *k = 2;
        *cp = (c & 0x1f) << 6 | (p[1] & 0x3f);
        return *cp < 0xa0 ? U_ESCAPE : U_COPY; /* C1 controls */
    }
    if (c < 0xf0) {
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
        if (n < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80)
            return U_INVALID;
        *k = 3;
        *cp = (c & 0x0f) << 12 | (unsigned)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        return *cp == 0x2028 || *cp == 0x2029 ? U_ESCAPE : U_COPY;
    }
    if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (n < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
        return U_INVALID;
    *k = 4;
    return U_COPY;
}

static inline void put_xhh(struct es_rowbuf *b, unsigned char c)
{
    char *o = b->data + b->len;
    o[0] = '\\';
    o[1] = 'x';
    o[2] = hex[c >> 4];
    o[3] = hex[c & 15];
    b->len += 4;
}

static inline void put_u4(struct es_rowbuf *b, unsigned cp)
{
    char *o = b->data + b->len;
    o[0] = '\\';
    o[1] = 'u';
    o[2] = hex[cp >> 12 & 15];
    o[3] = hex[cp >> 8 & 15];
    o[4] = hex[cp >> 4 & 15];
    o[5] = hex[cp & 15];
    b->len += 6;
}

/* Copies the longest run of plain bytes from p; returns its length. */
static inline size_t put_plain_run(struct es_rowbuf *b, const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && plain[p[i]])
        i++;
    put(b, (const char *)p, i);
    return i;
}

/* A CSV cell: escaped, then quoted when it holds ',' or '"'. Worst case 4
 * bytes out per byte in, plus 2 quotes. */
static void csv_str(struct es_rowbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    bool quote = memchr(s, ',', n) || memchr(s, '"', n);
    reserve(b, 4 * n + 2);
    if (quote)
        putc1(b, '"');
    size_t i = 0;
    while (i < n) {
        i += put_plain_run(b, p + i, n - i);
        if (i == n)
            break;
        unsigned char c = p[i];
        if (c == '"') {
            put(b, "\"\"", 2);
            i++;
        } else if (c == '\\') {
            put(b, "\\\\", 2);
            i++;
        } else if (c < 0x80) {
            put_xhh(b, c); /* C0 control or DEL */
            i++;
        } else {
            size_t k;
            unsigned cp;
            switch (utf8_class(p + i, n - i, &k, &cp)) {
            case U_COPY: put(b, (const char *)p + i, k); break;
            case U_ESCAPE:
            case U_INVALID:
                for (size_t j = 0; j < k; j++)
                    put_xhh(b, p[i + j]);
                break;
            }
            i += k;
        }
    }
    if (quote)
        putc1(b, '"');
}

/* A JSON string with its quotes. Worst case 6 bytes out per byte in. */
static void json_str(struct es_rowbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    reserve(b, 6 * n + 2);
    putc1(b, '"');
    size_t i = 0;
    while (i < n) {
        i += put_plain_run(b, p + i, n - i);
        if (i == n)
            break;
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t k;
            unsigned cp;
            switch (utf8_class(p + i, n - i, &k, &cp)) {
            case U_COPY: put(b, (const char *)p + i, k); break;
            case U_ESCAPE: put_u4(b, cp); break;
            case U_INVALID: put_u4(b, 0xfffd); break;
            }
            i += k;
            continue;
        }
        switch (c) {
        case '"': put(b, "\\\"", 2); break;
        case '\\': put(b, "\\\\", 2); break;
        case '\b': put(b, "\\b", 2); break;
        case '\f': put(b, "\\f", 2); break;
        case '\n': put(b, "\\n", 2); break;
        case '\r': put(b, "\\r", 2); break;
        case '\t': put(b, "\\t", 2); break;
        default: put_u4(b, c); break; /* other C0 controls, DEL */
        }
        i++;
    }
    putc1(b, '"');
}

/* ---- one row ----------------------------------------------------------- */

struct emit {
    struct es_rowbuf *b;
    enum es_format fmt;
    enum col next;
};

/* Writes the separator (and for JSON the key) of column c. */
static void cell_begin(struct emit *e, enum col c)
{
    assert(c == e->next);
    const char *name = es_row_columns[c];
    size_t nlen = strlen(name);
    reserve(e->b, nlen + 4);
    if (e->fmt == ES_FORMAT_CSV) {
        if (c != C_TIME)
            putc1(e->b, ',');
    } else {
        putc1(e->b, c == C_TIME ? '{' : ',');
        putc1(e->b, '"');
        put(e->b, name, nlen);
        put(e->b, "\":", 2);
    }
    e->next = c + 1;
}

static void cell_null(struct emit *e)
{
    if (e->fmt == ES_FORMAT_JSONL) {
        reserve(e->b, 4);
        put(e->b, "null", 4);
    }
}

static void cell_str(struct emit *e, enum col c, const char *s)
{
    cell_begin(e, c);
    size_t n = s ? strlen(s) : 0;
    if (n == 0)
        cell_null(e);
    else if (e->fmt == ES_FORMAT_CSV)
        csv_str(e->b, s, n);
    else
        json_str(e->b, s, n);
}

/* Text that needs no escaping (digits, times, yes/no), as a number or a
 * string in JSON. */
static void cell_text(struct emit *e, enum col c, const char *s, size_t n, bool json_string)
{
    cell_begin(e, c);
    if (n == 0) {
        cell_null(e);
        return;
    }
    bool q = json_string && e->fmt == ES_FORMAT_JSONL;
    reserve(e->b, n + 2);
    if (q)
        putc1(e->b, '"');
    put(e->b, s, n);
    if (q)
        putc1(e->b, '"');
}

static void cell_int(struct emit *e, enum col c, long v)
{
    char tmp[24];
    cell_text(e, c, tmp, v < 0 ? 0 : fmt_u64(tmp, (uint64_t)v), false);
}

/* A signed number; ES_ROW_NONE = empty. */
static void cell_long(struct emit *e, enum col c, long v)
{
    char tmp[24];
    size_t n = 0;
    if (v != ES_ROW_NONE) {
        if (v < 0)
            tmp[n++] = '-';
        n += fmt_u64(tmp + n, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    }
    cell_text(e, c, tmp, n, false);
}

static void cell_ms(struct emit *e, enum col c, double v)
{
    char tmp[ES_MS_MAXLEN];
    cell_text(e, c, tmp, es_format_ms(tmp, v), false);
}

static void cell_ocsp(struct emit *e, int v)
{
    cell_begin(e, C_OCSP_STAPLED);
    if (v < 0) {
        cell_null(e);
        return;
    }
    const char *s = e->fmt == ES_FORMAT_CSV ? (v ? "yes" : "no") : (v ? "true" : "false");
    size_t n = strlen(s);
    reserve(e->b, n);
    put(e->b, s, n);
}

void es_row_init(struct es_row *r)
{
    memset(r, 0, sizeof *r);
    r->attempt = r->alert = r->ocsp_stapled = -1;
    r->dns_ms = r->connect_ms = r->handshake_ms = r->total_ms = -1;
    r->kx_bits = r->chain_len = r->hello_bytes = r->http_status = -1;
    r->cert_days_left = r->clock_skew_s = ES_ROW_NONE;
}

static bool is(const char *s, const char *t)
{
    return s && strcmp(s, t) == 0;
}

const char *es_row_problem(const struct es_row *r)
{
    const char *st = r->status;
    if (!st || !*st || is(st, "planned"))
        return "";
    if (is(st, "dns_error"))
        return "dns";
    if (is(st, "connect_error") || (is(st, "timeout") && is(r->stage, "connect")))
        return "connect";
    if (!is(st, "ok"))
        return "tls";
    if (r->verify && *r->verify && !is(r->verify, "ok") && !is(r->verify, "off"))
        return "verify";
    if (r->h2 && *r->h2 && !is(r->h2, "ok"))
        return "h2";
    if (r->http_status == 0 || r->http_status >= 500)
        return "http";
    return "";
}

void es_row_format(struct es_rowbuf *buf, enum es_format fmt, const struct es_row *r)
{
    struct emit e = {buf, fmt, C_TIME};
    char t[ES_TIME_LEN];
    format_time_cached(buf, t, r->time_ms);
    cell_text(&e, C_TIME, t, ES_TIME_LEN, true);
    cell_str(&e, C_VANTAGE, r->vantage);
    cell_str(&e, C_HOST, r->host);
    cell_int(&e, C_PORT, r->port);
    cell_str(&e, C_IP, r->ip);
    cell_int(&e, C_FAMILY, r->family == 4 || r->family == 6 ? r->family : -1);
    cell_str(&e, C_RESOLVER, r->resolver);
    cell_str(&e, C_ECS, r->ecs);
    cell_str(&e, C_SNI, r->sni);
    cell_str(&e, C_VARIANT, r->variant);
    cell_str(&e, C_TLS_OFFERED, r->tls_offered);
    cell_str(&e, C_ALPN_OFFERED, r->alpn_offered);
    cell_str(&e, C_CIPHERS_OFFERED, r->ciphers_offered);
    cell_str(&e, C_GROUPS_OFFERED, r->groups_offered);
    cell_int(&e, C_ATTEMPT, r->attempt);
    cell_str(&e, C_STATUS, r->status);
    cell_str(&e, C_ERROR, r->error);
    cell_int(&e, C_ALERT, r->alert);
    cell_str(&e, C_ALERT_NAME, r->alert_name);
    cell_str(&e, C_ALERT_FROM, r->alert_from);
    cell_str(&e, C_STAGE, r->stage);
    cell_str(&e, C_TLS_VERSION, r->tls_version);
    cell_str(&e, C_CIPHER, r->cipher);
    cell_str(&e, C_KX_GROUP, r->kx_group);
    cell_str(&e, C_ALPN, r->alpn);
    cell_str(&e, C_VERIFY, r->verify);
    cell_str(&e, C_CERT_SHA256, r->cert_sha256);
    cell_str(&e, C_CERT_SUBJECT, r->cert_subject);
    cell_str(&e, C_CERT_ISSUER, r->cert_issuer);
    cell_str(&e, C_CERT_NOT_BEFORE, r->cert_not_before);
    cell_str(&e, C_CERT_NOT_AFTER, r->cert_not_after);
    cell_ocsp(&e, r->ocsp_stapled);
    cell_str(&e, C_H2, r->h2);
    cell_ms(&e, C_DNS_MS, r->dns_ms);
    cell_ms(&e, C_CONNECT_MS, r->connect_ms);
    cell_ms(&e, C_HANDSHAKE_MS, r->handshake_ms);
    cell_ms(&e, C_TOTAL_MS, r->total_ms);
    cell_str(&e, C_RESOLVER_ADDR, r->resolver_addr);
    cell_str(&e, C_PROBLEM, r->problem ? r->problem : es_row_problem(r));
    cell_int(&e, C_KX_BITS, r->kx_bits);
    cell_str(&e, C_CERT_KEY, r->cert_key);
    cell_str(&e, C_CERT_SIG, r->cert_sig);
    cell_long(&e, C_CERT_DAYS_LEFT, r->cert_days_left);
    cell_int(&e, C_CHAIN_LEN, r->chain_len);
    cell_str(&e, C_HELLO, r->hello);
    cell_int(&e, C_HELLO_BYTES, r->hello_bytes);
    cell_int(&e, C_HTTP_STATUS, r->http_status);
    cell_str(&e, C_HTTP_SERVER, r->http_server);
    cell_long(&e, C_CLOCK_SKEW_S, r->clock_skew_s);
    cell_str(&e, C_H3_ADVERTISED, r->h3_advertised);
    assert(e.next == C_COUNT);
    reserve(buf, 2);
    if (fmt == ES_FORMAT_JSONL)
        putc1(buf, '}');
    putc1(buf, '\n');
    buf->rows++;
}

void es_row_header(struct es_rowbuf *buf, enum es_format fmt)
{
    if (fmt != ES_FORMAT_CSV)
        return;
    for (size_t i = 0; i < ES_ROW_NCOLUMNS; i++) {
        size_t n = strlen(es_row_columns[i]);
        reserve(buf, n + 1);
        put(buf, es_row_columns[i], n);
        putc1(buf, i + 1 < ES_ROW_NCOLUMNS ? ',' : '\n');
    }
}

/* ---- rows of other files in the same encoding (enum rows) ---------------- */

static void generic_sep(struct es_rowbuf *b, enum es_format fmt, const char *key, bool first)
{
    if (fmt == ES_FORMAT_JSONL) {
        putc1(b, first ? '{' : ',');
        json_str(b, key, strlen(key));
        putc1(b, ':');
    } else if (!first) {
        putc1(b, ',');
    }
}

void es_cell_str(struct es_rowbuf *b, enum es_format fmt, const char *key, const char *s,
                 bool first)
{
    reserve(b, strlen(key) + 8);
    generic_sep(b, fmt, key, first);
    if (s && *s)
        (fmt == ES_FORMAT_JSONL ? json_str : csv_str)(b, s, strlen(s));
    else if (fmt == ES_FORMAT_JSONL)
        put(b, "null", 4);
}

void es_cell_num(struct es_rowbuf *b, enum es_format fmt, const char *key, long v, bool first)
{
    reserve(b, strlen(key) + 32);
    generic_sep(b, fmt, key, first);
    if (v >= 0)
        b->len += fmt_u64(b->data + b->len, (uint64_t)v);
    else if (fmt == ES_FORMAT_JSONL)
        put(b, "null", 4);
}

void es_cell_end(struct es_rowbuf *b, enum es_format fmt)
{
    reserve(b, 2);
    if (fmt == ES_FORMAT_JSONL)
        putc1(b, '}');
    putc1(b, '\n');
    b->rows++;
}

/* ---- the writer -------------------------------------------------------- */

/* Batches queued at most; a submitter blocks beyond that. With 64 KB
 * batches, the queue holds at most 2 MB of rows in flight to the disk. */
#define QUEUE_CAP 32

/* zstd: the rows of a frame are compressed into `out` and written when the
 * frame ends, so the file only ever holds whole frames, each ending on a
 * row boundary (a reader of a file cut by ENOSPC or a crash decodes whole
 * rows, and a failed write is cut back to the end of the last frame). A
 * frame ends once it holds ZFRAME_BYTES of rows (the ratio is then that of
 * one long stream: 1 MiB frames cost < 1% against 17% for 64 KiB ones, see
 * bench/zstd_cost.sh), after ZFRAME_MS without one ending (rows reach the
 * disk within about a second on a slow scan), on es_writer_flush and on
 * close. Only the writer thread touches it. */
#define ZFRAME_BYTES (1024 * 1024)
#define ZFRAME_MS    1000
#define ZLEVEL       3

struct zframe {
    ZSTD_CCtx *cctx;
    char *out; /* compressed bytes of the open frame */
    size_t len, cap;
    size_t in;     /* row bytes in the open frame; 0 = no frame open */
    uint64_t rows; /* rows in the open frame */
    uint64_t started_ms;
};

struct es_writer {
    int fd;
    bool own_fd;
    char *name;
    pthread_t thread;
    struct zframe *z; /* NULL: rows are written as they are */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t nonempty, notfull, idle;
    struct es_rowbuf queue[QUEUE_CAP]; /* ring */
    unsigned qcap;                     /* batches queued at most (<= QUEUE_CAP) */
    size_t qhead, qlen;
    struct es_rowbuf *spare; /* written buffers, handed back by submit */
    size_t nspare, spare_cap;
    bool busy;      /* the thread is writing a batch it took off the queue */
    bool closing;   /* close asked: drain the queue and exit */
    bool flush_req; /* es_writer_flush waits: end the open zstd frame */
    bool zopen;     /* a zstd frame is open (mirrors z->in != 0, under mu) */
    int err;        /* sticky -errno of the first write error */
    uint64_t rows;
    es_write_fn write_fn;
    void *write_ctx;
};

static void set_msg(char *err, size_t errlen, const char *name, int e)
{
    char sbuf[128];
    if (errlen)
        snprintf(err, errlen, "cannot write %s: %s", name, strerror_r(e, sbuf, sizeof sbuf));
}

/* Writes n bytes with as many write calls as it takes. Returns 0, or -errno
 * with the bytes that did get written in *done. */
static int write_all(struct es_writer *w, es_write_fn fn, void *ctx, const char *p, size_t n,
                     size_t *done)
{
    size_t off = 0;
    int ret = 0;
    while (off < n) {
        ssize_t r = fn ? fn(w->fd, p + off, n - off, ctx) : write(w->fd, p + off, n - off);
        if (r > 0) {
            off += (size_t)r;
        } else if (r == 0) {
            ret = -EIO; /* a write that makes no progress would spin */
            break;
        } else if (errno == EAGAIN) {
            /* a non-blocking stdout: wait until it drains */
            struct pollfd pfd = {.fd = w->fd, .events = POLLOUT};
            poll(&pfd, 1, 1000);
        } else if (errno != EINTR) {
            ret = -errno;
            break;
        }
    }
    *done = off;
    return ret;
}

/* After a failed write that got `done` bytes of the batch p out, cuts a
 * regular file back to the end of the last whole row. Best effort: when it
 * cannot, the sticky error is still reported. */
static void cut_partial_row(struct es_writer *w, const char *p, size_t done)
{
    size_t good = done;
    while (good > 0 && p[good - 1] != '\n')
        good--;
    struct stat st;
    if (good == done || fstat(w->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    off_t cur = lseek(w->fd, 0, SEEK_CUR);
    if (cur < (off_t)(done - good))
        return;
    off_t to = cur - (off_t)(done - good);
    if (ftruncate(w->fd, to) == 0)
        lseek(w->fd, to, SEEK_SET);
}

/* Runs the compressor over n bytes (mode ZSTD_e_continue or ZSTD_e_end),
 * appending its output to the frame. Returns 0 or -EIO (a zstd error). */
static int zrun(struct zframe *z, const char *p, size_t n, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        if (z->cap - z->len < ZSTD_CStreamOutSize())
            z->out = es_xgrow(z->out, &z->cap, z->len + ZSTD_CStreamOutSize(), 1);
        ZSTD_outBuffer out = {z->out + z->len, z->cap - z->len, 0};
        size_t r = ZSTD_compressStream2(z->cctx, &out, &in, mode);
        z->len += out.pos;
        if (ZSTD_isError(r))
            return -EIO;
        if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size)
            return 0;
    }
}

/* Ends the open frame and writes it whole. Adds its rows to *rows when it
 * reached the file; on a failed write, cuts a regular file back to where the
 * frame began, so the file still ends on a frame (and row) boundary. */
static int zend_frame(struct es_writer *w, es_write_fn fn, void *ctx, uint64_t *rows)
{
    struct zframe *z = w->z;
    int err = zrun(z, NULL, 0, ZSTD_e_end);
    size_t done = 0;
    if (!err)
        err = write_all(w, fn, ctx, z->out, z->len, &done);
    if (!err) {
        *rows += z->rows;
    } else {
        ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_only);
        struct stat st;
        if (done && fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode)) {
            off_t cur = lseek(w->fd, 0, SEEK_CUR);
            if (cur >= (off_t)done && ftruncate(w->fd, cur - (off_t)done) == 0)
                lseek(w->fd, cur - (off_t)done, SEEK_SET);
        }
    }
    z->len = 0;
    z->in = 0;
    z->rows = 0;
    return err;
}

/* Compresses one batch into the open frame (opening one if needed) and ends
 * the frame once it is big enough. */
static int zwrite_batch(struct es_writer *w, es_write_fn fn, void *ctx, const struct es_rowbuf *b,
                        uint64_t *rows)
{
    struct zframe *z = w->z;
    if (!z->in)
        z->started_ms = es_now_ms();
    int err = zrun(z, b->data, b->len, ZSTD_e_continue);
    z->in += b->len;
    z->rows += b->rows;
    if (err) {
        ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_only);
        z->len = z->in = 0;
        z->rows = 0;
        return err;
    }
    if (z->in >= ZFRAME_BYTES)
        return zend_frame(w, fn, ctx, rows);
    return 0;
}

/* Writes one batch; returns 0 or -errno and adds the whole rows that reached
 * the file to *rows. */
static int write_batch(struct es_writer *w, es_write_fn fn, void *ctx, const struct es_rowbuf *b,
                       uint64_t *rows)
{
    if (w->z)
        return zwrite_batch(w, fn, ctx, b, rows);
    size_t done;
    int err = write_all(w, fn, ctx, b->data, b->len, &done);
    if (!err) {
        *rows += b->rows;
        return 0;
    }
    /* Every '\n' ends a row (rows hold no raw LF); the header has rows = 0. */
    uint64_t whole = 0;
    for (size_t i = 0; i < done; i++)
        whole += b->data[i] == '\n';
    *rows += whole < b->rows ? whole : b->rows;
    cut_partial_row(w, b->data, done);
    return err;
}

/* Under mu, with the queue empty: whether the open zstd frame should end
 * now; else, when one is open, the monotonic deadline to wait for in *until. */
static bool zframe_due(struct es_writer *w, uint64_t *until)
{
    *until = 0;
    if (!w->zopen)
        return false;
    if (w->closing || w->flush_req || w->err)
        return true;
    uint64_t due = w->z->started_ms + ZFRAME_MS;
    if (es_now_ms() >= due)
        return true;
    *until = due;
    return false;
}

/* Waits on nonempty until the monotonic time until_ms (0 = no limit). */
static void wait_nonempty(struct es_writer *w, uint64_t until_ms)
{
    if (!until_ms) {
        pthread_cond_wait(&w->nonempty, &w->mu);
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000),
                          .tv_nsec = (long)(until_ms % 1000) * 1000000L};
    pthread_cond_timedwait(&w->nonempty, &w->mu, &ts);
}

/* Ends the open zstd frame from the writer loop (mu held on entry and exit). */
static void zflush_locked(struct es_writer *w)
{
    w->busy = true;
    int err = w->err;
    es_write_fn fn = w->write_fn;
    void *ctx = w->write_ctx;
    pthread_mutex_unlock(&w->mu);
    uint64_t rows = 0;
    if (!err) {
        err = zend_frame(w, fn, ctx, &rows);
    } else { /* after an error, the open frame is dropped like any batch */
        ZSTD_CCtx_reset(w->z->cctx, ZSTD_reset_session_only);
        w->z->len = w->z->in = 0;
        w->z->rows = 0;
    }
    pthread_mutex_lock(&w->mu);
    w->rows += rows;
    if (err && !w->err)
        w->err = err;
    w->zopen = false;
    w->flush_req = false;
    w->busy = false;
    pthread_cond_broadcast(&w->idle);
}

static void *writer_main(void *arg)
{
    struct es_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        uint64_t until;
        while (w->qlen == 0 && !w->closing && !zframe_due(w, &until))
            wait_nonempty(w, until);
        if (w->qlen == 0) {
            if (w->zopen) {
                zflush_locked(w);
                continue;
            }
            break; /* closing and drained */
        }
        struct es_rowbuf b = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % QUEUE_CAP;
        w->qlen--;
        w->busy = true;
        int err = w->err;
        es_write_fn fn = w->write_fn;
        void *ctx = w->write_ctx;
        pthread_cond_signal(&w->notfull);
        pthread_mutex_unlock(&w->mu);

        uint64_t rows = 0;
        if (!err) /* after an error, batches are dropped */
            err = write_batch(w, fn, ctx, &b, &rows);

        pthread_mutex_lock(&w->mu);
        w->rows += rows;
        if (err && !w->err)
            w->err = err;
        w->zopen = w->z && w->z->in;
        if (!w->zopen)
            w->flush_req = false; /* the frame a flush asked for has ended (by size) */
        es_rowbuf_reset(&b);
        w->spare = es_xgrow(w->spare, &w->spare_cap, w->nspare + 1, sizeof *w->spare);
        w->spare[w->nspare++] = b;
        w->busy = false;
        if (w->qlen == 0) /* es_writer_flush then asks for the open frame, if any */
            pthread_cond_broadcast(&w->idle);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void writer_free(struct es_writer *w)
{
    if (w->z) {
        ZSTD_freeCCtx(w->z->cctx);
        free(w->z->out);
        free(w->z);
    }
    for (size_t i = 0; i < w->nspare; i++)
        es_rowbuf_free(&w->spare[i]);
    free(w->spare);
    free(w->name);
    pthread_cond_destroy(&w->nonempty);
    pthread_cond_destroy(&w->notfull);
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static struct es_writer *writer_start(int fd, bool own_fd, const char *name, enum es_format fmt,
                                      char *err, size_t errlen)
{
    struct es_writer *w = es_xcalloc(1, sizeof *w);
    w->fd = fd;
    w->own_fd = own_fd;
    w->name = es_xstrdup(name);
    w->qcap = QUEUE_CAP;
    if (es_writer_zstd_name(name)) {
        w->z = es_xcalloc(1, sizeof *w->z);
        w->z->cctx = ZSTD_createCCtx();
        if (!w->z->cctx)
            es_die(ES_EXIT_RUNTIME, "out of memory (zstd)");
        ZSTD_CCtx_setParameter(w->z->cctx, ZSTD_c_compressionLevel, ZLEVEL);
        ZSTD_CCtx_setParameter(w->z->cctx, ZSTD_c_checksumFlag, 1);
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca; /* timed waits for the zstd frame deadline: monotonic */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->nonempty, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&w->notfull, NULL);
    pthread_cond_init(&w->idle, NULL);

    /* The thread inherits a full signal mask: SIGINT/SIGTERM go to the
     * threads that handle them, and a closed pipe gives EPIPE here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        set_msg(err, errlen, name, rc);
        if (own_fd)
            close(fd);
        writer_free(w);
        return NULL;
    }

    /* The header goes through the thread like any batch, so that it too is
     * written with SIGPIPE blocked; its failure fails the open. */
    struct es_rowbuf hdr = ES_ROWBUF_INIT;
    es_row_header(&hdr, fmt);
    es_writer_submit(w, &hdr);
    es_rowbuf_free(&hdr);
    if (es_writer_flush(w) < 0) {
        es_writer_close(w, NULL, err, errlen);
        return NULL;
    }
    if (errlen)
        err[0] = '\0';
    return w;
}

struct es_writer *es_writer_open(const char *path, enum es_format fmt, char *err, size_t errlen)
{
    if (strcmp(path, "-") == 0)
        return writer_start(STDOUT_FILENO, false, "stdout", fmt, err, errlen);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        set_msg(err, errlen, path, errno);
        return NULL;
    }
    return writer_start(fd, true, path, fmt, err, errlen);
}

struct es_writer *es_writer_fdopen(int fd, const char *name, enum es_format fmt, char *err,
                                   size_t errlen)
{
    return writer_start(fd, false, name, fmt, err, errlen);
}

/* Queues *batch; called with w->mu held and room in the queue (or an error), unlocks it. */
static int submit_locked(struct es_writer *w, struct es_rowbuf *batch)
{
    int err = w->err;
    if (err || batch->len == 0) {
        es_rowbuf_reset(batch);
        pthread_mutex_unlock(&w->mu);
        return err;
    }
    w->queue[(w->qhead + w->qlen) % QUEUE_CAP] = *batch;
    w->qlen++;
    if (w->nspare)
        *batch = w->spare[--w->nspare];
    else
        *batch = (struct es_rowbuf)ES_ROWBUF_INIT;
    pthread_cond_signal(&w->nonempty);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int es_writer_submit(struct es_writer *w, struct es_rowbuf *batch)
{
    pthread_mutex_lock(&w->mu);
    while (w->qlen >= w->qcap && !w->err)
        pthread_cond_wait(&w->notfull, &w->mu);
    return submit_locked(w, batch);
}

int es_writer_try_submit(struct es_writer *w, struct es_rowbuf *batch)
{
    pthread_mutex_lock(&w->mu);
    if (w->qlen >= w->qcap && !w->err && batch->len > 0) {
        pthread_mutex_unlock(&w->mu);
        return -EAGAIN;
    }
    return submit_locked(w, batch);
}

void es_writer_set_queue_cap(struct es_writer *w, unsigned n)
{
    pthread_mutex_lock(&w->mu);
    w->qcap = n < 1 ? 1 : n > QUEUE_CAP ? QUEUE_CAP : n;
    pthread_cond_broadcast(&w->notfull);
    pthread_mutex_unlock(&w->mu);
}

int es_writer_flush(struct es_writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->qlen > 0 || w->busy || w->zopen) {
        if (w->zopen && !w->flush_req) {
            w->flush_req = true;
            pthread_cond_signal(&w->nonempty);
        }
        pthread_cond_wait(&w->idle, &w->mu);
    }
    int err = w->err;
    pthread_mutex_unlock(&w->mu);
    return err;
}

int es_writer_error(struct es_writer *w)
{
    pthread_mutex_lock(&w->mu);
    int err = w->err;
    pthread_mutex_unlock(&w->mu);
    return err;
}

uint64_t es_writer_rows(struct es_writer *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t rows = w->rows;
    pthread_mutex_unlock(&w->mu);
    return rows;
}

void es_writer_set_write_fn(struct es_writer *w, es_write_fn fn, void *ctx)
{
    pthread_mutex_lock(&w->mu);
    w->write_fn = fn;
    w->write_ctx = ctx;
    pthread_mutex_unlock(&w->mu);
}

int es_writer_close(struct es_writer *w, uint64_t *rows, char *err, size_t errlen)
{
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    pthread_cond_signal(&w->nonempty);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);

    /* close(2) can report a deferred write error (NFS, quotas). On Linux the
     * descriptor is gone even when it fails with EINTR: never retry. */
    if (w->own_fd && close(w->fd) < 0 && !w->err && errno != EINTR)
        w->err = -errno;
    int ret = w->err;
    if (rows)
        *rows = w->rows;
    if (ret)
        set_msg(err, errlen, w->name, -ret);
    else if (errlen)
        err[0] = '\0';
    writer_free(w);
    return ret;
}
