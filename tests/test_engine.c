/* test_engine.c - the probe engine: the user_data codec, the scheduler
 * (dealing order, per-IP gate, token bucket), the io_uring failure messages,
 * and whole runs of es_engine_run against real loopback listeners started
 * here (blackhole, closed port, reset) and against `edgeshake lab` (real
 * handshakes). Addresses: 127.21.0.0/16 only. No assertion on speed; the
 * time bounds below are lower bounds that politeness (--per-ip, --rate)
 * guarantees, or generous hang detectors. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "edgeshake/engine.h"
#include "edgeshake/net.h"
#include "edgeshake/sched.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"
#include "edgeshake/variant.h"
#include "edgeshake/writer.h"
#include "testlib.h"

/* ---- the user_data codec ------------------------------------------------- */

static const struct {
    enum es_op op;
    uint32_t gen, slot;
} ud_cases[] = {
    {ES_OP_SOCKET, 0, 0},
    {ES_OP_CONNECT, 1, 1},
    {ES_OP_CTIMEOUT, 0xffffff, 0xffffffffu},
    {ES_OP_SEND, 0x123456, 42},
    {ES_OP_RECV, 0xabcdef, 0x80000000u},
    {ES_OP_CANCEL, 7, 65535},
    {ES_OP_CLOSE, 0x800000, 3},
};

START_TEST(test_ud_roundtrip)
{
    uint64_t ud = es_ud_make(ud_cases[_i].op, ud_cases[_i].gen, ud_cases[_i].slot);
    ck_assert_int_eq(es_ud_op(ud), ud_cases[_i].op);
    ck_assert_uint_eq(es_ud_gen(ud), ud_cases[_i].gen);
    ck_assert_uint_eq(es_ud_slot(ud), ud_cases[_i].slot);
    ck_assert(es_ud_current(ud, ud_cases[_i].gen));
    /* The next probe in the slot (and the one before) do not own this CQE. */
    ck_assert(!es_ud_current(ud, ud_cases[_i].gen + 1));
    ck_assert(!es_ud_current(ud, ud_cases[_i].gen - 1));
}
END_TEST

START_TEST(test_ud_layout)
{
    /* op:8 | generation:24 | slot:32, and the generation wraps at 24 bits. */
    ck_assert_uint_eq(es_ud_make(ES_OP_RECV, 0x123456, 0x9abcdef0u), 0x051234569abcdef0ull);
    uint64_t ud = es_ud_make(ES_OP_SEND, 0x1000001, 5);
    ck_assert_uint_eq(es_ud_gen(ud), 1);
    ck_assert_uint_eq(es_ud_slot(ud), 5);
    ck_assert(es_ud_current(ud, 0x1000001));
    ck_assert(es_ud_current(ud, 1));
    /* liburing's internal timeout (all ones) never decodes to one of our ops. */
    ck_assert_uint_ge(es_ud_op(UINT64_MAX), ES_OP_COUNT);
    ck_assert_int_eq(es_ud_op(0), ES_OP_NONE);
}
END_TEST

/* ---- dealing ---------------------------------------------------------------- */

static struct es_edgerec *fake_recs(size_t n)
{
    /* Records only for their addresses and counters: dealing never reads the edge. */
    struct es_edgerec *r = calloc(n, sizeof *r);
    ck_assert_ptr_nonnull(r);
    return r;
}

static void rec_init(struct es_edgerec *r, uint64_t total, uint64_t first, uint64_t stride)
{
    r->seq = first;
    r->total = total;
    r->stride = stride;
    r->left = es_share_probes(total, first, stride);
}

START_TEST(test_deal_order)
{
    /* 3 edges x 2 variants x repeat 2, queued at once: attempt outermost, then
     * edges, then variants. */
    struct es_edgerec *rec = fake_recs(3);
    struct es_edgeq q;
    es_edgeq_init(&q, 2);
    for (int i = 0; i < 3; i++) {
        rec_init(&rec[i], 4, 0, 1);
        es_edgeq_push(&q, &rec[i]);
    }
    static const uint32_t want[][3] = {
        {0, 0, 1}, {0, 1, 1}, {1, 0, 1}, {1, 1, 1}, {2, 0, 1}, {2, 1, 1},
        {0, 0, 2}, {0, 1, 2}, {1, 0, 2}, {1, 1, 2}, {2, 0, 2}, {2, 1, 2},
    };
    ck_assert_uint_eq(q.undealt, 12);
    struct es_probe_ref r;
    for (size_t i = 0; i < ES_ARRAY_LEN(want); i++) {
        ck_assert_msg(es_edgeq_next(&q, &r), "ended after %zu", i);
        long e = r.rec - rec;
        ck_assert_msg(e == want[i][0] && r.variant == want[i][1] && r.attempt == want[i][2],
                      "probe %zu: (%ld, %u, %u), want (%u, %u, %u)", i, e, r.variant, r.attempt,
                      want[i][0], want[i][1], want[i][2]);
        ck_assert_uint_eq(q.undealt, ES_ARRAY_LEN(want) - i - 1);
    }
    ck_assert(!es_edgeq_next(&q, &r));
    ck_assert_ptr_null(q.head);
    free(rec);
}
END_TEST

START_TEST(test_deal_stream)
{
    /* An edge added while others run: its attempt 2 comes only after every
     * edge queued behind it had attempt 1 (round robin by attempt). */
    struct es_edgerec *rec = fake_recs(3);
    struct es_edgeq q;
    es_edgeq_init(&q, 1);
    rec_init(&rec[0], 3, 0, 1);
    es_edgeq_push(&q, &rec[0]);
    struct es_probe_ref r;
    ck_assert(es_edgeq_next(&q, &r) && r.rec == &rec[0] && r.attempt == 1);
    rec_init(&rec[1], 3, 0, 1);
    rec_init(&rec[2], 3, 0, 1);
    es_edgeq_push(&q, &rec[1]);
    es_edgeq_push(&q, &rec[2]);
    static const uint32_t want[][2] = {{1, 1}, {2, 1}, {0, 2}, {1, 2},
                                       {2, 2}, {0, 3}, {1, 3}, {2, 3}};
    for (size_t i = 0; i < ES_ARRAY_LEN(want); i++) {
        ck_assert(es_edgeq_next(&q, &r));
        ck_assert_msg(r.rec - rec == want[i][0] && r.attempt == want[i][1],
                      "probe %zu: edge %ld attempt %u", i, (long)(r.rec - rec), r.attempt);
    }
    ck_assert(!es_edgeq_next(&q, &r));
    /* A lone edge is not held back: its attempts follow each other. */
    rec_init(&rec[0], 2, 0, 1);
    es_edgeq_push(&q, &rec[0]);
    ck_assert(es_edgeq_next(&q, &r) && r.attempt == 1);
    ck_assert(es_edgeq_next(&q, &r) && r.attempt == 2);
    ck_assert(!es_edgeq_next(&q, &r));
    free(rec);
}
END_TEST

START_TEST(test_deal_stride)
{
    /* Spread mode: worker 1 of 2 takes every other probe of an edge's
     * (attempt, variant) sequence. */
    struct es_edgerec *rec = fake_recs(2);
    struct es_edgeq q;
    es_edgeq_init(&q, 2);
    rec_init(&rec[0], 4, 1, 2);
    rec_init(&rec[1], 4, 1, 2);
    ck_assert_uint_eq(rec[0].left, 2);
    es_edgeq_push(&q, &rec[0]);
    es_edgeq_push(&q, &rec[1]);
    ck_assert_uint_eq(q.undealt, 4);
    static const uint32_t want[][3] = {{0, 1, 1}, {1, 1, 1}, {0, 1, 2}, {1, 1, 2}};
    struct es_probe_ref r;
    for (size_t i = 0; i < 4; i++) {
        ck_assert(es_edgeq_next(&q, &r));
        ck_assert(r.rec - rec == want[i][0] && r.variant == want[i][1] && r.attempt == want[i][2]);
    }
    ck_assert(!es_edgeq_next(&q, &r));
    ck_assert_uint_eq(q.undealt, 0);
    ck_assert_uint_eq(es_share_probes(4, 1, 2), 2);
    ck_assert_uint_eq(es_share_probes(5, 0, 2), 3);
    ck_assert_uint_eq(es_share_probes(1, 1, 2), 0);
    /* es_edgeq_pop hands back what was not dealt (a stop). */
    rec_init(&rec[0], 6, 0, 1);
    es_edgeq_push(&q, &rec[0]);
    ck_assert(es_edgeq_next(&q, &r));
    uint64_t undealt;
    ck_assert_ptr_eq(es_edgeq_pop(&q, &undealt), &rec[0]);
    ck_assert_uint_eq(undealt, 5);
    ck_assert_uint_eq(q.undealt, 0);
    ck_assert_ptr_null(es_edgeq_pop(&q, &undealt));
    free(rec);
}
END_TEST

START_TEST(test_edgerec_copy)
{
    /* The engine's copy of an edge owns its strings: the caller's may go. */
    char host[] = "copy.example.test", res[] = "eu;us", ecs[] = "198.51.100.0/24",
         addr[] = "127.88.53.1:5353;127.88.53.2:5353";
    struct es_edge e;
    memset(&e, 0, sizeof e);
    e.host = host;
    e.resolver = res;
    e.ecs = ecs;
    e.resolver_addr = addr;
    e.port = 8443;
    e.dns_ms = 1.5;
    ck_assert(es_ip_parse("127.21.0.9", &e.ip));
    struct es_edgerec *r = es_edgerec_new(&e, 6, 0, 1);
    memset(host, 'x', sizeof host - 1);
    memset(res, 'x', sizeof res - 1);
    memset(ecs, 'x', sizeof ecs - 1);
    memset(addr, 'x', sizeof addr - 1);
    ck_assert_str_eq(r->edge.host, "copy.example.test");
    ck_assert_str_eq(r->edge.resolver, "eu;us");
    ck_assert_str_eq(r->edge.ecs, "198.51.100.0/24");
    ck_assert_str_eq(r->edge.resolver_addr, "127.88.53.1:5353;127.88.53.2:5353");
    ck_assert_uint_eq(r->edge.port, 8443);
    ck_assert(es_ip_equal(&r->edge.ip, &e.ip));
    ck_assert_uint_eq(r->left, 6);
    free(r);
    /* NULL strings stay NULL. */
    e.resolver_addr = NULL;
    e.ecs = NULL;
    r = es_edgerec_new(&e, 1, 0, 1);
    ck_assert_ptr_null(r->edge.resolver_addr);
    ck_assert_ptr_null(r->edge.ecs);
    free(r);
}
END_TEST

