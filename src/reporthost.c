/* reporthost.c - the rules per host; see include/edgeshake/reporthost.h and
 * docs/findings.md.
 *
 * For each (host, port): dns (a resolver fails while another answers), down
 * (nothing worked: one finding per distinct failure), then per variant:
 * node / region / variant / vantage / intermittent / h2, then cert. An edge
 * is failing for a variant only when every attempt there failed (precision:
 * a healthy edge never appears in failing_ips). */
#include "edgeshake/reporthost.h"

#include <stdlib.h>
#include <string.h>

#include "edgeshake/reportrules.h"
#include "edgeshake/util.h"

/* ---- helpers ---- */

static const struct rt_report *sort_r; /* qsort has no context argument */

static int ipid_cmp(const void *a, const void *b)
{
    const char *x = rt_ip(sort_r, *(const uint32_t *)a), *y = rt_ip(sort_r, *(const uint32_t *)b);
    return rt_ip_cmp(&x, &y);
}

size_t rh_sort_ips(const struct rt_report *r, uint32_t *ids, size_t n)
{
    sort_r = r;
    if (n > 1)
        qsort(ids, n, sizeof *ids, ipid_cmp);
    size_t out = 0;
    for (size_t i = 0; i < n; i++)
        if (!out || ids[out - 1] != ids[i])
            ids[out++] = ids[i];
    return out;
}

void rh_set_ips(const struct rt_report *r, struct es_finding *f, const uint32_t *ids, size_t n)
{
    uint32_t *v = es_xcalloc(n ? n : 1, sizeof *v);
    memcpy(v, ids, n * sizeof *v);
    n = rh_sort_ips(r, v, n);
    struct es_sb b = {0};
    for (size_t i = 0; i < n; i++)
        es_sb_printf(&b, "%s%s", i ? ";" : "", rt_ip(r, v[i]));
    free(f->failing_ips);
    free(f->_ips);
    f->failing_ips = es_sb_take(&b);
    f->_ips = v;
    f->_nips = n;
}

/* The IPs of the hivs ks[0..n), sorted by address and ';'-joined. */
static char *join_hiv_ips(const struct rt_report *r, const uint32_t *ks, size_t n)
{
    uint32_t *ids = es_xcalloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = r->his[r->hivs[ks[i]].hi].ip;
    n = rh_sort_ips(r, ids, n);
    struct es_sb b = {0};
    for (size_t i = 0; i < n; i++)
        es_sb_printf(&b, "%s%s", i ? ";" : "", rt_ip(r, ids[i]));
    free(ids);
    return es_sb_take(&b);
}

static void set_hiv_ips(const struct rt_report *r, struct es_finding *f, const uint32_t *ks,
                        size_t n)
{
    uint32_t *ids = es_xcalloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = r->his[r->hivs[ks[i]].hi].ip;
    rh_set_ips(r, f, ids, n);
    free(ids);
}

static int ip_less(const struct rt_report *r, uint32_t a, uint32_t b)
{
    const char *x = rt_ip(r, a), *y = rt_ip(r, b);
    return rt_ip_cmp(&x, &y) < 0;
}

static struct es_finding *add_finding(struct es_findings *fs, enum es_finding_kind kind,
                                      const struct rt_report *r, uint32_t h, const char *variant)
{
    const struct rt_host *host = &r->hosts[h];
    struct es_finding *f = es_findings_add(fs);
    f->kind = kind;
    f->host = host->name;
    f->port = host->port;
    f->_host = h + 1;
    f->_host_variants = host->nvariants;
    f->variant = variant ? variant : "";
    f->hosts_failing = f->hosts_total = 1;
    return f;
}

/* The edge of ks[0..n) with the lowest address: the one a finding's repro
 * names, so that the report does not depend on the order rows were read. */
static uint32_t lowest_ip(const struct rt_report *r, const uint32_t *ks, size_t n)
{
    uint32_t best = ks[0];
    for (size_t i = 1; i < n; i++)
        if (ip_less(r, r->his[r->hivs[ks[i]].hi].ip, r->his[r->hivs[best].hi].ip))
            best = ks[i];
    return best;
}

/* The failure shared by most of the listed hivs (ties: the smaller text),
 * on its lowest address. */
static uint32_t most_common(const struct rt_report *r, const uint32_t *ks, size_t n)
{
    uint32_t best = ks[0];
    size_t best_n = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = rt_hiv_sig(r, &r->hivs[ks[i]]), *b = rt_hiv_sig(r, &r->hivs[best]);
        size_t c = 0;
        for (size_t j = 0; j < n; j++)
            c += rt_hiv_sig(r, &r->hivs[ks[j]]) == s;
        if (c > best_n || (c == best_n && strcmp(s, b) < 0) ||
            (c == best_n && s == b &&
             ip_less(r, r->his[r->hivs[ks[i]].hi].ip, r->his[r->hivs[best].hi].ip))) {
            best_n = c;
            best = ks[i];
        }
    }
    return best;
}

static char *repro(const struct rt_report *r, const struct rt_hv *hv, const struct rt_hiv *x)
{
    return rr_repro_s_client(rt_variant(r, hv->variant), rt_sni(r, hv), rt_hiv_ip(r, x),
                             r->hosts[hv->host].port, NULL);
}

static const char *explain(const struct rt_report *r, const struct rt_hv *hv,
                           const struct rt_hiv *x)
{
    return rr_explain_failure(rt_variant(r, hv->variant), rt_sig(r, x->sig));
}

/* Sorts ks[0..n) by failure text (pointer order: texts are interned). */
static void sort_by_sig(const struct rt_report *r, uint32_t *ks, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i;
             j > 0 && rt_hiv_sig(r, &r->hivs[ks[j - 1]]) > rt_hiv_sig(r, &r->hivs[ks[j]]); j--) {
            uint32_t t = ks[j];
            ks[j] = ks[j - 1];
            ks[j - 1] = t;
        }
}

/* ---- per variant ---- */

/* vantage: edges dep[0..n) of hv (one failure) that fail from some vantages
 * and pass from others, each vantage consistently. */
