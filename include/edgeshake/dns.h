/* dns.h - every host through every resolver, with c-ares driven from our loop.
 *
 * One c-ares channel per resolver (resolver.h). A host given to
 * es_dns_resolve is queried through EVERY resolver, for every family asked
 * (A and/or AAAA); the result of each (host, resolver) pair is reported once,
 * when all its families are done. c-ares runs inside the es_loop of the
 * caller: its sockets are es_watches registered from the socket-state
 * callback, ares_process_fd runs on readiness, and one es_timer per channel
 * is armed from ares_timeout. No thread, no getaddrinfo, no /etc/hosts.
 *
 * Every query is built with ares_create_query and sent with ares_send (the
 * paths that never read hosts files or search lists). A resolver with an ECS
 * subnet gets one OPT record carrying the Client Subnet option (RFC 7871,
 * dnsmsg.h); the others get plain queries without EDNS. The channel's EDNS
 * flag is never set, so a FORMERR answer can never make c-ares turn EDNS off
 * for the channel: it is reported as es_dns_formerr for that query. (Without
 * that flag c-ares 1.18 takes any UDP answer over 512 bytes as truncated and
 * asks again over TCP, ECS or not: slower, never wrong.)
 *
 * Every answer counts as it is: SERVFAIL and REFUSED are results, not
 * reasons to try again (ARES_FLAG_NOCHECKRESP). Only a timeout is retried:
 * opts.retries more times, each try waiting opts.timeout_ms, so a resolver
 * that never answers costs timeout_ms * (retries + 1) per query (times the
 * number of servers for `system` with several nameservers, tried in order).
 * A closed port (ICMP port unreachable: ECONNREFUSED on c-ares' connected
 * UDP socket) ends every query in flight on that resolver's socket with
 * resolver_unreachable, at once, without retries. (c-ares reports a socket
 * it cannot open, e.g. out of file descriptors, the same way.)
 *
 * Isolation: each resolver has its own FIFO and its own in-flight budget of
 * opts.max_inflight queries; a resolver that never answers fills only its own
 * budget and delays only the hosts waiting for its answers.
 *
 * Not thread-safe: one es_dns per thread, used from its loop's thread; create
 * and free them from one thread (c-ares' library init is counted here). */
#ifndef EDGESHAKE_DNS_H
#define EDGESHAKE_DNS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/loop.h"
#include "edgeshake/net-t.h"
#include "edgeshake/resolver.h"

/* Error tokens of DESIGN §3.2, interned: compare by pointer, print as text. */
extern const char es_dns_nxdomain[];   /* "nxdomain": RCODE NXDOMAIN */
extern const char es_dns_servfail[];   /* "servfail": RCODE SERVFAIL */
extern const char es_dns_refused[];    /* "dns_refused": RCODE REFUSED */
extern const char es_dns_timeout[];    /* "dns_timeout": no answer after every try */
extern const char es_dns_no_address[]; /* "no_address": NOERROR, no address of the families asked */
extern const char es_dns_formerr[];    /* "dns_formerr": RCODE FORMERR (e.g. to EDNS / ECS) */
extern const char es_dns_unreachable[]; /* "resolver_unreachable": ICMP unreachable /
                                           connection refused */
extern const char es_dns_error[];      /* "dns_error": anything else (bad answer, other
                                          RCODE, name c-ares cannot encode) */

/* Address families to resolve (a bit set). */
enum {
    ES_DNS_FAMILY_4 = 1u,    /* A */
    ES_DNS_FAMILY_6 = 2u,    /* AAAA */
    ES_DNS_FAMILY_BOTH = 3u, /* A and AAAA */
};

#define ES_DNS_TIMEOUT_MS     2000 /* defaults for zero fields of es_dns_opts */
#define ES_DNS_MAX_INFLIGHT   2000
#define ES_DNS_INFLIGHT_LIMIT 30000 /* max_inflight is capped here (16-bit query ids per channel) */

