/* test_plan.c - the intern pool and the edge set with provenance. */
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
    struct es_intern *pool = es_intern_new();
    struct es_plan *plan = es_plan_new(pool, labels, ecs, 3);
    const char *shop = es_intern(pool, "shop.test"), *api = es_intern(pool, "api.test");
    struct es_ip a = ip("127.0.0.2"), b = ip("127.0.0.1"), c = ip("::1");
    es_plan_add(plan, shop, false, 443, &a, 0, 5.0);
    es_plan_add(plan, shop, false, 443, &a, 1, 3.5); /* same edge, second resolver */
    es_plan_add(plan, shop, false, 443, &b, 2, 7.0);
    es_plan_add(plan, shop, false, 8443, &a, 0, 1.0); /* another port: another edge */
    es_plan_add(plan, shop, false, 443, &c, 1, 2.0);
    es_plan_add(plan, api, false, 443, &a, ES_PLAN_DIRECT, -1);
    size_t n;
    const struct es_edge *e = es_plan_finish(plan, &n);
    ck_assert_uint_eq(n, 5);
    /* Sorted by host, port, family, address. */
    char t[ES_IP_TEXT];
    ck_assert_str_eq(e[0].host, "api.test");
    ck_assert_str_eq(e[0].resolver, "-");
    ck_assert_str_eq(e[0].ecs, "");
    ck_assert(e[0].dns_ms < 0);
    ck_assert_str_eq(es_ip_str(&e[1].ip, t, sizeof t), "127.0.0.1");
    ck_assert_str_eq(e[1].resolver, "ap");
    ck_assert_str_eq(es_ip_str(&e[2].ip, t, sizeof t), "127.0.0.2");
    ck_assert_str_eq(e[2].resolver, "eu;us");
    ck_assert_str_eq(e[2].ecs, "198.51.100.0/24");
    ck_assert(e[2].dns_ms == 3.5);
    ck_assert_str_eq(es_ip_str(&e[3].ip, t, sizeof t), "::1");
    ck_assert_str_eq(e[3].resolver, "us");
    ck_assert_uint_eq(e[4].port, 8443);
    ck_assert_str_eq(e[4].resolver, "eu");
    /* Labels are interned: equal strings are one pointer. */
    ck_assert_ptr_eq(e[4].resolver, es_intern(pool, "eu"));
    es_plan_free(plan);
    es_intern_free(pool);
}
END_TEST

START_TEST(test_plan_many_edges)
{
    static const char *const labels[] = {"a", "b"};
    static const char *const ecs[] = {"", ""};
    struct es_intern *pool = es_intern_new();
    struct es_plan *plan = es_plan_new(pool, labels, ecs, 2);
    char name[32];
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 20000; i++) {
            snprintf(name, sizeof name, "h%d.test", i % 1000);
            struct es_ip v = {.family = AF_INET};
            v.bytes[0] = 127;
            v.bytes[3] = (uint8_t)(i / 1000);
            es_plan_add(plan, es_intern(pool, name), false, 443, &v, r, 1.0);
        }
    size_t n;
    const struct es_edge *e = es_plan_finish(plan, &n);
    ck_assert_uint_eq(n, 20000);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(e[i].resolver, "a;b");
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
    tcase_add_test(tc, test_plan_many_edges);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
