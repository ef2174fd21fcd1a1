"""Issue 4: push approval -- held POST /auth, signed challenges over long-poll,
signed answers (api.md 5, 6, 7). The device side is tests/integration/device.py."""
import concurrent.futures
import functools
import json
import re
import socket
import threading
import time

import device
import harness

LINK_RE = re.compile(r"^http://\S+/r/([A-Za-z0-9_-]{43})\r?$", re.M)
POOL = concurrent.futures.ThreadPoolExecutor(16)


class PushBase(harness.TestCase):
    server_env = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = harness.SmtpSink()
        # every server of the class; audit rows are sealed at once
        # /metrics reads the database on every scrape (SharedReads tests the default)
        cls.server_env = {"PUSHGATE_SMTP_URL": cls.sink.url, "PUSHGATE_AUDIT_SEAL_AGE": "0",
                          "PUSHGATE_ADMIN_TOKEN": "push-admin-token-0123456789abcdef0123456789abcdef",
                          "PUSHGATE_METRICS_DB_SECONDS": "0"}
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Acme Bank")
        cls.h = cls.s.app_headers(cls.app)
        cls.n = 0

    def new_user(self, devices=1, server=None):
        """A fresh username with `devices` enrolled devices."""
        s = server or self.s
        type(self).n += 1
        user = f"{self._testMethodName[5:20]}{self.n}"
        devs = []
        for i in range(devices):
            email = f"{user}.{i}@example.com"
            r = s.request("POST", "/registration", headers=self.h,
                          body={"username": user, "email": email})
            assert r.status == 201, r
            m = self.sink.wait_for(lambda m: email in m.envelope_to, timeout=20)
            token = LINK_RE.search(harness.text_part(m)).group(1)
            d = device.Device()
            d.enroll(s, token, name=f"phone {i}")
            devs.append(d)
        return user, devs

    def auth(self, user, server=None, headers=None, **body):
        s = server or self.s
        return s.request("POST", "/auth", headers={**self.h, **(headers or {})},
                         body={"username": user, **body}, timeout=400)


    def auth_async(self, user, **body):
        r = self.auth(user, headers={"Prefer": "respond-async"}, **body)
        assert r.status == 202, r
        return r

    def poll(self, dev, wait=10, server=None):
        s = server or self.s
        path = "/device/challenges"
        r = s.request("GET", f"{path}?wait={wait}",
                      headers={"Authorization": dev.proof("GET", path)}, timeout=wait + 10)
        assert r.status == 200, r
        return r.body["challenges"]

    def challenge_for(self, dev, request_id=None, server=None):
        """Polls until a challenge (for request_id, if given) arrives; returns its payload."""
        for _ in range(5):
            for c in self.poll(dev, server=server):
                hp = dev.verify_challenge(c["challenge"])
                assert hp is not None, "challenge signature does not verify"
                header, payload = hp
                assert header["typ"] == "pushgate-challenge+jwt", header
                assert payload["deviceId"] == dev.device_id
                if request_id in (None, payload["requestId"]):
                    return payload
        raise AssertionError("no challenge arrived")

    def answer(self, dev, payload, decision="approve", server=None, **kw):
        s = server or self.s
        rid = payload["requestId"]
        path = f"/device/challenges/{rid}"
        resp = dev.response(rid, payload["nonce"], decision, **kw)
        return s.request("POST", path, headers={"Authorization": dev.proof("POST", path)},
                         body={"response": resp})


