/* report.c - see include/edgeshake/report.h and docs/findings.md.
 *
 * Three passes: read (stream rows into the tables), judge (apply the rules
 * per host, port and variant), write (one of four formats). */
#include "edgeshake/report.h"
#include "edgeshake/reportdrift.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "edgeshake/cli.h"
#include "edgeshake/intern.h"
#include "edgeshake/net.h"
#include "edgeshake/scanread.h"
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
    C_HTTP_STATUS,
    NCOL
};
static const char *const col_names[NCOL] = {
    "host",        "port",        "ip",           "resolver",        "sni",
    "variant",     "tls_offered", "alpn_offered", "ciphers_offered", "groups_offered",
    "status",      "error",       "alert",        "alert_name",      "verify",
    "cert_sha256", "h2",          "vantage", "alert_from",      "http_status",
};
static const bool col_required[NCOL] = {
    [C_HOST] = true,    [C_PORT] = true,   [C_IP] = true,    [C_RESOLVER] = true,
    [C_VARIANT] = true, [C_STATUS] = true, [C_ERROR] = true,
};

/* ---- tables ---- */

struct host {
    const char *name;
    int port;
    uint32_t first_hv, first_hi; /* chains, index + 1 */
    uint64_t ok, attempts;
    size_t nvariants;
    uint64_t answered;   /* resolvers that returned an address (probe rows) */
    uint64_t dns_failed; /* resolvers with a dns_error row */
    const char *dns_token[ES_REPORT_MAX_RESOLVERS];
};

struct hv { /* (host, port, variant) */
    uint32_t host, next, first_hiv;
    const char *variant;
    uint64_t ok, attempts;
    const char *tls_offered, *alpn_offered, *sni, *ciphers, *groups;
};

struct hi { /* (host, port, ip) */
    uint32_t host, next;
    const char *ip;
    uint64_t resolvers;
    uint64_t vok, vfail;
    const char *vtoken, *sha;
    uint64_t nsha;         /* handshakes that carried sha */
    const char *flaky_sig; /* set when some variant both passed and failed here */
    const char *httptok;   /* the first failed --http-check ("status 525") */
};

struct hiv { /* (host, port, ip, variant) */
    uint32_t hv, hi, next;
    uint32_t first_hivv; /* per-vantage counts, index + 1 */
    uint64_t ok, fail, h2ok, h2fail;
    const char *sig, *h2tok; /* first failure, first h2 failure */
    const char *status, *error;
    int alert;         /* a fatal alert the peer sent; -1 = none (ours do not count) */
    uint32_t httpfail; /* --http-check: no response or 5xx (heat map only; the padding) */
};

struct hivv { /* (host, port, ip, variant, vantage) */
    uint32_t hiv, next;
    uint32_t vantage;
    uint64_t ok, fail;
};

struct table {
    uint32_t *slots; /* index + 1 */
    size_t mask, n;
};

struct report {
    struct es_intern *pool;
    struct host *hosts;
    size_t nhosts, caphosts;
    struct hv *hvs;
    size_t nhvs, caphvs;
    struct hi *his;
    size_t nhis, caphis;
    struct hiv *hivs;
    size_t nhivs, caphivs;
    struct hivv *hivvs;
    size_t nhivvs, caphivvs;
    struct table thost, thv, thi, thiv, thivv;
    const char *vantages[ES_REPORT_MAX_VANTAGES];
    size_t nvantages;
    const char *resolvers[ES_REPORT_MAX_RESOLVERS];
    size_t nresolvers;
    bool warned_resolvers;
    uint64_t rows, planned, bad_rows;
    size_t nfiles;
    unsigned min_repeat;
};

static uint64_t hash3(const void *a, const void *b, uint64_t c)
{
    struct {
        const void *a, *b;
        uint64_t c;
    } k = {a, b, c};
    return XXH3_64bits(&k, sizeof k);
}

typedef bool (*eq_fn)(const struct report *r, uint32_t i, const void *key);

/* The slot of t holding the entry equal to key, or the empty slot where it
 * belongs. */
static size_t table_find(const struct table *t, uint64_t h, eq_fn eq, const struct report *r,
                         const void *key)
{
    size_t s = h & t->mask;
    while (t->slots[s] && !eq(r, t->slots[s] - 1, key))
        s = (s + 1) & t->mask;
    return s;
}

static void table_init(struct table *t)
{
    t->mask = 1023;
    t->slots = es_xcalloc(t->mask + 1, sizeof *t->slots);
}

/* Doubles t when 3/4 full; rehash(i) gives the hash of entry i. */
static void table_grow(struct table *t, uint64_t (*rehash)(const struct report *, uint32_t),
                       const struct report *r)
{
    if (++t->n * 4 <= (t->mask + 1) * 3)
        return;
    size_t nmask = t->mask * 2 + 1;
    uint32_t *n = es_xcalloc(nmask + 1, sizeof *n);
    for (size_t s = 0; s <= t->mask; s++) {
        if (!t->slots[s])
            continue;
        size_t j = rehash(r, t->slots[s] - 1) & nmask;
        while (n[j])
            j = (j + 1) & nmask;
        n[j] = t->slots[s];
    }
    free(t->slots);
    t->slots = n;
    t->mask = nmask;
}

static uint64_t host_hash(const struct report *r, uint32_t i)
{
    return hash3(r->hosts[i].name, NULL, (uint64_t)r->hosts[i].port);
}
static uint64_t hv_hash(const struct report *r, uint32_t i)
{
    return hash3(r->hvs[i].variant, NULL, r->hvs[i].host);
}
static uint64_t hi_hash(const struct report *r, uint32_t i)
{
    return hash3(r->his[i].ip, NULL, r->his[i].host);
}
static uint64_t hiv_hash(const struct report *r, uint32_t i)
{
    return hash3(NULL, NULL, (uint64_t)r->hivs[i].hv << 32 | r->hivs[i].hi);
}
static uint64_t hivv_hash(const struct report *r, uint32_t i)
{
    return hash3(NULL, (const void *)(uintptr_t)1,
                 (uint64_t)r->hivvs[i].hiv << 8 | r->hivvs[i].vantage);
}

struct key {
    const void *p;
    uint64_t n;
};

static bool host_eq(const struct report *r, uint32_t i, const void *k)
{
    const struct key *key = k;
    return r->hosts[i].name == key->p && (uint64_t)r->hosts[i].port == key->n;
}
static bool hv_eq(const struct report *r, uint32_t i, const void *k)
{
    const struct key *key = k;
    return r->hvs[i].variant == key->p && r->hvs[i].host == key->n;
}
static bool hi_eq(const struct report *r, uint32_t i, const void *k)
{
    const struct key *key = k;
    return r->his[i].ip == key->p && r->his[i].host == key->n;
}
static bool hiv_eq(const struct report *r, uint32_t i, const void *k)
{
    const struct key *key = k;
    return ((uint64_t)r->hivs[i].hv << 32 | r->hivs[i].hi) == key->n;
}
static bool hivv_eq(const struct report *r, uint32_t i, const void *k)
{
    const struct key *key = k;
    return ((uint64_t)r->hivvs[i].hiv << 8 | r->hivvs[i].vantage) == key->n;
}

static uint32_t host_get(struct report *r, const char *name, int port)
{
    uint64_t h = hash3(name, NULL, (uint64_t)port);
    struct key k = {name, (uint64_t)port};
    size_t s = table_find(&r->thost, h, host_eq, r, &k);
    if (r->thost.slots[s])
        return r->thost.slots[s] - 1;
    r->hosts = es_xgrow(r->hosts, &r->caphosts, r->nhosts + 1, sizeof *r->hosts);
    struct host *e = &r->hosts[r->nhosts];
    memset(e, 0, sizeof *e);
    e->name = name;
    e->port = port;
    r->thost.slots[s] = (uint32_t)++r->nhosts;
    table_grow(&r->thost, host_hash, r);
    return (uint32_t)r->nhosts - 1;
}

