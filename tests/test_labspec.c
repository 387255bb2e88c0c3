/* test_labspec.c - the lab spec parser: every option of a good spec, the
 * defaults, merged host lines, the answer lookup, the demo spec, and a table
 * of bad specs with their exact "file:line:" and message. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/labspec.h"
#include "edgeshake/net.h"
#include "edgeshake/util.h"
#include "testlib.h"

static struct es_labspec *parse_ok(const char *text)
{
    char err[512] = "";
    struct es_labspec *spec = es_labspec_parse(text, strlen(text), "t.lab", err, sizeof err);
    ck_assert_msg(spec != NULL, "parse failed: %s", err);
    return spec;
}

static const char *ip_text(const struct es_ip *ip)
{
    static char buf[4][ES_IP_TEXT];
    static unsigned n;
    return es_ip_str(ip, buf[n++ % 4], ES_IP_TEXT);
}

static const char *ep_text(const struct es_endpoint *ep)
{
    static char buf[4][ES_ENDPOINT_TEXT];
    static unsigned n;
    return es_endpoint_str(ep, buf[n++ % 4], ES_ENDPOINT_TEXT);
}

/* ---- a good spec with every declaration and option ---- */

static const char full_spec[] =
    "# a spec that uses everything\n"
    "resolver eu 127.0.0.1:5353\n"
    "resolver us [::1]:53 fault=servfail   # comment after content\n"
    "resolver dead\t127.0.0.2\tfault=drop\n"
    "resolver nx 127.0.0.3 fault=refused\n"
    "\n"
    "host Shop.Example.Test. eu=127.1.0.1,::1 us=nxdomain dead=drop\n"
    "host shop.example.test ecs:198.51.100.0/24=127.1.0.3 ecs:2001:db8::/32=refused\n"
    "host api.example.test us=servfail eu=127.1.0.2\r\n"
    "edge 127.1.0.1:8443 cert=*.Example.Test:expired key=rsa tls=1.0,1.1,1.2,1.3 "
    "ciphers=ECDHE-RSA-AES128-GCM-SHA256 ciphersuites=TLS_AES_128_GCM_SHA256 "
    "groups=X25519:P-256 alpn=h2 alpn_strict=yes sni=strict h2=broken delay=250 flaky=30 "
    "fault=drip\n"
    "edge [::1]:8443 cert=x.test:future tls=1.3 alpn=none alpn_strict=no sni=any h2=ok "
    "delay=600000 flaky=100 fault=refuse\n"
    "edge 127.1.0.3:8443 cert=y.test:wrong fault=blackhole\n"
    "edge 127.1.0.4:8443 cert=z.test:selfsigned fault=reset key=ecdsa\n"
    "edge 127.1.0.5:8443 cert=:expired fault=garbage\n"
    "edge 127.1.0.2:8443 fault=http tls=1.2\n"
    "edge 127.1.0.3:9443 alpn=http/1.1,h2,x\n";

START_TEST(test_full_resolvers)
{
    struct es_labspec *s = parse_ok(full_spec);
    ck_assert_str_eq(s->path, "t.lab");
    ck_assert_uint_eq(s->nresolvers, 4);
    const struct {
        unsigned line;
        const char *label, *addr;
        enum es_lab_dnsfault fault;
    } want[] = {
        {2, "eu", "127.0.0.1:5353", ES_DNS_ANSWER},
        {3, "us", "[::1]:53", ES_DNS_SERVFAIL},
        {4, "dead", "127.0.0.2:53", ES_DNS_DROP},
        {5, "nx", "127.0.0.3:53", ES_DNS_REFUSED},
    };
    for (size_t i = 0; i < 4; i++) {
        const struct es_lab_resolver *r = &s->resolvers[i];
        ck_assert_uint_eq(r->line, want[i].line);
        ck_assert_str_eq(r->label, want[i].label);
        ck_assert_str_eq(ep_text(&r->addr), want[i].addr);
        ck_assert_int_eq(r->fault, want[i].fault);
    }
    es_labspec_free(s);
}
END_TEST

START_TEST(test_full_hosts)
{
    struct es_labspec *s = parse_ok(full_spec);
    ck_assert_uint_eq(s->nhosts, 2);
    const struct es_lab_host *h = &s->hosts[0];
    ck_assert_str_eq(h->name, "shop.example.test");
    ck_assert_uint_eq(h->line, 7);
    ck_assert_uint_eq(h->nanswers, 5);
    /* eu=127.1.0.1,::1 */
    ck_assert_uint_eq(h->answers[0].line, 7);
    ck_assert_str_eq(h->answers[0].label, "eu");
    ck_assert_int_eq(h->answers[0].kind, ES_DNS_ANSWER);
    ck_assert_uint_eq(h->answers[0].nips, 2);
    ck_assert_str_eq(ip_text(&h->answers[0].ips[0]), "127.1.0.1");
    ck_assert_int_eq(h->answers[0].ips[0].family, AF_INET);
    ck_assert_str_eq(ip_text(&h->answers[0].ips[1]), "::1");
    ck_assert_int_eq(h->answers[0].ips[1].family, AF_INET6);
    /* us=nxdomain dead=drop */
    ck_assert_str_eq(h->answers[1].label, "us");
    ck_assert_int_eq(h->answers[1].kind, ES_DNS_NXDOMAIN);
    ck_assert_uint_eq(h->answers[1].nips, 0);
    ck_assert_ptr_null(h->answers[1].ips);
    ck_assert_str_eq(h->answers[2].label, "dead");
    ck_assert_int_eq(h->answers[2].kind, ES_DNS_DROP);
    /* line 8, merged into the same host: two ECS rules */
    ck_assert_uint_eq(h->answers[3].line, 8);
    ck_assert_ptr_null(h->answers[3].label);
    ck_assert_str_eq(ip_text(&h->answers[3].ecs), "198.51.100.0");
    ck_assert_uint_eq(h->answers[3].ecs_prefix, 24);
    ck_assert_int_eq(h->answers[3].kind, ES_DNS_ANSWER);
    ck_assert_uint_eq(h->answers[3].nips, 1);
    ck_assert_str_eq(ip_text(&h->answers[3].ips[0]), "127.1.0.3");
    ck_assert_ptr_null(h->answers[4].label);
    ck_assert_str_eq(ip_text(&h->answers[4].ecs), "2001:db8::");
    ck_assert_uint_eq(h->answers[4].ecs_prefix, 32);
    ck_assert_int_eq(h->answers[4].kind, ES_DNS_REFUSED);

    h = &s->hosts[1];
    ck_assert_str_eq(h->name, "api.example.test");
    ck_assert_uint_eq(h->line, 9);
    ck_assert_uint_eq(h->nanswers, 2);
    ck_assert_str_eq(h->answers[0].label, "us");
    ck_assert_int_eq(h->answers[0].kind, ES_DNS_SERVFAIL);
    ck_assert_str_eq(h->answers[1].label, "eu");
    ck_assert_uint_eq(h->answers[1].nips, 1);
    ck_assert_str_eq(ip_text(&h->answers[1].ips[0]), "127.1.0.2");
    es_labspec_free(s);
}
END_TEST

