/* test_probes_lab.c - issue #16 items 1-3 end to end on 127.96.0.0/16:
 * `edgeshake scan --hello plain|pq|split --http-check` against `edgeshake
 * lab` edges with fault=sni_router, max_hello=, http_status= and
 * clock_skew=, exact rows; and a raw listener in this process that records
 * how the ClientHello arrives (one recv per segment: the pq and split
 * hellos really come in two, the first of pq exactly ES_HELLO_FIRST_SEGMENT
 * bytes, the first of split ending right before server_name). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edgeshake/hello.h"
#include "edgeshake/util.h"
#include "testlib.h"

static const char spec[] = "# test_probes_lab: 127.96.0.0/16\n"
                           "edge 127.96.1.1:8443 cert=shop.test\n"
                           "edge 127.96.1.2:8443 cert=shop.test fault=sni_router\n"
                           "edge 127.96.1.3:8443 cert=shop.test max_hello=1024\n"
                           "edge 127.96.1.4:8443 cert=shop.test http_status=525 clock_skew=-120\n"
                           "edge 127.96.1.5:8443 cert=shop.test alpn=http/1.1 http_status=404 "
                           "clock_skew=3600\n";

/* The expected row of (ip, hello); "" = empty. */
struct want {
    const char *ip, *hello;
    const char *status, *error, *stage, *alpn, *h2, *http_status, *http_server;
    long skew; /* LONG_MIN = empty */
    const char *problem;
};

#define NOSKEW LONG_MIN
#define RESET  "tls_error", "connection_reset", "client_hello", "", "", "", ""

static const struct want wants[] = {
    {"127.96.1.1", "plain", "ok", "", "http", "h2", "ok", "200", "edgeshake-lab", 0, ""},
    {"127.96.1.1", "pq", "ok", "", "http", "h2", "ok", "200", "edgeshake-lab", 0, ""},
    {"127.96.1.1", "split", "ok", "", "http", "h2", "ok", "200", "edgeshake-lab", 0, ""},
    /* the SNI router reads one segment */
    {"127.96.1.2", "plain", "ok", "", "http", "h2", "ok", "200", "edgeshake-lab", 0, ""},
    {"127.96.1.2", "pq", RESET, NOSKEW, "tls"},
    {"127.96.1.2", "split", RESET, NOSKEW, "tls"},
    /* max_hello=1024: only the post-quantum size is too big */
    {"127.96.1.3", "plain", "ok", "", "http", "h2", "ok", "200", "edgeshake-lab", 0, ""},
    {"127.96.1.3", "pq", RESET, NOSKEW, "tls"},
    {"127.96.1.3", "split", "ok", "", "http", "h2", "ok", "200", "edgeshake-lab", 0, ""},
    /* the CDN cannot reach its origin, and its clock is slow */
    {"127.96.1.4", "plain", "ok", "", "http", "h2", "ok", "525", "edgeshake-lab", -120, "http"},
    {"127.96.1.4", "pq", "ok", "", "http", "h2", "ok", "525", "edgeshake-lab", -120, "http"},
    {"127.96.1.4", "split", "ok", "", "http", "h2", "ok", "525", "edgeshake-lab", -120, "http"},
    /* HTTP/1.1 only: the GET goes out as HTTP/1.1; 404 is not a problem */
    {"127.96.1.5", "plain", "ok", "", "http", "http/1.1", "", "404", "edgeshake-lab", 3600, ""},
    {"127.96.1.5", "pq", "ok", "", "http", "http/1.1", "", "404", "edgeshake-lab", 3600, ""},
    {"127.96.1.5", "split", "ok", "", "http", "http/1.1", "", "404", "edgeshake-lab", 3600, ""},
};

static struct tl_lab lab;

static size_t find(const struct tl_table *t, const char *ip, const char *hello)
{
    size_t hit = SIZE_MAX;
    for (size_t r = 0; r < t->nrows; r++)
        if (!strcmp(tl_cell(t, r, "ip"), ip) && !strcmp(tl_cell(t, r, "hello"), hello)) {
            ck_assert_msg(hit == SIZE_MAX, "two rows for %s %s", ip, hello);
            hit = r;
        }
    ck_assert_msg(hit != SIZE_MAX, "no row for %s %s", ip, hello);
    return hit;
}

static void check(const struct tl_table *t, size_t r, const char *col, const char *want,
                  const struct want *w)
{
    ck_assert_msg(!strcmp(tl_cell(t, r, col), want), "%s %s: %s = '%s', want '%s'", w->ip, w->hello,
                  col, tl_cell(t, r, col), want);
}

