/* test_writer.c - the scan file: exact CSV and JSONL bytes, escaping and quoting,
 * times and durations, and the threaded writer (whole rows, errors, ENOSPC). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edgeshake/writer.h"
#include "testlib.h"

/* Written out by hand from DESIGN §3.2, not from es_row_columns. */
static const char header[] =
    "time,vantage,host,port,ip,family,resolver,ecs,sni,variant,tls_offered,alpn_offered,"
    "ciphers_offered,groups_offered,attempt,status,error,alert,alert_name,alert_from,stage,"
    "tls_version,cipher,kx_group,alpn,verify,cert_sha256,cert_subject,cert_issuer,"
    "cert_not_before,cert_not_after,ocsp_stapled,h2,dns_ms,connect_ms,handshake_ms,total_ms,"
    "resolver_addr,problem,kx_bits,cert_key,cert_sig,cert_days_left,chain_len,hello,hello_bytes,"
    "http_status,http_server,clock_skew_s,h3_advertised\n";

/* An assertion for loops of many thousand checks: ck_assert records its
 * location on every call, which is slow at that count. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

#define NCOL        50
#define SUBJECT_COL 27
#define HOST_COL    2

#define SHA    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define T_2026 UINT64_C(1795430096789) /* 2026-11-23T10:34:56.789Z */

static struct es_row full_row(void)
{
    return (struct es_row){
        .time_ms = T_2026,
        .vantage = "fra1",
        .host = "shop.example.test",
        .port = 8443,
        .ip = "127.88.2.1",
        .family = 4,
        .resolver = "eu;us",
        .ecs = "198.51.100.0/24",
        .sni = "shop.example.test",
        .variant = "tls1.2/h2,http1.1/sni",
        .tls_offered = "1.2",
        .alpn_offered = "h2,http/1.1",
        .ciphers_offered = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
        .groups_offered = "X25519:P-256",
        .attempt = 2,
        .status = "alert",
        .error = "no_shared_cipher",
        .alert = 40,
        .alert_name = "handshake_failure",
        .alert_from = "peer",
        .stage = "server_hello",
        .tls_version = "1.2",
        .cipher = "ECDHE-ECDSA-AES128-GCM-SHA256",
        .kx_group = "X25519",
        .alpn = "h2",
        .verify = "ok",
        .cert_sha256 = SHA,
        .cert_subject = "CN=shop.example.test,O=Example",
        .cert_issuer = "CN=edgeshake lab CA",
        .cert_not_before = "2026-01-01T00:00:00Z",
        .cert_not_after = "2027-01-01T00:00:00Z",
        .ocsp_stapled = 1,
        .h2 = "ok",
        .dns_ms = 1.5,
        .connect_ms = 0.25,
        .handshake_ms = 12.3456,
        .total_ms = 14.0,
        .resolver_addr = "127.88.53.1:5353;127.88.53.2:5353",
        .kx_bits = 253,
        .cert_key = "ec256",
        .cert_sig = "ecdsa-with-SHA256",
        .cert_days_left = -3,
        .chain_len = 2,
        .hello = "plain",
        .hello_bytes = 517,
        .http_status = 200,
        .http_server = "nginx/1.22",
        .clock_skew_s = -61,
        .h3_advertised = "no",
    };
}

/* Every string NULL or "", every number negative: all cells empty but time. */
static struct es_row empty_row(uint64_t time_ms)
{
    return (struct es_row){
        .time_ms = time_ms,
        .ecs = "",
        .port = -1,
        .attempt = -1,
        .alert = -1,
        .ocsp_stapled = -1,
        .dns_ms = -1,
        .connect_ms = -1,
        .handshake_ms = -1,
        .total_ms = -0.001,
        .kx_bits = -1,
        .cert_days_left = ES_ROW_NONE,
        .chain_len = -1,
        .hello_bytes = -1,
        .http_status = -1,
        .clock_skew_s = ES_ROW_NONE,
    };
}

static const char full_csv[] =
    "2026-11-23T10:34:56.789Z,fra1,shop.example.test,8443,127.88.2.1,4,eu;us,198.51.100.0/24,"
    "shop.example.test,\"tls1.2/h2,http1.1/sni\",1.2,\"h2,http/1.1\","
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256,X25519:P-256,2,alert,"
    "no_shared_cipher,40,handshake_failure,peer,server_hello,1.2,ECDHE-ECDSA-AES128-GCM-SHA256,"
    "X25519,h2,ok," SHA ",\"CN=shop.example.test,O=Example\",CN=edgeshake lab CA,"
    "2026-01-01T00:00:00Z,2027-01-01T00:00:00Z,yes,ok,1.500,0.250,12.346,14.000,"
    "127.88.53.1:5353;127.88.53.2:5353,tls,253,ec256,ecdsa-with-SHA256,-3,2,plain,517,200,"
    "nginx/1.22,-61,no\n";

static const char full_jsonl[] =
    "{\"time\":\"2026-11-23T10:34:56.789Z\",\"vantage\":\"fra1\",\"host\":\"shop.example.test\","
    "\"port\":8443,\"ip\":\"127.88.2.1\",\"family\":4,\"resolver\":\"eu;us\","
    "\"ecs\":\"198.51.100.0/24\",\"sni\":\"shop.example.test\","
    "\"variant\":\"tls1.2/h2,http1.1/sni\",\"tls_offered\":\"1.2\","
    "\"alpn_offered\":\"h2,http/1.1\","
    "\"ciphers_offered\":\"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\","
    "\"groups_offered\":\"X25519:P-256\",\"attempt\":2,\"status\":\"alert\","
    "\"error\":\"no_shared_cipher\",\"alert\":40,\"alert_name\":\"handshake_failure\","
    "\"alert_from\":\"peer\",\"stage\":\"server_hello\",\"tls_version\":\"1.2\","
    "\"cipher\":\"ECDHE-ECDSA-AES128-GCM-SHA256\",\"kx_group\":\"X25519\",\"alpn\":\"h2\","
    "\"verify\":\"ok\",\"cert_sha256\":\"" SHA "\","
    "\"cert_subject\":\"CN=shop.example.test,O=Example\","
    "\"cert_issuer\":\"CN=edgeshake lab CA\",\"cert_not_before\":\"2026-01-01T00:00:00Z\","
    "\"cert_not_after\":\"2027-01-01T00:00:00Z\",\"ocsp_stapled\":true,\"h2\":\"ok\","
    "\"dns_ms\":1.500,\"connect_ms\":0.250,\"handshake_ms\":12.346,\"total_ms\":14.000,"
    "\"resolver_addr\":\"127.88.53.1:5353;127.88.53.2:5353\",\"problem\":\"tls\","
    "\"kx_bits\":253,\"cert_key\":\"ec256\",\"cert_sig\":\"ecdsa-with-SHA256\","
    "\"cert_days_left\":-3,\"chain_len\":2,\"hello\":\"plain\",\"hello_bytes\":517,"
    "\"http_status\":200,\"http_server\":\"nginx/1.22\",\"clock_skew_s\":-61,"
    "\"h3_advertised\":\"no\"}\n";

