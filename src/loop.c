/* loop.c - see include/edgeshake/loop.h */
#include "edgeshake/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "edgeshake/util.h"

struct es_loop {
    int epfd;
    uint64_t now_ms;
    struct es_timer **heap; /* min-heap on when_ms */
    size_t nheap, capheap;
};

struct es_loop *es_loop_new(void)
{
    struct es_loop *loop = es_xcalloc(1, sizeof *loop);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        es_die(ES_EXIT_RUNTIME, "epoll_create1: %s", strerror(errno));
    loop->now_ms = es_now_ms();
    return loop;
}

void es_loop_free(struct es_loop *loop)
{
    if (!loop)
        return;
    close(loop->epfd);
    free(loop->heap);
    free(loop);
}

static int ctl(struct es_loop *loop, int op, struct es_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(loop->epfd, op, w->fd, &ev) < 0 ? -errno : 0;
}

int es_loop_add(struct es_loop *loop, struct es_watch *w, uint32_t events)
{
    return ctl(loop, EPOLL_CTL_ADD, w, events);
}

int es_loop_mod(struct es_loop *loop, struct es_watch *w, uint32_t events)
{
    return ctl(loop, EPOLL_CTL_MOD, w, events);
}

int es_loop_del(struct es_loop *loop, struct es_watch *w)
{
    return ctl(loop, EPOLL_CTL_DEL, w, 0);
}

uint64_t es_loop_now(const struct es_loop *loop)
{
    return loop->now_ms;
}

/* Heap helpers: heap[i] holds a timer whose _idx == i + 1. */
static void heap_place(struct es_loop *loop, size_t i, struct es_timer *t)
{
    loop->heap[i] = t;
    t->_idx = i + 1;
}

static void heap_up(struct es_loop *loop, size_t i)
{
    struct es_timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->when_ms <= t->when_ms)
            break;
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void heap_down(struct es_loop *loop, size_t i)
{
    struct es_timer *t = loop->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint64_t mv = t->when_ms;
        if (l < loop->nheap && loop->heap[l]->when_ms < mv) {
            m = l;
            mv = loop->heap[l]->when_ms;
        }
        if (r < loop->nheap && loop->heap[r]->when_ms < mv)
            m = r;
        if (m == i)
            break;
        heap_place(loop, i, loop->heap[m]);
        i = m;
    }
    heap_place(loop, i, t);
}

void es_timer_cancel(struct es_loop *loop, struct es_timer *t)
{
    if (!t->_idx)
        return;
    size_t i = t->_idx - 1;
    t->_idx = 0;
    struct es_timer *last = loop->heap[--loop->nheap];
    if (i == loop->nheap)
        return;
    heap_place(loop, i, last);
    heap_down(loop, i);
    heap_up(loop, last->_idx - 1);
}

void es_timer_set(struct es_loop *loop, struct es_timer *t, uint64_t when_ms)
{
    es_timer_cancel(loop, t);
    t->when_ms = when_ms;
    loop->heap = es_xgrow(loop->heap, &loop->capheap, loop->nheap + 1, sizeof *loop->heap);
    heap_place(loop, loop->nheap++, t);
    heap_up(loop, loop->nheap - 1);
}

int es_loop_run_once(struct es_loop *loop, int max_wait_ms)
{
    enum { MAX_EVENTS = 256 };
    struct epoll_event evs[MAX_EVENTS];
    int wait = max_wait_ms;
    loop->now_ms = es_now_ms();
    if (loop->nheap) {
        uint64_t due = loop->heap[0]->when_ms;
        int until = due <= loop->now_ms
                        ? 0
                        : (int)(due - loop->now_ms > 60000 ? 60000 : due - loop->now_ms);
        if (wait < 0 || until < wait)
            wait = until;
    }
    int n = epoll_wait(loop->epfd, evs, MAX_EVENTS, wait);
    if (n < 0) {
        if (errno != EINTR)
            return -errno;
        n = 0;
    }
    loop->now_ms = es_now_ms();
    int ran = 0;
    for (int i = 0; i < n; i++) {
        struct es_watch *w = evs[i].data.ptr;
        w->fn(loop, w, evs[i].events);
        ran++;
    }
    /* Fire due timers; a callback may re-arm its timer for a later time. */
    while (loop->nheap && loop->heap[0]->when_ms <= loop->now_ms) {
        struct es_timer *t = loop->heap[0];
        es_timer_cancel(loop, t);
        t->fn(loop, t);
        ran++;
    }
    return ran;
}

int es_loop_run(struct es_loop *loop, volatile sig_atomic_t *stop)
{
    while (!*stop) {
        int rc = es_loop_run_once(loop, 1000);
        if (rc < 0)
            return rc;
    }
    return 0;
}
