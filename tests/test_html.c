/* test_html.c - the HTML report in a real browser, and hostile certificate
 * subjects end to end, against a lab on 127.70.200.0/21 (the rest of
 * 127.70.0.0/16 is test_report_lab.c's).
 *
 * - `subject_o=` (docs/lab.md): the parser decodes it, labcert.c puts it in
 *   the leaf's subject after CN and caches by it.
 * - A leaf whose subject holds commas, quotes, a newline and <script> stays
 *   one well-formed CSV row and one JSON string, and decodes back exactly.
 * - `report --format html` never lets server- or file-supplied text out as
 *   markup.
 * - Headless Chromium renders the report to a non-blank screenshot with red
 *   and green heat-map cells (decoded with python3's standard library). When
 *   /usr/bin/chromium is missing that test is left out and, the others
 *   having passed, the suite exits 77 (meson SKIP) saying why. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "edgeshake/labcert.h"
#include "edgeshake/labspec.h"
#include "testlib.h"

#ifndef CHROMIUM /* -DCHROMIUM=\"/nonexistent\" tries the SKIP path by hand */
#define CHROMIUM "/usr/bin/chromium"
#endif

/* The O= value the lab serves, percent-encoded as in the spec and decoded. */
#define EVIL_O_SPEC "Evil%2C%20%22Inc%22%0A%3Cscript%3Ealert(1)%3C%2Fscript%3E"
#define EVIL_O      "Evil, \"Inc\"\n<script>alert(1)</script>"
/* How OpenSSL prints that subject (RFC 2253: reversed, specials escaped with
 * a backslash, control bytes as \XX), which is what the scan records. */
#define EVIL_RFC2253 "O=Evil\\, \\\"Inc\\\"\\0A\\<script\\>alert(1)\\</script\\>,CN=html.rl.test"

static const char *spec =
    "resolver h 127.70.253.1:5353\n"
    "host html.rl.test h=127.70.200.1,127.70.200.2,127.70.200.3\n"
    "edge 127.70.200.1:8443 cert=html.rl.test\n"
    /* fails TLS 1.3: a red heat-map cell */
    "edge 127.70.200.2:8443 cert=html.rl.test tls=1.2\n"
    /* a hostile subject on a certificate that does not verify */
    "edge 127.70.200.3:8443 cert=html.rl.test:expired subject_o=" EVIL_O_SPEC "\n";

/* ---- a tiny RFC 4180 table (as tests/test_scan.c) ---- */

