/* reporthtml.c - `edgeshake report --format html` (reporthtml.h).
 *
 * The page, top to bottom:
 *   1. Overview: findings by kind (fleet / host) and by change; a matrix of
 *      the failing edge IPs x variants, grouped by region (the resolvers
 *      that returned the IP), each cell the share of that node's probes that
 *      failed across every host it serves; a matrix of resolvers x variants
 *      (the probes of hosts reached through the resolver, its failed lookups
 *      counted as failures).
 *   2. Fleet findings (host "*").
 *   3. Host findings in collapsible groups of one kind and one failure, with
 *      a filter box (inline JS; the page works offline).
 *   4. Heat maps of the hosts that have findings (the fleet findings' sample
 *      hosts first), columns in one order on every map: region, then address.
 *
 * A "failure" in a cell is any of: a failed handshake (red, by share), a
 * failed lookup (DNS), a certificate that does not verify (amber) and a
 * failed HTTP/2 check after a good handshake (violet): nothing that failed is
 * painted green.
 *
 * Budget (DESIGN §4: 5 MB at 100,000 hosts): every list is capped (the
 * *_MAX constants) and each cap says what it left out and how to get it.
 *
 * Memory: one pass over es_report_heatmap folds the cells into tallies per
 * (ip, variant) and per (resolver, variant) in hash tables on xxh3, and keeps
 * the cells of the at most HEAT_HOSTS_MAX hosts whose maps are drawn; strings
 * are interned. So it grows with distinct ips x variants and with findings,
 * never with rows, and with hosts only by a 64-bit serial. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "edgeshake/intern.h"
#include "edgeshake/report.h"
#include "edgeshake/reporthtml.h"
#include "edgeshake/util.h"

enum {
    IP_ROWS_MAX = 40,      /* failing edges in the overview matrix */
    FLEET_ROWS_MAX = 500,  /* fleet findings listed */
    HOST_ROWS_MAX = 3000,  /* host findings listed, over all groups */
    GROUP_ROWS_MAX = 500,  /* host findings listed per group */
    HEAT_HOSTS_MAX = 100,  /* heat maps drawn */
    OPEN_GROUPS_UPTO = 30, /* host findings: groups start open up to this many findings */
};

#define NRES ES_REPORT_MAX_RESOLVERS
#define NONE UINT32_MAX

/* ---- a hash table of indexes (open addressing; the hash is kept in the
 * slot, equality is the caller's) ---- */

struct slot {
    uint64_t h;
    uint32_t idx; /* index + 1; 0 = empty */
};

struct map {
    struct slot *s;
    size_t mask, n;
};

typedef bool (*same_fn)(const void *ctx, uint32_t idx, const void *key);

static void map_init(struct map *m)
{
    m->mask = 63;
    m->n = 0;
    m->s = es_xcalloc(m->mask + 1, sizeof *m->s);
}

/* The slot of key (idx != 0), or the empty slot where it belongs. */
static struct slot *map_find(const struct map *m, uint64_t h, same_fn same, const void *ctx,
                             const void *key)
{
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask)
        if (!m->s[i].idx || (m->s[i].h == h && same(ctx, m->s[i].idx - 1, key)))
            return &m->s[i];
}

/* Fills the empty slot sl (from map_find) with idx, growing at half load:
 * slot pointers are stale afterwards. */
static void map_add(struct map *m, struct slot *sl, uint64_t h, uint32_t idx)
{
    sl->h = h;
    sl->idx = idx + 1;
    if (++m->n * 2 <= m->mask + 1)
        return;
    size_t old_cap = m->mask + 1;
    struct slot *old = m->s;
    m->mask = old_cap * 2 - 1;
    m->s = es_xcalloc(m->mask + 1, sizeof *m->s);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].idx)
            continue;
        size_t j = old[i].h & m->mask;
        while (m->s[j].idx)
            j = (j + 1) & m->mask;
        m->s[j] = old[i];
    }
    free(old);
}

static uint64_t ptr_hash(const void *p)
{
    return XXH3_64bits(&p, sizeof p);
}

/* ---- the model ---- */

/* What went wrong in some probes: summed over cells. */
struct tally {
    uint64_t ok, fail; /* handshakes */
    uint64_t vbad;     /* good handshakes to an edge whose certificate does not verify */
    uint64_t h2bad;    /* good handshakes whose HTTP/2 check failed */
    uint64_t dns;      /* failed lookups */
    const char *failure, *verify, *h2, *dns_token; /* first seen, interned */
};

struct ipagg {
    const char *ip;  /* interned */
    uint64_t region; /* resolvers that returned it, one bit per label */
    uint64_t hosts, hosts_bad;
    uint64_t seen, seen_bad; /* serial of the last host counted */
    struct tally t;
};

struct ivagg { /* (ip, variant) */
    uint32_t ip, var;
    struct tally t;
};

struct resagg {
    const char *label; /* interned */
    uint64_t hosts, seen;
    struct tally dns; /* .dns, .dns_token */
};

struct combo { /* a `resolvers` string seen in cells, and its bits */
    const char *s;
    uint64_t mask;
};

struct hsel {         /* a host with findings */
    const char *host; /* interned */
    int port;
    unsigned kinds; /* bit per enum es_finding_kind */
    bool drawn;
};

struct hcell {               /* a cell of a drawn host */
    uint32_t host, var;      /* var NONE: a DNS cell */
    const char *ip, *region; /* interned; ip "" for DNS */
    struct tally t;
};

struct agg {
    struct es_intern *pool;
    struct ipagg *ips;
    size_t nips, capips;
    struct ivagg *ivs;
    size_t nivs, capivs;
    const char **vars; /* labels "variant" or "variant @ vantage", interned */
    size_t nvars, capvars;
    uint32_t *var_rank; /* position in label order */
    struct resagg res[NRES];
    size_t nres;
    struct tally *rv; /* [var * NRES + res] */
    size_t caprv;
    struct combo *combos;
    size_t ncombos, capcombos;
    struct hsel *hosts;
    size_t nhosts, caphosts, ndrawn;
    struct hcell *cells;
    size_t ncells, capcells;
    struct map mip, miv, mvar, mcombo, mhost;
    /* the current host (cells come grouped by host) */
    uint64_t serial;
    char *cur_host;
    int cur_port;
    uint32_t cur_sel;
    /* one-entry caches: cells come in runs of one variant and resolver set */
    char *last_res, *last_var, *last_vantage;
    uint64_t last_mask;
    uint32_t last_var_idx;
};

static bool same_ptr_ip(const void *ctx, uint32_t i, const void *key)
{
    return ((const struct agg *)ctx)->ips[i].ip == key;
}

static bool same_ptr_var(const void *ctx, uint32_t i, const void *key)
{
    return ((const struct agg *)ctx)->vars[i] == key;
}

static bool same_ptr_combo(const void *ctx, uint32_t i, const void *key)
{
    return ((const struct agg *)ctx)->combos[i].s == key;
}

