/* serve: the daemon. Migrates (blocking, before the loop starts), then runs
 * the event loop until SIGTERM/SIGINT, then drains and exits. */
#ifndef PUSHGATE_SERVE_H
#define PUSHGATE_SERVE_H

#include "config.h"

int serve_main(const struct config *cfg);

#endif
