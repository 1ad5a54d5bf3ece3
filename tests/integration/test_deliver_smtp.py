"""deliver-smtp, the smarthost agent, against real peers on loopback: the aiosmtpd upstream
fake (tests/fakes/smtp_upstream.py: STARTTLS, implicit TLS, AUTH PLAIN/LOGIN/XOAUTH2, chosen
replies, slowness, extensions), Postfix's smtp-sink, and the Entra ID token fake. Every test
drives the real mailrelayd with [route] default = smtp and looks at what the upstream
received, `relayctl --json show/log`, the log, and the DSNs (bounces go to a sender whose
domain routes to the file backend)."""
import base64
import glob
import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

from harness import IS_ROOT, SOURCE_DIR, Relay, free_port, pki, queue_id_from, wait_for

import smtp_upstream  # tests/fakes is on sys.path (harness)

SENDER = "sender@test.example"  # [route] test.example = file: bounces to it land in the outbox
TENANT = "7b0f7c3e-1f2a-4d5b-9c8d-0e1f2a3b4c5d"
CLIENT = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"
MAILBOX = "relay@example.com"


def smtp_sections(port, smtp=None, extra=None, host="[127.0.0.1]"):
    s = {"route": {"default": "smtp", "test.example": "file"},
         "smtp": {"host": host, "port": str(port), "tls": "none", "connect_timeout": "5s",
                  "timeout": "10s", "data_timeout": "20s", "idle_timeout": "30s"}}
    for k, v in (smtp or {}).items():
        if v is None:
            s["smtp"].pop(k, None)
        else:
            s["smtp"][k] = v
    for sec, keys in (extra or {}).items():
        s.setdefault(sec, {}).update(keys)
    return s


def message(subject="test", sender=SENDER, rcpts=("rcpt@example.com",), body="hello\r\n"):
    # With Date and Message-ID, so smtpd adds nothing but its trace header.
    return ("Subject: %s\r\nFrom: %s\r\nTo: %s\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s@test.example>\r\n\r\n%s" % (subject, sender, ", ".join(rcpts), uuid.uuid4(), body)).encode()


def submit(relay, rcpts=("rcpt@example.com",), data=None, sender=SENDER, options=(), subject="test"):
    """Sends one message to the relay's smtpd; returns its queue id."""
    if data is None:
        data = message(subject, sender, rcpts)
    deadline = time.monotonic() + 15
    while True:
        with relay.smtp() as s:
            s.ehlo()
            code, msg = s.mail(sender, list(options))
            if code == 451 and time.monotonic() < deadline:
                time.sleep(0.2)  # just after start smtpd may not have reached qmgr yet
                continue
            if code != 250:
                raise AssertionError("MAIL: %d %s" % (code, msg))
            for r in rcpts:
                code, msg = s.rcpt(r)
                if code != 250:
                    raise AssertionError("RCPT %s: %d %s" % (r, code, msg))
            code, msg = s.data(data)
            if code != 250:
                raise AssertionError("DATA: %d %s" % (code, msg))
            return queue_id_from(msg.decode())


def trace_stripped(data):
    """The message without the Received: header mailrelay put on top."""
    m = re.match(rb"Received: [^\r]*\r\n(?:[ \t][^\r]*\r\n)*", data)
    return data[m.end():] if m else data


class Case(unittest.TestCase):
    """Starts an upstream fake and a relay routed to it for each test."""

    def start(self, upstream_args=(), smtp=None, extra=None, host="[127.0.0.1]", upstream_host=None):
        args = list(upstream_args)
        if upstream_host:
            args += ["--host", upstream_host]
        if any(a in ("starttls", "implicit") for a in args):
            args += ["--cert-dir", pki()["dir"]]
        self.up = smtp_upstream.Upstream(args)
        self.addCleanup(shutil.rmtree, self.up.dir, True)
        self.addCleanup(self.up.stop)
        self.relay = Relay(sections=smtp_sections(self.up.port, smtp, extra, host), name="smtpagent")
        self.addCleanup(self.relay.cleanup)
        self.relay.start()
        return self.up, self.relay

    # --- observation ------------------------------------------------------------------
    def show(self, qid):
        r = self.relay.relayctl("show", qid, json_out=True, check=False)
        return r if isinstance(r, dict) else None

    def rcpt(self, qid, address):
        m = self.show(qid)
        if not m:
            return None
        for r in m["recipients"]:
            if r["address"] == address:
                return r
        return None

    def wait_deferred(self, qid, address="rcpt@example.com", contains=None, timeout=30):
        """Waits until the recipient was deferred (with `contains` in its last error)."""
        def check():
            r = self.rcpt(qid, address)
            if r and r["state"] == "pending" and r["attempts"] >= 1 and r["last_error"].startswith("4"):
                if contains is None or contains in r["last_error"]:
                    return r
            return None
        try:
            return wait_for(check, timeout, 0.2, what="%s deferred" % address)
        except AssertionError:
            raise AssertionError("%s not deferred with %r; now %r\n%s" %
                                 (address, contains, self.rcpt(qid, address), self.relay.log()[-5000:]))

    def send_log(self, qid=None, status=None):
        entries = self.relay.relayctl("log", json_out=True)["entries"]
        return [e for e in entries if (qid is None or e["id"] == qid) and (status is None or e["status"] == status)]

    def wait_status(self, qid, address, status, timeout=30):
        def check():
            return [e for e in self.send_log(qid, status) if e["to"] == address]
        try:
            return wait_for(check, timeout, 0.2, what="%s %s" % (address, status))[-1]
        except AssertionError:
            raise AssertionError("%s never %s\n%s" % (address, status, self.relay.log()[-5000:]))

    def wait_accepted(self, count=1, timeout=30):
        return wait_for(lambda: len(self.up.accepted()) >= count and self.up.accepted(), timeout, 0.1,
                        what="%d message(s) at the upstream" % count)

    def wait_dsn(self, contains, timeout=30):
        def check():
            for m in self.relay.outbox_messages():
                if b"Undelivered Mail Returned to Sender" in m and contains.encode() in m:
                    return m
            return None
        return wait_for(check, timeout, 0.2, what="a DSN mentioning %r" % contains)

    def wait_log(self, text, timeout=20):
        return wait_for(lambda: text in self.relay.log(), timeout, 0.1, what="%r in the log" % text)