class Push(PushBase):
    def test_approve_is_accepted_with_verifiable_evidence(self):
        user, (dev,) = self.new_user()
        held = POOL.submit(self.auth, user, type="authorization",
                           message="Confirm transfer of 250.00 EUR to Bob",
                           context={"ipAddress": "203.0.113.9"},
                           transaction={"amount": "250.00", "currency": "EUR"})
        ch = self.challenge_for(dev)
        self.assertEqual(ch["application"]["name"], "Acme Bank")
        self.assertEqual((ch["username"], ch["type"], ch["verification"]),
                         (user, "authorization", "none"))
        self.assertEqual(ch["context"], {"ipAddress": "203.0.113.9"})
        self.assertEqual(ch["transaction"], {"amount": "250.00", "currency": "EUR"})
        self.assertGreaterEqual(len(device.b64u_decode(ch["nonce"])), 16)
        self.assertEqual(ch["exp"] - ch["iat"], 60)
        r = self.answer(dev, ch)
        self.assertEqual(r.body, {"requestId": ch["requestId"], "status": "accepted"})
        out = held.result(30)
        self.assertEqual(out.status, 200, out)
        self.assertEqual((out.body["status"], out.body["reason"], out.body["deviceId"]),
                         ("accepted", None, dev.device_id))
        self.assertEqual(out.body["requestId"], ch["requestId"])
        header, payload = device.verify(out.body["evidence"], dev.jwk())
        self.assertEqual((payload["decision"], payload["nonce"]), ("approve", ch["nonce"]))
        self.assertNotIn("displayCode", out.body)

    def test_deny_is_denied_at_once(self):
        user, (dev,) = self.new_user()
        held = POOL.submit(self.auth, user)
        ch = self.challenge_for(dev)
        self.assertEqual(self.answer(dev, ch, "deny").body["status"], "denied")
        out = held.result(30).body
        self.assertEqual((out["status"], out["reason"]), ("denied", "user_denied"))
        self.assertIsNotNone(out["evidence"])

    def test_timeout_expires_and_a_late_answer_is_410(self):
        user, (dev,) = self.new_user()
        held = POOL.submit(self.auth, user, timeout=5)
        ch = self.challenge_for(dev)
        out = held.result(30)
        self.assertEqual(out.status, 200, out)
        self.assertEqual((out.body["status"], out.body["reason"], out.body["evidence"]),
                         ("expired", "timeout", None))
        self.assertProblem(self.answer(dev, ch), 410, "expired")

    def test_unknown_user_and_user_without_device(self):
        self.assertProblem(self.auth("nobody-at-all"), 404, "user_not_found")
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": "no-device", "email": "nd@example.com"})
        self.assertEqual(r.status, 201)
        self.assertProblem(self.auth("no-device"), 409, "no_active_device")

    def test_validation(self):
        user, _ = self.new_user()
        for body in ({"type": "login"}, {"timeout": 4}, {"timeout": 301}, {"message": "x" * 257},
                     {"context": {"ip": "x" * 257}}, {"context": {"n": 1}},
                     {"transaction": {"a": {"b": {"c": {"d": {"e": 1}}}}}},
                     {"transaction": {"blob": "x" * 5000}}, {"verification": "sms"},
                     {"verification": "code"}, {"verification": "code", "displayCode": "12"},
                     {"displayCode": "123"}, {"extra": 1}):
            self.assertProblem(self.auth(user, **body), 400, "invalid_request")

    def test_async_mode_with_wait(self):
        user, (dev,) = self.new_user()
        r = self.auth_async(user)
        rid = r.body["requestId"]
        self.assertEqual(r.headers["location"], f"/auth/{rid}")
        self.assertEqual((r.body["status"], r.body["displayCode"]), ("pending", None))
        now = self.s.request("GET", f"/auth/{rid}", headers=self.h)
        self.assertEqual(now.body["status"], "pending")
        waiting = POOL.submit(self.s.request, "GET", f"/auth/{rid}?wait=30", headers=self.h,
                              timeout=60)
        self.answer(dev, self.challenge_for(dev, rid))
        out = waiting.result(40)
        self.assertEqual((out.status, out.body["status"]), (200, "accepted"), out)
        other = self.s.create_app("Other")
        self.assertProblem(self.s.request("GET", f"/auth/{rid}",
                                          headers=self.s.app_headers(other)), 404, "not_found")
        admin = self.s.request("GET", f"/auth/{rid}",
                               headers={"Authorization": "Bearer push-admin-token-0123456789abcdef0123456789abcdef"})
        self.assertEqual((admin.status, admin.body["status"]), (200, "accepted"), admin)
        self.assertProblem(self.s.request("GET", f"/auth/{rid}?wait=61", headers=self.h), 400,
                           "invalid_request")

    def test_cancel_then_the_device_gets_409(self):
        user, (dev,) = self.new_user()
        rid = self.auth_async(user).body["requestId"]
        ch = self.challenge_for(dev, rid)
        r = self.s.request("DELETE", f"/auth/{rid}", headers=self.h)
        self.assertEqual((r.status, r.body["status"], r.body["reason"]),
                         (200, "cancelled", "cancelled"), r)
        self.assertProblem(self.answer(dev, ch), 409, "already_decided")
        self.assertProblem(self.s.request("DELETE", f"/auth/{rid}", headers=self.h), 409,
                           "already_decided")
        self.assertEqual(self.poll(dev, wait=0), [])

    def test_bad_answers_are_400_and_the_request_stays_pending(self):
        user, (dev,) = self.new_user()
        rid = self.auth_async(user).body["requestId"]
        ch = self.challenge_for(dev, rid)
        forged = dict(ch, nonce=device.b64u(b"x" * 32))
        self.assertProblem(self.answer(dev, forged), 400, "invalid_response")
        self.assertProblem(self.answer(dev, ch, key=device.Device().key), 400,
                           "invalid_response")
        self.assertProblem(self.answer(dev, ch, iat=int(time.time()) - 310), 400,
                           "invalid_response")
        self.assertProblem(self.answer(dev, dict(ch, requestId="q_notthisone123")), 404,
                           "not_found")
        r = self.s.request("GET", f"/auth/{rid}", headers=self.h)
        self.assertEqual(r.body["status"], "pending")
        self.assertEqual(self.answer(dev, ch).body["status"], "accepted")

    def test_null_optional_claims_of_an_answer_mean_absent(self):
        """api.md 1: absent optional fields and null mean the same, in a signed answer too."""
        user, (dev,) = self.new_user()
        nulls = {"reason": None, "code": None}
        for decision, status in (("approve", "accepted"), ("deny", "denied")):
            rid = self.auth_async(user).body["requestId"]
            r = self.answer(dev, self.challenge_for(dev, rid), decision, extra=nulls)
            self.assertEqual((r.status, r.body.get("status")), (200, status), r)
        r = self.s.request("GET", f"/auth/{rid}", headers=self.h)
        self.assertEqual(r.body.get("reason"), "user_denied", r)  # null is not "not_me"

    def test_every_device_proof_failure_is_the_same_401(self):
        user, (dev,) = self.new_user()
        path = "/device/challenges"
        good = dev.proof("GET", path)
        bad = {
            "missing": None,
            "scheme": "Bearer " + good.split(" ", 1)[1],
            "other key": dev.proof("GET", path, key=device.Device().key),
            "alg": dev.proof("GET", path, alg="HS256"),
            "typ": dev.proof("GET", path, typ="JWT"),
            "htm": dev.proof("POST", path),
            "htu": dev.proof("GET", "/device"),
            # well outside the 60 s window: the proofs are made before the requests are sent,
            # and a slow (sanitized) run can take seconds to get to this one; the boundary
            # itself is unit_claimtime's
            "old iat": dev.proof("GET", path, iat=int(time.time()) - 120),
            "future iat": dev.proof("GET", path, iat=int(time.time()) + 120),
            "unknown kid": dev.proof("GET", path, kid="d_unknowndevice0"),
            "short jti": dev.proof("GET", path, jti="short"),
        }
        # only the header is read before the key lookup (jws_peek_header): a broken payload
        # or signature behind a good header must be refused by the verify that follows
        h, p, sig = dev.proof("GET", path).split(" ", 1)[1].split(".")
        broken = {
            "payload not json": f"Device {h}.{device.b64u(b'not json')}.{sig}",
            "signature not base64url": f"Device {h}.{p}.!!!!",
        }
        bodies = set()
        for name, value in list(bad.items()) + list(broken.items()):
            r = self.s.request("GET", f"{path}?wait=0",
                               headers={"Authorization": value} if value else {})
            self.assertProblem(r, 401, "invalid_device_proof")
            bodies.add(r.raw)
        self.assertEqual(len(bodies), 1, bodies)
        self.assertEqual(self.s.request("GET", f"{path}?wait=0",
                                        headers={"Authorization": good}).status, 200)
        for name, value in broken.items():  # the device's key is cached now
            r = self.s.request("GET", f"{path}?wait=0", headers={"Authorization": value})
            self.assertProblem(r, 401, "invalid_device_proof")
            self.assertIn(r.raw, bodies, name)
        replay = self.s.request("GET", f"{path}?wait=0", headers={"Authorization": good})
        self.assertProblem(replay, 401, "invalid_device_proof")
        self.assertEqual(replay.raw, bodies.pop())

    def test_two_devices_first_answer_wins(self):
        user, (d1, d2) = self.new_user(devices=2)
        held = POOL.submit(self.auth, user)
        c1, c2 = self.challenge_for(d1), self.challenge_for(d2)
        self.assertEqual(c1["requestId"], c2["requestId"])
        self.assertNotEqual(c1["nonce"], c2["nonce"])
        self.assertEqual(self.answer(d2, c2, "deny").body["status"], "denied")
        self.assertProblem(self.answer(d1, c1), 409, "already_decided")
        out = held.result(30).body
        self.assertEqual((out["status"], out["deviceId"]), ("denied", d2.device_id))

    def test_a_revoked_device_is_401_and_then_no_active_device(self):
        user, (dev,) = self.new_user()
        r = self.s.request("GET", "/device", headers={"Authorization": dev.proof("GET", "/device")})
        self.assertEqual((r.status, r.body["deviceId"], r.body["username"], r.body["status"]),
                         (200, dev.device_id, user, "active"), r)
        lst = self.s.request("GET", f"/users/{user}/devices", headers=self.h)
        self.assertEqual([d["deviceId"] for d in lst.body["devices"]], [dev.device_id])
        rid = self.auth_async(user).body["requestId"]
        r = self.s.request("DELETE", "/device",
                           headers={"Authorization": dev.proof("DELETE", "/device")})
        self.assertEqual(r.status, 204, r)
        out = self.s.request("GET", f"/auth/{rid}", headers=self.h).body
        self.assertEqual((out["status"], out["reason"]), ("denied", "device_revoked"))
        r = self.s.request("GET", "/device/challenges?wait=0",
                           headers={"Authorization": dev.proof("GET", "/device/challenges")})
        self.assertProblem(r, 401, "invalid_device_proof")
        self.assertProblem(self.auth(user), 409, "no_active_device")
        lst = self.s.request("GET", f"/users/{user}/devices", headers=self.h)
        self.assertEqual(lst.body["devices"][0]["status"], "revoked")

    def test_application_revokes_a_device(self):
        user, (d1, d2) = self.new_user(devices=2)
        self.assertProblem(self.s.request("DELETE", f"/users/{user}/devices/d_nosuchdevice00",
                                          headers=self.h), 404, "not_found")
        self.assertProblem(self.s.request("DELETE", f"/users/nobody-here/devices/{d1.device_id}",
                                          headers=self.h), 404, "user_not_found")
        self.assertProblem(self.s.request("GET", "/users/nobody-here/devices", headers=self.h),
                           404, "user_not_found")
        r = self.s.request("DELETE", f"/users/{user}/devices/{d1.device_id}", headers=self.h)
        self.assertEqual(r.status, 204, r)
        r = self.s.request("GET", "/device", headers={"Authorization": d1.proof("GET", "/device")})
        self.assertProblem(r, 401, "invalid_device_proof")
        held = POOL.submit(self.auth, user)
        ch = self.challenge_for(d2)
        self.assertEqual(self.answer(d2, ch).body["status"], "accepted")
        self.assertEqual(held.result(30).body["status"], "accepted")

    def test_verification_code(self):
        user, (dev,) = self.new_user()
        # asynchronous: the server draws the code (api.md 5.2); one the application chose
        # is refused, not used
        r = self.auth(user, headers={"Prefer": "respond-async"}, verification="code",
                      displayCode="123")
        self.assertProblem(r, 400, "invalid_request")
        r = self.auth_async(user, verification="code")
        code, rid = r.body["displayCode"], r.body["requestId"]
        self.assertRegex(code, r"^[0-9]{3}$")
        ch = self.challenge_for(dev, rid)
        self.assertEqual(ch["verification"], "code")
        self.assertFalse({"code", "displayCode"} & set(ch), ch)
        self.assertNotIn(code, [v for k, v in ch.items() if isinstance(v, str)], ch)
        self.assertEqual(self.answer(dev, ch, code=code).body["status"], "accepted")
        user2, (dev2,) = self.new_user()
        held = POOL.submit(self.auth, user2, verification="code", displayCode="473")
        ch = self.challenge_for(dev2)
        self.assertEqual(self.answer(dev2, ch, code="474").body["status"], "denied")
        out = held.result(30).body
        self.assertEqual((out["status"], out["reason"]), ("denied", "code_mismatch"))

    def test_fatigue_limits(self):
        user, (dev,) = self.new_user()
        rid = self.auth_async(user, timeout=60).body["requestId"]
        second = self.auth(user)
        self.assertProblem(second, 429, "rate_limited")
        self.assertGreater(int(second.headers["retry-after"]), 0)
        ch = self.challenge_for(dev, rid)
        self.answer(dev, ch, "deny")
        after_deny = self.auth(user)
        self.assertProblem(after_deny, 429, "rate_limited")
        self.assertTrue(1 <= int(after_deny.headers["retry-after"]) <= 10, after_deny.headers)

    def test_the_429_for_a_pending_request_names_it(self):
        """api.md 5.3: the one-pending 429 carries pendingRequestId (held or asynchronous
        first request alike); cancelling that request frees the user; the back-off's 429
        names nothing."""
        user, (dev,) = self.new_user()
        held = POOL.submit(self.auth, user, timeout=60)
        rid = self.challenge_for(dev)["requestId"]
        for second in (self.auth(user), self.auth(user, headers={"Prefer": "respond-async"})):
            self.assertProblem(second, 429, "rate_limited")
            self.assertEqual(second.body["pendingRequestId"], rid, second)
            self.assertGreater(int(second.headers["retry-after"]), 0)
        cancelled = self.s.request("DELETE", f"/auth/{rid}", headers=self.h)
        self.assertEqual((cancelled.status, cancelled.body["status"]), (200, "cancelled"))
        self.assertEqual(held.result(30).body["status"], "cancelled")
        nxt = self.auth_async(user).body["requestId"]  # free again
        self.assertNotEqual(nxt, rid)
        blocked = self.auth(user)
        self.assertEqual(blocked.body.get("pendingRequestId"), nxt, blocked)
        self.answer(dev, self.challenge_for(dev, nxt), "deny")
        backoff = self.auth(user)
        self.assertProblem(backoff, 429, "rate_limited")
        self.assertNotIn("pendingRequestId", backoff.body)
        self.assertGreater(int(backoff.headers["retry-after"]), 0)

    def test_not_me_locks_until_unlocked(self):
        user, (dev,) = self.new_user()
        held = POOL.submit(self.auth, user)
        ch = self.challenge_for(dev)
        self.assertEqual(self.answer(dev, ch, "deny", reason="not_me").body["status"], "denied")
        out = held.result(30).body
        self.assertEqual((out["status"], out["reason"]), ("denied", "fraud_reported"))
        locked = self.auth(user)
        self.assertProblem(locked, 423, "locked")
        self.assertGreater(int(locked.headers["retry-after"]), 3000)
        self.s.cli("user", "unlock", self.app["applicationId"], user)
        # the lock is gone, and so is the back-off of the denied request (api.md 5.3 v1.1)
        self.assertEqual(self.auth(user, headers={"Prefer": "respond-async"}).status, 202)

    def test_unlock_clears_the_backoff_too(self):
        """api.md 5.3 (v1.1): after a "not me" lock and an unlock, the next push is held at
        once, neither 423 nor the 429 of the denied request's back-off."""
        user, (dev,) = self.new_user()
        held = POOL.submit(self.auth, user)
        ch = self.challenge_for(dev)
        self.assertEqual(self.answer(dev, ch, "deny", reason="not_me").body["status"], "denied")
        self.assertEqual(held.result(30).body["reason"], "fraud_reported")
        self.assertProblem(self.auth(user), 423, "locked")
        self.assertEqual(self.s.cli("user", "unlock", self.app["applicationId"], user),
                         {"applicationId": self.app["applicationId"], "unlocked": True})
        nxt = POOL.submit(self.auth, user)
        polled = self.poll(dev)  # held: the device gets the new challenge
        self.assertEqual(len(polled), 1, nxt.result(30) if nxt.done() else polled)
        _, ch = dev.verify_challenge(polled[0]["challenge"])
        self.assertNotEqual(ch["requestId"], held.result(1).body["requestId"])
        self.assertEqual(self.answer(dev, ch, "approve").body["status"], "accepted")
        out = nxt.result(30)
        self.assertEqual((out.status, out.body["status"]), (200, "accepted"), out)

    def test_not_me_requires_deny(self):
        user, (dev,) = self.new_user()
        rid = self.auth_async(user).body["requestId"]
        ch = self.challenge_for(dev, rid)
        self.assertProblem(self.answer(dev, ch, "approve", reason="not_me"), 400,
                           "invalid_response")

    def test_hang_up_cancels_within_5_s(self):
        user, (dev,) = self.new_user()
        body = json.dumps({"username": user, "timeout": 120}).encode()
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
        head = (f"POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"x-application-id: {self.app['applicationId']}\r\n"
                f"x-application-secret: {self.app['applicationSecret']}\r\n\r\n").encode()
        sock.sendall(head + body)
        ch = self.challenge_for(dev)
        sock.close()
        r = self.s.request("GET", f"/auth/{ch['requestId']}?wait=5", headers=self.h, timeout=20)
        self.assertEqual((r.body["status"], r.body["reason"]), ("cancelled", "cancelled"), r)
        self.assertProblem(self.answer(dev, ch), 409, "already_decided")

    def test_kill9_keeps_a_pending_request_answerable(self):
        s = self.server()
        user, (dev,) = self.new_user(server=s)
        rid = self.auth(user, server=s, headers={"Prefer": "respond-async"}).body["requestId"]
        s.kill9()
        s2 = self.server()
        r = s2.request("GET", f"/auth/{rid}", headers=self.h)
        self.assertEqual(r.body["status"], "pending", r)
        ch = self.challenge_for(dev, rid, server=s2)
        self.assertEqual(self.answer(dev, ch, server=s2).body["status"], "accepted")
        self.assertEqual(s2.request("GET", f"/auth/{rid}", headers=self.h).body["status"],
                         "accepted")

    def test_sigterm_answers_held_requests(self):
        s = self.server(env={"PUSHGATE_DRAIN_SECONDS": "1"})
        user, (dev,) = self.new_user(server=s)
        held = POOL.submit(self.auth, user, server=s)
        self.challenge_for(dev, server=s)
        self.assertEqual(s.stop(), 0)
        out = held.result(30)
        self.assertProblem(out, 503, "unavailable")

    def held(self, s, key, value, since=0):
        """Waits until the hold keyed `key`=`value` waits (server/io/hold.c logs each state)."""
        return s.wait_log(lambda o: o.get("msg") == "hold state" and o.get(key) == value
                          and o.get("to") == "waiting", timeout=20, since=since)

    def test_sigterm_answers_a_held_poll_at_once(self):
        s = self.server(env={"PUSHGATE_DRAIN_SECONDS": "20"})
        user, (dev,) = self.new_user(server=s)
        since = len(s.logs)
        polled = POOL.submit(self.poll, dev, 30, s)
        self.held(s, "deviceId", dev.device_id, since)
        started = time.monotonic()
        stopped = POOL.submit(s.stop)
        self.assertEqual(polled.result(30), [])
        self.assertLess(time.monotonic() - started, 5, "the poll waited for the drain period")
        self.assertEqual(stopped.result(40), 0)

    def test_a_poll_whose_device_hangs_up_is_released(self):
        user, (dev,) = self.new_user()
        path = "/device/challenges"
        since = len(self.s.logs)
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
        sock.sendall((f"GET {path}?wait=30 HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: {dev.proof('GET', path)}\r\n\r\n").encode())
        self.held(self.s, "deviceId", dev.device_id, since)
        sock.close()
        self.s.wait_log(lambda o: o.get("msg") == "hold ended"
                        and o.get("deviceId") == dev.device_id, timeout=10, since=since)
        self.assertFalse(self.poll(dev, wait=0), "nothing was pending")


