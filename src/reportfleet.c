/* reportfleet.c - fleet findings; see include/edgeshake/reportfleet.h and
 * docs/findings.md "Fleet findings".
 *
 * Every host finding becomes evidence entries (what it blames, which host),
 * sorted so that the entries of one node / certificate / variant / resolver
 * and failure form a run. A run with two hosts or more is a fleet finding;
 * a host finding whose every entry sits in such a run is folded. */
#include "edgeshake/reportfleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/reporthost.h"
#include "edgeshake/reportrules.h"
#include "edgeshake/util.h"

enum grp {
    G_EDGE,    /* an edge IP fails the handshake: node, region, down */
    G_H2,      /* an edge IP fails the HTTP/2 check */
    G_FLAKY,   /* an edge IP both passes and fails */
    G_CERT,    /* a certificate fails verification */
    G_VARIANT, /* a variant fails on every edge */
    G_DNS,     /* a resolver fails */
    G_CERTIP,  /* an edge IP serves certificates that fail verification (one per host) */
    G_KIND,    /* an edge IP and a hello, http, clock, expiry or weak problem */
};

struct ev {
    uint64_t a;          /* ip id, certificate (xxh3), resolver index; 0 for variants */
    const char *what;    /* the failure; variant: the variant list; dns: the token */
    const char *failure; /* variant: the failure; else "" */
    uint32_t host;       /* host index */
    uint32_t fi;         /* index of the host finding */
    uint32_t ip;         /* ip id (edges and certificates) */
    uint8_t grp;
    bool evidence;   /* counts toward "two hosts or more" (`down` does not) */
    bool fleet;      /* its run became a fleet finding */
    bool superseded; /* a cert entry regrouped by edge (G_CERTIP) */
};

struct evs {
    struct ev *v;
    size_t n, cap;
};

static void push(struct evs *e, struct ev x)
{
    e->v = es_xgrow(e->v, &e->cap, e->n + 1, sizeof *e->v);
    e->v[e->n++] = x;
}

static int key_cmp(const struct ev *x, const struct ev *y)
{
    if (x->grp != y->grp)
        return x->grp < y->grp ? -1 : 1;
    if (x->a != y->a)
        return x->a < y->a ? -1 : 1;
    int c = strcmp(x->what, y->what);
    return c ? c : strcmp(x->failure, y->failure);
}

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    int c = key_cmp(x, y);
    if (c)
        return c;
    if (x->host != y->host)
        return x->host < y->host ? -1 : 1;
    return x->fi < y->fi ? -1 : x->fi > y->fi;
}

/* ---- evidence ---- */

/* Whether a dns error token is about the resolver (it fails whatever the
 * name) rather than about one name: nxdomain, servfail and no_address are
 * answers about a name, and stay host findings, one per name. */
static bool about_resolver(const char *token)
{
    static const char *const per_name[] = {"nxdomain", "servfail", "no_address"};
    for (size_t i = 0; i < ES_ARRAY_LEN(per_name); i++)
        if (!strcmp(token, per_name[i]))
            return false;
    return true;
}

