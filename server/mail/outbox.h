/* mailer: delivers the outbox table (sql/002) on the event loop.
 *
 * Rows are written by SQL in the same transaction as what they announce
 * (e.g. a registration). The mailer claims due rows with a lease (so that
 * several instances never send one row twice at once), opens the sealed
 * message with the master key, and sends it with libcurl's SMTP through the
 * multi interface (smtp://, smtps://, STARTTLS when offered) -- or, when
 * PUSHGATE_SMTP_URL is unset, writes it as a .eml file into
 * PUSHGATE_MAIL_DIR. A failure is recorded (attempts, last_error) and
 * retried with exponential backoff until the row's expires_at, then marked
 * failed. The sealed body is erased once the row is sent or failed.
 * Never blocks; never logs message contents. */
#ifndef PUSHGATE_OUTBOX_H
#define PUSHGATE_OUTBOX_H

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

/* Something was queued: look at the outbox now instead of at the next tick. */
void outbox_kick(struct outbox *m);

#endif