START_TEST(test_full_edges)
{
    struct es_labspec *s = parse_ok(full_spec);
    ck_assert_uint_eq(s->nedges, 7);

    const struct es_lab_edge *e = &s->edges[0];
    ck_assert_uint_eq(e->line, 10);
    ck_assert_str_eq(ep_text(&e->addr), "127.1.0.1:8443");
    ck_assert_str_eq(e->cert_name, "*.example.test");
    ck_assert_int_eq(e->cert_kind, ES_CERT_EXPIRED);
    ck_assert_int_eq(e->key, ES_KEY_RSA);
    ck_assert_uint_eq(e->tls, ES_TLS_1_0 | ES_TLS_1_1 | ES_TLS_1_2 | ES_TLS_1_3);
    ck_assert_str_eq(e->ciphers, "ECDHE-RSA-AES128-GCM-SHA256");
    ck_assert_str_eq(e->ciphersuites, "TLS_AES_128_GCM_SHA256");
    ck_assert_str_eq(e->groups, "X25519:P-256");
    ck_assert_str_eq(e->alpn, "h2");
    ck_assert(e->alpn_strict);
    ck_assert(e->sni_strict);
    ck_assert(e->h2_broken);
    ck_assert_uint_eq(e->delay_ms, 250);
    ck_assert_uint_eq(e->flaky_pct, 30);
    ck_assert_int_eq(e->fault, ES_FAULT_DRIP);

    e = &s->edges[1];
    ck_assert_uint_eq(e->line, 11);
    ck_assert_str_eq(ep_text(&e->addr), "[::1]:8443");
    ck_assert_int_eq(e->addr.ip.family, AF_INET6);
    ck_assert_str_eq(e->cert_name, "x.test");
    ck_assert_int_eq(e->cert_kind, ES_CERT_FUTURE);
    ck_assert_int_eq(e->key, ES_KEY_ECDSA);
    ck_assert_uint_eq(e->tls, ES_TLS_1_3);
    ck_assert_ptr_null(e->alpn); /* alpn=none */
    ck_assert(!e->alpn_strict);
    ck_assert(!e->sni_strict);
    ck_assert(!e->h2_broken);
    ck_assert_uint_eq(e->delay_ms, 600000);
    ck_assert_uint_eq(e->flaky_pct, 100);
    ck_assert_int_eq(e->fault, ES_FAULT_REFUSE);

    const struct {
        const char *addr, *cert;
        enum es_lab_certkind kind;
        enum es_lab_fault fault;
        unsigned tls;
        const char *alpn;
    } want[] = {
        {"127.1.0.3:8443", "y.test", ES_CERT_WRONG, ES_FAULT_BLACKHOLE, ES_TLS_1_2 | ES_TLS_1_3,
         "h2,http/1.1"},
        {"127.1.0.4:8443", "z.test", ES_CERT_SELFSIGNED, ES_FAULT_RESET, ES_TLS_1_2 | ES_TLS_1_3,
         "h2,http/1.1"},
        /* cert=:expired keeps the default name: no host lists 127.1.0.5 */
        {"127.1.0.5:8443", "edge.lab.test", ES_CERT_EXPIRED, ES_FAULT_GARBAGE,
         ES_TLS_1_2 | ES_TLS_1_3, "h2,http/1.1"},
        /* no cert=: the first host that lists 127.1.0.2 */
        {"127.1.0.2:8443", "api.example.test", ES_CERT_GOOD, ES_FAULT_HTTP, ES_TLS_1_2,
         "h2,http/1.1"},
        /* listed only by an ECS rule of shop.example.test */
        {"127.1.0.3:9443", "shop.example.test", ES_CERT_GOOD, ES_FAULT_NONE,
         ES_TLS_1_2 | ES_TLS_1_3, "http/1.1,h2,x"},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(want); i++) {
        e = &s->edges[2 + i];
        ck_assert_uint_eq(e->line, 12 + i);
        ck_assert_str_eq(ep_text(&e->addr), want[i].addr);
        ck_assert_str_eq(e->cert_name, want[i].cert);
        ck_assert_int_eq(e->cert_kind, want[i].kind);
        ck_assert_int_eq(e->fault, want[i].fault);
        ck_assert_uint_eq(e->tls, want[i].tls);
        ck_assert_str_eq(e->alpn, want[i].alpn);
        ck_assert_int_eq(e->key, ES_KEY_ECDSA);
    }
    es_labspec_free(s);
}
END_TEST

/* The example of DESIGN §3.5 as docs/lab.md gives it (with the us and ap
 * resolvers its host line names). */
START_TEST(test_design_example)
{
    struct es_labspec *s = parse_ok(
        "resolver eu 127.88.53.1:5353                       # LABEL ADDR:PORT "
        "[fault=drop|servfail|refused]\n"
        "resolver us 127.88.53.2:5353\n"
        "resolver ap 127.88.53.3:5353\n"
        "resolver dead 127.88.53.9:5353 fault=drop\n"
        "host shop.example.test eu=127.88.2.1,127.88.2.2 us=127.88.2.3 ap=nxdomain\n"
        "host shop.example.test ecs:198.51.100.0/24=127.88.2.3   # answer by ECS subnet (any "
        "resolver)\n"
        "edge 127.88.2.1:8443 cert=shop.example.test tls=1.2,1.3 alpn=h2,http/1.1\n"
        "edge 127.88.2.2:8443 cert=shop.example.test tls=1.2 key=rsa "
        "ciphers=ECDHE-RSA-AES128-GCM-SHA256\n"
        "edge 127.88.2.3:8443 cert=shop.example.test:expired sni=strict alpn=http/1.1 "
        "alpn_strict=yes\n"
        "edge 127.88.2.4:8443 fault=blackhole\n");
    ck_assert_uint_eq(s->nresolvers, 4);
    ck_assert_int_eq(s->resolvers[3].fault, ES_DNS_DROP);
    ck_assert_uint_eq(s->nhosts, 1);
    ck_assert_uint_eq(s->hosts[0].nanswers, 4);
    ck_assert_uint_eq(s->nedges, 4);
    ck_assert_uint_eq(s->edges[1].tls, ES_TLS_1_2);
    ck_assert_int_eq(s->edges[1].key, ES_KEY_RSA);
    ck_assert_str_eq(s->edges[1].ciphers, "ECDHE-RSA-AES128-GCM-SHA256");
    ck_assert_int_eq(s->edges[2].cert_kind, ES_CERT_EXPIRED);
    ck_assert(s->edges[2].sni_strict && s->edges[2].alpn_strict);
    ck_assert_str_eq(s->edges[2].alpn, "http/1.1");
    ck_assert_str_eq(s->edges[3].cert_name, "edge.lab.test");
    ck_assert_int_eq(s->edges[3].fault, ES_FAULT_BLACKHOLE);
    es_labspec_free(s);
}
END_TEST

/* ---- defaults ---- */

/* client_cert= and dh= (DESIGN §3.5); dh= implies key=rsa, keeps an
 * explicit key=rsa, and is 0 (no DHE) by default, as client_cert is none. */
START_TEST(test_client_cert_dh)
{
    struct es_labspec *s = parse_ok("edge 127.0.0.1:8443 client_cert=required\n"
                                    "edge 127.0.0.2:8443 client_cert=none dh=1024\n"
                                    "edge 127.0.0.3:8443 dh=2048 key=rsa tls=1.2\n"
                                    "edge 127.0.0.4:8443 tls=1.0,1.3 dh=1024\n"
                                    "edge 127.0.0.5:8443 client_cert=optional\n");
    ck_assert_uint_eq(s->nedges, 5);
    const struct es_lab_edge *e = s->edges;
    ck_assert_int_eq(e[0].client_cert, ES_CLIENT_CERT_REQUIRED);
    ck_assert_uint_eq(e[0].dh_bits, 0);
    ck_assert_int_eq(e[0].key, ES_KEY_ECDSA);
    ck_assert_int_eq(e[1].client_cert, ES_CLIENT_CERT_NONE);
    ck_assert_uint_eq(e[1].dh_bits, 1024);
    ck_assert_int_eq(e[1].key, ES_KEY_RSA);
    ck_assert_uint_eq(e[2].dh_bits, 2048);
    ck_assert_int_eq(e[2].key, ES_KEY_RSA);
    ck_assert_uint_eq(e[3].dh_bits, 1024);
    ck_assert_int_eq(e[4].client_cert, ES_CLIENT_CERT_OPTIONAL);
    ck_assert_uint_eq(e[4].dh_bits, 0);
    ck_assert_int_eq(e[4].key, ES_KEY_ECDSA);
    es_labspec_free(s);
}
END_TEST