/* Formats one row into a fresh NUL-terminated malloc'd string. */
static char *format_one(enum es_format fmt, const struct es_row *row)
{
    struct es_rowbuf b = ES_ROWBUF_INIT;
    es_row_format(&b, fmt, row);
    ck_assert_uint_eq(b.rows, 1);
    char *s = strndup(b.data, b.len);
    es_rowbuf_free(&b);
    return s;
}

/* ---- a tiny RFC 4180 reader and the inverse of the cell escape ---------- */

/* Parses one record starting at *pp (< end): fields separated by ',', ended
 * by '\n' outside quotes; quoted fields with "" for '"'. Field texts are
 * stored NUL-terminated in out (as large as the input), pointers in f.
 * Returns the number of fields and advances *pp past the '\n', or -1 when
 * the record is malformed or unterminated. */
static int csv_record(const char **pp, const char *end, char *out, char **f, int maxf)
{
    const char *p = *pp;
    int n = 0;
    for (;;) {
        if (n == maxf)
            return -1;
        f[n++] = out;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p == end)
                    return -1;
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            if (p == end || (*p != ',' && *p != '\n'))
                return -1;
        } else {
            while (p < end && *p != ',' && *p != '\n') {
                if (*p == '"')
                    return -1; /* a quote inside an unquoted field */
                *out++ = *p++;
            }
            if (p == end)
                return -1;
        }
        *out++ = '\0';
        if (*p++ == '\n')
            break;
    }
    *pp = p;
    return n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* the writer uses lower case only */
}

/* Undoes the cell escape in place ("\\" -> '\', "\xhh" -> byte). Returns
 * false on any other use of a backslash. */
static bool unescape(char *s)
{
    char *o = s;
    while (*s) {
        if (*s != '\\') {
            *o++ = *s++;
        } else if (s[1] == '\\') {
            *o++ = '\\';
            s += 2;
        } else if (s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
            *o++ = (char)(hexval(s[2]) << 4 | hexval(s[3]));
            s += 4;
        } else {
            return false;
        }
    }
    *o = '\0';
    return true;
}

/* ---- a strict validator for one JSONL line ------------------------------ */

enum jtype { J_STRING, J_NUMBER, J_NULL, J_TRUE, J_FALSE };

