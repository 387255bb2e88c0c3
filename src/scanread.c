/* scanread.c - see include/edgeshake/scanread.h
 *
 * CSV: RFC 4180 (quoted fields may hold commas, doubled quotes and line
 * breaks), read through a 256 KiB block buffer and one byte loop. A file (or
 * stdin) that starts with the zstd magic number is decompressed on the way
 * into the block buffer, streaming. JSONL: one
 * flat object per line (strings, numbers, true/false/null). */
#include "edgeshake/scanread.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "edgeshake/util.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { BLOCK = 256 * 1024, MAX_COLUMNS = 256 };

/* Bytes from the file (or stdin) before decoding: a zstd stream is
 * recognised by its magic number, not by the file name, so `-` (stdin)
 * and a renamed file work too. */
struct source {
    ZSTD_DCtx *z; /* NULL: the bytes are the text */
    char *in;     /* raw bytes read ahead (the magic-number peek; zstd input) */
    size_t inpos, inend, incap;
    size_t zlast;    /* last ZSTD_decompressStream result: 0 = at a frame end */
    char error[160]; /* why the text ended early ("" = it did not) */
};

struct es_scanread {
    FILE *f;
    struct source src;
    char *path;
    bool jsonl;
    char *block;
    size_t pos, end;
    bool eof;
    int ioerr; /* errno of a failed read, 0 = none */
    bool ioerr_told;
    unsigned long line, rec_line;
    /* the current record: NUL-separated fields in rec */
    char *rec;
    size_t reclen;
    size_t fieldoff[MAX_COLUMNS];
    size_t nfields;
    /* columns */
    size_t nwant;
    const char *const *want;
    int colmap[MAX_COLUMNS]; /* CSV column -> want index, -1 = ignored */
    size_t ncols;
    const char *field[MAX_COLUMNS]; /* want index -> value */
};

/* Reads raw bytes into src->in (which must be drained); 0 at the end. */
static size_t src_fill(struct es_scanread *r)
{
    struct source *src = &r->src;
    src->inpos = 0;
    src->inend = fread(src->in, 1, src->incap, r->f);
    return src->inend;
}

/* Up to cap bytes of text into dst; 0 at the end (or on an error, which is
 * then in src.error). */
static size_t src_read(struct es_scanread *r, char *dst, size_t cap)
{
    struct source *src = &r->src;
    if (src->error[0])
        return 0;
    if (!src->z) {
        size_t n = 0;
        if (src->inpos < src->inend) { /* the bytes peeked at open */
            n = src->inend - src->inpos;
            n = n < cap ? n : cap;
            memcpy(dst, src->in + src->inpos, n);
            src->inpos += n;
        }
        return n + fread(dst + n, 1, cap - n, r->f);
    }
    /* As fread does: a full buffer unless the stream ends (the JSONL peek
     * at open needs the whole first line in the first block). */
    ZSTD_outBuffer out = {dst, cap, 0};
    while (out.pos < out.size) {
        if (src->inpos == src->inend && !src_fill(r)) {
            if (src->zlast != 0)
                snprintf(src->error, sizeof src->error,
                         "the zstd stream ends inside a frame (a truncated file)");
            break;
        }
        ZSTD_inBuffer in = {src->in, src->inend, src->inpos};
        size_t rc = ZSTD_decompressStream(src->z, &out, &in);
        src->inpos = in.pos;
        if (ZSTD_isError(rc)) {
            snprintf(src->error, sizeof src->error, "bad zstd data: %s", ZSTD_getErrorName(rc));
            break;
        }
        src->zlast = rc;
    }
    return out.pos;
}

/* Peeks at the first bytes: zstd (magic 28 b5 2f fd) or text. */
static void src_open(struct es_scanread *r)
{
    struct source *src = &r->src;
    src->incap = ZSTD_DStreamInSize();
    src->in = es_xmalloc(src->incap);
    size_t n = 0;
    while (n < 4) { /* stdin may hand over fewer bytes at a time */
        size_t k = fread(src->in + n, 1, 4 - n, r->f);
        if (k == 0)
            break;
        n += k;
    }
    src->inend = n;
    static const unsigned char magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (n == 4 && memcmp(src->in, magic, 4) == 0) {
        src->z = ZSTD_createDCtx();
        if (!src->z)
            es_die(ES_EXIT_RUNTIME, "out of memory (zstd)");
    }
}

