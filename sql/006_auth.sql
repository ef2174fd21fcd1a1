-- Push approval (api.md 5, 6, 7): auth requests, the per-device challenges, the
-- fatigue state and the instance heartbeat that tells whether NOTIFY is needed.
--
-- Status 'expired' is stored by whoever notices first (a holder's timer, a late
-- answer, a read), but every read also derives it from expires_at, so a request
-- expires on time even when no instance is holding it.
CREATE TABLE auth_requests (
    id           text PRIMARY KEY,
    app_id       text NOT NULL REFERENCES applications (id),
    user_id      bigint NOT NULL REFERENCES users (id),
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
CREATE INDEX auth_requests_pending ON auth_requests (user_id) WHERE status = 'pending';

-- One row per device a request was pushed to; the nonce binds the device's answer.
CREATE TABLE auth_challenges (
    request_id text NOT NULL REFERENCES auth_requests (id),
    device_id  text NOT NULL REFERENCES devices (id),
    nonce      text NOT NULL,
    PRIMARY KEY (device_id, request_id)
);
CREATE INDEX auth_challenges_request ON auth_challenges (request_id);

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

-- The API object of an auth request (api.md 5); displayCode only in asynchronous mode.
CREATE FUNCTION auth_json(r auth_requests) RETURNS json
    LANGUAGE sql STABLE
    RETURN (
        SELECT CASE WHEN r.async THEN
            json_build_object('requestId', r.id, 'status', s.st, 'username', u.username,
                'createdAt', rfc3339(r.created_at), 'expiresAt', rfc3339(r.expires_at),
                'decidedAt', rfc3339(s.decided), 'deviceId', r.device_id, 'reason', s.reason,
                'evidence', r.evidence, 'displayCode', r.display_code)
        ELSE
            json_build_object('requestId', r.id, 'status', s.st, 'username', u.username,
                'createdAt', rfc3339(r.created_at), 'expiresAt', rfc3339(r.expires_at),
                'decidedAt', rfc3339(s.decided), 'deviceId', r.device_id, 'reason', s.reason,
                'evidence', r.evidence)
        END
          FROM users u,
               LATERAL (SELECT auth_effective_status(r) AS st,
                               CASE WHEN auth_effective_status(r) = 'expired' AND r.status = 'pending'
                                    THEN 'timeout' ELSE r.reason END AS reason,
                               CASE WHEN auth_effective_status(r) = 'expired' AND r.status = 'pending'
                                    THEN r.expires_at ELSE r.decided_at END AS decided) s
         WHERE u.id = r.user_id);

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

-- POST /auth in one statement. outcome: ok | user_not_found | no_active_device |
-- locked | rate_limited (with retry_after). On ok, devices lists who was challenged.
CREATE FUNCTION auth_create(p_app text, p_username text, p_id text, p_type text, p_message text,
                            p_context json, p_transaction json, p_verification text,
                            p_code text, p_async boolean, p_timeout integer, p_self text,
                            p_backoff_base integer, p_backoff_cap integer)
RETURNS TABLE (outcome text, retry_after integer, body json, devices text[])
LANGUAGE plpgsql AS $$
DECLARE
    u users;
    wait integer;
    req auth_requests;
    devs text[];
BEGIN
    SELECT * INTO u FROM users WHERE app_id = p_app AND username = p_username FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'user_not_found'::text, NULL::integer, NULL::json, NULL::text[];
        RETURN;
    END IF;
    SELECT array_agg(d.id ORDER BY d.created_at) INTO devs
      FROM devices d WHERE d.user_id = u.id AND d.status = 'active';
    IF devs IS NULL THEN
        RETURN QUERY SELECT 'no_active_device'::text, NULL::integer, NULL::json, NULL::text[];
        RETURN;
    END IF;
    IF u.push_locked_until > now() THEN
        RETURN QUERY SELECT 'locked'::text,
            ceil(extract(epoch FROM u.push_locked_until - now()))::integer, NULL::json, NULL::text[];
        RETURN;
    END IF;
    SELECT ceil(extract(epoch FROM max(a.expires_at) - now()))::integer INTO wait
      FROM auth_requests a WHERE a.user_id = u.id AND a.status = 'pending' AND a.expires_at > now();
    IF wait IS NULL THEN
        wait := push_backoff(u.id, p_backoff_base, p_backoff_cap);
    END IF;
    IF wait > 0 THEN
        RETURN QUERY SELECT 'rate_limited'::text, wait, NULL::json, NULL::text[];
        RETURN;
    END IF;
    INSERT INTO auth_requests (id, app_id, user_id, type, message, context, transaction,
                               verification, display_code, async, expires_at)
    VALUES (p_id, p_app, u.id, p_type, p_message, p_context, p_transaction, p_verification,
            p_code, p_async, now() + make_interval(secs => p_timeout))
    RETURNING * INTO req;
    INSERT INTO auth_challenges (request_id, device_id, nonce)
    SELECT p_id, d, random_nonce() FROM unnest(devs) AS d;
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'c:' || d) FROM unnest(devs) AS d;
    END IF;
    RETURN QUERY SELECT 'ok'::text, NULL::integer, auth_json(req), devs;
