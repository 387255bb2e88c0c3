/* test_tlsprobe.c - the client TLS state machine, without sockets: bytes are
 * pumped between an es_tlsprobe and a server SSL (or a fake server) in
 * memory. One test per outcome of DESIGN §3.2: versions, alerts, stages,
 * non-TLS answers, EOF, reset, timeout, every verify value, the certificate
 * fields, the verify cache, the --h2-check outcomes, SNI and ALPN as sent,
 * the SSL_get_error mapper and the token tables. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#if !defined(OPENSSL_NO_ENGINE) && OPENSSL_VERSION_NUMBER < 0x30100000L
#include <openssl/ec.h>
#include <openssl/engine.h>
#endif

#include "edgeshake/labcert.h"
#include "edgeshake/tlsprobe.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"
#include "testlib.h"

#define HOST "shop.test"

static const uint8_t alpn_h2_h11[] = "\x02h2\x08http/1.1";
static const uint8_t alpn_h11[] = "\x08http/1.1";
static const uint8_t alpn_h2[] = "\x02h2";

/* ------------------------------------------------------------------------ */
/* Fixture: lab certificates, a CA file, a probe buffer.                     */

static struct es_labcerts *certs;
static char *tmpdir, *ca_file;
static struct es_tlsprobe *tp;

static void setup(void)
{
    certs = es_labcerts_new();
    tmpdir = tl_tmpdir();
    size_t n = strlen(tmpdir) + sizeof "/ca.crt";
    ca_file = malloc(n);
    snprintf(ca_file, n, "%s/ca.crt", tmpdir);
    ck_assert_int_eq(es_labcerts_write_ca(certs, ca_file), 0);
    tp = malloc(es_tlsprobe_size());
}

static void teardown(void)
{
    free(tp);
    tp = NULL;
    tl_rmtree(tmpdir);
    free(tmpdir);
    free(ca_file);
    es_labcerts_free(certs);
    certs = NULL;
}

/* ------------------------------------------------------------------------ */
/* Variants, edges, ctxsets.                                                 */

static struct es_variant variant(int tls_min, int tls_max, const uint8_t *alpn,
                                 enum es_sni_mode sni)
{
    struct es_variant v = {
        .name = "test",
        .tls_min = tls_min,
        .tls_max = tls_max,
        .tls_offered = "test",
        .alpn_offered = alpn ? "test" : "none",
        .alpn_wire = alpn,
        .alpn_wire_len = alpn ? strlen((const char *)alpn) : 0,
        .sni_mode = sni,
        .ciphers_offered = "",
        .groups_offered = "",
    };
    return v;
}

static struct es_edge edge_for(const char *host, bool is_ip)
{
    struct es_edge e = {.host = host, .host_is_ip = is_ip, .port = 443, .resolver = "-"};
    return e;
}

static struct es_tls_ctxset *mkset(const struct es_variant *v, size_t n, bool no_verify,
                                   bool h2_check)
{
    struct es_tls_opts o = {.ca_file = ca_file, .no_verify = no_verify, .h2_check = h2_check};
    char err[256] = "";
    struct es_tls_ctxset *set = es_tls_ctxset_new(v, n, &o, err, sizeof err);
    ck_assert_msg(set != NULL, "ctxset: %s", err);
    return set;
}

/* ------------------------------------------------------------------------ */
/* The server side.                                                          */

enum srv_mode {
    SRV_TLS,       /* a real TLS server */
    SRV_TLS_CLOSE, /* TLS, but close after its first flight */
    SRV_RAW,       /* answer the ClientHello with raw bytes, then close */
    SRV_EOF,       /* close after the ClientHello */
    SRV_RESET,     /* reset after the ClientHello */
    SRV_SILENT,    /* never answer */
};

enum srv_h2 {
    H2_NONE,           /* no HTTP/2 behaviour */
    H2_SETTINGS,       /* SETTINGS after the preface */
    H2_SETTINGS_SPLIT, /* the same, in two TLS records cut inside the header */
    H2_EOF,            /* close after the preface */
    H2_GOAWAY1,        /* GOAWAY PROTOCOL_ERROR */
    H2_GOAWAY_BIG,     /* GOAWAY with error code 0x1234 */
    H2_BAD,            /* a frame length no server may send */
    H2_HEADERS,        /* a HEADERS frame first */
    H2_SILENT,         /* nothing after the preface */
};

struct srv_conf {
    struct es_lableaf leaf;
    bool no_chain; /* send the leaf alone */
    int tls_min, tls_max;
    const char *ciphers, *ciphersuites, *groups;
    const uint8_t *alpn; /* accepted protocols (wire format), NULL = ignore ALPN */
    bool alpn_strict, sni_strict, ocsp, seclevel0;
    bool client_cert;          /* require a client certificate (we never send one) */
    bool client_cert_optional; /* ask for one, accept none */
    bool no_tickets;           /* TLS 1.3: no session tickets after the handshake */
    EVP_PKEY *dh;              /* DHE parameters (TLS 1.2 DHE suites), NULL = none */
};

enum act { ACT_NONE, ACT_EOF, ACT_RESET };

struct server {
    enum srv_mode mode;
    enum srv_h2 h2;
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out; /* owned by ssl in TLS modes */
    const uint8_t *raw;
    size_t rawlen, rx;
    bool hs_done, failed, closing, replied;
    /* what the server saw */
    bool hello_seen, sni_ext, alpn_ext;
    bool psk_ext;      /* TLS 1.3 pre_shared_key: a session offered for resumption */
    size_t ticket_len; /* TLS 1.2 session_ticket extension's length */
    char sni[256];
    uint8_t app[256];
    size_t app_len;
};

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    const struct srv_conf *c = arg;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, c->alpn, (unsigned)strlen((const char *)c->alpn), in,
                              inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    return c->alpn_strict ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

static int client_hello_cb(SSL *ssl, int *al, void *arg)
{
    (void)al;
    (void)arg;
    struct server *s = SSL_get_app_data(ssl);
    const unsigned char *ext;
    size_t len;
    s->hello_seen = true;
    s->sni_ext = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) == 1;
    s->alpn_ext = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation,
                                            &ext, &len) == 1;
    s->psk_ext = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &ext, &len) == 1;
    s->ticket_len = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_session_ticket, &ext, &len) == 1
                        ? len
                        : 0;
    return SSL_CLIENT_HELLO_SUCCESS;
}

static int servername_cb(SSL *ssl, int *al, void *arg)
{
    const struct srv_conf *c = arg;
    struct server *s = SSL_get_app_data(ssl);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    snprintf(s->sni, sizeof s->sni, "%s", name ? name : "");
    if (c->sni_strict && (!name || strcmp(name, HOST) != 0)) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

static int ocsp_cb(SSL *ssl, void *arg)
{
    (void)arg;
    static const uint8_t fake[] = {0x30, 0x03, 0x0a, 0x01, 0x06}; /* OCSPResponse, unauthorized */
    unsigned char *resp = OPENSSL_malloc(sizeof fake);
    memcpy(resp, fake, sizeof fake);
    SSL_set_tlsext_status_ocsp_resp(ssl, resp, (long)sizeof fake);
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *server_ctx(const struct srv_conf *c)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(ctx);
    if (c->seclevel0)
        SSL_CTX_set_security_level(ctx, 0);
    ck_assert_int_eq(SSL_CTX_use_certificate(ctx, c->leaf.cert), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, c->leaf.key), 1);
    if (c->leaf.issuer && !c->no_chain)
        ck_assert_int_eq(SSL_CTX_add1_chain_cert(ctx, c->leaf.issuer), 1);
    ck_assert_int_eq(SSL_CTX_set_min_proto_version(ctx, c->tls_min), 1);
    ck_assert_int_eq(SSL_CTX_set_max_proto_version(ctx, c->tls_max), 1);
    if (c->ciphers)
        ck_assert_int_eq(SSL_CTX_set_cipher_list(ctx, c->ciphers), 1);
    if (c->ciphersuites)
        ck_assert_int_eq(SSL_CTX_set_ciphersuites(ctx, c->ciphersuites), 1);
    if (c->groups)
        ck_assert_int_eq(SSL_CTX_set1_groups_list(ctx, c->groups), 1);
    if (c->alpn)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)c);
    SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, (void *)c);
    if (c->ocsp)
        SSL_CTX_set_tlsext_status_cb(ctx, ocsp_cb);
    if (c->client_cert)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if (c->client_cert_optional)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (c->no_tickets)
        SSL_CTX_set_num_tickets(ctx, 0);
    if (c->dh) {
        ck_assert(EVP_PKEY_up_ref(c->dh));
        ck_assert_int_eq(SSL_CTX_set0_tmp_dh_pkey(ctx, c->dh), 1);
    }
    return ctx;
}

/* A server for conf c (kept by pointer: it must outlive the server). */
static void server_init(struct server *s, enum srv_mode mode, const struct srv_conf *c)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(s->in, -1);
    if (mode == SRV_TLS || mode == SRV_TLS_CLOSE) {
        s->ctx = server_ctx(c);
        s->ssl = SSL_new(s->ctx);
        SSL_set_app_data(s->ssl, s);
        SSL_set_bio(s->ssl, s->in, s->out);
        SSL_set_accept_state(s->ssl);
    }
}

static void server_free(struct server *s)
{
    if (s->ssl) {
        SSL_free(s->ssl);
    } else {
        BIO_free(s->in);
        BIO_free(s->out);
    }
    SSL_CTX_free(s->ctx);
}

static void server_write(struct server *s, const void *p, size_t n)
{
    ck_assert_int_eq(SSL_write(s->ssl, p, (int)n), (int)n);
}

