"""Idempotent retries (api.md 1; docs/http.md "Idempotent retries"): Idempotency-Key on
POST /registration and POST /auth, per application, 24 h, stored in PostgreSQL."""
import re

import harness
import test_push

POOL = test_push.POOL


def key_header(key):
    return {"Idempotency-Key": key}


class Idempotency(test_push.PushBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other = cls.s.create_app("Other App")
        cls.k = 0

    def key(self):
        type(self).k += 1
        return f"key-{self._testMethodName[5:25]}-{self.k}"

    def register(self, body, key, app=None, server=None):
        s = server or self.s
        h = s.app_headers(app) if app else self.h
        return s.request("POST", "/registration", headers={**h, **key_header(key)}, body=body)

    def mails_to(self, email):
        return [m for m in self.sink.messages if email in m.envelope_to]

    def barrier_mail(self):
        """Registers a fresh user and waits for its mail: the outbox sends in order, so a
        mail a retry queued would have been sent by then."""
        type(self).n += 1
        email = f"barrier{self.n}@example.com"
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": f"barrier{self.n}", "email": email})
        self.assertEqual(r.status, 201, r)
        self.sink.wait_for(lambda m: email in m.envelope_to, timeout=20)

    def count(self, sql, *args):
        return self.q(sql, *args)[0][0]

    # -- POST /registration

    def test_registration_retried_is_one_registration_one_mail_the_same_201(self):
        key, email = self.key(), "idem.reg@example.com"
        body = {"username": "idemreg", "email": email, "displayName": "Idem"}
        first = self.register(body, key)
        self.assertEqual(first.status, 201, first)
        self.assertNotIn("idempotent-replayed", first.headers)
        self.sink.wait_for(lambda m: email in m.envelope_to, timeout=20)
        again = self.register(body, key)
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.body, first.body)
        self.assertEqual(again.headers.get("idempotent-replayed"), "true")
        # the same JSON with other whitespace and member order is the same body
        raw = ' {"email" : "%s",\n "displayName":"Idem", "username": "idemreg"} ' % email
        h = {**self.h, **key_header(key), "Content-Type": "application/json"}
        third = self.s.request("POST", "/registration", headers=h, raw=raw)
        self.assertEqual((third.status, third.body), (201, first.body), third)
        self.assertEqual(self.count("SELECT count(*) FROM registrations WHERE email = %s",
                                    email), 1)
        self.barrier_mail()
        self.assertEqual(len(self.mails_to(email)), 1)

    def test_registration_key_with_another_body_is_422(self):
        key = self.key()
        body = {"username": "idemchanged", "email": "idem.changed@example.com"}
        self.assertEqual(self.register(body, key).status, 201)
        changed = self.register({**body, "email": "idem.other@example.com"}, key)
        self.assertProblem(changed, 422, "idempotency_key_reused")
        # the key belongs to POST /registration's body: on POST /auth it is another body
        self.assertProblem(self.auth("idemchanged", headers=key_header(key)), 422,
                           "idempotency_key_reused")
        self.assertEqual(self.count("SELECT count(*) FROM registrations r JOIN users u "
                                    "ON u.id = r.user_id WHERE u.username = 'idemchanged'"), 1)

    def test_another_application_may_use_the_same_key(self):
        key = self.key()
        body = {"username": "idemshared", "email": "idem.shared@example.com"}
        mine = self.register(body, key)
        theirs = self.register(body, key, app=self.other)
        self.assertEqual((mine.status, theirs.status), (201, 201), theirs)
        self.assertNotEqual(mine.body["registrationId"], theirs.body["registrationId"])
        self.assertNotIn("idempotent-replayed", theirs.headers)

    def test_an_invalid_key_is_400(self):
        body = {"username": "idembad", "email": "idem.bad@example.com"}
        for key in ("k" * 129, "a\x01b", "caf\xe9"):
            with self.subTest(key=key):
                self.assertProblem(self.register(body, key), 400, "invalid_request")
                self.assertProblem(self.auth("idembad", headers=key_header(key)), 400,
                                   "invalid_request")
        self.assertEqual(self.register(body, "k" * 128).status, 201)
        self.assertEqual(self.register(body, "~ !").status, 201)

    def test_a_key_expires_after_24_hours(self):
        key = self.key()
        body = {"username": "idemold", "email": "idem.old@example.com"}
        first = self.register(body, key)
        self.q("UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 second' "
               "WHERE key = %s", key)
        again = self.register(body, key)
        self.assertEqual(again.status, 201, again)
        self.assertNotEqual(again.body["registrationId"], first.body["registrationId"])
        # an expired key is deleted by the next claims, whatever their key
        self.q("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
               "WHERE key = %s", key)
        self.register({"username": "idemold2", "email": "idem.old2@example.com"}, self.key())
        self.assertEqual(self.count("SELECT count(*) FROM idempotency_keys WHERE key = %s",
                                    key), 0)

    def test_delivery_none_retried_gets_the_stored_body_without_the_link(self):
        """docs/http.md: only the first 201 of "delivery": "none" carries link and
        qrCodeSvg; the retry's token was never stored, so its replay carries neither."""
        key = self.key()
        body = {"username": "idemhandoff", "delivery": "none"}
        first = self.register(body, key)
        self.assertEqual(first.status, 201, first)
        self.assertTrue(first.body["link"].startswith(f"http://{self.s.addr}/r/"), first.body)
        self.assertTrue(first.body["qrCodeSvg"].startswith("<svg"), first.body)
        again = self.register(body, key)
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.headers.get("idempotent-replayed"), "true")
        self.assertNotIn("link", again.body)
        self.assertNotIn("qrCodeSvg", again.body)
        stored = {k: v for k, v in first.body.items() if k not in ("link", "qrCodeSvg")}
        self.assertEqual(again.body, stored)
        rid = first.body["registrationId"]
        self.assertEqual(self.count("SELECT count(*) FROM registrations r JOIN users u "
                                    "ON u.id = r.user_id WHERE u.username = 'idemhandoff'"), 1)
        self.assertEqual(self.count("SELECT count(*) FROM outbox WHERE registration_id = %s",
                                    rid), 0)
        self.assertNotIn("link", self.q("SELECT body::text FROM idempotency_keys "
                                        "WHERE key = %s", key)[0][0])

    # -- POST /auth

    def test_a_failed_first_call_stores_nothing(self):
        """A 4xx outcome is not stored: the retry runs again (here: with another body)."""
        key = self.key()
        self.assertProblem(self.auth("idem_nobody", headers=key_header(key)), 404,
                           "user_not_found")
        self.assertEqual(self.count("SELECT count(*) FROM idempotency_keys WHERE key = %s",
                                    key), 0)
        user, _ = self.new_user()
        r = self.auth(user, headers={"Prefer": "respond-async", **key_header(key)})
        self.assertEqual(r.status, 202, r)

    def test_async_auth_retried_is_the_same_request(self):
        user, (dev,) = self.new_user()
        key = self.key()
        hdrs = {"Prefer": "respond-async", **key_header(key)}
        first = self.auth(user, headers=hdrs, message="Pay 10 EUR")
        self.assertEqual(first.status, 202, first)
        again = self.auth(user, headers=hdrs, message="Pay 10 EUR")
        self.assertEqual((again.status, again.body), (202, first.body), again)
        self.assertEqual(again.headers["location"], first.headers["location"])
        self.assertEqual(again.headers.get("idempotent-replayed"), "true")
        # without the key the one-pending-request rule still answers
        self.assertProblem(self.auth(user, headers={"Prefer": "respond-async"},
                                     message="Pay 10 EUR"), 429, "rate_limited")
        self.assertProblem(self.auth(user, headers=hdrs, message="Pay 99 EUR"), 422,
                           "idempotency_key_reused")
        rid = first.body["requestId"]
        ch = self.challenge_for(dev, rid)
        self.assertEqual(self.answer(dev, ch).body["status"], "accepted")
        # after the decision, a held retry gets the outcome at once
        held = self.auth(user, headers=key_header(key), message="Pay 10 EUR")
        self.assertEqual((held.status, held.body["requestId"], held.body["status"]),
                         (200, rid, "accepted"), held)
        self.assertEqual(self.count("SELECT count(*) FROM auth_requests WHERE username = %s",
                                    user), 1)


    def test_the_429_with_a_key_names_the_pending_request(self):
        """auth_create_idem hands pending_id through: a POST /auth with a key refused by
        the one-pending rule names the pending request, as without a key; the 429 stores
        nothing, so the same key runs again once the user is free."""
        user, _ = self.new_user()
        rid = self.auth_async(user).body["requestId"]
        key = self.key()
        for hdrs in ({"Prefer": "respond-async", **key_header(key)}, key_header(key)):
            r = self.auth(user, headers=hdrs, message="Pay 5 EUR")
            self.assertProblem(r, 429, "rate_limited")
            self.assertEqual(r.body["pendingRequestId"], rid, r)
            self.assertGreater(int(r.headers["retry-after"]), 0)
        self.assertEqual(self.count("SELECT count(*) FROM idempotency_keys WHERE key = %s",
                                    key), 0)
        cancelled = self.s.request("DELETE", f"/auth/{rid}", headers=self.h)
        self.assertEqual(cancelled.status, 200, cancelled)
        again = self.auth(user, headers={"Prefer": "respond-async", **key_header(key)},
                          message="Pay 5 EUR")
        self.assertEqual(again.status, 202, again)
        self.assertNotEqual(again.body["requestId"], rid)
        self.assertNotIn("idempotent-replayed", again.headers)

