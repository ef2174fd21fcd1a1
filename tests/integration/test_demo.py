"""Issue 5: scripts/demo runs to the end -- its own PostgreSQL cluster in a temp var dir,
pushgated on a random port, the simulator approving then denying."""
import os
import shutil
import subprocess
import tempfile
import unittest

import harness


class Demo(unittest.TestCase):
    def test_demo_runs_to_the_end(self):
        var = tempfile.mkdtemp(prefix="pushgate-demo-")
        self.addCleanup(shutil.rmtree, var, True)
        os.chmod(var, 0o755)  # the postgres user must reach var/pg
        env = dict(os.environ, PUSHGATE_VAR_DIR=var,
                   PUSHGATE_LISTEN=f"127.0.0.1:{harness.free_port()}",
                   PUSHGATED=harness.pushgated_path())
        env.setdefault("PUSHGATE_SIM", os.path.join(harness.REPO, "build", "bin", "pushgate-sim"))
        try:
            r = subprocess.run([os.path.join(harness.REPO, "scripts", "demo")], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=200)
        finally:
            # never leave the throw-away cluster running, whatever happened
            subprocess.run(["runuser", "-u", "postgres", "--",
                            "/usr/lib/postgresql/15/bin/pg_ctl", "-D",
                            os.path.join(var, "pg", "data"), "-m", "immediate", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout)
        out = r.stdout
        self.assertIn('"status": "accepted"', out)
        self.assertIn('"status": "denied"', out)
        self.assertIn('"reason": "user_denied"', out)
        self.assertIn("server says accepted", out)
        self.assertIn("first request: accepted, second request: denied", out)
        self.assertLess(out.index('"status": "accepted"'), out.index('"status": "denied"'))


if __name__ == "__main__":
    harness.main()