# --- plain delivery, per-recipient results, pipelining ----------------------------------------

class Delivery(Case):
    def test_message_arrives_with_its_envelope_and_relay_logs_it(self):
        up, relay = self.start(["--pipelining"])
        data = message(rcpts=("a@example.com", "b@example.org"), body="line one\r\n.leading dot\r\n")
        qid = submit(relay, ("a@example.com", "b@example.org"), data)
        m = self.wait_accepted()[0]
        self.assertEqual(m["mail_from"], SENDER)
        self.assertEqual(m["rcpt_tos"], ["a@example.com", "b@example.org"])
        self.assertEqual(trace_stripped(m["data"]), data)  # dot-stuffing undone by the upstream
        self.assertTrue(m["data"].startswith(b"Received: from "))
        sent = self.wait_status(qid, "b@example.org", "sent")
        self.assertIn("queued as UP", sent["reply"])
        self.assertIn("relay=127.0.0.1[127.0.0.1]:%d" % up.port, sent["reply"])
        self.wait_log("%s: to=<a@example.com> relay=127.0.0.1[127.0.0.1]:%d" % (qid, up.port))
        self.assertRegex(relay.log(), r"deliver-smtp\[\d+\]: %s: to=<b@example.org> .*status=sent "
                                      r"\(250 2\.0\.0 Ok: queued as UP\d+\)" % qid)

    def test_mail_and_rcpts_are_pipelined_when_offered(self):
        up, relay = self.start(["--pipelining"])
        submit(relay, ("a@example.com", "b@example.com", "c@example.com"))
        m = self.wait_accepted()[0]
        self.assertTrue(m["pipelined"], m)
        self.assertEqual(m["commands"], ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA"])

    def test_one_command_at_a_time_without_pipelining(self):
        up, relay = self.start([])
        submit(relay, ("a@example.com", "b@example.com"))
        m = self.wait_accepted()[0]
        self.assertFalse(m["pipelined"], m)
        self.assertEqual(m["rcpt_tos"], ["a@example.com", "b@example.com"])

    def test_null_sender_is_sent_as_empty_path(self):
        up, relay = self.start(["--pipelining"])
        submit(relay, sender="", data=message(sender="MAILER-DAEMON@test.example"))
        m = self.wait_accepted()[0]
        self.assertEqual(m["mail_from"], "<>")

    def test_per_recipient_results_with_the_upstreams_words_and_a_dsn(self):
        up, relay = self.start([
            "--pipelining",
            "--rcpt-reply", "bad@example.com=550 5.1.1 <bad@example.com>: Recipient address rejected: User unknown",
            "--rcpt-reply", "busy@example.com=450 4.2.1 <busy@example.com>: Mailbox busy, come back later"])
        qid = submit(relay, ("good@example.com", "bad@example.com", "busy@example.com"), subject="mixed")
        m = self.wait_accepted()[0]
        self.assertEqual(m["rcpt_tos"], ["good@example.com"])
        self.wait_status(qid, "good@example.com", "sent")
        bounced = self.wait_status(qid, "bad@example.com", "bounced")
        self.assertIn("550 5.1.1", bounced["reply"])
        self.assertIn("host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <bad@example.com>: Recipient address rejected: "
                      "User unknown (in reply to RCPT TO command)", bounced["reply"])
        busy = self.wait_deferred(qid, "busy@example.com", "Mailbox busy")
        self.assertTrue(busy["last_error"].startswith("450 4.2.1 host 127.0.0.1[127.0.0.1] said: 450 4.2.1"), busy)
        dsn = self.wait_dsn("bad@example.com")
        self.assertIn(b"Status: 5.1.1", dsn)
        self.assertIn(b"Recipient address rejected: User unknown", dsn)
        self.assertNotIn(b"good@example.com>: ", dsn)
        self.assertRegex(relay.log(), r"%s: to=<bad@example.com> .*dsn=5\.1\.1 status=bounced" % qid)
        self.assertRegex(relay.log(), r"%s: to=<busy@example.com> .*dsn=4\.2\.1 status=deferred" % qid)

    def test_refused_sender_applies_to_every_recipient(self):
        up, relay = self.start(["--pipelining", "--mail-reply", "553 5.7.1 <sender@test.example>: Sender address "
                                                               "rejected: not owned by user"])
        qid = submit(relay, ("a@example.com", "b@example.com"))
        for a in ("a@example.com", "b@example.com"):
            e = self.wait_status(qid, a, "bounced")
            self.assertIn("Sender address rejected", e["reply"])
            self.assertIn("(in reply to MAIL FROM command)", e["reply"])
        self.assertEqual(up.messages(), [])

    def test_final_reply_applies_to_every_recipient_accepted_at_rcpt(self):
        up, relay = self.start(["--pipelining", "--dot-reply", "554 5.7.1 Message rejected as spam",
                                "--rcpt-reply", "gone@example.com=550 5.1.1 no such user"])
        qid = submit(relay, ("a@example.com", "b@example.com", "gone@example.com"))
        for a in ("a@example.com", "b@example.com"):
            e = self.wait_status(qid, a, "bounced")
            self.assertIn("554 5.7.1", e["reply"])
            self.assertIn("(in reply to end of DATA command)", e["reply"])
        gone = self.wait_status(qid, "gone@example.com", "bounced")
        self.assertIn("no such user", gone["reply"])

    def test_refused_data_command(self):
        up, relay = self.start(["--data-reply", "451 4.3.0 cannot take data right now"])
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="cannot take data right now")
        self.assertIn("(in reply to DATA command)", r["last_error"])

    def test_ipv6_literal(self):
        up, relay = self.start(["--pipelining"], host="[IPv6:::1]", upstream_host="::1")
        qid = submit(relay)
        self.wait_accepted()
        self.assertIn("relay=::1[::1]:%d" % up.port, self.wait_status(qid, "rcpt@example.com", "sent")["reply"])

    def test_host_name_is_looked_up(self):
        up, relay = self.start(["--pipelining"], host="localhost")
        qid = submit(relay)
        self.wait_accepted()
        self.assertIn("relay=localhost[127.0.0.1]:%d" % up.port,
                      self.wait_status(qid, "rcpt@example.com", "sent")["reply"])

    def test_unknown_host_defers(self):
        up, relay = self.start([], host="no-such-host.invalid")
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="Host or domain name not found")
        self.assertIn("no-such-host.invalid", r["last_error"])
        self.assertTrue(r["last_error"].startswith("451 4.4.3"), r)

    def test_connection_refused_defers(self):
        port = free_port()
        relay = Relay(sections=smtp_sections(port), name="smtpagent")
        self.relay = relay
        self.addCleanup(relay.cleanup)
        relay.start()
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="connect to 127.0.0.1[127.0.0.1]:%d: Connection refused" % port)
        self.assertTrue(r["last_error"].startswith("451 4.4.1"), r)


