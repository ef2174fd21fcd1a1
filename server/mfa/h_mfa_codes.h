/* h_mfa_codes: One-time-code factors (api.md 8): setup and sending a code.
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_MFA_CODES_H
#define PUSHGATE_H_MFA_CODES_H

#include "http.h"

void h_mfa_setup(struct req *r);
void h_mfa_challenge(struct req *r);

#endif
