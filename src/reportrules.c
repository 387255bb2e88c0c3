/* reportrules.c - explanation rules and repro commands; see
 * include/edgeshake/reportrules.h and docs/findings.md. */
#include "edgeshake/reportrules.h"

#include <stdio.h>
#include <string.h>

/* ---- explanations ---- */

enum {
    W_TLS12_H2 = 1 << 0,   /* TLS 1.2 offered, with h2 in the ALPN list */
    W_TLS13 = 1 << 1,      /* TLS 1.3 offered */
    W_CERT_STAGE = 1 << 2, /* stopped at stage certificate or post_handshake */
    ANY_ALERT = -1,
    NO_ALERT = -2, /* no alert from the peer */
};

struct rule {
    int alert;         /* a peer alert code, ANY_ALERT or NO_ALERT */
    const char *error; /* the error token, NULL = any */
    unsigned when;     /* W_* conditions that must all hold */
    const char *text;
};

/* First match wins: specific rows before general ones. */
static const struct rule rules[] = {
    {116, NULL, 0,
     "the node requires a client certificate (certificate_required): mutual TLS is on for this "
     "name or port"},
    {40, NULL, W_CERT_STAGE,
     "the node asks for a client certificate and fails the handshake without one (alert 40 "
     "after a CertificateRequest): mutual TLS is on for this name or port"},
    {42, NULL, W_CERT_STAGE,
     "the node asks for a client certificate and rejects the handshake without one "
     "(bad_certificate after a CertificateRequest): mutual TLS is on"},
    {ANY_ALERT, NULL, W_CERT_STAGE,
     "the node rejects the handshake after asking for a client certificate: it most likely "
     "requires one (mutual TLS)"},
    {40, NULL, W_TLS12_H2,
     "the node's TLS 1.2 cipher list shares nothing with this ClientHello: it lacks the "
     "ECDHE-GCM suites that HTTP/2 requires (RFC 7540 §9.2)"},
    {40, NULL, 0,
     "the node rejects this ClientHello (handshake_failure): no cipher, group or signature "
     "algorithm in common"},
    {70, NULL, W_TLS13,
     "the node does not speak TLS 1.3 (protocol_version): its config predates the TLS 1.3 "
     "rollout"},
    {70, NULL, 0, "the node does not accept the offered TLS version (protocol_version)"},
    {112, NULL, 0,
     "the node has strict SNI: it refuses a ClientHello whose server name is missing or unknown "
     "there (unrecognized_name)"},
    {120, NULL, 0,
     "ALPN is off or lacks the offered protocols on the node (no_application_protocol)"},
    {47, NULL, 0, "the node finds the ClientHello malformed (illegal_parameter)"},
    {80, NULL, 0, "the node fails internally during the handshake (internal_error)"},
    {NO_ALERT, "connection_refused", 0,
     "nothing listens on this port on the node (connection refused)"},
    {NO_ALERT, "connect_timeout", 0,
     "the node accepts no connection in time: down, filtered or overloaded"},
    {NO_ALERT, "handshake_timeout", 0,
     "the node accepts TCP but never finishes the handshake: a hung or blackholed TLS "
     "terminator"},
    {NO_ALERT, "connection_reset", 0,
     "the node resets the connection during the handshake: a crashed terminator or a "
     "middlebox"},
    {NO_ALERT, "wrong_version_number", 0,
     "the node does not answer with TLS on this port (plain HTTP or another protocol)"},
    {NO_ALERT, "eof_during_handshake", 0, "the node closes the connection during the handshake"},
    {NO_ALERT, "no_shared_cipher", 0, "no cipher in common between this ClientHello and the node"},
    {NO_ALERT, "network_unreachable", 0, "no route to the node from this vantage point"},
    {NO_ALERT, "host_unreachable", 0, "no route to the node from this vantage point"},
    {NO_ALERT, "cert_list_too_long", 0,
     "the node sends a certificate chain larger than the scanner accepts (256 KB): a "
     "misconfigured chain file or a hostile server"},
    {NO_ALERT, "connect_failed", 0, "the connection to the node fails before TLS starts"},
    {ANY_ALERT, NULL, 0, "the node sends a fatal alert during the handshake"},
    {NO_ALERT, NULL, 0, "the handshake fails on these nodes and succeeds on others"},
};

static bool offers(const char *list, const char *proto)
{
    size_t n = strlen(proto);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !memcmp(p, proto, n))
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

