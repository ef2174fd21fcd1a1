"""The tamper-evident audit log: triggers record every security-relevant change,
the server seals them into a hash chain, `pushgated audit verify` detects tampering."""
import json

import harness
from test_push import POOL, PushBase


class Audit(PushBase):
    def events(self):
        db = self.db_url.rsplit("/", 1)[1]
        out = self.pg.psql("SELECT event || ' ' || subject FROM audit_log ORDER BY id", db=db)
        return out.split("\n")

    def sealed_all(self):
        r = self.s.cli_run("audit", "verify")
        return r, json.loads(r.stdout) if r.stdout.strip() else None

    def wait_sealed(self):
        return harness.poll(self.sealed_all,
                            lambda rv: rv[1] and rv[1].get("unsealed") == 0, timeout=20)

    def test_chain_records_verifies_and_detects_tampering(self):
        user, (dev,) = self.new_user()
        held = POOL.submit(self.auth, user)
        self.answer(dev, self.challenge_for(dev))
        rid = held.result(30).body["requestId"]
        events = self.events()
        for e in (f"application.created {self.app['applicationId']}", "registration.created",
                  "registration.retrieved", "registration.completed",
                  f"device.linked {dev.device_id}", f"auth.created {rid}",
                  f"auth.accepted {rid}"):
            self.assertTrue(any(x.startswith(e) for x in events), (e, events))
        r, result = self.wait_sealed()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(result["ok"], result)
        self.assertGreaterEqual(result["sealed"], 7)
        self.assertGreaterEqual(result["blocks"], 1)
        self.assertEqual(len(result["headHash"]), 64)
        db = self.db_url.rsplit("/", 1)[1]
        self.pg.psql("UPDATE audit_log SET data = '{\"reason\": null}' "
                     "WHERE event = 'auth.accepted'", db=db)
        r, result = self.sealed_all()
        self.assertEqual(r.returncode, 1)
        self.assertEqual((result["ok"], result["reason"]),
                         (False, "a row was changed after sealing"), result)


class AuditDelete(Audit):
    """A class of its own: a fresh database, since the test breaks the chain."""
    test_chain_records_verifies_and_detects_tampering = None

    def test_a_deleted_row_breaks_the_chain(self):
        user, _ = self.new_user()
        self.wait_sealed()
        db = self.db_url.rsplit("/", 1)[1]
        self.pg.psql("DELETE FROM audit_log WHERE id = (SELECT min(id) + 1 FROM audit_log)", db=db)
        r, result = self.sealed_all()
        self.assertEqual((r.returncode, result["ok"], result["reason"]),
                         (1, False, "a row of a sealed block was deleted or inserted"), result)
        self.assertEqual(result["brokenAt"], 1, result)


if __name__ == "__main__":
    harness.main()
