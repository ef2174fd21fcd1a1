"""Issue 19: native HTTPS (PUSHGATE_TLS_CERT / PUSHGATE_TLS_KEY) and SIGHUP reload
(api.md 9, 10; docs/operations.md "TLS"). A throw-away CA and server certificates for
127.0.0.1 (SAN IP) are made with python3-cryptography; clients are Python's ssl, curl
(--cacert), openssl s_client and pushgate-sim (--cacert)."""
import concurrent.futures
import datetime
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import device
import harness

POOL = concurrent.futures.ThreadPoolExecutor(8)
LINK_RE = re.compile(r"^(https?://\S+)/r/([A-Za-z0-9_-]{43})\r?$", re.M)


# --------------------------------------------------------------------------- certificates

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Ca:
    """A throw-away CA in dir; issue() makes server certificates for 127.0.0.1."""

    def __init__(self, dir):
        self.dir = dir
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (x509.CertificateBuilder().subject_name(_name("pushgate test CA"))
                     .issuer_name(_name("pushgate test CA")).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                  False, False), critical=True)
                     .add_extension(ski, critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.path = os.path.join(dir, "ca.pem")
        with open(self.path, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, cn):
        """(cert PEM bytes, key PEM bytes, SHA-256 fingerprint hex) for 127.0.0.1."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        return (cert.public_bytes(serialization.Encoding.PEM), _key_pem(key),
                cert.fingerprint(hashes.SHA256()).hex())


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def peer_fingerprint(port, cafile):
    """SHA-256 of the certificate a new connection to 127.0.0.1:port is shown."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def sim_path():
    return os.environ.get("PUSHGATE_SIM") or os.path.join(harness.REPO, "build", "bin",
                                                          "pushgate-sim")


def sim(*args, timeout=60, env=None):
    return subprocess.run([sim_path(), *map(str, args)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# --------------------------------------------------------------------------- base

class TlsBase(harness.TestCase):
    """A TLS server for the class (mail as .eml files in its PUSHGATE_MAIL_DIR)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="pushgate-tls-test-")
        cls.ca = Ca(cls.tmp)
        cls.cert, cls.key = os.path.join(cls.tmp, "cert.pem"), os.path.join(cls.tmp, "key.pem")
        cert, key, cls.fp = cls.ca.issue("pushgate A")
        write_atomically(cls.cert, cert)
        write_atomically(cls.key, key)
        cls.server_env = {"PUSHGATE_SMTP_URL": None, "PUSHGATE_TLS_CERT": cls.cert,
                          "PUSHGATE_TLS_KEY": cls.key}
        cls.s = cls.class_server(cafile=cls.ca.path)
        cls.app = cls.s.create_app("Acme Bank")
        cls.h = cls.s.app_headers(cls.app)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def new_user(self):
        type(self).n += 1
        return f"{self._testMethodName[5:20]}{self.n}"

    def link_of(self, s, email, timeout=20):
        """The registration link mailed to email (an .eml file in s's mail dir)."""
        mail_dir = s.env["PUSHGATE_MAIL_DIR"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in sorted(os.listdir(mail_dir)) if os.path.isdir(mail_dir) else ():
                with open(os.path.join(mail_dir, name), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                m = LINK_RE.search(text)
                if email in text and m:
                    return m.group(1), m.group(2)
            time.sleep(0.05)  # the outbox writes the file in the background
        raise AssertionError(f"no registration mail for {email}")

    def enrolled_device(self, s=None):
        """A fresh user with a device.Device enrolled over HTTPS; (user, device)."""
        s = s or self.s
        user = self.new_user()
        email = f"{user}@example.com"
        r = s.request("POST", "/registration", headers=self.h,
                      body={"username": user, "email": email})
        self.assertEqual(r.status, 201, r)
        _, token = self.link_of(s, email)
        d = device.Device()
        d.enroll(s, token)
        return user, d

    def auth(self, user, s=None, **body):
        s = s or self.s
        return s.request("POST", "/auth", headers=self.h, body={"username": user, **body},
                         timeout=120)

    def challenge_for(self, dev, s=None):
        s = s or self.s
        path = "/device/challenges"
        for _ in range(10):
            r = s.request("GET", f"{path}?wait=10",
                          headers={"Authorization": dev.proof("GET", path)}, timeout=30)
            self.assertEqual(r.status, 200, r)
            for c in r.body["challenges"]:
                hp = dev.verify_challenge(c["challenge"])
                self.assertIsNotNone(hp)
                return hp[1]
        raise AssertionError("no challenge arrived")

    def answer(self, dev, ch, s=None, decision="approve"):
        s = s or self.s
        path = f"/device/challenges/{ch['requestId']}"
        resp = dev.response(ch["requestId"], ch["nonce"], decision)
        return s.request("POST", path, headers={"Authorization": dev.proof("POST", path)},
                         body={"response": resp})

    def curl(self, *args, port=None):
        """curl over HTTPS trusting only the test CA; (status, parsed JSON body)."""
        url = f"https://127.0.0.1:{port or self.s.port}"
        r = subprocess.run(["curl", "-sS", "--cacert", self.ca.path, "-w", "\n%{http_code}",
                            *[a.replace("URL", url, 1) if a.startswith("URL") else a
                              for a in args]],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        body, _, status = r.stdout.rpartition("\n")
        return int(status), json.loads(body) if body else None

    def s_client(self, *args, port=None):
        """openssl s_client against the server; CompletedProcess (stdout and stderr merged)."""
        return subprocess.run(["openssl", "s_client", "-connect",
                               f"127.0.0.1:{port or self.s.port}", "-CAfile", self.ca.path,
                               "-verify_return_error", *args],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=30)


# --------------------------------------------------------------------------- tests

class Https(TlsBase):
    def test_public_url_and_links_are_https(self):
        line = self.s.wait_log(lambda o: o.get("msg") == "listening")
        self.assertEqual(line["public_url"], f"https://{self.s.addr}")
        self.assertEqual(line["tls"], "on")
        loaded = self.s.wait_log(lambda o: o.get("msg") == "tls: certificate loaded")
        self.assertEqual((loaded["sha256"], loaded["cert"]), (self.fp, self.cert))
        self.assertIn("pushgate A", loaded["subject"])
        user = self.new_user()
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": user, "email": f"{user}@example.com"})
        self.assertEqual(r.status, 201, r)
        base, _ = self.link_of(self.s, f"{user}@example.com")
        self.assertEqual(base, f"https://{self.s.addr}")
        self.assertEqual(peer_fingerprint(self.s.port, self.ca.path), self.fp)

    def test_full_flow_with_curl_and_a_python_device(self):
        user = self.new_user()
        email = f"{user}@example.com"
        h = [f"-H{k}: {v}" for k, v in self.h.items()]
        status, body = self.curl("-XPOST", *h, "-HContent-Type: application/json", "-d",
                                 json.dumps({"username": user, "email": email}),
                                 "URL/registration")
        self.assertEqual(status, 201, body)
        _, token = self.link_of(self.s, email)
        dev = device.Device()
        dev.enroll(self.s, token)
        held = POOL.submit(self.curl, "-XPOST", *h, "-HContent-Type: application/json", "-d",
                           json.dumps({"username": user, "timeout": 60}), "URL/auth")
        ch = self.challenge_for(dev)
        self.assertEqual(self.answer(dev, ch).status, 200)
        status, out = held.result(60)
        self.assertEqual((status, out["status"], out["requestId"]),
                         (200, "accepted", ch["requestId"]), out)

    def test_full_flow_with_the_simulator(self):
        user = self.new_user()
        email = f"{user}@example.com"
        r = self.s.request("POST", "/registration", headers=self.h,
                           body={"username": user, "email": email})
        self.assertEqual(r.status, 201, r)
        state = os.path.join(self.tmp, user + ".json")
        mail_dir = self.s.env["PUSHGATE_MAIL_DIR"]
        # without the CA the simulator refuses the server's certificate
        r = sim("enroll", "--mail-dir", mail_dir, "--email", email, "--state", state)
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn("certificate", r.stderr)
        self.assertFalse(os.path.exists(state))
        r = sim("enroll", "--mail-dir", mail_dir, "--email", email, "--state", state,
                "--cacert", self.ca.path)
        self.assertEqual(r.returncode, 0, r)
        with open(state) as f:
            self.assertEqual(json.load(f)["server"], f"https://{self.s.addr}")
        # the CA from the environment instead of --cacert
        proc = subprocess.Popen([sim_path(), "run", "--state", state, "--approve", "--once"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PUSHGATE_SIM_CACERT": self.ca.path})
        try:
            out = self.auth(user, timeout=60)
        finally:
            stdout, stderr = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, stderr)
        self.assertEqual((out.status, out.body["status"]), (200, "accepted"), out)
        self.assertIn("server says accepted", stdout)

    def test_the_simulator_reconnects_after_a_server_restart(self):
        # the TLS connection the server closed is replaced by a new one (evhttp alone
        # would reuse its spent SSL object)
        port = harness.free_port()
        env = {"PUSHGATE_LISTEN": f"127.0.0.1:{port}"}
        s1 = self.server(env=env, cafile=self.ca.path)
        user = self.new_user()
        email = f"{user}@example.com"
        r = s1.request("POST", "/registration", headers=self.h,
                       body={"username": user, "email": email})
        self.assertEqual(r.status, 201, r)
        state = os.path.join(self.tmp, user + ".json")
        r = sim("enroll", "--mail-dir", s1.env["PUSHGATE_MAIL_DIR"], "--email", email,
                "--state", state, "--cacert", self.ca.path)
        self.assertEqual(r.returncode, 0, r)
        proc = subprocess.Popen([sim_path(), "run", "--state", state, "--approve", "--wait", "2",
                                 "--cacert", self.ca.path], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = harness._LineReader(proc.stdout, "sim-stdout")
        err = harness._LineReader(proc.stderr, "sim-stderr")
        answered = lambda: sum("server says accepted" in l for l in out.lines)  # noqa: E731
        try:
            self.assertEqual(self.auth(user, s1, timeout=30).body["status"], "accepted")
            self.assertEqual(s1.stop(), 0)
            s2 = self.server(env=env, cafile=self.ca.path)
            self.assertEqual(self.auth(user, s2, timeout=60).body["status"], "accepted")
            # the application hears first; the device's own answer follows
            with out.cond:
                harness.wait_until(out.cond, lambda: answered() >= 2 or out.eof, 20,
                                   "the simulator's second answer")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
            out.join()
            err.join()
        self.assertEqual(answered(), 2, "\n".join(out.lines + err.lines))
        self.assertFalse(any("TLS" in l for l in err.lines), err.lines)

    def test_the_simulators_load_mode_over_https(self):
        n = 20
        state_dir = os.path.join(self.tmp, "load")
        r = sim("load", "--enroll", "--server", f"https://{self.s.addr}", "--cacert",
                self.ca.path, "--app-id", self.app["applicationId"], "--app-secret",
                self.app["applicationSecret"], "--mail-dir", self.s.env["PUSHGATE_MAIL_DIR"],
                "--devices", n, "--prefix", "tl", "--state-dir", state_dir, timeout=120)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(json.loads(r.stdout.splitlines()[-1])["enrolled"], n)
        proc = subprocess.Popen([sim_path(), "load", "--state-dir", state_dir, "--devices",
                                 str(n), "--wait", "10"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PUSHGATE_SIM_CACERT": self.ca.path})
        try:
            outs = list(POOL.map(lambda i: self.auth(f"tl{i}", timeout=60), range(n)))
        finally:
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=30)
        self.assertEqual([(o.status, o.body["status"]) for o in outs], [(200, "accepted")] * n)
        self.assertEqual(proc.returncode, 0, stderr)
        # every decision came from the simulator (the applications hear of it before the
        # device hears its answer acknowledged: the last few may be cut by the SIGINT)
        report = json.loads(stdout.splitlines()[-1])
        self.assertEqual((report["challenges"], report["refused"]), (n, 0), report)
        self.assertEqual(report["answered"], report["accepted"], report)
        self.assertEqual(report["errors"], {"network": 0, "http": 0, "unauthorized": 0})

    def test_tls_1_0_and_1_1_are_refused(self):
        for flag in ("-tls1", "-tls1_1"):
            with self.subTest(flag):
                # SECLEVEL=0: our client would offer them, so the refusal is the server's
                r = self.s_client(flag, "-cipher", "DEFAULT@SECLEVEL=0")
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn("protocol version", r.stdout)

    def test_tls_1_2_and_1_3_are_accepted_with_alpn_http_1_1(self):
        for flag, proto in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            with self.subTest(flag):
                r = self.s_client(flag, "-alpn", "h2,http/1.1")
                self.assertEqual(r.returncode, 0, r.stdout)
                self.assertIn(f"New, {proto}, Cipher is", r.stdout)
                self.assertIn("ALPN protocol: http/1.1", r.stdout)
                self.assertIn("Verify return code: 0 (ok)", r.stdout)

    def test_a_client_without_http_1_1_in_its_alpn_gets_no_alpn_answer(self):
        r = self.s_client("-alpn", "h2")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("No ALPN negotiated", r.stdout)

    def test_tls_1_2_offers_only_ecdhe_aead_ciphers(self):
        r = self.s_client("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        r = self.s_client("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_plain_http_on_the_tls_port_gets_no_http_answer(self):
        with socket.create_connection(("127.0.0.1", self.s.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            try:
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
        self.assertFalse(data.startswith(b"HTTP/"), data)
        self.assertEqual(self.s.request("GET", "/healthz").status, 200)

    def held_auth_socket(self, user, s=None):
        """A socket (TLS when s has a CA) with a POST /auth (timeout 120) sent on it."""
        s = s or self.s
        body = json.dumps({"username": user, "timeout": 120}).encode()
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        if s.cafile:
            sock = s.ssl_context().wrap_socket(sock, server_hostname="127.0.0.1")
        head = (f"POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"x-application-id: {self.app['applicationId']}\r\n"
                f"x-application-secret: {self.app['applicationSecret']}\r\n\r\n").encode()
        sock.sendall(head + body)
        return sock

    def hang_up(self, how, s):
        user, dev = self.enrolled_device(s)
        sock = self.held_auth_socket(user, s)
        ch = self.challenge_for(dev, s)
        s.wait_log(lambda o: o.get("msg") == "hold state" and o.get("requestId") ==
                   ch["requestId"] and o.get("to") == "waiting", timeout=20)
        if how == "close_notify":  # an orderly TLS close; no wait for the server's
            sock.setblocking(False)
            try:
                sock = sock.unwrap()
            except ssl.SSLWantReadError:
                pass
        elif how == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        r = s.request("GET", f"/auth/{ch['requestId']}?wait=5", headers=self.h, timeout=20)
        self.assertEqual((r.body["status"], r.body["reason"]), ("cancelled", "cancelled"), r)

    def test_hang_up_during_a_held_auth_cancels_it(self):
        # "close": the client just closes its socket; it never read the TLS 1.3 session
        # tickets, so the kernel resets the connection instead of a FIN
        for how in ("close_notify", "close", "reset"):
            with self.subTest(how):
                self.hang_up(how, self.s)

    def test_a_reset_during_a_held_auth_over_plain_tcp_cancels_it_too(self):
        s = self.server(env={"PUSHGATE_TLS_CERT": None, "PUSHGATE_TLS_KEY": None})
        self.hang_up("reset", s)

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        import http.client
        conn = http.client.HTTPSConnection("127.0.0.1", self.s.port, timeout=10,
                                           context=self.s.ssl_context())
        try:
            for _ in range(3):
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
        finally:
            conn.close()


class Guards(TlsBase):
    """The connection guard works the same over TLS."""

    def test_a_stalled_handshake_or_head_is_closed_at_the_head_timeout(self):
        s = self.server(env={"PUSHGATE_HTTP_HEAD_TIMEOUT": "1"}, cafile=self.ca.path)
        # a few bytes of a ClientHello, then nothing
        with socket.create_connection(("127.0.0.1", s.port), timeout=15) as sock:
            sock.sendall(b"\x16\x03\x01")
            t0 = time.monotonic()
            self.assertEqual(sock.recv(100), b"")
            self.assertLess(time.monotonic() - t0, 12)
        # a finished handshake, then half a request head
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=15)
        with s.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            try:
                self.assertEqual(sock.recv(100), b"")
            except (ConnectionResetError, ssl.SSLError):
                pass
            self.assertLess(time.monotonic() - t0, 12)
        self.assertEqual(s.request("GET", "/healthz").status, 200)

    def test_the_per_address_cap_closes_the_connection_beyond_it(self):
        s = self.server(env={"PUSHGATE_HTTP_MAX_PER_ADDRESS": "1",
                             "PUSHGATE_HTTP_CAP_LOOPBACK": "true"}, cafile=self.ca.path)
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        with s.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1"):
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                s.request("GET", "/healthz")
            s.wait_log(lambda o: o.get("msg") == "connection refused"
                       and o.get("reason") == "per-address connection cap")
        # once the first one is closed, there is room again
        deadline = time.monotonic() + 10
        while True:
            try:
                self.assertEqual(s.request("GET", "/healthz").status, 200)
                break
            except (ssl.SSLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # the server hears of the close in its next loop pass

    def test_sigterm_answers_a_held_request_over_tls(self):
        s = self.server(env={"PUSHGATE_DRAIN_SECONDS": "1"}, cafile=self.ca.path)
        user, dev = self.enrolled_device(s)
        held = POOL.submit(self.auth, user, s)
        self.challenge_for(dev, s)
        self.assertEqual(s.stop(), 0)
        self.assertProblem(held.result(30), 503, "unavailable")


class Reload(TlsBase):
    """SIGHUP: new connections get the new certificate; a bad file keeps the old one."""

    def tls_server(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        c, k, fp = self.ca.issue("pushgate before")
        write_atomically(cert, c)
        write_atomically(key, k)
        s = self.server(env={"PUSHGATE_TLS_CERT": cert, "PUSHGATE_TLS_KEY": key},
                        cafile=self.ca.path)
        return s, cert, key, fp

    def hup(self, s, msg):
        mark = len(s.logs)
        s.proc.send_signal(signal.SIGHUP)
        return s.wait_log(lambda o: o.get("msg") == msg, timeout=20, since=mark)

    def test_sighup_swaps_the_certificate_and_a_held_request_survives(self):
        s, cert, key, old_fp = self.tls_server()
        user, dev = self.enrolled_device(s)
        held = POOL.submit(self.auth, user, s)
        ch = self.challenge_for(dev, s)
        c, k, new_fp = self.ca.issue("pushgate after")
        write_atomically(key, k)
        write_atomically(cert, c)
        line = self.hup(s, "tls: certificate reloaded")
        self.assertEqual(line["sha256"], new_fp)
        self.assertIn("pushgate after", line["subject"])
        self.assertEqual(peer_fingerprint(s.port, self.ca.path), new_fp)
        self.assertNotEqual(old_fp, new_fp)
        # the request held on a connection of the old certificate gets its answer
        self.assertEqual(self.answer(dev, ch, s).status, 200)
        out = held.result(60)
        self.assertEqual((out.status, out.body["status"]), (200, "accepted"), out)
        # and a second reload of the same files works too
        self.assertEqual(self.hup(s, "tls: certificate reloaded")["sha256"], new_fp)

    def test_a_bad_new_file_keeps_the_old_certificate_and_says_why(self):
        s, cert, key, fp = self.tls_server()
        with open(key, "rb") as f:
            key_pem = f.read()
        _, other_key, _ = self.ca.issue("pushgate other")
        cases = [
            ("a certificate file that is not PEM", cert, b"not a certificate\n", cert),
            ("a key of another certificate", key, other_key, "key values mismatch"),
            ("a missing key file", key, None, key),
        ]
        for what, path, data, needle in cases:
            with self.subTest(what):
                saved = open(path, "rb").read()
                if data is None:
                    os.unlink(path)
                else:
                    write_atomically(path, data)
                try:
                    line = self.hup(s, "tls: reload failed; keeping the current certificate")
                    self.assertIn(needle, line["error"])
                    self.assertEqual(line["sha256"], fp)
                    self.assertEqual(peer_fingerprint(s.port, self.ca.path), fp)
                finally:
                    write_atomically(path, saved)
        # no key material in any log line
        key_body = b"".join(key_pem.splitlines()[1:-1]).decode()
        for l in s.logs:
            self.assertNotIn("PRIVATE KEY", l)
            self.assertNotIn(key_body[:40], l)
        # the good files load again
        self.assertEqual(self.hup(s, "tls: certificate reloaded")["sha256"], fp)

    def test_sighup_without_tls_changes_nothing(self):
        s = self.server(env={"PUSHGATE_TLS_CERT": None, "PUSHGATE_TLS_KEY": None})
        self.hup(s, "SIGHUP: nothing to reload (TLS is off)")
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        self.assertTrue(s.running())


class Config(TlsBase):
    def test_cert_and_key_go_together(self):
        for only in ("PUSHGATE_TLS_CERT", "PUSHGATE_TLS_KEY"):
            with self.subTest(only):
                other = ({"PUSHGATE_TLS_CERT", "PUSHGATE_TLS_KEY"} - {only}).pop()
                s = self.server(env={other: None}, start=False)
                r = s.cli_run("config")
                self.assertNotEqual(r.returncode, 0, r)
                self.assertIn("PUSHGATE_TLS_CERT and PUSHGATE_TLS_KEY", r.stderr)

    def test_config_shows_tls_and_the_https_public_url(self):
        s = self.server(start=False)
        out = s.cli("config")
        self.assertEqual((out["PUSHGATE_TLS_CERT"], out["PUSHGATE_TLS_KEY"]),
                         (self.cert, self.key))
        self.assertTrue(out["PUSHGATE_PUBLIC_URL"].startswith("https://"), out)

    def serve_fails(self, env, needle):
        s = self.server(env=env, start=False)
        s.cli_run("migrate", check=True)
        r = subprocess.run([s.binary, "serve"], env=s.env, cwd=s.dir, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn("cannot set up TLS", r.stderr)
        self.assertIn(needle, r.stderr)

    def test_an_unusable_certificate_stops_the_start(self):
        bad = os.path.join(self.tmp, "missing.pem")
        self.serve_fails({"PUSHGATE_TLS_CERT": bad}, bad)

    def test_an_encrypted_key_is_refused_without_a_prompt(self):
        with open(self.key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        path = os.path.join(self.tmp, "encrypted.pem")
        write_atomically(path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret passphrase")))
        self.serve_fails({"PUSHGATE_TLS_KEY": path}, path)


if __name__ == "__main__":
    harness.main()
