/* ssl_mem.c - how much memory OpenSSL itself holds for one client handshake
 * that waits for the ServerHello: the floor under edgeshake's memory per
 * in-flight probe (DESIGN §4: <= 32 KB per probe, our own share <= 2 KB).
 *
 *   ssl_mem N
 *
 * Makes N client SSL objects the way the engine does (one SSL_CTX, TLS
 * 1.2-1.3, memory BIOs, SNI, an OCSP status request), has each write its
 * ClientHello and try to read (nothing there), keeps them all, and prints one
 * line per configuration tried:
 *
 *   ssl_mem NAME N HEAP_BYTES_PER_SSL RSS_KB_PER_SSL
 *
 * HEAP_BYTES is the growth of the bytes malloc has handed out and not got
 * back (mallinfo2 uordblks + hblkhd), per SSL: exact, and it sees what is
 * freed, which RSS does not (freed chunks in the middle of the heap stay
 * resident). Configurations:
 *   engine       SSL_MODE_RELEASE_BUFFERS, as edgeshake's SSL_CTX
 *   no_release   without SSL_MODE_RELEASE_BUFFERS
 *   free_buffers engine + SSL_free_buffers() once the ClientHello is out
 *   read_len_4k  engine + SSL_CTX_set_default_read_buffer_len(4096)
 *   ssl_only     SSL_new + BIOs, no ClientHello (the object alone)
 * No network. */
#include <malloc.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long rss_kb(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

enum conf { AS_ENGINE, NO_RELEASE, FREE_BUFFERS, READ_LEN_4K, SSL_ONLY, NCONF };
static const char *const names[NCONF] = {"engine", "no_release", "free_buffers", "read_len_4k",
                                         "ssl_only"};

static SSL_CTX *make_ctx(enum conf c)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp);
    if (c != NO_RELEASE)
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (c == READ_LEN_4K)
        SSL_CTX_set_default_read_buffer_len(ctx, 4096);
    return ctx;
}

static SSL *waiting_ssl(SSL_CTX *ctx, enum conf c)
{
    SSL *s = SSL_new(ctx);
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(r, -1);
    SSL_set_bio(s, r, w);
    SSL_set_connect_state(s);
    SSL_set_tlsext_host_name(s, "bench.test");
    if (c == SSL_ONLY)
        return s;
    SSL_do_handshake(s); /* writes the ClientHello, then wants to read */
    char buf[4096];
    while (BIO_read(w, buf, sizeof buf) > 0)
        ;
    SSL_do_handshake(s); /* the engine steps again when the ClientHello is sent */
    if (c == FREE_BUFFERS)
        SSL_free_buffers(s);
    return s;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    if (n < 1)
        n = 1;
    SSL **v = calloc((size_t)n, sizeof *v);
    if (!v)
        return 1;
    for (int c = 0; c < NCONF; c++) {
        SSL_CTX *ctx = make_ctx((enum conf)c);
        SSL_free(waiting_ssl(ctx, (enum conf)c)); /* OpenSSL's one-time state first */
        long r0 = rss_kb();
        size_t h0 = heap_bytes();
        for (int i = 0; i < n; i++)
            v[i] = waiting_ssl(ctx, (enum conf)c);
        size_t h1 = heap_bytes();
        long r1 = rss_kb();
        printf("ssl_mem %s %d %.0f %.1f\n", names[c], n, (double)(h1 - h0) / n,
               (double)(r1 - r0) / n);
        for (int i = 0; i < n; i++)
            SSL_free(v[i]);
        SSL_CTX_free(ctx);
    }
    free(v);
    return 0;
}
