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
 *   /usr/bin/chromium is missing the browser tests are left out and, the
 *   others having passed, the suite exits 77 (meson SKIP) saying why.
 * - A 20,000-host fleet (60 shared edges in 3 regions, 4 bad nodes, a few
 *   h2 and DNS failures), generated as a scan CSV here (no lab): the page
 *   stays within 5 MB, opens on the overview whose matrix names exactly the
 *   failing nodes with the right cells and host counts, says what every cap
 *   left out, and paints no failure green; in Chromium the bad nodes are on
 *   the first screen (measured in the DOM). ES_HTML_SHOTS=DIR keeps the
 *   screenshots for a human to look at. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
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
#include "edgeshake/report.h"
#include "edgeshake/reporthtml.h"
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

/* The page's own script (the filter box): the only one it may hold. */
#define OWN_SCRIPT "<script>\n(function(){var q=document.getElementById('q');"

/* Every "alert(1)" in html is inert text: preceded by an escaped "script>";
 * the one script element is the page's own. */
static void assert_inert(const char *html)
{
    char *lower = strdup(html);
    for (char *p = lower; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    ck_assert_uint_eq(count(lower, "<script"), 1);
    free(lower);
    ck_assert_ptr_nonnull(strstr(html, OWN_SCRIPT));
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
    ck_assert_ptr_nonnull(strstr(html, "<span class=k-cert>cert</span> verify expired &mdash; "
                                       "1 finding"));
    ck_assert_ptr_nonnull(strstr(html, "<tr><td class=mono>html.rl.test:8443</td><td class=var>"
                                       "all</td><td class=mono>127.70.200.3 <small>(h)</small>"
                                       "</td>"));
    ck_assert_ptr_nonnull(strstr(html, "<span class=k-node>node</span> alert 70 "
                                       "protocol_version &mdash; 1 finding"));
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
    ck_assert_ptr_nonnull(strstr(html, "<div class=hm data-host=\"&lt;script&gt;alert(1)&lt;"
                                       "/script&gt;.test\"><h3>&lt;script&gt;alert(1)&lt;/script"
                                       "&gt;.test:8443 <span"));
    ck_assert_ptr_nonnull(strstr(html, "<tr><td class=mono>&lt;script&gt;alert(1)&lt;/script&gt;"
                                       ".test:8443</td><td class=var>all</td>"));
    /* The repro quotes the name for the shell; the quotes are escaped too. */
    ck_assert_ptr_nonnull(
        strstr(html, "-servername &#39;&lt;script&gt;alert(1)&lt;/script&gt;.test&#39;"));
    /* Every copy escaped: the heat map's data-host and heading, the host
     * cells of the node and cert findings, -servername in both repros,
     * -verify_hostname in the cert repro. */
    ck_assert_uint_eq(count(html, esc), 7);
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

/* Runs headless Chromium on url with one more flag (--screenshot=PNG or
 * --dump-dom) and the window size; its stdout and stderr go to log. No
 * network: the page is self-contained, and these flags keep the browser
 * from reaching out on its own. Returns the exit status. */
static int chromium(const char *dir, const char *url, const char *mode, const char *size,
                    const char *log)
{
    char *profile = path_in(dir, "profile"), *datadir, *window;
    ck_assert(asprintf(&datadir, "--user-data-dir=%s", profile) > 0);
    ck_assert(asprintf(&window, "--window-size=%s", size) > 0);
    const char *argv[] = {CHROMIUM,
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-quic",
                          "--no-first-run",
                          "--disable-background-networking",
                          "--disable-component-update",
                          "--disable-sync",
                          "--allow-file-access-from-files",
                          "--hide-scrollbars",
                          datadir,
                          window,
                          mode,
                          url,
                          NULL};
    int status = run_logged(argv, log, 90000);
    free(window);
    free(datadir);
    free(profile);
    return status;
}

/* With ES_HTML_SHOTS=DIR set, keeps a copy of png as DIR/name to look at. */
static void keep_shot(const char *png, const char *name)
{
    const char *keep = getenv("ES_HTML_SHOTS");
    if (!keep || !*keep)
        return;
    size_t len;
    char *data = tl_read_file(png, &len);
    char *to;
    ck_assert(asprintf(&to, "%s/%s", keep, name) > 0);
    FILE *f = fopen(to, "wb");
    ck_assert_msg(f && fwrite(data, 1, len, f) == len && fclose(f) == 0, "cannot write %s", to);
    free(to);
    free(data);
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

/* The stats png_stats_py prints about a PNG. */
struct png_stats {
    unsigned long w, h, colours, red, green, amber, nonwhite;
};

static struct png_stats png_stats(const char *dir, const char *png)
{
    char *script = tl_write_file(dir, "png_stats.py", png_stats_py);
    char *out = path_in(dir, "stats.txt");
    const char *py[] = {"python3", script, png, NULL};
    int status = run_logged(py, out, 120000);
    char *text = tl_read_file(out, NULL);
    ck_assert_msg(status == 0, "python3 exited %d: %s", status, text ? text : "");
    struct png_stats st;
    ck_assert_msg(sscanf(text, "%lu %lu %lu %lu %lu %lu %lu", &st.w, &st.h, &st.colours, &st.red,
                         &st.green, &st.amber, &st.nonwhite) == 7,
                  "stats: %s", text);
    free(text);
    free(out);
    free(script);
    return st;
}

/* Screenshots url at size ("W,H") into dir/name; asserts that a real PNG
 * came out. Returns its malloc'd path. */
static char *screenshot(const char *dir, const char *url, const char *size, const char *name)
{
    char *png = path_in(dir, name), *log = path_in(dir, "chromium.log"), *shot;
    ck_assert(asprintf(&shot, "--screenshot=%s", png) > 0);
    int status = chromium(dir, url, shot, size, log);
    char *text = tl_read_file(log, NULL);
    size_t len = 0;
    char *image = tl_read_file(png, &len);
    ck_assert_msg(status == 0 && image && len > 1000, "chromium exited %d, %zu-byte PNG: %s",
                  status, len, text ? text : "");
    keep_shot(png, name);
    free(image);
    free(text);
    free(shot);
    free(log);
    return png;
}

/* The lab's page, first screen: the overview's matrices show the TLS 1.2
 * node red on TLS 1.3 and green on TLS 1.2, the expired node amber. */
START_TEST(test_screenshot)
{
    char *dir = tl_tmpdir(), *url;
    ck_assert(asprintf(&url, "file://%s", html_path) > 0);
    char *png = screenshot(dir, url, "1200,900", "lab.png");
    struct png_stats st = png_stats(dir, png);
    ck_assert_uint_eq(st.w, 1200);
    ck_assert_uint_eq(st.h, 900);
    /* Text, table rules and cells: many colours, a fair share of ink. */
    ck_assert_msg(st.colours > 50, "%lu colours", st.colours);
    ck_assert_msg(st.nonwhite > st.w * st.h / 50, "%lu non-white pixels", st.nonwhite);
    /* Cells are some 45 x 22 pixels. Red: 127.70.200.2 on TLS 1.3 (edges
     * matrix). Green: 127.70.200.2 on TLS 1.2 and the resolver's lookups.
     * Amber: 127.70.200.3 on both variants, and the resolver on TLS 1.2
     * (one of three edges does not verify). */
    ck_assert_msg(st.red > 500, "%lu red pixels", st.red);
    ck_assert_msg(st.green > 2 * 500, "%lu green pixels", st.green);
    ck_assert_msg(st.amber > 3 * 500, "%lu amber pixels", st.amber);
    free(url);
    free(png);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

/* The text between the first `from` and the next `to` after it (malloc'd). */
static char *between(const char *text, const char *from, const char *to)
{
    const char *a = strstr(text, from);
    ck_assert_msg(a != NULL, "'%s' not found", from);
    a += strlen(from);
    const char *b = strstr(a, to);
    ck_assert_msg(b != NULL, "'%s' not found after '%s'", to, from);
    return strndup(a, (size_t)(b - a));
}

/* ---- fleet findings and baseline changes, through the module's API ---- */

/* A scan where 127.0.0.2 refuses for a.test, b.test and c.test (via us):
 * three `region` findings; and --http-check got a 525 from 127.0.0.1 for
 * a.test (an `http` finding, and the cells show it). */
static const char small_scan[] =
    "host,port,ip,resolver,variant,status,error,verify,http_status\n"
    "a.test,443,127.0.0.1,eu,tls1.3/h2/sni,ok,,ok,525\n"
    "a.test,443,127.0.0.2,us,tls1.3/h2/sni,connect_error,connection_refused,,\n"
    "b.test,443,127.0.0.1,eu,tls1.3/h2/sni,ok,,ok,200\n"
    "b.test,443,127.0.0.2,us,tls1.3/h2/sni,connect_error,connection_refused,,\n"
    "c.test,443,127.0.0.1,eu,tls1.3/h2/sni,ok,,ok,200\n"
    "c.test,443,127.0.0.2,us,tls1.3/h2/sni,connect_error,connection_refused,,\n";

/* The page with a fleet finding made here as report.h describes it (host
 * "*", fleet, hosts_failing of hosts_total, sample_hosts) and baseline
 * changes. Loop 1: the fleet finding has port 0 (its hosts' ports differ),
 * so its sample hosts are bare names: still one map each, at their port. */
START_TEST(test_fleet_finding_page)
{
    char *dir = tl_tmpdir();
    char *path = tl_write_file(dir, "scan.csv", small_scan);
    struct es_report_input in;
    struct es_findings fs = {0};
    char err[256];
    es_report_input_init(&in, 3);
    in.by_host = true; /* the three host findings, which the report's own fleet finding folds */
    const char *files[] = {path};
    ck_assert_int_eq(es_report_read(&in, files, 1, false, &fs, err, sizeof err), 0);
    es_report_judge(&in, &fs);
    /* keep the host findings (unfolded): the fleet finding below is made here */
    size_t kept = 0, http = 0;
    for (size_t i = 0; i < fs.n; i++) {
        if (fs.v[i].kind == ES_FINDING_HTTP) { /* checked here, then left out */
            ck_assert_str_eq(fs.v[i].host, "a.test");
            ck_assert_str_eq(fs.v[i].failure, "http 525");
            ck_assert_str_eq(fs.v[i].failing_ips, "127.0.0.1");
            http++;
        }
        if (fs.v[i].fleet || fs.v[i].kind == ES_FINDING_HTTP) {
            es_finding_release(&fs.v[i]);
            continue;
        }
        fs.v[i].folded = false;
        fs.v[kept++] = fs.v[i];
    }
    fs.n = kept;
    ck_assert_uint_eq(http, 1);
    ck_assert_uint_eq(fs.n, 3);
    /* all of them, then the fleet finding (shallow copies) */
    struct es_finding *v = calloc(fs.n + 1, sizeof *v);
    memcpy(v, fs.v, fs.n * sizeof *v);
    for (size_t i = 0; i < fs.n; i++)
        v[i].change = i ? "persisting" : "fixed";
    char failure[] = "connection_refused", ips[] = "127.0.0.2", res[] = "us", empty[] = "",
         explain[] = "nothing listens on the node <b>",
         repro[] = "openssl s_client -connect "
                   "127.0.0.2:443 </dev/null",
         samples[] = "c.test;<i>x</i>.test;a.test";
    v[fs.n] = (struct es_finding){.kind = ES_FINDING_NODE,
                                  .host = "*",
                                  .port = 443,
                                  .variant = "",
                                  .failure = failure,
                                  .failing_ips = ips,
                                  .passing_ips = empty,
                                  .failing_resolvers = res,
                                  .passing_resolvers = empty,
                                  .failed = 3,
                                  .attempts = 3,
                                  .explain = explain,
                                  .repro = repro,
                                  .failing_vantages = empty,
                                  .passing_vantages = empty,
                                  .fleet = true,
                                  .hosts_failing = 3,
                                  .hosts_total = 3,
                                  .sample_hosts = samples,
                                  .change = "new"};
    struct es_findings all = {v, fs.n + 1, fs.n + 1};
    if (_i == 1) /* hosts on different ports: samples are names without one */
        v[fs.n].port = 0;
    char *html = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&html, &len);
    ck_assert_int_eq(es_report_write_html(f, &in, &all), 0);
    ck_assert_int_eq(fclose(f), 0);
    assert_inert(html);
    /* counts: the fleet row, and the changes */
    char want[160];
    /* the fixed one is counted as fixed only */
    ck_assert_ptr_nonnull(strstr(html,
                                 "<p><b>1 fleet finding</b> covering 3 host failures; <b>2 host "
                                 "findings</b>.</p>"));
    snprintf(want, sizeof want, "<p>Since the baseline: <b>1 new</b>, %zu persisting, 1 fixed.</p>",
             fs.n - 1);
    ck_assert_msg(strstr(html, want), "want %s", want);
    /* the host findings are `region` (us reaches only the bad node) */
    ck_assert_ptr_nonnull(strstr(html, "<th class=k-region>region</th><th class=k-node>node</th>"
                                       "<th>total</th></tr>\n<tr><th>fleet</th><td class=n>0</td>"
                                       "<td class=n>1</td><td class=n>1</td></tr>\n<tr><th>host"
                                       "</th><td class=n>2</td><td class=n>0</td><td class=n>2"
                                       "</td></tr>"));
    /* the fleet finding, before the host findings */
    char *fleet = between(html, "<section id=fleet>", "</section>");
    ck_assert_ptr_nonnull(strstr(fleet, "<h2>Fleet findings (1)</h2>"));
    ck_assert_ptr_nonnull(strstr(fleet, "<tr><td class=k-node>node <small>(new)</small></td>"
                                        "<td class=mono>127.0.0.2</td><td class=var>all</td>"
                                        "<td>connection_refused</td><td class=n>3 of 3</td>"
                                        "<td>us</td><td class=mono>c.test<br>&lt;i&gt;x&lt;/i&gt;"
                                        ".test<br>a.test</td><td>nothing listens on the node "
                                        "&lt;b&gt;</td><td><code>openssl s_client -connect "
                                        "127.0.0.2:443 &lt;/dev/null</code></td></tr>"));
    free(fleet);
    /* heat maps: the sample hosts first, in their order; b.test after */
    char *heat = between(html, "<section id=heat>", "</section>");
    const char *c = strstr(heat, "<div class=hm data-host=\"c.test\">");
    const char *x = strstr(heat, "<div class=hm data-host=\"&lt;i&gt;x&lt;/i&gt;.test\">");
    const char *a = strstr(heat, "<div class=hm data-host=\"a.test\">");
    const char *bb = strstr(heat, "<div class=hm data-host=\"b.test\">");
    ck_assert(c && x && a && bb && c < x && x < a && a < bb);
    ck_assert_ptr_nonnull(strstr(x, "<p>No probe rows for this host in the files.</p>"));
    ck_assert_ptr_nonnull(strstr(heat, "(4 of 4)</h2>"));
    ck_assert_uint_eq(count(heat, "<div class=hm "), 4);
    ck_assert_ptr_nonnull(strstr(c, "<h3>c.test:443 "));
    /* the 525: blue in a.test's map, and in the edges matrix (1 host of 3) */
    char *amap = between(a, "<table class=heat>", "</table>");
    ck_assert_ptr_nonnull(strstr(amap, "<td class=\"c http\" title=\"127.0.0.1 via eu, "
                                       "tls1.3/h2/sni: 1 of 1 failed; http check: status 525 "
                                       "(1)\">http</td>"));
    free(amap);
    char *row = between(html, "<tr data-ip=\"127.0.0.1\">", "</tr>");
    ck_assert_ptr_nonnull(strstr(row, "<td class=n>1 of 3</td><td class=\"c http\""));
    free(row);
    free(heat);
    free(html);
    free(v);
    es_findings_free(&fs);
    es_report_input_free(&in);
    tl_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* ---- a 20,000-host fleet (DESIGN §3.3, issue 11), generated ---- */

enum { FLEET_HOSTS = 20000, FLEET_POOL = 20 /* edges per region */, NBAD = 4 };
static const char *const fleet_res[3] = {"eu", "us", "ap"};
static const int per_region[3] = {2, 1, 1}; /* edges each region returns: 4 per host */
static const char *const bad_kind[NBAD] = {"refuse", "tls12", "expired", "alpn"};
/* in label order, as the page orders its columns */
static const char *const fleet_var[2] = {"tls1.2/h2,http1.1/sni", "tls1.3/h2/sni"};

static struct {
    char *dir, *csv, *html, *findings;
    int bad_edge[NBAD];
    uint64_t bad_hosts[NBAD]; /* hosts each bad node serves */
    int h2_host[8], h2_edge[8];
    size_t nh2;
} fl;

/* Edge e: 127.240.1.(e+1); region e % 3; the k-th edge of region r is 3k + r. */
static void edge_ip(int e, char buf[32])
{
    snprintf(buf, 32, "127.240.%d.%d", 1 + e / 250, 1 + e % 250);
}

static int host_edge(int h, int r, int j)
{
    unsigned start = ((unsigned)h * 2654435761u + (unsigned)r * 40503u) % FLEET_POOL;
    return (int)((start + (unsigned)j) % FLEET_POOL) * 3 + r;
}

static int bad_index(int e)
{
    for (int i = 0; i < NBAD; i++)
        if (fl.bad_edge[i] == e)
            return i;
    return -1;
}

/* ap answers NXDOMAIN for these 10 hosts */
static bool dns_fails(int h)
{
    return h % 2000 == 7;
}

/* These hosts' HTTP/2 breaks behind their healthy us edge (host config). */
static bool h2_fails(int h, int r, int j)
{
    return h % 5000 == 11 && r == 1 && j == 0 && bad_index(host_edge(h, r, j)) < 0;
}

/* One attempt per key: 20,000 hosts x 4 edges x 2 variants (159,990 rows:
 * the 10 hosts that ap does not resolve have one dns_error row instead). */
static void fleet_write_csv(const char *path)
{
    for (int i = 0; i < NBAD; i++)
        fl.bad_edge[i] = ((i * 7 + 3) % FLEET_POOL) * 3 + i % 3;
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("host,port,ip,resolver,sni,variant,tls_offered,alpn_offered,attempt,status,error,"
          "alert,alert_name,alert_from,stage,alpn,verify,cert_sha256,h2\n",
          f);
    static const char *const tls[2] = {"1.2", "1.3"}, *const alpn[2] = {"\"h2,http/1.1\"", "h2"};
    for (int h = 0; h < FLEET_HOSTS; h++) {
        char name[32];
        snprintf(name, sizeof name, "h%05d.fleet.test", h);
        for (int r = 0; r < 3; r++) {
            if (r == 2 && dns_fails(h)) {
                fprintf(f, "%s,8443,,ap,,,,,,dns_error,nxdomain,,,,,,,,\n", name);
                continue;
            }
            for (int j = 0; j < per_region[r]; j++) {
                int e = host_edge(h, r, j), bad = bad_index(e);
                char ip[32];
                edge_ip(e, ip);
                if (bad >= 0)
                    fl.bad_hosts[bad]++;
                if (h2_fails(h, r, j)) {
                    ck_assert_uint_lt(fl.nh2, 8);
                    fl.h2_host[fl.nh2] = h;
                    fl.h2_edge[fl.nh2++] = e;
                }
                for (int v = 0; v < 2; v++) {
                    fprintf(f, "%s,8443,%s,%s,%s,\"%s\",%s,%s,1,", name, ip, fleet_res[r], name,
                            fleet_var[v], tls[v], alpn[v]);
                    const char *kind = bad >= 0 ? bad_kind[bad] : "";
                    if (!strcmp(kind, "refuse"))
                        fputs("connect_error,connection_refused,,,,connect,,,,\n", f);
                    else if (!strcmp(kind, "tls12") && v == 1)
                        fputs("alert,,70,protocol_version,peer,server_hello,,,,\n", f);
                    else if (!strcmp(kind, "alpn") && v == 1)
                        fputs("alert,,120,no_application_protocol,peer,server_hello,,,,\n", f);
                    else if (!strcmp(kind, "alpn"))
                        fputs("ok,,,,,finished,http/1.1,ok,aa,\n", f);
                    else
                        fprintf(f, "ok,,,,,finished,h2,%s,%s,%s\n",
                                strcmp(kind, "expired") ? "ok" : "expired",
                                strcmp(kind, "expired") ? "aa" : "bb",
                                h2_fails(h, r, j) ? "goaway_2" : "ok");
                }
            }
        }
    }
    ck_assert_int_eq(fclose(f), 0);
}

static void fleet_setup(void)
{
    fl.dir = tl_tmpdir();
    fl.csv = path_in(fl.dir, "fleet.csv");
    fl.html = path_in(fl.dir, "fleet.html");
    fl.findings = path_in(fl.dir, "findings.csv");
    fleet_write_csv(fl.csv);
    ck_assert_uint_ge(fl.nh2, 2);
    /* --by-host: the host findings that fleet findings fold are listed too,
     * so that the page has thousands of them to group and cap */
    const char *ah[] = {"report", "--format", "html", "--by-host", "-o", fl.html, fl.csv, NULL};
    char *herr;
    int hstatus = tl_run(ah, NULL, NULL, &herr, 60000);
    ck_assert_msg(hstatus == 0, "report exited %d: %s", hstatus, herr);
    free(herr);
    const char *argv[] = {"report", "--format",  "csv",  "--by-host",
                          "-o",     fl.findings, fl.csv, NULL};
    char *err;
    int status = tl_run(argv, NULL, NULL, &err, 60000);
    ck_assert_msg(status == 0, "report exited %d: %s", status, err);
    free(err);
}

static void fleet_teardown(void)
{
    tl_rmtree(fl.dir);
    free(fl.dir);
    free(fl.csv);
    free(fl.html);
    free(fl.findings);
}

/* "1,234" -> 1234 */
static uint64_t parse_num(const char *s)
{
    uint64_t n = 0;
    for (; (*s >= '0' && *s <= '9') || *s == ','; s++)
        if (*s != ',')
            n = n * 10 + (uint64_t)(*s - '0');
    return n;
}

/* Size, the order of the sections, escaping. */
START_TEST(test_fleet_page)
{
    size_t len;
    char *html = tl_read_file(fl.html, &len);
    ck_assert_ptr_nonnull(html);
    ck_assert_msg(len <= 5 * 1000 * 1000, "%zu bytes", len);
    assert_inert(html);
    const char *ids[] = {"<section id=overview>", "<section id=fleet>", "<section id=hosts>",
                         "<section id=heat>", OWN_SCRIPT};
    const char *at = html;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *p = strstr(html, ids[i]);
        ck_assert_msg(p && p > at, "%s missing or out of order", ids[i]);
        ck_assert_uint_eq(count(html, ids[i]), 1);
        at = p;
    }
    /* The overview opens the page: only the title, a line and the nav before it. */
    ck_assert_uint_lt(
        (size_t)(strstr(html, "<section id=overview>") - strstr(html, "<h1>edgeshake report</h1>")),
        700);
    ck_assert_ptr_nonnull(strstr(html, "<p>1 file, 159,990 rows, 20,000 hosts, 60 edges.</p>"));
    free(html);
}
END_TEST

/* 20000 -> "20,000" */
static const char *fmt_count(uint64_t n, char buf[32])
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)n), w = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            buf[w++] = ',';
        buf[w++] = tmp[i];
    }
    buf[w] = '\0';
    return buf;
}

