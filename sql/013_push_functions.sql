-- Push approval's functions, each written once (sql/README.md). Before this
-- migration, reading the decision rule took 006, 008, 010 and 012, the decision
-- CASE and the request insert were each written twice (one-row and set-based
-- forms), and the fatigue back-off's constants came from the C caller. Here:
--
-- - auth_admit: whether a user may be pushed now (user, device, lock, the
--   one-pending rule, the fatigue back-off and its constants);
-- - auth_create_batch: the request and challenge insert, set-based; auth_create
--   is auth_create_batch with one item;
-- - auth_decide_first: the decision rule, set-based; auth_decide and
--   auth_decide_batch both decide through it.
--
-- The bodies these replace were removed from 006-011, which a fresh install no
-- longer needs; a database migrated before gets them replaced here. The batch
-- contract (arrays in, every row carrying its item's 1-based index `i`, outcomes
-- as if the items ran alone in order, lock order) is 009's.
--
-- Why set-based (docs/benchmarks.md steps 15 and 16): every statement inside a
-- function costs an executor start-up, which perf shows to be most of the
-- backend's time, and a batch that called the one-row functions once per item
-- paid about six statements per create and one UPDATE per answer. pgbench,
-- batches of 8: decisions 1.18 -> 0.97 ms per call. The one-row forms now run the
-- same statements with one item.
--
-- Helpers called from PL/pgSQL are PL/pgSQL themselves (see 008: a SQL-standard
-- body that the planner does not inline is read back and parsed on every call).

-- Whether a user may be pushed now. outcome: ok | user_not_found |
-- no_active_device | locked | rate_limited (with retry_after); on ok, the run
-- of strikes the new request carries (strikes, strikes_end).
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
                           OUT strikes_end timestamptz)
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
CREATE OR REPLACE FUNCTION auth_create_batch(a_app text[], a_username text[], a_id text[],
                                             a_type text[], a_message text[], a_context text[],
                                             a_transaction text[], a_verification text[],
                                             a_code text[], a_async text[], a_timeout text[],
                                             a_self text[], a_backoff_base text[] DEFAULT NULL,
                                             a_backoff_cap text[] DEFAULT NULL)
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t,
               i integer)
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
                       w.strikes, w.strikes_end
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
            SELECT y.k, y.outcome, y.retry_after, ins.req,
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
CREATE OR REPLACE FUNCTION auth_create(p_app text, p_username text, p_id text, p_type text,
                                       p_message text, p_context json, p_transaction json,
                                       p_verification text, p_code text, p_async boolean,
                                       p_timeout integer, p_self text,
                                       p_backoff_base integer DEFAULT NULL,
                                       p_backoff_cap integer DEFAULT NULL)
RETURNS TABLE (outcome text, retry_after integer, devices text[], nonces text[], v auth_view_t)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
        SELECT b.outcome, b.retry_after, b.devices, b.nonces, b.v
          FROM auth_create_batch(ARRAY[p_app], ARRAY[p_username], ARRAY[p_id], ARRAY[p_type],
                                 ARRAY[p_message], ARRAY[p_context::text],
                                 ARRAY[p_transaction::text], ARRAY[p_verification],
                                 ARRAY[p_code], ARRAY[p_async::text], ARRAY[p_timeout::text],
                                 ARRAY[p_self], ARRAY[p_backoff_base::text],
                                 ARRAY[p_backoff_cap::text]) b;
END $$;

-- auth_decide_first and auth_decide (the decision rule) are now in 030: an answer
-- must carry chal, the SHA-256 of the exact challenge JWS its device was sent.

-- Answers of a batch: auth_decide_first decides every request's first answer;
-- every answer it did not decide (a later answer to the same request, or one
-- that did not match) then goes through auth_decide in request-id order (ties in
-- arrival order), and meets "already decided" or its own reason, exactly as
-- alone. Most answers of a batch are plain successes: one UPDATE for the lot.
CREATE OR REPLACE FUNCTION auth_decide_batch(a_id text[], a_device text[], a_nonce text[],
                                             a_decision text[], a_reason text[], a_code text[],
                                             a_evidence text[], a_self text[],
                                             a_fraud_lock_s text[])
RETURNS TABLE (outcome text, v auth_view_t, i integer)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    k integer;
    done integer[] := '{}';
BEGIN
    FOR r IN SELECT f.item, f.decided
               FROM auth_decide_first(a_id, a_device, a_nonce, a_decision, a_reason, a_code,
                                      a_evidence, a_self, a_fraud_lock_s) f
    LOOP
        done := done || r.item;
        outcome := 'ok';
        v := auth_view(r.decided);
        i := r.item;
        RETURN NEXT;
    END LOOP;
    FOR k IN SELECT s.k FROM generate_subscripts(a_id, 1) AS s(k)
              WHERE NOT s.k = ANY (done)
              ORDER BY a_id[s.k], s.k
    LOOP
        RETURN QUERY
            SELECT o.outcome, o.v, k
              FROM auth_decide(a_id[k], a_device[k], a_nonce[k], a_decision[k], a_reason[k],
                               a_code[k], a_evidence[k], a_self[k],
                               a_fraud_lock_s[k]::integer) o;
    END LOOP;
END $$;
