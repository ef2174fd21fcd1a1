"""Round 2, device proofs and disabled applications (api.md 6.1, 3, 4): a jti is kept for
as long as its proof's iat is acceptable, a proof claimed before a database crash does not
replay after it, iat values at the ends of the integer range are refused without undefined
behaviour, and a disabled application's links and devices stop."""
import re
import signal
import time

import device
import harness

LINK_RE = re.compile(r"^http://\S+/r/([A-Za-z0-9_-]{43})\r?$", re.M)
LLONG_MIN = -9223372036854775808
LLONG_MAX = 9223372036854775807


class ProofBase(harness.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = harness.SmtpSink()
        cls.server_env = {"PUSHGATE_SMTP_URL": cls.sink.url, "PUSHGATE_AUDIT_SEAL_AGE": "0"}
        cls.s = cls.class_server()
        cls.n = 0


    def link(self, h, user):
        """A registration's link token (from its mail)."""
        type(self).n += 1
        email = f"{user}.{self.n}@example.com"
        r = self.s.request("POST", "/registration", headers=h,
                           body={"username": user, "email": email})
        self.assertEqual(r.status, 201, r)
        m = self.sink.wait_for(lambda m: email in m.envelope_to, timeout=20)
        return LINK_RE.search(harness.text_part(m)).group(1)

    def enrolled(self, h):
        type(self).n += 1
        d = device.Device()
        d.enroll(self.s, self.link(h, f"{self._testMethodName[5:20]}{self.n}"))
        return d

    def eventually(self, pred, timeout, what):
        """Polls pred until it holds; fails after timeout seconds."""
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                self.fail(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.2)

    def get_device(self, auth):
        return self.s.request("GET", "/device", headers={"Authorization": auth})


class WindowEdge(ProofBase):

    def test_jti_kept_while_its_iat_is_acceptable(self):
        """Item 7: iat = now + 59 claimed; 120.5 s later (the row's seen_at moved back) the
        iat is still within 60 s of the clock, so the jti must still count."""
        h = harness.Server.app_headers(self.s.create_app("Edge Bank"))
        d = self.enrolled(h)
        auth = d.proof("GET", "/device", iat=int(time.time()) + 59)
        self.assertEqual(self.get_device(auth).status, 200)
        self.q("UPDATE device_jtis SET seen_at = seen_at - interval '120.5 seconds' "
               "WHERE device_id = %s", d.device_id)
        self.assertProblem(self.get_device(auth), 401, "invalid_device_proof")
        # past the iat window too (121 s): the row no longer counts, as api.md 6.1 says
        self.q("UPDATE device_jtis SET seen_at = seen_at - interval '2 seconds' "
               "WHERE device_id = %s", d.device_id)
        self.assertEqual(self.get_device(auth).status, 200)

    def test_iat_at_the_ends_of_the_integer_range(self):
        """Item 11: iat = LLONG_MIN / LLONG_MAX in a device proof, a registration proof and a
        response are refused (the sanitizer build aborted on `llabs(now - iat)`)."""
        h = harness.Server.app_headers(self.s.create_app("Range Bank"))
        d = self.enrolled(h)
        for iat in (LLONG_MIN, LLONG_MAX, LLONG_MIN + 1):
            self.assertProblem(self.get_device(d.proof("GET", "/device", iat=iat)), 401,
                               "invalid_device_proof")
        token = self.link(h, "rangeuser")
        r = self.s.request("GET", f"/r/{token}", headers={"Accept": "application/json"})
        self.assertEqual(r.status, 200, r)
        d2 = device.Device()
        for iat in (LLONG_MIN, LLONG_MAX):
            r2 = self.s.request("POST", f"/r/{token}",
                                body=d2.bind_body(r.body["registrationId"], iat=iat))
            self.assertProblem(r2, 400, "invalid_proof")
        user = r.body["username"]
        d2.enroll(self.s, token)
        a = self.s.request("POST", "/auth", headers={**h, "Prefer": "respond-async"},
                           body={"username": user})
        self.assertEqual(a.status, 202, a)
        path = "/device/challenges"
        c = self.s.request("GET", f"{path}?wait=10",
                           headers={"Authorization": d2.proof("GET", path)}, timeout=20)
        self.assertEqual(c.status, 200, c)
        _, payload = d2.verify_challenge(c.body["challenges"][0]["challenge"])
        rid = a.body["requestId"]
        for iat in (LLONG_MIN, LLONG_MAX):
            resp = d2.response(rid, payload["nonce"], iat=iat)
            p = f"/device/challenges/{rid}"
            r3 = self.s.request("POST", p, headers={"Authorization": d2.proof("POST", p)},
                                body={"response": resp})
            self.assertProblem(r3, 400, "invalid_response")
        self.assertEqual(self.get_device(d.proof("GET", "/device")).status, 200)


class DisabledApp(ProofBase):

    def test_disabled_application_stops_links_and_devices(self):
        """Item 12: after `app disable` its links refuse to bind (410 registration_cancelled),
        its devices neither poll nor answer (401 invalid_device_proof), its credentials
        fail, and the disable is in the audit log."""
        app = self.s.create_app("Gone Bank")
        h = harness.Server.app_headers(app)
        d = self.enrolled(h)
        user = self.q("SELECT u.username FROM devices d JOIN users u ON u.id = d.user_id "
                      "WHERE d.id = %s", d.device_id)[0][0]
        pending = self.link(h, "pendinguser")
        retrieved = self.link(h, "retrieveduser")
        r = self.s.request("GET", f"/r/{retrieved}", headers={"Accept": "application/json"})
        self.assertEqual(r.status, 200, r)
        reg_id = r.body["registrationId"]
        a = self.s.request("POST", "/auth", headers={**h, "Prefer": "respond-async"},
                           body={"username": user})
        self.assertEqual(a.status, 202, a)
        path = "/device/challenges"
        c = self.s.request("GET", f"{path}?wait=10",
                           headers={"Authorization": d.proof("GET", path)}, timeout=20)
        self.assertEqual(c.status, 200, c)
        _, payload = d.verify_challenge(c.body["challenges"][0]["challenge"])

        self.s.cli("app", "disable", app["applicationId"])

        for token in (pending, retrieved):
            r = self.s.request("GET", f"/r/{token}", headers={"Accept": "application/json"})
            self.assertProblem(r, 410, "registration_cancelled")
        d2 = device.Device()
        r = self.s.request("POST", f"/r/{retrieved}", body=d2.bind_body(reg_id))
        self.assertProblem(r, 410, "registration_cancelled")
        self.assertEqual(self.q("SELECT count(*) FROM devices WHERE app_id = %s",
                                app["applicationId"])[0][0], 1)
        r = self.s.request("GET", f"{path}?wait=0", headers={"Authorization": d.proof("GET", path)})
        self.assertProblem(r, 401, "invalid_device_proof")
        self.assertProblem(self.get_device(d.proof("GET", "/device")), 401,
                           "invalid_device_proof")
        rid = a.body["requestId"]
        p = f"/device/challenges/{rid}"
        r = self.s.request("POST", p, headers={"Authorization": d.proof("POST", p)},
                           body={"response": d.response(rid, payload["nonce"])})
        self.assertProblem(r, 401, "invalid_device_proof")
        self.assertEqual(self.q("SELECT status FROM auth_requests WHERE id = %s", rid)[0][0],
                         "pending")
        r = self.s.request("POST", "/auth", headers=h, body={"username": user})
        self.assertProblem(r, 401, "invalid_application_credentials")
        events = [e for (e,) in self.q("SELECT event FROM audit_log WHERE app_id = %s",
                                       app["applicationId"])]
        self.assertIn("application.disabled", events)


class DatabaseCrash(ProofBase):

    def test_no_replay_after_a_database_crash(self):
        """Item 8: the unlogged jti table empties on crash recovery; a proof claimed just
        before the crash must not be accepted after it: 503 while the claims recover
        (121 s), then 401 (its iat has left the window)."""
        h = harness.Server.app_headers(self.s.create_app("Crash Bank"))
        d = self.enrolled(h)
        iat = int(time.time()) - 55
        auth = d.proof("GET", "/device", iat=iat)
        self.assertEqual(self.get_device(auth).status, 200)
        # the harness's cluster commits asynchronously: make the device durable first
        self.q("CHECKPOINT")
        self.pg_conn.close()
        self.pg_conn = None
        self.pg.proc.send_signal(signal.SIGQUIT)  # immediate shutdown: crash recovery next
        self.pg.proc.wait(30)
        self.pg.log.join()
        self.pg.start()
        self.assertEqual(self.q("SELECT count(*) FROM device_jtis")[0][0], 0)
        # the server reconnects (503 until then); its first claim notices the loss and
        # the claims wait 121 s from then (503 too)
        r = self.get_device(auth)
        self.assertProblem(r, 503, "unavailable")
        self.eventually(lambda: self.get_device(auth).status == 503 and self.q(
            "SELECT last_value FROM device_jtis_lost")[0][0] > 0,
            60, "the claims' loss noticed")
        r = self.get_device(auth)
        self.assertProblem(r, 503, "unavailable")
        self.assertIn("retry-after", r.headers)
        self.assertProblem(self.get_device(d.proof("GET", "/device")), 503, "unavailable")
        # 121 s later: the old proof's iat is past the window, a fresh one works
        self.eventually(lambda: time.time() > iat + 62, 30, "the old proof's window to pass")
        self.q("SELECT setval('device_jtis_lost', last_value - 121) FROM device_jtis_lost")
        self.assertProblem(self.get_device(auth), 401, "invalid_device_proof")
        r = self.get_device(d.proof("GET", "/device"))
        self.assertEqual(r.status, 200, r)

    def test_clean_restart_keeps_the_claims(self):
        """A clean restart keeps device_jtis (and device_jtis_lost): a used proof stays
        refused and a fresh one is accepted at once, with no 503 period."""
        h = harness.Server.app_headers(self.s.create_app("Restart Bank"))
        d = self.enrolled(h)
        auth = d.proof("GET", "/device")
        self.assertEqual(self.get_device(auth).status, 200)
        lost = self.q("SELECT last_value FROM device_jtis_lost")[0][0]
        self.pg_conn.close()
        self.pg_conn = None
        self.pg.stop()  # fast shutdown: a checkpoint, no recovery at the next start
        self.pg.start()
        self.assertEqual(self.q("SELECT last_value, is_called FROM device_jtis_lost")[0],
                         (lost, True))
        seen = []
        self.eventually(lambda: seen.append(self.get_device(auth)) or seen[-1].status != 503,
                        60, "the reconnect")
        self.assertProblem(seen[-1], 401, "invalid_device_proof")
        self.assertEqual(self.get_device(d.proof("GET", "/device")).status, 200)


if __name__ == "__main__":
    harness.main()