END $$;

-- Reads a request for its waiters, storing 'expired' when its time ran out.
CREATE FUNCTION auth_read(p_id text, p_app text)
RETURNS TABLE (status text, body json, expires_in_ms bigint)
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
    RETURN QUERY SELECT req.status, auth_json(req),
        GREATEST(0, (extract(epoch FROM req.expires_at - now()) * 1000)::bigint);
END $$;

-- DELETE /auth/{id} and an application that hung up. outcome: ok | not_found | already_decided
CREATE FUNCTION auth_cancel(p_id text, p_app text, p_self text)
RETURNS TABLE (outcome text, body json)
LANGUAGE plpgsql AS $$
DECLARE
    req auth_requests;
BEGIN
    SELECT * INTO req FROM auth_requests a
     WHERE a.id = p_id AND (p_app IS NULL OR a.app_id = p_app) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::json;
        RETURN;
    END IF;
    IF auth_effective_status(req) <> 'pending' THEN
        RETURN QUERY SELECT 'already_decided'::text, auth_json(req);
        RETURN;
    END IF;
    UPDATE auth_requests SET status = 'cancelled', reason = 'cancelled', decided_at = now()
     WHERE id = p_id RETURNING * INTO req;
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'd:' || p_id);
    END IF;
    RETURN QUERY SELECT 'ok'::text, auth_json(req);
END $$;

-- POST /device/challenges/{id}: the first valid answer wins. The decision is
-- committed with this statement, before any waiter hears of it.
-- outcome: ok | not_found | invalid_response | already_decided | expired
CREATE FUNCTION auth_decide(p_id text, p_device text, p_nonce text, p_decision text,
                            p_reason text, p_code text, p_evidence text, p_self text,
                            p_fraud_lock_s integer)
RETURNS TABLE (outcome text, status text, body json)
LANGUAGE plpgsql AS $$
DECLARE
    req auth_requests;
    ch auth_challenges;
    st text;
    why text;
BEGIN
    SELECT * INTO ch FROM auth_challenges c WHERE c.request_id = p_id AND c.device_id = p_device;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::text, NULL::json;
        RETURN;
    END IF;
    SELECT * INTO req FROM auth_requests a WHERE a.id = p_id FOR UPDATE;
    IF ch.nonce <> p_nonce THEN
        RETURN QUERY SELECT 'invalid_response'::text, req.status, NULL::json;
        RETURN;
    END IF;
    IF req.status = 'pending' AND req.expires_at <= now() THEN
        UPDATE auth_requests SET status = 'expired', reason = 'timeout', decided_at = expires_at
         WHERE id = p_id;
        RETURN QUERY SELECT 'expired'::text, 'expired'::text, NULL::json;
        RETURN;
    END IF;
    IF req.status = 'expired' THEN
        RETURN QUERY SELECT 'expired'::text, req.status, NULL::json;
        RETURN;
    END IF;
    IF req.status <> 'pending' THEN
        RETURN QUERY SELECT 'already_decided'::text, req.status, NULL::json;
        RETURN;
    END IF;
    IF p_decision = 'deny' THEN
        st := 'denied';
        why := CASE WHEN p_reason = 'not_me' THEN 'fraud_reported' ELSE 'user_denied' END;
    ELSIF req.verification = 'code' AND p_code IS DISTINCT FROM req.display_code THEN
        st := 'denied';
        why := 'code_mismatch';
    ELSE
        st := 'accepted';
    END IF;
    UPDATE auth_requests SET status = st, reason = why, decided_at = now(), device_id = p_device,
                             evidence = p_evidence
     WHERE id = p_id RETURNING * INTO req;
    IF why = 'fraud_reported' THEN
        UPDATE users SET push_locked_until = now() + make_interval(secs => p_fraud_lock_s)
         WHERE id = req.user_id;
    END IF;
    UPDATE devices SET last_seen_at = now() WHERE id = p_device;
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'd:' || p_id);
    END IF;
    RETURN QUERY SELECT 'ok'::text, st, auth_json(req);
