/* test_dnsmsg.c - the DNS message module: the query parser on hand-built
 * datagrams (valid and malformed, each with its exact status), the response
 * builder read back by c-ares and by the parser, and the client-side ECS
 * helpers on queries made by ares_create_query. */
#include <arpa/inet.h>
#include <ares.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/dnsmsg.h"

/* A literal datagram: pointer and length in one go. */
#define M(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

/* Header with ID 0x1234, RD set. */
#define HDR(qd, an, ns, ar) 0x12, 0x34, 0x01, 0x00, 0, qd, 0, an, 0, ns, 0, ar
/* shop.example.test: 19 bytes in wire form. */
#define SHOP   4, 's', 'h', 'o', 'p', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0
#define Q_A    0, 1, 0, 1
#define Q_AAAA 0, 28, 0, 1
/* OPT record: root owner, payload 4096, version v, RDLENGTH rdlen. */
#define OPT_V(v, rdlen) 0, 0, 41, 0x10, 0x00, 0, v, 0, 0, 0, rdlen
#define OPT(rdlen)      OPT_V(0, rdlen)
/* ECS option for 198.51.100.0/24 (11 bytes). */
#define ECS4_24 0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100

/* A name of labels of the given lengths (all 'a'), then a root label and QTYPE A. */
static size_t name_of_labels(uint8_t *buf, const unsigned *labels, size_t n)
{
    static const uint8_t hdr[] = {HDR(1, 0, 0, 0)};
    size_t off = sizeof hdr;
    memcpy(buf, hdr, off);
    for (size_t i = 0; i < n; i++) {
        buf[off++] = (uint8_t)labels[i];
        memset(buf + off, 'a', labels[i]);
        off += labels[i];
    }
    buf[off++] = 0;
    static const uint8_t qa[] = {Q_A};
    memcpy(buf + off, qa, sizeof qa);
    return off + sizeof qa;
}

/* 63+63+63+61 label bytes + 4 length bytes + root = 255 octets: the longest name. */
static size_t make_name_255(uint8_t *buf)
{
    static const unsigned labels[] = {63, 63, 63, 61};
    return name_of_labels(buf, labels, 4);
}

/* One octet more: 256. */
static size_t make_name_256(uint8_t *buf)
{
    static const unsigned labels[] = {63, 63, 63, 62};
    return name_of_labels(buf, labels, 4);
}

struct qcase {
    const char *what;
    const uint8_t *msg;
    size_t len;
    size_t (*make)(uint8_t *buf); /* instead of msg/len when set */
    enum es_dnsmsg_status want;
    /* Expected fields when want == ES_DNSMSG_OK: */
    const char *qname;
    unsigned qtype;
    int udp_size; /* -1: no OPT */
    int edns_version;
    int ecs_source; /* -1: no ECS */
    const char *ecs_addr;
};

#define NO_OPT          -1, 0, -1, NULL
#define OPT_NO_ECS(udp) udp, 0, -1, NULL
#define BAD             NULL, 0, NO_OPT /* no fields to check */

