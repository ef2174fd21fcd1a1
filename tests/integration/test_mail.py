"""Mail delivery (api.md 4, docs/mail.md): the registration mail through a real SMTP
server, retries across a relay outage and a killed server, cancellation, and file mode."""

import email
import email.policy
import logging
import os
import re
import socket
import ssl
import stat
import threading
import subprocess
import tempfile
import time

import harness

LINK_RE = r"/r/[A-Za-z0-9_-]{43}"


def register(server, app, username, mail_addr):
    r = server.request("POST", "/registration",
                       body={"username": username, "email": mail_addr},
                       headers=server.app_headers(app))
    assert r.status == 201, r
    return r.body["registrationId"]


def delivery(server, app, reg_id):
    r = server.request("GET", f"/registration/{reg_id}", headers=server.app_headers(app))
    assert r.status == 200, r
    return r.body["delivery"]


def delivered(result):
    """Predicate for the mailer's one log line per outcome."""
    return lambda o: o.get("msg") == "mail delivery" and o.get("result") == result


def wait_outcomes(server, result, n, since=0, timeout=10):
    """Wait until the mailer has logged `result` for n distinct outbox rows (from log line
    `since` on). A test that shares its server waits for its own outcomes, so that the next
    test's `since` (taken from the lines read so far) is not older than them."""
    seen = set()

    def pred(o):
        if delivered(result)(o):
            seen.add(o.get("outbox_id"))
        return len(seen) >= n

    server.wait_log(pred, timeout=timeout, since=since)


def link_lines(text, server):
    """Lines of `text` that are exactly <public url>/r/<token>."""
    pattern = re.compile("^" + re.escape(f"http://127.0.0.1:{server.port}") + LINK_RE + "$")
    return [line for line in text.splitlines() if pattern.match(line)]


def assert_no_token_logged(test, server, link):
    token = link.rsplit("/", 1)[1]
    for line in server.logs:
        test.assertNotIn(token, line, "the link token reached a log line")