/* #16: fault=sni_router, max_hello=, http_status=, clock_skew= (signed). */
START_TEST(test_probe_options)
{
    struct es_labspec *s = parse_ok("edge 127.0.0.1:8443 fault=sni_router\n"
                                    "edge 127.0.0.2:8443 max_hello=1024 http_status=525\n"
                                    "edge 127.0.0.3:8443 clock_skew=-120\n"
                                    "edge 127.0.0.4:8443 clock_skew=3600 http_status=100\n"
                                    "edge 127.0.0.5:8443\n");
    const struct es_lab_edge *e = s->edges;
    ck_assert_int_eq(e[0].fault, ES_FAULT_SNI_ROUTER);
    ck_assert_uint_eq(e[1].max_hello, 1024);
    ck_assert_uint_eq(e[1].http_status, 525);
    ck_assert_int_eq(e[2].clock_skew_s, -120);
    ck_assert_int_eq(e[3].clock_skew_s, 3600);
    ck_assert_uint_eq(e[3].http_status, 100);
    ck_assert_uint_eq(e[4].max_hello, 0); /* defaults: no limit, 200, no skew */
    ck_assert_uint_eq(e[4].http_status, 0);
    ck_assert_int_eq(e[4].clock_skew_s, 0);
    es_labspec_free(s);
}
END_TEST

START_TEST(test_defaults)
{
    struct es_labspec *s = parse_ok("resolver r 127.0.0.9\nedge 127.0.0.1:8443\n");
    ck_assert_uint_eq(s->nhosts, 0);
    ck_assert_str_eq(ep_text(&s->resolvers[0].addr), "127.0.0.9:53");
    ck_assert_int_eq(s->resolvers[0].fault, ES_DNS_ANSWER);
    const struct es_lab_edge *e = &s->edges[0];
    ck_assert_str_eq(e->cert_name, "edge.lab.test");
    ck_assert_int_eq(e->cert_kind, ES_CERT_GOOD);
    ck_assert_int_eq(e->key, ES_KEY_ECDSA);
    ck_assert_uint_eq(e->tls, ES_TLS_1_2 | ES_TLS_1_3);
    ck_assert_ptr_null(e->ciphers);
    ck_assert_ptr_null(e->ciphersuites);
    ck_assert_ptr_null(e->groups);
    ck_assert_str_eq(e->alpn, "h2,http/1.1");
    ck_assert(!e->alpn_strict);
    ck_assert(!e->sni_strict);
    ck_assert(!e->h2_broken);
    ck_assert_uint_eq(e->delay_ms, 0);
    ck_assert_uint_eq(e->flaky_pct, 0);
    ck_assert_int_eq(e->fault, ES_FAULT_NONE);
    es_labspec_free(s);
}
END_TEST

/* The default certificate name is the first host, in spec order (the order of
 * first appearance), whose answers include the edge's IP. */
START_TEST(test_cert_name_default)
{
    struct es_labspec *s = parse_ok("host a.test eu=10.0.0.1\n"
                                    "host b.test eu=127.0.0.9 us=127.0.0.8\n"
                                    "host a.test us=127.0.0.9\n"
                                    "host c.test ecs:10.0.0.0/8=127.0.0.7\n"
                                    "resolver eu 127.0.0.1\n"
                                    "resolver us 127.0.0.2\n"
                                    "edge 127.0.0.9:1\n"
                                    "edge 127.0.0.8:1\n"
                                    "edge 127.0.0.7:1\n"
                                    "edge 127.0.0.9:2 cert=explicit.test\n"
                                    "edge 127.0.0.6:1 cert=:selfsigned\n"
                                    "edge 127.0.0.5:1 cert=x.test:expiring\n");
    ck_assert_str_eq(s->edges[0].cert_name, "a.test");
    ck_assert_str_eq(s->edges[1].cert_name, "b.test");
    ck_assert_str_eq(s->edges[2].cert_name, "c.test");
    ck_assert_str_eq(s->edges[3].cert_name, "explicit.test");
    ck_assert_str_eq(s->edges[4].cert_name, "edge.lab.test");
    ck_assert_int_eq(s->edges[4].cert_kind, ES_CERT_SELFSIGNED);
    ck_assert_str_eq(s->edges[5].cert_name, "x.test");
    ck_assert_int_eq(s->edges[5].cert_kind, ES_CERT_EXPIRING);
    es_labspec_free(s);
}
END_TEST

/* Several host lines for one name (any case, with or without the trailing
 * dot) make one host; a label may be declared after the host uses it. */
START_TEST(test_merge_hosts)
{
    struct es_labspec *s = parse_ok("\n"
                                    "host www.test eu=127.0.0.1\n"
                                    "host other.test eu=127.0.0.2\n"
                                    "host WWW.Test. us=127.0.0.3\n"
                                    "  \t host www.test ecs:10.0.0.0/8=nxdomain ap=servfail\n"
                                    "resolver eu 127.0.0.1\n"
                                    "resolver us 127.0.0.2\n"
                                    "resolver ap 127.0.0.3\n");
    ck_assert_uint_eq(s->nhosts, 2);
    const struct es_lab_host *h = &s->hosts[0];
    ck_assert_str_eq(h->name, "www.test");
    ck_assert_uint_eq(h->line, 2);
    ck_assert_uint_eq(h->nanswers, 4);
    const unsigned lines[] = {2, 4, 5, 5};
    const char *labels[] = {"eu", "us", NULL, "ap"};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_uint_eq(h->answers[i].line, lines[i]);
        if (labels[i])
            ck_assert_str_eq(h->answers[i].label, labels[i]);
        else
            ck_assert_ptr_null(h->answers[i].label);
    }
    ck_assert_str_eq(ip_text(&h->answers[1].ips[0]), "127.0.0.3");
    ck_assert_int_eq(h->answers[2].kind, ES_DNS_NXDOMAIN);
    ck_assert_int_eq(h->answers[3].kind, ES_DNS_SERVFAIL);
    ck_assert_str_eq(s->hosts[1].name, "other.test");
    ck_assert_uint_eq(s->hosts[1].line, 3);
    es_labspec_free(s);
}
END_TEST

/* ---- es_labspec_answer ---- */

static const char answer_spec[] =
    "resolver eu 127.0.0.1\n"
    "resolver us 127.0.0.2\n"
    "resolver ap 127.0.0.3\n"
    "host shop.test eu=127.5.0.1,127.5.0.2 us=127.5.0.3,::1 ap=nxdomain\n"
    "host shop.test ecs:198.51.100.0/24=127.5.0.10 ecs:198.51.0.0/16=127.5.0.11\n"
    "host shop.test ecs:2001:db8::/32=127.5.0.12 ecs:10.0.0.0/8=servfail\n"
    "host other.test eu=127.6.0.1\n"
    "host *.wild.test eu=127.7.0.1\n"
    "host *.sub.wild.test eu=127.7.0.2\n"
    "host exact.wild.test us=127.7.0.3\n";

struct answer_case {
    const char *label, *name;
    const char *ecs; /* NULL: the query has no ECS option */
    unsigned prefix;
    bool found;
    enum es_lab_dnsfault kind;
    size_t nips;
    const char *first; /* first address, or NULL */
    const char *rule;  /* resolver label of the rule, or NULL for an ECS rule */
    unsigned scope;
};

