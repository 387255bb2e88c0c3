/* token.c - the closed vocabulary; see include/edgeshake/token.h. */
#include "edgeshake/token.h"

#include <stddef.h>

#include "edgeshake/util.h"

const char es_tok_ok[] = "ok";
const char es_tok_alert[] = "alert";
const char es_tok_tls_error[] = "tls_error";
const char es_tok_connect_error[] = "connect_error";
const char es_tok_timeout[] = "timeout";
const char es_tok_dns_error[] = "dns_error";
const char es_tok_planned[] = "planned";

const char es_tok_connection_refused[] = "connection_refused";
const char es_tok_connection_reset[] = "connection_reset";
const char es_tok_network_unreachable[] = "network_unreachable";
const char es_tok_host_unreachable[] = "host_unreachable";
const char es_tok_connect_timeout[] = "connect_timeout";
const char es_tok_connect_failed[] = "connect_failed";
const char es_tok_handshake_timeout[] = "handshake_timeout";
const char es_tok_eof_during_handshake[] = "eof_during_handshake";
const char es_tok_wrong_version_number[] = "wrong_version_number";
const char es_tok_no_shared_cipher[] = "no_shared_cipher";
const char es_tok_cert_list_too_long[] = "cert_list_too_long";
const char es_tok_dh_key_too_small[] = "dh_key_too_small";
const char es_tok_handshake_error[] = "handshake_error";

const char es_tok_peer[] = "peer";
const char es_tok_local[] = "local";

const char es_tok_connect[] = "connect";
const char es_tok_client_hello[] = "client_hello";
const char es_tok_server_hello[] = "server_hello";
const char es_tok_certificate[] = "certificate";
const char es_tok_finished[] = "finished";
const char es_tok_post_handshake[] = "post_handshake";
const char es_tok_h2[] = "h2";
const char es_tok_http[] = "http";

const char es_tok_expired[] = "expired";
const char es_tok_not_yet_valid[] = "not_yet_valid";
const char es_tok_hostname_mismatch[] = "hostname_mismatch";
const char es_tok_self_signed[] = "self_signed";
const char es_tok_unknown_ca[] = "unknown_ca";
const char es_tok_untrusted[] = "untrusted";
const char es_tok_off[] = "off";

const char es_tok_no_settings[] = "no_settings";
const char es_tok_eof[] = "eof";
const char es_tok_bad_frame[] = "bad_frame";

/* Alert codes of RFC 8446 §6 and RFC 5246 §7.2, by code. */
static const struct {
    int code;
    const char *name;
} alerts[] = {
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {21, "decryption_failed"},
    {22, "record_overflow"},
    {30, "decompression_failure"},
    {40, "handshake_failure"},
    {41, "no_certificate"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {60, "export_restriction"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {100, "no_renegotiation"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {111, "certificate_unobtainable"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {114, "bad_certificate_hash_value"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
};

static const char unknown_alert[] = "unknown_alert";

const char *es_alert_name(int code)
{
    for (size_t i = 0; i < ES_ARRAY_LEN(alerts); i++)
        if (alerts[i].code == code)
            return alerts[i].name;
    return unknown_alert;
}

/* RFC 9113 §7: NO_ERROR (0) .. HTTP_1_1_REQUIRED (13). */
static const char *const goaway[] = {
    "goaway_0", "goaway_1", "goaway_2", "goaway_3",  "goaway_4",  "goaway_5",  "goaway_6",
    "goaway_7", "goaway_8", "goaway_9", "goaway_10", "goaway_11", "goaway_12", "goaway_13",
};

const char *es_h2_goaway_token(uint32_t code)
{
    return code < ES_ARRAY_LEN(goaway) ? goaway[code] : NULL;
}
