/* reporttab.c - reading scan files into the report's tables; see
 * include/edgeshake/reporttab.h. */
#include "edgeshake/reporttab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <xxhash.h>

#include "edgeshake/net.h"
#include "edgeshake/util.h"

/* ---- columns ---- */

enum col {
    C_HOST,
    C_PORT,
    C_IP,
    C_RESOLVER,
    C_SNI,
    C_VARIANT,
    C_TLS_OFFERED,
    C_ALPN_OFFERED,
    C_CIPHERS_OFFERED,
    C_GROUPS_OFFERED,
    C_STATUS,
    C_ERROR,
    C_ALERT,
    C_ALERT_NAME,
    C_VERIFY,
    C_CERT_SHA,
    C_H2,
    C_VANTAGE,
    C_ALERT_FROM,
    C_STAGE,
    C_RESOLVER_ADDR,
    C_HTTP_STATUS,
    C_HELLO,
    C_KX_GROUP,
    C_KX_BITS,
    C_CERT_KEY,
    C_CERT_DAYS,
    C_CLOCK_SKEW,
    C_TIME,
    NCOL
};
/* Every column has its name: a missing initialiser would be a NULL name. */
_Static_assert(NCOL == 29, "col_names lists every enum col");
static const char *const col_names[NCOL] = {
    "host",           "port",         "ip",
    "resolver",       "sni",          "variant",
    "tls_offered",    "alpn_offered", "ciphers_offered",
    "groups_offered", "status",       "error",
    "alert",          "alert_name",   "verify",
    "cert_sha256",    "h2",           "vantage",
    "alert_from",     "stage",        "resolver_addr",
    "http_status",    "hello",        "kx_group",
    "kx_bits",        "cert_key",     "cert_days_left",
    "clock_skew_s",   "time",
};
static const bool col_required[NCOL] = {
    [C_HOST] = true,    [C_PORT] = true,   [C_IP] = true,    [C_RESOLVER] = true,
    [C_VARIANT] = true, [C_STATUS] = true, [C_ERROR] = true,
};

enum { HOSTCACHE = 4096 };

/* ---- arena ---- */

struct rt_block {
    struct rt_block *next;
    size_t used, cap;
    char data[];
};

static const char *arena_copy(struct rt_arena *a, const char *s, size_t len)
{
    struct rt_block *b = a->head;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > 65536 ? len + 1 : 65536;
        b = es_xmalloc(sizeof *b + cap);
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    char *d = b->data + b->used;
    memcpy(d, s, len);
    d[len] = '\0';
    b->used += len + 1;
    return d;
}