START_TEST(test_deal_split)
{
    /* Dealing is by IP: every edge of one IP goes to one worker, whatever its
     * host; the IPs of a /24 (and v6 addresses) spread over the workers. */
    enum { N = 240, W = 4 };
    unsigned count[W] = {0};
    for (int i = 0; i < N; i++) {
        char s[48];
        snprintf(s, sizeof s, i % 2 ? "127.21.9.%d" : "2001:db8::%x", i / 2 + 1);
        struct es_ip ip;
        ck_assert(es_ip_parse(s, &ip));
        unsigned w = es_deal_worker(&ip, W);
        ck_assert_uint_lt(w, W);
        struct es_ip again;
        ck_assert(es_ip_parse(s, &again));
        ck_assert_uint_eq(es_deal_worker(&again, W), w);
        count[w]++;
    }
    for (unsigned w = 0; w < W; w++)
        ck_assert_uint_gt(count[w], N / W / 2);
    struct es_ip any;
    ck_assert(es_ip_parse("127.0.0.1", &any));
    ck_assert_uint_eq(es_deal_worker(&any, 1), 0);
}
END_TEST

/* ---- the per-IP gate -------------------------------------------------------- */

static struct es_ip ip4(const char *s)
{
    struct es_ip ip;
    ck_assert(es_ip_parse(s, &ip));
    return ip;
}

static struct es_edgerec *pref_recs; /* 8 of them, never freed (one test process) */

static struct es_probe_ref pref(uint32_t e, uint32_t v, uint32_t a)
{
    if (!pref_recs)
        pref_recs = fake_recs(8);
    struct es_probe_ref r = {&pref_recs[e], v, a};
    return r;
}

/* The record index of a probe made by pref(). */
static long edge_of(const struct es_probe_ref *r)
{
    return r->rec - pref_recs;
}

START_TEST(test_ipgate_basic)
{
    struct es_ipgate g;
    es_ipgate_init(&g, 2, 8, 3);
    struct es_ip a = ip4("127.21.0.1"), b = ip4("127.21.0.2"), a6 = ip4("::1");
    ck_assert(es_ipgate_enter(&g, &a));
    ck_assert(es_ipgate_enter(&g, &a));
    ck_assert(!es_ipgate_enter(&g, &a)); /* at its limit */
    ck_assert_uint_eq(es_ipgate_inflight(&g, &a), 2);
    ck_assert(es_ipgate_enter(&g, &b)); /* other IPs are not affected */
    ck_assert(es_ipgate_enter(&g, &a6));
    ck_assert_uint_eq(es_ipgate_inflight(&g, &b), 1);

    struct es_probe_ref p1 = pref(1, 0, 1), p2 = pref(2, 1, 1), p3 = pref(3, 0, 2), next;
    ck_assert(es_ipgate_wait(&g, &a, &p1));
    ck_assert(es_ipgate_wait(&g, &a, &p2));
    ck_assert(es_ipgate_wait(&g, &a, &p3));
    ck_assert_uint_eq(es_ipgate_waiting(&g), 3);
    ck_assert(es_ipgate_pool_full(&g));
    struct es_probe_ref p4 = pref(4, 0, 1);
    ck_assert(!es_ipgate_wait(&g, &a, &p4)); /* the pool holds 3 */

    /* Places go to the waiters in FIFO order; in flight stays at the limit. */
    ck_assert(es_ipgate_leave(&g, &a, &next));
    ck_assert_int_eq(edge_of(&next), 1);
    ck_assert_uint_eq(es_ipgate_inflight(&g, &a), 2);
    ck_assert(es_ipgate_wait(&g, &a, &p4)); /* room again */
    ck_assert(es_ipgate_leave(&g, &a, &next));
    ck_assert(edge_of(&next) == 2 && next.variant == 1 && next.attempt == 1);
    ck_assert(es_ipgate_leave(&g, &a, &next));
    ck_assert(edge_of(&next) == 3 && next.attempt == 2);
    ck_assert(es_ipgate_leave(&g, &a, &next));
    ck_assert_int_eq(edge_of(&next), 4);
    ck_assert_uint_eq(es_ipgate_waiting(&g), 0);
    ck_assert(!es_ipgate_leave(&g, &a, &next));
    ck_assert_uint_eq(es_ipgate_inflight(&g, &a), 1);
    ck_assert(!es_ipgate_leave(&g, &a, &next));
    ck_assert_uint_eq(es_ipgate_inflight(&g, &a), 0);
    ck_assert_uint_eq(es_ipgate_inflight(&g, &b), 1);
    ck_assert_uint_eq(es_ipgate_inflight(&g, &a6), 1);
    ck_assert(es_ipgate_enter(&g, &a)); /* the entry was removed and comes back */
    ck_assert_uint_eq(es_ipgate_inflight(&g, &a), 1);
    es_ipgate_free(&g);
}
END_TEST

START_TEST(test_ipgate_model)
{
    /* Random enters and leaves over many IPs (probe runs collide, entries are
     * removed with backward shifts) against a plain array model. */
    enum { NIP = 300, LIMIT = 3, MAXIN = 256 };
    struct es_ipgate g;
    es_ipgate_init(&g, LIMIT, MAXIN, 64);
    unsigned model[NIP] = {0}, total = 0;
    uint64_t x = 88172645463325252ull;
    for (int step = 0; step < 200000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)(x % NIP);
        char s[32];
        snprintf(s, sizeof s, "127.21.%u.%u", k / 200, k % 200 + 1);
        struct es_ip ip = ip4(s);
        bool enter = (x >> 32) % 2 == 0;
        if (enter && total < MAXIN) {
            bool ok = es_ipgate_enter(&g, &ip);
            ck_assert_int_eq(ok, model[k] < LIMIT);
            if (ok)
                model[k]++, total++;
        } else if (model[k] > 0) {
            struct es_probe_ref next;
            ck_assert(!es_ipgate_leave(&g, &ip, &next));
            model[k]--, total--;
        }
        if (step % 997 == 0)
            for (unsigned j = 0; j < NIP; j++) {
                snprintf(s, sizeof s, "127.21.%u.%u", j / 200, j % 200 + 1);
                struct es_ip q = ip4(s);
                ck_assert_uint_eq(es_ipgate_inflight(&g, &q), model[j]);
            }
    }
    es_ipgate_free(&g);
}
END_TEST

/* ---- the token bucket ------------------------------------------------------- */

START_TEST(test_bucket)
{
    const uint64_t ms = 1000000;
    struct es_bucket b;
    es_bucket_init(&b, 10, 1, 1000 * ms);
    ck_assert(es_bucket_take(&b, 1000 * ms));
    ck_assert(!es_bucket_take(&b, 1000 * ms));
    ck_assert_uint_eq(es_bucket_wait_ns(&b, 1000 * ms), 100 * ms);
    ck_assert_uint_eq(es_bucket_wait_ns(&b, 1050 * ms), 50 * ms);
    ck_assert(!es_bucket_take(&b, 1099 * ms));
    ck_assert(es_bucket_take(&b, 1101 * ms));
    /* A long pause saves up at most burst tokens. */
    ck_assert(es_bucket_take(&b, 9000 * ms));
    ck_assert(!es_bucket_take(&b, 9000 * ms));

    es_bucket_init(&b, 100, 5, 0);
    int n = 0;
    while (es_bucket_take(&b, 0))
        n++;
    ck_assert_int_eq(n, 5);
    /* 1 s at 100/s: 100 more, never more than the burst at once. */
    n = 0;
    for (uint64_t t = 0; t <= 1000 * ms; t += ms)
        while (es_bucket_take(&b, t))
            n++;
    ck_assert_int_ge(n, 99);
    ck_assert_int_le(n, 101);

    es_bucket_init(&b, 0, 0, 0); /* no limit */
    for (int i = 0; i < 1000; i++)
        ck_assert(es_bucket_take(&b, 0));
    ck_assert_uint_eq(es_bucket_wait_ns(&b, 0), 0);
}
END_TEST

/* ---- io_uring failure messages ---------------------------------------------- */

static const struct {
    int err, disabled, major, minor, seccomp;
    const char *want[3];
} explain_cases[] = {
    {EPERM, 2, 6, 1, 0, {"kernel.io_uring_disabled=2", "sysctl kernel.io_uring_disabled=0", NULL}},
    {EPERM, 1, 6, 1, 0, {"kernel.io_uring_disabled=1", "kernel.io_uring_group", NULL}},
    {EPERM, 0, 6, 1, 2, {"seccomp", "io_uring_setup, io_uring_enter and io_uring_register", NULL}},
    {EPERM, -1, 0, 0, -1, {"seccomp", "Operation not permitted", NULL}},
    {ENOSYS, 0, 4, 19, 0, {"no io_uring", "Linux 5.19", "seccomp"}},
    /* ENOSYS from a kernel that has io_uring, under a seccomp filter: Podman. */
    {ENOSYS, 0, 6, 18, 2, {"seccomp filter", "Podman", "Linux 6.18 has it"}},
    {ENOSYS, 0, 5, 19, 2, {"seccomp filter", "podman run --security-opt seccomp=", NULL}},
    /* No filter, or a kernel older than 5.19: the kernel may lack it. */
    {ENOSYS, 0, 6, 18, 0, {"no io_uring", "Linux 5.19", NULL}},
    {ENOSYS, 0, 5, 15, 2, {"no io_uring", "Linux 5.19", NULL}},
    {ENOMEM, 0, 6, 1, 0, {"ulimit -l", "lower -c", NULL}},
    {EINVAL, 0, 6, 1, 0, {"Invalid argument", "Linux 5.19", NULL}},
};

START_TEST(test_uring_explain)
{
    char msg[512];
    struct es_uring_host h = {
        .disabled = explain_cases[_i].disabled,
        .kernel_major = explain_cases[_i].major,
        .kernel_minor = explain_cases[_i].minor,
        .seccomp = explain_cases[_i].seccomp,
    };
    es_uring_explain(explain_cases[_i].err, &h, msg, sizeof msg);
    for (int k = 0; k < 3 && explain_cases[_i].want[k]; k++)
        ck_assert_msg(strstr(msg, explain_cases[_i].want[k]), "case %d lacks '%s': %s", _i,
                      explain_cases[_i].want[k], msg);
    ck_assert_ptr_null(strchr(msg, '\n'));
    /* The Podman message only where the kernel has io_uring under a filter. */
    bool podman = strstr(msg, "Podman") != NULL;
    ck_assert_int_eq(podman,
                     explain_cases[_i].err == ENOSYS && h.seccomp == 2 &&
                         (h.kernel_major > 5 || (h.kernel_major == 5 && h.kernel_minor >= 19)));
}
END_TEST

