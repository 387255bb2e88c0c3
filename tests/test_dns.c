/* test_dns.c - every host through every resolver, end to end.
 *
 * Two kinds of servers, all on 127.20.0.0/16:
 *   - a tiny UDP responder inside the test process ("fake", registered on
 *     the same es_loop as the resolver), which keeps the bytes of every query
 *     it gets and answers with chosen RCODEs per name and type; it checks the
 *     wire form of the ECS option and covers FORMERR and NOTIMP, which the
 *     lab does not produce;
 *   - `edgeshake lab` with a spec of resolvers and hosts, started once for
 *     the "lab" test case: answers per resolver, NXDOMAIN, SERVFAIL,
 *     REFUSED, drops, AAAA, ECS, and 2,000 names x 3 resolvers. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edgeshake/dns.h"
#include "edgeshake/dnsmsg.h"
#include "edgeshake/loop.h"
#include "edgeshake/net.h"
#include "edgeshake/resolver.h"
#include "edgeshake/util.h"
#include "testlib.h"

/* ---- results ------------------------------------------------------------ */

struct result {
    char host[300];
    size_t resolver;
    char ips[512]; /* "a,b,c" */
    const char *error;
    double ms;
};

struct results {
    struct result *v;
    size_t n, cap;
};

static void collect(void *arg, const char *host, size_t resolver, const struct es_ip *ips, size_t n,
                    const char *error, double dns_ms)
{
    struct results *rs = arg;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
    }
    struct result *r = &rs->v[rs->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->host, sizeof r->host, "%s", host);
    r->resolver = resolver;
    r->error = error;
    r->ms = dns_ms;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        char buf[ES_IP_TEXT];
        off += (size_t)snprintf(r->ips + off, sizeof r->ips - off, "%s%s", i ? "," : "",
                                es_ip_str(&ips[i], buf, sizeof buf));
    }
    /* the contract: addresses xor an error */
    ck_assert_msg((n > 0) == (error == NULL), "%s/%zu: %zu addresses with error %s", host, resolver,
                  n, error ? error : "NULL");
    ck_assert(dns_ms >= 0);
}

static const struct result *find(const struct results *rs, const char *host, size_t resolver)
{
    const struct result *found = NULL;
    for (size_t i = 0; i < rs->n; i++) {
        if (strcmp(rs->v[i].host, host) == 0 && rs->v[i].resolver == resolver) {
            ck_assert_msg(found == NULL, "%s/%zu reported twice", host, resolver);
            found = &rs->v[i];
        }
    }
    ck_assert_msg(found != NULL, "%s/%zu not reported", host, resolver);
    return found;
}

/* expect: "ip,ip" for addresses, or an error token */
static void check(const struct results *rs, const char *host, size_t resolver, const char *expect)
{
    const struct result *r = find(rs, host, resolver);
    const char *got = r->error ? r->error : r->ips;
    ck_assert_msg(strcmp(got, expect) == 0, "%s via resolver %zu: got '%s', want '%s'", host,
                  resolver, got, expect);
}

