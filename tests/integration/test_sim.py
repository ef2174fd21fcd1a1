"""Issue 5: pushgate-sim, the simulated authenticator, against the real server
(api.md 4, 5, 6). Mails land as .eml files in the server's PUSHGATE_MAIL_DIR (no SMTP URL),
which is where `pushgate-sim enroll --mail-dir` takes its link from."""
import concurrent.futures
import email as email_parser
import email.policy as email_policy
import http.server
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

from cryptography.hazmat.primitives.asymmetric import ec

import device
import harness

POOL = concurrent.futures.ThreadPoolExecutor(8)


def sim_path():
    return os.environ.get("PUSHGATE_SIM") or os.path.join(harness.REPO, "build", "bin",
                                                          "pushgate-sim")


class Sim:
    """One running `pushgate-sim` with its stdout/stderr collected by threads."""

    def __init__(self, *args, stdin=subprocess.DEVNULL, **kw):
        self.proc = subprocess.Popen([sim_path(), *map(str, args)], stdin=stdin,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        self.out = harness._LineReader(self.proc.stdout, "sim-stdout")
        self.err = harness._LineReader(self.proc.stderr, "sim-stderr")

    def wait(self, timeout=30):
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"pushgate-sim still running after {timeout}s:\n{self.text()}")
        self.out.join()
        self.err.join()
        return code

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait()

    def wait_err(self, needle, timeout=20):
        with self.err.cond:
            harness.wait_until(self.err.cond, lambda: any(needle in l for l in self.err.lines)
                               or self.err.eof, timeout, f"{needle!r} on pushgate-sim stderr")
        assert any(needle in l for l in self.err.lines), self.text()

    def wait_out_count(self, needle, n, timeout=20):
        """Waits until n stdout lines contain needle (the server answers the application
        before the device, so the device's line may come a moment after)."""
        count = lambda: sum(needle in l for l in self.out.lines)  # noqa: E731
        with self.out.cond:
            harness.wait_until(self.out.cond, lambda: count() >= n or self.out.eof, timeout,
                               f"{n} x {needle!r} on pushgate-sim stdout")
        assert count() >= n, self.text()

    def text(self):
        return ("--- stdout ---\n" + "\n".join(self.out.lines) + "\n--- stderr ---\n" +
                "\n".join(self.err.lines))


