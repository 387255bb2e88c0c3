/* scanread.h - a streaming reader of scan files (CSV with a header row, or
 * JSONL), by column name.
 *
 * One record at a time; memory is one record's worth (bounded). Fields come
 * back raw (CSV quoting and JSON escapes undone; the writer's \xHH escapes of
 * control bytes are kept as they are). */
#ifndef EDGESHAKE_SCANREAD_H
#define EDGESHAKE_SCANREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define ES_SCANREAD_MAX_RECORD (1024 * 1024)

struct es_scanread;

/* Opens path ("-" = stdin) and reads the header (CSV) or peeks the first
 * object (JSONL: a file whose first byte is '{'). want[0..nwant) are the
 * column names the caller will ask for, by index; required[i] says whether a
 * missing column is an error. Returns NULL and "FILE: ..." in err on failure
 * (unreadable, empty, missing column). */
struct es_scanread *es_scanread_open(const char *path, const char *const *want,
                                     const bool *required, size_t nwant, char *err,
                                     size_t errlen);
/* Reads the next record. Returns 1 with fields ready, 0 at the end, -1 on a
 * malformed record with "FILE:LINE: what is wrong" in err (the reader has
 * skipped to the next line, so the caller may go on), -2 when reading the
 * file failed (ferror; "FILE:LINE: read error: cause" in err; do not go on). */
int es_scanread_next(struct es_scanread *r, char *err, size_t errlen);
/* Field i of the current record (NUL-terminated, "" when absent or empty).
 * Valid until the next es_scanread_next. */
const char *es_scanread_field(const struct es_scanread *r, size_t i);
/* Line number where the current record started. */
unsigned long es_scanread_line(const struct es_scanread *r);
void es_scanread_close(struct es_scanread *r);

/* Parses line[0..len) (modified in place; line[len] must be writable) as one
 * flat JSON object, the parser of JSONL scan files: fields[i] = the value of
 * key want[i] ("" when absent), pointing into line. Returns 1, or -1 with
 * the reason in err. */
int es_scanread_json_line(char *line, size_t len, const char *const *want, size_t nwant,
                          const char **fields, char *err, size_t errlen);

#endif
