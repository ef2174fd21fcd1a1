/* The web authenticator's static files (h_web.h). */
#include "h_web.h"

#include <string.h>

const char web_csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                       "img-src 'self' data:; connect-src 'self'; manifest-src 'self'; "
                       "worker-src 'self'; base-uri 'none'; form-action 'none'; "
                       "frame-ancestors 'none'";

static const struct web_file *find_in(const struct web_file *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

const struct web_file *web_file_find(const char *name)
{
    return find_in(web_files, web_files_count, name);
}

/* If-None-Match names our ETag (a list, or "*"): the client's copy is current. */
static bool not_modified(const struct req *r, const struct web_file *f)
{
    const char *inm = http_header(r, "If-None-Match");
    return inm && (strstr(inm, f->etag) || strcmp(inm, "*") == 0);
}

static void serve(struct req *r, const struct web_file *f)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(h, "Content-Security-Policy", web_csp);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    /* revalidated on every use: an upgraded server's app is picked up at once, and the
     * ETag makes that a 304 while nothing changed */
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "ETag", f->etag);
    if (not_modified(r, f))
        return http_reply_empty(r, 304);
    http_reply_raw(r, 200, f->type, (const char *)f->data, f->len);
}

void h_web_index(struct req *r)
{
    const struct web_file *f = web_file_find("index.html");
    if (!f)
        return http_problem(r, 404, "not_found", "the web authenticator is not built in");
    serve(r, f);
}

void h_web_file(struct req *r)
{
    const struct web_file *f = web_file_find(r->params[0]);
    if (!f)
        return http_problem(r, 404, "not_found", "no such file");
    serve(r, f);
}

/* relative, so that it also holds behind a proxy that serves us under a prefix */
static void redirect(struct req *r, const char *to)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Location", to);
    http_reply_empty(r, 301);
}

void h_web_redirect(struct req *r)
{
    redirect(r, "app/");
}

/* The admin console: the same headers and policy, from its own table. */
void h_console_index(struct req *r)
{
    const struct web_file *f = find_in(console_files, console_files_count, "index.html");
    if (!f)
        return http_problem(r, 404, "not_found", "the admin console is not built in");
    serve(r, f);
}

void h_console_file(struct req *r)
{
    const struct web_file *f = find_in(console_files, console_files_count, r->params[0]);
    if (!f)
        return http_problem(r, 404, "not_found", "no such file");
    serve(r, f);
}

void h_console_redirect(struct req *r)
{
    redirect(r, "console/");
}
