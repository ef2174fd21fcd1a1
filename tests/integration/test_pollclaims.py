"""Device polls without a database write per idle poll (issue 23, server/caller/pollclaim.h,
sql/042_poll_claims.sql): a poll's jti is taken in memory and written with the others of the
same 200 ms as one row; the poll stays replay-safe (api.md 6.1) on another instance, after a
restart and after a kill -9; two instances taking one proof at once let exactly one poll
answer; challenges leave only after the jti is claimed in device_jtis; a device of a disabled
application is refused at the end of its poll."""
import concurrent.futures
import signal

import device
import harness

POOL = concurrent.futures.ThreadPoolExecutor(4)
PATH = "/device/challenges"


class PollClaims(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.a = self.server()
        self.app = self.a.create_app("Poll Bank")
        self.h = self.a.app_headers(self.app)
        self.dev = self.enroll(self.a, f"u_{self._testMethodName[5:30]}")
        self.ready(self.a)

    def enroll(self, s, user):
        r = s.request("POST", "/registration", headers=self.h,
                      body={"username": user, "delivery": "none"})
        self.assertEqual(r.status, 201, r)
        d = device.Device()
        d.enroll(s, device.link_token(r.body["link"]))
        return d

    def ready(self, s):
        """The instance has read the peers' claims (before that, polls are claimed in
        device_jtis one by one)."""
        s.wait_log(lambda o: o.get("msg") == "device poll claims read", 20)

    def poll(self, s, proof, wait):
        return s.request("GET", f"{PATH}?wait={wait}", headers={"Authorization": proof},
                         timeout=wait + 30)

    def jtis(self):
        return self.q("SELECT count(*) FROM device_jtis")[0][0]

    def rows(self):
        return self.q("SELECT count(*) FROM poll_claims")[0][0]

    def written(self):
        """Keys written to poll_claims so far."""
        return self.q("SELECT coalesce(sum(length(digests)) / 8, 0) FROM poll_claims")[0][0]

    def test_idle_polls_write_no_jti_rows(self):
        before, keys, rows = self.jtis(), self.written(), self.rows()
        for _ in range(5):
            r = self.poll(self.a, self.dev.proof("GET", PATH), 1)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, {"challenges": []})
        self.assertEqual(self.jtis(), before, "an idle poll claimed its jti in device_jtis")
        self.assertGreaterEqual(self.written() - keys, 5)
        self.assertLessEqual(self.rows() - rows, 5)

    def test_handout_claims_the_jti_once(self):
        """A poll that returns a challenge claims its jti exactly (device_jtis)."""
        before = self.jtis()
        a = self.a.request("POST", "/auth", headers={**self.h, "Prefer": "respond-async"},
                           body={"username": f"u_{self._testMethodName[5:30]}"})
        self.assertEqual(a.status, 202, a)
        r = self.poll(self.a, self.dev.proof("GET", PATH), 5)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body["challenges"]), 1, r)
        self.assertEqual(self.jtis(), before + 1)

    def test_replay_on_another_instance_is_refused(self):
        b = self.server()
        self.ready(b)
        proof = self.dev.proof("GET", PATH)
        held = POOL.submit(self.poll, self.a, proof, 3)
        # B hears A's row of claims (NOTIFY p:...) while A still holds the poll
        b.wait_log(lambda o: o.get("msg") == "peer poll claims", 20)
        self.assertProblem(self.poll(b, proof, 0), 401, "invalid_device_proof")
        self.assertProblem(self.poll(b, proof, 2), 401, "invalid_device_proof")
        r = held.result(30)
        self.assertEqual((r.status, r.body), (200, {"challenges": []}), r)
        self.assertProblem(self.poll(self.a, proof, 0), 401, "invalid_device_proof")

    def test_replay_after_a_restart_is_refused(self):
        proof = self.dev.proof("GET", PATH)
        r = self.poll(self.a, proof, 1)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.a.stop(), 0)
        again = self.server()
        self.ready(again)
        self.assertProblem(self.poll(again, proof, 1), 401, "invalid_device_proof")

    def test_replay_after_kill9_is_refused(self):
        proof = self.dev.proof("GET", PATH)
        since = len(self.a.logs)
        POOL.submit(self.poll, self.a, proof, 20)
        self.a.wait_log(lambda o: o.get("msg") == "device poll claims written", 10, since=since)
        self.a.stop(signal.SIGKILL)
        again = self.server()
        self.ready(again)
        self.assertProblem(self.poll(again, proof, 1), 401, "invalid_device_proof")

    def test_one_proof_on_two_instances_at_once_answers_once(self):
        b = self.server()
        self.ready(b)
        proof = self.dev.proof("GET", PATH)
        both = [POOL.submit(self.poll, s, proof, 3) for s in (self.a, b)]
        statuses = sorted(f.result(30).status for f in both)
        self.assertEqual(statuses, [200, 401])

    def test_disabled_application_device_is_refused_at_the_end_of_its_poll(self):
        r = self.poll(self.a, self.dev.proof("GET", PATH), 1)  # its key is cached now
        self.assertEqual(r.status, 200, r)
        self.a.cli("app", "disable", self.app["applicationId"])
        self.assertProblem(self.poll(self.a, self.dev.proof("GET", PATH), 2), 401,
                           "invalid_device_proof")


if __name__ == "__main__":
    harness.main()
