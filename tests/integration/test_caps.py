"""Caps on held requests (api.md 10, io/hold.h hold_admit): PUSHGATE_MAX_HELD per process
(503 unavailable with Retry-After) and PUSHGATE_MAX_HELD_PER_APP per application (429
rate_limited with Retry-After), refused before anything is written, and counted in /metrics."""
import concurrent.futures
import re
import time

import device
import harness

POOL = concurrent.futures.ThreadPoolExecutor(16)
ADMIN = "caps-admin-token-0123456789abcdef0123456789abcdef"


class CapsBase(harness.TestCase):
    server_env = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server_env = {**cls.server_env, "PUSHGATE_ADMIN_TOKEN": ADMIN}
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Acme Bank")
        cls.h = cls.s.app_headers(cls.app)
        cls.n = 0

    def new_user(self, h=None):
        """A fresh username with one enrolled device (the link comes in the answer)."""
        type(self).n += 1
        user = f"u{self.n}_{self._testMethodName[5:25]}"
        r = self.s.request("POST", "/registration", headers=h or self.h,
                           body={"username": user, "delivery": "none"})
        assert r.status == 201, r
        dev = device.Device()
        dev.enroll(self.s, device.link_token(r.body["link"]))
        return user, dev

    def auth_async(self, user, h=None):
        """A pending request's id."""
        r = self.s.request("POST", "/auth", headers={**(h or self.h), "Prefer": "respond-async"},
                           body={"username": user})
        assert r.status == 202, r
        return r.body["requestId"]

    def wait(self, rid, seconds, h=None):
        return self.s.request("GET", f"/auth/{rid}?wait={seconds}", headers=h or self.h,
                              timeout=seconds + 30)

    def poll(self, dev, seconds):
        path = "/device/challenges"
        return self.s.request("GET", f"{path}?wait={seconds}",
                              headers={"Authorization": dev.proof("GET", path)},
                              timeout=seconds + 30)

    def approve(self, dev, rid=None):
        """Polls until the device has a challenge (rid's, if given) and approves it; returns
        the request id."""
        for _ in range(10):
            r = self.poll(dev, 5)
            assert r.status == 200, r
            chs = [c for c in r.body["challenges"] if rid in (None, c["requestId"])]
            if chs:
                break
        else:
            raise AssertionError("no challenge arrived")
        rid = chs[0]["requestId"]
        _, payload = dev.verify_challenge(chs[0]["challenge"])
        path = f"/device/challenges/{rid}"
        r = self.s.request("POST", path, headers={"Authorization": dev.proof("POST", path)},
                           body={"response": dev.response(rid, payload["nonce"])})
        assert r.status == 200, r
        return rid

    def metrics(self):
        r = self.s.request("GET", "/metrics")
        assert r.status == 200, r
        out = {}
        for line in r.raw.decode().splitlines():
            m = re.match(r"^(pushgate_held_\w+(?:\{[^}]*\})?) (\d+)$", line)
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def await_places(self, n):
        deadline = time.monotonic() + 30
        while (got := self.metrics().get("pushgate_held_places")) != n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{got} places taken, not {n}")
            time.sleep(0.05)

    def requests_of(self, user):
        return self.q("SELECT count(*) FROM auth_requests WHERE username = %s", user)[0][0]

    def assertRefused(self, r, status, code):
        self.assertProblem(r, status, code)
        self.assertGreaterEqual(int(r.headers.get("retry-after", "0")), 1, r)


