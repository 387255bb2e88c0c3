/* test_hello.c - ClientHello shapes over memory BIOs: the pq hello's size and
 * where its SNI lands (read back from the bytes OpenSSL wrote), a conforming
 * server completing the handshake with it, the cut points of pq and split,
 * and the ClientHello reader on every prefix and on malformed input. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "edgeshake/hello.h"
#include "edgeshake/labcert.h"
#include "edgeshake/util.h"

#define HOST "shop.example.test"

static struct es_labcerts *certs;

static void setup(void)
{
    certs = es_labcerts_new();
}

static void teardown(void)
{
    es_labcerts_free(certs);
    certs = NULL;
}

static SSL_CTX *client_ctx(int max_version, bool pq, int *pad)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(ctx);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    static const uint8_t alpn[] = "\x02h2\x08http/1.1";
    ck_assert_int_eq(SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1), 0);
    if (pq) {
        char err[256];
        *pad = es_hello_pq_install(ctx, err, sizeof err);
        ck_assert_msg(*pad > 0, "%s", err);
    }
    return ctx;
}

/* The client's first flight: its ClientHello record(s). */
static size_t client_hello(SSL *c, uint8_t *buf, size_t cap)
{
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    SSL_set_bio(c, rb, wb);
    SSL_set_connect_state(c);
    ck_assert_int_eq(SSL_set_tlsext_host_name(c, HOST), 1);
    ck_assert_int_le(SSL_do_handshake(c), 0);
    ck_assert_int_eq(SSL_get_error(c, -1), SSL_ERROR_WANT_READ);
    int n = BIO_read(wb, buf, (int)cap);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(BIO_ctrl_pending(wb), 0);
    return (size_t)n;
}

static size_t plain_hello_size(int max_version)
{
    SSL_CTX *ctx = client_ctx(max_version, false, NULL);
    SSL *c = SSL_new(ctx);
    uint8_t buf[4096];
    size_t n = client_hello(c, buf, sizeof buf);
    SSL_free(c);
    SSL_CTX_free(ctx);
    return n;
}

static int sni_seen_cb(SSL *s, int *al, void *arg)
{
    (void)al;
    const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    snprintf(arg, 64, "%s", name ? name : "");
    return SSL_TLSEXT_ERR_OK;
}

/* Completes a handshake between c (its ClientHello already taken out as
 * hello[0..n)) and a lab server; returns the name the server saw. */
static void handshake(SSL *c, const uint8_t *hello, size_t n, char *sni_seen)
{
    struct es_lableaf leaf = es_labcerts_leaf(certs, HOST, ES_CERT_GOOD, ES_KEY_ECDSA);
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    ck_assert_int_eq(SSL_CTX_use_certificate(sctx, leaf.cert), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(sctx, leaf.key), 1);
    SSL_CTX_set_tlsext_servername_callback(sctx, sni_seen_cb);
    SSL_CTX_set_tlsext_servername_arg(sctx, sni_seen);
    SSL *s = SSL_new(sctx);
    BIO *srb = BIO_new(BIO_s_mem()), *swb = BIO_new(BIO_s_mem());
    SSL_set_bio(s, srb, swb);
    SSL_set_accept_state(s);
    BIO_write(srb, hello, (int)n);
    BIO *crb = SSL_get_rbio(c), *cwb = SSL_get_wbio(c);
    uint8_t buf[16384];
    bool c_done = false, s_done = false;
    for (int round = 0; round < 10 && !(c_done && s_done); round++) {
        if (!s_done)
            s_done = SSL_do_handshake(s) == 1;
        int k;
        while ((k = BIO_read(swb, buf, sizeof buf)) > 0)
            BIO_write(crb, buf, k);
        if (!c_done)
            c_done = SSL_do_handshake(c) == 1;
        while ((k = BIO_read(cwb, buf, sizeof buf)) > 0)
            BIO_write(srb, buf, k);
    }
    ck_assert_msg(c_done && s_done, "handshake did not complete: %s",
                  ERR_reason_error_string(ERR_peek_error()));
    SSL_free(s);
    SSL_CTX_free(sctx);
}

