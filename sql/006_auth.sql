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

-- True when another instance is alive: only then is a NOTIFY worth its cost
-- (a notifying commit takes a database-wide lock, design.md).
CREATE FUNCTION peers_alive(p_self text) RETURNS boolean
    LANGUAGE sql STABLE
    RETURN EXISTS (SELECT 1 FROM instances i
                    WHERE i.id <> p_self AND i.last_seen > now() - interval '6 seconds');

-- 256 random bits, base64url (gen_random_uuid draws from the strong RNG; 2 x 122 bits).
CREATE FUNCTION random_nonce() RETURNS text
    LANGUAGE sql VOLATILE
    RETURN rtrim(translate(encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')),
                                  'base64'), '+/', '-_'), '=');

CREATE FUNCTION auth_effective_status(r auth_requests) RETURNS text
    LANGUAGE sql STABLE
    RETURN CASE WHEN r.status = 'pending' AND r.expires_at <= now() THEN 'expired' ELSE r.status END;

-- What the server needs to build an auth request's API object (api.md 5);
-- callers expand it with (v).* (server/authview.c reads the columns in order).
CREATE TYPE auth_view_t AS (
    v_id text, v_status text, v_reason text, v_username text, v_created bigint,
    v_expires bigint, v_decided bigint, v_device text, v_evidence text, v_code text,
    v_async boolean);

CREATE FUNCTION auth_view(r auth_requests) RETURNS auth_view_t
    LANGUAGE sql STABLE
    RETURN (SELECT ROW(r.id, s, CASE WHEN s = 'expired' AND r.status = 'pending' THEN 'timeout' ELSE r.reason END,
                       r.username, extract(epoch FROM r.created_at)::bigint,
                       extract(epoch FROM r.expires_at)::bigint,
                       extract(epoch FROM CASE WHEN s = 'expired' AND r.status = 'pending'
                                               THEN r.expires_at ELSE r.decided_at END)::bigint,
                       r.device_id, r.evidence, r.display_code, r.async)::auth_view_t
              FROM auth_effective_status(r) s);

-- Seconds until the user may be pushed again after consecutive denied/expired
-- requests (10 s x 2^(n-1), capped at 1 h); 0 when allowed. Cancelled requests
-- and those ended by a device revocation neither count nor reset; an accepted
-- one resets.
CREATE FUNCTION push_backoff(p_user bigint, p_base integer, p_cap integer) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n integer := 0;
    last_end timestamptz;
    rec record;
BEGIN
    FOR rec IN SELECT auth_effective_status(a) AS st, a.reason,
                      COALESCE(a.decided_at, a.expires_at) AS ended
                 FROM auth_requests a WHERE a.user_id = p_user
                ORDER BY a.created_at DESC LIMIT 32 LOOP
        -- the user did not turn these down: they neither count nor reset
        CONTINUE WHEN rec.st IN ('cancelled', 'pending') OR rec.reason = 'device_revoked';
        EXIT WHEN rec.st = 'accepted';
        n := n + 1;
        last_end := COALESCE(last_end, rec.ended);
    END LOOP;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    RETURN GREATEST(0, ceil(extract(epoch FROM
        last_end + make_interval(secs => LEAST(p_cap::float8, p_base * power(2, n - 1))) - now())))::integer;
END $$;

-- POST /auth in one statement, serialised per user by an advisory lock (in
-- memory, unlike a row lock). outcome: ok | user_not_found | no_active_device |
-- locked | rate_limited (with retry_after). On ok, devices and nonces list who was
-- challenged, so that the server can answer a held poll without a read.
CREATE FUNCTION auth_create(p_app text, p_username text, p_id text, p_type text,
                                       p_message text, p_context json, p_transaction json,
                                       p_verification text, p_code text, p_async boolean,
                                       p_timeout integer, p_self text, p_backoff_base integer,
                                       p_backoff_cap integer)
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    u users;
    req auth_requests;
