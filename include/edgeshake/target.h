/* target.h - scan targets and --edges files (DESIGN §3.1, issue 4 item 1).
 *
 * A target is one of
 *   HOST            HOST:PORT          a DNS name, resolved later
 *   IPv4            IPv4:PORT          probed as is
 *   [IPv6]          [IPv6]:PORT        probed as is (a bare IPv6 never has a port)
 *   IPv6
 *   HOST@IP         HOST:PORT@IP       connect to IP ([v6] or bare v6 allowed);
 *                                      SNI and verification use HOST
 * Host names are checked (ASCII letters, digits, '-', '_'; labels of 1..63
 * bytes; at most 253 bytes), lower-cased and stripped of one trailing dot.
 * Non-ASCII names are refused: the user gives the punycode (xn--) form.
 *
 * The target reader streams the positional words, then a file (`-i FILE`,
 * "-" = stdin), and skips a target equal to one of the last
 * ES_TARGET_DEDUPE_WINDOW distinct targets it returned: every distinct target
 * comes out once in an input of up to that many distinct targets (and
 * wherever duplicates stand close together, as in a sorted list); in a
 * longer input a target seen again after more than that many others comes
 * out again (and is probed again). Memory is fixed (about 6 MB for the
 * window, allocated on the first target), whatever the input: lines are
 * read through a fixed buffer and a line longer than ES_TARGET_LINE_MAX
 * bytes is an error without being read into memory.
 *
 * Errors: every function that can fail writes one line, without a trailing
 * newline, into err[errlen] and returns a failure value; it never prints and
 * never exits. Messages name the place: "FILE:LINE: what is wrong" for file
 * lines ("<stdin>" for "-"), "argument N: what is wrong" for the N-th
 * (1-based) positional word. The caller prints the message and exits 2. */
#ifndef EDGESHAKE_TARGET_H
#define EDGESHAKE_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/net-t.h"

#define ES_HOST_MAX        253  /* longest host name, without the trailing dot */
#define ES_LABEL_MAX       63   /* longest label */
#define ES_TARGET_LINE_MAX 4096 /* longest line of a target or edges file, without "\r\n" */
#define ES_TARGET_DEDUPE_WINDOW (1u << 18) /* distinct targets remembered (a power of two) */

struct es_target {
    char host[ES_HOST_MAX + 1]; /* canonical name, or the canonical IP text for IP targets */
    bool host_is_ip;            /* an IP target: no name to resolve or send as SNI */
    uint16_t port;              /* the target's port, or the default port */
    bool has_ip;                /* ip is set: IP targets and HOST@IP */
    struct es_ip ip;
};

/* Checks a host name (len bytes, no NUL needed) and writes its canonical form
 * (lower case, one trailing dot removed) into canon[ES_HOST_MAX + 1]. Does
 * not accept IP addresses. On false, err holds what is wrong (no place). */
bool es_host_name_check(const char *name, size_t len, char *canon, char *err, size_t errlen);

/* Parses one target (len bytes; surrounding spaces/tabs are ignored; no
 * comments). default_port is used when the target has no port. On false,
 * *out is unspecified and err holds what is wrong, without a place. */
bool es_target_parse(const char *text, size_t len, uint16_t default_port, struct es_target *out,
                     char *err, size_t errlen);

/* The streaming, deduplicating target reader. */
struct es_target_reader;

/* Opens a reader over words[0..nwords) (borrowed: they must outlive the
 * reader) and then over the file at path (NULL = no file, "-" = stdin).
 * Returns NULL with err set ("cannot open FILE: reason") when the file
 * cannot be opened. Free with es_target_reader_free. */
struct es_target_reader *es_target_reader_new(const char *const *words, size_t nwords,
                                              const char *path, uint16_t default_port, char *err,
                                              size_t errlen);

enum es_target_next {
    ES_TARGET_ERROR = -1, /* err holds "PLACE: what is wrong" */
    ES_TARGET_END = 0,    /* no more targets */
    ES_TARGET_OK = 1,     /* *out holds a target not returned before */
};

/* Returns the next target not among the recent ones. Blank lines and '#'
 * comments (a '#' anywhere in a file line starts one) are skipped;
 * duplicates (same host, port and IP) within the window are skipped. After ES_TARGET_ERROR the reader may be called
 * again: it continues after the bad line. */
enum es_target_next es_target_reader_next(struct es_target_reader *r, struct es_target *out,
                                          char *err, size_t errlen);

struct es_target_stats {
    uint64_t lines;      /* file lines read (including blank, comment and bad ones) */
    uint64_t targets;    /* targets returned */
    uint64_t duplicates; /* targets skipped because they were returned recently */
};
void es_target_reader_stats(const struct es_target_reader *r, struct es_target_stats *out);

/* Closes the file (never stdin) and frees the reader and its set. NULL is fine. */
void es_target_reader_free(struct es_target_reader *r);

/* --edges FILE: IPv4/IPv6 addresses and CIDR blocks, one per line, with
 * '#' comments and blank lines. The whole file is read and checked by
 * es_edges_load (so a bad line is reported before any DNS query), but only
 * the prefixes are kept: addresses are produced lazily by an iterator.
 * A block may hold at most ES_EDGES_BLOCK_MAX addresses (IPv4 /16, IPv6
 * /112); a block with host bits set ("10.0.0.1/24") is refused. Duplicate
 * and overlapping entries are merged, so every address comes out once;
 * addresses come out in address order, IPv4 first. */
#define ES_EDGES_BLOCK_MAX 65536u

struct es_edges;

/* Reads path ("-" = stdin) into *out. Returns false with err set
 * ("FILE:LINE: what is wrong", or "cannot open FILE: reason") and *out NULL. */
bool es_edges_load(const char *path, struct es_edges **out, char *err, size_t errlen);
/* Number of distinct addresses the iterator produces. */
uint64_t es_edges_count(const struct es_edges *e);
void es_edges_free(struct es_edges *e);

struct es_edges_iter {
    const struct es_edges *_edges;
    size_t _block;
    uint32_t _next; /* offset of the next address in the current block */
};
/* Starts (or restarts) an iteration; any number of iterations may run at once. */
void es_edges_iter_init(struct es_edges_iter *it, const struct es_edges *e);
/* Writes the next address into *out; false when there is none left. */
bool es_edges_iter_next(struct es_edges_iter *it, struct es_ip *out);

#endif