static char *path_in(const char *dir, const char *name)
{
    char *p;
    ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- subject_o in the parser and in the certificate ---- */

static const struct {
    const char *value; /* as written after subject_o= */
    const char *want;  /* decoded */
} good_o[] = {
    {EVIL_O_SPEC, EVIL_O},
    {"Example", "Example"},
    {"100%25", "100%"},
    {"caf%c3%a9", "caf\xc3\xa9"},   /* lower-case hex, UTF-8 */
    {"caf\xc3\xa9", "caf\xc3\xa9"}, /* UTF-8 as it is */
    {"%09tab%0d%0a", "\ttab\r\n"},  /* C0 controls are what a hostile subject holds */
    {"%C2%85next", "\xc2\x85next"}, /* and C1 */
    {"%22%27%3C%3E%26%2C%3B%2B%5C%23", "\"'<>&,;+\\#"},
    {"0123456789012345678901234567890123456789012345678901234567890123",
     "0123456789012345678901234567890123456789012345678901234567890123"}, /* 64 bytes */
};

START_TEST(test_subject_o_parse)
{
    char text[512], err[256];
    snprintf(text, sizeof text,
             "edge 127.0.0.1:8443 cert=a.test subject_o=%s\nedge 127.0.0.1:8444\n",
             good_o[_i].value);
    struct es_labspec *s = es_labspec_parse(text, strlen(text), "t.lab", err, sizeof err);
    ck_assert_msg(s != NULL, "%s: %s", good_o[_i].value, err);
    ck_assert_uint_eq(s->nedges, 2);
    ck_assert_str_eq(s->edges[0].subject_o, good_o[_i].want);
    ck_assert_ptr_null(s->edges[1].subject_o);
    ck_assert_str_eq(s->edges[0].cert_name, "a.test");
    es_labspec_free(s);
}
END_TEST

/* The text of the index-th entry of a name, and its NID. */
static int name_entry(X509_NAME *n, int index, char *buf, size_t len)
{
    X509_NAME_ENTRY *e = X509_NAME_get_entry(n, index);
    ck_assert_ptr_nonnull(e);
    const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
    ck_assert_int_lt(ASN1_STRING_length(v), (int)len);
    memcpy(buf, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
    buf[ASN1_STRING_length(v)] = '\0';
    return OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
}

START_TEST(test_labcert_subject_o)
{
    struct es_labcerts *c = es_labcerts_new();
    struct es_lableaf plain = es_labcerts_leaf(c, "o.test", ES_CERT_GOOD, ES_KEY_ECDSA);
    struct es_lableaf evil = es_labcerts_leaf_o(c, "o.test", ES_CERT_GOOD, ES_KEY_ECDSA, EVIL_O);
    struct es_lableaf other = es_labcerts_leaf_o(c, "o.test", ES_CERT_GOOD, ES_KEY_ECDSA, "Other");
    /* CN first, then O, byte for byte (the newline and markup included). */
    X509_NAME *n = X509_get_subject_name(evil.cert);
    char buf[128];
    ck_assert_int_eq(X509_NAME_entry_count(n), 2);
    ck_assert_int_eq(name_entry(n, 0, buf, sizeof buf), NID_commonName);
    ck_assert_str_eq(buf, "o.test");
    ck_assert_int_eq(name_entry(n, 1, buf, sizeof buf), NID_organizationName);
    ck_assert_str_eq(buf, EVIL_O);
    ck_assert_int_eq(X509_NAME_entry_count(X509_get_subject_name(plain.cert)), 1);
    /* Still signed by the lab CA, with the issuer the CA's name. */
    ck_assert_int_eq(X509_verify(evil.cert, X509_get0_pubkey(es_labcerts_ca(c))), 1);
    ck_assert_ptr_eq(evil.issuer, es_labcerts_ca(c));
    /* The cache tells them apart by O, and finds each again. */
    ck_assert_ptr_ne(plain.cert, evil.cert);
    ck_assert_ptr_ne(evil.cert, other.cert);
    ck_assert_ptr_eq(es_labcerts_leaf_o(c, "o.test", ES_CERT_GOOD, ES_KEY_ECDSA, EVIL_O).cert,
                     evil.cert);
    ck_assert_ptr_eq(es_labcerts_leaf_o(c, "o.test", ES_CERT_GOOD, ES_KEY_ECDSA, NULL).cert,
                     plain.cert);
    ck_assert_ptr_eq(es_labcerts_leaf(c, "o.test", ES_CERT_GOOD, ES_KEY_ECDSA).cert, plain.cert);
    /* Kinds keep their meaning with O: a self-signed leaf is its own issuer. */
    struct es_lableaf self = es_labcerts_leaf_o(c, "o.test", ES_CERT_SELFSIGNED, ES_KEY_ECDSA, "X");
    ck_assert_ptr_null(self.issuer);
    ck_assert_int_eq(
        X509_NAME_cmp(X509_get_subject_name(self.cert), X509_get_issuer_name(self.cert)), 0);
    es_labcerts_free(c);
}
END_TEST

/* ---- the lab, scanned once as CSV and once as JSONL ---- */

static struct tl_lab lab;
static char *csv_path, *jsonl_path, *html_path;

static void scan(const char *format, const char *out)
{
    char *ca = path_in(lab.dir, "ca.crt");
    const char *argv[] = {"scan",         "-q", "-p",       "8443", "-r", "h=127.70.253.1:5353",
                          "--ca-file",    ca,   "--format", format, "-o", out,
                          "html.rl.test", NULL};
    char *err;
    int status = tl_run(argv, NULL, NULL, &err, 60000);
    ck_assert_msg(status == 0, "scan exited %d: %s", status, err);
    free(err);
    free(ca);
}

/* `edgeshake report --format html -o out FILE`. */
static void report_html(const char *in, const char *out)
{
    const char *argv[] = {"report", "--format", "html", "-o", out, in, NULL};
    char *err;
    int status = tl_run(argv, NULL, NULL, &err, 60000);
    ck_assert_msg(status == 0, "report exited %d: %s", status, err);
    free(err);
}

static void lab_setup(void)
{
    tl_lab_start(&lab, spec);
    csv_path = path_in(lab.dir, "scan.csv");
    jsonl_path = path_in(lab.dir, "scan.jsonl");
    html_path = path_in(lab.dir, "report.html");
    scan("csv", csv_path);
    scan("jsonl", jsonl_path);
    report_html(csv_path, html_path);
}

static void lab_teardown(void)
{
    free(csv_path);
    free(jsonl_path);
    free(html_path);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);
}

/* Undoes the CSV escapes of docs/schema.md (\\ and \xhh). */
static char *csv_unescape(const char *s)
{
    char *out = malloc(strlen(s) + 1), *w = out;
    while (*s) {
        if (s[0] == '\\' && s[1] == '\\') {
            *w++ = '\\';
            s += 2;
        } else if (s[0] == '\\' && s[1] == 'x' && s[2] && s[3]) {
            char hex[3] = {s[2], s[3], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            s += 4;
        } else {
            *w++ = *s++;
        }
    }
    *w = '\0';
    return out;
}

/* The value of attribute `type` in an RFC 2253 string, unescaped (\c and
 * \XX), or NULL. */
static char *rfc2253_value(const char *dn, const char *type)
{
    size_t tl = strlen(type);
    for (const char *p = dn; *p;) {
        bool match = !strncmp(p, type, tl) && p[tl] == '=';
        const char *v = p + tl + 1;
        char *out = malloc(strlen(p) + 1), *w = out;
        const char *q = match ? v : p;
        while (*q && *q != ',') {
            if (*q == '\\' && q[1] && q[2] && strchr("0123456789ABCDEFabcdef", q[1]) &&
                strchr("0123456789ABCDEFabcdef", q[2])) {
                char hex[3] = {q[1], q[2], 0};
                *w++ = (char)strtol(hex, NULL, 16);
                q += 3;
            } else if (*q == '\\' && q[1]) {
                *w++ = q[1];
                q += 2;
            } else {
                *w++ = *q++;
            }
        }
        *w = '\0';
        if (match)
            return out;
        free(out);
        p = *q ? q + 1 : q;
    }
    return NULL;
}

/* (a) The hostile subject is one well-formed CSV row, and decodes back to
 * exactly what the lab put in the certificate. */
START_TEST(test_csv_hostile_subject)
{
    size_t len;
    char *text = tl_read_file(csv_path, &len);
    ck_assert_ptr_nonnull(text);
    /* 3 edges x 2 variants, one physical line each: no newline inside a cell. */
    ck_assert_uint_eq(count(text, "\n"), 1 + 6);
    ck_assert_uint_eq(count(text, "alert(1)"), 2);
    for (const char *p = text; *p; p++)
        ck_assert_msg((unsigned char)*p >= 0x20 || *p == '\n', "control byte 0x%02x in the CSV",
                      (unsigned char)*p);
    struct tl_table t;
    tl_table_parse(&t, text);
    ck_assert_uint_eq(t.nrows, 6);
    size_t hostile = 0;
    for (size_t r = 0; r < t.nrows; r++) {
        if (!strcmp(tl_cell(&t, r, "ip"), "127.70.200.2") &&
            !strcmp(tl_cell(&t, r, "tls_offered"), "1.3")) {
            ck_assert_str_eq(tl_cell(&t, r, "status"), "alert");
            ck_assert_str_eq(tl_cell(&t, r, "cert_subject"), "");
            continue;
        }
        ck_assert_str_eq(tl_cell(&t, r, "status"), "ok");
        if (strcmp(tl_cell(&t, r, "ip"), "127.70.200.3")) {
            ck_assert_str_eq(tl_cell(&t, r, "cert_subject"), "CN=html.rl.test");
            continue;
        }
        hostile++;
        ck_assert_str_eq(tl_cell(&t, r, "verify"), "expired");
        /* The cell, RFC 4180-unquoted: the RFC 2253 text with each backslash
         * doubled (docs/schema.md). */
        ck_assert_str_eq(
            tl_cell(&t, r, "cert_subject"),
            "O=Evil\\\\, \\\\\"Inc\\\\\"\\\\0A\\\\<script\\\\>alert(1)\\\\</script\\\\>,"
            "CN=html.rl.test");
        char *dn = csv_unescape(tl_cell(&t, r, "cert_subject"));
        ck_assert_str_eq(dn, EVIL_RFC2253);
        char *o = rfc2253_value(dn, "O"), *cn = rfc2253_value(dn, "CN");
        ck_assert_str_eq(o, EVIL_O);
        ck_assert_str_eq(cn, "html.rl.test");
        free(o);
        free(cn);
        free(dn);
        ck_assert_str_eq(tl_cell(&t, r, "cert_issuer"), "CN=edgeshake lab CA");
        ck_assert_str_eq(tl_cell(&t, r, "h2"), "");
        ck_assert_ptr_nonnull(strstr(tl_cell(&t, r, "total_ms"), "."));
    }
    ck_assert_uint_eq(hostile, 2);
    tl_table_free(&t);
}
END_TEST

/* Decodes the JSON string starting at the quote *p (escapes of RFC 8259);
 * moves *p past it. */
static char *json_string(const char **p)
{
    const char *s = *p;
    ck_assert_int_eq(*s, '"');
    s++;
    char *out = malloc(strlen(s) + 1), *w = out;
    while (*s != '"') {
        ck_assert_msg(*s && (unsigned char)*s >= 0x20, "raw control byte or end in a JSON string");
        if (*s != '\\') {
            *w++ = *s++;
            continue;
        }
        s++;
        switch (*s) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            char hex[5] = {s[1], s[2], s[3], s[4], 0};
            long cp = strtol(hex, NULL, 16);
            ck_assert_msg(cp > 0 && cp < 0x80, "\\u%s: only ASCII expected here", hex);
            *w++ = (char)cp;
            s += 4;
            break;
        }
        default: ck_abort_msg("bad JSON escape \\%c", *s);
        }
        s++;
    }
    *w = '\0';
    *p = s + 1;
    return out;
}

