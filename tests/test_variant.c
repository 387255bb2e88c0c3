/* test_variant.c - the variant matrix: names and order, fields, ALPN wire
 * bytes, OpenSSL's rejections, impossible combinations and warnings. */
#include <check.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/variant.h"

#define MAXV 8 /* values per option in a table row */

/* One command line's matrix options; NULL ends each list. */
struct opts {
    const char *tls[MAXV], *alpn[MAXV], *sni[MAXV], *ciphers[MAXV], *suites[MAXV], *groups[MAXV];
};

static struct es_strlist list(const char *const *v)
{
    size_t n = 0;
    while (n < MAXV && v[n])
        n++;
    return (struct es_strlist){(const char **)v, n, n};
}

static void config(const struct opts *o, struct es_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->cmd = ES_CMD_SCAN;
    cfg->tls = list(o->tls);
    cfg->alpn = list(o->alpn);
    cfg->sni = list(o->sni);
    cfg->ciphers = list(o->ciphers);
    cfg->ciphersuites = list(o->suites);
    cfg->groups = list(o->groups);
}

/* Collects warnings, '|'-joined. */
struct warnings {
    char text[2048];
    int n;
};

static void collect(void *ctx, const char *msg)
{
    struct warnings *w = ctx;
    size_t len = strlen(w->text);
    snprintf(w->text + len, sizeof w->text - len, "%s%s", w->n ? "|" : "", msg);
    w->n++;
}

/* ---- names, in matrix order ---- */

struct names_case {
    struct opts o;
    const char *names[16]; /* NULL-terminated */
};

#define C1 "ECDHE-RSA-AES128-GCM-SHA256"
#define C2 "ECDHE-ECDSA-AES256-GCM-SHA384"
#define S1 "TLS_AES_128_GCM_SHA256"

static const struct names_case names_cases[] = {
    /* the matrix of the issue: --tls 1.2 --tls 1.3 --alpn h2 --alpn none --sni host --sni none */
    {{.tls = {"1.2", "1.3"}, .alpn = {"h2", "none"}, .sni = {"host", "none"}},
     {"tls1.2/h2/sni", "tls1.2/h2/nosni", "tls1.2/none/sni", "tls1.2/none/nosni", "tls1.3/h2/sni",
      "tls1.3/h2/nosni", "tls1.3/none/sni", "tls1.3/none/nosni"}},
    /* defaults */
    {{.tls = {NULL}}, {"tls1.2/h2,http1.1/sni", "tls1.3/h2,http1.1/sni"}},
    {{.tls = {"1.2"}, .alpn = {"none"}, .sni = {"Other.Example."}},
     {"tls1.2/none/sni:other.example"}},
    /* repeats collapse; the order of first appearance is kept */
    {{.tls = {"1.3", "1.2", "1.3"}, .alpn = {"h2", "h2"}, .sni = {"host", "none", "host"}},
     {"tls1.3/h2/sni", "tls1.3/h2/nosni", "tls1.2/h2/sni", "tls1.2/h2/nosni"}},
    {{.tls = {"1.2"}, .sni = {"host", "a.example", "A.EXAMPLE", "a.example."}},
     {"tls1.2/h2,http1.1/sni", "tls1.2/h2,http1.1/sni:a.example"}},
    {{.tls = {"1.0", "1.1"}}, {"tls1.0/h2,http1.1/sni", "tls1.1/h2,http1.1/sni"}},
    {{.tls = {"1.2"}, .alpn = {"http/1.1", "h2,http/1.1", "spdy/3.1,http/1.0"}},
     {"tls1.2/http1.1/sni", "tls1.2/h2,http1.1/sni", "tls1.2/spdy3.1,http1.0/sni"}},
    /* --ciphers only on TLS <= 1.2, --ciphersuites only on TLS 1.3; groups on both */
    {{.tls = {"1.2", "1.3"},
      .alpn = {"h2"},
      .ciphers = {C1, C2},
      .suites = {S1},
      .groups = {"X25519", "P-256:P-384"}},
     {"tls1.2/h2/sni/c:" C1 "/g:X25519", "tls1.2/h2/sni/c:" C1 "/g:P-256:P-384",
      "tls1.2/h2/sni/c:" C2 "/g:X25519", "tls1.2/h2/sni/c:" C2 "/g:P-256:P-384",
      "tls1.3/h2/sni/cs:" S1 "/g:X25519", "tls1.3/h2/sni/cs:" S1 "/g:P-256:P-384"}},
    {{.tls = {"1.2", "1.3"}, .alpn = {"h2"}, .ciphers = {C1, C2}},
     {"tls1.2/h2/sni/c:" C1, "tls1.2/h2/sni/c:" C2, "tls1.3/h2/sni"}},
    {{.tls = {"1.2", "1.3"}, .alpn = {"h2"}, .suites = {S1, "TLS_CHACHA20_POLY1305_SHA256"}},
     {"tls1.2/h2/sni", "tls1.3/h2/sni/cs:" S1, "tls1.3/h2/sni/cs:TLS_CHACHA20_POLY1305_SHA256"}},
};