class Metrics(PushBase):
    def metric(self, text, name):
        m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    def test_metrics_count_what_happens(self):
        user, (dev,) = self.new_user()
        held = POOL.submit(self.auth, user)
        ch = self.challenge_for(dev)
        r = self.s.request("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"))
        text = r.raw.decode()
        self.assertEqual(self.metric(text, 'pushgate_held_requests{kind="auth"}'), 1, text)
        # the device's "linked" notice mail may still be queued: only its presence is certain
        self.assertGreaterEqual(self.metric(text, "pushgate_outbox_depth"), 0, text)
        self.answer(dev, ch)
        self.assertEqual(held.result(30).body["status"], "accepted")
        text = self.s.request("GET", "/metrics").raw.decode()
        self.assertEqual(self.metric(text, 'pushgate_held_requests{kind="auth"}'), 0, text)
        self.assertEqual(self.metric(text, "pushgate_decision_latency_seconds_count"), 1, text)
        self.assertEqual(self.metric(text, 'pushgate_auth_requests{outcome="accepted"}'), 1)
        self.assertEqual(self.metric(
            text, 'pushgate_http_requests_total{route="/auth",status="200"}'), 1, text)


class SharedReads(PushBase):
    """/metrics, /readyz and the JWKS need no credentials and cost the database a read:
    requests that ask while the read runs share it, and /metrics' outcome counts (a scan
    of auth_requests) are kept for PUSHGATE_METRICS_DB_SECONDS (server/io/dbshared.h)."""

    def db_lines(self, text):
        return [ln for ln in text.splitlines() if ln.startswith(("pushgate_auth_requests{",
                                                                  "pushgate_outbox_depth "))]

    def test_a_read_serves_the_scrapes_of_its_interval(self):
        s = self.server(env={"PUSHGATE_METRICS_DB_SECONDS": "3600"})
        user, (dev,) = self.new_user(server=s)
        first = s.request("GET", "/metrics").raw.decode()
        self.assertIn("pushgate_db_up 1", first)
        held = POOL.submit(self.auth, user, server=s)
        self.answer(dev, self.challenge_for(dev, server=s), server=s)
        self.assertEqual(held.result(30).body["status"], "accepted")
        second = s.request("GET", "/metrics").raw.decode()
        # what the process counts itself is live; the database's figures are the first read's
        self.assertRegex(second, r'(?m)^pushgate_http_requests_total\{route="/auth",status="200"\} 1$')
        self.assertNotRegex(first, r'(?m)^pushgate_http_requests_total\{route="/auth"')
        self.assertEqual(self.db_lines(second), self.db_lines(first))
        accepted = self.q("SELECT count(*) FROM auth_requests WHERE status = 'accepted'")[0][0]
        self.assertNotIn(f'pushgate_auth_requests{{outcome="accepted"}} {accepted}', second)

    def lock(self, table):
        locker = __import__("psycopg2").connect(self.db_url)
        self.addCleanup(locker.close)
        locker.cursor().execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        return locker

    def reads(self, statement):
        """How many backends running `statement` wait on a lock."""
        return self.q("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND query "
                      "NOT LIKE '%%pg_stat_activity%%' AND wait_event_type = 'Lock'",
                      f"%{statement}%")[0][0]

    def five_during_one_read(self, s, path, table, statement, other):
        """Five GET `path` while `table` is locked must make one read (a backend running
        `statement` waits on the lock; the pool's other connection still serves
        `other`); returns their answers once the lock is gone."""
        locker = self.lock(table)
        gets = [POOL.submit(s.request, "GET", path, timeout=60)]
        self.assertEqual(harness.poll(lambda: self.reads(statement), lambda n: n == 1), 1)
        gets += [POOL.submit(s.request, "GET", path, timeout=60) for _ in range(4)]
        for _ in range(2):  # by then the four later requests (sent before) have arrived
            self.assertEqual(s.request("GET", other).status, 200)
        self.assertEqual(self.reads(statement), 1, f"a second read for {path} started")
        locker.rollback()
        return [f.result(30) for f in gets]

    def test_scrapes_during_a_read_wait_for_it(self):
        s = self.server(env={"PUSHGATE_METRICS_DB_SECONDS": "3600", "PUSHGATE_DB_POOL_SIZE": "2"})
        texts = [a.raw.decode() for a in self.five_during_one_read(
            s, "/metrics", "auth_requests", "FROM auth_requests GROUP BY", "/readyz")]
        self.assertTrue(all("pushgate_db_up 1" in t for t in texts), texts)
        self.assertEqual({tuple(self.db_lines(t)) for t in texts}, {tuple(self.db_lines(texts[0]))})
        self.assertTrue(self.db_lines(texts[0]), texts[0])

    def check_shared(self, path, table, statement, other):
        """As five_during_one_read, all answers alike; and the next GET reads again."""
        s = self.server(env={"PUSHGATE_DB_POOL_SIZE": "2"})
        # its first LISTEN reads the current signing key (keyswap.c): not behind our lock
        s.wait_log(lambda o: o.get("msg") == "signing key checked: unchanged")
        answers = self.five_during_one_read(s, path, table, statement, other)
        self.assertEqual([a.status for a in answers], [200] * 5, answers)
        self.assertEqual(len({a.raw for a in answers}), 1, answers)
        locker = self.lock(table)
        late = POOL.submit(s.request, "GET", path, timeout=60)
        # not kept: read again
        self.assertEqual(harness.poll(lambda: self.reads(statement), lambda n: n == 1), 1)
        locker.rollback()
        self.assertEqual(late.result(30).status, 200)

    def test_probes_during_a_read_share_it(self):
        self.check_shared("/readyz", "schema_migrations", "FROM schema_migrations",
                          "/.well-known/jwks.json")

    def test_key_set_requests_during_a_read_share_it(self):
        self.check_shared("/.well-known/jwks.json", "server_keys", "server_jwks()", "/readyz")