static bool same_iv(const void *ctx, uint32_t i, const void *key)
{
    const struct ivagg *x = &((const struct agg *)ctx)->ivs[i];
    const uint32_t *k = key;
    return x->ip == k[0] && x->var == k[1];
}

struct host_key {
    const char *name;
    int port;
};

static bool same_host(const void *ctx, uint32_t i, const void *key)
{
    const struct hsel *x = &((const struct agg *)ctx)->hosts[i];
    const struct host_key *k = key;
    return x->port == k->port && !strcmp(x->host, k->name);
}

static uint64_t host_hash(const char *name, int port)
{
    return XXH3_64bits_withSeed(name, strlen(name), (uint64_t)port);
}

static const char *S(const char *s)
{
    return s ? s : "";
}

static bool is_fleet(const struct es_finding *x)
{
    return x->fleet || !strcmp(x->host, "*");
}

/* The resolver bit of a label (the last one is shared past NRES labels, as
 * report.c does). */
static unsigned res_bit(struct agg *a, const char *label, size_t len)
{
    const char *s = es_intern_n(a->pool, label, len);
    for (size_t i = 0; i < a->nres; i++)
        if (a->res[i].label == s)
            return (unsigned)i;
    if (a->nres == NRES)
        return NRES - 1;
    a->res[a->nres].label = s;
    return (unsigned)a->nres++;
}

/* The bits of a ';'-joined resolver list ("-" = none). */
static uint64_t res_mask(struct agg *a, const char *list)
{
    if (a->last_res && !strcmp(a->last_res, list))
        return a->last_mask;
    const char *s = es_intern(a->pool, list);
    uint64_t h = ptr_hash(s);
    struct slot *sl = map_find(&a->mcombo, h, same_ptr_combo, a, s);
    if (!sl->idx) {
        uint64_t m = 0;
        for (const char *p = s; *p;) {
            size_t n = strcspn(p, ";");
            if (n && !(n == 1 && *p == '-'))
                m |= UINT64_C(1) << res_bit(a, p, n);
            p += n + (p[n] == ';');
        }
        a->combos = es_xgrow(a->combos, &a->capcombos, a->ncombos + 1, sizeof *a->combos);
        a->combos[a->ncombos] = (struct combo){s, m};
        map_add(&a->mcombo, sl, h, (uint32_t)a->ncombos++);
        sl = map_find(&a->mcombo, h, same_ptr_combo, a, s); /* map_add may move slots */
    }
    free(a->last_res);
    a->last_res = es_xstrdup(list);
    a->last_mask = a->combos[sl->idx - 1].mask;
    return a->last_mask;
}

/* "a + b" for the resolver bits of mask, labels in alphabetical order; "-"
 * for none. Interned. */
static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static const char *region_name(struct agg *a, uint64_t mask)
{
    const char *labels[NRES];
    size_t n = 0;
    for (size_t i = 0; i < a->nres; i++)
        if (mask & (UINT64_C(1) << i))
            labels[n++] = a->res[i].label;
    if (!n)
        return es_intern(a->pool, "-");
    qsort(labels, n, sizeof *labels, str_cmp);
    struct es_sb b = {0};
    for (size_t i = 0; i < n; i++)
        es_sb_printf(&b, "%s%s", i ? " + " : "", labels[i]);
    const char *s = es_intern(a->pool, b.s);
    es_sb_free(&b);
    return s;
}

static uint32_t var_index(struct agg *a, const char *variant, const char *vantage)
{
    if (a->last_var && !strcmp(a->last_var, variant) && !strcmp(a->last_vantage, vantage))
        return a->last_var_idx;
    struct es_sb b = {0};
    es_sb_add(&b, variant);
    if (*vantage)
        es_sb_printf(&b, " @ %s", vantage);
    const char *s = es_intern(a->pool, b.s ? b.s : "");
    es_sb_free(&b);
    uint64_t h = ptr_hash(s);
    struct slot *sl = map_find(&a->mvar, h, same_ptr_var, a, s);
    if (!sl->idx) {
        a->vars = es_xgrow(a->vars, &a->capvars, a->nvars + 1, sizeof *a->vars);
        a->vars[a->nvars] = s;
        map_add(&a->mvar, sl, h, (uint32_t)a->nvars++);
        sl = map_find(&a->mvar, h, same_ptr_var, a, s);
        size_t need = a->nvars * NRES;
        size_t old = a->caprv;
        a->rv = es_xgrow(a->rv, &a->caprv, need, sizeof *a->rv);
        memset(a->rv + old, 0, (a->caprv - old) * sizeof *a->rv);
    }
    free(a->last_var);
    free(a->last_vantage);
    a->last_var = es_xstrdup(variant);
    a->last_vantage = es_xstrdup(vantage);
    a->last_var_idx = sl->idx - 1;
    return a->last_var_idx;
}

static uint32_t ip_index(struct agg *a, const char *ip)
{
    const char *s = es_intern(a->pool, ip);
    uint64_t h = ptr_hash(s);
    struct slot *sl = map_find(&a->mip, h, same_ptr_ip, a, s);
    if (!sl->idx) {
        a->ips = es_xgrow(a->ips, &a->capips, a->nips + 1, sizeof *a->ips);
        a->ips[a->nips] = (struct ipagg){.ip = s};
        map_add(&a->mip, sl, h, (uint32_t)a->nips++);
        return (uint32_t)a->nips - 1;
    }
    return sl->idx - 1;
}

static struct ivagg *iv_get(struct agg *a, uint32_t ip, uint32_t var)
{
    uint32_t key[2] = {ip, var};
    uint64_t h = XXH3_64bits(key, sizeof key);
    struct slot *sl = map_find(&a->miv, h, same_iv, a, key);
    if (!sl->idx) {
        a->ivs = es_xgrow(a->ivs, &a->capivs, a->nivs + 1, sizeof *a->ivs);
        a->ivs[a->nivs] = (struct ivagg){.ip = ip, .var = var};
        map_add(&a->miv, sl, h, (uint32_t)a->nivs++);
        return &a->ivs[a->nivs - 1];
    }
    return &a->ivs[sl->idx - 1];
}

/* Adds a host with findings (kind); the first HEAT_HOSTS_MAX are drawn. */
static void host_select(struct agg *a, const char *name, size_t len, int port, int kind)
{
    const char *s = es_intern_n(a->pool, name, len);
    struct host_key k = {s, port};
    uint64_t h = host_hash(s, port);
    struct slot *sl = map_find(&a->mhost, h, same_host, a, &k);
    if (!sl->idx) {
        a->hosts = es_xgrow(a->hosts, &a->caphosts, a->nhosts + 1, sizeof *a->hosts);
        a->hosts[a->nhosts] = (struct hsel){.host = s, .port = port};
        if (a->ndrawn < HEAT_HOSTS_MAX) {
            a->hosts[a->nhosts].drawn = true;
            a->ndrawn++;
        }
        map_add(&a->mhost, sl, h, (uint32_t)a->nhosts++);
        sl = map_find(&a->mhost, h, same_host, a, &k);
    }
    a->hosts[sl->idx - 1].kinds |= 1u << kind;
}

