/* enum.c - the `edgeshake enum` command (include/edgeshake/enum.h, DESIGN
 * §3.6): targets, sharding, resolvers and DNS as scan takes them, then the
 * enumeration of every distinct (host, port, ip) (enumrun.c), then one row
 * per edge, CSV or JSONL.
 *
 * Targets go through scan's pipeline (pipeline.h: streaming, sharded, DNS
 * through every resolver) into a list of edges: the enumeration's rounds need
 * every edge. As in scan, the look-ahead of targets and every option are
 * checked before the first DNS query (exit 2), a bad target further on is
 * still exit 2 before any TLS packet (enum probes only once every target is
 * read), and the output is opened before any packet (exit 1). A resolver
 * that fails for a host gives one row for (host, port, resolver) with status
 * dns_error, like scan's. The rows are written when the
 * enumeration ends (an edge's row needs its last answer); after SIGINT the
 * edges keep what they found, marked partial/interrupted, and the exit status
 * is 130. */
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
#include "edgeshake/enum.h"
#include "edgeshake/intern.h"
#include "edgeshake/net.h"
#include "edgeshake/pipeline.h"
#include "edgeshake/resolver.h"
#include "edgeshake/shard.h"
#include "edgeshake/target.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"
#include "edgeshake/writer.h"

const char *const es_enum_columns[ES_ENUM_NCOLUMNS] = {
    "time",        "vantage",        "host",       "port",     "ip",     "resolver",
    "sni",         "versions",       "ciphers12",  "suites13", "groups", "alpn",
    "cert_sha256", "server_prefers", "handshakes", "status",   "error",  "cert_sha256_nosni",
    "nosni_error", "same_as",
};

void es_enum_row_header(struct es_rowbuf *b, enum es_format fmt)
{
    if (fmt != ES_FORMAT_CSV)
        return;
    for (size_t i = 0; i < ES_ENUM_NCOLUMNS; i++)
        es_cell_str(b, fmt, es_enum_columns[i], es_enum_columns[i], i == 0);
    es_cell_end(b, fmt);
    b->rows--; /* the header is not a row */
}

void es_enum_row_format(struct es_rowbuf *b, enum es_format fmt, const struct es_enum_row *r)
{
    char t[ES_TIME_LEN + 1];
    t[es_format_time(t, r->time_ms)] = '\0';
    const char *const *c = es_enum_columns;
    es_cell_str(b, fmt, c[0], t, true);
    es_cell_str(b, fmt, c[1], r->vantage, false);
    es_cell_str(b, fmt, c[2], r->host, false);
    es_cell_num(b, fmt, c[3], r->port, false);
    es_cell_str(b, fmt, c[4], r->ip, false);
    es_cell_str(b, fmt, c[5], r->resolver, false);
    es_cell_str(b, fmt, c[6], r->sni, false);
    es_cell_str(b, fmt, c[7], r->versions, false);
    es_cell_str(b, fmt, c[8], r->ciphers12, false);
    es_cell_str(b, fmt, c[9], r->suites13, false);
    es_cell_str(b, fmt, c[10], r->groups, false);
    es_cell_str(b, fmt, c[11], r->alpn, false);
    es_cell_str(b, fmt, c[12], r->cert_sha256, false);
    es_cell_str(b, fmt, c[13], r->server_prefers, false);
    es_cell_num(b, fmt, c[14], r->handshakes, false);
    es_cell_str(b, fmt, c[15], r->status, false);
    es_cell_str(b, fmt, c[16], r->error, false);
    es_cell_str(b, fmt, c[17], r->cert_sha256_nosni, false);
    es_cell_str(b, fmt, c[18], r->nosni_error, false);
    es_cell_str(b, fmt, c[19], r->same_as, false);
    es_cell_end(b, fmt);
}

/* ---- the command ------------------------------------------------------------------- */

