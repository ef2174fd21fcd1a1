"""device_challenges (GET /device/challenges' read, sql/043) must read only the polling
device's own challenges and requests, whatever the statistics and the plans cached before.

After an ANALYZE of an empty auth_requests (a fresh install; bench/run's seeding) the planner
has no statistics on it, and plpgsql caches a plan of the function's statement after five
calls for the connection's life. 030's form then read every pending request (or, planned
while the tables were small, every challenge) for each poll: 8 ms a poll with 9,000 pending
in bench/run's B2, which timed out the server's database queue
(docs/benchmarks.md). The test counts the tuples the poll's own transaction read from
auth_requests and auth_challenges (pg_stat_get_xact_tuples_returned/_fetched), not a time."""
import subprocess

import harness

USERS = 2000


class DeviceChallengesPlan(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.class_server(start=False)
        s.cli_run("migrate", check=True)
        cls.app = s.create_app("Plan")["applicationId"]
        cls.db = cls.db_url.rsplit("/", 1)[1]
        # bench/run's seed (one active device per user, rows by SQL), then ANALYZE with
        # no request at all
        cls.pg.seed_devices(cls.db, cls.app, "plan", USERS)
        cls.pg.psql("ANALYZE", db=cls.db)

    def sql(self, text):
        return self.pg.psql(text, db=self.db).strip()

    def test_a_poll_reads_no_other_pending_request(self):
        self.sql(f"""SELECT count(*) FROM users u, LATERAL auth_create('{self.app}', u.username,
                       'q_' || u.id, 'authentication', 'Sign in', NULL, NULL, 'none', NULL, false,
                       300, 'test', 10, 3600) o WHERE u.username = 'plan000000'""")
        dev = self.sql("SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id "
                       "WHERE u.username = 'plan000000'")
        read = " + ".join(f"pg_stat_get_xact_tuples_{n}('{t}'::regclass)"
                          for t in ("auth_requests", "auth_challenges")
                          for n in ("returned", "fetched"))
        # one session, three statements (psql sends each -c alone, each its own transaction):
        # polls while one request is pending (the plan is made, and cached by plpgsql), then
        # every other user gets a request, then the same device polls once more
        out = self.session(
            f"""DO $$ BEGIN
                    FOR i IN 1..10 LOOP PERFORM * FROM device_challenges('{dev}'); END LOOP;
                END $$""",
            f"""SELECT count(*) FROM users u, LATERAL auth_create('{self.app}', u.username,
                    'q_' || u.id, 'authentication', 'Sign in', NULL, NULL, 'none', NULL, false,
                    300, 'test', 10, 3600) o WHERE u.username <> 'plan000000'""",
            f"""SELECT {read};
                SELECT count(*) FROM device_challenges('{dev}') WHERE request_id IS NOT NULL;
                SELECT {read}""")
        self.assertEqual([out[0], out[2]], [str(USERS - 1), "1"],
                         "every other user got a request, and the poll returns the device's "
                         "one pending challenge")
        # the counters are the backend's not yet reported ones (PostgreSQL 15): a difference
        self.assertLess(int(out[3]) - int(out[1]), 20,
                        "the poll read the other users' requests or challenges")

    def session(self, *statements):
        argv = [f"{harness.PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-d", self.db_url]
        for st in statements:
            argv += ["-c", st]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()


if __name__ == "__main__":
    harness.main()