/* Refills the block; false at the end of the file. */
static bool refill(struct es_scanread *r)
{
    if (r->eof)
        return false;
    r->end = src_read(r, r->block, BLOCK);
    r->pos = 0;
    if (r->end == 0) {
        r->eof = true;
        if (ferror(r->f))
            r->ioerr = errno ? errno : EIO;
    }
    return r->end != 0;
}

static inline int getbyte(struct es_scanread *r)
{
    if (r->pos == r->end && !refill(r))
        return EOF;
    return (unsigned char)r->block[r->pos++];
}

/* Copies the run of bytes that need no decision (in a plain field: none of
 * , " \r \n NUL; in a quoted one: none of " \n NUL) from the block into the
 * record in one go. Returns false when the record would grow past the cap.
 * This is the hot loop of `report`: most bytes of a scan file go through it. */
static bool copy_run(struct es_scanread *r, bool quoted)
{
    const char *p = r->block + r->pos, *end = r->block + r->end, *q = p;
    if (quoted)
        while (q < end && *q != '"' && *q != '\n' && *q)
            q++;
    else
        while (q < end && *q != ',' && *q != '"' && *q != '\n' && *q != '\r' && *q)
            q++;
    size_t n = (size_t)(q - p);
    if (n > ES_SCANREAD_MAX_RECORD - r->reclen)
        return false;
    memcpy(r->rec + r->reclen, p, n);
    r->reclen += n;
    r->pos += n;
    return true;
}

static int peekbyte(struct es_scanread *r)
{
    int c = getbyte(r);
    if (c != EOF)
        r->pos--;
    return c;
}

static void skip_line(struct es_scanread *r)
{
    int c;
    while ((c = getbyte(r)) != EOF && c != '\n')
        ;
    r->line++;
}

/* Appends a byte to the record; false when the record grows past the cap. */
static inline bool put(struct es_scanread *r, char c)
{
    if (r->reclen >= ES_SCANREAD_MAX_RECORD)
        return false;
    r->rec[r->reclen++] = c;
    return true;
}

static bool end_field(struct es_scanread *r)
{
    if (!put(r, '\0'))
        return false;
    if (r->nfields >= MAX_COLUMNS)
        return false;
    r->nfields++;
    if (r->nfields < MAX_COLUMNS)
        r->fieldoff[r->nfields] = r->reclen;
    return true;
}

/* The fast path of csv_record, for the common line: whole in the block, no
 * quote, no NUL. Copies it into rec once and cuts it at the commas (16 bytes
 * at a time where SSE2 is there). Returns false (nothing consumed) when the
 * line needs the byte loop below. */
static bool csv_line_fast(struct es_scanread *r)
{
    const char *p = r->block + r->pos, *end = r->block + r->end;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return false;
    size_t len = (size_t)(nl - p);
    if (len > ES_SCANREAD_MAX_RECORD || memchr(p, '"', len) || memchr(p, '\0', len))
        return false;
    if (len && p[len - 1] == '\r')
        len--;
    char *rec = r->rec;
    memcpy(rec, p, len);
    size_t nf = 0;
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i comma = _mm_set1_epi8(',');
    for (; i + 16 <= len; i += 16) {
        unsigned bits = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(rec + i)), comma));
        while (bits) {
            size_t k = i + (size_t)__builtin_ctz(bits);
            bits &= bits - 1;
            if (++nf >= MAX_COLUMNS)
                return false;
            rec[k] = '\0';
            r->fieldoff[nf] = k + 1;
        }
    }
#endif
    for (; i < len; i++)
        if (rec[i] == ',') {
            if (++nf >= MAX_COLUMNS)
                return false;
            rec[i] = '\0';
            r->fieldoff[nf] = i + 1;
        }
    rec[len] = '\0';
    r->fieldoff[0] = 0;
    r->nfields = nf + 1;
    r->reclen = len + 1;
    r->rec_line = ++r->line;
    r->pos = (size_t)(nl + 1 - r->block);
    return true;
}