/* What the server does with the application data it read (HTTP/2). */
static enum act server_h2(struct server *s)
{
    static const uint8_t settings[] = {0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100};
    static const uint8_t goaway1[] = {0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t goaway_big[] = {0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34};
    static const uint8_t bad[] = {0xff, 0xff, 0xff, 4, 0, 0, 0, 0, 0};
    static const uint8_t headers[] = {0, 0, 0, 1, 4, 0, 0, 0, 1};
    for (;;) {
        int r = SSL_read(s->ssl, s->app + s->app_len, (int)(sizeof s->app - s->app_len));
        if (r <= 0)
            break;
        s->app_len += (size_t)r;
    }
    ERR_clear_error();
    if (s->replied || s->app_len < 33) /* client preface + SETTINGS */
        return ACT_NONE;
    s->replied = true;
    switch (s->h2) {
    case H2_NONE:
    case H2_SILENT: break;
    case H2_SETTINGS: server_write(s, settings, sizeof settings); break;
    case H2_SETTINGS_SPLIT:
        server_write(s, settings, 5);
        server_write(s, settings + 5, sizeof settings - 5);
        break;
    case H2_EOF: s->closing = true; break; /* once its tickets are out */
    case H2_GOAWAY1: server_write(s, goaway1, sizeof goaway1); break;
    case H2_GOAWAY_BIG: server_write(s, goaway_big, sizeof goaway_big); break;
    case H2_BAD: server_write(s, bad, sizeof bad); break;
    case H2_HEADERS: server_write(s, headers, sizeof headers); break;
    }
    return ACT_NONE;
}

/* Lets the server act on what it has read. */
static enum act server_step(struct server *s)
{
    if (s->rx == 0)
        return ACT_NONE;
    switch (s->mode) {
    case SRV_RAW:
        if (s->replied)
            return ACT_EOF;
        BIO_write(s->out, s->raw, (int)s->rawlen);
        s->replied = true;
        return ACT_NONE;
    case SRV_EOF: return ACT_EOF;
    case SRV_RESET: return ACT_RESET;
    case SRV_SILENT: return ACT_NONE;
    case SRV_TLS:
    case SRV_TLS_CLOSE: break;
    }
    if (s->closing || s->failed)
        return BIO_ctrl_pending(s->out) ? ACT_NONE : ACT_EOF;
    if (!s->hs_done) {
        int r = SSL_do_handshake(s->ssl);
        if (r == 1)
            s->hs_done = true;
        else if (SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ)
            s->failed = true;
        ERR_clear_error();
        if (s->mode == SRV_TLS_CLOSE && BIO_ctrl_pending(s->out))
            s->closing = true;
    }
    if (s->hs_done && s->h2 != H2_NONE)
        return server_h2(s);
    return ACT_NONE;
}

/* ------------------------------------------------------------------------ */
/* The pump.                                                                 */

static uint64_t t0;

struct pump_opts {
    bool drip_in;  /* deliver the server's bytes one at a time */
    bool drip_out; /* take the client's bytes one at a time */
    bool push;     /* es_tlsprobe_push what arrives, es_tlsprobe_step once it stops */
};

static unsigned steps;    /* es_tlsprobe_step calls of the last run_probe with push */
static unsigned graces;   /* times the last run_probe let a probe's own wait end */
static uint64_t grace_ns; /* the last such wait: from its start to its end */

/* Client -> server; returns the bytes moved. */
static size_t to_server(struct server *s, const struct pump_opts *o)
{
    const uint8_t *d;
    size_t n, moved = 0;
    while ((n = es_tlsprobe_pending(tp, &d)) > 0) {
        if (o->drip_out)
            n = 1;
        ck_assert_int_eq(BIO_write(s->in, d, (int)n), (int)n);
        es_tlsprobe_sent(tp, n);
        s->rx += n;
        moved += n;
    }
    return moved;
}

/* Runs probe (variant, edge) against s until ES_TLS_DONE; the client's last
 * bytes are delivered and the server gets to read them. */
static void run_probe(struct es_tls_ctxset *set, uint32_t variant, const struct es_edge *edge,
                      struct server *s, const struct pump_opts *o, struct es_row *row)
{
    static const struct pump_opts plain;
    if (!o)
        o = &plain;
    struct es_probe p = {.edge = edge, .variant = variant, .attempt = 1};
    uint64_t now = t0 = es_now_ns();
    enum es_tls_want w = es_tlsprobe_start(tp, set, &p, now);
    bool pushed = false;
    steps = graces = 0;
    grace_ns = 0;
    for (int iter = 0; iter < 100000 && w != ES_TLS_DONE; iter++) {
        size_t moved = to_server(s, o);
        enum act a = server_step(s);
        uint8_t buf[1 << 15];
        int n = BIO_read(s->out, buf, o->drip_in ? 1 : (int)sizeof buf);
        if (n > 0 && o->push) {
            w = es_tlsprobe_push(tp, buf, (size_t)n);
            pushed = true;
        } else if (n > 0) {
            now += 1000000; /* 1 ms per delivery */
            w = es_tlsprobe_input(tp, buf, (size_t)n, now);
        } else if (pushed) {
            pushed = false;
            steps++;
            w = es_tlsprobe_step(tp, now += 1000000);
        } else if (a == ACT_EOF) {
            w = es_tlsprobe_eof(tp, now);
        } else if (a == ACT_RESET) {
            w = es_tlsprobe_reset(tp, now);
        } else if (moved == 0 && es_tlsprobe_wait_until(tp) != 0) {
            /* nobody has anything to say: the probe's own wait ends */
            uint64_t until = es_tlsprobe_wait_until(tp);
            ck_assert_uint_gt(until, now);
            graces++;
            grace_ns = until - now;
            ck_assert_int_eq(es_tlsprobe_step(tp, until - 1), ES_TLS_WANT_IO);
            w = es_tlsprobe_step(tp, now = until);
        } else if (moved == 0) {
            w = es_tlsprobe_timeout(tp, now); /* nobody has anything to say */
        }
    }
    ck_assert_int_eq(w, ES_TLS_DONE);
    to_server(s, o);
    server_step(s);
    memset(row, 0, sizeof *row);
    es_tlsprobe_fill_row(tp, row);
}

/* A server conf with the lab's good leaf for HOST, TLS 1.2-1.3, ALPN h2/http1.1. */
static struct srv_conf good_conf(void)
{
    struct srv_conf c = {
        .leaf = es_labcerts_leaf(certs, HOST, ES_CERT_GOOD, ES_KEY_ECDSA),
        .tls_min = TLS1_2_VERSION,
        .tls_max = TLS1_3_VERSION,
        .alpn = alpn_h2_h11,
    };
    return c;
}

static void assert_no_tls_params(const struct es_row *r)
{
    ck_assert_ptr_null(r->tls_version);
    ck_assert_ptr_null(r->cipher);
    ck_assert_ptr_null(r->kx_group);
    ck_assert_ptr_null(r->alpn);
    ck_assert_ptr_null(r->verify);
    ck_assert_ptr_null(r->cert_sha256);
    ck_assert_ptr_null(r->cert_subject);
    ck_assert_int_eq(r->ocsp_stapled, -1);
    ck_assert_ptr_null(r->h2);
}

/* A failed probe's columns: status, error, alert and stage, all by pointer. */
static void assert_failed(const struct es_row *r, const char *status, const char *error, int alert,
                          const char *from, const char *stage)
{
    ck_assert_msg(r->status == status, "status %s, want %s", r->status, status);
    ck_assert_msg(r->error == error, "error %s, want %s", r->error, error);
    ck_assert_int_eq(r->alert, alert);
    if (alert >= 0) {
        ck_assert_ptr_eq(r->alert_name, es_alert_name(alert));
        ck_assert_ptr_eq(r->alert_from, from);
    } else {
        ck_assert_ptr_null(r->alert_name);
        ck_assert_ptr_null(r->alert_from);
    }
    ck_assert_msg(r->stage == stage, "stage %s, want %s", r->stage, stage);
}

/* ------------------------------------------------------------------------ */
/* Handshakes that complete.                                                 */

START_TEST(test_ok_tls13)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    v.ciphersuites = "TLS_AES_128_GCM_SHA256";
    v.groups = "P-256";
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);

    ck_assert_ptr_eq(r.status, es_tok_ok);
    ck_assert_ptr_null(r.error);
    ck_assert_int_eq(r.alert, -1);
    ck_assert_ptr_null(r.alert_name);
    ck_assert_ptr_eq(r.stage, es_tok_finished);
    ck_assert_str_eq(r.sni, HOST);
    ck_assert_str_eq(r.tls_version, "1.3");
    ck_assert_str_eq(r.cipher, "TLS_AES_128_GCM_SHA256");
    ck_assert_str_eq(r.kx_group, "P-256");
    ck_assert_str_eq(r.alpn, "h2");
    ck_assert_ptr_eq(r.verify, es_tok_ok);
    ck_assert_int_eq(r.ocsp_stapled, 0);
    ck_assert_ptr_null(r.h2);
    /* One round trip: the server's flight came 1 ms after the ClientHello. */
    ck_assert_double_eq_tol(r.handshake_ms, 1.0, 1e-9);
    /* The server got the client's Finished (and a close_notify). */
    ck_assert(s.hs_done);
    ck_assert_str_eq(s.sni, HOST);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_ok_tls13_default_group)
{
    struct es_variant v = variant(TLS1_3_VERSION, TLS1_3_VERSION, alpn_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_ptr_eq(r.status, es_tok_ok);
    ck_assert_str_eq(r.tls_version, "1.3");
    ck_assert_str_eq(r.cipher, "TLS_AES_256_GCM_SHA384");
    ck_assert_str_eq(r.kx_group, "X25519");
    ck_assert_str_eq(r.alpn, "http/1.1");
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_ok_tls12)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_2_VERSION, alpn_h2_h11, ES_SNI_HOST);
    v.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.ocsp = true;
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_ptr_eq(r.status, es_tok_ok);
    ck_assert_ptr_eq(r.stage, es_tok_finished);
    ck_assert_str_eq(r.tls_version, "1.2");
    ck_assert_str_eq(r.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
    ck_assert_str_eq(r.kx_group, "X25519");
    ck_assert_str_eq(r.alpn, "h2");
    ck_assert_ptr_eq(r.verify, es_tok_ok);
    ck_assert_int_eq(r.ocsp_stapled, 1);
    /* Two round trips. */
    ck_assert_double_eq_tol(r.handshake_ms, 2.0, 1e-9);
    ck_assert(s.hs_done);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_ok_tls10)
{
    struct es_variant v = variant(TLS1_VERSION, TLS1_VERSION, NULL, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, true, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.tls_min = c.tls_max = TLS1_VERSION;
    c.seclevel0 = true;
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_msg(r.status == es_tok_ok, "status %s error %s", r.status, r.error);
    ck_assert_str_eq(r.tls_version, "1.0");
    ck_assert_str_eq(r.cipher, "ECDHE-ECDSA-AES256-SHA");
    ck_assert_ptr_null(r.alpn);
    ck_assert_ptr_eq(r.verify, es_tok_off);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* The engine may take the client's bytes one at a time, and the server's may
 * come one at a time: the outcome is the same. */
START_TEST(test_ok_byte_by_byte)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, true);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    struct server s;
    server_init(&s, SRV_TLS, &c);
    s.h2 = H2_SETTINGS;
    struct pump_opts o = {.drip_in = true, .drip_out = true};
    struct es_row r;
    run_probe(set, 0, &e, &s, &o, &r);
    ck_assert_ptr_eq(r.status, es_tok_ok);
    ck_assert_str_eq(r.tls_version, "1.3");
    ck_assert_ptr_eq(r.verify, es_tok_ok);
    ck_assert_ptr_eq(r.h2, es_tok_ok);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* The engine's way: bytes pushed as they arrive (here one at a time), the
 * handshake stepped once per flight. */
START_TEST(test_ok_push_then_step)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, true);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    struct server s;
    server_init(&s, SRV_TLS, &c);
    s.h2 = H2_SETTINGS;
    struct pump_opts o = {.drip_in = true, .push = true};
    struct es_row r;
    run_probe(set, 0, &e, &s, &o, &r);
    ck_assert_ptr_eq(r.status, es_tok_ok);
    ck_assert_str_eq(r.tls_version, "1.3");
    ck_assert_ptr_eq(r.verify, es_tok_ok);
    ck_assert_ptr_eq(r.h2, es_tok_ok);
    /* the server's flight, then its SETTINGS: one step each */
    ck_assert_uint_eq(steps, 2);
    /* pushing into a finished probe says so */
    ck_assert_int_eq(es_tlsprobe_push(tp, (const uint8_t *)"x", 1), ES_TLS_DONE);
    ck_assert_int_eq(es_tlsprobe_step(tp, es_now_ns()), ES_TLS_DONE);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Alerts from the peer.                                                     */

START_TEST(test_alert_protocol_version)
{
    struct es_variant v = variant(TLS1_3_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.tls_max = TLS1_2_VERSION;
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    assert_failed(&r, es_tok_alert, es_alert_name(70), 70, es_tok_peer, es_tok_client_hello);
    ck_assert_str_eq(r.alert_name, "protocol_version");
    ck_assert_str_eq(r.error, "protocol_version");
    assert_no_tls_params(&r);
    ck_assert_double_eq_tol(r.handshake_ms, 1.0, 1e-9);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_alert_no_application_protocol)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.alpn = alpn_h2;
    c.alpn_strict = true;
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    assert_failed(&r, es_tok_alert, es_alert_name(120), 120, es_tok_peer, es_tok_client_hello);
    ck_assert_str_eq(r.alert_name, "no_application_protocol");
    assert_no_tls_params(&r);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_alert_unrecognized_name)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_NONE);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.sni_strict = true;
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    assert_failed(&r, es_tok_alert, es_alert_name(112), 112, es_tok_peer, es_tok_client_hello);
    ck_assert_str_eq(r.alert_name, "unrecognized_name");
    ck_assert_str_eq(r.sni, "none");
    ck_assert(!s.sni_ext);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_alert_handshake_failure)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_2_VERSION, alpn_h2_h11, ES_SNI_HOST);
    v.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    assert_failed(&r, es_tok_alert, es_alert_name(40), 40, es_tok_peer, es_tok_client_hello);
    ck_assert_str_eq(r.error, "handshake_failure");
    assert_no_tls_params(&r);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Failures without a peer alert.                                            */

static void run_raw(const void *bytes, size_t n, struct es_row *r, struct es_tls_ctxset **set,
                    struct server *s)
{
    static struct es_variant v;
    static struct es_edge e;
    v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    e = edge_for(HOST, false);
    *set = mkset(&v, 1, false, false);
    server_init(s, SRV_RAW, NULL);
    s->raw = bytes;
    s->rawlen = n;
    run_probe(*set, 0, &e, s, NULL, r);
}

