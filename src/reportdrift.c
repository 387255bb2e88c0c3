/* reportdrift.c - `drift` findings from enum files (include/edgeshake/reportdrift.h). */
#include "edgeshake/reportdrift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/enum.h"
#include "edgeshake/intern.h"
#include "edgeshake/scanread.h"
#include "edgeshake/util.h"

enum { D_VERSIONS, D_CIPHERS12, D_SUITES13, D_GROUPS, D_ALPN, ND };

enum { C_HOST, C_PORT, C_IP, C_STATUS, C_DIMS, NCOLS = C_DIMS + ND };

struct drec {
    const char *host, *ip; /* interned */
    int port;
    const char *set[ND]; /* canonical: items sorted, ';'-joined, interned */
    size_t order;        /* read order, to keep the first of duplicates */
};

struct es_drift {
    struct es_intern *pool;
    struct drec *v;
    size_t n, cap;
};

struct es_drift *es_drift_new(void)
{
    struct es_drift *d = es_xcalloc(1, sizeof *d);
    d->pool = es_intern_new();
    return d;
}

void es_drift_free(struct es_drift *d)
{
    if (!d)
        return;
    es_intern_free(d->pool);
    free(d->v);
    free(d);
}

size_t es_drift_edges(const struct es_drift *d)
{
    return d->n;
}

/* ---- reading ----------------------------------------------------------------------- */

static const char *const want[NCOLS] = {"host",      "port",     "ip",     "status", "versions",
                                        "ciphers12", "suites13", "groups", "alpn"};

bool es_drift_is_enum_file(const char *path)
{
    if (!strcmp(path, "-"))
        return false;
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    /* Both spellings of the column: a CSV header word, a JSON key. */
    return (strstr(buf, ",ciphers12,") && strstr(buf, ",handshakes,")) ||
           (buf[0] == '{' && strstr(buf, "\"ciphers12\":") && strstr(buf, "\"handshakes\":"));
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The list with its items sorted: sets compare as strings. */
static const char *canonical(struct es_intern *pool, const char *list)
{
    char buf[ES_ENUM_LIST_MAX], *items[256];
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *p = strtok_r(buf, ";", &save); p && n < 256;
         p = strtok_r(NULL, ";", &save))
        items[n++] = p;
    qsort(items, n, sizeof *items, cmpstr);
    struct es_sb sb = {0};
    for (size_t i = 0; i < n; i++) {
        if (i)
            es_sb_add(&sb, ";");
        es_sb_add(&sb, items[i]);
    }
    char *s = es_sb_take(&sb);
    const char *r = es_intern(pool, s ? s : "");
    free(s);
    return r;
}

static int read_one(struct es_drift *d, const char *path, char *err, size_t errlen)
{
    bool required[NCOLS];
    for (size_t i = 0; i < NCOLS; i++)
        required[i] = true;
    struct es_scanread *r = es_scanread_open(path, want, required, NCOLS, err, errlen);
    if (!r)
        return -1;
    int rc;
    while ((rc = es_scanread_next(r, err, errlen)) == 1) {
        if (strcmp(es_scanread_field(r, C_STATUS), "ok"))
            continue; /* failed, partial, dns_error, planned: nothing to compare */
        d->v = es_xgrow(d->v, &d->cap, d->n + 1, sizeof *d->v);
        struct drec *x = &d->v[d->n];
        x->host = es_intern(d->pool, es_scanread_field(r, C_HOST));
        x->ip = es_intern(d->pool, es_scanread_field(r, C_IP));
        x->port = atoi(es_scanread_field(r, C_PORT));
        for (size_t k = 0; k < ND; k++)
            x->set[k] = canonical(d->pool, es_scanread_field(r, C_DIMS + k));
        x->order = d->n++;
    }
    es_scanread_close(r);
    return rc < 0 ? -1 : 0;
}