/* Host findings grouped by kind and failure. */
static int group_cmp(const void *x, const void *y)
{
    const struct es_finding *a = *(const struct es_finding *const *)x,
                            *b = *(const struct es_finding *const *)y;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    int c = strcmp(a->failure, b->failure);
    if (c)
        return c;
    c = strcmp(a->host, b->host);
    return c ? c : a->port - b->port;
}

struct group {
    const struct es_finding *const *v;
    size_t n;
    size_t rows; /* listed on the page */
};

struct groups {
    const struct es_finding **v; /* the host findings, by group */
    size_t n;
    struct group *g;
    size_t ng;
};

/* Kind (importance), then the larger group first. */
static int group_order(const void *x, const void *y)
{
    const struct group *a = x, *b = y;
    if (a->v[0]->kind != b->v[0]->kind)
        return a->v[0]->kind < b->v[0]->kind ? -1 : 1;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return strcmp(a->v[0]->failure, b->v[0]->failure);
}

static int group_size_cmp(const void *x, const void *y)
{
    const struct group *a = *(const struct group *const *)x, *b = *(const struct group *const *)y;
    return a->n < b->n ? -1 : a->n > b->n;
}

/* Groups the host findings and shares HOST_ROWS_MAX rows between the groups,
 * smallest first, so that a small group is never crowded out by large ones. */
static void groups_build(struct groups *gs, const struct es_findings *fs)
{
    gs->v = es_xcalloc(fs->n + 1, sizeof *gs->v);
    gs->n = 0;
    for (size_t i = 0; i < fs->n; i++)
        if (!is_fleet(&fs->v[i]))
            gs->v[gs->n++] = &fs->v[i];
    gs->g = es_xcalloc(gs->n + 1, sizeof *gs->g);
    gs->ng = 0;
    if (!gs->n)
        return;
    qsort(gs->v, gs->n, sizeof *gs->v, group_cmp);
    const struct es_finding **v = gs->v;
    for (size_t i = 0; i < gs->n;) {
        size_t j = i;
        while (j < gs->n && v[j]->kind == v[i]->kind && !strcmp(v[j]->failure, v[i]->failure))
            j++;
        gs->g[gs->ng++] = (struct group){(const struct es_finding *const *)v + i, j - i, 0};
        i = j;
    }
    qsort(gs->g, gs->ng, sizeof *gs->g, group_order);
    struct group **by_size = es_xcalloc(gs->ng, sizeof *by_size);
    for (size_t k = 0; k < gs->ng; k++)
        by_size[k] = &gs->g[k];
    qsort(by_size, gs->ng, sizeof *by_size, group_size_cmp);
    size_t budget = HOST_ROWS_MAX;
    for (size_t k = 0; k < gs->ng; k++) {
        size_t share = budget / (gs->ng - k), rows = by_size[k]->n;
        if (rows > GROUP_ROWS_MAX)
            rows = GROUP_ROWS_MAX;
        if (rows > share)
            rows = share;
        by_size[k]->rows = rows;
        budget -= rows;
    }
    free(by_size);
}

static void groups_free(struct groups *gs)
{
    free(gs->v);
    free(gs->g);
    memset(gs, 0, sizeof *gs);
}

/* Hosts with findings in the order their maps are drawn: the sample hosts of
 * fleet findings, then one host of each group of host findings in turn (so
 * that the maps show every kind of problem before a second host of any). */
static void select_hosts(struct agg *a, const struct es_findings *fs, const struct groups *gs)
{
    for (size_t i = 0; i < fs->n; i++) {
        const struct es_finding *x = &fs->v[i];
        if (!is_fleet(x))
            continue;
        for (const char *p = S(x->sample_hosts); *p;) {
            size_t n = strcspn(p, ";");
            /* "name" at the finding's port, or "name:port" */
            const char *colon = memrchr(p, ':', n);
            uint64_t port = (uint64_t)x->port;
            char num[8] = "";
            if (colon && (size_t)(p + n - colon - 1) < sizeof num) {
                memcpy(num, colon + 1, (size_t)(p + n - colon - 1));
                if (es_parse_u64(num, 1, 65535, &port))
                    n = (size_t)(colon - p);
            }
            if (n && port)
                host_select(a, p, n, (int)port, x->kind);
            p += strcspn(p, ";");
            p += *p == ';';
        }
    }
    for (size_t round = 0, more = 1; more; round++) {
        more = 0;
        for (size_t k = 0; k < gs->ng; k++) {
            if (round >= gs->g[k].n)
                continue;
            const struct es_finding *x = gs->g[k].v[round];
            host_select(a, x->host, strlen(x->host), x->port, x->kind);
            more = 1;
        }
    }
}

static uint64_t min_u64(uint64_t x, uint64_t y)
{
    return x < y ? x : y;
}

/* Probes of t that failed in any way. */
static uint64_t tally_bad(const struct tally *t)
{
    return t->fail + min_u64(t->ok, t->vbad + t->h2bad) + t->dns;
}

static uint64_t tally_all(const struct tally *t)
{
    return t->ok + t->fail + t->dns;
}

static void tally_add(struct agg *a, struct tally *t, const struct es_heat_cell *c)
{
    if (!*c->ip) {
        t->dns += c->fail;
        if (!t->dns_token)
            t->dns_token = es_intern(a->pool, c->failure);
        return;
    }
    t->ok += c->ok;
    t->fail += c->fail;
    if (*c->verify) {
        t->vbad += c->ok;
        if (!t->verify)
            t->verify = es_intern(a->pool, c->verify);
    }
    t->h2bad += c->h2fail;
    if (*c->h2 && !t->h2)
        t->h2 = es_intern(a->pool, c->h2);
    if (c->fail && *c->failure && !t->failure)
        t->failure = es_intern(a->pool, c->failure);
}

