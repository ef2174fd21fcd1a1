#!/usr/bin/python3
"""Acceptance tests of the foundation: application CLI, application authentication, the
HTTP conventions and limits of api.md section 1, operations (section 9), configuration
(section 10). Real PostgreSQL, real pushgated; see harness.py."""

import email.utils
import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import tempfile
import time

import harness

ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{22,}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

ALICE = {"username": "alice", "email": "alice@example.com"}


def allow_set(resp):
    return {m.strip() for m in resp.headers.get("allow", "").split(",") if m.strip()}


class AppCli(harness.TestCase):
    """`pushgated migrate` and `pushgated app ...` against the database directly."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server(start=False)
        cls.s.cli_run("migrate", check=True)

    def test_migrate_is_idempotent(self):
        for _ in range(2):
            r = self.s.cli_run("migrate")
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_app_create_prints_id_secret_and_name(self):
        app = self.s.create_app("Acme Bank")
        self.assertEqual(app["name"], "Acme Bank")
        self.assertRegex(app["applicationId"], ID_RE)
        self.assertRegex(app["applicationSecret"], SECRET_RE)
        other = self.s.create_app("Acme Bank")
        self.assertNotEqual(other["applicationId"], app["applicationId"])
        self.assertNotEqual(other["applicationSecret"], app["applicationSecret"])

    def test_app_list_shows_apps_without_secrets(self):
        a = self.s.create_app("List One")
        b = self.s.create_app("List Two")
        r = self.s.cli_run("app", "list", check=True)
        for app in (a, b):
            self.assertNotIn(app["applicationSecret"], r.stdout)
        apps = self.s.cli("app", "list")
        self.assertIsInstance(apps, list)
        by_id = {x["applicationId"]: x for x in apps}
        for app in (a, b):
            row = by_id[app["applicationId"]]
            self.assertEqual(row["name"], app["name"])
            self.assertEqual(row["status"], "active")
            self.assertRegex(row["createdAt"], TIME_RE)
            self.assertFalse({k for k in row if "secret" in k.lower()}, row)

    def test_app_disable_shows_in_list(self):
        app = self.s.create_app("To Disable")
        self.s.cli_run("app", "disable", app["applicationId"], check=True)
        rows = [x for x in self.s.cli("app", "list") if x["applicationId"] == app["applicationId"]]
        self.assertEqual([x["status"] for x in rows], ["disabled"])

    def test_rotate_secret_prints_a_new_secret(self):
        app = self.s.create_app("Rotator")
        new = self.s.cli("app", "rotate-secret", app["applicationId"])
        self.assertEqual(new["applicationId"], app["applicationId"])
        self.assertRegex(new["applicationSecret"], SECRET_RE)
        self.assertNotEqual(new["applicationSecret"], app["applicationSecret"])

    def test_unknown_app_id_fails(self):
        for sub in ("rotate-secret", "disable"):
            r = self.s.cli_run("app", sub, "a_doesnotexist123")
            self.assertNotEqual(r.returncode, 0, f"app {sub} of an unknown id: {r.stdout}")


class ApplicationAuth(harness.TestCase):
    """x-application-id / x-application-secret on POST and GET /registration."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Acme Bank")

    def post_registration(self, headers, body=ALICE):
        return self.s.request("POST", "/registration", body=body, headers=headers)

    def test_registration_create_and_get(self):
        r = self.post_registration(self.s.app_headers(self.app))
        self.assertEqual(r.status, 201, r)
        self.assertRegex(r.body["registrationId"], ID_RE)
        self.assertEqual(r.body["status"], "pending")
        self.assertEqual(r.body["username"], "alice")
        self.assertEqual(r.body["email"], "alice@example.com")
        self.assertRegex(r.body["createdAt"], TIME_RE)
        self.assertRegex(r.body["expiresAt"], TIME_RE)
        rid = r.body["registrationId"]
        g = self.s.request("GET", f"/registration/{rid}", headers=self.s.app_headers(self.app))
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.body["registrationId"], rid)
        self.assertEqual(g.body["status"], "pending")
        self.assertEqual(g.body["username"], "alice")

    def test_unknown_registration_is_404(self):
        r = self.s.request("GET", "/registration/r_doesnotexist0000",
                           headers=self.s.app_headers(self.app))
        self.assertProblem(r, 404, "not_found")

    def test_another_applications_registration_is_404(self):
        r = self.post_registration(self.s.app_headers(self.app))
        self.assertEqual(r.status, 201, r)
        other = self.s.create_app("Other Bank")
        g = self.s.request("GET", f"/registration/{r.body['registrationId']}",
                           headers=self.s.app_headers(other))
        self.assertProblem(g, 404, "not_found")

    def test_every_401_is_the_same_problem(self):
        good = self.s.app_headers(self.app)
        disabled = self.s.create_app("Disabled Bank")
        self.s.cli_run("app", "disable", disabled["applicationId"], check=True)
        cases = {
            "no headers": {},
            "id without secret": {"x-application-id": self.app["applicationId"]},
            "secret without id": {"x-application-secret": self.app["applicationSecret"]},
            "unknown id": {"x-application-id": "a_doesnotexist123",
                           "x-application-secret": self.app["applicationSecret"]},
            "wrong secret": {"x-application-id": self.app["applicationId"],
                             "x-application-secret": "A" * len(self.app["applicationSecret"])},
            "disabled app": self.s.app_headers(disabled),
        }
        bodies = {}
        for name, headers in cases.items():
            with self.subTest(name):
                r = self.post_registration(headers)
                self.assertProblem(r, 401, "invalid_application_credentials")
                bodies[name] = r.raw
                g = self.s.request("GET", "/registration/r_doesnotexist0000", headers=headers)
                self.assertProblem(g, 401, "invalid_application_credentials")
                self.assertEqual(g.raw, r.raw, f"{name}: GET and POST 401 bodies differ")
        self.assertEqual(len(set(bodies.values())), 1, f"401 bodies differ: {bodies}")
        self.assertEqual(self.post_registration(good).status, 201)

    def test_rotate_secret_switches_credentials(self):
        app = self.s.create_app("Rotating Bank")
        self.assertEqual(self.post_registration(self.s.app_headers(app)).status, 201)
        new = self.s.cli("app", "rotate-secret", app["applicationId"])
        r = self.post_registration(self.s.app_headers(app))
        self.assertProblem(r, 401, "invalid_application_credentials")
        r = self.post_registration(self.s.app_headers(new))
        self.assertEqual(r.status, 201, r)
        logs = "\n".join(self.s.logs)
        for secret in (app["applicationSecret"], new["applicationSecret"]):
            self.assertNotIn(secret, logs, "an application secret reached the log")

    def test_disable_stops_credentials_at_once(self):
        app = self.s.create_app("Closing Bank")
        self.assertEqual(self.post_registration(self.s.app_headers(app)).status, 201)
        self.s.cli_run("app", "disable", app["applicationId"], check=True)
        r = self.post_registration(self.s.app_headers(app))
        self.assertProblem(r, 401, "invalid_application_credentials")


