"""Integration-test harness for pushgate: real PostgreSQL, real SMTP sink, real server.

Run the tests with Debian's interpreter, /usr/bin/python3 (it can import python3-aiosmtpd).
Nothing here is a mock:

    PgCluster   a private PostgreSQL 15 cluster (initdb into a temp dir, random port,
                trust auth, superuser "pushgate"); stop()/start() simulate an outage.
    SmtpSink    an aiosmtpd server in this process on a random loopback port; collects
                parsed messages; wait_for(pred) blocks on a Condition; stop()/start().
    Server      one `pushgated serve` process with its own temp dir, port file and key
                file; request()/send_raw() talk HTTP to it (each response checked against
                docs/openapi.yaml by openapi_check.py); cli() runs `pushgated <args>`
                with the same environment; its stderr is kept and shown on failure.
    TestCase    unittest base class: one cluster per test file, a fresh database per
                test class, helpers to start servers that are stopped after each test.
    main()      runs the file's tests with a watchdog and prints "N passed, N failed".

Every wait has a hard timeout and raises HarnessTimeout (an AssertionError) when it runs out.
Readiness is event-driven (log lines read by threads, Conditions), never sleep-polling.

Child processes (postgres, pushgated) are started with `setpriv --pdeathsig KILL`, so they
die with the test process even if ctest kills it with SIGKILL on a timeout. The death signal
fires when the *thread* that started them exits: start them from the main (test) thread.
"""

import atexit
import hashlib
import email
import email.policy
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

import openapi_check

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PG_BIN = os.environ.get("PUSHGATE_PG_BIN", "/usr/lib/postgresql/15/bin")

# Sanitizer settings for every binary we start (scripts/test sets the same; an explicit
# environment wins). Leak detection stays on: a leak at exit fails the run.
os.environ.setdefault(
    "ASAN_OPTIONS",
    "halt_on_error=1:abort_on_error=0:print_stacktrace=1:detect_leaks=1")
os.environ.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")


class HarnessTimeout(AssertionError):
    """A bounded wait ran out."""


