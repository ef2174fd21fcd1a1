"""The tamper-evident audit log: triggers record every security-relevant change,
the server seals them into a hash chain, `pushgated audit verify` detects tampering."""
import json
import os
import subprocess

import psycopg2

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

    def wait_sealed(self, at_least=0):
        """verify's answer once nothing is unsealed (and at_least rows are sealed: a
        verify that walks the blocks while the sealer seals more counts the new rows
        in neither figure)."""
        return harness.poll(self.sealed_all,
                            lambda rv: rv[1] and rv[1].get("unsealed") == 0 and
                            rv[1].get("sealed", 0) >= at_least, timeout=20)

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
        r, result = self.wait_sealed(at_least=7)
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


def db_name(url):
    return url.rsplit("/", 1)[1]


def verify(server, *args, env=None):
    """`pushgated audit verify [args]` -> (CompletedProcess, parsed stdout or None)."""
    r = server.cli_run("audit", "verify", *args, env=env)
    return r, json.loads(r.stdout) if r.stdout.strip() else None


class AuditTamper(Audit):
    """Edits, insertions and deletions inside sealed blocks, each named by its first bad row,
    each undone again (the chain verifies once more): one database for the three."""
    test_chain_records_verifies_and_detects_tampering = None

    def sql(self, q):
        return self.pg.psql(q, db=db_name(self.db_url)).strip()

    def assertBroken(self, reason, bad_row, block):
        r, result = self.sealed_all()
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertEqual((result["ok"], result["reason"], result["firstBadRow"],
                          result["brokenAt"]), (False, reason, bad_row, block), result)

    def assertIntact(self):
        r, result = self.sealed_all()
        self.assertEqual((r.returncode, result["ok"]), (0, True), result)

    def test_edit_insert_delete_each_name_the_first_bad_row(self):
        self.new_user()
        # two rows committed together are sealed together: a deleted row has a successor
        self.sql("INSERT INTO audit_log (event, subject) VALUES ('test.row', 'a'), "
                 "('test.row', 'b')")
        self.wait_sealed()
        seq, first, second = self.sql(
            "SELECT seal_seq, min(id), (array_agg(id ORDER BY id))[2] FROM audit_log "
            "GROUP BY seal_seq HAVING count(*) >= 2 ORDER BY seal_seq LIMIT 1").split("|")
        seq, first, second = int(seq), int(first), int(second)
        self.sql(f"CREATE TABLE saved AS SELECT * FROM audit_log WHERE id = {second}")

        self.sql(f"UPDATE audit_log SET subject = 'someone else' WHERE id = {second}")
        self.assertBroken("a row was changed after sealing", second, seq)
        self.sql(f"UPDATE audit_log a SET subject = s.subject FROM saved s WHERE a.id = {second}")
        self.assertIntact()

        forged = self.sql(
            "INSERT INTO audit_log (app_id, event, subject, seal_seq, seal_mac) "
            f"VALUES (NULL, 'user.push_unlocked', 'mallory', {seq}, "
            "(SELECT seal_mac FROM audit_log WHERE id = " + str(first) + ")) RETURNING id")
        self.assertBroken("a row of a sealed block was deleted or inserted", int(forged), seq)
        self.sql(f"DELETE FROM audit_log WHERE id = {forged}")
        self.assertIntact()

        self.sql(f"DELETE FROM audit_log WHERE id = {first}")
        self.assertBroken("a row of a sealed block was deleted or inserted", second, seq)


class AuditResealed(Audit):
    """The review's reproduction: edit a row, delete the seals, seal again by SQL."""
    test_chain_records_verifies_and_detects_tampering = None

    def test_resealing_with_sql_access_is_detected(self):
        self.new_user()
        self.wait_sealed()
        db = db_name(self.db_url)
        first = int(self.pg.psql("SELECT min(id) FROM audit_log", db=db))
        self.pg.psql("UPDATE audit_log SET data = '{\"reason\": null}' "
                     "WHERE event = 'registration.completed'", db=db)
        self.pg.psql("DELETE FROM audit_seals", db=db)
        # 007's SQL sealer is gone: the database cannot compute a seal any more
        with self.assertRaises(RuntimeError):
            self.pg.psql("SELECT audit_seal(10000, 0)", db=db)
        # the best an SQL writer can do: a chain of plain hashes in the MACs' places
        self.pg.psql(
            "UPDATE audit_log SET seal_seq = 1, seal_mac = sha256(convert_to(id::text || event "
            "|| subject || data::text, 'UTF8'));"
            "INSERT INTO audit_seals (seq, rows, first_id, last_id, prev_mac, row_mac, mac) "
            "SELECT 1, count(*), min(id), max(id), NULL, sha256(string_agg(seal_mac, '' ORDER BY "
            "id)), sha256(sha256(string_agg(seal_mac, '' ORDER BY id))) FROM audit_log", db=db)
        r, result = self.sealed_all()
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertEqual((result["ok"], result["reason"], result["firstBadRow"]),
                         (False, "a row was changed after sealing", first), result)


