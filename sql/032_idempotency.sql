-- Idempotency-Key on POST /registration and POST /auth (api.md 1; docs/http.md
-- "Idempotent retries"). One row per (application, key), written in the same
-- transaction as the registration or request it stands for, so a crash never
-- leaves one without the other. A row is the first call's successful outcome:
-- a registration's 201 body (never a secret: `link` is removed), or the id of
-- the auth request (a retry reads the request's current state, or waits on it).
-- A first call that ends in an error stores nothing: its retry runs afresh.
-- body_hash is SHA-256 (hex) of the route and the canonical body (server-side),
-- so the same key with another body, or on the other route, is told apart.
-- Rows live 24 h: older ones are ignored, and each claim deletes a few.
CREATE TABLE idempotency_keys (
    app_id          text NOT NULL,             -- applications.id (no foreign key: hot path)
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
    body_hash       text NOT NULL,
    request_id      text,
    body            json,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Takes (app, key) for this transaction: fresh when this call inserted the row
-- (it then writes the outcome or deletes the row before committing), else the
-- live row of an earlier call. A call still running holds the row's insert
-- lock, so a concurrent retry waits here until that call commits (and then
-- sees its outcome) or stored nothing (and then takes the key itself).
CREATE FUNCTION idem_claim(p_app text, p_key text, p_hash text)
RETURNS TABLE (fresh boolean, k idempotency_keys)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM idempotency_keys x
     WHERE x.ctid = ANY (ARRAY(SELECT y.ctid FROM idempotency_keys y
                                WHERE y.created_at < now() - interval '24 hours'
                                ORDER BY y.created_at LIMIT 16 FOR UPDATE SKIP LOCKED));
    DELETE FROM idempotency_keys x
     WHERE x.app_id = p_app AND x.key = p_key AND x.created_at < now() - interval '24 hours';
    LOOP
        INSERT INTO idempotency_keys AS x (app_id, key, body_hash) VALUES (p_app, p_key, p_hash)
        ON CONFLICT DO NOTHING RETURNING x.* INTO k;
        IF FOUND THEN
            fresh := true;
            RETURN NEXT;
            RETURN;
        END IF;
        SELECT * INTO k FROM idempotency_keys x WHERE x.app_id = p_app AND x.key = p_key;
        IF FOUND THEN
            fresh := false;
            RETURN NEXT;
            RETURN;
        END IF; -- swept between the two statements: take it again
    END LOOP;
END $$;

-- POST /registration with an Idempotency-Key: registration_create's columns;
-- outcome adds replay (body: the first call's) and idempotency_key_reused.
CREATE FUNCTION registration_create_idem(p_key text, p_hash text, p_app text, p_username text,
                                         p_email text, p_display text, p_id text,
                                         p_token_hash text, p_expires_in integer,
                                         p_sealed bytea, p_limit integer)
RETURNS TABLE (outcome text, body json, retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    r record;
BEGIN
    SELECT * INTO c FROM idem_claim(p_app, p_key, p_hash);
    IF NOT c.fresh THEN
        RETURN QUERY SELECT CASE WHEN (c.k).body_hash = p_hash AND (c.k).body IS NOT NULL
                                 THEN 'replay' ELSE 'idempotency_key_reused' END,
                            (c.k).body, NULL::integer;
        RETURN;
    END IF;
    SELECT * INTO r FROM registration_create(p_app, p_username, p_email, p_display, p_id,
                                             p_token_hash, p_expires_in, p_sealed, p_limit);
    IF r.outcome = 'ok' THEN
        UPDATE idempotency_keys x
           SET body = CASE WHEN r.body::jsonb ? 'link' THEN (r.body::jsonb - 'link')::json
                           ELSE r.body END
         WHERE x.app_id = p_app AND x.key = p_key;
    ELSE
        DELETE FROM idempotency_keys x WHERE x.app_id = p_app AND x.key = p_key;
    END IF;
    RETURN QUERY SELECT r.outcome, r.body, r.retry_after;
END $$;

-- POST /auth with an Idempotency-Key: auth_create's columns (pending_id too, 031:
-- a 429 with a key names the pending request as well); outcome adds replay (v:
-- the first call's request as it is now) and idempotency_key_reused.
CREATE FUNCTION auth_create_idem(p_key text, p_hash text, p_app text, p_username text,
                                 p_id text, p_type text, p_message text, p_context json,
                                 p_transaction json, p_verification text, p_code text,
                                 p_async boolean, p_timeout integer, p_self text)
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t,
               pending_id text)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    r record;
BEGIN
    SELECT * INTO c FROM idem_claim(p_app, p_key, p_hash);
    IF NOT c.fresh THEN
        IF (c.k).body_hash <> p_hash OR (c.k).request_id IS NULL THEN
            RETURN QUERY SELECT 'idempotency_key_reused'::text, NULL::integer, NULL::text[],
                                NULL::text[], NULL::auth_view_t, NULL::text;
        ELSE
            RETURN QUERY SELECT 'replay'::text, NULL::integer, NULL::text[], NULL::text[],
                                auth_view(a), NULL::text
                           FROM auth_requests a WHERE a.id = (c.k).request_id;
        END IF;
        RETURN;
    END IF;
    SELECT * INTO r FROM auth_create(p_app, p_username, p_id, p_type, p_message, p_context,
                                     p_transaction, p_verification, p_code, p_async, p_timeout,
                                     p_self);
    IF r.outcome = 'ok' THEN
        UPDATE idempotency_keys x SET request_id = p_id WHERE x.app_id = p_app AND x.key = p_key;
    ELSE
        DELETE FROM idempotency_keys x WHERE x.app_id = p_app AND x.key = p_key;
    END IF;
    RETURN QUERY SELECT r.outcome, r.retry_after, r.devices, r.nonces, r.v, r.pending_id;
END $$;
