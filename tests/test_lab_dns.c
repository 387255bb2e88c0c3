/* test_lab_dns.c - the lab's UDP resolvers, end to end: real queries (made by
 * ares_create_query, ECS added by es_dnsmsg_add_ecs) sent over loopback to
 * `edgeshake lab`, answers read by c-ares and by our response parser; plus
 * in-process tests of es_lab_dns_start (bind errors, cleanup, a stream of
 * corrupted queries) with the loop on a thread.
 *
 * Addresses: 127.11.0.0/16 only (testlib.h). The lab listens on
 * 127.11.0.1-5, in-process resolvers on 127.11.1.x, clients bind 127.11.0.200.
 * The UDP port is picked at start among free ones, so two runs of this suite
 * (two build directories) do not collide. */
#include <arpa/inet.h>
#include <ares.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgeshake/dnsmsg.h"
#include "edgeshake/labdns.h"
#include "edgeshake/labspec.h"
#include "edgeshake/loop.h"
#include "testlib.h"

/* The resolvers' UDP port, chosen by main before any test runs. */
static uint16_t port;

/* The lab spec, with %u for the port (five times). */
static const char lab_spec_fmt[] =
    "# test_lab_dns: five resolvers, three of them faulty\n"
    "resolver eu 127.11.0.1:%u\n"
    "resolver us 127.11.0.2:%u\n"
    "resolver dead 127.11.0.3:%u fault=drop\n"
    "resolver sick 127.11.0.4:%u fault=servfail\n"
    "resolver closed 127.11.0.5:%u fault=refused\n"
    "host shop.example.test eu=127.11.2.1,127.11.2.2,::ffff:127.11.2.5,::1 us=127.11.2.3 "
    "dead=127.11.2.4 sick=127.11.2.4 closed=127.11.2.4\n"
    "host shop.example.test ecs:127.11.100.0/24=127.11.2.9\n"
    "host v6only.example.test eu=::ffff:127.11.2.6\n"
    "host gone.example.test eu=nxdomain us=servfail\n"
    "host odd.example.test eu=refused us=drop\n";

/* ---- helpers ---------------------------------------------------------- */

/* A UDP socket bound to 127.11.0.200 (any port). */
static int client_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.11.0.200", &sa.sin_addr);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind: %s", strerror(errno));
    return fd;
}

static void send_to(int fd, const char *addr, uint16_t p, const uint8_t *msg, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(p)};
    ck_assert_int_eq(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
    ssize_t n = sendto(fd, msg, len, 0, (struct sockaddr *)&sa, sizeof sa);
    ck_assert_msg(n == (ssize_t)len, "sendto %s: %s", addr, strerror(errno));
}

/* True when a UDP socket can be bound to addr:port right now. */
static bool can_bind(const char *addr, uint16_t p)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(p)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* One datagram within timeout_ms, or -1 when none came. */
static ssize_t recv_within(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1)
        return -1;
    return recv(fd, buf, cap, 0);
}

/* A query made by c-ares (RD set); ECS added when subnet is not NULL
 * ("ADDR/LEN"). Returns its length; the ECS sent goes to *sent. */
static size_t make_query(const char *name, int qtype, unsigned short id, const char *subnet,
                         uint8_t *buf, size_t cap, struct es_dnsmsg_ecs *sent)
{
    unsigned char *q;
    int qlen;
    ck_assert_int_eq(ares_create_query(name, ES_DNS_CLASS_IN, qtype, id, 1, &q, &qlen, 0),
                     ARES_SUCCESS);
    ck_assert_uint_le((size_t)qlen, cap);
    memcpy(buf, q, (size_t)qlen);
    ares_free_string(q);
    size_t len = (size_t)qlen;
    if (subnet) {
        char addr[64];
        const char *slash = strchr(subnet, '/');
        ck_assert_ptr_nonnull(slash);
        snprintf(addr, sizeof addr, "%.*s", (int)(slash - subnet), subnet);
        memset(sent, 0, sizeof *sent);
        sent->addr.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
        ck_assert_int_eq(inet_pton(sent->addr.family, addr, sent->addr.bytes), 1);
        sent->family = sent->addr.family == AF_INET ? ES_ECS_FAMILY_V4 : ES_ECS_FAMILY_V6;
        sent->source_prefix = (unsigned)atoi(slash + 1);
        ck_assert_int_eq(es_dnsmsg_add_ecs(buf, &len, cap, &sent->addr, sent->source_prefix, 0),
                         ES_DNSMSG_OK);
    }
    return len;
}