static const struct qcase qcases[] = {
    /* Valid queries. */
    {"A query", M(HDR(1, 0, 0, 0), SHOP, Q_A), NULL, ES_DNSMSG_OK, "shop.example.test", 1, NO_OPT},
    {"AAAA query, mixed case",
     M(HDR(1, 0, 0, 0), 4, 'S', 'h', 'O', 'P', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'E', 4, 'T', 'E',
       'S', 'T', 0, Q_AAAA),
     NULL, ES_DNSMSG_OK, "shop.example.test", 28, NO_OPT},
    {"root name", M(HDR(1, 0, 0, 0), 0, Q_A), NULL, ES_DNSMSG_OK, ".", 1, NO_OPT},
    {"escaped bytes in labels", M(HDR(1, 0, 0, 0), 3, 'a', '.', 'b', 3, 'x', 0x07, '\\', 0, Q_A),
     NULL, ES_DNSMSG_OK, "a\\.b.x\\007\\\\", 1, NO_OPT},
    {"name of 255 octets", NULL, 0, make_name_255, ES_DNSMSG_OK,
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     1, NO_OPT},
    {"OPT without options", M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(0)), NULL, ES_DNSMSG_OK,
     "shop.example.test", 1, OPT_NO_ECS(4096)},
    {"EDNS version 1 parses (the responder says BADVERS)",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT_V(1, 0)), NULL, ES_DNSMSG_OK, "shop.example.test", 1, 4096,
     1, -1, NULL},
    {"ECS 198.51.100.0/24", M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(11), ECS4_24), NULL, ES_DNSMSG_OK,
     "shop.example.test", 1, 4096, 0, 24, "198.51.100.0"},
    {"ECS 2001:db8:1234:5600::/56",
     M(HDR(1, 0, 0, 1), SHOP, Q_AAAA, OPT(15), 0, 8, 0, 11, 0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8,
       0x12, 0x34, 0x56),
     NULL, ES_DNSMSG_OK, "shop.example.test", 28, 4096, 0, 56, "2001:db8:1234:5600::"},
    {"ECS /0 (client opts out)", M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(8), 0, 8, 0, 4, 0, 1, 0, 0),
     NULL, ES_DNSMSG_OK, "shop.example.test", 1, 4096, 0, 0, "0.0.0.0"},
    {"ECS /20, bits past the prefix clear",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(11), 0, 8, 0, 7, 0, 1, 20, 0, 198, 51, 96), NULL,
     ES_DNSMSG_OK, "shop.example.test", 1, 4096, 0, 20, "198.51.96.0"},
    {"unknown option (cookie) before ECS",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(23), 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, ECS4_24), NULL,
     ES_DNSMSG_OK, "shop.example.test", 1, 4096, 0, 24, "198.51.100.0"},
    {"answer record owner compressed to the question",
     M(HDR(1, 1, 0, 0), SHOP, Q_A, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4), NULL,
     ES_DNSMSG_OK, "shop.example.test", 1, NO_OPT},
    {"question name ends in a forward pointer",
     M(HDR(1, 1, 0, 0), 3, 'w', 'w', 'w', 0xc0, 22, Q_A, SHOP, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2,
       3, 4),
     NULL, ES_DNSMSG_OK, "www.shop.example.test", 1, NO_OPT},

    /* Malformed: each with the exact reason. */
    {"empty datagram", (const uint8_t[]){0}, 0, NULL, ES_DNSMSG_E_SHORT, BAD},
    {"11-byte header", M(0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0), NULL, ES_DNSMSG_E_SHORT, BAD},
    {"QR set: a response", M(0x12, 0x34, 0x81, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, SHOP, Q_A), NULL,
     ES_DNSMSG_E_QR, BAD},
    {"QDCOUNT 0", M(HDR(0, 0, 0, 0)), NULL, ES_DNSMSG_E_QDCOUNT, BAD},
    {"QDCOUNT 2", M(HDR(2, 0, 0, 0), SHOP, Q_A, SHOP, Q_A), NULL, ES_DNSMSG_E_QDCOUNT, BAD},
    {"QDCOUNT 1, no question", M(HDR(1, 0, 0, 0)), NULL, ES_DNSMSG_E_NAME_TRUNC, BAD},
    {"label past the end", M(HDR(1, 0, 0, 0), 10, 'a', 'b', 'c'), NULL, ES_DNSMSG_E_NAME_TRUNC,
     BAD},
    {"no root label", M(HDR(1, 0, 0, 0), 4, 's', 'h', 'o', 'p'), NULL, ES_DNSMSG_E_NAME_TRUNC, BAD},
    {"label length 64", M(HDR(1, 0, 0, 0), 64, 'a', 0, Q_A), NULL, ES_DNSMSG_E_LABEL_TYPE, BAD},
    {"label type 0x80", M(HDR(1, 0, 0, 0), 0x80, 'a', 0, Q_A), NULL, ES_DNSMSG_E_LABEL_TYPE, BAD},
    {"name of 256 octets", NULL, 0, make_name_256, ES_DNSMSG_E_NAME_LONG, BAD},
    {"pointer to itself", M(HDR(1, 0, 0, 0), 0xc0, 12, Q_A), NULL, ES_DNSMSG_E_PTR_LOOP, BAD},
    {"two pointers in a loop", M(HDR(1, 0, 0, 0), 0xc0, 14, 0xc0, 12, Q_A), NULL,
     ES_DNSMSG_E_PTR_LOOP, BAD},
    {"loop that adds a label each pass", M(HDR(1, 0, 0, 0), 1, 'a', 0xc0, 12, Q_A), NULL,
     ES_DNSMSG_E_NAME_LONG, BAD},
    {"pointer past the end", M(HDR(1, 0, 0, 0), 0xc0, 0xff, Q_A), NULL, ES_DNSMSG_E_PTR_RANGE, BAD},
    {"pointer to the end exactly", M(HDR(1, 0, 0, 0), 0xc0, 18, Q_A), NULL, ES_DNSMSG_E_PTR_RANGE,
     BAD},
    {"pointer cut in half", M(HDR(1, 0, 0, 0), 1, 'a', 0xc0), NULL, ES_DNSMSG_E_NAME_TRUNC, BAD},
    {"QCLASS missing", M(HDR(1, 0, 0, 0), SHOP, 0, 1), NULL, ES_DNSMSG_E_QUESTION_TRUNC, BAD},
    {"trailing byte", M(HDR(1, 0, 0, 0), SHOP, Q_A, 0), NULL, ES_DNSMSG_E_TRAILING, BAD},
    {"ARCOUNT 1, no record", M(HDR(1, 0, 0, 1), SHOP, Q_A), NULL, ES_DNSMSG_E_NAME_TRUNC, BAD},
    {"record cut after TYPE", M(HDR(1, 0, 0, 1), SHOP, Q_A, 0, 0, 41, 0x10), NULL,
     ES_DNSMSG_E_RR_TRUNC, BAD},
    {"answer RDATA past the end",
     M(HDR(1, 1, 0, 0), SHOP, Q_A, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2), NULL,
     ES_DNSMSG_E_RR_TRUNC, BAD},
    {"OPT RDLENGTH past the end", M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(11), 0, 8, 0), NULL,
     ES_DNSMSG_E_RR_TRUNC, BAD},
    {"OPT owner not the root",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, 1, 'x', 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0), NULL,
     ES_DNSMSG_E_OPT_NAME, BAD},
    {"two OPT records", M(HDR(1, 0, 0, 2), SHOP, Q_A, OPT(0), OPT(0)), NULL, ES_DNSMSG_E_OPT_DUP,
     BAD},
    {"option longer than the OPT RDATA", M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(6), 0, 8, 0, 7, 0, 1),
     NULL, ES_DNSMSG_E_OPT_TRUNC, BAD},
    {"option header cut", M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(2), 0, 8), NULL, ES_DNSMSG_E_OPT_TRUNC,
     BAD},
    {"ECS shorter than 4 bytes", M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(6), 0, 8, 0, 2, 0, 1), NULL,
     ES_DNSMSG_E_ECS_LEN, BAD},
    {"ECS family 3", M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(8), 0, 8, 0, 4, 0, 3, 0, 0), NULL,
     ES_DNSMSG_E_ECS_FAMILY, BAD},
    {"ECS IPv4 prefix 33",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(13), 0, 8, 0, 9, 0, 1, 33, 0, 198, 51, 100, 0, 0), NULL,
     ES_DNSMSG_E_ECS_PREFIX, BAD},
    {"ECS IPv6 prefix 129",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(25), 0, 8, 0, 21, 0, 2, 129, 0, 0x20, 1, 0xd, 0xb8, 0, 0, 0,
       0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
     NULL, ES_DNSMSG_E_ECS_PREFIX, BAD},
    {"ECS scope 33 for IPv4",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(11), 0, 8, 0, 7, 0, 1, 24, 33, 198, 51, 100), NULL,
     ES_DNSMSG_E_ECS_PREFIX, BAD},
    {"ECS address longer than /24 needs",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(12), 0, 8, 0, 8, 0, 1, 24, 0, 198, 51, 100, 0), NULL,
     ES_DNSMSG_E_ECS_ADDRLEN, BAD},
    {"ECS address shorter than /24 needs",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(10), 0, 8, 0, 6, 0, 1, 24, 0, 198, 51), NULL,
     ES_DNSMSG_E_ECS_ADDRLEN, BAD},
    {"ECS /0 with an address byte",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(9), 0, 8, 0, 5, 0, 1, 0, 0, 0), NULL,
     ES_DNSMSG_E_ECS_ADDRLEN, BAD},
    {"ECS /20 with bits set past the prefix",
     M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(11), 0, 8, 0, 7, 0, 1, 20, 0, 198, 51, 100), NULL,
     ES_DNSMSG_E_ECS_BITS, BAD},
    {"two ECS options", M(HDR(1, 0, 0, 1), SHOP, Q_A, OPT(22), ECS4_24, ECS4_24), NULL,
     ES_DNSMSG_E_ECS_DUP, BAD},
};

