"""PUSHGATE_WORKERS (server/app/workers.h): `pushgated serve` as a supervisor of several
worker processes sharing one port with SO_REUSEPORT. Which worker serves a connection is
read from the kernel (`ss -p` names the process owning the accepted socket), so the
cross-worker cases are made to happen, not hoped for."""
import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import subprocess

import device
import harness

POOL = concurrent.futures.ThreadPoolExecutor(4)
WORKERS = 3


def children(pid):
    """The pids whose parent is pid."""
    out = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            out.add(int(name))
    return out


def owner(port, local_port):
    """The pid of the process that accepted the connection from local_port to port."""
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          f"( sport = :{port} and dport = :{local_port} )"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"pid=(\d+)", out)
    return int(m.group(1)) if m else None


class Conn:
    """A keep-alive connection whose serving worker is known (after one request)."""

    def __init__(self, server):
        self.c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.c.request("GET", "/healthz")
        r = self.c.getresponse()
        r.read()
        assert r.status == 200, r.status
        self.pid = owner(server.port, self.c.sock.getsockname()[1])

    def request(self, method, path, body=None, headers=None):
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        self.c.request(method, path, body=data, headers=hdrs)
        r = self.c.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None

    def close(self):
        self.c.close()


def conn_where(server, pred, attempts=300):
    """A Conn served by a worker for which pred(pid) is true."""
    for _ in range(attempts):
        c = Conn(server)
        if pred(c.pid):
            return c
        c.close()
    raise AssertionError("no connection reached the wanted worker")


class Workers(harness.TestCase):
    server_env = {"PUSHGATE_WORKERS": str(WORKERS)}

    def wait_workers(self, s, n=WORKERS):
        """The worker pids, once n "listening" lines (one per worker start) were logged."""
        r = s._stderr

        def count():
            k = sum(1 for line in r.lines if '"msg":"listening"' in line)
            if r.eof:
                raise harness.ServerExited("the supervisor exited")
            return k >= n

        with r.cond:
            harness._deadline_wait(r.cond, count, 30, f"{n} workers listening")
        return children(s.proc.pid)

    def enrolled(self, s, app_h, user):
        r = s.request("POST", "/registration", headers=app_h,
                      body={"username": user, "delivery": "none"})
        self.assertEqual(r.status, 201, r)
        dev = device.Device()
        dev.enroll(s, device.link_token(r.body["link"]))
        return dev

    def test_workers_share_one_port(self):
        s = self.server()
        kids = self.wait_workers(s)
        seen = set()
        for _ in range(60):
            c = Conn(s)
            seen.add(c.pid)
            c.close()
        self.assertLessEqual(seen, kids, "a connection served by a process not a worker")
        self.assertGreater(len(seen), 1, "60 connections, all on one worker")
        self.assertNotIn(s.proc.pid, seen)

    def test_challenge_wakes_a_poll_held_by_a_sibling(self):
        s = self.server()
        self.wait_workers(s)
        app = s.create_app("Acme Bank")
        h = s.app_headers(app)
        dev = self.enrolled(s, h, "alice")
        poller = conn_where(s, lambda pid: True)
        caller = conn_where(s, lambda pid: pid != poller.pid)
        path = "/device/challenges"
        poll = POOL.submit(poller.request, "GET", f"{path}?wait=30",
                           headers={"Authorization": dev.proof("GET", path)})
        s.wait_log(lambda o: o.get("msg") == "hold state" and o.get("deviceId") ==
                   dev.device_id and o.get("to") == "waiting", 10)
        auth = POOL.submit(caller.request, "POST", "/auth", {"username": "alice"}, h)
        status, body = poll.result(30)
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["challenges"]), 1, body)
        ch = body["challenges"][0]
        _, payload = dev.verify_challenge(ch["challenge"])
        answer = f"/device/challenges/{ch['requestId']}"
        r = s.request("POST", answer, headers={"Authorization": dev.proof("POST", answer)},
                      body={"response": dev.response(ch["requestId"], payload["nonce"])})
        self.assertEqual(r.status, 200, r)
        status, body = auth.result(30)
        self.assertEqual((status, body["status"]), (200, "accepted"), body)
        poller.close()
        caller.close()

    def test_a_dead_worker_is_replaced(self):
        s = self.server()
        kids = self.wait_workers(s)
        victim = sorted(kids)[0]
        os.kill(victim, signal.SIGKILL)
        s.wait_log(lambda o: o.get("msg") == "a worker died; starting another", 10)
        now = self.wait_workers(s, WORKERS + 1)
        self.assertEqual(len(now), WORKERS)
        self.assertNotIn(victim, now)
        self.assertEqual(len(now & kids), WORKERS - 1)
        self.assertEqual(s.request("GET", "/readyz").status, 200)

    def test_sigterm_stops_every_worker(self):
        s = self.server()
        kids = self.wait_workers(s)
        self.assertEqual(s.stop(), 0)
        self.assertEqual(len(kids), WORKERS)
        for pid in kids:  # reaped by the supervisor, so gone (not zombies)
            self.assertFalse(os.path.exists(f"/proc/{pid}"), f"worker {pid} outlived it")

    def test_a_failed_start_stops_the_supervisor(self):
        # a port held by a socket without SO_REUSEPORT: no worker can bind it
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        s = self.server(env={"PUSHGATE_LISTEN": f"127.0.0.1:{port}"}, start=False)
        s.cli_run("migrate", check=True)
        p = subprocess.run([s.binary, "serve"], env=s.env, cwd=s.dir, capture_output=True,
                           text=True, timeout=60)
        blocker.close()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("a worker failed at its start", p.stderr)
        self.assertIn("cannot listen", p.stderr)


if __name__ == "__main__":
    harness.main()
