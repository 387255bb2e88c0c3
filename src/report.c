/* report.c - `edgeshake report`: the stages in order (see report.h and
 * reporttab.h for the map): read, judge hosts, judge the fleet, compare with
 * a baseline, write, and decide the exit status (--fail-on). */
#include "edgeshake/report.h"
#include "edgeshake/reportdrift.h"

#include <stdlib.h>
#include <string.h>

#include "edgeshake/cli.h"
#include "edgeshake/reportbase.h"
#include "edgeshake/reportfleet.h"
#include "edgeshake/reporthost.h"
#include "edgeshake/reporttab.h"
#include "edgeshake/util.h"

void es_report_input_init(struct es_report_input *in, unsigned min_repeat)
{
    memset(in, 0, sizeof *in);
    in->_r = es_xmalloc(sizeof(struct rt_report));
    rt_init(in->_r, min_repeat);
}

void es_report_input_free(struct es_report_input *in)
{
    if (!in->_r)
        return;
    rt_free(in->_r);
    free(in->_r);
    in->_r = NULL;
}

static void copy_counts(struct es_report_input *in)
{
    const struct rt_report *r = in->_r;
    in->rows = r->rows;
    in->planned = r->planned;
    in->bad_rows = r->bad_rows;
    in->nfiles = r->nfiles;
    in->nhosts = r->nhosts;
}

int es_report_read(struct es_report_input *in, const char *const *files, size_t nfiles,
                   bool skip_bad, struct es_findings *fs, char *err, size_t errlen)
{
    (void)fs;
    in->files = files;
    in->nnames = nfiles;
    int rc = rt_read(in->_r, files, nfiles, skip_bad, err, errlen);
    copy_counts(in);
    return rc;
}

void es_report_judge(struct es_report_input *in, struct es_findings *fs)
{
    struct rt_report *r = in->_r;
    copy_counts(in);
    /* A --dry-run file probed nothing: no findings (the text says so). */
    if (r->planned && !r->nhivs) {
        es_report_count(in, fs);
        return;
    }
    if (in->expiry_days)
        r->expiry_days = in->expiry_days;
    rt_mark_flaky(r);
    rh_judge_hosts(r, fs);
    rf_judge_fleet(r, fs);
    if (!in->by_host)
        es_findings_drop_folded(fs);
    es_findings_sort(fs);
    es_report_count(in, fs);
}

/* ---- --fail-on ---- */

struct fail_on {
    unsigned kinds; /* bit per kind; 0 = none asked */
    bool new_only;
};

static void parse_fail_on(const char *list, bool baseline, struct fail_on *fo)
{
    memset(fo, 0, sizeof *fo);
    if (!list)
        return;
    if (!strncmp(list, "new", 3) && (list[3] == '\0' || list[3] == ':')) {
        fo->new_only = true;
        list += 3 + (list[3] == ':');
        if (!*list)
            fo->kinds = (1u << ES_FINDING_NKINDS) - 1;
    }
    while (*list) {
        size_t n = strcspn(list, ",");
        int k = es_finding_kind_parse(list, n);
        if (k < 0)
            es_usage_error("--fail-on: unknown kind '%.*s'; expected node, region, vantage, "
                           "variant, intermittent, cert, h2, dns, down, hello, http, clock, "
                           "expiry, weak, drift, or new[:KIND,...]",
                           (int)n, list);
        fo->kinds |= 1u << k;
        list += n + (list[n] == ',');
        if (list[-1] == ',' && !*list)
            es_usage_error("--fail-on: unknown kind ''");
    }
    if (fo->new_only && !baseline)
        es_usage_error("--fail-on new: needs --baseline FILE (findings are new against it)");
}

static bool fires(const struct fail_on *fo, const struct es_finding *f)
{
    if (!((fo->kinds >> f->kind) & 1u) || f->folded || !strcmp(f->change, "fixed"))
        return false;
    return !fo->new_only || !strcmp(f->change, "new");
}