/* The distinct edges behind which h2 broke. */
static size_t h2_edges(void)
{
    size_t n = 0;
    for (size_t i = 0; i < fl.nh2; i++) {
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            dup |= fl.h2_edge[k] == fl.h2_edge[i];
        n += !dup;
    }
    return n;
}

/* The edges matrix lists exactly the failing nodes, under their regions,
 * each cell the share of the node's probes that failed, with the hosts it
 * serves; the h2 failures are there too, violet. */
START_TEST(test_fleet_edges_matrix)
{
    char *html = tl_read_file(fl.html, NULL);
    char *m = between(html, "<table class=m id=ipm>", "</table>");
    ck_assert_uint_eq(count(m, "<tr data-ip="), NBAD + h2_edges());
    static const char red[] = "<td class=c style=\"background:hsl(0,65%,45%)\"";
    static const char ok[] = "<td class=\"c ok\"", vf[] = "<td class=\"c vf\"";
    const char *cells[NBAD][2] = {{red, red}, {ok, red}, {vf, vf}, {ok, red}};
    for (int i = 0; i < NBAD; i++) {
        char ip[32], from[64], hosts[96], b[32];
        edge_ip(fl.bad_edge[i], ip);
        snprintf(from, sizeof from, "<tr data-ip=\"%s\">", ip);
        char *row = between(m, from, "</tr>");
        fmt_count(fl.bad_hosts[i], b);
        snprintf(hosts, sizeof hosts, "<td class=n>%s of %s</td>", b, b);
        ck_assert_msg(strstr(row, hosts), "%s (%s): want %s in %s", ip, bad_kind[i], hosts, row);
        const char *p = strstr(row, hosts) + strlen(hosts);
        for (int v = 0; v < 2; v++) {
            ck_assert_msg(!strncmp(p, cells[i][v], strlen(cells[i][v])), "%s (%s) %s: %.80s", ip,
                          bad_kind[i], fleet_var[v], p);
            const char *text = strchr(p, '>') + 1, *end = strstr(text, "</td>");
            ck_assert_msg(!strncmp(text, cells[i][v] == ok ? "</td>" : "100%</td>",
                                   cells[i][v] == ok ? 5 : 9),
                          "%s %s: %.80s", ip, fleet_var[v], text);
            p = end + 5;
        }
        /* under the heading of its region (bad node i is in region i % 3) */
        const char *rg = m, *last = NULL;
        while ((rg = strstr(rg, "<tr class=rg>")) != NULL && rg < strstr(m, from))
            last = rg++;
        ck_assert_ptr_nonnull(last);
        char head[64];
        snprintf(head, sizeof head, "<tr class=rg><th colspan=4>region %s: ", fleet_res[i % 3]);
        ck_assert_msg(!strncmp(last, head, strlen(head)), "%s is under %.60s", ip, last);
        free(row);
    }
    ck_assert_ptr_nonnull(strstr(m, "region eu: 2 of 20 edges failing"));
    ck_assert_ptr_nonnull(strstr(m, "region ap: 1 of 20 edges failing"));
    char want[64];
    snprintf(want, sizeof want, "region us: %zu of 20 edges failing", 1 + h2_edges());
    ck_assert_ptr_nonnull(strstr(m, want));
    /* each h2 edge: failing for its one host, violet on both variants */
    for (size_t i = 0; i < fl.nh2; i++) {
        char ip[32], from[64];
        edge_ip(fl.h2_edge[i], ip);
        snprintf(from, sizeof from, "<tr data-ip=\"%s\">", ip);
        char *row = between(m, from, "</tr>");
        ck_assert_uint_eq(count(row, "<td class=\"c h2\""), 2);
        ck_assert_uint_eq(count(row, "c ok"), 0);
        ck_assert_ptr_nonnull(strstr(row, "h2 check: goaway_2"));
        free(row);
    }
    free(m);
    free(html);
}
END_TEST

