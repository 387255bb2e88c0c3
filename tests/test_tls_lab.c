/* test_tls_lab.c - the TLS outcomes of issue #12 item 5 and the columns of
 * #16 item 4, end to end: `edgeshake scan` against `edgeshake lab` on
 * 127.62.0.0/16, exact rows for an edge that requires a client certificate
 * (TLS 1.3: alert 116 at stage post_handshake, also with --h2-check; TLS
 * 1.2: alert 40 at stage certificate), one that asks for one and takes none
 * (the grace ends the wait, not the deadline), DHE edges (kx_group, kx_bits,
 * dh_key_too_small), and the certificate inventory columns. Then the fast
 * key decoding (#12 item 6): the same rows with and without it, its state in
 * --version, and engine runs in parallel threads of one process after it was
 * set up once. */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "edgeshake/config-t.h"
#include "edgeshake/engine.h"
#include "edgeshake/net.h"
#include "edgeshake/tlsprobe.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"
#include "edgeshake/variant.h"
#include "testlib.h"

#define HOST "shop.test"

static const char spec[] = "# test_tls_lab: 127.62.0.0/16\n"
                           "resolver r 127.62.53.1:5353\n"
                           "host shop.test r=127.62.1.1,127.62.1.2,127.62.1.3,127.62.1.4,"
                           "127.62.1.5,127.62.1.6\n"
                           "edge 127.62.1.1:8443 cert=shop.test\n"
                           "edge 127.62.1.2:8443 cert=shop.test client_cert=required\n"
                           "edge 127.62.1.3:8443 cert=shop.test client_cert=optional\n"
                           "edge 127.62.1.4:8443 cert=shop.test dh=1024\n"
                           "edge 127.62.1.5:8443 cert=shop.test dh=2048 tls=1.2\n"
                           "edge 127.62.1.6:8443 cert=shop.test:expired key=rsa\n";

/* Long enough that a probe ended by it is obvious (see the optional edge). */
#define TIMEOUT_MS "20000"

static struct tl_lab lab;
static char ca_path[600];

static void lab_up(void)
{
    tl_lab_start(&lab, spec);
    snprintf(ca_path, sizeof ca_path, "%s/ca.crt", lab.dir);
}

static void lab_down(void)
{
    int st = tl_lab_stop(&lab);
    if (st != 0)
        fprintf(stderr, "lab exited with status %d\n", st);
}