BEGIN
    -- one auth_create() per user at a time (the one-pending rule), in memory
    PERFORM pg_advisory_xact_lock(73501, hashtext(p_app || '/' || p_username));
    SELECT * INTO u FROM users WHERE app_id = p_app AND username = p_username;
    IF NOT FOUND THEN
        outcome := 'user_not_found';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT array_agg(d.id ORDER BY d.created_at) INTO devices
      FROM devices d WHERE d.user_id = u.id AND d.status = 'active';
    IF devices IS NULL THEN
        outcome := 'no_active_device';
        RETURN NEXT;
        RETURN;
    END IF;
    IF u.push_locked_until > now() THEN
        outcome := 'locked';
        retry_after := ceil(extract(epoch FROM u.push_locked_until - now()));
        devices := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT ceil(extract(epoch FROM max(a.expires_at) - now()))::integer INTO retry_after
      FROM auth_requests a
     WHERE a.user_id = u.id AND a.created_at > now() - interval '301 seconds'
       AND a.status = 'pending' AND a.expires_at > now();
    IF retry_after IS NULL THEN
        retry_after := push_backoff(u.id, p_backoff_base, p_backoff_cap);
    END IF;
    IF retry_after > 0 THEN
        outcome := 'rate_limited';
        devices := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO auth_requests (id, app_id, user_id, username, type, message, context, transaction,
                               verification, display_code, async, expires_at)
    VALUES (p_id, p_app, u.id, u.username, p_type, p_message, p_context, p_transaction,
            p_verification, p_code, p_async, now() + make_interval(secs => p_timeout))
    RETURNING * INTO req;
    SELECT array_agg(random_nonce()) INTO nonces FROM unnest(devices);
    INSERT INTO auth_challenges (request_id, device_id, nonce, expires_at)
    SELECT p_id, d.dev, d.nonce, req.expires_at FROM unnest(devices, nonces) AS d(dev, nonce);
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'c:' || d) FROM unnest(devices) AS d;
    END IF;
    outcome := 'ok';
    retry_after := NULL;
    v := auth_view(req);
    RETURN NEXT;
END $$;

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

-- POST /device/challenges/{id}: the first valid answer wins. The decision is
-- committed with this statement, before any waiter hears of it. One conditional
-- UPDATE decides; the request's challenges are closed.
-- outcome: ok | device_inactive | not_found | invalid_response | already_decided | expired
CREATE FUNCTION auth_decide(p_id text, p_device text, p_nonce text, p_decision text,
                                       p_reason text, p_code text, p_evidence text, p_self text,
                                       p_fraud_lock_s integer)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    req auth_requests;
    nonce text;
    dstatus text;
BEGIN
    SELECT c.nonce, d.status INTO nonce, dstatus
      FROM auth_challenges c JOIN devices d ON d.id = c.device_id
     WHERE c.device_id = p_device AND c.request_id = p_id;
    IF NOT FOUND THEN
        SELECT d.status INTO dstatus FROM devices d WHERE d.id = p_device;
        outcome := CASE WHEN dstatus = 'active' THEN 'not_found' ELSE 'device_inactive' END;
        RETURN NEXT;
        RETURN;
    END IF;
    IF dstatus <> 'active' THEN
        outcome := 'device_inactive';
    ELSIF nonce <> p_nonce THEN
        outcome := 'invalid_response';
    END IF;
    IF outcome IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    -- the first valid answer wins: one conditional UPDATE decides
    UPDATE auth_requests a
       SET status = CASE WHEN p_decision = 'deny' THEN 'denied'
                         WHEN a.verification = 'code' AND p_code IS DISTINCT FROM a.display_code
                             THEN 'denied'
                         ELSE 'accepted' END,
           reason = CASE WHEN p_decision = 'deny' AND p_reason = 'not_me' THEN 'fraud_reported'
                         WHEN p_decision = 'deny' THEN 'user_denied'
                         WHEN a.verification = 'code' AND p_code IS DISTINCT FROM a.display_code
                             THEN 'code_mismatch' END,
           decided_at = now(), device_id = p_device, evidence = p_evidence
     WHERE a.id = p_id AND a.status = 'pending' AND a.expires_at > now()
    RETURNING * INTO req;
    IF NOT FOUND THEN
        UPDATE auth_requests a SET status = 'expired', reason = 'timeout', decided_at = a.expires_at
         WHERE a.id = p_id AND a.status = 'pending' AND a.expires_at <= now();
        SELECT * INTO req FROM auth_requests a WHERE a.id = p_id;
        outcome := CASE WHEN req.status = 'expired' THEN 'expired' ELSE 'already_decided' END;
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE auth_challenges SET expires_at = now() WHERE request_id = p_id;
    IF req.reason = 'fraud_reported' THEN
        UPDATE users SET push_locked_until = now() + make_interval(secs => p_fraud_lock_s)
         WHERE id = req.user_id;
    END IF;
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'd:' || p_id);
    END IF;
    outcome := 'ok';
    v := auth_view(req);
    RETURN NEXT;