static void collect(const struct rt_report *r, const struct es_findings *fs, struct evs *e)
{
    for (size_t i = 0; i < fs->n; i++) {
        const struct es_finding *f = &fs->v[i];
        if (f->fleet || !f->_host)
            continue;
        uint32_t h = f->_host - 1;
        struct ev x = {.failure = "", .host = h, .fi = (uint32_t)i, .evidence = true};
        switch (f->kind) {
        case ES_FINDING_DOWN:
        case ES_FINDING_NODE:
        case ES_FINDING_REGION:
        case ES_FINDING_H2:
        case ES_FINDING_INTERMITTENT:
            x.grp = f->kind == ES_FINDING_H2             ? G_H2
                    : f->kind == ES_FINDING_INTERMITTENT ? G_FLAKY
                                                         : G_EDGE;
            x.what = f->failure;
            x.evidence = f->kind != ES_FINDING_DOWN;
            for (size_t k = 0; k < f->_nips; k++) {
                x.a = x.ip = f->_ips[k];
                push(e, x);
            }
            if (f->kind == ES_FINDING_DOWN && !f->_nips)
                goto dns; /* no resolver returned an address */
            break;
        case ES_FINDING_CERT:
            if (strncmp(f->failure, "verify ", 7))
                break; /* different certificates: a matter of the host's edges */
            x.grp = G_CERT;
            x.what = f->failure;
            for (size_t k = 0; k < f->_nips; k++) {
                int64_t hi = rt_hi_find(r, h, f->_ips[k]);
                uint64_t sha = hi >= 0 ? r->his[hi].sha : 0;
                x.ip = f->_ips[k];
                x.a = sha ? sha : x.ip; /* no certificate seen: per edge */
                push(e, x);
            }
            break;
        case ES_FINDING_HELLO:
        case ES_FINDING_HTTP:
        case ES_FINDING_CLOCK:
        case ES_FINDING_EXPIRY:
        case ES_FINDING_WEAK:
            /* by edge, kind and failure; clock and expiry without their
             * numbers (an edge's skew and days left read a little
             * differently from one host to the next) */
            x.grp = G_KIND;
            x.failure = es_finding_kind_name(f->kind);
            x.what = f->kind == ES_FINDING_EXPIRY  ? "expires"
                     : f->kind != ES_FINDING_CLOCK ? f->failure
                     : strstr(f->failure, "ahead") ? "clock ahead"
                                                   : "clock behind";
            for (size_t k = 0; k < f->_nips; k++) {
                x.a = x.ip = f->_ips[k];
                push(e, x);
            }
            break;
        case ES_FINDING_VARIANT:
            x.grp = G_VARIANT;
            x.what = f->variant;
            x.failure = f->failure;
            push(e, x);
            break;
        case ES_FINDING_DNS:
        dns:
            x.grp = G_DNS;
            x.evidence = f->kind == ES_FINDING_DNS;
            for (unsigned b = 0; b < r->nresolvers; b++)
                if (f->_resolvers >> b & 1) {
                    x.a = b;
                    x.what = rt_token(r, rt_dns_token(r, h, b));
                    if (about_resolver(x.what))
                        push(e, x);
                }
            break;
        default: break;
        }
    }
}

/* ---- shared helpers ---- */

/* Failures that chance and load produce as well as broken nodes. */
static bool transient(const char *failure)
{
    static const char *const t[] = {"handshake_timeout", "connect_timeout", "connection_reset",
                                    "eof_during_handshake", "timeout"};
    for (size_t i = 0; i < ES_ARRAY_LEN(t); i++)
        if (!strcmp(failure, t[i]))
            return true;
    return false;
}

/* "1,234,567" */
static const char *num(char *buf, size_t len, uint64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct hosts of run[0..n) (sorted by host index within the run). */
static size_t distinct_hosts(const struct ev *run, size_t n, bool evidence_only)
{
    size_t c = 0;
    uint32_t last = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        if (evidence_only && !run[i].evidence)
            continue;
        if (run[i].host != last)
            c++;
        last = run[i].host;
    }
    return c;
}

/* Up to five failing hosts by name, ';'-joined; *first is the first one
 * with evidence (the repro's host). */
static char *samples(const struct rt_report *r, const struct ev *run, size_t n, uint32_t *first)
{
    const char **names = es_xcalloc(n, sizeof *names);
    size_t k = 0;
    uint32_t last = UINT32_MAX;
    for (size_t i = 0; i < n; i++)
        if (run[i].host != last) {
            names[k++] = r->hosts[run[i].host].name;
            last = run[i].host;
        }
    qsort(names, k, sizeof *names, name_cmp);
    struct es_sb b = {0};
    for (size_t i = 0; i < k && i < 5; i++)
        es_sb_printf(&b, "%s%s", i ? ";" : "", names[i]);
    /* the repro's host: the smallest name among hosts with evidence */
    const char *best = NULL;
    *first = run[0].host;
    for (size_t i = 0; i < n; i++)
        if (run[i].evidence && (!best || strcmp(r->hosts[run[i].host].name, best) < 0)) {
            best = r->hosts[run[i].host].name;
            *first = run[i].host;
        }
    free(names);
    return es_sb_take(&b);
}