struct jval {
    enum jtype type;
    char text[512]; /* decoded string, or the token */
};

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid. */
static size_t utf8_valid(const unsigned char *p)
{
    int need;
    unsigned cp, min;
    if ((p[0] & 0xe0) == 0xc0)
        need = 1, cp = p[0] & 0x1f, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
        need = 2, cp = p[0] & 0x0f, min = 0x800;
    else if ((p[0] & 0xf8) == 0xf0)
        need = 3, cp = p[0] & 0x07, min = 0x10000;
    else
        return 0;
    for (int i = 1; i <= need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return (size_t)need + 1;
}

static bool json_string(const char **pp, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)*pp;
    size_t o = 0;
    if (*p++ != '"')
        return false;
    for (;;) {
        if (o + 4 >= outlen)
            return false;
        unsigned c = *p;
        if (c == '"') {
            p++;
            break;
        }
        if (c < 0x20)
            return false; /* raw control (also the NUL at the end) */
        if (c == '\\') {
            const char *esc = "\"\\/bfnrt", *dec = "\"\\/\b\f\n\r\t";
            const char *k = p[1] ? strchr(esc, p[1]) : NULL;
            if (k) {
                out[o++] = dec[k - esc];
                p += 2;
            } else if (p[1] == 'u') {
                unsigned cp = 0;
                for (int i = 2; i < 6; i++) {
                    int h = hexval((char)p[i]);
                    if (h < 0)
                        return false;
                    cp = cp << 4 | (unsigned)h;
                }
                if (cp >= 0xd800 && cp <= 0xdfff)
                    return false; /* the writer never needs surrogate pairs */
                o += utf8_put(out + o, cp);
                p += 6;
            } else {
                return false;
            }
        } else if (c >= 0x80) {
            size_t k = utf8_valid(p);
            if (!k)
                return false;
            memcpy(out + o, p, k);
            o += k;
            p += k;
        } else {
            out[o++] = (char)*p++;
        }
    }
    out[o] = '\0';
    *pp = (const char *)p;
    return true;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char **pp, char *out, size_t outlen)
{
    const char *p = *pp, *start = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (*p == '.') {
        if (!(*++p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if ((size_t)(p - start) >= outlen)
        return false;
    memcpy(out, start, (size_t)(p - start));
    out[p - start] = '\0';
    *pp = p;
    return true;
}

/* Parses one line "{...}\n" whose keys must be `keys` in order; fills v.
 * Returns NULL or what is wrong. */
static const char *json_line(const char *line, const char *const *keys, int nkeys, struct jval *v)
{
    const char *p = line;
    char key[64];
    if (*p++ != '{')
        return "no '{'";
    for (int i = 0; i < nkeys; i++) {
        if (i > 0 && *p++ != ',')
            return "no ','";
        if (!json_string(&p, key, sizeof key))
            return "bad key";
        if (strcmp(key, keys[i]) != 0)
            return "key out of order";
        if (*p++ != ':')
            return "no ':'";
        if (*p == '"') {
            v[i].type = J_STRING;
            if (!json_string(&p, v[i].text, sizeof v[i].text))
                return "bad string";
        } else if (strncmp(p, "null", 4) == 0) {
            v[i].type = J_NULL;
            p += 4;
        } else if (strncmp(p, "true", 4) == 0) {
            v[i].type = J_TRUE;
            p += 4;
        } else if (strncmp(p, "false", 5) == 0) {
            v[i].type = J_FALSE;
            p += 5;
        } else {
            v[i].type = J_NUMBER;
            if (!json_number(&p, v[i].text, sizeof v[i].text))
                return "bad value";
        }
    }
    if (*p++ != '}')
        return "no '}' after the last key";
    if (*p++ != '\n' || *p != '\0')
        return "not one line";
    return NULL;
}

/* The column names split from the hand-written header. */
static const char *const *header_keys(void)
{
    static char buf[sizeof header];
    static const char *keys[NCOL];
    memcpy(buf, header, sizeof header);
    char *save, *s = strtok_r(buf, ",\n", &save);
    for (int i = 0; i < NCOL; i++, s = strtok_r(NULL, ",\n", &save))
        keys[i] = s;
    return keys;
}

/* ---- formatting --------------------------------------------------------- */

START_TEST(test_header)
{
    struct es_rowbuf b = ES_ROWBUF_INIT;
    es_row_header(&b, ES_FORMAT_CSV);
    ck_assert_uint_eq(b.len, strlen(header));
    ck_assert(memcmp(b.data, header, b.len) == 0);
    ck_assert_uint_eq(b.rows, 0);
    es_row_header(&b, ES_FORMAT_JSONL);
    ck_assert_uint_eq(b.len, strlen(header)); /* JSONL has no header */
    es_rowbuf_free(&b);
    const char *const *keys = header_keys();
    for (int i = 0; i < NCOL; i++)
        ck_assert_str_eq(es_row_columns[i], keys[i]);
}
END_TEST

START_TEST(test_full_row_csv)
{
    struct es_row r = full_row();
    char *s = format_one(ES_FORMAT_CSV, &r);
    ck_assert_str_eq(s, full_csv);
    free(s);
}
END_TEST

START_TEST(test_dns_error_row_csv)
{
    struct es_row r = empty_row(T_2026);
    r.vantage = "fra1";
    r.host = "gone.example.test";
    r.port = 443;
    r.resolver = "eu";
    r.status = "dns_error";
    r.error = "nxdomain";
    r.dns_ms = 3.25;
    char *s = format_one(ES_FORMAT_CSV, &r);
    ck_assert_str_eq(s, "2026-11-23T10:34:56.789Z,fra1,gone.example.test,443,,,eu,,,,,,,,,"
                        "dns_error,nxdomain,,,,,,,,,,,,,,,,,3.250,,,,,dns,,,,,,,,,,,\n");
    free(s);

    struct es_row e = empty_row(0);
    s = format_one(ES_FORMAT_CSV, &e);
    ck_assert_str_eq(s, "1970-01-01T00:00:00.000Z,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n");
    free(s);
    s = format_one(ES_FORMAT_JSONL, &e);
    char want[2048] = "{\"time\":\"1970-01-01T00:00:00.000Z\"";
    for (int i = 1; i < NCOL; i++) {
        strcat(want, ",\"");
        strcat(want, header_keys()[i]);
        strcat(want, "\":null");
    }
    strcat(want, "}\n");
    ck_assert_str_eq(s, want);
    free(s);
}
END_TEST

START_TEST(test_full_row_jsonl)
{
    struct es_row r = full_row();
    char *s = format_one(ES_FORMAT_JSONL, &r);
    ck_assert_str_eq(s, full_jsonl);
    struct jval v[NCOL];
    const char *why = json_line(s, header_keys(), NCOL, v);
    ck_assert_msg(why == NULL, "invalid JSONL: %s", why);
    ck_assert_int_eq(v[3].type, J_NUMBER);
    ck_assert_str_eq(v[3].text, "8443");
    ck_assert_int_eq(v[31].type, J_TRUE);
    ck_assert_int_eq(v[36].type, J_NUMBER);
    ck_assert_str_eq(v[36].text, "14.000");
    free(s);

    r.ocsp_stapled = 0;
    s = format_one(ES_FORMAT_JSONL, &r);
    ck_assert_ptr_nonnull(strstr(s, ",\"ocsp_stapled\":false,"));
    free(s);
    s = format_one(ES_FORMAT_CSV, &r);
    ck_assert_ptr_nonnull(strstr(s, ",no,ok,1.500,"));
    free(s);
    r.family = 6;
    s = format_one(ES_FORMAT_JSONL, &r);
    ck_assert_ptr_nonnull(strstr(s, ",\"family\":6,"));
    free(s);
    r.family = 5; /* not a family: empty */
    s = format_one(ES_FORMAT_CSV, &r);
    ck_assert_ptr_nonnull(strstr(s, ",127.88.2.1,,eu;us,"));
    free(s);
}
END_TEST

struct esc_case {
    const char *in;
    const char *csv;  /* the cell as written, quotes included */
    const char *json; /* the JSON value as written */
    bool lossless;    /* valid UTF-8: JSON decodes back to `in` */
};

static const struct esc_case esc_cases[] = {
    {"plain", "plain", "\"plain\"", true},
    {"a,b", "\"a,b\"", "\"a,b\"", true},
    {"say \"hi\"", "\"say \"\"hi\"\"\"", "\"say \\\"hi\\\"\"", true},
    {"a\rb", "a\\x0db", "\"a\\rb\"", true},
    {"a\nb", "a\\x0ab", "\"a\\nb\"", true},
    {"a\r\nb", "a\\x0d\\x0ab", "\"a\\r\\nb\"", true},
    {"C:\\dir", "C:\\\\dir", "\"C:\\\\dir\"", true},
    {"\\x41", "\\\\x41", "\"\\\\x41\"", true},
    {"a\tb", "a\\x09b", "\"a\\tb\"", true},
    {"\x01\x1f", "\\x01\\x1f", "\"\\u0001\\u001f\"", true},
    {"del\x7f", "del\\x7f", "\"del\\u007f\"", true},
    {"\b\f", "\\x08\\x0c", "\"\\b\\f\"", true},
    {"caf\xc3\xa9", "caf\xc3\xa9", "\"caf\xc3\xa9\"", true},
    {"\xe2\x82\xac 5", "\xe2\x82\xac 5", "\"\xe2\x82\xac 5\"", true},
    {"\xf0\x9f\x94\x92", "\xf0\x9f\x94\x92", "\"\xf0\x9f\x94\x92\"", true},
    {"\xe4\xb8\xad,\xe6\x96\x87", "\"\xe4\xb8\xad,\xe6\x96\x87\"", "\"\xe4\xb8\xad,\xe6\x96\x87\"",
     true},
    {"\xc2\xa0", "\xc2\xa0", "\"\xc2\xa0\"", true},  /* U+00A0 is not C1 */
    {"\xc2\x85", "\\xc2\\x85", "\"\\u0085\"", true}, /* NEL, a C1 control */
    {"a\xe2\x80\xa8"
     "b",
     "a\\xe2\\x80\\xa8b", "\"a\\u2028b\"", true},
    {"\xff", "\\xff", "\"\\ufffd\"", false},
    {"x\xe9"
     "y",
     "x\\xe9y", "\"x\\ufffdy\"", false},                     /* Latin-1 */
    {"\xc3", "\\xc3", "\"\\ufffd\"", false},                 /* truncated */
    {"\xc0\xaf", "\\xc0\\xaf", "\"\\ufffd\\ufffd\"", false}, /* overlong '/' */
    {"\xe0\x80\xaf", "\\xe0\\x80\\xaf", "\"\\ufffd\\ufffd\\ufffd\"", false},
    {"\xed\xa0\x80", "\\xed\\xa0\\x80", "\"\\ufffd\\ufffd\\ufffd\"", false}, /* surrogate */
    {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", false},
    {"\xe2\x82", "\\xe2\\x82", "\"\\ufffd\\ufffd\"", false},
    {"CN=a,\"b\"\nc", "\"CN=a,\"\"b\"\"\\x0ac\"", "\"CN=a,\\\"b\\\"\\nc\"", true},
};

/* The expected line of a row whose only cells are time (0) and cert_subject. */
static void subject_line(char *out, size_t len, enum es_format fmt, const char *value)
{
    const char *const *keys = header_keys();
    size_t o = 0;
    for (int i = 0; i < NCOL; i++) {
        const char *v = i == 0                 ? (fmt == ES_FORMAT_CSV ? "1970-01-01T00:00:00.000Z"
                                                                       : "\"1970-01-01T00:00:00.000Z\"")
                        : i == SUBJECT_COL     ? value
                        : fmt == ES_FORMAT_CSV ? ""
                                               : "null";
        if (fmt == ES_FORMAT_CSV)
            o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "", v);
        else
            o += (size_t)snprintf(out + o, len - o, "%s\"%s\":%s", i ? "," : "{", keys[i], v);
    }
    snprintf(out + o, len - o, "%s\n", fmt == ES_FORMAT_CSV ? "" : "}");
}

START_TEST(test_escape_case)
{
    const struct esc_case *c = &esc_cases[_i];
    struct es_row r = empty_row(0);
    r.cert_subject = c->in;
    char want[2048];

    char *csv = format_one(ES_FORMAT_CSV, &r);
    subject_line(want, sizeof want, ES_FORMAT_CSV, c->csv);
    ck_assert_msg(strcmp(csv, want) == 0, "case %d CSV:\n got %s want %s", _i, csv, want);
    /* One record, 37 fields, and the cell round-trips to the input bytes. */
    size_t n = strlen(csv);
    ck_assert_ptr_eq(strchr(csv, '\n'), csv + n - 1);
    char *store = malloc(n + 1), *f[NCOL + 1];
    const char *p = csv;
    ck_assert_int_eq(csv_record(&p, csv + n, store, f, NCOL + 1), NCOL);
    ck_assert(unescape(f[SUBJECT_COL]));
    ck_assert_str_eq(f[SUBJECT_COL], c->in);
    free(store);
    free(csv);

    char *js = format_one(ES_FORMAT_JSONL, &r);
    subject_line(want, sizeof want, ES_FORMAT_JSONL, c->json);
    ck_assert_msg(strcmp(js, want) == 0, "case %d JSONL:\n got %s want %s", _i, js, want);
    struct jval v[NCOL];
    const char *why = json_line(js, header_keys(), NCOL, v);
    ck_assert_msg(why == NULL, "case %d: invalid JSONL (%s): %s", _i, why, js);
    ck_assert_int_eq(v[SUBJECT_COL].type, J_STRING);
    if (c->lossless)
        ck_assert_str_eq(v[SUBJECT_COL].text, c->in);
    else
        ck_assert_ptr_nonnull(strstr(v[SUBJECT_COL].text, "\xef\xbf\xbd")); /* U+FFFD */
    free(js);
}
END_TEST

/* A hostile subject and issuer in an otherwise full row: one line, 37
 * fields, every other cell unchanged, and both round-trip. */
START_TEST(test_hostile_certificate)
{
    struct es_row r = full_row();
    r.cert_subject = "CN=a,\"b\"\nc";
    r.cert_issuer = "O=\r\n\x1b[31mred\\,\xff";
    char *s = format_one(ES_FORMAT_CSV, &r);
    size_t n = strlen(s);
    ck_assert_ptr_eq(strchr(s, '\n'), s + n - 1);
    ck_assert_ptr_null(strchr(s, '\r'));
    char *store = malloc(n + 1), *f[NCOL + 1];
    const char *p = s;
    ck_assert_int_eq(csv_record(&p, s + n, store, f, NCOL + 1), NCOL);
    ck_assert_ptr_eq(p, s + n);
    for (int i = 0; i < NCOL; i++)
        ck_assert(unescape(f[i]));
    ck_assert_str_eq(f[SUBJECT_COL], r.cert_subject);
    ck_assert_str_eq(f[SUBJECT_COL + 1], r.cert_issuer);
    ck_assert_str_eq(f[HOST_COL], "shop.example.test");
    ck_assert_str_eq(f[9], "tls1.2/h2,http1.1/sni");
    ck_assert_str_eq(f[36], "14.000");
    free(store);
    free(s);
}
END_TEST

START_TEST(test_time)
{
    static const struct {
        uint64_t ms;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {UINT64_C(1795392000000), "2026-11-23T00:00:00.000Z"},
        {UINT64_C(1795391999999), "2026-11-22T23:59:59.999Z"},
        {T_2026, "2026-11-23T10:34:56.789Z"},
        {UINT64_C(1709210096999), "2024-02-29T12:34:56.999Z"},
        {UINT64_C(1709210097000), "2024-02-29T12:34:57.000Z"},
        {UINT64_C(951782400000), "2000-02-29T00:00:00.000Z"},
        {UINT64_C(951868800000), "2000-03-01T00:00:00.000Z"},
        {UINT64_C(4102444799999), "2099-12-31T23:59:59.999Z"},
        {UINT64_C(253402300799999), "9999-12-31T23:59:59.999Z"},
        {UINT64_C(253402300800000), "9999-12-31T23:59:59.999Z"}, /* clamped */
        {UINT64_MAX, "9999-12-31T23:59:59.999Z"},
    };
    char out[ES_TIME_LEN + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_uint_eq(es_format_time(out, cases[i].ms), ES_TIME_LEN);
        out[ES_TIME_LEN] = '\0';
        ck_assert_str_eq(out, cases[i].want);
    }

    /* Against gmtime_r over the whole range. */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t ms = x % UINT64_C(253402300800000);
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        CHECK(gmtime_r(&t, &tm), "gmtime_r");
        char want[64];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        es_format_time(out, ms);
        CHECK(strcmp(out, want) == 0, "%llu: got %s want %s", (unsigned long long)ms, out, want);
    }
}
END_TEST

/* The per-buffer cache of the date part agrees with es_format_time across
 * millisecond, second, day and backward steps. */
START_TEST(test_time_cache)
{
    static const uint64_t seq[] = {
        T_2026,
        T_2026 + 1,
        T_2026 + 210,
        T_2026 + 211,
        T_2026 - 789,
        T_2026 - 790,
        UINT64_C(1795391999999),
        UINT64_C(1795392000000),
        0,
        1000,
        T_2026 + 86400000,
        T_2026,
    };
    struct es_rowbuf b = ES_ROWBUF_INIT;
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        struct es_row r = empty_row(seq[i]);
        size_t at = b.len;
        es_row_format(&b, ES_FORMAT_CSV, &r);
        char want[ES_TIME_LEN];
        es_format_time(want, seq[i]);
        ck_assert_msg(memcmp(b.data + at, want, ES_TIME_LEN) == 0, "step %zu", i);
        ck_assert_int_eq(b.data[at + ES_TIME_LEN], ',');
    }
    ck_assert_uint_eq(b.rows, sizeof seq / sizeof seq[0]);
    es_rowbuf_free(&b);
}
END_TEST

START_TEST(test_ms)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0.000"},
        {-0.0, "0.000"},
        {0.0004, "0.000"},
        {0.00025, "0.000"},
        {0.0005, "0.001"}, /* stored just above the tie */
        {1.2345, "1.234"}, /* stored as 1.23449999...: down */
        {1.2355, "1.236"}, /* stored as 1.23550000...: up */
        {0.0625, "0.062"}, /* exact tie: to even */
        {0.1875, "0.188"}, /* exact tie: to even */
        {0.9995, "1.000"}, /* carry into the integer part */
        {999.9995, "1000.000"},
        {9.9995, "9.999"},
        {12.345, "12.345"},
        {123456.7891, "123456.789"},
        {5000, "5000.000"},
        {1e15, "1000000000000000.000"},
        {4.9e-324, "0.000"}, /* smallest subnormal */
        {-1, ""},
        {-0.0004, ""},
        {1.0000001e15, ""},
        {NAN, ""},
        {INFINITY, ""},
        {-INFINITY, ""},
    };
    char out[ES_MS_MAXLEN + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = es_format_ms(out, cases[i].v);
        out[n] = '\0';
        ck_assert_msg(strcmp(out, cases[i].want) == 0, "%.17g: got '%s' want '%s'", cases[i].v, out,
                      cases[i].want);
    }

    /* The definition: the digits of printf("%.3f") in the C locale (the
     * test process never calls setlocale). Random values of every scale,
     * and values on and next to each thousandth tie. */
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        if (i % 3 == 0)
            v = (double)(x >> 11) / 9007199254740992.0 * pow(10, (int)(x % 19) - 6);
        else if (i % 3 == 1)
            v = (double)(x % 100000000) / 2000.0; /* k + 0.0005 ties, exact or not */
        else
            v = nextafter((double)(x % 1000000) / 8000.0, (x & 1) ? 1e300 : 0);
        char want[64];
        snprintf(want, sizeof want, "%.3f", v);
        size_t n = es_format_ms(out, v);
        out[n] = '\0';
        CHECK(strcmp(out, want) == 0, "%.17g: got '%s' want '%s'", v, out, want);
    }
}
END_TEST

