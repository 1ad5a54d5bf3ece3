"""The Debian package, end to end, on this machine: build the .deb from the tree ctest
built, install it with apt-get, run the installed relay the way the systemd unit's
ExecStart does, upgrade to a rebuilt package with a message still queued, remove, purge.

Root on Debian only (CI is). It installs into the real system (/usr, /etc, /var/spool,
system users) and purges afterwards, so CTest runs it alone (RUN_SERIAL); any mailrelay
package left installed by an interrupted run is purged first. The system users the other
tests need are created again at the end.

    MAILRELAY_BUILD_DIR=build /usr/bin/python3 -m unittest -v test_package
"""
import glob
import grp
import json
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("MAILRELAY_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
UNIT = "/lib/systemd/system/mailrelay.service"
CONFIG = "/etc/mailrelay/mailrelay.ini"
SPOOL = "/var/spool/mailrelay"
RUN_DIR = "/run/mailrelay"
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive", ASAN_OPTIONS="detect_leaks=0")


def run(*cmd, check=True, **kw):
    kw.setdefault("env", ENV)
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=600, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def apt_install(deb):
    return run("apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confdef",
               "-o", "Dpkg::Options::=--force-confold", deb)


def installed_version():
    r = run("dpkg-query", "-W", "-f=${Status} ${Version}", "mailrelay", check=False)
    return r.stdout.split()[-1] if r.returncode == 0 and "install ok installed" in r.stdout else None


def purge():
    if run("dpkg-query", "-W", "mailrelay", check=False).returncode == 0:
        run("apt-get", "purge", "-y", "-q", "mailrelay")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def owner(path):
    st = os.stat(path)
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, st.st_mode & 0o7777


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def exec_start():
    """The unit's ExecStart, split into argv (no quoting is used in it)."""
    with open(UNIT) as f:
        for line in f:
            if line.startswith("ExecStart="):
                return line.split("=", 1)[1].split()
    raise AssertionError("no ExecStart in " + UNIT)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("dpkg") and shutil.which("apt-get"),
                     "needs root on Debian (apt-get, dpkg)")
