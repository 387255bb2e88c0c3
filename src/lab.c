/* lab.c - `edgeshake lab SPEC [--state DIR]`: parse the spec, make the
 * certificates, start every DNS resolver and TLS edge on one epoll loop,
 * write the state dir (ready last), run until SIGINT/SIGTERM. */
#include "edgeshake/lab.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgeshake/labcert.h"
#include "edgeshake/labdns.h"
#include "edgeshake/labedge.h"
#include "edgeshake/labspec.h"
#include "edgeshake/loop.h"
#include "edgeshake/net.h"
#include "edgeshake/util.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(struct es_loop *loop, struct es_watch *w, uint32_t events)
{
    (void)loop;
    (void)events;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof si) == (ssize_t)sizeof si)
        stop_flag = 1;
}

/* Writes text to DIR/NAME through a temporary file and rename, so a reader
 * never sees half a file. Returns 0 or -errno. */
static int write_state_file(const char *dir, const char *name, const char *text)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    fputs(text, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -errno;
    return 0;
}

static bool host_has_ip(const struct es_lab_host *h, const struct es_ip *ip)
{
    for (size_t a = 0; a < h->nanswers; a++)
        for (size_t i = 0; i < h->answers[a].nips; i++)
            if (es_ip_equal(&h->answers[a].ips[i], ip))
                return true;
    return false;
}

/* The most common edge port: scan.args passes it as -p. */
static uint16_t common_port(const struct es_labspec *spec)
{
    uint16_t best = 443;
    size_t best_n = 0;
    for (size_t i = 0; i < spec->nedges; i++) {
        size_t n = 0;
        for (size_t j = 0; j < spec->nedges; j++)
            n += spec->edges[j].addr.port == spec->edges[i].addr.port;
        if (n > best_n) {
            best_n = n;
            best = spec->edges[i].addr.port;
        }
    }
    return best;
}

/* A scan command line for the spec: every resolver as -r, the CA, the common
 * port, and every host (HOST:PORT for hosts whose edges use other ports). */
static char *scan_args(const struct es_labspec *spec, const char *state_dir)
{
    struct es_sb b = {0};
    bool v6 = false;
    for (size_t i = 0; i < spec->nresolvers; i++) {
        char ep[ES_ENDPOINT_TEXT];
        es_sb_printf(&b, "-r %s=%s ", spec->resolvers[i].label,
                     es_endpoint_str(&spec->resolvers[i].addr, ep, sizeof ep));
    }
    uint16_t port = common_port(spec);
    es_sb_printf(&b, "--ca-file %s/ca.crt -p %u", state_dir, port);
    for (size_t h = 0; h < spec->nhosts; h++) {
        const struct es_lab_host *host = &spec->hosts[h];
        bool listed = false;
        if (host->name[0] == '*')
            continue; /* a wildcard is not a name to scan */
        for (size_t a = 0; a < host->nanswers; a++)
            for (size_t i = 0; i < host->answers[a].nips; i++)
                v6 |= host->answers[a].ips[i].family == AF_INET6;
        /* One target per distinct port among the edges this host resolves to. */
        for (size_t e = 0; e < spec->nedges; e++) {
            const struct es_lab_edge *edge = &spec->edges[e];
            if (!host_has_ip(host, &edge->addr.ip))
                continue;
            bool seen = false;
            for (size_t p = 0; p < e; p++)
                seen |= spec->edges[p].addr.port == edge->addr.port &&
                        host_has_ip(host, &spec->edges[p].addr.ip);
            if (seen)
                continue;
            if (edge->addr.port == port)
                es_sb_printf(&b, " %s", host->name);
            else
                es_sb_printf(&b, " %s:%u", host->name, edge->addr.port);
            listed = true;
        }
        if (!listed)
            es_sb_printf(&b, " %s", host->name);
    }
    if (v6)
        es_sb_add(&b, " --family both");
    es_sb_add(&b, "\n");
    return es_sb_take(&b);
}

static int write_state(const struct es_labspec *spec, struct es_labcerts *certs, const char *dir)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        es_warn("cannot create state dir %s: %s", dir, strerror(errno));
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/ready", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    int rc = es_labcerts_write_ca(certs, path);
    if (rc < 0) {
        es_warn("cannot write %s: %s", path, strerror(-rc));
        return -1;
    }
    char *args = scan_args(spec, dir);
    rc = write_state_file(dir, "scan.args", args);
    free(args);
    if (rc < 0) {
        es_warn("cannot write %s/scan.args: %s", dir, strerror(-rc));
        return -1;
    }
    return 0;
}

int es_lab_main(const struct es_config *cfg)
{
    char err[1024];
    const char *spec_path = cfg->args.v[0];
    const char *dir = cfg->state_dir;
    int status = ES_EXIT_RUNTIME;
    struct es_labspec *spec = es_labspec_parse_file(spec_path, err, sizeof err);
    if (!spec) {
        es_warn("%s", err);
        return ES_EXIT_USAGE;
    }

    /* Signals arrive through a signalfd on the loop: no async handler races. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    struct es_watch sigw = {.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC), .fn = on_signal};

    struct es_loop *loop = es_loop_new();
    struct es_labcerts *certs = es_labcerts_new();
    struct es_lab_dns *dns = NULL;
    struct es_lab_edges *edges = NULL;
    if (sigw.fd < 0 || es_loop_add(loop, &sigw, EPOLLIN) < 0) {
        es_warn("signalfd: %s", strerror(errno));
        goto out;
    }
    dns = es_lab_dns_start(loop, spec, err, sizeof err);
    if (!dns) {
        es_warn("%s", err);
        goto out;
    }
    edges = es_lab_edges_start(loop, spec, certs, err, sizeof err);
    if (!edges) {
        es_warn("%s", err);
        goto out;
    }
    if (dir && write_state(spec, certs, dir) < 0)
        goto out;
    /* Every listener is bound: only now say so. */
    if (dir && write_state_file(dir, "ready", "") < 0) {
        es_warn("cannot write %s/ready: %s", dir, strerror(errno));
        goto out;
    }
    es_warn("%zu edges and %zu resolvers up from %s%s%s; SIGINT or SIGTERM stops", spec->nedges,
            spec->nresolvers, spec_path, dir ? ", state in " : "", dir ? dir : "");
    int rc = es_loop_run(loop, &stop_flag);
    if (rc < 0) {
        es_warn("event loop: %s", strerror(-rc));
        goto out;
    }
    status = ES_EXIT_OK;
out:
    if (dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/ready", dir);
        unlink(path);
    }
    es_lab_edges_free(edges);
    es_lab_dns_free(dns);
    if (sigw.fd >= 0)
        close(sigw.fd);
    es_loop_free(loop);
    es_labcerts_free(certs);
    es_labspec_free(spec);
    return status;
}

void es_lab_failure_reason(const char *log_path, char *out, size_t len)
{
    char buf[8192];
    if (!len)
        return;
    out[0] = '\0';
    FILE *f = fopen(log_path, "r");
    if (!f)
        return;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > (long)sizeof buf - 1)
            fseek(f, size - (long)(sizeof buf - 1), SEEK_SET);
        else
            rewind(f);
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    const char *nl = strrchr(buf, '\n');
    const char *line = nl ? nl + 1 : buf;
    static const char prefix[] = "edgeshake lab: ";
    if (!strncmp(line, prefix, sizeof prefix - 1))
        line += sizeof prefix - 1;
    snprintf(out, len, "%s", line);
}
