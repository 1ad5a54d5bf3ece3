"""Bounces end to end, with a real SMTP upstream (tests/fakes/smtp_upstream.py) saying no:
the RFC 3464 report a sender gets for a 5xx and for a message that ran out of attempts, no
bounce ever to the null sender, and a bounce that cannot be delivered going to postmaster
once and then being dropped with a log line.

Messages to example.com go to the upstream (deliver-smtp); DSNs to test.example, the
senders' and postmaster's domain, land in the file backend's outbox where the test parses
them with Python's email package, an independent reader of MIME."""
import email
import email.policy
import unittest

from harness import wait_for
from test_deliver_smtp import Case, SENDER, message, submit


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def delivery_status_fields(report):
    """message/delivery-status -> (per-message fields, [per-recipient fields]) as dicts."""
    part = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"]
    if len(part) != 1:
        raise AssertionError("expected one message/delivery-status part, got %d" % len(part))
    # compat32 parses the part's body into header blocks: one for the message, one per recipient.
    blocks = part[0].get_payload()
    as_dict = [dict((k.lower(), v) for k, v in b.items()) for b in blocks]
    return as_dict[0], as_dict[1:]


class Bounces(Case):
    def dsns(self):
        return [m for m in self.relay.outbox_messages() if b"multipart/report" in m]

    def wait_for_dsns(self, n, timeout=30):
        return wait_for(lambda: len(self.dsns()) >= n and self.dsns(), timeout, 0.2, what="%d DSN(s)" % n)

    def assert_is_a_report_about(self, raw, subject):
        dsn = parse(raw)
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        self.assertEqual(dsn.get_param("report-type"), "delivery-status")
        self.assertIn("MAILER-DAEMON@", dsn["From"])
        self.assertEqual(dsn["To"].strip("<> "), SENDER)
        self.assertEqual(dsn["Auto-Submitted"], "auto-replied")
        self.assertIsNotNone(dsn["Message-ID"])
        self.assertIsNotNone(dsn["Date"])
        kinds = [p.get_content_type() for p in dsn.get_payload()]
        self.assertEqual(kinds[:2], ["text/plain", "message/delivery-status"])
        self.assertIn(kinds[2], ("text/rfc822-headers", "message/rfc822"))
        original = dsn.get_payload()[2]
        text = original.as_string()
        self.assertIn("Subject: " + subject, text, "the original headers are returned")
        return dsn

    def test_a_5xx_gives_the_sender_an_rfc3464_report_with_the_upstreams_words(self):
        up, relay = self.start(["--rcpt-reply", "bad@example.com=550 5.1.1 <bad@example.com>: User unknown"])
        qid = submit(relay, ("good@example.com", "bad@example.com"), subject="mixed fortunes")
        dsn = self.assert_is_a_report_about(self.wait_for_dsns(1)[0], "mixed fortunes")
        per_message, recipients = delivery_status_fields(dsn)
        self.assertTrue(per_message["reporting-mta"].startswith("dns; "), per_message)
        self.assertIn("arrival-date", per_message)
        self.assertEqual(len(recipients), 1, "only the failed recipient is reported: %r" % recipients)
        r = recipients[0]
        self.assertEqual(r["final-recipient"], "rfc822; bad@example.com")
        self.assertEqual(r["action"], "failed")
        self.assertEqual(r["status"], "5.1.1")
        self.assertIn("User unknown", r["diagnostic-code"])
        self.assertTrue(r["diagnostic-code"].startswith("smtp; 550"), r)
        # The DSN itself has the null envelope sender: the send log says so.
        dsn_entries = [e for e in self.send_log(status="sent") if e["id"] != qid and e["to"] == SENDER]
        self.assertEqual(len(dsn_entries), 1, self.send_log())
        self.assertEqual(dsn_entries[0]["from"], "")
        self.assertEqual([m["rcpt_tos"] for m in up.accepted()], [["good@example.com"]])

    def test_running_out_of_attempts_bounces_with_the_last_deferral(self):
        up, relay = self.start(["--rcpt-reply", "slow@example.com=450 4.2.1 <slow@example.com>: Mailbox busy"],
                               extra={"queue": {"retry_delay": "1s", "max_retry_delay": "1s",
                                                "max_attempts": "3"}})
        qid = submit(relay, ("slow@example.com",), subject="never arrives")
        dsn = self.assert_is_a_report_about(self.wait_for_dsns(1, timeout=45)[0], "never arrives")
        _, recipients = delivery_status_fields(dsn)
        self.assertEqual(len(recipients), 1)
        r = recipients[0]
        self.assertEqual(r["final-recipient"], "rfc822; slow@example.com")
        self.assertEqual(r["action"], "failed")
        self.assertEqual(r["status"], "5.2.1", "given up: permanent, the subject detail kept")
        self.assertIn("Mailbox busy", r["diagnostic-code"])
        self.assertIn("too many delivery attempts (3)", dsn.get_payload()[0].get_payload(decode=True).decode())
        self.assertRegex(relay.log(), r"%s: to=<slow@example.com> .*status=expired" % qid)
        self.assertEqual([e["status"] for e in self.send_log(qid)], ["deferred", "deferred", "expired"],
                         "three attempts, no more")

    def test_no_bounce_ever_goes_to_the_null_sender(self):
        up, relay = self.start(["--rcpt-reply", "bad@example.com=550 5.1.1 User unknown"])
        qid = submit(relay, ("bad@example.com",), sender="", data=message(sender="MAILER-DAEMON@test.example"))
        self.wait_status(qid, "bad@example.com", "bounced")
        self.wait_log("%s: not sending a bounce: the envelope sender is null" % qid)
        wait_for(lambda: relay.relayctl("status", json_out=True)["queue"]["messages"] == 0, what="an empty queue")
        self.assertEqual(self.dsns(), [])

    def test_an_undeliverable_bounce_goes_to_postmaster_once_then_is_dropped(self):
        # The sender's own domain goes to the upstream too, which refuses both addresses.
        sender = "sender@example.com"
        up, relay = self.start(["--rcpt-reply", "bad@example.com=550 5.1.1 User unknown",
                                "--rcpt-reply", sender + "=550 5.1.1 Sender mailbox gone"])
        submit(relay, ("bad@example.com",), sender=sender, data=message(sender=sender, subject="doubly lost"))
        # The bounce to the sender fails; postmaster (test.example: the outbox) gets it instead.
        notice = parse(self.wait_for_dsns(1)[0])
        self.assertEqual(notice["To"], "<postmaster@test.example>")
        self.assertEqual(notice["Subject"], "Postmaster notice: undeliverable bounce")
        # It carries the failed bounce whole, and the bounce names the message it was about.
        bounce = notice.get_payload()[2]
        self.assertEqual(bounce.get_content_type(), "message/rfc822")
        self.assertIn("Subject: doubly lost", bounce.as_string())
        wait_for(lambda: relay.relayctl("status", json_out=True)["queue"]["messages"] == 0, what="an empty queue")
        self.assertEqual(len(self.dsns()), 1)

    def test_a_bounce_postmaster_cannot_get_is_dropped_with_a_log_line(self):
        up, relay = self.start(["--rcpt-reply", "bad@example.com=550 5.1.1 User unknown",
                                "--rcpt-reply", "sender@example.com=550 5.1.1 Sender mailbox gone",
                                "--rcpt-reply", "postmaster@example.com=550 5.1.1 No postmaster either"],
                               extra={"server": {"postmaster": "postmaster@example.com"}})
        submit(relay, ("bad@example.com",), sender="sender@example.com",
               data=message(sender="sender@example.com", subject="triply lost"))
        self.wait_log("dropped", timeout=30)
        wait_for(lambda: relay.relayctl("status", json_out=True)["queue"]["messages"] == 0, what="an empty queue")
        self.assertRegex(relay.log(), r"warning: [0-9A-Z]+: to=<postmaster@example\.com> \(postmaster notice about "
                                      r"a failed bounce could not be delivered; dropped\)")
        self.assertEqual(self.dsns(), [])


if __name__ == "__main__":
    unittest.main()
