/* scan.c - see include/edgeshake/scan.h.
 *
 * Order matters (DESIGN §5): every input is read and checked before the first
 * DNS query or packet, so a bad line is exit 2 with nothing sent. */
#include "edgeshake/scan.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xxhash.h>

#include "edgeshake/cli.h"
#include "edgeshake/dns.h"
#include "edgeshake/engine.h"
#include "edgeshake/intern.h"
#include "edgeshake/loop.h"
#include "edgeshake/meta.h"
#include "edgeshake/net.h"
#include "edgeshake/plan.h"
#include "edgeshake/resolver.h"
#include "edgeshake/row.h"
#include "edgeshake/shard.h"
#include "edgeshake/target.h"
#include "edgeshake/tlsprobe.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"
#include "edgeshake/variant.h"
#include "edgeshake/writer.h"

/* A host to resolve and the ports it was asked on (usually one). */
struct dnshost {
    const char *host; /* interned */
    uint16_t *ports;
    size_t nports, capports;
};

struct scan {
    const struct es_config *cfg;
    struct es_intern *pool;
    struct es_variant *variants;
    size_t nvariants;
    struct es_resolver_spec *resolvers;
    size_t nresolvers;
    const char **labels, **ecs;
    unsigned shard_i, shard_n;
    const char *vantage;
    struct dnshost *dnshosts;
    size_t ndnshosts, capdnshosts;
    uint32_t *dnsindex; /* host pointer -> dnshosts index + 1 (open addressing) */
    size_t dnsmask;
    struct es_plan *plan;
    enum es_format format;
    struct es_writer *writer;
    struct es_rowbuf rows;
    uint64_t dns_error_rows;
    uint64_t dns_done;
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void variant_warning(void *ctx, const char *msg)
{
    (void)ctx;
    es_warn("%s", msg);
}

/* ---- validation (exit 2 on anything wrong, before any packet) ---- */

static void setup_shard(struct scan *s)
{
    char err[512];
    const struct es_config *cfg = s->cfg;
    s->shard_i = 0;
    s->shard_n = 1;
    if (cfg->shard && cfg->shards)
        es_usage_error("--shard and --shards exclude each other: --shard I/N names the shard, "
                       "--shards N takes I from the environment");
    if (cfg->shard && !es_shard_parse(cfg->shard, &s->shard_i, &s->shard_n, err, sizeof err))
        es_usage_error("%s", err);
    if (cfg->shards) {
        if (!es_shard_from_env(cfg->shards, &s->shard_i, err, sizeof err))
            es_usage_error("%s", err);
        s->shard_n = (unsigned)cfg->shards;
    }
}

static void setup_resolvers(struct scan *s)
{
    char err[512];
    const struct es_config *cfg = s->cfg;
    if (cfg->resolvers.n) {
        s->resolvers =
            es_resolvers_parse(cfg->resolvers.v, cfg->resolvers.n, &s->nresolvers, err, sizeof err);
        if (!s->resolvers)
            es_usage_error("%s", err);
    } else {
        s->resolvers = es_xcalloc(1, sizeof *s->resolvers);
        snprintf(s->resolvers[0].label, sizeof s->resolvers[0].label, "%s", ES_RESOLVER_SYSTEM);
        s->resolvers[0].system = true;
        s->nresolvers = 1;
    }
    if (s->nresolvers > ES_PLAN_MAX_RESOLVERS)
        es_usage_error("-r: %zu resolvers; at most %d per scan", s->nresolvers,
                       ES_PLAN_MAX_RESOLVERS);
    s->labels = es_xcalloc(s->nresolvers, sizeof *s->labels);
    s->ecs = es_xcalloc(s->nresolvers, sizeof *s->ecs);
    for (size_t i = 0; i < s->nresolvers; i++) {
        s->labels[i] = es_intern(s->pool, s->resolvers[i].label);
        s->ecs[i] = es_intern(s->pool, s->resolvers[i].ecs_text);
    }
}

static unsigned family_bits(const char *family)
{
    if (!strcmp(family, "6"))
        return ES_DNS_FAMILY_6;
    if (!strcmp(family, "both"))
        return ES_DNS_FAMILY_BOTH;
    return ES_DNS_FAMILY_4;
}

static bool family_wanted(unsigned bits, const struct es_ip *ip)
{
    return ip->family == AF_INET6 ? (bits & ES_DNS_FAMILY_6) : (bits & ES_DNS_FAMILY_4);
}

static void dnshost_add(struct scan *s, const char *host, uint16_t port)
{
    if (!s->dnsindex || (s->ndnshosts + 1) * 4 > (s->dnsmask + 1) * 3) {
        size_t nmask = s->dnsindex ? s->dnsmask * 2 + 1 : 1023;
        uint32_t *t = es_xcalloc(nmask + 1, sizeof *t);
        for (size_t i = 0; i < s->ndnshosts; i++) {
            size_t j = XXH3_64bits(&s->dnshosts[i].host, sizeof(char *)) & nmask;
            while (t[j])
                j = (j + 1) & nmask;
            t[j] = (uint32_t)i + 1;
        }
        free(s->dnsindex);
        s->dnsindex = t;
        s->dnsmask = nmask;
    }
    size_t j = XXH3_64bits(&host, sizeof host) & s->dnsmask;
    while (s->dnsindex[j] && s->dnshosts[s->dnsindex[j] - 1].host != host)
        j = (j + 1) & s->dnsmask;
    struct dnshost *d;
    if (s->dnsindex[j]) {
        d = &s->dnshosts[s->dnsindex[j] - 1];
    } else {
        s->dnshosts = es_xgrow(s->dnshosts, &s->capdnshosts, s->ndnshosts + 1, sizeof *d);
        d = &s->dnshosts[s->ndnshosts];
        memset(d, 0, sizeof *d);
        d->host = host;
        s->dnsindex[j] = (uint32_t)++s->ndnshosts;
    }
    for (size_t i = 0; i < d->nports; i++)
        if (d->ports[i] == port)
            return;
    d->ports = es_xgrow(d->ports, &d->capports, d->nports + 1, sizeof *d->ports);
    d->ports[d->nports++] = port;
}

/* Reads every target (positional words, -i FILE) and --edges, keeping the
 * hosts of this shard. Exits 2 on the first bad line. */
static void read_targets(struct scan *s)
{
    char err[1024];
    const struct es_config *cfg = s->cfg;
    if (!cfg->args.n && !cfg->input_file)
        es_usage_error("no targets: give HOST[:PORT] words, -i FILE or -i - (stdin)");
    struct es_edges *edges = NULL;
    if (cfg->edges_file && !es_edges_load(cfg->edges_file, &edges, err, sizeof err))
        es_usage_error("--edges %s", err);
    struct es_target_reader *rd = es_target_reader_new(cfg->args.v, cfg->args.n, cfg->input_file,
                                                       (uint16_t)cfg->port, err, sizeof err);
    if (!rd) /* only the -i file can fail here: name the flag, as --edges does */
        es_usage_error("-i %s", err);
    unsigned fam = family_bits(cfg->family);
    struct es_target t;
    enum es_target_next rc;
    while ((rc = es_target_reader_next(rd, &t, err, sizeof err)) == ES_TARGET_OK) {
        if (!es_shard_keep(t.host, strlen(t.host), s->shard_i, s->shard_n))
            continue;
        const char *host = es_intern(s->pool, t.host);
        if (t.has_ip) {
            es_plan_add(s->plan, host, t.host_is_ip, t.port, &t.ip, ES_PLAN_DIRECT, -1);
            continue;
        }
        dnshost_add(s, host, t.port);
        if (edges) {
            struct es_edges_iter it;
            struct es_ip ip;
            es_edges_iter_init(&it, edges);
            while (es_edges_iter_next(&it, &ip))
                if (family_wanted(fam, &ip))
                    es_plan_add(s->plan, host, false, t.port, &ip, ES_PLAN_DIRECT, -1);
        }
    }
    if (rc == ES_TARGET_ERROR)
        es_usage_error("%s", err);
    es_target_reader_free(rd);
    es_edges_free(edges);
}

/* --ca-file and --keylog name files the user gave: one that cannot be used
 * is bad input (exit 2, before the output file is created and before any
 * packet), not a run-time failure found once the engine starts. Builds one
 * throw-away TLS context set; the system trust store is not loaded here (it
 * is not the user's input). The key log is not touched by a dry run. */
void es_check_tls_files(const struct es_variant *variants, size_t nvariants, const char *ca_file,
                        const char *keylog)
{
    if (!ca_file && !keylog)
        return;
    char err[512] = "";
    struct es_tls_opts o = {
        .ca_file = ca_file,
        .no_verify = !ca_file,
        .keylog = keylog,
    };
    struct es_tls_ctxset *set = es_tls_ctxset_new(variants, nvariants, &o, err, sizeof err);
    if (!set)
        es_usage_error("%s", err);
    es_tls_ctxset_free(set);
}

static void check_tls_files(const struct scan *s)
{
    const struct es_config *cfg = s->cfg;
    bool ca = cfg->ca_file && !cfg->no_verify, keylog = cfg->keylog && !cfg->dry_run;
    es_check_tls_files(s->variants, s->nvariants, ca ? cfg->ca_file : NULL,
                       keylog ? cfg->keylog : NULL);
}

/* --vantage is written in every row and the report groups by it: a control
 * character (a newline from a shell variable, say) would be escaped in the
 * file and no longer match the same label from another run. */
static void check_vantage(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            es_usage_error("--vantage: control character 0x%02x at byte %zu; expected printable "
                           "text",
                           *p, (size_t)(p - (const unsigned char *)v));
}

/* ---- DNS ---- */

static void flush_rows(struct scan *s, bool force)
{
    if (s->rows.len && (force || s->rows.len >= ES_WRITER_BATCH_BYTES))
        es_writer_submit(s->writer, &s->rows);
}

static void on_dns(void *arg, const char *host, size_t r, const struct es_ip *ips, size_t n,
                   const char *error, double dns_ms)
{
    struct scan *s = arg;
    const char *h = es_intern(s->pool, host);
    size_t j = XXH3_64bits(&h, sizeof h) & s->dnsmask;
    while (s->dnsindex[j] && s->dnshosts[s->dnsindex[j] - 1].host != h)
        j = (j + 1) & s->dnsmask;
    if (!s->dnsindex[j])
        return; /* cannot happen: every resolved host was added */
    const struct dnshost *d = &s->dnshosts[s->dnsindex[j] - 1];
    s->dns_done++;
    for (size_t p = 0; p < d->nports; p++) {
        if (!error) {
            for (size_t i = 0; i < n; i++)
                es_plan_add(s->plan, h, false, d->ports[p], &ips[i], (int)r, dns_ms);
            continue;
        }
        struct es_row row;
        es_row_init(&row);
        row.time_ms = es_wall_ms();
        row.vantage = s->vantage;
        row.host = h;
        row.port = d->ports[p];
        row.resolver = s->labels[r];
        row.ecs = s->ecs[r];
        row.attempt = -1;
        row.status = es_tok_dns_error;
        row.error = error;
        row.dns_ms = dns_ms;
        es_row_format(&s->rows, s->format, &row);
        s->dns_error_rows++;
    }
    flush_rows(s, false);
}

static void resolve_all(struct scan *s)
{
    if (!s->ndnshosts)
        return;
    char err[512];
    const struct es_config *cfg = s->cfg;
    struct es_loop *loop = es_loop_new();
    struct es_dns_opts o = {
        .timeout_ms = (unsigned)cfg->dns_timeout_ms,
        .retries = (unsigned)cfg->dns_retries,
        .family = family_bits(cfg->family),
    };
    struct es_dns *dns = es_dns_new(loop, s->resolvers, s->nresolvers, &o, err, sizeof err);
    if (!dns)
        es_die(ES_EXIT_RUNTIME, "%s", err);
    bool progress = !cfg->quiet && (cfg->progress || isatty(STDERR_FILENO));
    uint64_t last = es_now_ms();
    /* Feed hosts as the queue drains: thousands in flight, never the whole list queued. */
    size_t next = 0;
    while ((next < s->ndnshosts || es_dns_pending(dns)) && !interrupted) {
        while (next < s->ndnshosts && es_dns_pending(dns) < 4 * ES_DNS_MAX_INFLIGHT)
            es_dns_resolve(dns, s->dnshosts[next++].host, on_dns, s);
        int rc = es_dns_run_once(dns, 100);
        if (rc < 0)
            es_die(ES_EXIT_RUNTIME, "DNS event loop: %s", strerror(-rc));
        if (progress && es_now_ms() - last >= 1000) {
            last = es_now_ms();
            fprintf(stderr, "\r%s: resolving: %llu of %llu results", es_progname,
                    (unsigned long long)s->dns_done,
                    (unsigned long long)(s->ndnshosts * s->nresolvers));
        }
    }
    if (progress)
        fprintf(stderr, "\r\033[K");
    es_dns_free(dns);
    es_loop_free(loop);
}

/* ---- the run ---- */

static uint64_t write_planned(struct scan *s, const struct es_edge *edges, size_t nedges)
{
    uint64_t n = 0;
    char ip[ES_IP_TEXT];
    for (uint32_t a = 1; a <= s->cfg->repeat && !interrupted; a++)
        for (size_t e = 0; e < nedges; e++)
            for (size_t v = 0; v < s->nvariants; v++) {
                struct es_row row;
                es_row_plan(&row, s->vantage, &edges[e], &s->variants[v], a, ip);
                row.status = es_tok_planned;
                es_row_format(&s->rows, s->format, &row);
                n++;
                flush_rows(s, false);
            }
    flush_rows(s, true);
    return n;
}

/* FILE.meta.json beside the output file (not for stdout): the record of
 * this run, written last, also after an interrupt. A failure to write it is
 * a warning: the rows are what matters, and they are already written. */
static void write_meta(const struct scan *s, uint64_t start_ms, uint64_t planned, uint64_t rows,
                       uint64_t did_not_run, int status)
{
    const struct es_config *cfg = s->cfg;
    char *path = es_meta_path(cfg->output);
    if (!path)
        return;
    struct es_meta_run m = {
        .argc = cfg->argc,
        .argv = cfg->argv,
        .start_ms = start_ms,
        .end_ms = es_wall_ms(),
        .vantage = s->vantage,
        .output = cfg->output,
        .format = s->format == ES_FORMAT_JSONL ? "jsonl" : "csv",
        .zstd = es_writer_zstd_name(cfg->output),
        .shard_i = s->shard_i,
        .shard_n = s->shard_n,
        .resolvers = s->resolvers,
        .nresolvers = s->nresolvers,
        .dry_run = cfg->dry_run,
        .planned = planned,
        .dns_error_rows = s->dns_error_rows,
        .rows = rows,
        .did_not_run = did_not_run,
        .interrupted = status == ES_EXIT_INTERRUPTED,
        .exit_status = status,
    };
    char err[512];
    if (es_meta_write(path, &m, err, sizeof err) < 0)
        es_warn("%s", err);
    free(path);
}

int es_scan_main(const struct es_config *cfg)
{
    char err[1024];
    uint64_t start_ms = es_wall_ms();
    struct scan s = {.cfg = cfg};
    s.pool = es_intern_new();
    if (!es_variants_build_ex(cfg, variant_warning, NULL, &s.variants, &s.nvariants, err,
                              sizeof err))
        es_usage_error("%s", err);
    setup_shard(&s);
    setup_resolvers(&s);
    char hostname[256] = "unknown";
    gethostname(hostname, sizeof hostname - 1);
    if (cfg->vantage)
        check_vantage(cfg->vantage);
    s.vantage = es_intern(s.pool, cfg->vantage ? cfg->vantage : hostname);
    s.plan = es_plan_new(s.pool, s.labels, s.ecs, s.nresolvers);
    read_targets(&s);
    check_tls_files(&s);
    if (!cfg->dry_run && es_engine_check_uring(err, sizeof err) < 0)
        es_die(ES_EXIT_RUNTIME, "%s", err);

    s.format = es_format_from_name(cfg->output, cfg->format);
    s.writer = es_writer_open(cfg->output, s.format, err, sizeof err);
    if (!s.writer)
        es_die(ES_EXIT_RUNTIME, "%s", err);

    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    resolve_all(&s);
    flush_rows(&s, true);
    size_t nedges;
    const struct es_edge *edges = es_plan_finish(s.plan, &nedges);
    uint64_t planned = (uint64_t)nedges * s.nvariants * cfg->repeat;
    int status = ES_EXIT_OK;
    uint64_t probe_rows = 0, did_not_run = 0;
    if (interrupted) {
        status = ES_EXIT_INTERRUPTED;
        did_not_run = planned;
    } else if (cfg->dry_run) {
        probe_rows = write_planned(&s, edges, nedges);
        if (interrupted)
            status = ES_EXIT_INTERRUPTED;
        did_not_run = planned - probe_rows;
    } else if (nedges) {
        /* The engine installs its own SIGINT/SIGTERM handling. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        struct es_engine_params p = {
            .cfg = cfg,
            .edges = edges,
            .nedges = nedges,
            .variants = s.variants,
            .nvariants = s.nvariants,
            .writer = s.writer,
            .format = s.format,
        };
        struct es_engine_result res;
        enum es_engine_status st = es_engine_run(&p, &res);
        probe_rows = res.rows;
        did_not_run = res.not_run;
        status = es_engine_exit_code(st);
    }
    uint64_t rows = 0;
    if (es_writer_close(s.writer, &rows, err, sizeof err) < 0) {
        es_warn("%s", err);
        status = ES_EXIT_RUNTIME;
    }
    if (!cfg->quiet || status != ES_EXIT_OK)
        es_warn("%s: %llu rows: %llu %s (%zu edges x %zu variants x %llu attempts) and %llu "
                "DNS errors%s",
                strcmp(cfg->output, "-") ? cfg->output : "stdout", (unsigned long long)rows,
                (unsigned long long)probe_rows, cfg->dry_run ? "planned probes" : "probes", nedges,
                s.nvariants, (unsigned long long)cfg->repeat, (unsigned long long)s.dns_error_rows,
                status == ES_EXIT_INTERRUPTED ? "; interrupted" : "");
    if (status == ES_EXIT_OK && rows != planned + s.dns_error_rows) {
        es_warn("%llu rows written but %llu planned: rows were lost", (unsigned long long)rows,
                (unsigned long long)(planned + s.dns_error_rows));
        status = ES_EXIT_RUNTIME;
    }
    write_meta(&s, start_ms, planned, rows, did_not_run, status);
    es_rowbuf_free(&s.rows);
    es_plan_free(s.plan);
    es_variants_free(s.variants, s.nvariants);
    for (size_t i = 0; i < s.ndnshosts; i++)
        free(s.dnshosts[i].ports);
    free(s.dnshosts);
    free(s.dnsindex);
    free(s.labels);
    free(s.ecs);
    free(s.resolvers);
    es_intern_free(s.pool);
    return status;
}
