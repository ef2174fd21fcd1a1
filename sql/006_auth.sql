-- Push approval (api.md 5, 6, 7): auth requests, the per-device challenges, the
-- fatigue rules and the instance heartbeat that tells whether NOTIFY is needed.
--
-- Status 'expired' is stored by whoever notices first (a holder's timer, a late
-- answer, a read), but every read also derives it from expires_at, so a request
-- expires on time even when no instance is holding it.
--
-- This is the hottest part of the schema; the benchmark (docs/benchmarks.md)
-- shaped it: no foreign keys on auth_requests / auth_challenges (their rows are
-- only written by auth_create(), next to a user it has just read; a foreign key
-- to the one application row took a KEY SHARE lock per insert, MultiXacts under
-- concurrency), a challenge carries its request's expiry so that a poll reads
-- only live challenges, and the functions return plain columns from which the
-- server builds the JSON (server/authview.c).
CREATE TABLE auth_requests (
    id           text PRIMARY KEY,
    app_id       text NOT NULL,             -- applications.id
    user_id      bigint NOT NULL,           -- users.id
    username     text NOT NULL,
    type         text NOT NULL CHECK (type IN ('authentication', 'authorization')),
    message      text,
    context      json,
    transaction  json,
    verification text NOT NULL CHECK (verification IN ('none', 'code')),
    display_code text,
    async        boolean NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'accepted', 'denied', 'expired', 'cancelled')),
    reason       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    decided_at   timestamptz,
    device_id    text,
    evidence     text
);
CREATE INDEX auth_requests_user ON auth_requests (user_id, created_at DESC);

-- One row per device a request was pushed to; the nonce binds the device's
-- answer. expires_at is the request's, shortened to the decision time once it
-- is decided, so that (device_id, expires_at) finds a device's open challenges.
CREATE TABLE auth_challenges (
    request_id text NOT NULL,               -- auth_requests.id
    device_id  text NOT NULL,               -- devices.id
    nonce      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (device_id, request_id)
);
CREATE INDEX auth_challenges_request ON auth_challenges (request_id);
CREATE INDEX auth_challenges_live ON auth_challenges (device_id, expires_at);

-- Live pushgated instances: a peer exists when another row is fresh.
CREATE UNLOGGED TABLE instances (
    id        text PRIMARY KEY,
    last_seen timestamptz NOT NULL DEFAULT now()
);

-- What the server needs to build an auth request's API object (api.md 5);
-- callers expand it with (v).* (server/authview.c reads the columns in order).
CREATE TYPE auth_view_t AS (
    v_id text, v_status text, v_reason text, v_username text, v_created bigint,
    v_expires bigint, v_decided bigint, v_device text, v_evidence text, v_code text,
    v_async boolean);

-- The other functions of this flow are defined where their current version is
-- (one body each, sql/README.md): peers_alive, random_nonce and auth_effective_status
-- in 008; auth_create and the fatigue rule (auth_admit) in 013; auth_view,
-- device_challenges, auth_decide and user_devices_json in 030.

-- Reads a request for its waiters, storing 'expired' when its time ran out.
CREATE FUNCTION auth_read(p_id text, p_app text)
RETURNS TABLE (v auth_view_t, expires_in_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    req auth_requests;
BEGIN
    UPDATE auth_requests a SET status = 'expired', reason = 'timeout', decided_at = a.expires_at
     WHERE a.id = p_id AND a.status = 'pending' AND a.expires_at <= now();
    SELECT * INTO req FROM auth_requests a WHERE a.id = p_id AND (p_app IS NULL OR a.app_id = p_app);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT auth_view(req),
        GREATEST(0, (extract(epoch FROM req.expires_at - now()) * 1000)::bigint);
END $$;

-- DELETE /auth/{id} and an application that hung up. outcome: ok | not_found | already_decided
CREATE FUNCTION auth_cancel(p_id text, p_app text, p_self text)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    req auth_requests;
BEGIN
    SELECT * INTO req FROM auth_requests a
     WHERE a.id = p_id AND (p_app IS NULL OR a.app_id = p_app) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::auth_view_t;
        RETURN;
    END IF;
    IF auth_effective_status(req) <> 'pending' THEN
        RETURN QUERY SELECT 'already_decided'::text, auth_view(req);
        RETURN;
    END IF;
    UPDATE auth_requests SET status = 'cancelled', reason = 'cancelled', decided_at = now()
     WHERE id = p_id RETURNING * INTO req;
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'd:' || p_id);
    END IF;
    RETURN QUERY SELECT 'ok'::text, auth_view(req);
