/* engine_ring.c - the engine's io_uring ring (engine-int.h, engine.h).
 *
 * Whether this process can have a ring at all, and why not (the messages of
 * es_uring_explain name the cause and the fix: seccomp, the io_uring_disabled
 * sysctl, the locked-memory limit, an old kernel); a worker's ring set-up,
 * flag by flag on kernels that lack the newer flags; the provided-buffer
 * ring for receives; getting an SQE when the SQ may be full; and the worker's
 * wait for completions.
 *
 * The test hook ES_TEST_URING_FAIL (engine.h; only in -Dtest_hooks=true builds) lives here. */
#include "engine-int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "edgeshake/util.h"

/* ---- io_uring availability ---------------------------------------------- */

/* ES_TEST_URING_FAIL=ERRNO[:DISABLED]: pretend ring set-up fails with ERRNO,
 * and optionally that kernel.io_uring_disabled reads DISABLED. */
static int test_uring_fail(int *disabled)
{
    const char *v = es_test_env("ES_TEST_URING_FAIL");
    if (!v || !*v)
        return 0;
    static const struct {
        const char *name;
        int err;
    } names[] = {{"EPERM", EPERM}, {"ENOSYS", ENOSYS}, {"ENOMEM", ENOMEM}, {"EINVAL", EINVAL}};
    int err = 0;
    for (size_t i = 0; i < ES_ARRAY_LEN(names); i++) {
        size_t n = strlen(names[i].name);
        if (strncmp(v, names[i].name, n) == 0 && (v[n] == '\0' || v[n] == ':')) {
            err = names[i].err;
            if (v[n] == ':' && disabled) {
                uint64_t d;
                if (es_parse_u64(v + n + 1, 0, 2, &d))
                    *disabled = (int)d;
            }
        }
    }
    return err ? err : EPERM;
}

static int read_io_uring_disabled(void)
{
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    if (!f)
        return -1;
    int v = -1;
    char line[32];
    if (fgets(line, sizeof line, f)) {
        uint64_t d;
        line[strcspn(line, "\n")] = '\0';
        if (es_parse_u64(line, 0, 2, &d))
            v = (int)d;
    }
    fclose(f);
    return v;
}

/* The "Seccomp:" mode of this process, -1 = unknown. */
static int read_seccomp(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    int v = -1;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Seccomp:", 8) != 0)
            continue;
        const char *p = line + 8;
        while (*p == ' ' || *p == '\t')
            p++;
        uint64_t d;
        line[strcspn(line, "\n")] = '\0';
        if (es_parse_u64(p, 0, 2, &d))
            v = (int)d;
        break;
    }
    fclose(f);
    return v;
}

void es_uring_host_read(struct es_uring_host *h)
{
    memset(h, 0, sizeof *h);
    h->disabled = read_io_uring_disabled();
    h->seccomp = read_seccomp();
    struct utsname u;
    if (uname(&u) == 0) {
        /* "6.1.0-18-amd64": the leading MAJOR.MINOR */
        char *end;
        long major = strtol(u.release, &end, 10);
        if (end != u.release && *end == '.') {
            long minor = strtol(end + 1, &end, 10);
            if (major > 0 && major < 1000 && minor >= 0 && minor < 1000) {
                h->kernel_major = (int)major;
                h->kernel_minor = (int)minor;
            }
        }
    }
}

static bool kernel_has_uring(const struct es_uring_host *h)
{
    return h->kernel_major > 5 || (h->kernel_major == 5 && h->kernel_minor >= 19);
}

