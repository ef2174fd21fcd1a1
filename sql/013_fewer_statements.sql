-- Fewer statements inside the two functions of every flow (each one is an
-- SPI execution): results are returned with RETURN NEXT instead of RETURN
-- QUERY, auth_create() serialises on the (application, username) pair so that
-- it reads the user once, and auth_decide() reads the challenge and the
-- device's status in one join.
CREATE OR REPLACE FUNCTION auth_create(p_app text, p_username text, p_id text, p_type text,
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