def sim(*args, timeout=60):
    """Runs pushgate-sim to the end; CompletedProcess (text)."""
    return subprocess.run([sim_path(), *map(str, args)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


class SimBase(harness.TestCase):
    server_env = {"PUSHGATE_SMTP_URL": None}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.class_server()
        cls.app = cls.s.create_app("Acme Bank")
        cls.h = cls.s.app_headers(cls.app)
        cls.mail_dir = cls.s.env["PUSHGATE_MAIL_DIR"]
        cls.tmp = tempfile.mkdtemp(prefix="pushgate-sim-test-")
        cls.n = 0

    def new_user(self):
        type(self).n += 1
        return f"{self._testMethodName[5:20]}{self.n}"

    def register(self, user):
        email = f"{user}@example.com"
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": user, "email": email})
        self.assertEqual(r.status, 201, r)
        return email

    def enrolled(self, user=None):
        """A fresh user with the simulator enrolled from the mail dir; (user, state path)."""
        user = user or self.new_user()
        email = self.register(user)
        state = os.path.join(self.tmp, user + ".json")
        r = sim("enroll", "--mail-dir", self.mail_dir, "--email", email, "--state", state,
                "--name", "sim phone")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("enrolled device d_", r.stdout)
        return user, state

    def auth(self, user, headers=None, **body):
        return self.s.request("POST", "/auth", headers={**self.h, **(headers or {})},
                              body={"username": user, **body}, timeout=120)


class Enroll(SimBase):
    def test_state_file_is_0600_and_pins_the_server(self):
        user, state = self.enrolled()
        self.assertEqual(os.stat(state).st_mode & 0o777, 0o600)
        with open(state) as f:
            st = json.load(f)
        self.assertEqual(st["server"], f"http://{self.s.addr}")
        self.assertEqual(st["username"], user)
        self.assertEqual(st["application"]["name"], "Acme Bank")
        self.assertEqual(st["jwks"], self.s.request("GET", "/.well-known/jwks.json").body)
        lst = self.s.request("GET", f"/users/{user}/devices", headers=self.h).body["devices"]
        self.assertEqual([(d["deviceId"], d["name"]) for d in lst],
                         [(st["deviceId"], "sim phone")])
        # an enrolled state file is not overwritten by accident
        again = sim("enroll", "--mail-dir", self.mail_dir, "--email", f"{user}@example.com",
                    "--state", state)
        self.assertEqual(again.returncode, 2, again)
        self.assertIn("--force", again.stderr)

    def mail_link(self, email):
        """The registration link mailed to email (the test's own .eml parsing), or None."""
        for name in sorted(os.listdir(self.mail_dir)) if os.path.isdir(self.mail_dir) else ():
            if not name.endswith(".eml"):
                continue
            with open(os.path.join(self.mail_dir, name), "rb") as f:
                msg = email_parser.message_from_bytes(f.read(), policy=email_policy.default)
            if msg["To"] == email and "/r/" in harness.text_part(msg):
                return re.search(r"^(http://\S+/r/[A-Za-z0-9_-]{43})\r?$",
                                 harness.text_part(msg), re.M).group(1)
        return None

    def test_link_from_the_command_line_and_a_used_link_is_410(self):
        user = self.new_user()
        email = self.register(user)
        link = harness.poll(lambda: self.mail_link(email), lambda l: l, timeout=10)
        self.assertIsNotNone(link)
        state = os.path.join(self.tmp, user + ".json")
        self.assertEqual(sim("enroll", link, "--state", state).returncode, 0)
        used = sim("enroll", link, "--state", state + ".2")
        self.assertEqual(used.returncode, 1, used)
        self.assertIn("410 registration_completed", used.stderr)
        self.assertFalse(os.path.exists(state + ".2"))

    def test_bad_link_and_unreachable_server(self):
        state = os.path.join(self.tmp, "bad.json")
        token = device.b64u(os.urandom(32))
        r = sim("enroll", f"http://{self.s.addr}/r/{token}", "--state", state)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("404 not_found", r.stderr)
        r = sim("enroll", f"http://127.0.0.1:{harness.free_port()}/r/{token}", "--state", state)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("cannot reach the server", r.stderr)
        for bad in ("not a link", f"https://{self.s.addr}/r/{token}", f"http://{self.s.addr}/"):
            r = sim("enroll", bad, "--state", state)
            self.assertEqual(r.returncode, 1, r)
            self.assertIn("pushgate-sim:", r.stderr)
        r = sim("enroll", "--mail-dir", self.mail_dir, "--email", "nobody@example.com",
                "--mail-wait", "0", "--state", state)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("no registration mail to nobody@example.com", r.stderr)
        self.assertFalse(os.path.exists(state))

    def test_bad_state_files(self):
        path = os.path.join(self.tmp, "corrupt.json")
        r = sim("run", "--approve", "--state", path)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("enroll first", r.stderr)
        for content in ("{not json", '{"version": 1}', '{"version": 1, "server": "http://x", '
                        '"jwks": {"keys": []}, "deviceId": "d_12345678", "privateKey": "AAAA"}'):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, content.encode())
            os.close(fd)
            for cmd in ("run", "status", "revoke"):
                r = sim(cmd, *(["--approve"] if cmd == "run" else []), "--state", path)
                self.assertEqual(r.returncode, 1, r)
                self.assertIn("corrupt", r.stderr)
        _, state = self.enrolled()
        os.chmod(state, 0o644)
        r = sim("status", "--state", state)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("chmod 600", r.stderr)

    def test_usage_errors(self):
        for args in ([], ["fly"], ["run"], ["run", "--approve", "--deny"],
                     ["run", "--approve", "--code", "12"], ["run", "--approve", "--wait", "61"],
                     ["status", "--approve"], ["enroll"], ["load", "--devices", "x"]):
            r = sim(*args)
            self.assertEqual(r.returncode, 2, (args, r))
            self.assertTrue(r.stderr.startswith("pushgate-sim: ") or "usage" in r.stderr, r)

    def test_status_and_revoke(self):
        user, state = self.enrolled()
        r = sim("status", "--state", state)
        self.assertEqual(r.returncode, 0, r)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["username"], doc["status"], doc["name"]), (user, "active",
                                                                          "sim phone"))
        r = sim("revoke", "--state", state)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("revoked", r.stdout)
        r = sim("status", "--state", state)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("401 invalid_device_proof", r.stderr)
        self.assertProblem(self.auth(user), 409, "no_active_device")


