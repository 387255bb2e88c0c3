/* reportout.c - the output formats of `edgeshake report` (report.h): text,
 * csv, json (and html, until reporthtml.c takes it). The formats take the
 * findings and the read-only input; they never call back into judging. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgeshake/report.h"
#include "edgeshake/util.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

enum es_report_format es_report_format_pick(const char *explicit_name, const char *path)
{
    static const struct {
        const char *name, *suffix;
        enum es_report_format fmt;
    } t[] = {{"text", ".txt", ES_REPORT_TEXT},
             {"csv", ".csv", ES_REPORT_CSV},
             {"json", ".json", ES_REPORT_JSON},
             {"html", ".html", ES_REPORT_HTML},
             {"html", ".htm", ES_REPORT_HTML}};
    for (size_t i = 0; i < ES_ARRAY_LEN(t); i++)
        if (explicit_name && !strcmp(explicit_name, t[i].name))
            return t[i].fmt;
    if (path && strcmp(path, "-"))
        for (size_t i = 0; i < ES_ARRAY_LEN(t); i++)
            if (ends_with(path, t[i].suffix))
                return t[i].fmt;
    return ES_REPORT_TEXT; /* a terminal or not: a person or cron reads it */
}

/* ---- text ---- */

/* Prints words of text wrapped at 79 columns, every line indented. */
static void text_wrap(FILE *f, const char *prefix, const char *text, int indent)
{
    int col = fprintf(f, "%*s%s", indent, "", prefix);
    bool fresh = true; /* no word on this line yet */
    while (*text) {
        size_t w = strcspn(text, " ");
        if (!fresh && col + 1 + (int)w > 79) {
            fprintf(f, "\n%*s", indent + 2, "");
            col = indent + 2;
        } else if (!fresh) {
            fputc(' ', f);
            col++;
        }
        fresh = false;
        fprintf(f, "%.*s", (int)w, text);
        col += (int)w;
        text += w;
        while (*text == ' ')
            text++;
    }
    fputc('\n', f);
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

/* The summary at the top: "4 fleet findings covering 4,000 host failures; 3
 * host findings". */
static void text_summary(FILE *f, const struct es_report_input *in, const struct es_findings *fs)
{
    char a[32], b[32], c[32];
    size_t nnew = 0, nfixed = 0, npersist = 0;
    for (size_t i = 0; i < fs->n; i++) {
        const char *ch = fs->v[i].change ? fs->v[i].change : "";
        if (fs->v[i].folded)
            continue;
        nnew += !strcmp(ch, "new");
        nfixed += !strcmp(ch, "fixed");
        npersist += !strcmp(ch, "persisting");
    }
    if (in->planned && !in->rows) {
        fprintf(f, "no findings: the files hold %s planned rows from --dry-run and no probe\n",
                num(a, sizeof a, in->planned));
    } else {
        fprintf(f, "%s fleet finding%s covering %s host failure%s; %s host finding%s",
                num(a, sizeof a, in->nfleet), in->nfleet == 1 ? "" : "s",
                num(b, sizeof b, in->fleet_hosts), in->fleet_hosts == 1 ? "" : "s",
                num(c, sizeof c, in->nhost_findings), in->nhost_findings == 1 ? "" : "s");
        if (nnew + nfixed + npersist)
            fprintf(f, "; against the baseline: %zu new, %zu persisting, %zu fixed", nnew, npersist,
                    nfixed);
        fputc('\n', f);
    }
    fprintf(f, "(%zu file%s, %s rows, %s hosts)\n", in->nfiles, in->nfiles == 1 ? "" : "s",
            num(a, sizeof a, in->rows), num(b, sizeof b, in->nhosts));
}

/* The counts of a fleet finding in words. */
static void text_fleet_counts(FILE *f, const struct es_finding *x)
{
    char a[32], b[32], c[32], d[32];
    const char *of = x->kind == ES_FINDING_DNS       ? "names asked through it"
                     : x->kind == ES_FINDING_VARIANT ? "hosts probed with it"
                     : x->kind == ES_FINDING_CERT    ? "hosts these edges serve"
                                                     : "hosts it serves";
    struct es_sb s = {0};
    es_sb_printf(&s, "%s: fails for %s of the %s %s", x->failure,
                 num(a, sizeof a, x->hosts_failing), num(b, sizeof b, x->hosts_total), of);
    if (x->kind != ES_FINDING_DNS)
        es_sb_printf(&s, " (%s of %s attempts)", num(c, sizeof c, x->failed),
                     num(d, sizeof d, x->attempts));
    text_wrap(f, "", s.s, 4);
    es_sb_free(&s);
}

static void text_fleet(FILE *f, const struct es_finding *x, const char *kc, const char *off)
{
    struct es_sb s = {0};
    switch (x->kind) {
    case ES_FINDING_DNS: es_sb_printf(&s, "resolver %s", x->failing_resolvers); break;
    case ES_FINDING_VARIANT: es_sb_printf(&s, "variant %s", x->variant); break;
    case ES_FINDING_CERT: es_sb_printf(&s, "certificate on %s", x->failing_ips); break;
    default:
        es_sb_add(&s, x->failing_ips);
        if (x->port)
            es_sb_printf(&s, ":%d", x->port);
        es_sb_printf(&s, " %s", *x->variant ? x->variant : "(all variants)");
    }
    fprintf(f, "  %s%-12s%s %s", kc, es_finding_kind_name(x->kind), off, s.s);
    if (*x->change)
        fprintf(f, " [%s]", x->change);
    fputc('\n', f);
    es_sb_free(&s);
    text_fleet_counts(f, x);
    if (x->kind != ES_FINDING_DNS && *x->failing_resolvers) {
        es_sb_printf(&s, "reached through: %s", x->failing_resolvers);
        text_wrap(f, "", s.s, 4);
        es_sb_free(&s);
    }
    if (*x->sample_hosts) {
        char a[32];
        es_sb_add(&s, "hosts: ");
        for (const char *p = x->sample_hosts; *p; p++)
            es_sb_addn(&s, *p == ';' ? " " : p, 1);
        size_t shown = 1;
        for (const char *p = x->sample_hosts; *p; p++)
            shown += *p == ';';
        if (x->hosts_failing > shown)
            es_sb_printf(&s, " (and %s more; --by-host lists them)",
                         num(a, sizeof a, x->hosts_failing - shown));
        text_wrap(f, "", s.s, 4);
        es_sb_free(&s);
    }
    text_wrap(f, "why: ", x->explain, 4);
    if (*x->repro)
        fprintf(f, "    try: %s\n", x->repro);
}

static void text_host(FILE *f, const struct es_finding *x, const char *kc, const char *off)
{
    fprintf(f, "  %s%-12s%s", kc, es_finding_kind_name(x->kind), off);
    const char *tag = x->folded ? " (in a fleet finding above)" : "";
    char change[32] = "";
    if (*x->change)
        snprintf(change, sizeof change, " [%s]", x->change);
    if (!*x->variant) {
        fprintf(f, " (all variants)%s%s\n", change, tag);
    } else {
        /* A merged list: one variant per line, aligned. */
        for (const char *p = x->variant; *p;) {
            size_t n = strcspn(p, ";");
            fprintf(f, "%s%.*s", p == x->variant ? " " : "               ", (int)n, p);
            p += n + (p[n] == ';');
            fprintf(f, "%s%s\n", *p ? "" : change, *p ? "" : tag);
        }
    }
    char line[512];
    snprintf(line, sizeof line, "%s: %llu of %llu failed", x->failure,
             (unsigned long long)x->failed, (unsigned long long)x->attempts);
    text_wrap(f, "", line, 4);
    if (!*x->failing_ips && *x->failing_resolvers) {
        struct es_sb b = {0};
        es_sb_printf(&b, "resolvers failing: %s", x->failing_resolvers);
        if (*x->passing_resolvers)
            es_sb_printf(&b, "; answering: %s", x->passing_resolvers);
        text_wrap(f, "", b.s, 4);
        es_sb_free(&b);
    } else if (*x->failing_ips) {
        struct es_sb b = {0};
        es_sb_printf(&b, "failing: %s", x->failing_ips);
        if (*x->failing_resolvers)
            es_sb_printf(&b, " (via %s)", x->failing_resolvers);
        if (*x->passing_ips || *x->passing_resolvers) {
            es_sb_printf(&b, "; passing: %s", *x->passing_ips ? x->passing_ips : "-");
            if (*x->passing_resolvers)
                es_sb_printf(&b, " (via %s)", x->passing_resolvers);
        }
        text_wrap(f, "", b.s, 4);
        es_sb_free(&b);
    }
    if (*x->failing_vantages) {
        struct es_sb b = {0};
        es_sb_printf(&b, "failing from: %s; passing from: %s", x->failing_vantages,
                     *x->passing_vantages ? x->passing_vantages : "-");
        text_wrap(f, "", b.s, 4);
        es_sb_free(&b);
    }
    text_wrap(f, "why: ", x->explain, 4);
    if (*x->repro)
        fprintf(f, "    try: %s\n", x->repro);
}

static void write_text(FILE *f, const struct es_report_input *in, const struct es_findings *fs,
                       bool color)
{
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
    text_summary(f, in, fs);
    const char *last_host = NULL;
    int last_port = -1;
    int section = -1; /* 0 fleet, 1 hosts, 2 fixed */
    for (size_t i = 0; i < fs->n && !ferror(f); i++) {
        const struct es_finding *x = &fs->v[i];
        int sec = !strcmp(x->change, "fixed") ? 2 : x->fleet ? 0 : 1;
        if (sec != section) {
            static const char *const titles[] = {"fleet findings (one per edge, certificate, "
                                                 "variant or resolver, across its hosts)",
                                                 "host findings", "fixed since the baseline"};
            fprintf(f, "\n%s%s%s\n", bold, titles[sec], off);
            section = sec;
            last_host = NULL;
        }
        const char *kc = "";
        if (color)
            kc = x->kind <= ES_FINDING_NODE ? "\033[31m" : "\033[33m";
        if (x->fleet) {
            fputc('\n', f);
            text_fleet(f, x, kc, off);
            continue;
        }
        if (!last_host || strcmp(last_host, x->host) || last_port != x->port) {
            if (x->port)
                fprintf(f, "\n%s%s:%d%s\n", bold, x->host, x->port, off);
            else
                fprintf(f, "\n%s(every host)%s\n", bold, off);
            last_host = x->host;
            last_port = x->port;
        }
        text_host(f, x, kc, off);
    }
    if (!fs->n && !(in->planned && !in->rows))
        fprintf(f, "\nno findings: every host answered every variant on every edge.\n");
}

/* ---- csv and json ---- */

static void csv_cell(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_csv(FILE *f, const struct es_findings *fs)
{
    fputs("kind,host,port,variant,failure,failing_ips,passing_ips,failing_resolvers,"
          "passing_resolvers,failed,attempts,explain,repro,failing_vantages,passing_vantages,"
          "scope,hosts_failing,hosts_total,sample_hosts,change\n",
          f);
    for (size_t i = 0; i < fs->n && !ferror(f); i++) {
        const struct es_finding *x = &fs->v[i];
        const char *cells[] = {x->failure, x->failing_ips, x->passing_ips, x->failing_resolvers,
                               x->passing_resolvers};
        fprintf(f, "%s,", es_finding_kind_name(x->kind));
        csv_cell(f, x->host);
        if (x->port)
            fprintf(f, ",%d,", x->port);
        else
            fputs(",,", f);
        csv_cell(f, x->variant);
        for (size_t c = 0; c < ES_ARRAY_LEN(cells); c++) {
            fputc(',', f);
            csv_cell(f, cells[c]);
        }
        fprintf(f, ",%llu,%llu,", (unsigned long long)x->failed, (unsigned long long)x->attempts);
        csv_cell(f, x->explain);
        fputc(',', f);
        csv_cell(f, x->repro);
        fputc(',', f);
        csv_cell(f, x->failing_vantages);
        fputc(',', f);
        csv_cell(f, x->passing_vantages);
        fprintf(f, ",%s,%llu,%llu,", x->fleet ? "fleet" : "host",
                (unsigned long long)x->hosts_failing, (unsigned long long)x->hosts_total);
        csv_cell(f, x->sample_hosts);
        fputc(',', f);
        csv_cell(f, x->change);
        fputc('\n', f);
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void write_json(FILE *f, const struct es_report_input *in, const struct es_findings *fs)
{
    /* The first line is the summary; then one finding per line (what
     * `report --baseline` reads back). */
    fprintf(f,
            "{\"files\":%zu,\"rows\":%llu,\"planned\":%llu,\"bad_rows\":%llu,\"hosts\":%zu,"
            "\"fleet_findings\":%zu,\"fleet_hosts\":%llu,\"host_findings\":%zu,\"findings\":[",
            in->nfiles, (unsigned long long)in->rows, (unsigned long long)in->planned,
            (unsigned long long)in->bad_rows, in->nhosts, in->nfleet,
            (unsigned long long)in->fleet_hosts, in->nhost_findings);
    for (size_t i = 0; i < fs->n && !ferror(f); i++) {
        const struct es_finding *x = &fs->v[i];
        fprintf(f, "%s\n{\"kind\":\"%s\",\"host\":", i ? "," : "", es_finding_kind_name(x->kind));
        json_str(f, x->host);
        if (x->port)
            fprintf(f, ",\"port\":%d,\"variant\":", x->port);
        else
            fputs(",\"port\":null,\"variant\":", f);
        json_str(f, x->variant);
        const char *names[] = {"failure", "failing_ips", "passing_ips", "failing_resolvers",
                               "passing_resolvers"};
        const char *cells[] = {x->failure, x->failing_ips, x->passing_ips, x->failing_resolvers,
                               x->passing_resolvers};
        for (size_t c = 0; c < ES_ARRAY_LEN(cells); c++) {
            fprintf(f, ",\"%s\":", names[c]);
            json_str(f, cells[c]);
        }
        fprintf(f, ",\"failed\":%llu,\"attempts\":%llu,\"explain\":", (unsigned long long)x->failed,
                (unsigned long long)x->attempts);
        json_str(f, x->explain);
        fputs(",\"repro\":", f);
        json_str(f, x->repro);
        fputs(",\"failing_vantages\":", f);
        json_str(f, x->failing_vantages);
        fputs(",\"passing_vantages\":", f);
        json_str(f, x->passing_vantages);
        fprintf(f,
                ",\"scope\":\"%s\",\"hosts_failing\":%llu,\"hosts_total\":%llu,"
                "\"sample_hosts\":",
                x->fleet ? "fleet" : "host", (unsigned long long)x->hosts_failing,
                (unsigned long long)x->hosts_total);
        json_str(f, x->sample_hosts);
        fputs(",\"change\":", f);
        json_str(f, x->change);
        if (x->folded)
            fputs(",\"folded\":true", f);
        fputc('}', f);
    }
    fputs("\n]}\n", f);
}

/* ---- html ---- */

static void html_str(FILE *f, const char *s)
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

struct cell {
    char *host, *variant, *ip, *resolvers, *failure, *verify;
    int port;
    uint64_t ok, fail;
};

struct cells {
    struct cell *v;
    size_t n, cap;
};

static void collect(void *arg, const struct es_heat_cell *c)
{
    struct cells *cs = arg;
    cs->v = es_xgrow(cs->v, &cs->cap, cs->n + 1, sizeof *cs->v);
    struct es_sb row = {0};
    es_sb_add(&row, c->variant);
    if (*c->vantage)
        es_sb_printf(&row, " @ %s", c->vantage);
    cs->v[cs->n++] = (struct cell){.host = es_xstrdup(c->host),
                                   .variant = es_sb_take(&row),
                                   .ip = es_xstrdup(c->ip),
                                   .resolvers = es_xstrdup(c->resolvers),
                                   .failure = es_xstrdup(c->failure),
                                   .verify = es_xstrdup(c->verify),
                                   .port = c->port,
                                   .ok = c->ok,
                                   .fail = c->fail};
}

static int cell_cmp(const void *a, const void *b)
{
    const struct cell *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    if (!c)
        c = x->port - y->port;
    if (!c)
        c = strcmp(x->resolvers, y->resolvers);
    if (!c)
        c = strcmp(x->ip, y->ip);
    return c ? c : strcmp(x->variant, y->variant);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum { HEAT_MAX_HOSTS = 200 };

/* One table per host: rows = variants, columns = edge IPs grouped by the
 * resolvers that returned them. */
static void html_heat_host(FILE *f, const struct cell *c, size_t n)
{
    char **variants = es_xcalloc(n, sizeof *variants);
    size_t nv = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nv && strcmp(variants[k], c[i].variant))
            k++;
        if (k == nv)
            variants[nv++] = c[i].variant;
    }
    qsort(variants, nv, sizeof *variants, str_cmp);
    fprintf(f, "<h3>");
    html_str(f, c[0].host);
    fprintf(f, ":%d</h3>\n<table class=heat><tr><th></th>", c[0].port);
    /* Column headers: resolver groups, then IPs. Cells are sorted by
     * (resolvers, ip, variant), so each column is a run. */
    for (size_t i = 0; i < n;) {
        size_t j = i, span = 0;
        while (j < n && !strcmp(c[j].resolvers, c[i].resolvers)) {
            if (j == i || strcmp(c[j].ip, c[j - 1].ip))
                span++;
            j++;
        }
        fprintf(f, "<th colspan=%zu class=res>", span);
        html_str(f, c[i].resolvers);
        fputs("</th>", f);
        i = j;
    }
    fputs("</tr>\n<tr><th></th>", f);
    for (size_t i = 0; i < n; i++) {
        if (i && !strcmp(c[i].ip, c[i - 1].ip) && !strcmp(c[i].resolvers, c[i - 1].resolvers))
            continue;
        fputs("<th class=ip>", f);
        html_str(f, c[i].ip);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t v = 0; v < nv; v++) {
        fputs("<tr><th class=var>", f);
        html_str(f, variants[v]);
        fputs("</th>", f);
        for (size_t i = 0; i < n; i++) {
            if (i && !strcmp(c[i].ip, c[i - 1].ip) && !strcmp(c[i].resolvers, c[i - 1].resolvers))
                continue;
            /* find (this column, variant v) */
            const struct cell *hit = NULL;
            for (size_t j = i;
                 j < n && !strcmp(c[j].ip, c[i].ip) && !strcmp(c[j].resolvers, c[i].resolvers); j++)
                if (!strcmp(c[j].variant, variants[v]))
                    hit = &c[j];
            if (!hit) {
                fputs("<td class=none title=\"not probed\"></td>", f);
                continue;
            }
            uint64_t all = hit->ok + hit->fail;
            unsigned share = all ? (unsigned)(hit->fail * 100 / all) : 0;
            /* Green to red by the share of failed attempts; amber when every
             * handshake worked but the certificate does not verify. */
            if (share == 0 && *hit->verify)
                fputs("<td style=\"background:hsl(40,90%,45%)\" title=\"", f);
            else
                fprintf(f, "<td style=\"background:hsl(%u,65%%,%s)\" title=\"",
                        120 - share * 120 / 100, share ? "45%" : "40%");
            html_str(f, hit->ip);
            fputs(" via ", f);
            html_str(f, hit->resolvers);
            fprintf(f, ": %llu ok, %llu failed", (unsigned long long)hit->ok,
                    (unsigned long long)hit->fail);
            if (*hit->failure) {
                fputs(": ", f);
                html_str(f, hit->failure);
            }
            if (*hit->verify) {
                fputs("; verify ", f);
                html_str(f, hit->verify);
            }
            fprintf(f, "\">%s</td>",
                    share == 100   ? "&#10007;"
                    : share        ? "~"
                    : *hit->verify ? "!"
                                   : "");
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    free(variants);
}

static void write_html(FILE *f, const struct es_report_input *in, const struct es_findings *fs)
{
    fputs("<!doctype html>\n<html lang=en><head><meta charset=utf-8>\n"
          "<title>edgeshake report</title>\n<style>\n"
          "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\n"
          "table{border-collapse:collapse;margin-bottom:1.5em}\n"
          "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}\n"
          ".heat td{width:2.2em;height:1.6em;text-align:center;color:#fff}\n"
          ".heat th.var{text-align:left;font-weight:normal;font-family:monospace}\n"
          ".heat th.ip{font:11px monospace;writing-mode:vertical-rl}\n"
          ".heat th.res{background:#eee}\n.heat td.none{background:#f4f4f4}\n"
          ".k-down,.k-region,.k-node{color:#b00;font-weight:bold}\n"
          ".k-variant,.k-cert,.k-h2,.k-intermittent,.k-dns{color:#a60;font-weight:bold}\n"
          "code{font-size:12px;word-break:break-all}\n"
          "</style></head><body>\n<h1>edgeshake report</h1>\n",
          f);
    fprintf(f, "<p>%zu files, %llu rows, %zu hosts, %zu findings.</p>\n", in->nfiles,
            (unsigned long long)in->rows, in->nhosts, fs->n);
    fputs("<h2>Findings</h2>\n<table><tr><th>kind</th><th>host</th><th>variant</th>"
          "<th>failure</th><th>failing</th><th>passing</th><th>failed</th><th>why</th>"
          "<th>reproduce</th></tr>\n",
          f);
    for (size_t i = 0; i < fs->n; i++) {
        const struct es_finding *x = &fs->v[i];
        fprintf(f, "<tr><td class=k-%s>%s</td><td>", es_finding_kind_name(x->kind),
                es_finding_kind_name(x->kind));
        html_str(f, x->host);
        if (x->port)
            fprintf(f, ":%d", x->port);
        fputs("</td><td><code>", f);
        html_str(f, x->variant);
        fputs("</code></td><td>", f);
        html_str(f, x->failure);
        fputs("</td><td>", f);
        html_str(f, x->failing_ips);
        if (*x->failing_vantages) {
            fputs(" <small>from ", f);
            html_str(f, x->failing_vantages);
            fputs("</small>", f);
        }
        if (*x->failing_resolvers) {
            fputs(" <small>(", f);
            html_str(f, x->failing_resolvers);
            fputs(")</small>", f);
        }
        fputs("</td><td>", f);
        html_str(f, x->passing_ips);
        fprintf(f, "</td><td>%llu/%llu</td><td>", (unsigned long long)x->failed,
                (unsigned long long)x->attempts);
        html_str(f, x->explain);
        fputs("</td><td><code>", f);
        html_str(f, x->repro);
        fputs("</code></td></tr>\n", f);
    }
    fputs("</table>\n<h2>Heat map</h2>\n<p>Rows: variants; columns: edge IPs grouped by the "
          "resolvers that returned them. Green: every attempt succeeded; red: every attempt "
          "failed; between: the share that failed; amber (!): the handshakes worked but the "
          "certificate does not verify. Hover a cell for the failure.</p>\n",
          f);
    struct cells cs = {0};
    es_report_heatmap(in, collect, &cs);
    if (cs.n)
        qsort(cs.v, cs.n, sizeof *cs.v, cell_cmp);
    size_t hosts = 0;
    for (size_t i = 0; i < cs.n;) {
        size_t j = i;
        while (j < cs.n && !strcmp(cs.v[j].host, cs.v[i].host) && cs.v[j].port == cs.v[i].port)
            j++;
        if (hosts++ < HEAT_MAX_HOSTS)
            html_heat_host(f, cs.v + i, j - i);
        i = j;
    }
    if (hosts > HEAT_MAX_HOSTS)
        fprintf(f, "<p>(%zu more hosts not drawn)</p>\n", hosts - HEAT_MAX_HOSTS);
    for (size_t i = 0; i < cs.n; i++) {
        free(cs.v[i].host);
        free(cs.v[i].variant);
        free(cs.v[i].ip);
        free(cs.v[i].resolvers);
        free(cs.v[i].failure);
        free(cs.v[i].verify);
    }
    free(cs.v);
    fputs("</body></html>\n", f);
}

int es_report_write(const struct es_report_input *in, const struct es_findings *fs,
                    enum es_report_format fmt, const char *path, char *err, size_t errlen)
{
    bool to_stdout = !strcmp(path, "-");
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    errno = 0;
    switch (fmt) {
    case ES_REPORT_TEXT:
        write_text(f, in, fs, to_stdout && isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
        break;
    case ES_REPORT_CSV: write_csv(f, fs); break;
    case ES_REPORT_JSON: write_json(f, in, fs); break;
    case ES_REPORT_HTML: write_html(f, in, fs); break;
    }
    int bad = ferror(f), werr = errno;
    errno = 0;
    int rc = to_stdout ? fflush(f) : fclose(f);
    /* `report | head`: the reader went away; nothing more to say. */
    if (to_stdout && ((bad && werr == EPIPE) || (rc != 0 && errno == EPIPE))) {
        clearerr(f);
        return 0;
    }
    if (bad && !errno)
        errno = werr;
    if (bad || rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", to_stdout ? "standard output" : path,
                 strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
