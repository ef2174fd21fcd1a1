/* h_lists: the lists of api.md 11 (GET /registrations, /auth, /users, /audit,
 * /applications): pages of {"items", "nextCursor"}, newest first, keyset
 * paginated by the SQL list functions of sql/041_lists.sql (listreq.h: the
 * query, the scope, the cursors). /audit and /applications are the admin's:
 * an application's valid credentials get 403 forbidden there.
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_LISTS_H
#define PUSHGATE_H_LISTS_H

#include "http.h"

void h_registrations_list(struct req *r);
void h_auth_list(struct req *r);
void h_users_list(struct req *r);
void h_audit_list(struct req *r);
void h_applications_list(struct req *r);

#endif
