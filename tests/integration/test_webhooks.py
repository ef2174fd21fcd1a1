"""Issue 20: signed webhooks with an outbox (api.md 12, docs/integration.md "Webhooks").

A real HTTP receiver on 127.0.0.1 (http.server in a thread) records every POST; the
signature is checked by a Standard Webhooks verification written here from the spec."""
import base64
import hashlib
import hmac
import http.server
import json
import re
import subprocess
import threading
import time
import urllib.parse

import device
import harness
import test_push

RETRY_ENV = {"PUSHGATE_WEBHOOK_RETRY_BASE_MS": "300"}


def verify(secret, headers, body, tolerance=300):
    """Standard Webhooks: the key is the base64 after "whsec_"; the signed content is
    "<webhook-id>.<webhook-timestamp>.<body>"; webhook-signature is a space-separated
    list of "v1,<base64 HMAC-SHA256>"; a timestamp outside the tolerance is refused."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance:
        return False
    content = f"{msg_id}.{ts}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for sig in headers["webhook-signature"].split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


class Receiver:
    """Records each POST (headers, raw body, time); answers 200, or 500 as `fail` says.
    hang: seconds to wait before answering (longer than the server's 10 s)."""

    def __init__(self, port=0, hang=0):
        self.posts = []
        self.fail = {}  # event type -> how many of its next POSTs get 500
        self.hang = hang
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.cond:
                    outer.posts.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                        "body": body, "at": time.time(), "path": self.path})
                    kind = json.loads(body).get("type")
                    status = 500 if outer.fail.get(kind) else 200
                    if status == 500:
                        outer.fail[kind] -= 1
                    outer.cond.notify_all()
                if outer.hang:
                    time.sleep(outer.hang)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the server gave up on us (hang)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks/pushgate"

    def events(self, pred=lambda e: True):
        with self.cond:
            posts = list(self.posts)
        return [p for p in posts if pred(json.loads(p["body"]))]

    def wait(self, pred, n=1, timeout=20):
        """The first n POSTs whose decoded body satisfies pred."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [p for p in self.posts if pred(json.loads(p["body"]))]
                if len(found) >= n:
                    return found[:n]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{n} matching webhook(s) did not arrive in {timeout} s; "
                                         f"got {[json.loads(p['body'])['type'] for p in self.posts]}")
                self.cond.wait(left)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def of_type(kind, **data):
    return lambda e: e["type"] == kind and all(e["data"].get(k) == v for k, v in data.items())


def poll_until(pred, timeout, what):
    """pred() (a database read) until truthy, every 0.1 s, at most timeout s."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class WebhookBase(test_push.PushBase):
    @classmethod
    def setUpClass(cls):
        # PushBase's setup with retries 300 ms apart (PushBase sets server_env itself)
        harness.TestCase.setUpClass.__func__(cls)
        cls.sink = harness.SmtpSink()
        cls.server_env = {"PUSHGATE_SMTP_URL": cls.sink.url, "PUSHGATE_METRICS_DB_SECONDS": "0",
                          **RETRY_ENV}
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Acme Bank")
        cls.h = cls.s.app_headers(cls.app)
        cls.n = 0
        cls.rx = Receiver()
        hook = cls.s.cli("app", "webhook", cls.app["applicationId"], "--url", cls.rx.url)
        cls.secret = hook["webhookSecret"]

    @classmethod
    def tearDownClass(cls):
        cls.rx.stop()
        super().tearDownClass()

    def enroll(self, server=None, headers=None, username=None):
        """A user with one device, linked through a "delivery": "none" registration."""
        s = server or self.s
        type(self).n += 1
        user = username or f"{self._testMethodName[5:20]}{self.n}"
        r = s.request("POST", "/registration", headers=headers or self.h,
                      body={"username": user, "delivery": "none"})
        self.assertEqual(r.status, 201, r)
        dev = device.Device()
        dev.enroll(s, device.link_token(r.body["link"]))
        return user, dev, r.body["registrationId"]

    def assertOnce(self, pred, settle=2.0):
        """Exactly one matching event arrives (it is waited for, then nothing more for
        `settle` seconds); its signature verifies and no longer does after one body
        byte changes. Returns the decoded body."""
        (post,) = self.rx.wait(pred)
        time.sleep(settle)
        self.assertEqual(len(self.rx.events(pred)), 1, "the event arrived more than once")
        h, body = post["headers"], post["body"]
        self.assertEqual(h["content-type"], "application/json")
        self.assertRegex(h["webhook-id"], r"^msg_[0-9a-f]{32}$")
        self.assertTrue(verify(self.secret, h, body), h)
        i = body.index(b'"data"')
        self.assertFalse(verify(self.secret, h, body[:i] + b"'" + body[i + 1:]))
        self.assertFalse(verify(self.secret, h, body + b" "))
        event = json.loads(body)
        self.assertRegex(event["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        return event


class Events(WebhookBase):
    def auth_object(self, rid):
        r = self.s.request("GET", f"/auth/{rid}", headers=self.h)
        self.assertEqual(r.status, 200, r)
        return r.body

    def decide(self, user, dev, decision, **kw):
        rid = self.auth_async(user).body["requestId"]
        ch = self.challenge_for(dev, rid)
        self.assertEqual(self.answer(dev, ch, decision, **kw).status, 200)
        return rid

    def test_link_accept_deny_and_revoke_each_arrive_once(self):
        user, dev, reg = self.enroll()
        linked = self.assertOnce(of_type("device.linked", deviceId=dev.device_id))
        self.assertEqual((linked["data"]["username"], linked["data"]["status"]), (user, "active"))
        done = self.assertOnce(of_type("registration.completed", registrationId=reg), settle=0)
        self.assertEqual((done["data"]["status"], done["data"]["deviceId"]),
                         ("completed", dev.device_id))

        rid = self.decide(user, dev, "approve")
        ev = self.assertOnce(of_type("auth.decided", requestId=rid))
        self.assertEqual(ev["data"]["status"], "accepted")
        self.assertEqual(ev["data"], self.auth_object(rid))

        rid = self.decide(user, dev, "deny")
        ev = self.assertOnce(of_type("auth.decided", requestId=rid))
        self.assertEqual((ev["data"]["status"], ev["data"]["reason"]), ("denied", "user_denied"))
        self.assertEqual(ev["data"], self.auth_object(rid))

        r = self.s.request("DELETE", f"/users/{user}/devices/{dev.device_id}", headers=self.h)
        self.assertEqual(r.status, 204, r)
        ev = self.assertOnce(of_type("device.revoked", deviceId=dev.device_id))
        self.assertEqual(ev["data"]["status"], "revoked")

    def test_expired_request_arrives_once_without_being_read(self):
        """Expiry is derived (nothing is written at expiry): the sweep writes it."""
        user, dev, _ = self.enroll()
        rid = self.auth_async(user, timeout=5).body["requestId"]
        ev = self.assertOnce(of_type("auth.decided", requestId=rid))
        self.assertEqual((ev["data"]["status"], ev["data"]["reason"], ev["data"]["evidence"]),
                         ("expired", "timeout", None))
        self.assertEqual(ev["data"], self.auth_object(rid))

    def test_cancelled_request(self):
        user, dev, _ = self.enroll()
        rid = self.auth_async(user).body["requestId"]
        self.assertEqual(self.s.request("DELETE", f"/auth/{rid}", headers=self.h).status, 200)
        ev = self.assertOnce(of_type("auth.decided", requestId=rid), settle=0)
        self.assertEqual(ev["data"]["status"], "cancelled")

    def test_otp_lockout_arrives_once(self):
        user, _, _ = self.enroll()
        path = f"/users/{urllib.parse.quote(user)}/mfa"
        r = self.s.request("POST", f"{path}/setup", headers=self.h, body={"channel": "totp"})
        self.assertEqual(r.status, 200, r)
        code = subprocess.run(["oathtool", "--totp", "-b", r.body["secret"]], check=True,
                              stdout=subprocess.PIPE, text=True).stdout.strip()
        r = self.s.request("POST", f"{path}/enable", headers=self.h, body={"code": code})
        self.assertEqual(r.status, 200, r)
        for _ in range(5):
            r = self.s.request("POST", f"{path}/verify", headers=self.h, body={"code": "k7m2q-9x4tr"})
            self.assertEqual(r.status, 422, r)
        self.assertEqual(self.s.request("POST", f"{path}/verify", headers=self.h,
                                        body={"code": "000000"}).status, 423)
        ev = self.assertOnce(of_type("user.locked", username=user))
        self.assertEqual(ev["data"]["reason"], "otp_lockout")
        self.assertRegex(ev["data"]["lockedUntil"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_fraud_report_locks(self):
        user, dev, _ = self.enroll()
        rid = self.decide(user, dev, "deny", reason="not_me")
        ev = self.assertOnce(of_type("auth.decided", requestId=rid), settle=0)
        self.assertEqual(ev["data"]["reason"], "fraud_reported")
        ev = self.assertOnce(of_type("user.locked", username=user))
        self.assertEqual(ev["data"]["reason"], "fraud_reported")

    def test_registration_expired(self):
        """Registrations live at least 300 s: this one's deadline is moved to now."""
        type(self).n += 1
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": f"regexp{self.n}", "delivery": "none"})
        self.assertEqual(r.status, 201, r)
        reg = r.body["registrationId"]
        self.q("UPDATE registrations SET expires_at = now() WHERE id = %s", reg)
        self.q("UPDATE webhook_deadlines SET due_at = now() WHERE registration_id = %s", reg)
        ev = self.assertOnce(of_type("registration.expired", registrationId=reg))
        self.assertEqual(ev["data"]["status"], "expired")

    def test_metrics(self):
        self.enroll()
        self.rx.wait(of_type("device.linked"))
        body = self.s.request("GET", "/metrics").raw.decode()
        self.assertRegex(body, r"(?m)^pushgate_webhook_queue_depth \d+$")
        self.assertRegex(body, r'(?m)^pushgate_webhook_deliveries_total\{outcome="delivered"\} '
                               r'[1-9]\d*$')
        self.assertIn('pushgate_webhook_deliveries_total{outcome="failed"}', body)
        self.assertIn('pushgate_webhook_deliveries_total{outcome="retried"}', body)

    def test_no_event_for_an_application_without_webhook(self):
        other = self.s.create_app("No Hooks")
        self.enroll(headers=self.s.app_headers(other))
        self.assertEqual(self.q("SELECT count(*) FROM webhook_events WHERE app_id = %s",
                                other["applicationId"]), [(0,)])


class Cli(harness.TestCase):
    def test_set_list_refuse_and_clear(self):
        s = self.server(start=False)
        s.cli_run("migrate", check=True)
        app = s.create_app("Hooked")
        aid = app["applicationId"]
        out = s.cli("app", "webhook", aid, "--url", "https://app.example/hooks/pushgate")
        self.assertEqual(set(out), {"applicationId", "webhookUrl", "webhookSecret"})
        self.assertEqual(out["webhookUrl"], "https://app.example/hooks/pushgate")
        self.assertRegex(out["webhookSecret"], r"^whsec_[A-Za-z0-9+/]+=*$")
        self.assertGreaterEqual(len(base64.b64decode(out["webhookSecret"][6:])), 24)
        listed = {a["applicationId"]: a for a in s.cli("app", "list")}
        self.assertEqual(listed[aid]["webhookUrl"], "https://app.example/hooks/pushgate")
        self.assertNotIn(out["webhookSecret"], json.dumps(listed))
        again = s.cli("app", "webhook", aid, "--url", "http://127.0.0.1:9/other")
        self.assertNotEqual(again["webhookSecret"], out["webhookSecret"])
        stored = self.q("SELECT encode(webhook_secret, 'hex') FROM applications WHERE id = %s",
                        aid)[0][0]
        self.assertNotIn(base64.b64decode(again["webhookSecret"][6:]).hex(), stored)
        for bad in ("ftp://app.example/x", "file:///etc/passwd", "app.example/hooks",
                    "https://", "gopher://x/"):
            r = s.cli_run("app", "webhook", aid, "--url", bad)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn("http", r.stderr)
        self.assertNotEqual(s.cli_run("app", "webhook", "a_nosuchapp000", "--clear").returncode, 0)
        self.assertEqual(s.cli("app", "webhook", aid, "--clear"),
                         {"applicationId": aid, "webhookUrl": None})
        listed = {a["applicationId"]: a for a in s.cli("app", "list")}
        self.assertIsNone(listed[aid]["webhookUrl"])
        self.assertEqual(self.q("SELECT event, data->>'url' FROM audit_log WHERE app_id = %s "
                                "AND event LIKE 'application.webhook%%' ORDER BY id", aid),
                         [("application.webhook_set", "https://app.example/hooks/pushgate"),
                          ("application.webhook_set", "http://127.0.0.1:9/other"),
                          ("application.webhook_cleared", None)])


class Retries(WebhookBase):
    def test_500_twice_then_200_is_three_attempts_with_one_id(self):
        with self.rx.cond:
            self.rx.fail["device.linked"] = 2
        user, dev, _ = self.enroll()
        posts = self.rx.wait(of_type("device.linked", deviceId=dev.device_id), n=3, timeout=30)
        time.sleep(3)  # 300 ms doubling: a fourth attempt would have come by now
        self.assertEqual(len(self.rx.events(of_type("device.linked", deviceId=dev.device_id))), 3)
        self.assertEqual(len({p["headers"]["webhook-id"] for p in posts}), 1)
        self.assertEqual(len({p["body"] for p in posts}), 1)
        for p in posts:
            self.assertTrue(verify(self.secret, p["headers"], p["body"]))
        gaps = [b["at"] - a["at"] for a, b in zip(posts, posts[1:])]
        self.assertGreaterEqual(gaps[1], 0.5, gaps)  # the second delay doubled the first
        self.assertEqual(self.q("SELECT status, attempts FROM webhook_events WHERE msg_id = %s",
                                posts[0]["headers"]["webhook-id"]), [("delivered", 3)])


class Crash(harness.TestCase):
    def test_receiver_down_and_server_killed_then_delivered_after_restart(self):
        env = {"PUSHGATE_WEBHOOK_RETRY_BASE_MS": "500"}
        a = self.server(env=env)
        app = a.create_app("Crashy")
        h = a.app_headers(app)
        port = harness.free_port()
        hook = a.cli("app", "webhook", app["applicationId"], "--url",
                     f"http://127.0.0.1:{port}/hooks")
        r = a.request("POST", "/registration", headers=h, body={"username": "cr", "delivery": "none"})
        self.assertEqual(r.status, 201, r)
        dev = device.Device()
        dev.enroll(a, device.link_token(r.body["link"]))
        poll_until(lambda: self.q("SELECT count(*) FROM webhook_events "
                                  "WHERE attempts > 0 AND type = 'device.linked'")[0][0] > 0,
                   20, "a failed first attempt")
        a.kill9()
        b = self.server(env=env)
        time.sleep(1)
        rx = Receiver(port=port)
        self.addCleanup(rx.stop)
        back = time.time()
        (post,) = rx.wait(of_type("device.linked", deviceId=dev.device_id), timeout=30)
        self.assertLess(post["at"] - back, 30)
        self.assertTrue(verify(hook["webhookSecret"], post["headers"], post["body"]))
        rx.wait(of_type("registration.completed"), timeout=30)
        b.stop()


class SlowReceiver(harness.TestCase):
    def test_a_receiver_that_never_answers_delays_nobody_else(self):
        s = self.server(env=RETRY_ENV)
        slow_rx, fast_rx = Receiver(hang=15), Receiver()
        self.addCleanup(slow_rx.stop)
        self.addCleanup(fast_rx.stop)
        slow, fast = s.create_app("Slow"), s.create_app("Fast")
        s.cli("app", "webhook", slow["applicationId"], "--url", slow_rx.url)
        s.cli("app", "webhook", fast["applicationId"], "--url", fast_rx.url)

        def enroll(app, user):
            r = s.request("POST", "/registration", headers=s.app_headers(app),
                          body={"username": user, "delivery": "none"})
            self.assertEqual(r.status, 201, r)
            device.Device().enroll(s, device.link_token(r.body["link"]))

        for i in range(3):
            enroll(slow, f"slow{i}")
        slow_rx.wait(lambda e: True, timeout=20)  # the slow receiver holds an attempt now
        t0 = time.monotonic()
        enroll(fast, "fast")
        self.assertLess(time.monotonic() - t0, 5, "HTTP answers were delayed")
        fast_rx.wait(of_type("device.linked"), timeout=5)
        fast_rx.wait(of_type("registration.completed"), timeout=5)
        self.assertLess(time.monotonic() - t0, 6)
        t1 = time.monotonic()
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        self.assertLess(time.monotonic() - t1, 2)
        # one in flight per application: the slow one has had one attempt so far
        self.assertEqual(len(slow_rx.events()), 1)
        s.stop()


if __name__ == "__main__":
    harness.main()
