"""STARTTLS, implicit TLS, require_tls, TLS versions, encrypted keys, SMTP AUTH and
relayctl user, with real clients: swaks, curl, msmtp, openssl s_client, smtplib."""
import base64
import os
import smtplib
import ssl
import subprocess
import time
import unittest

from harness import Raw, Relay, expect, pki, wait_for, free_port

# crypt_blowfish's published test vector: bcrypt of "U*U" (users of the SES seed bring such hashes).
BCRYPT_U_STAR_U = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"


def tls_sections(extra=None, port_tls=None):
    p = pki()
    s = {"smtpd": {"tls_cert_file": p["server"], "tls_key_file": p["server_key"]}}
    if port_tls:
        s["smtpd"]["listen_tls"] = "127.0.0.1:%d" % port_tls
    for sec, keys in (extra or {}).items():
        s.setdefault(sec, {}).update(keys)
    return s


def add_user(relay, name, password):
    r = relay.relayctl("user", "add", name, stdin=password + "\n")
    return r.stdout


def b64(s):
    return base64.b64encode(s.encode()).decode()


class StartTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = Relay(sections=tls_sections()).start()

    @classmethod
    def tearDownClass(cls):
        cls.r.cleanup()

    def test_swaks_tls_and_the_received_header_says_how(self):
        out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.r.port, "--tls", "--from", "a@example.org",
                              "--to", "tls@example.com", "--header", "Subject: over tls"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("STARTTLS", out.stdout)
        m = wait_for(lambda: [x for x in self.r.outbox_messages() if b"Subject: over tls" in x], what="delivery")[0]
        self.assertRegex(m, rb"with ESMTPS\r\n\t\(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\)")

    def test_plaintext_pipelined_after_starttls_is_discarded(self):
        with Raw(self.r.port) as c:
            c.reply()
            c.cmd("EHLO x")
            # An attacker's plaintext injection rides along with STARTTLS (CVE-2011-0411).
            c.send("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
            expect(self, c.reply(), 220, "2.0.0")
            c.starttls(ssl.create_default_context(cafile=pki()["ca"]))
            code, lines = c.cmd("EHLO x")
            self.assertEqual(code, 250)
            self.assertEqual(lines[0], "relay.test.example")  # EHLO's reply, not MAIL's
            self.assertNotIn("STARTTLS", lines)
            # The injected MAIL never happened: a transaction can start now.
            expect(self, c.cmd("MAIL FROM:<real@example.org>"), 250)
        wait_for(lambda: "discarded plaintext pipelined after STARTTLS" in self.r.log(), what="the log line")

    def test_session_state_resets_after_starttls(self):
        with Raw(self.r.port) as c:
            c.reply()
            c.cmd("EHLO x")
            expect(self, c.cmd("STARTTLS"), 220)
            c.starttls(ssl.create_default_context(cafile=pki()["ca"]))
            expect(self, c.cmd("MAIL FROM:<a@example.org>"), 503, "5.5.1")  # EHLO again first

    def test_curl_ssl_reqd(self):
        msg = os.path.join(self.r.dir, "curl.eml")
        with open(msg, "w") as f:
            f.write("Subject: from curl\r\n\r\ncurl body\r\n")
        out = subprocess.run(["curl", "-sS", "--url", "smtp://127.0.0.1:%d" % self.r.port, "--ssl-reqd",
                              "--cacert", pki()["ca"], "--mail-from", "c@example.org",
                              "--mail-rcpt", "d@example.com", "--upload-file", msg],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        wait_for(lambda: any(b"Subject: from curl" in x for x in self.r.outbox_messages()), what="delivery")

    def test_openssl_s_client_starttls(self):
        out = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % self.r.port,
                              "-CAfile", pki()["ca"], "-verify_return_error", "-brief"],
                             input="QUIT\r\n", capture_output=True, text=True, timeout=30)
        self.assertIn("Verification: OK", out.stderr + out.stdout)
        self.assertRegex(out.stderr + out.stdout, r"Protocol version: TLSv1\.[23]")

    def test_tls_sessions_resume(self):
        sess = os.path.join(self.r.dir, "tls.session")
        args = ["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % self.r.port,
                "-CAfile", pki()["ca"], "-tls1_2"]
        first = subprocess.run(args + ["-sess_out", sess], input="QUIT\r\n", capture_output=True, text=True, timeout=30)
        self.assertIn("New, TLSv1.2", first.stdout)
        again = subprocess.run(args + ["-sess_in", sess], input="QUIT\r\n", capture_output=True, text=True, timeout=30)
        self.assertIn("Reused, TLSv1.2", again.stdout)  # session tickets: cheap reconnects for devices

    def test_tls_1_1_is_refused_by_default(self):
        out = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % self.r.port,
                              "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-brief"],
                             input="QUIT\r\n", capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)