static uint32_t hv_get(struct report *r, uint32_t host, const char *variant)
{
    uint64_t h = hash3(variant, NULL, host);
    struct key k = {variant, host};
    size_t s = table_find(&r->thv, h, hv_eq, r, &k);
    if (r->thv.slots[s])
        return r->thv.slots[s] - 1;
    r->hvs = es_xgrow(r->hvs, &r->caphvs, r->nhvs + 1, sizeof *r->hvs);
    struct hv *e = &r->hvs[r->nhvs];
    memset(e, 0, sizeof *e);
    e->host = host;
    e->variant = variant;
    e->next = r->hosts[host].first_hv;
    r->hosts[host].first_hv = (uint32_t)r->nhvs + 1;
    r->hosts[host].nvariants++;
    r->thv.slots[s] = (uint32_t)++r->nhvs;
    table_grow(&r->thv, hv_hash, r);
    return (uint32_t)r->nhvs - 1;
}

static uint32_t hi_get(struct report *r, uint32_t host, const char *ip)
{
    uint64_t h = hash3(ip, NULL, host);
    struct key k = {ip, host};
    size_t s = table_find(&r->thi, h, hi_eq, r, &k);
    if (r->thi.slots[s])
        return r->thi.slots[s] - 1;
    r->his = es_xgrow(r->his, &r->caphis, r->nhis + 1, sizeof *r->his);
    struct hi *e = &r->his[r->nhis];
    memset(e, 0, sizeof *e);
    e->host = host;
    e->ip = ip;
    e->next = r->hosts[host].first_hi;
    r->hosts[host].first_hi = (uint32_t)r->nhis + 1;
    r->thi.slots[s] = (uint32_t)++r->nhis;
    table_grow(&r->thi, hi_hash, r);
    return (uint32_t)r->nhis - 1;
}

static uint32_t hiv_get(struct report *r, uint32_t hv, uint32_t hi)
{
    uint64_t h = hash3(NULL, NULL, (uint64_t)hv << 32 | hi);
    struct key k = {NULL, (uint64_t)hv << 32 | hi};
    size_t s = table_find(&r->thiv, h, hiv_eq, r, &k);
    if (r->thiv.slots[s])
        return r->thiv.slots[s] - 1;
    r->hivs = es_xgrow(r->hivs, &r->caphivs, r->nhivs + 1, sizeof *r->hivs);
    struct hiv *e = &r->hivs[r->nhivs];
    memset(e, 0, sizeof *e);
    e->hv = hv;
    e->hi = hi;
    e->alert = -1;
    e->next = r->hvs[hv].first_hiv;
    r->hvs[hv].first_hiv = (uint32_t)r->nhivs + 1;
    r->thiv.slots[s] = (uint32_t)++r->nhivs;
    table_grow(&r->thiv, hiv_hash, r);
    return (uint32_t)r->nhivs - 1;
}

static struct hivv *hivv_get(struct report *r, uint32_t hiv, uint32_t vantage)
{
    uint64_t n = (uint64_t)hiv << 8 | vantage;
    uint64_t h = hash3(NULL, (const void *)(uintptr_t)1, n);
    struct key k = {NULL, n};
    size_t s = table_find(&r->thivv, h, hivv_eq, r, &k);
    if (r->thivv.slots[s])
        return &r->hivvs[r->thivv.slots[s] - 1];
    r->hivvs = es_xgrow(r->hivvs, &r->caphivvs, r->nhivvs + 1, sizeof *r->hivvs);
    struct hivv *e = &r->hivvs[r->nhivvs];
    memset(e, 0, sizeof *e);
    e->hiv = hiv;
    e->vantage = vantage;
    e->next = r->hivs[hiv].first_hivv;
    r->hivs[hiv].first_hivv = (uint32_t)r->nhivvs + 1;
    r->thivv.slots[s] = (uint32_t)++r->nhivvs;
    table_grow(&r->thivv, hivv_hash, r);
    return e;
}

/* The index of a vantage label (the last index is shared past the limit). */
static uint32_t vantage_index(struct report *r, const char *label)
{
    const char *s = es_intern(r->pool, label);
    for (size_t i = 0; i < r->nvantages; i++)
        if (r->vantages[i] == s)
            return (uint32_t)i;
    if (r->nvantages == ES_REPORT_MAX_VANTAGES)
        return ES_REPORT_MAX_VANTAGES - 1;
    r->vantages[r->nvantages] = s;
    return (uint32_t)r->nvantages++;
}

/* The index of a resolver label; -1 past ES_REPORT_MAX_RESOLVERS (warned once). */
static int resolver_index(struct report *r, const char *label, size_t len)
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

static uint64_t resolver_mask(struct report *r, const char *field)
{
    uint64_t m = 0;
    while (*field) {
        size_t n = strcspn(field, ";");
        if (n && !(n == 1 && field[0] == '-')) {
            int i = resolver_index(r, field, n);
            if (i >= 0)
                m |= UINT64_C(1) << i;
        }
        field += n + (field[n] == ';');
    }
    return m;
}

/* "alert 70 protocol_version", else the error token, else the status. */
static const char *failure_sig(struct report *r, const char *status, const char *error,
                               const char *alert, const char *alert_name)
{
    char buf[160];
    if (!strcmp(status, "alert") && *alert) {
        snprintf(buf, sizeof buf, "alert %s %s", alert, *alert_name ? alert_name : "unknown");
        return es_intern(r->pool, buf);
    }
    return es_intern(r->pool, *error ? error : status);
}

