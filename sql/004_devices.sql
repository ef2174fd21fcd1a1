-- Authenticator devices bound through a registration link (api.md 4, 6.4, 7).
CREATE TABLE devices (
    id              text PRIMARY KEY,
    app_id          text NOT NULL REFERENCES applications (id),
    user_id         bigint NOT NULL REFERENCES users (id),
    registration_id text NOT NULL UNIQUE REFERENCES registrations (id),
    name            text NOT NULL,
    public_jwk      text NOT NULL,            -- {"kty":"EC","crv":"P-256","x","y"}
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX devices_user ON devices (user_id) WHERE status = 'active';

-- The server's ES256 signing keys. The private key is sealed under the master
-- key (PUSHGATE_KEY_FILE); every instance of a deployment shares them.
CREATE TABLE server_keys (
    kid         text PRIMARY KEY,
    sealed      bytea NOT NULL,
    public_jwk  text NOT NULL,
    status      text NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'retired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    publish_until timestamptz                 -- retired keys stay in the JWKS until then
);
CREATE UNIQUE INDEX server_keys_one_current ON server_keys ((status)) WHERE status = 'current';

-- The server's public keys as a JWKS (api.md 9): current and still-published ones.
CREATE FUNCTION server_jwks() RETURNS json
    LANGUAGE sql STABLE
    RETURN (SELECT json_build_object('keys', COALESCE(json_agg(k.public_jwk::json ORDER BY k.created_at DESC), '[]'::json))
              FROM server_keys k
             WHERE k.status = 'current' OR k.publish_until > now());

-- GET/HEAD/POST /r/{token}: finds a registration by the hash of its link token.
-- With p_retrieve a pending registration becomes retrieved (a JSON GET).
-- outcome: ok | not_found | registration_expired | registration_completed | registration_cancelled
CREATE FUNCTION registration_by_token(p_hash text, p_retrieve boolean)
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
    st := registration_status(reg);
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
-- completions wins (the row lock, then the status check).
CREATE FUNCTION registration_complete(p_hash text, p_reg_id text, p_device_id text,
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
    st := registration_status(reg);
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
