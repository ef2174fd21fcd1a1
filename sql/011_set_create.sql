-- Creates of a batch in a few statements (issue 6, docs/benchmarks.md step 16).
-- 009's auth_create_batch called auth_create once per item: about six
-- statements each (lock and user, latest request, insert, challenges, ...).
-- Most new requests meet the plain case: the user exists, has an active
-- device, is not locked, and the latest request was accepted (or there is
-- none), so no fatigue rule applies and the new request starts with no strikes.
-- This version takes every item's advisory lock first (in lock-key order, as
-- before), reads users, devices and latest requests for the whole batch in one
-- statement, inserts the plain cases' requests in one statement and their
-- challenges in another; every other item (unknown user, no device, locked,
-- anything after a denied, expired, cancelled or pending request, a user's
-- second item in the batch) goes through the unchanged auth_create, under the
-- lock already held, in the same order as before.
--
-- Outcomes are those of 009:
-- - the plain case is exactly the path auth_create takes when the latest
--   request is absent or accepted (and not ended by a revocation): strikes 0,
--   no strikes_end, challenges for the active devices in creation order;
-- - a user's items are decided in index order: the first plain one is
--   inserted here, the later ones then find it pending (rate_limited);
-- - the plain cases are inserted before the others run; items of different
--   users do not see each other, so only their order in the audit log changes.

CREATE OR REPLACE FUNCTION auth_create_batch(a_app text[], a_username text[], a_id text[],
                                             a_type text[], a_message text[], a_context text[],
                                             a_transaction text[], a_verification text[],
                                             a_code text[], a_async text[], a_timeout text[],
                                             a_self text[], a_backoff_base text[],
                                             a_backoff_cap text[])
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t,
               i integer)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    k integer;
    done integer[] := '{}';
    notify boolean := peers_alive(a_self[1]);
BEGIN
    -- every lock first, in key order: two batches never wait on each other in a cycle
    PERFORM pg_advisory_xact_lock(73501, s.h)
       FROM (SELECT DISTINCT hashtext(a_app[t.k] || '/' || t.u) AS h
               FROM unnest(a_username) WITH ORDINALITY AS t(u, k)) s
      ORDER BY s.h;
    FOR r IN
        -- unnest, not generate_subscripts: the planner expects 10 rows, not 1,000
        WITH x AS (
            SELECT DISTINCT ON (a_app[t.k], t.u) t.k, a_app[t.k] AS app, t.u AS username
              FROM unnest(a_username) WITH ORDINALITY AS t(u, k)
             ORDER BY a_app[t.k], t.u, t.k),
        plain AS (
            SELECT x.k, u.id AS uid, u.username AS uname, dv.ids
              FROM x JOIN users u ON u.app_id = x.app AND u.username = x.username
             CROSS JOIN LATERAL (SELECT array_agg(d.id ORDER BY d.created_at) AS ids
                                   FROM devices d
                                  WHERE d.user_id = u.id AND d.status = 'active') dv
              LEFT JOIN LATERAL (SELECT a.status, a.reason FROM auth_requests a
                                  WHERE a.user_id = u.id
                                  ORDER BY a.created_at DESC LIMIT 1) last ON true
             WHERE dv.ids IS NOT NULL
               AND (u.push_locked_until IS NULL OR u.push_locked_until <= now())
               AND (last.status IS NULL
                    OR (last.status = 'accepted' AND last.reason IS DISTINCT FROM 'device_revoked'))),
        ins AS (
            INSERT INTO auth_requests (id, app_id, user_id, username, type, message, context,
                                       transaction, verification, display_code, async,
                                       created_at, expires_at, strikes, strikes_end)
            SELECT a_id[p.k], a_app[p.k], p.uid, p.uname, a_type[p.k], a_message[p.k],
                   a_context[p.k]::json, a_transaction[p.k]::json, a_verification[p.k],
                   a_code[p.k], a_async[p.k]::boolean, clock_timestamp(),
                   clock_timestamp() + make_interval(secs => a_timeout[p.k]::integer), 0, NULL
              FROM plain p
            RETURNING auth_requests AS req),
        ch AS (
            INSERT INTO auth_challenges (request_id, device_id, nonce, expires_at)
            SELECT (ins.req).id, d.id, random_nonce(), (ins.req).expires_at
              FROM ins JOIN plain p ON a_id[p.k] = (ins.req).id
             CROSS JOIN LATERAL unnest(p.ids) AS d(id)
            RETURNING request_id, device_id, nonce)
        SELECT p.k, ins.req,
               (SELECT array_agg(ch.device_id ORDER BY array_position(p.ids, ch.device_id))
                  FROM ch WHERE ch.request_id = (ins.req).id) AS devs,
               (SELECT array_agg(ch.nonce ORDER BY array_position(p.ids, ch.device_id))
                  FROM ch WHERE ch.request_id = (ins.req).id) AS nons
          FROM ins JOIN plain p ON a_id[p.k] = (ins.req).id
    LOOP
        IF notify THEN
            PERFORM pg_notify('pushgate', 'c:' || d) FROM unnest(r.devs) AS d;
        END IF;
        done := done || r.k;
        outcome := 'ok';
        retry_after := NULL;
        devices := r.devs;
        nonces := r.nons;
        v := auth_view(r.req);
        i := r.k;
        RETURN NEXT;
    END LOOP;
    devices := NULL;
    nonces := NULL;
    FOR k IN SELECT s.k FROM generate_subscripts(a_id, 1) AS s(k)
              WHERE NOT s.k = ANY (done)
              ORDER BY hashtext(a_app[s.k] || '/' || a_username[s.k]), s.k
    LOOP
        RETURN QUERY
            SELECT o.outcome, o.retry_after, o.devices, o.nonces, o.v, k
              FROM auth_create(a_app[k], a_username[k], a_id[k], a_type[k], a_message[k],
                               a_context[k]::json, a_transaction[k]::json, a_verification[k],
                               a_code[k], a_async[k]::boolean, a_timeout[k]::integer, a_self[k],
                               a_backoff_base[k]::integer, a_backoff_cap[k]::integer) o;
    END LOOP;
END $$;
