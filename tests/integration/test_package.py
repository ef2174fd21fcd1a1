"""Issue 19: installation and the Debian package (docs/operations.md "Installing").

The package is made the way an operator makes it, `cpack -G DEB` on a configured and built
build tree: the one whose pushgated ctest runs ($PUSHGATED's build directory, so build/'s
gcc binary or build-asan's sanitized one). cpack stages and writes into a temp directory
(-B), never into the build tree. The .deb is then taken apart with dpkg-deb (control
fields, conffiles, file modes), unpacked with `dpkg -x` into a scratch root (never
installed on this machine: no user is created, nothing in /etc is touched), and the
unpacked pushgated migrates a throw-away database and serves one push flow.

`systemd-analyze verify` checks the unit as shipped except for one thing: ExecStart= must
name an executable that exists, so the check runs on a copy whose /usr/bin/pushgated is the
scratch root's (`--root=` would need a whole systemd tree there). It needs neither the
`pushgate` user nor a running systemd.
"""
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

import device
import harness

UNIT = "usr/lib/systemd/system/pushgated.service"
ENV_FILE = "etc/pushgate/pushgated.env"
# every binary needs these packages, whatever the build (jemalloc only when linked)
CORE_DEPENDS = ["libevent-2.1-7", "libssl3", "libjansson4", "libpq5", "libcurl4",
                "libqrencode4", "libc6", "adduser"]


def build_dir():
    """The build tree of the pushgated under test: binaries are in <build>/bin."""
    return os.path.dirname(os.path.dirname(os.path.abspath(harness.pushgated_path())))


