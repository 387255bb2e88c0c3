/* fuzz_scanread.c - the scan-file reader (scanread.h) and the report over it
 * (report.h: es_report_read, es_report_judge, es_report_write).
 *
 * The input is written to a file and read as a scan file (CSV or JSONL,
 * either possibly zstd-compressed),
 * first record by record, then by the report with and without skipping bad
 * rows; when the report reads it, its findings are judged and written as CSV
 * and HTML to /dev/null.
 *
 * Invariants: errors are one non-empty line naming the file; every wanted
 * field is a NUL-terminated string within the record cap; records and errors
 * together never outnumber the lines; findings are well-formed and can be
 * written. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <zstd.h>

#include "edgeshake/report.h"
#include "edgeshake/scanread.h"
#include "fuzzlib.h"

int es_fuzz_scanread(const uint8_t *data, size_t len);

static const char *const want[] = {"host",    "port",   "ip",    "resolver", "variant",
                                   "attempt", "status", "error", "verify",   "h2"};
static const bool required[] = {true, true, true, false, true, false, true, false, false, false};

/* Reads the file record by record; returns true when every record was good. */
static bool read_records(const char *path, size_t lines)
{
    char err[1024] = "";
    size_t nwant = sizeof want / sizeof want[0];
    struct es_scanread *r = es_scanread_open(path, want, required, nwant, err, sizeof err);
    if (!r) {
        FZ_CHECK(strncmp(err, path, strlen(path)) == 0 && strchr(err, '\n') == NULL);
        return false;
    }
    size_t nrec = 0, nbad = 0;
    int res;
    while ((res = es_scanread_next(r, err, sizeof err)) != 0) {
        if (res < 0) {
            FZ_CHECK(res == -1);
            FZ_CHECK(strncmp(err, path, strlen(path)) == 0 && strchr(err, '\n') == NULL);
            nbad++;
        } else {
            FZ_CHECK(res == 1);
            for (size_t i = 0; i < nwant; i++) {
                const char *f = es_scanread_field(r, i);
                FZ_CHECK(f != NULL && strlen(f) <= ES_SCANREAD_MAX_RECORD);
            }
            FZ_CHECK(es_scanread_line(r) >= 1 && es_scanread_line(r) <= lines);
            nrec++;
        }
        FZ_CHECK(nrec + nbad <= lines);
    }
    es_scanread_close(r);
    return nbad == 0;
}

/* Runs the report; returns es_report_read's result. */
static int report(const char *path, bool skip_bad)
{
    char err[1024] = "";
    struct es_report_input in;
    struct es_findings fs = {0};
    es_report_input_init(&in, 2);
    const char *files[] = {path};
    int rc = es_report_read(&in, files, 1, skip_bad, &fs, err, sizeof err);
    if (rc == 0) {
        es_report_judge(&in, &fs);
        for (size_t i = 0; i < fs.n; i++) {
            const struct es_finding *f = &fs.v[i];
            FZ_CHECK((unsigned)f->kind < ES_FINDING_NKINDS && f->host && f->variant);
            FZ_CHECK(f->failed <= f->attempts || f->kind == ES_FINDING_DNS);
        }
        FZ_CHECK(es_report_write(&in, &fs, ES_REPORT_CSV, "/dev/null", err, sizeof err) == 0);
        FZ_CHECK(es_report_write(&in, &fs, ES_REPORT_HTML, "/dev/null", err, sizeof err) == 0);
    } else {
        FZ_CHECK(rc == -1 && err[0] != '\0' && strchr(err, '\n') == NULL);
    }
    es_findings_free(&fs);
    es_report_input_free(&in);
    return rc;
}

/* Lines of the text the reader sees: a zstd input (by its magic number, as
 * the reader decides) is decoded first. Up to 64 MiB of text is counted; past
 * that, or when the stream is bad, the count is the bound any text of the
 * decoded size could have (the line invariants then only bound, not pin). */
static size_t text_lines(const uint8_t *data, size_t len)
{
    static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (len < 4 || memcmp(data, magic, 4) != 0)
        return fz_lines(data, len);
    ZSTD_DCtx *d = ZSTD_createDCtx();
    ZSTD_inBuffer in = {data, len, 0};
    static uint8_t buf[65536];
    size_t lines = 0, total = 0;
    uint8_t last = '\n';
    while (total < (64u << 20)) {
        ZSTD_outBuffer out = {buf, sizeof buf, 0};
        size_t rc = ZSTD_decompressStream(d, &out, &in);
        for (size_t i = 0; i < out.pos; i++)
            lines += buf[i] == '\n';
        if (out.pos)
            last = buf[out.pos - 1];
        total += out.pos;
        if (ZSTD_isError(rc) || (in.pos == in.size && out.pos < out.size))
            break; /* bad data, or all input read and nothing more to flush */
    }
    ZSTD_freeDCtx(d);
    lines += last != '\n';
    return total >= (64u << 20) ? SIZE_MAX : lines;
}

int es_fuzz_scanread(const uint8_t *data, size_t len)
{
    const char *path = fz_file(data, len);
    bool good = read_records(path, text_lines(data, len));
    int strict = report(path, false);
    if (strict != 0) /* when it succeeds, skipping has nothing to skip */
        report(path, true);
    return good && strict == 0;
}

#ifndef ES_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    es_fuzz_scanread(data, len);
    return 0;
}
#endif