static const struct answer_case answer_cases[] = {
    {"eu", "shop.test", NULL, 0, true, ES_DNS_ANSWER, 2, "127.5.0.1", "eu", 0},
    {"us", "shop.test", NULL, 0, true, ES_DNS_ANSWER, 2, "127.5.0.3", "us", 0},
    {"ap", "shop.test", NULL, 0, true, ES_DNS_NXDOMAIN, 0, NULL, "ap", 0},
    {"zz", "shop.test", NULL, 0, false, 0, 0, NULL, NULL, 0},   /* resolver not named */
    {"eu", "nope.test", NULL, 0, false, 0, 0, NULL, NULL, 0},   /* unknown name */
    {"eu", "shop.test.x", NULL, 0, false, 0, 0, NULL, NULL, 0}, /* unknown name */
    {"eu", "SHOP.Test.", NULL, 0, true, ES_DNS_ANSWER, 2, "127.5.0.1", "eu", 0},
    {"eu", "other.test", NULL, 0, true, ES_DNS_ANSWER, 1, "127.6.0.1", "eu", 0},
    {"us", "other.test", NULL, 0, false, 0, 0, NULL, NULL, 0},
    /* ECS: the most specific rule whose subnet holds the address wins */
    {"eu", "shop.test", "198.51.100.7", 32, true, ES_DNS_ANSWER, 1, "127.5.0.10", NULL, 24},
    {"eu", "shop.test", "198.51.100.0", 24, true, ES_DNS_ANSWER, 1, "127.5.0.10", NULL, 24},
    {"eu", "shop.test", "198.51.7.0", 24, true, ES_DNS_ANSWER, 1, "127.5.0.11", NULL, 16},
    /* the query's prefix must be at least the rule's */
    {"eu", "shop.test", "198.51.100.0", 20, true, ES_DNS_ANSWER, 1, "127.5.0.11", NULL, 16},
    {"eu", "shop.test", "198.51.0.0", 8, true, ES_DNS_ANSWER, 2, "127.5.0.1", "eu", 0},
    {"eu", "shop.test", "198.51.100.1", 0, true, ES_DNS_ANSWER, 2, "127.5.0.1", "eu", 0},
    /* outside every subnet: the label rule */
    {"us", "shop.test", "203.0.113.0", 24, true, ES_DNS_ANSWER, 2, "127.5.0.3", "us", 0},
    /* ECS rules hold for any resolver, even one the host does not name */
    {"zz", "shop.test", "198.51.100.0", 24, true, ES_DNS_ANSWER, 1, "127.5.0.10", NULL, 24},
    {"ap", "shop.test", "10.9.8.0", 24, true, ES_DNS_SERVFAIL, 0, NULL, NULL, 8},
    /* IPv6 */
    {"eu", "shop.test", "2001:db8:1::", 48, true, ES_DNS_ANSWER, 1, "127.5.0.12", NULL, 32},
    {"eu", "shop.test", "2001:db8::", 16, true, ES_DNS_ANSWER, 2, "127.5.0.1", "eu", 0},
    {"eu", "shop.test", "2001:db9::", 48, true, ES_DNS_ANSWER, 2, "127.5.0.1", "eu", 0},
    /* an IPv4-mapped address is not IPv4 */
    {"ap", "shop.test", "::ffff:198.51.100.1", 128, true, ES_DNS_NXDOMAIN, 0, NULL, "ap", 0},
    /* wildcards: the closest "*.SUFFIX" covers names that are not hosts themselves */
    {"eu", "a.wild.test", NULL, 0, true, ES_DNS_ANSWER, 1, "127.7.0.1", "eu", 0},
    {"eu", "X.y.Wild.test.", NULL, 0, true, ES_DNS_ANSWER, 1, "127.7.0.1", "eu", 0},
    {"eu", "a.sub.wild.test", NULL, 0, true, ES_DNS_ANSWER, 1, "127.7.0.2", "eu", 0},
    {"eu", "exact.wild.test", NULL, 0, false, 0, 0, NULL, NULL, 0}, /* a host: no wildcard */
    {"us", "exact.wild.test", NULL, 0, true, ES_DNS_ANSWER, 1, "127.7.0.3", "us", 0},
    {"eu", "wild.test", NULL, 0, false, 0, 0, NULL, NULL, 0},
    {"us", "a.wild.test", NULL, 0, false, 0, 0, NULL, NULL, 0},
    /* unknown name with an ECS option */
    {"eu", "nope.test", "198.51.100.0", 24, false, 0, 0, NULL, NULL, 0},
};

static void check_answer(const struct es_labspec *s, const struct answer_case *c, int i)
{
    struct es_ip ecs;
    if (c->ecs)
        ck_assert(es_ip_parse(c->ecs, &ecs));
    unsigned scope = 999;
    const struct es_lab_answer *a =
        es_labspec_answer(s, c->label, c->name, c->ecs ? &ecs : NULL, c->prefix, &scope);
    ck_assert_uint_eq(scope, c->scope);
    /* scope may be NULL */
    ck_assert_ptr_eq(es_labspec_answer(s, c->label, c->name, c->ecs ? &ecs : NULL, c->prefix, NULL),
                     a);
    if (!c->found) {
        ck_assert_msg(a == NULL, "case %d: want NXDOMAIN (NULL)", i);
        return;
    }
    ck_assert_msg(a != NULL, "case %d: no rule", i);
    ck_assert_int_eq(a->kind, c->kind);
    ck_assert_uint_eq(a->nips, c->nips);
    if (c->first)
        ck_assert_str_eq(ip_text(&a->ips[0]), c->first);
    if (c->rule)
        ck_assert_str_eq(a->label, c->rule);
    else
        ck_assert_ptr_null(a->label);
    if (!c->rule)
        ck_assert_uint_eq(a->ecs_prefix, c->scope);
}

START_TEST(test_answer)
{
    struct es_labspec *s = parse_ok(answer_spec);
    check_answer(s, &answer_cases[_i], _i);
    es_labspec_free(s);
}
END_TEST

/* A spec built by hand (no lookup index) is searched linearly. */
START_TEST(test_answer_by_hand)
{
    struct es_ip ip;
    ck_assert(es_ip_parse("127.9.0.1", &ip));
    struct es_lab_answer ans[2] = {
        {.line = 1, .label = "eu", .kind = ES_DNS_ANSWER, .ips = &ip, .nips = 1},
        {.line = 1, .kind = ES_DNS_REFUSED, .ecs_prefix = 8},
    };
    ck_assert(es_ip_parse("10.0.0.0", &ans[1].ecs));
    struct es_lab_host hosts[1] = {{.line = 1, .name = "hand.test", .answers = ans, .nanswers = 2}};
    struct es_labspec spec = {.path = "x", .hosts = hosts, .nhosts = 1};
    struct es_ip q;
    ck_assert(es_ip_parse("10.1.1.1", &q));
    unsigned scope = 5;
    ck_assert_ptr_eq(es_labspec_answer(&spec, "eu", "Hand.Test", NULL, 0, &scope), &ans[0]);
    ck_assert_uint_eq(scope, 0);
    ck_assert_ptr_eq(es_labspec_answer(&spec, "eu", "hand.test", &q, 24, &scope), &ans[1]);
    ck_assert_uint_eq(scope, 8);
    ck_assert_ptr_null(es_labspec_answer(&spec, "us", "hand.test", NULL, 0, &scope));
    ck_assert_ptr_null(es_labspec_answer(&spec, "eu", "other.test", NULL, 0, &scope));
}
END_TEST

/* ---- bad specs ---- */

struct bad_case {
    const char *text;
    size_t len; /* 0: strlen(text) */
    const char *prefix;
    const char *msg;
};

#define R  "resolver eu 127.0.0.1\n"
#define E  "edge 127.0.0.1:8443 "
#define LL "123456789012345678901234567890123456789012345678901234567890123" /* 63 bytes */

