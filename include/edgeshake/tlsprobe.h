/* tlsprobe.h - the client TLS state machine of one probe, over memory BIOs.
 *
 * No sockets here: the engine moves bytes (io_uring SEND/RECV) and tells the
 * probe what happened; the probe says what it wants next and, at the end,
 * fills the TLS columns of the row. Unit-testable by pumping bytes between a
 * client probe and a server SSL in memory.
 *
 * Threading: an es_tls_ctxset belongs to one worker (no locks); it holds one
 * SSL_CTX per variant, built once, and the worker's verification cache. */
#ifndef EDGESHAKE_TLSPROBE_H
#define EDGESHAKE_TLSPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/probe-t.h"
#include "edgeshake/row-t.h"
#include "edgeshake/variant-t.h"

struct es_tls_opts {
    const char *ca_file; /* NULL = the system store */
    bool no_verify;      /* verify column = "off", no chain building */
    bool h2_check;       /* after ALPN h2: preface + SETTINGS, wait for the server's SETTINGS */
    const char *keylog;  /* NSS key log file, NULL = off */
};

struct es_tls_ctxset;
struct es_tlsprobe;

/* Builds one SSL_CTX per variant (versions, ciphers, ciphersuites, groups,
 * ALPN) and loads the trust store once. Returns NULL and a message naming the
 * variant and the rejected string in err. Free with es_tls_ctxset_free. */
struct es_tls_ctxset *es_tls_ctxset_new(const struct es_variant *variants, size_t nvariants,
                                        const struct es_tls_opts *opts, char *err, size_t errlen);
void es_tls_ctxset_free(struct es_tls_ctxset *set);

/* What the probe needs next. */
enum es_tls_want {
    ES_TLS_WANT_IO,   /* send es_tlsprobe_pending() bytes if any, and read more */
    ES_TLS_DONE,      /* finished (ok or failed): fill the row */
};

/* Starts a probe: new SSL for variant p->variant with SNI by mode; produces
 * the ClientHello (see es_tlsprobe_pending). The probe memory is owned by the
 * caller (es_tlsprobe_size() bytes, e.g. in a slot pool). Returns ES_TLS_WANT_IO,
 * or ES_TLS_DONE on a local failure. */
size_t es_tlsprobe_size(void);
enum es_tls_want es_tlsprobe_start(struct es_tlsprobe *tp, struct es_tls_ctxset *set,
                                   const struct es_probe *p, uint64_t now_ns);
/* Bytes waiting to be sent: *data stays valid until es_tlsprobe_sent. */
size_t es_tlsprobe_pending(struct es_tlsprobe *tp, const uint8_t **data);
void es_tlsprobe_sent(struct es_tlsprobe *tp, size_t n);
/* Feeds bytes received from the peer and advances the handshake. */
enum es_tls_want es_tlsprobe_input(struct es_tlsprobe *tp, const uint8_t *data, size_t len,
                                   uint64_t now_ns);
/* The peer closed (EOF), reset the connection, or the deadline passed. */
enum es_tls_want es_tlsprobe_eof(struct es_tlsprobe *tp);
enum es_tls_want es_tlsprobe_reset(struct es_tlsprobe *tp);
enum es_tls_want es_tlsprobe_timeout(struct es_tlsprobe *tp);
/* Fills status, error, alert*, stage, tls_version, cipher, group, alpn,
 * verify, cert_*, ocsp_stapled, h2 and handshake_ms. Strings point into tp
 * and stay valid until es_tlsprobe_end. */
void es_tlsprobe_fill_row(struct es_tlsprobe *tp, struct es_row *row);
/* Frees the SSL and everything the probe holds; tp may then be started again. */
void es_tlsprobe_end(struct es_tlsprobe *tp);

#endif