def pushgated_path():
    """The server binary: $PUSHGATED (set by CMake/ctest), else build/bin/pushgated."""
    return os.environ.get("PUSHGATED") or os.path.join(REPO, "build", "bin", "pushgated")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _deadline_wait(cond, pred, timeout, what):
    """With `cond` held: wait until pred() is truthy; return its value or raise."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise HarnessTimeout(f"timed out after {timeout}s waiting for {what}")
        cond.wait(left)


def wait_until(cond, pred, timeout, what="a condition"):
    """Public form of the harness's wait: with `cond` (a threading.Condition) *held*, wait
    until pred() is truthy and return its value; HarnessTimeout after `timeout` s."""
    return _deadline_wait(cond, pred, timeout, what)


def _pdeathsig(argv, user=None):
    """argv wrapped so the child gets SIGKILL when its parent thread dies (and runs as user)."""
    pre = ["setpriv", "--pdeathsig", "KILL"]
    if user:
        pre += ["--reuid", user, "--regid", user, "--init-groups"]
    return pre + ["--"] + list(argv)


class _LineReader:
    """Reads a pipe line by line in a daemon thread; keeps every line; notifies a Condition."""

    def __init__(self, stream, name, on_line=None):
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self._on_line = on_line
        self._thread = threading.Thread(target=self._run, args=(stream,), name=name, daemon=True)
        self._thread.start()

    def _run(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                if self._on_line:
                    self._on_line(line)
                self.cond.notify_all()
        stream.close()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def join(self, timeout=5):
        self._thread.join(timeout)


# --------------------------------------------------------------------------- PostgreSQL

class PgCluster:
    """A private PostgreSQL 15 cluster in a temp dir, run as the `postgres` user.

    url            postgresql://pushgate@127.0.0.1:PORT/postgres
    db_url(name)   the same for another database
    create_database(name=None) -> url of a new, empty database
    psql(sql, db="postgres") -> stdout text
    stop()         fast shutdown (like `pg_ctl stop -m fast`); the server sees the DB go away
    start()        again, same port, same data dir
    cleanup()      stop and delete (also done at exit)
    """

    _counter = 0

    def __init__(self, port=None):
        self.dir = tempfile.mkdtemp(prefix="pushgate-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sockdir = os.path.join(self.dir, "run")
        os.makedirs(self.sockdir)
        shutil.chown(self.dir, "postgres", "postgres")
        shutil.chown(self.sockdir, "postgres", "postgres")
        self.port = port or free_port()
        self.proc = None
        self.log = None
        self._initdb()
        atexit.register(self.cleanup)
        self.start()

    @property
    def url(self):
        return self.db_url("postgres")

    def db_url(self, name):
        return f"postgresql://pushgate@127.0.0.1:{self.port}/{name}"

    def _initdb(self):
        argv = ["runuser", "-u", "postgres", "--", f"{PG_BIN}/initdb", "-D", self.data,
                "-U", "pushgate", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                "--no-sync"]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("initdb failed:\n" + r.stdout.decode(errors="replace"))

    def start(self, timeout=60):
        """Start the postmaster (a child of this process) and wait until it accepts connections."""
        if self.proc and self.proc.poll() is None:
            return self
        argv = _pdeathsig([f"{PG_BIN}/postgres", "-D", self.data, "-p", str(self.port),
                           "-c", "listen_addresses=127.0.0.1",
                           "-c", f"unix_socket_directories={self.sockdir}",
                           "-c", "fsync=off", "-c", "synchronous_commit=off",
                           "-c", "full_page_writes=off", "-c", "max_connections=200",
                           "-c", "logging_collector=off"],
                          user="postgres")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.log = _LineReader(self.proc.stderr, f"pg-{self.port}")
        ready = "database system is ready to accept connections"
        with self.log.cond:
            _deadline_wait(self.log.cond,
                           lambda: any(ready in l for l in self.log.lines) or self.log.eof,
                           timeout, f"postgres on port {self.port}")
        if self.proc.poll() is not None or not any(ready in l for l in self.log.lines):
            self.proc.wait(10)
            raise RuntimeError(f"postgres did not start (exit {self.proc.returncode}):\n"
                               + "\n".join(self.log.lines))
        self.psql("SELECT 1")
        return self

    def stop(self, timeout=30):
        """Fast shutdown: sessions are disconnected, the port is closed."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.log:
            self.log.join()
        return self

    def cleanup(self):
        try:
            self.stop(timeout=10)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, db="postgres"):
        r = subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-d", self.db_url(db), "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {sql}\n{r.stderr.decode(errors='replace')}")
        return r.stdout.decode()

    def seed_devices(self, db, app, prefix, count):
        """bench/run's seed, by SQL: users prefix000000... of app, each with a completed
        registration and an active device 'd_' || user id (public_jwk '{}': no proof can
        verify, for tests of the SQL alone)."""
        self.psql(f"""
            INSERT INTO users (app_id, username, email)
              SELECT '{app}', '{prefix}' || lpad(i::text, 6, '0'), i || '@{prefix}.invalid'
                FROM generate_series(0, {count - 1}) i;
            INSERT INTO registrations (id, app_id, user_id, email, token_hash, status, expires_at,
                                       completed_at, device_id)
              SELECT 'r_' || u.id, '{app}', u.id, u.email, md5(u.username), 'completed',
                     now() + interval '1 day', now(), 'd_' || u.id FROM users u;
            INSERT INTO devices (id, app_id, user_id, registration_id, name, public_jwk)
              SELECT 'd_' || u.id, '{app}', u.id, 'r_' || u.id, '{prefix} device', '{{}}'
                FROM users u;""", db=db)

    def create_database(self, name=None):
        if name is None:
            PgCluster._counter += 1
            name = f"t{os.getpid()}_{PgCluster._counter}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.db_url(name)


# --------------------------------------------------------------------------- SMTP