/* ---- whole runs: helpers ---------------------------------------------------- */

/* Deadlines in these tests separate "hangs" from "answers": under valgrind
 * (its preload library is mapped into the process) a handshake takes far
 * longer, and in an ASan build (./dev test --sanitize; the lab the tests
 * start is that build too) about three times as long on a loaded machine
 * (test_lab_rows saw handshakes against the lab run into a 1 s deadline).
 * Every deadline and delay is stretched by this factor; what the tests
 * expect stays the same (the valgrind-only allowances ask under_valgrind). */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_SCALE 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_SCALE 3
#endif
#endif
#ifndef SANITIZER_SCALE
#define SANITIZER_SCALE 1
#endif

static bool under_valgrind(void)
{
    static int vg = -1;
    if (vg < 0) {
        char *maps = tl_read_file("/proc/self/maps", NULL);
        vg = maps && strstr(maps, "vgpreload") ? 1 : 0;
        free(maps);
    }
    return vg == 1;
}

static uint64_t tscale(void)
{
    return under_valgrind() ? 10 : SANITIZER_SCALE;
}

struct crow {
    char host[64], ip[48], variant[96], status[32], error[48], stage[32], tls_version[8];
    int attempt, port;
    unsigned worker;
    uint64_t time_ms;
    double connect_ms, handshake_ms, total_ms;
};

struct collect {
    pthread_mutex_t mu;
    struct crow *rows;
    size_t n, cap;
};

static void cpy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static void collect_row(void *arg, unsigned worker, const struct es_row *row)
{
    struct collect *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->rows = realloc(c->rows, c->cap * sizeof *c->rows);
    }
    struct crow *r = &c->rows[c->n++];
    cpy(r->host, sizeof r->host, row->host);
    cpy(r->ip, sizeof r->ip, row->ip);
    cpy(r->variant, sizeof r->variant, row->variant);
    cpy(r->status, sizeof r->status, row->status);
    cpy(r->error, sizeof r->error, row->error);
    cpy(r->stage, sizeof r->stage, row->stage);
    cpy(r->tls_version, sizeof r->tls_version, row->tls_version);
    r->attempt = row->attempt;
    r->port = row->port;
    r->worker = worker;
    r->time_ms = row->time_ms;
    r->connect_ms = row->connect_ms;
    r->handshake_ms = row->handshake_ms;
    r->total_ms = row->total_ms;
    pthread_mutex_unlock(&c->mu);
}

static void collect_init(struct collect *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

static void collect_free(struct collect *c)
{
    free(c->rows);
    pthread_mutex_destroy(&c->mu);
}

static void cfg_init(struct es_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->cmd = ES_CMD_SCAN;
    cfg->repeat = 1;
    cfg->timeout_ms = 2000;
    cfg->concurrency = 100;
    cfg->threads = 1;
    cfg->per_ip = 8;
    cfg->quiet = true;
    cfg->no_verify = true;
    cfg->vantage = "test-vantage";
}

/* The variant matrix of cfg (default: tls1.2 and tls1.3). */
static struct es_variant *variants_of(const struct es_config *cfg, size_t *n)
{
    struct es_variant *v;
    char err[256];
    ck_assert_msg(es_variants_build(cfg, &v, n, err, sizeof err), "variants: %s", err);
    return v;
}

static void edge_set(struct es_edge *e, const char *host, const char *ip, uint16_t port)
{
    memset(e, 0, sizeof *e);
    e->host = host;
    e->port = port;
    ck_assert(es_ip_parse(ip, &e->ip));
    e->resolver = "-";
    e->ecs = "";
    e->dns_ms = -1;
}

static enum es_engine_status run(const struct es_config *cfg, const struct es_edge *edges,
                                 size_t nedges, const struct es_variant *v, size_t nv,
                                 struct collect *c, struct es_engine_result *res)
{
    struct es_engine_params p;
    memset(&p, 0, sizeof p);
    p.cfg = cfg;
    p.edges = edges;
    p.nedges = nedges;
    p.variants = v;
    p.nvariants = nv;
    p.on_row = collect_row;
    p.on_row_arg = c;
    return es_engine_run(&p, res);
}

static int listen_on(const char *ip, uint16_t port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s:%u: %s", ip, port,
                  strerror(errno));
    ck_assert(listen(fd, backlog) == 0);
    return fd;
}

/* A listener in a child process that reads what a client sends, then resets
 * the connection. A process, not a thread: valgrind 3.19 treats io_uring_enter
 * as a syscall that does not block, so while a worker waits in it no other
 * thread of this process runs. */
struct resetter {
    pid_t pid;
};

static _Noreturn void resetter_main(int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        struct pollfd pc = {fd, POLLIN, 0};
        if (poll(&pc, 1, (int)(2000 * tscale())) > 0) {
            char buf[4096];
            ssize_t n = read(fd, buf, sizeof buf);
            (void)n;
        }
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
}

static void resetter_start(struct resetter *r, const char *ip, uint16_t port)
{
    int lfd = listen_on(ip, port, 128);
    r->pid = fork();
    ck_assert_int_ge(r->pid, 0);
    if (r->pid == 0)
        resetter_main(lfd);
    close(lfd);
}

static void resetter_stop(struct resetter *r)
{
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
}

static size_t count_rows(const struct collect *c, const char *status, const char *error)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->rows[i].status, status) == 0 &&
            (!error || strcmp(c->rows[i].error, error) == 0))
            n++;
    return n;
}

/* ---- whole runs against listeners started here ----------------------------- */

START_TEST(test_run_outcomes)
{
    /* One edge per outcome, both default variants, --repeat 2. */
    int bh = listen_on("127.21.0.3", 8443, 64); /* never accepts: blackhole */
    struct resetter rs;
    resetter_start(&rs, "127.21.0.4", 8443);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.repeat = 2;
    cfg.timeout_ms = 800 * tscale();
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    ck_assert_uint_eq(nv, 2);
    struct es_edge edges[3];
    edge_set(&edges[0], "refused.test", "127.21.0.2", 8443); /* nothing listens */
    edge_set(&edges[1], "blackhole.test", "127.21.0.3", 8443);
    edge_set(&edges[2], "reset.test", "127.21.0.4", 8443);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    enum es_engine_status st = run(&cfg, edges, 3, v, nv, &c, &res);
    ck_assert_int_eq(st, ES_ENGINE_DONE);
    ck_assert_int_eq(es_engine_exit_code(st), 0);
    ck_assert_uint_eq(res.planned, 12);
    ck_assert_uint_eq(res.rows, 12);
    ck_assert_uint_eq(c.n, 12);
    ck_assert_uint_eq(res.not_run, 0);
    ck_assert_uint_eq(res.ok, 0);
    ck_assert_uint_eq(res.failed, 12);
    for (size_t i = 0; i < c.n; i++) {
        const struct crow *r = &c.rows[i];
        ck_assert_int_eq(r->port, 8443);
        if (strcmp(r->host, "refused.test") == 0) {
            ck_assert_str_eq(r->status, "connect_error");
            ck_assert_str_eq(r->error, "connection_refused");
            ck_assert_str_eq(r->stage, "connect");
            ck_assert_str_eq(r->ip, "127.21.0.2");
            ck_assert(r->connect_ms < 0);
        } else if (strcmp(r->host, "blackhole.test") == 0) {
            ck_assert_str_eq(r->status, "timeout");
            ck_assert_str_eq(r->error, "handshake_timeout");
            ck_assert_str_eq(r->stage, "client_hello");
            ck_assert(r->connect_ms >= 0);
            ck_assert(r->total_ms >= (double)cfg.timeout_ms - 1);
        } else {
            ck_assert_str_eq(r->host, "reset.test");
            ck_assert_str_eq(r->status, "tls_error");
            ck_assert_str_eq(r->error, "connection_reset");
            ck_assert(r->connect_ms >= 0);
        }
    }
    /* Each (edge, variant) has attempts 1 and 2. */
    for (size_t e = 0; e < 3; e++)
        for (size_t k = 0; k < nv; k++) {
            int mask = 0;
            for (size_t i = 0; i < c.n; i++)
                if (strcmp(c.rows[i].host, edges[e].host) == 0 &&
                    strcmp(c.rows[i].variant, v[k].name) == 0)
                    mask |= 1 << c.rows[i].attempt;
            ck_assert_int_eq(mask, 6);
        }
    collect_free(&c);
    resetter_stop(&rs);
    close(bh);
    es_variants_free(v, nv);
}
END_TEST

START_TEST(test_run_order)
{
    /* -c 1: rows come out in start order, which must be attempt-major. */
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.repeat = 2;
    cfg.concurrency = 1;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge edges[3];
    edge_set(&edges[0], "a.test", "127.21.0.2", 1001);
    edge_set(&edges[1], "a.test", "127.21.0.2", 1002);
    edge_set(&edges[2], "a.test", "127.21.0.5", 1001);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    ck_assert_int_eq(run(&cfg, edges, 3, v, nv, &c, &res), ES_ENGINE_DONE);
    ck_assert_uint_eq(c.n, 12);
    size_t i = 0;
    for (int a = 1; a <= 2; a++)
        for (size_t e = 0; e < 3; e++)
            for (size_t k = 0; k < nv; k++, i++) {
                char ip[ES_IP_TEXT];
                ck_assert_int_eq(c.rows[i].attempt, a);
                ck_assert_int_eq(c.rows[i].port, edges[e].port);
                ck_assert_str_eq(c.rows[i].ip, es_ip_str(&edges[e].ip, ip, sizeof ip));
                ck_assert_str_eq(c.rows[i].variant, v[k].name);
                ck_assert_str_eq(c.rows[i].error, "connection_refused");
            }
    collect_free(&c);
    es_variants_free(v, nv);
}
END_TEST

/* Greatest number of probes whose [start, end) intervals overlap, with the
 * starts moved 2 ms later to absorb the ms rounding of `time`. */
