#!/usr/bin/python3
"""Acceptance tests of the one-time-code factors (api.md section 8): TOTP checked against
Debian's oathtool, email codes over real SMTP, SMS codes at a local webhook sink, backup
codes under a 50-way race, the lockout and `pushgated user unlock`, every status field.
Real PostgreSQL, real pushgated; see harness.py."""

import http.server
import json
import re
import subprocess
import threading
import time
import urllib.parse

import harness

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SECRET_RE = re.compile(r"^[A-Z2-7]{32}$")  # 160 bits, base32, no padding
BACKUP_RE = re.compile(r"^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$")
CODE_RE = re.compile(r"\b(\d{6})\b")


def oathtool(secret, step):
    """The TOTP code of `secret` for time step `step`, from Debian's oathtool."""
    r = subprocess.run(["oathtool", "--totp", "-b", secret, "--now", f"@{step * 30}"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10,
                       check=True)
    return r.stdout.strip()


def now_step():
    return int(time.time()) // 30


class SmsSink:
    """The SMS gateway: an HTTP server on a loopback port recording POSTed JSON."""

    def __init__(self):
        self.messages = []
        self.cond = threading.Condition()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                with sink.cond:
                    sink.messages.append(body)
                    sink.cond.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/sms"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_count(self, n, to, timeout=10):
        def found():
            got = [m for m in self.messages if m.get("to") == to]
            return got if len(got) >= n else None
        with self.cond:
            return harness.wait_until(self.cond, found, timeout, f"{n} SMS to {to}")

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Mfa(harness.TestCase):
    server_env = {"PUSHGATE_ADMIN_TOKEN": "admin-token-0123456789abcdef0123456789abcdef"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = harness.SmtpSink()
        cls.sms = SmsSink()
        cls.s = cls.class_server(env={"PUSHGATE_SMTP_URL": cls.sink.url,
                                      "PUSHGATE_SMS_WEBHOOK_URL": cls.sms.url})
        cls.app = cls.s.create_app("Acme Bank")
        cls.h = cls.s.app_headers(cls.app)
        cls.dbname = cls.db_url.rsplit("/", 1)[1]
        cls.counter = 0

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.sms.stop()

    # -- helpers

    def user(self, prefix="u"):
        type(self).counter += 1
        return f"{prefix}{type(self).counter}"

    def call(self, method, username, op, body=None, headers=None):
        path = f"/users/{urllib.parse.quote(username, safe='')}/mfa/{op}"
        return self.s.request(method, path, body=body, headers=headers or self.h)

    def post(self, username, op, body=None):
        return self.call("POST", username, op, body if body is not None else {})

    def status(self, username):
        r = self.call("GET", username, "status")
        self.assertEqual(r.status, 200, r)
        return r.body

    def enable_totp(self, username):
        """A user with TOTP enabled at step now_step(); returns (secret, step, backupCodes)."""
        r = self.post(username, "setup", {"channel": "totp"})
        self.assertEqual(r.status, 200, r)
        secret, step = r.body["secret"], now_step()
        e = self.post(username, "enable", {"code": oathtool(secret, step)})
        self.assertEqual(e.status, 200, e)
        return secret, step, e.body["backupCodes"]

    def backdate_sends(self):
        """Moves every recorded code send 31 s into the past (the 30 s spacing)."""
        self.pg.psql("UPDATE mfa_sends SET sent_at = sent_at - interval '31 seconds'",
                     db=self.dbname)

    def mailed_code(self, address, n=1):
        msgs = self.sink.wait_count(n, lambda m: address in m.envelope_to)
        return CODE_RE.search(harness.text_part(msgs[n - 1])).group(1)

    def texted_code(self, phone, n=1):
        return CODE_RE.search(self.sms.wait_count(n, phone)[n - 1]["text"]).group(1)

    def assertInvalid(self, r, remaining):
        self.assertProblem(r, 422, "invalid_code")
        self.assertEqual(r.body["attemptsRemaining"], remaining, r)

    def assertNotLogged(self, *secrets):
        logs = "\n".join(self.s.logs)
        for x in secrets:
            self.assertNotIn(x, logs, "a secret reached the log")

    # -- TOTP

    def test_totp_setup_answer(self):
        r = self.post("ann lee@x", "setup", {"channel": "totp"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["channel"], "totp")
        secret = r.body["secret"]
        self.assertRegex(secret, SECRET_RE)
        self.assertEqual(r.body["otpauthUri"],
                         f"otpauth://totp/Acme%20Bank:ann%20lee%40x?secret={secret}"
                         "&issuer=Acme%20Bank&algorithm=SHA1&digits=6&period=30")
        self.assertTrue(r.body["qrCodeSvg"].startswith("<svg"), r.body["qrCodeSvg"][:50])
        self.assertTrue(r.body["qrCodeSvg"].rstrip().endswith("</svg>"))
        self.assertRegex(r.body["expiresAt"], TIME_RE)
        self.assertNotLogged(secret)
        again = self.post("ann lee@x", "setup", {"channel": "totp"})
        self.assertNotEqual(again.body["secret"], secret)

    def test_oathtool_codes_replay_and_older_step(self):
        u = self.user()
        secret, step, codes = self.enable_totp(u)
        self.assertEqual(len(codes), 10)
        self.assertEqual(len(set(codes)), 10)
        for c in codes:
            self.assertRegex(c, BACKUP_RE)
        # The step that enabled is used up.
        self.assertInvalid(self.post(u, "verify", {"code": oathtool(secret, step)}), 4)
        nxt = oathtool(secret, step + 1)
        r = self.post(u, "verify", {"code": nxt})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, {"valid": True, "method": "totp", "backupCodesRemaining": 10})
        self.assertInvalid(self.post(u, "verify", {"code": nxt}), 4)  # replayed
        # An older step, even inside the window, is refused.
        self.assertInvalid(self.post(u, "verify", {"code": oathtool(secret, step - 1)}), 3)
        self.assertInvalid(self.post(u, "verify", {"code": "12345x"}), 2)
        self.assertNotLogged(secret, nxt, *codes)

    def test_enable_wrong_code_and_no_pending_setup(self):
        u = self.user()
        r = self.post(u, "setup", {"channel": "totp"})
        secret = r.body["secret"]
        wrong = "%06d" % ((int(oathtool(secret, now_step())) + 500000) % 1000000)
        self.assertInvalid(self.post(u, "enable", {"code": wrong}), 4)
        self.assertEqual(self.post(u, "enable", {"code": oathtool(secret, now_step())}).status,
                         200)
        self.assertProblem(self.post(u, "enable", {"code": "123456"}), 409, "no_pending_setup")

    def test_not_enabled_and_unknown_user(self):
        u = self.user()
        self.assertEqual(self.post(u, "setup", {"channel": "totp"}).status, 200)
        for op, body in (("verify", {"code": "123456"}), ("challenge", None),
                         ("disable", {"code": "123456"}), ("backup-codes", {"code": "123456"})):
            with self.subTest(op):
                self.assertProblem(self.post(u, op, body), 409, "mfa_not_enabled")
        for op, body in (("verify", {"code": "123456"}), ("challenge", None),
                         ("enable", {"code": "123456"}), ("disable", {"code": "123456"}),
                         ("backup-codes", {"code": "123456"})):
            with self.subTest(op):
                self.assertProblem(self.post("nobody", op, body), 404, "user_not_found")
        self.assertProblem(self.call("GET", "nobody", "status"), 404, "user_not_found")
        self.assertProblem(self.post("bad\x01name", "verify", {"code": "123456"}), 404,
                           "user_not_found")
        self.assertProblem(self.call("PUT", "nobody", "requirements", {"login": False}), 404,
                           "user_not_found")
        other = self.s.app_headers(self.s.create_app("Other Bank"))
        self.assertProblem(self.call("GET", u, "status", headers=other), 404, "user_not_found")

    def test_strict_requests(self):
        u = self.user()
        cases = [("setup", {"channel": "totp", "extra": 1}), ("setup", {"channel": "fax"}),
                 ("setup", {"channel": "totp", "email": "a@b.c"}),
                 ("setup", {"channel": "email", "email": "not-an-address"}),
                 ("setup", {"channel": "sms", "phone": "5551234567"}),
                 ("setup", {}), ("verify", {"code": 123456}), ("verify", {}),
                 ("enable", {"code": "1", "x": 2})]
        for op, body in cases:
            with self.subTest(op=op, body=body):
                self.assertProblem(self.post(u, op, body), 400, "invalid_request")
        self.post(u, "setup", {"channel": "totp"})
        r = self.call("PUT", u, "requirements", {"login": "yes"})
        self.assertProblem(r, 400, "invalid_request")
        r = self.call("PUT", u, "requirements", {"login": True, "sudo": True})
        self.assertProblem(r, 400, "invalid_request")

    def test_status_fields_and_requirements(self):
        u = self.user()
        self.post(u, "setup", {"channel": "totp"})
        self.assertEqual(self.status(u), {
            "username": u, "mfaEnabled": False, "channel": None, "destination": None,
            "backupCodesRemaining": 0, "pushDevices": 0, "locked": False, "lockedUntil": None,
            "lastUsedAt": None,
            "requirements": {"login": True, "withdrawal": True, "deviceRemoval": True}})
        secret, step, codes = self.enable_totp(u)
        self.assertEqual(self.post(u, "verify", {"code": codes[0]}).status, 200)
        st = self.status(u)
        self.assertEqual(st["mfaEnabled"], True)
        self.assertEqual(st["channel"], "totp")
        self.assertIsNone(st["destination"])
        self.assertEqual(st["backupCodesRemaining"], 9)
        self.assertRegex(st["lastUsedAt"], TIME_RE)
        r = self.call("PUT", u, "requirements", {"withdrawal": False})
        self.assertEqual(r.status, 200, r)
        want = {"login": True, "withdrawal": False, "deviceRemoval": True}
        self.assertEqual(r.body, {"requirements": want})
        self.assertEqual(self.status(u)["requirements"], want)
        r = self.call("PUT", u, "requirements", {"login": False, "deviceRemoval": False})
        self.assertEqual(r.body["requirements"],
                         {"login": False, "withdrawal": False, "deviceRemoval": False})

    # -- lockout

    def test_lockout_then_unlock(self):
        u = self.user()
        secret, step, codes = self.enable_totp(u)
        for left in (4, 3, 2, 1, 0):
            self.assertInvalid(self.post(u, "verify", {"code": "k7m2q-9x4tr"}), left)
        right = oathtool(secret, step + 1)
        r = self.post(u, "verify", {"code": right})
        self.assertProblem(r, 423, "locked")
        self.assertTrue(800 <= int(r.headers["retry-after"]) <= 900, r.headers)
        self.assertProblem(self.post(u, "verify", {"code": codes[0]}), 423, "locked")
        st = self.status(u)
        self.assertTrue(st["locked"])
        self.assertRegex(st["lockedUntil"], TIME_RE)
        out = self.s.cli("user", "unlock", self.app["applicationId"], u)
        self.assertEqual(out.get("unlocked"), True, out)
        self.assertFalse(self.status(u)["locked"])
        r = self.post(u, "verify", {"code": right})
        self.assertEqual(r.status, 200, r)
        # A success resets the count: four more failures do not lock.
        for left in (4, 3, 2, 1):
            self.assertInvalid(self.post(u, "verify", {"code": "000000"}), left)
        self.assertEqual(self.post(u, "verify", {"code": codes[1]}).status, 200)
        self.assertInvalid(self.post(u, "verify", {"code": "000000"}), 4)

    def test_disable_with_wrong_code_is_422_and_counted(self):
        u = self.user()
        secret, step, codes = self.enable_totp(u)
        self.assertInvalid(self.post(u, "disable", {"code": "zzzzz-zzzzz"}), 4)
        self.assertTrue(self.status(u)["mfaEnabled"])
        self.assertProblem(self.post(u, "disable", {}), 400, "invalid_request")
        r = self.post(u, "disable", {"code": codes[3].upper().replace("-", "")})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, {"mfaEnabled": False})
        st = self.status(u)
        self.assertEqual((st["mfaEnabled"], st["channel"], st["backupCodesRemaining"]),
                         (False, None, 0))
        self.assertProblem(self.post(u, "verify", {"code": codes[4]}), 409, "mfa_not_enabled")

    def test_admin_may_disable_without_code(self):
        u = self.user()
        self.enable_totp(u)
        admin = {"Authorization": "Bearer admin-token-0123456789abcdef0123456789abcdef"}
        r = self.call("POST", u, "disable", {}, headers=admin)
        self.assertProblem(r, 400, "invalid_request")  # which application's user?
        path = (f"/users/{u}/mfa/disable?applicationId=" + self.app["applicationId"])
        r = self.s.request("POST", path, body={}, headers=admin)
        self.assertEqual(r.status, 200, r)
        self.assertFalse(self.status(u)["mfaEnabled"])

    # -- backup codes

    def test_one_backup_code_by_50_threads_succeeds_once(self):
        u = self.user()
        secret, step, codes = self.enable_totp(u)
        results = [None] * 50
        barrier = threading.Barrier(50)

        def go(i):
            barrier.wait()
            results[i] = self.post(u, "verify", {"code": codes[0]})

        threads = [threading.Thread(target=go, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        statuses = [r.status for r in results]
        self.assertEqual(statuses.count(200), 1, statuses)
        self.assertTrue(set(statuses) <= {200, 422, 423}, statuses)
        ok = next(r for r in results if r.status == 200)
        self.assertEqual(ok.body, {"valid": True, "method": "backup_code",
                                   "backupCodesRemaining": 9})
        self.assertEqual(self.status(u)["backupCodesRemaining"], 9)
        self.assertNotLogged(*codes)

    def test_regenerated_backup_codes_replace_old_ones(self):
        u = self.user()
        secret, step, old = self.enable_totp(u)
        r = self.post(u, "backup-codes", {"code": oathtool(secret, step + 1)})
        self.assertEqual(r.status, 200, r)
        new = r.body["backupCodes"]
        self.assertEqual(len(new), 10)
        self.assertFalse(set(new) & set(old))
        self.assertInvalid(self.post(u, "verify", {"code": old[0]}), 4)
        r = self.post(u, "verify", {"code": new[0]})
        self.assertEqual(r.body, {"valid": True, "method": "backup_code",
                                  "backupCodesRemaining": 9})

    # -- email and SMS

    def test_email_codes_over_smtp(self):
        u, addr = self.user(), "carol.c@example.com"
        r = self.post(u, "setup", {"channel": "email", "email": addr})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["channel"], "email")
        self.assertEqual(r.body["destination"], "c***c@example.com")
        self.assertRegex(r.body["expiresAt"], TIME_RE)
        code = self.mailed_code(addr)
        e = self.post(u, "enable", {"code": code})
        self.assertEqual(e.status, 200, e)
        self.assertEqual(e.body["channel"], "email")
        # The setup code was sent a moment ago: a challenge now is too early.
        c = self.post(u, "challenge")
        self.assertProblem(c, 429, "rate_limited")
        self.assertTrue(1 <= int(c.headers["retry-after"]) <= 30, c.headers)
        self.backdate_sends()
        c = self.post(u, "challenge")
        self.assertEqual(c.status, 200, c)
        self.assertEqual(c.body["channel"], "email")
        self.assertEqual(c.body["destination"], "c***c@example.com")
        self.assertRegex(c.body["expiresAt"], TIME_RE)
        first = self.mailed_code(addr, 2)
        self.backdate_sends()
        self.assertEqual(self.post(u, "challenge").status, 200)
        newest = self.mailed_code(addr, 3)
        if first != newest:  # only the newest code is valid
            self.assertInvalid(self.post(u, "verify", {"code": first}), 4)
        r = self.post(u, "verify", {"code": newest})
        self.assertEqual(r.body, {"valid": True, "method": "email", "backupCodesRemaining": 10})
        self.assertInvalid(self.post(u, "verify", {"code": newest}), 4)  # single use
        st = self.status(u)
        self.assertEqual((st["channel"], st["destination"]), ("email", "c***c@example.com"))
        # Five codes an hour: setup + 2 challenges so far; two more, then 429 for long.
        for _ in range(2):
            self.backdate_sends()
            self.assertEqual(self.post(u, "challenge").status, 200)
        self.backdate_sends()
        c = self.post(u, "challenge")
        self.assertProblem(c, 429, "rate_limited")
        self.assertGreater(int(c.headers["retry-after"]), 30, c.headers)
        self.assertNotLogged(code, first, newest)

    def test_email_defaults_to_the_users_address(self):
        u = self.user()
        r = self.post(u, "setup", {"channel": "email"})
        self.assertProblem(r, 400, "invalid_request")  # a new user has no address
        reg = self.s.request("POST", "/registration", headers=self.h,
                             body={"username": u, "email": "dora@example.com"})
        self.assertEqual(reg.status, 201, reg)
        r = self.post(u, "setup", {"channel": "email"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["destination"], "d***a@example.com")

    def test_sms_codes_at_the_webhook(self):
        u, phone = self.user(), "+15551234567"
        r = self.post(u, "setup", {"channel": "sms", "phone": phone})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["channel"], "sms")
        self.assertEqual(r.body["destination"], "+1*******4567")
        code = self.texted_code(phone)
        self.assertEqual(self.post(u, "enable", {"code": code}).body["channel"], "sms")
        self.backdate_sends()
        c = self.post(u, "challenge")
        self.assertEqual(c.status, 200, c)
        self.assertEqual(c.body["destination"], "+1*******4567")
        code2 = self.texted_code(phone, 2)
        r = self.post(u, "verify", {"code": code2})
        self.assertEqual(r.body, {"valid": True, "method": "sms", "backupCodesRemaining": 10})
        self.assertNotLogged(code, code2)

    def test_sms_with_a_long_application_name_keeps_the_code(self):
        """An application name of 200 three-byte characters (the SQL limit counts
        characters): the name is shortened at a character boundary with an ellipsis,
        the code survives (before: the code was cut off, or the text split a character
        and the send failed after the budget was spent)."""
        app = self.s.create_app("Long")
        self.pg.psql(f"UPDATE applications SET name = repeat('\u20ac', 200) "
                     f"WHERE id = '{app['applicationId']}'", db=self.dbname)
        u, phone = self.user(), "+15557654321"
        r = self.call("POST", u, "setup", {"channel": "sms", "phone": phone},
                      headers=self.s.app_headers(app))
        self.assertEqual(r.status, 200, r)
        text = self.sms.wait_count(1, phone)[0]["text"]
        m = re.fullmatch("(\u20ac+)\u2026 code: (\\d{6}) \\(valid for 10 minutes\\). "
                         "Do not share it.", text)
        self.assertIsNotNone(m, text)
        self.assertLess(len(text.encode()), 300)
        e = self.call("POST", u, "enable", {"code": m.group(2)}, headers=self.s.app_headers(app))
        self.assertEqual(e.status, 200, e)

    def test_sms_setup_without_webhook_is_400(self):
        s = self.server(env={"PUSHGATE_SMS_WEBHOOK_URL": None})
        r = s.request("POST", "/users/zed/mfa/setup", headers=self.h,
                      body={"channel": "sms", "phone": "+15551234567"})
        self.assertProblem(r, 400, "invalid_request")

    def test_channel_change_keeps_old_channel_until_enabled(self):
        u, addr = self.user(), "erin@example.com"
        secret, step, codes = self.enable_totp(u)
        r = self.post(u, "setup", {"channel": "email", "email": addr})
        self.assertEqual(r.status, 200, r)
        code = self.mailed_code(addr)
        st = self.status(u)
        self.assertEqual((st["mfaEnabled"], st["channel"]), (True, "totp"))
        self.assertEqual(self.post(u, "verify", {"code": oathtool(secret, step + 1)}).status, 200)
        self.assertEqual(self.post(u, "challenge").body, {"channel": "totp"})
        e = self.post(u, "enable", {"code": code})
        self.assertEqual(e.status, 200, e)
        self.assertEqual(e.body["channel"], "email")
        st = self.status(u)
        self.assertEqual((st["channel"], st["destination"]), ("email", "e***n@example.com"))
        self.assertInvalid(self.post(u, "verify", {"code": oathtool(secret, now_step() + 1)}), 4)
        self.assertInvalid(self.post(u, "verify", {"code": codes[0]}), 3)  # old set is gone



class SendBudget(harness.TestCase):
    """PUSHGATE_MFA_SEND_BUDGET_PER_HOUR: one application's email/SMS codes an hour, counted
    in the database (a leaked secret must not send codes to any number of addresses, since
    mfa/setup creates users); beyond it 429 rate_limited and nothing sent; other
    applications unaffected; /metrics shows the counts; a second instance sees the same."""

    BUDGET = 3

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = harness.SmtpSink()
        cls.sms = SmsSink()
        cls.env = {"PUSHGATE_SMTP_URL": cls.sink.url, "PUSHGATE_SMS_WEBHOOK_URL": cls.sms.url,
                   "PUSHGATE_MFA_SEND_BUDGET_PER_HOUR": str(cls.BUDGET),
                   "PUSHGATE_METRICS_DB_SECONDS": "0"}
        cls.s = cls.class_server(env=cls.env)
        cls.app = cls.s.create_app("Budget Bank")
        cls.other = cls.s.create_app("Other Bank")

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.sms.stop()

    def post(self, app, username, op, body=None, server=None):
        return (server or self.s).request("POST", f"/users/{username}/mfa/{op}",
                                          body=body if body is not None else {},
                                          headers=self.s.app_headers(app))

    def metric(self, app, result):
        text = self.s.request("GET", "/metrics").raw.decode()
        m = re.search(r'^pushgate_mfa_codes_this_hour\{application="%s",result="%s"\} (\d+)$'
                      % (re.escape(app["applicationId"]), result), text, re.M)
        return int(m.group(1)) if m else None

    def test_budget_spent_then_429_and_nothing_sent(self):
        a = self.app
        r = self.post(a, "sam", "setup", {"channel": "sms", "phone": "+15550000001"})
        self.assertEqual(r.status, 200, r)
        code = CODE_RE.search(self.sms.wait_count(1, "+15550000001")[0]["text"]).group(1)
        self.assertEqual(self.post(a, "sam", "enable", {"code": code}).status, 200)
        self.pg.psql("UPDATE mfa_sends SET sent_at = sent_at - interval '31 seconds'",
                     db=self.db_url.rsplit("/", 1)[1])
        self.assertEqual(self.post(a, "sam", "challenge").status, 200)  # 2 of 3
        r = self.post(a, "eve", "setup", {"channel": "email", "email": "eve@example.com"})
        self.assertEqual(r.status, 200, r)  # 3 of 3
        self.sink.wait_for(lambda m: "eve@example.com" in m.envelope_to)

        # the budget is spent: setups (of new users too) and challenges are refused
        r = self.post(a, "mallory", "setup", {"channel": "sms", "phone": "+15550000002"})
        self.assertProblem(r, 429, "rate_limited")
        retry = int(r.headers["retry-after"])
        self.assertTrue(1 <= retry <= 3600, retry)
        r = self.post(a, "trent", "setup", {"channel": "email", "email": "trent@example.com"})
        self.assertProblem(r, 429, "rate_limited")
        self.pg.psql("UPDATE mfa_sends SET sent_at = sent_at - interval '31 seconds'",
                     db=self.db_url.rsplit("/", 1)[1])
        self.assertProblem(self.post(a, "sam", "challenge"), 429, "rate_limited")
        # nothing was sent or queued, and no user was created
        self.assertEqual([m for m in self.sms.messages if m["to"] == "+15550000002"], [])
        self.assertEqual(len([m for m in self.sms.messages if m["to"] == "+15550000001"]), 2)
        queued = self.pg.psql("SELECT count(*) FROM outbox WHERE recipient = "
                              "'trent@example.com'", db=self.db_url.rsplit("/", 1)[1])
        self.assertEqual(queued.strip(), "0")
        r = self.s.request("GET", "/users/mallory/mfa/status", headers=self.s.app_headers(a))
        self.assertProblem(r, 404, "user_not_found")
        # TOTP sends nothing and is not budgeted
        self.assertEqual(self.post(a, "tina", "setup", {"channel": "totp"}).status, 200)

        # another application is unaffected
        r = self.post(self.other, "sam", "setup", {"channel": "sms", "phone": "+15550000003"})
        self.assertEqual(r.status, 200, r)
        self.sms.wait_count(1, "+15550000003")

        # /metrics: the budget and this hour's counts per application (database)
        text = self.s.request("GET", "/metrics").raw.decode()
        self.assertIn(f"pushgate_mfa_send_budget_per_hour {self.BUDGET}\n", text)
        self.assertEqual(self.metric(a, "sent"), 3)
        self.assertEqual(self.metric(a, "refused"), 3)
        self.assertEqual(self.metric(self.other, "sent"), 1)
        self.assertEqual(self.metric(self.other, "refused"), 0)

        # the count is in the database: another instance refuses too
        s2 = self.server(env=self.env)
        r = self.post(a, "walter", "setup", {"channel": "sms", "phone": "+15550000004"},
                      server=s2)
        self.assertProblem(r, 429, "rate_limited")
        self.assertEqual(self.metric(a, "refused"), 4)


if __name__ == "__main__":
    harness.main()