def project_version():
    with open(os.path.join(harness.REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(pushgate VERSION ([0-9.]+)", f.read()).group(1)


def schema_version():
    """The highest numbered migration in sql/: what the binary migrates to."""
    return max(int(os.path.basename(p)[:3])
               for p in glob.glob(os.path.join(harness.REPO, "sql", "[0-9][0-9][0-9]_*.sql")))


def run(*argv, env=None, timeout=120, check=True):
    r = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {r.returncode}\n"
                             f"stdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def package_names(field):
    """'a (>= 1), b | c' -> ['a', 'b', 'c']"""
    return [alt.split("(")[0].strip() for dep in field.split(",") for alt in dep.split("|")
            if alt.strip()]


def needed_packages(binary):
    """The Debian packages holding the shared libraries `binary` links directly (its
    DT_NEEDED entries, found where the dynamic loader finds them)."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        run("readelf", "-d", binary).stdout)
    paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", run("ldd", binary).stdout, re.M))
    pkgs = set()
    for lib in needed:
        path = os.path.realpath(paths[lib])
        # merged /usr: dpkg may know the file under /lib or under /usr/lib
        candidates = [path, re.sub(r"^/usr/lib/", "/lib/", path),
                      re.sub(r"^/lib/", "/usr/lib/", path), paths[lib]]
        for p in candidates:
            r = run("dpkg", "-S", p, check=False)
            if r.returncode == 0:
                pkgs.add(r.stdout.split(":")[0].strip())
                break
        else:
            raise AssertionError(f"{binary}: no package holds {lib} ({path})")
    return pkgs


class Package(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="pushgate-package-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.build = build_dir()
        out = os.path.join(cls.tmp, "out")
        run("cpack", "-G", "DEB", "--config", os.path.join(cls.build, "CPackConfig.cmake"),
            "-B", out, timeout=240)
        (cls.deb,) = glob.glob(os.path.join(out, "pushgate_*.deb"))
        cls.root = os.path.join(cls.tmp, "root")
        run("dpkg", "-x", cls.deb, cls.root)
        cls.control = os.path.join(cls.tmp, "control")
        run("dpkg-deb", "-e", cls.deb, cls.control)
        cls.pushgated = os.path.join(cls.root, "usr/bin/pushgated")

    def field(self, name):
        return run("dpkg-deb", "-f", self.deb, name).stdout.strip()

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "pushgate")
        self.assertEqual(self.field("Version"), project_version() + "-1")
        self.assertEqual(self.field("Architecture"),
                         run("dpkg", "--print-architecture").stdout.strip())
        self.assertTrue(self.field("Maintainer"))
        self.assertIn("postgresql", package_names(self.field("Recommends")))
        self.assertEqual(os.path.basename(self.deb),
                         f"pushgate_{project_version()}-1_{self.field('Architecture')}.deb")

    def test_depends_name_every_linked_library(self):
        depends = package_names(self.field("Depends"))
        for pkg in CORE_DEPENDS:
            self.assertIn(pkg, depends)
        for binary in ("usr/bin/pushgated", "usr/bin/pushgate-sim"):
            for pkg in needed_packages(os.path.join(self.root, binary)):
                self.assertIn(pkg, depends, f"{binary} links a library of {pkg}")

    def test_files_and_modes(self):
        listing = run("dpkg-deb", "-c", self.deb).stdout.splitlines()
        modes = {line.split()[-1].lstrip("."): (line.split()[0], line.split()[1])
                 for line in listing}
        self.assertEqual(modes["/etc/pushgate/pushgated.env"], ("-rw-r-----", "root/root"))
        for binary in ("/usr/bin/pushgated", "/usr/bin/pushgate-sim"):
            self.assertEqual(modes[binary], ("-rwxr-xr-x", "root/root"))
        self.assertEqual(modes["/" + UNIT][0], "-rw-r--r--")
        self.assertIn("/usr/share/doc/pushgate/operations.md", modes)
        self.assertIn("/usr/share/doc/pushgate/README.md", modes)
        migrations = sorted(os.path.basename(p) for p in
                            glob.glob(os.path.join(harness.REPO, "sql", "*.sql")))
        shipped = sorted(os.path.basename(p) for p in modes
                         if p.startswith("/usr/share/pushgate/sql/") and p.endswith(".sql"))
        self.assertEqual(shipped, migrations)
        self.assertIn("schema.sql", shipped)
        # nothing but its own places (and the directories above them)
        owned = ("/etc/pushgate", "/usr/bin/", "/usr/lib/systemd/system/",
                 "/usr/share/pushgate", "/usr/share/doc/pushgate")
        parents = {"/", "/etc", "/usr", "/usr/bin", "/usr/lib", "/usr/lib/systemd",
                   "/usr/lib/systemd/system", "/usr/share", "/usr/share/doc"}
        for path in modes:
            self.assertTrue((path.rstrip("/") or "/") in parents or path.startswith(owned), path)

    def test_conffile_and_maintainer_scripts(self):
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/pushgate/pushgated.env"])
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(self.control, script)
            self.assertTrue(os.stat(path).st_mode & stat.S_IXUSR, script)
            run("sh", "-n", path)
            run("shellcheck", path)  # scripts/lib/deps.sh installs it
        with open(os.path.join(self.control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("adduser --system", postinst)
        self.assertNotRegex(postinst, r"systemctl (start|enable|restart)")

    def run_postinst(self, user_exists, statoverride):
        """postinst configure with every command it runs replaced by a stub that logs its
        arguments (nothing on this machine changes); returns the logged calls."""
        stubs = tempfile.mkdtemp(dir=self.tmp)
        log = os.path.join(stubs, "calls")
        results = {"getent": 0 if user_exists else 2, "dpkg-statoverride": 0 if statoverride
                   else 1}
        for cmd in ("adduser", "getent", "install", "chown", "chmod", "dpkg-statoverride",
                    "systemctl"):
            with open(os.path.join(stubs, cmd), "w") as f:
                f.write(f'#!/bin/sh\necho "{cmd} $*" >> "{log}"\nexit {results.get(cmd, 0)}\n')
            os.chmod(os.path.join(stubs, cmd), 0o755)
        run("sh", os.path.join(self.control, "postinst"), "configure", "",
            env={"PATH": f"{stubs}:/usr/bin:/bin"})
        with open(log) as f:
            return f.read().splitlines()

    def test_postinst_creates_the_user_and_guards_the_env_file(self):
        state_missing = not os.path.isdir("/var/lib/pushgate")
        calls = self.run_postinst(user_exists=False, statoverride=False)
        self.assertIn("adduser --system --group --quiet --home /var/lib/pushgate "
                      "--no-create-home --gecos pushgate push-approval relay pushgate", calls)
        if state_missing:
            self.assertIn("install -d -o pushgate -g pushgate -m 0750 /var/lib/pushgate", calls)
        self.assertIn("chown root:pushgate /etc/pushgate/pushgated.env", calls)
        self.assertIn("chmod 0640 /etc/pushgate/pushgated.env", calls)
        # an upgrade: the user is there, the administrator overrode the file's owner and mode
        calls = self.run_postinst(user_exists=True, statoverride=True)
        self.assertFalse([c for c in calls if c.split()[0] in ("adduser", "chown", "chmod")],
                         calls)

    def test_env_file_is_sourceable_and_names_the_state_directory(self):
        path = os.path.join(self.root, ENV_FILE)
        r = run("sh", "-c", 'set -a; . "$1"; env', "sh", path, env={"PATH": "/usr/bin:/bin"})
        got = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        self.assertEqual(got["PUSHGATE_KEY_FILE"], "/var/lib/pushgate/pushgate.key")
        self.assertEqual(got["PUSHGATE_MAIL_DIR"], "/var/lib/pushgate/mail")
        self.assertTrue(got["PUSHGATE_DATABASE_URL"].startswith("postgresql://"))
        # the shipped values pass the start-up checks (`config` reads no database)
        shipped = {k: v for k, v in got.items() if k.startswith("PUSHGATE_")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
        effective = json.loads(run(self.pushgated, "config", env={**env, **shipped}).stdout)
        for k, v in shipped.items():
            self.assertEqual(effective[k], "(secret)" if k == "PUSHGATE_DATABASE_URL" else v)

    def test_unit_as_shipped(self):
        with open(os.path.join(self.root, UNIT)) as f:
            unit = f.read()
        settings = [tuple(l.split("=", 1)) for l in unit.splitlines()
                    if l and not l.startswith(("#", "[")) and "=" in l]
        for kv in [("ExecStart", "/usr/bin/pushgated serve"),
                   ("EnvironmentFile", "/etc/pushgate/pushgated.env"),
                   ("User", "pushgate"), ("StateDirectory", "pushgate"),
                   ("Environment", "PUSHGATE_KEY_FILE=/var/lib/pushgate/pushgate.key"),
                   ("ExecReload", "/bin/kill -HUP $MAINPID"), ("Restart", "on-failure"),
                   ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                   ("PrivateTmp", "yes"), ("ReadWritePaths", "/var/lib/pushgate"),
                   ("WantedBy", "multi-user.target")]:
            self.assertIn(kv, settings)
        self.assertIn("LimitNOFILE", dict(settings))

    def test_systemd_analyze_verify(self):
        with open(os.path.join(self.root, UNIT)) as f:
            unit = f.read().replace("/usr/bin/pushgated", self.pushgated)
        d = os.path.join(self.tmp, "unit")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "pushgated.service")
        with open(path, "w") as f:
            f.write(unit)
        r = run("systemd-analyze", "verify", "--man=no", path, check=False)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        # the sandbox stays tight: systemd's exposure score at most 2.0 ("OK")
        r = run("systemd-analyze", "security", "--offline=true", "--threshold=20", path,
                check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_version_needs_no_configuration(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
        r = run(self.pushgated, "--version", env=env)
        self.assertEqual(r.stdout, f"pushgated {project_version()} (schema {schema_version()})\n")
        r = run(self.pushgated, "version", env=env)
        self.assertEqual(json.loads(r.stdout),
                         {"version": project_version(), "schemaVersion": schema_version()})

    def test_packaged_binary_migrates_and_serves_a_push(self):
        s = self.server(binary=self.pushgated)  # `migrate`, then `serve`
        self.assertEqual(s.cli("migrate"), {"schemaVersion": schema_version()})
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        r = s.request("GET", "/readyz")
        self.assertEqual((r.status, r.body.get("schemaVersion")), (200, schema_version()))
        h = s.app_headers(s.create_app("Packaged"))
        r = s.request("POST", "/registration", headers=h,
                      body={"username": "debian", "delivery": "none"})
        self.assertEqual(r.status, 201, r)
        dev = device.Device()
        dev.enroll(s, device.link_token(r.body["link"]))
        r = s.request("POST", "/auth", headers={**h, "Prefer": "respond-async"},
                      body={"username": "debian"})
        self.assertEqual(r.status, 202, r)
        rid = r.body["requestId"]
        path = "/device/challenges"
        r = s.request("GET", f"{path}?wait=10", headers={"Authorization": dev.proof("GET", path)},
                      timeout=30)
        self.assertEqual(r.status, 200, r)
        (challenge,) = r.body["challenges"]
        _, payload = dev.verify_challenge(challenge["challenge"])
        self.assertEqual(payload["requestId"], rid)
        path = f"/device/challenges/{rid}"
        r = s.request("POST", path, headers={"Authorization": dev.proof("POST", path)},
                      body={"response": dev.response(rid, payload["nonce"])})
        self.assertEqual(r.body, {"requestId": rid, "status": "accepted"})
        r = s.request("GET", f"/auth/{rid}", headers=h)
        self.assertEqual((r.status, r.body["status"], r.body["deviceId"]),
                         (200, "accepted", dev.device_id))


class Install(harness.TestCase):
    """`cmake --install` from the same build tree: the prefix's paths in the unit, the env
    file 0640 and kept when it is already there; DESTDIR with the prefix /usr puts it in
    DESTDIR/etc, as the package does."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="pushgate-install-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def install(self, prefix, destdir=None):
        env = dict(os.environ)
        env.pop("DESTDIR", None)
        if destdir:
            env["DESTDIR"] = destdir
        return run("cmake", "--install", build_dir(), "--prefix", prefix, env=env).stdout

    def test_prefix_layout_and_unit_paths(self):
        p = os.path.join(self.tmp, "prefix")
        self.install(p)
        for f in ("bin/pushgated", "bin/pushgate-sim"):
            self.assertTrue(os.access(os.path.join(p, f), os.X_OK), f)
        self.assertTrue(os.path.isfile(os.path.join(p, "share/pushgate/sql/001_applications.sql")))
        self.assertTrue(os.path.isfile(os.path.join(p, "share/doc/pushgate/operations.md")))
        with open(os.path.join(p, "lib/systemd/system/pushgated.service")) as f:
            unit = f.read()
        self.assertIn(f"\nExecStart={p}/bin/pushgated serve\n", unit)
        self.assertIn(f"\nEnvironmentFile={p}/etc/pushgate/pushgated.env\n", unit)
        self.assertNotIn("/usr/bin/pushgated", unit)
        env = os.path.join(p, "etc/pushgate/pushgated.env")
        self.assertEqual(stat.S_IMODE(os.stat(env).st_mode), 0o640)
        # an administrator's edits survive the next install
        with open(env, "a") as f:
            f.write("PUSHGATE_LOG_LEVEL=debug\n")
        out = self.install(p)
        self.assertIn("Keeping:", out)
        with open(env) as f:
            self.assertTrue(f.read().endswith("PUSHGATE_LOG_LEVEL=debug\n"))

    def test_destdir_with_prefix_usr(self):
        d = os.path.join(self.tmp, "dest")
        self.install("/usr", destdir=d)
        self.assertTrue(os.path.isfile(os.path.join(d, "etc/pushgate/pushgated.env")))
        self.assertFalse(os.path.exists(os.path.join(d, "usr/etc")))
        with open(os.path.join(d, UNIT)) as f:
            unit = f.read()
        self.assertIn("\nExecStart=/usr/bin/pushgated serve\n", unit)
        self.assertIn("\nEnvironmentFile=/etc/pushgate/pushgated.env\n", unit)
        self.assertNotIn(d, unit)


if __name__ == "__main__":
    harness.main()