/* Adds one row. Returns false (with err) for a row that makes no sense. */
static bool add_row(struct report *r, const struct es_scanread *in, char *err, size_t errlen)
{
#define F(c) es_scanread_field(in, c)
    const char *status = F(C_STATUS);
    if (!strcmp(status, "planned")) {
        r->planned++;
        return true;
    }
    uint64_t port;
    if (!*F(C_HOST) || !es_parse_u64(F(C_PORT), 1, 65535, &port)) {
        snprintf(err, errlen, "host '%.64s' or port '%.16s' is not valid", F(C_HOST), F(C_PORT));
        return false;
    }
    static const char *const statuses[] = {"ok",      "alert",    "tls_error", "connect_error",
                                           "timeout", "dns_error"};
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
    r->rows++;
    uint32_t h = host_get(r, es_intern(r->pool, F(C_HOST)), (int)port);
    struct host *host = &r->hosts[h];
    if (!strcmp(status, "dns_error")) {
        uint64_t m = resolver_mask(r, F(C_RESOLVER));
        host->dns_failed |= m;
        for (size_t i = 0; i < r->nresolvers; i++)
            if (m & (UINT64_C(1) << i) && !host->dns_token[i])
                host->dns_token[i] = es_intern(r->pool, *F(C_ERROR) ? F(C_ERROR) : "dns_error");
        return true;
    }
    if (!*F(C_IP) || !*F(C_VARIANT)) {
        snprintf(err, errlen, "a %s row needs ip and variant", status);
        return false;
    }
    uint32_t v = hv_get(r, h, es_intern(r->pool, F(C_VARIANT)));
    uint32_t i = hi_get(r, h, es_intern(r->pool, F(C_IP)));
    uint32_t k = hiv_get(r, v, i);
    struct hv *hv = &r->hvs[v];
    struct hi *hi = &r->his[i];
    struct hiv *hiv = &r->hivs[k];
    if (!hv->tls_offered) {
        hv->tls_offered = es_intern(r->pool, F(C_TLS_OFFERED));
        hv->alpn_offered = es_intern(r->pool, F(C_ALPN_OFFERED));
        hv->sni = es_intern(r->pool, F(C_SNI));
        hv->ciphers = es_intern(r->pool, F(C_CIPHERS_OFFERED));
        hv->groups = es_intern(r->pool, F(C_GROUPS_OFFERED));
    }
    uint64_t m = resolver_mask(r, F(C_RESOLVER));
    hi->resolvers |= m;
    host->answered |= m;
    hv->attempts++;
    host->attempts++;
    struct hivv *vv = hivv_get(r, k, vantage_index(r, F(C_VANTAGE)));
    if (!strcmp(status, "ok"))
        vv->ok++;
    else
        vv->fail++;
    if (!strcmp(status, "ok")) {
        hv->ok++;
        hiv->ok++;
        host->ok++;
        const char *verify = F(C_VERIFY);
        if (*verify && strcmp(verify, "off")) {
            if (!strcmp(verify, "ok")) {
                hi->vok++;
            } else {
                hi->vfail++;
                if (!hi->vtoken)
                    hi->vtoken = es_intern(r->pool, verify);
            }
        }
        if (*F(C_CERT_SHA)) {
            const char *sha = es_intern(r->pool, F(C_CERT_SHA));
            if (!hi->sha)
                hi->sha = sha;
            hi->nsha++;
        }
        const char *h2 = F(C_H2);
        if (!strcmp(h2, "ok")) {
            hiv->h2ok++;
        } else if (*h2) {
            hiv->h2fail++;
            if (!hiv->h2tok)
                hiv->h2tok = es_intern(r->pool, h2);
        }
        uint64_t code;
        if (es_parse_u64(F(C_HTTP_STATUS), 0, 999, &code) && (code == 0 || code >= 500)) {
            hiv->httpfail++;
            if (!hi->httptok) {
                char t[32] = "no response";
                if (code)
                    snprintf(t, sizeof t, "status %u", (unsigned)code);
                hi->httptok = es_intern(r->pool, t);
            }
        }
        return true;
    }
    hiv->fail++;
    if (!hiv->sig) {
        hiv->sig = failure_sig(r, status, F(C_ERROR), F(C_ALERT), F(C_ALERT_NAME));
        hiv->status = es_intern(r->pool, status);
        hiv->error = es_intern(r->pool, F(C_ERROR));
        uint64_t a;
        /* Only the peer's alerts explain the node; one we sent names our
         * reason (cert_list_too_long, decode_error), which error carries. */
        bool peer = strcmp(F(C_ALERT_FROM), "local") != 0;
        hiv->alert = peer && es_parse_u64(F(C_ALERT), 0, 255, &a) ? (int)a : -1;
    }
    return true;
#undef F
}

/* ---- judging ---- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The labels of mask, sorted and ';'-joined: the same whatever order the
 * files were read in (shards, vantages). */
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

static char *join_resolvers(const struct report *r, uint64_t mask)
{
    return join_labels(r->resolvers, r->nresolvers, mask);
}

static int ip_cmp(const void *a, const void *b)
{
    struct es_ip x, y;
    const char *s = *(const char *const *)a, *t = *(const char *const *)b;
    if (!es_ip_parse(s, &x) || !es_ip_parse(t, &y))
        return strcmp(s, t);
    if (x.family != y.family)
        return x.family == AF_INET ? -1 : 1;
    return memcmp(x.bytes, y.bytes, sizeof x.bytes);
}

/* The IPs of the listed hivs, sorted by address and ';'-joined. */
static char *join_ips(const struct report *r, const uint32_t *ks, size_t n)
{
    const char **ips = es_xcalloc(n ? n : 1, sizeof *ips);
    for (size_t i = 0; i < n; i++)
        ips[i] = r->his[r->hivs[ks[i]].hi].ip;
    qsort(ips, n, sizeof *ips, ip_cmp);
    struct es_sb b = {0};
    for (size_t i = 0; i < n; i++)
        es_sb_printf(&b, "%s%s", i ? ";" : "", ips[i]);
    free(ips);
    return es_sb_take(&b);
}

/* Takes the builder's ';'-joined IP list and returns it sorted by address. */
static char *sort_ip_list(struct es_sb *b)
{
    char *s = es_sb_take(b);
    size_t n = 1;
    for (char *p = s; *p; p++)
        n += *p == ';';
    if (n == 1)
        return s;
    const char **ips = es_xcalloc(n, sizeof *ips);
    size_t k = 0;
    ips[k++] = s;
    for (char *p = s; *p; p++)
        if (*p == ';') {
            *p = '\0';
            ips[k++] = p + 1;
        }
    qsort(ips, n, sizeof *ips, ip_cmp);
    struct es_sb out = {0};
    for (size_t i = 0; i < n; i++)
        es_sb_printf(&out, "%s%s", i ? ";" : "", ips[i]);
    free(ips);
    free(s);
    return es_sb_take(&out);
}

/* Shell-quotes one word for a POSIX shell when it needs it. */
static void sb_word(struct es_sb *b, const char *w)
{
    bool plain = *w != '\0';
    for (const char *p = w; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/,=@+-[]",
                    *p))
            plain = false;
    if (plain) {
        es_sb_printf(b, " %s", w);
        return;
    }
    es_sb_add(b, " '");
    for (const char *p = w; *p; p++) {
        if (*p == '\'')
            es_sb_add(b, "'\\''");
        else
            es_sb_addn(b, p, 1);
    }
    es_sb_add(b, "'");
}

/* `openssl s_client` for one failing probe of hv against ip. */
static char *repro_s_client(const struct report *r, const struct hv *hv, const char *ip, bool h2)
{
    const struct host *host = &r->hosts[hv->host];
    struct es_sb b = {0};
    char ep[128];
    if (h2) {
        es_sb_add(&b, "curl -sv --http2 --resolve");
        snprintf(ep, sizeof ep, "%s:%d:%s", host->name, host->port, ip);
        sb_word(&b, ep);
        snprintf(ep, sizeof ep, "https://%s:%d/", host->name, host->port);
        sb_word(&b, ep);
        return es_sb_take(&b);
    }
    es_sb_add(&b, "openssl s_client -connect");
    snprintf(ep, sizeof ep, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, host->port);
    sb_word(&b, ep);
    if (hv->sni && *hv->sni && strcmp(hv->sni, "none")) {
        es_sb_add(&b, " -servername");
        sb_word(&b, hv->sni);
    } else {
        es_sb_add(&b, " -noservername");
    }
    static const struct {
        const char *v, *flag;
    } tls[] = {{"1.0", " -tls1"}, {"1.1", " -tls1_1"}, {"1.2", " -tls1_2"}, {"1.3", " -tls1_3"}};
    for (size_t i = 0; i < ES_ARRAY_LEN(tls); i++)
        if (hv->tls_offered && !strcmp(hv->tls_offered, tls[i].v))
            es_sb_add(&b, tls[i].flag);
    if (hv->alpn_offered && *hv->alpn_offered && strcmp(hv->alpn_offered, "none")) {
        es_sb_add(&b, " -alpn");
        sb_word(&b, hv->alpn_offered);
    }
    if (hv->ciphers && *hv->ciphers) {
        es_sb_add(&b, " -cipher");
        sb_word(&b, hv->ciphers);
    }
    if (hv->groups && *hv->groups) {
        es_sb_add(&b, " -groups");
        sb_word(&b, hv->groups);
    }
    es_sb_add(&b, " </dev/null");
    return es_sb_take(&b);
}