# --- retries and throttling --------------------------------------------------------------

class Retries(Case):
    def test_retries_until_the_upstream_takes_it_and_delivers_once(self):
        up, relay = self.start(["--pipelining", "--defer-first", "2"], extra={"queue": {"retry_delay": "1s"}})
        qid = submit(relay)
        self.wait_status(qid, "rcpt@example.com", "sent", timeout=40)
        self.assertEqual(len(self.send_log(qid, "deferred")), 2)
        self.assertEqual(len(up.accepted()), 1)
        self.assertEqual([m["reply"][:3] for m in up.messages()], ["451", "451", "250"])
        self.assertIn("Try again later (deferral 1 of 2)", self.send_log(qid, "deferred")[0]["reply"])

    def test_throttling_reply_pauses_the_backend(self):
        up, relay = self.start(["--pipelining", "--dot-reply", "451 4.7.500 Server busy. Please try again later."])
        qid = submit(relay)
        self.wait_deferred(qid, contains="Server busy")
        self.wait_log("backend is throttling; pausing deliveries to it")
        self.wait_log("asking qmgr to pause the smtp backend (throttled, or our credentials refused): host "
                      "127.0.0.1[127.0.0.1] said: 451 4.7.500 Server busy")


# --- connection reuse, idle connections, concurrency -------------------------------------------

class Reuse(Case):
    def test_connection_is_reused_with_rset_between_messages(self):
        up, relay = self.start(["--pipelining"], smtp={"concurrency": "1"})
        for i in range(4):
            submit(relay, subject="reuse %d" % i)
            self.wait_accepted(i + 1)
        msgs = up.accepted()
        self.assertEqual(up.state()["sessions"], 1, up.state())
        self.assertEqual({m["session"] for m in msgs}, {1})
        self.assertEqual(up.state()["commands"].get("RSET"), 3)
        self.assertEqual(msgs[1]["commands"][-5:], ["DATA", "RSET", "MAIL", "RCPT", "DATA"])

    def test_max_messages_per_connection(self):
        up, relay = self.start(["--pipelining"], smtp={"concurrency": "1", "max_messages_per_connection": "2"})
        for i in range(5):
            submit(relay, subject="m %d" % i)
            self.wait_accepted(i + 1)
        self.assertEqual([m["session"] for m in up.accepted()], [1, 1, 2, 2, 3])
        wait_for(lambda: up.state()["commands"].get("QUIT", 0) >= 2, what="QUIT after two messages")

    def test_idle_connection_is_closed_after_idle_timeout(self):
        up, relay = self.start(["--pipelining"], smtp={"idle_timeout": "1s"})
        submit(relay)
        self.wait_accepted()
        wait_for(lambda: up.state()["active"] == 0, 10, what="the idle session to end")
        self.assertEqual(up.state()["commands"].get("QUIT"), 1)
        submit(relay, subject="after idle")
        self.wait_accepted(2)
        self.assertEqual(up.state()["sessions"], 2)

    def test_many_sessions_at_once_up_to_concurrency(self):
        up, relay = self.start(["--pipelining", "--delay", "dot=1"], smtp={"concurrency": "4"})
        qids = [submit(relay, subject="burst %d" % i) for i in range(12)]
        self.wait_accepted(12, timeout=60)
        st = up.state()
        self.assertGreater(st["max_active"], 1, st)
        self.assertLessEqual(st["max_active"], 4, st)
        self.assertLessEqual(st["sessions"], 4, st)  # every session carried several messages
        for q in qids:
            self.wait_status(q, "rcpt@example.com", "sent")

    def test_session_closed_by_the_server_while_idle_is_replaced(self):
        up, relay = self.start(["--pipelining", "--server-idle-timeout", "1"], smtp={"idle_timeout": "60s"})
        submit(relay)
        self.wait_accepted()
        wait_for(lambda: up.state()["active"] == 0, 10, what="the server to drop the idle session")
        time.sleep(0.3)
        qid = submit(relay, subject="second")
        self.wait_accepted(2)
        self.wait_status(qid, "rcpt@example.com", "sent")
        self.assertEqual(len(self.send_log(qid, "deferred")), 0)