class KnownIdle(PushBase):
    """One instance alone on its database (no peer, so no NOTIFY): what it knows of a
    device's pending challenges comes from its own reads, creates and answers."""

    def test_the_poll_after_an_answer_is_held_without_a_read(self):
        user, (dev,) = self.new_user()
        self.assertEqual(self.poll(dev, 0), [])  # read: nothing pending
        held = POOL.submit(self.auth, user)      # created here: one pending
        ch = self.challenge_for(dev)             # read: that one
        self.assertEqual(self.answer(dev, ch).body["status"], "accepted")
        self.assertEqual(held.result(30).body["status"], "accepted")
        mark = len(self.s.logs)
        waiting = POOL.submit(self.poll, dev, 30)  # answered here: nothing pending
        self.s.wait_log(lambda o: o.get("msg") == "device poll held without a read"
                        and o.get("deviceId") == dev.device_id, since=mark)
        held = POOL.submit(self.auth, user)
        challenges = waiting.result(40)
        self.assertEqual(len(challenges), 1, "the poll held without a read missed the request")
        _, ch2 = dev.verify_challenge(challenges[0]["challenge"])
        self.assertEqual(self.answer(dev, ch2).body["status"], "accepted")
        self.assertEqual(held.result(30).body["status"], "accepted")
        text = self.s.request("GET", "/metrics").raw.decode()
        self.assertRegex(text, r'(?m)^pushgate_device_polls_total\{read="none"\} [1-9]')


