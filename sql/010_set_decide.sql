-- Decisions of a batch in one UPDATE (issue 6, docs/benchmarks.md step 15).
-- 009's auth_decide_batch called auth_decide once per item: an executor start,
-- a PL/pgSQL entry and a plan-cache check per answer. Most answers of a batch are
-- plain successes, so this version first decides every request's first answer
-- (by index) with one UPDATE ... FROM over the whole batch, then runs every item
-- it did not decide through the unchanged auth_decide, which finds the reason
-- (wrong nonce, already decided, expired, device inactive, ...) exactly as
-- alone. pgbench, batches of 8 on one cluster: 1.18 ms per call before, 0.97
-- ms after; the whole system at 64 closed-loop connections (same round, fresh
-- databases): PostgreSQL CPU per flow 0.51 -> 0.45 ms and 0.50 -> 0.43 ms.
--
-- Outcomes are those of 009 (the items in request-id order, the first answer
-- to a request winning):
-- - the UPDATE takes only the first answer of each request; the others, and a
--   first answer that does not match, go through auth_decide afterwards, in
--   request-id order, and meet "already decided" or their own reason;
-- - peers_alive is asked once per batch instead of once per decided item (one
--   server, one instance id, one transaction);
-- - a fraud report's lock on the user is written after the UPDATE instead of
--   between items; no decision reads it (only auth_create does).
-- Locks: the UPDATE takes its row locks in its plan's order rather than strictly
-- by request id. Two batches can only meet on one request when two devices of
-- one user answer it at once; if two such batches ever wait for each other,
-- PostgreSQL aborts one, and the server runs that batch's items alone (db.c).

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
    notify boolean := peers_alive(a_self[1]);
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
        IF notify THEN
            PERFORM pg_notify('pushgate', 'd:' || (r.req).id);
        END IF;
        done := done || r.k;
        outcome := 'ok';
        v := auth_view(r.req);
        i := r.k;
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
