"""The admin reads a user's devices and MFA status and creates registrations for an
application it names with ?applicationId= (what the console, api.md 14, needs)."""
import os

import device
import harness

ADMIN = "admin-console-0123456789abcdef0123456"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


class Admin(harness.TestCase):
    server_env = {"PUSHGATE_ADMIN_TOKEN": ADMIN}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.a = cls.s.create_app("Acme Bank")
        cls.b = cls.s.create_app("Other Shop")
        cls.ha = cls.s.app_headers(cls.a)

    def admin(self, method, path, app=None, body=None):
        if app:
            path += ("&" if "?" in path else "?") + f"applicationId={app}"
        return self.s.request(method, path, body=body, headers=ADMIN_HEADERS)

    def test_admin_creates_a_registration_for_a_named_application(self):
        a, b = self.a["applicationId"], self.b["applicationId"]
        body = {"username": "carol", "delivery": "none"}
        self.assertProblem(self.admin("POST", "/registration", body=body), 400,
                           "invalid_request")
        self.assertProblem(self.admin("POST", "/registration", "a_nosuchapp000", body), 404,
                           "not_found")
        r = self.admin("POST", "/registration", a, body)
        self.assertEqual(r.status, 201, r)
        self.assertIn("qrCodeSvg", r.body)
        rid = r.body["registrationId"]
        # it belongs to a: a sees it, b does not
        self.assertEqual(self.s.request("GET", f"/registration/{rid}", headers=self.ha).status,
                         200)
        hb = self.s.app_headers(self.b)
        self.assertProblem(self.s.request("GET", f"/registration/{rid}", headers=hb), 404,
                           "not_found")
        dev = device.Device()
        dev.enroll(self.s, device.link_token(r.body["link"]))
        devices = self.admin("GET", "/users/carol/devices", a)
        self.assertEqual(devices.status, 200, devices)
        self.assertEqual([d["deviceId"] for d in devices.body["devices"]], [dev.device_id])
        self.assertEqual(devices.body,
                         self.s.request("GET", "/users/carol/devices", headers=self.ha).body)

    def test_admin_reads_devices_and_mfa_status_only_naming_the_application(self):
        a, b = self.a["applicationId"], self.b["applicationId"]
        r = self.s.request("POST", "/registration",
                           body={"username": "dave", "delivery": "none"}, headers=self.ha)
        self.assertEqual(r.status, 201, r)
        for path in ("/users/dave/devices", "/users/dave/mfa/status"):
            self.assertProblem(self.admin("GET", path), 400, "invalid_request")
            self.assertProblem(self.admin("GET", path, b), 404, "user_not_found")
            mine = self.s.request("GET", path, headers=self.ha)
            theirs = self.admin("GET", path, a)
            self.assertEqual((theirs.status, theirs.body), (200, mine.body), theirs)
            # an application naming another application finds nothing
            self.assertProblem(self.s.request("GET", f"{path}?applicationId={b}",
                                              headers=self.ha), 404, "user_not_found")
        status = self.admin("GET", "/users/dave/mfa/status", a).body
        self.assertEqual((status["username"], status["locked"]), ("dave", False))

    def test_console_is_served_like_the_web_authenticator(self):
        r = self.s.request("GET", "/console/")
        self.assertEqual(r.status, 200, r)
        app = self.s.request("GET", "/app/")
        for h in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
                  "X-Frame-Options", "Cache-Control"):
            self.assertEqual(r.headers[h], app.headers[h], h)
        self.assertEqual(r.headers["Content-Type"], "text/html; charset=utf-8")
        js = self.s.request("GET", "/console/console.js")
        self.assertEqual(js.headers["Content-Type"], "text/javascript; charset=utf-8")
        again = self.s.request("GET", "/console/console.js",
                               headers={"If-None-Match": js.headers["ETag"]})
        self.assertEqual(again.status, 304)
        self.assertProblem(self.s.request("GET", "/console/nope.js"), 404, "not_found")
        r = self.s.request("GET", "/console")
        self.assertEqual((r.status, r.headers["Location"]), (301, "console/"))

    def test_console_files_are_web_console_and_insert_no_markup(self):
        folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "web",
                              "console")
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            r = self.s.request("GET", f"/console/{name}")
            self.assertEqual((r.status, r.raw), (200, data), name)
            if name.endswith(".js"):
                for bad in (b"innerHTML", b"outerHTML", b"insertAdjacentHTML", b"eval(",
                            b"document.write", b"new Function"):
                    self.assertNotIn(bad, data, name)


if __name__ == "__main__":
    harness.main()
