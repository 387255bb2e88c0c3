/* enum.c - the `edgeshake enum` command (include/edgeshake/enum.h, DESIGN
 * §3.6): targets, sharding, resolvers and DNS as scan takes them, then the
 * enumeration of every distinct (host, port, ip) (enumrun.c), then one row
 * per edge, CSV or JSONL.
 *
 * As in scan, every input is read and checked before the first DNS query or
 * packet (exit 2), and the output is opened before any packet (exit 1). A
 * resolver that fails for a host gives one row for (host, port, resolver)
 * with status dns_error, like scan's. The rows are written when the
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
#include "edgeshake/loop.h"
#include "edgeshake/net.h"
#include "edgeshake/plan.h"
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

struct dnshost {
    const char *host; /* interned */
    uint16_t *ports;
    size_t nports, capports;
};

struct enumcmd {
    const struct es_config *cfg;
    struct es_intern *pool;
    struct es_resolver_spec *resolvers;
    size_t nresolvers;
    const char **labels, **ecs;
    unsigned shard_i, shard_n;
    const char *vantage;
    struct dnshost *hosts;
    size_t nhosts, caphosts;
    uint32_t *index; /* host pointer -> hosts index + 1 (open addressing) */
    size_t mask;
    struct es_plan *plan;
    enum es_format format;
    FILE *out;
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
    if (c->nresolvers > ES_PLAN_MAX_RESOLVERS)
        es_usage_error("-r: %zu resolvers; at most %d per run", c->nresolvers,
                       ES_PLAN_MAX_RESOLVERS);
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
}

static unsigned family_bits(const char *family)
{
    if (!strcmp(family, "6"))
        return ES_DNS_FAMILY_6;
    if (!strcmp(family, "both"))
        return ES_DNS_FAMILY_BOTH;
    return ES_DNS_FAMILY_4;
}

/* The index of host (interned, so compared by pointer) in c->hosts, or of
 * the empty slot where it goes. */
static size_t host_slot(const struct enumcmd *c, const char *host)
{
    size_t j = XXH3_64bits(&host, sizeof host) & c->mask;
    while (c->index[j] && c->hosts[c->index[j] - 1].host != host)
        j = (j + 1) & c->mask;
    return j;
}

static void host_add(struct enumcmd *c, const char *host, uint16_t port)
{
    if (!c->index || (c->nhosts + 1) * 2 > c->mask + 1) {
        size_t cap = c->index ? 2 * (c->mask + 1) : 1024;
        free(c->index);
        c->index = es_xcalloc(cap, sizeof *c->index);
        c->mask = cap - 1;
        for (size_t i = 0; i < c->nhosts; i++)
            c->index[host_slot(c, c->hosts[i].host)] = (uint32_t)i + 1;
    }
    size_t j = host_slot(c, host);
    struct dnshost *d;
    if (c->index[j]) {
        d = &c->hosts[c->index[j] - 1];
    } else {
        c->hosts = es_xgrow(c->hosts, &c->caphosts, c->nhosts + 1, sizeof *c->hosts);
        d = &c->hosts[c->nhosts];
        memset(d, 0, sizeof *d);
        d->host = host;
        c->index[j] = (uint32_t)++c->nhosts;
    }
    for (size_t k = 0; k < d->nports; k++)
        if (d->ports[k] == port)
            return;
    d->ports = es_xgrow(d->ports, &d->capports, d->nports + 1, sizeof *d->ports);
    d->ports[d->nports++] = port;
}

static void read_targets(struct enumcmd *c)
{
    char err[1024];
    const struct es_config *cfg = c->cfg;
    if (!cfg->args.n && !cfg->input_file)
        es_usage_error("no targets: give HOST[:PORT] words, -i FILE or -i - (stdin)");
    struct es_edges *edges = NULL;
    if (cfg->edges_file && !es_edges_load(cfg->edges_file, &edges, err, sizeof err))
        es_usage_error("--edges %s", err);
    struct es_target_reader *rd = es_target_reader_new(cfg->args.v, cfg->args.n, cfg->input_file,
                                                       (uint16_t)cfg->port, err, sizeof err);
    if (!rd)
        es_usage_error("-i %s", err);
    unsigned fam = family_bits(cfg->family);
    struct es_target t;
    enum es_target_next rc;
    while ((rc = es_target_reader_next(rd, &t, err, sizeof err)) == ES_TARGET_OK) {
        if (!es_shard_keep(t.host, strlen(t.host), c->shard_i, c->shard_n))
            continue;
        const char *host = es_intern(c->pool, t.host);
        if (t.has_ip) {
            es_plan_add(c->plan, host, t.host_is_ip, t.port, &t.ip, ES_PLAN_DIRECT, -1);
            continue;
        }
        host_add(c, host, t.port);
        struct es_edges_iter it;
        struct es_ip ip;
        if (!edges)
            continue;
        es_edges_iter_init(&it, edges);
        while (es_edges_iter_next(&it, &ip))
            if (ip.family == AF_INET6 ? (fam & ES_DNS_FAMILY_6) : (fam & ES_DNS_FAMILY_4))
                es_plan_add(c->plan, host, false, t.port, &ip, ES_PLAN_DIRECT, -1);
    }
    if (rc == ES_TARGET_ERROR)
        es_usage_error("%s", err);
    es_target_reader_free(rd);
    es_edges_free(edges);
}

