#!/usr/bin/python3
"""The HTTP front end against hostile clients (docs/http.md): HEAD answers without a body,
request smuggling (malformed header names, bodies evhttp would not read), path segments that
are not UTF-8 text, and slowloris (a request deadline, connection caps per process and per
client address). Raw sockets, so that what goes over the wire is exactly what is tested."""

import json
import os
import select
import shlex
import shutil
import socket
import tempfile
import time

import harness


def read_response(f, head=False):
    """One response from the binary file f: (status, {lower-case name: value}, body), or
    None at end of stream. head: the answer to a HEAD (no body, whatever it declares)."""
    line = f.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise AssertionError(f"not a status line: {line!r}")
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if not head and "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    return int(parts[1]), headers, body


def exchange(port, data, heads=(), timeout=10, source="127.0.0.1"):
    """Writes data on one connection and reads every response until the server closes it.
    heads: indexes of the responses that answer a HEAD. Returns the list of responses and
    whatever bytes followed the last one (must be none)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0))
    with sock:
        try:
            sock.sendall(data.encode() if isinstance(data, str) else data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        f = sock.makefile("rb")
        out = []
        while True:
            r = read_response(f, head=len(out) in heads)
            if r is None:
                return out, f.read()
            out.append(r)


def closed_within(sock, seconds, trickle=None):
    """Seconds until the server closes sock (reads EOF or a reset), or None after `seconds`.
    trickle: bytes written every 0.5 s meanwhile (a slowloris client's pace)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        ready, _, _ = select.select([sock], [], [], 0.5)
        if ready:
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic() - start
            except ConnectionResetError:
                return time.monotonic() - start
        elif trickle:
            try:
                sock.sendall(trickle)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
    return None


class HeadRequests(harness.TestCase):
    """A HEAD answer has the GET's headers and no body: on a kept-alive connection the
    body bytes would be read as the start of the next answer ("Excess found")."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()

    def test_head_then_get_on_one_connection(self):
        resps, rest = exchange(self.s.port,
                               "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               heads=(0,))
        self.assertEqual(len(resps), 2, resps)
        (hs, hh, _), (gs, gh, gb) = resps
        self.assertEqual((gs, gb), (200, b'{"status":"ok"}'))
        self.assertEqual(hs, 200)
        self.assertEqual(hh.get("content-length"), str(len(gb)))
        self.assertEqual(hh.get("content-type"), gh.get("content-type"))
        self.assertEqual(rest, b"")

    def test_head_of_an_error_has_no_body_either(self):
        resps, rest = exchange(self.s.port,
                               "HEAD /no/such/thing HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               heads=(0,))
        self.assertEqual([r[0] for r in resps], [404, 200], resps)
        self.assertEqual(resps[0][1].get("content-type"), "application/problem+json")
        self.assertGreater(int(resps[0][1].get("content-length", "0")), 0)
        self.assertEqual(resps[1][2], b'{"status":"ok"}')
        self.assertEqual(rest, b"")


class Smuggling(harness.TestCase):
    """A head evhttp would frame differently from what the client meant is refused with
    400 and the connection closed: what follows it is never parsed as a request."""

    INNER = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        app = cls.s.create_app("Acme Bank")
        cls.auth = (f"x-application-id: {app['applicationId']}\r\n"
                    f"x-application-secret: {app['applicationSecret']}\r\n")

    def assertRefusedAlone(self, resps, rest):
        self.assertEqual(len(resps), 1, f"the smuggled request was answered: {resps}")
        status, headers, _ = resps[0]
        self.assertEqual(status, 400, resps)
        self.assertEqual(headers.get("content-type"), "application/problem+json")
        self.assertEqual(headers.get("connection", "").lower(), "close")
        self.assertEqual(rest, b"")

    def test_malformed_header_names(self):
        for name in ("Content-Length ", "Content-Length\t", "X Y", "X\x01Y", "X(Y)"):
            with self.subTest(name=name):
                req = ("POST /registration HTTP/1.1\r\nHost: x\r\n" + self.auth +
                       "Content-Type: application/json\r\n"
                       f"{name}: {len(self.INNER)}\r\n\r\n" + self.INNER)
                resps, rest = exchange(self.s.port, req)
                self.assertRefusedAlone(resps, rest)
                self.assertEqual(json.loads(resps[0][2])["code"], "invalid_request")

    def test_a_body_on_head_or_trace_is_refused(self):
        for method in ("HEAD", "TRACE"):
            for framing in (f"Content-Length: {len(self.INNER)}",):
                with self.subTest(method=method):
                    req = (f"{method} /healthz HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n" +
                           self.INNER)
                    resps, rest = exchange(self.s.port, req,
                                           heads=(0,) if method == "HEAD" else ())
                    self.assertRefusedAlone(resps, rest)

    def test_head_with_content_length_zero_is_served(self):
        resps, rest = exchange(self.s.port, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n"
                                            "Content-Length: 0\r\nConnection: close\r\n\r\n",
                               heads=(0,))
        self.assertEqual([r[0] for r in resps], [200])
        self.assertEqual(rest, b"")


class PathSegments(harness.TestCase):
    """A percent-decoded path segment is UTF-8 text (api.md 1): bytes that are not
    well-formed UTF-8 are 400 invalid_request before any SQL (they answered 500, or a
    false 503). Control characters are well-formed: such a username names no user (404,
    test_mfa)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.h = cls.s.app_headers(cls.s.create_app("Acme Bank"))

    def test_invalid_utf8_username_is_400(self):
        for seg in ("%FF%FE", "%C0%AF", "%ED%A0%80", "%F4%90%80%80", "%E2%82", "ab%C2",
                    "%80abc"):
            with self.subTest(seg=seg):
                r = self.s.request("GET", f"/users/{seg}/devices", headers=self.h)
                self.assertProblem(r, 400, "invalid_request")
                r = self.s.request("POST", f"/users/{seg}/mfa/challenge", headers=self.h)
                self.assertProblem(r, 400, "invalid_request")

    def test_utf8_username_passes(self):
        r = self.s.request("GET", "/users/%C3%A9l%C3%A8ve%20%F0%9F%98%80/devices",
                           headers=self.h)
        self.assertNotIn(r.status, (400, 500, 503), r)


class Slowloris(harness.TestCase):
    """A request must arrive whole within PUSHGATE_HTTP_HEAD_TIMEOUT; one client address
    holds at most PUSHGATE_HTTP_MAX_PER_ADDRESS connections, so it cannot take the
    descriptors everyone else needs (server/io/connguard.h)."""

    NOFILE = 128

    def limited_server(self, env):
        d = tempfile.mkdtemp(prefix="pushgated-fds-")
        self.addCleanup(shutil.rmtree, d, True)
        wrapper = os.path.join(d, "pushgated")
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\nexec prlimit --nofile={self.NOFILE}:{self.NOFILE} -- "
                    f'{shlex.quote(harness.pushgated_path())} "$@"\n')
        os.chmod(wrapper, 0o755)
        return self.server(binary=wrapper, env=env)

    def connect(self, s, source):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10,
                                     source_address=(source, 0))
        self.addCleanup(c.close)
        return c

    def test_a_trickled_head_is_closed_at_the_deadline(self):
        s = self.limited_server({"PUSHGATE_HTTP_HEAD_TIMEOUT": 2})
        c = self.connect(s, "127.0.0.1")
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        took = closed_within(c, 20, trickle=b"X-Slow: 1\r\n")
        self.assertIsNotNone(took, "a head trickled every 0.5 s was held for 20 s")
        self.assertGreater(took, 1.0)

    def test_a_trickled_second_request_is_closed_at_the_deadline(self):
        s = self.limited_server({"PUSHGATE_HTTP_HEAD_TIMEOUT": 2})
        c = self.connect(s, "127.0.0.1")
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_response(c.makefile("rb"))[0], 200)
        c.sendall(b"GET /healthz HTTP/1.1\r\n")  # kept alive: the next request, slowly
        took = closed_within(c, 20, trickle=b"X-Slow: 1\r\n")
        self.assertIsNotNone(took, "a second request trickled every 0.5 s was held for 20 s")

    def test_one_address_cannot_take_every_descriptor(self):
        per = 8
        s = self.limited_server({"PUSHGATE_HTTP_HEAD_TIMEOUT": 120,
                                 "PUSHGATE_HTTP_MAX_PER_ADDRESS": per,
                                 "PUSHGATE_HTTP_CAP_LOOPBACK": "true"})
        held = []
        for _ in range(per):
            c = self.connect(s, "127.0.0.2")
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            held.append(c)
        for _ in range(self.NOFILE + 2 - per):  # more than the process has descriptors
            c = self.connect(s, "127.0.0.2")
            r = read_response(c.makefile("rb"))
            self.assertIsNotNone(r, "a connection beyond the cap was closed without a 503")
            self.assertEqual(r[0], 503, r)
            self.assertEqual(json.loads(r[2])["code"], "unavailable")
            self.assertIn("retry-after", r[1])
            c.close()
        # everyone else is served at once, while the 8 are still held
        r = s.request("GET", "/healthz", timeout=5)
        self.assertEqual((r.status, r.body), (200, {"status": "ok"}))
        other = self.connect(s, "127.0.0.3")
        other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(read_response(other.makefile("rb"))[0], 200)
        # the 8 held ones are counted until they close, then the address is served again
        for c in held:
            c.close()
        deadline = time.monotonic() + 10
        while True:
            c = self.connect(s, "127.0.0.2")
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            r = read_response(c.makefile("rb"))
            if r[0] == 200 or time.monotonic() > deadline:
                break  # else the server has not read every close yet: ask again
        self.assertEqual(r[0], 200, r)


