/* meta.h - FILE.meta.json, the record of one scan run beside its output file
 * (DESIGN §3.1 `-o`), and reading it back for `report`.
 *
 * The file is one JSON object, written once at the end of the scan (also
 * after SIGINT/SIGTERM) through a temporary file and rename(2), so a reader
 * sees the whole record or none. Keys, in this order (docs/schema.md):
 *
 *   edgeshake       version of the scanner ("0.1.0")
 *   openssl         OpenSSL_version(OPENSSL_VERSION) at run time
 *   command         the command line, an array of strings (argv)
 *   start, end      RFC 3339 UTC with milliseconds; seconds: end - start
 *   host            the machine's host name
 *   vantage         --vantage (or the host name), as in every row
 *   output, format  the file written and csv|jsonl; compression none|zstd
 *   shard           "I/N" ("0/1" unsharded)
 *   resolvers       {LABEL: [ADDR:PORT, ...]}: every -r label and the
 *                   addresses it queried (the system resolver: the servers
 *                   c-ares read from /etc/resolv.conf)
 *   ecs             {LABEL: SUBNET} for the resolvers with an ECS subnet
 *   dry_run         true with --dry-run (rows are `planned`)
 *   planned         probes planned (edges x variants x --repeat; when
 *                   interrupted while resolving, those planned so far)
 *   dns_error_rows  rows for (host, resolver) pairs that did not resolve
 *   rows            rows in the file (header not counted)
 *   did_not_run     planned probes with no row (interrupted, or stopped by an
 *                   output error)
 *   interrupted     true after SIGINT/SIGTERM
 *   exit_status     the scan's exit status (0, 1, 130)
 *
 * Strings are JSON-escaped; a byte that is not valid UTF-8 (a command-line
 * argument may hold any bytes) is written as U+FFFD. */
#ifndef EDGESHAKE_META_H
#define EDGESHAKE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "edgeshake/resolver.h"

/* What the scan knows about its run; the caller fills it. Borrowed pointers. */
struct es_meta_run {
    int argc;
    char *const *argv;
    uint64_t start_ms, end_ms; /* wall clock, ms since the epoch */
    const char *vantage;
    const char *output; /* the -o path (never "-": stdout gets no meta file) */
    const char *format; /* "csv" | "jsonl" */
    bool zstd;
    unsigned shard_i, shard_n;
    const struct es_resolver_spec *resolvers;
    size_t nresolvers;
    bool dry_run;
    uint64_t planned, dns_error_rows, rows, did_not_run;
    bool interrupted;
    int exit_status;
};

/* "FILE.meta.json" for an output path (malloc'd), or NULL for "-"/NULL. */
char *es_meta_path(const char *output);

/* Writes m as the JSON object above into path (via path.tmp + rename).
 * Returns 0, or -errno with "cannot write PATH: REASON" in err. */
int es_meta_write(const char *path, const struct es_meta_run *m, char *err, size_t errlen);

/* Appends the JSON object of m (one line, ending in '\n') to f; for tests
 * and for es_meta_write. Returns false when f reports an error. */
bool es_meta_print(FILE *f, const struct es_meta_run *m);

/* ---- reading, for `report` --------------------------------------------- */

/* The fields of a meta file that report shows. Strings are malloc'd (NULL
 * when the key is absent); numbers are -1 when absent. */
struct es_meta_info {
    char *version, *start, *end, *vantage, *shard;
    int64_t rows, planned, did_not_run;
    double seconds;
    int interrupted; /* 1 true, 0 false, -1 absent */
    int exit_status; /* -1 absent */
};

/* Reads and parses path. Returns 1 with *out filled, 0 when the file does
 * not exist (*out zeroed), -1 when it cannot be read or is not a JSON
 * object, with "PATH: what is wrong" in err. Free *out with
 * es_meta_info_free in every case. */
int es_meta_read(const char *path, struct es_meta_info *out, char *err, size_t errlen);
void es_meta_info_free(struct es_meta_info *m);

/* For `report`: looks for FILE.meta.json beside each scan file (none for
 * "-") and prints the runs it read to f, their time span first, e.g.
 *
 *   runs: 2 of 2 files with FILE.meta.json, edgeshake 0.1.0
 *     from 2026-11-23T10:32:20.000Z to 2026-11-23T10:36:20.000Z
 *     eu-shard-0.csv: vantage eu, shard 0/2, 2026-11-23T10:33:20.000Z + 120.0 s,
 *       520 rows, complete                                             (one line)
 *
 * With more than 8 runs, only those that did not complete are listed, and a
 * count of the others. Each run's version is shown when they differ. Prints
 * nothing when no file has a meta file; one that cannot be parsed is a line
 * naming it. Returns the number of meta files read. */
size_t es_meta_print_runs(FILE *f, const char *const *files, size_t nfiles);

#endif