class OldDevices(unittest.TestCase):
    def test_tls_min_version_1_0_lets_old_printers_in(self):
        with Relay(sections=tls_sections({"smtpd": {"tls_min_version": "1.0"}})) as r:
            out = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % r.port,
                                  "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0", "-brief"],
                                 input="QUIT\r\n", capture_output=True, text=True, timeout=30)
            self.assertIn("Protocol version: TLSv1\n", out.stderr + out.stdout + "\n")


class ImplicitAndRequired(unittest.TestCase):
    def test_implicit_tls_listener(self):
        port = free_port()
        with Relay(sections=tls_sections(port_tls=port)) as r:
            ctx = ssl.create_default_context(cafile=pki()["ca"])
            with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=30) as s:
                s.sendmail("a@example.org", ["implicit@example.com"], "Subject: implicit\r\n\r\nx\r\n")
            msg = os.path.join(r.dir, "curl.eml")
            with open(msg, "w") as f:
                f.write("Subject: smtps curl\r\n\r\nx\r\n")
            out = subprocess.run(["curl", "-sS", "--url", "smtps://127.0.0.1:%d" % port, "--cacert", pki()["ca"],
                                  "--mail-from", "c@example.org", "--mail-rcpt", "d@example.com", "--upload-file", msg],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            wait_for(lambda: len(r.outbox_files()) == 2, what="both deliveries")
            self.assertTrue(all(b"with ESMTPS" in m for m in r.outbox_messages()))

    def test_require_tls_refuses_mail_and_auth_before_starttls(self):
        with Relay(sections=tls_sections({"smtpd": {"require_tls": "yes"}})) as r:
            with Raw(r.port) as c:
                c.reply()
                c.cmd("EHLO x")
                expect(self, c.cmd("MAIL FROM:<a@example.org>"), 530, "5.7.0")
                expect(self, c.cmd("AUTH PLAIN " + b64("\0u\0p")), 503)  # no users_file: not enabled
                expect(self, c.cmd("STARTTLS"), 220)
                c.starttls(ssl.create_default_context(cafile=pki()["ca"]))
                c.cmd("EHLO x")
                expect(self, c.cmd("MAIL FROM:<a@example.org>"), 250)

    def test_encrypted_key_with_passphrase_file(self):
        p = pki()
        r = Relay(sections=tls_sections())
        try:
            enc = os.path.join(r.dir, "enc.key")
            subprocess.run(["openssl", "pkey", "-in", p["server_key"], "-aes256", "-passout", "pass:s3cret",
                            "-out", enc], check=True)
            os.chmod(enc, 0o600)
            pw = os.path.join(r.dir, "pass")
            with open(pw, "w") as f:
                f.write("s3cret\n")
            os.chmod(pw, 0o600)
            r.sections["smtpd"].update({"tls_key_file": enc, "tls_key_passphrase_file": pw})
            r.write_config()
            r.start()
            out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % r.port, "--tls", "--to", "k@example.com",
                                  "--from", "a@example.org"], capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stdout)
            self.assertEqual(r.stop(), 0)
            with open(pw, "w") as f:
                f.write("wrong\n")
            r.start(wait=False)
            rc = r.proc.wait(30)
            self.assertNotEqual(rc, 0)
            self.assertIn("cannot decrypt the key (wrong or missing tls_key_passphrase_file)", r.log())
        finally:
            r.cleanup()


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = Relay(sections=tls_sections({
            "smtpd": {"auth": "optional", "users_file": "%USERS%"},
            "policy": {"networks": "10.99.0.0/16", "mode": "auth_any_domain"}}))
        users = os.path.join(cls.r.dir, "users")
        cls.r.sections["smtpd"]["users_file"] = users
        cls.r.write_config()
        with open(users, "w") as f:
            f.write("# imported from the SES seed\nlegacy:%s\n" % BCRYPT_U_STAR_U)
        os.chmod(users, 0o640)
        add_user(cls.r, "printer", "Pr1nter pass")
        cls.r.start()

    @classmethod
    def tearDownClass(cls):
        cls.r.cleanup()

    def tls_session(self):
        c = Raw(self.r.port)
        c.reply()
        c.cmd("EHLO x")
        expect(self, c.cmd("STARTTLS"), 220)
        c.starttls(ssl.create_default_context(cafile=pki()["ca"]))
        code, lines = c.cmd("EHLO x")
        self.assertIn("AUTH PLAIN LOGIN", lines)
        return c

    def test_auth_is_not_offered_in_the_clear(self):
        with Raw(self.r.port) as c:
            c.reply()
            code, lines = c.cmd("EHLO x")
            self.assertNotIn("AUTH PLAIN LOGIN", lines)
            expect(self, c.cmd("AUTH PLAIN " + b64("\0printer\0Pr1nter pass")), 538, "5.7.11")

    def test_plain_and_relaying_to_any_domain_once_authenticated(self):
        with self.tls_session() as c:
            expect(self, c.cmd("MAIL FROM:<a@example.org>"), 250)
            expect(self, c.cmd("RCPT TO:<x@elsewhere.test>"), 554, "5.7.1")  # not trusted yet
            c.cmd("RSET")
            expect(self, c.cmd("AUTH PLAIN " + b64("\0printer\0Pr1nter pass")), 235, "2.7.0")
            expect(self, c.cmd("AUTH PLAIN " + b64("\0printer\0Pr1nter pass")), 503)  # once only
            expect(self, c.cmd("MAIL FROM:<a@example.org>"), 250)
            expect(self, c.cmd("RCPT TO:<x@elsewhere.test>"), 250)  # auth_any_domain

    def test_login_with_the_standard_prompts_and_lowercase_commands(self):
        with self.tls_session() as c:
            expect(self, c.cmd("auth login"), 334, contains="VXNlcm5hbWU6")
            expect(self, c.cmd(b64("printer")), 334, contains="UGFzc3dvcmQ6")
            expect(self, c.cmd(b64("Pr1nter pass")), 235)

    def test_bcrypt_hash_from_another_relay(self):
        with self.tls_session() as c:
            expect(self, c.cmd("AUTH PLAIN"), 334)
            expect(self, c.cmd(b64("\0legacy\0U*U")), 235)

    def test_failures_get_535_slower_and_slower_then_a_goodbye(self):
        with self.tls_session() as c:
            times = []
            for i in range(3):
                t = time.monotonic()
                expect(self, c.cmd("AUTH PLAIN " + b64("\0printer\0wrong%d" % i)), 535, "5.7.8")
                times.append(time.monotonic() - t)
            self.assertGreaterEqual(times[2], 0.9, times)  # the delay grows per client address
            expect(self, c.reply(), 421, "4.7.0")
            self.assertTrue(c.closed())
        self.assertIn("SASL authentication failed", self.r.log())
        self.assertNotIn("wrong0", self.r.log())  # passwords never reach the log

    def test_unknown_user_and_impersonation(self):
        with self.tls_session() as c:
            expect(self, c.cmd("AUTH PLAIN " + b64("\0nobody\0x")), 535, "5.7.8")
        with self.tls_session() as c:
            expect(self, c.cmd("AUTH PLAIN " + b64("legacy\0printer\0Pr1nter pass")), 535, "5.7.8")

    def test_swaks_and_msmtp_authenticate(self):
        out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.r.port, "--tls", "--auth", "LOGIN",
                              "--auth-user", "printer", "--auth-password", "Pr1nter pass",
                              "--from", "printer@example.org", "--to", "far@elsewhere.test"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        rc = os.path.join(self.r.dir, "msmtprc")
        with open(rc, "w") as f:
            f.write("account default\nhost 127.0.0.1\nport %d\ntls on\ntls_starttls on\ntls_trust_file %s\n"
                    "auth plain\nuser printer\npassword Pr1nter pass\nfrom printer@example.org\n"
                    % (self.r.port, pki()["ca"]))
        os.chmod(rc, 0o600)
        out = subprocess.run(["msmtp", "-C", rc, "msmtp@elsewhere.test"], input="Subject: via msmtp\n\nhi\n",
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        wait_for(lambda: any(b"Subject: via msmtp" in m for m in self.r.outbox_messages()), what="msmtp's message")

    def test_relayctl_user_list_and_del(self):
        add_user(self.r, "temp", "temporary pw")
        self.assertIn("temp", self.r.relayctl("user", "list").stdout.split())
        with self.tls_session() as c:
            expect(self, c.cmd("AUTH PLAIN " + b64("\0temp\0temporary pw")), 235)
        self.r.relayctl("user", "del", "temp")
        with self.tls_session() as c:
            expect(self, c.cmd("AUTH PLAIN " + b64("\0temp\0temporary pw")), 535)
        bad = self.r.relayctl("user", "add", "bad:name", stdin="x\n", check=False)
        self.assertEqual(bad.returncode, 2)


class AuthRequired(unittest.TestCase):
    def test_mail_needs_auth_and_loopback_may_auth_in_the_clear(self):
        r = Relay(sections={"smtpd": {"auth": "required", "users_file": "/nonexistent",
                                      "allow_plaintext_auth": "loopback"}})
        try:
            users = os.path.join(r.dir, "users")
            r.sections["smtpd"]["users_file"] = users
            r.write_config()
            add_user(r, "app", "app secret")
            r.start()
            with Raw(r.port) as c:
                c.reply()
                code, lines = c.cmd("EHLO x")
                self.assertIn("AUTH PLAIN LOGIN", lines)
                expect(self, c.cmd("MAIL FROM:<a@example.org>"), 530, "5.7.0")
                expect(self, c.cmd("AUTH PLAIN " + b64("\0app\0app secret")), 235)
                expect(self, c.cmd("MAIL FROM:<a@example.org>"), 250)
        finally:
            r.cleanup()


if __name__ == "__main__":
    unittest.main()