/* The common port of the run's hosts, 0 when they differ. */
static int common_port(const struct rt_report *r, const struct ev *run, size_t n)
{
    int port = r->hosts[run[0].host].port;
    for (size_t i = 1; i < n; i++)
        if (r->hosts[run[i].host].port != port)
            return 0;
    return port;
}

/* The variants the run's host findings name ("" in a host finding = every
 * variant of that host): "" when that is every variant in the files, else
 * the ';'-joined names. Malloc'd. */
static char *union_variants(const struct rt_report *r, const struct es_findings *fs,
                            const struct ev *run, size_t n)
{
    size_t nv = r->variant_names.n;
    uint8_t *seen = es_xcalloc(nv + 1, 1);
    for (size_t i = 0; i < n; i++) {
        const struct es_finding *f = &fs->v[run[i].fi];
        if (!*f->variant) {
            for (uint32_t v = r->hosts[run[i].host].first_hv; v; v = r->hvs[v - 1].next)
                seen[r->hvs[v - 1].variant] = 1;
            continue;
        }
        for (const char *p = f->variant; *p;) {
            size_t len = strcspn(p, ";");
            for (size_t id = 1; id <= nv; id++)
                if (r->variant_names.v[id - 1].len == len &&
                    !memcmp(r->variant_names.v[id - 1].s, p, len))
                    seen[id] = 1;
            p += len + (p[len] == ';');
        }
    }
    size_t count = 0;
    const char **names = es_xcalloc(nv + 1, sizeof *names);
    for (size_t id = 1; id <= nv; id++)
        if (seen[id])
            names[count++] = r->variant_names.v[id - 1].s;
    struct es_sb b = {0};
    if (count < nv) {
        qsort(names, count, sizeof *names, name_cmp);
        for (size_t i = 0; i < count; i++)
            es_sb_printf(&b, "%s%s", i ? ";" : "", names[i]);
    }
    free(names);
    free(seen);
    return es_sb_take(&b);
}

/* The hiv of host h on ip id that shows the run's failure (smallest variant
 * name); -1 when none. */
static int64_t find_hiv(const struct rt_report *r, uint32_t h, uint32_t ip, enum grp g,
                        const char *failure)
{
    int64_t hi = rt_hi_find(r, h, ip), best = -1;
    if (hi < 0)
        return -1;
    for (uint32_t v = r->hosts[h].first_hv; v; v = r->hvs[v - 1].next)
        for (uint32_t k = r->hvs[v - 1].first_hiv; k; k = r->hivs[k - 1].next) {
            const struct rt_hiv *x = &r->hivs[k - 1];
            if (x->hi != (uint32_t)hi)
                continue;
            bool match = g == G_H2 ? x->h2fail != 0 : x->fail && !strcmp(rt_hiv_sig(r, x), failure);
            if (match &&
                (best < 0 || strcmp(rt_variant(r, r->hvs[v - 1].variant)->name,
                                    rt_variant(r, r->hvs[r->hivs[best].hv].variant)->name) < 0))
                best = k - 1;
        }
    return best;
}

/* ---- one fleet finding per kind of group ---- */

struct ctx {
    const struct rt_report *r;
    const struct es_findings *fs;
    uint32_t *ip_hosts; /* hosts each ip serves */
    uint64_t *ip_att;   /* attempts on each ip */
    uint64_t *ip_h2;    /* h2 checks on each ip */
    uint32_t *stamp;    /* per host, for distinct counts */
    uint32_t stamp_now;
};

