"""qmgr and relayctl: every verb, the spool's durability under SIGKILL, schema upgrades,
refusing a damaged spool, and the metrics endpoint. Real processes, real SQLite files."""
import concurrent.futures
import json
import os
import pwd
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from harness import BIN, IS_ROOT, Relay, free_port, wait_for, SOURCE_DIR


def break_outbox(r):
    """Deliveries fail (451) until restore_outbox(): the agent cannot write its files."""
    shutil.rmtree(r.outbox)


def restore_outbox(r):
    os.makedirs(r.outbox)
    if IS_ROOT:
        shutil.chown(r.outbox, "mailrelay-deliver", "mailrelay-deliver")


def queued(r):
    return r.relayctl("list", json_out=True)["messages"]


def queue_empty(r):
    """False also while qmgr is restarting (its socket refuses for a moment)."""
    try:
        return queued(r) == []
    except AssertionError:
        return False


class Verbs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = Relay(sections={"queue": {"retry_delay": "1h", "max_retry_delay": "2h"}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.r.cleanup()

    def setUp(self):
        # Each test starts with an empty queue and a working outbox.
        if not os.path.isdir(self.r.outbox):
            restore_outbox(self.r)
        ids = [m["id"] for m in queued(self.r)]
        if ids:
            self.r.relayctl("delete", *ids)

    def deferred_message(self, subject="deferred one", rcpts=("a@example.com",)):
        if os.path.isdir(self.r.outbox):
            break_outbox(self.r)
        before = {m["id"] for m in queued(self.r)}
        self.r.send(rcpts=rcpts, subject=subject)
        return wait_for(lambda: [m for m in queued(self.r) if m["id"] not in before and m["state"] == "deferred"],
                        what="a deferred message")[0]

    def test_status_table_and_json(self):
        out = self.r.relayctl("status").stdout
        self.assertRegex(out, r"PROCESS\s+PID\s+STATE\s+RESTARTS/HOUR")
        for name in ("qmgr", "smtpd", "deliver-file"):
            self.assertRegex(out, name + r"\s+\d+\s+running\s+0")
        self.assertIn("accepting new mail: yes", out)
        st = self.r.relayctl("status", json_out=True)
        self.assertEqual({p["name"] for p in st["processes"]}, {"qmgr", "smtpd", "deliver-file"})
        self.assertEqual(st["queue"]["messages"], 0)
        self.assertEqual(st["schema_version"], 3)
        self.assertEqual([a["backend"] for a in st["agents"]], ["file"])

    def test_list_show_and_their_errors(self):
        self.assertIn("Mail queue is empty", self.r.relayctl("list").stdout)
        m = self.deferred_message(rcpts=("a@example.com", "b@example.com"))
        out = self.r.relayctl("list").stdout
        self.assertRegex(out, m["id"] + r"\s+\d+s\s+\d+\s+deferred\s+sender@example\.org")
        self.assertIn("(451 4.3.0 cannot write", out)
        self.assertIn("-- 1 message(s)", out)
        self.assertEqual([r["address"] for r in m["recipients"]], ["a@example.com", "b@example.com"])
        self.assertEqual(m["recipients"][0]["attempts"], 1)
        show = self.r.relayctl("show", m["id"]).stdout
        self.assertIn("queue id      " + m["id"], show)
        self.assertIn("subject       deferred one", show)
        self.assertIn("last reply: 451 4.3.0", show)
        self.assertIn("Subject: deferred one", show)  # headers
        js = self.r.relayctl("show", m["id"], json_out=True)
        self.assertEqual(js["client"].split("]")[0], "[127.0.0.1")
        self.assertGreater(js["recipients"][0]["next_attempt"], time.time() + 3000)  # retry_delay = 1h
        missing = self.r.relayctl("show", "0123456789AB", check=False)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("no message with queue id 0123456789AB", missing.stderr)
        bad = self.r.relayctl("show", "../etc/passwd", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("is not a queue id", bad.stderr)
        self.assertEqual(self.r.relayctl("show", check=False).returncode, 2)

    def test_flush_retries_now(self):
        m = self.deferred_message()
        restore_outbox(self.r)
        self.assertIn("flushed 1 message(s)", self.r.relayctl("flush").stdout)
        wait_for(lambda: not queued(self.r), what="delivery after flush")
        self.assertEqual(len(self.r.outbox_files()), 1)
        self.assertIn(m["id"], os.path.basename(self.r.outbox_files()[0]))

    def test_hold_release_requeue(self):
        m = self.deferred_message()
        self.r.relayctl("hold", m["id"])
        self.assertEqual(queued(self.r)[0]["state"], "held")
        self.assertIn("held by the operator", self.r.relayctl("show", m["id"]).stdout)
        restore_outbox(self.r)
        self.r.relayctl("release", m["id"])
        self.assertEqual(queued(self.r)[0]["state"], "deferred")  # next attempt still in an hour
        self.r.relayctl("requeue", m["id"])  # attempts reset, due now
        wait_for(lambda: not queued(self.r), what="delivery after requeue")

    def test_requeue_all_and_delete_all_deferred(self):
        a = self.deferred_message("one")
        b = self.deferred_message("two")
        self.assertIn("requeued 2 message(s)", self.r.relayctl("requeue", "--all").stdout)
        wait_for(lambda: all(m["recipients"][0]["attempts"] == 1 and m["state"] == "deferred" for m in queued(self.r)),
                 what="both deferred again")
        self.assertIn("deleted 2 message(s)", self.r.relayctl("delete", "--all-deferred").stdout)
        self.assertEqual(queued(self.r), [])
        self.assertRegex(self.r.log(), a["id"] + r": deleted by the operator")
        self.assertRegex(self.r.log(), b["id"] + r": deleted by the operator")

    def test_log_shows_deliveries(self):
        restore_outbox(self.r) if not os.path.isdir(self.r.outbox) else None
        self.r.send(subject="logged subject", rcpts=("log@example.com",))
        wait_for(lambda: "log@example.com" in self.r.relayctl("log").stdout, what="the send log")
        out = self.r.relayctl("log", "--since", "1h").stdout
        self.assertRegex(out, r"from=<sender@example\.org> to=<log@example\.com> backend=file status=sent "
                              r"subject=\"logged subject\" \(250 2\.0\.0 written to ")
        entries = self.r.relayctl("log", json_out=True)["entries"]
        self.assertTrue(any(e["to"] == "log@example.com" and e["status"] == "sent" for e in entries))
        self.assertEqual(self.r.relayctl("log", "--since", "soon", check=False).returncode, 2)

    def test_usage_errors_exit_2_and_failures_exit_1(self):
        self.assertEqual(self.r.relayctl("frobnicate", check=False).returncode, 2)
        self.assertEqual(self.r.relayctl("hold", check=False).returncode, 2)
        self.assertEqual(self.r.relayctl("status", "extra", check=False).returncode, 2)
        self.assertEqual(self.r.relayctl("delete", "0123456789AB", check=False).returncode, 1)
        r = subprocess.run([os.path.join(BIN, "relayctl"), "-c", "/nonexistent.ini", "status"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent.ini", r.stderr)

    def test_check_config_and_reload(self):
        self.assertEqual(self.r.relayctl("check-config").returncode, 0)
        good = {k: dict(v) for k, v in self.r.sections.items()}
        bad = {k: dict(v) for k, v in good.items()}
        bad["queue"]["max_age"] = "forever"
        self.r.write_config(bad)
        try:
            out = self.r.relayctl("check-config", check=False)
            self.assertEqual(out.returncode, 1)
            self.assertRegex(out.stderr, r"mailrelay\.ini:\d+: \[queue\] max_age = \"forever\"")
            out = self.r.relayctl("reload", check=False)
            self.assertEqual(out.returncode, 1)
            self.assertRegex(out.stderr, r"\[queue\] max_age")
            # mailrelayd itself refuses it too (SIGHUP path) and keeps running.
            os.kill(self.r.proc.pid, signal.SIGHUP)
            wait_for(lambda: "reload refused" in self.r.log(), what="the refusal")
            st = self.r.relayctl("status", check=False)
            self.assertEqual(st.returncode, 0, st.stderr)
            self.assertIn("has errors (relayctl check-config); using run_dir", st.stderr)
        finally:
            self.r.write_config(good)
        self.assertIn("configuration reloaded", self.r.relayctl("reload").stdout)

    def test_control_socket_refuses_other_users(self):
        if not IS_ROOT:
            self.skipTest("needs root to act as another user")
        out = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              os.path.join(BIN, "relayctl"), "-c", self.r.config_path, "status"],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 1)
        self.assertRegex(out.stderr, r"Permission denied|group mailrelay")


class Durability(unittest.TestCase):
    def test_sigkill_qmgr_under_load_loses_nothing(self):
        with Relay(sections={"server": {"restart_per_hour": "100"}, "smtpd": {"commit_timeout": "10s"}}) as r:
            accepted, lock = set(), __import__("threading").Lock()

            def sender(worker):
                for i in range(50):
                    mid = "<w%d-%d@test>" % (worker, i)
                    body = "Subject: load\r\nMessage-ID: %s\r\n\r\nx\r\n" % mid
                    for _ in range(100):  # refused or cut: retried, as a client would
                        try:
                            with r.smtp() as s:
                                s.sendmail("load@example.org", ["r@example.com"], body)
                            with lock:
                                accepted.add(mid)
                            break
                        except Exception:
                            time.sleep(0.1)

            with concurrent.futures.ThreadPoolExecutor(10) as pool:
                futures = [pool.submit(sender, w) for w in range(10)]
                for _ in range(3):
                    time.sleep(0.7)
                    pid = r.pid_of("qmgr")
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                for f in futures:
                    f.result()
            self.assertGreater(len(accepted), 100)

            def delivered():
                ids = set()
                for m in r.outbox_messages():
                    found = re.search(rb"Message-ID: (<w\d+-\d+@test>)", m)
                    if found:
                        ids.add(found.group(1).decode())
                return ids
            wait_for(lambda: accepted <= delivered(), timeout=60, what="every accepted message delivered")
            missing = accepted - delivered()
            self.assertEqual(missing, set())
            print("\n%d accepted, %d delivered files, %d duplicates" % (
                len(accepted), len(r.outbox_files()), len(r.outbox_files()) - len(delivered())))
            wait_for(lambda: queue_empty(r), what="an empty queue")

    def test_sigkilled_agent_mid_job_is_retried(self):
        with Relay(sections={"server": {"restart_per_hour": "100"}}) as r:
            agent = r.pid_of("deliver-file")
            os.kill(agent, signal.SIGSTOP)  # jobs pile up inside the agent
            for i in range(5):
                r.send(subject="aboard %d" % i)
            wait_for(lambda: r.relayctl("status", json_out=True)["queue"]["delivering"] > 0, what="jobs in flight")
            os.kill(agent, signal.SIGKILL)
            wait_for(lambda: len(r.outbox_files()) == 5, timeout=30, what="all five delivered after the restart")
            self.assertIn("delivery agent went away mid-job", r.log())
            # A kill from outside is not the messages' fault: nothing is held.
            self.assertEqual(queued(r), [])

    def test_an_agent_that_crashes_twice_on_a_message_gets_it_held(self):
        with Relay(sections={"server": {"restart_per_hour": "100"},
                             "queue": {"retry_delay": "1h", "max_retry_delay": "1h"}}) as r:
            # A poison message: the agent takes it and dies of a fault, twice. SIGABRT rather than
            # SIGSEGV: under AddressSanitizer (make test) a SIGSEGV is caught and turned into exit(1).
            agent = r.pid_of("deliver-file")
            os.kill(agent, signal.SIGSTOP)
            r.send(subject="poison")
            for crash in range(2):
                wait_for(lambda: queued(r) and queued(r)[0]["state"] == "delivering", what="the message aboard")
                os.kill(agent, signal.SIGABRT)
                os.kill(agent, signal.SIGCONT)
                old = agent
                agent = wait_for(lambda: r.pid_of("deliver-file") not in (None, old) and r.pid_of("deliver-file"),
                                 timeout=20, what="a new agent")
                wait_for(lambda: r.log().count("delivery agent connected") == crash + 2, what="it connected")
                if crash == 0:
                    os.kill(agent, signal.SIGSTOP)
                    # flush, not requeue: requeue is the operator's fresh start and clears the crash count
                    r.relayctl("flush")  # the retry, aboard the frozen agent
            m = wait_for(lambda: queued(r) and queued(r)[0]["state"] == "held" and queued(r)[0], timeout=20, what="held")
            self.assertIn("the delivery agent crashed twice while delivering this message", r.relayctl("show", m["id"]).stdout)
            self.assertIn("held: the delivery agent crashed twice", r.log())
            # The operator decides: release and requeue, and it goes out.
            r.relayctl("release", m["id"])
            r.relayctl("requeue", m["id"])
            r.wait_outbox(1, timeout=30)


class SpoolFiles(unittest.TestCase):
    def test_a_damaged_spool_stops_mailrelay_with_a_clear_error(self):
        r = Relay()
        try:
            os.makedirs(r.spool)
            with open(os.path.join(r.spool, "queue.db"), "wb") as f:
                f.write(b"this is not a database" * 500)
            r.start(wait=False)
            rc = r.proc.wait(30)
            self.assertNotEqual(rc, 0)
            self.assertIn("will not start on a damaged queue", r.log())
            self.assertIn("restarting it would not help", r.log())
        finally:
            r.cleanup()

    def test_a_newer_spool_is_refused(self):
        r = Relay()
        try:
            r.start()
            self.assertEqual(r.stop(), 0)
            db = sqlite3.connect(os.path.join(r.spool, "queue.db"))
            db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
            db.commit()
            db.close()
            r.start(wait=False)
            self.assertNotEqual(r.proc.wait(30), 0)
            self.assertIn("schema version 99, newer than this qmgr", r.log())
        finally:
            r.cleanup()

    def test_a_version_1_spool_is_upgraded_and_its_mail_delivered(self):
        r = Relay(sections={"queue": {"max_age": "3650d"}})
        try:
            os.makedirs(r.spool)
            shutil.copy(os.path.join(SOURCE_DIR, "tests", "data", "spool-v1.db"), os.path.join(r.spool, "queue.db"))
            r.start()
            self.assertIn("upgraded from schema 1 to 2", r.log())
            self.assertIn("upgraded from schema 2 to 3", r.log())
            r.relayctl("release", "64000000000B")
            r.relayctl("flush")
            files = r.wait_outbox(2, timeout=30)
            self.assertTrue(any(b"still here" in r.read(p) for p in files))
        finally:
            r.cleanup()


    def test_an_online_sqlite3_backup_restores_the_queue(self):
        # docs/operations.md, "Backup and restore", as an operator would do it.
        r = Relay()
        try:
            r.start()
            break_outbox(r)  # deliveries defer, so the messages stay queued
            for i in range(3):
                r.send(subject="kept %d" % i)
            wait_for(lambda: [m["state"] for m in queued(r)] == ["deferred"] * 3, what="three deferred")
            backups = os.path.join(r.dir, "backups")
            os.mkdir(backups)
            as_owner = []
            if IS_ROOT and pwd.getpwuid(os.stat(r.spool).st_uid).pw_name == "mailrelay":
                shutil.chown(backups, "mailrelay", "mailrelay")
                as_owner = ["runuser", "-u", "mailrelay", "--"]
            copy = os.path.join(backups, "queue.db")
            out = subprocess.run(as_owner + ["sqlite3", os.path.join(r.spool, "queue.db"), ".backup " + copy],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            r.send(subject="after the backup")
            wait_for(lambda: len(queued(r)) == 4, what="a fourth message")
            self.assertEqual(r.stop(), 0)
            # Restore: the copy in place, no journal files beside it.
            for name in ("queue.db", "queue.db-wal", "queue.db-shm"):
                if os.path.exists(os.path.join(r.spool, name)):
                    os.unlink(os.path.join(r.spool, name))
            shutil.copy2(copy, os.path.join(r.spool, "queue.db"))
            if as_owner:
                shutil.chown(os.path.join(r.spool, "queue.db"), "mailrelay", "mailrelay")
            restore_outbox(r)
            r.start()
            r.relayctl("flush")
            files = r.wait_outbox(3, timeout=30)
            subjects = sorted(re.search(rb"Subject: ([^\r]*)", r.read(p)).group(1).decode() for p in files)
            self.assertEqual(subjects, ["kept 0", "kept 1", "kept 2"])
            wait_for(lambda: queue_empty(r), what="an empty queue")
        finally:
            r.cleanup()

class Metrics(unittest.TestCase):
    def test_metrics_and_healthz(self):
        port = free_port()
        with Relay(sections={"server": {"metrics_listen": "127.0.0.1:%d" % port}}) as r:
            r.send()
            r.wait_outbox(1)
            base = "http://127.0.0.1:%d" % port
            wait_for(lambda: urllib.request.urlopen(base + "/healthz", timeout=5).status == 200, what="healthy")
            text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
            for needle in ('mailrelay_queue_messages{state="deferred"} 0', "mailrelay_messages_accepted_total 1",
                           'mailrelay_recipients_total{backend="file",result="delivered"} 1',
                           'mailrelay_delivery_latency_seconds_count{backend="file"} 1',
                           'mailrelay_process_up{process="smtpd"} 1', "mailrelay_up 1"):
                self.assertIn(needle, text)
            # A process that is down makes /healthz fail: smtpd killed twice in a row dies young
            # and waits before its next start, long enough to look.
            smtpd = r.pid_of("smtpd")
            os.kill(smtpd, signal.SIGKILL)
            again = wait_for(lambda: r.pid_of("smtpd") not in (None, smtpd) and r.pid_of("smtpd"), what="a new smtpd")
            os.kill(again, signal.SIGKILL)

            def unhealthy():
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=5)
                    return False
                except urllib.error.HTTPError as e:
                    return e.code == 503 and b"smtpd" in e.read()
            wait_for(unhealthy, timeout=10, what="/healthz to report smtpd down")
            with self.assertRaises(urllib.error.HTTPError) as ctx:
                urllib.request.urlopen(base + "/nowhere", timeout=5)
            self.assertEqual(ctx.exception.code, 404)


if __name__ == "__main__":
    unittest.main()