static const struct bad_case bad_cases[] = {
    /* declarations */
    {"resolvr eu 127.0.0.1\n", 0,
     "t.lab:1: ", "unknown declaration 'resolvr'; expected resolver, host or edge"},
    {"# c\n\n  \t# c\nedges 127.0.0.1:1\n", 0, "t.lab:4: ", "unknown declaration 'edges'"},
    {"Resolver eu 127.0.0.1\n", 0, "t.lab:1: ", "unknown declaration 'Resolver'"},
    {"# nothing\n\n", 0, "t.lab:2: ", "declares no resolver and no edge; expected at least one"},
    {"host a.test ecs:10.0.0.0/8=1.2.3.4\n", 0, "t.lab:1: ", "declares no resolver and no edge"},
    /* resolver */
    {"resolver eu\n", 0,
     "t.lab:1: ", "resolver needs a label and an address; expected resolver LABEL ADDR[:PORT]"},
    {"resolver e.u 127.0.0.1\n", 0,
     "t.lab:1: ", "bad resolver label 'e.u'; expected 1 to 32 characters from A-Z a-z 0-9 _ -"},
    {"resolver abcdefghijabcdefghijabcdefghijabc 127.0.0.1\n", 0,
     "t.lab:1: ", "bad resolver label 'abcdefghijabcdefghijabcdefghijabc'"},
    {"resolver eu 127.0.0.1:0\n", 0, "t.lab:1: ",
     "bad port '0' in resolver address '127.0.0.1:0'; expected a port from 1 to 65535"},
    {"resolver eu 127.0.0.1:65536\n", 0, "t.lab:1: ", "bad port '65536'"},
    {"resolver eu 127.0.0.256\n", 0,
     "t.lab:1: ", "bad IP address '127.0.0.256' in resolver address '127.0.0.256'"},
    {"resolver eu 10.0.0.1:53\n", 0, "t.lab:1: ",
     "resolver address 10.0.0.1:53 is not loopback; expected an address in 127.0.0.0/8 or ::1 "
     "(the lab only ever binds loopback)"},
    {"resolver eu 127.0.0.1 fault=timeout\n", 0, "t.lab:1: ",
     "bad value 'timeout' for resolver option 'fault'; expected fault=drop|servfail|refused"},
    {"resolver eu 127.0.0.1 retries=3\n", 0,
     "t.lab:1: ", "unknown resolver option 'retries'; expected fault"},
    {"resolver eu 127.0.0.1 fault=drop fault=refused\n", 0,
     "t.lab:1: ", "resolver option 'fault' given twice"},
    {R "resolver eu 127.0.0.2\n", 0,
     "t.lab:2: ", "resolver label 'eu' already declared on line 1; expected a new label"},
    {"resolver eu 127.0.0.1:53\n\nresolver us 127.0.0.1\n", 0,
     "t.lab:3: ", "resolver address 127.0.0.1:53 already used by resolver 'eu' on line 1"},
    /* edge address */
    {"edge 127.0.0.1\n", 0, "t.lab:1: ",
     "edge address '127.0.0.1' has no port; expected ADDR:PORT, e.g. 127.0.0.1:8443 or "
     "[::1]:8443"},
    {"edge ::1:8443\n", 0, "t.lab:1: ",
     "edge address '::1:8443' has no port (an IPv6 address with a port is written in brackets)"},
    {"edge [::1]\n", 0, "t.lab:1: ", "edge address '[::1]' has no port"},
    {"edge\n", 0, "t.lab:1: ", "edge needs an address; expected edge ADDR:PORT"},
    {"edge 127.0.0.1:99999\n", 0, "t.lab:1: ", "bad port '99999' in edge address"},
    {"edge localhost:8443\n", 0, "t.lab:1: ", "bad IP address 'localhost' in edge address"},
    {"edge 192.0.2.1:443\n", 0, "t.lab:1: ",
     "edge address 192.0.2.1:443 is not loopback; expected an address in 127.0.0.0/8 or ::1 "
     "(the lab only ever binds loopback)"},
    {"edge [2001:db8::1]:443\n", 0, "t.lab:1: ", "edge address [2001:db8::1]:443 is not loopback"},
    {E "\n" R "\nedge 127.0.0.1:8443 tls=1.3\n", 0, "t.lab:4: ",
     "edge address 127.0.0.1:8443 already declared on line 1; expected one edge line per address"},
    /* edge options */
    {"resolver a 127.0.0.1\n\n\n\n\n\n" E "alpn_stric=yes\n", 0, "t.lab:7: ",
     "unknown edge option 'alpn_stric'; expected one of cert, key, tls, ciphers, ciphersuites, "
     "groups, alpn, alpn_strict, sni, h2, delay, flaky, fault"},
    {E "h2\n", 0, "t.lab:1: ", "edge option 'h2' has no value; expected h2=ok|broken"},
    {E "tls=1.2 tls=1.3\n", 0,
     "t.lab:1: ", "edge option 'tls' given twice; expected each option once"},
    {E "tls=\n", 0, "t.lab:1: ", "edge option 'tls' has an empty list; expected tls=VERSION"},
    {E "tls=1.2,1.4\n", 0, "t.lab:1: ", "bad value '1.2,1.4' for edge option 'tls'"},
    {E "tls=1.2,,1.3\n", 0, "t.lab:1: ", "bad value '1.2,,1.3' for edge option 'tls'"},
    {E "tls=1.2,\n", 0, "t.lab:1: ", "bad value '1.2,' for edge option 'tls'"},
    {E "flaky=101\n", 0, "t.lab:1: ",
     "bad value '101' for edge option 'flaky'; expected flaky=P, a percentage from 0 to 100"},
    {E "delay=600001\n", 0, "t.lab:1: ",
     "bad value '600001' for edge option 'delay'; expected delay=MS, a whole number from 0 to "
     "600000"},
    {E "delay=-1\n", 0, "t.lab:1: ", "bad value '-1' for edge option 'delay'"},
    {E "delay=99999999999999999999999\n", 0,
     "t.lab:1: ", "bad value '99999999999999999999999' for edge option 'delay'"},
    {E "key=dsa\n", 0,
     "t.lab:1: ", "bad value 'dsa' for edge option 'key'; expected key=ecdsa|rsa"},
    {E "cert=shop.test:stale\n", 0, "t.lab:1: ",
     "bad value 'shop.test:stale' for edge option 'cert'; expected "
     "cert=NAME[:expired|:future|:wrong|:selfsigned|:expiring]"},
    {E "cert=shop.test:\n", 0, "t.lab:1: ", "bad value 'shop.test:' for edge option 'cert'"},
    {E "cert=\n", 0, "t.lab:1: ", "bad value '' for edge option 'cert'"},
    {E "cert=bad..name\n", 0,
     "t.lab:1: ", "bad certificate name 'bad..name' in cert=bad..name: it has an empty label"},
    {E "alpn=h2,,http/1.1\n", 0, "t.lab:1: ", "bad value 'h2,,http/1.1' for edge option 'alpn'"},
    {E "alpn=\n", 0, "t.lab:1: ", "edge option 'alpn' has an empty list"},
    {E "alpn=h2,none\n", 0, "t.lab:1: ", "bad value 'h2,none' for edge option 'alpn'"},
    {E "alpn=" LL LL LL LL "abcd\n", 0,
     "t.lab:1: ", "for edge option 'alpn'; expected alpn=PROTO[,PROTO...] (each 1 to 255 bytes"},
    {E "alpn_strict=true\n", 0,
     "t.lab:1: ", "bad value 'true' for edge option 'alpn_strict'; expected alpn_strict=yes|no"},
    {E "sni=loose\n", 0,
     "t.lab:1: ", "bad value 'loose' for edge option 'sni'; expected sni=strict|any"},
    {E "h2=maybe\n", 0,
     "t.lab:1: ", "bad value 'maybe' for edge option 'h2'; expected h2=ok|broken"},
    {E "fault=explode\n", 0, "t.lab:1: ",
     "bad value 'explode' for edge option 'fault'; expected "
     "fault=refuse|blackhole|reset|garbage|http|drip"},
    {E "ciphers=\n", 0, "t.lab:1: ", "edge option 'ciphers' has an empty value; expected ciphers="},
    {E "groups=\n", 0, "t.lab:1: ", "edge option 'groups' has an empty value"},
    {E "subject_o=\n", 0, "t.lab:1: ",
     "subject_o=: it decodes to 0 bytes; expected 1 to 64 bytes (X.509 ub-organization-name)"},
    {E "subject_o=" LL "%41%42\n", 0, "t.lab:1: ", "it decodes to 65 bytes; expected 1 to 64"},
    {E "subject_o=Evil%2\n", 0,
     "t.lab:1: ", "subject_o=Evil%2: bad escape at byte 5; expected %XX with two hex digits"},
    {E "subject_o=%g0\n", 0, "t.lab:1: ", "subject_o=%g0: bad escape at byte 1"},
    {E "subject_o=a%00b\n", 0, "t.lab:1: ",
     "subject_o=a%00b: the decoded text has NUL byte 0x00 at byte 2; expected UTF-8 text without "
     "NUL"},
    {E "subject_o=%C3%28\n", 0, "t.lab:1: ", "has invalid UTF-8 0xc3 at byte 1"},
    {E "subject_o=a subject_o=b\n", 0, "t.lab:1: ", "edge option 'subject_o' given twice"},
    {E "client_cert=yes\n", 0, "t.lab:1: ",
     "bad value 'yes' for edge option 'client_cert'; expected client_cert=required|optional|none"},
    {E "client_cert=\n", 0, "t.lab:1: ", "bad value '' for edge option 'client_cert'"},
    {E "dh=512\n", 0, "t.lab:1: ",
     "bad value '512' for edge option 'dh'; expected dh=1024|2048 (the DHE prime's bits)"},
    {E "dh=2048 key=ecdsa\n", 0, "t.lab:1: ",
     "dh=2048 needs key=rsa (the DHE suites sign with RSA); expected key=rsa or no key="},
    {E "tls=1.3 dh=1024\n", 0,
     "t.lab:1: ", "dh=1024 needs TLS 1.2 or older in tls= (TLS 1.3 has no DHE suites)"},
    {E "dh=1024 dh=2048\n", 0, "t.lab:1: ", "edge option 'dh' given twice"},
    {E "max_hello=63\n", 0, "t.lab:1: ",
     "bad value '63' for edge option 'max_hello'; expected max_hello=BYTES, a whole number from 64 "
     "to 65536"},
    {E "max_hello=1k\n", 0, "t.lab:1: ", "bad value '1k' for edge option 'max_hello'"},
    {E "http_status=99\n", 0, "t.lab:1: ",
     "bad value '99' for edge option 'http_status'; expected http_status=N, an HTTP status from "
     "100 to 599"},
    {E "http_status=600\n", 0, "t.lab:1: ", "bad value '600' for edge option 'http_status'"},
    {E "clock_skew=-\n", 0, "t.lab:1: ",
     "bad value '-' for edge option 'clock_skew'; expected clock_skew=S, seconds from -315360000 "
     "to 315360000"},
    {E "clock_skew=--5\n", 0, "t.lab:1: ", "bad value '--5' for edge option 'clock_skew'"},
    {E "clock_skew=315360001\n", 0, "t.lab:1: ",
     "bad value '315360001' for edge option 'clock_skew'"},
    {E "clock_skew=1.5\n", 0, "t.lab:1: ", "bad value '1.5' for edge option 'clock_skew'"},
    /* host */
    {R "host a.test\n", 0,
     "t.lab:2: ", "host needs a name and at least one rule; expected host NAME LABEL=IP[,IP...]"},
    {R "host a.test eu\n", 0, "t.lab:2: ", "rule 'eu' has no '='; expected LABEL=IP[,IP...]"},
    {R "host a.test eu=\n", 0, "t.lab:2: ",
     "rule 'eu=' has no value; expected IP[,IP...], nxdomain, servfail, refused or drop"},
    {R "host a.test eu=1.2.3\n", 0,
     "t.lab:2: ", "bad IP address '1.2.3' in rule 'eu=1.2.3'; expected IP[,IP...]"},
    {R "host a.test eu=1.2.3.4,,1.2.3.5\n", 0,
     "t.lab:2: ", "bad IP address '' in rule 'eu=1.2.3.4,,1.2.3.5'"},
    {R "host a.test eu=nxdomain,1.2.3.4\n", 0,
     "t.lab:2: ", "bad IP address 'nxdomain' in rule 'eu=nxdomain,1.2.3.4'"},
    {R "host a.test eu=1.1.1.1,::1,1.1.1.1\n", 0,
     "t.lab:2: ", "address 1.1.1.1 is listed twice in rule 'eu=1.1.1.1,::1,1.1.1.1'"},
    {R "host a.test e.u=1.1.1.1\n", 0,
     "t.lab:2: ", "bad resolver label 'e.u' in rule 'e.u=1.1.1.1'"},
    {R "host a.test eu=1.2.3.4 eu=1.2.3.5\n", 0, "t.lab:2: ",
     "host 'a.test' already has a rule for resolver 'eu' (line 2); expected one rule per resolver "
     "label"},
    {R "host a.test eu=1.1.1.1\n# x\nhost A.TEST. eu=2.2.2.2\n", 0,
     "t.lab:4: ", "host 'a.test' already has a rule for resolver 'eu' (line 2)"},
    {R "host bad!.test eu=1.1.1.1\n", 0, "t.lab:2: ",
     "bad host name 'bad!.test': it has a character other than a-z 0-9 - _ .; expected a DNS "
     "name"},
    {R "host caf\xc3\xa9.test eu=1.1.1.1\n", 0, "t.lab:2: ", "bad host name 'caf\xc3\xa9.test'"},
    {R "host a..test eu=1.1.1.1\n", 0,
     "t.lab:2: ", "bad host name 'a..test': it has an empty label"},
    {R "host . eu=1.1.1.1\n", 0, "t.lab:2: ", "bad host name '.': it is empty"},
    {R "host a.*.test eu=1.1.1.1\n", 0,
     "t.lab:2: ", "bad host name 'a.*.test'"}, /* '*' only as the first label */
    {R "host " LL "4.test eu=1.1.1.1\n", 0, "t.lab:2: ", "a label is longer than 63 bytes"},
    {R "host " LL "." LL "." LL "." LL "a eu=1.1.1.1\n", 0,
     "t.lab:2: ", "it is longer than 253 bytes"},
    {R "host a.test eu=1.1.1.1 us=2.2.2.2\n", 0, "t.lab:2: ",
     "host 'a.test' has a rule for resolver 'us', but no resolver line declares that label; "
     "expected a 'resolver us ADDR[:PORT]' line"},
    /* the earliest line naming a missing label is reported */
    {"host a.test eu=1.1.1.1\nhost b.test zz=2.2.2.2\nhost a.test yy=3.3.3.3\n" R, 0,
     "t.lab:2: ", "rule for resolver 'zz', but no resolver line"},
    /* ECS rules */
    {R "host a.test ecs:198.51.100.0/33=1.1.1.1\n", 0, "t.lab:2: ",
     "ECS prefix /33 in rule 'ecs:198.51.100.0/33=1.1.1.1' is longer than IPv4 allows; expected 0 "
     "to 32"},
    {R "host a.test ecs:2001:db8::/129=1.1.1.1\n", 0,
     "t.lab:2: ", "is longer than IPv6 allows; expected 0 to 128"},
    {R "host a.test ecs:198.51.100.7/24=1.1.1.1\n", 0, "t.lab:2: ",
     "ECS subnet in rule 'ecs:198.51.100.7/24=1.1.1.1' has bits set past /24; expected "
     "198.51.100.0/24"},
    {R "host a.test ecs:198.51.100.0=1.1.1.1\n", 0, "t.lab:2: ",
     "ECS rule 'ecs:198.51.100.0=1.1.1.1' has no prefix length; expected ecs:SUBNET/LEN=..."},
    {R "host a.test ecs:198.51.100.0/24\n", 0,
     "t.lab:2: ", "ECS rule 'ecs:198.51.100.0/24' has no '='"},
    {R "host a.test ecs:198.51.100.0/x=1.1.1.1\n", 0, "t.lab:2: ", "bad ECS prefix length 'x'"},
    {R "host a.test ecs:example/8=1.1.1.1\n", 0, "t.lab:2: ", "bad ECS subnet 'example'"},
    {R "host a.test ecs:10.0.0.0/8=1.1.1.1 ecs:10.0.0.0/8=2.2.2.2\n", 0, "t.lab:2: ",
     "host 'a.test' already has a rule for ecs:10.0.0.0/8 (line 2); expected one rule per subnet"},
    /* bytes */
    {R "edge 127\0.0.0.1:1\n", sizeof(R "edge 127\0.0.0.1:1\n") - 1,
     "t.lab:2: ", "NUL byte 0x00 at byte 9; expected printable UTF-8"},
    {R "edge \x01 127.0.0.1:1\n", 0, "t.lab:2: ", "control byte 0x01 at byte 6"},
    {R "edge 127.0.0.1:1\r x\n", 0, "t.lab:2: ", "control byte 0x0d at byte 17"},
    {R "edge 127.0.0.1:1 \x7f\n", 0, "t.lab:2: ", "control byte 0x7f at byte 18"},
    {R "# \xff\n", 0, "t.lab:2: ", "invalid UTF-8 0xff at byte 3; expected printable UTF-8 text"},
    {R "# \xc0\xaf overlong\n", 0, "t.lab:2: ", "invalid UTF-8 0xc0 at byte 3"},
    {R "# \xed\xa0\x80 surrogate\n", 0, "t.lab:2: ", "invalid UTF-8 0xed at byte 3"},
    {R "# \xe2\x82 cut\n", 0, "t.lab:2: ", "invalid UTF-8 0xe2 at byte 3"},
    {R "# \xf4\x90\x80\x80 too big\n", 0, "t.lab:2: ", "invalid UTF-8 0xf4 at byte 3"},
    {R "# \xc2\x85 next line\n", 0, "t.lab:2: ", "control character 0xc2 at byte 3"},
    {R "# ends in a cut character \xe2", 0, "t.lab:2: ", "invalid UTF-8 0xe2 at byte 27"},
    /* CRLF line ends count lines like LF */
    {"resolver eu 127.0.0.1\r\n\r\nedge 127.0.0.1:99999\r\n", 0, "t.lab:3: ", "bad port '99999'"},
    /* a long word is shortened in the message */
    {E "key=" LL LL "\n", 0, "t.lab:1: ",
     "bad value '1234567890123456789012345678901234567890123456789012345678901231...' for edge "
     "option 'key'"},
};

