/* labspec-t.h - a parsed lab spec (DESIGN §3.5): resolvers, hosts, edges. */
#ifndef EDGESHAKE_LABSPEC_T_H
#define EDGESHAKE_LABSPEC_T_H

#include <stdbool.h>
#include <stddef.h>

#include "edgeshake/net-t.h"

/* TLS versions as bits (edge `tls=`). */
#define ES_TLS_1_0 (1u << 0)
#define ES_TLS_1_1 (1u << 1)
#define ES_TLS_1_2 (1u << 2)
#define ES_TLS_1_3 (1u << 3)

enum es_lab_fault {
    ES_FAULT_NONE = 0,
    ES_FAULT_REFUSE,    /* nothing listening: connect gets RST */
    ES_FAULT_BLACKHOLE, /* accept, never send a byte */
    ES_FAULT_RESET,     /* read the ClientHello, then RST (SO_LINGER 0) */
    ES_FAULT_GARBAGE,   /* answer the ClientHello with random bytes, then close */
    ES_FAULT_HTTP,      /* answer with a plain HTTP/1.1 400 response, then close */
    ES_FAULT_DRIP,      /* a valid handshake, one byte per second */
    ES_FAULT_CLOSE,     /* accept, then close at once without reading (FIN first) */
    ES_FAULT_HUGECHAIN, /* a real handshake whose Certificate message carries a chain
                           of megabytes (labedge.c: HUGECHAIN_CERTS x ~8 KB) */
    ES_FAULT_SNI_ROUTER, /* a naive SNI router in front of a normal edge: reads the
                            ClientHello from the first TCP segment only (one recv) and
                            resets when that holds part of a ClientHello without its
                            SNI host name (a whole one without SNI is routed) */
};

enum es_lab_certkind {
    ES_CERT_GOOD = 0,   /* leaf for the name, signed by the lab CA, valid now */
    ES_CERT_EXPIRED,    /* notAfter in the past */
    ES_CERT_FUTURE,     /* notBefore in the future */
    ES_CERT_WRONG,      /* a valid leaf for another name ("wrong.NAME.invalid") */
    ES_CERT_SELFSIGNED, /* leaf for the name, signed by itself */
    ES_CERT_EXPIRING,   /* valid now, notAfter in 9.5 days (cert_days_left 9) */
};

enum es_lab_keykind { ES_KEY_ECDSA = 0, ES_KEY_RSA };

/* Edge `client_cert=`: whether the edge asks for a client certificate. */
enum es_lab_clientcert {
    ES_CLIENT_CERT_NONE = 0, /* asks for none */
    ES_CLIENT_CERT_OPTIONAL, /* asks (CertificateRequest), accepts a client without one */
    ES_CLIENT_CERT_REQUIRED, /* asks and rejects a client without one (TLS 1.3: alert 116
                                certificate_required after the handshake; TLS 1.2: alert
                                40 during it) */
};

/* What a resolver does with a query (resolver `fault=`, host answers). */
enum es_lab_dnsfault {
    ES_DNS_ANSWER = 0, /* answer normally */
    ES_DNS_NXDOMAIN,
    ES_DNS_SERVFAIL,
    ES_DNS_REFUSED,
    ES_DNS_DROP, /* never answer */
};

struct es_lab_edge {
    unsigned line;
    struct es_endpoint addr;
    char *cert_name; /* never NULL after parsing: explicit, else the first host
                        whose answers include this IP, else "edge.lab.test" */
    enum es_lab_certkind cert_kind;
    enum es_lab_keykind key;
    unsigned tls;       /* ES_TLS_* accepted; default ES_TLS_1_2 | ES_TLS_1_3 */
    char *ciphers;      /* NULL = OpenSSL default */
    char *ciphersuites; /* NULL = OpenSSL default */
    char *groups;       /* NULL = OpenSSL default */
    char *alpn;         /* accepted protocols, comma-separated; default "h2,http/1.1";
                           NULL when alpn=none (the extension is ignored) */
    bool alpn_strict;   /* no overlap -> alert 120 (else: no ALPN selected) */
    bool sni_strict;    /* missing or unknown SNI -> alert 112 */
    bool h2_broken;     /* after h2, close instead of answering with SETTINGS */
    unsigned delay_ms;  /* wait before answering the ClientHello */
    unsigned flaky_pct; /* P% of handshakes are reset after the ClientHello */
    enum es_lab_fault fault;
    enum es_lab_clientcert client_cert; /* client_cert=none|optional|required */
    unsigned dh_bits; /* dh=1024|2048: TLS <= 1.2 DHE with that prime (1024: RFC 2409's
                         Oakley group 2, 2048: RFC 7919's ffdhe2048); 0 = no DHE. Implies
                         key=rsa and, without ciphers=, the DHE suites only */
    unsigned max_hello; /* max_hello=BYTES: reset a ClientHello record longer than this
                           (header included); 0 = no limit */
    unsigned http_status; /* http_status=N: the status of every HTTP response; 0 = 200 */
    long clock_skew_s;    /* clock_skew=S: the Date the edge sends is off by S seconds */
    char *subject_o; /* subject_o=: an O= attribute added to the leaf's subject after CN,
                        percent-decoded: 1..64 bytes of UTF-8, any byte but NUL (commas,
                        quotes, '<', newlines: a hostile subject); NULL = none */
};

struct es_lab_resolver {
    unsigned line;
    char *label;
    struct es_endpoint addr; /* UDP */
    enum es_lab_dnsfault fault; /* ES_DNS_ANSWER unless fault=drop|servfail|refused */
};

/* One answer rule of a host: for one resolver label, or for an ECS subnet. */
struct es_lab_answer {
    unsigned line;
    char *label;            /* resolver label; NULL for an ECS rule */
    struct es_ip ecs;       /* ECS rule: the subnet ... */
    unsigned ecs_prefix;    /* ... and its prefix length */
    enum es_lab_dnsfault kind; /* ES_DNS_ANSWER: ips below */
    struct es_ip *ips;
    size_t nips;
};

struct es_lab_host {
    unsigned line; /* first line that named it */
    char *name;    /* lower case, no trailing dot */
    struct es_lab_answer *answers;
    size_t nanswers;
};

struct es_labspec {
    char *path;
    struct es_lab_resolver *resolvers;
    size_t nresolvers;
    struct es_lab_host *hosts;
    size_t nhosts;
    struct es_lab_edge *edges;
    size_t nedges;
    void *_index; /* private to labspec.c: host-name lookup table (NULL: linear search) */
};

#endif
