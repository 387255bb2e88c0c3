/* test_lab_edge.c - the lab's TLS edges end to end: `edgeshake lab` runs a
 * spec with one edge per behaviour (127.10.0.0/16, see testlib.h), and an
 * OpenSSL client written here asserts the exact outcome of each: alert code,
 * negotiated version and ALPN, verification result against the lab's ca.crt,
 * connect/reset/EOF errors, and the bytes the faulty edges send.
 *
 * The "start" TCase drives es_lab_edges_start in-process for what only the
 * API shows: its error messages, that a failed start leaves nothing open, and
 * that es_lab_edges_free closes listeners and live connections. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "edgeshake/labcert.h"
#include "edgeshake/labedge.h"
#include "edgeshake/labspec.h"
#include "edgeshake/loop.h"
#include "edgeshake/httpcheck.h"
#include "testlib.h"

#define NAME "shop.example.test"
#define PORT 8443

/* One edge per behaviour under test. */
static const char lab_spec[] = "# test_lab_edge: 127.10.0.0/16\n"
                               "edge 127.10.1.1:8443 cert=" NAME "\n"
                               "edge 127.10.1.2:8443 cert=" NAME " key=rsa\n"
                               "edge 127.10.1.3:8443 cert=" NAME ":expired\n"
                               "edge 127.10.1.4:8443 cert=" NAME ":future\n"
                               "edge 127.10.1.5:8443 cert=" NAME ":wrong\n"
                               "edge 127.10.1.6:8443 cert=" NAME ":selfsigned\n"
                               "edge 127.10.2.1:8443 cert=" NAME " tls=1.2\n"
                               "edge 127.10.2.2:8443 cert=" NAME " tls=1.2 ciphers=AES128-SHA\n"
                               "edge 127.10.2.3:8443 cert=" NAME " tls=1.0\n"
                               "edge 127.10.2.4:8443 cert=" NAME " tls=1.3 groups=P-256\n"
                               "edge 127.10.3.1:8443 cert=" NAME " alpn=http/1.1 alpn_strict=yes\n"
                               "edge 127.10.3.2:8443 cert=" NAME " alpn=http/1.1\n"
                               "edge 127.10.3.3:8443 cert=" NAME " alpn=http/1.1,h2\n"
                               "edge 127.10.3.4:8443 cert=" NAME " alpn=none\n"
                               "edge 127.10.3.5:8443 cert=" NAME " sni=strict\n"
                               "edge 127.10.4.1:8443 cert=" NAME " h2=ok\n"
                               "edge 127.10.4.2:8443 cert=" NAME " h2=broken\n"
                               "edge 127.10.5.1:8443 fault=refuse\n"
                               "edge 127.10.5.2:8443 fault=blackhole\n"
                               "edge 127.10.5.3:8443 fault=reset\n"
                               "edge 127.10.5.4:8443 fault=garbage\n"
                               "edge 127.10.5.5:8443 fault=http\n"
                               "edge 127.10.5.6:8443 cert=" NAME " fault=drip\n"
                               "edge 127.10.6.1:8443 cert=" NAME " delay=1000\n"
                               "edge 127.10.6.2:8443 cert=" NAME " flaky=50\n"
                               "edge 127.10.7.1:8443 cert=" NAME " client_cert=required\n"
                               "edge 127.10.7.2:8443 cert=" NAME " dh=1024\n"
                               "edge 127.10.7.3:8443 cert=" NAME " dh=2048 tls=1.2\n"
                               "edge 127.10.7.4:8443 cert=" NAME " client_cert=optional\n";

static struct tl_lab lab;
static char ca_path[600];

static void lab_up(void)
{
    signal(SIGPIPE, SIG_IGN);
    tl_lab_start(&lab, lab_spec);
    snprintf(ca_path, sizeof ca_path, "%s/ca.crt", lab.dir);
}

static void lab_down(void)
{
    int status = tl_lab_stop(&lab);
    if (status != 0)
        fprintf(stderr, "lab exited with status %d\n", status);
}

/* ---- a blocking OpenSSL client ----------------------------------------- */

struct client_opts {
    const char *ip;
    int min_version, max_version; /* 0 = OpenSSL default */
    const char *alpn;             /* comma-separated, NULL = no ALPN */
    const char *sni;              /* NULL = no SNI */
    const char *ciphers, *ciphersuites, *groups;
    bool seclevel0; /* TLS 1.0/1.1 need security level 0 on the client too */
};

struct client {
    int connect_errno; /* 0 = connected */
    bool ok;           /* handshake completed */
    int alert;         /* the alert the server sent, -1 = none */
    int ssl_error;     /* SSL_get_error after a failed handshake */
    int sys_errno;     /* errno after a failed handshake (SSL_ERROR_SYSCALL) */
    int reason;        /* ERR_GET_REASON of the first queued error */
    int version;       /* negotiated */
    char alpn[32];     /* selected, "" = none */
    long verify;       /* against ca.crt and NAME */
    int key_type, key_bits;
    char group[32]; /* curve of an EC key */
    int tmp_bits;   /* the server's ephemeral key (ECDHE, DHE), 0 = none */
    char tmp_group[32];
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

static void on_info(const SSL *ssl, int where, int ret)
{
    struct client *c = SSL_get_app_data(ssl);
    /* SSL_CB_READ_ALERT shares its SSL_CB_ALERT bit with SSL_CB_WRITE_ALERT. */
    if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT && c->alert < 0)
        c->alert = ret & 0xff;
}