START_TEST(test_format_from_name)
{
    ck_assert_int_eq(es_format_from_name("scan.csv", NULL), ES_FORMAT_CSV);
    ck_assert_int_eq(es_format_from_name("scan.jsonl", NULL), ES_FORMAT_JSONL);
    ck_assert_int_eq(es_format_from_name("out/SCAN.NDJSON", NULL), ES_FORMAT_JSONL);
    ck_assert_int_eq(es_format_from_name("scan.jsonl.gz", NULL), ES_FORMAT_CSV);
    ck_assert_int_eq(es_format_from_name("jsonl", NULL), ES_FORMAT_CSV);
    ck_assert_int_eq(es_format_from_name("-", NULL), ES_FORMAT_CSV);
    ck_assert_int_eq(es_format_from_name(NULL, NULL), ES_FORMAT_CSV);
    ck_assert_int_eq(es_format_from_name("-", "jsonl"), ES_FORMAT_JSONL);
    ck_assert_int_eq(es_format_from_name("scan.jsonl", "csv"), ES_FORMAT_CSV);
}
END_TEST

/* Once warm, a buffer is reused without reallocation. */
START_TEST(test_rowbuf_warm)
{
    struct es_rowbuf b = ES_ROWBUF_INIT;
    struct es_row r = full_row();
    for (int i = 0; i < 50; i++)
        es_row_format(&b, ES_FORMAT_JSONL, &r);
    char *data = b.data;
    size_t cap = b.cap, len = b.len;
    es_rowbuf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.rows, 0);
    for (int i = 0; i < 50; i++)
        es_row_format(&b, ES_FORMAT_JSONL, &r);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_uint_eq(b.len, len);
    ck_assert_uint_eq(b.rows, 50);
    es_rowbuf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
}
END_TEST

