/* dnsmsg.c - see include/edgeshake/dnsmsg.h
 *
 * One parser serves queries and responses: header, the question, then every
 * record of the three other sections, checked for shape (a name, TYPE..
 * RDLENGTH, RDATA within the message); the OPT record of the additional
 * section is opened and its Client Subnet option checked against RFC 7871.
 * Builders write through a bounded writer that fails instead of overflowing. */
#include "edgeshake/dnsmsg.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "edgeshake/util.h"

/* Where the OPT record sits, for es_dnsmsg_add_ecs. */
struct opt_pos {
    size_t rdlen_at; /* offset of its RDLENGTH field */
    size_t end;      /* offset just past its RDATA */
};

static unsigned ecs_max_prefix(unsigned family)
{
    return family == ES_ECS_FAMILY_V4 ? 32 : family == ES_ECS_FAMILY_V6 ? 128 : 0;
}

/* Reads the (possibly compressed) name at c->off into wire[0..*wire_len),
 * uncompressed, and moves c past the name's bytes in place: through the root
 * label, or through the first compression pointer. */
static enum es_dnsmsg_status read_name(struct es_cursor *c, uint8_t wire[ES_DNSMSG_NAME_WIRE],
                                       size_t *wire_len)
{
    const uint8_t *msg = c->p;
    size_t len = c->len, pos = c->off, total = 0;
    unsigned hops = 0;
    bool jumped = false;
    for (;;) {
        if (pos >= len)
            return ES_DNSMSG_E_NAME_TRUNC;
        uint8_t b = msg[pos];
        if ((b & 0xc0) == 0xc0) {
            if (len - pos < 2)
                return ES_DNSMSG_E_NAME_TRUNC;
            size_t target = (size_t)(b & 0x3f) << 8 | msg[pos + 1];
            if (!jumped)
                c->off = pos + 2;
            jumped = true;
            if (++hops > ES_DNSMSG_MAX_HOPS)
                return ES_DNSMSG_E_PTR_LOOP;
            if (target >= len)
                return ES_DNSMSG_E_PTR_RANGE;
            pos = target;
            continue;
        }
        if (b & 0xc0)
            return ES_DNSMSG_E_LABEL_TYPE;
        /* This label, plus the root label still to come, must fit in 255. */
        if (total + 1 + b + (b ? 1 : 0) > ES_DNSMSG_NAME_WIRE)
            return ES_DNSMSG_E_NAME_LONG;
        if (len - pos < 1 + (size_t)b)
            return ES_DNSMSG_E_NAME_TRUNC;
        memcpy(wire + total, msg + pos, 1 + (size_t)b);
        total += 1 + (size_t)b;
        pos += 1 + (size_t)b;
        if (b == 0)
            break;
    }
    if (!jumped)
        c->off = pos;
    *wire_len = total;
    return ES_DNSMSG_OK;
}

/* Presentation form of a valid wire name, lower case, without the trailing
 * dot. Bound: at most 254 label bytes (255 minus the root), each at most 4
 * characters ("\DDD") with the dots counted among them: <= 1016 < 1024. */
static void name_to_text(const uint8_t *wire, char out[ES_DNSMSG_NAME_TEXT])
{
    size_t i = 0, o = 0;
    if (wire[0] == 0) {
        memcpy(out, ".", 2);
        return;
    }
    while (wire[i]) {
        unsigned n = wire[i++];
        if (o)
            out[o++] = '.';
        for (unsigned k = 0; k < n; k++) {
            uint8_t b = wire[i++];
            if (b >= 'A' && b <= 'Z')
                b = (uint8_t)(b - 'A' + 'a');
            if (b == '.' || b == '\\') {
                out[o++] = '\\';
                out[o++] = (char)b;
            } else if (b < 0x21 || b > 0x7e) {
                o += (size_t)snprintf(out + o, 5, "\\%03u", b);
            } else {
                out[o++] = (char)b;
            }
        }
    }
    out[o] = '\0';
}

