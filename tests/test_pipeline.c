/* test_pipeline.c - the streaming pipeline (pipeline.h) against a lab on
 * 127.91.0.0/16: hosts leave at their per-host barrier while later targets
 * are still unread, the window bounds what is held, a silent resolver holds
 * only its own budget, and a bad target stops the stream. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/dns.h"
#include "edgeshake/intern.h"
#include "edgeshake/net.h"
#include "edgeshake/pipeline.h"
#include "edgeshake/resolver.h"
#include "edgeshake/target.h"
#include "testlib.h"

static struct tl_lab lab;

static void lab_up(void)
{
    tl_lab_start(&lab, "resolver eu 127.91.53.1:5353\n"
                       "resolver us 127.91.53.2:5353\n"
                       "resolver dead 127.91.53.9:5353 fault=drop\n"
                       "host *.p.test eu=127.91.1.1,127.91.1.2 us=127.91.1.2\n");
}

static void lab_down(void)
{
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}

enum { HOSTS = 3000 };

struct sink {
    struct es_pipeline *pl;
    unsigned char seen[HOSTS];
    uint64_t edges, failures;
    uint64_t targets_at_first_edge; /* targets read when the first host left */
    bool first;
    size_t max_window_at_call;
};

static int on_edges(void *arg, const struct es_edge *e, size_t n)
{
    struct sink *k = arg;
    const struct es_pipeline_stats *st = es_pipeline_stats(k->pl);
    if (!k->first) {
        k->first = true;
        k->targets_at_first_edge = st->targets;
    }
    int h = atoi(e[0].host + 1);
    ck_assert(h >= 0 && h < HOSTS);
    ck_assert_msg(!k->seen[h]++, "host %d handed over twice", h);
    ck_assert_uint_eq(n, 2);
    char ip[ES_IP_TEXT];
    ck_assert_str_eq(es_ip_str(&e[0].ip, ip, sizeof ip), "127.91.1.1");
    ck_assert_str_eq(e[0].resolver, "eu");
    ck_assert_str_eq(e[1].resolver, "eu;us");
    ck_assert_str_eq(e[1].resolver_addr, "127.91.53.1:5353;127.91.53.2:5353");
    k->edges += n;
    return 0;
}

static void on_failure(void *arg, const struct es_dns_failure *f)
{
    struct sink *k = arg;
    ck_assert_str_eq(f->label, "dead");
    ck_assert_ptr_eq(f->error, es_dns_timeout);
    ck_assert_str_eq(f->resolver_addr, "127.91.53.9:5353");
    k->failures++;
}

static void run(const char *const *rv, size_t nr, size_t window, struct sink *k)
{
    char *text = malloc(HOSTS * 24);
    size_t off = 0;
    for (int i = 0; i < HOSTS; i++)
        off += (size_t)sprintf(text + off, "h%d.p.test\n", i);
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "targets.txt", text);
    free(text);
    char err[512];
    struct es_target_reader *rd = es_target_reader_new(NULL, 0, path, 443, err, sizeof err);
    ck_assert_msg(rd != NULL, "%s", err);
    size_t nres;
    struct es_resolver_spec *res = es_resolvers_parse(rv, nr, &nres, err, sizeof err);
    ck_assert_msg(res != NULL, "%s", err);
    struct es_intern *pool = es_intern_new();
    const char *labels[4], *ecs[4];
    for (size_t i = 0; i < nres; i++) {
        labels[i] = es_intern(pool, res[i].label);
        ecs[i] = es_intern(pool, "");
    }
    struct es_pipeline_params p = {
        .reader = rd,
        .family = ES_DNS_FAMILY_4,
        .shard_i = 0,
        .shard_n = 1,
        .resolvers = res,
        .nresolvers = nres,
        .labels = labels,
        .ecs = ecs,
        .pool = pool,
        .dns_timeout_ms = 300,
        .dns_retries = 0,
        .window = window,
        .lookahead = 16,
        .sink = {.edges = on_edges, .dns_failure = on_failure, .arg = k},
    };
    k->pl = es_pipeline_new(&p, err, sizeof err);
    ck_assert_msg(k->pl != NULL, "%s", err);
    ck_assert_int_eq(es_pipeline_run(k->pl, err, sizeof err), ES_PIPELINE_DONE);
    const struct es_pipeline_stats *st = es_pipeline_stats(k->pl);
    ck_assert_uint_eq(st->targets, HOSTS);
    ck_assert_uint_eq(st->hosts, HOSTS);
    ck_assert_uint_le(st->max_window, window);
    k->max_window_at_call = st->max_window;
    for (int h = 0; h < HOSTS; h++)
        ck_assert_msg(k->seen[h] == 1, "host %d: %d", h, k->seen[h]);
    ck_assert_uint_eq(k->edges, 2 * HOSTS);
    es_pipeline_free(k->pl);
    es_intern_free(pool);
    free(res);
    es_target_reader_free(rd);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

/* Hosts leave as soon as their resolvers have answered: the first host is
 * handed over while most targets are still unread, and no more than the
 * window is ever held. */
START_TEST(test_streams_through_window)
{
    const char *rv[] = {"eu=127.91.53.1:5353", "us=127.91.53.2:5353"};
    struct sink *k = calloc(1, sizeof *k);
    run(rv, 2, 64, k);
    ck_assert_uint_eq(k->failures, 0);
    ck_assert_msg(k->targets_at_first_edge < HOSTS / 2, "first host left after %llu targets",
                  (unsigned long long)k->targets_at_first_edge);
    free(k);
}
END_TEST

/* A resolver that drops everything: every host still gets its edges from the
 * live resolvers and one dns_timeout from the dead one; the window fills with
 * hosts that wait only for it. */
START_TEST(test_silent_resolver)
{
    const char *rv[] = {"eu=127.91.53.1:5353", "dead=127.91.53.9:5353", "us=127.91.53.2:5353"};
    struct sink *k = calloc(1, sizeof *k);
    run(rv, 3, 2048, k);
    ck_assert_uint_eq(k->failures, HOSTS);
    /* more hosts waited at once than the 512 fresh ones: the dead resolver
     * did not hold the others back */
    ck_assert_uint_gt(k->max_window_at_call, 512);
    free(k);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("lab");
    tcase_add_unchecked_fixture(tc, lab_up, lab_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_streams_through_window);
    tcase_add_test(tc, test_silent_resolver);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