/* (b) In JSONL the subject is one JSON string holding the RFC 2253 text. */
START_TEST(test_jsonl_hostile_subject)
{
    char *text = tl_read_file(jsonl_path, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(count(text, "\n"), 6);
    size_t hostile = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        ck_assert_int_eq(line[0], '{');
        ck_assert_int_eq(nl[-1], '}');
        const char *p = strstr(line, "\"cert_subject\":");
        ck_assert_ptr_nonnull(p);
        p += strlen("\"cert_subject\":");
        if (!strncmp(p, "null,", 5)) { /* the TLS 1.3 probe of the TLS 1.2 edge */
            ck_assert_ptr_nonnull(strstr(line, "\"ip\":\"127.70.200.2\""));
            ck_assert_ptr_nonnull(strstr(line, "\"status\":\"alert\""));
            line = nl + 1;
            continue;
        }
        char *subject = json_string(&p);
        ck_assert_int_eq(*p, ',');
        if (strstr(line, "\"ip\":\"127.70.200.3\"")) {
            hostile++;
            ck_assert_str_eq(subject, EVIL_RFC2253);
            char *o = rfc2253_value(subject, "O");
            ck_assert_str_eq(o, EVIL_O);
            free(o);
        } else {
            ck_assert_str_eq(subject, "CN=html.rl.test");
        }
        free(subject);
        line = nl + 1;
    }
    ck_assert_uint_eq(hostile, 2);
    free(text);
}
END_TEST

