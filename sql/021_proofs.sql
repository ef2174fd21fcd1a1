-- Device proofs (api.md 6.1) and disabled applications: three holes closed.
--
-- 1. A jti counted for 120 s from its claim, but a proof is accepted while
--    |now - iat| <= 60 s (server/caller/devproof.c): one claimed at t with
--    iat = t + 60 was still acceptable until t + 121 and replayed at t + 120.5.
--    A claim now counts 121 s: iat <= t + 60, so a proof is acceptable until
--    iat + 61 <= t + 121, and its jti is kept that long (the second of clock
--    granularity included: the check compares whole seconds). That is "a jti
--    seen in the last 120 s" of api.md 6.1 and the rest of the iat window.
--
-- 2. device_jtis is UNLOGGED (012: the claim is a write per device request and
--    flushes no WAL). After a database crash or a failover to a standby the
--    table starts empty, and a proof claimed in the minute before replayed once.
--    The unlogged sequence device_jtis_lost (PostgreSQL 15) is reset by the same
--    crash recovery or promotion (a clean restart keeps both). The first claim
--    that finds it reset stores the time it noticed (Unix seconds), and for 121 s
--    from then every claim fails: no proof claimed before the loss is acceptable
--    after that. A sequence, not a one-row table, because setval() is never
--    rolled back: the claim fails with SQLSTATE 57J01 (class 57, operator
--    intervention), which the server answers 503 unavailable with Retry-After as
--    while the database is down, and the noted time must survive that error. A
--    device backs off and retries; a 401 would tell it that it was revoked
--    (docs/operations.md). The cost is one read of the sequence per claim; a
--    logged table would close the hole too, at a WAL flush per device request.
--
-- 3. A disabled application's devices went on polling and answering (only its
--    credentials stopped), and its links went on binding devices. A claim now
--    fails for a device of a disabled application, so every device request of
--    it gets 401 invalid_device_proof (all of them claim a jti: devproof_check,
--    auth_decide_claimed); a link of a disabled application is
--    registration_cancelled (410), for GET and POST alike.
--
-- device_jtis_claim was a SQL function of 012; device_jti_claim moves here with
-- it (012 creates neither now: a SQL body is checked when it is created, and
-- that one calls device_jtis_claim). registration_by_token and
-- registration_complete were 004's.

-- is_called false: reset by a crash (or never set); else the Unix time at which
-- device_jtis was last found emptied (0: never).
CREATE UNLOGGED SEQUENCE device_jtis_lost MINVALUE 0 START 0;
SELECT setval('device_jtis_lost', 0, true);

-- Claims a batch of jtis (two equal ones: the first wins); returns the 1-based
-- indices of the items whose claim is new: a jti not seen from that device in the
-- last 121 s and from a device of an active application; within 121 s of a loss
-- of device_jtis, SQLSTATE 57J01 instead. The server's batched claim statement
-- (devproof.c) and auth_decide_batch_claimed both use it.
CREATE OR REPLACE FUNCTION device_jtis_claim(a_device text[], a_jti text[]) RETURNS SETOF integer
LANGUAGE plpgsql AS $$
DECLARE
    lost bigint;
    called boolean;
BEGIN
    SELECT q.last_value, q.is_called INTO lost, called FROM device_jtis_lost q;
    IF NOT called THEN -- reset by crash recovery or a promotion: device_jtis too
        lost := ceil(extract(epoch FROM now()));
        PERFORM setval('device_jtis_lost', lost, true);
    END IF;
    IF lost > extract(epoch FROM now()) - 121 THEN -- class 57: the server answers 503
        RAISE EXCEPTION 'device proofs wait until % (device_jtis was emptied at %)',
                        to_timestamp(lost + 121), to_timestamp(lost) USING ERRCODE = '57J01';
    END IF;
    RETURN QUERY
    WITH x AS (SELECT DISTINCT ON (u.d, u.j) u.d, u.j, u.n
                 FROM unnest(a_device, a_jti) WITH ORDINALITY AS u(d, j, n)
                 JOIN devices dv ON dv.id = u.d
                 JOIN applications ap ON ap.id = dv.app_id AND ap.status = 'active'
                ORDER BY u.d, u.j, u.n),
         ins AS (INSERT INTO device_jtis AS s (device_id, jti)
                 SELECT x.d, x.j FROM x
                 ON CONFLICT (device_id, jti) DO UPDATE SET seen_at = now()
                 WHERE s.seen_at < now() - interval '121 seconds'
                 RETURNING s.device_id, s.jti)
    SELECT x.n::integer FROM x JOIN ins ON ins.device_id = x.d AND ins.jti = x.j ORDER BY x.n;