/* Reads one CSV record into rec. 1 = record, 0 = end, -1 = malformed (err). */
static int csv_record(struct es_scanread *r, char *err, size_t errlen)
{
    if (r->pos < r->end && csv_line_fast(r))
        return 1;
    enum { START, PLAIN, QUOTED, QUOTE } st = START;
    r->reclen = 0;
    r->nfields = 0;
    r->fieldoff[0] = 0;
    r->rec_line = r->line + 1;
    int c = getbyte(r);
    if (c == EOF)
        return 0;
    for (;; c = getbyte(r)) {
        if (c == EOF) {
            if (st == QUOTED) {
                snprintf(err, errlen, "%s:%lu: quoted field not closed before the end of the file",
                         r->path, r->rec_line);
                r->line++;
                return -1;
            }
            break;
        }
        if (c == '\0') {
            snprintf(err, errlen, "%s:%lu: NUL byte in a record", r->path, r->rec_line);
            skip_line(r);
            return -1;
        }
        switch (st) {
        case START:
            if (c == '"') {
                st = QUOTED;
                continue;
            }
            st = PLAIN;
            /* fall through */
        case PLAIN:
            if (c != ',' && c != '\n' && c != '\r' && c != '"') {
                if (!put(r, (char)c) || !copy_run(r, false))
                    goto toolong;
                continue;
            }
            if (c == ',') {
                if (!end_field(r))
                    goto toolong;
                st = START;
            } else if (c == '\n') {
                goto done;
            } else if (c == '\r' && peekbyte(r) == '\n') {
                continue;
            } else if (c == '"') {
                snprintf(err, errlen, "%s:%lu: quote inside an unquoted field", r->path,
                         r->rec_line);
                skip_line(r);
                return -1;
            } else if (!put(r, (char)c)) {
                goto toolong;
            }
            continue;
        case QUOTED:
            if (c == '"') {
                st = QUOTE;
            } else {
                if (c == '\n')
                    r->line++;
                if (!put(r, (char)c) || !copy_run(r, true))
                    goto toolong;
            }
            continue;
        case QUOTE:
            if (c == '"') {
                st = QUOTED;
                if (!put(r, '"'))
                    goto toolong;
            } else if (c == ',') {
                if (!end_field(r))
                    goto toolong;
                st = START;
            } else if (c == '\n') {
                goto done;
            } else if (c == '\r' && peekbyte(r) == '\n') {
                continue;
            } else {
                snprintf(err, errlen, "%s:%lu: text after a closing quote", r->path, r->rec_line);
                skip_line(r);
                return -1;
            }
            continue;
        }
    }
done:
    r->line++;
    if (!end_field(r))
        goto toolong;
    return 1;
toolong:
    snprintf(err, errlen, "%s:%lu: record longer than %d bytes or more than %d fields", r->path,
             r->rec_line, ES_SCANREAD_MAX_RECORD, MAX_COLUMNS);
    skip_line(r);
    return -1;
}

/* Reads one raw line into rec (JSONL). 1 = line, 0 = end, -1 = too long. */
static int raw_line(struct es_scanread *r, char *err, size_t errlen)
{
    r->reclen = 0;
    r->rec_line = r->line + 1;
    int c = getbyte(r);
    if (c == EOF)
        return 0;
    for (; c != EOF && c != '\n'; c = getbyte(r)) {
        if (!put(r, (char)c)) {
            snprintf(err, errlen, "%s:%lu: line longer than %d bytes", r->path, r->rec_line,
                     ES_SCANREAD_MAX_RECORD);
            skip_line(r);
            return -1;
        }
    }
    r->line++;
    if (r->reclen && r->rec[r->reclen - 1] == '\r')
        r->reclen--;
    return 1;
}

static int want_index(const struct es_scanread *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->nwant; i++)
        if (strlen(r->want[i]) == len && memcmp(r->want[i], name, len) == 0)
            return (int)i;
    return -1;
}

/* JSON: a cursor over one line, decoding strings in place into `out`. */
struct jcur {
    const char *p, *end;
};

