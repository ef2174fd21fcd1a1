/* link_page: the answers of GET /r/{token}: the JSON registration document
 * for an authenticator, or an HTML page with a QR code of the link for a
 * person's browser (no scripts, no external resources). `res` is a row of
 * registration_by_token() followed by server_jwks(). */
#ifndef PUSHGATE_LINK_PAGE_H
#define PUSHGATE_LINK_PAGE_H

#include "http.h"

#include <libpq-fe.h>

void link_page_document(struct req *r, PGresult *res);
void link_page_render(struct req *r, PGresult *res);
void link_page_error(struct req *r, int status, const char *message);

#endif
