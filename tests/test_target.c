/* test_target.c - target forms, bad lines with their exact messages, the
 * streaming deduplicating reader, and --edges files with lazy CIDRs. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgeshake/net.h"
#include "edgeshake/target.h"
#include "testlib.h"

/* Writes len bytes (NULs allowed) to DIR/NAME; returns the malloc'd path. */
static char *write_bytes(const char *dir, const char *name, const char *data, size_t len)
{
    char *path;
    ck_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert(fclose(f) == 0);
    return path;
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- every target form ---- */

struct good_case {
    const char *text;
    uint16_t default_port;
    const char *host;
    bool host_is_ip;
    uint16_t port;
    const char *ip; /* NULL = no IP */
};

static const struct good_case good_cases[] = {
    {"example.com", 443, "example.com", false, 443, NULL},
    {"Example.COM.", 443, "example.com", false, 443, NULL},
    {"example.com:8443", 443, "example.com", false, 8443, NULL},
    {"shop.example.test:1", 443, "shop.example.test", false, 1, NULL},
    {"shop.example.test:65535", 443, "shop.example.test", false, 65535, NULL},
    {"example.com", 8080, "example.com", false, 8080, NULL},
    {"localhost", 443, "localhost", false, 443, NULL},
    {"_dmarc.a-b.example", 443, "_dmarc.a-b.example", false, 443, NULL},
    {"xn--bcher-kva.example", 443, "xn--bcher-kva.example", false, 443, NULL},
    {"  \texample.com \r\n", 443, "example.com", false, 443, NULL},
    {"a1.1example", 443, "a1.1example", false, 443, NULL},
    {"192.0.2.1", 443, "192.0.2.1", true, 443, "192.0.2.1"},
    {"192.0.2.1:8443", 443, "192.0.2.1", true, 8443, "192.0.2.1"},
    {"[2001:db8::1]", 443, "2001:db8::1", true, 443, "2001:db8::1"},
    {"[2001:DB8:0:0::1]:8443", 443, "2001:db8::1", true, 8443, "2001:db8::1"},
    {"2001:db8::1", 8080, "2001:db8::1", true, 8080, "2001:db8::1"},
    {"::1", 443, "::1", true, 443, "::1"},
    {"::ffff:192.0.2.1", 443, "::ffff:192.0.2.1", true, 443, "::ffff:192.0.2.1"},
    {"shop.example@192.0.2.7", 443, "shop.example", false, 443, "192.0.2.7"},
    {"Shop.Example.:8443@192.0.2.7", 443, "shop.example", false, 8443, "192.0.2.7"},
    {"shop.example@[2001:db8::7]", 443, "shop.example", false, 443, "2001:db8::7"},
    {"shop.example:444@2001:DB8::7", 443, "shop.example", false, 444, "2001:db8::7"},
};

START_TEST(test_good)
{
    const struct good_case *c = &good_cases[_i];
    struct es_target t;
    char err[256] = "";
    ck_assert_msg(es_target_parse(c->text, strlen(c->text), c->default_port, &t, err, sizeof err),
                  "'%s': %s", c->text, err);
    ck_assert_str_eq(t.host, c->host);
    ck_assert_int_eq(t.host_is_ip, c->host_is_ip);
    ck_assert_uint_eq(t.port, c->port);
    ck_assert_int_eq(t.has_ip, c->ip != NULL);
    if (c->ip) {
        struct es_ip want;
        char buf[ES_IP_TEXT];
        ck_assert(es_ip_parse(c->ip, &want));
        ck_assert_msg(es_ip_equal(&t.ip, &want), "'%s': ip %s", c->text,
                      es_ip_str(&t.ip, buf, sizeof buf));
    }
}
END_TEST

START_TEST(test_name_limits)
{
    /* 63-byte labels and 253-byte names are fine; one more byte is not. */
    char name[300], err[256] = "";
    struct es_target t;
    char *l63 = repeat('a', 63);
    snprintf(name, sizeof name, "%s.example", l63);
    ck_assert_msg(es_target_parse(name, strlen(name), 443, &t, err, sizeof err), "%s", err);
    ck_assert_str_eq(t.host, name);
    /* 3 x 63 + 3 dots + 61 = 253 */
    char *l61 = repeat('b', 61);
    snprintf(name, sizeof name, "%s.%s.%s.%s", l63, l63, l63, l61);
    ck_assert_uint_eq(strlen(name), 253);
    ck_assert_msg(es_target_parse(name, strlen(name), 443, &t, err, sizeof err), "%s", err);
    ck_assert_uint_eq(strlen(t.host), 253);
    /* With a trailing dot it is still 253. */
    strcat(name, ".");
    ck_assert_msg(es_target_parse(name, strlen(name), 443, &t, err, sizeof err), "%s", err);
    ck_assert_uint_eq(strlen(t.host), 253);
    free(l63);
    free(l61);
}
END_TEST

/* ---- bad lines: "FILE:LINE: what is wrong" ---- */

struct bad_case {
    const char *line; /* written as line 3 of a file, after two good lines */
    const char *msg;
};

#define BADPORT(p) "bad port '" p "'; expected a number from 1 to 65535"

static const struct bad_case bad_cases[] = {
    {"example.com:0", BADPORT("0")},
    {"example.com:65536", BADPORT("65536")},
    {"example.com:99999999999999999999999", BADPORT("99999999999999999999999")},
    {"example.com:https", BADPORT("https")},
    {"example.com:-1", BADPORT("-1")},
    {"example.com:+443", BADPORT("+443")},
    {"example.com:443:80", BADPORT("443:80")},
    {"example.com:", "missing port after ':'"},
    {"[::1]:99999", BADPORT("99999")},
    {"[::1]:", "missing port after ':'"},
    {"shop.example:0@192.0.2.1", BADPORT("0")},
    {":443", "empty host name"},
    {".", "empty host name"},
    {"@192.0.2.1", "empty host name"},
    {"exa mple.com", "whitespace inside a target; one target per line"},
    {"exa!mple.com", "bad character '!' in host name"},
    {"host\x01.example", "bad character '\\x01' in host name"},
    {"bücher.example", "non-ASCII host name; use its punycode (xn--) form"},
    {"bücher.example:443", "non-ASCII host name; use its punycode (xn--) form"},
    {"a..example", "empty label in host name"},
    {".example", "empty label in host name"},
    {"example..", "empty label in host name"},
    {"999.1.1.1", "bad IPv4 address '999.1.1.1'"},
    {"192.0.2", "bad IPv4 address '192.0.2'"},
    {"shop.example@", "missing IP address after '@'"},
    {"shop.example@300.1.1.1", "bad IP address after '@': '300.1.1.1'"},
    {"shop.example@other.example", "bad IP address after '@': 'other.example'"},
    {"shop.example@192.0.2.1:443",
     "bad IP address after '@': '192.0.2.1:443' (put the port before '@': HOST:PORT@IP)"},
    {"shop.example@[2001:db8::1]:443",
     "bad IP address after '@': '[2001:db8::1]:443' (put the port before '@': HOST:PORT@IP)"},
    {"shop.example@[192.0.2.1]", "bad IP address after '@': '[192.0.2.1]'"},
    {"shop.example@192.0.2.1@192.0.2.2", "bad IP address after '@': '192.0.2.1@192.0.2.2'"},
    {"192.0.2.1@192.0.2.2", "expected a host name before '@', not an IP address"},
    {"[::1]:443@192.0.2.2", "expected a host name before '@', not an IP address"},
    {"shop.example@192.0.2.0/24",
     "'192.0.2.0/24' is a CIDR block; put IPs and CIDRs in an --edges file"},
    {"10.0.0.0/24", "'10.0.0.0/24' is a CIDR block; put IPs and CIDRs in an --edges file"},
    {"2001:db8::/64", "'2001:db8::/64' is a CIDR block; put IPs and CIDRs in an --edges file"},
    {"[2001:db8::]/64", "'[2001:db8::]/64' is a CIDR block; put IPs and CIDRs in an --edges file"},
    {"example.com/path", "bad character '/' in host name"},
    {"[2001:db8::1", "missing ']' after IPv6 address"},
    {"[192.0.2.1]", "bad IPv6 address '[192.0.2.1]'"},
    {"[::1]x", "unexpected 'x' after ']'; expected ':PORT'"},
    {"2001:db8::zz", "bad IPv6 address '2001:db8::zz'"},
    {"fe80::1%eth0", "bad IPv6 address 'fe80::1%eth0'"},
    {"https://shop.example/", "'https://shop.example/' is a URL; give HOST or HOST:PORT"},
};

/* Reads the file through a reader; expects a.example, b.example, then the
 * error msg on the given line. */
static void expect_bad_file(const char *path, unsigned line, const char *msg)
{
    char err[1024] = "", want[1024];
    struct es_target t;
    struct es_target_reader *r = es_target_reader_new(NULL, 0, path, 443, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    for (unsigned i = 1; i <= 2; i++) {
        ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_OK);
        ck_assert_str_eq(t.host, i == 1 ? "a.example" : "b.example");
    }
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_ERROR);
    snprintf(want, sizeof want, "%s:%u: %s", path, line, msg);
    ck_assert_str_eq(err, want);
    es_target_reader_free(r);
}