static struct es_resolver_spec *specs(const char *const *values, size_t n)
{
    char err[256];
    size_t nout;
    struct es_resolver_spec *r = es_resolvers_parse(values, n, &nout, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    return r;
}

static struct es_dns *new_dns(struct es_loop *loop, const struct es_resolver_spec *r, size_t n,
                              unsigned family, unsigned timeout_ms, unsigned retries,
                              size_t max_inflight)
{
    struct es_dns_opts o = {timeout_ms, retries, family, max_inflight};
    char err[256];
    struct es_dns *dns = es_dns_new(loop, r, n, &o, err, sizeof err);
    ck_assert_msg(dns != NULL, "%s", err);
    return dns;
}

/* ---- the in-process responder ------------------------------------------- */

enum { DROP = 99 }; /* "rcode" meaning: do not answer */

struct fake {
    struct es_watch w;
    char addr[ES_ENDPOINT_TEXT]; /* "127.20.54.1:PORT" */
    bool formerr_all;            /* answer FORMERR without OPT to everything */
    uint8_t queries[64][512];
    size_t qlen[64];
    size_t nq;
};

/* What the fake answers for (name, qtype): an RCODE (or DROP) and addresses. */
static unsigned fake_rule(const struct es_dnsmsg *q, struct es_ip *ips, size_t *nips)
{
    bool a = q->qtype == ES_DNS_TYPE_A;
    *nips = 0;
    if (strcmp(q->qname, "a.test") == 0 || strncmp(q->qname, "chain", 5) == 0) {
        if (a) {
            /* with ECS 198.51.100.0/22: another address */
            es_ip_parse(q->has_ecs ? "127.20.9.2" : "127.20.9.1", &ips[0]);
            *nips = 1;
        }
        return ES_RCODE_NOERROR;
    }
    if (strcmp(q->qname, "nx.test") == 0)
        return ES_RCODE_NXDOMAIN;
    if (strcmp(q->qname, "notimp.test") == 0)
        return ES_RCODE_NOTIMP;
    if (strcmp(q->qname, "mix1.test") == 0) /* A: no data, AAAA: SERVFAIL */
        return a ? ES_RCODE_NOERROR : ES_RCODE_SERVFAIL;
    if (strcmp(q->qname, "mix2.test") == 0) /* A: NXDOMAIN, AAAA: no data */
        return a ? ES_RCODE_NXDOMAIN : ES_RCODE_NOERROR;
    if (strcmp(q->qname, "mix3.test") == 0) { /* A: dropped, AAAA: an address */
        if (a)
            return DROP;
        es_ip_parse("2001:db8::1", &ips[0]);
        *nips = 1;
        return ES_RCODE_NOERROR;
    }
    if (strcmp(q->qname, "mix4.test") == 0) /* A: REFUSED, AAAA: dropped */
        return a ? ES_RCODE_REFUSED : DROP;
    if (strcmp(q->qname, "dual.test") == 0) { /* both families, duplicates, unsorted */
        const char *v[] = {"127.20.9.7", "2001:db8::2", "127.20.9.3", "127.20.9.7", "::1"};
        for (size_t i = 0; i < 5; i++) {
            es_ip_parse(v[i], &ips[*nips]);
            if ((ips[*nips].family == AF_INET) == a)
                (*nips)++;
        }
        return ES_RCODE_NOERROR;
    }
    return ES_RCODE_NXDOMAIN;
}

static void fake_read(struct es_loop *loop, struct es_watch *w, uint32_t events)
{
    (void)loop;
    (void)events;
    struct fake *f = (struct fake *)w;
    uint8_t buf[1500], out[1500];
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof from;
    ssize_t n;
    while ((n = recvfrom(w->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from,
                         &fromlen)) > 0) {
        if (f->nq < 64) {
            memcpy(f->queries[f->nq], buf, (size_t)n);
            f->qlen[f->nq++] = (size_t)n;
        }
        struct es_dnsmsg q;
        ck_assert_int_eq(es_dnsmsg_parse_query(buf, (size_t)n, &q), ES_DNSMSG_OK);
        struct es_ip ips[8];
        struct es_dnsmsg_reply r = {0, ips, 0, 0};
        if (f->formerr_all) {
            r.rcode = ES_RCODE_FORMERR;
            q.has_opt = q.has_ecs = false; /* a server that does not know EDNS */
        } else {
            r.rcode = fake_rule(&q, ips, &r.nip);
        }
        if (r.rcode == DROP)
            continue;
        size_t len;
        ck_assert_int_eq(es_dnsmsg_build_response(&q, &r, out, sizeof out, &len), ES_DNSMSG_OK);
        ck_assert(sendto(w->fd, out, len, 0, (struct sockaddr *)&from, fromlen) == (ssize_t)len);
        fromlen = sizeof from;
    }
}

static void fake_start(struct es_loop *loop, struct fake *f, const char *ip)
{
    memset(f, 0, sizeof *f);
    struct es_endpoint ep;
    ck_assert(es_ip_parse(ip, &ep.ip));
    ep.port = 0; /* any free port */
    struct sockaddr_storage ss;
    socklen_t sl = es_endpoint_sockaddr(&ep, &ss);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert(fd >= 0);
    ck_assert_msg(bind(fd, (struct sockaddr *)&ss, sl) == 0, "bind %s", ip);
    sl = sizeof ss;
    ck_assert(getsockname(fd, (struct sockaddr *)&ss, &sl) == 0);
    es_endpoint_from_sockaddr((struct sockaddr *)&ss, &ep);
    es_endpoint_str(&ep, f->addr, sizeof f->addr);
    f->w.fd = fd;
    f->w.fn = fake_read;
    ck_assert_int_eq(es_loop_add(loop, &f->w, EPOLLIN), 0);
}

static void fake_stop(struct es_loop *loop, struct fake *f)
{
    es_loop_del(loop, &f->w);
    close(f->w.fd);
}

static uint16_t u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

START_TEST(test_ecs_on_the_wire)
{
    struct es_loop *loop = es_loop_new();
    struct fake f;
    fake_start(loop, &f, "127.20.54.1");
    char e[128], p[128];
    snprintf(e, sizeof e, "ecs=%s,ecs=198.51.100.77/22", f.addr);
    snprintf(p, sizeof p, "plain=%s", f.addr);
    const char *v[] = {e, p};
    struct es_resolver_spec *r = specs(v, 2);
    struct es_dns *dns = new_dns(loop, r, 2, ES_DNS_FAMILY_4, 2000, 0, 0);
    struct results rs = {0};
    es_dns_resolve(dns, "a.test", collect, &rs);
    ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    ck_assert_uint_eq(rs.n, 2);
    check(&rs, "a.test", 0, "127.20.9.2"); /* the ECS answer */
    check(&rs, "a.test", 1, "127.20.9.1");
    ck_assert_uint_eq(f.nq, 2);
    for (size_t i = 0; i < 2; i++) {
        const uint8_t *m = f.queries[i];
        size_t len = f.qlen[i];
        struct es_dnsmsg q;
        ck_assert_int_eq(es_dnsmsg_parse_query(m, len, &q), ES_DNSMSG_OK);
        ck_assert_str_eq(q.qname, "a.test");
        ck_assert_uint_eq(q.qtype, ES_DNS_TYPE_A);
        ck_assert(q.flags & ES_DNS_FLAG_RD);
        if (!q.has_opt) { /* the plain resolver: no EDNS at all */
            ck_assert_uint_eq(u16(m + 10), 0);
            ck_assert(!q.has_ecs);
            continue;
        }
        /* exactly one additional record, the OPT, last, with one ECS option:
         * family 1, source 22, scope 0, 3 address bytes, bits past /22 zero */
        static const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0,  0, 0,   0,  11,
                                      0, 8, 0,  7,    0,    1, 22, 0, 198, 51, 100};
        ck_assert_uint_eq(u16(m + 10), 1);
        ck_assert_uint_ge(len, sizeof opt);
        ck_assert_mem_eq(m + len - sizeof opt, opt, sizeof opt);
        ck_assert(q.has_ecs);
        ck_assert_uint_eq(q.ecs.source_prefix, 22);
    }
    es_dns_free(dns);
    fake_stop(loop, &f);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}