const char *rr_explain_failure(const struct rt_variant *v, const struct rt_sig *s)
{
    unsigned have = 0;
    if (v->tls && !strcmp(v->tls, "1.2") && offers(v->alpn, "h2"))
        have |= W_TLS12_H2;
    if (v->tls && !strcmp(v->tls, "1.3"))
        have |= W_TLS13;
    if (s->stage && (!strcmp(s->stage, "certificate") || !strcmp(s->stage, "post_handshake")))
        have |= W_CERT_STAGE;
    for (size_t i = 0; i < ES_ARRAY_LEN(rules); i++) {
        const struct rule *u = &rules[i];
        if (u->alert == NO_ALERT    ? s->alert >= 0
            : u->alert == ANY_ALERT ? s->alert < 0
                                    : u->alert != s->alert)
            continue;
        if (u->error && strcmp(u->error, s->error ? s->error : ""))
            continue;
        if ((u->when & have) != u->when)
            continue;
        return u->text;
    }
    return "the handshake fails on these nodes and succeeds on others";
}

struct text_rule {
    const char *token, *text;
};

static const char *lookup(const struct text_rule *t, size_t n, const char *token, const char *def)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(token, t[i].token))
            return t[i].text;
    return def;
}

const char *rr_explain_verify(const char *token)
{
    static const struct text_rule t[] = {
        {"expired", "the certificate on these nodes has expired: a certificate rollout missed "
                    "them"},
        {"not_yet_valid", "the certificate on these nodes is not valid yet: issued in the "
                          "future or the clocks disagree"},
        {"hostname_mismatch", "these nodes serve a certificate for another name: a rollout or "
                              "SNI config that missed them"},
        {"self_signed", "these nodes serve a self-signed certificate (a default or test "
                        "certificate)"},
        {"unknown_ca", "the chain on these nodes does not lead to a trusted root: a missing "
                       "intermediate or a private CA"},
        {"untrusted", "the chain on these nodes fails verification"},
    };
    return lookup(t, ES_ARRAY_LEN(t), token, "certificate verification fails on these nodes");
}

const char *rr_explain_dns(const char *token)
{
    static const struct text_rule t[] = {
        {"nxdomain", "this resolver says the name does not exist while others answer: a record "
                     "missing from that region's view"},
        {"servfail", "this resolver fails to resolve the name while others answer: a broken "
                     "zone or DNSSEC failure in that region"},
        {"dns_refused", "this resolver refuses the query: it does not serve this vantage or "
                        "name"},
        {"dns_timeout", "this resolver does not answer in time"},
        {"resolver_unreachable", "this resolver cannot be reached (its port is closed or there "
                                 "is no route)"},
        {"no_address", "this resolver has the name but no address of the family asked"},
    };
    return lookup(t, ES_ARRAY_LEN(t), token,
                  "this resolver fails for the name while others answer");
}

const char *rr_explain_h2(const char *token)
{
    if (!strcmp(token, "eof"))
        return "the node negotiates h2 but closes the connection after the HTTP/2 preface: "
               "HTTP/2 is broken behind its TLS terminator";
    return "the node negotiates h2 but its HTTP/2 connection preface is wrong or missing";
}

/* ---- repro ---- */

void rr_sb_word(struct es_sb *b, const char *w)
{
    bool plain = *w != '\0';
    for (const char *p = w; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/,=@+-[]",
                    *p))
            plain = false;
    if (plain) {
        es_sb_printf(b, " %s", w);
        return;
    }
    es_sb_add(b, " '");
    for (const char *p = w; *p; p++) {
        if (*p == '\'')
            es_sb_add(b, "'\\''");
        else
            es_sb_addn(b, p, 1);
    }
    es_sb_add(b, "'");
}

char *rr_repro_h2(const char *host, int port, const char *ip)
{
    struct es_sb b = {0};
    char ep[320];
    es_sb_add(&b, "curl -sv --http2 --resolve");
    snprintf(ep, sizeof ep, "%s:%d:%s", host, port, ip);
    rr_sb_word(&b, ep);
    snprintf(ep, sizeof ep, "https://%s:%d/", host, port);
    rr_sb_word(&b, ep);
    return es_sb_take(&b);
}