class GroupCommit(PushBase):
    """Answers that queue for a connection go to the database as one batch statement
    (sql/009_batches.sql). With one connection held busy, queued answers are certain to
    meet in one batch; each must still get its own outcome, in arrival order, and when
    the batch statement itself fails, each must run alone and get the same outcome."""

    def setUp(self):
        super().setUp()
        self.g = self.one_connection_server()

    def one_connection_server(self, **env):
        return self.server(env={"PUSHGATE_DB_POOL_SIZE": "1", "PUSHGATE_LOG_LEVEL": "debug", **env})

    def hold_the_connection(self):
        """g's only connection waits inside auth_create on a user's advisory lock taken
        here; returns the held request and the lock's release."""
        user, _ = self.new_user(server=self.g)
        key = f"{self.app['applicationId']}/{user}"
        self.q("SELECT pg_advisory_lock(73501, hashtext(%s))", key)
        held = POOL.submit(self.auth, user, server=self.g, headers={"Prefer": "respond-async"})
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' " \
                  "AND query LIKE '%%auth_create%%'"
        self.assertEqual(harness.poll(lambda: self.q(waiting)[0][0], lambda n: n == 1), 1)
        return held, lambda: self.q("SELECT pg_advisory_unlock(73501, hashtext(%s))", key)

    def queue(self, fn, *args, **kw):
        """Submits fn(*args, **kw) (a request to g) and returns its future once g has
        queued the batchable statement it makes behind the held connection."""
        mark = len(self.g.logs)
        future = POOL.submit(fn, *args, **kw)
        self.g.wait_log(lambda o: o.get("msg") == "db statement waits for a connection"
                        and o.get("batch") == "yes", since=mark)
        return future

    def queue_answers(self, answers):
        """Queues each (device, challenge, decision, nonce) in turn; their futures."""
        return [self.queue(self.answer, dev, {**ch, "nonce": nonce or ch["nonce"]}, decision,
                           self.g) for dev, ch, decision, nonce in answers]

    def batches(self):
        text = self.g.request("GET", "/metrics").raw.decode()
        return [int(re.search(rf"(?m)^pushgate_db_{n}_total (\d+)$", text).group(1))
                for n in ("batches", "batched")]

    def batches_since(self, before):
        """(batch statements, statements they carried) since `before` = self.batches()."""
        after = self.batches()
        return after[0] - before[0], after[1] - before[1]

    def four_answers(self):
        """Two devices of one user answering the same request, one other answer, one
        with a wrong nonce; the expected outcome of each."""
        (a, (d1, d2)), (b, (d3,)), (c, (d4,)) = (self.new_user(2, self.g), self.new_user(1, self.g),
                                                 self.new_user(1, self.g))
        for user in (a, b, c):
            self.auth_async(user)
        c1, c2 = self.challenge_for(d1, server=self.g), self.challenge_for(d2, server=self.g)
        c3, c4 = self.challenge_for(d3, server=self.g), self.challenge_for(d4, server=self.g)
        answers = [(d2, c2, "deny", None), (d1, c1, "approve", None), (d3, c3, "approve", None),
                   (d4, c4, "approve", "bm90LXRoZS1ub25jZQ")]
        return answers, [(200, "denied"), (409, None), (200, "accepted"), (400, None)]

    def outcomes(self, futures):
        out = []
        for f in futures:
            r = f.result(30)
            out.append((r.status, r.body.get("status") if r.status == 200 else None))
        return out

    def test_queued_answers_share_one_statement_and_keep_their_own_outcomes(self):
        answers, expected = self.four_answers()
        before = self.batches()
        held, release = self.hold_the_connection()
        futures = self.queue_answers(answers)
        release()
        self.assertEqual(held.result(30).status, 202)
        self.assertEqual(self.outcomes(futures), expected)
        self.assertEqual(self.batches_since(before), (1, 4))

    def test_one_proof_twice_in_a_batch_is_accepted_once(self):
        """The same answer with the same device proof queued twice: they go in one batch
        statement, which claims the proof's jti once (auth_decide_batch_claimed)."""
        user, (dev,) = self.new_user(server=self.g)
        rid = self.auth(user, server=self.g, headers={"Prefer": "respond-async"}).body["requestId"]
        ch = self.challenge_for(dev, rid, server=self.g)
        path = f"/device/challenges/{rid}"
        send = functools.partial(self.g.request, "POST", path,
                                 headers={"Authorization": dev.proof("POST", path)},
                                 body={"response": dev.response(rid, ch["nonce"])})
        before, mark = self.batches(), len(self.g.logs)
        held, release = self.hold_the_connection()
        futures = [self.queue(send), self.queue(send)]
        release()
        self.assertEqual(held.result(30).status, 202)
        first, second = (f.result(30) for f in futures)
        self.assertEqual((first.status, first.body.get("status")), (200, "accepted"), first)
        self.assertProblem(second, 401, "invalid_device_proof")
        self.assertEqual(self.batches_since(before), (1, 2))
        self.assertFalse([o for o in self.g.logs[mark:] if "db batch failed" in o],
                         "the batch failed: it must claim a repeated jti once, not twice")

    def test_queued_credential_reads_share_one_statement(self):
        user, _ = self.new_user(server=self.g)
        rid = self.auth_async(user).body["requestId"]
        callers = [self.h, {**self.h, "x-application-secret": "wrong"},
                   {**self.h, "x-application-id": "a_unknownunknown"}, self.h]
        before = self.batches()
        held, release = self.hold_the_connection()
        futures = [self.queue(self.g.request, "GET", f"/auth/{rid}", headers=h) for h in callers]
        release()
        self.assertEqual(held.result(30).status, 202)
        self.assertEqual([f.result(30).status for f in futures], [200, 401, 401, 200])
        self.assertEqual(self.batches_since(before), (1, 4))

    def test_queued_creates_name_the_pending_request(self):
        """Creates of one user that meet in a batch statement: the later ones' 429 names
        the request of the first (pending_id from auth_create_batch)."""
        a, _ = self.new_user(server=self.g)
        held, release = self.hold_the_connection()
        futures = [self.queue(self.auth, a, server=self.g, headers={"Prefer": "respond-async"})
                   for _ in range(3)]
        release()
        self.assertEqual(held.result(30).status, 202)
        got = [f.result(30) for f in futures]
        self.assertEqual(got[0].status, 202, got)
        for r in got[1:]:
            self.assertProblem(r, 429, "rate_limited")
            self.assertEqual(r.body["pendingRequestId"], got[0].body["requestId"], r)

    def test_queued_creates_share_one_statement_and_keep_their_own_outcomes(self):
        (a, _), (b, _), (c, _) = (self.new_user(server=self.g) for _ in range(3))
        before = self.batches()
        held, release = self.hold_the_connection()
        futures = [self.queue(self.auth, user, server=self.g, headers={"Prefer": "respond-async"})
                   for user in (a, b, c, a)]  # a twice: one pending request per user
        release()
        self.assertEqual(held.result(30).status, 202)
        got = [f.result(30) for f in futures]
        self.assertEqual([r.status for r in got[:3]], [202, 202, 202], got)
        self.assertProblem(got[3], 429, "rate_limited")
        # the four credential reads go as one batch; their callbacks then submit the four
        # creates: the first finds the connection idle and goes alone (unless a periodic
        # statement took it first), the others queue and go as one batch
        batches, items = self.batches_since(before)
        self.assertEqual(batches, 2)
        self.assertIn(items, (7, 8))
        for r in got[:3]:
            self.assertEqual(self.g.request("GET", f"/auth/{r.body['requestId']}",
                                            headers=self.h).body["status"], "pending")

    def test_batch_max_1_sends_each_answer_alone(self):
        self.g = self.one_connection_server(PUSHGATE_DB_BATCH_MAX="1")
        answers, expected = self.four_answers()
        held, release = self.hold_the_connection()
        futures = self.queue_answers(answers)
        release()
        self.assertEqual(held.result(30).status, 202)
        self.assertEqual(self.outcomes(futures), expected)
        self.assertEqual(self.batches(), [0, 0])

    def test_a_failed_batch_runs_each_answer_alone(self):
        answers, expected = self.four_answers()
        args = "text[], text[], text[], text[], text[], text[], text[], text[], text[]"
        self.q(f"ALTER FUNCTION auth_decide_batch({args}) RENAME TO auth_decide_batch_off")
        self.addCleanup(self.q, f"ALTER FUNCTION auth_decide_batch_off({args}) "
                                f"RENAME TO auth_decide_batch")
        mark = len(self.g.logs)
        held, release = self.hold_the_connection()
        futures = self.queue_answers(answers)
        release()
        self.assertEqual(held.result(30).status, 202)
        self.assertEqual(self.outcomes(futures), expected)
        self.g.wait_log(lambda o: o.get("msg") == "db batch failed: its items run alone",
                        since=mark)

    def test_a_batch_whose_connection_dies_answers_503_and_decides_nothing(self):
        """The batch's backend is killed while it waits on a row lock: each answer hears
        503 unavailable (never an outcome it cannot know), nothing was decided, and the
        same answers succeed once the pool is back."""
        import psycopg2
        users = [self.new_user(server=self.g) for _ in range(3)]
        rids = [self.auth_async(user).body["requestId"] for user, _ in users]
        answers = [(dev, self.challenge_for(dev, rid, server=self.g), "approve", None)
                   for (_, (dev,)), rid in zip(users, rids)]
        locker = psycopg2.connect(self.db_url)  # a transaction holding the last row
        self.addCleanup(locker.close)
        locker.cursor().execute("SELECT 1 FROM auth_requests WHERE id = %s FOR UPDATE",
                                (rids[-1],))
        held, release = self.hold_the_connection()
        futures = self.queue_answers(answers)
        mark = len(self.g.logs)
        release()
        self.assertEqual(held.result(30).status, 202)
        blocked = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' " \
                  "AND query LIKE '%%auth_decide_batch%%'"
        pids = harness.poll(lambda: self.q(blocked), lambda rows: len(rows) == 1)
        self.q("SELECT pg_terminate_backend(%s)", pids[0][0])
        for f in futures:
            self.assertProblem(f.result(30), 503, "unavailable")
        locker.rollback()
        statuses = "SELECT status FROM auth_requests WHERE id = ANY(%s)"
        self.assertEqual(self.q(statuses, rids), [("pending",)] * 3)
        self.g.wait_log(lambda o: o.get("msg") == "db available again"
                        and o.get("pool") == "queries", since=mark)
        again = [self.answer(dev, ch, decision, self.g) for dev, ch, decision, _ in answers]
        self.assertEqual([(r.status, r.body.get("status")) for r in again],
                         [(200, "accepted")] * 3)