END_TEST

START_TEST(test_formerr_keeps_edns)
{
    struct es_loop *loop = es_loop_new();
    struct fake f;
    fake_start(loop, &f, "127.20.54.2");
    f.formerr_all = true;
    char e[128], p[128];
    snprintf(e, sizeof e, "e=%s,ecs=2001:db8:aa::/48", f.addr);
    snprintf(p, sizeof p, "p=%s", f.addr);
    const char *v[] = {e, p};
    struct es_resolver_spec *r = specs(v, 2);
    struct es_dns *dns = new_dns(loop, r, 2, ES_DNS_FAMILY_4, 2000, 2, 0);
    struct results rs = {0};
    const char *names[] = {"one.test", "two.test", "three.test"};
    /* one after the other, so a channel that turned EDNS off would show it */
    for (size_t i = 0; i < 3; i++) {
        es_dns_resolve(dns, names[i], collect, &rs);
        ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    }
    ck_assert_uint_eq(rs.n, 6);
    for (size_t i = 0; i < 3; i++) {
        check(&rs, names[i], 0, "dns_formerr");
        check(&rs, names[i], 1, "dns_formerr");
        ck_assert_ptr_eq(find(&rs, names[i], 0)->error, es_dns_formerr);
    }
    /* six queries, no retries; the ECS resolver's three all carry the option */
    ck_assert_uint_eq(f.nq, 6);
    size_t with_ecs = 0;
    for (size_t i = 0; i < f.nq; i++) {
        struct es_dnsmsg q;
        ck_assert_int_eq(es_dnsmsg_parse_query(f.queries[i], f.qlen[i], &q), ES_DNSMSG_OK);
        if (q.has_ecs) {
            ck_assert_uint_eq(q.ecs.family, ES_ECS_FAMILY_V6);
            ck_assert_uint_eq(q.ecs.source_prefix, 48);
            with_ecs++;
        }
    }
    ck_assert_uint_eq(with_ecs, 3);
    es_dns_free(dns);
    fake_stop(loop, &f);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}
END_TEST

