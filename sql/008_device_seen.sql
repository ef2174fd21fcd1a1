-- A device long-polls all day: recording last_seen_at on every poll made every
-- poll a write (and a WAL flush). Record it at most every 30 seconds instead;
-- lastSeenAt is accurate to 30 s.
CREATE OR REPLACE FUNCTION device_touch(p_device text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    UPDATE devices SET last_seen_at = now()
     WHERE id = p_device AND (last_seen_at IS NULL OR last_seen_at < now() - interval '30 seconds');
    SELECT status INTO st FROM devices WHERE id = p_device;
    RETURN st;
END $$;

CREATE OR REPLACE FUNCTION device_challenges(p_device text)
RETURNS TABLE (device_status text, request_id text, app_id text, app_name text, username text,
               type text, message text, context json, transaction json, verification text,
               nonce text, iat bigint, exp bigint)
LANGUAGE plpgsql AS $$
DECLARE
    dstatus text := device_touch(p_device);
BEGIN
    IF dstatus IS NULL OR dstatus <> 'active' THEN
        RETURN QUERY SELECT COALESCE(dstatus, 'unknown'), NULL, NULL, NULL, NULL, NULL, NULL,
                            NULL::json, NULL::json, NULL, NULL, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT 'active'::text, a.id, ap.id, ap.name, u.username, a.type, a.message, a.context,
               a.transaction, a.verification, c.nonce,
               extract(epoch FROM a.created_at)::bigint, extract(epoch FROM a.expires_at)::bigint
          FROM auth_challenges c
          JOIN auth_requests a ON a.id = c.request_id
          JOIN users u ON u.id = a.user_id
          JOIN applications ap ON ap.id = a.app_id
         WHERE c.device_id = p_device AND a.status = 'pending' AND a.expires_at > now()
         ORDER BY a.created_at;
END $$;
