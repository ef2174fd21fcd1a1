-- The benchmark (docs/benchmarks.md) found PostgreSQL's CPU to be the limit:
--  * device_challenges() reached the device's challenges through the partial index
--    auth_requests_pending, which keeps an entry for every request until VACUUM
--    (status changes are never HOT) -- 1.5 ms per poll and growing;
--  * the API object was built in SQL (json_build_object + to_char) twice per flow.
-- Now a challenge carries its request's expiry, so a poll reads only the device's
-- live challenges through (device_id, expires_at); the pending-request check is
-- bounded by the 300 s maximum life of a request; and the functions return plain
-- columns from which the server builds the JSON (server/authview.c).

ALTER TABLE auth_challenges ADD COLUMN expires_at timestamptz;
UPDATE auth_challenges c SET expires_at = a.expires_at FROM auth_requests a WHERE a.id = c.request_id;
ALTER TABLE auth_challenges ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX auth_challenges_live ON auth_challenges (device_id, expires_at);

ALTER TABLE auth_requests ADD COLUMN username text;
UPDATE auth_requests a SET username = u.username FROM users u WHERE u.id = a.user_id;
ALTER TABLE auth_requests ALTER COLUMN username SET NOT NULL;
DROP INDEX auth_requests_pending;

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

DROP FUNCTION auth_create(text, text, text, text, text, json, json, text, text, boolean, integer,
                          text, integer, integer);
CREATE FUNCTION auth_create(p_app text, p_username text, p_id text, p_type text, p_message text,
                            p_context json, p_transaction json, p_verification text,
                            p_code text, p_async boolean, p_timeout integer, p_self text,
                            p_backoff_base integer, p_backoff_cap integer)
RETURNS TABLE (outcome text, retry_after integer, devices text[], v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    u users;
    wait integer;
    req auth_requests;
    devs text[];
BEGIN
    SELECT * INTO u FROM users WHERE app_id = p_app AND username = p_username FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'user_not_found'::text, NULL::integer, NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    SELECT array_agg(d.id ORDER BY d.created_at) INTO devs
      FROM devices d WHERE d.user_id = u.id AND d.status = 'active';
    IF devs IS NULL THEN
        RETURN QUERY SELECT 'no_active_device'::text, NULL::integer, NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    IF u.push_locked_until > now() THEN
        RETURN QUERY SELECT 'locked'::text, ceil(extract(epoch FROM u.push_locked_until - now()))::integer,
                            NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    -- a request lives at most 300 s: the (user_id, created_at) index bounds the search
    SELECT ceil(extract(epoch FROM max(a.expires_at) - now()))::integer INTO wait
      FROM auth_requests a
     WHERE a.user_id = u.id AND a.created_at > now() - interval '301 seconds'
       AND a.status = 'pending' AND a.expires_at > now();
    IF wait IS NULL THEN
        wait := push_backoff(u.id, p_backoff_base, p_backoff_cap);
    END IF;
    IF wait > 0 THEN
        RETURN QUERY SELECT 'rate_limited'::text, wait, NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    INSERT INTO auth_requests (id, app_id, user_id, username, type, message, context, transaction,
                               verification, display_code, async, expires_at)
    VALUES (p_id, p_app, u.id, u.username, p_type, p_message, p_context, p_transaction,
            p_verification, p_code, p_async, now() + make_interval(secs => p_timeout))
    RETURNING * INTO req;
    INSERT INTO auth_challenges (request_id, device_id, nonce, expires_at)
    SELECT p_id, d, random_nonce(), req.expires_at FROM unnest(devs) AS d;
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'c:' || d) FROM unnest(devs) AS d;
    END IF;
    RETURN QUERY SELECT 'ok'::text, NULL::integer, devs, auth_view(req);
END $$;

DROP FUNCTION auth_read(text, text);
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

DROP FUNCTION auth_cancel(text, text, text);
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

DROP FUNCTION auth_decide(text, text, text, text, text, text, text, text, integer);
CREATE FUNCTION auth_decide(p_id text, p_device text, p_nonce text, p_decision text,
                            p_reason text, p_code text, p_evidence text, p_self text,
                            p_fraud_lock_s integer)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    req auth_requests;
    ch auth_challenges;
    st text;
    why text;
BEGIN
    SELECT * INTO ch FROM auth_challenges c WHERE c.device_id = p_device AND c.request_id = p_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::auth_view_t;
        RETURN;
    END IF;
    SELECT * INTO req FROM auth_requests a WHERE a.id = p_id FOR UPDATE;
    IF ch.nonce <> p_nonce THEN
        RETURN QUERY SELECT 'invalid_response'::text, NULL::auth_view_t;
        RETURN;
    END IF;
    IF req.status = 'pending' AND req.expires_at <= now() THEN
        UPDATE auth_requests SET status = 'expired', reason = 'timeout', decided_at = expires_at
         WHERE id = p_id;
        RETURN QUERY SELECT 'expired'::text, NULL::auth_view_t;
        RETURN;
    END IF;
    IF req.status <> 'pending' THEN
        RETURN QUERY SELECT CASE WHEN req.status = 'expired' THEN 'expired' ELSE 'already_decided' END,
                            NULL::auth_view_t;
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
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'd:' || p_id);
    END IF;
    RETURN QUERY SELECT 'ok'::text, auth_view(req);
END $$;

DROP FUNCTION user_device_revoke(text, text, text, text);
DROP FUNCTION device_revoke(text, text, text, text);
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

-- A poll reads only the device's live challenges.
CREATE OR REPLACE FUNCTION device_challenges(p_device text)
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