END $$;

-- Revokes a device (DELETE /device, DELETE /users/{u}/devices/{id}). A pending
-- request that no other active device could decide ends denied/device_revoked.
-- Returns one row per such request (for waking its waiters); outcome not_found
-- when the device does not exist for that application/user.
CREATE FUNCTION device_revoke(p_device text, p_app text, p_username text, p_self text)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    dev devices;
    req auth_requests;
BEGIN
    SELECT d.* INTO dev FROM devices d JOIN users u ON u.id = d.user_id
     WHERE d.id = p_device AND (p_app IS NULL OR d.app_id = p_app)
       AND (p_username IS NULL OR u.username = p_username) FOR UPDATE OF d;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::auth_view_t;
        RETURN;
    END IF;
    UPDATE devices SET status = 'revoked', revoked_at = COALESCE(revoked_at, now()) WHERE id = p_device;
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'c:' || p_device);
    END IF;
    FOR req IN
        UPDATE auth_requests a SET status = 'denied', reason = 'device_revoked', decided_at = now()
         WHERE a.id IN (SELECT c.request_id FROM auth_challenges c
                         WHERE c.device_id = p_device AND c.expires_at > now())
           AND a.status = 'pending' AND a.expires_at > now()
           AND NOT EXISTS (SELECT 1 FROM auth_challenges c JOIN devices d ON d.id = c.device_id
                            WHERE c.request_id = a.id AND d.status = 'active')
        RETURNING a.*
    LOOP
        IF peers_alive(p_self) THEN
            PERFORM pg_notify('pushgate', 'd:' || req.id);
        END IF;
        RETURN QUERY SELECT 'ok'::text, auth_view(req);
    END LOOP;
    RETURN QUERY SELECT 'ok'::text, NULL::auth_view_t;
END $$;

-- DELETE /device by the device itself: a revoked device is refused (401).
CREATE FUNCTION device_revoke_self(p_device text, p_self text)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = p_device AND d.status = 'active') THEN
        RETURN QUERY SELECT 'device_inactive'::text, NULL::auth_view_t;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM device_revoke(p_device, NULL, NULL, p_self);
END $$;

-- DELETE /users/{username}/devices/{deviceId}: user_not_found, not_found or
-- device_revoke()'s rows.
CREATE FUNCTION user_device_revoke(p_app text, p_username text, p_device text, p_self text)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE app_id = p_app AND username = p_username) THEN
        RETURN QUERY SELECT 'user_not_found'::text, NULL::auth_view_t;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM device_revoke(p_device, p_app, p_username, p_self);
END $$;

-- user_devices_json (GET /users/{username}/devices) is in 030.

-- GET /device
CREATE FUNCTION device_self_json(p_device text) RETURNS json
    LANGUAGE sql STABLE
    RETURN (SELECT json_build_object('deviceId', d.id, 'name', d.name, 'username', u.username,
                       'application', json_build_object('id', a.id, 'name', a.name),
                       'status', d.status, 'createdAt', rfc3339(d.created_at),
                       'lastSeenAt', rfc3339(d.last_seen_at))
              FROM devices d JOIN users u ON u.id = d.user_id JOIN applications a ON a.id = d.app_id
             WHERE d.id = p_device);
