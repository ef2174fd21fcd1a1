#!/usr/bin/python3
"""Self-test of the harness parts that do not need pushgated: PgCluster and SmtpSink.
If these fail, every other integration test is suspect."""

import os
import smtplib
import socket
import threading
import time
from email.message import EmailMessage

import harness


def _send(port, subject, to="alice@example.com", body="hello\nhttp://x/r/tok\n"):
    msg = EmailMessage()
    msg["From"] = "pushgate@localhost"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
        s.send_message(msg)


class PgClusterTest(harness.TestCase):
    def test_url_connects_as_superuser_pushgate(self):
        out = self.pg.psql("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user")
        self.assertEqual(out.strip(), "pushgate|t")
        self.assertTrue(self.pg.url.startswith(f"postgresql://pushgate@127.0.0.1:{self.pg.port}/"))

    def test_fresh_database_per_class(self):
        name = self.db_url.rsplit("/", 1)[1]
        self.assertEqual(self.pg.psql("SELECT current_database()", db=name).strip(), name)

    def test_stop_closes_port_and_start_reopens_it_with_data_kept(self):
        name = self.db_url.rsplit("/", 1)[1]
        self.pg.psql("CREATE TABLE IF NOT EXISTS kept (x int); INSERT INTO kept VALUES (7)", db=name)
        self.pg.stop()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.pg.port), timeout=2).close()
        self.pg.start()
        self.assertIn("7", self.pg.psql("SELECT x FROM kept", db=name))

    def test_postmaster_is_our_child_running_as_postgres(self):
        # setpriv execs postgres: the child we started *is* the postmaster.
        import pwd
        with open(f"/proc/{self.pg.proc.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        self.assertEqual(status["Name"].strip(), "postgres")
        self.assertEqual(int(status["Uid"].split()[0]), pwd.getpwnam("postgres").pw_uid)
        self.assertEqual(int(status["PPid"].strip()), os.getpid())


class SmtpSinkTest(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.sink = harness.SmtpSink()
        self.addCleanup(self.sink.stop)

    def test_collects_parsed_messages(self):
        _send(self.sink.port, "Link your authenticator")
        m = self.sink.wait_for(lambda m: "Link" in m["Subject"], timeout=5)
        self.assertEqual(m.envelope_to, ["alice@example.com"])
        self.assertIn("http://x/r/tok", harness.text_part(m).splitlines())

    def test_wait_for_is_woken_by_a_later_message(self):
        t = threading.Timer(0.3, _send, args=(self.sink.port, "later"))
        t.start()
        started = time.monotonic()
        m = self.sink.wait_for(lambda m: m["Subject"] == "later", timeout=5)
        t.join()
        self.assertEqual(m["Subject"], "later")
        self.assertLess(time.monotonic() - started, 3)

    def test_wait_for_times_out(self):
        with self.assertRaises(harness.HarnessTimeout):
            self.sink.wait_for(lambda m: False, timeout=0.2)

    def test_stop_and_start_on_same_port(self):
        port = self.sink.port
        self.sink.stop()
        with self.assertRaises(OSError):
            _send(port, "while down")
        self.sink.start()
        self.assertEqual(self.sink.port, port)
        _send(port, "back")
        self.sink.wait_for(lambda m: m["Subject"] == "back", timeout=5)

    def test_reject_with_makes_a_flaky_relay(self):
        self.sink.reject_with = "451 4.3.0 try again later"
        with self.assertRaises(smtplib.SMTPDataError):
            _send(self.sink.port, "refused")
        self.assertEqual(self.sink.attempts, 1)
        self.assertEqual(self.sink.messages, [])
        self.sink.reject_with = None
        _send(self.sink.port, "accepted")
        self.sink.wait_for(lambda m: m["Subject"] == "accepted", timeout=5)


if __name__ == "__main__":
    harness.main()
