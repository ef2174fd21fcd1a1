"""The admin console (api.md 14, issue 22) in a real Chromium driven by Playwright
(tests/browser/driver.mjs), against the real pushgated and PostgreSQL of the integration
harness. Screenshots of each view go to $PUSHGATE_SCREENSHOTS (the build tree under ctest)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import device  # noqa: E402
import harness  # noqa: E402
import browser  # noqa: E402
from browser import Browser  # noqa: E402

SHOTS = os.environ.get("PUSHGATE_SCREENSHOTS", os.path.join(os.getcwd(), "screenshots"))
ADMIN = "console-admin-0123456789abcdef012345"
EVIL = "<img src=x onerror=alert(1)>"


def oathtool(secret, step):
    r = subprocess.run(["oathtool", "--totp", "-b", secret, "--now", f"@{step * 30}"],
                       stdout=subprocess.PIPE, text=True, timeout=10, check=True)
    return r.stdout.strip()


@unittest.skipIf(browser.missing(), f"the browser tests need {browser.missing()}")
class ConsoleTest(harness.TestCase):
    server_env = {"PUSHGATE_ADMIN_TOKEN": ADMIN}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Acme Bank")
        cls.h = cls.s.app_headers(cls.app)
        cls.b = Browser()
        os.makedirs(SHOTS, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.b.close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.b.call("newPage", acceptDialogs=True, viewport={"width": 1280, "height": 900})
        self.base = f"http://127.0.0.1:{self.s.port}"

    def shot(self, name):
        self.b.call("screenshot", path=os.path.join(SHOTS, name))

    def register(self, username):
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": username, "delivery": "none"})
        self.assertEqual(r.status, 201, r)
        return r.body

    def sign_in(self, token=ADMIN):
        self.b.call("goto", url=f"{self.base}/console/")
        self.b.call("fill", selector="#token", value=token)
        self.b.call("click", selector="#signin-go")

    def open_user(self, prefix, username):
        self.sign_in()
        self.b.call("click", selector="#apps-view button.link")
        self.b.call("wait", selector="#users-view")
        self.b.call("fill", selector="#user-q", value=prefix)
        self.b.call("click", selector="#user-search")
        # the unfiltered list is on screen until the filtered one replaces it
        self.b.call("wait", selector=f"#users-view[data-q={json.dumps(prefix)}]")
        self.b.call("waitText", selector="#users-view td", text=username)
        names = self.b.call("texts", selector="#users-view button.user-link")
        self.assertIn(username, names)
        self.b.call("eval", expr="""[...document.querySelectorAll('button.user-link')]
            .find((b) => b.textContent === %r).click()""" % username)
        self.b.call("wait", selector="#user-view")
        return names

    def assertNoCspViolation(self):
        msgs = self.b.call("console")
        bad = [m for m in msgs if "Content Security Policy" in m["text"] or m["type"] == "pageerror"]
        self.assertEqual(bad, [])

    def test_sign_in_wrong_then_right(self):
        self.sign_in("not-the-admin-token-0123456789abcdef")
        self.b.call("waitText", selector="#error", text="Wrong admin token")
        self.assertEqual(self.b.call("eval", expr="sessionStorage.length"), 0)
        self.shot("console-signin-refused.png")
        self.sign_in()
        self.b.call("waitText", selector="#apps-view td", text="Acme Bank")
        self.assertEqual(self.b.call("eval", expr="localStorage.length"), 0)
        self.shot("console-applications.png")
        self.b.call("click", selector="#sign-out")
        self.b.call("wait", selector="#signin")
        self.assertEqual(self.b.call("eval", expr="sessionStorage.length"), 0)
        self.assertNoCspViolation()

    def test_find_user_enroll_and_revoke(self):
        links = {}
        for i in range(120):
            links[f"cust{i:03d}"] = self.register(f"cust{i:03d}")["link"]
        names = self.open_user("cust07", "cust075")
        self.assertEqual(sorted(names), [f"cust07{i}" for i in range(10)])
        self.b.call("waitText", selector="#user-view .reg-status", text="pending")
        self.shot("console-user-pending.png")
        with tempfile.TemporaryDirectory() as d:
            sim = os.environ.get("PUSHGATE_SIM") or os.path.join(harness.REPO, "build", "bin",
                                                                 "pushgate-sim")
            out = subprocess.run([sim, "enroll", links["cust075"], "--state", f"{d}/s.json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        device_id = re.search(r"enrolled device (d_\S+)", out.stdout).group(1)
        self.b.call("click", selector="#refresh-user")
        self.b.call("waitText", selector="#user-view .reg-status", text="completed")
        self.b.call("waitText", selector="#user-view .reg-device", text=device_id)
        self.shot("console-user-completed.png")
        self.b.call("click", selector="#user-view button.revoke")
        self.b.call("wait", selector="#user-view button.revoke", state="detached")
        self.b.call("waitText", selector="#mfa-status", text="push devices 0")
        self.assertIn("confirm", [d["type"] for d in self.b.call("dialogs")])
        r = self.s.request("GET", "/users/cust075/devices", headers=self.h)
        self.assertEqual([d["status"] for d in r.body["devices"]], ["revoked"])
        r = self.s.request("POST", "/auth", headers=self.h, body={"username": "cust075"})
        self.assertProblem(r, 409, "no_active_device")
        # the users list pages through the 120
        self.b.call("click", selector="#nav-apps")
        self.b.call("click", selector="#apps-view button.link")
        self.b.call("wait", selector="#next-page")
        self.shot("console-users.png")
        self.assertNoCspViolation()

    def test_late_answer_never_draws_over_a_newer_view(self):
        for u in ("late-a1", "late-b1"):
            self.register(u)
        self.sign_in()
        self.b.call("click", selector="#apps-view button.link")
        self.b.call("wait", selector="#users-view[data-q='']")
        self.b.call("hold", re=r"/users\?.*q=late-a")
        self.b.call("fill", selector="#user-q", value="late-a")
        self.b.call("click", selector="#user-search")
        self.b.call("fill", selector="#user-q", value="late-b")
        self.b.call("click", selector="#user-search")
        self.b.call("wait", selector="#users-view[data-q='late-b']")
        # the newer search aborted the older one's read: its answer can never arrive
        self.b.call("waitFailed", re=r"/users\?.*q=late-a")
        self.b.call("release", re=r"/users\?.*q=late-a")
        self.assertEqual(self.b.call("texts", selector="#users-view button.user-link"),
                         ["late-b1"])
        self.assertEqual(self.b.call("text", selector="#error"), "")
        self.assertNoCspViolation()

    def test_locked_user_unlocked(self):
        u = "locked-user"
        r = self.s.request("POST", f"/users/{u}/mfa/setup", body={"channel": "totp"},
                           headers=self.h)
        self.assertEqual(r.status, 200, r)
        code = oathtool(r.body["secret"], int(time.time()) // 30)
        r = self.s.request("POST", f"/users/{u}/mfa/enable", body={"code": code}, headers=self.h)
        self.assertEqual(r.status, 200, r)
        for _ in range(5):
            self.s.request("POST", f"/users/{u}/mfa/verify", body={"code": "k7m2q-9x4tr"},
                           headers=self.h)
        self.open_user("locked", u)
        self.b.call("wait", selector="#locked")
        self.shot("console-user-locked.png")
        self.b.call("click", selector="#unlock")
        self.b.call("wait", selector="#unlocked")
        r = self.s.request("GET", f"/users/{u}/mfa/status", headers=self.h)
        self.assertFalse(r.body["locked"], r)

    def test_markup_is_text(self):
        reg = self.register(EVIL)
        dev = device.Device()
        dev.enroll(self.s, device.link_token(reg["link"]))
        r = self.s.request("POST", "/auth", headers=dict(self.h, Prefer="respond-async"),
                           body={"username": EVIL, "message": EVIL,
                                 "transaction": {"payee": EVIL}})
        self.assertIn(r.status, (201, 202), r)
        # the device approves: the request now carries the challenge it was shown
        path = "/device/challenges"
        r = self.s.request("GET", f"{path}?wait=5",
                           headers={"Authorization": dev.proof("GET", path)})
        self.assertEqual(len(r.body["challenges"]), 1, r)
        payload = dev.verify_challenge(r.body["challenges"][0]["challenge"])[1]
        rid = payload["requestId"]
        apath = f"/device/challenges/{rid}"
        a = self.s.request("POST", apath, body={"response": dev.response(rid, payload["nonce"])},
                           headers={"Authorization": dev.proof("POST", apath)})
        self.assertEqual(a.status, 200, a)
        self.open_user("<img", EVIL)
        self.assertEqual(self.b.call("text", selector="#user-name"), EVIL)
        self.b.call("waitText", selector="#user-view .message", text=EVIL)
        self.assertEqual(self.b.call("count", selector="main img"), 0)
        self.shot("console-markup-as-text.png")
        self.assertEqual([d for d in self.b.call("dialogs") if d["type"] != "confirm"], [])
        self.assertNoCspViolation()

    def test_create_registration_qr(self):
        self.sign_in()
        self.b.call("click", selector="#apps-view button.link")
        self.b.call("click", selector="#new-reg")
        self.b.call("fill", selector="#reg-username", value="qr-user")
        self.b.call("click", selector="#reg-none")
        self.b.call("click", selector="#reg-go")
        self.b.call("wait", selector="#reg-qr")
        link = self.b.call("text", selector="#reg-link")
        self.assertIn("/r/", link)
        self.shot("console-create-registration.png")
        with tempfile.TemporaryDirectory() as d:
            path = self.b.call("elementShot", selector="#reg-qr", path=f"{d}/qr.png")
            out = subprocess.run(["zbarimg", "-q", "--raw", path], check=True,
                                 stdout=subprocess.PIPE, text=True, timeout=30).stdout.strip()
        self.assertEqual(out, link)
        self.assertNoCspViolation()

    def test_audit_log_with_filters(self):
        self.register("audited")
        self.sign_in()
        self.b.call("wait", selector="#apps-view")
        self.b.call("click", selector="#nav-audit")
        self.b.call("fill", selector="#audit-user", value="audited")
        self.b.call("click", selector="#audit-go")
        self.b.call("waitText", selector="#audit-view td", text="registration.created")
        # the unfiltered list may still be on screen: wait for the filtered one
        self.b.call("waitAllText", selector="#audit-view tbody td:nth-child(4)", text="audited")
        users = set(self.b.call("texts", selector="#audit-view tbody td:nth-child(4)"))
        self.assertEqual(users, {"audited"})
        self.shot("console-audit.png")

    def test_recent_requests_refresh_and_problem_detail(self):
        reg = self.register("recent-user")
        dev = device.Device()
        dev.enroll(self.s, device.link_token(reg["link"]))
        self.sign_in()
        self.b.call("click", selector="#apps-view button.link")
        self.b.call("click", selector="#recent-auth")
        self.b.call("wait", selector="#recent-view")
        r = self.s.request("POST", "/auth", headers=dict(self.h, Prefer="respond-async"),
                           body={"username": "recent-user", "message": "Pay 5 EUR?"})
        self.assertIn(r.status, (201, 202), r)
        # appears by itself (the view refreshes every 5 s)
        self.b.call("waitText", selector="#recent-view td", text=r.body["requestId"],
                    timeout=30000)
        self.shot("console-recent.png")
        # a refused action shows the problem's detail
        self.b.call("click", selector="#nav-apps")
        self.b.call("click", selector="#apps-view button.link")
        self.b.call("click", selector="#new-reg")
        self.b.call("fill", selector="#reg-username", value="x" * 200)
        self.b.call("click", selector="#reg-none")
        self.b.call("click", selector="#reg-go")
        self.b.call("wait", selector="#error")
        self.assertIn("username", self.b.call("text", selector="#error"))
        self.assertNoCspViolation()


if __name__ == "__main__":
    harness.main()