struct enumcmd {
    const struct es_config *cfg;
    struct es_intern *pool;
    struct es_resolver_spec *resolvers;
    size_t nresolvers;
    const char **labels, **ecs;
    unsigned shard_i, shard_n;
    const char *vantage;
    struct es_edges *edges_file; /* --edges */
    struct es_edge *edges;       /* every edge the pipeline handed over (strings interned) */
    size_t nedges, capedges;
    enum es_format format;
    FILE *out;
    uint16_t groups; /* --groups: the group candidates (catalog mask), 0 = all */
    struct es_rowbuf rows;
    uint64_t dns_errors;
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void setup(struct enumcmd *c)
{
    char err[512];
    const struct es_config *cfg = c->cfg;
    c->shard_i = 0;
    c->shard_n = 1;
    if (cfg->shard && cfg->shards)
        es_usage_error("--shard and --shards exclude each other: --shard I/N names the shard, "
                       "--shards N takes I from the environment");
    if (cfg->shard && !es_shard_parse(cfg->shard, &c->shard_i, &c->shard_n, err, sizeof err))
        es_usage_error("%s", err);
    if (cfg->shards) {
        if (!es_shard_from_env(cfg->shards, &c->shard_i, err, sizeof err))
            es_usage_error("%s", err);
        c->shard_n = (unsigned)cfg->shards;
    }
    if (cfg->resolvers.n) {
        c->resolvers =
            es_resolvers_parse(cfg->resolvers.v, cfg->resolvers.n, &c->nresolvers, err, sizeof err);
        if (!c->resolvers)
            es_usage_error("%s", err);
    } else {
        c->resolvers = es_xcalloc(1, sizeof *c->resolvers);
        snprintf(c->resolvers[0].label, sizeof c->resolvers[0].label, "%s", ES_RESOLVER_SYSTEM);
        c->resolvers[0].system = true;
        c->nresolvers = 1;
    }
    c->labels = es_xcalloc(c->nresolvers, sizeof *c->labels);
    c->ecs = es_xcalloc(c->nresolvers, sizeof *c->ecs);
    for (size_t i = 0; i < c->nresolvers; i++) {
        c->labels[i] = es_intern(c->pool, c->resolvers[i].label);
        c->ecs[i] = es_intern(c->pool, c->resolvers[i].ecs_text);
    }
    if (cfg->vantage)
        for (const unsigned char *p = (const unsigned char *)cfg->vantage; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                es_usage_error("--vantage: control character 0x%02x at byte %zu; expected "
                               "printable text",
                               *p, (size_t)(p - (const unsigned char *)cfg->vantage));
    char hostname[256] = "unknown";
    gethostname(hostname, sizeof hostname - 1);
    c->vantage = es_intern(c->pool, cfg->vantage ? cfg->vantage : hostname);
    for (size_t i = 0; i < cfg->groups.n; i++)
        if (!es_enum_groups_parse(cfg->groups.v[i], &c->groups, err, sizeof err))
            es_usage_error("%s", err);
    if (!cfg->args.n && !cfg->input_file)
        es_usage_error("no targets: give HOST[:PORT] words, -i FILE or -i - (stdin)");
    if (cfg->edges_file && !es_edges_load(cfg->edges_file, &c->edges_file, err, sizeof err))
        es_usage_error("--edges %s", err);
}

static unsigned family_bits(const char *family)
{
    if (!strcmp(family, "6"))
        return ES_DNS_FAMILY_6;
    if (!strcmp(family, "both"))
        return ES_DNS_FAMILY_BOTH;
    return ES_DNS_FAMILY_4;
}

static void flush(struct enumcmd *c)
{
    if (c->rows.len && fwrite(c->rows.data, 1, c->rows.len, c->out) != c->rows.len)
        es_die(ES_EXIT_RUNTIME, "cannot write %s", c->cfg->output);
    es_rowbuf_reset(&c->rows);
}

/* The pipeline's sink: enumeration needs every edge before its rounds
 * start, so edges are kept (about 100 bytes each, strings interned). */
static int on_edges(void *arg, const struct es_edge *edges, size_t n)
{
    struct enumcmd *c = arg;
    c->edges = es_xgrow(c->edges, &c->capedges, c->nedges + n, sizeof *c->edges);
    for (size_t i = 0; i < n; i++) {
        struct es_edge *e = &c->edges[c->nedges++];
        *e = edges[i];
        e->host = es_intern(c->pool, edges[i].host);
        e->resolver = edges[i].resolver ? es_intern(c->pool, edges[i].resolver) : NULL;
        e->ecs = edges[i].ecs ? es_intern(c->pool, edges[i].ecs) : NULL;
        e->resolver_addr =
            edges[i].resolver_addr ? es_intern(c->pool, edges[i].resolver_addr) : NULL;
    }
    return 0;
}

static void on_dns_failure(void *arg, const struct es_dns_failure *f)
{
    struct enumcmd *c = arg;
    struct es_enum_row row = {
        .time_ms = es_wall_ms(),
        .vantage = c->vantage,
        .host = f->host,
        .port = f->port,
        .resolver = f->label,
        .handshakes = 0,
        .status = es_tok_dns_error,
        .error = f->error,
    };
    es_enum_row_format(&c->rows, c->format, &row);
    c->dns_errors++;
    if (c->rows.len >= ES_WRITER_BATCH_BYTES)
        flush(c);
}

static struct es_pipeline *pipeline_new(struct enumcmd *c, struct es_target_reader **rd)
{
    char err[1024];
    const struct es_config *cfg = c->cfg;
    *rd = es_target_reader_new(cfg->args.v, cfg->args.n, cfg->input_file, (uint16_t)cfg->port, err,
                               sizeof err);
    if (!*rd)
        es_usage_error("-i %s", err);
    struct es_pipeline_params p = {
        .reader = *rd,
        .edges = c->edges_file,
        .family = family_bits(cfg->family),
        .shard_i = c->shard_i,
        .shard_n = c->shard_n,
        .resolvers = c->resolvers,
        .nresolvers = c->nresolvers,
        .labels = c->labels,
        .ecs = c->ecs,
        .pool = c->pool,
        .dns_timeout_ms = (unsigned)cfg->dns_timeout_ms,
        .dns_retries = (unsigned)cfg->dns_retries,
        .progress = !cfg->quiet && (cfg->progress || isatty(STDERR_FILENO)),
        .stop = &interrupted,
        .sink = {.edges = on_edges, .dns_failure = on_dns_failure, .arg = c},
    };
    struct es_pipeline *pl = es_pipeline_new(&p, err, sizeof err);
    if (!pl)
        es_usage_error("%s", err);
    return pl;
}

static int cmp_edge(const void *pa, const void *pb)
{
    const struct es_edge *a = pa, *b = pb;
    int r = strcmp(a->host, b->host);
    if (r)
        return r;
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    if (a->ip.family != b->ip.family)
        return a->ip.family < b->ip.family ? -1 : 1;
    return memcmp(a->ip.bytes, b->ip.bytes, sizeof a->ip.bytes);
}

static void write_item(struct enumcmd *c, const struct es_enum_item *items, size_t i,
                       bool interrupted_run)
{
    const struct es_enum_item *it = &items[i];
    const struct es_enum_item *src = it->same_as >= 0 ? &items[it->same_as] : it;
    const struct es_enum_item *ns = it->nosni_from >= 0 ? &items[it->nosni_from] : it;
    static char versions[ES_ENUM_LIST_MAX], c12[ES_ENUM_LIST_MAX], s13[ES_ENUM_LIST_MAX],
        groups[ES_ENUM_LIST_MAX], alpn[ES_ENUM_LIST_MAX];
    es_enum_lists(&src->st, versions, c12, s13, groups, alpn);
    char ip[ES_IP_TEXT];
    const struct es_enum_state *st = &src->st;
    const char *status = "ok", *error = NULL;
    if (it->st.failed) {
        status = it->st.status;
        error = it->st.error;
    } else if (st->partial || (interrupted_run && !es_enum_finished(st))) {
        status = "partial";
        error = st->error ? st->error : "interrupted";
    }
    bool tls12 = st->tr[ES_ENUM_TRACK_TLS12].main.nfound >= 2;
    struct es_enum_row row = {
        .time_ms = es_wall_ms(),
        .vantage = c->vantage,
        .host = it->edge->host,
        .port = it->edge->port,
        .ip = es_ip_str(&it->edge->ip, ip, sizeof ip),
        .resolver = it->edge->resolver,
        .sni = it->edge->host_is_ip ? "none" : it->edge->host,
        .versions = versions,
        .ciphers12 = c12,
        .suites13 = s13,
        .groups = groups,
        .alpn = alpn,
        .cert_sha256 = it->st.cert[0] ? it->st.cert : src->st.cert,
        .server_prefers = !tls12 || st->pref < 0 ? ""
                          : st->pref             ? "yes"
                                                 : "no",
        .handshakes = it->st.handshakes,
        .status = status,
        .error = error,
        .cert_sha256_nosni = it->edge->host_is_ip ? it->st.cert : ns->st.cert_nosni,
        .nosni_error = it->edge->host_is_ip ? NULL : ns->st.nosni_error,
        .same_as = it->same_as >= 0 ? src->edge->host : NULL,
    };
    if (it->st.failed) {
        row.versions = row.ciphers12 = row.suites13 = row.groups = row.alpn = NULL;
        row.server_prefers = NULL;
    }
    es_enum_row_format(&c->rows, c->format, &row);
    if (c->rows.len >= ES_WRITER_BATCH_BYTES)
        flush(c);
}

static void write_planned(struct enumcmd *c, const struct es_edge *edges, size_t n)
{
    char ip[ES_IP_TEXT];
    for (size_t i = 0; i < n; i++) {
        struct es_enum_row row = {
            .time_ms = es_wall_ms(),
            .vantage = c->vantage,
            .host = edges[i].host,
            .port = edges[i].port,
            .ip = es_ip_str(&edges[i].ip, ip, sizeof ip),
            .resolver = edges[i].resolver,
            .sni = edges[i].host_is_ip ? "none" : edges[i].host,
            .handshakes = -1,
            .status = es_tok_planned,
        };
        es_enum_row_format(&c->rows, c->format, &row);
        if (c->rows.len >= ES_WRITER_BATCH_BYTES)
            flush(c);
    }
}

int es_enum_main(const struct es_config *cfg)
{
    char err[1024];
    struct enumcmd c = {.cfg = cfg};
    c.pool = es_intern_new();
    setup(&c);
    if (!cfg->dry_run && es_engine_check_uring(err, sizeof err) < 0)
        es_die(ES_EXIT_RUNTIME, "%s", err);
    struct es_target_reader *rd;
    struct es_pipeline *pl = pipeline_new(&c, &rd); /* the look-ahead: exit 2 here */
    c.format = es_format_from_name(cfg->output, cfg->format);
    c.out = strcmp(cfg->output, "-") ? fopen(cfg->output, "we") : stdout;
    if (!c.out) {
        int e = errno;
        /* freed before exit: pl is only in a register, LeakSanitizer saw a leak */
        es_pipeline_free(pl);
        es_target_reader_free(rd);
        es_die(ES_EXIT_RUNTIME, "cannot write %s: %s", cfg->output, strerror(e));
    }
    es_enum_row_header(&c.rows, c.format);
    flush(&c);

    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int status = ES_EXIT_OK;
    enum es_pipeline_status ps = es_pipeline_run(pl, err, sizeof err);
    es_pipeline_free(pl); /* also before the exits below (no leak report) */
    es_target_reader_free(rd);
    switch (ps) {
    case ES_PIPELINE_DONE: break;
    case ES_PIPELINE_STOPPED: status = ES_EXIT_INTERRUPTED; break;
    case ES_PIPELINE_BAD_INPUT: /* enum probes only after every target is read: nothing was */
        es_usage_error("%s", err);
    case ES_PIPELINE_FAILED: es_die(ES_EXIT_RUNTIME, "%s", err);
    }
    /* Rows in (host, port, ip) order, as scan's plan had them (none, and
     * c.edges NULL, when interrupted before the first answer). */
    if (c.nedges)
        qsort(c.edges, c.nedges, sizeof *c.edges, cmp_edge);
    size_t nedges = c.nedges;
    const struct es_edge *edges = c.edges;
    uint64_t handshakes = 0, rounds = 0, shared = 0;
    if (status == ES_EXIT_INTERRUPTED || interrupted) {
        status = ES_EXIT_INTERRUPTED;
    } else if (cfg->dry_run) {
        write_planned(&c, edges, nedges);
    } else if (nedges) {
        struct es_enum_item *items = es_xcalloc(nedges, sizeof *items);
        for (size_t i = 0; i < nedges; i++)
            items[i].edge = &edges[i];
        struct es_enum_run_opts o = {
            .cfg = cfg, .per_host = cfg->per_host, .quiet = cfg->quiet, .groups = c.groups};
        int rc = es_enum_run(items, nedges, &o, &rounds);
        if (rc == 1) {
            status = ES_EXIT_RUNTIME;
        } else {
            if (rc == 130 || interrupted)
                status = ES_EXIT_INTERRUPTED;
            for (size_t i = 0; i < nedges; i++) {
                write_item(&c, items, i, status == ES_EXIT_INTERRUPTED);
                handshakes += items[i].st.handshakes;
                shared += items[i].same_as >= 0;
            }
        }
        free(items);
    }
    flush(&c);
    if ((c.out != stdout && fclose(c.out) != 0) || (c.out == stdout && fflush(stdout) != 0)) {
        es_warn("cannot write %s", cfg->output);
        status = ES_EXIT_RUNTIME;
    }
    if (!cfg->quiet || status != ES_EXIT_OK)
        es_warn("%s: %zu edges%s, %llu handshakes in %llu rounds (%.1f per edge; %llu edges "
                "shared another's enumeration), %llu DNS errors%s",
                strcmp(cfg->output, "-") ? cfg->output : "stdout", nedges,
                cfg->dry_run ? " planned" : "", (unsigned long long)handshakes,
                (unsigned long long)rounds, nedges ? (double)handshakes / (double)nedges : 0.0,
                (unsigned long long)shared, (unsigned long long)c.dns_errors,
                status == ES_EXIT_INTERRUPTED ? "; interrupted" : "");
    es_rowbuf_free(&c.rows);
    free(c.edges);
    es_edges_free(c.edges_file);
    free(c.labels);
    free(c.ecs);
    free(c.resolvers);
    es_intern_free(c.pool);
    return status;
}
