/* test_resolver.c - the -r LABEL=ADDR[:PORT][,ecs=SUBNET] parser: good values
 * with every field checked, bad values with their exact messages, and the
 * list rules (default `system`, duplicate labels). */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/net.h"
#include "edgeshake/resolver.h"

#define EXPECTED "; expected LABEL=ADDR[:PORT][,ecs=SUBNET]"

struct good_case {
    const char *value;
    const char *label;
    bool system;
    const char *addr; /* es_endpoint_str of the address; NULL when system */
    const char *ecs;  /* ecs_text; "" = none */
    unsigned ecs_prefix;
};

static const struct good_case good[] = {
    {"eu=127.20.53.1", "eu", false, "127.20.53.1:53", "", 0},
    {"eu=127.20.53.1:5353", "eu", false, "127.20.53.1:5353", "", 0},
    {"us-east_1=[::1]", "us-east_1", false, "[::1]:53", "", 0},
    {"v6=[2001:db8::53]:5300", "v6", false, "[2001:db8::53]:5300", "", 0},
    {"ap=127.20.53.3:53,ecs=198.51.100.0/24", "ap", false, "127.20.53.3:53", "198.51.100.0/24", 24},
    /* bits past the prefix are cleared, and the text says what is sent */
    {"ap=127.20.53.3,ecs=198.51.100.77/20", "ap", false, "127.20.53.3:53", "198.51.96.0/20", 20},
    {"x=[::1]:53,ecs=2001:db8:abcd::1/48", "x", false, "[::1]:53", "2001:db8:abcd::/48", 48},
    {"z=127.0.0.1,ecs=0.0.0.0/0", "z", false, "127.0.0.1:53", "0.0.0.0/0", 0},
    {"f=127.0.0.1,ecs=10.1.2.3/32", "f", false, "127.0.0.1:53", "10.1.2.3/32", 32},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345=127.0.0.1", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", false,
     "127.0.0.1:53", "", 0},
    {"port=127.0.0.1:65535", "port", false, "127.0.0.1:65535", "", 0},
    {"system", "system", true, NULL, "", 0},
};

START_TEST(test_good)
{
    const struct good_case *c = &good[_i];
    struct es_resolver_spec r;
    char err[512] = "";
    memset(&r, 0x5a, sizeof r);
    ck_assert_msg(es_resolver_parse(c->value, &r, err, sizeof err), "%s: %s", c->value, err);
    ck_assert_str_eq(r.label, c->label);
    ck_assert_int_eq(r.system, c->system);
    if (c->addr) {
        char buf[ES_ENDPOINT_TEXT];
        ck_assert_str_eq(es_endpoint_str(&r.addr, buf, sizeof buf), c->addr);
    }
    ck_assert_str_eq(r.ecs_text, c->ecs);
    ck_assert_int_eq(r.has_ecs, c->ecs[0] != '\0');
    if (r.has_ecs) {
        ck_assert_uint_eq(r.ecs_prefix, c->ecs_prefix);
        /* the address as stored matches the text, bytes past it are zero */
        char text[ES_IP_TEXT + 4];
        char ip[ES_IP_TEXT];
        snprintf(text, sizeof text, "%s/%u", es_ip_str(&r.ecs, ip, sizeof ip), r.ecs_prefix);
        ck_assert_str_eq(text, c->ecs);
        if (r.ecs.family == AF_INET)
            for (int i = 4; i < 16; i++)
                ck_assert_uint_eq(r.ecs.bytes[i], 0);
    }
}
END_TEST

struct bad_case {
    const char *value;
    const char *message; /* the whole message */
};