static void judge_vantage(const struct rt_report *r, const struct rt_hv *hv, struct es_findings *fs,
                          const uint32_t *dep, size_t n, const uint32_t *pass, size_t np)
{
    const struct rt_hiv *x = &r->hivs[lowest_ip(r, dep, n)];
    uint64_t okv = 0, failv = 0, failed = 0, all = 0, res = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t o, f;
        bool mixed;
        rt_vantage_masks(r, dep[i], &o, &f, &mixed);
        okv |= o;
        failv |= f;
        failed += r->hivs[dep[i]].fail;
        all += r->hivs[dep[i]].ok + r->hivs[dep[i]].fail;
        res |= r->his[r->hivs[dep[i]].hi].resolvers;
    }
    struct es_finding *f =
        add_finding(fs, ES_FINDING_VANTAGE, r, hv->host, rt_variant(r, hv->variant)->name);
    f->failure = es_xstrdup(rt_hiv_sig(r, x));
    set_hiv_ips(r, f, dep, n);
    f->passing_ips = join_hiv_ips(r, pass, np);
    f->failing_resolvers = rt_join_resolvers(r, res);
    f->failing_vantages = rt_join_vantages(r, failv);
    f->passing_vantages = rt_join_vantages(r, okv);
    f->failed = failed;
    f->attempts = all;
    struct es_sb b = {0};
    es_sb_printf(&b,
                 "the same edge fails from %s and works from %s: the network path from there "
                 "(a middlebox, filtering, or another node behind the same anycast address) "
                 "changes the outcome; ",
                 f->failing_vantages, f->passing_vantages);
    es_sb_add(&b, explain(r, hv, x));
    f->explain = es_sb_take(&b);
    f->repro = repro(r, hv, x);
}

/* node, region or variant for the edges fail[0..nf) of hv that fail the
 * same way. */
static void judge_failure(const struct rt_report *r, const struct rt_hv *hv, struct es_findings *fs,
                          const uint32_t *fail, size_t nf, uint64_t failed, const uint32_t *pass,
                          size_t np, const uint32_t *flaky, size_t nk)
{
    const struct rt_host *host = &r->hosts[hv->host];
    const struct rt_hiv *x = &r->hivs[lowest_ip(r, fail, nf)];
    const char *vname = rt_variant(r, hv->variant)->name;
    struct es_finding *f;
    uint64_t failres = 0;
    if (!strcmp(rt_sig(r, x->sig)->error, "dh_key_too_small")) {
        bool named = true; /* the `weak` finding names these edges */
        for (size_t i = 0; i < nf && named; i++)
            named = r->his[r->hivs[fail[i]].hi].weakkx != 0;
        if (named)
            return;
    }
    for (size_t i = 0; i < nf; i++)
        failres |= r->his[r->hivs[fail[i]].hi].resolvers;
    if (!np && !nk) {
        /* No edge passes this variant: `variant` when other variants work. */
        if (!host->ok)
            return; /* the host is down: its `down` findings say it */
        f = add_finding(fs, ES_FINDING_VARIANT, r, hv->host, vname);
        f->explain = es_xstrdup(explain(r, hv, x));
        f->failing_resolvers = rt_join_resolvers(r, failres);
    } else {
        /* Region: some resolvers return only edges failing this way, and
         * those resolvers' edges are exactly the failing ones. */
        uint64_t any = 0;
        for (size_t i = 0; i < np; i++)
            any |= r->his[r->hivs[pass[i]].hi].resolvers;
        for (size_t i = 0; i < nk; i++)
            any |= r->his[r->hivs[flaky[i]].hi].resolvers;
        uint64_t bad = failres & ~any; /* resolvers that returned no passing edge */
        bool region = bad != 0;
        for (size_t i = 0; region && i < nf; i++)
            region = (r->his[r->hivs[fail[i]].hi].resolvers & bad) != 0;
        f = add_finding(fs, region ? ES_FINDING_REGION : ES_FINDING_NODE, r, hv->host, vname);
        f->failing_resolvers = rt_join_resolvers(r, region ? bad : failres);
        f->passing_resolvers = rt_join_resolvers(r, any & ~failres);
        struct es_sb b = {0};
        if (region)
            es_sb_printf(&b, "users of %s reach only failing nodes: ", f->failing_resolvers);
        es_sb_add(&b, explain(r, hv, x));
        f->explain = es_sb_take(&b);
    }
    f->failure = es_xstrdup(rt_hiv_sig(r, x));
    set_hiv_ips(r, f, fail, nf);
    f->passing_ips = join_hiv_ips(r, pass, np);
    f->failed = failed;
    f->attempts = hv->attempts;
    f->repro = repro(r, hv, x);
}

static void judge_h2(const struct rt_report *r, const struct rt_hv *hv, struct es_findings *fs)
{
    uint32_t *fail = NULL, *pass = NULL;
    size_t nf = 0, np = 0, cf = 0, cp = 0;
    const struct rt_hiv *x = NULL;
    uint64_t failed = 0, all = 0;
    for (uint32_t k = hv->first_hiv; k; k = r->hivs[k - 1].next) {
        const struct rt_hiv *e = &r->hivs[k - 1];
        all += e->h2ok + e->h2fail;
        if (e->h2fail) {
            fail = es_xgrow(fail, &cf, nf + 1, sizeof *fail);
            fail[nf++] = r->his[e->hi].ip;
            if (!x || ip_less(r, r->his[e->hi].ip, r->his[x->hi].ip))
                x = e;
            failed += e->h2fail;
        } else if (e->h2ok) {
            pass = es_xgrow(pass, &cp, np + 1, sizeof *pass);
            pass[np++] = r->his[e->hi].ip;
        }
    }
    if (x) {
        struct es_finding *f =
            add_finding(fs, ES_FINDING_H2, r, hv->host, rt_variant(r, hv->variant)->name);
        struct es_sb b = {0};
        es_sb_printf(&b, "h2 %s", rt_token(r, x->h2tok));
        f->failure = es_sb_take(&b);
        rh_set_ips(r, f, fail, nf);
        np = rh_sort_ips(r, pass, np);
        for (size_t i = 0; i < np; i++)
            es_sb_printf(&b, "%s%s", i ? ";" : "", rt_ip(r, pass[i]));
        f->passing_ips = es_sb_take(&b);
        f->failing_resolvers = rt_join_resolvers(r, r->his[x->hi].resolvers);
        f->failed = failed;
        f->attempts = all;
        f->explain = es_xstrdup(rr_explain_h2(rt_token(r, x->h2tok)));
        f->repro = rr_repro_h2(r->hosts[hv->host].name, r->hosts[hv->host].port, rt_hiv_ip(r, x));
    }
    free(fail);
    free(pass);
}