class SmtpSink:
    """An SMTP server (aiosmtpd) in this process, on 127.0.0.1:PORT.

    messages       list of email.message.EmailMessage, in arrival order; each also has
                   .envelope_from and .envelope_to (list) attributes
    url            smtp://127.0.0.1:PORT (for PUSHGATE_SMTP_URL)
    wait_for(pred, timeout=10) -> the first message m with pred(m) (blocks on a Condition)
    wait_count(n, pred, timeout=10) -> all matching messages, once there are at least n
    reject_with    None, or an SMTP reply such as "451 4.3.0 try again later" that every
                   DATA is answered with (messages are then not collected): a flaky relay
    stop()/start() close and reopen the port (same port): a relay that is down
    """

    def __init__(self, port=None):
        self.port = port or free_port()
        self.messages = []
        self.attempts = 0
        self.reject_with = None
        self.cond = threading.Condition()
        self._controller = None
        atexit.register(self.stop)
        self.start()

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def start(self):
        from aiosmtpd.controller import Controller  # Debian python3-aiosmtpd
        if self._controller is None:
            self._controller = Controller(_SmtpHandler(self), hostname="127.0.0.1",
                                          port=self.port, ready_timeout=10)
            self._controller.start()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        return self

    def wait_for(self, pred=lambda m: True, timeout=10):
        with self.cond:
            return _deadline_wait(self.cond,
                                  lambda: next((m for m in self.messages if pred(m)), None),
                                  timeout, "a matching email")

    def wait_count(self, n, pred=lambda m: True, timeout=10):
        """Block until at least n messages match pred; return all that match."""
        def matching():
            found = [m for m in self.messages if pred(m)]
            return found if len(found) >= n else None
        with self.cond:
            return _deadline_wait(self.cond, matching, timeout, f"{n} matching emails")

    def _deliver(self, envelope):
        with self.cond:
            self.attempts += 1
            self.cond.notify_all()
            if self.reject_with:
                return self.reject_with
            msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
            msg.envelope_from = envelope.mail_from
            msg.envelope_to = list(envelope.rcpt_tos)
            self.messages.append(msg)
            self.cond.notify_all()
            return "250 OK"


class _SmtpHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        return self.sink._deliver(envelope)


def text_part(msg):
    """The text/plain body of an email message (multipart or not)."""
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


# --------------------------------------------------------------------------- HTTP

class Headers(dict):
    """Response headers; lookups are case-insensitive (keys stored lower-case).
    A repeated header's values are joined with ", "."""

    def __init__(self, pairs=()):
        super().__init__()
        for k, v in pairs:
            k = k.lower()
            super().__setitem__(k, v if k not in self else self[k] + ", " + v)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)


