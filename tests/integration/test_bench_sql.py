"""bench/ours.pgbench, the statements of one flow that bench/run's B1 times under pgbench
("our flow's SQL alone"), run here as bench/run runs it: every flow must end accepted.

An answer whose chal does not name the stored challenge JWS (sql/030) decides nothing, and
a response that is not a JWS at all makes auth_decide raise: pgbench then aborts each client
after its first auth_create had committed, the figure reads "na" and every client leaves a
pending request (60 s expiry) for one of users [0, 1024). bench/run's B2 started seconds
later with devices [0, 9000): 64 of its held polls (one per pgbench client) were answered
at once with those challenges."""
import os
import re
import subprocess

import harness

SCRIPT = os.path.join(harness.REPO, "bench", "ours.pgbench")
CLIENTS, PER, EACH = 2, 3, 5


class OursPgbench(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.class_server(start=False)
        s.cli_run("migrate", check=True)
        cls.app = s.create_app("Bench")["applicationId"]
        cls.db = cls.db_url.rsplit("/", 1)[1]
        # bench/run's seed: users bench000000..., one active device each, rows by SQL
        cls.pg.seed_devices(cls.db, cls.app, "bench", CLIENTS * PER)

    def sql(self, text):
        return self.pg.psql(text, db=self.db).strip()

    def test_every_flow_is_accepted_and_none_is_left_pending(self):
        r = subprocess.run([f"{harness.PG_BIN}/pgbench", "-n", "-M", "prepared",
                            "-c", str(CLIENTS), "-t", str(EACH), "-D", f"app={self.app}",
                            "-D", f"per={PER}", "-f", SCRIPT, self.db_url],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertNotIn("aborted", out)
        done = re.search(r"^number of transactions actually processed: (\d+)/(\d+)", out, re.M)
        self.assertIsNotNone(done, out)
        self.assertEqual(done.groups(), (str(CLIENTS * EACH), str(CLIENTS * EACH)), out)
        self.assertEqual(self.sql("SELECT count(*) FROM auth_requests WHERE status = 'pending'"),
                         "0")
        self.assertEqual(self.sql("SELECT status, count(*) FROM auth_requests GROUP BY 1"),
                         f"accepted|{CLIENTS * EACH}")
        # each decision kept the stored stand-in challenge, as a real one keeps the JWS sent
        self.assertEqual(self.sql("SELECT count(*) FROM auth_requests "
                                  "WHERE challenge = repeat('c', 680)"), str(CLIENTS * EACH))


if __name__ == "__main__":
    harness.main()