static bool offers(const char *list, const char *proto)
{
    size_t n = strlen(proto);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !memcmp(p, proto, n))
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* One sentence naming the likely cause (docs/findings.md, "explain"). */
static const char *explain_failure(const struct hv *hv, const struct hiv *x)
{
    bool tls12 = hv->tls_offered && !strcmp(hv->tls_offered, "1.2");
    bool tls13 = hv->tls_offered && !strcmp(hv->tls_offered, "1.3");
    switch (x->alert) {
    case 40:
        if (tls12 && offers(hv->alpn_offered, "h2"))
            return "the node's TLS 1.2 cipher list shares nothing with this ClientHello: it lacks "
                   "the ECDHE-GCM suites that HTTP/2 requires (RFC 7540 §9.2)";
        return "the node rejects this ClientHello (handshake_failure): no cipher, group or "
               "signature algorithm in common";
    case 70:
        return tls13 ? "the node does not speak TLS 1.3 (protocol_version): its config predates "
                       "the TLS 1.3 rollout"
                     : "the node does not accept the offered TLS version (protocol_version)";
    case 112:
        return "the node has strict SNI: it refuses a ClientHello whose server name is missing "
               "or unknown there (unrecognized_name)";
    case 120:
        return "ALPN is off or lacks the offered protocols on the node "
               "(no_application_protocol)";
    case 47: return "the node finds the ClientHello malformed (illegal_parameter)";
    case 80: return "the node fails internally during the handshake (internal_error)";
    default: break;
    }
    const char *e = x->error ? x->error : "";
    if (!strcmp(e, "connection_refused"))
        return "nothing listens on this port on the node (connection refused)";
    if (!strcmp(e, "connect_timeout"))
        return "the node accepts no connection in time: down, filtered or overloaded";
    if (!strcmp(e, "handshake_timeout"))
        return "the node accepts TCP but never finishes the handshake: a hung or blackholed TLS "
               "terminator";
    if (!strcmp(e, "connection_reset"))
        return "the node resets the connection during the handshake: a crashed terminator or a "
               "middlebox";
    if (!strcmp(e, "wrong_version_number"))
        return "the node does not answer with TLS on this port (plain HTTP or another protocol)";
    if (!strcmp(e, "eof_during_handshake"))
        return "the node closes the connection during the handshake";
    if (!strcmp(e, "no_shared_cipher"))
        return "no cipher in common between this ClientHello and the node";
    if (!strcmp(e, "network_unreachable") || !strcmp(e, "host_unreachable"))
        return "no route to the node from this vantage point";
    if (!strcmp(e, "cert_list_too_long"))
        return "the node sends a certificate chain larger than the scanner accepts (256 KB): a "
               "misconfigured chain file or a hostile server";
    if (!strcmp(e, "connect_failed"))
        return "the connection to the node fails before TLS starts";
    if (x->alert >= 0)
        return "the node sends a fatal alert during the handshake";
    return "the handshake fails on these nodes and succeeds on others";
}

static const char *explain_verify(const char *token)
{
    static const struct {
        const char *token, *text;
    } t[] = {
        {"expired", "the certificate on these nodes has expired: a certificate rollout missed "
                    "them"},
        {"not_yet_valid", "the certificate on these nodes is not valid yet: issued in the "
                          "future or the clocks disagree"},
        {"hostname_mismatch", "these nodes serve a certificate for another name: a rollout or "
                              "SNI config that missed them"},
        {"self_signed", "these nodes serve a self-signed certificate (a default or test "
                        "certificate)"},
        {"unknown_ca", "the chain on these nodes does not lead to a trusted root: a missing "
                       "intermediate or a private CA"},
        {"untrusted", "the chain on these nodes fails verification"},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(t); i++)
        if (!strcmp(token, t[i].token))
            return t[i].text;
    return "certificate verification fails on these nodes";
}

static const char *explain_dns(const char *token)
{
    if (!strcmp(token, "nxdomain"))
        return "this resolver says the name does not exist while others answer: a record "
               "missing from that region's view";
    if (!strcmp(token, "servfail"))
        return "this resolver fails to resolve the name while others answer: a broken zone or "
               "DNSSEC failure in that region";
    if (!strcmp(token, "dns_refused"))
        return "this resolver refuses the query: it does not serve this vantage or name";
    if (!strcmp(token, "dns_timeout"))
        return "this resolver does not answer in time";
    if (!strcmp(token, "no_address"))
        return "this resolver has the name but no address of the family asked";
    return "this resolver fails for the name while others answer";
}

static struct es_finding *add_finding(struct es_findings *fs, enum es_finding_kind kind,
                                      const struct host *host, const char *variant)
{
    fs->v = es_xgrow(fs->v, &fs->cap, fs->n + 1, sizeof *fs->v);
    struct es_finding *f = &fs->v[fs->n++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->host = host->name;
    f->port = host->port;
    f->_host_variants = host->nvariants;
    f->failing_vantages = es_xstrdup("");
    f->passing_vantages = es_xstrdup("");
    f->variant = variant ? variant : "";
    return f;
}

/* The failure shared by most of the listed hivs (first seen on ties). */
/* The edge of ks[0..n) with the lowest address: the one a finding's repro
 * names, so that the report does not depend on the order rows were read. */
static const struct hiv *lowest_ip(const struct report *r, const uint32_t *ks, size_t n)
{
    const struct hiv *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct hiv *x = &r->hivs[ks[i]];
        if (!best || ip_cmp(&r->his[x->hi].ip, &r->his[best->hi].ip) < 0)
            best = x;
    }
    return best;
}

/* The failure shared by most of the listed hivs (ties: the smaller text),
 * on its lowest address. */
static const struct hiv *most_common(const struct report *r, const uint32_t *ks, size_t n)
{
    const struct hiv *best = NULL;
    size_t best_n = 0;
    for (size_t i = 0; i < n; i++) {
        const struct hiv *x = &r->hivs[ks[i]];
        size_t c = 0;
        for (size_t j = 0; j < n; j++)
            c += r->hivs[ks[j]].sig == x->sig;
        if (c > best_n || (c == best_n && strcmp(x->sig, best->sig) < 0) ||
            (c == best_n && x->sig == best->sig &&
             ip_cmp(&r->his[x->hi].ip, &r->his[best->hi].ip) < 0)) {
            best_n = c;
            best = x;
        }
    }
    return best;
}

/* How one edge did for one variant, vantage by vantage: the vantages where
 * every attempt passed (*okv) or failed (*failv); *mixed when some vantage
 * saw both. */
static void vantage_masks(const struct report *r, const struct hiv *x, uint64_t *okv,
                          uint64_t *failv, bool *mixed)
{
    *okv = *failv = 0;
    *mixed = false;
    for (uint32_t v = x->first_hivv; v; v = r->hivvs[v - 1].next) {
        const struct hivv *e = &r->hivvs[v - 1];
        uint64_t bit = UINT64_C(1) << e->vantage;
        if (e->ok && e->fail)
            *mixed = true;
        else if (e->ok)
            *okv |= bit;
        else
            *failv |= bit;
    }
}

static char *join_vantages(const struct report *r, uint64_t mask)
{
    return join_labels(r->vantages, r->nvantages, mask);
}

/* vantage: edges dep[0..n) of hv (one failure) that fail from some vantages
 * and pass from others, each vantage consistently. */
static void judge_vantage(const struct report *r, const struct hv *hv, struct es_findings *fs,
                          const uint32_t *dep, size_t n, const uint32_t *pass, size_t np)
{
    const struct host *host = &r->hosts[hv->host];
    const struct hiv *x = lowest_ip(r, dep, n);
    uint64_t okv = 0, failv = 0, failed = 0, all = 0, res = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t o, f;
        bool mixed;
        vantage_masks(r, &r->hivs[dep[i]], &o, &f, &mixed);
        okv |= o;
        failv |= f;
        failed += r->hivs[dep[i]].fail;
        all += r->hivs[dep[i]].ok + r->hivs[dep[i]].fail;
        res |= r->his[r->hivs[dep[i]].hi].resolvers;
    }
    struct es_finding *f = add_finding(fs, ES_FINDING_VANTAGE, host, hv->variant);
    f->failure = es_xstrdup(x->sig);
    f->failing_ips = join_ips(r, dep, n);
    f->passing_ips = join_ips(r, pass, np);
    f->failing_resolvers = join_resolvers(r, res);
    f->passing_resolvers = es_xstrdup("");
    free(f->failing_vantages);
    free(f->passing_vantages);
    f->failing_vantages = join_vantages(r, failv);
    f->passing_vantages = join_vantages(r, okv);
    f->failed = failed;
    f->attempts = all;
    struct es_sb b = {0};
    es_sb_printf(&b,
                 "the same edge fails from %s and works from %s: the network path from there "
                 "(a middlebox, filtering, or another node behind the same anycast address) "
                 "changes the outcome; ",
                 f->failing_vantages, f->passing_vantages);
    es_sb_add(&b, explain_failure(hv, x));
    f->explain = es_sb_take(&b);
    f->repro = repro_s_client(r, hv, r->his[x->hi].ip, false);
}