START_TEST(test_parse_query)
{
    const struct qcase *c = &qcases[_i];
    uint8_t buf[600];
    const uint8_t *msg = c->msg;
    size_t len = c->len;
    if (c->make) {
        len = c->make(buf);
        msg = buf;
    }
    struct es_dnsmsg q;
    enum es_dnsmsg_status st = es_dnsmsg_parse_query(msg, len, &q);
    ck_assert_msg(st == c->want, "%s: got %d (%s), want %d (%s)", c->what, st,
                  es_dnsmsg_strerror(st), c->want, es_dnsmsg_strerror(c->want));
    if (st == ES_DNSMSG_E_SHORT)
        return;
    ck_assert_uint_eq(q.id, 0x1234);
    if (st != ES_DNSMSG_OK) {
        ck_assert(!q.has_opt && !q.has_ecs);
        return;
    }
    ck_assert_uint_eq(q.flags, ES_DNS_FLAG_RD);
    ck_assert(q.has_question);
    ck_assert_str_eq(q.qname, c->qname);
    ck_assert_uint_eq(q.qtype, c->qtype);
    ck_assert_uint_eq(q.qclass, ES_DNS_CLASS_IN);
    ck_assert_int_eq(q.has_opt, c->udp_size >= 0);
    if (q.has_opt) {
        ck_assert_uint_eq(q.udp_size, (unsigned)c->udp_size);
        ck_assert_uint_eq(q.edns_version, (unsigned)c->edns_version);
    }
    ck_assert_int_eq(q.has_ecs, c->ecs_source >= 0);
    if (q.has_ecs) {
        char text[INET6_ADDRSTRLEN];
        ck_assert_uint_eq(q.ecs.source_prefix, (unsigned)c->ecs_source);
        ck_assert_uint_eq(q.ecs.scope_prefix, 0);
        ck_assert_uint_eq(q.ecs.family,
                          q.ecs.addr.family == AF_INET ? ES_ECS_FAMILY_V4 : ES_ECS_FAMILY_V6);
        ck_assert_ptr_nonnull(inet_ntop(q.ecs.addr.family, q.ecs.addr.bytes, text, sizeof text));
        ck_assert_str_eq(text, c->ecs_addr);
    }
}
END_TEST

