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
