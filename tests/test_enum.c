/* test_enum.c - `edgeshake enum` (issue 13).
 *
 *  - "machine": the per-edge state machine against a model server (a
 *    function that answers a ClientHello the way an OpenSSL server does:
 *    highest common version, cipher by server or client order, key share or
 *    HelloRetryRequest, ALPN by server order or alert 120). Exact sets,
 *    server order, and the handshake count of each configuration.
 *  - "engine": es_engine_run with explicit (edge, variant) probes.
 *  - "lab": the real command against `edgeshake lab` on 127.140.0.0/16:
 *    every edge's sets equal what its spec line says, and for the edges on
 *    OpenSSL defaults, what a brute-force scan (one variant per cipher, suite
 *    and group) finds; sharing and --per-host; JSONL; --dry-run. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edgeshake/engine.h"
#include "edgeshake/enum.h"
#include "edgeshake/net.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"
#include "testlib.h"

/* ---- the model server ------------------------------------------------------------- */

struct model {
    const char *name;
    uint8_t versions;        /* bit v */
    const char *ciphers[12]; /* server order */
    const char *suites[6];
    const char *groups[11];
    const char *alpn[7]; /* NULL first = ignores ALPN */
    bool pref;           /* server order for ciphers, suites and groups */
    bool alpn_strict;
    /* expected */
    const char *want_ciphers12; /* in the order enum reports */
    const char *want_prefers;
    unsigned max_handshakes;
    const char *cert_curve; /* an ECDSA certificate on this curve: over TLS <= 1.2 the client
                               must offer the curve (OpenSSL's servers check) */
};

static int list_index(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n && list[i]; i++)
        if (!strcmp(list[i], name))
            return (int)i;
    return -1;
}

/* The first of `offered` (catalog indices in client order) that the server
 * list accepts, by server order when pref, else client order; -1 = none. */
static int choose(const int *offered, size_t noff, const char *const *srv, size_t nsrv,
                  const char *const *names, bool pref)
{
    if (pref) {
        for (size_t s = 0; s < nsrv && srv[s]; s++)
            for (size_t o = 0; o < noff; o++)
                if (!strcmp(names[offered[o]], srv[s]))
                    return offered[o];
        return -1;
    }
    for (size_t o = 0; o < noff; o++)
        if (list_index(srv, nsrv, names[offered[o]]) >= 0)
            return offered[o];
    return -1;
}

static void reject(struct es_enum_answer *a, int alert)
{
    a->outcome = ES_ENUM_REJECTED;
    a->alert = alert;
    a->status = es_tok_alert;
}

static void model_answer(const struct model *m, const struct es_enum_hello *h,
                         struct es_enum_answer *a)
{
    const struct es_enum_catalog *cat = es_enum_catalog();
    memset(a, 0, sizeof *a);
    a->alert = -1;
    a->version = a->cipher = a->suite = a->group = a->alpn = -1;
    int v = -1;
    for (int i = h->vmax; i >= h->vmin && v < 0; i--)
        if (m->versions & (1u << i))
            v = i;
    if (v < 0) {
        reject(a, 70);
        return;
    }
    int goff[ES_ENUM_NGROUPS];
    size_t ng = 0;
    bool curve_offered = !m->cert_curve;
    for (int i = 0; i < ES_ENUM_NGROUPS; i++)
        if ((h->groups & (1u << i)) && !(h->gtail & (1u << i)))
            goff[ng++] = i;
    for (int i = 0; i < ES_ENUM_NGROUPS; i++)
        if (h->gtail & (1u << i))
            goff[ng++] = i;
    for (size_t i = 0; i < ng; i++)
        curve_offered |= m->cert_curve && !strcmp(cat->groups[goff[i]], m->cert_curve);
    int group = choose(goff, ng, m->groups, 11, cat->groups, m->pref);
    if (v == 3) {
        int soff[ES_ENUM_NSUITES];
        size_t ns = 0;
        for (int i = 0; i < ES_ENUM_NSUITES; i++)
            if (h->suites & (1u << i))
                soff[ns++] = i;
        a->suite = choose(soff, ns, m->suites, 6, cat->suites, m->pref);
        /* The key share (first group offered) wins when acceptable; else a
         * HelloRetryRequest for the server's choice. */
        if (ng && list_index(m->groups, 11, cat->groups[goff[0]]) >= 0)
            group = goff[0];
        if (a->suite < 0 || group < 0) {
            reject(a, 40);
            return;
        }
        a->group = group;
    } else {
        int coff[ES_ENUM_MAX_CIPHERS];
        size_t nc = 0;
        if (h->pref[0] >= 0) {
            coff[nc++] = h->pref[0];
            coff[nc++] = h->pref[1];
        } else {
            for (size_t i = 0; i < cat->nciphers; i++)
                if ((h->ciphers[i / 64] >> (i % 64)) & 1)
                    coff[nc++] = (int)i;
            if (h->ctail)
                coff[nc++] = h->ctail - 1;
        }
        /* ECDHE suites need a common group. */
        int usable[ES_ENUM_MAX_CIPHERS];
        size_t nu = 0;
        for (size_t i = 0; i < nc; i++)
            if ((!cat->ecdhe[coff[i]] || group >= 0) && (!cat->ecdsa[coff[i]] || curve_offered))
                usable[nu++] = coff[i];
        a->cipher = choose(usable, nu, m->ciphers, 12, cat->ciphers, m->pref);
        if (a->cipher < 0) {
            reject(a, 40);
            return;
        }
        a->group = cat->ecdhe[a->cipher] ? group : -1;
    }
    if (h->alpn && m->alpn[0]) {
        int aoff[ES_ENUM_NALPN];
        size_t na = 0;
        for (int i = 0; i < ES_ENUM_NALPN; i++)
            if (h->alpn & (1u << i))
                aoff[na++] = i;
        a->alpn = choose(aoff, na, m->alpn, 7, cat->alpn, true);
        if (a->alpn < 0 && m->alpn_strict) {
            reject(a, 120);
            return;
        }
    }
    a->version = v;
    a->outcome = ES_ENUM_OK;
    a->status = es_tok_ok;
    snprintf(a->cert, sizeof a->cert, "%s", h->nosni ? "nosni-cert" : "sni-cert");
}

