/* fuzz_dnsmsg.c - the DNS message parser (dnsmsg.h), both directions.
 *
 * The input is parsed as a query and as a response. A query that parses is
 * answered the way the lab resolvers answer (es_dnsmsg_build_response, also
 * a FORMERR for a malformed one) and the answer must parse back as a
 * response to that question, with the ECS option echoed; a Client Subnet
 * option added to it (es_dnsmsg_add_ecs, the scanner's side) must parse
 * back as that subnet. es_dnsmsg_response_scope runs on the raw input too. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "edgeshake/dnsmsg.h"
#include "fuzzlib.h"

int es_fuzz_dnsmsg(const uint8_t *data, size_t len);

static void check_name(const struct es_dnsmsg *m)
{
    if (!m->has_question)
        return;
    FZ_CHECK(m->qname_wire_len >= 1 && m->qname_wire_len <= ES_DNSMSG_NAME_WIRE);
    FZ_CHECK(m->qname_wire[m->qname_wire_len - 1] == 0);
    size_t n = strnlen(m->qname, sizeof m->qname);
    FZ_CHECK(n > 0 && n < sizeof m->qname);
}

/* Answers q as the lab does and checks that the answer reads back. */
static void answer(const struct es_dnsmsg *q, unsigned rcode)
{
    struct es_ip ips[2] = {{.family = AF_INET}, {.family = AF_INET6}};
    FZ_CHECK(inet_pton(AF_INET, "127.0.0.1", &ips[0].v4) == 1);
    FZ_CHECK(inet_pton(AF_INET6, "::1", &ips[1].v6) == 1);
    struct es_dnsmsg_reply reply = {
        .rcode = rcode,
        .ip = rcode == ES_RCODE_NOERROR && q->has_question ? ips : NULL,
        .nip = rcode == ES_RCODE_NOERROR && q->has_question ? 2 : 0,
        .scope = q->has_ecs ? q->ecs.source_prefix : 0,
    };
    uint8_t buf[4096];
    size_t n = 0;
    enum es_dnsmsg_status st = es_dnsmsg_build_response(q, &reply, buf, sizeof buf, &n);
    FZ_CHECK(st == ES_DNSMSG_OK);
    FZ_CHECK(n >= ES_DNSMSG_HEADER && n <= 512);
    struct es_dnsmsg r;
    st = es_dnsmsg_parse_response(buf, n, &r);
    FZ_CHECK(st == ES_DNSMSG_OK);
    FZ_CHECK(r.id == q->id && r.rcode == rcode && (r.flags & ES_DNS_FLAG_QR));
    FZ_CHECK(r.has_question == q->has_question);
    if (q->has_question) {
        FZ_CHECK(r.qname_wire_len == q->qname_wire_len &&
                 memcmp(r.qname_wire, q->qname_wire, q->qname_wire_len) == 0);
        FZ_CHECK(strcmp(r.qname, q->qname) == 0);
        FZ_CHECK(r.qtype == q->qtype && r.qclass == q->qclass);
    }
    FZ_CHECK(r.has_opt == q->has_opt && r.has_ecs == q->has_ecs);
    if (q->has_ecs) {
        int scope = -2;
        FZ_CHECK(es_dnsmsg_response_scope(buf, n, &q->ecs, &scope) == ES_DNSMSG_OK);
        FZ_CHECK(scope == (int)q->ecs.source_prefix);
    }
}

/* True when some two bytes after the header could be a compression pointer
 * into the header (0xc000..0xc00b): a superset of the real ones. */
static bool points_into_header(const uint8_t *data, size_t len)
{
    for (size_t i = ES_DNSMSG_HEADER; i + 1 < len; i++)
        if (data[i] == 0xc0 && data[i + 1] < ES_DNSMSG_HEADER)
            return true;
    return false;
}

