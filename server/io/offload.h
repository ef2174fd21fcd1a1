/* offload: runs CPU-heavy work (scrypt for backup codes, ~10 ms a hash) on a worker
 * thread so that the event loop never stalls, then its continuation on the loop.
 *
 * Contract: work(arg) runs on another thread and must touch nothing but arg (no libevent,
 * no logging, no shared state); done(arg, ok) then runs on the loop thread, exactly once,
 * never from inside offload(): ok is 1 when work() ran, 0 when no thread could be
 * started for it (answer 503). At most OFFLOAD_THREADS jobs run at a time; more
 * wait in FIFO order. Returns 0, or -1 (done will not run) when out of pipes.
 * One loop per process, so the queue is process-wide and touched only by the loop. */
#ifndef PUSHGATE_OFFLOAD_H
#define PUSHGATE_OFFLOAD_H

struct event_base;

#define OFFLOAD_THREADS 4

int offload(struct event_base *base, void (*work)(void *arg), void (*done)(void *arg, int ok),
            void *arg);

#endif
