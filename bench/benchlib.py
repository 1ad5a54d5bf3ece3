"""Shared pieces of mailrelay's benchmarks: a private Postfix instance configured like the
mailrelay under test, a mailrelay instance, smtp-sink and smtp-source from Debian's
postfix package. Everything runs on loopback ports in temporary directories.

Run as root (Postfix's master wants it). Results go to bench/results/.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing answers on port %d" % port)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pss_kb(pids):
    """Proportional set size of the processes, summed: shared pages (the binary, libraries)
    counted once across them, so a relay of many processes is not over-counted."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def cpu_seconds(pids):
    """user+system CPU of the processes and their reaped children, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except OSError:
            pass
    return total / tick


def descendants(pid):
    out = [pid]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == pid:
            out.extend(descendants(int(d)))
    return out


class ThrottledDisk:
    """A slow disk without new hardware: a block-I/O cgroup that caps write operations per
    second on the device under `directory` (cgroup v2 io.max, or v1 blkio throttling).
    Processes started with `enter` as their preexec_fn, and their children, are throttled;
    an fdatasync needs a write and a flush, so N write IOPS gives roughly N/2 fsyncs/s.
    Root only."""

    def __init__(self, directory, write_iops):
        st = os.stat(directory)
        dev = "%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))
        # Throttling applies to whole disks: climb from a partition to its disk.
        if os.path.exists("/sys/dev/block/%s/partition" % dev):
            with open(os.path.join(os.path.realpath("/sys/dev/block/%s" % dev), "..", "dev")) as f:
                dev = f.read().strip()
        self.device = dev
        name = "mailrelay-bench-%d" % os.getpid()
        v2 = "/sys/fs/cgroup/cgroup.controllers"
        if os.path.exists(v2) and "io" in open(v2).read().split():
            self.path = os.path.join("/sys/fs/cgroup", name)
            os.makedirs(self.path, exist_ok=True)
            with open(os.path.join(self.path, "io.max"), "w") as f:
                f.write("%s wiops=%d\n" % (dev, write_iops))
        elif os.path.isdir("/sys/fs/cgroup/blkio"):
            self.path = os.path.join("/sys/fs/cgroup/blkio", name)
            os.makedirs(self.path, exist_ok=True)
            with open(os.path.join(self.path, "blkio.throttle.write_iops_device"), "w") as f:
                f.write("%s %d\n" % (dev, write_iops))
        else:
            raise RuntimeError("no block-I/O cgroup controller to throttle the disk with")

    def enter(self):
        """Moves the calling process into the throttled cgroup (a Popen preexec_fn)."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def close(self):
        try:
            os.rmdir(self.path)
        except OSError:
            pass


class SmtpSink:
    """Postfix's smtp-sink: accepts and discards, the ceiling of the protocol here. It also
    serves as the upstream of the end-to-end benchmark, where its running counters (-c)
    prove every message arrived."""

    def __init__(self, backlog=1024):
        self.port = free_port()
        self.counters = tempfile.NamedTemporaryFile(prefix="bench-sink-", suffix=".out")
        self.proc = subprocess.Popen(["smtp-sink", "-c", "-u", "postfix", "127.0.0.1:%d" % self.port, str(backlog)],
                                     stdout=self.counters, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def messages(self):
        """Messages received so far (the last "mesg=N" smtp-sink printed)."""
        with open(self.counters.name, "rb") as f:
            text = f.read()
        i = text.rfind(b"mesg=")
        if i < 0:
            return 0
        digits = text[i + 5:].split(b"\r", 1)[0].split()[0]
        return int(digits)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.counters.close()


class Postfix:
    """A private Postfix instance: same relay role as mailrelay (mynetworks may relay),
    stock defaults otherwise, queue on disk with Postfix's own fsync before 250."""

    def __init__(self, relayhost=None, name="postfix", hold=False, extra=None, preexec_fn=None):
        self.preexec_fn = preexec_fn
        self.dir = tempfile.mkdtemp(prefix="bench-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.etc = os.path.join(self.dir, "etc")
        os.makedirs(self.etc)
        self.port = free_port()
        transport = "smtp" if relayhost else "discard"
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix.bench.example",
            "mydomain": "bench.example",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "local_transport": "error:local delivery disabled",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "default_transport": transport,
            "maillog_file": os.path.join(self.dir, "maillog"),
            "maillog_file_prefixes": "/var, /dev/stdout, /tmp",
            "smtpd_peername_lookup": "no",  # as mailrelay: no DNS on the hot path
        }
        if relayhost:
            main["relayhost"] = relayhost
        if hold:  # accept and keep: nothing is delivered while acceptance is measured
            main["defer_transports"] = transport
        main.update(extra or {})
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        lines = []
        with open("/etc/postfix/master.cf") as f:
            for line in f:
                fields = line.split()
                if fields and not line.startswith("#") and len(fields) >= 8 and fields[1] in ("inet", "unix", "fifo",
                                                                                              "pass", "unix-dgram"):
                    if fields[0] == "smtp" and fields[1] == "inet":
                        fields[0] = "127.0.0.1:%d" % self.port
                    fields[4] = "n"  # no chroot: the queue lives in a temporary directory
                    line = " ".join(fields) + "\n"
                lines.append(line)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.writelines(lines)
        for d in ("queue", "data"):
            os.makedirs(os.path.join(self.dir, d))
        shutil.chown(os.path.join(self.dir, "data"), "postfix", "postfix")
        subprocess.run(["postfix", "-c", self.etc, "check"], check=True, capture_output=True)

    def start(self):
        subprocess.run(["postfix", "-c", self.etc, "start"], check=True, capture_output=True,
                       preexec_fn=self.preexec_fn)
        wait_port(self.port)
        with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
            self.pid = int(f.read().strip())

    def queued(self):
        n = 0
        for q in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _, _, files in os.walk(os.path.join(self.dir, "queue", q)):
                n += len(files)
        return n

    def processes(self):
        return descendants(self.pid)

    def smtpd_rss_kb(self):
        total, count = 0, 0
        for pid in self.processes():
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == "smtpd":
                        total += rss_kb(pid)
                        count += 1
            except OSError:
                pass
        return total, count

    def stop(self):
        subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True)
        time.sleep(1)
        shutil.rmtree(self.dir, ignore_errors=True)


