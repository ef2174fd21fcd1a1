/* handlers: every route's handler, grouped by module (h_<module>.c).
 * A handler validates in a straight line, answers at the first failure,
 * and replies exactly once (see http.h). */
#ifndef PUSHGATE_HANDLERS_H
#define PUSHGATE_HANDLERS_H

#include "http.h"

/* h_ops.c */
void h_healthz(struct req *r);
void h_readyz(struct req *r);

/* h_ops.c: GET /.well-known/jwks.json */
void h_jwks(struct req *r);

/* h_link.c */
void h_link_get(struct req *r);
void h_link_bind(struct req *r);

/* h_auth.c */
void h_auth_create(struct req *r);
void h_auth_get(struct req *r);
void h_auth_cancel(struct req *r);

/* h_device.c */
void h_device_poll(struct req *r);
void h_device_answer(struct req *r);
void h_device_get(struct req *r);
void h_device_revoke(struct req *r);

/* h_users.c */
void h_user_devices(struct req *r);
void h_user_device_revoke(struct req *r);

/* h_registration.c */
void h_registration_create(struct req *r);
void h_registration_get(struct req *r);
void h_registration_cancel(struct req *r);

/* h_mfa_codes.c, h_mfa_check.c, h_mfa_status.c: one-time-code factors (api.md 8) */
void h_mfa_setup(struct req *r);
void h_mfa_challenge(struct req *r);
void h_mfa_enable(struct req *r);
void h_mfa_verify(struct req *r);
void h_mfa_disable(struct req *r);
void h_mfa_backup_codes(struct req *r);
void h_mfa_status(struct req *r);
void h_mfa_requirements(struct req *r);

#endif
