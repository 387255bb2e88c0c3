/* ssl_mem.c - how much memory OpenSSL itself holds for one client handshake
 * that waits for the ServerHello: the floor under edgeshake's RSS per
 * in-flight probe (DESIGN §4: <= 32 KB).
 *
 *   ssl_mem N [free]
 *
 * Makes N client SSL objects the way the engine does (one SSL_CTX, TLS 1.3,
 * SSL_MODE_RELEASE_BUFFERS, memory BIOs, SNI), has each write its
 * ClientHello, keeps them all, and prints "ssl_mem N KB_PER_SSL" (RSS growth
 * per SSL); with "free", "ssl_mem_free N KB_PER_SSL" after SSL_free_buffers()
 * on each. No network. */
#include <string.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static long rss_kb(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
        return 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static SSL *waiting_ssl(SSL_CTX *ctx)
{
    SSL *s = SSL_new(ctx);
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(r, -1);
    SSL_set_bio(s, r, w);
    SSL_set_connect_state(s);
    SSL_set_tlsext_host_name(s, "bench.test");
    SSL_do_handshake(s); /* writes the ClientHello, then wants to read */
    char buf[4096];
    while (BIO_read(w, buf, sizeof buf) > 0)
        ;
    return s;
}

static double per_ssl(SSL_CTX *ctx, int n, int free_buffers)
{
    SSL **v = calloc((size_t)n, sizeof *v);
    long r0 = rss_kb();
    for (int i = 0; i < n; i++) {
        v[i] = waiting_ssl(ctx);
        if (free_buffers)
            SSL_free_buffers(v[i]);
    }
    double kb = (double)(rss_kb() - r0) / n;
    return kb;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_free(waiting_ssl(ctx)); /* warm up OpenSSL's one-time state */
    int free_buffers = argc > 2 && !strcmp(argv[2], "free");
    printf("%s %d %.1f\n", free_buffers ? "ssl_mem_free" : "ssl_mem", n,
           per_ssl(ctx, n, free_buffers));
    return 0; /* the SSLs die with the process */
}
