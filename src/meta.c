/* meta.c - see include/edgeshake/meta.h */
#include "edgeshake/meta.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgeshake/net.h"
#include "edgeshake/util.h"
#include "edgeshake/writer.h"

#ifndef ES_VERSION
#define ES_VERSION "0.0.0"
#endif

char *es_meta_path(const char *output)
{
    if (!output || !strcmp(output, "-"))
        return NULL;
    struct es_sb b = {0};
    es_sb_printf(&b, "%s.meta.json", output);
    return es_sb_take(&b);
}

/* ---- writing ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t k;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

/* A JSON string: "..." with JSON's escapes, invalid UTF-8 as U+FFFD. */
static void json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else {
            size_t k = utf8_len(p + i, n - i);
            if (k == 0) {
                fputs("\\ufffd", f);
                i++;
            } else {
                fwrite(p + i, 1, k, f);
                i += k;
            }
        }
    }
    fputc('"', f);
}

static void json_time(FILE *f, uint64_t ms)
{
    char t[ES_TIME_LEN + 1];
    size_t n = es_format_time(t, ms);
    t[n] = '\0';
    json_str(f, t);
}

/* The servers c-ares reads from /etc/resolv.conf (what the `system`
 * resolver queries), as a JSON array of "ADDR:PORT". */
static void system_servers(FILE *f)
{
    fputc('[', f);
    ares_channel ch;
    struct ares_addr_port_node *list = NULL;
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
        fputc(']', f);
        return;
    }
    if (ares_init_options(&ch, NULL, 0) == ARES_SUCCESS) {
        if (ares_get_servers_ports(ch, &list) == ARES_SUCCESS) {
            bool first = true;
            for (struct ares_addr_port_node *s = list; s; s = s->next) {
                struct es_endpoint ep = {0};
                char text[ES_ENDPOINT_TEXT];
                ep.ip.family = s->family;
                if (s->family == AF_INET)
                    memcpy(&ep.ip.v4, &s->addr.addr4, sizeof ep.ip.v4);
                else if (s->family == AF_INET6)
                    memcpy(&ep.ip.v6, &s->addr.addr6, sizeof ep.ip.v6);
                else
                    continue;
                ep.port = (uint16_t)(s->udp_port ? s->udp_port : ES_RESOLVER_PORT);
                fputs(first ? "" : ",", f);
                json_str(f, es_endpoint_str(&ep, text, sizeof text));
                first = false;
            }
            ares_free_data(list);
        }
        ares_destroy(ch);
    }
    ares_library_cleanup();
    fputc(']', f);
}

static void resolvers(FILE *f, const struct es_meta_run *m)
{
    fputs(",\"resolvers\":{", f);
    for (size_t i = 0; i < m->nresolvers; i++) {
        const struct es_resolver_spec *r = &m->resolvers[i];
        fputs(i ? "," : "", f);
        json_str(f, r->label);
        fputc(':', f);
        if (r->system) {
            system_servers(f);
        } else {
            char text[ES_ENDPOINT_TEXT];
            fputc('[', f);
            json_str(f, es_endpoint_str(&r->addr, text, sizeof text));
            fputc(']', f);
        }
    }
    fputs("},\"ecs\":{", f);
    bool first = true;
    for (size_t i = 0; i < m->nresolvers; i++) {
        const struct es_resolver_spec *r = &m->resolvers[i];
        if (!r->has_ecs)
            continue;
        fputs(first ? "" : ",", f);
        json_str(f, r->label);
        fputc(':', f);
        json_str(f, r->ecs_text);
        first = false;
    }
    fputc('}', f);
}

