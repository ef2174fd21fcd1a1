"""A Chromium page driven through tests/browser/driver.mjs (Playwright), for the browser
tests: Browser().call("goto", url=...) sends one command and returns its value."""
import json
import os
import queue
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class BrowserError(AssertionError):
    pass


def missing():
    """What the browser tests cannot run without, or None (they then exit 77: skipped).
    Under scripts/test (PUSHGATE_BROWSER_REQUIRED=1), which installs both, a missing part
    is a failure instead: a skipped browser suite must never pass for a green one."""
    why = _missing()
    if why and os.environ.get("PUSHGATE_BROWSER_REQUIRED") == "1":
        raise BrowserError(f"the browser tests need {why}")
    return why


def _missing():
    chromium = os.environ.get("PUSHGATE_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        return f"{chromium} (Debian package chromium: scripts/lib/deps.sh)"
    if not os.path.isdir(os.path.join(ROOT, "node_modules", "playwright-core")):
        return "node_modules/playwright-core (run `npm ci` at the repository root)"
    return None


class Browser:
    def __init__(self):
        self.proc = subprocess.Popen(
            ["node", os.path.join(HERE, "driver.mjs")], cwd=ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read_answers, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_answers(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)  # the driver is gone

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def call(self, op, timeout=None, **args):
        """Runs op in the page; timeout (seconds) is the op's own bound (Playwright's)."""
        if timeout is not None:
            args["timeout"] = timeout * 1000
        timeout = (timeout or 30) + 60  # the driver answers first, with Playwright's error
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError(f"driver: no answer to {op} in {timeout} s; stderr: "
                               + "".join(self.stderr))
        if line is None:
            raise BrowserError(f"driver exited during {op}; stderr: " + "".join(self.stderr))
        reply = json.loads(line)
        if not reply["ok"]:
            raise BrowserError(f"{op} {args}: {reply['error']}")
        return reply["value"]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("close")
            except BrowserError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