/* The resolvers matrix: 20,000 hosts through each; ap's 10 NXDOMAINs count. */
START_TEST(test_fleet_resolver_matrix)
{
    char *html = tl_read_file(fl.html, NULL);
    char *m = between(html, "<table class=m id=resm>", "</table>");
    for (int r = 0; r < 3; r++) {
        char from[64];
        snprintf(from, sizeof from, "<tr data-resolver=\"%s\">", fleet_res[r]);
        char *row = between(m, from, "</tr>");
        ck_assert_ptr_nonnull(strstr(row, "<td class=n>20,000</td>"));
        /* lookups: 10 failed of 20,000 hosts for ap; none elsewhere */
        if (r == 2)
            ck_assert_ptr_nonnull(strstr(row, ": 10 of 20,000 failed; lookup: nxdomain (10)\">"
                                              "&lt;1%</td>"));
        else
            ck_assert_ptr_nonnull(strstr(row, "<td class=\"c ok\" title=\"lookups through"));
        /* every variant lost probes to a bad node in every region */
        ck_assert_uint_eq(count(row, "c ok"), r == 2 ? 0 : 1);
        free(row);
    }
    free(m);
    free(html);
}
END_TEST

/* Host findings: every group says how many it holds and how many it left
 * out, and the numbers add up to the findings of the CSV format; the heat
 * maps likewise. */
