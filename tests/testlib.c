/* testlib.c - see testlib.h */
#include "testlib.h"

#include <check.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *tl_bin(void)
{
    const char *b = getenv("ES_BIN");
    return b ? b : "./edgeshake";
}

const char *tl_srcdir(void)
{
    const char *s = getenv("ES_SRCDIR");
    return s ? s : ".";
}

char *tl_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char buf[512];
    snprintf(buf, sizeof buf, "%s/edgeshake-test-XXXXXX", base ? base : "/tmp");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp: %s", strerror(errno));
    return strdup(buf);
}

char *tl_write_file(const char *dir, const char *name, const char *text)
{
    char *path;
    ck_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    fputs(text, f);
    ck_assert(fclose(f) == 0);
    return path;
}

char *tl_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tl_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Appends what is readable on fd to *buf. Returns false at EOF. */
static int drain(int fd, char **buf, size_t *len)
{
    char tmp[65536];
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r <= 0)
        return 0;
    *buf = realloc(*buf, *len + (size_t)r + 1);
    memcpy(*buf + *len, tmp, (size_t)r);
    *len += (size_t)r;
    (*buf)[*len] = '\0';
    return 1;
}

int tl_run(const char *const argv[], const char *stdin_text, char **out, char **err, int timeout_ms)
{
    int po[2], pe[2], pi[2];
    ck_assert(pipe(po) == 0 && pipe(pe) == 0 && pipe(pi) == 0);
    size_t n = 0;
    while (argv[n])
        n++;
    const char **full = calloc(n + 2, sizeof *full);
    full[0] = tl_bin();
    for (size_t i = 0; i < n; i++)
        full[i + 1] = argv[i];
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(pi[0], 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(pi[1]);
        close(po[0]);
        close(pe[0]);
        execv(full[0], (char *const *)full);
        fprintf(stderr, "exec %s: %s\n", full[0], strerror(errno));
        _exit(127);
    }
    free(full);
    close(pi[0]);
    close(po[1]);
    close(pe[1]);
    if (stdin_text) {
        /* Small inputs only: the pipe buffer holds 64 KiB. */
        ssize_t w = write(pi[1], stdin_text, strlen(stdin_text));
        (void)w;
    }
    close(pi[1]);
    char *obuf = calloc(1, 1), *ebuf = calloc(1, 1);
    size_t olen = 0, elen = 0;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int open_fds = 2, killed = 0;
    while (open_fds > 0) {
        int r = poll(fds, 2, 100);
        if (r > 0) {
            for (int i = 0; i < 2; i++) {
                if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                    int more =
                        i == 0 ? drain(fds[i].fd, &obuf, &olen) : drain(fds[i].fd, &ebuf, &elen);
                    if (!more) {
                        close(fds[i].fd);
                        fds[i].fd = -1;
                        open_fds--;
                    }
                }
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (!killed && ms > timeout_ms) {
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out)
        *out = obuf;
    else
        free(obuf);
    if (err)
        *err = ebuf;
    else
        free(ebuf);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

void tl_lab_start(struct tl_lab *lab, const char *spec_text)
{
    lab->dir = tl_tmpdir();
    lab->spec = tl_write_file(lab->dir, "spec.lab", spec_text);
    char *log, *ready;
    ck_assert(asprintf(&log, "%s/lab.log", lab->dir) > 0);
    ck_assert(asprintf(&ready, "%s/ready", lab->dir) > 0);
    lab->pid = fork();
    ck_assert(lab->pid >= 0);
    if (lab->pid == 0) {
        /* A test process that dies must not leave its lab holding the addresses. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(tl_bin(), tl_bin(), "lab", lab->spec, "--state", lab->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 2000; i++) {
        if (access(ready, F_OK) == 0)
            break;
        int status;
        if (waitpid(lab->pid, &status, WNOHANG) == lab->pid) {
            char *text = tl_read_file(log, NULL);
            ck_abort_msg("lab exited early (status %d): %s", status, text ? text : "");
        }
        usleep(10000);
    }
    if (access(ready, F_OK) != 0) {
        kill(lab->pid, SIGKILL);
        ck_abort_msg("lab not ready after 20 s");
    }
    free(log);
    free(ready);
}

int tl_lab_stop(struct tl_lab *lab)
{
    int status = 0;
    if (lab->pid > 0) {
        kill(lab->pid, SIGTERM);
        for (int i = 0; i < 500; i++) {
            if (waitpid(lab->pid, &status, WNOHANG) == lab->pid)
                break;
            usleep(10000);
            if (i == 499) {
                kill(lab->pid, SIGKILL);
                waitpid(lab->pid, &status, 0);
            }
        }
        lab->pid = 0;
    }
    if (lab->dir)
        tl_rmtree(lab->dir);
    free(lab->dir);
    free(lab->spec);
    lab->dir = lab->spec = NULL;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

void tl_table_parse(struct tl_table *t, char *text)
{
    memset(t, 0, sizeof *t);
    t->text = text;
    size_t cap = 64;
    t->cells = malloc(cap * sizeof *t->cells);
    char *w = text;
    size_t n = 0, col = 0;
    bool quoted = false, first = true;
    char *cell = w;
    for (char *p = text; *p; p++) {
        if (*p == '"') {
            if (quoted && p[1] == '"') {
                *w++ = '"';
                p++;
            } else {
                quoted = !quoted;
            }
            continue;
        }
        if (!quoted && (*p == ',' || *p == '\n')) {
            char sep = *p; /* w may equal p: read before writing */
            *w++ = '\0';
            if (first) {
                ck_assert_uint_lt(col, sizeof t->header / sizeof t->header[0]);
                t->header[col] = cell;
            } else {
                if (n == cap) {
                    cap *= 2;
                    t->cells = realloc(t->cells, cap * sizeof *t->cells);
                }
                t->cells[n++] = cell;
            }
            col++;
            cell = w;
            if (sep == '\n') {
                if (first)
                    t->ncols = col;
                else
                    ck_assert_uint_eq(col, t->ncols);
                first = false;
                col = 0;
            }
            continue;
        }
        *w++ = *p;
    }
    ck_assert_msg(!quoted && col == 0 && cell == w, "the CSV ends inside a row");
    t->nrows = t->ncols ? n / t->ncols : 0;
}

const char *tl_cell(const struct tl_table *t, size_t row, const char *name)
{
    for (size_t c = 0; c < t->ncols; c++)
        if (!strcmp(t->header[c], name))
            return t->cells[row * t->ncols + c];
    ck_abort_msg("no column %s", name);
    return NULL;
}

void tl_table_free(struct tl_table *t)
{
    free(t->text);
    free(t->cells);
}