START_TEST(test_rcodes_and_family_rule)
{
    struct es_loop *loop = es_loop_new();
    struct fake f;
    fake_start(loop, &f, "127.20.54.3");
    char p[128];
    snprintf(p, sizeof p, "p=%s", f.addr);
    const char *v[] = {p};
    struct es_resolver_spec *r = specs(v, 1);
    struct es_dns *dns = new_dns(loop, r, 1, ES_DNS_FAMILY_BOTH, 100, 0, 0);
    struct results rs = {0};
    static const struct {
        const char *host, *expect;
    } cases[] = {
        {"a.test", "127.20.9.1"},                               /* AAAA no data is dropped */
        {"dual.test", "127.20.9.3,127.20.9.7,::1,2001:db8::2"}, /* sorted, v4 first, deduped */
        {"nx.test", "nxdomain"},                                /* both NXDOMAIN */
        {"notimp.test", "dns_error"},                           /* another RCODE */
        {"mix1.test", "servfail"},    /* resolver failure beats no_address */
        {"mix2.test", "nxdomain"},    /* nxdomain beats no_address */
        {"mix3.test", "2001:db8::1"}, /* one family is enough */
        {"mix4.test", "dns_timeout"}, /* timeout beats dns_refused */
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++)
        es_dns_resolve(dns, cases[i].host, collect, &rs);
    ck_assert_uint_eq(es_dns_pending(dns), ES_ARRAY_LEN(cases));
    ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    ck_assert_uint_eq(es_dns_pending(dns), 0);
    ck_assert_uint_eq(rs.n, ES_ARRAY_LEN(cases));
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++)
        check(&rs, cases[i].host, 0, cases[i].expect);
    struct es_dns_stats st;
    es_dns_stats(dns, &st);
    ck_assert_uint_eq(st.hosts, ES_ARRAY_LEN(cases));
    ck_assert_uint_eq(st.results, ES_ARRAY_LEN(cases));
    ck_assert_uint_eq(st.queries, 2 * ES_ARRAY_LEN(cases));
    ck_assert_uint_eq(st.timeouts, 2); /* mix3 A, mix4 AAAA */
    ck_assert_uint_eq(st.retries, 0);
    ck_assert_uint_eq(st.inflight, 0);
    es_dns_free(dns);
    fake_stop(loop, &f);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}
END_TEST

/* A callback that queues the next name: 40 names, one at a time. */
struct chain {
    struct es_dns *dns;
    struct results rs;
    int next;
};

static void chain_cb(void *arg, const char *host, size_t resolver, const struct es_ip *ips,
                     size_t n, const char *error, double dns_ms)
{
    struct chain *c = arg;
    collect(&c->rs, host, resolver, ips, n, error, dns_ms);
    if (c->next < 40) {
        char name[32];
        snprintf(name, sizeof name, "chain%d.test", c->next++);
        es_dns_resolve(c->dns, name, chain_cb, c);
    }
}

START_TEST(test_resolve_from_callback)
{
    struct es_loop *loop = es_loop_new();
    struct fake f;
    fake_start(loop, &f, "127.20.54.4");
    char p[128];
    snprintf(p, sizeof p, "p=%s", f.addr);
    const char *v[] = {p};
    struct es_resolver_spec *r = specs(v, 1);
    struct chain c = {new_dns(loop, r, 1, ES_DNS_FAMILY_4, 2000, 0, 0), {0}, 1};
    es_dns_resolve(c.dns, "chain0.test", chain_cb, &c);
    ck_assert_int_eq(es_dns_run(c.dns, NULL), 0);
    ck_assert_uint_eq(c.rs.n, 40);
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "chain%d.test", i);
        check(&c.rs, name, 0, "127.20.9.1");
    }
    es_dns_free(c.dns);
    fake_stop(loop, &f);
    es_loop_free(loop);
    free(r);
    free(c.rs.v);
}
END_TEST

START_TEST(test_bad_name_is_not_sent)
{
    struct es_loop *loop = es_loop_new();
    struct fake f;
    fake_start(loop, &f, "127.20.54.5");
    char p[128];
    snprintf(p, sizeof p, "p=%s", f.addr);
    const char *v[] = {p};
    struct es_resolver_spec *r = specs(v, 1);
    struct es_dns *dns = new_dns(loop, r, 1, ES_DNS_FAMILY_BOTH, 2000, 0, 0);
    struct results rs = {0};
    char label64[80];
    memset(label64, 'x', 64);
    strcpy(label64 + 64, ".test");
    es_dns_resolve(dns, label64, collect, &rs); /* a label of 64 bytes cannot be encoded */
    ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    ck_assert_uint_eq(rs.n, 1);
    check(&rs, label64, 0, "dns_error");
    ck_assert_uint_eq(f.nq, 0);
    es_dns_free(dns);
    fake_stop(loop, &f);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}
END_TEST

static void no_callback(void *arg, const char *host, size_t resolver, const struct es_ip *ips,
                        size_t n, const char *error, double dns_ms)
{
    (void)arg, (void)ips, (void)n, (void)error, (void)dns_ms;
    ck_abort_msg("callback for %s/%zu after es_dns_free", host, resolver);
}