class Run(SimBase):
    def run_once(self, state, *args, **auth):
        """Starts `run ... --once`, makes a held POST /auth, returns (auth answer, sim)."""
        user = auth.pop("user")
        s = Sim("run", "--state", state, "--once", *args)
        out = self.auth(user, type="authorization", message="Confirm transfer of 250.00 EUR",
                        context={"ipAddress": "203.0.113.9"},
                        transaction={"amount": "250.00"}, **auth)
        self.assertEqual(s.wait(), 0, s.text())
        self.assertEqual(out.status, 200, out)
        return out.body, s

    def test_approve(self):
        user, state = self.enrolled()
        out, s = self.run_once(state, "--approve", user=user)
        self.assertEqual((out["status"], out["reason"]), ("accepted", None), s.text())
        text = "\n".join(s.out.lines)
        for needle in ("Acme Bank", user, "authorization", "Confirm transfer of 250.00 EUR",
                       "203.0.113.9", '"amount":"250.00"', "verification: none",
                       "server says accepted"):
            self.assertIn(needle, text)
        with open(state) as f:
            dev = json.load(f)
        self.assertEqual(out["deviceId"], dev["deviceId"])

    def test_deny(self):
        user, state = self.enrolled()
        out, s = self.run_once(state, "--deny", user=user)
        self.assertEqual((out["status"], out["reason"]), ("denied", "user_denied"))
        self.assertIn("server says denied", "\n".join(s.out.lines))

    def test_not_me_locks_the_user(self):
        user, state = self.enrolled()
        out, _ = self.run_once(state, "--not-me", user=user)
        self.assertEqual((out["status"], out["reason"]), ("denied", "fraud_reported"))
        self.assertProblem(self.auth(user), 423, "locked")

    def test_delay(self):
        user, state = self.enrolled()
        t0 = time.monotonic()
        out, s = self.run_once(state, "--approve", "--delay", "2", user=user)
        self.assertEqual(out["status"], "accepted")
        self.assertGreaterEqual(time.monotonic() - t0, 2)
        self.assertIn("answering in 2 s", "\n".join(s.out.lines))

    def async_code(self, user):
        r = self.auth(user, headers={"Prefer": "respond-async"}, verification="code")
        self.assertEqual(r.status, 202, r)
        return r.body["requestId"], r.body["displayCode"]

    def outcome(self, rid):
        r = self.s.request("GET", f"/auth/{rid}?wait=30", headers=self.h, timeout=60)
        return r.body["status"], r.body["reason"]

    def test_code(self):
        user, state = self.enrolled()
        rid, code = self.async_code(user)
        s = Sim("run", "--state", state, "--approve", "--code", code, "--once")
        self.assertEqual(s.wait(), 0, s.text())
        self.assertIn("verification: code", "\n".join(s.out.lines))
        self.assertEqual(self.outcome(rid), ("accepted", None))

    def test_wrong_code_is_code_mismatch(self):
        user, state = self.enrolled()
        rid, code = self.async_code(user)
        wrong = f"{(int(code) + 1) % 1000:03d}"
        s = Sim("run", "--state", state, "--approve", "--code", wrong, "--once")
        self.assertEqual(s.wait(), 0, s.text())
        self.assertEqual(self.outcome(rid), ("denied", "code_mismatch"))

    def test_approve_without_the_code_is_not_sent(self):
        user, state = self.enrolled()
        rid, _ = self.async_code(user)
        s = Sim("run", "--state", state, "--approve", "--once")
        self.assertEqual(s.wait(), 1, s.text())
        self.assertIn("--code", "\n".join(s.err.lines))
        r = self.s.request("GET", f"/auth/{rid}", headers=self.h)
        self.assertEqual(r.body["status"], "pending")

    def pty_sim(self, state, *args):
        """pushgate-sim on a pseudo-terminal; returns (pid, master fd)."""
        master, slave = pty.openpty()
        proc = subprocess.Popen([sim_path(), "run", "--state", state, "--ask", "--once", *args],
                                stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        return proc, master

    def read_until(self, fd, needle, timeout=30):
        buf = b""
        deadline = time.monotonic() + timeout
        while needle.encode() not in buf:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, f"no {needle!r} on the terminal: {buf!r}")
            if select.select([fd], [], [], left)[0]:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b""
                self.assertTrue(chunk, f"terminal closed before {needle!r}: {buf!r}")
                buf += chunk
        return buf.decode(errors="replace")

    def test_ask_on_a_terminal(self):
        user, state = self.enrolled()
        proc, fd = self.pty_sim(state)
        held = POOL.submit(self.auth, user, message="Log in to Acme")
        try:
            shown = self.read_until(fd, "[a/d/n]")
            self.assertIn("Log in to Acme", shown)
            os.write(fd, b"a\n")
            self.read_until(fd, "server says accepted")
            self.assertEqual(proc.wait(30), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(fd)
        self.assertEqual(held.result(60).body["status"], "accepted")

    def test_ask_with_a_code_on_a_terminal(self):
        user, state = self.enrolled()
        rid, code = self.async_code(user)
        proc, fd = self.pty_sim(state)
        try:
            self.read_until(fd, "[a/d/n]")
            os.write(fd, b"x\n")
            self.read_until(fd, "please type a, d or n")
            os.write(fd, b"a\n")
            self.read_until(fd, "code shown by the application:")
            os.write(fd, code.encode() + b"\n")
            self.read_until(fd, "server says accepted")
            self.assertEqual(proc.wait(30), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(fd)
        self.assertEqual(self.outcome(rid), ("accepted", None))

    def test_keeps_answering_without_once(self):
        user, state = self.enrolled()
        s = Sim("run", "--state", state, "--approve", "--wait", "5")
        try:
            for _ in range(2):
                self.assertEqual(self.auth(user).body["status"], "accepted")
            s.wait_out_count("server says accepted", 2)
        finally:
            self.assertEqual(s.stop(signal.SIGINT), 0, s.text())
        self.assertEqual(sum("server says accepted" in l for l in s.out.lines), 2)

    def test_unreachable_server_is_reported_and_retried(self):
        _, state = self.enrolled()
        with open(state) as f:
            st = json.load(f)
        port = harness.free_port()
        st["server"] = f"http://127.0.0.1:{port}"
        fd = os.open(state, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, json.dumps(st).encode())
        os.close(fd)
        s = Sim("run", "--state", state, "--approve", "--once")
        s.wait_err("unavailable")
        s.wait_err("retrying in 2 s")
        self.assertEqual(s.stop(), 1)  # --once and nothing answered


class FakeServer:
    """A loopback HTTP server that serves one challenge signed by a key the device never
    pinned, and records every request."""

    def __init__(self, device_id, kid):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.requests = []
        self.cond = threading.Condition()
        now = int(time.time())
        payload = {"requestId": "q_forged12345678", "deviceId": device_id,
                   "application": {"id": "a_evil12345", "name": "Acme Bank"},
                   "username": "victim", "type": "authorization", "message": "Send it all",
                   "context": None, "transaction": None, "verification": "none",
                   "nonce": device.b64u(os.urandom(16)), "iat": now, "exp": now + 60}
        self.challenge = device.sign(self.key, {"alg": "ES256", "typ": "pushgate-challenge+jwt",
                                                "kid": kid}, payload)
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                with fake.cond:
                    fake.requests.append(("GET", self.path))
                    fake.cond.notify_all()
                self.reply(200, {"challenges": [{"requestId": "q_forged12345678",
                                                 "challenge": fake.challenge}]})

            def do_POST(self):
                with fake.cond:
                    fake.requests.append(("POST", self.path))
                    fake.cond.notify_all()
                self.reply(200, {"requestId": "q_forged12345678", "status": "accepted"})

        Handler.protocol_version = "HTTP/1.1"
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Forged(SimBase):
    def test_a_challenge_signed_by_another_key_is_refused(self):
        _, state = self.enrolled()
        with open(state) as f:
            st = json.load(f)
        fake = FakeServer(st["deviceId"], st["jwks"]["keys"][0]["kid"])
        self.addCleanup(fake.close)
        st["server"] = f"http://127.0.0.1:{fake.port}"
        fd = os.open(state, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, json.dumps(st).encode())
        os.close(fd)
        s = Sim("run", "--state", state, "--approve", "--once")
        s.wait_err("REFUSED challenge q_forged12345678")
        # it refuses and polls again: a third poll proves it has moved on without answering
        with fake.cond:
            harness.wait_until(fake.cond, lambda: len(fake.requests) >= 3, 20,
                               "the simulator to poll again after refusing")
        self.assertEqual(s.stop(), 1, s.text())
        self.assertTrue(fake.requests)
        self.assertEqual({m for m, _ in fake.requests}, {"GET"}, fake.requests)
        self.assertIn("does not verify", "\n".join(s.err.lines))
        self.assertNotIn("Send it all", "\n".join(s.out.lines))


class Load(SimBase):
    DEVICES = 2000  # issue 5: the load mode holds 2,000 devices in one process

    def test_load_mode_answers_every_device(self):
        state_dir = os.path.join(self.tmp, "load")
        r = sim("load", "--enroll", "--server", f"http://{self.s.addr}", "--app-id",
                self.app["applicationId"], "--app-secret", self.app["applicationSecret"],
                "--mail-dir", self.mail_dir, "--devices", self.DEVICES, "--prefix", "ld",
                "--state-dir", state_dir, timeout=240)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(json.loads(r.stdout.splitlines()[-1])["enrolled"], self.DEVICES)
        self.assertEqual(os.stat(os.path.join(state_dir, "pushgate-sim-load.json")).st_mode
                         & 0o777, 0o600)
        # a second run keeps what is there
        again = sim("load", "--enroll", "--server", f"http://{self.s.addr}", "--app-id",
                    self.app["applicationId"], "--app-secret", self.app["applicationSecret"],
                    "--mail-dir", self.mail_dir, "--devices", self.DEVICES, "--prefix", "ld",
                    "--state-dir", state_dir)
        self.assertEqual(json.loads(again.stdout)["enrolled"], 0, again)
        s = Sim("load", "--state-dir", state_dir, "--devices", self.DEVICES, "--wait", "20")
        try:
            rids = list(POOL.map(lambda i: self.auth(f"ld{i}", headers={
                "Prefer": "respond-async"}).body["requestId"], range(self.DEVICES)))
            outcomes = list(POOL.map(lambda rid: self.s.request(
                "GET", f"/auth/{rid}?wait=30", headers=self.h, timeout=60).body["status"], rids))
            self.assertEqual(outcomes, ["accepted"] * self.DEVICES)
        finally:
            code = s.stop(signal.SIGINT)
        self.assertEqual(code, 0, s.text())
        report = json.loads(s.out.lines[-1])
        self.assertEqual((report["devices"], report["answered"], report["accepted"]),
                         (self.DEVICES, self.DEVICES, self.DEVICES), report)
        self.assertEqual(report["answerMs"]["count"], self.DEVICES)
        self.assertGreater(report["answerMs"]["p99"], 0)
        self.assertEqual(report["errors"], {"network": 0, "http": 0, "unauthorized": 0})


if __name__ == "__main__":
    harness.main()