START_TEST(test_names)
{
    const struct names_case *c = &names_cases[_i];
    struct es_config cfg;
    struct es_variant *v;
    size_t n, want = 0;
    char err[1024] = "";
    struct warnings w = {"", 0};
    config(&c->o, &cfg);
    ck_assert_msg(es_variants_build_ex(&cfg, collect, &w, &v, &n, err, sizeof err), "case %d: %s",
                  _i, err);
    while (c->names[want])
        want++;
    for (size_t i = 0; i < n && i < want; i++) {
        ck_assert_str_eq(v[i].name, c->names[i]);
        ck_assert_uint_eq(v[i].index, i);
    }
    ck_assert_uint_eq(n, want);
    ck_assert_msg(w.n == 0, "case %d: warnings %s", _i, w.text);
    es_variants_free(v, n);
}
END_TEST

/* ---- the fields of each variant ---- */

START_TEST(test_fields_default)
{
    struct es_config cfg;
    struct es_variant *v;
    size_t n;
    char err[512];
    config(&(struct opts){.tls = {NULL}}, &cfg);
    ck_assert_msg(es_variants_build(&cfg, &v, &n, err, sizeof err), "%s", err);
    ck_assert_uint_eq(n, 2);
    static const uint8_t wire[] = "\x02h2\x08http/1.1";
    int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    const char *offered[] = {"1.2", "1.3"};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(v[i].tls_min, versions[i]);
        ck_assert_int_eq(v[i].tls_max, versions[i]);
        ck_assert_str_eq(v[i].tls_offered, offered[i]);
        ck_assert_str_eq(v[i].alpn_offered, "h2,http/1.1");
        ck_assert_uint_eq(v[i].alpn_wire_len, sizeof wire - 1);
        ck_assert_mem_eq(v[i].alpn_wire, wire, sizeof wire - 1);
        ck_assert_int_eq(v[i].sni_mode, ES_SNI_HOST);
        ck_assert_ptr_null(v[i].sni_name);
        ck_assert_ptr_null(v[i].ciphers);
        ck_assert_ptr_null(v[i].ciphersuites);
        ck_assert_ptr_null(v[i].groups);
        ck_assert_str_eq(v[i].ciphers_offered, "");
        ck_assert_str_eq(v[i].groups_offered, "");
    }
    es_variants_free(v, n);
}
END_TEST

START_TEST(test_fields_ciphers)
{
    struct es_config cfg;
    struct es_variant *v;
    size_t n;
    char err[512];
    config(&(struct opts){.tls = {"1.2", "1.3"},
                          .alpn = {"none"},
                          .sni = {"none", "Edge.Example"},
                          .ciphers = {C1},
                          .suites = {S1},
                          .groups = {"X25519:P-256"}},
           &cfg);
    ck_assert_msg(es_variants_build(&cfg, &v, &n, err, sizeof err), "%s", err);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(v[0].name, "tls1.2/none/nosni/c:" C1 "/g:X25519:P-256");
    ck_assert_str_eq(v[3].name, "tls1.3/none/sni:edge.example/cs:" S1 "/g:X25519:P-256");
    for (size_t i = 0; i < 4; i++) {
        bool tls13 = i >= 2;
        ck_assert_str_eq(v[i].alpn_offered, "none");
        ck_assert_ptr_null(v[i].alpn_wire);
        ck_assert_uint_eq(v[i].alpn_wire_len, 0);
        ck_assert_int_eq(v[i].sni_mode, i % 2 ? ES_SNI_NAME : ES_SNI_NONE);
        if (i % 2)
            ck_assert_str_eq(v[i].sni_name, "edge.example");
        else
            ck_assert_ptr_null(v[i].sni_name);
        if (tls13) {
            ck_assert_ptr_null(v[i].ciphers);
            ck_assert_str_eq(v[i].ciphersuites, S1);
            ck_assert_str_eq(v[i].ciphers_offered, S1);
        } else {
            ck_assert_str_eq(v[i].ciphers, C1);
            ck_assert_ptr_null(v[i].ciphersuites);
            ck_assert_str_eq(v[i].ciphers_offered, C1);
        }
        ck_assert_str_eq(v[i].groups, "X25519:P-256");
        ck_assert_str_eq(v[i].groups_offered, "X25519:P-256");
    }
    es_variants_free(v, n);
}
END_TEST