START_TEST(test_free_with_queries_in_flight)
{
    struct es_loop *loop = es_loop_new();
    struct fake f;
    fake_start(loop, &f, "127.20.54.6");
    char p[128];
    snprintf(p, sizeof p, "p=%s", f.addr);
    const char *v[] = {p};
    struct es_resolver_spec *r = specs(v, 1);
    struct es_dns *dns = new_dns(loop, r, 1, ES_DNS_FAMILY_4, 5000, 0, 10);
    for (int i = 0; i < 50; i++)
        es_dns_resolve(dns, "mix3.test", no_callback, NULL); /* A is dropped */
    struct es_dns_stats st;
    es_dns_stats(dns, &st);
    ck_assert_uint_eq(st.inflight, 10);
    ck_assert_uint_eq(st.max_inflight_seen, 10);
    ck_assert_uint_eq(es_dns_pending(dns), 50);
    for (int i = 0; i < 5; i++)
        es_dns_run_once(dns, 10);
    es_dns_free(dns); /* 10 in flight, 40 queued: no callback, nothing leaked */
    /* the loop no longer holds anything of dns */
    ck_assert_int_eq(es_loop_run_once(loop, 0), 0);
    fake_stop(loop, &f);
    es_loop_free(loop);
    free(r);
}
END_TEST

START_TEST(test_closed_port)
{
    /* Nothing listens there. c-ares' UDP socket is connected, so the ICMP
     * port unreachable comes back as ECONNREFUSED, and every query in flight
     * on that socket ends at once as resolver_unreachable: never the generic
     * dns_error, never a timeout (the deadline is 5 s: a timeout would show). */
    const char *v[] = {"closed=127.20.54.9:5399"};
    struct es_resolver_spec *r = specs(v, 1);
    struct es_loop *loop = es_loop_new();
    struct es_dns *dns = new_dns(loop, r, 1, ES_DNS_FAMILY_BOTH, 5000, 1, 0);
    struct results rs = {0};
    for (int round = 0; round < 3; round++) {
        char name[32];
        snprintf(name, sizeof name, "r%d.test", round);
        es_dns_resolve(dns, name, collect, &rs);
        es_dns_resolve(dns, "x.test", collect, &rs);
        ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    }
    ck_assert_uint_eq(rs.n, 6);
    for (size_t i = 0; i < rs.n; i++) {
        const char *e = rs.v[i].error;
        ck_assert_msg(e == es_dns_unreachable, "%s: %s", rs.v[i].host, e ? e : "addresses");
    }
    struct es_dns_stats st;
    es_dns_stats(dns, &st);
    ck_assert_uint_eq(st.timeouts, 0);
    char addr[128];
    ck_assert_str_eq(es_dns_resolver_addr(dns, 0, addr, sizeof addr), "127.20.54.9:5399");
    es_dns_free(dns);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}
END_TEST

START_TEST(test_system_resolver_starts)
{
    /* the resolv.conf resolver is set up (and freed) without sending a packet */
    struct es_resolver_spec *r = specs(NULL, 0);
    struct es_loop *loop = es_loop_new();
    struct es_dns *dns = new_dns(loop, r, 1, ES_DNS_FAMILY_4, 0, 0, 0);
    struct es_dns_stats st;
    es_dns_stats(dns, &st);
    ck_assert_uint_eq(st.max_inflight, ES_DNS_MAX_INFLIGHT);
    ck_assert_uint_eq(st.queries, 0);
    ck_assert_uint_eq(es_dns_pending(dns), 0);
    ck_assert_int_eq(es_dns_run(dns, NULL), 0); /* nothing to do: returns at once */
    es_dns_free(dns);
    es_loop_free(loop);
    free(r);
}
END_TEST

/* ---- against the lab ------------------------------------------------------ */

static struct tl_lab lab;

#define MANY 2000

static void lab_up(void)
{
    /* resolvers 127.20.53.1-9, names answered with 127.20.2.x, 127.20.100-127.x */
    size_t cap = 256 * 1024, off = 0;
    char *spec = malloc(cap);
    off += (size_t)snprintf(spec + off, cap - off,
                            "resolver eu 127.20.53.1:5353\n"
                            "resolver us 127.20.53.2:5353\n"
                            "resolver ap 127.20.53.3:5353\n"
                            "resolver sf 127.20.53.4:5353 fault=servfail\n"
                            "resolver rf 127.20.53.5:5353 fault=refused\n"
                            "resolver dead 127.20.53.9:5353 fault=drop\n"
                            "host shop.test eu=127.20.2.1,127.20.2.2 us=127.20.2.2,127.20.2.3 "
                            "ap=nxdomain\n"
                            "host blog.test eu=servfail us=refused ap=127.20.2.7\n"
                            "host slow.test eu=drop us=127.20.2.6\n"
                            "host only-eu.test eu=127.20.2.8\n"
                            "host v6.test eu=127.20.2.3,::1 us=2001:db8::53\n"
                            "host cdn.test eu=127.20.2.1 us=127.20.2.4\n"
                            "host cdn.test ecs:198.51.100.0/24=127.20.2.9\n"
                            "host cdn.test ecs:2001:db8:1::/48=127.20.2.10\n");
    for (int i = 0; i < MANY; i++) {
        int hi = i / 250, lo = i % 250 + 1;
        off += (size_t)snprintf(spec + off, cap - off,
                                "host n%d.test eu=127.20.%d.%d us=127.20.%d.%d,127.20.%d.%d", i,
                                100 + hi, lo, 110 + hi, lo, 100 + hi, lo);
        if (i % 10)
            off += (size_t)snprintf(spec + off, cap - off, " ap=127.20.%d.%d", 120 + hi, lo);
        off += (size_t)snprintf(spec + off, cap - off, "\n");
    }
    ck_assert(off < cap - 1);
    tl_lab_start(&lab, spec);
    free(spec);
}