# --- timeouts per phase (RFC 5321 4.5.3.2) --------------------------------------------------

class Timeouts(Case):
    def timed_out(self, upstream_args, while_text, smtp=None, data=None):
        s = {"timeout": "2s", "data_timeout": "30s"}
        s.update(smtp or {})
        up, relay = self.start(["--pipelining"] + list(upstream_args), smtp=s)
        qid = submit(relay, data=data)
        r = self.wait_deferred(qid, contains="timed out while " + while_text, timeout=40)
        self.assertTrue(r["last_error"].startswith("451 4.4.2 conversation with 127.0.0.1[127.0.0.1] timed out"), r)
        return up, qid

    def test_greeting(self):
        self.timed_out(["--delay", "greeting=30"], "receiving the initial server greeting")

    def test_ehlo(self):
        self.timed_out(["--delay", "ehlo=30"], "performing the EHLO handshake")

    def test_mail(self):
        self.timed_out(["--delay", "mail=30"], "sending MAIL FROM")

    def test_rcpt(self):
        self.timed_out(["--delay", "rcpt=30"], "sending RCPT TO")

    def test_data_command(self):
        self.timed_out(["--delay", "data=30"], "sending DATA command")

    def test_data_block(self):
        # The upstream stops reading after 354 with a tiny receive window: the message cannot
        # all go out, and no progress for `timeout` is a timeout.
        big = message(body=("x" * 998 + "\r\n") * (24 * 1024))
        up, qid = self.timed_out(["--stall-body", "60"], "sending message body", data=big)
        self.assertEqual(up.accepted(), [])

    def test_final_dot_uses_data_timeout(self):
        up, qid = self.timed_out(["--delay", "dot=30"], "sending end of data -- message may be sent more than once",
                                 smtp={"timeout": "30s", "data_timeout": "2s"})
        self.assertEqual(up.accepted(), [])

    def test_starttls(self):
        self.timed_out(["--tls", "starttls", "--delay", "starttls=30"], "sending STARTTLS",
                       smtp={"tls": "starttls", "ca_file": pki()["ca"]})

    def test_connect(self):
        # A listener whose accept queue is full drops further SYNs: connect() hangs.
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        self.addCleanup(lst.close)
        fillers = []
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(lst.getsockname())
            fillers.append(c)
            self.addCleanup(c.close)
        time.sleep(0.2)
        probe = socket.socket()
        probe.settimeout(1)
        try:
            probe.connect(lst.getsockname())
            hangs = False
        except (socket.timeout, OSError):
            hangs = True
        finally:
            probe.close()
        if not hangs:
            self.skipTest("this network stack completes connections to a full accept queue")
        port = lst.getsockname()[1]
        relay = Relay(sections=smtp_sections(port, {"connect_timeout": "2s"}), name="smtpagent")
        self.relay = relay
        self.addCleanup(relay.cleanup)
        relay.start()
        qid = submit(relay)
        self.wait_deferred(qid, contains="connect to 127.0.0.1[127.0.0.1]:%d: Connection timed out" % port)

    def test_lost_connection_after_the_final_dot_is_never_reported_delivered(self):
        up, relay = self.start(["--pipelining", "--drop", "dot"], smtp={"timeout": "5s"})
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="lost connection with 127.0.0.1[127.0.0.1] while sending end of data")
        self.assertTrue(r["last_error"].startswith("451 4.4.2"), r)
        self.assertEqual(self.send_log(qid, "sent"), [])


# --- TLS -----------------------------------------------------------------------------------

