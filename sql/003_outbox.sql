-- The mailer's side of the outbox (server/mail/outbox.c, docs/mail.md).
--
-- outbox_claim, which this migration created, is now defined where its current
-- version is (one body each, sql/README.md): 023, which leases rows to an
-- instance so that a live one takes over a dead one's rows.
SELECT 'superseded by 023';
