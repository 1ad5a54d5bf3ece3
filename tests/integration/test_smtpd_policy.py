"""Relay policy: modes, domains, sender and recipient rules, and the classic tricks that
try to turn an allowed domain into an open relay. Nothing outside the allowed domains
may be accepted from a client that is restricted to them."""
import unittest

from harness import Raw, Relay, expect


def session(relay, ehlo="client.example"):
    c = Raw(relay.port)
    c.reply()
    c.cmd("EHLO " + ehlo)
    return c


class Strict(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = Relay(sections={"policy": {"recipient_domains": "example.com, .corp.example.net",
                                           "recipient_deny_regex": "^ceo@"}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.r.cleanup()

    def rcpt(self, address, smtputf8=False):
        with session(self.r) as c:
            expect(self, c.cmd("MAIL FROM:<a@example.org>" + (" SMTPUTF8" if smtputf8 else "")), 250)
            return c.cmd("RCPT TO:<%s>" % address)

    def test_allowed_domains_in_any_case(self):
        expect(self, self.rcpt("user@example.com"), 250)
        expect(self, self.rcpt("User@EXAMPLE.COM"), 250)
        expect(self, self.rcpt("a@hq.corp.example.net"), 250)   # .corp.example.net: subdomains
        expect(self, self.rcpt("<Postmaster>"[1:-1]), 250)      # always accepted (RFC 5321)

    def test_other_domains_are_relay_denied(self):
        for addr in ["user@example.org", "a@corp.example.net", "user@example.com.evil.test",
                     "user@evilexample.com", "user@[192.0.2.1]", "user@[IPv6:2001:db8::1]"]:
            expect(self, self.rcpt(addr), 554, "5.7.1", "Relay access denied")

    def test_relay_tricks_are_refused(self):
        for addr in ['user%other.org@example.com', 'other.org!user@example.com', '"user@other.org"@example.com',
                     '@example.com:user@other.org', '@example.com,@x.example.com:user@example.com']:
            code, lines = self.rcpt(addr)
            self.assertIn(code, (501, 553, 554), "%s -> %s %s" % (addr, code, lines))
            self.assertTrue(code != 250, addr)

    def test_trailing_dot_and_idn_lookalikes(self):
        expect(self, self.rcpt("user@example.com."), 501, "5.1.3")
        # Cyrillic 'а' in exаmple.com becomes a different A-label: not an allowed domain.
        expect(self, self.rcpt("user@ex\u0430mple.com", smtputf8=True), 554, "5.7.1")
        expect(self, self.rcpt("user@ex\u0430mple.com"), 553, "5.6.7")  # needs SMTPUTF8

    def test_recipient_deny_regex(self):
        expect(self, self.rcpt("ceo@example.com"), 550, "5.7.1", "denied by policy")

    def test_rejections_are_logged_with_the_reason(self):
        self.rcpt("user@nowhere.test")
        self.assertRegex(self.r.log(), r"NOQUEUE: stage=RCPT client=\[127\.0\.0\.1\]:\d+ from=<a@example\.org> "
                                       r"helo=<client\.example> \(reject: 554 5\.7\.1 <user@nowhere\.test>: Relay access "
                                       r"denied to=<user@nowhere\.test> \(recipient domain not in recipient_domains\)\)")


class Untrusted(unittest.TestCase):
    def test_a_client_outside_networks_without_auth_cannot_relay_at_all(self):
        with Relay(sections={"policy": {"networks": "10.99.0.0/16", "mode": "any_domain"}}) as r:
            with session(r) as c:
                c.cmd("MAIL FROM:<a@example.org>")
                expect(self, c.cmd("RCPT TO:<user@example.com>"), 554, "5.7.1")


class Modes(unittest.TestCase):
    def test_net_any_domain_lets_networks_send_anywhere(self):
        with Relay(sections={"policy": {"mode": "net_any_domain"}}) as r:
            with session(r) as c:
                c.cmd("MAIL FROM:<a@example.org>")
                expect(self, c.cmd("RCPT TO:<anyone@anywhere.test>"), 250)
                # Tricks do not widen anything for a client that may go anywhere anyway.
                expect(self, c.cmd("RCPT TO:<user%other.test@anywhere.test>"), 250)

    def test_auth_any_domain_keeps_network_clients_restricted(self):
        with Relay(sections={"policy": {"mode": "auth_any_domain"}}) as r:
            with session(r) as c:
                c.cmd("MAIL FROM:<a@example.org>")
                expect(self, c.cmd("RCPT TO:<anyone@anywhere.test>"), 554, "5.7.1")


class Senders(unittest.TestCase):
    def test_sender_domains_and_regex(self):
        with Relay(sections={"policy": {"sender_domains": "example.org", "sender_regex": "^(app|cron)@"}}) as r:
            with session(r) as c:
                expect(self, c.cmd("MAIL FROM:<app@example.org>"), 250)
                c.cmd("RSET")
                expect(self, c.cmd("MAIL FROM:<app@other.test>"), 553, "5.7.1")
                expect(self, c.cmd("MAIL FROM:<joe@example.org>"), 553, "5.7.1")
                expect(self, c.cmd("MAIL FROM:<>"), 250)  # bounces from internal systems


if __name__ == "__main__":
    unittest.main()