class Mailrelay:
    """mailrelayd from build/bin, as root with privilege separation, spool on disk."""

    def __init__(self, route="file", smtp_port=None, name="mailrelay", outbox_on_tmpfs=True, extra=None, hold=False,
                 preexec_fn=None):
        self.hold = hold
        self.preexec_fn = preexec_fn
        self.dir = tempfile.mkdtemp(prefix="bench-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.outbox = tempfile.mkdtemp(prefix="bench-outbox-", dir="/dev/shm" if outbox_on_tmpfs else self.dir)
        os.chmod(self.outbox, 0o755)
        cfg = {
            "server": {"hostname": "mailrelay.bench.example", "spool_dir": os.path.join(self.dir, "spool"),
                       "run_dir": os.path.join(self.dir, "run"), "postmaster": "postmaster@bench.example",
                       "send_log": None},
            "smtpd": {"listen": "127.0.0.1:%d" % self.port, "auth": "none", "max_connections": "5000",
                      "max_connections_per_ip": "5000"},
            "policy": {"networks": "127.0.0.0/8", "mode": "net_any_domain"},
            "queue": {"send_log": "no", "max_messages": "1000000"},
            "route": {"default": route},
            "file": {"dir": self.outbox, "concurrency": "4"},
        }
        if route == "smtp":
            cfg["smtp"] = {"host": "[127.0.0.1]", "port": str(smtp_port), "tls": "none", "concurrency": "50"}
        for sec, keys in (extra or {}).items():
            cfg.setdefault(sec, {}).update(keys)
        self.config = os.path.join(self.dir, "mailrelay.ini")
        with open(self.config, "w") as f:
            for sec, keys in cfg.items():
                f.write("[%s]\n" % sec)
                for k, v in keys.items():
                    if v is not None:
                        f.write("%s = %s\n" % (k, v))

    def start(self):
        binary = os.path.join(os.environ.get("MAILRELAY_BIN", os.path.join(SOURCE_DIR, "build", "bin")), "mailrelayd")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen([binary, "-c", self.config, "-f"], stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=self.preexec_fn)
        wait_port(self.port)
        time.sleep(0.5)
        self.pid = self.proc.pid
        if self.hold:  # accept and keep: the delivery agent is frozen while acceptance is measured
            for pid in self.processes():
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().startswith("deliver-"):
                        os.kill(pid, signal.SIGSTOP)
                        self.frozen = pid

    def release(self):
        if getattr(self, "frozen", None):
            os.kill(self.frozen, signal.SIGCONT)
            self.frozen = None

    def status(self):
        """relayctl --json status, or None when it fails."""
        r = subprocess.run([os.path.join(os.path.dirname(self.proc.args[0]), "relayctl"), "-c", self.config,
                            "--json", "status"], capture_output=True, text=True)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def queued(self):
        status = self.status()
        return status["queue"]["messages"] if status else -1

    def processes(self):
        return descendants(self.pid)

    def smtpd_rss_kb(self):
        for pid in self.processes():
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == "smtpd":
                    return rss_kb(pid), 1
        return 0, 0

    def stop(self):
        self.release()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.outbox, ignore_errors=True)


SIZES = {1024: "1 KB", 102400: "100 KB", 2 * 1024 * 1024: "2 MB"}
SESSIONS = (1, 10, 50, 200)


def size_name(size):
    return SIZES.get(size, "%d B" % size)


def parse_list(text):
    """"1,10,50" -> [1, 10, 50]."""
    return [int(x) for x in text.split(",") if x]


def messages_for(size, sessions, quick=False):
    """Messages per run: enough for a few seconds of steady state at every point, and at
    least two per session so every session is busy."""
    per_session, low, high = {1024: (300, 300, 6000), 102400: (80, 150, 2000)}.get(size, (15, 40, 400))
    n = min(high, max(low, per_session * sessions))
    n = n // 4 if quick else n
    return max(n, 2 * sessions, 20)


def smtp_source(port, sessions, messages, size, rcpt="user@example.com"):
    """Sends `messages` of `size` bytes over `sessions` parallel sessions; returns seconds."""
    t = time.monotonic()
    r = subprocess.run(["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
                        "-f", "bench@example.org", "-t", rcpt, "127.0.0.1:%d" % port],
                       capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - t
    if r.returncode != 0:
        raise RuntimeError("smtp-source failed: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    return elapsed


def wait_drained(target, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.queued() == 0:
            return True
        time.sleep(0.2)
    return False


def save(name, data):
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", name)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    return path
