/* writer.h - the scan file of DESIGN §3.2: row formatting (CSV or JSONL) and
 * one writer that many worker threads hand batches of rows to.
 *
 * Two halves:
 *
 *  - es_row_format appends one complete row to a caller-owned es_rowbuf. It
 *    never allocates once the buffer has reached its high-water mark, takes no
 *    lock and uses no locale, so each worker formats into its own buffer.
 *
 *  - es_writer owns the output file and a writer thread. A worker hands over a
 *    buffer of whole rows with es_writer_submit and gets an empty (recycled)
 *    buffer back, so steady state allocates nothing. The file only ever holds
 *    whole rows: batches are written one at a time, each with a loop over
 *    write(2) (partial writes, EINTR), and when a write fails part-way through
 *    a batch, a regular file is truncated back to the end of the last whole
 *    row (ENOSPC leaves a valid CSV). The first error is sticky.
 *
 * Invariant both halves rely on: every row ends with exactly one '\n' and
 * contains no other CR or LF (control characters are escaped, see below), so
 * a newline is always a row boundary.
 *
 * Compressed files: a path ending in ".zst" is written through libzstd
 * (level 3, content checksums), as a series of zstd frames that each end on
 * a row boundary (see zframe in writer.c). Rows are counted as written when
 * their frame has reached the file; es_writer_flush and es_writer_close end
 * the open frame. `zstd -d`, `zstdcat` and `report` read the file; after an
 * interrupt, ENOSPC or a crash it still decodes to whole rows.
 *
 * Encoding of cells (CSV):
 *   - Rows end with "\n", not RFC 4180's "\r\n": every consumer named in
 *     DESIGN §1 (pandas, DuckDB, ClickHouse, sqlite, spreadsheets) and every
 *     line tool (wc -l, grep, split, awk) reads LF, and a CR would be one more
 *     byte per row for nobody. Readers that want CRLF accept LF too.
 *   - String cells are escaped before quoting so that the file is valid UTF-8
 *     and no server-supplied string can break a row: bytes 0x00-0x1f and 0x7f,
 *     the C1 controls U+0080-U+009F, U+2028 and U+2029, and every byte that is
 *     not part of a valid UTF-8 sequence (overlong forms, surrogates and values
 *     above U+10FFFF are invalid) are written as \xhh per byte (lower-case hex;
 *     a C1 control is two bytes, "\xc2\x85"). A backslash is written as "\\".
 *     The escape is therefore exactly reversible: read "\\" as one backslash
 *     and "\xhh" as the byte hh; a backslash is never followed by anything
 *     else. Valid multi-byte UTF-8 (other than the above) is copied as is.
 *   - After escaping, a cell that contains ',' or '"' is quoted per RFC 4180
 *     (enclosed in '"', each '"' doubled). CR and LF never remain to quote.
 *   - NULL or "" strings and negative numbers are empty cells (row-t.h).
 *     family is "4"/"6" (anything else empty); ocsp_stapled "yes"/"no"/"".
 *   - time: RFC 3339 UTC with milliseconds, "2026-11-23T10:34:56.789Z"
 *     (clamped to 9999-12-31T23:59:59.999Z). The *_ms columns have three
 *     decimals: the digits printf("%.3f") gives in the C locale, i.e. the
 *     exact binary value rounded to the nearest thousandth, ties to even
 *     (1.2345 is stored as 1.23449999... and gives "1.234"; 0.0625 gives
 *     "0.062"). Negative, NaN and absurd values (> 1e15 ms) are empty.
 *
 * Encoding (JSONL): one object per line, keys = the CSV column names in the
 * same order, every key always present. Empty cells are null. port, family,
 * attempt and alert are JSON numbers, the *_ms columns numbers with three
 * decimals as above, ocsp_stapled true/false, everything else strings. Strings
 * use JSON's escapes (\" \\ \b \f \n \r \t, \u00hh for the other C0 controls,
 * 0x7f and the C1 controls, \u2028 \u2029), so a JSON parser returns the
 * original text; a byte that is not valid UTF-8 becomes \ufffd (U+FFFD, the
 * replacement character: JSON cannot carry raw bytes, and \u00hh would
 * silently invent a Latin-1 character). */
#ifndef EDGESHAKE_WRITER_H
#define EDGESHAKE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "edgeshake/row-t.h"

enum es_format {
    ES_FORMAT_CSV = 0,
    ES_FORMAT_JSONL = 1,
};

/* The column names of DESIGN §3.2 in order (also the JSONL keys). */
#define ES_ROW_NCOLUMNS 50
extern const char *const es_row_columns[ES_ROW_NCOLUMNS];

/* Empties every column of r: strings NULL, numbers their empty value. */
void es_row_init(struct es_row *r);
/* The `problem` column of r: "" when every check passed (or the row is
 * `planned`), else the first layer that failed: dns, connect, tls, verify,
 * h2, http (http_status 0 = no response, or >= 500). Static string. */
const char *es_row_problem(const struct es_row *r);

/* The output format: `explicit_name` ("csv" | "jsonl", from --format, already
 * validated by the option table) wins; otherwise JSONL when path ends in
 * ".jsonl" or ".ndjson" (any case, before a ".zst"), else CSV. path may be
 * NULL or "-". */
enum es_format es_format_from_name(const char *path, const char *explicit_name);

/* Whether a file of this name is written zstd-compressed: it ends in ".zst"
 * (any case). "-" (stdout) never is. */
bool es_writer_zstd_name(const char *path);

/* A growable byte buffer of whole rows, owned by one thread. Zero-initialise
 * it (ES_ROWBUF_INIT); it grows with es_xrealloc (fatal on OOM) and never
 * shrinks, so once warm, formatting allocates nothing. */