/* TLS 1.0/1.1 carry @SECLEVEL=0; ciphers_offered keeps the string as given. */
START_TEST(test_fields_old_tls)
{
    struct es_config cfg;
    struct es_variant *v;
    size_t n;
    char err[512];
    config(&(struct opts){.tls = {"1.0", "1.1", "1.2"}, .ciphers = {"AES128-SHA"}}, &cfg);
    ck_assert_msg(es_variants_build(&cfg, &v, &n, err, sizeof err), "%s", err);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(v[0].tls_min, TLS1_VERSION);
    ck_assert_int_eq(v[1].tls_max, TLS1_1_VERSION);
    ck_assert_str_eq(v[0].ciphers, "AES128-SHA:@SECLEVEL=0");
    ck_assert_str_eq(v[1].ciphers, "AES128-SHA:@SECLEVEL=0");
    ck_assert_str_eq(v[2].ciphers, "AES128-SHA");
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(v[i].ciphers_offered, "AES128-SHA");
    ck_assert_str_eq(v[0].name, "tls1.0/h2,http1.1/sni/c:AES128-SHA");
    es_variants_free(v, n);

    config(&(struct opts){.tls = {"1.1"}}, &cfg);
    ck_assert_msg(es_variants_build(&cfg, &v, &n, err, sizeof err), "%s", err);
    ck_assert_str_eq(v[0].ciphers, "DEFAULT:@SECLEVEL=0");
    ck_assert_str_eq(v[0].ciphers_offered, "");
    es_variants_free(v, n);
}
END_TEST

/* The SSL_CTX of each variant sends a ClientHello of its version. */
START_TEST(test_configure_ctx)
{
    struct es_config cfg;
    struct es_variant *v;
    size_t n;
    char err[512];
    config(&(struct opts){.tls = {"1.0", "1.1", "1.2", "1.3"}}, &cfg);
    ck_assert_msg(es_variants_build(&cfg, &v, &n, err, sizeof err), "%s", err);
    ck_assert_uint_eq(n, 4);
    /* legacy_version in the ClientHello: 1.3 sends 1.2 there (RFC 8446 §4.1.2) */
    static const uint8_t legacy[4] = {0x01, 0x02, 0x03, 0x03};
    for (size_t i = 0; i < n; i++) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        ck_assert(es_variant_configure_ctx(ctx, &v[i], err, sizeof err));
        ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), v[i].tls_min);
        ck_assert_int_eq(SSL_CTX_get_max_proto_version(ctx), v[i].tls_max);
        /* 1.0 and 1.1 need level 0; the others keep the default (2 on Debian). */
        if (i < 2)
            ck_assert_int_eq(SSL_CTX_get_security_level(ctx), 0);
        else
            ck_assert_int_gt(SSL_CTX_get_security_level(ctx), 0);
        SSL *ssl = SSL_new(ctx);
        BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl, rb, wb);
        SSL_set_connect_state(ssl);
        ck_assert_int_eq(SSL_set_alpn_protos(ssl, v[i].alpn_wire, (unsigned)v[i].alpn_wire_len), 0);
        int r = SSL_do_handshake(ssl);
        ck_assert_int_eq(SSL_get_error(ssl, r), SSL_ERROR_WANT_READ);
        const uint8_t *hello;
        long len = BIO_get_mem_data(wb, (char **)&hello);
        ck_assert_int_gt(len, 11);
        ck_assert_uint_eq(hello[0], 22); /* handshake record */
        ck_assert_uint_eq(hello[5], 1);  /* ClientHello */
        ck_assert_uint_eq(hello[9], 3);
        ck_assert_uint_eq(hello[10], legacy[i]);
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }
    es_variants_free(v, n);

    /* A variant OpenSSL refuses is an error, not a crash. */
    struct es_variant bad = {.tls_min = TLS1_2_VERSION,
                             .tls_max = TLS1_2_VERSION,
                             .tls_offered = "1.2",
                             .ciphers = "NOPE"};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert(!es_variant_configure_ctx(ctx, &bad, err, sizeof err));
    ck_assert_str_eq(err, "OpenSSL rejects the cipher list 'NOPE'");
    SSL_CTX_free(ctx);
}
END_TEST