/* A blocking TCP socket with 5 s send/receive timeouts, connected to ip:port.
 * Returns the fd, or -errno when connect fails. */
static int tcp_connect(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    ck_assert_int_eq(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void alpn_to_wire(const char *list, unsigned char *out, unsigned *len)
{
    *len = 0;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        out[(*len)++] = (unsigned char)l;
        memcpy(out + *len, p, l);
        *len += (unsigned)l;
        p += l + (end ? 1 : 0);
    }
}

/* Connects and runs one handshake. The connection stays open for the caller
 * (client_close). */
static void client_run(struct client *c, const struct client_opts *o)
{
    memset(c, 0, sizeof *c);
    c->alert = -1;
    c->fd = -1;
    c->verify = -1;
    int fd = tcp_connect(o->ip, PORT);
    if (fd < 0) {
        c->connect_errno = -fd;
        return;
    }
    c->fd = fd;
    SSL_CTX *ctx = c->ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(ctx);
    if (o->seclevel0) {
        ck_assert_int_eq(SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0"), 1);
        SSL_CTX_set_security_level(ctx, 0);
    }
    if (o->min_version)
        ck_assert_int_eq(SSL_CTX_set_min_proto_version(ctx, o->min_version), 1);
    if (o->max_version)
        ck_assert_int_eq(SSL_CTX_set_max_proto_version(ctx, o->max_version), 1);
    if (o->ciphers)
        ck_assert_int_eq(SSL_CTX_set_cipher_list(ctx, o->ciphers), 1);
    if (o->ciphersuites)
        ck_assert_int_eq(SSL_CTX_set_ciphersuites(ctx, o->ciphersuites), 1);
    if (o->groups)
        ck_assert_int_eq(SSL_CTX_set1_groups_list(ctx, o->groups), 1);
    /* Verification is computed and recorded, never fatal (like the scanner). */
    ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, ca_path, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_info_callback(ctx, on_info);
    SSL *ssl = c->ssl = SSL_new(ctx);
    SSL_set_app_data(ssl, c);
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, NAME);
    if (o->sni)
        SSL_set_tlsext_host_name(ssl, o->sni);
    if (o->alpn) {
        unsigned char wire[64];
        unsigned len;
        alpn_to_wire(o->alpn, wire, &len);
        ck_assert_int_eq(SSL_set_alpn_protos(ssl, wire, len), 0);
    }
    ERR_clear_error();
    errno = 0;
    int rc = SSL_connect(ssl);
    if (rc != 1) {
        c->sys_errno = errno;
        c->ssl_error = SSL_get_error(ssl, rc);
        c->reason = ERR_GET_REASON(ERR_peek_error());
        ERR_clear_error();
        return;
    }
    c->ok = true;
    c->version = SSL_version(ssl);
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(ssl, &p, &n);
    ck_assert_uint_lt(n, sizeof c->alpn);
    if (n) /* p is NULL when nothing was selected */
        memcpy(c->alpn, p, n);
    c->alpn[n] = '\0';
    c->verify = SSL_get_verify_result(ssl);
    X509 *peer = SSL_get0_peer_certificate(ssl);
    ck_assert_ptr_nonnull(peer);
    EVP_PKEY *k = X509_get0_pubkey(peer);
    c->key_type = EVP_PKEY_get_base_id(k);
    c->key_bits = EVP_PKEY_get_bits(k);
    if (c->key_type == EVP_PKEY_EC)
        EVP_PKEY_get_group_name(k, c->group, sizeof c->group, NULL);
    EVP_PKEY *tmp = NULL;
    if (SSL_get_peer_tmp_key(ssl, &tmp) == 1) {
        c->tmp_bits = EVP_PKEY_get_bits(tmp);
        EVP_PKEY_get_utf8_string_param(tmp, OSSL_PKEY_PARAM_GROUP_NAME, c->tmp_group,
                                       sizeof c->tmp_group, NULL);
        EVP_PKEY_free(tmp);
    }
    ERR_clear_error();
}

static void client_close(struct client *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}

/* Runs one handshake and closes; for tests that only look at the outcome. */
static struct client handshake(const struct client_opts *o)
{
    struct client c;
    client_run(&c, o);
    client_close(&c);
    return c;
}

static void assert_alert(const struct client *c, int alert)
{
    ck_assert_int_eq(c->connect_errno, 0);
    ck_assert_msg(!c->ok, "handshake succeeded, expected alert %d", alert);
    ck_assert_int_eq(c->alert, alert);
    ck_assert_int_eq(c->ssl_error, SSL_ERROR_SSL);
}

/* ---- raw sockets ---------------------------------------------------------- */

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A real ClientHello (TLS 1.2-1.3, SNI NAME) as bytes, for raw sockets. */
static size_t client_hello(uint8_t *buf, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, r, w);
    SSL_set_tlsext_host_name(ssl, NAME);
    ck_assert_int_eq(SSL_connect(ssl), -1);
    int n = BIO_read(w, buf, (int)cap);
    ck_assert_int_gt(n, 5);
    ck_assert_int_eq(buf[0], 0x16);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return (size_t)n;
}