/* Sorted copy of a ';'-joined list, for set comparison. */
static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sorted(const char *in, char *out, size_t len)
{
    char buf[4096], *parts[128];
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", in);
    for (char *p = strtok(buf, ";"); p && n < 128; p = strtok(NULL, ";"))
        parts[n++] = p;
    qsort(parts, n, sizeof *parts, cmpstr);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ";" : "", parts[i]);
}

static void join(const char *const *list, size_t n, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && list[i]; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ";" : "", list[i]);
}

static const struct model models[] = {
    {"nginx intermediate, ECDSA, server order",
     0xc,
     {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
      "ECDHE-ECDSA-CHACHA20-POLY1305"},
     {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"},
     {"X25519", "P-256", "P-384"},
     {"h2", "http/1.1", "http/1.0", "http/0.9"},
     true,
     true,
     "ECDHE-ECDSA-AES128-GCM-SHA256;ECDHE-ECDSA-AES256-GCM-SHA384;ECDHE-ECDSA-CHACHA20-POLY1305",
     "yes",
     19,
     NULL},
    {"same, client order",
     0xc,
     {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
      "ECDHE-ECDSA-CHACHA20-POLY1305"},
     {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"},
     {"X25519", "P-256", "P-384"},
     {"h2", "http/1.1"},
     false,
     false,
     /* client order = OpenSSL's ALL order */
     "ECDHE-ECDSA-AES256-GCM-SHA384;ECDHE-ECDSA-CHACHA20-POLY1305;ECDHE-ECDSA-AES128-GCM-SHA256",
     "no",
     18,
     NULL},
    {"TLS 1.2 only, RSA, two uncommon groups, strict ALPN",
     0x4,
     {"AES128-SHA", "ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"},
     {NULL},
     {"P-521", "P-384"},
     {"http/1.1"},
     true,
     true,
     "AES128-SHA;ECDHE-RSA-AES128-GCM-SHA256;DHE-RSA-AES256-GCM-SHA384",
     "yes",
     12,
     NULL},
    {"TLS 1.3 only, finite-field group only (HelloRetryRequest), ALPN ignored",
     0x8,
     {NULL},
     {"TLS_AES_256_GCM_SHA384"},
     {"ffdhe2048"},
     {NULL},
     false,
     false,
     "",
     "",
     8,
     NULL},
    {"TLS 1.0 and 1.2, not 1.1 (non-contiguous)",
     0x5,
     {"AES128-SHA"},
     {NULL},
     {"X25519"},
     {"http/1.1"},
     false,
     false,
     "AES128-SHA",
     "",
     8,
     NULL},
    {"TLS 1.3 with more groups than suites (groups outlast suites)",
     0xc,
     {"ECDHE-RSA-AES256-GCM-SHA384"},
     {"TLS_AES_256_GCM_SHA384"},
     {"P-256", "P-384", "P-521", "X448", "ffdhe2048", "ffdhe4096"},
     {"h2"},
     true,
     false,
     "ECDHE-RSA-AES256-GCM-SHA384",
     "",
     20,
     NULL},
    {"TLS 1.2 only, ECDSA certificate on P-256, groups P-256 and P-521 (the carrier group)",
     0x4,
     {"ECDHE-ECDSA-AES128-GCM-SHA256"},
     {NULL},
     {"P-256", "P-521"},
     {"h2"},
     false,
     false,
     "ECDHE-ECDSA-AES128-GCM-SHA256",
     "",
     9,
     "P-256"},
    {"TLS 1.2 only, ECDSA certificate on P-256, X25519 found first (the curve is a later carrier)",
     0x4,
     {"ECDHE-ECDSA-AES128-GCM-SHA256"},
     {NULL},
     {"X25519", "P-256", "P-521", "P-384"},
     {"h2"},
     false,
     false,
     "ECDHE-ECDSA-AES128-GCM-SHA256",
     "",
     11,
     "P-256"},
};

static unsigned run_model(const struct model *m, struct es_enum_state *st)
{
    es_enum_init(st, true);
    unsigned rounds = 0;
    struct es_enum_hello h[ES_ENUM_NTRACKS];
    unsigned t[ES_ENUM_NTRACKS];
    for (;;) {
        size_t n = es_enum_next(st, h, t);
        if (!n) {
            ck_assert(es_enum_finished(st));
            break;
        }
        ck_assert_uint_lt(++rounds, 100);
        for (size_t i = 0; i < n; i++) {
            struct es_enum_answer a;
            model_answer(m, &h[i], &a);
            es_enum_feed(st, t[i], &a);
        }
    }
    return rounds;
}

START_TEST(test_machine_models)
{
    const struct model *m = &models[_i];
    const struct es_enum_catalog *cat = es_enum_catalog();
    struct es_enum_state st;
    unsigned rounds = run_model(m, &st);
    char v[ES_ENUM_LIST_MAX], c12[ES_ENUM_LIST_MAX], s13[ES_ENUM_LIST_MAX], g[ES_ENUM_LIST_MAX],
        alpn[ES_ENUM_LIST_MAX], want[ES_ENUM_LIST_MAX], a[ES_ENUM_LIST_MAX], b[ES_ENUM_LIST_MAX];
    es_enum_lists(&st, v, c12, s13, g, alpn);
    ck_assert_msg(!st.failed && !st.partial, "%s: failed or partial", m->name);
    size_t o = 0;
    want[0] = '\0';
    for (int i = 0; i < ES_ENUM_NVERSIONS; i++)
        if (m->versions & (1u << i))
            o += (size_t)snprintf(want + o, sizeof want - o, "%s%s", o ? ";" : "",
                                  es_enum_version_text(i));
    ck_assert_str_eq(v, want);
    ck_assert_msg(!strcmp(c12, m->want_ciphers12), "%s: ciphers12 %s, want %s", m->name, c12,
                  m->want_ciphers12);
    bool tls13 = m->versions & 8;
    join(tls13 ? m->suites : (const char *const[]){NULL}, 6, want, sizeof want);
    sorted(s13, a, sizeof a);
    sorted(want, b, sizeof b);
    ck_assert_msg(!strcmp(a, b), "%s: suites %s, want %s", m->name, s13, want);
    /* Groups: all of them over TLS 1.3; over TLS 1.2 only with an ECDHE suite. */
    bool ecdhe = false;
    for (size_t i = 0; i < 12 && m->ciphers[i]; i++)
        ecdhe |= cat->ecdhe[es_enum_cipher_index(m->ciphers[i])];
    join(tls13 || ecdhe ? m->groups : (const char *const[]){NULL}, 11, want, sizeof want);
    sorted(g, a, sizeof a);
    sorted(want, b, sizeof b);
    ck_assert_msg(!strcmp(a, b), "%s: groups %s, want %s", m->name, g, want);
    join(m->alpn, 7, want, sizeof want);
    ck_assert_msg(!strcmp(alpn, want), "%s: alpn %s, want %s (server order)", m->name, alpn, want);
    const char *prefers = st.pref < 0 || st.tr[ES_ENUM_TRACK_TLS12].main.nfound < 2 ? ""
                          : st.pref                                                 ? "yes"
                                                                                    : "no";
    ck_assert_str_eq(prefers, m->want_prefers);
    ck_assert_str_eq(st.cert, "sni-cert");
    ck_assert_str_eq(st.cert_nosni, "nosni-cert");
    ck_assert_msg(st.handshakes <= m->max_handshakes, "%s: %u handshakes, want <= %u", m->name,
                  st.handshakes, m->max_handshakes);
    ck_assert_uint_le(rounds, st.handshakes);
}
END_TEST

/* enum --groups: only the candidates are ever offered, so only they are
 * found (the model accepts six groups; three candidates, two of them
 * accepted). */
START_TEST(test_machine_group_candidates)
{
    const struct model *m = NULL;
    for (size_t i = 0; i < ES_ARRAY_LEN(models); i++)
        if (strstr(models[i].name, "groups outlast suites"))
            m = &models[i];
    ck_assert(m);
    uint16_t mask = 0;
    char err[256];
    ck_assert(es_enum_groups_parse("X25519:P-256,ffdhe2048", &mask, err, sizeof err));
    ck_assert_uint_eq(mask, (1u << es_enum_group_index("X25519")) |
                                (1u << es_enum_group_index("P-256")) |
                                (1u << es_enum_group_index("ffdhe2048")));
    struct es_enum_state st;
    es_enum_init(&st, true);
    es_enum_set_groups(&st, mask);
    struct es_enum_hello h[ES_ENUM_NTRACKS];
    unsigned t[ES_ENUM_NTRACKS];
    for (unsigned rounds = 0;; rounds++) {
        ck_assert_uint_lt(rounds, 100);
        size_t n = es_enum_next(&st, h, t);
        if (!n)
            break;
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(!(h[i].groups & ~mask), "offered groups 0x%x outside 0x%x", h[i].groups,
                          mask);
            struct es_enum_answer a;
            model_answer(m, &h[i], &a);
            es_enum_feed(&st, t[i], &a);
        }
    }
    ck_assert(es_enum_finished(&st) && !st.failed && !st.partial);
    char v[ES_ENUM_LIST_MAX], c12[ES_ENUM_LIST_MAX], s13[ES_ENUM_LIST_MAX], g[ES_ENUM_LIST_MAX],
        alpn[ES_ENUM_LIST_MAX], a[ES_ENUM_LIST_MAX];
    es_enum_lists(&st, v, c12, s13, g, alpn);
    sorted(g, a, sizeof a);
    ck_assert_str_eq(a, "P-256;ffdhe2048");
    ck_assert_str_eq(s13, "TLS_AES_256_GCM_SHA384");
    /* bad names: the message names the flag and the name */
    mask = 0;
    ck_assert(!es_enum_groups_parse("X25519:secp256k1", &mask, err, sizeof err));
    ck_assert_msg(strstr(err, "--groups: unknown group 'secp256k1'"), "%s", err);
    ck_assert(!es_enum_groups_parse("X25519::P-256", &mask, err, sizeof err));
    ck_assert_msg(strstr(err, "--groups: empty"), "%s", err);
}
END_TEST

/* An edge that rejects everything: one handshake (plus the no-SNI one), failed. */
START_TEST(test_machine_rejecting)
{
    struct es_enum_state st;
    es_enum_init(&st, false);
    struct es_enum_hello h[ES_ENUM_NTRACKS];
    unsigned t[ES_ENUM_NTRACKS];
    ck_assert_uint_eq(es_enum_next(&st, h, t), 1);
    struct es_enum_answer a = {.outcome = ES_ENUM_REJECTED,
                               .alert = 40,
                               .status = es_tok_alert,
                               .error = "handshake_failure"};
    es_enum_feed(&st, t[0], &a);
    ck_assert(es_enum_finished(&st));
    ck_assert(st.failed);
    ck_assert_uint_eq(st.handshakes, 1);
    ck_assert_str_eq(st.status, es_tok_alert);
}
END_TEST

/* No answer: retried ES_ENUM_RETRIES times, then the track gives up. */
START_TEST(test_machine_noanswer)
{
    struct es_enum_state st;
    es_enum_init(&st, false);
    struct es_enum_hello h[ES_ENUM_NTRACKS];
    unsigned t[ES_ENUM_NTRACKS];
    ck_assert_uint_eq(es_enum_next(&st, h, t), 1);
    struct es_enum_answer a = {.outcome = ES_ENUM_NOANSWER,
                               .alert = -1,
                               .status = es_tok_timeout,
                               .error = "handshake_timeout"};
    for (unsigned i = 0; i <= ES_ENUM_RETRIES; i++) {
        ck_assert(!es_enum_finished(&st));
        ck_assert(st.tr[ES_ENUM_TRACK_FIRST].inflight);
        /* a retry is not a new probe: es_enum_next has nothing new */
        ck_assert_uint_eq(es_enum_next(&st, h, t), 0);
        es_enum_feed(&st, ES_ENUM_TRACK_FIRST, &a);
    }
    ck_assert(es_enum_finished(&st));
    ck_assert(st.failed);
    ck_assert_str_eq(st.status, es_tok_timeout);
    ck_assert_uint_eq(st.handshakes, ES_ENUM_RETRIES + 1);
}
END_TEST

/* A ClientHello's variant says what it offers. */
START_TEST(test_variant_make)
{
    struct es_enum_hello h;
    memset(&h, 0, sizeof h);
    h.vmin = 2;
    h.vmax = 3;
    h.pref[0] = (int16_t)es_enum_cipher_index("AES128-SHA");
    h.pref[1] = (int16_t)es_enum_cipher_index("ECDHE-RSA-AES128-GCM-SHA256");
    h.suites = 1u << es_enum_suite_index("TLS_AES_256_GCM_SHA384");
    h.groups = (1u << es_enum_group_index("P-384")) | (1u << es_enum_group_index("ffdhe2048"));
    h.alpn = (1u << es_enum_alpn_index("h2")) | (1u << es_enum_alpn_index("acme-tls/1"));
    struct es_variant v;
    es_enum_variant_make(&v, &h, "e7");
    ck_assert_str_eq(v.name, "e7");
    ck_assert_str_eq(v.tls_offered, "1.2-1.3");
    ck_assert_str_eq(v.ciphers, "AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0");
    ck_assert_str_eq(v.ciphersuites, "TLS_AES_256_GCM_SHA384");
    ck_assert_str_eq(v.groups, "P-384:ffdhe2048");
    ck_assert_str_eq(v.alpn_offered, "h2,acme-tls/1");
    ck_assert_uint_eq(v.alpn_wire_len, 3 + 11);
    ck_assert_int_eq(v.sni_mode, ES_SNI_HOST);
    es_enum_variant_free(&v);
}
END_TEST

/* ---- the engine with explicit (edge, variant) probes -------------------------------- */

#define EDGE_A "127.140.9.1"
#define EDGE_B "127.140.9.2"

struct seen {
    char variant[8][16];
    char ip[8][ES_IP_TEXT];
    char tls[8][8];
    int n;
};

static void seen_row(void *arg, unsigned worker, const struct es_row *row)
{
    (void)worker;
    struct seen *s = arg;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    int i = __atomic_fetch_add(&s->n, 1, __ATOMIC_SEQ_CST);
    if (i >= 8)
        return;
    snprintf(s->variant[i], sizeof s->variant[i], "%s", row->variant);
    snprintf(s->ip[i], sizeof s->ip[i], "%s", row->ip);
    snprintf(s->tls[i], sizeof s->tls[i], "%s", row->tls_version ? row->tls_version : "-");
}

START_TEST(test_engine_explicit)
{
    struct tl_lab lab;
    tl_lab_start(&lab, "edge " EDGE_A ":8443 tls=1.2,1.3\nedge " EDGE_B ":8443 tls=1.2\n");
    struct es_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.concurrency = 8;
    cfg.threads = 2;
    cfg.per_ip = 8;
    cfg.repeat = 1;
    cfg.timeout_ms = 5000;
    cfg.no_verify = true;
    cfg.quiet = true;
    struct es_edge edges[3];
    memset(edges, 0, sizeof edges);
    const char *ips[3] = {EDGE_A, EDGE_B, EDGE_A};
    for (int i = 0; i < 3; i++) {
        edges[i].host = "e.test";
        edges[i].port = 8443;
        ck_assert(es_ip_parse(ips[i], &edges[i].ip));
        edges[i].resolver = "-";
        edges[i].ecs = "";
        edges[i].dns_ms = -1;
    }
    struct es_enum_hello h12, h13;
    memset(&h12, 0, sizeof h12);
    h12.vmin = h12.vmax = 2;
    h12.ciphers[0] = ~0ull;
    h12.ciphers[1] = ~0ull;
    h12.pref[0] = h12.pref[1] = -1;
    h12.suites = 0x1f;
    h12.groups = 0x3ff;
    h13 = h12;
    h13.vmin = h13.vmax = 3;
    struct es_variant v[2];
    es_enum_variant_make(&v[0], &h12, "v12");
    es_enum_variant_make(&v[1], &h13, "v13");
    v[1].index = 1;
    /* A with 1.2, B with 1.3 (refused: alert 70), A again with 1.3. */
    edges[0].only_variant = 1;
    edges[1].only_variant = 2;
    edges[2].only_variant = 2;
    struct seen s;
    memset(&s, 0, sizeof s);
    struct es_engine_params p = {.cfg = &cfg,
                                 .edges = edges,
                                 .nedges = 3,
                                 .variants = v,
                                 .nvariants = 2,
                                 .on_row = seen_row,
                                 .on_row_arg = &s};
    struct es_engine_result res;
    ck_assert_int_eq(es_engine_run(&p, &res), ES_ENGINE_DONE);
    ck_assert_uint_eq(res.planned, 3);
    ck_assert_uint_eq(res.rows, 3);
    ck_assert_int_eq(s.n, 3);
    int found = 0;
    for (int i = 0; i < 3; i++) {
        const char *want = NULL;
        if (!strcmp(s.ip[i], EDGE_A) && !strcmp(s.variant[i], "v12"))
            found |= 1, want = "1.2";
        if (!strcmp(s.ip[i], EDGE_B) && !strcmp(s.variant[i], "v13"))
            found |= 2, want = "-";
        if (!strcmp(s.ip[i], EDGE_A) && !strcmp(s.variant[i], "v13"))
            found |= 4, want = "1.3";
        ck_assert_ptr_nonnull(want);
        ck_assert_str_eq(s.tls[i], want);
    }
    ck_assert_int_eq(found, 7);
    es_enum_variant_free(&v[0]);
    es_enum_variant_free(&v[1]);
    tl_lab_stop(&lab);
}
END_TEST

/* ---- the command against the lab --------------------------------------------------------- */

#define RES "127.140.53.1:5353"

static const char lab_spec[] =
    "resolver r1 " RES "\n"
    "host def.enum.test r1=127.140.1.1\n"
    "host rsa.enum.test r1=127.140.1.2\n"
    "host t13.enum.test r1=127.140.1.3\n"
    "host noalpn.enum.test r1=127.140.1.4\n"
    "host strict.enum.test r1=127.140.1.5\n"
    "host dead.enum.test r1=127.140.1.6\n"
    "host t12g.enum.test r1=127.140.1.7\n"
    "host rsadef.enum.test r1=127.140.1.8\n"
    "host t12d.enum.test r1=127.140.1.9\n"
    /* OpenSSL defaults, ECDSA: compared with a brute-force scan below */
    "edge 127.140.1.1:8443\n"
    "edge 127.140.1.2:8443 key=rsa tls=1.0,1.1,1.2 "
    "ciphers=ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA:AES128-SHA alpn=http/1.1 alpn_strict=yes\n"
    "edge 127.140.1.3:8443 tls=1.3 "
    "ciphersuites=TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256 "
    "groups=P-384:ffdhe3072:X448 alpn=h2\n"
    "edge 127.140.1.4:8443 alpn=none\n"
    "edge 127.140.1.5:8443 sni=strict\n"
    "edge 127.140.1.6:8443 fault=refuse\n"
    "edge 127.140.1.7:8443 tls=1.2 groups=P-256:P-521 ciphers=ECDHE-ECDSA-AES256-GCM-SHA384\n"
    /* OpenSSL defaults, RSA: brute force too */
    "edge 127.140.1.8:8443 key=rsa\n"
    /* TLS 1.2 only, ECDSA on P-256, default groups: X25519 is found first */
    "edge 127.140.1.9:8443 tls=1.2\n";

static const char *const default_groups =
    "X25519;P-256;X448;P-521;P-384;ffdhe2048;ffdhe3072;ffdhe4096;ffdhe6144;ffdhe8192";

static struct tl_lab lab;
static struct tl_table enum_csv;

static void lab_setup(void)
{
    tl_lab_start(&lab, lab_spec);
    const char *argv[] = {"enum",
                          "-r",
                          "r1=" RES,
                          "-p",
                          "8443",
                          "--timeout",
                          "3000",
                          "-q",
                          "def.enum.test",
                          "rsa.enum.test",
                          "t13.enum.test",
                          "noalpn.enum.test",
                          "strict.enum.test",
                          "dead.enum.test",
                          "t12g.enum.test",
                          "rsadef.enum.test",
                          "t12d.enum.test",
                          NULL};
    char *out, *err;
    int st = tl_run(argv, NULL, &out, &err, 120000);
    ck_assert_msg(st == 0, "enum exit %d: %s", st, err);
    tl_table_parse(&enum_csv, out);
    free(err);
}

static void lab_teardown(void)
{
    tl_table_free(&enum_csv);
    tl_lab_stop(&lab);
}

static size_t row_of(const char *host)
{
    for (size_t r = 0; r < enum_csv.nrows; r++)
        if (!strcmp(tl_cell(&enum_csv, r, "host"), host))
            return r;
    ck_abort_msg("no enum row for %s", host);
    return 0;
}

static void expect_set(size_t r, const char *col, const char *want)
{
    char a[ES_ENUM_LIST_MAX], b[ES_ENUM_LIST_MAX];
    sorted(tl_cell(&enum_csv, r, col), a, sizeof a);
    sorted(want, b, sizeof b);
    ck_assert_msg(!strcmp(a, b), "%s %s: %s, want %s", tl_cell(&enum_csv, r, "host"), col,
                  tl_cell(&enum_csv, r, col), want);
}

START_TEST(test_lab_header)
{
    for (size_t i = 0; i < ES_ENUM_NCOLUMNS; i++)
        ck_assert_str_eq(enum_csv.header[i], es_enum_columns[i]);
    ck_assert_uint_eq(enum_csv.ncols, ES_ENUM_NCOLUMNS);
    ck_assert_uint_eq(enum_csv.nrows, 9);
}
END_TEST

/* Edges with explicit options: exactly what the spec line says. */
START_TEST(test_lab_spec_sets)
{
    size_t r = row_of("rsa.enum.test");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "status"), "ok");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "versions"), "1.0;1.1;1.2");
    expect_set(r, "ciphers12", "ECDHE-RSA-AES128-GCM-SHA256;AES256-SHA;AES128-SHA");
    expect_set(r, "suites13", "");
    expect_set(r, "groups", "X25519;P-256;X448;P-521;P-384"); /* ECDHE over TLS 1.2 */
    expect_set(r, "alpn", "http/1.1");

    r = row_of("t13.enum.test");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "versions"), "1.3");
    expect_set(r, "ciphers12", "");
    expect_set(r, "suites13", "TLS_AES_128_GCM_SHA256;TLS_CHACHA20_POLY1305_SHA256");
    expect_set(r, "groups", "P-384;ffdhe3072;X448");
    expect_set(r, "alpn", "h2");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "server_prefers"), "");

    r = row_of("noalpn.enum.test");
    expect_set(r, "alpn", "");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "versions"), "1.2;1.3");

    r = row_of("t12g.enum.test");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "versions"), "1.2");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "ciphers12"), "ECDHE-ECDSA-AES256-GCM-SHA384");
    expect_set(r, "groups", "P-256;P-521");
    expect_set(r, "alpn", "h2;http/1.1");

    r = row_of("t12d.enum.test");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "versions"), "1.2");
    expect_set(r, "groups", "X25519;P-256;X448;P-521;P-384");

    /* strict SNI: everything works with SNI; without it, alert 112 */
    r = row_of("strict.enum.test");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "status"), "ok");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "cert_sha256_nosni"), "");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "nosni_error"), "alert 112 unrecognized_name");
    ck_assert_uint_eq(strlen(tl_cell(&enum_csv, r, "cert_sha256")), 64);

    r = row_of("dead.enum.test");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "status"), "connect_error");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "error"), "connection_refused");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "versions"), "");
}
END_TEST

