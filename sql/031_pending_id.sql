-- Enrollment hand-off and the request that blocks a user (api.md v1.1, 4 and 5.3).
--
-- 1. POST /registration with "delivery": "none" sends no mail: the application
--    gets the link in the 201 answer (server/enroll/h_registration.c) and shows
--    it itself, so `email` may be omitted. Such a registration has no email (the
--    device-linked notice then has no recipient either: h_link.c sends none) and
--    no outbox row (GET /registration/{id} shows "delivery": null).
--
-- 2. The 429 of the one-pending rule names the pending request
--    ("pendingRequestId"), so that the application can wait on it or cancel it:
--    auth_admit, which decides the rule, returns its id, and the create
--    functions hand it back as a new last column, pending_id (NULL for every
--    other outcome, the back-off's 429 included).
--
-- A column added to a function's result cannot be made by CREATE OR REPLACE, so
-- here the three push functions are dropped and created again, in this one
-- transaction, with their result columns unchanged in name and order and
-- pending_id appended (sql/README.md: otherwise never DROP). The statements that
-- running servers hold prepared name the columns they read (never `*`), so their
-- result types stay the same, and PostgreSQL re-plans them against the new
-- functions at their next execution (checked on PostgreSQL 15 with a PREPAREd
-- `SELECT o.outcome, (o.v).* FROM f($1) o` across such a DROP and CREATE of f).
-- PL/pgSQL callers (auth_create calls auth_create_batch, which calls
-- auth_admit) look them up by name when they next plan. IF EXISTS: a fresh
-- install meets them first here (013 no longer creates them).

ALTER TABLE registrations ALTER COLUMN email DROP NOT NULL;

-- POST /registration in one statement: the per-username rate limit is checked
-- under a transaction-scoped advisory lock, so concurrent calls cannot slip past it.
-- p_sealed NULL ("delivery": "none"): no mail is queued. p_email NULL leaves the
-- user's known address as it was.
CREATE OR REPLACE FUNCTION registration_create(p_app text, p_username text, p_email text,
                                               p_display text, p_id text, p_token_hash text,
                                               p_expires_in integer, p_sealed bytea,
                                               p_limit integer)
RETURNS TABLE (outcome text, body json, retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
    oldest timestamptz;
    n integer;
    reg registrations;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_app || '/' || p_username, 1));
    SELECT u.id INTO uid FROM users u WHERE u.app_id = p_app AND u.username = p_username;
    IF uid IS NOT NULL THEN
        SELECT count(*), min(x.created_at) INTO n, oldest FROM registrations x
         WHERE x.user_id = uid AND x.created_at > now() - interval '1 hour';
        IF n >= p_limit THEN
            RETURN QUERY SELECT 'rate_limited'::text, NULL::json,
                GREATEST(1, ceil(extract(epoch FROM oldest + interval '1 hour' - now())))::integer;
            RETURN;
        END IF;
        UPDATE users SET email = COALESCE(p_email, email),
                         display_name = COALESCE(p_display, display_name)
         WHERE id = uid;
    ELSE
        INSERT INTO users (app_id, username, email, display_name)
        VALUES (p_app, p_username, p_email, p_display) RETURNING id INTO uid;
    END IF;
    INSERT INTO registrations (id, app_id, user_id, email, display_name, token_hash, expires_at)
    VALUES (p_id, p_app, uid, p_email, p_display, p_token_hash,
            now() + make_interval(secs => p_expires_in))
    RETURNING * INTO reg;
    IF p_sealed IS NOT NULL THEN
        INSERT INTO outbox (registration_id, kind, recipient, sealed, expires_at)
        VALUES (reg.id, 'registration', p_email, p_sealed, reg.expires_at);
    END IF;
    RETURN QUERY SELECT 'ok'::text, registration_json(reg), NULL::integer;
END $$;

DROP FUNCTION IF EXISTS auth_create(text, text, text, text, text, json, json, text, text, boolean,
                                    integer, text, integer, integer);
DROP FUNCTION IF EXISTS auth_create_batch(text[], text[], text[], text[], text[], text[], text[],
                                          text[], text[], text[], text[], text[], text[], text[]);
DROP FUNCTION IF EXISTS auth_admit(bigint, text[], timestamptz, auth_requests, integer, integer);

