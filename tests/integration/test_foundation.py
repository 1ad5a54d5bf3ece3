"""The end-to-end path and the supervisor (issue: foundation).

Real mailrelayd, real clients (Python smtplib, swaks), real SQLite spool and files."""
import concurrent.futures
import os
import re
import signal
import smtplib
import subprocess
import time
import unittest

from harness import Relay, wait_for, BIN


class EndToEnd(unittest.TestCase):
    def test_smtplib_message_lands_in_outbox_with_received_header(self):
        with Relay() as r:
            body = ("From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: hello\r\n"
                    "Message-ID: <t1@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
                    "line one\r\n.leading dot\r\nlast\r\n")
            with r.smtp() as s:
                code, msg = s.ehlo("client.example.org")
                self.assertEqual(code, 250)
                s.mail("alice@example.org")
                s.rcpt("bob@example.com")
                code, reply = s.data(body)
                self.assertEqual(code, 250)
                self.assertRegex(reply.decode(), r"^2\.0\.0 Ok: queued as [0-9A-Z]{12}$")
            qid = re.search(r"queued as (\w+)", reply.decode()).group(1)
            files = r.wait_outbox(1)
            self.assertEqual(os.path.basename(files[0]), qid + ".eml")
            data = r.read(files[0])
            self.assertTrue(data.startswith(b"Received: from client.example.org ([127.0.0.1])"), data[:200])
            self.assertIn(b"by relay.test.example (mailrelay) with ESMTP", data)
            # Exactly as the client sent it after the trace header (dot-unstuffed, CRLF).
            self.assertTrue(data.endswith(body.encode()), data)
            self.assertNotIn(b"\n", data.replace(b"\r\n", b""))
            # qmgr logged the delivery with the queue id, and the spool is empty again.
            wait_for(lambda: re.search(qid + r": to=<bob@example.com> backend=file .*status=sent", r.log()),
                     what="the delivery log line")
            wait_for(lambda: "Mail queue is empty" in r.relayctl("list").stdout, what="an empty queue")

    def test_swaks_message_lands_in_outbox(self):
        with Relay() as r:
            out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % r.port, "--from", "ops@example.org",
                                  "--to", "team@example.com", "--header", "Subject: from swaks",
                                  "--body", "swaks body"], capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertRegex(out.stdout, r"<-  250 2\.0\.0 Ok: queued as [0-9A-Z]{12}")
            data = r.read(r.wait_outbox(1)[0])
            self.assertIn(b"Subject: from swaks", data)
            self.assertIn(b"swaks body", data)

    def test_missing_message_id_and_date_are_added(self):
        with Relay() as r:
            r.send(body="Subject: bare\r\n\r\nno id here\r\n")
            data = r.read(r.wait_outbox(1)[0])
            head = data.split(b"\r\n\r\n", 1)[0]
            self.assertRegex(head, rb"\r\nMessage-ID: <[^>]+@relay\.test\.example>")
            self.assertRegex(head, rb"\r\nDate: \w{3}, ")
            self.assertTrue(data.endswith(b"\r\n\r\nno id here\r\n"))

    def test_check_reports_file_line_key(self):
        r = Relay(sections={"smtpd": {"max_message_size": "35Q"}})
        try:
            out = subprocess.run([os.path.join(BIN, "mailrelayd"), "-c", r.config_path, "--check"],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 1)
            self.assertRegex(out.stderr, re.escape(r.config_path) + r":\d+: \[smtpd\] max_message_size = \"35Q\"")
            good = Relay()
            out = subprocess.run([os.path.join(BIN, "mailrelayd"), "-c", good.config_path, "--check"],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            good.cleanup()
        finally:
            r.cleanup()

    def test_environment_and_command_line_overrides(self):
        r = Relay()
        try:
            other = r.port + 1 if r.port < 65000 else r.port - 1
            # Environment overrides the file, -o overrides the environment.
            r.start(extra_args=["-o", "smtpd.greeting=from-cli"],
                    env={"MAILRELAY_SMTPD_GREETING": "from-env"})
            with r.smtp() as s:
                pass
            import socket
            with socket.create_connection(("127.0.0.1", r.port)) as c:
                self.assertIn(b"from-cli", c.recv(200))
            del other
        finally:
            r.cleanup()


class Supervisor(unittest.TestCase):
    def test_killed_smtpd_is_restarted_and_a_failure_report_is_mailed(self):
        with Relay(sections={"server": {"restart_email": "admin@example.com"}}) as r:
            old = r.pid_of("smtpd")
            self.assertIsNotNone(old)
            os.kill(old, signal.SIGKILL)
            new = wait_for(lambda: (r.pid_of("smtpd") not in (None, old)) and r.pid_of("smtpd"),
                           what="a new smtpd")
            self.assertNotEqual(new, old)
            # The port answers again.
            wait_for(lambda: r.try_send(), what="smtpd accepting again")
            # The failure report comes through the queue like any message.
            def report():
                for m in r.outbox_messages():
                    if b"restarted" in m and b"Subject: mailrelay on relay.test.example: smtpd" in m:
                        return m
                return None
            m = wait_for(report, 20, what="the failure report")
            self.assertIn(b"killed by SIGKILL", m)
            self.assertIn(b"Restarts in the last hour: 1", m)
            self.assertIn(b"To: <admin@example.com>", m)
            self.assertIn(b"From: mailrelay <postmaster@test.example>", m)
            self.assertIn(b"Last log lines of smtpd", m)
            self.assertIn(b"smtpd ready", m)  # a line smtpd logged before it died

    def test_a_burst_of_child_log_lines_reaches_the_log_whole(self):
        with Relay() as r:
            # With mailrelayd stopped, the children's lines pile up in its pipes (well past the
            # 4000 bytes of one log write); once it runs again it reads them in big gulps.
            os.kill(r.proc.pid, signal.SIGSTOP)
            try:
                for i in range(40):
                    r.send(subject="burst %d" % i)
                r.wait_outbox(40)
            finally:
                os.kill(r.proc.pid, signal.SIGCONT)
            wait_for(lambda: r.log().count("status=sent") == 40, what="one sent line per message",
                     timeout=20)
            for line in r.log().splitlines():
                self.assertFalse(line.endswith("..."), "a cut line: %r" % line[-200:])

    def test_killed_qmgr_is_restarted_and_mail_flows_again(self):
        with Relay() as r:
            os.kill(r.pid_of("qmgr"), signal.SIGKILL)
            wait_for(lambda: r.log().count("qmgr ready") >= 2, what="qmgr restarted")
            wait_for(lambda: r.try_send(), timeout=20, what="mail accepted again")
            r.wait_outbox(1)

    def test_too_many_restarts_stop_everything_with_nonzero_exit(self):
        r = Relay(sections={"server": {"restart_per_hour": "2"}})
        try:
            r.start()
            for i in range(3):
                pid = wait_for(lambda: r.pid_of("smtpd"), what="smtpd running")
                os.kill(pid, signal.SIGKILL)
                if i < 2:
                    wait_for(lambda: r.pid_of("smtpd") not in (None, pid), timeout=20, what="smtpd restarted")
            rc = r.proc.wait(30)
            self.assertNotEqual(rc, 0)
            self.assertRegex(r.log(), r"fatal: smtpd needed 3 restarts within an hour \(restart_per_hour = 2\)")
            self.assertEqual(r.children(), {})  # nothing left behind
        finally:
            r.cleanup()

    def test_sigterm_exits_zero_and_loses_nothing(self):
        r = Relay()
        try:
            r.start()
            accepted = []

            def one(i):
                with r.smtp() as s:
                    s.sendmail("s@example.org", ["r%d@example.com" % i],
                               "Subject: n%d\r\nMessage-ID: <m%d@t>\r\n\r\nbody\r\n" % (i, i))
                return "<m%d@t>" % i

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                for f in [pool.submit(one, i) for i in range(40)]:
                    accepted.append(f.result())
            self.assertEqual(r.stop(), 0)
            self.assertIn("mailrelayd stopped", r.log())
            # Whatever was not delivered before the stop is still in the spool: start again.
            r.start()
            files = r.wait_outbox(40, timeout=30)
            ids = set()
            for p in files:
                m = re.search(rb"Message-ID: (<m\d+@t>)", r.read(p))
                ids.add(m.group(1).decode())
            self.assertEqual(ids, set(accepted))
            self.assertEqual(r.stop(), 0)
        finally:
            r.cleanup()

    def test_sighup_with_a_broken_config_keeps_the_old_one(self):
        with Relay() as r:
            good = dict(r.sections)
            broken = {k: dict(v) for k, v in r.sections.items()}
            broken["smtpd"]["timeout"] = "never"
            r.write_config(broken)
            os.kill(r.proc.pid, signal.SIGHUP)
            wait_for(lambda: "reload refused" in r.log(), what="the refusal")
            self.assertIn("[smtpd] timeout", r.log())
            self.assertIsNone(r.proc.poll())
            self.assertEqual(r.send(), {})
            # A good change is applied: a new smtpd generation with the new greeting.
            changed = {k: dict(v) for k, v in good.items()}
            changed["smtpd"]["greeting"] = "reloaded-greeting"
            r.write_config(changed)
            os.kill(r.proc.pid, signal.SIGHUP)
            import socket

            def greets():
                with socket.create_connection(("127.0.0.1", r.port), timeout=2) as c:
                    return b"reloaded-greeting" in c.recv(200)
            wait_for(greets, what="the new greeting")
            r.send()
            r.wait_outbox(2)


if __name__ == "__main__":
    unittest.main()
