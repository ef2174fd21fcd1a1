/* devknown: what this instance knows, without a read, about a device's
 * pending challenges - so that a device's next poll after its answer need not
 * read the database (the benchmark's re-poll was a quarter of the statements
 * per flow, docs/benchmarks.md).
 *
 * Contract: a device is "known" only from a read of its challenges that no
 * event for the device interrupted (devpoll marks such a read dirty and reads
 * again), kept up to date by what happens here (devknown_add for a challenge
 * created here, devknown_remove for an answer committed here), and forgotten
 * on anything else: a peer's NOTIFY, a revocation, or - after a LISTEN
 * reconnect - the database's word that the device has something (devpoll.h,
 * devpoll_recheck_all: every device known here is checked). The set
 * may hold requests that are no longer pending (decided elsewhere, expired);
 * it never lacks one that is, except between a peer's commit and the arrival
 * of its NOTIFY - the same window a held poll already has. A known state
 * lapses DEVKNOWN_TTL_S after its read, so a lost NOTIFY costs at most that
 * (NOTIFYs are lost only while LISTEN is down or while peers think this
 * instance dead; both check every device known: cluster/notify.c). 300 s, not less:
 * an idle device polls once a minute, and each lapse is a read of its
 * challenges (and the write of its lastSeenAt), the one database statement an
 * idle poll still costs (issue 23, docs/benchmarks.md).
 * Single-threaded; the map is bounded (cleared when it grows past a cap). */
#ifndef PUSHGATE_DEVKNOWN_H
#define PUSHGATE_DEVKNOWN_H

#include <stdbool.h>

#define DEVKNOWN_TTL_S 300

struct devknown;

struct devknown *devknown_new(void);
void devknown_free(struct devknown *k);

/* An uninterrupted read found these pending request ids (n may be 0). */
void devknown_set(struct devknown *k, const char *device, const char *const *ids, int n);
/* A challenge for the device was created here (no-op unless known). */
void devknown_add(struct devknown *k, const char *device, const char *request_id);
/* The device's answer to the request was committed here (no-op unless known). */
void devknown_remove(struct devknown *k, const char *device, const char *request_id);
void devknown_forget(struct devknown *k, const char *device);
void devknown_forget_all(struct devknown *k);
/* Calls fn for every device known (fn must not change what is known). */
void devknown_each(struct devknown *k, void (*fn)(const char *device, void *arg), void *arg);
/* True when the device is known, within the TTL, to have nothing pending. */
bool devknown_empty(struct devknown *k, const char *device);

#endif
