-- Push approval, leaner (issue 6, docs/benchmarks.md): the one-pending rule and
-- the fatigue backoff read one row instead of the user's recent history.
--
-- Requests of one user are created one at a time (auth_create's advisory lock),
-- so only the user's latest request can be pending, and the run of consecutive
-- denied/expired requests before it is a function of the latest request alone.
-- Each request therefore records the run that preceded it (strikes, and when
-- the last of those ended); auth_create reads the latest request (one index
-- probe) and carries the run on. The 006 version scanned every request of the
-- last 301 s and then up to 32 more: O(recent requests per user), which grew
-- with the load.
--
-- Requests created before this migration carry strikes = 0: a user who was in
-- a backoff at upgrade time restarts the count from the latest request.
--
-- Helpers called once per statement from PL/pgSQL are PL/pgSQL themselves. A
-- SQL-standard body (RETURN ...) is stored as a node tree in pg_proc, and a
-- call that the planner does not inline reads it back - decompressing and
-- parsing it - on every call: perf showed stringToNode and pglz_decompress
-- under fmgr_sql as the backends' largest items. PL/pgSQL compiles a function
-- once per session. (The SQL-standard bodies also pinned auth_requests' row
-- type, which the ALTER needs free.)
DROP FUNCTION auth_view(auth_requests);
DROP FUNCTION auth_effective_status(auth_requests);
ALTER TABLE auth_requests
    ADD COLUMN strikes     integer NOT NULL DEFAULT 0, -- consecutive denied/expired before this one
    ADD COLUMN strikes_end timestamptz;                -- when the last of them ended

CREATE FUNCTION auth_effective_status(r auth_requests) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN CASE WHEN r.status = 'pending' AND r.expires_at <= now() THEN 'expired' ELSE r.status END;
END $$;

-- What the server needs to build an auth request's API object (api.md 5).
CREATE FUNCTION auth_view(r auth_requests) RETURNS auth_view_t
LANGUAGE plpgsql STABLE AS $$
DECLARE
    timed_out boolean := r.status = 'pending' AND r.expires_at <= now();
BEGIN
    RETURN ROW(r.id, CASE WHEN timed_out THEN 'expired' ELSE r.status END,
               CASE WHEN timed_out THEN 'timeout' ELSE r.reason END,
               r.username, extract(epoch FROM r.created_at)::bigint,
               extract(epoch FROM r.expires_at)::bigint,
               extract(epoch FROM CASE WHEN timed_out THEN r.expires_at ELSE r.decided_at END)::bigint,
               r.device_id, r.evidence, r.display_code, r.async)::auth_view_t;
END $$;

CREATE OR REPLACE FUNCTION peers_alive(p_self text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM instances i
                    WHERE i.id <> p_self AND i.last_seen > now() - interval '6 seconds');
END $$;

-- 256 random bits, base64url. Two v4 UUIDs from the strong RNG carry 244 of
-- them; the 006 version hashed their text form, which cost more than the rest
-- of the challenge insert.
CREATE OR REPLACE FUNCTION random_nonce() RETURNS text
    LANGUAGE sql VOLATILE
    RETURN rtrim(translate(encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()),
                                  'base64'), '+/', '-_'), '=');

-- POST /auth in one statement, serialised per user by an advisory lock (in
-- memory, unlike a row lock). outcome: ok | user_not_found | no_active_device |
-- locked | rate_limited (with retry_after). On ok, devices and nonces list who was
-- challenged, so that the server can answer a held poll without a read.
--
-- Every statement inside costs an executor start-up, which perf shows to be
-- most of the backend's time, so the steps are folded: lock + user + devices
-- is one statement, nonces + challenges another. The backoff run: cancelled
-- requests and those ended by a device revocation neither count nor reset; an
-- accepted one resets (as in 006).
CREATE OR REPLACE FUNCTION auth_create(p_app text, p_username text, p_id text, p_type text,
                                       p_message text, p_context json, p_transaction json,
                                       p_verification text, p_code text, p_async boolean,
                                       p_timeout integer, p_self text, p_backoff_base integer,
                                       p_backoff_cap integer)
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
    uname text;
    locked_until timestamptz;
    last auth_requests;
    last_st text;
    n integer := 0;
    last_end timestamptz;
    req auth_requests;