class Response:
    """status, headers (Headers), body (parsed JSON for JSON content types, else text), raw
    (bytes). Unpacks as `status, headers, body = resp`."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        ctype = headers.get("content-type", "")
        text = raw.decode("utf-8", "replace")
        self.body = text
        if "json" in ctype.split(";")[0]:
            try:
                self.body = json.loads(text)
            except ValueError:
                pass

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return f"<Response {self.status} {self.headers.get('content-type')} {self.raw[:300]!r}>"


def _read_response(sock_or_conn):
    resp = sock_or_conn.getresponse()
    return Response(resp.status, Headers(resp.getheaders()), resp.read())


# --------------------------------------------------------------------------- server

_KEY_DIR = None


def _key_file_for(db_url):
    """The master key file shared by every Server on one database (created by the server)."""
    global _KEY_DIR
    if _KEY_DIR is None:
        _KEY_DIR = tempfile.mkdtemp(prefix="pushgate-keys-")
        atexit.register(shutil.rmtree, _KEY_DIR, True)
    name = hashlib.sha256(db_url.encode()).hexdigest()[:16]
    return os.path.join(_KEY_DIR, name + ".key")


class Server:
    """One `pushgated` with its own temp dir. Build it, optionally cli(...), then start().

    Environment: PUSHGATE_DATABASE_URL=db_url, PUSHGATE_LISTEN=127.0.0.1:0,
    PUSHGATE_PORT_FILE, PUSHGATE_KEY_FILE, PUSHGATE_MAIL_DIR (all in the temp dir),
    PUSHGATE_LOG_FORMAT=json, PUSHGATE_LOG_LEVEL=debug, then `env` (a value of None removes
    a variable).

    start(migrate=True)     runs `pushgated migrate` first, then `serve`; waits for the
                            "listening" log line; sets .port, .addr
    request(...)            -> Response; send_raw(bytes) -> Response
    stop(sig)               -> exit status; kill9()
    logs / json_logs()      stderr lines / those that parse as JSON objects
    wait_log(pred, timeout) -> the first JSON log object with pred(obj)
    cli(*args) -> parsed JSON stdout (asserts exit 0); cli_run(*args) -> CompletedProcess
    create_app(name) -> {"applicationId", "applicationSecret", "name"}
    """

    def __init__(self, db_url, env=None, binary=None, cafile=None):
        self.binary = binary or pushgated_path()
        # cafile: the server speaks HTTPS (PUSHGATE_TLS_CERT in env); request() and
        # send_raw() then verify it against this CA file
        self.cafile = cafile
        self.dir = tempfile.mkdtemp(prefix="pushgated-")
        self.port_file = os.path.join(self.dir, "port")
        self.env = dict(os.environ)
        self.env.update({
            "PUSHGATE_DATABASE_URL": db_url,
            "PUSHGATE_LISTEN": "127.0.0.1:0",
            "PUSHGATE_PORT_FILE": self.port_file,
            # one master key per database, as in a deployment: every instance
            # sharing a database must share the key that seals its secrets
            "PUSHGATE_KEY_FILE": _key_file_for(db_url),
            "PUSHGATE_MAIL_DIR": os.path.join(self.dir, "mail"),
            "PUSHGATE_LOG_FORMAT": "json",
            "PUSHGATE_LOG_LEVEL": "debug",
        })
        for k, v in (env or {}).items():
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = str(v)
        self.proc = None
        self._stderr = None
        self.port = None
        self.addr = None
        self.returncode = None
        atexit.register(self._cleanup)

    # -- process

    def start(self, migrate=True, timeout=30):
        if migrate:
            self.cli_run("migrate", check=True)
        argv = _pdeathsig([self.binary, "serve"])
        self.proc = subprocess.Popen(argv, env=self.env, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stderr = _LineReader(self.proc.stderr, "pushgated-stderr")
        # stdout is not part of the contract; keep it with the logs so nothing is lost.
        self._stdout = _LineReader(self.proc.stdout, "pushgated-stdout")
        listening = lambda o: o.get("msg") == "listening" and o.get("addr")  # noqa: E731
        try:
            line = self.wait_log(listening, timeout)
        except (HarnessTimeout, ServerExited) as e:
            self.kill9()
            raise type(e)(f"{e}\n--- pushgated stderr ---\n" + "\n".join(self.logs))
        host, _, port = line["addr"].rpartition(":")
        self.addr, self.port = line["addr"], int(port)
        with open(self.port_file) as f:
            written = f.read().strip()
        if int(written) != self.port:
            raise AssertionError(f"port file says {written!r}, log says {line['addr']}")
        return self

    def stop(self, sig=signal.SIGTERM, timeout=35):
        """Send `sig`, wait for the exit, return the exit status (-N for a signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise HarnessTimeout(f"pushgated did not exit within {timeout}s of signal {sig}")
        finally:
            self._stderr.join()
            self._stdout.join()
        return self.returncode

    def kill9(self):
        return self.stop(signal.SIGKILL, timeout=10)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _cleanup(self):
        if self.running():
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- logs

    @property
    def logs(self):
        return list(self._stderr.lines) if self._stderr else []

    def json_logs(self):
        out = []
        for line in self.logs:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def wait_log(self, pred, timeout=10, since=0):
        """First JSON log object (from stderr line index `since` on) with pred(obj) truthy.
        Raises ServerExited if stderr closes first, HarnessTimeout after `timeout` s."""
        r = self._stderr

        def find():
            for line in r.lines[since:]:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict) and pred(obj):
                    return obj
            if r.eof:
                raise ServerExited("pushgated closed stderr (exited?) before the log line came")
            return None

        with r.cond:
            return _deadline_wait(r.cond, find, timeout, "a pushgated log line")

    def dump(self, out=sys.stderr):
        print(f"--- pushgated stderr ({self.binary}, port {self.port}, "
              f"exit {self.proc.poll() if self.proc else None}) ---", file=out)
        for line in self.logs:
            print(line, file=out)
        if self.proc is not None and self._stdout.lines:
            print("--- pushgated stdout ---", file=out)
            for line in self._stdout.lines:
                print(line, file=out)
        print("--- end ---", file=out)

    # -- HTTP

    def request(self, method, path, body=None, headers=None, raw=None, timeout=10):
        """One HTTP/1.1 request on a new connection.
        body: a JSON value, sent encoded with Content-Type application/json (unless headers
        name one); raw: bytes/str sent verbatim as the body (no Content-Type added)."""
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
        if self.cafile:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ssl_context())
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = _read_response(conn)
        finally:
            conn.close()
        # every answer must be one docs/openapi.yaml allows (raises ContractViolation)
        openapi_check.check(method, path, resp)
        return resp

    def send_raw(self, data, timeout=10):
        """Write `data` (a hand-made HTTP request) on a new connection, then read the reply.
        Errors while writing (the server may answer and close early) are ignored."""
        if isinstance(data, str):
            data = data.encode()
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.cafile:
            sock = self.ssl_context().wrap_socket(sock, server_hostname="127.0.0.1")
        try:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            resp = http.client.HTTPResponse(sock, method="GET")
            resp.begin()
            reply = Response(resp.status, Headers(resp.getheaders()), resp.read())
        finally:
            sock.close()
        openapi_check.check_raw(reply)  # no operation known: a problem body is checked
        return reply

    def ssl_context(self):
        """A client context that trusts only self.cafile (hostname 127.0.0.1 checked)."""
        import ssl
        return ssl.create_default_context(cafile=self.cafile)

    @staticmethod
    def app_headers(app):
        return {"x-application-id": app["applicationId"],
                "x-application-secret": app["applicationSecret"]}

    # -- command line

    def cli_run(self, *args, check=False, env=None, timeout=60):
        """`pushgated <args>` with this server's environment; returns CompletedProcess (text)."""
        e = dict(self.env)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        r = subprocess.run(_pdeathsig([self.binary] + [str(a) for a in args]), env=e,
                           cwd=self.dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"pushgated {' '.join(map(str, args))} exited {r.returncode}\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def cli(self, *args, timeout=60):
        """`pushgated <args>`; asserts exit 0 and returns the parsed JSON on stdout."""
        r = self.cli_run(*args, check=True, timeout=timeout)
        try:
            return json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"pushgated {' '.join(map(str, args))}: stdout is not JSON: "
                                 f"{r.stdout!r}\nstderr: {r.stderr}")

    def create_app(self, name="Acme Bank"):
        return self.cli("app", "create", "--name", name)