class LibeventErrors(harness.TestCase):
    """What libevent 2.1 refuses before any callback of ours runs (its fixed HTML error
    page; no error callback in 2.1) comes out as problem+json with the right status
    (server/io/errpage.h), and methods it does not know, and CONNECT, reach the router
    (docs/http.md). The server keeps serving afterwards."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()

    def assertProblemAnswer(self, resp, status, code):
        st, headers, body = resp
        self.assertEqual(st, status, resp)
        self.assertEqual(headers.get("content-type"), "application/problem+json", resp)
        self.assertEqual(headers.get("cache-control"), "no-store", resp)
        self.assertEqual(int(headers["content-length"]), len(body), resp)
        problem = json.loads(body)
        self.assertEqual((problem["status"], problem["code"]), (status, code), problem)
        for field in ("type", "title", "detail"):
            self.assertIn(field, problem)
        return headers

    def assertAlone(self, data, status, code):
        """data, on a connection of its own, gets one such problem and the connection is
        closed; then the server still serves."""
        resps, rest = exchange(self.s.port, data)
        self.assertEqual(len(resps), 1, resps)
        headers = self.assertProblemAnswer(resps[0], status, code)
        self.assertEqual(headers.get("connection", "").lower(), "close", headers)
        self.assertEqual(rest, b"")
        self.assertEqual(self.s.request("GET", "/healthz").status, 200)

    def test_a_head_over_16k_is_431(self):
        big_header = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 20000 + "\r\n\r\n"
        many = ("GET /healthz HTTP/1.1\r\nHost: x\r\n" +
                "".join(f"x-filler-{i}: {'y' * 200}\r\n" for i in range(100)) + "\r\n")
        long_line = "GET /" + "p" * 20000 + " HTTP/1.1\r\nHost: x\r\n\r\n"
        for name, req in (("one header", big_header), ("many headers", many),
                          ("request line", long_line)):
            with self.subTest(name):
                self.assertGreater(len(req), 16 * 1024)
                self.assertAlone(req, 431, "request_header_fields_too_large")

    def test_a_head_just_under_16k_is_served(self):
        req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
        req += "a" * (16 * 1024 - len(req) - 8) + "\r\n\r\n"
        self.assertLessEqual(len(req), 16 * 1024)
        resps, _ = exchange(self.s.port, req)
        self.assertEqual([r[0] for r in resps], [200])

    def test_the_second_request_of_a_connection_is_measured_from_its_own_start(self):
        ok = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + "b" * 9000 + "\r\n\r\n"
        big = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 20000 + "\r\n\r\n"
        resps, rest = exchange(self.s.port, ok + ok + big)
        self.assertEqual([r[0] for r in resps], [200, 200, 431], resps)
        self.assertProblemAnswer(resps[2], 431, "request_header_fields_too_large")

    def test_a_declared_body_over_256k_is_413(self):
        req = ("POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: 307200\r\n\r\n")
        self.assertAlone(req, 413, "payload_too_large")

    def test_a_chunked_body_growing_past_256k_is_413(self):
        # eight chunks of 32 KiB are evhttp's cap exactly; the ninth's size line passes it
        # (nothing is sent after it: every byte sent is read, so the close is clean)
        req = ("POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n" +
               ("8000\r\n" + "x" * 0x8000 + "\r\n") * 8 + "8000\r\n")
        self.assertAlone(req, 413, "payload_too_large")

    def test_other_errors_of_libevent(self):
        for name, req, status, code in (
                ("malformed request line", "GARBAGE\r\n\r\n", 400, "invalid_request"),
                ("header line without a colon", "GET /healthz HTTP/1.1\r\nNoColon\r\n\r\n",
                 400, "invalid_request"),
                ("Content-Length not a number", "POST /auth HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: abc\r\n\r\n", 400, "invalid_request"),
                ("unknown expectation", "POST /auth HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n"
                 "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n",
                 417, "expectation_failed")):
            with self.subTest(name):
                self.assertAlone(req, status, code)

    def test_an_error_page_after_a_served_request_on_one_connection(self):
        resps, rest = exchange(self.s.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                            "GARBAGE\r\n\r\n")
        self.assertEqual([r[0] for r in resps], [200, 400], resps)
        self.assertProblemAnswer(resps[1], 400, "invalid_request")
        self.assertEqual(rest, b"")

    def test_unknown_methods_reach_the_router(self):
        for method in ("FOO", "PROPFIND", "BREW"):
            with self.subTest(method=method):
                resps, rest = exchange(self.s.port, f"{method} /healthz HTTP/1.1\r\nHost: x\r\n"
                                                    "Connection: close\r\n\r\n")
                headers = self.assertProblemAnswer(resps[0], 405, "method_not_allowed")
                self.assertEqual(headers.get("allow"), "GET, HEAD", headers)
        resps, _ = exchange(self.s.port, "FOO /no/such/thing HTTP/1.1\r\nHost: x\r\n"
                                         "Connection: close\r\n\r\n")
        self.assertProblemAnswer(resps[0], 404, "not_found")
        # libevent reads no body for a method it does not know: a declared one is refused
        resps, rest = exchange(self.s.port, "FOO /healthz HTTP/1.1\r\nHost: x\r\n"
                                            "Content-Length: 5\r\n\r\nhello")
        self.assertEqual(len(resps), 1, resps)
        self.assertProblemAnswer(resps[0], 400, "invalid_request")
        self.assertEqual(rest, b"")

    def test_connect_is_405_and_the_connection_stays_http(self):
        resps, rest = exchange(self.s.port, "CONNECT example.com:443 HTTP/1.1\r\n"
                                            "Host: example.com:443\r\n\r\n"
                                            "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                            "Connection: close\r\n\r\n")
        self.assertEqual([r[0] for r in resps], [405, 200], resps)
        headers = self.assertProblemAnswer(resps[0], 405, "method_not_allowed")
        self.assertEqual(headers.get("allow"), "", headers)
        self.assertEqual(rest, b"")


if __name__ == "__main__":
    harness.main()