static void on_cell(void *arg, const struct es_heat_cell *c)
{
    struct agg *a = arg;
    if (!a->cur_host || a->cur_port != c->port || strcmp(a->cur_host, c->host)) {
        a->serial++;
        free(a->cur_host);
        a->cur_host = es_xstrdup(c->host);
        a->cur_port = c->port;
        struct host_key k = {c->host, c->port};
        struct slot *sl = map_find(&a->mhost, host_hash(c->host, c->port), same_host, a, &k);
        a->cur_sel = sl->idx && a->hosts[sl->idx - 1].drawn ? sl->idx - 1 : NONE;
    }
    uint64_t mask = res_mask(a, c->resolvers);
    for (size_t r = 0; r < a->nres; r++) {
        if (!(mask & (UINT64_C(1) << r)))
            continue;
        if (a->res[r].seen != a->serial) {
            a->res[r].seen = a->serial;
            a->res[r].hosts++;
        }
        if (!*c->ip)
            tally_add(a, &a->res[r].dns, c);
    }
    uint32_t var = NONE;
    if (*c->ip) {
        var = var_index(a, c->variant, c->vantage);
        struct tally one = {0};
        tally_add(a, &one, c);
        bool bad = tally_bad(&one) > 0;
        uint32_t ipi = ip_index(a, c->ip); /* may move a->ips */
        struct ipagg *ip = &a->ips[ipi];
        ip->region |= mask;
        if (ip->seen != a->serial) {
            ip->seen = a->serial;
            ip->hosts++;
        }
        if (bad && ip->seen_bad != a->serial) {
            ip->seen_bad = a->serial;
            ip->hosts_bad++;
        }
        tally_add(a, &ip->t, c);
        tally_add(a, &iv_get(a, ipi, var)->t, c);
        for (size_t r = 0; r < a->nres; r++)
            if (mask & (UINT64_C(1) << r))
                tally_add(a, &a->rv[var * NRES + r], c);
    }
    if (a->cur_sel == NONE)
        return;
    a->cells = es_xgrow(a->cells, &a->capcells, a->ncells + 1, sizeof *a->cells);
    struct hcell *h = &a->cells[a->ncells++];
    *h = (struct hcell){.host = a->cur_sel,
                        .var = var,
                        .ip = es_intern(a->pool, c->ip),
                        .region = region_name(a, mask)};
    tally_add(a, &h->t, c);
}

static void agg_init(struct agg *a)
{
    memset(a, 0, sizeof *a);
    a->pool = es_intern_new();
    map_init(&a->mip);
    map_init(&a->miv);
    map_init(&a->mvar);
    map_init(&a->mcombo);
    map_init(&a->mhost);
}

static void agg_free(struct agg *a)
{
    free(a->ips);
    free(a->ivs);
    free(a->vars);
    free(a->var_rank);
    free(a->rv);
    free(a->combos);
    free(a->hosts);
    free(a->cells);
    free(a->mip.s);
    free(a->miv.s);
    free(a->mvar.s);
    free(a->mcombo.s);
    free(a->mhost.s);
    free(a->cur_host);
    free(a->last_res);
    free(a->last_var);
    free(a->last_vantage);
    es_intern_free(a->pool);
    memset(a, 0, sizeof *a);
}

/* Ranks variants by label (the row and column order everywhere). */
static void rank_vars(struct agg *a)
{
    const char **sorted = es_xcalloc(a->nvars + 1, sizeof *sorted);
    memcpy(sorted, a->vars, a->nvars * sizeof *sorted);
    qsort(sorted, a->nvars, sizeof *sorted, str_cmp);
    a->var_rank = es_xcalloc(a->nvars + 1, sizeof *a->var_rank);
    for (size_t i = 0; i < a->nvars; i++) {
        size_t k = 0;
        while (sorted[k] != a->vars[i])
            k++;
        a->var_rank[i] = (uint32_t)k;
    }
    free(sorted);
}

/* The variants in label order. The caller frees. */
static uint32_t *vars_in_order(const struct agg *a)
{
    uint32_t *order = es_xcalloc(a->nvars + 1, sizeof *order);
    for (size_t i = 0; i < a->nvars; i++)
        order[a->var_rank[i]] = (uint32_t)i;
    return order;
}

/* ---- writing ---- */

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* 20000 -> "20,000" in buf. */
static const char *num(char buf[32], uint64_t n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)n);
    char *w = buf;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            *w++ = ',';
        *w++ = tmp[i];
    }
    *w = '\0';
    return buf;
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Address order: IPv4 before IPv6, numerically; anything else last, by text. */
static int ip_cmp(const char *x, const char *y)
{
    unsigned char kx[17], ky[17];
    const char *in[2] = {x, y};
    unsigned char *out[2] = {kx, ky};
    for (int i = 0; i < 2; i++) {
        memset(out[i], 0xff, 17);
        if (inet_pton(AF_INET, in[i], out[i] + 1) == 1)
            out[i][0] = 4;
        else if (inet_pton(AF_INET6, in[i], out[i] + 1) == 1)
            out[i][0] = 6;
    }
    int c = memcmp(kx, ky, 17);
    return c ? c : strcmp(x, y);
}

/* A variant label, with a line-break opportunity after each / and ,. */
static void esc_wbr(FILE *f, const char *s)
{
    char one[2] = {0};
    for (; *s; s++) {
        one[0] = *s;
        esc(f, one);
        if (*s == '/' || *s == ',')
            fputs("<wbr>", f);
    }
}

static const char css[] =
    "<style>\n"
    "body{font:13px/1.4 system-ui,sans-serif;margin:1em 1.5em;color:#222}\n"
    "h1{font-size:20px;margin:0 0 .2em}h2{font-size:16px;margin:1.2em 0 .4em}"
    "h3{font-size:13px;margin:.2em 0}\n"
    "p{margin:.3em 0}[hidden]{display:none!important}\n"
    "nav a{margin-right:1em}\n"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 5px;"
    "vertical-align:top;text-align:left}\n"
    "th{background:#f3f3f3;font-weight:600}\n"
    ".row{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\n"
    ".m td.c{width:3.4em;text-align:center;color:#fff;font-size:11px;white-space:nowrap}\n"
    ".m th.v{font:11px monospace;max-width:8em;vertical-align:bottom}\n"
    ".m tr.rg th{background:#e4e9f2}\n"
    ".mono,.m td.ip{font-family:monospace}\n"
    ".n{text-align:right;white-space:nowrap}\n"
    "td.ok{background:hsl(120,65%,40%)}td.vf{background:hsl(40,90%,45%)}"
    "td.h2{background:hsl(275,55%,52%)}td.dns{background:hsl(0,45%,28%)}"
    "td.none{background:#f4f4f4}\n"
    ".sw{display:inline-block;width:1.1em;height:1em;vertical-align:middle;"
    "margin:0 .3em 0 .8em}\n"
    ".k-down,.k-region,.k-node,.k-vantage{color:#b00;font-weight:bold}\n"
    ".k-variant,.k-cert,.k-h2,.k-intermittent,.k-dns{color:#a60;font-weight:bold}\n"
    "code{font-size:11px;word-break:break-all}\n"
    ".f td{max-width:28em}.f td.var{font:11px monospace;max-width:16em;word-break:break-all}\n"
    "details{margin:.3em 0}summary{cursor:pointer;padding:2px 0}\n"
    ".cap{color:#8a4b00;font-style:italic}\n"
    ".maps{display:flex;flex-wrap:wrap;gap:1em 2em;align-items:flex-start}\n"
    ".heat td.c{width:1.9em;height:1.4em;text-align:center;color:#fff;font-size:11px}\n"
    ".heat th.ip{font:10px monospace;writing-mode:vertical-rl;font-weight:normal}\n"
    ".heat th.var{font:11px monospace;font-weight:normal}\n"
    "</style>\n";

/* The filter: rows and heat maps whose text contains the query; groups open
 * on a match and say how many rows match. */
