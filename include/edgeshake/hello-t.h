/* hello-t.h - the ClientHello shape of a variant (--hello, DESIGN §3.1); the
 * shapes are described in hello.h. */
#ifndef EDGESHAKE_HELLO_T_H
#define EDGESHAKE_HELLO_T_H

enum es_hello_shape {
    ES_HELLO_PLAIN = 0, /* one ClientHello as OpenSSL writes it, sent as it comes */
    ES_HELLO_PQ,        /* padded to post-quantum size, SNI past 1,400 bytes, two segments */
    ES_HELLO_SPLIT,     /* the plain ClientHello in two segments cut before the SNI */
};

#endif
