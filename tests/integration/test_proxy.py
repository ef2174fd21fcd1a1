"""Issue 19: pushgate behind nginx, and PUSHGATE_TRUSTED_PROXIES (api.md 9, 10).

nginx (Debian's, as a root-started master with a private prefix: `-p tmp -c conf`, daemon
off, pid and logs in tmp) runs packaging/nginx/pushgate.conf -- that very file, with its
ports, upstream addresses and paths replaced -- in front of two pushgated instances on
one database, TLS ending at nginx. Both instances have PUSHGATE_PUBLIC_URL = the proxy's
URL and PUSHGATE_TRUSTED_PROXIES = 127.0.0.1 (nginx's address). Clients bind 127.0.0.2-5
so that nginx sees them as different addresses, none of them trusted."""
import atexit
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile

import device
import harness

CONF = os.path.join(harness.REPO, "packaging", "nginx", "pushgate.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
POOL = concurrent.futures.ThreadPoolExecutor(8)

# The longest holds the contract allows (api.md 5: POST /auth timeout 5-300 s; 5.1 and 6.2:
# ?wait 0-60 s), asked of the server itself in test_config_outlasts_the_longest_hold.
AUTH_TIMEOUT_MAX = 300
WAIT_MAX = 60
# pushgated closes an idle kept-alive connection after this long (docs/http.md).
SERVER_IDLE_S = 30
# nginx's own default proxy_read_timeout: a hold longer than this would be cut at 504.
NGINX_DEFAULT_READ_S = 60


def templated(text, https_port, http_port, upstreams, tmp):
    """pushgate.conf with this test's addresses; each replaced text must occur once, so that
    the test breaks rather than silently runs another configuration."""
    subs = [("server 127.0.0.1:8081 ", f"server 127.0.0.1:{upstreams[0]} "),
            ("server 127.0.0.1:8082 ", f"server 127.0.0.1:{upstreams[1]} "),
            ("listen 443 ", f"listen 127.0.0.1:{https_port} "),
            ("    listen [::]:443 ssl http2;\n", ""),  # the test machine may have no IPv6
            ("listen 80;", f"listen 127.0.0.1:{http_port};"),
            ("    listen [::]:80;\n", ""),
            ("/etc/ssl/certs/push.example.com.pem", os.path.join(tmp, "cert.pem")),
            ("/etc/ssl/private/push.example.com.key", os.path.join(tmp, "key.pem")),
            ("/var/log/nginx/pushgate.access.log", os.path.join(tmp, "access.log"))]
    for old, new in subs:
        assert text.count(old) == 1, f"packaging/nginx/pushgate.conf: {old!r} is not there once"
        text = text.replace(old, new)
    return text


MAIN_CONF = """daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/pushgate.conf;
}}
"""


class Nginx:
    """nginx with a private prefix in a temp dir, running pushgate.conf templated."""

    def __init__(self, upstreams):
        self.dir = tempfile.mkdtemp(prefix="pushgate-nginx-")
        os.chmod(self.dir, 0o755)  # workers run as nobody when the master is root
        self.port, self.http_port = harness.free_port(), harness.free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.upstreams = upstreams
        self.proc = None
        atexit.register(self.stop)  # also when setUpClass fails (no tearDownClass then)
        self._cert()

    def _cert(self):
        key, cert = os.path.join(self.dir, "key.pem"), os.path.join(self.dir, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        self.client_tls = ssl.create_default_context(cafile=cert)

    def start(self, timeout=30):
        with open(CONF) as f:
            site = templated(f.read(), self.port, self.http_port, self.upstreams, self.dir)
        with open(os.path.join(self.dir, "pushgate.conf"), "w") as f:
            f.write(site)
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(MAIN_CONF.format(tmp=self.dir))
        argv = harness._pdeathsig([NGINX, "-p", self.dir, "-c", "nginx.conf", "-e", "stderr"])
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.err = harness._LineReader(self.proc.stderr, "nginx-stderr")
        with self.err.cond:
            harness.wait_until(self.err.cond, lambda: self.err.eof or any(
                "start worker process" in line for line in self.err.lines), timeout,
                "nginx's worker")
        if self.err.eof:
            raise AssertionError("nginx did not start:\n" + "\n".join(self.err.lines))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
            self.err.join()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, headers=None, source="127.0.0.2", timeout=15):
        """One request through nginx (HTTPS) from `source`, a loopback address."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.client_tls, source_address=(source, 0))
        return _send(conn, method, path, body, headers)


def _send(conn, method, path, body, headers):
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return harness.Response(resp.status, harness.Headers(resp.getheaders()), resp.read())
    finally:
        conn.close()


def direct(server, method, path, body=None, headers=None, source="127.0.0.2", timeout=15):
    """One request straight to an instance (plain HTTP) from `source`."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout,
                                      source_address=(source, 0))
    return _send(conn, method, path, body, headers)