static int max_overlap(const struct collect *c)
{
    int best = 0;
    for (size_t i = 0; i < c->n; i++) {
        double t = (double)c->rows[i].time_ms + 2;
        int n = 0;
        for (size_t j = 0; j < c->n; j++) {
            double s = (double)c->rows[j].time_ms + 2,
                   e = (double)c->rows[j].time_ms + c->rows[j].total_ms;
            if (s <= t && t < e)
                n++;
        }
        if (n > best)
            best = n;
    }
    return best;
}

START_TEST(test_run_per_ip)
{
    /* 12 probes to one blackhole IP, --per-ip 3, -c 50: at most 3 at a time,
     * so at least 4 rounds of the 300 ms timeout; nothing is dropped. */
    int bh = listen_on("127.21.0.6", 8443, 64);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.per_ip = 3;
    cfg.concurrency = 50;
    cfg.timeout_ms = 300 * tscale();
    cfg.repeat = 3;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge edges[2];
    edge_set(&edges[0], "p1.test", "127.21.0.6", 8443);
    edge_set(&edges[1], "p2.test", "127.21.0.6", 8443);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    uint64_t t0 = es_now_ms();
    ck_assert_int_eq(run(&cfg, edges, 2, v, nv, &c, &res), ES_ENGINE_DONE);
    uint64_t took = es_now_ms() - t0;
    ck_assert_uint_eq(c.n, 12);
    ck_assert_uint_eq(count_rows(&c, "timeout", "handshake_timeout"), 12);
    ck_assert_int_le(max_overlap(&c), 3);
    ck_assert_int_ge(max_overlap(&c), 2);
    ck_assert_uint_ge(took, 4 * cfg.timeout_ms - 10);
    collect_free(&c);
    close(bh);
    es_variants_free(v, nv);
}
END_TEST

START_TEST(test_run_rate)
{
    /* --rate 20 on one worker: the bucket holds 1 token, so 10 connections
     * take at least 9 x 50 ms. */
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.rate = 20;
    cfg.repeat = 5;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge e;
    edge_set(&e, "rate.test", "127.21.0.2", 8443);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    uint64_t t0 = es_now_ms();
    ck_assert_int_eq(run(&cfg, &e, 1, v, nv, &c, &res), ES_ENGINE_DONE);
    uint64_t took = es_now_ms() - t0;
    ck_assert_uint_eq(c.n, 10);
    ck_assert_uint_ge(took, 9 * 50 - 5);
    uint64_t first = UINT64_MAX, last = 0;
    for (size_t i = 0; i < c.n; i++) {
        first = c.rows[i].time_ms < first ? c.rows[i].time_ms : first;
        last = c.rows[i].time_ms > last ? c.rows[i].time_ms : last;
    }
    ck_assert_uint_ge(last - first, 9 * 50 - 10);
    collect_free(&c);
    es_variants_free(v, nv);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_run_per_ip_threads)
{
    /* 20 hosts on one IP with -t 4 --per-ip 1: never 2 probes in flight to
     * that IP, though four workers run (dealing by IP puts them all on one,
     * whose gate then holds for the process). Each probe hangs until its
     * 100 ms deadline, so any overlap would show in the row times. */
    int bh = listen_on("127.21.5.1", 8443, 64);
    struct es_config cfg;
    cfg_init(&cfg);
    static const char *tls13[] = {"1.3"};
    cfg.tls = (struct es_strlist){.v = tls13, .n = 1};
    cfg.threads = 4;
    cfg.concurrency = 40;
    cfg.per_ip = 1;
    cfg.timeout_ms = 100 * tscale();
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    ck_assert_uint_eq(nv, 1);
    enum { NH = 20 };
    struct es_edge edges[NH + 4];
    char names[NH + 4][32];
    for (int i = 0; i < NH; i++) {
        snprintf(names[i], sizeof names[i], "same-ip%d.test", i);
        edge_set(&edges[i], names[i], "127.21.5.1", 8443);
    }
    /* Other IPs keep the other workers busy (refused: quick). */
    for (int i = 0; i < 4; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "127.21.5.%d", 10 + i);
        snprintf(names[NH + i], sizeof names[NH + i], "other%d.test", i);
        edge_set(&edges[NH + i], names[NH + i], ip, 8443);
    }
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    ck_assert_int_eq(run(&cfg, edges, NH + 4, v, nv, &c, &res), ES_ENGINE_DONE);
    ck_assert_uint_eq(res.rows, NH + 4);
    ck_assert_uint_ge(res.threads, 2);
    /* Only the rows of the shared IP. */
    struct collect same;
    collect_init(&same);
    for (size_t i = 0; i < c.n; i++)
        if (strcmp(c.rows[i].ip, "127.21.5.1") == 0) {
            if (same.n == same.cap) {
                same.cap = same.cap ? 2 * same.cap : 32;
                same.rows = realloc(same.rows, same.cap * sizeof *same.rows);
            }
            same.rows[same.n++] = c.rows[i];
        }
    ck_assert_uint_eq(same.n, NH);
    ck_assert_uint_eq(count_rows(&same, "timeout", "handshake_timeout"), NH);
    ck_assert_int_eq(max_overlap(&same), 1);
    collect_free(&same);
    collect_free(&c);
    close(bh);
    es_variants_free(v, nv);
}
END_TEST

START_TEST(test_run_rate_threads)
{
    /* --rate 100 with -t 4 over 40 IPs (every worker has work): the starts of
     * all workers together keep to 100/s. Lower bounds are politeness; the
     * upper bound on the span (a worker's unused share, as when each worker
     * paced its own quarter) is loose. */
    struct es_config cfg;
    cfg_init(&cfg);
    static const char *tls13[] = {"1.3"};
    cfg.tls = (struct es_strlist){.v = tls13, .n = 1};
    cfg.threads = 4;
    cfg.concurrency = 100;
    cfg.per_ip = 0;
    cfg.rate = 100;
    cfg.repeat = 4;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    enum { NH = 40, N = NH * 4, BURST = 5 };
    struct es_edge edges[NH];
    char names[NH][32];
    for (int i = 0; i < NH; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "127.21.6.%d", i + 1); /* refused: quick */
        snprintf(names[i], sizeof names[i], "rate%d.test", i);
        edge_set(&edges[i], names[i], ip, 8443);
    }
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    ck_assert_int_eq(run(&cfg, edges, NH, v, nv, &c, &res), ES_ENGINE_DONE);
    ck_assert_uint_eq(res.rows, N);
    ck_assert_uint_eq(res.threads, 4);
    uint64_t t[N];
    for (size_t i = 0; i < N; i++)
        t[i] = c.rows[i].time_ms;
    qsort(t, N, sizeof t[0], cmp_u64);
    /* Any 200 ms holds at most 20 starts, plus the burst, plus ms rounding. */
    for (size_t i = 0; i < N; i++) {
        size_t n = 0;
        for (size_t j = i; j < N && t[j] < t[i] + 200; j++)
            n++;
        ck_assert_msg(n <= 20 + BURST + 2, "%zu starts within 200 ms from %zu", n, i);
    }
    uint64_t span = t[N - 1] - t[0];
    ck_assert_uint_ge(span, (N - BURST) * 10 - 10);
    if (!under_valgrind())
        ck_assert_msg(span <= N * 10 * 3 / 2, "span %llu ms for %d starts at 100/s",
                      (unsigned long long)span, N);
    collect_free(&c);
    es_variants_free(v, nv);
}
END_TEST

START_TEST(test_run_many_blackhole)
{
    /* -c 2000 against two blackhole IPs that go to different workers, with
     * --timeout 1000: every row a timeout, every probe accounted for, within a
     * generous bound. */
    char ip2[32] = "";
    struct es_ip first;
    ck_assert(es_ip_parse("127.21.0.7", &first));
    for (int k = 1; k < 60 && !ip2[0]; k++) {
        struct es_ip cand;
        char s[32];
        snprintf(s, sizeof s, "127.21.4.%d", k);
        ck_assert(es_ip_parse(s, &cand));
        if (es_deal_worker(&cand, 2) != es_deal_worker(&first, 2))
            snprintf(ip2, sizeof ip2, "%s", s);
    }
    ck_assert(ip2[0]);
    int bh = listen_on("127.21.0.7", 8443, 4096);
    int bh2 = listen_on(ip2, 8443, 4096);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.concurrency = 2000;
    cfg.threads = 2;
    cfg.per_ip = 2000;
    cfg.timeout_ms = 1000 * tscale();
    cfg.repeat = 25;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    enum { NH = 40 };
    struct es_edge edges[NH];
    char names[NH][32];
    for (int i = 0; i < NH; i++) {
        snprintf(names[i], sizeof names[i], "bh%d.test", i);
        edge_set(&edges[i], names[i], i % 2 ? ip2 : "127.21.0.7", 8443);
    }
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    uint64_t t0 = es_now_ms();
    ck_assert_int_eq(run(&cfg, edges, NH, v, nv, &c, &res), ES_ENGINE_DONE);
    uint64_t took = es_now_ms() - t0;
    ck_assert_uint_eq(res.planned, 2000);
    ck_assert_uint_eq(res.rows, 2000);
    ck_assert_uint_eq(c.n, 2000);
    ck_assert_uint_eq(count_rows(&c, "timeout", NULL), 2000);
    ck_assert_uint_eq(res.threads, 2);
    ck_assert_uint_lt(took, 30000 * tscale());
    collect_free(&c);
    close(bh);
    close(bh2);
    es_variants_free(v, nv);
}
END_TEST

START_TEST(test_run_fallbacks)
{
    /* Without DEFER_TASKRUN, without a buffer ring, with socket(2): same rows. */
    if (!es_test_hooks()) {
        fprintf(stderr, "note: built without -Dtest_hooks=true: no fallback run\n");
        return;
    }
    setenv("ES_TEST_ENGINE", "nodefer,nobufring,nosocketop", 1);
    int bh = listen_on("127.21.0.8", 8443, 64);
    struct resetter rs;
    resetter_start(&rs, "127.21.0.9", 8443);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.timeout_ms = 500 * tscale();
    cfg.repeat = 2;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge edges[3];
    edge_set(&edges[0], "f1.test", "127.21.0.2", 8443);
    edge_set(&edges[1], "f2.test", "127.21.0.8", 8443);
    edge_set(&edges[2], "f3.test", "127.21.0.9", 8443);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    ck_assert_int_eq(run(&cfg, edges, 3, v, nv, &c, &res), ES_ENGINE_DONE);
    ck_assert_uint_eq(c.n, 12);
    ck_assert_uint_eq(count_rows(&c, "connect_error", "connection_refused"), 4);
    ck_assert_uint_eq(count_rows(&c, "timeout", "handshake_timeout"), 4);
    ck_assert_uint_eq(count_rows(&c, "tls_error", "connection_reset"), 4);
    collect_free(&c);
    resetter_stop(&rs);
    close(bh);
    es_variants_free(v, nv);
    unsetenv("ES_TEST_ENGINE");
}
END_TEST