/* The handshake budget of DESIGN §4 on every lab edge that answers. */
START_TEST(test_lab_budget)
{
    for (size_t r = 0; r < enum_csv.nrows; r++) {
        long n = strtol(tl_cell(&enum_csv, r, "handshakes"), NULL, 10);
        ck_assert_msg(n >= 1 && n <= 40, "%s: %ld handshakes", tl_cell(&enum_csv, r, "host"), n);
    }
}
END_TEST

/* Runs `scan` with one variant per value of one dimension (the flag given
 * once per value) against host, and returns the ';'-joined values whose
 * probe succeeded: what the server accepts, one handshake each. */
static void brute(const char *host, const char *tls, const char *flag, const char *const *values,
                  size_t n, char *out, size_t len)
{
    const char *argv[512];
    size_t a = 0;
    const char *fixed[] = {"scan", "-r",    "r1=" RES, "-p",     "8443", "--no-verify",
                           "-q",   "--tls", tls,       "--alpn", "none", host};
    for (size_t i = 0; i < ES_ARRAY_LEN(fixed); i++)
        argv[a++] = fixed[i];
    char cval[ES_ENUM_MAX_CIPHERS][96];
    for (size_t i = 0; i < n; i++) {
        argv[a++] = flag;
        /* TLS <= 1.2 ciphers at level 0, as enum offers them */
        snprintf(cval[i], sizeof cval[i], "%s%s", values[i],
                 !strcmp(flag, "--ciphers") ? ":@SECLEVEL=0" : "");
        argv[a++] = cval[i];
    }
    argv[a] = NULL;
    char *csv, *err;
    int st = tl_run(argv, NULL, &csv, &err, 120000);
    ck_assert_msg(st == 0, "brute scan exit %d: %s", st, err);
    struct tl_table t;
    tl_table_parse(&t, csv);
    size_t o = 0;
    out[0] = '\0';
    for (size_t r = 0; r < t.nrows; r++) {
        if (strcmp(tl_cell(&t, r, "status"), "ok"))
            continue;
        const char *v =
            !strcmp(flag, "--groups") ? tl_cell(&t, r, "kx_group") : tl_cell(&t, r, "cipher");
        o += (size_t)snprintf(out + o, len - o, "%s%s", o ? ";" : "", v);
    }
    tl_table_free(&t);
    free(err);
}

