/* reporthtml.c - `edgeshake report --format html` (reporthtml.h): writes
 * the page from the model of reporthtml_model.c (reporthtml-int.h).
 *
 * The page, top to bottom:
 *   1. Overview: findings by kind (fleet / host) and by change; a matrix of
 *      the failing edge IPs x variants, grouped by region (the resolvers
 *      that returned the IP), each cell the share of that node's probes that
 *      failed across every host it serves; a matrix of resolvers x variants
 *      (the probes of hosts reached through the resolver, its failed lookups
 *      counted as failures).
 *   2. Fleet findings (host "*").
 *   3. Host findings in collapsible groups of one kind and one failure, with
 *      a filter box (inline JS; the page works offline).
 *   4. Heat maps of the hosts that have findings (the fleet findings' sample
 *      hosts first), columns in one order on every map: region, then address.
 *
 * A "failure" in a cell is any of: a failed handshake (red, by share), a
 * failed lookup (DNS), and after a good handshake a certificate that does
 * not verify (amber), a failed HTTP/2 check (violet) or a failed HTTP check
 * (blue): nothing that failed is painted green.
 *
 * Budget (DESIGN §4: 5 MB at 100,000 hosts): every list is capped (the
 * *_MAX constants) and each cap says what it left out and how to get it.
 *
 * Memory: see reporthtml-int.h. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/report.h"
#include "edgeshake/reporthtml.h"
#include "edgeshake/util.h"
#include "reporthtml-int.h"

/* ---- writing ---- */

static void esc(FILE *f, const char *s)
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

/* 20000 -> "20,000" in buf. */
static const char *num(char buf[32], uint64_t n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)n);
    char *w = buf;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            *w++ = ',';
        *w++ = tmp[i];
    }
    *w = '\0';
    return buf;
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Address order: IPv4 before IPv6, numerically; anything else last, by text. */
static int ip_cmp(const char *x, const char *y)
{
    unsigned char kx[17], ky[17];
    const char *in[2] = {x, y};
    unsigned char *out[2] = {kx, ky};
    for (int i = 0; i < 2; i++) {
        memset(out[i], 0xff, 17);
        if (inet_pton(AF_INET, in[i], out[i] + 1) == 1)
            out[i][0] = 4;
        else if (inet_pton(AF_INET6, in[i], out[i] + 1) == 1)
            out[i][0] = 6;
    }
    int c = memcmp(kx, ky, 17);
    return c ? c : strcmp(x, y);
}

/* A variant label, with a line-break opportunity after each / and ,. */
static void esc_wbr(FILE *f, const char *s)
{
    char one[2] = {0};
    for (; *s; s++) {
        one[0] = *s;
        esc(f, one);
        if (*s == '/' || *s == ',')
            fputs("<wbr>", f);
    }
}

static const char css[] =
    "<style>\n"
    "body{font:13px/1.4 system-ui,sans-serif;margin:1em 1.5em;color:#222}\n"
    "h1{font-size:20px;margin:0 0 .2em}h2{font-size:16px;margin:1.2em 0 .4em}"
    "h3{font-size:13px;margin:.2em 0}\n"
    "p{margin:.3em 0}[hidden]{display:none!important}\n"
    "nav a{margin-right:1em}\n"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 5px;"
    "vertical-align:top;text-align:left}\n"
    "th{background:#f3f3f3;font-weight:600}\n"
    ".row{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\n"
    ".m td.c{width:3.4em;text-align:center;color:#fff;font-size:11px;white-space:nowrap}\n"
    ".m th.v{font:11px monospace;max-width:8em;vertical-align:bottom}\n"
    ".m tr.rg th{background:#e4e9f2}\n"
    ".mono,.m td.ip{font-family:monospace}\n"
    ".n{text-align:right;white-space:nowrap}\n"
    "td.ok{background:hsl(120,65%,40%)}td.vf{background:hsl(40,90%,45%)}"
    "td.h2{background:hsl(275,55%,52%)}td.http{background:hsl(205,75%,40%)}"
    "td.dns{background:hsl(0,45%,28%)}"
    "td.none{background:#f4f4f4}\n"
    ".sw{display:inline-block;width:1.1em;height:1em;vertical-align:middle;"
    "margin:0 .3em 0 .8em}\n"
    ".k-down,.k-region,.k-node,.k-vantage,.k-hello{color:#b00;font-weight:bold}\n"
    ".k-variant,.k-cert,.k-h2,.k-intermittent,.k-dns,.k-http,.k-expiry,.k-clock,.k-weak,"
    ".k-drift{color:#a60;font-weight:bold}\n"
    "code{font-size:11px;word-break:break-all}\n"
    ".f td{max-width:28em}.f td.var{font:11px monospace;max-width:16em;word-break:break-all}\n"
    "details{margin:.3em 0}summary{cursor:pointer;padding:2px 0}\n"
    ".cap{color:#8a4b00;font-style:italic}\n"
    ".maps{display:flex;flex-wrap:wrap;gap:1em 2em;align-items:flex-start}\n"
    ".heat td.c{width:1.9em;height:1.4em;text-align:center;color:#fff;font-size:11px}\n"
    ".heat th.ip{font:10px monospace;writing-mode:vertical-rl;font-weight:normal}\n"
    ".heat th.var{font:11px monospace;font-weight:normal}\n"
    "</style>\n";