/* Check runs without fork (CK_FORK=no, e.g. under valgrind): tests that lower
 * RLIMIT_NOFILE for good do nothing then. */
static bool nofork(void)
{
    const char *f = getenv("CK_FORK");
    return f && strcmp(f, "no") == 0;
}

/* Closes the descriptors in fds after 300 ms. */
struct closer {
    int *fds;
    int n;
};

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    usleep(300000);
    for (int i = 0; i < c->n; i++)
        close(c->fds[i]);
    return NULL;
}

START_TEST(test_run_emfile)
{
    /* Out of descriptors: sockets fail with EMFILE until a helper frees some.
     * That slows the scan down (retries) but fails no probe. */
    if (nofork())
        return; /* the lowered hard limit would outlive the test */
    if (under_valgrind())
        return; /* valgrind refuses setrlimit(RLIMIT_NOFILE); the faults suite
                   covers a low limit through the shell's ulimit */
    struct rlimit rl = {256, 256};
    ck_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.concurrency = 100;
    cfg.per_ip = 100;
    cfg.repeat = 50;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge e;
    edge_set(&e, "emfile.test", "127.21.0.2", 8443);
    static int fds[256];
    int n = 0, fd;
    while (n < 256 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        fds[n++] = fd;
    ck_assert_int_eq(errno, EMFILE);
    for (int i = 0; i < 6; i++) /* room for the rings and a few sockets */
        close(fds[--n]);
    struct closer cl = {fds, n};
    pthread_t th;
    ck_assert(pthread_create(&th, NULL, closer_main, &cl) == 0);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    ck_assert_int_eq(run(&cfg, &e, 1, v, nv, &c, &res), ES_ENGINE_DONE);
    pthread_join(th, NULL);
    ck_assert_uint_eq(res.concurrency, 100);
    ck_assert_uint_eq(c.n, 100);
    ck_assert_uint_eq(count_rows(&c, "connect_error", "connection_refused"), 100);
    ck_assert_uint_gt(res.retries, 0);
    collect_free(&c);
    es_variants_free(v, nv);
}
END_TEST

START_TEST(test_run_nofile_lowers_c)
{
    /* A hard limit below -c + slack lowers -c (with a warning) instead of failing. */
    if (nofork() || under_valgrind()) /* see test_run_emfile */
        return;
    struct rlimit rl = {200, 200};
    ck_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.concurrency = 1000;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge e;
    edge_set(&e, "nofile.test", "127.21.0.2", 8443);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    ck_assert_int_eq(run(&cfg, &e, 1, v, nv, &c, &res), ES_ENGINE_DONE);
    ck_assert_uint_eq(res.concurrency, 200 - 68);
    ck_assert_uint_eq(c.n, 2);
    collect_free(&c);
    es_variants_free(v, nv);
}
END_TEST

/* Runs fn with stderr redirected to a file; returns what it wrote (malloc'd). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
    char path[] = "/tmp/edgeshake-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    char *text = tl_read_file(path, NULL);
    unlink(path);
    return text;
}

struct run_args {
    struct es_config cfg;
    struct es_edge *edges;
    size_t nedges;
    struct es_variant *v;
    size_t nv;
    struct es_writer *writer;
    struct es_engine_result res;
    enum es_engine_status st;
};

static void run_captured(void *arg)
{
    struct run_args *a = arg;
    struct es_engine_params p;
    memset(&p, 0, sizeof p);
    p.cfg = &a->cfg;
    p.edges = a->edges;
    p.nedges = a->nedges;
    p.variants = a->v;
    p.nvariants = a->nv;
    p.writer = a->writer;
    p.format = ES_FORMAT_CSV;
    a->st = es_engine_run(&p, &a->res);
}

START_TEST(test_uring_fail_hook)
{
    if (!es_test_hooks()) { /* the variable must do nothing there */
        setenv("ES_TEST_URING_FAIL", "EPERM", 1);
        char msg[512] = "";
        ck_assert_int_eq(es_engine_check_uring(msg, sizeof msg), 0);
        ck_assert_str_eq(msg, "");
        unsetenv("ES_TEST_URING_FAIL");
        return;
    }
    static const struct {
        const char *env, *want1, *want2;
    } cases[] = {
        {"EPERM", "seccomp", "io_uring_setup, io_uring_enter and io_uring_register"},
        {"EPERM:2", "kernel.io_uring_disabled=2", "sysctl kernel.io_uring_disabled=0"},
        {"ENOSYS", "no io_uring", "5.19"},
    };
    setenv("ES_TEST_URING_FAIL", cases[_i].env, 1);
    char msg[512];
    ck_assert_int_lt(es_engine_check_uring(msg, sizeof msg), 0);
    ck_assert_msg(strstr(msg, cases[_i].want1), "%s", msg);

    struct run_args a;
    memset(&a, 0, sizeof a);
    cfg_init(&a.cfg);
    a.cfg.quiet = false;
    a.v = variants_of(&a.cfg, &a.nv);
    struct es_edge e;
    edge_set(&e, "x.test", "127.21.0.2", 8443);
    a.edges = &e;
    a.nedges = 1;
    char *err = capture_stderr(run_captured, &a);
    ck_assert_int_eq(a.st, ES_ENGINE_FAILED);
    ck_assert_int_eq(es_engine_exit_code(a.st), 1);
    ck_assert_uint_eq(a.res.rows, 0);
    ck_assert_msg(strstr(a.res.error, cases[_i].want1), "%s", a.res.error);
    ck_assert_msg(strstr(a.res.error, cases[_i].want2), "%s", a.res.error);
    /* One message on stderr, and it is that one. */
    ck_assert_msg(strncmp(err, "edgeshake: ", 11) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, a.res.error));
    ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1);
    free(err);
    es_variants_free(a.v, a.nv);
    unsetenv("ES_TEST_URING_FAIL");
}
END_TEST

START_TEST(test_run_writer)
{
    /* Rows through the real writer: the file holds the header and one line
     * per probe, and stderr says "N rows written, N planned". */
    char *dir = tl_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/scan.csv", dir);
    char err[256];
    struct run_args a;
    memset(&a, 0, sizeof a);
    a.writer = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    ck_assert_msg(a.writer != NULL, "%s", err);
    cfg_init(&a.cfg);
    a.cfg.quiet = false;
    a.cfg.repeat = 3;
    a.cfg.threads = 2;
    a.v = variants_of(&a.cfg, &a.nv);
    struct es_edge edges[4];
    edge_set(&edges[0], "w1.test", "127.21.0.2", 8443);
    edge_set(&edges[1], "w2.test", "127.21.0.2", 8444);
    edge_set(&edges[2], "w3.test", "127.21.0.10", 8443);
    edge_set(&edges[3], "w4.test", "127.21.0.11", 8443);
    a.edges = edges;
    a.nedges = 4;
    char *text = capture_stderr(run_captured, &a);
    ck_assert_int_eq(a.st, ES_ENGINE_DONE);
    uint64_t written;
    ck_assert_int_eq(es_writer_close(a.writer, &written, err, sizeof err), 0);
    ck_assert_uint_eq(written, 24);
    ck_assert_msg(strstr(text, "edgeshake: 24 rows written, 24 planned\n"), "%s", text);
    ck_assert_msg(strstr(text, ": 0 ok, 24 failed"), "%s", text);
    size_t len;
    char *csv = tl_read_file(path, &len);
    ck_assert_ptr_nonnull(csv);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += csv[i] == '\n';
    ck_assert_uint_eq(lines, 25);
    ck_assert(strncmp(csv, "time,vantage,host,port,ip,", 26) == 0);
    ck_assert_ptr_nonnull(strstr(csv, ",test-vantage,w3.test,8443,127.21.0.10,4,-,,w3.test,"));
    ck_assert_ptr_nonnull(strstr(csv, ",connect_error,connection_refused,,,,connect,"));
    free(csv);
    free(text);
    tl_rmtree(dir);
    free(dir);
    es_variants_free(a.v, a.nv);
}
END_TEST

/* Sends SIGINT to this process after ms milliseconds, from a child process
 * (see struct resetter for why not a thread). */
static pid_t interrupt_later(unsigned ms)
{
    pid_t parent = getpid(), pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        usleep(ms * 1000u);
        kill(parent, SIGINT);
        _exit(0);
    }
    return pid;
}

/* A child that accepts n connections on lfd, holds them open without a
 * word, then sends SIGINT to this process and waits to be killed. */
static pid_t interrupt_after_accepts(int lfd, int n)
{
    pid_t parent = getpid(), pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < n;)
            if (accept(lfd, NULL, NULL) >= 0)
                i++;
        kill(parent, SIGINT);
        for (;;)
            pause();
    }
    return pid;
}

START_TEST(test_run_sigint)
{
    /* SIGINT once the first 10 probes are connected to an edge that never
     * answers: those 10 finish as timeouts (800 ms, inside the 1 s a stop
     * gives the probes in flight), the other 90 never start. The signal
     * waits for the connections, not for a time: an instrumented build
     * (ASan) may take longer than any fixed delay to start its first probes. */
    int bh = listen_on("127.21.0.12", 8443, 128);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.concurrency = 10;
    cfg.per_ip = 10;
    cfg.timeout_ms = 800;
    cfg.repeat = 50;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge e;
    edge_set(&e, "sigint.test", "127.21.0.12", 8443);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    struct sigaction before, after;
    sigaction(SIGINT, NULL, &before);
    pid_t child = interrupt_after_accepts(bh, 10);
    enum es_engine_status st = run(&cfg, &e, 1, v, nv, &c, &res);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    ck_assert_int_eq(st, ES_ENGINE_INTERRUPTED);
    ck_assert_int_eq(es_engine_exit_code(st), 130);
    ck_assert_uint_eq(res.planned, 100);
    if (under_valgrind()) {
        /* The signal handler may only run when the worker's time slice ends:
         * some whole rounds of 10 later. */
        ck_assert_uint_eq(res.rows % 10, 0);
        ck_assert_uint_ge(res.rows, 10);
        ck_assert_uint_lt(res.rows, 100);
    } else {
        ck_assert_uint_eq(res.rows, 10);
    }
    ck_assert_uint_eq(res.not_run, 100 - res.rows);
    ck_assert_uint_eq(c.n, res.rows);
    ck_assert_uint_eq(count_rows(&c, "timeout", "handshake_timeout"), res.rows);
    /* The handler from before the run is back. */
    sigaction(SIGINT, NULL, &after);
    ck_assert(after.sa_handler == before.sa_handler);
    collect_free(&c);
    close(bh);
    es_variants_free(v, nv);
}
END_TEST