int es_drift_take(struct es_drift *d, const char *const *files, size_t n, const char **scan,
                  size_t *nscan, char *err, size_t errlen)
{
    *nscan = 0;
    for (size_t i = 0; i < n; i++) {
        if (!es_drift_is_enum_file(files[i])) {
            scan[(*nscan)++] = files[i];
            continue;
        }
        if (read_one(d, files[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* ---- judging --------------------------------------------------------------------------- */

static int cmp_host(const void *pa, const void *pb)
{
    const struct drec *a = pa, *b = pb;
    int c = strcmp(a->host, b->host);
    if (c)
        return c;
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    c = strcmp(a->ip, b->ip);
    if (c)
        return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* One edge that differs from its siblings' majority. */
struct diff {
    const struct drec *e;
    const char *maj[ND]; /* the majority set where the edge differs, else NULL */
    size_t others, nsib; /* siblings that accept the majority sets; all siblings */
    char *passing;       /* ';'-joined IPs of those */
};

/* The value held by more than half of sets[0..n) (stride apart), or NULL. */
static const char *majority(const struct drec *const *e, size_t n, size_t dim)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        for (size_t j = 0; j < n; j++)
            c += e[j]->set[dim] == e[i]->set[dim]; /* interned: equal strings, equal pointers */
        if (2 * c > n)
            return e[i]->set[dim];
    }
    return NULL;
}

/* Fills the diff of edge i among sibs[0..n); false when it has none. */
static bool diff_of(const struct drec *const *sibs, size_t n, size_t i, const char *const *maj,
                    struct diff *out)
{
    memset(out, 0, sizeof *out);
    out->e = sibs[i];
    bool any = false;
    for (size_t k = 0; k < ND; k++)
        if (maj[k] && sibs[i]->set[k] != maj[k]) {
            out->maj[k] = maj[k];
            any = true;
        }
    if (!any)
        return false;
    struct es_sb sb = {0};
    out->nsib = n - 1;
    for (size_t j = 0; j < n; j++) {
        if (j == i)
            continue;
        bool ok = true;
        for (size_t k = 0; k < ND; k++)
            ok &= !out->maj[k] || sibs[j]->set[k] == out->maj[k];
        if (!ok)
            continue;
        out->others++;
        if (sb.len)
            es_sb_add(&sb, ";");
        es_sb_add(&sb, sibs[j]->ip);
    }
    out->passing = es_sb_take(&sb);
    if (!out->passing)
        out->passing = es_xstrdup("");
    return true;
}

static bool has_item(const char *list, const char *item, size_t len)
{
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, ";");
        if (l == len && !memcmp(p, item, len))
            return true;
        p += l + (p[l] == ';');
    }
    return false;
}

static void item_label(struct es_sb *sb, size_t dim, const char *item, size_t len)
{
    if (dim == D_VERSIONS)
        es_sb_add(sb, "TLS ");
    else if (dim == D_ALPN)
        es_sb_add(sb, "ALPN ");
    es_sb_addn(sb, item, len);
}

/* Items of a not in b, labelled, comma-separated; returns how many (at most
 * `cap` are written, the rest counted as "N more"). */
static size_t list_minus(struct es_sb *sb, const struct diff *df, bool lacks, size_t cap,
                         unsigned *dims)
{
    size_t n = 0, shown = 0;
    *dims = 0;
    for (size_t k = 0; k < ND; k++) {
        if (!df->maj[k])
            continue;
        const char *a = lacks ? df->maj[k] : df->e->set[k];
        const char *b = lacks ? df->e->set[k] : df->maj[k];
        for (const char *p = a; *p;) {
            size_t l = strcspn(p, ";");
            if (!has_item(b, p, l)) {
                *dims |= 1u << k;
                if (shown < cap) {
                    if (shown)
                        es_sb_add(sb, ", ");
                    item_label(sb, k, p, l);
                    shown++;
                }
                n++;
            }
            p += l + (p[l] == ';');
        }
    }
    if (n > shown)
        es_sb_printf(sb, " and %zu more", n - shown);
    return n;
}

/* ---- linking scan findings ------------------------------------------------------------- */

static bool ip_in(const char *list, const char *ip)
{
    return list && has_item(list, ip, strlen(ip));
}

static bool variant_has(const char *variants, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = variants ? variants : ""; *p;) {
        if (!strncmp(p, prefix, n))
            return true;
        p += strcspn(p, ";");
        p += *p == ';';
    }
    return false;
}

/* Whether a scan finding on the same edge is what the difference causes. */
static bool explains(const struct diff *df, unsigned lack_dims, const struct es_finding *f)
{
    const char *fail = f->failure ? f->failure : "";
    bool a40 = strstr(fail, "alert 40") || strstr(fail, "no_shared_cipher");
    if (lack_dims & (1u << D_VERSIONS)) {
        static const char *const pre[] = {"tls1.0/", "tls1.1/", "tls1.2/", "tls1.3/"};
        for (int v = 0; v < ES_ENUM_NVERSIONS; v++) {
            char item[8];
            snprintf(item, sizeof item, "%s", es_enum_version_text(v));
            if (has_item(df->maj[D_VERSIONS], item, strlen(item)) &&
                !has_item(df->e->set[D_VERSIONS], item, strlen(item)) &&
                variant_has(f->variant, pre[v]))
                return true;
        }
    }
    if ((lack_dims & (1u << D_CIPHERS12)) && a40 &&
        (variant_has(f->variant, "tls1.2/") || variant_has(f->variant, "tls1.1/") ||
         variant_has(f->variant, "tls1.0/")))
        return true;
    if ((lack_dims & ((1u << D_SUITES13) | (1u << D_GROUPS))) && a40 &&
        variant_has(f->variant, "tls1.3/"))
        return true;
    if ((lack_dims & (1u << D_ALPN)) && strstr(fail, "alert 120"))
        return true;
    return false;
}

/* Appends to sb what the scan findings say about this drift. hosts: the
 * hosts the drift is about (one, or a fleet edge's). */
static void link_scan(struct es_sb *sb, const struct diff *df, unsigned lack_dims,
                      const struct es_findings *fs, size_t nscan, const char *const *hosts,
                      size_t nhosts, unsigned long long scan_rows)
{
    size_t linked = 0;
    for (size_t i = 0; i < nscan; i++) {
        const struct es_finding *f = &fs->v[i];
        if (f->kind == ES_FINDING_DRIFT || !ip_in(f->failing_ips, df->e->ip) ||
            f->port != df->e->port)
            continue;
        bool host_ok = !strcmp(f->host, "*");
        for (size_t h = 0; h < nhosts && !host_ok; h++)
            host_ok = !strcmp(f->host, hosts[h]);
        if (!host_ok || !explains(df, lack_dims, f))
            continue;
        if (linked < 3) {
            es_sb_printf(sb, "%sthe scan's %s finding", linked ? "; " : ". Explains ",
                         es_finding_kind_name(f->kind));
            if (strcmp(f->host, "*"))
                es_sb_printf(sb, " on %s", f->host);
            if (f->variant && *f->variant)
                es_sb_printf(sb, " for variant %s", f->variant);
            es_sb_printf(sb, " (%s)", f->failure ? f->failure : "");
        }
        linked++;
    }
    if (linked > 3)
        es_sb_printf(sb, " and %zu more", linked - 3);
    if (!linked && scan_rows)
        es_sb_add(sb, ". Latent: no scan variant has failed on this edge because of it yet");
    else if (!linked)
        es_sb_add(sb, ". No scan file was given: scan with matching variants to see what it "
                      "breaks");
}

/* The failure words of a diff: "lacks A, B; accepts C" (four items each at most). */
static char *failure_words(const struct diff *df)
{
    struct es_sb failure = {0}, extra = {0};
    unsigned dims;
    es_sb_add(&failure, "lacks ");
    if (!list_minus(&failure, df, true, 4, &dims)) {
        failure.len = 0;
        failure.s[0] = '\0';
    }
    if (list_minus(&extra, df, false, 4, &dims))
        es_sb_printf(&failure, "%saccepts %s", failure.len ? "; " : "", extra.s);
    es_sb_free(&extra);
    return es_sb_take(&failure);
}

/* Appends one finding. host: the host, or "*" for a fleet finding about
 * hosts[0..nhosts) out of `served` hosts on the edge; phrase names the
 * siblings ("the 3 other edges of pay.example"); passing is taken over. */
static void add_finding(struct es_findings *fs, const struct diff *df, const char *host,
                        const char *const *hosts, size_t nhosts, size_t served, const char *phrase,
                        char *passing, const struct es_findings *scan_fs, size_t nscan,
                        unsigned long long scan_rows)
{
    bool fleet = !strcmp(host, "*");
    struct es_sb explain = {0}, repro = {0};
    unsigned lack_dims = 0, extra_dims;
    struct es_sb tmp = {0};
    size_t lacks = list_minus(&tmp, df, true, 0, &lack_dims);
    size_t extras = list_minus(&tmp, df, false, 0, &extra_dims);
    es_sb_free(&tmp);
    es_sb_printf(&explain, "%s ", df->e->ip);
    if (lacks) {
        es_sb_add(&explain, "lacks ");
        list_minus(&explain, df, true, 16, &lack_dims);
        es_sb_printf(&explain, " that %s accept", phrase);
    }
    if (extras) {
        es_sb_printf(&explain, "%saccepts ", lacks ? ", and " : "");
        list_minus(&explain, df, false, 16, &extra_dims);
        es_sb_printf(&explain, " that %s do not", lacks ? "they" : phrase);
    }
    link_scan(&explain, df, lack_dims, scan_fs, nscan, hosts, nhosts, scan_rows);
    es_sb_printf(&repro, "edgeshake enum %s@%s -p %d", hosts[0], df->e->ip, df->e->port);

    fs->v = es_xgrow(fs->v, &fs->cap, fs->n + 1, sizeof *fs->v);
    struct es_finding *f = &fs->v[fs->n++];
    memset(f, 0, sizeof *f);
    f->kind = ES_FINDING_DRIFT;
    f->host = host;
    f->port = df->e->port;
    f->variant = "";
    f->failure = failure_words(df);
    f->failing_ips = es_xstrdup(df->e->ip);
    f->passing_ips = passing;
    f->failing_resolvers = es_xstrdup("");
    f->passing_resolvers = es_xstrdup("");
    f->failed = fleet ? nhosts : 1;
    f->attempts = fleet ? served : df->nsib + 1;
    f->explain = es_sb_take(&explain);
    f->repro = es_sb_take(&repro);
    f->failing_vantages = es_xstrdup("");
    f->passing_vantages = es_xstrdup("");
    f->fleet = fleet;
    f->hosts_failing = fleet ? nhosts : 1;
    f->hosts_total = fleet ? served : 1;
    struct es_sb sh = {0};
    for (size_t i = 0; fleet && i < nhosts && i < 5; i++)
        es_sb_printf(&sh, "%s%s", i ? ";" : "", hosts[i]);
    f->sample_hosts = es_sb_take(&sh);
    f->change = "";
}

/* ---- judging: host level, then folding into fleet findings ------------------------------ */

/* A host-level difference, before folding. */
struct cand {
    struct diff df;
    const char *host;
    char *sig; /* what differs, in full: the same on many hosts = one fleet finding */
};

static int cmp_cand(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    int c = strcmp(a->df.e->ip, b->df.e->ip);
    if (c)
        return c;
    if (a->df.e->port != b->df.e->port)
        return a->df.e->port < b->df.e->port ? -1 : 1;
    c = strcmp(a->sig, b->sig);
    return c ? c : strcmp(a->host, b->host);
}

/* Hosts that have a row for (ip, port). */
static size_t served_by(const struct es_drift *d, const char *ip, int port)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += d->v[i].ip == ip && d->v[i].port == port;
    return n;
}