void es_uring_explain(int err, const struct es_uring_host *h, char *msg, size_t len)
{
    int disabled = h->disabled;
    static const char allow[] =
        "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile";
    if (disabled == 2 && (err == EPERM || err == EACCES)) {
        snprintf(msg, len,
                 "io_uring is disabled on this machine (kernel.io_uring_disabled=2): enable it "
                 "with `sysctl kernel.io_uring_disabled=0` (as root)");
    } else if (disabled == 1 && (err == EPERM || err == EACCES)) {
        snprintf(msg, len,
                 "io_uring is restricted to the group in kernel.io_uring_group "
                 "(kernel.io_uring_disabled=1): add this user to that group, or run `sysctl "
                 "kernel.io_uring_disabled=0` (as root)");
    } else if (err == EPERM || err == EACCES) {
        snprintf(msg, len,
                 "io_uring is not permitted (io_uring_setup: %s), most likely by a seccomp "
                 "profile (Docker, containerd and Kubernetes block it by default): %s (e.g. "
                 "docker run --security-opt seccomp=PROFILE.json), and check that "
                 "kernel.io_uring_disabled is 0",
                 strerror(err), allow);
    } else if (err == ENOSYS && h->seccomp == 2 && kernel_has_uring(h)) {
        snprintf(msg, len,
                 "io_uring is hidden by a seccomp filter (io_uring_setup: %s, but Linux %d.%d has "
                 "it, and this process runs under a seccomp filter, Seccomp: 2): the container's "
                 "seccomp profile blocks it (Podman's default profile answers ENOSYS, Docker's "
                 "EPERM): %s (e.g. podman run --security-opt seccomp=PROFILE.json)",
                 strerror(err), h->kernel_major, h->kernel_minor, allow);
    } else if (err == ENOSYS) {
        snprintf(msg, len,
                 "this system has no io_uring (io_uring_setup: %s): edgeshake needs Linux 5.19 "
                 "or newer built with CONFIG_IO_URING; in a container whose seccomp profile "
                 "hides it, %s",
                 strerror(err), allow);
    } else if (err == ENOMEM) {
        snprintf(msg, len,
                 "cannot set up an io_uring ring (io_uring_setup: %s): raise the locked-memory "
                 "limit (ulimit -l unlimited, or LimitMEMLOCK=infinity under systemd) or lower -c",
                 strerror(err));
    } else {
        snprintf(msg, len,
                 "cannot set up an io_uring ring (io_uring_setup: %s): edgeshake needs io_uring "
                 "(Linux 5.19 or newer)",
                 strerror(err));
    }
}

void eng_explain_setup_error(int err, char *msg, size_t len)
{
    struct es_uring_host h;
    es_uring_host_read(&h);
    test_uring_fail(&h.disabled);
    es_uring_explain(err, &h, msg, len);
}

int es_engine_check_uring(char *msg, size_t len)
{
    int err = test_uring_fail(NULL);
    if (!err) {
        struct io_uring ring;
        int r = io_uring_queue_init(4, &ring, 0);
        if (r == 0) {
            io_uring_queue_exit(&ring);
            return 0;
        }
        err = -r;
    }
    eng_explain_setup_error(err, msg, len);
    return -err;
}

/* ---- the ring ----------------------------------------------------------- */

static unsigned pow2_at_least(uint64_t n, unsigned lo, unsigned hi)
{
    unsigned v = lo;
    while (v < n && v < hi)
        v *= 2;
    return v;
}

/* Sets up the worker's ring on the worker's own thread (SINGLE_ISSUER and
 * DEFER_TASKRUN tie the ring to the thread that creates it), falling back
 * flag by flag on kernels that do not know them. Returns 0 or -errno. */
int eng_ring_setup(struct worker *w)
{
    int fake = test_uring_fail(NULL);
    if (fake)
        return -fake;
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        0,
    };
    unsigned sq = pow2_at_least(2ull * w->nslots, 64, 4096);
    unsigned cq = pow2_at_least(4ull * w->nslots, 256, 65536);
    int r = -EINVAL;
    for (size_t i = w->eng->test_nodefer ? 1 : 0; i < ES_ARRAY_LEN(flag_sets); i++) {
        struct io_uring_params prm;
        memset(&prm, 0, sizeof prm);
        prm.flags = flag_sets[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        prm.cq_entries = cq;
        r = io_uring_queue_init_params(sq, &w->ring, &prm);
        if (r != -EINVAL)
            break;
    }
    if (r < 0)
        return r;
    w->ring_ok = true;
    w->defer = (w->ring.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&w->ring);
    w->socket_op =
        probe && io_uring_opcode_supported(probe, IORING_OP_SOCKET) && !w->eng->test_nosocketop;
    if (probe)
        io_uring_free_probe(probe);
    return 0;
}

