/* test_zstd.c - compressed scan files (DESIGN §3.1 `-o F.zst`, issue 14
 * item 3): the writer's zstd frames end on row boundaries (after a flush,
 * at 1 MiB, on the frame timer, on close), ENOSPC leaves whole frames,
 * the reader decodes .zst files and stdin and names truncated or corrupt
 * ones, and a scan written as .csv.zst / .jsonl.zst gives `report` exactly
 * the findings of the same rows uncompressed.
 *
 * Lab addresses: 127.63.0.0/16. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "edgeshake/scanread.h"
#include "edgeshake/util.h"
#include "edgeshake/writer.h"
#include "testlib.h"

static char *tmpdir;

static size_t lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void setup_dir(void)
{
    tmpdir = tl_tmpdir();
}

static void teardown_dir(void)
{
    tl_rmtree(tmpdir);
    free(tmpdir);
}

static char *tmp_path(const char *name)
{
    char *p;
    ck_assert(asprintf(&p, "%s/%s", tmpdir, name) > 0);
    return p;
}

/* The frames of a zstd file, each decompressed on its own. */
struct frames {
    char *text[64];
    size_t n;
    size_t bytes; /* compressed bytes that formed whole frames */
};

static void frames_read(struct frames *f, const char *path)
{
    size_t len;
    char *z = tl_read_file(path, &len);
    ck_assert_ptr_nonnull(z);
    memset(f, 0, sizeof *f);
    size_t off = 0;
    while (off < len) {
        size_t fs = ZSTD_findFrameCompressedSize(z + off, len - off);
        ck_assert_msg(!ZSTD_isError(fs), "%s: frame %zu at %zu: %s", path, f->n, off,
                      ZSTD_getErrorName(fs));
        ck_assert_uint_lt(f->n, 64);
        ZSTD_DCtx *d = ZSTD_createDCtx();
        ZSTD_inBuffer in = {z + off, fs, 0};
        struct es_sb b = {0};
        char buf[65536];
        size_t rc = 1;
        while (rc != 0) {
            ZSTD_outBuffer o = {buf, sizeof buf, 0};
            rc = ZSTD_decompressStream(d, &o, &in);
            ck_assert_msg(!ZSTD_isError(rc), "%s", ZSTD_getErrorName(rc));
            es_sb_addn(&b, buf, o.pos);
            ck_assert(rc == 0 || in.pos < in.size || o.pos == o.size);
        }
        ZSTD_freeDCtx(d);
        f->text[f->n++] = es_sb_take(&b);
        off += fs;
    }
    f->bytes = off;
    free(z);
}

static void frames_free(struct frames *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->text[i]);
    f->n = 0;
}

/* Every frame is whole rows: non-empty and ends with '\n'. */
static void frames_end_on_rows(const struct frames *f)
{
    for (size_t i = 0; i < f->n; i++) {
        size_t n = strlen(f->text[i]);
        ck_assert_msg(n > 0 && f->text[i][n - 1] == '\n', "frame %zu does not end a row", i);
    }
}

static char *frames_join(const struct frames *f)
{
    struct es_sb b = {0};
    for (size_t i = 0; i < f->n; i++)
        es_sb_add(&b, f->text[i]);
    return es_sb_take(&b);
}

/* A row with a distinct host; hostile subject so that rows are not tiny. */
static void add_row(struct es_rowbuf *b, struct es_rowbuf *all, int i)
{
    char host[32], sha[65];
    snprintf(host, sizeof host, "r%d.example.test", i);
    for (int k = 0; k < 64; k++)
        sha[k] = "0123456789abcdef"[(i * 7 + k * 13) % 16];
    sha[64] = '\0';
    struct es_row r;
    es_row_init(&r);
    r.time_ms = 1795430096789ull + (uint64_t)i;
    r.vantage = "eu";
    r.host = host;
    r.port = 443;
    r.ip = "192.0.2.7";
    r.family = 4;
    r.resolver = "eu;us";
    r.sni = host;
    r.variant = "tls1.3/h2/sni";
    r.tls_offered = "1.3";
    r.alpn_offered = "h2";
    r.attempt = 1;
    r.status = "ok";
    r.tls_version = "1.3";
    r.cipher = "TLS_AES_128_GCM_SHA256";
    r.kx_group = "X25519";
    r.alpn = "h2";
    r.verify = "ok";
    r.cert_sha256 = sha;
    r.cert_subject = "CN=a,\"b\"\nc";
    r.handshake_ms = 1.5 + i % 100;
    r.total_ms = 2.25 + i % 100;
    es_row_format(b, ES_FORMAT_CSV, &r);
    if (all)
        es_row_format(all, ES_FORMAT_CSV, &r);
}

