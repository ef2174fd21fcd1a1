-- Sealing the audit log row by row (007) rewrote every audit row once more: an
-- UPDATE per row, a second tuple, more WAL. Seal contiguous blocks instead: one
-- audit_seals row per block of audit_log ids (prev_last_id, last_id], with
--   hash = SHA-256(prev_hash || SHA-256(row_1) || ... || SHA-256(row_n))
-- over the rows of the block in id order. Changing, deleting or inserting a
-- row inside a sealed block changes its hash or count; the audit_log rows
-- themselves are never written again.
--
-- A block ends before the first row younger than the seal age, so it holds
-- only rows whose transactions finished long ago: every statement of ours is
-- one transaction and runs under a 5 s statement_timeout (server/db.c), far
-- below the default seal age of 10 s.
DROP FUNCTION audit_seal(integer, integer);
DROP FUNCTION audit_hash(bytea, audit_log);
DROP INDEX audit_log_unsealed;
DROP FUNCTION audit_row_bytes(audit_log);
ALTER TABLE audit_log DROP COLUMN seq, DROP COLUMN prev_hash, DROP COLUMN hash;

CREATE TABLE audit_seals (
    seq        bigint PRIMARY KEY,
    last_id    bigint NOT NULL UNIQUE,
    rows       integer NOT NULL,
    prev_hash  bytea,
    hash       bytea NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now()
);

-- What is hashed of a row (pushgated audit verify builds the same bytes in C).
CREATE FUNCTION audit_row_bytes(a audit_log) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    RETURN convert_to(concat_ws(E'\x1f', a.id::text,
                                to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                                COALESCE(a.app_id, ''), a.event, a.subject, a.data::text), 'UTF8');

-- Seals the next block (at most p_limit rows at least p_age_s seconds old);
-- returns its row count. One session at a time; the others return 0.
CREATE FUNCTION audit_seal(p_limit integer, p_age_s integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    head audit_seals;
    lo bigint;
    young bigint;
    hi bigint;
    n integer;
    digest bytea;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7350002) THEN
        RETURN 0;
    END IF;
    SELECT * INTO head FROM audit_seals ORDER BY seq DESC LIMIT 1;
    lo := COALESCE(head.last_id, 0);
    SELECT min(id) INTO young FROM audit_log
     WHERE id > lo AND at >= clock_timestamp() - make_interval(secs => p_age_s);
    SELECT max(b.id), count(*), string_agg(sha256(audit_row_bytes(b)), ''::bytea ORDER BY b.id)
      INTO hi, n, digest
      FROM (SELECT * FROM audit_log a
             WHERE a.id > lo AND (young IS NULL OR a.id < young)
             ORDER BY a.id LIMIT p_limit) b;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO audit_seals (seq, last_id, rows, prev_hash, hash)
    VALUES (COALESCE(head.seq, 0) + 1, hi, n, head.hash,
            sha256(COALESCE(head.hash, ''::bytea) || digest));
    RETURN n;
END $$;
