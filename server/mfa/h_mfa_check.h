/* h_mfa_check: One-time-code factors (api.md 8): checking a code.
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_MFA_CHECK_H
#define PUSHGATE_H_MFA_CHECK_H

#include "http.h"

void h_mfa_enable(struct req *r);
void h_mfa_verify(struct req *r);
void h_mfa_backup_codes(struct req *r);
void h_mfa_disable(struct req *r);

#endif