static void edge_finding(struct ctx *c, const struct ev *run, size_t n, struct es_finding *f)
{
    const struct rt_report *r = c->r;
    uint32_t ip = run[0].ip;
    enum grp g = run[0].grp;
    uint32_t sample;
    f->sample_hosts = samples(r, run, n, &sample);
    /* Per resolver: failing hosts that reach the edge through it, and those
     * for which it is the only edge that resolver returns. */
    uint64_t reach[64] = {0}, only[64] = {0}, res = 0, failed = 0;
    uint32_t last = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = run[i].host;
        if (h == last)
            continue;
        last = h;
        int64_t hi = rt_hi_find(r, h, ip);
        if (hi < 0)
            continue;
        uint64_t m = r->his[hi].resolvers;
        res |= m;
        for (unsigned b = 0; b < r->nresolvers; b++) {
            if (!(m >> b & 1))
                continue;
            reach[b]++;
            unsigned edges = 0;
            for (uint32_t j = r->hosts[h].first_hi; j; j = r->his[j - 1].next)
                edges += (unsigned)(r->his[j - 1].resolvers >> b & 1);
            only[b] += edges == 1;
        }
        for (uint32_t v = r->hosts[h].first_hv; v; v = r->hvs[v - 1].next)
            for (uint32_t k = r->hvs[v - 1].first_hiv; k; k = r->hivs[k - 1].next) {
                const struct rt_hiv *x = &r->hivs[k - 1];
                if (x->hi != (uint32_t)hi)
                    continue;
                if (g == G_H2)
                    failed += x->h2fail;
                else if (g == G_FLAKY || !strcmp(rt_hiv_sig(r, x), run[0].what))
                    failed += x->fail;
            }
    }
    bool region = false;
    for (unsigned b = 0; b < r->nresolvers; b++)
        region |= only[b] > 0;
    f->kind = g == G_H2      ? ES_FINDING_H2
              : g == G_FLAKY ? ES_FINDING_INTERMITTENT
              : region       ? ES_FINDING_REGION
                             : ES_FINDING_NODE;
    /* A transient failure (a timeout, a reset) on some of the hosts an edge
     * serves, while the others pass there: the node is flaky or overloaded
     * (or the scanner was), not misconfigured. */
    bool flaky = g == G_EDGE && transient(run[0].what) && f->hosts_failing < c->ip_hosts[ip];
    if (flaky)
        f->kind = ES_FINDING_INTERMITTENT;
    f->failing_ips = es_xstrdup(rt_ip(r, ip));
    f->_ips = es_xmalloc(sizeof *f->_ips);
    f->_ips[0] = ip;
    f->_nips = 1;
    f->failing_resolvers = rt_join_resolvers(r, res);
    f->failed = failed;
    f->attempts = g == G_H2 ? c->ip_h2[ip] : c->ip_att[ip];
    f->hosts_total = c->ip_hosts[ip];
    /* explain: the region part, then the rule for one failing probe */
    struct es_sb b = {0};
    char n1[32], n2[32];
    const char *labels[64];
    size_t nl = 0;
    for (unsigned k = 0; k < r->nresolvers; k++)
        if (reach[k])
            labels[nl++] = r->resolvers[k];
    qsort(labels, nl, sizeof *labels, name_cmp);
    for (size_t i = 0; i < nl; i++) {
        unsigned k = 0;
        while (r->resolvers[k] != labels[i])
            k++;
        es_sb_printf(&b, "%susers of %s reach %s for %s host%s", i ? "; " : "", labels[i],
                     i ? "it" : rt_ip(r, ip), num(n1, sizeof n1, reach[k]),
                     reach[k] == 1 ? "" : "s");
        if (only[k])
            es_sb_printf(&b, ", for %s of them it is their only edge", num(n2, sizeof n2, only[k]));
    }
    if (b.len)
        es_sb_add(&b, ": ");
    if (flaky)
        es_sb_add(&b, "it fails for some of its hosts and works for the others with the same "
                      "ClientHello: an overloaded or flaky node (when many edges show it, an "
                      "overloaded scanner or network path); ");
    int64_t k = find_hiv(r, sample, ip, g, run[0].what);
    if (k >= 0) {
        const struct rt_hiv *x = &r->hivs[k];
        const struct rt_hv *hv = &r->hvs[x->hv];
        const struct rt_host *host = &r->hosts[sample];
        if (g == G_H2) {
            es_sb_add(&b, rr_explain_h2(rt_token(r, x->h2tok)));
            f->repro = rr_repro_h2(host->name, host->port, rt_ip(r, ip));
        } else {
            es_sb_add(&b, g == G_FLAKY
                              ? "the same node both succeeded and failed: a pool with "
                                "mixed configurations behind this address, or an "
                                "overloaded node"
                              : rr_explain_failure(rt_variant(r, hv->variant), rt_sig(r, x->sig)));
            f->repro = rr_repro_s_client(rt_variant(r, hv->variant), rt_sni(r, hv), rt_ip(r, ip),
                                         host->port, NULL);
        }
    } else {
        es_sb_add(&b, c->fs->v[run[0].fi].explain);
    }
    f->explain = es_sb_take(&b);
}

