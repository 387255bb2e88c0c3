/* dns.c - see include/edgeshake/dns.h
 *
 * Objects:
 *   - struct chan: one per resolver: its c-ares channel, its sockets (a pool
 *     of struct sockw, never freed before es_dns_free so that an epoll event
 *     still queued for a socket c-ares just closed finds a live, inactive
 *     watch), one es_timer, and the bitmap of query ids in flight.
 *   - struct hostrec: one malloc per host given to es_dns_resolve, holding the
 *     name, one struct job per resolver and one struct query per (resolver,
 *     family). Freed when its last job has been reported.
 *   - per resolver, the FIFO of its queries not yet sent; at most
 *     max_inflight of each resolver's queries are in flight, whatever the
 *     other resolvers do (a silent resolver fills its own budget only).
 *
 * Query ids: ares_send in c-ares 1.18 sends the id found in the buffer, so we
 * choose it: random (getrandom), unique among the channel's queries in
 * flight (c-ares matches answers by id, then by question).
 *
 * Retries are ours: each channel has tries = 1 and a query that times out is
 * sent again (new id) up to opts.retries times, each try with the same
 * timeout (c-ares 1.18 doubles the timeout at each of its own tries, which
 * would make a dropped query cost 2^tries - 1 timeouts instead of tries).
 *
 * Reentrancy: c-ares calls back from inside ares_process_fd and sometimes
 * from inside ares_send (a send that fails at once). Queries are only ever
 * started by pump(), which does nothing when called from such a callback;
 * the callers of ares_* pump once they are back at the top. */
#include "edgeshake/dns.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>

#include "edgeshake/dnsmsg.h"
#include "edgeshake/net.h"
#include "edgeshake/util.h"

const char es_dns_nxdomain[] = "nxdomain";
const char es_dns_servfail[] = "servfail";
const char es_dns_refused[] = "dns_refused";
const char es_dns_timeout[] = "dns_timeout";
const char es_dns_no_address[] = "no_address";
const char es_dns_formerr[] = "dns_formerr";
const char es_dns_unreachable[] = "resolver_unreachable";
const char es_dns_error[] = "dns_error";

enum {
    PUMP_BURST = 256, /* queries started per pump() before the loop reads answers */
    MAX_ADDRS = 256,  /* addresses read from one answer */
    RCVBUF = 4 << 20, /* socket receive buffer asked for (the kernel may cap it) */
    QUERY_BUF = 512,  /* a query with an ECS option always fits (name <= 255) */
    RAND_BATCH = 256, /* query ids fetched per getrandom call */
};

struct es_dns;
struct hostrec;

/* One (host, resolver) pair. */
struct job {
    struct hostrec *h;
    size_t resolver;
    unsigned families_left;
    const char *error[2]; /* per family (0 = A, 1 = AAAA); NULL = got addresses */
    uint64_t t_first_ns, t_last_ns;
    struct es_ip *ips;
    size_t nips, capips;
};

/* One query: (host, resolver, family). */
struct query {
    struct job *job;
    struct query *next; /* FIFO link */
    unsigned tries_left;
    uint16_t qtype;
    uint16_t id;
    uint8_t fam; /* 0 = A, 1 = AAAA */
};

struct hostrec {
    struct es_dns *dns;
    struct hostrec *prev, *next; /* every live host, for es_dns_free */
    es_dns_cb cb;
    void *arg;
    size_t jobs_left;
    char *name;
    struct job *jobs;
    struct query *queries;
};

struct chan;

struct sockw {
    struct es_watch w; /* first: the loop hands back &w */
    struct chan *ch;
    uint32_t events;
    bool active;
    struct sockw *next;
};

struct chan {
    struct es_dns *dns;
    const struct es_resolver_spec *spec;
    ares_channel ares;
    bool ares_ok;
    struct es_timer timer;
    struct sockw *socks;
    struct query *head, *tail; /* not yet sent */
    size_t inflight;
    bool refused;    /* a query saw ECONNREFUSED: end the others in flight (after_ares) */
    bool cancelling; /* inside ares_cancel for that reason */
    uint8_t ids[65536 / 8];
};

