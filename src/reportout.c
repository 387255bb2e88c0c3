/* reportout.c - the four output formats of `edgeshake report` (report.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgeshake/report.h"
#include "edgeshake/meta.h"
#include "edgeshake/reporthtml.h"
#include "edgeshake/util.h"

static const char *const kind_names[ES_FINDING_NKINDS] = {
    [ES_FINDING_DOWN] = "down",       [ES_FINDING_REGION] = "region",
    [ES_FINDING_VANTAGE] = "vantage", [ES_FINDING_NODE] = "node",
    [ES_FINDING_VARIANT] = "variant", [ES_FINDING_CERT] = "cert",
    [ES_FINDING_H2] = "h2",           [ES_FINDING_INTERMITTENT] = "intermittent",
    [ES_FINDING_DNS] = "dns",         [ES_FINDING_DRIFT] = "drift",
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
        free(f->sample_hosts);
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
    case ES_REPORT_HTML: es_report_write_html(f, in, fs); break;
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
