"""Runs the real mailrelayd for integration tests.

Every Relay gets its own temporary directory (spool, sockets, outbox, config) and
ephemeral loopback ports; nothing is shared between tests, so they run in parallel.
As root (CI) the relay runs with real privilege separation: the system users are created
with packaging/create-users.sh and the temporary directories are world-traversable.

Run with Debian's interpreter: /usr/bin/python3.
"""
import contextlib
import glob
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("MAILRELAY_BIN", os.path.join(SOURCE_DIR, "build", "bin"))
IS_ROOT = os.geteuid() == 0


def free_port(host="127.0.0.1"):
    """A port nobody listens on right now (the relay binds it a moment later)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ensure_users():
    if IS_ROOT:
        subprocess.run([os.path.join(SOURCE_DIR, "packaging", "create-users.sh")], check=True)


def wait_for(predicate, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


def children_of(pid):
    """{program name: [pids]} of the direct children of pid, from /proc."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: split at the last ')'.
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid:
            out.setdefault(comm, []).append(int(d))
    return out


class Relay:
    """One mailrelayd with its own directory and ports.

    sections: {section: {key: value}} merged over the defaults (value None deletes a key).
    """

    def __init__(self, sections=None, name="relay", privsep=None):
        ensure_users()
        self.dir = tempfile.mkdtemp(prefix="mailrelay-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.outbox = os.path.join(self.dir, "outbox")
        self.spool = os.path.join(self.dir, "spool")
        self.run_dir = os.path.join(self.dir, "run")
        self.log_path = os.path.join(self.dir, "mailrelayd.log")
        self.config_path = os.path.join(self.dir, "mailrelay.ini")
        self.proc = None
        self.sections = {
            "server": {"hostname": "relay.test.example", "spool_dir": self.spool, "run_dir": self.run_dir,
                       "restart_per_hour": "20", "postmaster": "postmaster@test.example",
                       "shutdown_timeout": "10s"},
            "smtpd": {"listen": "127.0.0.1:%d" % self.port, "auth": "none"},
            "policy": {"networks": "127.0.0.0/8, ::1/128", "mode": "strict",
                       "recipient_domains": "example.com, example.org, test.example"},
            "queue": {"retry_delay": "1s", "max_retry_delay": "2s"},
            "route": {"default": "file"},
            "file": {"dir": self.outbox},
        }
        if privsep is not None:
            self.sections["server"]["privilege_separation"] = "yes" if privsep else "no"
        for sec, keys in (sections or {}).items():
            target = self.sections.setdefault(sec, {})
            for k, v in keys.items():
                if v is None:
                    target.pop(k, None)
                else:
                    target[k] = v
        self.write_config()

    # --- configuration -------------------------------------------------------------
    def write_config(self, sections=None):
        secs = sections if sections is not None else self.sections
        with open(self.config_path, "w") as f:
            for sec, keys in secs.items():
                f.write("[%s]\n" % sec)
                for k, v in keys.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n")

    # --- lifecycle -----------------------------------------------------------------
    def start(self, wait=True, extra_args=(), env=None, wrapper=()):
        """wrapper: a command mailrelayd runs under (setpriv ..., strace ...)."""
        if getattr(self, "logf", None):
            self.logf.close()
        self.logf = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([*wrapper, os.path.join(BIN, "mailrelayd"), "-c", self.config_path, "-f", *extra_args],
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=e)
        if wait:
            self.wait_ready()
        return self

    def start_no_probe(self):
        """start() for relays that need a PROXY header first: wait for the log instead."""
        self.start(wait=False)
        wait_for(lambda: "smtpd ready" in self.log() and "delivery agent connected" in self.log(), 20,
                 what="the relay to be ready")
        return self

    def wait_ready(self, timeout=20.0):
        def greeting():
            if self.proc.poll() is not None:
                raise AssertionError("mailrelayd exited with %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    return s.recv(512).startswith(b"220")
            except OSError:
                return False
        wait_for(greeting, timeout, what="the SMTP greeting")
        # The agents connect to qmgr just after smtpd starts; wait for them too.
        wait_for(lambda: "delivery agent connected" in self.log(), timeout, what="a delivery agent")

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mailrelayd did not stop within %ss:\n%s" % (timeout, self.log()[-4000:]))
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        try:
            self.stop(signal.SIGKILL, 5)
        except AssertionError:
            pass
        # Children die with the master (parent-death signal); give them a moment.
        time.sleep(0.05)
        if os.environ.get("MAILRELAY_KEEP_TEST_DIRS"):
            return
        if getattr(self, "logf", None):
            self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # --- observation ---------------------------------------------------------------
    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def children(self):
        return children_of(self.proc.pid)

    def pid_of(self, name):
        pids = self.children().get(name, [])
        return pids[0] if pids else None

    def outbox_files(self):
        return sorted(glob.glob(os.path.join(self.outbox, "*.eml")))

    def outbox_messages(self):
        out = []
        for p in self.outbox_files():
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def wait_outbox(self, count, timeout=20.0):
        return wait_for(lambda: len(self.outbox_files()) >= count and self.outbox_files(), timeout,
                        what="%d message(s) in the outbox" % count)

    def relayctl(self, *args, check=True, stdin=None, json_out=False):
        cmd = [os.path.join(BIN, "relayctl"), "-c", self.config_path]
        if json_out:
            cmd.append("--json")
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, input=stdin, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("relayctl %s failed (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        if json_out and r.returncode == 0:
            return json.loads(r.stdout)
        return r

    # --- clients -------------------------------------------------------------------
    def smtp(self, timeout=30):
        return smtplib.SMTP("127.0.0.1", self.port, timeout=timeout)

    def try_send(self, **kw):
        """send(), but False instead of an exception (for waiting through an outage)."""
        try:
            return self.send(**kw) == {}
        except (smtplib.SMTPException, OSError):
            return False

    def send(self, sender="sender@example.org", rcpts=("rcpt@example.com",), body=None, subject="test"):
        if body is None:
            body = "Subject: %s\r\nFrom: %s\r\nTo: %s\r\n\r\nhello\r\n" % (subject, sender, ", ".join(rcpts))
        with self.smtp() as s:
            return s.sendmail(sender, list(rcpts), body)


def queue_id_from(reply_text):
    m = re.search(r"queued as ([0-9A-Z]+)", reply_text)
    return m.group(1) if m else None


# --- TLS material ---------------------------------------------------------------------

import sys as _sys
_sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "fakes"))
import testca  # noqa: E402

_PKI = None


def pki():
    """The test CA and certificates (tests/fakes/testca.py), made once per test process."""
    global _PKI
    if _PKI is None:
        d = tempfile.mkdtemp(prefix="mailrelay-pki-")
        os.chmod(d, 0o755)
        _PKI = testca.ensure(d)
        _PKI["dir"] = d
    return _PKI


def client_tls_context(verify=True):
    import ssl
    ctx = ssl.create_default_context(cafile=pki()["ca"]) if verify else ssl._create_unverified_context()
    return ctx


# --- a raw SMTP client for byte-exact protocol tests ---------------------------------

class Raw:
    """Speaks SMTP byte by byte: whatever the test writes goes on the wire as is."""

    def __init__(self, port, host="127.0.0.1", timeout=15, source=None, tls_context=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed (buffer %r)" % self.buf[:200])
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """(code, [lines]) of one reply; lines without the code."""
        lines = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit():
                raise AssertionError("not a reply line: %r" % line)
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True once the server has closed the connection (reads EOF)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def starttls(self, context, host="127.0.0.1"):
        self.sock = context.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def expect(testcase, reply, code, enhanced=None, contains=None):
    c, lines = reply
    testcase.assertEqual(c, code, "reply %s %s" % (c, lines))
    if enhanced:
        testcase.assertTrue(lines[-1].startswith(enhanced), "expected %s in %s" % (enhanced, lines))
    if contains:
        testcase.assertIn(contains, " ".join(lines))
