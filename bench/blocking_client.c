/* blocking_client.c - the plainest OpenSSL handshake loop, as a peer for
 * `edgeshake bench`: one thread, one connection at a time, each a full
 * handshake (no session reuse), closed with an RST like edgeshake's.
 *
 *   blocking_client IPv4 PORT N [1.2|1.3]
 *
 * Prints "N handshakes, F failed" on stdout; exits 0 when every handshake
 * completed. Built by bench/run: cc -O2 blocking_client.c -lssl -lcrypto. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: blocking_client IPv4 PORT N [1.2|1.3]\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "blocking_client: bad address %s\n", argv[1]);
        return 2;
    }
    long n = atol(argv[3]);
    int version = argc > 4 && !strcmp(argv[4], "1.2") ? TLS1_2_VERSION : TLS1_3_VERSION;

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

    long ok = 0, failed = 0;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    int one = 1;
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            perror("socket");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            failed++;
            close(fd);
            continue;
        }
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_connect(ssl) == 1)
            ok++;
        else
            failed++;
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
    }
    SSL_CTX_free(ctx);
    printf("%ld handshakes, %ld failed\n", ok, failed);
    return failed ? 1 : 0;
}
