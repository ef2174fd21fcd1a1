"""sql/schema.sql is the migrated schema (sql/README.md): a reader opens one file.

- A fresh database migrated by this pushgated dumps (pg_dump --schema-only, normalized by
  schemadump.py) exactly as sql/schema.sql: change sql/ and run scripts/schema-dump.
- A database migrated by an earlier release (fixtures/schema_v12.sql: version 12, before
  sql/013 redefined the push functions and their older bodies were removed from 006-011)
  ends, after this `pushgated migrate`, with the same schema as a fresh one.
- Migrating again changes nothing.
Every failure shows the diff against sql/schema.sql."""
import os
import subprocess

import harness
import schemadump

FIXTURE_V12 = os.path.join(harness.HERE, "fixtures", "schema_v12.sql")


class Schema(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with open(schemadump.SNAPSHOT) as f:
            cls.snapshot = f.read()

    def assertSchema(self, db_url, what):
        got = schemadump.dump(db_url)
        if got != self.snapshot:
            self.fail(f"{what} differs from sql/schema.sql (run scripts/schema-dump after "
                      f"changing sql/, and commit both):\n"
                      + schemadump.diff(self.snapshot, got, what))

    def load(self, db_url, path):
        r = subprocess.run([os.path.join(harness.PG_BIN, "psql"), "-X", "-q", "-v",
                            "ON_ERROR_STOP=1", "-d", db_url, "-f", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_fresh_migration_is_the_snapshot(self):
        schemadump.migrate(self.db_url)
        self.assertSchema(self.db_url, "a fresh migration")
        schemadump.migrate(self.db_url)
        self.assertSchema(self.db_url, "a fresh migration, migrated again")

    def test_upgrade_from_version_12_is_the_snapshot(self):
        url = self.pg.create_database()
        self.load(url, FIXTURE_V12)
        self.assertEqual(self.pg.psql("SELECT max(version) FROM schema_migrations",
                                      db=url.rsplit("/", 1)[1]).strip(), "12")
        schemadump.migrate(url)
        self.assertSchema(url, "version 12 after migrate")


if __name__ == "__main__":
    harness.main()