/* ---- ALPN wire format ---- */

struct wire_case {
    const char *alpn;
    const char *wire; /* NULL for none */
    size_t len;
};

static const struct wire_case wire_cases[] = {
    {"h2", "\x02h2", 3},
    {"http/1.1", "\x08http/1.1", 9},
    {"h2,http/1.1", "\x02h2\x08http/1.1", 12},
    {"http/1.1,h2", "\x08http/1.1\x02h2", 12},
    {"x", "\x01x", 2},
    {"h3,h2,http/1.1,http/1.0", "\x02h3\x02h2\x08http/1.1\x08http/1.0", 24},
    {"none", NULL, 0},
};

START_TEST(test_alpn_wire)
{
    const struct wire_case *c = &wire_cases[_i];
    struct es_config cfg;
    struct es_variant *v;
    size_t n;
    char err[512];
    config(&(struct opts){.tls = {"1.3"}, .alpn = {c->alpn}}, &cfg);
    ck_assert_msg(es_variants_build(&cfg, &v, &n, err, sizeof err), "%s", err);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].alpn_offered, c->alpn);
    ck_assert_uint_eq(v[0].alpn_wire_len, c->len);
    if (c->wire)
        ck_assert_mem_eq(v[0].alpn_wire, c->wire, c->len);
    else
        ck_assert_ptr_null(v[0].alpn_wire);
    es_variants_free(v, n);
}
END_TEST

