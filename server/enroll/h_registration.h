/* h_registration: Device registrations, for applications (api.md 4).
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_REGISTRATION_H
#define PUSHGATE_H_REGISTRATION_H

#include "http.h"

void h_registration_create(struct req *r);
void h_registration_get(struct req *r);
void h_registration_cancel(struct req *r);

#endif
