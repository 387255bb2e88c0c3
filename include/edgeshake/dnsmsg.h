/* dnsmsg.h - bounds-checked DNS messages: the parts c-ares does not do.
 *
 * c-ares builds queries (ares_create_query) and parses answers
 * (ares_parse_a_reply); this module covers the rest:
 *   - the server side of the lab resolvers: parse a query (RFC 1035 header and
 *     question, EDNS0 OPT of RFC 6891, Client Subnet option of RFC 7871) and
 *     build its response;
 *   - the client side of the scanner: add an OPT record with a Client Subnet
 *     option to a query made by ares_create_query (c-ares 1.18 has no ECS API)
 *     and read the ECS scope back from the response.
 *
 * Every byte is read through struct es_cursor (util.h) or an explicit bound:
 * no input can make a parser read outside [msg, msg + len), loop, or recurse.
 * Compression pointers may point anywhere inside the message (backward or
 * forward) but are followed at most ES_DNSMSG_MAX_HOPS times per name.
 *
 * Conventions: parsers and builders return enum es_dnsmsg_status
 * (ES_DNSMSG_OK = 0); nothing here allocates, keeps a pointer into its
 * arguments, or touches global state, so every function is thread-safe. */
#ifndef EDGESHAKE_DNSMSG_H
#define EDGESHAKE_DNSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/net-t.h"

#define ES_DNSMSG_HEADER    12   /* bytes of the fixed header */
#define ES_DNSMSG_NAME_WIRE 255  /* longest name in wire form, root label included */
#define ES_DNSMSG_NAME_TEXT 1024 /* longest name as text ("\DDD" escapes), with the NUL */
#define ES_DNSMSG_MAX_HOPS  127  /* compression pointers followed per name at most */
#define ES_DNSMSG_UDP_SIZE  1232 /* the EDNS payload size we advertise (DNS flag day 2020) */
#define ES_DNSMSG_TTL       60   /* TTL of every answer record we build */

/* Wire constants. */
enum {
    ES_DNS_TYPE_A = 1,
    ES_DNS_TYPE_AAAA = 28,
    ES_DNS_TYPE_OPT = 41,
    ES_DNS_CLASS_IN = 1,
    ES_EDNS_OPT_ECS = 8,  /* RFC 7871 option code */
    ES_ECS_FAMILY_V4 = 1, /* RFC 7871 / IANA address family numbers */
    ES_ECS_FAMILY_V6 = 2,
};

/* Header flag bits (second 16-bit word of the header). */
enum {
    ES_DNS_FLAG_QR = 0x8000,
    ES_DNS_FLAG_AA = 0x0400,
    ES_DNS_FLAG_TC = 0x0200,
    ES_DNS_FLAG_RD = 0x0100,
    ES_DNS_FLAG_RA = 0x0080,
};
#define ES_DNS_OPCODE(flags) (((unsigned)(flags) >> 11) & 0xfu)

/* Response codes. Values above 15 need an OPT record (its upper 8 bits). */
enum es_dns_rcode {
    ES_RCODE_NOERROR = 0,
    ES_RCODE_FORMERR = 1,
    ES_RCODE_SERVFAIL = 2,
    ES_RCODE_NXDOMAIN = 3,
    ES_RCODE_NOTIMP = 4,
    ES_RCODE_REFUSED = 5,
    ES_RCODE_BADVERS = 16, /* RFC 6891: EDNS version not supported */
};

/* Outcome of a parser or builder. Every ES_DNSMSG_E_* of a parser means the
 * message is malformed; a responder answers it with FORMERR, except
 * ES_DNSMSG_E_SHORT (no header to answer to) and ES_DNSMSG_E_QR (never answer
 * a response), which it drops. */