struct scratch {
    uint32_t *fail, *pass, *flaky, *dep;
    size_t cap;
    bool scanner_clock; /* the scanner's clock is wrong: no per-edge clock findings */
};

/* node / region / variant / vantage / intermittent / h2 for one (host, port,
 * variant). */
static void judge_hv(const struct rt_report *r, uint32_t v, struct es_findings *fs,
                     struct scratch *sc)
{
    const struct rt_hv *hv = &r->hvs[v];
    if (hv->nhiv > sc->cap) {
        sc->cap = hv->nhiv;
        sc->fail = es_xrealloc(sc->fail, sc->cap * sizeof *sc->fail);
        sc->pass = es_xrealloc(sc->pass, sc->cap * sizeof *sc->pass);
        sc->flaky = es_xrealloc(sc->flaky, sc->cap * sizeof *sc->flaky);
        sc->dep = es_xrealloc(sc->dep, sc->cap * sizeof *sc->dep);
    }
    uint32_t *fail = sc->fail, *pass = sc->pass, *flaky = sc->flaky, *dep = sc->dep;
    size_t nf = 0, np = 0, nk = 0, nd = 0;
    uint64_t flaky_failed = 0, flaky_attempts = 0;
    for (uint32_t k = hv->first_hiv; k; k = r->hivs[k - 1].next) {
        const struct rt_hiv *x = &r->hivs[k - 1];
        const struct rt_hi *hi = &r->his[x->hi];
        bool chance = x->fail && !x->ok && hi->flaky_sig &&
                      rt_hiv_sig(r, x) == rt_sig(r, hi->flaky_sig)->text;
        uint64_t okv, failv;
        bool mixed;
        rt_vantage_masks(r, k - 1, &okv, &failv, &mixed);
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
    }
    judge_h2(r, hv, fs);
    const char *vname = rt_variant(r, hv->variant)->name;
    if (nk) {
        struct es_finding *f = add_finding(fs, ES_FINDING_INTERMITTENT, r, hv->host, vname);
        const struct rt_hiv *x = &r->hivs[most_common(r, flaky, nk)];
        uint64_t res = 0;
        for (size_t i = 0; i < nk; i++)
            res |= r->his[r->hivs[flaky[i]].hi].resolvers;
        f->failure = es_xstrdup(rt_hiv_sig(r, x));
        set_hiv_ips(r, f, flaky, nk);
        f->passing_ips = join_hiv_ips(r, pass, np);
        f->failing_resolvers = rt_join_resolvers(r, res);
        f->failed = flaky_failed;
        f->attempts = flaky_attempts;
        f->explain = es_xstrdup("the same node both succeeded and failed: a pool with mixed "
                                "configurations behind this address, or an overloaded node");
        f->repro = repro(r, hv, x);
    }
    sort_by_sig(r, dep, nd);
    for (size_t i = 0; i < nd;) {
        size_t j = i;
        while (j < nd && rt_hiv_sig(r, &r->hivs[dep[j]]) == rt_hiv_sig(r, &r->hivs[dep[i]]))
            j++;
        judge_vantage(r, hv, fs, dep + i, j - i, pass, np);
        i = j;
    }
    /* One finding per failure: edges that fail differently are not lumped
     * together. */
    sort_by_sig(r, fail, nf);
    for (size_t i = 0; i < nf;) {
        size_t j = i;
        uint64_t failed = 0;
        while (j < nf && rt_hiv_sig(r, &r->hivs[fail[j]]) == rt_hiv_sig(r, &r->hivs[fail[i]]))
            failed += r->hivs[fail[j++]].fail;
        judge_failure(r, hv, fs, fail + i, j - i, failed, pass, np, flaky, nk);
        i = j;
    }
}

/* ---- cert ---- */

const struct rt_hv *rh_sample_hv(const struct rt_report *r, const struct rt_host *host)
{
    const struct rt_hv *best = NULL;
    bool best_sni = false;
    for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next) {
        const struct rt_hv *hv = &r->hvs[v - 1];
        bool sni = strcmp(rt_sni(r, hv), "none") != 0;
        if (!best || (sni && !best_sni) ||
            (sni == best_sni &&
             strcmp(rt_variant(r, hv->variant)->name, rt_variant(r, best->variant)->name) < 0)) {
            best = hv;
            best_sni = sni;
        }
    }
    return best;
}

static uint32_t tag_expiry(const struct rt_report *r, const struct rt_hi *e);

