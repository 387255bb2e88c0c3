/* tlsprobe.h - the client TLS state machine of one probe, over memory BIOs.
 *
 * No sockets here: the engine moves bytes (io_uring SEND/RECV) and tells the
 * probe what happened; the probe says what it wants next and, at the end,
 * fills the TLS columns of the row. Unit-testable by pumping bytes between a
 * client probe and a server SSL in memory.
 *
 * Threading: an es_tls_ctxset belongs to one worker (no locks); it holds one
 * SSL_CTX per variant, built once, and the worker's verification cache. The
 * trust store and the key log file are loaded once per process and shared by
 * every ctxset (X509_STORE lookups are thread-safe; key log lines are written
 * under a mutex).
 *
 * Outcomes are the tokens of token.h (status, error, stage, verify, h2),
 * compared by pointer. Notes on what the columns mean here:
 *   - stage is how far the handshake got: client_hello (nothing useful back),
 *     server_hello, certificate, finished (handshake complete),
 *     post_handshake (a fatal alert after the handshake completed), h2 (the
 *     --h2-check ran, whatever its result).
 *   - status ok means the handshake completed and no fatal alert followed; a
 *     failed --h2-check keeps status ok and says what failed in the h2
 *     column, unless a fatal alert from the server ended it: that is a
 *     post-handshake verdict like the one below (status alert, stage
 *     post_handshake, h2 empty), whether it came before the h2 check or
 *     during it.
 *   - TLS 1.3 servers judge the client's certificate after the client's
 *     Finished: when the server asked for one (CertificateRequest; we never
 *     send one), the probe reads on after the handshake until the server's
 *     first record (its session tickets, its SETTINGS, or its alert) or the
 *     end of a grace of a few round trips (es_tlsprobe_wait_until). A
 *     server that rejects us there (alert 116 certificate_required) gives
 *     status alert, stage post_handshake. In TLS 1.2 the same server fails
 *     the handshake itself (alert 40 or 116, stage certificate).
 *   - tls_version, cipher, kx_group and kx_bits are filled once a ServerHello
 *     was accepted, also on failing rows; kx_* come from the server's
 *     ephemeral key (ECDHE, DHE, the TLS 1.3 key share): "X25519" 253,
 *     "P-256" 256, "ffdhe2048" 2048, "dh1024" 1024 (a DHE prime of no named
 *     group); empty without one (TLS 1.2 RSA key exchange).
 *   - the certificate columns and verify are filled whenever the server sent
 *     a certificate, even when the handshake then failed: cert_key ("ec256",
 *     "rsa2048", "ed25519"), cert_sig (the leaf's signature algorithm by
 *     OpenSSL's long name, "ecdsa-with-SHA256"), cert_days_left (whole days
 *     to notAfter at the probe, rounded down: negative once expired) and
 *     chain_len (certificates the server sent, leaf included).
 *   - verify checks the SNI name in SNI mode NAME, otherwise the target host
 *     (its IP for IP targets, also in SNI mode none). Results are cached per
 *     ctxset by xxh3-128 of (chain DER, name) for ES_TLS_VERIFY_CACHE_TTL_S. */
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
    const char *http_path; /* --http-check: one GET of this path after the handshake; NULL = off */
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
/* The variants array must outlive the set (the set keeps a pointer to it). */