/* One line on stderr naming what fired --fail-on (cron mails it). */
static void tell_fired(const char *option, const struct es_findings *fs, const struct fail_on *fo)
{
    struct es_sb b = {0};
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++) {
        const struct es_finding *f = &fs->v[i];
        if (!fires(fo, f))
            continue;
        if (n++ >= 3)
            continue;
        es_sb_printf(&b, "%s%s%s ", n > 1 ? "; " : "", fo->new_only ? "new " : "",
                     es_finding_kind_name(f->kind));
        if (f->fleet)
            es_sb_printf(&b, "%s: %s for %llu of %llu hosts",
                         f->kind == ES_FINDING_DNS       ? f->failing_resolvers
                         : f->kind == ES_FINDING_VARIANT ? f->variant
                                                         : f->failing_ips,
                         f->failure, (unsigned long long)f->hosts_failing,
                         (unsigned long long)f->hosts_total);
        else
            es_sb_printf(&b, "%s:%d: %s", f->host, f->port, f->failure);
    }
    if (n > 3)
        es_sb_printf(&b, "; and %zu more", n - 3);
    es_warn("--fail-on %s: %zu finding%s: %s", option, n, n == 1 ? "" : "s", b.s ? b.s : "");
    es_sb_free(&b);
}

int es_report_main(const struct es_config *cfg)
{
    char err[1024];
    struct fail_on fo;
    bool baseline = cfg->baseline.n > 0;
    parse_fail_on(cfg->fail_on, baseline, &fo);
    const char *path = cfg->output ? cfg->output : "-";
    enum es_report_format fmt = es_report_format_pick(cfg->format, path);
    struct es_findings base = {0};
    if (baseline && rb_load(cfg->baseline.v, cfg->baseline.n, (unsigned)cfg->min_repeat,
                            (unsigned)cfg->expiry_days, cfg->skip_bad_rows, &base, err, sizeof err) < 0) {
        es_warn("--baseline: %s", err);
        es_findings_free(&base);
        return ES_EXIT_USAGE;
    }
    struct es_report_input in;
    struct es_findings fs = {0};
    es_report_input_init(&in, (unsigned)cfg->min_repeat);
    in.by_host = cfg->by_host || baseline; /* folded findings match the baseline too */
    in.expiry_days = (unsigned)cfg->expiry_days;
    /* enum files go to the drift rules (reportdrift.h), the rest are scan files */
    struct es_drift *drift = es_drift_new();
    const char **scan = es_xcalloc(cfg->args.n + 1, sizeof *scan);
    size_t nscan = 0;
    if (es_drift_take(drift, cfg->args.v, cfg->args.n, scan, &nscan, err, sizeof err) < 0 ||
        es_report_read(&in, scan, nscan, cfg->skip_bad_rows, &fs, err, sizeof err) < 0) {
        es_warn("%s%s", err,
                cfg->skip_bad_rows || strstr(err, "read error")
                    ? ""
                    : " (--skip-bad-rows counts and skips bad rows)");
        es_report_input_free(&in);
        es_findings_free(&base);
        es_drift_free(drift);
        free(scan);
        return ES_EXIT_USAGE;
    }
    es_report_judge(&in, &fs);
    if (es_drift_edges(drift)) {
        es_drift_judge(drift, &fs, in.rows);
        es_findings_sort(&fs);
        es_report_count(&in, &fs);
    }
    if (baseline) {
        rb_mark(&fs, &base);
        if (!cfg->by_host)
            es_findings_drop_folded(&fs);
        in.by_host = cfg->by_host;
        es_findings_sort(&fs);
        es_report_count(&in, &fs);
    }
    if (in.bad_rows)
        es_warn("skipped %llu malformed rows", (unsigned long long)in.bad_rows);
    int rc = es_report_write(&in, &fs, fmt, path, err, sizeof err);
    if (rc < 0)
        es_warn("%s", err);
    bool hit = false;
    for (size_t i = 0; i < fs.n; i++)
        hit |= fires(&fo, &fs.v[i]);
    if (hit)
        tell_fired(cfg->fail_on, &fs, &fo);
    es_findings_free(&fs);
    es_drift_free(drift);
    es_report_input_free(&in);
    free(scan); /* the input keeps the file list until it is freed */
    if (rc < 0)
        return ES_EXIT_RUNTIME;
    return hit ? ES_EXIT_FINDINGS : ES_EXIT_OK;
}