/* cert: verification failures per token, and edges serving different leaves. */
static void judge_cert(const struct rt_report *r, uint32_t h, struct es_findings *fs)
{
    const struct rt_host *host = &r->hosts[h];
    const struct rt_hv *sample = rh_sample_hv(r, host);
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
        uint16_t token = r->his[i - 1].vtoken;
        bool first = true;
        for (uint32_t j = host->first_hi; j != i && first; j = r->his[j - 1].next)
            first = r->his[j - 1].vtoken != token;
        if (!token || !first)
            continue;
        uint32_t *ids = es_xcalloc(host->nips, sizeof *ids);
        size_t n = 0;
        uint64_t failed = 0, all = 0, res = 0, okres = 0;
        uint32_t ip = 0;
        for (uint32_t j = host->first_hi; j; j = r->his[j - 1].next) {
            const struct rt_hi *e = &r->his[j - 1];
            all += e->vok + e->vfail;
            if (e->vtoken == token) {
                ids[n++] = e->ip;
                failed += e->vfail;
                res |= e->resolvers;
                if (!ip || ip_less(r, e->ip, ip))
                    ip = e->ip;
            } else if (e->vok && !e->vfail) {
                okres |= e->resolvers;
            }
        }
        struct es_finding *f = add_finding(fs, ES_FINDING_CERT, r, h, "");
        struct es_sb b = {0};
        es_sb_printf(&b, "verify %s", rt_token(r, token));
        f->failure = es_sb_take(&b);
        rh_set_ips(r, f, ids, n);
        free(ids);
        /* passing edges, sorted like the failing ones */
        uint32_t *pids = es_xcalloc(host->nips, sizeof *pids);
        size_t np = 0;
        for (uint32_t j = host->first_hi; j; j = r->his[j - 1].next)
            if (r->his[j - 1].vtoken != token && r->his[j - 1].vok && !r->his[j - 1].vfail)
                pids[np++] = r->his[j - 1].ip;
        np = rh_sort_ips(r, pids, np);
        for (size_t k = 0; k < np; k++)
            es_sb_printf(&b, "%s%s", k ? ";" : "", rt_ip(r, pids[k]));
        free(pids);
        f->passing_ips = es_sb_take(&b);
        f->failing_resolvers = rt_join_resolvers(r, res);
        f->passing_resolvers = rt_join_resolvers(r, okres & ~res);
        f->failed = failed;
        f->attempts = all;
        f->explain = es_xstrdup(rr_explain_verify(rt_token(r, token)));
        f->repro = rr_repro_s_client(rt_variant(r, sample->variant), rt_sni(r, sample),
                                     rt_ip(r, ip), host->port, host->name);
    }
    /* Different leaves among edges that verify: name the minority. */
    uint64_t shas[8];
    size_t counts[8], nshas = 0;
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
        const struct rt_hi *e = &r->his[i - 1];
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
    uint32_t *fids = es_xcalloc(host->nips, sizeof *fids), *pids = es_xcalloc(host->nips, 4);
    size_t nfi = 0, npi = 0;
    uint64_t n = 0, all = 0, res = 0;
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
        const struct rt_hi *e = &r->his[i - 1];
        if (!e->sha || e->vfail)
            continue;
        all += e->nsha;
        if (e->sha == shas[major]) {
            pids[npi++] = e->ip;
        } else {
            fids[nfi++] = e->ip;
            n += e->nsha;
            res |= e->resolvers;
        }
    }
    /* The odd ones out all about to expire: a renewal that missed them,
     * which the `expiry` finding names (with the dates). */
    bool expiring = nfi > 0;
    for (uint32_t i = host->first_hi; i && expiring; i = r->his[i - 1].next) {
        const struct rt_hi *e = &r->his[i - 1];
        if (e->sha && !e->vfail && e->sha != shas[major])
            expiring = tag_expiry(r, e) >= 2;
    }
    if (expiring) {
        free(fids);
        free(pids);
        return;
    }
    struct es_finding *f = add_finding(fs, ES_FINDING_CERT, r, h, "");
    struct es_sb b = {0};
    es_sb_printf(&b, "%zu different certificates", nshas);
    f->failure = es_sb_take(&b);
    rh_set_ips(r, f, fids, nfi);
    npi = rh_sort_ips(r, pids, npi);
    for (size_t k = 0; k < npi; k++)
        es_sb_printf(&b, "%s%s", k ? ";" : "", rt_ip(r, pids[k]));
    f->passing_ips = es_sb_take(&b);
    free(fids);
    free(pids);
    f->failing_resolvers = rt_join_resolvers(r, res);
    f->failed = n;
    f->attempts = all;
    f->explain = es_xstrdup("edges serve different (valid) certificates: a rotation in progress "
                            "or nodes with separate certificate stores");
}

/* ---- issue #16: http, clock, expiry, weak (per edge of the host) ---- */

/* Attempts on the (host, ip) entry hi of host h, every variant. */
static uint64_t hi_attempts(const struct rt_report *r, const struct rt_host *host, uint32_t hi)
{
    uint64_t n = 0;
    for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next)
        for (uint32_t k = r->hvs[v - 1].first_hiv; k; k = r->hivs[k - 1].next)
            if (r->hivs[k - 1].hi == hi)
                n += r->hivs[k - 1].ok + r->hivs[k - 1].fail;
    return n;
}

/* A finding on the edges of host h that `is` picks (by tag), the others
 * that `has` data for passing; returns it with failing_ips, passing_ips,
 * failing/passing resolvers set and *first = the lowest failing ip. */
typedef uint32_t (*hi_tag_fn)(const struct rt_report *r, const struct rt_hi *e);
static struct es_finding *edge_set(const struct rt_report *r, uint32_t h, struct es_findings *fs,
                                   enum es_finding_kind kind, hi_tag_fn tag, uint32_t want,
                                   uint32_t *first)
{
    const struct rt_host *host = &r->hosts[h];
    uint32_t *ids = es_xcalloc(host->nips, sizeof *ids), *pids = es_xcalloc(host->nips, 4);
    size_t n = 0, np = 0;
    uint64_t res = 0, okres = 0;
    *first = 0;
    for (uint32_t j = host->first_hi; j; j = r->his[j - 1].next) {
        const struct rt_hi *e = &r->his[j - 1];
        uint32_t t = tag(r, e);
        if (t == want) {
            ids[n++] = e->ip;
            res |= e->resolvers;
            if (!*first || ip_less(r, e->ip, *first))
                *first = e->ip;
        } else if (t == 1) {
            pids[np++] = e->ip;
            okres |= e->resolvers;
        }
    }
    struct es_finding *f = add_finding(fs, kind, r, h, "");
    rh_set_ips(r, f, ids, n);
    np = rh_sort_ips(r, pids, np);
    struct es_sb b = {0};
    for (size_t k = 0; k < np; k++)
        es_sb_printf(&b, "%s%s", k ? ";" : "", rt_ip(r, pids[k]));
    f->passing_ips = es_sb_take(&b);
    f->failing_resolvers = rt_join_resolvers(r, res);
    f->passing_resolvers = rt_join_resolvers(r, okres & ~res);
    free(ids);
    free(pids);
    return f;
}