class AuditCutTail(Audit):
    """Blocks cut off the end leave a chain that verifies on its own; --expect-head with a
    head recorded earlier does not. Nor does the server re-seal rows handed back to it."""
    test_chain_records_verifies_and_detects_tampering = None

    def test_expect_head_detects_a_cut_tail_and_the_sealer_refuses_a_replaced_chain(self):
        self.new_user()
        _, early = self.wait_sealed()
        self.new_user()
        r, late = harness.poll(self.sealed_all, lambda rv: rv[1] and rv[1].get("unsealed") == 0
                               and rv[1]["blocks"] > early["blocks"], timeout=30)
        r, result = verify(self.s, "--expect-head", early["headHash"])
        self.assertEqual((r.returncode, result["ok"]), (0, True), result)
        r, _ = verify(self.s, "--expect-head", "not-a-hash")
        self.assertEqual(r.returncode, 2, r.stderr)

        db = db_name(self.db_url)
        self.pg.psql(f"DELETE FROM audit_log WHERE seal_seq > {early['blocks']};"
                     f"DELETE FROM audit_seals WHERE seq > {early['blocks']}", db=db)
        r, result = self.sealed_all()  # on its own, a shorter chain is a valid chain
        self.assertEqual((r.returncode, result["ok"], result["headHash"]),
                         (0, True, early["headHash"]), result)
        r, result = verify(self.s, "--expect-head", late["headHash"])
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertEqual((result["ok"], result["reason"]),
                         (False, "the expected head is not in the chain (cut or replaced)"),
                         result)

        # hand every row back unsealed, seals deleted: the server would re-seal edited
        # rows under its key; it notices that its chain went backwards and stops instead
        since = len(self.s.logs)
        self.pg.psql("UPDATE audit_log SET seal_seq = NULL, seal_mac = NULL, "
                     "subject = 'edited' WHERE id = (SELECT min(id) FROM audit_log);"
                     "UPDATE audit_log SET seal_seq = NULL, seal_mac = NULL;"
                     "DELETE FROM audit_seals", db=db)
        self.s.wait_log(lambda o: o.get("msg", "").startswith("audit chain cut or replaced"),
                        timeout=20, since=since)
        r, result = verify(self.s, "--expect-head", early["headHash"])
        self.assertEqual((r.returncode, result["ok"]), (1, False), result)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM audit_seals", db=db).strip(), "0")


