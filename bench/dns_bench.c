/* dns_bench.c - names x resolvers resolved per second, and CPU per resolution.
 *
 * Starts `edgeshake lab` (its own process) with R resolvers on 127.20.250.x
 * answering N names (one IPv4 and one IPv6 address per resolver), then
 * resolves every name through every resolver with es_dns on one thread,
 * feeding names as results come back (at most W hosts pending), and prints:
 * resolutions (name x resolver pairs), queries, wall time, resolutions per
 * second, and this process's CPU (user + sys, from getrusage) per
 * resolution, hence resolutions per second per core. The lab's CPU is not
 * counted. Run by hand (bench/dns_bench.sh); never a test.
 *
 * usage: dns_bench EDGESHAKE [-n NAMES] [-r RESOLVERS] [-c MAX_INFLIGHT]
 *                  [-f 4|6|both] [-w WINDOW] [-k ROUNDS] */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edgeshake/dns.h"
#include "edgeshake/loop.h"
#include "edgeshake/resolver.h"
#include "edgeshake/util.h"

struct tally {
    uint64_t ok, failed;
};

static void on_result(void *arg, const char *host, size_t resolver, const struct es_ip *ips,
                      size_t n, const char *error, double dns_ms)
{
    (void)host, (void)resolver, (void)ips, (void)n, (void)dns_ms;
    struct tally *t = arg;
    if (error)
        t->failed++;
    else
        t->ok++;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static pid_t lab_start(const char *bin, const char *dir, unsigned names, unsigned nres)
{
    char path[512];
    snprintf(path, sizeof path, "%s/spec.lab", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        es_die(1, "%s: %s", path, strerror(errno));
    for (unsigned r = 0; r < nres; r++)
        fprintf(f, "resolver r%u 127.20.250.%u:5353\n", r, r + 1);
    for (unsigned i = 0; i < names; i++) {
        fprintf(f, "host b%u.bench.test", i);
        for (unsigned r = 0; r < nres; r++)
            fprintf(f, " r%u=127.20.%u.%u,2001:db8:%x::%x", r, 128 + (i / 250 + r) % 100,
                    i % 250 + 1, r, i + 1);
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        es_die(1, "%s: %s", path, strerror(errno));
    char ready[512], log[512];
    snprintf(ready, sizeof ready, "%s/ready", dir);
    snprintf(log, sizeof log, "%s/lab.log", dir);
    pid_t pid = fork();
    if (pid < 0)
        es_die(1, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, bin, "lab", path, "--state", dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 6000 && access(ready, F_OK) != 0; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            es_die(1, "the lab exited; see %s", log);
        usleep(10000);
    }
    if (access(ready, F_OK) != 0) {
        kill(pid, SIGKILL);
        es_die(1, "the lab is not ready after 60 s; see %s", log);
    }
    return pid;
}

static unsigned arg_uint(const char *flag, const char *v, unsigned max)
{
    uint64_t x;
    if (!v || !es_parse_u64(v, 1, max, &x))
        es_die(2, "%s: expected a number from 1 to %u", flag, max);
    return (unsigned)x;
}

int main(int argc, char **argv)
{
    es_progname = "dns_bench";
    if (argc < 2)
        es_die(2, "usage: dns_bench EDGESHAKE [-n NAMES] [-r RESOLVERS] [-c MAX_INFLIGHT] "
                  "[-f 4|6|both] [-w WINDOW] [-k ROUNDS]");
    const char *bin = argv[1];
    unsigned names = 20000, nres = 3, cap = ES_DNS_MAX_INFLIGHT, window = 20000, rounds = 3;
    unsigned family = ES_DNS_FAMILY_4;
    for (int i = 2; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "-n") == 0)
            names = arg_uint("-n", v, 10000000);
        else if (strcmp(argv[i], "-r") == 0)
            nres = arg_uint("-r", v, 200);
        else if (strcmp(argv[i], "-c") == 0)
            cap = arg_uint("-c", v, ES_DNS_INFLIGHT_LIMIT);
        else if (strcmp(argv[i], "-w") == 0)
            window = arg_uint("-w", v, 10000000);
        else if (strcmp(argv[i], "-k") == 0)
            rounds = arg_uint("-k", v, 1000);
        else if (strcmp(argv[i], "-f") == 0 && v)
            family = strcmp(v, "6") == 0      ? ES_DNS_FAMILY_6
                     : strcmp(v, "both") == 0 ? ES_DNS_FAMILY_BOTH
                                              : ES_DNS_FAMILY_4;
        else
            es_die(2, "unknown option '%s'", argv[i]);
    }

    char dir[] = "/tmp/edgeshake-dnsbench-XXXXXX";
    if (!mkdtemp(dir))
        es_die(1, "mkdtemp: %s", strerror(errno));
    pid_t lab = lab_start(bin, dir, names, nres);

    struct es_resolver_spec *r = es_xcalloc(nres, sizeof *r);
    for (unsigned i = 0; i < nres; i++) {
        char v[64], err[256];
        snprintf(v, sizeof v, "r%u=127.20.250.%u:5353", i, i + 1);
        if (!es_resolver_parse(v, &r[i], err, sizeof err))
            es_die(1, "%s", err);
    }
    printf("names %u, resolvers %u, family %s, max in flight %u per resolver, window %u hosts\n", names, nres,
           family == ES_DNS_FAMILY_4   ? "4"
           : family == ES_DNS_FAMILY_6 ? "6"
                                       : "both",
           cap, window);
    printf("%-6s %12s %10s %8s %9s %14s %12s %16s\n", "round", "resolutions", "queries", "retries",
           "wall_s", "resolutions/s", "cpu_us/res", "res/s/core(cpu)");
    int status = 0;
    for (unsigned k = 1; k <= rounds; k++) {
        struct es_loop *loop = es_loop_new();
        struct es_dns_opts o = {2000, 2, family, cap};
        char err[256];
        struct es_dns *dns = es_dns_new(loop, r, nres, &o, err, sizeof err);
        if (!dns)
            es_die(1, "%s", err);
        struct tally t = {0, 0};
        double c0 = cpu_s();
        uint64_t t0 = es_now_ns();
        char host[64];
        for (unsigned i = 0; i < names;) {
            while (i < names && es_dns_pending(dns) < window) {
                snprintf(host, sizeof host, "b%u.bench.test", i++);
                es_dns_resolve(dns, host, on_result, &t);
            }
            if (es_dns_run_once(dns, 1000) < 0)
                es_die(1, "loop error");
        }
        es_dns_run(dns, NULL);
        double wall = (double)(es_now_ns() - t0) / 1e9, cpu = cpu_s() - c0;
        struct es_dns_stats st;
        es_dns_stats(dns, &st);
        uint64_t res = t.ok + t.failed;
        printf("%-6u %12llu %10llu %8llu %9.3f %14.0f %12.2f %16.0f\n", k, (unsigned long long)res,
               (unsigned long long)st.queries, (unsigned long long)st.retries, wall,
               (double)res / wall, cpu * 1e6 / (double)res, (double)res / cpu);
        if (t.failed) {
            printf("       %llu failed (%llu timeouts, %llu retries)\n",
                   (unsigned long long)t.failed, (unsigned long long)st.timeouts,
                   (unsigned long long)st.retries);
            status = 1;
        }
        es_dns_free(dns);
        es_loop_free(loop);
    }
    free(r);
    kill(lab, SIGTERM);
    waitpid(lab, NULL, 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        es_warn("could not remove %s", dir);
    return status;
}
