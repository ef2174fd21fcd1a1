-- The mailer's side of the outbox (server/mailer.c, docs/mail.md).

-- Claims up to p_limit due rows for one delivery attempt each, in one transaction:
--  1. rows that must no longer be sent are given up (status 'failed', message
--     erased): past expires_at, or a registration mail whose registration was
--     cancelled or already completed (the link is dead, so is the mail);
--  2. the remaining due rows are leased for p_lease_s seconds and returned.
-- Rows leased by another instance, or locked by a concurrent claim, are skipped
-- (FOR UPDATE SKIP LOCKED), so no row is handed out twice while its lease runs.
-- A lease that runs out (the instance died mid-send) makes the row due again:
-- delivery is at-least-once.
CREATE FUNCTION outbox_claim(p_lease_s integer, p_limit integer)
RETURNS TABLE (id bigint, recipient text, sealed bytea, kind text, registration_id text,
               attempts integer)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE outbox o
       SET status = 'failed', sealed = NULL, lease_until = NULL,
           last_error = CASE
               WHEN o.expires_at > now()
                   THEN 'registration ' || (SELECT r.status FROM registrations r
                                             WHERE r.id = o.registration_id)
               WHEN o.last_error IS NULL THEN 'expired'
               ELSE left('expired; last error: ' || o.last_error, 200) END
     WHERE o.id IN (SELECT x.id FROM outbox x
                      LEFT JOIN registrations r ON r.id = x.registration_id
                     WHERE x.status = 'queued'
                       AND (x.lease_until IS NULL OR x.lease_until < now())
                       AND (x.expires_at <= now()
                            OR (x.kind = 'registration'
                                AND r.status IN ('cancelled', 'completed')))
                     ORDER BY x.id LIMIT 100 FOR UPDATE OF x SKIP LOCKED);

    RETURN QUERY
    UPDATE outbox o SET lease_until = now() + make_interval(secs => p_lease_s)
      FROM (SELECT x.id FROM outbox x
             WHERE x.status = 'queued' AND x.next_attempt_at <= now()
               AND (x.lease_until IS NULL OR x.lease_until < now())
             ORDER BY x.id LIMIT p_limit FOR UPDATE SKIP LOCKED) due
     WHERE o.id = due.id
    RETURNING o.id, o.recipient, o.sealed, o.kind, o.registration_id, o.attempts;
END $$;