class Listener:
    """LISTEN on the server's channel with psycopg2. Notifications arrive in commit
    order, so after our own marker NOTIFY everything committed before it has arrived:
    absence is checked without waiting for a timeout."""

    def __init__(self, url):
        import psycopg2
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True
        self.conn.cursor().execute("LISTEN pushgate")
        self.n = 0

    def payloads_until_marker(self, timeout=10):
        import select
        self.n += 1
        marker = f"marker:{self.n}"
        self.conn.cursor().execute("SELECT pg_notify('pushgate', %s)", (marker,))
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.conn.poll()
            while self.conn.notifies:
                p = self.conn.notifies.pop(0).payload
                if p == marker:
                    return seen
                seen.append(p)
            select.select([self.conn], [], [], max(0, deadline - time.monotonic()))
        raise AssertionError("our own marker notification never arrived")


class ReplyHoldingProxy:
    """A TCP proxy in front of PostgreSQL that, on a connection whose client prepares an
    `auth_create` statement, lets the reply to that Parse through and then holds back
    everything the database says (the create's own reply first) until release(): the
    create is committed, and announced, while its server has not heard of it."""

    def __init__(self, db_port):
        self.db_port = db_port
        self.released = threading.Event()
        self.holding = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db_url):
        return re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{self.port}", db_url)

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            db = socket.create_connection(("127.0.0.1", self.db_port))
            state = {"armed": False, "hold": False}
            threading.Thread(target=self._up, args=(client, db, state), daemon=True).start()
            threading.Thread(target=self._down, args=(db, client, state), daemon=True).start()

    def _up(self, src, dst, state):
        with src, dst:
            try:
                while data := src.recv(65536):
                    if b"auth_create" in data:
                        state["armed"] = True  # before it leaves: its reply cannot overtake
                    dst.sendall(data)
            except OSError:
                pass

    def _down(self, src, dst, state):
        """Once armed: whole messages up to the next ReadyForQuery (the reply to the
        Parse), then nothing until release()."""
        pending = b""
        with src, dst:
            try:
                while data := src.recv(65536):
                    if state["armed"] and not state["hold"]:
                        pending, data = pending + data, b""
                        while len(pending) >= 5 and not state["hold"]:
                            n = 1 + int.from_bytes(pending[1:5], "big")
                            if len(pending) < n:
                                break
                            state["hold"] = pending[:1] == b"Z"
                            data, pending = data + pending[:n], pending[n:]
                        if state["hold"]:
                            dst.sendall(data)
                            self.holding.set()
                            self.released.wait()
                            data, pending = pending, b""
                    if data:
                        dst.sendall(data)
            except OSError:
                pass

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        self.sock.close()


class HangUpDuringOutage(PushBase):
    def test_a_caller_that_hangs_up_while_the_database_is_down_still_cancels(self):
        """The synchronous caller leaves while the database is down: the cancel it is owed
        waits for the database (authcancel.c). Before, the failed cancel was dropped, the
        request stayed pending, and the device could approve it once the database was
        back (found by a fault-injection check)."""
        user, (dev,) = self.new_user()
        body = json.dumps({"username": user, "timeout": 120}).encode()
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
        sock.sendall((f"POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n"
                      f"x-application-id: {self.app['applicationId']}\r\n"
                      f"x-application-secret: {self.app['applicationSecret']}\r\n\r\n")
                     .encode() + body)
        ch = self.challenge_for(dev)
        self.addCleanup(self.pg.start)
        self.pg.stop()
        mark = len(self.s.logs)
        sock.close()
        self.s.wait_log(lambda o: o.get("msg") == "cancel of a hung-up request waits for the "
                        "database" and o.get("requestId") == ch["requestId"], since=mark)
        self.pg.start()
        self.s.wait_log(lambda o: o.get("msg") == "auth request cancelled: the application "
                        "hung up" and o.get("requestId") == ch["requestId"], since=mark,
                        timeout=30)
        r = self.s.request("GET", f"/auth/{ch['requestId']}", headers=self.h)
        self.assertEqual((r.body["status"], r.body["reason"]), ("cancelled", "cancelled"), r)
        self.assertProblem(self.answer(dev, ch), 409, "already_decided")


