-- Push approval's functions, each written once (sql/README.md). Before this
-- migration, reading the decision rule took 006, 008, 010 and 012, the decision
-- CASE and the request insert were each written twice (one-row and set-based
-- forms), and the fatigue back-off's constants came from the C caller. Here:
--
-- - auth_admit: whether a user may be pushed now (user, device, lock, the
--   one-pending rule, the fatigue back-off and its constants);
-- - auth_create_batch: the request and challenge insert, set-based; auth_create
--   is auth_create_batch with one item;
--   (these three now live in 031, which added the pending request's id)
-- - auth_decide_first: the decision rule, set-based; auth_decide and
--   auth_decide_batch both decide through it.
--
-- The bodies these replace were removed from 006-011, which a fresh install no
-- longer needs; a database migrated before gets them replaced here. The batch
-- contract (arrays in, every row carrying its item's 1-based index `i`, outcomes
-- as if the items ran alone in order, lock order) is 009's.
--
-- Why set-based (docs/benchmarks.md steps 15 and 16): every statement inside a
-- function costs an executor start-up, which perf shows to be most of the
-- backend's time, and a batch that called the one-row functions once per item
-- paid about six statements per create and one UPDATE per answer. pgbench,
-- batches of 8: decisions 1.18 -> 0.97 ms per call. The one-row forms now run the
-- same statements with one item.
--
-- Helpers called from PL/pgSQL are PL/pgSQL themselves (see 008: a SQL-standard
-- body that the planner does not inline is read back and parsed on every call).

-- The decision rule (POST /device/challenges/{id}): the first valid answer
-- wins. Decides, in one UPDATE, each listed request by its first answer (lowest
-- index) when that answer is valid: the request is pending and not expired, the
-- device is active and holds a challenge of the request with that nonce. A deny
-- is denied (fraud_reported for not_me, else user_denied); an approval with the
-- wrong code of a code-verified request is denied (code_mismatch); any other
-- approval is accepted. The request's challenges are closed, a fraud report
-- locks the user's pushes for the item's fraud-lock seconds, and peers hear of
-- it. Returns the decided items (index, request); the others decided nothing,
-- and auth_decide finds out why.
-- Locks: the UPDATE takes its row locks in its plan's order rather than strictly
-- by request id. Two batches can only meet on one request when two devices of
-- one user answer it at once; if two such batches ever wait for each other,
-- PostgreSQL aborts one, and the server runs that batch's items alone (db.c).
CREATE FUNCTION auth_decide_first(a_id text[], a_device text[], a_nonce text[],
                                  a_decision text[], a_reason text[], a_code text[],
                                  a_evidence text[], a_self text[], a_fraud_lock_s text[])
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
                   decided_at = now(), device_id = x.device, evidence = x.evidence
              FROM x JOIN auth_challenges c ON c.device_id = x.device AND c.request_id = x.id
                                          AND c.nonce = x.nonce
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
-- this statement, before any waiter hears of it.
-- outcome: ok | device_inactive | not_found | invalid_response | already_decided | expired
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
END $$;

-- Answers of a batch: auth_decide_first decides every request's first answer;
-- every answer it did not decide (a later answer to the same request, or one
-- that did not match) then goes through auth_decide in request-id order (ties in
-- arrival order), and meets "already decided" or its own reason, exactly as
-- alone. Most answers of a batch are plain successes: one UPDATE for the lot.
CREATE OR REPLACE FUNCTION auth_decide_batch(a_id text[], a_device text[], a_nonce text[],
                                             a_decision text[], a_reason text[], a_code text[],
                                             a_evidence text[], a_self text[],
                                             a_fraud_lock_s text[])
RETURNS TABLE (outcome text, v auth_view_t, i integer)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    k integer;
    done integer[] := '{}';
BEGIN
    FOR r IN SELECT f.item, f.decided
               FROM auth_decide_first(a_id, a_device, a_nonce, a_decision, a_reason, a_code,
                                      a_evidence, a_self, a_fraud_lock_s) f
    LOOP
        done := done || r.item;
        outcome := 'ok';
        v := auth_view(r.decided);
        i := r.item;
        RETURN NEXT;
    END LOOP;
    FOR k IN SELECT s.k FROM generate_subscripts(a_id, 1) AS s(k)
              WHERE NOT s.k = ANY (done)
              ORDER BY a_id[s.k], s.k
    LOOP
        RETURN QUERY
            SELECT o.outcome, o.v, k
              FROM auth_decide(a_id[k], a_device[k], a_nonce[k], a_decision[k], a_reason[k],
                               a_code[k], a_evidence[k], a_self[k],
                               a_fraud_lock_s[k]::integer) o;
    END LOOP;
END $$;