/* The filter: rows and heat maps whose text contains the query; groups open
 * on a match and say how many rows match. */
static const char js[] =
    "<script>\n"
    "(function(){var q=document.getElementById('q');if(!q)return;\n"
    "function has(e,s){return e.textContent.toLowerCase().indexOf(s)>=0}\n"
    "q.addEventListener('input',function(){var s=q.value.trim().toLowerCase();\n"
    "document.querySelectorAll('#fleet tbody tr').forEach(function(r){r.hidden=!!s&&!has(r,s)});\n"
    "document.querySelectorAll('details.grp').forEach(function(d){\n"
    " var all=!s||has(d.querySelector('summary'),s),n=0;\n"
    " d.querySelectorAll('tbody tr').forEach(function(r){var "
    "m=all||has(r,s);r.hidden=!m;if(m)n++});\n"
    " d.hidden=n==0;if(s)d.open=n>0;d.querySelector('.hits').textContent=s?' ('+n+' match)':''});\n"
    "document.querySelectorAll('.hm').forEach(function(h){h.hidden=!!s&&!has(h,s)})})})();\n"
    "</script>\n";

/* After a good handshake, the check that failed most: a certificate that
 * does not verify, a failed HTTP/2 check, a failed HTTP check. */
enum soft { SOFT_VERIFY, SOFT_H2, SOFT_HTTP };

static enum soft worst_soft(const struct rh_tally *t)
{
    if (t->httpbad > t->vbad && t->httpbad > t->h2bad)
        return SOFT_HTTP;
    return t->h2bad > t->vbad ? SOFT_H2 : SOFT_VERIFY;
}

/* One cell of a matrix or heat map. percent: the share as a number (the
 * overview); else a symbol (heat maps). what: "ip, variant" for the title. */
static void td_tally(FILE *f, const struct rh_tally *t, bool percent, const char *what)
{
    static const char *const soft_class[] = {"vf", "h2", "http"};
    static const char *const soft_mark[] = {"!", "h2", "http"};
    uint64_t all = rh_tally_all(t), bad = rh_tally_bad(t), hard = t->fail + t->dns;
    char b1[32], b2[32];
    if (!all) {
        fputs("<td class=\"c none\" title=\"not probed\"></td>", f);
        return;
    }
    unsigned share = (unsigned)(bad * 100 / all);
    bool dns_only = t->dns && !t->ok && !t->fail;
    if (dns_only) {
        fputs("<td class=\"c dns\"", f);
    } else if (hard) {
        /* red, lighter for smaller shares; never green or amber */
        unsigned light = 80 - share * 35 / 100;
        fprintf(f, "<td class=c style=\"background:hsl(0,65%%,%u%%)%s\"", light,
                light > 62 ? ";color:#500" : "");
    } else if (!bad) {
        fputs("<td class=\"c ok\"", f);
    } else {
        fprintf(f, "<td class=\"c %s\"", soft_class[worst_soft(t)]);
    }
    fputs(" title=\"", f);
    esc(f, what);
    if (!bad)
        fprintf(f, ": %s passed", num(b1, all));
    else
        fprintf(f, ": %s of %s failed", num(b1, bad), num(b2, all));
    const struct {
        uint64_t n;
        const char *what, *token;
    } parts[] = {{t->fail, "handshake", t->failure},
                 {t->dns, "lookup", t->dns_token},
                 {t->vbad, "certificate", t->verify},
                 {t->h2bad, "h2 check", t->h2},
                 {t->httpbad, "http check", t->http}};
    for (size_t i = 0; i < ES_ARRAY_LEN(parts); i++) {
        if (!parts[i].n)
            continue;
        fprintf(f, "; %s: ", parts[i].what);
        esc(f, rh_str(parts[i].token));
        fprintf(f, " (%s)", num(b1, parts[i].n));
    }
    fputs("\">", f);
    if (percent) {
        if (bad && !share)
            fputs("&lt;1%", f);
        else if (bad)
            fprintf(f, "%u%%", share);
    } else if (dns_only) {
        fputs("DNS", f);
    } else if (hard) {
        fputs(bad == all ? "&#10007;" : "~", f);
    } else if (bad) {
        fputs(soft_mark[worst_soft(t)], f);
    }
    fputs("</td>", f);
}