enum es_dnsmsg_status {
    ES_DNSMSG_OK = 0,
    ES_DNSMSG_E_SHORT,          /* fewer than 12 bytes: no header */
    ES_DNSMSG_E_QR,             /* QR bit is not what was expected (query vs. response) */
    ES_DNSMSG_E_QDCOUNT,        /* QDCOUNT is not 1 (a response may also have 0) */
    ES_DNSMSG_E_NAME_TRUNC,     /* a name runs past the end (label, pointer or no root label) */
    ES_DNSMSG_E_LABEL_TYPE,     /* label length byte 0x40-0xbf (length 64+, reserved types) */
    ES_DNSMSG_E_NAME_LONG,      /* a name longer than 255 octets in wire form */
    ES_DNSMSG_E_PTR_RANGE,      /* a compression pointer to an offset past the end */
    ES_DNSMSG_E_PTR_LOOP,       /* more than ES_DNSMSG_MAX_HOPS pointers in one name */
    ES_DNSMSG_E_QUESTION_TRUNC, /* QTYPE/QCLASS cut off */
    ES_DNSMSG_E_RR_TRUNC,       /* a record's TYPE..RDLENGTH or RDATA cut off */
    ES_DNSMSG_E_TRAILING,       /* bytes after the last record */
    ES_DNSMSG_E_OPT_NAME,       /* OPT record whose owner is not the root */
    ES_DNSMSG_E_OPT_DUP,        /* more than one OPT record (RFC 6891 §6.1.1) */
    ES_DNSMSG_E_OPT_TRUNC,      /* an EDNS option runs past the OPT RDATA */
    ES_DNSMSG_E_ECS_DUP,        /* more than one Client Subnet option */
    ES_DNSMSG_E_ECS_LEN,        /* Client Subnet option shorter than 4 bytes */
    ES_DNSMSG_E_ECS_FAMILY,     /* FAMILY is not 1 (IPv4) or 2 (IPv6) */
    ES_DNSMSG_E_ECS_PREFIX,     /* SOURCE or SCOPE PREFIX-LENGTH above 32 (IPv4) / 128 (IPv6) */
    ES_DNSMSG_E_ECS_ADDRLEN,    /* ADDRESS is not ceil(SOURCE PREFIX-LENGTH / 8) bytes */
    ES_DNSMSG_E_ECS_BITS,       /* ADDRESS has bits set past SOURCE PREFIX-LENGTH */
    /* Builders and client-side checks only: */
    ES_DNSMSG_E_OPT_POS,      /* es_dnsmsg_add_ecs: the OPT record is not the last record */
    ES_DNSMSG_E_ECS_MISMATCH, /* response ECS differs from the query's (RFC 7871 §7.3) */
    ES_DNSMSG_E_NOSPACE,      /* the output buffer is too small */
    ES_DNSMSG_E_ARG,          /* an argument out of range (rcode > 15 without OPT, ...) */
};

/* A Client Subnet option (RFC 7871 §6). */
struct es_dnsmsg_ecs {
    unsigned family;        /* ES_ECS_FAMILY_V4 or ES_ECS_FAMILY_V6 */
    unsigned source_prefix; /* SOURCE PREFIX-LENGTH, <= 32 or 128 */
    unsigned scope_prefix;  /* SCOPE PREFIX-LENGTH (0 in queries) */
    struct es_ip addr;      /* AF_INET or AF_INET6; every bit past source_prefix is zero */
};

/* A parsed message: header, the first question, the OPT record and its ECS
 * option. Filled by the parsers below; all of it is copied out of the
 * message, nothing points into it. */
struct es_dnsmsg {
    uint16_t id;
    uint16_t flags;   /* second header word as received: QR, opcode, AA, TC, RD, RA, RCODE */
    unsigned rcode;   /* header RCODE, plus the OPT extended bits when present (12 bits) */
    uint16_t ancount; /* answer records */

    bool has_question;
    uint8_t qname_wire[ES_DNSMSG_NAME_WIRE]; /* uncompressed, case as received */
    size_t qname_wire_len;                   /* includes the root label; >= 1 */
    char qname[ES_DNSMSG_NAME_TEXT];         /* lower case, no trailing dot, "." for the root; bytes
                                                other than [!-~] as \DDD, '.' and '\' inside a
                                                label escaped with '\' (as dig prints them) */
    uint16_t qtype, qclass;

    bool has_opt;
    uint16_t udp_size;    /* OPT CLASS: requestor's payload size */
    uint8_t edns_version; /* OPT TTL bits 16-23 */
    bool edns_do;         /* DNSSEC OK bit */

    bool has_ecs;
    struct es_dnsmsg_ecs ecs;
};

/* Parses a query (QR = 0, exactly one question, any answer and authority
 * records skipped, the additional section searched for one OPT record).
 * Returns ES_DNSMSG_OK, or the first problem found. Even on error every field
 * that was read is valid: id and flags unless ES_DNSMSG_E_SHORT, the question
 * when has_question is true; has_opt and has_ecs are false on any error (so a
 * FORMERR built from q carries no OPT). */