START_TEST(test_rows)
{
    tl_lab_start(&lab, spec);
    char ca[600];
    snprintf(ca, sizeof ca, "%s/ca.crt", lab.dir);
    const char *argv[] = {"scan",
                          "-q",
                          "--ca-file",
                          ca,
                          "--tls",
                          "1.3",
                          "--hello",
                          "plain",
                          "--hello",
                          "pq",
                          "--hello",
                          "split",
                          "--http-check",
                          "/status",
                          "--timeout",
                          "10000",
                          "shop.test:8443@127.96.1.1",
                          "shop.test:8443@127.96.1.2",
                          "shop.test:8443@127.96.1.3",
                          "shop.test:8443@127.96.1.4",
                          "shop.test:8443@127.96.1.5",
                          NULL};
    char *out, *err;
    int st = tl_run(argv, NULL, &out, &err, 60000);
    ck_assert_msg(st == 0, "scan exit %d: %s", st, err);
    free(err);
    struct tl_table t;
    tl_table_parse(&t, out);
    ck_assert_uint_eq(t.nrows, 15);
    long plain_bytes = -1;
    for (size_t i = 0; i < ES_ARRAY_LEN(wants); i++) {
        const struct want *w = &wants[i];
        size_t r = find(&t, w->ip, w->hello);
        check(&t, r, "status", w->status, w);
        check(&t, r, "error", w->error, w);
        check(&t, r, "stage", w->stage, w);
        check(&t, r, "alpn", w->alpn, w);
        check(&t, r, "h2", w->h2, w);
        check(&t, r, "http_status", w->http_status, w);
        check(&t, r, "http_server", w->http_server, w);
        check(&t, r, "problem", w->problem, w);
        check(&t, r, "h3_advertised", !strcmp(w->status, "ok") ? "no" : "", w);
        const char *skew = tl_cell(&t, r, "clock_skew_s");
        if (w->skew == NOSKEW) {
            ck_assert_str_eq(skew, "");
        } else {
            /* Date has whole seconds: a second may tick between the two clocks */
            long s = atol(skew);
            ck_assert_msg(*skew && labs(s - w->skew) <= 1, "%s %s: clock_skew_s '%s', want %ld",
                          w->ip, w->hello, skew, w->skew);
        }
        /* hello_bytes: the same ClientHello for plain and split (same host);
         * pq at least one X25519MLKEM768 key share bigger */
        long hb = atol(tl_cell(&t, r, "hello_bytes"));
        if (plain_bytes < 0 && !strcmp(w->hello, "plain"))
            plain_bytes = hb;
        ck_assert_int_gt(hb, 0);
        if (strcmp(w->hello, "pq") == 0)
            ck_assert_int_ge(hb, plain_bytes + ES_HELLO_PQ_EXTRA);
        else
            ck_assert_int_eq(hb, plain_bytes);
        char vname[64];
        snprintf(vname, sizeof vname, "tls1.3/h2,http1.1/sni%s%s",
                 strcmp(w->hello, "plain") ? "/" : "", strcmp(w->hello, "plain") ? w->hello : "");
        check(&t, r, "variant", vname, w);
    }
    tl_table_free(&t);
    tl_lab_stop(&lab);
}
END_TEST

/* ---- how the ClientHello arrives --------------------------------------- */

struct listener {
    int fd;
    size_t sizes[16], nreads, total;
    uint8_t buf[8192];
};

/* Accepts one connection and reads until the first record is whole (or
 * EOF, or 5 s of silence), one size per recv; then closes. */
static void *listen_main(void *arg)
{
    struct listener *L = arg;
    int c = accept(L->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    for (;;) {
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            break;
        ssize_t n = recv(c, L->buf + L->total, sizeof L->buf - L->total, 0);
        if (n <= 0)
            break;
        if (L->nreads < ES_ARRAY_LEN(L->sizes))
            L->sizes[L->nreads] = (size_t)n;
        L->nreads++;
        L->total += (size_t)n;
        struct es_hello_info info;
        if (es_hello_parse(L->buf, L->total, &info) != ES_HELLO_PARTIAL)
            break;
    }
    close(c);
    return NULL;
}

static int listen_on(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

static const char *const shapes[] = {"plain", "pq", "split"};

START_TEST(test_segments)
{
    const char *shape = shapes[_i];
    struct listener L = {.fd = listen_on("127.96.2.1", 8443)};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, listen_main, &L), 0);
    const char *argv[] = {"scan",    "-q",  "--no-verify", "--tls", "1.3",
                          "--hello", shape, "--timeout",   "5000",  "shop.test:8443@127.96.2.1",
                          NULL};
    char *out, *err;
    int st = tl_run(argv, NULL, &out, &err, 30000);
    ck_assert_msg(st == 0, "scan exit %d: %s", st, err);
    pthread_join(th, NULL);
    close(L.fd);
    free(err);
    struct tl_table t;
    tl_table_parse(&t, out);
    ck_assert_uint_eq(t.nrows, 1);
    ck_assert_str_eq(tl_cell(&t, 0, "hello"), shape);
    ck_assert_uint_eq(L.total, (size_t)atol(tl_cell(&t, 0, "hello_bytes")));

    struct es_hello_info info;
    ck_assert_int_eq(es_hello_parse(L.buf, L.total, &info), ES_HELLO_COMPLETE);
    ck_assert_uint_eq(info.name_len, 9);
    ck_assert(memcmp(L.buf + info.name_off, "shop.test", 9) == 0);
    if (!strcmp(shape, "plain")) {
        ck_assert_uint_eq(L.nreads, 1);
    } else {
        /* two segments, the pause between them kept them apart */
        ck_assert_msg(L.nreads == 2, "%s: %zu reads (%zu, %zu)", shape, L.nreads, L.sizes[0],
                      L.sizes[1]);
        size_t first = !strcmp(shape, "pq") ? ES_HELLO_FIRST_SEGMENT : info.sni_off;
        ck_assert_uint_eq(L.sizes[0], first);
        ck_assert_uint_ge(info.sni_off, L.sizes[0]); /* no part of the SNI in the first */
    }
    tl_table_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("probes_lab");
    TCase *t = tcase_create("lab");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_rows);
    tcase_add_loop_test(t, test_segments, 0, (int)ES_ARRAY_LEN(shapes));
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