static void cert_finding(struct ctx *c, const struct ev *run, size_t n, struct es_finding *f)
{
    const struct rt_report *r = c->r;
    uint32_t sample;
    f->kind = ES_FINDING_CERT;
    f->sample_hosts = samples(r, run, n, &sample);
    uint32_t *ids = es_xcalloc(n, sizeof *ids);
    uint64_t failed = 0, res = 0;
    uint32_t sample_ip = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i] = run[i].ip;
        int64_t hi = rt_hi_find(r, run[i].host, run[i].ip);
        if (hi >= 0) {
            failed += r->his[hi].vfail;
            res |= r->his[hi].resolvers;
        }
        if (run[i].host == sample) {
            const char *a = rt_ip(r, run[i].ip), *b = sample_ip ? rt_ip(r, sample_ip) : NULL;
            if (!b || rt_ip_cmp(&a, &b) < 0)
                sample_ip = run[i].ip; /* the lowest address: not the order rows came in */
        }
    }
    rh_set_ips(r, f, ids, n);
    free(ids);
    /* the hosts those edges serve, and every verified handshake there */
    uint64_t all = 0;
    c->stamp_now++;
    for (size_t j = 0; j < r->nhis; j++) {
        const struct rt_hi *e = &r->his[j];
        bool in = false;
        for (size_t i = 0; i < f->_nips && !in; i++)
            in = f->_ips[i] == e->ip;
        if (!in)
            continue;
        all += e->vok + e->vfail;
        if (c->stamp[e->host] != c->stamp_now) {
            c->stamp[e->host] = c->stamp_now;
            f->hosts_total++;
        }
    }
    f->failing_resolvers = rt_join_resolvers(r, res);
    f->failed = failed;
    f->attempts = all;
    const char *token = run[0].what + 7; /* after "verify " */
    struct es_sb b = {0};
    const char *sha = run[0].grp == G_CERT ? rt_failcert(r, run[0].a) : "";
    if (run[0].grp == G_CERTIP)
        es_sb_add(&b, "this node serves certificates that fail verification for every failing "
                      "host (each its own certificate): ");
    else if (*sha)
        es_sb_printf(&b,
                     "one certificate (sha256 %.16s...) on these nodes, for every failing "
                     "host: ",
                     sha);
    es_sb_add(&b, rr_explain_verify(token));
    f->explain = es_sb_take(&b);
    const struct rt_host *host = &r->hosts[sample];
    const struct rt_hv *hv = rh_sample_hv(r, host);
    if (hv && sample_ip)
        f->repro = rr_repro_s_client(rt_variant(r, hv->variant), rt_sni(r, hv), rt_ip(r, sample_ip),
                                     host->port, host->name);
}