START_TEST(test_bad_line)
{
    const struct bad_case *c = &bad_cases[_i];
    char *dir = tl_tmpdir(), *text;
    ck_assert(asprintf(&text, "a.example\n# a comment\n\nb.example\n%s\nc.example\n", c->line) > 0);
    char *path = tl_write_file(dir, "targets.txt", text);
    expect_bad_file(path, 5, c->msg);
    free(text);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_bad_nul)
{
    static const char data[] = "a.example\nb.example\nc.exa\0mple\n";
    char *dir = tl_tmpdir();
    char *path = write_bytes(dir, "nul.txt", data, sizeof data - 1);
    expect_bad_file(path, 3, "NUL byte in line");
    free(path);
    /* A NUL inside a comment is still a NUL: the file is not text (UTF-16, say). */
    static const char data2[] = "a.example\nb.example\nc.example # \0\n";
    path = write_bytes(dir, "nul2.txt", data2, sizeof data2 - 1);
    expect_bad_file(path, 3, "NUL byte in line");
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* A 1 MB line is refused without being held; the reader goes on after it. */
START_TEST(test_bad_huge_line)
{
    size_t big = 1 << 20;
    char *data = malloc(big + 64);
    ck_assert(data != NULL); /* and gcc -fsanitize=address sees the bounds */
    size_t n = (size_t)sprintf(data, "a.example\nb.example\n");
    memset(data + n, 'x', big);
    n += big;
    n += (size_t)sprintf(data + n, "\nc.example\n");
    char *dir = tl_tmpdir();
    char *path = write_bytes(dir, "huge.txt", data, n);
    expect_bad_file(path, 3, "line longer than 4096 bytes");

    /* Continue after the error: c.example is line 4. */
    char err[512];
    struct es_target t;
    struct es_target_reader *r = es_target_reader_new(NULL, 0, path, 443, err, sizeof err);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_OK);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_OK);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_ERROR);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_OK);
    ck_assert_str_eq(t.host, "c.example");
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_END);
    struct es_target_stats st;
    es_target_reader_stats(r, &st);
    ck_assert_uint_eq(st.lines, 4);
    ck_assert_uint_eq(st.targets, 3);
    es_target_reader_free(r);

    /* The same line as the last one, without a newline. */
    free(path);
    n = (size_t)sprintf(data, "a.example\nb.example\n");
    memset(data + n, 'y', big);
    path = write_bytes(dir, "huge-last.txt", data, n + big);
    expect_bad_file(path, 3, "line longer than 4096 bytes");
    free(path);
    free(data);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* 4096 bytes is the limit, "\r\n" not counted; 4097 is over. */
