/* testlib.h - helpers for Check suites: run the edgeshake binary, start and
 * stop a lab from a spec string.
 *
 * Address blocks, so that suites can run in parallel without colliding:
 *   test_lab_edge 127.10.0.0/16   test_lab_dns 127.11.0.0/16
 *   test_cli      127.12.0.0/16   test_tls_lab  127.62.0.0/16
 *   (later suites take 127.20.0.0/16 and up)
 */
#ifndef EDGESHAKE_TESTLIB_H
#define EDGESHAKE_TESTLIB_H

#include <stddef.h>
#include <sys/types.h>

/* The edgeshake binary under test ($ES_BIN) and the source tree ($ES_SRCDIR). */
const char *tl_bin(void);
const char *tl_srcdir(void);

/* A new empty directory under $TMPDIR or /tmp; malloc'd path. */
char *tl_tmpdir(void);
/* Writes text to DIR/NAME; returns the malloc'd path. */
char *tl_write_file(const char *dir, const char *name, const char *text);
/* Reads a whole file (NUL-terminated, *len without it); NULL when missing. */
char *tl_read_file(const char *path, size_t *len);
/* Removes a directory tree made by tl_tmpdir. */
void tl_rmtree(const char *dir);

/* Runs `edgeshake ARGS...` (argv ends with NULL; argv[0] is the first
 * argument after the program) with stdin_text on stdin (NULL = /dev/null),
 * capturing stdout and stderr into malloc'd strings (out/err may be NULL).
 * The process is killed after timeout_ms. Returns the exit status, or
 * 128 + signal when it was killed. */
int tl_run(const char *const argv[], const char *stdin_text, char **out, char **err,
           int timeout_ms);

struct tl_lab {
    pid_t pid;
    char *dir;  /* state dir, also holds spec.lab and lab.log */
    char *spec; /* path of the spec file */
};

/* Writes spec_text to a temporary file and starts `edgeshake lab SPEC --state
 * DIR`; returns when DIR/ready exists. Aborts the test (with the lab's stderr)
 * when the lab exits or is not ready within 20 s. */
void tl_lab_start(struct tl_lab *lab, const char *spec_text);
/* SIGTERM, wait, remove the directory; returns the lab's exit status. */
int tl_lab_stop(struct tl_lab *lab);

/* A scan or findings CSV as a table (RFC 4180: quoted cells, doubled
 * quotes, commas and newlines inside quotes). The header row is kept apart;
 * every row must have the header's number of cells and the text must end
 * with a whole row (else the test fails). */
struct tl_table {
    char *text;   /* owned: the cells point into it */
    char **cells; /* nrows x ncols */
    size_t nrows, ncols;
    char *header[64];
};

/* Parses text, which the table takes over (freed by tl_table_free). */
void tl_table_parse(struct tl_table *t, char *text);
/* The cell of row (0 = first row after the header) in the named column;
 * fails the test when there is no such column. */
const char *tl_cell(const struct tl_table *t, size_t row, const char *name);
void tl_table_free(struct tl_table *t);

#endif
