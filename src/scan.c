/* scan.c - see include/edgeshake/scan.h.
 *
 * The command: check every option and input, then stream the targets through
 * the pipeline (pipeline.h) into the engine, or, with --dry-run, into
 * `planned` rows.
 *
 * Order matters (DESIGN §5): bad input is exit 2 with nothing sent. Options,
 * positional targets and a regular -i FILE are read and checked in full
 * before the first DNS query (one pass over the file that keeps nothing; the
 * pipeline reads it again as a stream). Standard input (or a FIFO) can be
 * read only once: its first ES_PIPELINE_LOOKAHEAD targets are checked before
 * anything starts; a bad line after those stops the scan there (rows for the
 * targets before it are kept) and is still exit 2. */
#include "edgeshake/scan.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgeshake/cli.h"
#include "edgeshake/dns.h"
#include "edgeshake/engine.h"
#include "edgeshake/intern.h"
#include "edgeshake/loop.h"
#include "edgeshake/meta.h"
#include "edgeshake/net.h"
#include "edgeshake/pipeline.h"
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
    struct es_edges *edges; /* --edges */
    enum es_format format;
    struct es_writer *writer;
    struct es_rowbuf rows;    /* DNS error rows and dry-run rows, from this thread */
    struct es_engine *engine; /* not with --dry-run */
    uint64_t dns_error_rows;
    uint64_t planned; /* probes handed over: edges x variants x repeat */
    uint64_t nedges;
};

/* SIGINT/SIGTERM are the engine's from the first line of es_scan_main
 * (es_engine_signals_install); es_engine_stop_flag() is set on the first. */

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

/* Reads every positional target and a regular -i FILE once, keeping
 * nothing, so that a bad line is exit 2 before anything is sent (the pipeline
 * reads them again). Standard input and FIFOs are left to the pipeline's
 * look-ahead. Also loads --edges (checked in full, kept as prefixes). */