class Admin(harness.TestCase):
    server_env = {"PUSHGATE_ADMIN_TOKEN": "t0123456789abcdef0123456789abcdef"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Acme Bank")

    def test_admin_bearer_reads_any_registration(self):
        r = self.s.request("POST", "/registration", body=ALICE,
                           headers=self.s.app_headers(self.app))
        self.assertEqual(r.status, 201, r)
        path = f"/registration/{r.body['registrationId']}"
        g = self.s.request("GET", path, headers={"Authorization": "Bearer t0123456789abcdef0123456789abcdef"})
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.body["registrationId"], r.body["registrationId"])
        bad = self.s.request("GET", path, headers={"Authorization": "Bearer wrong"})
        self.assertEqual(bad.status, 401, bad)
        self.assertEqual(bad.headers.get("content-type", "").split(";")[0],
                         "application/problem+json", bad)


class Conventions(harness.TestCase):
    """Section 1: media types, methods, JSON strictness, size limits, framing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Acme Bank")
        cls.h = cls.s.app_headers(cls.app)

    def tearDown(self):
        # Whatever a test threw at it, the server must still answer.
        r = self.s.request("GET", "/healthz", timeout=5)
        self.assertEqual((r.status, r.body), (200, {"status": "ok"}))
        super().tearDown()

    def post_raw(self, data, content_type="application/json"):
        return self.s.request("POST", "/registration", raw=data,
                              headers={**self.h, "Content-Type": content_type})

    def test_healthz_and_readyz(self):
        r = self.s.request("GET", "/healthz")
        self.assertEqual((r.status, r.body), (200, {"status": "ok"}))
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(self.s.request("GET", "/readyz").status, 200)

    def test_every_reply_has_one_current_date_header(self):
        # The server sets Date itself (server/base/httpdate.c), cached per second; evhttp
        # must not add a second one, and the text must be an IMF-fixdate of now.
        fixdate = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|"
                             r"Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")
        for method, path in (("GET", "/healthz"), ("GET", "/nope"), ("POST", "/healthz")):
            r = self.s.request(method, path)
            date = r.headers.get("date", "")
            self.assertRegex(date, fixdate, (method, path, r))
            skew = abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time())
            self.assertLess(skew, 120, date)

    def test_json_content_type_with_charset_is_accepted(self):
        r = self.post_raw('{"username": "carol", "email": "carol@example.com"}',
                          "application/json; charset=utf-8")
        self.assertEqual(r.status, 201, r)

    def test_body_over_64k_is_413(self):
        body = dict(ALICE, displayName="x" * 70000)
        r = self.s.request("POST", "/registration", body=body, headers=self.h)
        self.assertProblem(r, 413, "payload_too_large")

    def test_content_length_of_10mb_is_413_without_the_body(self):
        head = ("POST /registration HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: 10485760\r\n"
                f"x-application-id: {self.app['applicationId']}\r\n"
                f"x-application-secret: {self.app['applicationSecret']}\r\n\r\n")
        r = self.s.send_raw(head + '{"username": "alice", ', timeout=10)
        # Declared bodies over evhttp's hard cap (256 KiB) are refused by libevent 2.1
        # itself before any callback of ours runs; its page is rewritten into problem+json
        # (server/io/errpage.h; test_http.py LibeventErrors checks the body).
        self.assertEqual(r.status, 413, r)
        self.assertEqual(self.s.request("GET", "/healthz").status, 200)

    def test_body_of_200kb_is_problem_413(self):
        r = self.post_raw('{"username": "' + "a" * 200_000 + '"}')
        self.assertProblem(r, 413, "payload_too_large")

    def test_text_plain_is_415(self):
        r = self.post_raw('{"username": "alice", "email": "alice@example.com"}', "text/plain")
        self.assertProblem(r, 415, "unsupported_media_type")

    def test_body_without_content_type_is_415(self):
        r = self.s.request("POST", "/registration", headers=self.h,
                           raw='{"username": "alice", "email": "alice@example.com"}')
        self.assertProblem(r, 415, "unsupported_media_type")

    def test_a_body_sent_to_a_route_that_takes_none_follows_the_rules(self):
        """api.md 1 holds for every body: JSON only (415), and no unknown field (400); an
        empty object is fine. Such bodies were ignored."""
        path = "/registration/r_nosuchregistration"
        r = self.s.request("DELETE", path, raw="x", headers={**self.h, "Content-Type": "text/plain"})
        self.assertProblem(r, 415, "unsupported_media_type")
        r = self.s.request("DELETE", path, body={"reason": "spam"}, headers=self.h)
        self.assertProblem(r, 400, "invalid_request")
        self.assertIn("reason", r.body["detail"])
        self.assertProblem(self.s.request("DELETE", path, body={}, headers=self.h), 404,
                           "not_found")

    def test_wrong_method_is_405_with_allow(self):
        r = self.s.request("PUT", "/registration", body=ALICE, headers=self.h)
        self.assertProblem(r, 405, "method_not_allowed")
        self.assertEqual(allow_set(r), {"POST"}, r.headers)
        for method in ("PATCH", "OPTIONS", "TRACE"):
            r = self.s.request(method, "/registration", headers=self.h)
            self.assertProblem(r, 405, "method_not_allowed")
            self.assertEqual(allow_set(r), {"POST"}, r.headers)
        r = self.s.request("POST", "/healthz", body={}, headers=self.h)
        self.assertProblem(r, 405, "method_not_allowed")
        self.assertEqual(allow_set(r), {"GET", "HEAD"}, r.headers)

    def test_unknown_path_is_404(self):
        self.assertProblem(self.s.request("GET", "/no/such/thing", headers=self.h),
                           404, "not_found")

    def test_malformed_json_is_invalid_json(self):
        for raw in ('{"username": "alice", ', "not json", "", '{"username": "al\x00ice"}'):
            with self.subTest(raw=raw):
                self.assertProblem(self.post_raw(raw), 400, "invalid_json")

    def test_non_object_json_is_invalid_json(self):
        for raw in ('[{"username": "alice", "email": "alice@example.com"}]', '"alice"', "42",
                    "null"):
            with self.subTest(raw=raw):
                self.assertProblem(self.post_raw(raw), 400, "invalid_json")

    def test_invalid_requests(self):
        cases = {
            "unknown field": '{"username": "alice", "email": "alice@example.com", "isAdmin": true}',
            "duplicate key": '{"username": "a", "username": "b", "email": "alice@example.com"}',
            "missing username": '{"email": "alice@example.com"}',
            "username not a string": '{"username": 123, "email": "alice@example.com"}',
            "empty username": '{"username": "", "email": "alice@example.com"}',
            "username with a control character":
                '{"username": "al\\u0007ice", "email": "alice@example.com"}',
            "username over 128 bytes": '{"username": "%s", "email": "alice@example.com"}'
                                       % ("a" * 129),
            "expiresIn below 300": '{"username": "alice", "email": "alice@example.com", '
                                   '"expiresIn": 299}',
        }
        for name, raw in cases.items():
            with self.subTest(name):
                self.assertProblem(self.post_raw(raw), 400, "invalid_request")

    def test_two_content_length_headers_are_rejected(self):
        body = '{"username": "alice", "email": "alice@example.com"}'
        req = ("POST /registration HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Content-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nContent-Length: 2\r\n"
               f"x-application-id: {self.app['applicationId']}\r\n"
               f"x-application-secret: {self.app['applicationSecret']}\r\n"
               "Connection: close\r\n\r\n" + body)
        r = self.s.send_raw(req)
        self.assertEqual(r.status, 400, r)

    def test_content_length_with_transfer_encoding_is_rejected(self):
        # design.md: evhttp accepts it; the server must refuse it (request smuggling).
        body = '{"username": "alice", "email": "alice@example.com"}'
        chunked = f"{len(body):x}\r\n{body}\r\n0\r\n\r\n"
        req = ("POST /registration HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Content-Type: application/json\r\n"
               f"Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked\r\n"
               f"x-application-id: {self.app['applicationId']}\r\n"
               f"x-application-secret: {self.app['applicationSecret']}\r\n"
               "Connection: close\r\n\r\n" + chunked)
        r = self.s.send_raw(req)
        self.assertEqual(r.status, 400, r)

    def test_head_over_16k_is_refused(self):
        req = ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               + "".join(f"x-filler-{i}: {'y' * 200}\r\n" for i in range(100))
               + "Connection: close\r\n\r\n")
        self.assertGreater(len(req), 16 * 1024)
        r = self.s.send_raw(req)
        self.assertIn(r.status, (400, 431), r)

    def test_one_huge_header_line_is_refused(self):
        req = ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"x-big: {'z' * 20000}\r\nConnection: close\r\n\r\n")
        r = self.s.send_raw(req)
        self.assertIn(r.status, (400, 431), r)


class DatabaseOutage(harness.TestCase):
    def test_db_down_gives_503_then_recovers_without_restart(self):
        s = self.server()
        app = s.create_app("Acme Bank")
        h = s.app_headers(app)
        self.assertEqual(s.request("POST", "/registration", body=ALICE, headers=h).status, 201)
        self.assertEqual(s.request("GET", "/readyz").status, 200)

        self.addCleanup(self.pg.start)  # whatever happens, the next class gets its cluster
        self.pg.stop()
        # 5 s client timeout: the answer must come within 5 s, not hang on the database.
        r = s.request("POST", "/registration", body=dict(ALICE, username="bob"), headers=h,
                      timeout=5)
        self.assertProblem(r, 503, "unavailable")
        self.assertIn("retry-after", r.headers, r)
        self.assertRegex(r.headers["retry-after"], r"^\d+$")
        r = s.request("GET", "/healthz", timeout=5)
        self.assertEqual((r.status, r.body), (200, {"status": "ok"}))
        self.assertEqual(s.request("GET", "/readyz", timeout=5).status, 503)

        self.pg.start()
        # the pool reconnects by itself (backoff capped at 2 s) and says so (the LISTEN
        # connection says so too, with pool "listen": it may come back first)
        s.wait_log(lambda o: o.get("msg") == "db available again" and o.get("pool") == "queries",
                   timeout=30)
        self.assertEqual(s.request("GET", "/readyz", timeout=5).status, 200,
                         "readyz did not return to 200 after the database came back")
        r = s.request("POST", "/registration", body=dict(ALICE, username="carol"), headers=h,
                      timeout=5)
        self.assertEqual(r.status, 201, r)


class Lifecycle(harness.TestCase):
    def test_sigterm_exits_zero_and_logs_stopped(self):
        s = self.server()
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        code = s.stop(signal.SIGTERM)
        self.assertEqual(code, 0, "\n".join(s.logs))
        self.assertTrue(any(o.get("msg") == "stopped" for o in s.json_logs()),
                        "no log line with msg=stopped")

    def test_logs_are_json_lines(self):
        s = self.server()
        s.request("GET", "/healthz")
        s.stop()
        objs = s.json_logs()
        self.assertTrue(objs)
        lines = [l for l in s.logs if l.strip()]
        self.assertEqual(len(objs), len(lines), "non-JSON lines on stderr with "
                                                "PUSHGATE_LOG_FORMAT=json")


class OutOfDescriptors(harness.TestCase):
    """At its descriptor limit the server pauses accepting instead of spinning on accept()
    (libevent logged a warning per failed call: a million lines a second), keeps serving
    the connections it has, and resumes once descriptors come free (server/io/listenguard.h)."""

    def limited_server(self, nofile):
        d = tempfile.mkdtemp(prefix="pushgated-fds-")
        self.addCleanup(shutil.rmtree, d, True)
        wrapper = os.path.join(d, "pushgated")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nexec prlimit --nofile={nofile}:{nofile} -- '
                    f'{shlex.quote(harness.pushgated_path())} "$@"\n')
        os.chmod(wrapper, 0o755)
        return self.server(binary=wrapper)

    def get(self, conn):
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        return r.status, r.read()

    def test_accepting_pauses_at_the_limit_and_resumes(self):
        s = self.limited_server(64)
        kept = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        self.addCleanup(kept.close)
        self.assertEqual(self.get(kept)[0], 200)
        mark = len(s.logs)
        flood = []
        self.addCleanup(lambda: [c.close() for c in flood])
        for _ in range(100):  # the kernel's backlog completes these; the server runs out
            flood.append(socket.create_connection(("127.0.0.1", s.port), timeout=10))
        s.wait_log(lambda o: o.get("msg") == "accept paused: out of file descriptors",
                   since=mark)
        self.assertEqual(self.get(kept), (200, b'{"status":"ok"}'))
        for c in flood:
            c.close()
        s.wait_log(lambda o: o.get("msg") == "accept resumed", since=mark)
        # the flood's closed sockets still queued in the backlog are accepted first and count
        # until their EOF is read, so the first fresh connections may meet the connection cap's
        # 503; each refusal is a round trip that lets the server read those EOFs
        statuses = []
        while len(statuses) < 100 and statuses[-1:] != [200]:
            fresh = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
            self.addCleanup(fresh.close)
            statuses.append(self.get(fresh)[0])
        self.assertEqual(statuses[-1], 200, statuses)
        self.assertEqual(set(statuses[:-1]) - {503}, set(), statuses)
        paused = [o for o in s.json_logs() if o.get("msg", "").startswith("accept paused")]
        self.assertLessEqual(len(paused), 2, paused)  # one per episode, not one per accept()
        self.assertFalse([ln for ln in s.logs if "accept()" in ln], "libevent's accept warning")


class Configuration(harness.TestCase):
    def serve_fails(self, env, variable):
        s = self.server(env=env, start=False)
        r = s.cli_run("serve", timeout=20)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn(variable, r.stderr)

    def test_bad_listen_address(self):
        self.serve_fails({"PUSHGATE_LISTEN": "nonsense"}, "PUSHGATE_LISTEN")

    def test_database_url_required(self):
        self.serve_fails({"PUSHGATE_DATABASE_URL": None}, "PUSHGATE_DATABASE_URL")

    def test_migrate_needs_database_url_too(self):
        s = self.server(env={"PUSHGATE_DATABASE_URL": None}, start=False)
        r = s.cli_run("migrate", timeout=20)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn("PUSHGATE_DATABASE_URL", r.stderr)


    def test_admin_token_of_31_characters_refuses_to_start(self):
        token = "k" * 31
        s = self.server(env={"PUSHGATE_ADMIN_TOKEN": token}, start=False)
        r = s.cli_run("serve", timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("configuration error: PUSHGATE_ADMIN_TOKEN must be at least 32 characters",
                      r.stderr)
        self.assertNotIn(token, r.stderr)
        ok = self.server(env={"PUSHGATE_ADMIN_TOKEN": "k" * 32})
        self.assertEqual(ok.request("GET", "/healthz").status, 200)


ADMIN_TOKEN = "throttle-admin-token-0123456789abcdef"


def request_from(server, source, method, path, headers=None):
    """One request from the loopback address `source` (127.0.0.0/8 is all local on Linux),
    so that one server sees several client addresses."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10,
                                      source_address=(source, 0))
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return harness.Response(resp.status, harness.Headers(resp.getheaders()), resp.read())
    finally:
        conn.close()