/* The question name in wire form is kept as received (case and all). */
START_TEST(test_qname_wire_kept)
{
    static const uint8_t msg[] = {HDR(1, 0, 0, 0), 2, 'A', 'b', 0, Q_A};
    struct es_dnsmsg q;
    ck_assert_int_eq(es_dnsmsg_parse_query(msg, sizeof msg, &q), ES_DNSMSG_OK);
    ck_assert_uint_eq(q.qname_wire_len, 4);
    ck_assert_mem_eq(q.qname_wire, "\002Ab", 4);
    ck_assert_str_eq(q.qname, "ab");
}
END_TEST

/* Random corruptions of valid queries: the parser never reads out of bounds
 * (valgrind and ASan watch this test) and whatever it accepts is consistent. */
START_TEST(test_parse_mutations)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    uint8_t buf[128];
    unsigned accepted = 0, rejected = 0;
    for (int iter = 0; iter < 50000; iter++) {
        const struct qcase *base = &qcases[7 + iter % 7]; /* the valid OPT/ECS cases */
        size_t len = base->len;
        memcpy(buf, base->msg, len);
        for (int k = 0; k < 1 + iter % 3; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = (size_t)(x >> 8) % len;
            buf[at] = (uint8_t)x;
        }
        if (iter % 5 == 0)
            len -= (size_t)(x >> 40) % len;
        struct es_dnsmsg q;
        enum es_dnsmsg_status st = es_dnsmsg_parse_query(buf, len, &q);
        ck_assert_int_le(st, ES_DNSMSG_E_ECS_BITS);
        if (st == ES_DNSMSG_OK) {
            accepted++;
            ck_assert(q.has_question);
            ck_assert_uint_le(q.qname_wire_len, ES_DNSMSG_NAME_WIRE);
            ck_assert_uint_lt(strlen(q.qname), ES_DNSMSG_NAME_TEXT);
            ck_assert(!q.has_ecs || q.has_opt);
        } else {
            rejected++;
        }
    }
    /* Both outcomes occur, so the loop did exercise the parser. */
    ck_assert_uint_gt(accepted, 100);
    ck_assert_uint_gt(rejected, 100);
}
END_TEST

static void parse_ok(const uint8_t *msg, size_t len, struct es_dnsmsg *q)
{
    enum es_dnsmsg_status st = es_dnsmsg_parse_query(msg, len, q);
    ck_assert_msg(st == ES_DNSMSG_OK, "query does not parse: %s", es_dnsmsg_strerror(st));
}

static struct es_ip ip(const char *s)
{
    struct es_ip a;
    memset(&a, 0, sizeof a);
    a.family = strchr(s, ':') ? AF_INET6 : AF_INET;
    ck_assert_int_eq(inet_pton(a.family, s, a.bytes), 1);
    return a;
}

/* A query with ECS answered with two A records and scope 24: c-ares reads
 * the answers, our parser reads the header, the OPT and the echoed ECS. */