class From:
    """What device.Device.enroll calls `server`: requests through nginx from one address."""

    def __init__(self, proxy, source):
        self.proxy, self.source = proxy, source

    def request(self, method, path, body=None, headers=None, timeout=15):
        return self.proxy.request(method, path, body, headers, self.source, timeout)


def directives(text):
    """{name: [value, ...]} of every `name value;` in text (comments dropped)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*([a-z_0-9]+)\s+([^;#]*);", line.split("#", 1)[0])
        if m:
            out.setdefault(m.group(1), []).append(m.group(2).strip())
    return out


def seconds(v):
    m = re.fullmatch(r"(\d+)(s?)", v)
    assert m, f"not a plain number of seconds: {v!r}"
    return int(m.group(1))


class Proxy(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = harness.SmtpSink()
        ports = [harness.free_port(), harness.free_port()]
        cls.proxy = Nginx(ports)
        cls.envs = [{"PUSHGATE_LISTEN": f"127.0.0.1:{p}",
                     "PUSHGATE_PUBLIC_URL": cls.proxy.url,
                     "PUSHGATE_TRUSTED_PROXIES": "127.0.0.1",
                     "PUSHGATE_SMTP_URL": cls.sink.url,
                     "PUSHGATE_AUTH_FAILURE_LIMIT": "2"} for p in ports]
        cls.servers = [cls.class_server(env=e) for e in cls.envs]
        cls.proxy.start()
        cls.app = cls.servers[0].create_app("Proxy Bank")
        cls.h = harness.Server.app_headers(cls.app)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        try:
            cls.proxy.stop()
            cls.sink.stop()
        finally:
            super().tearDownClass()

    def new_user(self, source="127.0.0.2"):
        """A user with one device, enrolled through nginx from `source`."""
        type(self).n += 1
        user = f"{self._testMethodName[5:20]}{self.n}"
        email = f"{user}@example.com"
        r = self.proxy.request("POST", "/registration", headers=self.h, source=source,
                               body={"username": user, "email": email, "delivery": "none"})
        self.assertEqual(r.status, 201, r)
        # links (and device proofs' paths) are the proxy's
        self.assertTrue(r.body["link"].startswith(self.proxy.url + "/r/"), r.body["link"])
        dev = device.Device()
        dev.enroll(From(self.proxy, source), device.link_token(r.body["link"]))
        return user, dev, email

    def poll(self, dev, wait=10, server=None):
        path = "/device/challenges"
        hdrs = {"Authorization": dev.proof("GET", path)}
        if server is None:
            r = self.proxy.request("GET", f"{path}?wait={wait}", headers=hdrs,
                                   timeout=wait + 15)
        else:
            r = direct(server, "GET", f"{path}?wait={wait}", headers=hdrs, timeout=wait + 15)
        self.assertEqual(r.status, 200, r)
        return r.body["challenges"]

    def challenge(self, dev, request_id, server=None):
        for _ in range(3):
            for c in self.poll(dev, server=server):
                hp = dev.verify_challenge(c["challenge"])
                self.assertIsNotNone(hp, "the challenge does not verify")
                if hp[1]["requestId"] == request_id:
                    return hp[1]
        raise AssertionError(f"no challenge for {request_id}")

    def answer(self, dev, ch, server=None):
        path = f"/device/challenges/{ch['requestId']}"
        hdrs = {"Authorization": dev.proof("POST", path)}
        body = {"response": dev.response(ch["requestId"], ch["nonce"], "approve")}
        if server is None:
            return self.proxy.request("POST", path, body=body, headers=hdrs)
        return direct(server, "POST", path, body=body, headers=hdrs)

    def logged_on(self, pred, marks, timeout=30):
        """The index of the instance whose log (from line marks[i] on) has pred. Two
        processes' logs have no one event to wait on: asked again until then."""
        def find():
            return [i for i, s in enumerate(self.servers)
                    if any(pred(o) for o in s.json_logs()[marks[i]:])]
        found = harness.poll(find, bool, timeout)
        self.assertTrue(found, "no instance logged it")
        return found[0]

    def test_held_auth_through_nginx_whichever_instance_holds_what(self):
        """A held POST /auth and the device's long-poll both go through nginx; the poll is
        held first, so nginx's round robin puts the two on different instances and the
        challenge, then the decision, cross between them. context.ipAddress is the client
        as nginx saw it (127.0.0.2), not the X-Forwarded-For the client made up."""
        user, dev, _ = self.new_user()
        crossed = []
        for _ in range(2):
            marks = [len(s.json_logs()) for s in self.servers]
            polled = POOL.submit(self.poll, dev, 30)
            poller = self.logged_on(lambda o: o.get("msg") == "hold state" and
                                    o.get("deviceId") == dev.device_id and
                                    o.get("to") == "waiting", marks)
            held = POOL.submit(self.proxy.request, "POST", "/auth",
                               headers={**self.h, "X-Forwarded-For": "203.0.113.66"},
                               body={"username": user, "message": "Sign in?"}, timeout=120)
            chs = polled.result(60)
            self.assertEqual(len(chs), 1, chs)
            ch = dev.verify_challenge(chs[0]["challenge"])[1]
            self.assertEqual(ch["context"], {"ipAddress": "127.0.0.2"})
            holder = self.logged_on(lambda o: o.get("msg") == "hold state" and
                                    o.get("requestId") == ch["requestId"], marks)
            crossed.append(holder != poller)
            r = self.answer(dev, ch)
            self.assertEqual(r.status, 200, r)
            out = held.result(60)
            self.assertEqual(out.status, 200, out)
            self.assertEqual((out.body["requestId"], out.body["status"]),
                             (ch["requestId"], "accepted"))
        self.assertTrue(any(crossed), "both flows stayed on one instance")

    def auth_context(self, user, dev, send, body_context=None):
        """POST /auth (asynchronous) sent by send(method, path, body, headers); the context
        its challenge carries. The request is approved (an accept resets the back-off)."""
        body = {"username": user}
        if body_context is not None:
            body["context"] = body_context
        r = send("POST", "/auth", body, {**self.h, "Prefer": "respond-async"})
        self.assertEqual(r.status, 202, r)
        ch = self.challenge(dev, r.body["requestId"], server=self.servers[0])
        self.assertEqual(self.answer(dev, ch, server=self.servers[0]).status, 200)
        return ch["context"]

    def test_client_address_believed_only_from_a_trusted_peer(self):
        user, dev, _ = self.new_user()
        a = self.servers[0]

        def via(source, xff=None):
            return lambda m, p, b, h: self.proxy.request(
                m, p, b, {**h, **({"X-Forwarded-For": xff} if xff else {})}, source)

        def straight(source, xff=None):
            return lambda m, p, b, h: direct(
                a, m, p, b, {**h, **({"X-Forwarded-For": xff} if xff else {})}, source)

        spoof = "203.0.113.66"
        # through nginx from 127.0.0.1: nginx replaces the client's X-Forwarded-For with
        # 127.0.0.1 (trusted, but the only entry: the client); the spoof never arrives
        self.assertEqual(self.auth_context(user, dev, via("127.0.0.1", spoof)),
                         {"ipAddress": "127.0.0.1"})
        # the application's own ipAddress is kept; other members too
        ctx = {"ipAddress": "198.51.100.23", "location": "Lisbon, PT"}
        self.assertEqual(self.auth_context(user, dev, via("127.0.0.3", spoof), ctx), ctx)
        self.assertEqual(self.auth_context(user, dev, via("127.0.0.3"), {"location": "Lisbon"}),
                         {"location": "Lisbon", "ipAddress": "127.0.0.3"})
        # straight to an instance from an untrusted address: its X-Forwarded-For is ignored,
        # and without a proxy there is no default (the address is the application's)
        self.assertIsNone(self.auth_context(user, dev, straight("127.0.0.2", spoof)))
        # from a trusted peer: the right-most entry that is not trusted
        self.assertEqual(
            self.auth_context(user, dev, straight("127.0.0.1", "198.51.100.7, 203.0.113.5")),
            {"ipAddress": "203.0.113.5"})
        self.assertEqual(
            self.auth_context(user, dev, straight("127.0.0.1", "203.0.113.5, 127.0.0.1")),
            {"ipAddress": "203.0.113.5"})
        # a trusted peer without X-Forwarded-For, or with a malformed one: the peer itself
        self.assertIsNone(self.auth_context(user, dev, straight("127.0.0.1")))
        mark = len(a.logs)
        self.assertIsNone(self.auth_context(user, dev, straight("127.0.0.1", "203.0.113.5, x")))
        a.wait_log(lambda o: o.get("msg", "").startswith("malformed X-Forwarded-For") and
                   o.get("peer") == "127.0.0.1", since=mark)

    def test_bad_trusted_proxies_stop_the_start(self):
        """A bad entry stops `serve` (and `config`) naming the variable and the entry's
        position, not its text; a good list is shown by `config`."""
        s = self.servers[0]
        for bad, pos in (("127.0.0.1, 10.0.0.1/8", 2), ("proxy.internal", 1),
                         ("::1,,10.0.0.0/8", 2)):
            for cmd in ("config", "serve"):
                r = s.cli_run(cmd, env={"PUSHGATE_TRUSTED_PROXIES": bad,
                                        "PUSHGATE_LISTEN": "127.0.0.1:0"}, timeout=30)
                self.assertNotEqual(r.returncode, 0, r)
                self.assertIn(f"PUSHGATE_TRUSTED_PROXIES: entry {pos} is not", r.stderr)
                self.assertNotIn("10.0.0.1/8", r.stderr)
                self.assertNotIn("proxy.internal", r.stderr)
        out = s.cli("config")
        self.assertEqual(out["PUSHGATE_TRUSTED_PROXIES"], "127.0.0.1")

    def test_failed_credentials_are_counted_per_client_behind_nginx(self):
        """PUSHGATE_AUTH_FAILURE_LIMIT=2 per instance: the client at 127.0.0.4 fails until
        both instances refuse it; 127.0.0.5, behind the same nginx, is not affected, and
        127.0.0.4 claiming another address in X-Forwarded-For is still refused."""
        path = "/auth/q_0123456789abcdef"
        bad = {**self.h, "x-application-secret": "wrong-secret"}
        statuses = []
        while statuses[-2:] != [429, 429]:
            self.assertLess(len(statuses), 10, statuses)
            statuses.append(self.proxy.request("GET", path, headers=bad,
                                               source="127.0.0.4").status)
        self.assertEqual(set(statuses), {401, 429}, statuses)
        for _ in range(2):  # round robin: each instance once
            r = self.proxy.request("GET", path, headers={**self.h, "X-Forwarded-For": "127.0.0.9"},
                                   source="127.0.0.4")
            self.assertProblem(r, 429, "rate_limited")
            r = self.proxy.request("GET", path, headers=self.h, source="127.0.0.5")
            self.assertProblem(r, 404, "not_found")

    def test_link_notice_names_the_client_address(self):
        user, dev, email = self.new_user(source="127.0.0.3")
        m = self.sink.wait_for(lambda m: email in m.envelope_to, timeout=30)
        self.assertIn("IP address: 127.0.0.3", harness.text_part(m))

    def test_config_outlasts_the_longest_hold(self):
        """The configuration's timeouts against the contract's longest holds, which the
        server confirms are its maxima (a hold that long is not waited for here)."""
        user, dev, _ = self.new_user()
        for timeout, status in ((AUTH_TIMEOUT_MAX + 1, 400), (AUTH_TIMEOUT_MAX, 404)):
            r = self.proxy.request("POST", "/auth", headers=self.h,
                                   body={"username": "nobody-at-all", "timeout": timeout})
            self.assertEqual(r.status, status, r)  # 404 user_not_found: the timeout passed
        for wait, status in ((WAIT_MAX + 1, 400), (WAIT_MAX, 404)):
            r = self.proxy.request("GET", f"/auth/q_0123456789abcdef?wait={wait}",
                                   headers=self.h)
            self.assertEqual(r.status, status, r)
        path = "/device/challenges"
        r = self.proxy.request("GET", f"{path}?wait={WAIT_MAX + 1}",
                               headers={"Authorization": dev.proof("GET", path)})
        self.assertEqual(r.status, 400, r)
        with open(CONF) as f:
            d = directives(f.read())
        read = seconds(d["proxy_read_timeout"][0])
        self.assertEqual(len(d["proxy_read_timeout"]), 1)
        # a held POST /auth is answered at its timeout (+ the expiry's own round trip)
        self.assertGreaterEqual(read, AUTH_TIMEOUT_MAX + 15)
        self.assertGreater(read, NGINX_DEFAULT_READ_S)
        self.assertLess(seconds(d["keepalive_timeout"][0]), SERVER_IDLE_S)
        self.assertEqual(d["client_max_body_size"], ["64k"])
        self.assertEqual(d["proxy_buffering"], ["off"])
        self.assertEqual(set(d["proxy_http_version"]), {"1.1"})
        self.assertIn('Connection ""', d["proxy_set_header"])
        self.assertIn("X-Forwarded-For $remote_addr", d["proxy_set_header"])
        self.assertIn("X-Forwarded-Proto $scheme", d["proxy_set_header"])
        self.assertNotIn("non_idempotent", d["proxy_next_upstream"][0])
        # plain HTTP is sent to HTTPS
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.http_port, timeout=10)
        r = _send(conn, "GET", "/healthz", None, None)
        self.assertEqual(r.status, 308, r)
        self.assertTrue(r.headers["location"].startswith("https://"), r.headers)

    def test_client_hanging_up_through_nginx_cancels_the_request(self):
        """api.md 5: a held POST /auth whose application hangs up becomes cancelled. Behind
        nginx the instance sees nginx's connection, which nginx closes when its client goes
        (proxy_ignore_client_abort off, the default)."""
        user, dev, _ = self.new_user()
        body = json.dumps({"username": user}).encode()
        head = (f"POST /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nx-application-id: {self.app['applicationId']}"
                f"\r\nx-application-secret: {self.app['applicationSecret']}\r\n\r\n")
        raw = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=15,
                                       source_address=("127.0.0.2", 0))
        conn = self.proxy.client_tls.wrap_socket(raw, server_hostname="127.0.0.1")
        try:
            marks = [len(s.json_logs()) for s in self.servers]
            conn.sendall(head.encode() + body)
            chs = self.poll(dev)
            self.assertEqual(len(chs), 1, chs)
            rid = dev.verify_challenge(chs[0]["challenge"])[1]["requestId"]
            self.logged_on(lambda o: o.get("msg") == "hold state" and
                           o.get("requestId") == rid and o.get("to") == "waiting", marks)
        finally:
            conn.close()
        r = self.proxy.request("GET", f"/auth/{rid}?wait=30", headers=self.h, timeout=45)
        self.assertEqual((r.status, r.body["status"]), (200, "cancelled"), r)

    def test_nginx_errors_are_problems(self):
        """nginx's own errors are application/problem+json like pushgated's (api.md 1)."""
        r = self.proxy.request("POST", "/auth", headers=self.h,
                               body={"username": "x", "message": "m" * (64 * 1024)})
        self.assertProblem(r, 413, "payload_too_large")
        # no instance answers: nginx's 502 becomes the contract's 503 with Retry-After
        down = Nginx([harness.free_port(), harness.free_port()])
        try:
            down.start()
            r = down.request("GET", "/readyz")
            self.assertProblem(r, 503, "unavailable")
            self.assertEqual(r.headers.get("retry-after"), "2")
        finally:
            down.stop()

    def test_rolling_restart_one_instance_at_a_time(self):
        """SIGTERM one instance, then the other, each restarted before the next: through
        nginx every request is answered, by whichever instance is up."""
        for i in (0, 1):
            user, dev, _ = self.new_user()
            self.assertEqual(self.servers[i].stop(), 0)
            for _ in range(3):  # GETs, and POSTs not yet sent, go to the one that is up
                self.assertEqual(self.proxy.request("GET", "/readyz").status, 200)
            r = self.proxy.request("POST", "/auth", headers={**self.h, "Prefer": "respond-async"},
                                   body={"username": user})
            self.assertEqual(r.status, 202, r)
            ch = self.challenge(dev, r.body["requestId"])  # through nginx
            self.assertEqual(self.answer(dev, ch).status, 200)
            s = self.servers[i] = self.class_server(env=self.envs[i])  # same port
            self.assertEqual(direct(s, "GET", "/readyz").status, 200)
            # nginx may still rest it (max_fails, fail_timeout 10 s): the next instance
            # goes down only once this one serves through nginx again (deployment.md)
            mark = len(s.json_logs())
            served = harness.poll(
                lambda: self.proxy.request("GET", "/healthz").status == 200 and any(
                    o.get("msg") == "request" and o.get("route") == "/healthz"
                    for o in s.json_logs()[mark:]), bool, timeout=30, interval=0.5)
            self.assertTrue(served, "nginx sends nothing to the restarted instance")


if __name__ == "__main__":
    harness.main()