struct es_rowbuf {
    char *data;
    size_t len, cap;
    uint64_t rows; /* rows in data (the CSV header does not count) */
    /* private: the "YYYY-MM-DDTHH:MM:SS" text of the last second formatted */
    uint64_t _tsec_plus1; /* that second + 1; 0 = none */
    char _tsec_text[20];
};
#define ES_ROWBUF_INIT                                                                             \
    {                                                                                              \
        0                                                                                          \
    }

/* Empties the buffer (len = rows = 0), keeping its memory. */
void es_rowbuf_reset(struct es_rowbuf *buf);
/* Frees the memory and zeroes the struct; harmless on a zeroed buffer. */
void es_rowbuf_free(struct es_rowbuf *buf);

/* Appends one complete row ending in '\n' and counts it in buf->rows. The
 * row's strings are only read during the call. */
void es_row_format(struct es_rowbuf *buf, enum es_format fmt, const struct es_row *row);
/* Appends the CSV header line (the column names, comma-separated, '\n');
 * nothing for JSONL. Not counted in buf->rows. */
void es_row_header(struct es_rowbuf *buf, enum es_format fmt);

/* Rows of other files in this file's encoding (the enum rows of enum.h):
 * append cells in column order, key = the column name (JSONL), first = the
 * row's first cell, then es_cell_end (counts the row). Strings are escaped
 * and quoted as above; NULL or "" is an empty cell (null), as is v < 0. */
void es_cell_str(struct es_rowbuf *b, enum es_format fmt, const char *key, const char *s,
                 bool first);
void es_cell_num(struct es_rowbuf *b, enum es_format fmt, const char *key, long v, bool first);
void es_cell_end(struct es_rowbuf *b, enum es_format fmt);

/* Cell formatters, exposed for the tests and the report. Each writes the
 * text without a NUL and returns its length. */
#define ES_TIME_LEN 24 /* "2026-11-23T10:34:56.789Z" */
size_t es_format_time(char out[ES_TIME_LEN], uint64_t time_ms);
/* out needs ES_MS_MAXLEN bytes; returns 0 (empty cell) for negative, NaN or
 * values above 1e15. */
#define ES_MS_MAXLEN 24
size_t es_format_ms(char out[ES_MS_MAXLEN], double ms);

/* Suggested batch size: submit a buffer once it holds this many bytes (and
 * whatever is left at the end). */
#define ES_WRITER_BATCH_BYTES (64 * 1024)

struct es_writer;

/* Creates (O_CREAT|O_TRUNC, mode 0644, close-on-exec) and opens path for
 * writing, "-" = stdout, starts the writer thread and, for CSV, writes the
 * header before returning. Returns NULL on failure with "cannot write PATH:
 * REASON" in err (stdout is named "stdout"); the caller exits 1 before any
 * packet. The writer thread runs with every signal blocked, so process
 * signals go to other threads and a closed pipe is EPIPE, not SIGPIPE. */
struct es_writer *es_writer_open(const char *path, enum es_format fmt, char *err, size_t errlen);
/* The same on an open descriptor, which the writer does not close; name is
 * used in messages, and a name ending in ".zst" makes the output zstd. */
struct es_writer *es_writer_fdopen(int fd, const char *name, enum es_format fmt, char *err,
                                   size_t errlen);

/* Hands the rows in *batch (whole rows from es_row_format, any number) to
 * the writer and leaves *batch empty: either a recycled buffer that an
 * earlier batch used, or a zeroed one. Thread-safe; blocks while the queue
 * holds too many batches (back-pressure when the disk is slower than the
 * scan). An empty batch is not queued. Returns 0, or the sticky -errno of an
 * earlier write error, in which case the rows are dropped (not counted). */
int es_writer_submit(struct es_writer *w, struct es_rowbuf *batch);
/* es_writer_submit without the wait: -EAGAIN (and *batch untouched) when the
 * queue is full. Workers use it, so that a slow output never stalls their
 * loop: they keep the rows and stop starting probes until it takes them. */
int es_writer_try_submit(struct es_writer *w, struct es_rowbuf *batch);
/* Test hook: at most n batches queued (n >= 1; the default is 32). */
void es_writer_set_queue_cap(struct es_writer *w, unsigned n);
/* Waits until every batch submitted so far has been written. Returns 0 or
 * the sticky -errno. */
int es_writer_flush(struct es_writer *w);
/* 0 or the sticky -errno of the first write error; does not wait. */
int es_writer_error(struct es_writer *w);
/* Rows written to the file so far (whole rows only; the header is not a
 * row). After es_writer_flush, every submitted row is either counted here or
 * an error is reported. */
uint64_t es_writer_rows(struct es_writer *w);

/* Writes what is queued, stops the thread, closes the file (unless it came
 * from es_writer_fdopen or is stdout) and frees w. Call it once, after every
 * submitting thread is done (their buffers stay theirs to es_rowbuf_free).
 * Stores the rows written in *rows (may be NULL). Returns 0, or -errno of
 * the first error (write or close) with "cannot write PATH: REASON" in err. */
int es_writer_close(struct es_writer *w, uint64_t *rows, char *err, size_t errlen);

/* Test hook: replaces write(2) for the batches written from now on. fn must
 * behave like write(2): return bytes written (possibly fewer than n) or -1
 * with errno set. fn = NULL restores write(2). */
typedef ssize_t (*es_write_fn)(int fd, const void *buf, size_t n, void *ctx);
void es_writer_set_write_fn(struct es_writer *w, es_write_fn fn, void *ctx);

#endif
