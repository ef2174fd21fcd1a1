-- Tamper-evident audit log.
--
-- Triggers append one row per security-relevant change (whatever code path made
-- it); a sealer (server/audit.c, one instance at a time) then chains the rows:
-- seq is gapless in sealing order and hash = sha256(prev_hash || the row), so
-- changing or deleting a sealed row breaks the chain that `pushgated audit
-- verify` walks. Rows are sealed once they are a few seconds old, so a
-- transaction that committed late is still sealed (in sealing order).
-- No secret is ever written here: ids, statuses and reasons only.
CREATE TABLE audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    app_id    text,
    event     text NOT NULL,
    subject   text NOT NULL,
    data      jsonb NOT NULL DEFAULT '{}',
    seq       bigint UNIQUE,
    prev_hash bytea,
    hash      bytea
);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE seq IS NULL;

CREATE FUNCTION audit_row_bytes(a audit_log) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    RETURN convert_to(concat_ws(E'\x1f', a.id::text, to_char(a.at AT TIME ZONE 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS.US'),
                                COALESCE(a.app_id, ''), a.event, a.subject, a.data::text,
                                a.seq::text), 'UTF8');

CREATE FUNCTION audit_hash(prev bytea, a audit_log) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    RETURN sha256(COALESCE(prev, '\x'::bytea) || audit_row_bytes(a));

-- Seals up to p_limit rows older than p_age_s seconds; returns how many. Only
-- one session seals at a time (the others return 0 at once).
CREATE FUNCTION audit_seal(p_limit integer, p_age_s integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    head audit_log;
    rec audit_log;
    n integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7350002) THEN
        RETURN 0;
    END IF;
    SELECT * INTO head FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
    FOR rec IN SELECT * FROM audit_log
                WHERE seq IS NULL AND at < clock_timestamp() - make_interval(secs => p_age_s)
                ORDER BY id LIMIT p_limit FOR UPDATE LOOP
        rec.seq := COALESCE(head.seq, 0) + 1;
        rec.prev_hash := head.hash;
        rec.hash := audit_hash(head.hash, rec);
        UPDATE audit_log SET seq = rec.seq, prev_hash = rec.prev_hash, hash = rec.hash
         WHERE id = rec.id;
        head := rec;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

CREATE FUNCTION audit_append(p_app text, p_event text, p_subject text, p_data jsonb)
RETURNS void
    LANGUAGE sql
    BEGIN ATOMIC
        INSERT INTO audit_log (app_id, event, subject, data) VALUES (p_app, p_event, p_subject, p_data);
    END;

CREATE FUNCTION audit_auth_requests() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM audit_append(NEW.app_id, 'auth.created', NEW.id,
            jsonb_build_object('userId', NEW.user_id, 'type', NEW.type,
                               'verification', NEW.verification, 'expiresAt', rfc3339(NEW.expires_at)));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM audit_append(NEW.app_id, 'auth.' || NEW.status, NEW.id,
            jsonb_build_object('reason', NEW.reason, 'deviceId', NEW.device_id,
                               'evidenceSha256', encode(sha256(convert_to(NEW.evidence, 'UTF8')), 'hex')));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OF status ON auth_requests
    FOR EACH ROW EXECUTE FUNCTION audit_auth_requests();

CREATE FUNCTION audit_registrations() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM audit_append(NEW.app_id, 'registration.created', NEW.id,
            jsonb_build_object('userId', NEW.user_id, 'expiresAt', rfc3339(NEW.expires_at)));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM audit_append(NEW.app_id, 'registration.' || NEW.status, NEW.id,
            jsonb_build_object('deviceId', NEW.device_id));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OF status ON registrations
    FOR EACH ROW EXECUTE FUNCTION audit_registrations();

CREATE FUNCTION audit_devices() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM audit_append(NEW.app_id, 'device.linked', NEW.id,
            jsonb_build_object('userId', NEW.user_id, 'registrationId', NEW.registration_id,
                               'keySha256', encode(sha256(convert_to(NEW.public_jwk, 'UTF8')), 'hex')));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM audit_append(NEW.app_id, 'device.' || NEW.status, NEW.id,
            jsonb_build_object('userId', NEW.user_id));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OF status ON devices
    FOR EACH ROW EXECUTE FUNCTION audit_devices();

CREATE FUNCTION audit_applications() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM audit_append(NEW.id, 'application.created', NEW.id, jsonb_build_object('name', NEW.name));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM audit_append(NEW.id, 'application.' || NEW.status, NEW.id, '{}');
    ELSIF NEW.secret_hash IS DISTINCT FROM OLD.secret_hash THEN
        PERFORM audit_append(NEW.id, 'application.secret_rotated', NEW.id, '{}');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON applications
    FOR EACH ROW EXECUTE FUNCTION audit_applications();

CREATE FUNCTION audit_users() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.push_locked_until IS DISTINCT FROM OLD.push_locked_until THEN
        PERFORM audit_append(NEW.app_id, CASE WHEN NEW.push_locked_until IS NULL THEN 'user.push_unlocked'
                                              ELSE 'user.push_locked' END,
                             NEW.username, jsonb_build_object('until', rfc3339(NEW.push_locked_until)));
    END IF;
    IF NEW.otp_locked_until IS DISTINCT FROM OLD.otp_locked_until THEN
        PERFORM audit_append(NEW.app_id, CASE WHEN NEW.otp_locked_until IS NULL THEN 'user.otp_unlocked'
                                              ELSE 'user.otp_locked' END,
                             NEW.username, jsonb_build_object('until', rfc3339(NEW.otp_locked_until)));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER UPDATE OF push_locked_until, otp_locked_until ON users
    FOR EACH ROW EXECUTE FUNCTION audit_users();

CREATE FUNCTION audit_mfa() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.enabled IS DISTINCT FROM OLD.enabled OR NEW.channel IS DISTINCT FROM OLD.channel THEN
        PERFORM audit_append(u.app_id, CASE WHEN NEW.enabled THEN 'mfa.enabled' ELSE 'mfa.disabled' END,
                             u.username, jsonb_build_object('channel', NEW.channel))
           FROM users u WHERE u.id = NEW.user_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER UPDATE OF enabled, channel ON mfa
    FOR EACH ROW EXECUTE FUNCTION audit_mfa();