-- Whether a user may be pushed now. outcome: ok | user_not_found |
-- no_active_device | locked | rate_limited (with retry_after; when the user's
-- pending request is the reason, pending_id names it, api.md 5.3); on ok, the
-- run of strikes the new request carries (strikes, strikes_end).
--
-- Requests of one user are created one at a time (the advisory lock in
-- auth_create_batch), so only the user's latest request can be pending (the
-- one-pending rule), and the run of consecutive denied/expired requests before
-- it is a function of the latest request alone: each request records the run
-- that preceded it, and this carries it on (one index probe instead of the
-- user's recent history, 008). Cancelled requests and those ended by a device
-- revocation neither count nor reset the run; an accepted one resets it.
-- Back-off after n strikes: 10 s x 2^(n-1), at most 1 h, from the end of the
-- last strike (tests pass their own base and cap; NULL means these).
-- An unlock (user_unlock, 023) sets the latest request's strikes to 0, or to
-- -1 when that request's own end is a strike, so that the run carried on is 0.
CREATE FUNCTION auth_admit(p_user bigint, p_devices text[], p_locked_until timestamptz,
                           last auth_requests, p_backoff_base integer, p_backoff_cap integer,
                           OUT outcome text, OUT retry_after integer, OUT strikes integer,
                           OUT strikes_end timestamptz, OUT pending_id text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    base integer := COALESCE(p_backoff_base, 10);
    cap integer := COALESCE(p_backoff_cap, 3600);
    last_st text := auth_effective_status(last); -- NULL: the user has no request yet
BEGIN
    strikes := 0;
    IF p_user IS NULL THEN
        outcome := 'user_not_found';
    ELSIF p_devices IS NULL THEN
        outcome := 'no_active_device';
    ELSIF p_locked_until > now() THEN
        outcome := 'locked';
        retry_after := ceil(extract(epoch FROM p_locked_until - now()));
    ELSIF last_st = 'pending' THEN
        outcome := 'rate_limited';
        retry_after := GREATEST(1, ceil(extract(epoch FROM last.expires_at - now())));
        pending_id := last.id;
    ELSE
        IF last_st = 'cancelled' OR last.reason = 'device_revoked' THEN
            strikes := last.strikes;
            strikes_end := last.strikes_end;
        ELSIF last_st IN ('denied', 'expired') THEN -- 32 strikes are far past any cap
            strikes := LEAST(last.strikes + 1, 32);
            strikes_end := COALESCE(last.decided_at, last.expires_at);
        END IF;
        IF strikes > 0 THEN
            retry_after := GREATEST(0, ceil(extract(epoch FROM strikes_end + make_interval(secs =>
                               LEAST(cap::float8, base * power(2, strikes - 1))) - now())));
        END IF;
        outcome := CASE WHEN retry_after > 0 THEN 'rate_limited' ELSE 'ok' END;
        retry_after := NULLIF(retry_after, 0);
    END IF;
END $$;

-- POST /auth, set-based (the batch form; auth_create is this with one item).
-- Every item's advisory lock on (application, username) is taken first, in
-- lock-key order: a user's creates are serialised (in memory, unlike a row
-- lock), and two batches never wait on each other in a cycle. Then one
-- statement per round admits the first item of each user (auth_admit), inserts
-- the admitted requests and their challenges (one per active device, in
-- creation order) and hands back who was challenged, so that the server can
-- answer a held poll without a read. A user's later items of the batch go in
-- later rounds, in index order, and find the earlier one pending, as if they
-- had run alone one after another; items of different users do not see each
-- other, so only their order in the audit log differs from one at a time.
-- pending_id: auth_admit's, on a rate_limited item refused for the user's
-- pending request (the batch's own earlier item of that user included).
CREATE FUNCTION auth_create_batch(a_app text[], a_username text[], a_id text[],
                                             a_type text[], a_message text[], a_context text[],
                                             a_transaction text[], a_verification text[],
                                             a_code text[], a_async text[], a_timeout text[],
                                             a_self text[], a_backoff_base text[] DEFAULT NULL,
                                             a_backoff_cap text[] DEFAULT NULL)
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t,
               i integer, pending_id text)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    done integer[] := '{}';
    notify boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(73501, s.h)
       FROM (SELECT DISTINCT hashtext(a_app[t.k] || '/' || t.u) AS h
               FROM unnest(a_username) WITH ORDINALITY AS t(u, k)) s
      ORDER BY s.h;
    LOOP
        FOR r IN
            -- unnest, not generate_subscripts: the planner expects 10 rows, not 1,000
            WITH x AS (
                SELECT DISTINCT ON (a_app[t.k], t.u) t.k
                  FROM unnest(a_username) WITH ORDINALITY AS t(u, k)
                 WHERE NOT t.k = ANY (done)
                 ORDER BY a_app[t.k], t.u, t.k),
            y AS (
                SELECT x.k, u.id AS uid, u.username AS uname, dv.ids, w.outcome, w.retry_after,
                       w.strikes, w.strikes_end, w.pending_id
                  FROM x
                  LEFT JOIN users u ON u.app_id = a_app[x.k] AND u.username = a_username[x.k]
                  LEFT JOIN LATERAL (SELECT array_agg(d.id ORDER BY d.created_at) AS ids
                                       FROM devices d
                                      WHERE d.user_id = u.id AND d.status = 'active') dv ON true
                  -- the latest request (read under the lock): it carries the rules' state
                  LEFT JOIN LATERAL (SELECT a FROM auth_requests a WHERE a.user_id = u.id
                                      ORDER BY a.created_at DESC LIMIT 1) l ON true
                 CROSS JOIN LATERAL auth_admit(u.id, dv.ids, u.push_locked_until, l.a,
                                               a_backoff_base[x.k]::integer,
                                               a_backoff_cap[x.k]::integer) w),
            -- clock_timestamp(), not now(): taken under the lock, so a user's requests
            -- are ordered by creation even when their transactions began the other
            -- way round
            ins AS (
                INSERT INTO auth_requests (id, app_id, user_id, username, type, message, context,
                                           transaction, verification, display_code, async,
                                           created_at, expires_at, strikes, strikes_end)
                SELECT a_id[y.k], a_app[y.k], y.uid, y.uname, a_type[y.k], a_message[y.k],
                       a_context[y.k]::json, a_transaction[y.k]::json, a_verification[y.k],
                       a_code[y.k], a_async[y.k]::boolean, clock_timestamp(),
                       clock_timestamp() + make_interval(secs => a_timeout[y.k]::integer),
                       y.strikes, y.strikes_end
                  FROM y WHERE y.outcome = 'ok'
                RETURNING auth_requests AS req),
            ch AS (
                INSERT INTO auth_challenges (request_id, device_id, nonce, expires_at)
                SELECT (ins.req).id, d.id, random_nonce(), (ins.req).expires_at
                  FROM ins JOIN y ON a_id[y.k] = (ins.req).id
                 CROSS JOIN LATERAL unnest(y.ids) AS d(id)
                RETURNING request_id, device_id, nonce)
            SELECT y.k, y.outcome, y.retry_after, y.pending_id, ins.req,
                   (SELECT array_agg(ch.device_id ORDER BY array_position(y.ids, ch.device_id))
                      FROM ch WHERE ch.request_id = (ins.req).id) AS devs,
                   (SELECT array_agg(ch.nonce ORDER BY array_position(y.ids, ch.device_id))
                      FROM ch WHERE ch.request_id = (ins.req).id) AS nons
              FROM y LEFT JOIN ins ON (ins.req).id = a_id[y.k]
        LOOP
            v := NULL;
            IF r.outcome = 'ok' THEN
                notify := COALESCE(notify, peers_alive(a_self[r.k]));
                IF notify THEN
                    PERFORM pg_notify('pushgate', 'c:' || d) FROM unnest(r.devs) AS d;
                END IF;
                v := auth_view(r.req);
            END IF;
            outcome := r.outcome;
            retry_after := r.retry_after;
            pending_id := r.pending_id;
            devices := r.devs;
            nonces := r.nons;
            i := r.k;
            done := done || r.k;
            RETURN NEXT;
        END LOOP;
        EXIT WHEN NOT FOUND OR cardinality(done) >= cardinality(a_id);
    END LOOP;
END $$;

-- POST /auth, one request: auth_create_batch with one item (the server sends
-- this when no other create is waiting for a connection).
CREATE FUNCTION auth_create(p_app text, p_username text, p_id text, p_type text,
                                       p_message text, p_context json, p_transaction json,
                                       p_verification text, p_code text, p_async boolean,
                                       p_timeout integer, p_self text,
                                       p_backoff_base integer DEFAULT NULL,
                                       p_backoff_cap integer DEFAULT NULL)
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t,
               pending_id text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
        SELECT b.outcome, b.retry_after, b.devices, b.nonces, b.v, b.pending_id
          FROM auth_create_batch(ARRAY[p_app], ARRAY[p_username], ARRAY[p_id], ARRAY[p_type],
                                 ARRAY[p_message], ARRAY[p_context::text],
                                 ARRAY[p_transaction::text], ARRAY[p_verification],
                                 ARRAY[p_code], ARRAY[p_async::text], ARRAY[p_timeout::text],
                                 ARRAY[p_self], ARRAY[p_backoff_base::text],
                                 ARRAY[p_backoff_cap::text]) b;
END $$;