struct es_dns {
    struct es_loop *loop;
    struct chan *chans;
    size_t nchans;
    unsigned timeout_ms, tries;
    unsigned family;
    size_t max_inflight;

    size_t inflight; /* all channels */
    struct es_timer pump_timer;
    int in_ares;  /* > 0 while inside ares_process_fd / ares_send */
    bool pumping; /* inside pump() */
    bool destroying;

    struct hostrec *hosts; /* live hosts */
    size_t pending;

    uint16_t rand[RAND_BATCH];
    size_t nrand;

    struct es_dns_stats st;
};

static int lib_users;

/* ---- query ids ---------------------------------------------------------- */

static uint16_t rand16(struct es_dns *dns)
{
    if (dns->nrand == 0) {
        size_t got = 0;
        while (got < sizeof dns->rand) {
            ssize_t r = getrandom((uint8_t *)dns->rand + got, sizeof dns->rand - got, 0);
            if (r < 0 && errno != EINTR)
                es_die(ES_EXIT_RUNTIME, "getrandom: %s", strerror(errno));
            if (r > 0)
                got += (size_t)r;
        }
        dns->nrand = RAND_BATCH;
    }
    return dns->rand[--dns->nrand];
}

static bool id_used(const struct chan *ch, uint16_t id)
{
    return ch->ids[id >> 3] & (1u << (id & 7));
}

/* A random id not in flight on ch. At most ES_DNS_INFLIGHT_LIMIT (< 65536 / 2)
 * are in flight, so each draw succeeds with probability > 1/2. */
static uint16_t id_take(struct chan *ch)
{
    uint16_t id;
    do
        id = rand16(ch->dns);
    while (id_used(ch, id));
    ch->ids[id >> 3] |= (uint8_t)(1u << (id & 7));
    return id;
}

static void id_release(struct chan *ch, uint16_t id)
{
    ch->ids[id >> 3] &= (uint8_t) ~(1u << (id & 7));
}

/* ---- timers ------------------------------------------------------------- */

static unsigned tv_ms_ceil(const struct timeval *tv)
{
    uint64_t ms = (uint64_t)tv->tv_sec * 1000 + ((uint64_t)tv->tv_usec + 999) / 1000;
    return ms < 1 ? 1 : ms > 60000 ? 60000 : (unsigned)ms;
}

/* Keeps ch's timer no later than c-ares' next timeout. exact: ask c-ares
 * (ares_timeout walks every query in 1.18, so only when the timer has fired
 * or is not armed). Otherwise only pull the timer in to now + one timeout,
 * the earliest deadline a query sent now can have; a timer that fires early
 * just asks c-ares again. */
static void timer_update(struct chan *ch, bool exact)
{
    struct es_dns *dns = ch->dns;
    if (ch->inflight == 0) {
        es_timer_cancel(dns->loop, &ch->timer);
        return;
    }
    uint64_t now = es_now_ms();
    if (exact || !es_timer_armed(&ch->timer)) {
        struct timeval tvbuf, *tv = ares_timeout(ch->ares, NULL, &tvbuf);
        uint64_t when = now + (tv ? tv_ms_ceil(tv) : dns->timeout_ms);
        es_timer_set(dns->loop, &ch->timer, when);
        return;
    }
    if (ch->timer.when_ms > now + dns->timeout_ms)
        es_timer_set(dns->loop, &ch->timer, now + dns->timeout_ms);
}

/* ---- results ------------------------------------------------------------ */

static int ip_cmp(const void *a, const void *b)
{
    const struct es_ip *x = a, *y = b;
    if (x->family != y->family)
        return x->family == AF_INET ? -1 : 1;
    return memcmp(x->bytes, y->bytes, 16);
}

/* The combination rule of dns.h for two failed families. */
static const char *worse_error(const char *a, const char *b)
{
    static const char *const order[] = {
        es_dns_unreachable, es_dns_timeout, es_dns_servfail, es_dns_refused,
        es_dns_formerr,     es_dns_error,   es_dns_nxdomain, es_dns_no_address,
    };
    if (!a)
        return b;
    if (!b)
        return a;
    for (size_t i = 0; i < ES_ARRAY_LEN(order); i++)
        if (a == order[i] || b == order[i])
            return order[i];
    return es_dns_error;
}

