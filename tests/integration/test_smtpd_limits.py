"""Connection limits, idle timeout, thousands of idle sessions, HAProxy's PROXY protocol,
and the queue handoff when qmgr is slow or full."""
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Raw, Relay, expect, free_port, wait_for


def greeting(port, source=None):
    c = Raw(port, source=source)
    return c, c.reply()


class Connections(unittest.TestCase):
    def test_max_connections_gets_421_at_connect(self):
        with Relay(sections={"smtpd": {"max_connections": "3"}}) as r:
            held = [greeting(r.port)[0] for _ in range(3)]
            c, rep = greeting(r.port)
            expect(self, rep, 421, "4.7.0", "too many connections")
            self.assertTrue(c.closed())
            for h in held:
                h.close()
            wait_for(lambda: greeting(r.port)[1][0] == 220, what="a free slot again")

    def test_max_connections_per_ip_counts_each_address(self):
        with Relay(sections={"smtpd": {"max_connections_per_ip": "2"}}) as r:
            held = [greeting(r.port, "127.0.0.1")[0] for _ in range(2)]
            c, rep = greeting(r.port, "127.0.0.1")
            expect(self, rep, 421, "4.7.0", "from your address")
            other, rep2 = greeting(r.port, "127.0.0.2")
            self.assertEqual(rep2[0], 220)
            for h in held + [c, other]:
                h.close()

    def test_idle_timeout_421(self):
        with Relay(sections={"smtpd": {"timeout": "2s"}}) as r:
            c, _ = greeting(r.port)
            c.cmd("EHLO x")
            t = time.monotonic()
            expect(self, c.reply(), 421, "4.4.2", "timeout")
            self.assertGreaterEqual(time.monotonic() - t, 1.5)
            self.assertTrue(c.closed())

    def test_a_thousand_idle_sessions_and_a_new_one_is_still_served(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < 1200:
            self.skipTest("needs 1200 file descriptors, the hard limit is %d" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        with Relay(sections={"smtpd": {"max_connections": "2000", "max_connections_per_ip": "2000"}}) as r:
            idle = []
            for i in range(1000):
                s = socket.create_connection(("127.0.0.1", r.port), timeout=30)
                idle.append(s)
            # Every one of them got its greeting.
            for s in idle:
                self.assertTrue(s.recv(100).startswith(b"220"))
            rss_kb = int(open("/proc/%d/status" % r.pid_of("smtpd")).read().split("VmRSS:")[1].split()[0])
            print("\nsmtpd RSS with 1000 idle sessions: %d KB" % rss_kb)
            t = time.monotonic()
            self.assertEqual(r.send(subject="while 1000 wait"), {})
            self.assertLess(time.monotonic() - t, 10)
            r.wait_outbox(1)
            for s in idle:
                s.close()


HAPROXY_CFG = """
global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend v1
    bind 127.0.0.1:{p1}
    default_backend relay_v1
backend relay_v1
    server relay 127.0.0.1:{relay} send-proxy
frontend v2
    bind 127.0.0.1:{p2}
    default_backend relay_v2
backend relay_v2
    server relay 127.0.0.1:{relay} send-proxy-v2
"""


class ProxyProtocol(unittest.TestCase):
    """Behind a real HAProxy: the client's own address drives policy and logs."""

    @classmethod
    def setUpClass(cls):
        cls.r = Relay(sections={"smtpd": {"proxy_protocol": "yes"},
                                "policy": {"networks": "127.0.0.5/32"}}).start_no_probe()
        cls.p1, cls.p2 = free_port(), free_port()
        cls.cfg = os.path.join(cls.r.dir, "haproxy.cfg")
        with open(cls.cfg, "w") as f:
            f.write(HAPROXY_CFG.format(p1=cls.p1, p2=cls.p2, relay=cls.r.port))
        cls.haproxy = subprocess.Popen(["haproxy", "-db", "-f", cls.cfg], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)

        def up():
            try:
                socket.create_connection(("127.0.0.1", cls.p2), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(up, what="haproxy")

    @classmethod
    def tearDownClass(cls):
        cls.haproxy.terminate()
        cls.haproxy.wait(10)
        cls.r.cleanup()

    def relay_through(self, port, source):
        with Raw(port, source=source) as c:
            expect(self, c.reply(), 220)
            c.cmd("EHLO x")
            c.cmd("MAIL FROM:<a@example.org>")
            return c.cmd("RCPT TO:<b@example.com>")

    def test_v1_and_v2_carry_the_real_client(self):
        for port in (self.p1, self.p2):
            expect(self, self.relay_through(port, "127.0.0.5"), 250)      # in networks
            expect(self, self.relay_through(port, "127.0.0.6"), 554, "5.7.1")  # not
        self.assertRegex(self.r.log(), r"connect client=\[127\.0\.0\.5\]:\d+")
        self.assertRegex(self.r.log(), r"connect client=\[127\.0\.0\.6\]:\d+")

    def test_a_connection_without_a_proxy_header_is_refused(self):
        with Raw(self.r.port, source="127.0.0.5") as c:
            c.send("EHLO sneaky\r\n")
            self.assertTrue(c.closed())
        wait_for(lambda: "no valid PROXY header" in self.r.log() or "did not start with a PROXY header" in self.r.log(),
                 what="the refusal in the log")


class QueueHandoff(unittest.TestCase):
    def test_a_stalled_qmgr_gets_451_never_250(self):
        with Relay(sections={"smtpd": {"commit_timeout": "2s"}}) as r:
            qmgr = r.pid_of("qmgr")
            with Raw(r.port) as c:
                c.reply()
                c.cmd("EHLO x")
                c.cmd("MAIL FROM:<a@example.org>")
                c.cmd("RCPT TO:<b@example.com>")
                c.cmd("DATA")
                os.kill(qmgr, signal.SIGSTOP)
                try:
                    t = time.monotonic()
                    c.send("Subject: stalled\r\n\r\nx\r\n.\r\n")
                    expect(self, c.reply(), 451, "4.3.0")
                    self.assertGreaterEqual(time.monotonic() - t, 1.5)
                    expect(self, c.cmd("NOOP"), 250)  # the session goes on
                finally:
                    os.kill(qmgr, signal.SIGCONT)
            self.assertIn("the queue did not confirm the message in time", r.log())

    def test_a_full_queue_gets_452_at_mail(self):
        with Relay(sections={"queue": {"max_messages": "1"}}) as r:
            agent = r.pid_of("deliver-file")
            os.kill(agent, signal.SIGSTOP)  # the first message stays in the queue
            try:
                self.assertEqual(r.send(subject="fills the queue"), {})
                wait_for(lambda: "not accepting new mail" in r.log(), what="the queue to report full")

                def mail_reply():
                    # qmgr's log line can come before smtpd has heard the news: ask again.
                    with Raw(r.port) as c:
                        c.reply()
                        c.cmd("EHLO x")
                        return c.cmd("MAIL FROM:<a@example.org>")
                reply = wait_for(lambda: (lambda rep: rep[0] == 452 and rep)(mail_reply()), timeout=10,
                                 what="452 at MAIL")
                expect(self, reply, 452, "4.3.1")
            finally:
                os.kill(agent, signal.SIGCONT)
            r.wait_outbox(1)
            wait_for(lambda: "accepting new mail again" in r.log(), what="room again")
            self.assertEqual(r.send(subject="room again"), {})


if __name__ == "__main__":
    unittest.main()