/* Registers a provided-buffer ring: receive buffers are taken only when data
 * arrives and given back as soon as the TLS probe has copied it, so memory
 * grows with data in flight, not with connections. False: the kernel has no
 * buffer rings (per-slot buffers then). */
bool eng_bufring_setup(struct worker *w)
{
    if (w->eng->test_nobufring)
        return false;
    unsigned n = pow2_at_least(w->nslots, 8, 256);
    size_t bytes = (size_t)n * sizeof(struct io_uring_buf);
    long page = sysconf(_SC_PAGESIZE);
    void *mem = NULL;
    if (posix_memalign(&mem, page > 0 ? (size_t)page : 4096, bytes) != 0)
        return false; /* per-slot buffers, or ENOMEM from there */
    memset(mem, 0, bytes);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = n;
    reg.bgid = BGID;
    if (io_uring_register_buf_ring(&w->ring, &reg, 0) != 0) {
        free(mem);
        return false;
    }
    w->bufs = calloc(n, RECV_SIZE); /* calloc: untouched pages, defined for valgrind */
    if (!w->bufs) {
        io_uring_unregister_buf_ring(&w->ring, BGID);
        free(mem);
        return false;
    }
    w->br = mem;
    w->nbufs = n;
    io_uring_buf_ring_init(w->br);
    for (unsigned i = 0; i < n; i++)
        io_uring_buf_ring_add(w->br, w->bufs + (size_t)i * RECV_SIZE, RECV_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(n), (int)i);
    io_uring_buf_ring_advance(w->br, (int)n);
    return true;
}

void eng_buf_recycle(struct worker *w, unsigned bid)
{
    io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * RECV_SIZE, RECV_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(w->nbufs), 0);
    io_uring_buf_ring_advance(w->br, 1);
}

/* An SQE, submitting what is queued when the SQ is full. NULL when the ring
 * takes nothing more right now (the caller stalls the operation). */
struct io_uring_sqe *eng_sqe_get(struct worker *w, unsigned need)
{
    if (io_uring_sq_space_left(&w->ring) < need)
        io_uring_submit(&w->ring);
    if (io_uring_sq_space_left(&w->ring) < need)
        return NULL;
    return io_uring_get_sqe(&w->ring);
}

/* ---- waiting for completions -------------------------------------------- */

static bool valgrind_seen;

static void look_for_valgrind(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    char line[512];
    while (!valgrind_seen && fgets(line, sizeof line, f))
        valgrind_seen = strstr(line, "vgpreload") != NULL;
    fclose(f);
}

/* True when this process runs under valgrind (its preload library is
 * mapped). Looked up once. */
static bool under_valgrind(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, look_for_valgrind);
    return valgrind_seen;
}

int eng_ring_wait(struct worker *w, uint64_t ns)
{
    if (ns == 0) /* nothing to wait for: submit and take in what is there, no timer */
        return io_uring_submit_and_get_events(&w->ring);
    if (!under_valgrind()) {
        struct __kernel_timespec ts = {.tv_sec = (long long)(ns / 1000000000u),
                                       .tv_nsec = (long long)(ns % 1000000000u)};
        struct io_uring_cqe *cqe;
        return io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
    }
    /* Valgrind (3.19) runs io_uring_enter as a call that does not block, so
     * it holds its one lock while the worker sleeps in the kernel: no other
     * thread of the process runs meanwhile, and a producer adding edges or
     * ending the input waits for a whole wait, again and again (a 12-probe
     * run took minutes). Under valgrind the worker sleeps in nanosleep,
     * which valgrind knows blocks, at most 1 ms at a time, and takes in
     * completions without sleeping in the kernel. */
    int r = io_uring_submit_and_get_events(&w->ring);
    if (r < 0 || io_uring_cq_ready(&w->ring) > 0)
        return r;
    struct timespec nap = {.tv_sec = 0, .tv_nsec = (long)(ns < 1000000u ? ns : 1000000u)};
    nanosleep(&nap, NULL);
    return io_uring_get_events(&w->ring);
}
