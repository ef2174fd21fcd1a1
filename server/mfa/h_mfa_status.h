/* h_mfa_status: One-time-code factors (api.md 8): status and requirements.
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_MFA_STATUS_H
#define PUSHGATE_H_MFA_STATUS_H

#include "http.h"

void h_mfa_status(struct req *r);
void h_mfa_requirements(struct req *r);

#endif