/* Tags: 0 = no data, 1 = passing, else a failure (token id + 2, ...). */
static uint32_t tag_http(const struct rt_report *r, const struct rt_hi *e)
{
    (void)r;
    if (e->httpbad && !e->httpok)
        return (uint32_t)e->httptok + 2;
    return e->httpok && !e->httpbad ? 1 : 0;
}

/* http: edges whose every --http-check got no answer or a 5xx, one finding
 * per status. */
static void judge_http(const struct rt_report *r, uint32_t h, struct es_findings *fs)
{
    const struct rt_host *host = &r->hosts[h];
    uint32_t done[16];
    size_t ndone = 0;
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
        uint32_t t = tag_http(r, &r->his[i - 1]);
        bool seen = t < 2;
        for (size_t k = 0; k < ndone && !seen; k++)
            seen = done[k] == t;
        if (seen || ndone == ES_ARRAY_LEN(done))
            continue;
        done[ndone++] = t;
        uint32_t ip;
        struct es_finding *f = edge_set(r, h, fs, ES_FINDING_HTTP, tag_http, t, &ip);
        const char *tok = rt_token(r, (uint16_t)(t - 2));
        struct es_sb b = {0};
        es_sb_printf(&b, "http %s", !strncmp(tok, "status ", 7) ? tok + 7 : tok);
        f->failure = es_sb_take(&b);
        for (uint32_t j = host->first_hi; j; j = r->his[j - 1].next) {
            const struct rt_hi *e = &r->his[j - 1];
            f->attempts += e->httpok + e->httpbad;
            if (tag_http(r, e) == t)
                f->failed += e->httpbad;
        }
        f->explain = es_xstrdup(rr_explain_http(tok));
        f->repro = rr_repro_http(host->name, host->port, rt_ip(r, ip));
    }
}

enum { CLOCK_MAX_S = 60, CLOCK_SAME_S = 5 };

static uint32_t tag_clock(const struct rt_report *r, const struct rt_hi *e)
{
    (void)r;
    if (!e->has_skew)
        return 0;
    if (e->skew > CLOCK_MAX_S || e->skew < -CLOCK_MAX_S)
        return e->ip + 2; /* one finding per edge */
    return 1;
}

static char *clock_failure(int32_t skew)
{
    struct es_sb b = {0};
    es_sb_printf(&b, "clock %lld s %s", (long long)(skew < 0 ? -(int64_t)skew : skew),
                 skew < 0 ? "behind" : "ahead");
    return es_sb_take(&b);
}

/* clock: an edge whose Date is off by more than CLOCK_MAX_S (one finding per
 * edge: two edges off are off by their own amounts). */
static void judge_clock(const struct rt_report *r, uint32_t h, struct es_findings *fs)
{
    const struct rt_host *host = &r->hosts[h];
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
        const struct rt_hi *e = &r->his[i - 1];
        uint32_t t = tag_clock(r, e);
        if (t < 2)
            continue;
        uint32_t ip;
        struct es_finding *f = edge_set(r, h, fs, ES_FINDING_CLOCK, tag_clock, t, &ip);
        f->failure = clock_failure(e->skew);
        f->failed = f->attempts = 1;
        struct es_sb b = {0};
        es_sb_printf(&b,
                     "the Date this edge sends is %lld s %s of the scanner's clock%s: a node "
                     "without working time sync; certificates it checks, tokens and cookies it "
                     "issues and its caches and logs are off by as much",
                     (long long)(e->skew < 0 ? -(int64_t)e->skew : e->skew),
                     e->skew < 0 ? "behind" : "ahead",
                     *f->passing_ips ? ", while the other edges agree with it" : "");
        f->explain = es_sb_take(&b);
        f->repro = rr_repro_clock(host->name, host->port, rt_ip(r, ip));
    }
}

/* Whether the scanner's own clock is wrong: every edge that sent a Date (two
 * addresses or more) is off by more than CLOCK_MAX_S, the same way, within
 * CLOCK_SAME_S of each other. Then one fleet finding says so, and no edge
 * gets a clock finding. */
static bool judge_scanner_clock(const struct rt_report *r, struct es_findings *fs)
{
    int32_t lo = 0, hi = 0;
    uint32_t ip0 = 0;
    bool two = false;
    uint64_t n = 0, hosts = 0;
    for (size_t h = 0; h < r->nhosts; h++) {
        bool seen = false;
        for (uint32_t j = r->hosts[h].first_hi; j; j = r->his[j - 1].next) {
            const struct rt_hi *e = &r->his[j - 1];
            if (!e->has_skew)
                continue;
            if (!n++) {
                lo = hi = e->skew;
                ip0 = e->ip;
            }
            lo = e->skew < lo ? e->skew : lo;
            hi = e->skew > hi ? e->skew : hi;
            two |= e->ip != ip0;
            seen = true;
        }
        hosts += seen;
    }
    bool off = (lo > CLOCK_MAX_S || hi < -CLOCK_MAX_S) && (int64_t)hi - lo <= CLOCK_SAME_S;
    if (!two || !off)
        return false;
    struct es_finding *f = es_findings_add(fs);
    f->kind = ES_FINDING_CLOCK;
    f->fleet = true;
    f->host = "*";
    int64_t mid = ((int64_t)lo + hi) / 2;
    struct es_sb b = {0};
    /* skew = the edge's Date - our clock: edges ahead means we are behind */
    es_sb_printf(&b, "scanner clock %lld s %s", (long long)(mid < 0 ? -mid : mid),
                 mid < 0 ? "ahead" : "behind");
    f->failure = es_sb_take(&b);
    f->failed = f->attempts = n;
    f->hosts_failing = hosts;
    f->hosts_total = r->nhosts;
    es_sb_printf(&b,
                 "every edge that sent a Date (%llu, on %llu hosts) is %lld to %lld s %s this "
                 "machine: the scanner's own clock is wrong, not the edges' (check it first: "
                 "`timedatectl`, `chronyc tracking`); with a wrong clock certificates are also "
                 "verified against the wrong time",
                 (unsigned long long)n, (unsigned long long)hosts,
                 (long long)(mid < 0 ? -(int64_t)hi : lo), (long long)(mid < 0 ? -(int64_t)lo : hi),
                 mid < 0 ? "behind" : "ahead of");
    f->explain = es_sb_take(&b);
    f->repro = es_xstrdup("date -u; timedatectl status");
    return true;
}