static void host_release(struct es_dns *dns, struct hostrec *h)
{
    if (--h->jobs_left)
        return;
    if (h->prev)
        h->prev->next = h->next;
    else
        dns->hosts = h->next;
    if (h->next)
        h->next->prev = h->prev;
    dns->pending--;
    free(h);
}

static void job_report(struct es_dns *dns, struct job *job)
{
    struct hostrec *h = job->h;
    const char *error = NULL;
    size_t n = 0;
    if (job->nips) {
        qsort(job->ips, job->nips, sizeof *job->ips, ip_cmp);
        for (size_t i = 0; i < job->nips; i++)
            if (n == 0 || !es_ip_equal(&job->ips[n - 1], &job->ips[i]))
                job->ips[n++] = job->ips[i];
    } else {
        for (unsigned f = 0; f < 2; f++)
            error = worse_error(error, job->error[f]);
        if (!error)
            error = es_dns_error;
    }
    double ms = (double)(job->t_last_ns - job->t_first_ns) / 1e6;
    dns->st.results++;
    h->cb(h->arg, h->name, job->resolver, job->ips, n, error, ms);
    free(job->ips);
    job->ips = NULL;
    host_release(dns, h);
}

static void job_add_ip(struct job *job, const struct es_ip *ip)
{
    job->ips = es_xgrow(job->ips, &job->capips, job->nips + 1, sizeof *job->ips);
    job->ips[job->nips++] = *ip;
}

/* The query q is over: error NULL = its addresses were added to the job. */
static void query_done(struct es_dns *dns, struct query *q, const char *error)
{
    struct job *job = q->job;
    job->t_last_ns = es_now_ns();
    job->error[q->fam] = error;
    if (--job->families_left == 0)
        job_report(dns, job);
}

/* Reads the addresses of a NOERROR answer into q's job. Returns NULL when
 * some were found, else the error token. */
static const char *read_addresses(struct query *q, const unsigned char *abuf, int alen)
{
    struct es_ip ip;
    int n = MAX_ADDRS, rc;
    memset(&ip, 0, sizeof ip);
    if (q->qtype == ns_t_a) {
        struct ares_addrttl at[MAX_ADDRS];
        rc = ares_parse_a_reply(abuf, alen, NULL, at, &n);
        if (rc == ARES_SUCCESS) {
            ip.family = AF_INET;
            for (int i = 0; i < n; i++) {
                ip.v4 = at[i].ipaddr;
                job_add_ip(q->job, &ip);
            }
        }
    } else {
        struct ares_addr6ttl at[MAX_ADDRS];
        rc = ares_parse_aaaa_reply(abuf, alen, NULL, at, &n);
        if (rc == ARES_SUCCESS) {
            ip.family = AF_INET6;
            for (int i = 0; i < n; i++) {
                memcpy(ip.bytes, &at[i].ip6addr, 16);
                job_add_ip(q->job, &ip);
            }
        }
    }
    if (rc == ARES_ENODATA || (rc == ARES_SUCCESS && n == 0))
        return es_dns_no_address;
    return rc == ARES_SUCCESS ? NULL : es_dns_error;
}

/* Maps an answer (or its absence) to NULL (addresses added) or a token. */
static const char *classify(struct query *q, int status, const unsigned char *abuf, int alen)
{
    switch (status) {
    case ARES_SUCCESS: break;
    case ARES_ETIMEOUT: return es_dns_timeout;
    case ARES_ECONNREFUSED: return es_dns_unreachable; /* ICMP unreachable on the UDP socket */
    case ARES_ESERVFAIL: return es_dns_servfail;
    case ARES_EREFUSED: return es_dns_refused;
    case ARES_ENOTFOUND: return es_dns_nxdomain;
    case ARES_EFORMERR: return es_dns_formerr;
    case ARES_ENODATA: return es_dns_no_address;
    default: return es_dns_error;
    }
    if (!abuf || alen < ES_DNSMSG_HEADER)
        return es_dns_error;
    switch (abuf[3] & 0xf) {
    case ES_RCODE_NOERROR: return read_addresses(q, abuf, alen);
    case ES_RCODE_FORMERR: return es_dns_formerr;
    case ES_RCODE_SERVFAIL: return es_dns_servfail;
    case ES_RCODE_NXDOMAIN: return es_dns_nxdomain;
    case ES_RCODE_REFUSED: return es_dns_refused;
    default: return es_dns_error;
    }
}