START_TEST(test_names)
{
    ck_assert(es_writer_zstd_name("scan.csv.zst"));
    ck_assert(es_writer_zstd_name("out/SCAN.JSONL.ZST"));
    ck_assert(!es_writer_zstd_name("scan.csv"));
    ck_assert(!es_writer_zstd_name(".zst"));
    ck_assert(!es_writer_zstd_name("-"));
    ck_assert(!es_writer_zstd_name(NULL));
    ck_assert_int_eq(es_format_from_name("scan.jsonl.zst", NULL), ES_FORMAT_JSONL);
    ck_assert_int_eq(es_format_from_name("scan.NDJSON.zst", NULL), ES_FORMAT_JSONL);
    ck_assert_int_eq(es_format_from_name("scan.csv.zst", NULL), ES_FORMAT_CSV);
    ck_assert_int_eq(es_format_from_name("scan.zst", NULL), ES_FORMAT_CSV);
    ck_assert_int_eq(es_format_from_name("scan.jsonl.zst", "csv"), ES_FORMAT_CSV);
}
END_TEST

/* Header frame at open, one frame per flush, one at close. */
START_TEST(test_frames_on_flush)
{
    char *path = tmp_path("scan.csv.zst"), err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_rowbuf b = ES_ROWBUF_INIT, all = ES_ROWBUF_INIT;
    es_row_header(&all, ES_FORMAT_CSV);
    for (int i = 0; i < 5; i++)
        add_row(&b, &all, i);
    ck_assert_int_eq(es_writer_submit(w, &b), 0);
    ck_assert_int_eq(es_writer_flush(w), 0);
    ck_assert_uint_eq(es_writer_rows(w), 5);
    for (int i = 5; i < 8; i++)
        add_row(&b, &all, i);
    ck_assert_int_eq(es_writer_submit(w, &b), 0);
    uint64_t rows;
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), 0);
    ck_assert_uint_eq(rows, 8);
    struct frames f;
    frames_read(&f, path);
    ck_assert_uint_eq(f.n, 3);
    frames_end_on_rows(&f);
    ck_assert_uint_eq(lines(f.text[0]), 1); /* the header alone */
    char *joined = frames_join(&f);
    ck_assert_uint_eq(strlen(joined), all.len);
    ck_assert(memcmp(joined, all.data, all.len) == 0);
    free(joined);
    frames_free(&f);
    es_rowbuf_free(&b);
    es_rowbuf_free(&all);
    free(path);
}
END_TEST

/* More than 1 MiB of rows without a flush: several frames, each ending on a
 * row; the whole decodes to every row in order. */
START_TEST(test_frames_by_size)
{
    char *path = tmp_path("big.csv.zst"), err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_rowbuf b = ES_ROWBUF_INIT, all = ES_ROWBUF_INIT;
    es_row_header(&all, ES_FORMAT_CSV);
    int n = 0;
    while (all.len < 3 * 1024 * 1024 + 100000) {
        add_row(&b, &all, n++);
        if (n % 97 == 0)
            ck_assert_int_eq(es_writer_submit(w, &b), 0);
    }
    es_writer_submit(w, &b);
    uint64_t rows;
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), 0);
    ck_assert_uint_eq(rows, (uint64_t)n);
    struct frames f;
    frames_read(&f, path);
    ck_assert_uint_ge(f.n, 4); /* header + 3 full frames + the rest (or fewer on a slow
                                  machine where the frame timer ends some early: more) */
    frames_end_on_rows(&f);
    char *joined = frames_join(&f);
    ck_assert_uint_eq(strlen(joined), all.len);
    ck_assert(memcmp(joined, all.data, all.len) == 0);
    free(joined);
    frames_free(&f);
    es_rowbuf_free(&b);
    es_rowbuf_free(&all);
    free(path);
}
END_TEST

