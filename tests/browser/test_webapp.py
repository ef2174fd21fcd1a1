"""The web authenticator (api.md 13, issue 21) in a real Chromium driven by Playwright
(tests/browser/driver.mjs), against the real pushgated and PostgreSQL of the integration
harness. Screenshots go to $PUSHGATE_SCREENSHOTS (the build tree under ctest)."""
import json
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import device  # noqa: E402
import harness  # noqa: E402
import browser  # noqa: E402
from browser import Browser  # noqa: E402

SHOTS = os.environ.get("PUSHGATE_SCREENSHOTS", os.path.join(os.getcwd(), "screenshots"))


def eventually(pred, timeout, what):
    """Polls pred (a question to the browser) until it holds; fails after timeout s."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


class Held(threading.Thread):
    """A synchronous POST /auth held in a thread: .result is its response when done."""

    def __init__(self, server, app, body):
        super().__init__(daemon=True)
        self.server, self.app, self.body, self.result = server, app, body, None
        self.start()

    def run(self):
        self.result = self.server.request("POST", "/auth", body=self.body, timeout=120,
                                          headers=self.server.app_headers(self.app))

    def outcome(self, timeout=60):
        self.join(timeout)
        assert self.result is not None, "the held POST /auth did not return"
        return self.result


@unittest.skipIf(browser.missing(), f"the browser tests need {browser.missing()}")
class WebAppTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Acme Bank")
        cls.n = 0
        cls.b = Browser()
        os.makedirs(SHOTS, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.b.close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.b.call("newPage")
        self.base = f"http://127.0.0.1:{self.s.port}"

    # -- helpers

    def user(self):
        type(self).n += 1
        return f"web{type(self).n}"

    def registration(self, username, app=None):
        r = self.s.request("POST", "/registration", headers=self.s.app_headers(app or self.app),
                           body={"username": username, "delivery": "none"})
        self.assertEqual(r.status, 201, r)
        return r.body["registrationId"], device.link_token(r.body["link"])

    def enroll(self, username, app=None, shot=None):
        """Opens the link page, follows "use this browser", links. Returns the deviceId."""
        reg_id, token = self.registration(username, app)
        self.b.call("goto", url=f"{self.base}/r/{token}")
        self.b.call("click", selector="#use-browser")
        self.b.call("wait", selector="#enroll-details")
        self.assertEqual(self.b.call("text", selector="#enroll-user"), username)
        # the token left the address bar at once
        self.assertEqual(self.b.call("url"), f"{self.base}/app/")
        if shot:
            self.b.call("screenshot", path=os.path.join(SHOTS, shot))
        self.b.call("click", selector="#enroll-go")
        self.b.call("waitText", selector="#enroll-msg", text="Linked")
        r = self.s.request("GET", f"/registration/{reg_id}",
                           headers=self.s.app_headers(app or self.app))
        self.assertEqual(r.body["status"], "completed", r)
        # app.js renders the account list after the "Linked" message
        self.b.call("wait", selector=f'li.account[data-device-id="{r.body["deviceId"]}"]',
                    state="attached")
        return r.body["deviceId"]

    def device_key(self, username, device_id, app=None):
        r = self.s.request("GET", f"/users/{username}/devices",
                           headers=self.s.app_headers(app or self.app))
        self.assertEqual(r.status, 200, r)
        return next(d for d in r.body["devices"] if d["deviceId"] == device_id)["publicKey"]

    def challenge_sel(self, rid):
        return f'li.challenge[data-request-id="{rid}"]'

    def pending_id(self, username, app=None):
        """The requestId of the user's pending request, once the page shows it."""
        self.b.call("wait", selector="li.challenge")
        return self.b.call("eval", expr="document.querySelector('li.challenge').dataset.requestId")

    def assert_evidence(self, auth, device_key, decision):
        hp = device.verify(auth["evidence"], device_key)
        self.assertIsNotNone(hp, "the evidence does not verify under the device key")
        header, payload = hp
        self.assertEqual(header["typ"], "pushgate-response+jwt")
        self.assertEqual(payload["decision"], decision)
        self.assertEqual(payload["chal"], device.chal_of(auth["challenge"]))
        self.assertEqual(payload["requestId"], auth["requestId"])

    # -- the tests

    def test_enroll_approve_with_message_and_transaction(self):
        user = self.user()
        dev = self.enroll(user, shot="enrollment.png")
        key = self.device_key(user, dev)
        # the key in IndexedDB is the device's, and it cannot be exported
        probe = self.b.call("eval", expr="""(async () => {
            const { listAccounts } = await import('/app/store.js');
            const [a] = await listAccounts();
            let exported = true;
            try { await crypto.subtle.exportKey('jwk', a.privateKey); } catch { exported = false; }
            return { x: a.publicJwk.x, extractable: a.privateKey.extractable, exported };
        })()""")
        self.assertEqual(probe, {"x": key["x"], "extractable": False, "exported": False})
        held = Held(self.s, self.app, {
            "username": user, "type": "authorization",
            "message": "Confirm transfer of 250.00 EUR to <b>Bob</b>",
            "context": {"ipAddress": "203.0.113.9", "location": "Lisbon, PT"},
            "transaction": {"amount": "250.00", "currency": "EUR", "payee": "Bob"}})
        rid = self.pending_id(user)
        sel = self.challenge_sel(rid)
        # texts are data: the markup in the message is shown as characters
        self.assertEqual(self.b.call("text", selector=f"{sel} .message"),
                         "Confirm transfer of 250.00 EUR to <b>Bob</b>")
        self.assertEqual(self.b.call("count", selector=f"{sel} .message b"), 0)
        self.assertIn("Lisbon, PT", self.b.call("text", selector=f"{sel} dl.context"))
        self.assertIn("payeeBob", self.b.call("text", selector=f"{sel} dl.transaction"))
        self.assertEqual(self.b.call("text", selector=f"{sel} .user"), user)
        self.assertEqual(self.b.call("text", selector=f"{sel} .app"), "Acme Bank")
        self.b.call("screenshot", path=os.path.join(SHOTS, "challenge.png"))
        self.b.call("click", selector=f"{sel} button.approve")
        auth = held.outcome().body
        self.assertEqual((auth["status"], auth["reason"], auth["deviceId"]),
                         ("accepted", None, dev))
        self.assert_evidence(auth, key, "approve")
        self.b.call("waitText", selector=f"{sel} .result", text="Approved")
        # reloading keeps the account; the page asked for nothing it may not have
        self.b.call("reload")
        self.b.call("wait", selector=f'li.account[data-device-id="{dev}"]')
        self.b.call("screenshot", path=os.path.join(SHOTS, "accounts.png"))
        self.assertNoCspViolation()

    def assertNoCspViolation(self):
        msgs = self.b.call("console")
        bad = [m for m in msgs if "Content Security Policy" in m["text"] or m["type"] == "pageerror"]
        self.assertEqual(bad, [])

    def test_deny_and_not_me(self):
        user = self.user()
        dev = self.enroll(user)
        key = self.device_key(user, dev)
        held = Held(self.s, self.app, {"username": user, "message": "Sign in?"})
        rid = self.pending_id(user)
        self.b.call("click", selector=f"{self.challenge_sel(rid)} button.deny")
        auth = held.outcome().body
        self.assertEqual((auth["status"], auth["reason"]), ("denied", "user_denied"))
        self.assert_evidence(auth, key, "deny")
        self.s.cli("user", "unlock", self.app["applicationId"], user)  # the deny's back-off
        self.b.call("wait", selector=self.challenge_sel(rid), state="detached")
        held = Held(self.s, self.app, {"username": user, "message": "Again?"})
        rid = self.pending_id(user)
        self.b.call("click", selector=f"{self.challenge_sel(rid)} button.notme")
        auth = held.outcome().body
        self.assertEqual((auth["status"], auth["reason"]), ("denied", "fraud_reported"))
        r = self.s.request("POST", "/auth", headers=self.s.app_headers(self.app),
                           body={"username": user})
        self.assertProblem(r, 423, "locked")

    def code_request(self, user, code):
        held = Held(self.s, self.app, {"username": user, "verification": "code",
                                       "displayCode": code})
        return held, self.challenge_sel(self.pending_id(user))

    def test_number_matching(self):
        user = self.user()
        self.enroll(user)
        held, sel = self.code_request(user, "473")
        self.assertFalse(self.b.call("enabled", selector=f"{sel} button.approve"))
        self.b.call("fill", selector=f"{sel} input.code", value="47")
        self.assertFalse(self.b.call("enabled", selector=f"{sel} button.approve"))
        self.b.call("fill", selector=f"{sel} input.code", value="123")
        self.b.call("click", selector=f"{sel} button.approve")
        auth = held.outcome().body
        self.assertEqual((auth["status"], auth["reason"]), ("denied", "code_mismatch"))
        self.s.cli("user", "unlock", self.app["applicationId"], user)
        self.b.call("wait", selector=sel, state="detached")
        held, sel = self.code_request(user, "815")
        self.b.call("fill", selector=f"{sel} input.code", value="815")
        self.b.call("click", selector=f"{sel} button.approve")
        self.assertEqual(held.outcome().body["status"], "accepted")

    def test_two_accounts_both_receive_their_challenges(self):
        other = self.s.create_app("Zeta Shop")
        user_a, user_b = self.user(), self.user()
        self.enroll(user_a)
        self.enroll(user_b, app=other)
        self.assertEqual(self.b.call("count", selector="li.account"), 2)
        held_a = Held(self.s, self.app, {"username": user_a, "message": "for A"})
        held_b = Held(self.s, other, {"username": user_b, "message": "for B"})
        self.b.call("waitText", selector="li.challenge .message", text="for A")
        self.b.call("waitText", selector="li.challenge .message", text="for B")
        for held in (held_a, held_b):
            sel = f'li.challenge:has(.message:text-is("{held.body["message"]}")) button.approve'
            self.b.call("click", selector=sel)
            self.assertEqual(held.outcome().body["status"], "accepted")

    def test_forged_challenge_is_not_shown(self):
        user = self.user()
        self.b.call("corrupt")  # before the page's first poll: every poll is intercepted
        self.enroll(user)
        r = self.s.request("POST", "/auth", headers={**self.s.app_headers(self.app),
                                                     "Prefer": "respond-async"},
                           body={"username": user, "message": "forged"})
        self.assertEqual(r.status, 202, r)
        rid = r.body["requestId"]
        eventually(lambda: rid in self.b.call("corrupted"), 40, "a corrupted challenge delivered")
        self.b.call("wait", selector="#rejected")
        self.assertEqual(self.b.call("count", selector="li.challenge"), 0)
        r = self.s.request("GET", f"/auth/{rid}", headers=self.s.app_headers(self.app))
        self.assertEqual((r.body["status"], r.body["evidence"]), ("pending", None))
        self.s.request("DELETE", f"/auth/{rid}", headers=self.s.app_headers(self.app))

    def test_remove_account_revokes_the_device(self):
        user = self.user()
        dev = self.enroll(user)
        sel = f'li.account[data-device-id="{dev}"]'
        self.b.call("click", selector=f"{sel} button.remove")
        self.b.call("click", selector=f"{sel} button.remove-confirm")
        self.b.call("wait", selector=sel, state="detached")
        r = self.s.request("GET", f"/users/{user}/devices", headers=self.s.app_headers(self.app))
        self.assertEqual([d["status"] for d in r.body["devices"]], ["revoked"])
        r = self.s.request("POST", "/auth", headers=self.s.app_headers(self.app),
                           body={"username": user})
        self.assertProblem(r, 409, "no_active_device")
        self.assertEqual(self.b.call("eval", expr="""(async () => {
            const { listAccounts } = await import('/app/store.js');
            return (await listAccounts()).length; })()"""), 0)

    def test_unreachable_server_is_said_and_polling_resumes(self):
        user = self.user()
        self.enroll(user)
        self.b.call("offline")
        self.b.call("reload")  # the first poll of the reloaded page fails at once
        self.b.call("wait", selector="#offline")
        self.b.call("online")
        self.b.call("wait", selector="#offline", state="hidden", timeout=60)
        held = Held(self.s, self.app, {"username": user, "message": "after the outage"})
        rid = self.pending_id(user)
        self.b.call("click", selector=f"{self.challenge_sel(rid)} button.approve")
        self.assertEqual(held.outcome().body["status"], "accepted")

    def test_a_browser_clock_off_by_ten_minutes_still_works(self):
        self.b.call("skewClock", ms=-600_000)  # proofs allow 60 s; the app uses the server's time
        user = self.user()
        self.enroll(user)
        held = Held(self.s, self.app, {"username": user, "message": "slow clock"})
        rid = self.pending_id(user)
        self.b.call("click", selector=f"{self.challenge_sel(rid)} button.approve")
        self.assertEqual(held.outcome().body["status"], "accepted")

    def test_installable_with_a_service_worker_on_a_desktop(self):
        self.b.call("newPage", serviceWorkers="allow", viewport={"width": 1280, "height": 800})
        user = self.user()
        self.enroll(user)
        state = self.b.call("eval", expr="navigator.serviceWorker.ready.then((r) => r.active.state)")
        self.assertIn(state, ("activating", "activated"))
        self.b.call("reload")  # now served through the worker: the account and polls still work
        held = Held(self.s, self.app, {"username": user, "message": "with a worker"})
        rid = self.pending_id(user)
        self.b.call("screenshot", path=os.path.join(SHOTS, "desktop.png"))
        self.b.call("click", selector=f"{self.challenge_sel(rid)} button.approve")
        self.assertEqual(held.outcome().body["status"], "accepted")
        self.assertNoCspViolation()

    def test_paste_link_into_the_app(self):
        user = self.user()
        _, token = self.registration(user)
        self.b.call("goto", url=f"{self.base}/app/")
        self.b.call("fill", selector="#link-input", value=f"{self.base}/r/{token}")
        self.b.call("click", selector="#link-go")
        self.b.call("wait", selector="#enroll-details")
        self.b.call("click", selector="#enroll-go")
        self.b.call("waitText", selector="#enroll-msg", text="Linked")
        self.b.call("wait", selector="li.account")  # the list renders after the message
        self.assertEqual(self.b.call("count", selector="li.account"), 1)
        self.assertNoCspViolation()