/* Makes certificate public keys decode fast on OpenSSL 3.0 (process-wide).
 *
 * Parsing a certificate in OpenSSL 3.0 decodes its public key through the
 * provider decoder framework, which builds a new decoder context for every
 * certificate by walking every key manager and decoder of every provider:
 * ~1.3 M instructions per certificate, 28% of a whole client handshake
 * (ECDSA P-256, TLS 1.3, no verify: 4.68 M with it, 3.37 M without, under
 * callgrind), twice that against a server that sends its intermediate too.
 * OpenSSL 3.1 caches those contexts. On 3.0, es_tls_fast_key_decode_setup
 * routes the decoding of EC keys (ECDSA certificates) to OpenSSL's own
 * built-in decoder instead (a pass-through ENGINE; see tlsprobe.c). RSA keys
 * keep the slow path: OpenSSL's legacy RSA method breaks the TLS 1.2 RSA key
 * exchange.
 *
 * Side effect, for the rest of the process: keys decoded that way are
 * legacy keys, and EVP_PKEY_CTXs made for EC from a type or name rather
 * than from a provider key run OpenSSL's built-in legacy implementation of
 * the same algorithm: verifying the server's signature and chain, an ECDHE
 * key share. Keys loaded from files or generated before are not affected,
 * but generating an EC key by NIST name (EVP_EC_gen("P-256")) fails
 * afterwards. So only processes that probe and never make lab keys turn it
 * on: main() for scan, bench and enum, once, before any thread starts. It
 * is never turned off: switching it while another thread is inside a
 * handshake broke that handshake (EVP_PKEY_generate: inaccessible domain
 * parameters, 1,061 of 6,192 TLS 1.2 P-256 handshakes).
 *
 * It stays off (and setup says why) where it would change which code runs
 * EC: FIPS mode; EC algorithms that a default fetch takes from another
 * provider than OpenSSL's default one (a default property query such as
 * "provider=pkcs11" or "fips=yes", a provider loaded before default);
 * another ENGINE registered for EC. The decision looks at what a fetch
 * returns rather than at the property string, which OpenSSL 3.0 cannot
 * return: a query that still selects the default provider leaves it on. */
enum es_tls_keydecode {
    ES_KEYDECODE_ON = 0,
    ES_KEYDECODE_NOT_NEEDED,   /* OpenSSL 3.1 or newer: decoders are cached there */
    ES_KEYDECODE_NO_ENGINES,   /* OpenSSL built without ENGINE support */
    ES_KEYDECODE_FIPS,         /* FIPS mode (fips=yes in the default properties) */
    ES_KEYDECODE_PROVIDER,     /* EC is fetched from another provider than "default" */
    ES_KEYDECODE_OTHER_ENGINE, /* another ENGINE handles EC */
    ES_KEYDECODE_DISABLED,     /* ES_TEST_TLS contains "provider_decode" (to compare) */
    ES_KEYDECODE_FAILED,       /* OpenSSL refused the ENGINE */
};
/* Decides and, when the answer is ES_KEYDECODE_ON, registers the ENGINE.
 * Call it once, from the main thread, before any thread uses OpenSSL;
 * later calls return the first decision. */
enum es_tls_keydecode es_tls_fast_key_decode_setup(void);
/* What setup decided, or (before setup) what it would decide, registering
 * nothing: for --version. */
enum es_tls_keydecode es_tls_fast_key_decode_state(void);
/* One line for --version: "on (EC keys: OpenSSL's built-in decoder)" or
 * "off: <why>". Static string. */
const char *es_tls_keydecode_text(enum es_tls_keydecode st);

/* The longest Certificate message (its body, the whole chain) a probe
 * accepts: SSL_CTX_set_max_cert_list on every SSL_CTX of the set. OpenSSL
 * holds a handshake message whole before parsing it, so this bounds what a
 * hostile server can make one probe buffer. Real chains are 2 to 20 KB (and
 * OpenSSL's default cap is 100 KB); 256 KB leaves room for chains with
 * thousands of SAN names and cross-signed intermediates. A longer message
 * ends the probe at its header, before the rest is read: status tls_error,
 * error cert_list_too_long, our fatal alert 47 (illegal_parameter,
 * alert_from local), stage server_hello. */
#define ES_TLS_MAX_CERT_LIST (256 * 1024)

/* Verify cache: entries (direct-mapped, replaced on collision) and how long
 * a result is reused. */
