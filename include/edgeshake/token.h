/* token.h - the closed vocabulary of the per-probe columns (DESIGN §3.2).
 *
 * Every token is one exported array: code compares a column against a token
 * by pointer (row->status == es_tok_ok) and prints it as it is. A word that
 * belongs to several columns is one token ("ok" is a status, a verify value
 * and an h2 value; "timeout" a status and an h2 value).
 *
 * The DNS error tokens (nxdomain, servfail, dns_refused, dns_timeout,
 * no_address, ...) are dns.h's; they are not repeated here.
 *
 * Errors of TLS probes, by status:
 *   alert      error = the alert's name, es_alert_name(code) ("handshake_failure",
 *              "protocol_version", ...): the same pointer as the alert_name
 *              column, so error names what the peer said;
 *   tls_error  eof_during_handshake, connection_reset, wrong_version_number,
 *              no_shared_cipher, cert_list_too_long (the server's Certificate
 *              message is longer than ES_TLS_MAX_CERT_LIST, tlsprobe.h; our
 *              alert 47 is in the alert columns), dh_key_too_small (the
 *              server's DHE prime is below our OpenSSL's security level; our
 *              alert 40, kx_group and kx_bits name it); else, when we sent a fatal
 *              alert, that alert's name (alert_from = local, e.g.
 *              "decode_error"); else
 *              handshake_error (failed without any alert or known reason);
 *   timeout    handshake_timeout (connect_timeout is the engine's);
 *   ok         "" (NULL). */
#ifndef EDGESHAKE_TOKEN_H
#define EDGESHAKE_TOKEN_H

#include <stdint.h>

/* status */
extern const char es_tok_ok[];            /* also verify = ok, h2 = ok */
extern const char es_tok_alert[];         /* the peer sent a fatal alert */
extern const char es_tok_tls_error[];     /* failed without a peer alert */
extern const char es_tok_connect_error[]; /* the connection was never up */
extern const char es_tok_timeout[];       /* a deadline passed; also h2 = timeout */
extern const char es_tok_dns_error[];     /* the resolver failed (error: dns.h) */
extern const char es_tok_planned[];       /* --dry-run rows */

/* error: connection and TLS */
extern const char es_tok_connection_refused[];
extern const char es_tok_connection_reset[];
extern const char es_tok_network_unreachable[];
extern const char es_tok_host_unreachable[];
extern const char es_tok_connect_timeout[];
extern const char es_tok_connect_failed[]; /* connect failed otherwise (EACCES, EPERM, ...) */
extern const char es_tok_handshake_timeout[];
extern const char es_tok_eof_during_handshake[];
extern const char es_tok_wrong_version_number[]; /* not TLS answered (e.g. "HTTP/1.1 400") */
extern const char es_tok_no_shared_cipher[];
extern const char es_tok_cert_list_too_long[]; /* Certificate message over the probe's cap */
extern const char es_tok_dh_key_too_small[];   /* a DHE prime below our security level */
extern const char es_tok_handshake_error[];    /* failed, no alert, no more precise reason */

/* alert_from */
extern const char es_tok_peer[];
extern const char es_tok_local[];

/* stage: how far the probe got */
extern const char es_tok_connect[];        /* the engine's: never connected */
extern const char es_tok_client_hello[];   /* ClientHello sent, no ServerHello back */
extern const char es_tok_server_hello[];   /* ServerHello received */
extern const char es_tok_certificate[];    /* server Certificate received */
extern const char es_tok_finished[];       /* handshake complete */
extern const char es_tok_post_handshake[]; /* TLS 1.3: a fatal alert after the handshake
                                              completed (certificate_required) */
extern const char es_tok_h2[];             /* the --h2-check ran (ok or not) */
extern const char es_tok_http[];           /* the --http-check GET went out */

/* verify (besides ok) */
extern const char es_tok_expired[];
extern const char es_tok_not_yet_valid[];
extern const char es_tok_hostname_mismatch[];
extern const char es_tok_self_signed[];
extern const char es_tok_unknown_ca[];
extern const char es_tok_untrusted[];
extern const char es_tok_off[]; /* --no-verify */

/* h2 (besides ok, timeout and goaway_<code>) */
extern const char es_tok_no_settings[]; /* the first frame was not the server's SETTINGS */
extern const char es_tok_eof[];         /* the connection ended before SETTINGS */
extern const char es_tok_bad_frame[];   /* a frame header no HTTP/2 server sends */

/* The RFC 8446 / RFC 5246 name of TLS alert `code` ("handshake_failure" for
 * 40), or "unknown_alert" for a code not in those RFCs. Static; the same
 * pointer for the same code. */
const char *es_alert_name(int code);

/* "goaway_<code>" for the HTTP/2 error codes of RFC 9113 §7 (0..13), static;
 * NULL for other codes (the caller formats "goaway_<code>" itself). */
const char *es_h2_goaway_token(uint32_t code);

#endif