class AuditSealing(harness.TestCase):
    """When rows are sealed: only once committed, in time, never with a short seal age."""

    def q(self, sql, *args):
        c = psycopg2.connect(self.db_url)
        try:
            cur = c.cursor()
            cur.execute(sql, args)
            rows = cur.fetchall() if cur.description else None
            c.commit()
            return rows
        finally:
            c.close()

    def append(self, subject):
        return self.q("INSERT INTO audit_log (event, subject) VALUES ('test.row', %s) "
                      "RETURNING id", subject)[0][0]

    def test_a_transaction_held_open_past_the_seal_age_is_no_false_alarm(self):
        s = self.server(env={"PUSHGATE_AUDIT_SEAL_AGE": "5"})
        held = psycopg2.connect(self.db_url)
        self.addCleanup(held.close)
        cur = held.cursor()
        cur.execute("INSERT INTO audit_log (event, subject) VALUES ('test.row', 'held') "
                    "RETURNING id")
        held_id = cur.fetchone()[0]
        later = self.append("later")
        self.assertGreater(later, held_id)
        # the later row is sealed (5 s + a tick) while the earlier one is still uncommitted
        # (and invisible to verify)
        sealed = lambda rv: rv[1] and rv[1].get("ok") and rv[1].get("unsealed") == 0  # noqa: E731
        r, result = harness.poll(lambda: verify(s), sealed, timeout=60, interval=0.5)
        self.assertEqual(r.returncode, 0, r.stderr)
        held.commit()  # written long before, committed after a block past its id was sealed
        r, result = harness.poll(lambda: verify(s), lambda rv: rv[1] and (
            not rv[1]["ok"] or rv[1]["unsealed"] == 0), timeout=60, interval=0.5)
        self.assertEqual((r.returncode, result["ok"]), (0, True), result)
        self.assertEqual(result["sealed"], 2, result)
        (seq_held,), (seq_later,) = self.q("SELECT seal_seq FROM audit_log WHERE id IN (%s, %s) "
                                           "ORDER BY id", held_id, later)
        self.assertGreater(seq_held, seq_later)

    def test_rows_left_unsealed_too_long_fail(self):
        s = self.server(env={"PUSHGATE_AUDIT_SEAL_AGE": "3600"})  # nothing gets sealed
        fresh = self.append("fresh")
        old = self.q("INSERT INTO audit_log (at, event, subject) VALUES "
                     "(clock_timestamp() - interval '30 minutes', 'test.row', 'old') "
                     "RETURNING id")[0][0]
        r, result = verify(s)  # 30 minutes is less than twice an hour
        self.assertEqual((r.returncode, result["ok"], result["unsealed"]), (0, True, 2), result)
        r, result = verify(s, env={"PUSHGATE_AUDIT_SEAL_AGE": "600"})
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertEqual((result["ok"], result["reason"], result["firstBadRow"]),
                         (False, "rows were left unsealed too long", old), result)
        self.assertLess(fresh, old)

    def test_a_seal_age_below_the_statement_timeout_is_refused(self):
        s = self.server(start=False)
        r = s.cli_run("serve", env={"PUSHGATE_AUDIT_SEAL_AGE": "4"}, timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("PUSHGATE_AUDIT_SEAL_AGE must be 0 or at least the statement timeout",
                      r.stderr)
        for age in ("0", "5"):
            r = s.cli_run("config", env={"PUSHGATE_AUDIT_SEAL_AGE": age})
            self.assertEqual(r.returncode, 0, r.stderr)


FIXTURE_V12 = os.path.join(harness.HERE, "fixtures", "schema_v12.sql")


class AuditUpgrade(harness.TestCase):
    """A database sealed by 007's plain SHA-256 chain is re-keyed once by `pushgated migrate`,
    which checks the old chain first and refuses when it does not verify."""

    def old_database(self):
        url = self.pg.create_database()
        r = subprocess.run([os.path.join(harness.PG_BIN, "psql"), "-X", "-q", "-v",
                            "ON_ERROR_STOP=1", "-d", url, "-f", FIXTURE_V12],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        db = db_name(url)
        for i in range(3):  # two old blocks of 3 rows, then a row the old sealer left
            for j in range(3):
                self.pg.psql(f"SELECT audit_append(NULL, 'test.row', 'r{i}{j}', "
                             f"'{{\"n\": {j}}}')", db=db)
            if i < 2:
                self.pg.psql("SELECT audit_seal(10000, 0)", db=db)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM audit_seals", db=db).strip(), "2")
        return url, db

    def test_an_old_chain_is_rekeyed_once(self):
        url, db = self.old_database()
        s = self.server(db_url=url, start=False)
        key = s.env["PUSHGATE_KEY_FILE"]
        if os.path.exists(key):
            os.unlink(key)
        r = s.cli_run("migrate")  # no key file: the schema is migrated, the chain waits
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("does not exist", r.stderr)
        self.assertFalse(os.path.exists(key), "migrate must not invent a master key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(key, 0o600)
        r, result = verify(s)
        self.assertEqual((r.returncode, result["ok"], result["reason"]),
                         (1, False, "the old audit chain is not re-keyed yet (run pushgated "
                                    "migrate)"), result)
        r = s.cli_run("migrate")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("audit chain re-keyed", r.stderr)
        r, result = verify(s)
        self.assertEqual((r.returncode, result["ok"], result["blocks"], result["sealed"],
                          result["unsealed"]), (0, True, 2, 6, 3), result)
        r = s.cli_run("migrate")  # once: nothing left to re-key
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("re-keyed", r.stderr)
        r, again = verify(s)
        self.assertEqual(again["headHash"], result["headHash"])
        # the rows were sealed by the SQL sealer, they are kept as they were: an edit shows
        self.pg.psql("UPDATE audit_log SET subject = 'x' WHERE subject = 'r11'", db=db)
        r, result = verify(s)
        self.assertEqual((r.returncode, result["reason"], result["brokenAt"]),
                         (1, "a row was changed after sealing", 2), result)

    def test_an_old_chain_that_does_not_verify_is_not_rekeyed(self):
        url, db = self.old_database()
        self.pg.psql("UPDATE audit_log SET subject = 'x' WHERE subject = 'r01'", db=db)
        s = self.server(db_url=url, start=False)
        with open(s.env["PUSHGATE_KEY_FILE"], "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        r = s.cli_run("migrate")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("REFUSED: the old audit chain does not verify (block 1: a row was "
                      "changed after sealing)", r.stderr)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM audit_seals_v1", db=db).strip(), "2")
        r, result = verify(s)
        self.assertEqual((r.returncode, result["ok"]), (1, False), result)


if __name__ == "__main__":
    harness.main()
