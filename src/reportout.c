/* reportout.c - the four output formats of `edgeshake report` (report.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgeshake/report.h"
#include "edgeshake/meta.h"
#include "edgeshake/util.h"

static const char *const kind_names[ES_FINDING_NKINDS] = {
    [ES_FINDING_DOWN] = "down",       [ES_FINDING_REGION] = "region",
    [ES_FINDING_VANTAGE] = "vantage", [ES_FINDING_NODE] = "node",
    [ES_FINDING_VARIANT] = "variant", [ES_FINDING_CERT] = "cert",
    [ES_FINDING_H2] = "h2",           [ES_FINDING_INTERMITTENT] = "intermittent",
    [ES_FINDING_DNS] = "dns",
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

static int finding_cmp(const void *a, const void *b)
{
    const struct es_finding *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    if (c)
        return c;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    c = strcmp(x->variant, y->variant);
    return c ? c : strcmp(x->failure, y->failure);
}

void es_findings_sort(struct es_findings *fs)
{
    if (fs->n)
        qsort(fs->v, fs->n, sizeof *fs->v, finding_cmp);
}

void es_findings_free(struct es_findings *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        struct es_finding *f = &fs->v[i];
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
    }
    free(fs->v);
    memset(fs, 0, sizeof *fs);
}

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
             {"html", ".html", ES_REPORT_HTML}};
    for (size_t i = 0; i < ES_ARRAY_LEN(t); i++)
        if (explicit_name && !strcmp(explicit_name, t[i].name))
            return t[i].fmt;
    if (path && strcmp(path, "-"))
        for (size_t i = 0; i < ES_ARRAY_LEN(t); i++)
            if (ends_with(path, t[i].suffix))
                return t[i].fmt;
    if (path && strcmp(path, "-"))
        return ES_REPORT_CSV;
    return isatty(STDOUT_FILENO) ? ES_REPORT_TEXT : ES_REPORT_CSV;
}

/* ---- text ---- */

/* Prints words of text wrapped at 79 columns, every line indented. */
static void text_wrap(FILE *f, const char *prefix, const char *text, int indent)
{
    int col = fprintf(f, "%*s%s", indent, "", prefix);
    while (*text) {
        size_t w = strcspn(text, " ");
        if (col > indent + (int)strlen(prefix) && col + 1 + (int)w > 79) {
            fprintf(f, "\n%*s", indent + 2, "");
            col = indent + 2;
        } else if (col > indent + (int)strlen(prefix)) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", (int)w, text);
        col += (int)w;
        text += w;
        while (*text == ' ')
            text++;
    }
    fputc('\n', f);
}

static void write_text(FILE *f, const struct es_report_input *in, const struct es_findings *fs,
                       bool color)
{
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
    fprintf(f, "edgeshake report: %zu file%s, %llu rows, %zu hosts, %zu finding%s\n", in->nfiles,
            in->nfiles == 1 ? "" : "s", (unsigned long long)in->rows, in->nhosts, fs->n,
            fs->n == 1 ? "" : "s");
    if (in->planned && !in->rows)
        fprintf(f, "(%llu planned rows from --dry-run: nothing was probed)\n",
                (unsigned long long)in->planned);
    es_meta_print_runs(f, in->files, in->nnames); /* the runs, from FILE.meta.json */
    const char *last_host = NULL;
    int last_port = -1;
    for (size_t i = 0; i < fs->n; i++) {
        const struct es_finding *x = &fs->v[i];
        if (!last_host || strcmp(last_host, x->host) || last_port != x->port) {
            if (x->port)
                fprintf(f, "\n%s%s:%d%s\n", bold, x->host, x->port, off);
            else
                fprintf(f, "\n%s(every host)%s\n", bold, off);
            last_host = x->host;
            last_port = x->port;
        }
        const char *kc = "";
        if (color)
            kc = x->kind <= ES_FINDING_NODE ? "\033[31m" : "\033[33m";
        fprintf(f, "  %s%-12s%s", kc, es_finding_kind_name(x->kind), off);
        if (!*x->variant) {
            fputs(" (all variants)\n", f);
        } else {
            /* A merged list: one variant per line, aligned. */
            for (const char *p = x->variant; *p;) {
                size_t n = strcspn(p, ";");
                fprintf(f, "%s%.*s\n", p == x->variant ? " " : "               ", (int)n, p);
                p += n + (p[n] == ';');
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
            es_sb_printf(&b, "failing: %s", *x->failing_ips ? x->failing_ips : "-");
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
    if (!fs->n)
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
          "passing_resolvers,failed,attempts,explain,repro,failing_vantages,passing_vantages\n",
          f);
    for (size_t i = 0; i < fs->n; i++) {
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
    fprintf(f, "{\"files\":%zu,\"rows\":%llu,\"bad_rows\":%llu,\"hosts\":%zu,\"findings\":[",
            in->nfiles, (unsigned long long)in->rows, (unsigned long long)in->bad_rows, in->nhosts);
    for (size_t i = 0; i < fs->n; i++) {
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
    switch (fmt) {
    case ES_REPORT_TEXT:
        write_text(f, in, fs, to_stdout && isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
        break;
    case ES_REPORT_CSV: write_csv(f, fs); break;
    case ES_REPORT_JSON: write_json(f, in, fs); break;
    case ES_REPORT_HTML: write_html(f, in, fs); break;
    }
    int bad = ferror(f);
    int rc = to_stdout ? fflush(f) : fclose(f);
    if (bad || rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", to_stdout ? "standard output" : path,
                 strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
