/* labdns.c - see include/edgeshake/labdns.h
 *
 * One nonblocking UDP socket per `resolver` line, registered level-triggered
 * on the lab's loop. On readiness a resolver reads datagrams in batches
 * (recvmmsg), answers each from the spec, and sends the answers of a batch
 * together (sendmmsg). A readiness callback handles at most BUDGET datagrams
 * and returns, so a flood on one resolver cannot starve the TLS edges on the
 * same loop; the level-triggered watch calls it again for the rest.
 *
 * Per query, in this order:
 *   resolver fault=drop                 -> no answer, whatever arrived
 *   shorter than a header, or a response -> no answer
 *   malformed (es_dnsmsg_parse_query)   -> FORMERR, ID copied
 *   resolver fault=servfail|refused     -> SERVFAIL | REFUSED
 *   opcode other than QUERY             -> NOTIMP
 *   class other than IN                 -> REFUSED (the lab serves IN only)
 *   EDNS version above 0                -> BADVERS (RFC 6891 §6.1.3)
 *   es_labspec_answer rule              -> NXDOMAIN (no rule), the rule's rcode,
 *                                          no answer (drop), or the addresses of
 *                                          the rule that match QTYPE (NODATA when
 *                                          none; other QTYPEs: NOERROR, empty). */
#include "edgeshake/labdns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edgeshake/dnsmsg.h"
#include "edgeshake/labspec.h"
#include "edgeshake/net.h"
#include "edgeshake/util.h"

enum {
    BATCH = 32,      /* datagrams per recvmmsg/sendmmsg */
    BUDGET = 512,    /* datagrams per readiness callback */
    QUERY_MAX = 4096 /* larger queries arrive truncated (MSG_TRUNC) and get FORMERR */
};

struct lab_resolver {
    struct es_watch watch; /* fd = the UDP socket; arg = this */
    const struct es_lab_resolver *spec;
    struct es_lab_dns *dns;
};

struct es_lab_dns {
    struct es_loop *loop;
    const struct es_labspec *spec;
    struct lab_resolver *resolvers;
    size_t nresolvers;

    /* One batch in flight at a time (one thread): buffers shared by every resolver. */
    uint8_t in[BATCH][QUERY_MAX];
    uint8_t out[BATCH][ES_DNSMSG_UDP_SIZE];
    struct sockaddr_storage peer[BATCH];
    struct iovec in_iov[BATCH], out_iov[BATCH];
    struct mmsghdr in_msg[BATCH], out_msg[BATCH];
};

/* The addresses of rule that answer qtype, copied into ips (room for max). */
static size_t matching_ips(const struct es_lab_answer *rule, unsigned qtype, struct es_ip *ips,
                           size_t max)
{
    int family = qtype == ES_DNS_TYPE_A ? AF_INET : qtype == ES_DNS_TYPE_AAAA ? AF_INET6 : 0;
    size_t n = 0;
    for (size_t i = 0; i < rule->nips && n < max; i++)
        if (rule->ips[i].family == family)
            ips[n++] = rule->ips[i];
    return n;
}

static unsigned fault_rcode(enum es_lab_dnsfault f)
{
    switch (f) {
    case ES_DNS_NXDOMAIN: return ES_RCODE_NXDOMAIN;
    case ES_DNS_SERVFAIL: return ES_RCODE_SERVFAIL;
    case ES_DNS_REFUSED: return ES_RCODE_REFUSED;
    case ES_DNS_ANSWER:
    case ES_DNS_DROP: break;
    }
    return ES_RCODE_NOERROR;
}

/* Answers one query of resolver r into out[0..cap). Returns the response
 * length, or 0 when the query gets no answer. */
static size_t answer(const struct es_lab_dns *d, const struct es_lab_resolver *r,
                     const uint8_t *query, size_t qlen, bool truncated, uint8_t *out, size_t cap)
{
    if (r->fault == ES_DNS_DROP)
        return 0;
    struct es_dnsmsg q;
    enum es_dnsmsg_status st = es_dnsmsg_parse_query(query, qlen, &q);
    if (st == ES_DNSMSG_E_SHORT || st == ES_DNSMSG_E_QR)
        return 0;
    if (truncated && st == ES_DNSMSG_OK) {
        /* Only a prefix of an oversized datagram was read: not the whole query. */
        q.has_opt = q.has_ecs = false;
        st = ES_DNSMSG_E_TRAILING;
    }

    /* More addresses than fit in ES_DNSMSG_UDP_SIZE (76 A, 44 AAAA): the
     * builder, not this array, decides what is left out, and sets TC. */
    struct es_ip ips[128];
    struct es_dnsmsg_reply reply = {.rcode = ES_RCODE_NOERROR, .ip = ips};
    if (st != ES_DNSMSG_OK) {
        reply.rcode = ES_RCODE_FORMERR;
    } else if (r->fault != ES_DNS_ANSWER) {
        reply.rcode = fault_rcode(r->fault);
    } else if (ES_DNS_OPCODE(q.flags) != 0) {
        reply.rcode = ES_RCODE_NOTIMP;
    } else if (q.qclass != ES_DNS_CLASS_IN) {
        reply.rcode = ES_RCODE_REFUSED;
    } else if (q.edns_version > 0) {
        reply.rcode = ES_RCODE_BADVERS;
    } else {
        bool use_ecs = q.has_ecs && q.ecs.source_prefix > 0; /* /0: client opted out */
        const struct es_lab_answer *rule =
            es_labspec_answer(d->spec, r->label, q.qname, use_ecs ? &q.ecs.addr : NULL,
                              use_ecs ? q.ecs.source_prefix : 0, &reply.scope);
        if (!rule)
            reply.rcode = ES_RCODE_NXDOMAIN;
        else if (rule->kind == ES_DNS_DROP)
            return 0;
        else if (rule->kind != ES_DNS_ANSWER)
            reply.rcode = fault_rcode(rule->kind);
        else
            reply.nip = matching_ips(rule, q.qtype, ips, ES_ARRAY_LEN(ips));
    }
    size_t len;
    if (es_dnsmsg_build_response(&q, &reply, out, cap, &len) != ES_DNSMSG_OK)
        return 0; /* cannot happen with cap >= 512; never send half a message */
    return len;
}