/* The ECS option value val[0..len) (RFC 7871 §6). */
static enum es_dnsmsg_status parse_ecs(const uint8_t *val, size_t len, struct es_dnsmsg_ecs *ecs)
{
    struct es_cursor c = {val, len, 0};
    uint16_t family;
    uint8_t source, scope;
    if (!es_cursor_u16(&c, &family) || !es_cursor_u8(&c, &source) || !es_cursor_u8(&c, &scope))
        return ES_DNSMSG_E_ECS_LEN;
    unsigned max = ecs_max_prefix(family);
    if (!max)
        return ES_DNSMSG_E_ECS_FAMILY;
    if (source > max || scope > max)
        return ES_DNSMSG_E_ECS_PREFIX;
    size_t nbytes = ((size_t)source + 7) / 8;
    const uint8_t *addr;
    if (es_cursor_left(&c) != nbytes || !es_cursor_bytes(&c, nbytes, &addr))
        return ES_DNSMSG_E_ECS_ADDRLEN;
    if (source % 8 && (addr[nbytes - 1] & (0xffu >> (source % 8))))
        return ES_DNSMSG_E_ECS_BITS;
    memset(ecs, 0, sizeof *ecs);
    ecs->family = family;
    ecs->source_prefix = source;
    ecs->scope_prefix = scope;
    ecs->addr.family = family == ES_ECS_FAMILY_V4 ? AF_INET : AF_INET6;
    memcpy(ecs->addr.bytes, addr, nbytes);
    return ES_DNSMSG_OK;
}

/* The options of an OPT record's RDATA; unknown options are skipped. */
static enum es_dnsmsg_status parse_options(const uint8_t *rdata, size_t len, struct es_dnsmsg *m)
{
    struct es_cursor c = {rdata, len, 0};
    while (es_cursor_left(&c)) {
        uint16_t code, olen;
        const uint8_t *val;
        if (!es_cursor_u16(&c, &code) || !es_cursor_u16(&c, &olen) ||
            !es_cursor_bytes(&c, olen, &val))
            return ES_DNSMSG_E_OPT_TRUNC;
        if (code != ES_EDNS_OPT_ECS)
            continue;
        if (m->has_ecs)
            return ES_DNSMSG_E_ECS_DUP;
        enum es_dnsmsg_status st = parse_ecs(val, olen, &m->ecs);
        if (st)
            return st;
        m->has_ecs = true;
    }
    return ES_DNSMSG_OK;
}

/* One resource record; in the additional section an OPT record is opened. */
static enum es_dnsmsg_status read_rr(struct es_cursor *c, bool additional, struct es_dnsmsg *m,
                                     struct opt_pos *pos)
{
    uint8_t owner[ES_DNSMSG_NAME_WIRE];
    size_t owner_len;
    enum es_dnsmsg_status st = read_name(c, owner, &owner_len);
    if (st)
        return st;
    uint16_t type, rclass, rdlen;
    uint32_t ttl;
    const uint8_t *rdata;
    if (!es_cursor_u16(c, &type) || !es_cursor_u16(c, &rclass) || !es_cursor_u32(c, &ttl))
        return ES_DNSMSG_E_RR_TRUNC;
    size_t rdlen_at = c->off;
    if (!es_cursor_u16(c, &rdlen) || !es_cursor_bytes(c, rdlen, &rdata))
        return ES_DNSMSG_E_RR_TRUNC;
    if (!additional || type != ES_DNS_TYPE_OPT)
        return ES_DNSMSG_OK;
    if (owner_len != 1)
        return ES_DNSMSG_E_OPT_NAME;
    if (m->has_opt)
        return ES_DNSMSG_E_OPT_DUP;
    m->has_opt = true;
    m->udp_size = rclass;
    m->rcode |= (ttl >> 24) << 4;
    m->edns_version = (uint8_t)(ttl >> 16);
    m->edns_do = (ttl & 0x8000) != 0;
    pos->rdlen_at = rdlen_at;
    pos->end = c->off;
    return parse_options(rdata, rdlen, m);
}

static enum es_dnsmsg_status parse_body(struct es_cursor *c, bool query, struct es_dnsmsg *m,
                                        struct opt_pos *pos)
{
    uint16_t qdcount, ancount, nscount, arcount;
    if (!es_cursor_u16(c, &m->id) || !es_cursor_u16(c, &m->flags) || !es_cursor_u16(c, &qdcount) ||
        !es_cursor_u16(c, &ancount) || !es_cursor_u16(c, &nscount) || !es_cursor_u16(c, &arcount))
        return ES_DNSMSG_E_SHORT;
    m->rcode = m->flags & 0xfu;
    m->ancount = ancount;
    if (((m->flags & ES_DNS_FLAG_QR) != 0) == query)
        return ES_DNSMSG_E_QR;
    if (query ? qdcount != 1 : qdcount > 1)
        return ES_DNSMSG_E_QDCOUNT;
    if (qdcount) {
        enum es_dnsmsg_status st = read_name(c, m->qname_wire, &m->qname_wire_len);
        if (st)
            return st;
        if (!es_cursor_u16(c, &m->qtype) || !es_cursor_u16(c, &m->qclass))
            return ES_DNSMSG_E_QUESTION_TRUNC;
        name_to_text(m->qname_wire, m->qname);
        m->has_question = true;
    }
    /* 65535 * 3 records at most, each at least 11 bytes: bounded by len. */
    size_t records = (size_t)ancount + nscount + arcount;
    for (size_t i = 0; i < records; i++) {
        enum es_dnsmsg_status st = read_rr(c, i >= (size_t)ancount + nscount, m, pos);
        if (st)
            return st;
    }
    if (es_cursor_left(c))
        return ES_DNSMSG_E_TRAILING;
    return ES_DNSMSG_OK;
}