/* ---- sending ------------------------------------------------------------ */

static struct chan *chan_of(struct es_dns *dns, const struct query *q)
{
    return &dns->chans[q->job->resolver];
}

/* Queues q on its resolver's FIFO (front: a retry goes before new queries). */
static void fifo_push(struct es_dns *dns, struct query *q, bool front)
{
    struct chan *ch = chan_of(dns, q);
    q->next = NULL;
    if (!ch->head) {
        ch->head = ch->tail = q;
    } else if (front) {
        q->next = ch->head;
        ch->head = q;
    } else {
        ch->tail->next = q;
        ch->tail = q;
    }
}

/* ares_send's callback: one try of q is over. */
static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct query *q = arg;
    struct es_dns *dns = q->job->h->dns;
    struct chan *ch = chan_of(dns, q);
    id_release(ch, q->id);
    ch->inflight--;
    dns->inflight--;
    if (dns->destroying)
        return;
    if (status == ARES_ECONNREFUSED)
        ch->refused = true;
    const char *error = status == ARES_ECANCELLED && ch->cancelling
                            ? es_dns_unreachable
                            : classify(q, status, abuf, alen);
    if (error == es_dns_timeout && q->tries_left > 0) {
        /* Try again with a new id, before anything queued (pump sends it). */
        q->tries_left--;
        dns->st.retries++;
        fifo_push(dns, q, true);
        return;
    }
    if (error == es_dns_timeout)
        dns->st.timeouts++;
    query_done(dns, q, error);
}

/* The kernel reports a closed port (ICMP port unreachable) once per socket,
 * to whichever query reads or sends next; the queries sent before it on the
 * same socket will never be answered either. So when one query of a channel
 * ends with ECONNREFUSED, every other query in flight on that channel ends
 * too, as resolver_unreachable, instead of waiting for its deadline. Runs
 * outside c-ares callbacks only. */
static void after_ares(struct chan *ch)
{
    struct es_dns *dns = ch->dns;
    if (!ch->refused || dns->in_ares || dns->destroying)
        return;
    ch->refused = false;
    dns->in_ares++;
    ch->cancelling = true;
    ares_cancel(ch->ares);
    ch->cancelling = false;
    dns->in_ares--;
    timer_update(ch, true);
}

/* Sends one try of q on its resolver's channel. */
static void send_query(struct es_dns *dns, struct query *q)
{
    struct chan *ch = chan_of(dns, q);
    struct job *job = q->job;
    unsigned char *abuf = NULL;
    int alen = 0;
    q->id = id_take(ch);
    if (job->t_first_ns == 0)
        job->t_first_ns = es_now_ns();
    int rc = ares_create_query(job->h->name, ns_c_in, q->qtype, q->id, 1, &abuf, &alen, 0);
    uint8_t msg[QUERY_BUF];
    size_t len = (size_t)alen;
    if (rc != ARES_SUCCESS || len > sizeof msg) {
        /* Not a name c-ares can encode (a label over 63 bytes, ...). */
        if (abuf)
            ares_free_string(abuf);
        id_release(ch, q->id);
        query_done(dns, q, es_dns_error);
        return;
    }
    memcpy(msg, abuf, len);
    ares_free_string(abuf);
    if (ch->spec->has_ecs &&
        es_dnsmsg_add_ecs(msg, &len, sizeof msg, &ch->spec->ecs, ch->spec->ecs_prefix,
                          ES_DNSMSG_UDP_SIZE) != ES_DNSMSG_OK) {
        id_release(ch, q->id);
        query_done(dns, q, es_dns_error);
        return;
    }
    ch->inflight++;
    dns->inflight++;
    dns->st.queries++;
    if (dns->inflight > dns->st.max_inflight_seen)
        dns->st.max_inflight_seen = dns->inflight;
    dns->in_ares++;
    ares_send(ch->ares, msg, (int)len, on_answer, q);
    dns->in_ares--;
    after_ares(ch);
    timer_update(ch, false);
}

