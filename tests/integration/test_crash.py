"""Crash consistency: `kill -9` at random moments while two instances serve a stream of
registrations, push decisions and one-time-code verifications (docs/architecture.md,
Failure behaviour). After every restart, while the stream goes on, everything a client was
acknowledged (a 2xx) is still so, in the database and through the API, and no request has
two outcomes:

- registrations: a 201 registration exists; one completed by a 201 bind stays completed
  with that device, and a registration has at most one device;
- push: a decision a device got 200 for stays, a held POST /auth that got 200 matches the
  row, and the audit log records at most one end per request;
- codes: a verify that got 200 consumed its backup code (the database holds fewer codes,
  a second verify of the same code fails).

Rounds: PUSHGATE_CRASH_ROUNDS (default 20). The random seed is printed; set
PUSHGATE_CRASH_SEED to replay a run's choices (which instance dies when, which operation
each worker runs; thread timing still varies)."""

import concurrent.futures
import http.client
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse

import device
import harness

ROUNDS = int(os.environ.get("PUSHGATE_CRASH_ROUNDS", "20"))
SEED = int(os.environ.get("PUSHGATE_CRASH_SEED") or random.SystemRandom().randrange(1 << 30))
WORKERS = 4
AUTH_TIMEOUT = 5  # seconds (the least allowed): a request left pending by a kill blocks
                  # its user this long
API_CHECKS = 4  # per kind and round, of those acknowledged since the last round
NET_ERRORS = (OSError, http.client.HTTPException)
LINK_RE = re.compile(r"^http://\S+/r/([A-Za-z0-9_-]{43})\r?$", re.M)


def oathtool(secret, step):
    r = subprocess.run(["oathtool", "--totp", "-b", secret, "--now", f"@{step * 30}"],
                       stdout=subprocess.PIPE, text=True, timeout=10, check=True)
    return r.stdout.strip()