/* An edge's hello, http, clock, expiry or weak problem across its hosts. */
static void kind_finding(struct ctx *c, const struct ev *run, size_t n, struct es_finding *f)
{
    const struct rt_report *r = c->r;
    uint32_t ip = run[0].ip, sample;
    const struct es_finding *first = &c->fs->v[run[0].fi];
    f->kind = first->kind;
    f->sample_hosts = samples(r, run, n, &sample);
    for (size_t i = 0; i < n; i++)
        if (run[i].host == sample)
            first = &c->fs->v[run[i].fi];
    free(f->failure);
    f->failure = es_xstrdup(first->failure);
    f->failing_ips = es_xstrdup(rt_ip(r, ip));
    f->_ips = es_xmalloc(sizeof *f->_ips);
    f->_ips[0] = ip;
    f->_nips = 1;
    f->hosts_total = c->ip_hosts[ip];
    /* counts on the edge: the failing ones on the run's hosts, all of them */
    uint64_t res = 0;
    c->stamp_now++;
    for (size_t i = 0; i < n; i++)
        c->stamp[run[i].host] = c->stamp_now;
    for (size_t j = 0; j < r->nhis; j++) {
        const struct rt_hi *e = &r->his[j];
        if (e->ip != ip)
            continue;
        bool in = c->stamp[e->host] == c->stamp_now;
        uint64_t bad = 0, all = 0;
        switch (f->kind) {
        case ES_FINDING_HTTP:
            all = e->httpok + e->httpbad;
            bad = e->httpbad;
            break;
        case ES_FINDING_CLOCK: all = bad = e->has_skew; break;
        case ES_FINDING_EXPIRY: all = bad = e->nsha ? e->nsha : e->has_days; break;
        default: /* hello: the failed pq/split attempts; weak: every attempt */
            for (uint32_t v = r->hosts[e->host].first_hv; v; v = r->hvs[v - 1].next) {
                bool plain = rt_plain_hello(rt_variant(r, r->hvs[v - 1].variant));
                for (uint32_t k = r->hvs[v - 1].first_hiv; k; k = r->hivs[k - 1].next) {
                    const struct rt_hiv *x = &r->hivs[k - 1];
                    if (x->hi != j)
                        continue;
                    all += x->ok + x->fail;
                    bad += f->kind == ES_FINDING_WEAK ? x->ok + x->fail : plain ? 0 : x->fail;
                }
            }
        }
        f->attempts += all;
        if (in) {
            f->failed += bad;
            res |= e->resolvers;
        }
    }
    f->failing_resolvers = rt_join_resolvers(r, res);
    const struct rt_host *host = &r->hosts[sample];
    const char *ipt = rt_ip(r, ip);
    char n1[32], n2[32];
    struct es_sb b = {0};
    if (f->kind == ES_FINDING_HELLO) {
        char *x = rr_explain_hello(&ipt, 1, rh_hello_shapes(r, first));
        es_sb_printf(&b, "%s (for %s of the %s hosts it serves)", x,
                     num(n1, sizeof n1, f->hosts_failing), num(n2, sizeof n2, f->hosts_total));
        free(x);
        f->repro = rh_hello_repro(r, first, sample, ip);
    } else {
        es_sb_printf(&b, "%s: %s for %s of the %s hosts it serves: ", ipt, f->failure,
                     num(n1, sizeof n1, f->hosts_failing), num(n2, sizeof n2, f->hosts_total));
        switch (f->kind) {
        case ES_FINDING_HTTP: {
            const char *tok = f->failure + 5; /* after "http " */
            char t[48];
            snprintf(t, sizeof t, "%s%s", strcmp(tok, "no response") ? "status " : "", tok);
            es_sb_add(&b, rr_explain_http(t));
            f->repro = rr_repro_http(host->name, host->port, ipt);
            break;
        }
        case ES_FINDING_CLOCK:
            es_sb_add(&b, "the node's clock is wrong (its Date header): a node without working "
                          "time sync; certificates it checks, tokens and cookies it issues and "
                          "its caches and logs are off by as much");
            f->repro = rr_repro_clock(host->name, host->port, ipt);
            break;
        case ES_FINDING_EXPIRY:
            es_sb_add(&b, "the certificates this node serves are about to expire: a renewal "
                          "that did not reach it");
            f->repro = rr_repro_cert(host->name, host->port, ipt, "-enddate");
            break;
        default:
            es_sb_add(&b, rr_explain_weak(f->failure));
            f->repro = strncmp(f->failure, "DHE ", 4)
                           ? rr_repro_cert(host->name, host->port, ipt, "-text")
                           : rr_repro_dhe(host->name, host->port, ipt);
        }
    }
    f->explain = es_sb_take(&b);
}

