-- The benchmark's next costs (docs/benchmarks.md):
--  * every INSERT into auth_requests took a KEY SHARE lock on the one hot
--    applications row through its foreign key: concurrent flows of one
--    application turn that into MultiXacts. auth_create() reads the user under
--    a lock before inserting, and neither users nor applications are ever
--    deleted, so the two foreign keys of auth_requests are dropped;
--  * the per-user serialisation of auth_create() used SELECT ... FOR UPDATE, a
--    row lock written to the heap and WAL; a transaction-scoped advisory lock
--    on the user serialises the same way in memory only;
--  * auth_decide() locked the request and then updated it; one conditional
--    UPDATE now decides, and closes the request's challenges so that polls
--    stop reading decided ones;
--  * the audit trigger of auth_requests inserts directly.
ALTER TABLE auth_requests DROP CONSTRAINT auth_requests_app_id_fkey;
ALTER TABLE auth_requests DROP CONSTRAINT auth_requests_user_id_fkey;

CREATE OR REPLACE FUNCTION auth_create(p_app text, p_username text, p_id text, p_type text,
                                       p_message text, p_context json, p_transaction json,
                                       p_verification text, p_code text, p_async boolean,
                                       p_timeout integer, p_self text, p_backoff_base integer,
                                       p_backoff_cap integer)
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    u users;
    wait integer;
    req auth_requests;
    devs text[];
    ns text[];
BEGIN
    SELECT * INTO u FROM users WHERE app_id = p_app AND username = p_username;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'user_not_found'::text, NULL::integer, NULL::text[], NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    -- one auth_create() per user at a time (the one-pending rule), in memory
    PERFORM pg_advisory_xact_lock(73501, hashint8(u.id));
    SELECT array_agg(d.id ORDER BY d.created_at) INTO devs
      FROM devices d WHERE d.user_id = u.id AND d.status = 'active';
    IF devs IS NULL THEN
        RETURN QUERY SELECT 'no_active_device'::text, NULL::integer, NULL::text[], NULL::text[], NULL::auth_view_t;
        RETURN;
    END IF;
    -- re-read after the lock: a fraud lock may have been set meanwhile
    SELECT * INTO u FROM users WHERE id = u.id;
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

CREATE OR REPLACE FUNCTION auth_decide(p_id text, p_device text, p_nonce text, p_decision text,
                                       p_reason text, p_code text, p_evidence text, p_self text,
                                       p_fraud_lock_s integer)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    req auth_requests;
    ch auth_challenges;
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
    IF ch.nonce <> p_nonce THEN
        RETURN QUERY SELECT 'invalid_response'::text, NULL::auth_view_t;
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
        RETURN QUERY SELECT CASE WHEN req.status = 'expired' THEN 'expired' ELSE 'already_decided' END,
                            NULL::auth_view_t;
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
    RETURN QUERY SELECT 'ok'::text, auth_view(req);
END $$;

CREATE OR REPLACE FUNCTION audit_auth_requests() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (app_id, event, subject, data)
        VALUES (NEW.app_id, 'auth.created', NEW.id,
                jsonb_build_object('userId', NEW.user_id, 'type', NEW.type,
                                   'verification', NEW.verification,
                                   'expiresAt', rfc3339(NEW.expires_at)));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO audit_log (app_id, event, subject, data)
        VALUES (NEW.app_id, 'auth.' || NEW.status, NEW.id,
                jsonb_build_object('reason', NEW.reason, 'deviceId', NEW.device_id,
                                   'evidenceSha256', encode(sha256(convert_to(NEW.evidence, 'UTF8')), 'hex')));
    END IF;
    RETURN NULL;
END $$;
