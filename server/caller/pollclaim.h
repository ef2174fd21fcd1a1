/* pollclaim: the jtis of device long-polls (GET /device/challenges) without a
 * database write per poll (issue 23; the design and its costs: docs/benchmarks.md,
 * "Idle polls without writes").
 *
 * A poll's proof is reduced to a key (64 bits of SHA-256 over device id and jti).
 * A key already known - taken here, or claimed by a peer instance or by this
 * instance before a restart in the last 125 s or more - is a replay: 401. A new key
 * is taken at once and the poll goes on; the keys taken meanwhile are written
 * together every POLLCLAIM_FLUSH_MS as ONE row of poll_claims (sql/042), whose
 * identity column orders all claims, and announced to the peers in the same
 * transaction (NOTIFY "p:<instance>:<id>:<hex keys>"); the same statement names the
 * devices among them that may no longer poll (revoked, or of a disabled
 * application), whose polls are then refused when they answer. Peers and restarted
 * processes (which re-read the last 125 s whenever LISTEN is (re)established) keep
 * every key with the smallest row id that claimed it: when two instances took the
 * same proof at once, the lower row id owns it and the other one's poll is refused
 * when it would answer.
 *
 * What a poll may answer is decided by devproof (devproof_reply_*): challenges
 * only after the jti is claimed exactly in device_jtis (one write, and only for a
 * poll that returns something), an empty list only when pollclaim_state() says
 * POLLCLAIM_OURS. Until the first re-read has completed (pollclaim_ready() false)
 * every poll is claimed exactly, as other device requests are.
 *
 * Memory: per generation, the keys taken here with their row ids (16 bytes a
 * slot) and the keys only peers claimed (8 bytes a slot: every process keeps
 * every instance's keys, so these are most of them), each at most 3/4 full;
 * three generations of 64 s each, the oldest dropped as a whole (no per-key expiry). */
#ifndef PUSHGATE_POLLCLAIM_H
#define PUSHGATE_POLLCLAIM_H

#include <stdbool.h>
#include <stdint.h>

#define POLLCLAIM_FLUSH_MS 200
#define POLLCLAIM_ROW_MAX 400        /* keys per row: the NOTIFY payload stays under 8000 bytes */
#define POLLCLAIM_GEN_S 64           /* three generations: a key is known 128-192 s >= 125 s */
#define POLLCLAIM_REQUEUE_MAX 100000 /* keys kept for the next flush after a failed one */

struct server;
struct pollclaim;

enum pollclaim_state {
    POLLCLAIM_OURS,    /* written by us, and no peer claimed it with a lower row id */
    POLLCLAIM_PENDING, /* taken here, not written yet (or its write failed) */
    POLLCLAIM_LOST,    /* a peer's, or not known at all */
};

struct pollclaim *pollclaim_new(struct server *srv);
void pollclaim_free(struct pollclaim *pc);

uint64_t pollclaim_key(const char *device_id, const char *jti);
/* True when the peers' claims are known (see above). */
bool pollclaim_ready(const struct pollclaim *pc);
/* False: the key is known (a replay). True: taken, pending until written. */
bool pollclaim_take(struct pollclaim *pc, uint64_t key, const char *device_id);
enum pollclaim_state pollclaim_state(const struct pollclaim *pc, uint64_t key);

/* cluster/notify: a peer's "p:" payload (without "p:"); LISTEN (re)established. */
void pollclaim_peer(struct pollclaim *pc, const char *payload);
void pollclaim_listening(struct pollclaim *pc);

#endif