static uint32_t expiry_days_of(const struct rt_report *r)
{
    return r->expiry_days;
}

static uint32_t tag_expiry(const struct rt_report *r, const struct rt_hi *e)
{
    if (!e->has_days || e->days < 0)
        return 0; /* an expired certificate is a `cert` finding (verify expired) */
    if ((uint32_t)e->days <= expiry_days_of(r))
        return (uint32_t)e->days + 2;
    return 1;
}

/* expiry: edges whose certificate ends within --expiry-days, one finding per
 * number of days left (one certificate, usually). */
static void judge_expiry(const struct rt_report *r, uint32_t h, struct es_findings *fs)
{
    const struct rt_host *host = &r->hosts[h];
    uint32_t done[16];
    size_t ndone = 0;
    for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
        uint32_t t = tag_expiry(r, &r->his[i - 1]);
        bool seen = t < 2;
        for (size_t k = 0; k < ndone && !seen; k++)
            seen = done[k] == t;
        if (seen || ndone == ES_ARRAY_LEN(done))
            continue;
        done[ndone++] = t;
        uint32_t ip;
        struct es_finding *f = edge_set(r, h, fs, ES_FINDING_EXPIRY, tag_expiry, t, &ip);
        unsigned days = t - 2;
        struct es_sb b = {0};
        if (days == 0)
            es_sb_add(&b, "expires within a day");
        else
            es_sb_printf(&b, "expires in %u day%s", days, days == 1 ? "" : "s");
        f->failure = es_sb_take(&b);
        int32_t until = 0;
        for (uint32_t j = host->first_hi; j; j = r->his[j - 1].next) {
            const struct rt_hi *e = &r->his[j - 1];
            uint32_t et = tag_expiry(r, e);
            if (et)
                f->attempts += e->nsha ? e->nsha : 1;
            if (et == t)
                f->failed += e->nsha ? e->nsha : 1;
            if (et == 1 && e->until && (!until || e->until < until))
                until = e->until;
        }
        es_sb_printf(&b, "the certificate on %s", f->failing_ips);
        for (char *p = b.s + strlen("the certificate on "); (p = strchr(p, ';'));)
            *p = ',';
        es_sb_printf(&b, " %s", f->failure);
        if (*f->passing_ips && until) {
            char day[16];
            rr_format_day(day, sizeof day, until);
            es_sb_printf(&b,
                         "; the other edges serve one valid until %s: a renewal that did not "
                         "reach these nodes",
                         day);
        } else if (*f->passing_ips) {
            es_sb_add(&b, "; the other edges serve one valid for longer: a renewal that did not "
                          "reach these nodes");
        } else {
            es_sb_add(&b, ", on every edge: renew it before clients refuse it");
        }
        f->explain = es_sb_take(&b);
        f->repro = rr_repro_cert(host->name, host->port, rt_ip(r, ip), "-enddate");
    }
}

static uint32_t tag_weakkx(const struct rt_report *r, const struct rt_hi *e)
{
    (void)r;
    return e->weakkx ? (uint32_t)e->weakkx + 2 : 0;
}

static uint32_t tag_weakkey(const struct rt_report *r, const struct rt_hi *e)
{
    (void)r;
    return e->weakkey ? (uint32_t)e->weakkey + 2 : e->has_days ? 1 : 0;
}

/* weak: DHE below 2048 bits, certificate keys below policy; one finding per
 * weakness. Edges that showed another key exchange are not "passing": a
 * TLS 1.3 ECDHE handshake says nothing about the node's DHE. */
static void judge_weak(const struct rt_report *r, uint32_t h, struct es_findings *fs)
{
    const struct rt_host *host = &r->hosts[h];
    for (int pass = 0; pass < 2; pass++) {
        hi_tag_fn tag = pass ? tag_weakkey : tag_weakkx;
        uint32_t done[8];
        size_t ndone = 0;
        for (uint32_t i = host->first_hi; i; i = r->his[i - 1].next) {
            uint32_t t = tag(r, &r->his[i - 1]);
            bool seen = t < 2;
            for (size_t k = 0; k < ndone && !seen; k++)
                seen = done[k] == t;
            if (seen || ndone == ES_ARRAY_LEN(done))
                continue;
            done[ndone++] = t;
            uint32_t ip;
            struct es_finding *f = edge_set(r, h, fs, ES_FINDING_WEAK, tag, t, &ip);
            const char *tok = rt_token(r, (uint16_t)(t - 2));
            f->failure = es_xstrdup(tok);
            for (uint32_t j = host->first_hi; j; j = r->his[j - 1].next) {
                uint64_t a = hi_attempts(r, host, j - 1);
                f->attempts += a;
                if (tag(r, &r->his[j - 1]) == t)
                    f->failed += a;
            }
            f->explain = es_xstrdup(rr_explain_weak(tok));
            f->repro = pass ? rr_repro_cert(host->name, host->port, rt_ip(r, ip), "-text")
                            : rr_repro_dhe(host->name, host->port, rt_ip(r, ip));
        }
    }
}

/* ---- hello: a node finding that only split or pq ClientHellos show ---- */

/* Whether the variants of f (every variant of the host when "") are all
 * --hello pq or split; *shapes gets RR_HELLO_* bits. */