static const struct bad_case bad[] = {
    {"", "-r '': empty value" EXPECTED},
    {"eu", "-r 'eu': missing '=' between LABEL and ADDR" EXPECTED},
    {"127.0.0.1", "-r '127.0.0.1': missing '=' between LABEL and ADDR" EXPECTED},
    {"=127.0.0.1", "-r '=127.0.0.1': empty label before '='" EXPECTED},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456=127.0.0.1",
     "-r 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456=127.0.0.1': label is 33 characters long, the limit "
     "is 32" EXPECTED},
    {"e u=127.0.0.1",
     "-r 'e u=127.0.0.1': label 'e u' may only hold letters, digits, '_' and '-'" EXPECTED},
    {"eu.west=127.0.0.1",
     "-r 'eu.west=127.0.0.1': label 'eu.west' may only hold letters, digits, '_' and '-'" EXPECTED},
    {"system=127.0.0.1", "-r 'system=127.0.0.1': label 'system' is reserved for the "
                         "/etc/resolv.conf resolver (-r system)" EXPECTED},
    {"eu=", "-r 'eu=': missing address after '='" EXPECTED},
    {"eu=:53", "-r 'eu=:53': missing address after '='" EXPECTED},
    {"eu=dns.google", "-r 'eu=dns.google': 'dns.google' is not an IPv4 address or a bracketed IPv6 "
                      "address" EXPECTED},
    {"eu=1.2.3",
     "-r 'eu=1.2.3': '1.2.3' is not an IPv4 address or a bracketed IPv6 address" EXPECTED},
    {"eu=256.1.1.1:53", "-r 'eu=256.1.1.1:53': '256.1.1.1' is not an IPv4 address or a bracketed "
                        "IPv6 address" EXPECTED},
    {"eu=2001:db8::53",
     "-r 'eu=2001:db8::53': an IPv6 address needs brackets, as in [2001:db8::53]:53" EXPECTED},
    {"eu=[::1", "-r 'eu=[::1': missing ']' after the IPv6 address" EXPECTED},
    {"eu=[127.0.0.1]:53", "-r 'eu=[127.0.0.1]:53': '127.0.0.1' is not an IPv6 address" EXPECTED},
    {"eu=[::1]53", "-r 'eu=[::1]53': unexpected '53' after ']'" EXPECTED},
    {"eu=[]:53", "-r 'eu=[]:53': missing address after '='" EXPECTED},
    {"eu=127.0.0.1:", "-r 'eu=127.0.0.1:': empty port after ':'" EXPECTED},
    {"eu=127.0.0.1:0", "-r 'eu=127.0.0.1:0': port '0' is not a number from 1 to 65535" EXPECTED},
    {"eu=127.0.0.1:65536",
     "-r 'eu=127.0.0.1:65536': port '65536' is not a number from 1 to 65535" EXPECTED},
    {"eu=127.0.0.1:dns",
     "-r 'eu=127.0.0.1:dns': port 'dns' is not a number from 1 to 65535" EXPECTED},
    {"eu=[::1]:-1", "-r 'eu=[::1]:-1': port '-1' is not a number from 1 to 65535" EXPECTED},
    {"eu=127.0.0.1,", "-r 'eu=127.0.0.1,': empty option after ','" EXPECTED},
    {"eu=127.0.0.1,,ecs=1.2.3.0/24",
     "-r 'eu=127.0.0.1,,ecs=1.2.3.0/24': empty option after ','" EXPECTED},
    {"eu=127.0.0.1,tcp=1",
     "-r 'eu=127.0.0.1,tcp=1': unknown option 'tcp'; the only option is ecs=SUBNET" EXPECTED},
    {"eu=127.0.0.1,ecs",
     "-r 'eu=127.0.0.1,ecs': ecs needs a subnet, as in ecs=198.51.100.0/24" EXPECTED},
    {"eu=127.0.0.1,ecs=", "-r 'eu=127.0.0.1,ecs=': empty ecs subnet" EXPECTED},
    {"eu=127.0.0.1,ecs=198.51.100.0",
     "-r 'eu=127.0.0.1,ecs=198.51.100.0': ecs subnet '198.51.100.0' needs a prefix length, as in "
     "198.51.100.0/24" EXPECTED},
    {"eu=127.0.0.1,ecs=shop/24",
     "-r 'eu=127.0.0.1,ecs=shop/24': ecs subnet 'shop' is not an IP address" EXPECTED},
    {"eu=127.0.0.1,ecs=198.51.100.0/33",
     "-r 'eu=127.0.0.1,ecs=198.51.100.0/33': ecs prefix length '33' is not a number from 0 to "
     "32" EXPECTED},
    {"eu=127.0.0.1,ecs=2001:db8::/129",
     "-r 'eu=127.0.0.1,ecs=2001:db8::/129': ecs prefix length '129' is not a number from 0 to "
     "128" EXPECTED},
    {"eu=127.0.0.1,ecs=198.51.100.0/",
     "-r 'eu=127.0.0.1,ecs=198.51.100.0/': ecs prefix length '' is not a number from 0 to "
     "32" EXPECTED},
    {"eu=127.0.0.1,ecs=198.51.100.0/24,ecs=10.0.0.0/8",
     "-r 'eu=127.0.0.1,ecs=198.51.100.0/24,ecs=10.0.0.0/8': ecs given twice" EXPECTED},
};