/* The ';'-joined union of the passing lists of c[0..n), without repeats. */
static char *passing_union(const struct cand *c, size_t n)
{
    struct es_sb sb = {0};
    for (size_t i = 0; i < n; i++)
        for (const char *p = c[i].df.passing; *p;) {
            size_t l = strcspn(p, ";");
            if (!sb.s || !has_item(sb.s, p, l)) {
                if (sb.len)
                    es_sb_add(&sb, ";");
                es_sb_addn(&sb, p, l);
            }
            p += l + (p[l] == ';');
        }
    return es_sb_take(&sb);
}

void es_drift_judge(struct es_drift *d, struct es_findings *fs, unsigned long long scan_rows)
{
    size_t nscan = fs->n; /* the scan findings: drift findings are appended after them */
    qsort(d->v, d->n, sizeof *d->v, cmp_host);
    /* the first row of each (host, port, ip) */
    size_t w = 0;
    for (size_t i = 0; i < d->n; i++)
        if (!w || d->v[w - 1].host != d->v[i].host || d->v[w - 1].port != d->v[i].port ||
            d->v[w - 1].ip != d->v[i].ip)
            d->v[w++] = d->v[i];
    d->n = w;
    struct cand *c = NULL;
    size_t nc = 0, capc = 0;
    const struct drec **sibs = es_xcalloc(d->n ? d->n : 1, sizeof *sibs);
    for (size_t i = 0; i < d->n;) {
        size_t j = i;
        while (j < d->n && d->v[j].host == d->v[i].host && d->v[j].port == d->v[i].port)
            j++;
        size_t n = j - i;
        if (n >= 3) {
            for (size_t k = 0; k < n; k++)
                sibs[k] = &d->v[i + k];
            const char *maj[ND];
            for (size_t k = 0; k < ND; k++)
                maj[k] = majority(sibs, n, k);
            for (size_t s = 0; s < n; s++) {
                struct diff df;
                if (!diff_of(sibs, n, s, maj, &df))
                    continue;
                c = es_xgrow(c, &capc, nc + 1, sizeof *c);
                c[nc].df = df;
                c[nc].host = d->v[i].host;
                struct es_sb sig = {0};
                unsigned dims;
                list_minus(&sig, &df, true, SIZE_MAX, &dims);
                es_sb_add(&sig, "|");
                list_minus(&sig, &df, false, SIZE_MAX, &dims);
                c[nc++].sig = es_sb_take(&sig);
            }
        }
        i = j;
    }
    free(sibs);
    /* One edge with the same difference on several hosts is one fleet
     * finding (DESIGN §3.3 "Two levels"); alone, a host finding. */
    qsort(c, nc, sizeof *c, cmp_cand);
    for (size_t i = 0; i < nc;) {
        size_t j = i;
        while (j < nc && c[j].df.e->ip == c[i].df.e->ip && c[j].df.e->port == c[i].df.e->port &&
               !strcmp(c[j].sig, c[i].sig))
            j++;
        char phrase[160];
        if (j - i == 1) {
            const struct diff *df = &c[i].df;
            if (df->others == df->nsib)
                snprintf(phrase, sizeof phrase, "the %zu other edges of %s", df->others, c[i].host);
            else
                snprintf(phrase, sizeof phrase, "%zu of the %zu other edges of %s", df->others,
                         df->nsib, c[i].host);
            const char *host = c[i].host;
            add_finding(fs, df, host, &host, 1, 1, phrase, df->passing, fs, nscan, scan_rows);
        } else {
            size_t served = served_by(d, c[i].df.e->ip, c[i].df.e->port);
            if (j - i == served)
                snprintf(phrase, sizeof phrase, "the other edges of the %zu hosts it serves",
                         served);
            else
                snprintf(phrase, sizeof phrase, "the other edges of %zu of the %zu hosts it serves",
                         j - i, served);
            const char **hosts = es_xcalloc(j - i, sizeof *hosts);
            for (size_t k = i; k < j; k++)
                hosts[k - i] = c[k].host;
            add_finding(fs, &c[i].df, "*", hosts, j - i, served, phrase,
                        passing_union(c + i, j - i), fs, nscan, scan_rows);
            free(hosts);
            for (size_t k = i; k < j; k++)
                free(c[k].df.passing);
        }
        for (size_t k = i; k < j; k++)
            free(c[k].sig);
        i = j;
    }
    free(c);
    es_findings_sort(fs);
}