START_TEST(test_run_progress)
{
    /* --progress, not a TTY: plain status lines every 10 s, so none while 4
     * probes hang for 1.5 s; then the summary (test_status_plain has the
     * 10 s line). */
    int bh = listen_on("127.21.0.13", 8443, 64);
    struct run_args a;
    memset(&a, 0, sizeof a);
    cfg_init(&a.cfg);
    a.cfg.quiet = false;
    a.cfg.progress = true;
    a.cfg.timeout_ms = 1500 * tscale();
    a.cfg.repeat = 2;
    a.v = variants_of(&a.cfg, &a.nv);
    struct es_edge e;
    edge_set(&e, "progress.test", "127.21.0.13", 8443);
    a.edges = &e;
    a.nedges = 1;
    char *text = capture_stderr(run_captured, &a);
    close(bh);
    ck_assert_int_eq(a.st, ES_ENGINE_DONE);
    ck_assert_msg(!strstr(text, "/4 probes ("), "%s", text);
    ck_assert_ptr_null(strchr(text, '\r'));
    ck_assert_msg(strstr(text, "edgeshake: 4 probes in "), "%s", text);
    ck_assert_msg(strstr(text, "): 0 ok, 4 failed\n"), "%s", text);
    ck_assert_msg(strstr(text, "edgeshake: 4 rows written, 4 planned\n"), "%s", text);
    free(text);
    es_variants_free(a.v, a.nv);
}
END_TEST

/* ---- resets and EOF right after accept: exact rows, one clock ------------------ */

/* A listener that accepts and resets at once, reading nothing (a child
 * process, as the resetter above). */
static _Noreturn void rst_at_accept_main(int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
}

static const char reset_spec[] = "# test_engine: 127.21.10.0/24\n"
                                 "edge 127.21.10.1:8443 cert=rst.test fault=reset\n"
                                 "edge 127.21.10.2:8443 cert=rst.test fault=close\n";

/* Every row: exactly want_error at stage client_hello, connected, and
 * connect_ms + handshake_ms <= total_ms (in whole microseconds, as written). */
static void check_reset_rows(const struct collect *c, const char *ip, const char *want_error,
                             size_t want_rows)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct crow *r = &c->rows[i];
        if (strcmp(r->ip, ip) != 0)
            continue;
        n++;
        ck_assert_msg(!strcmp(r->status, "tls_error") && !strcmp(r->error, want_error) &&
                          !strcmp(r->stage, "client_hello"),
                      "%s row %zu: %s/%s at %s, want tls_error/%s at client_hello", ip, i,
                      r->status, r->error, r->stage, want_error);
        ck_assert_msg(r->connect_ms >= 0, "%s: not connected", ip);
        long long cu = llround(r->connect_ms * 1e3), tu = llround(r->total_ms * 1e3);
        long long hu = r->handshake_ms >= 0 ? llround(r->handshake_ms * 1e3) : 0;
        ck_assert_msg(cu + hu <= tu, "%s: connect %.3f + handshake %.3f > total %.3f", ip,
                      r->connect_ms, r->handshake_ms, r->total_ms);
    }
    ck_assert_uint_eq(n, want_rows);
}

START_TEST(test_run_reset_eof_rows)
{
    /* 48 rows each (2 variants x --repeat 24), -c 24: the lab's fault=reset
     * (RST after the ClientHello), fault=close (FIN at accept) and a
     * listener that resets at accept, which races the connect completion. */
    struct tl_lab lab;
    tl_lab_start(&lab, reset_spec);
    int lfd = listen_on("127.21.10.3", 8443, 256);
    pid_t rst = fork();
    ck_assert_int_ge(rst, 0);
    if (rst == 0)
        rst_at_accept_main(lfd);
    close(lfd);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.threads = 2;
    cfg.concurrency = 24;
    cfg.per_ip = 0;
    cfg.repeat = 24;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge edges[3];
    edge_set(&edges[0], "rst.test", "127.21.10.1", 8443);
    edge_set(&edges[1], "rst.test", "127.21.10.2", 8443);
    edge_set(&edges[2], "rst.test", "127.21.10.3", 8443);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    ck_assert_int_eq(run(&cfg, edges, 3, v, nv, &c, &res), ES_ENGINE_DONE);
    tl_lab_stop(&lab);
    ck_assert_uint_eq(c.n, 144);
    check_reset_rows(&c, "127.21.10.1", "connection_reset", 48);
    check_reset_rows(&c, "127.21.10.2", "eof_during_handshake", 48);
    check_reset_rows(&c, "127.21.10.3", "connection_reset", 48);
    collect_free(&c);
    /* Many at once at the accept-resetter: the reset then often arrives
     * before the connect's completion is reaped (connect says ECONNRESET);
     * still the same row (here the old mapping gave connect_error/connect on
     * about 1 row in 5 with -c 200). */
    cfg.concurrency = 200;
    cfg.repeat = 100;
    struct collect c2;
    collect_init(&c2);
    ck_assert_int_eq(run(&cfg, &edges[2], 1, v, nv, &c2, &res), ES_ENGINE_DONE);
    check_reset_rows(&c2, "127.21.10.3", "connection_reset", 200);
    collect_free(&c2);
    kill(rst, SIGKILL);
    waitpid(rst, NULL, 0);
    es_variants_free(v, nv);
}
END_TEST

/* ---- stops and slow outputs --------------------------------------------------- */

START_TEST(test_run_signal_before_start)
{
    /* A signal that came before the engine started (the scan installs the
     * handlers first) is respected: nothing starts, every probe is not_run. */
    es_engine_signals_install();
    raise(SIGTERM);
    ck_assert_int_eq(es_engine_interrupted(), SIGTERM);
    struct es_config cfg;
    cfg_init(&cfg);
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge e;
    edge_set(&e, "early.test", "127.21.0.2", 8443);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    ck_assert_int_eq(run(&cfg, &e, 1, v, nv, &c, &res), ES_ENGINE_INTERRUPTED);
    ck_assert_uint_eq(res.planned, 2);
    ck_assert_uint_eq(res.rows, 0);
    ck_assert_uint_eq(res.not_run, 2);
    ck_assert_uint_eq(c.n, 0);
    collect_free(&c);
    es_variants_free(v, nv);
}
END_TEST

static ssize_t slow_write(int fd, const void *buf, size_t n, void *ctx)
{
    (void)ctx;
    usleep(500000); /* a reader far slower than the scan, e.g. `-o - | slow` */
    return write(fd, buf, n);
}

static const char sink_spec[] = "# test_engine: 127.21.8.0/24\n"
                                "edge 127.21.8.1:8443 cert=sink.test tls=1.2,1.3\n"
                                "edge 127.21.8.2:8443 cert=sink.test tls=1.2,1.3\n";

START_TEST(test_run_slow_sink)
{
    /* The writer takes a batch every 500 ms and queues one more: a worker
     * that waited for it would hold its probes past their 300 ms deadline.
     * Instead it keeps the rows, starts nothing, and lets the probes in
     * flight finish on the network's time: 0 timeouts, every row ok. */
    if (under_valgrind())
        return; /* the point is timing under a healthy CPU */
    struct tl_lab lab;
    tl_lab_start(&lab, sink_spec);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.concurrency = 20;
    cfg.timeout_ms = 300;
    cfg.repeat = 30;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge edges[2];
    edge_set(&edges[0], "sink.test", "127.21.8.1", 8443);
    edge_set(&edges[1], "sink.test", "127.21.8.2", 8443);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    char err[256];
    struct es_writer *wr = es_writer_fdopen(null, "slow", ES_FORMAT_CSV, err, sizeof err);
    ck_assert_msg(wr != NULL, "%s", err);
    es_writer_set_queue_cap(wr, 1);
    es_writer_set_write_fn(wr, slow_write, NULL);
    struct collect c;
    collect_init(&c);
    struct es_engine_params p;
    memset(&p, 0, sizeof p);
    p.cfg = &cfg;
    p.edges = edges;
    p.nedges = 2;
    p.variants = v;
    p.nvariants = nv;
    p.writer = wr;
    p.format = ES_FORMAT_CSV;
    p.on_row = collect_row;
    p.on_row_arg = &c;
    struct es_engine_result res;
    ck_assert_int_eq(es_engine_run(&p, &res), ES_ENGINE_DONE);
    uint64_t rows = 0;
    ck_assert_int_eq(es_writer_close(wr, &rows, err, sizeof err), 0);
    close(null);
    tl_lab_stop(&lab);
    ck_assert_uint_eq(res.rows, 120);
    ck_assert_uint_eq(rows, 120);
    ck_assert_uint_eq(count_rows(&c, "timeout", NULL), 0);
    ck_assert_uint_eq(count_rows(&c, "ok", NULL), 120);
    collect_free(&c);
    es_variants_free(v, nv);
}
END_TEST

/* ---- the status line ------------------------------------------------------------ */

