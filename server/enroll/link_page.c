#include "link_page.h"

#include "alloc.h"
#include "mailmsg.h"
#include "qrsvg.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* column numbers of registration_by_token() + server_jwks() */
enum {
    C_OUTCOME,
    C_REG,
    C_APP_ID,
    C_APP_NAME,
    C_USER,
    C_DISPLAY,
    C_EMAIL,
    C_EXPIRES_AT,
    C_EXPIRES_IN,
    C_JWKS
};

static json_t *nullable(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? json_null() : json_string(PQgetvalue(res, 0, col));
}

void link_page_document(struct req *r, PGresult *res)
{
    json_t *jwks = json_loads(PQgetvalue(res, 0, C_JWKS), 0, NULL);
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s}, s:s, s:o, s:s, s:{s:s, s:o}}", "registrationId",
        PQgetvalue(res, 0, C_REG), "application", "id", PQgetvalue(res, 0, C_APP_ID), "name",
        PQgetvalue(res, 0, C_APP_NAME), "username", PQgetvalue(res, 0, C_USER), "displayName",
        nullable(res, C_DISPLAY), "expiresAt", PQgetvalue(res, 0, C_EXPIRES_AT), "server", "url",
        r->srv->public_url, "jwks", jwks ? jwks : json_object());
    http_reply_json(r, 200, doc);
}

static const char page_head[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<meta name=\"referrer\" content=\"no-referrer\"><title>%s</title>"
    "<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:2em auto;padding:0 1em;"
    "color:#222}svg{width:16em;height:16em}code{word-break:break-all}</style></head><body>";

static void reply_html(struct req *r, int status, const char *html)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    /* no script, no external resources; the page must not leak the link onwards */
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    http_reply_raw(r, status, "text/html; charset=utf-8", html, strlen(html));
}

static void duration_text(int seconds, char *buf, size_t n)
{
    if (seconds >= 7200)
        snprintf(buf, n, "about %d hours", seconds / 3600);
    else if (seconds >= 120)
        snprintf(buf, n, "about %d minutes", seconds / 60);
    else
        snprintf(buf, n, "less than two minutes");
}

void link_page_render(struct req *r, PGresult *res)
{
    char link[1024], valid[64];
    snprintf(link, sizeof link, "%s/r/%s", r->srv->public_url, r->params[0]);
    duration_text(atoi(PQgetvalue(res, 0, C_EXPIRES_IN)), valid, sizeof valid);
    char *svg = qrsvg_render(link);
    char *app = mailmsg_html_escape(PQgetvalue(res, 0, C_APP_NAME));
    char *user = mailmsg_html_escape(PQgetvalue(res, 0, C_USER));
    char *elink = mailmsg_html_escape(link);
    char *head = xasprintf(page_head, "Link your authenticator");
    char *html =
        xasprintf("%s<h1>Link your authenticator to %s</h1>"
                  "<p>Account: <strong>%s</strong></p>"
                  "<p>Scan this code with your authenticator app. The link stays valid "
                  "for %s (until %s).</p>%s<p>Or open this link on your phone:<br>"
                  "<code>%s</code></p>"
                  /* the web authenticator (api.md 13) gets the token in the fragment, which
                   * the browser never sends: /app/'s request carries no secret, and with
                   * no-referrer this page's URL is not passed on either. Relative, so that
                   * it holds under a proxy's prefix too. The token is base64url (token_ok). */
                  "<p><a id=\"use-browser\" href=\"../app/#enroll=%s\">Use this browser as "
                  "your authenticator</a></p></body></html>",
                  head, app, user, valid, PQgetvalue(res, 0, C_EXPIRES_AT), svg ? svg : "", elink,
                  r->params[0]);
    reply_html(r, 200, html);
    free(head);
    free(html);
    free(elink);
    free(user);
    free(app);
    free(svg);
}

void link_page_error(struct req *r, int status, const char *message)
{
    char head[1024], html[2048];
    char *msg = mailmsg_html_escape(message);
    snprintf(head, sizeof head, page_head, "Link not usable");
    snprintf(html, sizeof html,
             "%s<h1>This link cannot be used</h1><p>%s.</p>"
             "<p>Ask for a new registration link.</p></body></html>",
             head, msg);
    reply_html(r, status, html);
    free(msg);
}