static bool chan_can_send(const struct es_dns *dns, const struct chan *ch)
{
    return ch->head && ch->inflight < dns->max_inflight;
}

/* Starts queued queries of every resolver while its own cap allows, at most
 * PUMP_BURST per resolver at a time; when more could start, comes back from
 * the loop a millisecond later so that answers are read in between. No-op
 * from inside a c-ares callback. */
static void pump(struct es_dns *dns)
{
    if (dns->pumping || dns->in_ares || dns->destroying)
        return;
    dns->pumping = true;
    bool more = false;
    for (size_t c = 0; c < dns->nchans; c++) {
        struct chan *ch = &dns->chans[c];
        for (unsigned n = 0; n < PUMP_BURST && chan_can_send(dns, ch); n++) {
            struct query *q = ch->head;
            ch->head = q->next;
            if (!ch->head)
                ch->tail = NULL;
            send_query(dns, q);
        }
        more |= chan_can_send(dns, ch);
    }
    dns->pumping = false;
    if (more)
        es_timer_set(dns->loop, &dns->pump_timer, es_now_ms() + 1);
}

static void on_pump_timer(struct es_loop *loop, struct es_timer *t)
{
    (void)loop;
    pump(t->arg);
}

/* ---- c-ares in the loop ------------------------------------------------- */

static void process(struct chan *ch, ares_socket_t rfd, ares_socket_t wfd)
{
    struct es_dns *dns = ch->dns;
    dns->in_ares++;
    ares_process_fd(ch->ares, rfd, wfd);
    dns->in_ares--;
    after_ares(ch);
}

static void on_socket(struct es_loop *loop, struct es_watch *w, uint32_t events)
{
    (void)loop;
    struct sockw *s = (struct sockw *)w;
    if (!s->active)
        return; /* an event queued before c-ares closed this socket */
    struct chan *ch = s->ch;
    ares_socket_t fd = s->w.fd;
    bool err = events & (EPOLLERR | EPOLLHUP);
    process(ch, (events & EPOLLIN) || err ? fd : ARES_SOCKET_BAD,
            (events & EPOLLOUT) || err ? fd : ARES_SOCKET_BAD);
    timer_update(ch, false);
    pump(ch->dns);
}

static void on_chan_timer(struct es_loop *loop, struct es_timer *t)
{
    (void)loop;
    struct chan *ch = t->arg;
    process(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    timer_update(ch, true);
    pump(ch->dns);
}

/* ARES_OPT_SOCK_STATE_CB: c-ares wants (or no longer wants) events on fd. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct chan *ch = data;
    struct es_loop *loop = ch->dns->loop;
    struct sockw *s, *spare = NULL;
    for (s = ch->socks; s; s = s->next) {
        if (s->active && s->w.fd == fd)
            break;
        if (!s->active && !spare)
            spare = s;
    }
    uint32_t events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u);
    if (!events) {
        if (s) {
            es_loop_del(loop, &s->w);
            s->active = false;
            s->w.fd = -1;
        }
        return;
    }
    int rc;
    if (s) {
        if (s->events == events)
            return;
        s->events = events;
        rc = es_loop_mod(loop, &s->w, events);
    } else {
        if (!spare) {
            spare = es_xcalloc(1, sizeof *spare);
            spare->ch = ch;
            spare->next = ch->socks;
            ch->socks = spare;
        }
        s = spare;
        s->w.fd = fd;
        s->w.fn = on_socket;
        s->w.arg = s;
        s->events = events;
        s->active = true;
        rc = es_loop_add(loop, &s->w, events);
    }
    if (rc < 0)
        es_warn("DNS resolver %s: cannot watch socket %d: %s", ch->spec->label, fd, strerror(-rc));
}

/* ---- public ------------------------------------------------------------- */

static bool chan_init(struct chan *ch, unsigned timeout_ms, char *err, size_t errlen)
{
    const struct es_resolver_spec *r = ch->spec;
    struct ares_options o;
    memset(&o, 0, sizeof o);
    /* No search list, no HOSTALIASES; sockets stay open between bursts.
     * NOCHECKRESP: a SERVFAIL or REFUSED answer comes to on_answer as it is
     * (c-ares 1.18 would otherwise skip the server and end the query with a
     * status that no longer says which RCODE it was). */
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_STAYOPEN | ARES_FLAG_NOCHECKRESP;
    o.timeout = (int)timeout_ms;
    o.tries = 1; /* retries are ours: see the top of this file */
    o.socket_receive_buffer_size = RCVBUF;
    o.lookups = (char *)"b"; /* DNS only, never /etc/hosts (ares_send does not read it anyway) */
    o.sock_state_cb = on_sock_state;
    o.sock_state_cb_data = ch;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_RCVBUF |
               ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_NOROTATE;
    int rc = ares_init_options(&ch->ares, &o, mask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "resolver %s: cannot start c-ares: %s", r->label, ares_strerror(rc));
        return false;
    }
    ch->ares_ok = true;
    if (r->system)
        return true;
    struct ares_addr_port_node node;
    memset(&node, 0, sizeof node);
    node.family = r->addr.ip.family;
    if (node.family == AF_INET)
        node.addr.addr4 = r->addr.ip.v4;
    else
        memcpy(&node.addr.addr6, r->addr.ip.bytes, 16);
    node.udp_port = node.tcp_port = r->addr.port;
    rc = ares_set_servers_ports(ch->ares, &node);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "resolver %s: cannot set its address: %s", r->label,
                 ares_strerror(rc));
        return false;
    }
    return true;
}