class IdempotencyTwoInstances(test_push.PushBase):
    def peer(self):
        """A second server on the same database, once it listens for its peers."""
        s = self.server()
        s.wait_log(lambda o: o.get("msg") == "listening for peer notifications")
        return s

    @staticmethod
    def held_auth(server):
        text = server.request("GET", "/metrics").raw.decode()
        m = re.search(r'^pushgate_held_requests\{kind="auth"\} (\S+)$', text, re.M)
        return float(m.group(1)) if m else None

    def test_held_auth_retried_on_another_instance_shares_the_outcome(self):
        a, b = self.s, self.peer()
        user, (dev,) = self.new_user()
        hdrs = key_header("retry-of-a-held-auth")
        first = POOL.submit(self.auth, user, server=a, headers=hdrs, message="Sign in")
        ch = self.challenge_for(dev)  # the request exists and is pending
        rid = ch["requestId"]
        retry = POOL.submit(self.auth, user, server=b, headers=hdrs, message="Sign in")
        # the retry is held on B, on the same request, while it is pending
        harness.poll(lambda: self.held_auth(b), lambda n: n == 1 or retry.done(), timeout=20)
        self.assertFalse(retry.done(), retry.done() and retry.result())
        self.assertEqual(self.held_auth(b), 1)
        self.assertEqual(self.answer(dev, ch, server=a).body["status"], "accepted")
        one, two = first.result(30), retry.result(30)
        self.assertEqual((one.status, two.status), (200, 200), (one, two))
        self.assertEqual(one.body, two.body)
        self.assertEqual((two.body["requestId"], two.body["status"]), (rid, "accepted"))
        self.assertEqual(two.headers.get("idempotent-replayed"), "true")
        self.assertEqual(self.q("SELECT count(*) FROM auth_requests WHERE username = %s",
                                user)[0][0], 1)


if __name__ == "__main__":
    harness.main()