static void arena_free(struct rt_arena *a)
{
    for (struct rt_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}

/* ---- string -> id ---- */

static void strtab_init(struct rt_strtab *t)
{
    memset(t, 0, sizeof *t);
    t->mask = 255;
    t->slots = es_xcalloc(t->mask + 1, sizeof *t->slots);
}

static void strtab_free(struct rt_strtab *t)
{
    free(t->v);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static uint32_t strtab_get(struct rt_strtab *t, struct rt_arena *a, const char *s, size_t len)
{
    uint32_t h = (uint32_t)XXH3_64bits(s, len);
    size_t i = h & t->mask;
    for (uint32_t id; (id = t->slots[i]) != 0; i = (i + 1) & t->mask) {
        const struct rt_str *e = &t->v[id - 1];
        if (e->hash == h && e->len == len && !memcmp(e->s, s, len))
            return id;
    }
    t->v = es_xgrow(t->v, &t->cap, t->n + 1, sizeof *t->v);
    t->v[t->n] = (struct rt_str){arena_copy(a, s, len), (uint32_t)len, h};
    t->slots[i] = (uint32_t)++t->n;
    if (t->n * 4 > (t->mask + 1) * 3) {
        size_t nmask = t->mask * 2 + 1;
        uint32_t *n = es_xcalloc(nmask + 1, sizeof *n);
        for (size_t k = 0; k < t->n; k++) {
            size_t j = t->v[k].hash & nmask;
            while (n[j])
                j = (j + 1) & nmask;
            n[j] = (uint32_t)k + 1;
        }
        free(t->slots);
        t->slots = n;
        t->mask = nmask;
    }
    return (uint32_t)t->n;
}

/* A token id that fits 16 bits: a file with more distinct tokens than that
 * is hostile, and the rest share one. */
static uint16_t token_id(struct rt_report *r, const char *s)
{
    uint32_t id = strtab_get(&r->tokens, &r->arena, s, strlen(s));
    if (id > UINT16_MAX)
        id = strtab_get(&r->tokens, &r->arena, "(other)", 7);
    return id > UINT16_MAX ? 1 : (uint16_t)id;
}

/* ---- (a, b) -> index, for owners with more than RT_CHAIN children ---- */

static void pairtab_init(struct rt_pairtab *t)
{
    memset(t, 0, sizeof *t);
}

static void pairtab_free(struct rt_pairtab *t)
{
    free(t->keys);
    free(t->vals);
    memset(t, 0, sizeof *t);
}

static size_t pair_slot(uint64_t key, size_t mask)
{
    return (size_t)XXH3_64bits(&key, sizeof key) & mask;
}

static void pairtab_put(struct rt_pairtab *t, uint64_t key, uint32_t index)
{
    if (!t->keys || (t->n + 1) * 4 > (t->mask + 1) * 3) {
        size_t nmask = t->keys ? t->mask * 2 + 1 : 1023;
        uint64_t *nk = es_xcalloc(nmask + 1, sizeof *nk);
        uint32_t *nv = es_xcalloc(nmask + 1, sizeof *nv);
        for (size_t s = 0; t->keys && s <= t->mask; s++) {
            if (!t->vals[s])
                continue;
            size_t j = pair_slot(t->keys[s], nmask);
            while (nv[j])
                j = (j + 1) & nmask;
            nk[j] = t->keys[s];
            nv[j] = t->vals[s];
        }
        free(t->keys);
        free(t->vals);
        t->keys = nk;
        t->vals = nv;
        t->mask = nmask;
    }
    size_t s = pair_slot(key, t->mask);
    while (t->vals[s])
        s = (s + 1) & t->mask;
    t->keys[s] = key;
    t->vals[s] = index + 1;
    t->n++;
}

/* The index stored for key, or -1. */
static int64_t pairtab_get(const struct rt_pairtab *t, uint64_t key)
{
    if (!t->keys)
        return -1;
    for (size_t s = pair_slot(key, t->mask); t->vals[s]; s = (s + 1) & t->mask)
        if (t->keys[s] == key)
            return (int64_t)t->vals[s] - 1;
    return -1;
}

static uint64_t pair(uint32_t a, uint32_t b)
{
    return (uint64_t)a << 32 | b;
}

/* ---- keys ---- */

static uint32_t host_get(struct rt_report *r, const char *name, int port)
{
    size_t len = strlen(name);
    uint64_t h64 = XXH3_64bits_withSeed(name, len, (uint64_t)port);
    struct rt_host *e;
    /* Rows of one host come close together: a small cache saves the table
     * (and its cache misses) for most rows. */
    uint32_t c = (uint32_t)(h64 >> 40) & (HOSTCACHE - 1);
    if (r->hostcache[c].hash == h64 && r->hostcache[c].id) {
        e = &r->hosts[r->hostcache[c].id - 1];
        if (e->port == port && !strcmp(e->name, name))
            return r->hostcache[c].id - 1;
    }
    uint32_t h = (uint32_t)h64;
    size_t s = h & r->hostmask;
    for (uint32_t i; (i = r->hostslots[s]) != 0; s = (s + 1) & r->hostmask) {
        e = &r->hosts[i - 1];
        if (e->hash == h && e->port == port && !strcmp(e->name, name)) {
            r->hostcache[c].hash = h64;
            r->hostcache[c].id = i;
            return i - 1;
        }
    }
    r->hosts = es_xgrow(r->hosts, &r->caphosts, r->nhosts + 1, sizeof *r->hosts);
    e = &r->hosts[r->nhosts];
    memset(e, 0, sizeof *e);
    e->name = arena_copy(&r->arena, name, len);
    e->hash = h;
    e->port = (uint16_t)port;
    r->hostslots[s] = (uint32_t)++r->nhosts;
    r->hostcache[c].hash = h64;
    r->hostcache[c].id = (uint32_t)r->nhosts;
    if (r->nhosts * 4 > (r->hostmask + 1) * 3) {
        size_t nmask = r->hostmask * 2 + 1;
        uint32_t *n = es_xcalloc(nmask + 1, sizeof *n);
        for (size_t k = 0; k < r->nhosts; k++) {
            size_t j = r->hosts[k].hash & nmask;
            while (n[j])
                j = (j + 1) & nmask;
            n[j] = (uint32_t)k + 1;
        }
        free(r->hostslots);
        r->hostslots = n;
        r->hostmask = nmask;
    }
    return (uint32_t)r->nhosts - 1;
}

static uint32_t hv_get(struct rt_report *r, uint32_t host, uint32_t variant)
{
    struct rt_host *h = &r->hosts[host];
    if (h->nvariants <= RT_CHAIN) {
        for (uint32_t v = h->first_hv; v; v = r->hvs[v - 1].next)
            if (r->hvs[v - 1].variant == variant)
                return v - 1;
    } else {
        int64_t i = pairtab_get(&r->thv, pair(host, variant));
        if (i >= 0)
            return (uint32_t)i;
    }
    r->hvs = es_xgrow(r->hvs, &r->caphvs, r->nhvs + 1, sizeof *r->hvs);
    struct rt_hv *e = &r->hvs[r->nhvs];
    memset(e, 0, sizeof *e);
    e->host = host;
    e->variant = variant;
    e->next = h->first_hv;
    h->first_hv = (uint32_t)++r->nhvs;
    if (h->nvariants < UINT16_MAX)
        h->nvariants++;
    if (h->nvariants == RT_CHAIN + 1) {
        for (uint32_t v = h->first_hv; v; v = r->hvs[v - 1].next)
            pairtab_put(&r->thv, pair(host, r->hvs[v - 1].variant), v - 1);
    } else if (h->nvariants > RT_CHAIN + 1) {
        pairtab_put(&r->thv, pair(host, variant), (uint32_t)r->nhvs - 1);
    }
    return (uint32_t)r->nhvs - 1;
}

static uint32_t hi_get(struct rt_report *r, uint32_t host, uint32_t ip)
{
    struct rt_host *h = &r->hosts[host];
    if (h->nips <= RT_CHAIN) {
        for (uint32_t i = h->first_hi; i; i = r->his[i - 1].next)
            if (r->his[i - 1].ip == ip)
                return i - 1;
    } else {
        int64_t i = pairtab_get(&r->thi, pair(host, ip));
        if (i >= 0)
            return (uint32_t)i;
    }
    r->his = es_xgrow(r->his, &r->caphis, r->nhis + 1, sizeof *r->his);
    struct rt_hi *e = &r->his[r->nhis];
    memset(e, 0, sizeof *e);
    e->host = host;
    e->ip = ip;
    e->next = h->first_hi;
    h->first_hi = (uint32_t)++r->nhis;
    h->nips++;
    if (h->nips == RT_CHAIN + 1) {
        for (uint32_t i = h->first_hi; i; i = r->his[i - 1].next)
            pairtab_put(&r->thi, pair(host, r->his[i - 1].ip), i - 1);
    } else if (h->nips > RT_CHAIN + 1) {
        pairtab_put(&r->thi, pair(host, ip), (uint32_t)r->nhis - 1);
    }
    return (uint32_t)r->nhis - 1;
}

static uint32_t hiv_get(struct rt_report *r, uint32_t hv, uint32_t hi, uint8_t vantage)
{
    struct rt_hv *v = &r->hvs[hv];
    if (v->nhiv <= RT_CHAIN) {
        for (uint32_t k = v->first_hiv; k; k = r->hivs[k - 1].next)
            if (r->hivs[k - 1].hi == hi)
                return k - 1;
    } else {
        int64_t i = pairtab_get(&r->thiv, pair(hv, hi));
        if (i >= 0)
            return (uint32_t)i;
    }
    r->hivs = es_xgrow(r->hivs, &r->caphivs, r->nhivs + 1, sizeof *r->hivs);
    v = &r->hvs[hv];
    struct rt_hiv *e = &r->hivs[r->nhivs];
    memset(e, 0, sizeof *e);
    e->hv = hv;
    e->hi = hi;
    e->vantage = vantage;
    e->next = v->first_hiv;
    v->first_hiv = (uint32_t)++r->nhivs;
    v->nhiv++;
    if (v->nhiv == RT_CHAIN + 1) {
        for (uint32_t k = v->first_hiv; k; k = r->hivs[k - 1].next)
            pairtab_put(&r->thiv, pair(hv, r->hivs[k - 1].hi), k - 1);
    } else if (v->nhiv > RT_CHAIN + 1) {
        pairtab_put(&r->thiv, pair(hv, hi), (uint32_t)r->nhivs - 1);
    }
    return (uint32_t)r->nhivs - 1;
}

/* The per-vantage counts of (hiv, vantage), made on first use. */
static uint32_t *hivv_get(struct rt_report *r, uint32_t hiv, uint32_t vantage)
{
    int64_t i = pairtab_get(&r->thivv, pair(hiv, vantage));
    if (i >= 0)
        return r->hivv[i];
    r->hivv = es_xgrow(r->hivv, &r->caphivv, r->nhivv + 1, sizeof *r->hivv);
    r->hivv[r->nhivv][0] = r->hivv[r->nhivv][1] = 0;
    pairtab_put(&r->thivv, pair(hiv, vantage), (uint32_t)r->nhivv);
    return r->hivv[r->nhivv++];
}

/* Counts one attempt of hiv from vantage: in the hiv while it has seen one
 * vantage, per vantage (r->hivv) from the second on. */
static void count_vantage(struct rt_report *r, uint32_t k, uint8_t vantage, bool ok)
{
    struct rt_hiv *x = &r->hivs[k];
    if (x->vantage != RT_MULTI && x->vantage != vantage) {
        uint32_t *first = hivv_get(r, k, x->vantage);
        first[0] = x->ok;
        first[1] = x->fail;
        x->vantage = RT_MULTI;
    }
    if (x->vantage == RT_MULTI)
        hivv_get(r, k, vantage)[ok ? 0 : 1]++;
}

void rt_vantage_each(const struct rt_report *r, uint32_t hiv,
                     void (*fn)(void *arg, uint32_t vantage, uint32_t ok, uint32_t fail), void *arg)
{
    const struct rt_hiv *x = &r->hivs[hiv];
    if (x->vantage != RT_MULTI) {
        fn(arg, x->vantage, x->ok, x->fail);
        return;
    }
    for (uint32_t w = 0; w < r->nvantages; w++) {
        int64_t i = pairtab_get(&r->thivv, pair(hiv, w));
        if (i >= 0)
            fn(arg, w, r->hivv[i][0], r->hivv[i][1]);
    }
}

struct masks {
    uint64_t okv, failv;
    bool mixed;
};

static void add_mask(void *arg, uint32_t vantage, uint32_t ok, uint32_t fail)
{
    struct masks *m = arg;
    uint64_t bit = UINT64_C(1) << vantage;
    if (ok && fail)
        m->mixed = true;
    else if (ok)
        m->okv |= bit;
    else if (fail)
        m->failv |= bit;
}

void rt_vantage_masks(const struct rt_report *r, uint32_t hiv, uint64_t *okv, uint64_t *failv,
                      bool *mixed)
{
    struct masks m = {0, 0, false};
    rt_vantage_each(r, hiv, add_mask, &m);
    *okv = m.okv;
    *failv = m.failv;
    *mixed = m.mixed;
}

/* The index of a vantage label (the last index is shared past the limit). */
static uint8_t vantage_index(struct rt_report *r, const char *label)
{
    for (size_t i = 0; i < r->nvantages; i++)
        if (!strcmp(r->vantages[i], label))
            return (uint8_t)i;
    if (r->nvantages == ES_REPORT_MAX_VANTAGES)
        return ES_REPORT_MAX_VANTAGES - 1;
    r->vantages[r->nvantages] = es_intern(r->pool, label);
    return (uint8_t)r->nvantages++;
}

/* The index of a resolver label; -1 past ES_REPORT_MAX_RESOLVERS (warned once). */
static int resolver_index(struct rt_report *r, const char *label, size_t len)
{
    const char *s = es_intern_n(r->pool, label, len);
    for (size_t i = 0; i < r->nresolvers; i++)
        if (r->resolvers[i] == s)
            return (int)i;
    if (r->nresolvers == ES_REPORT_MAX_RESOLVERS) {
        if (!r->warned_resolvers)
            es_warn("more than %d resolver labels; the rest are not told apart",
                    ES_REPORT_MAX_RESOLVERS);
        r->warned_resolvers = true;
        return -1;
    }
    r->resolvers[r->nresolvers] = s;
    return (int)r->nresolvers++;
}

/* The resolver mask of a `resolver` cell ("eu;us"); remembers each label's
 * address from the `resolver_addr` cell beside it (same order). */
static uint64_t resolver_mask(struct rt_report *r, const char *field, const char *addrs)
{
    if (r->last_resolver && !strcmp(field, r->last_resolver) &&
        (!*addrs || !(r->last_mask & ~r->have_addr)))
        return r->last_mask;
    const char *start = field;
    uint64_t m = 0;
    while (*field) {
        size_t n = strcspn(field, ";");
        size_t an = strcspn(addrs, ";");
        if (n && !(n == 1 && field[0] == '-')) {
            int i = resolver_index(r, field, n);
            if (i >= 0) {
                m |= UINT64_C(1) << i;
                if (an && !r->resolver_addr[i]) {
                    r->resolver_addr[i] = es_intern_n(r->pool, addrs, an);
                    r->have_addr |= UINT64_C(1) << i;
                }
            }
        }
        field += n + (field[n] == ';');
        addrs += an + (addrs[an] == ';');
    }
    if (!r->last_resolver || strcmp(start, r->last_resolver)) {
        free(r->last_resolver);
        r->last_resolver = es_xstrdup(start);
    }
    r->last_mask = m;
    return m;
}

/* The sig id of a failing row: one per distinct (status, error, alert,
 * alert_name, alert_from, stage). */
static uint16_t sig_id(struct rt_report *r, const char *status, const char *error,
                       const char *alert, const char *alert_name, const char *from,
                       const char *stage)
{
    char key[512];
    int n = snprintf(key, sizeof key, "%s|%s|%s|%s|%s|%s", status, error, alert, alert_name, from,
                     stage);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof key ? sizeof key - 1 : (size_t)n;
    size_t before = r->sigkeys.n;
    uint32_t id = strtab_get(&r->sigkeys, &r->arena, key, len);
    if (id > UINT16_MAX) /* a hostile file: the rest share the last one */
        return UINT16_MAX;
    if (id > before) {
        r->sigs = es_xgrow(r->sigs, &r->capsigs, id, sizeof *r->sigs);
        struct rt_sig *s = &r->sigs[id - 1];
        char text[160];
        if (!strcmp(status, "alert") && *alert)
            snprintf(text, sizeof text, "alert %s %s", alert, *alert_name ? alert_name : "unknown");
        else
            snprintf(text, sizeof text, "%s", *error ? error : status);
        s->text = es_intern(r->pool, text);
        s->status = es_intern(r->pool, status);
        s->error = es_intern(r->pool, error);
        s->stage = es_intern(r->pool, stage);
        uint64_t a;
        /* Only the peer's alerts explain the node; one we sent names our
         * reason (cert_list_too_long, decode_error), which error carries. */
        bool peer = strcmp(from, "local") != 0;
        s->alert = peer && es_parse_u64(alert, 0, 255, &a) ? (int)a : -1;
    }
    return (uint16_t)id;
}

static uint32_t variant_get(struct rt_report *r, const struct es_scanread *in, const char *host)
{
#define F(c) es_scanread_field(in, c)
    const char *name = F(C_VARIANT);
    if (r->last_variant) {
        const struct rt_str *e = &r->variant_names.v[r->last_variant - 1];
        if (!strcmp(e->s, name))
            return r->last_variant;
    }
    size_t before = r->variant_names.n;
    uint32_t id = strtab_get(&r->variant_names, &r->arena, name, strlen(name));
    if (id > before) {
        r->variants = es_xgrow(r->variants, &r->capvariants, id, sizeof *r->variants);
        struct rt_variant *v = &r->variants[id - 1];
        v->name = r->variant_names.v[id - 1].s;
        v->tls = es_intern(r->pool, F(C_TLS_OFFERED));
        v->alpn = es_intern(r->pool, F(C_ALPN_OFFERED));
        v->ciphers = es_intern(r->pool, F(C_CIPHERS_OFFERED));
        v->groups = es_intern(r->pool, F(C_GROUPS_OFFERED));
        v->sni = strcmp(F(C_SNI), host) ? es_intern(r->pool, F(C_SNI)) : NULL;
        v->hello = es_intern(r->pool, *F(C_HELLO) ? F(C_HELLO) : "plain");
    }
    r->last_variant = id;
    return id;
#undef F
}

static uint32_t ip_get(struct rt_report *r, const char *ip)
{
    if (r->last_ip && !strcmp(r->ips.v[r->last_ip - 1].s, ip))
        return r->last_ip;
    r->last_ip = strtab_get(&r->ips, &r->arena, ip, strlen(ip));
    return r->last_ip;
}

static void note_failcert(struct rt_report *r, uint64_t hash, const char *text)
{
    for (size_t i = 0; i < r->nfailcerts; i++)
        if (r->failcerts[i].hash == hash)
            return;
    if (r->nfailcerts < ES_ARRAY_LEN(r->failcerts)) {
        r->failcerts[r->nfailcerts].hash = hash;
        r->failcerts[r->nfailcerts++].text = es_intern(r->pool, text);
    }
}

const char *rt_failcert(const struct rt_report *r, uint64_t hash)
{
    for (size_t i = 0; i < r->nfailcerts; i++)
        if (r->failcerts[i].hash == hash)
            return r->failcerts[i].text;
    return "";
}

int64_t rt_hi_find(const struct rt_report *r, uint32_t h, uint32_t ip)
{
    const struct rt_host *host = &r->hosts[h];
    if (host->nips > RT_CHAIN)
        return pairtab_get(&r->thi, pair(h, ip));
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next)
        if (r->his[i - 1].ip == ip)
            return i - 1;
    return -1;
}

uint16_t rt_dns_token(const struct rt_report *r, uint32_t h, unsigned resolver)
{
    for (uint32_t d = r->hosts[h].first_dns; d; d = r->dns[d - 1].next)
        if (r->dns[d - 1].resolver == resolver)
            return r->dns[d - 1].token;
    return 0;
}

const char *rt_sni(const struct rt_report *r, const struct rt_hv *hv)
{
    const struct rt_variant *v = rt_variant(r, hv->variant);
    return v->sni ? v->sni : r->hosts[hv->host].name;
}

/* A whole number, optionally negative, within [min, max]. */
static bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    bool neg = *s == '-';
    uint64_t u;
    if (!es_parse_u64(s + neg, 0, (uint64_t)INT64_MAX, &u))
        return false;
    int64_t v = neg ? -(int64_t)u : (int64_t)u;
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of the civil date y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The day of an RFC 3339 time ("2026-05-04T..."), 0 when it is not one. */
static int32_t row_day(const char *t)
{
    unsigned y, m, d;
    char tail;
    if (sscanf(t, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 4 || tail != 'T' || m < 1 || m > 12 ||
        d < 1 || d > 31 || y < 1971)
        return 0;
    return (int32_t)days_from_civil(y, m, d);
}

/* A key exchange below 2048 bits: a DHE prime (kx_group dh1024, ffdhe*,
 * modp_*). Writes "DHE 1024 bits" into out; false when it is not weak. */
static bool weak_kx(const char *group, const char *bits, char *out, size_t len)
{
    uint64_t b;
    if (strncmp(group, "dh", 2) && strncmp(group, "ffdhe", 5) && strncmp(group, "modp", 4))
        return false;
    if (!es_parse_u64(bits, 1, 1u << 20, &b) || b >= 2048)
        return false;
    snprintf(out, len, "DHE %u bits", (unsigned)b);
    return true;
}

/* A certificate key below policy: RSA (and RSA-PSS, DSA) below 2048 bits,
 * EC below 224. cert_key is the type and the size in one word ("rsa1024"). */
static bool weak_key(const char *key, char *out, size_t len)
{
    size_t n = strcspn(key, "0123456789");
    uint64_t b;
    if (!n || !key[n] || !es_parse_u64(key + n, 1, 1u << 20, &b))
        return false;
    const char *type = NULL;
    if ((n == 3 && !memcmp(key, "rsa", 3)) || (n == 6 && !memcmp(key, "rsapss", 6)))
        type = b < 2048 ? "RSA" : NULL;
    else if (n == 3 && !memcmp(key, "dsa", 3))
        type = b < 2048 ? "DSA" : NULL;
    else if (n == 2 && !memcmp(key, "ec", 2))
        type = b < 224 ? "EC" : NULL;
    if (!type)
        return false;
    snprintf(out, len, "%s %u-bit key", type, (unsigned)b);
    return true;
}

/* Adds one row. Returns false (with err) for a row that makes no sense. */
static bool add_row(struct rt_report *r, const struct es_scanread *in, char *err, size_t errlen)
{
#define F(c) es_scanread_field(in, c)
    const char *status = F(C_STATUS);
    bool ok = !strcmp(status, "ok");
    if (!ok && !strcmp(status, "planned")) {
        r->planned++;
        return true;
    }
    uint64_t port;
    if (!*F(C_HOST) || !es_parse_u64(F(C_PORT), 1, 65535, &port)) {
        snprintf(err, errlen, "host '%.64s' or port '%.16s' is not valid", F(C_HOST), F(C_PORT));
        return false;
    }
    if (!ok) {
        static const char *const statuses[] = {"alert", "tls_error", "connect_error", "timeout",
                                               "dns_error"};
        bool known = false;
        for (size_t i = 0; i < ES_ARRAY_LEN(statuses); i++)
            known |= !strcmp(status, statuses[i]);
        if (!known) {
            snprintf(err, errlen,
                     "status '%.32s' is not one of ok, alert, tls_error, "
                     "connect_error, timeout, dns_error, planned",
                     status);
            return false;
        }
    }
    const char *hostname = F(C_HOST);
    r->rows++;
    uint32_t h = host_get(r, hostname, (int)port);
    uint64_t m = resolver_mask(r, F(C_RESOLVER), F(C_RESOLVER_ADDR));
    if (!ok && !strcmp(status, "dns_error")) {
        struct rt_host *host = &r->hosts[h];
        uint64_t fresh = m & ~host->dns_failed;
        host->dns_failed |= m;
        for (size_t i = 0; i < r->nresolvers; i++) {
            if (!(fresh & (UINT64_C(1) << i)))
                continue;
            r->dns = es_xgrow(r->dns, &r->capdns, r->ndns + 1, sizeof *r->dns);
            r->dns[r->ndns] = (struct rt_dns){
                .next = host->first_dns,
                .token = token_id(r, *F(C_ERROR) ? F(C_ERROR) : "dns_error"),
                .resolver = (uint8_t)i,
            };
            host->first_dns = (uint32_t)++r->ndns;
        }
        return true;
    }
    if (!*F(C_IP) || !*F(C_VARIANT)) {
        snprintf(err, errlen, "a %s row needs ip and variant", status);
        return false;
    }
    uint32_t v = hv_get(r, h, variant_get(r, in, hostname));
    uint32_t i = hi_get(r, h, ip_get(r, F(C_IP)));
    uint8_t w = vantage_index(r, F(C_VANTAGE));
    uint32_t k = hiv_get(r, v, i, w);
    struct rt_host *host = &r->hosts[h];
    struct rt_hv *hv = &r->hvs[v];
    struct rt_hi *hi = &r->his[i];
    struct rt_hiv *hiv = &r->hivs[k];
    hi->resolvers |= m;
    host->answered |= m;
    hv->attempts++;
    host->attempts++;
    count_vantage(r, k, w, ok);
    if (ok) {
        hv->ok++;
        hiv->ok++;
        host->ok++;
        const char *verify = F(C_VERIFY);
        const char *sha = F(C_CERT_SHA);
        uint64_t shah = *sha ? XXH3_64bits(sha, strlen(sha)) | 1 : 0;
        if (*verify && strcmp(verify, "off")) {
            if (!strcmp(verify, "ok")) {
                hi->vok++;
            } else {
                hi->vfail++;
                if (!hi->vtoken)
                    hi->vtoken = token_id(r, verify);
                if (shah)
                    note_failcert(r, shah, sha);
            }
        }
        if (shah) {
            if (!hi->sha)
                hi->sha = shah;
            hi->nsha++;
        }
        const char *h2 = F(C_H2);
        if (!*h2) {
        } else if (!strcmp(h2, "ok")) {
            hiv->h2ok++;
        } else {
            hiv->h2fail++;
            if (!hiv->h2tok)
                hiv->h2tok = token_id(r, h2);
        }
        /* --http-check: no response or a 5xx (the heat map shows it) */
        uint64_t code;
        /* no answer after a failed HTTP/2 check is the `h2` finding's */
        bool h2bad = *h2 && strcmp(h2, "ok");
        if (h2bad) {
        } else if (es_parse_u64(F(C_HTTP_STATUS), 0, 999, &code) && (code == 0 || code >= 500)) {
            if (hiv->httpfail < UINT16_MAX)
                hiv->httpfail++;
            if (!hi->httptok) {
                char t[32] = "no response";
                if (code)
                    snprintf(t, sizeof t, "status %u", (unsigned)code);
                hi->httptok = token_id(r, t);
            }
            hi->httpbad++;
        } else if (*F(C_HTTP_STATUS)) {
            hi->httpok++;
        }
        int64_t skew;
        if (!hi->has_skew &&
            parse_i64(F(C_CLOCK_SKEW), -(INT64_C(1) << 31) + 1, (INT64_C(1) << 31) - 1, &skew)) {
            hi->skew = (int32_t)skew;
            hi->has_skew = 1;
        }
        int64_t days;
        if (parse_i64(F(C_CERT_DAYS), -1000000, 1000000, &days) &&
            (!hi->has_days || days < hi->days)) {
            hi->days = (int32_t)days;
            int32_t day = row_day(F(C_TIME));
            hi->until = day ? day + (int32_t)days : 0;
            hi->has_days = 1;
        }
        char wk[48];
        if (!hi->weakkey && weak_key(F(C_CERT_KEY), wk, sizeof wk))
            hi->weakkey = token_id(r, wk);
    }
    char wk[48];
    if (!hi->weakkx && weak_kx(F(C_KX_GROUP), F(C_KX_BITS), wk, sizeof wk))
        hi->weakkx = token_id(r, wk); /* also where OpenSSL refused it (dh_key_too_small) */
    if (ok)
        return true;
    hiv->fail++;
    if (!hiv->sig)
        hiv->sig =
            sig_id(r, status, F(C_ERROR), F(C_ALERT), F(C_ALERT_NAME), F(C_ALERT_FROM), F(C_STAGE));
    return true;
#undef F
}

void rt_init(struct rt_report *r, unsigned min_repeat)
{
    memset(r, 0, sizeof *r);
    r->pool = es_intern_new();
    r->min_repeat = min_repeat;
    r->expiry_days = 21;
    r->hostmask = 1023;
    r->hostslots = es_xcalloc(r->hostmask + 1, sizeof *r->hostslots);
    r->hostcache = es_xcalloc(HOSTCACHE, sizeof *r->hostcache);
    pairtab_init(&r->thv);
    pairtab_init(&r->thi);
    pairtab_init(&r->thiv);
    pairtab_init(&r->thivv);
    strtab_init(&r->ips);
    strtab_init(&r->variant_names);
    strtab_init(&r->tokens);
    strtab_init(&r->sigkeys);
}

void rt_free(struct rt_report *r)
{
    es_intern_free(r->pool);
    arena_free(&r->arena);
    free(r->hosts);
    free(r->hostslots);
    free(r->hostcache);
    free(r->hvs);
    free(r->his);
    free(r->hivs);
    free(r->dns);
    free(r->hivv);
    free(r->variants);
    free(r->sigs);
    free(r->last_resolver);
    pairtab_free(&r->thv);
    pairtab_free(&r->thi);
    pairtab_free(&r->thiv);
    pairtab_free(&r->thivv);
    strtab_free(&r->ips);
    strtab_free(&r->variant_names);
    strtab_free(&r->tokens);
    strtab_free(&r->sigkeys);
    memset(r, 0, sizeof *r);
}

/* A JSON string at *p (after its opening quote), unescaped only for \" and
 * \\ (labels and addresses hold nothing else); advances *p past it. */
static size_t json_word(const char **p, char *out, size_t cap)
{
    size_t n = 0;
    while (**p && **p != '"') {
        if (**p == '\\' && (*p)[1])
            (*p)++;
        if (n + 1 < cap)
            out[n++] = **p;
        (*p)++;
    }
    if (**p == '"')
        (*p)++;
    out[n] = '\0';
    return n;
}

static void meta_addr(struct rt_report *r, const char *label, const char *addr)
{
    int i = *label && *addr ? resolver_index(r, label, strlen(label)) : -1;
    if (i >= 0 && !r->resolver_addr[i]) {
        r->resolver_addr[i] = es_intern(r->pool, addr);
        r->have_addr |= UINT64_C(1) << i;
    }
}

/* Resolver addresses from FILE.meta.json, when the scan wrote one: the
 * "resolvers" member, {"LABEL": ["ADDR:PORT", ...], ...} as `scan` writes it
 * (src/meta.c), or {"LABEL": "ADDR:PORT"} or [{"label":
 * "LABEL", "addr": "ADDR:PORT"}, ...]. Addresses in the rows
 * (resolver_addr) agree with it; a file that does not parse is ignored (it
 * only improves repro commands). */
static void read_meta(struct rt_report *r, const char *path)
{
    if (!strcmp(path, "-"))
        return;
    char *meta;
    if (asprintf(&meta, "%s.meta.json", path) < 0)
        return;
    FILE *f = fopen(meta, "rb");
    free(meta);
    if (!f)
        return;
    char *text = es_xcalloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strstr(text, "\"resolvers\"");
    if (p) {
        p += 11;
        p += strspn(p, " \t\r\n:");
        bool array = *p == '[';
        int depth = 0;
        char label[128] = "", addr[128] = "", key[32], skip[128];
        for (; *p; p++) {
            if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (array && depth == 2) {
                    meta_addr(r, label, addr);
                    *label = *addr = '\0';
                }
                if (--depth <= 0)
                    break;
            } else if (*p == '"') {
                p++;
                bool pair = (!array && depth == 1) || (array && depth == 2);
                json_word(&p, pair ? key : skip, pair ? sizeof key : sizeof skip);
                if (!pair) {
                    p--;
                    continue;
                }
                p += strspn(p, " \t\r\n:");
                /* `scan` writes {"LABEL": ["ADDR:PORT", ...]}: the first one */
                const char *list = !array && *p == '[' ? p : NULL;
                if (list)
                    p += 1 + strspn(p + 1, " \t\r\n");
                if (*p != '"') {
                    p--;
                    continue;
                }
                p++;
                char *dst = !array                                            ? addr
                            : !strcmp(key, "label") || !strcmp(key, "name")   ? label
                            : !strcmp(key, "addr") || !strcmp(key, "address") ? addr
                                                                              : skip;
                json_word(&p, dst, 128);
                if (!array) {
                    snprintf(label, sizeof label, "%s", key);
                    meta_addr(r, label, addr);
                }
                if (list) {
                    const char *close = strchr(p, ']');
                    p = close ? close + 1 : p + strlen(p);
                }
                p--;
            }
        }
    }
    free(text);
}

int rt_read(struct rt_report *r, const char *const *files, size_t nfiles, bool skip_bad, char *err,
            size_t errlen)
{
    for (size_t i = 0; i < nfiles; i++) {
        read_meta(r, files[i]);
        struct es_scanread *sr =
            es_scanread_open(files[i], col_names, col_required, NCOL, err, errlen);
        if (!sr)
            return -1;
        r->nfiles++;
        int rc;
        char rowerr[512];
        while ((rc = es_scanread_next(sr, err, errlen)) != 0) {
            if (rc == -2) { /* a read error: never a short file taken for a whole one */
                es_scanread_close(sr);
                return -1;
            }
            if (rc == 1 && add_row(r, sr, rowerr, sizeof rowerr))
                continue;
            if (rc == 1)
                snprintf(err, errlen, "%s:%lu: %s", files[i], es_scanread_line(sr), rowerr);
            if (!skip_bad) {
                es_scanread_close(sr);
                return -1;
            }
            r->bad_rows++;
        }
        es_scanread_close(sr);
    }
    return 0;
}

void rt_mark_flaky(struct rt_report *r)
{
    for (size_t k = 0; k < r->nhivs; k++) {
        const struct rt_hiv *x = &r->hivs[k];
        if (x->ok && x->fail && x->ok + x->fail >= r->min_repeat && !r->his[x->hi].flaky_sig)
            r->his[x->hi].flaky_sig = x->sig;
    }
}

/* ---- joining labels ---- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *join_labels(const char *const *labels, size_t nlabels, uint64_t mask)
{
    const char *pick[64];
    size_t n = 0;
    for (size_t i = 0; i < nlabels && i < 64; i++)
        if (mask & (UINT64_C(1) << i))
            pick[n++] = labels[i];
    qsort(pick, n, sizeof *pick, str_cmp);
    struct es_sb b = {0};
    for (size_t i = 0; i < n; i++)
        es_sb_printf(&b, "%s%s", i ? ";" : "", pick[i]);
    return es_sb_take(&b);
}

char *rt_join_resolvers(const struct rt_report *r, uint64_t mask)
{
    return join_labels(r->resolvers, r->nresolvers, mask);
}

char *rt_join_vantages(const struct rt_report *r, uint64_t mask)
{
    return join_labels(r->vantages, r->nvantages, mask);
}

int rt_ip_cmp(const void *a, const void *b)
{
    struct es_ip x, y;
    const char *s = *(const char *const *)a, *t = *(const char *const *)b;
    if (!es_ip_parse(s, &x) || !es_ip_parse(t, &y))
        return strcmp(s, t);
    if (x.family != y.family)
        return x.family == AF_INET ? -1 : 1;
    return memcmp(x.bytes, y.bytes, sizeof x.bytes);
}

/* ---- the heat map model (report.h) ---- */

struct cellarg {
    struct es_heat_cell *c;
    const struct rt_report *r;
    es_heat_fn fn;
    void *arg;
};

static void emit_vantage(void *arg, uint32_t vantage, uint32_t ok, uint32_t fail)
{
    struct cellarg *a = arg;
    a->c->vantage = a->r->vantages[vantage];
    a->c->ok = ok;
    a->c->fail = fail;
    a->fn(a->arg, a->c);
    /* the h2 and http counts are not split by vantage: the first cell only */
    a->c->h2ok = a->c->h2fail = a->c->httpfail = 0;
    a->c->h2 = a->c->http = "";
}

void es_report_heatmap(const struct es_report_input *in, es_heat_fn fn, void *arg)
{
    const struct rt_report *r = in->_r;
    for (size_t h = 0; h < r->nhosts; h++) {
        const struct rt_host *host = &r->hosts[h];
        for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next) {
            const struct rt_hv *hv = &r->hvs[v - 1];
            for (uint32_t k = hv->first_hiv; k; k = r->hivs[k - 1].next) {
                const struct rt_hiv *x = &r->hivs[k - 1];
                const struct rt_hi *e = &r->his[x->hi];
                char *res = rt_join_resolvers(r, e->resolvers);
                struct es_heat_cell c = {
                    .host = host->name,
                    .port = host->port,
                    .variant = rt_variant(r, hv->variant)->name,
                    .ip = rt_ip(r, e->ip),
                    .resolvers = *res ? res : "-",
                    .vantage = "",
                    .ok = x->ok,
                    .fail = x->fail,
                    .failure = rt_hiv_sig(r, x),
                    .verify = rt_token(r, e->vtoken),
                    .h2ok = x->h2ok,
                    .h2fail = x->h2fail,
                    .h2 = rt_token(r, x->h2tok),
                    .httpfail = x->httpfail,
                    .http = x->httpfail ? rt_token(r, e->httptok) : "",
                };
                if (r->nvantages < 2) {
                    fn(arg, &c);
                } else {
                    /* One cell per vantage: rows become variant @ vantage. */
                    struct cellarg a = {&c, r, fn, arg};
                    rt_vantage_each(r, k - 1, emit_vantage, &a);
                }
                free(res);
            }
        }
        for (uint32_t d = host->first_dns; d; d = r->dns[d - 1].next) /* DNS cells */
            fn(arg, &(struct es_heat_cell){
                        .host = host->name,
                        .port = host->port,
                        .variant = "",
                        .ip = "",
                        .resolvers = r->resolvers[r->dns[d - 1].resolver],
                        .failure = rt_token(r, r->dns[d - 1].token),
                        .vantage = "",
                        .fail = 1,
                        .verify = "",
                        .h2 = "",
                        .http = "",
                    });
    }
}