bool es_meta_print(FILE *f, const struct es_meta_run *m)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    fputs("{\"edgeshake\":", f);
    json_str(f, ES_VERSION);
    fputs(",\"openssl\":", f);
    json_str(f, OpenSSL_version(OPENSSL_VERSION));
    fputs(",\"command\":[", f);
    for (int i = 0; i < m->argc; i++) {
        fputs(i ? "," : "", f);
        json_str(f, m->argv[i]);
    }
    fputs("],\"start\":", f);
    json_time(f, m->start_ms);
    fputs(",\"end\":", f);
    json_time(f, m->end_ms);
    uint64_t ms = m->end_ms > m->start_ms ? m->end_ms - m->start_ms : 0;
    fprintf(f, ",\"seconds\":%llu.%03u", (unsigned long long)(ms / 1000), (unsigned)(ms % 1000));
    fputs(",\"host\":", f);
    json_str(f, host);
    fputs(",\"vantage\":", f);
    json_str(f, m->vantage);
    fputs(",\"output\":", f);
    json_str(f, m->output);
    fputs(",\"format\":", f);
    json_str(f, m->format);
    fprintf(f, ",\"compression\":\"%s\",\"shard\":\"%u/%u\"", m->zstd ? "zstd" : "none", m->shard_i,
            m->shard_n);
    resolvers(f, m);
    fprintf(f,
            ",\"dry_run\":%s,\"planned\":%llu,\"dns_error_rows\":%llu,\"rows\":%llu,"
            "\"did_not_run\":%llu,\"interrupted\":%s,\"exit_status\":%d}\n",
            m->dry_run ? "true" : "false", (unsigned long long)m->planned,
            (unsigned long long)m->dns_error_rows, (unsigned long long)m->rows,
            (unsigned long long)m->did_not_run, m->interrupted ? "true" : "false", m->exit_status);
    return !ferror(f);
}

int es_meta_write(const char *path, const struct es_meta_run *m, char *err, size_t errlen)
{
    struct es_sb tmp = {0};
    es_sb_printf(&tmp, "%s.tmp", path);
    char *tpath = es_sb_take(&tmp);
    int rc = 0;
    FILE *f = fopen(tpath, "we");
    if (!f) {
        rc = -errno;
        goto out;
    }
    bool ok = es_meta_print(f, m);
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        rc = -(e ? e : EIO);
        unlink(tpath);
        goto out;
    }
    if (rename(tpath, path) != 0) {
        rc = -errno;
        unlink(tpath);
    }
out:
    if (rc && errlen)
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
    free(tpath);
    return rc;
}

/* ---- reading ----------------------------------------------------------- */

/* A cursor over the JSON text; only what a meta file holds is understood:
 * one object whose values are strings, numbers, true/false/null, or arrays
 * and objects of those (skipped). */
struct jcur {
    const char *p, *end;
};

static void ws(struct jcur *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses a string at j->p (which is '"'); *out gets it malloc'd (NULL to
 * skip). \uXXXX outside ASCII becomes '?': report only shows these fields. */
static bool jstring(struct jcur *j, char **out)
{
    struct es_sb b = {0};
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if ((unsigned char)c < 0x20)
            goto bad;
        if (c != '\\') {
            es_sb_addn(&b, &c, 1);
            continue;
        }
        if (j->p >= j->end)
            goto bad;
        c = *j->p++;
        switch (c) {
        case '"':
        case '\\':
        case '/': break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            if (j->end - j->p < 4)
                goto bad;
            int v = 0;
            for (int i = 0; i < 4; i++) {
                int h = hexval(j->p[i]);
                if (h < 0)
                    goto bad;
                v = v << 4 | h;
            }
            j->p += 4;
            c = v >= 0x20 && v < 0x7f ? (char)v : '?';
            break;
        }
        default: goto bad;
        }
        es_sb_addn(&b, &c, 1);
    }
    if (j->p >= j->end)
        goto bad;
    j->p++;
    if (out)
        *out = es_sb_take(&b);
    else
        es_sb_free(&b);
    return true;
bad:
    es_sb_free(&b);
    return false;
}

/* Skips one value of any kind. depth bounds nesting. */
static bool skip_value(struct jcur *j, int depth)
{
    ws(j);
    if (j->p >= j->end || depth > 16)
        return false;
    char c = *j->p;
    if (c == '"')
        return jstring(j, NULL);
    if (c == '[' || c == '{') {
        char close = c == '[' ? ']' : '}';
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return true;
        }
        for (;;) {
            if (c == '{') {
                ws(j);
                if (j->p >= j->end || *j->p != '"' || !jstring(j, NULL))
                    return false;
                ws(j);
                if (j->p >= j->end || *j->p++ != ':')
                    return false;
            }
            if (!skip_value(j, depth + 1))
                return false;
            ws(j);
            if (j->p >= j->end)
                return false;
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p++ != close)
                return false;
            return true;
        }
    }
    const char *s = j->p;
    while (j->p < j->end && (strchr("+-.eE", *j->p) || (*j->p >= '0' && *j->p <= '9') ||
                             (*j->p >= 'a' && *j->p <= 'z')))
        j->p++;
    return j->p > s;
}