START_TEST(test_garbage)
{
    static const uint8_t garbage[] = {0x00, 0x8f, 0x13, 0x37, 0xfe, 0x01, 0x02, 0x03,
                                      0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b};
    struct es_tls_ctxset *set;
    struct server s;
    struct es_row r;
    run_raw(garbage, sizeof garbage, &r, &set, &s);
    assert_failed(&r, es_tok_tls_error, es_tok_wrong_version_number, -1, NULL, es_tok_client_hello);
    assert_no_tls_params(&r);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_plain_http)
{
    static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    struct es_tls_ctxset *set;
    struct server s;
    struct es_row r;
    run_raw(http, sizeof http - 1, &r, &set, &s);
    assert_failed(&r, es_tok_tls_error, es_tok_wrong_version_number, -1, NULL, es_tok_client_hello);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* A handshake record that claims 64 KB: the client refuses it with a fatal
 * alert of its own; status tls_error, the alert is local and names it. */
START_TEST(test_local_alert)
{
    static const uint8_t huge[] = {0x16, 0x03, 0x03, 0xff, 0xff, 0x02, 0x00};
    struct es_tls_ctxset *set;
    struct server s;
    struct es_row r;
    run_raw(huge, sizeof huge, &r, &set, &s);
    assert_failed(&r, es_tok_tls_error, es_alert_name(22), 22, es_tok_local, es_tok_client_hello);
    ck_assert_str_eq(r.error, "record_overflow");
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

static void run_mode(enum srv_mode mode, struct es_row *r, struct es_tls_ctxset **set,
                     struct server *s, const struct srv_conf *c, int tls_max)
{
    static struct es_variant v;
    static struct es_edge e;
    v = variant(TLS1_2_VERSION, tls_max, alpn_h2_h11, ES_SNI_HOST);
    e = edge_for(HOST, false);
    *set = mkset(&v, 1, false, false);
    server_init(s, mode, c);
    run_probe(*set, 0, &e, s, NULL, r);
}

START_TEST(test_eof_after_client_hello)
{
    struct es_tls_ctxset *set;
    struct server s;
    struct es_row r;
    run_mode(SRV_EOF, &r, &set, &s, NULL, TLS1_3_VERSION);
    assert_failed(&r, es_tok_tls_error, es_tok_eof_during_handshake, -1, NULL, es_tok_client_hello);
    assert_no_tls_params(&r);
    ck_assert(r.handshake_ms >= 0);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* TLS 1.2: the server's first flight (ServerHello .. ServerHelloDone) comes,
 * then it closes: the probe got as far as the certificate, which it records
 * and verifies, and the ServerHello's version, cipher and group are in the
 * row. */
START_TEST(test_eof_after_certificate)
{
    struct es_tls_ctxset *set;
    struct server s;
    struct es_row r;
    struct srv_conf c = good_conf();
    run_mode(SRV_TLS_CLOSE, &r, &set, &s, &c, TLS1_2_VERSION);
    assert_failed(&r, es_tok_tls_error, es_tok_eof_during_handshake, -1, NULL, es_tok_certificate);
    ck_assert_str_eq(r.tls_version, "1.2");
    ck_assert_str_eq(r.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
    ck_assert_str_eq(r.kx_group, "X25519");
    ck_assert_int_eq(r.kx_bits, 253);
    ck_assert_ptr_null(r.alpn);
    ck_assert_ptr_eq(r.verify, es_tok_ok);
    ck_assert_str_eq(r.cert_subject, "CN=" HOST);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_reset)
{
    struct es_tls_ctxset *set;
    struct server s;
    struct es_row r;
    run_mode(SRV_RESET, &r, &set, &s, NULL, TLS1_3_VERSION);
    assert_failed(&r, es_tok_tls_error, es_tok_connection_reset, -1, NULL, es_tok_client_hello);
    assert_no_tls_params(&r);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_timeout)
{
    struct es_tls_ctxset *set;
    struct server s;
    struct es_row r;
    run_mode(SRV_SILENT, &r, &set, &s, NULL, TLS1_3_VERSION);
    assert_failed(&r, es_tok_timeout, es_tok_handshake_timeout, -1, NULL, es_tok_client_hello);
    assert_no_tls_params(&r);
    ck_assert(r.handshake_ms >= 0);
    /* Calls after the end change nothing. */
    ck_assert_int_eq(es_tlsprobe_eof(tp, es_now_ns()), ES_TLS_DONE);
    ck_assert_int_eq(es_tlsprobe_reset(tp, es_now_ns()), ES_TLS_DONE);
    ck_assert_int_eq(es_tlsprobe_input(tp, (const uint8_t *)"x", 1, t0), ES_TLS_DONE);
    struct es_row again;
    memset(&again, 0, sizeof again);
    es_tlsprobe_fill_row(tp, &again);
    ck_assert_ptr_eq(again.error, es_tok_handshake_timeout);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Verification.                                                             */

struct verify_case {
    enum es_lab_certkind kind;
    int ca; /* 0 = the trusted lab CA, 1 = another CA with its root sent, 2 = leaf alone */
    bool no_verify;
    const char *want;
};

static const struct verify_case verify_cases[] = {
    {ES_CERT_GOOD, 0, false, es_tok_ok},
    {ES_CERT_EXPIRED, 0, false, es_tok_expired},
    {ES_CERT_FUTURE, 0, false, es_tok_not_yet_valid},
    {ES_CERT_WRONG, 0, false, es_tok_hostname_mismatch},
    {ES_CERT_SELFSIGNED, 0, false, es_tok_self_signed},
    {ES_CERT_GOOD, 1, false, es_tok_self_signed},
    {ES_CERT_GOOD, 2, false, es_tok_unknown_ca},
    {ES_CERT_EXPIRED, 0, true, es_tok_off},
};

START_TEST(test_verify)
{
    const struct verify_case *vc = &verify_cases[_i];
    struct es_labcerts *other = vc->ca ? es_labcerts_new() : NULL;
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, vc->no_verify, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.leaf = es_labcerts_leaf(other ? other : certs, HOST, vc->kind, ES_KEY_ECDSA);
    c.no_chain = vc->ca == 2;
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_msg(r.status == es_tok_ok, "case %d: %s %s", _i, r.status, r.error);
    ck_assert_msg(r.verify == vc->want, "case %d: verify %s, want %s", _i, r.verify, vc->want);
    ck_assert_uint_eq(es_tls_ctxset_verifications(set), vc->no_verify ? 0 : 1);
    ck_assert_ptr_nonnull(r.cert_sha256);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
    es_labcerts_free(other);
}
END_TEST

/* Verification names: the IP for IP targets, the SNI name in mode NAME, the
 * host in mode none. */
START_TEST(test_verify_names)
{
    struct es_variant v[3] = {
        variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST),
        variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_NAME),
        variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_NONE),
    };
    v[1].sni_name = "other.test";
    struct es_tls_ctxset *set = mkset(v, 3, false, false);
    struct es_edge ip = edge_for("127.0.0.1", true), host = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    struct {
        uint32_t variant;
        const struct es_edge *edge;
        const char *sni_seen; /* "" = no SNI extension */
        const char *sni_col;
        const char *verify;
    } cases[] = {
        {0, &ip, "", "none", es_tok_hostname_mismatch},
        {1, &host, "other.test", "other.test", es_tok_hostname_mismatch},
        {2, &host, "", "none", es_tok_ok},
        {0, &host, HOST, HOST, es_tok_ok},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        struct server s;
        server_init(&s, SRV_TLS, &c);
        struct es_row r;
        run_probe(set, cases[i].variant, cases[i].edge, &s, NULL, &r);
        ck_assert_ptr_eq(r.status, es_tok_ok);
        ck_assert_msg(r.verify == cases[i].verify, "case %zu: verify %s", i, r.verify);
        ck_assert_str_eq(s.sni, cases[i].sni_seen);
        ck_assert_int_eq(s.sni_ext, cases[i].sni_seen[0] != '\0');
        ck_assert_str_eq(r.sni, cases[i].sni_col);
        es_tlsprobe_end(tp);
        server_free(&s);
    }
    es_tls_ctxset_free(set);
}
END_TEST

/* 100 probes of one chain and one name pay for one verification; another
 * name is another key. */
START_TEST(test_verify_cache)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false), other = edge_for("www." HOST, false);
    struct srv_conf c = good_conf();
    for (int i = 0; i < 100; i++) {
        struct server s;
        server_init(&s, SRV_TLS, &c);
        struct es_row r;
        run_probe(set, 0, &e, &s, NULL, &r);
        ck_assert_ptr_eq(r.verify, es_tok_ok);
        ck_assert_str_eq(r.cert_subject, "CN=" HOST); /* a hit still records the fields */
        ck_assert_ptr_nonnull(r.cert_sha256);
        es_tlsprobe_end(tp);
        server_free(&s);
    }
    ck_assert_uint_eq(es_tls_ctxset_verifications(set), 1);
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &other, &s, NULL, &r);
    ck_assert_ptr_eq(r.verify, es_tok_hostname_mismatch);
    ck_assert_uint_eq(es_tls_ctxset_verifications(set), 2);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Certificate fields.                                                       */

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* A self-signed certificate with fixed dates and a subject that needs
 * RFC 2253 escaping. */
static X509 *fixed_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    ck_assert(ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20250102030405Z"));
    ck_assert(ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20361123100000Z"));
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Shop, \"Inc\"", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)HOST, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, key);
    ck_assert(X509_sign(x, key, EVP_sha256()));
    return x;
}

START_TEST(test_cert_fields)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    X509 *x = fixed_cert(c.leaf.key);
    c.leaf.cert = x;
    c.leaf.issuer = NULL;
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_ptr_eq(r.status, es_tok_ok);
    uint8_t md[32];
    unsigned mdlen;
    ck_assert(X509_digest(x, EVP_sha256(), md, &mdlen) && mdlen == 32);
    char want[65];
    hex_of(md, 32, want);
    ck_assert_str_eq(r.cert_sha256, want);
    ck_assert_str_eq(r.cert_subject, "CN=" HOST ",O=Shop\\, \\\"Inc\\\",C=US");
    ck_assert_str_eq(r.cert_issuer, r.cert_subject);
    ck_assert_str_eq(r.cert_not_before, "2025-01-02T03:04:05Z");
    ck_assert_str_eq(r.cert_not_after, "2036-11-23T10:00:00Z");
    ck_assert_ptr_eq(r.verify, es_tok_self_signed);
    es_tlsprobe_end(tp);
    server_free(&s);
    X509_free(x);
    es_tls_ctxset_free(set);
}
END_TEST

START_TEST(test_cert_fields_lab)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_str_eq(r.cert_subject, "CN=" HOST);
    ck_assert_str_eq(r.cert_issuer, "CN=edgeshake lab CA");
    uint8_t md[32];
    unsigned mdlen;
    ck_assert(X509_digest(c.leaf.cert, EVP_sha256(), md, &mdlen) && mdlen == 32);
    char want[65];
    hex_of(md, 32, want);
    ck_assert_str_eq(r.cert_sha256, want);
    /* The dates are the certificate's, to the second. */
    struct tm tm;
    char nb[32];
    ck_assert(ASN1_TIME_to_tm(X509_get0_notBefore(c.leaf.cert), &tm));
    strftime(nb, sizeof nb, "%Y-%m-%dT%H:%M:%SZ", &tm);
    ck_assert_str_eq(r.cert_not_before, nb);
    ck_assert_uint_eq(strlen(r.cert_not_after), 20);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* The inventory columns, from OpenSSL's parsed certificate: key, signature
 * algorithm, whole days left (rounded down: negative once expired), chain
 * length (the leaf included), for lab leaves of both key types. */
START_TEST(test_cert_inventory)
{
    static const struct {
        enum es_lab_certkind kind;
        enum es_lab_keykind key;
        bool no_chain;
        const char *cert_key;
        long days; /* the lab: good = notAfter in 365 days, expired = 1 day ago; a second
                      later it is one less */
        int chain;
    } cases[] = {
        {ES_CERT_GOOD, ES_KEY_ECDSA, false, "ec256", 365, 2},
        {ES_CERT_GOOD, ES_KEY_RSA, false, "rsa2048", 365, 2},
        {ES_CERT_EXPIRED, ES_KEY_ECDSA, false, "ec256", -1, 2},
        {ES_CERT_GOOD, ES_KEY_ECDSA, true, "ec256", 365, 1},
        {ES_CERT_SELFSIGNED, ES_KEY_ECDSA, false, "ec256", 365, 1},
    };
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        struct srv_conf c = good_conf();
        c.leaf = es_labcerts_leaf(certs, HOST, cases[i].kind, cases[i].key);
        c.no_chain = cases[i].no_chain;
        struct server s;
        server_init(&s, SRV_TLS, &c);
        struct es_row r;
        run_probe(set, 0, &e, &s, NULL, &r);
        ck_assert_ptr_eq(r.status, es_tok_ok);
        ck_assert_str_eq(r.cert_key, cases[i].cert_key);
        ck_assert_str_eq(r.cert_sig, "ecdsa-with-SHA256");
        ck_assert_msg(r.cert_days_left == cases[i].days || r.cert_days_left == cases[i].days - 1,
                      "case %zu: %ld days", i, r.cert_days_left);
        ck_assert_int_eq(r.chain_len, cases[i].chain);
        es_tlsprobe_end(tp);
        server_free(&s);
    }
    es_tls_ctxset_free(set);

    /* no certificate: every inventory column empty */
    struct es_row r;
    struct server s;
    run_mode(SRV_EOF, &r, &set, &s, NULL, TLS1_3_VERSION);
    ck_assert_ptr_null(r.cert_key);
    ck_assert_ptr_null(r.cert_sig);
    ck_assert_int_eq(r.cert_days_left, ES_ROW_NONE);
    ck_assert_int_eq(r.chain_len, -1);
    ck_assert_int_eq(r.kx_bits, -1);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* An Ed25519 leaf (TLS 1.3) and an RSA one signed with SHA-384: the key as
 * one word, the signature by OpenSSL's long name; fixed dates give a known
 * number of days. */