static void jws(struct jcur *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t'))
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

static bool jhex4(struct jcur *j, unsigned *out)
{
    if (j->end - j->p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    j->p += 4;
    *out = v;
    return true;
}

static char *utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* Decodes a JSON string at j->p (after the opening quote) into o, which may
 * alias the input (decoding never grows). Returns the end of the output. */
static char *jstring(struct jcur *j, char *o)
{
    while (j->p < j->end) {
        char c = *j->p++;
        if (c == '"')
            return o;
        if ((unsigned char)c < 0x20)
            return NULL;
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        if (j->p >= j->end)
            return NULL;
        c = *j->p++;
        unsigned cp, lo;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            /* \uXXXX needs 6 input bytes and writes at most 4 (a pair: 12 -> 4). */
            if (!jhex4(j, &cp))
                return NULL;
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
                    return NULL;
                j->p += 2;
                if (!jhex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    return NULL;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                return NULL;
            }
            if (cp == 0)
                return NULL; /* a NUL would cut the field short */
            o = utf8(o, cp);
            break;
        default: return NULL;
        }
    }
    return NULL;
}

/* Parses rec as one flat JSON object, setting r->field[] in place. */
static int json_record(struct es_scanread *r, char *err, size_t errlen)
{
    struct jcur j = {r->rec, r->rec + r->reclen};
    const char *what = "expected '{'";
    jws(&j);
    if (j.p == j.end) {
        snprintf(err, errlen, "%s:%lu: empty line", r->path, r->rec_line);
        return -1;
    }
    if (*j.p++ != '{')
        goto bad;
    jws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
        goto end;
    }
    for (;;) {
        jws(&j);
        what = "expected a \"key\"";
        if (j.p >= j.end || *j.p++ != '"')
            goto bad;
        char *key = (char *)j.p;
        char *kend = jstring(&j, key);
        if (!kend)
            goto bad;
        int wi = want_index(r, key, (size_t)(kend - key));
        jws(&j);
        what = "expected ':'";
        if (j.p >= j.end || *j.p++ != ':')
            goto bad;
        jws(&j);
        what = "expected a string, number, true, false or null";
        if (j.p >= j.end)
            goto bad;
        char *val = (char *)j.p, *vend;
        if (*j.p == '"') {
            j.p++;
            val = (char *)j.p;
            vend = jstring(&j, val);
            if (!vend)
                goto bad;
        } else if (j.end - j.p >= 4 && memcmp(j.p, "null", 4) == 0) {
            j.p += 4;
            vend = val; /* empty */
        } else {
            while (j.p < j.end && *j.p != ',' && *j.p != '}' && *j.p != ' ')
                j.p++;
            vend = (char *)j.p;
            if (vend == val || *val == '{' || *val == '[')
                goto bad;
        }
        char sep = j.p < j.end ? *j.p : '\0';
        jws(&j);
        sep = j.p < j.end ? *j.p : '\0';
        what = "expected ',' or '}'";
        if (sep != ',' && sep != '}')
            goto bad;
        j.p++;
        *vend = '\0'; /* safe: vend points at or before the separator */
        if (wi >= 0)
            r->field[wi] = val;
        if (sep == '}')
            break;
    }
end:
    jws(&j);
    if (j.p != j.end) {
        what = "text after the object";
        goto bad;
    }
    return 1;
bad:
    snprintf(err, errlen, "%s:%lu: malformed JSON object: %s", r->path, r->rec_line, what);
    return -1;
}

struct es_scanread *es_scanread_open(const char *path, const char *const *want,
                                     const bool *required, size_t nwant, char *err, size_t errlen)
{
    struct es_scanread *r = es_xcalloc(1, sizeof *r);
    r->path = es_xstrdup(path);
    r->want = want;
    r->nwant = nwant < MAX_COLUMNS ? nwant : MAX_COLUMNS;
    r->f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!r->f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    r->block = es_xmalloc(BLOCK);
    r->rec = es_xmalloc(ES_SCANREAD_MAX_RECORD + 1);
    src_open(r);
    int c = peekbyte(r);
    if (c == EOF && r->ioerr) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(r->ioerr));
        goto fail;
    }
    if (c == EOF) {
        if (r->src.error[0])
            snprintf(err, errlen, "%s: %s", path, r->src.error);
        else
            snprintf(err, errlen, "%s: empty file; expected a scan file (CSV header or JSONL)",
                     path);
        goto fail;
    }
    r->jsonl = c == '{';
    bool have[MAX_COLUMNS] = {0};
    if (r->jsonl) {
        /* Columns of JSONL rows are checked on the first object. */
        size_t pos = r->pos;
        unsigned long line = r->line;
        /* Peek within the first block: the first line must fit in it. */
        const char *nl = memchr(r->block + pos, '\n', r->end - pos);
        size_t n = nl ? (size_t)(nl - (r->block + pos)) : r->end - pos;
        char *copy = es_xstrndup(r->block + pos, n);
        struct es_scanread probe = *r;
        probe.rec = copy;
        probe.reclen = n;
        probe.rec_line = 1;
        for (size_t i = 0; i < r->nwant; i++)
            probe.field[i] = NULL;
        int rc = json_record(&probe, err, errlen);
        if (rc == 1)
            for (size_t i = 0; i < r->nwant; i++)
                have[i] = probe.field[i] != NULL;
        free(copy);
        r->line = line;
        if (rc != 1)
            goto fail;
    } else {
        int rc = csv_record(r, err, errlen);
        if (rc != 1)
            goto fail;
        r->ncols = r->nfields;
        for (size_t c2 = 0; c2 < r->ncols; c2++) {
            const char *name = r->rec + r->fieldoff[c2];
            r->colmap[c2] = want_index(r, name, strlen(name));
            if (r->colmap[c2] >= 0)
                have[r->colmap[c2]] = true;
        }
    }
    for (size_t i = 0; i < r->nwant; i++) {
        if (required[i] && !have[i]) {
            snprintf(err, errlen, "%s: no column '%s'; is this a scan file from edgeshake scan?",
                     path, want[i]);
            goto fail;
        }
    }
    return r;