static void legend(FILE *f)
{
    fputs("<p>Cells: share of probes that failed."
          "<span class=sw style=\"background:hsl(120,65%,40%)\"></span>all passed"
          "<span class=sw style=\"background:hsl(0,65%,70%)\"></span>some failed"
          "<span class=sw style=\"background:hsl(0,65%,45%)\"></span>all failed"
          "<span class=sw style=\"background:hsl(40,90%,45%)\"></span>handshake ok, "
          "certificate does not verify (!)"
          "<span class=sw style=\"background:hsl(275,55%,52%)\"></span>handshake ok, "
          "HTTP/2 check failed (h2)"
          "<span class=sw style=\"background:hsl(205,75%,40%)\"></span>handshake ok, "
          "HTTP check got no response or a 5xx (http)"
          "<span class=sw style=\"background:hsl(0,45%,28%)\"></span>lookup failed (DNS)"
          "<span class=sw style=\"background:#f4f4f4;border:1px solid #ccc\"></span>not probed. "
          "Hover a cell for the failure.</p>\n",
          f);
}

static void counts_table(FILE *f, const struct es_findings *fs)
{
    uint64_t n[2][ES_FINDING_NKINDS] = {{0}}, tot[2] = {0}, hosts_covered = 0;
    for (size_t i = 0; i < fs->n; i++) {
        const struct es_finding *x = &fs->v[i];
        if (!strcmp(rh_str(x->change), "fixed")) /* counted below, not a problem now */
            continue;
        int lvl = rh_is_fleet(x) ? 0 : 1;
        if ((unsigned)x->kind < ES_FINDING_NKINDS)
            n[lvl][x->kind]++;
        tot[lvl]++;
        if (!lvl)
            hosts_covered += x->hosts_failing;
    }
    char b1[32], b2[32], b3[32];
    fprintf(f, "<p><b>%s fleet %s</b> covering %s host %s; <b>%s host %s</b>.</p>\n",
            num(b1, tot[0]), plural(tot[0], "finding", "findings"), num(b2, hosts_covered),
            plural(hosts_covered, "failure", "failures"), num(b3, tot[1]),
            plural(tot[1], "finding", "findings"));
    if (tot[0] || tot[1]) {
        fputs("<table class=counts><tr><th></th>", f);
        for (int k = 0; k < ES_FINDING_NKINDS; k++)
            if (n[0][k] || n[1][k])
                fprintf(f, "<th class=k-%s>%s</th>", es_finding_kind_name(k),
                        es_finding_kind_name(k));
        fputs("<th>total</th></tr>\n", f);
        for (int lvl = 0; lvl < 2; lvl++) {
            fprintf(f, "<tr><th>%s</th>", lvl ? "host" : "fleet");
            for (int k = 0; k < ES_FINDING_NKINDS; k++)
                if (n[0][k] || n[1][k])
                    fprintf(f, "<td class=n>%s</td>", num(b1, n[lvl][k]));
            fprintf(f, "<td class=n>%s</td></tr>\n", num(b1, tot[lvl]));
        }
        fputs("</table>\n", f);
    }
    static const char *const changes[] = {"new", "persisting", "fixed"};
    uint64_t c[3] = {0};
    bool any = false;
    for (size_t i = 0; i < fs->n; i++)
        for (size_t j = 0; j < 3; j++)
            if (!strcmp(rh_str(fs->v[i].change), changes[j])) {
                c[j]++;
                any = true;
            }
    if (any)
        fprintf(f, "<p>Since the baseline: <b>%s new</b>, %s persisting, %s fixed.</p>\n",
                num(b1, c[0]), num(b2, c[1]), num(b3, c[2]));
}

struct iprow {
    const struct rh_ip *ip;
    const char *region;
    uint64_t bad, all;
};