BEGIN
    SELECT u.id, u.username, u.push_locked_until,
           (SELECT array_agg(d.id ORDER BY d.created_at) FROM devices d
             WHERE d.user_id = u.id AND d.status = 'active')
      INTO uid, uname, locked_until, devices
      FROM pg_advisory_xact_lock(73501, hashtext(p_app || '/' || p_username)) l, users u
     WHERE u.app_id = p_app AND u.username = p_username;
    IF uid IS NULL THEN
        outcome := 'user_not_found';
    ELSIF devices IS NULL THEN
        outcome := 'no_active_device';
    ELSIF locked_until > now() THEN
        outcome := 'locked';
        retry_after := ceil(extract(epoch FROM locked_until - now()));
    END IF;
    IF outcome IS NOT NULL THEN
        devices := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    -- the latest request (read under the lock): only it can be pending, and it
    -- carries the backoff run
    SELECT * INTO last FROM auth_requests a WHERE a.user_id = uid ORDER BY a.created_at DESC LIMIT 1;
    last_st := CASE WHEN last.status = 'pending' AND last.expires_at <= now() THEN 'expired'
                    ELSE last.status END;
    IF last_st = 'pending' THEN
        retry_after := GREATEST(1, ceil(extract(epoch FROM last.expires_at - now())));
    ELSIF last_st = 'cancelled' OR last.reason = 'device_revoked' THEN
        n := last.strikes;
        last_end := last.strikes_end;
    ELSIF last_st IN ('denied', 'expired') THEN -- 32 strikes are far past any cap
        n := LEAST(last.strikes + 1, 32);
        last_end := COALESCE(last.decided_at, last.expires_at);
    END IF;
    IF n > 0 THEN
        retry_after := GREATEST(0, ceil(extract(epoch FROM last_end + make_interval(secs =>
                           LEAST(p_backoff_cap::float8, p_backoff_base * power(2, n - 1))) - now())));
    END IF;
    IF retry_after > 0 THEN
        outcome := 'rate_limited';
        devices := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    -- clock_timestamp(), not now(): taken under the lock, so a user's requests are
    -- ordered by creation even when their transactions began the other way round
    INSERT INTO auth_requests (id, app_id, user_id, username, type, message, context, transaction,
                               verification, display_code, async, created_at, expires_at,
                               strikes, strikes_end)
    VALUES (p_id, p_app, uid, uname, p_type, p_message, p_context, p_transaction,
            p_verification, p_code, p_async, clock_timestamp(),
            clock_timestamp() + make_interval(secs => p_timeout), n, last_end)
    RETURNING * INTO req;
    WITH c AS (INSERT INTO auth_challenges (request_id, device_id, nonce, expires_at)
               SELECT p_id, d, random_nonce(), req.expires_at FROM unnest(devices) d
               RETURNING device_id, nonce)
    SELECT array_agg(c.device_id), array_agg(c.nonce) INTO devices, nonces FROM c;
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'c:' || d) FROM unnest(devices) AS d;
    END IF;
    outcome := 'ok';
    retry_after := NULL;
    v := auth_view(req);
    RETURN NEXT;
END $$;

DROP FUNCTION push_backoff(bigint, integer, integer);

-- POST /device/challenges/{id}: the first valid answer wins. The decision is
-- committed with this statement, before any waiter hears of it.
-- outcome: ok | device_inactive | not_found | invalid_response | already_decided | expired
-- The usual case is one statement: a pending request, decided through a live
-- challenge of an active device with the right nonce, closing the request's
-- challenges. Only when that finds nothing are the reasons looked up.
CREATE OR REPLACE FUNCTION auth_decide(p_id text, p_device text, p_nonce text, p_decision text,
                                       p_reason text, p_code text, p_evidence text, p_self text,
                                       p_fraud_lock_s integer)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    req auth_requests;
    nonce text;
    dstatus text;