START_TEST(test_build_a_with_ecs)
{
    static const uint8_t msg[] = {HDR(1, 0, 0, 1), SHOP, Q_A, OPT(11), ECS4_24};
    struct es_dnsmsg q, r;
    parse_ok(msg, sizeof msg, &q);
    struct es_ip ips[] = {ip("127.11.2.1"), ip("127.11.2.2")};
    struct es_dnsmsg_reply reply = {ES_RCODE_NOERROR, ips, 2, 24};
    uint8_t out[1232];
    size_t len;
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &reply, out, sizeof out, &len), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, 12 + 23 + 2 * 16 + 11 + 11);

    struct ares_addrttl at[4];
    int nat = 4;
    ck_assert_int_eq(ares_parse_a_reply(out, (int)len, NULL, at, &nat), ARES_SUCCESS);
    ck_assert_int_eq(nat, 2);
    ck_assert_mem_eq(&at[0].ipaddr, ips[0].bytes, 4);
    ck_assert_mem_eq(&at[1].ipaddr, ips[1].bytes, 4);
    ck_assert_int_eq(at[0].ttl, 60);
    ck_assert_int_eq(at[1].ttl, 60);

    ck_assert_int_eq(es_dnsmsg_parse_response(out, len, &r), ES_DNSMSG_OK);
    ck_assert_uint_eq(r.id, 0x1234);
    ck_assert_uint_eq(r.flags, ES_DNS_FLAG_QR | ES_DNS_FLAG_AA | ES_DNS_FLAG_RD | ES_DNS_FLAG_RA);
    ck_assert_uint_eq(r.rcode, 0);
    ck_assert_uint_eq(r.ancount, 2);
    ck_assert_str_eq(r.qname, "shop.example.test");
    ck_assert(r.has_opt);
    ck_assert_uint_eq(r.udp_size, ES_DNSMSG_UDP_SIZE);
    ck_assert(r.has_ecs);
    ck_assert_uint_eq(r.ecs.family, ES_ECS_FAMILY_V4);
    ck_assert_uint_eq(r.ecs.source_prefix, 24);
    ck_assert_uint_eq(r.ecs.scope_prefix, 24);
    struct es_ip want = ip("198.51.100.0");
    ck_assert_mem_eq(r.ecs.addr.bytes, want.bytes, 16);

    int scope = -2;
    ck_assert_int_eq(es_dnsmsg_response_scope(out, len, &q.ecs, &scope), ES_DNSMSG_OK);
    ck_assert_int_eq(scope, 24);
    /* The parser refuses a response where a query is expected, and vice versa. */
    ck_assert_int_eq(es_dnsmsg_parse_query(out, len, &r), ES_DNSMSG_E_QR);
    ck_assert_int_eq(es_dnsmsg_parse_response(msg, sizeof msg, &r), ES_DNSMSG_E_QR);
}
END_TEST

/* AAAA without EDNS, RD clear: no OPT in the response, RD stays clear. */
START_TEST(test_build_aaaa_plain)
{
    static const uint8_t msg[] = {0xab, 0xcd, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, SHOP, Q_AAAA};
    struct es_dnsmsg q, r;
    parse_ok(msg, sizeof msg, &q);
    struct es_ip ips[] = {ip("::ffff:127.11.2.5"), ip("::1")};
    struct es_dnsmsg_reply reply = {ES_RCODE_NOERROR, ips, 2, 0};
    uint8_t out[512];
    size_t len;
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &reply, out, sizeof out, &len), ES_DNSMSG_OK);
    struct ares_addr6ttl at[4];
    int nat = 4;
    ck_assert_int_eq(ares_parse_aaaa_reply(out, (int)len, NULL, at, &nat), ARES_SUCCESS);
    ck_assert_int_eq(nat, 2);
    ck_assert_mem_eq(&at[0].ip6addr, ips[0].bytes, 16);
    ck_assert_mem_eq(&at[1].ip6addr, ips[1].bytes, 16);
    ck_assert_int_eq(at[1].ttl, 60);
    ck_assert_int_eq(es_dnsmsg_parse_response(out, len, &r), ES_DNSMSG_OK);
    ck_assert_uint_eq(r.id, 0xabcd);
    ck_assert_uint_eq(r.flags, ES_DNS_FLAG_QR | ES_DNS_FLAG_AA | ES_DNS_FLAG_RA);
    ck_assert(!r.has_opt);
    struct es_dnsmsg_ecs sent = {ES_ECS_FAMILY_V4, 24, 0, ip("198.51.100.0")};
    int scope = 99;
    ck_assert_int_eq(es_dnsmsg_response_scope(out, len, &sent, &scope), ES_DNSMSG_OK);
    ck_assert_int_eq(scope, -1);
}
END_TEST

/* NXDOMAIN keeps the OPT record; BADVERS needs it for its upper bits. */
START_TEST(test_build_rcodes)
{
    static const uint8_t msg[] = {HDR(1, 0, 0, 1), SHOP, Q_A, OPT_V(1, 0)};
    static const uint8_t plain[] = {HDR(1, 0, 0, 0), SHOP, Q_A};
    struct es_dnsmsg q, p, r;
    parse_ok(msg, sizeof msg, &q);
    parse_ok(plain, sizeof plain, &p);
    uint8_t out[512];
    size_t len;
    struct es_dnsmsg_reply nx = {ES_RCODE_NXDOMAIN, NULL, 0, 0};
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &nx, out, sizeof out, &len), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, 12 + 23 + 11);
    ck_assert_uint_eq(out[3], 0x80 | ES_RCODE_NXDOMAIN);
    ck_assert_int_eq(es_dnsmsg_parse_response(out, len, &r), ES_DNSMSG_OK);
    ck_assert_uint_eq(r.rcode, ES_RCODE_NXDOMAIN);
    ck_assert_uint_eq(r.ancount, 0);
    ck_assert(r.has_opt && !r.has_ecs);
    ck_assert_uint_eq(r.edns_version, 0);

    struct es_dnsmsg_reply bv = {ES_RCODE_BADVERS, NULL, 0, 0};
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &bv, out, sizeof out, &len), ES_DNSMSG_OK);
    ck_assert_uint_eq(out[3] & 0x0f, 0);
    ck_assert_int_eq(es_dnsmsg_parse_response(out, len, &r), ES_DNSMSG_OK);
    ck_assert_uint_eq(r.rcode, ES_RCODE_BADVERS);
    ck_assert_int_eq(es_dnsmsg_build_response(&p, &bv, out, sizeof out, &len), ES_DNSMSG_E_ARG);

    struct es_dnsmsg_reply sf = {ES_RCODE_SERVFAIL, NULL, 0, 0};
    ck_assert_int_eq(es_dnsmsg_build_response(&p, &sf, out, sizeof out, &len), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, 12 + 23);
    ck_assert_uint_eq(out[3], 0x80 | ES_RCODE_SERVFAIL);
    ck_assert_uint_eq(out[11], 0); /* ARCOUNT */
}
END_TEST