class Tls(Case):
    def tls_start(self, cert="server", smtp=None, host="[127.0.0.1]", mode="starttls"):
        s = {"tls": mode, "ca_file": pki()["ca"]}
        s.update(smtp or {})
        return self.start(["--pipelining", "--tls", mode, "--cert", cert], smtp=s, host=host)

    def test_starttls_verified_by_host_name(self):
        up, relay = self.tls_start(host="localhost")
        qid = submit(relay)
        m = self.wait_accepted()[0]
        self.assertTrue(m["tls"])
        self.assertEqual(m["commands"][:3], ["EHLO", "STARTTLS", "EHLO"])
        self.wait_status(qid, "rcpt@example.com", "sent")
        self.assertRegex(relay.log(), r"deliver-smtp\[\d+\]: Verified TLS connection established: TLSv1\.[23] with "
                                      r"cipher \S+ \(\d+/\d+ bits\) relay=localhost\[127\.0\.0\.1\]:\d+ conn=\d+")

    def test_starttls_verified_by_ip_literal(self):
        up, relay = self.tls_start()
        submit(relay)
        self.assertTrue(self.wait_accepted()[0]["tls"])

    def test_unknown_ca_defers_and_says_so(self):
        up, relay = self.tls_start(cert="untrusted")
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="unknown CA")
        self.assertTrue(r["last_error"].startswith("451 4.7.5 TLS with host 127.0.0.1[127.0.0.1] failed"), r)
        self.assertEqual(up.messages(), [])

    def test_wrong_host_name_defers_and_says_so(self):
        up, relay = self.tls_start(cert="wrongname", host="localhost")
        qid = submit(relay)
        self.wait_deferred(qid, contains="host name mismatch")
        self.assertEqual(up.messages(), [])

    def test_expired_certificate_defers_and_says_so(self):
        up, relay = self.tls_start(cert="expired")
        qid = submit(relay)
        self.wait_deferred(qid, contains="certificate has expired")

    def test_tls_verify_no_still_encrypts(self):
        up, relay = self.tls_start(cert="untrusted", smtp={"tls_verify": "no"})
        submit(relay)
        self.assertTrue(self.wait_accepted()[0]["tls"])
        self.wait_log("Untrusted TLS connection established")

    def test_postfix_level_encrypt_means_starttls_without_verification(self):
        up, relay = self.tls_start(cert="wrongname", smtp={"tls": "encrypt"})
        submit(relay)
        self.assertTrue(self.wait_accepted()[0]["tls"])

    def test_postfix_level_secure_verifies(self):
        up, relay = self.tls_start(cert="wrongname", host="localhost", smtp={"tls": "secure"})
        qid = submit(relay)
        self.wait_deferred(qid, contains="host name mismatch")

    def test_starttls_required_but_not_offered(self):
        up, relay = self.start(["--pipelining"], smtp={"tls": "starttls", "ca_file": pki()["ca"]})
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]")
        self.assertTrue(r["last_error"].startswith("451 4.7.4"), r)
        self.assertEqual(up.messages(), [])

    def test_may_uses_tls_when_offered(self):
        up, relay = self.tls_start(cert="untrusted", smtp={"tls": "may"})
        submit(relay)
        self.assertTrue(self.wait_accepted()[0]["tls"])

    def test_may_sends_in_the_clear_without_starttls(self):
        up, relay = self.start(["--pipelining"], smtp={"tls": "may"})
        submit(relay)
        self.assertFalse(self.wait_accepted()[0]["tls"])

    def test_may_retries_in_the_clear_after_a_failed_handshake(self):
        up, relay = self.start(["--pipelining", "--tls", "starttls", "--broken-starttls"], smtp={"tls": "may"})
        qid = submit(relay)
        m = self.wait_accepted()[0]
        self.assertFalse(m["tls"])
        self.assertEqual(up.state()["sessions"], 2)
        self.assertNotIn("STARTTLS", m["commands"])
        self.wait_log("trying again without TLS (tls = may)")
        self.wait_status(qid, "rcpt@example.com", "sent")

    def test_failed_handshake_defers_when_tls_is_required(self):
        up, relay = self.start(["--pipelining", "--tls", "starttls", "--broken-starttls"],
                               smtp={"tls": "starttls", "ca_file": pki()["ca"]})
        qid = submit(relay)
        self.wait_deferred(qid, contains="TLS with host 127.0.0.1[127.0.0.1] failed")
        self.assertEqual(up.messages(), [])

    def test_implicit_tls(self):
        up, relay = self.tls_start(mode="implicit")
        qid = submit(relay)
        m = self.wait_accepted()[0]
        self.assertTrue(m["tls"])
        self.assertNotIn("STARTTLS", m["commands"])
        self.wait_status(qid, "rcpt@example.com", "sent")

    def test_implicit_tls_verification_failure(self):
        up, relay = self.tls_start(mode="implicit", cert="expired")
        qid = submit(relay)
        self.wait_deferred(qid, contains="certificate has expired")


# --- AUTH ------------------------------------------------------------------------------------

def password_file(directory, password):
    path = os.path.join(directory, "smtp.password")
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return path


