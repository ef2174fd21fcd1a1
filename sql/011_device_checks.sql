-- The server now verifies a device's proof with its cached key and no read
-- (server/devauth.c); every device statement checks the device's status
-- itself, so a revoked device is refused at once all the same.
-- auth_challenges rows are only ever written by auth_create() next to their
-- request, for the user's active devices: their foreign keys were two more
-- lookups on the hottest insert and are dropped.
ALTER TABLE auth_challenges DROP CONSTRAINT auth_challenges_request_id_fkey;
ALTER TABLE auth_challenges DROP CONSTRAINT auth_challenges_device_id_fkey;

CREATE OR REPLACE FUNCTION auth_decide(p_id text, p_device text, p_nonce text, p_decision text,
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
    IF NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = p_device AND d.status = 'active') THEN
        RETURN QUERY SELECT 'device_inactive'::text, NULL::auth_view_t;
        RETURN;
    END IF;
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

-- auth_create() also hands back each challenged device's nonce, so that the
-- server can answer a device's held poll without reading it back.
DROP FUNCTION auth_create(text, text, text, text, text, json, json, text, text, boolean, integer,
                          text, integer, integer);
CREATE FUNCTION auth_create(p_app text, p_username text, p_id text, p_type text, p_message text,
                            p_context json, p_transaction json, p_verification text,
                            p_code text, p_async boolean, p_timeout integer, p_self text,
                            p_backoff_base integer, p_backoff_cap integer)
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    u users;
    wait integer;
    req auth_requests;
    devs text[];
    ns text[];
BEGIN
    SELECT * INTO u FROM users WHERE app_id = p_app AND username = p_username FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'user_not_found'::text, NULL::integer, NULL::text[], NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    SELECT array_agg(d.id ORDER BY d.created_at) INTO devs
      FROM devices d WHERE d.user_id = u.id AND d.status = 'active';
    IF devs IS NULL THEN
        RETURN QUERY SELECT 'no_active_device'::text, NULL::integer, NULL::text[], NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    IF u.push_locked_until > now() THEN
        RETURN QUERY SELECT 'locked'::text, ceil(extract(epoch FROM u.push_locked_until - now()))::integer,
                            NULL::text[], NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    SELECT ceil(extract(epoch FROM max(a.expires_at) - now()))::integer INTO wait
      FROM auth_requests a
     WHERE a.user_id = u.id AND a.created_at > now() - interval '301 seconds'
       AND a.status = 'pending' AND a.expires_at > now();
    IF wait IS NULL THEN
        wait := push_backoff(u.id, p_backoff_base, p_backoff_cap);
    END IF;
    IF wait > 0 THEN
        RETURN QUERY SELECT 'rate_limited'::text, wait, NULL::text[], NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    INSERT INTO auth_requests (id, app_id, user_id, username, type, message, context, transaction,
                               verification, display_code, async, expires_at)
    VALUES (p_id, p_app, u.id, u.username, p_type, p_message, p_context, p_transaction,
            p_verification, p_code, p_async, now() + make_interval(secs => p_timeout))
    RETURNING * INTO req;
    SELECT array_agg(random_nonce()) INTO ns FROM unnest(devs);
    INSERT INTO auth_challenges (request_id, device_id, nonce, expires_at)
    SELECT p_id, d.dev, d.nonce, req.expires_at FROM unnest(devs, ns) AS d(dev, nonce);
    IF peers_alive(p_self) THEN
        PERFORM pg_notify('pushgate', 'c:' || d) FROM unnest(devs) AS d;
    END IF;
    RETURN QUERY SELECT 'ok'::text, NULL::integer, devs, ns, auth_view(req);
END $$;