class Acks:
    """What clients were told (2xx answers only), shared by the workers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.regs = {}        # registrationId -> username (201 to POST /registration)
        self.bound = {}       # registrationId -> deviceId (201 to POST /r/{token})
        self.created = set()  # requestIds of a 202
        self.decided = {}     # requestId -> (status, reason or None, deviceId or None)
        self.conflicts = []   # two different 2xx outcomes for one request
        self.codes = {}       # username -> backup codes that verified (200)
        self.tried = {}       # username -> every backup code sent to verify
        self.fresh = []       # (kind, key) acknowledged since the last check

    def decision(self, rid, status, reason=None, device_id=None):
        with self.lock:
            old = self.decided.get(rid)
            if old is None:
                self.decided[rid] = (status, reason, device_id)
                self.fresh.append(("auth", rid))
                return
            merged = tuple(n if o is None else o for o, n in zip(old, (status, reason, device_id)))
            if any(o is not None and n is not None and o != n
                   for o, n in zip(old, (status, reason, device_id))):
                self.conflicts.append((rid, old, (status, reason, device_id)))
            self.decided[rid] = merged


class Worker:
    """One client thread: its own users, devices and random stream of operations."""

    def __init__(self, test, index):
        self.t = test
        self.rng = random.Random(SEED * 100 + index)
        self.name = f"w{index}"
        self.n = 0
        self.users = []      # (username, Device) with an enrolled device
        self.linking = []    # (username, registrationId) whose mail has not been seen yet
        self.otp = []        # (username, [unused backup codes])
        self.pool = concurrent.futures.ThreadPoolExecutor(1)

    def server(self):
        return self.rng.choice(self.t.live)

    def call(self, method, path, body=None, headers=None, server=None):
        """A request to a random instance; None when it died under us."""
        try:
            return (server or self.server()).request(
                method, path, body=body, timeout=AUTH_TIMEOUT + 10,
                headers={**self.t.h, **(headers or {})})
        except NET_ERRORS:
            return None

    def run(self):
        try:
            while not self.t.stop.is_set():
                self.step()
        except Exception as e:  # reported by the main thread
            self.t.errors.append(f"{self.name}: {e!r}")
            raise
        finally:
            self.pool.shutdown(wait=True)

    def step(self):
        r = self.rng.random()
        if self.linking and self.mail_of(self.linking[0][0]):
            self.enroll(*self.linking.pop(0))
        elif len(self.users) + len(self.linking) < 2 or r < 0.15:
            self.register()
        elif r < 0.3 and any(codes for _, codes in self.otp):
            self.verify_code()
        elif self.users:
            self.push(held=self.rng.random() < 0.4)
        else:  # every user still waits for its mail
            with self.t.sink.cond:
                self.t.sink.cond.wait(0.5)

    # -- registration

    def register(self):
        self.n += 1
        user = f"{self.name}u{self.n}"
        addr = f"{user}@example.com"
        r = self.call("POST", "/registration", {"username": user, "email": addr})
        if r is None or r.status != 201:
            return
        reg = r.body["registrationId"]
        with self.t.acks.lock:
            self.t.acks.regs[reg] = user
            self.t.acks.fresh.append(("reg", reg))
        self.linking.append((user, reg))

    def mail_of(self, user):
        """The registration mail, once some instance sent it (the one that took the POST,
        or one that took its lease over after a kill)."""
        with self.t.sink.cond:
            return next((m for m in self.t.sink.messages
                         if f"{user}@example.com" in m.envelope_to), None)

    def enroll(self, user, reg):
        token = LINK_RE.search(harness.text_part(self.mail_of(user))).group(1)
        d = device.Device()
        try:
            s = self.server()
            g = s.request("GET", f"/r/{token}", headers={"Accept": "application/json"})
            if g.status != 200:
                return
            d.jwks = g.body["server"]["jwks"]
            b = self.server().request("POST", f"/r/{token}", body=d.bind_body(reg))
        except NET_ERRORS:
            return
        if b.status != 201:
            return
        d.device_id = b.body["deviceId"]
        with self.t.acks.lock:
            self.t.acks.bound[reg] = d.device_id
            self.t.acks.fresh.append(("bind", reg))
        self.users.append((user, d))

    # -- push

    def push(self, held):
        user, d = self.rng.choice(self.users)
        body = {"username": user, "timeout": AUTH_TIMEOUT}
        fut = r = None
        wait = 0  # no request of ours: only answer what a killed instance left open
        if held:
            fut = self.pool.submit(self.call, "POST", "/auth", body, server=self.server())
            # refused at once (429, or its instance died) or held
            if not concurrent.futures.wait([fut], timeout=0.3).done:
                wait = 2
        else:
            r = self.call("POST", "/auth", body, headers={"Prefer": "respond-async"})
            if r is not None and r.status == 202:
                with self.t.acks.lock:
                    self.t.acks.created.add(r.body["requestId"])
                wait = 2
        for _ in range(3):  # a poll that went to the dying instance is tried elsewhere
            if self.answer_all(d, wait) or (fut is None or fut.done()):
                break
        if fut is not None:
            r = fut.result()
            if r is not None and r.status == 200:
                b = r.body
                self.t.acks.decision(b["requestId"], b["status"], b["reason"], b["deviceId"])
        if r is not None and r.status == 429:
            self.t.unlock(user)  # the back-off of an earlier deny or a killed request

    def answer_all(self, d, wait):
        """Polls once and answers every open challenge of the device (those left by a
        killed instance too): mostly approve, sometimes deny. True when the poll answered."""
        path = "/device/challenges"
        try:
            r = self.server().request("GET", f"{path}?wait={wait}",
                                      headers={"Authorization": d.proof("GET", path)},
                                      timeout=15)
        except NET_ERRORS:
            return False
        if r.status != 200:
            return False
        for c in r.body["challenges"]:
            hp = d.verify_challenge(c["challenge"])
            assert hp is not None, "a challenge that does not verify"
            payload = hp[1]
            rid = payload["requestId"]
            decision = "deny" if self.rng.random() < 0.15 else "approve"
            apath = f"/device/challenges/{rid}"
            resp = d.response(rid, payload["nonce"], decision)
            for _ in range(2):  # again elsewhere when it went to the dying instance
                try:
                    a = self.server().request("POST", apath, body={"response": resp},
                                              headers={"Authorization": d.proof("POST", apath)})
                    break
                except NET_ERRORS:
                    a = None
            if a is not None and a.status == 200:
                self.t.acks.decision(rid, a.body["status"],
                                     None if decision == "approve" else "user_denied",
                                     d.device_id)
        return True

    # -- one-time codes

    def add_otp_user(self):
        """A user with TOTP on, whose 10 backup codes the stream verifies (set up before the
        kills begin)."""
        self.n += 1
        user = f"{self.name}o{self.n}"
        s = self.t.live[0]
        r = s.request("POST", self.t.mfa_path(user, "setup"), body={"channel": "totp"},
                      headers=self.t.h)
        assert r.status == 200, r
        e = s.request("POST", self.t.mfa_path(user, "enable"),
                      body={"code": oathtool(r.body["secret"], int(time.time()) // 30)},
                      headers=self.t.h)
        assert e.status == 200, e
        self.otp.append((user, list(e.body["backupCodes"])))

    def verify_code(self):
        user, codes = self.rng.choice([o for o in self.otp if o[1]])
        code = codes.pop()
        with self.t.acks.lock:
            self.t.acks.tried.setdefault(user, []).append(code)
        r = self.call("POST", self.t.mfa_path(user, "verify"), {"code": code})
        if r is not None and r.status == 200:
            with self.t.acks.lock:
                self.t.acks.codes.setdefault(user, []).append(code)
                self.t.acks.fresh.append(("code", (user, code)))


class CrashConsistency(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = harness.SmtpSink()
        cls.server_env = {"PUSHGATE_SMTP_URL": cls.sink.url, "PUSHGATE_AUDIT_SEAL_AGE": "0"}

    def test_kill9_during_a_stream_keeps_every_acknowledged_outcome(self):
        print(f"\ntest_crash: PUSHGATE_CRASH_SEED={SEED} ({ROUNDS} rounds)", file=sys.stderr,
              flush=True)
        rng = self.rng = random.Random(SEED)
        self.live = [self.server(), self.restart()]
        self.app = self.live[0].create_app("Crash Bank")
        self.h = self.live[0].app_headers(self.app)
        self.acks = Acks()
        self.stop, self.errors = threading.Event(), []
        workers = [Worker(self, i) for i in range(WORKERS)]
        for w in workers:
            for _ in range(2):
                w.add_otp_user()
        threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
        for t in threads:
            t.start()
        spent = [0.0, 0.0]
        try:
            for n in range(ROUNDS):
                self.assertEqual(self.errors, [], "a worker failed")
                time.sleep(rng.uniform(0.1, 1.0))  # a random moment of the stream
                victim = rng.randrange(2)
                self.live[victim].kill9()
                t0 = time.monotonic()
                # clients of the victim fail now; the survivor serves them meanwhile
                self.live[victim] = self.restart()
                t1 = time.monotonic()
                with self.subTest(round=n, seed=SEED):
                    self.check()  # while the stream goes on
                spent = [a + b for a, b in zip(spent, (t1 - t0, time.monotonic() - t1))]
        finally:
            self.stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(self.errors, [], "a worker failed")
        self.assertGreater(len(self.acks.decided), ROUNDS, "too few decisions to mean much")
        self.assertGreater(len(self.acks.bound), WORKERS, "too few devices to mean much")
        print(f"test_crash: {len(self.acks.regs)} registrations, {len(self.acks.bound)} "
              f"bound, {len(self.acks.decided)} decisions, "
              f"{sum(map(len, self.acks.codes.values()))} codes acknowledged; seconds spent "
              f"restarting %.1f, checking %.1f" % tuple(spent),
              file=sys.stderr, flush=True)

    # -- helpers

    def restart(self):
        """A new instance in place of the killed one (from this, the main, thread: the
        harness ties its life to the thread that started it)."""
        return self.server(start=False).start(migrate=False)

    def mfa_path(self, user, op):
        return f"/users/{urllib.parse.quote(user, safe='')}/mfa/{op}"


    def unlock(self, user):
        """Clears a user's back-off (api.md 5.3), so that the stream keeps pushing."""
        import psycopg2
        with psycopg2.connect(self.db_url) as c, c.cursor() as cur:
            cur.execute("SELECT user_unlock(%s, %s)", (self.app["applicationId"], user))
        c.close()

    def get(self, path):
        s = self.live[0]
        r = s.request("GET", path, headers=self.h)
        self.assertEqual(r.status, 200, r)
        return r.body

    # -- the checks, after each restart

    def check(self):
        """Compares what clients were told with the database and the API while the stream
        goes on: the acknowledgements are copied first, so each of them was answered, and
        so committed, before the database is read; every acknowledged state is final."""
        a = self.acks
        with a.lock:
            self.seen = Acks()
            self.seen.regs, self.seen.bound = dict(a.regs), dict(a.bound)
            self.seen.created, self.seen.decided = set(a.created), dict(a.decided)
            self.seen.codes = {u: list(c) for u, c in a.codes.items()}
            conflicts, fresh, a.fresh = list(a.conflicts), a.fresh, []
        self.assertEqual(conflicts, [], "a request got two outcomes")
        self.check_registrations()
        self.check_decisions()
        self.check_codes()
        self.rng.shuffle(fresh)
        for kind in ("reg", "bind", "auth", "code"):  # a few of each kind: time is short
            for key in [k for t, k in fresh if t == kind][:API_CHECKS]:
                getattr(self, f"api_{kind}")(key)

    def check_registrations(self):
        a = self.seen
        rows = dict(self.q("SELECT id, status FROM registrations WHERE app_id = %s",
                           self.app["applicationId"]))
        missing = [r for r in a.regs if r not in rows]
        self.assertEqual(missing, [], "acknowledged registrations are gone")
        devices = {}
        for reg, dev, status in self.q("SELECT registration_id, id, status FROM devices"):
            devices.setdefault(reg, []).append((dev, status))
        self.assertEqual({r: d for r, d in devices.items() if len(d) > 1}, {},
                         "a registration with two devices")
        for reg, dev in a.bound.items():
            self.assertEqual((rows[reg], devices.get(reg)), ("completed", [(dev, "active")]),
                             reg)
        mailed = {r for (r,) in self.q("SELECT registration_id FROM outbox WHERE kind = "
                                       "'registration'")}
        self.assertEqual(a.regs.keys() - mailed, set(), "acknowledged registrations without mail")

    def check_decisions(self):
        a = self.seen
        rows = {r[0]: r[1:] for r in self.q(
            "SELECT id, auth_effective_status(a), reason, device_id FROM auth_requests a "
            "WHERE app_id = %s", self.app["applicationId"])}
        self.assertEqual(sorted(a.created - rows.keys()), [], "acknowledged requests are gone")
        for rid, (status, reason, dev) in a.decided.items():
            got = rows.get(rid)
            self.assertIsNotNone(got, rid)
            self.assertEqual(got[0], status, rid)
            if reason is not None:
                self.assertEqual(got[1], reason, rid)
            if dev is not None:
                self.assertEqual(got[2], dev, rid)
        twice = self.q("SELECT subject, array_agg(event) FROM audit_log "
                       "WHERE event LIKE 'auth.%' AND event <> 'auth.created' "
                       "GROUP BY subject HAVING count(*) > 1")
        self.assertEqual(twice, [], "a request that ended twice")
        twice = self.q("SELECT subject FROM audit_log WHERE event = 'registration.completed' "
                       "GROUP BY subject HAVING count(*) > 1")
        self.assertEqual(twice, [], "a registration completed twice")

    def check_codes(self):
        left = dict(self.q("SELECT u.username, count(b.hash) FROM users u "
                           "JOIN mfa_backup_codes b ON b.user_id = u.id "
                           "WHERE u.app_id = %s GROUP BY u.username",
                           self.app["applicationId"]))
        with self.acks.lock:  # after the read: every code used by then was tried before
            tried = {u: len(t) for u, t in self.acks.tried.items()}
        for user, n in tried.items():
            used = len(self.seen.codes.get(user, []))
            self.assertTrue(10 - n <= left.get(user, 0) <= 10 - used,
                            (user, left.get(user, 0), used, n))

    # through the API, for what was acknowledged since the last check

    def api_reg(self, reg):
        st = self.get(f"/registration/{reg}")["status"]
        self.assertIn(st, ("completed",) if reg in self.seen.bound else
                      ("pending", "retrieved", "completed"), reg)

    def api_bind(self, reg):
        body = self.get(f"/registration/{reg}")
        self.assertEqual((body["status"], body.get("deviceId")),
                         ("completed", self.seen.bound[reg]), reg)

    def api_auth(self, rid):
        status = self.seen.decided[rid][0]
        self.assertEqual(self.get(f"/auth/{rid}")["status"], status, rid)

    def api_code(self, key):
        user, code = key
        r = self.live[0].request("POST", self.mfa_path(user, "verify"), body={"code": code},
                                 headers=self.h)
        self.assertProblem(r, 422, "invalid_code")
        self.unlock(user)  # a failure counts toward the lockout: start the count again


if __name__ == "__main__":
    harness.main()