struct es_dns *es_dns_new(struct es_loop *loop, const struct es_resolver_spec *r, size_t n,
                          const struct es_dns_opts *o, char *err, size_t errlen)
{
    if (lib_users++ == 0) {
        int rc = ares_library_init(ARES_LIB_INIT_ALL);
        if (rc != ARES_SUCCESS) {
            lib_users--;
            snprintf(err, errlen, "cannot start c-ares: %s", ares_strerror(rc));
            return NULL;
        }
    }
    struct es_dns *dns = es_xcalloc(1, sizeof *dns);
    dns->loop = loop;
    dns->timeout_ms = o && o->timeout_ms ? o->timeout_ms : ES_DNS_TIMEOUT_MS;
    dns->tries = (o ? o->retries : 0) + 1;
    dns->family = o && o->family ? o->family & ES_DNS_FAMILY_BOTH : ES_DNS_FAMILY_4;
    if (!dns->family)
        dns->family = ES_DNS_FAMILY_4;
    dns->max_inflight = o && o->max_inflight ? o->max_inflight : ES_DNS_MAX_INFLIGHT;
    if (dns->max_inflight > ES_DNS_INFLIGHT_LIMIT)
        dns->max_inflight = ES_DNS_INFLIGHT_LIMIT;
    dns->st.max_inflight = dns->max_inflight;
    dns->pump_timer.fn = on_pump_timer;
    dns->pump_timer.arg = dns;
    dns->nchans = n;
    dns->chans = es_xcalloc(n ? n : 1, sizeof *dns->chans);
    for (size_t i = 0; i < n; i++) {
        struct chan *ch = &dns->chans[i];
        ch->dns = dns;
        ch->spec = &r[i];
        ch->timer.fn = on_chan_timer;
        ch->timer.arg = ch;
        if (!chan_init(ch, dns->timeout_ms, err, errlen)) {
            es_dns_free(dns);
            return NULL;
        }
    }
    return dns;
}