/* The answers of a response as "a,b,c" (A or AAAA by qtype), read by c-ares;
 * "" when there are none. */
static void answers_text(const uint8_t *msg, size_t len, int qtype, char *out, size_t cap)
{
    char one[INET6_ADDRSTRLEN];
    out[0] = '\0';
    int n = 16, rc;
    if (qtype == ES_DNS_TYPE_A) {
        struct ares_addrttl at[16];
        rc = ares_parse_a_reply(msg, (int)len, NULL, at, &n);
        if (rc == ARES_ENODATA)
            return;
        ck_assert_msg(rc == ARES_SUCCESS, "ares_parse_a_reply: %s", ares_strerror(rc));
        for (int i = 0; i < n; i++) {
            ck_assert_int_eq(at[i].ttl, 60);
            inet_ntop(AF_INET, &at[i].ipaddr, one, sizeof one);
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", one);
        }
    } else {
        struct ares_addr6ttl at[16];
        rc = ares_parse_aaaa_reply(msg, (int)len, NULL, at, &n);
        if (rc == ARES_ENODATA)
            return;
        ck_assert_msg(rc == ARES_SUCCESS, "ares_parse_aaaa_reply: %s", ares_strerror(rc));
        for (int i = 0; i < n; i++) {
            ck_assert_int_eq(at[i].ttl, 60);
            inet_ntop(AF_INET6, &at[i].ip6addr, one, sizeof one);
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", one);
        }
    }
}

/* ---- end to end against `edgeshake lab` --------------------------------- */

static struct tl_lab lab;
static int lab_exit_status; /* set by the teardown, checked by main */

static void lab_up(void)
{
    char spec[2048];
    snprintf(spec, sizeof spec, lab_spec_fmt, port, port, port, port, port);
    tl_lab_start(&lab, spec);
}

static void lab_down(void)
{
    lab_exit_status = tl_lab_stop(&lab);
}

enum { NO_ANSWER = -1 };

struct dcase {
    const char *what;
    const char *server; /* 127.11.0.N */
    const char *name;
    int qtype;
    const char *ecs; /* "ADDR/LEN" or NULL */
    int rcode;       /* NO_ANSWER: silence for 1 s */
    const char *answers;
    int scope; /* -1: no ECS option in the response */
};