START_TEST(test_cert_inventory_ed25519)
{
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ck_assert_ptr_nonnull(ed);
    X509 *x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    /* expired 36 hours ago: -2 whole days, rounded down */
    X509_gmtime_adj(X509_getm_notAfter(x), -36L * 3600);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)HOST, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, ed);
    ck_assert(X509_sign(x, ed, NULL));

    struct es_variant v = variant(TLS1_3_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.leaf = (struct es_lableaf){.cert = x, .key = ed};
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_msg(r.status == es_tok_ok, "%s %s", r.status, r.error);
    ck_assert_str_eq(r.cert_key, "ed25519");
    ck_assert_str_eq(r.cert_sig, "ED25519");
    ck_assert_int_eq(r.cert_days_left, -2);
    ck_assert_int_eq(r.chain_len, 1);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
    X509_free(x);

    /* RSA leaf, SHA-384 */
    struct es_lableaf rsa = es_labcerts_leaf(certs, HOST, ES_CERT_GOOD, ES_KEY_RSA);
    x = fixed_cert(rsa.key);
    X509_sign(x, rsa.key, EVP_sha384());
    set = mkset(&v, 1, false, false);
    c.leaf = (struct es_lableaf){.cert = x, .key = rsa.key};
    server_init(&s, SRV_TLS, &c);
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_ptr_eq(r.status, es_tok_ok);
    ck_assert_str_eq(r.cert_key, "rsa2048");
    ck_assert_str_eq(r.cert_sig, "sha384WithRSAEncryption");
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
    X509_free(x);
    EVP_PKEY_free(ed);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* --h2-check.                                                               */

struct h2_case {
    enum srv_h2 server;
    const char *want; /* NULL = formatted */
    const char *want_text;
};

static const struct h2_case h2_cases[] = {
    {H2_SETTINGS, es_tok_ok, "ok"},
    {H2_SETTINGS_SPLIT, es_tok_ok, "ok"},
    {H2_EOF, es_tok_eof, "eof"},
    {H2_GOAWAY1, NULL, "goaway_1"},
    {H2_GOAWAY_BIG, NULL, "goaway_4660"},
    {H2_BAD, es_tok_bad_frame, "bad_frame"},
    {H2_HEADERS, es_tok_no_settings, "no_settings"},
    {H2_SILENT, es_tok_timeout, "timeout"},
};

START_TEST(test_h2)
{
    const struct h2_case *hc = &h2_cases[_i];
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, true);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    struct server s;
    server_init(&s, SRV_TLS, &c);
    s.h2 = hc->server;
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_ptr_eq(r.status, es_tok_ok);
    ck_assert_ptr_null(r.error);
    ck_assert_int_eq(r.alert, -1);
    ck_assert_ptr_eq(r.stage, es_tok_h2);
    ck_assert_str_eq(r.alpn, "h2");
    ck_assert_ptr_nonnull(r.h2);
    ck_assert_str_eq(r.h2, hc->want_text);
    if (hc->want)
        ck_assert_ptr_eq(r.h2, hc->want);
    if (strncmp(hc->want_text, "goaway_", 7) == 0 && strlen(hc->want_text) < 10)
        ck_assert_ptr_eq(r.h2, es_h2_goaway_token(1));
    /* The handshake time ends with the handshake, not with the h2 check. */
    ck_assert_double_eq_tol(r.handshake_ms, 1.0, 1e-9);
    /* The server got the preface and our SETTINGS (ENABLE_PUSH 0; nghttp2
     * writes them), then, when its SETTINGS came, our ACK of them and a
     * GOAWAY(NO_ERROR) as goodbye. */
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                     "\0\0\6\4\0\0\0\0\0\0\2\0\0\0\0";
    static const uint8_t ack_goaway[] = {0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 8, 7, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_uint_ge(s.app_len, 39);
    ck_assert_mem_eq(s.app, preface, 39);
    if (hc->want == es_tok_ok) {
        ck_assert_uint_eq(s.app_len, 39 + sizeof ack_goaway);
        ck_assert_mem_eq(s.app + 39, ack_goaway, sizeof ack_goaway);
    }
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* After the handshake: TLS 1.3 servers that ask for a client certificate.   */

/* A TLS 1.3 server that requires a client certificate rejects the client
 * after the client's Finished (alert 116): status alert at stage
 * post_handshake, with or without the h2 check (which then never starts),
 * and no grace was needed: the alert ended the wait. */
START_TEST(test_client_cert_required_tls13)
{
    struct es_variant v = variant(TLS1_3_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.client_cert = true;
    for (int h2 = 0; h2 < 2; h2++) {
        struct es_tls_ctxset *set = mkset(&v, 1, false, h2);
        struct server s;
        server_init(&s, SRV_TLS, &c);
        s.h2 = H2_SETTINGS;
        struct es_row r;
        run_probe(set, 0, &e, &s, NULL, &r);
        assert_failed(&r, es_tok_alert, es_alert_name(116), 116, es_tok_peer,
                      es_tok_post_handshake);
        ck_assert_str_eq(r.error, "certificate_required");
        ck_assert_ptr_null(r.h2);
        ck_assert_uint_eq(s.app_len, 0); /* no preface went out */
        ck_assert_uint_eq(graces, 0);
        /* the handshake itself had completed: its fields are all there */
        ck_assert_str_eq(r.tls_version, "1.3");
        ck_assert_str_eq(r.cipher, "TLS_AES_256_GCM_SHA384");
        ck_assert_str_eq(r.kx_group, "X25519");
        ck_assert_int_eq(r.kx_bits, 253);
        ck_assert_str_eq(r.alpn, "h2");
        ck_assert_ptr_eq(r.verify, es_tok_ok);
        ck_assert_str_eq(r.cert_key, "ec256");
        /* ClientHello, server flight (1 ms), our Finished, the alert (2 ms) */
        ck_assert_double_eq_tol(r.handshake_ms, 2.0, 1e-9);
        ck_assert(s.failed);
        es_tlsprobe_end(tp);
        server_free(&s);
        es_tls_ctxset_free(set);
    }
}
END_TEST

/* The verdict after the grace: the probe gave up waiting (the server was
 * slow), started the h2 check, and the alert came during it: the same row
 * as before the grace (post_handshake, h2 empty), never h2=eof beside ok. */
START_TEST(test_client_cert_required_after_grace)
{
    struct es_variant v = variant(TLS1_3_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, true);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.client_cert = true;
    struct server s;
    server_init(&s, SRV_TLS, &c);
    s.h2 = H2_SETTINGS;
    struct es_probe p = {.edge = &e, .variant = 0, .attempt = 1};
    uint64_t now = es_now_ns();
    enum es_tls_want w = es_tlsprobe_start(tp, set, &p, now);
    /* ClientHello -> server flight -> the client's Finished (held back) */
    to_server(&s, &(struct pump_opts){0});
    server_step(&s);
    uint8_t buf[1 << 15];
    int n = BIO_read(s.out, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    w = es_tlsprobe_input(tp, buf, (size_t)n, now += 1000000);
    ck_assert_int_eq(w, ES_TLS_WANT_IO);
    ck_assert_uint_gt(es_tlsprobe_wait_until(tp), 0);
    /* the grace ends before the server saw our Finished: the h2 check starts */
    w = es_tlsprobe_step(tp, es_tlsprobe_wait_until(tp));
    ck_assert_int_eq(w, ES_TLS_WANT_IO);
    ck_assert_uint_eq(es_tlsprobe_wait_until(tp), 0);
    /* now the server reads Finished + preface and answers with alert 116 */
    to_server(&s, &(struct pump_opts){0});
    server_step(&s);
    n = BIO_read(s.out, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    w = es_tlsprobe_input(tp, buf, (size_t)n, now += 1000000);
    ck_assert_int_eq(w, ES_TLS_DONE);
    struct es_row r;
    memset(&r, 0, sizeof r);
    es_tlsprobe_fill_row(tp, &r);
    assert_failed(&r, es_tok_alert, es_alert_name(116), 116, es_tok_peer, es_tok_post_handshake);
    ck_assert_ptr_null(r.h2);
    ck_assert_str_eq(r.tls_version, "1.3");
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* The same server in TLS 1.2 fails the handshake itself, after its
 * Certificate: alert 40 at stage certificate; the negotiated fields are
 * there, as on every row that got past the ServerHello. */
START_TEST(test_client_cert_required_tls12)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_2_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, true);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.client_cert = true;
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    assert_failed(&r, es_tok_alert, es_alert_name(40), 40, es_tok_peer, es_tok_certificate);
    ck_assert_str_eq(r.tls_version, "1.2");
    ck_assert_str_eq(r.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
    ck_assert_str_eq(r.kx_group, "X25519");
    ck_assert_int_eq(r.kx_bits, 253);
    ck_assert_ptr_eq(r.verify, es_tok_ok);
    ck_assert_int_eq(r.chain_len, 2);
    ck_assert_ptr_null(r.h2);
    ck_assert_uint_eq(graces, 0);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* A server that asks for a certificate but takes none: with session
 * tickets, the first ticket ends the wait; without, the grace does (twice
 * ES_TLS_POST_GRACE_RTTS first round trips, at least ES_TLS_POST_GRACE_MIN_MS). Both ok. And a
 * server that asks for nothing is not waited for at all. */
START_TEST(test_client_cert_optional)
{
    struct es_variant v = variant(TLS1_3_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_edge e = edge_for(HOST, false);
    static const struct {
        bool ask, tickets, h2;
        unsigned graces;
    } cases[] = {
        {true, true, false, 0},   {true, false, false, 1}, {true, false, true, 1},
        {false, false, false, 0}, {false, true, false, 0},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        struct es_tls_ctxset *set = mkset(&v, 1, false, cases[i].h2);
        struct srv_conf c = good_conf();
        c.client_cert_optional = cases[i].ask;
        c.no_tickets = !cases[i].tickets;
        struct server s;
        server_init(&s, SRV_TLS, &c);
        s.h2 = H2_SETTINGS;
        struct es_row r;
        run_probe(set, 0, &e, &s, NULL, &r);
        ck_assert_msg(r.status == es_tok_ok, "case %zu: %s %s", i, r.status, r.error);
        ck_assert_int_eq(r.alert, -1);
        ck_assert_ptr_eq(r.stage, cases[i].h2 ? es_tok_h2 : es_tok_finished);
        ck_assert_ptr_eq(r.h2, cases[i].h2 ? es_tok_ok : NULL);
        ck_assert_msg(graces == cases[i].graces, "case %zu: %u graces", i, graces);
        if (graces)
            ck_assert_uint_eq(grace_ns, ES_TLS_POST_GRACE_MIN_MS * 1000000ull);
        ck_assert(s.hs_done);
        es_tlsprobe_end(tp);
        server_free(&s);
        es_tls_ctxset_free(set);
    }
}
END_TEST

/* In the grace: an EOF or a reset without an alert leaves the row ok; the
 * probe's deadline ends the wait ok too. The grace is ES_TLS_POST_GRACE_RTTS
 * first round trips within its bounds (round trips of 1, 100 and 1000 ms). */
START_TEST(test_post_handshake_end)
{
    struct es_variant v = variant(TLS1_3_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.client_cert_optional = true;
    c.no_tickets = true;
    static const struct {
        uint64_t rtt_ms, grace_ms;
    } rtts[] = {{1, ES_TLS_POST_GRACE_MIN_MS},
                {100, 100 * ES_TLS_POST_GRACE_RTTS},
                {1000, ES_TLS_POST_GRACE_MAX_MS}};
    for (int how = 0; how < 3; how++) {
        struct es_tls_ctxset *set = mkset(&v, 1, false, false);
        struct server s;
        server_init(&s, SRV_TLS, &c);
        struct es_probe p = {.edge = &e, .variant = 0, .attempt = 1};
        uint64_t now = es_now_ns();
        enum es_tls_want w = es_tlsprobe_start(tp, set, &p, now);
        while (w == ES_TLS_WANT_IO && es_tlsprobe_wait_until(tp) == 0) {
            to_server(&s, &(struct pump_opts){0});
            server_step(&s);
            uint8_t buf[1 << 15];
            int n = BIO_read(s.out, buf, sizeof buf);
            ck_assert_int_gt(n, 0);
            w = es_tlsprobe_input(tp, buf, (size_t)n, now += rtts[how].rtt_ms * 1000000);
        }
        ck_assert_int_eq(w, ES_TLS_WANT_IO);
        ck_assert_uint_eq(es_tlsprobe_wait_until(tp), now + rtts[how].grace_ms * 1000000ull);
        w = how == 0   ? es_tlsprobe_eof(tp, es_now_ns())
            : how == 1 ? es_tlsprobe_reset(tp, es_now_ns())
                       : es_tlsprobe_timeout(tp, es_now_ns());
        ck_assert_int_eq(w, ES_TLS_DONE);
        ck_assert_uint_eq(es_tlsprobe_wait_until(tp), 0);
        struct es_row r;
        memset(&r, 0, sizeof r);
        es_tlsprobe_fill_row(tp, &r);
        ck_assert_ptr_eq(r.status, es_tok_ok);
        ck_assert_ptr_eq(r.stage, es_tok_finished);
        ck_assert_int_eq(r.alert, -1);
        es_tlsprobe_end(tp);
        server_free(&s);
        es_tls_ctxset_free(set);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Key exchange: kx_group and kx_bits from the server's ephemeral key.       */

static EVP_PKEY *dh_params(int bits)
{
    BIGNUM *p = bits == 1024 ? BN_get_rfc2409_prime_1024(NULL) : BN_get_rfc3526_prime_2048(NULL);
    BIGNUM *g = BN_new();
    ck_assert(p && g && BN_set_word(g, 2));
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    ck_assert(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_FFC_P, p));
    ck_assert(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_FFC_G, g));
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    EVP_PKEY *k = NULL;
    ck_assert(EVP_PKEY_fromdata_init(ctx) == 1 &&
              EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEY_PARAMETERS, params) == 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    BN_free(p);
    BN_free(g);
    return k;
}

static EVP_PKEY *ffdhe2048(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    EVP_PKEY *k = NULL;
    OSSL_PARAM p[2] = {OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "ffdhe2048", 0),
                       OSSL_PARAM_END};
    ck_assert(EVP_PKEY_paramgen_init(ctx) == 1 && EVP_PKEY_CTX_set_params(ctx, p) == 1 &&
              EVP_PKEY_paramgen(ctx, &k) == 1);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

/* The security level this machine's OpenSSL gives a client by default. */
static int client_security_level(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int level = SSL_CTX_get_security_level(ctx);
    SSL_CTX_free(ctx);
    return level;
}

struct kx_case {
    int tls;
    const char *ciphers, *groups; /* the server's */
    int dh;                       /* 0, 1024 (RFC 2409), 2048 (RFC 3526), 2 = ffdhe2048 */
    const char *cipher, *group;
    int bits;
};

static const struct kx_case kx_cases[] = {
    {TLS1_2_VERSION, "DHE-RSA-AES128-GCM-SHA256", NULL, 1024, "DHE-RSA-AES128-GCM-SHA256", "dh1024",
     1024},
    {TLS1_2_VERSION, "DHE-RSA-AES128-GCM-SHA256", NULL, 2, "DHE-RSA-AES128-GCM-SHA256", "ffdhe2048",
     2048},
    {TLS1_2_VERSION, "DHE-RSA-AES256-GCM-SHA384", NULL, 2048, "DHE-RSA-AES256-GCM-SHA384",
     "modp_2048", 2048},
    {TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", "X25519", 0, "ECDHE-RSA-AES128-GCM-SHA256",
     "X25519", 253},
    {TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", "P-256", 0, "ECDHE-RSA-AES128-GCM-SHA256",
     "P-256", 256},
    {TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", "P-384", 0, "ECDHE-RSA-AES128-GCM-SHA256",
     "P-384", 384},
    {TLS1_2_VERSION, "AES128-GCM-SHA256", NULL, 0, "AES128-GCM-SHA256", NULL, -1},
    {TLS1_3_VERSION, NULL, "P-256", 0, "TLS_AES_256_GCM_SHA384", "P-256", 256},
    {TLS1_3_VERSION, NULL, "ffdhe2048", 0, "TLS_AES_256_GCM_SHA384", "ffdhe2048", 2048},
    {TLS1_3_VERSION, NULL, NULL, 0, "TLS_AES_256_GCM_SHA384", "X25519", 253},
};

START_TEST(test_kx)
{
    const struct kx_case *k = &kx_cases[_i];
    struct es_variant v = variant(k->tls, k->tls, alpn_h2_h11, ES_SNI_HOST);
    if (k->tls == TLS1_3_VERSION)
        v.groups = "X25519:P-256:ffdhe2048"; /* the server picks */
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.leaf = es_labcerts_leaf(certs, HOST, ES_CERT_GOOD, ES_KEY_RSA);
    c.ciphers = k->ciphers;
    c.groups = k->groups;
    c.dh = k->dh == 2 ? ffdhe2048() : k->dh ? dh_params(k->dh) : NULL;
    c.seclevel0 = k->dh == 1024; /* level 2, Debian's default, refuses to offer it */
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    if (k->bits < 2048 && k->dh && client_security_level() >= 2) {
        /* our OpenSSL refuses it, as s_client on this machine does; the row
         * still names the key */
        assert_failed(&r, es_tok_tls_error, es_tok_dh_key_too_small, 40, es_tok_local,
                      es_tok_certificate);
    } else {
        ck_assert_msg(r.status == es_tok_ok, "case %d: %s %s", _i, r.status, r.error);
    }
    ck_assert_msg(r.cipher && strcmp(r.cipher, k->cipher) == 0, "case %d: %s %s %s %s %d", _i,
                  r.status, r.error, r.tls_version, r.kx_group, r.kx_bits);
    if (k->group)
        ck_assert_str_eq(r.kx_group, k->group);
    else
        ck_assert_ptr_null(r.kx_group);
    ck_assert_int_eq(r.kx_bits, k->bits);
    ck_assert_str_eq(r.cert_key, "rsa2048");
    ck_assert_str_eq(r.cert_sig, "ecdsa-with-SHA256"); /* signed by the lab's EC CA */
    es_tlsprobe_end(tp);
    server_free(&s);
    EVP_PKEY_free(c.dh);
    es_tls_ctxset_free(set);
}
END_TEST

/* Negotiated fields on failing rows: filled once the ServerHello was
 * accepted (an EOF after the TLS 1.2 server's first flight), empty when the
 * client rejected it (a TLS 1.0 ServerHello to a TLS 1.2 client). */
START_TEST(test_negotiated_on_failure)
{
    struct es_tls_ctxset *set;
    struct server s;
    struct es_row r;
    struct srv_conf c = good_conf();
    c.dh = ffdhe2048();
    c.leaf = es_labcerts_leaf(certs, HOST, ES_CERT_GOOD, ES_KEY_RSA);
    c.ciphers = "DHE-RSA-AES128-GCM-SHA256";
    run_mode(SRV_TLS_CLOSE, &r, &set, &s, &c, TLS1_2_VERSION);
    assert_failed(&r, es_tok_tls_error, es_tok_eof_during_handshake, -1, NULL, es_tok_certificate);
    ck_assert_str_eq(r.tls_version, "1.2");
    ck_assert_str_eq(r.cipher, "DHE-RSA-AES128-GCM-SHA256");
    ck_assert_str_eq(r.kx_group, "ffdhe2048");
    ck_assert_int_eq(r.kx_bits, 2048);
    ck_assert_ptr_null(r.alpn);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
    EVP_PKEY_free(c.dh);

    struct es_variant v = variant(TLS1_2_VERSION, TLS1_2_VERSION, NULL, ES_SNI_HOST);
    set = mkset(&v, 1, true, false);
    struct es_edge e = edge_for(HOST, false);
    c = good_conf();
    c.tls_min = c.tls_max = TLS1_VERSION;
    c.seclevel0 = true;
    server_init(&s, SRV_TLS, &c);
    run_probe(set, 0, &e, &s, NULL, &r);
    assert_failed(&r, es_tok_tls_error, es_alert_name(70), 70, es_tok_local, es_tok_server_hello);
    assert_no_tls_params(&r);
    ck_assert_int_eq(r.kx_bits, -1);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* No h2 column without ALPN h2, nor without --h2-check. */
START_TEST(test_h2_not_applicable)
{
    struct es_variant v[2] = {
        variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h11, ES_SNI_HOST),
        variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST),
    };
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    for (int i = 0; i < 2; i++) {
        struct es_tls_ctxset *set = mkset(&v[i], 1, false, i == 0);
        struct server s;
        server_init(&s, SRV_TLS, &c);
        s.h2 = H2_SETTINGS;
        struct es_row r;
        run_probe(set, 0, &e, &s, NULL, &r);
        ck_assert_ptr_eq(r.status, es_tok_ok);
        ck_assert_ptr_eq(r.stage, es_tok_finished);
        ck_assert_ptr_null(r.h2);
        ck_assert_uint_eq(s.app_len, 0);
        es_tlsprobe_end(tp);
        server_free(&s);
        es_tls_ctxset_free(set);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* What the ClientHello carries.                                             */

START_TEST(test_alpn_none)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, NULL, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert_ptr_eq(r.status, es_tok_ok);
    ck_assert(s.hello_seen);
    ck_assert(!s.alpn_ext);
    ck_assert(s.sni_ext);
    ck_assert_ptr_null(r.alpn);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);

    v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h11, ES_SNI_NONE);
    set = mkset(&v, 1, false, false);
    server_init(&s, SRV_TLS, &c);
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert(s.alpn_ext);
    ck_assert(!s.sni_ext);
    ck_assert_str_eq(r.alpn, "http/1.1");
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Mappers and tables.                                                       */

static const struct {
    int ssl_error;
    unsigned long err;
    enum es_tls_io io;
    const char *reason;
} map_cases[] = {
    {SSL_ERROR_NONE, 0, ES_TLS_IO_DONE, NULL},
    {SSL_ERROR_WANT_READ, 0, ES_TLS_IO_WANT_READ, NULL},
    {SSL_ERROR_WANT_WRITE, 0, ES_TLS_IO_WANT_WRITE, NULL},
    {SSL_ERROR_ZERO_RETURN, 0, ES_TLS_IO_FAILED, es_tok_eof_during_handshake},
    {SSL_ERROR_SYSCALL, 0, ES_TLS_IO_FAILED, es_tok_eof_during_handshake},
    {SSL_ERROR_SYSCALL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_BAD_LENGTH), ES_TLS_IO_FAILED,
     es_tok_handshake_error},
    {SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER), ES_TLS_IO_FAILED,
     es_tok_wrong_version_number},
    {SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING), ES_TLS_IO_FAILED,
     es_tok_eof_during_handshake},
    {SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_NO_CIPHERS_AVAILABLE), ES_TLS_IO_FAILED,
     es_tok_no_shared_cipher},
    {SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_NO_SHARED_CIPHER), ES_TLS_IO_FAILED,
     es_tok_no_shared_cipher},
    {SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE), ES_TLS_IO_FAILED,
     es_tok_handshake_error},
    {SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_RECORD_LENGTH_MISMATCH), ES_TLS_IO_FAILED,
     es_tok_handshake_error},
    /* the same reason number from another library is not SSL's */
    {SSL_ERROR_SSL, ERR_PACK(ERR_LIB_X509, 0, SSL_R_WRONG_VERSION_NUMBER), ES_TLS_IO_FAILED,
     es_tok_handshake_error},
    {SSL_ERROR_SSL, 0, ES_TLS_IO_FAILED, es_tok_handshake_error},
    {SSL_ERROR_WANT_X509_LOOKUP, 0, ES_TLS_IO_FAILED, es_tok_handshake_error},
};