END $$;

-- Claims one device proof's jti: true when device_jtis_claim takes it.
CREATE OR REPLACE FUNCTION device_jti_claim(p_device text, p_jti text) RETURNS boolean
LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM device_jtis_claim(ARRAY[p_device], ARRAY[p_jti]))
$$;

-- A link's status: the registration's, but cancelled while its application is
-- disabled (the link neither shows the document nor binds a device).
CREATE FUNCTION registration_link_status(r registrations) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    st text := registration_status(r);
BEGIN
    IF st IN ('pending', 'retrieved')
       AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.id = r.app_id AND a.status = 'active') THEN
        RETURN 'cancelled';
    END IF;
    RETURN st;
END $$;

-- GET/HEAD/POST /r/{token}: finds a registration by the hash of its link token.
-- With p_retrieve a pending registration becomes retrieved (a JSON GET).
-- outcome: ok | not_found | registration_expired | registration_completed | registration_cancelled
-- (also for a pending or retrieved one of a disabled application).
CREATE OR REPLACE FUNCTION registration_by_token(p_hash text, p_retrieve boolean)
RETURNS TABLE (outcome text, registration_id text, app_id text, app_name text, username text,
               display_name text, email text, expires_at text, expires_in integer)
LANGUAGE plpgsql AS $$
DECLARE
    reg registrations;
    st text;
BEGIN
    SELECT * INTO reg FROM registrations r WHERE r.token_hash = p_hash;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL::integer;
        RETURN;
    END IF;
    st := registration_link_status(reg);
    IF st IN ('expired', 'completed', 'cancelled') THEN
        RETURN QUERY SELECT 'registration_' || st, reg.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL::integer;
        RETURN;
    END IF;
    IF p_retrieve AND reg.status = 'pending' THEN
        UPDATE registrations SET status = 'retrieved', retrieved_at = now()
         WHERE id = reg.id AND status = 'pending';
    END IF;
    RETURN QUERY
        SELECT 'ok'::text, reg.id, a.id, a.name, u.username, COALESCE(reg.display_name, u.display_name),
               reg.email, rfc3339(reg.expires_at),
               GREATEST(0, extract(epoch FROM reg.expires_at - now()))::integer
          FROM users u JOIN applications a ON a.id = u.app_id
         WHERE u.id = reg.user_id;
END $$;

-- POST /r/{token}: binds the device. Exactly one of any number of concurrent
-- completions wins (the row lock, then the status check). The application row is
-- locked too (FOR SHARE), so that a concurrent `app disable` either commits first
-- (registration_cancelled) or waits for the binding (and its devices then stop).
CREATE OR REPLACE FUNCTION registration_complete(p_hash text, p_reg_id text, p_device_id text,
                                                 p_name text, p_jwk text, p_notice bytea)
RETURNS TABLE (outcome text, body json)
LANGUAGE plpgsql AS $$
DECLARE
    reg registrations;
    st text;
BEGIN
    SELECT * INTO reg FROM registrations r WHERE r.token_hash = p_hash AND r.id = p_reg_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::json;
        RETURN;
    END IF;
    PERFORM 1 FROM applications a WHERE a.id = reg.app_id FOR SHARE;
    st := registration_link_status(reg);
    IF st NOT IN ('pending', 'retrieved') THEN
        RETURN QUERY SELECT 'registration_' || st, NULL::json;
        RETURN;
    END IF;
    UPDATE registrations SET status = 'completed', completed_at = now(), device_id = p_device_id
     WHERE id = reg.id;
    INSERT INTO devices (id, app_id, user_id, registration_id, name, public_jwk)
    VALUES (p_device_id, reg.app_id, reg.user_id, reg.id, p_name, p_jwk);
    IF p_notice IS NOT NULL THEN
        INSERT INTO outbox (registration_id, kind, recipient, sealed, expires_at)
        VALUES (reg.id, 'device_linked', reg.email, p_notice, now() + interval '1 day');
    END IF;
    RETURN QUERY
        SELECT 'ok'::text, json_build_object(
                   'registrationId', reg.id, 'status', 'completed', 'deviceId', p_device_id,
                   'username', u.username,
                   'application', json_build_object('id', a.id, 'name', a.name))
          FROM users u JOIN applications a ON a.id = u.app_id
         WHERE u.id = reg.user_id;
END $$;