static const char js[] =
    "<script>\n"
    "(function(){var q=document.getElementById('q');if(!q)return;\n"
    "function has(e,s){return e.textContent.toLowerCase().indexOf(s)>=0}\n"
    "q.addEventListener('input',function(){var s=q.value.trim().toLowerCase();\n"
    "document.querySelectorAll('#fleet tbody tr').forEach(function(r){r.hidden=!!s&&!has(r,s)});\n"
    "document.querySelectorAll('details.grp').forEach(function(d){\n"
    " var all=!s||has(d.querySelector('summary'),s),n=0;\n"
    " d.querySelectorAll('tbody tr').forEach(function(r){var "
    "m=all||has(r,s);r.hidden=!m;if(m)n++});\n"
    " d.hidden=n==0;if(s)d.open=n>0;d.querySelector('.hits').textContent=s?' ('+n+' match)':''});\n"
    "document.querySelectorAll('.hm').forEach(function(h){h.hidden=!!s&&!has(h,s)})})})();\n"
    "</script>\n";

/* One cell of a matrix or heat map. percent: the share as a number (the
 * overview); else a symbol (heat maps). what: "ip, variant" for the title. */
static void td_tally(FILE *f, const struct tally *t, bool percent, const char *what)
{
    uint64_t all = tally_all(t), bad = tally_bad(t), hard = t->fail + t->dns;
    char b1[32], b2[32];
    if (!all) {
        fputs("<td class=\"c none\" title=\"not probed\"></td>", f);
        return;
    }
    unsigned share = (unsigned)(bad * 100 / all);
    if (t->dns && !t->ok && !t->fail) {
        fputs("<td class=\"c dns\"", f);
    } else if (hard) {
        /* red, lighter for smaller shares; never green or amber */
        unsigned light = 80 - share * 35 / 100;
        fprintf(f, "<td class=c style=\"background:hsl(0,65%%,%u%%)%s\"", light,
                light > 62 ? ";color:#500" : "");
    } else if (!bad)
        fputs("<td class=\"c ok\"", f);
    else if (t->h2bad > t->vbad) /* the larger of the two */
        fputs("<td class=\"c h2\"", f);
    else
        fputs("<td class=\"c vf\"", f);
    fputs(" title=\"", f);
    esc(f, what);
    if (!bad)
        fprintf(f, ": %s passed", num(b1, all));
    else
        fprintf(f, ": %s of %s failed", num(b1, bad), num(b2, all));
    const struct {
        uint64_t n;
        const char *what, *token;
    } parts[] = {{t->fail, "handshake", t->failure},
                 {t->dns, "lookup", t->dns_token},
                 {t->vbad, "certificate", t->verify},
                 {t->h2bad, "h2 check", t->h2}};
    for (size_t i = 0; i < ES_ARRAY_LEN(parts); i++) {
        if (!parts[i].n)
            continue;
        fprintf(f, "; %s: ", parts[i].what);
        esc(f, S(parts[i].token));
        fprintf(f, " (%s)", num(b1, parts[i].n));
    }
    fputs("\">", f);
    if (percent) {
        if (bad && !share)
            fputs("&lt;1%", f);
        else if (bad)
            fprintf(f, "%u%%", share);
    } else if (t->dns && !t->ok && !t->fail) {
        fputs("DNS", f);
    } else if (hard) {
        fputs(bad == all ? "&#10007;" : "~", f);
    } else if (t->h2bad > t->vbad) {
        fputs("h2", f);
    } else if (t->vbad) {
        fputc('!', f);
    }
    fputs("</td>", f);
}

static void legend(FILE *f)
{
    fputs("<p>Cells: share of probes that failed."
          "<span class=sw style=\"background:hsl(120,65%,40%)\"></span>all passed"
          "<span class=sw style=\"background:hsl(0,65%,70%)\"></span>some failed"
          "<span class=sw style=\"background:hsl(0,65%,45%)\"></span>all failed"
          "<span class=sw style=\"background:hsl(40,90%,45%)\"></span>handshake ok, "
          "certificate does not verify (!)"
          "<span class=sw style=\"background:hsl(275,55%,52%)\"></span>handshake ok, "
          "HTTP/2 check failed (h2)"
          "<span class=sw style=\"background:hsl(0,45%,28%)\"></span>lookup failed (DNS)"
          "<span class=sw style=\"background:#f4f4f4;border:1px solid #ccc\"></span>not probed. "
          "Hover a cell for the failure.</p>\n",
          f);
}

static void counts_table(FILE *f, const struct es_findings *fs)
{
    uint64_t n[2][ES_FINDING_NKINDS] = {{0}}, tot[2] = {0}, hosts_covered = 0;
    for (size_t i = 0; i < fs->n; i++) {
        const struct es_finding *x = &fs->v[i];
        int lvl = is_fleet(x) ? 0 : 1;
        if ((unsigned)x->kind < ES_FINDING_NKINDS)
            n[lvl][x->kind]++;
        tot[lvl]++;
        if (!lvl)
            hosts_covered += x->hosts_failing;
    }
    char b1[32], b2[32], b3[32];
    fprintf(f, "<p><b>%s fleet %s</b> covering %s host %s; <b>%s host %s</b>.</p>\n",
            num(b1, tot[0]), plural(tot[0], "finding", "findings"), num(b2, hosts_covered),
            plural(hosts_covered, "failure", "failures"), num(b3, tot[1]),
            plural(tot[1], "finding", "findings"));
    if (!fs->n)
        return;
    fputs("<table class=counts><tr><th></th>", f);
    for (int k = 0; k < ES_FINDING_NKINDS; k++)
        if (n[0][k] || n[1][k])
            fprintf(f, "<th class=k-%s>%s</th>", es_finding_kind_name(k), es_finding_kind_name(k));
    fputs("<th>total</th></tr>\n", f);
    for (int lvl = 0; lvl < 2; lvl++) {
        fprintf(f, "<tr><th>%s</th>", lvl ? "host" : "fleet");
        for (int k = 0; k < ES_FINDING_NKINDS; k++)
            if (n[0][k] || n[1][k])
                fprintf(f, "<td class=n>%s</td>", num(b1, n[lvl][k]));
        fprintf(f, "<td class=n>%s</td></tr>\n", num(b1, tot[lvl]));
    }
    fputs("</table>\n", f);
    static const char *const changes[] = {"new", "persisting", "fixed"};
    uint64_t c[3] = {0};
    bool any = false;
    for (size_t i = 0; i < fs->n; i++)
        for (size_t j = 0; j < 3; j++)
            if (!strcmp(S(fs->v[i].change), changes[j])) {
                c[j]++;
                any = true;
            }
    if (any)
        fprintf(f, "<p>Since the baseline: <b>%s new</b>, %s persisting, %s fixed.</p>\n",
                num(b1, c[0]), num(b2, c[1]), num(b3, c[2]));
}

struct iprow {
    const struct ipagg *ip;
    const char *region;
    uint64_t bad, all;
};

/* Worst share first, then address. */
static int iprow_share_cmp(const void *x, const void *y)
{
    const struct iprow *a = x, *b = y;
    long double l = (long double)a->bad / a->all, r = (long double)b->bad / b->all;
    if (l != r)
        return l > r ? -1 : 1;
    return ip_cmp(a->ip->ip, b->ip->ip);
}