START_TEST(test_map_error)
{
    const char *reason = "unset";
    enum es_tls_io io = es_tls_map_error(map_cases[_i].ssl_error, map_cases[_i].err, &reason);
    ck_assert_int_eq(io, map_cases[_i].io);
    ck_assert_msg(reason == map_cases[_i].reason, "case %d: reason %s, want %s", _i, reason,
                  map_cases[_i].reason);
}
END_TEST

static const struct {
    int code;
    const char *name;
} alert_cases[] = {
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {22, "record_overflow"},
    {40, "handshake_failure"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
    {1, "unknown_alert"},
    {255, "unknown_alert"},
    {-1, "unknown_alert"},
};

START_TEST(test_alert_names)
{
    const char *n = es_alert_name(alert_cases[_i].code);
    ck_assert_str_eq(n, alert_cases[_i].name);
    ck_assert_ptr_eq(n, es_alert_name(alert_cases[_i].code)); /* interned */
}
END_TEST

START_TEST(test_goaway_tokens)
{
    ck_assert_str_eq(es_h2_goaway_token(0), "goaway_0");
    ck_assert_str_eq(es_h2_goaway_token(1), "goaway_1");
    ck_assert_str_eq(es_h2_goaway_token(13), "goaway_13");
    ck_assert_ptr_null(es_h2_goaway_token(14));
    ck_assert_ptr_null(es_h2_goaway_token(0xffffffffu));
    ck_assert_str_eq(es_tok_ok, "ok");
    ck_assert_str_eq(es_tok_eof_during_handshake, "eof_during_handshake");
    ck_assert_str_eq(es_tok_not_yet_valid, "not_yet_valid");
    ck_assert_str_eq(es_tok_client_hello, "client_hello");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The ctxset: errors, sharing, key log.                                     */

START_TEST(test_ctxset_errors)
{
    char err[256];
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_2_VERSION, alpn_h2_h11, ES_SNI_HOST);
    v.name = "tls1.2/h2/sni/c:NOPE";
    v.ciphers = "NOPE-NOT-A-CIPHER";
    struct es_tls_opts o = {.no_verify = true};
    ck_assert_ptr_null(es_tls_ctxset_new(&v, 1, &o, err, sizeof err));
    ck_assert_msg(strstr(err, "variant tls1.2/h2/sni/c:NOPE: --ciphers 'NOPE-NOT-A-CIPHER'"), "%s",
                  err);

    v = variant(TLS1_3_VERSION, TLS1_3_VERSION, NULL, ES_SNI_HOST);
    v.groups = "P-256:bogus";
    ck_assert_ptr_null(es_tls_ctxset_new(&v, 1, &o, err, sizeof err));
    ck_assert_msg(strstr(err, "--groups 'P-256:bogus'"), "%s", err);

    v = variant(TLS1_3_VERSION, TLS1_3_VERSION, NULL, ES_SNI_HOST);
    struct es_tls_opts missing = {.ca_file = "/nonexistent/ca.pem"};
    ck_assert_ptr_null(es_tls_ctxset_new(&v, 1, &missing, err, sizeof err));
    ck_assert_msg(strstr(err, "--ca-file /nonexistent/ca.pem: cannot load"), "%s", err);
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

/* Two worker sets share one trust store; a set survives the other's end. */
START_TEST(test_ctxset_shared_store)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *a = mkset(&v, 1, false, false);
    struct es_tls_ctxset *b = mkset(&v, 1, false, false);
    es_tls_ctxset_free(a);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(b, 0, &e, &s, NULL, &r);
    ck_assert_ptr_eq(r.verify, es_tok_ok);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(b);
}
END_TEST

START_TEST(test_keylog)
{
    size_t n = strlen(tmpdir) + sizeof "/keys.log";
    char *path = malloc(n);
    snprintf(path, n, "%s/keys.log", tmpdir);
    struct es_variant v[2] = {
        variant(TLS1_3_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST),
        variant(TLS1_2_VERSION, TLS1_2_VERSION, alpn_h2_h11, ES_SNI_HOST),
    };
    struct es_tls_opts o = {.no_verify = true, .keylog = path};
    char err[256];
    struct es_tls_ctxset *set = es_tls_ctxset_new(v, 2, &o, err, sizeof err);
    ck_assert_msg(set != NULL, "%s", err);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    for (uint32_t i = 0; i < 2; i++) {
        struct server s;
        server_init(&s, SRV_TLS, &c);
        struct es_row r;
        run_probe(set, i, &e, &s, NULL, &r);
        ck_assert_ptr_eq(r.status, es_tok_ok);
        es_tlsprobe_end(tp);
        server_free(&s);
    }
    es_tls_ctxset_free(set);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    size_t len;
    char *text = tl_read_file(path, &len);
    ck_assert_ptr_nonnull(strstr(text, "CLIENT_HANDSHAKE_TRAFFIC_SECRET "));
    ck_assert_ptr_nonnull(strstr(text, "\nCLIENT_RANDOM "));
    ck_assert_int_eq(text[len - 1], '\n');
    free(text);
    free(path);
}
END_TEST

/* Variants that differ only in SNI share one SSL_CTX; the probe memory is
 * reusable after es_tlsprobe_end. */
START_TEST(test_probe_reuse)
{
    struct es_variant v[2] = {
        variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST),
        variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_NONE),
    };
    struct es_tls_ctxset *set = mkset(v, 2, true, false);
    struct es_edge e = edge_for(HOST, false);
    struct srv_conf c = good_conf();
    c.tls_max = TLS1_2_VERSION;
    for (int i = 0; i < 4; i++) {
        struct server s;
        server_init(&s, SRV_TLS, &c);
        struct es_row r;
        run_probe(set, (uint32_t)(i % 2), &e, &s, NULL, &r);
        ck_assert_ptr_eq(r.status, es_tok_ok);
        ck_assert_str_eq(r.tls_version, "1.2");
        ck_assert_str_eq(s.sni, i % 2 ? "" : HOST);
        es_tlsprobe_end(tp);
        server_free(&s);
    }
    es_tls_ctxset_free(set);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* SSL objects used again (ES_TLS_SSL_POOL): nothing of one probe reaches the */
