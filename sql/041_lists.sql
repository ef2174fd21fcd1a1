-- Lists and administration (api.md 11; docs/integration.md "Lists").
--
-- Every list is a page of at most p_limit rows, newest first, in a total order
-- (created_at DESC, id DESC) -- (at DESC, id DESC) for the audit log -- and a
-- page after a cursor continues strictly after the cursor's position:
-- keyset pagination, never OFFSET, so a page deep in a million rows costs what
-- the first page costs, and rows inserted meanwhile never shift a page.
--
-- Each function gets its scope and filters as parameters (NULL: not filtered)
-- and the position of the previous page's last row (p_at microseconds since
-- the epoch, p_id; NULL on the first page). It builds its statement from fixed
-- fragments, one per filter that is present, and runs it with the values bound
-- (EXECUTE ... USING: parameterized, never spliced). Why dynamic: a statement
-- with "($n IS NULL OR col = $n)" for every filter has one generic plan that
-- can use no index; here each combination gets the plan for its own index,
-- planned with the values (docs/integration.md shows the EXPLAIN output).
--
-- Which index serves what (each is scanned backwards for newest first):
--   registrations  (app_id, created_at, id)          an application's list
--                  (app_id, status, created_at, id)  ... with status (see below)
--                  (user_id, created_at, id)         username (replaces 002's
--                                                    (user_id, created_at))
--                  (created_at, id)                  the admin's list of all
--   auth_requests  (app_id, created_at, id)          an application's list
--                  (user_id, created_at, id)         username (replaces 006's
--                                                    (user_id, created_at DESC))
--                  (created_at, id)                  the admin's list of all
--   users          (app_id, created_at, id), (created_at, id),
--                  (app_id, username text_pattern_ops), (username
--                  text_pattern_ops)                q, a username prefix
--   audit_log      (at, id), (app_id, at, id), (event, at, id),
--                  (subject, at, id)                 username (below)
--   applications   (created_at, id)
-- auth_requests has no index with status on purpose: a decision changes the
-- status, and an indexed status would make every decision's UPDATE a non-HOT
-- update that writes every index of the hottest table. A status filter on
-- /auth is therefore checked on the rows of the range read (the user's with a
-- username, else the application's), newest first, until the page is full.
-- `since` is a range bound on the same indexes.

DROP INDEX registrations_user_created;
CREATE INDEX registrations_user_list ON registrations (user_id, created_at, id);
CREATE INDEX registrations_app_list ON registrations (app_id, created_at, id);
CREATE INDEX registrations_app_status_list ON registrations (app_id, status, created_at, id);
CREATE INDEX registrations_list ON registrations (created_at, id);
DROP INDEX auth_requests_user;
CREATE INDEX auth_requests_user_list ON auth_requests (user_id, created_at, id);
CREATE INDEX auth_requests_app_list ON auth_requests (app_id, created_at, id);
CREATE INDEX auth_requests_list ON auth_requests (created_at, id);
CREATE INDEX users_app_list ON users (app_id, created_at, id);
CREATE INDEX users_list ON users (created_at, id);
CREATE INDEX users_app_prefix ON users (app_id, username text_pattern_ops);
CREATE INDEX users_prefix ON users (username text_pattern_ops);
CREATE INDEX audit_log_list ON audit_log (at, id);
CREATE INDEX audit_log_app_list ON audit_log (app_id, at, id);
CREATE INDEX audit_log_event_list ON audit_log (event, at, id);
CREATE INDEX audit_log_subject_list ON audit_log (subject, at, id);
CREATE INDEX applications_list ON applications (created_at, id);

-- A cursor's time: microseconds since the epoch, exact both ways (a timestamptz
-- has microsecond resolution; extract(epoch) is numeric).
CREATE FUNCTION list_us(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (extract(epoch FROM t) * 1000000)::bigint;

CREATE FUNCTION list_at(us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN timestamptz '1970-01-01 00:00:00+00' + us * interval '1 microsecond';

-- The stored statuses a registration's API status can come from (registration_status:
-- pending and retrieved turn expired when their time is up).
CREATE FUNCTION registration_stored_statuses(p_status text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN p_status = 'expired' THEN ARRAY['pending', 'retrieved'] ELSE ARRAY[p_status] END;

-- GET /registrations: registration objects (registration_json, as GET
-- /registration/{id} answers). p_app NULL: every application's (the admin).
-- p_status is the API status: the stored one picks the index range
-- (app_id, status, ...) -- one range, hence ordered, except for expired, which
-- has two -- and registration_status() then decides expiry.
CREATE FUNCTION registration_list(p_app text, p_username text, p_status text, p_at bigint,
                                  p_id text, p_limit integer)
RETURNS TABLE (at_us bigint, id text, item json)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    stored text[] := registration_stored_statuses(p_status);
    q text := 'SELECT list_us(r.created_at), r.id, registration_json(r) FROM registrations r WHERE true';
BEGIN
    IF p_app IS NOT NULL THEN
        q := q || ' AND r.app_id = $1';
    END IF;
    IF p_username IS NOT NULL AND p_app IS NOT NULL THEN
        q := q || ' AND r.user_id = (SELECT u.id FROM users u WHERE u.app_id = $1 AND u.username = $2)';
    ELSIF p_username IS NOT NULL THEN
        q := q || ' AND r.user_id IN (SELECT u.id FROM users u WHERE u.username = $2)';
    END IF;
    IF p_status IS NOT NULL THEN
        q := q || CASE WHEN cardinality(stored) = 1 THEN ' AND r.status = $7[1]'
                       ELSE ' AND r.status = ANY ($7)' END
               || ' AND registration_status(r) = $3';
    END IF;
    IF p_at IS NOT NULL THEN
        q := q || ' AND (r.created_at, r.id) < (list_at($4), $5)';
    END IF;
    RETURN QUERY EXECUTE q || ' ORDER BY r.created_at DESC, r.id DESC LIMIT $6'
        USING p_app, p_username, p_status, p_at, p_id, p_limit, stored;
END $$;

-- GET /auth: auth objects (auth_view, as GET /auth/{id} answers; the server
-- builds the JSON, authview.h). p_since: microseconds, created at or after.
-- The status is the effective one (auth_effective_status: pending past its
-- expiry reads expired), checked per row: see the header on why no index.
CREATE FUNCTION auth_list(p_app text, p_username text, p_status text, p_since bigint,
                          p_at bigint, p_id text, p_limit integer)
RETURNS TABLE (at_us bigint, id text, v auth_view_t)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    q text := 'SELECT list_us(a.created_at), a.id, auth_view(a) FROM auth_requests a WHERE true';
BEGIN
    IF p_app IS NOT NULL THEN
        q := q || ' AND a.app_id = $1';
    END IF;
    IF p_username IS NOT NULL AND p_app IS NOT NULL THEN
        q := q || ' AND a.user_id = (SELECT u.id FROM users u WHERE u.app_id = $1 AND u.username = $2)';
    ELSIF p_username IS NOT NULL THEN
        q := q || ' AND a.user_id IN (SELECT u.id FROM users u WHERE u.username = $2)';
    END IF;
    IF p_status IS NOT NULL THEN
        q := q || ' AND auth_effective_status(a) = $3';
    END IF;
    IF p_since IS NOT NULL THEN
        q := q || ' AND a.created_at >= list_at($4)';
    END IF;
    IF p_at IS NOT NULL THEN
        q := q || ' AND (a.created_at, a.id) < (list_at($5), $6)';
    END IF;
    RETURN QUERY EXECUTE q || ' ORDER BY a.created_at DESC, a.id DESC LIMIT $7'
        USING p_app, p_username, p_status, p_since, p_at, p_id, p_limit;
END $$;

-- An item of GET /users: what GET /users/{u}/mfa/status says of the user's
-- factors and locks (mfa_status_json), with the user's own fields, and its
-- applicationId (an admin's list spans applications).
CREATE FUNCTION user_list_json(u users) RETURNS json
LANGUAGE sql STABLE AS $$
SELECT json_build_object(
    'username', u.username,
    'applicationId', u.app_id,
    'email', u.email,
    'displayName', u.display_name,
    'createdAt', rfc3339(u.created_at),
    'pushDevices',
        (SELECT count(*)::integer FROM devices d WHERE d.user_id = u.id AND d.status = 'active'),
    'mfaEnabled', COALESCE(m.enabled, false),
    'channel', CASE WHEN m.enabled THEN m.channel END,
    'locked', lk.until IS NOT NULL,
    'lockedUntil', rfc3339(lk.until))
  FROM (SELECT 1) one
  LEFT JOIN mfa m ON m.user_id = u.id
  CROSS JOIN LATERAL (SELECT GREATEST(
                          CASE WHEN u.otp_locked_until > now() THEN u.otp_locked_until END,
                          CASE WHEN u.push_locked_until > now() THEN u.push_locked_until END)
                          AS until) lk
$$;

-- GET /users. p_prefix: the username starts with it (LIKE with its wildcards
-- escaped). The matches are read first, from a prefix index ((app_id,
-- username) or, for the admin's search of every application, (username)),
-- and only they are sorted: walking the newest-first index and testing each
-- user would read every user when few match (a prefix's row estimate is
-- rough, so the planner is not left to choose; OFFSET 0 keeps it apart).
CREATE FUNCTION user_list(p_app text, p_prefix text, p_at bigint, p_id text, p_limit integer)
RETURNS TABLE (at_us bigint, id text, item json)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    q text := 'SELECT list_us((m.u).created_at), (m.u).id::text, user_list_json(m.u) '
              'FROM (SELECT u FROM users u WHERE true';
    pattern text := replace(replace(replace(p_prefix, '\', '\\'), '%', '\%'), '_', '\_') || '%';
BEGIN
    IF p_app IS NOT NULL THEN
        q := q || ' AND u.app_id = $1';
    END IF;
    IF p_prefix IS NOT NULL THEN
        q := q || ' AND u.username LIKE $2 OFFSET 0';
    END IF;
    q := q || ') m WHERE true';
    IF p_at IS NOT NULL THEN
        q := q || ' AND ((m.u).created_at, (m.u).id) < (list_at($3), $4::bigint)';
    END IF;
    RETURN QUERY EXECUTE q || ' ORDER BY (m.u).created_at DESC, (m.u).id DESC LIMIT $5'
        USING p_app, pattern, p_at, p_id, p_limit;
END $$;

-- The username an audit row is about: its subject for user.* and mfa.* rows,
-- else the user of the registration, request or device it names.
CREATE FUNCTION audit_username(a audit_log) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT CASE split_part(a.event, '.', 1)
    WHEN 'user' THEN a.subject
    WHEN 'mfa' THEN a.subject
    WHEN 'auth' THEN (SELECT q.username FROM auth_requests q WHERE q.id = a.subject)
    WHEN 'registration' THEN (SELECT u.username FROM registrations r JOIN users u ON u.id = r.user_id
                               WHERE r.id = a.subject)
    WHEN 'device' THEN (SELECT u.username FROM devices d JOIN users u ON u.id = d.user_id
                         WHERE d.id = a.subject)
    WHEN 'admin' THEN a.data ->> 'username'
END
$$;

-- The subjects of a user's audit rows (audit_username's inverse): the username
-- itself, and the ids of the user's registrations, requests and devices.
CREATE FUNCTION audit_subjects(p_app text, p_username text) RETURNS text[]
LANGUAGE sql STABLE AS $$
SELECT ARRAY[p_username] || ARRAY(
    SELECT x.id FROM users u
     CROSS JOIN LATERAL (SELECT r.id FROM registrations r WHERE r.user_id = u.id
                         UNION ALL SELECT q.id FROM auth_requests q WHERE q.user_id = u.id
                         UNION ALL SELECT d.id FROM devices d WHERE d.user_id = u.id) x
     WHERE u.username = p_username AND (p_app IS NULL OR u.app_id = p_app))
$$;

-- GET /audit (the admin's): {"id", "at", "type", "applicationId", "username",
-- "detail"}. detail is the row's data without the internal userId (the rows
-- carry no secret: hashes of evidence and keys, ids, times). p_username: the
-- rows of audit_subjects (one index range each on (subject, at, id); only
-- that user's rows are sorted), those of user./mfa./admin. events only when
-- the username is their own subject.
CREATE FUNCTION audit_list(p_app text, p_type text, p_username text, p_since bigint,
                           p_at bigint, p_id text, p_limit integer)
RETURNS TABLE (at_us bigint, id text, item json)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    q text := 'SELECT list_us(a.at), a.id::text, json_build_object(''id'', a.id, '
              '''at'', rfc3339(a.at), ''type'', a.event, ''applicationId'', a.app_id, '
              '''username'', audit_username(a), ''detail'', a.data - ''userId'') '
              'FROM audit_log a WHERE true';
BEGIN
    IF p_app IS NOT NULL THEN
        q := q || ' AND a.app_id = $1';
    END IF;
    IF p_type IS NOT NULL THEN
        q := q || ' AND a.event = $2';
    END IF;
    IF p_username IS NOT NULL THEN
        q := q || ' AND a.subject = ANY (audit_subjects($1, $3)) AND audit_username(a) = $3';
    END IF;
    IF p_since IS NOT NULL THEN
        q := q || ' AND a.at >= list_at($4)';
    END IF;
    IF p_at IS NOT NULL THEN
        q := q || ' AND (a.at, a.id) < (list_at($5), $6::bigint)';
    END IF;
    RETURN QUERY EXECUTE q || ' ORDER BY a.at DESC, a.id DESC LIMIT $7'
        USING p_app, p_type, p_username, p_since, p_at, p_id, p_limit;
END $$;

-- GET /applications (the admin's). Never a secret. webhookUrl: the column of
-- api.md 12 where the schema has it (read through to_jsonb so that this body
-- needs no change when it is added), else null.
CREATE FUNCTION application_list(p_app text, p_at bigint, p_id text, p_limit integer)
RETURNS TABLE (at_us bigint, id text, item json)
LANGUAGE sql STABLE AS $$
SELECT list_us(a.created_at), a.id,
       json_build_object('applicationId', a.id, 'name', a.name, 'status', a.status,
                         'createdAt', rfc3339(a.created_at),
                         'webhookUrl', to_jsonb(a) ->> 'webhook_url')
  FROM applications a
 WHERE (p_app IS NULL OR a.id = p_app)
   AND (p_at IS NULL OR (a.created_at, a.id) < (list_at(p_at), p_id))
 ORDER BY a.created_at DESC, a.id DESC
 LIMIT p_limit
$$;

-- POST /users/{u}/unlock: user_unlock (023: the OTP lockout, the push fraud lock
-- and the back-off), one audit row user.unlocked naming who asked
-- (application or admin; the lock rows of the users trigger follow when a lock
-- was set), then the MFA status object. NULL when there is no such user.
CREATE FUNCTION user_unlock_json(p_app text, p_username text, p_by text) RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT user_unlock(p_app, p_username) THEN
        RETURN NULL;
    END IF;
    PERFORM audit_append(p_app, 'user.unlocked', p_username, jsonb_build_object('by', p_by));
    RETURN mfa_status_json(p_app, p_username);
END $$;

-- The admin's DELETEs (api.md 11): the application's own functions, plus one
-- audit row admin.<what> naming the object, in the same transaction (the
-- object's own trigger row says what changed, this one that the admin did it).
CREATE FUNCTION registration_cancel_admin(p_id text, p_app text)
RETURNS TABLE (outcome text, body json)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    SELECT * INTO c FROM registration_cancel(p_id, p_app);
    IF c.outcome = 'ok' THEN
        PERFORM audit_append(r.app_id, 'admin.registration_cancelled', p_id,
                             jsonb_build_object('username', c.body ->> 'username'))
           FROM registrations r WHERE r.id = p_id;
    END IF;
    RETURN QUERY SELECT c.outcome, c.body;
END $$;

CREATE FUNCTION auth_cancel_admin(p_id text, p_app text, p_self text)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    SELECT * INTO c FROM auth_cancel(p_id, p_app, p_self);
    IF c.outcome = 'ok' THEN
        PERFORM audit_append(q.app_id, 'admin.auth_cancelled', p_id,
                             jsonb_build_object('username', q.username))
           FROM auth_requests q WHERE q.id = p_id;
    END IF;
    RETURN QUERY SELECT c.outcome, c.v;
END $$;

CREATE FUNCTION user_device_revoke_admin(p_app text, p_username text, p_device text, p_self text)
RETURNS TABLE (outcome text, v auth_view_t)
LANGUAGE plpgsql AS $$
DECLARE
    o record;
    done boolean := false;
BEGIN
    FOR o IN SELECT * FROM user_device_revoke(p_app, p_username, p_device, p_self) LOOP
        done := done OR o.outcome = 'ok';
        RETURN QUERY SELECT o.outcome, o.v;
    END LOOP;
    IF done THEN
        PERFORM audit_append(p_app, 'admin.device_revoked', p_device,
                             jsonb_build_object('username', p_username));
    END IF;
END $$;