START_TEST(test_status_line)
{
    struct es_status s = {.done = 1234567,
                          .planned = 10000000,
                          .ok = 1200000,
                          .failed = 34567,
                          .inflight = 10000,
                          .rate = 23456.7,
                          .planned_final = true};
    char line[512];
    /* No limit: everything. */
    size_t n = es_status_line(line, sizeof line, &s, 0);
    ck_assert_uint_eq(n, strlen(line));
    ck_assert_msg(strstr(line, "1234567/10000000 probes (1200000 ok, 34567 failed)") &&
                      strstr(line, "23457/s") && strstr(line, "10000 in flight") &&
                      strstr(line, "ETA 0:06:14"),
                  "%s", line);
    /* Every width from 120 down to 10 fits in width - 1 columns. */
    for (unsigned w = 120; w >= 10; w--) {
        n = es_status_line(line, sizeof line, &s, w);
        ck_assert_msg(n <= w - 1 && strlen(line) == n, "width %u: %zu: %s", w, n, line);
        ck_assert_ptr_null(strchr(line, '\033'));
        if (w >= 50)
            ck_assert_msg(strstr(line, "ETA"), "width %u: %s", w, line);
    }
    /* Input still coming: no ETA, and planned may grow. */
    s.planned_final = false;
    es_status_line(line, sizeof line, &s, 0);
    ck_assert_msg(strstr(line, "10000000+ probes") && strstr(line, "ETA -"), "%s", line);
    s.planned_final = true;
    s.rate = 0.4;
    es_status_line(line, sizeof line, &s, 0);
    ck_assert_msg(strstr(line, "0.4/s"), "%s", line);
}
END_TEST

/* The scan on a pseudo-terminal of 80 columns: every status line, as the
 * terminal shows it (after \r, without \033[K), fits in 79 columns, and once
 * an ETA is shown it does not fall back to "-" while probes remain. */
START_TEST(test_status_pty)
{
    if (under_valgrind())
        return; /* the child is the real binary: nothing to check under memcheck */
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* 6000 refused probes at --rate 2000: about 3 s of status lines with
         * numbers as long as a real scan's. */
        execl(tl_bin(), "edgeshake", "scan", "--tls", "1.3", "-t", "2", "-c", "100", "--rate",
              "2000", "--repeat", "1000", "--per-ip", "0", "-o", "/dev/null",
              "a.test:8443@127.21.11.1", "b.test:8443@127.21.11.2", "c.test:8443@127.21.11.3",
              "d.test:8443@127.21.11.4", "e.test:8443@127.21.11.5", "f.test:8443@127.21.11.6",
              (char *)NULL);
        _exit(127);
    }
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            out = realloc(out, cap *= 2);
        ssize_t r = read(master, out + len, 4096);
        if (r <= 0)
            break; /* EIO once the child is gone */
        len += (size_t)r;
    }
    out[len] = '\0';
    int status;
    waitpid(pid, &status, 0);
    close(master);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit %d: %s", status, out);
    int lines = 0;
    bool eta_seen = false;
    char *save = NULL;
    for (char *piece = strtok_r(out, "\r\n", &save); piece; piece = strtok_r(NULL, "\r\n", &save)) {
        char *esc = strstr(piece, "\033[K");
        if (esc)
            *esc = '\0';
        if (!strstr(piece, ", ETA "))
            continue; /* not a status line: the summary */
        lines++;
        ck_assert_msg(strlen(piece) <= 79, "%zu columns: '%s'", strlen(piece), piece);
        if (strstr(piece, "ETA -"))
            ck_assert_msg(!eta_seen, "the ETA went back to '-': %s", piece);
        else if (strstr(piece, "ETA "))
            eta_seen = true;
    }
    ck_assert_int_ge(lines, 2);
    free(out);
}
END_TEST

/* --progress with stderr not a terminal: plain lines (no \r, no escape
 * codes), the first after 10 s. */
START_TEST(test_status_plain)
{
    if (under_valgrind())
        return;
    const char *argv[] = {"scan",
                          "--tls",
                          "1.3",
                          "--progress",
                          "--rate",
                          "100",
                          "--repeat",
                          "530",
                          "-o",
                          "/dev/null",
                          "p.test:8443@127.21.11.9",
                          "q.test:8443@127.21.11.10",
                          NULL};
    char *out = NULL, *err = NULL;
    int rc = tl_run(argv, NULL, &out, &err, 60000);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_ptr_null(strchr(err, '\r'));
    ck_assert_ptr_null(strchr(err, '\033'));
    ck_assert_msg(strstr(err, "/1060 probes ("), "%s", err);
    ck_assert_msg(strstr(err, ", ETA "), "no status line: %s", err);
    free(out);
    free(err);
}
END_TEST

/* ---- the feed API (es_engine_start / add_edges / end_input / wait) ---------- */

static struct es_engine *start_feed(const struct es_config *cfg, const struct es_variant *v,
                                    size_t nv, struct collect *c, struct es_engine_result *res)
{
    struct es_engine_params p;
    memset(&p, 0, sizeof p);
    p.cfg = cfg;
    p.variants = v;
    p.nvariants = nv;
    p.on_row = collect_row;
    p.on_row_arg = c;
    struct es_engine *eng = es_engine_start(&p, res);
    ck_assert_msg(eng != NULL, "es_engine_start: %s", res->error);
    return eng;
}

START_TEST(test_feed_stream)
{
    /* 30 edges added one call at a time, from strings the caller overwrites
     * after each call (the engine copies them): 30 x 2 variants x 2 attempts
     * rows, each naming its own host, resolver and address. */
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.threads = 2;
    cfg.concurrency = 4;
    cfg.repeat = 2;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    struct es_engine *eng = start_feed(&cfg, v, nv, &c, &res);
    ck_assert_uint_eq(res.threads, 2);
    for (int i = 0; i < 30; i++) {
        char host[64], resolver[32], ip[32];
        snprintf(host, sizeof host, "feed%d.test", i);
        snprintf(resolver, sizeof resolver, "r%d", i);
        snprintf(ip, sizeof ip, "127.21.1.%d", i + 1); /* nothing listens: refused */
        struct es_edge e;
        edge_set(&e, host, ip, 8443);
        e.resolver = resolver;
        ck_assert_int_eq(es_engine_add_edges(eng, &e, 1), 0);
        memset(host, 'x', sizeof host - 1);
        memset(resolver, 'y', sizeof resolver - 1);
    }
    es_engine_end_input(eng);
    enum es_engine_status st = es_engine_wait(eng, &res);
    ck_assert_int_eq(st, ES_ENGINE_DONE);
    ck_assert_uint_eq(res.planned, 120);
    ck_assert_uint_eq(res.rows, 120);
    ck_assert_uint_eq(c.n, 120);
    int seen[30][2][3];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < c.n; i++) {
        int k;
        ck_assert_msg(sscanf(c.rows[i].host, "feed%d.test", &k) == 1, "host %s", c.rows[i].host);
        ck_assert(k >= 0 && k < 30);
        char ip[32];
        snprintf(ip, sizeof ip, "127.21.1.%d", k + 1);
        ck_assert_str_eq(c.rows[i].ip, ip);
        ck_assert_str_eq(c.rows[i].error, "connection_refused");
        int var = strcmp(c.rows[i].variant, v[0].name) == 0 ? 0 : 1;
        seen[k][var][c.rows[i].attempt]++;
    }
    for (int k = 0; k < 30; k++)
        for (int j = 0; j < 2; j++)
            ck_assert(seen[k][j][1] == 1 && seen[k][j][2] == 1);
    collect_free(&c);
    es_variants_free(v, nv);
}
END_TEST

struct counter {
    _Atomic uint64_t rows;
};

static void count_row(void *arg, unsigned worker, const struct es_row *row)
{
    (void)worker;
    (void)row;
    struct counter *k = arg;
    atomic_fetch_add(&k->rows, 1);
}

START_TEST(test_feed_bounded)
{
    /* 12,000 probes added in one call with -c 100 (bound: 10,000 unstarted):
     * the call blocks until the workers have taken probes out, so when it
     * returns at least 12,000 - 10,000 - 100 in flight - 2 rows exist. Without
     * --per-ip every dealt probe has started. */
    if (under_valgrind())
        return; /* 12,000 connects under memcheck take minutes */
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.threads = 2;
    cfg.concurrency = 100;
    cfg.per_ip = 0;
    cfg.repeat = 1;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    enum { N = 6000 };
    struct es_edge *edges = calloc(N, sizeof *edges);
    char(*hosts)[32] = calloc(N, sizeof *hosts);
    for (int i = 0; i < N; i++) {
        snprintf(hosts[i], sizeof hosts[i], "b%d.test", i);
        char ip[32];
        snprintf(ip, sizeof ip, "127.21.2.%d", i % 200 + 1);
        edge_set(&edges[i], hosts[i], ip, 8443);
    }
    struct counter k = {0};
    struct es_engine_params p;
    memset(&p, 0, sizeof p);
    p.cfg = &cfg;
    p.variants = v;
    p.nvariants = nv;
    p.on_row = count_row;
    p.on_row_arg = &k;
    struct es_engine_result res;
    struct es_engine *eng = es_engine_start(&p, &res);
    ck_assert_ptr_nonnull(eng);
    ck_assert_int_eq(es_engine_add_edges(eng, edges, N), 0);
    uint64_t at_return = atomic_load(&k.rows);
    free(edges); /* the engine has its own copies */
    free(hosts);
    ck_assert_uint_ge(at_return, 2 * N - 10000 - 100 -
                                     2); /* 2: a probe each worker has dealt but not started */
    ck_assert_int_eq(es_engine_wait(eng, &res), ES_ENGINE_DONE);
    ck_assert_uint_eq(res.planned, 2 * N);
    ck_assert_uint_eq(res.rows, 2 * N);
    es_variants_free(v, nv);
}
END_TEST

START_TEST(test_feed_interrupted)
{
    /* SIGINT while the producer still adds: add_edges returns -1, the probes
     * in flight finish, wait says INTERRUPTED, rows + not_run = planned. */
    int bh = listen_on("127.21.0.13", 8443, 128);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.concurrency = 4;
    cfg.per_ip = 4;
    cfg.timeout_ms = 300 * tscale();
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct collect c;
    collect_init(&c);
    struct es_engine_result res;
    struct es_engine *eng = start_feed(&cfg, v, nv, &c, &res);
    pid_t child = interrupt_later((unsigned)(200 * tscale()));
    int rc = 0;
    uint64_t t0 = es_now_ms();
    for (int i = 0; i < 1000 && rc == 0; i++) {
        struct es_edge e;
        edge_set(&e, "stream-int.test", "127.21.0.13", 8443);
        rc = es_engine_add_edges(eng, &e, 1);
        if (rc == 0 && i % 10 == 9)
            usleep(20000); /* a producer slower than the probes */
        ck_assert_msg(es_now_ms() - t0 < 30000 * tscale(), "add_edges never saw the stop");
    }
    waitpid(child, NULL, 0);
    ck_assert_int_eq(rc, -1);
    enum es_engine_status st = es_engine_wait(eng, &res);
    ck_assert_int_eq(st, ES_ENGINE_INTERRUPTED);
    ck_assert_uint_eq(res.rows + res.not_run, res.planned);
    ck_assert_uint_eq(c.n, res.rows);
    ck_assert_uint_lt(res.rows, res.planned);
    ck_assert_uint_eq(count_rows(&c, "timeout", "handshake_timeout"), res.rows);
    collect_free(&c);
    close(bh);
    es_variants_free(v, nv);
}
END_TEST

