/* mail: composing RFC 5322 / MIME messages (multipart/alternative with a
 * text/plain and an optional text/html part, both UTF-8, quoted-printable).
 * Pure functions; delivery lives in outbox.c. */
#ifndef PUSHGATE_MAILMSG_H
#define PUSHGATE_MAILMSG_H

/* malloc'd message with CRLF line ends, or NULL. Header values are
 * stripped of CR/LF; a non-ASCII subject is RFC 2047 encoded. */
char *mailmsg_compose(const char *from, const char *to, const char *subject, const char *text,
                      const char *html);

/* HTML-escapes s (&<>"'); malloc'd, never NULL. */
char *mailmsg_html_escape(const char *s);

/* A plausible address: one '@', no spaces or control characters, <= 254 bytes. */
int mailmsg_address_ok(const char *s);

#endif