START_TEST(test_line_limit)
{
    char *dir = tl_tmpdir();
    char err[512];
    struct es_target t;
    for (int extra = 0; extra <= 1; extra++) {
        for (int crlf = 0; crlf <= 1; crlf++) {
            for (int last = 0; last <= 1; last++) {
                /* "a.example #xxxx": a comment pads the line to 4096 + extra bytes. */
                size_t len = 4096 + (size_t)extra;
                char *data = malloc(len + 64);
                ck_assert(data != NULL);
                size_t n = (size_t)sprintf(data, "a.example\nb.example\n");
                memcpy(data + n, "c.example #", 11);
                memset(data + n + 11, 'x', len - 11);
                n += len;
                if (crlf)
                    data[n++] = '\r';
                if (!last)
                    n += (size_t)sprintf(data + n, "\nd.example\n");
                char *path = write_bytes(dir, "limit.txt", data, n);
                if (extra) {
                    expect_bad_file(path, 3, "line longer than 4096 bytes");
                } else {
                    struct es_target_reader *r =
                        es_target_reader_new(NULL, 0, path, 443, err, sizeof err);
                    int got = 0;
                    enum es_target_next res;
                    while ((res = es_target_reader_next(r, &t, err, sizeof err)) == ES_TARGET_OK)
                        got++;
                    ck_assert_msg(res == ES_TARGET_END, "crlf=%d last=%d: %s", crlf, last, err);
                    ck_assert_int_eq(got, last ? 3 : 4);
                    es_target_reader_free(r);
                }
                free(path);
                free(data);
            }
        }
    }
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* Positional words come first, named "argument N". */
START_TEST(test_words)
{
    const char *words[] = {"a.example", "b.example:0", "c.example"};
    char err[512];
    struct es_target t;
    struct es_target_reader *r = es_target_reader_new(words, 3, NULL, 443, err, sizeof err);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_OK);
    ck_assert_str_eq(t.host, "a.example");
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_ERROR);
    ck_assert_str_eq(err, "argument 2: " BADPORT("0"));
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_OK);
    ck_assert_str_eq(t.host, "c.example");
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_END);
    es_target_reader_free(r);

    const char *empty[] = {"a.example", ""};
    r = es_target_reader_new(empty, 2, NULL, 443, err, sizeof err);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_OK);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_ERROR);
    ck_assert_str_eq(err, "argument 2: empty target");
    es_target_reader_free(r);

    /* Words, then the file; a BOM, CRLF, comments and blank lines in the file. */
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "t.txt",
                               "\xef\xbb\xbf"
                               "d.example\r\n  # comment\r\n\r\ne.example:8443 # trailing\n");
    r = es_target_reader_new(words, 1, path, 443, err, sizeof err);
    const char *want[] = {"a.example", "d.example", "e.example"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_OK);
        ck_assert_str_eq(t.host, want[i]);
    }
    ck_assert_uint_eq(t.port, 8443);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_END);
    es_target_reader_free(r);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_open_errors)
{
    char err[512];
    ck_assert(es_target_reader_new(NULL, 0, "/nonexistent/targets.txt", 443, err, sizeof err) ==
              NULL);
    ck_assert_str_eq(err, "cannot open /nonexistent/targets.txt: No such file or directory");
    struct es_edges *e = (struct es_edges *)1;
    ck_assert(!es_edges_load("/nonexistent/edges.txt", &e, err, sizeof err));
    ck_assert(e == NULL);
    ck_assert_str_eq(err, "cannot open /nonexistent/edges.txt: No such file or directory");
    /* A directory opens but cannot be read. */
    char *dir = tl_tmpdir();
    struct es_target t;
    struct es_target_reader *r = es_target_reader_new(NULL, 0, dir, 443, err, sizeof err);
    ck_assert(r != NULL);
    char want[512];
    snprintf(want, sizeof want, "%s: read error: Is a directory", dir);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_ERROR);
    ck_assert_str_eq(err, want);
    es_target_reader_free(r);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* "-" reads stdin and names it "<stdin>" in messages. */