START_TEST(test_fleet_caps)
{
    char *html = tl_read_file(fl.html, NULL), *csv = tl_read_file(fl.findings, NULL);
    struct tl_table t;
    tl_table_parse(&t, csv);
    uint64_t host_findings = 0;
    size_t nhosts = 0;
    char **hosts = calloc(t.nrows + 1, sizeof *hosts);
    for (size_t r = 0; r < t.nrows; r++) {
        if (!strcmp(tl_cell(&t, r, "host"), "*"))
            continue;
        host_findings++;
        bool seen = false;
        for (size_t k = nhosts; k-- > 0 && !seen;)
            seen = !strcmp(hosts[k], tl_cell(&t, r, "host"));
        if (!seen)
            hosts[nhosts++] = strdup(tl_cell(&t, r, "host"));
    }
    ck_assert_uint_gt(host_findings, 1000);
    char *sec = between(html, "<section id=hosts>", "</section>");
    char want[96], b[32];
    snprintf(want, sizeof want, "<h2>Host findings (%s)</h2>", fmt_count(host_findings, b));
    ck_assert_msg(strstr(sec, want), "want %s", want);
    uint64_t listed = count(sec, "<tr><td class=mono>"), left = 0, groups = 0;
    for (const char *p = sec; (p = strstr(p, "<details class=grp")) != NULL; p++) {
        groups++;
        char *g = between(p, "<summary>", "</details>");
        uint64_t n = parse_num(strstr(g, "&mdash; ") + strlen("&mdash; "));
        uint64_t rows = count(g, "<tr><td class=mono>");
        const char *cap = strstr(g, "<p class=cap>");
        uint64_t out = cap ? parse_num(cap + strlen("<p class=cap>")) : 0;
        ck_assert_msg(rows + out == n, "group of %llu: %llu listed + %llu left out: %.200s",
                      (unsigned long long)n, (unsigned long long)rows, (unsigned long long)out, g);
        ck_assert_msg(!cap || (strstr(cap, "more findings of this group left out") &&
                               strstr(cap, "edgeshake report --by-host --format csv")),
                      "%.200s", cap);
        /* small groups are listed whole: the 10 DNS and the h2 findings */
        if (n <= 100)
            ck_assert_uint_eq(out, 0);
        left += out;
        free(g);
    }
    ck_assert_uint_ge(groups, 5);
    ck_assert_uint_eq(listed + left, host_findings);
    ck_assert_uint_le(listed, 3000);
    snprintf(want, sizeof want, "In all, %s host findings are left out", fmt_count(left, b));
    ck_assert_msg(strstr(sec, want), "want %s", want);
    ck_assert(strstr(sec, "in all): <code>edgeshake report --by-host --format csv</code> lists "
                          "them"));
    free(sec);
    /* heat maps: 100 of the hosts with findings, the rest counted */
    sec = between(html, "<section id=heat>", "</section>");
    char b2[32];
    snprintf(want, sizeof want, "(100 of %s)</h2>", fmt_count(nhosts, b));
    ck_assert_msg(strstr(sec, want), "want %s", want);
    ck_assert_uint_eq(count(sec, "<div class=hm "), 100);
    snprintf(want, sizeof want, "Heat maps of %s more hosts with findings left out",
             fmt_count(nhosts - 100, b2));
    ck_assert_msg(strstr(sec, want), "want %s", want);
    ck_assert(strstr(sec, " left out: <code>edgeshake report --by-host --format csv</code>"));
    free(sec);
    for (size_t k = 0; k < nhosts; k++)
        free(hosts[k]);
    free(hosts);
    tl_table_free(&t); /* and csv */
    free(html);
}
END_TEST