START_TEST(test_bad_spec)
{
    const struct bad_case *c = &bad_cases[_i];
    char err[1024];
    memset(err, 'X', sizeof err);
    size_t len = c->len ? c->len : strlen(c->text);
    struct es_labspec *s = es_labspec_parse(c->text, len, "t.lab", err, sizeof err);
    ck_assert_msg(s == NULL, "case %d: parsed", _i);
    ck_assert_msg(strncmp(err, c->prefix, strlen(c->prefix)) == 0,
                  "case %d: '%s' lacks prefix '%s'", _i, err, c->prefix);
    ck_assert_msg(strstr(err, c->msg) != NULL, "case %d: '%s' lacks '%s'", _i, err, c->msg);
    ck_assert_msg(strstr(err, "; expected ") != NULL, "case %d: '%s' says nothing expected", _i,
                  err);
    ck_assert_msg(strchr(err, '\n') == NULL, "case %d: not one line", _i);
}
END_TEST

/* A too small error buffer truncates the message but never overflows. */
START_TEST(test_small_err)
{
    char err[16];
    memset(err, 'X', sizeof err);
    ck_assert_ptr_null(es_labspec_parse("bogus\n", 6, "t.lab", err, 10));
    ck_assert_str_eq(err, "t.lab:1: ");
    ck_assert_int_eq(err[10], 'X');
    ck_assert_ptr_null(es_labspec_parse("bogus\n", 6, "t.lab", NULL, 0));
}
END_TEST