/* Edges on OpenSSL's defaults: enum's sets equal a brute-force scan's. */
START_TEST(test_lab_bruteforce)
{
    const char *host = _i ? "rsadef.enum.test" : "def.enum.test";
    const struct es_enum_catalog *cat = es_enum_catalog();
    size_t r = row_of(host);
    char got[ES_ENUM_LIST_MAX * 2];
    brute(host, "1.2", "--ciphers", cat->ciphers, cat->nciphers, got, sizeof got);
    expect_set(r, "ciphers12", got);
    brute(host, "1.3", "--ciphersuites", cat->suites, ES_ENUM_NSUITES, got, sizeof got);
    expect_set(r, "suites13", got);
    brute(host, "1.3", "--groups", cat->groups, ES_ENUM_NGROUPS, got, sizeof got);
    expect_set(r, "groups", got);
    expect_set(r, "groups", default_groups);
    ck_assert_str_eq(tl_cell(&enum_csv, r, "versions"), "1.2;1.3");
    expect_set(r, "alpn", "h2;http/1.1");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "server_prefers"), "no");
    ck_assert_str_eq(tl_cell(&enum_csv, r, "cert_sha256"),
                     tl_cell(&enum_csv, r, "cert_sha256_nosni"));
}
END_TEST

/* Several names on one edge share one enumeration; --per-host does each. */
START_TEST(test_sharing)
{
    struct tl_lab l;
    tl_lab_start(&l, "resolver r1 127.140.54.1:5353\n"
                     "host a.share.test r1=127.140.2.1\n"
                     "host b.share.test r1=127.140.2.1\n"
                     "host c.share.test r1=127.140.2.1\n"
                     "edge 127.140.2.1:8443 cert=*.share.test\n");
    for (int per_host = 0; per_host < 2; per_host++) {
        const char *argv[] = {"enum",
                              "-r",
                              "r1=127.140.54.1:5353",
                              "-p",
                              "8443",
                              "-q",
                              "--format",
                              "jsonl",
                              "a.share.test",
                              "b.share.test",
                              "c.share.test",
                              per_host ? "--per-host" : NULL,
                              NULL};
        char *out, *err;
        ck_assert_int_eq(tl_run(argv, NULL, &out, &err, 60000), 0);
        /* three JSON objects; the first (by host) is enumerated */
        int lines = 0, shared = 0;
        for (char *l = out, *nl; *l; l = nl + 1) {
            nl = strchr(l, '\n');
            ck_assert_ptr_nonnull(nl);
            *nl = '\0';
            ck_assert_msg(l[0] == '{', "not JSONL: %s", out);
            lines++;
            if (strstr(l, "\"same_as\":\"a.share.test\"")) {
                shared++;
                ck_assert_ptr_nonnull(strstr(l, "\"handshakes\":1,"));
            }
            ck_assert_ptr_nonnull(strstr(l, "\"versions\":\"1.2;1.3\""));
            ck_assert_ptr_nonnull(strstr(l, "\"alpn\":\"h2;http/1.1\""));
        }
        ck_assert_int_eq(lines, 3);
        ck_assert_int_eq(shared, (per_host ? 0 : 2));
        free(out);
        free(err);
    }
    tl_lab_stop(&l);
}
END_TEST