static void variant_finding(struct ctx *c, const struct ev *run, size_t n, struct es_finding *f)
{
    const struct rt_report *r = c->r;
    uint32_t sample;
    f->kind = ES_FINDING_VARIANT;
    f->sample_hosts = samples(r, run, n, &sample);
    f->_variants = es_xstrdup(run[0].what);
    f->variant = f->_variants;
    uint64_t res = 0;
    const struct es_finding *first = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct es_finding *h = &c->fs->v[run[i].fi];
        f->failed += h->failed;
        f->attempts += h->attempts;
        res |= r->hosts[run[i].host].answered;
        if (run[i].host == sample)
            first = h;
    }
    f->failing_resolvers = rt_join_resolvers(r, res);
    /* hosts probed with (any of) these variants */
    c->stamp_now++;
    for (size_t j = 0; j < r->nhvs; j++) {
        const char *name = rt_variant(r, r->hvs[j].variant)->name;
        bool in = !*f->variant;
        for (const char *p = f->variant; *p && !in;) {
            size_t len = strcspn(p, ";");
            in = strlen(name) == len && !memcmp(name, p, len);
            p += len + (p[len] == ';');
        }
        if (in && c->stamp[r->hvs[j].host] != c->stamp_now) {
            c->stamp[r->hvs[j].host] = c->stamp_now;
            f->hosts_total++;
        }
    }
    struct es_sb b = {0};
    es_sb_add(&b, "the ClientHello fails on every edge of these hosts, not on some nodes: ");
    es_sb_add(&b, first ? first->explain : "");
    f->explain = es_sb_take(&b);
    f->repro = es_xstrdup(first ? first->repro : "");
}

static void dns_finding(struct ctx *c, const struct ev *run, size_t n, struct es_finding *f)
{
    const struct rt_report *r = c->r;
    unsigned b = (unsigned)run[0].a;
    uint64_t bit = UINT64_C(1) << b;
    uint32_t sample;
    f->kind = ES_FINDING_DNS;
    f->sample_hosts = samples(r, run, n, &sample);
    f->failing_resolvers = es_xstrdup(r->resolvers[b]);
    f->_resolvers = bit;
    uint64_t pass = 0;
    bool answered_any = false;
    for (size_t i = 0; i < n; i++)
        pass |= r->hosts[run[i].host].answered & ~bit;
    for (size_t h = 0; h < r->nhosts; h++) {
        if ((r->hosts[h].answered | r->hosts[h].dns_failed) & bit)
            f->hosts_total++;
        answered_any |= (r->hosts[h].answered & bit) != 0;
    }
    f->passing_resolvers = rt_join_resolvers(r, pass);
    f->failed = f->hosts_failing;
    f->attempts = f->hosts_total;
    struct es_sb s = {0};
    char n1[32], n2[32];
    if (!answered_any && f->hosts_failing == f->hosts_total)
        es_sb_printf(&s,
                     "the resolver labelled %s fails for all %s names asked: it is down, "
                     "unreachable or refuses this vantage point",
                     r->resolvers[b], num(n1, sizeof n1, f->hosts_total));
    else
        es_sb_printf(&s, "the resolver labelled %s answers %s for %s of the %s names asked: %s",
                     r->resolvers[b], run[0].what, num(n1, sizeof n1, f->hosts_failing),
                     num(n2, sizeof n2, f->hosts_total), rr_explain_dns(run[0].what));
    f->explain = es_sb_take(&s);
    f->repro = rr_repro_dig(r->hosts[sample].name, r->resolvers[b], r->resolver_addr[b]);
}

/* Whether the run [0..n) makes a fleet finding: two hosts or more that
 * blame it (`down` findings ride along, they never decide), or a resolver
 * that fails every name it was asked. */
static bool qualifies(const struct rt_report *r, const struct ev *run, size_t n)
{
    if (distinct_hosts(run, n, true) >= 2)
        return true;
    if (run[0].grp != G_DNS || distinct_hosts(run, n, false) < 2)
        return false;
    uint64_t bit = UINT64_C(1) << run[0].a;
    for (size_t h = 0; h < r->nhosts; h++)
        if (r->hosts[h].answered & bit)
            return false;
    return true;
}