unsigned rh_hello_shapes(const struct rt_report *r, const struct es_finding *f)
{
    const struct rt_host *host = &r->hosts[f->_host - 1];
    unsigned shapes = 0;
    for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next) {
        const struct rt_variant *var = rt_variant(r, r->hvs[v - 1].variant);
        bool in = !*f->variant;
        size_t len = strlen(var->name);
        for (const char *p = f->variant; *p && !in;) {
            size_t n = strcspn(p, ";");
            in = n == len && !memcmp(p, var->name, n);
            p += n + (p[n] == ';');
        }
        if (!in)
            continue;
        if (rt_plain_hello(var))
            return 0;
        shapes |= !strcmp(var->hello, "split") ? RR_HELLO_SPLIT : RR_HELLO_PQ;
    }
    return shapes;
}

/* Whether edge ip passed every plain-hello variant of the host it was
 * probed with (one at least). */
static bool plain_passes(const struct rt_report *r, const struct rt_host *host, uint32_t ip)
{
    unsigned n = 0;
    for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next) {
        if (!rt_plain_hello(rt_variant(r, r->hvs[v - 1].variant)))
            continue;
        for (uint32_t k = r->hvs[v - 1].first_hiv; k; k = r->hivs[k - 1].next) {
            const struct rt_hiv *x = &r->hivs[k - 1];
            if (r->his[x->hi].ip != ip)
                continue;
            if (x->fail || !x->ok)
                return false;
            n++;
        }
    }
    return n > 0;
}

char *rh_hello_repro(const struct rt_report *r, const struct es_finding *f, uint32_t h, uint32_t ip)
{
    const struct rt_host *host = &r->hosts[h];
    const struct rt_hv *best = NULL;
    for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next) {
        const struct rt_hv *hv = &r->hvs[v - 1];
        const struct rt_variant *var = rt_variant(r, hv->variant);
        if (rt_plain_hello(var))
            continue;
        int64_t hi = rt_hi_find(r, h, ip);
        bool failed = false;
        for (uint32_t k = hv->first_hiv; k && !failed; k = r->hivs[k - 1].next)
            failed = (int64_t)r->hivs[k - 1].hi == hi && r->hivs[k - 1].fail;
        if (failed && (!best || strcmp(var->name, rt_variant(r, best->variant)->name) < 0))
            best = hv;
    }
    (void)f;
    if (!best)
        return es_xstrdup("");
    const struct rt_variant *var = rt_variant(r, best->variant);
    return rr_repro_hello(var, host->name, rt_ip(r, ip), host->port, var->hello);
}

/* A node, region or variant finding whose variants are all pq or split, on
 * edges that pass every plain ClientHello: a `hello` finding. */
static void to_hello(const struct rt_report *r, struct es_finding *f)
{
    if (f->kind != ES_FINDING_NODE && f->kind != ES_FINDING_REGION && f->kind != ES_FINDING_VARIANT)
        return;
    unsigned shapes = rh_hello_shapes(r, f);
    if (!shapes || !f->_nips)
        return;
    const struct rt_host *host = &r->hosts[f->_host - 1];
    for (size_t i = 0; i < f->_nips; i++)
        if (!plain_passes(r, host, f->_ips[i]))
            return;
    f->kind = ES_FINDING_HELLO;
    const char **ips = es_xcalloc(f->_nips, sizeof *ips);
    for (size_t i = 0; i < f->_nips; i++)
        ips[i] = rt_ip(r, f->_ips[i]);
    free(f->explain);
    f->explain = rr_explain_hello(ips, f->_nips, shapes);
    free(ips);
    free(f->repro);
    f->repro = rh_hello_repro(r, f, f->_host - 1, f->_ips[0]);
}

/* ---- dns and down ---- */

static char *dig(const struct rt_report *r, const char *host, uint64_t resolvers)
{
    /* the first failing resolver by label */
    int pick = -1;
    for (size_t i = 0; i < r->nresolvers; i++)
        if ((resolvers >> i & 1) && (pick < 0 || strcmp(r->resolvers[i], r->resolvers[pick]) < 0))
            pick = (int)i;
    if (pick < 0)
        return rr_repro_dig(host, "-", NULL);
    return rr_repro_dig(host, r->resolvers[pick], r->resolver_addr[pick]);
}

static void judge_dns(const struct rt_report *r, uint32_t h, struct es_findings *fs)
{
    const struct rt_host *host = &r->hosts[h];
    if (!host->answered)
        return; /* no resolver answered: `down` says it */
    for (uint32_t d = host->first_dns; d; d = r->dns[d - 1].next) {
        uint16_t tok = r->dns[d - 1].token;
        bool first = true;
        for (uint32_t e = host->first_dns; e != d && first; e = r->dns[e - 1].next)
            first = r->dns[e - 1].token != tok;
        if (!first)
            continue;
        uint64_t same = 0;
        for (uint32_t e = host->first_dns; e; e = r->dns[e - 1].next)
            if (r->dns[e - 1].token == tok)
                same |= UINT64_C(1) << r->dns[e - 1].resolver;
        struct es_finding *f = add_finding(fs, ES_FINDING_DNS, r, h, "");
        f->failure = es_xstrdup(rt_token(r, tok));
        f->failing_resolvers = rt_join_resolvers(r, same);
        f->passing_resolvers = rt_join_resolvers(r, host->answered & ~same);
        f->_resolvers = same;
        f->failed = (uint64_t)__builtin_popcountll(same);
        f->attempts = (uint64_t)__builtin_popcountll(same | host->answered);
        f->explain = es_xstrdup(rr_explain_dns(rt_token(r, tok)));
        f->repro = dig(r, host->name, same);
    }
}

/* down: nothing worked for this host, on any edge, variant or resolver. One
 * finding per distinct failure: a refusing edge and a silent one are two. */
