/* hello.h - ClientHello shapes (--hello plain|pq|split, DESIGN §3.1) and a
 * bounded reader of the ClientHello bytes.
 *
 * Middleboxes and SNI routers that read the ClientHello from the first TCP
 * segment only fail when it spans two segments, as post-quantum ClientHellos
 * now do. Two shapes find them:
 *
 *   pq     the ClientHello padded to the size of one that carries an
 *          X25519MLKEM768 key share, with the SNI past the first
 *          ES_HELLO_FIRST_SEGMENT bytes, sent as two TCP segments (the first
 *          ES_HELLO_FIRST_SEGMENT bytes, a pause, the rest). The padding is
 *          one GREASE extension (RFC 8701 value ES_HELLO_GREASE_EXT), which
 *          conforming servers ignore (RFC 8446 §4.2: unknown extensions are
 *          ignored). OpenSSL 3.0 writes custom extensions
 *          (SSL_CTX_add_custom_ext) before its built-in ones, so the padding
 *          comes before server_name and pushes it back.
 *   split  the ordinary ClientHello sent as two TCP segments cut right before
 *          the server_name extension (the whole ClientHello in the first
 *          segment but its SNI; without SNI, in the middle of the hello).
 *
 * Size of the pq hello: an X25519MLKEM768 key share is 1,216 bytes (the
 * ML-KEM-768 encapsulation key, 1,184 bytes by FIPS 203, and the X25519
 * share, 32: draft-ietf-tls-ecdhe-mlkem), 1,220 with its KeyShareEntry
 * header, and its group code point 0x11EC adds 2 to supported_groups: a
 * ClientHello grows by ES_HELLO_PQ_EXTRA = 1,222 bytes. pq pads by that much,
 * or more when needed to put server_name past the first segment. OpenSSL
 * 3.0's own ClientHello (TLS 1.2-1.3, h2+http/1.1, a 17-byte name) is 341
 * bytes, its pq one 1,597 (server_name at 1,400, padding 1,252; TLS 1.2
 * only: 232 -> 1,526; tests/test_hello.c prints the figures);
 * for comparison, OpenSSL 4.0-dev's X25519MLKEM768 ClientHello is a 1,543-byte
 * record and Chrome's (X25519MLKEM768 and X25519 shares) about 1,815 bytes
 * (IETF TLS list, 21 Feb 2026, mail-archive.com/tls@ietf.org/msg21753.html).
 * The pause: on a real path the two segments travel as two packets anyway;
 * on loopback only the pause keeps them apart for a reader that reads once.
 * 30 ms was not enough while the lab's one loop read its SNI router's
 * sockets (under the demo's load, 15 of 40 pq hellos were read whole); the
 * lab now gives each router edge a thread that only makes that first recv
 * (labedge.c), and 100 ms leaves a margin for a machine under load. It costs
 * wall time, not CPU: a pq or split probe holds its slot 100 ms longer.
 * (The key share itself is not sent: OpenSSL 3.0 has no ML-KEM; a server
 * that would pick X25519MLKEM768 sees only X25519 offered, as from any
 * client without post-quantum support.) */
#ifndef EDGESHAKE_HELLO_H
#define EDGESHAKE_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "edgeshake/hello-t.h"


#define ES_HELLO_PQ_EXTRA      1222   /* bytes an X25519MLKEM768 key share adds (above) */
#define ES_HELLO_FIRST_SEGMENT 1400   /* pq: the first segment; server_name starts after it */
#define ES_HELLO_GREASE_EXT    0x3a3a /* RFC 8701 §2: 0x0A0A, 0x1A1A, ..., 0xFAFA */
#define ES_HELLO_PAUSE_MS      100    /* between the two segments (see below) */
#define ES_HELLO_MAX_PAD       4096

/* "plain", "pq", "split"; NULL for anything else. */
const char *es_hello_name(enum es_hello_shape shape);
/* The shape named s; false when s is none of the three names. */
bool es_hello_from_name(const char *s, enum es_hello_shape *shape);

/* What es_hello_parse found in the first bytes of a client's TLS stream.
 * Offsets count from the stream's first byte (the record header). */
struct es_hello_info {
    size_t record_len; /* the first record, header included (5 + its length) */
    size_t hello_len;  /* the ClientHello message, header included (4 + its length) */
    size_t ext_off;    /* the first extension; 0 = not reached */
    size_t sni_off;    /* the server_name extension (its type bytes); 0 = none seen */
    size_t name_off;   /* the first host_name in it, and its length; 0 = none seen */
    size_t name_len;
};

enum es_hello_parse {
    ES_HELLO_NOT_HELLO = -1, /* not a TLS handshake record holding a ClientHello, or malformed */
    ES_HELLO_PARTIAL = 0,    /* the bytes end before the ClientHello does; fields so far are set */
    ES_HELLO_COMPLETE = 1,   /* the whole ClientHello was read */
};

/* Reads the ClientHello at the start of buf[0..len) through a bounded
 * cursor, in the first record only (a ClientHello over 16 KB spans records:
 * it is read as far as the first record goes, PARTIAL). Fills *info as far as
 * the bytes go. A naive SNI router is one that finds no name_off in its first
 * segment. */
enum es_hello_parse es_hello_parse(const uint8_t *buf, size_t len, struct es_hello_info *info);

/* pq: measures a ClientHello of ctx (made in memory, SNI "a") and adds the
 * GREASE padding extension to ctx, sized as above. Call once per SSL_CTX, before
 * SSL objects for probes are made from it. Returns the padding's length (its
 * body), or -1 with a message in err. */
int es_hello_pq_install(SSL_CTX *ctx, char *err, size_t errlen);

/* Where to cut the first flight (the ClientHello record(s) buf[0..len)) into
 * two TCP segments: pq: ES_HELLO_FIRST_SEGMENT (or len/2 for a shorter one);
 * split: the server_name extension's offset (the middle of the hello when it
 * has none); plain: 0 (no cut). Never 0 or len for pq and split when len > 1. */
size_t es_hello_cut(enum es_hello_shape shape, const uint8_t *buf, size_t len);

#endif