/* Makes a fleet finding of every qualifying run of e->v[from..e->n). */
static void make_runs(struct ctx *c, struct evs *e, size_t from, struct es_findings *made)
{
    for (size_t i = from; i < e->n;) {
        size_t j = i + 1;
        while (j < e->n && !key_cmp(&e->v[i], &e->v[j]))
            j++;
        const struct ev *run = e->v + i;
        size_t n = j - i;
        if (qualifies(c->r, run, n)) {
            for (size_t k = i; k < j; k++)
                e->v[k].fleet = true;
            struct es_finding *f = es_findings_add(made);
            f->fleet = true;
            f->host = "*";
            f->port = common_port(c->r, run, n);
            f->hosts_failing = distinct_hosts(run, n, false);
            f->failure = es_xstrdup(run[0].grp == G_VARIANT ? run[0].failure : run[0].what);
            switch ((enum grp)run[0].grp) {
            case G_EDGE:
            case G_H2:
            case G_FLAKY:
                edge_finding(c, run, n, f);
                f->_variants = union_variants(c->r, c->fs, run, n);
                f->variant = f->_variants;
                break;
            case G_CERT:
            case G_CERTIP: cert_finding(c, run, n, f); break;
            case G_VARIANT: variant_finding(c, run, n, f); break;
            case G_KIND:
                kind_finding(c, run, n, f);
                if (f->kind == ES_FINDING_HELLO) {
                    f->_variants = union_variants(c->r, c->fs, run, n);
                    f->variant = f->_variants;
                }
                break;
            case G_DNS: dns_finding(c, run, n, f); break;
            }
            if (run[0].grp == G_DNS) {
                f->port = 0; /* a resolver serves every port */
                free(f->failure);
                f->failure = es_xstrdup(run[0].what);
            }
        }
        i = j;
    }
}

void rf_judge_fleet(const struct rt_report *r, struct es_findings *fs)
{
    struct evs e = {0};
    collect(r, fs, &e);
    if (!e.n)
        return;
    qsort(e.v, e.n, sizeof *e.v, ev_cmp);
    struct ctx c = {.r = r, .fs = fs};
    size_t nips = r->ips.n + 1;
    c.ip_hosts = es_xcalloc(nips, sizeof *c.ip_hosts);
    c.ip_att = es_xcalloc(nips, sizeof *c.ip_att);
    c.ip_h2 = es_xcalloc(nips, sizeof *c.ip_h2);
    c.stamp = es_xcalloc(r->nhosts ? r->nhosts : 1, sizeof *c.stamp);
    for (size_t j = 0; j < r->nhis; j++)
        c.ip_hosts[r->his[j].ip]++;
    for (size_t k = 0; k < r->nhivs; k++) {
        const struct rt_hiv *x = &r->hivs[k];
        uint32_t ip = r->his[x->hi].ip;
        c.ip_att[ip] += x->ok + x->fail;
        c.ip_h2[ip] += x->h2ok + x->h2fail;
    }
    struct es_findings made = {0};
    make_runs(&c, &e, 0, &made);
    /* Certificates that failed for one host each (every host has its own)
     * but on the same edge: regrouped by edge. */
    size_t from = e.n;
    for (size_t k = 0; k < from; k++)
        if (e.v[k].grp == G_CERT && !e.v[k].fleet) {
            struct ev x = e.v[k];
            x.grp = G_CERTIP;
            x.a = x.ip;
            e.v[k].superseded = true;
            push(&e, x);
        }
    if (e.n > from) {
        qsort(e.v + from, e.n - from, sizeof *e.v, ev_cmp);
        make_runs(&c, &e, from, &made);
    }
    /* Fold: a host finding whose every entry sits in a fleet run. */
    uint32_t *total = es_xcalloc(fs->n, sizeof *total), *covered = es_xcalloc(fs->n, 4);
    for (size_t k = 0; k < e.n; k++) {
        if (e.v[k].superseded)
            continue;
        total[e.v[k].fi]++;
        covered[e.v[k].fi] += e.v[k].fleet;
    }
    for (size_t i = 0; i < fs->n; i++)
        if (total[i] && covered[i] == total[i])
            fs->v[i].folded = true;
    free(total);
    free(covered);
    for (size_t i = 0; i < made.n; i++) {
        struct es_finding *f = es_findings_add(fs);
        *f = made.v[i];
    }
    free(made.v);
    free(e.v);
    free(c.ip_hosts);
    free(c.ip_att);
    free(c.ip_h2);
    free(c.stamp);
}