/* next. Each server below, in turn, is probed by one long-lived set (its     */
/* SSLs reused) and by a new set (a new SSL): the rows and what the servers  */
/* saw of the ClientHello are the same.                                       */

struct reuse_case {
    const char *host; /* an IP: no SNI */
    bool is_ip;
    enum es_lab_certkind kind;
    int tls_max;
    bool ocsp, no_alpn, client_cert, no_tickets;
    int min_server; /* TLS version floor of the server (a failure) */
};

static const struct reuse_case reuse_cases[] = {
    /* OCSP stapled, ALPN h2, SNI, session tickets */
    {HOST, false, ES_CERT_GOOD, TLS1_3_VERSION, true, false, false, false, 0},
    /* no OCSP, no ALPN, no SNI, TLS 1.2, another name */
    {"127.0.0.1", true, ES_CERT_WRONG, TLS1_2_VERSION, false, true, false, false, 0},
    /* TLS 1.2 with tickets, then TLS 1.3 again: no session of either is offered */
    {HOST, false, ES_CERT_GOOD, TLS1_2_VERSION, true, false, false, false, 0},
    {HOST, false, ES_CERT_EXPIRED, TLS1_3_VERSION, false, false, false, true, 0},
    /* certificate_required after the handshake, then a failed handshake */
    {HOST, false, ES_CERT_GOOD, TLS1_3_VERSION, false, false, true, false, 0},
    {HOST, false, ES_CERT_GOOD, TLS1_3_VERSION, false, false, false, false, TLS1_3_VERSION + 1},
    {"127.0.0.1", true, ES_CERT_GOOD, TLS1_3_VERSION, true, false, false, false, 0},
};

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* One probe of case rc through set: its row and what the server saw, as text. */
static void reuse_row(struct es_tls_ctxset *set, const struct reuse_case *rc, char *out, size_t cap)
{
    struct srv_conf c = good_conf();
    c.leaf = es_labcerts_leaf(certs, HOST, rc->kind, ES_KEY_ECDSA);
    c.tls_max = rc->tls_max;
    c.ocsp = rc->ocsp;
    c.alpn = rc->no_alpn ? NULL : alpn_h2;
    c.client_cert = rc->client_cert;
    c.no_tickets = rc->no_tickets;
    if (rc->min_server) { /* a server that speaks no version we offer */
        c.tls_min = TLS1_3_VERSION;
        c.tls_max = TLS1_3_VERSION;
    }
    struct es_edge e = edge_for(rc->host, rc->is_ip);
    struct server s;
    server_init(&s, SRV_TLS, &c);
    struct es_row r;
    run_probe(set, rc->min_server ? 1 : 0, &e, &s, NULL, &r);
    snprintf(out, cap,
             "%s|%s|%d|%s|%s|%s|%s|%s|%d|%s|%s|%s|%s|%s|%s|%s|%s|%d|%d|%s|%s"
             " server: hello %d sni %d '%s' alpn %d psk %d ticket %zu done %d",
             r.status, nz(r.error), r.alert, nz(r.alert_from), r.stage, nz(r.tls_version),
             nz(r.cipher), nz(r.kx_group), r.kx_bits, nz(r.alpn), nz(r.verify), nz(r.cert_sha256),
             nz(r.cert_subject), nz(r.cert_issuer), nz(r.cert_not_after), nz(r.cert_key),
             nz(r.cert_sig), r.ocsp_stapled, r.chain_len, nz(r.h2), nz(r.sni), s.hello_seen,
             s.sni_ext, s.sni, s.alpn_ext, s.psk_ext, s.ticket_len, s.hs_done);
    es_tlsprobe_end(tp);
    server_free(&s);
}

START_TEST(test_ssl_reuse_no_carry)
{
    /* variant 0: TLS 1.2-1.3; variant 1: TLS 1.2 only (its own SSL_CTX) */
    struct es_variant v[2] = {
        variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST),
        variant(TLS1_2_VERSION, TLS1_2_VERSION, alpn_h2_h11, ES_SNI_HOST),
    };
    struct es_tls_ctxset *kept = mkset(v, 2, false, false);
    unsigned rounds = 2, n = (unsigned)ES_ARRAY_LEN(reuse_cases);
    for (unsigned round = 0; round < rounds; round++) {
        for (unsigned i = 0; i < n; i++) {
            const struct reuse_case *rc = &reuse_cases[i];
            char fresh[1024], reused[1024];
            struct es_tls_ctxset *set = mkset(v, 2, false, false);
            reuse_row(set, rc, fresh, sizeof fresh);
            ck_assert_int_eq(es_tls_ctxset_ssl_new(set), 1);
            ck_assert_int_eq(es_tls_ctxset_ssl_reused(set), 0);
            es_tls_ctxset_free(set);
            reuse_row(kept, rc, reused, sizeof reused);
            ck_assert_msg(strcmp(fresh, reused) == 0, "round %u case %u:\n new    %s\n reused %s",
                          round, i, fresh, reused);
            /* never a session offered, whatever the last server gave */
            ck_assert_msg(strstr(reused, " psk 0 ticket 0 ") != NULL, "case %u: %s", i, reused);
        }
    }
    /* one SSL per SSL_CTX was made; every other probe reused one */
    ck_assert_int_eq(es_tls_ctxset_ssl_new(kept), 2);
    ck_assert_int_eq(es_tls_ctxset_ssl_reused(kept), rounds * n - 2);
    es_tls_ctxset_free(kept);
}
END_TEST

/* Probes that wait for the server hold no send buffer: 100 probes whose
 * ClientHellos are out and that wait for silent servers needed one buffer
 * between them, and each still ends as a timeout row. */
START_TEST(test_waiting_probes_hold_no_send_buffer)
{
    enum { N = 100 };
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_tls_ctxset *set = mkset(&v, 1, true, false);
    struct es_edge e = edge_for(HOST, false);
    struct es_probe p = {.edge = &e, .variant = 0, .attempt = 1};
    uint8_t *mem = calloc(N, es_tlsprobe_size());
    ck_assert_ptr_nonnull(mem);
    size_t hello = 0;
    for (int i = 0; i < N; i++) {
        struct es_tlsprobe *t = (struct es_tlsprobe *)(void *)(mem + (size_t)i * es_tlsprobe_size());
        ck_assert_int_eq(es_tlsprobe_start(t, set, &p, es_now_ns()), ES_TLS_WANT_IO);
        const uint8_t *d;
        size_t n;
        while ((n = es_tlsprobe_pending(t, &d)) > 0) {
            ck_assert_uint_ge(es_tls_ctxset_send_buffers(set), 1);
            hello += n;
            es_tlsprobe_sent(t, n / 2 ? n / 2 : n); /* a partial send, then the rest */
        }
        ck_assert_int_eq(es_tlsprobe_step(t, es_now_ns()), ES_TLS_WANT_IO);
    }
    ck_assert_uint_gt(hello, (size_t)N * 100); /* every probe sent its ClientHello */
    ck_assert_uint_eq(es_tls_ctxset_send_buffers(set), 1);
    for (int i = 0; i < N; i++) {
        struct es_tlsprobe *t = (struct es_tlsprobe *)(void *)(mem + (size_t)i * es_tlsprobe_size());
        ck_assert_int_eq(es_tlsprobe_timeout(t, es_now_ns()), ES_TLS_DONE);
        struct es_row r;
        memset(&r, 0, sizeof r);
        es_tlsprobe_fill_row(t, &r);
        ck_assert_ptr_eq(r.status, es_tok_timeout);
        es_tlsprobe_end(t);
    }
    free(mem);
    es_tls_ctxset_free(set);
}
END_TEST

/* What the cases above must show, so that the comparison means something:
 * the first server staples OCSP and picks h2 and sees our SNI; the second sees
 * no SNI and picks no ALPN. */
START_TEST(test_ssl_reuse_cases_differ)
{
    struct es_variant v[2] = {
        variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST),
        variant(TLS1_2_VERSION, TLS1_2_VERSION, alpn_h2_h11, ES_SNI_HOST),
    };
    struct es_tls_ctxset *set = mkset(v, 2, false, false);
    char a[1024], b[1024];
    reuse_row(set, &reuse_cases[0], a, sizeof a);
    reuse_row(set, &reuse_cases[1], b, sizeof b);
    ck_assert_msg(strncmp(a, "ok|", 3) == 0 && strstr(a, "|h2|ok|") && strstr(a, "SHA256|1|2|"),
                  "%s", a);
    ck_assert_msg(strstr(a, "sni 1 '" HOST "'") != NULL, "%s", a);
    ck_assert_msg(strstr(b, "|1.2|") && strstr(b, "||hostname_mismatch|") && strstr(b, "SHA256|0|2|"),
                  "%s", b);
    ck_assert_msg(strstr(b, "sni 0 ''") != NULL, "%s", b);
    es_tls_ctxset_free(set);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* es_tls_fast_key_decode: the same rows through OpenSSL's built-in EC key     */