fail:
    es_scanread_close(r);
    return NULL;
}

/* The text ended early (a truncated or corrupt zstd stream): one error for
 * the whole rest, even when the bytes before it parsed as a record (they may
 * be a row cut in two). Returns -1 once, then the reader is at its end. */
static int source_error(struct es_scanread *r, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s:%lu: %s", r->path, r->line + 1, r->src.error);
    r->src.error[0] = '\0';
    r->eof = true;
    r->pos = r->end = 0;
    return -1;
}

/* A read error is never taken for the end of the file: the caller would
 * report on part of the scan as if it were all of it. Returns -2 once, then
 * the reader is at its end. */
static int read_error(struct es_scanread *r, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s:%lu: read error: %s", r->path, r->line + 1, strerror(r->ioerr));
    r->ioerr_told = true;
    return -2;
}

static int next_record(struct es_scanread *r, char *err, size_t errlen);

int es_scanread_next(struct es_scanread *r, char *err, size_t errlen)
{
    if (r->ioerr_told)
        return 0;
    int rc = next_record(r, err, errlen);
    if (r->ioerr)
        return read_error(r, err, errlen);
    if (r->src.error[0] && r->eof)
        return source_error(r, err, errlen);
    return rc;
}

static int next_record(struct es_scanread *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->nwant; i++)
        r->field[i] = "";
    if (r->jsonl) {
        for (;;) {
            int rc = raw_line(r, err, errlen);
            if (rc <= 0)
                return rc;
            size_t k = 0;
            while (k < r->reclen && (r->rec[k] == ' ' || r->rec[k] == '\t'))
                k++;
            if (k == r->reclen)
                continue; /* blank line */
            r->rec[r->reclen] = '\0';
            return json_record(r, err, errlen);
        }
    }
    for (;;) {
        int rc = csv_record(r, err, errlen);
        if (rc <= 0)
            return rc;
        if (r->nfields == 1 && r->rec[0] == '\0')
            continue; /* blank line */
        if (r->nfields != r->ncols) {
            snprintf(err, errlen, "%s:%lu: %zu fields, the header has %zu", r->path, r->rec_line,
                     r->nfields, r->ncols);
            return -1;
        }
        for (size_t c = 0; c < r->nfields; c++)
            if (r->colmap[c] >= 0)
                r->field[r->colmap[c]] = r->rec + r->fieldoff[c];
        return 1;
    }
}

int es_scanread_json_line(char *line, size_t len, const char *const *want, size_t nwant,
                          const char **fields, char *err, size_t errlen)
{
    struct es_scanread *r = es_xcalloc(1, sizeof *r);
    r->path = "(json)";
    r->want = want;
    r->nwant = nwant < MAX_COLUMNS ? nwant : MAX_COLUMNS;
    r->rec = line;
    r->reclen = len;
    r->rec_line = 1;
    for (size_t i = 0; i < r->nwant; i++)
        r->field[i] = "";
    int rc = json_record(r, err, errlen);
    for (size_t i = 0; i < r->nwant; i++)
        fields[i] = r->field[i];
    free(r);
    return rc;
}

const char *es_scanread_field(const struct es_scanread *r, size_t i)
{
    return i < r->nwant && r->field[i] ? r->field[i] : "";
}

unsigned long es_scanread_line(const struct es_scanread *r)
{
    return r->rec_line;
}

void es_scanread_close(struct es_scanread *r)
{
    if (!r)
        return;
    if (r->f && r->f != stdin)
        fclose(r->f);
    ZSTD_freeDCtx(r->src.z);
    free(r->src.in);
    free(r->block);
    free(r->rec);
    free(r->path);
    free(r);
}