#define ES_TLS_VERIFY_CACHE_SIZE  4096
#define ES_TLS_VERIFY_CACHE_TTL_S 600
/* Idle SSL objects a set keeps for its next probes (es_tlsprobe_end resets
 * one with SSL_clear and keeps it, instead of SSL_free; es_tlsprobe_start
 * takes one for the same SSL_CTX before making a new one). Nothing of the
 * last connection is carried over: see ssl_give in tlsprobe.c. */
#define ES_TLS_SSL_POOL 64
/* SSL objects of this set made by SSL_new so far, and taken from its pool. */
uint64_t es_tls_ctxset_ssl_new(const struct es_tls_ctxset *set);
uint64_t es_tls_ctxset_ssl_reused(const struct es_tls_ctxset *set);
/* Send buffers this set has allocated: a probe borrows one only while it has
 * bytes to send, so this is the most probes that were sending at once, not
 * the number waiting. */
size_t es_tls_ctxset_send_buffers(const struct es_tls_ctxset *set);
/* Chain verifications this set has actually run (cache misses). */
uint64_t es_tls_ctxset_verifications(const struct es_tls_ctxset *set);

/* The one mapping of SSL_get_error (every SSL call goes through it):
 * ssl_error is what SSL_get_error returned, err the first code of the OpenSSL
 * error queue (ERR_peek_error(), 0 when empty). On ES_TLS_IO_FAILED *reason
 * is an error token of token.h: eof_during_handshake, wrong_version_number,
 * no_shared_cipher or handshake_error; otherwise *reason is NULL. Alerts are
 * not derived from err: they come from the info callback. (The probe refines
 * one case with the SSL's state, which this mapping does not see: an
 * over-long server Certificate is cert_list_too_long, ES_TLS_MAX_CERT_LIST.) */
enum es_tls_io {
    ES_TLS_IO_DONE,
    ES_TLS_IO_WANT_READ,
    ES_TLS_IO_WANT_WRITE,
    ES_TLS_IO_FAILED,
};
enum es_tls_io es_tls_map_error(int ssl_error, unsigned long err, const char **reason);

/* What the probe needs next. */
enum es_tls_want {
    ES_TLS_WANT_IO, /* send es_tlsprobe_pending() bytes if any, and read more */
    ES_TLS_DONE,    /* finished (ok or failed): fill the row */
};
/* After ES_TLS_DONE bytes may still be pending (the client Finished, the
 * SETTINGS ACK, a close_notify, a fatal alert): send them if the socket takes
 * them without waiting, then close. Later calls of input/eof/reset/timeout
 * are no-ops that return ES_TLS_DONE. */

/* Starts a probe: an SSL for variant p->variant (reset from the set's pool,
 * or new) with SNI by mode; produces
 * the ClientHello (see es_tlsprobe_pending). The probe memory is owned by the
 * caller (es_tlsprobe_size() bytes, e.g. in a slot pool). Returns ES_TLS_WANT_IO,
 * or ES_TLS_DONE on a local failure. */
/* now_ns is es_now_ns() (CLOCK_MONOTONIC); eof/reset/timeout read it
 * themselves. The memory must be aligned for any type (max_align_t). */
size_t es_tlsprobe_size(void);
enum es_tls_want es_tlsprobe_start(struct es_tlsprobe *tp, struct es_tls_ctxset *set,
                                   const struct es_probe *p, uint64_t now_ns);
/* Bytes waiting to be sent: *data stays valid until es_tlsprobe_sent. */
size_t es_tlsprobe_pending(struct es_tlsprobe *tp, const uint8_t **data);
void es_tlsprobe_sent(struct es_tlsprobe *tp, size_t n);
/* Two-segment ClientHellos (--hello pq|split, hello.h). es_tlsprobe_pending
 * hands out the first flight only up to the cut, then nothing until
 * es_tlsprobe_resume:
 *   more    the bytes pending now end before the cut: send them with
 *           MSG_MORE, so that they leave in one segment with the rest of the
 *           first segment (the probe's send buffer is smaller than a pq cut);
 *   paused  the first segment is sent: wait ES_HELLO_PAUSE_MS (so that it
 *           arrives alone, also on loopback), then resume and send the rest.
 * Plain ClientHellos are never paused. */