START_TEST(test_alpn_255)
{
    char p255[256], p256[257], want[512];
    memset(p255, 'a', 255);
    p255[255] = '\0';
    memset(p256, 'b', 256);
    p256[256] = '\0';
    struct es_config cfg;
    struct es_variant *v;
    size_t n;
    char err[512];
    config(&(struct opts){.tls = {"1.3"}, .alpn = {p255}}, &cfg);
    ck_assert_msg(es_variants_build(&cfg, &v, &n, err, sizeof err), "%s", err);
    ck_assert_uint_eq(v[0].alpn_wire_len, 256);
    ck_assert_uint_eq(v[0].alpn_wire[0], 255);
    ck_assert_mem_eq(v[0].alpn_wire + 1, p255, 255);
    es_variants_free(v, n);
    config(&(struct opts){.tls = {"1.3"}, .alpn = {p256}}, &cfg);
    ck_assert(!es_variants_build(&cfg, &v, &n, err, sizeof err));
    snprintf(want, sizeof want, "--alpn '%.64s...': protocol name longer than 255 bytes", p256);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* ---- errors ---- */

struct error_case {
    struct opts o;
    const char *err;
};

#define GROUPS_HINT                                                                                \
    "OpenSSL rejects this list of groups (known names include X25519, X448, P-256, P-384, "        \
    "P-521, ffdhe2048)"

static const struct error_case error_cases[] = {
    {{.tls = {"1.4"}}, "--tls '1.4': expected 1.0, 1.1, 1.2 or 1.3"},
    {{.ciphers = {"FOO"}}, "--ciphers 'FOO': OpenSSL accepts none of these ciphers"},
    {{.ciphers = {C1, "NOPE:ALSO-NOPE"}},
     "--ciphers 'NOPE:ALSO-NOPE': OpenSSL accepts none of these ciphers"},
    {{.ciphers = {S1}},
     "--ciphers '" S1 "': OpenSSL accepts none of these ciphers (TLS 1.3 suites go in "
     "--ciphersuites)"},
    {{.tls = {"1.2"}, .ciphers = {S1 ":TLS_AES_256_GCM_SHA384"}},
     "--ciphers '" S1 ":TLS_AES_256_GCM_SHA384': OpenSSL accepts none of these ciphers (TLS 1.3 "
     "suites go in --ciphersuites)"},
    {{.suites = {"FOO"}}, "--ciphersuites 'FOO': OpenSSL does not know the TLS 1.3 suite 'FOO'"},
    {{.suites = {S1 ":BOGUS"}},
     "--ciphersuites '" S1 ":BOGUS': OpenSSL does not know the TLS 1.3 suite 'BOGUS'"},
    {{.suites = {C1}},
     "--ciphersuites '" C1 "': OpenSSL does not know the TLS 1.3 suite '" C1
     "' (TLS 1.2 ciphers go in --ciphers)"},
    {{.suites = {S1 "::TLS_AES_256_GCM_SHA384"}},
     "--ciphersuites '" S1 "::TLS_AES_256_GCM_SHA384': empty suite name"},
    {{.suites = {""}}, "--ciphersuites '': empty suite name"},
    {{.groups = {"FOO"}}, "--groups 'FOO': " GROUPS_HINT},
    {{.groups = {"X25519:FOO"}}, "--groups 'X25519:FOO': " GROUPS_HINT},
    /* impossible cells */
    {{.tls = {"1.0"}, .ciphers = {C1}},
     "--tls 1.0 with --ciphers '" C1 "': none of these ciphers can be offered with TLS 1.0"},
    {{.tls = {"1.2", "1.1"}, .ciphers = {"AES128-SHA", "AES128-GCM-SHA256:AES256-GCM-SHA384"}},
     "--tls 1.1 with --ciphers 'AES128-GCM-SHA256:AES256-GCM-SHA384': none of these ciphers can "
     "be offered with TLS 1.1"},
    {{.tls = {"1.3"}, .groups = {"brainpoolP256r1"}},
     "--tls 1.3 --groups 'brainpoolP256r1': OpenSSL cannot build a ClientHello with these "
     "settings (no suitable groups)"},
    /* ALPN */
    {{.alpn = {""}}, "--alpn '': empty value; use --alpn none to offer no ALPN"},
    {{.alpn = {"h2,"}}, "--alpn 'h2,': empty protocol name"},
    {{.alpn = {",h2"}}, "--alpn ',h2': empty protocol name"},
    {{.alpn = {"h2,,http/1.1"}}, "--alpn 'h2,,http/1.1': empty protocol name"},
    {{.alpn = {"h2,none"}}, "--alpn 'h2,none': 'none' cannot be combined with protocols"},
    {{.alpn = {"h2 x"}}, "--alpn 'h2 x': protocol names are printable ASCII without spaces"},
    {{.alpn = {"h2,\x7f"}}, "--alpn 'h2,\\x7f': protocol names are printable ASCII without spaces"},
    {{.alpn = {"http/1.1", "h2", "http1.1"}},
     "--alpn 'http/1.1' and --alpn 'http1.1' get the same variant name 'http1.1'"},
    /* SNI */
    {{.sni = {"192.0.2.1"}},
     "--sni '192.0.2.1': an IP address cannot be sent as SNI (RFC 6066); use --sni none"},
    {{.sni = {"host", "::1"}},
     "--sni '::1': an IP address cannot be sent as SNI (RFC 6066); use --sni none"},
    {{.sni = {"[::1]"}},
     "--sni '[::1]': an IP address cannot be sent as SNI (RFC 6066); use --sni none"},
    {{.sni = {"bad!name"}}, "--sni 'bad!name': bad character '!' in host name"},
    {{.sni = {"bücher.example"}},
     "--sni 'b\\xc3\\xbccher.example': non-ASCII host name; use its punycode (xn--) form"},
    {{.sni = {""}}, "--sni '': empty host name"},
    {{.sni = {"a..b"}}, "--sni 'a..b': empty label in host name"},
};

START_TEST(test_errors)
{
    const struct error_case *c = &error_cases[_i];
    struct es_config cfg;
    struct es_variant *v = (struct es_variant *)1;
    size_t n = 99;
    char err[1024] = "";
    config(&c->o, &cfg);
    ck_assert_msg(!es_variants_build(&cfg, &v, &n, err, sizeof err), "case %d built", _i);
    ck_assert_str_eq(err, c->err);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* ---- warnings: options that have no effect ---- */

START_TEST(test_warnings)
{
    struct es_config cfg;
    struct es_variant *v;
    size_t n;
    char err[512];
    struct warnings w = {"", 0};
    config(&(struct opts){.tls = {"1.3"}, .ciphers = {"AES128-SHA"}}, &cfg);
    ck_assert_msg(es_variants_build_ex(&cfg, collect, &w, &v, &n, err, sizeof err), "%s", err);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].name, "tls1.3/h2,http1.1/sni");
    ck_assert_ptr_null(v[0].ciphers);
    ck_assert_str_eq(w.text, "--ciphers has no effect: it sets the TLS 1.0-1.2 cipher list and "
                             "only TLS 1.3 is offered (TLS 1.3 suites are set with "
                             "--ciphersuites)");
    es_variants_free(v, n);

    struct warnings w2 = {"", 0};
    config(&(struct opts){.tls = {"1.2"}, .suites = {S1}}, &cfg);
    ck_assert_msg(es_variants_build_ex(&cfg, collect, &w2, &v, &n, err, sizeof err), "%s", err);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].name, "tls1.2/h2,http1.1/sni");
    ck_assert_ptr_null(v[0].ciphersuites);
    ck_assert_str_eq(w2.text, "--ciphersuites has no effect: it sets the TLS 1.3 suites and TLS "
                              "1.3 is not offered (add --tls 1.3)");
    es_variants_free(v, n);

    /* Both kinds in use: no warning. */
    struct warnings w3 = {"", 0};
    config(&(struct opts){.ciphers = {C1}, .suites = {S1}}, &cfg);
    ck_assert(es_variants_build_ex(&cfg, collect, &w3, &v, &n, err, sizeof err));
    ck_assert_int_eq(w3.n, 0);
    es_variants_free(v, n);
}
END_TEST

