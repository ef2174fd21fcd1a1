"""Transaction-bound answers and self-contained evidence, against the real server (api.md
5, 6.3, 7, 7.1): a device's answer must carry chal, the SHA-256 of the exact challenge JWS
it was sent, and the decided auth object carries that JWS as `challenge`, so that
`pushgated evidence verify` proves the decision with the JWKS and the device's public key
alone (GET /users/{u}/devices). The server stores each challenge's JWS before it is first
handed out (sql/030_chal.sql); every later handout, on any instance, is that same JWS."""
import json
import os
import subprocess
import tempfile

import device
import harness
from test_push import POOL, PushBase


def one_byte_changed(jws):
    """One base64url character in the middle of the payload, replaced by another one."""
    i = jws.index(".") + 10
    return jws[:i] + ("B" if jws[i] == "A" else "A") + jws[i + 1:]


class ChalBinding(PushBase):
    def status_of(self, rid):
        return self.s.request("GET", f"/auth/{rid}", headers=self.h).body["status"]

    def test_an_answer_without_the_right_chal_decides_nothing(self):
        user, (dev, other) = self.new_user(devices=2)
        rid = self.auth_async(user, type="authorization", message="Pay 250.00 EUR to Bob",
                              transaction={"amount": "250.00", "payee": "Bob"}).body["requestId"]
        ch = self.challenge_for(dev, rid)
        self.challenge_for(other, rid)
        mine, theirs = dev.challenges[rid], other.challenges[rid]
        self.assertNotEqual(mine, theirs)  # one JWS per device (and per signing)
        for name, chal in (("missing", None),
                           ("the hash of another challenge", device.chal_of(theirs)),
                           ("the hash of this challenge with one byte changed",
                            device.chal_of(one_byte_changed(mine))),
                           ("not a hash at all", "not-a-sha256")):
            with self.subTest(name):
                self.assertProblem(self.answer(dev, ch, chal=chal), 400, "invalid_response")
                self.assertEqual(self.status_of(rid), "pending")
        # the right nonce and chal from the other device's view of the same request: no
        self.assertProblem(self.answer(dev, ch, chal=device.chal_of(theirs), decision="deny"),
                           400, "invalid_response")
        r = self.answer(dev, ch)
        self.assertEqual(r.body, {"requestId": rid, "status": "accepted"})
        auth = self.s.request("GET", f"/auth/{rid}", headers=self.h).body
        self.assertEqual((auth["status"], auth["deviceId"], auth["challenge"]),
                         ("accepted", dev.device_id, mine))
        _, payload = device.verify(auth["evidence"], dev.jwk())
        self.assertEqual(payload["chal"], device.chal_of(mine))

    def test_every_handout_is_the_stored_jws_on_any_instance(self):
        user, (dev,) = self.new_user()
        rid = self.auth_async(user).body["requestId"]
        first = self.poll(dev, 0)
        again = self.poll(dev, 0)
        peer = self.server()  # another instance of the same database
        there = self.poll(dev, 0, server=peer)
        self.assertEqual([c["challenge"] for c in first], [c["challenge"] for c in again])
        self.assertEqual([c["challenge"] for c in first], [c["challenge"] for c in there])
        self.assertEqual(self.q("SELECT jws FROM auth_challenges WHERE request_id = %s", rid),
                         [(first[0]["challenge"],)])
        _, ch = dev.verify_challenge(there[0]["challenge"])
        self.assertEqual(self.answer(dev, ch, server=peer).body["status"], "accepted")
        self.assertEqual(self.s.request("GET", f"/auth/{rid}", headers=self.h)
                         .body["challenge"], first[0]["challenge"])

    def test_a_challenge_delivered_to_a_held_poll_is_stored_first(self):
        """A poll held without a read gets a new challenge straight from the create: the
        JWS it gets must be the one stored, or the device's answer could never match."""
        user, (dev,) = self.new_user()
        self.assertEqual(self.poll(dev, 0), [])  # this instance now knows: nothing pending
        mark = len(self.s.logs)
        waiting = POOL.submit(self.poll, dev, 30)
        self.s.wait_log(lambda o: o.get("msg") == "device poll held without a read"
                        and o.get("deviceId") == dev.device_id, since=mark)
        held = POOL.submit(self.auth, user)
        challenges = waiting.result(40)
        self.assertEqual(len(challenges), 1, "the held poll missed the request")
        rid, jws = challenges[0]["requestId"], challenges[0]["challenge"]
        self.assertEqual(self.q("SELECT jws FROM auth_challenges WHERE request_id = %s", rid),
                         [(jws,)])
        self.assertEqual([c["challenge"] for c in self.poll(dev, 0)], [jws])
        _, ch = dev.verify_challenge(jws)
        self.assertEqual(self.answer(dev, ch).body["status"], "accepted")
        out = held.result(30).body
        self.assertEqual((out["status"], out["challenge"]), ("accepted", jws))

    def test_undecided_objects_have_no_challenge(self):
        user, (dev,) = self.new_user()
        r = self.auth_async(user)
        self.assertIsNone(r.body["challenge"])
        self.poll(dev, 0)
        rid = r.body["requestId"]
        self.assertEqual(self.s.request("DELETE", f"/auth/{rid}", headers=self.h).status, 200)
        out = self.s.request("GET", f"/auth/{rid}", headers=self.h).body
        self.assertEqual((out["status"], out["evidence"], out["challenge"]),
                         ("cancelled", None, None))

    def test_user_devices_show_each_public_jwk(self):
        user, devs = self.new_user(devices=2)
        r = self.s.request("GET", f"/users/{user}/devices", headers=self.h)
        self.assertEqual(r.status, 200, r)
        self.assertEqual({d["deviceId"]: d["publicKey"] for d in r.body["devices"]},
                         {d.device_id: d.jwk() for d in devs})


