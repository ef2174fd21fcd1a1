/* h_ops: Operations endpoints (api.md 9): probes, the JWKS and /metrics.
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_OPS_H
#define PUSHGATE_H_OPS_H

#include "http.h"

void h_healthz(struct req *r);
void h_readyz(struct req *r);
void h_jwks(struct req *r);
void h_metrics(struct req *r);

/* Drops the database counts /metrics keeps (at shutdown, the loop stopped). */
void h_ops_free(void);

#endif
