-- An unlock that also clears the push back-off (api.md 5.3, v1.1), and outbox
-- leases that a live instance takes over from a dead one (docs/mail.md).

-- Who holds a row's lease (instances.id); NULL for leases taken by a binary
-- before this migration, which only run out.
ALTER TABLE outbox ADD COLUMN lease_owner text;

-- Claims up to p_limit due rows for one delivery attempt each, in one transaction
-- (server/mail/outbox.c, docs/mail.md "The mailer"):
--  1. rows that must no longer be sent are given up (status 'failed', message
--     erased): past expires_at, or a registration mail whose registration was
--     cancelled or already completed (the link is dead, so is the mail);
--  2. the remaining due rows are leased to p_self for p_lease_s seconds and
--     returned.
-- A lease is free when it ran out, or when its owner is dead: not p_self and
-- without a fresh heartbeat in `instances` (server/cluster/notify.c beats every
-- 2 s; fresh is the 6 s of peers_alive, 008). So a killed instance's rows are
-- sent again within seconds by whichever instance claims next, a restarted one
-- included (it has a new id), instead of after the whole lease. Rows locked by a
-- concurrent claim are skipped (FOR UPDATE SKIP LOCKED). Delivery stays
-- at-least-once: a send that was under way when its instance died, or whose
-- instance missed its heartbeats for 6 s, may be sent twice.
CREATE FUNCTION outbox_claim(p_lease_s integer, p_limit integer, p_self text)
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
                       AND (x.lease_until IS NULL OR x.lease_until < now()
                            OR (x.lease_owner IS DISTINCT FROM p_self
                                AND NOT EXISTS (SELECT 1 FROM instances i
                                                 WHERE i.id = x.lease_owner
                                                   AND i.last_seen > now() - interval '6 seconds')))
                       AND (x.expires_at <= now()
                            OR (x.kind = 'registration'
                                AND r.status IN ('cancelled', 'completed')))
                     ORDER BY x.id LIMIT 100 FOR UPDATE OF x SKIP LOCKED);

    RETURN QUERY
    UPDATE outbox o SET lease_until = now() + make_interval(secs => p_lease_s),
                        lease_owner = p_self
      FROM (SELECT x.id FROM outbox x
             WHERE x.status = 'queued' AND x.next_attempt_at <= now()
               AND (x.lease_until IS NULL OR x.lease_until < now()
                    OR (x.lease_owner IS DISTINCT FROM p_self
                        AND NOT EXISTS (SELECT 1 FROM instances i
                                         WHERE i.id = x.lease_owner
                                           AND i.last_seen > now() - interval '6 seconds')))
             ORDER BY x.id LIMIT p_limit FOR UPDATE SKIP LOCKED) due
     WHERE o.id = due.id
    RETURNING o.id, o.recipient, o.sealed, o.kind, o.registration_id, o.attempts;
END $$;

-- The form that binaries before 023 call (during a rolling deploy): their
-- leases have no owner and only run out, but they take over a dead owner's too.
CREATE OR REPLACE FUNCTION outbox_claim(p_lease_s integer, p_limit integer)
RETURNS TABLE (id bigint, recipient text, sealed bytea, kind text, registration_id text,
               attempts integer)
LANGUAGE sql AS $$
    SELECT * FROM outbox_claim(p_lease_s, p_limit, NULL::text)
$$;

-- pushgated user unlock (server/cli/cli_user.c): clears the OTP lockout and its
-- failure count, a push fraud lock, and the push back-off, so that the next
-- POST /auth is admitted at once (api.md 5.3). True when the user exists.
--
-- The back-off is a function of the user's latest request (auth_admit, 031):
-- its strikes (the run of denied/expired requests before it), plus one when it
-- ended denied or expired itself. So the unlock rewrites that run on the latest
-- request: 0, or -1 when the request's own end is a strike (with it the run is
-- 0 again). A request still pending keeps its own outcome to come: an unlock
-- clears what came before, not what the user does next. The per-user advisory
-- lock of auth_create_batch orders the unlock with a concurrent POST /auth.
CREATE FUNCTION user_unlock(p_app text, p_username text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(73501, hashtext(p_app || '/' || p_username));
    UPDATE users SET push_locked_until = NULL, otp_failures = 0, otp_locked_until = NULL
     WHERE app_id = p_app AND username = p_username
    RETURNING users.id INTO uid;
    IF uid IS NULL THEN
        RETURN false;
    END IF;
    UPDATE auth_requests a
       SET strikes = CASE WHEN auth_effective_status(a) IN ('denied', 'expired')
                               AND a.reason IS DISTINCT FROM 'device_revoked' THEN -1
                          ELSE 0 END,
           strikes_end = NULL
     WHERE a.id = (SELECT l.id FROM auth_requests l WHERE l.user_id = uid
                    ORDER BY l.created_at DESC LIMIT 1);
    RETURN true;
END $$;