class ProcessCap(CapsBase):
    server_env = {"PUSHGATE_MAX_HELD": "5"}

    def test_the_sixth_held_request_is_503_and_a_freed_place_is_taken_again(self):
        user, dev = self.new_user()
        other, other_dev = self.new_user()
        rid = self.auth_async(user)
        m = self.metrics()
        self.assertEqual(m["pushgate_held_limit{scope=\"process\"}"], 5, m)
        long_waits = [POOL.submit(self.wait, rid, 50) for _ in range(4)]
        short = POOL.submit(self.wait, rid, 5)
        self.await_places(5)
        # the sixth: a wait, a device poll, a held POST /auth (which creates nothing)
        self.assertRefused(self.wait(rid, 30), 503, "unavailable")
        self.assertRefused(self.poll(other_dev, 20), 503, "unavailable")
        self.assertRefused(self.s.request("POST", "/auth", headers=self.h,
                                          body={"username": other}), 503, "unavailable")
        self.assertEqual(self.requests_of(other), 0)
        # what is not held is served: a poll that has a challenge (at once, so that the
        # answers to held requests get through), a read without wait, an asynchronous create
        r = self.poll(dev, 20)
        self.assertEqual([c["requestId"] for c in r.body["challenges"]], [rid], r)
        r = self.s.request("GET", f"/auth/{rid}", headers=self.h)
        self.assertEqual((r.status, r.body["status"]), (200, "pending"), r)
        self.auth_async(other)
        m = self.metrics()
        self.assertEqual(m["pushgate_held_refused_total{reason=\"process\"}"], 3, m)
        self.assertEqual(m["pushgate_held_refused_total{reason=\"application\"}"], 0, m)
        # the short wait ends (still pending): its place is free for another
        r = short.result(30)
        self.assertEqual((r.status, r.body["status"]), (200, "pending"), r)
        self.await_places(4)
        long_waits.append(POOL.submit(self.wait, rid, 50))
        self.await_places(5)
        self.assertRefused(self.wait(rid, 5), 503, "unavailable")
        # the held five resolve normally
        self.approve(dev, rid)
        for f in long_waits:
            r = f.result(30)
            self.assertEqual((r.status, r.body["status"]), (200, "accepted"), r)
        self.await_places(0)
        r = self.wait(rid, 1)
        self.assertEqual((r.status, r.body["status"]), (200, "accepted"), r)
        self.assertEqual(self.metrics()["pushgate_held_refused_total{reason=\"process\"}"], 4)


class ApplicationCap(CapsBase):
    server_env = {"PUSHGATE_MAX_HELD_PER_APP": "2"}

    def test_the_third_held_auth_of_one_application_is_429_while_another_holds(self):
        app_b = self.s.create_app("Beta Corp")
        hb = self.s.app_headers(app_b)
        user_a, dev_a = self.new_user()
        user_b, dev_b = self.new_user(hb)
        other_a, dev_o = self.new_user()
        rid_a = self.auth_async(user_a)
        rid_b = self.auth_async(user_b, hb)
        held_a = [POOL.submit(self.wait, rid_a, 50) for _ in range(2)]
        self.await_places(2)
        self.assertRefused(self.wait(rid_a, 30), 429, "rate_limited")
        self.assertRefused(self.s.request("POST", "/auth", headers=self.h,
                                          body={"username": other_a}), 429, "rate_limited")
        self.assertEqual(self.requests_of(other_a), 0)
        # application B holds two of its own; an admin's wait counts only for the process
        held_b = [POOL.submit(self.wait, rid_b, 50, hb) for _ in range(2)]
        admin = POOL.submit(self.wait, rid_a, 50, {"Authorization": f"Bearer {ADMIN}"})
        self.await_places(5)
        self.assertRefused(self.wait(rid_b, 30, hb), 429, "rate_limited")
        m = self.metrics()
        self.assertEqual(m["pushgate_held_refused_total{reason=\"application\"}"], 3, m)
        self.assertEqual(m["pushgate_held_refused_total{reason=\"process\"}"], 0, m)
        self.assertEqual(m["pushgate_held_limit{scope=\"application\"}"], 2, m)
        self.approve(dev_a, rid_a)
        self.approve(dev_b, rid_b)
        for f in held_a + held_b + [admin]:
            r = f.result(30)
            self.assertEqual((r.status, r.body["status"]), (200, "accepted"), r)
        self.await_places(0)
        # a synchronous POST /auth takes a place too, and gives it back once answered
        held = POOL.submit(self.s.request, "POST", "/auth", body={"username": other_a},
                           headers=self.h, timeout=90)
        self.await_places(1)
        self.approve(dev_o)
        r = held.result(60)
        self.assertEqual((r.status, r.body["status"]), (200, "accepted"), r)
        self.await_places(0)


if __name__ == "__main__":
    harness.main()