class Smtp(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = harness.SmtpSink()
        cls.s = cls.class_server(env={"PUSHGATE_SMTP_URL": cls.sink.url})
        cls.app = cls.s.create_app("Acme Bank")

    def test_registration_mail_is_sent(self):
        since = len(self.s.logs)  # the class server has delivered other tests' mail
        reg = register(self.s, self.app, "alice", "alice@example.com")
        m = self.sink.wait_for(lambda m: "alice@example.com" in m.envelope_to)
        self.assertEqual(m.envelope_from, "pushgate@localhost")
        self.assertEqual(m["To"], "alice@example.com")
        self.assertIn("Acme Bank", m["Subject"])
        links = link_lines(harness.text_part(m), self.s)
        self.assertEqual(len(links), 1, harness.text_part(m))
        self.s.wait_log(delivered("sent"), since=since)
        self.assertEqual(delivery(self.s, self.app, reg),
                         {"status": "sent", "attempts": 1, "lastError": None})
        assert_no_token_logged(self, self.s, links[0])

    def test_each_registration_gets_its_own_link(self):
        since = len(self.s.logs)
        register(self.s, self.app, "carol", "carol@example.com")
        register(self.s, self.app, "carol", "carol@example.com")
        mails = self.sink.wait_count(2, lambda m: "carol@example.com" in m.envelope_to)
        wait_outcomes(self.s, "sent", 2, since=since)
        self.assertEqual(len(mails), 2)
        links = {link_lines(harness.text_part(m), self.s)[0] for m in mails}
        self.assertEqual(len(links), 2)


class RelayRejects(harness.TestCase):
    """A relay answering 451: the mail stays queued with the reason; cancelling the
    registration gives the mail up."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = harness.SmtpSink()
        cls.sink.reject_with = "451 4.3.0 try again later"
        cls.s = cls.class_server(env={"PUSHGATE_SMTP_URL": cls.sink.url,
                                      "PUSHGATE_MAIL_RETRY_BASE_MS": "200"})
        cls.app = cls.s.create_app("Flaky Relay Ltd")

    def test_rejected_then_cancelled(self):
        since = len(self.s.logs)
        reg = register(self.s, self.app, "dave", "dave@example.com")
        self.s.wait_log(delivered("queued"), since=since)
        d = delivery(self.s, self.app, reg)
        self.assertEqual(d["status"], "queued", d)
        self.assertGreaterEqual(d["attempts"], 1, d)
        self.assertIn("451", d["lastError"] or "", d)
        r = self.s.request("DELETE", f"/registration/{reg}", headers=self.s.app_headers(self.app))
        self.assertEqual(r.status, 200, r)
        # Nothing is logged when the claim gives a row up: poll, bounded.
        for _ in range(100):
            d = delivery(self.s, self.app, reg)
            if d["status"] != "queued":
                break
            time.sleep(0.1)
        self.assertEqual(d["status"], "failed", d)
        self.assertEqual(d["lastError"], "registration cancelled", d)
        attempts = d["attempts"]
        self.assertEqual(delivery(self.s, self.app, reg)["attempts"], attempts)


class RelayDownAndServerKilled(harness.TestCase):
    def test_mail_survives_relay_outage_and_kill9(self):
        sink = harness.SmtpSink()
        sink.stop()
        env = {"PUSHGATE_SMTP_URL": sink.url, "PUSHGATE_MAIL_RETRY_BASE_MS": "300"}
        s1 = self.server(env=env)
        app = s1.create_app("Outage Bank")
        reg = register(s1, app, "bob", "bob@example.com")
        s1.wait_log(delivered("queued"))
        d = delivery(s1, app, reg)
        self.assertEqual(d["status"], "queued", d)
        self.assertGreaterEqual(d["attempts"], 1, d)
        self.assertTrue(d["lastError"], d)
        s1.kill9()

        sink.start()
        s2 = self.server(env={**env, "PUSHGATE_KEY_FILE": s1.env["PUSHGATE_KEY_FILE"]})
        # Worst case the kill landed inside an attempt: its 120 s lease must run out first.
        m = sink.wait_for(lambda m: "bob@example.com" in m.envelope_to, timeout=150)
        self.assertIn("Outage Bank", m["Subject"])
        self.assertEqual(len(link_lines(harness.text_part(m), s1)), 1)
        s2.wait_log(delivered("sent"))
        d = delivery(s2, app, reg)
        self.assertEqual(d["status"], "sent", d)
        self.assertGreaterEqual(d["attempts"], 2, d)
        self.assertIsNone(d["lastError"], d)


class HangingRelay:
    """An SMTP relay that takes a message's DATA and never answers it: the attempt, and with
    it the outbox row's lease, stays open (up to the 60 s transfer timeout). A relay that is
    merely down refuses the connection, and the failed attempt gives its lease back at once;
    only an attempt under way when its instance dies leaves a lease behind."""

    def __init__(self):
        import asyncio
        from aiosmtpd.controller import Controller
        self.got_data = threading.Event()

        class Handler:
            async def handle_DATA(inner, server, session, envelope):  # noqa: N805
                self.got_data.set()
                await asyncio.sleep(3600)
                return "451 4.3.0 too late"

        self.port = harness.free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                      ready_timeout=10)
        self._controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def stop(self):
        self._controller.stop()


class DeadInstanceLeases(harness.TestCase):
    """docs/mail.md: a killed instance's leases are taken over within seconds by a live
    instance (a restarted one, or a sibling), not after the 120 s lease."""

    def attempt_under_way(self, name):
        """An instance whose attempt to send a registration mail hangs at DATA."""
        relay = HangingRelay()
        self.addCleanup(relay.stop)
        s1 = self.server(env={"PUSHGATE_SMTP_URL": relay.url})
        app = s1.create_app("Lease Bank")
        reg = register(s1, app, name, f"{name}@example.com")
        self.assertTrue(relay.got_data.wait(20), "the attempt did not reach DATA")
        return s1, app, reg

    def assert_leased_for_long(self, recipient):
        """The row is leased well beyond the bound the test then waits: only a takeover of
        the dead instance's lease can send it in time."""
        import psycopg2
        with psycopg2.connect(self.db_url) as c, c.cursor() as cur:
            cur.execute("SELECT extract(epoch FROM lease_until - now()) FROM outbox "
                        "WHERE status = 'queued' AND recipient = %s", (recipient,))
            (left,), = cur.fetchall()
        c.close()
        self.assertGreater(left, 60)

    def test_a_restarted_instance_takes_over_a_killed_ones_lease(self):
        sink = harness.SmtpSink()
        self.addCleanup(sink.stop)
        s1, app, reg = self.attempt_under_way("frank")
        s1.kill9()
        killed = time.monotonic()
        self.assert_leased_for_long("frank@example.com")
        s2 = self.server(env={"PUSHGATE_SMTP_URL": sink.url})
        m = sink.wait_for(lambda m: "frank@example.com" in m.envelope_to, timeout=20)
        self.assertLess(time.monotonic() - killed, 20)
        self.assertIn("Lease Bank", m["Subject"])
        s2.wait_log(delivered("sent"), timeout=10)
        self.assertEqual(delivery(s2, app, reg)["status"], "sent")

    def test_a_running_sibling_takes_over_a_killed_ones_lease(self):
        sink = harness.SmtpSink()
        self.addCleanup(sink.stop)
        s1, app, reg = self.attempt_under_way("grace")
        s2 = self.server(env={"PUSHGATE_SMTP_URL": sink.url})
        # s2 claims every second; s1 lives and beats, so its lease holds
        s2.wait_log(lambda o: o.get("msg") == "mailer started", timeout=10)
        self.assertEqual(sink.messages, [])
        s1.kill9()
        killed = time.monotonic()
        self.assert_leased_for_long("grace@example.com")
        m = sink.wait_for(lambda m: "grace@example.com" in m.envelope_to, timeout=20)
        self.assertLess(time.monotonic() - killed, 20)
        self.assertIn("Lease Bank", m["Subject"])
        s2.wait_log(delivered("sent"), timeout=10)
        self.assertEqual(delivery(s2, app, reg)["status"], "sent")


class FileMode(harness.TestCase):
    server_env = {"PUSHGATE_SMTP_URL": None}

    def test_eml_file_is_written(self):
        s = self.server()
        app = s.create_app("Café Zürich")
        reg = register(s, app, "erin", "erin@example.com")
        s.wait_log(delivered("sent"))
        mail_dir = s.env["PUSHGATE_MAIL_DIR"]
        names = os.listdir(mail_dir)
        self.assertEqual(len(names), 1, names)
        self.assertRegex(names[0], r"^\d{8}T\d{6}Z-\d+\.eml$")
        path = os.path.join(mail_dir, names[0])
        self.assertEqual(stat.S_IMODE(os.stat(mail_dir).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path, "rb") as f:
            raw = f.read()
        self.assertNotIn(b"\n", raw.replace(b"\r\n", b""), "bare LF in the message")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(msg["To"], "erin@example.com")
        self.assertIn("Café Zürich", msg["Subject"])
        self.assertEqual(len(link_lines(harness.text_part(msg), s)), 1, harness.text_part(msg))
        self.assertEqual(delivery(s, app, reg),
                         {"status": "sent", "attempts": 1, "lastError": None})



def relay_address():
    """(host for PUSHGATE_SMTP_URL, address to bind the sink to): the name "localhost",
    which the server never treats as loopback (only an address literal counts:
    outbox_relay_is_loopback), while the traffic stays on 127.0.0.1. Tests send nothing to
    any address outside the loopback range."""
    return "localhost", "127.0.0.1"


class RemoteSink(harness.SmtpSink):
    """harness.SmtpSink on a chosen address; with tls_context it offers STARTTLS."""

    def __init__(self, host, bind, tls_context=None):
        self.host, self.bind, self.tls_context = host, bind, tls_context
        self.connections = 0
        super().__init__()

    @property
    def url(self):
        return f"smtp://{self.host}:{self.port}"

    def start(self):
        from aiosmtpd.controller import Controller
        if self._controller is None:
            kw = {"tls_context": self.tls_context} if self.tls_context else {}
            self._controller = Controller(harness._SmtpHandler(self), hostname=self.bind,
                                          port=self.port, ready_timeout=10,
                                          server_hostname="relay.test", **kw)
            self._controller.start()
        return self


def self_signed_context(directory):
    key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=relay.test", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def mail_outcomes(server):
    return [o for o in server.json_logs() if o.get("msg") == "mail delivery"]


class SmtpTls(harness.TestCase):
    """PUSHGATE_SMTP_TLS (api.md 10): to a relay that is not a loopback address literal,
    TLS is required by default: a relay that offers no STARTTLS (a path attacker stripped
    it) gets nothing -- not even the envelope's DATA -- and the row stays queued with the
    reason. `optional` sends in clear then. Every outcome logs its TLS state."""

    def setUp(self):
        super().setUp()
        self.host, self.bind = relay_address()

    def start(self, sink, **env):
        s = self.server(env={"PUSHGATE_SMTP_URL": sink.url,
                             "PUSHGATE_MAIL_RETRY_BASE_MS": "600000", **env})
        return s, s.create_app("Tls Bank")

    def test_required_by_default_and_relay_without_starttls_gets_nothing(self):
        sink = RemoteSink(self.host, self.bind)
        self.addCleanup(sink.stop)
        s, app = self.start(sink)
        reg = register(s, app, "ivan", "ivan@example.com")
        s.wait_log(lambda o: o.get("msg") == "mail delivery")
        self.assertEqual((sink.attempts, sink.messages), (0, []), "a message went in clear")
        out = mail_outcomes(s)[0]
        self.assertEqual(out["result"], "queued", out)
        self.assertEqual(out["tls"], "none", out)
        self.assertIn("STARTTLS", out["error"], out)
        d = delivery(s, app, reg)
        self.assertEqual(d["status"], "queued", d)
        self.assertIn("no STARTTLS", d["lastError"], d)
        started = next(o for o in s.json_logs() if o.get("msg") == "mailer started")
        self.assertEqual((started["smtp_tls"], started["loopback_relay"]), ("required", "no"))

    def test_optional_sends_in_clear_and_says_so(self):
        sink = RemoteSink(self.host, self.bind)
        self.addCleanup(sink.stop)
        s, app = self.start(sink, PUSHGATE_SMTP_TLS="optional")
        register(s, app, "judy", "judy@example.com")
        sink.wait_for(lambda m: "judy@example.com" in m.envelope_to)
        s.wait_log(delivered("sent"))
        self.assertEqual(mail_outcomes(s)[0]["tls"], "none")

    def test_starttls_is_attempted_and_an_untrusted_relay_gets_nothing(self):
        """A relay offering STARTTLS with a certificate nobody vouches for: the handshake
        is attempted (tls=starttls in the log) and fails verification; nothing is sent."""
        with tempfile.TemporaryDirectory() as d:
            ctx = self_signed_context(d)
        sink = RemoteSink(self.host, self.bind, tls_context=ctx)
        self.addCleanup(sink.stop)
        quiet = logging.getLogger("mail.log")  # aiosmtpd's traceback of the refused handshake
        quiet.disabled = True
        self.addCleanup(setattr, quiet, "disabled", False)
        s, app = self.start(sink)
        reg = register(s, app, "kim", "kim@example.com")
        s.wait_log(delivered("queued"))
        self.assertEqual((sink.attempts, sink.messages), (0, []))
        self.assertEqual(mail_outcomes(s)[0]["tls"], "starttls")
        self.assertEqual(delivery(s, app, reg)["status"], "queued")

    def test_loopback_relay_may_go_without_tls(self):
        sink = harness.SmtpSink()  # 127.0.0.1 literal, no STARTTLS
        self.addCleanup(sink.stop)
        s, app = self.start(sink)
        register(s, app, "lee", "lee@example.com")
        sink.wait_for(lambda m: "lee@example.com" in m.envelope_to)
        s.wait_log(delivered("sent"))
        self.assertEqual(mail_outcomes(s)[0]["tls"], "none")

    def test_none_never_starts_tls(self):
        with tempfile.TemporaryDirectory() as d:
            ctx = self_signed_context(d)
        sink = RemoteSink(self.host, self.bind, tls_context=ctx)
        self.addCleanup(sink.stop)
        s, app = self.start(sink, PUSHGATE_SMTP_TLS="none")
        register(s, app, "max", "max@example.com")
        sink.wait_for(lambda m: "max@example.com" in m.envelope_to)
        s.wait_log(delivered("sent"))
        self.assertEqual(mail_outcomes(s)[0]["tls"], "none")


if __name__ == "__main__":
    harness.main()
