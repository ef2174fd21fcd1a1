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

-- What the server needs to build an auth request's API object (api.md 5).
CREATE FUNCTION auth_view(r auth_requests) RETURNS auth_view_t
LANGUAGE plpgsql STABLE AS $$
DECLARE
    timed_out boolean := r.status = 'pending' AND r.expires_at <= now();
BEGIN
    RETURN ROW(r.id, CASE WHEN timed_out THEN 'expired' ELSE r.status END,
               CASE WHEN timed_out THEN 'timeout' ELSE r.reason END,
               r.username, extract(epoch FROM r.created_at)::bigint,
               extract(epoch FROM r.expires_at)::bigint,
               extract(epoch FROM CASE WHEN timed_out THEN r.expires_at ELSE r.decided_at END)::bigint,
               r.device_id, r.evidence, r.display_code, r.async)::auth_view_t;
END $$;

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

-- GET /device/challenges: the device's state and its pending challenges, with
-- everything the server signs into each challenge (api.md 6.2). One statement
-- reads the device and its live challenges; last_seen_at is written only when
-- it is more than 30 s old (lastSeenAt is accurate to 30 s), so a poll is
-- a read, not a commit.
CREATE OR REPLACE FUNCTION device_challenges(p_device text)
RETURNS TABLE (device_status text, request_id text, app_id text, app_name text, username text,
               type text, message text, context json, transaction json, verification text,
               nonce text, iat bigint, exp bigint)
LANGUAGE plpgsql AS $$
DECLARE
    seen timestamptz;
    r record;
    found_device boolean := false;
BEGIN
    FOR r IN
        SELECT d.status AS dstatus, d.last_seen_at, a.id, ap.id AS ap_id, ap.name, a.username,
               a.type, a.message, a.context, a.transaction, a.verification, c.nonce,
               extract(epoch FROM a.created_at)::bigint AS iat,
               extract(epoch FROM a.expires_at)::bigint AS exp
          FROM devices d
          LEFT JOIN (auth_challenges c
                     JOIN auth_requests a ON a.id = c.request_id AND a.status = 'pending'
                     JOIN applications ap ON ap.id = a.app_id)
            ON c.device_id = d.id AND c.expires_at > now() AND d.status = 'active'
         WHERE d.id = p_device
         ORDER BY a.created_at
    LOOP
        IF NOT found_device THEN
            found_device := true;
            seen := r.last_seen_at;
            device_status := r.dstatus;
        END IF;
        CONTINUE WHEN r.id IS NULL;
        request_id := r.id; app_id := r.ap_id; app_name := r.name; username := r.username;
        type := r.type; message := r.message; context := r.context; transaction := r.transaction;
        verification := r.verification; nonce := r.nonce; iat := r.iat; exp := r.exp;
        RETURN NEXT;
    END LOOP;
    IF NOT found_device THEN
        device_status := 'unknown';
        RETURN NEXT;
        RETURN;
    END IF;
    IF device_status = 'active' AND (seen IS NULL OR seen < now() - interval '30 seconds') THEN
        UPDATE devices SET last_seen_at = now() WHERE id = p_device;
    END IF;
    IF device_status <> 'active' THEN -- its state alone; an active one with nothing: no rows
        RETURN NEXT;
    END IF;
END $$;

DROP FUNCTION IF EXISTS device_touch(text); -- 006's, before