static void judge_down(const struct rt_report *r, uint32_t h, struct es_findings *fs)
{
    const struct rt_host *host = &r->hosts[h];
    if (!host->attempts) {
        struct es_finding *f = add_finding(fs, ES_FINDING_DOWN, r, h, "");
        const char *tok = "dns_error";
        for (uint32_t d = host->first_dns; d; d = r->dns[d - 1].next)
            tok = rt_token(r, r->dns[d - 1].token);
        f->failure = es_xstrdup(tok);
        f->failing_resolvers = rt_join_resolvers(r, host->dns_failed);
        f->_resolvers = host->dns_failed;
        f->failed = f->attempts = (uint64_t)__builtin_popcountll(host->dns_failed);
        f->explain = es_xstrdup("no resolver returns an address for the name");
        f->repro = dig(r, host->name, host->dns_failed);
        return;
    }
    /* The distinct failures, in text order. */
    const char *done[64];
    size_t ndone = 0;
    for (;;) {
        const char *next = NULL;
        for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next)
            for (uint32_t k = r->hvs[v - 1].first_hiv; k; k = r->hivs[k - 1].next) {
                const char *s = rt_hiv_sig(r, &r->hivs[k - 1]);
                bool seen = false;
                for (size_t i = 0; i < ndone && !seen; i++)
                    seen = done[i] == s;
                if (*s && !seen && (!next || strcmp(s, next) < 0))
                    next = s;
            }
        if (!next || ndone == ES_ARRAY_LEN(done))
            break;
        done[ndone++] = next;
        uint32_t *ids = es_xcalloc(host->nips, sizeof *ids);
        size_t n = 0;
        uint64_t failed = 0, res = 0;
        const struct rt_hiv *x = NULL;
        const struct rt_hv *xv = NULL;
        for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next)
            for (uint32_t k = r->hvs[v - 1].first_hiv; k; k = r->hivs[k - 1].next) {
                const struct rt_hiv *e = &r->hivs[k - 1];
                const struct rt_hv *ev = &r->hvs[v - 1];
                if (rt_hiv_sig(r, e) != next)
                    continue;
                bool dup = false;
                for (size_t i = 0; i < n && !dup; i++)
                    dup = ids[i] == r->his[e->hi].ip;
                if (!dup)
                    ids[n++] = r->his[e->hi].ip;
                failed += e->fail;
                res |= r->his[e->hi].resolvers;
                /* The repro: the smallest variant name, then the lowest address. */
                int c =
                    xv ? strcmp(rt_variant(r, ev->variant)->name, rt_variant(r, xv->variant)->name)
                       : -1;
                if (c < 0 || (c == 0 && ip_less(r, r->his[e->hi].ip, r->his[x->hi].ip))) {
                    xv = ev;
                    x = e;
                }
            }
        struct es_finding *f = add_finding(fs, ES_FINDING_DOWN, r, h, "");
        f->failure = es_xstrdup(next);
        rh_set_ips(r, f, ids, n);
        free(ids);
        f->failing_resolvers = rt_join_resolvers(r, res | host->dns_failed);
        f->failed = failed;
        f->attempts = host->attempts;
        struct es_sb b = {0};
        es_sb_printf(&b, "%s: %s",
                     f->_nips == host->nips ? "every edge fails every variant"
                                            : "the host fails everywhere; on these edges",
                     explain(r, xv, x));
        f->explain = es_sb_take(&b);
        f->repro = repro(r, xv, x);
    }
}

static void judge_host(const struct rt_report *r, uint32_t h, struct es_findings *fs,
                       struct scratch *sc)
{
    const struct rt_host *host = &r->hosts[h];
    judge_dns(r, h, fs);
    if (!host->ok && (host->attempts || (host->dns_failed && !host->answered))) {
        judge_down(r, h, fs);
        return;
    }
    for (uint32_t v = host->first_hv; v; v = r->hvs[v - 1].next)
        judge_hv(r, v - 1, fs, sc);
    judge_cert(r, h, fs);
    judge_expiry(r, h, fs);
    judge_http(r, h, fs);
    if (!sc->scanner_clock)
        judge_clock(r, h, fs);
    judge_weak(r, h, fs);
}

/* ---- one finding per problem, not per variant ---- */

static bool per_variant(enum es_finding_kind k)
{
    return k == ES_FINDING_NODE || k == ES_FINDING_REGION || k == ES_FINDING_VARIANT ||
           k == ES_FINDING_HELLO || k == ES_FINDING_H2 || k == ES_FINDING_INTERMITTENT ||
           k == ES_FINDING_VANTAGE;
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
static void merge_variants(struct es_findings *fs, size_t from)
{
    struct es_finding *v = fs->v + from;
    size_t n = fs->n - from;
    if (n < 2)
        return;
    for (size_t i = 0; i < n; i++)
        es_finding_fill(&v[i]);
    qsort(v, n, sizeof *v, merge_cmp);
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && same_problem(&v[i], &v[j]))
            j++;
        struct es_finding m = v[i];
        if (j - i > 1) {
            struct es_sb b = {0};
            for (size_t k = i; k < j; k++) {
                es_sb_printf(&b, "%s%s", k > i ? ";" : "", v[k].variant);
                if (k == i)
                    continue;
                m.failed += v[k].failed;
                m.attempts += v[k].attempts;
                intersect(&m.passing_ips, v[k].passing_ips);
                intersect(&m.passing_resolvers, v[k].passing_resolvers);
                intersect(&m.passing_vantages, v[k].passing_vantages);
                es_finding_release(&v[k]);
            }
            free(m._variants);
            m._variants = es_sb_take(&b);
            m.variant = j - i == m._host_variants ? "" : m._variants;
        }
        v[out++] = m;
        i = j;
    }
    fs->n = from + out;
}

void rh_judge_hosts(const struct rt_report *r, struct es_findings *fs)
{
    struct scratch sc = {0};
    sc.scanner_clock = judge_scanner_clock(r, fs);
    for (size_t h = 0; h < r->nhosts; h++) {
        size_t from = fs->n;
        judge_host(r, (uint32_t)h, fs, &sc);
        for (size_t i = from; i < fs->n; i++) /* before merging: node and region are one */
            to_hello(r, &fs->v[i]);
        merge_variants(fs, from);
    }
    free(sc.fail);
    free(sc.pass);
    free(sc.flaky);
    free(sc.dep);
}
