/* h_auth: Authentication requests, for applications (api.md 5).
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_AUTH_H
#define PUSHGATE_H_AUTH_H

#include "http.h"

void h_auth_create(struct req *r);
void h_auth_get(struct req *r);
void h_auth_cancel(struct req *r);

#endif