/* ---- the writer --------------------------------------------------------- */

static char *tmpdir;

static void setup_dir(void)
{
    tmpdir = tl_tmpdir();
}

static void teardown_dir(void)
{
    tl_rmtree(tmpdir);
    free(tmpdir);
}

static char *tmp_path(const char *name)
{
    char *p;
    ck_assert(asprintf(&p, "%s/%s", tmpdir, name) > 0);
    return p;
}

START_TEST(test_writer_file)
{
    char *path = tmp_path("scan.csv");
    free(tl_write_file(tmpdir, "scan.csv", "old contents that must go away\n"));
    mode_t old = umask(022);
    char err[256] = "x";
    struct es_writer *w = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    umask(old);
    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(err, "");
    ck_assert_uint_eq(es_writer_rows(w), 0);

    struct es_rowbuf b = ES_ROWBUF_INIT;
    struct es_row r = full_row();
    es_row_format(&b, ES_FORMAT_CSV, &r);
    es_row_format(&b, ES_FORMAT_CSV, &r);
    ck_assert_int_eq(es_writer_submit(w, &b), 0);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.rows, 0);
    ck_assert_int_eq(es_writer_submit(w, &b), 0); /* empty: nothing */
    ck_assert_int_eq(es_writer_flush(w), 0);
    ck_assert_uint_eq(es_writer_rows(w), 2);
    ck_assert_int_eq(es_writer_error(w), 0);
    uint64_t rows = 0;
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), 0);
    ck_assert_uint_eq(rows, 2);
    es_rowbuf_free(&b);

    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    size_t len;
    char *got = tl_read_file(path, &len);
    char want[4096];
    snprintf(want, sizeof want, "%s%s%s", header, full_csv, full_csv);
    ck_assert_str_eq(got, want);
    free(got);

    /* JSONL has no header; an empty scan is an empty file. */
    w = es_writer_open(path, ES_FORMAT_JSONL, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), 0);
    ck_assert_uint_eq(rows, 0);
    got = tl_read_file(path, &len);
    ck_assert_uint_eq(len, 0);
    free(got);
    free(path);
}
END_TEST