/* Lines that are fine: tabs, comments, CRLF, a UTF-8 byte order mark, UTF-8
 * in comments, a last line without '\n', a line of exactly 4096 bytes. */
START_TEST(test_whitespace)
{
    char text[8192];
    int n = snprintf(text, sizeof text,
                     "\xef\xbb\xbfresolver\teu\t127.0.0.1 # r\xc3\xa9solveur\r\n"
                     "\t \r\n"
                     "#%04095d\n"
                     "edge   127.0.0.1:1\t\tdelay=5#no space before the comment",
                     0);
    ck_assert_int_lt(n, (int)sizeof text);
    struct es_labspec *s = parse_ok(text);
    ck_assert_uint_eq(s->nresolvers, 1);
    ck_assert_str_eq(s->resolvers[0].label, "eu");
    ck_assert_uint_eq(s->nedges, 1);
    ck_assert_uint_eq(s->edges[0].line, 4);
    ck_assert_uint_eq(s->edges[0].delay_ms, 5);
    es_labspec_free(s);
}
END_TEST

/* A line longer than 4096 bytes is refused with its number. */
START_TEST(test_long_line)
{
    char text[8192];
    int n = snprintf(text, sizeof text, "resolver eu 127.0.0.1\n#%04096d\nedge 127.0.0.1:1\n", 0);
    ck_assert_int_lt(n, (int)sizeof text);
    char err[256];
    ck_assert_ptr_null(es_labspec_parse(text, (size_t)n, "t.lab", err, sizeof err));
    ck_assert_str_eq(err, "t.lab:2: line is 4097 bytes long; expected at most 4096 bytes");
}
END_TEST

/* Many declarations: hash tables grow, lookups and duplicate checks still hold. */
START_TEST(test_many)
{
    size_t n = 5000, cap = n * 80 + 200, off = 0;
    char *text = malloc(cap);
    off += (size_t)snprintf(text + off, cap - off, "resolver eu 127.0.0.1\n");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(text + off, cap - off,
                                "host h%zu.test eu=127.3.%zu.%zu\nedge 127.3.%zu.%zu:443\n", i,
                                i / 256, i % 256, i / 256, i % 256);
    struct es_labspec *s = parse_ok(text);
    ck_assert_uint_eq(s->nhosts, n);
    ck_assert_uint_eq(s->nedges, n);
    ck_assert_str_eq(s->edges[4321].cert_name, "h4321.test");
    const struct es_lab_answer *a = es_labspec_answer(s, "eu", "H4999.test", NULL, 0, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(ip_text(&a->ips[0]), "127.3.19.135");
    ck_assert_ptr_null(es_labspec_answer(s, "eu", "h5000.test", NULL, 0, NULL));
    es_labspec_free(s);

    off += (size_t)snprintf(text + off, cap - off, "edge 127.3.10.10:443\n");
    char err[256];
    ck_assert_ptr_null(es_labspec_parse(text, off, "t.lab", err, sizeof err));
    ck_assert_str_eq(err, "t.lab:10002: edge address 127.3.10.10:443 already declared on line "
                          "5143; expected one edge line per address");
    free(text);
}
END_TEST

/* Mutated copies of a good spec: parsed or refused with a "t.lab:N: ...;
 * expected ..." message, never a crash or a leak (run under valgrind). */
START_TEST(test_mutations)
{
    size_t base = sizeof full_spec - 1;
    char *buf = malloc(base + 64);
    uint64_t x = 0x9e3779b97f4a7c15u;
    size_t parsed = 0, refused = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, full_spec, base);
        size_t len = base;
        for (int m = 0; m < 1 + round % 4; m++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = (size_t)(x >> 8) % len;
            switch (x % 4) {
            case 0: buf[at] = (char)(x >> 40); break; /* any byte */
            case 1: buf[at] = "=,:/#.\t \n0"[(x >> 40) % 10]; break;
            case 2: len = at + 1; break; /* truncate */
            case 3:
                if (len > 1)
                    memmove(buf + at, buf + at + 1, len - at - 1), len--;
                break;
            }
        }
        char err[512] = "";
        struct es_labspec *s = es_labspec_parse(buf, len, "t.lab", err, sizeof err);
        if (s) {
            parsed++;
            es_labspec_free(s);
            continue;
        }
        refused++;
        char *end = NULL;
        unsigned long line = strncmp(err, "t.lab:", 6) == 0 ? strtoul(err + 6, &end, 10) : 0;
        ck_assert_msg(line >= 1 && end && strncmp(end, ": ", 2) == 0, "round %d: %s", round, err);
        ck_assert_msg(strstr(err, "; expected ") != NULL, "round %d: %s", round, err);
    }
    /* Both outcomes happen, or the mutations test nothing. */
    ck_assert_uint_gt(parsed, 0);
    ck_assert_uint_gt(refused, 0);
    free(buf);
}
END_TEST

/* ---- files ---- */