/* Rows handed over and neither flushed nor closed still reach the disk:
 * the frame timer ends the frame (within about a second). */
START_TEST(test_frame_timer)
{
    char *path = tmp_path("slow.csv.zst"), err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_rowbuf b = ES_ROWBUF_INIT;
    for (int i = 0; i < 3; i++)
        add_row(&b, NULL, i);
    ck_assert_int_eq(es_writer_submit(w, &b), 0);
    struct frames f = {0};
    for (int i = 0; i < 200 && f.n < 2; i++) {
        usleep(50000);
        frames_free(&f);
        frames_read(&f, path);
    }
    ck_assert_uint_eq(f.n, 2);
    ck_assert_uint_eq(lines(f.text[1]), 3);
    ck_assert_uint_eq(es_writer_rows(w), 3);
    frames_free(&f);
    ck_assert_int_eq(es_writer_close(w, NULL, err, sizeof err), 0);
    es_rowbuf_free(&b);
    free(path);
}
END_TEST

/* An injected write(2) that fails with ENOSPC after `budget` bytes. */
struct fake_disk {
    size_t budget;
};

static ssize_t fake_write(int fd, const void *buf, size_t n, void *ctx)
{
    struct fake_disk *d = ctx;
    if (d->budget == 0) {
        errno = ENOSPC;
        return -1;
    }
    size_t k = n < d->budget ? n : d->budget;
    ssize_t r = write(fd, buf, k);
    if (r > 0)
        d->budget -= (size_t)r;
    return r;
}

/* The disk fills in the middle of the third frame: the file is cut back to
 * the end of the second, decodes to the header and the first 5 rows, the
 * count says 5 and the error is sticky. */
START_TEST(test_enospc_whole_frames)
{
    char *path = tmp_path("full.csv.zst"), err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_rowbuf b = ES_ROWBUF_INIT, all = ES_ROWBUF_INIT;
    es_row_header(&all, ES_FORMAT_CSV);
    for (int i = 0; i < 5; i++)
        add_row(&b, &all, i);
    es_writer_submit(w, &b);
    ck_assert_int_eq(es_writer_flush(w), 0);
    size_t len;
    free(tl_read_file(path, &len));
    struct fake_disk d = {20}; /* 20 bytes of the next frame, then the disk is full */
    es_writer_set_write_fn(w, fake_write, &d);
    for (int i = 5; i < 200; i++)
        add_row(&b, NULL, i);
    es_writer_submit(w, &b);
    ck_assert_int_eq(es_writer_flush(w), -ENOSPC);
    ck_assert_uint_eq(es_writer_rows(w), 5);
    ck_assert_int_eq(es_writer_submit(w, &b), -ENOSPC);
    uint64_t rows;
    ck_assert_int_eq(es_writer_close(w, &rows, err, sizeof err), -ENOSPC);
    ck_assert_uint_eq(rows, 5);
    size_t len2;
    free(tl_read_file(path, &len2));
    ck_assert_uint_eq(len2, len); /* the 20 bytes were cut off again */
    struct frames f;
    frames_read(&f, path);
    ck_assert_uint_eq(f.n, 2);
    char *joined = frames_join(&f);
    ck_assert_uint_eq(strlen(joined), all.len);
    ck_assert(memcmp(joined, all.data, all.len) == 0);
    free(joined);
    frames_free(&f);
    es_rowbuf_free(&b);
    es_rowbuf_free(&all);
    free(path);
}
END_TEST

/* ---- reading ------------------------------------------------------------ */

static const char *const want_cols[] = {"host", "status"};
static const bool want_req[] = {true, true};