START_TEST(test_writer_open_error)
{
    char err[256];
    char *path = tmp_path("no/such/dir/scan.csv");
    ck_assert_ptr_null(es_writer_open(path, ES_FORMAT_CSV, err, sizeof err));
    char want[512];
    snprintf(want, sizeof want, "cannot write %s: No such file or directory", path);
    ck_assert_str_eq(err, want);
    free(path);
    ck_assert_ptr_null(es_writer_open(tmpdir, ES_FORMAT_JSONL, err, sizeof err));
    snprintf(want, sizeof want, "cannot write %s: Is a directory", tmpdir);
    ck_assert_str_eq(err, want);
}
END_TEST

/* /dev/full: the CSV header already fails, so the open does; JSONL fails at
 * the first batch, and the error is sticky. */
START_TEST(test_writer_dev_full)
{
    char err[256];
    ck_assert_ptr_null(es_writer_open("/dev/full", ES_FORMAT_CSV, err, sizeof err));
    ck_assert_str_eq(err, "cannot write /dev/full: No space left on device");

    struct es_writer *w = es_writer_open("/dev/full", ES_FORMAT_JSONL, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_rowbuf b = ES_ROWBUF_INIT;
    struct es_row r = full_row();
    es_row_format(&b, ES_FORMAT_JSONL, &r);
    ck_assert_int_eq(es_writer_submit(w, &b), 0);
    ck_assert_int_eq(es_writer_flush(w), -ENOSPC);
    ck_assert_int_eq(es_writer_error(w), -ENOSPC);
    es_row_format(&b, ES_FORMAT_JSONL, &r);
    ck_assert_int_eq(es_writer_submit(w, &b), -ENOSPC);
    ck_assert_uint_eq(b.len, 0); /* dropped, the buffer is reusable */
    uint64_t rows = 99;
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), -ENOSPC);
    ck_assert_uint_eq(rows, 0);
    ck_assert_str_eq(err, "cannot write /dev/full: No space left on device");
    es_rowbuf_free(&b);
}
END_TEST