class StaticFilesTest(harness.TestCase):
    """The /app/ files' headers (no browser)."""

    CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; "
           "form-action 'none'; frame-ancestors 'none'")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()

    def test_index_and_files_carry_the_policy_and_an_etag(self):
        for path, ctype in [("/app/", "text/html; charset=utf-8"),
                            ("/app/index.html", "text/html; charset=utf-8"),
                            ("/app/app.js", "text/javascript; charset=utf-8"),
                            ("/app/style.css", "text/css; charset=utf-8"),
                            ("/app/manifest.webmanifest", "application/manifest+json")]:
            r = self.s.request("GET", path)
            self.assertEqual(r.status, 200, path)
            h = r.headers
            self.assertEqual(h["Content-Type"], ctype, path)
            self.assertEqual(h["Content-Security-Policy"], self.CSP, path)
            self.assertEqual(h["X-Content-Type-Options"], "nosniff")
            self.assertEqual(h["Referrer-Policy"], "no-referrer")
            self.assertEqual(h["Cache-Control"], "no-cache")
            etag = h["ETag"]
            self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
            again = self.s.request("GET", path, headers={"If-None-Match": etag})
            self.assertEqual((again.status, again.raw), (304, b""), path)
            self.assertEqual(again.headers["ETag"], etag)

    def test_no_inline_script_or_style(self):
        html = self.s.request("GET", "/app/").raw.decode()
        self.assertNotIn("<script>", html)
        self.assertNotIn("<style", html)
        self.assertNotIn(" style=", html)
        self.assertNotIn(" on", html.replace(" one", ""))  # no onclick= and the like

    def test_every_file_is_served_as_it_is_in_the_tree_with_no_markup_from_strings(self):
        web = os.path.join(HERE, "..", "..", "web", "app")
        for name in sorted(os.listdir(web)):
            with open(os.path.join(web, name), "rb") as f:
                data = f.read()
            r = self.s.request("GET", f"/app/{name}")
            self.assertEqual((r.status, r.raw), (200, data), name)
            if name.endswith(".js"):  # values go in as text, and nothing is evaluated
                for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                               "eval(", "new Function"):
                    self.assertNotIn(banned.encode(), data, f"{name}: {banned}")

    def test_unknown_file_is_a_problem(self):
        for path in ["/app/nope.js", "/app/a/b", "/app/..%2Fmain.c"]:
            r = self.s.request("GET", path)
            self.assertEqual(r.status, 404, path)
            self.assertEqual(r.headers["Content-Type"], "application/problem+json")
            self.assertEqual(r.body["code"], "not_found")

    def test_app_without_slash_redirects(self):
        r = self.s.request("GET", "/app")
        self.assertEqual((r.status, r.headers["Location"]), (301, "app/"))

    def test_head_and_methods(self):
        r = self.s.request("HEAD", "/app/app.js")
        self.assertEqual((r.status, r.raw), (200, b""))
        self.assertProblem(self.s.request("POST", "/app/app.js", body={}), 405,
                           "method_not_allowed")

    def test_link_page_offers_this_browser_with_the_token_in_the_fragment(self):
        app = self.s.create_app("Acme Bank")
        r = self.s.request("POST", "/registration", headers=self.s.app_headers(app),
                           body={"username": "frag", "delivery": "none"})
        token = device.link_token(r.body["link"])
        page = self.s.request("GET", f"/r/{token}").raw.decode()
        self.assertIn(f'href="../app/#enroll={token}"', page)


if __name__ == "__main__":
    harness.main()