/* Worst share first, then address. */
static int iprow_share_cmp(const void *x, const void *y)
{
    const struct iprow *a = x, *b = y;
    long double l = (long double)a->bad / a->all, r = (long double)b->bad / b->all;
    if (l != r)
        return l > r ? -1 : 1;
    return ip_cmp(a->ip->ip, b->ip->ip);
}

static int iprow_region_cmp(const void *x, const void *y)
{
    const struct iprow *a = x, *b = y;
    int c = strcmp(a->region, b->region);
    return c ? c : iprow_share_cmp(x, y);
}

static int u64_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Edges of a region (resolver bits), for "2 of 20 edges failing"; masks:
 * every edge's, sorted. */
static uint64_t edges_in_region(const uint64_t *masks, size_t n, uint64_t mask)
{
    const uint64_t *hit = bsearch(&mask, masks, n, sizeof *masks, u64_cmp);
    if (!hit)
        return 0;
    const uint64_t *lo = hit, *hi = hit;
    while (lo > masks && lo[-1] == mask)
        lo--;
    while (hi < masks + n && *hi == mask)
        hi++;
    return (uint64_t)(hi - lo);
}

static void ip_matrix(FILE *f, struct rh_model *a, const uint32_t *order)
{
    struct iprow *rows = es_xcalloc(a->nips + 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; i < a->nips; i++) {
        const struct rh_ip *ip = &a->ips[i];
        uint64_t bad = rh_tally_bad(&ip->t);
        if (bad)
            rows[n++] =
                (struct iprow){ip, rh_region_name(a, ip->region), bad, rh_tally_all(&ip->t)};
    }
    char b1[32], b2[32];
    fputs("<div><h3>Failing edges by region</h3>\n", f);
    if (!n) {
        if (a->nips)
            fprintf(f, "<p>None of the %s %s failed.</p></div>\n", num(b1, a->nips),
                    plural(a->nips, "edge", "edges"));
        else
            fputs("<p>No edge was probed.</p></div>\n", f);
        free(rows);
        return;
    }
    uint64_t *masks = es_xcalloc(a->nips + 1, sizeof *masks);
    for (size_t i = 0; i < a->nips; i++)
        masks[i] = a->ips[i].region;
    qsort(masks, a->nips, sizeof *masks, u64_cmp);
    qsort(rows, n, sizeof *rows, iprow_share_cmp);
    size_t shown = n < RH_IP_ROWS_MAX ? n : RH_IP_ROWS_MAX;
    qsort(rows, shown, sizeof *rows, iprow_region_cmp);
    fputs("<table class=m id=ipm><tr><th>edge</th><th>hosts failing</th>", f);
    for (size_t v = 0; v < a->nvars; v++) {
        fputs("<th class=v>", f);
        esc_wbr(f, a->vars[order[v]]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t i = 0; i < shown; i++) {
        if (!i || rows[i].region != rows[i - 1].region) {
            uint64_t failing = 0;
            for (size_t j = 0; j < n; j++)
                failing += rows[j].region == rows[i].region;
            fprintf(f, "<tr class=rg><th colspan=%zu>region ", a->nvars + 2);
            esc(f, rows[i].region);
            fprintf(f, ": %s of %s edges failing</th></tr>\n", num(b1, failing),
                    num(b2, edges_in_region(masks, a->nips, rows[i].ip->region)));
        }
        const struct rh_ip *ip = rows[i].ip;
        fputs("<tr data-ip=\"", f);
        esc(f, ip->ip);
        fputs("\"><td class=ip>", f);
        esc(f, ip->ip);
        fprintf(f, "</td><td class=n>%s of %s</td>", num(b1, ip->hosts_bad), num(b2, ip->hosts));
        uint32_t ipi = (uint32_t)(ip - a->ips);
        for (size_t v = 0; v < a->nvars; v++) {
            const struct rh_tally *t = rh_iv_tally(a, ipi, order[v]);
            struct rh_tally none = {0};
            struct es_sb what = {0};
            es_sb_printf(&what, "%s, %s", ip->ip, a->vars[order[v]]);
            td_tally(f, t ? t : &none, true, what.s);
            es_sb_free(&what);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    if (shown < n)
        fprintf(f,
                "<p class=cap>%s more failing %s left out (lower failure shares): the "
                "findings (<code>edgeshake report --format csv</code>) name every failing "
                "edge.</p>\n",
                num(b1, n - shown), plural(n - shown, "edge", "edges"));
    fputs("</div>\n", f);
    free(masks);
    free(rows);
}

static int res_cmp(const void *x, const void *y)
{
    const struct rh_resolver *a = *(const struct rh_resolver *const *)x,
                             *b = *(const struct rh_resolver *const *)y;
    return strcmp(a->label, b->label);
}

static void resolver_matrix(FILE *f, struct rh_model *a, const uint32_t *order)
{
    if (!a->nres)
        return;
    const struct rh_resolver *sorted[RH_NRES];
    for (size_t r = 0; r < a->nres; r++)
        sorted[r] = &a->res[r];
    qsort(sorted, a->nres, sizeof *sorted, res_cmp);
    char b1[32];
    fputs("<div><h3>Resolvers</h3>\n<table class=m id=resm><tr><th>resolver</th><th>hosts</th>"
          "<th class=v>lookups</th>",
          f);
    for (size_t v = 0; v < a->nvars; v++) {
        fputs("<th class=v>", f);
        esc_wbr(f, a->vars[order[v]]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t i = 0; i < a->nres; i++) {
        const struct rh_resolver *r = sorted[i];
        size_t ri = (size_t)(r - a->res);
        fputs("<tr data-resolver=\"", f);
        esc(f, r->label);
        fputs("\"><td class=mono>", f);
        esc(f, r->label);
        fprintf(f, "</td><td class=n>%s</td>", num(b1, r->hosts));
        /* lookups: hosts asked = hosts reached through it + its failures */
        struct rh_tally look = r->dns;
        look.ok = r->hosts - r->dns.dns;
        struct es_sb what = {0};
        es_sb_printf(&what, "lookups through %s", r->label);
        td_tally(f, &look, true, what.s);
        for (size_t v = 0; v < a->nvars; v++) {
            struct rh_tally t = a->rv[order[v] * RH_NRES + ri];
            t.dns = r->dns.dns;
            t.dns_token = r->dns.dns_token;
            what.len = 0;
            es_sb_printf(&what, "through %s, %s (failed lookups count as failed probes)", r->label,
                         a->vars[order[v]]);
            td_tally(f, &t, true, what.s);
        }
        es_sb_free(&what);
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

/* ---- findings ---- */

/* The node, resolver or variant a fleet finding is about. */
static const char *subject(const struct es_finding *x)
{
    if (*rh_str(x->failing_ips))
        return x->failing_ips;
    if (*rh_str(x->failing_resolvers))
        return x->failing_resolvers;
    if (x->kind == ES_FINDING_CLOCK)
        return "the scanner"; /* every edge is off the same way */
    return *x->variant ? x->variant : "all";
}

static void list_cell(FILE *f, const char *list, const char *cls)
{
    fprintf(f, "<td%s>", cls);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ";");
        char *one = es_xstrndup(p, n);
        esc(f, one);
        free(one);
        p += n;
        if (*p == ';') {
            fputs("<br>", f);
            p++;
        }
    }
    fputs("</td>", f);
}

static void fleet_findings(FILE *f, const struct es_findings *fs)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++)
        n += rh_is_fleet(&fs->v[i]);
    char b1[32], b2[32];
    fprintf(f, "<section id=fleet><h2>Fleet findings (%s)</h2>\n", num(b1, n));
    if (!n) {
        fputs("<p>None: no edge, resolver or variant fails across hosts.</p></section>\n", f);
        return;
    }
    fputs("<table class=f><thead><tr><th>kind</th><th>node / resolver</th><th>variant</th>"
          "<th>failure</th><th>hosts failing</th><th>via</th><th>sample hosts</th><th>why</th>"
          "<th>reproduce</th></tr></thead><tbody>\n",
          f);
    size_t shown = 0;
    for (int k = 0; k < ES_FINDING_NKINDS; k++)
        for (size_t i = 0; i < fs->n && shown < RH_FLEET_ROWS_MAX; i++) {
            const struct es_finding *x = &fs->v[i];
            if ((int)x->kind != k || !rh_is_fleet(x))
                continue;
            shown++;
            fprintf(f, "<tr><td class=k-%s>%s", es_finding_kind_name(x->kind),
                    es_finding_kind_name(x->kind));
            if (*rh_str(x->change))
                fprintf(f, " <small>(%s)</small>", x->change);
            fputs("</td><td class=mono>", f);
            esc(f, subject(x));
            fputs("</td>", f);
            list_cell(f, *x->variant ? x->variant : "all", " class=var");
            fputs("<td>", f);
            esc(f, x->failure);
            if (x->hosts_total)
                fprintf(f, "</td><td class=n>%s of %s</td>", num(b1, x->hosts_failing),
                        num(b2, x->hosts_total));
            else
                fputs("</td><td class=n>every host</td>", f);
            fputs("<td>", f);
            esc(f, rh_str(x->failing_resolvers));
            fputs("</td>", f);
            list_cell(f, rh_str(x->sample_hosts), " class=mono");
            fputs("<td>", f);
            esc(f, x->explain);
            fputs("</td><td><code>", f);
            esc(f, x->repro);
            fputs("</code></td></tr>\n", f);
        }
    fputs("</tbody></table>\n", f);
    if (shown < n)
        fprintf(f,
                "<p class=cap>%s more fleet findings left out: <code>edgeshake report "
                "--format csv</code> lists them all.</p>\n",
                num(b1, n - shown));
    fputs("</section>\n", f);
}

static void host_row(FILE *f, const struct es_finding *x, const char *group_explain)
{
    fputs("<tr><td class=mono>", f);
    esc(f, x->host);
    fprintf(f, ":%d", x->port);
    if (*rh_str(x->change))
        fprintf(f, " <small>(%s)</small>", x->change);
    fputs("</td>", f);
    list_cell(f, *x->variant ? x->variant : "all", " class=var");
    fputs("<td class=mono>", f);
    if (*rh_str(x->failing_ips)) {
        esc(f, x->failing_ips);
        if (*rh_str(x->failing_resolvers)) {
            fputs(" <small>(", f);
            esc(f, x->failing_resolvers);
            fputs(")</small>", f);
        }
    } else if (*rh_str(x->failing_resolvers)) {
        fputs("resolver ", f);
        esc(f, x->failing_resolvers);
    }
    if (*rh_str(x->failing_vantages)) {
        fputs(" <small>from ", f);
        esc(f, x->failing_vantages);
        fputs("</small>", f);
    }
    fputs("</td><td class=mono>", f);
    esc(f, rh_str(x->passing_ips));
    if (*rh_str(x->passing_resolvers)) {
        fputs(" <small>(", f);
        esc(f, x->passing_resolvers);
        fputs(")</small>", f);
    }
    fprintf(f, "</td><td class=n>%llu/%llu</td><td>", (unsigned long long)x->failed,
            (unsigned long long)x->attempts);
    if (strcmp(x->explain, group_explain))
        esc(f, x->explain);
    fputs("</td><td><code>", f);
    esc(f, x->repro);
    fputs("</code></td></tr>\n", f);
}

static void host_findings(FILE *f, const struct rh_groups *gs)
{
    char b1[32];
    fprintf(f, "<section id=hosts><h2>Host findings (%s)</h2>\n", num(b1, gs->n));
    if (!gs->n) {
        fputs("<p>None.</p></section>\n", f);
        return;
    }
    fputs("<p><label>Filter: <input id=q type=search size=40 placeholder=\"host, ip, "
          "resolver, failure\"></label> <small>(filters the findings and the heat "
          "maps)</small></p>\n",
          f);
    size_t left_out = 0;
    for (size_t k = 0; k < gs->ng; k++) {
        const struct rh_group *g = &gs->g[k];
        const struct es_finding *first = g->v[0];
        fprintf(f, "<details class=grp%s><summary><span class=k-%s>%s</span> ",
                gs->n <= RH_OPEN_GROUPS_UPTO ? " open" : "", es_finding_kind_name(first->kind),
                es_finding_kind_name(first->kind));
        esc(f, first->failure);
        fprintf(f, " &mdash; %s %s<span class=hits></span></summary>\n", num(b1, g->n),
                plural(g->n, "finding", "findings"));
        fputs("<p>why: ", f);
        esc(f, first->explain);
        fputs("</p>\n<table class=f><thead><tr><th>host</th><th>variant</th><th>failing</th>"
              "<th>passing</th><th>failed</th><th>why (when it differs)</th>"
              "<th>reproduce</th></tr></thead><tbody>\n",
              f);
        for (size_t i = 0; i < g->rows; i++)
            host_row(f, g->v[i], first->explain);
        fputs("</tbody></table>\n", f);
        if (g->rows < g->n) {
            left_out += g->n - g->rows;
            fprintf(f,
                    "<p class=cap>%s more findings of this group left out (the filter does "
                    "not see them): <code>edgeshake report --by-host --format csv</code> lists "
                    "every finding.</p>\n",
                    num(b1, g->n - g->rows));
        }
        fputs("</details>\n", f);
    }
    if (left_out)
        fprintf(f,
                "<p class=cap>In all, %s host findings are left out of this page to keep it "
                "small (at most %d per group, %d in all): <code>edgeshake report --by-host "
                "--format csv</code> lists them, and the host findings that fleet findings "
                "fold.</p>\n",
                num(b1, left_out), RH_GROUP_ROWS_MAX, RH_HOST_ROWS_MAX);
    fputs("</section>\n", f);
}

/* ---- heat maps ---- */

static int hcell_cmp(const void *x, const void *y)
{
    const struct rh_cell *a = x, *b = y;
    if (a->host != b->host)
        return a->host < b->host ? -1 : 1;
    int c = strcmp(a->region, b->region);
    if (c)
        return c;
    if (!*a->ip != !*b->ip) /* DNS after the addresses of its resolver */
        return *a->ip ? -1 : 1;
    c = ip_cmp(a->ip, b->ip);
    if (c)
        return c;
    return a->var < b->var ? -1 : a->var > b->var;
}

static bool same_column(const struct rh_cell *x, const struct rh_cell *y)
{
    return x->region == y->region && x->ip == y->ip;
}

static void heat_map(FILE *f, const struct rh_model *a, const struct rh_host *h,
                     const struct rh_cell *c, size_t n)
{
    fputs("<div class=hm data-host=\"", f);
    esc(f, h->host);
    fputs("\"><h3>", f);
    esc(f, h->host);
    if (h->port || h->seen_port)
        fprintf(f, ":%d", h->port ? h->port : h->seen_port);
    for (int k = 0; k < ES_FINDING_NKINDS; k++)
        if (h->kinds & (1u << k))
            fprintf(f, " <span class=k-%s>%s</span>", es_finding_kind_name(k),
                    es_finding_kind_name(k));
    fputs("</h3>\n", f);
    if (!n) {
        fputs("<p>No probe rows for this host in the files.</p></div>\n", f);
        return;
    }
    /* Rows: the host's variants, in label order. */
    bool *has = es_xcalloc(a->nvars + 1, sizeof *has);
    for (size_t i = 0; i < n; i++)
        if (c[i].var != RH_NONE)
            has[a->var_rank[c[i].var]] = true;
    uint32_t *order = rh_vars_in_order(a);
    fputs("<table class=heat><tr><th></th>", f);
    for (size_t i = 0; i < n;) { /* region headers over runs of columns */
        size_t j = i, span = 0;
        while (j < n && c[j].region == c[i].region) {
            if (j == i || !same_column(&c[j], &c[j - 1]))
                span++;
            j++;
        }
        fprintf(f, "<th colspan=%zu>", span);
        esc(f, c[i].region);
        fputs("</th>", f);
        i = j;
    }
    fputs("</tr>\n<tr><th></th>", f);
    for (size_t i = 0; i < n; i++) {
        if (i && same_column(&c[i], &c[i - 1]))
            continue;
        fputs("<th class=ip>", f);
        esc(f, *c[i].ip ? c[i].ip : "lookup");
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    size_t nrows = 0;
    for (size_t r = 0; r < a->nvars; r++) {
        if (!has[r])
            continue;
        nrows++;
        uint32_t var = order[r];
        fputs("<tr><th class=var>", f);
        esc(f, a->vars[var]);
        fputs("</th>", f);
        for (size_t i = 0; i < n;) {
            size_t j = i;
            const struct rh_cell *hit = NULL;
            while (j < n && same_column(&c[j], &c[i])) {
                if (c[j].var == var || c[j].var == RH_NONE)
                    hit = &c[j];
                j++;
            }
            struct rh_tally none = {0};
            struct es_sb what = {0};
            if (*c[i].ip)
                es_sb_printf(&what, "%s via %s, %s", c[i].ip, c[i].region, a->vars[var]);
            else
                es_sb_printf(&what, "lookup through %s", c[i].region);
            td_tally(f, hit ? &hit->t : &none, false, what.s);
            es_sb_free(&what);
            i = j;
        }
        fputs("</tr>\n", f);
    }
    if (!nrows) { /* only failed lookups: one row */
        fputs("<tr><th class=var>(no address)</th>", f);
        for (size_t i = 0; i < n; i++) {
            struct es_sb what = {0};
            es_sb_printf(&what, "lookup through %s", c[i].region);
            td_tally(f, &c[i].t, false, what.s);
            es_sb_free(&what);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
    free(order);
    free(has);
}

static void heat_maps(FILE *f, struct rh_model *a)
{
    char b1[32], b2[32];
    size_t drawn = 0, hosts = 0; /* a dup is the same host as another entry */
    for (size_t h = 0; h < a->nhosts; h++) {
        hosts += !a->hosts[h].dup;
        drawn += a->hosts[h].drawn && !a->hosts[h].dup;
    }
    fprintf(f, "<section id=heat><h2>Heat maps of the hosts with findings (%s of %s)</h2>\n",
            num(b1, drawn), num(b2, hosts));
    if (!hosts) {
        fputs("<p>No host has a finding.</p></section>\n", f);
        return;
    }
    fputs("<p>Rows: variants; columns: the host's edge IPs grouped by the resolvers that "
          "returned them, in the same order on every map (region, then address), and a "
          "<i>lookup</i> column for each resolver whose lookup failed.</p>\n<div class=maps>\n",
          f);
    if (a->ncells)
        qsort(a->cells, a->ncells, sizeof *a->cells, hcell_cmp);
    size_t i = 0;
    for (uint32_t h = 0; h < a->nhosts; h++) {
        size_t j = i;
        while (j < a->ncells && a->cells[j].host == h)
            j++;
        if (a->hosts[h].drawn && !a->hosts[h].dup)
            heat_map(f, a, &a->hosts[h], a->cells + i, j - i);
        i = j;
    }
    fputs("</div>\n", f);
    if (drawn < hosts)
        fprintf(f,
                "<p class=cap>Heat maps of %s more %s with findings left out: "
                "<code>edgeshake report --by-host --format csv</code> lists their findings.</p>\n",
                num(b1, hosts - drawn), plural(hosts - drawn, "host", "hosts"));
    fputs("</section>\n", f);
}

int es_report_write_html(FILE *f, const struct es_report_input *in, const struct es_findings *fs)
{
    struct rh_model a;
    struct rh_groups gs;
    rh_groups_build(&gs, fs);
    rh_model_build(&a, in, fs, &gs);
    uint32_t *order = rh_vars_in_order(&a);
    size_t nfleet = 0;
    for (size_t i = 0; i < fs->n; i++)
        nfleet += rh_is_fleet(&fs->v[i]);

    char b1[32], b2[32], b3[32], b4[32];
    fputs("<!doctype html>\n<html lang=en><head><meta charset=utf-8>\n"
          "<meta name=viewport content=\"width=device-width\">\n"
          "<title>edgeshake report</title>\n",
          f);
    fputs(css, f);
    fputs("</head><body>\n<h1>edgeshake report</h1>\n", f);
    fprintf(f, "<p>%s %s, %s rows, %s %s, %s %s", num(b1, in->nfiles),
            plural(in->nfiles, "file", "files"), num(b2, in->rows), num(b3, in->nhosts),
            plural(in->nhosts, "host", "hosts"), num(b4, a.nips), plural(a.nips, "edge", "edges"));
    if (in->bad_rows)
        fprintf(f, ", %s malformed rows skipped", num(b2, in->bad_rows));
    fputs(".</p>\n", f);
    if (in->planned && !in->rows)
        fprintf(f, "<p><b>%s planned %s from --dry-run: nothing was probed.</b></p>\n",
                num(b1, in->planned), plural(in->planned, "row", "rows"));
    fprintf(f,
            "<nav><a href=\"#overview\">overview</a><a href=\"#fleet\">fleet findings (%zu)"
            "</a><a href=\"#hosts\">host findings (%zu)</a><a href=\"#heat\">heat maps</a>"
            "</nav>\n",
            nfleet, fs->n - nfleet);

    fputs("<section id=overview><h2>Overview</h2>\n", f);
    counts_table(f, fs);
    if (!fs->n && in->rows)
        fputs("<p>No findings: every host answered every variant on every edge.</p>\n", f);
    legend(f);
    fputs("<div class=row>\n", f);
    ip_matrix(f, &a, order);
    resolver_matrix(f, &a, order);
    fputs("</div></section>\n", f);

    fleet_findings(f, fs);
    host_findings(f, &gs);
    heat_maps(f, &a);
    fputs(js, f);
    fputs("</body></html>\n", f);
    free(order);
    rh_model_free(&a);
    rh_groups_free(&gs);
    return ferror(f) ? -1 : 0;
}