START_TEST(test_bad)
{
    const struct bad_case *c = &bad[_i];
    struct es_resolver_spec r;
    char err[512] = "";
    ck_assert_msg(!es_resolver_parse(c->value, &r, err, sizeof err), "'%s' was accepted", c->value);
    ck_assert_str_eq(err, c->message);
}
END_TEST

START_TEST(test_default_is_system)
{
    size_t n = 99;
    char err[256] = "";
    struct es_resolver_spec *r = es_resolvers_parse(NULL, 0, &n, err, sizeof err);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(r[0].label, "system");
    ck_assert(r[0].system);
    ck_assert(!r[0].has_ecs);
    free(r);
}
END_TEST

START_TEST(test_list_in_order)
{
    const char *v[] = {"eu=127.20.53.1:5353", "system", "us=[::1]:5353,ecs=2001:db8::/32"};
    size_t n = 0;
    char err[256] = "";
    struct es_resolver_spec *r = es_resolvers_parse(v, 3, &n, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(r[0].label, "eu");
    ck_assert_str_eq(r[1].label, "system");
    ck_assert(r[1].system && !r[0].system && !r[2].system);
    ck_assert_str_eq(r[2].label, "us");
    ck_assert_str_eq(r[2].ecs_text, "2001:db8::/32");
    free(r);
}
END_TEST

START_TEST(test_duplicate_label)
{
    const char *v[] = {"eu=127.20.53.1", "us=127.20.53.2", "eu=127.20.53.3:5353"};
    size_t n = 0;
    char err[256] = "";
    ck_assert_ptr_null(es_resolvers_parse(v, 3, &n, err, sizeof err));
    ck_assert_str_eq(err, "-r 'eu=127.20.53.3:5353': duplicate label 'eu' (also in -r "
                          "'eu=127.20.53.1')" EXPECTED);
    const char *s[] = {"system", "system"};
    ck_assert_ptr_null(es_resolvers_parse(s, 2, &n, err, sizeof err));
    ck_assert_str_eq(err, "-r 'system': duplicate label 'system' (also in -r 'system')" EXPECTED);
}
END_TEST

START_TEST(test_bad_in_list)
{
    const char *v[] = {"eu=127.20.53.1", "us=127.20.53.2:0"};
    size_t n = 0;
    char err[256] = "";
    ck_assert_ptr_null(es_resolvers_parse(v, 2, &n, err, sizeof err));
    ck_assert_str_eq(err,
                     "-r 'us=127.20.53.2:0': port '0' is not a number from 1 to 65535" EXPECTED);
}
END_TEST

START_TEST(test_error_truncated)
{
    /* a small err buffer gets a truncated, NUL-terminated message */
    struct es_resolver_spec r;
    char err[16];
    memset(err, 'x', sizeof err);
    ck_assert(!es_resolver_parse("eu=127.0.0.1:0", &r, err, sizeof err));
    ck_assert_str_eq(err, "-r 'eu=127.0.0.");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resolver");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, test_good, 0, (int)(sizeof good / sizeof good[0]));
    tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_default_is_system);
    tcase_add_test(tc, test_list_in_order);
    tcase_add_test(tc, test_duplicate_label);
    tcase_add_test(tc, test_bad_in_list);
    tcase_add_test(tc, test_error_truncated);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