/* --dry-run: one planned row per edge, nothing sent. */
START_TEST(test_dry_run)
{
    const char *argv[] = {"enum", "--dry-run", "-q", "x.test@127.140.3.1", "127.140.3.2:444", NULL};
    char *out, *err;
    ck_assert_int_eq(tl_run(argv, NULL, &out, &err, 20000), 0);
    struct tl_table t;
    tl_table_parse(&t, out);
    ck_assert_uint_eq(t.nrows, 2);
    for (size_t r = 0; r < 2; r++) {
        ck_assert_str_eq(tl_cell(&t, r, "status"), "planned");
        ck_assert_str_eq(tl_cell(&t, r, "handshakes"), "");
    }
    /* rows in (host, port, ip) order: the IP target first; it sends no SNI */
    ck_assert_str_eq(tl_cell(&t, 0, "host"), "127.140.3.2");
    ck_assert_str_eq(tl_cell(&t, 0, "sni"), "none");
    ck_assert_str_eq(tl_cell(&t, 1, "sni"), "x.test");
    tl_table_free(&t);
    free(err);
}
END_TEST

/* ---- drift findings end to end --------------------------------------------------------- */

/* Findings of `report` over files: "kind|host|failure|failing_ips|explain" lines of
 * kind drift. */
static char *drift_lines(const char *const *files, size_t n)
{
    const char *argv[8] = {"report", "--format", "csv"};
    size_t a = 3;
    for (size_t i = 0; i < n; i++)
        argv[a++] = files[i];
    argv[a] = NULL;
    char *out, *err;
    int st = tl_run(argv, NULL, &out, &err, 30000);
    ck_assert_msg(st == 0, "report exit %d: %s", st, err);
    struct tl_table t;
    tl_table_parse(&t, out);
    struct es_sb b = {0};
    for (size_t r = 0; r < t.nrows; r++)
        if (!strcmp(tl_cell(&t, r, "kind"), "drift"))
            es_sb_printf(&b, "%s|%s|%s|%s\n", tl_cell(&t, r, "host"), tl_cell(&t, r, "failure"),
                         tl_cell(&t, r, "failing_ips"), tl_cell(&t, r, "explain"));
    tl_table_free(&t);
    free(err);
    return es_sb_take(&b);
}