/* FORMERR to an unreadable question: the 12-byte header, same ID, QDCOUNT 0;
 * to a bad ECS: the question, but no OPT. */
START_TEST(test_build_formerr)
{
    static const uint8_t badname[] = {HDR(1, 0, 0, 0), 64, 'a', 0, Q_A};
    static const uint8_t badecs[] = {
        HDR(1, 0, 0, 1), SHOP, Q_A, OPT(11), 0, 8, 0, 7, 0, 1, 20, 0, 198, 51, 100};
    static const uint8_t want_hdr[] = {0x12, 0x34, 0x85, 0x81, 0, 0, 0, 0, 0, 0, 0, 0};
    struct es_dnsmsg q;
    uint8_t out[512];
    size_t len;
    struct es_dnsmsg_reply fe = {ES_RCODE_FORMERR, NULL, 0, 0};
    ck_assert_int_eq(es_dnsmsg_parse_query(badname, sizeof badname, &q), ES_DNSMSG_E_LABEL_TYPE);
    ck_assert(!q.has_question);
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &fe, out, sizeof out, &len), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, 12);
    ck_assert_mem_eq(out, want_hdr, 12);

    ck_assert_int_eq(es_dnsmsg_parse_query(badecs, sizeof badecs, &q), ES_DNSMSG_E_ECS_BITS);
    ck_assert(q.has_question);
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &fe, out, sizeof out, &len), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, 12 + 23);
    ck_assert_uint_eq(out[5], 1);  /* QDCOUNT */
    ck_assert_uint_eq(out[11], 0); /* ARCOUNT: no OPT */
    ck_assert_mem_eq(out + 12, badecs + 12, 23);
}
END_TEST

/* 40 addresses: without EDNS 29 fit in 512 bytes and TC is set; with an
 * EDNS payload of 4096 (capped by the buffer) all 40 fit. */
START_TEST(test_build_truncation)
{
    static const uint8_t plain[] = {HDR(1, 0, 0, 0), SHOP, Q_A};
    static const uint8_t edns[] = {HDR(1, 0, 0, 1), SHOP, Q_A, OPT(0)};
    struct es_ip ips[40];
    for (int i = 0; i < 40; i++) {
        memset(&ips[i], 0, sizeof ips[i]);
        ips[i].family = AF_INET;
        ips[i].bytes[0] = 127, ips[i].bytes[1] = 11, ips[i].bytes[2] = 3;
        ips[i].bytes[3] = (uint8_t)(i + 1);
    }
    struct es_dnsmsg q, r;
    struct es_dnsmsg_reply reply = {ES_RCODE_NOERROR, ips, 40, 0};
    uint8_t out[1232];
    size_t len;
    parse_ok(plain, sizeof plain, &q);
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &reply, out, sizeof out, &len), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, 12 + 23 + 29 * 16);
    ck_assert_int_eq(es_dnsmsg_parse_response(out, len, &r), ES_DNSMSG_OK);
    ck_assert_uint_eq(r.ancount, 29);
    ck_assert(r.flags & ES_DNS_FLAG_TC);

    parse_ok(edns, sizeof edns, &q);
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &reply, out, sizeof out, &len), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, 12 + 23 + 40 * 16 + 11);
    ck_assert_int_eq(es_dnsmsg_parse_response(out, len, &r), ES_DNSMSG_OK);
    ck_assert_uint_eq(r.ancount, 40);
    ck_assert(!(r.flags & ES_DNS_FLAG_TC));
    struct ares_addrttl at[40];
    int nat = 40;
    ck_assert_int_eq(ares_parse_a_reply(out, (int)len, NULL, at, &nat), ARES_SUCCESS);
    ck_assert_int_eq(nat, 40);
    ck_assert_mem_eq(&at[39].ipaddr, ips[39].bytes, 4);
}
END_TEST

/* A buffer that cannot hold header + question + OPT is an error, one byte
 * more is enough. */
