"""Crash under load: while SESSIONS clients send MESSAGES messages to mailrelay relaying to an
SMTP upstream (tests/fakes/smtp_upstream.py, which records every message), a random process
(smtpd, qmgr, deliver-smtp) is SIGKILLed every few hundred milliseconds, and once the master
itself, which is then started again on the same spool. At the end every message that got a
250 has arrived at the upstream (counted by Message-ID), duplicates are counted and reported,
and the queue is empty.

    make test-reliability                     # 2,000 messages over 20 sessions
    RELIABILITY_MESSAGES=300 RELIABILITY_KILL_ROUNDS=1 ...  # the short variant make test runs
"""
import os
import random
import re
import shutil
import signal
import smtplib
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Relay, wait_for  # noqa: E402

import smtp_upstream  # noqa: E402  (tests/fakes, on sys.path through the harness)

MESSAGES = int(os.environ.get("RELIABILITY_MESSAGES", "2000"))
SESSIONS = int(os.environ.get("RELIABILITY_SESSIONS", "20"))
VICTIMS = ("smtpd", "qmgr", "deliver-smtp")
# Rounds of kills (each victim once per round); 0 = until the senders are done. A process
# killed young is restarted after a growing delay (1, 2, 4 ... s, the supervisor's crash-loop
# brake), so every round makes the run longer: make test's short variant does one.
ROUNDS = int(os.environ.get("RELIABILITY_KILL_ROUNDS", "0"))


class CrashUnderLoad(unittest.TestCase):
    def setUp(self):
        self.up = smtp_upstream.Upstream(["--pipelining"])
        self.addCleanup(shutil.rmtree, self.up.dir, True)
        self.addCleanup(self.up.stop)
        self.relay = Relay(name="reliability", sections={
            "server": {"restart_per_hour": "1000"},
            "route": {"default": "smtp"},
            "smtp": {"host": "[127.0.0.1]", "port": str(self.up.port), "tls": "none",
                     "connect_timeout": "5s", "timeout": "10s"},
            "queue": {"retry_delay": "1s", "max_retry_delay": "2s"},
        })
        self.addCleanup(self.relay.cleanup)
        self.relay.start()
        self.acked = set()
        self.lock = threading.Lock()
        self.next = 0
        self.sending = True
        self.kills = {}

    def received(self):
        ids = []
        for m in self.up.messages():
            found = re.search(rb"^Message-ID: (<[^>\r\n]+>)", m["data"], re.M | re.I)
            if found and m["reply"].startswith("2"):
                ids.append(found.group(1).decode())
        return ids

    def sender(self):
        run = uuid.uuid4().hex[:8]
        while True:
            with self.lock:
                i, self.next = self.next, self.next + 1
            if i >= MESSAGES:
                return
            mid = "<%d.%s@reliability.test>" % (i, run)
            body = ("From: load@example.org\r\nTo: sink@example.com\r\nSubject: message %d\r\n"
                    "Message-ID: %s\r\n\r\nmessage %d\r\n" % (i, mid, i))
            # A client retries until it gets a 250, as a real one would.
            for _ in range(200):
                try:
                    with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=30) as s:
                        s.sendmail("load@example.org", ["sink@example.com"], body)
                    with self.lock:
                        self.acked.add(mid)
                    break
                except (smtplib.SMTPException, OSError):
                    time.sleep(0.1)

    def killer(self):
        """Kills in rounds of the three victims in random order, a few hundred milliseconds
        apart, while the senders run (at most ROUNDS rounds when set) and until each victim
        died at least once; the master once, a third of the way in."""
        master_killed = False
        rounds = 0

        def more_rounds():
            return self.sending and (ROUNDS == 0 or rounds < ROUNDS)

        while not master_killed or more_rounds() or any(self.kills.get(v, 0) == 0 for v in VICTIMS):
            round_on = more_rounds()
            rounds += 1
            for name in random.sample(VICTIMS, len(VICTIMS)):
                time.sleep(random.uniform(0.1, 0.4))
                if not master_killed and self.next >= MESSAGES // 3:
                    master_killed = True
                    self.kill_master()
                if not round_on and self.kills.get(name, 0) > 0:
                    continue
                pid = self.relay.pid_of(name)
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        self.kills[name] = self.kills.get(name, 0) + 1
                    except ProcessLookupError:
                        pass

    def kill_master(self):
        r = self.relay
        os.kill(r.proc.pid, signal.SIGKILL)
        r.proc.wait()
        self.kills["mailrelayd"] = 1
        # Its children get SIGTERM (PR_SET_PDEATHSIG) and finish; the new one waits for
        # the old qmgr's spool lock if it has to.
        r.start(wait=False)
        wait_for(lambda: r.log().count("qmgr ready") >= 2 and r.try_send(), timeout=60,
                 what="mailrelayd started again")

    def test_every_acknowledged_message_arrives(self):
        senders = [threading.Thread(target=self.sender) for _ in range(SESSIONS)]
        killer = threading.Thread(target=self.killer)
        started = time.monotonic()
        for t in senders:
            t.start()
        killer.start()
        for t in senders:
            t.join()
        self.sending = False
        killer.join()
        wait_for(lambda: self.acked <= set(self.received()), timeout=180, interval=0.5,
                 what="every acknowledged message at the upstream")
        wait_for(lambda: self.relay.relayctl("list", json_out=True)["messages"] == [], timeout=60,
                 what="an empty queue")
        received = self.received()
        missing = self.acked - set(received)
        duplicates = len(received) - len(set(received))
        print("\n%d sent, %d acknowledged with 250, %d arrived, %d missing, %d duplicates, kills %r, %.0f s"
              % (MESSAGES, len(self.acked), len(set(received)), len(missing), duplicates, self.kills,
                 time.monotonic() - started))
        self.assertEqual(missing, set())
        self.assertEqual(len(self.acked), MESSAGES, "every message got its 250 in the end")
        for name in VICTIMS + ("mailrelayd",):
            self.assertGreaterEqual(self.kills.get(name, 0), 1, "%s was never killed" % name)


if __name__ == "__main__":
    unittest.main()