/* Heat maps: one for a DNS host and every h2 host (each group gets a map
 * before any gets a second), failures never green, columns in one order. */
START_TEST(test_fleet_heat_maps)
{
    char *html = tl_read_file(fl.html, NULL);
    char *sec = between(html, "<section id=heat>", "</section>");
    for (size_t i = 0; i < fl.nh2; i++) {
        char from[96], ip[32], cell[96];
        snprintf(from, sizeof from, "<div class=hm data-host=\"h%05d.fleet.test\">", fl.h2_host[i]);
        char *map = between(sec, from, "</div>");
        edge_ip(fl.h2_edge[i], ip);
        for (int v = 0; v < 2; v++) {
            snprintf(cell, sizeof cell, "title=\"%s via us, %s: 1 of 1 failed; h2 check: goaway_2",
                     ip, fleet_var[v]);
            const char *p = strstr(map, cell);
            ck_assert_msg(p, "h%05d: want %s in %s", fl.h2_host[i], cell, map);
            ck_assert_msg(!strncmp(p - strlen("<td class=\"c h2\" "), "<td class=\"c h2\" ",
                                   strlen("<td class=\"c h2\" ")),
                          "%.60s", p - 20);
        }
        free(map);
    }
    /* a host that ap does not resolve: a lookup column under ap */
    bool dns_map = false;
    for (int h = 7; h < FLEET_HOSTS; h += 2000) {
        char from[96];
        snprintf(from, sizeof from, "<div class=hm data-host=\"h%05d.fleet.test\">", h);
        if (!strstr(sec, from))
            continue;
        char *map = between(sec, from, "</div>");
        ck_assert_ptr_nonnull(strstr(map, "<th class=ip>lookup</th>"));
        ck_assert_uint_eq(count(map, "<td class=\"c dns\" title=\"lookup through ap: 1 of 1 "
                                     "failed; lookup: nxdomain (1)\">DNS</td>"),
                          2);
        dns_map = true;
        free(map);
    }
    ck_assert(dns_map);
    /* Columns: region (ap, eu, us), then address, on every map. */
    for (const char *p = sec; (p = strstr(p, "<div class=hm ")) != NULL; p++) {
        char *map = between(p, "<table class=heat>", "</table>");
        int last_region = -1, last_edge = -1;
        for (const char *q = map; (q = strstr(q, "<th class=ip>")) != NULL; q++) {
            q += strlen("<th class=ip>");
            int region, e;
            if (!strncmp(q, "lookup", 6)) {
                region = 0; /* ap */
                e = 1000;
            } else {
                unsigned x, y;
                ck_assert_int_eq(sscanf(q, "127.240.%u.%u", &x, &y), 2);
                e = (int)((x - 1) * 250 + y - 1);
                region = (int[]){1, 2, 0}[e % 3]; /* eu us ap -> rank in ap, eu, us */
            }
            ck_assert_msg(region > last_region || (region == last_region && e > last_edge),
                          "column order: %.200s", map);
            last_region = region;
            last_edge = e;
        }
        free(map);
    }
    free(sec);
    free(html);
}
END_TEST