static void check_pq(int max_version)
{
    int pad = 0;
    SSL_CTX *ctx = client_ctx(max_version, true, &pad);
    SSL *c = SSL_new(ctx);
    uint8_t buf[4096];
    size_t n = client_hello(c, buf, sizeof buf);
    size_t plain = plain_hello_size(max_version);

    struct es_hello_info info;
    ck_assert_int_eq(es_hello_parse(buf, n, &info), ES_HELLO_COMPLETE);
    ck_assert_uint_eq(info.record_len, n);
    /* The padding went first, so server_name is past the first segment. */
    ck_assert_uint_ge(info.sni_off, ES_HELLO_FIRST_SEGMENT);
    ck_assert_uint_eq(info.sni_off, info.ext_off + 4 + (size_t)pad);
    ck_assert_uint_eq(info.name_len, strlen(HOST));
    ck_assert(memcmp(buf + info.name_off, HOST, strlen(HOST)) == 0);
    ck_assert_uint_eq(buf[info.ext_off], ES_HELLO_GREASE_EXT >> 8);
    ck_assert_uint_eq(buf[info.ext_off + 1], ES_HELLO_GREASE_EXT & 0xff);
    /* At least as big as the same hello with an X25519MLKEM768 key share. */
    ck_assert_uint_eq(n, plain + 4 + (size_t)pad);
    ck_assert_uint_ge(n, plain + ES_HELLO_PQ_EXTRA);
    printf("hello: TLS max 0x%x: plain ClientHello %zu bytes, pq %zu bytes (padding %d), "
           "server_name at %zu\n",
           (unsigned)max_version, plain, n, pad, info.sni_off);

    /* A naive router's view: the first segment has no name. */
    size_t cut = es_hello_cut(ES_HELLO_PQ, buf, n);
    ck_assert_uint_eq(cut, ES_HELLO_FIRST_SEGMENT);
    struct es_hello_info first;
    ck_assert_int_eq(es_hello_parse(buf, cut, &first), ES_HELLO_PARTIAL);
    ck_assert_uint_eq(first.name_off, 0);
    ck_assert_uint_eq(first.record_len, n);

    /* A conforming server ignores the GREASE extension and reads the SNI. */
    char seen[64] = "";
    handshake(c, buf, n, seen);
    ck_assert_str_eq(seen, HOST);
    SSL_free(c);
    SSL_CTX_free(ctx);
}

START_TEST(test_pq_tls13)
{
    check_pq(TLS1_3_VERSION);
}
END_TEST

START_TEST(test_pq_tls12)
{
    check_pq(TLS1_2_VERSION);
}
END_TEST

START_TEST(test_split)
{
    SSL_CTX *ctx = client_ctx(TLS1_3_VERSION, false, NULL);
    SSL *c = SSL_new(ctx);
    uint8_t buf[4096];
    size_t n = client_hello(c, buf, sizeof buf);
    struct es_hello_info info;
    ck_assert_int_eq(es_hello_parse(buf, n, &info), ES_HELLO_COMPLETE);
    ck_assert_uint_gt(info.sni_off, 0);
    size_t cut = es_hello_cut(ES_HELLO_SPLIT, buf, n);
    ck_assert_uint_eq(cut, info.sni_off);
    struct es_hello_info first;
    ck_assert_int_eq(es_hello_parse(buf, cut, &first), ES_HELLO_PARTIAL);
    ck_assert_uint_eq(first.sni_off, 0);
    ck_assert_uint_eq(first.name_off, 0);
    /* One byte more: the extension starts, the name is still missing. */
    ck_assert_int_eq(es_hello_parse(buf, cut + 4, &first), ES_HELLO_PARTIAL);
    ck_assert_uint_eq(first.sni_off, cut);
    ck_assert_uint_eq(first.name_off, 0);
    ck_assert_uint_eq(es_hello_cut(ES_HELLO_PLAIN, buf, n), 0);
    char seen[64] = "";
    handshake(c, buf, n, seen);
    ck_assert_str_eq(seen, HOST);
    SSL_free(c);
    SSL_CTX_free(ctx);
}
END_TEST

