"""Lists and administration (api.md 11; docs/integration.md "Lists"): pages, filters,
scopes, cursors, POST /users/{u}/unlock and the admin's DELETEs."""
import base64
import json
import subprocess
import time
import urllib.parse

import device
import harness

ADMIN = "lists-admin-0123456789abcdef0123456789"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
REGISTRATIONS = 250


def oathtool(secret, step):
    r = subprocess.run(["oathtool", "--totp", "-b", secret, "--now", f"@{step * 30}"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10,
                       check=True)
    return r.stdout.strip()


class Lists(harness.TestCase):
    server_env = {"PUSHGATE_ADMIN_TOKEN": ADMIN}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.a = cls.s.create_app("Acme Bank")
        cls.b = cls.s.create_app("Other Shop")
        cls.ha = cls.s.app_headers(cls.a)
        cls.hb = cls.s.app_headers(cls.b)
        cls.reg_ids = [cls.register(cls.ha, f"user{i:03d}") for i in range(REGISTRATIONS)]
        cls.b_reg = cls.register(cls.hb, "user000")

    @classmethod
    def register(cls, headers, username):
        r = cls.s.request("POST", "/registration",
                          body={"username": username, "delivery": "none"}, headers=headers)
        assert r.status == 201, r
        return r.body["registrationId"]

    def get(self, path, headers, **query):
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self.s.request("GET", path, headers=headers)

    def page(self, path, headers, **query):
        r = self.get(path, headers, **query)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.body), {"items", "nextCursor"}, r)
        return r.body

    def all_pages(self, path, headers, **query):
        """Every item, following nextCursor; asserts each page but the last is full."""
        items, cursor, pages = [], None, 0
        while True:
            q = dict(query, **({"cursor": cursor} if cursor else {}))
            body = self.page(path, headers, **q)
            items += body["items"]
            pages += 1
            cursor = body["nextCursor"]
            if cursor is None:
                return items, pages
            self.assertEqual(len(body["items"]), int(query.get("limit", 50)), body)

    # -- registrations: pages, scope, filters

    def test_250_registrations_in_three_pages(self):
        items, pages = self.all_pages("/registrations", self.ha, limit=100)
        self.assertEqual(pages, 3)
        ids = [i["registrationId"] for i in items]
        self.assertEqual(len(ids), len(set(ids)), "a row twice")
        self.assertEqual(set(ids), set(self.reg_ids), "rows missing or foreign")
        rows = self.q("SELECT id FROM registrations WHERE app_id = %s "
                      "ORDER BY created_at DESC, id DESC", self.a["applicationId"])
        self.assertEqual(ids, [r[0] for r in rows], "not newest first")
        created = [i["createdAt"] for i in items]
        self.assertEqual(created, sorted(created, reverse=True))
        one = self.s.request("GET", f"/registration/{ids[7]}", headers=self.ha)
        self.assertEqual(items[7], one.body, "a list item is the single GET's object")

    def test_default_limit_is_50(self):
        body = self.page("/registrations", self.ha)
        self.assertEqual(len(body["items"]), 50)
        self.assertIsNotNone(body["nextCursor"])

    def test_another_application_sees_none(self):
        items, _ = self.all_pages("/registrations", self.hb, limit=200)
        self.assertEqual([i["registrationId"] for i in items], [self.b_reg])
        body = self.page("/registrations", self.hb, applicationId=self.a["applicationId"])
        self.assertEqual(body, {"items": [], "nextCursor": None})

    def test_registration_filters(self):
        body = self.page("/registrations", self.ha, username="user007")
        self.assertEqual([i["registrationId"] for i in body["items"]], [self.reg_ids[7]])
        self.assertEqual(self.page("/registrations", self.ha, username="nobody")["items"], [])
        rid = self.register(self.ha, "cancelme")
        self.addCleanup(lambda: self.reg_ids.remove(rid) if rid in self.reg_ids else None)
        self.reg_ids.append(rid)
        r = self.s.request("DELETE", f"/registration/{rid}", headers=self.ha)
        self.assertEqual(r.status, 200, r)
        cancelled, _ = self.all_pages("/registrations", self.ha, status="cancelled")
        self.assertIn(rid, [i["registrationId"] for i in cancelled])
        self.assertTrue(all(i["status"] == "cancelled" for i in cancelled))
        want = self.q("SELECT count(*) FROM registrations WHERE app_id = %s "
                      "AND status = 'cancelled'", self.a["applicationId"])[0][0]
        self.assertEqual(len(cancelled), want)
        pending, _ = self.all_pages("/registrations", self.ha, status="pending", limit=200)
        self.assertNotIn(rid, [i["registrationId"] for i in pending])
        self.assertTrue(all(i["status"] == "pending" for i in pending))
        self.assertGreaterEqual(len(pending), REGISTRATIONS - 1)
        self.assertEqual(self.page("/registrations", self.ha, status="cancelled",
                                   username="user001")["items"], [])
        self.q("UPDATE registrations SET expires_at = now() - interval '1 second' WHERE id = %s",
               self.reg_ids[3])
        try:
            body = self.page("/registrations", self.ha, status="expired")
            self.assertEqual([i["registrationId"] for i in body["items"]], [self.reg_ids[3]])
            self.assertEqual(body["items"][0]["status"], "expired")
        finally:
            self.q("UPDATE registrations SET expires_at = now() + interval '1 day' WHERE id = %s",
                   self.reg_ids[3])

    def test_admin_sees_all_or_one_application(self):
        items, _ = self.all_pages("/registrations", ADMIN_HEADERS, limit=200)
        ids = {i["registrationId"] for i in items}
        self.assertTrue(set(self.reg_ids) | {self.b_reg} <= ids)
        body = self.page("/registrations", ADMIN_HEADERS, applicationId=self.b["applicationId"])
        self.assertEqual([i["registrationId"] for i in body["items"]], [self.b_reg])
        body = self.page("/registrations", ADMIN_HEADERS, applicationId="a_nosuchapp0")
        self.assertEqual(body, {"items": [], "nextCursor": None})
        body = self.page("/registrations", ADMIN_HEADERS, username="user000")
        self.assertEqual({i["registrationId"] for i in body["items"]},
                         {self.reg_ids[0], self.b_reg})

    # -- cursors and bad requests

    def test_cursor_of_a_used_by_b_reveals_nothing(self):
        cursor = self.page("/registrations", self.ha, limit=10)["nextCursor"]
        self.assertProblem(self.get("/registrations", self.hb, limit=10, cursor=cursor),
                           400, "invalid_request")
        # nor by the admin, nor with other filters, nor on another list
        self.assertProblem(self.get("/registrations", ADMIN_HEADERS, cursor=cursor),
                           400, "invalid_request")
        self.assertProblem(self.get("/registrations", self.ha, cursor=cursor, status="pending"),
                           400, "invalid_request")
        self.assertProblem(self.get("/auth", self.ha, cursor=cursor), 400, "invalid_request")
        # the same caller and filters may change the page size
        self.assertEqual(len(self.page("/registrations", self.ha, limit=5,
                                       cursor=cursor)["items"]), 5)

    def test_forged_cursor(self):
        cursor = self.page("/registrations", self.ha, limit=10)["nextCursor"]
        pos, mac = cursor.split(".")
        raw = base64.urlsafe_b64decode(pos + "=" * (-len(pos) % 4)).decode()
        at, rid = raw.split(".", 1)
        other = base64.urlsafe_b64encode(f"{int(at) + 1}.{rid}".encode()).rstrip(b"=").decode()
        for bad in (f"{other}.{mac}", cursor + "A", "x", "", "..", cursor[:-2],
                    base64.urlsafe_b64encode(b"1.x").decode()):
            self.assertProblem(self.get("/registrations", self.ha, cursor=bad),
                               400, "invalid_request")

    def test_bad_limits_and_filters(self):
        for limit in ("0", "201", "-1", "abc", "", "1.5", "0050"):
            self.assertProblem(self.get("/registrations", self.ha, limit=limit),
                               400, "invalid_request")
        self.assertEqual(len(self.page("/registrations", self.ha, limit=200)["items"]), 200)
        self.assertEqual(len(self.page("/registrations", self.ha, limit=1)["items"]), 1)
        cases = [("/registrations", {"status": "done"}), ("/registrations", {"sort": "asc"}),
                 ("/registrations", {"applicationId": "x"}), ("/auth", {"status": "pending "}),
                 ("/auth", {"since": "yesterday"}), ("/auth", {"since": "2026-13-01T00:00:00Z"}),
                 ("/users", {"q": ""}), ("/users", {"username": "a"}),
                 ("/registrations", {"username": "a\x01b"})]
        for path, query in cases:
            self.assertProblem(self.get(path, self.ha, **query), 400, "invalid_request")
        r = self.s.request("GET", "/registrations?username=%ff", headers=self.ha)
        self.assertProblem(r, 400, "invalid_request")

    def test_credentials(self):
        self.assertProblem(self.get("/registrations", {}), 401, "invalid_application_credentials")
        self.assertProblem(self.get("/audit", self.ha), 403, "forbidden")
        self.assertProblem(self.get("/applications", self.ha), 403, "forbidden")
        self.assertProblem(self.get("/applications", {"Authorization": "Bearer wrong"}),
                           401, "invalid_application_credentials")

    # -- /auth, /users, /audit, /applications

    def insert_auth(self, app, username, rid, status="pending", age_s=0, expires_s=60):
        self.q("INSERT INTO auth_requests (id, app_id, user_id, username, type, verification, "
               "async, status, created_at, expires_at) "
               "SELECT %s, %s, u.id, u.username, 'authentication', 'none', true, %s, "
               "now() - make_interval(secs => %s), now() + make_interval(secs => %s) "
               "FROM users u WHERE u.app_id = %s AND u.username = %s",
               rid, app["applicationId"], status, age_s, expires_s, app["applicationId"],
               username)

    def test_auth_list_and_filters(self):
        c, d = self.s.create_app("Auth C"), self.s.create_app("Auth D")
        hc, hd = self.s.app_headers(c), self.s.app_headers(d)
        for h, user in ((hc, "user010"), (hc, "user011"), (hd, "user000")):
            self.register(h, user)
        self.insert_auth(c, "user010", "q_list000001", "accepted", age_s=3600)
        self.insert_auth(c, "user010", "q_list000002", "denied", age_s=1800)
        self.insert_auth(c, "user011", "q_list000003", "pending", age_s=10)
        self.insert_auth(c, "user011", "q_list000004", "pending", age_s=5, expires_s=-1)
        self.insert_auth(d, "user000", "q_list000005", "pending")
        items, _ = self.all_pages("/auth", hc, limit=2)
        ids = [i["requestId"] for i in items]
        self.assertEqual(ids, ["q_list000004", "q_list000003", "q_list000002", "q_list000001"])
        one = self.s.request("GET", "/auth/q_list000002", headers=hc)
        self.assertEqual(items[2], one.body, "a list item is the single GET's object")
        self.assertEqual(items[0]["status"], "expired")

        def ids_of(**q):
            return [i["requestId"] for i in self.page("/auth", hc, **q)["items"]]
        self.assertEqual(ids_of(username="user010"), ["q_list000002", "q_list000001"])
        self.assertEqual(ids_of(username="user000"), [])
        self.assertEqual(ids_of(status="pending"), ["q_list000003"])
        self.assertEqual(ids_of(status="expired"), ["q_list000004"])
        self.assertEqual(ids_of(status="denied", username="user010"), ["q_list000002"])
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2700))
        self.assertEqual(ids_of(since=since), ["q_list000004", "q_list000003", "q_list000002"])
        offset = time.strftime("%Y-%m-%dT%H:%M:%S.5+01:00", time.gmtime(time.time() + 3600 - 2700))
        self.assertEqual(ids_of(since=offset), ["q_list000004", "q_list000003", "q_list000002"])
        body = self.page("/auth", ADMIN_HEADERS, applicationId=d["applicationId"])
        self.assertEqual([i["requestId"] for i in body["items"]], ["q_list000005"])
        body = self.page("/auth", hd)
        self.assertEqual([i["requestId"] for i in body["items"]], ["q_list000005"])
        body = self.page("/auth", ADMIN_HEADERS, username="user010", status="accepted")
        self.assertEqual([i["requestId"] for i in body["items"]], ["q_list000001"])

    def test_users_list(self):
        items, pages = self.all_pages("/users", self.ha, limit=200)
        names = [i["username"] for i in items]
        self.assertTrue({f"user{i:03d}" for i in range(REGISTRATIONS)} <= set(names))
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(set(items[0]), {"username", "applicationId", "email", "displayName",
                                         "createdAt", "pushDevices", "mfaEnabled", "channel",
                                         "locked", "lockedUntil"})
        body = self.page("/users", self.ha, q="user24")
        self.assertEqual(sorted(i["username"] for i in body["items"]),
                         [f"user24{i}" for i in range(10)])
        self.assertEqual(self.page("/users", self.ha, q="user_")["items"], [], "_ is literal")
        self.assertEqual(self.page("/users", self.ha, q="%")["items"], [], "% is literal")
        body = self.page("/users", self.hb)
        self.assertEqual([i["username"] for i in body["items"]], ["user000"])

    def test_audit_list(self):
        items, _ = self.all_pages("/audit", ADMIN_HEADERS, limit=200,
                                  applicationId=self.b["applicationId"])
        self.assertTrue(items)
        for i in items:
            self.assertEqual(set(i), {"id", "at", "type", "applicationId", "username", "detail"})
            self.assertEqual(i["applicationId"], self.b["applicationId"])
            self.assertNotIn("userId", i["detail"])
        self.assertEqual(items[-1]["type"], "application.created")
        body = self.page("/audit", ADMIN_HEADERS, type="registration.created",
                         applicationId=self.b["applicationId"])
        self.assertEqual([(i["type"], i["username"]) for i in body["items"]],
                         [("registration.created", "user000")])
        body = self.page("/audit", ADMIN_HEADERS, username="user005",
                         applicationId=self.a["applicationId"])
        self.assertEqual([i["type"] for i in body["items"]], ["registration.created"])
        self.assertEqual(body["items"][0]["username"], "user005")
        future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        self.assertEqual(self.page("/audit", ADMIN_HEADERS, since=future)["items"], [])
        self.assertProblem(self.get("/audit", ADMIN_HEADERS, type="Auth created"),
                           400, "invalid_request")

    def test_applications_list(self):
        body = self.page("/applications", ADMIN_HEADERS, limit=1)
        self.assertEqual(len(body["items"]), 1)
        items, _ = self.all_pages("/applications", ADMIN_HEADERS)
        byid = {i["applicationId"]: i for i in items}
        self.assertEqual(byid[self.a["applicationId"]]["name"], "Acme Bank")
        for i in items:
            self.assertEqual(set(i), {"applicationId", "name", "status", "createdAt",
                                      "webhookUrl"})
        self.assertNotIn(self.a["applicationSecret"], json.dumps(items))

    # -- unlock and the admin's DELETEs

    def test_unlock_clears_a_real_otp_lockout(self):
        u = "locked-user"
        h = self.ha
        r = self.s.request("POST", f"/users/{u}/mfa/setup", body={"channel": "totp"}, headers=h)
        self.assertEqual(r.status, 200, r)
        code = oathtool(r.body["secret"], int(time.time()) // 30)
        r = self.s.request("POST", f"/users/{u}/mfa/enable", body={"code": code}, headers=h)
        self.assertEqual(r.status, 200, r)
        backup = r.body["backupCodes"]
        for _ in range(5):
            r = self.s.request("POST", f"/users/{u}/mfa/verify", body={"code": "k7m2q-9x4tr"},
                               headers=h)
            self.assertEqual(r.status, 422, r)
        r = self.s.request("POST", f"/users/{u}/mfa/verify", body={"code": backup[0]}, headers=h)
        self.assertProblem(r, 423, "locked")
        # the admin must name the application; another application's user is unknown
        self.assertProblem(self.s.request("POST", f"/users/{u}/unlock", headers=ADMIN_HEADERS),
                           400, "invalid_request")
        self.assertProblem(self.s.request("POST", f"/users/{u}/unlock", headers=self.hb),
                           404, "user_not_found")
        r = self.s.request("POST", f"/users/{u}/unlock", headers=h)
        self.assertEqual(r.status, 200, r)
        status = self.s.request("GET", f"/users/{u}/mfa/status", headers=h)
        self.assertEqual(r.body, status.body)
        self.assertFalse(r.body["locked"])
        r = self.s.request("POST", f"/users/{u}/mfa/verify", body={"code": backup[0]}, headers=h)
        self.assertEqual(r.status, 200, r)
        app = self.a["applicationId"]
        r = self.s.request("POST", f"/users/{u}/unlock?applicationId={app}",
                           headers=ADMIN_HEADERS)
        self.assertEqual(r.status, 200, r)
        body = self.page("/audit", ADMIN_HEADERS, type="user.unlocked", username=u)
        self.assertEqual([i["detail"] for i in body["items"]], [{"by": "admin"},
                                                                {"by": "application"}])
        self.assertEqual(self.page("/audit", ADMIN_HEADERS, type="user.otp_unlocked",
                                   username=u)["items"][0]["username"], u)

    def test_admin_deletes_with_application_id(self):
        a, b = self.a["applicationId"], self.b["applicationId"]
        rid = self.register(self.ha, "admin-victim")
        self.reg_ids.append(rid)
        r = self.s.request("DELETE", f"/registration/{rid}?applicationId={b}",
                           headers=ADMIN_HEADERS)
        self.assertProblem(r, 404, "not_found")
        r = self.s.request("DELETE", f"/registration/{rid}?applicationId={a}",
                           headers=ADMIN_HEADERS)
        self.assertEqual((r.status, r.body["status"]), (200, "cancelled"), r)
        self.insert_auth(self.a, "admin-victim", "q_adminvict1")
        r = self.s.request("DELETE", f"/auth/q_adminvict1?applicationId={b}",
                           headers=ADMIN_HEADERS)
        self.assertProblem(r, 404, "not_found")
        r = self.s.request("DELETE", f"/auth/q_adminvict1?applicationId={a}",
                           headers=ADMIN_HEADERS)
        self.assertEqual((r.status, r.body["status"]), (200, "cancelled"), r)
        # a device, linked for real, revoked by the admin
        reg = self.s.request("POST", "/registration",
                             body={"username": "admin-victim", "delivery": "none"},
                             headers=self.ha)
        self.reg_ids.append(reg.body["registrationId"])
        dev = device.Device()
        dev.enroll(self.s, device.link_token(reg.body["link"]))
        path = f"/users/admin-victim/devices/{dev.device_id}"
        self.assertProblem(self.s.request("DELETE", path, headers=ADMIN_HEADERS),
                           400, "invalid_request")
        self.assertProblem(self.s.request("DELETE", f"{path}?applicationId={b}",
                                          headers=ADMIN_HEADERS), 404, "user_not_found")
        r = self.s.request("DELETE", f"{path}?applicationId={a}", headers=ADMIN_HEADERS)
        self.assertEqual(r.status, 204, r)
        r = self.s.request("GET", "/users/admin-victim/devices", headers=self.ha)
        self.assertEqual(r.body["devices"][0]["status"], "revoked")
        types = [i["type"] for i in self.page("/audit", ADMIN_HEADERS, username="admin-victim",
                                               applicationId=a, limit=200)["items"]]
        for t in ("admin.registration_cancelled", "admin.auth_cancelled",
                  "admin.device_revoked", "device.revoked", "auth.cancelled",
                  "registration.cancelled"):
            self.assertIn(t, types)
        # an application still cannot cancel another's request
        self.insert_auth(self.a, "admin-victim", "q_adminvict2")
        self.assertProblem(self.s.request("DELETE", "/auth/q_adminvict2", headers=self.hb),
                           404, "not_found")


if __name__ == "__main__":
    harness.main()