enum es_dnsmsg_status es_dnsmsg_parse_query(const uint8_t *msg, size_t len, struct es_dnsmsg *q);

/* Parses a response (QR = 1, QDCOUNT 0 or 1, every record walked and checked)
 * into r; rcode includes the OPT extended bits. Same error contract as
 * es_dnsmsg_parse_query. Answers themselves are left to c-ares
 * (ares_parse_a_reply / ares_parse_aaaa_reply). */
enum es_dnsmsg_status es_dnsmsg_parse_response(const uint8_t *msg, size_t len, struct es_dnsmsg *r);

/* What a response says. */
struct es_dnsmsg_reply {
    unsigned rcode;         /* enum es_dns_rcode; above 15 only when q->has_opt */
    const struct es_ip *ip; /* answers in this order: an A record for each AF_INET,
                               an AAAA record for each AF_INET6 (the caller picks what
                               matches QTYPE); TTL ES_DNSMSG_TTL, owner = the question */
    size_t nip;
    unsigned scope; /* echoed as SCOPE PREFIX-LENGTH when q->has_ecs (capped to 32/128) */
};

/* Builds the response to q into buf[0..cap): ID, opcode and RD copied, QR, AA
 * and RA set; the question copied when q->has_question (QDCOUNT 0 otherwise,
 * e.g. for a FORMERR to an unreadable question); the answers; and when
 * q->has_opt an OPT record (payload ES_DNSMSG_UDP_SIZE, version 0) that echoes
 * q's ECS option, if any, with SCOPE set to r->scope (RFC 7871 §7.2.1).
 * The response is kept within 512 bytes, or the query's EDNS payload size,
 * and cap: answers that do not fit are left out and TC is set.
 * Returns ES_DNSMSG_OK with *len set, ES_DNSMSG_E_NOSPACE when not even the
 * header, question and OPT fit in cap, or ES_DNSMSG_E_ARG for an rcode that
 * cannot be expressed, answers without a question, an address that is not
 * AF_INET/AF_INET6, or an inconsistent q->ecs. buf is scratch on error. */
enum es_dnsmsg_status es_dnsmsg_build_response(const struct es_dnsmsg *q,
                                               const struct es_dnsmsg_reply *r, uint8_t *buf,
                                               size_t cap, size_t *len);

/* Client side: adds a Client Subnet option for subnet/prefix to the query in
 * msg[0..*len) (e.g. a copy of what ares_create_query made; msg has room for
 * cap bytes). When the query has no OPT record, appends one (payload size
 * udp_size, 0 = ES_DNSMSG_UDP_SIZE) and increments ARCOUNT; when it has one
 * (ares_create_query with max_udp_size), the option is appended to it, which
 * must then be the last record. Address bits past prefix are cleared, as RFC
 * 7871 requires. Returns ES_DNSMSG_OK with *len updated; on error msg and
 * *len are unchanged: a parse error of the query, ES_DNSMSG_E_ECS_DUP when it
 * already has ECS, ES_DNSMSG_E_OPT_POS, ES_DNSMSG_E_ECS_FAMILY or
 * ES_DNSMSG_E_ECS_PREFIX for a bad subnet, ES_DNSMSG_E_NOSPACE. */
enum es_dnsmsg_status es_dnsmsg_add_ecs(uint8_t *msg, size_t *len, size_t cap,
                                        const struct es_ip *subnet, unsigned prefix,
                                        uint16_t udp_size);

/* Client side: the SCOPE PREFIX-LENGTH of the response msg[0..len) to a query
 * that carried the ECS option `sent` (family, source prefix and address as
 * sent). Sets *scope to the scope, or to -1 when the response has no ECS
 * option (the server ignored it). Returns ES_DNSMSG_OK, a parse error, or
 * ES_DNSMSG_E_ECS_MISMATCH when the echoed family, source prefix or address
 * differ from `sent` (RFC 7871 §7.3: discard such a response), or
 * ES_DNSMSG_E_ARG when `sent` itself is inconsistent. *scope is untouched on
 * error. */
enum es_dnsmsg_status es_dnsmsg_response_scope(const uint8_t *msg, size_t len,
                                               const struct es_dnsmsg_ecs *sent, int *scope);

/* A short constant description ("compression loop") for logs and tests. */
const char *es_dnsmsg_strerror(enum es_dnsmsg_status st);

#endif