START_TEST(test_build_nospace)
{
    static const uint8_t msg[] = {HDR(1, 0, 0, 1), SHOP, Q_A, OPT(11), ECS4_24};
    struct es_dnsmsg q;
    parse_ok(msg, sizeof msg, &q);
    struct es_dnsmsg_reply reply = {ES_RCODE_NXDOMAIN, NULL, 0, 0};
    uint8_t out[64];
    size_t len = 0, need = 12 + 23 + 11 + 11;
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &reply, out, 11, &len), ES_DNSMSG_E_NOSPACE);
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &reply, out, need - 1, &len),
                     ES_DNSMSG_E_NOSPACE);
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &reply, out, need, &len), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, need);
}
END_TEST

/* Makes a query with c-ares into buf (room 512); returns its length. */
static size_t cares_query(const char *name, int type, unsigned short id, int udp, uint8_t *buf)
{
    unsigned char *q;
    int qlen;
    ck_assert_int_eq(ares_create_query(name, ES_DNS_CLASS_IN, type, id, 1, &q, &qlen, udp),
                     ARES_SUCCESS);
    ck_assert_int_lt(qlen, 400);
    memcpy(buf, q, (size_t)qlen);
    ares_free_string(q);
    return (size_t)qlen;
}

/* ECS added to a c-ares query without EDNS: a new OPT record, ARCOUNT 1,
 * address bits past the prefix cleared. */
START_TEST(test_add_ecs_new_opt)
{
    uint8_t buf[512];
    size_t len = cares_query("shop.example.test", ES_DNS_TYPE_A, 0xbeef, 0, buf), len0 = len;
    ck_assert_uint_eq(buf[11], 0);
    struct es_ip subnet = ip("198.51.100.77");
    ck_assert_int_eq(es_dnsmsg_add_ecs(buf, &len, sizeof buf, &subnet, 24, 1400), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, len0 + 11 + 11);
    ck_assert_uint_eq(buf[11], 1);
    struct es_dnsmsg q;
    parse_ok(buf, len, &q);
    ck_assert_uint_eq(q.id, 0xbeef);
    ck_assert_uint_eq(q.flags, ES_DNS_FLAG_RD);
    ck_assert_str_eq(q.qname, "shop.example.test");
    ck_assert_uint_eq(q.qtype, ES_DNS_TYPE_A);
    ck_assert(q.has_opt && q.has_ecs);
    ck_assert_uint_eq(q.udp_size, 1400);
    ck_assert_uint_eq(q.edns_version, 0);
    ck_assert_uint_eq(q.ecs.family, ES_ECS_FAMILY_V4);
    ck_assert_uint_eq(q.ecs.source_prefix, 24);
    ck_assert_uint_eq(q.ecs.scope_prefix, 0);
    struct es_ip want = ip("198.51.100.0");
    ck_assert_mem_eq(q.ecs.addr.bytes, want.bytes, 16);
    /* A second ECS is refused and leaves the query alone. */
    uint8_t copy[512];
    memcpy(copy, buf, len);
    size_t len1 = len;
    ck_assert_int_eq(es_dnsmsg_add_ecs(buf, &len, sizeof buf, &subnet, 24, 0), ES_DNSMSG_E_ECS_DUP);
    ck_assert_uint_eq(len, len1);
    ck_assert_mem_eq(buf, copy, len);
}
END_TEST

/* ares_create_query with max_udp_size already adds an OPT record: the
 * option goes into it, ARCOUNT stays 1 and its payload size is kept. */
START_TEST(test_add_ecs_existing_opt)
{
    uint8_t buf[512];
    size_t len = cares_query("Shop.Example.Test", ES_DNS_TYPE_AAAA, 7, 1400, buf), len0 = len;
    ck_assert_uint_eq(buf[11], 1);
    struct es_ip subnet = ip("2001:db8:abcd:12ff::1");
    ck_assert_int_eq(es_dnsmsg_add_ecs(buf, &len, sizeof buf, &subnet, 56, 0), ES_DNSMSG_OK);
    ck_assert_uint_eq(len, len0 + 8 + 7);
    ck_assert_uint_eq(buf[11], 1);
    struct es_dnsmsg q;
    parse_ok(buf, len, &q);
    ck_assert_str_eq(q.qname, "shop.example.test");
    ck_assert_uint_eq(q.qtype, ES_DNS_TYPE_AAAA);
    ck_assert_uint_eq(q.udp_size, 1400);
    ck_assert(q.has_ecs);
    ck_assert_uint_eq(q.ecs.family, ES_ECS_FAMILY_V6);
    ck_assert_uint_eq(q.ecs.source_prefix, 56);
    struct es_ip want = ip("2001:db8:abcd:1200::");
    ck_assert_mem_eq(q.ecs.addr.bytes, want.bytes, 16);
}
END_TEST

