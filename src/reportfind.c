/* reportfind.c - the findings list of report.h: kinds, ownership, order. */
#include <stdlib.h>
#include <string.h>

#include "edgeshake/report.h"
#include "edgeshake/util.h"

static const char *const kind_names[ES_FINDING_NKINDS] = {
    [ES_FINDING_DOWN] = "down",       [ES_FINDING_REGION] = "region",
    [ES_FINDING_VANTAGE] = "vantage", [ES_FINDING_NODE] = "node",
    [ES_FINDING_VARIANT] = "variant", [ES_FINDING_CERT] = "cert",
    [ES_FINDING_H2] = "h2",           [ES_FINDING_INTERMITTENT] = "intermittent",
    [ES_FINDING_DNS] = "dns",         [ES_FINDING_DRIFT] = "drift",
    [ES_FINDING_HELLO] = "hello",     [ES_FINDING_HTTP] = "http",
    [ES_FINDING_CLOCK] = "clock",     [ES_FINDING_EXPIRY] = "expiry",
    [ES_FINDING_WEAK] = "weak",
};

const char *es_finding_kind_name(enum es_finding_kind kind)
{
    return kind < ES_FINDING_NKINDS ? kind_names[kind] : "?";
}

int es_finding_kind_parse(const char *name, size_t len)
{
    for (int k = 0; k < ES_FINDING_NKINDS; k++)
        if (strlen(kind_names[k]) == len && !memcmp(kind_names[k], name, len))
            return k;
    return -1;
}

struct es_finding *es_findings_add(struct es_findings *fs)
{
    fs->v = es_xgrow(fs->v, &fs->cap, fs->n + 1, sizeof *fs->v);
    struct es_finding *f = &fs->v[fs->n++];
    memset(f, 0, sizeof *f);
    f->variant = "";
    f->change = "";
    return f;
}

void es_finding_fill(struct es_finding *f)
{
    char **strings[] = {
        &f->failure,           &f->failing_ips, &f->passing_ips, &f->failing_resolvers,
        &f->passing_resolvers, &f->explain,     &f->repro,       &f->failing_vantages,
        &f->passing_vantages,  &f->sample_hosts};
    for (size_t i = 0; i < ES_ARRAY_LEN(strings); i++)
        if (!*strings[i])
            *strings[i] = es_xstrdup("");
    if (!f->variant)
        f->variant = "";
    if (!f->change)
        f->change = "";
    if (!f->host)
        f->host = "";
}

void es_finding_release(struct es_finding *f)
{
    free(f->failure);
    free(f->failing_ips);
    free(f->passing_ips);
    free(f->failing_resolvers);
    free(f->passing_resolvers);
    free(f->explain);
    free(f->repro);
    free(f->_variants);
    free(f->failing_vantages);
    free(f->passing_vantages);
    free(f->sample_hosts);
    free(f->_ips);
    free(f->_own);
    memset(f, 0, sizeof *f);
}

void es_findings_free(struct es_findings *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        es_finding_release(&fs->v[i]);
    free(fs->v);
    memset(fs, 0, sizeof *fs);
}

void es_findings_drop_folded(struct es_findings *fs)
{
    size_t out = 0;
    for (size_t i = 0; i < fs->n; i++) {
        if (fs->v[i].folded)
            es_finding_release(&fs->v[i]);
        else
            fs->v[out++] = fs->v[i];
    }
    fs->n = out;
}

static int finding_cmp(const void *a, const void *b)
{
    const struct es_finding *x = a, *y = b;
    bool xf = !strcmp(x->change, "fixed"), yf = !strcmp(y->change, "fixed");
    if (xf != yf)
        return xf ? 1 : -1;
    if (x->fleet != y->fleet)
        return x->fleet ? -1 : 1;
    int c;
    if (x->fleet) {
        if (x->kind != y->kind)
            return x->kind < y->kind ? -1 : 1;
        if ((c = strcmp(x->failing_ips, y->failing_ips)) ||
            (c = strcmp(x->failing_resolvers, y->failing_resolvers)) ||
            (c = strcmp(x->variant, y->variant)))
            return c;
        return strcmp(x->failure, y->failure);
    }
    if ((c = strcmp(x->host, y->host)))
        return c;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if ((c = strcmp(x->variant, y->variant)))
        return c;
    if ((c = strcmp(x->failure, y->failure)))
        return c;
    return strcmp(x->failing_ips, y->failing_ips);
}

void es_findings_sort(struct es_findings *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        es_finding_fill(&fs->v[i]);
    if (fs->n)
        qsort(fs->v, fs->n, sizeof *fs->v, finding_cmp);
}

void es_report_count(struct es_report_input *in, const struct es_findings *fs)
{
    in->nfleet = in->nhost_findings = 0;
    in->fleet_hosts = 0;
    for (size_t i = 0; i < fs->n; i++) {
        const struct es_finding *f = &fs->v[i];
        if (f->change && !strcmp(f->change, "fixed"))
            continue;
        if (f->fleet) {
            in->nfleet++;
            in->fleet_hosts += f->hosts_failing;
        } else if (!f->folded) {
            in->nhost_findings++;
        }
    }
}