static enum es_dnsmsg_status parse(const uint8_t *msg, size_t len, bool query, struct es_dnsmsg *m,
                                   struct opt_pos *pos)
{
    struct es_cursor c = {msg, len, 0};
    struct opt_pos scratch;
    memset(m, 0, sizeof *m);
    enum es_dnsmsg_status st = parse_body(&c, query, m, pos ? pos : &scratch);
    if (st) {
        m->has_opt = m->has_ecs = false;
        m->rcode = m->flags & 0xfu;
    }
    return st;
}

enum es_dnsmsg_status es_dnsmsg_parse_query(const uint8_t *msg, size_t len, struct es_dnsmsg *q)
{
    return parse(msg, len, true, q, NULL);
}

enum es_dnsmsg_status es_dnsmsg_parse_response(const uint8_t *msg, size_t len, struct es_dnsmsg *r)
{
    return parse(msg, len, false, r, NULL);
}

/* A bounded writer: every put fails, writing nothing, when it would pass cap. */
struct writer {
    uint8_t *p;
    size_t cap, off;
};

static bool put_bytes(struct writer *w, const void *src, size_t n)
{
    if (w->cap - w->off < n)
        return false;
    memcpy(w->p + w->off, src, n);
    w->off += n;
    return true;
}

static bool put_u16(struct writer *w, unsigned v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return put_bytes(w, b, 2);
}

static bool put_u32(struct writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return put_bytes(w, b, 4);
}

static void set_u16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The ECS option (code, length, value) for addr/source with scope into out;
 * address bits past source are cleared. Returns its length (<= 24). */
static size_t ecs_option(const struct es_ip *addr, unsigned source, unsigned scope, uint8_t out[24])
{
    unsigned family = addr->family == AF_INET ? ES_ECS_FAMILY_V4 : ES_ECS_FAMILY_V6;
    size_t nbytes = ((size_t)source + 7) / 8;
    set_u16(out, ES_EDNS_OPT_ECS);
    set_u16(out + 2, (unsigned)(4 + nbytes));
    set_u16(out + 4, family);
    out[6] = (uint8_t)source;
    out[7] = (uint8_t)scope;
    memcpy(out + 8, addr->bytes, nbytes);
    if (source % 8)
        out[8 + nbytes - 1] &= (uint8_t)(0xff00u >> (source % 8));
    return 8 + nbytes;
}