START_TEST(test_stdin)
{
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "in.txt", "a.example\nb.example:0\n");
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    char err[512];
    struct es_target t;
    struct es_target_reader *r = es_target_reader_new(NULL, 0, "-", 443, err, sizeof err);
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_OK);
    ck_assert_str_eq(t.host, "a.example");
    ck_assert_int_eq(es_target_reader_next(r, &t, err, sizeof err), ES_TARGET_ERROR);
    ck_assert_str_eq(err, "<stdin>:2: " BADPORT("0"));
    es_target_reader_free(r);
    /* stdin stays open after the reader is freed. */
    ck_assert_int_ne(fcntl(STDIN_FILENO, F_GETFD), -1);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- deduplication ---- */

START_TEST(test_dedupe)
{
    const char *words[] = {
        "a.example",
        "A.Example.",
        "a.example:443",  /* one target */
        "a.example:8443", /* another port */
        "a.example@192.0.2.1",
        "a.example:443@192.0.2.1", /* one HOST@IP */
        "a.example@192.0.2.2",     /* another IP */
        "192.0.2.1",
        "192.0.2.1:443", /* one IP target */
        "[::1]",
        "::1",
        "[0:0::1]:443", /* one IPv6 target */
        "[::1]:8443",
    };
    const char *want[] = {"a.example:443",
                          "a.example:8443",
                          "a.example:443@192.0.2.1",
                          "a.example:443@192.0.2.2",
                          "192.0.2.1:443",
                          "::1:443",
                          "::1:8443"};
    char err[512], got[600], ipbuf[ES_IP_TEXT];
    struct es_target t;
    struct es_target_reader *r =
        es_target_reader_new(words, sizeof words / sizeof words[0], NULL, 443, err, sizeof err);
    size_t n = 0;
    while (es_target_reader_next(r, &t, err, sizeof err) == ES_TARGET_OK) {
        ck_assert_uint_lt(n, sizeof want / sizeof want[0]);
        if (t.has_ip && !t.host_is_ip)
            snprintf(got, sizeof got, "%s:%u@%s", t.host, t.port,
                     es_ip_str(&t.ip, ipbuf, sizeof ipbuf));
        else
            snprintf(got, sizeof got, "%s:%u", t.host, t.port);
        ck_assert_str_eq(got, want[n]);
        n++;
    }
    ck_assert_uint_eq(n, sizeof want / sizeof want[0]);
    struct es_target_stats st;
    es_target_reader_stats(r, &st);
    ck_assert_uint_eq(st.targets, 7);
    ck_assert_uint_eq(st.duplicates, 6);
    ck_assert_uint_eq(st.lines, 0);
    es_target_reader_free(r);
}
END_TEST