END $$;

-- A device long-polls all day: last_seen_at is recorded at most every 30
-- seconds, so that a poll is a read, not a commit; lastSeenAt is accurate to 30 s.
CREATE FUNCTION device_touch(p_device text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    UPDATE devices SET last_seen_at = now()
     WHERE id = p_device AND (last_seen_at IS NULL OR last_seen_at < now() - interval '30 seconds');
    SELECT status INTO st FROM devices WHERE id = p_device;
    RETURN st;
END $$;

-- GET /device/challenges: the device's state and its pending challenges, with
-- everything the server signs into each challenge (api.md 6.2).
CREATE FUNCTION device_challenges(p_device text)
RETURNS TABLE (device_status text, request_id text, app_id text, app_name text, username text,
               type text, message text, context json, transaction json, verification text,
               nonce text, iat bigint, exp bigint)
LANGUAGE plpgsql AS $$
DECLARE
    dstatus text := device_touch(p_device);
BEGIN
    IF dstatus IS NULL OR dstatus <> 'active' THEN
        RETURN QUERY SELECT COALESCE(dstatus, 'unknown'), NULL, NULL, NULL, NULL, NULL, NULL,
                            NULL::json, NULL::json, NULL, NULL, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT 'active'::text, a.id, ap.id, ap.name, a.username, a.type, a.message, a.context,
               a.transaction, a.verification, c.nonce,
               extract(epoch FROM a.created_at)::bigint, extract(epoch FROM a.expires_at)::bigint
          FROM auth_challenges c
          JOIN auth_requests a ON a.id = c.request_id
          JOIN applications ap ON ap.id = a.app_id
         WHERE c.device_id = p_device AND c.expires_at > now() AND a.status = 'pending'
         ORDER BY a.created_at;
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

-- GET /device, GET /users/{u}/devices
CREATE FUNCTION device_json(d devices) RETURNS json
    LANGUAGE sql STABLE
    RETURN json_build_object('deviceId', d.id, 'name', d.name, 'status', d.status,
                             'createdAt', rfc3339(d.created_at), 'lastSeenAt', rfc3339(d.last_seen_at));

-- GET /users/{username}/devices: NULL when the user does not exist.
CREATE FUNCTION user_devices_json(p_app text, p_username text) RETURNS json
    LANGUAGE sql STABLE
    RETURN (SELECT json_build_object('devices',
                       COALESCE((SELECT json_agg(device_json(d) ORDER BY d.created_at, d.id)
                                   FROM devices d WHERE d.user_id = u.id), '[]'::json))
              FROM users u WHERE u.app_id = p_app AND u.username = p_username);

-- GET /device
CREATE FUNCTION device_self_json(p_device text) RETURNS json
    LANGUAGE sql STABLE
    RETURN (SELECT json_build_object('deviceId', d.id, 'name', d.name, 'username', u.username,
                       'application', json_build_object('id', a.id, 'name', a.name),
                       'status', d.status, 'createdAt', rfc3339(d.created_at),
                       'lastSeenAt', rfc3339(d.last_seen_at))
              FROM devices d JOIN users u ON u.id = d.user_id JOIN applications a ON a.id = d.app_id
             WHERE d.id = p_device);
