/* h_users: Users and their devices, for applications (api.md 7); the admin
 * may revoke a device and unlock a user of any application (api.md 11).
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_USERS_H
#define PUSHGATE_H_USERS_H

#include "http.h"

void h_user_devices(struct req *r);
void h_user_device_revoke(struct req *r);
void h_user_unlock(struct req *r);

#endif