/* Every "alert(1)" in html is inert text: preceded by an escaped "script>". */
static void assert_inert(const char *html)
{
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "<SCRIPT"));
    for (const char *p = html; (p = strstr(p, "alert(1)")) != NULL; p++) {
        ck_assert_msg(p - html >= 10 && (!strncmp(p - 10, "script&gt;", 10) ||
                                         !strncmp(p - 11, "script\\&gt;", 11)),
                      "alert(1) after '%.20s'", p - 20 > html ? p - 20 : html);
    }
}

/* (c) The report of that scan: the cert finding for the hostile edge, no
 * markup from the certificate. The report does not show certificate
 * subjects at all (report.c does not read cert_subject), so the escaping of
 * what it does show is tested on a scan file whose host name is hostile:
 * the host lands in headings, table cells, title attributes and the
 * shell-quoted repro command. */
START_TEST(test_html_escaping)
{
    char *html = tl_read_file(html_path, NULL);
    ck_assert_ptr_nonnull(html);
    assert_inert(html);
    ck_assert_ptr_nonnull(strstr(html, "<td class=k-cert>cert</td><td>html.rl.test:8443</td>"
                                       "<td><code></code></td><td>verify expired</td><td>"
                                       "127.70.200.3 <small>(h)</small></td>"));
    ck_assert_ptr_nonnull(strstr(html, "<td class=k-node>node</td><td>html.rl.test:8443</td>"));
    free(html);

    /* The same scan with a hostile host name, every occurrence replaced. */
    char *text = tl_read_file(csv_path, NULL);
    static const char evil_host[] = "<script>alert(1)</script>.test";
    size_t n = count(text, "html.rl.test");
    ck_assert_uint_gt(n, 6);
    char *hostile = malloc(strlen(text) + n * sizeof evil_host + 1), *w = hostile;
    for (const char *p = text;;) {
        const char *hit = strstr(p, "html.rl.test");
        size_t k = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(w, p, k);
        w += k;
        if (!hit)
            break;
        memcpy(w, evil_host, sizeof evil_host - 1);
        w += sizeof evil_host - 1;
        p = hit + strlen("html.rl.test");
    }
    *w = '\0';
    char *in = tl_write_file(lab.dir, "hostile.csv", hostile);
    char *out = path_in(lab.dir, "hostile.html");
    report_html(in, out);
    html = tl_read_file(out, NULL);
    ck_assert_ptr_nonnull(html);
    assert_inert(html);
    static const char esc[] = "&lt;script&gt;alert(1)&lt;/script&gt;.test";
    ck_assert_ptr_nonnull(strstr(html, "<h3>&lt;script&gt;alert(1)&lt;/script&gt;.test:8443</h3>"));
    ck_assert_ptr_nonnull(
        strstr(html, "<td class=k-cert>cert</td><td>&lt;script&gt;alert(1)&lt;/script&gt;.test:8443"
                     "</td>"));
    /* The repro quotes the name for the shell; the quotes are escaped too. */
    ck_assert_ptr_nonnull(
        strstr(html, "-servername &#39;&lt;script&gt;alert(1)&lt;/script&gt;.test&#39;"));
    /* Every copy escaped: the heading, the host cells of the node and cert
     * findings, -servername in both repros, -verify_hostname in the cert
     * repro. */
    ck_assert_uint_eq(count(html, esc), 6);
    free(html);
    free(out);
    free(in);
    free(hostile);
    free(text);
}
END_TEST

