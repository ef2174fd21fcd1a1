/* sim_mail: registration links from the .eml files pushgated writes when it has no SMTP
 * relay (PUSHGATE_MAIL_DIR).
 *
 * A registration mail's text/plain part (quoted-printable, or 7bit/8bit) carries the link on
 * a line of its own: <public url>/r/<token>, token = 22-128 base64url characters
 * (api.md 4). Other mails (the "new authenticator linked" notice) carry no such line and
 * are ignored. Parsing is defensive: the files are input like any other. */
#ifndef PUSHGATE_SIM_MAIL_H
#define PUSHGATE_SIM_MAIL_H

#include <stddef.h>
#include <time.h>

/* Parses one message. On 0, *to is the bare address of the To header (lower-cased,
 * without display name or <>) and *link the registration link or NULL; both malloc'd.
 * -1 when the text is not a message with a To header. */
int sim_mail_parse(const char *msg, size_t len, char **to, char **link);

/* Called for each registration mail in a directory; mtime orders them. */
typedef void (*sim_mail_fn)(const char *to, const char *link, const struct timespec *mtime,
                            void *arg);

/* Calls fn for every *.eml regular file in dir (hidden files -- the server's temp files --
 * skipped) that carries a registration link. 0, or -1 when dir cannot be read (errno). */
int sim_mail_scan(const char *dir, sim_mail_fn fn, void *arg);

/* The link of the newest (by mtime) registration mail addressed to email (compared
 * case-insensitively), malloc'd; NULL when there is none (or dir cannot be read: then
 * errno is set and *unreadable is 1). */
char *sim_mail_newest_link(const char *dir, const char *email, int *unreadable);

#endif
