-- Device polls' jtis without a write per poll (issue 23; server/caller/pollclaim.h,
-- docs/benchmarks.md "Idle polls without writes").
--
-- An instance takes a poll's proof in memory and writes the keys it took in the
-- last 200 ms as ONE row: 64-bit keys (SHA-256 of device id, NUL, jti; the first 8
-- bytes) packed in `digests`. The identity column orders every claim: when two
-- instances took the same proof, the row with the smaller id owns it. The row is
-- announced in its own transaction (NOTIFY pushgate 'p:<instance>:<id>:<hex>', at
-- most 400 keys, under NOTIFY's 8000 bytes), and every instance re-reads the last
-- 125 s whenever its LISTEN starts (a restart, a lost connection), so a proof is
-- refused by all of them and after a restart. A logged table: a few rows a second,
-- and a crash of the database keeps them (device_jtis, unlogged, needs
-- device_jtis_lost for that). Rows older than 125 s are deleted by every instance
-- once a minute (a poll's proof is acceptable for 121 s at most).
CREATE TABLE poll_claims (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    digests bytea NOT NULL
);
CREATE INDEX poll_claims_at ON poll_claims (at);

-- Writes and announces one row of keys; `refused` lists (1-based, comma-separated)
-- the positions whose device may no longer poll: revoked, gone, or of a disabled
-- application (what device_jtis_claim refuses for the other device requests).
CREATE FUNCTION poll_claims_add(p_instance text, p_digests bytea, p_devices text[],
                                OUT id bigint, OUT refused text)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO poll_claims (instance_id, digests) VALUES (p_instance, p_digests)
    RETURNING poll_claims.id INTO id;
    PERFORM pg_notify('pushgate', 'p:' || p_instance || ':' || id || ':' || encode(p_digests, 'hex'));
    refused := array_to_string(ARRAY(
        SELECT u.n FROM unnest(p_devices) WITH ORDINALITY AS u(d, n)
         WHERE NOT EXISTS (SELECT 1 FROM devices dv
                             JOIN applications ap ON ap.id = dv.app_id AND ap.status = 'active'
                            WHERE dv.id = u.d AND dv.status = 'active')
         ORDER BY u.n), ',');
END $$;
