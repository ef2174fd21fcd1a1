-- The per-application hourly budget of email/SMS codes (PUSHGATE_MFA_SEND_BUDGET_PER_HOUR,
-- docs/mfa.md). mfa/setup creates users on demand, so without it a leaked application
-- secret could send codes to any number of addresses and phones. Counted here, not in the
-- process, so that the budget holds however many instances share the database.
--
-- One row per application and clock hour (UTC): codes let through (sent) and refused.
-- Only the current hour is kept: taking from the budget deletes the application's older
-- rows (its own, through the primary key), and /metrics reads the current hour.
CREATE TABLE mfa_send_budget (
    application_id text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    hour           timestamptz NOT NULL,
    sent           integer NOT NULL DEFAULT 0,
    refused        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (application_id, hour)
);

-- The start of the current UTC hour, whatever the session's time zone.
CREATE FUNCTION mfa_budget_hour() RETURNS timestamptz
    LANGUAGE sql STABLE
    RETURN to_timestamp(floor(extract(epoch FROM now()) / 3600) * 3600);

-- Takes one code from p_app's budget of p_limit codes an hour. Returns 0 when taken, else
-- the seconds until the next hour (>= 1: Retry-After), counting the refusal. One
-- statement decides (the row lock of INSERT ... ON CONFLICT serialises concurrent takers,
-- also across instances), so the budget is never overdrawn.
CREATE FUNCTION mfa_send_budget_take(p_app text, p_limit integer) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    h timestamptz := mfa_budget_hour();
BEGIN
    DELETE FROM mfa_send_budget WHERE application_id = p_app AND hour < h;
    INSERT INTO mfa_send_budget AS b (application_id, hour, sent) VALUES (p_app, h, 1)
    ON CONFLICT (application_id, hour) DO UPDATE SET sent = b.sent + 1 WHERE b.sent < p_limit;
    IF FOUND THEN
        RETURN 0;
    END IF;
    UPDATE mfa_send_budget SET refused = refused + 1 WHERE application_id = p_app AND hour = h;
    RETURN greatest(1, ceil(extract(epoch FROM h + interval '1 hour' - now())))::integer;
END $$;