class RealEvidence(PushBase):
    """`pushgated evidence verify` on an accepted object taken from a held POST /auth."""

    def write(self, name, obj):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(obj, f)
        return path

    def verify(self, auth, jwks, key):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
        r = subprocess.run([harness.pushgated_path(), "evidence", "verify", "--jwks", jwks,
                            "--device-key", key], env=env, input=json.dumps(auth),
                           capture_output=True, text=True, timeout=30)
        return r.returncode, json.loads(r.stdout)

    def accepted(self, user, dev, message):
        held = POOL.submit(self.auth, user, type="authorization", message=message,
                           transaction={"amount": "250.00", "payee": "Bob"})
        ch = self.challenge_for(dev)
        self.assertEqual(self.answer(dev, ch).body["status"], "accepted")
        out = held.result(30)
        self.assertEqual(out.status, 200, out)
        return out.body

    def test_a_real_accepted_object_verifies_and_any_tampering_does_not(self):
        tmpdir = tempfile.TemporaryDirectory()
        self.addCleanup(tmpdir.cleanup)
        self.tmp = tmpdir.name
        user, (dev, other_dev) = self.new_user(devices=2)
        auth = self.accepted(user, dev, "Confirm transfer of 250.00 EUR to Bob")
        second = self.accepted(user, dev, "Confirm transfer of 1.00 EUR to Eve")
        devices = self.s.request("GET", f"/users/{user}/devices", headers=self.h).body["devices"]
        keys = {d["deviceId"]: d["publicKey"] for d in devices}
        jwks = self.write("jwks.json", self.s.request("GET", "/.well-known/jwks.json").body)
        key = self.write("device.jwk", keys[dev.device_id])
        other_key = self.write("other.jwk", keys[other_dev.device_id])
        elsewhere = self.server(db_url=self.pg.create_database())  # its own key
        other_jwks = self.write("other-jwks.json",
                                elsewhere.request("GET", "/.well-known/jwks.json").body)

        rc, out = self.verify(auth, jwks, key)
        self.assertEqual((rc, out["valid"], out["requestId"], out["decision"], out["deviceId"],
                          out["username"], out["message"]),
                         (0, True, auth["requestId"], "approve", dev.device_id, user,
                          "Confirm transfer of 250.00 EUR to Bob"), out)
        bad = {
            "one byte changed in challenge":
                (dict(auth, challenge=one_byte_changed(auth["challenge"])), jwks, key),
            "one byte changed in evidence":
                (dict(auth, evidence=one_byte_changed(auth["evidence"])), jwks, key),
            "the key of another device": (auth, jwks, other_key),
            "the JWKS of another server": (auth, other_jwks, key),
            "the challenge of another request with this evidence":
                (dict(auth, challenge=second["challenge"]), jwks, key),
            "status changed to denied": (dict(auth, status="denied"), jwks, key),
        }
        for name, (obj, j, k) in bad.items():
            with self.subTest(name):
                rc, out = self.verify(obj, j, k)
                self.assertEqual((rc, out["valid"]), (1, False), out)


if __name__ == "__main__":
    harness.main()