/* A closed pipe is EPIPE in the writer, not SIGPIPE for the process. */
START_TEST(test_writer_epipe)
{
    int p[2];
    char err[256];
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    ck_assert_ptr_null(es_writer_fdopen(p[1], "pipe", ES_FORMAT_CSV, err, sizeof err));
    ck_assert_str_eq(err, "cannot write pipe: Broken pipe");

    struct es_writer *w = es_writer_fdopen(p[1], "pipe", ES_FORMAT_JSONL, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_rowbuf b = ES_ROWBUF_INIT;
    struct es_row r = full_row();
    es_row_format(&b, ES_FORMAT_JSONL, &r);
    es_writer_submit(w, &b);
    ck_assert_int_eq(es_writer_close(w, NULL, err, sizeof err), -EPIPE);
    ck_assert_str_eq(err, "cannot write pipe: Broken pipe");
    ck_assert_int_ne(fcntl(p[1], F_GETFD), -1); /* fdopen: still ours */
    close(p[1]);
    es_rowbuf_free(&b);
}
END_TEST

/* "-" writes to fd 1 and leaves it open. */
START_TEST(test_writer_stdout)
{
    char *path = tmp_path("stdout.csv");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO); /* restored for CK_FORK=no runs */
    ck_assert_int_eq(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
    close(fd);
    char err[256];
    struct es_writer *w = es_writer_open("-", ES_FORMAT_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_rowbuf b = ES_ROWBUF_INIT;
    struct es_row r = full_row();
    es_row_format(&b, ES_FORMAT_CSV, &r);
    es_writer_submit(w, &b);
    ck_assert_int_eq(es_writer_close(w, NULL, err, sizeof err), 0);
    ck_assert_int_ne(fcntl(STDOUT_FILENO, F_GETFD), -1);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    size_t len;
    char *got = tl_read_file(path, &len);
    char want[4096];
    snprintf(want, sizeof want, "%s%s", header, full_csv);
    ck_assert_str_eq(got, want);
    free(got);
    free(path);
    es_rowbuf_free(&b);
}
END_TEST

/* Submitting hands back the buffer of an earlier, written batch. */
START_TEST(test_writer_recycles)
{
    char *path = tmp_path("r.jsonl");
    char err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_JSONL, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_row r = full_row();
    struct es_rowbuf b = ES_ROWBUF_INIT;
    es_row_format(&b, ES_FORMAT_JSONL, &r);
    char *first = b.data;
    size_t first_cap = b.cap;
    ck_assert_int_eq(es_writer_submit(w, &b), 0);
    ck_assert_ptr_null(b.data); /* nothing to recycle yet */
    ck_assert_int_eq(es_writer_flush(w), 0);
    es_row_format(&b, ES_FORMAT_JSONL, &r);
    char *second = b.data;
    ck_assert_int_eq(es_writer_submit(w, &b), 0);
    ck_assert_ptr_eq(b.data, first);
    ck_assert_uint_eq(b.cap, first_cap);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(es_writer_flush(w), 0);
    es_row_format(&b, ES_FORMAT_JSONL, &r);
    ck_assert_int_eq(es_writer_submit(w, &b), 0);
    ck_assert_ptr_eq(b.data, second);
    uint64_t rows;
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), 0);
    ck_assert_uint_eq(rows, 3);
    es_rowbuf_free(&b);
    free(path);
}
END_TEST

#define NTHREADS   4
#define PER_THREAD 10000

struct producer {
    struct es_writer *w;
    int id;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    struct es_rowbuf b = ES_ROWBUF_INIT;
    char host[64];
    for (int i = 0; i < PER_THREAD; i++) {
        struct es_row r = full_row();
        snprintf(host, sizeof host, "h%d-%d.example.test", pr->id, i);
        r.host = host;
        r.attempt = i;
        r.cert_subject = i % 3 ? "CN=a,\"b\"\nc" : "CN=plain";
        r.time_ms = T_2026 + (uint64_t)i * 37;
        es_row_format(&b, ES_FORMAT_CSV, &r);
        /* small, uneven batches: many hand-offs, a full queue at times */
        if (b.len >= 1024u + (unsigned)pr->id * 700u && es_writer_submit(pr->w, &b) != 0)
            break;
    }
    es_writer_submit(pr->w, &b);
    es_rowbuf_free(&b);
    return NULL;
}

START_TEST(test_writer_threads)
{
    char *path = tmp_path("threads.csv");
    char err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    pthread_t t[NTHREADS];
    struct producer pr[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        pr[i] = (struct producer){w, i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, produce, &pr[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t rows;
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), 0);
    ck_assert_uint_eq(rows, NTHREADS * PER_THREAD);

    size_t len;
    char *text = tl_read_file(path, &len);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    ck_assert_uint_eq(lines, NTHREADS * PER_THREAD + 1);
    ck_assert(strncmp(text, header, strlen(header)) == 0);

    /* Every record is one line of 37 fields and every row appears once. */
    static unsigned char seen[NTHREADS][PER_THREAD];
    memset(seen, 0, sizeof seen);
    char *store = malloc(len + 1), *f[NCOL + 1];
    const char *p = text + strlen(header), *end = text + len;
    size_t records = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *at = p;
        CHECK(csv_record(&p, end, store, f, NCOL + 1) == NCOL, "record %zu: %.200s", records, at);
        CHECK(p == nl + 1, "record %zu is not one line: %.200s", records, at);
        int id, i;
        char tail[64];
        CHECK(sscanf(f[HOST_COL], "h%d-%d%63s", &id, &i, tail) == 3 &&
                  strcmp(tail, ".example.test") == 0,
              "record %zu: host %s", records, f[HOST_COL]);
        CHECK(id >= 0 && id < NTHREADS && i >= 0 && i < PER_THREAD, "host %s", f[HOST_COL]);
        CHECK(seen[id][i]++ == 0, "row %s twice", f[HOST_COL]);
        CHECK(atoi(f[14]) == i, "record %zu: attempt %s", records, f[14]);
        CHECK(unescape(f[SUBJECT_COL]), "record %zu: bad escape", records);
        CHECK(strcmp(f[SUBJECT_COL], i % 3 ? "CN=a,\"b\"\nc" : "CN=plain") == 0,
              "record %zu: subject %s", records, f[SUBJECT_COL]);
        CHECK(strcmp(f[36], "14.000") == 0, "record %zu: total_ms %s", records, f[36]);
        records++;
    }
    ck_assert_uint_eq(records, NTHREADS * PER_THREAD);
    free(store);
    free(text);
    free(path);
}
END_TEST

/* An injected write(2): short writes and EINTR always, then ENOSPC once
 * `budget` bytes have gone out. */
struct fake_disk {
    size_t budget;
    unsigned calls;
};