class Auth(Case):
    def auth_start(self, offered="PLAIN,LOGIN", password="s3cret pass", smtp=None, upstream=()):
        d = tempfile.mkdtemp(prefix="mailrelay-smtpauth-")
        self.addCleanup(shutil.rmtree, d, True)
        s = {"tls": "starttls", "ca_file": pki()["ca"], "username": "relayuser",
             "password_file": password_file(d, password)}
        s.update(smtp or {})
        return self.start(["--pipelining", "--tls", "starttls", "--auth", offered,
                           "--user", "relayuser:s3cret pass"] + list(upstream), smtp=s)

    def test_plain_chosen_from_ehlo(self):
        up, relay = self.auth_start()
        qid = submit(relay)
        m = self.wait_accepted()[0]
        self.assertEqual(m["auth_user"], "relayuser")
        self.assertEqual(up.state()["auth"], [{"mechanism": "PLAIN", "user": "relayuser", "ok": True}])
        self.wait_status(qid, "rcpt@example.com", "sent")
        self.assertNotIn("s3cret", relay.log())

    def test_login_when_only_login_is_offered(self):
        up, relay = self.auth_start(offered="LOGIN")
        submit(relay)
        self.assertEqual(self.wait_accepted()[0]["auth_user"], "relayuser")
        self.assertEqual(up.state()["auth"][0]["mechanism"], "LOGIN")

    def test_configured_mechanism_wins(self):
        up, relay = self.auth_start(smtp={"auth_mechanism": "login"})
        submit(relay)
        self.wait_accepted()
        self.assertEqual(up.state()["auth"][0]["mechanism"], "LOGIN")

    def test_wrong_password_defers_and_logs_loudly(self):
        up, relay = self.auth_start(password="wrong")
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="SASL PLAIN authentication failed")
        self.assertIn("535 5.7.8", r["last_error"])
        self.assertTrue(r["last_error"].startswith("454 4.7.8"), r)
        self.wait_log("error: SASL PLAIN authentication failed")
        self.assertIn("a configuration problem", relay.log())
        # Every message would fail the same way: the backend pauses instead of piling up
        # failed logins at the smarthost.
        self.wait_log("backend is throttling; pausing deliveries to it")
        self.assertEqual(up.messages(), [])
        self.assertNotIn("wrong", re.sub(r"password=\S+", "", relay.log()).replace("wrong.invalid", ""))

    def test_never_sends_credentials_in_the_clear_unless_tls_none(self):
        d = tempfile.mkdtemp(prefix="mailrelay-smtpauth-")
        self.addCleanup(shutil.rmtree, d, True)
        up, relay = self.start(["--pipelining", "--auth", "PLAIN,LOGIN", "--auth-over-plain",
                                "--user", "relayuser:pw"],
                               smtp={"tls": "may", "username": "relayuser", "password_file": password_file(d, "pw")})
        qid = submit(relay)
        self.wait_deferred(qid, contains="refusing to send credentials")
        self.assertNotIn("AUTH", up.state()["commands"])
        self.assertEqual(up.messages(), [])

    def test_tls_none_chosen_explicitly_allows_clear_auth_and_warns(self):
        d = tempfile.mkdtemp(prefix="mailrelay-smtpauth-")
        self.addCleanup(shutil.rmtree, d, True)
        up, relay = self.start(["--pipelining", "--auth", "PLAIN", "--auth-over-plain", "--user", "relayuser:pw"],
                               smtp={"tls": "none", "username": "relayuser", "password_file": password_file(d, "pw")})
        submit(relay)
        self.assertEqual(self.wait_accepted()[0]["auth_user"], "relayuser")
        self.wait_log("over an UNENCRYPTED connection, because [smtp] tls = none")

    def test_credentials_configured_but_auth_not_offered_defers(self):
        up, relay = self.auth_start(offered="")
        qid = submit(relay)
        self.wait_deferred(qid, contains="does not offer AUTH")


class Xoauth2(Case):
    """AUTH XOAUTH2 with a client-credentials token from the Entra fake (Microsoft 365)."""

    def entra(self, secret="client-secret-value"):
        d = tempfile.mkdtemp(prefix="mailrelay-entra-")
        self.addCleanup(shutil.rmtree, d, True)
        port_file = os.path.join(d, "port")
        self.entra_record = os.path.join(d, "record.json")
        p = subprocess.Popen(["/usr/bin/python3", os.path.join(SOURCE_DIR, "tests", "fakes", "entra_fake.py"),
                              "--cert-dir", pki()["dir"], "--client", "%s:%s:%s" % (TENANT, CLIENT, secret),
                              "--port-file", port_file, "--record", self.entra_record, "--exit-on-stdin-eof"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)

        def stop():
            p.stdin.close()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.addCleanup(stop)
        wait_for(lambda: os.path.exists(port_file), 20, what="the Entra fake")
        with open(port_file) as f:
            port = int(f.read())
        secret_file = os.path.join(d, "client.secret")
        with open(secret_file, "w") as f:
            f.write(secret + "\n")
        os.chmod(secret_file, 0o600)
        return "https://127.0.0.1:%d" % port, secret_file

    def issued(self):
        with open(self.entra_record) as f:
            return json.load(f).get("issued_by_tenant", {}).get(TENANT, 0)

    def xo_start(self, upstream=(), wrong_secret=False):
        authority, secret_file = self.entra()
        if wrong_secret:
            with open(secret_file, "w") as f:
                f.write("not-the-secret\n")
        return self.start(["--pipelining", "--tls", "starttls", "--auth", "LOGIN,XOAUTH2",
                           "--user", MAILBOX + ":unused"] + list(upstream),
                          smtp={"tls": "starttls", "ca_file": pki()["ca"], "auth_mechanism": "xoauth2",
                                "username": MAILBOX, "tenant_id": TENANT, "client_id": CLIENT,
                                "client_secret_file": secret_file, "authority": authority})

    def test_token_is_fetched_once_and_reused(self):
        up, relay = self.xo_start()
        submit(relay, subject="one")
        self.wait_accepted(1)
        submit(relay, subject="two")
        msgs = self.wait_accepted(2)
        self.assertEqual([m["auth_user"] for m in msgs], [MAILBOX, MAILBOX])
        self.assertEqual(self.issued(), 1)
        self.assertTrue(all(a["mechanism"] == "XOAUTH2" and a["ok"] for a in up.state()["auth"]))
        self.assertNotRegex(relay.log(), r"eyJ[A-Za-z0-9_-]{10,}")  # no JWT in the log

    def test_refused_token_is_replaced_once(self):
        up, relay = self.xo_start(upstream=["--xoauth2-reject-first", "1"])
        qid = submit(relay)
        self.wait_accepted()
        self.wait_status(qid, "rcpt@example.com", "sent")
        auth = up.state()["auth"]
        self.assertEqual([a["ok"] for a in auth], [False, True])
        self.assertNotEqual(auth[0]["token_id"], auth[1]["token_id"])
        self.assertEqual(self.issued(), 2)
        self.wait_log("retrying once with a fresh token")

    def test_always_refused_token_defers(self):
        up, relay = self.xo_start(upstream=["--xoauth2-reject-first", "100"])
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="SASL XOAUTH2 authentication failed")
        self.assertIn("535 5.7.3 Authentication unsuccessful", r["last_error"])

    def test_wrong_client_secret_defers_with_entras_words(self):
        up, relay = self.xo_start(wrong_secret=True)
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="cannot get an Entra ID access token")
        self.assertIn("AADSTS7000215", r["last_error"])
        self.assertNotIn("AUTH", up.state()["commands"])