/* The reader remembers the last ES_TARGET_DEDUPE_WINDOW distinct targets
 * (fixed memory, whatever the input): a target repeated within the window is
 * skipped, one repeated after the window has moved past it comes out again,
 * and evictions keep every remembered key findable (backward-shift delete). */
START_TEST(test_dedupe_window)
{
    enum { W = ES_TARGET_DEDUPE_WINDOW, EXTRA = 1000 };
    size_t cap = ((size_t)W + 3 * EXTRA) * 24, n = 0;
    char *data = malloc(cap);
    for (unsigned i = 0; i < W + EXTRA; i++) /* h0 .. h(W+EXTRA-1) */
        n += (size_t)snprintf(data + n, cap - n, "h%u.w.test\n", i);
    for (unsigned i = 0; i < EXTRA; i++) /* the last W: all remembered */
        n += (size_t)snprintf(data + n, cap - n, "h%u.w.test\n", W + EXTRA - 1 - i * 7);
    for (unsigned i = 0; i < EXTRA; i++) /* the first EXTRA: evicted, out again */
        n += (size_t)snprintf(data + n, cap - n, "h%u.w.test\n", i);
    char *dir = tl_tmpdir();
    char *path = write_bytes(dir, "window.txt", data, n);
    free(data);
    char err[512];
    struct es_target t;
    struct es_target_reader *r = es_target_reader_new(NULL, 0, path, 443, err, sizeof err);
    uint64_t got = 0;
    enum es_target_next res;
    while ((res = es_target_reader_next(r, &t, err, sizeof err)) == ES_TARGET_OK) {
        if (got >= W + EXTRA) {
            char want[64];
            snprintf(want, sizeof want, "h%u.w.test", (unsigned)(got - W - EXTRA));
            ck_assert_str_eq(t.host, want);
        }
        got++;
    }
    ck_assert_msg(res == ES_TARGET_END, "%s", err);
    ck_assert_uint_eq(got, W + 2 * EXTRA);
    struct es_target_stats st;
    es_target_reader_stats(r, &st);
    ck_assert_uint_eq(st.duplicates, EXTRA);
    es_target_reader_free(r);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* 100,000 generated lines stream through: 60,000 distinct targets. */
START_TEST(test_stream_100k)
{
    enum { LINES = 100000, DISTINCT = 60000 };
    size_t cap = (size_t)LINES * 40, n = 0;
    char *data = malloc(cap);
    for (unsigned i = 0; i < LINES; i++) {
        unsigned h = i % DISTINCT;
        if (i % 1000 == 0)
            n += (size_t)snprintf(data + n, cap - n, "# block %u\n", i / 1000);
        /* Alternate spellings of the same target: case, trailing dot, explicit port. */
        if (i < DISTINCT)
            n += (size_t)snprintf(data + n, cap - n, "host%u.example.net\n", h);
        else if (i % 2)
            n += (size_t)snprintf(data + n, cap - n, "HOST%u.Example.Net.\n", h);
        else
            n += (size_t)snprintf(data + n, cap - n, "host%u.example.net:443\n", h);
    }
    char *dir = tl_tmpdir();
    char *path = write_bytes(dir, "big.txt", data, n);
    free(data);
    char err[512];
    struct es_target t;
    struct es_target_reader *r = es_target_reader_new(NULL, 0, path, 443, err, sizeof err);
    unsigned got = 0;
    enum es_target_next res;
    while ((res = es_target_reader_next(r, &t, err, sizeof err)) == ES_TARGET_OK) {
        char want[64];
        snprintf(want, sizeof want, "host%u.example.net", got);
        ck_assert_str_eq(t.host, want); /* first occurrences, in file order */
        got++;
    }
    ck_assert_msg(res == ES_TARGET_END, "%s", err);
    ck_assert_uint_eq(got, DISTINCT);
    struct es_target_stats st;
    es_target_reader_stats(r, &st);
    ck_assert_uint_eq(st.lines, LINES + LINES / 1000);
    ck_assert_uint_eq(st.targets, DISTINCT);
    ck_assert_uint_eq(st.duplicates, LINES - DISTINCT);
    es_target_reader_free(r);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- --edges ---- */

/* Loads text as an edges file and returns every address, ';'-joined. */
static char *edges_expand(const char *text, uint64_t *count)
{
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "edges.txt", text);
    char err[512] = "";
    struct es_edges *e = NULL;
    ck_assert_msg(es_edges_load(path, &e, err, sizeof err), "%s", err);
    *count = es_edges_count(e);
    size_t cap = 64 + *count * (ES_IP_TEXT + 1), n = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    struct es_edges_iter it;
    struct es_ip ip;
    char buf[ES_IP_TEXT];
    uint64_t seen = 0;
    es_edges_iter_init(&it, e);
    while (es_edges_iter_next(&it, &ip)) {
        n += (size_t)snprintf(out + n, cap - n, "%s%s", seen ? ";" : "",
                              es_ip_str(&ip, buf, sizeof buf));
        seen++;
    }
    ck_assert_uint_eq(seen, *count);
    ck_assert(!es_edges_iter_next(&it, &ip)); /* stays at the end */
    es_edges_free(e);
    free(path);
    tl_rmtree(dir);
    free(dir);
    return out;
}

struct cidr_case {
    const char *text;
    uint64_t count;
    const char *addrs;
};

static const struct cidr_case cidr_cases[] = {
    {"192.0.2.0/30\n", 4, "192.0.2.0;192.0.2.1;192.0.2.2;192.0.2.3"},
    {"192.0.2.8/31\n", 2, "192.0.2.8;192.0.2.9"},
    {"192.0.2.9/32\n", 1, "192.0.2.9"},
    {"192.0.2.9\n", 1, "192.0.2.9"},
    {"2001:db8::/126\n", 4, "2001:db8::;2001:db8::1;2001:db8::2;2001:db8::3"},
    {"[2001:db8::1]\n2001:db8::2/128\n", 2, "2001:db8::1;2001:db8::2"},
    {"10.0.255.254/31\n", 2, "10.0.255.254;10.0.255.255"},
    /* duplicates and overlaps merge; IPv4 first, in address order */
    {"# edges\n\n::1\n192.0.2.5\n192.0.2.0/30 # block\n  192.0.2.1\r\n192.0.2.5\n", 6,
     "192.0.2.0;192.0.2.1;192.0.2.2;192.0.2.3;192.0.2.5;::1"},
    {"192.0.2.2/31\n192.0.2.0/30\n192.0.2.0/29\n", 8,
     "192.0.2.0;192.0.2.1;192.0.2.2;192.0.2.3;192.0.2.4;192.0.2.5;192.0.2.6;192.0.2.7"},
    {"# nothing\n\n", 0, ""},
};

START_TEST(test_cidr)
{
    const struct cidr_case *c = &cidr_cases[_i];
    uint64_t count;
    char *got = edges_expand(c->text, &count);
    ck_assert_uint_eq(count, c->count);
    ck_assert_str_eq(got, c->addrs);
    free(got);
}
END_TEST

/* The largest blocks: /16 and /112 give exactly 65,536 addresses, in order. */
START_TEST(test_cidr_limit_ok)
{
    const char *texts[] = {"10.1.0.0/16\n", "2001:db8::/112\n"};
    const char *last[] = {"10.1.255.255", "2001:db8::ffff"};
    for (int k = 0; k < 2; k++) {
        char *dir = tl_tmpdir();
        char *path = tl_write_file(dir, "edges.txt", texts[k]);
        char err[512], buf[ES_IP_TEXT];
        struct es_edges *e;
        ck_assert_msg(es_edges_load(path, &e, err, sizeof err), "%s", err);
        ck_assert_uint_eq(es_edges_count(e), 65536);
        for (int pass = 0; pass < 2; pass++) { /* an iterator can restart */
            struct es_edges_iter it;
            struct es_ip ip, prev;
            uint64_t n = 0;
            es_edges_iter_init(&it, e);
            while (es_edges_iter_next(&it, &ip)) {
                if (n)
                    ck_assert_int_lt(memcmp(prev.bytes, ip.bytes, 16), 0);
                prev = ip;
                n++;
            }
            ck_assert_uint_eq(n, 65536);
            ck_assert_str_eq(es_ip_str(&prev, buf, sizeof buf), last[k]);
        }
        es_edges_free(e);
        free(path);
        tl_rmtree(dir);
        free(dir);
    }
}
END_TEST

struct edges_bad_case {
    const char *line;
    const char *msg;
};

static const struct edges_bad_case edges_bad_cases[] = {
    {"10.0.0.0/8", "10.0.0.0/8 is 16777216 addresses; the limit is /16 (65536)"},
    {"10.0.0.0/15", "10.0.0.0/15 is 131072 addresses; the limit is /16 (65536)"},
    {"0.0.0.0/0", "0.0.0.0/0 is 4294967296 addresses; the limit is /16 (65536)"},
    {"2001:db8::/111", "2001:db8::/111 is 131072 addresses; the limit is /112 (65536)"},
    {"2001:db8::/64", "2001:db8::/64 is 2^64 addresses; the limit is /112 (65536)"},
    {"2001:db8::/32", "2001:db8::/32 is 2^96 addresses; the limit is /112 (65536)"},
    {"192.0.2.1/30", "192.0.2.1/30 has host bits set; the block is 192.0.2.0/30"},
    {"2001:db8::5/126", "2001:db8::5/126 has host bits set; the block is 2001:db8::4/126"},
    {"10.0.0.0/33", "bad prefix length in '10.0.0.0/33'; expected /0 to /32"},
    {"2001:db8::/129", "bad prefix length in '2001:db8::/129'; expected /0 to /128"},
    {"10.0.0.0/", "bad prefix length in '10.0.0.0/'; expected /0 to /32"},
    {"10.0.0.0/x", "bad prefix length in '10.0.0.0/x'; expected /0 to /32"},
    {"10.0.0.0/-1", "bad prefix length in '10.0.0.0/-1'; expected /0 to /32"},
    {"example.com", "'example.com' is not an IP address or CIDR block"},
    {"192.0.2.1:443", "'192.0.2.1:443' is not an IP address or CIDR block"},
    {"[192.0.2.1]", "'[192.0.2.1]' is not an IP address or CIDR block"},
    {"192.0.2.1 192.0.2.2", "'192.0.2.1 192.0.2.2' is not an IP address or CIDR block"},
    {"10.0.0.ü", "'10.0.0.\\xc3\\xbc' is not an IP address or CIDR block"},
};

START_TEST(test_edges_bad)
{
    const struct edges_bad_case *c = &edges_bad_cases[_i];
    char *dir = tl_tmpdir(), *text, err[512], want[600];
    ck_assert(asprintf(&text, "192.0.2.1\n# comment\n%s\n192.0.2.2\n", c->line) > 0);
    char *path = tl_write_file(dir, "edges.txt", text);
    struct es_edges *e = (struct es_edges *)1;
    ck_assert(!es_edges_load(path, &e, err, sizeof err));
    ck_assert(e == NULL);
    snprintf(want, sizeof want, "%s:3: %s", path, c->msg);
    ck_assert_str_eq(err, want);
    free(text);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_edges_bad_bytes)
{
    char *dir = tl_tmpdir(), err[512], want[600];
    struct es_edges *e;
    static const char nul[] = "192.0.2.1\n192.0.\0.2\n";
    char *path = write_bytes(dir, "nul.txt", nul, sizeof nul - 1);
    ck_assert(!es_edges_load(path, &e, err, sizeof err));
    snprintf(want, sizeof want, "%s:2: NUL byte in line", path);
    ck_assert_str_eq(err, want);
    free(path);
    char *big = repeat('1', 1 << 20);
    path = tl_write_file(dir, "big.txt", big);
    ck_assert(!es_edges_load(path, &e, err, sizeof err));
    snprintf(want, sizeof want, "%s:1: line longer than 4096 bytes", path);
    ck_assert_str_eq(err, want);
    free(big);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("target");
    TCase *tc = tcase_create("forms");
    tcase_add_loop_test(tc, test_good, 0, (int)(sizeof good_cases / sizeof good_cases[0]));
    tcase_add_test(tc, test_name_limits);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad");
    tcase_add_loop_test(tc, test_bad_line, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_bad_nul);
    tcase_add_test(tc, test_bad_huge_line);
    tcase_add_test(tc, test_line_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("reader");
    tcase_add_test(tc, test_words);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_stdin);
    tcase_add_test(tc, test_dedupe);
    tcase_add_test(tc, test_dedupe_window);
    tcase_add_test(tc, test_stream_100k);
    suite_add_tcase(s, tc);
    tc = tcase_create("edges");
    tcase_add_loop_test(tc, test_cidr, 0, (int)(sizeof cidr_cases / sizeof cidr_cases[0]));
    tcase_add_test(tc, test_cidr_limit_ok);
    tcase_add_loop_test(tc, test_edges_bad, 0,
                        (int)(sizeof edges_bad_cases / sizeof edges_bad_cases[0]));
    tcase_add_test(tc, test_edges_bad_bytes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
