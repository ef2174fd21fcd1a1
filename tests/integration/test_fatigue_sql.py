"""auth_create() and auth_decide() driven in SQL: the push-fatigue rules
(sql/008_lean_auth.sql) and the batch functions of group commit (sql/009_batches.sql).

The HTTP tests (test_push.py) show the first strike; doubling, the reset on accept and the
rules for cancelled, revoked and expired requests need request histories that are minutes
old, so this test writes them directly: each request records the run of denied/expired
requests before it, and auth_create() carries the run on from the user's latest request.
Backoff: 10 s x 2^(n-1), capped (here at 60 s).

A batch runs its items one after another in one transaction; each item must get exactly
the outcome it would have had alone, in arrival order, and its rows must carry its index.
An answer must carry chal, the SHA-256 of the stored challenge JWS (sql/030): evidence()
stores a stand-in JWS for a challenge and returns a stand-in response naming its hash."""
import hashlib
import json

import device
import harness


class SqlBase(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.class_server(start=False)
        s.cli_run("migrate", check=True)
        cls.app = s.create_app("Fatigue")["applicationId"]
        cls.db = cls.db_url.rsplit("/", 1)[1]
        cls.n = 0

    def sql(self, text):
        return self.pg.psql(text, db=self.db).strip()

    def new_user(self, devices=1):
        """A user with devices d_<user>, d_<user>_2, ..."""
        type(self).n += 1
        user = f"{self.prefix}{self.n}"
        self.sql(f"INSERT INTO users (app_id, username, email) "
                 f"VALUES ('{self.app}', '{user}', 'f@x.invalid')")
        for i in range(1, devices + 1):
            dev = f"d_{user}" + (f"_{i}" if i > 1 else "")
            self.sql(f"""
                INSERT INTO registrations (id, app_id, user_id, email, token_hash, status, expires_at)
                  SELECT 'r_{dev}', '{self.app}', id, email, 'h_{dev}', 'completed', now() + interval '1 day'
                    FROM users WHERE username = '{user}';
                INSERT INTO devices (id, app_id, user_id, registration_id, name, public_jwk)
                  SELECT '{dev}', '{self.app}', id, 'r_{dev}', 'phone', '{{}}'
                    FROM users WHERE username = '{user}';""")
        return user

    def create(self, user, request_id=None, verification="none", code=None):
        """(outcome, retry_after) of a new request; its id is q_<user>_<k> unless given."""
        self.k = getattr(self, "k", 0) + 1
        rid = request_id or f"q_{user}_{self.k}"
        c = f"'{code}'" if code else "NULL"
        out = self.sql(f"""SELECT outcome, retry_after FROM auth_create('{self.app}', '{user}',
            '{rid}', 'authentication', NULL, NULL, NULL, '{verification}', {c}, true, 60,
            'self', 10, 60)""")
        outcome, retry = out.split("|")
        return outcome, int(retry) if retry else None

    def end_latest(self, user, status, reason=None, ago=0):
        """The user's latest request ended `ago` seconds ago with this status."""
        r = f"'{reason}'" if reason else "NULL"
        self.sql(f"""UPDATE auth_requests SET status = '{status}', reason = {r},
                     decided_at = now() - interval '{ago} seconds'
                     WHERE id = (SELECT id FROM auth_requests WHERE username = '{user}'
                                 ORDER BY created_at DESC LIMIT 1)""")

    def age_latest(self, user, seconds):
        """Move the latest request's end `seconds` into the past."""
        self.sql(f"""UPDATE auth_requests SET decided_at = decided_at - interval '{seconds} seconds',
                     expires_at = expires_at - interval '{seconds} seconds'
                     WHERE id = (SELECT id FROM auth_requests WHERE username = '{user}'
                                 ORDER BY created_at DESC LIMIT 1)""")


class FatigueSql(SqlBase):
    prefix = "fatigue"

    def assertRetry(self, got, low, high):
        self.assertEqual(got[0], "rate_limited", got)
        self.assertTrue(low <= got[1] <= high, got)

    def test_pending_request_blocks_the_next(self):
        user = self.new_user()
        self.assertEqual(self.create(user), ("ok", None))
        self.assertRetry(self.create(user), 55, 60)

    def test_consecutive_denials_double_the_wait_up_to_the_cap(self):
        user = self.new_user()
        waits = []
        for _ in range(4):
            self.assertEqual(self.create(user)[0], "ok")
            self.end_latest(user, "denied", "user_denied")
            got = self.create(user)
            self.assertEqual(got[0], "rate_limited", got)
            waits.append(got[1])
            self.age_latest(user, 3600)
        self.assertEqual(waits, [10, 20, 40, 60])

    def test_expired_counts_like_denied(self):
        user = self.new_user()
        self.assertEqual(self.create(user)[0], "ok")
        self.sql(f"UPDATE auth_requests SET expires_at = now() - interval '1 second' "
                 f"WHERE username = '{user}'")  # still 'pending' in the row: expired by time
        self.assertRetry(self.create(user), 8, 10)
        self.age_latest(user, 3600)
        self.assertEqual(self.create(user)[0], "ok")
        self.end_latest(user, "denied", "user_denied")
        self.assertRetry(self.create(user), 19, 20)

    def test_accepted_resets_the_run(self):
        user = self.new_user()
        for _ in range(2):
            self.assertEqual(self.create(user)[0], "ok")
            self.end_latest(user, "denied", "user_denied", ago=3600)
        self.assertEqual(self.create(user)[0], "ok")
        self.end_latest(user, "accepted")
        self.assertEqual(self.create(user)[0], "ok")
        self.end_latest(user, "denied", "user_denied")
        self.assertRetry(self.create(user), 9, 10)  # one strike, not three

    def test_cancelled_and_revoked_neither_count_nor_reset(self):
        user = self.new_user()
        self.assertEqual(self.create(user)[0], "ok")
        self.end_latest(user, "denied", "user_denied", ago=3600)
        for status, reason in (("cancelled", "cancelled"), ("denied", "device_revoked")):
            self.assertEqual(self.create(user)[0], "ok")
            self.end_latest(user, status, reason)
        self.assertEqual(self.create(user)[0], "ok")  # the one strike is an hour old
        self.end_latest(user, "denied", "user_denied")
        self.assertRetry(self.create(user), 19, 20)  # the second strike of the run

    def unlock(self, user):
        return self.sql(f"SELECT user_unlock('{self.app}', '{user}')")

    def test_an_unlock_clears_the_run_whatever_ended_it(self):
        """api.md 5.3 (v1.1): after an unlock the next push is allowed at once, and the
        run starts again from zero (sql/023 user_unlock)."""
        for status, reason in (("denied", "user_denied"), ("denied", "fraud_reported"),
                               ("expired", "timeout"), ("cancelled", "cancelled"),
                               ("denied", "device_revoked")):
            with self.subTest(status=status, reason=reason):
                user = self.new_user()
                for _ in range(2):  # a run of two strikes, an hour old
                    self.assertEqual(self.create(user)[0], "ok")
                    self.end_latest(user, "denied", "user_denied", ago=3600)
                self.assertEqual(self.create(user)[0], "ok")
                self.end_latest(user, status, reason)
                self.assertEqual(self.unlock(user), "t")
                self.assertEqual(self.create(user), ("ok", None))
                self.end_latest(user, "denied", "user_denied")
                self.assertRetry(self.create(user), 9, 10)  # one strike, not four

    def test_an_unlock_during_a_pending_request_clears_what_came_before(self):
        user = self.new_user()
        self.assertEqual(self.create(user)[0], "ok")
        self.end_latest(user, "denied", "user_denied", ago=3600)
        self.assertEqual(self.create(user)[0], "ok")
        self.assertEqual(self.unlock(user), "t")
        self.assertRetry(self.create(user), 55, 60)  # still one pending at a time
        self.end_latest(user, "denied", "user_denied")
        self.assertRetry(self.create(user), 9, 10)  # its own strike counts, the earlier not

    def test_an_unlock_of_an_unknown_user_is_false(self):
        self.assertEqual(self.unlock("nobody-at-all"), "f")
        user = self.new_user()
        self.assertEqual(self.unlock(user), "t")  # no request yet
        self.assertEqual(self.create(user), ("ok", None))


def arr(*vals):
    """An SQL text[] constructor of literal values (None: NULL)."""
    return "ARRAY[" + ", ".join("NULL" if v is None else f"'{v}'" for v in vals) + "]::text[]"


class BatchSql(SqlBase):
    prefix = "batch"

    def create_call(self, names, ids):
        """auth_create_batch(...) for these usernames and request ids (async, 60 s)."""
        n = len(names)
        return f"""auth_create_batch(
            {arr(*[self.app] * n)}, {arr(*names)}, {arr(*ids)}, {arr(*['authentication'] * n)},
            {arr(*[None] * n)}, {arr(*[None] * n)}, {arr(*[None] * n)}, {arr(*['none'] * n)},
            {arr(*[None] * n)}, {arr(*['true'] * n)}, {arr(*['60'] * n)}, {arr(*['self'] * n)},
            {arr(*['10'] * n)}, {arr(*['60'] * n)})"""

    @staticmethod
    def decide_call(ids, devices, nonces, decisions, reasons, codes, evidence):
        """auth_decide_batch(...) for these answers (fraud lock 3600 s)."""
        n = len(ids)
        return f"""auth_decide_batch(
            {arr(*ids)}, {arr(*devices)}, {arr(*nonces)}, {arr(*decisions)}, {arr(*reasons)},
            {arr(*codes)}, {arr(*evidence)}, {arr(*['self'] * n)}, {arr(*['3600'] * n)})"""

    def create_batch(self, items):
        """items: (username, request id); rows (i, outcome, request id) ordered by i."""
        call = self.create_call([u for u, _ in items], [q for _, q in items])
        rows = self.sql(f"SELECT i, outcome, (v).v_id FROM {call} ORDER BY i")
        return [tuple(r.split("|")) for r in rows.splitlines()]

    def nonce(self, request_id, device):
        return self.sql(f"SELECT nonce FROM auth_challenges "
                        f"WHERE request_id = '{request_id}' AND device_id = '{device}'")

    def evidence(self, request_id, dev):
        """A response whose chal names the challenge's stored JWS (a stand-in, stored here
        as the server stores the one it hands out; the SQL reads only the payload's chal)."""
        jws = f"c.{request_id}.{dev}"
        self.sql(f"UPDATE auth_challenges SET jws = '{jws}' "
                 f"WHERE request_id = '{request_id}' AND device_id = '{dev}'")
        chal = device.b64u(hashlib.sha256(jws.encode()).digest())
        return "h." + device.b64u(json.dumps({"chal": chal}).encode()) + ".s"

    def test_create_batch_gives_each_item_its_own_outcome(self):
        one, none = self.new_user(), self.new_user(devices=0)
        got = self.create_batch([(one, "q_b1"), ("nobody", "q_b2"), (none, "q_b3"), (one, "q_b4")])
        self.assertEqual(got, [("1", "ok", "q_b1"), ("2", "user_not_found", ""),
                               ("3", "no_active_device", ""), ("4", "rate_limited", "")])
        self.assertEqual(self.sql("SELECT count(*) FROM auth_requests WHERE id LIKE 'q_b_'"), "1")

    def test_pending_id_names_the_request_that_blocks_an_item(self):
        """The one-pending rule's refusals name the pending request (api.md 5.3): one made
        before the batch, or the same user's earlier item of the batch; the back-off's
        refusal names none, and neither do the other outcomes."""
        before, fresh, denied = self.new_user(), self.new_user(), self.new_user()
        self.assertEqual(self.create(before, "q_p0")[0], "ok")
        self.assertEqual(self.create(denied)[0], "ok")
        self.end_latest(denied, "denied", "user_denied")
        call = self.create_call([before, fresh, fresh, denied, "nobody"],
                                ["q_p1", "q_p2", "q_p3", "q_p4", "q_p5"])
        rows = self.sql(f"SELECT i, outcome, coalesce(pending_id, '-') FROM {call} ORDER BY i")
        self.assertEqual([tuple(r.split("|")) for r in rows.splitlines()], [
            ("1", "rate_limited", "q_p0"), ("2", "ok", "-"), ("3", "rate_limited", "q_p2"),
            ("4", "rate_limited", "-"), ("5", "user_not_found", "-")])
        one = lambda user, rid: self.sql(  # noqa: E731
            f"""SELECT outcome, coalesce(pending_id, '-') FROM auth_create('{self.app}',
                '{user}', '{rid}', 'authentication', NULL, NULL, NULL, 'none', NULL, true, 60,
                'self', 10, 60)""")
        self.assertEqual(one(fresh, "q_p6"), "rate_limited|q_p2")
        self.assertEqual(one(denied, "q_p7"), "rate_limited|-")

    def test_decide_batch_first_answer_wins_and_each_gets_its_own_outcome(self):
        two, other = self.new_user(devices=2), self.new_user()
        self.assertEqual([r[1] for r in self.create_batch([(two, "q_d1"), (other, "q_d2")])],
                         ["ok", "ok"])
        d1, d2, d3 = f"d_{two}", f"d_{two}_2", f"d_{other}"
        n1, n2 = self.nonce("q_d1", d1), self.nonce("q_d1", d2)
        call = self.decide_call(["q_d1", "q_d1", "q_d2"], [d2, d1, d3], [n2, n1, "not-the-nonce"],
                                ["deny", "approve", "approve"], [None] * 3, [None] * 3,
                                [self.evidence("q_d1", d2), self.evidence("q_d1", d1),
                                 self.evidence("q_d2", d3)])
        rows = self.sql(f"SELECT i, outcome, (v).v_status, (v).v_device FROM {call} "
                        f"ORDER BY i").splitlines()
        self.assertEqual(rows[0], f"1|ok|denied|{d2}")  # arrived first: it decides
        self.assertEqual(rows[1].split("|")[:2], ["2", "already_decided"])
        self.assertEqual(rows[2].split("|")[:2], ["3", "invalid_response"])
        self.assertEqual(self.sql("SELECT status, device_id FROM auth_requests WHERE id = 'q_d1'"),
                         f"denied|{d2}")
        self.assertEqual(self.sql("SELECT status FROM auth_requests WHERE id = 'q_d2'"), "pending")

    def test_create_batch_meets_every_outcome_of_the_single_function(self):
        """sql/011 inserts a batch's plain creates (user known, a device, not locked, the
        latest request accepted or none) in one statement and sends the rest through
        auth_create: outcomes, waits, strikes, challenges and audit rows must be as alone."""
        u = {k: self.new_user(devices=0 if k == "nodev" else 2 if k == "two" else 1)
             for k in ("fresh", "two", "accepted", "nodev", "locked", "pending", "denied",
                       "denied_old", "cancelled_old")}
        for k in ("accepted", "pending", "denied", "denied_old", "cancelled_old"):
            self.assertEqual(self.create(u[k])[0], "ok")
        self.end_latest(u["accepted"], "accepted")
        self.end_latest(u["denied"], "denied", "user_denied")
        self.end_latest(u["denied_old"], "denied", "user_denied", ago=3600)
        self.end_latest(u["cancelled_old"], "cancelled", "cancelled", ago=3600)
        self.sql(f"UPDATE auth_requests SET strikes = 2, strikes_end = now() - interval '1 hour' "
                 f"WHERE username = '{u['cancelled_old']}'")
        self.sql(f"UPDATE users SET push_locked_until = now() + interval '100 seconds' "
                 f"WHERE username = '{u['locked']}'")
        names = [u["pending"], u["fresh"], u["two"], "nobody", u["nodev"], u["locked"],
                 u["accepted"], u["denied"], u["denied_old"], u["cancelled_old"], u["fresh"]]
        ids = [f"q_c{j}" for j in range(1, len(names) + 1)]
        rows = self.sql(f"""SELECT i, outcome, retry_after IS NOT NULL,
                   coalesce(array_length(devices, 1), 0), coalesce(array_length(nonces, 1), 0),
                   (v).v_id FROM {self.create_call(names, ids)} ORDER BY i""").splitlines()
        ok = lambda j, devs=1: (str(j), "ok", "f", str(devs), str(devs), f"q_c{j}")  # noqa: E731
        no = lambda j, why, wait="f": (str(j), why, wait, "0", "0", "")  # noqa: E731
        self.assertEqual([tuple(r.split("|")) for r in rows], [
            no(1, "rate_limited", "t"), ok(2), ok(3, 2), no(4, "user_not_found"),
            no(5, "no_active_device"), no(6, "locked", "t"), ok(7), no(8, "rate_limited", "t"),
            ok(9), ok(10), no(11, "rate_limited", "t")])
        self.assertEqual(self.sql("SELECT string_agg(id || ':' || strikes || ':' || (strikes_end IS NOT NULL), "
                                  "',' ORDER BY id) FROM auth_requests WHERE id LIKE 'q_c%'"),
                         "q_c10:2:true,q_c2:0:false,q_c3:0:false,q_c7:0:false,q_c9:1:true")
        # each new request's challenges are the ones handed back, one per active device
        self.assertEqual(self.sql("SELECT string_agg(request_id || ':' || device_id, ',' "
                                  "ORDER BY request_id, device_id) FROM auth_challenges "
                                  "WHERE request_id LIKE 'q_c%'"),
                         ",".join(sorted([f"q_c10:d_{u['cancelled_old']}", f"q_c2:d_{u['fresh']}",
                                          f"q_c3:d_{u['two']}", f"q_c3:d_{u['two']}_2",
                                          f"q_c7:d_{u['accepted']}", f"q_c9:d_{u['denied_old']}"])))
        self.assertEqual(self.sql("SELECT count(*) FROM audit_log WHERE event = 'auth.created' "
                                  "AND subject LIKE 'q_c%'"), "5")
        call = self.create_call([self.new_user(devices=2)], ["q_h1"])
        handed = self.sql(f"SELECT string_agg(d || ':' || x, ',' ORDER BY d) FROM {call} o, "
                          f"unnest(o.devices, o.nonces) AS t(d, x)")
        self.assertEqual(handed, self.sql("SELECT string_agg(device_id || ':' || nonce, ',' "
                                          "ORDER BY device_id) FROM auth_challenges "
                                          "WHERE request_id = 'q_h1'"))

    def test_decide_batch_meets_every_outcome_of_the_single_function(self):
        """sql/010 decides a batch's first answers in one UPDATE and sends the rest through
        auth_decide: every outcome, status, reason, lock and audit row must be as alone."""
        users = {k: self.new_user(devices=2 if k == "two" else 1)
                 for k in ("ok", "fraud", "code", "code2", "two", "exp", "rev")}
        for k, rid, ver, code in (("ok", "q_e1", "none", None), ("fraud", "q_e2", "none", None),
                                  ("code", "q_e3", "code", "473"), ("code2", "q_e4", "code", "123"),
                                  ("two", "q_e5", "none", None), ("exp", "q_e6", "none", None),
                                  ("rev", "q_e7", "none", None)):
            self.assertEqual(self.create(users[k], rid, ver, code)[0], "ok")
        self.sql("UPDATE auth_requests SET expires_at = now() - interval '1 second' WHERE id = 'q_e6'")
        self.sql(f"UPDATE devices SET status = 'revoked' WHERE id = 'd_{users['rev']}'")
        dev = {k: f"d_{u}" for k, u in users.items()}
        # (request, device, nonce or None for the right one, decision, reason, code)
        answers = [("q_e5", dev["two"], "not-the-nonce", "approve", None, None),  # first, wrong
                   ("q_e1", dev["ok"], None, "approve", None, None),
                   ("q_e2", dev["fraud"], None, "deny", "not_me", None),
                   ("q_e3", dev["code"], None, "approve", None, "999"),
                   ("q_e4", dev["code2"], None, "approve", None, "123"),
                   ("q_e5", f"{dev['two']}_2", None, "approve", None, None),  # second, right
                   ("q_e6", dev["exp"], None, "approve", None, None),
                   ("q_e7", dev["rev"], None, "approve", None, None),
                   ("q_e1", dev["code2"], "no-challenge", "approve", None, None)]
        col = lambda j: [a[j] for a in answers]  # noqa: E731
        nonces = [n or self.nonce(r, d) for r, d, n, *_ in answers]
        call = self.decide_call(col(0), col(1), nonces, col(3), col(4), col(5),
                                [self.evidence(r, d) for r, d, *_ in answers])
        rows = self.sql(f"SELECT i, outcome, (v).v_status, (v).v_reason FROM {call} "
                        f"ORDER BY i").splitlines()
        self.assertEqual([tuple(r.split("|")) for r in rows], [
            ("1", "invalid_response", "", ""), ("2", "ok", "accepted", ""),
            ("3", "ok", "denied", "fraud_reported"), ("4", "ok", "denied", "code_mismatch"),
            ("5", "ok", "accepted", ""), ("6", "ok", "accepted", ""),
            ("7", "expired", "", ""), ("8", "device_inactive", "", ""),
            ("9", "not_found", "", "")])
        self.assertEqual(self.sql("SELECT string_agg(id || ':' || status || ':' || coalesce(reason, '')"
                                  " || ':' || coalesce(device_id, ''), ',' ORDER BY id) "
                                  "FROM auth_requests WHERE id LIKE 'q_e_'"),
                         ",".join([f"q_e1:accepted::{dev['ok']}",
                                   f"q_e2:denied:fraud_reported:{dev['fraud']}",
                                   f"q_e3:denied:code_mismatch:{dev['code']}",
                                   f"q_e4:accepted::{dev['code2']}",
                                   f"q_e5:accepted::{dev['two']}_2", "q_e6:expired:timeout:",
                                   "q_e7:pending::"]))
        self.assertEqual(self.sql(f"SELECT push_locked_until > now() + interval '3000 seconds' "
                                  f"FROM users WHERE username = '{users['fraud']}'"), "t")
        self.assertEqual(self.sql("SELECT string_agg(event, ',' ORDER BY subject, id) FROM audit_log "
                                  "WHERE subject LIKE 'q_e_' AND event <> 'auth.created'"),
                         "auth.accepted,auth.denied,auth.denied,auth.accepted,auth.accepted,"
                         "auth.expired")
        self.assertEqual(self.sql("SELECT count(*) FROM auth_challenges WHERE request_id IN "
                                  "('q_e1', 'q_e2', 'q_e3', 'q_e4', 'q_e5') AND expires_at > now()"),
                         "0")


if __name__ == "__main__":
    harness.main()