/* Adds 192.0.2.0/24 to a copy of the query, as the scanner does. */
static void add_ecs(const uint8_t *data, size_t len, const struct es_dnsmsg *q)
{
    static uint8_t buf[65536 + 64];
    if (len > sizeof buf - 64)
        return;
    memcpy(buf, data, len);
    size_t n = len;
    struct es_ip subnet = {.family = AF_INET};
    FZ_CHECK(inet_pton(AF_INET, "192.0.2.77", &subnet.v4) == 1);
    enum es_dnsmsg_status st = es_dnsmsg_add_ecs(buf, &n, sizeof buf, &subnet, 24, 0);
    if (q->has_ecs) {
        FZ_CHECK(st == ES_DNSMSG_E_ECS_DUP && n == len);
        return;
    }
    if (st != ES_DNSMSG_OK) {
        /* An OPT record that is not last, or ARCOUNT already at its maximum. */
        FZ_CHECK((st == ES_DNSMSG_E_OPT_POS && q->has_opt) || st == ES_DNSMSG_E_ARG);
        FZ_CHECK(n == len && memcmp(buf, data, len) == 0);
        return;
    }
    /* The query reads back with the subnet, unless a compression pointer
     * leads into the header: ARCOUNT, which has just changed, is then part
     * of a name (tests/corpus/dnsmsg/regress-qname-in-header,
     * regress-ptr-into-arcount). dnsmsg.h allows pointers anywhere, and no
     * real client compresses a query, so such a query is only skipped. */
    if (points_into_header(data, len))
        return;
    struct es_dnsmsg q2;
    FZ_CHECK(es_dnsmsg_parse_query(buf, n, &q2) == ES_DNSMSG_OK);
    FZ_CHECK(q2.has_opt && q2.has_ecs && q2.ecs.family == ES_ECS_FAMILY_V4);
    FZ_CHECK(q2.ecs.source_prefix == 24 && q2.ecs.scope_prefix == 0);
    FZ_CHECK(memcmp(q2.ecs.addr.bytes, "\xc0\x00\x02\x00", 4) == 0);
    FZ_CHECK(q2.id == q->id && strcmp(q2.qname, q->qname) == 0 && q2.qtype == q->qtype);
}

int es_fuzz_dnsmsg(const uint8_t *data, size_t len)
{
    struct es_dnsmsg q, r;
    enum es_dnsmsg_status sq = es_dnsmsg_parse_query(data, len, &q);
    enum es_dnsmsg_status sr = es_dnsmsg_parse_response(data, len, &r);
    FZ_CHECK(es_dnsmsg_strerror(sq)[0] && es_dnsmsg_strerror(sr)[0]);
    FZ_CHECK(sq != ES_DNSMSG_OK || sr != ES_DNSMSG_OK); /* the QR bit decides */
    if (len < ES_DNSMSG_HEADER)
        FZ_CHECK(sq == ES_DNSMSG_E_SHORT && sr == ES_DNSMSG_E_SHORT);

    if (sq == ES_DNSMSG_OK) {
        FZ_CHECK(q.has_question);
        check_name(&q);
        FZ_CHECK(!q.has_ecs || q.has_opt);
        answer(&q, ES_RCODE_NOERROR);
        answer(&q, ES_RCODE_NXDOMAIN);
        add_ecs(data, len, &q);
    } else {
        FZ_CHECK(!q.has_opt && !q.has_ecs);
        check_name(&q);
        if (sq != ES_DNSMSG_E_SHORT && sq != ES_DNSMSG_E_QR)
            answer(&q, ES_RCODE_FORMERR);
    }

    if (sr == ES_DNSMSG_OK) {
        check_name(&r);
        FZ_CHECK(!r.has_ecs || r.has_opt);
        FZ_CHECK(r.rcode < 4096);
    } else {
        FZ_CHECK(!r.has_opt && !r.has_ecs);
    }
    struct es_dnsmsg_ecs sent = {.family = ES_ECS_FAMILY_V4, .source_prefix = 24};
    sent.addr.family = AF_INET;
    memcpy(sent.addr.bytes, "\xc0\x00\x02\x00", 4);
    int scope = -2;
    enum es_dnsmsg_status ss = es_dnsmsg_response_scope(data, len, &sent, &scope);
    if (ss == ES_DNSMSG_OK)
        FZ_CHECK(sr == ES_DNSMSG_OK && scope >= -1 && scope <= 128);
    else
        FZ_CHECK(scope == -2);
    return sq == ES_DNSMSG_OK || sr == ES_DNSMSG_OK;
}

#ifndef ES_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    es_fuzz_dnsmsg(data, len);
    return 0;
}
#endif