struct es_dns_opts {
    unsigned timeout_ms; /* per try; 0 = ES_DNS_TIMEOUT_MS */
    unsigned retries;    /* tries per query = retries + 1 */
    unsigned family;     /* ES_DNS_FAMILY_*; 0 = ES_DNS_FAMILY_4 */
    size_t max_inflight; /* queries in flight per resolver; 0 = ES_DNS_MAX_INFLIGHT */
};

/* The result of one (host, resolver):
 *   ips[0..n): the addresses, IPv4 before IPv6, each sorted by bytes and
 *     without duplicates; borrowed, valid during the call only;
 *   error: NULL on success (n >= 1), else one of the tokens above (n == 0);
 *   dns_ms: from the start of the first query of the pair (when it was sent,
 *     not when it was queued) to its last answer or timeout.
 * With ES_DNS_FAMILY_BOTH the two answers combine as follows:
 *   - success when either family returned an address (the other family's
 *     failure is dropped: the host is reachable through this resolver);
 *   - otherwise the same token when both agree;
 *   - otherwise a failure of the resolver beats an answer about the name, so
 *     that a broken resolver is never reported as a missing name; in order:
 *     resolver_unreachable, dns_timeout, servfail, dns_refused, dns_formerr,
 *     dns_error, nxdomain, no_address.
 * host is dns's copy of the name given to es_dns_resolve (valid during the
 * call). resolver indexes the array given to es_dns_new. The callback may call
 * es_dns_resolve; it must not call es_dns_free. */
typedef void (*es_dns_cb)(void *arg, const char *host, size_t resolver, const struct es_ip *ips,
                          size_t n, const char *error, double dns_ms);

struct es_dns;

/* Creates one c-ares channel per resolver r[0..n) (r must outlive the
 * result; labels are not copied), attached to loop. Returns NULL with a
 * one-line message in err when c-ares cannot be initialised (bad
 * resolv.conf, out of file descriptors). Free with es_dns_free. */
struct es_dns *es_dns_new(struct es_loop *loop, const struct es_resolver_spec *r, size_t n,
                          const struct es_dns_opts *o, char *err, size_t errlen);

/* Queues host for every resolver and every family asked; host is copied.
 * Queries start as soon as the in-flight cap allows (perhaps before this
 * returns); cb(arg, ...) is called once per resolver, from the loop. */
void es_dns_resolve(struct es_dns *dns, const char *host, es_dns_cb cb, void *arg);

/* Hosts queued or in flight whose results are not all reported yet. A caller
 * streaming millions of names keeps this bounded by running the loop
 * (es_dns_run_once) before queueing more. */
size_t es_dns_pending(const struct es_dns *dns);

/* Runs the loop once (waiting at most max_wait_ms, -1 = until something
 * happens) and starts queued queries. Returns what es_loop_run_once returns. */
int es_dns_run_once(struct es_dns *dns, int max_wait_ms);

/* Runs the loop until every queued host is reported, or *stop (may be NULL)
 * becomes non-zero. Returns 0, or -errno from the loop. */
int es_dns_run(struct es_dns *dns, volatile sig_atomic_t *stop);

/* The address(es) resolver r is asked at, as ADDR:PORT (';'-joined for
 * `system` with several nameservers), written into buf[len] and returned. */
const char *es_dns_resolver_addr(const struct es_dns *dns, size_t r, char *buf, size_t len);

struct es_dns_stats {
    uint64_t hosts;           /* given to es_dns_resolve */
    uint64_t results;         /* (host, resolver) results reported */
    uint64_t queries;         /* tries sent (host x resolver x family, plus retries) */
    uint64_t retries;         /* tries sent again after a timeout */
    uint64_t timeouts;        /* queries that ended in dns_timeout (after every try) */
    size_t inflight;          /* now, all resolvers */
    size_t max_inflight_seen; /* highest in flight at any moment, all resolvers */
    size_t max_inflight;      /* the cap, per resolver */
};
void es_dns_stats(const struct es_dns *dns, struct es_dns_stats *st);

/* Cancels what is still queued or in flight (no callbacks are made for it),
 * closes every socket, and frees dns. NULL is harmless. */
void es_dns_free(struct es_dns *dns);

#endif
