-- One-time-code factors (api.md 8): TOTP, email and SMS codes, backup codes, lockout.
--
-- Every check-then-consume is one statement: the functions below take the user's row
-- lock (users FOR UPDATE) first, so concurrent calls for one user -- from any session or
-- instance -- run one after the other, and each consume is additionally a conditional
-- UPDATE/DELETE that succeeds at most once. Secrets never appear here in clear: TOTP
-- seeds are sealed (AES-256-GCM, aad "totp:<appId>:<username>"), email/SMS codes are
-- HMAC-SHA256 under a key derived from the master key, backup codes are scrypt hashes.
-- The server computes those values; SQL only compares and consumes them.
CREATE TABLE mfa (
    user_id                    bigint PRIMARY KEY REFERENCES users (id),
    enabled                    boolean NOT NULL DEFAULT false,
    channel                    text CHECK (channel IN ('totp', 'email', 'sms')),
    destination                text,        -- address or E.164 number of the channel in force
    destination_masked         text,
    totp_sealed                bytea,
    totp_last_step             bigint,      -- replay guard: a step <= this is refused
    generation                 integer NOT NULL DEFAULT 0, -- bumped on enable and disable
    code_mac                   bytea,       -- the newest email/SMS code of the channel in force
    code_expires_at            timestamptz,
    backup_salt                bytea,       -- one salt per generated set of backup codes
    enabled_at                 timestamptz,
    last_used_at               timestamptz,
    -- a setup waiting for /enable; the channel above stays in force until then
    pending_id                 bigint NOT NULL DEFAULT 0,
    pending_channel            text CHECK (pending_channel IN ('totp', 'email', 'sms')),
    pending_destination        text,
    pending_destination_masked text,
    pending_totp_sealed        bytea,
    pending_code_mac           bytea,
    pending_expires_at         timestamptz,
    req_login                  boolean NOT NULL DEFAULT true,
    req_withdrawal             boolean NOT NULL DEFAULT true,
    req_device_removal         boolean NOT NULL DEFAULT true
);

CREATE TABLE mfa_backup_codes (
    user_id bigint NOT NULL REFERENCES users (id),
    hash    bytea NOT NULL,
    PRIMARY KEY (user_id, hash)
);