static void send_hello(int fd)
{
    uint8_t hello[4096];
    size_t n = client_hello(hello, sizeof hello);
    ck_assert_int_eq(send(fd, hello, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads into buf until cap bytes, EOF, an error, or window_ms passed.
 * Returns the bytes read; *eof tells whether the peer closed. */
static size_t read_for(int fd, uint8_t *buf, size_t cap, long window_ms, bool *eof)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t got = 0;
    *eof = false;
    while (got < cap) {
        long left = window_ms - elapsed_ms(&t0);
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = recv(fd, buf + got, cap - got, 0);
        if (n <= 0) {
            *eof = true;
            break;
        }
        got += (size_t)n;
    }
    return got;
}

/* ---- certificates and keys ------------------------------------------------ */

START_TEST(test_good_edge)
{
    struct client c =
        handshake(&(struct client_opts){.ip = "127.10.1.1", .sni = NAME, .alpn = "h2,http/1.1"});
    ck_assert(c.ok);
    ck_assert_int_eq(c.version, TLS1_3_VERSION);
    ck_assert_str_eq(c.alpn, "h2");
    ck_assert_int_eq(c.verify, X509_V_OK);
    ck_assert_int_eq(c.key_type, EVP_PKEY_EC);
    ck_assert_str_eq(c.group, "prime256v1");
    ck_assert_int_eq(c.alert, -1);
}
END_TEST

START_TEST(test_rsa_edge)
{
    struct client c = handshake(&(struct client_opts){.ip = "127.10.1.2", .sni = NAME});
    ck_assert(c.ok);
    ck_assert_int_eq(c.key_type, EVP_PKEY_RSA);
    ck_assert_int_eq(c.key_bits, 2048);
    ck_assert_int_eq(c.verify, X509_V_OK);
}
END_TEST

static const struct {
    const char *ip;
    long verify;
} cert_cases[] = {
    {"127.10.1.1", X509_V_OK},
    {"127.10.1.3", X509_V_ERR_CERT_HAS_EXPIRED},
    {"127.10.1.4", X509_V_ERR_CERT_NOT_YET_VALID},
    {"127.10.1.5", X509_V_ERR_HOSTNAME_MISMATCH},
    {"127.10.1.6", X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT},
};

START_TEST(test_cert_kind)
{
    struct client c = handshake(&(struct client_opts){.ip = cert_cases[_i].ip, .sni = NAME});
    ck_assert_msg(c.ok, "%s: handshake failed", cert_cases[_i].ip);
    ck_assert_msg(c.verify == cert_cases[_i].verify, "%s: verify %ld (%s), want %ld",
                  cert_cases[_i].ip, c.verify, X509_verify_cert_error_string(c.verify),
                  cert_cases[_i].verify);
}
END_TEST

/* ---- versions, ciphers, groups --------------------------------------------- */

START_TEST(test_tls12_edge_rejects_tls13_client)
{
    struct client c = handshake(
        &(struct client_opts){.ip = "127.10.2.1", .sni = NAME, .min_version = TLS1_3_VERSION});
    assert_alert(&c, SSL_AD_PROTOCOL_VERSION); /* 70 */
    c = handshake(&(struct client_opts){.ip = "127.10.2.1", .sni = NAME});
    ck_assert(c.ok);
    ck_assert_int_eq(c.version, TLS1_2_VERSION);
}
END_TEST

START_TEST(test_cipher_mismatch)
{
    /* An ECDSA-key edge that only allows AES128-SHA (RSA key exchange) and a
     * client offering only ECDHE-ECDSA-AES128-GCM-SHA256: no shared cipher. */
    struct client c = handshake(&(struct client_opts){.ip = "127.10.2.2",
                                                      .sni = NAME,
                                                      .max_version = TLS1_2_VERSION,
                                                      .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"});
    assert_alert(&c, SSL_AD_HANDSHAKE_FAILURE); /* 40 */
}
END_TEST

START_TEST(test_tls10_edge)
{
    struct client c = handshake(&(struct client_opts){.ip = "127.10.2.3",
                                                      .sni = NAME,
                                                      .min_version = TLS1_VERSION,
                                                      .max_version = TLS1_VERSION,
                                                      .seclevel0 = true});
    ck_assert_msg(c.ok, "TLS 1.0 handshake failed: alert %d reason %d", c.alert, c.reason);
    ck_assert_int_eq(c.version, TLS1_VERSION);
    ck_assert_int_eq(c.verify, X509_V_OK);
    /* The same edge refuses a client that wants TLS 1.2 or later. */
    c = handshake(
        &(struct client_opts){.ip = "127.10.2.3", .sni = NAME, .min_version = TLS1_2_VERSION});
    assert_alert(&c, SSL_AD_PROTOCOL_VERSION);
}
END_TEST

START_TEST(test_group_mismatch)
{
    /* TLS 1.3 edge with groups=P-256, client with X25519 only: there is no
     * group to ask for in a HelloRetryRequest, so OpenSSL sends
     * handshake_failure (40). */
    struct client c = handshake(&(struct client_opts){
        .ip = "127.10.2.4", .sni = NAME, .min_version = TLS1_3_VERSION, .groups = "X25519"});
    assert_alert(&c, SSL_AD_HANDSHAKE_FAILURE);
    /* A client offering both gets a HelloRetryRequest for P-256 and succeeds. */
    c = handshake(&(struct client_opts){
        .ip = "127.10.2.4", .sni = NAME, .min_version = TLS1_3_VERSION, .groups = "X25519:P-256"});
    ck_assert(c.ok);
}
END_TEST

/* ---- ALPN and SNI ------------------------------------------------------------ */

static const struct {
    const char *ip;
    const char *offer;
    int alert;        /* -1: the handshake succeeds */
    const char *alpn; /* selected when it succeeds */
} alpn_cases[] = {
    {"127.10.1.1", "h2,http/1.1", -1, "h2"},
    {"127.10.1.1", "http/1.1", -1, "http/1.1"},
    {"127.10.1.1", NULL, -1, ""},
    {"127.10.3.1", "h2", SSL_AD_NO_APPLICATION_PROTOCOL, NULL}, /* strict: 120 */
    {"127.10.3.1", "h2,http/1.1", -1, "http/1.1"},
    {"127.10.3.1", NULL, -1, ""},                  /* no ALPN offered: nothing to refuse */
    {"127.10.3.2", "h2", -1, ""},                  /* not strict: no ALPN selected */
    {"127.10.3.3", "h2,http/1.1", -1, "http/1.1"}, /* the server's preference wins */
    {"127.10.3.3", "h2", -1, "h2"},
    {"127.10.3.4", "h2,http/1.1", -1, ""}, /* alpn=none */
};

START_TEST(test_alpn)
{
    struct client c = handshake(
        &(struct client_opts){.ip = alpn_cases[_i].ip, .sni = NAME, .alpn = alpn_cases[_i].offer});
    if (alpn_cases[_i].alert >= 0) {
        assert_alert(&c, alpn_cases[_i].alert);
        return;
    }
    ck_assert_msg(c.ok, "case %d: handshake failed, alert %d", _i, c.alert);
    ck_assert_str_eq(c.alpn, alpn_cases[_i].alpn);
}
END_TEST

static const struct {
    const char *ip;
    const char *sni;
    int alert;
} sni_cases[] = {
    {"127.10.3.5", NULL, SSL_AD_UNRECOGNIZED_NAME}, /* 112 */
    {"127.10.3.5", "other.example.test", SSL_AD_UNRECOGNIZED_NAME},
    {"127.10.3.5", NAME, -1},
    {"127.10.3.5", "SHOP.Example.TEST", -1}, /* DNS names compare case-insensitively */
    {"127.10.1.1", NULL, -1},                /* sni=any */
    {"127.10.1.1", "other.example.test", -1},
};

START_TEST(test_sni)
{
    struct client c =
        handshake(&(struct client_opts){.ip = sni_cases[_i].ip, .sni = sni_cases[_i].sni});
    if (sni_cases[_i].alert >= 0)
        assert_alert(&c, sni_cases[_i].alert);
    else
        ck_assert_msg(c.ok, "case %d: handshake failed, alert %d", _i, c.alert);
}
END_TEST

START_TEST(test_sni_strict_tls12)
{
    /* The SNI check runs before version negotiation: the same for TLS 1.2. */
    struct client c = handshake(&(struct client_opts){
        .ip = "127.10.3.5", .max_version = TLS1_2_VERSION, .sni = "other.example.test"});
    assert_alert(&c, SSL_AD_UNRECOGNIZED_NAME);
}
END_TEST

/* ---- after the handshake: HTTP/2 and HTTP/1.1 --------------------------------- */

static const uint8_t h2_preface_settings[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                             "\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/* Reads exactly n bytes of application data; returns SSL_read's last result. */
static int ssl_read_n(SSL *ssl, uint8_t *buf, size_t n)
{
    size_t got = 0;
    int rc = 1;
    while (got < n) {
        rc = SSL_read(ssl, buf + got, (int)(n - got));
        if (rc <= 0)
            return rc;
        got += (size_t)rc;
    }
    return rc;
}

START_TEST(test_h2_ok)
{
    struct client c;
    client_run(&c, &(struct client_opts){.ip = "127.10.4.1", .sni = NAME, .alpn = "h2"});
    ck_assert(c.ok);
    ck_assert_str_eq(c.alpn, "h2");
    size_t n = sizeof h2_preface_settings - 1;
    ck_assert_int_eq(SSL_write(c.ssl, h2_preface_settings, (int)n), (int)n);
    uint8_t f[18];
    ck_assert_int_gt(ssl_read_n(c.ssl, f, sizeof f), 0);
    /* SETTINGS (type 4), empty, stream 0; then SETTINGS with the ACK flag. */
    static const uint8_t want[18] = {0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0};
    ck_assert_mem_eq(f, want, sizeof want);
    client_close(&c);
}
END_TEST

START_TEST(test_h2_broken)
{
    struct client c;
    client_run(&c, &(struct client_opts){.ip = "127.10.4.2", .sni = NAME, .alpn = "h2"});
    ck_assert(c.ok);
    ck_assert_str_eq(c.alpn, "h2");
    size_t n = sizeof h2_preface_settings - 1;
    ck_assert_int_eq(SSL_write(c.ssl, h2_preface_settings, (int)n), (int)n);
    uint8_t f[9];
    ERR_clear_error();
    int rc = SSL_read(c.ssl, f, sizeof f);
    /* EOF (no close_notify), not a frame, not a reset, not a timeout. */
    ck_assert_int_le(rc, 0);
    ck_assert_int_eq(SSL_get_error(c.ssl, rc), SSL_ERROR_SSL);
    ck_assert_int_eq(ERR_GET_REASON(ERR_peek_error()), SSL_R_UNEXPECTED_EOF_WHILE_READING);
    ERR_clear_error();
    client_close(&c);
}
END_TEST

START_TEST(test_http11_request)
{
    struct client c;
    client_run(&c, &(struct client_opts){.ip = "127.10.1.1", .sni = NAME, .alpn = "http/1.1"});
    ck_assert(c.ok);
    static const char req[] = "GET / HTTP/1.1\r\nHost: " NAME "\r\n\r\n";
    ck_assert_int_eq(SSL_write(c.ssl, req, sizeof req - 1), (int)sizeof req - 1);
    /* Status, Server, an IMF-fixdate Date of now (no clock_skew=), close. */
    static const char head[] = "HTTP/1.1 200 OK\r\nServer: edgeshake-lab\r\nDate: ";
    static const char tail[] = "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    enum { DATE_LEN = 29 }; /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    uint8_t buf[sizeof head - 1 + DATE_LEN + sizeof tail - 1];
    ck_assert_int_gt(ssl_read_n(c.ssl, buf, sizeof buf), 0);
    ck_assert_mem_eq(buf, head, sizeof head - 1);
    ck_assert_mem_eq(buf + sizeof head - 1 + DATE_LEN, tail, sizeof tail - 1);
    int64_t now = (int64_t)time(NULL), date;
    ck_assert(es_http_date_parse((const char *)buf + sizeof head - 1, DATE_LEN, now, &date));
    ck_assert_int_le(llabs((long long)(date - now)), 2);
    /* Then close_notify. */
    int rc = SSL_read(c.ssl, buf, sizeof buf);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(SSL_get_error(c.ssl, rc), SSL_ERROR_ZERO_RETURN);
    client_close(&c);
}
END_TEST

START_TEST(test_close_notify_answered)
{
    /* A client that says goodbye gets close_notify back, then EOF. */
    struct client c;
    client_run(&c, &(struct client_opts){.ip = "127.10.1.1", .sni = NAME, .alpn = "http/1.1"});
    ck_assert(c.ok);
    ck_assert_int_eq(SSL_shutdown(c.ssl), 0); /* sent ours, theirs not yet seen */
    ck_assert_int_eq(SSL_shutdown(c.ssl), 1); /* theirs arrived */
    client_close(&c);
}
END_TEST

/* ---- faults -------------------------------------------------------------------- */

START_TEST(test_refuse)
{
    ck_assert_int_eq(tcp_connect("127.10.5.1", PORT), -ECONNREFUSED);
}
END_TEST

START_TEST(test_blackhole)
{
    int fd = tcp_connect("127.10.5.2", PORT);
    ck_assert_int_ge(fd, 0);
    send_hello(fd);
    uint8_t buf[64];
    bool eof;
    /* Neither a byte nor EOF within 1.5 s. */
    ck_assert_uint_eq(read_for(fd, buf, sizeof buf, 1500, &eof), 0);
    ck_assert(!eof);
    close(fd);
}
END_TEST

START_TEST(test_reset)
{
    struct client c = handshake(&(struct client_opts){.ip = "127.10.5.3", .sni = NAME});
    ck_assert(!c.ok);
    ck_assert_int_eq(c.alert, -1);
    ck_assert_int_eq(c.ssl_error, SSL_ERROR_SYSCALL);
    ck_assert_int_eq(c.sys_errno, ECONNRESET);
}
END_TEST

START_TEST(test_garbage)
{
    int fd = tcp_connect("127.10.5.4", PORT);
    ck_assert_int_ge(fd, 0);
    send_hello(fd);
    uint8_t buf[2048];
    bool eof;
    size_t n = read_for(fd, buf, sizeof buf, 5000, &eof);
    ck_assert_uint_eq(n, 512);
    ck_assert(eof);
    ck_assert_msg(buf[0] < 0x14 || buf[0] > 0x18, "first byte 0x%02x is a TLS content type",
                  buf[0]);
    close(fd);
    /* A TLS client fails without an alert. */
    struct client c = handshake(&(struct client_opts){.ip = "127.10.5.4", .sni = NAME});
    ck_assert(!c.ok);
    ck_assert_int_eq(c.alert, -1);
}
END_TEST

START_TEST(test_http)
{
    static const char want[] =
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    int fd = tcp_connect("127.10.5.5", PORT);
    ck_assert_int_ge(fd, 0);
    send_hello(fd);
    uint8_t buf[512];
    bool eof;
    size_t n = read_for(fd, buf, sizeof buf, 5000, &eof);
    ck_assert(eof);
    ck_assert_uint_eq(n, sizeof want - 1);
    ck_assert_mem_eq(buf, want, n);
    close(fd);
    struct client c = handshake(&(struct client_opts){.ip = "127.10.5.5", .sni = NAME});
    ck_assert(!c.ok);
    ck_assert_int_eq(c.alert, -1);
    ck_assert_int_eq(c.reason, SSL_R_WRONG_VERSION_NUMBER);
}
END_TEST

START_TEST(test_drip)
{
    int fd = tcp_connect("127.10.5.6", PORT);
    ck_assert_int_ge(fd, 0);
    send_hello(fd);
    uint8_t buf[16];
    bool eof;
    size_t first = read_for(fd, buf, sizeof buf, 1000, &eof);
    ck_assert_msg(first <= 2, "%zu bytes in the first second", first);
    ck_assert(!eof);
    /* More keeps coming, and it is a handshake record (ServerHello). */
    size_t more = read_for(fd, buf + first, 3 - first, 5000, &eof);
    ck_assert_uint_eq(first + more, 3);
    ck_assert_int_eq(buf[0], 0x16);
    ck_assert_int_eq(buf[1], 0x03);
    close(fd);
}
END_TEST

START_TEST(test_delay)
{
    struct timespec t0;
    int fd = tcp_connect("127.10.6.1", PORT);
    ck_assert_int_ge(fd, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    send_hello(fd);
    /* Meanwhile another edge answers at once: the delay is a timer, not a
     * sleep of the lab's loop. */
    struct client other = handshake(&(struct client_opts){.ip = "127.10.1.1", .sni = NAME});
    ck_assert(other.ok);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (elapsed_ms(&t0) < 800)
        ck_assert_int_eq(poll(&p, 1, 0), 0);
    uint8_t buf[5];
    bool eof;
    size_t n = read_for(fd, buf, sizeof buf, 5000, &eof);
    long ms = elapsed_ms(&t0);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(buf[0], 0x16);
    ck_assert_msg(ms >= 900, "ServerHello after %ld ms, delay=1000", ms);
    close(fd);
    /* And the handshake itself completes. */
    struct client c = handshake(&(struct client_opts){.ip = "127.10.6.1", .sni = NAME});
    ck_assert(c.ok);
}
END_TEST

START_TEST(test_flaky)
{
    int ok = 0, reset = 0;
    for (int i = 0; i < 40; i++) {
        struct client c = handshake(&(struct client_opts){.ip = "127.10.6.2", .sni = NAME});
        if (c.ok)
            ok++;
        else if (c.ssl_error == SSL_ERROR_SYSCALL && c.sys_errno == ECONNRESET)
            reset++;
    }
    /* flaky=50: all 40 alike has probability 2^-39. */
    ck_assert_int_eq(ok + reset, 40);
    ck_assert_int_gt(ok, 0);
    ck_assert_int_gt(reset, 0);
}
END_TEST

/* client_cert=required: a TLS 1.3 client finishes its handshake, then the
 * edge's alert 116 (certificate_required) arrives; a TLS 1.2 client gets
 * alert 40 during the handshake. */
START_TEST(test_client_cert_required)
{
    struct client c;
    client_run(
        &c, &(struct client_opts){.ip = "127.10.7.1", .sni = NAME, .min_version = TLS1_3_VERSION});
    ck_assert(c.ok);
    ck_assert_int_eq(c.alert, -1);
    uint8_t b;
    ERR_clear_error();
    int r = SSL_read(c.ssl, &b, 1);
    ck_assert_int_le(r, 0);
    ck_assert_int_eq(SSL_get_error(c.ssl, r), SSL_ERROR_SSL);
    ck_assert_int_eq(c.alert, 116);
    ERR_clear_error();
    client_close(&c);

    c = handshake(
        &(struct client_opts){.ip = "127.10.7.1", .sni = NAME, .max_version = TLS1_2_VERSION});
    assert_alert(&c, 40);
    /* the healthy edge asks for nothing */
    client_run(&c, &(struct client_opts){.ip = "127.10.1.1",
                                         .sni = NAME,
                                         .min_version = TLS1_3_VERSION,
                                         .alpn = "http/1.1"});
    ck_assert(c.ok);
    ck_assert_int_eq(SSL_write(c.ssl, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    char buf[64];
    ck_assert_int_gt(SSL_read(c.ssl, buf, sizeof buf), 0);
    ck_assert_int_eq(c.alert, -1);
    ERR_clear_error();
    client_close(&c);
}
END_TEST

/* client_cert=optional: a CertificateRequest (OpenSSL's client answers it
 * with an empty Certificate), no verdict and no session ticket after the
 * handshake: nothing arrives until the client speaks. */
static int cert_requested(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
    (void)x509;
    (void)pkey;
    int *asked = SSL_get_app_data(ssl);
    if (asked)
        *asked = 1;
    return 0; /* no certificate */
}

START_TEST(test_client_cert_optional)
{
    for (int tls = TLS1_2_VERSION; tls <= TLS1_3_VERSION; tls++) {
        struct client c;
        client_run(&c, &(struct client_opts){.ip = "127.10.7.4",
                                             .sni = NAME,
                                             .min_version = tls,
                                             .max_version = tls,
                                             .alpn = "http/1.1"});
        ck_assert(c.ok);
        if (tls == TLS1_3_VERSION) {
            bool eof;
            uint8_t buf[64];
            ck_assert_uint_eq(read_for(c.fd, buf, sizeof buf, 300, &eof), 0);
            ck_assert(!eof);
        }
        ck_assert_int_eq(SSL_write(c.ssl, "GET / HTTP/1.1\r\n\r\n", 18), 18);
        char buf[64];
        ck_assert_int_gt(SSL_read(c.ssl, buf, sizeof buf), 0);
        ck_assert_int_eq(c.alert, -1);
        ERR_clear_error();
        client_close(&c);
    }
    /* it did ask */
    int asked = 0;
    int fd = tcp_connect("127.10.7.4", PORT);
    ck_assert_int_ge(fd, 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_client_cert_cb(ctx, cert_requested);
    SSL *ssl = SSL_new(ctx);
    SSL_set_app_data(ssl, &asked);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, NAME);
    ck_assert_int_eq(SSL_connect(ssl), 1);
    ck_assert_int_eq(asked, 1);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
}
END_TEST

/* dh=BITS: TLS 1.2 DHE with that prime (RSA key, DHE suites only); a client
 * that offers no DHE suite is refused. */
START_TEST(test_dh)
{
    struct client c = handshake(&(struct client_opts){
        .ip = "127.10.7.2", .sni = NAME, .max_version = TLS1_2_VERSION, .seclevel0 = true});
    ck_assert(c.ok);
    ck_assert_int_eq(c.key_type, EVP_PKEY_RSA);
    ck_assert_int_eq(c.tmp_bits, 1024);
    ck_assert_str_eq(c.tmp_group, ""); /* RFC 2409's prime: no name */

    c = handshake(&(struct client_opts){.ip = "127.10.7.3", .sni = NAME});
    ck_assert(c.ok);
    ck_assert_int_eq(c.version, TLS1_2_VERSION);
    ck_assert_int_eq(c.tmp_bits, 2048);
    ck_assert_str_eq(c.tmp_group, "ffdhe2048");

    c = handshake(&(struct client_opts){
        .ip = "127.10.7.3", .sni = NAME, .ciphers = "ECDHE-RSA-AES128-GCM-SHA256"});
    assert_alert(&c, 40);
    /* dh= leaves TLS 1.3 as it was */
    c = handshake(&(struct client_opts){.ip = "127.10.7.2", .sni = NAME});
    ck_assert(c.ok);
    ck_assert_int_eq(c.version, TLS1_3_VERSION);
    ck_assert_int_eq(c.tmp_bits, 253);
}
END_TEST

START_TEST(test_many_connections)
{
    /* 500 idle connections at once do not stop the edge from serving. */
    enum { N = 500 };
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < N + 64 && rl.rlim_max >= N + 64) {
        rl.rlim_cur = N + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = tcp_connect("127.10.1.1", PORT);
        ck_assert_int_ge(fds[i], 0);
    }
    for (int i = 0; i < N; i += 50)
        send_hello(fds[i]);
    struct client c = handshake(&(struct client_opts){.ip = "127.10.1.1", .sni = NAME});
    ck_assert(c.ok);
    /* The half-started ones got their ServerHello. */
    uint8_t b;
    bool eof;
    ck_assert_uint_eq(read_for(fds[N - 50], &b, 1, 5000, &eof), 1);
    ck_assert_int_eq(b, 0x16);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}
END_TEST

/* ---- es_lab_edges_start in-process ----------------------------------------------- */

static struct es_labspec *parse(const char *text)
{
    char err[512];
    struct es_labspec *spec = es_labspec_parse(text, strlen(text), "t.lab", err, sizeof err);
    ck_assert_msg(spec != NULL, "spec: %s", err);
    return spec;
}

static const struct {
    const char *spec;
    const char *err;
} start_errors[] = {
    {"edge 127.10.200.1:8443\nedge 127.10.200.2:8443 ciphers=NOPE\n",
     "t.lab:2: ciphers=NOPE: OpenSSL rejects it"},
    {"edge 127.10.200.1:8443\nedge 127.10.200.2:8443 groups=P-999\n",
     "t.lab:2: groups=P-999: OpenSSL rejects it"},
    {"edge 127.10.200.1:8443\n\nedge 127.10.200.2:8443 ciphersuites=TLS_NOPE\n",
     "t.lab:3: ciphersuites=TLS_NOPE: OpenSSL rejects it"},
};

/* True when we can bind ip:PORT ourselves, i.e. nothing listens there. */
static bool port_free(const char *ip)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0;
    close(fd);
    return ok;
}

START_TEST(test_start_error)
{
    struct es_labspec *spec = parse(start_errors[_i].spec);
    struct es_labcerts *certs = es_labcerts_new();
    struct es_loop *loop = es_loop_new();
    char err[512] = "";
    struct es_lab_edges *e = es_lab_edges_start(loop, spec, certs, err, sizeof err);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(err, start_errors[_i].err);
    /* The first edge was bound before the second failed: its listener is closed. */
    ck_assert(port_free("127.10.200.1"));
    es_loop_free(loop);
    es_labcerts_free(certs);
    es_labspec_free(spec);
}
END_TEST

START_TEST(test_start_address_in_use)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    inet_pton(AF_INET, "127.10.200.3", &sa.sin_addr);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    struct es_labspec *spec = parse("edge 127.10.200.1:8443\nedge 127.10.200.3:8443\n");
    struct es_labcerts *certs = es_labcerts_new();
    struct es_loop *loop = es_loop_new();
    char err[512] = "";
    ck_assert_ptr_null(es_lab_edges_start(loop, spec, certs, err, sizeof err));
    ck_assert_str_eq(err, "t.lab:2: cannot listen on 127.10.200.3:8443: Address already in use");
    ck_assert(port_free("127.10.200.1"));
    close(fd);
    es_loop_free(loop);
    es_labcerts_free(certs);
    es_labspec_free(spec);
}
END_TEST

struct loop_thread {
    struct es_loop *loop;
    volatile sig_atomic_t stop;
};

static void *run_loop(void *arg)
{
    struct loop_thread *t = arg;
    es_loop_run(t->loop, &t->stop);
    return NULL;
}

START_TEST(test_free_closes_everything)
{
    struct es_labspec *spec =
        parse("edge 127.10.200.1:8443 cert=" NAME "\nedge 127.10.200.2:8443 fault=blackhole\n"
              "edge 127.10.200.4:8443 fault=refuse\n");
    struct es_labcerts *certs = es_labcerts_new();
    struct loop_thread t = {.loop = es_loop_new()};
    char err[512] = "";
    struct es_lab_edges *e = es_lab_edges_start(t.loop, spec, certs, err, sizeof err);
    ck_assert_msg(e != NULL, "%s", err);
    ck_assert_int_eq(tcp_connect("127.10.200.4", PORT), -ECONNREFUSED);
    ca_path[0] = '\0';
    char *dir = tl_tmpdir();
    snprintf(ca_path, sizeof ca_path, "%s/ca.crt", dir);
    ck_assert_int_eq(es_labcerts_write_ca(certs, ca_path), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, run_loop, &t), 0);

    /* One established, one mid-handshake, one blackholed. */
    struct client c;
    client_run(&c, &(struct client_opts){.ip = "127.10.200.1", .sni = NAME});
    ck_assert(c.ok);
    ck_assert_int_eq(c.verify, X509_V_OK);
    int mid = tcp_connect("127.10.200.1", PORT);
    send_hello(mid);
    uint8_t b;
    bool eof;
    ck_assert_uint_eq(read_for(mid, &b, 1, 5000, &eof), 1);
    int hole = tcp_connect("127.10.200.2", PORT);
    ck_assert_int_ge(hole, 0);
    usleep(100 * 1000); /* let the loop accept it */

    t.stop = 1;
    pthread_join(th, NULL);
    es_lab_edges_free(e);
    /* Listeners are closed and every connection sees its end. */
    ck_assert_int_eq(tcp_connect("127.10.200.1", PORT), -ECONNREFUSED);
    ck_assert_int_eq(tcp_connect("127.10.200.2", PORT), -ECONNREFUSED);
    uint8_t buf[4096];
    read_for(hole, buf, sizeof buf, 5000, &eof);
    ck_assert(eof);
    read_for(mid, buf, sizeof buf, 5000, &eof);
    ck_assert(eof);
    read_for(c.fd, buf, sizeof buf, 5000, &eof);
    ck_assert(eof);
    close(hole);
    close(mid);
    client_close(&c);
    es_loop_free(t.loop);
    es_labcerts_free(certs);
    es_labspec_free(spec);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lab_edge");

    TCase *start = tcase_create("start");
    tcase_add_loop_test(start, test_start_error, 0,
                        (int)(sizeof start_errors / sizeof start_errors[0]));
    tcase_add_test(start, test_start_address_in_use);
    tcase_add_test(start, test_free_closes_everything);
    suite_add_tcase(s, start);

    TCase *tc = tcase_create("lab");
    tcase_add_unchecked_fixture(tc, lab_up, lab_down);
    tcase_add_test(tc, test_good_edge);
    tcase_add_test(tc, test_rsa_edge);
    tcase_add_loop_test(tc, test_cert_kind, 0, (int)(sizeof cert_cases / sizeof cert_cases[0]));
    tcase_add_test(tc, test_tls12_edge_rejects_tls13_client);
    tcase_add_test(tc, test_cipher_mismatch);
    tcase_add_test(tc, test_tls10_edge);
    tcase_add_test(tc, test_group_mismatch);
    tcase_add_loop_test(tc, test_alpn, 0, (int)(sizeof alpn_cases / sizeof alpn_cases[0]));
    tcase_add_loop_test(tc, test_sni, 0, (int)(sizeof sni_cases / sizeof sni_cases[0]));
    tcase_add_test(tc, test_sni_strict_tls12);
    tcase_add_test(tc, test_h2_ok);
    tcase_add_test(tc, test_h2_broken);
    tcase_add_test(tc, test_http11_request);
    tcase_add_test(tc, test_close_notify_answered);
    tcase_add_test(tc, test_refuse);
    tcase_add_test(tc, test_blackhole);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_garbage);
    tcase_add_test(tc, test_http);
    tcase_add_test(tc, test_drip);
    tcase_add_test(tc, test_delay);
    tcase_add_test(tc, test_flaky);
    tcase_add_test(tc, test_client_cert_required);
    tcase_add_test(tc, test_dh);
    tcase_add_test(tc, test_client_cert_optional);
    tcase_add_test(tc, test_many_connections);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
