-- Webhooks (api.md 12, docs/integration.md "Webhooks"): an application's URL and
-- sealed secret, and an outbox of events (webhook_events) that server/mail/webhooks.c
-- delivers with Standard Webhooks signatures.
--
-- Events are written by triggers, so each one is in the same transaction as the
-- change it reports whichever function (or operator's SQL) makes it, and no push
-- or registration function changes: auth_requests leaving 'pending'
-- (auth.decided), registrations becoming 'completed', devices inserted or
-- revoked, users becoming locked (OTP lockout: users.otp_locked_until; push
-- fraud: users.push_locked_until). Only applications with a webhook get rows;
-- for the others each trigger costs one primary-key read of `applications`.
--
-- Expiry is derived (auth_effective_status, registration_status): nothing is
-- written when a request or a registration runs out. webhook_sweep(), on every
-- instance's timer, writes it for webhook applications:
--  - a request: status 'expired', as auth_read does (its trigger then writes
--    auth.decided), found through auth_requests_pending (app_id, expires_at),
--    a partial index of pending requests: one index entry per POST /auth is
--    cheaper than a trigger on the insert (measured on a loop of single-row
--    inserts: a statement trigger with a transition table made each about 2.5
--    times slower; the index's cost was within the noise). The status change
--    is the "exactly once";
--  - a registration: registration.expired. Its expiry changes no column, so
--    webhook_deadlines lists the deadlines of a webhook application's live
--    registrations (filled by a statement trigger on insert, and for those
--    already live when the webhook is set); the sweep deletes the due ones and
--    reports those still pending. The DELETE is the "exactly once".
-- Both take their rows FOR UPDATE SKIP LOCKED, at most 1000 a tick: instances
-- sweeping at once share the work instead of waiting for (or deadlocking on)
-- each other, and a row locked by a deciding transaction waits for the next tick.

ALTER TABLE applications ADD COLUMN webhook_url text,
                         ADD COLUMN webhook_secret bytea; -- sealed, aad "webhook:<id>"

CREATE TABLE webhook_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id text NOT NULL REFERENCES applications(id),
    -- the webhook-id header: one for all attempts of the event
    msg_id text NOT NULL DEFAULT 'msg_' || replace(gen_random_uuid()::text, '-', ''),
    type text NOT NULL,
    body text NOT NULL, -- the exact bytes every attempt sends (and signs)
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'delivered', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    lease_owner text, -- instances.id
    last_error text,
    delivered_at timestamptz
);
CREATE INDEX webhook_events_queued ON webhook_events (app_id, id) WHERE status = 'queued';

CREATE TABLE webhook_deadlines (
    registration_id text PRIMARY KEY,
    due_at timestamptz NOT NULL
);
CREATE INDEX webhook_deadlines_due ON webhook_deadlines (due_at);

CREATE INDEX auth_requests_pending ON auth_requests (app_id, expires_at) WHERE status = 'pending';

-- True when the application has a webhook (the triggers' first, cheap step).
CREATE FUNCTION webhook_wanted(p_app text) RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM applications a WHERE a.id = p_app AND a.webhook_url IS NOT NULL);

-- An event's body: {"type", "timestamp", "data"}, fixed when it is queued.
CREATE FUNCTION webhook_body(p_type text, p_data json) RETURNS text
LANGUAGE sql STABLE
RETURN json_build_object('type', p_type, 'timestamp', rfc3339(now()), 'data', p_data)::text;

-- Queues one event.
CREATE FUNCTION webhook_enqueue(p_app text, p_type text, p_data json) RETURNS void
LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO webhook_events (app_id, type, body)
    VALUES (p_app, p_type, webhook_body(p_type, p_data));
END;

-- A time as the auth object shows it (push/authview.c: whole seconds, rounded).
CREATE FUNCTION webhook_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN rfc3339(to_timestamp(extract(epoch FROM t)::bigint));

-- The auth object of api.md 5 (push/authview.c's authview_json) of a decided row.
CREATE FUNCTION webhook_auth_json(r auth_requests) RETURNS json
LANGUAGE sql STABLE
RETURN (SELECT json_object_agg(k, v ORDER BY n) FROM (VALUES
        (1, 'requestId', to_json(r.id)), (2, 'status', to_json(r.status)),
        (3, 'username', to_json(r.username)), (4, 'createdAt', to_json(webhook_time(r.created_at))),
        (5, 'expiresAt', to_json(webhook_time(r.expires_at))),
        (6, 'decidedAt', to_json(webhook_time(r.decided_at))), (7, 'deviceId', to_json(r.device_id)),
        (8, 'reason', to_json(r.reason)), (9, 'evidence', to_json(r.evidence)),
        (10, 'challenge', to_json(r.challenge)),
        (11, CASE WHEN r.async THEN 'displayCode' END, to_json(r.display_code))) f(n, k, v)
        WHERE k IS NOT NULL);

CREATE FUNCTION webhook_device_json(d devices) RETURNS json
LANGUAGE sql STABLE
RETURN (SELECT json_build_object('deviceId', d.id, 'username', u.username, 'name', d.name,
                                 'status', d.status, 'createdAt', rfc3339(d.created_at),
                                 'revokedAt', rfc3339(d.revoked_at))
          FROM users u WHERE u.id = d.user_id);

CREATE FUNCTION webhook_on_auth() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF webhook_wanted(NEW.app_id) THEN
        PERFORM webhook_enqueue(NEW.app_id, 'auth.decided', webhook_auth_json(NEW));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook AFTER UPDATE OF status ON auth_requests FOR EACH ROW
    WHEN (OLD.status = 'pending' AND NEW.status <> 'pending') EXECUTE FUNCTION webhook_on_auth();

CREATE FUNCTION webhook_on_registration() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF webhook_wanted(NEW.app_id) THEN
        PERFORM webhook_enqueue(NEW.app_id, 'registration.completed', registration_json(NEW));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook AFTER UPDATE OF status ON registrations FOR EACH ROW
    WHEN (NEW.status = 'completed' AND OLD.status <> 'completed')
    EXECUTE FUNCTION webhook_on_registration();

CREATE FUNCTION webhook_on_device() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF webhook_wanted(NEW.app_id) THEN
        PERFORM webhook_enqueue(NEW.app_id, CASE WHEN TG_OP = 'INSERT' THEN 'device.linked'
                                                 ELSE 'device.revoked' END,
                                webhook_device_json(NEW));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_linked AFTER INSERT ON devices FOR EACH ROW
    EXECUTE FUNCTION webhook_on_device();
CREATE TRIGGER webhook_revoked AFTER UPDATE OF status ON devices FOR EACH ROW
    WHEN (NEW.status = 'revoked' AND OLD.status <> 'revoked') EXECUTE FUNCTION webhook_on_device();

-- A user becomes locked: a lock time set in the future where there was none
-- (or only a past one). A lock that is only extended is not a new event.
CREATE FUNCTION webhook_on_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT webhook_wanted(NEW.app_id) THEN
        RETURN NULL;
    END IF;
    IF NEW.otp_locked_until > now() AND NOT COALESCE(OLD.otp_locked_until > now(), false) THEN
        PERFORM webhook_enqueue(NEW.app_id, 'user.locked', json_build_object(
            'username', NEW.username, 'reason', 'otp_lockout',
            'lockedUntil', rfc3339(NEW.otp_locked_until)));
    END IF;
    IF NEW.push_locked_until > now() AND NOT COALESCE(OLD.push_locked_until > now(), false) THEN
        PERFORM webhook_enqueue(NEW.app_id, 'user.locked', json_build_object(
            'username', NEW.username, 'reason', 'fraud_reported',
            'lockedUntil', rfc3339(NEW.push_locked_until)));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook AFTER UPDATE OF push_locked_until, otp_locked_until ON users
    FOR EACH ROW EXECUTE FUNCTION webhook_on_user();

-- Deadlines of new registrations of webhook applications.
CREATE FUNCTION webhook_watch_registration() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deadlines (registration_id, due_at)
    SELECT n.id, n.expires_at FROM new_rows n
     WHERE n.status IN ('pending', 'retrieved') AND webhook_wanted(n.app_id);
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_watch AFTER INSERT ON registrations REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_watch_registration();

-- Writes the expiries that are due (see the header); returns how many were
-- written. Set-based, safe on several instances at once.
CREATE FUNCTION webhook_sweep() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    m integer;
BEGIN
    UPDATE auth_requests a SET status = 'expired', reason = 'timeout', decided_at = a.expires_at
      FROM (SELECT x.id FROM auth_requests x
             WHERE x.app_id IN (SELECT w.id FROM applications w WHERE w.webhook_url IS NOT NULL)
               AND x.status = 'pending' AND x.expires_at <= now()
             LIMIT 1000 FOR UPDATE SKIP LOCKED) due
     WHERE a.id = due.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    WITH due AS (DELETE FROM webhook_deadlines w
                  WHERE w.registration_id IN (SELECT d.registration_id FROM webhook_deadlines d
                                               WHERE d.due_at <= now()
                                               LIMIT 1000 FOR UPDATE SKIP LOCKED)
                 RETURNING w.registration_id),
         ins AS (INSERT INTO webhook_events (app_id, type, body)
                 SELECT r.app_id, 'registration.expired',
                        webhook_body('registration.expired', registration_json(r))
                   FROM due JOIN registrations r ON r.id = due.registration_id
                  WHERE registration_status(r) = 'expired' AND webhook_wanted(r.app_id)
                 RETURNING 1)
    SELECT count(*) INTO m FROM ins;
    RETURN n + m;
END $$;

-- pushgated app webhook (server/cli/cli_app.c): sets (p_url not NULL) or clears
-- the webhook; false for an unknown application. Setting one also watches the
-- deadlines of the registrations live now. Queued events of a cleared webhook fail at
-- the next claim. Audited: application.webhook_set (with the URL) or
-- application.webhook_cleared -- where events go is security-relevant.
CREATE FUNCTION app_webhook_set(p_app text, p_url text, p_secret bytea) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE applications SET webhook_url = p_url, webhook_secret = p_secret, updated_at = now()
     WHERE id = p_app;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM audit_append(p_app, CASE WHEN p_url IS NULL THEN 'application.webhook_cleared'
                                     ELSE 'application.webhook_set' END,
                         p_app, jsonb_build_object('url', p_url));
    IF p_url IS NOT NULL THEN
        INSERT INTO webhook_deadlines (registration_id, due_at)
        SELECT r.id, r.expires_at FROM registrations r
         WHERE r.app_id = p_app AND r.status IN ('pending', 'retrieved')
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN true;
END $$;

-- Claims up to p_limit events for one delivery attempt each, leased to p_self
-- for p_lease_s seconds (server/mail/webhooks.c):
--  1. queued events of an application without a webhook now fail;
--  2. per application, its oldest due event -- unless one of its events is
--     leased by a live instance (p_self, or one with a fresh heartbeat: the
--     6 s of peers_alive, as outbox_claim in 023): one in flight per
--     application, oldest first. An event waiting for its retry does not hold
--     back the later ones (docs/integration.md "Ordering").
-- Claims are serialized by an advisory lock (they are a few a second), so two
-- instances never lease two events of one application.
CREATE FUNCTION webhook_claim(p_lease_s integer, p_limit integer, p_self text)
RETURNS TABLE (id bigint, msg_id text, app_id text, url text, secret bytea, body text,
               attempts integer)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7350040);
    UPDATE webhook_events e
       SET status = 'failed', lease_until = NULL, last_error = 'the application has no webhook'
     WHERE e.status = 'queued' AND NOT webhook_wanted(e.app_id);
    RETURN QUERY
    WITH busy AS (SELECT DISTINCT x.app_id FROM webhook_events x
                   WHERE x.status = 'queued' AND x.lease_until > now()
                     AND (x.lease_owner = p_self
                          OR EXISTS (SELECT 1 FROM instances i
                                      WHERE i.id = x.lease_owner
                                        AND i.last_seen > now() - interval '6 seconds'))),
         head AS (SELECT DISTINCT ON (x.app_id) x.id FROM webhook_events x
                   WHERE x.status = 'queued' AND x.next_attempt_at <= now()
                     AND x.app_id NOT IN (SELECT b.app_id FROM busy b)
                   ORDER BY x.app_id, x.id),
         pick AS (SELECT h.id FROM head h ORDER BY h.id LIMIT p_limit)
    UPDATE webhook_events e SET lease_until = now() + make_interval(secs => p_lease_s),
                                lease_owner = p_self
      FROM pick, applications a
     WHERE e.id = pick.id AND a.id = e.app_id
    RETURNING e.id, e.msg_id, e.app_id, a.webhook_url, a.webhook_secret, e.body, e.attempts;
END $$;