/* decoder (OpenSSL 3.0): both versions, ECDHE over X25519 and NIST curves,   */
/* failed verifications; RSA certificates and the RSA key exchange unchanged. */

struct fast_case {
    enum es_lab_keykind key;
    int tls;
    const char *ciphers, *groups; /* offered by the client (NULL = default) */
    enum es_lab_certkind kind;
    const char *verify, *version, *cipher, *group;
};

static const struct fast_case fast_cases[] = {
    {ES_KEY_ECDSA, TLS1_3_VERSION, NULL, NULL, ES_CERT_GOOD, es_tok_ok, "1.3",
     "TLS_AES_256_GCM_SHA384", "X25519"},
    {ES_KEY_ECDSA, TLS1_3_VERSION, NULL, "P-256", ES_CERT_GOOD, es_tok_ok, "1.3",
     "TLS_AES_256_GCM_SHA384", "P-256"},
    {ES_KEY_ECDSA, TLS1_2_VERSION, NULL, "P-256", ES_CERT_GOOD, es_tok_ok, "1.2",
     "ECDHE-ECDSA-AES256-GCM-SHA384", "P-256"},
    {ES_KEY_ECDSA, TLS1_3_VERSION, NULL, "P-384:P-256", ES_CERT_WRONG, es_tok_hostname_mismatch,
     "1.3", "TLS_AES_256_GCM_SHA384", "P-384"},
    {ES_KEY_RSA, TLS1_3_VERSION, NULL, NULL, ES_CERT_GOOD, es_tok_ok, "1.3",
     "TLS_AES_256_GCM_SHA384", "X25519"},
    {ES_KEY_RSA, TLS1_2_VERSION, NULL, "P-256", ES_CERT_EXPIRED, es_tok_expired, "1.2",
     "ECDHE-RSA-AES256-GCM-SHA384", "P-256"},
    /* RSA key exchange: the premaster secret encrypted to the decoded key */
    {ES_KEY_RSA, TLS1_2_VERSION, "AES128-GCM-SHA256", NULL, ES_CERT_GOOD, es_tok_ok, "1.2",
     "AES128-GCM-SHA256", NULL},
};

/* Whether x's public key decodes to a legacy key (no provider). */
static bool decodes_legacy(X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    ck_assert_int_gt(n, 0);
    const unsigned char *p = der;
    X509 *y = d2i_X509(NULL, &p, n);
    ck_assert_ptr_nonnull(y);
    EVP_PKEY *k = X509_get0_pubkey(y);
    ck_assert_ptr_nonnull(k);
    bool legacy = EVP_PKEY_get0_provider(k) == NULL;
    X509_free(y);
    OPENSSL_free(der);
    return legacy;
}

/* The row of one fast_case, as text to compare: every column the probe
 * fills except handshake_ms. */
static void fast_case_row(const struct fast_case *fc, const struct srv_conf *c, char *out,
                          size_t cap)
{
    struct es_variant v = variant(fc->tls, fc->tls, alpn_h2_h11, ES_SNI_HOST);
    v.ciphers = fc->ciphers;
    v.groups = fc->groups;
    struct es_tls_ctxset *set = mkset(&v, 1, false, false);
    struct es_edge e = edge_for(HOST, false);
    struct server s;
    server_init(&s, SRV_TLS, c);
    struct es_row r;
    run_probe(set, 0, &e, &s, NULL, &r);
    ck_assert(s.hs_done);
    /* cert_days_left is not compared: a second boundary may fall between */
    snprintf(out, cap, "%s|%s|%d|%s|%s|%s|%s|%d|%s|%s|%s|%s|%s|%s|%s|%s|%d", r.status,
             r.error ? r.error : "", r.alert, r.stage, r.tls_version, r.cipher,
             r.kx_group ? r.kx_group : "", r.kx_bits, r.alpn ? r.alpn : "", r.verify, r.cert_sha256,
             r.cert_subject, r.cert_issuer, r.cert_not_after, r.cert_key, r.cert_sig, r.chain_len);
    es_tlsprobe_end(tp);
    server_free(&s);
    es_tls_ctxset_free(set);
}

/* Rows are identical with the fast key decoding and without (the provider
 * decoder), for every case: both versions, X25519 and NIST curves, failed
 * verifications, RSA certificates and the RSA key exchange. */
START_TEST(test_fast_key_decode_same_rows)
{
    enum { N = ES_ARRAY_LEN(fast_cases) };
    struct srv_conf conf[N];
    char before[N][768], after[N][768];
    /* Keys and certificates are made before the switch (EVP_EC_gen("P-256")
     * fails once it is on). */
    for (size_t i = 0; i < N; i++) {
        conf[i] = good_conf();
        conf[i].leaf = es_labcerts_leaf(certs, HOST, fast_cases[i].kind, fast_cases[i].key);
        conf[i].ciphers = fast_cases[i].ciphers;
        ck_assert(!decodes_legacy(conf[i].leaf.cert));
    }
    for (size_t i = 0; i < N; i++)
        fast_case_row(&fast_cases[i], &conf[i], before[i], sizeof before[i]);

    bool want_on = OpenSSL_version_num() < 0x30100000L;
    ck_assert_int_eq(es_tls_fast_key_decode_state(),
                     want_on ? ES_KEYDECODE_ON : ES_KEYDECODE_NOT_NEEDED);
    ck_assert_int_eq(es_tls_fast_key_decode_setup(),
                     want_on ? ES_KEYDECODE_ON : ES_KEYDECODE_NOT_NEEDED);
    ck_assert_int_eq(es_tls_fast_key_decode_setup(), es_tls_fast_key_decode_state());
    for (size_t i = 0; i < N; i++) {
        /* EC keys only: RSA keys keep the provider decoder */
        ck_assert_int_eq(decodes_legacy(conf[i].leaf.cert),
                         want_on && fast_cases[i].key == ES_KEY_ECDSA);
        fast_case_row(&fast_cases[i], &conf[i], after[i], sizeof after[i]);
        ck_assert_str_eq(after[i], before[i]);
    }
    /* and the rows are the expected ones */
    for (size_t i = 0; i < N; i++) {
        const struct fast_case *fc = &fast_cases[i];
        char want[256];
        snprintf(want, sizeof want, "ok||-1|finished|%s|%s|%s|", fc->version, fc->cipher,
                 fc->group ? fc->group : "");
        ck_assert_msg(strncmp(before[i], want, strlen(want)) == 0, "case %zu: %s", i, before[i]);
        ck_assert_msg(strstr(before[i], fc->verify) != NULL, "case %zu: %s", i, before[i]);
    }
}
END_TEST

/* Once set up, it stays: several threads handshaking at once (TLS 1.2 and
 * 1.3 over P-256 with ECDSA certificates, the case that broke when it was
 * switched during a run) all succeed. */
struct hs_thread {
    struct srv_conf conf;
    int tls;
    unsigned ok, runs;
};

static void *handshake_thread(void *arg)
{
    struct hs_thread *t = arg;
    struct es_variant v = variant(t->tls, t->tls, alpn_h2_h11, ES_SNI_HOST);
    v.groups = "P-256";
    struct es_tls_opts o = {.ca_file = ca_file};
    char err[256];
    struct es_tls_ctxset *set = es_tls_ctxset_new(&v, 1, &o, err, sizeof err);
    struct es_tlsprobe *p = aligned_alloc(64, (es_tlsprobe_size() + 63) & ~(size_t)63);
    struct es_edge e = edge_for(HOST, false);
    struct es_probe pr = {.edge = &e, .variant = 0, .attempt = 1};
    for (unsigned i = 0; set && i < t->runs; i++) {
        SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
        SSL_CTX_use_certificate(sctx, t->conf.leaf.cert);
        SSL_CTX_use_PrivateKey(sctx, t->conf.leaf.key);
        SSL_CTX_add1_chain_cert(sctx, t->conf.leaf.issuer);
        SSL *ssl = SSL_new(sctx);
        BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(ssl, in, out);
        SSL_set_accept_state(ssl);
        enum es_tls_want w = es_tlsprobe_start(p, set, &pr, es_now_ns());
        for (int k = 0; k < 1000 && w != ES_TLS_DONE; k++) {
            const uint8_t *d;
            size_t n;
            while ((n = es_tlsprobe_pending(p, &d)) > 0) {
                BIO_write(in, d, (int)n);
                es_tlsprobe_sent(p, n);
            }
            (void)SSL_do_handshake(ssl);
            ERR_clear_error();
            uint8_t buf[8192];
            int got = BIO_read(out, buf, sizeof buf);
            if (got > 0)
                w = es_tlsprobe_input(p, buf, (size_t)got, es_now_ns());
            else if (es_tlsprobe_wait_until(p))
                w = es_tlsprobe_step(p, es_tlsprobe_wait_until(p));
            else
                w = es_tlsprobe_timeout(p, es_now_ns());
        }
        struct es_row r;
        memset(&r, 0, sizeof r);
        if (w == ES_TLS_DONE) {
            es_tlsprobe_fill_row(p, &r);
            if (r.status == es_tok_ok && r.verify == es_tok_ok && r.kx_bits == 256)
                t->ok++;
        }
        es_tlsprobe_end(p);
        SSL_free(ssl);
        SSL_CTX_free(sctx);
    }
    free(p);
    es_tls_ctxset_free(set);
    return NULL;
}

START_TEST(test_fast_key_decode_threads)
{
    enum { THREADS = 4, RUNS = 60 };
    struct hs_thread t[THREADS];
    pthread_t th[THREADS];
    /* every key first, then the switch, then the threads */
    for (int i = 0; i < THREADS; i++) {
        t[i] = (struct hs_thread){
            .conf = good_conf(), .tls = i % 2 ? TLS1_3_VERSION : TLS1_2_VERSION, .runs = RUNS};
    }
    (void)es_tls_fast_key_decode_setup();
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, handshake_thread, &t[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(t[i].ok == RUNS, "thread %d: %u of %u ok", i, t[i].ok, RUNS);
    }
}
END_TEST