void es_dns_resolve(struct es_dns *dns, const char *host, es_dns_cb cb, void *arg)
{
    size_t nfam = dns->family == ES_DNS_FAMILY_BOTH ? 2 : 1;
    size_t njobs = dns->nchans, nq = njobs * nfam, namelen = strlen(host) + 1;
    /* One block: hostrec, jobs, queries, name (each part 8-byte aligned). */
    size_t off_jobs = (sizeof(struct hostrec) + 7) & ~(size_t)7;
    size_t off_q = off_jobs + njobs * sizeof(struct job);
    size_t off_name = off_q + nq * sizeof(struct query);
    struct hostrec *h = es_xcalloc(1, off_name + namelen);
    h->dns = dns;
    h->cb = cb;
    h->arg = arg;
    h->jobs = (struct job *)((char *)h + off_jobs);
    h->queries = (struct query *)((char *)h + off_q);
    h->name = (char *)h + off_name;
    memcpy(h->name, host, namelen);
    h->jobs_left = njobs;
    h->next = dns->hosts;
    if (h->next)
        h->next->prev = h;
    dns->hosts = h;
    dns->pending++;
    dns->st.hosts++;
    if (njobs == 0) { /* nothing to ask: done at once, without a callback */
        h->jobs_left = 1;
        host_release(dns, h);
        return;
    }
    for (size_t j = 0; j < njobs; j++) {
        struct job *job = &h->jobs[j];
        job->h = h;
        job->resolver = j;
        job->families_left = (unsigned)nfam;
        for (size_t f = 0; f < nfam; f++) {
            struct query *q = &h->queries[j * nfam + f];
            q->job = job;
            q->tries_left = dns->tries - 1;
            q->fam = (uint8_t)(dns->family == ES_DNS_FAMILY_6 ? 1 : f);
            q->qtype = q->fam ? ns_t_aaaa : ns_t_a;
            fifo_push(dns, q, false);
        }
    }
    pump(dns);
}

size_t es_dns_pending(const struct es_dns *dns)
{
    return dns->pending;
}

int es_dns_run_once(struct es_dns *dns, int max_wait_ms)
{
    pump(dns);
    return es_loop_run_once(dns->loop, max_wait_ms);
}

int es_dns_run(struct es_dns *dns, volatile sig_atomic_t *stop)
{
    while (dns->pending && !(stop && *stop)) {
        int rc = es_dns_run_once(dns, 1000);
        if (rc < 0)
            return rc;
    }
    return 0;
}

const char *es_dns_resolver_addr(const struct es_dns *dns, size_t r, char *buf, size_t len)
{
    const struct chan *ch = &dns->chans[r];
    if (len)
        buf[0] = '\0';
    if (!ch->spec->system)
        return es_endpoint_str(&ch->spec->addr, buf, len);
    struct ares_addr_port_node *servers = NULL;
    if (!ch->ares_ok || ares_get_servers_ports(ch->ares, &servers) != ARES_SUCCESS)
        return buf;
    size_t used = 0;
    for (const struct ares_addr_port_node *n = servers; n; n = n->next) {
        struct es_endpoint ep = {.port = n->udp_port ? (uint16_t)n->udp_port : 53};
        ep.ip.family = n->family;
        if (n->family == AF_INET)
            ep.ip.v4 = n->addr.addr4;
        else if (n->family == AF_INET6)
            memcpy(ep.ip.bytes, &n->addr.addr6, 16);
        else
            continue;
        char one[ES_ENDPOINT_TEXT];
        es_endpoint_str(&ep, one, sizeof one);
        size_t need = strlen(one) + (used ? 1 : 0);
        if (used + need + 1 > len)
            break;
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ";" : "", one);
    }
    ares_free_data(servers);
    return buf;
}

void es_dns_stats(const struct es_dns *dns, struct es_dns_stats *st)
{
    *st = dns->st;
    st->inflight = dns->inflight;
}

void es_dns_free(struct es_dns *dns)
{
    if (!dns)
        return;
    dns->destroying = true;
    for (size_t i = 0; i < dns->nchans; i++) {
        struct chan *ch = &dns->chans[i];
        if (ch->ares_ok)
            ares_destroy(
                ch->ares); /* on_answer ignores ARES_EDESTRUCTION; sockets leave the loop */
        es_timer_cancel(dns->loop, &ch->timer);
        while (ch->socks) {
            struct sockw *s = ch->socks;
            ch->socks = s->next;
            if (s->active)
                es_loop_del(dns->loop, &s->w);
            free(s);
        }
    }
    es_timer_cancel(dns->loop, &dns->pump_timer);
    while (dns->hosts) {
        struct hostrec *h = dns->hosts;
        dns->hosts = h->next;
        for (size_t j = 0; j < dns->nchans; j++)
            free(h->jobs[j].ips);
        free(h);
    }
    free(dns->chans);
    free(dns);
    if (--lib_users == 0)
        ares_library_cleanup();
}
