/* loop.h - a small single-threaded epoll loop with an intrusive timer heap.
 *
 * Used by the lab (TLS edges and DNS resolvers, thousands of connections on one
 * thread) and by the scan planner to drive c-ares. The probe engine has its own
 * io_uring loop per worker (engine.h); this one is for everything that is not
 * the hot path.
 *
 * Ownership: the caller owns every es_watch and es_timer (embedded in its own
 * structs); the loop only links them. Remove a watch and cancel a timer before
 * freeing the struct that holds it. */
#ifndef EDGESHAKE_LOOP_H
#define EDGESHAKE_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct es_loop;
struct es_watch;
struct es_timer;

typedef void (*es_watch_fn)(struct es_loop *loop, struct es_watch *w, uint32_t events);
typedef void (*es_timer_fn)(struct es_loop *loop, struct es_timer *t);

struct es_watch {
    int fd;
    es_watch_fn fn;
    void *arg;
};

struct es_timer {
    uint64_t when_ms; /* monotonic ms (es_now_ms) */
    es_timer_fn fn;
    void *arg;
    size_t _idx; /* heap index + 1; 0 = not armed */
};

/* Creates a loop. Fatal (exit 1) when epoll cannot be created. Free with es_loop_free. */
struct es_loop *es_loop_new(void);
void es_loop_free(struct es_loop *loop);

/* Registers w->fd for EPOLL* events. Returns 0 or -errno. */
int es_loop_add(struct es_loop *loop, struct es_watch *w, uint32_t events);
int es_loop_mod(struct es_loop *loop, struct es_watch *w, uint32_t events);
/* Unregisters w->fd; call before closing it. Returns 0 or -errno. */
int es_loop_del(struct es_loop *loop, struct es_watch *w);

/* Arms (or re-arms) t to fire once at when_ms. */
void es_timer_set(struct es_loop *loop, struct es_timer *t, uint64_t when_ms);
/* Disarms t; harmless when not armed. */
void es_timer_cancel(struct es_loop *loop, struct es_timer *t);
static inline int es_timer_armed(const struct es_timer *t)
{
    return t->_idx != 0;
}

/* The loop's clock, read once per iteration. */
uint64_t es_loop_now(const struct es_loop *loop);

/* Waits at most max_wait_ms (-1 = until the next timer or event), dispatches
 * ready watches and due timers once. Returns the number of callbacks run, or
 * -errno on an epoll error other than EINTR. */
int es_loop_run_once(struct es_loop *loop, int max_wait_ms);

/* Runs until *stop becomes non-zero. Returns 0, or -errno on an epoll error. */
int es_loop_run(struct es_loop *loop, volatile sig_atomic_t *stop);

#endif