static void lab_down(void)
{
    tl_lab_stop(&lab);
}

START_TEST(test_lab_answers_per_resolver)
{
    const char *v[] = {"eu=127.20.53.1:5353", "us=127.20.53.2:5353", "ap=127.20.53.3:5353",
                       "sf=127.20.53.4:5353", "rf=127.20.53.5:5353"};
    struct es_resolver_spec *r = specs(v, 5);
    struct es_loop *loop = es_loop_new();
    struct es_dns *dns = new_dns(loop, r, 5, ES_DNS_FAMILY_4, 2000, 1, 0);
    struct results rs = {0};
    const char *hosts[] = {"shop.test", "blog.test", "only-eu.test", "missing.test"};
    for (size_t i = 0; i < 4; i++)
        es_dns_resolve(dns, hosts[i], collect, &rs);
    ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    ck_assert_uint_eq(rs.n, 20);
    /* overlapping answers stay per resolver */
    check(&rs, "shop.test", 0, "127.20.2.1,127.20.2.2");
    check(&rs, "shop.test", 1, "127.20.2.2,127.20.2.3");
    check(&rs, "shop.test", 2, "nxdomain");
    check(&rs, "shop.test", 3, "servfail");
    check(&rs, "shop.test", 4, "dns_refused");
    check(&rs, "blog.test", 0, "servfail");
    check(&rs, "blog.test", 1, "dns_refused");
    check(&rs, "blog.test", 2, "127.20.2.7");
    check(&rs, "only-eu.test", 0, "127.20.2.8");
    check(&rs, "only-eu.test", 1, "nxdomain"); /* a resolver the host line does not name */
    for (size_t k = 0; k < 3; k++)
        check(&rs, "missing.test", k, "nxdomain");
    check(&rs, "missing.test", 3, "servfail");
    ck_assert_ptr_eq(find(&rs, "shop.test", 2)->error, es_dns_nxdomain);
    ck_assert_ptr_eq(find(&rs, "shop.test", 3)->error, es_dns_servfail);
    ck_assert_ptr_eq(find(&rs, "shop.test", 4)->error, es_dns_refused);
    struct es_dns_stats st;
    es_dns_stats(dns, &st);
    ck_assert_uint_eq(st.queries, 20); /* SERVFAIL and REFUSED are answers: no retry */
    ck_assert_uint_eq(st.retries, 0);
    es_dns_free(dns);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}
END_TEST

START_TEST(test_lab_timeout)
{
    const char *v[] = {"eu=127.20.53.1:5353", "dead=127.20.53.9:5353"};
    struct es_resolver_spec *r = specs(v, 2);
    struct es_loop *loop = es_loop_new();
    /* 100 ms per try, 3 tries: every dropped query gives up after ~300 ms
     * (c-ares' own retries would double: 100 + 200 + 400) */
    struct es_dns *dns = new_dns(loop, r, 2, ES_DNS_FAMILY_4, 100, 2, 0);
    struct results rs = {0};
    es_dns_resolve(dns, "slow.test", collect, &rs); /* eu drops this name */
    es_dns_resolve(dns, "shop.test", collect, &rs); /* dead drops everything */
    ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    ck_assert_uint_eq(rs.n, 4);
    check(&rs, "slow.test", 0, "dns_timeout");
    check(&rs, "slow.test", 1, "dns_timeout");
    check(&rs, "shop.test", 0, "127.20.2.1,127.20.2.2");
    check(&rs, "shop.test", 1, "dns_timeout");
    const struct result *t[] = {find(&rs, "slow.test", 0), find(&rs, "slow.test", 1),
                                find(&rs, "shop.test", 1)};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_ptr_eq(t[i]->error, es_dns_timeout);
        ck_assert_msg(t[i]->ms >= 295 && t[i]->ms < 700, "timeout after %.1f ms", t[i]->ms);
    }
    struct es_dns_stats st;
    es_dns_stats(dns, &st);
    ck_assert_uint_eq(st.timeouts, 3);
    ck_assert_uint_eq(st.retries, 6);
    ck_assert_uint_eq(st.queries, 1 + 3 * 3);
    es_dns_free(dns);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}
END_TEST

