-- The audit chain, keyed (replaces 007's plain SHA-256 seals).
--
-- 007 sealed blocks with SHA-256, which anyone who can write SQL can recompute:
-- edit a row, delete the seals, seal again, and `audit verify` said ok. Now every
-- MAC is HMAC-SHA256 under a key derived (HKDF, info "pushgate audit chain v1") from
-- the master key in PUSHGATE_KEY_FILE. The key never reaches the database: the
-- sealer (server/ops/audit.c) and `pushgated audit verify` compute the MACs in C
-- (server/ops/auditchain.c); the database only stores them.
--
-- What is chained. Each audit row, once sealed, carries
--   seal_mac = HMAC(k, previous sealed row's seal_mac (32 zero bytes first) || row bytes)
-- (row bytes: id, at, app_id, event, subject, data, each length-prefixed), so the
-- first row that was edited, inserted or follows a deleted one is named. Rows are
-- chained in seal order: block by block (seal_seq), by id within a block. Each
-- audit_seals row closes a block:
--   mac = HMAC(k, "block" || seq || rows || prev block's mac || last row's seal_mac)
-- so a block's rows cannot be dropped from its end, nor blocks re-linked.
--
-- What is sealed: only rows that can no longer change. The sealer reads (READ
-- COMMITTED) rows with seal_seq IS NULL older than PUSHGATE_AUDIT_SEAL_AGE: a row it
-- can see is committed, hence final. A row written by a transaction still open is
-- invisible to it; when that transaction commits, the row simply goes into a later
-- block -- blocks are not id ranges, so a late commit can never land inside (and
-- break) a block sealed before it. audit_seal_store() marks the rows and appends the
-- block in one transaction, only if the chain's head is still the one the MACs were
-- computed from (several instances may run the sealer).
--
-- An existing database's old chain: if audit_seals holds seals, it is kept as
-- audit_seals_v1 until `pushgated migrate` has verified it (plain SHA-256, in C) and
-- re-sealed its blocks under the key (server/cli/cli_audit.c, audit_rekey); the
-- sealer waits meanwhile. An empty audit_seals is simply replaced.
ALTER TABLE audit_log ADD COLUMN seal_seq bigint, ADD COLUMN seal_mac bytea;
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE seal_seq IS NULL;
CREATE INDEX audit_log_seal_seq ON audit_log (seal_seq, id) WHERE seal_seq IS NOT NULL;

DROP FUNCTION IF EXISTS audit_seal(integer, integer);
DROP FUNCTION IF EXISTS audit_row_bytes(audit_log);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_seals) THEN
        ALTER TABLE audit_seals RENAME TO audit_seals_v1;
        ALTER TABLE audit_seals_v1 RENAME CONSTRAINT audit_seals_pkey TO audit_seals_v1_pkey;
        ALTER TABLE audit_seals_v1 RENAME CONSTRAINT audit_seals_last_id_key
            TO audit_seals_v1_last_id_key;
    ELSE
        DROP TABLE audit_seals;
    END IF;
END $$;

CREATE TABLE audit_seals (
    seq        bigint PRIMARY KEY,
    rows       integer NOT NULL,
    first_id   bigint NOT NULL,
    last_id    bigint NOT NULL,
    prev_mac   bytea,
    row_mac    bytea NOT NULL,  -- the block's last row's seal_mac: where the chain goes on
    mac        bytea NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now()
);

-- Appends block p_seq after the head p_prev (NULL: the first block) and marks its
-- rows (ids in order, their seal_macs as hex). Returns the rows sealed, or 0 when
-- the head moved meanwhile (another instance sealed first: the caller tries again).
-- Raises when a row is gone or already sealed, which rolls the whole block back.
CREATE FUNCTION audit_seal_store(p_seq bigint, p_prev bytea, p_row_mac bytea, p_mac bytea,
                                 p_ids bigint[], p_macs text[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    head audit_seals;
    n integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7350002);
    IF to_regclass('audit_seals_v1') IS NOT NULL THEN
        RETURN 0;  -- the old chain is not re-keyed yet
    END IF;
    SELECT * INTO head FROM audit_seals ORDER BY seq DESC LIMIT 1;
    IF COALESCE(head.seq, 0) + 1 <> p_seq OR head.mac IS DISTINCT FROM p_prev THEN
        RETURN 0;
    END IF;
    UPDATE audit_log a SET seal_seq = p_seq, seal_mac = decode(m.mac, 'hex')
      FROM unnest(p_ids, p_macs) AS m(id, mac)
     WHERE a.id = m.id AND a.seal_seq IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(p_ids) THEN
        RAISE EXCEPTION 'audit rows changed while sealing (% of % marked)', n, cardinality(p_ids);
    END IF;
    INSERT INTO audit_seals (seq, rows, first_id, last_id, prev_mac, row_mac, mac)
    VALUES (p_seq, n, p_ids[1], p_ids[n], p_prev, p_row_mac, p_mac);
    RETURN n;
END $$;
