/* reportout.c - the output formats of `edgeshake report` (report.h): text,
 * csv, json; html is reporthtml.c. The formats take the
 * findings and the read-only input; they never call back into judging. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgeshake/meta.h"
#include "edgeshake/report.h"
#include "edgeshake/reporthtml.h"
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
    es_meta_print_runs(f, in->files, in->nnames); /* the runs, from FILE.meta.json */
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
    if (x->kind == ES_FINDING_CLOCK && !*x->failing_ips) { /* the scanner's own clock */
        es_sb_printf(&s, "%s: every edge that sent a Date (%s edges of %s of the %s hosts)",
                     x->failure, num(c, sizeof c, x->failed), num(a, sizeof a, x->hosts_failing),
                     num(b, sizeof b, x->hosts_total));
        text_wrap(f, "", s.s, 4);
        es_sb_free(&s);
        return;
    }
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
    case ES_FINDING_CLOCK:
        if (!*x->failing_ips) {
            es_sb_add(&s, "the scanner's own clock");
            break;
        }
        /* fall through */
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
    case ES_REPORT_HTML: es_report_write_html(f, in, fs); break;
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
