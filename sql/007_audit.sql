-- Tamper-evident audit log.
--
-- (Superseded in part by 020_audit_keyed.sql: the seals are now HMAC chains keyed by
-- a secret derived from the master key, computed in C; read that file's header.)
--
-- Triggers append one row per security-relevant change, in the same transaction,
-- whatever code path made it. One instance at a time (server/audit.c) seals the
-- rows in blocks: one audit_seals row per block of audit_log ids
-- (prev_last_id, last_id], with
--   hash = SHA-256(prev_hash || SHA-256(row_1) || ... || SHA-256(row_n))
-- over the block's rows in id order. Changing, deleting or inserting a row inside
-- a sealed block changes its hash or count (`pushgated audit verify`); the audit
-- rows themselves are never written again.
--
-- A block ends before the first row younger than the seal age, so it holds only
-- rows whose transactions finished long ago: every statement of ours is one
-- transaction and runs under a 5 s statement_timeout (server/db.c), far below the
-- default seal age of 10 s. No secret is ever written here: ids, statuses and
-- reasons only.
CREATE TABLE audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    app_id    text,
    event     text NOT NULL,
    subject   text NOT NULL,
    data      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE audit_seals (
    seq        bigint PRIMARY KEY,
    last_id    bigint NOT NULL UNIQUE,
    rows       integer NOT NULL,
    prev_hash  bytea,
    hash       bytea NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now()
);

-- audit_row_bytes() and audit_seal(), the plain SHA-256 sealer, were dropped by
-- 020_audit_keyed.sql: the chain is now keyed and computed in C.

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
        INSERT INTO audit_log (app_id, event, subject, data)
        VALUES (NEW.app_id, 'auth.created', NEW.id,
                jsonb_build_object('userId', NEW.user_id, 'type', NEW.type,
                                   'verification', NEW.verification,
                                   'expiresAt', rfc3339(NEW.expires_at)));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO audit_log (app_id, event, subject, data)
        VALUES (NEW.app_id, 'auth.' || NEW.status, NEW.id,
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
