/* lockprof.c - which locks a process takes, and which of them more than one
 * thread takes: the cache lines that would bounce between cores on every
 * handshake (README "Performance", scaling). An LD_PRELOAD shim:
 *
 *   LD_PRELOAD=./lockprof.so LOCKPROF_OUT=FILE edgeshake bench ... -t 2
 *
 * counts every pthread_rwlock_rdlock/wrlock and pthread_mutex_lock call by
 * lock address and by thread, and at exit writes to FILE one line per lock:
 *
 *   lock ADDRESS KIND THREADS CALLS SECOND
 *
 * KIND is rd, wr or mutex (the kind of its first call), THREADS how many
 * threads took it, SECOND the calls of the thread that took it second most
 * often (a lock one thread made and another uses on every handshake has a
 * small SECOND; one two workers share on every handshake, a large one); a
 * line "threads N" first. With LOCKPROF_WHERE set, each lock that a second
 * thread takes at least a tenth of the time is followed by the call stack of
 * one of its later calls ("  at LIBRARY+OFFSET SYMBOL", for addr2line). Atomic reference counts are not
 * locks and are not seen. The counting itself is a little slower than the
 * locks it counts; figures are calls, not time. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS   8192 /* open addressing by lock address */
#define THREADS 64

struct entry {
    uintptr_t addr; /* 0 = free */
    int kind;
    unsigned long calls;
    uint64_t threads; /* bit per thread index */
    unsigned long per[THREADS];
    void *where[5]; /* a call stack of one of its calls (every 1024th): who takes it */
};

static struct entry table[SLOTS];
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned nthreads;
static __thread int my_index = -1;

static int (*real_rdlock)(pthread_rwlock_t *);
static int (*real_wrlock)(pthread_rwlock_t *);
static int (*real_mutex_lock)(pthread_mutex_t *);

static int thread_index(void)
{
    if (my_index < 0)
        my_index = (int)(__atomic_fetch_add(&nthreads, 1, __ATOMIC_RELAXED) % THREADS);
    return my_index;
}

static void count(const void *lock, int kind)
{
    if (lock == (const void *)&table_mu)
        return;
    uintptr_t a = (uintptr_t)lock;
    uint64_t bit = (uint64_t)1 << thread_index();
    size_t i = (size_t)((a >> 4) * 0x9e3779b97f4a7c15ull >> 51) % SLOTS;
    real_mutex_lock(&table_mu);
    for (size_t n = 0; n < SLOTS; n++, i = (i + 1) % SLOTS) {
        if (table[i].addr == a || table[i].addr == 0) {
            if (table[i].addr == 0) {
                table[i].addr = a;
                table[i].kind = kind;
            }
            if (table[i].calls % 1024 == 0) { /* a call on the hot path, not the first */
                void *bt[7] = {0};
                int n = backtrace(bt, 7);
                for (int k = 2; k < 7; k++)
                    table[i].where[k - 2] = k < n ? bt[k] : NULL;
            }
            table[i].calls++;
            table[i].threads |= bit;
            table[i].per[thread_index()]++;
            break;
        }
    }
    pthread_mutex_unlock(&table_mu);
}

__attribute__((constructor)) static void init(void)
{
    real_rdlock = (int (*)(pthread_rwlock_t *))dlsym(RTLD_NEXT, "pthread_rwlock_rdlock");
    real_wrlock = (int (*)(pthread_rwlock_t *))dlsym(RTLD_NEXT, "pthread_rwlock_wrlock");
    real_mutex_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
}

int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    if (!real_rdlock)
        init();
    count(l, 0);
    return real_rdlock(l);
}

int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    if (!real_wrlock)
        init();
    count(l, 1);
    return real_wrlock(l);
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
    if (!real_mutex_lock)
        init();
    if (m != &table_mu)
        count(m, 2);
    return real_mutex_lock(m);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("LOCKPROF_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        return;
    static const char *const kinds[] = {"rd", "wr", "mutex"};
    fprintf(f, "threads %u\n", nthreads);
    for (size_t i = 0; i < SLOTS; i++) {
        if (!table[i].addr)
            continue;
        unsigned long first = 0, second = 0;
        for (int t = 0; t < THREADS; t++) {
            unsigned long c = table[i].per[t];
            if (c > first)
                second = first, first = c;
            else if (c > second)
                second = c;
        }
        fprintf(f, "lock %#lx %s %d %lu %lu\n", (unsigned long)table[i].addr,
                kinds[table[i].kind], __builtin_popcountll(table[i].threads), table[i].calls,
                second);
        if (getenv("LOCKPROF_WHERE") && second * 10 >= table[i].calls) {
            for (int k = 0; k < 5 && table[i].where[k]; k++) {
                Dl_info info;
                if (dladdr(table[i].where[k], &info) && info.dli_fname)
                    fprintf(f, "  at %s+%#lx %s\n", info.dli_fname,
                            (unsigned long)((char *)table[i].where[k] - (char *)info.dli_fbase),
                            info.dli_sname ? info.dli_sname : "?");
            }
        }
    }
    fclose(f);
}