/* A scalar token (number, true, false, null) at j->p, copied into buf. */
static bool scalar(struct jcur *j, char *buf, size_t len)
{
    const char *s = j->p;
    if (!skip_value(j, 0) || *s == '"' || *s == '[' || *s == '{')
        return false;
    size_t n = (size_t)(j->p - s);
    if (n >= len)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

static int64_t to_i64(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || end == s || *end || v < 0 ? -1 : (int64_t)v;
}

static bool parse_meta(const char *text, size_t n, struct es_meta_info *m, const char **what)
{
    struct jcur j = {text, text + n};
    ws(&j);
    *what = "expected a JSON object";
    if (j.p >= j.end || *j.p++ != '{')
        return false;
    ws(&j);
    if (j.p < j.end && *j.p == '}')
        return true;
    for (;;) {
        char *key = NULL;
        ws(&j);
        *what = "expected a key";
        if (j.p >= j.end || *j.p != '"' || !jstring(&j, &key))
            return false;
        ws(&j);
        if (j.p >= j.end || *j.p++ != ':') {
            free(key);
            return false;
        }
        ws(&j);
        *what = "bad value";
        char **str = !strcmp(key, "edgeshake") ? &m->version
                     : !strcmp(key, "start")   ? &m->start
                     : !strcmp(key, "end")     ? &m->end
                     : !strcmp(key, "vantage") ? &m->vantage
                     : !strcmp(key, "shard")   ? &m->shard
                                               : NULL;
        int64_t *num = !strcmp(key, "rows")          ? &m->rows
                       : !strcmp(key, "planned")     ? &m->planned
                       : !strcmp(key, "did_not_run") ? &m->did_not_run
                                                     : NULL;
        bool is_bool = !strcmp(key, "interrupted"), is_secs = !strcmp(key, "seconds"),
             is_status = !strcmp(key, "exit_status");
        free(key);
        char buf[32];
        if (str && j.p < j.end && *j.p == '"') {
            free(*str);
            *str = NULL;
            if (!jstring(&j, str))
                return false;
        } else if (num && j.p < j.end && *j.p != '"') {
            if (!scalar(&j, buf, sizeof buf))
                return false;
            *num = to_i64(buf);
        } else if (is_bool && j.p < j.end && *j.p != '"') {
            if (!scalar(&j, buf, sizeof buf))
                return false;
            m->interrupted = !strcmp(buf, "true") ? 1 : !strcmp(buf, "false") ? 0 : -1;
        } else if ((is_secs || is_status) && j.p < j.end && *j.p != '"') {
            if (!scalar(&j, buf, sizeof buf))
                return false;
            char *end;
            double v = strtod(buf, &end);
            if (*end || !(v >= 0 && v < 1e12))
                v = -1;
            if (is_secs)
                m->seconds = v;
            else
                m->exit_status = v >= 0 && v <= 255 && v == (int)v ? (int)v : -1;
        } else if (!skip_value(&j, 0)) {
            return false;
        }
        ws(&j);
        *what = "expected ',' or '}'";
        if (j.p >= j.end)
            return false;
        if (*j.p == ',') {
            j.p++;
            continue;
        }
        if (*j.p++ != '}')
            return false;
        ws(&j);
        *what = "text after the object";
        return j.p == j.end;
    }
}

void es_meta_info_free(struct es_meta_info *m)
{
    free(m->version);
    free(m->start);
    free(m->end);
    free(m->vantage);
    free(m->shard);
    memset(m, 0, sizeof *m);
}

int es_meta_read(const char *path, struct es_meta_info *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->rows = out->planned = out->did_not_run = -1;
    out->interrupted = out->exit_status = -1;
    out->seconds = -1;
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    enum { MAX = 1 << 20 }; /* a meta file is a few KB; the command line bounds it */
    char *text = es_xmalloc(MAX);
    size_t n = fread(text, 1, MAX, f);
    bool bad_read = ferror(f);
    fclose(f);
    const char *what = NULL;
    int rc = 1;
    if (bad_read) {
        snprintf(err, errlen, "%s: cannot read: I/O error", path);
        rc = -1;
    } else if (n == MAX) {
        snprintf(err, errlen, "%s: larger than 1 MiB; not a meta file", path);
        rc = -1;
    } else if (!parse_meta(text, n, out, &what)) {
        snprintf(err, errlen, "%s: not a meta file: %s", path, what);
        rc = -1;
    }
    free(text);
    return rc;
}

/* ---- the runs, for report ---------------------------------------------- */

/* The part of a path after its last '/'. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* One run's line: "  NAME: vantage V, shard I/N, START + S s, R rows, state". */
static void run_line(struct es_sb *b, const char *file, const struct es_meta_info *m, bool version)
{
    es_sb_printf(b, "  %s:", base_name(file));
    if (version)
        es_sb_printf(b, " edgeshake %s,", m->version ? m->version : "?");
    es_sb_printf(b, " vantage %s", m->vantage ? m->vantage : "?");
    if (m->shard && strcmp(m->shard, "0/1"))
        es_sb_printf(b, ", shard %s", m->shard);
    es_sb_printf(b, ", %s", m->start ? m->start : "?");
    if (m->seconds >= 0)
        es_sb_printf(b, " + %.1f s", m->seconds);
    if (m->rows >= 0)
        es_sb_printf(b, ", %lld rows", (long long)m->rows);
    if (m->interrupted == 1)
        es_sb_printf(b, ", interrupted (%lld probes did not run)", (long long)m->did_not_run);
    else if (m->did_not_run > 0)
        es_sb_printf(b, ", incomplete (%lld probes did not run)", (long long)m->did_not_run);
    else if (m->exit_status > 0)
        es_sb_printf(b, ", failed (exit status %d)", m->exit_status);
    else if (m->interrupted == 0)
        es_sb_add(b, ", complete");
    es_sb_add(b, "\n");
}

static bool run_complete(const struct es_meta_info *m)
{
    return m->interrupted == 0 && m->did_not_run <= 0 && m->exit_status <= 0;
}

size_t es_meta_print_runs(FILE *f, const char *const *files, size_t nfiles)
{
    enum { LIST_ALL = 8 }; /* more runs than this: list only the incomplete ones */
    struct es_meta_info *m = es_xcalloc(nfiles ? nfiles : 1, sizeof *m);
    int *rc = es_xcalloc(nfiles ? nfiles : 1, sizeof *rc);
    struct es_sb errs = {0}, lines = {0};
    const char *first = NULL, *last = NULL, *version = NULL;
    bool versions_differ = false;
    size_t nmeta = 0, ncomplete = 0;
    for (size_t i = 0; i < nfiles; i++) {
        char *path = es_meta_path(files[i]);
        char err[512];
        rc[i] = path ? es_meta_read(path, &m[i], err, sizeof err) : 0;
        free(path);
        if (rc[i] < 0)
            es_sb_printf(&errs, "  %s\n", err);
        if (rc[i] != 1)
            continue;
        nmeta++;
        ncomplete += run_complete(&m[i]);
        /* RFC 3339 UTC times of one format sort as strings. */
        if (m[i].start && (!first || strcmp(m[i].start, first) < 0))
            first = m[i].start;
        if (m[i].end && (!last || strcmp(m[i].end, last) > 0))
            last = m[i].end;
        if (m[i].version && version && strcmp(m[i].version, version))
            versions_differ = true;
        if (m[i].version && !version)
            version = m[i].version;
    }
    bool all = nmeta <= LIST_ALL;
    for (size_t i = 0; i < nfiles; i++)
        if (rc[i] == 1 && (all || !run_complete(&m[i])))
            run_line(&lines, files[i], &m[i], versions_differ);
    if (nmeta || errs.len) {
        fprintf(f, "runs: %zu of %zu file%s with FILE.meta.json", nmeta, nfiles,
                nfiles == 1 ? "" : "s");
        if (version && !versions_differ)
            fprintf(f, ", edgeshake %s", version);
        fputc('\n', f);
        if (first && last)
            fprintf(f, "  from %s to %s\n", first, last);
        if (lines.len)
            fputs(lines.s, f);
        if (!all)
            fprintf(f, "  %zu complete runs not listed\n", ncomplete);
        if (errs.len)
            fputs(errs.s, f);
    }
    for (size_t i = 0; i < nfiles; i++)
        es_meta_info_free(&m[i]);
    free(m);
    free(rc);
    es_sb_free(&errs);
    es_sb_free(&lines);
    return nmeta;
}
