-- device_challenges (GET /device/challenges' read) with a plan no statistics can turn
-- into a scan of every pending request.
--
-- 030's form joined devices, auth_challenges, auth_requests (ON a.status = 'pending')
-- and applications in one statement, planned from the tables' statistics. After an
-- ANALYZE of an empty auth_requests (a fresh install; bench/run's seeding) there are
-- none on its status, and the planner takes the partial index auth_requests_pending to
-- hold one row: it drove the join from that index, reading every pending request for
-- each poll (8 ms a poll with 9,000 pending, until autovacuum's next ANALYZE), and
-- plpgsql kept the plan for the connection's life; the server's database queue timed
-- out (docs/benchmarks.md, "B2 run alone"). Now each table is read in its own fenced
-- subquery (OFFSET 0: not merged into one join), driven by the device's row: its live
-- challenges by device_id (the primary key's prefix), each one's request and
-- application by primary key, the request's status tested after the read so that the
-- partial index cannot serve it. plan_cache_mode = force_custom_plan: each call is
-- planned for the tables' current size (a plan cached while they were small would scan
-- them once they are not); the planning is paid by the polls that read (an idle
-- device's once per DEVKNOWN_TTL_S), not by idle ones. Same columns and rows as 030.
--
-- GET /device/challenges: the device's state and its pending challenges, with
-- everything the server signs into each challenge (api.md 6.2) and the JWS stored at
-- its first handout (NULL: not handed out yet; the server signs and stores it).
-- last_seen_at is written only when it is more than 30 s old (lastSeenAt is accurate
-- to 30 s), so a poll is a read, not a commit.
CREATE OR REPLACE FUNCTION device_challenges(p_device text)
RETURNS TABLE (device_status text, request_id text, app_id text, app_name text, username text,
               type text, message text, context json, transaction json, verification text,
               nonce text, iat bigint, exp bigint, jws text)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    seen timestamptz;
    r record;
    found_device boolean := false;
BEGIN
    FOR r IN
        SELECT d.status AS dstatus, d.last_seen_at, a.id, a.status AS astatus, a.ap_id,
               a.ap_name, a.username, a.type, a.message, a.context, a.transaction,
               a.verification, c.nonce, c.jws, a.created_at,
               extract(epoch FROM a.created_at)::bigint AS iat,
               extract(epoch FROM a.expires_at)::bigint AS exp
          FROM devices d
          LEFT JOIN LATERAL (
                SELECT c.request_id, c.nonce, c.jws FROM auth_challenges c
                 WHERE c.device_id = d.id AND c.expires_at > now() AND d.status = 'active'
                OFFSET 0) c ON true
          LEFT JOIN LATERAL (
                SELECT a.id, a.status, a.username, a.type, a.message, a.context,
                       a.transaction, a.verification, a.created_at, a.expires_at,
                       ap.id AS ap_id, ap.name AS ap_name
                  FROM auth_requests a JOIN applications ap ON ap.id = a.app_id
                 WHERE a.id = c.request_id
                OFFSET 0) a ON true
         WHERE d.id = p_device
         ORDER BY a.created_at
    LOOP
        IF NOT found_device THEN
            found_device := true;
            seen := r.last_seen_at;
            device_status := r.dstatus;
        END IF;
        CONTINUE WHEN r.id IS NULL OR r.astatus <> 'pending';
        request_id := r.id; app_id := r.ap_id; app_name := r.ap_name; username := r.username;
        type := r.type; message := r.message; context := r.context; transaction := r.transaction;
        verification := r.verification; nonce := r.nonce; iat := r.iat; exp := r.exp;
        jws := r.jws;
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