/* node, region or variant for the edges fail[0..nf) of hv that fail the
 * same way. */
static void judge_failure(const struct report *r, const struct hv *hv, struct es_findings *fs,
                          const uint32_t *fail, size_t nf, uint64_t failed, const uint32_t *pass,
                          size_t np, const uint32_t *flaky, size_t nk)
{
    const struct host *host = &r->hosts[hv->host];
    const struct hiv *x = lowest_ip(r, fail, nf);
    struct es_finding *f;
    if (!np && !nk) {
        /* No edge passes this variant: `variant` when other variants work. */
        if (!host->ok)
            return; /* the host is down: one `down` finding says it */
        f = add_finding(fs, ES_FINDING_VARIANT, host, hv->variant);
        f->explain = es_xstrdup(explain_failure(hv, x));
    } else {
        /* Region: some resolvers return only edges failing this way, and
         * those resolvers' edges are exactly the failing ones. */
        uint64_t any = 0, bad = 0, failres = 0;
        for (size_t i = 0; i < nf; i++)
            failres |= r->his[r->hivs[fail[i]].hi].resolvers;
        for (size_t i = 0; i < np; i++)
            any |= r->his[r->hivs[pass[i]].hi].resolvers;
        for (size_t i = 0; i < nk; i++)
            any |= r->his[r->hivs[flaky[i]].hi].resolvers;
        bad = failres & ~any; /* resolvers that returned no passing edge */
        bool region = bad != 0;
        for (size_t i = 0; region && i < nf; i++)
            region = (r->his[r->hivs[fail[i]].hi].resolvers & bad) != 0;
        f = add_finding(fs, region ? ES_FINDING_REGION : ES_FINDING_NODE, host, hv->variant);
        f->failing_resolvers = join_resolvers(r, region ? bad : failres);
        f->passing_resolvers = join_resolvers(r, any & ~failres);
        struct es_sb b = {0};
        if (region)
            es_sb_printf(&b, "users of %s reach only failing nodes: ", f->failing_resolvers);
        es_sb_add(&b, explain_failure(hv, x));
        f->explain = es_sb_take(&b);
    }
    f->failure = es_xstrdup(x->sig);
    f->failing_ips = join_ips(r, fail, nf);
    f->passing_ips = join_ips(r, pass, np);
    if (!f->failing_resolvers) {
        uint64_t res = 0;
        for (size_t i = 0; i < nf; i++)
            res |= r->his[r->hivs[fail[i]].hi].resolvers;
        f->failing_resolvers = join_resolvers(r, res);
        f->passing_resolvers = es_xstrdup("");
    }
    f->failed = failed;
    f->attempts = hv->attempts;
    f->repro = repro_s_client(r, hv, r->his[x->hi].ip, false);
}

/* node / region / variant / intermittent / h2 for one (host, port, variant). */
static void judge_hv(const struct report *r, uint32_t v, struct es_findings *fs, uint32_t *fail,
                     uint32_t *pass, uint32_t *flaky, uint32_t *dep)
{
    const struct hv *hv = &r->hvs[v];
    const struct host *host = &r->hosts[hv->host];
    size_t nf = 0, np = 0, nk = 0, nd = 0;
    uint64_t flaky_failed = 0, flaky_attempts = 0;
    struct es_sb h2fail = {0}, h2pass = {0};
    const struct hiv *h2x = NULL;
    uint64_t h2failed = 0, h2all = 0;
    for (uint32_t k = hv->first_hiv; k; k = r->hivs[k - 1].next) {
        const struct hiv *x = &r->hivs[k - 1];
        bool chance = x->fail && !x->ok && x->sig == r->his[x->hi].flaky_sig;
        uint64_t okv, failv;
        bool mixed;
        vantage_masks(r, x, &okv, &failv, &mixed);
        if (okv && failv && !mixed) {
            dep[nd++] = k - 1; /* depends on where the scan ran */
        } else if (x->ok && !x->fail) {
            pass[np++] = k - 1;
        } else if (x->fail && !x->ok && !chance) {
            fail[nf++] = k - 1;
        } else if (chance || x->ok + x->fail >= r->min_repeat) {
            flaky[nk++] = k - 1;
            flaky_failed += x->fail;
            flaky_attempts += x->ok + x->fail;
        }
        if (x->h2fail) {
            es_sb_printf(&h2fail, "%s%s", h2fail.len ? ";" : "", r->his[x->hi].ip);
            if (!h2x || ip_cmp(&r->his[x->hi].ip, &r->his[h2x->hi].ip) < 0)
                h2x = x;
            h2failed += x->h2fail;
        } else if (x->h2ok) {
            es_sb_printf(&h2pass, "%s%s", h2pass.len ? ";" : "", r->his[x->hi].ip);
        }
        h2all += x->h2ok + x->h2fail;
    }
    if (h2x) {
        struct es_finding *f = add_finding(fs, ES_FINDING_H2, host, hv->variant);
        struct es_sb b = {0};
        es_sb_printf(&b, "h2 %s", h2x->h2tok);
        f->failure = es_sb_take(&b);
        f->failing_ips = sort_ip_list(&h2fail);
        f->passing_ips = sort_ip_list(&h2pass);
        f->failing_resolvers = join_resolvers(r, r->his[h2x->hi].resolvers);
        f->passing_resolvers = es_xstrdup("");
        f->failed = h2failed;
        f->attempts = h2all;
        f->explain = es_xstrdup(!strcmp(h2x->h2tok, "eof")
                                    ? "the node negotiates h2 but closes the connection after "
                                      "the HTTP/2 preface: HTTP/2 is broken behind its TLS "
                                      "terminator"
                                    : "the node negotiates h2 but its HTTP/2 connection "
                                      "preface is wrong or missing");
        f->repro = repro_s_client(r, hv, r->his[h2x->hi].ip, true);
    } else {
        es_sb_free(&h2fail);
        es_sb_free(&h2pass);
    }
    if (nk) {
        struct es_finding *f = add_finding(fs, ES_FINDING_INTERMITTENT, host, hv->variant);
        const struct hiv *x = most_common(r, flaky, nk);
        uint64_t res = 0;
        for (size_t i = 0; i < nk; i++)
            res |= r->his[r->hivs[flaky[i]].hi].resolvers;
        f->failure = es_xstrdup(x->sig);
        f->failing_ips = join_ips(r, flaky, nk);
        f->passing_ips = join_ips(r, pass, np);
        f->failing_resolvers = join_resolvers(r, res);
        f->passing_resolvers = es_xstrdup("");
        f->failed = flaky_failed;
        f->attempts = flaky_attempts;
        f->explain = es_xstrdup("the same node both succeeded and failed: a pool with mixed "
                                "configurations behind this address, or an overloaded node");
        f->repro = repro_s_client(r, hv, r->his[x->hi].ip, false);
    }
    for (size_t i = 1; i < nd; i++) /* by failure, as below */
        for (size_t j = i; j > 0 && r->hivs[dep[j - 1]].sig > r->hivs[dep[j]].sig; j--) {
            uint32_t t = dep[j];
            dep[j] = dep[j - 1];
            dep[j - 1] = t;
        }
    for (size_t i = 0; i < nd;) {
        size_t j = i;
        while (j < nd && r->hivs[dep[j]].sig == r->hivs[dep[i]].sig)
            j++;
        judge_vantage(r, hv, fs, dep + i, j - i, pass, np);
        i = j;
    }
    if (!nf)
        return;
    /* One finding per failure: edges that fail differently are not lumped
     * together (insertion sort by failure, then one run per failure). */
    for (size_t i = 1; i < nf; i++)
        for (size_t j = i; j > 0 && r->hivs[fail[j - 1]].sig > r->hivs[fail[j]].sig; j--) {
            uint32_t t = fail[j];
            fail[j] = fail[j - 1];
            fail[j - 1] = t;
        }
    for (size_t i = 0; i < nf;) {
        size_t j = i;
        uint64_t failed = 0;
        while (j < nf && r->hivs[fail[j]].sig == r->hivs[fail[i]].sig)
            failed += r->hivs[fail[j++]].fail;
        judge_failure(r, hv, fs, fail + i, j - i, failed, pass, np, flaky, nk);
        i = j;
    }
}