char *rr_repro_s_client(const struct rt_variant *v, const char *sni, const char *ip, int port,
                        const char *verify_host)
{
    struct es_sb b = {0};
    char ep[128];
    es_sb_add(&b, "openssl s_client -connect");
    snprintf(ep, sizeof ep, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
    rr_sb_word(&b, ep);
    if (sni && *sni && strcmp(sni, "none")) {
        es_sb_add(&b, " -servername");
        rr_sb_word(&b, sni);
    } else {
        es_sb_add(&b, " -noservername");
    }
    static const struct {
        const char *v, *flag;
        bool legacy; /* OpenSSL 3 refuses it at its default security level */
    } tls[] = {{"1.0", " -tls1", true},
               {"1.1", " -tls1_1", true},
               {"1.2", " -tls1_2", false},
               {"1.3", " -tls1_3", false}};
    bool legacy = false;
    for (size_t i = 0; i < ES_ARRAY_LEN(tls); i++)
        if (v->tls && !strcmp(v->tls, tls[i].v)) {
            es_sb_add(&b, tls[i].flag);
            legacy = tls[i].legacy;
        }
    if (v->alpn && *v->alpn && strcmp(v->alpn, "none")) {
        es_sb_add(&b, " -alpn");
        rr_sb_word(&b, v->alpn);
    }
    if ((v->ciphers && *v->ciphers) || legacy) {
        struct es_sb c = {0};
        es_sb_add(&c, v->ciphers && *v->ciphers ? v->ciphers : "DEFAULT");
        if (legacy)
            es_sb_add(&c, ":@SECLEVEL=0");
        es_sb_add(&b, " -cipher");
        rr_sb_word(&b, c.s);
        es_sb_free(&c);
    }
    if (v->groups && *v->groups) {
        es_sb_add(&b, " -groups");
        rr_sb_word(&b, v->groups);
    }
    if (verify_host) {
        es_sb_add(&b, " -verify_return_error -verify_hostname");
        rr_sb_word(&b, verify_host);
    }
    es_sb_add(&b, " </dev/null");
    return es_sb_take(&b);
}

char *rr_repro_dig(const char *host, const char *label, const char *addr)
{
    struct es_sb b = {0};
    es_sb_add(&b, "dig");
    if (addr && *addr) {
        char ip[128];
        const char *port = NULL;
        if (addr[0] == '[') {
            const char *end = strchr(addr, ']');
            size_t n = end ? (size_t)(end - addr - 1) : strlen(addr + 1);
            snprintf(ip, sizeof ip, "%.*s", (int)n, addr + 1);
            if (end && end[1] == ':')
                port = end + 2;
        } else {
            const char *colon = strchr(addr, ':');
            bool v4 = colon && !strchr(colon + 1, ':');
            size_t n = v4 ? (size_t)(colon - addr) : strlen(addr);
            snprintf(ip, sizeof ip, "%.*s", (int)n, addr);
            if (v4)
                port = colon + 1;
        }
        char at[160];
        snprintf(at, sizeof at, "@%s", ip);
        rr_sb_word(&b, at);
        if (port && *port && strcmp(port, "53")) {
            es_sb_add(&b, " -p");
            rr_sb_word(&b, port);
        }
        rr_sb_word(&b, host);
        es_sb_add(&b, " A  # the resolver labelled");
        rr_sb_word(&b, label);
        return es_sb_take(&b);
    }
    rr_sb_word(&b, host);
    es_sb_add(&b, " A  # through the resolver labelled");
    rr_sb_word(&b, label);
    return es_sb_take(&b);
}

/* ---- issue #16: hello, http, clock, expiry, weak ---- */

char *rr_explain_hello(const char *const *ips, size_t nips, unsigned shapes)
{
    struct es_sb b = {0};
    for (size_t i = 0; i < nips; i++)
        es_sb_printf(&b, "%s%s", i == 0 ? "" : i + 1 == nips ? " and " : ", ", ips[i]);
    const char *what = shapes == (RR_HELLO_PQ | RR_HELLO_SPLIT) ? "split or post-quantum-size"
                       : shapes == RR_HELLO_SPLIT               ? "split"
                                                                : "post-quantum-size";
    es_sb_printf(&b,
                 " %s only with %s ClientHellos: a middlebox or SNI router in front of %s reads "
                 "one TCP segment; clients with post-quantum key exchange will fail here",
                 nips == 1 ? "fails" : "fail", what, nips == 1 ? "it" : "them");
    return es_sb_take(&b);
}

/* HOST@IP, with [] around an IPv6 address */
static void sb_target(struct es_sb *b, const char *host, const char *ip)
{
    char t[400];
    snprintf(t, sizeof t, strchr(ip, ':') ? "%s@[%s]" : "%s@%s", host, ip);
    rr_sb_word(b, t);
}

char *rr_repro_hello(const struct rt_variant *v, const char *host, const char *ip, int port,
                     const char *shape)
{
    struct es_sb b = {0};
    es_sb_add(&b, "edgeshake scan");
    sb_target(&b, host, ip);
    es_sb_printf(&b, " -p %d", port);
    if (v->tls && (!strcmp(v->tls, "1.2") || !strcmp(v->tls, "1.3") || !strcmp(v->tls, "1.1") ||
                   !strcmp(v->tls, "1.0")))
        es_sb_printf(&b, " --tls %s", v->tls);
    if (v->alpn && *v->alpn) {
        es_sb_add(&b, " --alpn");
        rr_sb_word(&b, v->alpn);
    }
    if (v->sni && *v->sni) { /* not the host name: none, or a fixed NAME */
        es_sb_add(&b, " --sni");
        rr_sb_word(&b, v->sni);
    }
    es_sb_printf(&b, " --hello %s --hello plain", shape);
    return es_sb_take(&b);
}

const char *rr_explain_http(const char *token)
{
    static const struct text_rule t[] = {
        {"status 525", "the CDN could not complete TLS with the origin (525: SSL handshake "
                       "failed); the edge's own TLS works, its connection to the origin does not"},
        {"status 526", "the CDN could not complete TLS with the origin (526: the origin's "
                       "certificate is invalid); the edge's own TLS works, its connection to the "
                       "origin does not"},
        {"status 502", "the edge could not get a valid answer from the origin (502 bad "
                       "gateway): the origin behind this node is down or unreachable"},
        {"status 504", "the edge timed out waiting for the origin (504 gateway timeout)"},
        {"status 503", "the node is overloaded or in maintenance (503 service unavailable)"},
        {"status 500", "an internal error on the node or its origin (500)"},
        {"no response", "the handshake completed but the GET got no HTTP answer (EOF, reset, "
                        "timeout or not HTTP): the service behind the TLS terminator is broken"},
    };
    return lookup(t, ES_ARRAY_LEN(t), token,
                  "a server error on these edges while others answer: the node or its origin "
                  "is broken");
}

static char *curl(const char *host, int port, const char *ip, const char *tail)
{
    struct es_sb b = {0};
    char ep[400];
    es_sb_add(&b, "curl -sS -o /dev/null -D - --resolve");
    snprintf(ep, sizeof ep, strchr(ip, ':') ? "%s:%d:[%s]" : "%s:%d:%s", host, port, ip);
    rr_sb_word(&b, ep);
    snprintf(ep, sizeof ep, "https://%s:%d/", host, port);
    rr_sb_word(&b, ep);
    es_sb_add(&b, tail);
    return es_sb_take(&b);
}

char *rr_repro_http(const char *host, int port, const char *ip)
{
    return curl(host, port, ip, " -k");
}

char *rr_repro_clock(const char *host, int port, const char *ip)
{
    return curl(host, port, ip, " -k | grep -i '^date:'; date -u");
}

char *rr_repro_cert(const char *host, int port, const char *ip, const char *x509_flags)
{
    struct es_sb b = {0};
    char ep[128];
    es_sb_add(&b, "openssl s_client -connect");
    snprintf(ep, sizeof ep, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
    rr_sb_word(&b, ep);
    es_sb_add(&b, " -servername");
    rr_sb_word(&b, host);
    es_sb_printf(&b, " </dev/null 2>/dev/null | openssl x509 -noout %s", x509_flags);
    return es_sb_take(&b);
}

char *rr_repro_dhe(const char *host, int port, const char *ip)
{
    struct es_sb b = {0};
    char ep[128];
    es_sb_add(&b, "openssl s_client -connect");
    snprintf(ep, sizeof ep, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
    rr_sb_word(&b, ep);
    es_sb_add(&b, " -servername");
    rr_sb_word(&b, host);
    es_sb_add(&b, " -tls1_2 -cipher 'DHE:@SECLEVEL=0' </dev/null 2>&1 | grep 'Temp Key'");
    return es_sb_take(&b);
}

const char *rr_explain_weak(const char *failure)
{
    if (!strncmp(failure, "DHE ", 4))
        return "the node offers Diffie-Hellman key exchange with a prime below 2048 bits "
               "(Logjam, CVE-2015-4000): current clients refuse it (OpenSSL's dh_key_too_small) "
               "and a state-level attacker can break it; configure a 2048-bit group (ffdhe2048) "
               "or ECDHE only";
    return "the certificate's key is below policy (RSA and DSA keys need 2048 bits, EC keys "
           "224): browsers and current OpenSSL refuse it; reissue it with a larger key";
}

void rr_format_day(char *out, size_t len, int32_t day)
{
    /* civil from days (proleptic Gregorian) */
    int64_t z = (int64_t)day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    snprintf(out, len, "%04lld-%02u-%02u", (long long)(y + (m <= 2)), m, d);
}