class ServerExited(AssertionError):
    """pushgated exited while we were waiting for it."""


# --------------------------------------------------------------------------- unittest glue

class TestCase(unittest.TestCase):
    """Base class: `cls.pg` (one PgCluster per test file), `cls.db_url` (a fresh database per
    class). `self.server(...)` makes a Server on that database (started unless start=False),
    stopped after the test; `cls.class_server(...)` makes one that lives for the class.
    On a failure, the stderr of every server of the test (and of the class) is printed."""

    _pg = None
    server_env = {}  # extra environment for every server of the class

    @classmethod
    def cluster(cls):
        if TestCase._pg is None:
            TestCase._pg = PgCluster()
        return TestCase._pg

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = cls.cluster()
        cls.db_url = cls.pg.create_database()
        cls._class_servers = []

    @classmethod
    def tearDownClass(cls):
        try:
            _stop_and_check(cls._class_servers, dump=True)
        finally:
            super().tearDownClass()

    @classmethod
    def class_server(cls, env=None, start=True, **kw):
        s = Server(cls.db_url, env={**cls.server_env, **(env or {})}, **kw)
        cls._class_servers.append(s)
        return s.start() if start else s

    def q(self, sql, *args):
        """Runs sql (autocommit) on a connection of the test's own to the class's database
        (python3-psycopg2, imported only by the tests that use it); rows, if any. Without
        args the text is sent as it is (no %-formatting: `LIKE 'auth.%'` needs no doubling)."""
        if getattr(self, "pg_conn", None) is None:
            import psycopg2
            self.pg_conn = psycopg2.connect(self.db_url)
            self.pg_conn.autocommit = True
            self.addCleanup(self.pg_conn.close)
        cur = self.pg_conn.cursor()
        cur.execute(sql, args or None)
        return cur.fetchall() if cur.description else None

    def setUp(self):
        super().setUp()
        self._servers = []
        self.addCleanup(self._stop_servers)
        self.addCleanup(self._check_contract, openapi_check.mark())

    def _check_contract(self, mark):
        """A response outside docs/openapi.yaml that a thread of this test received (the
        test's own thread got the ContractViolation raised)."""
        found = openapi_check.since(mark, off_main_only=True)
        if found:
            self.fail(f"{len(found)} response(s) outside docs/openapi.yaml:\n" +
                      "\n".join(found))

    def server(self, env=None, start=True, db_url=None, **kw):
        s = Server(db_url or self.db_url, env={**self.server_env, **(env or {})}, **kw)
        self._servers.append(s)
        return s.start() if start else s

    def _stop_servers(self):
        _stop_and_check(self._servers, dump=False)

    def all_servers(self):
        return list(getattr(self, "_servers", [])) + list(type(self)._class_servers)

    # assertion helpers shared by the tests

    def assertProblem(self, resp, status, code):
        """resp is an RFC 9457 problem with this status and code."""
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.headers.get("content-type", "").split(";")[0].strip(),
                         "application/problem+json", resp)
        self.assertIsInstance(resp.body, dict, resp)
        for field in ("type", "title", "status", "code", "detail"):
            self.assertIn(field, resp.body, resp)
        self.assertEqual(resp.body["status"], status, resp)
        self.assertEqual(resp.body["code"], code, resp)