static int iprow_region_cmp(const void *x, const void *y)
{
    const struct iprow *a = x, *b = y;
    int c = strcmp(a->region, b->region);
    return c ? c : iprow_share_cmp(x, y);
}

static int u64_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Edges of a region (resolver bits), for "2 of 20 edges failing"; masks:
 * every edge's, sorted. */
static uint64_t edges_in_region(const uint64_t *masks, size_t n, uint64_t mask)
{
    const uint64_t *hit = bsearch(&mask, masks, n, sizeof *masks, u64_cmp);
    if (!hit)
        return 0;
    const uint64_t *lo = hit, *hi = hit;
    while (lo > masks && lo[-1] == mask)
        lo--;
    while (hi < masks + n && *hi == mask)
        hi++;
    return (uint64_t)(hi - lo);
}

static void ip_matrix(FILE *f, struct agg *a, const uint32_t *order)
{
    struct iprow *rows = es_xcalloc(a->nips + 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; i < a->nips; i++) {
        const struct ipagg *ip = &a->ips[i];
        uint64_t bad = tally_bad(&ip->t);
        if (bad)
            rows[n++] = (struct iprow){ip, region_name(a, ip->region), bad, tally_all(&ip->t)};
    }
    char b1[32], b2[32];
    fputs("<div><h3>Failing edges by region</h3>\n", f);
    if (!n) {
        fprintf(f, "<p>None of the %s edges failed.</p></div>\n", num(b1, a->nips));
        free(rows);
        return;
    }
    uint64_t *masks = es_xcalloc(a->nips + 1, sizeof *masks);
    for (size_t i = 0; i < a->nips; i++)
        masks[i] = a->ips[i].region;
    qsort(masks, a->nips, sizeof *masks, u64_cmp);
    qsort(rows, n, sizeof *rows, iprow_share_cmp);
    size_t shown = n < IP_ROWS_MAX ? n : IP_ROWS_MAX;
    qsort(rows, shown, sizeof *rows, iprow_region_cmp);
    fputs("<table class=m id=ipm><tr><th>edge</th><th>hosts failing</th>", f);
    for (size_t v = 0; v < a->nvars; v++) {
        fputs("<th class=v>", f);
        esc_wbr(f, a->vars[order[v]]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t i = 0; i < shown; i++) {
        if (!i || rows[i].region != rows[i - 1].region) {
            uint64_t failing = 0;
            for (size_t j = 0; j < n; j++)
                failing += rows[j].region == rows[i].region;
            fprintf(f, "<tr class=rg><th colspan=%zu>region ", a->nvars + 2);
            esc(f, rows[i].region);
            fprintf(f, ": %s of %s edges failing</th></tr>\n", num(b1, failing),
                    num(b2, edges_in_region(masks, a->nips, rows[i].ip->region)));
        }
        const struct ipagg *ip = rows[i].ip;
        fputs("<tr data-ip=\"", f);
        esc(f, ip->ip);
        fputs("\"><td class=ip>", f);
        esc(f, ip->ip);
        fprintf(f, "</td><td class=n>%s of %s</td>", num(b1, ip->hosts_bad), num(b2, ip->hosts));
        uint32_t ipi = (uint32_t)(ip - a->ips);
        for (size_t v = 0; v < a->nvars; v++) {
            uint32_t key[2] = {ipi, order[v]};
            struct slot *sl = map_find(&a->miv, XXH3_64bits(key, sizeof key), same_iv, a, key);
            struct tally none = {0};
            struct es_sb what = {0};
            es_sb_printf(&what, "%s, %s", ip->ip, a->vars[order[v]]);
            td_tally(f, sl->idx ? &a->ivs[sl->idx - 1].t : &none, true, what.s);
            es_sb_free(&what);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    if (shown < n)
        fprintf(f,
                "<p class=cap>%s more failing %s left out (lower failure shares): the "
                "findings (<code>edgeshake report --format csv</code>) name every failing "
                "edge.</p>\n",
                num(b1, n - shown), plural(n - shown, "edge", "edges"));
    fputs("</div>\n", f);
    free(masks);
    free(rows);
}

static int res_cmp(const void *x, const void *y)
{
    const struct resagg *a = *(const struct resagg *const *)x,
                        *b = *(const struct resagg *const *)y;
    return strcmp(a->label, b->label);
}

static void resolver_matrix(FILE *f, struct agg *a, const uint32_t *order)
{
    if (!a->nres)
        return;
    const struct resagg *sorted[NRES];
    for (size_t r = 0; r < a->nres; r++)
        sorted[r] = &a->res[r];
    qsort(sorted, a->nres, sizeof *sorted, res_cmp);
    char b1[32];
    fputs("<div><h3>Resolvers</h3>\n<table class=m id=resm><tr><th>resolver</th><th>hosts</th>"
          "<th class=v>lookups</th>",
          f);
    for (size_t v = 0; v < a->nvars; v++) {
        fputs("<th class=v>", f);
        esc_wbr(f, a->vars[order[v]]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t i = 0; i < a->nres; i++) {
        const struct resagg *r = sorted[i];
        size_t ri = (size_t)(r - a->res);
        fputs("<tr data-resolver=\"", f);
        esc(f, r->label);
        fputs("\"><td class=mono>", f);
        esc(f, r->label);
        fprintf(f, "</td><td class=n>%s</td>", num(b1, r->hosts));
        /* lookups: hosts asked = hosts reached through it + its failures */
        struct tally look = r->dns;
        look.ok = r->hosts - r->dns.dns;
        struct es_sb what = {0};
        es_sb_printf(&what, "lookups through %s", r->label);
        td_tally(f, &look, true, what.s);
        for (size_t v = 0; v < a->nvars; v++) {
            struct tally t = a->rv[order[v] * NRES + ri];
            t.dns = r->dns.dns;
            t.dns_token = r->dns.dns_token;
            what.len = 0;
            es_sb_printf(&what, "through %s, %s (failed lookups count as failed probes)", r->label,
                         a->vars[order[v]]);
            td_tally(f, &t, true, what.s);
        }
        es_sb_free(&what);
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

/* ---- findings ---- */

/* The node, resolver or variant a fleet finding is about. */
static const char *subject(const struct es_finding *x)
{
    if (*S(x->failing_ips))
        return x->failing_ips;
    if (*S(x->failing_resolvers))
        return x->failing_resolvers;
    return *x->variant ? x->variant : "all";
}

static void list_cell(FILE *f, const char *list, const char *cls)
{
    fprintf(f, "<td%s>", cls);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ";");
        char *one = es_xstrndup(p, n);
        esc(f, one);
        free(one);
        p += n;
        if (*p == ';') {
            fputs("<br>", f);
            p++;
        }
    }
    fputs("</td>", f);
}

static void fleet_findings(FILE *f, const struct es_findings *fs)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++)
        n += is_fleet(&fs->v[i]);
    char b1[32], b2[32];
    fprintf(f, "<section id=fleet><h2>Fleet findings (%s)</h2>\n", num(b1, n));
    if (!n) {
        fputs("<p>None: no edge, resolver or variant fails across hosts.</p></section>\n", f);
        return;
    }
    fputs("<table class=f><thead><tr><th>kind</th><th>node / resolver</th><th>variant</th>"
          "<th>failure</th><th>hosts failing</th><th>via</th><th>sample hosts</th><th>why</th>"
          "<th>reproduce</th></tr></thead><tbody>\n",
          f);
    size_t shown = 0;
    for (int k = 0; k < ES_FINDING_NKINDS; k++)
        for (size_t i = 0; i < fs->n && shown < FLEET_ROWS_MAX; i++) {
            const struct es_finding *x = &fs->v[i];
            if ((int)x->kind != k || !is_fleet(x))
                continue;
            shown++;
            fprintf(f, "<tr><td class=k-%s>%s", es_finding_kind_name(x->kind),
                    es_finding_kind_name(x->kind));
            if (*S(x->change))
                fprintf(f, " <small>(%s)</small>", x->change);
            fputs("</td><td class=mono>", f);
            esc(f, subject(x));
            fputs("</td>", f);
            list_cell(f, *x->variant ? x->variant : "all", " class=var");
            fputs("<td>", f);
            esc(f, x->failure);
            if (x->hosts_total)
                fprintf(f, "</td><td class=n>%s of %s</td>", num(b1, x->hosts_failing),
                        num(b2, x->hosts_total));
            else
                fputs("</td><td class=n>every host</td>", f);
            fputs("<td>", f);
            esc(f, S(x->failing_resolvers));
            fputs("</td>", f);
            list_cell(f, S(x->sample_hosts), " class=mono");
            fputs("<td>", f);
            esc(f, x->explain);
            fputs("</td><td><code>", f);
            esc(f, x->repro);
            fputs("</code></td></tr>\n", f);
        }
    fputs("</tbody></table>\n", f);
    if (shown < n)
        fprintf(f,
                "<p class=cap>%s more fleet findings left out: <code>edgeshake report "
                "--format csv</code> lists them all.</p>\n",
                num(b1, n - shown));
    fputs("</section>\n", f);
}

static void host_row(FILE *f, const struct es_finding *x, const char *group_explain)
{
    fputs("<tr><td class=mono>", f);
    esc(f, x->host);
    fprintf(f, ":%d", x->port);
    if (*S(x->change))
        fprintf(f, " <small>(%s)</small>", x->change);
    fputs("</td>", f);
    list_cell(f, *x->variant ? x->variant : "all", " class=var");
    fputs("<td class=mono>", f);
    if (*S(x->failing_ips)) {
        esc(f, x->failing_ips);
        if (*S(x->failing_resolvers)) {
            fputs(" <small>(", f);
            esc(f, x->failing_resolvers);
            fputs(")</small>", f);
        }
    } else if (*S(x->failing_resolvers)) {
        fputs("resolver ", f);
        esc(f, x->failing_resolvers);
    }
    if (*S(x->failing_vantages)) {
        fputs(" <small>from ", f);
        esc(f, x->failing_vantages);
        fputs("</small>", f);
    }
    fputs("</td><td class=mono>", f);
    esc(f, S(x->passing_ips));
    if (*S(x->passing_resolvers)) {
        fputs(" <small>(", f);
        esc(f, x->passing_resolvers);
        fputs(")</small>", f);
    }
    fprintf(f, "</td><td class=n>%llu/%llu</td><td>", (unsigned long long)x->failed,
            (unsigned long long)x->attempts);
    if (strcmp(x->explain, group_explain))
        esc(f, x->explain);
    fputs("</td><td><code>", f);
    esc(f, x->repro);
    fputs("</code></td></tr>\n", f);
}

static void host_findings(FILE *f, const struct groups *gs)
{
    char b1[32];
    fprintf(f, "<section id=hosts><h2>Host findings (%s)</h2>\n", num(b1, gs->n));
    if (!gs->n) {
        fputs("<p>None.</p></section>\n", f);
        return;
    }
    fputs("<p><label>Filter: <input id=q type=search size=40 placeholder=\"host, ip, "
          "resolver, failure\"></label> <small>(filters the findings and the heat "
          "maps)</small></p>\n",
          f);
    size_t left_out = 0;
    for (size_t k = 0; k < gs->ng; k++) {
        const struct group *g = &gs->g[k];
        const struct es_finding *first = g->v[0];
        fprintf(f, "<details class=grp%s><summary><span class=k-%s>%s</span> ",
                gs->n <= OPEN_GROUPS_UPTO ? " open" : "", es_finding_kind_name(first->kind),
                es_finding_kind_name(first->kind));
        esc(f, first->failure);
        fprintf(f, " &mdash; %s %s<span class=hits></span></summary>\n", num(b1, g->n),
                plural(g->n, "finding", "findings"));
        fputs("<p>why: ", f);
        esc(f, first->explain);
        fputs("</p>\n<table class=f><thead><tr><th>host</th><th>variant</th><th>failing</th>"
              "<th>passing</th><th>failed</th><th>why (when it differs)</th>"
              "<th>reproduce</th></tr></thead><tbody>\n",
              f);
        for (size_t i = 0; i < g->rows; i++)
            host_row(f, g->v[i], first->explain);
        fputs("</tbody></table>\n", f);
        if (g->rows < g->n) {
            left_out += g->n - g->rows;
            fprintf(f,
                    "<p class=cap>%s more findings of this group left out (the filter does "
                    "not see them): <code>edgeshake report --format csv</code> lists every "
                    "finding.</p>\n",
                    num(b1, g->n - g->rows));
        }
        fputs("</details>\n", f);
    }
    if (left_out)
        fprintf(f,
                "<p class=cap>In all, %s host findings are left out of this page to keep it "
                "small (at most %d per group, %d in all).</p>\n",
                num(b1, left_out), GROUP_ROWS_MAX, HOST_ROWS_MAX);
    fputs("</section>\n", f);
}

/* ---- heat maps ---- */

static int hcell_cmp(const void *x, const void *y)
{
    const struct hcell *a = x, *b = y;
    if (a->host != b->host)
        return a->host < b->host ? -1 : 1;
    int c = strcmp(a->region, b->region);
    if (c)
        return c;
    if (!*a->ip != !*b->ip) /* DNS after the addresses of its resolver */
        return *a->ip ? -1 : 1;
    c = ip_cmp(a->ip, b->ip);
    if (c)
        return c;
    return a->var < b->var ? -1 : a->var > b->var;
}

static bool same_column(const struct hcell *x, const struct hcell *y)
{
    return x->region == y->region && x->ip == y->ip;
}

static void heat_map(FILE *f, const struct agg *a, const struct hsel *h, const struct hcell *c,
                     size_t n)
{
    fputs("<div class=hm data-host=\"", f);
    esc(f, h->host);
    fputs("\"><h3>", f);
    esc(f, h->host);
    fprintf(f, ":%d", h->port);
    for (int k = 0; k < ES_FINDING_NKINDS; k++)
        if (h->kinds & (1u << k))
            fprintf(f, " <span class=k-%s>%s</span>", es_finding_kind_name(k),
                    es_finding_kind_name(k));
    fputs("</h3>\n", f);
    if (!n) {
        fputs("<p>No probe rows for this host in the files.</p></div>\n", f);
        return;
    }
    /* Rows: the host's variants, in label order. */
    bool *has = es_xcalloc(a->nvars + 1, sizeof *has);
    for (size_t i = 0; i < n; i++)
        if (c[i].var != NONE)
            has[a->var_rank[c[i].var]] = true;
    uint32_t *order = vars_in_order(a);
    fputs("<table class=heat><tr><th></th>", f);
    for (size_t i = 0; i < n;) { /* region headers over runs of columns */
        size_t j = i, span = 0;
        while (j < n && c[j].region == c[i].region) {
            if (j == i || !same_column(&c[j], &c[j - 1]))
                span++;
            j++;
        }
        fprintf(f, "<th colspan=%zu>", span);
        esc(f, c[i].region);
        fputs("</th>", f);
        i = j;
    }
    fputs("</tr>\n<tr><th></th>", f);
    for (size_t i = 0; i < n; i++) {
        if (i && same_column(&c[i], &c[i - 1]))
            continue;
        fputs("<th class=ip>", f);
        esc(f, *c[i].ip ? c[i].ip : "lookup");
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    size_t nrows = 0;
    for (size_t r = 0; r < a->nvars; r++) {
        if (!has[r])
            continue;
        nrows++;
        uint32_t var = order[r];
        fputs("<tr><th class=var>", f);
        esc(f, a->vars[var]);
        fputs("</th>", f);
        for (size_t i = 0; i < n;) {
            size_t j = i;
            const struct hcell *hit = NULL;
            while (j < n && same_column(&c[j], &c[i])) {
                if (c[j].var == var || c[j].var == NONE)
                    hit = &c[j];
                j++;
            }
            struct tally none = {0};
            struct es_sb what = {0};
            if (*c[i].ip)
                es_sb_printf(&what, "%s via %s, %s", c[i].ip, c[i].region, a->vars[var]);
            else
                es_sb_printf(&what, "lookup through %s", c[i].region);
            td_tally(f, hit ? &hit->t : &none, false, what.s);
            es_sb_free(&what);
            i = j;
        }
        fputs("</tr>\n", f);
    }
    if (!nrows) { /* only failed lookups: one row */
        fputs("<tr><th class=var>(no address)</th>", f);
        for (size_t i = 0; i < n; i++) {
            struct es_sb what = {0};
            es_sb_printf(&what, "lookup through %s", c[i].region);
            td_tally(f, &c[i].t, false, what.s);
            es_sb_free(&what);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
    free(order);
    free(has);
}

static void heat_maps(FILE *f, struct agg *a)
{
    char b1[32], b2[32];
    fprintf(f, "<section id=heat><h2>Heat maps of the hosts with findings (%s of %s)</h2>\n",
            num(b1, a->ndrawn), num(b2, a->nhosts));
    if (!a->nhosts) {
        fputs("<p>No host has a finding.</p></section>\n", f);
        return;
    }
    fputs("<p>Rows: variants; columns: the host's edge IPs grouped by the resolvers that "
          "returned them, in the same order on every map (region, then address), and a "
          "<i>lookup</i> column for each resolver whose lookup failed.</p>\n<div class=maps>\n",
          f);
    if (a->ncells)
        qsort(a->cells, a->ncells, sizeof *a->cells, hcell_cmp);
    size_t i = 0;
    for (uint32_t h = 0; h < a->nhosts; h++) {
        if (!a->hosts[h].drawn)
            continue;
        size_t j = i;
        while (j < a->ncells && a->cells[j].host == h)
            j++;
        heat_map(f, a, &a->hosts[h], a->cells + i, j - i);
        i = j;
    }
    fputs("</div>\n", f);
    if (a->ndrawn < a->nhosts)
        fprintf(f,
                "<p class=cap>Heat maps of %s more %s with findings left out: "
                "<code>edgeshake report --format csv</code> lists their findings.</p>\n",
                num(b1, a->nhosts - a->ndrawn), plural(a->nhosts - a->ndrawn, "host", "hosts"));
    fputs("</section>\n", f);
}

int es_report_write_html(FILE *f, const struct es_report_input *in, const struct es_findings *fs)
{
    struct agg a;
    struct groups gs;
    groups_build(&gs, fs);
    agg_init(&a);
    select_hosts(&a, fs, &gs);
    es_report_heatmap(in, on_cell, &a);
    rank_vars(&a);
    uint32_t *order = vars_in_order(&a);
    size_t nfleet = 0;
    for (size_t i = 0; i < fs->n; i++)
        nfleet += is_fleet(&fs->v[i]);

    char b1[32], b2[32], b3[32], b4[32];
    fputs("<!doctype html>\n<html lang=en><head><meta charset=utf-8>\n"
          "<meta name=viewport content=\"width=device-width\">\n"
          "<title>edgeshake report</title>\n",
          f);
    fputs(css, f);
    fputs("</head><body>\n<h1>edgeshake report</h1>\n", f);
    fprintf(f, "<p>%s %s, %s rows, %s %s, %s %s", num(b1, in->nfiles),
            plural(in->nfiles, "file", "files"), num(b2, in->rows), num(b3, in->nhosts),
            plural(in->nhosts, "host", "hosts"), num(b4, a.nips), plural(a.nips, "edge", "edges"));
    if (in->bad_rows)
        fprintf(f, ", %s malformed rows skipped", num(b2, in->bad_rows));
    fputs(".</p>\n", f);
    if (in->planned && !in->rows)
        fprintf(f, "<p><b>%s planned rows from --dry-run: nothing was probed.</b></p>\n",
                num(b1, in->planned));
    fprintf(f,
            "<nav><a href=\"#overview\">overview</a><a href=\"#fleet\">fleet findings (%zu)"
            "</a><a href=\"#hosts\">host findings (%zu)</a><a href=\"#heat\">heat maps</a>"
            "</nav>\n",
            nfleet, fs->n - nfleet);

    fputs("<section id=overview><h2>Overview</h2>\n", f);
    counts_table(f, fs);
    if (!fs->n && in->rows)
        fputs("<p>No findings: every host answered every variant on every edge.</p>\n", f);
    legend(f);
    fputs("<div class=row>\n", f);
    ip_matrix(f, &a, order);
    resolver_matrix(f, &a, order);
    fputs("</div></section>\n", f);

    fleet_findings(f, fs);
    host_findings(f, &gs);
    heat_maps(f, &a);
    fputs(js, f);
    fputs("</body></html>\n", f);
    free(order);
    agg_free(&a);
    groups_free(&gs);
    return ferror(f) ? -1 : 0;
}
