/* reporthtml_model.c - the model behind the html report (reporthtml-int.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "edgeshake/intern.h"
#include "edgeshake/report.h"
#include "edgeshake/util.h"
#include "reporthtml-int.h"

/* ---- a hash table of indexes (open addressing; the hash is kept in the
 * slot, equality is the caller's) ---- */

typedef bool (*same_fn)(const void *ctx, uint32_t idx, const void *key);

static void map_init(struct rh_map *m)
{
    m->mask = 63;
    m->n = 0;
    m->s = es_xcalloc(m->mask + 1, sizeof *m->s);
}

/* The slot of key (idx != 0), or the empty slot where it belongs. */
static struct rh_slot *map_find(const struct rh_map *m, uint64_t h, same_fn same, const void *ctx,
                                const void *key)
{
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask)
        if (!m->s[i].idx || (m->s[i].h == h && same(ctx, m->s[i].idx - 1, key)))
            return &m->s[i];
}

/* Fills the empty slot sl (from map_find) with idx, growing at half load:
 * slot pointers are stale afterwards. */
static void map_add(struct rh_map *m, struct rh_slot *sl, uint64_t h, uint32_t idx)
{
    sl->h = h;
    sl->idx = idx + 1;
    if (++m->n * 2 <= m->mask + 1)
        return;
    size_t old_cap = m->mask + 1;
    struct rh_slot *old = m->s;
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

static bool same_ptr_ip(const void *ctx, uint32_t i, const void *key)
{
    return ((const struct rh_model *)ctx)->ips[i].ip == key;
}

static bool same_ptr_var(const void *ctx, uint32_t i, const void *key)
{
    return ((const struct rh_model *)ctx)->vars[i] == key;
}

static bool same_ptr_combo(const void *ctx, uint32_t i, const void *key)
{
    return ((const struct rh_model *)ctx)->combos[i].s == key;
}

static bool same_iv(const void *ctx, uint32_t i, const void *key)
{
    const struct rh_iv *x = &((const struct rh_model *)ctx)->ivs[i];
    const uint32_t *k = key;
    return x->ip == k[0] && x->var == k[1];
}

struct host_key {
    const char *name;
    int port;
};

static bool same_host(const void *ctx, uint32_t i, const void *key)
{
    const struct rh_host *x = &((const struct rh_model *)ctx)->hosts[i];
    const struct host_key *k = key;
    return x->port == k->port && !strcmp(x->host, k->name);
}

static uint64_t host_hash(const char *name, int port)
{
    return XXH3_64bits_withSeed(name, strlen(name), (uint64_t)port);
}

/* The resolver bit of a label (the last one is shared past RH_NRES labels, as
 * report.c does). */
static unsigned res_bit(struct rh_model *a, const char *label, size_t len)
{
    const char *s = es_intern_n(a->pool, label, len);
    for (size_t i = 0; i < a->nres; i++)
        if (a->res[i].label == s)
            return (unsigned)i;
    if (a->nres == RH_NRES)
        return RH_NRES - 1;
    a->res[a->nres].label = s;
    return (unsigned)a->nres++;
}

/* The bits of a ';'-joined resolver list ("-" = none). */
static uint64_t res_mask(struct rh_model *a, const char *list)
{
    if (a->last_res && !strcmp(a->last_res, list))
        return a->last_mask;
    const char *s = es_intern(a->pool, list);
    uint64_t h = ptr_hash(s);
    struct rh_slot *sl = map_find(&a->mcombo, h, same_ptr_combo, a, s);
    if (!sl->idx) {
        uint64_t m = 0;
        for (const char *p = s; *p;) {
            size_t n = strcspn(p, ";");
            if (n && !(n == 1 && *p == '-'))
                m |= UINT64_C(1) << res_bit(a, p, n);
            p += n + (p[n] == ';');
        }
        a->combos = es_xgrow(a->combos, &a->capcombos, a->ncombos + 1, sizeof *a->combos);
        a->combos[a->ncombos] = (struct rh_combo){s, m};
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

const char *rh_region_name(struct rh_model *a, uint64_t mask)
{
    const char *labels[RH_NRES];
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

static uint32_t var_index(struct rh_model *a, const char *variant, const char *vantage)
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
    struct rh_slot *sl = map_find(&a->mvar, h, same_ptr_var, a, s);
    if (!sl->idx) {
        a->vars = es_xgrow(a->vars, &a->capvars, a->nvars + 1, sizeof *a->vars);
        a->vars[a->nvars] = s;
        map_add(&a->mvar, sl, h, (uint32_t)a->nvars++);
        sl = map_find(&a->mvar, h, same_ptr_var, a, s);
        size_t need = a->nvars * RH_NRES;
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

static uint32_t ip_index(struct rh_model *a, const char *ip)
{
    const char *s = es_intern(a->pool, ip);
    uint64_t h = ptr_hash(s);
    struct rh_slot *sl = map_find(&a->mip, h, same_ptr_ip, a, s);
    if (!sl->idx) {
        a->ips = es_xgrow(a->ips, &a->capips, a->nips + 1, sizeof *a->ips);
        a->ips[a->nips] = (struct rh_ip){.ip = s};
        map_add(&a->mip, sl, h, (uint32_t)a->nips++);
        return (uint32_t)a->nips - 1;
    }
    return sl->idx - 1;
}

static struct rh_iv *iv_get(struct rh_model *a, uint32_t ip, uint32_t var)
{
    uint32_t key[2] = {ip, var};
    uint64_t h = XXH3_64bits(key, sizeof key);
    struct rh_slot *sl = map_find(&a->miv, h, same_iv, a, key);
    if (!sl->idx) {
        a->ivs = es_xgrow(a->ivs, &a->capivs, a->nivs + 1, sizeof *a->ivs);
        a->ivs[a->nivs] = (struct rh_iv){.ip = ip, .var = var};
        map_add(&a->miv, sl, h, (uint32_t)a->nivs++);
        return &a->ivs[a->nivs - 1];
    }
    return &a->ivs[sl->idx - 1];
}

/* Adds a host with findings (kind); the first RH_HEAT_HOSTS_MAX are drawn. */
static void host_select(struct rh_model *a, const char *name, size_t len, int port, int kind)
{
    const char *s = es_intern_n(a->pool, name, len);
    struct host_key k = {s, port};
    uint64_t h = host_hash(s, port);
    struct rh_slot *sl = map_find(&a->mhost, h, same_host, a, &k);
    if (!sl->idx) {
        a->hosts = es_xgrow(a->hosts, &a->caphosts, a->nhosts + 1, sizeof *a->hosts);
        a->hosts[a->nhosts] = (struct rh_host){.host = s, .port = port};
        if (a->ndrawn < RH_HEAT_HOSTS_MAX) {
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

/* Kind (importance), then the larger group first. */
static int group_order(const void *x, const void *y)
{
    const struct rh_group *a = x, *b = y;
    if (a->v[0]->kind != b->v[0]->kind)
        return a->v[0]->kind < b->v[0]->kind ? -1 : 1;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return strcmp(a->v[0]->failure, b->v[0]->failure);
}

static int group_size_cmp(const void *x, const void *y)
{
    const struct rh_group *a = *(const struct rh_group *const *)x,
                          *b = *(const struct rh_group *const *)y;
    return a->n < b->n ? -1 : a->n > b->n;
}

/* Groups the host findings and shares RH_HOST_ROWS_MAX rows between the groups,
 * smallest first, so that a small group is never crowded out by large ones. */
void rh_groups_build(struct rh_groups *gs, const struct es_findings *fs)
{
    gs->v = es_xcalloc(fs->n + 1, sizeof *gs->v);
    gs->n = 0;
    for (size_t i = 0; i < fs->n; i++)
        if (!rh_is_fleet(&fs->v[i]))
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
        gs->g[gs->ng++] = (struct rh_group){(const struct es_finding *const *)v + i, j - i, 0};
        i = j;
    }
    qsort(gs->g, gs->ng, sizeof *gs->g, group_order);
    struct rh_group **by_size = es_xcalloc(gs->ng, sizeof *by_size);
    for (size_t k = 0; k < gs->ng; k++)
        by_size[k] = &gs->g[k];
    qsort(by_size, gs->ng, sizeof *by_size, group_size_cmp);
    size_t budget = RH_HOST_ROWS_MAX;
    for (size_t k = 0; k < gs->ng; k++) {
        size_t share = budget / (gs->ng - k), rows = by_size[k]->n;
        if (rows > RH_GROUP_ROWS_MAX)
            rows = RH_GROUP_ROWS_MAX;
        if (rows > share)
            rows = share;
        by_size[k]->rows = rows;
        budget -= rows;
    }
    free(by_size);
}

void rh_groups_free(struct rh_groups *gs)
{
    free(gs->v);
    free(gs->g);
    memset(gs, 0, sizeof *gs);
}

/* Hosts with findings in the order their maps are drawn: the sample hosts of
 * fleet findings, then one host of each group of host findings in turn (so
 * that the maps show every kind of problem before a second host of any). */
static void select_hosts(struct rh_model *a, const struct es_findings *fs,
                         const struct rh_groups *gs)
{
    for (size_t i = 0; i < fs->n; i++) {
        const struct es_finding *x = &fs->v[i];
        if (!rh_is_fleet(x))
            continue;
        for (const char *p = rh_str(x->sample_hosts); *p;) {
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
            if (n) /* port 0: the host on whatever port its rows have */
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
uint64_t rh_tally_bad(const struct rh_tally *t)
{
    return t->fail + min_u64(t->ok, t->vbad + t->h2bad + t->httpbad) + t->dns;
}

uint64_t rh_tally_all(const struct rh_tally *t)
{
    return t->ok + t->fail + t->dns;
}

static void tally_add(struct rh_model *a, struct rh_tally *t, const struct es_heat_cell *c)
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
    t->httpbad += c->httpfail;
    if (*c->http && !t->http)
        t->http = es_intern(a->pool, c->http);
    if (c->fail && *c->failure && !t->failure)
        t->failure = es_intern(a->pool, c->failure);
}

static void on_cell(void *arg, const struct es_heat_cell *c)
{
    struct rh_model *a = arg;
    if (!a->cur_host || a->cur_port != c->port || strcmp(a->cur_host, c->host)) {
        a->serial++;
        free(a->cur_host);
        a->cur_host = es_xstrdup(c->host);
        a->cur_port = c->port;
        struct host_key k = {c->host, c->port}, any = {c->host, 0};
        struct rh_slot *sl = map_find(&a->mhost, host_hash(c->host, c->port), same_host, a, &k);
        struct rh_slot *wild = map_find(&a->mhost, host_hash(c->host, 0), same_host, a, &any);
        if (wild->idx) { /* a sample host named without its port: its map */
            if (sl->idx)
                a->hosts[sl->idx - 1].dup = true;
            sl = wild;
        }
        a->cur_sel = sl->idx && a->hosts[sl->idx - 1].drawn ? sl->idx - 1 : RH_NONE;
        if (a->cur_sel != RH_NONE && !a->hosts[a->cur_sel].seen_port)
            a->hosts[a->cur_sel].seen_port = c->port;
    }
    uint64_t mask = res_mask(a, c->resolvers);
    for (uint64_t m = mask; m; m &= m - 1) { /* each resolver bit */
        unsigned r = (unsigned)__builtin_ctzll(m);
        if (a->res[r].seen != a->serial) {
            a->res[r].seen = a->serial;
            a->res[r].hosts++;
        }
        if (!*c->ip)
            tally_add(a, &a->res[r].dns, c);
    }
    uint32_t var = RH_NONE;
    if (*c->ip) {
        var = var_index(a, c->variant, c->vantage);
        struct rh_tally one = {0};
        tally_add(a, &one, c);
        bool bad = rh_tally_bad(&one) > 0;
        uint32_t ipi = ip_index(a, c->ip); /* may move a->ips */
        struct rh_ip *ip = &a->ips[ipi];
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
        for (uint64_t m = mask; m; m &= m - 1)
            tally_add(a, &a->rv[var * RH_NRES + (unsigned)__builtin_ctzll(m)], c);
    }
    if (a->cur_sel == RH_NONE)
        return;
    a->cells = es_xgrow(a->cells, &a->capcells, a->ncells + 1, sizeof *a->cells);
    struct rh_cell *h = &a->cells[a->ncells++];
    *h = (struct rh_cell){.host = a->cur_sel,
                          .var = var,
                          .ip = es_intern(a->pool, c->ip),
                          .region = rh_region_name(a, mask)};
    tally_add(a, &h->t, c);
}

static void agg_init(struct rh_model *a)
{
    memset(a, 0, sizeof *a);
    a->pool = es_intern_new();
    map_init(&a->mip);
    map_init(&a->miv);
    map_init(&a->mvar);
    map_init(&a->mcombo);
    map_init(&a->mhost);
}

static void agg_free(struct rh_model *a)
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
static void rank_vars(struct rh_model *a)
{
    const char **sorted = es_xcalloc(a->nvars + 1, sizeof *sorted);
    if (a->nvars) /* a->vars is NULL without variants (a DNS-only file) */
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
uint32_t *rh_vars_in_order(const struct rh_model *a)
{
    uint32_t *order = es_xcalloc(a->nvars + 1, sizeof *order);
    for (size_t i = 0; i < a->nvars; i++)
        order[a->var_rank[i]] = (uint32_t)i;
    return order;
}

void rh_model_build(struct rh_model *m, const struct es_report_input *in,
                    const struct es_findings *fs, const struct rh_groups *gs)
{
    agg_init(m);
    select_hosts(m, fs, gs);
    es_report_heatmap(in, on_cell, m);
    rank_vars(m);
}

void rh_model_free(struct rh_model *m)
{
    agg_free(m);
}

const struct rh_tally *rh_iv_tally(const struct rh_model *m, uint32_t ip, uint32_t var)
{
    uint32_t key[2] = {ip, var};
    const struct rh_slot *sl = map_find(&m->miv, XXH3_64bits(key, sizeof key), same_iv, m, key);
    return sl->idx ? &m->ivs[sl->idx - 1].t : NULL;
}