def _stop_and_check(servers, dump):
    """SIGTERM every server still running and demand exit status 0: a sanitizer build reports
    leaks and errors only at exit, so each test's (and class's) servers end with this check."""
    bad = []
    for s in servers:
        if s.running():
            code = s.stop()
            if code != 0:
                bad.append(s)
    if bad:
        for s in bad if dump else ():
            s.dump()
        raise AssertionError("pushgated exited with " +
                             ", ".join(str(s.returncode) for s in bad) +
                             " on SIGTERM at the end of the test (stderr above)")


def _owner(test):
    """The test method behind a result entry (a subTest's parent; None for class errors)."""
    test = getattr(test, "test_case", test)
    return test if isinstance(test, unittest.TestCase) else None


class _Result(unittest.TextTestResult):
    """Prints the servers' stderr (once) under each failing test."""

    def _dump(self, test):
        test = _owner(test)
        if isinstance(test, TestCase) and not getattr(test, "_dumped", False):
            test._dumped = True
            for s in test.all_servers():
                s.dump(self.stream)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._dump(test)

    def addError(self, test, err):
        super().addError(test, err)
        self._dump(test)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._dump(test)


def _watchdog(seconds):
    """Before ctest's own TIMEOUT kills us (SIGKILL, no clean-up), dump every thread's
    stack, clean up (atexit) and exit 1."""
    def fire():
        print(f"\nwatchdog: test file still running after {seconds}s; stacks:", file=sys.stderr)
        for tid, frame in sys._current_frames().items():
            print(f"--- thread {tid}", file=sys.stderr)
            traceback.print_stack(frame, file=sys.stderr)
        sys.stderr.flush()
        try:
            atexit._run_exitfuncs()
        finally:
            os._exit(1)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def main():
    """Entry point of every test_*.py: `if __name__ == "__main__": harness.main()`.
    Arguments are unittest's (e.g. a test name: Class.test_x). Exits 0 only if all passed."""
    _watchdog(float(os.environ.get("PUSHGATE_TEST_TIMEOUT", "280")))
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: sys.exit(128 + n))
    prog = unittest.main(module="__main__", exit=False, verbosity=2,
                         testRunner=unittest.TextTestRunner(resultclass=_Result,
                                                            stream=sys.stdout, verbosity=2))
    r = prog.result
    bad = r.failures + r.errors + [(t, None) for t in r.unexpectedSuccesses]
    failed_tests = {_owner(t).id() for t, _ in bad if _owner(t) is not None}
    class_errors = sum(1 for t, _ in bad if _owner(t) is None)  # setUpClass & co.
    failed = len(failed_tests) + class_errors
    passed = r.testsRun - len(failed_tests) - len(r.skipped)
    contract = openapi_check.since(0)
    if contract and failed == 0:  # e.g. received by a thread outside any test
        print("responses outside docs/openapi.yaml:\n" + "\n".join(contract), flush=True)
        failed = 1
    line = f"{passed} passed, {failed} failed"
    if r.skipped:
        line += f", {len(r.skipped)} skipped"
    print(line, flush=True)
    sys.exit(0 if failed == 0 and r.testsRun > 0 else 1)


def poll(fetch, done, timeout=10, interval=0.05):
    """Calls fetch() until done(result) or timeout; returns the last result. For state the
    server exposes only by being asked (no event to wait on); every other wait in these
    tests is on an event."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result) or time.monotonic() >= deadline:
            return result
        time.sleep(interval)
