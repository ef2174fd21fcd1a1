/* listenguard: what the listening socket does when the process is out of file
 * descriptors.
 *
 * libevent's listener keeps its socket readable-armed; when accept() fails
 * with EMFILE or ENFILE it logs a warning and is called again at once, so a
 * process at its descriptor limit spun one core at 100 % and wrote about a
 * million lines a second to stderr until a descriptor came free. With a guard
 * installed, such a failure pauses accepting (connections wait in the kernel's
 * backlog), and a timer every PAUSE_MS tries to take a descriptor; once one is
 * available, accepting resumes. Each pause and each resume is logged once
 * ("accept paused: out of file descriptors" / "accept resumed"; pauses within 10 s of
 * the last one logged, whatever their cause, count as the same episode), and
 * connections already open are served throughout. Other accept errors are
 * logged (rate-limited to one a second) and accepting continues. */
#ifndef PUSHGATE_LISTENGUARD_H
#define PUSHGATE_LISTENGUARD_H

#include <stdbool.h>

struct event_base;
struct evconnlistener;
struct listenguard;

/* Installs itself as lev's error callback (one guard per process: libevent hands
 * the callback the listener's user data, which is evhttp's). NULL on OOM (lev is
 * left as it was). */
struct listenguard *listenguard_new(struct event_base *base, struct evconnlistener *lev);
/* The process's connection cap (connguard.h) is reached (full) or no longer: accepting
 * pauses until it is not (connections wait in the backlog). The cap keeps descriptors
 * in reserve, so this pause comes before the one for want of descriptors; it is logged
 * with the same line (and why), one episode at a time like the other. NULL g: no-op. */
void listenguard_set_full(struct listenguard *g, bool full, const char *why);
/* Before the listener itself goes away: removes the callback and the timer. */
void listenguard_free(struct listenguard *g);

#endif