/* Bad subnets, a full buffer, an OPT that is not last: errors, query untouched. */
START_TEST(test_add_ecs_errors)
{
    uint8_t buf[512], copy[512];
    size_t len = cares_query("shop.example.test", ES_DNS_TYPE_A, 1, 0, buf), len0 = len;
    memcpy(copy, buf, len);
    struct es_ip v4 = ip("198.51.100.0"), none;
    memset(&none, 0, sizeof none);
    ck_assert_int_eq(es_dnsmsg_add_ecs(buf, &len, sizeof buf, &v4, 33, 0), ES_DNSMSG_E_ECS_PREFIX);
    ck_assert_int_eq(es_dnsmsg_add_ecs(buf, &len, sizeof buf, &none, 0, 0), ES_DNSMSG_E_ECS_FAMILY);
    ck_assert_int_eq(es_dnsmsg_add_ecs(buf, &len, len0 + 21, &v4, 24, 0), ES_DNSMSG_E_NOSPACE);
    ck_assert_uint_eq(len, len0);
    ck_assert_mem_eq(buf, copy, len0);
    ck_assert_int_eq(es_dnsmsg_add_ecs(buf, &len, len0 + 22, &v4, 24, 0), ES_DNSMSG_OK);

    /* OPT followed by another additional record. */
    uint8_t notlast[] = {HDR(1, 0, 0, 2), SHOP, Q_A, OPT(0), 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0};
    uint8_t big[128];
    size_t nlen = sizeof notlast;
    memcpy(big, notlast, nlen);
    ck_assert_int_eq(es_dnsmsg_add_ecs(big, &nlen, sizeof big, &v4, 24, 0), ES_DNSMSG_E_OPT_POS);
    /* Not a query at all. */
    uint8_t junk[] = {HDR(1, 0, 0, 0), 70};
    size_t jlen = sizeof junk;
    ck_assert_int_eq(es_dnsmsg_add_ecs(junk, &jlen, sizeof junk, &v4, 24, 0),
                     ES_DNSMSG_E_LABEL_TYPE);
}
END_TEST

/* The client's view: query with ECS -> our response with scope 16 -> scope
 * read back; an echo that differs from what was sent is rejected. */
START_TEST(test_response_scope)
{
    uint8_t buf[512], out[512];
    size_t len = cares_query("shop.example.test", ES_DNS_TYPE_A, 42, 0, buf), olen;
    struct es_ip subnet = ip("198.51.100.0");
    ck_assert_int_eq(es_dnsmsg_add_ecs(buf, &len, sizeof buf, &subnet, 24, 0), ES_DNSMSG_OK);
    struct es_dnsmsg q;
    parse_ok(buf, len, &q);
    struct es_dnsmsg_reply reply = {ES_RCODE_NOERROR, NULL, 0, 16};
    ck_assert_int_eq(es_dnsmsg_build_response(&q, &reply, out, sizeof out, &olen), ES_DNSMSG_OK);

    struct es_dnsmsg_ecs sent = {ES_ECS_FAMILY_V4, 24, 0, subnet};
    int scope = -2;
    ck_assert_int_eq(es_dnsmsg_response_scope(out, olen, &sent, &scope), ES_DNSMSG_OK);
    ck_assert_int_eq(scope, 16);
    /* Unmasked bits in `sent` are compared as they went on the wire. */
    sent.addr = ip("198.51.100.99");
    ck_assert_int_eq(es_dnsmsg_response_scope(out, olen, &sent, &scope), ES_DNSMSG_OK);

    scope = -2;
    sent.addr = ip("198.51.101.0");
    ck_assert_int_eq(es_dnsmsg_response_scope(out, olen, &sent, &scope), ES_DNSMSG_E_ECS_MISMATCH);
    sent.addr = subnet;
    sent.source_prefix = 23;
    ck_assert_int_eq(es_dnsmsg_response_scope(out, olen, &sent, &scope), ES_DNSMSG_E_ECS_MISMATCH);
    sent.source_prefix = 40;
    ck_assert_int_eq(es_dnsmsg_response_scope(out, olen, &sent, &scope), ES_DNSMSG_E_ARG);
    ck_assert_int_eq(scope, -2);
    /* A query is not a response. */
    sent.source_prefix = 24;
    ck_assert_int_eq(es_dnsmsg_response_scope(buf, len, &sent, &scope), ES_DNSMSG_E_QR);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dnsmsg");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, test_parse_query, 0, (int)(sizeof qcases / sizeof qcases[0]));
    tcase_add_test(tc, test_qname_wire_kept);
    tcase_add_test(tc, test_parse_mutations);
    suite_add_tcase(s, tc);
    tc = tcase_create("build");
    tcase_add_test(tc, test_build_a_with_ecs);
    tcase_add_test(tc, test_build_aaaa_plain);
    tcase_add_test(tc, test_build_rcodes);
    tcase_add_test(tc, test_build_formerr);
    tcase_add_test(tc, test_build_truncation);
    tcase_add_test(tc, test_build_nospace);
    suite_add_tcase(s, tc);
    tc = tcase_create("client");
    tcase_add_test(tc, test_add_ecs_new_opt);
    tcase_add_test(tc, test_add_ecs_existing_opt);
    tcase_add_test(tc, test_add_ecs_errors);
    tcase_add_test(tc, test_response_scope);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