class KeyRotation(PushBase):
    def test_a_rotated_key_signs_the_next_challenge_without_a_restart(self):
        """`pushgated key rotate` while the server runs: the JWKS publishes the new key with
        the old one, and the next challenge is signed with the new key (keyswap.c). Before,
        an instance signed with the key it had loaded until restarted, and after the old
        key's week in the JWKS its challenges named a key nobody published."""
        user, (dev,) = self.new_user()
        rid = self.auth_async(user).body["requestId"]
        ch = self.poll(dev)[0]["challenge"]
        old = json.loads(device.b64u_decode(ch.split(".")[0]))["kid"]
        self.assertIsNotNone(dev.verify_challenge(ch))
        mark = len(self.s.logs)
        new = self.s.cli("key", "rotate")["kid"]
        self.assertNotEqual(new, old)
        self.s.wait_log(lambda o: o.get("msg") == "signing key changed"
                        and o.get("kid") == new, since=mark)
        jwks = {k["kid"]: k for k in self.s.request("GET", "/.well-known/jwks.json")
                .body["keys"]}
        self.assertLessEqual({old, new}, set(jwks))
        self.assertEqual(self.answer(dev, dev.verify_challenge(ch)[1]).body["status"],
                         "accepted")  # signed before the rotation: still answerable
        rid2 = self.auth_async(user).body["requestId"]
        (item,) = self.poll(dev)
        header = json.loads(device.b64u_decode(item["challenge"].split(".")[0]))
        self.assertEqual((item["requestId"], header["kid"]), (rid2, new))
        self.assertIsNotNone(device.verify(item["challenge"], jwks[new]))
        self.assertNotEqual(rid, rid2)