START_TEST(test_run_stop_after)
{
    /* stop_after_ms: a run of a million refused probes on one slot stops
     * starting probes after 300 ms; what started has its row, and it is DONE. */
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.concurrency = 1;
    cfg.repeat = 500000;
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct es_edge e;
    edge_set(&e, "stop.test", "127.21.0.2", 8443);
    struct collect c;
    collect_init(&c);
    struct es_engine_params p;
    memset(&p, 0, sizeof p);
    p.cfg = &cfg;
    p.edges = &e;
    p.nedges = 1;
    p.variants = v;
    p.nvariants = nv;
    p.on_row = collect_row;
    p.on_row_arg = &c;
    p.stop_after_ms = 300;
    struct es_engine_result res;
    ck_assert_int_eq(es_engine_run(&p, &res), ES_ENGINE_DONE);
    ck_assert_uint_eq(res.planned, 1000000);
    ck_assert_uint_gt(res.rows, 0);
    ck_assert_uint_lt(res.rows, 1000000);
    ck_assert_uint_eq(res.rows + res.not_run, res.planned);
    ck_assert_uint_eq(c.n, res.rows);
    ck_assert_uint_eq(count_rows(&c, "connect_error", "connection_refused"), res.rows);
    ck_assert(res.elapsed_s >= 0.3);
    collect_free(&c);
    es_variants_free(v, nv);
}
END_TEST

/* ---- real handshakes against the lab --------------------------------------- */

static const char lab_spec[] = "# test_engine: 127.21.1.0/24\n"
                               "edge 127.21.1.1:8443 cert=shop.test tls=1.2,1.3\n"
                               "edge 127.21.1.2:8443 cert=shop.test fault=reset\n"
                               "edge 127.21.1.3:8443 cert=shop.test fault=blackhole\n"
                               "edge 127.21.1.4:8443 cert=shop.test fault=refuse\n"
                               "edge 127.21.1.5:8443 cert=shop.test tls=1.2\n";

struct tuple {
    char key[256]; /* "host ip variant attempt" */
    char ip[48], variant[96], status[32], error[48];
};

static int tuple_cmp(const void *a, const void *b)
{
    const struct tuple *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->status, y->status);
}

struct lab_result {
    enum es_engine_status st;
    struct es_engine_result res;
    struct tuple *t; /* sorted by (host, ip, variant, attempt) */
    size_t n;
    unsigned workers; /* bit per worker that wrote rows */
};

/* Runs the lab matrix with `threads` workers. Asserts nothing, so that the
 * caller can stop the lab first (without fork, a failed assertion would leave
 * it running). */
static void lab_run(unsigned threads, struct lab_result *out)
{
    /* Two of these hosts go to each of 2 workers. */
    static const char *hosts[] = {"a.shop.test", "b.shop.test", "c.shop.test", "d.shop.test"};
    static const char *ips[] = {"127.21.1.1", "127.21.1.2", "127.21.1.3", "127.21.1.4",
                                "127.21.1.5"};
    struct es_edge edges[20];
    for (size_t h = 0; h < 4; h++)
        for (size_t i = 0; i < 5; i++)
            edge_set(&edges[h * 5 + i], hosts[h], ips[i], 8443);
    struct es_config cfg;
    cfg_init(&cfg);
    cfg.threads = threads;
    cfg.repeat = 2;
    cfg.timeout_ms = 1000 * tscale();
    size_t nv;
    struct es_variant *v = variants_of(&cfg, &nv);
    struct collect c;
    collect_init(&c);
    out->st = run(&cfg, edges, 20, v, nv, &c, &out->res);
    out->t = calloc(c.n + 1, sizeof *out->t);
    out->workers = 0;
    for (size_t i = 0; i < c.n; i++) {
        const struct crow *r = &c.rows[i];
        struct tuple *t = &out->t[i];
        snprintf(t->key, sizeof t->key, "%s %s %s %d", r->host, r->ip, r->variant, r->attempt);
        cpy(t->ip, sizeof t->ip, r->ip);
        cpy(t->variant, sizeof t->variant, r->variant);
        cpy(t->status, sizeof t->status, r->status);
        cpy(t->error, sizeof t->error, r->error);
        out->workers |= 1u << r->worker;
    }
    qsort(out->t, c.n, sizeof *out->t, tuple_cmp);
    out->n = c.n;
    collect_free(&c);
    es_variants_free(v, nv);
}

static void lab_check(const struct lab_result *r)
{
    ck_assert_int_eq(r->st, ES_ENGINE_DONE);
    ck_assert_uint_eq(r->res.planned, 80);
    ck_assert_uint_eq(r->res.rows, 80);
    ck_assert_uint_eq(r->n, 80);
    if (!under_valgrind())
        ck_assert_uint_eq(r->res.ok, 4 * 2 * 2 + 4 * 1 * 2); /* .1 both variants, .5 TLS 1.2 */
}

static const struct {
    const char *ip, *variant_prefix, *status, *error;
} lab_expect[] = {
    {"127.21.1.1", "tls1.2/", "ok", ""},
    {"127.21.1.1", "tls1.3/", "ok", ""},
    {"127.21.1.2", "tls1.", "tls_error", "connection_reset"},
    {"127.21.1.3", "tls1.", "timeout", "handshake_timeout"},
    {"127.21.1.4", "tls1.", "connect_error", "connection_refused"},
    {"127.21.1.5", "tls1.2/", "ok", ""},
    {"127.21.1.5", "tls1.3/", "alert", "protocol_version"},
};

START_TEST(test_lab_rows)
{
    struct tl_lab lab;
    tl_lab_start(&lab, lab_spec);
    struct lab_result r1, r2;
    lab_run(1, &r1);
    lab_run(2, &r2);
    tl_lab_stop(&lab);
    lab_check(&r1);
    lab_check(&r2);
    ck_assert_uint_eq(r1.workers, 1);
    ck_assert_uint_eq(r2.workers, 3); /* both workers ran probes */
    ck_assert_uint_eq(r2.res.threads, 2);
    /* The same probes with -t 1 and -t 2, with the same outcomes (under
     * valgrind a handshake may run into its deadline: keys only). */
    const struct tuple *t1 = r1.t, *t2 = r2.t;
    for (size_t i = 0; i < r1.n; i++) {
        ck_assert_str_eq(t1[i].key, t2[i].key);
        if (!under_valgrind()) {
            ck_assert_str_eq(t1[i].status, t2[i].status);
            ck_assert_str_eq(t1[i].error, t2[i].error);
        }
    }
    /* And the outcomes are the expected ones. */
    for (size_t i = 0; i < r1.n; i++) {
        const struct tuple *t = &t1[i];
        if (under_valgrind() && strcmp(t->error, "handshake_timeout") == 0)
            continue;
        bool matched = false;
        for (size_t e = 0; e < ES_ARRAY_LEN(lab_expect) && !matched; e++) {
            if (strcmp(t->ip, lab_expect[e].ip) != 0 ||
                strncmp(t->variant, lab_expect[e].variant_prefix,
                        strlen(lab_expect[e].variant_prefix)) != 0)
                continue;
            ck_assert_msg(strcmp(t->status, lab_expect[e].status) == 0 &&
                              strcmp(t->error, lab_expect[e].error) == 0,
                          "%s: %s %s, want %s %s", t->key, t->status, t->error,
                          lab_expect[e].status, lab_expect[e].error);
            matched = true;
        }
        ck_assert_msg(matched, "unexpected row %s", t->key);
    }
    free(r1.t);
    free(r2.t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("unit");
    tcase_add_loop_test(tc, test_ud_roundtrip, 0, (int)ES_ARRAY_LEN(ud_cases));
    tcase_add_test(tc, test_ud_layout);
    tcase_add_test(tc, test_deal_order);
    tcase_add_test(tc, test_deal_stream);
    tcase_add_test(tc, test_deal_stride);
    tcase_add_test(tc, test_edgerec_copy);
    tcase_add_test(tc, test_deal_split);
    tcase_add_test(tc, test_ipgate_basic);
    tcase_add_test(tc, test_ipgate_model);
    tcase_add_test(tc, test_bucket);
    tcase_add_loop_test(tc, test_uring_explain, 0, (int)ES_ARRAY_LEN(explain_cases));
    suite_add_tcase(s, tc);

    TCase *tr = tcase_create("run");
    tcase_set_timeout(tr, 60);
    tcase_add_test(tr, test_run_outcomes);
    tcase_add_test(tr, test_run_order);
    tcase_add_test(tr, test_run_per_ip);
    tcase_add_test(tr, test_run_rate);
    tcase_add_test(tr, test_run_per_ip_threads);
    tcase_add_test(tr, test_run_rate_threads);
    tcase_add_test(tr, test_run_many_blackhole);
    tcase_add_test(tr, test_run_fallbacks);
    tcase_add_test(tr, test_run_emfile);
    tcase_add_test(tr, test_run_nofile_lowers_c);
    tcase_add_loop_test(tr, test_uring_fail_hook, 0, 3);
    tcase_add_test(tr, test_run_writer);
    tcase_add_test(tr, test_run_sigint);
    tcase_add_test(tr, test_run_progress);
    tcase_add_test(tr, test_run_stop_after);
    tcase_add_test(tr, test_run_reset_eof_rows);
    tcase_add_test(tr, test_run_signal_before_start);
    tcase_add_test(tr, test_run_slow_sink);
    tcase_add_test(tr, test_status_line);
    tcase_add_test(tr, test_status_pty);
    tcase_add_test(tr, test_status_plain);
    tcase_add_test(tr, test_feed_stream);
    tcase_add_test(tr, test_feed_bounded);
    tcase_add_test(tr, test_feed_interrupted);
    suite_add_tcase(s, tr);

    TCase *tl = tcase_create("lab");
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, test_lab_rows);
    suite_add_tcase(s, tl);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