bool es_tlsprobe_more(const struct es_tlsprobe *tp);
bool es_tlsprobe_paused(const struct es_tlsprobe *tp);
void es_tlsprobe_resume(struct es_tlsprobe *tp);
/* Feeds bytes received from the peer and advances the handshake:
 * es_tlsprobe_push then es_tlsprobe_step. */
enum es_tls_want es_tlsprobe_input(struct es_tlsprobe *tp, const uint8_t *data, size_t len,
                                   uint64_t now_ns);
/* The two halves of es_tlsprobe_input, for a caller that bounds the CPU it
 * spends per loop iteration (the engine): push copies the bytes into the
 * probe (cheap; they may be pushed as they arrive, several times) and returns
 * ES_TLS_WANT_IO, or ES_TLS_DONE when the probe is over (out of memory);
 * step advances the handshake over everything pushed so far (the expensive
 * part: certificate parsing, key exchange, signatures). */
enum es_tls_want es_tlsprobe_push(struct es_tlsprobe *tp, const uint8_t *data, size_t len);
enum es_tls_want es_tlsprobe_step(struct es_tlsprobe *tp, uint64_t now_ns);
/* ES_TLS_WANT_IO with a time limit of the probe's own (the TLS 1.3 grace
 * after a CertificateRequest, see above): once now reaches the returned
 * CLOCK_MONOTONIC time, call es_tlsprobe_step(tp, now), which ends the wait
 * (it also ends early when the server's next record arrives). 0 = no limit
 * of its own: only the probe's deadline. Valid after any call that returned
 * ES_TLS_WANT_IO. */
uint64_t es_tlsprobe_wait_until(const struct es_tlsprobe *tp);
/* The grace: ES_TLS_POST_GRACE_RTTS times the first round trip (ClientHello
 * to the server's first flight, its signing included), at least MIN and at
 * most MAX ms. Generous on purpose: a busy server answers our Finished late
 * (a lab fleet scan at 400 in flight saw one alert 650 ms after the
 * handshake, with a first round trip of ~300 ms; a loaded test machine lost
 * verdicts with a 50 ms floor), and the wait costs only probes of servers
 * that ask for a certificate and send no session ticket. */
#define ES_TLS_POST_GRACE_RTTS   4
#define ES_TLS_POST_GRACE_MIN_MS 250
#define ES_TLS_POST_GRACE_MAX_MS 2000
/* The peer closed (EOF), reset the connection, or the deadline passed, at
 * now_ns: the caller's clock, the one its row's total_ms comes from, so that
 * connect_ms + handshake_ms <= total_ms on every row. */
enum es_tls_want es_tlsprobe_eof(struct es_tlsprobe *tp, uint64_t now_ns);
enum es_tls_want es_tlsprobe_reset(struct es_tlsprobe *tp, uint64_t now_ns);
enum es_tls_want es_tlsprobe_timeout(struct es_tlsprobe *tp, uint64_t now_ns);
/* Fills sni, status, error, alert*, stage, tls_version, cipher, kx_group,
 * kx_bits, alpn, verify, cert_* (chain_len too), ocsp_stapled, h2,
 * hello_bytes, http_status, http_server, clock_skew_s, h3_advertised and
 * handshake_ms (from es_tlsprobe_start to the end of the handshake, ok or
 * failed, or to a post_handshake alert). Strings point into tp or are static
 * and stay valid until es_tlsprobe_end. Only after ES_TLS_DONE. */
void es_tlsprobe_fill_row(struct es_tlsprobe *tp, struct es_row *row);
/* Ends the probe: its SSL goes back to the set's pool, reset (ES_TLS_SSL_POOL),
 * or is freed; tp may then be started again. */
void es_tlsprobe_end(struct es_tlsprobe *tp);

#endif