/* Writes n rows to path (.zst or not) through the writer. */
static void write_file(const char *path, int n)
{
    char err[256];
    struct es_writer *w = es_writer_open(path, ES_FORMAT_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    struct es_rowbuf b = ES_ROWBUF_INIT;
    for (int i = 0; i < n; i++) {
        add_row(&b, NULL, i);
        if (i % 50 == 49)
            es_writer_submit(w, &b);
    }
    es_writer_submit(w, &b);
    ck_assert_int_eq(es_writer_close(w, NULL, err, sizeof err), 0);
    es_rowbuf_free(&b);
}

/* Reads every record; returns the count; *err_out gets the first error. */
static int read_all(const char *path, char *err_out, size_t len)
{
    char err[512];
    err_out[0] = '\0';
    struct es_scanread *r = es_scanread_open(path, want_cols, want_req, 2, err, sizeof err);
    if (!r) {
        snprintf(err_out, len, "%s", err);
        return -1;
    }
    int n = 0, rc;
    while ((rc = es_scanread_next(r, err, sizeof err)) != 0) {
        if (rc < 0) {
            if (!err_out[0])
                snprintf(err_out, len, "%s", err);
            continue;
        }
        char want[32];
        snprintf(want, sizeof want, "r%d.example.test", n);
        ck_assert_str_eq(es_scanread_field(r, 0), want); /* whole rows, in order */
        ck_assert_str_eq(es_scanread_field(r, 1), "ok");
        n++;
    }
    es_scanread_close(r);
    return n;
}

START_TEST(test_read_zst)
{
    char *path = tmp_path("r.csv.zst"), err[512];
    write_file(path, 3000);
    ck_assert_int_eq(read_all(path, err, sizeof err), 3000);
    ck_assert_str_eq(err, "");
    /* the reader goes by the magic number, not the name */
    char *renamed = tmp_path("renamed.csv");
    ck_assert_int_eq(rename(path, renamed), 0);
    ck_assert_int_eq(read_all(renamed, err, sizeof err), 3000);
    free(renamed);
    free(path);
}
END_TEST

/* Cut inside the last frame: every record before the cut is whole, then one
 * error names the truncation. */
START_TEST(test_read_truncated)
{
    char *path = tmp_path("t.csv.zst"), err[512];
    write_file(path, 3000);
    size_t len;
    char *z = tl_read_file(path, &len);
    ck_assert_int_eq(truncate(path, (off_t)(len - 7)), 0);
    free(z);
    int n = read_all(path, err, sizeof err);
    ck_assert_int_ge(n, 0);
    ck_assert_int_lt(n, 3000);
    char want[600];
    snprintf(want, sizeof want, "%s:", path);
    ck_assert_msg(!strncmp(err, want, strlen(want)) &&
                      strstr(err, ": the zstd stream ends inside a frame (a truncated file)"),
                  "%s", err);
    free(path);
}
END_TEST

START_TEST(test_read_corrupt)
{
    char *path = tmp_path("c.csv.zst"), err[512];
    write_file(path, 3000);
    size_t len;
    char *z = tl_read_file(path, &len);
    for (size_t i = len / 2; i < len / 2 + 16; i++)
        z[i] ^= 0x5a;
    free(tl_write_file(tmpdir, "c.csv.zst", "")); /* truncate, then the corrupt bytes */
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(z, 1, len, f), len);
    fclose(f);
    free(z);
    int n = read_all(path, err, sizeof err);
    ck_assert_int_lt(n, 3000);
    ck_assert_msg(strstr(err, ": bad zstd data: "), "%s", err);
    /* only the magic number, nothing after it */
    free(tl_write_file(tmpdir, "m.zst", "\x28\xb5\x2f\xfd"));
    char *m = tmp_path("m.zst");
    ck_assert_int_eq(read_all(m, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "the zstd stream ends inside a frame"), "%s", err);
    free(m);
    free(path);
}
END_TEST

/* ---- through scan and report --------------------------------------------- */

static const char lab_spec[] = "# test_zstd: 127.63.0.0/16\n"
                               "resolver eu 127.63.53.1:5353\n"
                               "resolver us 127.63.53.2:5353\n"
                               "host z.zstd.test eu=127.63.1.1,127.63.1.2 us=127.63.1.3\n"
                               "host y.zstd.test eu=127.63.1.1 us=nxdomain\n"
                               "edge 127.63.1.1:8443 cert=z.zstd.test\n"
                               "edge 127.63.1.2:8443 cert=z.zstd.test tls=1.2\n"
                               "edge 127.63.1.3:8443 cert=z.zstd.test:expired\n";

