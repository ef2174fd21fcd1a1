-- Push approval, leaner (issue 6, docs/benchmarks.md): the one-pending rule and
-- the fatigue backoff read one row instead of the user's recent history.
--
-- Requests of one user are created one at a time (auth_create's advisory lock),
-- so only the user's latest request can be pending, and the run of consecutive
-- denied/expired requests before it is a function of the latest request alone.
-- Each request therefore records the run that preceded it (strikes, and when
-- the last of those ended); auth_create reads the latest request (one index
-- probe) and carries the run on. The 006 version scanned every request of the
-- last 301 s and then up to 32 more: O(recent requests per user), which grew
-- with the load.
--
-- The functions that carry the rules on (auth_create, auth_admit) and decide
-- (auth_decide) are now in 013, their one definition.
--
-- Requests created before this migration carry strikes = 0: a user who was in
-- a backoff at upgrade time restarts the count from the latest request.
--
-- Helpers called once per statement from PL/pgSQL are PL/pgSQL themselves. A
-- SQL-standard body (RETURN ...) is stored as a node tree in pg_proc, and a
-- call that the planner does not inline reads it back - decompressing and
-- parsing it - on every call: perf showed stringToNode and pglz_decompress
-- under fmgr_sql as the backends' largest items. PL/pgSQL compiles a function
-- once per session. (The SQL-standard bodies also pinned auth_requests' row
-- type, which the ALTER needs free.)
-- (IF EXISTS: 006 created these before; a fresh install now meets them first here)
DROP FUNCTION IF EXISTS auth_view(auth_requests);
DROP FUNCTION IF EXISTS auth_effective_status(auth_requests);
ALTER TABLE auth_requests
    ADD COLUMN strikes     integer NOT NULL DEFAULT 0, -- consecutive denied/expired before this one
    ADD COLUMN strikes_end timestamptz;                -- when the last of them ended

CREATE FUNCTION auth_effective_status(r auth_requests) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN CASE WHEN r.status = 'pending' AND r.expires_at <= now() THEN 'expired' ELSE r.status END;
END $$;

-- auth_view is now in 030 (it returns the decided challenge too).

-- True when another instance is alive: only then is a NOTIFY worth its cost
-- (a notifying commit takes a database-wide lock, design.md).
CREATE OR REPLACE FUNCTION peers_alive(p_self text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM instances i
                    WHERE i.id <> p_self AND i.last_seen > now() - interval '6 seconds');
END $$;

-- 256 random bits, base64url. Two v4 UUIDs from the strong RNG carry 244 of
-- them; the 006 version hashed their text form, which cost more than the rest
-- of the challenge insert.
CREATE OR REPLACE FUNCTION random_nonce() RETURNS text
    LANGUAGE sql VOLATILE
    RETURN rtrim(translate(encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()),
                                  'base64'), '+/', '-_'), '=');

DROP FUNCTION IF EXISTS push_backoff(bigint, integer, integer); -- 006's, before

-- device_challenges is now in 030 (it returns the stored challenge JWS too).

DROP FUNCTION IF EXISTS device_touch(text); -- 006's, before
