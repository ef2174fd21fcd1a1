/* authearly: auth requests decided (or announced by a peer) while no waiter was
 * registered for them here, remembered for a few seconds.
 *
 * Why: a synchronous POST /auth registers its waiter when this process handles
 * its create's reply. The create is committed before that reply arrives, so a
 * device can read its challenge from the database, answer, and have the
 * decision committed and announced first (for instance while the creating
 * backend is preempted between its commit and its reply). The waiter that
 * registers afterwards asks here, and reads the request at once instead of
 * waiting for its expiry. */
#ifndef PUSHGATE_AUTHEARLY_H
#define PUSHGATE_AUTHEARLY_H

#include <stdbool.h>

#define AUTHEARLY_KEEP_MS 10000 /* far longer than a create's reply can lag */
#define AUTHEARLY_MAX 65536     /* the oldest go first beyond this */

struct authearly;

struct authearly *authearly_new(void);
void authearly_free(struct authearly *e);
/* Request id `id` was decided or announced with nobody waiting for it here. */
void authearly_note(struct authearly *e, const char *id);
/* True once per noted id still kept: the caller reads the request now. */
bool authearly_take(struct authearly *e, const char *id);
/* How many ids are kept (for tests). */
unsigned authearly_count(const struct authearly *e);

#endif
