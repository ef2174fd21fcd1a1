-- Transaction-bound answers and self-contained evidence (api.md 5, 6.3, 7, 7.1).
--
-- A device's answer now carries chal, the base64url SHA-256 of the exact
-- challenge JWS it was sent, and the decided auth object carries that JWS as
-- `challenge`. ECDSA signatures are randomized, so two signings of one
-- challenge differ: the server must know the one JWS the device got, on any
-- instance. Hence one JWS per challenge row, stored BEFORE it is handed out:
--
-- - the instance that hands a challenge out first signs it and stores it with
--   challenge_store_batch (jws = COALESCE(jws, new): the first signer wins, a
--   racing signer hands out the winner's JWS); every later handout (a repeated
--   poll, another instance) reuses the stored JWS, so a poll costs no signing;
-- - the deciding UPDATE (auth_decide_first) compares the answer's chal with the
--   stored JWS's SHA-256 and copies that JWS to the request (auth_requests
--   .challenge), which auth_view returns. The chal compared is read from the
--   stored evidence itself (the response JWS, verified by the server before the
--   statement): the evidence and the check can never disagree, and the decide
--   functions keep their signatures (older instances' prepared statements stay
--   valid during a rolling deploy).
--
-- An answer to a challenge with no stored JWS (handed out by an instance older
-- than this migration) cannot be checked and decides nothing.
ALTER TABLE auth_challenges ADD COLUMN jws text; -- the JWS handed out; NULL until the first handout
ALTER TABLE auth_requests ADD COLUMN challenge text; -- the deciding device's challenge JWS
ALTER TYPE auth_view_t ADD ATTRIBUTE v_challenge text;

