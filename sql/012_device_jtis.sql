-- The jti of every device proof, for 120 s, in the database (api.md 6.1: "a jti
-- already seen from that device in the last 120 s" is refused). It was kept in
-- each process's memory, so a captured proof was accepted once more by another
-- instance, or by the same one after a restart.
--
-- UNLOGGED: a claim is a write per device request, and its commit then flushes no
-- WAL. The cost: after a database crash (not a clean restart) the table starts
-- empty, so a proof from the 60 s before the crash could be replayed once.
-- A row older than 120 s no longer counts: the claim takes it over (ON CONFLICT ...
-- WHERE); the server deletes such rows once a minute.
CREATE UNLOGGED TABLE device_jtis (
    device_id text NOT NULL,
    jti text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, jti)
);

-- The claim functions device_jtis_claim (a batch: the 1-based indices of the
-- items whose claim is new) and device_jti_claim (one jti: a boolean):
-- sql/021_proofs.sql (it keeps a jti 121 s, not 120).

-- A device's answer claims its proof's jti in the transaction that decides, so the
-- answer costs no extra round trip and a replayed proof decides nothing
-- ('proof_replayed', which the server answers 401 invalid_device_proof).
CREATE FUNCTION auth_decide_claimed(p_jti text, p_id text, p_device text, p_nonce text,
                                    p_decision text, p_reason text, p_code text,
                                    p_evidence text, p_self text, p_fraud_lock_s integer)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT device_jti_claim(p_device, p_jti) THEN
        RETURN QUERY SELECT 'proof_replayed'::text, NULL::auth_view_t;
        RETURN;
    END IF;
    RETURN QUERY SELECT o.outcome, o.v
                   FROM auth_decide(p_id, p_device, p_nonce, p_decision, p_reason, p_code,
                                    p_evidence, p_self, p_fraud_lock_s) o;
END $$;

-- The batch form (sql/009_batches.sql's contract: every item's rows, then its
-- 1-based index): the jtis of the batch are claimed in one statement (two equal
-- ones: the first wins), the claimed items go through auth_decide_batch, and the
-- others get 'proof_replayed'.
CREATE FUNCTION auth_decide_batch_claimed(a_jti text[], a_id text[], a_device text[],
                                          a_nonce text[], a_decision text[], a_reason text[],
                                          a_code text[], a_evidence text[], a_self text[],
                                          a_fraud_lock_s text[])
RETURNS TABLE (outcome text, v auth_view_t, i integer)
LANGUAGE plpgsql AS $$
DECLARE
    ok integer[];
    k integer;
    b_id text[] := '{}'; b_device text[] := '{}'; b_nonce text[] := '{}';
    b_decision text[] := '{}'; b_reason text[] := '{}'; b_code text[] := '{}';
    b_evidence text[] := '{}'; b_self text[] := '{}'; b_lock text[] := '{}';
BEGIN
    ok := ARRAY(SELECT device_jtis_claim(a_device, a_jti));
    RETURN QUERY SELECT 'proof_replayed'::text, NULL::auth_view_t, g.k
                   FROM generate_subscripts(a_id, 1) AS g(k)
                  WHERE NOT g.k = ANY (ok);
    IF cardinality(ok) = 0 THEN
        RETURN;
    END IF;
    FOREACH k IN ARRAY ok LOOP  -- the claimed items, in their order
        b_id := array_append(b_id, a_id[k]);
        b_device := array_append(b_device, a_device[k]);
        b_nonce := array_append(b_nonce, a_nonce[k]);
        b_decision := array_append(b_decision, a_decision[k]);
        b_reason := array_append(b_reason, a_reason[k]);
        b_code := array_append(b_code, a_code[k]);
        b_evidence := array_append(b_evidence, a_evidence[k]);
        b_self := array_append(b_self, a_self[k]);
        b_lock := array_append(b_lock, a_fraud_lock_s[k]);
    END LOOP;
    RETURN QUERY
        SELECT b.outcome, b.v, ok[b.i]
          FROM auth_decide_batch(b_id, b_device, b_nonce, b_decision, b_reason, b_code,
                                 b_evidence, b_self, b_lock) b;
END $$;