static void flush(struct enumcmd *c)
{
    if (c->rows.len && fwrite(c->rows.data, 1, c->rows.len, c->out) != c->rows.len)
        es_die(ES_EXIT_RUNTIME, "cannot write %s", c->cfg->output);
    es_rowbuf_reset(&c->rows);
}

static void on_dns(void *arg, const char *host, size_t r, const struct es_ip *ips, size_t n,
                   const char *error, double dns_ms)
{
    (void)dns_ms;
    struct enumcmd *c = arg;
    const char *h = es_intern(c->pool, host);
    size_t j = host_slot(c, h);
    if (c->index[j]) {
        const struct dnshost *d = &c->hosts[c->index[j] - 1];
        for (size_t p = 0; p < d->nports; p++) {
            if (!error) {
                for (size_t k = 0; k < n; k++)
                    es_plan_add(c->plan, h, false, d->ports[p], &ips[k], (int)r, dns_ms);
                continue;
            }
            struct es_enum_row row = {
                .time_ms = es_wall_ms(),
                .vantage = c->vantage,
                .host = h,
                .port = d->ports[p],
                .resolver = c->labels[r],
                .handshakes = 0,
                .status = es_tok_dns_error,
                .error = error,
            };
            es_enum_row_format(&c->rows, c->format, &row);
            c->dns_errors++;
        }
    }
    if (c->rows.len >= ES_WRITER_BATCH_BYTES)
        flush(c);
}

static void resolve_all(struct enumcmd *c)
{
    if (!c->nhosts)
        return;
    char err[512];
    const struct es_config *cfg = c->cfg;
    struct es_loop *loop = es_loop_new();
    struct es_dns_opts o = {
        .timeout_ms = (unsigned)cfg->dns_timeout_ms,
        .retries = (unsigned)cfg->dns_retries,
        .family = family_bits(cfg->family),
    };
    struct es_dns *dns = es_dns_new(loop, c->resolvers, c->nresolvers, &o, err, sizeof err);
    if (!dns)
        es_die(ES_EXIT_RUNTIME, "%s", err);
    size_t next = 0;
    while ((next < c->nhosts || es_dns_pending(dns)) && !interrupted) {
        while (next < c->nhosts && es_dns_pending(dns) < 4 * ES_DNS_MAX_INFLIGHT)
            es_dns_resolve(dns, c->hosts[next++].host, on_dns, c);
        int rc = es_dns_run_once(dns, 100);
        if (rc < 0)
            es_die(ES_EXIT_RUNTIME, "DNS event loop: %s", strerror(-rc));
    }
    es_dns_free(dns);
    es_loop_free(loop);
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
    c.plan = es_plan_new(c.pool, c.labels, c.ecs, c.nresolvers);
    read_targets(&c);
    if (!cfg->dry_run && es_engine_check_uring(err, sizeof err) < 0)
        es_die(ES_EXIT_RUNTIME, "%s", err);
    c.format = es_format_from_name(cfg->output, cfg->format);
    c.out = strcmp(cfg->output, "-") ? fopen(cfg->output, "we") : stdout;
    if (!c.out)
        es_die(ES_EXIT_RUNTIME, "cannot write %s: %s", cfg->output, strerror(errno));
    es_enum_row_header(&c.rows, c.format);
    flush(&c);

    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    resolve_all(&c);
    size_t nedges;
    const struct es_edge *edges = es_plan_finish(c.plan, &nedges);
    int status = ES_EXIT_OK;
    uint64_t handshakes = 0, rounds = 0, shared = 0;
    if (interrupted) {
        status = ES_EXIT_INTERRUPTED;
    } else if (cfg->dry_run) {
        write_planned(&c, edges, nedges);
    } else if (nedges) {
        struct es_enum_item *items = es_xcalloc(nedges, sizeof *items);
        for (size_t i = 0; i < nedges; i++)
            items[i].edge = &edges[i];
        struct es_enum_run_opts o = {.cfg = cfg, .per_host = cfg->per_host, .quiet = cfg->quiet};
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
    es_plan_free(c.plan);
    for (size_t i = 0; i < c.nhosts; i++)
        free(c.hosts[i].ports);
    free(c.hosts);
    free(c.index);
    free(c.labels);
    free(c.ecs);
    free(c.resolvers);
    es_intern_free(c.pool);
    return status;
}
