/* mailer: delivers the outbox table (sql/002) on the event loop.
 *
 * Rows are written by SQL in the same transaction as what they announce
 * (e.g. a registration). The mailer claims due rows with a lease (so that
 * several instances never send one row twice at once), opens the sealed
 * message with the master key, and sends it with libcurl's SMTP through the
 * multi interface (smtps://, or smtp:// with STARTTLS as PUSHGATE_SMTP_TLS
 * says: outbox_use_ssl) -- or, when
 * PUSHGATE_SMTP_URL is unset, writes it as a .eml file into
 * PUSHGATE_MAIL_DIR. A failure is recorded (attempts, last_error) and
 * retried with exponential backoff until the row's expires_at, then marked
 * failed. The sealed body is erased once the row is sent or failed.
 * Every outcome is logged ("mail delivery") with the connection's TLS state:
 * "smtps", "starttls" or "none" (nothing was encrypted).
 * Never blocks; never logs message contents. */
#ifndef PUSHGATE_OUTBOX_H
#define PUSHGATE_OUTBOX_H

#include <stdbool.h>

struct server;
struct outbox;

struct outbox *outbox_new(struct server *srv);
void outbox_free(struct outbox *m);
/* Composes a message and seals it for an outbox row (AES-256-GCM under the
 * master key, aad "outbox" -- what the mailer opens). Returns the bytea
 * parameter in PostgreSQL hex form (malloc'd), or NULL. The clear text is
 * wiped before returning. html may be NULL. */
char *outbox_seal(const struct server *srv, const char *to, const char *subject, const char *text,
                  const char *html);

/* True when the SMTP URL's host is a loopback address literal: 127.0.0.0/8,
 * ::1 or ::ffff:127.x.y.z. A name is never loopback, not even "localhost": it
 * is resolved when the mail is sent, by a resolver we do not control. */
bool outbox_relay_is_loopback(const char *url);
/* The CURLOPT_USE_SSL level for url under PUSHGATE_SMTP_TLS mode (enum
 * config_smtp_tls): required -> CURLUSESSL_ALL (no STARTTLS, no mail) unless
 * the relay is loopback; optional, or required to a loopback relay ->
 * CURLUSESSL_TRY; none -> CURLUSESSL_NONE. smtps:// is TLS from the first
 * byte whatever this says. */
long outbox_use_ssl(const char *url, int mode);

/* Something was queued: look at the outbox now instead of at the next tick. */
void outbox_kick(struct outbox *m);

#endif