/* cert: verification failures per token, and edges serving different leaves. */
static void judge_cert(const struct report *r, const struct host *host, struct es_findings *fs)
{
    /* Reproduce with SNI when some variant sent it: a server may answer a
     * ClientHello without SNI with another (default) certificate. */
    /* The lowest variant name among them, so that the repro does not depend
     * on row order (shards, workers). */
    const struct hv *sample = NULL;
    bool sample_sni = false;
    for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next) {
        const struct hv *x = &r->hvs[v - 1];
        bool sni = x->sni && *x->sni && strcmp(x->sni, "none");
        if (!sample || (sni && !sample_sni) ||
            (sni == sample_sni && strcmp(x->variant, sample->variant) < 0)) {
            sample = x;
            sample_sni = sni;
        }
    }
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
        const char *token = r->his[i - 1].vtoken;
        bool first = true;
        for (uint32_t j = host->first_hi; j != i && first; j = r->his[j - 1].next)
            first = r->his[j - 1].vtoken != token;
        if (!token || !first)
            continue;
        struct es_sb ips = {0}, pips = {0};
        uint64_t failed = 0, all = 0, res = 0, okres = 0;
        const char *ip = NULL;
        for (uint32_t j = host->first_hi; j; j = r->his[j - 1].next) {
            const struct hi *e = &r->his[j - 1];
            all += e->vok + e->vfail;
            if (e->vtoken == token) {
                es_sb_printf(&ips, "%s%s", ips.len ? ";" : "", e->ip);
                failed += e->vfail;
                res |= e->resolvers;
                if (!ip || ip_cmp(&e->ip, &ip) < 0)
                    ip = e->ip;
            } else if (e->vok && !e->vfail) {
                es_sb_printf(&pips, "%s%s", pips.len ? ";" : "", e->ip);
                okres |= e->resolvers;
            }
        }
        struct es_finding *f = add_finding(fs, ES_FINDING_CERT, host, "");
        struct es_sb b = {0};
        es_sb_printf(&b, "verify %s", token);
        f->failure = es_sb_take(&b);
        f->failing_ips = sort_ip_list(&ips);
        f->passing_ips = sort_ip_list(&pips);
        f->failing_resolvers = join_resolvers(r, res);
        f->passing_resolvers = join_resolvers(r, okres & ~res);
        f->failed = failed;
        f->attempts = all;
        f->explain = es_xstrdup(explain_verify(token));
        struct es_sb rb = {0};
        char *s = repro_s_client(r, sample, ip, false);
        es_sb_add(&rb, s);
        free(s);
        /* Put the verification flags before the stdin redirect. */
        rb.len -= strlen(" </dev/null");
        rb.s[rb.len] = '\0';
        es_sb_add(&rb, " -verify_return_error -verify_hostname");
        sb_word(&rb, host->name);
        es_sb_add(&rb, " </dev/null");
        f->repro = es_sb_take(&rb);
    }
    /* Different leaves among edges that verify: name the minority. */
    const char *shas[8];
    size_t counts[8], nshas = 0;
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
        const struct hi *e = &r->his[i - 1];
        if (!e->sha || e->vfail)
            continue;
        size_t k = 0;
        while (k < nshas && shas[k] != e->sha)
            k++;
        if (k == nshas && nshas < ES_ARRAY_LEN(shas)) {
            shas[nshas] = e->sha;
            counts[nshas++] = 0;
        }
        if (k < nshas)
            counts[k]++;
    }
    if (nshas < 2)
        return;
    size_t major = 0;
    for (size_t k = 1; k < nshas; k++)
        if (counts[k] > counts[major])
            major = k;
    struct es_sb ips = {0}, pips = {0};
    uint64_t n = 0, all = 0, res = 0;
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
        const struct hi *e = &r->his[i - 1];
        if (!e->sha || e->vfail)
            continue;
        all += e->nsha;
        if (e->sha == shas[major]) {
            es_sb_printf(&pips, "%s%s", pips.len ? ";" : "", e->ip);
        } else {
            es_sb_printf(&ips, "%s%s", ips.len ? ";" : "", e->ip);
            n += e->nsha;
            res |= e->resolvers;
        }
    }
    struct es_finding *f = add_finding(fs, ES_FINDING_CERT, host, "");
    struct es_sb b = {0};
    es_sb_printf(&b, "%zu different certificates", nshas);
    f->failure = es_sb_take(&b);
    f->failing_ips = sort_ip_list(&ips);
    f->passing_ips = sort_ip_list(&pips);
    f->failing_resolvers = join_resolvers(r, res);
    f->passing_resolvers = es_xstrdup("");
    f->failed = n;
    f->attempts = all;
    f->explain = es_xstrdup("edges serve different (valid) certificates: a rotation in progress "
                            "or nodes with separate certificate stores");
    f->repro = es_xstrdup("");
}