-- Codes sent by email or SMS, for the send budget (30 s apart, 5 an hour).
CREATE TABLE mfa_sends (
    user_id bigint NOT NULL REFERENCES users (id),
    sent_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_sends_user ON mfa_sends (user_id, sent_at);

-- What a handler needs before it can compute a candidate (decrypt the seed, hash a
-- backup code with the user's salt). Read-only: every decision is re-checked by the
-- consuming function.
CREATE FUNCTION mfa_state(p_app text, p_username text)
RETURNS TABLE (user_id bigint, email text, enabled boolean, channel text, destination text,
               totp_sealed bytea, generation integer, backup_salt bytea, pending_id bigint,
               pending_channel text, pending_totp_sealed bytea, lock_left integer)
LANGUAGE sql STABLE AS $$
SELECT u.id, u.email, COALESCE(m.enabled, false), m.channel, m.destination,
       m.totp_sealed, COALESCE(m.generation, 0), m.backup_salt, COALESCE(m.pending_id, 0),
       CASE WHEN m.pending_expires_at > now() THEN m.pending_channel END,
       m.pending_totp_sealed,
       CASE WHEN u.otp_locked_until > now()
            THEN GREATEST(1, ceil(extract(epoch FROM u.otp_locked_until - now())))::integer
            ELSE 0 END
  FROM users u LEFT JOIN mfa m ON m.user_id = u.id
 WHERE u.app_id = p_app AND u.username = p_username
$$;

-- Seconds the user stays locked out, or 0. An expired lock is cleared here together
-- with its failure count, so the next five failures start afresh.
CREATE FUNCTION mfa_lock_left(p_uid bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
BEGIN
    SELECT otp_locked_until INTO t FROM users WHERE id = p_uid;
    IF t IS NULL THEN
        RETURN 0;
    ELSIF t > now() THEN
        RETURN GREATEST(1, ceil(extract(epoch FROM t - now())))::integer;
    END IF;
    UPDATE users SET otp_locked_until = NULL, otp_failures = 0 WHERE id = p_uid;
    RETURN 0;
END $$;

-- Counts one failure; the fifth consecutive one locks the user for 15 minutes.
-- Returns the attempts left before the lock (0: locked now).
CREATE FUNCTION mfa_fail(p_uid bigint) RETURNS integer
LANGUAGE sql AS $$
UPDATE users SET otp_failures = otp_failures + 1,
       otp_locked_until = CASE WHEN otp_failures + 1 >= 5
                               THEN now() + interval '15 minutes' END
 WHERE id = p_uid
RETURNING GREATEST(0, 5 - otp_failures)
$$;

CREATE FUNCTION mfa_succeed(p_uid bigint) RETURNS void
LANGUAGE sql AS $$
UPDATE users SET otp_failures = 0, otp_locked_until = NULL WHERE id = p_uid
$$;

-- The send budget: returns the seconds to wait before another code may be sent to this
-- user (by setup or challenge, any channel), or 0 after recording this send. The caller
-- holds the user's row lock, so two concurrent sends cannot both pass.
CREATE FUNCTION mfa_take_send(p_uid bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    newest timestamptz;
    oldest timestamptz;
    n integer;
BEGIN
    DELETE FROM mfa_sends WHERE user_id = p_uid AND sent_at <= now() - interval '1 hour';
    SELECT max(sent_at), min(sent_at), count(*) INTO newest, oldest, n
      FROM mfa_sends WHERE user_id = p_uid;
    IF newest > now() - interval '30 seconds' THEN
        RETURN GREATEST(1, ceil(extract(epoch FROM newest + interval '30 seconds' - now())));
    ELSIF n >= 5 THEN
        RETURN GREATEST(1, ceil(extract(epoch FROM oldest + interval '1 hour' - now())));
    END IF;
    INSERT INTO mfa_sends (user_id) VALUES (p_uid);
    RETURN 0;
END $$;

-- POST .../mfa/setup: creates the user if needed and records a pending setup (replacing
-- an earlier one). For email/SMS p_code_mac is the new code's HMAC and the send budget
-- applies; p_mail is the sealed message for the outbox (email only).
CREATE FUNCTION mfa_setup(p_app text, p_username text, p_channel text, p_dest text,
                          p_masked text, p_totp_sealed bytea, p_code_mac bytea, p_mail bytea)
RETURNS TABLE (outcome text, expires_at text, retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
    wait integer;
    exp timestamptz := now() + interval '10 minutes';
BEGIN
    INSERT INTO users (app_id, username) VALUES (p_app, p_username)
    ON CONFLICT (app_id, username) DO UPDATE SET username = EXCLUDED.username
    RETURNING id INTO uid; -- also takes the row lock
    IF p_code_mac IS NOT NULL THEN
        wait := mfa_take_send(uid);
        IF wait > 0 THEN
            RETURN QUERY SELECT 'rate_limited'::text, NULL::text, wait;
            RETURN;
        END IF;
    END IF;
    INSERT INTO mfa (user_id) VALUES (uid) ON CONFLICT DO NOTHING;
    UPDATE mfa SET pending_id = pending_id + 1, pending_channel = p_channel,
           pending_destination = p_dest, pending_destination_masked = p_masked,
           pending_totp_sealed = p_totp_sealed, pending_code_mac = p_code_mac,
           pending_expires_at = exp
     WHERE user_id = uid;
    IF p_mail IS NOT NULL THEN
        INSERT INTO outbox (kind, recipient, sealed, expires_at)
        VALUES ('mfa_code', p_dest, p_mail, exp);
    END IF;
    RETURN QUERY SELECT 'ok'::text, rfc3339(exp), NULL::integer;
END $$;

-- POST .../mfa/enable. p_pending_id is the setup the caller checked the code against
-- (p_step: the TOTP step it matched; p_mac: the HMAC of the submitted email/SMS code).
-- On success the pending channel replaces the one in force, and p_hashes (scrypt with
-- p_salt) replace every earlier backup code.
CREATE FUNCTION mfa_enable(p_app text, p_username text, p_pending_id bigint, p_step bigint,
                           p_mac bytea, p_salt bytea, p_hashes bytea[])
RETURNS TABLE (outcome text, channel text, attempts_remaining integer, retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
    m mfa;
    wait integer;
BEGIN
    SELECT id INTO uid FROM users WHERE app_id = p_app AND username = p_username FOR UPDATE;
    IF uid IS NULL THEN
        RETURN QUERY SELECT 'user_not_found'::text, NULL::text, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    SELECT * INTO m FROM mfa WHERE user_id = uid;
    IF m.pending_channel IS NULL OR m.pending_expires_at <= now() THEN
        RETURN QUERY SELECT 'no_pending_setup'::text, NULL::text, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    wait := mfa_lock_left(uid);
    IF wait > 0 THEN
        RETURN QUERY SELECT 'locked'::text, NULL::text, NULL::integer, wait;
        RETURN;
    END IF;
    IF m.pending_id <> p_pending_id
       OR NOT ((m.pending_channel = 'totp' AND p_step IS NOT NULL)
               OR (m.pending_channel <> 'totp' AND m.pending_code_mac = p_mac)) THEN
        RETURN QUERY SELECT 'invalid_code'::text, NULL::text, mfa_fail(uid), NULL::integer;
        RETURN;
    END IF;
    UPDATE mfa SET enabled = true, channel = pending_channel,
           destination = pending_destination, destination_masked = pending_destination_masked,
           totp_sealed = pending_totp_sealed,
           totp_last_step = CASE WHEN pending_channel = 'totp' THEN p_step END,
           generation = generation + 1, code_mac = NULL, code_expires_at = NULL,
           backup_salt = p_salt, enabled_at = now(),
           pending_channel = NULL, pending_destination = NULL,
           pending_destination_masked = NULL, pending_totp_sealed = NULL,
           pending_code_mac = NULL, pending_expires_at = NULL
     WHERE user_id = uid;
    DELETE FROM mfa_backup_codes WHERE user_id = uid;
    INSERT INTO mfa_backup_codes (user_id, hash) SELECT uid, h FROM unnest(p_hashes) h;
    PERFORM mfa_succeed(uid);
    RETURN QUERY SELECT 'ok'::text, m.pending_channel, NULL::integer, NULL::integer;
END $$;

-- Tries the caller's candidates against the channel in force, consuming what matches:
-- the TOTP step (if newer than the last accepted one and the seed is still generation
-- p_gen), the newest unexpired email/SMS code, or one backup code. Returns the method
-- that matched, or NULL. The caller holds the user's row lock.
CREATE FUNCTION mfa_consume(p_uid bigint, p_gen integer, p_step bigint, p_mac bytea,
                            p_hash bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    ch text;
BEGIN
    IF p_step IS NOT NULL THEN
        UPDATE mfa SET totp_last_step = p_step
         WHERE user_id = p_uid AND channel = 'totp' AND generation = p_gen
           AND (totp_last_step IS NULL OR totp_last_step < p_step);
        IF FOUND THEN
            RETURN 'totp';
        END IF;
    END IF;
    IF p_mac IS NOT NULL THEN
        UPDATE mfa SET code_mac = NULL, code_expires_at = NULL
         WHERE user_id = p_uid AND channel IN ('email', 'sms') AND code_mac = p_mac
           AND code_expires_at > now()
        RETURNING channel INTO ch;
        IF FOUND THEN
            RETURN ch;
        END IF;
    END IF;
    IF p_hash IS NOT NULL THEN
        DELETE FROM mfa_backup_codes WHERE user_id = p_uid AND hash = p_hash;
        IF FOUND THEN
            RETURN 'backup_code';
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- POST .../mfa/verify, /disable and /backup-codes in one statement each:
-- p_action 'verify' | 'disable' | 'regenerate' (new p_salt/p_hashes) | 'force_disable'
-- (an admin without a code: no check, no lock).
CREATE FUNCTION mfa_check(p_app text, p_username text, p_action text, p_gen integer,
                          p_step bigint, p_mac bytea, p_hash bytea, p_salt bytea,
                          p_hashes bytea[])
RETURNS TABLE (outcome text, method text, backup_remaining integer,
               attempts_remaining integer, retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
    wait integer;
    how text;
BEGIN
    SELECT id INTO uid FROM users WHERE app_id = p_app AND username = p_username FOR UPDATE;
    IF uid IS NULL THEN
        RETURN QUERY SELECT 'user_not_found'::text, NULL::text, NULL::integer, NULL::integer,
                            NULL::integer;
        RETURN;
    ELSIF NOT EXISTS (SELECT 1 FROM mfa WHERE user_id = uid AND enabled) THEN
        RETURN QUERY SELECT 'mfa_not_enabled'::text, NULL::text, NULL::integer, NULL::integer,
                            NULL::integer;
        RETURN;
    END IF;
    IF p_action <> 'force_disable' THEN
        wait := mfa_lock_left(uid);
        IF wait > 0 THEN
            RETURN QUERY SELECT 'locked'::text, NULL::text, NULL::integer, NULL::integer, wait;
            RETURN;
        END IF;
        how := mfa_consume(uid, p_gen, p_step, p_mac, p_hash);
        IF how IS NULL THEN
            RETURN QUERY SELECT 'invalid_code'::text, NULL::text, NULL::integer, mfa_fail(uid),
                                NULL::integer;
            RETURN;
        END IF;
        PERFORM mfa_succeed(uid);
        UPDATE mfa SET last_used_at = now() WHERE user_id = uid;
    END IF;
    IF p_action IN ('disable', 'force_disable') THEN
        UPDATE mfa SET enabled = false, channel = NULL, destination = NULL,
               destination_masked = NULL, totp_sealed = NULL, totp_last_step = NULL,
               generation = generation + 1, code_mac = NULL, code_expires_at = NULL,
               backup_salt = NULL, enabled_at = NULL, pending_channel = NULL,
               pending_destination = NULL, pending_destination_masked = NULL,
               pending_totp_sealed = NULL, pending_code_mac = NULL, pending_expires_at = NULL
         WHERE user_id = uid;
        DELETE FROM mfa_backup_codes WHERE user_id = uid;
    ELSIF p_action = 'regenerate' THEN
        DELETE FROM mfa_backup_codes WHERE user_id = uid;
        INSERT INTO mfa_backup_codes (user_id, hash) SELECT uid, h FROM unnest(p_hashes) h;
        UPDATE mfa SET backup_salt = p_salt WHERE user_id = uid;
    END IF;
    RETURN QUERY SELECT 'ok'::text, how,
        (SELECT count(*)::integer FROM mfa_backup_codes WHERE user_id = uid),
        NULL::integer, NULL::integer;
END $$;

-- POST .../mfa/challenge for email/SMS: a fresh code (the newest replaces any earlier
-- one) for the channel in force, if it is still the channel and destination the caller
-- read (else 'changed'), within the send budget. p_mail: the sealed message (email).
CREATE FUNCTION mfa_challenge(p_app text, p_username text, p_channel text, p_dest text,
                              p_mac bytea, p_mail bytea)
RETURNS TABLE (outcome text, destination text, expires_at text, retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
    m mfa;
    wait integer;
    exp timestamptz := now() + interval '10 minutes';
BEGIN
    SELECT id INTO uid FROM users WHERE app_id = p_app AND username = p_username FOR UPDATE;
    SELECT * INTO m FROM mfa WHERE user_id = uid;
    IF uid IS NULL THEN
        RETURN QUERY SELECT 'user_not_found'::text, NULL::text, NULL::text, NULL::integer;
        RETURN;
    ELSIF m.enabled IS NOT TRUE THEN
        RETURN QUERY SELECT 'mfa_not_enabled'::text, NULL::text, NULL::text, NULL::integer;
        RETURN;
    ELSIF m.channel IS DISTINCT FROM p_channel OR m.destination IS DISTINCT FROM p_dest THEN
        RETURN QUERY SELECT 'changed'::text, NULL::text, NULL::text, NULL::integer;
        RETURN;
    END IF;
    wait := mfa_lock_left(uid);
    IF wait > 0 THEN
        RETURN QUERY SELECT 'locked'::text, NULL::text, NULL::text, wait;
        RETURN;
    END IF;
    wait := mfa_take_send(uid);
    IF wait > 0 THEN
        RETURN QUERY SELECT 'rate_limited'::text, NULL::text, NULL::text, wait;
        RETURN;
    END IF;
    UPDATE mfa SET code_mac = p_mac, code_expires_at = exp WHERE user_id = uid;
    IF p_mail IS NOT NULL THEN
        INSERT INTO outbox (kind, recipient, sealed, expires_at)
        VALUES ('mfa_code', p_dest, p_mail, exp);
    END IF;
    RETURN QUERY SELECT 'ok'::text, m.destination_masked, rfc3339(exp), NULL::integer;
END $$;

-- GET .../mfa/status (api.md 8). "locked" covers the OTP lockout and a push fraud lock.
CREATE FUNCTION mfa_status_json(p_app text, p_username text) RETURNS json
LANGUAGE sql STABLE AS $$
SELECT json_build_object(
    'username', u.username,
    'mfaEnabled', COALESCE(m.enabled, false),
    'channel', CASE WHEN m.enabled THEN m.channel END,
    'destination', CASE WHEN m.enabled THEN m.destination_masked END,
    'backupCodesRemaining',
        (SELECT count(*)::integer FROM mfa_backup_codes b WHERE b.user_id = u.id),
    'pushDevices',
        (SELECT count(*)::integer FROM devices d WHERE d.user_id = u.id AND d.status = 'active'),
    'locked', lk.until IS NOT NULL,
    'lockedUntil', rfc3339(lk.until),
    'lastUsedAt', rfc3339(m.last_used_at),
    'requirements', json_build_object('login', COALESCE(m.req_login, true),
                                      'withdrawal', COALESCE(m.req_withdrawal, true),
                                      'deviceRemoval', COALESCE(m.req_device_removal, true)))
  FROM users u
  LEFT JOIN mfa m ON m.user_id = u.id
  CROSS JOIN LATERAL (SELECT GREATEST(
                          CASE WHEN u.otp_locked_until > now() THEN u.otp_locked_until END,
                          CASE WHEN u.push_locked_until > now() THEN u.push_locked_until END)
                          AS until) lk
 WHERE u.app_id = p_app AND u.username = p_username
$$;

-- PUT .../mfa/requirements: NULL leaves a flag as it is. NULL result: no such user.
CREATE FUNCTION mfa_set_requirements(p_app text, p_username text, p_login boolean,
                                     p_withdrawal boolean, p_device_removal boolean)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
    m mfa;
BEGIN
    SELECT id INTO uid FROM users WHERE app_id = p_app AND username = p_username FOR UPDATE;
    IF uid IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO mfa (user_id) VALUES (uid) ON CONFLICT DO NOTHING;
    UPDATE mfa SET req_login = COALESCE(p_login, req_login),
           req_withdrawal = COALESCE(p_withdrawal, req_withdrawal),
           req_device_removal = COALESCE(p_device_removal, req_device_removal)
     WHERE user_id = uid RETURNING * INTO m;
    RETURN json_build_object('login', m.req_login, 'withdrawal', m.req_withdrawal,
                             'deviceRemoval', m.req_device_removal);
END $$;