static const struct dcase dcases[] = {
    {"A for eu", "127.11.0.1", "shop.example.test", ES_DNS_TYPE_A, NULL, ES_RCODE_NOERROR,
     "127.11.2.1,127.11.2.2", -1},
    {"names compare without case", "127.11.0.1", "SHOP.Example.TEST", ES_DNS_TYPE_A, NULL,
     ES_RCODE_NOERROR, "127.11.2.1,127.11.2.2", -1},
    {"AAAA for eu", "127.11.0.1", "shop.example.test", ES_DNS_TYPE_AAAA, NULL, ES_RCODE_NOERROR,
     "::ffff:127.11.2.5,::1", -1},
    {"A for us", "127.11.0.2", "shop.example.test", ES_DNS_TYPE_A, NULL, ES_RCODE_NOERROR,
     "127.11.2.3", -1},
    {"AAAA for us: NODATA", "127.11.0.2", "shop.example.test", ES_DNS_TYPE_AAAA, NULL,
     ES_RCODE_NOERROR, "", -1},
    {"A of an IPv6-only host: NODATA", "127.11.0.1", "v6only.example.test", ES_DNS_TYPE_A, NULL,
     ES_RCODE_NOERROR, "", -1},
    {"AAAA of an IPv6-only host", "127.11.0.1", "v6only.example.test", ES_DNS_TYPE_AAAA, NULL,
     ES_RCODE_NOERROR, "::ffff:127.11.2.6", -1},
    {"MX: NOERROR, empty", "127.11.0.1", "shop.example.test", 15, NULL, ES_RCODE_NOERROR, "", -1},
    {"unknown name", "127.11.0.1", "nope.example.test", ES_DNS_TYPE_A, NULL, ES_RCODE_NXDOMAIN, "",
     -1},
    {"resolver not named for the host", "127.11.0.2", "v6only.example.test", ES_DNS_TYPE_A, NULL,
     ES_RCODE_NXDOMAIN, "", -1},
    {"host rule nxdomain", "127.11.0.1", "gone.example.test", ES_DNS_TYPE_A, NULL,
     ES_RCODE_NXDOMAIN, "", -1},
    {"host rule servfail", "127.11.0.2", "gone.example.test", ES_DNS_TYPE_A, NULL,
     ES_RCODE_SERVFAIL, "", -1},
    {"host rule refused", "127.11.0.1", "odd.example.test", ES_DNS_TYPE_AAAA, NULL,
     ES_RCODE_REFUSED, "", -1},
    {"host rule drop", "127.11.0.2", "odd.example.test", ES_DNS_TYPE_A, NULL, NO_ANSWER, NULL, -1},
    {"resolver fault=servfail", "127.11.0.4", "shop.example.test", ES_DNS_TYPE_A, NULL,
     ES_RCODE_SERVFAIL, "", -1},
    {"resolver fault=refused", "127.11.0.5", "shop.example.test", ES_DNS_TYPE_A, NULL,
     ES_RCODE_REFUSED, "", -1},
    {"resolver fault=drop", "127.11.0.3", "shop.example.test", ES_DNS_TYPE_A, NULL, NO_ANSWER, NULL,
     -1},
    {"resolver fault=drop with ECS", "127.11.0.3", "shop.example.test", ES_DNS_TYPE_A,
     "127.11.100.7/24", NO_ANSWER, NULL, -1},
    {"ECS inside the subnet", "127.11.0.1", "shop.example.test", ES_DNS_TYPE_A, "127.11.100.7/24",
     ES_RCODE_NOERROR, "127.11.2.9", 24},
    {"ECS /25 inside the subnet, other resolver", "127.11.0.2", "shop.example.test", ES_DNS_TYPE_A,
     "127.11.100.128/25", ES_RCODE_NOERROR, "127.11.2.9", 24},
    {"ECS outside the subnet", "127.11.0.1", "shop.example.test", ES_DNS_TYPE_A, "127.11.200.0/24",
     ES_RCODE_NOERROR, "127.11.2.1,127.11.2.2", 0},
    {"ECS /16 wider than the rule", "127.11.0.1", "shop.example.test", ES_DNS_TYPE_A,
     "127.11.0.0/16", ES_RCODE_NOERROR, "127.11.2.1,127.11.2.2", 0},
    {"ECS /0: client opted out", "127.11.0.2", "shop.example.test", ES_DNS_TYPE_A, "0.0.0.0/0",
     ES_RCODE_NOERROR, "127.11.2.3", 0},
    {"ECS with an unknown name", "127.11.0.1", "nope.example.test", ES_DNS_TYPE_A,
     "127.11.100.7/24", ES_RCODE_NXDOMAIN, "", 0},
    {"ECS on a servfail resolver still echoed", "127.11.0.4", "shop.example.test", ES_DNS_TYPE_A,
     "127.11.100.7/24", ES_RCODE_SERVFAIL, "", 0},
};

