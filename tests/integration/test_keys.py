"""The server's signing keys at rest (server/io/signer.c): each sealed blob is bound to its
row's kid, so a database writer who moves another key's blob into the current row makes
the server refuse it (at start, and when switching to a rotated key) instead of signing
with the moved key. Keys sealed before the kid was bound are re-sealed once at start."""
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import harness

LEGACY_AAD = b"server-signing-key"


def aad_for(kid):
    return b"server-signing-key:" + kid.encode()


class SigningKeys(harness.TestCase):
    def setUp(self):
        super().setUp()
        # a fresh database per test: each test tampers with server_keys
        self.db_url = self.pg.create_database()
        self.dbname = self.db_url.rsplit("/", 1)[1]

    def sql(self, q):
        return self.pg.psql(q, db=self.dbname).strip()

    def master(self, s):
        with open(s.env["PUSHGATE_KEY_FILE"]) as f:
            return bytes.fromhex(f.read().strip())

    def blob(self, kid):
        return bytes.fromhex(self.sql(f"SELECT encode(sealed, 'hex') FROM server_keys "
                                      f"WHERE kid = '{kid}'"))

    def opens(self, s, blob, aad):
        """The plaintext when blob (aead.h: 0x01 || nonce || ct || tag) opens with aad."""
        try:
            return AESGCM(self.master(s)).decrypt(blob[1:13], blob[13:], b"\x01" + aad)
        except Exception:
            return None

    def current_kid(self):
        return self.sql("SELECT kid FROM server_keys WHERE status = 'current'")

    def refused_start(self, msg):
        s = self.server(start=False)
        with self.assertRaises(harness.ServerExited):
            s.start(timeout=30)
        self.assertNotEqual(s.returncode, 0)
        self.assertTrue(any(o.get("msg", "").startswith(msg) and o.get("level") == "error"
                            for o in s.json_logs()), "\n".join(s.logs))
        self.assertFalse(any(o.get("msg") == "listening" for o in s.json_logs()))

    def test_sealed_for_its_kid(self):
        s = self.server()
        kid = self.current_kid()
        blob = self.blob(kid)
        self.assertIsNotNone(self.opens(s, blob, aad_for(kid)))
        self.assertIsNone(self.opens(s, blob, LEGACY_AAD))

    def test_a_retired_keys_blob_in_the_current_row_refuses_start(self):
        """Before, the constant aad opened the moved blob and the server signed with the
        retired key under the current kid."""
        s = self.server()
        old = self.current_kid()
        s.stop()
        new = s.cli("key", "rotate")["kid"]
        self.sql(f"UPDATE server_keys SET sealed = (SELECT sealed FROM server_keys "
                 f"WHERE kid = '{old}') WHERE kid = '{new}'")
        self.refused_start("cannot open the signing key of its row")

    def test_keyswap_refuses_a_moved_blob_and_keeps_its_key(self):
        """A running instance told of a "rotation" whose current row holds another key's
        blob keeps signing with the key it has (logged) instead of switching."""
        s = self.server()
        k1 = self.current_kid()
        k2 = s.cli("key", "rotate")["kid"]
        s.wait_log(lambda o: o.get("msg") == "signing key changed" and o.get("kid") == k2)
        mark = len(s.logs)
        # k1 made current again, but holding k2's sealed blob
        self.sql("BEGIN; UPDATE server_keys SET status = 'retired' WHERE status = 'current'; "
                 f"UPDATE server_keys SET status = 'current', sealed = (SELECT sealed FROM "
                 f"server_keys WHERE kid = '{k2}') WHERE kid = '{k1}'; "
                 "SELECT pg_notify('pushgate', 'k:'); COMMIT")
        s.wait_log(lambda o: o.get("msg", "").startswith("cannot open the rotated signing key")
                   and o.get("level") == "error", since=mark, timeout=20)
        self.assertFalse(any(o.get("msg") == "signing key changed" and o.get("kid") == k1
                             for o in s.json_logs()[mark:]), "\n".join(s.logs))

    def make_legacy(self, s, kid):
        """Re-seals kid's row as a server before the kid was bound would have."""
        der = self.opens(s, self.blob(kid), aad_for(kid))
        self.assertIsNotNone(der)
        nonce = os.urandom(12)
        legacy = b"\x01" + nonce + AESGCM(self.master(s)).encrypt(nonce, der, b"\x01" +
                                                                  LEGACY_AAD)
        self.sql(f"UPDATE server_keys SET sealed = '\\x{legacy.hex()}'::bytea "
                 f"WHERE kid = '{kid}'")

    def test_legacy_rows_are_resealed_once_at_start(self):
        s = self.server()
        old = self.current_kid()
        s.stop()
        new = s.cli("key", "rotate")["kid"]
        for kid in (old, new):
            self.make_legacy(s, kid)
        s2 = self.server()
        for kid in (old, new):
            s2.wait_log(lambda o: o.get("msg") == "signing key re-sealed for its kid"
                        and o.get("kid") == kid)
            self.assertIsNone(self.opens(s, self.blob(kid), LEGACY_AAD))
            self.assertIsNotNone(self.opens(s, self.blob(kid), aad_for(kid)))
        self.assertEqual(s2.request("GET", "/readyz").status, 200)
        s2.stop()
        s3 = self.server()  # nothing left to re-seal
        self.assertFalse(any("re-sealed" in o.get("msg", "") for o in s3.json_logs()))

    def test_a_legacy_blob_of_another_key_refuses_start(self):
        """The one-time re-seal opens a legacy blob only as its row's own key: an old
        (e.g. backed-up) legacy blob of a retired key moved into the current row is
        refused, not re-sealed for the current kid."""
        s = self.server()
        old = self.current_kid()
        s.stop()
        new = s.cli("key", "rotate")["kid"]
        self.make_legacy(s, old)
        self.sql(f"UPDATE server_keys SET sealed = (SELECT sealed FROM server_keys "
                 f"WHERE kid = '{old}') WHERE kid = '{new}'")
        self.refused_start("a signing key row holds another key")


if __name__ == "__main__":
    harness.main()