/* ---- the screenshot ---- */

/* Runs argv (argv[0] looked up in PATH) in its own process group with
 * stdout and stderr into log; kills the group after timeout_ms and after it
 * exits (a browser leaves helpers behind). Returns the exit status, or 128 +
 * signal. */
static int run_logged(const char *const *argv, const char *log, int timeout_ms)
{
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || fd < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also from here: no race with the child's own call */
    int status = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > timeout_ms) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        usleep(20000);
    }
    kill(-pid, SIGKILL); /* whatever the browser left running */
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* Decodes a PNG (8-bit RGB or RGBA, not interlaced) with zlib and struct,
 * and prints: width height distinct-colours red green amber non-white,
 * where red/green/amber count pixels within 4 of the heat map's colours
 * (reportout.c: hsl(0,65%,45%), hsl(120,65%,40%), hsl(40,90%,45%)). */
static const char png_stats_py[] =
    "import colorsys, struct, sys, zlib\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'not a PNG'\n"
    "pos, idat = 8, b''\n"
    "while pos < len(data):\n"
    "    n, typ = struct.unpack('>I4s', data[pos:pos + 8])\n"
    "    body = data[pos + 8:pos + 8 + n]\n"
    "    pos += 12 + n\n"
    "    if typ == b'IHDR':\n"
    "        w, h, depth, ctype, _, _, lace = struct.unpack('>IIBBBBB', body)\n"
    "    elif typ == b'IDAT':\n"
    "        idat += body\n"
    "    elif typ == b'IEND':\n"
    "        break\n"
    "assert depth == 8 and lace == 0 and ctype in (2, 6), (depth, lace, ctype)\n"
    "bpp = 3 if ctype == 2 else 4\n"
    "raw = zlib.decompress(idat)\n"
    "stride = w * bpp\n"
    "def rgb(hue, s, l):\n"
    "    return tuple(round(c * 255) for c in colorsys.hls_to_rgb(hue / 360, l, s))\n"
    "targets = [rgb(0, .65, .45), rgb(120, .65, .40), rgb(40, .90, .45)]\n"
    "hits = [0, 0, 0]\n"
    "colours, nonwhite = {}, 0\n"
    "prev = bytearray(stride)\n"
    "for y in range(h):\n"
    "    off = y * (stride + 1)\n"
    "    f = raw[off]\n"
    "    line = bytearray(raw[off + 1:off + 1 + stride])\n"
    "    if f == 1:\n"
    "        for i in range(bpp, stride): line[i] = (line[i] + line[i - bpp]) & 255\n"
    "    elif f == 2:\n"
    "        for i in range(stride): line[i] = (line[i] + prev[i]) & 255\n"
    "    elif f == 3:\n"
    "        for i in range(stride):\n"
    "            a = line[i - bpp] if i >= bpp else 0\n"
    "            line[i] = (line[i] + (a + prev[i]) // 2) & 255\n"
    "    elif f == 4:\n"
    "        for i in range(stride):\n"
    "            a = line[i - bpp] if i >= bpp else 0\n"
    "            b = prev[i]\n"
    "            c = prev[i - bpp] if i >= bpp else 0\n"
    "            p = a + b - c\n"
    "            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)\n"
    "            pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)\n"
    "            line[i] = (line[i] + pr) & 255\n"
    "    for x in range(0, stride, bpp):\n"
    "        px = (line[x], line[x + 1], line[x + 2])\n"
    "        colours[px] = colours.get(px, 0) + 1\n"
    "    prev = line\n"
    "for px, k in colours.items():\n"
    "    if px != (255, 255, 255):\n"
    "        nonwhite += k\n"
    "    for t, c in enumerate(targets):\n"
    "        if all(abs(px[j] - c[j]) <= 4 for j in range(3)):\n"
    "            hits[t] += k\n"
    "print(w, h, len(colours), hits[0], hits[1], hits[2], nonwhite)\n";