static int scan_to(struct tl_lab *lab, const char *out)
{
    char ca[600];
    snprintf(ca, sizeof ca, "%s/ca.crt", lab->dir);
    const char *argv[] = {"scan",
                          "-r",
                          "eu=127.63.53.1:5353",
                          "-r",
                          "us=127.63.53.2:5353",
                          "--ca-file",
                          ca,
                          "-p",
                          "8443",
                          "--repeat",
                          "2",
                          "-q",
                          "-o",
                          out,
                          "z.zstd.test",
                          "y.zstd.test",
                          NULL};
    char *err;
    int st = tl_run(argv, NULL, NULL, &err, 30000);
    ck_assert_msg(st == 0, "scan -o %s: exit %d: %s", out, st, err);
    free(err);
    return st;
}

static char *report_csv(const char *file)
{
    const char *argv[] = {"report", "--format", "csv", file, NULL};
    char *out, *err;
    int st = tl_run(argv, NULL, &out, &err, 30000);
    ck_assert_msg(st == 0, "report %s: exit %d: %s", file, st, err);
    free(err);
    return out;
}

/* report - < FILE through the shell (stdin is binary here). */
static char *report_stdin(const char *file)
{
    char *cmd, *out = tmp_path("stdin.out");
    ck_assert(asprintf(&cmd, "'%s' report --format csv - < '%s' > '%s'", tl_bin(), file, out) > 0);
    ck_assert_int_eq(system(cmd), 0);
    char *text = tl_read_file(out, NULL);
    free(cmd);
    free(out);
    return text;
}

START_TEST(test_report_round_trip)
{
    struct tl_lab lab;
    tl_lab_start(&lab, lab_spec);
    char *csvz = tmp_path("scan.csv.zst"), *jsonz = tmp_path("scan.jsonl.zst");
    scan_to(&lab, csvz);
    scan_to(&lab, jsonz);
    ck_assert_int_eq(tl_lab_stop(&lab), 0);

    /* the same rows, decompressed by libzstd itself */
    struct frames f;
    frames_read(&f, csvz);
    frames_end_on_rows(&f);
    char *text = frames_join(&f);
    frames_free(&f);
    free(tl_write_file(tmpdir, "scan.csv", text));
    char *csv = tmp_path("scan.csv");
    ck_assert_uint_eq(lines(text), 1 + 3 * 2 * 2 + 1 * 2 * 2 + 1); /* header, probes, nxdomain */
    frames_read(&f, jsonz);
    char *jtext = frames_join(&f);
    frames_free(&f);
    ck_assert_uint_eq(lines(jtext), 3 * 2 * 2 + 1 * 2 * 2 + 1);
    ck_assert_int_eq(jtext[0], '{');

    char *plain = report_csv(csv), *fromz = report_csv(csvz), *fromj = report_csv(jsonz);
    char *fromstdin = report_stdin(csvz);
    ck_assert_msg(strstr(plain, "\nnode,z.zstd.test,") && strstr(plain, "verify expired"),
                  "the planted faults are not found: %s", plain);
    ck_assert_str_eq(fromz, plain);
    ck_assert_str_eq(fromstdin, plain);
    ck_assert_str_eq(fromj, plain); /* same lab, deterministic faults: same findings */
    free(plain);
    free(fromz);
    free(fromj);
    free(fromstdin);
    free(text);
    free(jtext);
    free(csv);
    free(csvz);
    free(jsonz);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("zstd");
    TCase *tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_frames_on_flush);
    tcase_add_test(tc, test_frames_by_size);
    tcase_add_test(tc, test_frame_timer);
    tcase_add_test(tc, test_enospc_whole_frames);
    suite_add_tcase(s, tc);
    tc = tcase_create("reader");
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_add_test(tc, test_read_zst);
    tcase_add_test(tc, test_read_truncated);
    tcase_add_test(tc, test_read_corrupt);
    suite_add_tcase(s, tc);
    tc = tcase_create("report");
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_report_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
