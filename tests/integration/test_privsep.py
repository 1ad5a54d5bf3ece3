"""Privilege separation, proven from outside: after start, each process runs as its own
system user with no capabilities, and none can open what it must not (the spool, the
backend secrets). Access is checked by running a probe with exactly the credentials
(uid, gid, supplementary groups) /proc shows for the process, so the answer is what the
kernel would tell that process. Root only: privilege separation needs it.
"""
import grp
import os
import pwd
import subprocess
import unittest

from harness import IS_ROOT, Relay, free_port, wait_for


def status_fields(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def credentials(pid):
    s = status_fields(pid)
    uid = int(s["Uid"].split()[0])
    gid = int(s["Gid"].split()[0])
    groups = [int(g) for g in s["Groups"].split()]
    return uid, gid, groups, s


def can_open(pid, path):
    """Whether a process with pid's credentials could open path for reading."""
    uid, gid, groups, _ = credentials(pid)
    cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid]
    cmd += ["--groups=" + ",".join(map(str, groups))] if groups else ["--clear-groups"]
    cmd += ["--", "/bin/cat", "--", path]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0 and "Permission denied" not in r.stderr:
        raise AssertionError("probe failed for another reason: %s" % r.stderr)
    return r.returncode == 0


@unittest.skipUnless(IS_ROOT, "privilege separation needs root")
class PrivilegeSeparation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        upstream_port = free_port()  # nothing listens: deliver-smtp only has to start
        cls.r = Relay(sections={
            "server": {"privilege_separation": "yes"},
            "route": {"example.net": "smtp"},
            "smtp": {"host": "[127.0.0.1]", "port": str(upstream_port), "tls": "none",
                     "username": "relay", "password_file": "PLACEHOLDER"},
        })
        # The packaged layout: secrets/ 0750 root:mailrelay-deliver, each file 0600 root.
        cls.secrets = os.path.join(cls.r.dir, "secrets")
        os.mkdir(cls.secrets)
        os.chown(cls.secrets, 0, grp.getgrnam("mailrelay-deliver").gr_gid)
        os.chmod(cls.secrets, 0o750)
        cls.secret = os.path.join(cls.secrets, "smtp.password")
        with open(cls.secret, "w") as f:
            f.write("correct horse battery staple\n")
        os.chmod(cls.secret, 0o600)
        cls.r.sections["smtp"]["password_file"] = cls.secret
        cls.r.write_config()
        cls.r.start()
        cls.r.send()
        cls.r.wait_outbox(1)
        cls.pids = {name: cls.r.pid_of(name) for name in ("qmgr", "smtpd", "deliver-file", "deliver-smtp")}
        for name, pid in cls.pids.items():
            if pid is None:
                raise AssertionError("%s is not running:\n%s" % (name, cls.r.log()))

    @classmethod
    def tearDownClass(cls):
        cls.r.stop()
        cls.r.cleanup()

    def user_of(self, pid):
        uid, gid, groups, _ = credentials(pid)
        return pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name, sorted(grp.getgrgid(g).gr_name for g in groups)

    def test_each_process_runs_as_its_own_user(self):
        self.assertEqual(self.user_of(self.pids["qmgr"]), ("mailrelay", "mailrelay", ["mailrelay"]))
        self.assertEqual(self.user_of(self.pids["smtpd"]), ("mailrelay-smtpd", "mailrelay-smtpd", ["mailrelay-smtpd"]))
        for agent in ("deliver-file", "deliver-smtp"):
            self.assertEqual(self.user_of(self.pids[agent]),
                             ("mailrelay-deliver", "mailrelay-deliver", ["mailrelay-deliver"]))
        # All of real, effective, saved and filesystem ids: nothing to switch back to.
        for name, pid in self.pids.items():
            s = status_fields(pid)
            self.assertEqual(len(set(s["Uid"].split())), 1, name)
            self.assertEqual(len(set(s["Gid"].split())), 1, name)
        self.assertEqual(credentials(self.r.proc.pid)[0], 0, "mailrelayd itself stays root to bind and supervise")

    def test_children_keep_no_capabilities_and_cannot_gain_any(self):
        for name, pid in self.pids.items():
            s = status_fields(pid)
            for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                self.assertEqual(int(s[field], 16), 0, "%s %s = %s" % (name, field, s[field]))
            self.assertEqual(s["NoNewPrivs"], "1", name)

    def test_smtpd_cannot_open_the_spool_qmgr_can(self):
        queue_db = os.path.join(self.r.spool, "queue.db")
        self.assertTrue(can_open(self.pids["qmgr"], queue_db), "the probe must be able to succeed")
        self.assertFalse(can_open(self.pids["smtpd"], queue_db))
        for agent in ("deliver-file", "deliver-smtp"):
            self.assertFalse(can_open(self.pids[agent], queue_db), agent)
        st = os.stat(self.r.spool)
        self.assertEqual(pwd.getpwuid(st.st_uid).pw_name, "mailrelay")
        self.assertEqual(st.st_mode & 0o777, 0o750)
        # The database and its journals: qmgr's user alone, whatever umask mailrelayd had.
        for name in ("queue.db", "queue.db-wal", "queue.db-shm"):
            f = os.stat(os.path.join(self.r.spool, name))
            self.assertEqual((pwd.getpwuid(f.st_uid).pw_name, f.st_mode & 0o777), ("mailrelay", 0o600), name)

    def test_no_child_can_read_the_secrets(self):
        # deliver-smtp read its password at start (it runs, with AUTH configured), before
        # dropping privileges; afterwards nobody but root can read it.
        self.assertTrue(can_open(os.getpid(), self.secret), "the probe must be able to succeed")
        for name, pid in self.pids.items():
            self.assertFalse(can_open(pid, self.secret), name)

    def test_the_file_backend_outbox_belongs_to_the_delivery_user(self):
        st = os.stat(self.r.outbox)
        self.assertEqual(pwd.getpwuid(st.st_uid).pw_name, "mailrelay-deliver")
        self.assertFalse(can_open(self.pids["smtpd"], self.r.outbox_files()[0]))

    def test_sockets_are_reachable_only_by_their_peers(self):
        def owner(path):
            st = os.stat(path)
            return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, st.st_mode & 0o777
        run = self.r.run_dir
        self.assertEqual(owner(os.path.join(run, "qmgr.sock")), ("mailrelay", "mailrelay-smtpd", 0o660))
        self.assertEqual(owner(os.path.join(run, "deliver.sock")), ("mailrelay", "mailrelay-deliver", 0o660))
        self.assertEqual(owner(os.path.join(run, "control.sock")), ("mailrelay", "mailrelay", 0o660))


if __name__ == "__main__":
    unittest.main()