/* ---- the size limit ---- */

START_TEST(test_max)
{
    static char alpn[64][16], sni[64][32];
    struct es_config cfg;
    const char *alpnv[64], *sniv[64];
    for (int i = 0; i < 64; i++) {
        snprintf(alpn[i], sizeof alpn[i], "p%d", i);
        snprintf(sni[i], sizeof sni[i], "s%d.example", i);
        alpnv[i] = alpn[i];
        sniv[i] = sni[i];
    }
    static const char *tls1[] = {"1.2"}, *tls2[] = {"1.2", "1.3"};
    memset(&cfg, 0, sizeof cfg);
    cfg.alpn = (struct es_strlist){alpnv, 64, 64};
    cfg.sni = (struct es_strlist){sniv, 64, 64};
    cfg.tls = (struct es_strlist){tls1, 1, 1};
    struct es_variant *v;
    size_t n;
    char err[512];
    /* 64 x 64 = 4096: exactly the limit */
    ck_assert_msg(es_variants_build(&cfg, &v, &n, err, sizeof err), "%s", err);
    ck_assert_uint_eq(n, ES_VARIANTS_MAX);
    ck_assert_str_eq(v[0].name, "tls1.2/p0/sni:s0.example");
    ck_assert_str_eq(v[4095].name, "tls1.2/p63/sni:s63.example");
    ck_assert_uint_eq(v[4095].index, 4095);
    es_variants_free(v, n);
    /* one more --tls doubles it */
    cfg.tls = (struct es_strlist){tls2, 2, 2};
    ck_assert(!es_variants_build(&cfg, &v, &n, err, sizeof err));
    ck_assert_str_eq(err, "the variant matrix has 8192 variants; the limit is 4096 (give fewer "
                          "--tls, --alpn, --sni, --ciphers, --ciphersuites, --groups or --hello values)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("variant");
    TCase *tc = tcase_create("matrix");
    tcase_add_loop_test(tc, test_names, 0, (int)(sizeof names_cases / sizeof names_cases[0]));
    tcase_add_test(tc, test_fields_default);
    tcase_add_test(tc, test_fields_ciphers);
    tcase_add_test(tc, test_fields_old_tls);
    tcase_add_test(tc, test_configure_ctx);
    tcase_add_test(tc, test_max);
    suite_add_tcase(s, tc);
    tc = tcase_create("alpn");
    tcase_add_loop_test(tc, test_alpn_wire, 0, (int)(sizeof wire_cases / sizeof wire_cases[0]));
    tcase_add_test(tc, test_alpn_255);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof error_cases / sizeof error_cases[0]));
    tcase_add_test(tc, test_warnings);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