START_TEST(test_query)
{
    const struct dcase *c = &dcases[_i];
    uint8_t q[512], r[1500];
    struct es_dnsmsg_ecs sent;
    unsigned short id = (unsigned short)(0x4000 + _i);
    size_t qlen = make_query(c->name, c->qtype, id, c->ecs, q, sizeof q, &sent);
    int fd = client_socket();
    send_to(fd, c->server, port, q, qlen);
    ssize_t n = recv_within(fd, r, sizeof r, c->rcode == NO_ANSWER ? 1000 : 5000);
    close(fd);
    if (c->rcode == NO_ANSWER) {
        ck_assert_msg(n < 0, "%s: got a %zd-byte answer, want none", c->what, n);
        return;
    }
    ck_assert_msg(n > 0, "%s: no answer from %s", c->what, c->server);

    struct es_dnsmsg m;
    enum es_dnsmsg_status st = es_dnsmsg_parse_response(r, (size_t)n, &m);
    ck_assert_msg(st == ES_DNSMSG_OK, "%s: response does not parse: %s", c->what,
                  es_dnsmsg_strerror(st));
    ck_assert_uint_eq(m.id, id);
    ck_assert_msg(m.rcode == (unsigned)c->rcode, "%s: rcode %u, want %d", c->what, m.rcode,
                  c->rcode);
    ck_assert_uint_eq(m.flags & 0xfff0u,
                      ES_DNS_FLAG_QR | ES_DNS_FLAG_AA | ES_DNS_FLAG_RD | ES_DNS_FLAG_RA);
    ck_assert(m.has_question);
    ck_assert_uint_eq(m.qtype, (unsigned)c->qtype);
    /* The question comes back as sent, case included. */
    struct es_dnsmsg sq;
    ck_assert_int_eq(es_dnsmsg_parse_query(q, qlen, &sq), ES_DNSMSG_OK);
    ck_assert_uint_eq(m.qname_wire_len, sq.qname_wire_len);
    ck_assert_mem_eq(r + 12, q + 12, sq.qname_wire_len + 4);

    char got[512];
    answers_text(r, (size_t)n, c->qtype, got, sizeof got);
    ck_assert_msg(strcmp(got, c->answers) == 0, "%s: answers '%s', want '%s'", c->what, got,
                  c->answers);
    unsigned want_an = c->answers[0] != '\0';
    for (const char *t = c->answers; *t; t++)
        want_an += *t == ',';
    ck_assert_uint_eq(m.ancount, want_an);

    int scope = -2;
    if (c->ecs) {
        ck_assert_int_eq(es_dnsmsg_response_scope(r, (size_t)n, &sent, &scope), ES_DNSMSG_OK);
    } else {
        ck_assert(!m.has_opt);
        scope = -1;
    }
    ck_assert_msg(scope == c->scope, "%s: scope %d, want %d", c->what, scope, c->scope);
}
END_TEST