/* Receives up to BATCH datagrams on r and sends their answers. Returns the
 * number received, 0 when none was waiting. */
static int serve_batch(struct lab_resolver *res)
{
    struct es_lab_dns *d = res->dns;
    for (int i = 0; i < BATCH; i++) {
        d->in_iov[i] = (struct iovec){d->in[i], QUERY_MAX};
        d->in_msg[i].msg_hdr = (struct msghdr){
            .msg_name = &d->peer[i],
            .msg_namelen = sizeof d->peer[i],
            .msg_iov = &d->in_iov[i],
            .msg_iovlen = 1,
        };
    }
    int n = recvmmsg(res->watch.fd, d->in_msg, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return 0; /* EAGAIN, or an ICMP error queued on the socket: nothing to do */
    unsigned nout = 0;
    for (int i = 0; i < n; i++) {
        const struct msghdr *h = &d->in_msg[i].msg_hdr;
        size_t len = answer(d, res->spec, d->in[i], d->in_msg[i].msg_len,
                            (h->msg_flags & MSG_TRUNC) != 0, d->out[nout], ES_DNSMSG_UDP_SIZE);
        if (!len)
            continue;
        d->out_iov[nout] = (struct iovec){d->out[nout], len};
        d->out_msg[nout].msg_hdr = (struct msghdr){
            .msg_name = &d->peer[i],
            .msg_namelen = h->msg_namelen,
            .msg_iov = &d->out_iov[nout],
            .msg_iovlen = 1,
        };
        nout++;
    }
    /* UDP: what the socket buffer cannot take now is lost, as on any busy
     * server; an answer the kernel refuses for its own reason is skipped. */
    for (unsigned sent = 0; sent < nout;) {
        int s = sendmmsg(res->watch.fd, d->out_msg + sent, nout - sent, MSG_DONTWAIT);
        if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
            break;
        sent += s > 0 ? (unsigned)s : 1;
    }
    return n;
}

static void on_readable(struct es_loop *loop, struct es_watch *w, uint32_t events)
{
    (void)loop;
    (void)events;
    struct lab_resolver *res = w->arg;
    for (int done = 0; done < BUDGET;) {
        int n = serve_batch(res);
        if (n < BATCH)
            break;
        done += n;
    }
}

/* Opens, binds and registers the socket of resolver i. */
static bool open_resolver(struct es_lab_dns *d, size_t i, char *err, size_t errlen)
{
    const struct es_lab_resolver *spec = &d->spec->resolvers[i];
    struct lab_resolver *res = &d->resolvers[i];
    char addr[ES_ENDPOINT_TEXT];
    es_endpoint_str(&spec->addr, addr, sizeof addr);
    int fd = socket(spec->addr.ip.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s:%u: resolver %s: cannot open a UDP socket: %s", d->spec->path,
                 spec->line, spec->label, strerror(errno));
        return false;
    }
    int one = 1, rcvbuf = 4 << 20;
    if (spec->addr.ip.family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf); /* best effort */
    struct sockaddr_storage ss;
    socklen_t sslen = es_endpoint_sockaddr(&spec->addr, &ss);
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s:%u: resolver %s: cannot bind UDP %s: %s%s", d->spec->path,
                 spec->line, spec->label, addr, strerror(e),
                 e == EADDRINUSE ? " (is another lab or DNS server running there?)" : "");
        close(fd);
        return false;
    }
    res->spec = spec;
    res->dns = d;
    res->watch = (struct es_watch){.fd = fd, .fn = on_readable, .arg = res};
    int rc = es_loop_add(d->loop, &res->watch, EPOLLIN);
    if (rc < 0) {
        snprintf(err, errlen, "%s:%u: resolver %s: cannot watch the socket: %s", d->spec->path,
                 spec->line, spec->label, strerror(-rc));
        close(fd);
        res->watch.fd = -1;
        return false;
    }
    return true;
}

struct es_lab_dns *es_lab_dns_start(struct es_loop *loop, const struct es_labspec *spec, char *err,
                                    size_t errlen)
{
    struct es_lab_dns *d = es_xcalloc(1, sizeof *d);
    d->loop = loop;
    d->spec = spec;
    d->resolvers = es_xcalloc(spec->nresolvers, sizeof *d->resolvers);
    for (size_t i = 0; i < spec->nresolvers; i++)
        d->resolvers[i].watch.fd = -1;
    d->nresolvers = spec->nresolvers;
    for (size_t i = 0; i < spec->nresolvers; i++) {
        if (!open_resolver(d, i, err, errlen)) {
            es_lab_dns_free(d);
            return NULL;
        }
    }
    return d;
}

void es_lab_dns_free(struct es_lab_dns *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nresolvers; i++) {
        struct lab_resolver *res = &d->resolvers[i];
        if (res->watch.fd < 0)
            continue;
        es_loop_del(d->loop, &res->watch);
        close(res->watch.fd);
        res->watch.fd = -1;
    }
    free(d->resolvers);
    free(d);
}
