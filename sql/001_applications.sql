-- Applications: the custom apps that call the API. Secrets are stored only as
-- SHA-256 digests (hex); the secret itself is 256 random bits, so a fast hash suffices.
CREATE TABLE applications (
    id          text PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    secret_hash text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- RFC 3339 UTC with a Z suffix, as every API object shows times (api.md 1).
CREATE FUNCTION rfc3339(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