START_TEST(test_file_missing)
{
    char err[512];
    const char *path = "/nonexistent-edgeshake-dir/spec.lab";
    ck_assert_ptr_null(es_labspec_parse_file(path, err, sizeof err));
    ck_assert_str_eq(err, "/nonexistent-edgeshake-dir/spec.lab: cannot open the lab spec: No such "
                          "file or directory");
    char *dir = tl_tmpdir();
    ck_assert_ptr_null(es_labspec_parse_file(dir, err, sizeof err));
    ck_assert_msg(strncmp(err, dir, strlen(dir)) == 0, "%s", err);
    ck_assert_msg(strstr(err, strerror(EISDIR)) != NULL, "%s", err);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_file_messages)
{
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "bad.lab", "resolver eu 127.0.0.1\n\nedge 127.0.0.1:1 x=1\n");
    char err[512], want[1024];
    ck_assert_ptr_null(es_labspec_parse_file(path, err, sizeof err));
    snprintf(want, sizeof want, "%s:3: unknown edge option 'x'", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    free(path);
    path = tl_write_file(dir, "good.lab", "resolver eu 127.0.0.1\n");
    struct es_labspec *s = es_labspec_parse_file(path, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_str_eq(s->path, path);
    es_labspec_free(s);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- data/demo.lab ---- */

static struct es_labspec *demo(void)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/data/demo.lab", tl_srcdir());
    struct es_labspec *s = es_labspec_parse_file(path, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

/* Which resolvers return ip for some host, as a bit set over resolvers[]. */
static unsigned returned_by(const struct es_labspec *s, const struct es_ip *ip)
{
    unsigned bits = 0;
    for (size_t h = 0; h < s->nhosts; h++)
        for (size_t a = 0; a < s->hosts[h].nanswers; a++) {
            const struct es_lab_answer *ans = &s->hosts[h].answers[a];
            for (size_t i = 0; i < ans->nips; i++)
                if (es_ip_equal(&ans->ips[i], ip))
                    for (size_t r = 0; r < s->nresolvers; r++)
                        if (ans->label && strcmp(ans->label, s->resolvers[r].label) == 0)
                            bits |= 1u << r;
        }
    return bits;
}

START_TEST(test_demo_shape)
{
    struct es_labspec *s = demo();
    const char *labels[] = {"eu", "us", "ap"};
    ck_assert_uint_eq(s->nresolvers, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(s->resolvers[i].label, labels[i]);
        char want[32];
        snprintf(want, sizeof want, "127.77.53.%zu:5353", i + 1);
        ck_assert_str_eq(ep_text(&s->resolvers[i].addr), want);
        ck_assert_int_eq(s->resolvers[i].fault, ES_DNS_ANSWER);
    }
    ck_assert_uint_ge(s->nhosts, 4);
    struct es_ip net;
    ck_assert(es_ip_parse("127.77.0.0", &net));
    for (size_t i = 0; i < s->nedges; i++) {
        const struct es_lab_edge *e = &s->edges[i];
        ck_assert_msg(es_ip_in_prefix(&e->addr.ip, &net, 16), "line %u", e->line);
        ck_assert_uint_eq(e->addr.port, 8443);
        /* every edge is reachable through some region, never through all
         * three when it is faulty (so that a region or node finding exists) */
        unsigned by = returned_by(s, &e->addr.ip);
        ck_assert_msg(by != 0, "edge on line %u is returned by no resolver", e->line);
        bool faulty = e->tls != (ES_TLS_1_2 | ES_TLS_1_3) || e->alpn_strict || e->sni_strict ||
                      e->cert_kind != ES_CERT_GOOD || e->ciphers || e->h2_broken || e->flaky_pct ||
                      e->fault != ES_FAULT_NONE || e->delay_ms;
        if (faulty)
            ck_assert_msg(by != 7, "faulty edge on line %u is returned by every resolver", e->line);
    }
    /* every answer address has an edge */
    for (size_t h = 0; h < s->nhosts; h++)
        for (size_t a = 0; a < s->hosts[h].nanswers; a++)
            for (size_t i = 0; i < s->hosts[h].answers[a].nips; i++) {
                bool found = false;
                for (size_t e = 0; e < s->nedges; e++)
                    found |= es_ip_equal(&s->edges[e].addr.ip, &s->hosts[h].answers[a].ips[i]);
                ck_assert_msg(found, "host %s: %s has no edge", s->hosts[h].name,
                              ip_text(&s->hosts[h].answers[a].ips[i]));
            }
    es_labspec_free(s);
}
END_TEST

/* One bad node of each kind (the demo's planted faults). */
enum demo_fault {
    D_TLS12_ONLY,
    D_ALPN_OFF,
    D_SNI_STRICT,
    D_EXPIRED,
    D_WRONG,
    D_NO_ECDHE,
    D_H2_BROKEN,
    D_FLAKY,
    D_DEAD,
};

static bool demo_has(const struct es_lab_edge *e, enum demo_fault f)
{
    switch (f) {
    case D_TLS12_ONLY: return e->tls == ES_TLS_1_2;
    case D_ALPN_OFF: return e->alpn && strcmp(e->alpn, "http/1.1") == 0 && e->alpn_strict;
    case D_SNI_STRICT: return e->sni_strict;
    case D_EXPIRED: return e->cert_kind == ES_CERT_EXPIRED;
    case D_WRONG: return e->cert_kind == ES_CERT_WRONG;
    case D_NO_ECDHE:
        return e->key == ES_KEY_ECDSA && e->ciphers &&
               strcmp(e->ciphers, "AES128-SHA:AES256-SHA") == 0 && (e->tls & ES_TLS_1_3);
    case D_H2_BROKEN: return e->h2_broken;
    case D_FLAKY: return e->flaky_pct == 30;
    case D_DEAD: return e->fault == ES_FAULT_REFUSE || e->fault == ES_FAULT_BLACKHOLE;
    }
    return false;
}

START_TEST(test_demo_faults)
{
    struct es_labspec *s = demo();
    int found = 0;
    for (size_t i = 0; i < s->nedges; i++)
        if (demo_has(&s->edges[i], (enum demo_fault)_i)) {
            found++;
            /* the certificate is for a host that sends users there */
            const struct es_lab_edge *e = &s->edges[i];
            bool listed = false;
            for (size_t h = 0; h < s->nhosts; h++)
                if (strcmp(s->hosts[h].name, e->cert_name) == 0)
                    for (size_t a = 0; a < s->hosts[h].nanswers; a++)
                        for (size_t k = 0; k < s->hosts[h].answers[a].nips; k++)
                            listed |= es_ip_equal(&s->hosts[h].answers[a].ips[k], &e->addr.ip);
            ck_assert_msg(listed, "edge line %u: cert %s", e->line, e->cert_name);
        }
    ck_assert_int_eq(found, 1);
    es_labspec_free(s);
}
END_TEST

START_TEST(test_demo_nxdomain)
{
    struct es_labspec *s = demo();
    int nx = 0;
    for (size_t h = 0; h < s->nhosts; h++) {
        const struct es_lab_answer *ap =
            es_labspec_answer(s, "ap", s->hosts[h].name, NULL, 0, NULL);
        const struct es_lab_answer *eu =
            es_labspec_answer(s, "eu", s->hosts[h].name, NULL, 0, NULL);
        ck_assert_ptr_nonnull(eu);
        ck_assert_int_eq(eu->kind, ES_DNS_ANSWER);
        if (ap && ap->kind == ES_DNS_NXDOMAIN)
            nx++;
    }
    ck_assert_int_eq(nx, 1);
    es_labspec_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("labspec");
    TCase *tc = tcase_create("good");
    tcase_add_test(tc, test_full_resolvers);
    tcase_add_test(tc, test_full_hosts);
    tcase_add_test(tc, test_full_edges);
    tcase_add_test(tc, test_design_example);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_client_cert_dh);
    tcase_add_test(tc, test_probe_options);
    tcase_add_test(tc, test_cert_name_default);
    tcase_add_test(tc, test_merge_hosts);
    tcase_add_test(tc, test_whitespace);
    tcase_add_test(tc, test_many);
    suite_add_tcase(s, tc);

    tc = tcase_create("answer");
    tcase_add_loop_test(tc, test_answer, 0, (int)ES_ARRAY_LEN(answer_cases));
    tcase_add_test(tc, test_answer_by_hand);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad");
    tcase_add_loop_test(tc, test_bad_spec, 0, (int)ES_ARRAY_LEN(bad_cases));
    tcase_add_test(tc, test_small_err);
    tcase_add_test(tc, test_long_line);
    tcase_add_test(tc, test_mutations);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_file_missing);
    tcase_add_test(tc, test_file_messages);
    tcase_add_test(tc, test_demo_shape);
    tcase_add_loop_test(tc, test_demo_faults, 0, D_DEAD + 1);
    tcase_add_test(tc, test_demo_nxdomain);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