START_TEST(test_lab_families)
{
    const char *v[] = {"eu=127.20.53.1:5353", "us=127.20.53.2:5353"};
    struct es_resolver_spec *r = specs(v, 2);
    static const struct {
        unsigned family;
        const char *host;
        const char *eu, *us;
    } cases[] = {
        {ES_DNS_FAMILY_4, "v6.test", "127.20.2.3", "no_address"},
        {ES_DNS_FAMILY_6, "v6.test", "::1", "2001:db8::53"},
        {ES_DNS_FAMILY_BOTH, "v6.test", "127.20.2.3,::1", "2001:db8::53"},
        {ES_DNS_FAMILY_6, "shop.test", "no_address", "no_address"},
        {ES_DNS_FAMILY_BOTH, "shop.test", "127.20.2.1,127.20.2.2", "127.20.2.2,127.20.2.3"},
        {ES_DNS_FAMILY_BOTH, "missing.test", "nxdomain", "nxdomain"},
        {ES_DNS_FAMILY_6, "blog.test", "servfail", "dns_refused"},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        struct es_loop *loop = es_loop_new();
        struct es_dns *dns = new_dns(loop, r, 2, cases[i].family, 2000, 1, 0);
        struct results rs = {0};
        es_dns_resolve(dns, cases[i].host, collect, &rs);
        ck_assert_int_eq(es_dns_run(dns, NULL), 0);
        ck_assert_uint_eq(rs.n, 2);
        check(&rs, cases[i].host, 0, cases[i].eu);
        check(&rs, cases[i].host, 1, cases[i].us);
        struct es_dns_stats st;
        es_dns_stats(dns, &st);
        ck_assert_uint_eq(st.queries, cases[i].family == ES_DNS_FAMILY_BOTH ? 4 : 2);
        es_dns_free(dns);
        es_loop_free(loop);
        free(rs.v);
    }
    free(r);
}
END_TEST

START_TEST(test_lab_ecs)
{
    /* four labels on one lab resolver: without ECS, in the ECS subnet
     * (also a narrower one inside it), outside it, and an IPv6 subnet */
    const char *v[] = {"plain=127.20.53.2:5353", "in=127.20.53.2:5353,ecs=198.51.100.0/24",
                       "narrow=127.20.53.2:5353,ecs=198.51.100.128/25",
                       "out=127.20.53.2:5353,ecs=203.0.113.0/24",
                       "in6=127.20.53.2:5353,ecs=2001:db8:1:2::/64"};
    struct es_resolver_spec *r = specs(v, 5);
    struct es_loop *loop = es_loop_new();
    struct es_dns *dns = new_dns(loop, r, 5, ES_DNS_FAMILY_4, 2000, 1, 0);
    struct results rs = {0};
    es_dns_resolve(dns, "cdn.test", collect, &rs);
    es_dns_resolve(dns, "shop.test", collect, &rs);
    ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    check(&rs, "cdn.test", 0, "127.20.2.4"); /* us's answer */
    check(&rs, "cdn.test", 1, "127.20.2.9");
    check(&rs, "cdn.test", 2, "127.20.2.9");
    check(&rs, "cdn.test", 3, "127.20.2.4");
    check(&rs, "cdn.test", 4, "127.20.2.10");
    /* a name without ECS rules: every label gets the resolver's answer */
    for (size_t k = 0; k < 5; k++)
        check(&rs, "shop.test", k, "127.20.2.2,127.20.2.3");
    es_dns_free(dns);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}
END_TEST

static void check_many(const struct results *rs)
{
    ck_assert_uint_eq(rs->n, 3 * MANY);
    size_t ok = 0, nx = 0;
    for (int i = 0; i < MANY; i++) {
        int hi = i / 250, lo = i % 250 + 1;
        char host[32], eu[32], us[64], ap[32];
        snprintf(host, sizeof host, "n%d.test", i);
        snprintf(eu, sizeof eu, "127.20.%d.%d", 100 + hi, lo);
        snprintf(us, sizeof us, "127.20.%d.%d,127.20.%d.%d", 100 + hi, lo, 110 + hi, lo);
        snprintf(ap, sizeof ap, "127.20.%d.%d", 120 + hi, lo);
        check(rs, host, 0, eu);
        check(rs, host, 1, us);
        check(rs, host, 2, i % 10 ? ap : "nxdomain");
    }
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->v[i].error)
            nx++;
        else
            ok++;
    }
    ck_assert_uint_eq(ok, 2 * MANY + MANY - MANY / 10);
    ck_assert_uint_eq(nx, MANY / 10);
}

/* One in-flight budget per resolver (issue 12 item 2): a resolver that
 * drops everything fills its own budget and no other. With a budget of 8
 * queries each and 60 hosts, the live resolvers answer every host before the
 * dead one's first deadline (2 s) passes; under the old shared budget the
 * dead resolver's 8 silent queries held the budget, and the live answers came
 * 8 per deadline. Then every host gets dns_timeout from the dead one. */
