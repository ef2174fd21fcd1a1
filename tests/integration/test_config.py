#!/usr/bin/python3
"""pushgated config, and the start-up check of the PUSHGATE_* variables (server/base/config.c's
config_vars[]), run against the real binary. No database is needed: the configuration is
checked before any subcommand touches one."""

import json
import os
import subprocess
import unittest

import harness


def run(*args, **env):
    """pushgated with only the given PUSHGATE_* variables (none from the caller's environment)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    base.update(env)
    return subprocess.run([harness.pushgated_path(), *args], env=base, capture_output=True,
                          text=True, timeout=30)


class ConfigCommand(unittest.TestCase):
    def test_prints_every_variable_with_its_effective_value(self):
        r = run("config", PUSHGATE_DATABASE_URL="postgresql:///x", PUSHGATE_LISTEN="[::1]:0",
                PUSHGATE_DB_POOL_SIZE="8", PUSHGATE_LOG_FORMAT="json",
                PUSHGATE_PUBLIC_URL="https://push.example.com/", PUSHGATE_PORT_FILE="")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["PUSHGATE_LISTEN"], "[::1]:0")
        self.assertEqual(out["PUSHGATE_DB_POOL_SIZE"], "8")
        self.assertEqual(out["PUSHGATE_LOG_FORMAT"], "json")
        self.assertEqual(out["PUSHGATE_PUBLIC_URL"], "https://push.example.com")
        self.assertIsNone(out["PUSHGATE_PORT_FILE"])  # empty is unset
        self.assertEqual(out["PUSHGATE_MAIL_RETRY_BASE_MS"], "5000")
        self.assertEqual(out["PUSHGATE_AUDIT_SEAL_AGE"], "10")
        self.assertEqual(out["PUSHGATE_REQUIRE_CODE"], "false")

    def test_secrets_are_never_printed(self):
        r = run("config", PUSHGATE_DATABASE_URL="postgresql://u:dbpw@127.0.0.1/x",
                PUSHGATE_ADMIN_TOKEN="tok3n-0123456789abcdef0123456789abcdef", PUSHGATE_SMTP_URL="smtp://u:mailpw@127.0.0.1:25",
                PUSHGATE_SMS_WEBHOOK_URL="https://sms.example.com/?key=smskey")
        self.assertEqual(r.returncode, 0, r.stderr)
        for secret in ("dbpw", "tok3n-0123456789abcdef0123456789abcdef", "mailpw", "smskey"):
            self.assertNotIn(secret, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["PUSHGATE_ADMIN_TOKEN"], "(secret)")
        self.assertEqual(out["PUSHGATE_DATABASE_URL"], "(secret)")

    def test_a_bad_value_stops_every_subcommand_naming_the_variable(self):
        for name, value in (("PUSHGATE_AUDIT_SEAL_AGE", "3601"),
                            ("PUSHGATE_MAIL_RETRY_BASE_MS", "0"),
                            ("PUSHGATE_DRAIN_SECONDS", "ten")):
            for cmd in ("config", "serve", "migrate"):
                r = run(cmd, PUSHGATE_DATABASE_URL="postgresql:///x", **{name: value})
                self.assertEqual(r.returncode, 2, (name, cmd))
                self.assertIn(f"configuration error: {name} must be an integer", r.stderr)
                self.assertEqual(r.stdout, "")

    def test_usage(self):
        r = run("config", "extra", PUSHGATE_DATABASE_URL="postgresql:///x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: pushgated config", r.stderr)


if __name__ == "__main__":
    harness.main()
