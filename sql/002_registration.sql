-- Users (per application), registrations (emailed links) and the mail outbox.
CREATE TABLE users (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id            text NOT NULL REFERENCES applications (id),
    username          text NOT NULL,
    email             text,
    display_name      text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    push_locked_until timestamptz,           -- a reported push fraud (api.md 5.3)
    otp_failures      integer NOT NULL DEFAULT 0,
    otp_locked_until  timestamptz,
    UNIQUE (app_id, username)
);

-- status 'expired' is never stored: it is derived from expires_at.
CREATE TABLE registrations (
    id           text PRIMARY KEY,
    app_id       text NOT NULL REFERENCES applications (id),
    user_id      bigint NOT NULL REFERENCES users (id),
    email        text NOT NULL,
    display_name text,
    token_hash   text NOT NULL UNIQUE,        -- SHA-256 of the link token; the token is never stored
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'retrieved', 'completed', 'cancelled')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    retrieved_at timestamptz,
    completed_at timestamptz,
    cancelled_at timestamptz,
    device_id    text
);
CREATE INDEX registrations_user_created ON registrations (user_id, created_at);

-- Outgoing mail. The message may carry a link token, so it is kept sealed
-- (AES-256-GCM under the master key) and erased once sent or given up.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    registration_id text REFERENCES registrations (id),
    kind            text NOT NULL,
    recipient       text NOT NULL,
    sealed          bytea,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,              -- an instance is delivering it until then
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_registration ON outbox (registration_id);

CREATE FUNCTION registration_status(r registrations) RETURNS text
    LANGUAGE sql STABLE
    RETURN CASE WHEN r.status IN ('pending', 'retrieved') AND r.expires_at <= now()
                THEN 'expired' ELSE r.status END;

-- The API object of GET /registration/{id} (api.md 4).
CREATE FUNCTION registration_json(r registrations) RETURNS json
    LANGUAGE sql STABLE
    RETURN (
        SELECT json_build_object(
            'registrationId', r.id, 'status', registration_status(r),
            'username', u.username, 'email', r.email,
            'createdAt', rfc3339(r.created_at), 'expiresAt', rfc3339(r.expires_at),
            'retrievedAt', rfc3339(r.retrieved_at), 'completedAt', rfc3339(r.completed_at),
            'deviceId', r.device_id,
            'delivery', (SELECT json_build_object('status', o.status, 'attempts', o.attempts,
                                                  'lastError', o.last_error)
                           FROM outbox o WHERE o.registration_id = r.id AND o.kind = 'registration'
                          ORDER BY o.id LIMIT 1))
          FROM users u WHERE u.id = r.user_id);

-- POST /registration (registration_create) is in 031.

-- DELETE /registration/{id}: cancels a pending or retrieved registration.
CREATE FUNCTION registration_cancel(p_id text, p_app text)
RETURNS TABLE (outcome text, body json)
LANGUAGE plpgsql AS $$
DECLARE
    reg registrations;
BEGIN
    SELECT * INTO reg FROM registrations
     WHERE id = p_id AND (p_app IS NULL OR app_id = p_app) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::json;
    ELSIF registration_status(reg) NOT IN ('pending', 'retrieved') THEN
        RETURN QUERY SELECT 'not_pending'::text, registration_json(reg);
    ELSE
        UPDATE registrations SET status = 'cancelled', cancelled_at = now()
         WHERE id = p_id RETURNING * INTO reg;
        RETURN QUERY SELECT 'ok'::text, registration_json(reg);
    END IF;
END $$;