/* Runs Chromium on a page that loads the report in a 1200 x 900 frame and
 * writes, per line: "ip IP TOP BOTTOM" for each row of the edges matrix,
 * "overview BOTTOM", "h2 RGB" / "dns RGB" for the computed background of
 * every heat-map cell whose title holds an h2 / lookup failure, and, after
 * typing h00011.fleet.test into the filter box, "filter ROWS OTHERS MAPS":
 * the finding rows left visible, those of them about another host, and the
 * heat maps left visible. */
static const char measure_html[] =
    "<!doctype html><html><body style=\"margin:0\">\n"
    "<iframe id=r src=\"fleet.html\" style=\"width:1200px;height:900px;border:0\"></iframe>\n"
    "<script>\n"
    "document.getElementById('r').addEventListener('load', function () {\n"
    "  var d = this.contentDocument, out = [];\n"
    "  d.querySelectorAll('#ipm tr[data-ip]').forEach(function (r) {\n"
    "    var b = r.getBoundingClientRect();\n"
    "    out.push('ip ' + r.dataset.ip + ' ' + Math.round(b.top) + ' ' + Math.round(b.bottom));\n"
    "  });\n"
    "  out.push('overview ' + "
    "Math.round(d.getElementById('overview').getBoundingClientRect().bottom));\n"
    "  d.querySelectorAll('.heat td.c').forEach(function (c) {\n"
    "    var bg = getComputedStyle(c).backgroundColor.replace(/ /g, '');\n"
    "    if (c.title.indexOf('h2 check') >= 0) out.push('h2 ' + bg);\n"
    "    if (c.title.indexOf('lookup:') >= 0) out.push('dns ' + bg);\n"
    "  });\n"
    /* the filter box: type a host, count what stays visible */
    "  var q = d.getElementById('q'); q.value = 'h00011.fleet.test';\n"
    "  q.dispatchEvent(new Event('input'));\n"
    "  var rows = 0, other = 0, maps = 0;\n"
    "  d.querySelectorAll('details.grp tbody tr').forEach(function (r) {\n"
    "    if (r.hidden || r.closest('details').hidden) return;\n"
    "    rows++; if (r.textContent.indexOf('h00011.fleet.test') < 0) other++;\n"
    "  });\n"
    "  d.querySelectorAll('.hm').forEach(function (h) { if (!h.hidden) maps++; });\n"
    "  out.push('filter ' + rows + ' ' + other + ' ' + maps);\n"
    "  var pre = document.createElement('pre'); pre.id = 'out';\n"
    "  pre.textContent = '\\n' + out.join('\\n') + '\\n'; document.body.appendChild(pre);\n"
    "});\n"
    "</script></body></html>\n";

