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

-- GET/HEAD/POST /r/{token} (registration_by_token) and POST /r/{token}
-- (registration_complete): sql/021_proofs.sql.