class DebianPackage(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mailrelay-package-")
        os.chmod(self.tmp, 0o755)
        self.relay = None
        self.sink = None
        # Purging deletes the mailrelay users, which deluser refuses while they run anything:
        # a relay some earlier test left behind would fail this test for the wrong reason.
        users = "mailrelay,mailrelay-smtpd,mailrelay-deliver"
        leftovers = subprocess.run(["pgrep", "-a", "-u", users], capture_output=True, text=True).stdout
        if leftovers:
            print("\nkilling processes an earlier test left behind:\n" + leftovers)
            subprocess.run(["pkill", "-KILL", "-u", users])
            time.sleep(0.5)
        purge()

    def tearDown(self):
        self.stop_relay()
        if self.sink:
            self.sink.kill()
            self.sink.wait()
        purge()
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        # The integration tests run as these users.
        subprocess.run([os.path.join(SOURCE_DIR, "packaging", "create-users.sh")], check=True)

    # --- helpers -------------------------------------------------------------------
    def build_deb(self):
        out = tempfile.mkdtemp(dir=self.tmp)
        # gzip rather than the default xz: the same package, built in a fraction of the time
        # from the large sanitizer binaries of `make test`.
        cmd = ["cpack", "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-B", out,
               "-D", "CPACK_DEBIAN_COMPRESSION_TYPE=gzip"]
        run(*cmd, cwd=BUILD_DIR)
        debs = glob.glob(os.path.join(out, "mailrelay_*.deb"))
        self.assertEqual(len(debs), 1, debs)
        return debs[0]

    def rebuilt(self, deb, version):
        """The same package under a newer version: unpacked and built again with dpkg-deb
        (cpack would strip and scan the sanitizer binaries again, 25 s each time)."""
        tree = tempfile.mkdtemp(dir=self.tmp)
        run("dpkg-deb", "-R", deb, tree)
        control = os.path.join(tree, "DEBIAN", "control")
        with open(control) as f:
            text = f.read()
        text = re.sub(r"(?m)^Version: .*$", "Version: " + version, text)
        with open(control, "w") as f:
            f.write(text)
        out = os.path.join(self.tmp, "mailrelay_%s_%s.deb" % (version, run("dpkg", "--print-architecture").stdout.strip()))
        run("dpkg-deb", "-Znone", "-b", tree, out)  # uncompressed: built in a second
        return out

    def start_relay(self):
        # What systemd would do: RuntimeDirectory=mailrelay, then ExecStart with
        # NOTIFY_SOCKET for Type=notify.
        os.makedirs(RUN_DIR, mode=0o755, exist_ok=True)
        notify_path = os.path.join(self.tmp, "notify.sock")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(60)
        self.log = open(os.path.join(self.tmp, "mailrelayd.log"), "ab")
        self.relay = subprocess.Popen(exec_start(), stdout=self.log, stderr=subprocess.STDOUT,
                                      env=dict(ENV, NOTIFY_SOCKET=notify_path))
        try:
            state = notify.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no READY=1 from mailrelayd:\n" + self.read_log())
        finally:
            notify.close()
        self.assertIn("READY=1", state.split("\n"))
        self.assertIn("MAINPID=%d" % self.relay.pid, state.split("\n"))

    def stop_relay(self):
        if self.relay and self.relay.poll() is None:
            self.relay.send_signal(signal.SIGTERM)  # systemctl stop (KillMode=mixed)
            self.assertEqual(self.relay.wait(60), 0, self.read_log())
        self.relay = None

    def wait(self, predicate, what, timeout=30.0):
        try:
            return wait_for(predicate, timeout, what)
        except AssertionError as e:
            raise AssertionError("%s\nmailrelayd's log:\n%s" % (e, self.read_log()))

    def read_log(self):
        with open(os.path.join(self.tmp, "mailrelayd.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def relayctl(self, *args):
        r = run("/usr/bin/relayctl", "--json", *args)
        return json.loads(r.stdout)

    def send(self, rcpt, subject):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("app@example.org", [rcpt], "From: app@example.org\r\nTo: %s\r\nSubject: %s\r\n\r\nhi\r\n"
                       % (rcpt, subject))

    def sink_messages(self):
        with open(os.path.join(self.tmp, "sink.out"), "rb") as f:
            text = f.read()
        i = text.rfind(b"mesg=")
        return int(text[i + 5:].split(b"\r")[0].split()[0]) if i >= 0 else 0

    # --- the test ------------------------------------------------------------------
    def test_install_run_upgrade_remove_purge(self):
        v1 = self.build_deb()
        v2 = self.rebuilt(v1, os.path.basename(v1).split("_")[1] + "+upgrade1")
        control = run("dpkg-deb", "-f", v1, "Depends").stdout
        for lib in ("libevent", "libssl3", "libcurl", "libsqlite3", "libsodium", "libinih", "libcrypt", "adduser"):
            self.assertIn(lib, control, "Depends comes from the linked libraries (dpkg-shlibdeps)")

        apt_install(v1)
        self.check_layout()

        # The packaged configuration is safe and incomplete: --check says what to fill in.
        r = run("/usr/sbin/mailrelayd", "--check", "-c", CONFIG, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("[route] default is not set", r.stderr)

        # The operator configures it: loopback, the file backend for most mail, a
        # smarthost (not listening yet) for example.net.
        self.port = free_port()
        upstream = free_port()
        with open(CONFIG, "w") as f:
            f.write("[server]\nhostname = relay.package.test\n"
                    "[smtpd]\nlisten = 127.0.0.1:%d\nauth = none\n"
                    "[policy]\nrecipient_domains = example.com, example.net\n"
                    "[queue]\nretry_delay = 1h\n"
                    "[route]\ndefault = file\nexample.net = smtp\n"
                    "[file]\ndir = %s/outbox\n"
                    "[smtp]\nhost = [127.0.0.1]\nport = %d\ntls = none\n" % (self.port, SPOOL, upstream))
        self.assertIn("OK", run("/usr/sbin/mailrelayd", "--check", "-c", CONFIG).stdout)

        self.start_relay()
        self.send("someone@example.com", "delivered before the upgrade")
        self.wait(lambda: glob.glob(SPOOL + "/outbox/*.eml"), "delivery to the outbox")
        self.assertEqual(owner(SPOOL)[:2], ("mailrelay", "mailrelay"))
        self.assertEqual(owner(SPOOL + "/queue.db")[:2], ("mailrelay", "mailrelay"))
        self.assertEqual(owner(SPOOL + "/outbox")[:2], ("mailrelay-deliver", "mailrelay-deliver"))
        status = self.relayctl("status")
        self.assertEqual({p["name"] for p in status["processes"]}, {"qmgr", "smtpd", "deliver-file", "deliver-smtp"})

        # A message that cannot go out yet stays in the spool across the upgrade.
        self.send("someone@example.net", "queued across the upgrade")
        queued = self.wait(lambda: [m for m in self.relayctl("list")["messages"] if m["state"] == "deferred"],
                           "the example.net message deferred")
        queue_id = queued[0]["id"]
        self.stop_relay()

        apt_install(v2)
        self.assertEqual(installed_version(), os.path.basename(v2).split("_")[1])
        with open(CONFIG) as f:
            self.assertIn("relay.package.test", f.read(), "the operator's configuration survives the upgrade")
        self.check_layout()
        apt_install(v2)  # a reinstall changes nothing
        self.check_layout()

        self.start_relay()
        self.assertEqual([m["id"] for m in self.relayctl("list")["messages"]], [queue_id])
        with open(os.path.join(self.tmp, "sink.out"), "wb") as out:
            self.sink = subprocess.Popen(["smtp-sink", "-c", "-u", "postfix", "127.0.0.1:%d" % upstream, "10"],
                                         stdout=out, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        run("/usr/bin/relayctl", "flush")
        self.wait(lambda: not self.relayctl("list")["messages"], "the queued message delivered after the upgrade")
        self.assertEqual(self.sink_messages(), 1)
        self.stop_relay()

        run("apt-get", "remove", "-y", "-q", "mailrelay")
        self.assertFalse(os.path.exists("/usr/sbin/mailrelayd"))
        self.assertTrue(os.path.exists(CONFIG), "remove keeps the configuration")
        self.assertTrue(os.path.exists(SPOOL + "/queue.db"), "remove keeps the queue")
        self.assertEqual(run("getent", "passwd", "mailrelay", check=False).returncode, 0, "remove keeps the users")

        run("apt-get", "purge", "-y", "-q", "mailrelay")
        self.assertFalse(os.path.exists(SPOOL))
        self.assertFalse(os.path.exists("/etc/mailrelay"))
        for u in ("mailrelay", "mailrelay-smtpd", "mailrelay-deliver"):
            self.assertNotEqual(run("getent", "passwd", u, check=False).returncode, 0, u + " removed on purge")
            self.assertNotEqual(run("getent", "group", u, check=False).returncode, 0, u + " group removed on purge")

    def check_layout(self):
        for path in ("/usr/sbin/mailrelayd", "/usr/bin/relayctl", "/usr/lib/mailrelay/qmgr", "/usr/lib/mailrelay/smtpd",
                     "/usr/lib/mailrelay/deliver-file", "/usr/lib/mailrelay/deliver-smtp", UNIT,
                     "/usr/share/man/man8/mailrelayd.8.gz", "/usr/share/man/man8/relayctl.8.gz",
                     "/usr/share/man/man5/mailrelay.ini.5.gz", "/usr/share/doc/mailrelay/operations.md",
                     "/usr/share/doc/mailrelay/copyright"):
            self.assertTrue(os.path.exists(path), path)
        self.assertIn(CONFIG, run("dpkg-query", "-W", "-f=${Conffiles}", "mailrelay").stdout)
        for u in ("mailrelay", "mailrelay-smtpd", "mailrelay-deliver"):
            entry = pwd.getpwnam(u)
            self.assertLess(entry.pw_uid, 1000, u + " is a system user")
            self.assertIn(entry.pw_shell, ("/usr/sbin/nologin", "/bin/false"))
        self.assertEqual(owner(SPOOL), ("mailrelay", "mailrelay", 0o750))
        self.assertEqual(owner("/etc/mailrelay/secrets"), ("root", "mailrelay-deliver", 0o750))
        # The unit as systemd reads it, with the man pages its Documentation= names.
        r = run("systemd-analyze", "verify", UNIT, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for page in ("mailrelayd.8", "relayctl.8", "mailrelay.ini.5"):
            section = page.rsplit(".", 1)[1]
            r = run("man", "--warnings", "-E", "UTF-8", section, page.rsplit(".", 1)[0], check=False)
            self.assertEqual(r.returncode, 0, page + ": " + r.stderr)
            self.assertEqual(r.stderr.strip(), "", page + " has roff warnings")
        # mailrelay.ini(5) lists every key the installed binary knows.
        page = run("man", "-E", "UTF-8", "5", "mailrelay.ini", env=dict(ENV, MANWIDTH="200")).stdout
        for line in run("/usr/sbin/mailrelayd", "--help-config").stdout.splitlines():
            if " = " in line:
                self.assertIn(line.split(" = ")[0], page)


if __name__ == "__main__":
    unittest.main()
