/* reportbase.c - finding identity and --baseline; see
 * include/edgeshake/reportbase.h and docs/findings.md. */
#include "edgeshake/reportbase.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/scanread.h"
#include "edgeshake/util.h"

/* node and region name one problem seen two ways (the region part can change
 * with the resolvers' answers); the identity does not tell them apart. */
static const char *kind_class(enum es_finding_kind k)
{
    return k == ES_FINDING_REGION ? "node" : es_finding_kind_name(k);
}

/* The failure as the identity sees it: clock and expiry findings without
 * their numbers ("clock 3600 s ahead" -> "clock s ahead", "expires in 9
 * days" -> "expires in days"): the skew reads a second differently from one
 * scan to the next, and the days left shrink every day, while the problem
 * stays the same one. Malloc'd. */
static char *identity_failure(const struct es_finding *f)
{
    struct es_sb b = {0};
    bool strip = f->kind == ES_FINDING_CLOCK || f->kind == ES_FINDING_EXPIRY;
    for (const char *p = f->failure; *p; p++) {
        if (strip && *p >= '0' && *p <= '9') {
            while (p[1] == ' ' && p[2] >= '0' && p[2] <= '9')
                p++;
            if (p[1] == ' ')
                p++; /* "in 9 days" -> "in days" */
            continue;
        }
        es_sb_addn(&b, p, 1);
    }
    return b.s ? es_sb_take(&b) : es_xstrdup("");
}

char *rb_identity(const struct es_finding *f)
{
    struct es_sb b = {0};
    const char *kind = kind_class(f->kind);
    char *failure = identity_failure(f);
    if (f->fleet) {
        const char *subject = f->kind == ES_FINDING_DNS       ? f->failing_resolvers
                              : f->kind == ES_FINDING_VARIANT ? f->variant
                                                              : f->failing_ips;
        es_sb_printf(&b, "fleet|%s|%s|%s", kind, subject, failure);
        free(failure);
        return es_sb_take(&b);
    }
    es_sb_printf(&b, "host|%s|%s|%d|%s|", kind, f->host, f->port, failure);
    free(failure);
    switch (f->kind) {
    case ES_FINDING_INTERMITTENT: break; /* which attempts failed is chance */
    case ES_FINDING_DNS: es_sb_add(&b, f->failing_resolvers); break;
    default: es_sb_printf(&b, "%s|%s", f->variant, f->failing_ips);
    }
    return es_sb_take(&b);
}

/* ---- reading a report back ---- */

enum {
    J_KIND,
    J_HOST,
    J_PORT,
    J_VARIANT,
    J_FAILURE,
    J_FAILING_IPS,
    J_PASSING_IPS,
    J_FAILING_RES,
    J_PASSING_RES,
    J_FAILED,
    J_ATTEMPTS,
    J_EXPLAIN,
    J_REPRO,
    J_FAILING_VANT,
    J_PASSING_VANT,
    J_SCOPE,
    J_HOSTS_FAILING,
    J_HOSTS_TOTAL,
    J_SAMPLES,
    J_CHANGE,
    NJ
};
static const char *const jnames[NJ] = {
    "kind",
    "host",
    "port",
    "variant",
    "failure",
    "failing_ips",
    "passing_ips",
    "failing_resolvers",
    "passing_resolvers",
    "failed",
    "attempts",
    "explain",
    "repro",
    "failing_vantages",
    "passing_vantages",
    "scope",
    "hosts_failing",
    "hosts_total",
    "sample_hosts",
    "change",
};

/* Whether path holds a report written by `report --format json` (its first
 * line opens the summary object). */
static bool is_report_json(FILE *f)
{
    char head[16] = "";
    size_t n = fread(head, 1, sizeof head - 1, f);
    rewind(f);
    head[n] = '\0';
    return !strncmp(head, "{\"files\":", 9);
}

static uint64_t u64(const char *s)
{
    uint64_t v = 0;
    es_parse_u64(s, 0, UINT64_MAX, &v);
    return v;
}

/* One finding line of a report: {"kind":...}[,] */
static int read_json_finding(char *line, size_t len, struct es_findings *base, char *err,
                             size_t errlen)
{
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ','))
        line[--len] = '\0';
    const char *v[NJ];
    if (es_scanread_json_line(line, len, jnames, NJ, v, err, errlen) != 1)
        return -1;
    int kind = es_finding_kind_parse(v[J_KIND], strlen(v[J_KIND]));
    if (kind < 0) {
        snprintf(err, errlen, "unknown kind '%.32s'", v[J_KIND]);
        return -1;
    }
    if (!strcmp(v[J_CHANGE], "fixed"))
        return 0; /* fixed before that report: not part of it */
    struct es_finding *f = es_findings_add(base);
    f->kind = (enum es_finding_kind)kind;
    f->fleet = !strcmp(v[J_SCOPE], "fleet") || !strcmp(v[J_HOST], "*");
    /* host and variant share one owned block: "host\0variant\0" */
    size_t hl = strlen(v[J_HOST]), vl = strlen(v[J_VARIANT]);
    f->_own = es_xmalloc(hl + vl + 2);
    memcpy(f->_own, v[J_HOST], hl + 1);
    memcpy(f->_own + hl + 1, v[J_VARIANT], vl + 1);
    f->host = f->_own;
    f->variant = f->_own + hl + 1;
    f->port = (int)u64(v[J_PORT]);
    f->failure = es_xstrdup(v[J_FAILURE]);
    f->failing_ips = es_xstrdup(v[J_FAILING_IPS]);
    f->passing_ips = es_xstrdup(v[J_PASSING_IPS]);
    f->failing_resolvers = es_xstrdup(v[J_FAILING_RES]);
    f->passing_resolvers = es_xstrdup(v[J_PASSING_RES]);
    f->failed = u64(v[J_FAILED]);
    f->attempts = u64(v[J_ATTEMPTS]);
    f->explain = es_xstrdup(v[J_EXPLAIN]);
    f->repro = es_xstrdup(v[J_REPRO]);
    f->failing_vantages = es_xstrdup(v[J_FAILING_VANT]);
    f->passing_vantages = es_xstrdup(v[J_PASSING_VANT]);
    f->hosts_failing = u64(v[J_HOSTS_FAILING]);
    f->hosts_total = u64(v[J_HOSTS_TOTAL]);
    f->sample_hosts = es_xstrdup(v[J_SAMPLES]);
    return 0;
}