class TwoInstances(PushBase):
    def peer(self, **kw):
        """A second server, once its LISTEN is established: a NOTIFY sent before that is
        not lost to it, but it hears of it only through the re-read that follows LISTEN,
        without the `peer notification` log line some tests wait for."""
        s = self.server(**kw)
        s.wait_log(lambda o: o.get("msg") == "listening for peer notifications")
        return s

    def proxied_server(self, **env):
        """A server whose database replies go through a ReplyHoldingProxy (one pool
        connection, this database's master key)."""
        proxy = ReplyHoldingProxy(int(re.search(r":(\d+)/", self.db_url).group(1)))
        self.addCleanup(proxy.close)
        return proxy, self.peer(db_url=proxy.url(self.db_url),
                                env={"PUSHGATE_DB_POOL_SIZE": "1",
                                     "PUSHGATE_KEY_FILE": harness._key_file_for(self.db_url),
                                     **env})

    def listeners(self):
        return {pid for (pid,) in self.q(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND query = 'LISTEN pushgate'")}

    def peer_with_listener(self):
        """A fresh second server and the backend pid of its LISTEN connection."""
        before = self.listeners()
        a = self.peer()
        (pid,) = self.listeners() - before
        return a, pid

    def cut_listen(self, server, pid):
        """Ends server's LISTEN connection and refuses every new connection to the database
        (existing ones keep working) until the returned function is called: whatever is
        NOTIFYed meanwhile is lost to server. The function returns server's log mark."""
        import psycopg2
        db = self.q("SELECT current_database()")[0][0]
        admin = psycopg2.connect(self.pg.url)
        admin.autocommit = True  # a database cannot refuse connections from its own session
        self.addCleanup(admin.close)
        allow = lambda on: admin.cursor().execute(  # noqa: E731
            f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS {on}')
        allow("false")
        self.addCleanup(allow, "true")
        mark = len(server.logs)
        self.q("SELECT pg_terminate_backend(%s)", pid)
        server.wait_log(lambda o: o.get("msg", "").startswith("db unavailable")
                        and o.get("pool") == "listen", since=mark)

        def restore():
            mark = len(server.logs)
            allow("true")
            return mark
        return restore

    def test_a_device_proof_is_accepted_once_by_all_instances_together(self):
        """api.md 6.1: a jti seen from the device in the last 120 s is refused. Each
        instance remembered only the jtis it had seen itself, so a captured proof worked
        once more on every other instance, and again after a restart."""
        user, (dev,) = self.new_user()
        a, b = self.s, self.peer()
        get = {"Authorization": dev.proof("GET", "/device")}
        self.assertEqual(a.request("GET", "/device", headers=get).status, 200)
        self.assertProblem(b.request("GET", "/device", headers=get), 401, "invalid_device_proof")
        later = self.server()  # a process that has seen nothing, as after a restart
        self.assertProblem(later.request("GET", "/device", headers=get), 401,
                           "invalid_device_proof")
        # an answer claims its proof's jti in the deciding statement: replayed on another
        # instance it is refused as a proof (not 409), and changes nothing
        rid = self.auth_async(user).body["requestId"]
        ch = self.challenge_for(dev, rid)
        path = f"/device/challenges/{rid}"
        post = {"Authorization": dev.proof("POST", path)}
        body = {"response": dev.response(rid, ch["nonce"], "deny")}
        r = a.request("POST", path, headers=post, body=body)
        self.assertEqual((r.status, r.body.get("status")), (200, "denied"), r)
        self.assertProblem(b.request("POST", path, headers=post, body=body), 401,
                           "invalid_device_proof")
        jtis = [json.loads(device.b64u_decode(h["Authorization"].split(".")[1]))["jti"]
                for h in (get, post)]
        self.assertEqual(self.q("SELECT count(*) FROM device_jtis WHERE device_id = %s "
                                "AND jti = ANY(%s)", dev.device_id, jtis), [(2,)])

    def test_a_decision_announced_while_listen_is_down_is_read_when_it_returns(self):
        """B decides a request held on A while A's LISTEN connection is gone, so A never
        hears B's NOTIFY. When A listens again it must read what it holds at once (notify.c),
        not leave the application waiting for the expiry read 60 s later."""
        user, (dev,) = self.new_user()
        a, pid = self.peer_with_listener()
        b = self.s
        held = POOL.submit(self.auth, user, server=a, timeout=60)
        ch = self.challenge_for(dev, server=b)
        restore = self.cut_listen(a, pid)
        self.assertEqual(self.answer(dev, ch, server=b).body["status"], "accepted")
        self.assertFalse(held.done(), "A answered without hearing of the decision")
        mark = restore()
        a.wait_log(lambda o: o.get("msg") == "listening for peer notifications", since=mark)
        out = held.result(20)  # without the re-read: only at the 60 s expiry
        self.assertEqual((out.status, out.body["status"]), (200, "accepted"), out)

    def test_a_challenge_announced_while_listen_is_down_reaches_a_held_poll(self):
        """A device's poll is held on A without a read (A knows it has nothing pending) while
        A's LISTEN connection is gone; B creates a request for it. When A listens again, A
        must forget what it knew and read again: the poll gets the challenge."""
        user, (dev,) = self.new_user()
        a, pid = self.peer_with_listener()
        self.assertEqual(self.poll(dev, 0, a), [])  # a read that finds nothing: A knows
        restore = self.cut_listen(a, pid)
        mark = len(a.logs)
        waiting = POOL.submit(self.poll, dev, 30, a)
        a.wait_log(lambda o: o.get("msg") == "device poll held without a read"
                   and o.get("deviceId") == dev.device_id, since=mark)
        rid = self.auth_async(user).body["requestId"]  # on B
        self.assertFalse(waiting.done(), "A's poll answered without hearing of the request")
        restore()
        challenges = waiting.result(40)  # without the re-read: [] after the 30 s wait
        self.assertEqual([dev.verify_challenge(c["challenge"])[1]["requestId"]
                          for c in challenges], [rid])

    def test_after_listen_returns_only_the_devices_concerned_are_read(self):
        """When A listens again it must find what it missed without one read per held poll
        (a worker of bench B5 holds 16,000: reading them all overran the database queue and
        answered every device 503). Nine idle devices and one with a challenge announced
        while A was deaf: only that one is read (a read stamps an old lastSeenAt), its
        poll gets the challenge, and the nine stay held."""
        users = [self.new_user() for _ in range(10)]
        devs = [dev for _, (dev,) in users]
        a, pid = self.peer_with_listener()
        for dev in devs:
            self.assertEqual(self.poll(dev, 0, a), [])  # a read that finds nothing: A knows
        restore = self.cut_listen(a, pid)
        mark = len(a.logs)
        waiting = [POOL.submit(self.poll, dev, 30, a) for dev in devs]
        for dev in devs:
            a.wait_log(lambda o, d=dev.device_id: o.get("msg") == "device poll held without a read"
                       and o.get("deviceId") == d, since=mark)
        ids = [dev.device_id for dev in devs]
        self.q("UPDATE devices SET last_seen_at = '2000-01-01' WHERE id = ANY(%s)", ids)
        rid = self.auth_async(users[0][0]).body["requestId"]  # on B: A does not hear it
        mark = restore()
        challenges = waiting[0].result(40)  # without the check: [] after the 30 s wait
        self.assertEqual([devs[0].verify_challenge(c["challenge"])[1]["requestId"]
                          for c in challenges], [rid])
        a.wait_log(lambda o: o.get("msg") == "held polls checked again"
                   and o.get("woken") == "1", since=mark)
        read = "SELECT id FROM devices WHERE id = ANY(%s) AND last_seen_at > '2001-01-01'"
        self.assertEqual(self.q(read, ids), [(ids[0],)])
        self.assertEqual([w.done() for w in waiting[1:]], [False] * 9)

    def test_sigterm_before_the_create_reply_still_answers_503(self):
        """SIGTERM arrives while a synchronous POST /auth waits for its create's reply: the
        waiter registers after the drain began, and must still be drained (503), and the
        server must exit cleanly."""
        proxy, a = self.proxied_server(PUSHGATE_DRAIN_SECONDS="1")
        user, _ = self.new_user()
        held = POOL.submit(self.auth, user, server=a)
        self.assertTrue(proxy.holding.wait(20), "the create's reply was never held")
        mark = len(a.logs)
        stopped = POOL.submit(a.stop)
        a.wait_log(lambda o: o.get("msg") == "stopping", since=mark)
        proxy.release()
        self.assertProblem(held.result(30), 503, "unavailable")
        self.assertEqual(stopped.result(30), 0)

    def test_a_decision_made_before_the_create_reply_still_answers_at_once(self):
        """A's create is committed, announced and decided on B while A has not yet heard the
        create's reply (held by a proxy). When the reply comes, A registers the waiter after
        the decision: it must read the request at once (authearly.c), not wait for expiry."""
        proxy, a = self.proxied_server()
        b = self.s
        user, (dev,) = self.new_user()
        waiting = POOL.submit(self.poll, dev, 30, b)
        held = POOL.submit(self.auth, user, server=a, timeout=60)
        challenges = waiting.result(40)
        self.assertEqual(len(challenges), 1, "B's held poll was not woken")
        _, ch = dev.verify_challenge(challenges[0]["challenge"])
        mark = len(a.logs)
        self.assertEqual(self.answer(dev, ch, server=b).body["status"], "accepted")
        a.wait_log(lambda o: o.get("payload") == f"d:{ch['requestId']}", since=mark)
        self.assertFalse(held.done(), "A answered before it heard its create's reply")
        proxy.release()
        out = held.result(20)  # without authearly: only at the 60 s expiry
        self.assertEqual((out.status, out.body["status"]), (200, "accepted"), out)

    def test_notify_only_while_a_peer_lives(self):
        listener = Listener(self.db_url)
        user, (dev,) = self.new_user()
        self.auth_async(user)
        self.assertEqual([p for p in listener.payloads_until_marker() if p[:2] in ("c:", "d:")],
                         [], "a lone instance sent NOTIFY")
        b = self.server()
        user2, (dev2,) = self.new_user()
        self.auth_async(user2)
        self.assertIn(f"c:{dev2.device_id}", listener.payloads_until_marker())
        b.stop()
        listener.conn.close()

    def test_application_on_a_device_on_b(self):
        a, b = self.s, self.peer()
        user, (dev,) = self.new_user()
        waiting = POOL.submit(self.poll, dev, 30, b)   # held on B before the request exists
        held = POOL.submit(self.auth, user, server=a)
        challenges = waiting.result(40)
        self.assertEqual(len(challenges), 1, "B's held poll was not woken")
        _, ch = dev.verify_challenge(challenges[0]["challenge"])
        self.assertEqual(self.answer(dev, ch, server=b).body["status"], "accepted")
        out = held.result(30)
        self.assertEqual((out.status, out.body["status"]), (200, "accepted"), out)
        self.assertEqual(a.request("GET", f"/auth/{ch['requestId']}", headers=self.h)
                         .body["status"], "accepted")

    def test_a_device_known_idle_is_held_without_a_read_and_still_hears_its_peer(self):
        """After its answer, a device's next poll on B is held without a database read
        (B knows it has nothing pending); a request made on A and then a revocation made
        on A still reach that poll, through NOTIFY."""
        a, b = self.s, self.peer()
        user, (dev,) = self.new_user()
        mark = len(b.logs)
        held = POOL.submit(self.auth, user, server=a)
        ch = self.challenge_for(dev, server=b)
        # A's NOTIFY may reach B after B's read has found the challenge, and makes B
        # forget what it knew: wait for it, so that what follows does not depend on the race
        b.wait_log(lambda o: o.get("payload") == f"c:{dev.device_id}", since=mark)
        self.assertEqual(self.answer(dev, ch, server=b).body["status"], "accepted")
        self.assertEqual(held.result(30).body["status"], "accepted")
        self.assertEqual(self.poll(dev, 0, b), [])  # a read that finds nothing: B knows
        unread = lambda o: (o.get("msg") == "device poll held without a read"  # noqa: E731
                            and o.get("deviceId") == dev.device_id)
        mark = len(b.logs)
        waiting = POOL.submit(self.poll, dev, 30, b)
        b.wait_log(unread, since=mark)
        held = POOL.submit(self.auth, user, server=a)
        challenges = waiting.result(40)
        self.assertEqual(len(challenges), 1, "the poll held without a read missed A's request")
        _, ch2 = dev.verify_challenge(challenges[0]["challenge"])
        self.assertNotEqual(ch2["requestId"], ch["requestId"])
        self.assertEqual(self.answer(dev, ch2, server=b).body["status"], "accepted")
        self.assertEqual(held.result(30).body["status"], "accepted")
        mark = len(b.logs)
        path = "/device/challenges"
        waiting = POOL.submit(b.request, "GET", f"{path}?wait=30",
                              headers={"Authorization": dev.proof("GET", path)}, timeout=40)
        b.wait_log(unread, since=mark)
        r = a.request("DELETE", f"/users/{user}/devices/{dev.device_id}", headers=self.h)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(waiting.result(40).status, 401, "a revocation on A did not reach B")


if __name__ == "__main__":
    harness.main()