enum es_dnsmsg_status es_dnsmsg_build_response(const struct es_dnsmsg *q,
                                               const struct es_dnsmsg_reply *r, uint8_t *buf,
                                               size_t cap, size_t *len)
{
    if (r->rcode > 0xfff || (r->rcode > 15 && !q->has_opt) || (r->nip && !q->has_question))
        return ES_DNSMSG_E_ARG;
    if (q->has_ecs &&
        (q->ecs.source_prefix > ecs_max_prefix(q->ecs.family) ||
         q->ecs.addr.family != (q->ecs.family == ES_ECS_FAMILY_V4 ? AF_INET : AF_INET6)))
        return ES_DNSMSG_E_ARG;
    for (size_t i = 0; i < r->nip; i++)
        if (r->ip[i].family != AF_INET && r->ip[i].family != AF_INET6)
            return ES_DNSMSG_E_ARG;
    size_t limit = q->has_opt && q->udp_size > 512 ? q->udp_size : 512;
    struct writer w = {buf, limit < cap ? limit : cap, 0};

    /* The OPT record goes last but its room is kept before any answer. */
    uint8_t opt[11 + 24];
    size_t optlen = 0;
    if (q->has_opt) {
        uint8_t ecs[24];
        size_t ecslen = 0;
        if (q->has_ecs) {
            unsigned max = ecs_max_prefix(q->ecs.family);
            unsigned scope = r->scope < max ? r->scope : max;
            ecslen = ecs_option(&q->ecs.addr, q->ecs.source_prefix, scope, ecs);
        }
        opt[0] = 0; /* root owner */
        set_u16(opt + 1, ES_DNS_TYPE_OPT);
        set_u16(opt + 3, ES_DNSMSG_UDP_SIZE);
        opt[5] = (uint8_t)(r->rcode >> 4); /* extended RCODE; version 0, no flags */
        memset(opt + 6, 0, 3);
        set_u16(opt + 9, (unsigned)ecslen);
        memcpy(opt + 11, ecs, ecslen);
        optlen = 11 + ecslen;
    }

    unsigned flags = ES_DNS_FLAG_QR | ES_DNS_FLAG_AA | ES_DNS_FLAG_RA | (r->rcode & 0xfu) |
                     (q->flags & (0x7800u | ES_DNS_FLAG_RD));
    if (!put_u16(&w, q->id) || !put_u16(&w, flags) || !put_u16(&w, q->has_question) ||
        !put_u16(&w, 0) || !put_u16(&w, 0) || !put_u16(&w, q->has_opt))
        return ES_DNSMSG_E_NOSPACE;
    if (q->has_question && (!put_bytes(&w, q->qname_wire, q->qname_wire_len) ||
                            !put_u16(&w, q->qtype) || !put_u16(&w, q->qclass)))
        return ES_DNSMSG_E_NOSPACE;
    if (w.cap - w.off < optlen)
        return ES_DNSMSG_E_NOSPACE;

    size_t answer_cap = w.cap - optlen;
    unsigned ancount = 0;
    for (size_t i = 0; i < r->nip; i++) {
        const struct es_ip *ip = &r->ip[i];
        size_t rdlen = ip->family == AF_INET ? 4 : 16;
        if (answer_cap - w.off < 12 + rdlen) {
            flags |= ES_DNS_FLAG_TC;
            break;
        }
        put_u16(&w, 0xc000 | ES_DNSMSG_HEADER); /* owner: the question's name */
        put_u16(&w, ip->family == AF_INET ? ES_DNS_TYPE_A : ES_DNS_TYPE_AAAA);
        put_u16(&w, ES_DNS_CLASS_IN);
        put_u32(&w, ES_DNSMSG_TTL);
        put_u16(&w, (unsigned)rdlen);
        put_bytes(&w, ip->bytes, rdlen);
        ancount++;
    }
    put_bytes(&w, opt, optlen);
    set_u16(buf + 2, flags);
    set_u16(buf + 6, ancount);
    *len = w.off;
    return ES_DNSMSG_OK;
}

enum es_dnsmsg_status es_dnsmsg_add_ecs(uint8_t *msg, size_t *len, size_t cap,
                                        const struct es_ip *subnet, unsigned prefix,
                                        uint16_t udp_size)
{
    if (subnet->family != AF_INET && subnet->family != AF_INET6)
        return ES_DNSMSG_E_ECS_FAMILY;
    if (prefix > (subnet->family == AF_INET ? 32u : 128u))
        return ES_DNSMSG_E_ECS_PREFIX;
    if (*len > cap)
        return ES_DNSMSG_E_ARG;
    struct es_dnsmsg q;
    struct opt_pos pos = {0, 0};
    enum es_dnsmsg_status st = parse(msg, *len, true, &q, &pos);
    if (st)
        return st;
    if (q.has_ecs)
        return ES_DNSMSG_E_ECS_DUP;

    uint8_t option[24];
    size_t optlen = ecs_option(subnet, prefix, 0, option);
    if (q.has_opt) {
        if (pos.end != *len)
            return ES_DNSMSG_E_OPT_POS;
        unsigned rdlen = (unsigned)(msg[pos.rdlen_at] << 8 | msg[pos.rdlen_at + 1]);
        if (rdlen + optlen > 0xffff || cap - *len < optlen)
            return ES_DNSMSG_E_NOSPACE;
        memcpy(msg + *len, option, optlen);
        set_u16(msg + pos.rdlen_at, (unsigned)(rdlen + optlen));
        *len += optlen;
        return ES_DNSMSG_OK;
    }
    unsigned arcount = (unsigned)(msg[10] << 8 | msg[11]);
    if (arcount == 0xffff)
        return ES_DNSMSG_E_ARG;
    if (cap - *len < 11 + optlen)
        return ES_DNSMSG_E_NOSPACE;
    uint8_t *p = msg + *len;
    p[0] = 0;
    set_u16(p + 1, ES_DNS_TYPE_OPT);
    set_u16(p + 3, udp_size ? udp_size : ES_DNSMSG_UDP_SIZE);
    memset(p + 5, 0, 4); /* extended RCODE, version 0, flags */
    set_u16(p + 9, (unsigned)optlen);
    memcpy(p + 11, option, optlen);
    set_u16(msg + 10, arcount + 1);
    *len += 11 + optlen;
    return ES_DNSMSG_OK;
}

