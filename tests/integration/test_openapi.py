"""The harness's response check (openapi_check.py) itself: what docs/openapi.yaml allows
passes, and each kind of departure from it fails with the route in the message. No server:
the responses are made here."""
import json
import unittest

import harness
import openapi_check

AUTH = {"requestId": "q_622b95833bab53f6", "status": "pending", "username": "alice",
        "createdAt": "2026-11-22T06:47:10Z", "expiresAt": "2026-11-22T06:48:10Z",
        "decidedAt": None, "deviceId": None, "reason": None, "evidence": None,
        "challenge": None, "displayCode": "473"}


def response(status, body=None, ctype="application/json", **headers):
    pairs = list(headers.items())
    raw = b""
    if body is not None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        pairs.append(("Content-Type", ctype))
    return harness.Response(status, harness.Headers(pairs), raw)


def problem(status, code, **extra):
    return response(status, {"type": "about:blank", "title": "T", "status": status,
                             "code": code, "detail": "d", **extra},
                    "application/problem+json")


class Check(unittest.TestCase):
    def setUp(self):
        self.mark = openapi_check.mark()
        self.addCleanup(self.forget)

    def forget(self):
        """These violations were provoked on purpose: not a failure of the file."""
        with openapi_check._lock:
            del openapi_check.violations[self.mark:]

    def refused(self, method, path, resp, *fragments):
        with self.assertRaises(openapi_check.ContractViolation) as cm:
            openapi_check.check(method, path, resp)
        for f in fragments:
            self.assertIn(f, str(cm.exception))

    def test_documented_answers_pass(self):
        openapi_check.check("POST", "/auth", response(202, AUTH, Location="/auth/q_622b95833bab53f6"))
        openapi_check.check("GET", "/auth/q_622b95833bab53f6?wait=5", response(200, AUTH))
        openapi_check.check("HEAD", "/healthz", response(200))
        openapi_check.check("DELETE", "/device", response(204))
        openapi_check.check("POST", "/users/alice/mfa/verify",
                            problem(422, "invalid_code", attemptsRemaining=3))
        openapi_check.check("GET", "/r/abc", response(410, "<html/>", "text/html; charset=utf-8"))

    def test_an_undocumented_field_fails(self):
        self.refused("GET", "/auth/q_622b95833bab53f6", response(200, {**AUTH, "extra": 1}),
                     "GET /auth/{requestId}", "'extra' was unexpected")

    def test_a_missing_field_fails(self):
        body = dict(AUTH)
        del body["evidence"]
        self.refused("GET", "/auth/q_622b95833bab53f6", response(200, body),
                     "'evidence' is a required property")

    def test_an_undocumented_status_fails(self):
        self.refused("GET", "/healthz", problem(404, "not_found"),
                     "GET /healthz", "status 404 is not documented")

    def test_a_code_outside_the_responses_list_fails(self):
        self.refused("POST", "/auth", problem(409, "already_decided"), "already_decided")

    def test_a_problem_whose_status_differs_fails(self):
        self.refused("POST", "/auth", response(404, {
            "type": "about:blank", "title": "T", "status": 400, "code": "user_not_found",
            "detail": "d"}, "application/problem+json"), "404 was expected")

    def test_a_required_header_is_checked(self):
        self.refused("POST", "/auth", response(202, AUTH), "required header Location")
        self.refused("POST", "/auth", problem(423, "locked"), "required header Retry-After")

    def test_an_undocumented_media_type_fails(self):
        self.refused("GET", "/healthz", response(200, "ok", "text/plain"), "'text/plain'")

    def test_an_unknown_path_must_be_the_404_problem(self):
        openapi_check.check("GET", "/no/such/thing", problem(404, "not_found"))
        # (an example path that no route serves: /app/ was one until the web authenticator)
        self.refused("GET", "/no/such/page/", response(200, "<html/>", "text/html"),
                     "not in docs/openapi.yaml")

    def test_web_app_files_need_their_headers(self):
        csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'")
        etag = '"0123456789abcdef0123456789abcdef"'
        policy = {"Content-Security-Policy": csp, "Cache-Control": "no-cache", "ETag": etag}
        served = {**policy, "X-Content-Type-Options": "nosniff",
                  "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
        for path, ctype, body in [("/app/", "text/html; charset=utf-8", "<html/>"),
                                  ("/app/app.js", "text/javascript; charset=utf-8", "x()"),
                                  ("/app/style.css", "text/css; charset=utf-8", "p{}"),
                                  ("/app/icon.svg", "image/svg+xml", "<svg/>"),
                                  ("/app/manifest.webmanifest", "application/manifest+json",
                                   {"name": "pushgate", "start_url": "./"})]:
            openapi_check.check("GET", path, response(200, body, ctype, **served))
            openapi_check.check("GET", path, response(304, **policy))
        openapi_check.check("HEAD", "/app/app.js", response(200, **served))
        openapi_check.check("GET", "/app", response(301, Location="app/"))
        openapi_check.check("GET", "/app/nope.js", problem(404, "not_found"))
        self.refused("GET", "/app/", response(200, "<html/>", "text/html"),
                     "GET /app/", "required header Content-Security-Policy")
        self.refused("GET", "/app", response(302, Location="app/"), "status 302")

    def test_an_unknown_method_must_be_the_405_problem(self):
        allowed = problem(405, "method_not_allowed")
        allowed.headers = harness.Headers([*allowed.headers.items(), ("Allow", "POST")])
        openapi_check.check("PATCH", "/registration", allowed)
        self.refused("PATCH", "/registration", problem(405, "method_not_allowed"),
                     "required header Allow")
        self.refused("PUT", "/healthz", response(200, {"status": "ok"}),
                     "PUT /healthz is not documented")


if __name__ == "__main__":
    harness.main()
