/* fuzzlib.h - what the fuzz targets share (tests/fuzz/fuzz_*.c).
 *
 * Each target defines `int es_fuzz_NAME(const uint8_t *data, size_t len)`,
 * which runs one input through the module's entry points, checks the
 * invariants that must hold whatever the input (FZ_CHECK aborts, so
 * libFuzzer and the corpus suite both see a crash), and returns 1 when the
 * input was accepted as valid and 0 when it was rejected with an error.
 * The libFuzzer entry point is a thin wrapper, left out when the file is
 * compiled into tests/test_corpus.c with ES_FUZZ_NO_MAIN defined: the
 * corpus suite replays every file of tests/corpus/ through the very same
 * functions with gcc and no libFuzzer. */
#ifndef EDGESHAKE_FUZZLIB_H
#define EDGESHAKE_FUZZLIB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Makes data[0..len) the whole content of a file and returns its path, for
 * entry points that read files. The file is one memfd per process, reused
 * by every call ("/proc/self/fd/N": each open starts at offset 0). */
static inline const char *fz_file(const uint8_t *data, size_t len)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("edgeshake-fuzz", MFD_CLOEXEC);
        FZ_CHECK(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FZ_CHECK(ftruncate(fd, 0) == 0);
    for (size_t off = 0; off < len;) {
        ssize_t w = pwrite(fd, data + off, len - off, (off_t)off);
        FZ_CHECK(w > 0);
        off += (size_t)w;
    }
    return path;
}

/* Lines in data (a last line without '\n' counts). */
static inline size_t fz_lines(const uint8_t *data, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += data[i] == '\n';
    return n + (len > 0 && data[len - 1] != '\n');
}

#endif
