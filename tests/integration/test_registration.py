"""Issue 3: registration by emailed link and device binding (api.md 4)."""
import re
import subprocess
import tempfile
import threading
import time

import device
import harness

LINK_RE = re.compile(r"^(http://\S+/r/([A-Za-z0-9_-]{43}))\r?$", re.M)


def decode_qr(svg):
    """The text of a QR code SVG, as a phone would read it (rsvg-convert + zbarimg)."""
    with tempfile.TemporaryDirectory() as d:
        with open(f"{d}/qr.svg", "w") as f:
            f.write(svg)
        subprocess.run(["rsvg-convert", "-w", "600", "-o", f"{d}/qr.png", f"{d}/qr.svg"],
                       check=True)
        return subprocess.run(["zbarimg", "-q", "--raw", f"{d}/qr.png"], check=True,
                              stdout=subprocess.PIPE).stdout.decode().strip()


class Registration(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = harness.SmtpSink()
        cls.s = cls.class_server(env={"PUSHGATE_SMTP_URL": cls.sink.url,
                                      "PUSHGATE_ADMIN_TOKEN": "admin-token-for-tests-0123456789abcdef0123456789abcdef"})
        cls.app = cls.s.create_app("Acme Bank")
        cls.other = cls.s.create_app("Other App")
        cls.h = cls.s.app_headers(cls.app)
        cls.n = 0

    def register(self, username=None, email=None, app=None, **extra):
        """POST /registration; returns (registration, link, token) once the mail arrived."""
        type(self).n += 1
        username = username or f"user{self.n}"
        email = email or f"{username}@example.com"
        r = self.s.request("POST", "/registration", headers=self.s.app_headers(app or self.app),
                           body={"username": username, "email": email, **extra})
        self.assertEqual(r.status, 201, r)
        m = self.sink.wait_for(lambda m: email in m.envelope_to and
                               "authenticator to" in m["Subject"], timeout=20)
        found = LINK_RE.search(harness.text_part(m))
        self.assertIsNotNone(found, "no link on a line of its own")
        return r.body, found.group(1), found.group(2)

    def get_reg(self, reg_id, headers=None):
        return self.s.request("GET", f"/registration/{reg_id}", headers=headers or self.h)

    def test_mail_names_the_application_and_carries_the_link(self):
        reg, link, token = self.register(displayName="Alice Liddell")
        self.assertEqual(reg["status"], "pending")
        self.assertTrue(link.startswith(f"http://{self.s.addr}/r/"))
        # the sink has the message; the server records "sent" right after the SMTP answer
        r = harness.poll(lambda: self.get_reg(reg["registrationId"]),
                         lambda r: r.body["delivery"]["status"] == "sent", timeout=10)
        self.assertEqual(r.body["delivery"], {"status": "sent", "attempts": 1,
                                              "lastError": None}, r)

    def test_json_get_marks_retrieved_html_and_head_do_not(self):
        reg, _, token = self.register()
        self.assertEqual(self.s.request("HEAD", f"/r/{token}").status, 200)
        page = self.s.request("GET", f"/r/{token}", headers={"Accept": "text/html"})
        self.assertEqual(page.status, 200)
        self.assertEqual(self.get_reg(reg["registrationId"]).body["status"], "pending")
        doc = self.s.request("GET", f"/r/{token}", headers={"Accept": "application/json"})
        self.assertEqual(doc.status, 200, doc)
        self.assertEqual(doc.body["registrationId"], reg["registrationId"])
        self.assertEqual(doc.body["application"]["name"], "Acme Bank")
        self.assertEqual(doc.body["server"]["url"], f"http://{self.s.addr}")
        key = doc.body["server"]["jwks"]["keys"][0]
        self.assertEqual((key["kty"], key["crv"], key["alg"], key["use"]),
                         ("EC", "P-256", "ES256", "sig"))
        jwks = self.s.request("GET", "/.well-known/jwks.json").body
        self.assertIn(key, jwks["keys"])
        after = self.get_reg(reg["registrationId"]).body
        self.assertEqual(after["status"], "retrieved")
        self.assertIsNotNone(after["retrievedAt"])

    def test_html_page_qr_code_decodes_to_the_link(self):
        _, link, token = self.register()
        page = self.s.request("GET", f"/r/{token}", headers={"Accept": "text/html"})
        self.assertIn("text/html", page.headers["content-type"])
        html = page.raw.decode()
        self.assertIn("Acme Bank", html)
        self.assertNotIn("<script", html.lower())
        svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
        with tempfile.TemporaryDirectory() as d:
            with open(f"{d}/qr.svg", "w") as f:
                f.write(svg)
            subprocess.run(["rsvg-convert", "-w", "600", "-o", f"{d}/qr.png", f"{d}/qr.svg"],
                           check=True)
            out = subprocess.run(["zbarimg", "-q", "--raw", f"{d}/qr.png"], check=True,
                                 stdout=subprocess.PIPE).stdout.decode().strip()
        self.assertEqual(out, link)

    def test_complete_then_reuse_is_410_and_a_notice_is_mailed(self):
        reg, _, token = self.register(username="carol", email="carol@example.com")
        dev = device.Device()
        body = dev.enroll(self.s, token, name="Carol's Pixel")
        self.assertEqual(body["status"], "completed")
        self.assertEqual(body["username"], "carol")
        self.assertEqual(body["application"]["name"], "Acme Bank")
        r = self.get_reg(reg["registrationId"]).body
        self.assertEqual((r["status"], r["deviceId"]), ("completed", dev.device_id))
        again = self.s.request("POST", f"/r/{token}",
                               body=device.Device().bind_body(reg["registrationId"]))
        self.assertProblem(again, 410, "registration_completed")
        get = self.s.request("GET", f"/r/{token}", headers={"Accept": "application/json"})
        self.assertProblem(get, 410, "registration_completed")
        page = self.s.request("GET", f"/r/{token}", headers={"Accept": "text/html"})
        self.assertEqual(page.status, 410)
        notice = self.sink.wait_for(lambda m: "carol@example.com" in m.envelope_to and
                                    "linked" in m["Subject"], timeout=20)
        self.assertIn("Carol's Pixel", harness.text_part(notice))

    def handoff(self, **extra):
        """POST /registration with "delivery": "none"; returns (201 body, token)."""
        type(self).n += 1
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": f"handoff{self.n}", "delivery": "none", **extra})
        self.assertEqual(r.status, 201, r)
        found = LINK_RE.fullmatch(r.body["link"])
        self.assertIsNotNone(found, r.body["link"])
        self.assertTrue(r.body["link"].startswith(f"http://{self.s.addr}/r/"))
        return r.body, found.group(2)

    def outbox_rows(self, rid):
        return int(self.pg.psql(f"SELECT count(*) FROM outbox WHERE registration_id = '{rid}'",
                                db=self.db_url.rsplit("/", 1)[1]))

    def test_delivery_none_hands_the_link_over_and_mails_nothing(self):
        """api.md 4: no mail; the 201 carries the link and its QR code, this once; the link
        works as a mailed one does (page, document, completion)."""
        reg, token = self.handoff(displayName="Hand Off")
        rid, link = reg["registrationId"], reg["link"]
        self.assertEqual((reg["status"], reg["email"], reg["delivery"]), ("pending", None, None))
        self.assertTrue(reg["qrCodeSvg"].startswith("<svg"), reg["qrCodeSvg"][:80])
        self.assertEqual(decode_qr(reg["qrCodeSvg"]), link)
        got = self.get_reg(rid).body
        self.assertNotIn("link", got)
        self.assertNotIn("qrCodeSvg", got)
        self.assertEqual((got["status"], got["email"], got["delivery"]), ("pending", None, None))
        page = self.s.request("GET", f"/r/{token}", headers={"Accept": "text/html"})
        self.assertEqual(page.status, 200, page)
        self.assertIn("Acme Bank", page.raw.decode())
        doc = self.s.request("GET", f"/r/{token}", headers={"Accept": "application/json"})
        self.assertEqual((doc.status, doc.body["registrationId"]), (200, rid), doc)
        self.assertEqual(doc.body["displayName"], "Hand Off")
        dev = device.Device()
        self.assertEqual(dev.enroll(self.s, token)["status"], "completed")
        got = self.get_reg(rid).body
        self.assertEqual((got["status"], got["deviceId"]), ("completed", dev.device_id))
        self.assertEqual(self.outbox_rows(rid), 0)  # nothing queued, not even the notice
        # a mailed registration made after it arrives; nothing ever carried this link
        self.register()
        self.assertFalse([m for m in self.sink.messages if token in m.as_string()])

    def test_delivery_none_keeps_a_given_email_and_sends_it_no_link(self):
        """With an email: it is stored and shown, the registration mail is not sent; the
        device-linked notice is (it protects the user like any linked device's)."""
        type(self).n += 1
        addr = f"keep{self.n}@example.com"
        reg, token = self.handoff(email=addr)
        self.assertEqual((reg["email"], reg["delivery"]), (addr, None))
        self.assertEqual(self.get_reg(reg["registrationId"]).body["email"], addr)
        device.Device().enroll(self.s, token, name="Kept Pixel")
        self.sink.wait_for(lambda m: addr in m.envelope_to and "linked" in m["Subject"],
                           timeout=20)
        to_addr = [m for m in self.sink.messages if addr in m.envelope_to]
        self.assertEqual([("linked" in m["Subject"]) for m in to_addr], [True], to_addr)
        self.assertFalse([m for m in self.sink.messages if token in m.as_string()])

    def test_delivery_field_validation(self):
        for body in ({"username": "val", "email": "v@example.com", "delivery": "sms"},
                     {"username": "val", "email": "v@example.com", "delivery": ""},
                     {"username": "val", "email": "v@example.com", "delivery": 1},
                     {"username": "val", "delivery": "email"},
                     {"username": "val", "delivery": "none", "email": "not-an-address"}):
            r = self.s.request("POST", "/registration", headers=self.h, body=body)
            self.assertProblem(r, 400, "invalid_request")
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": "val", "email": "v@example.com",
                                 "delivery": "email"})
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("link", r.body)
        self.assertNotIn("qrCodeSvg", r.body)
        self.sink.wait_for(lambda m: "v@example.com" in m.envelope_to, timeout=20)

    def test_proof_by_another_key_is_invalid_proof(self):
        reg, _, token = self.register()
        dev, thief = device.Device(), device.Device()
        body = dev.bind_body(reg["registrationId"])
        body["proof"] = dev.registration_proof(reg["registrationId"], key=thief.key)
        self.assertProblem(self.s.request("POST", f"/r/{token}", body=body), 400, "invalid_proof")
        # well past 300 s, not 301: the server reads time() (the kernel's coarse clock, up
        # to a tick behind time.time()), so at a second's turn 301 was once 300 there (CI)
        stale = dev.bind_body(reg["registrationId"], iat=int(time.time()) - 310)
        self.assertProblem(self.s.request("POST", f"/r/{token}", body=stale), 400,
                           "invalid_proof")
        other = dev.bind_body("r_someotherregistration")
        self.assertProblem(self.s.request("POST", f"/r/{token}", body=other), 400,
                           "invalid_proof")
        self.assertEqual(self.get_reg(reg["registrationId"]).body["status"], "pending")

    def test_bad_key_and_fields_are_invalid_request(self):
        reg, _, token = self.register()
        dev = device.Device()
        off_curve = dev.bind_body(reg["registrationId"])
        off_curve["publicKey"]["y"] = off_curve["publicKey"]["x"]
        self.assertProblem(self.s.request("POST", f"/r/{token}", body=off_curve), 400,
                           "invalid_request")
        long_name = dev.bind_body(reg["registrationId"], name="x" * 65)
        self.assertProblem(self.s.request("POST", f"/r/{token}", body=long_name), 400,
                           "invalid_request")
        extra = {**dev.bind_body(reg["registrationId"]), "admin": True}
        self.assertProblem(self.s.request("POST", f"/r/{token}", body=extra), 400,
                           "invalid_request")

    def test_cancel(self):
        reg, _, token = self.register()
        rid = reg["registrationId"]
        r = self.s.request("DELETE", f"/registration/{rid}", headers=self.h)
        self.assertEqual((r.status, r.body["status"]), (200, "cancelled"), r)
        self.assertProblem(self.s.request("GET", f"/r/{token}",
                                          headers={"Accept": "application/json"}),
                           410, "registration_cancelled")
        bind = device.Device().bind_body(rid)
        self.assertProblem(self.s.request("POST", f"/r/{token}", body=bind), 410,
                           "registration_cancelled")
        self.assertProblem(self.s.request("DELETE", f"/registration/{rid}", headers=self.h),
                           409, "registration_not_pending")

    def test_expired(self):
        reg, _, token = self.register()
        rid = reg["registrationId"]
        self.pg.psql(f"UPDATE registrations SET expires_at = now() - interval '1 second' "
                     f"WHERE id = '{rid}'", db=self.db_url.rsplit("/", 1)[1])
        self.assertEqual(self.get_reg(rid).body["status"], "expired")
        self.assertProblem(self.s.request("GET", f"/r/{token}",
                                          headers={"Accept": "application/json"}),
                           410, "registration_expired")
        self.assertProblem(self.s.request("POST", f"/r/{token}",
                                          body=device.Device().bind_body(rid)),
                           410, "registration_expired")

    def test_unknown_token_and_foreign_application_are_404(self):
        self.assertProblem(self.s.request("GET", "/r/" + "A" * 43,
                                          headers={"Accept": "application/json"}),
                           404, "not_found")
        self.assertEqual(self.s.request("GET", "/r/" + "A" * 43).status, 404)
        reg, _, _ = self.register()
        other = self.s.app_headers(self.other)
        self.assertProblem(self.get_reg(reg["registrationId"], headers=other), 404, "not_found")
        self.assertProblem(self.s.request("DELETE", f"/registration/{reg['registrationId']}",
                                          headers=other), 404, "not_found")
        self.assertProblem(self.get_reg("r_doesnotexist00"), 404, "not_found")

    def test_unknown_or_used_token_is_refused_before_the_key_is_looked_at(self):
        """The token is looked up before any key import or proof verification: an unknown
        link with a bad key or proof gets the unknown-link answer (before: 400), so that
        guessing links costs the server no public-key operation."""
        dev = device.Device()
        off_curve = dev.bind_body("r_whatever0000")
        off_curve["publicKey"]["y"] = off_curve["publicKey"]["x"]
        bad_proof = dev.bind_body("r_whatever0000")
        bad_proof["proof"] = dev.registration_proof("r_whatever0000", key=device.Device().key)
        for body in (off_curve, bad_proof):
            self.assertProblem(self.s.request("POST", "/r/" + "A" * 43, body=body), 404,
                               "not_found")
        reg, _, token = self.register()
        device.Device().enroll(self.s, token)
        for body in (off_curve, bad_proof):
            self.assertProblem(self.s.request("POST", f"/r/{token}", body=body), 410,
                               "registration_completed")

    def test_linked_notice_quotes_a_hostile_device_name_as_data(self):
        """The device name is chosen by whoever holds the link: the notice shows it quoted,
        with invisible/bidi characters escaped and HTML escaped, plus the time, the binding
        request's IP address and what to do if it was not the user."""
        self.assertProblem(self.s.request("POST", "/r/" + "A" * 43, body=device.Device()
                                          .bind_body("r_x0000000", name="a\nb")),
                           400, "invalid_request")
        reg, _, token = self.register(username="mallory", email="mallory@example.com")
        name = "Your old phone\u2028\u2028No action needed\u202e<b>x</b>\"&"
        device.Device().enroll(self.s, token, name=name)
        notice = self.sink.wait_for(lambda m: "mallory@example.com" in m.envelope_to and
                                    "linked" in m["Subject"], timeout=20)
        text = harness.text_part(notice)
        self.assertIn('"Your old phone\\u2028\\u2028No action needed\\u202E<b>x</b>\\"&"',
                      text)
        for raw in ("\u2028", "\u202e"):
            self.assertNotIn(raw, text)
        self.assertRegex(text, r"Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
        self.assertIn("IP address: 127.0.0.1", text)
        self.assertIn("If this was not you", text)
        self.assertIn("revoke", text)
        html = notice.get_body(preferencelist=("html",)).get_content()
        self.assertIn("&lt;b&gt;x&lt;/b&gt;", html)
        self.assertNotIn("<b>x</b>", html)
        self.assertNotIn("\u202e", html)
        self.assertIn("127.0.0.1", html)

    def test_admin_reads_any_registration(self):
        reg, _, _ = self.register()
        admin = {"Authorization": "Bearer admin-token-for-tests-0123456789abcdef0123456789abcdef"}
        self.assertEqual(self.get_reg(reg["registrationId"], headers=admin).status, 200)
        wrong = {"Authorization": "Bearer nope"}
        self.assertProblem(self.get_reg(reg["registrationId"], headers=wrong), 401,
                           "invalid_application_credentials")

    def test_twelve_concurrent_completions_one_wins(self):
        reg, _, token = self.register()
        rid = reg["registrationId"]
        devices = [device.Device() for _ in range(12)]
        bodies = [d.bind_body(rid) for d in devices]
        results = [None] * 12
        start = threading.Barrier(12)

        def go(i):
            start.wait()
            results[i] = self.s.request("POST", f"/r/{token}", body=bodies[i])

        threads = [threading.Thread(target=go, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses.count(201), 1, statuses)
        self.assertEqual(statuses.count(410), 11, statuses)
        winner = next(r for r in results if r.status == 201)
        self.assertEqual(self.get_reg(rid).body["deviceId"], winner.body["deviceId"])

    def test_sixth_registration_within_the_hour_is_429(self):
        for i in range(5):
            r = self.s.request("POST", "/registration", headers=self.h,
                               body={"username": "dave", "email": f"dave{i}@example.com"})
            self.assertEqual(r.status, 201, r)
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": "dave", "email": "dave@example.com"})
        self.assertProblem(r, 429, "rate_limited")
        self.assertGreater(int(r.headers["retry-after"]), 0)
        # another application's "dave" is someone else
        r = self.s.request("POST", "/registration", headers=self.s.app_headers(self.other),
                           body={"username": "dave", "email": "dave@example.com"})
        self.assertEqual(r.status, 201, r)

    def test_field_validation(self):
        for body in ({"username": "", "email": "a@example.com"},
                     {"username": "a\u0001b", "email": "a@example.com"},
                     {"username": "x" * 129, "email": "a@example.com"},
                     {"username": "eve", "email": "not-an-address"},
                     {"username": "eve", "email": "e@example.com", "expiresIn": 299},
                     {"username": "eve", "email": "e@example.com", "expiresIn": 604801},
                     {"username": "eve", "email": "e@example.com", "expiresIn": "600"},
                     {"username": "eve"}):
            r = self.s.request("POST", "/registration", headers=self.h, body=body)
            self.assertProblem(r, 400, "invalid_request")
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": "eve", "email": "e@example.com",
                                 "displayName": None, "expiresIn": None})
        self.assertEqual(r.status, 201, r)


if __name__ == "__main__":
    harness.main()