static void check_targets(struct scan *s)
{
    char err[1024];
    const struct es_config *cfg = s->cfg;
    if (!cfg->args.n && !cfg->input_file)
        es_usage_error("no targets: give HOST[:PORT] words, -i FILE or -i - (stdin)");
    if (cfg->edges_file && !es_edges_load(cfg->edges_file, &s->edges, err, sizeof err))
        es_usage_error("--edges %s", err);
    struct stat sb;
    bool file = cfg->input_file && strcmp(cfg->input_file, "-") &&
                stat(cfg->input_file, &sb) == 0 && S_ISREG(sb.st_mode);
    struct es_target_reader *rd =
        es_target_reader_new(cfg->args.v, cfg->args.n, file ? cfg->input_file : NULL,
                             (uint16_t)cfg->port, err, sizeof err);
    if (!rd) /* only the -i file can fail here: name the flag, as --edges does */
        es_usage_error("-i %s", err);
    struct es_target t;
    enum es_target_next rc;
    while ((rc = es_target_reader_next(rd, &t, err, sizeof err)) == ES_TARGET_OK)
        ;
    if (rc == ES_TARGET_ERROR)
        es_usage_error("%s", err);
    es_target_reader_free(rd);
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

/* ---- rows written here: DNS failures, --dry-run ---- */

static int flush_rows(struct scan *s, bool force)
{
    if (s->rows.len && (force || s->rows.len >= ES_WRITER_BATCH_BYTES))
        return es_writer_submit(s->writer, &s->rows);
    return 0;
}

static void on_dns_failure(void *arg, const struct es_dns_failure *f)
{
    struct scan *s = arg;
    struct es_row row;
    es_row_init(&row);
    row.time_ms = es_wall_ms();
    row.vantage = s->vantage;
    row.host = f->host;
    row.port = f->port;
    row.resolver = f->label;
    row.ecs = f->ecs;
    row.resolver_addr = f->resolver_addr;
    row.attempt = -1;
    row.status = es_tok_dns_error;
    row.error = f->error;
    row.dns_ms = f->dns_ms;
    es_row_format(&s->rows, s->format, &row);
    s->dns_error_rows++;
    flush_rows(s, false);
}

static void count_edges(struct scan *s, size_t n)
{
    s->nedges += n;
    s->planned += (uint64_t)n * s->nvariants * s->cfg->repeat;
}

/* --dry-run: the planned rows of a host's edges, every attempt. */
static int on_edges_dry(void *arg, const struct es_edge *edges, size_t n)
{
    struct scan *s = arg;
    char ip[ES_IP_TEXT];
    count_edges(s, n);
    for (uint32_t a = 1; a <= s->cfg->repeat; a++)
        for (size_t e = 0; e < n; e++)
            for (size_t v = 0; v < s->nvariants; v++) {
                struct es_row row;
                es_row_plan(&row, s->vantage, &edges[e], &s->variants[v], a, ip);
                row.status = es_tok_planned;
                es_row_format(&s->rows, s->format, &row);
                if (flush_rows(s, false) < 0)
                    return -1;
            }
    return 0;
}

/* ---- the engine ---- */

/* A host's edges go to the engine, which copies them: the pipeline frees its
 * plan as soon as this returns. Blocks while the engine has enough queued. */
static int on_edges_engine(void *arg, const struct es_edge *edges, size_t n)
{
    struct scan *s = arg;
    int rc = es_engine_add_edges(s->engine, edges, n);
    if (rc == 0)
        count_edges(s, n);
    return rc;
}


/* ---- the run ---- */

static struct es_pipeline *pipeline_new(struct scan *s, struct es_target_reader **rd)
{
    char err[1024];
    const struct es_config *cfg = s->cfg;
    *rd = es_target_reader_new(cfg->args.v, cfg->args.n, cfg->input_file, (uint16_t)cfg->port, err,
                               sizeof err);
    if (!*rd)
        es_usage_error("-i %s", err);
    struct es_pipeline_params p = {
        .reader = *rd,
        .edges = s->edges,
        .family = family_bits(cfg->family),
        .shard_i = s->shard_i,
        .shard_n = s->shard_n,
        .resolvers = s->resolvers,
        .nresolvers = s->nresolvers,
        .labels = s->labels,
        .ecs = s->ecs,
        .pool = s->pool,
        .dns_timeout_ms = (unsigned)cfg->dns_timeout_ms,
        .dns_retries = (unsigned)cfg->dns_retries,
        .progress = cfg->dry_run && !cfg->quiet && (cfg->progress || isatty(STDERR_FILENO)),
        .stop = es_engine_stop_flag(),
        .sink =
            {
                .edges = cfg->dry_run ? on_edges_dry : on_edges_engine,
                .dns_failure = on_dns_failure,
                .arg = s,
            },
    };
    struct es_pipeline *pl = es_pipeline_new(&p, err, sizeof err);
    if (!pl)
        es_usage_error("%s", err);
    return pl;
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
    es_engine_signals_install(); /* first: a signal during set-up or DNS is exit 130 */
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
    check_targets(&s);
    check_tls_files(&s);
    if (!cfg->dry_run && es_engine_check_uring(err, sizeof err) < 0)
        es_die(ES_EXIT_RUNTIME, "%s", err);
    struct es_target_reader *rd;
    struct es_pipeline *pl = pipeline_new(&s, &rd); /* stdin's look-ahead: exit 2 here */

    s.format = es_format_from_name(cfg->output, cfg->format);
    s.writer = es_writer_open(cfg->output, s.format, err, sizeof err);
    if (!s.writer) {
        /* freed before exit: pl is only in a register, LeakSanitizer saw a leak */
        es_pipeline_free(pl);
        es_target_reader_free(rd);
        es_die(ES_EXIT_RUNTIME, "%s", err);
    }

    int status = ES_EXIT_OK;
    struct es_engine_result res;
    memset(&res, 0, sizeof res);
    if (!cfg->dry_run) {
        struct es_engine_params ep = {
            .cfg = cfg,
            .variants = s.variants,
            .nvariants = s.nvariants,
            .writer = s.writer,
            .format = s.format,
        };
        s.engine = es_engine_start(&ep, &res);
        if (!s.engine) { /* the message is printed */
            es_writer_close(s.writer, NULL, err, sizeof err);
            status = ES_EXIT_RUNTIME;
            goto out;
        }
    }
    enum es_pipeline_status ps = es_pipeline_run(pl, err, sizeof err);
    flush_rows(&s, true);
    bool bad_input = false, failed = false;
    switch (ps) {
    case ES_PIPELINE_DONE: break;
    case ES_PIPELINE_STOPPED: status = ES_EXIT_INTERRUPTED; break;
    case ES_PIPELINE_BAD_INPUT:
        es_warn("%s; stopped reading there: the rows of the targets before it are kept", err);
        bad_input = true;
        break;
    case ES_PIPELINE_FAILED:
        es_warn("%s", err);
        failed = true;
        break;
    }
    uint64_t probe_rows = 0, did_not_run = 0;
    if (cfg->dry_run) {
        probe_rows = s.planned;
    } else {
        /* Also after an interrupt or a failure: the probes that ran get their rows. */
        es_engine_end_input(s.engine);
        enum es_engine_status st = es_engine_wait(s.engine, &res);
        s.engine = NULL;
        probe_rows = res.rows;
        did_not_run = res.not_run;
        status = es_engine_exit_code(st);
        if (status == ES_EXIT_OK && ps == ES_PIPELINE_STOPPED)
            status = ES_EXIT_INTERRUPTED;
    }
    if (failed && status == ES_EXIT_OK)
        status = ES_EXIT_RUNTIME;
    uint64_t rows = 0;
    if (es_writer_close(s.writer, &rows, err, sizeof err) < 0) {
        es_warn("%s", err);
        status = ES_EXIT_RUNTIME;
    }
    if (!cfg->quiet || status != ES_EXIT_OK)
        es_warn("%s: %llu rows: %llu %s (%llu edges x %zu variants x %llu attempts) and %llu "
                "DNS errors%s",
                strcmp(cfg->output, "-") ? cfg->output : "stdout", (unsigned long long)rows,
                (unsigned long long)probe_rows, cfg->dry_run ? "planned probes" : "probes",
                (unsigned long long)s.nedges, s.nvariants, (unsigned long long)cfg->repeat,
                (unsigned long long)s.dns_error_rows,
                status == ES_EXIT_INTERRUPTED ? "; interrupted" : "");
    if (status == ES_EXIT_OK && rows != s.planned + s.dns_error_rows) {
        es_warn("%llu rows written but %llu planned: rows were lost", (unsigned long long)rows,
                (unsigned long long)(s.planned + s.dns_error_rows));
        status = ES_EXIT_RUNTIME;
    }
    if (bad_input && status == ES_EXIT_OK)
        status = ES_EXIT_USAGE;
    if (ps == ES_PIPELINE_STOPPED) { /* interrupted before the probes: what was planned so far */
        uint64_t want = s.planned + s.dns_error_rows;
        did_not_run = want > rows ? want - rows : 0;
    }
    write_meta(&s, start_ms, s.planned, rows, did_not_run, status);
out:
    es_pipeline_free(pl);
    es_target_reader_free(rd);
    es_edges_free(s.edges);
    es_rowbuf_free(&s.rows);
    es_variants_free(s.variants, s.nvariants);
    free(s.labels);
    free(s.ecs);
    free(s.resolvers);
    es_intern_free(s.pool);
    return status;
}