static void judge_host(const struct report *r, uint32_t h, struct es_findings *fs, uint64_t dead,
                       uint32_t *scratch, size_t nscratch)
{
    const struct host *host = &r->hosts[h];
    /* dns: resolvers that fail for this host while another answers. */
    uint64_t failed = host->dns_failed & ~dead;
    for (size_t i = 0; i < r->nresolvers; i++) {
        uint64_t bit = UINT64_C(1) << i;
        if (!(failed & bit))
            continue;
        const char *tok = host->dns_token[i];
        bool first = true;
        for (size_t j = 0; j < i; j++)
            first &= !((failed & (UINT64_C(1) << j)) && host->dns_token[j] == tok);
        if (!first || !host->answered)
            continue;
        uint64_t same = 0;
        for (size_t j = 0; j < r->nresolvers; j++)
            if ((failed & (UINT64_C(1) << j)) && host->dns_token[j] == tok)
                same |= UINT64_C(1) << j;
        struct es_finding *f = add_finding(fs, ES_FINDING_DNS, host, "");
        f->failure = es_xstrdup(tok);
        f->failing_ips = es_xstrdup("");
        f->passing_ips = es_xstrdup("");
        f->failing_resolvers = join_resolvers(r, same);
        f->passing_resolvers = join_resolvers(r, host->answered);
        f->failed = (uint64_t)__builtin_popcountll(same);
        f->attempts = (uint64_t)__builtin_popcountll(same | host->answered);
        f->explain = es_xstrdup(explain_dns(tok));
        struct es_sb b = {0};
        es_sb_add(&b, "dig");
        sb_word(&b, host->name);
        es_sb_printf(&b, " A  # through the resolver labelled %s", f->failing_resolvers);
        f->repro = es_sb_take(&b);
    }
    /* down: nothing worked for this host, on any edge, variant or resolver. */
    if (!host->ok && (host->attempts || (host->dns_failed && !host->answered))) {
        struct es_finding *f = add_finding(fs, ES_FINDING_DOWN, host, "");
        struct es_sb ips = {0};
        const struct hiv *x = NULL;
        const struct hv *xv = NULL;
        for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next)
            es_sb_printf(&ips, "%s%s", ips.len ? ";" : "", r->his[i - 1].ip);
        /* The repro: the smallest variant name, then the lowest address. */
        for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next)
            for (uint32_t k = r->hvs[v - 1].first_hiv; k; k = r->hivs[k - 1].next) {
                const struct hv *cv = &r->hvs[v - 1];
                const struct hiv *cx = &r->hivs[k - 1];
                int c = xv ? strcmp(cv->variant, xv->variant) : -1;
                if (c < 0 || (c == 0 && ip_cmp(&r->his[cx->hi].ip, &r->his[x->hi].ip) < 0)) {
                    xv = cv;
                    x = cx;
                }
            }
        f->failing_ips = sort_ip_list(&ips);
        f->passing_ips = es_xstrdup("");
        f->failing_resolvers = join_resolvers(r, host->answered | host->dns_failed);
        f->passing_resolvers = es_xstrdup("");
        f->failed = host->attempts;
        f->attempts = host->attempts;
        if (x) {
            f->failure = es_xstrdup(x->sig);
            struct es_sb b = {0};
            es_sb_printf(&b, "every edge fails every variant: %s", explain_failure(xv, x));
            f->explain = es_sb_take(&b);
            f->repro = repro_s_client(r, xv, r->his[x->hi].ip, false);
        } else {
            const char *tok = "dns_error";
            for (size_t i = 0; i < r->nresolvers; i++)
                if (host->dns_token[i])
                    tok = host->dns_token[i];
            f->failure = es_xstrdup(tok);
            f->explain = es_xstrdup("no resolver returns an address for the name");
            struct es_sb b = {0};
            es_sb_add(&b, "dig");
            sb_word(&b, host->name);
            es_sb_add(&b, " A");
            f->repro = es_sb_take(&b);
        }
        return;
    }
    for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next)
        judge_hv(r, v - 1, fs, scratch, scratch + nscratch, scratch + 2 * nscratch,
                 scratch + 3 * nscratch);
    judge_cert(r, host, fs);
}

/* A resolver that failed for every host (and there are several) is one
 * finding, not one per host. */
static uint64_t judge_dead_resolvers(const struct report *r, struct es_findings *fs)
{
    uint64_t dead = 0;
    for (size_t i = 0; i < r->nresolvers; i++) {
        uint64_t bit = UINT64_C(1) << i;
        size_t failed = 0, answered = 0;
        const char *tok = NULL;
        for (size_t h = 0; h < r->nhosts; h++) {
            if (r->hosts[h].dns_failed & bit) {
                failed++;
                tok = r->hosts[h].dns_token[i];
            }
            answered += (r->hosts[h].answered & bit) != 0;
        }
        if (failed < 2 || answered)
            continue;
        dead |= bit;
        struct host any = {.name = "*", .port = 0};
        struct es_finding *f = add_finding(fs, ES_FINDING_DNS, &any, "");
        struct es_sb b = {0};
        f->failure = es_xstrdup(tok ? tok : "dns_error");
        f->failing_ips = es_xstrdup("");
        f->passing_ips = es_xstrdup("");
        f->failing_resolvers = es_xstrdup(r->resolvers[i]);
        f->passing_resolvers = join_resolvers(r, 0);
        f->failed = failed;
        f->attempts = failed;
        es_sb_printf(&b,
                     "the resolver labelled %s fails for all %zu names asked: it is down, "
                     "unreachable or refuses this vantage point",
                     r->resolvers[i], failed);
        f->explain = es_sb_take(&b);
        f->repro = es_xstrdup("");
    }
    return dead;
}

/* ---- main ---- */

static int parse_fail_on(const char *list, unsigned *mask)
{
    *mask = 0;
    while (list && *list) {
        size_t n = strcspn(list, ",");
        int k = es_finding_kind_parse(list, n);
        if (k < 0)
            es_usage_error("--fail-on: unknown kind '%.*s'; expected node, region, variant, "
                           "intermittent, cert, h2, dns or down",
                           (int)n, list);
        *mask |= 1u << k;
        list += n + (list[n] == ',');
    }
    return 0;
}

static void report_init(struct report *r, unsigned min_repeat)
{
    memset(r, 0, sizeof *r);
    r->pool = es_intern_new();
    r->min_repeat = min_repeat;
    table_init(&r->thost);
    table_init(&r->thv);
    table_init(&r->thi);
    table_init(&r->thiv);
    table_init(&r->thivv);
}

static void report_free(struct report *r)
{
    es_intern_free(r->pool);
    free(r->hosts);
    free(r->hvs);
    free(r->his);
    free(r->hivs);
    free(r->hivvs);
    free(r->thivv.slots);
    free(r->thost.slots);
    free(r->thv.slots);
    free(r->thi.slots);
    free(r->thiv.slots);
}

