"""Push-fatigue rules of auth_create() (sql/008_lean_auth.sql), driven in SQL.

The HTTP tests (test_push.py) show the first strike; doubling, the reset on accept and the
rules for cancelled, revoked and expired requests need request histories that are minutes
old, so this test writes them directly: each request records the run of denied/expired
requests before it, and auth_create() carries the run on from the user's latest request.
Backoff: 10 s x 2^(n-1), capped (here at 60 s)."""
import harness


class FatigueSql(harness.TestCase):
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

    def new_user(self):
        type(self).n += 1
        user = f"fatigue{self.n}"
        self.sql(f"""
            INSERT INTO users (app_id, username, email) VALUES ('{self.app}', '{user}', 'f@x.invalid');
            INSERT INTO registrations (id, app_id, user_id, email, token_hash, status, expires_at)
              SELECT 'r_{user}', '{self.app}', id, email, 'h_{user}', 'completed', now() + interval '1 day'
                FROM users WHERE username = '{user}';
            INSERT INTO devices (id, app_id, user_id, registration_id, name, public_jwk)
              SELECT 'd_{user}', '{self.app}', id, 'r_{user}', 'phone', '{{}}'
                FROM users WHERE username = '{user}';""")
        return user

    def create(self, user):
        """(outcome, retry_after) of a new request; its id is q_<user>_<k>."""
        self.k = getattr(self, "k", 0) + 1
        out = self.sql(f"""SELECT outcome, retry_after FROM auth_create('{self.app}', '{user}',
            'q_{user}_{self.k}', 'authentication', NULL, NULL, NULL, 'none', NULL, true, 60,
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


if __name__ == "__main__":
    harness.main()
