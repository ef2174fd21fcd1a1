#include "offload.h"

#include "alloc.h"

#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct job {
    void (*work)(void *);
    void (*done)(void *, int);
    void *arg;
    int fds[2]; /* the worker writes one byte to fds[1] when work() has returned */
    struct event *ev;
    pthread_t thread;
    int started;
    struct job *next;
};

/* Loop-thread state only: workers never read it. */
static int running;
static struct job *waiting_head, *waiting_tail;

static void *worker(void *p)
{
    struct job *j = p;
    j->work(j->arg);
    char c = 1;
    while (write(j->fds[1], &c, 1) < 0)
        ; /* an empty pipe has room for one byte: only EINTR can get here */
    return NULL;
}

static void job_free(struct job *j)
{
    if (j->ev)
        event_free(j->ev);
    close(j->fds[0]);
    close(j->fds[1]);
    free(j);
}

static void start_waiting(void);

static void on_finished(evutil_socket_t fd, short what, void *p)
{
    (void)fd, (void)what;
    struct job *j = p;
    int ok = j->started;
    if (ok) {
        pthread_join(j->thread, NULL); /* it has written its byte: returns at once */
        running--;
    }
    void (*done)(void *, int) = j->done;
    void *arg = j->arg;
    job_free(j);
    start_waiting();
    done(arg, ok);
}

/* Starts j's thread, or makes done(arg, 0) run on the next loop turn. */
static void start(struct job *j)
{
    if (event_add(j->ev, NULL) == 0 && pthread_create(&j->thread, NULL, worker, j) == 0) {
        j->started = 1;
        running++;
        return;
    }
    event_active(j->ev, EV_READ, 0);
}

static void start_waiting(void)
{
    while (waiting_head && running < OFFLOAD_THREADS) {
        struct job *j = waiting_head;
        waiting_head = j->next;
        if (!waiting_head)
            waiting_tail = NULL;
        start(j);
    }
}

int offload(struct event_base *base, void (*work)(void *), void (*done)(void *, int), void *arg)
{
    struct job *j = xcalloc(1, sizeof *j);
    *j = (struct job){.work = work, .done = done, .arg = arg, .fds = {-1, -1}};
    if (pipe2(j->fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(j);
        return -1;
    }
    j->ev = event_new(base, j->fds[0], EV_READ, on_finished, j);
    if (!j->ev) {
        job_free(j);
        return -1;
    }
    if (waiting_tail)
        waiting_tail->next = j;
    else
        waiting_head = j;
    waiting_tail = j;
    start_waiting();
    return 0;
}