/* Scans shop.test through the lab resolver; extra args (NULL-terminated). */
static void scan(struct tl_table *t, const char *const *extra)
{
    const char *argv[32] = {"scan",      "-q",       HOST ":8443", "-r",       "r=127.62.53.1:5353",
                            "--ca-file", ca_path,    "--timeout",  TIMEOUT_MS, "-t",
                            "2",         "--format", "csv"};
    size_t n = 13;
    for (; extra && *extra; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    char *out, *err;
    int st = tl_run(argv, NULL, &out, &err, 60000);
    ck_assert_msg(st == 0, "scan exit %d: %s", st, err);
    free(err);
    tl_table_parse(t, out);
    ck_assert_uint_eq(t->nrows, 12); /* 6 edges x tls1.2, tls1.3 */
}

static size_t find(const struct tl_table *t, const char *ip, const char *tls)
{
    size_t hit = SIZE_MAX;
    for (size_t r = 0; r < t->nrows; r++)
        if (!strcmp(tl_cell(t, r, "ip"), ip) && !strcmp(tl_cell(t, r, "tls_offered"), tls)) {
            ck_assert_msg(hit == SIZE_MAX, "two rows for %s %s", ip, tls);
            hit = r;
        }
    ck_assert_msg(hit != SIZE_MAX, "no row for %s %s", ip, tls);
    return hit;
}

/* The expected row: NULL = not checked; "" = empty. */
struct want {
    const char *ip, *tls;
    const char *status, *error, *alert, *alert_name, *alert_from, *stage;
    const char *tls_version, *cipher, *kx_group, *kx_bits;
    const char *cert_key, *cert_sig, *chain_len, *verify, *problem;
};

static const struct want wants[] = {
    {"127.62.1.1", "1.2", "ok", "", "", "", "", "finished", "1.2", "ECDHE-ECDSA-AES256-GCM-SHA384",
     "X25519", "253", "ec256", "ecdsa-with-SHA256", "2", "ok", ""},
    {"127.62.1.1", "1.3", "ok", "", "", "", "", "finished", "1.3", "TLS_AES_256_GCM_SHA384",
     "X25519", "253", "ec256", "ecdsa-with-SHA256", "2", "ok", ""},
    /* client_cert=required */
    {"127.62.1.2", "1.2", "alert", "handshake_failure", "40", "handshake_failure", "peer",
     "certificate", "1.2", "ECDHE-ECDSA-AES256-GCM-SHA384", "X25519", "253", "ec256",
     "ecdsa-with-SHA256", "2", "ok", "tls"},
    {"127.62.1.2", "1.3", "alert", "certificate_required", "116", "certificate_required", "peer",
     "post_handshake", "1.3", "TLS_AES_256_GCM_SHA384", "X25519", "253", "ec256",
     "ecdsa-with-SHA256", "2", "ok", "tls"},
    /* client_cert=optional: asks, takes none, no tickets: ok after the grace */
    {"127.62.1.3", "1.2", "ok", "", "", "", "", "finished", "1.2", "ECDHE-ECDSA-AES256-GCM-SHA384",
     "X25519", "253", "ec256", "ecdsa-with-SHA256", "2", "ok", ""},
    {"127.62.1.3", "1.3", "ok", "", "", "", "", "finished", "1.3", "TLS_AES_256_GCM_SHA384",
     "X25519", "253", "ec256", "ecdsa-with-SHA256", "2", "ok", ""},
    /* dh=1024: refused at security level 2 (checked below), named anyway */
    {"127.62.1.4", "1.2", NULL, NULL, NULL, NULL, NULL, NULL, "1.2", "DHE-RSA-AES256-GCM-SHA384",
     "dh1024", "1024", "rsa2048", "ecdsa-with-SHA256", "2", "ok", NULL},
    {"127.62.1.4", "1.3", "ok", "", "", "", "", "finished", "1.3", "TLS_AES_256_GCM_SHA384",
     "X25519", "253", "rsa2048", "ecdsa-with-SHA256", "2", "ok", ""},
    {"127.62.1.5", "1.2", "ok", "", "", "", "", "finished", "1.2", "DHE-RSA-AES256-GCM-SHA384",
     "ffdhe2048", "2048", "rsa2048", "ecdsa-with-SHA256", "2", "ok", ""},
    {"127.62.1.5", "1.3", "alert", "protocol_version", "70", "protocol_version", "peer",
     "client_hello", "", "", "", "", "", "", "", "", "tls"},
    {"127.62.1.6", "1.2", "ok", "", "", "", "", "finished", "1.2", "ECDHE-RSA-AES256-GCM-SHA384",
     "X25519", "253", "rsa2048", "ecdsa-with-SHA256", "2", "expired", "verify"},
    {"127.62.1.6", "1.3", "ok", "", "", "", "", "finished", "1.3", "TLS_AES_256_GCM_SHA384",
     "X25519", "253", "rsa2048", "ecdsa-with-SHA256", "2", "expired", "verify"},
};

static int security_level(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int l = SSL_CTX_get_security_level(ctx);
    SSL_CTX_free(ctx);
    return l;
}

static void check_row(const struct tl_table *t, const struct want *w, bool h2)
{
    size_t r = find(t, w->ip, w->tls);
    static const char *const cols[] = {"status",     "error",   "alert",       "alert_name",
                                       "alert_from", "stage",   "tls_version", "cipher",
                                       "kx_group",   "kx_bits", "cert_key",    "cert_sig",
                                       "chain_len",  "verify",  "problem"};
    const char *vals[] = {w->status,   w->error,       w->alert,     w->alert_name, w->alert_from,
                          w->stage,    w->tls_version, w->cipher,    w->kx_group,   w->kx_bits,
                          w->cert_key, w->cert_sig,    w->chain_len, w->verify,     w->problem};
    for (size_t c = 0; c < ES_ARRAY_LEN(cols); c++) {
        const char *want = vals[c];
        if (!want)
            continue;
        /* with --h2-check, ok rows over h2 end at stage h2 */
        if (h2 && !strcmp(cols[c], "stage") && !strcmp(want, "finished"))
            want = "h2";
        ck_assert_msg(!strcmp(tl_cell(t, r, cols[c]), want), "%s tls%s h2=%d: %s = '%s', want '%s'",
                      w->ip, w->tls, h2, cols[c], tl_cell(t, r, cols[c]), want);
    }
    if (h2) {
        bool ok = !strcmp(tl_cell(t, r, "status"), "ok");
        ck_assert_str_eq(tl_cell(t, r, "h2"), ok ? "ok" : "");
    }
    /* status ok never stands beside a fatal alert */
    if (!strcmp(tl_cell(t, r, "status"), "ok"))
        ck_assert_str_eq(tl_cell(t, r, "alert"), "");
    /* one clock: the parts fit in the whole */
    double connect = atof(tl_cell(t, r, "connect_ms")), hs = atof(tl_cell(t, r, "handshake_ms")),
           total = atof(tl_cell(t, r, "total_ms"));
    ck_assert_msg(connect + hs <= total + 0.002, "%s: %f + %f > %f", w->ip, connect, hs, total);
    /* every row that got a certificate has the inventory */
    if (w->cert_key && *w->cert_key) {
        long days = atol(tl_cell(t, r, "cert_days_left"));
        bool expired = !strcmp(w->ip, "127.62.1.6");
        /* the lab: 365 days from its start, or expired a day ago */
        ck_assert_msg(expired ? days == -1 || days == -2 : days == 365 || days == 364,
                      "%s: cert_days_left %ld", w->ip, days);
    } else {
        ck_assert_str_eq(tl_cell(t, r, "cert_days_left"), "");
    }
}

START_TEST(test_rows)
{
    bool h2 = _i == 1;
    struct tl_table t;
    const char *const extra[] = {"--h2-check", NULL};
    scan(&t, h2 ? extra : NULL);
    for (size_t i = 0; i < ES_ARRAY_LEN(wants); i++)
        check_row(&t, &wants[i], h2);

    /* dh=1024 over TLS 1.2: what this machine's OpenSSL (and s_client) do */
    size_t r = find(&t, "127.62.1.4", "1.2");
    if (security_level() >= 2) {
        ck_assert_str_eq(tl_cell(&t, r, "status"), "tls_error");
        ck_assert_str_eq(tl_cell(&t, r, "error"), "dh_key_too_small");
        ck_assert_str_eq(tl_cell(&t, r, "alert"), "40");
        ck_assert_str_eq(tl_cell(&t, r, "alert_from"), "local");
        ck_assert_str_eq(tl_cell(&t, r, "stage"), "certificate");
    } else {
        ck_assert_str_eq(tl_cell(&t, r, "status"), "ok");
    }

    /* the optional edge over TLS 1.3: the grace (not the 20 s deadline) ended
     * the wait for a verdict that never came */
    r = find(&t, "127.62.1.3", "1.3");
    double total = atof(tl_cell(&t, r, "total_ms"));
    ck_assert_msg(total < 10000, "total_ms %f: the probe waited for its deadline", total);
    tl_table_free(&t);
}
END_TEST

/* Every column but the times, the same with the fast key decoding and with
 * the provider decoder (ES_TEST_TLS=provider_decode). */
static char *row_key(const struct tl_table *t, size_t r)
{
    static const char *const skip[] = {"time",         "dns_ms",   "connect_ms",
                                       "handshake_ms", "total_ms", "cert_days_left"};
    size_t cap = 4096, len = 0;
    char *k = malloc(cap);
    k[0] = '\0';
    for (size_t c = 0; c < t->ncols; c++) {
        bool skipped = false;
        for (size_t i = 0; i < ES_ARRAY_LEN(skip); i++)
            skipped |= !strcmp(t->header[c], skip[i]);
        if (skipped)
            continue;
        len += (size_t)snprintf(k + len, cap - len, "%s=%s|", t->header[c],
                                t->cells[r * t->ncols + c]);
        ck_assert_uint_lt(len, cap);
    }
    return k;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_same_rows_without_fast_keys)
{
    if (!es_test_hooks()) { /* ES_TEST_TLS is a test hook (meson -Dtest_hooks=true) */
        fprintf(stderr, "note: built without test hooks: cannot turn the fast decoding off\n");
        return;
    }
    struct tl_table a, b;
    unsetenv("ES_TEST_TLS");
    scan(&a, NULL);
    setenv("ES_TEST_TLS", "provider_decode", 1);
    scan(&b, NULL);
    unsetenv("ES_TEST_TLS");
    ck_assert_uint_eq(a.nrows, b.nrows);
    char **ka = calloc(a.nrows, sizeof *ka), **kb = calloc(b.nrows, sizeof *kb);
    for (size_t r = 0; r < a.nrows; r++) {
        ka[r] = row_key(&a, r);
        kb[r] = row_key(&b, r);
    }
    qsort(ka, a.nrows, sizeof *ka, cmp_str);
    qsort(kb, b.nrows, sizeof *kb, cmp_str);
    for (size_t r = 0; r < a.nrows; r++) {
        ck_assert_str_eq(ka[r], kb[r]);
        free(ka[r]);
        free(kb[r]);
    }
    free(ka);
    free(kb);
    tl_table_free(&a);
    tl_table_free(&b);
}
END_TEST

/* --version says whether it is on, and why not. */
START_TEST(test_version)
{
    const char *argv[] = {"--version", NULL};
    bool v30 = OpenSSL_version_num() < 0x30100000L;
    char *out;
    unsetenv("ES_TEST_TLS");
    ck_assert_int_eq(tl_run(argv, NULL, &out, NULL, 10000), 0);
    ck_assert_msg(strstr(out, v30 ? "fast key decoding: on" : "fast key decoding: off: not needed"),
                  "%s", out);
    free(out);
    if (!v30)
        return;
    setenv("ES_TEST_TLS", "provider_decode", 1);
    ck_assert_int_eq(tl_run(argv, NULL, &out, NULL, 10000), 0);
    if (es_test_hooks())
        ck_assert_ptr_nonnull(strstr(out, "fast key decoding: off: disabled by ES_TEST_TLS"));
    else /* a user's build ignores the test hook */
        ck_assert_msg(strstr(out, "fast key decoding: on"), "%s", out);
    free(out);
    unsetenv("ES_TEST_TLS");

    /* a default property query that takes EC elsewhere (here: nowhere) */
    char *dir = tl_tmpdir();
    char *conf = tl_write_file(dir, "openssl.cnf",
                               "openssl_conf = init\n[init]\nalg_section = algs\n"
                               "[algs]\ndefault_properties = provider=base\n");
    setenv("OPENSSL_CONF", conf, 1);
    ck_assert_int_eq(tl_run(argv, NULL, &out, NULL, 10000), 0);
    unsetenv("OPENSSL_CONF");
    ck_assert_msg(strstr(out, "fast key decoding: off: EC comes from another provider"), "%s", out);
    free(out);
    free(conf);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* Set up once, then engine runs in parallel threads of one process (the
 * old engine switched the ENGINE on and off around each run: a run that
 * ended switched it off under another run's handshakes). Every row ok. */
struct run_arg {
    struct es_edge edges[8];
    size_t nedges;
    struct es_variant *v;
    size_t nv;
    struct es_config cfg;
    struct es_engine_result res;
    enum es_engine_status st;
    pthread_mutex_t *mu;
    unsigned ok, rows;
    int legacy_in_run; /* -1 = not looked; else whether a key parsed in a row callback was legacy */
};

/* Whether an EC certificate parsed now decodes its key through OpenSSL's
 * built-in decoder (the fast key decoding is on) rather than a provider. */
static bool parses_legacy(void)
{
    FILE *f = fopen(ca_path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    EVP_PKEY *k = X509_get0_pubkey(x);
    ck_assert_ptr_nonnull(k);
    bool legacy = EVP_PKEY_get0_provider(k) == NULL;
    X509_free(x);
    return legacy;
}

static void on_row(void *arg, unsigned worker, const struct es_row *row)
{
    (void)worker;
    struct run_arg *a = arg;
    pthread_mutex_lock(a->mu);
    a->rows++;
    if (row->status == es_tok_ok && row->verify == es_tok_ok)
        a->ok++;
    if (a->legacy_in_run < 0)
        a->legacy_in_run = parses_legacy();
    pthread_mutex_unlock(a->mu);
}

static void *engine_thread(void *arg)
{
    struct run_arg *a = arg;
    struct es_engine_params p = {.cfg = &a->cfg,
                                 .edges = a->edges,
                                 .nedges = a->nedges,
                                 .variants = a->v,
                                 .nvariants = a->nv,
                                 .on_row = on_row,
                                 .on_row_arg = a};
    a->st = es_engine_run(&p, &a->res);
    return NULL;
}

START_TEST(test_parallel_runs)
{
    (void)es_tls_fast_key_decode_setup();
    enum { RUNS = 8 };
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static struct run_arg a[RUNS];
    pthread_t th[RUNS];
    for (int i = 0; i < RUNS; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].mu = &mu;
        a[i].legacy_in_run = -1;
        struct es_config *cfg = &a[i].cfg;
        cfg->cmd = ES_CMD_SCAN;
        cfg->repeat = 10 + 10 * (unsigned)i; /* runs end at different times */
        cfg->timeout_ms = 20000;
        cfg->concurrency = 16;
        cfg->threads = 1;
        cfg->per_ip = 8;
        cfg->quiet = true;
        cfg->ca_file = ca_path;
        cfg->vantage = "t";
        char err[256];
        /* TLS 1.2 and 1.3 over P-256 with ECDSA certificates */
        static const char *tls[] = {"1.2", "1.3"};
        static const char *groups[] = {"P-256"};
        cfg->tls = (struct es_strlist){.v = tls, .n = 2};
        cfg->groups = (struct es_strlist){.v = groups, .n = 1};
        ck_assert_msg(es_variants_build(cfg, &a[i].v, &a[i].nv, err, sizeof err), "%s", err);
        struct es_edge *ed = &a[i].edges[0];
        ed->host = HOST;
        ed->port = 8443;
        ck_assert(es_ip_parse("127.62.1.1", &ed->ip));
        ed->resolver = "-";
        ed->ecs = "";
        ed->dns_ms = -1;
        a[i].nedges = 1;
    }
    /* started one after another, so that runs start and end while others
     * are in the middle of handshakes */
    for (int i = 0; i < RUNS; i++) {
        ck_assert_int_eq(pthread_create(&th[i], NULL, engine_thread, &a[i]), 0);
        struct timespec gap = {.tv_nsec = 20 * 1000000L};
        nanosleep(&gap, NULL);
    }
    for (int i = 0; i < RUNS; i++)
        pthread_join(th[i], NULL);
    /* still on after every run ended */
    ck_assert_int_eq(parses_legacy(), es_tls_fast_key_decode_state() == ES_KEYDECODE_ON);
    for (int i = 0; i < RUNS; i++) {
        ck_assert_int_eq(a[i].legacy_in_run, es_tls_fast_key_decode_state() == ES_KEYDECODE_ON);
        ck_assert_int_eq(a[i].st, ES_ENGINE_DONE);
        ck_assert_uint_eq(a[i].rows, a[i].res.planned);
        ck_assert_msg(a[i].ok == a[i].rows, "run %d: %u of %u rows ok", i, a[i].ok, a[i].rows);
        es_variants_free(a[i].v, a[i].nv);
    }
}
END_TEST

/* Without the set-up, a run never turns it on (only main() does, once). */
START_TEST(test_run_never_switches)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static struct run_arg a;
    memset(&a, 0, sizeof a);
    a.mu = &mu;
    a.legacy_in_run = -1;
    a.cfg.cmd = ES_CMD_SCAN;
    a.cfg.repeat = 2;
    a.cfg.timeout_ms = 20000;
    a.cfg.concurrency = 4;
    a.cfg.threads = 1;
    a.cfg.per_ip = 8;
    a.cfg.quiet = true;
    a.cfg.ca_file = ca_path;
    a.cfg.vantage = "t";
    char err[256];
    ck_assert_msg(es_variants_build(&a.cfg, &a.v, &a.nv, err, sizeof err), "%s", err);
    a.edges[0] =
        (struct es_edge){.host = HOST, .port = 8443, .resolver = "-", .ecs = "", .dns_ms = -1};
    ck_assert(es_ip_parse("127.62.1.1", &a.edges[0].ip));
    a.nedges = 1;
    ck_assert(!parses_legacy());
    engine_thread(&a);
    ck_assert_int_eq(a.st, ES_ENGINE_DONE);
    ck_assert_uint_eq(a.ok, 4);
    ck_assert_int_eq(a.legacy_in_run, 0);
    ck_assert(!parses_legacy());
    es_variants_free(a.v, a.nv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tls_lab");
    TCase *tc = tcase_create("lab");
    tcase_add_unchecked_fixture(tc, lab_up, lab_down);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_rows, 0, 2);
    tcase_add_test(tc, test_same_rows_without_fast_keys);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_parallel_runs);
    tcase_add_test(tc, test_run_never_switches);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