/* Malformed queries get FORMERR with their ID; what the question allows is echoed. */
START_TEST(test_formerr)
{
    /* Label length 64: no readable question -> the 12-byte header only. */
    static const uint8_t badlabel[] = {0x5a, 0x17, 0x01, 0x00, 0, 1, 0, 0, 0, 0,
                                       0,    0,    64,   'a',  0, 0, 1, 0, 1};
    /* ECS 127.11.100.0/20 with bits past the prefix: question echoed, no OPT. */
    static const uint8_t badecs[] = {0x5a, 0x18, 0x01, 0x00, 0,  1,   0,   0,   0,   0,   0,  1,
                                     3,    'f',  'o',  'o',  4,  't', 'e', 's', 't', 0,   0,  1,
                                     0,    1,    0,    0,    41, 4,   0,   0,   0,   0,   0,  0,
                                     11,   0,    8,    0,    7,  0,   1,   20,  0,   127, 11, 100};
    /* QDCOUNT 2. */
    static const uint8_t twoq[] = {0x5a, 0x19, 0x00, 0x00, 0,   2,   0, 0, 0, 0,
                                   0,    0,    3,    'f',  'o', 'o', 0, 0, 1, 0,
                                   1,    3,    'f',  'o',  'o', 0,   0, 1, 0, 1};
    static const uint8_t want_badlabel[] = {0x5a, 0x17, 0x85, 0x81, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t want_twoq[] = {0x5a, 0x19, 0x84, 0x81, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t r[1500];
    int fd = client_socket();

    send_to(fd, "127.11.0.1", port, badlabel, sizeof badlabel);
    ssize_t n = recv_within(fd, r, sizeof r, 5000);
    ck_assert_int_eq(n, 12);
    ck_assert_mem_eq(r, want_badlabel, 12);

    send_to(fd, "127.11.0.2", port, badecs, sizeof badecs);
    n = recv_within(fd, r, sizeof r, 5000);
    ck_assert_int_eq(n, 12 + 14);
    struct es_dnsmsg m;
    ck_assert_int_eq(es_dnsmsg_parse_response(r, (size_t)n, &m), ES_DNSMSG_OK);
    ck_assert_uint_eq(m.id, 0x5a18);
    ck_assert_uint_eq(m.rcode, ES_RCODE_FORMERR);
    ck_assert_str_eq(m.qname, "foo.test");
    ck_assert(!m.has_opt);

    send_to(fd, "127.11.0.1", port, twoq, sizeof twoq);
    n = recv_within(fd, r, sizeof r, 5000);
    ck_assert_int_eq(n, 12);
    ck_assert_mem_eq(r, want_twoq, 12);

    /* A fault=servfail resolver still says FORMERR to a malformed query. */
    send_to(fd, "127.11.0.4", port, badlabel, sizeof badlabel);
    n = recv_within(fd, r, sizeof r, 5000);
    ck_assert_int_eq(n, 12);
    ck_assert_mem_eq(r, want_badlabel, 12);
    close(fd);
}
END_TEST

/* Datagrams with no header to answer, and responses, get silence; the
 * resolver answers the next good query on the same socket. */
START_TEST(test_silence_then_answer)
{
    static const uint8_t five[] = {0x12, 0x34, 0x01, 0x00, 0x00};
    uint8_t q[512], r[1500];
    size_t qlen = make_query("shop.example.test", ES_DNS_TYPE_A, 0x7777, NULL, q, sizeof q, NULL);
    int fd = client_socket();

    send_to(fd, "127.11.0.1", port, five, sizeof five);
    ck_assert_int_eq(recv_within(fd, r, sizeof r, 1000), -1);
    send_to(fd, "127.11.0.1", port, q, 0); /* an empty datagram */
    ck_assert_int_eq(recv_within(fd, r, sizeof r, 500), -1);
    q[2] |= 0x80; /* the query with QR set: a response, never answered */
    send_to(fd, "127.11.0.1", port, q, qlen);
    ck_assert_int_eq(recv_within(fd, r, sizeof r, 500), -1);
    q[2] &= 0x7f;

    send_to(fd, "127.11.0.1", port, q, qlen);
    ssize_t n = recv_within(fd, r, sizeof r, 5000);
    ck_assert_int_gt(n, 0);
    char got[256];
    answers_text(r, (size_t)n, ES_DNS_TYPE_A, got, sizeof got);
    ck_assert_str_eq(got, "127.11.2.1,127.11.2.2");
    ck_assert_uint_eq(r[0] << 8 | r[1], 0x7777);
    close(fd);
}
END_TEST

/* Many queries at once (more than one recvmmsg batch): every ID gets exactly
 * one answer, and each answer is the one for its query. */
START_TEST(test_burst)
{
    enum { N = 100 };
    static const char *const names[2] = {"shop.example.test", "gone.example.test"};
    int fd = client_socket();
    int rcvbuf = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    for (int i = 0; i < N; i++) {
        uint8_t q[512];
        size_t qlen = make_query(names[i % 2], ES_DNS_TYPE_A, (unsigned short)(1000 + i), NULL, q,
                                 sizeof q, NULL);
        send_to(fd, "127.11.0.1", port, q, qlen);
    }
    unsigned char seen[N] = {0};
    for (int got = 0; got < N; got++) {
        uint8_t r[1500];
        ssize_t n = recv_within(fd, r, sizeof r, 5000);
        ck_assert_msg(n > 0, "only %d answers of %d", got, N);
        struct es_dnsmsg m;
        ck_assert_int_eq(es_dnsmsg_parse_response(r, (size_t)n, &m), ES_DNSMSG_OK);
        int i = m.id - 1000;
        ck_assert_int_ge(i, 0);
        ck_assert_int_lt(i, N);
        ck_assert_msg(!seen[i], "ID %u answered twice", m.id);
        seen[i] = 1;
        ck_assert_str_eq(m.qname, names[i % 2]);
        ck_assert_uint_eq(m.rcode, i % 2 ? ES_RCODE_NXDOMAIN : ES_RCODE_NOERROR);
        ck_assert_uint_eq(m.ancount, i % 2 ? 0 : 2);
    }
    close(fd);
}
END_TEST

/* ---- in process: es_lab_dns_start on a loop thread ----------------------- */

struct inproc {
    struct es_labspec *spec;
    struct es_loop *loop;
    struct es_lab_dns *dns;
    pthread_t thread;
    volatile sig_atomic_t stop;
};

static void *loop_main(void *arg)
{
    struct inproc *ip = arg;
    ck_assert_int_eq(es_loop_run(ip->loop, &ip->stop), 0);
    return NULL;
}

static struct es_labspec *parse_spec(const char *text)
{
    char err[512];
    struct es_labspec *spec = es_labspec_parse(text, strlen(text), "inproc.lab", err, sizeof err);
    ck_assert_msg(spec != NULL, "spec: %s", err);
    return spec;
}

static void inproc_start(struct inproc *ip, const char *text)
{
    char err[512];
    memset(ip, 0, sizeof *ip);
    ip->spec = parse_spec(text);
    ip->loop = es_loop_new();
    ip->dns = es_lab_dns_start(ip->loop, ip->spec, err, sizeof err);
    ck_assert_msg(ip->dns != NULL, "es_lab_dns_start: %s", err);
    ck_assert_int_eq(pthread_create(&ip->thread, NULL, loop_main, ip), 0);
}

static void inproc_stop(struct inproc *ip)
{
    ip->stop = 1;
    ck_assert_int_eq(pthread_join(ip->thread, NULL), 0);
    es_lab_dns_free(ip->dns);
    es_loop_free(ip->loop);
    es_labspec_free(ip->spec);
}

/* A stream of corrupted queries: every answer the resolver sends is a
 * well-formed response, malformed ones get FORMERR, and afterwards a good
 * query is answered exactly. Runs in process so valgrind watches labdns.c. */
START_TEST(test_inproc_corrupted_stream)
{
    struct inproc ip;
    char text[256];
    snprintf(text, sizeof text,
             "resolver eu 127.11.1.1:%u\n"
             "host shop.example.test eu=127.11.2.1\n"
             "host shop.example.test ecs:127.11.100.0/24=127.11.2.9\n",
             port);
    inproc_start(&ip, text);
    uint8_t base[512], q[512], r[1500];
    struct es_dnsmsg_ecs sent;
    size_t blen =
        make_query("shop.example.test", ES_DNS_TYPE_A, 0x1111, "127.11.100.1/24", base, 512, &sent);
    int fd = client_socket();
    int rcvbuf = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    uint64_t x = 0x2545f4914f6cdd1du;
    unsigned answers = 0, formerr = 0, noerror = 0;
    for (int round = 0; round < 10; round++) {
        for (int k = 0; k < 200; k++) {
            size_t len = blen;
            memcpy(q, base, blen);
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            q[2 + (x >> 8) % (blen - 2)] = (uint8_t)x; /* keep the ID: 0x1111 */
            if (k % 4 == 0)
                len = (size_t)(x >> 32) % blen;
            send_to(fd, "127.11.1.1", port, q, len);
        }
        ssize_t n;
        while ((n = recv_within(fd, r, sizeof r, 100)) >= 0) {
            struct es_dnsmsg m;
            enum es_dnsmsg_status st = es_dnsmsg_parse_response(r, (size_t)n, &m);
            ck_assert_msg(st == ES_DNSMSG_OK, "bad response: %s", es_dnsmsg_strerror(st));
            ck_assert_uint_eq(m.id, 0x1111);
            answers++;
            formerr += m.rcode == ES_RCODE_FORMERR;
            noerror += m.rcode == ES_RCODE_NOERROR;
        }
    }
    ck_assert_uint_gt(answers, 1000);
    ck_assert_uint_gt(formerr, 100);
    ck_assert_uint_gt(noerror, 10);

    /* A good query with a new ID; late answers to the stream are skipped. */
    blen =
        make_query("shop.example.test", ES_DNS_TYPE_A, 0x2222, "127.11.100.1/24", base, 512, &sent);
    send_to(fd, "127.11.1.1", port, base, blen);
    ssize_t n;
    do
        n = recv_within(fd, r, sizeof r, 5000);
    while (n >= 2 && (r[0] << 8 | r[1]) != 0x2222);
    ck_assert_int_gt(n, 0);
    char got[64];
    answers_text(r, (size_t)n, ES_DNS_TYPE_A, got, sizeof got);
    ck_assert_str_eq(got, "127.11.2.9");
    int scope;
    ck_assert_int_eq(es_dnsmsg_response_scope(r, (size_t)n, &sent, &scope), ES_DNSMSG_OK);
    ck_assert_int_eq(scope, 24);
    close(fd);
    inproc_stop(&ip);
}
END_TEST

/* A port in use: NULL with "spec:line: ..." naming resolver and address, and
 * the resolver opened before it is closed again. */
START_TEST(test_inproc_bind_error)
{
    int busy = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.11.1.9", &sa.sin_addr);
    ck_assert_int_eq(bind(busy, (struct sockaddr *)&sa, sizeof sa), 0);

    char text[256], want[256];
    snprintf(text, sizeof text,
             "resolver a 127.11.1.2:%u\n"
             "# the next one cannot bind\n"
             "resolver b 127.11.1.9:%u\n",
             port, port);
    snprintf(want, sizeof want,
             "inproc.lab:3: resolver b: cannot bind UDP 127.11.1.9:%u: Address already in use "
             "(is another lab or DNS server running there?)",
             port);
    struct es_labspec *spec = parse_spec(text);
    struct es_loop *loop = es_loop_new();
    char err[512] = "";
    ck_assert_ptr_null(es_lab_dns_start(loop, spec, err, sizeof err));
    ck_assert_str_eq(err, want);
    ck_assert(can_bind("127.11.1.2", port));
    close(busy);
    es_loop_free(loop);
    es_labspec_free(spec);
}
END_TEST

/* es_lab_dns_free closes every socket: the ports can be bound again. */
START_TEST(test_inproc_free_releases)
{
    char text[256];
    snprintf(text, sizeof text, "resolver a 127.11.1.3:%u\nresolver b 127.11.1.4:%u fault=drop\n",
             port, port);
    struct es_labspec *spec = parse_spec(text);
    struct es_loop *loop = es_loop_new();
    char err[512];
    struct es_lab_dns *dns = es_lab_dns_start(loop, spec, err, sizeof err);
    ck_assert_msg(dns != NULL, "%s", err);
    ck_assert(!can_bind("127.11.1.3", port));
    ck_assert(!can_bind("127.11.1.4", port));
    es_lab_dns_free(dns);
    ck_assert(can_bind("127.11.1.3", port));
    ck_assert(can_bind("127.11.1.4", port));
    es_loop_free(loop);
    es_labspec_free(spec);
}
END_TEST

/* A UDP port free on every address this suite binds, starting from one
 * that depends on the pid; 0 when none of 200 tries is free. */
static uint16_t pick_port(void)
{
    static const char *const addrs[] = {"127.11.0.1", "127.11.0.2", "127.11.0.3", "127.11.0.4",
                                        "127.11.0.5", "127.11.1.1", "127.11.1.2", "127.11.1.3",
                                        "127.11.1.4", "127.11.1.9"};
    for (unsigned i = 0; i < 200; i++) {
        uint16_t p = (uint16_t)(20000 + ((unsigned)getpid() * 7 + i * 131) % 30000);
        bool free_everywhere = true;
        for (size_t a = 0; a < sizeof addrs / sizeof addrs[0] && free_everywhere; a++)
            free_everywhere = can_bind(addrs[a], p);
        if (free_everywhere)
            return p;
    }
    return 0;
}

int main(void)
{
    port = pick_port();
    if (!port) {
        fprintf(stderr, "lab_dns: no UDP port is free on 127.11.0.1-5 and 127.11.1.x\n");
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("lab_dns");
    TCase *tc = tcase_create("lab");
    /* One lab for the whole test case, started and stopped by the runner. */
    tcase_add_unchecked_fixture(tc, lab_up, lab_down);
    tcase_add_loop_test(tc, test_query, 0, (int)(sizeof dcases / sizeof dcases[0]));
    tcase_add_test(tc, test_formerr);
    tcase_add_test(tc, test_silence_then_answer);
    tcase_add_test(tc, test_burst);
    suite_add_tcase(s, tc);
    tc = tcase_create("inproc");
    tcase_add_test(tc, test_inproc_corrupted_stream);
    tcase_add_test(tc, test_inproc_bind_error);
    tcase_add_test(tc, test_inproc_free_releases);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (lab_exit_status != 0) {
        fprintf(stderr, "lab_dns: the lab exited with status %d after SIGTERM, want 0\n",
                lab_exit_status);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