-- base64url (no padding) of the SHA-256 of a JWS's exact ASCII bytes: api.md 6.3's chal.
CREATE FUNCTION jws_chal(p_jws text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN rtrim(translate(encode(sha256(convert_to(p_jws, 'UTF8')), 'base64'), '+/', '-_'), '=');
END $$;

-- The chal claim of a response JWS (its payload segment, base64url JSON). The
-- server has verified the JWS and chal's form (43 base64url characters) first,
-- and refused a payload with a duplicate member (protocol/jws.c), so this reads
-- the same chal as the server and `pushgated evidence verify` did.
CREATE FUNCTION response_chal(p_response text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    seg text := translate(split_part(p_response, '.', 2), '-_', '+/');
BEGIN
    RETURN convert_from(decode(seg || repeat('=', (4 - length(seg) % 4) % 4), 'base64'),
                        'UTF8')::json ->> 'chal';
END $$;

-- Stores the JWS of each (device, request) challenge unless one is stored
-- already, and returns the stored one: what the device must be sent. A
-- challenge that is gone (withdrawn, expired, decided) returns no row. The
-- batch contract of 009 (text[] per parameter, the item's index last); one
-- poll's challenges go as one call too.
CREATE FUNCTION challenge_store_batch(a_device text[], a_request text[], a_jws text[])
RETURNS TABLE (jws text, i integer)
LANGUAGE sql AS $$
    UPDATE auth_challenges c SET jws = COALESCE(c.jws, x.jws)
      FROM unnest(a_device, a_request, a_jws) WITH ORDINALITY AS x(device, request, jws, k)
     WHERE c.device_id = x.device AND c.request_id = x.request AND c.expires_at > now()
    RETURNING c.jws, x.k::integer
$$;

-- What the server needs to build an auth request's API object (api.md 5).
CREATE OR REPLACE FUNCTION auth_view(r auth_requests) RETURNS auth_view_t
LANGUAGE plpgsql STABLE AS $$
DECLARE
    timed_out boolean := r.status = 'pending' AND r.expires_at <= now();
BEGIN
    RETURN ROW(r.id, CASE WHEN timed_out THEN 'expired' ELSE r.status END,
               CASE WHEN timed_out THEN 'timeout' ELSE r.reason END,
               r.username, extract(epoch FROM r.created_at)::bigint,
               extract(epoch FROM r.expires_at)::bigint,
               extract(epoch FROM CASE WHEN timed_out THEN r.expires_at ELSE r.decided_at END)::bigint,
               r.device_id, r.evidence, r.display_code, r.async, r.challenge)::auth_view_t;
END $$;

-- device_challenges (GET /device/challenges): 030 added the jws column (a column at
-- the end: DROP, as older instances read the columns before it by position); its
-- body is in 043.
DROP FUNCTION IF EXISTS device_challenges(text);

-- The decision rule (POST /device/challenges/{id}): the first valid answer
-- wins. Decides, in one UPDATE, each listed request by its first answer (lowest
-- index) when that answer is valid: the request is pending and not expired, the
-- device is active and holds a challenge of the request with that nonce, whose
-- stored JWS hashes to the answer's chal (read from the evidence, a_evidence).
-- A deny is denied (fraud_reported for not_me, else user_denied); an approval
-- with the wrong code of a code-verified request is denied (code_mismatch); any
-- other approval is accepted. The request keeps the answered challenge's JWS.
-- The request's challenges are closed, a fraud report locks the user's pushes
-- for the item's fraud-lock seconds, and peers hear of it. Returns the decided
-- items (index, request); the others decided nothing, and auth_decide finds out
-- why.
-- Locks: the UPDATE takes its row locks in its plan's order rather than strictly
-- by request id. Two batches can only meet on one request when two devices of
-- one user answer it at once; if two such batches ever wait for each other,
-- PostgreSQL aborts one, and the server runs that batch's items alone (db.c).
CREATE OR REPLACE FUNCTION auth_decide_first(a_id text[], a_device text[], a_nonce text[],
                                             a_decision text[], a_reason text[], a_code text[],
                                             a_evidence text[], a_self text[],
                                             a_fraud_lock_s text[])
RETURNS TABLE (item integer, decided auth_requests)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    notify boolean;
BEGIN
    FOR r IN
        -- unnest, not generate_subscripts: the planner expects 10 rows of it
        -- (1,000 of generate_subscripts, which made the generic plan hash-join a
        -- sequential scan of devices)
        WITH x AS (
            SELECT DISTINCT ON (s.id) s.k, s.id, a_device[s.k] AS device,
                   a_nonce[s.k] AS nonce, a_decision[s.k] AS decision,
                   a_reason[s.k] AS reason, a_code[s.k] AS code, a_evidence[s.k] AS evidence,
                   a_fraud_lock_s[s.k]::integer AS lock_s
              FROM unnest(a_id) WITH ORDINALITY AS s(id, k)
             ORDER BY s.id, s.k),
        up AS (
            UPDATE auth_requests a
               SET status = CASE WHEN x.decision = 'deny' THEN 'denied'
                                 WHEN a.verification = 'code'
                                      AND x.code IS DISTINCT FROM a.display_code THEN 'denied'
                                 ELSE 'accepted' END,
                   reason = CASE WHEN x.decision = 'deny' AND x.reason = 'not_me'
                                     THEN 'fraud_reported'
                                 WHEN x.decision = 'deny' THEN 'user_denied'
                                 WHEN a.verification = 'code'
                                      AND x.code IS DISTINCT FROM a.display_code
                                     THEN 'code_mismatch' END,
                   decided_at = now(), device_id = x.device, evidence = x.evidence,
                   challenge = c.jws
              FROM x JOIN auth_challenges c ON c.device_id = x.device AND c.request_id = x.id
                                          AND c.nonce = x.nonce
                                          AND jws_chal(c.jws) = response_chal(x.evidence)
                     JOIN devices d ON d.id = c.device_id AND d.status = 'active'
             WHERE a.id = x.id AND a.status = 'pending' AND a.expires_at > now()
            RETURNING a AS req, x.k, x.lock_s),
        closed AS (UPDATE auth_challenges c SET expires_at = now()
                     FROM up WHERE c.request_id = (up.req).id)
        SELECT * FROM up
    LOOP
        IF (r.req).reason = 'fraud_reported' THEN
            UPDATE users SET push_locked_until = now() + make_interval(secs => r.lock_s)
             WHERE id = (r.req).user_id;
        END IF;
        notify := COALESCE(notify, peers_alive(a_self[r.k]));
        IF notify THEN
            PERFORM pg_notify('pushgate', 'd:' || (r.req).id);
        END IF;
        item := r.k;
        decided := r.req;
        RETURN NEXT;
    END LOOP;
END $$;

-- POST /device/challenges/{id}, one answer: auth_decide_first with one item,
-- then, when it decided nothing, the reason. The decision is committed with
-- this statement, before any waiter hears of it. A wrong nonce or chal (or a
-- challenge never handed out with a stored JWS) is invalid_response.
-- outcome: ok | device_inactive | not_found | invalid_response | already_decided | expired
CREATE OR REPLACE FUNCTION auth_decide(p_id text, p_device text, p_nonce text, p_decision text,
                                       p_reason text, p_code text, p_evidence text, p_self text,
                                       p_fraud_lock_s integer)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    req auth_requests;
    nonce text;
    jws text;
    dstatus text;
BEGIN
    SELECT (f.decided).* INTO req
      FROM auth_decide_first(ARRAY[p_id], ARRAY[p_device], ARRAY[p_nonce], ARRAY[p_decision],
                             ARRAY[p_reason], ARRAY[p_code], ARRAY[p_evidence], ARRAY[p_self],
                             ARRAY[p_fraud_lock_s::text]) f;
    IF FOUND THEN
        outcome := 'ok';
        v := auth_view(req);
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT c.nonce, c.jws, d.status INTO nonce, jws, dstatus
      FROM auth_challenges c JOIN devices d ON d.id = c.device_id
     WHERE c.device_id = p_device AND c.request_id = p_id;
    IF NOT FOUND THEN
        SELECT d.status INTO dstatus FROM devices d WHERE d.id = p_device;
        outcome := CASE WHEN dstatus = 'active' THEN 'not_found' ELSE 'device_inactive' END;
    ELSIF dstatus <> 'active' THEN
        outcome := 'device_inactive';
    ELSIF nonce <> p_nonce OR jws_chal(jws) IS DISTINCT FROM response_chal(p_evidence) THEN
        outcome := 'invalid_response';
    ELSE
        UPDATE auth_requests a SET status = 'expired', reason = 'timeout', decided_at = a.expires_at
         WHERE a.id = p_id AND a.status = 'pending' AND a.expires_at <= now();
        SELECT * INTO req FROM auth_requests a WHERE a.id = p_id;
        outcome := CASE WHEN req.status = 'expired' THEN 'expired' ELSE 'already_decided' END;
    END IF;
    RETURN NEXT;
END $$;

-- GET /users/{username}/devices: NULL when the user does not exist. Each device
-- with its public JWK as stored (api.md 7), the key its evidence verifies under.
CREATE OR REPLACE FUNCTION user_devices_json(p_app text, p_username text) RETURNS json
    LANGUAGE sql STABLE
    RETURN (SELECT json_build_object('devices',
                       COALESCE((SELECT json_agg(json_build_object('deviceId', d.id, 'name', d.name,
                                                     'status', d.status,
                                                     'createdAt', rfc3339(d.created_at),
                                                     'lastSeenAt', rfc3339(d.last_seen_at),
                                                     'publicKey', d.public_jwk::json)
                                                 ORDER BY d.created_at, d.id)
                                   FROM devices d WHERE d.user_id = u.id), '[]'::json))
              FROM users u WHERE u.app_id = p_app AND u.username = p_username);
DROP FUNCTION IF EXISTS device_json(devices); -- 006's, used only by user_devices_json before