enum es_dnsmsg_status es_dnsmsg_response_scope(const uint8_t *msg, size_t len,
                                               const struct es_dnsmsg_ecs *sent, int *scope)
{
    struct es_dnsmsg r;
    enum es_dnsmsg_status st = parse(msg, len, false, &r, NULL);
    if (st)
        return st;
    if (sent->source_prefix > ecs_max_prefix(sent->family) ||
        sent->addr.family != (sent->family == ES_ECS_FAMILY_V4 ? AF_INET : AF_INET6))
        return ES_DNSMSG_E_ARG;
    if (!r.has_ecs) {
        *scope = -1;
        return ES_DNSMSG_OK;
    }
    /* Compare with the address as it went on the wire: bits past the prefix cleared. */
    uint8_t want[24], got[24];
    size_t wantlen = ecs_option(&sent->addr, sent->source_prefix, 0, want);
    size_t gotlen = ecs_option(&r.ecs.addr, r.ecs.source_prefix, 0, got);
    if (r.ecs.family != sent->family || wantlen != gotlen || memcmp(want, got, wantlen) != 0)
        return ES_DNSMSG_E_ECS_MISMATCH;
    *scope = (int)r.ecs.scope_prefix;
    return ES_DNSMSG_OK;
}

const char *es_dnsmsg_strerror(enum es_dnsmsg_status st)
{
    switch (st) {
    case ES_DNSMSG_OK: return "ok";
    case ES_DNSMSG_E_SHORT: return "shorter than a DNS header";
    case ES_DNSMSG_E_QR: return "QR bit: query where a response was expected or vice versa";
    case ES_DNSMSG_E_QDCOUNT: return "question count is not 1";
    case ES_DNSMSG_E_NAME_TRUNC: return "name runs past the end of the message";
    case ES_DNSMSG_E_LABEL_TYPE: return "label length 64 or more (reserved label type)";
    case ES_DNSMSG_E_NAME_LONG: return "name longer than 255 octets";
    case ES_DNSMSG_E_PTR_RANGE: return "compression pointer past the end of the message";
    case ES_DNSMSG_E_PTR_LOOP: return "compression loop";
    case ES_DNSMSG_E_QUESTION_TRUNC: return "question type or class cut off";
    case ES_DNSMSG_E_RR_TRUNC: return "resource record cut off";
    case ES_DNSMSG_E_TRAILING: return "bytes after the last record";
    case ES_DNSMSG_E_OPT_NAME: return "OPT record owner is not the root";
    case ES_DNSMSG_E_OPT_DUP: return "more than one OPT record";
    case ES_DNSMSG_E_OPT_TRUNC: return "EDNS option runs past the OPT record";
    case ES_DNSMSG_E_ECS_DUP: return "more than one Client Subnet option";
    case ES_DNSMSG_E_ECS_LEN: return "Client Subnet option shorter than 4 bytes";
    case ES_DNSMSG_E_ECS_FAMILY: return "Client Subnet family is not IPv4 or IPv6";
    case ES_DNSMSG_E_ECS_PREFIX: return "Client Subnet prefix length too long for its family";
    case ES_DNSMSG_E_ECS_ADDRLEN: return "Client Subnet address length does not match the prefix";
    case ES_DNSMSG_E_ECS_BITS: return "Client Subnet address has bits set past the prefix";
    case ES_DNSMSG_E_OPT_POS: return "OPT record is not the last record";
    case ES_DNSMSG_E_ECS_MISMATCH: return "Client Subnet in the response differs from the query";
    case ES_DNSMSG_E_NOSPACE: return "buffer too small";
    case ES_DNSMSG_E_ARG: return "argument out of range";
    }
    return "unknown DNS message status";
}