BEGIN
    WITH up AS (
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
          FROM auth_challenges c JOIN devices d ON d.id = c.device_id
         WHERE a.id = p_id AND a.status = 'pending' AND a.expires_at > now()
           AND c.device_id = p_device AND c.request_id = p_id AND c.nonce = p_nonce
           AND d.status = 'active'
        RETURNING a.*),
    closed AS (UPDATE auth_challenges c SET expires_at = now() FROM up WHERE c.request_id = up.id)
    SELECT * INTO req FROM up;
    IF NOT FOUND THEN
        SELECT c.nonce, d.status INTO nonce, dstatus
          FROM auth_challenges c JOIN devices d ON d.id = c.device_id
         WHERE c.device_id = p_device AND c.request_id = p_id;
        IF NOT FOUND THEN
            SELECT d.status INTO dstatus FROM devices d WHERE d.id = p_device;
            outcome := CASE WHEN dstatus = 'active' THEN 'not_found' ELSE 'device_inactive' END;
        ELSIF dstatus <> 'active' THEN
            outcome := 'device_inactive';
        ELSIF nonce <> p_nonce THEN
            outcome := 'invalid_response';
        ELSE
            UPDATE auth_requests a SET status = 'expired', reason = 'timeout', decided_at = a.expires_at
             WHERE a.id = p_id AND a.status = 'pending' AND a.expires_at <= now();
            SELECT * INTO req FROM auth_requests a WHERE a.id = p_id;
            outcome := CASE WHEN req.status = 'expired' THEN 'expired' ELSE 'already_decided' END;
        END IF;
        RETURN NEXT;
        RETURN;
    END IF;
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

-- GET /device/challenges: the device's state and its pending challenges, with
-- everything the server signs into each challenge (api.md 6.2). One statement
-- reads the device and its live challenges; last_seen_at is written only when
-- it is more than 30 s old (lastSeenAt is accurate to 30 s), so a poll is
-- a read, not a commit.
CREATE OR REPLACE FUNCTION device_challenges(p_device text)
RETURNS TABLE (device_status text, request_id text, app_id text, app_name text, username text,
               type text, message text, context json, transaction json, verification text,
               nonce text, iat bigint, exp bigint)
LANGUAGE plpgsql AS $$
DECLARE
    seen timestamptz;
    r record;
    found_device boolean := false;
BEGIN
    FOR r IN
        SELECT d.status AS dstatus, d.last_seen_at, a.id, ap.id AS ap_id, ap.name, a.username,
               a.type, a.message, a.context, a.transaction, a.verification, c.nonce,
               extract(epoch FROM a.created_at)::bigint AS iat,
               extract(epoch FROM a.expires_at)::bigint AS exp
          FROM devices d
          LEFT JOIN (auth_challenges c
                     JOIN auth_requests a ON a.id = c.request_id AND a.status = 'pending'
                     JOIN applications ap ON ap.id = a.app_id)
            ON c.device_id = d.id AND c.expires_at > now() AND d.status = 'active'
         WHERE d.id = p_device
         ORDER BY a.created_at
    LOOP
        IF NOT found_device THEN
            found_device := true;
            seen := r.last_seen_at;
            device_status := r.dstatus;
        END IF;
        CONTINUE WHEN r.id IS NULL;
        request_id := r.id; app_id := r.ap_id; app_name := r.name; username := r.username;
        type := r.type; message := r.message; context := r.context; transaction := r.transaction;
        verification := r.verification; nonce := r.nonce; iat := r.iat; exp := r.exp;
        RETURN NEXT;
    END LOOP;
    IF NOT found_device THEN
        device_status := 'unknown';
        RETURN NEXT;
        RETURN;
    END IF;
    IF device_status = 'active' AND (seen IS NULL OR seen < now() - interval '30 seconds') THEN
        UPDATE devices SET last_seen_at = now() WHERE id = p_device;
    END IF;
    IF device_status <> 'active' THEN -- its state alone; an active one with nothing: no rows
        RETURN NEXT;
    END IF;
END $$;

DROP FUNCTION device_touch(text);
