/* test_plan.c - the intern pool and the per-host plan: edges with provenance. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/intern.h"
#include "edgeshake/net.h"
#include "edgeshake/plan.h"

START_TEST(test_intern_same_pointer)
{
    struct es_intern *pool = es_intern_new();
    const char *a = es_intern(pool, "shop.example.test");
    char buf[] = "shop.example.test";
    ck_assert_ptr_eq(es_intern(pool, buf), a);
    ck_assert_ptr_ne(es_intern(pool, "shop.example.tesT"), a);
    ck_assert_str_eq(es_intern_n(pool, "abcdef", 3), "abc");
    ck_assert_uint_eq(es_intern_count(pool), 3);
    /* Grows past its first table and arena block and keeps every identity. */
    const char *first[5000];
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof buf, "h%d.test", i);
        first[i] = es_intern(pool, buf);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof buf, "h%d.test", i);
        ck_assert_ptr_eq(es_intern(pool, buf), first[i]);
    }
    ck_assert_uint_eq(es_intern_count(pool), 5003);
    es_intern_free(pool);
}
END_TEST

static struct es_ip ip(const char *s)
{
    struct es_ip v;
    ck_assert(es_ip_parse(s, &v));
    return v;
}

START_TEST(test_plan_provenance)
{
    static const char *const labels[] = {"eu", "us", "ap"};
    static const char *const ecs[] = {"", "198.51.100.0/24", ""};
    static const char *const addrs[] = {"127.0.0.53:53", "127.0.1.53:5353", "[::1]:53"};
    struct es_intern *pool = es_intern_new();
    struct es_plan_ctx ctx = {pool, labels, ecs, addrs, 3};
    struct es_plan *plan = es_plan_new(&ctx);
    es_plan_reset(plan, "shop.test", false);
    struct es_ip a = ip("127.0.0.2"), b = ip("127.0.0.1"), c = ip("::1"), d = ip("127.0.0.9");
    es_plan_add_port(plan, 443);
    es_plan_add(plan, &a, 0, 5.0);
    es_plan_add(plan, &a, 1, 3.5); /* same address, second resolver */
    es_plan_add(plan, &b, 2, 7.0);
    es_plan_add(plan, &c, 1, 2.0);
    es_plan_add_port(plan, 8443);      /* every address on both ports */
    es_plan_add_port(plan, 443);       /* a duplicate port: ignored */
    es_plan_add_pinned(plan, 443, &a); /* HOST@IP beside a resolver's answer: one edge */
    es_plan_add_pinned(plan, 9443, &d);
    size_t n, np;
    es_plan_ports(plan, &np);
    ck_assert_uint_eq(np, 2);
    const struct es_edge *e = es_plan_edges(plan, &n);
    ck_assert_uint_eq(n, 7);
    /* Sorted by port, family, address. */
    char t[ES_IP_TEXT];
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(e[i].host, "shop.test");
    ck_assert_uint_eq(e[0].port, 443);
    ck_assert_str_eq(es_ip_str(&e[0].ip, t, sizeof t), "127.0.0.1");
    ck_assert_str_eq(e[0].resolver, "ap");
    ck_assert_str_eq(e[0].resolver_addr, "[::1]:53");
    ck_assert_str_eq(es_ip_str(&e[1].ip, t, sizeof t), "127.0.0.2");
    ck_assert_str_eq(e[1].resolver, "eu;us");
    ck_assert_str_eq(e[1].ecs, "198.51.100.0/24");
    ck_assert_str_eq(e[1].resolver_addr, "127.0.0.53:53;127.0.1.53:5353");
    ck_assert(e[1].dns_ms == 3.5);
    ck_assert_str_eq(es_ip_str(&e[2].ip, t, sizeof t), "::1");
    ck_assert_str_eq(e[2].resolver, "us");
    ck_assert_uint_eq(e[3].port, 8443);
    ck_assert_str_eq(e[3].resolver, "ap");
    ck_assert_uint_eq(e[5].port, 8443);
    ck_assert_str_eq(es_ip_str(&e[5].ip, t, sizeof t), "::1");
    ck_assert_uint_eq(e[6].port, 9443);
    ck_assert_str_eq(e[6].resolver, "-");
    ck_assert_str_eq(e[6].ecs, "");
    ck_assert_str_eq(e[6].resolver_addr, "");
    ck_assert(e[6].dns_ms < 0);
    /* Joined strings are interned: equal strings are one pointer. */
    ck_assert_ptr_eq(e[1].resolver, e[4].resolver);
    ck_assert_ptr_eq(e[0].resolver, es_intern(pool, "ap"));

    /* Reset: the next host starts empty; an IP target sends no SNI. */
    es_plan_reset(plan, "127.0.0.7", true);
    es_plan_add_pinned(plan, 443, &a);
    e = es_plan_edges(plan, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(e[0].host, "127.0.0.7");
    ck_assert(e[0].host_is_ip);
    es_plan_free(plan);
    es_intern_free(pool);
}
END_TEST

/* --edges addresses (direct) beside the resolvers' answers: merged, and the
 * pool holds one string per distinct subset of resolvers, however many
 * hosts go through the plan. */
START_TEST(test_plan_many_hosts_and_edges)
{
    static const char *const labels[] = {"a", "b"};
    static const char *const ecs[] = {"", ""};
    static const char *const addrs[] = {"127.0.0.1:53", "127.0.0.2:53"};
    struct es_intern *pool = es_intern_new();
    struct es_plan_ctx ctx = {pool, labels, ecs, addrs, 2};
    struct es_plan *plan = es_plan_new(&ctx);
    for (int h = 0; h < 1000; h++) {
        char name[32];
        snprintf(name, sizeof name, "h%d.test", h);
        es_plan_reset(plan, name, false);
        es_plan_add_port(plan, 443);
        for (int i = 0; i < 2000; i++) { /* --edges: 127.0.i/256.i%256 */
            struct es_ip v = {.family = AF_INET};
            v.bytes[0] = 127;
            v.bytes[2] = (uint8_t)(i / 256);
            v.bytes[3] = (uint8_t)(i % 256);
            es_plan_add(plan, &v, ES_PLAN_DIRECT, -1);
        }
        for (int r = 0; r < 2; r++) {
            struct es_ip v = {.family = AF_INET};
            v.bytes[0] = 127;
            v.bytes[3] = (uint8_t)(h % 7); /* one of the --edges addresses */
            es_plan_add(plan, &v, r, 1.0);
        }
        size_t n;
        const struct es_edge *e = es_plan_edges(plan, &n);
        ck_assert_uint_eq(n, 2000);
        ck_assert_str_eq(e[h % 7].resolver, "a;b");
        ck_assert_str_eq(e[h % 7 == 0 ? 1 : 0].resolver, "-");
        ck_assert_str_eq(e[0].host, name);
    }
    /* "-", "", "a;b", "127.0.0.1:53;127.0.0.2:53" */
    ck_assert_uint_eq(es_intern_count(pool), 4);
    es_plan_free(plan);
    es_intern_free(pool);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, test_intern_same_pointer);
    tcase_add_test(tc, test_plan_provenance);
    tcase_add_test(tc, test_plan_many_hosts_and_edges);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