static ssize_t fake_write(int fd, const void *buf, size_t n, void *ctx)
{
    struct fake_disk *d = ctx;
    d->calls++;
    if (d->calls % 3 == 0) {
        errno = EINTR;
        return -1;
    }
    if (d->budget == 0) {
        errno = ENOSPC;
        return -1;
    }
    size_t k = n < d->budget ? n : d->budget;
    if (k > 1 + d->calls % 97)
        k = 1 + d->calls % 97;
    ssize_t r = write(fd, buf, k);
    if (r > 0)
        d->budget -= (size_t)r;
    return r;
}

/* Formats rows 0..n-1 (distinct hosts) as batches of `per` rows; returns
 * the whole text for comparison. */
static char *submit_rows(struct es_writer *w, int n, int per)
{
    struct es_rowbuf b = ES_ROWBUF_INIT, all = ES_ROWBUF_INIT;
    char host[32];
    for (int i = 0; i < n; i++) {
        struct es_row r = full_row();
        snprintf(host, sizeof host, "r%d.test", i);
        r.host = host;
        es_row_format(&b, ES_FORMAT_CSV, &r);
        es_row_format(&all, ES_FORMAT_CSV, &r);
        if ((i + 1) % per == 0)
            es_writer_submit(w, &b);
    }
    es_writer_submit(w, &b);
    es_rowbuf_free(&b);
    char *s = strndup(all.data, all.len);
    es_rowbuf_free(&all);
    return s;
}

START_TEST(test_writer_short_writes)
{
    char *path = tmp_path("short.csv");
    char err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct fake_disk d = {SIZE_MAX, 0};
    es_writer_set_write_fn(w, fake_write, &d);
    char *rows_text = submit_rows(w, 40, 7);
    uint64_t rows;
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), 0);
    ck_assert_uint_eq(rows, 40);
    ck_assert_uint_gt(d.calls, 100); /* it really went through the hook */
    size_t len;
    char *got = tl_read_file(path, &len);
    ck_assert_uint_eq(len, strlen(header) + strlen(rows_text));
    ck_assert(memcmp(got, header, strlen(header)) == 0);
    ck_assert_str_eq(got + strlen(header), rows_text);
    free(got);
    free(rows_text);
    free(path);
}
END_TEST

/* The disk fills in the middle of a row of the second batch: the file ends
 * with the last whole row, the count says how many, the error is sticky. */
START_TEST(test_writer_enospc_truncates)
{
    char *path = tmp_path("full.csv");
    char err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    size_t row_len = strlen(full_csv) - strlen("shop.example.test") + strlen("r0.test");
    /* batch 1 = rows 0-4; the budget ends 25 bytes into row 7 (batch 2) */
    struct fake_disk d = {7 * row_len + 25, 0};
    es_writer_set_write_fn(w, fake_write, &d);
    char *rows_text = submit_rows(w, 15, 5);
    ck_assert_int_eq(es_writer_flush(w), -ENOSPC);
    ck_assert_uint_eq(es_writer_rows(w), 7);
    uint64_t rows;
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), -ENOSPC);
    ck_assert_uint_eq(rows, 7);
    char want[512];
    snprintf(want, sizeof want, "cannot write %s: No space left on device", path);
    ck_assert_str_eq(err, want);

    size_t len;
    char *got = tl_read_file(path, &len);
    /* rows 0-9 have one-digit hosts, so they all have row_len bytes */
    ck_assert_uint_eq(len, strlen(header) + 7 * row_len);
    ck_assert(memcmp(got, header, strlen(header)) == 0);
    ck_assert(memcmp(got + strlen(header), rows_text, 7 * row_len) == 0);
    ck_assert_int_eq(got[len - 1], '\n');
    free(got);
    free(rows_text);
    free(path);
}
END_TEST

/* python3's json module, when present, also accepts the hostile rows. */
START_TEST(test_jsonl_python)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0)
        return; /* the strict validator above is the test then */
    char *path = tmp_path("rows.jsonl");
    char err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_JSONL, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_rowbuf b = ES_ROWBUF_INIT;
    for (size_t i = 0; i < sizeof esc_cases / sizeof esc_cases[0]; i++) {
        struct es_row r = full_row();
        r.cert_subject = esc_cases[i].in;
        es_row_format(&b, ES_FORMAT_JSONL, &r);
    }
    es_writer_submit(w, &b);
    ck_assert_int_eq(es_writer_close(w, NULL, err, sizeof err), 0);
    es_rowbuf_free(&b);
    char *cmd;
    ck_assert(asprintf(&cmd,
                       "python3 -c 'import json,sys\n"
                       "rows=[json.loads(l) for l in open(sys.argv[1],encoding=\"utf-8\")]\n"
                       "assert len(rows)==%zu and all(len(r)==%d for r in rows)\n"
                       "assert rows[-1][\"cert_subject\"]==\"CN=a,\\\"b\\\"\\nc\"\n"
                       "assert rows[0][\"port\"]==8443 and rows[0][\"ocsp_stapled\"] is True' %s",
                       sizeof esc_cases / sizeof esc_cases[0], NCOL, path) > 0);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("writer");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_header);
    tcase_add_test(tc, test_full_row_csv);
    tcase_add_test(tc, test_dns_error_row_csv);
    tcase_add_test(tc, test_full_row_jsonl);
    tcase_add_loop_test(tc, test_escape_case, 0, (int)(sizeof esc_cases / sizeof esc_cases[0]));
    tcase_add_test(tc, test_hostile_certificate);
    tcase_add_test(tc, test_time);
    tcase_add_test(tc, test_time_cache);
    tcase_add_test(tc, test_ms);
    tcase_add_test(tc, test_format_from_name);
    tcase_add_test(tc, test_rowbuf_warm);
    suite_add_tcase(s, tc);

    tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_add_test(tc, test_writer_file);
    tcase_add_test(tc, test_writer_open_error);
    tcase_add_test(tc, test_writer_dev_full);
    tcase_add_test(tc, test_writer_epipe);
    tcase_add_test(tc, test_writer_stdout);
    tcase_add_test(tc, test_writer_recycles);
    tcase_add_test(tc, test_writer_threads);
    tcase_add_test(tc, test_writer_short_writes);
    tcase_add_test(tc, test_writer_enospc_truncates);
    tcase_add_test(tc, test_jsonl_python);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
