/* fuzz_target.c - the target parser (target.h): one target, a targets file
 * through the streaming reader, and an --edges file.
 *
 * Invariants: a parsed target prints back to a text that parses to the same
 * target; a name accepted by es_host_name_check is its own canonical form; a
 * one-line input means the same thing to es_target_parse and to the reader;
 * the reader returns each target once and never more than one per line. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "edgeshake/target.h"
#include "fuzzlib.h"

int es_fuzz_target(const uint8_t *data, size_t len);

static bool same_target(const struct es_target *a, const struct es_target *b)
{
    return strcmp(a->host, b->host) == 0 && a->host_is_ip == b->host_is_ip && a->port == b->port &&
           a->has_ip == b->has_ip &&
           (!a->has_ip || (a->ip.family == b->ip.family &&
                           memcmp(a->ip.bytes, b->ip.bytes, sizeof a->ip.bytes) == 0));
}

/* Writes t back as target text: HOST:PORT, IP:PORT, [IPv6]:PORT or HOST:PORT@IP. */
static void print_target(const struct es_target *t, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN + 2] = "";
    if (t->has_ip) {
        char raw[INET6_ADDRSTRLEN];
        FZ_CHECK(inet_ntop(t->ip.family, t->ip.bytes, raw, sizeof raw) != NULL);
        snprintf(ip, sizeof ip, t->ip.family == AF_INET6 ? "[%s]" : "%s", raw);
    }
    if (t->host_is_ip)
        snprintf(buf, len, "%s:%u", ip, t->port);
    else if (t->has_ip)
        snprintf(buf, len, "%s:%u@%s", t->host, t->port, ip);
    else
        snprintf(buf, len, "%s:%u", t->host, t->port);
}

static void check_target(const struct es_target *t)
{
    size_t n = strnlen(t->host, sizeof t->host);
    FZ_CHECK(n > 0 && n < sizeof t->host);
    FZ_CHECK(t->port != 0);
    FZ_CHECK(!t->host_is_ip || t->has_ip);
    if (t->has_ip)
        FZ_CHECK(t->ip.family == AF_INET || t->ip.family == AF_INET6);
    if (!t->host_is_ip) {
        char canon[ES_HOST_MAX + 1], err[256];
        FZ_CHECK(es_host_name_check(t->host, n, canon, err, sizeof err));
        FZ_CHECK(strcmp(canon, t->host) == 0);
    }
    char text[ES_HOST_MAX + 64];
    print_target(t, text, sizeof text);
    struct es_target again;
    char err[512];
    FZ_CHECK(es_target_parse(text, strlen(text), 1, &again, err, sizeof err));
    FZ_CHECK(same_target(t, &again));
}

int es_fuzz_target(const uint8_t *data, size_t len)
{
    const char *text = (const char *)data;
    char err[1024];

    struct es_target one;
    bool parsed = es_target_parse(text, len, 443, &one, err, sizeof err);
    if (parsed)
        check_target(&one);
    else
        FZ_CHECK(err[0] != '\0' && memchr(err, '\n', strlen(err)) == NULL);

    char canon[ES_HOST_MAX + 1];
    if (es_host_name_check(text, len, canon, err, sizeof err)) {
        char again[ES_HOST_MAX + 1];
        FZ_CHECK(es_host_name_check(canon, strlen(canon), again, err, sizeof err));
        FZ_CHECK(strcmp(canon, again) == 0);
    }

    /* The same bytes as a targets file. */
    struct es_target_reader *r =
        es_target_reader_new(NULL, 0, fz_file(data, len), 443, err, sizeof err);
    FZ_CHECK(r != NULL);
    size_t lines = fz_lines(data, len), ntargets = 0, nerrors = 0;
    struct es_target t, first = {0};
    for (;;) {
        enum es_target_next res = es_target_reader_next(r, &t, err, sizeof err);
        if (res == ES_TARGET_END)
            break;
        if (res == ES_TARGET_OK) {
            check_target(&t);
            if (ntargets == 0)
                first = t;
            ntargets++;
        } else {
            FZ_CHECK(res == ES_TARGET_ERROR);
            FZ_CHECK(strncmp(err, "/proc/self/fd/", 14) == 0);
            nerrors++;
        }
        FZ_CHECK(ntargets + nerrors <= lines);
    }
    struct es_target_stats st;
    es_target_reader_stats(r, &st);
    FZ_CHECK(st.targets == ntargets && st.lines == lines);
    es_target_reader_free(r);

    /* A one-line file without comments, CR, NUL or byte order mark means what
     * the line means. */
    if (len > 0 && !memchr(data, '\n', len) && !memchr(data, '\r', len) &&
        !memchr(data, '#', len) && !memchr(data, '\0', len) && len <= ES_TARGET_LINE_MAX &&
        !(len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)) {
        if (parsed)
            FZ_CHECK(ntargets == 1 && nerrors == 0 && same_target(&one, &first));
        else
            FZ_CHECK(ntargets == 0);
    }

    /* And as an --edges file: every address of every block comes out once,
     * in order (bounded walk). */
    struct es_edges *edges = NULL;
    if (es_edges_load(fz_file(data, len), &edges, err, sizeof err)) {
        struct es_edges_iter it;
        es_edges_iter_init(&it, edges);
        struct es_ip ip, prev = {0};
        uint64_t n = 0, count = es_edges_count(edges);
        while (n < 4096 && es_edges_iter_next(&it, &ip)) {
            FZ_CHECK(ip.family == AF_INET || ip.family == AF_INET6);
            if (n > 0 && ip.family == prev.family)
                FZ_CHECK(memcmp(prev.bytes, ip.bytes, 16) < 0);
            if (n > 0)
                FZ_CHECK(!(prev.family == AF_INET6 && ip.family == AF_INET));
            prev = ip;
            n++;
        }
        FZ_CHECK(n == (count < 4096 ? count : 4096));
        es_edges_free(edges);
    } else {
        FZ_CHECK(edges == NULL && err[0] != '\0');
    }
    return ntargets > 0 && nerrors == 0;
}

#ifndef ES_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    es_fuzz_target(data, len);
    return 0;
}
#endif