/* A certificate for cn signed by issuer (or itself), CA or not; EC P-256. */
static X509 *mk_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca)
{
    X509 *x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(es_now_ns() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400 + 3600);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_set_pubkey(x, key);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    char san[300];
    snprintf(san, sizeof san, "DNS:%s", cn);
    const char *exts[][2] = {
        {"basicConstraints", ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
        {"keyUsage", ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
        {"subjectKeyIdentifier", "hash"},
        {ca ? NULL : "subjectAltName", san},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(exts); i++) {
        if (!exts[i][0])
            continue;
        X509_EXTENSION *ext = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        ck_assert_ptr_nonnull(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    ck_assert(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()));
    return x;
}

/* root (in the CA file) -> EC intermediate (sent by the server only) ->
 * leaf: verify ok with the fast key decoding on, unknown_ca when the server
 * leaves the intermediate out, and the same results before it was on. */
START_TEST(test_fast_key_decode_intermediate)
{
    EVP_PKEY *rk = EVP_EC_gen("P-256"), *ik = EVP_EC_gen("P-384"), *lk = EVP_EC_gen("P-256");
    ck_assert(rk && ik && lk);
    X509 *root = mk_cert("edgeshake test root", rk, NULL, NULL, true);
    X509 *inter = mk_cert("edgeshake test intermediate", ik, root, rk, true);
    X509 *leaf = mk_cert(HOST, lk, inter, ik, false);
    char *root_file = tl_write_file(tmpdir, "root.pem", "");
    FILE *f = fopen(root_file, "w");
    ck_assert(f && PEM_write_X509(f, root));
    fclose(f);

    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_edge e = edge_for(HOST, false);
    const char *want[2][2] = {{es_tok_ok, es_tok_unknown_ca}, {es_tok_ok, es_tok_unknown_ca}};
    for (int on = 0; on < 2; on++) {
        if (on)
            (void)es_tls_fast_key_decode_setup();
        for (int omit = 0; omit < 2; omit++) {
            struct es_tls_opts o = {.ca_file = root_file};
            char err[256];
            struct es_tls_ctxset *set = es_tls_ctxset_new(&v, 1, &o, err, sizeof err);
            ck_assert_msg(set != NULL, "%s", err);
            struct srv_conf c = good_conf();
            c.leaf = (struct es_lableaf){.cert = leaf, .key = lk, .issuer = omit ? NULL : inter};
            struct server s;
            server_init(&s, SRV_TLS, &c);
            struct es_row r;
            run_probe(set, 0, &e, &s, NULL, &r);
            ck_assert_ptr_eq(r.status, es_tok_ok);
            ck_assert_msg(r.verify == want[on][omit], "on %d omit %d: %s", on, omit, r.verify);
            ck_assert_int_eq(r.chain_len, omit ? 1 : 2);
            ck_assert_str_eq(r.cert_key, "ec256");
            ck_assert_str_eq(r.cert_sig, "ecdsa-with-SHA256");
            ck_assert_int_eq(r.cert_days_left, 30);
            es_tlsprobe_end(tp);
            server_free(&s);
            es_tls_ctxset_free(set);
        }
    }
    X509_free(leaf);
    X509_free(inter);
    X509_free(root);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(lk);
    free(root_file);
}
END_TEST

/* The fast decoder's own EC groups (P-256, P-384, P-521) and its hand-over
 * to OpenSSL's decoder (explicit curve parameters, another named curve): a
 * certificate's key decodes to the same public key, and the probe's row is
 * the same, with the fast key decoding on as before it. */
START_TEST(test_fast_key_decode_curves)
{
    static const struct {
        const char *curve;
        bool explicit_params;
    } cases[] = {{"P-256", false}, {"P-384", false}, {"P-521", false},
                 {"P-256", true},  {"secp256k1", false}};
    enum { N = ES_ARRAY_LEN(cases) };
    X509 *cert[N];
    EVP_PKEY *key[N];
    char before[N][768], spki_before[N][512];
    /* Keys and certificates first: EVP_EC_gen fails once the ENGINE is on. */
    for (size_t i = 0; i < N; i++) {
        key[i] = EVP_EC_gen(cases[i].curve);
        ck_assert_ptr_nonnull(key[i]);
        if (cases[i].explicit_params)
            ck_assert(EVP_PKEY_set_utf8_string_param(key[i], OSSL_PKEY_PARAM_EC_ENCODING,
                                                     OSSL_PKEY_EC_ENCODING_EXPLICIT));
        cert[i] = mk_cert(HOST, key[i], NULL, NULL, false);
    }
    for (int on = 0; on < 2; on++) {
        if (on)
            ck_assert_int_eq(es_tls_fast_key_decode_setup(), es_tls_fast_key_decode_state());
        for (size_t i = 0; i < N; i++) {
            /* the key as decoded from the certificate, encoded again */
            unsigned char *der = NULL, *spki = NULL;
            int n = i2d_X509(cert[i], &der);
            const unsigned char *p = der;
            X509 *y = d2i_X509(NULL, &p, n);
            ck_assert_ptr_nonnull(y);
            EVP_PKEY *k = X509_get0_pubkey(y);
            ck_assert_msg(k != NULL, "case %zu: no key", i);
            int m = i2d_PUBKEY(k, &spki);
            ck_assert_int_gt(m, 0);
            char hexbuf[512];
            hex_of(spki, (size_t)(m < 200 ? m : 200), hexbuf);
            if (!on)
                snprintf(spki_before[i], sizeof spki_before[i], "%s", hexbuf);
            else
                ck_assert_msg(strcmp(hexbuf, spki_before[i]) == 0, "case %zu: key differs", i);
            OPENSSL_free(spki);
            OPENSSL_free(der);
            X509_free(y);

            struct srv_conf c = good_conf();
            c.leaf = (struct es_lableaf){.cert = cert[i], .key = key[i]};
            char row[768];
            struct es_variant v = variant(TLS1_3_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
            struct es_tls_ctxset *set = mkset(&v, 1, false, false);
            struct es_edge e = edge_for(HOST, false);
            struct server s;
            server_init(&s, SRV_TLS, &c);
            struct es_row r;
            run_probe(set, 0, &e, &s, NULL, &r);
            snprintf(row, sizeof row, "%s|%s|%d|%s|%s|%s|%s|%s|%s|%s", r.status,
                     r.error ? r.error : "", r.alert, r.stage, r.tls_version ? r.tls_version : "",
                     r.verify ? r.verify : "", r.cert_sha256 ? r.cert_sha256 : "",
                     r.cert_key ? r.cert_key : "", r.cert_sig ? r.cert_sig : "",
                     r.cert_subject ? r.cert_subject : "");
            es_tlsprobe_end(tp);
            server_free(&s);
            es_tls_ctxset_free(set);
            if (!on)
                snprintf(before[i], sizeof before[i], "%s", row);
            else
                ck_assert_msg(strcmp(row, before[i]) == 0, "case %zu: %s vs %s", i, row,
                              before[i]);
        }
    }
    /* named curves handshake; what explicit parameters give is OpenSSL's call, the same */
    ck_assert_msg(strncmp(before[0], "ok|", 3) == 0, "%s", before[0]);
    ck_assert_msg(strncmp(before[2], "ok|", 3) == 0, "%s", before[2]);
    for (size_t i = 0; i < N; i++) {
        X509_free(cert[i]);
        EVP_PKEY_free(key[i]);
    }
}
END_TEST

/* The system trust store with the fast key decoding on: the lab's chain is
 * untrusted there (self_signed), as without it, and every EC root of the system bundle
 * still verifies its own signature (decoded through the built-in decoder). */
START_TEST(test_fast_key_decode_system_store)
{
    struct es_variant v = variant(TLS1_2_VERSION, TLS1_3_VERSION, alpn_h2_h11, ES_SNI_HOST);
    struct es_edge e = edge_for(HOST, false);
    const char *verify[2];
    for (int on = 0; on < 2; on++) {
        if (on)
            (void)es_tls_fast_key_decode_setup();
        struct es_tls_opts o = {.ca_file = NULL};
        char err[256];
        struct es_tls_ctxset *set = es_tls_ctxset_new(&v, 1, &o, err, sizeof err);
        ck_assert_msg(set != NULL, "%s", err);
        struct srv_conf c = good_conf();
        struct server s;
        server_init(&s, SRV_TLS, &c);
        struct es_row r;
        run_probe(set, 0, &e, &s, NULL, &r);
        ck_assert_ptr_eq(r.status, es_tok_ok);
        verify[on] = r.verify;
        es_tlsprobe_end(tp);
        server_free(&s);
        es_tls_ctxset_free(set);
    }
    /* the lab CA, sent as the chain, is a root the system does not know */
    ck_assert_ptr_eq(verify[0], es_tok_self_signed);
    ck_assert_ptr_eq(verify[1], verify[0]);

    const char *bundle = X509_get_default_cert_file();
    FILE *f = fopen(bundle, "r");
    if (!f)
        return; /* no bundle file on this machine: the probe part above stands */
    unsigned ec = 0;
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        EVP_PKEY *k = X509_get0_pubkey(x);
        if (k && EVP_PKEY_is_a(k, "EC")) {
            ec++;
            ck_assert_int_eq(EVP_PKEY_get0_provider(k) == NULL,
                             es_tls_fast_key_decode_state() == ES_KEYDECODE_ON);
            if (X509_check_issued(x, x) == X509_V_OK)
                ck_assert_msg(X509_verify(x, k) == 1, "EC root %d does not verify", ec);
        }
        X509_free(x);
    }
    ERR_clear_error();
    fclose(f);
}
END_TEST

/* When it stays off: FIPS, another provider for EC, another ENGINE, the
 * test switch. Each case runs in its own process (Check's fork mode). */
static void other_ec_engine(void)
{
#if !defined(OPENSSL_NO_ENGINE) && OPENSSL_VERSION_NUMBER < 0x30100000L
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    ENGINE *e = ENGINE_new();
    ck_assert(e && ENGINE_set_id(e, "test-other-ec") && ENGINE_set_name(e, "another EC engine"));
    ck_assert(ENGINE_set_EC(e, EC_KEY_OpenSSL()));
    ck_assert(ENGINE_register_EC(e) && ENGINE_set_default_EC(e));
    ENGINE_free(e); /* the tables keep theirs */
#pragma GCC diagnostic pop
#endif
}

START_TEST(test_fast_key_decode_off)
{
    static const struct {
        enum es_tls_keydecode want;
    } cases[] = {{ES_KEYDECODE_FIPS},
                 {ES_KEYDECODE_PROVIDER},
                 {ES_KEYDECODE_OTHER_ENGINE},
                 {ES_KEYDECODE_DISABLED}};
    enum es_tls_keydecode want = cases[_i].want;
    if (want == ES_KEYDECODE_DISABLED && !es_test_hooks())
        return; /* ES_TEST_TLS is a test hook (meson -Dtest_hooks=true) */
    struct srv_conf c = good_conf(); /* its keys first: fips=yes cannot make them */
    switch (want) {
    case ES_KEYDECODE_FIPS: ck_assert(EVP_default_properties_enable_fips(NULL, 1)); break;
    case ES_KEYDECODE_PROVIDER: ck_assert(EVP_set_default_properties(NULL, "provider=base")); break;
    case ES_KEYDECODE_OTHER_ENGINE: other_ec_engine(); break;
    case ES_KEYDECODE_DISABLED: setenv("ES_TEST_TLS", "provider_decode", 1); break;
    default: break;
    }
    if (OpenSSL_version_num() >= 0x30100000L)
        want = ES_KEYDECODE_NOT_NEEDED;
    ck_assert_int_eq(es_tls_fast_key_decode_state(), want);
    ck_assert_int_eq(es_tls_fast_key_decode_setup(), want);
    ck_assert_ptr_nonnull(strstr(es_tls_keydecode_text(want), "off: "));
    /* nothing registered: certificate keys still come from the provider */
    ck_assert(!decodes_legacy(c.leaf.cert));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tlsprobe");
    TCase *tc = tcase_create("handshake");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ok_tls13);
    tcase_add_test(tc, test_ok_tls13_default_group);
    tcase_add_test(tc, test_ok_tls12);
    tcase_add_test(tc, test_ok_tls10);
    tcase_add_test(tc, test_ok_byte_by_byte);
    tcase_add_test(tc, test_ok_push_then_step);
    tcase_add_test(tc, test_alert_protocol_version);
    tcase_add_test(tc, test_alert_no_application_protocol);
    tcase_add_test(tc, test_alert_unrecognized_name);
    tcase_add_test(tc, test_alert_handshake_failure);
    tcase_add_test(tc, test_garbage);
    tcase_add_test(tc, test_plain_http);
    tcase_add_test(tc, test_local_alert);
    tcase_add_test(tc, test_eof_after_client_hello);
    tcase_add_test(tc, test_eof_after_certificate);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_alpn_none);
    tcase_add_test(tc, test_probe_reuse);
    tcase_add_test(tc, test_ssl_reuse_no_carry);
    tcase_add_test(tc, test_ssl_reuse_cases_differ);
    tcase_add_test(tc, test_waiting_probes_hold_no_send_buffer);
    suite_add_tcase(s, tc);

    TCase *tv = tcase_create("certificates");
    tcase_add_checked_fixture(tv, setup, teardown);
    tcase_add_loop_test(tv, test_verify, 0, (int)ES_ARRAY_LEN(verify_cases));
    tcase_add_test(tv, test_verify_names);
    tcase_add_test(tv, test_verify_cache);
    tcase_add_test(tv, test_cert_fields);
    tcase_add_test(tv, test_cert_fields_lab);
    tcase_add_test(tv, test_ctxset_errors);
    tcase_add_test(tv, test_ctxset_shared_store);
    tcase_add_test(tv, test_keylog);
    tcase_add_test(tv, test_fast_key_decode_same_rows);
    tcase_add_test(tv, test_fast_key_decode_threads);
    tcase_add_test(tv, test_fast_key_decode_intermediate);
    tcase_add_test(tv, test_fast_key_decode_curves);
    tcase_add_test(tv, test_fast_key_decode_system_store);
    tcase_add_loop_test(tv, test_fast_key_decode_off, 0, 4);
    suite_add_tcase(s, tv);

    TCase *th = tcase_create("h2");
    tcase_add_checked_fixture(th, setup, teardown);
    tcase_add_loop_test(th, test_h2, 0, (int)ES_ARRAY_LEN(h2_cases));
    tcase_add_test(th, test_h2_not_applicable);
    suite_add_tcase(s, th);

    TCase *tp13 = tcase_create("post_handshake");
    tcase_add_checked_fixture(tp13, setup, teardown);
    tcase_add_test(tp13, test_client_cert_required_tls13);
    tcase_add_test(tp13, test_client_cert_required_after_grace);
    tcase_add_test(tp13, test_client_cert_required_tls12);
    tcase_add_test(tp13, test_client_cert_optional);
    tcase_add_test(tp13, test_post_handshake_end);
    suite_add_tcase(s, tp13);

    TCase *tk = tcase_create("kx");
    tcase_add_checked_fixture(tk, setup, teardown);
    tcase_add_loop_test(tk, test_kx, 0, (int)ES_ARRAY_LEN(kx_cases));
    tcase_add_test(tk, test_negotiated_on_failure);
    tcase_add_test(tk, test_cert_inventory);
    tcase_add_test(tk, test_cert_inventory_ed25519);
    suite_add_tcase(s, tk);

    TCase *tm = tcase_create("tables");
    tcase_add_loop_test(tm, test_map_error, 0, (int)ES_ARRAY_LEN(map_cases));
    tcase_add_loop_test(tm, test_alert_names, 0, (int)ES_ARRAY_LEN(alert_cases));
    tcase_add_test(tm, test_goaway_tokens);
    suite_add_tcase(s, tm);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