int es_report_read(struct es_report_input *in, const char *const *files, size_t nfiles,
                   bool skip_bad, struct es_findings *fs, char *err, size_t errlen)
{
    struct report *r = in->_r;
    in->files = files;
    in->nnames = nfiles;
    for (size_t i = 0; i < nfiles; i++) {
        struct es_scanread *sr =
            es_scanread_open(files[i], col_names, col_required, NCOL, err, errlen);
        if (!sr)
            return -1;
        r->nfiles++;
        int rc;
        char rowerr[512];
        while ((rc = es_scanread_next(sr, err, errlen)) != 0) {
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
    (void)fs;
    return 0;
}

/* Intermittence is a property of the node: an edge that both passed and
 * failed on some variant, and failed every attempt of another variant with
 * the same failure, is flaky there too, not failing (docs/findings.md). */
static void mark_flaky(struct report *r)
{
    for (size_t k = 0; k < r->nhivs; k++) {
        const struct hiv *x = &r->hivs[k];
        if (x->ok && x->fail && x->ok + x->fail >= r->min_repeat && !r->his[x->hi].flaky_sig)
            r->his[x->hi].flaky_sig = x->sig;
    }
}

static bool per_variant(enum es_finding_kind k)
{
    return k == ES_FINDING_NODE || k == ES_FINDING_REGION || k == ES_FINDING_VARIANT ||
           k == ES_FINDING_H2 || k == ES_FINDING_INTERMITTENT || k == ES_FINDING_VANTAGE;
}

static int merge_cmp(const void *a, const void *b)
{
    const struct es_finding *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    if (!c)
        c = x->port - y->port;
    if (!c)
        c = (int)x->kind - (int)y->kind;
    if (!c)
        c = strcmp(x->failure, y->failure);
    if (!c)
        c = strcmp(x->failing_ips, y->failing_ips);
    if (!c)
        c = strcmp(x->failing_resolvers, y->failing_resolvers);
    if (!c)
        c = strcmp(x->failing_vantages, y->failing_vantages);
    return c ? c : strcmp(x->variant, y->variant);
}

static bool same_problem(const struct es_finding *x, const struct es_finding *y)
{
    return per_variant(x->kind) && x->kind == y->kind && x->port == y->port &&
           !strcmp(x->host, y->host) && !strcmp(x->failure, y->failure) &&
           !strcmp(x->failing_ips, y->failing_ips) &&
           !strcmp(x->failing_resolvers, y->failing_resolvers) &&
           !strcmp(x->failing_vantages, y->failing_vantages);
}

/* Keeps the ';'-items of *list that are also in other. */
static void intersect(char **list, const char *other)
{
    struct es_sb b = {0};
    for (const char *p = *list; *p;) {
        size_t n = strcspn(p, ";");
        bool found = false;
        for (const char *q = other; *q && !found;) {
            size_t m = strcspn(q, ";");
            found = m == n && !memcmp(p, q, n);
            q += m + (q[m] == ';');
        }
        if (found) {
            if (b.len)
                es_sb_add(&b, ";");
            es_sb_addn(&b, p, n);
        }
        p += n + (p[n] == ';');
    }
    free(*list);
    *list = es_sb_take(&b);
}

/* One finding per problem, not per variant: findings of the same kind, host,
 * failure and failing edges merge; variant becomes the ';'-joined list ("" =
 * every variant probed on the host), the counts add up, and passing edges
 * and resolvers are those that passed on every merged variant. */
static void merge_variants(struct es_findings *fs)
{
    if (fs->n < 2)
        return;
    qsort(fs->v, fs->n, sizeof *fs->v, merge_cmp);
    size_t out = 0;
    for (size_t i = 0; i < fs->n;) {
        size_t j = i + 1;
        while (j < fs->n && same_problem(&fs->v[i], &fs->v[j]))
            j++;
        struct es_finding m = fs->v[i];
        if (j - i > 1) {
            struct es_sb b = {0};
            for (size_t k = i; k < j; k++) {
                es_sb_printf(&b, "%s%s", k > i ? ";" : "", fs->v[k].variant);
                if (k == i)
                    continue;
                m.failed += fs->v[k].failed;
                m.attempts += fs->v[k].attempts;
                intersect(&m.passing_ips, fs->v[k].passing_ips);
                intersect(&m.passing_resolvers, fs->v[k].passing_resolvers);
                intersect(&m.passing_vantages, fs->v[k].passing_vantages);
                struct es_finding *d = &fs->v[k];
                free(d->failure);
                free(d->failing_ips);
                free(d->passing_ips);
                free(d->failing_resolvers);
                free(d->passing_resolvers);
                free(d->explain);
                free(d->repro);
                free(d->_variants);
                free(d->failing_vantages);
                free(d->passing_vantages);
            }
            m._variants = es_sb_take(&b);
            m.variant = j - i == m._host_variants ? "" : m._variants;
        }
        fs->v[out++] = m;
        i = j;
    }
    fs->n = out;
}

void es_report_judge(struct es_report_input *in, struct es_findings *fs)
{
    struct report *r = in->_r;
    mark_flaky(r);
    uint64_t dead = judge_dead_resolvers(r, fs);
    size_t most = 1;
    for (size_t h = 0; h < r->nhosts; h++) {
        size_t n = 0;
        for (uint32_t i = r->hosts[h].first_hi; i; i = r->his[i - 1].next)
            n++;
        most = n > most ? n : most;
    }
    uint32_t *scratch = es_xcalloc(4 * most, sizeof *scratch);
    for (size_t h = 0; h < r->nhosts; h++)
        judge_host(r, (uint32_t)h, fs, dead, scratch, most);
    free(scratch);
    merge_variants(fs);
    es_findings_sort(fs);
    in->rows = r->rows;
    in->planned = r->planned;
    in->bad_rows = r->bad_rows;
    in->nfiles = r->nfiles;
    in->nhosts = r->nhosts;
}

void es_report_input_init(struct es_report_input *in, unsigned min_repeat)
{
    memset(in, 0, sizeof *in);
    in->_r = es_xmalloc(sizeof(struct report));
    report_init(in->_r, min_repeat);
}

void es_report_input_free(struct es_report_input *in)
{
    if (!in->_r)
        return;
    report_free(in->_r);
    free(in->_r);
    in->_r = NULL;
}

/* Fills a heat-map model for the html format (reportout.c draws it). */
void es_report_heatmap(const struct es_report_input *in, es_heat_fn fn, void *arg)
{
    const struct report *r = in->_r;
    for (size_t h = 0; h < r->nhosts; h++) {
        const struct host *host = &r->hosts[h];
        for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next) {
            const struct hv *hv = &r->hvs[v - 1];
            for (uint32_t k = hv->first_hiv; k; k = r->hivs[k - 1].next) {
                const struct hiv *x = &r->hivs[k - 1];
                const struct hi *e = &r->his[x->hi];
                char *res = join_resolvers(r, e->resolvers);
                struct es_heat_cell c = {
                    .host = host->name,
                    .port = host->port,
                    .variant = hv->variant,
                    .ip = e->ip,
                    .resolvers = *res ? res : "-",
                    .vantage = "",
                    .ok = x->ok,
                    .fail = x->fail,
                    .failure = x->sig ? x->sig : "",
                    .verify = e->vtoken ? e->vtoken : "",
                    .h2fail = x->h2fail,
                    .h2 = x->h2tok ? x->h2tok : "",
                    .httpfail = x->httpfail,
                    .http = x->httpfail && e->httptok ? e->httptok : "",
                };
                if (r->nvantages < 2) {
                    fn(arg, &c);
                } else {
                    /* One cell per vantage: rows become variant @ vantage. */
                    for (uint32_t w = x->first_hivv; w; w = r->hivvs[w - 1].next) {
                        const struct hivv *vv = &r->hivvs[w - 1];
                        c.vantage = r->vantages[vv->vantage];
                        c.ok = vv->ok;
                        c.fail = vv->fail;
                        fn(arg, &c);
                        c.h2fail = c.httpfail = 0;
                        c.h2 = c.http = "";
                    }
                }
                free(res);
            }
        }
        for (size_t i = 0; i < r->nresolvers; i++) /* DNS cells */
            if (host->dns_failed & (UINT64_C(1) << i))
                fn(arg, &(struct es_heat_cell){
                            .host = host->name,
                            .port = host->port,
                            .variant = "",
                            .ip = "",
                            .resolvers = r->resolvers[i],
                            .failure = host->dns_token[i] ? host->dns_token[i] : "dns_error",
                            .vantage = "",
                            .fail = 1,
                            .verify = "",
                            .h2 = "",
                            .http = "",
                        });
    }
}

int es_report_main(const struct es_config *cfg)
{
    char err[1024];
    unsigned fail_on;
    parse_fail_on(cfg->fail_on, &fail_on);
    const char *path = cfg->output ? cfg->output : "-";
    enum es_report_format fmt = es_report_format_pick(cfg->format, path);
    struct es_report_input in;
    struct es_findings fs = {0};
    es_report_input_init(&in, (unsigned)cfg->min_repeat);
    /* enum files go to the drift rules (reportdrift.h), the rest are scan files */
    struct es_drift *drift = es_drift_new();
    const char **scan = es_xcalloc(cfg->args.n, sizeof *scan);
    size_t nscan = 0;
    if (es_drift_take(drift, cfg->args.v, cfg->args.n, scan, &nscan, err, sizeof err) < 0 ||
        es_report_read(&in, scan, nscan, cfg->skip_bad_rows, &fs, err, sizeof err) < 0) {
        free(scan);
        es_drift_free(drift);
        es_warn("%s%s", err,
                cfg->skip_bad_rows ? "" : " (--skip-bad-rows counts and skips bad rows)");
        es_report_input_free(&in);
        return ES_EXIT_USAGE;
    }
    es_report_judge(&in, &fs);
    es_drift_judge(drift, &fs, in.rows);
    if (in.bad_rows)
        es_warn("skipped %llu malformed rows", (unsigned long long)in.bad_rows);
    int rc = es_report_write(&in, &fs, fmt, path, err, sizeof err);
    if (rc < 0)
        es_warn("%s", err);
    bool hit = false;
    for (size_t i = 0; i < fs.n; i++)
        hit |= (fail_on >> fs.v[i].kind) & 1u;
    es_findings_free(&fs);
    es_drift_free(drift);
    es_report_input_free(&in);
    free(scan); /* the input keeps the file list until it is freed */
    if (rc < 0)
        return ES_EXIT_RUNTIME;
    return hit ? ES_EXIT_FINDINGS : ES_EXIT_OK;
}