# --- SIZE, SMTPUTF8, 8BITMIME ----------------------------------------------------------------

class Extensions(Case):
    def test_size_is_declared(self):
        up, relay = self.start(["--pipelining"])
        submit(relay)
        m = self.wait_accepted()[0]
        self.assertIn("SIZE=%d" % len(m["data"]), m["mail_options"])

    def test_message_over_the_upstreams_size_bounces_without_sending(self):
        up, relay = self.start(["--pipelining", "--size", "2000"])
        qid = submit(relay, data=message(body=("y" * 70 + "\r\n") * 70))
        e = self.wait_status(qid, "rcpt@example.com", "bounced")
        self.assertRegex(e["reply"], r"^552 5\.3\.4 message size \d+ exceeds size limit 2000 of server "
                                     r"127\.0\.0\.1\[127\.0\.0\.1\]")
        self.wait_dsn("exceeds size limit 2000")
        self.assertNotIn("MAIL", up.state()["commands"])

    def test_utf8_envelope_to_a_server_without_smtputf8_bounces(self):
        up, relay = self.start(["--pipelining"])
        qid = submit(relay, ("jos\u00e9@example.com",), options=["SMTPUTF8"],
                     data=message(rcpts=("jose@example.com",)))
        e = self.wait_status(qid, "jos\u00e9@example.com", "bounced")
        self.assertTrue(e["reply"].startswith("553 5.6.7 SMTPUTF8 is required, but was not offered by host"), e)
        self.assertEqual(up.messages(), [])
        self.wait_dsn("SMTPUTF8 is required")

    def test_utf8_envelope_goes_to_a_server_with_smtputf8(self):
        up, relay = self.start(["--pipelining", "--smtputf8"])
        submit(relay, ("jos\u00e9@example.com",), options=["SMTPUTF8"], data=message(rcpts=("jose@example.com",)))
        m = self.wait_accepted()[0]
        self.assertIn("SMTPUTF8", m["mail_options"])
        self.assertEqual(m["rcpt_tos"], ["jos\u00e9@example.com"])

    def test_declared_smtputf8_with_an_ascii_message_goes_to_any_server(self):
        up, relay = self.start(["--pipelining"])
        submit(relay, options=["SMTPUTF8"])
        m = self.wait_accepted()[0]
        self.assertNotIn("SMTPUTF8", m["mail_options"])

    def test_8bitmime_is_passed_on(self):
        up, relay = self.start(["--pipelining"])
        data = ("Subject: 8bit\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <8bit@test.example>\r\n"
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\u00e9\r\n").encode()
        submit(relay, data=data, options=["BODY=8BITMIME"])
        m = self.wait_accepted()[0]
        self.assertIn("BODY=8BITMIME", m["mail_options"])
        self.assertEqual(trace_stripped(m["data"]), data)

    def test_8bit_to_a_server_without_8bitmime_is_sent_anyway_and_logged(self):
        up, relay = self.start(["--pipelining", "--no-8bitmime"])
        data = ("Subject: 8bit\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <8bit2@test.example>\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\u00e9\r\n").encode()
        qid = submit(relay, data=data, options=["BODY=8BITMIME"])
        m = self.wait_accepted()[0]
        self.assertNotIn("BODY=8BITMIME", m["mail_options"])
        self.assertEqual(trace_stripped(m["data"]), data)
        self.wait_log("%s: relay=127.0.0.1[127.0.0.1]:%d (sending 8-bit content to a server that does not "
                      "announce 8BITMIME" % (qid, up.port))


# --- the MIME corpus, byte for byte ------------------------------------------------------------

class Corpus(Case):
    def test_every_corpus_message_arrives_byte_identical(self):
        mime = os.path.join(SOURCE_DIR, "tests", "data", "mime")
        with open(os.path.join(mime, "manifest.json")) as f:
            manifest = json.load(f)["messages"]
        up, relay = self.start(["--pipelining", "--smtputf8"], smtp={"concurrency": "4"},
                               extra={"policy": {"recipient_domains": "example.com, example.org, example.net, "
                                                                     "test.example"}})
        sent = {}
        for entry in manifest:
            with open(os.path.join(mime, entry["file"]), "rb") as f:
                data = f.read()
            opts = []
            if entry["eight_bit"]:
                opts.append("BODY=8BITMIME")
            if entry["smtputf8"]:
                opts.append("SMTPUTF8")
            env = entry["envelope"]
            submit(relay, tuple(env["rcpt_to"]), data=data, sender=env["mail_from"], options=opts)
            sent[env["mail_from"]] = (entry, data)
        msgs = self.wait_accepted(len(manifest), timeout=120)
        self.assertEqual(len(msgs), len(manifest))
        for m in msgs:
            entry, data = sent[m["mail_from"]]
            self.assertEqual(m["rcpt_tos"], entry["envelope"]["rcpt_to"], entry["file"])
            self.assertEqual("BODY=8BITMIME" in m["mail_options"], entry["eight_bit"], entry["file"])
            got = trace_stripped(m["data"])
            if entry["file"].startswith("018-"):
                # smtpd added the Message-ID and Date the client left out; everything else
                # is untouched.
                head, sep, rest = got.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                added = [ln for ln in lines if ln.startswith((b"Message-ID: ", b"Date: "))]
                self.assertEqual(len(added), 2, head)
                got = b"\r\n".join(ln for ln in lines if ln not in added) + sep + rest
            self.assertEqual(len(got), len(data), entry["file"])
            self.assertEqual(got, data, entry["file"])


# --- Postfix's smtp-sink -----------------------------------------------------------------------

@unittest.skipUnless(IS_ROOT and shutil.which("smtp-sink"), "smtp-sink runs as root with -u postfix")
class SmtpSink(Case):
    def sink(self, *flags):
        d = tempfile.mkdtemp(prefix="mailrelay-sink-")
        os.chmod(d, 0o777)
        self.addCleanup(shutil.rmtree, d, True)
        self.sink_out = os.path.join(d, "counters")
        port = free_port()
        out = open(self.sink_out, "wb")
        self.addCleanup(out.close)
        p = subprocess.Popen(["smtp-sink", "-c", "-u", "postfix", "-d", os.path.join(d, "dump", "%M."), *flags,
                              "127.0.0.1:%d" % port, "100"], stdout=out, stderr=subprocess.STDOUT)

        def stop():
            p.terminate()
            p.wait(5)
        self.addCleanup(stop)
        wait_for(lambda: self._listening(port), 10, what="smtp-sink")
        self.sink_dir = d
        return port

    @staticmethod
    def _listening(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def counters(self):
        with open(self.sink_out, "rb") as f:
            last = f.read().split(b"\r")[-2:]
        for chunk in reversed(last):
            m = re.search(rb"sess=(\d+) quit=(\d+) mesg=(\d+)", chunk)
            if m:
                return {"sess": int(m.group(1)), "quit": int(m.group(2)), "mesg": int(m.group(3))}
        return {"sess": 0, "quit": 0, "mesg": 0}

    def dumps(self):
        return sorted(glob.glob(os.path.join(self.sink_dir, "dump", "*")))

    def sink_relay(self, port, smtp=None):
        relay = Relay(sections=smtp_sections(port, smtp), name="smtpagent")
        self.relay = relay
        self.addCleanup(relay.cleanup)
        return relay.start()

    def test_three_messages_over_one_session(self):
        port = self.sink()
        # Connection probes above counted as sessions: note them first.
        wait_for(lambda: self.counters()["sess"] >= 1, 10, what="the probe session to count")
        before = self.counters()["sess"]
        relay = self.sink_relay(port, {"concurrency": "1", "idle_timeout": "2s"})
        qids = []
        for i in range(3):
            qids.append(submit(relay, subject="sink %d" % i))
            wait_for(lambda: len(self.dumps()) >= i + 1, 20, what="message %d at smtp-sink" % i)
        for q in qids:
            self.wait_status(q, "rcpt@example.com", "sent")
        wait_for(lambda: self.counters()["quit"] >= 1, 15, what="the session to QUIT")
        c = self.counters()
        self.assertEqual(c["sess"] - before, 1, c)
        self.assertEqual(c["mesg"], 3, c)
        with open(self.dumps()[0], "rb") as f:
            dump = f.read()
        self.assertIn(b"X-Mail-Args: <%s>" % SENDER.encode(), dump)
        self.assertIn(b"X-Rcpt-Args: <rcpt@example.com>", dump)

    def test_helo_fallback_when_esmtp_is_not_offered(self):
        port = self.sink("-e")
        relay = self.sink_relay(port)
        qid = submit(relay)
        self.wait_status(qid, "rcpt@example.com", "sent")
        with open(wait_for(self.dumps, 10, what="a dump")[0], "rb") as f:
            self.assertIn(b"X-Client-Proto: SMTP", f.read())

    def test_421_on_rcpt_defers_and_throttles(self):
        port = self.sink("-Q", "RCPT")
        relay = self.sink_relay(port)
        qid = submit(relay)
        r = self.wait_deferred(qid, contains="421")
        self.assertIn("(in reply to RCPT TO command)", r["last_error"])
        self.wait_log("asking qmgr to pause the smtp backend")


if __name__ == "__main__":
    unittest.main()
