"""The plans of the list functions (sql/041_lists.sql) on a million rows: what
docs/integration.md "Lists" shows. Not a test (no test_ prefix): a tool.

    python3 listsexplain.py        (PUSHGATED names the binary that migrates)

migrates a fresh database in a private PostgreSQL 15 cluster, fills two applications
with 1,000,000 registrations and 1,000,000 auth requests each (interleaved in time),
100,000 users each and 2,000,000 audit rows, ANALYZEs, then runs each
list function with auto_explain on its inner statement and prints the plans
(EXPLAIN ANALYZE, timing off: the row counts are the point, not this machine's speed).
"""
import sys

import harness

FILL = r"""
SET session_replication_role = replica;  -- no audit triggers while filling
INSERT INTO applications (id, name, secret_hash) VALUES
    ('a_bigapp0001', 'Big', repeat('0', 64)), ('a_otherapp01', 'Other', repeat('0', 64));
INSERT INTO users (app_id, username, created_at)
SELECT CASE WHEN g <= 100000 THEN 'a_bigapp0001' ELSE 'a_otherapp01' END,
       'user' || ((g - 1) % 100000 + 1), now() - g * interval '1 s'
  FROM generate_series(1, 200000) g;
CREATE TEMP TABLE fill AS
SELECT g, CASE g % 2 WHEN 0 THEN 'a_bigapp0001' ELSE 'a_otherapp01' END AS app,
       u0.id + (g % 2) * 100000 + (g / 2) % 100000 AS uid, 'user' || ((g / 2) % 100000 + 1) AS un,
       now() - g * interval '50 ms' AS t
  FROM generate_series(1, 2000000) g, (SELECT min(id) AS id FROM users) u0;
INSERT INTO registrations (id, app_id, user_id, token_hash, status, created_at, expires_at)
SELECT 'r_' || lpad(g::text, 12, '0'), app, uid, md5(g::text),
       CASE g / 2 % 10 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'completed' ELSE 'pending' END,
       t, t + interval '1 day'
  FROM fill;
INSERT INTO auth_requests (id, app_id, user_id, username, type, verification, async, status,
                           reason, created_at, expires_at)
SELECT 'q_' || lpad(g::text, 16, '0'), app, uid, un, 'authentication', 'none', false,
       CASE g / 2 % 10 WHEN 0 THEN 'denied' WHEN 1 THEN 'cancelled' ELSE 'accepted' END,
       CASE g / 2 % 10 WHEN 0 THEN 'user_denied' WHEN 1 THEN 'cancelled' END,
       t, t + interval '60 s'
  FROM fill;
INSERT INTO audit_log (app_id, event, subject, data, at)
SELECT app, CASE g % 8 WHEN 0 THEN 'auth.created' WHEN 2 THEN 'auth.accepted'
                       WHEN 4 THEN 'registration.created' WHEN 6 THEN 'user.otp_locked'
                       ELSE 'auth.created' END,
       CASE g % 8 WHEN 6 THEN un ELSE 'q_' || lpad(g::text, 16, '0') END, '{}', t
  FROM fill ORDER BY g DESC;
SET session_replication_role = origin;
ANALYZE;
"""

# (what, the call); {deep_reg} etc. are filled with a position ~999,900 rows in.
CASES = [
    ("registrations, first page of an application",
     "SELECT count(*) FROM registration_list('a_bigapp0001', NULL, NULL, NULL, NULL, 51)"),
    ("registrations, the page after row 999,900 (its cursor's position)",
     "SELECT count(*) FROM registration_list('a_bigapp0001', NULL, NULL, {deep_reg}, 51)"),
    ("registrations, status=cancelled (one stored status: one ordered range)",
     "SELECT count(*) FROM registration_list('a_bigapp0001', NULL, 'cancelled', NULL, NULL, 51)"),
    ("registrations, username (the user's range)",
     "SELECT count(*) FROM registration_list('a_bigapp0001', 'user42', NULL, NULL, NULL, 51)"),
    ("registrations, the admin's list of every application (the position of the first case)",
     "SELECT count(*) FROM registration_list(NULL, NULL, NULL, {deep_reg}, 51)"),
    ("auth, the page after row 999,900",
     "SELECT count(*) FROM auth_list('a_bigapp0001', NULL, NULL, NULL, {deep_auth}, 51)"),
    ("auth, status=denied (checked on the application's range, newest first)",
     "SELECT count(*) FROM auth_list('a_bigapp0001', NULL, 'denied', NULL, NULL, NULL, 51)"),
    ("auth, username and since",
     "SELECT count(*) FROM auth_list('a_bigapp0001', 'user42', NULL, "
     "list_us(now() - interval '1 day'), NULL, NULL, 51)"),
    ("users, q=user4242 (the prefix's range, only its matches sorted)",
     "SELECT count(*) FROM user_list('a_bigapp0001', 'user4242', NULL, NULL, 51)"),
    ("users, the page after row 99,900",
     "SELECT count(*) FROM user_list('a_bigapp0001', NULL, {deep_user}, 51)"),
    ("audit, the admin's list of every application, the page after row 1,999,900",
     "SELECT count(*) FROM audit_list(NULL, NULL, NULL, NULL, {deep_audit}, 51)"),
    ("audit, type=auth.accepted",
     "SELECT count(*) FROM audit_list('a_bigapp0001', 'auth.accepted', NULL, NULL, NULL, NULL, 51)"),
    ("audit, username=user42 (its subjects: the username and the user's object ids)",
     "SELECT count(*) FROM audit_list('a_bigapp0001', NULL, 'user42', NULL, NULL, NULL, 51)"),
]

DEEP = {
    "deep_reg": "SELECT list_us(created_at), id FROM registrations WHERE app_id = 'a_bigapp0001' "
                "ORDER BY created_at DESC, id DESC OFFSET 999900 LIMIT 1",
    "deep_auth": "SELECT list_us(created_at), id FROM auth_requests WHERE app_id = 'a_bigapp0001' "
                 "ORDER BY created_at DESC, id DESC OFFSET 999900 LIMIT 1",
    "deep_user": "SELECT list_us(created_at), id::text FROM users WHERE app_id = 'a_bigapp0001' "
                 "ORDER BY created_at DESC, id DESC OFFSET 99900 LIMIT 1",
    "deep_audit": "SELECT list_us(at), id::text FROM audit_log ORDER BY at DESC, id DESC "
                  "OFFSET 1999900 LIMIT 1",
}


def main():
    import psycopg2
    pg = harness.PgCluster()
    try:
        db = pg.create_database()
        harness.Server(db).cli_run("migrate", check=True)
        conn = psycopg2.connect(db)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(FILL)
        pos = {}
        for k, sql in DEEP.items():
            cur.execute(sql)
            at, rid = cur.fetchone()
            pos[k] = f"{at}, '{rid}'"
        cur.execute("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
                    "SET auto_explain.log_nested_statements = on; "
                    "SET auto_explain.log_analyze = on; SET auto_explain.log_timing = off; "
                    "SET auto_explain.log_level = notice; SET client_min_messages = notice")
        for what, call in CASES:
            del conn.notices[:]
            cur.execute(call.format(**pos))
            inner = [n for n in conn.notices if "registration_json" in n or "auth_view(a)" in n
                     or "user_list_json" in n or "audit_username" in n]
            print(f"-- {what}\n{call.format(**pos)};")
            for n in inner[:1]:
                print(n.split("\n", 1)[1].rstrip() if "\n" in n else n)
            print()
    finally:
        pg.cleanup()


if __name__ == "__main__":
    sys.exit(main())
