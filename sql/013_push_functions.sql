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

-- auth_admit, auth_create_batch and auth_create are now in 031, which added the
-- pending request's id (pending_id).

-- auth_decide_first and auth_decide (the decision rule) are now in 030: an answer
-- must carry chal, the SHA-256 of the exact challenge JWS its device was sent.

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