class CredentialThrottle(harness.TestCase):
    """PUSHGATE_AUTH_FAILURE_LIMIT failed credentials (application secret or admin token)
    from one client address within PUSHGATE_AUTH_FAILURE_WINDOW_SECONDS: that address gets
    429 rate_limited with Retry-After for every credentialed request, right ones included
    (docs/http.md says why); other addresses still get 401 for a wrong and service for a
    right credential."""

    server_env = {"PUSHGATE_AUTH_FAILURE_LIMIT": "5",
                  "PUSHGATE_AUTH_FAILURE_WINDOW_SECONDS": "600",
                  "PUSHGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    PATH = "/registration/abcdefgh12"  # any application route: unknown id, 404 when admitted

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Throttle Bank")
        cls.good = cls.s.app_headers(cls.app)
        cls.bad = {**cls.good, "x-application-secret": "not-the-secret"}

    def get(self, source, headers):
        return request_from(self.s, source, "GET", self.PATH, headers)

    def test_wrong_secrets_then_429_for_that_address_only(self):
        for _ in range(5):
            self.assertProblem(self.get("127.0.0.2", self.bad), 401,
                               "invalid_application_credentials")
        r = self.get("127.0.0.2", self.bad)
        self.assertProblem(r, 429, "rate_limited")
        self.assertTrue(1 <= int(r.headers["retry-after"]) <= 600, r.headers)
        # a right credential from that address is refused too, and so is the admin's
        self.assertProblem(self.get("127.0.0.2", self.good), 429, "rate_limited")
        self.assertProblem(self.get("127.0.0.2", {"Authorization": f"Bearer {ADMIN_TOKEN}"}),
                           429, "rate_limited")
        # another address: a wrong secret is 401, a right one is served
        self.assertProblem(self.get("127.0.0.3", self.bad), 401,
                           "invalid_application_credentials")
        self.assertProblem(self.get("127.0.0.3", self.good), 404, "not_found")
        # routes without credentials are not throttled
        self.assertEqual(request_from(self.s, "127.0.0.2", "GET", "/healthz").status, 200)

    def test_wrong_admin_tokens_count(self):
        for _ in range(5):
            r = self.get("127.0.0.4", {"Authorization": "Bearer " + "x" * 40})
            self.assertProblem(r, 401, "invalid_application_credentials")
        r = self.get("127.0.0.4", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        self.assertProblem(r, 429, "rate_limited")
        self.assertIn("retry-after", r.headers)
        r = self.get("127.0.0.5", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        self.assertProblem(r, 404, "not_found")

    def test_requests_without_credentials_are_not_counted(self):
        for _ in range(10):
            self.assertProblem(self.get("127.0.0.6", {}), 401, "invalid_application_credentials")
        self.assertProblem(self.get("127.0.0.6", self.good), 404, "not_found")


if __name__ == "__main__":
    harness.main()
