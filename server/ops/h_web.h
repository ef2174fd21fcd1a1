/* h_web: the web authenticator's files (api.md 13), GET /app/ and /app/<file>.
 *
 * The files of web/app/ are embedded at build time (cmake/embed_web.cmake
 * generates web_files[]): the binary needs nothing at run time, and what it
 * serves is exactly what was tested. Every file is answered with a strict
 * Content-Security-Policy (no inline script or style, nothing from another
 * origin), nosniff, no referrer, and an ETag that revalidates (304). An
 * unknown file is a 404 problem+json. */
#ifndef PUSHGATE_H_WEB_H
#define PUSHGATE_H_WEB_H

#include "http.h"

#include <stddef.h>

struct web_file {
    const char *name; /* "app.js": web/app/ is flat */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted, from the content's SHA-256 */
};

extern const struct web_file web_files[];
extern const size_t web_files_count;
/* The admin console's files (web/console/, api.md 14): served the same way. */
extern const struct web_file console_files[];
extern const size_t console_files_count;

/* The embedded file of that name, or NULL. */
const struct web_file *web_file_find(const char *name);

/* The policy every /app/ file is served with (docs/web-authenticator.md explains each part). */
extern const char web_csp[];

void h_web_index(struct req *r);    /* GET /app/: index.html */
void h_web_file(struct req *r);     /* GET /app/{}: the file, or 404 */
void h_web_redirect(struct req *r); /* GET /app: 301 to /app/ (relative URLs need the slash) */

void h_console_index(struct req *r);    /* GET /console/: index.html */
void h_console_file(struct req *r);     /* GET /console/{}: the file, or 404 */
void h_console_redirect(struct req *r); /* GET /console: 301 to /console/ */

#endif