/* Green, as a computed rgb(): the ok cells' colour, or anything where green
 * dominates. */
static bool greenish(const char *rgb)
{
    unsigned r, g, b;
    ck_assert_msg(sscanf(rgb, "rgb(%u,%u,%u)", &r, &g, &b) == 3, "colour %s", rgb);
    return g > r + 40 && g > b + 40;
}

START_TEST(test_fleet_browser)
{
    char *page = tl_write_file(fl.dir, "measure.html", measure_html);
    char *url, *log = path_in(fl.dir, "dom.txt");
    ck_assert(asprintf(&url, "file://%s", page) > 0);
    int status = chromium(fl.dir, url, "--dump-dom", "1200,900", log);
    char *dom = tl_read_file(log, NULL);
    ck_assert_msg(status == 0 && dom && strstr(dom, "<pre id=\"out\">"), "chromium exited %d: %s",
                  status, dom ? dom : "");
    char *out = between(dom, "<pre id=\"out\">", "</pre>");
    /* every bad node's row is on the first screen, and the whole overview */
    for (int i = 0; i < NBAD; i++) {
        char ip[32], want[64];
        edge_ip(fl.bad_edge[i], ip);
        snprintf(want, sizeof want, "\nip %s ", ip);
        const char *p = strstr(out, want);
        ck_assert_msg(p, "%s not in the matrix: %s", ip, out);
        int top, bottom;
        ck_assert_int_eq(sscanf(p + strlen(want), "%d %d", &top, &bottom), 2);
        ck_assert_msg(top > 0 && bottom <= 900, "%s at %d..%d px", ip, top, bottom);
    }
    const char *ov = strstr(out, "\noverview ");
    ck_assert_ptr_nonnull(ov);
    int bottom = atoi(ov + strlen("\noverview "));
    ck_assert_msg(bottom > 200 && bottom <= 900, "overview ends at %d px", bottom);
    /* h2 and DNS failures in the heat maps: painted, not green */
    size_t h2 = 0, dns = 0;
    for (const char *p = out; (p = strchr(p, '\n')) != NULL;) {
        p++;
        bool is_h2 = !strncmp(p, "h2 ", 3), is_dns = !strncmp(p, "dns ", 4);
        if (!is_h2 && !is_dns)
            continue;
        const char *rgb = strchr(p, ' ') + 1;
        ck_assert_msg(!greenish(rgb), "%.40s", p);
        h2 += is_h2;
        dns += is_dns;
    }
    ck_assert_uint_ge(h2, 2 * fl.nh2);
    ck_assert_uint_ge(dns, 2);
    /* filtering on h00011 leaves its findings and its heat map only */
    const char *fl_line = strstr(out, "\nfilter ");
    ck_assert_ptr_nonnull(fl_line);
    int rows, other, maps;
    ck_assert_int_eq(sscanf(fl_line, "\nfilter %d %d %d", &rows, &other, &maps), 3);
    ck_assert_msg(rows >= 1 && other == 0 && maps == 1, "filter: %d rows, %d others, %d maps", rows,
                  other, maps);
    free(out);
    free(dom);
    free(log);
    free(url);
    free(page);

    /* The first screen, for the eye (ES_HTML_SHOTS) and in numbers: the
     * red of the refusing node and the amber of the expired one. */
    ck_assert(asprintf(&url, "file://%s", fl.html) > 0);
    char *png = screenshot(fl.dir, url, "1200,900", "fleet.png");
    struct png_stats st = png_stats(fl.dir, png);
    ck_assert_uint_eq(st.h, 900);
    ck_assert_msg(st.red > 4 * 500, "%lu red pixels", st.red);
    ck_assert_msg(st.amber > 2 * 500, "%lu amber pixels", st.amber);
    ck_assert_msg(st.green > 4 * 500, "%lu green pixels", st.green);
    free(png);
    free(url);
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
    TCase *tm = tcase_create("model");
    tcase_add_loop_test(tm, test_fleet_finding_page, 0, 2);
    suite_add_tcase(s, tm);
    TCase *tf = tcase_create("fleet");
    tcase_add_unchecked_fixture(tf, fleet_setup, fleet_teardown);
    tcase_set_timeout(tf, 180);
    tcase_add_test(tf, test_fleet_page);
    tcase_add_test(tf, test_fleet_edges_matrix);
    tcase_add_test(tf, test_fleet_resolver_matrix);
    tcase_add_test(tf, test_fleet_caps);
    tcase_add_test(tf, test_fleet_heat_maps);
    if (browser)
        tcase_add_test(tf, test_fleet_browser);
    suite_add_tcase(s, tf);
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