static int read_report_json(FILE *f, const char *path, struct es_findings *base, char *err,
                            size_t errlen)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (strncmp(line, "{\"kind\":", 8))
            continue;
        char why[256];
        if (read_json_finding(line, (size_t)len, base, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s:%lu: not a finding of `report --format json`: %s", path,
                     lineno, why);
            rc = -1;
            break;
        }
    }
    if (!rc && ferror(f)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno ? errno : EIO));
        rc = -1;
    }
    free(line);
    return rc;
}

int rb_load(const char *const *files, size_t nfiles, unsigned min_repeat, unsigned expiry_days,
            bool skip_bad, struct es_findings *base, char *err, size_t errlen)
{
    const char **scans = es_xcalloc(nfiles ? nfiles : 1, sizeof *scans);
    size_t nscans = 0;
    int rc = 0;
    for (size_t i = 0; i < nfiles && !rc; i++) {
        FILE *f = fopen(files[i], "rb");
        if (!f) {
            snprintf(err, errlen, "%s: cannot read: %s", files[i], strerror(errno));
            rc = -1;
            break;
        }
        if (is_report_json(f))
            rc = read_report_json(f, files[i], base, err, errlen);
        else
            scans[nscans++] = files[i];
        fclose(f);
    }
    if (!rc && nscans) {
        struct es_report_input in;
        es_report_input_init(&in, min_repeat);
        in.by_host = true;
        in.expiry_days = expiry_days;
        rc = es_report_read(&in, scans, nscans, skip_bad, base, err, errlen);
        if (!rc) {
            es_report_judge(&in, base);
            /* the findings outlive the tables: own their host and variant */
            for (size_t i = 0; i < base->n; i++) {
                struct es_finding *x = &base->v[i];
                if (x->_own)
                    continue;
                size_t hl = strlen(x->host), vl = strlen(x->variant);
                x->_own = es_xmalloc(hl + vl + 2);
                memcpy(x->_own, x->host, hl + 1);
                memcpy(x->_own + hl + 1, x->variant, vl + 1);
                x->host = x->_own;
                x->variant = x->_own + hl + 1;
            }
        }
        es_report_input_free(&in);
    }
    free(scans);
    return rc;
}

/* ---- marking ---- */

struct ident {
    char *id;
    size_t index;
};

static int ident_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ident *)a)->id, ((const struct ident *)b)->id);
}

void rb_mark(struct es_findings *fs, struct es_findings *base)
{
    struct ident *ids = es_xcalloc(base->n ? base->n : 1, sizeof *ids);
    bool *matched = es_xcalloc(base->n ? base->n : 1, sizeof *matched);
    for (size_t i = 0; i < base->n; i++)
        ids[i] = (struct ident){rb_identity(&base->v[i]), i};
    qsort(ids, base->n, sizeof *ids, ident_cmp);
    for (size_t i = 0; i < fs->n; i++) {
        struct ident key = {rb_identity(&fs->v[i]), 0};
        struct ident *hit = base->n ? bsearch(&key, ids, base->n, sizeof *ids, ident_cmp) : NULL;
        fs->v[i].change = hit ? "persisting" : "new";
        /* every base finding with this identity is matched */
        for (struct ident *p = hit; p && p >= ids && !strcmp(p->id, key.id); p--)
            matched[p->index] = true;
        for (struct ident *p = hit; p && p < ids + base->n && !strcmp(p->id, key.id); p++)
            matched[p->index] = true;
        free(key.id);
    }
    size_t n = fs->n;
    for (size_t i = 0; i < base->n; i++) {
        if (matched[i]) {
            es_finding_release(&base->v[i]);
            continue;
        }
        /* the same identity twice in the baseline is listed once */
        bool dup = false;
        for (size_t j = n; j < fs->n && !dup; j++) {
            char *a = rb_identity(&fs->v[j]), *b = rb_identity(&base->v[i]);
            dup = !strcmp(a, b);
            free(a);
            free(b);
        }
        if (dup) {
            es_finding_release(&base->v[i]);
            continue;
        }
        struct es_finding *f = es_findings_add(fs);
        *f = base->v[i];
        f->change = "fixed";
        f->_host = 0;
    }
    for (size_t i = 0; i < base->n; i++)
        free(ids[i].id);
    free(ids);
    free(matched);
    free(base->v);
    memset(base, 0, sizeof *base);
}