END $$;

-- GET /device/challenges: the device's state and its pending challenges, with
-- everything the server signs into each challenge (api.md 6.2).
CREATE FUNCTION device_challenges(p_device text)
RETURNS TABLE (device_status text, request_id text, app_id text, app_name text, username text,
               type text, message text, context json, transaction json, verification text,
               nonce text, iat bigint, exp bigint)
LANGUAGE plpgsql AS $$
DECLARE
    dstatus text;
BEGIN
    UPDATE devices d SET last_seen_at = now() WHERE d.id = p_device RETURNING d.status INTO dstatus;
    IF dstatus IS NULL OR dstatus <> 'active' THEN
        RETURN QUERY SELECT COALESCE(dstatus, 'unknown'), NULL, NULL, NULL, NULL, NULL, NULL,
                            NULL::json, NULL::json, NULL, NULL, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT 'active'::text, a.id, ap.id, ap.name, u.username, a.type, a.message, a.context,
               a.transaction, a.verification, c.nonce,
               extract(epoch FROM a.created_at)::bigint, extract(epoch FROM a.expires_at)::bigint
          FROM auth_challenges c
          JOIN auth_requests a ON a.id = c.request_id
          JOIN users u ON u.id = a.user_id
          JOIN applications ap ON ap.id = a.app_id
         WHERE c.device_id = p_device AND a.status = 'pending' AND a.expires_at > now()
         ORDER BY a.created_at;
END $$;

-- Revokes a device (DELETE /device, DELETE /users/{u}/devices/{id}). A pending
-- request that no other active device could decide ends denied/device_revoked.
-- Returns one row per such request (for waking its waiters); outcome not_found
-- when the device does not exist for that application/user.
CREATE FUNCTION device_revoke(p_device text, p_app text, p_username text, p_self text)
RETURNS TABLE (outcome text, request_id text, body json)
LANGUAGE plpgsql AS $$
DECLARE
    dev devices;
    req auth_requests;
BEGIN
    SELECT d.* INTO dev FROM devices d JOIN users u ON u.id = d.user_id
     WHERE d.id = p_device AND (p_app IS NULL OR d.app_id = p_app)
       AND (p_username IS NULL OR u.username = p_username) FOR UPDATE OF d;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::text, NULL::json;
        RETURN;
    END IF;
    UPDATE devices SET status = 'revoked', revoked_at = COALESCE(revoked_at, now()) WHERE id = p_device;
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'c:' || p_device);
    END IF;
    FOR req IN
        UPDATE auth_requests a SET status = 'denied', reason = 'device_revoked', decided_at = now()
         WHERE a.status = 'pending' AND a.expires_at > now()
           AND EXISTS (SELECT 1 FROM auth_challenges c WHERE c.request_id = a.id AND c.device_id = p_device)
           AND NOT EXISTS (SELECT 1 FROM auth_challenges c JOIN devices d ON d.id = c.device_id
                            WHERE c.request_id = a.id AND d.status = 'active')
        RETURNING a.*
    LOOP
        IF peers_alive(p_self) THEN
            PERFORM pg_notify('pushgate', 'd:' || req.id);
        END IF;
        RETURN QUERY SELECT 'ok'::text, req.id, auth_json(req);
    END LOOP;
    RETURN QUERY SELECT 'ok'::text, NULL::text, NULL::json;
END $$;

-- GET /device, GET /users/{u}/devices
CREATE FUNCTION device_json(d devices) RETURNS json
    LANGUAGE sql STABLE
    RETURN json_build_object('deviceId', d.id, 'name', d.name, 'status', d.status,
                             'createdAt', rfc3339(d.created_at), 'lastSeenAt', rfc3339(d.last_seen_at));

-- DELETE /users/{username}/devices/{deviceId}: user_not_found, not_found or
-- device_revoke()'s rows.
CREATE FUNCTION user_device_revoke(p_app text, p_username text, p_device text, p_self text)
RETURNS TABLE (outcome text, request_id text, body json)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE app_id = p_app AND username = p_username) THEN
        RETURN QUERY SELECT 'user_not_found'::text, NULL::text, NULL::json;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM device_revoke(p_device, p_app, p_username, p_self);
END $$;

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