/* Every prefix of a real ClientHello is PARTIAL (never malformed), with every
 * offset it reports inside the prefix; the whole one is COMPLETE. */
START_TEST(test_parse_prefixes)
{
    int pad;
    SSL_CTX *ctx = client_ctx(TLS1_3_VERSION, true, &pad);
    SSL *c = SSL_new(ctx);
    uint8_t buf[4096];
    size_t n = client_hello(c, buf, sizeof buf);
    for (size_t k = 0; k < n; k++) {
        struct es_hello_info info;
        ck_assert_msg(es_hello_parse(buf, k, &info) == ES_HELLO_PARTIAL, "prefix %zu", k);
        ck_assert_uint_le(info.ext_off, k);
        ck_assert_uint_le(info.sni_off, k);
        ck_assert_uint_le(info.name_off + info.name_len, k);
    }
    SSL_free(c);
    SSL_CTX_free(ctx);
}
END_TEST

START_TEST(test_parse_bad)
{
    struct es_hello_info info;
    static const uint8_t http[] = "GET / HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(es_hello_parse(http, sizeof http - 1, &info), ES_HELLO_NOT_HELLO);
    static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};
    ck_assert_int_eq(es_hello_parse(alert, sizeof alert, &info), ES_HELLO_NOT_HELLO);
    /* A ServerHello (type 2) is not a ClientHello. */
    uint8_t sh[60] = {22, 3, 3, 0, 55, 2, 0, 0, 51};
    ck_assert_int_eq(es_hello_parse(sh, sizeof sh, &info), ES_HELLO_NOT_HELLO);
    /* A ClientHello whose extension length runs past the message. */
    uint8_t ch[5 + 4 + 2 + 32 + 1 + 2 + 2 + 2 + 2 + 6] = {22, 3, 1, 0, 0, 1, 0, 0, 0};
    size_t o = 9 + 2 + 32;
    ch[o++] = 0;              /* session id */
    ch[o++] = 0, ch[o++] = 2; /* cipher suites */
    ch[o++] = 0x13, ch[o++] = 1;
    ch[o++] = 1, ch[o++] = 0;                           /* compression */
    ch[o++] = 0, ch[o++] = 6;                           /* extensions: 6 bytes */
    ch[o++] = 0, ch[o++] = 0, ch[o++] = 0, ch[o++] = 9; /* server_name of 9 bytes: too long */
    ch[o++] = 0, ch[o++] = 0;
    size_t hlen = o - 9;
    ch[3] = (uint8_t)((o - 5) >> 8), ch[4] = (uint8_t)(o - 5);
    ch[7] = (uint8_t)(hlen >> 8), ch[8] = (uint8_t)hlen;
    ck_assert_int_eq(es_hello_parse(ch, o, &info), ES_HELLO_NOT_HELLO);
    ck_assert_uint_eq(info.name_off, 0);
}
END_TEST

START_TEST(test_names)
{
    enum es_hello_shape s;
    ck_assert(es_hello_from_name("pq", &s) && s == ES_HELLO_PQ);
    ck_assert(es_hello_from_name("split", &s) && s == ES_HELLO_SPLIT);
    ck_assert(es_hello_from_name("plain", &s) && s == ES_HELLO_PLAIN);
    ck_assert(!es_hello_from_name("PQ", &s));
    ck_assert(!es_hello_from_name("", &s));
    ck_assert_str_eq(es_hello_name(ES_HELLO_SPLIT), "split");
    ck_assert_ptr_null(es_hello_name((enum es_hello_shape)7));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hello");
    TCase *t = tcase_create("hello");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_pq_tls13);
    tcase_add_test(t, test_pq_tls12);
    tcase_add_test(t, test_split);
    tcase_add_test(t, test_parse_prefixes);
    tcase_add_test(t, test_parse_bad);
    tcase_add_test(t, test_names);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
