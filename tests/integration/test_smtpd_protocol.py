"""smtpd's ESMTP dialogue with a raw client: every verb, ordering, pipelining, limits,
SMTP smuggling. Each bad input gets its reply and nothing broken is ever queued."""
import re
import socket
import time
import unittest

from harness import Raw, Relay, expect, wait_for


class Dialogue(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = Relay(sections={"smtpd": {"max_message_size": "64K", "max_recipients": "3"}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.r.cleanup()

    def raw(self):
        c = Raw(self.r.port)
        expect(self, c.reply(), 220, contains="relay.test.example ESMTP mailrelay")
        return c

    def test_ehlo_lists_the_extensions(self):
        with self.raw() as c:
            code, lines = c.cmd("EHLO client.example")
            self.assertEqual(code, 250)
            self.assertEqual(lines[0], "relay.test.example")
            for ext in ("PIPELINING", "SIZE 65536", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"):
                self.assertIn(ext, lines)
            self.assertNotIn("STARTTLS", lines)  # no certificate configured
            self.assertNotIn("AUTH PLAIN LOGIN", lines)  # auth = none

    def test_simple_verbs(self):
        with self.raw() as c:
            expect(self, c.cmd("HELO client.example"), 250, contains="relay.test.example")
            expect(self, c.cmd("NOOP"), 250, "2.0.0")
            expect(self, c.cmd("RSET"), 250, "2.0.0")
            expect(self, c.cmd("VRFY someone"), 252, "2.0.0")
            expect(self, c.cmd("EXPN list"), 502, "5.5.1")
            expect(self, c.cmd("HELP"), 214, "2.0.0")
            expect(self, c.cmd("XYZZY"), 500, "5.5.1")
            expect(self, c.cmd("BDAT 10 LAST"), 502, "5.5.1")
            expect(self, c.cmd("QUIT"), 221, "2.0.0")
            self.assertTrue(c.closed())

    def test_commands_are_case_insensitive(self):
        with self.raw() as c:
            expect(self, c.cmd("ehlo client.example"), 250)
            expect(self, c.cmd("mail from:<a@example.org>"), 250, "2.1.0")
            expect(self, c.cmd("Rcpt To:<b@example.com>"), 250, "2.1.5")
            expect(self, c.cmd("rset"), 250)

    def test_out_of_sequence_commands(self):
        with self.raw() as c:
            expect(self, c.cmd("MAIL FROM:<a@example.org>"), 503, "5.5.1", "HELO/EHLO")
            expect(self, c.cmd("EHLO x"), 250)
            expect(self, c.cmd("RCPT TO:<b@example.com>"), 503, "5.5.1", "need MAIL")
            expect(self, c.cmd("DATA"), 503, "5.5.1", "need MAIL")
            expect(self, c.cmd("MAIL FROM:<a@example.org>"), 250)
            expect(self, c.cmd("DATA"), 503, "5.5.1", "need RCPT")
            expect(self, c.cmd("MAIL FROM:<a@example.org>"), 503, "5.5.1", "nested MAIL")

    def test_bad_syntax_and_bad_addresses(self):
        with self.raw() as c:
            expect(self, c.cmd("EHLO x"), 250)
            expect(self, c.cmd("EHLO"), 501, "5.5.4")
            expect(self, c.cmd("MAIL FROM:<unterminated"), 501, "5.1.7")
            expect(self, c.cmd("MAIL FROM:<a@example.org> FOO=BAR"), 555, "5.5.4")
            expect(self, c.cmd("MAIL FROM:<a@example.org> SIZE=abc"), 501, "5.5.4")
            expect(self, c.cmd("MAIL FROM:<a@example.org>"), 250)
            expect(self, c.cmd("RCPT TO:<a@b@example.com>"), 501, "5.1.3")
            expect(self, c.cmd("RCPT TO:<user@example.com.>"), 501, "5.1.3")
            expect(self, c.cmd("RCPT TO:<>"), 501, "5.1.3")
            expect(self, c.cmd("RCPT TO:<üser@example.com>"), 553, "5.6.7")

    def test_command_line_over_512_octets(self):
        with self.raw() as c:
            expect(self, c.cmd("EHLO " + "a" * 600), 500, "5.5.2")
            expect(self, c.cmd("NOOP"), 250)  # the session goes on

    def test_size_refused_at_mail_and_during_data(self):
        with self.raw() as c:
            expect(self, c.cmd("EHLO x"), 250)
            expect(self, c.cmd("MAIL FROM:<a@example.org> SIZE=999999"), 552, "5.3.4")
            expect(self, c.cmd("MAIL FROM:<a@example.org> SIZE=100"), 250)
            expect(self, c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(self, c.cmd("DATA"), 354)
            c.send("Subject: big\r\n\r\n" + ("x" * 500 + "\r\n") * 200 + ".\r\n")
            expect(self, c.reply(), 552, "5.3.4")
            expect(self, c.cmd("NOOP"), 250)
        time.sleep(0.3)
        self.assertFalse(any(b"Subject: big" in m for m in self.r.outbox_messages()))

    def test_text_line_over_1000_octets_rejects_the_message(self):
        with self.raw() as c:
            expect(self, c.cmd("EHLO x"), 250)
            c.cmd("MAIL FROM:<a@example.org>")
            c.cmd("RCPT TO:<b@example.com>")
            expect(self, c.cmd("DATA"), 354)
            c.send("Subject: long line\r\n\r\n" + "y" * 1200 + "\r\nafter\r\n.\r\n")
            code, lines = c.reply()
            self.assertGreaterEqual(code, 500, lines)
            expect(self, c.cmd("NOOP"), 250)
        time.sleep(0.3)
        self.assertFalse(any(b"Subject: long line" in m for m in self.r.outbox_messages()))

    def test_max_recipients(self):
        with self.raw() as c:
            c.cmd("EHLO x")
            c.cmd("MAIL FROM:<a@example.org>")
            for i in range(3):
                expect(self, c.cmd("RCPT TO:<r%d@example.com>" % i), 250)
            expect(self, c.cmd("RCPT TO:<r9@example.com>"), 452, "4.5.3")

    def test_pipelined_transaction_in_one_write(self):
        with self.raw() as c:
            c.send("EHLO x\r\nMAIL FROM:<p@example.org>\r\nRCPT TO:<p1@example.com>\r\n"
                   "RCPT TO:<bad@nowhere.invalid>\r\nRCPT TO:<p2@example.com>\r\nDATA\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.reply()[0], 250)
            expect(self, c.reply(), 554, "5.7.1", "Relay access denied")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.reply()[0], 354)
            c.send("Subject: pipelined\r\n\r\n..dot stuffed\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
            self.assertRegex(lines[0], r"queued as [0-9A-Z]{12}")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.reply()[0], 221)
        m = wait_for(lambda: [x for x in self.r.outbox_messages() if b"Subject: pipelined" in x], what="delivery")[0]
        self.assertTrue(m.endswith(b"\r\n.dot stuffed\r\n"), m[-60:])
        self.assertNotIn(b"\tfor <", m)  # two recipients: the Received: header names none

    def test_swaks_pipelining(self):
        import subprocess
        out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.r.port, "--pipeline",
                              "--from", "p@example.org", "--to", "pipe1@example.com,pipe2@example.com",
                              "--header", "Subject: swaks pipelined"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        # All four commands went out before the first reply, and the replies came back in order.
        self.assertRegex(out.stdout, r" -> DATA\n<-  250 2\.1\.0 Ok\n<-  250 2\.1\.5 Ok\n<-  250 2\.1\.5 Ok\n<-  354 ")
        self.assertRegex(out.stdout, r"250 2\.0\.0 Ok: queued as")
        wait_for(lambda: any(b"Subject: swaks pipelined" in m for m in self.r.outbox_messages()), what="delivery")

    def test_a_burst_of_pipelined_commands_keeps_every_reply_in_order(self):
        with self.raw() as c:
            c.cmd("EHLO x")
            burst = []
            for i in range(300):
                burst.append("NOOP" if i % 3 else "VRFY u%d" % i)
            c.send("".join(b + "\r\n" for b in burst))
            for i, b in enumerate(burst):
                code, _ = c.reply()
                self.assertEqual(code, 250 if b == "NOOP" else 252, "reply %d" % i)


class Smuggling(unittest.TestCase):
    """CVE-2023-51764 class: only CRLF.CRLF ends DATA; bare CR/LF closes the session."""

    @classmethod
    def setUpClass(cls):
        cls.r = Relay().start()

    @classmethod
    def tearDownClass(cls):
        cls.r.cleanup()

    def attempt(self, end_variant):
        c = Raw(self.r.port)
        c.reply()
        c.cmd("EHLO attacker.example")
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<victim@example.com>")
        expect(self, c.cmd("DATA"), 354)
        marker = "smuggle%d" % abs(hash(end_variant))
        c.send("Subject: outer " + marker + "\r\n\r\nhello" + end_variant +
               "MAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
               "Subject: inner " + marker + "\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 521, "%r: %s %s" % (end_variant, code, lines))
        self.assertTrue(lines[0].startswith("5.5.2"))
        self.assertTrue(c.closed(), "connection must be closed")
        c.close()
        return marker

    def test_every_bare_newline_end_of_data_variant(self):
        markers = []
        for v in ["\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r.\r", "\n\n.\r\n", "\r\n\n.\r\n"]:
            markers.append(self.attempt(v))
        time.sleep(0.5)
        boxes = self.r.outbox_messages()
        for mk in markers:
            self.assertFalse(any(mk.encode() in m for m in boxes), "something was queued for " + mk)

    def test_bare_lf_in_a_command_closes_the_session(self):
        with Raw(self.r.port) as c:
            c.reply()
            c.send("EHLO x\nMAIL FROM:<a@example.org>\r\n")
            expect(self, c.reply(), 521, "5.5.2")
            self.assertTrue(c.closed())


class Transparency(unittest.TestCase):
    def test_dot_lines_and_8bit_pass_through_unchanged(self):
        with Relay() as r:
            body = ("Subject: dots\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n.\r\n..two\r\n"
                    ".x\r\nFrom here\r\ntrailing   \r\n\xc3\xa9t\xc3\xa9 \xe2\x82\xac\r\n").encode("latin-1")
            with Raw(r.port) as c:
                c.reply()
                c.cmd("EHLO x")
                expect(self, c.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME"), 250)
                c.cmd("RCPT TO:<b@example.com>")
                c.cmd("DATA")
                stuffed = b"\r\n".join((b"." + ln if ln.startswith(b".") else ln) for ln in body.split(b"\r\n"))
                c.send(stuffed + b".\r\n")
                expect(self, c.reply(), 250)
            m = r.read(r.wait_outbox(1)[0])
            # The body is byte for byte what the client meant (Message-ID and Date were added
            # to the header block, which had none).
            self.assertEqual(m.split(b"\r\n\r\n", 1)[1], body.split(b"\r\n\r\n", 1)[1])


if __name__ == "__main__":
    unittest.main()