static char *run_to_file(const char *dir, const char *name, const char *const *argv)
{
    char *out, *err;
    int st = tl_run(argv, NULL, &out, &err, 120000);
    ck_assert_msg(st == 0, "%s exit %d: %s", argv[0], st, err);
    char *p = tl_write_file(dir, name, out);
    free(out);
    free(err);
    return p;
}

START_TEST(test_drift_lab)
{
    struct tl_lab l;
    tl_lab_start(&l, "resolver r1 127.140.55.1:5353\n"
                     /* host level: one of four edges left out of TLS 1.3 */
                     "host pay.drift.test r1=127.140.5.1,127.140.5.2,127.140.5.3,127.140.5.4\n"
                     "edge 127.140.5.1:8443 groups=X25519:P-256\n"
                     "edge 127.140.5.2:8443 groups=X25519:P-256\n"
                     "edge 127.140.5.3:8443 tls=1.2 groups=X25519:P-256\n"
                     "edge 127.140.5.4:8443 groups=X25519:P-256\n"
                     /* fleet level: three hosts on the same three edges, one without h2 */
                     "host a.fleet.test r1=127.140.6.1,127.140.6.2,127.140.6.3\n"
                     "host b.fleet.test r1=127.140.6.1,127.140.6.2,127.140.6.3\n"
                     "host c.fleet.test r1=127.140.6.1,127.140.6.2,127.140.6.3\n"
                     "edge 127.140.6.1:8443 cert=*.fleet.test groups=X25519\n"
                     "edge 127.140.6.2:8443 cert=*.fleet.test groups=X25519 alpn=http/1.1\n"
                     "edge 127.140.6.3:8443 cert=*.fleet.test groups=X25519\n");
    char *dir = tl_tmpdir();
    const char *en[] = {
        "enum",           "-q",           "-r",           "r1=127.140.55.1:5353", "-p", "8443",
        "pay.drift.test", "a.fleet.test", "b.fleet.test", "c.fleet.test",         NULL};
    char *ef = run_to_file(dir, "enum.csv", en);
    /* a scan that offers only TLS 1.2 and ALPN http/1.1: nothing fails yet */
    const char *sc1[] = {
        "scan",  "-q",  "--no-verify", "-r",       "r1=127.140.55.1:5353", "-p",           "8443",
        "--tls", "1.2", "--alpn",      "http/1.1", "pay.drift.test",       "a.fleet.test", NULL};
    char *latent = run_to_file(dir, "latent.csv", sc1);
    /* a scan that offers TLS 1.3: the node finding the drift explains */
    const char *sc2[] = {"scan",  "-q",  "--no-verify", "-r", "r1=127.140.55.1:5353", "-p", "8443",
                         "--tls", "1.3", "--alpn",      "h2", "pay.drift.test",       NULL};
    char *fails = run_to_file(dir, "fails.csv", sc2);
    tl_lab_stop(&l);

    const char *only[] = {ef};
    char *got = drift_lines(only, 1);
    ck_assert_str_eq(
        got, "*|lacks ALPN h2|127.140.6.2|127.140.6.2 lacks ALPN h2 that the other edges "
             "of the 3 hosts it serves accept. No scan file was given: scan with matching "
             "variants to see what it breaks\n"
             "pay.drift.test|lacks TLS 1.3, TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, "
             "TLS_CHACHA20_POLY1305_SHA256|127.140.5.3|127.140.5.3 lacks TLS 1.3, "
             "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256 "
             "that the 3 other edges of pay.drift.test accept. No scan file was given: "
             "scan with matching variants to see what it breaks\n");
    free(got);
    const char *with_latent[] = {latent, ef};
    got = drift_lines(with_latent, 2);
    ck_assert_msg(strstr(got, "127.140.5.3 lacks TLS 1.3, TLS_AES_128_GCM_SHA256, "
                              "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256 that the 3 "
                              "other edges of pay.drift.test accept. Latent: no scan variant has "
                              "failed on this edge because of it yet\n"),
                  "%s", got);
    free(got);
    const char *with_fails[] = {fails, ef};
    got = drift_lines(with_fails, 2);
    ck_assert_msg(strstr(got, "that the 3 other edges of pay.drift.test accept. Explains the "
                              "scan's node finding on pay.drift.test for variant tls1.3/h2/sni "
                              "(alert 70 protocol_version)\n"),
                  "%s", got);
    free(got);
    free(ef);
    free(latent);
    free(fails);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* SIGINT while the only resolver stays silent, before any edge: exit 130,
 * the header alone, and the summary says so. (enum sorted its edges with
 * qsort(NULL, 0, ...) then: undefined behaviour, exit 1 under UBSan.) The
 * resolver is a socket of this test that never answers; the signal goes
 * once the query has reached it, so the command is in its DNS loop. */
START_TEST(test_interrupted_before_edges)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5353)};
    inet_pton(AF_INET, "127.140.57.1", &sa.sin_addr);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind 127.140.57.1:5353");
    char *dir = tl_tmpdir(), *out, *errpath;
    ck_assert(asprintf(&out, "%s/out.csv", dir) > 0);
    ck_assert(asprintf(&errpath, "%s/stderr", dir) > 0);
    const char *argv[] = {tl_bin(),
                          "enum",
                          "-r",
                          "silent=127.140.57.1:5353",
                          "--dns-timeout",
                          "30000",
                          "-p",
                          "8443",
                          "-o",
                          out,
                          "a.enum.test",
                          NULL};
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(null, 0);
        dup2(null, 1);
        dup2(e, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    int ready = poll(&pfd, 1, 30000);
    kill(pid, ready > 0 ? SIGINT : SIGKILL);
    int status = 0, waited = 0;
    for (int i = 0; i < 3000 && !waited; i++)
        if (waitpid(pid, &status, WNOHANG) == pid)
            waited = 1;
        else
            usleep(10000);
    if (!waited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    char *err = tl_read_file(errpath, NULL);
    ck_assert_msg(ready > 0, "no DNS query within 30 s: %s", err);
    ck_assert_msg(waited, "enum did not stop within 30 s of SIGINT: %s", err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130, "enum: status 0x%x: %s",
                  (unsigned)status, err);
    ck_assert_msg(strstr(err, ": 0 edges, 0 handshakes in 0 rounds") &&
                      strstr(err, "; interrupted\n"),
                  "%s", err);
    char *csv = tl_read_file(out, NULL);
    ck_assert_ptr_nonnull(csv);
    struct tl_table t;
    tl_table_parse(&t, csv);
    ck_assert_uint_eq(t.nrows, 0);
    ck_assert_uint_eq(t.ncols, ES_ENUM_NCOLUMNS);
    tl_table_free(&t);
    free(err);
    free(out);
    free(errpath);
    tl_rmtree(dir);
    free(dir);
    close(fd);
}
END_TEST

static Suite *enum_suite(void)
{
    Suite *s = suite_create("enum");
    TCase *m = tcase_create("machine");
    tcase_add_loop_test(m, test_machine_models, 0, (int)ES_ARRAY_LEN(models));
    tcase_add_test(m, test_machine_group_candidates);
    tcase_add_test(m, test_machine_rejecting);
    tcase_add_test(m, test_machine_noanswer);
    tcase_add_test(m, test_variant_make);
    suite_add_tcase(s, m);
    TCase *e = tcase_create("engine");
    tcase_add_test(e, test_engine_explicit);
    tcase_add_test(e, test_sharing);
    tcase_add_test(e, test_dry_run);
    tcase_add_test(e, test_drift_lab);
    tcase_add_test(e, test_interrupted_before_edges);
    tcase_set_timeout(e, 120);
    suite_add_tcase(s, e);
    TCase *l = tcase_create("lab");
    tcase_add_unchecked_fixture(l, lab_setup, lab_teardown);
    tcase_add_test(l, test_lab_header);
    tcase_add_test(l, test_lab_spec_sets);
    tcase_add_test(l, test_lab_budget);
    tcase_add_loop_test(l, test_lab_bruteforce, 0, 2);
    tcase_set_timeout(l, 240);
    suite_add_tcase(s, l);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(enum_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
