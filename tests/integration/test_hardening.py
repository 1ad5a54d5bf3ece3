"""The systemd unit's sandbox, proven against the real relay without systemd (CI has no
PID 1 systemd): every system call any mailrelay process makes is in the unit's
SystemCallFilter (traced with strace), the relay works with nothing but the unit's
CapabilityBoundingSet and no_new_privs (setpriv), and mailrelayd speaks sd_notify as
Type=notify expects. The settings are read from packaging/mailrelay.service itself, so the
unit and these tests cannot drift apart."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import IS_ROOT, SOURCE_DIR, Relay, children_of, free_port, wait_for

UNIT = os.path.join(SOURCE_DIR, "packaging", "mailrelay.service")


def unit_values(key):
    """Every value of KEY= in the unit, each split on whitespace."""
    out = []
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line.startswith(key + "="):
                out += line.split("=", 1)[1].split()
    return out


_GROUPS = {}


def syscall_group(name):
    """The system calls in a systemd filter group (@system-service), nested groups expanded."""
    if name not in _GROUPS:
        text = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True,
                              check=True).stdout
        calls = set()
        for line in text.splitlines()[1:]:
            item = line.strip()
            if not item or item.startswith("#"):
                continue
            calls |= syscall_group(item) if item.startswith("@") else {item}
        _GROUPS[name] = calls
    return _GROUPS[name]


def low_free_port():
    """A free port below 1024: binding it needs CAP_NET_BIND_SERVICE."""
    for port in range(1000, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise unittest.SkipTest("no free port below 1024")


def sections_with_every_kind_of_work(sink_port):
    """privsep on, mail for example.net to an SMTP sink (deliver-smtp), the rest to files."""
    return {"server": {"privilege_separation": "yes", "metrics_listen": "127.0.0.1:%d" % free_port()},
            "route": {"example.net": "smtp"},
            "smtp": {"host": "[127.0.0.1]", "port": str(sink_port), "tls": "none"},
            "policy": {"recipient_domains": "example.com, example.net, test.example"}}


class Sink:
    """Postfix's smtp-sink on a free port, for deliver-smtp to talk to."""

    def __init__(self):
        self.port = free_port()
        as_user = ["-u", "postfix"] if IS_ROOT else []  # smtp-sink refuses to run as root
        self.proc = subprocess.Popen(["smtp-sink", *as_user, "127.0.0.1:%d" % self.port, "100"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("smtp-sink exited with %s" % self.proc.returncode)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(listening, what="smtp-sink listening")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def exercise(r):
    """Mail both ways, the operator's verbs, /metrics and a reload: the calls a day makes."""
    r.send(rcpts=("someone@example.com",))
    r.send(rcpts=("someone@example.net",))
    r.wait_outbox(1)
    wait_for(lambda: any(e["status"] == "sent" and e["to"].endswith("example.net")
                         for e in r.relayctl("log", json_out=True)["entries"]), timeout=20, what="sent via SMTP")
    r.relayctl("status")
    r.relayctl("list")
    generation = r.log().count("configuration reloaded")
    r.relayctl("reload")
    wait_for(lambda: r.log().count("configuration reloaded") > generation, what="the reload")
    r.send(rcpts=("again@example.com",))
    r.wait_outbox(2)


@unittest.skipUnless(IS_ROOT, "the sandbox test switches users: it needs root")
@unittest.skipUnless(shutil.which("strace") and shutil.which("systemd-analyze"), "needs strace and systemd-analyze")
class SystemCallFilter(unittest.TestCase):
    def test_every_system_call_is_in_the_units_filter(self):
        allowed = set()
        for item in unit_values("SystemCallFilter"):
            allowed |= syscall_group(item) if item.startswith("@") else {item}
        self.assertIn("sendmsg", allowed, "the filter expanded to nothing useful")
        tmp = tempfile.mkdtemp(prefix="mailrelay-strace-")
        self.addCleanup(shutil.rmtree, tmp, True)
        trace = os.path.join(tmp, "trace")
        # Trace only what the filter would refuse ("?": names this strace does not know are fine).
        strace = ["strace", "-f", "-qq", "-o", trace, "-e", "trace=!" + ",".join("?" + c for c in sorted(allowed))]
        sink = Sink()
        self.addCleanup(sink.stop)
        r = Relay(sections=sections_with_every_kind_of_work(sink.port), name="strace")
        self.addCleanup(r.cleanup)
        r.start(wait=False, wrapper=strace)
        master = wait_for(lambda: children_of(r.proc.pid).get("mailrelayd", [None])[0], what="mailrelayd under strace")
        # Killing strace would leave mailrelayd running untraced: on any failure, stop it first.
        self.addCleanup(lambda: os.path.exists("/proc/%d" % master) and os.kill(master, signal.SIGKILL))
        r.wait_ready(timeout=60)
        exercise(r)
        os.kill(master, signal.SIGTERM)
        self.assertEqual(r.proc.wait(60), 0, r.log()[-3000:])
        refused = {}
        with open(trace) as f:
            for line in f:
                parts = line.split(None, 1)
                if len(parts) < 2 or parts[1].startswith(("+++", "---", "<...")):
                    continue
                refused.setdefault(parts[1].split("(", 1)[0], line.strip())
        self.assertEqual(refused, {}, "system calls outside SystemCallFilter=%s" % " ".join(unit_values("SystemCallFilter")))


@unittest.skipUnless(IS_ROOT, "dropping to the unit's capabilities needs root")
@unittest.skipUnless(shutil.which("setpriv"), "needs setpriv (util-linux)")
class CapabilityBoundingSet(unittest.TestCase):
    def test_the_relay_runs_with_only_the_units_capabilities_and_no_new_privs(self):
        caps = [c.lower().replace("cap_", "+") for c in unit_values("CapabilityBoundingSet")]
        self.assertIn("+net_bind_service", caps)
        setpriv = ["setpriv", "--bounding-set=-all," + ",".join(caps), "--inh-caps=-all", "--no-new-privs", "--"]
        sink = Sink()
        self.addCleanup(sink.stop)
        s = sections_with_every_kind_of_work(sink.port)
        port = low_free_port()  # a privileged port, as :25 is
        s["smtpd"] = {"listen": "127.0.0.1:%d" % port}
        r = Relay(sections=s, name="setpriv")
        self.addCleanup(r.cleanup)
        r.port = port
        r.start(wrapper=setpriv)
        with open("/proc/%d/status" % r.proc.pid) as f:
            status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        self.assertEqual(status["NoNewPrivs"].strip(), "1")
        self.assertNotEqual(int(status["CapBnd"], 16), int("1" * 41, 2), "the bounding set was not reduced")
        exercise(r)
        self.assertEqual(r.stop(), 0, r.log()[-3000:])


class SdNotify(unittest.TestCase):
    def test_ready_reloading_and_stopping_reach_the_notify_socket(self):
        tmp = tempfile.mkdtemp(prefix="mailrelay-notify-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(path)
        sock.settimeout(30)
        r = Relay(name="notify")
        self.addCleanup(r.cleanup)
        r.start(wait=False, env={"NOTIFY_SOCKET": path})

        def next_state():
            fields = dict(l.split("=", 1) for l in sock.recv(4096).decode().splitlines() if "=" in l)
            return fields

        ready = next_state()
        self.assertEqual(ready.get("READY"), "1", ready)
        self.assertEqual(ready.get("MAINPID"), str(r.proc.pid))
        # READY=1 means ready: the port answers and every process is up, at once.
        with socket.create_connection(("127.0.0.1", r.port), timeout=5) as c:
            self.assertTrue(c.recv(512).startswith(b"220"))
        def states():
            return {p["name"]: p["state"] for p in r.relayctl("status", json_out=True)["processes"]}
        wait_for(lambda: set(states()) >= {"qmgr", "smtpd", "deliver-file"} and set(states().values()) == {"running"},
                 timeout=5, what="every process running")
        # Only mailrelayd talks to systemd (NotifyAccess=main): no child inherits the socket.
        for name, pids in r.children().items():
            with open("/proc/%d/environ" % pids[0], "rb") as f:
                self.assertNotIn(b"NOTIFY_SOCKET=", f.read(), name)
        os.kill(r.proc.pid, signal.SIGHUP)
        self.assertEqual(next_state().get("RELOADING"), "1")
        again = next_state()
        self.assertEqual(again.get("READY"), "1", again)
        self.assertIn("reloaded", again.get("STATUS", ""))
        os.kill(r.proc.pid, signal.SIGTERM)
        self.assertEqual(next_state().get("STOPPING"), "1")
        self.assertEqual(r.proc.wait(30), 0)


if __name__ == "__main__":
    unittest.main()