START_TEST(test_lab_dead_resolver_isolated)
{
    const char *v[] = {"eu=127.20.53.1:5353", "dead=127.20.53.9:5353", "us=127.20.53.2:5353"};
    struct es_resolver_spec *r = specs(v, 3);
    struct es_loop *loop = es_loop_new();
    struct es_dns *dns = new_dns(loop, r, 3, ES_DNS_FAMILY_4, 2000, 0, 8);
    struct results rs = {0};
    enum { HOSTS = 60 };
    for (int i = 0; i < HOSTS; i++) {
        char host[32];
        snprintf(host, sizeof host, "n%d.test", i);
        es_dns_resolve(dns, host, collect, &rs);
    }
    ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    ck_assert_uint_eq(rs.n, 3 * HOSTS);
    size_t live_before_first_timeout = 0, timeouts = 0;
    bool seen_timeout = false;
    for (size_t i = 0; i < rs.n; i++) {
        if (rs.v[i].resolver == 1) {
            ck_assert_ptr_eq(rs.v[i].error, es_dns_timeout);
            seen_timeout = true;
            timeouts++;
        } else {
            ck_assert_ptr_null(rs.v[i].error);
            live_before_first_timeout += !seen_timeout;
        }
    }
    ck_assert_uint_eq(timeouts, HOSTS);
    ck_assert_uint_eq(live_before_first_timeout, 2 * HOSTS);
    char addr[128];
    ck_assert_str_eq(es_dns_resolver_addr(dns, 1, addr, sizeof addr), "127.20.53.9:5353");
    es_dns_free(dns);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}
END_TEST

static void run_many(size_t cap)
{
    const char *v[] = {"eu=127.20.53.1:5353", "us=127.20.53.2:5353", "ap=127.20.53.3:5353"};
    struct es_resolver_spec *r = specs(v, 3);
    struct es_loop *loop = es_loop_new();
    /* generous retries: a query the lab drops under load is asked again */
    struct es_dns *dns = new_dns(loop, r, 3, ES_DNS_FAMILY_4, 1000, 3, cap);
    struct results rs = {0};
    for (int i = 0; i < MANY; i++) {
        char host[32];
        snprintf(host, sizeof host, "n%d.test", i);
        es_dns_resolve(dns, host, collect, &rs);
    }
    ck_assert_uint_eq(es_dns_pending(dns), MANY);
    ck_assert_int_eq(es_dns_run(dns, NULL), 0);
    check_many(&rs);
    struct es_dns_stats st;
    es_dns_stats(dns, &st);
    fprintf(stderr, "many (cap %zu): %llu queries, %llu retries, max in flight %zu\n", cap,
            (unsigned long long)st.queries, (unsigned long long)st.retries, st.max_inflight_seen);
    ck_assert_uint_eq(st.hosts, MANY);
    ck_assert_uint_eq(st.results, 3 * MANY);
    ck_assert_uint_eq(st.timeouts, 0);
    ck_assert_uint_eq(st.queries, 3 * MANY + st.retries);
    ck_assert_uint_eq(st.max_inflight, cap);
    /* queued without running the loop: each resolver's cap fills, and is never passed */
    ck_assert_uint_eq(st.max_inflight_seen, 3 * cap);
    ck_assert_uint_eq(st.inflight, 0);
    ck_assert_uint_eq(es_dns_pending(dns), 0);
    es_dns_free(dns);
    es_loop_free(loop);
    free(r);
    free(rs.v);
}

START_TEST(test_lab_many_small_cap)
{
    run_many(200);
}
END_TEST

START_TEST(test_lab_many_default_cap)
{
    run_many(ES_DNS_MAX_INFLIGHT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("fake");
    tcase_add_test(tc, test_ecs_on_the_wire);
    tcase_add_test(tc, test_formerr_keeps_edns);
    tcase_add_test(tc, test_rcodes_and_family_rule);
    tcase_add_test(tc, test_resolve_from_callback);
    tcase_add_test(tc, test_bad_name_is_not_sent);
    tcase_add_test(tc, test_free_with_queries_in_flight);
    tcase_add_test(tc, test_closed_port);
    tcase_add_test(tc, test_system_resolver_starts);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("lab");
    tcase_add_unchecked_fixture(tl, lab_up, lab_down);
    tcase_add_test(tl, test_lab_answers_per_resolver);
    tcase_add_test(tl, test_lab_timeout);
    tcase_add_test(tl, test_lab_families);
    tcase_add_test(tl, test_lab_ecs);
    tcase_add_test(tl, test_lab_dead_resolver_isolated);
    tcase_add_test(tl, test_lab_many_small_cap);
    tcase_add_test(tl, test_lab_many_default_cap);
    tcase_set_timeout(tl, 120);
    suite_add_tcase(s, tl);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
