/* routes: the route table, every endpoint of api.md (routes.c). serve.c hands
 * it to http_start; the handlers come from every feature's header, which is
 * why only the top layer may include this one. */
#ifndef PUSHGATE_ROUTES_H
#define PUSHGATE_ROUTES_H

#include "router.h"

#include <stddef.h>

extern const struct route routes[];
extern const size_t routes_count;

#endif