START_TEST(test_screenshot)
{
    char *dir = tl_tmpdir();
    char *png = path_in(dir, "report.png"), *profile = path_in(dir, "profile");
    char *log = path_in(dir, "chromium.log"), *url, *shot, *datadir;
    ck_assert(asprintf(&url, "file://%s", html_path) > 0);
    ck_assert(asprintf(&shot, "--screenshot=%s", png) > 0);
    ck_assert(asprintf(&datadir, "--user-data-dir=%s", profile) > 0);
    /* No network: the page is self-contained, and these flags keep the
     * browser from reaching out on its own. */
    const char *argv[] = {CHROMIUM,
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-quic",
                          "--no-first-run",
                          "--disable-background-networking",
                          "--disable-component-update",
                          "--disable-sync",
                          datadir,
                          "--window-size=1200,900",
                          shot,
                          url,
                          NULL};
    int status = run_logged(argv, log, 60000);
    char *text = tl_read_file(log, NULL);
    size_t len = 0;
    char *image = tl_read_file(png, &len);
    ck_assert_msg(status == 0 && image && len > 1000, "chromium exited %d, %zu-byte PNG: %s",
                  status, len, text ? text : "");
    free(image);
    free(text);

    char *script = tl_write_file(dir, "png_stats.py", png_stats_py);
    char *out = path_in(dir, "stats.txt");
    const char *py[] = {"python3", script, png, NULL};
    status = run_logged(py, out, 120000);
    text = tl_read_file(out, NULL);
    ck_assert_msg(status == 0, "python3 exited %d: %s", status, text ? text : "");
    unsigned long w, h, colours, red, green, amber, nonwhite;
    ck_assert_msg(sscanf(text, "%lu %lu %lu %lu %lu %lu %lu", &w, &h, &colours, &red, &green,
                         &amber, &nonwhite) == 7,
                  "stats: %s", text);
    ck_assert_uint_eq(w, 1200);
    ck_assert_uint_eq(h, 900);
    /* Text, table rules and cells: many colours, a fair share of ink. */
    ck_assert_msg(colours > 50, "%lu colours", colours);
    ck_assert_msg(nonwhite > w * h / 50, "%lu non-white pixels", nonwhite);
    /* One red cell (127.70.200.2 on TLS 1.3), three green, two amber: each
     * cell is some 40 x 28 pixels. */
    ck_assert_msg(red > 500, "%lu red pixels", red);
    ck_assert_msg(green > 3 * 500, "%lu green pixels", green);
    ck_assert_msg(amber > 2 * 500, "%lu amber pixels", amber);
    free(text);
    free(out);
    free(script);
    free(url);
    free(shot);
    free(datadir);
    free(log);
    free(profile);
    free(png);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    bool browser = access(CHROMIUM, X_OK) == 0;
    Suite *s = suite_create("html");
    TCase *tu = tcase_create("subject_o");
    tcase_add_loop_test(tu, test_subject_o_parse, 0, (int)(sizeof good_o / sizeof good_o[0]));
    tcase_add_test(tu, test_labcert_subject_o);
    suite_add_tcase(s, tu);
    TCase *tc = tcase_create("lab");
    tcase_add_unchecked_fixture(tc, lab_setup, lab_teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_csv_hostile_subject);
    tcase_add_test(tc, test_jsonl_hostile_subject);
    tcase_add_test(tc, test_html_escaping);
    if (browser)
        tcase_add_test(tc, test_screenshot);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed)
        return EXIT_FAILURE;
    if (!browser) {
        printf("SKIP: %s not found (Debian package chromium; ./dev test installs it when it "
               "can): the screenshot test did not run; the other tests passed\n",
               CHROMIUM);
        return 77;
    }
    return EXIT_SUCCESS;
}
