/* h_link: The enrolment link a user opens (GET/POST /r/{id}, api.md 4).
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_LINK_H
#define PUSHGATE_H_LINK_H

#include "http.h"

void h_link_get(struct req *r);
void h_link_bind(struct req *r);

#endif
